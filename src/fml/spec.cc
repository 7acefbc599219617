// Sizes, names and look-ups on a FarmSpec.
#include <cctype>
#include <string>

#include "fml/fml.h"
#include "util/names.h"
#include "fml/text.h"

namespace vsl::fml {

namespace {

constexpr std::string_view kSizeExpectation =
    "expected megabytes (\"8631\") or a number with a unit "
    "(KB, MB, GB, TB, KiB, MiB, GiB, TiB)";

}  // namespace

Result<uint64_t> ParseSize(std::string_view text) {
  const std::string trimmed = Trim(text);
  std::string_view s = trimmed;
  const std::string quoted = Quote(text);
  size_t i = 0;
  uint64_t number = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    if (number > kMaxDiskSize) break;  // already too big; avoid overflow
    number = number * 10 + static_cast<uint64_t>(s[i] - '0');
    ++i;
  }
  if (i == 0) return InvalidArgument(quoted + " is not a size; " + std::string(kSizeExpectation));
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  std::string unit = Lower(Trim(s.substr(i)));
  int shift;
  if (unit.empty()) {
    shift = 20;
  } else if (unit == "k" || unit == "kb" || unit == "kib") {
    shift = 10;
  } else if (unit == "m" || unit == "mb" || unit == "mib") {
    shift = 20;
  } else if (unit == "g" || unit == "gb" || unit == "gib") {
    shift = 30;
  } else if (unit == "t" || unit == "tb" || unit == "tib") {
    shift = 40;
  } else {
    return InvalidArgument(quoted + " is not a size; " + std::string(kSizeExpectation));
  }
  if (number == 0)
    return InvalidArgument(quoted + " is not a size; a disk needs more than 0 bytes");
  if (number > (kMaxDiskSize >> shift)) {
    return InvalidArgument(quoted + " is too big; the largest disk is " + FormatSize(kMaxDiskSize));
  }
  return number << shift;
}

std::string FormatSize(uint64_t bytes) {
  static constexpr struct {
    int shift;
    const char* unit;
  } kUnits[] = {{40, "TiB"}, {30, "GiB"}, {20, "MiB"}, {10, "KiB"}};
  if (bytes != 0) {
    for (const auto& u : kUnits) {
      const uint64_t one = uint64_t{1} << u.shift;
      if (bytes % one == 0) return std::to_string(bytes / one) + " " + u.unit;
    }
  }
  return std::to_string(bytes) + (bytes == 1 ? " byte" : " bytes");
}

std::string FarmNameFromFile(std::string_view file) {
  size_t slash = file.find_last_of('/');
  if (slash != std::string_view::npos) file.remove_prefix(slash + 1);
  size_t dot = file.find_last_of('.');
  if (dot != std::string_view::npos && dot != 0) file = file.substr(0, dot);
  return std::string(file);
}

bool IsValidName(std::string_view name) { return vsl::IsValidName(name); }

const ServerRole* FarmSpec::FindRole(std::string_view id) const {
  for (const ServerRole& r : roles) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

const GlobalDisk* FarmSpec::FindGlobalDisk(std::string_view global_name) const {
  for (const GlobalDisk& g : global_disks) {
    if (g.global_name == global_name) return &g;
  }
  return nullptr;
}

const Subnet* FarmSpec::FindSubnet(std::string_view id) const {
  for (const Subnet& s : subnets) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

}  // namespace vsl::fml
