// Target: LUN maps, REPORT LUNS, unmapped LUNs, map-change and reset UAs.
#include "gateway/scsi/scsi_test_util.h"

namespace vsl::scsi {
namespace {

using namespace testing;

const std::vector<uint8_t> kTur = {0, 0, 0, 0, 0, 0};
std::vector<uint8_t> ReportLunsCdb(uint8_t select, uint32_t alloc) {
  std::vector<uint8_t> c(12, 0);
  c[0] = 0xa0;
  c[2] = select;
  StoreBe32(&c[6], alloc);
  return c;
}

class TargetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 2; ++i) {
      auto v = volume::MetaVolume::Open({{dir_.File("f" + std::to_string(i), 8192), 0, 8192}},
                                        {.block_size = 512, .read_only = false, .id = "t" + std::to_string(i)});
      ASSERT_TRUE(v.ok());
      lus_.push_back(std::make_shared<LogicalUnit>(*v, InlineExecutor()));
    }
    target_.MapLun(0, lus_[0], false);
  }
  std::vector<uint64_t> ReportedLuns(const Nexus& n) {
    Response r = RunCmd(target_, n, 0, ReportLunsCdb(0, 4096));
    EXPECT_EQ(r.status, ScsiStatus::kGood);
    std::vector<uint64_t> out;
    for (size_t at = 8; at + 8 <= r.data_in.size(); at += 8) out.push_back(*DecodeLun(LoadBe64(&r.data_in[at])));
    EXPECT_EQ(LoadBe32(&r.data_in[0]), out.size() * 8);
    return out;
  }
  TempDir dir_;
  std::vector<std::shared_ptr<LogicalUnit>> lus_;
  Target target_{"iqn.2026-11.org.vsl:web1"};
};

TEST_F(TargetTest, PowerOnThenMapChanges) {
  Nexus a = target_.AddNexus("iqn.x:a,i,0x1", "iqn.2026-11.org.vsl:web1,t,0x1");
  Nexus b = target_.AddNexus("iqn.x:b,i,0x2", "iqn.2026-11.org.vsl:web1,t,0x1");
  EXPECT_NE(a.id, b.id);
  // REPORT LUNS and INQUIRY pass a pending UA.
  EXPECT_EQ(ReportedLuns(a), (std::vector<uint64_t>{0}));
  EXPECT_EQ(RunCmd(target_, a, 0, {0x12, 0, 0, 0, 36, 0}).status, ScsiStatus::kGood);
  EXPECT_SENSE(RunCmd(target_, a, 0, kTur), 0x6, 0x29, 0x00);
  EXPECT_EQ(RunCmd(target_, a, 0, kTur).status, ScsiStatus::kGood);
  // Mapping LUN 3: everyone hears REPORTED LUNS DATA HAS CHANGED.
  target_.MapLun(3, lus_[1], true);
  EXPECT_EQ(target_.Luns(), (std::vector<uint64_t>{0, 3}));
  EXPECT_SENSE(RunCmd(target_, a, 0, kTur), 0x6, 0x3f, 0x0e);
  EXPECT_EQ(RunCmd(target_, a, 0, kTur).status, ScsiStatus::kGood);
  // b: REPORT LUNS clears it (b still has its POWER ON).
  EXPECT_EQ(ReportedLuns(b), (std::vector<uint64_t>{0, 3}));
  EXPECT_SENSE(RunCmd(target_, b, 0, kTur), 0x6, 0x29, 0x00);
  EXPECT_EQ(RunCmd(target_, b, 0, kTur).status, ScsiStatus::kGood);
  EXPECT_EQ(RunCmd(target_, b, 3, kTur).status, ScsiStatus::kGood);
  // LUN 3 is read-only.
  EXPECT_SENSE(RunCmd(target_, b, 3, Cdb10(0x2a, 0, 0, 1), std::vector<uint8_t>(512)), 0x7, 0x27, 0x00);
  // Unmapping.
  EXPECT_TRUE(target_.UnmapLun(3).ok());
  EXPECT_EQ(target_.UnmapLun(3).code(), Code::kNotFound);
  EXPECT_SENSE(RunCmd(target_, a, 0, kTur), 0x6, 0x3f, 0x0e);
  EXPECT_SENSE(RunCmd(target_, a, 3, kTur), 0x5, 0x25, 0x00);
}

TEST_F(TargetTest, UnmappedLun) {
  Nexus a = target_.AddNexus("i,i,0x1", "t,t,0x1");
  Response r = RunCmd(target_, a, 9, {0x12, 0, 0, 0, 96, 0});
  EXPECT_EQ(r.status, ScsiStatus::kGood);
  ASSERT_EQ(r.data_in.size(), 36u);
  EXPECT_EQ(r.data_in[0], 0x7f);
  r = RunCmd(target_, a, 9, {0x03, 0, 0, 0, 18, 0});
  EXPECT_EQ(r.status, ScsiStatus::kGood);
  EXPECT_EQ(r.data_in[12], 0x25);
  EXPECT_SENSE(RunCmd(target_, a, 9, Cdb10(0x28, 0, 0, 1)), 0x5, 0x25, 0x00);
  // REPORT LUNS goes to any LUN.
  r = RunCmd(target_, a, 9, ReportLunsCdb(2, 16));
  EXPECT_EQ(r.status, ScsiStatus::kGood);
  EXPECT_EQ(LoadBe32(&r.data_in[0]), 8u);
}

TEST_F(TargetTest, ReportLunsFields) {
  Nexus a = target_.AddNexus("i,i,0x1", "t,t,0x1");
  target_.MapLun(300, lus_[1], false);
  EXPECT_EQ(ReportedLuns(a), (std::vector<uint64_t>{0, 300}));
  Response r = RunCmd(target_, a, 0, ReportLunsCdb(1, 64));
  EXPECT_EQ(LoadBe32(&r.data_in[0]), 0u);  // no well-known LUs
  EXPECT_SENSE(RunCmd(target_, a, 0, ReportLunsCdb(3, 64)), 0x5, 0x24, 0x00);
  EXPECT_SENSE(RunCmd(target_, a, 0, ReportLunsCdb(0, 15)), 0x5, 0x24, 0x00);
  r = RunCmd(target_, a, 0, ReportLunsCdb(0, 16));
  EXPECT_EQ(r.data_in.size(), 16u);
  EXPECT_EQ(LoadBe32(&r.data_in[0]), 16u);  // the full length, truncated data
}

TEST_F(TargetTest, ResetsAndNexusLoss) {
  Nexus a = target_.AddNexus("a,i,0x1", "t,t,0x1");
  Nexus b = target_.AddNexus("b,i,0x2", "t,t,0x1");
  RunCmd(target_, a, 0, kTur);
  RunCmd(target_, b, 0, kTur);
  EXPECT_EQ(RunCmd(target_, a, 0, {0x16, 0, 0, 0, 0, 0}).status, ScsiStatus::kGood);
  EXPECT_EQ(RunCmd(target_, b, 0, kTur).status, ScsiStatus::kReservationConflict);
  target_.LunReset(b, 0);
  EXPECT_SENSE(RunCmd(target_, a, 0, kTur), 0x6, 0x29, 0x03);
  EXPECT_SENSE(RunCmd(target_, b, 0, kTur), 0x6, 0x29, 0x03);
  EXPECT_EQ(RunCmd(target_, b, 0, kTur).status, ScsiStatus::kGood);  // reservation gone
  EXPECT_EQ(RunCmd(target_, a, 0, {0x16, 0, 0, 0, 0, 0}).status, ScsiStatus::kGood);
  target_.RemoveNexus(a.id);
  EXPECT_EQ(RunCmd(target_, b, 0, kTur).status, ScsiStatus::kGood);
  target_.TargetReset(b);
  EXPECT_SENSE(RunCmd(target_, b, 0, kTur), 0x6, 0x29, 0x03);
  Nexus c = target_.AddNexus("c,i,0x3", "t,t,0x1");
  EXPECT_SENSE(RunCmd(target_, c, 0, kTur), 0x6, 0x29, 0x00);
  EXPECT_EQ(RunCmd(target_, b, 0, kTur).status, ScsiStatus::kGood);
}

}  // namespace
}  // namespace vsl::scsi
