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
//  * and it must not cost throughput: every kPeriod starts with three probes
//    of kProbe each, one without pauses, one with the pause and one with a
//    pause kStretch times as long, and the rest of the period pauses only
//    if the loop handled at least kKeepShare of the PDUs with pauses that it
//    handled without. An initiator with a shallow queue (QD4: all its
//    commands wait in our pause) loses to the probe without; one that keeps
//    a deep queue busy (its own CPU is the limit) does not.
//  * The long pause is taken when it kept up with both others (at least
//    kStretchKeepShare of the PDUs of each; a queue of 8 loses, one of 32
//    that the initiator's CPU limits does not): each turn then finds
//    two to three times the batch, and the turn's fixed cost (the wake-up,
//    epoll_wait, the read and the ACK it sends, the pwritev, the writev and
//    the initiator's wake-up) is shared by that many more commands. At a
//    fixed queue depth the latency follows the throughput, which the probe
//    keeps.
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
  static constexpr int kStretch = 3;
  static constexpr uint64_t kStretchKeepSharePercent = 95;

  explicit Moderation(std::chrono::microseconds pause) : pause_(pause) {}

  // `work`: PDUs the turn that ended at `now` handled (0 for an idle
  // wake-up, a timeout or a posted closure). Returns how long to pause
  // before the next wait (zero: none).
  std::chrono::microseconds Next(size_t work, Clock::time_point now) {
    if (pause_.count() <= 0) return {};
    const std::chrono::microseconds pause = Allowed(work, now);
    if (pause.count() <= 0) {
      paused_last_ = false;
      return {};
    }
    if (paused_last_) {
      if (work >= kMinGain) return pause;
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
    return pause;
  }

 private:
  // The throughput check: counts the turn's work into the probe it falls in
  // and says how long pauses are now (zero: none).
  std::chrono::microseconds Allowed(size_t work, Clock::time_point now) {
    if (!started_ || now - period_start_ >= kPeriod) {
      started_ = true;
      period_start_ = now;
      without_ = with_ = with_long_ = 0;
      decided_ = false;
    }
    Clock::duration t = now - period_start_;
    if (t < kProbe) {
      without_ += work;
      return {};
    }
    if (t < 2 * kProbe) {
      with_ += work;
      return pause_;
    }
    if (t < 3 * kProbe) {
      with_long_ += work;
      return kStretch * pause_;
    }
    if (!decided_) {
      decided_ = true;
      if (with_long_ * 100 >= without_ * kStretchKeepSharePercent &&
          with_long_ * 100 >= with_ * kStretchKeepSharePercent) {
        allowed_ = kStretch * pause_;
      } else if (with_ * 100 >= without_ * kKeepSharePercent) {
        allowed_ = pause_;
      } else {
        allowed_ = {};
      }
    }
    return allowed_;
  }

  std::chrono::microseconds pause_;
  bool paused_last_ = false;
  uint32_t cooldown_ = 0;
  bool started_ = false;
  Clock::time_point period_start_;
  uint64_t without_ = 0, with_ = 0, with_long_ = 0;  // PDUs handled in the probes
  bool decided_ = false;
  std::chrono::microseconds allowed_{0};
};

}  // namespace vsl::gateway
