// LoginNegotiator's state, shared by login.cc (stages, operational keys)
// and chap.cc (the security stage). Internal to gateway/iscsi.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "gateway/iscsi/login.h"
#include "gateway/iscsi/negotiate.h"

namespace vsl::iscsi {
namespace login_internal {
inline constexpr size_t kLoginPduText = 8192;         // MaxRecvDataSegmentLength in login
inline constexpr size_t kMaxRequestText = 64 * 1024;  // all C-bit PDUs of one request
inline constexpr size_t kChallengeLength = 16;
// A login that needs more PDUs than this is stalling, not negotiating.
inline constexpr int kMaxLoginPdus = 128;
inline constexpr size_t kMaxChapBinary = 1024;  // RFC 7143 §12.1.3
inline constexpr uint8_t kChapMd5Algorithm = 5;

inline bool IsSecurityKey(std::string_view k) {
  return k == "AuthMethod" || k.starts_with("CHAP_");
}
inline bool IsDeclaration(std::string_view k) {
  return k == "InitiatorName" || k == "InitiatorAlias" || k == "TargetName" || k == "SessionType";
}

inline const std::string* Get(const std::vector<TextKey>& keys, std::string_view name) {
  for (const TextKey& k : keys) {
    if (k.key == name) return &k.value;
  }
  return nullptr;
}

inline bool Contains(const std::vector<std::string_view>& list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

inline bool Allows(const TargetAccess& t, const std::string& initiator) {
  return std::find(t.initiators.begin(), t.initiators.end(), initiator) != t.initiators.end();
}

inline bool SameChap(const std::optional<ChapCredential>& a, const std::optional<ChapCredential>& b) {
  return a.has_value() == b.has_value() && (!a || (a->user == b->user && a->secret == b->secret));
}
// Whether two directory entries ask for the same proof of identity.
inline bool SameCredentials(const TargetAccess& a, const TargetAccess& b) {
  return SameChap(a.chap, b.chap) && SameChap(a.mutual_chap, b.mutual_chap) &&
         a.allow_no_auth == b.allow_no_auth;
}

// Header fields of whatever arrived, for answering a PDU that doesn't parse.
inline LoginRequestPdu HeaderOf(const Pdu& pdu) {
  LoginRequestPdu r;
  std::copy(pdu.bhs.begin() + 8, pdu.bhs.begin() + 14, r.isid.begin());
  r.tsih = LoadBe16(&pdu.bhs[14]);
  r.itt = pdu.itt();
  r.csg = (pdu.flags() >> 2) & 3;
  r.cmdsn = pdu.field32(24);
  r.expstatsn = pdu.field32(28);
  return r;
}

// Initiator-supplied text as it may appear in a failure() message.
inline std::string Trunc(std::string_view s) {
  return std::string(s.substr(0, 128)) + (s.size() > 128 ? "..." : "");
}

struct Failure {
  LoginStatus status;
  std::string reason;
};

}  // namespace login_internal

struct LoginNegotiator::Impl {
  explicit Impl(const TargetLimits& limits) : ops(limits) {}

  Pdu Step(LoginNegotiator& n, const Pdu& request);

  Pdu Respond(const LoginRequestPdu& req, bool transit, uint8_t nsg, uint16_t tsih,
              LoginStatus status, std::vector<uint8_t> text);
  Pdu Fail(LoginNegotiator& n, const LoginRequestPdu& req, LoginStatus status, std::string reason);
  Pdu Emit(LoginNegotiator& n, const LoginRequestPdu& req, std::vector<uint8_t> text, bool transit,
           uint8_t nsg, uint16_t tsih, State final_state);
  Pdu NextChunk(LoginNegotiator& n, const LoginRequestPdu& req);
  Pdu Negotiate(LoginNegotiator& n, const LoginRequestPdu& req, const std::vector<TextKey>& keys);
  std::optional<login_internal::Failure> Declare(LoginNegotiator& n,
                                                 const std::vector<TextKey>& keys);
  std::optional<login_internal::Failure> CheckDeclarations(const std::vector<TextKey>& keys);
  std::optional<login_internal::Failure> Security(LoginNegotiator& n,
                                                  const std::vector<TextKey>& keys, bool transit,
                                                  std::vector<TextKey>* reply);
  // The credentials this login proved, looked up again: a secret rotated or
  // a host removed since the login started refuses it.
  std::optional<login_internal::Failure> Recheck(LoginNegotiator& n) const;
  std::optional<login_internal::Failure> VerifyChap(LoginNegotiator& n,
                                                    const std::vector<TextKey>& keys,
                                                    std::vector<TextKey>* reply);

  bool started = false;
  int pdus = 0;
  LoginRequestPdu first;  // header fields only; its data span is not kept
  uint8_t stage = 0;
  uint32_t statsn = 0;
  std::vector<uint8_t> text_in;  // a request spread over C-bit PDUs

  // A response longer than one PDU: what is still to send, and how the last
  // PDU of it ends the exchange.
  std::vector<uint8_t> text_out;
  size_t out_pos = 0;
  bool out_transit = false;
  uint8_t out_nsg = 0;
  uint16_t out_tsih = 0;
  State out_state = State::kInProgress;

  bool declared = false;
  bool discovery = false;
  std::string initiator_name, initiator_alias, target_name, session_type;
  std::optional<TargetAccess> target;  // Normal session
  std::vector<TargetAccess> discovery_targets;
  bool none_allowed = false;
  bool chap_possible = false;

  enum class Auth { kStart, kChap, kChallenged, kDone };
  Auth auth = Auth::kStart;
  std::string auth_offer;
  uint8_t chap_id = 0;
  std::optional<TargetAccess> chap_proven;  // the entry whose CHAP secret matched
  std::array<uint8_t, login_internal::kChallengeLength> challenge{};

  internal::OperationalNegotiation ops;
};

}  // namespace vsl::iscsi
