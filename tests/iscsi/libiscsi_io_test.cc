// End to end through libiscsi's C API: the data path of a concatenated
// volume. Reads and writes across extent boundaries land at the right file
// offsets; VERIFY, COMPARE AND WRITE, UNMAP, WRITE SAME, SYNCHRONIZE CACHE
// and READ CAPACITY behave as SBC-3 says.
#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "iscsi_client.h"

namespace vsl::e2e {
namespace {

using farm::kWeb1Lun0Blocks;
using IscsiIo = GatewayTest;

TEST_F(IscsiIo, ReadFollowsExtentOrder) {
  Context ctx = LoginOrFail(Web1Spec());
  ASSERT_TRUE(ctx);
  Task r = Read16(ctx.get(), 0, 0, kWeb1Lun0Blocks);
  ASSERT_TRUE(r && r->status == SCSI_STATUS_GOOD) << Describe(r.get());
  std::vector<uint8_t> got = DataIn(r.get());
  ASSERT_EQ(got.size(), kWeb1Lun0Blocks * kBlockSize);
  for (uint64_t lba = 0; lba < kWeb1Lun0Blocks; ++lba) {
    uint8_t want = lba < 128 ? 0xA1 : lba < 384 ? 0xB2 : 0xC3;
    for (size_t i = 0; i < kBlockSize; ++i) {
      ASSERT_EQ(got[lba * kBlockSize + i], want) << "block " << lba << " byte " << i;
    }
  }
}

TEST_F(IscsiIo, WriteAcrossExtentBoundariesLandsAtRightOffsets) {
  Context ctx = LoginOrFail(Web1Spec());
  ASSERT_TRUE(ctx);
  // Blocks 120..400 span the end of a.img's extent, all of b.img's and the
  // start of c.img's.
  const uint64_t first = 120;
  const uint32_t blocks = 281;
  std::vector<uint8_t> data = Pattern(blocks * kBlockSize, 2);
  Task w = Write16(ctx.get(), 0, first, data);
  ASSERT_TRUE(w && w->status == SCSI_STATUS_GOOD) << Describe(w.get());
  Task r = Read16(ctx.get(), 0, first, blocks);
  ASSERT_TRUE(r && r->status == SCSI_STATUS_GOOD) << Describe(r.get());
  EXPECT_EQ(DataIn(r.get()), data);
  ExpectInBackingFiles(gw_, first, data);
  // Nothing outside the extents or outside the written range moved.
  EXPECT_TRUE(FileIsAll(gw_, "a.img", 0, 4096, 0xA1));
  EXPECT_TRUE(FileIsAll(gw_, "a.img", 4096, first * kBlockSize, 0xA1));
  EXPECT_TRUE(FileIsAll(gw_, "a.img", 4096 + 65536, 4096, 0xA1));
  EXPECT_TRUE(FileIsAll(gw_, "b.img", 131072, 4096, 0xB2));
  EXPECT_TRUE(FileIsAll(gw_, "c.img", 0, 8192, 0xC3));
  EXPECT_TRUE(FileIsAll(gw_, "c.img", 8192 + (first + blocks - 384) * kBlockSize,
                        (kWeb1Lun0Blocks - first - blocks) * kBlockSize + 4096, 0xC3));
}

TEST_F(IscsiIo, VerifyComparesAcrossExtentBoundary) {
  Context ctx = LoginOrFail(Web1Spec());
  ASSERT_TRUE(ctx);
  std::vector<uint8_t> data = Pattern(4 * kBlockSize, 3);  // blocks 382..385
  Task w = Write16(ctx.get(), 0, 382, data);
  ASSERT_TRUE(w && w->status == SCSI_STATUS_GOOD) << Describe(w.get());
  Task same(iscsi_verify16_sync(ctx.get(), 0, data.data(), uint32_t(data.size()), 382, 0, 0, 1,
                                kBlockSize));
  ASSERT_TRUE(same);
  EXPECT_EQ(same->status, SCSI_STATUS_GOOD) << Describe(same.get());
  std::vector<uint8_t> other = data;
  other[3 * kBlockSize + 17] ^= 0xff;  // in c.img's part
  Task diff(iscsi_verify16_sync(ctx.get(), 0, other.data(), uint32_t(other.size()), 382, 0, 0, 1,
                                kBlockSize));
  ASSERT_TRUE(diff);
  EXPECT_EQ(diff->status, SCSI_STATUS_CHECK_CONDITION) << Describe(diff.get());
  EXPECT_EQ(diff->sense.key, SCSI_SENSE_MISCOMPARE) << Describe(diff.get());
  EXPECT_EQ(diff->sense.ascq, SCSI_SENSE_ASCQ_MISCOMPARE_DURING_VERIFY) << Describe(diff.get());
  ExpectInBackingFiles(gw_, 382, data);  // VERIFY wrote nothing
}

TEST_F(IscsiIo, CompareAndWriteAcrossExtentBoundary) {
  Context ctx = LoginOrFail(Web1Spec());
  ASSERT_TRUE(ctx);
  std::vector<uint8_t> old_data = Pattern(2 * kBlockSize, 13);  // blocks 127..128
  Task w = Write16(ctx.get(), 0, 127, old_data);
  ASSERT_TRUE(w && w->status == SCSI_STATUS_GOOD) << Describe(w.get());
  std::vector<uint8_t> new_data = Pattern(2 * kBlockSize, 14);
  // The data-out buffer is the verify half, then the write half (SBC-3 5.2).
  std::vector<uint8_t> buf = old_data;
  buf.insert(buf.end(), new_data.begin(), new_data.end());
  Task cw(iscsi_compareandwrite_sync(ctx.get(), 0, 127, buf.data(), uint32_t(buf.size()),
                                     kBlockSize, 0, 0, 0, 0, 0));
  ASSERT_TRUE(cw);
  EXPECT_EQ(cw->status, SCSI_STATUS_GOOD) << Describe(cw.get());
  ExpectInBackingFiles(gw_, 127, new_data);

  // The verify half no longer matches: MISCOMPARE, nothing written.
  Task miss(iscsi_compareandwrite_sync(ctx.get(), 0, 127, buf.data(), uint32_t(buf.size()),
                                       kBlockSize, 0, 0, 0, 0, 0));
  ASSERT_TRUE(miss);
  EXPECT_EQ(miss->status, SCSI_STATUS_CHECK_CONDITION) << Describe(miss.get());
  EXPECT_EQ(miss->sense.key, SCSI_SENSE_MISCOMPARE) << Describe(miss.get());
  EXPECT_EQ(miss->sense.ascq, SCSI_SENSE_ASCQ_MISCOMPARE_DURING_VERIFY) << Describe(miss.get());
  ExpectInBackingFiles(gw_, 127, new_data);
}

TEST_F(IscsiIo, ReadCapacity) {
  Context ctx = LoginOrFail(Web1Spec());
  ASSERT_TRUE(ctx);
  Task t16(iscsi_readcapacity16_sync(ctx.get(), 0));
  ASSERT_TRUE(t16 && t16->status == SCSI_STATUS_GOOD) << Describe(t16.get());
  auto* rc16 = static_cast<scsi_readcapacity16*>(scsi_datain_unmarshall(t16.get()));
  ASSERT_NE(rc16, nullptr);
  EXPECT_EQ(rc16->returned_lba, kWeb1Lun0Blocks - 1);
  EXPECT_EQ(rc16->block_length, kBlockSize);
  EXPECT_EQ(rc16->lbpme, 1) << "UNMAP is supported, so LBPME must be set (SBC-3 5.16.2)";
  Task t10(iscsi_readcapacity10_sync(ctx.get(), 0, 0, 0));
  ASSERT_TRUE(t10 && t10->status == SCSI_STATUS_GOOD) << Describe(t10.get());
  auto* rc10 = static_cast<scsi_readcapacity10*>(scsi_datain_unmarshall(t10.get()));
  ASSERT_NE(rc10, nullptr);
  EXPECT_EQ(rc10->lba, kWeb1Lun0Blocks - 1);
  EXPECT_EQ(rc10->block_size, kBlockSize);
}

TEST_F(IscsiIo, SynchronizeCache) {
  Context ctx = LoginOrFail(Web1Spec());
  ASSERT_TRUE(ctx);
  Task w = Write16(ctx.get(), 0, 126, Pattern(4 * kBlockSize, 4));
  ASSERT_TRUE(w && w->status == SCSI_STATUS_GOOD) << Describe(w.get());
  Task s10(iscsi_synchronizecache10_sync(ctx.get(), 0, 0, 0, 0, 0));
  ASSERT_TRUE(s10);
  EXPECT_EQ(s10->status, SCSI_STATUS_GOOD) << Describe(s10.get());
  Task s16(iscsi_synchronizecache16_sync(ctx.get(), 0, 100, 200, 0, 0));
  ASSERT_TRUE(s16);
  EXPECT_EQ(s16->status, SCSI_STATUS_GOOD) << Describe(s16.get());
}

TEST_F(IscsiIo, UnmapPunchesHolesAndReadsZeros) {
  Context ctx = LoginOrFail(Web1Spec());
  ASSERT_TRUE(ctx);
  std::vector<uint8_t> data = Pattern(60 * kBlockSize, 5);  // blocks 100..159
  Task w = Write16(ctx.get(), 0, 100, data);
  ASSERT_TRUE(w && w->status == SCSI_STATUS_GOOD) << Describe(w.get());
  const uint64_t allocated = gw_.AllocatedBytes("b.img");
  unmap_list range{110, 40};  // 110..149, across the a.img/b.img boundary
  Task u(iscsi_unmap_sync(ctx.get(), 0, 0, 0, &range, 1));
  ASSERT_TRUE(u);
  ASSERT_EQ(u->status, SCSI_STATUS_GOOD) << Describe(u.get());
  Task r = Read16(ctx.get(), 0, 100, 60);
  ASSERT_TRUE(r && r->status == SCSI_STATUS_GOOD) << Describe(r.get());
  std::vector<uint8_t> want = data;
  std::fill(want.begin() + 10 * kBlockSize, want.begin() + 50 * kBlockSize, 0);
  EXPECT_EQ(DataIn(r.get()), want);
  ExpectInBackingFiles(gw_, 100, want);
  // Blocks 128..149 are b.img's first 11 KiB: at least its first two 4 KiB
  // pages are a hole now, where the file system has holes.
  if (gw_.CanPunchHoles()) {
    EXPECT_LE(gw_.AllocatedBytes("b.img") + 8192, allocated)
        << "UNMAP did not punch a hole in the backing file";
  }
}

TEST_F(IscsiIo, WriteSameFillsAndUnmaps) {
  Context ctx = LoginOrFail(Web1Spec());
  ASSERT_TRUE(ctx);
  std::vector<uint8_t> block = Pattern(kBlockSize, 6);
  // Blocks 380..389 cross the b.img/c.img boundary.
  Task ws(iscsi_writesame16_sync(ctx.get(), 0, 380, block.data(), kBlockSize, 10, 0, 0, 0, 0));
  ASSERT_TRUE(ws);
  ASSERT_EQ(ws->status, SCSI_STATUS_GOOD) << Describe(ws.get());
  std::vector<uint8_t> want;
  for (int i = 0; i < 10; ++i) want.insert(want.end(), block.begin(), block.end());
  Task r = Read16(ctx.get(), 0, 380, 10);
  ASSERT_TRUE(r && r->status == SCSI_STATUS_GOOD) << Describe(r.get());
  EXPECT_EQ(DataIn(r.get()), want);
  ExpectInBackingFiles(gw_, 380, want);
  EXPECT_TRUE(FileIsAll(gw_, "b.img", (379 - 128) * kBlockSize, kBlockSize, 0xB2));
  EXPECT_TRUE(FileIsAll(gw_, "c.img", 8192 + (390 - 384) * kBlockSize, kBlockSize, 0xC3));

  std::vector<uint8_t> zero(kBlockSize, 0);
  Task wsu(iscsi_writesame16_sync(ctx.get(), 0, 382, zero.data(), kBlockSize, 4, 0, 1, 0, 0));
  ASSERT_TRUE(wsu);
  ASSERT_EQ(wsu->status, SCSI_STATUS_GOOD) << Describe(wsu.get());
  std::fill(want.begin() + 2 * kBlockSize, want.begin() + 6 * kBlockSize, 0);
  Task r2 = Read16(ctx.get(), 0, 380, 10);
  ASSERT_TRUE(r2 && r2->status == SCSI_STATUS_GOOD) << Describe(r2.get());
  EXPECT_EQ(DataIn(r2.get()), want);
}

}  // namespace
}  // namespace vsl::e2e
