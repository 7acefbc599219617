#include "util/executor.h"

#include "util/log.h"

#include <cstdio>
#include <exception>

namespace vsl::util {

Executor::Executor(int threads, size_t max_queued) : max_queued_(max_queued) {
  if (threads < 1) threads = 1;
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

Executor::~Executor() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

Status Executor::Post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) return FailedPrecondition("shutting down");
    if (queue_.size() >= max_queued_) {
      return ResourceExhausted(std::to_string(queue_.size()) + " tasks wait already; try again later");
    }
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
  return Status::Ok();
}

void Executor::Loop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to run
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      task();
    } catch (const std::exception& e) {
      Logger("executor", TextStyle::kCommand).error("a task threw: {}", e.what());
    } catch (...) {
      Logger("executor", TextStyle::kCommand).error("a task threw");
    }
  }
}

}  // namespace vsl::util
