// COMPARE AND WRITE as VMware's ATS uses it: several initiators race a CAW on
// the same block of a shared disk, each expecting the same old contents and
// writing its own new contents. Exactly one may win each round (GOOD); every
// other gets CHECK CONDITION, MISCOMPARE, 1Dh/00h, and the block holds the
// winner's bytes. The racers are separate sessions (two hosts mapping one
// volume at different LUNs, or two initiators of one host), each driven from
// its own thread so that their commands reach the gateway together.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <latch>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "iscsi_client.h"

namespace vsl::e2e {
namespace {

using CawRace = GatewayTest;

constexpr int kRounds = 1000;
constexpr uint64_t kRaceLba = 77;  // any block of shared.img

struct Racer {
  Context ctx;
  int lun = 0;
  std::string name;
};

// What one racer's CAW came back with.
struct Outcome {
  bool done = false;  // a task came back (false: transport failure)
  int status = -1;
  int sense_key = -1;
  int ascq = -1;  // libiscsi's ASC << 8 | ASCQ
  std::string text;
};

Outcome Caw(const Racer& r, const std::vector<uint8_t>& expected,
            const std::vector<uint8_t>& next) {
  std::vector<uint8_t> buf = expected;
  buf.insert(buf.end(), next.begin(), next.end());
  Task t(iscsi_compareandwrite_sync(r.ctx.get(), r.lun, kRaceLba, buf.data(), uint32_t(buf.size()),
                                    kBlockSize, 0, 0, 0, 0, 0));
  Outcome o;
  if (!t) {
    o.text = iscsi_get_error(r.ctx.get());
    return o;
  }
  o.done = true;
  o.status = t->status;
  o.sense_key = t->sense.key;
  o.ascq = t->sense.ascq;
  o.text = Describe(t.get());
  return o;
}

// Runs kRounds races among `racers` on shared.img block kRaceLba and checks
// exactly one winner per round, the losers' sense, and the block's contents
// through the first racer's session and in the backing file.
void Race(const GatewayProcess& gw, std::vector<Racer>& racers) {
  ASSERT_GE(racers.size(), 2u);
  // A known starting value, written by the first racer.
  std::vector<uint8_t> current = Pattern(kBlockSize, 0xCA);
  Task w = Write16(racers[0].ctx.get(), racers[0].lun, kRaceLba, current);
  ASSERT_TRUE(w && w->status == SCSI_STATUS_GOOD) << Describe(w.get());

  std::vector<int> wins(racers.size(), 0);
  // Each racer starts up to 60 us after the gate opens, so that the order in
  // which the commands reach the gateway changes from round to round.
  std::mt19937 rng(20261129);
  std::uniform_int_distribution<int> jitter_us(0, 60);
  for (int round = 0; round < kRounds; ++round) {
    std::vector<int> delay(racers.size());
    for (auto& d : delay) d = jitter_us(rng);
    std::vector<std::vector<uint8_t>> next(racers.size());
    for (size_t i = 0; i < racers.size(); ++i) {
      next[i] = Pattern(kBlockSize, uint32_t(round * 16 + i + 1));
    }
    std::vector<Outcome> out(racers.size());
    std::latch go(ptrdiff_t(racers.size()));
    std::vector<std::thread> threads;
    for (size_t i = 0; i < racers.size(); ++i) {
      threads.emplace_back([&, i] {
        go.arrive_and_wait();
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(delay[i]);
        while (std::chrono::steady_clock::now() < until) {
        }
        out[i] = Caw(racers[i], current, next[i]);
      });
    }
    for (auto& t : threads) t.join();

    int winners = 0;
    size_t winner = 0;
    for (size_t i = 0; i < racers.size(); ++i) {
      ASSERT_TRUE(out[i].done) << "round " << round << ", " << racers[i].name
                               << ": no answer: " << out[i].text;
      if (out[i].status == SCSI_STATUS_GOOD) {
        ++winners;
        winner = i;
        continue;
      }
      EXPECT_EQ(out[i].status, SCSI_STATUS_CHECK_CONDITION)
          << "round " << round << ", " << racers[i].name << ": " << out[i].text;
      EXPECT_EQ(out[i].sense_key, SCSI_SENSE_MISCOMPARE)
          << "round " << round << ", " << racers[i].name << ": " << out[i].text;
      EXPECT_EQ(out[i].ascq, SCSI_SENSE_ASCQ_MISCOMPARE_DURING_VERIFY)
          << "round " << round << ", " << racers[i].name << ": " << out[i].text;
    }
    ASSERT_EQ(winners, 1) << "round " << round << ": " << winners
                          << " COMPARE AND WRITEs succeeded on one block";
    ++wins[winner];
    current = next[winner];

    Task r = Read16(racers[0].ctx.get(), racers[0].lun, kRaceLba, 1);
    ASSERT_TRUE(r && r->status == SCSI_STATUS_GOOD) << Describe(r.get());
    ASSERT_EQ(DataIn(r.get()), current)
        << "round " << round << ": the block does not hold the winner's (" << racers[winner].name
        << ") data";
    ASSERT_EQ(gw.ReadFile("shared.img", kRaceLba * kBlockSize, kBlockSize), current)
        << "round " << round << ": shared.img does not hold the winner's data";
  }
  std::string tally;
  for (size_t i = 0; i < racers.size(); ++i) {
    tally += racers[i].name + "=" + std::to_string(wins[i]) + " ";
  }
  std::printf("CAW race wins over %d rounds: %s\n", kRounds, tally.c_str());
}

// web1 maps shared.img as LUN 3, web2 as LUN 5 (StandardFarm()).
TEST_F(CawRace, TwoHostsExactlyOneWinsEachRound) {
  std::vector<Racer> racers(2);
  racers[0] = {LoginOrFail(Web1Spec(), 3), 3, "web1"};
  racers[1] = {LoginOrFail(Web2Spec(), 5), 5, "web2"};
  ASSERT_TRUE(racers[0].ctx && racers[1].ctx);
  Race(gw_, racers);
}

TEST_F(CawRace, TwoSessionsOfOneHostExactlyOneWinsEachRound) {
  std::vector<Racer> racers(2);
  racers[0] = {LoginOrFail(Web2Spec(false), 5), 5, "web2a"};
  racers[1] = {LoginOrFail(Web2Spec(true), 5), 5, "web2b"};
  ASSERT_TRUE(racers[0].ctx && racers[1].ctx);
  Race(gw_, racers);
}

// Three sessions from two hosts at once: still exactly one winner.
TEST_F(CawRace, ThreeSessionsTwoHostsExactlyOneWinsEachRound) {
  std::vector<Racer> racers(3);
  racers[0] = {LoginOrFail(Web1Spec(), 3), 3, "web1"};
  racers[1] = {LoginOrFail(Web2Spec(false), 5), 5, "web2a"};
  racers[2] = {LoginOrFail(Web2Spec(true), 5), 5, "web2b"};
  ASSERT_TRUE(racers[0].ctx && racers[1].ctx && racers[2].ctx);
  Race(gw_, racers);
}

}  // namespace
}  // namespace vsl::e2e
