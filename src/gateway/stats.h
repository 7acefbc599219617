// What the gateway reports to a metrics scrape (docs/metrics.md). Read with
// Gateway::Stats(): gauges are sampled when asked, counters only grow for
// the life of the process.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "gateway/lu_stats.h"

namespace vsl::gateway {

// Why a login was refused, a bounded set (the Login Response's status class
// and detail, RFC 7143 §11.13.5, plus the login timeout).
enum class LoginFailure {
  kAuthFailed,        // 02 01: CHAP failed or the initiator is not the host's
  kForbidden,         // 02 02
  kNotFound,          // 02 03: no such target
  kRemoved,           // 02 04
  kTooManyConnections,  // 02 06
  kMissingParameter,  // 02 07
  kSessionDoesNotExist,  // 02 0a
  kInitiatorError,    // any other 02 xx
  kTargetError,       // 03 xx
  kTimeout,           // the login did not finish within login_timeout_s
  kCount,
};
std::string_view LoginFailureName(LoginFailure f);
// The reason for a Login Response's status class and detail.
LoginFailure LoginFailureOf(uint8_t status_class, uint8_t status_detail);

// One mapped volume and the read cache (docs/cache.md).
struct VolumeCacheStats {
  bool reads = false;               // its policy is read
  uint64_t hits = 0;                // reads served from the cache alone
  uint64_t misses = 0;              // reads with the policy on that went to the backend
  uint64_t backend_read_bytes = 0;  // bytes its reads asked of its files and images, any policy
};

struct GatewayStats {
  uint64_t sessions = 0;     // logged in, normal and discovery
  uint64_t connections = 0;  // open TCP connections, logged in or not
  uint64_t logins = 0;       // logins that succeeded
  std::array<uint64_t, size_t(LoginFailure::kCount)> login_failures{};
  uint64_t r2ts_outstanding = 0;  // R2Ts sent whose data has not all arrived
  uint64_t writes_waiting = 0;    // writes whose R2Ts wait for the write budget
  uint64_t write_buffer_bytes = 0;        // solicited write data reserved
  uint64_t write_buffer_limit_bytes = 0;  // --iscsi-write-budget
  // False when a network thread did not answer in time: the per-thread
  // figures (R2Ts, waiting writes) are then partial.
  bool complete = true;
  // Per (host, LUN): commands, bytes, latency, errors, and the commands in
  // flight now (queue_depth).
  LuStatsTable lus;
  // By volume id, the volumes mapped now.
  std::map<std::string, VolumeCacheStats> volumes;
  // The process's read cache (vsl serve --cache); capacity 0: none.
  uint64_t cache_capacity_bytes = 0;
  uint64_t cache_used_bytes = 0;
  uint64_t cache_inserts = 0;
  uint64_t cache_evictions = 0;
  uint64_t cache_invalidations = 0;  // blocks dropped by writes
};

}  // namespace vsl::gateway
