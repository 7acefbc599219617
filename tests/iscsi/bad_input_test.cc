// Bad input over raw TCP: truncated and oversized PDUs, unknown opcodes,
// wrong digests, garbage and out-of-order logins, out-of-range LBAs. Each
// must get what RFC 7143 / SBC-3 ask for (a Reject, a failed login, a
// CHECK CONDITION, a closed connection), and other sessions keep working.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "raw_fixture.h"
#include "util/bytes.h"

namespace vsl::e2e {
namespace {

constexpr uint64_t kOpenBlocks = farm::kOpenLun0Blocks;

class BadInput : public RawGatewayTest {
 protected:
  void ExpectLbaOutOfRange(RawSession* s, const std::array<uint8_t, 16>& cdb, bool write,
                           const std::string& what) {
    SCOPED_TRACE(what);
    std::vector<uint8_t> data;
    if (write) data = Pattern(kBlockSize, 99);
    ScsiResult r = RunScsi(s, cdb, !write, write, kBlockSize, data);
    ASSERT_EQ(r.read, ReadStatus::kPdu) << "no SCSI Response";
    ASSERT_EQ(r.last.opcode(), kScsiResponse) << "opcode " << Hex(r.last.opcode());
    EXPECT_EQ(r.last.bhs[2], 0x00) << "iSCSI response must be 'command completed at target'";
    EXPECT_EQ(r.status, 0x02) << "SCSI status must be CHECK CONDITION";
    Sense sense;
    ASSERT_TRUE(ParseSense(r.last.data, &sense)) << "no sense data in the SCSI Response";
    EXPECT_EQ(sense.key, 0x05) << "sense key must be ILLEGAL REQUEST";
    EXPECT_EQ(sense.asc, 0x21) << "ASC must be LOGICAL BLOCK ADDRESS OUT OF RANGE";
    EXPECT_EQ(sense.ascq, 0x00);
  }
};

TEST(RawPdu, Crc32cMatchesRfc3720Vectors) {
  std::vector<uint8_t> zeros(32, 0), ones(32, 0xff), up(32), down(32);
  for (int i = 0; i < 32; ++i) {
    up[i] = uint8_t(i);
    down[i] = uint8_t(31 - i);
  }
  EXPECT_EQ(Crc32c(zeros.data(), 32), 0x8a9136aau);
  EXPECT_EQ(Crc32c(ones.data(), 32), 0x62a8ab43u);
  EXPECT_EQ(Crc32c(up.data(), 32), 0x46dd794eu);
  EXPECT_EQ(Crc32c(down.data(), 32), 0x113fdb5cu);
}

TEST_F(BadInput, TruncatedPdusThenClose) {
  std::string error;
  std::vector<uint8_t> login_wire;
  {
    // Twenty bytes of a Login Request header, then the connection closes.
    RawConnection c;
    ASSERT_TRUE(c.Connect(gw_.port(), &error)) << error;
    Pdu login = LoginRequest(0, 1, true, UniqueLoginItt(), 1, 0,
                             EncodeKeys({{"InitiatorName", farm::kOpenInitiator}}));
    login_wire = c.Serialize(login);
    ASSERT_TRUE(c.SendBytes({login_wire.begin(), login_wire.begin() + 20}));
  }
  ExpectOthersWork();
  {
    // A whole header whose text stops half way.
    RawConnection c;
    ASSERT_TRUE(c.Connect(gw_.port(), &error)) << error;
    ASSERT_TRUE(c.SendBytes({login_wire.begin(), login_wire.begin() + 48 + 10}));
  }
  ExpectOthersWork();
  {
    // In full feature phase: part of a SCSI Command header.
    RawSession s;
    RawLogin(&s, OpenHost());
    Pdu cmd = ScsiCommand(0, s.next_itt++, s.cmd_sn++, s.exp_stat_sn, Read16Cdb(0, 1), true,
                          false, kBlockSize);
    std::vector<uint8_t> wire = s.conn.Serialize(cmd);
    ASSERT_TRUE(s.conn.SendBytes({wire.begin(), wire.begin() + 30}));
  }
  ExpectOthersWork();
  {
    // A write whose immediate data is cut short.
    RawSession s;
    RawLogin(&s, OpenHost());
    Pdu cmd = ScsiCommand(0, s.next_itt++, s.cmd_sn++, s.exp_stat_sn, Write16Cdb(20, 1), false,
                          true, kBlockSize, Pattern(kBlockSize, 1));
    std::vector<uint8_t> wire = s.conn.Serialize(cmd);
    ASSERT_TRUE(s.conn.SendBytes({wire.begin(), wire.begin() + 48 + 100}));
  }
  ExpectOthersWork();
  EXPECT_EQ(gw_.ReadFile("open.img", 20 * kBlockSize, kBlockSize),
            std::vector<uint8_t>(kBlockSize, 0x0F))
      << "a write whose data never fully arrived changed the volume";
}

TEST_F(BadInput, StalledPartialPdusDoNotBlockOthers) {
  std::string error;
  RawConnection stalled_login;
  ASSERT_TRUE(stalled_login.Connect(gw_.port(), &error)) << error;
  ASSERT_TRUE(stalled_login.SendBytes(std::vector<uint8_t>(47, 0x43)));
  RawSession stalled;
  RawLogin(&stalled, OpenHost());
  Pdu ping = NopOut(stalled.next_itt++, stalled.cmd_sn, stalled.exp_stat_sn, Pattern(4000, 2));
  std::vector<uint8_t> wire = stalled.conn.Serialize(ping);
  ASSERT_TRUE(stalled.conn.SendBytes({wire.begin(), wire.begin() + 2000}));
  // Both stay open, half sent, while others work.
  ExpectOthersWork();
  ExpectOthersWork();
}

class UnknownOpcode : public BadInput, public testing::WithParamInterface<int> {};

TEST_P(UnknownOpcode, IsRejectedAndTheSessionGoesOn) {
  // RFC 7143 §11.2.1.2 assigns no meaning to this opcode; the target answers
  // with Reject "Command not supported" (or "Protocol Error") carrying the
  // header, discards the PDU (and its data) and keeps the connection.
  RawSession s;
  RawLogin(&s, OpenHost());
  for (size_t data_size : {size_t(0), size_t(100)}) {
    SCOPED_TRACE("data segment of " + std::to_string(data_size) + " bytes");
    Pdu pdu = NopOut(s.next_itt++, s.cmd_sn, s.exp_stat_sn, Pattern(data_size, 3));
    pdu.bhs[0] = uint8_t(0x40 | GetParam());  // immediate: no CmdSN is used up
    Pdu reply;
    std::string error;
    ASSERT_EQ(s.Exchange(pdu, &reply, &error), ReadStatus::kPdu)
        << "no Reject for opcode " << Hex(uint32_t(GetParam())) << " " << error;
    ExpectReject(reply, {0x04, 0x05}, BhsOf(s.conn, pdu));
    ASSERT_TRUE(s.Ping(Pattern(64, 4), &error)) << "after the Reject: " << error;
  }
  ExpectOthersWork();
}

INSTANTIATE_TEST_SUITE_P(Opcodes, UnknownOpcode, testing::Values(0x0f, 0x1b, 0x1c, 0x3e),
                         [](const testing::TestParamInfo<int>& info) {
                           return "Opcode" + Hex(uint32_t(info.param));
                         });

// After a PDU whose data segment breaks the target's declared
// MaxRecvDataSegmentLength (RFC 7143 §13.12) the target either rejects it
// (Protocol Error or Invalid PDU field) or ends the connection; it never
// acts on it. When it rejects and stays, the session must still work.
void ExpectOversizeHandled(RawSession* s, const Pdu& sent, bool can_resync) {
  Pdu reply;
  std::string error;
  ReadStatus st = s->ReadReply(sent.itt(), &reply, &error);
  if (st == ReadStatus::kClosed) return;
  ASSERT_EQ(st, ReadStatus::kPdu) << "neither a Reject nor a close within 5 s " << error;
  ASSERT_NE(reply.opcode(), kNopIn) << "the target answered a ping longer than it accepts";
  ExpectReject(reply, {0x04, 0x09}, BhsOf(s->conn, sent, {false, false, true, sent.data_length()}));
  if (!can_resync) return;
  Pdu next;
  std::string ping_error;
  Pdu ping = NopOut(s->next_itt++, s->cmd_sn, s->exp_stat_sn, Pattern(16, 5));
  st = s->Exchange(ping, &next, &ping_error);
  if (st == ReadStatus::kClosed) return;  // ended after the Reject: also allowed
  ASSERT_EQ(st, ReadStatus::kPdu) << ping_error;
  EXPECT_EQ(next.opcode(), kNopIn) << "after the Reject the connection must still work";
}

TEST_F(BadInput, DataSegmentBeyondNegotiatedLength) {
  RawSession s;
  RawLogin(&s, OpenHost());
  Pdu ping = NopOut(s.next_itt++, s.cmd_sn, s.exp_stat_sn, Pattern(s.target_mrdsl + 512, 6));
  StoreBe24(&ping.bhs[5], uint32_t(ping.data.size()));
  ASSERT_TRUE(s.conn.Send(ping));
  ExpectOversizeHandled(&s, ping, true);
  ExpectOthersWork();
}

TEST_F(BadInput, HugeDataSegmentLengthIsNotAwaited) {
  // The header claims 16 MiB - 1 and no data follows: the target must act on
  // the header alone rather than wait to buffer it.
  RawSession s;
  RawLogin(&s, OpenHost());
  Pdu ping = NopOut(s.next_itt++, s.cmd_sn, s.exp_stat_sn, {});
  StoreBe24(&ping.bhs[5], 0xffffff);
  ASSERT_TRUE(s.conn.Send(ping, {false, false, true, 0xffffff}));
  ExpectOversizeHandled(&s, ping, false);
  ExpectOthersWork();
}

TEST_F(BadInput, WrongHeaderDigestClosesTheConnection) {
  RawLoginOptions o = OpenHost();
  o.header_digest = true;
  RawSession s;
  RawLogin(&s, o);
  std::string error;
  ASSERT_TRUE(s.Ping(Pattern(32, 7), &error)) << "with correct header digests: " << error;
  ASSERT_TRUE(s.immediate_data) << "target refused ImmediateData=Yes";
  // RFC 7143 §7.8: the header (and its length) cannot be trusted, and with
  // no sync layer the only way on is to close the connection.
  Pdu cmd = ScsiCommand(0, s.next_itt++, s.cmd_sn++, s.exp_stat_sn, Write16Cdb(10, 1), false, true,
                        kBlockSize, Pattern(kBlockSize, 8));
  ASSERT_TRUE(s.conn.Send(cmd, {true, false, false, 0}));
  std::vector<Pdu> seen;
  EXPECT_TRUE(s.conn.WaitClosed(kWait, &seen)) << "connection still open 5 s after a bad header digest";
  for (const Pdu& p : seen) {
    EXPECT_TRUE(p.opcode() == kReject || p.opcode() == kAsyncMessage)
        << "target answered a PDU whose header digest was wrong (opcode " << Hex(p.opcode()) << ")";
  }
  EXPECT_EQ(gw_.ReadFile("open.img", 10 * kBlockSize, kBlockSize),
            std::vector<uint8_t>(kBlockSize, 0x0F))
      << "a write with a bad header digest reached the volume";
  ExpectOthersWork();
}

TEST_F(BadInput, WrongDataDigestIsRejected) {
  RawLoginOptions o = OpenHost();
  o.data_digest = true;
  std::string error;
  {
    RawSession s;
    RawLogin(&s, o);
    ASSERT_TRUE(s.Ping(Pattern(64, 9), &error)) << "with correct data digests: " << error;
    // RFC 7143 §7.8: Reject "Data digest error", PDU discarded; for a
    // non-data PDU nothing more, though either side may escalate to
    // session recovery (close).
    Pdu ping = NopOut(s.next_itt++, s.cmd_sn, s.exp_stat_sn, Pattern(64, 10));
    Pdu reply;
    ASSERT_EQ(s.Exchange(ping, &reply, &error, {false, true, false, 0}), ReadStatus::kPdu)
        << "no Reject for a bad data digest " << error;
    ExpectReject(reply, {0x02}, BhsOf(s.conn, ping));
    Pdu next;
    Pdu ping2 = NopOut(s.next_itt++, s.cmd_sn, s.exp_stat_sn, Pattern(8, 11));
    ReadStatus st = s.Exchange(ping2, &next, &error);
    if (st != ReadStatus::kClosed) {
      ASSERT_EQ(st, ReadStatus::kPdu) << error;
      EXPECT_EQ(next.opcode(), kNopIn);
      EXPECT_EQ(next.itt(), ping2.itt()) << "the discarded ping was answered";
    }
  }
  ExpectOthersWork();
  {
    // Immediate data with a bad digest: the command is discarded, nothing
    // is written.
    RawSession s;
    RawLogin(&s, o);
    ASSERT_TRUE(s.immediate_data) << "target refused ImmediateData=Yes";
    Pdu cmd = ScsiCommand(0, s.next_itt++, s.cmd_sn++, s.exp_stat_sn, Write16Cdb(11, 1), false,
                          true, kBlockSize, Pattern(kBlockSize, 12));
    Pdu reply;
    ASSERT_EQ(s.Exchange(cmd, &reply, &error, {false, true, false, 0}), ReadStatus::kPdu)
        << "no Reject for a bad data digest on immediate data " << error;
    ExpectReject(reply, {0x02}, BhsOf(s.conn, cmd));
    EXPECT_EQ(gw_.ReadFile("open.img", 11 * kBlockSize, kBlockSize),
              std::vector<uint8_t>(kBlockSize, 0x0F))
        << "immediate data with a bad digest reached the volume";
  }
  ExpectOthersWork();
}

// Sends `first` as the first Login Request of a connection and expects a
// Login Response with status class 2 (initiator error) and, when
// `detail` >= 0, that detail; then the target closes (RFC 7143 §11.13.5).
void ExpectLoginReject(int port, const std::vector<uint8_t>& wire, int detail,
                       bool no_response_ok = false) {
  RawConnection c;
  std::string error;
  ASSERT_TRUE(c.Connect(port, &error)) << error;
  ASSERT_TRUE(c.SendBytes(wire));
  Pdu reply;
  ReadStatus st = c.Read(&reply, kWait, &error);
  if (st == ReadStatus::kClosed && no_response_ok) return;
  ASSERT_EQ(st, ReadStatus::kPdu) << "no Login Response " << error;
  ASSERT_EQ(reply.opcode(), kLoginResponse) << "opcode " << Hex(reply.opcode());
  EXPECT_EQ(reply.bhs[36], 2) << "status class " << int(reply.bhs[36]) << " detail "
                              << int(reply.bhs[37]) << "; expected 2 (initiator error)";
  if (detail >= 0) {
    EXPECT_EQ(reply.bhs[37], detail) << "status detail";
  }
  std::vector<Pdu> seen;
  EXPECT_TRUE(c.WaitClosed(kWait, &seen)) << "target kept the connection after a login reject";
  EXPECT_TRUE(seen.empty()) << "PDUs after the login reject";
}

std::vector<uint8_t> FirstLogin(const std::vector<uint8_t>& text, uint8_t csg = 0,
                                uint8_t nsg = 1) {
  RawConnection serializer;
  return serializer.Serialize(LoginRequest(csg, nsg, true, UniqueLoginItt(), 1, 0, text));
}

KeyValues OpenSecurityKeys() {
  return {{"InitiatorName", farm::kOpenInitiator},
          {"SessionType", "Normal"},
          {"TargetName", TargetName("open")},
          {"AuthMethod", "None"}};
}

struct GarbageCase {
  const char* name;
  std::vector<uint8_t> tail;  // appended after OpenSecurityKeys()
};

void PrintTo(const GarbageCase& c, std::ostream* os) { *os << c.name; }

class GarbageLoginKeys : public BadInput, public testing::WithParamInterface<GarbageCase> {};

TEST_P(GarbageLoginKeys, FailTheLoginWithInitiatorError) {
  // RFC 7143 §6.1: key=value, key names at most 63 bytes of the allowed
  // characters, each pair NUL-terminated; anything else is an initiator error.
  std::vector<uint8_t> text = EncodeKeys(OpenSecurityKeys());
  text.insert(text.end(), GetParam().tail.begin(), GetParam().tail.end());
  ExpectLoginReject(gw_.port(), FirstLogin(text), -1);
  ExpectOthersWork();
}

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

INSTANTIATE_TEST_SUITE_P(
    Keys, GarbageLoginKeys,
    testing::Values(GarbageCase{"NoEquals", Bytes(std::string("JustAKey\0", 9))},
                    GarbageCase{"LongKey", Bytes(std::string(300, 'K') + "=1" + std::string(1, '\0'))},
                    GarbageCase{"BinaryJunk", {0x01, 0xff, 0xfe, '=', 0x80, 0x7f, 0x00}},
                    GarbageCase{"EmptyKey", Bytes(std::string("=Yes\0", 5))},
                    GarbageCase{"NoTerminator", Bytes("X-org.example.Tail=1")}),
    [](const testing::TestParamInfo<GarbageCase>& info) { return std::string(info.param.name); });

TEST_F(BadInput, UnknownWellFormedKeyIsNotUnderstood) {
  // The contrast to the garbage above: a well-formed key the target does not
  // know is answered with NotUnderstood and the login goes on (RFC 7143 §6.2).
  RawLoginOptions o = OpenHost();
  o.extra_keys = {{"X-org.example.Color", "blue"}};
  RawSession s;
  RawLogin(&s, o);
  EXPECT_EQ(FindKey(s.first_response_keys, "X-org.example.Color"), "NotUnderstood");
  std::string error;
  EXPECT_TRUE(s.Ping(Pattern(8, 13), &error)) << error;
}

TEST_F(BadInput, LoginStagesOutOfOrder) {
  KeyValues operational = {{"HeaderDigest", "None"}, {"DataDigest", "None"}};
  {
    SCOPED_TRACE("web1 requires CHAP but the initiator starts in the operational stage");
    KeyValues k = {{"InitiatorName", farm::kWeb1Initiator},
                   {"SessionType", "Normal"},
                   {"TargetName", TargetName("web1")}};
    k.insert(k.end(), operational.begin(), operational.end());
    ExpectLoginReject(gw_.port(), FirstLogin(EncodeKeys(k), 1, 3), -1);
  }
  {
    SCOPED_TRACE("transit from security to security");
    ExpectLoginReject(gw_.port(), FirstLogin(EncodeKeys(OpenSecurityKeys()), 0, 0), -1);
  }
  {
    SCOPED_TRACE("next stage 2 (reserved)");
    ExpectLoginReject(gw_.port(), FirstLogin(EncodeKeys(OpenSecurityKeys()), 0, 2), -1);
  }
  {
    SCOPED_TRACE("current stage 3 (full feature) in a Login Request");
    ExpectLoginReject(gw_.port(), FirstLogin(EncodeKeys(OpenSecurityKeys()), 3, 3), -1);
  }
  {
    SCOPED_TRACE("transit back from operational to security");
    KeyValues k = OpenSecurityKeys();
    k.pop_back();  // AuthMethod
    ExpectLoginReject(gw_.port(), FirstLogin(EncodeKeys(k), 1, 0), -1);
  }
  {
    SCOPED_TRACE("unsupported version (0x0205)");
    std::vector<uint8_t> wire = FirstLogin(EncodeKeys(OpenSecurityKeys()));
    wire[2] = 0x05;  // Version-max
    wire[3] = 0x05;  // Version-min
    ExpectLoginReject(gw_.port(), wire, 0x05);
  }
  {
    SCOPED_TRACE("no InitiatorName (0x0207 missing parameter)");
    KeyValues k = OpenSecurityKeys();
    k.erase(k.begin());
    ExpectLoginReject(gw_.port(), FirstLogin(EncodeKeys(k)), 0x07);
  }
  {
    SCOPED_TRACE("normal session without TargetName (0x0207 missing parameter)");
    KeyValues k = OpenSecurityKeys();
    k.erase(k.begin() + 2);
    ExpectLoginReject(gw_.port(), FirstLogin(EncodeKeys(k)), 0x07);
  }
  {
    SCOPED_TRACE("a SCSI Command before any login");
    RawConnection serializer;
    std::vector<uint8_t> wire =
        serializer.Serialize(ScsiCommand(0, 1, 1, 0, Read16Cdb(0, 1), true, false, kBlockSize));
    ExpectLoginReject(gw_.port(), wire, -1, /*no_response_ok=*/true);
  }
  {
    SCOPED_TRACE("a Login Request in full feature phase");
    RawSession s;
    RawLogin(&s, OpenHost());
    Pdu again = LoginRequest(0, 1, true, s.next_itt++, s.cmd_sn, s.exp_stat_sn,
                             EncodeKeys(OpenSecurityKeys()));
    Pdu reply;
    std::string error;
    ReadStatus st = s.Exchange(again, &reply, &error);
    if (st == ReadStatus::kPdu) {
      ExpectReject(reply, {0x04, 0x05, 0x09}, BhsOf(s.conn, again));
    } else {
      EXPECT_EQ(st, ReadStatus::kClosed) << "neither a Reject nor a close " << error;
    }
  }
  ExpectOthersWork();
}

TEST_F(BadInput, LbaOutOfRange) {
  RawSession s;
  RawLogin(&s, OpenHost());
  ASSERT_TRUE(s.immediate_data) << "target refused ImmediateData=Yes";
  ClearRawUnitAttention(&s);
  ExpectLbaOutOfRange(&s, Read16Cdb(kOpenBlocks, 1), false, "READ(16) at the capacity");
  ExpectLbaOutOfRange(&s, Read16Cdb(kOpenBlocks - 1, 2), false, "READ(16) across the end");
  ExpectLbaOutOfRange(&s, Read16Cdb(uint64_t(1) << 63, 1), false, "READ(16) at 2^63");
  ExpectLbaOutOfRange(&s, Read16Cdb(~uint64_t(0), 1), false, "READ(16) at 2^64-1 (wraps)");
  ExpectLbaOutOfRange(&s, Read10Cdb(0xffffffff, 1), false, "READ(10) at 2^32-1");
  ExpectLbaOutOfRange(&s, Write16Cdb(kOpenBlocks, 1), true, "WRITE(16) at the capacity");
  EXPECT_EQ(gw_.FileSize("open.img"), kOpenBlocks * kBlockSize)
      << "a write beyond the capacity grew the backing file";
  // The session is fine, and the last block reads.
  ScsiResult ok = RunScsi(&s, Read16Cdb(kOpenBlocks - 1, 1), true, false, kBlockSize);
  ASSERT_EQ(ok.read, ReadStatus::kPdu);
  EXPECT_EQ(ok.status, 0x00);
  EXPECT_EQ(ok.data_in, std::vector<uint8_t>(kBlockSize, 0x0F));
  ExpectOthersWork();
}

TEST_F(BadInput, CommandsOutsideTheCmdSnWindowAreIgnored) {
  // RFC 7143 §4.2.2.1: a non-immediate command whose CmdSN is outside
  // [ExpCmdSN, MaxCmdSN], or a duplicate, is silently ignored.
  RawSession s;
  RawLogin(&s, OpenHost());
  ClearRawUnitAttention(&s);
  const uint32_t ahead = s.next_itt++, behind = s.next_itt++;
  ASSERT_TRUE(s.conn.Send(ScsiCommand(0, ahead, s.cmd_sn + (1u << 20), s.exp_stat_sn,
                                      Read16Cdb(0, 1), true, false, kBlockSize)));
  ASSERT_TRUE(s.conn.Send(ScsiCommand(0, behind, s.cmd_sn - 1, s.exp_stat_sn, Read16Cdb(0, 1),
                                      true, false, kBlockSize)));
  // A good command after them: its answer must come, theirs must not.
  const uint32_t good = s.next_itt++;
  ASSERT_TRUE(s.conn.Send(ScsiCommand(0, good, s.cmd_sn++, s.exp_stat_sn, Read16Cdb(1, 1), true,
                                      false, kBlockSize)));
  Pdu ping = NopOut(s.next_itt++, s.cmd_sn, s.exp_stat_sn, Pattern(8, 40));
  ASSERT_TRUE(s.conn.Send(ping));
  bool good_done = false, ping_done = false;
  while (!(good_done && ping_done)) {
    Pdu p;
    std::string error;
    ASSERT_EQ(s.conn.Read(&p, kWait, &error), ReadStatus::kPdu)
        << "the good command or the ping got no answer: " << error;
    s.Track(p);
    ASSERT_NE(p.itt(), ahead) << "a command beyond MaxCmdSN was answered (opcode "
                              << Hex(p.opcode()) << ")";
    ASSERT_NE(p.itt(), behind) << "a command below ExpCmdSN was answered (opcode "
                               << Hex(p.opcode()) << ")";
    ASSERT_NE(p.opcode(), kReject) << "out-of-window commands must be ignored silently";
    if (p.itt() == good && (p.opcode() == kScsiResponse ||
                            (p.opcode() == kDataIn && (p.bhs[1] & 0x01)))) {
      good_done = true;
      EXPECT_EQ(p.bhs[3], 0x00) << "the good READ failed";
    }
    if (p.itt() == ping.itt()) ping_done = true;
  }
  std::string error;
  EXPECT_TRUE(s.Ping(Pattern(8, 41), &error)) << error;
  ExpectOthersWork();
}

TEST_F(BadInput, RandomJunkConnections) {
  std::vector<std::unique_ptr<RawConnection>> junk;
  for (uint32_t i = 0; i < 16; ++i) {
    auto c = std::make_unique<RawConnection>();
    std::string error;
    ASSERT_TRUE(c->Connect(gw_.port(), &error)) << error;
    c->SendBytes(Pattern(4096, 100 + i));  // the target may close early: ignore
    junk.push_back(std::move(c));
  }
  ExpectOthersWork();  // while the junk connections are open
  junk.clear();
  ExpectOthersWork();
}

}  // namespace
}  // namespace vsl::e2e
