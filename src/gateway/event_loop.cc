#include "gateway/event_loop.h"

#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

namespace vsl::gateway {

namespace {
// The default timer slack (50 us) would stretch every pause to several times
// its length.
constexpr unsigned long kPauseSlackNs = 5000;
}  // namespace

EventLoop::EventLoop(std::chrono::microseconds batch_pause)
    : poller_(MakeEpollPoller()), moderation_(batch_pause) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

EventLoop::~EventLoop() {
  if (thread_.joinable()) Stop(nullptr);
  if (wake_fd_ >= 0) close(wake_fd_);
}

Status EventLoop::Start(std::function<void(Clock::time_point)> tick) {
  if (wake_fd_ < 0) return ErrnoError("eventfd", errno);
  tick_ = std::move(tick);
  VSL_RETURN_IF_ERROR(poller_->Add(wake_fd_, Poller::kReadable, this));
  running_ = true;
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void EventLoop::Stop(std::function<void()> last) {
  if (!thread_.joinable()) return;
  Post([this, last = std::move(last)] {
    if (last) last();
    running_ = false;
  });
  thread_.join();
}

void EventLoop::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    posted_.push_back(std::move(fn));
  }
  // One eventfd write per batch of posts: the loop clears the flag before it
  // takes the queue, so a post racing with the drain always wakes it again.
  if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) {
    uint64_t one = 1;
    ssize_t n = write(wake_fd_, &one, sizeof one);
    (void)n;
  }
}

void EventLoop::OnEvents(uint32_t) {
  // One read takes the whole count and clears it (a second one, to see
  // EAGAIN, would be a system call per wake-up for nothing).
  uint64_t v;
  ssize_t n = read(wake_fd_, &v, sizeof v);
  (void)n;
  RunPosted();
}

void EventLoop::RunPosted() {
  wake_pending_.store(false, std::memory_order_release);
  std::vector<std::function<void()>> batch;
  batch.swap(batch_);  // empty, with the capacity of earlier batches
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
  batch.clear();
  if (batch.capacity() > batch_.capacity()) batch.swap(batch_);
}

void EventLoop::RunAt(Clock::time_point when, std::function<void()> fn) {
  timers_.push_back({when, timer_seq_++, std::move(fn)});
  std::push_heap(timers_.begin(), timers_.end(), std::greater<>());
}

std::chrono::microseconds EventLoop::WaitTime(Clock::time_point now) const {
  constexpr std::chrono::microseconds kMax = std::chrono::seconds(1);
  if (timers_.empty()) return kMax;
  Clock::time_point first = timers_.front().when;
  if (first <= now) return std::chrono::microseconds(0);
  // Rounded up: waking early would only spin. The QoS limiter's timers are
  // the only ones; at 1000 IOPS a grant is due every millisecond, so the
  // wait is kept to the microsecond rather than rounded up to the next one.
  return std::min(kMax, std::chrono::ceil<std::chrono::microseconds>(first - now));
}

void EventLoop::RunTimers(Clock::time_point now) {
  while (!timers_.empty() && timers_.front().when <= now) {
    std::pop_heap(timers_.begin(), timers_.end(), std::greater<>());
    std::function<void()> fn = std::move(timers_.back().fn);
    timers_.pop_back();
    fn();  // may set further timers
  }
}

void EventLoop::Run() {
  thread_id_.store(std::this_thread::get_id(), std::memory_order_release);
  prctl(PR_SET_TIMERSLACK, kPauseSlackNs, 0, 0, 0);
  Clock::time_point last_tick = Clock::now();
  while (running_) {
    std::chrono::microseconds pause = moderation_.Next(work_, Clock::now());
    work_ = 0;
    if (pause.count() > 0) {
      timespec ts{0, long(std::chrono::nanoseconds(pause).count())};
      nanosleep(&ts, nullptr);
    }
    Status s = poller_->Wait(deferred_.empty() ? WaitTime(Clock::now()) : std::chrono::microseconds(0));
    (void)s;  // only EBADF-like bugs fail here; the tick still runs
    while (!deferred_.empty()) {
      std::vector<std::function<void()>> work;
      work.swap(batch_);  // empty, with the capacity of earlier batches
      work.swap(deferred_);
      for (auto& fn : work) fn();
      work.clear();
      if (work.capacity() > batch_.capacity()) work.swap(batch_);
    }
    Clock::time_point now = Clock::now();
    if (!timers_.empty()) RunTimers(now);
    if (now - last_tick >= std::chrono::seconds(1)) {
      last_tick = now;
      if (tick_) tick_(now);
    }
  }
  thread_id_.store(std::thread::id(), std::memory_order_release);
}

}  // namespace vsl::gateway
