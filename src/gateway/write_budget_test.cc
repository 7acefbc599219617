#include "gateway/write_budget.h"

#include <gtest/gtest.h>

namespace vsl::gateway {
namespace {

TEST(WriteBudget, AcquiresUpToTheLimitOnly) {
  WriteBudget b(100);
  EXPECT_TRUE(b.TryAcquire(60));
  EXPECT_FALSE(b.TryAcquire(41)) << "61 + 41 > 100";
  EXPECT_EQ(b.used(), 60u);
  EXPECT_TRUE(b.TryAcquire(40));
  EXPECT_FALSE(b.TryAcquire(1));
  EXPECT_FALSE(b.TryAcquire(UINT64_MAX)) << "no overflow";
  b.Release(100);
  EXPECT_EQ(b.used(), 0u);
  EXPECT_FALSE(b.TryAcquire(101));
}

TEST(WriteBudget, WaitersAreWokenOnceByARelease) {
  WriteBudget b(10);
  ASSERT_TRUE(b.TryAcquire(10));
  int woken1 = 0, woken2 = 0;
  EXPECT_FALSE(b.AcquireOrWait(5, 1, [&] { ++woken1; }));
  EXPECT_FALSE(b.AcquireOrWait(5, 2, [&] { ++woken2; }));
  EXPECT_FALSE(b.AcquireOrWait(5, 2, [&] { woken2 += 10; })) << "replaces id 2's wake-up";
  b.Release(4);
  EXPECT_EQ(woken1, 1);
  EXPECT_EQ(woken2, 10);
  b.Release(1);
  EXPECT_EQ(woken1, 1) << "woken once per registration";
  EXPECT_TRUE(b.AcquireOrWait(5, 1, [&] { ++woken1; }));
  EXPECT_EQ(b.used(), 10u);
  EXPECT_FALSE(b.AcquireOrWait(1, 3, [&] { ++woken1; }));
  b.Cancel(3);
  b.Release(10);
  EXPECT_EQ(woken1, 1) << "a cancelled wake-up does not run";
}

}  // namespace
}  // namespace vsl::gateway
