// WriteBudget: the gateway-wide cap on memory set aside for solicited write
// data (Data-Out the gateway asked for with R2Ts), shared by every session.
//
// A session reserves a write's solicited bytes before it sends the write's
// first R2T and gives them back when the command leaves the session
// (completed, aborted or the connection closed). When the budget is spent the
// R2Ts wait: the session registers a wake-up and is called back (through its
// event loop) when some other session releases memory. Nothing here fails a
// command; a host that never sends the data it was asked for only holds what
// it reserved, and each session may reserve only a bounded share.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

namespace vsl::gateway {

class WriteBudget {
 public:
  explicit WriteBudget(uint64_t limit) : limit_(limit) {}

  uint64_t limit() const { return limit_; }
  uint64_t used() const { return used_.load(std::memory_order_relaxed); }

  // Takes `bytes` if they fit; false (and nothing taken) otherwise.
  bool TryAcquire(uint64_t bytes);
  // Gives `bytes` back and wakes every waiter (each one retries).
  void Release(uint64_t bytes);

  // TryAcquire, or else registers `wake` to be called once, from the
  // releasing thread, after the next Release (no release can slip between
  // the failed try and the registration). A later registration of the same
  // `id` replaces the earlier one.
  bool AcquireOrWait(uint64_t bytes, uint64_t id, std::function<void()> wake);
  // Forgets `id`'s wake-up (its connection is closing).
  void Cancel(uint64_t id);

 private:
  const uint64_t limit_;
  std::atomic<uint64_t> used_{0};
  std::mutex mu_;
  std::map<uint64_t, std::function<void()>> waiters_;  // guarded by mu_
};

}  // namespace vsl::gateway
