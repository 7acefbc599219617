// Operations: what the storage manager's workers run for each request
// (FIG. 8's Request Processor and its Storage Integration Layer programs).
//
// Each operation reads the catalog, drives the arrays (and the gateway
// through a MapTarget) outside any transaction, and then records the outcome
// with DiskStateMachine transitions in one transaction. Every operation is
// idempotent: run again after a crash at any point, it finishes the job or
// finds it done. A failure moves the unit along FIG. 7's failure arc and
// leaves nothing behind (grants revoked, bindings removed).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "array/array.h"
#include "catalog/catalog.h"
#include "manager/disk_state.h"
#include "manager/map_target.h"

namespace vsl::manager {

using Json = nlohmann::json;

class BackupOps;

// The arrays this process can reach, by name. Thread-safe.
class ArraySet {
 public:
  void Add(std::shared_ptr<array::StorageArray> a);
  // NotFound naming the array.
  Result<std::shared_ptr<array::StorageArray>> Find(const std::string& name) const;
  std::vector<std::shared_ptr<array::StorageArray>> All() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<array::StorageArray>> arrays_;  // guarded by mu_
};

struct AllocateArgs {
  uint64_t size = 0;          // bytes; rounded up to whole blocks
  std::string type = "disk";  // volumes.type
  catalog::Qualities qualities;  // every one must match the volume's
  std::optional<int64_t> farm_id;
  // Make a meta volume even of a single member, so that the unit can grow
  // in place later (Grow adds members; a plain volume cannot).
  bool meta = false;
  // Only from this array (an image's master copy for a pool that clones).
  std::optional<int64_t> array_id;
};

struct DiscoveryResult {
  int arrays = 0;
  int added = 0;       // volumes new to the catalog
  int vanished = 0;    // volumes the arrays no longer report
  int reappeared = 0;  // vanished ones that are back
};

class Operations {
 public:
  // All pointers must outlive the Operations. `gateway_initiator` is the
  // name the arrays grant access to when a unit is bound.
  Operations(catalog::Catalog* catalog, ArraySet* arrays, MapTarget* target, std::string gateway_initiator);

  // Runs the request operation `op` with JSON `args`, returning its JSON
  // result. The ops and their args:
  //   discover {array?}                    -> {arrays, added, vanished, reappeared}
  //   allocate {size, type?, qualities?, farm?} -> {volumes: [id...], size}
  //   make-meta {volumes: [id...], meta?} -> {volume}
  //   break-meta {volume}                  -> {}
  //   copy {volume, image? | source?}      -> {}
  //   snap {volume, bcv}                   -> {}
  //   snapshot {volume, name?}             -> {snapshot, volume, name, size, created_ms}
  //   snapshot-map {volume (a snapshot), host, lun} -> {snapshot, host, lun}
  //   snapshot-release {volume (a snapshot)} -> {snapshot}
  //   bind {volume, host, lun, target?, read_only?} -> {}
  //   map {volume, host?}                  -> {}
  //   unmap {volume, host?}                -> {}
  //   unbind {volume, host?}               -> {}
  //   grow {volume, size, qualities?}      -> {volume, size, members: [id...]}
  //   migrate {volume, qualities, rate?}  -> {volume, moved, members, from, bytes_copied, passes, seconds}
  //   scrub {volume}                       -> {}
  //   free {volume}                        -> {}
  //   flatten {volume}                     -> {}
  //   import-image {name, file}            -> {image, volume, size, sha256}
  //   remove-image {name}                  -> {volume}
  //   allocate-unit {size, type?, qualities?, farm?, meta?} -> {volume}
  //   qos {volume, qos: "iops=N,..." ("" clears)} -> {volume, qos}
  //   cache {volume, cache: "none"|"read"}  -> {volume, cache}
  //   backup, backup-restore               (backup_ops.h)
  // InvalidArgument for an unknown op or malformed args.
  Result<Json> Run(const std::string& op, const Json& args, const catalog::Actor& actor);

  Result<DiscoveryResult> Discover(const std::optional<std::string>& array, const catalog::Actor& actor);
  // Free volumes now Allocated, in member order: from storage with every
  // quality asked for, preferring storage with the fewest qualities beyond
  // those (so a disk that asks for nothing leaves raid=0+1 arrays to those
  // that do, while plain storage has room). With actor.request_id, a second
  // run of the same request returns what the first one took.
  Result<std::vector<int64_t>> Allocate(const AllocateArgs& args, const catalog::Actor& actor);
  // One volume: it becomes Configured itself (unless `meta`). Several, or
  // one with `meta`: a new meta volume, Configured, with them as members in
  // the order given. Returns the unit.
  Result<int64_t> MetaCreate(const std::vector<int64_t>& members, const catalog::Actor& actor, bool meta = false);
  // Allocate + MetaCreate; gives the allocation back when MetaCreate fails.
  Result<int64_t> AllocateUnit(const AllocateArgs& args, const catalog::Actor& actor);
  // The unit (with its members) becomes Unconfigured. A meta volume's
  // members leave it, and its row is deleted, when it is deallocated (Free),
  // in the same transaction that frees them.
  Status MetaBreak(int64_t unit, const catalog::Actor& actor);
  // Makes `unit` a copy of an image's master volume or of another unit.
  // An image onto a single volume of an array that clones (rbd) becomes a
  // copy-on-write clone of the image's master in that pool: its own master
  // when it lies there, otherwise the image's master copy on that array,
  // made (copied) the first time a disk there needs it and recorded in
  // image_masters. The catalog records each clone's master (clones).
  Status CopyImage(int64_t unit, const std::string& image, const catalog::Actor& actor);
  Status CopyVolume(int64_t unit, int64_t source, const catalog::Actor& actor);
  // Point-in-time copy of Mapped `unit` into Configured `bcv`. A unit the
  // gateway serves from files is read through its copy-on-write view
  // (MapTarget::OpenBackupInstant with no tag: the backups' change map is
  // left alone), so its hosts wait at most for a flush; otherwise the
  // array's own Snap (an RBD clone of a snapshot, a reflink or a copy).
  // `record` runs in the transaction that records the snap.
  Status Snap(int64_t unit, int64_t bcv, const catalog::Actor& actor,
              const std::function<Status(catalog::Tx&)>& record = {});
  // The BCV snapshots of issue 10 (catalog/snapshots.h). Snapshot: a new
  // unit of `unit`'s size on the array of its first member, Snapped from
  // Mapped `unit` and recorded under `name` (default "snap-<unit id of the
  // BCV>"); a re-run of the request finds what its first run made.
  Result<Json> Snapshot(int64_t unit, std::string name, const catalog::Actor& actor);
  // Binds snapshot `snap` read-only to `host` at `lun` and maps it (split).
  Status SnapshotMap(int64_t snap, const std::string& host, int64_t lun, const catalog::Actor& actor);
  // Unmaps and unbinds the snapshot, scrubs and frees it (join), and drops
  // its row; the source's bcv_id no longer names it. A re-run finishes it.
  Status SnapshotRelease(int64_t snap, const catalog::Actor& actor);
  // Binds the unit to `host` at `lun`. With `read_only` the host may read
  // but not write (the gateway's LU is write-protected). An image's master
  // volume is bound only read-only, to any number of hosts; a unit's
  // bindings are all read-only or all read-write (FailedPrecondition naming
  // the other host otherwise).
  Status Bind(int64_t unit, const std::string& host, int64_t lun, std::optional<int64_t> target,
              const catalog::Actor& actor, bool read_only = false);
  // The checks of Bind that no queued request can make pass later: the
  // unit and host exist, an image master is bound read-only, the unit's
  // other hosts have the same mode. For callers that refuse such a bind
  // before queueing it; Bind checks everything again.
  Status CheckBindMode(int64_t unit, const std::string& host, bool read_only);
  // Without `host`: every binding goes and the arrays stop granting the
  // gateway access. With `host`: only that host's binding goes; when other
  // hosts still hold the unit it stays as it is for them (unbind-partial).
  // The host's binding must not be mapped.
  Status Unbind(int64_t unit, const std::optional<std::string>& host, const catalog::Actor& actor);
  // Makes meta unit `unit` at least `size` bytes: free volumes matching
  // `qualities` are allocated and concatenated at its end, granted to the
  // gateway when the unit is bound, and a mapped unit's hosts are told
  // (MapTarget::Grow). Never shrinks: a unit of at least `size` bytes is
  // left as it is (a mapped one is announced again, for a re-run whose first
  // run died before telling the gateway). Returns the unit's size.
  Result<uint64_t> Grow(int64_t unit, uint64_t size, const catalog::Qualities& qualities,
                        const catalog::Actor& actor);
  // Live migration (docs/migration.md): meta unit `unit` (Configured, Bound
  // or Mapped) moves onto new volumes of its size that have `qualities`,
  // allocated for this request (a re-run finds them). A mapped unit is
  // copied by the gateway while its hosts write (MapTarget::Migrate, paced
  // to `rate` bytes/s, 0 unpaced), another one copied here; one catalog
  // transaction, run with the hosts' writes held, makes the new volumes
  // the unit's members (it keeps its id, so its SCSI identity) and moves
  // the old ones out (unmap, unbind or break-meta); then they are revoked,
  // scrubbed and freed. Until that transaction the old members are the
  // disk; a failure gives the new ones back (scrubbed, freed). A unit
  // whose members all have `qualities` already is left alone (moved:
  // false). A re-run of the request after a crash redoes the copy, or,
  // the switch being recorded, finishes freeing the old members.
  Result<Json> Migrate(int64_t unit, const catalog::Qualities& qualities, uint64_t rate, const catalog::Actor& actor);
  // A migrate request that failed for good (its error, or abandoned by the
  // queue after its workers kept dying) gives back the destinations it had
  // allocated and not yet made members: volumes tagged with `request_id`
  // that are Allocated, Unconfigured or Scrubbing and belong to no unit are
  // revoked, scrubbed and freed. Returns their ids; none is not an error.
  Result<std::vector<int64_t>> MigrateGiveBack(int64_t request_id, const catalog::Actor& actor);
  // MigrateGiveBack for every failed migrate request that still holds such
  // volumes (the storage manager runs it when idle). Returns the ids freed.
  Result<std::vector<int64_t>> MigrateReclaim(const catalog::Actor& actor);
  // The unit's limits (util/qos.h) become `limits` (empty: none): recorded
  // in the catalog, then given to the gateway, which holds a mapped unit's
  // hosts to them at once. FailedPrecondition for a member of a meta volume
  // (limits belong to the unit) and for a Free or Scrubbing volume.
  Status SetQos(int64_t unit, const QosLimits& limits, const catalog::Actor& actor);
  // The unit's read cache policy becomes `policy` ("none" or "read"):
  // recorded in the catalog, then given to the gateway, which applies it to
  // a mapped unit at once. Refused as SetQos is.
  Status SetCache(int64_t unit, const std::string& policy, const catalog::Actor& actor);
  // Maps the unit's bindings (only `host`'s when given) through the MapTarget.
  Status Map(int64_t unit, const std::optional<std::string>& host, const catalog::Actor& actor);
  Status Unmap(int64_t unit, const std::optional<std::string>& host, const catalog::Actor& actor);
  // Wipes the unit and reads it back; it returns to Unbound/Unconfigured clean.
  Status Scrub(int64_t unit, const catalog::Actor& actor);
  // Back to Free: breaks a meta volume, scrubs what may hold data, deallocates.
  Status Free(int64_t unit, const catalog::Actor& actor);
  // Detaches clone `unit` from its image master: the array gives it its own
  // copy of every block; afterwards it is a plain disk, no longer counted as
  // the image's (the image can be removed while it lives). FailedPrecondition
  // when the unit is no clone or is mapped (the gateway holds its lock).
  Status Flatten(int64_t unit, const catalog::Actor& actor);
  // Copies a raw image file onto a new master volume and records the image.
  // `tenant`: the tenant whose image it is (catalog/tenants.h), set in the
  // same transaction that adds the image; nullopt: the admin's, shared.
  Result<catalog::Image> ImportImage(const std::string& name, const std::string& file, const catalog::Actor& actor,
                                     std::optional<int64_t> tenant = std::nullopt);
  // Removes the image and frees (scrubs) its master volume; returns the
  // master's id. FailedPrecondition while the master is bound to a host
  // (naming the hosts) or other volumes record copies of the image (naming
  // them). A re-run of the same request after a crash finishes the free.
  Result<std::optional<int64_t>> RemoveImage(const std::string& name, const catalog::Actor& actor);
  // RemoveImage's refusals, now, without changing anything.
  Status CheckImageRemovable(const std::string& name);

  // Tells the MapTarget the catalog's view of host `name`: its credentials
  // and exactly the LUNs of its mapped bindings; when the catalog has no
  // such host, that it is gone. The one place where catalog hosts become
  // the gateway's.
  Status SyncHost(const std::string& name);
  // SyncHost for every host of the catalog; returns how many. With
  // `skipped`, a host that cannot be loaded (a LUN on an array that is
  // disconnected, an image the gateway cannot open) is left out and named
  // there with the reason, and the others are loaded; without, the first
  // such host fails the call.
  Result<int> SyncHosts(std::vector<std::pair<std::string, Status>>* skipped = nullptr);
  std::string TargetName(const std::string& host) { return target_->TargetName(host); }

  // Where "backup" and "backup-restore" go (backup_ops.h); without one they
  // fail with FailedPrecondition (vsl serve without --backup-dir).
  void set_backups(BackupOps* b) { backups_ = b; }

  catalog::Catalog& catalog() { return *catalog_; }
  DiskStateMachine& machine() { return machine_; }

  // One piece of a unit: a volume on an array.
  struct Member {
    catalog::Volume volume;
    std::shared_ptr<array::StorageArray> array;
  };
  // The unit's members in order (the unit itself when it is not a meta volume).
  Result<std::vector<Member>> Resolve(catalog::Tx& tx, const catalog::Volume& unit);
  Result<std::vector<Member>> Resolve(int64_t unit);

 private:
  struct BindPlan {
    catalog::Volume volume;
    catalog::Host host;
    DiskOp op = DiskOp::kBind;
    bool done = false;  // this very binding exists (a re-run)
  };
  Status CheckSameMode(catalog::Tx& tx, int64_t unit, const std::vector<catalog::Binding>& existing,
                       const std::string& host, bool read_only);
  Status ImageRemovable(catalog::Tx& tx, const catalog::Image& image);
  Result<BindPlan> PlanBind(catalog::Tx& tx, int64_t unit, const std::string& host, int64_t lun, bool read_only);
  Status CopyUnit(int64_t unit, int64_t source, DiskOp op, const catalog::Actor& actor,
                  std::optional<int64_t> image_id);
  // The master volume of `image` that `unit` can be a clone of (making the
  // image's master copy on the unit's array when needed); nullopt: copy.
  Result<std::optional<int64_t>> CloneSource(int64_t unit, const catalog::Image& image, const catalog::Actor& actor);
  Result<int64_t> MakeArrayMaster(const catalog::Image& image, int64_t array_id, const catalog::Actor& actor);
  Status CloneUnit(int64_t unit, int64_t master, const catalog::Image& image, const catalog::Actor& actor);
  Result<std::vector<int64_t>> AllocateOnce(const AllocateArgs& args, const catalog::Actor& actor);
  Status RevokeAll(const std::vector<Member>& members);
  // Migrate's pieces (migrate_ops.cc).
  Status MigrateCopy(const catalog::Volume& unit, const std::vector<Member>& from, const std::vector<Member>& to,
                     uint64_t rate, const std::function<Status()>& commit, Json& out, const catalog::Actor& actor);
  Status MigrateSwitch(catalog::Tx& tx, const catalog::Volume& unit, const std::vector<Member>& from,
                       const std::vector<Member>& to, const catalog::Qualities& qualities,
                       const catalog::Actor& actor);
  // Revokes, scrubs and frees the volumes this request left behind (the
  // unit's old members, a destination given back halfway); returns their ids.
  Result<std::vector<int64_t>> MigrateCleanup(int64_t unit, const catalog::Actor& actor);
  // The switch of an earlier migrate request of `unit` was recorded and the
  // gateway did not make it: the gateway, still on the old members, is moved
  // onto the unit's members (copying what its hosts wrote since), then the
  // old members (tagged with that request, kept unbound) are revoked,
  // scrubbed and freed. Returns their ids; none when nothing is left over.
  Result<std::vector<int64_t>> MigrateRepair(const catalog::Volume& unit,
                                             const std::vector<Member>& members, uint64_t rate,
                                             const catalog::Actor& actor);
  Status FreeSingle(int64_t id, const catalog::Actor& actor);
  Result<MapHost> HostForTarget(catalog::Tx& tx, int64_t host_id);
  // The limits the catalog records for unit `v`.
  Result<QosLimits> UnitQos(const catalog::Volume& v);
  // Where a unit's bytes lie, member after member (empty when the arrays
  // cannot say).
  Result<std::vector<volume::Extent>> Extents(const std::vector<Member>& members);

  catalog::Catalog* catalog_;
  BackupOps* backups_ = nullptr;
  ArraySet* arrays_;
  MapTarget* target_;
  std::string gateway_initiator_;
  DiskStateMachine machine_;
  // Serializes the making of image master copies in this process, so that
  // the disks of one farm arriving together make one per array.
  std::mutex masters_mu_;
};

// Copies src (a sequence of members) onto dst (another), byte for byte,
// reading only the ranges src's arrays report as mapped; dst is deallocated
// first, so it ends as src followed by zeros. OutOfRange when src is bigger.
Status CopyMembers(const std::vector<Operations::Member>& src, const std::vector<Operations::Member>& dst);
// Reads every mapped range of the members back and checks it is zero.
// DataLoss naming the volume and offset of the first non-zero byte.
Status VerifyZero(const std::vector<Operations::Member>& members);

}  // namespace vsl::manager
