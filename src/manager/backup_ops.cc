#include "manager/backup_ops.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "backup/incremental.h"
#include "catalog/backups.h"
#include "util/crash_point.h"
#include "volume/volume.h"

namespace vsl::manager {

using catalog::Actor;
using catalog::BackupRecord;
using catalog::Tx;

namespace {


// The bytes a backup reads: a point-in-time view of a mapped unit, or the
// unit's own volume engine (unmapped: nothing else writes it).
class UnitSource : public backup::Source {
 public:
  UnitSource(std::string name, std::unique_ptr<volume::PointInTime> view, std::shared_ptr<volume::MetaVolume> vol,
             std::function<void(uint64_t)> progress)
      : name_(std::move(name)), view_(std::move(view)), vol_(std::move(vol)), progress_(std::move(progress)) {}
  uint64_t size() const override { return view_ ? view_->size() : vol_->size(); }
  const std::string& name() const override { return name_; }
  Status Read(uint64_t offset, std::span<uint8_t> out) override {
    Status s = view_ ? view_->Read(offset, out) : vol_->Read(offset, out);
    if (!s.ok()) return s;
    progress_.Read(offset, out.size());
    return Status::Ok();
  }
  Result<std::optional<backup::ByteRange>> NextData(uint64_t from) override {
    if (from >= size()) return std::optional<backup::ByteRange>();
    return std::optional<backup::ByteRange>(backup::ByteRange{from, size() - from});
  }

 private:
  std::string name_;
  std::unique_ptr<volume::PointInTime> view_;
  std::shared_ptr<volume::MetaVolume> vol_;
  ReadProgress progress_;
};

// A restore's destination: a unit's volume engine (the gateway's, when the
// unit is mapped, so hosts read the new bytes at once).
class UnitSink : public backup::Sink {
 public:
  // `before_writing` runs once the chain is checked, before the first byte
  // is written (it holds the hosts' writes of a mapped unit).
  UnitSink(std::string name, std::shared_ptr<volume::MetaVolume> vol, std::function<Status()> before_writing)
      : name_(std::move(name)), vol_(std::move(vol)), before_writing_(std::move(before_writing)) {}
  const std::string& name() const override { return name_; }
  Status Prepare(uint64_t size) override {
    if (size > vol_->size()) {
      return OutOfRange(name_ + " has " + std::to_string(vol_->size()) + " bytes, the backup " +
                        std::to_string(size));
    }
    size_ = size;
    return before_writing_ ? before_writing_() : Status::Ok();
  }
  Status Write(uint64_t offset, std::span<const uint8_t> bytes) override {
    util::CrashPoint("op.restore.write");  // each extent: a kill here leaves the disk half-restored
    return vol_->Write(offset, bytes, false);
  }
  Status Zero(uint64_t offset, uint64_t length) override {
    // Unmap reads back as zeros (holes punched, or zeros written where the
    // file system can't); written zeros only when it fails outright.
    if (vol_->Unmap(offset, length).ok()) return Status::Ok();
    std::vector<uint8_t> zeros(std::min<uint64_t>(length, uint64_t{1} << 20), 0);
    for (uint64_t at = offset; at < offset + length;) {
      uint64_t n = std::min<uint64_t>(zeros.size(), offset + length - at);
      VSL_RETURN_IF_ERROR(vol_->Write(at, std::span<const uint8_t>(zeros.data(), n), false));
      at += n;
    }
    return Status::Ok();
  }
  // A disk bigger than the backup: past the backup's end it reads zeros too.
  Status Finish() override {
    if (vol_->size() > size_) VSL_RETURN_IF_ERROR(Zero(size_, vol_->size() - size_));
    return vol_->Flush();
  }

 private:
  std::string name_;
  std::shared_ptr<volume::MetaVolume> vol_;
  std::function<Status()> before_writing_;
  uint64_t size_ = 0;
};

std::string Num(int64_t v) { return std::to_string(v); }

}  // namespace

BackupOps::BackupOps(Operations* ops, MapTarget* target, std::unique_ptr<backup::Store> store,
                     std::string changemap_dir)
    : ops_(ops), target_(target), store_(std::move(store)), changemap_dir_(std::move(changemap_dir)) {}

void BackupOps::Event(int64_t unit, const std::string& op, const Actor& actor, const std::string& detail) {
  catalog::Catalog& c = ops_->catalog();
  (void)c.Write([&](Tx& tx) {
    catalog::Event e;
    e.entity = "volume";
    e.entity_id = unit;
    e.op = op;
    e.actor = actor.name;
    e.request_id = actor.request_id;
    e.time_ms = c.NowMs();
    e.detail = detail;
    return c.AppendEvent(tx, e);
  });
}

Result<Json> BackupOps::Run(const std::string& op, const Json& args, const Actor& actor) {
  if (!args.is_object()) return InvalidArgument(op + ": arguments must be a JSON object");
  if (op == "backup") {
    if (!args.contains("volume") || !args["volume"].is_number_integer()) {
      return InvalidArgument("backup: 'volume' (the disk's id) is required");
    }
    int level = args.value("level", 0);
    if (level != 0 && level != 1) return InvalidArgument("backup: 'level' must be 0 or 1, not " + Num(level));
    return Backup(args["volume"].get<int64_t>(), level, actor);
  }
  if (op == "backup-restore") {
    if (!args.contains("backup") || !args["backup"].is_string()) {
      return InvalidArgument("backup-restore: 'backup' (the backup's id) is required");
    }
    int64_t unit = 0;
    if (args.contains("volume") && args["volume"].is_number_integer()) {
      unit = args["volume"].get<int64_t>();
    } else if (!args.value("new", false)) {
      return InvalidArgument("backup-restore: give 'volume' (destructive) or 'new': true");
    }
    std::string id = args["backup"].get<std::string>();
    if (unit == 0) {
      // Non-destructive: a new unit of the backup's size (a re-run finds
      // the one its first run allocated).
      VSL_ASSIGN_OR_RETURN(backup::ManifestSummary m, store_->Show(id));
      AllocateArgs a;
      a.size = m.header.disk_size;
      if (args.contains("farm") && args["farm"].is_number_integer()) a.farm_id = args["farm"].get<int64_t>();
      // Placed like the backed-up disk (an RBD disk's copy on its pool)
      // while that still exists and has room; anywhere otherwise.
      a.array_id = ArrayOfDisk(m.header.disk);
      auto made = ops_->AllocateUnit(a, actor);
      if (!made.ok() && a.array_id) {
        a.array_id.reset();
        made = ops_->AllocateUnit(a, actor);
      }
      VSL_ASSIGN_OR_RETURN(unit, std::move(made));
    }
    VSL_ASSIGN_OR_RETURN(Json out, Restore(id, unit, args.value("force", false), actor));
    if (args.contains("map_to") && args["map_to"].is_string()) {
      std::string host = args["map_to"].get<std::string>();
      int64_t lun = args.value("lun", int64_t{0});
      VSL_RETURN_IF_ERROR(ops_->Bind(unit, host, lun, std::nullopt, actor));
      VSL_RETURN_IF_ERROR(ops_->Map(unit, host, actor));
      out["mapped_to"] = host;
      out["lun"] = lun;
    }
    return out;
  }
  return InvalidArgument("unknown backup op '" + op + "'");
}

BackupOps::BusyClaim::~BusyClaim() {
  if (self == nullptr) return;
  std::lock_guard l(self->mu_);
  self->busy_.erase(unit);
}

Result<BackupOps::BusyClaim> BackupOps::Claim(int64_t unit) {
  std::lock_guard l(mu_);
  if (!busy_.insert(unit).second) {
    return FailedPrecondition("disk " + Num(unit) + " already has a backup or restore running in this process");
  }
  return BusyClaim(this, unit);
}

namespace {

// The unit's members opened from their array files, for a unit no gateway
// serves. Every member must have files: an array that can't say where its
// volumes lie (Locate unimplemented) fails here rather than give a short
// volume.
Result<std::shared_ptr<volume::MetaVolume>> OpenUnit(int64_t unit, const std::vector<Operations::Member>& members,
                                                     bool read_only) {
  std::vector<volume::Extent> extents;
  for (const auto& m : members) {
    VSL_ASSIGN_OR_RETURN(auto e, m.array->Locate(m.volume.array_volume));
    extents.insert(extents.end(), e.begin(), e.end());
  }
  volume::VolumeOptions vo;
  vo.id = Num(unit);
  vo.read_only = read_only;
  return volume::MetaVolume::Open(extents, vo);
}

}  // namespace

Result<Json> BackupOps::Backup(int64_t unit, int level, const Actor& actor) {
  catalog::Catalog& c = ops_->catalog();
  int64_t request = actor.request_id.value_or(0);
  // A run of this request that died: its backup is in the store (committed,
  // the catalog not told) or it is not (then never listed, and failed here).
  std::optional<BackupRecord> earlier;
  VSL_RETURN_IF_ERROR(c.Read([&](Tx& tx) -> Status {
    if (request == 0) return Status::Ok();
    VSL_ASSIGN_OR_RETURN(auto rows, catalog::ListBackups(tx, {.volume_id = unit, .farm = std::nullopt, .state = "running"}));
    for (auto& r : rows) {
      if (r.request_id == request) earlier = r;
    }
    return Status::Ok();
  }));
  if (earlier) {
    auto shown = store_->Show(earlier->id);
    if (shown.ok()) {
      // What its manifest says it stores (a directory store's data file
      // holds exactly that; a pool store has no such file).
      uint64_t stored = shown->trailer.data_size;
      VSL_RETURN_IF_ERROR(c.Write([&](Tx& tx) { return catalog::CompleteBackup(tx, earlier->id, int64_t(stored), c.NowMs()); }));
      return Json{{"backup", earlier->id}, {"level", earlier->level}, {"parent", earlier->parent},
                  {"mode", earlier->mode}, {"bytes_stored", stored}, {"disk_size", earlier->disk_size}};
    }
    VSL_RETURN_IF_ERROR(c.Write([&](Tx& tx) {
      return catalog::FailBackup(tx, earlier->id, "interrupted: the process running it died", c.NowMs());
    }));
  }
  VSL_ASSIGN_OR_RETURN(BusyClaim claim, Claim(unit));

  catalog::Volume v;
  std::string farm, server;
  std::optional<BackupRecord> parent;
  bool mapped = false;
  std::vector<Operations::Member> members;
  VSL_RETURN_IF_ERROR(c.Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(v, c.GetVolume(tx, unit));
    if (v.parent_id) return FailedPrecondition("volume " + Num(unit) + " is a member of meta volume " + Num(*v.parent_id) + "; back up the meta volume");
    if (v.state == catalog::DiskState::kFree || v.state == catalog::DiskState::kAllocated ||
        v.state == catalog::DiskState::kScrubbing) {
      return FailedPrecondition("disk " + Num(unit) + " holds no data to back up (it is " +
                                std::string(catalog::DiskStateName(v.state)) + ")");
    }
    VSL_ASSIGN_OR_RETURN(auto running, catalog::ListBackups(tx, {.volume_id = unit, .farm = std::nullopt, .state = "running"}));
    for (auto& r : running) {
      if (r.request_id != request) {
        return FailedPrecondition("disk " + Num(unit) + " already has a backup running: " + r.id + " (request " +
                                  Num(r.request_id) + ")");
      }
    }
    if (v.farm_id) {
      auto f = c.GetFarm(tx, *v.farm_id);
      if (f.ok()) farm = f->name;
    }
    VSL_ASSIGN_OR_RETURN(auto bindings, c.BindingsOfVolume(tx, unit));
    for (auto& b : bindings) {
      if (b.mapped) mapped = true;
      if (server.empty()) {
        auto h = c.GetHost(tx, b.host_id);
        if (h.ok()) server = h->name;
      }
    }
    VSL_ASSIGN_OR_RETURN(parent, catalog::LatestBackup(tx, unit));
    VSL_ASSIGN_OR_RETURN(members, ops_->Resolve(tx, v));
    return Status::Ok();
  }));
  if (level == 1 && !parent) {
    return FailedPrecondition("disk " + Num(unit) + " has no complete backup to be the parent of a level 1; run a level 0 first");
  }
  if (level == 1) {
    // The store must still have it (deleted behind the catalog's back: a level 0 is wanted).
    auto shown = store_->Show(parent->id);
    if (!shown.ok()) return FailedPrecondition("the parent backup " + parent->id + " of disk " + Num(unit) + " is not in the store: " + shown.status().message());
  }

  backup::BackupSpec spec;
  spec.disk = Num(unit);
  spec.farm = farm;
  spec.server = server;
  spec.level = level;
  if (level == 1) spec.parent = parent->id;
  spec.disk_size = v.size;
  spec.created = std::chrono::system_clock::now();
  VSL_ASSIGN_OR_RETURN(std::unique_ptr<backup::BackupWriter> w, store_->Begin(spec));
  const std::string id = w->header().id;

  BackupRecord rec;
  rec.id = id;
  rec.volume_id = unit;
  rec.disk = spec.disk;
  rec.farm = farm;
  rec.server = server;
  rec.level = level;
  rec.parent = level == 1 ? parent->id : "";
  rec.mode = "full";
  rec.disk_size = int64_t(v.size);
  rec.request_id = request;
  rec.started_ms = c.NowMs();

  auto progress = [&](uint64_t at) {
    Event(unit, "backup", actor, "backup " + id + ": " + Num(int64_t(at >> 20)) + " of " + Num(int64_t(v.size >> 20)) + " MiB read");
  };
  // The instant: RBD members through their snapshots (backup_rbd.cc), a
  // mapped unit through the gateway's view (its change map taken at the
  // same instant), an unmapped one read as it lies.
  VSL_ASSIGN_OR_RETURN(auto rbd_extents, RbdUnitExtents(members));
  std::unique_ptr<volume::PointInTime> view;
  std::shared_ptr<volume::MetaVolume> vol;
  std::unique_ptr<backup::Source> source;
  std::vector<backup::ByteRange> changed;
  std::string mode = level == 0 ? "full" : "checksum";
  std::string why;
  std::shared_ptr<volume::MetaVolume> snap_handle;  // RBD: where the instant's snapshot is
  std::string snap;
  if (rbd_extents) {
    auto in = RbdInstant(unit, level, parent ? parent->id : "", mapped, *rbd_extents, id, progress);
    if (!in.ok()) return in.status();
    source = std::move(in->source);
    mode = in->mode;
    why = in->why;
    changed = std::move(in->changed);
    snap_handle = std::move(in->handle);
    snap = in->snap;
  } else if (mapped) {
    auto in = target_->OpenBackupInstant(Num(unit), store_->dir() + "/tmp", id, "");
    if (!in.ok()) return in.status().Annotate("disk " + Num(unit) + ": the point-in-time view");
    view = std::move(in->view);
    if (level == 1) {
      if (in->tracked && in->since == parent->id) {
        mode = "map";
        for (auto& [o, n] : in->changed) changed.push_back({o, n});
      } else if (!in->tracked) {
        why = "no change map was kept since the parent (restarted without a clean stop, or remapped)";
      } else {
        why = "the change map counts from " + (in->since.empty() ? std::string("its start") : in->since) +
              ", not from the parent " + parent->id;
      }
    }
  } else {
    VSL_ASSIGN_OR_RETURN(vol, OpenUnit(unit, members, /*read_only=*/true));
    if (level == 1) why = "the disk is not mapped: no change map";
  }
  rec.mode = mode;
  VSL_RETURN_IF_ERROR(c.Write([&](Tx& tx) { return catalog::InsertBackup(tx, rec); }));
  Event(unit, "backup", actor,
        "backup " + id + " level " + Num(level) + " started (" + mode + (why.empty() ? "" : ": " + why) + ")");

  if (!source) source = std::make_unique<UnitSource>("disk " + Num(unit), std::move(view), vol, progress);
  backup::Source& src = *source;
  Result<backup::FillStats> filled = backup::FillStats{};
  if (mode == "full") {
    filled = backup::FillFull(*w, src);
  } else if (mode == "map" || mode.rfind("rbd-diff", 0) == 0) {
    filled = backup::FillChangedRanges(*w, src, changed);
  } else {
    filled = backup::FillChangedByChecksum(*store_, *w, src);
  }
  auto fail = [&](const Status& s) {
    w->Abort();
    // A failed backup's snapshot is nobody's parent (closed first: it is
    // what `source` reads).
    if (snap_handle) {
      source.reset();
      (void)snap_handle->RemoveRbdSnapshot(snap);
    }
    (void)c.Write([&](Tx& tx) { return catalog::FailBackup(tx, id, s.ToString(), c.NowMs()); });
    Event(unit, "backup", actor, "backup " + id + " failed: " + s.ToString());
    return s;
  };
  if (!filled.ok()) return fail(filled.status().Annotate("backup " + id));
  util::CrashPoint("op.backup.filled");  // every chunk in tmp/ID.new, not committed
  auto listed = w->Commit();
  if (!listed.ok()) return fail(listed.status().Annotate("backup " + id));
  util::CrashPoint("op.backup.committed");  // listed by the store, the catalog row still running
  VSL_RETURN_IF_ERROR(c.Write([&](Tx& tx) { return catalog::CompleteBackup(tx, id, int64_t(listed->stored_bytes), c.NowMs()); }));
  Event(unit, "backup", actor, "backup " + id + " complete: " + Num(int64_t(listed->stored_bytes)) + " bytes stored");
  if (snap_handle) {
    // The next level 1 needs this snapshot only; the parent's goes.
    source.reset();
    Status dropped = DropRbdSnapshots(*snap_handle, snap);
    if (!dropped.ok()) Event(unit, "backup", actor, "backup " + id + ": older snapshots stay: " + dropped.ToString());
  }
  Json out{{"backup", id},
           {"level", level},
           {"parent", rec.parent},
           {"mode", mode},
           {"bytes_stored", listed->stored_bytes},
           {"disk_size", v.size},
           {"chunks_read", filled->chunks_read},
           {"extents", filled->extents}};
  if (!why.empty()) out["mode_reason"] = why;
  return out;
}

Result<Json> BackupOps::Restore(const std::string& id, int64_t unit, bool force, const Actor& actor) {
  catalog::Catalog& c = ops_->catalog();
  catalog::Volume v;
  std::vector<std::string> hosts;  // the hosts it is mapped to
  std::vector<Operations::Member> members;
  VSL_RETURN_IF_ERROR(c.Read([&](Tx& tx) -> Status {
    hosts.clear();
    VSL_ASSIGN_OR_RETURN(v, c.GetVolume(tx, unit));
    if (v.state == catalog::DiskState::kFree || v.state == catalog::DiskState::kScrubbing) {
      return FailedPrecondition("disk " + Num(unit) + " is " + std::string(catalog::DiskStateName(v.state)) +
                                "; restore onto a unit that is allocated to someone");
    }
    if (v.type == "image") return FailedPrecondition("volume " + Num(unit) + " is an image's master; it is never written");
    VSL_ASSIGN_OR_RETURN(auto bindings, c.BindingsOfVolume(tx, unit));
    for (auto& b : bindings) {
      if (!b.mapped) continue;
      VSL_ASSIGN_OR_RETURN(catalog::Host h, c.GetHost(tx, b.host_id));
      hosts.push_back(h.name);
    }
    VSL_ASSIGN_OR_RETURN(members, ops_->Resolve(tx, v));
    return Status::Ok();
  }));
  const bool mapped = !hosts.empty();
  if (mapped && !force) {
    std::function<bool(const std::string&)> probe;
    {
      std::lock_guard l(mu_);
      probe = power_probe_;
    }
    std::string on;
    for (const std::string& h : hosts) {
      if (!probe || probe(h)) on += (on.empty() ? "" : ", ") + h;
    }
    if (!on.empty()) {
      return FailedPrecondition("disk " + Num(unit) + " is mapped to powered-on host " + on +
                                "; power it off or unmap the disk first, or restore with force (the host's writes "
                                "are held while it runs, then it sees its disk change)");
    }
  }
  VSL_ASSIGN_OR_RETURN(BusyClaim claim, Claim(unit));
  std::shared_ptr<volume::MetaVolume> vol = mapped ? target_->MappedVolume(Num(unit)) : nullptr;
  if (!vol) {
    VSL_ASSIGN_OR_RETURN(vol, OpenUnit(unit, members, /*read_only=*/false));
  }
  Event(unit, "backup-restore", actor, "restore of backup " + id + " started");
  std::shared_ptr<void> held;
  auto hold = [&]() -> Status {
    if (mapped) {
      auto h = target_->HoldWrites(Num(unit));
      if (h.ok()) held = *h;
      else if (h.status().code() != Code::kNotFound) return h.status().Annotate("holding the hosts' writes");
    }
    Event(unit, "backup-restore", actor,
          "restore of backup " + id + ": chain checked, writing" +
              (held ? " (the hosts' writes are held)" : ""));
    return Status::Ok();
  };
  UnitSink sink("disk " + Num(unit), vol, hold);
  auto stats = store_->Restore(id, sink);
  if (!stats.ok()) {
    if (held) (void)target_->NotifyMediumChanged(Num(unit));  // some bytes may have changed
    held.reset();
    Event(unit, "backup-restore", actor, "restore of backup " + id + " failed: " + stats.status().ToString());
    return stats.status();
  }
  // What the unit held before is gone: any later level 1 must not trust a map.
  vol->changes().set_since("restored:" + id);
  util::CrashPoint("op.restore.written");  // every byte durable, the hosts not told, no event says complete
  bool told = false;
  if (mapped) {
    // Queued while the writes are still held: no host command runs on the
    // new content before its session has the unit attention.
    Status ua = target_->NotifyMediumChanged(Num(unit));
    told = ua.ok();
    if (!ua.ok()) Event(unit, "backup-restore", actor, "the hosts could not be told: " + ua.ToString());
  }
  const bool was_held = held != nullptr;
  held.reset();
  Event(unit, "backup-restore", actor, "restore of backup " + id + " complete");
  Json chain = Json::array();
  for (auto& b : stats->chain) chain.push_back(b);
  return Json{{"backup", id},
              {"volume", unit},
              {"bytes_written", stats->bytes_written},
              {"chain", chain},
              {"hosts_told", told},
              {"held_writes", was_held}};
}

Status BackupOps::CheckIdle(int64_t unit) {
  {
    std::lock_guard l(mu_);
    if (busy_.count(unit)) {
      return FailedPrecondition("disk " + Num(unit) + " is being backed up or restored; try again when that finished");
    }
  }
  std::vector<BackupRecord> running;
  VSL_RETURN_IF_ERROR(ops_->catalog().Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(running, catalog::ListBackups(tx, {.volume_id = unit, .farm = std::nullopt, .state = "running"}));
    return Status::Ok();
  }));
  if (!running.empty()) {
    return FailedPrecondition("disk " + Num(unit) + " is being backed up (backup " + running[0].id + ", request " +
                              Num(running[0].request_id) + "); try again when it finished");
  }
  return Status::Ok();
}

int BackupOps::SaveChangeMaps() {
  std::vector<BackupRecord> rows;
  (void)ops_->catalog().Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(rows, catalog::ListBackups(tx));
    return Status::Ok();
  });
  std::set<int64_t> units;
  for (auto& r : rows) {
    if (r.volume_id) units.insert(*r.volume_id);
  }
  std::error_code ec;
  std::filesystem::create_directories(changemap_dir_, ec);
  int saved = 0;
  for (int64_t u : units) {
    auto vol = target_->MappedVolume(Num(u));
    if (!vol || !vol->changes().enabled()) continue;
    std::string path = changemap_dir_ + "/" + Num(u);
    std::ofstream(path + ".since", std::ios::trunc) << vol->changes().since();
    std::ofstream f(path, std::ios::trunc | std::ios::binary);
    f << vol->changes().Serialize();
    if (f.good()) ++saved;
  }
  return saved;
}

int BackupOps::LoadChangeMaps() {
  std::error_code ec;
  int loaded = 0;
  for (auto& e : std::filesystem::directory_iterator(changemap_dir_, ec)) {
    std::string name = e.path().filename().string();
    if (name.find('.') != std::string::npos) continue;
    std::string path = e.path().string();
    std::stringstream image, since;
    image << std::ifstream(path, std::ios::binary).rdbuf();
    since << std::ifstream(path + ".since").rdbuf();
    // Deleted before use: a crash from here on leaves no map to trust.
    std::filesystem::remove(path, ec);
    std::filesystem::remove(path + ".since", ec);
    if (target_->PreloadChangeMap(name, image.str(), since.str())) ++loaded;
  }
  return loaded;
}

Result<int64_t> BackupOps::FailOrphans() {
  catalog::Catalog& c = ops_->catalog();
  int64_t n = 0;
  VSL_RETURN_IF_ERROR(c.Write([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(n, tx.Exec("UPDATE backups SET state = 'failed', error = ?, finished_ms = ? WHERE state = "
                                    "'running' AND request_id NOT IN (SELECT id FROM requests WHERE state IN "
                                    "('queued', 'running'))",
                                    {std::string("interrupted: the process running it died"), c.NowMs()}));
    return Status::Ok();
  }));
  return n;
}

}  // namespace vsl::manager
