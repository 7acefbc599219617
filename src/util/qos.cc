#include "util/qos.h"

#include <charconv>

namespace vsl {
namespace {

constexpr std::array<std::string_view, QosLimits::kKeys> kNames = {
    "iops", "read-iops", "write-iops", "mbps", "read-mbps", "write-mbps"};

std::string KeyList() {
  std::string s;
  for (std::string_view n : kNames) s += (s.empty() ? "" : ", ") + std::string(n);
  return s;
}

}  // namespace

std::string_view QosKeyName(QosLimits::Key k) { return kNames[size_t(k)]; }

Result<QosLimits::Key> ParseQosKey(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return QosLimits::Key(i);
  }
  return InvalidArgument("unknown qos key '" + std::string(name) + "' (expected " + KeyList() + ")");
}

Status CheckQosValue(std::string_view name, int64_t value) {
  if (value < 1 || uint64_t(value) > kMaxQosValue) {
    return InvalidArgument(std::string(name) + "=" + std::to_string(value) + ": must be a whole number from 1 to " +
                           std::to_string(kMaxQosValue));
  }
  return Status::Ok();
}

Result<QosLimits> ParseQos(std::string_view text) {
  QosLimits out;
  if (text.empty()) return out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(pos, end - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return InvalidArgument("qos item '" + std::string(item) + "' is not KEY=N (e.g. iops=2000)");
    }
    std::string_view key = item.substr(0, eq), num = item.substr(eq + 1);
    VSL_ASSIGN_OR_RETURN(QosLimits::Key k, ParseQosKey(key));
    if (out[k] != 0) return InvalidArgument("qos key '" + std::string(key) + "' given twice");
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
    if (num.empty() || ec != std::errc() || p != num.data() + num.size() || v == 0 || v > kMaxQosValue) {
      return InvalidArgument(std::string(key) + "=" + std::string(num) + ": must be a whole number from 1 to " +
                             std::to_string(kMaxQosValue));
    }
    out[k] = v;
    pos = end + 1;
  }
  return out;
}

std::string FormatQos(const QosLimits& limits) {
  std::string s;
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (limits.value[i] == 0) continue;
    s += (s.empty() ? "" : ",") + std::string(kNames[i]) + "=" + std::to_string(limits.value[i]);
  }
  return s;
}

}  // namespace vsl
