// The catalog's rows as C++ values (the seed's FIG. 5B tables and the rest of
// the control database). docs/catalog.md describes every column.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace vsl::catalog {

// The FIG. 7 states of a disk unit. Which transitions join them is the
// storage manager's business (manager/disk_state.h), not the catalog's.
enum class DiskState {
  kFree,
  kAllocated,
  kConfigured,
  kBound,
  kMapped,
  kUnmapped,
  kUnbound,
  kUnconfigured,
  kScrubbing,
};
inline constexpr DiskState kAllDiskStates[] = {
    DiskState::kFree,     DiskState::kAllocated, DiskState::kConfigured,
    DiskState::kBound,    DiskState::kMapped,    DiskState::kUnmapped,
    DiskState::kUnbound,  DiskState::kUnconfigured, DiskState::kScrubbing};
// "free", "allocated", ... as stored in volumes.state.
std::string_view DiskStateName(DiskState s);
Result<DiskState> ParseDiskState(std::string_view name);

using Qualities = std::map<std::string, std::string>;

struct ArrayRecord {
  int64_t id = 0;
  std::string name;
  std::string driver;   // "file", "memory", ...
  std::string config;   // JSON the driver is reopened with (path, capacity, ...)
  uint64_t capacity = 0;
  uint64_t volume_size = 0;  // 0: a pool that cuts volumes on demand
  Qualities qualities;
  std::string dwml;          // the last disk wiring map discovery wrote
  int64_t discovered_ms = 0;
  int64_t created_ms = 0;
};

// The seed's Fiber Attach Port table (table 2).
struct ArrayPort {
  int64_t id = 0;
  int64_t array_id = 0;
  std::string port;  // the array's own port id
  std::string wwn;   // world-wide name (an IQN for iSCSI-reached arrays)
  std::string san;
  std::string type = "front-end";
  int64_t ref_count = 0;
};

// The seed's Disk table (table 1). A plain volume lives on one array; a meta
// (concatenated) volume has no array and its members point at it through
// parent_id, in member_order.
struct Volume {
  int64_t id = 0;
  std::optional<int64_t> array_id;
  std::string array_volume;  // the volume's id on its array ("vol-0003"); "" for a meta volume
  std::string type = "disk";  // "disk", "meta", "image" (a read-only master)
  uint64_t size = 0;          // bytes
  std::optional<int64_t> parent_id;
  int64_t member_order = 0;
  std::optional<int64_t> bcv_id;  // the backup (snapshot) volume
  std::optional<int64_t> farm_id;
  DiskState state = DiskState::kFree;
  // The state a Scrubbing volume returns to.
  std::optional<DiskState> prior_state;
  // True while no customer data may be on it (new, or scrubbed and verified).
  bool clean = true;
  std::optional<int64_t> image_id;
  Qualities qualities;  // the array's, overlaid with the volume's own
  std::optional<int64_t> request_id;  // the request that allocated it
  bool vanished = false;  // its array no longer reports it
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  // The unit's limits in util/qos.h's canonical text form; "" for none.
  // Cleared when the volume goes back to Free.
  std::string qos;
  // The unit's read cache policy, "none" or "read" (docs/cache.md).
  // Back to "none" when the volume goes back to Free.
  std::string cache = "none";
};

// The seed's Disk Fiber Attach table (table 3).
struct VolumePortLun {
  int64_t volume_id = 0;
  int64_t port_id = 0;
  std::string lun;
};

// The seed's Disk Binding table (table 4): host `host_id` reaches the volume
// at SCSI target `target`, presented by the gateway as LUN `lun`.
struct Binding {
  int64_t id = 0;
  int64_t volume_id = 0;
  int64_t host_id = 0;
  std::optional<int64_t> port_id;
  int64_t target = 0;
  int64_t lun = 0;
  bool mapped = false;  // the gateway presents it now
  // The host may read but not write (the gateway's LU is write-protected).
  // An image's master volume is only ever bound this way; a unit's bindings
  // are all read-only or all read-write (manager/operations.h, Bind).
  bool read_only = false;
  int64_t created_ms = 0;
};

enum class HostState { kIdle, kInFarm };
std::string_view HostStateName(HostState s);

// A host's baseboard management controller (the `ipmi` power driver).
// The password is a secret like the CHAP secrets: stored here, never shown
// again (the API says only whether one is set).
struct HostBmc {
  std::string address;  // host name or IP literal; "" when the host has none
  int64_t port = 623;
  std::string user;
  std::string password;
  std::string bootdev = "none";  // none | pxe | disk, set before each power-on
};

struct Host {
  int64_t id = 0;
  std::string name;
  std::string hw_type;
  std::vector<std::string> initiators;  // IQNs; each belongs to one host
  std::string chap_user;
  std::string chap_secret;
  std::string mutual_chap_user;    // "" when no mutual CHAP
  std::string mutual_chap_secret;
  HostBmc bmc;
  HostState state = HostState::kIdle;
  std::optional<int64_t> farm_id;
  int64_t created_ms = 0;
};

struct Farm {
  int64_t id = 0;
  std::string name;
  std::string state = "new";
  std::string fml;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  // The process applying or destroying the farm now ("" when none), and
  // until when its hold lasts unless renewed (Catalog::LockFarm).
  std::string lock_owner;
  int64_t lock_expiry_ms = 0;
};

// A `vsl serve` process: its heartbeat row says it is alive (Catalog::
// Heartbeat); one whose heartbeat stopped is dead, and so are its request
// leases and farm locks.
struct Process {
  std::string id;    // "<host>:<pid>:<random>"
  std::string node;  // the data directory's node id
  int64_t pid = 0;
  int64_t started_ms = 0;
  int64_t heartbeat_ms = 0;
};

struct Image {
  int64_t id = 0;
  std::string name;
  uint64_t size = 0;
  std::string sha256;  // hex
  std::optional<int64_t> master_volume_id;
  int64_t created_ms = 0;
};

// A copy of image `image_id`'s master kept on array `array_id` (one that
// clones, rbd), where that array's disks are cloned from.
struct ImageMaster {
  int64_t image_id = 0;
  int64_t array_id = 0;
  int64_t volume_id = 0;
  int64_t created_ms = 0;
};

enum class RequestState { kQueued, kRunning, kDone, kFailed };
std::string_view RequestStateName(RequestState s);
Result<RequestState> ParseRequestState(std::string_view name);

// One entry of the FIG. 8 request queue.
struct Request {
  int64_t id = 0;
  std::string op;    // "allocate", "bind", ...
  std::string args;  // JSON object
  RequestState state = RequestState::kQueued;
  std::string actor;  // who asked
  std::string lease_owner;
  int64_t lease_expiry_ms = 0;
  int64_t attempts = 0;
  std::string reason;  // why it failed ("" otherwise)
  std::string result;  // JSON the operation returned ("" until done)
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  int64_t finished_ms = 0;
};

// One state change of anything (a volume, a host, a request).
struct Event {
  int64_t id = 0;
  std::string entity;  // "volume", "host", "request", "array"
  int64_t entity_id = 0;
  std::string from_state;
  std::string to_state;
  std::string op;
  std::string actor;
  std::optional<int64_t> request_id;
  int64_t time_ms = 0;
  std::string detail;
};

}  // namespace vsl::catalog
