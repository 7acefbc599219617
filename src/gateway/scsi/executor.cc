#include <bit>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "gateway/scsi/data_buffers.h"
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
      std::unique_lock<std::mutex> l(mu_);
      released_.wait(l, [this] { return holds_ == 0; });  // the threads keep working meanwhile
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
  void Hold() override {
    std::lock_guard<std::mutex> l(mu_);
    ++holds_;
  }
  void Release() override {
    std::lock_guard<std::mutex> l(mu_);
    if (--holds_ == 0) released_.notify_all();
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
  std::condition_variable released_;         // holds_ reached 0
  int64_t holds_ = 0;                        // guarded by mu_
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

namespace {
// Data-In buffers by size class (powers of two from 4 KiB to the largest
// transfer), at most kPoolBytes held in all.
constexpr size_t kMinClassBytes = 4096;
constexpr size_t kPoolBytes = 64u << 20;
constexpr int kClasses = std::countr_zero(size_t(kMaxTransferBytes)) - std::countr_zero(kMinClassBytes) + 1;

struct DataBufferPool {
  std::mutex mu;
  std::vector<std::vector<uint8_t>> free[kClasses];  // guarded by mu
  size_t bytes = 0;                                  // guarded by mu
};

DataBufferPool& Pool() {
  static DataBufferPool* pool = new DataBufferPool;  // never destroyed: used until exit
  return *pool;
}

// In front of the pool, each thread keeps up to kLocalBytes of small
// buffers (kLocalMaxBuffer or less) it gave back for itself: a network
// thread that takes a buffer per write's data and gives it back once the
// write is down takes no lock (and calls no malloc) for it. Large buffers
// always go through the pool: one a network thread kept would be missed by
// the I/O thread that reads the next large transfer.
constexpr size_t kLocalBytes = 1u << 20;
constexpr size_t kLocalMaxBuffer = 64u << 10;

struct LocalBuffers {
  std::vector<std::vector<uint8_t>> free[kClasses];
  size_t bytes = 0;
};
thread_local LocalBuffers local_buffers;

// The class of a buffer of capacity `bytes`, or -1 when it is not a class size.
int ClassOf(size_t bytes) {
  if (bytes < kMinClassBytes || bytes > kMaxTransferBytes || !std::has_single_bit(bytes)) return -1;
  return std::countr_zero(bytes) - std::countr_zero(kMinClassBytes);
}
}  // namespace

std::vector<uint8_t> TakeDataBuffer(size_t n) {
  if (n > kMaxTransferBytes) return std::vector<uint8_t>(n);
  const size_t cls_bytes = std::bit_ceil(std::max(n, kMinClassBytes));
  const int cls = ClassOf(cls_bytes);
  std::vector<uint8_t> b;
  LocalBuffers& local = local_buffers;
  if (cls_bytes <= kLocalMaxBuffer && !local.free[cls].empty()) {
    b = std::move(local.free[cls].back());
    local.free[cls].pop_back();
    local.bytes -= b.capacity();
  } else {
    DataBufferPool& p = Pool();
    std::lock_guard<std::mutex> l(p.mu);
    if (!p.free[cls].empty()) {
      b = std::move(p.free[cls].back());
      p.free[cls].pop_back();
      p.bytes -= b.capacity();
    }
  }
  // A pooled buffer keeps its full size, so this shrinks it without touching
  // a byte; only a new buffer is zero-filled (once, for its whole life).
  if (b.capacity() == 0) b.reserve(cls_bytes);
  b.resize(n);
  return b;
}

void GiveDataBuffer(std::vector<uint8_t>&& buffer) {
  const int cls = ClassOf(buffer.capacity());
  if (cls < 0) return;
  std::vector<uint8_t> b = std::move(buffer);
  // Grown back to its capacity outside the lock; only the bytes past this
  // use's size are zero-filled (none for power-of-two transfers).
  b.resize(b.capacity());
  LocalBuffers& local = local_buffers;
  if (b.capacity() <= kLocalMaxBuffer && local.bytes + b.capacity() <= kLocalBytes) {
    local.bytes += b.capacity();
    local.free[cls].push_back(std::move(b));
    return;
  }
  DataBufferPool& p = Pool();
  std::lock_guard<std::mutex> l(p.mu);
  if (p.bytes + b.capacity() > kPoolBytes) return;  // freed after unlock (declared before l)
  p.bytes += b.capacity();
  p.free[cls].push_back(std::move(b));
}

IoExecutor* InlineExecutor() {
  static Inline* inline_executor = new Inline;
  return inline_executor;
}

}  // namespace vsl::scsi
