// Operations that move bytes: copy, snap, scrub, image import.
#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "catalog/tenants.h"
#include "manager/operations.h"
#include "util/crash_point.h"
#include "volume/point_in_time.h"
#include "volume/volume.h"

namespace vsl::manager {

using catalog::Actor;
using catalog::Tx;
using catalog::Volume;
using catalog::VolumeUpdate;

namespace {

constexpr uint64_t kChunk = 1 << 20;

bool AllZero(std::span<const uint8_t> b) {
  return std::all_of(b.begin(), b.end(), [](uint8_t c) { return c == 0; });
}

// Writes unit-relative byte ranges onto the right members.
class UnitWriter {
 public:
  explicit UnitWriter(const std::vector<Operations::Member>& members) : members_(members) {}
  uint64_t size() const {
    uint64_t n = 0;
    for (auto& m : members_) n += m.volume.size;
    return n;
  }
  Status Write(uint64_t offset, std::span<const uint8_t> data) {
    uint64_t base = 0;
    for (const auto& m : members_) {
      uint64_t end = base + m.volume.size;
      if (!data.empty() && offset < end) {
        uint64_t n = std::min<uint64_t>(data.size(), end - offset);
        VSL_RETURN_IF_ERROR(m.array->Write(m.volume.array_volume, offset - base, data.subspan(0, n)));
        data = data.subspan(n);
        offset += n;
      }
      base = end;
    }
    if (!data.empty()) return OutOfRange("write past the end of the unit at byte " + std::to_string(offset));
    return Status::Ok();
  }

 private:
  const std::vector<Operations::Member>& members_;
};

std::string Hex(const unsigned char* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

Result<std::string> Sha256File(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("image file " + path + " cannot be opened");
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> buf(kChunk);
  while (in) {
    in.read(buf.data(), buf.size());
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return IoError("reading image file " + path + " failed");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  return Hex(md, len);
}

}  // namespace

Status CopyMembers(const std::vector<Operations::Member>& src, const std::vector<Operations::Member>& dst) {
  UnitWriter out(dst);
  uint64_t src_size = 0;
  for (auto& m : src) src_size += m.volume.size;
  if (src_size > out.size()) {
    return OutOfRange("copy: the source holds " + std::to_string(src_size) + " bytes, the destination only " +
                      std::to_string(out.size()));
  }
  for (const auto& m : dst) {
    VSL_RETURN_IF_ERROR(m.array->Deallocate(m.volume.array_volume, 0, m.volume.size));
  }
  std::vector<uint8_t> buf;
  uint64_t base = 0;
  for (const auto& m : src) {
    VSL_ASSIGN_OR_RETURN(auto ranges, m.array->MappedRanges(m.volume.array_volume));
    for (const array::ByteRange& r : ranges) {
      for (uint64_t off = r.offset; off < r.offset + r.length; off += kChunk) {
        uint64_t n = std::min<uint64_t>(kChunk, r.offset + r.length - off);
        buf.resize(n);
        VSL_RETURN_IF_ERROR(m.array->Read(m.volume.array_volume, off, buf));
        if (AllZero(buf)) continue;  // stays a hole
        VSL_RETURN_IF_ERROR(out.Write(base + off, buf));
      }
    }
    base += m.volume.size;
  }
  return Status::Ok();
}

Status VerifyZero(const std::vector<Operations::Member>& members) {
  std::vector<uint8_t> buf;
  for (const auto& m : members) {
    VSL_ASSIGN_OR_RETURN(auto ranges, m.array->MappedRanges(m.volume.array_volume));
    for (const array::ByteRange& r : ranges) {
      for (uint64_t off = r.offset; off < r.offset + r.length; off += kChunk) {
        uint64_t n = std::min<uint64_t>(kChunk, r.offset + r.length - off);
        buf.resize(n);
        VSL_RETURN_IF_ERROR(m.array->Read(m.volume.array_volume, off, buf));
        auto it = std::find_if(buf.begin(), buf.end(), [](uint8_t c) { return c != 0; });
        if (it != buf.end()) {
          return DataLoss("scrub of volume " + std::to_string(m.volume.id) + " left a non-zero byte at offset " +
                          std::to_string(off + (it - buf.begin())));
        }
      }
    }
  }
  return Status::Ok();
}

Status Operations::CopyVolume(int64_t unit, int64_t source, const Actor& actor) {
  if (unit == source) return InvalidArgument("copy of volume " + std::to_string(unit) + " onto itself");
  return CopyUnit(unit, source, DiskOp::kCopyImage, actor, std::nullopt);
}

Status Operations::CopyUnit(int64_t unit, int64_t source, DiskOp op, const Actor& actor,
                            std::optional<int64_t> image_id) {
  std::vector<Member> src, dst;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(Volume d, catalog_->GetVolume(tx, unit));
    VSL_RETURN_IF_ERROR(machine_.Check(tx, unit, op));  // refuses an image master before a byte is written
    VSL_ASSIGN_OR_RETURN(Volume s, catalog_->GetVolume(tx, source));
    VSL_ASSIGN_OR_RETURN(src, Resolve(tx, s));
    VSL_ASSIGN_OR_RETURN(dst, Resolve(tx, d));
    return Status::Ok();
  }));
  Status s;
  if (src.size() == 1 && dst.size() == 1) {
    s = dst[0].array->Copy(*src[0].array, src[0].volume.array_volume, dst[0].volume.array_volume);
  } else {
    s = CopyMembers(src, dst);
  }
  std::string what = image_id ? "image " + std::to_string(*image_id) : "volume " + std::to_string(source);
  if (!s.ok()) {
    s = s.Annotate("copy of " + what + " onto volume " + std::to_string(unit));
    (void)catalog_->Write([&](Tx& tx) { return machine_.ApplyFailure(tx, unit, op, actor, s.message()).status(); });
    return s;
  }
  util::CrashPoint("op.copy.copied");  // the bytes are there, the catalog has not recorded the copy
  return catalog_->Write([&](Tx& tx) -> Status {
    VolumeUpdate u;
    u.image_id = image_id;
    return machine_.Apply(tx, unit, op, actor, u, "from " + what).status();
  });
}

namespace {

// Copies a point-in-time view into `dst` (fresh: all holes, so only the
// chunks that hold data are written).
Status CopyView(volume::PointInTime& view, const std::vector<Operations::Member>& dst) {
  UnitWriter out(dst);
  if (view.size() > out.size()) {
    return OutOfRange("snap: the source holds " + std::to_string(view.size()) + " bytes, the BCV only " +
                      std::to_string(out.size()));
  }
  for (const auto& m : dst) {
    VSL_RETURN_IF_ERROR(m.array->Deallocate(m.volume.array_volume, 0, m.volume.size));
  }
  std::vector<uint8_t> buf;
  for (uint64_t off = 0; off < view.size(); off += kChunk) {
    buf.resize(std::min<uint64_t>(kChunk, view.size() - off));
    VSL_RETURN_IF_ERROR(view.Read(off, buf));
    if (AllZero(buf)) continue;
    VSL_RETURN_IF_ERROR(out.Write(off, buf));
  }
  return Status::Ok();
}

}  // namespace

Status Operations::Snap(int64_t unit, int64_t bcv, const Actor& actor,
                        const std::function<Status(catalog::Tx&)>& record) {
  if (unit == bcv) return InvalidArgument("snap of volume " + std::to_string(unit) + " onto itself");
  std::vector<Member> src, dst;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(Volume s, catalog_->GetVolume(tx, unit));
    VSL_RETURN_IF_ERROR(FindTransition(unit, s.state, DiskOp::kSnap).status());
    VSL_ASSIGN_OR_RETURN(Volume d, catalog_->GetVolume(tx, bcv));
    VSL_RETURN_IF_ERROR(machine_.Check(tx, bcv, DiskOp::kCopyImage));
    VSL_ASSIGN_OR_RETURN(src, Resolve(tx, s));
    VSL_ASSIGN_OR_RETURN(dst, Resolve(tx, d));
    return Status::Ok();
  }));
  // The array's Snap is a point in time against writes through the array,
  // not against the gateway's, which go to the files directly: a unit the
  // gateway serves from files is read through its copy-on-write view.
  std::shared_ptr<volume::MetaVolume> served = target_->MappedVolume(std::to_string(unit));
  std::string how;
  Status s;
  if (served && !served->has_rbd()) {
    std::string side_dir;
    auto where = dst[0].array->Locate(dst[0].volume.array_volume);
    if (where.ok() && !where->empty()) side_dir = std::filesystem::path(where->front().path).parent_path().string();
    if (side_dir.empty()) side_dir = std::filesystem::temp_directory_path().string();
    auto in = target_->OpenBackupInstant(std::to_string(unit), side_dir, "", "");
    if (in.ok()) {
      how = " (through the gateway's copy-on-write view)";
      s = CopyView(*in->view, dst);
    } else {
      s = in.status().Annotate("the point-in-time view");
    }
  } else if (src.size() == 1 && dst.size() == 1 && src[0].array == dst[0].array) {
    s = dst[0].array->Snap(src[0].volume.array_volume, dst[0].volume.array_volume);
  } else {
    // Across arrays there is no point-in-time primitive: a plain copy.
    s = CopyMembers(src, dst);
  }
  if (!s.ok()) {
    s = s.Annotate("snap of volume " + std::to_string(unit) + " into volume " + std::to_string(bcv));
    (void)catalog_->Write([&](Tx& tx) -> Status {
      VSL_RETURN_IF_ERROR(machine_.ApplyFailure(tx, bcv, DiskOp::kCopyImage, actor, s.message()).status());
      return machine_.ApplyFailure(tx, unit, DiskOp::kSnap, actor, s.message()).status();
    });
    return s;
  }
  util::CrashPoint("op.snap.copied");  // the BCV holds the instant, the catalog has not recorded it
  return catalog_->Write([&](Tx& tx) -> Status {
    VolumeUpdate u;
    u.bcv_id = bcv;
    VSL_RETURN_IF_ERROR(
        machine_.Apply(tx, unit, DiskOp::kSnap, actor, u, "into volume " + std::to_string(bcv) + how).status());
    VSL_RETURN_IF_ERROR(
        machine_.Apply(tx, bcv, DiskOp::kCopyImage, actor, {}, "snap of volume " + std::to_string(unit)).status());
    return record ? record(tx) : Status::Ok();
  });
}

Status Operations::Scrub(int64_t unit, const Actor& actor) {
  std::vector<Member> members;
  VSL_RETURN_IF_ERROR(catalog_->Write([&](Tx& tx) -> Status {
    VSL_RETURN_IF_ERROR(machine_.Apply(tx, unit, DiskOp::kScrub, actor).status());
    VSL_ASSIGN_OR_RETURN(Volume v, catalog_->GetVolume(tx, unit));
    VSL_ASSIGN_OR_RETURN(members, Resolve(tx, v));
    return Status::Ok();
  }));
  util::CrashPoint("op.scrub.marked");  // the catalog says scrubbing, no byte wiped yet
  Status s;
  for (const Member& m : members) {
    s = m.array->Scrub(m.volume.array_volume);
    if (!s.ok()) break;
  }
  if (s.ok()) s = VerifyZero(members);
  if (!s.ok()) {
    s = s.Annotate("scrub of volume " + std::to_string(unit));
    (void)catalog_->Write([&](Tx& tx) {
      return machine_.ApplyFailure(tx, unit, DiskOp::kScrub, actor, s.message()).status();
    });
    return s;
  }
  util::CrashPoint("op.scrub.wiped");  // the unit reads zero, the catalog still says scrubbing
  return catalog_->Write([&](Tx& tx) {
    VolumeUpdate u;
    u.image_id = std::optional<int64_t>();
    VSL_RETURN_IF_ERROR(catalog_->SetCloneMaster(tx, unit, std::nullopt));  // a clone's image went with it
    return machine_.Apply(tx, unit, DiskOp::kScrubDone, actor, u, "read back: all zero").status();
  });
}

Result<catalog::Image> Operations::ImportImage(const std::string& name, const std::string& file,
                                               const catalog::Actor& actor, std::optional<int64_t> tenant) {
  std::error_code ec;
  uint64_t size = std::filesystem::file_size(file, ec);
  if (ec) return NotFound("image file " + file + ": " + ec.message());
  if (size == 0) return InvalidArgument("image file " + file + " is empty");
  VSL_ASSIGN_OR_RETURN(std::string sha, Sha256File(file));
  std::optional<catalog::Image> existing;
  std::string holders;  // hosts the existing image's master is bound to
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    existing.reset();
    holders.clear();
    auto i = catalog_->GetImageByName(tx, name);
    if (!i.ok()) return i.status().code() == Code::kNotFound ? Status::Ok() : i.status();
    existing = *i;
    if (!i->master_volume_id) return Status::Ok();
    VSL_ASSIGN_OR_RETURN(auto bindings, catalog_->BindingsOfVolume(tx, *i->master_volume_id));
    for (const catalog::Binding& b : bindings) {
      VSL_ASSIGN_OR_RETURN(catalog::Host h, catalog_->GetHost(tx, b.host_id));
      holders += (holders.empty() ? "" : ", ") + h.name;
    }
    return Status::Ok();
  }));
  if (existing) {
    if (existing->sha256 == sha && existing->master_volume_id) return *existing;  // imported before
    std::string why = "image '" + name + "' exists already";
    if (!holders.empty()) {
      why += "; its master, volume " + std::to_string(*existing->master_volume_id) +
             ", is bound read-only to hosts " + holders + " and is never replaced";
    }
    return AlreadyExists(why);
  }
  AllocateArgs args;
  args.size = size;
  VSL_ASSIGN_OR_RETURN(int64_t unit, AllocateUnit(args, actor));
  VSL_ASSIGN_OR_RETURN(auto members, Resolve(unit));
  Status s;
  if (members.size() == 1) {
    s = members[0].array->CopyFromFile(file, members[0].volume.array_volume);
  } else {
    UnitWriter out(members);
    std::ifstream in(file, std::ios::binary);
    std::vector<uint8_t> buf(kChunk);
    for (uint64_t off = 0; s.ok() && off < size; off += kChunk) {
      uint64_t n = std::min<uint64_t>(kChunk, size - off);
      in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(n));
      if (static_cast<uint64_t>(in.gcount()) != n) {
        s = IoError("image file " + file + " ended early at byte " + std::to_string(off));
        break;
      }
      std::span<const uint8_t> chunk(buf.data(), n);
      if (!AllZero(chunk)) s = out.Write(off, chunk);
    }
  }
  if (!s.ok()) {
    s = s.Annotate("import of image '" + name + "' from " + file);
    (void)catalog_->Write([&](Tx& tx) {
      return machine_.ApplyFailure(tx, unit, DiskOp::kCopyImage, actor, s.message()).status();
    });
    return s;
  }
  catalog::Image img;
  VSL_RETURN_IF_ERROR(catalog_->Write([&](Tx& tx) -> Status {
    // The copy is recorded before the unit becomes the image's master: from
    // then on the table refuses every op that would write it.
    VSL_RETURN_IF_ERROR(
        machine_.Apply(tx, unit, DiskOp::kCopyImage, actor, {}, "image '" + name + "' from " + file).status());
    VSL_ASSIGN_OR_RETURN(img, catalog_->AddImage(tx, catalog::Image{0, name, size, sha, unit, 0}));
    if (tenant) VSL_RETURN_IF_ERROR(catalog::SetImageTenant(tx, img.id, tenant));
    VolumeUpdate u;
    u.image_id = img.id;
    return catalog_->UpdateVolume(tx, unit, DiskState::kConfigured, u);
  }));
  return img;
}

Status Operations::ImageRemovable(Tx& tx, const catalog::Image& image) {
  std::string what = "image '" + image.name + "' cannot be removed: ";
  if (image.master_volume_id) {
    VSL_ASSIGN_OR_RETURN(auto bindings, catalog_->BindingsOfVolume(tx, *image.master_volume_id));
    std::string hosts;
    for (const catalog::Binding& b : bindings) {
      VSL_ASSIGN_OR_RETURN(catalog::Host h, catalog_->GetHost(tx, b.host_id));
      hosts += (hosts.empty() ? "" : ", ") + h.name + (b.mapped ? " (mapped)" : "");
    }
    if (!hosts.empty()) {
      return FailedPrecondition(what + "its master, volume " + std::to_string(*image.master_volume_id) +
                                ", is bound to hosts " + hosts + "; unmap and unbind it first");
    }
  }
  // Clones first: they read from a master, which cannot go before them.
  std::vector<int64_t> masters;
  if (image.master_volume_id) masters.push_back(*image.master_volume_id);
  VSL_ASSIGN_OR_RETURN(auto copies_on_arrays, catalog_->ImageMasters(tx, image.id));
  for (const catalog::ImageMaster& m : copies_on_arrays) masters.push_back(m.volume_id);
  std::string clones;
  int64_t clone_count = 0;
  for (int64_t m : masters) {
    VSL_ASSIGN_OR_RETURN(auto ids, catalog_->ClonesOf(tx, m));
    for (int64_t id : ids) {
      ++clone_count;
      std::string who;
      VSL_ASSIGN_OR_RETURN(auto bindings, catalog_->BindingsOfVolume(tx, id));
      for (const catalog::Binding& b : bindings) {
        VSL_ASSIGN_OR_RETURN(catalog::Host h, catalog_->GetHost(tx, b.host_id));
        who += (who.empty() ? "" : ", ") + h.name;
      }
      clones += (clones.empty() ? "" : ", ") + std::to_string(id) + (who.empty() ? "" : " (host " + who + ")");
    }
  }
  if (!clones.empty()) {
    return FailedPrecondition(what + std::to_string(clone_count) + (clone_count == 1 ? " disk is a clone" : " disks are clones") +
                              " of its master: volume" + (clone_count == 1 ? " " : "s ") + clones +
                              "; free them or detach them (vsl disk flatten VOLUME) first");
  }
  catalog::VolumeFilter f;
  VSL_ASSIGN_OR_RETURN(auto volumes, catalog_->ListVolumes(tx, f));
  std::string copies;
  for (const Volume& v : volumes) {
    if (v.image_id == image.id && std::find(masters.begin(), masters.end(), v.id) == masters.end()) {
      copies += (copies.empty() ? "" : ", ") + std::to_string(v.id);
    }
  }
  if (!copies.empty()) {
    return FailedPrecondition(what + "volumes " + copies + " hold copies of it; free them first");
  }
  return Status::Ok();
}

Status Operations::CheckImageRemovable(const std::string& name) {
  return catalog_->Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(catalog::Image img, catalog_->GetImageByName(tx, name));
    return ImageRemovable(tx, img);
  });
}

Result<std::optional<int64_t>> Operations::RemoveImage(const std::string& name, const Actor& actor) {
  constexpr const char* kUnlinked = "image-removed";  // a master's event: it is an image's no more
  std::optional<int64_t> master;   // the image's own
  std::vector<int64_t> to_free;    // it and its copies on other arrays
  VSL_RETURN_IF_ERROR(catalog_->Write([&](Tx& tx) -> Status {
    master.reset();
    to_free.clear();
    auto img = catalog_->GetImageByName(tx, name);
    if (!img.ok()) {
      if (img.status().code() != Code::kNotFound || !actor.request_id) return img.status();
      // This very request removed it before and died before its masters
      // were free: their events say which volumes those were.
      catalog::EventFilter f;
      f.entity = "volume";
      f.request_id = actor.request_id;
      VSL_ASSIGN_OR_RETURN(auto events, catalog_->ListEvents(tx, f));
      std::vector<std::pair<int64_t, int64_t>> unlinked;  // volume, event id
      for (const catalog::Event& e : events) {
        if (e.op == kUnlinked) unlinked.emplace_back(e.entity_id, e.id);
      }
      if (unlinked.empty()) return img.status();
      master = unlinked.front().first;
      for (const auto& [volume, since] : unlinked) {
        // Once another request moved the volume (it was freed and handed
        // out again), it is no longer this request's to free.
        catalog::EventFilter later;
        later.entity = "volume";
        later.entity_id = volume;
        later.after_id = since;
        VSL_ASSIGN_OR_RETURN(auto after, catalog_->ListEvents(tx, later));
        bool moved = false;
        for (const catalog::Event& e : after) moved = moved || e.request_id != actor.request_id;
        if (!moved) to_free.push_back(volume);
      }
      return Status::Ok();
    }
    VSL_RETURN_IF_ERROR(ImageRemovable(tx, *img));
    std::vector<int64_t> masters;
    if (img->master_volume_id) masters.push_back(*img->master_volume_id);
    VSL_ASSIGN_OR_RETURN(auto copies, catalog_->ImageMasters(tx, img->id));
    for (const catalog::ImageMaster& m : copies) masters.push_back(m.volume_id);
    VSL_RETURN_IF_ERROR(catalog_->RemoveImageMasters(tx, img->id));
    for (int64_t id : masters) {
      VSL_ASSIGN_OR_RETURN(Volume v, catalog_->GetVolume(tx, id));
      VolumeUpdate u;
      u.image_id = std::optional<int64_t>();
      VSL_RETURN_IF_ERROR(catalog_->UpdateVolume(tx, v.id, v.state, u));
      catalog::Event e;
      e.entity = "volume";
      e.entity_id = v.id;
      e.from_state = e.to_state = std::string(catalog::DiskStateName(v.state));
      e.op = kUnlinked;
      e.actor = actor.name;
      e.request_id = actor.request_id;
      e.detail = "image '" + name + "' removed; its master volume is freed next";
      VSL_RETURN_IF_ERROR(catalog_->AppendEvent(tx, e));
    }
    if (img->master_volume_id) master = *img->master_volume_id;
    to_free = masters;
    return catalog_->RemoveImage(tx, img->id);
  }));
  util::CrashPoint("op.remove-image.unlinked");  // the image is gone, its masters not yet free
  for (int64_t id : to_free) {
    Status s = Free(id, actor);
    if (!s.ok()) return s.Annotate("free of image '" + name + "''s master volume " + std::to_string(id));
  }
  return master;
}

}  // namespace vsl::manager
