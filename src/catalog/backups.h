// The catalog's record of the backups `vsl serve` runs (table backups,
// migration 7). The backup store (src/backup) is the truth about what a
// backup holds; this row says who asked, how it went and how it was found
// (mode), so the API can list backups by farm and disk without reading the
// store, and a restart can tell a backup that died mid-way.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "catalog/db.h"
#include "util/status.h"

namespace vsl::catalog {

// running -> complete | failed; nothing else moves.
enum class BackupState { kRunning, kComplete, kFailed };
const char* BackupStateName(BackupState s);

struct BackupRecord {
  std::string id;                  // the store's id
  std::optional<int64_t> volume_id;  // the disk (unit)
  std::string disk, farm, server;  // names at the time of the backup
  int level = 0;
  std::string parent;              // "" for a level 0
  std::string state = "running";   // BackupStateName
  std::string mode = "full";       // full | map | checksum
  int64_t bytes_stored = 0;
  int64_t disk_size = 0;
  int64_t request_id = 0;
  int64_t started_ms = 0;
  int64_t finished_ms = 0;
  std::string error;
};

struct BackupFilter {
  // Initialized so that a designated initializer may name only the filters it sets.
  std::optional<int64_t> volume_id{};
  std::optional<std::string> farm{};
  std::optional<std::string> state{};
};

Status InsertBackup(Tx& tx, const BackupRecord& b);
// running -> complete (with bytes and the finish time).
Status CompleteBackup(Tx& tx, const std::string& id, int64_t bytes_stored, int64_t now_ms);
// running -> failed; a row already complete or failed is left as it is.
Status FailBackup(Tx& tx, const std::string& id, const std::string& error, int64_t now_ms);
// Every running backup of `request_id` (or of every request when 0) failed
// with `error`: what a crashed run left. Returns how many.
Result<int64_t> FailRunningBackups(Tx& tx, int64_t request_id, const std::string& error, int64_t now_ms);
Result<std::optional<BackupRecord>> GetBackup(Tx& tx, const std::string& id);
// Oldest first.
Result<std::vector<BackupRecord>> ListBackups(Tx& tx, const BackupFilter& f = {});
// The disk's latest complete backup.
Result<std::optional<BackupRecord>> LatestBackup(Tx& tx, int64_t volume_id);
Status DeleteBackupRow(Tx& tx, const std::string& id);

}  // namespace vsl::catalog
