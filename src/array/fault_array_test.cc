#include "array/fault_array.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

namespace vsl::array {
namespace {

constexpr uint64_t kMiB = 1 << 20;

std::unique_ptr<FaultInjectingArray> Wrapped() {
  auto base = OpenArray({"m", "memory", "", 64 * kMiB, 0, {}, {}});
  EXPECT_TRUE(base.ok());
  return std::make_unique<FaultInjectingArray>(std::move(base).value());
}

TEST(FaultArrayTest, TheNthCallFailsOnceAndChangesNothing) {
  auto a = Wrapped();
  a->FailNth(ArrayOp::kCreate, 2, IoError("injected: controller reset"));
  auto v1 = a->CreateVolume(kMiB);
  ASSERT_TRUE(v1.ok());
  auto v2 = a->CreateVolume(kMiB);
  ASSERT_FALSE(v2.ok());
  EXPECT_EQ(v2.status(), IoError("injected: controller reset"));
  EXPECT_EQ(a->Discover()->size(), 1u);  // the failed call never reached the array
  auto v3 = a->CreateVolume(kMiB);
  ASSERT_TRUE(v3.ok());
  EXPECT_EQ(a->Calls(ArrayOp::kCreate), 3u);
  EXPECT_EQ(a->Failures(ArrayOp::kCreate), 1u);
  EXPECT_EQ(a->Discover()->size(), 2u);
}

TEST(FaultArrayTest, EveryCallFailsUntilHealed) {
  auto a = Wrapped();
  auto v = a->CreateVolume(kMiB);
  ASSERT_TRUE(v.ok());
  a->FailAlways(ArrayOp::kGrant, Unavailable("injected"));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(a->Grant(v->id, "gw").code(), Code::kUnavailable);
  EXPECT_TRUE(a->base().Grants(v->id)->empty());
  a->Heal(ArrayOp::kGrant);
  EXPECT_TRUE(a->Grant(v->id, "gw").ok());
  EXPECT_EQ(a->Calls(ArrayOp::kGrant), 6u);
  EXPECT_EQ(a->Failures(ArrayOp::kGrant), 5u);
  // Other operations were never affected.
  EXPECT_EQ(a->Failures(ArrayOp::kRevoke), 0u);
  EXPECT_TRUE(a->Revoke(v->id, "gw").ok());
}

TEST(FaultArrayTest, StalledCallGoesOnWhenHealed) {
  auto a = Wrapped();
  auto v = a->CreateVolume(4096);
  ASSERT_TRUE(v.ok());
  a->StallNth(ArrayOp::kStat, 2);
  ASSERT_TRUE(a->GetVolume(v->id).ok()) << "the first call is not the chosen one";
  std::atomic<bool> returned{false};
  std::thread caller([&] {
    EXPECT_TRUE(a->GetVolume(v->id).ok());
    returned = true;
  });
  while (a->Calls(ArrayOp::kStat) < 2) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(returned) << "the second call must wait for Heal";
  a->Heal(ArrayOp::kStat);
  caller.join();
  EXPECT_TRUE(returned);
  EXPECT_EQ(a->Failures(ArrayOp::kStat), 0u);
}

TEST(FaultArrayTest, ResetDropsRulesAndCounters) {
  auto a = Wrapped();
  a->FailAlways(ArrayOp::kDiscover, IoError("injected"));
  a->FailNth(ArrayOp::kScrub, 1, DataLoss("injected"));
  EXPECT_FALSE(a->Discover().ok());
  a->Reset();
  EXPECT_EQ(a->Calls(ArrayOp::kDiscover), 0u);
  EXPECT_EQ(a->Failures(ArrayOp::kDiscover), 0u);
  EXPECT_TRUE(a->Discover().ok());
  auto v = a->CreateVolume(kMiB);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(a->Scrub(v->id).ok());
}

// Each method is counted under its own operation, and a rule on that
// operation stops exactly that method.
TEST(FaultArrayTest, EveryMethodIsCountedUnderItsOperation) {
  auto a = Wrapped();
  auto v = a->CreateVolume(kMiB);
  auto w = a->CreateVolume(kMiB);
  ASSERT_TRUE(v.ok() && w.ok());
  std::vector<uint8_t> buf(512, 1);
  struct Case {
    ArrayOp op;
    std::function<Status()> call;
  };
  std::vector<Case> cases = {
      {ArrayOp::kDiscover, [&] { return a->Discover().status(); }},
      {ArrayOp::kStat, [&] { return a->GetVolume(v->id).status(); }},
      {ArrayOp::kCreate, [&] { return a->CreateVolume(kMiB).status(); }},
      {ArrayOp::kWrite, [&] { return a->Write(v->id, 0, buf); }},
      {ArrayOp::kRead, [&] { return a->Read(v->id, 0, buf); }},
      {ArrayOp::kDeallocate, [&] { return a->Deallocate(v->id, 0, 512); }},
      {ArrayOp::kCopy, [&] { return a->Copy(*a, v->id, w->id); }},
      {ArrayOp::kSnap, [&] { return a->Snap(v->id, w->id); }},
      {ArrayOp::kScrub, [&] { return a->Scrub(w->id); }},
      {ArrayOp::kGrant, [&] { return a->Grant(v->id, "gw"); }},
      {ArrayOp::kRevoke, [&] { return a->Revoke(v->id, "gw"); }},
      {ArrayOp::kLocate, [&] { return a->Locate(v->id).status(); }},
      {ArrayOp::kDelete,
       [&] {
         auto x = a->base().CreateVolume(kMiB);
         return x.ok() ? a->DeleteVolume(x->id) : x.status();
       }},
  };
  ASSERT_EQ(cases.size(), size_t(kArrayOpCount));
  for (const auto& c : cases) {
    a->Reset();
    a->FailNth(c.op, 1, Aborted("injected " + std::string(ArrayOpName(c.op))));
    Status s = c.call();
    EXPECT_EQ(s, Aborted("injected " + std::string(ArrayOpName(c.op)))) << ArrayOpName(c.op);
    EXPECT_EQ(a->Calls(c.op), 1u) << ArrayOpName(c.op);
    for (int other = 0; other < kArrayOpCount; ++other) {
      if (static_cast<ArrayOp>(other) == c.op) continue;
      EXPECT_EQ(a->Calls(static_cast<ArrayOp>(other)), 0u)
          << ArrayOpName(c.op) << " counted as " << ArrayOpName(static_cast<ArrayOp>(other));
    }
    Status again = c.call();  // the rule fired once and is gone
    if (c.op == ArrayOp::kLocate) {
      EXPECT_EQ(again.code(), Code::kUnimplemented);  // memory arrays have no files
    } else {
      EXPECT_TRUE(again.ok()) << ArrayOpName(c.op) << ": " << again.ToString();
    }
  }
}

TEST(FaultArrayTest, ExactlyOneFailureAcrossThreads) {
  auto a = Wrapped();
  auto v = a->CreateVolume(kMiB);
  ASSERT_TRUE(v.ok());
  a->FailNth(ArrayOp::kRead, 150, IoError("injected"));
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::vector<uint8_t> buf(512);
      for (int i = 0; i < 100; ++i) {
        if (!a->Read(v->id, 0, buf).ok()) ++failed;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 1);
  EXPECT_EQ(a->Calls(ArrayOp::kRead), 400u);
  EXPECT_EQ(a->Failures(ArrayOp::kRead), 1u);
}

TEST(FaultArrayTest, WrapsAFileArrayAndPassesThroughItsAnswers) {
  char tmpl[] = "/tmp/vsl-fault-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  {
    auto base = OpenArray({"f", "file", dir + "/f", 4 * kMiB, kMiB, {{"cache", "large"}}, {}});
    ASSERT_TRUE(base.ok());
    FaultInjectingArray a(std::move(base).value());
    EXPECT_EQ(a.info().qualities.at("cache"), "large");
    EXPECT_EQ(a.Discover()->size(), 4u);
    EXPECT_EQ(a.CreateVolume(kMiB).status().code(), Code::kFailedPrecondition);
    auto where = a.Locate("vol-0001");
    ASSERT_TRUE(where.ok());
    EXPECT_EQ((*where)[0].length, kMiB);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vsl::array
