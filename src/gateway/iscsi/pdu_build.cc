// Builders of target -> initiator PDUs (RFC 7143 §11): every field the RFC
// defines is set; reserved fields stay zero.

#include <algorithm>
#include <cstring>

#include "gateway/iscsi/pdu.h"

namespace vsl::iscsi {
namespace {

Pdu Start(Opcode op, uint8_t flags, uint32_t itt) {
  Pdu pdu;
  pdu.bhs[0] = uint8_t(op);
  pdu.bhs[1] = flags;
  StoreBe32(&pdu.bhs[16], itt);
  return pdu;
}

void SetLength(Pdu* pdu) { StoreBe24(&pdu->bhs[5], uint32_t(pdu->data.size())); }

// O/U flags and the Residual Count for a residual (>0 underflow, <0 overflow).
void SetResidual(Pdu* pdu, int64_t residual, uint8_t overflow_bit, uint8_t underflow_bit) {
  if (residual > 0) {
    pdu->bhs[1] |= underflow_bit;
    StoreBe32(&pdu->bhs[44], uint32_t(std::min<int64_t>(residual, 0xffffffff)));
  } else if (residual < 0) {
    pdu->bhs[1] |= overflow_bit;
    StoreBe32(&pdu->bhs[44], uint32_t(std::min<int64_t>(-residual, 0xffffffff)));
  }
}

// SenseLength (2 bytes) followed by the sense data (RFC 7143 §11.4.7.2).
std::vector<uint8_t> SenseSegment(std::span<const uint8_t> sense) {
  std::vector<uint8_t> out;
  if (sense.empty()) return out;
  out.resize(2 + sense.size());
  StoreBe16(out.data(), uint16_t(sense.size()));
  std::memcpy(out.data() + 2, sense.data(), sense.size());
  return out;
}

}  // namespace

void SetSequence(Pdu* pdu, const SequenceNumbers& seq) {
  bool statsn = true;
  switch (pdu->opcode()) {
    case Opcode::kDataIn:
      // StatSN only travels with phase-collapsed status (S bit).
      statsn = pdu->bhs[1] & 0x01;
      break;
    case Opcode::kNopIn:
    case Opcode::kScsiResponse:
    case Opcode::kTaskMgmtResponse:
    case Opcode::kLoginResponse:
    case Opcode::kTextResponse:
    case Opcode::kLogoutResponse:
    case Opcode::kR2T:  // carries the next StatSN without advancing it
    case Opcode::kAsyncMessage:
    case Opcode::kReject:
      break;
    default:
      return;  // initiator PDUs carry CmdSN/ExpStatSN instead
  }
  StoreBe32(&pdu->bhs[kStatSnOffset], statsn ? seq.statsn : 0);
  StoreBe32(&pdu->bhs[kExpCmdSnOffset], seq.expcmdsn);
  StoreBe32(&pdu->bhs[kMaxCmdSnOffset], seq.maxcmdsn);
}

Pdu MakeScsiResponse(uint32_t itt, uint8_t status, std::span<const uint8_t> sense, uint8_t response,
                     int64_t residual) {
  Pdu pdu = Start(Opcode::kScsiResponse, 0x80, itt);
  pdu.bhs[2] = response;
  pdu.bhs[3] = status;
  SetResidual(&pdu, residual, 0x04, 0x02);
  pdu.data = SenseSegment(sense);
  SetLength(&pdu);
  return pdu;
}

Pdu MakeDataIn(uint32_t itt, uint64_t lun, uint32_t ttt, uint32_t datasn, uint32_t buffer_offset,
               std::span<const uint8_t> data, bool final, std::optional<uint8_t> status,
               int64_t residual) {
  Pdu pdu = Start(Opcode::kDataIn, final || status ? 0x80 : 0, itt);
  if (status) {
    pdu.bhs[1] |= 0x01;
    pdu.bhs[3] = *status;
    SetResidual(&pdu, residual, 0x04, 0x02);
  }
  StoreBe64(&pdu.bhs[8], lun);
  StoreBe32(&pdu.bhs[20], ttt);
  StoreBe32(&pdu.bhs[36], datasn);
  StoreBe32(&pdu.bhs[40], buffer_offset);
  pdu.data.assign(data.begin(), data.end());
  SetLength(&pdu);
  return pdu;
}

Pdu MakeR2T(uint32_t itt, uint64_t lun, uint32_t ttt, uint32_t r2tsn, uint32_t buffer_offset,
            uint32_t desired_length) {
  Pdu pdu = Start(Opcode::kR2T, 0x80, itt);
  StoreBe64(&pdu.bhs[8], lun);
  StoreBe32(&pdu.bhs[20], ttt);
  StoreBe32(&pdu.bhs[36], r2tsn);
  StoreBe32(&pdu.bhs[40], buffer_offset);
  StoreBe32(&pdu.bhs[44], desired_length);
  return pdu;
}

Pdu MakeNopIn(uint32_t itt, uint32_t ttt, uint64_t lun, std::span<const uint8_t> data) {
  Pdu pdu = Start(Opcode::kNopIn, 0x80, itt);
  StoreBe64(&pdu.bhs[8], lun);
  StoreBe32(&pdu.bhs[20], ttt);
  pdu.data.assign(data.begin(), data.end());
  SetLength(&pdu);
  return pdu;
}

Pdu MakeTaskMgmtResponse(uint32_t itt, uint8_t response) {
  Pdu pdu = Start(Opcode::kTaskMgmtResponse, 0x80, itt);
  pdu.bhs[2] = response;
  return pdu;
}

Pdu MakeLogoutResponse(uint32_t itt, uint8_t response, uint16_t time2wait, uint16_t time2retain) {
  Pdu pdu = Start(Opcode::kLogoutResponse, 0x80, itt);
  pdu.bhs[2] = response;
  StoreBe16(&pdu.bhs[40], time2wait);
  StoreBe16(&pdu.bhs[42], time2retain);
  return pdu;
}

Pdu MakeTextResponse(uint32_t itt, uint32_t ttt, bool final, bool cont, uint64_t lun,
                     std::vector<uint8_t> data) {
  Pdu pdu = Start(Opcode::kTextResponse, uint8_t((final ? 0x80 : 0) | (cont ? 0x40 : 0)), itt);
  StoreBe64(&pdu.bhs[8], lun);
  StoreBe32(&pdu.bhs[20], final ? kReservedTag : ttt);
  pdu.data = std::move(data);
  SetLength(&pdu);
  return pdu;
}

Pdu MakeLoginResponse(const LoginRequestPdu& req, bool transit, uint8_t csg, uint8_t nsg,
                      uint16_t tsih, uint8_t status_class, uint8_t status_detail,
                      std::vector<uint8_t> data) {
  uint8_t flags = uint8_t((csg & 3) << 2);
  if (transit) flags |= 0x80 | (nsg & 3);
  Pdu pdu = Start(Opcode::kLoginResponse, flags, req.itt);
  pdu.bhs[2] = 0;  // Version-max
  pdu.bhs[3] = 0;  // Version-active
  std::copy(req.isid.begin(), req.isid.end(), pdu.bhs.begin() + 8);
  StoreBe16(&pdu.bhs[14], tsih);
  pdu.bhs[36] = status_class;
  pdu.bhs[37] = status_detail;
  pdu.data = std::move(data);
  SetLength(&pdu);
  return pdu;
}

Pdu MakeReject(RejectReason reason, const std::array<uint8_t, kBhsLength>& offending_bhs) {
  Pdu pdu = Start(Opcode::kReject, 0x80, kReservedTag);
  pdu.bhs[2] = uint8_t(reason);
  pdu.data.assign(offending_bhs.begin(), offending_bhs.end());
  SetLength(&pdu);
  return pdu;
}

Pdu MakeAsyncMessage(uint8_t event, uint64_t lun, std::span<const uint8_t> data, uint16_t param1,
                     uint16_t param2, uint16_t param3) {
  Pdu pdu = Start(Opcode::kAsyncMessage, 0x80, kReservedTag);
  StoreBe64(&pdu.bhs[8], lun);
  pdu.bhs[36] = event;
  StoreBe16(&pdu.bhs[38], param1);
  StoreBe16(&pdu.bhs[40], param2);
  StoreBe16(&pdu.bhs[42], param3);
  pdu.data = SenseSegment(data);
  SetLength(&pdu);
  return pdu;
}

}  // namespace vsl::iscsi
