// Poller: readiness notification for non-blocking file descriptors, the seam
// between the event loop and the kernel (epoll now; io_uring could sit here).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "util/status.h"

namespace vsl::gateway {

class Poller {
 public:
  enum Events : uint32_t { kReadable = 1, kWritable = 2, kError = 4 };

  // Something waiting on a descriptor. Called on the loop's thread only.
  class Handler {
   public:
    virtual ~Handler() = default;
    virtual void OnEvents(uint32_t events) = 0;
  };

  virtual ~Poller() = default;
  // `handler` must stay alive until Remove(fd). Level-triggered.
  virtual Status Add(int fd, uint32_t interest, Handler* handler) = 0;
  virtual Status Modify(int fd, uint32_t interest, Handler* handler) = 0;
  virtual void Remove(int fd) = 0;
  // Waits up to `timeout` (negative: forever; to the microsecond where the
  // kernel has epoll_pwait2, else rounded up to the millisecond) and calls
  // the handlers of ready descriptors. A handler may Remove() any descriptor
  // (itself included); events of a removed descriptor that are still
  // pending are then dropped.
  virtual Status Wait(std::chrono::microseconds timeout) = 0;
};

std::unique_ptr<Poller> MakeEpollPoller();

}  // namespace vsl::gateway
