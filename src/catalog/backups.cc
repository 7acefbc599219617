#include "catalog/backups.h"

namespace vsl::catalog {

namespace {

constexpr const char* kColumns =
    "id, volume_id, disk, farm, server, level, parent, state, mode, bytes_stored, disk_size, request_id, "
    "started_ms, finished_ms, error";

BackupRecord FromRow(const Row& r) {
  BackupRecord b;
  b.id = r.Text(0);
  b.volume_id = r.OptInt(1);
  b.disk = r.Text(2);
  b.farm = r.Text(3);
  b.server = r.Text(4);
  b.level = static_cast<int>(r.Int(5));
  b.parent = r.Text(6);
  b.state = r.Text(7);
  b.mode = r.Text(8);
  b.bytes_stored = r.Int(9);
  b.disk_size = r.Int(10);
  b.request_id = r.Int(11);
  b.started_ms = r.Int(12);
  b.finished_ms = r.Int(13);
  b.error = r.Text(14);
  return b;
}

}  // namespace

const char* BackupStateName(BackupState s) {
  switch (s) {
    case BackupState::kRunning: return "running";
    case BackupState::kComplete: return "complete";
    case BackupState::kFailed: return "failed";
  }
  return "?";
}

Status InsertBackup(Tx& tx, const BackupRecord& b) {
  return tx
      .Exec(std::string("INSERT INTO backups (") + kColumns +
                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            {b.id, Opt(b.volume_id), b.disk, b.farm, b.server, int64_t{b.level}, b.parent, b.state,
             b.mode, b.bytes_stored, b.disk_size, b.request_id, b.started_ms, b.finished_ms,
             b.error})
      .status();
}

Status CompleteBackup(Tx& tx, const std::string& id, int64_t bytes_stored, int64_t now_ms) {
  VSL_ASSIGN_OR_RETURN(int64_t n, tx.Exec("UPDATE backups SET state = 'complete', bytes_stored = ?, finished_ms = ? "
                                          "WHERE id = ? AND state = 'running'",
                                          {bytes_stored, now_ms, id}));
  if (n == 0) return FailedPrecondition("backup " + id + " is not running");
  return Status::Ok();
}

Status FailBackup(Tx& tx, const std::string& id, const std::string& error, int64_t now_ms) {
  return tx
      .Exec("UPDATE backups SET state = 'failed', error = ?, finished_ms = ? WHERE id = ? AND state = 'running'",
            {error, now_ms, id})
      .status();
}

Result<int64_t> FailRunningBackups(Tx& tx, int64_t request_id, const std::string& error, int64_t now_ms) {
  if (request_id == 0) {
    return tx.Exec("UPDATE backups SET state = 'failed', error = ?, finished_ms = ? WHERE state = 'running'",
                   {error, now_ms});
  }
  return tx.Exec(
      "UPDATE backups SET state = 'failed', error = ?, finished_ms = ? WHERE state = 'running' AND request_id = ?",
      {error, now_ms, request_id});
}

Result<std::optional<BackupRecord>> GetBackup(Tx& tx, const std::string& id) {
  VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne(std::string("SELECT ") + kColumns + " FROM backups WHERE id = ?", {id}));
  if (!row) return std::optional<BackupRecord>();
  return std::optional<BackupRecord>(FromRow(*row));
}

Result<std::vector<BackupRecord>> ListBackups(Tx& tx, const BackupFilter& f) {
  std::string sql = std::string("SELECT ") + kColumns + " FROM backups WHERE 1 = 1";
  std::vector<Value> params;
  if (f.volume_id) {
    sql += " AND volume_id = ?";
    params.emplace_back(*f.volume_id);
  }
  if (f.farm) {
    sql += " AND farm = ?";
    params.push_back(*f.farm);
  }
  if (f.state) {
    sql += " AND state = ?";
    params.push_back(*f.state);
  }
  sql += " ORDER BY started_ms, id";
  VSL_ASSIGN_OR_RETURN(Rows rows, tx.Query(sql, params));
  std::vector<BackupRecord> out;
  for (const Row& r : rows) out.push_back(FromRow(r));
  return out;
}

Result<std::optional<BackupRecord>> LatestBackup(Tx& tx, int64_t volume_id) {
  VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne(std::string("SELECT ") + kColumns +
                                                 " FROM backups WHERE volume_id = ? AND state = 'complete' "
                                                 "ORDER BY started_ms DESC, id DESC LIMIT 1",
                                             {volume_id}));
  if (!row) return std::optional<BackupRecord>();
  return std::optional<BackupRecord>(FromRow(*row));
}

Status DeleteBackupRow(Tx& tx, const std::string& id) {
  return tx.Exec("DELETE FROM backups WHERE id = ?", {id}).status();
}

}  // namespace vsl::catalog
