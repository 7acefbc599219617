// EXTENDED COPY (LID1) and RECEIVE COPY RESULTS through Target: copies
// between a host's LUs, the host's namespace as the only place designators
// are resolved (another host's LU is unreachable and untouched), parameter
// list checks, and the Third-party Copy VPD page.
#include <sys/stat.h>

#include <cstring>

#include "gateway/scsi/scsi_test_util.h"

namespace vsl::scsi {
namespace {

using namespace testing;

constexpr uint32_t kBlocks = 8192;  // 4 MiB of 512-byte blocks per LU
constexpr uint32_t kBs = 512;

std::vector<uint8_t> Inquiry(uint8_t page) { return {0x12, 0x01, page, 0x04, 0x00, 0}; }

std::vector<uint8_t> XcopyCdb(uint32_t len) {
  std::vector<uint8_t> c(16, 0);
  c[0] = 0x83;
  StoreBe32(&c[10], len);
  return c;
}

std::vector<uint8_t> RcrCdb(uint8_t sa, uint8_t list_id, uint32_t alloc = 1024) {
  std::vector<uint8_t> c(16, 0);
  c[0] = 0x84;
  c[1] = sa;
  c[2] = list_id;
  StoreBe32(&c[10], alloc);
  return c;
}

// A block-to-block segment descriptor.
struct Seg {
  uint16_t src = 0, dst = 1;
  uint16_t blocks = 0;
  uint64_t src_lba = 0, dst_lba = 0;
};

// An EXTENDED COPY parameter list: identification CSCDs for `naas`, then
// `segs`. `usage` is LIST ID USAGE (0: hold the results).
std::vector<uint8_t> XcopyParams(const std::vector<std::vector<uint8_t>>& naas,
                                 const std::vector<Seg>& segs, uint8_t list_id = 1,
                                 uint8_t usage = 0, uint32_t block_len = kBs) {
  std::vector<uint8_t> p(16, 0);
  p[0] = list_id;
  p[1] = uint8_t(usage << 3);
  for (const auto& naa : naas) {
    uint8_t d[32] = {0xe4, 0x00};
    d[4] = 0x01;  // binary
    d[5] = 0x03;  // LU association, NAA
    d[7] = uint8_t(naa.size());
    std::memcpy(d + 8, naa.data(), std::min<size_t>(naa.size(), 16));
    StoreBe24(&d[29], block_len);
    p.insert(p.end(), d, d + 32);
  }
  StoreBe16(&p[2], uint16_t(p.size() - 16));
  const size_t seg_at = p.size();
  for (const Seg& s : segs) {
    uint8_t d[28] = {0x02, 0x00};
    StoreBe16(&d[2], 0x18);
    StoreBe16(&d[4], s.src);
    StoreBe16(&d[6], s.dst);
    StoreBe16(&d[10], s.blocks);
    StoreBe64(&d[12], s.src_lba);
    StoreBe64(&d[20], s.dst_lba);
    p.insert(p.end(), d, d + 28);
  }
  StoreBe32(&p[8], uint32_t(p.size() - seg_at));
  return p;
}

class XcopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // LUs 0 and 1 belong to host A (LUNs 0 and 1), LU 2 to host B (LUN 0).
    for (int i = 0; i < 3; ++i) {
      auto v = volume::MetaVolume::Open(
          {{dir_.File("f" + std::to_string(i), uint64_t(kBlocks) * kBs, uint8_t(0x10 * (i + 1))), 0,
            uint64_t(kBlocks) * kBs}},
          {.block_size = kBs, .read_only = false, .id = "x" + std::to_string(i)});
      ASSERT_TRUE(v.ok());
      lus_.push_back(std::make_shared<LogicalUnit>(*v, InlineExecutor()));
    }
    a_.MapLun(0, lus_[0], false);
    a_.MapLun(1, lus_[1], false);
    b_.MapLun(0, lus_[2], false);
    na_ = a_.AddNexus("iqn.x:a,i,0x1", "iqn.2026-11.org.vsl:a,t,0x1");
    nb_ = b_.AddNexus("iqn.x:b,i,0x1", "iqn.2026-11.org.vsl:b,t,0x1");
    // Clear the POWER ON unit attentions.
    for (uint64_t lun : {0, 1}) RunCmd(a_, na_, lun, {0, 0, 0, 0, 0, 0});
    RunCmd(b_, nb_, 0, {0, 0, 0, 0, 0, 0});
  }

  // The NAA designator of `lun` as `n` sees it in the Device Identification page.
  static std::vector<uint8_t> Naa(Target& t, const Nexus& n, uint64_t lun) {
    Response r = RunCmd(t, n, lun, Inquiry(0x83));
    EXPECT_EQ(r.status, ScsiStatus::kGood);
    for (size_t at = 4; at + 4 <= r.data_in.size(); at += 4 + r.data_in[at + 3]) {
      if ((r.data_in[at + 1] & 0x3f) == 0x03)
        return {r.data_in.begin() + at + 4, r.data_in.begin() + at + 4 + r.data_in[at + 3]};
    }
    ADD_FAILURE() << "no NAA designator";
    return {};
  }
  std::vector<uint8_t> Read(Target& t, const Nexus& n, uint64_t lun, uint64_t lba,
                            uint32_t blocks) {
    Response r = RunCmd(t, n, lun, Cdb16(0x88, 0, lba, blocks));
    EXPECT_EQ(r.status, ScsiStatus::kGood);
    return r.data_in;
  }
  void Write(Target& t, const Nexus& n, uint64_t lun, uint64_t lba, const std::vector<uint8_t>& d) {
    EXPECT_GOOD(RunCmd(t, n, lun, Cdb16(0x8a, 0, lba, uint32_t(d.size() / kBs)), d));
  }
  Response Xcopy(Target& t, const Nexus& n, const std::vector<uint8_t>& params, uint64_t lun = 0) {
    Response r = RunCmd(t, n, lun, XcopyCdb(uint32_t(params.size())), params);
    ExpectWellFormed(r);
    return r;
  }
  static std::vector<uint8_t> Pattern(uint32_t blocks, uint8_t seed) {
    std::vector<uint8_t> d(size_t(blocks) * kBs);
    for (size_t i = 0; i < d.size(); ++i) d[i] = uint8_t(seed + i * 7 + i / 4096);
    return d;
  }

  TempDir dir_;
  std::vector<std::shared_ptr<LogicalUnit>> lus_;
  Target a_{"iqn.2026-11.org.vsl:a"};
  Target b_{"iqn.2026-11.org.vsl:b"};
  Nexus na_, nb_;
};

TEST_F(XcopyTest, CopiesBetweenTwoLusOfOneHost) {
  const auto src = Pattern(3000, 5);  // 1.5 MiB: more than one chunk
  Write(a_, na_, 0, 100, src);
  const auto naa0 = Naa(a_, na_, 0), naa1 = Naa(a_, na_, 1);
  ASSERT_EQ(naa0.size(), 16u);
  ASSERT_NE(naa0, naa1);
  EXPECT_GOOD(Xcopy(a_, na_, XcopyParams({naa0, naa1}, {{0, 1, 3000, 100, 4000}}, 7)));
  EXPECT_EQ(Read(a_, na_, 1, 4000, 3000), src);
  // The blocks around the copy are untouched.
  EXPECT_EQ(Read(a_, na_, 1, 3999, 1), std::vector<uint8_t>(kBs, 0x20));
  EXPECT_EQ(Read(a_, na_, 1, 7000, 1), std::vector<uint8_t>(kBs, 0x20));
  // Sent to LUN 1 (the copy manager need not be source or destination).
  EXPECT_GOOD(Xcopy(a_, na_, XcopyParams({naa1, naa0}, {{0, 1, 10, 4000, 0}}, 8), 1));
  EXPECT_EQ(Read(a_, na_, 0, 0, 10), std::vector<uint8_t>(src.begin(), src.begin() + 10 * kBs));

  // COPY STATUS for list 7: completed, one segment, 3000 blocks moved.
  Response st = RunCmd(a_, na_, 0, RcrCdb(0x00, 7));
  EXPECT_GOOD(st);
  ASSERT_EQ(st.data_in.size(), 12u);
  EXPECT_EQ(LoadBe32(&st.data_in[0]), 8u);
  EXPECT_EQ(st.data_in[4], 0x01);
  EXPECT_EQ(LoadBe16(&st.data_in[5]), 1);
  EXPECT_EQ(st.data_in[7], 0);
  EXPECT_EQ(LoadBe32(&st.data_in[8]), 3000u * kBs);
  // No copy with list 9; list 7 is not another nexus's.
  EXPECT_SENSE(RunCmd(a_, na_, 0, RcrCdb(0x00, 9)), 0x5, 0x24, 0x00);
  Nexus other = a_.AddNexus("iqn.x:a,i,0x2", "iqn.2026-11.org.vsl:a,t,0x1");
  RunCmd(a_, other, 0, {0, 0, 0, 0, 0, 0});
  EXPECT_SENSE(RunCmd(a_, other, 0, RcrCdb(0x00, 7)), 0x5, 0x24, 0x00);
  // LIST ID USAGE 01b: the result is not held.
  EXPECT_GOOD(Xcopy(a_, na_, XcopyParams({naa0, naa1}, {{0, 1, 1, 0, 0}}, 11, 1)));
  EXPECT_SENSE(RunCmd(a_, na_, 0, RcrCdb(0x00, 11)), 0x5, 0x24, 0x00);
}

TEST_F(XcopyTest, OverlappingCopyWithinOneLu) {
  const auto src = Pattern(3000, 9);
  Write(a_, na_, 0, 0, src);
  const auto naa0 = Naa(a_, na_, 0);
  // Destination above the source, overlapping, across chunk boundaries.
  EXPECT_GOOD(Xcopy(a_, na_, XcopyParams({naa0}, {{0, 0, 3000, 0, 100}})));
  EXPECT_EQ(Read(a_, na_, 0, 100, 3000), src);
  // And below.
  EXPECT_GOOD(Xcopy(a_, na_, XcopyParams({naa0}, {{0, 0, 3000, 100, 50}})));
  EXPECT_EQ(Read(a_, na_, 0, 50, 3000), src);
}

// The copy runs inside the kernel (copy_file_range), not through a buffer of
// the gateway's: a source range that is mostly a hole arrives as a hole, so
// the destination's file gives its blocks back instead of gaining zeros.
TEST_F(XcopyTest, CopyIsOffloadedAndKeepsHoles) {
  auto allocated = [&](const char* name) {
    struct stat st;
    EXPECT_EQ(::stat((dir_.path() + "/" + name).c_str(), &st), 0);
    return uint64_t(st.st_blocks) * 512;
  };
  // 2 MiB of LU 0 deallocated (UNMAP), 16 blocks of data in the middle.
  std::vector<uint8_t> unmap(24, 0);
  StoreBe16(&unmap[0], 22);
  StoreBe16(&unmap[2], 16);
  StoreBe64(&unmap[8], 0);
  StoreBe32(&unmap[16], 4096);
  EXPECT_GOOD(RunCmd(a_, na_, 0, {0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0}, unmap));
  const auto island = Pattern(16, 3);
  Write(a_, na_, 0, 2000, island);
  const uint64_t before = allocated("f1");
  ASSERT_GE(before, uint64_t(kBlocks) * kBs);  // LU 1 is fully written
  EXPECT_GOOD(Xcopy(a_, na_, XcopyParams({Naa(a_, na_, 0), Naa(a_, na_, 1)}, {{0, 1, 4096, 0, 0}})));
  std::vector<uint8_t> want(size_t(4096) * kBs, 0);
  std::copy(island.begin(), island.end(), want.begin() + 2000 * kBs);
  EXPECT_EQ(Read(a_, na_, 1, 0, 4096), want);
  EXPECT_EQ(Read(a_, na_, 1, 4096, 1), std::vector<uint8_t>(kBs, 0x20));
  // A buffered copy would have rewritten all 2 MiB; this one freed most of it.
  EXPECT_LE(allocated("f1"), before - (1u << 20)) << "before " << before;
}

// The class of LIO's CVE-2020-28374: host A names host B's LU.
TEST_F(XcopyTest, AnotherHostsLuIsUnreachable) {
  const auto secret = Pattern(16, 77);
  Write(b_, nb_, 0, 0, secret);
  const auto naa_b = Naa(b_, nb_, 0);
  const auto naa0 = Naa(a_, na_, 0), naa1 = Naa(a_, na_, 1);
  const auto a0_before = Read(a_, na_, 0, 0, 16), a1_before = Read(a_, na_, 1, 0, 16);

  // B's LU as the source, A's as the destination: refused, nothing read.
  Response r = Xcopy(a_, na_, XcopyParams({naa_b, naa0}, {{0, 1, 16, 0, 0}}));
  EXPECT_SENSE(r, 0xa, 0x0d, 0x02);
  // B's LU as the destination: refused, nothing written.
  r = Xcopy(a_, na_, XcopyParams({naa1, naa_b}, {{0, 1, 16, 0, 0}}));
  EXPECT_SENSE(r, 0xa, 0x0d, 0x02);
  // Named but unused by any segment: still refused.
  r = Xcopy(a_, na_, XcopyParams({naa0, naa1, naa_b}, {{0, 1, 1, 0, 0}}));
  EXPECT_SENSE(r, 0xa, 0x0d, 0x02);
  // A designator that is no LU at all, and the right bytes under another type.
  auto bogus = naa0;
  bogus[15] ^= 0xff;
  EXPECT_SENSE(Xcopy(a_, na_, XcopyParams({bogus, naa0}, {{0, 1, 1, 0, 0}})), 0xa, 0x0d, 0x02);
  auto as_eui = XcopyParams({naa0, naa1}, {{0, 1, 1, 0, 0}});
  as_eui[16 + 5] = 0x02;  // EUI-64 type with the NAA bytes
  EXPECT_SENSE(Xcopy(a_, na_, as_eui), 0xa, 0x0d, 0x02);

  EXPECT_EQ(Read(b_, nb_, 0, 0, 16), secret);
  EXPECT_EQ(Read(a_, na_, 0, 0, 16), a0_before);
  EXPECT_EQ(Read(a_, na_, 1, 0, 16), a1_before);
  // Held results: none (no copy started).
  EXPECT_SENSE(RunCmd(a_, na_, 0, RcrCdb(0x00, 1)), 0x5, 0x24, 0x00);
  // Unmapping takes an LU out of the host's namespace.
  ASSERT_TRUE(a_.UnmapLun(1).ok());
  RunCmd(a_, na_, 0, {0, 0, 0, 0, 0, 0});  // REPORTED LUNS DATA HAS CHANGED
  EXPECT_SENSE(Xcopy(a_, na_, XcopyParams({naa0, naa1}, {{0, 1, 1, 0, 0}})), 0xa, 0x0d, 0x02);
  // An LU used alone (no Target, no scope) reaches nothing.
  Response alone = RunCmd(*lus_[0], na_, XcopyCdb(0), {});
  EXPECT_GOOD(alone);
  auto p = XcopyParams({naa0}, {{0, 0, 1, 0, 1}});
  EXPECT_SENSE(RunCmd(*lus_[0], na_, XcopyCdb(uint32_t(p.size())), p), 0xa, 0x0d, 0x02);
}

TEST_F(XcopyTest, ParameterListChecks) {
  const auto naa0 = Naa(a_, na_, 0), naa1 = Naa(a_, na_, 1);
  const auto before = Read(a_, na_, 1, 0, 4);
  const auto good = XcopyParams({naa0, naa1}, {{0, 1, 4, 0, 0}});
  struct Case {
    const char* what;
    std::vector<uint8_t> params;
    uint32_t len;  // the CDB's parameter list length
    uint8_t key, asc, ascq;
  };
  auto with = [&](size_t at, uint8_t v) {
    auto p = good;
    p[at] = v;
    return p;
  };
  std::vector<Seg> too_many_segs(17, Seg{0, 1, 1, 0, 0});
  std::vector<std::vector<uint8_t>> too_many_cscds(17, naa0);
  const Case cases[] = {
      {"header cut short", good, 15, 0x5, 0x1a, 0x00},
      {"descriptors past the list", good, uint32_t(good.size() - 1), 0x5, 0x1a, 0x00},
      {"list id usage 11b", with(1, 0x18), uint32_t(good.size()), 0x5, 0x26, 0x00},
      {"inline data",
       [&] {
         auto p = good;
         StoreBe32(&p[12], 4);
         p.resize(p.size() + 4);
         return p;
       }(),
       uint32_t(good.size() + 4), 0x5, 0x26, 0x00},
      {"FC N_Port CSCD", with(16, 0xe0), uint32_t(good.size()), 0x5, 0x26, 0x07},
      {"stream segment", with(80, 0x03), uint32_t(good.size()), 0x5, 0x26, 0x09},
      {"segment length field", with(83, 0x10), uint32_t(good.size()), 0x5, 0x26, 0x00},
      {"peripheral type", with(17, 0x01), uint32_t(good.size()), 0x5, 0x26, 0x00},
      {"block length", with(16 + 30, 0x10), uint32_t(good.size()), 0x5, 0x26, 0x00},
      {"too many CSCDs", XcopyParams(too_many_cscds, {{0, 1, 1, 0, 0}}), 0, 0x5, 0x26, 0x06},
      {"too many segments", XcopyParams({naa0, naa1}, too_many_segs), 0, 0x5, 0x26, 0x08},
      {"descriptor list over the maximum",
       XcopyParams(too_many_cscds, std::vector<Seg>(20, Seg{0, 1, 1, 0, 0})), 0, 0x5, 0x1a, 0x00},
      {"destination index", XcopyParams({naa0, naa1}, {{0, 2, 4, 0, 0}}), 0, 0xa, 0x0d, 0x02},
      {"source past the end", XcopyParams({naa0, naa1}, {{0, 1, 4, kBlocks - 3, 0}}), 0, 0xa, 0x00,
       0x00},
      {"destination past the end", XcopyParams({naa0, naa1}, {{0, 1, 4, 0, kBlocks - 1}}), 0, 0xa,
       0x00, 0x00},
      {"later segment past the end",
       XcopyParams({naa0, naa1}, {{0, 1, 4, 0, 0}, {0, 1, 4, 0, ~0ull}}), 0, 0xa, 0x00, 0x00},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const uint32_t len = c.len ? c.len : uint32_t(c.params.size());
    Response r = RunCmd(a_, na_, 0, XcopyCdb(len), c.params);
    ExpectWellFormed(r);
    EXPECT_SENSE(r, c.key, c.asc, c.ascq);
  }
  // None of them wrote anything (the first segment of the last one is valid).
  EXPECT_EQ(Read(a_, na_, 1, 0, 4), before);
  // Reserved CDB bits, and an unknown service action.
  auto cdb = XcopyCdb(uint32_t(good.size()));
  cdb[2] = 1;
  EXPECT_SENSE(RunCmd(a_, na_, 0, cdb, good), 0x5, 0x24, 0x00);
  cdb = XcopyCdb(uint32_t(good.size()));
  cdb[1] = 0x01;  // LID4: not offered
  EXPECT_SENSE(RunCmd(a_, na_, 0, cdb, good), 0x5, 0x24, 0x00);
  EXPECT_EQ(Read(a_, na_, 1, 0, 4), before);
}

TEST_F(XcopyTest, WriteProtectionAndReservations) {
  const auto naa0 = Naa(a_, na_, 0), naa1 = Naa(a_, na_, 1);
  const auto before = Read(a_, na_, 1, 0, 4);
  // LU 1 mapped read-only: a copy into it is refused; out of it is fine.
  a_.MapLun(1, lus_[1], true);
  RunCmd(a_, na_, 0, {0, 0, 0, 0, 0, 0});
  RunCmd(a_, na_, 1, {0, 0, 0, 0, 0, 0});
  EXPECT_SENSE(Xcopy(a_, na_, XcopyParams({naa0, naa1}, {{0, 1, 4, 0, 0}})), 0x7, 0x27, 0x00);
  EXPECT_GOOD(Xcopy(a_, na_, XcopyParams({naa1, naa0}, {{0, 1, 4, 0, 0}})));
  a_.MapLun(1, lus_[1], false);
  RunCmd(a_, na_, 0, {0, 0, 0, 0, 0, 0});
  RunCmd(a_, na_, 1, {0, 0, 0, 0, 0, 0});
  // Another nexus holds RESERVE(6) on LU 1: the copy into it conflicts.
  Nexus other = a_.AddNexus("iqn.x:a,i,0x9", "iqn.2026-11.org.vsl:a,t,0x1");
  RunCmd(a_, other, 1, {0, 0, 0, 0, 0, 0});
  EXPECT_GOOD(RunCmd(a_, other, 1, {0x16, 0, 0, 0, 0, 0}));
  EXPECT_EQ(Xcopy(a_, na_, XcopyParams({naa0, naa1}, {{0, 1, 4, 0, 0}})).status,
            ScsiStatus::kReservationConflict);
  EXPECT_EQ(Read(a_, other, 1, 0, 4), before);
}

TEST_F(XcopyTest, OperatingParametersAndVpd) {
  Response op = RunCmd(a_, na_, 0, RcrCdb(0x03, 0));
  EXPECT_GOOD(op);
  ASSERT_GE(op.data_in.size(), 46u);
  EXPECT_EQ(LoadBe32(&op.data_in[0]), op.data_in.size() - 4);
  EXPECT_EQ(LoadBe16(&op.data_in[8]), 16);   // CSCD descriptors
  EXPECT_EQ(LoadBe16(&op.data_in[10]), 16);  // segment descriptors
  EXPECT_EQ(LoadBe32(&op.data_in[12]), 1024u);
  EXPECT_EQ(LoadBe32(&op.data_in[20]), 0u);  // no inline data
  EXPECT_EQ(op.data_in[43], 2);
  EXPECT_EQ(op.data_in[44], 0x02);
  EXPECT_EQ(op.data_in[45], 0xe4);
  // The allocation length truncates.
  EXPECT_EQ(RunCmd(a_, na_, 0, RcrCdb(0x03, 0, 8)).data_in.size(), 8u);

  Response sup = RunCmd(a_, na_, 0, Inquiry(0x00));
  EXPECT_GOOD(sup);
  std::vector<uint8_t> pages(sup.data_in.begin() + 4, sup.data_in.end());
  EXPECT_NE(std::find(pages.begin(), pages.end(), 0x8f), pages.end());
  Response tpc = RunCmd(a_, na_, 0, Inquiry(0x8f));
  EXPECT_GOOD(tpc);
  const auto& d = tpc.data_in;
  ASSERT_GE(d.size(), 4u);
  EXPECT_EQ(d[1], 0x8f);
  EXPECT_EQ(LoadBe16(&d[2]), d.size() - 4);
  // Supported Commands descriptor: 0x83/{0x00}, 0x84/{0x00, 0x03}.
  ASSERT_GE(d.size(), 16u);
  EXPECT_EQ(LoadBe16(&d[4]), 0x0001);
  EXPECT_EQ(LoadBe16(&d[6]) % 4, 0);
  const std::vector<uint8_t> cmds(d.begin() + 9, d.begin() + 9 + d[8]);
  EXPECT_EQ(cmds, (std::vector<uint8_t>{0x83, 1, 0x00, 0x84, 2, 0x00, 0x03}));
  // REPORT SUPPORTED OPERATION CODES knows both.
  std::vector<uint8_t> rsoc = {0xa3, 0x0c, 0x02, 0x84, 0x00, 0x03, 0, 0, 0x10, 0, 0, 0};
  EXPECT_GOOD(RunCmd(a_, na_, 0, rsoc));
}

// An executor that keeps work until told to run it: copies stay in flight.
class HoldingExecutor final : public IoExecutor {
 public:
  void Run(std::function<void()> work) override { queued.push_back(std::move(work)); }
  void RunAll() {
    auto q = std::move(queued);
    queued.clear();
    for (auto& w : q) w();
  }
  std::vector<std::function<void()>> queued;
};

TEST(XcopyConcurrency, AtMostTheAdvertisedCopiesAtOnce) {
  TempDir dir;
  HoldingExecutor io;
  auto v = volume::MetaVolume::Open({{dir.File("f", 64 * kBs, 0x31), 0, 64 * kBs}},
                                    {.block_size = kBs, .read_only = false, .id = "cc"});
  ASSERT_TRUE(v.ok());
  auto lu = std::make_shared<LogicalUnit>(*v, &io);
  Target t("iqn.2026-11.org.vsl:c");
  t.MapLun(0, lu, false);
  Nexus n = t.AddNexus("iqn.x:c,i,0x1", "iqn.2026-11.org.vsl:c,t,0x1");
  RunCmd(t, n, 0, {0, 0, 0, 0, 0, 0});
  Response inq = RunCmd(t, n, 0, Inquiry(0x83));
  ASSERT_EQ(inq.status, ScsiStatus::kGood);
  const std::vector<uint8_t> naa(inq.data_in.begin() + 8, inq.data_in.begin() + 24);
  // OPERATING PARAMETERS says how many copies may run at once.
  Response op = RunCmd(t, n, 0, RcrCdb(0x03, 0));
  ASSERT_GE(op.data_in.size(), 37u);
  const int max = op.data_in[36];
  ASSERT_GT(max, 0);
  EXPECT_EQ(LoadBe16(&op.data_in[34]), max);

  auto params = XcopyParams({naa}, {{0, 0, 1, 0, 1}});
  std::vector<Response> got;
  auto send = [&] {
    Command c;
    c.cdb = XcopyCdb(uint32_t(params.size()));
    c.data_out = params;
    t.Execute(n, std::move(c), [&got](Response r) { got.push_back(std::move(r)); });
  };
  for (int i = 0; i < max; ++i) send();
  EXPECT_TRUE(got.empty());  // all in flight
  send();                    // one too many
  ASSERT_EQ(got.size(), 1u);
  EXPECT_SENSE(got[0], 0x5, 0x55, 0x03);
  io.RunAll();
  ASSERT_EQ(got.size(), size_t(max) + 1);
  for (int i = 1; i <= max; ++i) EXPECT_GOOD(got[i]);
  send();  // room again
  io.RunAll();
  ASSERT_EQ(got.size(), size_t(max) + 2);
  EXPECT_GOOD(got.back());
}

}  // namespace
}  // namespace vsl::scsi
