// Backups that run (issue 10, file arrays): the request ops "backup" and
// "backup-restore" over the backup store (src/backup), reading a mapped unit
// through the gateway's point-in-time view and its change map, an unmapped
// one through its extents.
//
//   backup {volume, level?}                  -> {backup, level, parent, mode, bytes_stored, ...}
//   backup-restore {backup, volume, force?}  -> {backup, volume, bytes_written, chain, hosts_told, held_writes}
//
// A backup is one instant of the disk: the gateway's write gate is taken,
// the volume flushed and the copy-on-write view opened (a host waits at
// most for that flush); its change map is taken and cleared at that same
// instant. A level 1 uses the map ("mode": "map") only when the map counted
// from exactly its parent's instant; otherwise it compares checksums with
// the parent chain ("mode": "checksum"). The store lists a backup only once
// it is complete; the catalog row (catalog/backups.h) is running until then
// and failed when the run fails or dies (the request's next run, or the
// next start, marks it).
//
// A unit with RBD members (backup_rbd.cc) reads an RBD snapshot of each
// member image, "vsl-bk-<backup id>", made at the instant (mapped: under
// the LU's write gate through the gateway's handles; its file members, if
// any, through the copy-on-write view of that same instant). A level 1
// takes the changed blocks from rbd_diff_iterate2 between the parent's
// snapshot and the new one ("mode": "rbd-diff"; "rbd-diff+map" with file
// members whose change map counts from the parent), else compares
// checksums and says why. Only the latest complete backup's snapshot is
// kept: each run first removes other vsl-bk-* snapshots (those of failed
// or killed runs), a complete one removes its parent's, a failed one its
// own.
//
// A destructive restore onto a mapped disk is refused while one of its
// hosts is powered on (set_power_probe), unless forced. Whenever the disk
// is mapped, the hosts' writes are held (MapTarget::HoldWrites) from the
// first byte written until the last is durable, and their sessions then
// get MEDIUM MAY HAVE CHANGED before any command runs on the new content.
// A restore that dies half-way is no restore: the request runs again and
// writes every byte again (the events say "complete" only at the end).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "backup/store.h"
#include "manager/operations.h"
#include "volume/volume.h"

namespace vsl::manager {

// A backup source's progress: `report(offset reached)` once per 256 MiB read.
class ReadProgress {
 public:
  explicit ReadProgress(std::function<void(uint64_t)> report) : report_(std::move(report)) {}
  void Read(uint64_t offset, uint64_t bytes) {
    read_ += bytes;
    if (read_ < next_) return;
    next_ = read_ + kEvery;
    if (report_) report_(offset + bytes);
  }

 private:
  static constexpr uint64_t kEvery = uint64_t{256} << 20;
  std::function<void(uint64_t)> report_;
  uint64_t read_ = 0;
  uint64_t next_ = kEvery;
};

class BackupOps {
 public:
  // `ops` and `target` must outlive this. `changemap_dir`: where change
  // maps are saved on a clean stop (DATA/changemaps).
  BackupOps(Operations* ops, MapTarget* target, std::unique_ptr<backup::Store> store, std::string changemap_dir);

  // The ops above; InvalidArgument for others.
  Result<Json> Run(const std::string& op, const Json& args, const catalog::Actor& actor);
  static bool Handles(const std::string& op) { return op == "backup" || op == "backup-restore"; }

  backup::Store& store() { return *store_; }
  // Whether host `name` is powered on (the farm manager's power
  // controller). A destructive restore onto a disk mapped to a powered-on
  // host is refused unless forced. `vsl serve` sets it as the farm routes
  // attach, before the workers start; without one every mapped host counts
  // as on.
  void set_power_probe(std::function<bool(const std::string& name)> probe) {
    std::lock_guard l(mu_);
    power_probe_ = std::move(probe);
  }
  // FailedPrecondition naming the backup (or restore) that works on
  // `unit` now, in any process (the catalog's running rows) or this one.
  Status CheckIdle(int64_t unit);

  // Saves the change map of every mapped unit that has one (a clean stop);
  // returns how many.
  int SaveChangeMaps();
  // Hands what SaveChangeMaps left to the target (and deletes the files),
  // to be loaded when each unit is opened: call before the hosts are set,
  // so no host writes a unit before its map counts. A map that fails to
  // load is dropped (the next level 1 compares checksums). Returns how many.
  int LoadChangeMaps();
  // Catalog rows still running whose request is no longer running (a
  // crashed run) become failed. Returns how many.
  Result<int64_t> FailOrphans();

 private:
  // Marks `unit` busy for one backup or restore of this process until it
  // goes; FailedPrecondition when one already works on it.
  class BusyClaim {
   public:
    BusyClaim(BackupOps* self, int64_t unit) : self(self), unit(unit) {}
    BusyClaim(BusyClaim&& o) noexcept : self(std::exchange(o.self, nullptr)), unit(o.unit) {}
    BusyClaim(const BusyClaim&) = delete;
    BusyClaim& operator=(const BusyClaim&) = delete;
    BusyClaim& operator=(BusyClaim&&) = delete;
    ~BusyClaim();

   private:
    BackupOps* self;
    int64_t unit;
  };
  Result<BusyClaim> Claim(int64_t unit);
  Result<Json> Backup(int64_t unit, int level, const catalog::Actor& actor);
  Result<Json> Restore(const std::string& id, int64_t unit, bool force, const catalog::Actor& actor);
  void Event(int64_t unit, const std::string& op, const catalog::Actor& actor, const std::string& detail);

  // ---- RBD members (backup_rbd.cc) ----
  // The snapshot of every member image that backup `backup_id` reads.
  static std::string RbdSnapName(const std::string& backup_id);
  // The unit's extents when some lie on RBD images; nullopt when none does
  // (or an array can't say where its volumes lie).
  static Result<std::optional<std::vector<volume::Extent>>> RbdUnitExtents(
      const std::vector<Operations::Member>& members);
  // What a backup reads, at one instant, of a unit with RBD members.
  struct Instant {
    std::unique_ptr<backup::Source> source;
    std::string mode;  // full, rbd-diff, rbd-diff+map or checksum
    std::string why;   // why checksum, for a level 1
    std::vector<backup::ByteRange> changed;  // rbd-diff*: what to store
    // The handle the snapshots are made and removed through (the
    // gateway's volume when mapped; else one holding the images' locks).
    std::shared_ptr<volume::MetaVolume> handle;
    std::string snap;
  };
  // Removes stray vsl-bk-* snapshots (keeping `parent`'s), makes the
  // instant's snapshot "vsl-bk-<id>" and opens it; for a level 1 the
  // changed ranges since `parent`'s snapshot.
  Result<Instant> RbdInstant(int64_t unit, int level, const std::string& parent, bool mapped,
                             const std::vector<volume::Extent>& extents, const std::string& id,
                             std::function<void(uint64_t)> progress);
  Result<std::shared_ptr<volume::MetaVolume>> RbdHandle(int64_t unit, bool mapped,
                                                        const std::vector<volume::Extent>& extents);
  // Removes the vsl-bk-* snapshots of `vol`'s images but `keep`.
  static Status DropRbdSnapshots(volume::MetaVolume& vol, const std::string& keep);
  // The array of disk `disk`'s first member (a --new restore goes there),
  // when the disk still exists.
  std::optional<int64_t> ArrayOfDisk(const std::string& disk);

  Operations* ops_;
  MapTarget* target_;
  std::unique_ptr<backup::Store> store_;
  std::string changemap_dir_;
  std::mutex mu_;
  std::function<bool(const std::string&)> power_probe_;  // guarded by mu_
  std::set<int64_t> busy_;  // units a backup or restore of this process works on; guarded by mu_
};

}  // namespace vsl::manager
