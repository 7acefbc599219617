#include "gateway/qos.h"

#include <deque>

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

// Keeps `depth` commands waiting or in flight on each line and pumps every
// millisecond of simulated time; a granted command of line i comes back (and
// its host sends the next one) `back[i]` ms later (0 when `back` is empty):
// the time it spends on the wire and in the initiator. Returns the commands
// each line got.
std::vector<size_t> Drive(QosLimiter& q, std::vector<size_t> depths, Clock::time_point t0, milliseconds span,
                          QosCost cost = {QosClass::kRead, 4096}, std::vector<int> back = {}) {
  back.resize(depths.size(), 0);
  std::vector<std::shared_ptr<QosLimiter::Waiter>> lines;
  std::vector<size_t> got(depths.size(), 0), queued(depths.size(), 0);
  std::vector<std::deque<Clock::time_point>> out(depths.size());  // when each one in flight returns
  for (size_t i = 0; i < depths.size(); ++i) lines.push_back(std::make_shared<QosLimiter::Waiter>([] {}));
  for (auto t = t0; t < t0 + span; t += milliseconds(1)) {
    for (size_t i = 0; i < lines.size(); ++i) {
      while (!out[i].empty() && out[i].front() <= t) out[i].pop_front();
      for (size_t tries = 0; queued[i] + out[i].size() < depths[i] && tries < depths[i]; ++tries) {
        if (q.Admit(lines[i], cost, t)) {
          ++got[i];
          if (back[i] > 0) out[i].push_back(t + milliseconds(back[i]));
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
      for (size_t j = 0; j < n && back[i] > 0; ++j) out[i].push_back(t + milliseconds(back[i]));
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

// A host with two commands in flight that take 4 ms to come back is between
// commands when most of its turns come. The turns it missed are owed to it,
// so it still gets half of a 1000 IOPS disk against a host at queue depth 32
// (plain round-robin made it wait for its next turn each time: 400/s). When
// it takes 5 ms, it gets all it asks for (2 per 5 ms), not less (333/s).
TEST(QosLimiterTest, AShallowQueueSlowToComeBackGetsItsShare) {
  Clock::time_point t0{};
  for (auto [back, want] : {std::pair{4, 2000.0}, std::pair{5, 1600.0}}) {
    QosLimiter q;
    q.Set(Iops(1000), t0);
    auto got = Drive(q, {32, 2}, t0, milliseconds(4000), {QosClass::kRead, 4096}, {1, back});
    EXPECT_NEAR(double(got[0] + got[1]), 4100.0, 10.0);
    EXPECT_NEAR(double(got[1]), want, 20.0) << back << " ms: " << got[0] << " vs " << got[1];
  }
}

// What is owed is bounded and forfeited after the grace: a quiet line that
// missed many turns gets kMaxOwed extra grants when it comes back within the
// grace, none when it comes back after it.
TEST(QosLimiterTest, OwedTurnsAreBoundedAndForfeitedWhenIdle) {
  QosLimiter q;
  Clock::time_point t0{};
  q.Set(Iops(1000), t0);
  auto busy = std::make_shared<QosLimiter::Waiter>([] {});
  auto quiet = std::make_shared<QosLimiter::Waiter>([] {});
  const QosCost c{QosClass::kRead, 512};
  // The burst (100 commands) runs at once; 400 more wait, then one of quiet's.
  for (int i = 0; i < 500; ++i) q.Admit(busy, c, t0);
  ASSERT_FALSE(q.Admit(quiet, c, t0));
  // Quiet's ticket is granted in the first milliseconds, then quiet stays
  // away for 30 ms (inside the grace) while busy takes every grant.
  for (int ms = 1; ms <= 30; ++ms) q.Pump(t0 + milliseconds(ms));
  q.TakeGranted(busy.get());
  EXPECT_EQ(q.TakeGranted(quiet.get()), 1u);
  // Back with 10 tickets: of the next 10 grants it gets the kMaxOwed it is
  // owed, then every other one (5 without what it was owed).
  auto t = t0 + milliseconds(30);
  for (int i = 0; i < 10; ++i) q.Admit(quiet, c, t);
  q.Pump(t + milliseconds(10));
  size_t got = q.TakeGranted(quiet.get());
  EXPECT_EQ(got + q.TakeGranted(busy.get()), 10u);
  EXPECT_GE(got, QosLimiter::kMaxOwed + 2) << "the turns it missed were not owed to it";
  EXPECT_LE(got, QosLimiter::kMaxOwed + 4) << "it was owed more than kMaxOwed";
  // It drains its tickets, then stays away for a second (past the grace)
  // while busy waits on.
  q.Pump(t + milliseconds(30));
  q.TakeGranted(quiet.get());
  q.TakeGranted(busy.get());
  for (int i = 0; i < 500; ++i) q.Admit(busy, c, t + milliseconds(30));
  auto later = t + milliseconds(1030);
  q.Pump(later);
  q.TakeGranted(busy.get());
  for (int i = 0; i < 10; ++i) q.Admit(quiet, c, later);
  q.Pump(later + milliseconds(10));
  size_t back = q.TakeGranted(quiet.get());
  EXPECT_EQ(back + q.TakeGranted(busy.get()), 10u);
  EXPECT_LE(back, 5u) << "a line idle past the grace kept what it was owed";
  EXPECT_GE(back, 4u);
  q.Leave(busy.get());
  q.Leave(quiet.get());
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
