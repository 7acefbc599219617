// The scheduler's decision for one disk at one instant: which slots are
// due, which level runs, what a missed slot after downtime gives.
#include "manager/backup_schedule.h"

#include <gtest/gtest.h>

#include <set>

namespace vsl::manager {
namespace {

constexpr int64_t kMin = 60 * 1000;
constexpr int64_t kHour = 60 * kMin;
constexpr int64_t kDay = 24 * kHour;
constexpr int64_t kMidnight = int64_t{1799971200} * 1000;  // 2027-01-15T00:00:00Z

const std::vector<catalog::BackupSchedule> kSchedules = {{"nightly", 120, 0, 0}, {"hourly", 15, 0, 0}};
const std::vector<DiskPolicy> kFullNightlyIncrHourly = {{0, "nightly"}, {1, "hourly"}};

// A disk's claimed slots, as the catalog would hold them.
struct Claims {
  std::set<std::pair<int, int64_t>> rows;
  std::function<bool(int, int64_t)> fn() {
    return [this](int level, int64_t slot) { return rows.count({level, slot}) > 0; };
  }
  void Take(const BackupDecision& d) {
    for (const SlotDue& s : d.claims) rows.insert({s.level, s.slot_ms});
  }
};

TEST(DecideBackupTest, UnclaimedSlotsRunAsOneFull) {
  Claims c;
  auto d = DecideBackup(kFullNightlyIncrHourly, kSchedules, kMidnight + 30 * kMin, c.fn(), false);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->run_level, 0);
  ASSERT_EQ(d->claims.size(), 2u);
  EXPECT_EQ(d->claims[0].slot_ms, kMidnight - kDay + 2 * kHour);  // yesterday's nightly
  EXPECT_EQ(d->claims[1].slot_ms, kMidnight + 15 * kMin);         // this hour's :15
}

TEST(DecideBackupTest, FirstSightIsABaselineNotARun) {
  Claims c;
  auto ever = [&](int level) {
    for (auto& [l, slot] : c.rows) {
      if (l == level) return true;
    }
    return false;
  };
  int64_t t = kMidnight + 30 * kMin;
  auto base = BaselineSlots(kFullNightlyIncrHourly, kSchedules, t, ever);
  ASSERT_EQ(base.size(), 2u);
  for (const SlotDue& s : base) c.rows.insert({s.level, s.slot_ms});
  EXPECT_FALSE(DecideBackup(kFullNightlyIncrHourly, kSchedules, t, c.fn(), false).has_value());
  EXPECT_TRUE(BaselineSlots(kFullNightlyIncrHourly, kSchedules, t + kDay, ever).empty())
      << "a policy seen before gets no new baseline, however long it was away";
  // Its first run is its next slot: the hourly, as a full (nothing to build on yet).
  auto d = DecideBackup(kFullNightlyIncrHourly, kSchedules, kMidnight + 75 * kMin, c.fn(), false);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->run_level, 0);
  EXPECT_EQ(d->claims.size(), 1u);
}

TEST(DecideBackupTest, ADayOfSlots) {
  Claims c;
  int64_t t = kMidnight + 30 * kMin;
  c.Take(*DecideBackup(kFullNightlyIncrHourly, kSchedules, t, c.fn(), false));
  // Nothing more within the same hour.
  EXPECT_FALSE(DecideBackup(kFullNightlyIncrHourly, kSchedules, t + 20 * kMin, c.fn(), true).has_value());
  // 01:15: the hourly level 1.
  auto d = DecideBackup(kFullNightlyIncrHourly, kSchedules, kMidnight + 75 * kMin, c.fn(), true);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->run_level, 1);
  ASSERT_EQ(d->claims.size(), 1u);
  EXPECT_EQ(d->claims[0].slot_ms, kMidnight + 75 * kMin);
  c.Take(*d);
  // 02:00: the nightly level 0.
  d = DecideBackup(kFullNightlyIncrHourly, kSchedules, kMidnight + 2 * kHour, c.fn(), true);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->run_level, 0);
  ASSERT_EQ(d->claims.size(), 1u);
  EXPECT_EQ(d->claims[0].schedule, "nightly");
  c.Take(*d);
  // 02:15: level 1 again.
  d = DecideBackup(kFullNightlyIncrHourly, kSchedules, kMidnight + 2 * kHour + 15 * kMin, c.fn(), true);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->run_level, 1);
}

TEST(DecideBackupTest, BothInOneSlotTheFullWins) {
  // Hourly at :00 and nightly at 02:00 meet at 02:00.
  std::vector<catalog::BackupSchedule> at00 = {{"nightly", 120, 0, 0}, {"hourly", 0, 0, 0}};
  Claims c;
  c.rows = {{0, kMidnight - kDay + 2 * kHour}, {1, kMidnight + kHour}};
  auto d = DecideBackup(kFullNightlyIncrHourly, at00, kMidnight + 2 * kHour + kMin, c.fn(), true);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->run_level, 0);
  ASSERT_EQ(d->claims.size(), 2u);
  EXPECT_EQ(d->claims[0].slot_ms, d->claims[1].slot_ms);
  c.Take(*d);
  EXPECT_FALSE(DecideBackup(kFullNightlyIncrHourly, at00, kMidnight + 2 * kHour + 30 * kMin, c.fn(), true));
}

TEST(DecideBackupTest, DowntimeRunsOnlyTheLatestMissedSlotOnce) {
  Claims c;
  c.Take(*DecideBackup(kFullNightlyIncrHourly, kSchedules, kMidnight + 2 * kHour + 20 * kMin, c.fn(), true));
  size_t before = c.rows.size();
  // Down from 02:20 to 07:40: five hourly slots and no nightly were missed.
  auto d = DecideBackup(kFullNightlyIncrHourly, kSchedules, kMidnight + 7 * kHour + 40 * kMin, c.fn(), true);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->run_level, 1);
  ASSERT_EQ(d->claims.size(), 1u);
  EXPECT_EQ(d->claims[0].slot_ms, kMidnight + 7 * kHour + 15 * kMin);
  c.Take(*d);
  EXPECT_EQ(c.rows.size(), before + 1);
  EXPECT_FALSE(DecideBackup(kFullNightlyIncrHourly, kSchedules, kMidnight + 7 * kHour + 50 * kMin, c.fn(), true));
  // Down across a night as well: one full covers both missed schedules.
  d = DecideBackup(kFullNightlyIncrHourly, kSchedules, kMidnight + kDay + 9 * kHour, c.fn(), true);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->run_level, 0);
  EXPECT_EQ(d->claims.size(), 2u);
}

TEST(DecideBackupTest, ALevelOneWithNothingToBuildOnRunsAsAFull) {
  Claims c;
  c.rows = {{0, kMidnight - kDay + 2 * kHour}};
  auto d = DecideBackup(kFullNightlyIncrHourly, kSchedules, kMidnight + 20 * kMin, c.fn(), false);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->run_level, 0);
  EXPECT_FALSE(d->why.empty());
  ASSERT_EQ(d->claims.size(), 1u);
  EXPECT_EQ(d->claims[0].level, 1);
}

TEST(DecideBackupTest, NightlyAloneIsAFullEachNight) {
  std::vector<DiskPolicy> nightly = {{0, "nightly"}};
  Claims c;
  c.Take(*DecideBackup(nightly, kSchedules, kMidnight + 3 * kHour, c.fn(), false));
  for (int h = 4; h < 26; ++h) {
    auto d = DecideBackup(nightly, kSchedules, kMidnight + h * kHour, c.fn(), true);
    EXPECT_EQ(d.has_value(), h == 2 + 24) << "hour " << h;
    if (d) {
      EXPECT_EQ(d->run_level, 0);
      c.Take(*d);
    }
  }
}

}  // namespace
}  // namespace vsl::manager
