// iSCSI PDUs (RFC 7143 §11): framing, digests, and typed views of each PDU.
//
// Pure: bytes in, values out. The gateway core reads the socket into a
// PduReader and writes what Encode() produces; nothing here touches a file
// descriptor.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "util/bytes.h"
#include "util/status.h"

namespace vsl::iscsi {

enum class Opcode : uint8_t {
  // initiator -> target
  kNopOut = 0x00,
  kScsiCommand = 0x01,
  kTaskMgmtRequest = 0x02,
  kLoginRequest = 0x03,
  kTextRequest = 0x04,
  kDataOut = 0x05,
  kLogoutRequest = 0x06,
  kSnackRequest = 0x10,
  // target -> initiator
  kNopIn = 0x20,
  kScsiResponse = 0x21,
  kTaskMgmtResponse = 0x22,
  kLoginResponse = 0x23,
  kTextResponse = 0x24,
  kDataIn = 0x25,
  kLogoutResponse = 0x26,
  kR2T = 0x31,
  kAsyncMessage = 0x32,
  kReject = 0x3f,
};

// "SCSI Command", "Login Request", ...; "opcode 0x1b" for unknown ones.
std::string OpcodeName(Opcode op);

constexpr size_t kBhsLength = 48;
constexpr uint32_t kReservedTag = 0xffffffff;
// Nothing vsl negotiates exceeds this; a PDU announcing a longer data segment
// ends the connection (its length can't be trusted to skip it). As
// DataSegmentLength has 24 bits, this only bites if the limit is lowered.
constexpr uint32_t kMaxDataSegmentHardLimit = 16u << 20;

// Reject reasons (RFC 7143 §11.17.1).
enum class RejectReason : uint8_t {
  kDataDigestError = 0x02,
  kSnackReject = 0x03,
  kProtocolError = 0x04,
  kCommandNotSupported = 0x05,
  kImmediateCommandReject = 0x06,
  kTaskInProgress = 0x07,
  kInvalidDataAck = 0x08,
  kInvalidPduField = 0x09,
  kLongOpReject = 0x0a,
  kWaitingForLogout = 0x0c,
};

// One PDU: BHS, AHS and data segment, without padding or digests.
struct Pdu {
  std::array<uint8_t, kBhsLength> bhs{};
  std::vector<uint8_t> ahs;   // TotalAHSLength*4 bytes
  std::vector<uint8_t> data;  // the data segment, unpadded
  // A Data-Out's data segment left where PduReader received it (see
  // PduReader::set_data_out_in_place); `data` is then empty. Valid until the
  // reader's next Prepare() or Append().
  std::span<const uint8_t> data_in_place;

  // The data segment, wherever it is.
  std::span<const uint8_t> payload() const {
    return data_in_place.empty() ? std::span<const uint8_t>(data) : data_in_place;
  }

  Opcode opcode() const { return Opcode(bhs[0] & 0x3f); }
  bool immediate() const { return bhs[0] & 0x40; }
  bool final_bit() const { return bhs[1] & 0x80; }
  uint8_t flags() const { return bhs[1]; }
  uint32_t data_segment_length() const { return LoadBe24(&bhs[5]); }
  uint64_t lun() const { return LoadBe64(&bhs[8]); }
  uint32_t itt() const { return LoadBe32(&bhs[16]); }
  // Bytes 20..47 hold opcode-specific fields; these read them as RFC 7143
  // names them for most PDUs.
  uint32_t field32(size_t offset) const { return LoadBe32(&bhs[offset]); }
  void set_field32(size_t offset, uint32_t v) { StoreBe32(&bhs[offset], v); }
};

struct DigestParams {
  bool header_digest = false;  // CRC32C over BHS+AHS
  bool data_digest = false;    // CRC32C over data segment + padding
};

// Appends the wire form of `pdu` to `out`: BHS (with TotalAHSLength and
// DataSegmentLength filled in from ahs/data), AHS, header digest, data,
// padding to 4 bytes, data digest.
void Encode(const Pdu& pdu, const DigestParams& digests, std::vector<uint8_t>* out);

// Incremental framing of a received byte stream.
class PduReader {
 public:
  enum class Kind {
    kNeedMore,         // not a whole PDU yet
    kPdu,              // `pdu` is complete and its digests are right
    kDataDigestError,  // `pdu` has the header only; its data was dropped.
                       // RFC 7143 §7.8: answer with Reject, go on.
    kOversized,        // data segment > max_recv_data_segment_length (but
                       // below the hard limit); `pdu` has the header only
    kFatal,            // header digest error, or a length that can't be
                       // trusted: the connection must end
  };
  struct Item {
    Kind kind = Kind::kNeedMore;
    Pdu pdu;
    std::string reason;  // for everything but kPdu/kNeedMore
  };

  void set_digests(DigestParams d) { digests_ = d; }
  // The largest data segment this side accepts (our MaxRecvDataSegmentLength;
  // 8192 during login, RFC 7143 §13.12).
  void set_max_data_segment(uint32_t n) { max_data_ = n; }
  // Where a data segment of kSourcedDataMin to kSourcedDataMax bytes is
  // copied: a function returning a buffer of exactly the size asked, whose
  // bytes the reader overwrites (e.g. one used before, from a pool). Unset,
  // and for other sizes: a new vector each time.
  using DataSource = std::vector<uint8_t> (*)(size_t);
  static constexpr size_t kSourcedDataMin = 4096;
  static constexpr size_t kSourcedDataMax = 65536;
  void set_data_source(DataSource source) { data_source_ = source; }
  // Data-Out data segments are not copied out: the PDU's `data_in_place`
  // points into this reader's buffer, valid until the next Prepare() or
  // Append(). A caller that consumes each Data-Out before reading more saves
  // a copy of every byte written (the command's buffer is the one copy).
  void set_data_out_in_place(bool on) { data_out_in_place_ = on; }

  // Where the next received bytes go: a span of at least `min` bytes; then
  // Commit(n) after writing n bytes into it.
  std::span<uint8_t> Prepare(size_t min);
  void Commit(size_t n);
  // Copies bytes in (tests, fuzzers).
  void Append(std::span<const uint8_t> bytes);

  // The next item; call until it returns kNeedMore. After kFatal, nothing
  // more comes out (every later call returns kFatal again).
  Item Next();
  // Bytes still missing before Next() can return the PDU being framed (at
  // least the rest of a BHS); a hint for Prepare().
  size_t Needed() const;

 private:
  DigestParams digests_;
  uint32_t max_data_ = 8192;
  DataSource data_source_ = nullptr;
  bool data_out_in_place_ = false;
  std::vector<uint8_t> buf_;
  size_t begin_ = 0;  // first unconsumed byte
  size_t end_ = 0;    // one past the last received byte
  size_t skip_ = 0;   // bytes of an oversized PDU still to be discarded
  bool dead_ = false;
  std::string dead_reason_;

  Item Fatal(std::string reason);
};

// CRC32C (Castagnoli), as iSCSI uses it: seed 0xffffffff, final xor, and the
// result stored little-endian on the wire (RFC 3720 B.4 lists the CRC of 32
// zero bytes, 0x8a9136aa, as the bytes aa 36 91 8a; libiscsi and Linux send
// it so). Chaining: Crc32c(b, Crc32c(a)) == Crc32c(a || b).
uint32_t Crc32c(std::span<const uint8_t> bytes, uint32_t crc = 0);
// The table-driven implementation (Crc32c may use SSE4.2); for tests.
uint32_t Crc32cPortable(std::span<const uint8_t> bytes, uint32_t crc = 0);

// ---- Typed views: Parse* check the fields a target relies on and return
// InvalidArgument naming the PDU and field otherwise.

struct ScsiCommandPdu {
  bool immediate = false, final = false, read = false, write = false;
  uint8_t attr = 0;  // task attribute (3 bits)
  uint64_t lun = 0;  // wire form
  uint32_t itt = 0, edtl = 0, cmdsn = 0, expstatsn = 0;
  std::vector<uint8_t> cdb;  // 16 bytes + extended CDB AHS when present
  std::vector<uint8_t> immediate_data;
  // Expected Bidirectional Read Data Length AHS (type 2), when present.
  std::optional<uint32_t> bidi_read_length;
};
Result<ScsiCommandPdu> ParseScsiCommand(const Pdu& pdu);
// The same, moving the data segment into immediate_data instead of copying it.
Result<ScsiCommandPdu> ParseScsiCommand(Pdu&& pdu);

struct DataOutPdu {
  bool final = false;
  uint64_t lun = 0;
  uint32_t itt = 0, ttt = 0, expstatsn = 0, datasn = 0, buffer_offset = 0;
  std::span<const uint8_t> data;  // points into the Pdu
};
Result<DataOutPdu> ParseDataOut(const Pdu& pdu);

struct NopOutPdu {
  bool immediate = false;
  uint64_t lun = 0;
  uint32_t itt = 0, ttt = 0, cmdsn = 0, expstatsn = 0;
  std::span<const uint8_t> data;
};
Result<NopOutPdu> ParseNopOut(const Pdu& pdu);

struct TaskMgmtPdu {
  bool immediate = false;
  uint8_t function = 0;  // 1 ABORT TASK, 2 ABORT TASK SET, 3 CLEAR ACA,
                         // 4 CLEAR TASK SET, 5 LUN RESET, 6 TARGET WARM RESET,
                         // 7 TARGET COLD RESET, 8 TASK REASSIGN
  uint64_t lun = 0;
  uint32_t itt = 0, rtt = 0, cmdsn = 0, expstatsn = 0, refcmdsn = 0, expdatasn = 0;
};
Result<TaskMgmtPdu> ParseTaskMgmt(const Pdu& pdu);

struct TextRequestPdu {
  bool immediate = false, final = false, cont = false;
  uint64_t lun = 0;
  uint32_t itt = 0, ttt = 0, cmdsn = 0, expstatsn = 0;
  std::span<const uint8_t> data;
};
Result<TextRequestPdu> ParseTextRequest(const Pdu& pdu);

struct LogoutRequestPdu {
  bool immediate = false;
  uint8_t reason = 0;  // 0 close session, 1 close connection, 2 remove for recovery
  uint16_t cid = 0;
  uint32_t itt = 0, cmdsn = 0, expstatsn = 0;
};
Result<LogoutRequestPdu> ParseLogoutRequest(const Pdu& pdu);

struct LoginRequestPdu {
  bool transit = false, cont = false;
  uint8_t csg = 0, nsg = 0;  // 0 security, 1 operational, 3 full feature
  uint8_t version_max = 0, version_min = 0;
  std::array<uint8_t, 6> isid{};
  uint16_t tsih = 0, cid = 0;
  uint32_t itt = 0, cmdsn = 0, expstatsn = 0;
  std::span<const uint8_t> data;
};
Result<LoginRequestPdu> ParseLoginRequest(const Pdu& pdu);

// Offsets of fields a connection may need to patch after building.
constexpr size_t kStatSnOffset = 24;
constexpr size_t kExpCmdSnOffset = 28;
constexpr size_t kMaxCmdSnOffset = 32;
constexpr size_t kExpDataSnOffset = 36;  // SCSI Response: Data-In/R2T count

// ---- Builders for target -> initiator PDUs. StatSN/ExpCmdSN/MaxCmdSN are
// filled by the connection when it sends (SetSequence), so builders leave them 0.

struct SequenceNumbers {
  uint32_t statsn = 0, expcmdsn = 0, maxcmdsn = 0;
};
// Stores StatSN (when the PDU carries one), ExpCmdSN and MaxCmdSN at the
// offsets the PDU's opcode uses.
void SetSequence(Pdu* pdu, const SequenceNumbers& seq);

Pdu MakeScsiResponse(uint32_t itt, uint8_t status, std::span<const uint8_t> sense,
                     uint8_t response /*0 = command completed at target*/,
                     int64_t residual /* >0 underflow, <0 overflow */);
// A Data-In PDU; when `status` is set, the status is phase-collapsed into it
// (S bit, F bit) with the residual. `ttt` is 0xffffffff unless the A bit is
// wanted (ERL > 0, not used by vsl).
Pdu MakeDataIn(uint32_t itt, uint64_t lun, uint32_t ttt, uint32_t datasn, uint32_t buffer_offset,
               std::span<const uint8_t> data, bool final, std::optional<uint8_t> status,
               int64_t residual);
Pdu MakeR2T(uint32_t itt, uint64_t lun, uint32_t ttt, uint32_t r2tsn, uint32_t buffer_offset,
            uint32_t desired_length);
Pdu MakeNopIn(uint32_t itt, uint32_t ttt, uint64_t lun, std::span<const uint8_t> data);
Pdu MakeTaskMgmtResponse(uint32_t itt, uint8_t response);
Pdu MakeLogoutResponse(uint32_t itt, uint8_t response, uint16_t time2wait, uint16_t time2retain);
// With `final` the TTT is forced to 0xffffffff (RFC 7143 §11.11.4).
Pdu MakeTextResponse(uint32_t itt, uint32_t ttt, bool final, bool cont, uint64_t lun,
                     std::vector<uint8_t> data);
Pdu MakeLoginResponse(const LoginRequestPdu& req, bool transit, uint8_t csg, uint8_t nsg,
                      uint16_t tsih, uint8_t status_class, uint8_t status_detail,
                      std::vector<uint8_t> data);
// Reject carrying the offending PDU's header (BHS) as its data segment.
Pdu MakeReject(RejectReason reason, const std::array<uint8_t, kBhsLength>& offending_bhs);
// AsyncEvent 1: "target requests logout"; 0: SCSI async event with sense data.
// `data` is the sense data; when not empty the data segment is SenseLength
// followed by it (RFC 7143 §11.9.4).
Pdu MakeAsyncMessage(uint8_t event, uint64_t lun, std::span<const uint8_t> data,
                     uint16_t param1 = 0, uint16_t param2 = 0, uint16_t param3 = 0);

}  // namespace vsl::iscsi
