// QosLimiter: one logical unit's limits (util/qos.h) enforced as token
// buckets, shared by every nexus that uses the LU.
//
// Each limit is a bucket that fills at its rate and holds at most `burst`'s
// worth (a short burst after a quiet spell). A command may run when every
// bucket that applies to it (reads: iops, read-iops, mbps, read-mbps) holds
// its cost (1 command, its data bytes; a command bigger than a bucket needs
// the bucket full and leaves it in debt); running takes the cost out.
//
// A command that may not run now is not refused: its connection parks it
// and this class queues a ticket for it in its nexus's line (Waiter). Pump()
// hands out what the buckets allow round-robin over the waiting lines, one
// command per line per round, so a shared disk's limit is shared fairly among
// its hosts whatever their queue depths, and calls the granted lines' wake
// functions. Tickets are bounded by the commands the connections hold (their
// CmdSN windows): this class adds no queue a peer can grow.
//
// A host with few commands in flight is often between two of them when its
// turn comes (its command is on the wire back, or its initiator has not sent
// the next one yet). Its line stays in the round for kGrace after it
// emptied; a turn it misses that way is given to the next waiting line (the
// limiter never idles while someone waits) and owed to it: a line that is
// owed turns is served first when its tickets come, up to kMaxOwed of them.
// So a shallow queue gets its share as long as it comes back within the
// grace, and a line idle longer than that forfeits what it was owed.
//
// Thread-safe: connections on several network threads share one limiter.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "util/qos.h"

namespace vsl::gateway {

enum class QosClass : uint8_t { kRead, kWrite };

struct QosCost {
  QosClass cls = QosClass::kRead;
  uint64_t bytes = 0;  // data the command moves
};

// The class of a CDB that limits apply to: the READs, the WRITEs, WRITE AND
// VERIFY, WRITE SAME and COMPARE AND WRITE; nullopt for everything else
// (INQUIRY, TEST UNIT READY, SYNCHRONIZE CACHE, UNMAP, ...), never held.
std::optional<QosClass> QosClassOf(std::span<const uint8_t> cdb);

class QosLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // One nexus's line on this LU (a connection makes one per limited LU it
  // uses). `wake` runs on any thread, without the limiter's lock, when the
  // line was granted commands or the limits changed; it should get the
  // connection to call Pump() and TakeGranted() on its own thread.
  class Waiter {
   public:
    explicit Waiter(std::function<void()> wake) : wake_(std::move(wake)) {}

   private:
    friend class QosLimiter;
    std::function<void()> wake_;
    std::deque<QosCost> tickets_;  // guarded by the limiter's mu_
    size_t granted_ = 0;           // guarded by the limiter's mu_
    bool listed_ = false;          // in lines_; guarded by the limiter's mu_
    size_t owed_ = 0;              // turns it missed while empty; guarded by mu_
    std::chrono::steady_clock::time_point emptied_{};  // guarded by mu_
  };

  // How long an emptied line keeps its place in the round, and the most
  // turns it can be owed.
  static constexpr std::chrono::milliseconds kGrace{50};
  static constexpr size_t kMaxOwed = 4;

  // `burst`: how many seconds' worth of each limit a bucket holds.
  explicit QosLimiter(std::chrono::milliseconds burst = std::chrono::milliseconds(100));

  // New limits, at once: buckets of new limits start full, kept ones keep
  // their tokens (up to the new size). Every waiting line is woken (a
  // raised or cleared limit lets them go sooner).
  void Set(const QosLimits& limits, Clock::time_point now = Clock::now());
  QosLimits limits() const;
  // Whether any limit is set. Lock-free.
  bool limited() const { return limited_.load(std::memory_order_relaxed); }

  // A command of `w`'s nexus: true when it may run now (nobody waits and the
  // buckets hold its cost, which is taken). Otherwise a ticket joins `w`'s
  // line, and the command runs once TakeGranted() counts it.
  bool Admit(const std::shared_ptr<Waiter>& w, QosCost cost, Clock::time_point now);
  // Grants what the buckets hold now (round-robin over the lines) and wakes
  // the lines granted something. Returns when the next ticket can be granted
  // (Clock::time_point::max() when none waits).
  Clock::time_point Pump(Clock::time_point now);
  // Commands of `w` granted since the last call (its oldest tickets first).
  size_t TakeGranted(Waiter* w);
  // `w`'s nexus is gone: its tickets are dropped.
  void Leave(Waiter* w);
  // Tickets waiting, all lines.
  size_t waiting() const;

 private:
  struct Bucket {
    double rate = 0;    // per second; 0: no limit
    double size = 0;    // the most it holds
    double tokens = 0;  // may go below 0 after a command bigger than `size`
  };
  void Refill(Clock::time_point now);      // requires mu_
  bool Fits(const QosCost& c) const;       // requires mu_
  void Charge(const QosCost& c);           // requires mu_
  double SecondsUntilFits(const QosCost& c) const;  // requires mu_
  template <typename Fn>
  void ForBuckets(const QosCost& c, Fn fn) const;
  // One grant, if the buckets allow one: first to a line owed turns, else
  // round-robin. Requires mu_.
  std::shared_ptr<Waiter> GrantOne(Clock::time_point now);
  void Unlist(size_t i);  // requires mu_

  const double burst_s_;
  std::atomic<bool> limited_{false};
  mutable std::mutex mu_;
  QosLimits limits_;                                // guarded by mu_
  std::array<Bucket, QosLimits::kKeys> buckets_{};  // guarded by mu_
  Clock::time_point last_{};                        // guarded by mu_
  std::vector<std::shared_ptr<Waiter>> lines_;      // lines with tickets; guarded by mu_
  size_t next_line_ = 0;                            // round-robin start; guarded by mu_
  size_t waiting_ = 0;                              // tickets in all lines; guarded by mu_
};

}  // namespace vsl::gateway
