// FarmRecord: what the farm manager remembers about one farm beyond the
// catalog's rows (which host plays which server, which unit is which FML
// disk, backup policies, the last failure). Stored as one JSON document per
// farm in the catalog's database (table farm_records, created on first use),
// rewritten after every step of an apply, so a failed apply leaves a record
// of exactly what exists.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "farm/plan.h"
#include "manager/backup_schedule.h"

namespace vsl::farm {

struct DiskRecord {
  int target = -1;
  std::string drivename, drivetype, image, raid_level;
  uint64_t size_bytes = 0;
  int64_t unit = 0;  // the catalog volume (a meta volume) that is this disk
  std::vector<std::string> backup_policies;
  bool bound = false, mapped = false;
  // The unit's limits as the catalog has them (Reconcile reads them; not
  // kept in the record's JSON: the catalog is their one home).
  std::string qos;
  std::string cache;  // the read cache policy likewise: "read", or "" for none
};

struct ServerRecord {
  std::string name, role, hw, host;
  bool powered_on = false;
  std::vector<DiskRecord> disks;
};

struct GlobalDiskRecord {
  std::string global_name, drivetype, raid_level;
  uint64_t size_bytes = 0;
  int64_t unit = 0;
  std::vector<std::string> backup_policies;
  std::string qos;  // as DiskRecord::qos
  std::string cache;  // as DiskRecord::cache
};

struct FarmRecord {
  int64_t farm_id = 0;
  std::string name;
  // "applying", "ready", "failed", "destroying", "destroyed"
  std::string state = "applying";
  std::string last_error;  // why the last apply or destroy stopped; "" when it finished
  std::vector<ServerRecord> servers;
  std::vector<GlobalDiskRecord> global_disks;
  std::vector<SharedDiskMapping> shared_disks;
  // Units a failed step could not give back; the next apply frees them first.
  std::vector<int64_t> leftovers;

  ServerRecord* FindServer(const std::string& name);
  DiskRecord* FindDisk(const std::string& server, int target);
  GlobalDiskRecord* FindGlobal(const std::string& global_name);
  // The planner's view (volume_ids = {unit}); `pool` is added as given.
  FarmState ToState(std::vector<IdleHost> pool) const;
};

nlohmann::json ToJson(const FarmRecord& r);
Result<FarmRecord> FarmRecordFromJson(const nlohmann::json& j);

// Persistence inside the caller's transaction.
Status EnsureRecordTable(catalog::Catalog& catalog);
Result<std::optional<FarmRecord>> LoadRecord(catalog::Tx& tx, int64_t farm_id);
Status StoreRecord(catalog::Tx& tx, const FarmRecord& r);
Status DeleteRecord(catalog::Tx& tx, int64_t farm_id);

// What the backup scheduler runs (manager/backup_schedule.h): every disk
// and global disk of a ready farm that has backup policies, parsed (FML
// validation refused bad ones; a record that still holds one is skipped).
// The record table must exist (FarmManager::Init; creating it here too
// would race that CREATE on PostgreSQL).
Result<std::vector<manager::ScheduledDisk>> ScheduledDisks(catalog::Catalog& catalog);

}  // namespace vsl::farm
