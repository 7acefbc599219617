#include "manager/allocator.h"

#include <gtest/gtest.h>

#include <set>

namespace vsl::manager {
namespace {

constexpr uint64_t G = 1ull << 30;

TEST(ChooseStorage, ExactFitWins) {
  std::vector<FreeVolume> v = {{1, 1, 4 * G}, {2, 1, 2 * G}, {3, 2, 8 * G}};
  auto c = ChooseStorage(v, {}, 2 * G);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->volumes, std::vector<int64_t>{2});
  EXPECT_EQ(c->total, 2 * G);
}

TEST(ChooseStorage, SmallestSingleThatFits) {
  std::vector<FreeVolume> v = {{1, 1, 8 * G}, {2, 1, 5 * G}, {3, 2, 1 * G}, {4, 2, 6 * G}};
  auto c = ChooseStorage(v, {}, 3 * G);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->volumes, std::vector<int64_t>{2});
}

TEST(ChooseStorage, EqualSizesTakeTheLowerId) {
  std::vector<FreeVolume> v = {{9, 1, G}, {4, 2, G}, {7, 1, G}};
  auto c = ChooseStorage(v, {}, G);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->volumes, std::vector<int64_t>{4});
}

TEST(ChooseStorage, PoolCutBeatsAWastefulVolumeButNotAGoodFit) {
  std::vector<FreeVolume> v = {{1, 1, 10 * G}};
  std::vector<PoolSpace> pools = {{5, 100 * G}, {6, 20 * G}};
  auto c = ChooseStorage(v, pools, 4 * G);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->volumes.empty());
  EXPECT_EQ(c->cut_from, 6);  // the tighter pool
  EXPECT_EQ(c->total, 4 * G);
  c = ChooseStorage(v, pools, 9 * G);  // 10 G wastes 1/9 < 1/8
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->volumes, std::vector<int64_t>{1});
  EXPECT_FALSE(c->cut_from.has_value());
}

TEST(ChooseStorage, ConcatenatesWithinOneArrayFirst) {
  // Array 1 can do 5 G with two volumes; across arrays would also need two.
  std::vector<FreeVolume> v = {{1, 1, 3 * G}, {2, 1, 2 * G}, {3, 2, 4 * G}, {4, 3, 1 * G}};
  auto c = ChooseStorage(v, {}, 5 * G);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->volumes, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(c->total, 5 * G);
}

TEST(ChooseStorage, PrefersTheArrayNeedingFewerVolumes) {
  std::vector<FreeVolume> v = {{1, 1, G}, {2, 1, G}, {3, 1, G}, {4, 2, 2 * G}, {5, 2, G}};
  auto c = ChooseStorage(v, {}, 3 * G);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->volumes, (std::vector<int64_t>{4, 5}));
}

TEST(ChooseStorage, TheLastPieceIsBestFit) {
  // 7 G from {4,4,3,1}: 4 then the smallest covering 3 G is the 3 G one.
  std::vector<FreeVolume> v = {{1, 1, 4 * G}, {2, 1, 4 * G}, {3, 1, 3 * G}, {4, 1, G}};
  auto c = ChooseStorage(v, {}, 7 * G);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->volumes, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(c->total, 7 * G);
}

TEST(ChooseStorage, AcrossArraysWhenNoneSuffices) {
  std::vector<FreeVolume> v = {{1, 1, 2 * G}, {2, 2, 2 * G}, {3, 3, G}};
  auto c = ChooseStorage(v, {}, 4 * G);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->volumes, (std::vector<int64_t>{1, 2}));
}

TEST(ChooseStorage, FragmentedPoolOfSmallVolumes) {
  std::vector<FreeVolume> v;
  for (int i = 1; i <= 100; ++i) v.push_back({i, 1 + i % 2, 64ull << 20});
  auto c = ChooseStorage(v, {}, 1 * G + 1);  // 17 volumes of 64 MiB
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->volumes.size(), 17u);
  EXPECT_GE(c->total, 1 * G + 1);
  std::set<int64_t> distinct(c->volumes.begin(), c->volumes.end());
  EXPECT_EQ(distinct.size(), 17u);
}

TEST(ChooseStorage, ExhaustionSaysWhatThereIs) {
  std::vector<FreeVolume> v = {{1, 1, G}, {2, 2, G}};
  std::vector<PoolSpace> pools = {{3, G / 2}};
  auto c = ChooseStorage(v, pools, 3 * G);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kResourceExhausted);
  EXPECT_NE(c.status().message().find("2 free volumes hold " + std::to_string(2 * G) + " bytes"),
            std::string::npos)
      << c.status().message();
  EXPECT_NE(c.status().message().find("pool has " + std::to_string(G / 2)), std::string::npos);
  EXPECT_EQ(ChooseStorage({}, {}, G).status().code(), Code::kResourceExhausted);
  EXPECT_EQ(ChooseStorage(v, {}, 0).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace vsl::manager
