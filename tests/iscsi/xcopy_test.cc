// EXTENDED COPY through libiscsi against the real gateway: a host copies
// between two of its own LUs and reads the result back; a host that names
// another host's LU (by the designator that host sees in INQUIRY VPD 0x83)
// is refused with COPY ABORTED / COPY TARGET DEVICE NOT REACHABLE, and
// neither LU changes (the class of LIO's CVE-2020-28374).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "iscsi_client.h"

namespace vsl::e2e {
namespace {

using IscsiXcopy = GatewayTest;

constexpr uint8_t kCopyAborted = 0x0a;
constexpr int kCopyTargetNotReachable = 0x0d02;

// The NAA designator (16 bytes) of `lun` from the Device Identification page.
std::vector<uint8_t> NaaOf(iscsi_context* ctx, int lun) {
  Task t(iscsi_inquiry_sync(ctx, lun, 1, SCSI_INQUIRY_PAGECODE_DEVICE_IDENTIFICATION, 255));
  if (!t || t->status != SCSI_STATUS_GOOD) {
    ADD_FAILURE() << "INQUIRY VPD 0x83: " << Describe(t.get());
    return {};
  }
  auto* di = static_cast<scsi_inquiry_device_identification*>(scsi_datain_unmarshall(t.get()));
  if (!di) {
    ADD_FAILURE() << "Device Identification page does not parse";
    return {};
  }
  for (auto* d = di->designators; d; d = d->next) {
    if (d->designator_type == SCSI_DESIGNATOR_TYPE_NAA &&
        d->association == SCSI_ASSOCIATION_LOGICAL_UNIT)
      return std::vector<uint8_t>(d->designator, d->designator + d->designator_length);
  }
  ADD_FAILURE() << "no NAA designator for LUN " << lun;
  return {};
}

void Put16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
void Put32(uint8_t* p, uint32_t v) {
  Put16(p, uint16_t(v >> 16));
  Put16(p + 2, uint16_t(v));
}
void Put64(uint8_t* p, uint64_t v) {
  Put32(p, uint32_t(v >> 32));
  Put32(p + 4, uint32_t(v));
}

// One block-to-block segment from CSCD 0 to CSCD 1 (identification
// descriptors naming `src` and `dst`), list identifier `list_id`, held.
std::vector<uint8_t> CopyParams(const std::vector<uint8_t>& src, const std::vector<uint8_t>& dst,
                                uint16_t blocks, uint64_t src_lba, uint64_t dst_lba,
                                uint8_t list_id) {
  std::vector<uint8_t> p(16 + 2 * 32 + 28, 0);
  p[0] = list_id;
  Put16(&p[2], 64);
  Put32(&p[8], 28);
  const std::vector<uint8_t>* naas[] = {&src, &dst};
  for (int i = 0; i < 2; ++i) {
    uint8_t* d = &p[16 + 32 * i];
    d[0] = 0xe4;
    d[4] = 0x01;  // binary
    d[5] = 0x03;  // LU association, NAA
    d[7] = uint8_t(naas[i]->size());
    std::memcpy(d + 8, naas[i]->data(), std::min<size_t>(naas[i]->size(), 16));
    d[30] = uint8_t(kBlockSize >> 8);
    d[31] = uint8_t(kBlockSize);
  }
  uint8_t* s = &p[80];
  s[0] = 0x02;
  Put16(&s[2], 0x18);
  Put16(&s[4], 0);
  Put16(&s[6], 1);
  Put16(&s[10], blocks);
  Put64(&s[12], src_lba);
  Put64(&s[20], dst_lba);
  return p;
}

Task ExtendedCopy(iscsi_context* ctx, int lun, std::vector<uint8_t> params) {
  iscsi_data d{params.size(), params.data()};
  return Task(iscsi_extended_copy_sync(ctx, lun, &d));
}

TEST_F(IscsiXcopy, CopiesBetweenTwoLusOfOneHost) {
  Context ctx = LoginOrFail(Web1Spec());
  ASSERT_TRUE(ctx);
  ASSERT_TRUE(ClearUnitAttentions(ctx.get(), 3));
  const std::vector<uint8_t> naa0 = NaaOf(ctx.get(), 0), naa3 = NaaOf(ctx.get(), 3);
  ASSERT_EQ(naa0.size(), 16u);
  ASSERT_EQ(naa3.size(), 16u);
  ASSERT_NE(naa0, naa3);
  // 300 blocks across web1 LUN 0's extent boundaries, copied to LUN 3.
  const std::vector<uint8_t> data = Pattern(300 * kBlockSize, 41);
  Task w = Write16(ctx.get(), 0, 100, data);
  ASSERT_TRUE(w && w->status == SCSI_STATUS_GOOD) << Describe(w.get());
  Task x = ExtendedCopy(ctx.get(), 0, CopyParams(naa0, naa3, 300, 100, 1000, 5));
  ASSERT_TRUE(x);
  EXPECT_EQ(x->status, SCSI_STATUS_GOOD) << Describe(x.get());
  Task r = Read16(ctx.get(), 3, 1000, 300);
  ASSERT_TRUE(r && r->status == SCSI_STATUS_GOOD) << Describe(r.get());
  EXPECT_EQ(DataIn(r.get()), data);
  // In shared.img at the copy's place; the block before it untouched.
  EXPECT_EQ(gw_.ReadFile("shared.img", 1000 * kBlockSize, data.size()), data);
  EXPECT_TRUE(FileIsAll(gw_, "shared.img", 999 * kBlockSize, kBlockSize, 0x5E));

  // RECEIVE COPY RESULTS / COPY STATUS for list 5: done, 1 segment, the bytes.
  Task st(iscsi_receive_copy_results_sync(ctx.get(), 0, SCSI_COPY_RESULTS_COPY_STATUS, 5, 1024));
  ASSERT_TRUE(st && st->status == SCSI_STATUS_GOOD) << Describe(st.get());
  auto* cs = static_cast<scsi_copy_results_copy_status*>(scsi_datain_unmarshall(st.get()));
  ASSERT_NE(cs, nullptr);
  EXPECT_EQ(cs->copy_manager_status, 1);
  EXPECT_EQ(cs->segments_processed, 1);
  EXPECT_EQ(cs->transfer_count_units, 0);
  EXPECT_EQ(cs->transfer_count, 300 * kBlockSize);
}

TEST_F(IscsiXcopy, AnotherHostsLuByDesignatorIsRefused) {
  // web2 learns its LUN 0's designator, as any host may.
  Context web2 = LoginOrFail(Web2Spec());
  ASSERT_TRUE(web2);
  const std::vector<uint8_t> naa_web2 = NaaOf(web2.get(), 0);
  ASSERT_EQ(naa_web2.size(), 16u);
  const std::vector<uint8_t> web2_before = gw_.ReadFile("web2.img", 0, 1 << 20);

  Context web1 = LoginOrFail(Web1Spec());
  ASSERT_TRUE(web1);
  const std::vector<uint8_t> naa0 = NaaOf(web1.get(), 0);
  ASSERT_EQ(naa0.size(), 16u);
  ASSERT_NE(naa0, naa_web2);
  const std::vector<uint8_t> mine = Pattern(64 * kBlockSize, 43);
  Task w = Write16(web1.get(), 0, 0, mine);
  ASSERT_TRUE(w && w->status == SCSI_STATUS_GOOD) << Describe(w.get());

  // web2's LU as the source: would read web2's data into web1's LUN 0.
  Task x = ExtendedCopy(web1.get(), 0, CopyParams(naa_web2, naa0, 64, 0, 0, 1));
  ASSERT_TRUE(x);
  EXPECT_EQ(x->status, SCSI_STATUS_CHECK_CONDITION) << Describe(x.get());
  EXPECT_EQ(x->sense.key, kCopyAborted) << Describe(x.get());
  EXPECT_EQ(x->sense.ascq, kCopyTargetNotReachable) << Describe(x.get());
  // web2's LU as the destination: would overwrite web2's data.
  x = ExtendedCopy(web1.get(), 0, CopyParams(naa0, naa_web2, 64, 0, 0, 2));
  ASSERT_TRUE(x);
  EXPECT_EQ(x->status, SCSI_STATUS_CHECK_CONDITION) << Describe(x.get());
  EXPECT_EQ(x->sense.key, kCopyAborted) << Describe(x.get());
  EXPECT_EQ(x->sense.ascq, kCopyTargetNotReachable) << Describe(x.get());

  // Nothing of web2's reached web1, and web2's LU is unchanged, seen both
  // through the files and through web2's own session.
  Task r = Read16(web1.get(), 0, 0, 64);
  ASSERT_TRUE(r && r->status == SCSI_STATUS_GOOD) << Describe(r.get());
  EXPECT_EQ(DataIn(r.get()), mine);
  ExpectInBackingFiles(gw_, 0, mine);
  EXPECT_EQ(gw_.ReadFile("web2.img", 0, 1 << 20), web2_before);
  Task r2 = Read16(web2.get(), 0, 0, 64);
  ASSERT_TRUE(r2 && r2->status == SCSI_STATUS_GOOD) << Describe(r2.get());
  EXPECT_EQ(DataIn(r2.get()),
            std::vector<uint8_t>(web2_before.begin(), web2_before.begin() + 64 * kBlockSize));
  // No copy ran, so no result is held for either list.
  for (int list : {1, 2}) {
    Task st(
        iscsi_receive_copy_results_sync(web1.get(), 0, SCSI_COPY_RESULTS_COPY_STATUS, list, 1024));
    ASSERT_TRUE(st);
    EXPECT_EQ(st->status, SCSI_STATUS_CHECK_CONDITION) << Describe(st.get());
    EXPECT_EQ(st->sense.key, SCSI_SENSE_ILLEGAL_REQUEST) << Describe(st.get());
  }
}

}  // namespace
}  // namespace vsl::e2e
