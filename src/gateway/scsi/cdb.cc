#include "gateway/scsi/cdb.h"

#include "gateway/scsi/sense.h"

namespace vsl::scsi {
namespace {

// Control byte usage: NACA (bit 2) is evaluated, and refused (no ACA).
constexpr uint8_t C = 0x04;
constexpr uint8_t F = 0xff;
constexpr PrClass kA = PrClass::kAllowed, kR = PrClass::kRead, kW = PrClass::kWrite;
constexpr uint8_t kWm = kWritesMedium, kRm = kReadsMedium, kSz = kSanitizeAllowed;

const OpInfo kOps[] = {
    {0x00, -1, 6, {0x00, 0, 0, 0, 0, C}, Op::kTestUnitReady, kA, 0, "TEST UNIT READY"},
    {0x03, -1, 6, {0x03, 0x01, 0, 0, F, C}, Op::kRequestSense, kA, kUaExempt | kSpc2Allowed | kSz, "REQUEST SENSE"},
    {0x08, -1, 6, {0x08, 0x1f, F, F, F, C}, Op::kRead6, kR, kRm, "READ(6)"},
    {0x0a, -1, 6, {0x0a, 0x1f, F, F, F, C}, Op::kWrite6, kW, kWm, "WRITE(6)"},
    {0x12, -1, 6, {0x12, 0x01, F, F, F, C}, Op::kInquiry, kA, kUaExempt | kSpc2Allowed | kSz, "INQUIRY"},
    {0x15, -1, 6, {0x15, 0x11, 0, 0, F, C}, Op::kModeSelect6, kW, 0, "MODE SELECT(6)"},
    {0x16, -1, 6, {0x16, 0, 0, 0, 0, C}, Op::kReserve6, kW, 0, "RESERVE(6)"},
    {0x17, -1, 6, {0x17, 0, 0, 0, 0, C}, Op::kRelease6, kW, kSpc2Allowed, "RELEASE(6)"},
    {0x1a, -1, 6, {0x1a, 0x08, F, F, F, C}, Op::kModeSense6, kR, 0, "MODE SENSE(6)"},
    {0x1b, -1, 6, {0x1b, 0x01, 0, 0x0f, 0xf7, C}, Op::kStartStopUnit, kW, 0, "START STOP UNIT"},
    {0x1e, -1, 6, {0x1e, 0, 0, 0, 0x03, C}, Op::kPreventAllow, kW, 0, "PREVENT ALLOW MEDIUM REMOVAL"},
    {0x25, -1, 10, {0x25, 0, F, F, F, F, 0, 0, 0x01, C}, Op::kReadCapacity10, kA, 0, "READ CAPACITY(10)"},
    {0x28, -1, 10, {0x28, 0x1e, F, F, F, F, 0x3f, F, F, C}, Op::kRead10, kR, kRm, "READ(10)"},
    {0x2a, -1, 10, {0x2a, 0x1a, F, F, F, F, 0x3f, F, F, C}, Op::kWrite10, kW, kWm, "WRITE(10)"},
    {0x2e, -1, 10, {0x2e, 0x16, F, F, F, F, 0x3f, F, F, C}, Op::kWriteVerify10, kW, kWm, "WRITE AND VERIFY(10)"},
    {0x2f, -1, 10, {0x2f, 0x16, F, F, F, F, 0x3f, F, F, C}, Op::kVerify10, kR, kRm, "VERIFY(10)"},
    {0x34, -1, 10, {0x34, 0x02, F, F, F, F, 0x3f, F, F, C}, Op::kPrefetch10, kR, kRm, "PRE-FETCH(10)"},
    {0x35, -1, 10, {0x35, 0x06, F, F, F, F, 0x3f, F, F, C}, Op::kSyncCache10, kW, 0, "SYNCHRONIZE CACHE(10)"},
    {0x37, -1, 10, {0x37, 0, 0x1f, 0, 0, 0, 0, F, F, C}, Op::kReadDefectData10, kR, 0, "READ DEFECT DATA(10)"},
    {0x41, -1, 10, {0x41, 0x08, F, F, F, F, 0x3f, F, F, C}, Op::kWriteSame10, kW, kWm, "WRITE SAME(10)"},
    {0x42, -1, 10, {0x42, 0, 0, 0, 0, 0, 0x3f, F, F, C}, Op::kUnmap, kW, kWm, "UNMAP"},
    // SANITIZE (SBC-4): OVERWRITE, BLOCK ERASE, EXIT FAILURE MODE. CRYPTOGRAPHIC
    // ERASE is absent: a file has no media key to change.
    {0x48, 0x01, 10, {0x48, 0xa1, 0, 0, 0, 0, 0, F, F, C}, Op::kSanitize, kW, kWm, "SANITIZE / OVERWRITE"},
    {0x48, 0x02, 10, {0x48, 0xa2, 0, 0, 0, 0, 0, F, F, C}, Op::kSanitize, kW, kWm, "SANITIZE / BLOCK ERASE"},
    {0x48, 0x1f, 10, {0x48, 0xbf, 0, 0, 0, 0, 0, F, F, C}, Op::kSanitize, kW, 0, "SANITIZE / EXIT FAILURE MODE"},
    {0x55, -1, 10, {0x55, 0x11, 0, 0, 0, 0, 0, F, F, C}, Op::kModeSelect10, kW, 0, "MODE SELECT(10)"},
    {0x56, -1, 10, {0x56, 0, 0, 0, 0, 0, 0, 0, 0, C}, Op::kReserve10, kW, 0, "RESERVE(10)"},
    {0x57, -1, 10, {0x57, 0, 0, 0, 0, 0, 0, 0, 0, C}, Op::kRelease10, kW, kSpc2Allowed, "RELEASE(10)"},
    {0x5a, -1, 10, {0x5a, 0x18, F, F, 0, 0, 0, F, F, C}, Op::kModeSense10, kR, 0, "MODE SENSE(10)"},
    {0x5e, 0x00, 10, {0x5e, 0x00, 0, 0, 0, 0, 0, F, F, C}, Op::kPrIn, kA, 0, "PERSISTENT RESERVE IN / READ KEYS"},
    {0x5e, 0x01, 10, {0x5e, 0x01, 0, 0, 0, 0, 0, F, F, C}, Op::kPrIn, kA, 0, "PERSISTENT RESERVE IN / READ RESERVATION"},
    {0x5e, 0x02, 10, {0x5e, 0x02, 0, 0, 0, 0, 0, F, F, C}, Op::kPrIn, kA, 0, "PERSISTENT RESERVE IN / REPORT CAPABILITIES"},
    {0x5e, 0x03, 10, {0x5e, 0x03, 0, 0, 0, 0, 0, F, F, C}, Op::kPrIn, kA, 0, "PERSISTENT RESERVE IN / READ FULL STATUS"},
    {0x5f, 0x00, 10, {0x5f, 0x00, F, 0, 0, F, F, F, F, C}, Op::kPrOut, kA, 0, "PERSISTENT RESERVE OUT / REGISTER"},
    {0x5f, 0x01, 10, {0x5f, 0x01, F, 0, 0, F, F, F, F, C}, Op::kPrOut, kA, 0, "PERSISTENT RESERVE OUT / RESERVE"},
    {0x5f, 0x02, 10, {0x5f, 0x02, F, 0, 0, F, F, F, F, C}, Op::kPrOut, kA, 0, "PERSISTENT RESERVE OUT / RELEASE"},
    {0x5f, 0x03, 10, {0x5f, 0x03, F, 0, 0, F, F, F, F, C}, Op::kPrOut, kA, 0, "PERSISTENT RESERVE OUT / CLEAR"},
    {0x5f, 0x04, 10, {0x5f, 0x04, F, 0, 0, F, F, F, F, C}, Op::kPrOut, kA, 0, "PERSISTENT RESERVE OUT / PREEMPT"},
    {0x5f, 0x05, 10, {0x5f, 0x05, F, 0, 0, F, F, F, F, C}, Op::kPrOut, kA, 0, "PERSISTENT RESERVE OUT / PREEMPT AND ABORT"},
    {0x5f, 0x06, 10, {0x5f, 0x06, F, 0, 0, F, F, F, F, C}, Op::kPrOut, kA, 0, "PERSISTENT RESERVE OUT / REGISTER AND IGNORE EXISTING KEY"},
    // EXTENDED COPY (LID1) and RECEIVE COPY RESULTS: the copy manager is the
    // addressed LU; source and destination are checked against reservations
    // on their own LUs (lu_xcopy.cc), so the copy manager itself allows them.
    {0x83, 0x00, 16, {0x83, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, F, F, F, F, 0, C}, Op::kExtendedCopy, kA, 0, "EXTENDED COPY(LID1)"},
    {0x84, 0x00, 16, {0x84, 0x00, F, 0, 0, 0, 0, 0, 0, 0, F, F, F, F, 0, C}, Op::kReceiveCopyResults, kA, 0, "RECEIVE COPY RESULTS / COPY STATUS"},
    {0x84, 0x03, 16, {0x84, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, F, F, F, F, 0, C}, Op::kReceiveCopyResults, kA, 0, "RECEIVE COPY RESULTS / OPERATING PARAMETERS"},
    {0x88, -1, 16, {0x88, 0x1e, F, F, F, F, F, F, F, F, F, F, F, F, 0x3f, C}, Op::kRead16, kR, kRm, "READ(16)"},
    {0x89, -1, 16, {0x89, 0x1a, F, F, F, F, F, F, F, F, 0, 0, 0, F, 0x3f, C}, Op::kCompareAndWrite, kW, kWm, "COMPARE AND WRITE"},
    {0x8a, -1, 16, {0x8a, 0x1a, F, F, F, F, F, F, F, F, F, F, F, F, 0x3f, C}, Op::kWrite16, kW, kWm, "WRITE(16)"},
    {0x8b, -1, 16, {0x8b, 0x1a, F, F, F, F, F, F, F, F, F, F, F, F, 0x3f, C}, Op::kOrWrite16, kW, kWm, "ORWRITE(16)"},
    {0x8e, -1, 16, {0x8e, 0x16, F, F, F, F, F, F, F, F, F, F, F, F, 0x3f, C}, Op::kWriteVerify16, kW, kWm, "WRITE AND VERIFY(16)"},
    {0x8f, -1, 16, {0x8f, 0x16, F, F, F, F, F, F, F, F, F, F, F, F, 0x3f, C}, Op::kVerify16, kR, kRm, "VERIFY(16)"},
    {0x90, -1, 16, {0x90, 0x02, F, F, F, F, F, F, F, F, F, F, F, F, 0x3f, C}, Op::kPrefetch16, kR, kRm, "PRE-FETCH(16)"},
    {0x91, -1, 16, {0x91, 0x06, F, F, F, F, F, F, F, F, F, F, F, F, 0x3f, C}, Op::kSyncCache16, kW, 0, "SYNCHRONIZE CACHE(16)"},
    {0x93, -1, 16, {0x93, 0x09, F, F, F, F, F, F, F, F, F, F, F, F, 0x3f, C}, Op::kWriteSame16, kW, kWm, "WRITE SAME(16)"},
    {0x9c, -1, 16, {0x9c, 0x18, F, F, F, F, F, F, F, F, 0, 0, F, F, 0x3f, C}, Op::kWriteAtomic16, kW, kWm, "WRITE ATOMIC(16)"},
    {0x9e, 0x10, 16, {0x9e, 0x10, F, F, F, F, F, F, F, F, F, F, F, F, 0x01, C}, Op::kReadCapacity16, kA, 0, "READ CAPACITY(16)"},
    {0x9e, 0x12, 16, {0x9e, 0x12, F, F, F, F, F, F, F, F, F, F, F, F, 0, C}, Op::kGetLbaStatus, kR, kRm, "GET LBA STATUS"},
    {0xa0, -1, 12, {0xa0, 0, F, 0, 0, 0, F, F, F, F, 0, C}, Op::kReportLuns, kA, kUaExempt | kSpc2Allowed | kSz, "REPORT LUNS"},
    {0xa3, 0x0c, 12, {0xa3, 0x0c, 0x87, F, F, F, F, F, F, F, 0, C}, Op::kReportOpcodes, kA, kSz, "REPORT SUPPORTED OPERATION CODES"},
    {0xa3, 0x0d, 12, {0xa3, 0x0d, 0x80, 0, 0, 0, F, F, F, F, 0, C}, Op::kReportTmf, kA, kSz, "REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS"},
    {0xa8, -1, 12, {0xa8, 0x1e, F, F, F, F, F, F, F, F, 0x3f, C}, Op::kRead12, kR, kRm, "READ(12)"},
    {0xb7, -1, 12, {0xb7, 0x1f, 0, 0, 0, 0, F, F, F, F, 0, C}, Op::kReadDefectData12, kR, 0, "READ DEFECT DATA(12)"},
    {0xaa, -1, 12, {0xaa, 0x1a, F, F, F, F, F, F, F, F, 0x3f, C}, Op::kWrite12, kW, kWm, "WRITE(12)"},
    {0xae, -1, 12, {0xae, 0x16, F, F, F, F, F, F, F, F, 0x3f, C}, Op::kWriteVerify12, kW, kWm, "WRITE AND VERIFY(12)"},
    {0xaf, -1, 12, {0xaf, 0x16, F, F, F, F, F, F, F, F, 0x3f, C}, Op::kVerify12, kR, kRm, "VERIFY(12)"},
};

}  // namespace

bool HasServiceActions(uint8_t opcode) {
  return opcode == 0x48 || opcode == 0x5e || opcode == 0x5f || opcode == 0x83 || opcode == 0x84 || opcode == 0x9e ||
         opcode == 0xa3;
}

const OpInfo* FindOp(uint8_t opcode, uint16_t sa) {
  bool has_sa = HasServiceActions(opcode);
  for (const OpInfo& op : kOps) {
    if (op.opcode != opcode) continue;
    if (!has_sa || op.service_action == int16_t(sa)) return &op;
  }
  return nullptr;
}

const OpInfo* FindOp(std::span<const uint8_t> cdb) {
  if (cdb.empty()) return nullptr;
  uint16_t sa = cdb.size() > 1 ? (cdb[1] & 0x1f) : 0;
  return FindOp(cdb[0], sa);
}

std::span<const OpInfo> SupportedOps() { return kOps; }

std::optional<Sense> CheckCdb(const OpInfo& op, std::span<const uint8_t> cdb) {
  if (cdb.size() < op.cdb_length) return InvalidCdbField(uint16_t(cdb.size()));
  const size_t last = op.cdb_length - 1;
  for (size_t i = 1; i < last; ++i) {
    uint8_t allowed = op.usage[i];
    if (i == 1 && op.service_action >= 0) allowed |= 0x1f;
    uint8_t bad = cdb[i] & ~allowed;
    if (bad != 0) {
      uint8_t bit = 7;
      while (!(bad & (1u << bit))) --bit;
      return InvalidCdbField(uint16_t(i), bit);
    }
  }
  if (cdb[last] & 0x04) return InvalidCdbField(uint16_t(last), 2);  // NACA: no ACA
  if (cdb[last] & 0x01) return InvalidCdbField(uint16_t(last), 0);  // LINK: obsolete
  return std::nullopt;
}

}  // namespace vsl::scsi
