#include "array/internal.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "util/names.h"

namespace vsl::array::internal {

std::string HumanSize(uint64_t bytes) {
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024 || bytes % 1024 != 0) return std::to_string(bytes) + " bytes";
  uint64_t v = bytes / 1024;
  int unit = 0;
  while (v >= 1024 && v % 1024 == 0 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  return std::to_string(v) + " " + kUnits[unit];
}

std::string ArrayLabel(const ArrayInfo& info) { return "array '" + info.name + "'"; }

Status CheckVolumeSize(const ArrayInfo& info, uint64_t size, std::string_view what) {
  if (size == 0 || size % kBlockSize != 0) {
    return InvalidArgument(ArrayLabel(info) + ": " + std::string(what) + " of " +
                           std::to_string(size) + " bytes is not a positive multiple of " +
                           std::to_string(kBlockSize));
  }
  return Status::Ok();
}

Status CheckRange(const ArrayInfo& info, const std::string& id, uint64_t size, uint64_t offset,
                  uint64_t length) {
  if (offset > size || length > size - offset) {
    return OutOfRange(ArrayLabel(info) + ": volume " + id + ": bytes [" + std::to_string(offset) +
                      ", " + std::to_string(offset + length) + ") lie past its end at " +
                      std::to_string(size));
  }
  return Status::Ok();
}

Status CheckNewSpec(const ArraySpec& spec) {
  if (spec.name.empty()) return InvalidArgument("array spec: the name is empty");
  std::string label = "array '" + spec.name + "'";
  if (spec.capacity == 0) return InvalidArgument(label + ": the capacity is 0");
  VSL_RETURN_IF_ERROR(CheckSize(label + ": capacity", spec.capacity));
  if (spec.volume_size != 0) {
    if (spec.volume_size % kBlockSize != 0) {
      return InvalidArgument(label + ": volume size " + std::to_string(spec.volume_size) +
                             " is not a multiple of " + std::to_string(kBlockSize));
    }
    if (spec.volume_size > spec.capacity) {
      return InvalidArgument(label + ": volume size " + HumanSize(spec.volume_size) +
                             " exceeds the capacity " + HumanSize(spec.capacity));
    }
  }
  for (const auto& port : spec.ports) {
    if (port.empty()) return InvalidArgument(label + ": a port name is empty");
  }
  return Status::Ok();
}

std::string VolumeId(uint64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "vol-%04llu", static_cast<unsigned long long>(n));
  return buf;
}

bool IsValidVolumeId(std::string_view id) {
  if (id.empty() || id.size() > 200 || id[0] == '.') return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.';
  });
}

bool IsVolumeFileName(std::string_view name) {
  if (!name.starts_with("vol-")) return false;
  std::string_view digits = name.substr(4);
  return digits.size() >= 4 && digits.size() <= 19 &&
         std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsAllZero(std::span<const uint8_t> data) {
  static const uint8_t kZeros[4096] = {};
  while (!data.empty()) {
    size_t n = std::min(data.size(), sizeof kZeros);
    if (std::memcmp(data.data(), kZeros, n) != 0) return false;
    data = data.subspan(n);
  }
  return true;
}

Status CopyThroughInterface(StorageArray& src, const std::string& src_id, StorageArray& dst,
                            const std::string& dst_id) {
  VSL_ASSIGN_OR_RETURN(ArrayVolume from, src.GetVolume(src_id));
  VSL_ASSIGN_OR_RETURN(ArrayVolume to, dst.GetVolume(dst_id));
  if (from.size > to.size) {
    return OutOfRange(ArrayLabel(dst.info()) + ": volume " + dst_id + " (" + std::to_string(to.size) +
                      " bytes) is smaller than the source " + src_id + " (" + std::to_string(from.size) +
                      " bytes)");
  }
  VSL_RETURN_IF_ERROR(dst.Deallocate(dst_id, 0, to.size));
  VSL_ASSIGN_OR_RETURN(auto ranges, src.MappedRanges(src_id));
  std::vector<uint8_t> buf;
  for (const ByteRange& r : ranges) {
    for (uint64_t done = 0; done < r.length;) {
      uint64_t n = std::min<uint64_t>(kCopyChunk, r.length - done);
      buf.resize(n);
      VSL_RETURN_IF_ERROR(src.Read(src_id, r.offset + done, buf));
      if (!IsAllZero(buf)) VSL_RETURN_IF_ERROR(dst.Write(dst_id, r.offset + done, buf));
      done += n;
    }
  }
  return Status::Ok();
}

Status CheckPoolRoom(const ArrayInfo& info, uint64_t used, uint64_t size) {
  uint64_t free = used >= info.capacity ? 0 : info.capacity - used;
  if (size > free) {
    return ResourceExhausted(ArrayLabel(info) + ": cannot cut a volume of " + HumanSize(size) +
                             ": only " + HumanSize(free) + " of " + HumanSize(info.capacity) +
                             " are free");
  }
  return Status::Ok();
}

inline constexpr int kManifestFormat = 1;

nlohmann::json ManifestFields(const ArrayInfo& info, std::string_view driver, uint64_t next_id) {
  return {{"format", kManifestFormat},
          {"name", info.name},
          {"driver", std::string(driver)},
          {"capacity", info.capacity},
          {"volume_size", info.volume_size},
          {"qualities", info.qualities},
          {"ports", info.ports},
          {"next_id", next_id}};
}

Status ReadManifestFields(const nlohmann::json& j, const std::string& where, std::string_view driver,
                          ArrayInfo& info, uint64_t& next_id) {
  if (j.at("format").get<int>() != kManifestFormat) {
    return FailedPrecondition(where + ": manifest format " + j.at("format").dump() + " is not " +
                              std::to_string(kManifestFormat));
  }
  if (j.at("driver").get<std::string>() != driver) {
    return FailedPrecondition(where + ": the manifest is for driver " + j.at("driver").dump());
  }
  info.capacity = j.at("capacity").get<uint64_t>();
  info.volume_size = j.at("volume_size").get<uint64_t>();
  info.qualities = j.at("qualities").get<Qualities>();
  info.ports = j.at("ports").get<std::vector<std::string>>();
  next_id = j.at("next_id").get<uint64_t>();
  return Status::Ok();
}

namespace {
template <typename T>
Status Agree(const std::string& where, const char* field, const T& manifest, const T& spec,
             bool given) {
  if (given && !(manifest == spec)) {
    return FailedPrecondition(where + ": the spec's " + field + " differs from the one in its manifest");
  }
  return Status::Ok();
}
}  // namespace

Status CheckSpecAgrees(const std::string& where, const ArrayInfo& m, const ArraySpec& spec) {
  VSL_RETURN_IF_ERROR(Agree(where, "name", m.name, spec.name, !spec.name.empty()));
  VSL_RETURN_IF_ERROR(Agree(where, "capacity", m.capacity, spec.capacity, spec.capacity != 0));
  VSL_RETURN_IF_ERROR(
      Agree(where, "volume size", m.volume_size, spec.volume_size, spec.volume_size != 0));
  VSL_RETURN_IF_ERROR(Agree(where, "qualities", m.qualities, spec.qualities, !spec.qualities.empty()));
  return Agree(where, "ports", m.ports, spec.ports, !spec.ports.empty());
}

}  // namespace vsl::array::internal
