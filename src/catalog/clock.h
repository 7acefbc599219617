// The catalog's clock: request leases and timestamps read it, so tests can
// move time forward instead of sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace vsl::catalog {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual int64_t NowMs() = 0;
};

class SystemClock : public Clock {
 public:
  int64_t NowMs() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  // The process-wide instance.
  static SystemClock* Get() {
    static SystemClock clock;
    return &clock;
  }
};

// Time stands still until Advance. Thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t start_ms = 1'800'000'000'000) : now_(start_ms) {}
  int64_t NowMs() override { return now_.load(); }
  void Advance(int64_t ms) { now_ += ms; }
  void Set(int64_t ms) { now_ = ms; }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace vsl::catalog
