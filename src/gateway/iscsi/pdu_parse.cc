// Typed views of initiator PDUs (RFC 7143 §11): the checks a target relies on.

#include <cstdio>

#include "gateway/iscsi/pdu.h"

namespace vsl::iscsi {
namespace {

constexpr uint8_t kAhsExtendedCdb = 1;
constexpr uint8_t kAhsBidiReadLength = 2;
constexpr size_t kMaxCdbLength = 260;

Status Bad(Opcode op, std::string_view what) {
  return InvalidArgument(OpcodeName(op) + ": " + std::string(what));
}

// Checks the opcode and that no AHS comes with PDUs that take none.
Status CheckCommon(const Pdu& pdu, Opcode want, bool ahs_allowed, size_t data_size) {
  if (pdu.opcode() != want) {
    return InvalidArgument("expected " + OpcodeName(want) + ", got " + OpcodeName(pdu.opcode()));
  }
  if (!ahs_allowed && (pdu.bhs[4] != 0 || !pdu.ahs.empty())) {
    return Bad(want, "TotalAHSLength must be 0");
  }
  if (data_size != pdu.data_segment_length()) {
    return Bad(want, "DataSegmentLength " + std::to_string(pdu.data_segment_length()) +
                         " does not match the data segment of " + std::to_string(data_size) +
                         " bytes");
  }
  return Status::Ok();
}

Status CheckTag(Opcode op, uint32_t itt) {
  if (itt == kReservedTag) return Bad(op, "Initiator Task Tag 0xffffffff is reserved");
  return Status::Ok();
}

Status ParseAhs(const Pdu& pdu, ScsiCommandPdu* cmd) {
  const std::vector<uint8_t>& ahs = pdu.ahs;
  size_t pos = 0;
  bool have_cdb = false;
  while (pos < ahs.size()) {
    if (ahs.size() - pos < 4) return Bad(pdu.opcode(), "truncated AHS");
    const size_t len = LoadBe16(&ahs[pos]);
    const uint8_t type = ahs[pos + 2] & 0x3f;
    const size_t entry = (3 + len + 3) & ~size_t(3);
    if (entry > ahs.size() - pos) return Bad(pdu.opcode(), "AHSLength beyond TotalAHSLength");
    const uint8_t* body = &ahs[pos + 4];  // after the AHS-specific byte
    if (type == kAhsExtendedCdb) {
      if (have_cdb) return Bad(pdu.opcode(), "two extended CDB AHS");
      // AHSLength counts the reserved byte and the CDB bytes beyond 16.
      if (len < 2 || 16 + len - 1 > kMaxCdbLength) {
        return Bad(pdu.opcode(), "extended CDB AHS length " + std::to_string(len));
      }
      cmd->cdb.insert(cmd->cdb.end(), body, body + (len - 1));
      have_cdb = true;
    } else if (type == kAhsBidiReadLength) {
      if (cmd->bidi_read_length) return Bad(pdu.opcode(), "two bidirectional read length AHS");
      if (len != 5)
        return Bad(pdu.opcode(),
                   "bidirectional read length AHS length " + std::to_string(len) + ", want 5");
      cmd->bidi_read_length = LoadBe32(body);
    } else {
      return Bad(pdu.opcode(), "unsupported AHS type " + std::to_string(type));
    }
    pos += entry;
  }
  return Status::Ok();
}

// Parses a SCSI Command whose data segment is `data` (the PDU's own, or
// moved out of it); fills everything but immediate_data.
Status ParseCommand(const Pdu& pdu, std::span<const uint8_t> data, ScsiCommandPdu* cmd) {
  const Opcode op = Opcode::kScsiCommand;
  VSL_RETURN_IF_ERROR(CheckCommon(pdu, op, true, data.size()));
  cmd->immediate = pdu.immediate();
  cmd->final = pdu.flags() & 0x80;
  cmd->read = pdu.flags() & 0x40;
  cmd->write = pdu.flags() & 0x20;
  cmd->attr = pdu.flags() & 0x07;
  cmd->lun = pdu.lun();
  cmd->itt = pdu.itt();
  cmd->edtl = pdu.field32(20);
  cmd->cmdsn = pdu.field32(24);
  cmd->expstatsn = pdu.field32(28);
  VSL_RETURN_IF_ERROR(CheckTag(op, cmd->itt));
  if (!cmd->write && !cmd->final) {
    return Bad(op, "F bit clear without W bit (unsolicited data for a non-write)");
  }
  if (!data.empty()) {
    if (!cmd->write) {
      return Bad(op, "DataSegmentLength " + std::to_string(data.size()) +
                         " (immediate data) without W bit");
    }
    if (!cmd->final && data.size() >= cmd->edtl) {
      return Bad(op, "F bit clear although the immediate data covers ExpectedDataTransferLength " +
                         std::to_string(cmd->edtl));
    }
    if (data.size() > cmd->edtl) {
      return Bad(op, "DataSegmentLength " + std::to_string(data.size()) +
                         " exceeds ExpectedDataTransferLength " + std::to_string(cmd->edtl));
    }
  }
  cmd->cdb.assign(pdu.bhs.begin() + 32, pdu.bhs.end());
  VSL_RETURN_IF_ERROR(ParseAhs(pdu, cmd));
  if (cmd->bidi_read_length && !(cmd->read && cmd->write)) {
    return Bad(op, "bidirectional read length AHS without both R and W bits");
  }
  return Status::Ok();
}

}  // namespace

std::string OpcodeName(Opcode op) {
  switch (op) {
    case Opcode::kNopOut:
      return "NOP-Out";
    case Opcode::kScsiCommand:
      return "SCSI Command";
    case Opcode::kTaskMgmtRequest:
      return "Task Management Request";
    case Opcode::kLoginRequest:
      return "Login Request";
    case Opcode::kTextRequest:
      return "Text Request";
    case Opcode::kDataOut:
      return "SCSI Data-Out";
    case Opcode::kLogoutRequest:
      return "Logout Request";
    case Opcode::kSnackRequest:
      return "SNACK Request";
    case Opcode::kNopIn:
      return "NOP-In";
    case Opcode::kScsiResponse:
      return "SCSI Response";
    case Opcode::kTaskMgmtResponse:
      return "Task Management Response";
    case Opcode::kLoginResponse:
      return "Login Response";
    case Opcode::kTextResponse:
      return "Text Response";
    case Opcode::kDataIn:
      return "SCSI Data-In";
    case Opcode::kLogoutResponse:
      return "Logout Response";
    case Opcode::kR2T:
      return "R2T";
    case Opcode::kAsyncMessage:
      return "Asynchronous Message";
    case Opcode::kReject:
      return "Reject";
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "opcode 0x%02x", unsigned(op));
  return buf;
}

Result<ScsiCommandPdu> ParseScsiCommand(const Pdu& pdu) {
  ScsiCommandPdu cmd;
  VSL_RETURN_IF_ERROR(ParseCommand(pdu, pdu.data, &cmd));
  cmd.immediate_data = pdu.data;
  return cmd;
}

Result<ScsiCommandPdu> ParseScsiCommand(Pdu&& pdu) {
  std::vector<uint8_t> data = std::move(pdu.data);
  pdu.data.clear();
  ScsiCommandPdu cmd;
  Status st = ParseCommand(pdu, data, &cmd);
  if (!st.ok()) {
    pdu.data = std::move(data);  // the caller may still want to log or reject it
    return st;
  }
  cmd.immediate_data = std::move(data);
  return cmd;
}

Result<DataOutPdu> ParseDataOut(const Pdu& pdu) {
  const Opcode op = Opcode::kDataOut;
  VSL_RETURN_IF_ERROR(CheckCommon(pdu, op, false, pdu.payload().size()));
  DataOutPdu d;
  d.final = pdu.final_bit();
  d.lun = pdu.lun();
  d.itt = pdu.itt();
  d.ttt = pdu.field32(20);
  d.expstatsn = pdu.field32(28);
  d.datasn = pdu.field32(36);
  d.buffer_offset = pdu.field32(40);
  VSL_RETURN_IF_ERROR(CheckTag(op, d.itt));
  if (uint64_t(d.buffer_offset) + pdu.payload().size() > 0xffffffffull) {
    return Bad(op, "BufferOffset " + std::to_string(d.buffer_offset) + " + DataSegmentLength " +
                       std::to_string(pdu.payload().size()) + " overflows");
  }
  d.data = pdu.payload();
  return d;
}

Result<NopOutPdu> ParseNopOut(const Pdu& pdu) {
  const Opcode op = Opcode::kNopOut;
  VSL_RETURN_IF_ERROR(CheckCommon(pdu, op, false, pdu.data.size()));
  NopOutPdu n;
  n.immediate = pdu.immediate();
  n.lun = pdu.lun();
  n.itt = pdu.itt();
  n.ttt = pdu.field32(20);
  n.cmdsn = pdu.field32(24);
  n.expstatsn = pdu.field32(28);
  // RFC 7143 §11.18: no reply wanted (ITT 0xffffffff) only as an immediate PDU.
  if (n.itt == kReservedTag && !n.immediate) {
    return Bad(op, "I bit clear with Initiator Task Tag 0xffffffff");
  }
  n.data = pdu.data;
  return n;
}

Result<TaskMgmtPdu> ParseTaskMgmt(const Pdu& pdu) {
  const Opcode op = Opcode::kTaskMgmtRequest;
  VSL_RETURN_IF_ERROR(CheckCommon(pdu, op, false, pdu.data.size()));
  TaskMgmtPdu t;
  t.immediate = pdu.immediate();
  t.function = pdu.flags() & 0x7f;
  t.lun = pdu.lun();
  t.itt = pdu.itt();
  t.rtt = pdu.field32(20);
  t.cmdsn = pdu.field32(24);
  t.expstatsn = pdu.field32(28);
  t.refcmdsn = pdu.field32(32);
  t.expdatasn = pdu.field32(36);
  VSL_RETURN_IF_ERROR(CheckTag(op, t.itt));
  if (!pdu.data.empty()) return Bad(op, "DataSegmentLength must be 0");
  if (t.function == 0) return Bad(op, "Function 0 is not defined");
  return t;
}

Result<TextRequestPdu> ParseTextRequest(const Pdu& pdu) {
  const Opcode op = Opcode::kTextRequest;
  VSL_RETURN_IF_ERROR(CheckCommon(pdu, op, false, pdu.data.size()));
  TextRequestPdu t;
  t.immediate = pdu.immediate();
  t.final = pdu.flags() & 0x80;
  t.cont = pdu.flags() & 0x40;
  t.lun = pdu.lun();
  t.itt = pdu.itt();
  t.ttt = pdu.field32(20);
  t.cmdsn = pdu.field32(24);
  t.expstatsn = pdu.field32(28);
  VSL_RETURN_IF_ERROR(CheckTag(op, t.itt));
  if (t.final && t.cont) return Bad(op, "F and C bits both set");
  t.data = pdu.data;
  return t;
}

Result<LogoutRequestPdu> ParseLogoutRequest(const Pdu& pdu) {
  const Opcode op = Opcode::kLogoutRequest;
  VSL_RETURN_IF_ERROR(CheckCommon(pdu, op, false, pdu.data.size()));
  LogoutRequestPdu l;
  l.immediate = pdu.immediate();
  l.reason = pdu.flags() & 0x7f;
  l.itt = pdu.itt();
  l.cid = LoadBe16(&pdu.bhs[20]);
  l.cmdsn = pdu.field32(24);
  l.expstatsn = pdu.field32(28);
  VSL_RETURN_IF_ERROR(CheckTag(op, l.itt));
  if (l.reason > 2) return Bad(op, "Reason Code " + std::to_string(l.reason) + " is not defined");
  if (!pdu.data.empty()) return Bad(op, "DataSegmentLength must be 0");
  return l;
}

Result<LoginRequestPdu> ParseLoginRequest(const Pdu& pdu) {
  const Opcode op = Opcode::kLoginRequest;
  VSL_RETURN_IF_ERROR(CheckCommon(pdu, op, false, pdu.data.size()));
  LoginRequestPdu l;
  l.transit = pdu.flags() & 0x80;
  l.cont = pdu.flags() & 0x40;
  l.csg = (pdu.flags() >> 2) & 3;
  l.nsg = pdu.flags() & 3;
  l.version_max = pdu.bhs[2];
  l.version_min = pdu.bhs[3];
  std::copy(pdu.bhs.begin() + 8, pdu.bhs.begin() + 14, l.isid.begin());
  l.tsih = LoadBe16(&pdu.bhs[14]);
  l.itt = pdu.itt();
  l.cid = LoadBe16(&pdu.bhs[20]);
  l.cmdsn = pdu.field32(24);
  l.expstatsn = pdu.field32(28);
  if (l.transit && l.cont) return Bad(op, "T and C bits both set");
  if (l.csg == 2 || l.csg == 3)
    return Bad(op, "CSG " + std::to_string(l.csg) + " is not a login stage");
  if (l.transit && (l.nsg == 2 || l.nsg <= l.csg)) {
    return Bad(op,
               "T bit with NSG " + std::to_string(l.nsg) + " after CSG " + std::to_string(l.csg));
  }
  if (l.version_min > l.version_max) {
    return Bad(op, "Version-min " + std::to_string(l.version_min) + " above Version-max " +
                       std::to_string(l.version_max));
  }
  l.data = pdu.data;
  return l;
}

}  // namespace vsl::iscsi
