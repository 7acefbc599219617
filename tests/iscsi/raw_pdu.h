// A deliberately small, independent iSCSI initiator for malformed-input tests:
// builds PDUs byte by byte (RFC 7143 §11), sends them over a plain socket,
// and reads what the target answers. It shares no code with src/gateway so a
// bug there cannot hide itself here.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vsl::e2e {

// RFC 7143 opcodes used here.
enum Opcode : uint8_t {
  kNopOut = 0x00,
  kScsiCommand = 0x01,
  kLoginRequest = 0x03,
  kTextRequest = 0x04,
  kLogoutRequest = 0x06,
  kNopIn = 0x20,
  kScsiResponse = 0x21,
  kLoginResponse = 0x23,
  kDataIn = 0x25,
  kLogoutResponse = 0x26,
  kR2t = 0x31,
  kAsyncMessage = 0x32,
  kReject = 0x3f,
};

inline constexpr uint32_t kReservedTag = 0xffffffff;

// CRC32C (Castagnoli) as iSCSI digests use it: the 32-bit value is sent
// least significant byte first (RFC 7143 §13.1; RFC 3720 B.4 vectors).
uint32_t Crc32c(const uint8_t* data, size_t size, uint32_t crc = 0);

struct Pdu {
  std::array<uint8_t, 48> bhs{};
  std::vector<uint8_t> data;  // without padding

  uint8_t opcode() const { return bhs[0] & 0x3f; }
  bool immediate() const { return bhs[0] & 0x40; }
  uint32_t data_length() const;  // DataSegmentLength as written in the BHS
  uint32_t itt() const;
  uint32_t Field32(size_t offset) const;
  void SetField32(size_t offset, uint32_t v);
};

// Text key=value pairs, NUL-terminated each (RFC 7143 §6.1).
using KeyValues = std::vector<std::pair<std::string, std::string>>;
std::vector<uint8_t> EncodeKeys(const KeyValues& keys);
// Splits a text data segment; a pair without '=' gets an empty value and a
// key of the whole string.
KeyValues DecodeKeys(const std::vector<uint8_t>& data);
// The value of `key`, or "" when absent.
std::string FindKey(const KeyValues& keys, const std::string& key);
bool HasKey(const KeyValues& keys, const std::string& key);

// How to put a PDU on the wire, including ways to get it wrong.
struct SendOptions {
  bool corrupt_header_digest = false;
  bool corrupt_data_digest = false;
  // When set, DataSegmentLength says this instead of data.size().
  bool override_length = false;
  uint32_t data_length = 0;
};

enum class ReadStatus { kPdu, kClosed, kTimeout, kError };

// One TCP connection to the target with a 5 s receive timeout.
class RawConnection {
 public:
  RawConnection() = default;
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  ~RawConnection();

  bool Connect(int port, std::string* error);
  void Close();
  bool is_open() const { return fd_ >= 0; }
  // Sends give up (return false) after `ms` without progress instead of
  // blocking while the target does not read.
  void SetSendTimeout(int ms);

  // Digests apply to every PDU after the final Login Response (RFC 7143 §13.1).
  void SetDigests(bool header, bool data) {
    header_digest_ = header;
    data_digest_ = data;
  }

  bool Send(const Pdu& pdu, const SendOptions& options = {});
  bool SendBytes(const std::vector<uint8_t>& bytes);
  std::vector<uint8_t> Serialize(const Pdu& pdu, const SendOptions& options = {}) const;

  // Reads one PDU; checks its digests when they are on (a bad digest from the
  // target is kError with *error saying which).
  ReadStatus Read(Pdu* pdu, int timeout_ms = 5000, std::string* error = nullptr);
  // Reads until the target closes the connection or `timeout_ms` passes;
  // returns true when it closed. PDUs seen on the way go to *seen.
  bool WaitClosed(int timeout_ms, std::vector<Pdu>* seen);

 private:
  // kPdu when all `size` bytes came before the deadline.
  ReadStatus ReadFull(uint8_t* out, size_t size, int timeout_ms);

  int fd_ = -1;
  bool header_digest_ = false;
  bool data_digest_ = false;
};

// PDU builders (RFC 7143 §11). Sequence numbers are the caller's.
// An ITT for a Login Request whose ISID (derived from it) no other
// connection of this process uses.
uint32_t UniqueLoginItt();
Pdu LoginRequest(uint8_t csg, uint8_t nsg, bool transit, uint32_t itt, uint32_t cmd_sn,
                 uint32_t exp_stat_sn, const std::vector<uint8_t>& text);
Pdu NopOut(uint32_t itt, uint32_t cmd_sn, uint32_t exp_stat_sn, std::vector<uint8_t> ping,
           bool immediate = true);
// A SCSI Command with a 16-byte CDB; `data` goes as immediate data.
Pdu ScsiCommand(uint64_t lun, uint32_t itt, uint32_t cmd_sn, uint32_t exp_stat_sn,
                const std::array<uint8_t, 16>& cdb, bool read, bool write,
                uint32_t expected_length, std::vector<uint8_t> data = {});
std::array<uint8_t, 16> Read16Cdb(uint64_t lba, uint32_t blocks);
std::array<uint8_t, 16> Write16Cdb(uint64_t lba, uint32_t blocks);
std::array<uint8_t, 16> Read10Cdb(uint32_t lba, uint16_t blocks);

// Sense key, ASC and ASCQ from a SCSI Response data segment (SenseLength +
// fixed or descriptor sense data). False when there is no sense.
struct Sense {
  uint8_t key = 0;
  uint8_t asc = 0;
  uint8_t ascq = 0;
};
bool ParseSense(const std::vector<uint8_t>& response_data, Sense* sense);

// A session logged in by hand, for the tests that then misbehave.
struct RawLoginOptions {
  std::string initiator;
  std::string target;
  bool header_digest = false;
  bool data_digest = false;
  // Start in the operational stage (allowed when no authentication is needed).
  bool skip_security = false;
  KeyValues extra_keys;  // added to the first Login Request
  // The Login Requests' ITT, from which the ISID follows; 0: a fresh one.
  // Reusing one session's value is how an initiator reinstates it.
  uint32_t login_itt = 0;

  // CHAP with MD5 (RFC 7143 §12.1.3) instead of AuthMethod=None, when
  // chap_user is set; mutual when target_secret is set too.
  std::string chap_user;
  std::string chap_secret;
  std::string target_secret;
  std::string chap_algorithms = "5";
  // Mutual CHAP with the target's own challenge sent back (a reflection attack).
  bool reflect_challenge = false;
  // Sent as CHAP_R instead of the right answer, when set.
  std::string chap_response_override;
};

struct RawSession {
  RawConnection conn;
  uint32_t cmd_sn = 1;
  uint32_t exp_stat_sn = 0;
  uint32_t next_itt = 0x100;
  uint32_t target_mrdsl = 8192;  // the target's declared MaxRecvDataSegmentLength
  uint32_t first_burst = 65536;
  bool immediate_data = false;
  KeyValues first_response_keys;  // text of the first Login Response
  uint8_t login_status_class = 0;  // of the last Login Response
  uint8_t login_status_detail = 0;
  std::vector<uint8_t> target_challenge;  // CHAP_C the target sent
  std::string chap_response;              // CHAP_R this initiator sent

  // Logs in with AuthMethod=None (and the options' digests), leaving the
  // connection in full feature phase. The operational keys are proposed in the
  // first PDU that is in the operational stage.
  bool Login(int port, const RawLoginOptions& options, std::string* error);
  // Sends `pdu` and reads PDUs until one with the same ITT arrives (Reject
  // PDUs, whose ITT is reserved, are returned too). Updates exp_stat_sn.
  ReadStatus Exchange(const Pdu& pdu, Pdu* reply, std::string* error = nullptr,
                      const SendOptions& options = {});
  ReadStatus ReadReply(uint32_t itt, Pdu* reply, std::string* error = nullptr);
  // A NOP-Out ping with `payload`; true when the matching NOP-In echoes it.
  bool Ping(const std::vector<uint8_t>& payload, std::string* error);
  void Track(const Pdu& pdu);

 private:
  // One Login Request/Response exchange; false (with *error) unless the
  // response is a Login Response to it with status class 0.
  bool LoginStep(uint8_t csg, uint8_t nsg, bool transit, const KeyValues& keys, Pdu* response,
                 KeyValues* response_keys, std::string* error);
  // The CHAP part of the security stage; ends when the target transits.
  bool ChapExchange(const RawLoginOptions& options, const KeyValues& security,
                    std::string* error);

  uint32_t login_itt_ = 0;
};

// MD5(id || secret || challenge), the CHAP response (RFC 1994).
std::vector<uint8_t> ChapMd5(uint8_t id, const std::string& secret,
                             const std::vector<uint8_t>& challenge);
std::string ToHex(const std::vector<uint8_t>& bytes);  // "0x..."
// Parses "0x..." hex; false on anything else.
bool FromHex(const std::string& text, std::vector<uint8_t>* out);

// A Data-Out PDU (RFC 7143 §11.7) answering an R2T.
Pdu DataOut(uint64_t lun, uint32_t itt, uint32_t ttt, uint32_t exp_stat_sn, uint32_t data_sn,
            uint32_t offset, bool final, std::vector<uint8_t> data);

}  // namespace vsl::e2e
