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
    ASSERT_EQ(m.Next(Moderation::kMinGain), microseconds(30)) << "turn " << i;
  }
}

TEST(Moderation, AShallowQueueCoolsDownThenTriesAgain) {
  Moderation m(microseconds(30));
  EXPECT_EQ(m.Next(Moderation::kMinWork), microseconds(30));
  // The pause brought less than kMinGain: the initiator was waiting for us.
  EXPECT_EQ(m.Next(Moderation::kMinGain - 1).count(), 0);
  for (uint32_t i = 0; i < Moderation::kCooldownTurns; ++i) {
    ASSERT_EQ(m.Next(100).count(), 0) << "cooling down, turn " << i;
  }
  EXPECT_EQ(m.Next(100), microseconds(30)) << "cooled down: pauses again";
  EXPECT_EQ(m.Next(100), microseconds(30));
}

TEST(Moderation, AnIdleTurnAfterAPauseCoolsDown) {
  Moderation m(microseconds(30));
  EXPECT_EQ(m.Next(10), microseconds(30));
  EXPECT_EQ(m.Next(0).count(), 0);
  EXPECT_EQ(m.Next(10).count(), 0) << "cooling down";
}

TEST(Moderation, ZeroPauseTurnsItOff) {
  Moderation m(microseconds(0));
  for (size_t work : {0, 1, 2, 10, 1000}) EXPECT_EQ(m.Next(work).count(), 0) << work;
}

}  // namespace
}  // namespace vsl::gateway
