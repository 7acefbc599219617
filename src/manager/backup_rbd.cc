// Backups of units with RBD members (issue 10): their point in time is an
// RBD snapshot of each member image, "vsl-bk-<backup id>", taken at the
// instant (for a mapped unit under the LU's write gate, through the
// gateway's own handles); a level 1 finds its changed blocks with
// rbd_diff_iterate2 between the parent's snapshot and the new one. File
// members of the same meta volume are read through the gateway's
// copy-on-write view (mapped) or as they lie (unmapped), at that same
// instant.
#include <algorithm>

#include "manager/backup_ops.h"
#include "volume/volume.h"

namespace vsl::manager {

namespace {

constexpr const char* kSnapPrefix = "vsl-bk-";

std::string Num(int64_t v) { return std::to_string(v); }

// A unit's bytes at the instant, piece by piece: RBD extents from the
// snapshot, file extents from the view (or, unmapped, from the files).
class InstantSource : public backup::Source {
 public:
  struct Segment {
    uint64_t start = 0, length = 0;
    bool rbd = false;
  };
  InstantSource(std::string name, std::vector<Segment> segments,
                std::shared_ptr<volume::MetaVolume> snap, std::unique_ptr<volume::PointInTime> view,
                std::function<void(uint64_t)> progress)
      : name_(std::move(name)),
        segments_(std::move(segments)),
        snap_(std::move(snap)),
        view_(std::move(view)),
        progress_(std::move(progress)) {}

  uint64_t size() const override { return snap_->size(); }
  const std::string& name() const override { return name_; }

  Status Read(uint64_t offset, std::span<uint8_t> out) override {
    size_t done = 0;
    while (done < out.size()) {
      const uint64_t at = offset + done;
      const Segment& s = SegmentAt(at);
      size_t n = size_t(std::min<uint64_t>(out.size() - done, s.start + s.length - at));
      std::span<uint8_t> part = out.subspan(done, n);
      Status st = (s.rbd || !view_) ? snap_->Read(at, part) : view_->Read(at, part);
      if (!st.ok()) return st;
      done += n;
    }
    progress_.Read(offset, out.size());
    return Status::Ok();
  }

  // RBD segments: the objects the snapshot holds (a level 0 of a sparse
  // image reads only those); file segments: all of it.
  Result<std::optional<backup::ByteRange>> NextData(uint64_t from) override {
    while (from < size()) {
      const Segment& s = SegmentAt(from);
      const uint64_t end = s.start + s.length;
      if (!s.rbd) return std::optional<backup::ByteRange>(backup::ByteRange{from, end - from});
      VSL_ASSIGN_OR_RETURN(auto runs, snap_->GetLbaStatus(from, 64));
      for (const auto& r : runs) {
        const uint64_t a = std::max(r.offset, from), b = std::min(r.offset + r.length, end);
        if (a >= b) continue;
        if (r.mapped) return std::optional<backup::ByteRange>(backup::ByteRange{a, b - a});
        from = b;
      }
      if (runs.empty()) from = end;
    }
    return std::optional<backup::ByteRange>();
  }

 private:
  const Segment& SegmentAt(uint64_t at) const {
    auto it = std::upper_bound(segments_.begin(), segments_.end(), at,
                               [](uint64_t a, const Segment& s) { return a < s.start; });
    return *std::prev(it);
  }

  std::string name_;
  std::vector<Segment> segments_;  // sorted, covering [0, size)
  std::shared_ptr<volume::MetaVolume> snap_;
  std::unique_ptr<volume::PointInTime> view_;
  ReadProgress progress_;
};

// [a, b) pieces of `ranges` that lie in non-RBD segments.
void ClipToFiles(const std::vector<std::pair<uint64_t, uint64_t>>& ranges,
                 const std::vector<InstantSource::Segment>& segs,
                 std::vector<backup::ByteRange>* out) {
  for (auto& [o, n] : ranges) {
    for (const auto& s : segs) {
      if (s.rbd) continue;
      uint64_t a = std::max(o, s.start), b = std::min(o + n, s.start + s.length);
      if (a < b) out->push_back({a, b - a});
    }
  }
}

}  // namespace

std::string BackupOps::RbdSnapName(const std::string& backup_id) { return kSnapPrefix + backup_id; }

Result<std::optional<std::vector<volume::Extent>>> BackupOps::RbdUnitExtents(
    const std::vector<Operations::Member>& members) {
  std::vector<volume::Extent> extents;
  bool rbd = false;
  for (const auto& m : members) {
    auto e = m.array->Locate(m.volume.array_volume);
    if (!e.ok()) {
      if (e.status().code() == Code::kUnimplemented)
        return std::optional<std::vector<volume::Extent>>();
      return e.status().Annotate("volume " + Num(m.volume.id));
    }
    for (auto& x : *e) rbd = rbd || x.rbd.has_value();
    extents.insert(extents.end(), e->begin(), e->end());
  }
  if (!rbd) return std::optional<std::vector<volume::Extent>>();
  return std::optional<std::vector<volume::Extent>>(std::move(extents));
}

Result<std::shared_ptr<volume::MetaVolume>> BackupOps::RbdHandle(
    int64_t unit, bool mapped, const std::vector<volume::Extent>& extents) {
  if (mapped) {
    auto vol = target_->MappedVolume(Num(unit));
    if (!vol) return NotFound("disk " + Num(unit) + " is mapped, but not by this gateway");
    return vol;
  }
  // Unmapped: nobody else writes it; opening it for writing takes each
  // image's exclusive lock, so the snapshots are made here.
  volume::VolumeOptions vo;
  vo.id = Num(unit);
  return volume::MetaVolume::Open(extents, vo);
}

Status BackupOps::DropRbdSnapshots(volume::MetaVolume& vol, const std::string& keep) {
  VSL_ASSIGN_OR_RETURN(auto names, vol.RbdSnapshotNames());
  for (const auto& n : names) {
    if (n.rfind(kSnapPrefix, 0) != 0 || n == keep) continue;
    VSL_RETURN_IF_ERROR(vol.RemoveRbdSnapshot(n));
  }
  return Status::Ok();
}

Result<BackupOps::Instant> BackupOps::RbdInstant(int64_t unit, int level, const std::string& parent,
                                                 bool mapped,
                                                 const std::vector<volume::Extent>& extents,
                                                 const std::string& id,
                                                 std::function<void(uint64_t)> progress) {
  Instant in;
  in.snap = RbdSnapName(id);
  VSL_ASSIGN_OR_RETURN(in.handle, RbdHandle(unit, mapped, extents));
  // A run that died left its snapshot: only the parent's is trusted, and
  // only by name (a backup's snapshot is listed complete only with it).
  VSL_RETURN_IF_ERROR(
      DropRbdSnapshots(*in.handle, parent.empty() ? "" : RbdSnapName(parent))
          .Annotate("disk " + Num(unit) + ": removing snapshots of failed backups"));

  std::vector<InstantSource::Segment> segs;
  std::vector<volume::Extent> at_snap = extents;
  bool files = false;
  uint64_t at = 0;
  for (auto& e : at_snap) {
    if (e.rbd) e.rbd->snap = in.snap;
    files = files || !e.rbd;
    segs.push_back({at, e.length, e.rbd.has_value()});
    at += e.length;
  }

  // The instant.
  std::unique_ptr<volume::PointInTime> view;
  BackupInstant gw;
  if (mapped) {
    auto got = target_->OpenBackupInstant(Num(unit), store_->dir() + "/tmp", id, in.snap);
    if (!got.ok())
      return got.status().Annotate("disk " + Num(unit) + ": the instant (RBD snapshot " + in.snap +
                                   ")");
    gw = std::move(*got);
    view = std::move(gw.view);
  } else {
    VSL_RETURN_IF_ERROR(in.handle->Flush());
    VSL_RETURN_IF_ERROR(in.handle->CreateRbdSnapshot(in.snap).Annotate("disk " + Num(unit)));
  }
  volume::VolumeOptions vo;
  vo.id = Num(unit);
  vo.read_only = true;
  auto snapvol = volume::MetaVolume::Open(at_snap, vo);
  if (!snapvol.ok()) {
    (void)in.handle->RemoveRbdSnapshot(in.snap);
    return snapvol.status().Annotate("disk " + Num(unit) + ": open snapshot " + in.snap);
  }

  in.mode = level == 0 ? "full" : "checksum";
  if (level == 1) {
    auto diff = (*snapvol)->RbdChangesSince(RbdSnapName(parent));
    std::vector<backup::ByteRange> changed;
    bool known = diff.ok();
    if (!diff.ok()) {
      in.why = diff.status().code() == Code::kNotFound
                   ? "the parent's RBD snapshot is gone (" + diff.status().message() + ")"
                   : "the RBD diff failed (" + diff.status().message() + ")";
    } else {
      for (auto& [o, n] : *diff) changed.push_back({o, n});
    }
    if (known && files) {
      // The file members: the gateway's change map, when it counts from the parent.
      if (!mapped) {
        known = false;
        in.why = "the disk's file members are not mapped: no change map";
      } else if (!gw.tracked || gw.since != parent) {
        known = false;
        in.why =
            "the change map of the disk's file members does not count from the parent " + parent;
      } else {
        ClipToFiles(gw.changed, segs, &changed);
      }
    }
    if (known) {
      in.mode = files ? "rbd-diff+map" : "rbd-diff";
      in.changed = std::move(changed);
    }
  }
  in.source =
      std::make_unique<InstantSource>("disk " + Num(unit) + " at " + in.snap, std::move(segs),
                                      std::move(*snapvol), std::move(view), std::move(progress));
  return in;
}

std::optional<int64_t> BackupOps::ArrayOfDisk(const std::string& disk) {
  int64_t unit = 0;
  try {
    unit = std::stoll(disk);
  } catch (...) {
    return std::nullopt;
  }
  auto members = ops_->Resolve(unit);
  if (!members.ok() || members->empty()) return std::nullopt;
  return members->front().volume.array_id;
}

}  // namespace vsl::manager
