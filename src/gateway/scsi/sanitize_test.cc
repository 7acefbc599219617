// SANITIZE, software write protect (the Control page's SWP) and UNMAP by
// file-system granule.
#include <signal.h>
#include <sys/resource.h>
#include <sys/vfs.h>

#include <deque>
#include <optional>

#include "gateway/scsi/scsi_test_util.h"

namespace vsl::scsi {
namespace {

using namespace testing;

// Runs work inline, or, while held, queues it for the test to run one task
// at a time (the sanitize's chunks).
class SteppedExecutor final : public IoExecutor {
 public:
  void Run(std::function<void()> work) override {
    if (held_) {
      queue_.push_back(std::move(work));
    } else {
      work();
    }
  }
  bool RunOne() {
    if (queue_.empty()) return false;
    auto w = std::move(queue_.front());
    queue_.pop_front();
    w();
    return true;
  }
  void Drain() {
    while (RunOne()) {
    }
  }
  bool held_ = false;
  std::deque<std::function<void()>> queue_;
};

constexpr uint32_t kBs = 512;
constexpr uint64_t kBlocks = 128;  // two files of 64 blocks

std::vector<uint8_t> SanitizeCdb(uint8_t sa, uint16_t len, bool immed = false, bool ause = false) {
  std::vector<uint8_t> c(10, 0);
  c[0] = 0x48;
  c[1] = uint8_t(sa | (immed ? 0x80 : 0) | (ause ? 0x20 : 0));
  StoreBe16(&c[7], len);
  return c;
}

// OVERWRITE parameter list: INVERT, OVERWRITE COUNT, the pattern.
std::vector<uint8_t> OverwriteParams(std::vector<uint8_t> pattern, uint8_t count, bool invert = false) {
  std::vector<uint8_t> p(4 + pattern.size(), 0);
  p[0] = uint8_t((invert ? 0x80 : 0) | count);
  StoreBe16(&p[2], uint16_t(pattern.size()));
  std::copy(pattern.begin(), pattern.end(), p.begin() + 4);
  return p;
}

// What an LU of kBlocks reads after an overwrite with `pattern`: each block
// starts with the pattern's first byte.
std::vector<uint8_t> Expected(const std::vector<uint8_t>& pattern, uint64_t blocks, bool invert = false) {
  std::vector<uint8_t> v(blocks * kBs);
  for (size_t i = 0; i < v.size(); ++i) {
    uint8_t b = pattern[(i % kBs) % pattern.size()];
    v[i] = invert ? uint8_t(~b) : b;
  }
  return v;
}

// LuTest's LU over two files of 0x5a bytes, with its I/O on a stepped
// executor and small sanitize chunks, and both nexuses attached.
class SanitizeTest : public LuTest {
 protected:
  SanitizeTest() { fill_ = 0x5a; }
  void SetUp() override {
    LuTest::SetUp();
    LuOptions o;
    o.sanitize_chunk_bytes = 4096;  // 16 chunks a pass
    lu_ = std::make_shared<LogicalUnit>(vol_, &io_, o);
    lu_->AttachNexus(n1_, false);
    lu_->AttachNexus(n2_, false);
  }
  // The LU goes before the executor its work runs on.
  void TearDown() override { lu_.reset(); }
  std::vector<uint8_t> ReadAll() {
    Response r = Do(Cdb16(0x88, 0, 0, kBlocks));
    EXPECT_GOOD(r);
    return r.data_in;
  }
  // REQUEST SENSE (fixed format) from nexus 1.
  Sensed RequestSense() { return ParseSense(Do({0x03, 0, 0, 0, 18, 0}).data_in); }

  SteppedExecutor io_;
};

TEST_F(SanitizeTest, OverwriteRunsInBackgroundAndReportsProgress) {
  const std::vector<uint8_t> pattern = {0x11, 0x22, 0x33};
  io_.held_ = true;
  EXPECT_GOOD(Do(SanitizeCdb(0x01, 7, /*immed=*/true), OverwriteParams(pattern, 1)));
  // In progress: other commands get NOT READY / SANITIZE IN PROGRESS, from
  // every nexus; INQUIRY, REQUEST SENSE, REPORT SUPPORTED OPERATION CODES run.
  EXPECT_SENSE(Do({0x00, 0, 0, 0, 0, 0}), 0x2, 0x04, 0x1b);
  EXPECT_SENSE(Do2(Cdb10(0x28, 0, 0, 1)), 0x2, 0x04, 0x1b);
  EXPECT_SENSE(Do2(Cdb10(0x2a, 0, 0, 1), std::vector<uint8_t>(kBs, 1)), 0x2, 0x04, 0x1b);
  EXPECT_SENSE(Do(SanitizeCdb(0x02, 0)), 0x2, 0x04, 0x1b);  // one at a time
  EXPECT_SENSE(Do({0x1b, 0, 0, 0, 1, 0}), 0x2, 0x04, 0x1b);  // START STOP UNIT
  EXPECT_GOOD(Do({0x12, 0, 0, 0, 96, 0}));
  EXPECT_GOOD(Do({0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0}));
  Sensed s = RequestSense();
  EXPECT_EQ(s.key, 0x2);
  EXPECT_EQ(s.asc, 0x04);
  EXPECT_EQ(s.ascq, 0x1b);
  EXPECT_TRUE(s.sksv);
  EXPECT_EQ(s.field, 0);
  // Progress grows chunk by chunk (16 chunks written, then 16 verified).
  uint16_t last = 0;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(io_.RunOne());
  s = RequestSense();
  EXPECT_EQ(s.ascq, 0x1b);
  EXPECT_GT(s.field, last);
  EXPECT_LT(s.field, 65535);
  last = s.field;
  // Descriptor-format REQUEST SENSE carries it too (sense-key specific descriptor).
  Response d = Do({0x03, 1, 0, 0, 252, 0});
  ASSERT_GE(d.data_in.size(), 16u);
  EXPECT_EQ(d.data_in[0], 0x72);
  EXPECT_EQ(d.data_in[8], 0x02);
  EXPECT_EQ(d.data_in[12] & 0x80, 0x80);
  EXPECT_EQ(LoadBe16(&d.data_in[13]), last);
  io_.Drain();
  io_.held_ = false;
  EXPECT_GOOD(Do({0x00, 0, 0, 0, 0, 0}));
  s = RequestSense();
  EXPECT_EQ(s.key, 0x0);
  EXPECT_EQ(s.asc, 0x00);
  EXPECT_EQ(ReadAll(), Expected(pattern, kBlocks));
}

TEST_F(SanitizeTest, OverwriteInvertsBetweenPassesAndEndsWithThePattern) {
  const std::vector<uint8_t> pattern = {0xa5, 0x0f};
  io_.held_ = true;
  EXPECT_GOOD(Do(SanitizeCdb(0x01, 6, true), OverwriteParams(pattern, 2, /*invert=*/true)));
  for (int i = 0; i < 16; ++i) ASSERT_TRUE(io_.RunOne());  // the first pass
  // Two passes with INVERT: the first writes the inverted pattern.
  std::vector<uint8_t> file(64 * kBs);
  int fd = ::open(a_.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pread(fd, file.data(), file.size(), 0), ssize_t(file.size()));
  ::close(fd);
  EXPECT_EQ(file, Expected(pattern, 64, /*invert=*/true));
  io_.Drain();
  io_.held_ = false;
  EXPECT_EQ(ReadAll(), Expected(pattern, kBlocks));
}

TEST_F(SanitizeTest, ParameterAndCdbChecks) {
  const std::vector<uint8_t> full = OverwriteParams(std::vector<uint8_t>(kBs, 0xaa), 1);
  // OVERWRITE parameter list length 0..4 or more than a block + 4.
  for (uint16_t len : {0, 1, 2, 3, 4}) {
    Response r = Do(SanitizeCdb(0x01, len), full);
    EXPECT_SENSE(r, 0x5, 0x24, 0x00);
    EXPECT_EQ(ParseSense(r.sense).field, 7);
  }
  std::vector<uint8_t> big = full;
  big.resize(kBs + 5);
  EXPECT_SENSE(Do(SanitizeCdb(0x01, kBs + 5), big), 0x5, 0x24, 0x00);
  // OVERWRITE COUNT 0, TEST set, pattern length 0 or over a block, byte 1 set.
  auto p = full;
  p[0] = 0x00;
  EXPECT_SENSE(Do(SanitizeCdb(0x01, uint16_t(p.size())), p), 0x5, 0x26, 0x00);
  p = full;
  p[0] = 0x21;
  EXPECT_SENSE(Do(SanitizeCdb(0x01, uint16_t(p.size())), p), 0x5, 0x26, 0x00);
  p = full;
  StoreBe16(&p[2], 0);
  EXPECT_SENSE(Do(SanitizeCdb(0x01, uint16_t(p.size())), p), 0x5, 0x26, 0x00);
  p = full;
  p.resize(kBs + 4 + 4);
  StoreBe16(&p[2], kBs + 4);
  EXPECT_SENSE(Do(SanitizeCdb(0x01, kBs + 4), p), 0x5, 0x26, 0x00);
  p = full;
  p[1] = 1;
  EXPECT_SENSE(Do(SanitizeCdb(0x01, uint16_t(p.size())), p), 0x5, 0x26, 0x00);
  // A pattern longer than the parameter list holds.
  p = OverwriteParams({1, 2, 3, 4}, 1);
  EXPECT_SENSE(Do(SanitizeCdb(0x01, 6), p), 0x5, 0x26, 0x00);
  // BLOCK ERASE and EXIT FAILURE MODE take no parameter list.
  EXPECT_SENSE(Do(SanitizeCdb(0x02, 8), std::vector<uint8_t>(8)), 0x5, 0x24, 0x00);
  EXPECT_SENSE(Do(SanitizeCdb(0x1f, 8), std::vector<uint8_t>(8)), 0x5, 0x24, 0x00);
  // CRYPTOGRAPHIC ERASE and reserved service actions: INVALID FIELD IN CDB.
  for (uint8_t sa : {0x00, 0x03, 0x04, 0x10, 0x1e}) EXPECT_SENSE(Do(SanitizeCdb(sa, 0)), 0x5, 0x24, 0x00);
  // Reserved bit (ZNR: no zones) and reserved bytes.
  auto c = SanitizeCdb(0x02, 0);
  c[1] |= 0x40;
  EXPECT_SENSE(Do(c), 0x5, 0x24, 0x00);
  for (int i = 2; i < 7; ++i) {
    c = SanitizeCdb(0x02, 0);
    c[i] = uint8_t(i);
    EXPECT_SENSE(Do(c), 0x5, 0x24, 0x00);
  }
  // Nothing of it touched the medium.
  EXPECT_EQ(ReadAll(), std::vector<uint8_t>(kBlocks * kBs, 0x5a));
}

TEST_F(SanitizeTest, AdvertisedInReportOpcodesAndVpd) {
  // One command, opcode + service action.
  auto one = [&](uint16_t sa) {
    std::vector<uint8_t> c = {0xa3, 0x0c, 0x02, 0x48, 0, 0, 0, 0, 0, 64, 0, 0};
    StoreBe16(&c[4], sa);
    return Do(c);
  };
  for (uint16_t sa : {0x01, 0x02, 0x1f}) {
    Response r = one(sa);
    EXPECT_GOOD(r);
    EXPECT_EQ(r.data_in[1] & 0x07, 0x03) << sa;
    EXPECT_EQ(LoadBe16(&r.data_in[2]), 10);
    EXPECT_EQ(r.data_in[5] & 0x1f, sa);
  }
  EXPECT_EQ(one(0x03).data_in[1] & 0x07, 0x01);  // no CRYPTOGRAPHIC ERASE
  // Block Device Characteristics: WABEREQ 01b, WACEREQ 00b.
  Response r = Do({0x12, 1, 0xb1, 0, 64, 0});
  EXPECT_GOOD(r);
  EXPECT_EQ(r.data_in[7] & 0xf0, 0x40);
}

TEST_F(SanitizeTest, BlockEraseDeallocatesEverything) {
  EXPECT_GOOD(Do(SanitizeCdb(0x02, 0)));  // IMMED=0: GOOD once verified
  EXPECT_EQ(ReadAll(), std::vector<uint8_t>(kBlocks * kBs, 0));
  Response r = Do(Cdb16(0x9e, 0x12, 0, 8 + 16 * 4));
  EXPECT_GOOD(r);
  ASSERT_EQ(LoadBe32(&r.data_in[0]), 4u + 16u);  // one descriptor
  EXPECT_EQ(LoadBe64(&r.data_in[8]), 0u);
  EXPECT_EQ(LoadBe32(&r.data_in[16]), kBlocks);
  EXPECT_EQ(r.data_in[20] & 0x0f, 0x01);  // deallocated
  // The files hold no data any more (holes), as the scrub path leaves them.
  int fd = ::open(a_.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(::lseek(fd, 0, SEEK_DATA), -1);
  ::close(fd);
}

// A sanitize that fails (writes past RLIMIT_FSIZE fail with EFBIG) leaves the
// LU in sanitize failure mode: medium access gets MEDIUM ERROR / SANITIZE
// COMMAND FAILED until EXIT FAILURE MODE (AUSE=1) or a sanitize succeeds.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::signal(SIGXFSZ, SIG_IGN);
    ::getrlimit(RLIMIT_FSIZE, &old_);
    rlimit l = old_;
    l.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &l);
  }
  ~FileSizeLimit() { ::setrlimit(RLIMIT_FSIZE, &old_); }

 private:
  rlimit old_;
};

TEST_F(SanitizeTest, FailureModeRestricted) {
  const auto params = OverwriteParams({0x77}, 1);
  {
    FileSizeLimit limit(16 * kBs);
    Response r = Do(SanitizeCdb(0x01, 5), params);
    EXPECT_SENSE(r, 0x3, 0x31, 0x03);
  }
  EXPECT_SENSE(Do(Cdb10(0x28, 0, 0, 1)), 0x3, 0x31, 0x03);
  EXPECT_SENSE(Do2(Cdb10(0x2a, 0, 0, 1), std::vector<uint8_t>(kBs, 1)), 0x3, 0x31, 0x03);
  EXPECT_GOOD(Do({0x12, 0, 0, 0, 96, 0}));
  Sensed s = RequestSense();
  EXPECT_EQ(s.key, 0x3);
  EXPECT_EQ(s.asc, 0x31);
  EXPECT_EQ(s.ascq, 0x03);
  // AUSE was 0: EXIT FAILURE MODE and an AUSE=1 sanitize are refused.
  EXPECT_SENSE(Do(SanitizeCdb(0x1f, 0)), 0x5, 0x24, 0x00);
  EXPECT_SENSE(Do(SanitizeCdb(0x02, 0, false, /*ause=*/true)), 0x5, 0x24, 0x00);
  EXPECT_SENSE(Do(Cdb10(0x28, 0, 0, 1)), 0x3, 0x31, 0x03);
  // A sanitize that completes ends it.
  EXPECT_GOOD(Do(SanitizeCdb(0x01, 5), params));
  EXPECT_EQ(ReadAll(), Expected({0x77}, kBlocks));
}

TEST_F(SanitizeTest, FailureModeUnrestrictedExits) {
  {
    FileSizeLimit limit(16 * kBs);
    EXPECT_SENSE(Do(SanitizeCdb(0x01, 5, false, /*ause=*/true), OverwriteParams({0x77}, 1)), 0x3,
                 0x31, 0x03);
  }
  EXPECT_SENSE(Do(Cdb10(0x28, 0, 0, 1)), 0x3, 0x31, 0x03);
  EXPECT_GOOD(Do(SanitizeCdb(0x1f, 0)));
  EXPECT_GOOD(Do(Cdb10(0x28, 0, 0, 1)));
  EXPECT_EQ(RequestSense().key, 0x0);
}

TEST_F(SanitizeTest, ReservationsAndWriteProtect) {
  const auto params = OverwriteParams({0x77}, 1);
  // RESERVE(6) by the other nexus.
  EXPECT_GOOD(Do2({0x16, 0, 0, 0, 0, 0}));
  EXPECT_EQ(Do(SanitizeCdb(0x01, 5), params).status, ScsiStatus::kReservationConflict);
  EXPECT_EQ(Do(SanitizeCdb(0x02, 0)).status, ScsiStatus::kReservationConflict);
  EXPECT_GOOD(Do2({0x17, 0, 0, 0, 0, 0}));
  // A persistent reservation (WRITE EXCLUSIVE) by the other nexus.
  std::vector<uint8_t> reg(24, 0);
  StoreBe64(&reg[8], 0xabc);
  EXPECT_GOOD(Do2({0x5f, 0x00, 0, 0, 0, 0, 0, 0, 24, 0}, reg));
  std::vector<uint8_t> res(24, 0);
  StoreBe64(&res[0], 0xabc);
  EXPECT_GOOD(Do2({0x5f, 0x01, 0x01, 0, 0, 0, 0, 0, 24, 0}, res));
  EXPECT_EQ(Do(SanitizeCdb(0x02, 0)).status, ScsiStatus::kReservationConflict);
  EXPECT_GOOD(Do2({0x5f, 0x02, 0x01, 0, 0, 0, 0, 0, 24, 0}, res));
  // A read-only mapping.
  EXPECT_SENSE(Do(SanitizeCdb(0x02, 0), {}, /*ro=*/true), 0x7, 0x27, 0x00);
  EXPECT_EQ(ReadAll(), std::vector<uint8_t>(kBlocks * kBs, 0x5a));
}

TEST_F(SanitizeTest, ResetAndSessionLossDoNotStopIt) {
  io_.held_ = true;
  int calls = 0;
  std::optional<Response> result;
  Command c;
  c.cdb = SanitizeCdb(0x01, 5);
  c.data_out = OverwriteParams({0x42}, 1);
  c.tag = 77;
  lu_->Execute(n1_, false, std::move(c), [&](Response r) {
    ++calls;
    result = std::move(r);
  });
  EXPECT_FALSE(result.has_value());  // IMMED=0: status when done
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(io_.RunOne());
  // A LOGICAL UNIT RESET (from the other nexus) aborts the command (TAS=1:
  // TASK ABORTED), not the sanitize.
  lu_->Reset(n2_);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, ScsiStatus::kTaskAborted);
  lu_->ForgetNexus(n1_.id);  // the sender's session is gone too
  // The other nexus sees the reset first, then the sanitize.
  EXPECT_SENSE(Do2({0x00, 0, 0, 0, 0, 0}), 0x6, 0x29, 0x03);
  EXPECT_SENSE(Do2({0x00, 0, 0, 0, 0, 0}), 0x2, 0x04, 0x1b);
  io_.Drain();
  io_.held_ = false;
  EXPECT_EQ(calls, 1);
  EXPECT_GOOD(Do2({0x00, 0, 0, 0, 0, 0}));
  Response r = Do2(Cdb16(0x88, 0, 0, kBlocks));
  EXPECT_EQ(r.data_in, Expected({0x42}, kBlocks));
}

TEST_F(SanitizeTest, AbortTaskEndsTheCommandNotTheSanitize) {
  io_.held_ = true;
  int calls = 0;
  std::optional<Response> result;
  Command c;
  c.cdb = SanitizeCdb(0x02, 0);
  c.tag = 9;
  lu_->Execute(n1_, false, std::move(c), [&](Response r) {
    ++calls;
    result = std::move(r);
  });
  ASSERT_TRUE(io_.RunOne());
  lu_->AbortTask(n2_, 9);  // another nexus's task 9: not this one
  lu_->AbortTask(n1_, 8);
  EXPECT_FALSE(result.has_value());
  lu_->AbortTask(n1_, 9);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status, ScsiStatus::kTaskAborted);
  EXPECT_SENSE(Do({0x00, 0, 0, 0, 0, 0}), 0x2, 0x04, 0x1b);
  io_.Drain();
  io_.held_ = false;
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(ReadAll(), std::vector<uint8_t>(kBlocks * kBs, 0));
  // A session that ends while it waits: the command is dropped, the
  // sanitize finishes.
  io_.held_ = true;
  result.reset();
  Command c2;
  c2.cdb = SanitizeCdb(0x01, 5);
  c2.data_out = OverwriteParams({0x99}, 1);
  c2.tag = 10;
  lu_->Execute(n1_, false, std::move(c2), [&](Response r) {
    ++calls;
    result = std::move(r);
  });
  lu_->ForgetNexus(n1_.id);
  EXPECT_EQ(calls, 2);
  io_.Drain();
  io_.held_ = false;
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(RunCmd(*lu_, n2_, Cdb16(0x88, 0, 0, 1)).data_in, Expected({0x99}, 1));
}

TEST_F(SanitizeTest, RemovedLuStopsTheSanitize) {
  io_.held_ = true;
  EXPECT_GOOD(Do(SanitizeCdb(0x02, 0, true)));
  ASSERT_TRUE(io_.RunOne());
  lu_.reset();  // unmapped: the LogicalUnit goes away, its state stays for queued work
  io_.Drain();  // the next chunk sees it and stops
  io_.held_ = false;
  // The rest of the medium was left alone.
  std::vector<uint8_t> file(64 * kBs);
  int fd = ::open(b_.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pread(fd, file.data(), file.size(), 0), ssize_t(file.size()));
  ::close(fd);
  EXPECT_EQ(file, std::vector<uint8_t>(64 * kBs, 0x5a));
}

// ---- software write protect ----

std::vector<uint8_t> ControlPageSelect(LogicalUnit& lu, const Nexus& n, bool swp) {
  Response r = RunCmd(lu, n, {0x1a, 0x08, 0x0a, 0, 255, 0});
  std::vector<uint8_t> p = r.data_in;
  p[0] = 0;
  p[2] = 0;  // device-specific parameter: reserved in MODE SELECT
  if (swp) {
    p[4 + 4] |= 0x08;
  } else {
    p[4 + 4] &= ~0x08;
  }
  return p;
}

TEST_F(SanitizeTest, SoftwareWriteProtectThroughModeSelect) {
  // The changeable-values Control page shows SWP (and nothing else).
  Response r = Do({0x1a, 0x08, 0x4a, 0, 255, 0});
  EXPECT_GOOD(r);
  ASSERT_EQ(r.data_in.size(), 16u);
  EXPECT_EQ(r.data_in[8], 0x08);
  for (size_t i = 6; i < 16; ++i) {
    if (i != 8) {
      EXPECT_EQ(r.data_in[i], 0) << i;
    }
  }
  // Set by nexus 1.
  auto p = ControlPageSelect(*lu_, n1_, true);
  EXPECT_GOOD(Do({0x15, 0x10, 0, 0, uint8_t(p.size()), 0}, p));
  // Nexus 2 is told the mode parameters changed; nexus 1 is not.
  EXPECT_SENSE(Do2({0x00, 0, 0, 0, 0, 0}), 0x6, 0x2a, 0x01);
  EXPECT_GOOD(Do({0x00, 0, 0, 0, 0, 0}));
  // Writes of every kind: DATA PROTECT / SOFTWARE WRITE PROTECTED.
  const std::vector<uint8_t> blk(kBs, 1);
  EXPECT_SENSE(Do(Cdb10(0x2a, 0, 0, 1), blk), 0x7, 0x27, 0x02);
  EXPECT_SENSE(Do2(Cdb16(0x8a, 0, 0, 1), blk), 0x7, 0x27, 0x02);
  EXPECT_SENSE(Do(Cdb10(0x41, 0x08, 0, 1), blk), 0x7, 0x27, 0x02);
  std::vector<uint8_t> unmap(24, 0);
  StoreBe16(&unmap[0], 22);
  StoreBe16(&unmap[2], 16);
  StoreBe32(&unmap[16], 1);
  EXPECT_SENSE(Do({0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0}, unmap), 0x7, 0x27, 0x02);
  EXPECT_SENSE(Do(SanitizeCdb(0x01, 5), OverwriteParams({1}, 1)), 0x7, 0x27, 0x02);
  EXPECT_SENSE(Do(SanitizeCdb(0x02, 0)), 0x7, 0x27, 0x02);
  EXPECT_GOOD(Do(Cdb10(0x28, 0, 0, 1)));
  // MODE SENSE: WP in the header, SWP in the current Control page.
  r = Do2({0x1a, 0x08, 0x0a, 0, 255, 0});
  EXPECT_EQ(r.data_in[2] & 0x80, 0x80);
  EXPECT_EQ(r.data_in[8] & 0x08, 0x08);
  r = Do2({0x5a, 0x08, 0x0a, 0, 0, 0, 0, 0, 255, 0});
  EXPECT_EQ(r.data_in[3] & 0x80, 0x80);
  // Other fields of the page stay unchangeable.
  auto bad = ControlPageSelect(*lu_, n1_, true);
  bad[4 + 5] ^= 0x40;  // TAS
  r = Do({0x15, 0x10, 0, 0, uint8_t(bad.size()), 0}, bad);
  EXPECT_SENSE(r, 0x5, 0x26, 0x00);
  EXPECT_EQ(ParseSense(r.sense).field, 9);
  // A read-only mapping may not change it.
  p = ControlPageSelect(*lu_, n1_, false);
  EXPECT_SENSE(Do({0x15, 0x10, 0, 0, uint8_t(p.size()), 0}, p, /*ro=*/true), 0x7, 0x27, 0x00);
  // Cleared by nexus 2: writes work again, nexus 1 is told.
  EXPECT_GOOD(Do2({0x15, 0x10, 0, 0, uint8_t(p.size()), 0}, p));
  EXPECT_SENSE(Do({0x00, 0, 0, 0, 0, 0}), 0x6, 0x2a, 0x01);
  EXPECT_GOOD(Do(Cdb10(0x2a, 0, 0, 1), blk));
  r = Do({0x1a, 0x08, 0x0a, 0, 255, 0});
  EXPECT_EQ(r.data_in[2] & 0x80, 0);
}

// ---- UNMAP by file-system granule ----

// The file system block of the test directory, in 512-byte blocks.
uint32_t FsGranule(const std::string& dir) {
  struct statfs fs;
  if (::statfs(dir.c_str(), &fs) != 0) return 8;
  uint64_t g = std::min<uint64_t>(std::max<uint64_t>(fs.f_bsize, kBs), 64 * 1024);
  return uint32_t(g / kBs);
}

TEST(UnmapGeometryTest, FollowsTheFileSystemAndTheExtentOffsets) {
  TempDir dir;
  const uint32_t g = FsGranule(dir.path());
  ASSERT_GE(g, 2u) << "the test needs a file system block larger than 512 bytes";
  std::string f = dir.File("f", 256 * kBs, 0);
  // The extent starts one block into the file: granules start at LBA g-1.
  auto v = volume::MetaVolume::Open({{f, kBs, 128 * kBs}}, {.block_size = kBs, .id = "g1"});
  ASSERT_TRUE(v.ok());
  LogicalUnit lu(*v, InlineExecutor());
  Nexus n{1, "i", "t"};
  Response r = RunCmd(lu, n, {0x12, 1, 0xb0, 0, 64, 0});
  EXPECT_EQ(LoadBe32(&r.data_in[28]), g);                    // OPTIMAL UNMAP GRANULARITY
  EXPECT_EQ(LoadBe32(&r.data_in[32]), 0x80000000u | (g - 1));  // UGAVALID, alignment
  r = RunCmd(lu, n, Cdb16(0x9e, 0x10, 0, 32));
  uint32_t exp = 0;
  while ((1u << exp) < g) ++exp;
  EXPECT_EQ(r.data_in[13] & 0x0f, exp);                      // LOGICAL BLOCKS PER PHYSICAL BLOCK
  EXPECT_EQ(LoadBe16(&r.data_in[14]) & 0x3fff, g - 1);       // LOWEST ALIGNED LBA
  EXPECT_EQ(r.data_in[14] & 0xc0, 0xc0);                     // LBPME, LBPRZ
  // Two extents that disagree on where granules start: no UGAVALID, no
  // physical block exponent.
  auto w = volume::MetaVolume::Open({{f, 0, 64 * kBs}, {f, 129 * kBs, 64 * kBs}},
                                    {.block_size = kBs, .id = "g2"});
  ASSERT_TRUE(w.ok());
  LogicalUnit lu2(*w, InlineExecutor());
  r = RunCmd(lu2, n, {0x12, 1, 0xb0, 0, 64, 0});
  EXPECT_EQ(LoadBe32(&r.data_in[28]), g);
  EXPECT_EQ(LoadBe32(&r.data_in[32]) & 0x80000000u, 0u);
  r = RunCmd(lu2, n, Cdb16(0x9e, 0x10, 0, 32));
  EXPECT_EQ(r.data_in[13] & 0x0f, 0);
}

TEST(UnmapGeometryTest, UnalignedUnmapZeroesEndsAndDeallocatesTheMiddle) {
  TempDir dir;
  const uint32_t g = FsGranule(dir.path());
  ASSERT_GE(g, 2u);
  const uint64_t blocks = 8 * g;
  std::string f = dir.File("f", blocks * kBs, 0xff);
  auto v = volume::MetaVolume::Open({{f, 0, blocks * kBs}}, {.block_size = kBs, .id = "u"});
  ASSERT_TRUE(v.ok());
  LogicalUnit lu(*v, InlineExecutor());
  Nexus n{1, "i", "t"};
  auto read = [&](uint64_t lba, uint32_t count) {
    return RunCmd(lu, n, Cdb16(0x88, 0, lba, count)).data_in;
  };
  auto lba_status = [&](uint64_t lba) {
    Response r = RunCmd(lu, n, Cdb16(0x9e, 0x12, lba, 24));
    return std::pair<uint32_t, uint8_t>(LoadBe32(&r.data_in[16]), r.data_in[20] & 0x0f);
  };
  // UNMAP [1, 3g+1): head 1..g-1 and tail 3g are partial granules.
  std::vector<uint8_t> list(24, 0);
  StoreBe16(&list[0], 22);
  StoreBe16(&list[2], 16);
  StoreBe64(&list[8], 1);
  StoreBe32(&list[16], 3 * g);
  EXPECT_GOOD(RunCmd(lu, n, {0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0}, list));
  EXPECT_EQ(read(0, 1), std::vector<uint8_t>(kBs, 0xff));
  EXPECT_EQ(read(1, 3 * g), std::vector<uint8_t>(3 * g * kBs, 0));
  EXPECT_EQ(read(3 * g + 1, 1), std::vector<uint8_t>(kBs, 0xff));
  // GET LBA STATUS: the head's granule still holds block 0, so it is mapped;
  // granules 1 and 2 are deallocated; the tail's granule is mapped.
  EXPECT_EQ(lba_status(0), std::make_pair(g, uint8_t(0)));
  EXPECT_EQ(lba_status(g), std::make_pair(2 * g, uint8_t(1)));
  EXPECT_EQ(lba_status(3 * g).second, 0);
  // WRITE SAME(16) with UNMAP, unaligned the same way, from 5g+1 to 7g+1.
  std::vector<uint8_t> ws = Cdb16(0x93, 0x08, 5 * g + 1, 2 * g);
  EXPECT_GOOD(RunCmd(lu, n, ws, std::vector<uint8_t>(kBs, 0)));
  EXPECT_EQ(read(5 * g + 1, 2 * g), std::vector<uint8_t>(2 * g * kBs, 0));
  EXPECT_EQ(read(5 * g, 1), std::vector<uint8_t>(kBs, 0xff));
  EXPECT_EQ(read(7 * g + 1, 1), std::vector<uint8_t>(kBs, 0xff));
  EXPECT_EQ(lba_status(6 * g), std::make_pair(g, uint8_t(1)));
  // Less than a granule: zeros, nothing deallocated.
  StoreBe64(&list[8], 7 * g + 2);
  StoreBe32(&list[16], 2);
  EXPECT_GOOD(RunCmd(lu, n, {0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0}, list));
  EXPECT_EQ(read(7 * g + 2, 2), std::vector<uint8_t>(2 * kBs, 0));
  EXPECT_EQ(read(7 * g + 4, 1), std::vector<uint8_t>(kBs, 0xff));
  EXPECT_EQ(lba_status(7 * g).second, 0);
}

}  // namespace
}  // namespace vsl::scsi
