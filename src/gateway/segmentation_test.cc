#include "gateway/segmentation.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vsl::gateway {
namespace {

using S = DataInSegment;

TEST(PlanDataIn, Table) {
  struct Row {
    std::string name;
    uint32_t total, max_segment, max_burst;
    std::vector<S> want;
  };
  const std::vector<Row> rows = {
      {"nothing", 0, 8192, 65536, {}},
      {"one PDU", 512, 8192, 65536, {{0, 512, true, true}}},
      {"exact segment", 8192, 8192, 65536, {{0, 8192, true, true}}},
      {"split by segment", 20000, 8192, 65536,
       {{0, 8192, false, false}, {8192, 8192, false, false}, {16384, 3616, true, true}}},
      {"split by burst", 12288, 8192, 4096,
       {{0, 4096, true, false}, {4096, 4096, true, false}, {8192, 4096, true, true}}},
      {"burst not a multiple of segment", 10000, 4096, 6000,
       {{0, 4096, false, false}, {4096, 1904, true, false}, {6000, 4000, true, true}}},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    EXPECT_EQ(PlanDataIn(r.total, r.max_segment, r.max_burst), r.want);
  }
}

TEST(PlanDataIn, CoversEverythingWithinLimits) {
  for (uint32_t total : {1u, 511u, 4096u, 65537u, 1048576u + 3}) {
    for (uint32_t seg : {512u, 8192u, 262144u}) {
      for (uint32_t burst : {512u, 65536u, 1048576u}) {
        auto plan = PlanDataIn(total, seg, burst);
        uint32_t next = 0, in_burst = 0;
        for (const S& s : plan) {
          EXPECT_EQ(s.offset, next);
          EXPECT_LE(s.length, seg);
          EXPECT_GT(s.length, 0u);
          in_burst += s.length;
          EXPECT_LE(in_burst, burst);
          if (s.final) in_burst = 0;
          next += s.length;
        }
        EXPECT_EQ(next, total);
        ASSERT_FALSE(plan.empty());
        EXPECT_TRUE(plan.back().last && plan.back().final);
      }
    }
  }
}

TEST(PlanR2Ts, Table) {
  EXPECT_EQ(PlanR2Ts(0, 0, 65536), std::vector<R2tRange>{});
  EXPECT_EQ(PlanR2Ts(0, 4096, 65536), (std::vector<R2tRange>{{0, 4096}}));
  EXPECT_EQ(PlanR2Ts(8192, 8192 + 3 * 4096 + 1, 4096),
            (std::vector<R2tRange>{{8192, 4096}, {12288, 4096}, {16384, 4096}, {20480, 1}}));
  EXPECT_EQ(PlanR2Ts(100, 50, 4096), std::vector<R2tRange>{});
}

TEST(UnsolicitedEnd, Table) {
  struct Row {
    std::string name;
    uint32_t edtl, immediate, first_burst;
    bool initial_r2t, final_bit;
    uint32_t want;
  };
  const std::vector<Row> rows = {
      {"InitialR2T=Yes: only immediate", 65536, 8192, 65536, true, false, 8192},
      {"F bit: only immediate", 65536, 8192, 65536, false, true, 8192},
      {"first burst", 1 << 20, 8192, 65536, false, false, 65536},
      {"small write", 4096, 0, 65536, false, false, 4096},
      {"no immediate, no unsolicited", 4096, 0, 65536, true, true, 0},
      {"immediate beyond EDTL is cut", 512, 1024, 65536, true, true, 512},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    EXPECT_EQ(UnsolicitedEnd(r.edtl, r.immediate, r.first_burst, r.initial_r2t, r.final_bit), r.want);
  }
}

TEST(CdbTransferLength, Table) {
  std::vector<uint8_t> read10 = {0x28, 0, 0, 0, 0, 0x10, 0, 0, 8, 0};
  std::vector<uint8_t> write6_zero = {0x0a, 0, 0, 0, 0, 0};
  std::vector<uint8_t> write16(16, 0);
  write16[0] = 0x8a;
  write16[13] = 3;
  std::vector<uint8_t> tur = {0x00, 0, 0, 0, 0, 0};
  std::vector<uint8_t> short10 = {0x2a, 0, 0};
  EXPECT_EQ(CdbTransferLength(read10, 512), std::optional<uint64_t>(8 * 512));
  EXPECT_EQ(CdbTransferLength(write6_zero, 512), std::optional<uint64_t>(256 * 512));
  EXPECT_EQ(CdbTransferLength(write16, 4096), std::optional<uint64_t>(3 * 4096));
  EXPECT_EQ(CdbTransferLength(tur, 512), std::nullopt);
  EXPECT_EQ(CdbTransferLength(short10, 512), std::nullopt);
  EXPECT_EQ(Residual(4096, 4096), 0);
  EXPECT_EQ(Residual(4096, 1024), 3072);
  EXPECT_EQ(Residual(512, 1024), -512);
}

TEST(FitWriteToEdtl, Table) {
  std::vector<uint8_t> w10 = {0x2a, 0, 0, 0, 0, 9, 0, 0, 2, 0};  // 2 blocks at LBA 9
  // EDTL matches: nothing to fit.
  EXPECT_FALSE(FitWriteToEdtl(w10, 1024, 512).has_value());
  // EDTL larger: only SPDTL bytes are written, CDB unchanged.
  auto more = FitWriteToEdtl(w10, 4096, 512);
  ASSERT_TRUE(more.has_value());
  EXPECT_EQ(more->data_length, 1024u);
  EXPECT_EQ(more->cdb, w10);
  EXPECT_FALSE(more->skip);
  // EDTL smaller: the CDB shrinks to the blocks EDTL covers.
  auto less = FitWriteToEdtl(w10, 512, 512);
  ASSERT_TRUE(less.has_value());
  EXPECT_EQ(less->data_length, 512u);
  EXPECT_EQ(less->cdb[8], 1);
  EXPECT_EQ(less->cdb[5], 9);
  // Less than a block: nothing is written at all.
  auto none = FitWriteToEdtl(w10, 200, 512);
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->skip);
  EXPECT_EQ(none->data_length, 0u);
  std::vector<uint8_t> w16(16, 0);
  w16[0] = 0x8a;
  w16[13] = 4;
  auto w16fit = FitWriteToEdtl(w16, 3 * 4096, 4096);
  ASSERT_TRUE(w16fit.has_value());
  EXPECT_EQ(w16fit->cdb[13], 3);
  // Reads and other opcodes are not touched.
  std::vector<uint8_t> r10 = {0x28, 0, 0, 0, 0, 0, 0, 0, 2, 0};
  EXPECT_FALSE(FitWriteToEdtl(r10, 512, 512).has_value());
}

}  // namespace
}  // namespace vsl::gateway
