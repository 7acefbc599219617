#include "gateway/moderation.h"

#include <gtest/gtest.h>

namespace vsl::gateway {
namespace {

using std::chrono::microseconds;

TEST(Moderation, OneCommandAtATimeNeverPauses) {
  Moderation m(microseconds(30));
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(m.Next(1).count(), 0) << "turn " << i;
    ASSERT_EQ(m.Next(0).count(), 0) << "idle turn " << i;
  }
}

TEST(Moderation, ADeepQueueKeepsPausing) {
  Moderation m(microseconds(30));
  EXPECT_EQ(m.Next(2), microseconds(30)) << "two PDUs in a turn: try a pause";
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(m.Next(Moderation::kMinGain + size_t(i % 40)), microseconds(30)) << "turn " << i;
  }
}

TEST(Moderation, BatchesThatFormByThemselvesAreNotWaitedFor) {
  // Initiator and gateway on one CPU: every turn finds a big batch.
  Moderation m(microseconds(30));
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(m.Next(32).count(), 0) << "round " << round;
    for (uint32_t i = 0; i < Moderation::kCooldownTurns; ++i) {
      ASSERT_EQ(m.Next(32).count(), 0) << "round " << round << ", turn " << i;
    }
  }
  // Once batches stop forming by themselves, pauses come back.
  EXPECT_EQ(m.Next(2), microseconds(30));
}

TEST(Moderation, AShallowQueueCoolsDownThenTriesAgain) {
  Moderation m(microseconds(30));
  EXPECT_EQ(m.Next(Moderation::kMinWork), microseconds(30));
  // The pause brought less than kMinGain: the initiator was waiting for us.
  EXPECT_EQ(m.Next(Moderation::kMinGain - 1).count(), 0);
  for (uint32_t i = 0; i < Moderation::kCooldownTurns; ++i) {
    ASSERT_EQ(m.Next(Moderation::kMinWork).count(), 0) << "cooling down, turn " << i;
  }
  EXPECT_EQ(m.Next(Moderation::kMinWork), microseconds(30)) << "cooled down: pauses again";
  EXPECT_EQ(m.Next(100), microseconds(30)) << "a big batch after a pause: keep pausing";
}

TEST(Moderation, AnIdleTurnAfterAPauseCoolsDown) {
  Moderation m(microseconds(30));
  EXPECT_EQ(m.Next(Moderation::kMinWork), microseconds(30));
  EXPECT_EQ(m.Next(0).count(), 0);
  EXPECT_EQ(m.Next(Moderation::kMinWork).count(), 0) << "cooling down";
}

TEST(Moderation, ZeroPauseTurnsItOff) {
  Moderation m(microseconds(0));
  for (size_t work : {0, 1, 2, 10, 1000}) EXPECT_EQ(m.Next(work).count(), 0) << work;
}

}  // namespace
}  // namespace vsl::gateway
