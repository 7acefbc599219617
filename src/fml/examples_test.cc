// Every farm in examples/ parses and validates; the seed's example is read as
// the seed means it.
#include <gtest/gtest.h>

#include <filesystem>

#include "fml/fml.h"

namespace vsl::fml {
namespace {

const std::string kExamples = std::string(VSL_SOURCE_DIR) + "/examples";

TEST(ExamplesTest, AllParse) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kExamples)) {
    if (entry.path().extension() != ".fml") continue;
    SCOPED_TRACE(entry.path().string());
    Result<FarmSpec> got = ParseFile(entry.path().string());
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    ++n;
  }
  EXPECT_GE(n, 3);
}

TEST(ExamplesTest, SeedFarm) {
  Result<FarmSpec> got = ParseFile(kExamples + "/seed-farm.fml");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->name, "seed-farm");
  EXPECT_EQ(got->version, "1.1");
  ASSERT_EQ(got->tiers.size(), 1u);
  EXPECT_EQ(got->tiers[0].role, "role37");
  EXPECT_EQ(got->tiers[0].init_servers, 1);
  EXPECT_EQ(got->tiers[0].interfaces[0].subnet, "subnet17");
  const ServerRole* role = got->FindRole("role37");
  ASSERT_NE(role, nullptr);
  EXPECT_EQ(role->hw, "cpu-sun4u-x4");
  ASSERT_EQ(role->disks.size(), 1u);
  EXPECT_EQ(role->disks[0].target, 0);
  EXPECT_EQ(role->disks[0].size_bytes, uint64_t{8631} << 20);
  EXPECT_EQ(role->disks[0].image, "solaris");
  EXPECT_EQ(role->disks[0].backup_policies, std::vector<std::string>{"nightly"});
  EXPECT_EQ(got->subnets[0].mask, "255.255.255.240");
}

TEST(ExamplesTest, TwoTier) {
  Result<FarmSpec> got = ParseFile(kExamples + "/two-tier.fml");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->name, "two-tier");
  ASSERT_EQ(got->tiers.size(), 2u);
  EXPECT_EQ(got->tiers[0].init_servers, 2);
  EXPECT_EQ(got->tiers[1].init_servers, 2);
  ASSERT_EQ(got->global_disks.size(), 1u);
  EXPECT_EQ(got->global_disks[0].size_bytes, uint64_t{32} << 20);
  const ServerRole* db = got->FindRole(got->tiers[1].role);
  ASSERT_NE(db, nullptr);
  ASSERT_EQ(db->shared_disks.size(), 1u);
  EXPECT_EQ(db->shared_disks[0].global_name, got->global_disks[0].global_name);
  for (const ServerRole& r : got->roles) {
    ASSERT_EQ(r.disks.size(), 1u);
    EXPECT_EQ(r.disks[0].target, 0);
    EXPECT_EQ(r.disks[0].size_bytes, uint64_t{64} << 20);
    EXPECT_EQ(r.disks[0].image, "demo");
  }
}

}  // namespace
}  // namespace vsl::fml
