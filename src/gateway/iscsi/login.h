// Login: text keys, CHAP, and operational negotiation (RFC 7143 §6, §12, §13).
//
// Pure: a LoginNegotiator takes Login Request PDUs and returns Login Response
// PDUs; who may log in to what comes from a TargetDirectory the gateway
// supplies. No socket, no clock; randomness comes from a callback so tests are
// repeatable.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "gateway/iscsi/pdu.h"
#include "util/status.h"

namespace vsl::iscsi {

// ---- Text key=value lists (RFC 7143 §6.1)

struct TextKey {
  std::string key;
  std::string value;
  bool operator==(const TextKey&) const = default;
};
// Splits NUL-terminated "key=value" pairs. InvalidArgument (naming the pair)
// for a pair without '=', an empty or over-long key (63 bytes) or value
// (8192 bytes), a key with characters outside [A-Za-z0-9.-+@_] (after an
// "X#" extension prefix), or a key given twice. Empty pairs (stray NULs) are
// skipped.
Result<std::vector<TextKey>> ParseText(std::span<const uint8_t> bytes);
std::vector<uint8_t> EncodeText(const std::vector<TextKey>& keys);

// ---- Negotiated parameters

// Session-wide (leading connection) parameters, after negotiation.
struct SessionParams {
  uint32_t max_burst_length = 262144;
  uint32_t first_burst_length = 65536;
  bool initial_r2t = true;
  bool immediate_data = true;
  uint32_t max_outstanding_r2t = 1;
  bool data_pdu_in_order = true;
  bool data_sequence_in_order = true;
  uint32_t error_recovery_level = 0;
  uint32_t max_connections = 1;
  uint32_t default_time2wait = 2;
  uint32_t default_time2retain = 20;
};

struct ConnectionParams {
  bool header_digest = false;
  bool data_digest = false;
  // What the initiator accepts: the largest data segment we may send.
  uint32_t initiator_max_recv_data_segment_length = 8192;
  // What we accept: the largest data segment the initiator may send.
  uint32_t target_max_recv_data_segment_length = 8192;
};

// What the target offers and accepts; the negotiated values never exceed these.
struct TargetLimits {
  uint32_t max_recv_data_segment_length = 262144;
  uint32_t max_burst_length = 1048576;
  uint32_t first_burst_length = 262144;
  uint32_t max_outstanding_r2t = 16;
  uint32_t max_connections = 1;
  bool immediate_data = true;  // offer ImmediateData=Yes
  bool initial_r2t = false;    // offer InitialR2T=No
  bool allow_header_digest = true;
  bool allow_data_digest = true;
  uint32_t default_time2wait = 2;
  uint32_t default_time2retain = 20;
};

// ---- Who may log in

struct ChapCredential {
  std::string user;
  std::string secret;  // at least 12 bytes by RFC 7143 §12.1.3 is advised
};

struct TargetAccess {
  std::string name;                           // the target's IQN
  std::string alias;                          // TargetAlias, may be empty
  uint16_t tpgt = 1;                          // TargetPortalGroupTag
  std::vector<std::string> initiators;        // initiator names allowed
  std::optional<ChapCredential> chap;         // the initiator must prove this
  std::optional<ChapCredential> mutual_chap;  // the target proves this back
  bool allow_no_auth = false;                 // only when there's no chap and it's said so
  std::vector<std::string> portals;           // "addr:port,tpgt" for SendTargets
};

// Supplied by the gateway; must answer from the map as it is at the time of
// the call (maps change while the gateway runs).
class TargetDirectory {
 public:
  virtual ~TargetDirectory() = default;
  virtual std::optional<TargetAccess> Find(const std::string& target_name) const = 0;
  // Every target `initiator_name` may open (discovery's SendTargets=All, and
  // the credentials a discovery session authenticates with).
  virtual std::vector<TargetAccess> ForInitiator(const std::string& initiator_name) const = 0;
};

// ---- The negotiation

// Login status classes and details (RFC 7143 §11.13.5).
struct LoginStatus {
  uint8_t status_class = 0;
  uint8_t detail = 0;
  bool operator==(const LoginStatus&) const = default;
};
inline constexpr LoginStatus kLoginSuccess{0, 0};
inline constexpr LoginStatus kLoginInitiatorError{2, 0};
inline constexpr LoginStatus kLoginAuthFailed{2, 1};
inline constexpr LoginStatus kLoginForbidden{2, 2};
inline constexpr LoginStatus kLoginNotFound{2, 3};
inline constexpr LoginStatus kLoginRemoved{2, 4};
inline constexpr LoginStatus kLoginUnsupportedVersion{2, 5};
inline constexpr LoginStatus kLoginTooManyConnections{2, 6};
inline constexpr LoginStatus kLoginMissingParameter{2, 7};
inline constexpr LoginStatus kLoginSessionDoesNotExist{2, 10};
inline constexpr LoginStatus kLoginInvalidRequest{2, 11};
inline constexpr LoginStatus kLoginTargetError{3, 0};
inline constexpr LoginStatus kLoginOutOfResources{3, 2};

// What a successful login produced.
struct LoginOutcome {
  bool discovery = false;
  std::string initiator_name;
  std::string initiator_alias;
  std::string target_name;  // empty for discovery
  std::array<uint8_t, 6> isid{};
  uint16_t tsih = 0;  // as requested by the initiator (0: new session)
  uint16_t cid = 0;
  uint32_t cmdsn = 0;  // the initiator's CmdSN at login (first ExpCmdSN)
  uint32_t expstatsn = 0;
  // The StatSN for the connection's first response after login (one past the
  // final Login Response's).
  uint32_t next_statsn = 0;
  SessionParams session;
  ConnectionParams connection;
};

class LoginNegotiator {
 public:
  // Called once, just before the final response, to place the connection in
  // a session: returns the TSIH to answer with (new or existing), or a login
  // status explaining why not (session does not exist, too many connections).
  using SessionBinder = std::function<std::variant<uint16_t, LoginStatus>(const LoginOutcome&)>;
  // Fills `out` with random bytes (CHAP challenges and identifiers).
  using Random = std::function<void(std::span<uint8_t> out)>;

  LoginNegotiator(TargetLimits limits, const TargetDirectory* directory, SessionBinder binder,
                  Random random);

  enum class State { kInProgress, kSucceeded, kFailed };

  // Takes one Login Request and returns the Login Response to send. After
  // kFailed the response carries the status; the connection then closes.
  // Responses carry StatSN (from the first request's ExpStatSN, one more per
  // response) and ExpCmdSN = MaxCmdSN = the request's CmdSN; the connection
  // may overwrite them with SetSequence (e.g. to open the command window in
  // the final response). Any PDU after the login ended gets an "initiator
  // error" response and changes nothing.
  Pdu Step(const Pdu& request);

  State state() const { return state_; }
  // Valid once state() is kSucceeded.
  const LoginOutcome& outcome() const { return outcome_; }
  // Why the login failed, for the log ("CHAP response for web1 is wrong").
  const std::string& failure() const { return failure_; }

 private:
  struct Impl;
  TargetLimits limits_;
  const TargetDirectory* directory_;
  SessionBinder binder_;
  Random random_;
  State state_ = State::kInProgress;
  LoginOutcome outcome_;
  std::string failure_;
  std::shared_ptr<Impl> impl_;
};

// CHAP with MD5 (RFC 1994): MD5(id || secret || challenge).
std::array<uint8_t, 16> ChapMd5(uint8_t id, std::string_view secret,
                                std::span<const uint8_t> challenge);
// CHAP values on the wire: "0x" hex or "0b" base64 (RFC 7143 §6.1).
Result<std::vector<uint8_t>> DecodeBinaryValue(std::string_view value);
std::string EncodeHex(std::span<const uint8_t> bytes);

// ---- Text requests in full feature phase (SendTargets)

// The SendTargets=All / =<name> answer for `initiator_name`: TargetName and
// TargetAddress keys of the targets it may open. An empty request (the
// session's own target, RFC 7143 §12.3) is for the caller to turn into the
// session's target name; here it yields nothing.
std::vector<TextKey> SendTargets(const TargetDirectory& directory,
                                 const std::string& initiator_name, std::string_view request);

}  // namespace vsl::iscsi
