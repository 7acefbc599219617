#include "raw_fixture.h"

#include <cstdio>

namespace vsl::e2e {

std::vector<uint8_t> BhsOf(const RawConnection& conn, const Pdu& pdu,
                           const SendOptions& options) {
  std::vector<uint8_t> wire = conn.Serialize(pdu, options);
  return std::vector<uint8_t>(wire.begin(), wire.begin() + 48);
}

std::string Hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%02x", v);
  return buf;
}

void ExpectReject(const Pdu& reply, const std::set<uint8_t>& reasons,
                  const std::vector<uint8_t>& rejected_bhs) {
  ASSERT_EQ(reply.opcode(), kReject) << "expected a Reject, got opcode " << Hex(reply.opcode());
  EXPECT_TRUE(reply.bhs[1] & 0x80) << "Reject without the F bit";
  EXPECT_TRUE(reasons.count(reply.bhs[2])) << "Reject reason " << Hex(reply.bhs[2]);
  EXPECT_EQ(reply.itt(), kReservedTag) << "Reject ITT must be 0xffffffff";
  EXPECT_EQ(reply.data, rejected_bhs) << "Reject must carry the rejected PDU's header";
}

void RawGatewayTest::SetUp() {
  GatewayTest::SetUp();
  if (HasFatalFailure()) return;
  witness_ = LoginOrFail(Web1Spec());
  ASSERT_TRUE(witness_);
}

void RawGatewayTest::TearDown() {
  witness_.reset();
  GatewayTest::TearDown();
}

RawLoginOptions RawGatewayTest::OpenHost() const {
  RawLoginOptions o;
  o.initiator = farm::kOpenInitiator;
  o.target = TargetName("open");
  return o;
}

RawLoginOptions RawGatewayTest::Web1Host() const {
  RawLoginOptions o;
  o.initiator = farm::kWeb1Initiator;
  o.target = TargetName("web1");
  o.chap_user = farm::kWeb1User;
  o.chap_secret = farm::kWeb1Secret;
  return o;
}

void RawGatewayTest::RawLogin(RawSession* s, const RawLoginOptions& o) {
  std::string error;
  ASSERT_TRUE(s->Login(gw_.port(), o, &error)) << error;
}

void RawGatewayTest::ExpectOthersWork() {
  ASSERT_TRUE(witness_) << "no witness session";
  std::vector<uint8_t> data = Pattern(2 * kBlockSize, ++round_);
  Task w(iscsi_write16_sync(witness_.get(), 0, 127, data.data(), uint32_t(data.size()),
                            kBlockSize, 0, 0, 0, 0, 0));
  ASSERT_TRUE(w && w->status == SCSI_STATUS_GOOD)
      << "witness session broke: " << Describe(w.get()) << " " << iscsi_get_error(witness_.get());
  Task r(iscsi_read16_sync(witness_.get(), 0, 127, 2 * kBlockSize, kBlockSize, 0, 0, 0, 0, 0));
  ASSERT_TRUE(r && r->status == SCSI_STATUS_GOOD) << "witness read: " << Describe(r.get());
  EXPECT_EQ(std::vector<uint8_t>(r->datain.data, r->datain.data + r->datain.size), data);
  Context fresh = LoginOrFail(OpenSpec());
  ASSERT_TRUE(fresh);
  Task r2(iscsi_read16_sync(fresh.get(), 0, 0, kBlockSize, kBlockSize, 0, 0, 0, 0, 0));
  ASSERT_TRUE(r2 && r2->status == SCSI_STATUS_GOOD) << "new session read: " << Describe(r2.get());
}

RawGatewayTest::ScsiResult RawGatewayTest::RunScsi(RawSession* s,
                                                   const std::array<uint8_t, 16>& cdb, bool read,
                                                   bool write, uint32_t length,
                                                   std::vector<uint8_t> data) {
  Pdu cmd = ScsiCommand(0, s->next_itt++, s->cmd_sn++, s->exp_stat_sn, cdb, read, write, length,
                        std::move(data));
  if (!s->conn.Send(cmd)) return {};
  return Finish(s, cmd.itt());
}

RawGatewayTest::ScsiResult RawGatewayTest::Finish(RawSession* s, uint32_t itt) {
  ScsiResult out;
  while ((out.read = s->ReadReply(itt, &out.last)) == ReadStatus::kPdu) {
    const Pdu& p = out.last;
    if (p.opcode() == kDataIn) {
      out.data_in.insert(out.data_in.end(), p.data.begin(), p.data.end());
      if (p.bhs[1] & 0x01) {
        out.status = p.bhs[3];
        break;
      }
      continue;
    }
    if (p.opcode() == kScsiResponse) out.status = p.bhs[3];
    break;
  }
  return out;
}

void RawGatewayTest::ClearRawUnitAttention(RawSession* s) {
  for (int i = 0; i < 8; ++i) {
    ScsiResult r = RunScsi(s, std::array<uint8_t, 16>{}, false, false, 0);
    ASSERT_EQ(r.read, ReadStatus::kPdu) << "no response to TEST UNIT READY";
    if (r.status == 0x00) return;
    Sense sense;
    ASSERT_TRUE(r.status == 0x02 && ParseSense(r.last.data, &sense) && sense.key == 0x06)
        << "TEST UNIT READY: status " << Hex(r.status);
  }
  FAIL() << "unit attentions did not clear after 8 TEST UNIT READY";
}

}  // namespace vsl::e2e
