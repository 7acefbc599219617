// Table tests of CDB decoding: CDB bytes -> status, sense and field pointer.
#include "gateway/scsi/cdb.h"
#include "gateway/scsi/scsi_test_util.h"
#include "gateway/scsi/sense.h"

namespace vsl::scsi {
namespace {

using namespace testing;
using testing::ParseSense;

TEST(SenseTest, FixedFormat) {
  Sense s = InvalidCdbField(7, 3);
  auto b = s.Encode();
  ASSERT_EQ(b.size(), 18u);
  EXPECT_EQ(b[0], 0x70);
  EXPECT_EQ(b[2], 0x05);
  EXPECT_EQ(b[7], 10);
  EXPECT_EQ(b[12], 0x24);
  EXPECT_EQ(b[13], 0x00);
  EXPECT_EQ(b[15], 0x80 | 0x40 | 0x08 | 3);
  EXPECT_EQ(LoadBe16(&b[16]), 7);
  Sense p = InvalidParamField(20);
  b = p.Encode();
  EXPECT_EQ(b[12], 0x26);
  EXPECT_EQ(b[15], 0x80);  // parameter list, no bit pointer
  EXPECT_EQ(LoadBe16(&b[16]), 20);
  Sense m = MakeSense(SenseKey::kMiscompare, kMiscompareDuringVerify);
  m.has_info = true;
  m.info = 513;
  b = m.Encode();
  EXPECT_EQ(b[0], 0xf0);
  EXPECT_EQ(LoadBe32(&b[3]), 513u);
  auto d = EncodeDescriptorSense(m);
  EXPECT_EQ(d[0], 0x72);
  EXPECT_EQ(d[1], 0x0e);
  EXPECT_EQ(d[7], 12);
  EXPECT_EQ(LoadBe64(&d[12]), 513u);
}

TEST(LunTest, EncodeDecode) {
  struct {
    uint64_t lun, wire;
  } cases[] = {{0, 0}, {1, 0x0001000000000000}, {255, 0x00ff000000000000},
               {256, 0x4100000000000000}, {16383, 0x7fff000000000000}};
  for (auto c : cases) {
    EXPECT_EQ(EncodeLun(c.lun), c.wire) << c.lun;
    auto d = DecodeLun(c.wire);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, c.lun);
  }
  EXPECT_FALSE(DecodeLun(0x8000000000000000).ok());    // logical unit addressing
  EXPECT_FALSE(DecodeLun(0x0001000100000000).ok());    // second level
  EXPECT_FALSE(DecodeLun(0x0100000000000000).ok());    // bus 1
}

TEST(CdbTableTest, EveryOpIsFindableAndSelfConsistent) {
  for (const OpInfo& op : SupportedOps()) {
    EXPECT_EQ(op.usage[0], op.opcode) << op.name;
    std::vector<uint8_t> cdb(op.cdb_length, 0);
    cdb[0] = op.opcode;
    if (op.service_action >= 0) cdb[1] = uint8_t(op.service_action);
    EXPECT_EQ(FindOp(cdb), &op) << op.name;
    EXPECT_FALSE(CheckCdb(op, cdb).has_value()) << op.name;
    // The group code fixes the CDB length.
    static const uint8_t lengths[] = {6, 10, 10, 0, 16, 12, 0, 0};
    EXPECT_EQ(op.cdb_length, lengths[op.opcode >> 5]) << op.name;
  }
  std::vector<uint8_t> short_cdb = {0x28, 0, 0};
  EXPECT_TRUE(CheckCdb(*FindOp(short_cdb), short_cdb).has_value());
}

struct CdbCase {
  const char* what;
  std::vector<uint8_t> cdb;
  ScsiStatus status;
  uint8_t key = 0, asc = 0, ascq = 0;
  int field = -1;  // expected SKSV field pointer byte, -1: not checked
};

class CdbDecodeTest : public LuTest {};

TEST_F(CdbDecodeTest, Table) {
  // The LU has 128 blocks of 512 bytes.
  const ScsiStatus G = ScsiStatus::kGood, C = ScsiStatus::kCheckCondition;
  const std::vector<CdbCase> cases = {
      {"TUR", {0x00, 0, 0, 0, 0, 0}, G},
      {"TUR NACA", {0x00, 0, 0, 0, 0, 0x04}, C, 5, 0x24, 0, 5},
      {"TUR LINK", {0x00, 0, 0, 0, 0, 0x01}, C, 5, 0x24, 0, 5},
      {"unknown opcode", {0xc5, 0, 0, 0, 0, 0}, C, 5, 0x20, 0},
      {"FORMAT UNIT unsupported", {0x04, 0, 0, 0, 0, 0}, C, 5, 0x20, 0},
      {"MAINTENANCE IN bad SA", {0xa3, 0x1f, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0}, C, 5, 0x24, 0, 1},
      {"INQUIRY CmdDt", {0x12, 0x02, 0, 0, 96, 0}, C, 5, 0x24, 0, 1},
      {"INQUIRY page without EVPD", {0x12, 0, 0x80, 0, 96, 0}, C, 5, 0x24, 0, 2},
      {"INQUIRY unknown VPD", {0x12, 1, 0x42, 0, 96, 0}, C, 5, 0x24, 0, 2},
      {"READ(10) RDPROTECT", Cdb10(0x28, 0x20, 0, 1), C, 5, 0x24, 0, 1},
      {"READ(10) past end", Cdb10(0x28, 0, 128, 1), C, 5, 0x21, 0},
      {"READ(10) crossing end", Cdb10(0x28, 0, 127, 2), C, 5, 0x21, 0},
      {"READ(10) 0 blocks at end", Cdb10(0x28, 0, 128, 0), G},
      {"READ(10) 0 blocks past end", Cdb10(0x28, 0, 129, 0), C, 5, 0x21, 0},
      {"READ(10) DPO FUA", Cdb10(0x28, 0x18, 0, 1), G},
      {"READ(12) huge LBA", Cdb12(0xa8, 0, 0xffffffff, 1), C, 5, 0x21, 0},
      {"READ(16) LBA wraps", Cdb16(0x88, 0, ~0ull, 2), C, 5, 0x21, 0},
      {"READ(16) too long", Cdb16(0x88, 0, 0, 0x100000), C, 5, 0x21, 0},
      {"READ(6) 0 means 256: past end", {0x08, 0, 0, 0, 0, 0}, C, 5, 0x21, 0},
      {"READ(6) last block", {0x08, 0, 0, 127, 1, 0}, G},
      {"WRITE(10) WRPROTECT", Cdb10(0x2a, 0x40, 0, 1), C, 5, 0x24, 0, 1},
      {"WRITE(10) no data", Cdb10(0x2a, 0, 0, 1), C, 5, 0x0e, 0x03},
      {"VERIFY(10) BYTCHK 10b", Cdb10(0x2f, 0x04, 0, 1), C, 5, 0x24, 0, 1},
      {"VERIFY(10) BYTCHK 0", Cdb10(0x2f, 0, 0, 8), G},
      {"VERIFY(16) past end", Cdb16(0x8f, 0, 128, 1), C, 5, 0x21, 0},
      {"WRITE SAME(10) ANCHOR", Cdb10(0x41, 0x10, 0, 1), C, 5, 0x24, 0, 1},
      {"WRITE SAME(10) 0 blocks: to the end, needs its block", Cdb10(0x41, 0, 0, 0), C, 5, 0x0e, 0x03},
      {"WRITE SAME(10) 0 blocks past end", Cdb10(0x41, 0, 128, 0), C, 5, 0x21, 0},
      {"UNMAP ANCHOR", {0x42, 1, 0, 0, 0, 0, 0, 0, 24, 0}, C, 5, 0x24, 0, 1},
      {"UNMAP short list", {0x42, 0, 0, 0, 0, 0, 0, 0, 4, 0}, C, 5, 0x1a, 0},
      {"UNMAP empty list", {0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0}, G},
      {"SYNC CACHE(10)", Cdb10(0x35, 0, 0, 0), G},
      {"SYNC CACHE(10) past end", Cdb10(0x35, 0, 100, 29), C, 5, 0x21, 0},
      {"SYNC CACHE(16) IMMED", Cdb16(0x91, 0x02, 0, 128), G},
      {"PRE-FETCH(10)", Cdb10(0x34, 0, 0, 16), ScsiStatus::kConditionMet},
      {"PRE-FETCH(16) past end", Cdb16(0x90, 0, 200, 1), C, 5, 0x21, 0},
      {"READ CAPACITY(10) LBA without PMI", {0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0}, C, 5, 0x24, 0, 2},
      {"READ CAPACITY(10) PMI", {0x25, 0, 0, 0, 0, 1, 0, 0, 1, 0}, G},
      {"MODE SENSE(6) saved", {0x1a, 0, 0xc8, 0, 255, 0}, C, 5, 0x39, 0},
      {"MODE SENSE(6) unknown page", {0x1a, 0, 0x19, 0, 255, 0}, C, 5, 0x24, 0, 2},
      {"MODE SENSE(6) bad subpage", {0x1a, 0, 0x08, 0x01, 255, 0}, C, 5, 0x24, 0, 3},
      {"MODE SENSE(10) LLBAA", {0x5a, 0x10, 0x3f, 0, 0, 0, 0, 1, 0, 0}, G},
      {"MODE SELECT(6) SP", {0x15, 0x11, 0, 0, 0, 0}, C, 5, 0x24, 0, 1},
      {"MODE SELECT(6) empty", {0x15, 0x10, 0, 0, 0, 0}, G},
      {"START STOP UNIT eject", {0x1b, 0, 0, 0, 0x02, 0}, C, 5, 0x24, 0, 4},
      {"START STOP UNIT start", {0x1b, 1, 0, 0, 0x01, 0}, G},
      {"START STOP bad power condition", {0x1b, 0, 0, 0, 0x40, 0}, C, 5, 0x24, 0, 4},
      {"REQUEST SENSE", {0x03, 0, 0, 0, 18, 0}, G},
      {"RSOC bad option", {0xa3, 0x0c, 0x04, 0, 0, 0, 0, 0, 1, 0, 0, 0}, C, 5, 0x24, 0, 2},
      {"RSOC option 1 on SA opcode", {0xa3, 0x0c, 0x01, 0x9e, 0, 0, 0, 0, 1, 0, 0, 0}, C, 5, 0x24, 0, 2},
      {"RSOC option 2 on non-SA opcode", {0xa3, 0x0c, 0x02, 0x28, 0, 0, 0, 0, 1, 0, 0, 0}, C, 5, 0x24, 0, 2},
      {"RTMF short allocation", {0xa3, 0x0d, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0}, C, 5, 0x24, 0, 6},
      {"PR IN bad SA", {0x5e, 0x07, 0, 0, 0, 0, 0, 0, 64, 0}, C, 5, 0x24, 0, 1},
      {"PR OUT bad length", {0x5f, 0x00, 0, 0, 0, 0, 0, 0, 20, 0}, C, 5, 0x1a, 0},
      {"GET LBA STATUS past end", Cdb16(0x9e, 0x12, 128, 64), C, 5, 0x21, 0},
      {"COMPARE AND WRITE too long", {0x89, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 0, 0}, C, 5, 0x24, 0, 13},
      {"READ DEFECT DATA(10)", {0x37, 0, 0x18, 0, 0, 0, 0, 0, 4, 0}, G},
      {"READ DEFECT DATA(12) reserved", {0xb7, 0x20, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0}, C, 5, 0x24, 0, 1},
      {"WRITE ATOMIC(16) boundary", {0x9c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0}, C, 5, 0x24, 0, 11},
      {"WRITE ATOMIC(16) too long", {0x9c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0}, C, 5, 0x21, 0},
      {"RESERVE(10) 3rd party", {0x56, 0x10, 0, 0, 0, 0, 0, 0, 0, 0}, C, 5, 0x24, 0, 1},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    Response r = Do(c.cdb);
    EXPECT_EQ(r.status, c.status);
    if (c.status != ScsiStatus::kCheckCondition) continue;
    auto s = ParseSense(r.sense);
    EXPECT_EQ(s.key, c.key);
    EXPECT_EQ(s.asc, c.asc);
    EXPECT_EQ(s.ascq, c.ascq);
    if (c.field >= 0) {
      EXPECT_TRUE(s.sksv);
      EXPECT_EQ(s.field, c.field);
    }
  }
}

}  // namespace
}  // namespace vsl::scsi
