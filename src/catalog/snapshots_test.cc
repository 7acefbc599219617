#include "catalog/snapshots.h"

#include <gtest/gtest.h>

#include "catalog/testing/catalog_fixture.h"

namespace vsl::catalog {
namespace {

class SnapshotsCatalogTest : public testing::CatalogFixture {
 protected:
  Status Insert(int64_t bcv, int64_t source, const std::string& name, int64_t created,
                int64_t request) {
    return catalog().Write([&](Tx& tx) {
      return InsertSnapshot(tx, {bcv, source, name, created, request});
    });
  }
  std::vector<SnapshotRecord> Of(int64_t source) {
    std::vector<SnapshotRecord> out;
    EXPECT_TRUE(catalog()
                    .Read([&](Tx& tx) -> Status {
                      VSL_ASSIGN_OR_RETURN(out, SnapshotsOf(tx, source));
                      return Status::Ok();
                    })
                    .ok());
    return out;
  }
};

TEST_P(SnapshotsCatalogTest, NamesAreUniquePerDiskAndRowsAreFoundByVolumeNameAndRequest) {
  ASSERT_TRUE(Insert(20, 7, "nightly", 2000, 100).ok());
  ASSERT_TRUE(Insert(21, 7, "before-upgrade", 1000, 101).ok());
  ASSERT_TRUE(Insert(22, 8, "nightly", 3000, 102).ok()) << "another disk may use the name";
  Status dup = Insert(23, 7, "nightly", 4000, 103);
  EXPECT_EQ(dup.code(), Code::kAlreadyExists);
  EXPECT_NE(dup.message().find("volume 20"), std::string::npos) << dup.message();

  auto of7 = Of(7);
  ASSERT_EQ(of7.size(), 2u);
  EXPECT_EQ(of7[0].volume_id, 21) << "oldest first";
  EXPECT_EQ(of7[1].name, "nightly");

  std::optional<SnapshotRecord> by_request, by_volume, none;
  ASSERT_TRUE(catalog()
                  .Read([&](Tx& tx) -> Status {
                    VSL_ASSIGN_OR_RETURN(by_request, SnapshotOfRequest(tx, 102));
                    VSL_ASSIGN_OR_RETURN(by_volume, GetSnapshot(tx, 21));
                    VSL_ASSIGN_OR_RETURN(none, GetSnapshot(tx, 7));
                    return Status::Ok();
                  })
                  .ok());
  ASSERT_TRUE(by_request.has_value());
  EXPECT_EQ(by_request->volume_id, 22);
  ASSERT_TRUE(by_volume.has_value());
  EXPECT_EQ(by_volume->name, "before-upgrade");
  EXPECT_FALSE(none.has_value()) << "a disk is no snapshot";

  ASSERT_TRUE(catalog().Write([&](Tx& tx) { return DeleteSnapshotRow(tx, 20); }).ok());
  EXPECT_EQ(Of(7).size(), 1u);
  EXPECT_TRUE(Insert(24, 7, "nightly", 5000, 104).ok()) << "a released name is free again";
}

VSL_INSTANTIATE_CATALOG_BACKENDS(SnapshotsCatalogTest);

}  // namespace
}  // namespace vsl::catalog
