// Executor: a fixed number of threads that run queued tasks, for work that
// must not start a thread of its own per request (farm jobs). Threads are
// started once and joined by the destructor, which first lets every queued
// task run. A task that throws is the task's problem: Post's callers wrap
// their work; the executor only catches so that one task cannot end the
// process.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "util/status.h"

namespace vsl::util {

class Executor {
 public:
  // `threads` >= 1 run tasks; at most `max_queued` wait for one.
  Executor(int threads, size_t max_queued);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues `task`; ResourceExhausted when `max_queued` tasks already wait,
  // FailedPrecondition once the executor is shutting down.
  Status Post(std::function<void()> task);

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  size_t max_queued_;
  std::vector<std::thread> threads_;
};

}  // namespace vsl::util
