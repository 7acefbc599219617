// The catalog's record of BCV snapshots (table snapshots, issue 10): which
// unit holds a point in time of which disk, under what name. The BCV is an
// ordinary unit of the volumes table that moves through FIG. 7 like any
// other; this row only says whose snapshot it is, so `vsl disk snapshots`
// can list a disk's snapshots and release can tell a snapshot from a disk.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "catalog/db.h"
#include "util/status.h"

namespace vsl::catalog {

struct SnapshotRecord {
  int64_t volume_id = 0;  // the BCV
  int64_t source_id = 0;  // the disk it is a point in time of
  std::string name;       // unique per disk (util/names.h)
  int64_t created_ms = 0;
  int64_t request_id = 0;  // the request that made it
};

// AlreadyExists naming the disk when it has a snapshot of that name.
Status InsertSnapshot(Tx& tx, const SnapshotRecord& s);
Result<std::optional<SnapshotRecord>> GetSnapshot(Tx& tx, int64_t volume_id);
Result<std::optional<SnapshotRecord>> SnapshotByName(Tx& tx, int64_t source_id,
                                                     const std::string& name);
Result<std::optional<SnapshotRecord>> SnapshotOfRequest(Tx& tx, int64_t request_id);
// Oldest first.
Result<std::vector<SnapshotRecord>> SnapshotsOf(Tx& tx, int64_t source_id);
Status DeleteSnapshotRow(Tx& tx, int64_t volume_id);

}  // namespace vsl::catalog
