#include "gateway/moderation.h"

#include <gtest/gtest.h>

namespace vsl::gateway {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using Clock = Moderation::Clock;

const Clock::time_point kT0{};
// The pause the probes settle on when nothing tells the two lengths apart.
const microseconds kLong = Moderation::kStretch * microseconds(30);

// A Moderation past its probes with nothing seen while probing, so pauses
// are allowed (the long ones); `now` is a time inside that period.
Moderation Settled(Clock::time_point* now) {
  Moderation m(microseconds(30));
  EXPECT_EQ(m.Next(0, kT0).count(), 0);
  *now = kT0 + 3 * Moderation::kProbe;
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
  EXPECT_EQ(m.Next(2, now), kLong) << "two PDUs in a turn: try a pause";
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(m.Next(Moderation::kMinGain + size_t(i % 4), now + microseconds(50 * i)), kLong)
        << "turn " << i;
  }
}

TEST(Moderation, AShallowQueueCoolsDownThenTriesAgain) {
  Clock::time_point now;
  Moderation m = Settled(&now);
  EXPECT_EQ(m.Next(Moderation::kMinWork, now), kLong);
  // The pause brought less than kMinGain: the initiator was waiting for us.
  EXPECT_EQ(m.Next(Moderation::kMinGain - 1, now).count(), 0);
  for (uint32_t i = 0; i < Moderation::kCooldownTurns; ++i) {
    ASSERT_EQ(m.Next(Moderation::kMinWork, now).count(), 0) << "cooling down, turn " << i;
  }
  EXPECT_EQ(m.Next(Moderation::kMinWork, now), kLong) << "cooled down: pauses again";
  EXPECT_EQ(m.Next(100, now), kLong) << "a big batch after a pause: keep pausing";
}

TEST(Moderation, AnIdleTurnAfterAPauseCoolsDown) {
  Clock::time_point now;
  Moderation m = Settled(&now);
  EXPECT_EQ(m.Next(Moderation::kMinWork, now), kLong);
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
  EXPECT_EQ(m.Next(2, now), kLong);
}

// Drives one period: `without` PDUs per 10 turns in the probe without
// pauses, `with` per 10 turns in the probe with them and `with_long` in the
// one with long pauses (each turn under kNaturalBatch), a turn every 100 us;
// returns the pause busy turns after the probes take once any cooldown is
// over (zero: none).
microseconds PauseAfterProbes(Moderation* m, Clock::time_point start, size_t without, size_t with,
                              size_t with_long) {
  auto work = [](size_t per10, int turn) {
    return (size_t(turn % 10) + 1) * per10 / 10 - size_t(turn % 10) * per10 / 10;
  };
  Clock::time_point t = start;
  int turn = 0;
  for (; t < start + Moderation::kProbe; t += microseconds(100)) {
    EXPECT_EQ(m->Next(work(without, turn++), t).count(), 0) << "the first probe never pauses";
  }
  for (; t < start + 2 * Moderation::kProbe; t += microseconds(100)) {
    microseconds p = m->Next(work(with, turn++), t);
    EXPECT_TRUE(p.count() == 0 || p == microseconds(30)) << "the second probe: the short pause";
  }
  for (; t < start + 3 * Moderation::kProbe; t += microseconds(100)) {
    microseconds p = m->Next(work(with_long, turn++), t);
    EXPECT_TRUE(p.count() == 0 || p == kLong) << "the third probe: the long pause";
  }
  for (uint32_t i = 0; i <= 2 * Moderation::kCooldownTurns; ++i, t += microseconds(100)) {
    microseconds p = m->Next(Moderation::kMinGain, t);
    if (p.count() > 0) return p;
  }
  return {};
}

TEST(Moderation, PausesStayOnlyWhileTheyCostNoThroughput) {
  Moderation m(microseconds(30));
  // A deep queue: as many PDUs per unit of time with pauses as without.
  EXPECT_EQ(PauseAfterProbes(&m, kT0, 40, 40, 40), kLong);
  // A shallow one: pausing halves what arrives. The rest of the period
  // does not pause, however big its turns.
  Clock::time_point p2 = kT0 + Moderation::kPeriod;
  EXPECT_EQ(PauseAfterProbes(&m, p2, 40, 20, 20).count(), 0);
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(
        m.Next(Moderation::kMinGain, p2 + 3 * Moderation::kProbe + microseconds(100 * (i + 200)))
            .count(),
        0)
        << "turn " << i;
  }
  // The next period probes again.
  EXPECT_EQ(PauseAfterProbes(&m, p2 + Moderation::kPeriod, 40, 40, 40), kLong);
}

TEST(Moderation, TheLongPauseOnlyWhereItKeepsUpWithTheShortOne) {
  Moderation m(microseconds(30));
  Clock::time_point t = kT0;
  // The long pause loses a tenth of the short one's PDUs: the short one.
  EXPECT_EQ(PauseAfterProbes(&m, t, 60, 60, 54), microseconds(30));
  t += Moderation::kPeriod;
  // ... a twentieth or less: the long one.
  EXPECT_EQ(PauseAfterProbes(&m, t, 60, 60, 57), kLong);
  t += Moderation::kPeriod;
  // The long pause keeping up with a short one that lost too much against
  // no pause at all is not enough: none.
  EXPECT_EQ(PauseAfterProbes(&m, t, 60, 42, 42).count(), 0);
  t += Moderation::kPeriod;
  // The short pause losing to noise while the long one holds: the long one.
  EXPECT_EQ(PauseAfterProbes(&m, t, 60, 42, 58), kLong);
  t += Moderation::kPeriod;
  // The long pause as good as the short one, both a little below no pause
  // at all (a queue of 8): the short one.
  EXPECT_EQ(PauseAfterProbes(&m, t, 60, 54, 54), microseconds(30));
}

TEST(Moderation, ZeroPauseTurnsItOff) {
  Moderation m(microseconds(0));
  for (size_t work : {0, 1, 2, 10, 1000}) EXPECT_EQ(m.Next(work, kT0).count(), 0) << work;
}

}  // namespace
}  // namespace vsl::gateway
