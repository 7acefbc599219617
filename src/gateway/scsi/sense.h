// Sense conditions used across the SCSI layer, and helpers that build them.
#pragma once

#include "gateway/scsi/scsi.h"

namespace vsl::scsi {

inline constexpr Asc kNoAdditionalSense{0x00, 0x00};
inline constexpr Asc kSanitizeInProgress{0x04, 0x1b};
inline constexpr Asc kCopyTargetNotReachable{0x0d, 0x02};
inline constexpr Asc kInvalidFieldInIu{0x0e, 0x03};
inline constexpr Asc kWriteError{0x0c, 0x00};
inline constexpr Asc kUnrecoveredReadError{0x11, 0x00};
inline constexpr Asc kParameterListLengthError{0x1a, 0x00};
inline constexpr Asc kMiscompareDuringVerify{0x1d, 0x00};
inline constexpr Asc kInvalidOpcode{0x20, 0x00};
inline constexpr Asc kLbaOutOfRange{0x21, 0x00};
inline constexpr Asc kInvalidFieldInCdb{0x24, 0x00};
inline constexpr Asc kLuNotSupported{0x25, 0x00};
inline constexpr Asc kInvalidFieldInParameterList{0x26, 0x00};
inline constexpr Asc kInvalidReleaseOfPr{0x26, 0x04};
inline constexpr Asc kTooManyTargetDescriptors{0x26, 0x06};
inline constexpr Asc kUnsupportedTargetDescriptorType{0x26, 0x07};
inline constexpr Asc kTooManySegmentDescriptors{0x26, 0x08};
inline constexpr Asc kUnsupportedSegmentDescriptorType{0x26, 0x09};
inline constexpr Asc kWriteProtected{0x27, 0x00};
inline constexpr Asc kSoftwareWriteProtected{0x27, 0x02};
inline constexpr Asc kPowerOnReset{0x29, 0x00};
inline constexpr Asc kBusDeviceReset{0x29, 0x03};
inline constexpr Asc kReservationsPreempted{0x2a, 0x03};
inline constexpr Asc kReservationsReleased{0x2a, 0x04};
inline constexpr Asc kRegistrationsPreempted{0x2a, 0x05};
inline constexpr Asc kModeParametersChanged{0x2a, 0x01};
inline constexpr Asc kCapacityDataChanged{0x2a, 0x09};
inline constexpr Asc kMediumMayHaveChanged{0x28, 0x00};
inline constexpr Asc kSanitizeCommandFailed{0x31, 0x03};
inline constexpr Asc kSavingParametersNotSupported{0x39, 0x00};
inline constexpr Asc kReportedLunsDataChanged{0x3f, 0x0e};
inline constexpr Asc kInternalTargetFailure{0x44, 0x00};
inline constexpr Asc kInsufficientResources{0x55, 0x03};

inline Sense MakeSense(SenseKey key, Asc asc) {
  Sense s;
  s.key = key;
  s.asc = asc;
  return s;
}
// ILLEGAL REQUEST / INVALID FIELD IN CDB pointing at byte `byte`, bit `bit`
// (8: the whole byte).
inline Sense InvalidCdbField(uint16_t byte, uint8_t bit = 8) {
  Sense s = MakeSense(SenseKey::kIllegalRequest, kInvalidFieldInCdb);
  s.has_field_pointer = true;
  s.in_cdb = true;
  s.field_byte = byte;
  s.field_bit = bit;
  return s;
}
// ILLEGAL REQUEST / INVALID FIELD IN PARAMETER LIST at byte `byte`, bit `bit`.
inline Sense InvalidParamField(uint16_t byte, uint8_t bit = 8) {
  Sense s = MakeSense(SenseKey::kIllegalRequest, kInvalidFieldInParameterList);
  s.has_field_pointer = true;
  s.in_cdb = false;
  s.field_byte = byte;
  s.field_bit = bit;
  return s;
}
inline Sense IllegalRequest(Asc asc) { return MakeSense(SenseKey::kIllegalRequest, asc); }

inline Response CheckInvalidCdb(uint16_t byte, uint8_t bit = 8) {
  return Response::Check(InvalidCdbField(byte, bit));
}
inline Response CheckIllegal(Asc asc) { return Response::Check(IllegalRequest(asc)); }
inline Response Conflict() {
  Response r;
  r.status = ScsiStatus::kReservationConflict;
  return r;
}

// Descriptor-format sense data (response code 72h), for REQUEST SENSE DESC=1.
std::vector<uint8_t> EncodeDescriptorSense(const Sense& sense);

// Maps a volume failure to sense: OutOfRange -> LBA OUT OF RANGE, a read-only
// volume -> WRITE PROTECTED, I/O errors -> MEDIUM ERROR, the rest -> HARDWARE
// ERROR / INTERNAL TARGET FAILURE.
Response FromStatus(const Status& status, bool writing);

// Truncates `data` to the allocation length.
inline Response GoodTruncated(std::vector<uint8_t> data, size_t alloc) {
  if (data.size() > alloc) data.resize(alloc);
  return Response::Good(std::move(data));
}

}  // namespace vsl::scsi
