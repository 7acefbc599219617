// Per logical unit I/O counters, kept per network thread (docs/metrics.md).
//
// Each EventLoop has its own LuStatsTable; only that loop's thread writes
// it (as commands complete) and only that thread reads it (when
// Gateway::Stats() posts a visit to the loop), so the counters are plain
// integers: no lock, no atomic, no shared cache line on the I/O path. A
// scrape sums the tables of every loop.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace vsl::gateway {

// Upper bounds of the latency buckets, nanoseconds: 100 µs to 10 s.
inline constexpr std::array<uint64_t, 14> kLuLatencyBoundsNs = {
    100'000,     250'000,     500'000,       1'000'000,     2'500'000,     5'000'000,     10'000'000,
    25'000'000, 50'000'000, 100'000'000, 250'000'000, 1'000'000'000, 2'500'000'000, 10'000'000'000};

enum class LuOp { kRead, kWrite, kOther };
inline constexpr size_t kLuOps = 3;
// 16 sense keys, then one slot for a failed status without sense data
// (RESERVATION CONFLICT, BUSY, TASK SET FULL).
inline constexpr size_t kLuErrorSlots = 17;

struct LuCounters {
  std::array<uint64_t, kLuOps> commands{};
  std::array<uint64_t, 2> bytes{};  // read, write: data moved for commands that succeeded
  // Per bucket (not cumulative): [op][i] counts latencies <= bound i and
  // above bound i-1; [op][bounds] those above the last bound.
  std::array<std::array<uint64_t, kLuLatencyBoundsNs.size() + 1>, 2> latency{};
  std::array<uint64_t, 2> latency_ns_sum{};
  std::array<uint64_t, kLuErrorSlots> errors{};
  uint64_t queue_depth = 0;  // a gauge, filled in by Stats() from the tasks in flight

  // One finished command. Loop thread.
  void Record(LuOp op, uint64_t bytes_moved, uint64_t latency_ns, int error_slot) {
    ++commands[size_t(op)];
    if (op != LuOp::kOther) {
      size_t k = size_t(op);
      bytes[k] += bytes_moved;
      latency_ns_sum[k] += latency_ns;
      size_t b = 0;
      while (b < kLuLatencyBoundsNs.size() && latency_ns > kLuLatencyBoundsNs[b]) ++b;
      ++latency[k][b];
    }
    if (error_slot >= 0) ++errors[size_t(error_slot)];
  }

  void Add(const LuCounters& o) {
    for (size_t i = 0; i < kLuOps; ++i) commands[i] += o.commands[i];
    for (size_t k = 0; k < 2; ++k) {
      bytes[k] += o.bytes[k];
      latency_ns_sum[k] += o.latency_ns_sum[k];
      for (size_t b = 0; b < latency[k].size(); ++b) latency[k][b] += o.latency[k][b];
    }
    for (size_t i = 0; i < kLuErrorSlots; ++i) errors[i] += o.errors[i];
    queue_depth += o.queue_depth;
  }
};

// By (host, LUN). Entries are never removed while the gateway runs (a
// counter must not go back), so pointers into it stay valid; its size is
// bounded by the (host, LUN) pairs that ever carried a command.
using LuStatsTable = std::map<std::pair<std::string, uint64_t>, LuCounters>;

// The sense key's name as a label ("illegal_request", ...); slot 16 is
// "none" (a failed status without sense data).
const char* SenseKeyLabel(size_t slot);

}  // namespace vsl::gateway
