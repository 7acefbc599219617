#include "gateway/stats.h"

#include <iterator>

#include "gateway/lu_stats.h"

namespace vsl::gateway {

std::string_view LoginFailureName(LoginFailure f) {
  switch (f) {
    case LoginFailure::kAuthFailed: return "auth_failed";
    case LoginFailure::kForbidden: return "forbidden";
    case LoginFailure::kNotFound: return "not_found";
    case LoginFailure::kRemoved: return "removed";
    case LoginFailure::kTooManyConnections: return "too_many_connections";
    case LoginFailure::kMissingParameter: return "missing_parameter";
    case LoginFailure::kSessionDoesNotExist: return "session_does_not_exist";
    case LoginFailure::kInitiatorError: return "initiator_error";
    case LoginFailure::kTargetError: return "target_error";
    case LoginFailure::kTimeout: return "timeout";
    case LoginFailure::kCount: break;
  }
  return "unknown";
}

const char* SenseKeyLabel(size_t slot) {
  static constexpr const char* kNames[] = {
      "no_sense",        "recovered_error", "not_ready",       "medium_error",   "hardware_error",
      "illegal_request", "unit_attention",  "data_protect",    "blank_check",    "vendor_specific",
      "copy_aborted",    "aborted_command", "reserved_0c",     "volume_overflow", "miscompare",
      "completed",       "none"};
  return slot < std::size(kNames) ? kNames[slot] : "unknown";
}

LoginFailure LoginFailureOf(uint8_t status_class, uint8_t status_detail) {
  if (status_class != 2) return LoginFailure::kTargetError;
  switch (status_detail) {
    case 0x01: return LoginFailure::kAuthFailed;
    case 0x02: return LoginFailure::kForbidden;
    case 0x03: return LoginFailure::kNotFound;
    case 0x04: return LoginFailure::kRemoved;
    case 0x06: return LoginFailure::kTooManyConnections;
    case 0x07: return LoginFailure::kMissingParameter;
    case 0x0a: return LoginFailure::kSessionDoesNotExist;
    default: return LoginFailure::kInitiatorError;
  }
}

}  // namespace vsl::gateway
