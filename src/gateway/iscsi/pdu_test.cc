// Framing: Encode and PduReader.
#include "gateway/iscsi/pdu.h"

#include <gtest/gtest.h>

#include <random>

namespace vsl::iscsi {
namespace {

using Kind = PduReader::Kind;

Pdu Sample(Opcode op, size_t data_len, size_t ahs_len = 0, uint32_t itt = 7) {
  Pdu p;
  p.bhs[0] = uint8_t(op);
  p.bhs[1] = 0x80;
  StoreBe32(&p.bhs[16], itt);
  for (size_t i = 20; i < kBhsLength; i++) p.bhs[i] = uint8_t(i);
  for (size_t i = 0; i < data_len; i++) p.data.push_back(uint8_t(i * 7 + 1));
  if (ahs_len > 0) {
    // One AHS of type 1 filling ahs_len bytes: AHSLength = ahs_len - 3.
    p.ahs.assign(ahs_len, 0xaa);
    StoreBe16(p.ahs.data(), uint16_t(ahs_len - 3));
    p.ahs[2] = 1;
  }
  return p;
}

std::vector<uint8_t> Wire(const Pdu& p, DigestParams d = {}) {
  std::vector<uint8_t> out;
  Encode(p, d, &out);
  return out;
}

uint32_t LoadLe32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

TEST(Encode, LayoutPaddingAndDigests) {
  struct Case {
    size_t data, ahs;
    bool hd, dd;
    size_t wire;
  };
  const Case cases[] = {
      {0, 0, false, false, 48}, {1, 0, false, false, 52}, {4, 0, false, false, 52},
      {5, 0, false, false, 56}, {0, 0, true, true, 52},   {3, 0, true, true, 60},
      {3, 8, false, false, 60}, {8, 8, true, false, 68},  {0, 8, false, true, 56},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message()
                 << "data " << c.data << " ahs " << c.ahs << " hd " << c.hd << " dd " << c.dd);
    Pdu p = Sample(Opcode::kScsiCommand, c.data, c.ahs);
    p.bhs[4] = 0x55;  // stale lengths must be overwritten
    StoreBe24(&p.bhs[5], 0xabcdef);
    std::vector<uint8_t> w = Wire(p, {c.hd, c.dd});
    ASSERT_EQ(w.size(), c.wire);
    EXPECT_EQ(w[4], c.ahs / 4);
    EXPECT_EQ(LoadBe24(&w[5]), c.data);
    size_t pos = 48 + c.ahs;
    if (c.hd) {
      EXPECT_EQ(LoadLe32(&w[pos]), Crc32c({w.data(), pos}));
      pos += 4;
    }
    EXPECT_TRUE(std::equal(p.data.begin(), p.data.end(), w.begin() + pos));
    size_t padded = (c.data + 3) & ~size_t(3);
    for (size_t i = c.data; i < padded; i++) EXPECT_EQ(w[pos + i], 0) << "padding byte " << i;
    if (c.dd && c.data > 0) {
      EXPECT_EQ(LoadLe32(&w[pos + padded]), Crc32c({&w[pos], padded}));
    }
  }
}

TEST(Encode, DigestIsLittleEndianOnTheWire) {
  // RFC 3720 B.4: the CRC 0x8a9136aa of 32 zero bytes travels as aa 36 91 8a.
  Pdu p;
  p.data.assign(32, 0);
  std::vector<uint8_t> w = Wire(p, {false, true});
  ASSERT_EQ(w.size(), 48u + 32 + 4);
  EXPECT_EQ(w[80], 0xaa);
  EXPECT_EQ(w[81], 0x36);
  EXPECT_EQ(w[82], 0x91);
  EXPECT_EQ(w[83], 0x8a);
}

TEST(PduReader, RoundTripsEveryShapeFedByteByByte) {
  for (int digests = 0; digests < 4; digests++) {
    DigestParams d{bool(digests & 1), bool(digests & 2)};
    for (size_t len : {0, 1, 2, 3, 4, 5, 8191, 8192}) {
      for (size_t ahs : {0, 8, 20}) {
        SCOPED_TRACE(testing::Message()
                     << "digests " << digests << " len " << len << " ahs " << ahs);
        Pdu p = Sample(Opcode::kScsiCommand, len, ahs);
        std::vector<uint8_t> w = Wire(p, d);
        PduReader r;
        r.set_digests(d);
        // Byte by byte for small PDUs, in 1000-byte pieces for large ones.
        size_t step = w.size() > 200 ? 1000 : 1;
        PduReader::Item item;
        for (size_t i = 0; i < w.size(); i += step) {
          ASSERT_EQ(r.Next().kind, Kind::kNeedMore);
          EXPECT_GT(r.Needed(), 0u);
          size_t n = std::min(step, w.size() - i);
          r.Append({w.data() + i, n});
        }
        EXPECT_EQ(r.Needed(), 0u);
        item = r.Next();
        ASSERT_EQ(item.kind, Kind::kPdu) << item.reason;
        EXPECT_EQ(item.pdu.data, p.data);
        EXPECT_EQ(item.pdu.ahs, p.ahs);
        EXPECT_TRUE(std::equal(p.bhs.begin() + 16, p.bhs.end(), item.pdu.bhs.begin() + 16));
        EXPECT_EQ(item.pdu.data_segment_length(), len);
        EXPECT_EQ(r.Next().kind, Kind::kNeedMore);
      }
    }
  }
}

TEST(PduReader, ManyPdusInOneBuffer) {
  std::vector<uint8_t> all;
  DigestParams d{true, true};
  for (uint32_t i = 0; i < 50; i++) Encode(Sample(Opcode::kDataOut, i * 3, 0, i), d, &all);
  PduReader r;
  r.set_digests(d);
  r.Append(all);
  for (uint32_t i = 0; i < 50; i++) {
    PduReader::Item item = r.Next();
    ASSERT_EQ(item.kind, Kind::kPdu) << i << ": " << item.reason;
    EXPECT_EQ(item.pdu.itt(), i);
    EXPECT_EQ(item.pdu.data.size(), i * 3);
  }
  EXPECT_EQ(r.Next().kind, Kind::kNeedMore);
}

// With data_out_in_place, a Data-Out's data segment stays in the reader's
// buffer (no copy) and reads back unchanged through payload() and
// ParseDataOut, while every other PDU's is copied as before; a bad digest
// still drops the data.
TEST(PduReader, DataOutDataStaysInPlace) {
  DigestParams d{true, true};
  std::vector<uint8_t> all;
  std::vector<Pdu> sent;
  for (uint32_t i = 0; i < 20; i++) {
    sent.push_back(Sample(i % 3 == 2 ? Opcode::kNopOut : Opcode::kDataOut, 4096 + i * 5, 0, i + 1));
    Encode(sent.back(), d, &all);
  }
  std::vector<uint8_t> bad = Wire(Sample(Opcode::kDataOut, 64, 0, 99), d);
  bad[48 + 4 + 3] ^= 1;  // a data byte: the data digest fails
  all.insert(all.end(), bad.begin(), bad.end());
  PduReader r;
  r.set_digests(d);
  r.set_data_out_in_place(true);
  std::span<uint8_t> dst = r.Prepare(all.size());
  std::copy(all.begin(), all.end(), dst.begin());
  r.Commit(all.size());
  for (const Pdu& want : sent) {
    PduReader::Item item = r.Next();
    ASSERT_EQ(item.kind, Kind::kPdu) << item.reason;
    ASSERT_EQ(item.pdu.itt(), want.itt());
    std::span<const uint8_t> got = item.pdu.payload();
    EXPECT_TRUE(std::equal(got.begin(), got.end(), want.data.begin(), want.data.end()));
    if (want.opcode() == Opcode::kDataOut) {
      EXPECT_TRUE(item.pdu.data.empty());
      EXPECT_GE(got.data(), dst.data());
      EXPECT_LT(got.data(), dst.data() + dst.size()) << "copied out of the reader's buffer";
      Result<DataOutPdu> parsed = ParseDataOut(item.pdu);
      ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
      EXPECT_EQ(parsed->data.data(), got.data());
      EXPECT_EQ(parsed->data.size(), want.data.size());
    } else {
      EXPECT_EQ(item.pdu.data, want.data);
      EXPECT_TRUE(item.pdu.data_in_place.empty());
    }
  }
  PduReader::Item dropped = r.Next();
  ASSERT_EQ(dropped.kind, Kind::kDataDigestError);
  EXPECT_TRUE(dropped.pdu.payload().empty());
  EXPECT_EQ(r.Next().kind, Kind::kNeedMore);
}

TEST(PduReader, PrepareCommitReusesTheBuffer) {
  Pdu p = Sample(Opcode::kNopOut, 100);
  std::vector<uint8_t> w = Wire(p);
  PduReader r;
  const uint8_t* first = nullptr;
  for (int round = 0; round < 100; round++) {
    std::span<uint8_t> dst = r.Prepare(w.size());
    ASSERT_GE(dst.size(), w.size());
    if (round == 0) first = dst.data();
    EXPECT_EQ(dst.data(), first) << "buffer moved in round " << round;
    std::copy(w.begin(), w.end(), dst.begin());
    r.Commit(w.size());
    PduReader::Item item = r.Next();
    ASSERT_EQ(item.kind, Kind::kPdu);
    EXPECT_EQ(item.pdu.data, p.data);
  }
}

TEST(PduReader, HeaderDigestErrorIsFatalAndStaysFatal) {
  std::vector<uint8_t> w = Wire(Sample(Opcode::kNopOut, 4), {true, false});
  w[20] ^= 1;
  PduReader r;
  r.set_digests({true, false});
  r.Append(w);
  PduReader::Item item = r.Next();
  EXPECT_EQ(item.kind, Kind::kFatal);
  EXPECT_NE(item.reason.find("header digest"), std::string::npos) << item.reason;
  r.Append(Wire(Sample(Opcode::kNopOut, 0), {true, false}));
  EXPECT_EQ(r.Next().kind, Kind::kFatal);
}

TEST(PduReader, DataDigestErrorKeepsHeaderAndGoesOn) {
  DigestParams d{false, true};
  std::vector<uint8_t> w = Wire(Sample(Opcode::kDataOut, 10, 0, 1), d);
  w[50] ^= 0x10;
  Encode(Sample(Opcode::kDataOut, 10, 0, 2), d, &w);
  PduReader r;
  r.set_digests(d);
  r.Append(w);
  PduReader::Item bad = r.Next();
  ASSERT_EQ(bad.kind, Kind::kDataDigestError);
  EXPECT_EQ(bad.pdu.itt(), 1u);
  EXPECT_TRUE(bad.pdu.data.empty());
  EXPECT_FALSE(bad.reason.empty());
  PduReader::Item good = r.Next();
  ASSERT_EQ(good.kind, Kind::kPdu);
  EXPECT_EQ(good.pdu.itt(), 2u);
}

TEST(PduReader, OversizedDataIsSkippedInPieces) {
  for (bool dd : {false, true}) {
    DigestParams d{false, dd};
    std::vector<uint8_t> w = Wire(Sample(Opcode::kDataOut, 1001, 0, 1), d);
    Encode(Sample(Opcode::kDataOut, 1000, 0, 2), d, &w);
    PduReader r;
    r.set_digests(d);
    r.set_max_data_segment(1000);
    std::vector<PduReader::Item> items;
    for (size_t i = 0; i < w.size(); i += 97) {
      r.Append({w.data() + i, std::min<size_t>(97, w.size() - i)});
      for (auto it = r.Next(); it.kind != Kind::kNeedMore; it = r.Next()) items.push_back(it);
    }
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items[0].kind, Kind::kOversized);
    EXPECT_EQ(items[0].pdu.itt(), 1u);
    EXPECT_NE(items[0].reason.find("1001"), std::string::npos) << items[0].reason;
    EXPECT_EQ(items[1].kind, Kind::kPdu);
    EXPECT_EQ(items[1].pdu.itt(), 2u);
    EXPECT_EQ(items[1].pdu.data.size(), 1000u);
  }
}

// Raw headers the reader must refuse or accept, as byte strings.
TEST(PduReader, HeaderTable) {
  struct Case {
    const char* name;
    uint8_t total_ahs;
    std::vector<uint8_t> ahs;
    uint32_t dsl;
    Kind want;
  };
  const std::vector<Case> cases = {
      {"plain", 0, {}, 0, Kind::kPdu},
      {"ahs ok", 2, {0, 5, 2, 0, 0, 0, 1, 0}, 0, Kind::kPdu},
      {"ahs length beyond total", 1, {0, 9, 1, 0}, 0, Kind::kFatal},
      {"ahs two entries", 3, {0, 1, 1, 0, 0, 5, 2, 0, 0, 0, 0, 0}, 0, Kind::kPdu},
      {"ahs trailing garbage", 2, {0, 1, 1, 0, 0xff, 0xff, 0xff, 0xff}, 0, Kind::kFatal},
      {"dsl over the limit", 0, {}, 8193, Kind::kOversized},
      // DataSegmentLength has 24 bits, so it never passes the 16 MiB hard
      // limit: the largest one is still skipped.
      {"dsl max 24 bits", 0, {}, 0xffffff, Kind::kOversized},
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> w(48, 0);
    w[0] = 0x01;
    w[4] = c.total_ahs;
    StoreBe24(&w[5], c.dsl);
    w.insert(w.end(), c.ahs.begin(), c.ahs.end());
    PduReader r;
    r.Append(w);
    EXPECT_EQ(r.Next().kind, c.want) << c.name;
  }
}

TEST(PduReader, DigestsChangeBetweenPdus) {
  // Login happens without digests; the first full feature PDU has them, and
  // may already sit in the buffer when the login completes.
  std::vector<uint8_t> w = Wire(Sample(Opcode::kLoginRequest, 12));
  Encode(Sample(Opcode::kScsiCommand, 0), {true, true}, &w);
  PduReader r;
  r.Append(w);
  ASSERT_EQ(r.Next().kind, Kind::kPdu);
  r.set_digests({true, true});
  PduReader::Item item = r.Next();
  EXPECT_EQ(item.kind, Kind::kPdu) << item.reason;
}

TEST(PduReader, RandomStreamsInRandomPieces) {
  // Many PDUs of random shapes, fed in random pieces, some written through
  // Prepare/Commit in exactly the sizes Needed() asks for.
  std::mt19937 rng(2026);
  for (int round = 0; round < 20; round++) {
    DigestParams d{bool(rng() & 1), bool(rng() & 1)};
    std::vector<Pdu> sent;
    std::vector<uint8_t> wire;
    for (int i = 0; i < 40; i++) {
      Pdu p = Sample(Opcode(rng() % 2 ? 0x01 : 0x05), rng() % 3000, (rng() % 3) * 8, i);
      sent.push_back(p);
      Encode(p, d, &wire);
    }
    PduReader r;
    r.set_digests(d);
    r.set_max_data_segment(4096);
    std::vector<Pdu> got;
    size_t pos = 0;
    while (pos < wire.size()) {
      size_t n = std::min<size_t>(wire.size() - pos, round % 2 ? r.Needed() : 1 + rng() % 700);
      ASSERT_GT(n, 0u);
      std::span<uint8_t> dst = r.Prepare(n);
      std::copy(wire.begin() + pos, wire.begin() + pos + n, dst.begin());
      r.Commit(n);
      pos += n;
      for (auto it = r.Next(); it.kind != Kind::kNeedMore; it = r.Next()) {
        ASSERT_EQ(it.kind, Kind::kPdu) << it.reason;
        got.push_back(std::move(it.pdu));
      }
    }
    ASSERT_EQ(got.size(), sent.size()) << "round " << round;
    for (size_t i = 0; i < sent.size(); i++) {
      EXPECT_EQ(got[i].itt(), sent[i].itt());
      EXPECT_EQ(got[i].data, sent[i].data);
      EXPECT_EQ(got[i].ahs, sent[i].ahs);
    }
  }
}

TEST(Encode, PadsAnAhsThatIsNotWordAligned) {
  Pdu p = Sample(Opcode::kScsiCommand, 0);
  p.ahs = {0, 2, 1, 0, 0xee};  // AHSLength 2: 5 bytes, padded to 8
  std::vector<uint8_t> w = Wire(p);
  ASSERT_EQ(w.size(), 56u);
  EXPECT_EQ(w[4], 2);
  EXPECT_EQ(w[52], 0xee);
  EXPECT_EQ(w[53], 0);
  PduReader r;
  r.Append(w);
  EXPECT_EQ(r.Next().kind, Kind::kPdu);
}

}  // namespace
}  // namespace vsl::iscsi
