#include "gateway/write_budget.h"

#include <vector>

namespace vsl::gateway {

bool WriteBudget::TryAcquire(uint64_t bytes) {
  uint64_t cur = used_.load(std::memory_order_relaxed);
  do {
    if (bytes > limit_ || cur > limit_ - bytes) return false;
  } while (!used_.compare_exchange_weak(cur, cur + bytes, std::memory_order_acq_rel));
  return true;
}

void WriteBudget::Release(uint64_t bytes) {
  used_.fetch_sub(bytes, std::memory_order_acq_rel);
  std::map<uint64_t, std::function<void()>> wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake.swap(waiters_);
  }
  for (auto& [id, fn] : wake) fn();
}

bool WriteBudget::AcquireOrWait(uint64_t bytes, uint64_t id, std::function<void()> wake) {
  std::lock_guard<std::mutex> lock(mu_);
  if (TryAcquire(bytes)) return true;
  waiters_[id] = std::move(wake);
  return false;
}

void WriteBudget::Cancel(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  waiters_.erase(id);
}

}  // namespace vsl::gateway
