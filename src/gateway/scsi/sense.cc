#include "gateway/scsi/sense.h"

#include "util/bytes.h"

namespace vsl::scsi {

std::vector<uint8_t> Sense::Encode() const {
  std::vector<uint8_t> b(18, 0);
  b[0] = 0x70;
  b[2] = uint8_t(key) & 0x0f;
  if (has_info) {
    // The fixed format's INFORMATION field has 4 bytes; VALID says it holds the value.
    if (info <= 0xffffffffu) b[0] |= 0x80;
    StoreBe32(&b[3], uint32_t(info));
  }
  b[7] = 10;  // additional sense length
  b[12] = asc.asc;
  b[13] = asc.ascq;
  if (has_field_pointer) {
    b[15] = 0x80 | (in_cdb ? 0x40 : 0);
    if (field_bit < 8) b[15] |= 0x08 | (field_bit & 7);
    StoreBe16(&b[16], field_byte);
  } else if (has_progress) {
    b[15] = 0x80;
    StoreBe16(&b[16], progress);
  }
  return b;
}

std::vector<uint8_t> EncodeDescriptorSense(const Sense& s) {
  std::vector<uint8_t> b(8, 0);
  b[0] = 0x72;
  b[1] = uint8_t(s.key) & 0x0f;
  b[2] = s.asc.asc;
  b[3] = s.asc.ascq;
  if (s.has_info) {
    uint8_t d[12] = {0x00, 0x0a, 0x80, 0};
    StoreBe64(&d[4], s.info);
    b.insert(b.end(), d, d + 12);
  }
  if (s.has_field_pointer) {
    uint8_t d[8] = {0x02, 0x06, 0, 0, 0, 0, 0, 0};
    d[4] = 0x80 | (s.in_cdb ? 0x40 : 0);
    if (s.field_bit < 8) d[4] |= 0x08 | (s.field_bit & 7);
    StoreBe16(&d[5], s.field_byte);
    b.insert(b.end(), d, d + 8);
  } else if (s.has_progress) {
    uint8_t d[8] = {0x02, 0x06, 0, 0, 0x80, 0, 0, 0};
    StoreBe16(&d[5], s.progress);
    b.insert(b.end(), d, d + 8);
  }
  b[7] = uint8_t(b.size() - 8);
  return b;
}

Response Response::Good(std::vector<uint8_t> data) {
  Response r;
  r.data_in = std::move(data);
  return r;
}

Response Response::Check(const Sense& sense) {
  Response r;
  r.status = ScsiStatus::kCheckCondition;
  r.sense = sense.Encode();
  return r;
}

Response FromStatus(const Status& status, bool writing) {
  switch (status.code()) {
    case Code::kOk:
      return Response::Good();
    case Code::kOutOfRange:
      return CheckIllegal(kLbaOutOfRange);
    case Code::kFailedPrecondition:
      return Response::Check(MakeSense(SenseKey::kDataProtect, kWriteProtected));
    case Code::kIoError:
      return Response::Check(
          MakeSense(SenseKey::kMediumError, writing ? kWriteError : kUnrecoveredReadError));
    default:
      return Response::Check(MakeSense(SenseKey::kHardwareError, kInternalTargetFailure));
  }
}

}  // namespace vsl::scsi
