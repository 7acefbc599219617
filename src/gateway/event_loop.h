// EventLoop: one network thread. Waits on a Poller, runs closures posted from
// other threads (SCSI completions, map changes), runs end-of-iteration work
// (batched socket writes) and a once-a-second tick (keepalive pings).
//
// Everything registered with a loop is touched only on the loop's thread;
// Post() is the only method other threads may call.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "gateway/moderation.h"
#include "gateway/poller.h"
#include "util/status.h"

namespace vsl::gateway {

class EventLoop : private Poller::Handler {
 public:
  using Clock = std::chrono::steady_clock;

  // `batch_pause`: see Moderation (zero: the loop never pauses).
  explicit EventLoop(std::chrono::microseconds batch_pause = std::chrono::microseconds(0));
  ~EventLoop() override;
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Starts the thread. `tick` runs on it about once a second.
  Status Start(std::function<void(Clock::time_point)> tick);
  // Runs `last` on the loop thread, then ends the thread and joins it.
  // Closures posted afterwards are kept and destroyed with the loop.
  void Stop(std::function<void()> last);

  // Thread-safe: runs `fn` on the loop thread soon.
  void Post(std::function<void()> fn);
  // Loop thread only: runs `fn` after the current batch of events (once per
  // call), before the loop waits again.
  void Defer(std::function<void()> fn) { deferred_.push_back(std::move(fn)); }
  // Loop thread only: runs `fn` on the loop thread at `when` or soon after
  // (the wait has millisecond resolution).
  void RunAt(Clock::time_point when, std::function<void()> fn);

  Poller* poller() { return poller_.get(); }
  // Loop thread only: the current turn handled `pdus` PDUs (Moderation
  // decides from them whether to pause before the next wait).
  void NoteWork(size_t pdus) { work_ += pdus; }
  // Any thread (SCSI completions ask it from I/O threads).
  bool InLoopThread() const {
    return std::this_thread::get_id() == thread_id_.load(std::memory_order_acquire);
  }

 private:
  void OnEvents(uint32_t events) override;  // the wake-up eventfd
  void Run();
  void RunPosted();

  std::unique_ptr<Poller> poller_;
  int wake_fd_ = -1;
  std::thread thread_;
  // Written by the loop thread as it starts and ends, read from any thread.
  std::atomic<std::thread::id> thread_id_{};
  std::function<void(Clock::time_point)> tick_;
  bool running_ = false;  // loop thread only
  Moderation moderation_;  // loop thread only
  size_t work_ = 0;        // PDUs handled this turn; loop thread only
  std::vector<std::function<void()>> deferred_;  // loop thread only
  struct Timer {
    Clock::time_point when;
    uint64_t seq;  // equal times run in the order they were set
    std::function<void()> fn;
    bool operator>(const Timer& o) const { return when != o.when ? when > o.when : seq > o.seq; }
  };
  std::vector<Timer> timers_;  // a min-heap by `when`; loop thread only
  uint64_t timer_seq_ = 0;     // loop thread only
  // How long the poller may sleep: until the first timer (at most 1 s).
  std::chrono::microseconds WaitTime(Clock::time_point now) const;
  void RunTimers(Clock::time_point now);
  // The batch being run (deferred or posted); swapped with the queue so the
  // vectors keep their capacity. Loop thread only.
  std::vector<std::function<void()>> batch_;

  std::mutex mu_;
  std::vector<std::function<void()>> posted_;  // guarded by mu_
  std::atomic<bool> wake_pending_{false};
};

}  // namespace vsl::gateway
