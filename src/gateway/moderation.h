// Moderation: how long an event loop pauses between two busy turns so the
// next one finds a batch (the software form of a NIC's interrupt moderation).
//
// Why: with the initiator on another CPU, a loop that answers as soon as
// anything arrives wakes once per command or less (a write's header and data
// come in two pieces), and each turn pays an epoll_wait, a read and a writev
// for one or two PDUs. A short pause after a turn that handled several PDUs
// lets more of the initiator's queue arrive: one turn then reads, answers and
// writes many commands at once. The pause costs latency, so it is taken only
// where it pays:
//  * never after a turn with fewer than kMinWork PDUs (one command in flight,
//    QD1, never waits);
//  * a pause that brought fewer than kMinGain PDUs (the initiator was
//    waiting for our answers, not sending) turns pausing off for the next
//    kCooldownTurns turns, then it is tried again;
//  * so does a turn that found kNaturalBatch PDUs or more without a pause:
//    batches form by themselves (initiator and gateway share a CPU, so the
//    gateway runs only once the initiator has sent all it can), and a pause
//    would only leave the CPU idle;
//  * and it must not cost throughput: every kPeriod starts with two probes
//    of kProbe each, one without pauses and one with, and the rest of the
//    period pauses only if the loop handled at least kKeepShare of the PDUs
//    with pauses that it handled without. An initiator with a shallow queue
//    (QD4: all its commands wait in our pause) loses to the probe without;
//    one that keeps a deep queue busy (its own CPU is the limit) does not.
// Pure logic: the loop reports each turn's work and sleeps for what Next()
// returns.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace vsl::gateway {

class Moderation {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kMinWork = 2;
  static constexpr size_t kMinGain = 4;
  static constexpr size_t kNaturalBatch = 8;
  static constexpr uint32_t kCooldownTurns = 64;
  static constexpr Clock::duration kProbe = std::chrono::milliseconds(20);
  static constexpr Clock::duration kPeriod = std::chrono::milliseconds(400);
  static constexpr uint64_t kKeepSharePercent = 80;

  explicit Moderation(std::chrono::microseconds pause) : pause_(pause) {}

  // `work`: PDUs the turn that ended at `now` handled (0 for an idle
  // wake-up, a timeout or a posted closure). Returns how long to pause
  // before the next wait (zero: none).
  std::chrono::microseconds Next(size_t work, Clock::time_point now) {
    if (pause_.count() <= 0) return {};
    if (!Allowed(work, now)) {
      paused_last_ = false;
      return {};
    }
    if (paused_last_) {
      if (work >= kMinGain) return pause_;
      paused_last_ = false;
      cooldown_ = kCooldownTurns;
      return {};
    }
    if (cooldown_ > 0) {
      --cooldown_;
      return {};
    }
    if (work >= kNaturalBatch) {
      cooldown_ = kCooldownTurns;
      return {};
    }
    if (work < kMinWork) return {};
    paused_last_ = true;
    return pause_;
  }

 private:
  // The throughput check: counts the turn's work into the probe it falls in
  // and says whether pauses are allowed now.
  bool Allowed(size_t work, Clock::time_point now) {
    if (!started_ || now - period_start_ >= kPeriod) {
      started_ = true;
      period_start_ = now;
      without_ = with_ = 0;
      decided_ = false;
    }
    Clock::duration t = now - period_start_;
    if (t < kProbe) {
      without_ += work;
      return false;
    }
    if (t < 2 * kProbe) {
      with_ += work;
      return true;
    }
    if (!decided_) {
      decided_ = true;
      allowed_ = with_ * 100 >= without_ * kKeepSharePercent;
    }
    return allowed_;
  }

  std::chrono::microseconds pause_;
  bool paused_last_ = false;
  uint32_t cooldown_ = 0;
  bool started_ = false;
  Clock::time_point period_start_;
  uint64_t without_ = 0, with_ = 0;  // PDUs handled in the two probes
  bool decided_ = false;
  bool allowed_ = false;
};

}  // namespace vsl::gateway
