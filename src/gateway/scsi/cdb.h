// The commands vsl's logical units support: opcode, CDB length, which CDB bits
// the device server evaluates (REPORT SUPPORTED OPERATION CODES' CDB usage
// data, and the reserved-bit check of every CDB), and how reservations treat
// each one. Pure; table-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "gateway/scsi/scsi.h"

namespace vsl::scsi {

enum class Op : uint8_t {
  kTestUnitReady, kRequestSense, kRead6, kWrite6, kInquiry, kModeSelect6, kReserve6, kRelease6,
  kModeSense6, kStartStopUnit, kPreventAllow, kReadCapacity10, kRead10, kWrite10,
  kWriteVerify10, kVerify10, kPrefetch10, kSyncCache10, kWriteSame10, kUnmap, kModeSelect10,
  kReserve10, kRelease10, kModeSense10, kPrIn, kPrOut, kRead16, kCompareAndWrite, kWrite16,
  kOrWrite16, kWriteVerify16, kVerify16, kPrefetch16, kSyncCache16, kWriteSame16,
  kReadCapacity16, kGetLbaStatus, kReportLuns, kReportOpcodes, kReportTmf, kRead12, kWrite12,
  kWriteVerify12, kVerify12, kReadDefectData10, kReadDefectData12, kWriteAtomic16,
  kExtendedCopy, kReceiveCopyResults, kSanitize,
};

// How a persistent reservation held by another nexus treats the command
// (SPC-4 5.13): always allowed, allowed under the write-exclusive types, or
// refused unless the nexus is a registrant of a registrants-only/all-registrants
// reservation.
enum class PrClass : uint8_t { kAllowed, kRead, kWrite };

enum OpFlag : uint8_t {
  kUaExempt = 1,     // INQUIRY, REPORT LUNS, REQUEST SENSE: neither blocked by nor clear UAs
  kSpc2Allowed = 2,  // runs while another nexus holds a RESERVE(6)
  kWritesMedium = 4, // refused with WRITE PROTECTED on a read-only mapping
  kSanitizeAllowed = 8,  // runs while a sanitize is in progress (SBC-4 4.11)
  kReadsMedium = 16,     // with kWritesMedium: refused while a failed sanitize holds the LU
};

struct OpInfo {
  uint8_t opcode;
  int16_t service_action;  // -1: the opcode has none
  uint8_t cdb_length;
  uint8_t usage[16];       // CDB usage data: usage[0] = opcode, SA bits = the SA
  Op op;
  PrClass pr_class;
  uint8_t flags;
  const char* name;
};

// The entry for the CDB's opcode (and service action, where the opcode has
// them), or null: INVALID COMMAND OPERATION CODE.
const OpInfo* FindOp(std::span<const uint8_t> cdb);
// The entry for (opcode, sa); sa ignored for opcodes without service actions.
const OpInfo* FindOp(uint8_t opcode, uint16_t sa);
bool HasServiceActions(uint8_t opcode);
std::span<const OpInfo> SupportedOps();

// INVALID FIELD IN CDB when the CDB is too short for its opcode, sets a bit
// the device server does not evaluate, or sets NACA or LINK in the control
// byte.
std::optional<Sense> CheckCdb(const OpInfo& op, std::span<const uint8_t> cdb);

}  // namespace vsl::scsi
