// Operational key negotiation: the result functions of RFC 7143 §13.

#include "gateway/iscsi/negotiate.h"

#include <algorithm>

namespace vsl::iscsi::internal {
namespace {

constexpr uint64_t kMaxLength24 = (1u << 24) - 1;

// Keys whose result is "Irrelevant" in a Discovery session (RFC 7143 §13).
constexpr std::string_view kNormalOnly[] = {
    "MaxConnections",   "InitialR2T",        "ImmediateData",  "MaxBurstLength",
    "FirstBurstLength", "MaxOutstandingR2T", "DataPDUInOrder", "DataSequenceInOrder",
};

// Keys vsl knows but that an initiator has no business offering in login.
constexpr std::string_view kIrrelevant[] = {
    "TargetAlias", "TargetAddress", "TargetPortalGroupTag", "SendTargets", "IFMarkInt", "OFMarkInt",
};

Status BadValue(const TextKey& key, std::string_view why) {
  return InvalidArgument("login key " + key.key + "=" + key.value.substr(0, 64) + ": " +
                         std::string(why));
}

Status Number(const TextKey& key, uint64_t lo, uint64_t hi, uint64_t* out) {
  std::optional<uint64_t> v = ParseNumber(key.value, hi);
  if (!v || *v < lo) {
    return BadValue(key, "not a number in " + std::to_string(lo) + ".." + std::to_string(hi));
  }
  *out = *v;
  return Status::Ok();
}

Status Bool(const TextKey& key, bool* out) {
  if (key.value == "Yes") {
    *out = true;
  } else if (key.value == "No") {
    *out = false;
  } else {
    return BadValue(key, "neither Yes nor No");
  }
  return Status::Ok();
}

std::string YesNo(bool b) { return b ? "Yes" : "No"; }

}  // namespace

std::optional<uint64_t> ParseNumber(std::string_view v, uint64_t max) {
  uint64_t n = 0;
  if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
    v.remove_prefix(2);
    for (char c : v) {
      int d = (c >= '0' && c <= '9')   ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                       : -1;
      if (d < 0 || n > (max >> 4)) return std::nullopt;
      n = n << 4 | uint64_t(d);
      if (n > max) return std::nullopt;
    }
    return n;
  }
  if (v.empty()) return std::nullopt;
  for (char c : v) {
    if (c < '0' || c > '9' || n > max / 10) return std::nullopt;
    n = n * 10 + uint64_t(c - '0');
    if (n > max) return std::nullopt;
  }
  return n;
}

std::vector<std::string_view> SplitList(std::string_view value) {
  std::vector<std::string_view> out;
  while (true) {
    size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    if (item.empty()) return {};
    out.push_back(item);
    if (comma == std::string_view::npos) return out;
    value.remove_prefix(comma + 1);
  }
}

OperationalNegotiation::OperationalNegotiation(const TargetLimits& limits) : limits_(limits) {
  limits_.first_burst_length = std::min(limits_.first_burst_length, limits_.max_burst_length);
  connection_.target_max_recv_data_segment_length = limits.max_recv_data_segment_length;
}

void OperationalNegotiation::DeclareOwn(std::vector<TextKey>* reply) {
  if (declared_) return;
  declared_ = true;
  reply->push_back(
      {"MaxRecvDataSegmentLength", std::to_string(limits_.max_recv_data_segment_length)});
}

Status OperationalNegotiation::Answer(const TextKey& key, std::vector<TextKey>* reply) {
  auto it = offered_.find(key.key);
  if (it != offered_.end()) {
    // Initiators such as libiscsi offer some keys in both login stages; the
    // same value gets the same answer, anything else is a renegotiation.
    if (it->second.first != key.value) {
      return BadValue(key, "offered again after " + it->second.first.substr(0, 64));
    }
    if (!it->second.second.empty()) reply->push_back({key.key, it->second.second});
    return Status::Ok();
  }
  const size_t before = reply->size();
  VSL_RETURN_IF_ERROR(AnswerNew(key, reply));
  std::string answer;
  if (reply->size() > before && reply->back().key == key.key &&
      key.key != "MaxRecvDataSegmentLength") {
    answer = reply->back().value;
  }
  offered_.emplace(key.key, std::make_pair(key.value, std::move(answer)));
  return Status::Ok();
}

Status OperationalNegotiation::AnswerNew(const TextKey& key, std::vector<TextKey>* reply) {
  const std::string& k = key.key;
  auto answer = [&](std::string v) { reply->push_back({k, std::move(v)}); };

  if (discovery_ &&
      std::find(std::begin(kNormalOnly), std::end(kNormalOnly), k) != std::end(kNormalOnly)) {
    answer("Irrelevant");
    return Status::Ok();
  }
  if (std::find(std::begin(kIrrelevant), std::end(kIrrelevant), k) != std::end(kIrrelevant)) {
    answer("Irrelevant");
    return Status::Ok();
  }
  if (k == "HeaderDigest" || k == "DataDigest") {
    const bool allow =
        k == "HeaderDigest" ? limits_.allow_header_digest : limits_.allow_data_digest;
    std::vector<std::string_view> offers = SplitList(key.value);
    if (offers.empty()) return BadValue(key, "malformed list");
    std::string chosen = "Reject";
    for (std::string_view o : offers) {
      if (o == "None" || (o == "CRC32C" && allow)) {
        chosen = std::string(o);
        break;
      }
    }
    bool on = chosen == "CRC32C";
    (k == "HeaderDigest" ? connection_.header_digest : connection_.data_digest) = on;
    answer(chosen);
    return Status::Ok();
  }
  uint64_t n = 0;
  bool b = false;
  if (k == "MaxRecvDataSegmentLength") {
    VSL_RETURN_IF_ERROR(Number(key, 512, kMaxLength24, &n));
    connection_.initiator_max_recv_data_segment_length = uint32_t(n);
    DeclareOwn(reply);
    return Status::Ok();
  }
  if (k == "MaxBurstLength" || k == "FirstBurstLength") {
    VSL_RETURN_IF_ERROR(Number(key, 512, kMaxLength24, &n));
    bool first = k == "FirstBurstLength";
    uint32_t v = uint32_t(
        std::min<uint64_t>(n, first ? limits_.first_burst_length : limits_.max_burst_length));
    (first ? session_.first_burst_length : session_.max_burst_length) = v;
    if (first) first_burst_negotiated_ = true;
    answer(std::to_string(v));
    return Status::Ok();
  }
  if (k == "MaxOutstandingR2T" || k == "MaxConnections") {
    VSL_RETURN_IF_ERROR(Number(key, 1, 65535, &n));
    bool r2t = k == "MaxOutstandingR2T";
    uint32_t v = uint32_t(
        std::min<uint64_t>(n, r2t ? limits_.max_outstanding_r2t : limits_.max_connections));
    v = std::max<uint32_t>(v, 1);
    (r2t ? session_.max_outstanding_r2t : session_.max_connections) = v;
    answer(std::to_string(v));
    return Status::Ok();
  }
  if (k == "ErrorRecoveryLevel") {
    VSL_RETURN_IF_ERROR(Number(key, 0, 2, &n));
    session_.error_recovery_level = 0;  // vsl implements level 0 only
    answer("0");
    return Status::Ok();
  }
  if (k == "DefaultTime2Wait") {
    VSL_RETURN_IF_ERROR(Number(key, 0, 3600, &n));
    session_.default_time2wait = uint32_t(std::max<uint64_t>(n, limits_.default_time2wait));
    answer(std::to_string(session_.default_time2wait));
    return Status::Ok();
  }
  if (k == "DefaultTime2Retain") {
    VSL_RETURN_IF_ERROR(Number(key, 0, 3600, &n));
    session_.default_time2retain = uint32_t(std::min<uint64_t>(n, limits_.default_time2retain));
    answer(std::to_string(session_.default_time2retain));
    return Status::Ok();
  }
  if (k == "ImmediateData") {
    VSL_RETURN_IF_ERROR(Bool(key, &b));
    session_.immediate_data = b && limits_.immediate_data;
    answer(YesNo(session_.immediate_data));
    return Status::Ok();
  }
  if (k == "InitialR2T") {
    VSL_RETURN_IF_ERROR(Bool(key, &b));
    session_.initial_r2t = b || limits_.initial_r2t;
    answer(YesNo(session_.initial_r2t));
    return Status::Ok();
  }
  if (k == "DataPDUInOrder" || k == "DataSequenceInOrder") {
    // OR with our Yes: vsl always wants data in order.
    VSL_RETURN_IF_ERROR(Bool(key, &b));
    answer("Yes");
    return Status::Ok();
  }
  if (k == "IFMarker" || k == "OFMarker") {
    VSL_RETURN_IF_ERROR(Bool(key, &b));
    answer("No");  // markers are obsolete (RFC 7143 §13.25)
    return Status::Ok();
  }
  answer("NotUnderstood");
  return Status::Ok();
}

Status OperationalNegotiation::Finish() {
  if (discovery_) return Status::Ok();
  if (session_.first_burst_length > session_.max_burst_length) {
    if (first_burst_negotiated_) {
      return InvalidArgument("FirstBurstLength " + std::to_string(session_.first_burst_length) +
                             " exceeds MaxBurstLength " +
                             std::to_string(session_.max_burst_length));
    }
    // Only the default of FirstBurstLength is too big: it follows MaxBurstLength.
    session_.first_burst_length = session_.max_burst_length;
  }
  return Status::Ok();
}

}  // namespace vsl::iscsi::internal
