// Operational text negotiation (RFC 7143 §13): internal to the login code.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/iscsi/login.h"

namespace vsl::iscsi::internal {

// A decimal or 0x-hex constant (RFC 7143 §6.1); nullopt when malformed or
// above `max`.
std::optional<uint64_t> ParseNumber(std::string_view value, uint64_t max);

// Splits "a,b,c"; empty when any element is empty.
std::vector<std::string_view> SplitList(std::string_view value);

// The operational keys of one login: answers each key the initiator offers
// and accumulates the results. A key offered again must repeat its value.
class OperationalNegotiation {
 public:
  explicit OperationalNegotiation(const TargetLimits& limits);

  // Keys that only matter for Normal sessions are answered Irrelevant once
  // this is set.
  void set_discovery(bool discovery) { discovery_ = discovery; }

  // Appends the answer to `key` (if it needs one) to `reply`. An error means
  // the login fails with "initiator error"; its message names key and value.
  Status Answer(const TextKey& key, std::vector<TextKey>* reply);

  // Our own MaxRecvDataSegmentLength declaration, once per login.
  void DeclareOwn(std::vector<TextKey>* reply);

  // Checks the combination before full feature phase (FirstBurstLength <=
  // MaxBurstLength).
  Status Finish();

  const SessionParams& session() const { return session_; }
  const ConnectionParams& connection() const { return connection_; }

 private:
  Status AnswerNew(const TextKey& key, std::vector<TextKey>* reply);

  TargetLimits limits_;
  bool discovery_ = false;
  bool declared_ = false;
  bool first_burst_negotiated_ = false;
  SessionParams session_;
  ConnectionParams connection_;
  // What was offered, and the answer given (empty: declarative, none).
  std::map<std::string, std::pair<std::string, std::string>, std::less<>> offered_;
};

}  // namespace vsl::iscsi::internal
