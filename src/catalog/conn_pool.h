// ConnPool: at most `limit` connections of type C, handed to one thread at a
// time, and RunTransaction, the transaction loop both SQL back ends share.
// Internal to them.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "catalog/db.h"
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

// Runs `fn` in one transaction on a connection of `pool`: `begin`, fn, then
// COMMIT (ROLLBACK when anything failed); a transaction that lost to a
// concurrent one (tx.conflict()) runs again after a backoff. TxT is built
// from the connection and answers Raw(sql), conflict() and broken() (a
// broken connection is dropped instead of going back to the pool).
template <typename TxT, typename C>
Status RunTransaction(ConnPool<C>& pool, const char* begin, const std::function<Status(Tx&)>& fn) {
  for (int attempt = 0;; ++attempt) {
    VSL_ASSIGN_OR_RETURN(std::unique_ptr<C> conn, pool.Acquire());
    TxT tx(*conn);
    Status s = tx.Raw(begin);
    if (s.ok()) {
      s = fn(tx);
      if (s.ok()) s = tx.Raw("COMMIT");
      if (!s.ok()) (void)tx.Raw("ROLLBACK");
    }
    bool conflict = tx.conflict();
    pool.Release(tx.broken() ? nullptr : std::move(conn));
    if (s.ok() || !conflict || attempt >= kMaxConflictRetries) return s;
    ConflictBackoff(attempt);
  }
}

}  // namespace vsl::catalog
