// Bad Data-Out over raw TCP: unknown transfer tags, data beyond an R2T or
// beyond FirstBurstLength, Data-Out for no task. The target rejects or
// fails what it must, never writes outside a command's range, and other
// sessions keep working.
#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "raw_fixture.h"

namespace vsl::e2e {
namespace {

class BadDataOut : public RawGatewayTest {
 protected:
  void SetUp() override {
    RawGatewayTest::SetUp();
    if (HasFatalFailure()) return;
    RawLogin(&s_, OpenHost());
    if (HasFatalFailure()) return;
    ClearRawUnitAttention(&s_);
  }

  // Sends WRITE(16) of `blocks` at `lba` without immediate data; with
  // InitialR2T=Yes the target must ask for the data with an R2T.
  void StartWrite(uint64_t lba, uint32_t blocks, Pdu* r2t) {
    Pdu cmd = ScsiCommand(0, s_.next_itt++, s_.cmd_sn++, s_.exp_stat_sn,
                          Write16Cdb(lba, blocks), false, true, blocks * kBlockSize);
    std::string error;
    ASSERT_EQ(s_.Exchange(cmd, r2t, &error), ReadStatus::kPdu) << "no R2T: " << error;
    ASSERT_EQ(r2t->opcode(), kR2t) << "opcode " << Hex(r2t->opcode());
    EXPECT_EQ(r2t->Field32(40), 0u) << "first R2T's buffer offset";
    EXPECT_EQ(r2t->Field32(44), blocks * kBlockSize) << "R2T desired length";
  }

  bool OpenBlockIsUntouched(uint64_t lba) {
    return gw_.ReadFile("open.img", lba * kBlockSize, kBlockSize) ==
           std::vector<uint8_t>(kBlockSize, 0x0F);
  }

  RawSession s_;
};

TEST_F(BadDataOut, UnknownTargetTransferTagIsRejected) {
  Pdu r2t;
  StartWrite(30, 8, &r2t);
  if (HasFatalFailure()) return;
  const uint32_t itt = r2t.itt(), ttt = r2t.Field32(20);
  std::vector<uint8_t> data = Pattern(8 * kBlockSize, 30);
  Pdu bogus = DataOut(0, itt, ttt ^ 0x5a5a5a5a, s_.exp_stat_sn, 0, 0, true, data);
  Pdu reply;
  std::string error;
  ReadStatus st = s_.Exchange(bogus, &reply, &error);
  if (st == ReadStatus::kClosed) {
    EXPECT_TRUE(OpenBlockIsUntouched(30));
    ExpectOthersWork();
    return;  // ending the connection is allowed
  }
  ASSERT_EQ(st, ReadStatus::kPdu) << "neither a Reject nor a close: " << error;
  // RFC 7143 §11.17.1, note 2: Invalid PDU field for an invalid TTT.
  ExpectReject(reply, {0x04, 0x09}, BhsOf(s_.conn, bogus));
  EXPECT_TRUE(OpenBlockIsUntouched(30)) << "data sent under a bogus TTT was written";
  // A Reject alone does not end the task (RFC 7143 §7.2): the right
  // Data-Out completes it, unless the target chose to end the task, which
  // it must then do with a SCSI Response.
  ASSERT_TRUE(s_.conn.Send(DataOut(0, itt, ttt, s_.exp_stat_sn, 0, 0, true, data)));
  ScsiResult done = Finish(&s_, itt);
  ASSERT_EQ(done.read, ReadStatus::kPdu);
  ASSERT_EQ(done.last.opcode(), kScsiResponse) << "opcode " << Hex(done.last.opcode());
  if (done.status == 0x00) {
    EXPECT_EQ(gw_.ReadFile("open.img", 30 * kBlockSize, data.size()), data);
  } else {
    Sense sense;
    EXPECT_EQ(done.status, 0x02) << "status " << Hex(done.status);
    EXPECT_TRUE(ParseSense(done.last.data, &sense)) << "a failed task without sense data";
    // A task ended for a transport reason is an aborted command (SAM-5).
    EXPECT_EQ(sense.key, 0x0b) << "sense " << Hex(sense.key) << "/" << Hex(sense.asc) << "/"
                               << Hex(sense.ascq);
  }
  ExpectOthersWork();
}

TEST_F(BadDataOut, DataBeyondTheR2tIsNotWritten) {
  Pdu r2t;
  StartWrite(40, 4, &r2t);
  if (HasFatalFailure()) return;
  const uint32_t itt = r2t.itt(), ttt = r2t.Field32(20);
  // Twice what the R2T (and the command) asked for.
  Pdu big = DataOut(0, itt, ttt, s_.exp_stat_sn, 0, 0, true, Pattern(8 * kBlockSize, 31));
  Pdu reply;
  std::string error;
  ReadStatus st = s_.Exchange(big, &reply, &error);
  ASSERT_TRUE(st == ReadStatus::kPdu || st == ReadStatus::kClosed)
      << "neither an answer nor a close: " << error;
  if (st == ReadStatus::kPdu) {
    if (reply.opcode() == kScsiResponse) {
      EXPECT_NE(reply.bhs[3], 0x00) << "a write with too much data completed GOOD";
    } else {
      ExpectReject(reply, {0x04, 0x09}, BhsOf(s_.conn, big));
    }
  }
  for (uint64_t lba = 44; lba < 48; ++lba) {
    EXPECT_TRUE(OpenBlockIsUntouched(lba)) << "block " << lba << " beyond the write changed";
  }
  ExpectOthersWork();
}

TEST_F(BadDataOut, UnsolicitedDataBeyondFirstBurstLength) {
  ASSERT_TRUE(s_.immediate_data) << "target refused ImmediateData=Yes";
  ASSERT_LT(s_.first_burst + 4096, s_.target_mrdsl) << "cannot exceed FirstBurstLength alone";
  const uint32_t blocks = 2 * s_.first_burst / kBlockSize;
  Pdu cmd = ScsiCommand(0, s_.next_itt++, s_.cmd_sn++, s_.exp_stat_sn, Write16Cdb(0, blocks),
                        false, true, blocks * kBlockSize, Pattern(s_.first_burst + 4096, 32));
  Pdu reply;
  std::string error;
  ReadStatus st = s_.Exchange(cmd, &reply, &error);
  ASSERT_TRUE(st == ReadStatus::kPdu || st == ReadStatus::kClosed)
      << "neither an answer nor a close: " << error;
  if (st == ReadStatus::kPdu) {
    // A Reject (the command is discarded), or the task ends in error; it
    // must not go on as if the data were fine.
    if (reply.opcode() == kReject) {
      ExpectReject(reply, {0x04, 0x09}, BhsOf(s_.conn, cmd));
    } else {
      EXPECT_EQ(reply.opcode(), kScsiResponse) << "opcode " << Hex(reply.opcode());
      EXPECT_NE(reply.bhs[3], 0x00) << "unsolicited data beyond FirstBurstLength was accepted";
    }
  }
  ExpectOthersWork();
}

// Write data lands in buffers the gateway uses again (scsi/data_buffers.h):
// many PDUs in one send, so in one read, each with its own data (writes with
// 4 KiB of immediate data to consecutive blocks, written as one batch, a
// write whose data comes in Data-Out after an R2T, and a 4 KiB NOP-Out ping
// in between), three times over so the later rounds get the earlier rounds'
// buffers. Every block holds its own write's bytes and the ping comes back
// as sent: no data was taken from another PDU's buffer or from a buffer
// given back before its write was down.
TEST_F(BadDataOut, ManyPdusInOneReadEachKeepTheirData) {
  ASSERT_TRUE(s_.immediate_data) << "target refused ImmediateData=Yes";
  constexpr uint32_t kWrites = 16, kBytes = 4096, kBlocks = kBytes / kBlockSize;
  std::vector<uint8_t> expected((kWrites + 1) * kBytes);
  for (uint32_t round = 0; round < 3; ++round) {
    std::vector<uint8_t> wire;
    std::vector<uint32_t> itts;
    auto add = [&](const Pdu& pdu) {
      std::vector<uint8_t> b = s_.conn.Serialize(pdu);
      wire.insert(wire.end(), b.begin(), b.end());
    };
    const uint32_t ping_itt = s_.next_itt++;
    const std::vector<uint8_t> ping = Pattern(kBytes, 900 + round);
    for (uint32_t i = 0; i < kWrites; ++i) {
      std::vector<uint8_t> data = Pattern(kBytes, 100 * round + i);
      std::copy(data.begin(), data.end(), expected.begin() + long(i * kBytes));
      itts.push_back(s_.next_itt);
      add(ScsiCommand(0, s_.next_itt++, s_.cmd_sn++, s_.exp_stat_sn,
                      Write16Cdb(uint64_t(i) * kBlocks, kBlocks), false, true, kBytes,
                      std::move(data)));
      if (i == kWrites / 2) add(NopOut(ping_itt, s_.cmd_sn, s_.exp_stat_sn, ping));
    }
    // The last one solicits its data (InitialR2T=Yes, no immediate data).
    const uint32_t r2t_itt = s_.next_itt++;
    add(ScsiCommand(0, r2t_itt, s_.cmd_sn++, s_.exp_stat_sn,
                    Write16Cdb(uint64_t(kWrites) * kBlocks, kBlocks), false, true, kBytes));
    ASSERT_TRUE(s_.conn.SendBytes(wire)) << "round " << round;

    uint32_t answered = 0;
    bool ping_back = false, r2t_seen = false, r2t_done = false;
    const std::vector<uint8_t> solicited = Pattern(kBytes, 700 + round);
    std::copy(solicited.begin(), solicited.end(), expected.begin() + long(kWrites * kBytes));
    while (answered < kWrites || !ping_back || !r2t_done) {
      Pdu reply;
      std::string error;
      ASSERT_EQ(s_.conn.Read(&reply, kWait, &error), ReadStatus::kPdu)
          << "round " << round << ": " << answered << " writes answered, ping "
          << ping_back << ", R2T write " << r2t_done << ": " << error;
      s_.Track(reply);
      if (reply.opcode() == kNopIn) {
        ASSERT_EQ(reply.itt(), ping_itt);
        EXPECT_EQ(reply.data, ping) << "round " << round << ": the ping came back changed";
        ping_back = true;
      } else if (reply.opcode() == kR2t) {
        ASSERT_EQ(reply.itt(), r2t_itt);
        ASSERT_FALSE(r2t_seen) << "a second R2T for one 4 KiB write";
        r2t_seen = true;
        ASSERT_TRUE(s_.conn.Send(DataOut(0, r2t_itt, reply.Field32(20), s_.exp_stat_sn, 0, 0,
                                         true, solicited)));
      } else {
        ASSERT_EQ(reply.opcode(), kScsiResponse) << "opcode " << Hex(reply.opcode());
        EXPECT_EQ(reply.bhs[3], 0x00) << "round " << round << ": status of ITT "
                                      << Hex(reply.itt());
        if (reply.itt() == r2t_itt) {
          r2t_done = true;
        } else {
          ASSERT_NE(std::find(itts.begin(), itts.end(), reply.itt()), itts.end());
          ++answered;
        }
      }
    }
    std::vector<uint8_t> got = gw_.ReadFile("open.img", 0, expected.size());
    ASSERT_EQ(got.size(), expected.size());
    for (uint32_t i = 0; i <= kWrites; ++i) {
      EXPECT_TRUE(std::equal(got.begin() + long(i * kBytes), got.begin() + long((i + 1) * kBytes),
                             expected.begin() + long(i * kBytes)))
          << "round " << round << ": the 4 KiB of write " << i << " hold other bytes";
    }
  }
  ExpectOthersWork();
}

TEST_F(BadDataOut, DataOutForNoTaskIsRejected) {
  Pdu stray = DataOut(0, 0x0badf00d, 0x12345678, s_.exp_stat_sn, 0, 0, true,
                      Pattern(kBlockSize, 33));
  Pdu reply;
  std::string error;
  ReadStatus st = s_.Exchange(stray, &reply, &error);
  if (st != ReadStatus::kClosed) {
    ASSERT_EQ(st, ReadStatus::kPdu) << "neither a Reject nor a close: " << error;
    ExpectReject(reply, {0x04, 0x09}, BhsOf(s_.conn, stray));
    EXPECT_TRUE(s_.Ping(Pattern(8, 34), &error)) << "after the Reject: " << error;
  }
  ExpectOthersWork();
}

}  // namespace
}  // namespace vsl::e2e
