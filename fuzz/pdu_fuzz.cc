// Fuzzes the PDU framing and the typed views: bytes fed to a PduReader in
// chunks, every PDU parsed with every Parse*, re-encoded and read back.
//
// Input: byte 0 picks digests and MaxRecvDataSegmentLength, byte 1 the chunk
// size; the rest is the received stream.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "gateway/iscsi/login.h"
#include "gateway/iscsi/pdu.h"

using namespace vsl;
using namespace vsl::iscsi;

namespace {

// An invariant the code under test must keep; says which one broke.
#define Check(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                   \
    }                                                                 \
  } while (0)

void ParseAll(const Pdu& pdu) {
  {
    // The moving overload must agree with the copying one.
    Pdu copy = pdu;
    auto moved = ParseScsiCommand(std::move(copy));
    auto copied = ParseScsiCommand(pdu);
    Check(moved.ok() == copied.ok());
    if (moved.ok())
      Check(moved->immediate_data == copied->immediate_data && moved->cdb == copied->cdb);
    if (!moved.ok()) Check(copy.data == pdu.data);
  }
  if (auto c = ParseScsiCommand(pdu); c.ok()) {
    Check(c->cdb.size() >= 16 && c->immediate_data.size() <= c->edtl);
    Pdu r = MakeScsiResponse(c->itt, 0x02, c->immediate_data, 0, int64_t(c->edtl) - 7);
    SetSequence(&r, {c->expstatsn, c->cmdsn, c->cmdsn + 1});
    Pdu d = MakeDataIn(c->itt, c->lun, kReservedTag, 0, 0, c->cdb, true, uint8_t(0), 0);
    SetSequence(&d, {1, 2, 3});
  }
  if (auto d = ParseDataOut(pdu); d.ok()) {
    Check(d->data.size() == pdu.data.size());
    Pdu r2t =
        MakeR2T(d->itt, d->lun, d->ttt, d->datasn, d->buffer_offset, uint32_t(d->data.size()));
    SetSequence(&r2t, {1, 2, 3});
  }
  if (auto n = ParseNopOut(pdu); n.ok()) MakeNopIn(n->itt, n->ttt, n->lun, n->data);
  if (auto t = ParseTaskMgmt(pdu); t.ok()) MakeTaskMgmtResponse(t->itt, t->function);
  if (auto t = ParseTextRequest(pdu); t.ok()) {
    if (auto keys = ParseText(t->data); keys.ok()) {
      MakeTextResponse(t->itt, t->ttt, t->final, t->cont, t->lun, EncodeText(*keys));
    }
  }
  if (auto l = ParseLogoutRequest(pdu); l.ok()) MakeLogoutResponse(l->itt, 0, 2, 20);
  if (auto l = ParseLoginRequest(pdu); l.ok()) {
    Check(l->csg <= 1 && (!l->transit || l->nsg > l->csg));
    MakeLoginResponse(*l, l->transit, l->csg, l->nsg, 1, 0, 0, {});
  }
  MakeReject(RejectReason::kProtocolError, pdu.bhs);
  (void)OpcodeName(pdu.opcode());
}

// Encode() of what the reader produced must read back as the same PDU.
void RoundTrip(const Pdu& pdu, DigestParams digests, uint32_t max_data) {
  std::vector<uint8_t> wire;
  Encode(pdu, digests, &wire);
  PduReader again;
  again.set_digests(digests);
  again.set_max_data_segment(max_data);
  again.Append(wire);
  PduReader::Item item = again.Next();
  Check(item.kind == PduReader::Kind::kPdu);
  Check(item.pdu.bhs == pdu.bhs && item.pdu.ahs == pdu.ahs && item.pdu.data == pdu.data);
  Check(again.Next().kind == PduReader::Kind::kNeedMore);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const DigestParams digests{bool(data[0] & 1), bool(data[0] & 2)};
  const uint32_t max_data = (data[0] & 4) ? 512 : 8192;
  const size_t chunk = 1 + data[1] % 97;
  data += 2;
  size -= 2;

  PduReader reader;
  reader.set_digests(digests);
  reader.set_max_data_segment(max_data);
  bool dead = false;
  for (size_t pos = 0; pos < size && !dead; pos += chunk) {
    size_t n = std::min(chunk, size - pos);
    if (pos / chunk % 2 == 0) {
      reader.Append({data + pos, n});
    } else {
      std::span<uint8_t> dst = reader.Prepare(n);
      Check(dst.size() >= n);
      std::memcpy(dst.data(), data + pos, n);
      reader.Commit(n);
    }
    while (true) {
      PduReader::Item item = reader.Next();
      if (item.kind == PduReader::Kind::kNeedMore) break;
      if (item.kind == PduReader::Kind::kFatal) {
        Check(!item.reason.empty());
        Check(reader.Next().kind == PduReader::Kind::kFatal);
        dead = true;
        break;
      }
      if (item.kind != PduReader::Kind::kPdu) {
        Check(item.pdu.data.empty() && !item.reason.empty());
        continue;
      }
      Check(item.pdu.data.size() == item.pdu.data_segment_length());
      Check(item.pdu.data.size() <= max_data);
      ParseAll(item.pdu);
      RoundTrip(item.pdu, digests, max_data);
    }
  }
  return 0;
}
