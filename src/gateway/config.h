// The standalone gateway's configuration file (`vsl gateway --config FILE`),
// documented in docs/gateway-config.md.
//
// ParseGatewayConfig is pure: the JSON text and an environment (where relative
// paths start, how big a file is) in, a checked configuration or the first
// error out. Errors name the JSON path of what is wrong:
//   "hosts[1].luns[0].extents[0].length: must be a positive multiple of 512".
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/gateway.h"
#include "util/status.h"

namespace vsl::gateway {

struct GatewayConfig {
  GatewayOptions options;
  std::vector<HostConfig> hosts;
};

struct ConfigEnv {
  // Relative extent paths are taken relative to this directory (the config
  // file's); empty: the current directory.
  std::string base_dir;
  // The size in bytes of a regular file or block device, or an error naming
  // the path.
  std::function<Result<uint64_t>(const std::string& path)> file_size;
};

Result<GatewayConfig> ParseGatewayConfig(std::string_view json_text, const ConfigEnv& env);

// Reads and parses FILE with the real file system.
Result<GatewayConfig> LoadGatewayConfig(const std::string& file);

// stat(2) for files, BLKGETSIZE64 for block devices.
Result<uint64_t> FileSize(const std::string& path);

// A stable identity for a volume given only by its extents (standalone
// configurations without volume_id): the same extents give the same id, so
// the SCSI identifiers an initiator sees survive restarts.
std::string VolumeIdFromExtents(const std::vector<volume::Extent>& extents);

}  // namespace vsl::gateway
