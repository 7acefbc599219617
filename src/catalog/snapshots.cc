#include "catalog/snapshots.h"

namespace vsl::catalog {

namespace {

constexpr const char* kSelect =
    "SELECT volume_id, source_id, name, created_ms, request_id FROM snapshots ";

SnapshotRecord FromRow(const Row& r) {
  return SnapshotRecord{r.Int(0), r.Int(1), r.Text(2), r.Int(3), r.Int(4)};
}

Result<std::optional<SnapshotRecord>> One(Tx& tx, const std::string& where,
                                          std::vector<Value> params) {
  VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne(kSelect + where, std::move(params)));
  if (!row) return std::optional<SnapshotRecord>();
  return std::optional<SnapshotRecord>(FromRow(*row));
}

}  // namespace

Status InsertSnapshot(Tx& tx, const SnapshotRecord& s) {
  VSL_ASSIGN_OR_RETURN(auto same, SnapshotByName(tx, s.source_id, s.name));
  if (same) {
    return AlreadyExists("disk " + std::to_string(s.source_id) + " has a snapshot named '" +
                         s.name + "' already (volume " + std::to_string(same->volume_id) + ")");
  }
  return tx
      .Exec(
          "INSERT INTO snapshots (volume_id, source_id, name, created_ms, request_id) VALUES (?, "
          "?, ?, ?, ?)",
          {s.volume_id, s.source_id, s.name, s.created_ms, s.request_id})
      .status();
}

Result<std::optional<SnapshotRecord>> GetSnapshot(Tx& tx, int64_t volume_id) {
  return One(tx, "WHERE volume_id = ?", {volume_id});
}

Result<std::optional<SnapshotRecord>> SnapshotByName(Tx& tx, int64_t source_id,
                                                     const std::string& name) {
  return One(tx, "WHERE source_id = ? AND name = ?", {source_id, name});
}

Result<std::optional<SnapshotRecord>> SnapshotOfRequest(Tx& tx, int64_t request_id) {
  return One(tx, "WHERE request_id = ?", {request_id});
}

Result<std::vector<SnapshotRecord>> SnapshotsOf(Tx& tx, int64_t source_id) {
  VSL_ASSIGN_OR_RETURN(auto rows, tx.Query(std::string(kSelect) +
                                               "WHERE source_id = ? ORDER BY created_ms, volume_id",
                                           {source_id}));
  std::vector<SnapshotRecord> out;
  for (const Row& r : rows) out.push_back(FromRow(r));
  return out;
}

Status DeleteSnapshotRow(Tx& tx, int64_t volume_id) {
  return tx.Exec("DELETE FROM snapshots WHERE volume_id = ?", {volume_id}).status();
}

}  // namespace vsl::catalog
