// BCV snapshots (issue 10): a disk's point in time in a unit of its own,
// mapped read-only beside the disk (split) and released (join), each step
// one of FIG. 7's transitions.
#include "catalog/snapshots.h"
#include "manager/operations.h"
#include "util/crash_point.h"
#include "util/names.h"

namespace vsl::manager {

using catalog::Actor;
using catalog::SnapshotRecord;
using catalog::Tx;
using catalog::Volume;

namespace {

std::string Num(int64_t v) { return std::to_string(v); }

Json SnapshotJson(const SnapshotRecord& r, uint64_t size) {
  return {{"snapshot", r.volume_id},
          {"volume", r.source_id},
          {"name", r.name},
          {"size", size},
          {"created_ms", r.created_ms}};
}

}  // namespace

Result<Json> Operations::Snapshot(int64_t unit, std::string name, const Actor& actor) {
  if (!name.empty()) VSL_RETURN_IF_ERROR(CheckName("snapshot name", name));
  AllocateArgs a;
  std::optional<SnapshotRecord> done;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    if (actor.request_id) {
      VSL_ASSIGN_OR_RETURN(done, catalog::SnapshotOfRequest(tx, *actor.request_id));
      if (done) return Status::Ok();
    }
    VSL_ASSIGN_OR_RETURN(Volume v, catalog_->GetVolume(tx, unit));
    if (v.parent_id) {
      return FailedPrecondition("volume " + Num(unit) + " is a member of meta volume " +
                                Num(*v.parent_id) + "; snapshot the meta volume");
    }
    VSL_ASSIGN_OR_RETURN(auto of_snapshot, catalog::GetSnapshot(tx, unit));
    if (of_snapshot) {
      return FailedPrecondition("volume " + Num(unit) + " is snapshot '" + of_snapshot->name +
                                "' of disk " + Num(of_snapshot->source_id) +
                                "; snapshot the disk instead");
    }
    // FIG. 7: a split is taken of a Mapped unit.
    VSL_RETURN_IF_ERROR(FindTransition(unit, v.state, DiskOp::kSnap).status());
    if (!name.empty()) {
      VSL_ASSIGN_OR_RETURN(auto same, catalog::SnapshotByName(tx, unit, name));
      if (same) {
        return AlreadyExists("disk " + Num(unit) + " has a snapshot named '" + name +
                             "' already (volume " + Num(same->volume_id) + ")");
      }
    }
    VSL_ASSIGN_OR_RETURN(auto members, Resolve(tx, v));
    a.size = v.size;
    a.farm_id = v.farm_id;
    a.array_id = members.front().volume.array_id;  // the same array: its own snap primitive applies
    return Status::Ok();
  }));
  uint64_t size = a.size;
  if (done) {
    Volume b;
    VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
      VSL_ASSIGN_OR_RETURN(b, catalog_->GetVolume(tx, done->volume_id));
      return Status::Ok();
    }));
    return SnapshotJson(*done, b.size);
  }
  VSL_ASSIGN_OR_RETURN(int64_t bcv, AllocateUnit(a, actor));
  util::CrashPoint("op.snapshot.allocated");  // the BCV is Configured and empty, nothing recorded
  SnapshotRecord rec;
  rec.volume_id = bcv;
  rec.source_id = unit;
  rec.name = name.empty() ? "snap-" + Num(bcv) : name;
  rec.created_ms = catalog_->NowMs();
  rec.request_id = actor.request_id.value_or(0);
  Status s = Snap(unit, bcv, actor, [&](Tx& tx) { return catalog::InsertSnapshot(tx, rec); });
  if (!s.ok()) {
    (void)Free(bcv, actor);  // the failed BCV is Unconfigured: back to the pool, scrubbed
    return s;
  }
  return SnapshotJson(rec, size);
}

Status Operations::SnapshotMap(int64_t snap, const std::string& host, int64_t lun,
                               const Actor& actor) {
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(auto rec, catalog::GetSnapshot(tx, snap));
    if (!rec)
      return NotFound("volume " + Num(snap) +
                      " is no snapshot (vsl disk snapshots DISK lists them)");
    return Status::Ok();
  }));
  // Read-only: a snapshot is a point in time, and a host that writes it
  // would make it something else.
  VSL_RETURN_IF_ERROR(Bind(snap, host, lun, std::nullopt, actor, /*read_only=*/true));
  return Map(snap, host, actor);
}

Status Operations::SnapshotRelease(int64_t snap, const Actor& actor) {
  std::optional<SnapshotRecord> rec;
  Volume v;
  std::vector<catalog::Binding> bindings;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(rec, catalog::GetSnapshot(tx, snap));
    if (!rec)
      return NotFound("volume " + Num(snap) +
                      " is no snapshot (vsl disk snapshots DISK lists them)");
    VSL_ASSIGN_OR_RETURN(v, catalog_->GetVolume(tx, snap));
    VSL_ASSIGN_OR_RETURN(bindings, catalog_->BindingsOfVolume(tx, snap));
    return Status::Ok();
  }));
  bool mapped = false;
  for (const auto& b : bindings) mapped = mapped || b.mapped;
  if (mapped) VSL_RETURN_IF_ERROR(Unmap(snap, std::nullopt, actor));
  if (!bindings.empty()) VSL_RETURN_IF_ERROR(Unbind(snap, std::nullopt, actor));
  util::CrashPoint("op.snapshot-release.unbound");  // no host sees it, its data not yet scrubbed
  // The row goes only once the BCV is Free: a re-run after a crash finds
  // the row and finishes the free (a Free unit stays Free).
  VSL_RETURN_IF_ERROR(Free(snap, actor));
  return catalog_->Write([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(Volume src, catalog_->GetVolume(tx, rec->source_id));
    if (src.bcv_id == snap) {
      catalog::VolumeUpdate u;
      u.bcv_id = std::optional<int64_t>();
      VSL_RETURN_IF_ERROR(catalog_->UpdateVolume(tx, src.id, src.state, u));
    }
    return catalog::DeleteSnapshotRow(tx, snap);
  });
}

}  // namespace vsl::manager
