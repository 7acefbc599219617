// Typed views (Parse*) and builders of RFC 7143 §11 PDUs.
#include <gtest/gtest.h>

#include "gateway/iscsi/pdu.h"

namespace vsl::iscsi {
namespace {

Pdu Command(uint8_t flags, uint32_t edtl, size_t data, std::vector<uint8_t> ahs = {}) {
  Pdu p;
  p.bhs[0] = 0x01;
  p.bhs[1] = flags;
  p.bhs[4] = uint8_t(ahs.size() / 4);
  StoreBe24(&p.bhs[5], uint32_t(data));
  StoreBe64(&p.bhs[8], 0x0001000000000000ull);
  StoreBe32(&p.bhs[16], 0x11);
  StoreBe32(&p.bhs[20], edtl);
  StoreBe32(&p.bhs[24], 100);
  StoreBe32(&p.bhs[28], 200);
  for (int i = 0; i < 16; i++) p.bhs[32 + i] = uint8_t(0x28 + i);
  p.data.assign(data, 0x5a);
  p.ahs = std::move(ahs);
  return p;
}

void ExpectError(const Status& st, std::string_view pdu, std::string_view field) {
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find(pdu), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(field), std::string::npos) << st.message();
}

TEST(ParseScsiCommand, Table) {
  struct Case {
    const char* name;
    Pdu pdu;
    const char* error_field;  // nullptr: parses
  };
  std::vector<uint8_t> ext_cdb = {0, 17, 1, 0};  // 32-byte CDB: 16 more bytes + reserved
  for (int i = 0; i < 16; i++) ext_cdb.push_back(uint8_t(0xc0 + i));
  ext_cdb.resize(20 + 4, 0);  // pad 3+17=20 -> 20 bytes; keep a multiple of 4
  ext_cdb.resize(20);
  std::vector<Case> cases = {
      {"read", Command(0xc1, 4096, 0), nullptr},
      {"write immediate", Command(0xa1, 4096, 512), nullptr},
      {"write unsolicited follows", Command(0x21, 8192, 512), nullptr},
      {"read and write, EDTL 0", Command(0xe0, 0, 0), nullptr},
      {"no data", Command(0x80, 0, 0), nullptr},
      {"data without W", Command(0xc1, 4096, 4), "DataSegmentLength"},
      {"immediate data beyond EDTL", Command(0xa1, 8, 12), "ExpectedDataTransferLength"},
      {"F clear for a read", Command(0x41, 4096, 0), "F bit"},
      {"F clear, all data immediate", Command(0x21, 512, 512), "F bit"},
      {"unknown AHS type", Command(0x80, 0, 0, {0, 1, 9, 0}), "AHS type 9"},
      {"bidi AHS without R+W", Command(0xc0, 0, 0, {0, 5, 2, 0, 0, 0, 1, 0}), "R and W"},
      {"bidi AHS bad length", Command(0xe0, 0, 0, {0, 1, 2, 0}), "bidirectional"},
      {"extended CDB", Command(0x80, 0, 0, ext_cdb), nullptr},
      {"ext CDB twice",
       Command(0x80, 0, 0,
               [&] {
                 auto a = ext_cdb;
                 a.insert(a.end(), ext_cdb.begin(), ext_cdb.end());
                 return a;
               }()),
       "two extended CDB"},
  };
  Pdu reserved_itt = Command(0x80, 0, 0);
  StoreBe32(&reserved_itt.bhs[16], kReservedTag);
  cases.push_back({"reserved ITT", reserved_itt, "Initiator Task Tag"});
  Pdu wrong_len = Command(0xa1, 100, 8);
  StoreBe24(&wrong_len.bhs[5], 9);
  cases.push_back({"DSL mismatch", wrong_len, "DataSegmentLength"});

  for (const Case& c : cases) {
    Result<ScsiCommandPdu> r = ParseScsiCommand(c.pdu);
    if (c.error_field) {
      ASSERT_FALSE(r.ok()) << c.name;
      ExpectError(r.status(), "SCSI Command", c.error_field);
    } else {
      ASSERT_TRUE(r.ok()) << c.name << ": " << r.status().ToString();
    }
  }
}

TEST(ParseScsiCommand, Fields) {
  Result<ScsiCommandPdu> r = ParseScsiCommand(Command(0xa2 | 0x40, 4096, 512));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->final);
  EXPECT_TRUE(r->read);
  EXPECT_TRUE(r->write);
  EXPECT_EQ(r->attr, 2);
  EXPECT_EQ(r->lun, 0x0001000000000000ull);
  EXPECT_EQ(r->itt, 0x11u);
  EXPECT_EQ(r->edtl, 4096u);
  EXPECT_EQ(r->cmdsn, 100u);
  EXPECT_EQ(r->expstatsn, 200u);
  ASSERT_EQ(r->cdb.size(), 16u);
  EXPECT_EQ(r->cdb[0], 0x28);
  EXPECT_EQ(r->immediate_data.size(), 512u);
  EXPECT_FALSE(r->bidi_read_length);
}

TEST(ParseScsiCommand, MovingOverloadTakesTheData) {
  Pdu p = Command(0xa1, 4096, 512);
  const uint8_t* bytes = p.data.data();
  Result<ScsiCommandPdu> r = ParseScsiCommand(std::move(p));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->immediate_data.size(), 512u);
  EXPECT_EQ(r->immediate_data.data(), bytes) << "moved, not copied";
  EXPECT_EQ(r->edtl, 4096u);
  // A refused command keeps its data.
  Pdu bad = Command(0xc1, 4096, 4);
  Result<ScsiCommandPdu> e = ParseScsiCommand(std::move(bad));
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(bad.data.size(), 4u);  // NOLINT(bugprone-use-after-move)
}

TEST(ParseScsiCommand, AhsExtendCdbAndCarryBidiLength) {
  // Extended CDB AHS for a 20-byte CDB: AHSLength 5 (reserved byte + 4), then
  // the bidirectional read length AHS.
  std::vector<uint8_t> ahs = {0, 5, 1, 0, 0xe0, 0xe1, 0xe2, 0xe3, 0, 5, 2, 0, 0, 0, 0x10, 0};
  Result<ScsiCommandPdu> r = ParseScsiCommand(Command(0xe0, 4096, 0, ahs));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->cdb.size(), 20u);
  EXPECT_EQ(r->cdb[15], 0x28 + 15);
  EXPECT_EQ(r->cdb[16], 0xe0);
  EXPECT_EQ(r->cdb[19], 0xe3);
  ASSERT_TRUE(r->bidi_read_length);
  EXPECT_EQ(*r->bidi_read_length, 0x1000u);
}

Pdu Plain(Opcode op, uint8_t flags, uint32_t itt = 5, size_t data = 0) {
  Pdu p;
  p.bhs[0] = uint8_t(op);
  p.bhs[1] = flags;
  StoreBe32(&p.bhs[16], itt);
  p.data.assign(data, 'x');
  StoreBe24(&p.bhs[5], uint32_t(data));
  return p;
}

TEST(ParseOthers, Table) {
  struct Case {
    const char* name;
    Pdu pdu;
    std::function<Status(const Pdu&)> parse;
    const char* pdu_name;
    const char* error_field;
  };
  auto data_out = [](const Pdu& p) { return ParseDataOut(p).status(); };
  auto nop = [](const Pdu& p) { return ParseNopOut(p).status(); };
  auto tmf = [](const Pdu& p) { return ParseTaskMgmt(p).status(); };
  auto text = [](const Pdu& p) { return ParseTextRequest(p).status(); };
  auto logout = [](const Pdu& p) { return ParseLogoutRequest(p).status(); };
  auto login = [](const Pdu& p) { return ParseLoginRequest(p).status(); };
  Pdu ahs = Plain(Opcode::kDataOut, 0x80, 5, 0);
  ahs.bhs[4] = 1;
  ahs.ahs = {0, 1, 1, 0};
  Pdu offset_overflow = Plain(Opcode::kDataOut, 0x80, 5, 8);
  StoreBe32(&offset_overflow.bhs[40], 0xfffffffc);
  std::vector<Case> cases = {
      {"data-out", Plain(Opcode::kDataOut, 0x80, 5, 512), data_out, "", nullptr},
      {"data-out AHS", ahs, data_out, "SCSI Data-Out", "TotalAHSLength"},
      {"data-out offset overflow", offset_overflow, data_out, "SCSI Data-Out", "BufferOffset"},
      {"wrong opcode", Plain(Opcode::kNopOut, 0x80), data_out, "SCSI Data-Out", "NOP-Out"},
      {"nop ping", Plain(Opcode::kNopOut, 0x80, 9, 16), nop, "", nullptr},
      {"nop no reply not immediate", Plain(Opcode::kNopOut, 0x80, kReservedTag), nop, "NOP-Out",
       "I bit"},
      {"tmf abort", Plain(Opcode::kTaskMgmtRequest, 0x81), tmf, "", nullptr},
      {"tmf function 0", Plain(Opcode::kTaskMgmtRequest, 0x80), tmf, "Task Management", "Function"},
      {"tmf with data", Plain(Opcode::kTaskMgmtRequest, 0x85, 5, 4), tmf, "Task Management",
       "DataSegmentLength"},
      {"text", Plain(Opcode::kTextRequest, 0x80, 5, 8), text, "", nullptr},
      {"text F and C", Plain(Opcode::kTextRequest, 0xc0), text, "Text Request", "F and C"},
      {"logout", Plain(Opcode::kLogoutRequest, 0x80), logout, "", nullptr},
      {"logout reason 3", Plain(Opcode::kLogoutRequest, 0x83), logout, "Logout", "Reason Code"},
      {"login sec->op", Plain(Opcode::kLoginRequest, 0x81), login, "", nullptr},
      {"login sec->ffp", Plain(Opcode::kLoginRequest, 0x83), login, "", nullptr},
      {"login op->ffp", Plain(Opcode::kLoginRequest, 0x87), login, "", nullptr},
      {"login T and C", Plain(Opcode::kLoginRequest, 0xc1), login, "Login Request", "T and C"},
      {"login CSG 2", Plain(Opcode::kLoginRequest, 0x08), login, "Login Request", "CSG 2"},
      {"login NSG 2", Plain(Opcode::kLoginRequest, 0x82), login, "Login Request", "NSG 2"},
      {"login op->sec", Plain(Opcode::kLoginRequest, 0x84), login, "Login Request", "NSG 0"},
  };
  Pdu versions = Plain(Opcode::kLoginRequest, 0x81);
  versions.bhs[2] = 0;
  versions.bhs[3] = 2;
  cases.push_back({"login min>max", versions, login, "Login Request", "Version-min"});
  for (const Case& c : cases) {
    Status st = c.parse(c.pdu);
    if (c.error_field) {
      ASSERT_FALSE(st.ok()) << c.name;
      ExpectError(st, c.pdu_name, c.error_field);
    } else {
      EXPECT_TRUE(st.ok()) << c.name << ": " << st.ToString();
    }
  }
}

TEST(ParseOthers, LoginFields) {
  Pdu p = Plain(Opcode::kLoginRequest, 0x87, 0x1234, 6);
  p.bhs[0] = 0x43;
  p.bhs[2] = 0;
  p.bhs[3] = 0;
  for (int i = 0; i < 6; i++) p.bhs[8 + i] = uint8_t(0x80 + i);
  StoreBe16(&p.bhs[14], 0x77);
  StoreBe16(&p.bhs[20], 3);
  StoreBe32(&p.bhs[24], 1000);
  StoreBe32(&p.bhs[28], 2000);
  Result<LoginRequestPdu> r = ParseLoginRequest(p);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->transit);
  EXPECT_FALSE(r->cont);
  EXPECT_EQ(r->csg, 1);
  EXPECT_EQ(r->nsg, 3);
  EXPECT_EQ(r->isid[0], 0x80);
  EXPECT_EQ(r->isid[5], 0x85);
  EXPECT_EQ(r->tsih, 0x77);
  EXPECT_EQ(r->cid, 3);
  EXPECT_EQ(r->itt, 0x1234u);
  EXPECT_EQ(r->cmdsn, 1000u);
  EXPECT_EQ(r->expstatsn, 2000u);
  EXPECT_EQ(r->data.size(), 6u);
}

TEST(ParseOthers, DataOutAndTaskMgmtFields) {
  Pdu d = Plain(Opcode::kDataOut, 0x80, 9, 4);
  StoreBe64(&d.bhs[8], 3ull << 48);
  StoreBe32(&d.bhs[20], 0x44);
  StoreBe32(&d.bhs[28], 12);
  StoreBe32(&d.bhs[36], 2);
  StoreBe32(&d.bhs[40], 8192);
  Result<DataOutPdu> r = ParseDataOut(d);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->final);
  EXPECT_EQ(r->lun, 3ull << 48);
  EXPECT_EQ(r->ttt, 0x44u);
  EXPECT_EQ(r->expstatsn, 12u);
  EXPECT_EQ(r->datasn, 2u);
  EXPECT_EQ(r->buffer_offset, 8192u);
  EXPECT_EQ(r->data.size(), 4u);
  EXPECT_EQ(r->data.data(), d.data.data()) << "Data-Out data must not be copied";

  Pdu t = Plain(Opcode::kTaskMgmtRequest, 0x81, 10);
  t.bhs[0] |= 0x40;
  StoreBe32(&t.bhs[20], 77);
  StoreBe32(&t.bhs[24], 5);
  StoreBe32(&t.bhs[32], 4);
  StoreBe32(&t.bhs[36], 1);
  Result<TaskMgmtPdu> m = ParseTaskMgmt(t);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->immediate);
  EXPECT_EQ(m->function, 1);
  EXPECT_EQ(m->rtt, 77u);
  EXPECT_EQ(m->cmdsn, 5u);
  EXPECT_EQ(m->refcmdsn, 4u);
  EXPECT_EQ(m->expdatasn, 1u);
}

// ---- Builders: each field at the offset RFC 7143 §11 gives it.

void ExpectZero(const Pdu& p, std::initializer_list<std::pair<size_t, size_t>> ranges) {
  for (auto [from, to] : ranges) {
    for (size_t i = from; i < to; i++) EXPECT_EQ(p.bhs[i], 0) << "byte " << i << " not reserved";
  }
}

TEST(Builders, ScsiResponse) {
  const uint8_t sense[] = {0x70, 0, 5, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0, 0, 0, 0, 0};
  Pdu p = MakeScsiResponse(0x99, 0x02, sense, 0, 512);
  EXPECT_EQ(p.bhs[0], 0x21);
  EXPECT_EQ(p.bhs[1], 0x80 | 0x02);  // U
  EXPECT_EQ(p.bhs[2], 0);
  EXPECT_EQ(p.bhs[3], 0x02);
  EXPECT_EQ(p.itt(), 0x99u);
  EXPECT_EQ(p.field32(44), 512u);
  ASSERT_EQ(p.data.size(), 2 + sizeof sense);
  EXPECT_EQ(LoadBe16(p.data.data()), sizeof sense);
  EXPECT_EQ(p.data[2], 0x70);
  EXPECT_EQ(p.data_segment_length(), p.data.size());
  ExpectZero(p, {{4, 5}, {8, 16}, {20, 24}, {36, 44}});

  Pdu over = MakeScsiResponse(1, 0, {}, 0, -4096);
  EXPECT_EQ(over.bhs[1], 0x80 | 0x04);  // O
  EXPECT_EQ(over.field32(44), 4096u);
  EXPECT_TRUE(over.data.empty());
  Pdu exact = MakeScsiResponse(1, 0, {}, 1, 0);
  EXPECT_EQ(exact.bhs[1], 0x80);
  EXPECT_EQ(exact.bhs[2], 1);
  EXPECT_EQ(exact.field32(44), 0u);
}

TEST(Builders, DataIn) {
  const uint8_t data[5] = {1, 2, 3, 4, 5};
  Pdu mid = MakeDataIn(7, 2ull << 48, kReservedTag, 3, 4096, data, false, std::nullopt, 0);
  EXPECT_EQ(mid.bhs[0], 0x25);
  EXPECT_EQ(mid.bhs[1], 0);
  EXPECT_EQ(mid.lun(), 2ull << 48);
  EXPECT_EQ(mid.field32(20), kReservedTag);
  EXPECT_EQ(mid.field32(36), 3u);
  EXPECT_EQ(mid.field32(40), 4096u);
  EXPECT_EQ(mid.field32(44), 0u);
  EXPECT_EQ(mid.data_segment_length(), 5u);

  Pdu last = MakeDataIn(7, 0, kReservedTag, 4, 8192, data, true, uint8_t(0), 100);
  EXPECT_EQ(last.bhs[1], 0x80 | 0x02 | 0x01);  // F U S
  EXPECT_EQ(last.bhs[3], 0);
  EXPECT_EQ(last.field32(44), 100u);
  // Status implies F even when the caller forgot it.
  Pdu implied = MakeDataIn(7, 0, kReservedTag, 0, 0, data, false, uint8_t(0), -8);
  EXPECT_EQ(implied.bhs[1], 0x80 | 0x04 | 0x01);
}

TEST(Builders, R2TNopInTaskLogoutText) {
  Pdu r = MakeR2T(5, 1ull << 48, 0x10, 2, 65536, 32768);
  EXPECT_EQ(r.bhs[0], 0x31);
  EXPECT_EQ(r.bhs[1], 0x80);
  EXPECT_EQ(r.lun(), 1ull << 48);
  EXPECT_EQ(r.field32(20), 0x10u);
  EXPECT_EQ(r.field32(36), 2u);
  EXPECT_EQ(r.field32(40), 65536u);
  EXPECT_EQ(r.field32(44), 32768u);

  const uint8_t ping[3] = {9, 9, 9};
  Pdu n = MakeNopIn(kReservedTag, 0x20, 0, ping);
  EXPECT_EQ(n.bhs[0], 0x20);
  EXPECT_EQ(n.bhs[1], 0x80);
  EXPECT_EQ(n.itt(), kReservedTag);
  EXPECT_EQ(n.field32(20), 0x20u);
  EXPECT_EQ(n.data.size(), 3u);

  Pdu t = MakeTaskMgmtResponse(8, 5);
  EXPECT_EQ(t.bhs[0], 0x22);
  EXPECT_EQ(t.bhs[1], 0x80);
  EXPECT_EQ(t.bhs[2], 5);
  ExpectZero(t, {{3, 16}, {20, 48}});

  Pdu l = MakeLogoutResponse(9, 0, 2, 20);
  EXPECT_EQ(l.bhs[0], 0x26);
  EXPECT_EQ(l.bhs[2], 0);
  EXPECT_EQ(LoadBe16(&l.bhs[40]), 2);
  EXPECT_EQ(LoadBe16(&l.bhs[42]), 20);

  Pdu more = MakeTextResponse(3, 0x55, false, true, 0, {'a', '=', 'b', 0});
  EXPECT_EQ(more.bhs[0], 0x24);
  EXPECT_EQ(more.bhs[1], 0x40);
  EXPECT_EQ(more.field32(20), 0x55u);
  EXPECT_EQ(more.data_segment_length(), 4u);
  Pdu done = MakeTextResponse(3, 0x55, true, false, 0, {});
  EXPECT_EQ(done.bhs[1], 0x80);
  EXPECT_EQ(done.field32(20), kReservedTag);
}

TEST(Builders, LoginRejectAsync) {
  LoginRequestPdu req;
  req.itt = 0x42;
  req.isid = {1, 2, 3, 4, 5, 6};
  Pdu p = MakeLoginResponse(req, true, 1, 3, 0x9, 0, 0, {'k', '=', 'v', 0});
  EXPECT_EQ(p.bhs[0], 0x23);
  EXPECT_EQ(p.bhs[1], 0x80 | 0x04 | 0x03);
  EXPECT_EQ(p.bhs[2], 0);
  EXPECT_EQ(p.bhs[3], 0);
  EXPECT_EQ(p.bhs[8], 1);
  EXPECT_EQ(p.bhs[13], 6);
  EXPECT_EQ(LoadBe16(&p.bhs[14]), 9);
  EXPECT_EQ(p.itt(), 0x42u);
  EXPECT_EQ(p.data_segment_length(), 4u);
  Pdu f = MakeLoginResponse(req, false, 0, 1, 0, 2, 1, {});
  EXPECT_EQ(f.bhs[1], 0x00);  // NSG only with T
  EXPECT_EQ(f.bhs[36], 2);
  EXPECT_EQ(f.bhs[37], 1);

  std::array<uint8_t, kBhsLength> bad{};
  bad[0] = 0x1e;
  Pdu rj = MakeReject(RejectReason::kCommandNotSupported, bad);
  EXPECT_EQ(rj.bhs[0], 0x3f);
  EXPECT_EQ(rj.bhs[1], 0x80);
  EXPECT_EQ(rj.bhs[2], 0x05);
  EXPECT_EQ(rj.itt(), kReservedTag);
  ASSERT_EQ(rj.data.size(), kBhsLength);
  EXPECT_EQ(rj.data[0], 0x1e);
  EXPECT_EQ(rj.data_segment_length(), kBhsLength);

  const uint8_t sense[] = {0x70, 0, 6};
  Pdu a = MakeAsyncMessage(0, 4ull << 48, sense);
  EXPECT_EQ(a.bhs[0], 0x32);
  EXPECT_EQ(a.bhs[1], 0x80);
  EXPECT_EQ(a.itt(), kReservedTag);
  EXPECT_EQ(a.lun(), 4ull << 48);
  EXPECT_EQ(a.bhs[36], 0);
  ASSERT_EQ(a.data.size(), 5u);
  EXPECT_EQ(LoadBe16(a.data.data()), 3);
  Pdu logout = MakeAsyncMessage(1, 0, {}, 0, 0, 5);
  EXPECT_EQ(logout.bhs[36], 1);
  EXPECT_EQ(LoadBe16(&logout.bhs[42]), 5);
  EXPECT_TRUE(logout.data.empty());
}

TEST(SetSequence, OffsetsPerOpcode) {
  const SequenceNumbers seq{10, 20, 30};
  struct Case {
    const char* name;
    Pdu pdu;
    bool has_statsn;
    bool has_cmd_window;
  };
  const uint8_t none[1] = {0};
  std::vector<Case> cases = {
      {"scsi response", MakeScsiResponse(1, 0, {}, 0, 0), true, true},
      {"data-in no status", MakeDataIn(1, 0, kReservedTag, 0, 0, none, true, std::nullopt, 0),
       false, true},
      {"data-in with status", MakeDataIn(1, 0, kReservedTag, 0, 0, none, true, uint8_t(0), 0), true,
       true},
      {"r2t", MakeR2T(1, 0, 2, 0, 0, 512), true, true},
      {"nop-in", MakeNopIn(1, kReservedTag, 0, {}), true, true},
      {"tmf", MakeTaskMgmtResponse(1, 0), true, true},
      {"logout", MakeLogoutResponse(1, 0, 0, 0), true, true},
      {"text", MakeTextResponse(1, 0, true, false, 0, {}), true, true},
      {"reject", MakeReject(RejectReason::kProtocolError, {}), true, true},
      {"async", MakeAsyncMessage(1, 0, {}), true, true},
      {"scsi command (initiator)", Command(0xc1, 0, 0), false, false},
  };
  for (Case& c : cases) {
    Pdu before = c.pdu;
    SetSequence(&c.pdu, seq);
    uint32_t want_statsn = c.has_statsn ? 10 : before.field32(24);
    EXPECT_EQ(c.pdu.field32(24), want_statsn) << c.name;
    EXPECT_EQ(c.pdu.field32(28), c.has_cmd_window ? 20u : before.field32(28)) << c.name;
    EXPECT_EQ(c.pdu.field32(32), c.has_cmd_window ? 30u : before.field32(32)) << c.name;
    EXPECT_TRUE(std::equal(before.bhs.begin() + 36, before.bhs.end(), c.pdu.bhs.begin() + 36))
        << c.name << ": bytes past MaxCmdSN changed";
  }
}

TEST(Builders, RoundTripThroughTheReader) {
  const uint8_t data[] = {1, 2, 3, 4, 5, 6, 7};
  std::vector<Pdu> pdus = {
      MakeDataIn(1, 0, kReservedTag, 0, 0, data, true, uint8_t(0), 0),
      MakeScsiResponse(2, 2, data, 0, 0),
      MakeR2T(3, 0, 1, 0, 0, 4096),
      MakeNopIn(4, kReservedTag, 0, data),
  };
  std::vector<uint8_t> wire;
  for (Pdu& p : pdus) {
    SetSequence(&p, {1, 2, 3});
    Encode(p, {true, true}, &wire);
  }
  PduReader r;
  r.set_digests({true, true});
  r.Append(wire);
  for (const Pdu& p : pdus) {
    PduReader::Item item = r.Next();
    ASSERT_EQ(item.kind, PduReader::Kind::kPdu) << item.reason;
    EXPECT_EQ(item.pdu.bhs, p.bhs);
    EXPECT_EQ(item.pdu.data, p.data);
  }
}

}  // namespace
}  // namespace vsl::iscsi
