#include "util/executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

namespace vsl {
namespace {

TEST(ExecutorTest, RunsEverythingQueuedAndJoinsAndSurvivesThrows) {
  std::atomic<int> ran{0};
  {
    util::Executor ex(2, 100);
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE(ex.Post([&ran, i] {
        ++ran;
        if (i % 7 == 0) throw std::runtime_error("task failed");
      }).ok());
    }
  }  // destructor: every queued task ran, threads joined
  EXPECT_EQ(ran.load(), 50);
}

TEST(ExecutorTest, RefusesBeyondTheQueueBound) {
  std::mutex gate;
  std::unique_lock<std::mutex> hold(gate);
  util::Executor ex(1, 2);
  // One task runs (blocked on the gate); two wait; the next is refused.
  std::atomic<bool> started{false};
  ASSERT_TRUE(ex.Post([&] {
    started = true;
    std::lock_guard<std::mutex> l(gate);
  }).ok());
  while (!started) std::this_thread::yield();
  ASSERT_TRUE(ex.Post([] {}).ok());
  ASSERT_TRUE(ex.Post([] {}).ok());
  Status s = ex.Post([] {});
  EXPECT_EQ(s.code(), Code::kResourceExhausted) << s.ToString();
  hold.unlock();
}

}  // namespace
}  // namespace vsl
