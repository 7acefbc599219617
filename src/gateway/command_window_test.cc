#include "gateway/command_window.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vsl::gateway {
namespace {

using W = CommandWindow<int>;
using V = W::Verdict;

TEST(SerialNumbers, CompareAcrossWrap) {
  EXPECT_TRUE(SnLess(0xfffffffeu, 1u));
  EXPECT_FALSE(SnLess(1u, 0xfffffffeu));
  EXPECT_TRUE(SnLessEq(5u, 5u));
  EXPECT_FALSE(SnLess(5u, 5u));
}

// Each row: CmdSNs offered in order; what each gets; the items released in
// total (in order); ExpCmdSN afterwards.
struct Row {
  std::string name;
  uint32_t exp;
  uint32_t depth;
  std::vector<uint32_t> offered;
  std::vector<V> verdicts;
  std::vector<int> released;
  uint32_t exp_after;
};

TEST(CommandWindow, Table) {
  const std::vector<Row> rows = {
      {"in order", 10, 8, {10, 11, 12}, {V::kReleased, V::kReleased, V::kReleased}, {10, 11, 12}, 13},
      {"gap fills later", 10, 8, {12, 11, 10},
       {V::kQueued, V::kQueued, V::kReleased}, {10, 11, 12}, 13},
      {"gap never fills", 10, 8, {11, 12}, {V::kQueued, V::kQueued}, {}, 10},
      {"too low (duplicate)", 10, 8, {9}, {V::kDropped}, {}, 10},
      {"too high", 10, 8, {18}, {V::kDropped}, {}, 10},
      {"highest in window", 10, 8, {17}, {V::kQueued}, {}, 10},
      {"queued twice", 10, 8, {12, 12}, {V::kQueued, V::kDropped}, {}, 10},
      {"wraps", 0xfffffffe, 8, {0xffffffff, 0, 0xfffffffe},
       {V::kQueued, V::kQueued, V::kReleased}, {-2, -1, 0}, 1},
      {"window closes while commands run", 10, 2, {10, 11, 12},
       {V::kReleased, V::kReleased, V::kDropped}, {10, 11}, 12},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    W w(r.exp, r.depth);
    std::vector<int> ready;
    ASSERT_EQ(r.offered.size(), r.verdicts.size());
    for (size_t i = 0; i < r.offered.size(); ++i) {
      EXPECT_EQ(w.Offer(r.offered[i], int(r.offered[i]), &ready), r.verdicts[i]) << "offer " << i;
    }
    EXPECT_EQ(ready, r.released);
    EXPECT_EQ(w.expcmdsn(), r.exp_after);
  }
}

TEST(CommandWindow, MaxCmdSnFollowsCompletionsAndNeverShrinks) {
  W w(100, 4);
  std::vector<int> ready;
  EXPECT_EQ(w.maxcmdsn(), 103u);
  ASSERT_EQ(w.Offer(100, 0, &ready), V::kReleased);
  EXPECT_EQ(w.maxcmdsn(), 103u);  // ExpCmdSN moved, one slot busy
  ASSERT_EQ(w.Offer(101, 0, &ready), V::kReleased);
  ASSERT_EQ(w.Offer(102, 0, &ready), V::kReleased);
  ASSERT_EQ(w.Offer(103, 0, &ready), V::kReleased);
  EXPECT_EQ(w.maxcmdsn(), 103u);  // closed: ExpCmdSN 104 > MaxCmdSN
  EXPECT_EQ(w.Offer(104, 0, &ready), V::kDropped);
  w.Finished();
  EXPECT_EQ(w.maxcmdsn(), 104u);
  EXPECT_EQ(w.Offer(104, 0, &ready), V::kReleased);
}

TEST(CommandWindow, SkipCountsAMissingCommandAsReceived) {
  W w(5, 8);
  std::vector<int> ready;
  ASSERT_EQ(w.Offer(6, 6, &ready), V::kQueued);
  w.Skip(5, &ready);  // ABORT TASK for CmdSN 5, which never arrived
  EXPECT_EQ(ready, std::vector<int>{6});
  EXPECT_EQ(w.expcmdsn(), 7u);
  EXPECT_EQ(w.active(), 1u);  // the skipped one holds no slot
}

TEST(CommandWindow, SkipAheadWaitsForTheGap) {
  W w(5, 8);
  std::vector<int> ready;
  w.Skip(6, &ready);
  EXPECT_TRUE(ready.empty());
  EXPECT_EQ(w.Offer(6, 6, &ready), V::kDropped);  // counted as received already
  ASSERT_EQ(w.Offer(5, 5, &ready), V::kReleased);
  EXPECT_EQ(ready, std::vector<int>{5});
  EXPECT_EQ(w.expcmdsn(), 7u);
}

TEST(CommandWindow, RemoveQueuedReleasesWhatFollows) {
  W w(1, 8);
  std::vector<int> ready;
  ASSERT_EQ(w.Offer(3, 3, &ready), V::kQueued);
  ASSERT_EQ(w.Offer(2, 2, &ready), V::kQueued);
  auto removed = w.RemoveQueued([](int v) { return v == 2; }, &ready);
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(*removed, 2);
  EXPECT_TRUE(ready.empty());  // 1 still missing
  ASSERT_EQ(w.Offer(1, 1, &ready), V::kReleased);
  EXPECT_EQ(ready, (std::vector<int>{1, 3}));
  EXPECT_EQ(w.expcmdsn(), 4u);
  EXPECT_FALSE(w.RemoveQueued([](int) { return true; }, &ready).has_value());
}

}  // namespace
}  // namespace vsl::gateway
