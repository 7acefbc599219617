// Countdown: the pieces of one request that finish on any thread (librbd's
// callbacks, the I/O pool). The last to finish learns that it is the last,
// with the first error any piece gave; the starter holds one count of its
// own while it starts the pieces, so no piece can be the last before all
// are started.
#pragma once

#include <atomic>
#include <mutex>

#include "util/status.h"

namespace vsl::util {

class Countdown {
 public:
  // A piece starts; it ends with one Finish.
  void Add() { pending_.fetch_add(1, std::memory_order_relaxed); }

  // Ends one piece (or the starter's own count) with `s`. True for the last:
  // then `*first` is the first error, or Ok.
  bool Finish(Status s, Status* first) {
    if (!s.ok()) {
      std::lock_guard l(mu_);
      if (first_.ok()) first_ = std::move(s);
    }
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) != 1) return false;
    std::lock_guard l(mu_);
    *first = first_;
    return true;
  }

  // After the last Finish: a new round, with the starter's count again.
  void Rearm() { pending_.store(1, std::memory_order_relaxed); }

 private:
  std::atomic<int> pending_{1};
  std::mutex mu_;
  Status first_;  // guarded by mu_
};

}  // namespace vsl::util
