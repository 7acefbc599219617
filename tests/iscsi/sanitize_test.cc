// SANITIZE through libiscsi against the real gateway: host A wipes its own
// disk (OVERWRITE with a pattern, then BLOCK ERASE), polling REQUEST SENSE
// for progress while the LU answers NOT READY / SANITIZE IN PROGRESS; host B,
// whose disk is served by the same gateway, keeps reading and writing it the
// whole time and finds it untouched afterwards.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "iscsi_client.h"

namespace vsl::e2e {
namespace {

constexpr uint64_t kDiskBytes = 4 << 20;
constexpr uint64_t kDiskBlocks = kDiskBytes / kBlockSize;
constexpr char kInitA[] = "iqn.2026-11.org.example:san-a";
constexpr char kInitB[] = "iqn.2026-11.org.example:san-b";
constexpr char kSecretA[] = "san-a-secret-0123";
constexpr char kSecretB[] = "san-b-secret-4567";

// Two hosts with a 4 MiB disk each; sanitize paced at 4 MiB/s, so one pass
// plus its verification takes about two seconds: long enough to watch.
FarmSpec TwoHostFarm() {
  FarmSpec f;
  f.files = {{"a.img", kDiskBytes, 0xAA}, {"b.img", kDiskBytes, 0xBB}};
  HostSpec a;
  a.name = "hosta";
  a.initiators = {kInitA};
  a.has_chap = true;
  a.chap = {"hosta", kSecretA};
  a.luns = {{0, false, {{"a.img", 0, kDiskBytes}}}};
  HostSpec b;
  b.name = "hostb";
  b.initiators = {kInitB};
  b.has_chap = true;
  b.chap = {"hostb", kSecretB};
  b.luns = {{0, false, {{"b.img", 0, kDiskBytes}}}};
  f.hosts = {a, b};
  f.options = {{"sanitize_mib_per_second", 4}};
  return f;
}

class IscsiSanitize : public testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(gw_.Start(TwoHostFarm(), &error)) << error;
  }
  void TearDown() override {
    if (!gw_.running()) return;
    std::string error;
    EXPECT_TRUE(gw_.Stop(&error)) << error;
  }
  Context LoginAs(const char* initiator, const char* host, const char* secret) {
    std::string error;
    LoginSpec spec{initiator, TargetName(host), host, secret, "", "", false};
    Context ctx = Login(gw_.portal(), spec, 0, &error);
    EXPECT_TRUE(ctx) << error;
    return ctx;
  }
  GatewayProcess gw_;
};

struct SenseData {
  bool ok = false;
  int key = -1, asc = -1, ascq = -1;
  bool sksv = false;
  uint16_t progress = 0;
};

// REQUEST SENSE (fixed format), as a CDB of its own.
SenseData RequestSense(iscsi_context* ctx) {
  unsigned char cdb[6] = {0x03, 0, 0, 0, 18, 0};
  Task t(scsi_create_task(6, cdb, SCSI_XFER_READ, 18));
  SenseData s;
  if (!t) return s;
  scsi_task* done = iscsi_scsi_command_sync(ctx, 0, t.get(), nullptr);
  if (!done || t->status != SCSI_STATUS_GOOD) return s;
  std::vector<uint8_t> d = DataIn(t.get());
  if (d.size() < 18) return s;
  s.ok = true;
  s.key = d[2] & 0x0f;
  s.asc = d[12];
  s.ascq = d[13];
  s.sksv = d[15] & 0x80;
  s.progress = uint16_t(d[16] << 8 | d[17]);
  return s;
}

// Host B's traffic while A sanitizes: write a block, read it back.
void HostBRoundTrip(iscsi_context* b, uint64_t lba, uint32_t seed) {
  const std::vector<uint8_t> data = Pattern(kBlockSize, seed);
  Task w = Write16(b, 0, lba, data);
  ASSERT_TRUE(w && w->status == SCSI_STATUS_GOOD) << "host B write: " << Describe(w.get());
  Task r = Read16(b, 0, lba, 1);
  ASSERT_TRUE(r && r->status == SCSI_STATUS_GOOD) << "host B read: " << Describe(r.get());
  EXPECT_EQ(DataIn(r.get()), data);
}

// Polls A's REQUEST SENSE until the sanitize is over (bounded), doing B's
// I/O between polls. Returns the progress values seen while it ran.
std::vector<uint16_t> WatchSanitize(iscsi_context* a, iscsi_context* b, uint32_t* b_seed) {
  std::vector<uint16_t> seen;
  for (int i = 0; i < 3000; ++i) {  // 3000 x ~10 ms: far more than it takes
    SenseData s = RequestSense(a);
    EXPECT_TRUE(s.ok);
    if (!s.ok) break;
    if (s.key == 0 && s.asc == 0) return seen;  // NO SENSE: done
    EXPECT_EQ(s.key, SCSI_SENSE_NOT_READY);
    EXPECT_EQ(s.asc, 0x04);
    EXPECT_EQ(s.ascq, 0x1b);
    EXPECT_TRUE(s.sksv);
    seen.push_back(s.progress);
    if (seen.size() == 1) {
      // Meanwhile A's own medium commands are refused, INQUIRY is not.
      Task tur(iscsi_testunitready_sync(a, 0));
      EXPECT_TRUE(tur && tur->status == SCSI_STATUS_CHECK_CONDITION &&
                  tur->sense.key == SCSI_SENSE_NOT_READY &&
                  tur->sense.ascq == SCSI_SENSE_ASCQ_SANITIZE_IN_PROGRESS)
          << Describe(tur.get());
      Task rd = Read16(a, 0, 0, 1);
      EXPECT_TRUE(rd && rd->status == SCSI_STATUS_CHECK_CONDITION &&
                  rd->sense.ascq == SCSI_SENSE_ASCQ_SANITIZE_IN_PROGRESS)
          << Describe(rd.get());
      Task inq(iscsi_inquiry_sync(a, 0, 0, 0, 96));
      EXPECT_TRUE(inq && inq->status == SCSI_STATUS_GOOD) << Describe(inq.get());
    }
    HostBRoundTrip(b, (*b_seed) % kDiskBlocks, *b_seed);
    ++*b_seed;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "the sanitize did not finish";
  return seen;
}

TEST_F(IscsiSanitize, HostWipesItsOwnDiskWhileAnotherKeepsWorking) {
  Context a = LoginAs(kInitA, "hosta", kSecretA);
  Context b = LoginAs(kInitB, "hostb", kSecretB);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(ClearUnitAttentions(a.get(), 0));
  ASSERT_TRUE(ClearUnitAttentions(b.get(), 0));
  const std::vector<uint8_t> a_data = Pattern(64 * kBlockSize, 7);
  Task w = Write16(a.get(), 0, kDiskBlocks - 64, a_data);
  ASSERT_TRUE(w && w->status == SCSI_STATUS_GOOD) << Describe(w.get());

  // OVERWRITE, IMMED=1: GOOD at once, then the pattern goes on in the
  // background. A 3-byte pattern (restarted at each block) in a parameter
  // list padded to 8 bytes: libiscsi 1.19 fails to send Data-Out that is
  // not a multiple of 4 bytes.
  std::vector<uint8_t> params = {0x01, 0x00, 0x00, 0x03, 0xde, 0xad, 0x42, 0x00};
  iscsi_data pd{params.size(), params.data()};
  Task s(iscsi_sanitize_sync(a.get(), 0, /*immed=*/1, 0, SCSI_SANITIZE_OVERWRITE,
                             int(params.size()), &pd));
  ASSERT_TRUE(s && s->status == SCSI_STATUS_GOOD) << Describe(s.get()) << " " << iscsi_get_error(a.get());
  uint32_t b_seed = 100;
  std::vector<uint16_t> progress = WatchSanitize(a.get(), b.get(), &b_seed);
  ASSERT_FALSE(progress.empty()) << "REQUEST SENSE never showed the sanitize running";
  for (size_t i = 1; i < progress.size(); ++i) EXPECT_GE(progress[i], progress[i - 1]);
  EXPECT_GT(progress.back(), progress.front()) << "progress did not move";

  // Every block of A reads as the pattern, restarted at each block.
  std::vector<uint8_t> block(kBlockSize);
  for (size_t i = 0; i < block.size(); ++i) block[i] = params[4 + i % 3];
  for (uint64_t lba : {uint64_t(0), kDiskBlocks / 2, kDiskBlocks - 1}) {
    Task r = Read16(a.get(), 0, lba, 1);
    ASSERT_TRUE(r && r->status == SCSI_STATUS_GOOD) << Describe(r.get());
    EXPECT_EQ(DataIn(r.get()), block) << "LBA " << lba;
  }
  EXPECT_EQ(gw_.ReadFile("a.img", kDiskBytes - kBlockSize, kBlockSize), block);

  // BLOCK ERASE, IMMED=0: the status comes when it is done and verified;
  // B's session stays usable meanwhile (checked afterwards, and during the
  // next watch).
  Task e(iscsi_sanitize_block_erase_sync(a.get(), 0, 0, 0));
  ASSERT_TRUE(e && e->status == SCSI_STATUS_GOOD) << Describe(e.get());
  Task r = Read16(a.get(), 0, 0, 64);
  ASSERT_TRUE(r && r->status == SCSI_STATUS_GOOD) << Describe(r.get());
  EXPECT_EQ(DataIn(r.get()), std::vector<uint8_t>(64 * kBlockSize, 0));
  Task lbas(iscsi_get_lba_status_sync(a.get(), 0, 0, 24));
  ASSERT_TRUE(lbas && lbas->status == SCSI_STATUS_GOOD) << Describe(lbas.get());
  auto* st = static_cast<scsi_get_lba_status*>(scsi_datain_unmarshall(lbas.get()));
  ASSERT_NE(st, nullptr);
  ASSERT_GE(st->num_descriptors, 1u);
  EXPECT_EQ(st->descriptors[0].provisioning, SCSI_PROVISIONING_TYPE_DEALLOCATED);
  EXPECT_EQ(st->descriptors[0].num_blocks, kDiskBlocks);
  if (gw_.CanPunchHoles()) {
    EXPECT_LT(gw_.AllocatedBytes("a.img"), kDiskBytes / 2);
  }
  EXPECT_TRUE(FileIsAll(gw_, "a.img", 0, kDiskBytes, 0x00));

  // B's disk: only what B wrote changed; the rest is still B's fill.
  std::vector<uint8_t> b_file = gw_.ReadFile("b.img", 0, kDiskBytes);
  for (uint64_t lba = 0; lba < kDiskBlocks; ++lba) {
    const bool written = lba >= 100 % kDiskBlocks && lba < b_seed;
    if (written) continue;
    ASSERT_TRUE(std::all_of(b_file.begin() + lba * kBlockSize,
                            b_file.begin() + (lba + 1) * kBlockSize,
                            [](uint8_t c) { return c == 0xBB; }))
        << "host B's block " << lba << " changed";
  }
  HostBRoundTrip(b.get(), 5, 5);
  Task last = Read16(b.get(), 0, b_seed - 1, 1);
  ASSERT_TRUE(last && last->status == SCSI_STATUS_GOOD);
  EXPECT_EQ(DataIn(last.get()), Pattern(kBlockSize, b_seed - 1));
}

// Host B cannot reach A's sanitize state: B's LU is another volume, and A's
// sanitize refuses nothing of B's.
TEST_F(IscsiSanitize, OtherHostUnaffectedWhileSanitizeRuns) {
  Context a = LoginAs(kInitA, "hosta", kSecretA);
  Context b = LoginAs(kInitB, "hostb", kSecretB);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(ClearUnitAttentions(a.get(), 0));
  ASSERT_TRUE(ClearUnitAttentions(b.get(), 0));
  Task e(iscsi_sanitize_block_erase_sync(a.get(), 0, /*immed=*/1, 0));
  ASSERT_TRUE(e && e->status == SCSI_STATUS_GOOD) << Describe(e.get());
  SenseData sb = RequestSense(b.get());
  ASSERT_TRUE(sb.ok);
  EXPECT_EQ(sb.key, 0);  // B: nothing to report
  Task tur(iscsi_testunitready_sync(b.get(), 0));
  EXPECT_TRUE(tur && tur->status == SCSI_STATUS_GOOD) << Describe(tur.get());
  uint32_t seed = 1;
  WatchSanitize(a.get(), b.get(), &seed);
  EXPECT_TRUE(FileIsAll(gw_, "a.img", 0, kDiskBytes, 0x00));
}

}  // namespace
}  // namespace vsl::e2e
