// Per-disk quality-of-service limits (docs/qos.md): the one spelling of them
// that FML, the CLI, the API, the catalog and the gateway share.
//
// Text form, as in FML's <attribute name="qos" value="..."/>: comma-separated
// KEY=N, keys
//   iops, read-iops, write-iops   commands a second (reads + writes, reads, writes)
//   mbps, read-mbps, write-mbps   MiB (2^20 bytes) a second of data moved
// N a whole number from 1 to 10^9; a key at most once; "" means no limit.
// A command must fit every limit that applies to it (a read: iops,
// read-iops, mbps, read-mbps).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/status.h"

namespace vsl {

struct QosLimits {
  enum Key { kIops, kReadIops, kWriteIops, kMbps, kReadMbps, kWriteMbps, kKeys };
  // 0: no limit.
  std::array<uint64_t, kKeys> value{};

  uint64_t& operator[](Key k) { return value[size_t(k)]; }
  uint64_t operator[](Key k) const { return value[size_t(k)]; }
  bool empty() const {
    for (uint64_t v : value) {
      if (v != 0) return false;
    }
    return true;
  }
  bool operator==(const QosLimits&) const = default;
};

inline constexpr uint64_t kMaxQosValue = 1'000'000'000;

// "iops", "read-iops", ... in Key order.
std::string_view QosKeyName(QosLimits::Key k);
// The key named `name`; InvalidArgument listing the keys otherwise.
Result<QosLimits::Key> ParseQosKey(std::string_view name);
// Checks one value for key `name`: InvalidArgument "<name>: ..." when it is
// not in 1..kMaxQosValue.
Status CheckQosValue(std::string_view name, int64_t value);
// Parses the text form; InvalidArgument naming the offending key or item.
Result<QosLimits> ParseQos(std::string_view text);
// The canonical text form (keys in Key order); "" when there is no limit.
std::string FormatQos(const QosLimits& limits);

}  // namespace vsl
