#include "gateway/qos.h"

#include <algorithm>
#include <cmath>

namespace vsl::gateway {

std::optional<QosClass> QosClassOf(std::span<const uint8_t> cdb) {
  if (cdb.empty()) return std::nullopt;
  switch (cdb[0]) {
    case 0x08: case 0x28: case 0xa8: case 0x88:  // READ (6), (10), (12), (16)
      return QosClass::kRead;
    case 0x0a: case 0x2a: case 0xaa: case 0x8a:  // WRITE (6), (10), (12), (16)
    case 0x2e: case 0xae: case 0x8e:             // WRITE AND VERIFY (10), (12), (16)
    case 0x41: case 0x93:                        // WRITE SAME (10), (16)
    case 0x89:                                   // COMPARE AND WRITE
      return QosClass::kWrite;
    default:
      return std::nullopt;
  }
}

QosLimiter::QosLimiter(std::chrono::milliseconds burst)
    : burst_s_(std::max<double>(0.001, double(burst.count()) / 1000.0)) {}

template <typename Fn>
void QosLimiter::ForBuckets(const QosCost& c, Fn fn) const {
  bool read = c.cls == QosClass::kRead;
  double bytes = double(c.bytes);
  fn(size_t(QosLimits::kIops), 1.0);
  fn(size_t(read ? QosLimits::kReadIops : QosLimits::kWriteIops), 1.0);
  fn(size_t(QosLimits::kMbps), bytes);
  fn(size_t(read ? QosLimits::kReadMbps : QosLimits::kWriteMbps), bytes);
}

void QosLimiter::Set(const QosLimits& limits, Clock::time_point now) {
  std::vector<std::shared_ptr<Waiter>> wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Refill(now);
    limits_ = limits;
    for (size_t k = 0; k < buckets_.size(); ++k) {
      Bucket& b = buckets_[k];
      bool had = b.rate > 0;
      uint64_t v = limits.value[k];
      bool bytes = k >= size_t(QosLimits::kMbps);
      b.rate = bytes ? double(v) * 1048576.0 : double(v);
      b.size = std::max(b.rate * burst_s_, bytes ? 0.0 : 1.0);
      if (!had || b.rate == 0) b.tokens = b.size;
      b.tokens = std::min(b.tokens, b.size);
    }
    limited_.store(!limits.empty(), std::memory_order_relaxed);
    wake = lines_;
  }
  // Each line's connection pumps (granting what the new limits allow) and
  // sets its timer anew.
  for (auto& w : wake) w->wake_();
}

QosLimits QosLimiter::limits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return limits_;
}

size_t QosLimiter::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiting_;
}

void QosLimiter::Refill(Clock::time_point now) {
  if (now <= last_) return;
  double dt = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  for (Bucket& b : buckets_) {
    if (b.rate > 0) b.tokens = std::min(b.size, b.tokens + b.rate * dt);
  }
}

bool QosLimiter::Fits(const QosCost& c) const {
  bool fits = true;
  ForBuckets(c, [&](size_t k, double cost) {
    const Bucket& b = buckets_[k];
    if (b.rate > 0 && b.tokens < std::min(cost, b.size)) fits = false;
  });
  return fits;
}

void QosLimiter::Charge(const QosCost& c) {
  ForBuckets(c, [&](size_t k, double cost) {
    Bucket& b = buckets_[k];
    if (b.rate > 0) b.tokens -= cost;
  });
}

double QosLimiter::SecondsUntilFits(const QosCost& c) const {
  double wait = 0;
  ForBuckets(c, [&](size_t k, double cost) {
    const Bucket& b = buckets_[k];
    if (b.rate <= 0) return;
    double need = std::min(cost, b.size) - b.tokens;
    if (need > 0) wait = std::max(wait, need / b.rate);
  });
  return wait;
}

bool QosLimiter::Admit(const std::shared_ptr<Waiter>& w, QosCost cost, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (waiting_ == 0) {
    Refill(now);
    if (Fits(cost)) {
      Charge(cost);
      return true;
    }
  }
  // Someone waits already (a newcomer must not overtake the line), or the
  // buckets are short.
  // A line back after its grace, not yet taken out of the round by a Pump,
  // is owed nothing.
  if (w->listed_ && w->tickets_.empty() && now - w->emptied_ >= kGrace) w->owed_ = 0;
  w->tickets_.push_back(cost);
  ++waiting_;
  if (!w->listed_) {
    w->listed_ = true;
    lines_.push_back(w);
  }
  return false;
}

std::shared_ptr<QosLimiter::Waiter> QosLimiter::GrantOne(Clock::time_point now) {
  const size_t n = lines_.size();
  auto grant = [&](const std::shared_ptr<Waiter>& w) {
    Charge(w->tickets_.front());
    w->tickets_.pop_front();
    --waiting_;
    if (w->tickets_.empty()) w->emptied_ = now;
    return w;
  };
  // Turns owed first, in round order.
  for (size_t i = 0; i < n; ++i) {
    auto& w = lines_[(next_line_ + i) % n];
    if (w->owed_ == 0 || w->tickets_.empty()) continue;
    if (!Fits(w->tickets_.front())) continue;
    --w->owed_;
    return grant(w);
  }
  // The round: a line whose turn it is takes it; an emptied one in its grace
  // is owed the turn, which goes to the next line that waits.
  std::optional<size_t> owner;
  for (size_t i = 0; i < n; ++i) {
    size_t k = (next_line_ + i) % n;
    auto& w = lines_[k];
    if (w->tickets_.empty()) {
      if (!owner) owner = k;
      continue;
    }
    if (!Fits(w->tickets_.front())) continue;
    if (owner && lines_[*owner]->owed_ < kMaxOwed) ++lines_[*owner]->owed_;
    next_line_ = ((owner ? *owner : k) + 1) % n;
    return grant(w);
  }
  return nullptr;
}

void QosLimiter::Unlist(size_t i) {
  Waiter* w = lines_[i].get();
  w->listed_ = false;
  w->owed_ = 0;
  lines_.erase(lines_.begin() + long(i));
  if (i < next_line_) --next_line_;
  if (!lines_.empty()) next_line_ %= lines_.size();
  else next_line_ = 0;
}

QosLimiter::Clock::time_point QosLimiter::Pump(Clock::time_point now) {
  std::vector<std::shared_ptr<Waiter>> granted;
  Clock::time_point next = Clock::time_point::max();
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Emptied lines past their grace leave the round (and what they were
    // owed).
    for (size_t i = 0; i < lines_.size();) {
      Waiter* w = lines_[i].get();
      if (w->tickets_.empty() && now - w->emptied_ >= kGrace) {
        Unlist(i);
        continue;
      }
      ++i;
    }
    if (waiting_ == 0) return next;
    Refill(now);
    while (waiting_ > 0) {
      std::shared_ptr<Waiter> w = GrantOne(now);
      if (!w) break;
      if (w->granted_++ == 0) granted.push_back(std::move(w));
    }
    double soonest = -1;
    for (auto& w : lines_) {
      if (w->tickets_.empty()) continue;
      double s = SecondsUntilFits(w->tickets_.front());
      if (soonest < 0 || s < soonest) soonest = s;
    }
    if (soonest >= 0) {
      next = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(soonest));
    }
  }
  for (auto& w : granted) w->wake_();
  return next;
}

size_t QosLimiter::TakeGranted(Waiter* w) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = w->granted_;
  w->granted_ = 0;
  return n;
}

void QosLimiter::Leave(Waiter* w) {
  std::lock_guard<std::mutex> lock(mu_);
  waiting_ -= w->tickets_.size();
  w->tickets_.clear();
  w->granted_ = 0;
  if (w->listed_) {
    for (size_t i = 0; i < lines_.size(); ++i) {
      if (lines_[i].get() == w) {
        Unlist(i);
        break;
      }
    }
  }
}

}  // namespace vsl::gateway
