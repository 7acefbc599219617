// The farm planner: what it takes to turn a farm as it is into the farm an FML
// file describes (like `terraform plan`).
//
// Plan() is a pure function of two values, the desired FarmSpec and a snapshot
// of what exists (FarmState); it does no I/O and its result depends on nothing
// else, so `vsl farm plan` and `vsl farm apply` print and run the same list.
// The farm manager executes the actions in order through the storage manager.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "fml/fml.h"
#include "util/status.h"

namespace vsl::farm {

using VolumeId = int64_t;

// ---- What exists -----------------------------------------------------------

struct DiskState {
  int target = -1;  // SCSI target = LUN on the host
  // The FML drivename it was made for, if any. Disks are matched to the file
  // by target; when both sides have a drivename, by that too.
  std::string drivename{};
  uint64_t size_bytes = 0;
  std::string drivetype{};
  std::string image{};  // the image copied onto it; "" for a blank disk or a copy not yet made
  std::vector<VolumeId> volume_ids{};  // the volumes it is made of, concatenated in order
  // As observed in the catalog: whether the server's host holds a binding
  // of it, and whether that binding is mapped. A disk that exists but lost
  // either (a step cut short) gets the missing bind/map planned again.
  bool bound = true;
  bool mapped = true;
  std::string qos{};  // its limits (util/qos.h canonical text); "" for none
  std::string cache{};  // its read cache policy: "read", or "" for none
  std::string raid_level{};  // the FML raid-level it was allocated (or last migrated) with
};

// A server of the farm: a host taken from the pool, playing a role.
struct ServerState {
  std::string name{};  // <farm>-<tier>-<n>
  std::string role{};  // the server-role id
  std::string hw{};
  std::string host{};  // the host it runs on
  bool powered_on = false;
  std::vector<DiskState> disks{};  // its private disks
};

struct GlobalDiskState {
  std::string global_name{};
  uint64_t size_bytes = 0;
  std::string drivetype{};
  std::vector<VolumeId> volume_ids{};
  std::string qos{};  // as DiskState::qos
  std::string cache{};  // as DiskState::cache
  std::string raid_level{};  // as DiskState::raid_level
};

// A farm-global disk mapped into one server at a target.
struct SharedDiskMapping {
  std::string server{};
  std::string global_name{};
  int target = -1;
  // False: the server's host holds a binding that is not mapped (yet);
  // apply maps it, destroy unbinds it.
  bool mapped = true;
};

struct IdleHost {
  std::string name{};
  std::string hw{};
};

// A snapshot of one farm and of the hosts not in any farm.
struct FarmState {
  std::vector<ServerState> servers{};
  std::vector<GlobalDiskState> global_disks{};
  std::vector<SharedDiskMapping> shared_disks{};
  std::vector<IdleHost> pool{};  // idle hosts, any hardware type
};

// ---- What to do ------------------------------------------------------------

enum class ActionKind {
  kTakeHost,            // host from the idle pool becomes `server`
  kReleaseHost,         // host of `server` goes back to the idle pool
  kAllocateGlobalDisk,  // global_name, size_bytes, drivetype, raid/backup
  kAllocateDisk,        // server, target, size_bytes, drivename, drivetype, image, raid/backup
  kGrowDisk,            // server+target or global_name: allocate size_bytes more and
                        // concatenate them, to new_size_bytes in all
  kCopyImage,           // image onto the disk of server at target
  kBind,                // the disk (server+target, or global_name for server) to the host
  kMap,                 // the disk of server at target, as LUN target, on host
  kMapSharedDisk,       // global_name as LUN target on the host of server
  kUnmap,               // reverse of kMap/kMapSharedDisk
  kUnbind,              // reverse of kBind
  kScrub,               // overwrite volume_ids so that no byte reaches the next user
  kFree,                // volume_ids back to the free pool
  kPowerOn,
  kPowerOff,
  kSetQos,       // the disk (server+target, or global_name) gets limits `qos`
                 // ("" removes them); a mapped disk's hosts are held to them at once
  kSetCache,     // the disk's read cache policy becomes `cache` ("" = none), at once
  kMigrateDisk,  // the disk (server+target, or global_name: one action however
                 // many servers map it) moves, live, onto storage with the
                 // qualities of `drivetype` and `raid_level` (docs/migration.md)
};

// What an action does to the farm, for the summary line. Exactly one action
// per thing added, changed or removed carries an effect other than kNone, so
// that the summary counts things, not steps.
enum class Effect { kAdd, kChange, kRemove, kNone };

// An action names the disk it is about by (server, target), or by global_name
// for a farm-global disk (with server telling which server's host, for bind,
// map and unmap). volume_ids are filled in only for disks that exist in the
// FarmState planned from; disks made earlier in the same plan are found by
// name.

struct Action {
  ActionKind kind = ActionKind::kTakeHost;
  Effect effect = Effect::kNone;  // set on the action that adds, changes or removes a thing
  std::string server{};           // the farm's server name ("" for global-disk actions)
  std::string host{};
  std::string hw{};
  std::string role{};         // take host: the server-role the new server plays
  std::string global_name{};  // set when the action is on a farm-global disk
  int target = -1;
  uint64_t size_bytes = 0;      // allocate: the size; grow: the extra bytes
  uint64_t new_size_bytes = 0;  // grow: the size afterwards
  std::string drivename{};      // allocate: the disk's FML drivename, if any
  std::string drivetype{};
  std::string image{};
  std::string raid_level{};                    // allocate
  std::vector<std::string> backup_policies{};  // allocate
  std::vector<VolumeId> volume_ids{};          // the existing volumes acted on
  std::string qos{};                           // set qos: the limits (canonical text)
  std::string cache{};                         // set cache: "read" or "" (none)

  // One line, starting with "+ " (adds), "~ " (changes) or "- " (removes),
  // e.g. "+ allocate disk two-tier-web-1 target 0: 64 MiB scsi".
  std::string ToString() const;
};

const char* ActionKindName(ActionKind kind);

// What a disk asks of the storage it is allocated from (the allocator's
// qualities, which every chosen volume must have): its raid-level attribute
// as "raid", and a drivetype that names a quality class (raid, performance,
// spindle, bandwidth) as "class". The access classes (scsi, iscsi,
// fibre-channel, std, other) ask for nothing: every vsl disk reaches its
// host through the gateway as a SCSI logical unit.
std::map<std::string, std::string> StorageQualities(const std::string& drivetype, const std::string& raid_level);

struct FarmPlan {
  std::string farm;
  std::vector<Action> actions;
  // Things (servers, disks, global disks, shared-disk mappings) added, changed
  // (grown, repaired, powered on) and removed.
  int to_add = 0;
  int to_change = 0;
  int to_remove = 0;

  bool empty() const { return actions.empty(); }
  // "Plan: 11 to add, 0 to change, 0 to remove."
  std::string Summary() const;
  // Every action on its own line, then the summary.
  std::string ToString() const;
};

// Plans `current` into `desired`. The farm is desired.name; servers are named
// <farm>-<tier name (else id)>-<n> with n = 1..init-servers.
//
// Order: everything that goes away first (power off, unmap, unbind, scrub,
// free, release), then the farm-global disks (allocate, migrate, grow), then changes
// to servers that stay, then new servers (take host, allocate, copy, bind,
// map, shared disks, power on). Hosts are taken from the pool (and from hosts
// this plan releases) by hw, in name order.
//
// Fails, with every reason in the message, when a disk would shrink (naming
// the disk and both sizes), when a disk's image would change, when a disk
// named by drivename would move to another target, when the pool
// lacks hosts of a hw type (naming the hw and the counts), or when the farm
// name is unusable.
Result<FarmPlan> Plan(const fml::FarmSpec& desired, const FarmState& current);

// The state after every action of `plan` succeeded. New volumes get ids from
// *next_volume_id upwards. For tests, fuzzing and dry runs.
FarmState Simulate(const FarmState& current, const FarmPlan& plan, VolumeId* next_volume_id);

}  // namespace vsl::farm
