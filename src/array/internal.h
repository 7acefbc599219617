// Pieces the drivers share. Not part of the array interface.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "array/array.h"

namespace vsl::array::internal {

// "1 GiB", "512 MiB", "1000 bytes": sizes in messages an operator reads.
std::string HumanSize(uint64_t bytes);

// "array 'a1'": the prefix of every message about an array.
std::string ArrayLabel(const ArrayInfo& info);

// InvalidArgument unless size is a positive multiple of kBlockSize.
Status CheckVolumeSize(const ArrayInfo& info, uint64_t size, std::string_view what);

// OutOfRange unless [offset, offset+length) lies inside a volume of `size`.
Status CheckRange(const ArrayInfo& info, const std::string& id, uint64_t size, uint64_t offset,
                  uint64_t length);

// Checks a new array's spec: name, capacity, volume_size.
Status CheckNewSpec(const ArraySpec& spec);

// Volume ids vsl makes: "vol-0001". Hand-made volumes may use any name that
// IsValidVolumeId accepts.
std::string VolumeId(uint64_t n);
bool IsValidVolumeId(std::string_view id);
// The names the file driver gives volume files (VolumeId's): "vol-" and 4 to
// 19 digits. Discovery of a file array takes these and nothing else.
bool IsVolumeFileName(std::string_view name);

bool IsAllZero(std::span<const uint8_t> data);

// Bytes moved per read/write while copying or verifying.
inline constexpr uint64_t kCopyChunk = 1 << 20;

// Makes volume dst_id of `dst` a copy of volume src_id of `src` through the
// interface: OutOfRange when dst is smaller; else dst is deallocated whole
// and src's mapped ranges are written onto it, skipping all-zero chunks.
Status CopyThroughInterface(StorageArray& src, const std::string& src_id, StorageArray& dst,
                            const std::string& dst_id);

// The fields every driver's manifest keeps: format, name, driver, capacity,
// volume size, qualities, ports and the next volume number.
nlohmann::json ManifestFields(const ArrayInfo& info, std::string_view driver, uint64_t next_id);
// Reads those fields back into `info` and `next_id` (name excepted: callers
// check it their own way). Throws nlohmann::json::exception on a malformed
// manifest; FailedPrecondition when the format or the driver is not this one's.
Status ReadManifestFields(const nlohmann::json& j, const std::string& where, std::string_view driver,
                          ArrayInfo& info, uint64_t& next_id);
// FailedPrecondition when a field a reopening spec gives (name, capacity,
// volume size, qualities, ports) differs from the manifest's, naming it.
Status CheckSpecAgrees(const std::string& where, const ArrayInfo& manifest, const ArraySpec& spec);

// The free capacity left when `used` bytes are in volumes.
Status CheckPoolRoom(const ArrayInfo& info, uint64_t used, uint64_t size);

}  // namespace vsl::array::internal
