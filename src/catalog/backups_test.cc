#include "catalog/backups.h"

#include <gtest/gtest.h>

#include "catalog/testing/catalog_fixture.h"

namespace vsl::catalog {
namespace {

class BackupsCatalogTest : public testing::CatalogFixture {
 protected:
  Status Insert(const std::string& id, int64_t volume, int64_t request, int64_t started) {
    return catalog().Write([&](Tx& tx) {
      BackupRecord b;
      b.id = id;
      b.volume_id = volume;
      b.disk = std::to_string(volume);
      b.farm = "f1";
      b.request_id = request;
      b.started_ms = started;
      return InsertBackup(tx, b);
    });
  }
  std::vector<BackupRecord> List(const BackupFilter& f = {}) {
    std::vector<BackupRecord> out;
    EXPECT_TRUE(catalog().Read([&](Tx& tx) -> Status {
      VSL_ASSIGN_OR_RETURN(out, ListBackups(tx, f));
      return Status::Ok();
    }).ok());
    return out;
  }
};

TEST_P(BackupsCatalogTest, RunningThenCompleteOrFailedAndTheLatestCompleteIsTheParent) {
  ASSERT_TRUE(Insert("b1", 7, 100, 1000).ok());
  ASSERT_TRUE(Insert("b2", 7, 101, 2000).ok());
  ASSERT_TRUE(Insert("b3", 8, 102, 3000).ok());
  EXPECT_FALSE(Insert("b1", 7, 103, 4000).ok()) << "ids are unique";
  ASSERT_TRUE(catalog().Write([&](Tx& tx) { return CompleteBackup(tx, "b1", 65536, 1500); }).ok());
  ASSERT_TRUE(catalog().Write([&](Tx& tx) { return CompleteBackup(tx, "b2", 4096, 2500); }).ok());
  Status again = catalog().Write([&](Tx& tx) { return CompleteBackup(tx, "b2", 1, 2600); });
  EXPECT_EQ(again.code(), Code::kFailedPrecondition) << "only a running backup completes";
  std::optional<BackupRecord> latest;
  ASSERT_TRUE(catalog().Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(latest, LatestBackup(tx, 7));
    return Status::Ok();
  }).ok());
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->id, "b2");
  EXPECT_EQ(latest->bytes_stored, 4096);
  EXPECT_EQ(latest->state, "complete");

  // A crashed run's row: failed by its request's next run; a complete one stays.
  int64_t n = 0;
  ASSERT_TRUE(catalog().Write([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(n, FailRunningBackups(tx, 102, "interrupted", 5000));
    return Status::Ok();
  }).ok());
  EXPECT_EQ(n, 1);
  auto failed = List({.state = "failed"});
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].id, "b3");
  EXPECT_EQ(failed[0].error, "interrupted");
  ASSERT_TRUE(catalog().Write([&](Tx& tx) { return FailBackup(tx, "b1", "late", 6000); }).ok());
  EXPECT_EQ(List({.volume_id = 7}).front().state, "complete") << "a complete backup never becomes failed";
  EXPECT_EQ(List({.farm = "f1"}).size(), 3u);
  EXPECT_EQ(List({.farm = "other"}).size(), 0u);
  ASSERT_TRUE(catalog().Write([&](Tx& tx) { return DeleteBackupRow(tx, "b1"); }).ok());
  EXPECT_EQ(List().size(), 2u);
}

VSL_INSTANTIATE_CATALOG_BACKENDS(BackupsCatalogTest);

}  // namespace
}  // namespace vsl::catalog
