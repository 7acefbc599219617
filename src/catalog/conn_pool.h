// ConnPool: at most `limit` connections of type C, handed to one thread at a
// time. Internal to the SQL back ends.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "util/status.h"

namespace vsl::catalog {

template <typename C>
class ConnPool {
 public:
  using Factory = std::function<Result<std::unique_ptr<C>>()>;
  ConnPool(int limit, Factory factory) : limit_(limit < 1 ? 1 : limit), factory_(std::move(factory)) {}

  // A connection for the caller's exclusive use; give it back with Release
  // (or drop it, when it is broken, with Release(nullptr)).
  Result<std::unique_ptr<C>> Acquire() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return !idle_.empty() || open_ < limit_; });
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
    ++open_;
    l.unlock();
    auto c = factory_();
    if (!c.ok()) {
      std::lock_guard<std::mutex> g(mu_);
      --open_;
      cv_.notify_one();
    }
    return c;
  }

  void Release(std::unique_ptr<C> c) {
    std::lock_guard<std::mutex> g(mu_);
    if (c) {
      idle_.push_back(std::move(c));
    } else {
      --open_;
    }
    cv_.notify_one();
  }

 private:
  const int limit_;
  Factory factory_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<C>> idle_;  // guarded by mu_
  int open_ = 0;                          // guarded by mu_
};

// Sleeps a little longer on each retry of a conflicting transaction, with
// jitter so that two losers don't collide again.
inline void ConflictBackoff(int attempt) {
  thread_local std::mt19937 rng{std::random_device{}()};
  int cap = std::min(200, 2 << std::min(attempt, 7));
  std::uniform_int_distribution<int> d(1, cap);
  std::this_thread::sleep_for(std::chrono::milliseconds(d(rng)));
}

inline constexpr int kMaxConflictRetries = 50;

}  // namespace vsl::catalog
