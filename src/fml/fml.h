// The farm markup language (FML 1.1 and 1.2): a farm definition as a value.
//
// A pure library: Parse() takes the text of an FML file and the name to use in
// messages, and returns a validated FarmSpec or an InvalidArgument Status whose
// message lists every error as "file:line:column: what is wrong; what was
// expected", one per line. ParseFile() only adds reading the file.
//
// DOCTYPE declarations are refused outright, so no DTD, entity or external
// reference is ever looked at (no XXE, no entity expansion bombs).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace vsl::fml {

// A place in the source: 1-based line and column (column counts characters).
struct Loc {
  int line = 0;
  int column = 0;
  bool operator==(const Loc&) const = default;
};

// Limits that keep a definition sane (and a fuzzed one cheap).
inline constexpr int kMaxTarget = 255;  // SCSI target = LUN the host sees
inline constexpr int kMaxServersPerTier = 10000;
inline constexpr uint64_t kMaxDiskSize = uint64_t{1} << 50;  // 1 PiB

// <attribute name=".." value=".."/> inside a <disk> or <global-disk>.
struct DiskAttribute {
  std::string name;
  std::string value;
  Loc loc;
};

// <disk>: storage private to each server of a role.
struct Disk {
  // The SCSI target (presented as the LUN of the same number). When the file
  // names the disk only by drivename, Validate() assigns the lowest target not
  // used by any other disk or shared disk of the role, in document order.
  int target = -1;
  bool target_given = false;
  std::string drivename;  // "" unless given
  std::string drivetype;  // "" unless given; the access/quality class
  uint64_t size_bytes = 0;
  std::string image;                         // <diskimage type="system">; "" is a blank disk
  std::string raid_level;                    // attribute raid-level; "" unless given
  std::vector<std::string> backup_policies;  // attribute backup-policy, in order
  // Attribute qos (util/qos.h), in canonical form; "" unless given.
  std::string qos;
  // Attribute cache: "read", or "" (none, also when given as "none").
  std::string cache;
  bool cache_given = false;
  std::vector<DiskAttribute> attributes;     // every <attribute>, in order
  Loc loc, target_loc, drivename_loc;
};

// <shared-disk>: a farm-global disk seen by every server of the role.
struct SharedDisk {
  std::string global_name;
  int target = -1;
  std::string drivetype;
  Loc loc, global_name_loc, target_loc;
};

// <global-disk> inside <farm-global-disks> (FML 1.2).
struct GlobalDisk {
  std::string global_name;
  uint64_t size_bytes = 0;
  std::string drivetype;
  std::string raid_level;
  std::vector<std::string> backup_policies;
  std::string qos;  // attribute qos, canonical; "" unless given
  std::string cache;  // attribute cache, as Disk::cache
  bool cache_given = false;
  std::vector<DiskAttribute> attributes;
  Loc loc, global_name_loc;
};

// <interface name=".." subnet=".."/> inside a <tier>.
struct Interface {
  std::string name;
  std::string subnet;
  Loc loc, subnet_loc;
};

struct Tier {
  std::string id;
  std::string name;  // as written; "" when absent (ServerPrefix() uses the id)
  std::vector<Interface> interfaces;
  std::string role;  // a ServerRole id
  int min_servers = 0;
  int max_servers = kMaxServersPerTier;
  int init_servers = 0;
  Loc loc, role_loc, min_loc, max_loc, init_loc;

  // What the farm's servers of this tier are called after: the name, else the id.
  const std::string& ServerPrefix() const { return name.empty() ? id : name; }
};

struct ServerRole {
  std::string id;
  std::string name;
  std::string hw;  // the hardware type hosts are taken from the idle pool by
  std::vector<Disk> disks;
  std::vector<SharedDisk> shared_disks;
  Loc loc, hw_loc;
};

struct Subnet {
  std::string id;
  std::string name, ip, mask, vlan;  // "" unless given
  Loc loc;
};

struct FarmSpec {
  std::string file;     // the name used in messages
  std::string version;  // "1.1" or "1.2"
  // The <farm name=".."> attribute, else the file name without directory and
  // extension. The caller may overwrite it (vsl farm --name).
  std::string name;
  bool name_given = false;  // true when it came from <farm name="..">
  std::vector<Tier> tiers;
  std::vector<ServerRole> roles;
  std::vector<GlobalDisk> global_disks;
  std::vector<Subnet> subnets;
  Loc loc, name_loc;

  const ServerRole* FindRole(std::string_view id) const;
  const GlobalDisk* FindGlobalDisk(std::string_view global_name) const;
  const Subnet* FindSubnet(std::string_view id) const;
};

// Reads and validates an FML document. Text that is not UTF-8, or holds a
// control character XML does not allow, is refused at the first such byte. `file` is only used in messages and to
// derive the farm name.
Result<FarmSpec> Parse(std::string_view text, std::string_view file);
// Parse() of the contents of `path`; IoError when it cannot be read.
Result<FarmSpec> ParseFile(const std::string& path);

// The first check ReadXml makes, alone: OK when `text` is UTF-8 holding no
// control character XML forbids (tab, LF and CR are fine); otherwise
// InvalidArgument "file:line:column: not valid UTF-8 (byte \xNN); ..." at the
// first bad byte. For a client that must not pass bad text on (vsl farm).
Status CheckEncoding(std::string_view text, std::string_view file);

// The two halves of Parse(), for callers and tests that need one alone.
// ReadXml checks the syntax: well-formed XML, known elements and attributes,
// required attributes present, numbers and sizes well-formed.
Result<FarmSpec> ReadXml(std::string_view text, std::string_view file);
// Validate checks the meaning: references to roles, subnets and global disks
// resolve, ids are unique, targets are unique per role, server counts fit, and
// the names the planner builds from are usable. Assigns targets to disks given
// only by drivename.
Status Validate(FarmSpec* spec);

// A disk's backup-policy attribute (the seed's nightly / hourly, and
// level=N:nightly|hourly): which schedule runs it, and at which level
// (0: a full backup, 1: the blocks changed since the disk's last backup).
struct BackupPolicy {
  int level = 0;
  std::string schedule;  // "nightly" or "hourly"
};
// "nightly", "hourly", "level=0:nightly", "level=1:hourly" (a bare schedule
// is level 0; case and spaces around the parts do not matter).
// InvalidArgument saying what is expected otherwise.
Result<BackupPolicy> ParseBackupPolicy(std::string_view text);
// The policies of one disk together: each must parse, no schedule may be
// named twice, and a level 1 needs a level 0 on the same disk (an
// incremental builds on a full). InvalidArgument naming the policy.
Result<std::vector<BackupPolicy>> ParseBackupPolicies(const std::vector<std::string>& texts);

// Sizes: a whole number of megabytes ("8631"), or a number and a unit: KB, MB,
// GB, TB or KiB, MiB, GiB, TiB (case-insensitive; like the seed, a megabyte is
// 2^20 bytes, so MB and MiB are the same). Fails on anything else, on zero and
// on sizes above kMaxDiskSize.
Result<uint64_t> ParseSize(std::string_view text);
// The shortest exact rendering: "8 GiB", "8631 MiB", "1536 KiB", "100 bytes".
std::string FormatSize(uint64_t bytes);

// The farm name a file gets when <farm> has no name: "dir/two-tier.fml" -> "two-tier".
std::string FarmNameFromFile(std::string_view file);
// Farm, tier and server names must be usable in host and volume names: the
// rule every name in vsl follows (util/names.h): 1-63 of [A-Za-z0-9._-], not
// starting with '.' or '-'.
bool IsValidName(std::string_view name);

}  // namespace vsl::fml
