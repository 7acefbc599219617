#include "gateway/moderation.h"

#include <gtest/gtest.h>

namespace vsl::gateway {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using Clock = Moderation::Clock;

const Clock::time_point kT0{};

// A Moderation past its probes with nothing seen while probing, so pauses
// are allowed; `now` is a time inside that period.
Moderation Settled(Clock::time_point* now) {
  Moderation m(microseconds(30));
  EXPECT_EQ(m.Next(0, kT0).count(), 0);
  *now = kT0 + 2 * Moderation::kProbe;
  return m;
}

TEST(Moderation, OneCommandAtATimeNeverPauses) {
  Moderation m(microseconds(30));
  for (int i = 0; i < 4000; ++i) {
    Clock::time_point now = kT0 + microseconds(100 * i);
    ASSERT_EQ(m.Next(1, now).count(), 0) << "turn " << i;
    ASSERT_EQ(m.Next(0, now).count(), 0) << "idle turn " << i;
  }
}

TEST(Moderation, ADeepQueueKeepsPausing) {
  Clock::time_point now;
  Moderation m = Settled(&now);
  EXPECT_EQ(m.Next(2, now), microseconds(30)) << "two PDUs in a turn: try a pause";
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(m.Next(Moderation::kMinGain + size_t(i % 4), now + microseconds(50 * i)),
              microseconds(30))
        << "turn " << i;
  }
}

TEST(Moderation, AShallowQueueCoolsDownThenTriesAgain) {
  Clock::time_point now;
  Moderation m = Settled(&now);
  EXPECT_EQ(m.Next(Moderation::kMinWork, now), microseconds(30));
  // The pause brought less than kMinGain: the initiator was waiting for us.
  EXPECT_EQ(m.Next(Moderation::kMinGain - 1, now).count(), 0);
  for (uint32_t i = 0; i < Moderation::kCooldownTurns; ++i) {
    ASSERT_EQ(m.Next(Moderation::kMinWork, now).count(), 0) << "cooling down, turn " << i;
  }
  EXPECT_EQ(m.Next(Moderation::kMinWork, now), microseconds(30)) << "cooled down: pauses again";
  EXPECT_EQ(m.Next(100, now), microseconds(30)) << "a big batch after a pause: keep pausing";
}

TEST(Moderation, AnIdleTurnAfterAPauseCoolsDown) {
  Clock::time_point now;
  Moderation m = Settled(&now);
  EXPECT_EQ(m.Next(Moderation::kMinWork, now), microseconds(30));
  EXPECT_EQ(m.Next(0, now).count(), 0);
  EXPECT_EQ(m.Next(Moderation::kMinWork, now).count(), 0) << "cooling down";
}

TEST(Moderation, BatchesThatFormByThemselvesAreNotWaitedFor) {
  // Initiator and gateway on one CPU: every turn finds a big batch.
  Clock::time_point now;
  Moderation m = Settled(&now);
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(m.Next(32, now).count(), 0) << "round " << round;
    for (uint32_t i = 0; i < Moderation::kCooldownTurns; ++i) {
      ASSERT_EQ(m.Next(32, now).count(), 0) << "round " << round << ", turn " << i;
    }
  }
  // Once batches stop forming by themselves, pauses come back.
  EXPECT_EQ(m.Next(2, now), microseconds(30));
}

// Drives one period: `without` PDUs per turn in the probe without pauses,
// `with` per turn in the probe with them, a turn every 100 us; returns
// whether a busy turn after the probes pauses.
bool PausesAfterProbes(Moderation* m, Clock::time_point start, size_t without, size_t with) {
  Clock::time_point t = start;
  for (; t < start + Moderation::kProbe; t += microseconds(100)) {
    EXPECT_EQ(m->Next(without, t).count(), 0) << "the first probe never pauses";
  }
  for (; t < start + 2 * Moderation::kProbe; t += microseconds(100)) m->Next(with, t);
  return m->Next(Moderation::kMinGain, t).count() > 0 &&
         m->Next(Moderation::kMinGain, t + microseconds(100)).count() > 0;
}

TEST(Moderation, PausesStayOnlyWhileTheyCostNoThroughput) {
  Moderation m(microseconds(30));
  // A deep queue: as many PDUs per unit of time with pauses as without.
  EXPECT_TRUE(PausesAfterProbes(&m, kT0, 4, 4));
  // A shallow one: pausing halves what arrives. The rest of the period
  // does not pause, however big its turns.
  Clock::time_point p2 = kT0 + Moderation::kPeriod;
  EXPECT_FALSE(PausesAfterProbes(&m, p2, 4, 2));
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(m.Next(Moderation::kMinGain, p2 + 3 * Moderation::kProbe + microseconds(100 * i))
                  .count(),
              0)
        << "turn " << i;
  }
  // The next period probes again.
  EXPECT_TRUE(PausesAfterProbes(&m, p2 + Moderation::kPeriod, 4, 4));
}

TEST(Moderation, ZeroPauseTurnsItOff) {
  Moderation m(microseconds(0));
  for (size_t work : {0, 1, 2, 10, 1000}) EXPECT_EQ(m.Next(work, kT0).count(), 0) << work;
}

}  // namespace
}  // namespace vsl::gateway
