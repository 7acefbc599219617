// How one SCSI command's data is cut into PDUs (RFC 7143 §4.2.4, §11.7, §11.8):
// Data-In by the initiator's MaxRecvDataSegmentLength and MaxBurstLength, R2Ts
// by MaxBurstLength, the unsolicited part of a write by FirstBurstLength and
// InitialR2T, and the residual the response reports. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace vsl::gateway {

struct DataInSegment {
  uint32_t offset = 0;
  uint32_t length = 0;
  bool final = false;  // F bit: last PDU of its sequence (burst)
  bool last = false;   // last PDU of the command
  bool operator==(const DataInSegment&) const = default;
};
// The Data-In PDUs carrying `total` bytes. Each holds at most `max_segment`
// bytes; a sequence (PDUs up to an F bit) holds at most `max_burst` bytes.
// Empty when total is 0. Zero limits count as 512.
std::vector<DataInSegment> PlanDataIn(uint32_t total, uint32_t max_segment, uint32_t max_burst);

struct R2tRange {
  uint32_t offset = 0;
  uint32_t length = 0;
  bool operator==(const R2tRange&) const = default;
};
// The R2Ts soliciting bytes [from, to) of a write, each at most `max_burst`.
std::vector<R2tRange> PlanR2Ts(uint32_t from, uint32_t to, uint32_t max_burst);

// Where a write's unsolicited data ends (immediate data plus unsolicited
// Data-Out): with InitialR2T=No and the command's F bit clear the initiator
// sends up to min(FirstBurstLength, EDTL); otherwise only the immediate data.
uint32_t UnsolicitedEnd(uint32_t edtl, uint32_t immediate_length, uint32_t first_burst,
                        bool initial_r2t, bool final_bit);

// The bytes the CDB itself asks to move (SPDTL) for the READ/WRITE/WRITE AND
// VERIFY/ORWRITE family, given the logical block size; nullopt for other
// opcodes (their transfer length is the SCSI layer's business).
std::optional<uint64_t> CdbTransferLength(std::span<const uint8_t> cdb, uint32_t block_size);

// A write whose EDTL differs from what its CDB asks (SPDTL) moves only the
// smaller of the two (RFC 7143 §11.4.5.2; the residual reports the rest): the
// CDB is rewritten to the whole blocks EDTL covers. `skip`: nothing is left to
// write, the command completes GOOD without reaching the logical unit.
struct WriteFit {
  std::vector<uint8_t> cdb;
  uint32_t data_length = 0;  // bytes of Data-Out to pass on
  bool skip = false;
};
// nullopt when the CDB is not a READ/WRITE-family write or EDTL == SPDTL.
std::optional<WriteFit> FitWriteToEdtl(std::span<const uint8_t> cdb, uint32_t edtl,
                                       uint32_t block_size);

// The residual for the SCSI Response / final Data-In: >0 underflow (EDTL
// larger than what moved), <0 overflow.
inline int64_t Residual(uint32_t edtl, uint64_t spdtl) { return int64_t(edtl) - int64_t(spdtl); }

}  // namespace vsl::gateway
