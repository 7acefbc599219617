// Logical unit commands: data paths, descriptive commands, unit attentions.
#include <numeric>
#include <thread>

#include "gateway/scsi/scsi_test_util.h"

namespace vsl::scsi {
namespace {

using namespace testing;

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(seed + i * 13);
  return v;
}

TEST_F(LuTest, WriteReadAcrossExtentBoundary) {
  // Blocks 60..67 straddle the two files (64 blocks each).
  auto data = Pattern(8 * 512, 7);
  EXPECT_GOOD(Do(Cdb10(0x2a, 0x08, 60, 8), data));
  Response r = Do(Cdb10(0x28, 0, 60, 8));
  EXPECT_GOOD(r);
  EXPECT_EQ(r.data_in, data);
  for (uint8_t op : {0xa8, 0x88}) {
    r = Do(op == 0xa8 ? Cdb12(op, 0, 60, 8) : Cdb16(op, 0, 60, 8));
    EXPECT_GOOD(r);
    EXPECT_EQ(r.data_in, data);
  }
  // READ(6)/WRITE(6).
  auto six = Pattern(512, 99);
  EXPECT_GOOD(Do({0x0a, 0, 0, 127, 1, 0}, six));
  r = Do({0x08, 0, 0, 127, 1, 0});
  EXPECT_EQ(r.data_in, six);
}

// Writes a network thread hands down in a row while a WriteBatch is open:
// held with their answers until the run breaks, then all in the files.
TEST_F(LuTest, WriteBatchHoldsARunOfWritesUntilItBreaks) {
  std::vector<Response> answers;
  auto run = [&](std::vector<uint8_t> cdb, std::vector<uint8_t> data = {}) {
    Command c;
    c.cdb = std::move(cdb);
    c.data_out = std::move(data);
    c.expected_data_in = 1 << 24;
    lu_->Execute(n1_, false, std::move(c),
                 [&answers](Response r) { answers.push_back(std::move(r)); });
  };
  auto a = Pattern(4 * 512, 1), b = Pattern(4 * 512, 2), c = Pattern(2 * 512, 3);
  {
    WriteBatch batch;
    // 60..63 in file a, 64..67 in file b, 68..69: one run across the extents.
    run(Cdb10(0x2a, 0, 60, 4), a);
    run(Cdb10(0x2a, 0, 64, 4), b);
    run(Cdb16(0x8a, 0, 68, 2), c);
    EXPECT_EQ(answers.size(), 0u);  // held: their bytes are not in yet
    // Any other command runs after them and sees them.
    run(Cdb10(0x28, 0, 60, 10));
    ASSERT_EQ(answers.size(), 4u);
    for (size_t i = 0; i < 3; ++i) EXPECT_GOOD(answers[i]);
    EXPECT_EQ(answers[0].data_out_wanted, 4 * 512u);
    EXPECT_EQ(answers[2].data_out_wanted, 2 * 512u);
    std::vector<uint8_t> all = a;
    all.insert(all.end(), b.begin(), b.end());
    all.insert(all.end(), c.begin(), c.end());
    EXPECT_EQ(answers[3].data_in, all);
    answers.clear();
    // A write elsewhere ends the run before it: the first is answered.
    run(Cdb10(0x2a, 0, 0, 1), Pattern(512, 4));
    run(Cdb10(0x2a, 0, 2, 1), Pattern(512, 5));
    ASSERT_EQ(answers.size(), 1u);
    // A FUA write is not held and lands after what was.
    run(Cdb10(0x2a, 0x08, 3, 1), Pattern(512, 6));
    ASSERT_EQ(answers.size(), 3u);
    run(Cdb10(0x2a, 0, 4, 1), Pattern(512, 7));
    EXPECT_EQ(answers.size(), 3u);
  }
  // The scope's end answers what it still held.
  ASSERT_EQ(answers.size(), 4u);
  for (const Response& r : answers) EXPECT_GOOD(r);
  for (uint32_t lba : {0u, 2u, 3u, 4u})
    EXPECT_EQ(Do(Cdb10(0x28, 0, lba, 1)).data_in, Pattern(512, uint8_t(lba == 0 ? 4 : lba + 3)));
  // Outside a batch nothing waits.
  answers.clear();
  run(Cdb10(0x2a, 0, 10, 1), Pattern(512, 8));
  EXPECT_EQ(answers.size(), 1u);
  // An answer that sends another write at once (Done may re-enter): that
  // write is held anew, and the scope's end still answers it.
  answers.clear();
  {
    WriteBatch batch;
    Command c;
    c.cdb = Cdb10(0x2a, 0, 20, 1);
    c.data_out = Pattern(512, 9);
    lu_->Execute(n1_, false, std::move(c), [&](Response r) {
      answers.push_back(std::move(r));
      run(Cdb10(0x2a, 0, 30, 1), Pattern(512, 10));
    });
    EXPECT_EQ(answers.size(), 0u);
  }
  ASSERT_EQ(answers.size(), 2u);
  for (const Response& r : answers) EXPECT_GOOD(r);
  EXPECT_EQ(Do(Cdb10(0x28, 0, 20, 1)).data_in, Pattern(512, 9));
  EXPECT_EQ(Do(Cdb10(0x28, 0, 30, 1)).data_in, Pattern(512, 10));
}

TEST_F(LuTest, WriteAtomic) {
  std::vector<uint8_t> cdb(16, 0);
  cdb[0] = 0x9c;
  StoreBe64(&cdb[2], 62);
  StoreBe16(&cdb[12], 4);
  auto data = Pattern(4 * 512, 8);
  EXPECT_GOOD(Do(cdb, data));
  EXPECT_EQ(Do(Cdb10(0x28, 0, 62, 4)).data_in, data);
  StoreBe16(&cdb[12], 4096);  // 2 MiB: more than the atomic limit
  StoreBe64(&cdb[2], 0);
  EXPECT_SENSE(Do(cdb, std::vector<uint8_t>(2 << 20)), 0x5, 0x21, 0x00);  // and past the end
  Response r = Do({0x12, 1, 0xb0, 0, 255, 0});
  EXPECT_GT(LoadBe32(&r.data_in[44]), 0u);
  EXPECT_LE(LoadBe32(&r.data_in[44]), LoadBe32(&r.data_in[8]));
}

TEST_F(LuTest, WriteDataOutLengths) {
  auto data = Pattern(3 * 512, 1);
  // More Data-Out than the CDB asks for: only the CDB's blocks are written.
  EXPECT_GOOD(Do(Cdb10(0x2a, 0, 10, 1), Pattern(2 * 512, 1)));
  EXPECT_EQ(Do(Cdb10(0x2a, 0, 10, 1), data).data_out_wanted, 512u);
  Response r = Do(Cdb10(0x28, 0, 11, 1));
  EXPECT_EQ(r.data_in, std::vector<uint8_t>(512, 0));
  // Less: refused, nothing written.
  r = Do(Cdb10(0x2a, 0, 20, 2), Pattern(512, 3));
  EXPECT_SENSE(r, 0x5, 0x0e, 0x03);
  EXPECT_EQ(r.data_out_wanted, 1024u);
  EXPECT_EQ(Do(Cdb10(0x28, 0, 20, 1)).data_in, std::vector<uint8_t>(512, 0));
}

TEST_F(LuTest, WriteProtectedMapping) {
  for (auto cdb : {Cdb10(0x2a, 0, 0, 1), Cdb16(0x8a, 0, 0, 1), Cdb10(0x41, 0x08, 0, 1),
                   Cdb16(0x89, 0, 0, 1), Cdb16(0x8b, 0, 0, 1), Cdb10(0x2e, 0, 0, 1)}) {
    EXPECT_SENSE(Do(cdb, Pattern(1024, 0), /*ro=*/true), 0x7, 0x27, 0x00);
  }
  EXPECT_GOOD(Do(Cdb10(0x28, 0, 0, 1), {}, true));
  // MODE SENSE shows WP.
  Response r = Do({0x1a, 0, 0x3f, 0, 255, 0}, {}, true);
  EXPECT_EQ(r.data_in[2] & 0x80, 0x80);
  r = Do({0x1a, 0, 0x3f, 0, 255, 0});
  EXPECT_EQ(r.data_in[2] & 0x80, 0);
  EXPECT_EQ(r.data_in[2] & 0x10, 0x10);  // DPOFUA
}

TEST_F(LuTest, InquiryStandardAndVpd) {
  Response r = Do({0x12, 0, 0, 0, 255, 0});
  EXPECT_GOOD(r);
  ASSERT_GE(r.data_in.size(), 36u);
  EXPECT_EQ(r.data_in[0], 0x00);
  EXPECT_EQ(r.data_in[2], 0x06);
  EXPECT_EQ(r.data_in[7] & 0x02, 0x02);
  EXPECT_EQ(std::string(r.data_in.begin() + 8, r.data_in.begin() + 16), "VSL     ");
  EXPECT_EQ(size_t(r.data_in[4]) + 5, r.data_in.size());
  // Allocation length truncates.
  EXPECT_EQ(Do({0x12, 0, 0, 0, 5, 0}).data_in.size(), 5u);
  // Supported pages.
  r = Do({0x12, 1, 0x00, 0, 255, 0});
  std::vector<uint8_t> pages(r.data_in.begin() + 4, r.data_in.end());
  EXPECT_EQ(pages, (std::vector<uint8_t>{0x00, 0x80, 0x83, 0x8f, 0xb0, 0xb1, 0xb2}));
  for (uint8_t page : pages) {
    r = Do({0x12, 1, page, 0, 255, 0});
    EXPECT_GOOD(r);
    EXPECT_EQ(r.data_in[1], page);
    EXPECT_EQ(size_t(LoadBe16(&r.data_in[2])) + 4, r.data_in.size()) << int(page);
  }
  // Device identification: the NAA designator first, type 6, stable and
  // different for another volume id.
  r = Do({0x12, 1, 0x83, 0, 255, 0});
  EXPECT_EQ(r.data_in[4 + 1] & 0x0f, 3);
  EXPECT_EQ(r.data_in[4 + 3], 16);
  EXPECT_EQ(r.data_in[8] >> 4, 6);
  std::vector<uint8_t> naa(r.data_in.begin() + 8, r.data_in.begin() + 24);
  Response again = Do({0x12, 1, 0x83, 0, 255, 0});
  EXPECT_EQ(std::vector<uint8_t>(again.data_in.begin() + 8, again.data_in.begin() + 24), naa);
  auto other_vol = volume::MetaVolume::Open({{a_, 0, 512}}, {.block_size = 512, .read_only = false, .id = "vol-2"});
  ASSERT_TRUE(other_vol.ok());
  LogicalUnit other(*other_vol, InlineExecutor());
  r = RunCmd(other, n1_, {0x12, 1, 0x83, 0, 255, 0});
  EXPECT_NE(std::vector<uint8_t>(r.data_in.begin() + 8, r.data_in.begin() + 24), naa);
  // Block limits and provisioning.
  r = Do({0x12, 1, 0xb0, 0, 255, 0});
  EXPECT_GT(LoadBe32(&r.data_in[20]), 0u);  // max unmap LBA count
  EXPECT_GT(LoadBe32(&r.data_in[24]), 0u);  // max unmap descriptors
  EXPECT_GT(LoadBe64(&r.data_in[36]), 0u);  // max write same
  r = Do({0x12, 1, 0xb2, 0, 255, 0});
  EXPECT_EQ(r.data_in[5] & 0xe4, 0xe4);
  r = Do({0x12, 1, 0xb1, 0, 255, 0});
  EXPECT_EQ(LoadBe16(&r.data_in[4]), 1);
}

TEST_F(LuTest, ReadCapacity) {
  Response r = Do({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_GOOD(r);
  ASSERT_EQ(r.data_in.size(), 8u);
  EXPECT_EQ(LoadBe32(&r.data_in[0]), 127u);
  EXPECT_EQ(LoadBe32(&r.data_in[4]), 512u);
  r = Do(Cdb16(0x9e, 0x10, 0, 32));
  ASSERT_EQ(r.data_in.size(), 32u);
  EXPECT_EQ(LoadBe64(&r.data_in[0]), 127u);
  EXPECT_EQ(r.data_in[14] & 0xc0, 0xc0);  // LBPME, LBPRZ
  EXPECT_EQ(Do(Cdb16(0x9e, 0x10, 0, 12)).data_in.size(), 12u);
}

TEST_F(LuTest, ModeSense) {
  // MODE SENSE(6) all pages with a block descriptor.
  Response r = Do({0x1a, 0, 0x3f, 0, 255, 0});
  EXPECT_GOOD(r);
  auto& d = r.data_in;
  EXPECT_EQ(size_t(d[0]) + 1, d.size());
  EXPECT_EQ(d[3], 8);
  EXPECT_EQ(LoadBe32(&d[4]), 128u);
  EXPECT_EQ(LoadBe24(&d[9]), 512u);
  EXPECT_EQ(d[12], 0x08);        // caching page first
  EXPECT_EQ(d[14] & 0x04, 0x04);  // WCE
  EXPECT_EQ(d[32], 0x0a);        // then control
  EXPECT_EQ(d[44], 0x1c);
  // DBD, one page.
  r = Do({0x1a, 0x08, 0x0a, 0, 255, 0});
  EXPECT_EQ(r.data_in[3], 0);
  EXPECT_EQ(r.data_in.size(), 4u + 12u);
  EXPECT_EQ(r.data_in[4], 0x0a);
  // Changeable values: nothing changes.
  r = Do({0x1a, 0x08, 0x48, 0, 255, 0});
  EXPECT_EQ(r.data_in[6] & 0x04, 0);
  // MODE SENSE(10) with a long LBA descriptor.
  r = Do({0x5a, 0x10, 0x08, 0, 0, 0, 0, 1, 0, 0});
  EXPECT_GOOD(r);
  EXPECT_EQ(LoadBe16(&r.data_in[0]) + 2u, r.data_in.size());
  EXPECT_EQ(r.data_in[4] & 1, 1);
  EXPECT_EQ(LoadBe16(&r.data_in[6]), 16);
  EXPECT_EQ(LoadBe64(&r.data_in[8]), 128u);
  EXPECT_EQ(LoadBe32(&r.data_in[20]), 512u);
  // Truncated to the allocation length, the length field still says all.
  r = Do({0x1a, 0, 0x3f, 0, 4, 0});
  EXPECT_EQ(r.data_in.size(), 4u);
  EXPECT_GT(r.data_in[0], 3);
}

TEST_F(LuTest, ModeSelectAcceptsCurrentCachingPageOnly) {
  Response r = Do({0x1a, 0x08, 0x08, 0, 255, 0});
  std::vector<uint8_t> param = r.data_in;
  param[0] = 0;  // mode data length is reserved in MODE SELECT
  EXPECT_GOOD(Do({0x15, 0x10, 0, 0, uint8_t(param.size()), 0}, param));
  param[6] &= ~0x04;  // try to turn off write caching
  r = Do({0x15, 0x10, 0, 0, uint8_t(param.size()), 0}, param);
  EXPECT_SENSE(r, 0x5, 0x26, 0x00);
  EXPECT_EQ(ParseSense(r.sense).field, 6);
}

TEST_F(LuTest, VerifyAndMiscompare) {
  auto data = Pattern(4 * 512, 5);
  EXPECT_GOOD(Do(Cdb10(0x2a, 0, 62, 4), data));
  EXPECT_GOOD(Do(Cdb10(0x2f, 0x02, 62, 4), data));
  auto bad = data;
  bad[1000] ^= 1;
  Response r = Do(Cdb16(0x8f, 0x02, 62, 4), bad);
  EXPECT_SENSE(r, 0xe, 0x1d, 0x00);
  auto s = ParseSense(r.sense);
  EXPECT_TRUE(s.info_valid);
  EXPECT_EQ(s.info, 1000u);
  // BYTCHK=11b: one block compared against each.
  EXPECT_GOOD(Do(Cdb10(0x41, 0, 30, 3), Pattern(512, 9)));
  EXPECT_GOOD(Do(Cdb12(0xaf, 0x06, 30, 3), Pattern(512, 9)));
  EXPECT_SENSE(Do(Cdb12(0xaf, 0x06, 29, 3), Pattern(512, 9)), 0xe, 0x1d, 0x00);
  // WRITE AND VERIFY writes.
  EXPECT_GOOD(Do(Cdb10(0x2e, 0x02, 0, 1), Pattern(512, 77)));
  EXPECT_EQ(Do(Cdb10(0x28, 0, 0, 1)).data_in, Pattern(512, 77));
}

TEST_F(LuTest, CompareAndWrite) {
  auto old = Pattern(2 * 512, 1), neu = Pattern(2 * 512, 2);
  EXPECT_GOOD(Do(Cdb10(0x2a, 0, 63, 2), old));
  std::vector<uint8_t> cdb(16, 0);
  cdb[0] = 0x89;
  StoreBe64(&cdb[2], 63);
  cdb[13] = 2;
  std::vector<uint8_t> buf = old;
  buf.insert(buf.end(), neu.begin(), neu.end());
  EXPECT_GOOD(Do(cdb, buf));
  EXPECT_EQ(Do(Cdb10(0x28, 0, 63, 2)).data_in, neu);
  // Now the compare half no longer matches: MISCOMPARE at offset 0, no write.
  Response r = Do(cdb, buf);
  EXPECT_SENSE(r, 0xe, 0x1d, 0x00);
  EXPECT_EQ(ParseSense(r.sense).info, 0u);
  EXPECT_EQ(Do(Cdb10(0x28, 0, 63, 2)).data_in, neu);
  // Wrong Data-Out size, also with 0 blocks.
  EXPECT_SENSE(Do(cdb, neu), 0x5, 0x24, 0x00);
  cdb[13] = 0;
  EXPECT_SENSE(Do(cdb, neu), 0x5, 0x24, 0x00);
  EXPECT_GOOD(Do(cdb));
  cdb[13] = 2;
  // Out of range.
  StoreBe64(&cdb[2], 127);
  EXPECT_SENSE(Do(cdb, buf), 0x5, 0x21, 0x00);
}

TEST_F(LuTest, OrWrite) {
  std::vector<uint8_t> a(512, 0x0f), b(512, 0xf0);
  EXPECT_GOOD(Do(Cdb10(0x2a, 0, 5, 1), a));
  EXPECT_GOOD(Do(Cdb16(0x8b, 0, 5, 1), b));
  EXPECT_EQ(Do(Cdb10(0x28, 0, 5, 1)).data_in, std::vector<uint8_t>(512, 0xff));
  EXPECT_SENSE(Do(Cdb16(0x8b, 0, 128, 1), b), 0x5, 0x21, 0x00);
}

TEST_F(LuTest, UnmapReadsZerosAndGetLbaStatus) {
  EXPECT_GOOD(Do(Cdb10(0x2a, 0, 0, 128), Pattern(128 * 512, 3)));
  // UNMAP two ranges, one straddling the extent boundary (4 KiB aligned).
  std::vector<uint8_t> param(8 + 32, 0);
  StoreBe16(&param[0], uint16_t(param.size() - 2));
  StoreBe16(&param[2], 32);
  StoreBe64(&param[8], 56);
  StoreBe32(&param[16], 16);
  StoreBe64(&param[24], 96);
  StoreBe32(&param[32], 8);
  EXPECT_GOOD(Do({0x42, 0, 0, 0, 0, 0, 0, 0, uint8_t(param.size()), 0}, param));
  Response r = Do(Cdb10(0x28, 0, 56, 16));
  EXPECT_EQ(r.data_in, std::vector<uint8_t>(16 * 512, 0));
  r = Do(Cdb10(0x28, 0, 55, 1));
  const auto all = Pattern(128 * 512, 3);
  EXPECT_EQ(r.data_in, std::vector<uint8_t>(all.begin() + 55 * 512, all.begin() + 56 * 512));
  r = Do(Cdb16(0x9e, 0x12, 0, 8 + 16 * 8));
  EXPECT_GOOD(r);
  ASSERT_GE(r.data_in.size(), 8u + 16 * 4);
  EXPECT_EQ(LoadBe32(&r.data_in[0]) + 4u, r.data_in.size());
  struct {
    uint64_t lba;
    uint32_t n;
    uint8_t st;
  } want[] = {{0, 56, 0}, {56, 16, 1}, {72, 24, 0}, {96, 8, 1}, {104, 24, 0}};
  ASSERT_EQ(r.data_in.size(), 8u + 16 * std::size(want));
  for (size_t i = 0; i < std::size(want); ++i) {
    const uint8_t* e = &r.data_in[8 + 16 * i];
    EXPECT_EQ(LoadBe64(e), want[i].lba) << i;
    EXPECT_EQ(LoadBe32(e + 8), want[i].n) << i;
    EXPECT_EQ(e[12] & 0x0f, want[i].st) << i;
  }
  // Starting inside a hole; allocation for one descriptor.
  r = Do(Cdb16(0x9e, 0x12, 60, 24));
  ASSERT_EQ(r.data_in.size(), 24u);
  EXPECT_EQ(LoadBe64(&r.data_in[8]), 60u);
  EXPECT_EQ(LoadBe32(&r.data_in[16]), 12u);
  EXPECT_EQ(r.data_in[20], 1);
  // Descriptor validation: out of range, too many blocks.
  StoreBe64(&param[24], 125);
  EXPECT_SENSE(Do({0x42, 0, 0, 0, 0, 0, 0, 0, uint8_t(param.size()), 0}, param), 0x5, 0x21, 0);
  StoreBe64(&param[24], 0);
  StoreBe32(&param[32], 0xffffffff);
  EXPECT_SENSE(Do({0x42, 0, 0, 0, 0, 0, 0, 0, uint8_t(param.size()), 0}, param), 0x5, 0x21, 0);
}

TEST_F(LuTest, WriteSame) {
  // Non-zero data: written over the range.
  EXPECT_GOOD(Do(Cdb16(0x93, 0, 62, 4), Pattern(512, 42)));
  Response r = Do(Cdb10(0x28, 0, 62, 4));
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(std::vector<uint8_t>(r.data_in.begin() + i * 512, r.data_in.begin() + (i + 1) * 512),
              Pattern(512, 42));
  // UNMAP bit with zeros: a hole.
  EXPECT_GOOD(Do(Cdb10(0x2a, 0, 0, 16), Pattern(16 * 512, 1)));
  EXPECT_GOOD(Do(Cdb10(0x41, 0x08, 0, 16), std::vector<uint8_t>(512, 0)));
  EXPECT_EQ(Do(Cdb10(0x28, 0, 0, 16)).data_in, std::vector<uint8_t>(16 * 512, 0));
  r = Do(Cdb16(0x9e, 0x12, 0, 24));
  EXPECT_EQ(r.data_in[20], 1);
  // NDOB: no data, zeros.
  EXPECT_GOOD(Do(Cdb10(0x2a, 0, 20, 1), Pattern(512, 1)));
  EXPECT_GOOD(Do(Cdb16(0x93, 0x09, 20, 1)));
  EXPECT_EQ(Do(Cdb10(0x28, 0, 20, 1)).data_in, std::vector<uint8_t>(512, 0));
  // Wrong Data-Out sizes and range.
  EXPECT_SENSE(Do(Cdb10(0x41, 0, 0, 1), std::vector<uint8_t>(256, 0)), 0x5, 0x0e, 0x03);
  EXPECT_SENSE(Do(Cdb10(0x41, 0, 0, 1), std::vector<uint8_t>(1024, 0)), 0x5, 0x0e, 0x03);
  EXPECT_SENSE(Do(Cdb10(0x41, 0, 127, 2), std::vector<uint8_t>(512, 0)), 0x5, 0x21, 0x00);
}

TEST_F(LuTest, ReportSupportedOpcodes) {
  // All commands, with timeouts descriptors.
  Response r = Do({0xa3, 0x0c, 0x80, 0, 0, 0, 0, 0, 0x40, 0, 0, 0});
  EXPECT_GOOD(r);
  const uint32_t len = LoadBe32(&r.data_in[0]);
  EXPECT_EQ(len + 4, r.data_in.size());
  EXPECT_EQ(len % 20, 0u);
  bool saw_read10 = false;
  for (size_t at = 4; at < r.data_in.size(); at += 20) {
    EXPECT_EQ(r.data_in[at + 5] & 0x02, 0x02);
    EXPECT_EQ(LoadBe16(&r.data_in[at + 8]), 0x0a);
    if (r.data_in[at] == 0x28) saw_read10 = true;
  }
  EXPECT_TRUE(saw_read10);
  // One command without SA, with usage data.
  r = Do({0xa3, 0x0c, 0x01, 0x28, 0, 0, 0, 0, 0, 64, 0, 0});
  EXPECT_GOOD(r);
  EXPECT_EQ(r.data_in[1] & 0x07, 3);
  EXPECT_EQ(LoadBe16(&r.data_in[2]), 10);
  EXPECT_EQ(r.data_in[4], 0x28);
  EXPECT_EQ(r.data_in[5] & 0x18, 0x18);  // DPO, FUA
  // With SA.
  r = Do({0xa3, 0x0c, 0x02, 0x9e, 0, 0x10, 0, 0, 0, 64, 0, 0});
  EXPECT_EQ(r.data_in[1] & 0x07, 3);
  EXPECT_EQ(r.data_in[5], 0x10);
  // Unsupported opcode.
  r = Do({0xa3, 0x0c, 0x01, 0xc0, 0, 0, 0, 0, 0, 64, 0, 0});
  EXPECT_EQ(r.data_in[1] & 0x07, 1);
  r = Do({0xa3, 0x0d, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0});
  EXPECT_GOOD(r);
  EXPECT_EQ(r.data_in[0], 0xca);
}

TEST_F(LuTest, UnitAttentions) {
  lu_->AttachNexus(n1_, /*power_on=*/true);
  lu_->AttachNexus(n2_, /*power_on=*/true);
  // INQUIRY neither blocked nor consuming.
  EXPECT_GOOD(Do({0x12, 0, 0, 0, 36, 0}));
  EXPECT_SENSE(Do({0x00, 0, 0, 0, 0, 0}), 0x6, 0x29, 0x00);
  EXPECT_GOOD(Do({0x00, 0, 0, 0, 0, 0}));
  // REQUEST SENSE returns the UA as data and clears it.
  Response r = Do2({0x03, 0, 0, 0, 18, 0});
  EXPECT_GOOD(r);
  EXPECT_EQ(r.data_in[2] & 0x0f, 0x6);
  EXPECT_EQ(r.data_in[12], 0x29);
  r = Do2({0x03, 0, 0, 0, 18, 0});
  EXPECT_EQ(r.data_in[2] & 0x0f, 0x0);
  // Descriptor format when asked.
  lu_->NotifyCapacityChanged();
  r = Do2({0x03, 1, 0, 0, 252, 0});
  EXPECT_EQ(r.data_in[0], 0x72);
  EXPECT_EQ(r.data_in[2], 0x2a);
  EXPECT_EQ(r.data_in[3], 0x09);
  EXPECT_SENSE(Do(Cdb10(0x28, 0, 0, 1)), 0x6, 0x2a, 0x09);
  // LUN reset from n1: both get BUS DEVICE RESET.
  lu_->Reset(n1_);
  EXPECT_SENSE(Do({0x00, 0, 0, 0, 0, 0}), 0x6, 0x29, 0x03);
  EXPECT_GOOD(Do({0x00, 0, 0, 0, 0, 0}));
  EXPECT_SENSE(Do2({0x00, 0, 0, 0, 0, 0}), 0x6, 0x29, 0x03);
  EXPECT_GOOD(Do2({0x00, 0, 0, 0, 0, 0}));
  // A UA outranks an unknown opcode; a forgotten nexus has none.
  lu_->AddUnitAttention(n2_.id, {0x3f, 0x0e});
  EXPECT_SENSE(Do2({0xc7, 0, 0, 0, 0, 0}), 0x6, 0x3f, 0x0e);
  lu_->AddUnitAttention(n2_.id, {0x3f, 0x0e});
  lu_->ForgetNexus(n2_.id);
  EXPECT_GOOD(Do2({0x00, 0, 0, 0, 0, 0}));
}

// The transport may run its next command from inside Done: no LU lock may be
// held while Done runs.
TEST_F(LuTest, DoneMayReenter) {
  lu_->AttachNexus(n1_, true);
  std::vector<uint8_t> reg(24, 0);
  StoreBe64(&reg[8], 5);
  const std::vector<std::pair<std::vector<uint8_t>, std::vector<uint8_t>>> cmds = {
      {{0x00, 0, 0, 0, 0, 0}, {}},                       // reported UA
      {{0x03, 0, 0, 0, 18, 0}, {}},                      // REQUEST SENSE
      {{0x16, 0, 0, 0, 0, 0}, {}},                       // RESERVE(6)
      {{0x17, 0, 0, 0, 0, 0}, {}},                       // RELEASE(6)
      {{0x5f, 0x06, 0, 0, 0, 0, 0, 0, 24, 0}, reg},      // PR OUT
      {{0x5e, 0x00, 0, 0, 0, 0, 0, 0x10, 0, 0}, {}},     // PR IN
      {Cdb10(0x2a, 0, 0, 1), std::vector<uint8_t>(512)}, // WRITE
  };
  for (const auto& [cdb, data] : cmds) {
    int inner = 0;
    Command c;
    c.cdb = cdb;
    c.data_out = data;
    lu_->Execute(n1_, false, std::move(c), [&](Response) {
      Command again;
      again.cdb = {0x00, 0, 0, 0, 0, 0};
      lu_->Execute(n1_, false, std::move(again), [&](Response r) { inner += r.status == ScsiStatus::kGood; });
    });
    EXPECT_EQ(inner, 1) << int(cdb[0]);
  }
}

TEST_F(LuTest, SynchronizeCacheAndFua) {
  EXPECT_GOOD(Do(Cdb10(0x2a, 0x08, 0, 1), Pattern(512, 3)));
  EXPECT_GOOD(Do(Cdb16(0x8a, 0x08, 100, 1), Pattern(512, 4)));
  EXPECT_GOOD(Do(Cdb10(0x35, 0, 0, 0)));
  EXPECT_GOOD(Do(Cdb16(0x91, 0, 0, 128)));
}

TEST(LuThreadPoolTest, ConcurrentWritesAndCompareAndWrite) {
  TempDir dir;
  std::string a = dir.File("a", 256 * 512), b = dir.File("b", 256 * 512);
  auto v = volume::MetaVolume::Open({{a, 0, 256 * 512}, {b, 0, 256 * 512}},
                                    {.block_size = 512, .read_only = false, .id = "pool"});
  ASSERT_TRUE(v.ok());
  auto pool = MakeThreadPool(4);
  LogicalUnit lu(*v, pool.get());
  Nexus n{77, "i", "t"};
  // Many threads write distinct blocks; then each is read back.
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (uint32_t blk = t; blk < 512; blk += 8) {
        std::vector<uint8_t> d(512, uint8_t(blk));
        Response r = RunCmd(lu, n, Cdb10(0x2a, 0, blk, 1), d);
        EXPECT_EQ(r.status, ScsiStatus::kGood);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (uint32_t blk = 0; blk < 512; blk += 37) {
    Response r = RunCmd(lu, n, Cdb10(0x28, 0, blk, 1));
    EXPECT_EQ(r.data_in, std::vector<uint8_t>(512, uint8_t(blk)));
  }
  // COMPARE AND WRITE as a lock: 8 threads each increment a counter in
  // block 0 100 times, retrying on MISCOMPARE. No increment may be lost.
  RunCmd(lu, n, Cdb10(0x2a, 0, 0, 1), std::vector<uint8_t>(512, 0));
  threads.clear();
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100;) {
        Response cur = RunCmd(lu, n, Cdb10(0x28, 0, 0, 1));
        std::vector<uint8_t> buf = cur.data_in;
        std::vector<uint8_t> next = cur.data_in;
        StoreBe32(&next[0], LoadBe32(&next[0]) + 1);
        buf.insert(buf.end(), next.begin(), next.end());
        std::vector<uint8_t> cdb(16, 0);
        cdb[0] = 0x89;
        cdb[13] = 1;
        Response r = RunCmd(lu, n, cdb, buf);
        if (r.status == ScsiStatus::kGood) ++i;
      }
    });
  }
  for (auto& t : threads) t.join();
  Response r = RunCmd(lu, n, Cdb10(0x28, 0, 0, 1));
  EXPECT_EQ(LoadBe32(&r.data_in[0]), 800u);
}

}  // namespace
}  // namespace vsl::scsi
