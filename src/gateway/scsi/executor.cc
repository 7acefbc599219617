#include <condition_variable>
#include <deque>
#include <thread>

#include "gateway/scsi/scsi.h"

namespace vsl::scsi {
namespace {

class ThreadPool final : public IoExecutor {
 public:
  explicit ThreadPool(int threads) {
    if (threads < 1) threads = 1;
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
  }
  ~ThreadPool() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void Run(std::function<void()> work) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      queue_.push_back(std::move(work));
    }
    cv_.notify_one();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      cv_.wait(l, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued is done
      auto work = std::move(queue_.front());
      queue_.pop_front();
      l.unlock();
      work();
      l.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

class Inline final : public IoExecutor {
 public:
  void Run(std::function<void()> work) override { work(); }
};

}  // namespace

std::unique_ptr<IoExecutor> MakeThreadPool(int threads) {
  return std::make_unique<ThreadPool>(threads);
}

IoExecutor* InlineExecutor() {
  static Inline* inline_executor = new Inline;
  return inline_executor;
}

}  // namespace vsl::scsi
