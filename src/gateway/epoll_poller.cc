#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <ctime>
#include <unordered_set>
#include <vector>

#include "gateway/poller.h"

namespace vsl::gateway {
namespace {

uint32_t ToEpoll(uint32_t interest) {
  uint32_t e = 0;
  if (interest & Poller::kReadable) e |= EPOLLIN | EPOLLRDHUP;
  if (interest & Poller::kWritable) e |= EPOLLOUT;
  return e;
}

class EpollPoller : public Poller {
 public:
  EpollPoller() : epfd_(epoll_create1(EPOLL_CLOEXEC)), events_(256) {}
  ~EpollPoller() override {
    if (epfd_ >= 0) close(epfd_);
  }

  Status Add(int fd, uint32_t interest, Handler* handler) override {
    return Ctl(EPOLL_CTL_ADD, fd, interest, handler);
  }
  Status Modify(int fd, uint32_t interest, Handler* handler) override {
    return Ctl(EPOLL_CTL_MOD, fd, interest, handler);
  }
  void Remove(int fd) override {
    epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    if (size_t(fd) < table_.size()) table_[size_t(fd)] = nullptr;
    removed_.insert(fd);
  }

  Status Wait(std::chrono::microseconds timeout) override {
    if (epfd_ < 0) return ErrnoError("epoll_create1", EMFILE);
    int n = -1;
    if (have_pwait2_) {
      timespec ts{};
      if (timeout.count() >= 0) {
        ts.tv_sec = time_t(timeout.count() / 1000000);
        ts.tv_nsec = long(timeout.count() % 1000000) * 1000;
      }
      n = epoll_pwait2(epfd_, events_.data(), int(events_.size()), timeout.count() < 0 ? nullptr : &ts,
                       nullptr);
      if (n < 0 && errno == ENOSYS) have_pwait2_ = false;  // a kernel before 5.11
    }
    if (!have_pwait2_) {
      // Rounded up: waking early would only spin.
      int ms = timeout.count() < 0 ? -1 : int(std::min<int64_t>(INT32_MAX, (timeout.count() + 999) / 1000));
      n = epoll_wait(epfd_, events_.data(), int(events_.size()), ms);
    }
    if (n < 0) {
      if (errno == EINTR) return Status::Ok();
      return ErrnoError("epoll_wait", errno);
    }
    removed_.clear();
    for (int i = 0; i < n; ++i) {
      const epoll_event& ev = events_[i];
      int fd = int(ev.data.u64 >> 32);
      if (!removed_.empty() && removed_.count(fd)) continue;
      Handler* h = Lookup(fd);
      if (h == nullptr) continue;
      uint32_t e = 0;
      if (ev.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) e |= kReadable;
      if (ev.events & EPOLLOUT) e |= kWritable;
      if (ev.events & (EPOLLERR | EPOLLHUP)) e |= kError;
      h->OnEvents(e);
    }
    removed_.clear();
    if (size_t(n) == events_.size()) events_.resize(events_.size() * 2);
    return Status::Ok();
  }

 private:
  Status Ctl(int op, int fd, uint32_t interest, Handler* handler) {
    epoll_event ev{};
    ev.events = ToEpoll(interest);
    ev.data.u64 = uint64_t(uint32_t(fd)) << 32;
    if (epoll_ctl(epfd_, op, fd, &ev) != 0) return ErrnoError("epoll_ctl", errno);
    if (size_t(fd) >= table_.size()) table_.resize(size_t(fd) * 2 + 16, nullptr);
    table_[size_t(fd)] = handler;
    removed_.erase(fd);
    return Status::Ok();
  }
  Handler* Lookup(int fd) const { return size_t(fd) < table_.size() ? table_[size_t(fd)] : nullptr; }

  int epfd_;
  std::vector<epoll_event> events_;
  std::vector<Handler*> table_;  // fd -> handler
  std::unordered_set<int> removed_;
  bool have_pwait2_ = true;  // until the kernel says ENOSYS
};

}  // namespace

std::unique_ptr<Poller> MakeEpollPoller() { return std::make_unique<EpollPoller>(); }

}  // namespace vsl::gateway
