#include "gateway/qos.h"

#include <gtest/gtest.h>

namespace vsl::gateway {
namespace {

using Clock = QosLimiter::Clock;
using std::chrono::milliseconds;

QosLimits Iops(uint64_t n) {
  QosLimits l;
  l[QosLimits::kIops] = n;
  return l;
}

// Keeps `depth` commands waiting on each line and pumps every millisecond
// of simulated time; returns the commands each line got.
std::vector<size_t> Drive(QosLimiter& q, std::vector<size_t> depths, Clock::time_point t0, milliseconds span,
                          QosCost cost = {QosClass::kRead, 4096}) {
  std::vector<std::shared_ptr<QosLimiter::Waiter>> lines;
  std::vector<size_t> got(depths.size(), 0), queued(depths.size(), 0);
  for (size_t i = 0; i < depths.size(); ++i) lines.push_back(std::make_shared<QosLimiter::Waiter>([] {}));
  for (auto t = t0; t < t0 + span; t += milliseconds(1)) {
    for (size_t i = 0; i < lines.size(); ++i) {
      for (size_t tries = 0; queued[i] < depths[i] && tries < depths[i]; ++tries) {
        if (q.Admit(lines[i], cost, t)) {
          ++got[i];
        } else {
          ++queued[i];
        }
      }
    }
    q.Pump(t);
    for (size_t i = 0; i < lines.size(); ++i) {
      size_t n = q.TakeGranted(lines[i].get());
      got[i] += n;
      queued[i] -= n;
    }
  }
  for (auto& l : lines) q.Leave(l.get());
  EXPECT_EQ(q.waiting(), 0u);
  return got;
}

TEST(QosLimiterTest, HoldsTheRateAfterTheBurst) {
  QosLimiter q;
  Clock::time_point t0{};
  q.Set(Iops(1000), t0);
  auto got = Drive(q, {32}, t0, milliseconds(5000));
  // 5 s at 1000/s, plus the 100 ms burst.
  EXPECT_NEAR(double(got[0]), 5100.0, 5.0);
}

TEST(QosLimiterTest, SharesFairlyWhateverTheQueueDepth) {
  QosLimiter q;
  Clock::time_point t0{};
  q.Set(Iops(1000), t0);
  auto got = Drive(q, {128, 1}, t0, milliseconds(4000));
  // Equal after the burst (which the first comer took).
  EXPECT_NEAR(double(got[0]), double(got[1]) + 100.0, 10.0) << got[0] << " vs " << got[1];
  EXPECT_NEAR(double(got[0] + got[1]), 4100.0, 5.0);
}

TEST(QosLimiterTest, BandwidthCountsBytes) {
  QosLimiter q;
  Clock::time_point t0{};
  QosLimits l;
  l[QosLimits::kWriteMbps] = 10;  // 10 MiB/s: 40 writes of 256 KiB a second
  q.Set(l, t0);
  auto got = Drive(q, {8}, t0, milliseconds(3000), {QosClass::kWrite, 256 * 1024});
  EXPECT_NEAR(double(got[0]), 124.0, 2.0);
  // Reads are not held by a write limit.
  auto reads = Drive(q, {8}, t0 + milliseconds(3000), milliseconds(100), {QosClass::kRead, 256 * 1024});
  EXPECT_EQ(reads[0], 800u);  // 8 a millisecond, never held
}

TEST(QosLimiterTest, RaisingTheLimitWakesAndTakesEffect) {
  QosLimiter q;
  Clock::time_point t0{};
  q.Set(Iops(10), t0);
  int woken = 0;
  auto w = std::make_shared<QosLimiter::Waiter>([&] { ++woken; });
  size_t admitted = 0;
  for (int i = 0; i < 20; ++i) admitted += q.Admit(w, {QosClass::kRead, 512}, t0);
  EXPECT_EQ(admitted, 1u);  // a burst of 100 ms at 10/s: one command
  EXPECT_EQ(q.waiting(), 19u);
  q.Set(QosLimits{}, t0 + milliseconds(1));  // cleared: everything may go
  EXPECT_EQ(woken, 1);
  EXPECT_EQ(q.Pump(t0 + milliseconds(1)), Clock::time_point::max());
  EXPECT_EQ(q.TakeGranted(w.get()), 19u);
  EXPECT_FALSE(q.limited());
}

TEST(QosLimiterTest, NextGrantTimeAndLeave) {
  QosLimiter q;
  Clock::time_point t0{};
  q.Set(Iops(100), t0);
  auto w = std::make_shared<QosLimiter::Waiter>([] {});
  while (q.Admit(w, {QosClass::kWrite, 512}, t0)) {
  }
  Clock::time_point next = q.Pump(t0);
  EXPECT_GT(next, t0);
  EXPECT_LE(next, t0 + milliseconds(11));
  q.Leave(w.get());
  EXPECT_EQ(q.waiting(), 0u);
  EXPECT_EQ(q.Pump(t0 + milliseconds(50)), Clock::time_point::max());
}

TEST(QosLimiterTest, Classes) {
  const uint8_t read10[] = {0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0};
  const uint8_t write16[] = {0x8a};
  const uint8_t inquiry[] = {0x12};
  const uint8_t sync[] = {0x35};
  EXPECT_EQ(QosClassOf(read10), QosClass::kRead);
  EXPECT_EQ(QosClassOf(write16), QosClass::kWrite);
  EXPECT_FALSE(QosClassOf(inquiry).has_value());
  EXPECT_FALSE(QosClassOf(sync).has_value());
}

}  // namespace
}  // namespace vsl::gateway
