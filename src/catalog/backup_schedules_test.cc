#include "catalog/backup_schedules.h"

#include <gtest/gtest.h>

#include "catalog/testing/catalog_fixture.h"

namespace vsl::catalog {
namespace {

constexpr int64_t kMin = 60 * 1000;
constexpr int64_t kHour = 60 * kMin;
constexpr int64_t kDay = 24 * kHour;
// 2027-01-15T00:00:00Z
constexpr int64_t kMidnight = int64_t{1799971200} * 1000;

TEST(BackupSlotTest, NightlyAtTwo) {
  BackupSchedule n{"nightly", 120, 0, 0};
  EXPECT_EQ(FormatUtc(kMidnight), "2027-01-15T00:00:00Z");
  EXPECT_EQ(*ParseUtc("2027-01-15T00:00:00Z"), kMidnight);
  EXPECT_FALSE(ParseUtc("2027-01-15 00:00").ok());
  EXPECT_FALSE(ParseUtc("2027-01-15T00:00:00Zx").ok());
  // Before 02:00 the latest slot is yesterday's.
  EXPECT_EQ(LatestSlotMs(n, kMidnight + 90 * kMin), kMidnight - kDay + 2 * kHour);
  // At 02:00 exactly the slot is due.
  EXPECT_EQ(LatestSlotMs(n, kMidnight + 2 * kHour), kMidnight + 2 * kHour);
  EXPECT_EQ(LatestSlotMs(n, kMidnight + 2 * kHour - 1), kMidnight - kDay + 2 * kHour);
  EXPECT_EQ(LatestSlotMs(n, kMidnight + 23 * kHour), kMidnight + 2 * kHour);
  EXPECT_EQ(NextSlotMs(n, kMidnight + 3 * kHour), kMidnight + kDay + 2 * kHour);
  EXPECT_EQ(FormatUtc(LatestSlotMs(n, kMidnight + 5 * kDay + 7 * kHour)), "2027-01-20T02:00:00Z");
}

TEST(BackupSlotTest, HourlyAtFifteen) {
  BackupSchedule h{"hourly", 15, 0, 0};
  EXPECT_EQ(LatestSlotMs(h, kMidnight + 14 * kMin), kMidnight - 45 * kMin);
  EXPECT_EQ(LatestSlotMs(h, kMidnight + 15 * kMin), kMidnight + 15 * kMin);
  EXPECT_EQ(LatestSlotMs(h, kMidnight + 3 * kHour + 59 * kMin), kMidnight + 3 * kHour + 15 * kMin);
  EXPECT_EQ(NextSlotMs(h, kMidnight + 3 * kHour + 15 * kMin), kMidnight + 4 * kHour + 15 * kMin);
}

TEST(BackupSlotTest, AtTextBothWays) {
  EXPECT_EQ(*ParseScheduleAt("nightly", "02:00"), 120);
  EXPECT_EQ(*ParseScheduleAt("nightly", "23:59"), 23 * 60 + 59);
  EXPECT_EQ(*ParseScheduleAt("nightly", "0:05"), 5);
  EXPECT_EQ(*ParseScheduleAt("hourly", ":15"), 15);
  EXPECT_EQ(*ParseScheduleAt("hourly", ":00"), 0);
  for (auto [name, bad] : std::vector<std::pair<std::string, std::string>>{
           {"nightly", "24:00"}, {"nightly", "02:60"}, {"nightly", "2"}, {"nightly", ":15"}, {"nightly", "02:5"},
           {"hourly", "02:00"}, {"hourly", ":60"}, {"hourly", "15"}, {"hourly", ":x"}, {"weekly", "02:00"}}) {
    auto r = ParseScheduleAt(name, bad);
    EXPECT_FALSE(r.ok()) << name << " " << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  }
  EXPECT_EQ(FormatScheduleAt({"nightly", 125, 0, 0}), "02:05");
  EXPECT_EQ(FormatScheduleAt({"hourly", 7, 0, 0}), ":07");
}

class BackupSchedulesCatalogTest : public testing::CatalogFixture {};

TEST_P(BackupSchedulesCatalogTest, DefaultsAndSet) {
  std::vector<BackupSchedule> all;
  ASSERT_TRUE(catalog().Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(all, ListSchedules(tx));
    return Status::Ok();
  }).ok());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "nightly");
  EXPECT_EQ(all[0].minute, 120);
  EXPECT_EQ(all[1].name, "hourly");
  EXPECT_EQ(all[1].minute, 0);
  ASSERT_TRUE(catalog().Write([&](Tx& tx) { return SetSchedule(tx, "hourly", 15, 3, 42); }).ok());
  ASSERT_TRUE(catalog().Write([&](Tx& tx) { return SetSchedule(tx, "hourly", std::nullopt, 2, 43); }).ok());
  Status unknown = catalog().Write([&](Tx& tx) { return SetSchedule(tx, "weekly", 1, 1, 44); });
  EXPECT_EQ(unknown.code(), Code::kNotFound);
  BackupSchedule h;
  ASSERT_TRUE(catalog().Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(h, GetSchedule(tx, "hourly"));
    return Status::Ok();
  }).ok());
  EXPECT_EQ(h.minute, 15);
  EXPECT_EQ(h.keep, 2);
  EXPECT_EQ(h.updated_ms, 43);
}

TEST_P(BackupSchedulesCatalogTest, EachSlotIsClaimedOnceAcrossCatalogs) {
  auto other = OpenAnother();
  ASSERT_NE(other, nullptr);
  SlotClaim c{7, 1, kMidnight + kHour, "hourly", 1, 100, 5};
  bool first = false, second = false;
  ASSERT_TRUE(catalog().Write([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(first, ClaimSlot(tx, c));
    return Status::Ok();
  }).ok());
  c.request_id = 101;
  ASSERT_TRUE(other->Write([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(second, ClaimSlot(tx, c));
    return Status::Ok();
  }).ok());
  EXPECT_TRUE(first);
  EXPECT_FALSE(second) << "the same (disk, level, slot) twice";
  // Another level or slot of the same disk is its own claim.
  c.level = 0;
  ASSERT_TRUE(other->Write([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(second, ClaimSlot(tx, c));
    return Status::Ok();
  }).ok());
  EXPECT_TRUE(second);
  std::vector<SlotClaim> list;
  bool claimed = false;
  ASSERT_TRUE(catalog().Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(list, ListSlotClaims(tx, 7));
    VSL_ASSIGN_OR_RETURN(claimed, SlotClaimed(tx, 7, 1, kMidnight + kHour));
    return Status::Ok();
  }).ok());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].request_id + list[1].request_id, 201);
  EXPECT_TRUE(claimed);
}

VSL_INSTANTIATE_CATALOG_BACKENDS(BackupSchedulesCatalogTest);

}  // namespace
}  // namespace vsl::catalog
