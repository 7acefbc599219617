// Image copies as copy-on-write clones, on arrays that make them (rbd), and
// detaching a clone from its master (flatten).
#include <algorithm>

#include "manager/operations.h"
#include "util/crash_point.h"

namespace vsl::manager {

using catalog::Actor;
using catalog::Tx;
using catalog::Volume;
using catalog::VolumeUpdate;

Status Operations::CopyImage(int64_t unit, const std::string& image, const Actor& actor) {
  catalog::Image img;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(img, catalog_->GetImageByName(tx, image));
    return Status::Ok();
  }));
  if (!img.master_volume_id) return FailedPrecondition("image '" + image + "' has no master volume yet");
  VSL_ASSIGN_OR_RETURN(std::optional<int64_t> master, CloneSource(unit, img, actor));
  if (master) return CloneUnit(unit, *master, img, actor);
  return CopyUnit(unit, *img.master_volume_id, DiskOp::kCopyImage, actor, img.id);
}

Result<std::optional<int64_t>> Operations::CloneSource(int64_t unit, const catalog::Image& image,
                                                       const Actor& actor) {
  std::shared_ptr<array::StorageArray> dst_array;
  int64_t dst_array_id = 0;
  std::optional<int64_t> found;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    found.reset();
    dst_array.reset();
    VSL_ASSIGN_OR_RETURN(Volume d, catalog_->GetVolume(tx, unit));
    VSL_RETURN_IF_ERROR(machine_.Check(tx, unit, DiskOp::kCopyImage));  // refuses a master, a bound unit
    VSL_ASSIGN_OR_RETURN(auto dst, Resolve(tx, d));
    if (dst.size() != 1 || !dst[0].array->CanCloneFrom(*dst[0].array)) return Status::Ok();
    dst_array = dst[0].array;
    dst_array_id = *dst[0].volume.array_id;
    // The image's own master first, then its copies on other arrays.
    std::vector<int64_t> masters = {*image.master_volume_id};
    VSL_ASSIGN_OR_RETURN(auto copies, catalog_->ImageMasters(tx, image.id));
    for (const catalog::ImageMaster& m : copies) masters.push_back(m.volume_id);
    for (int64_t id : masters) {
      VSL_ASSIGN_OR_RETURN(Volume mv, catalog_->GetVolume(tx, id));
      VSL_ASSIGN_OR_RETURN(auto src, Resolve(tx, mv));
      if (src.size() == 1 && dst_array->CanCloneFrom(*src[0].array) && src[0].volume.size <= d.size) {
        found = id;
        return Status::Ok();
      }
    }
    return Status::Ok();
  }));
  if (found || !dst_array) return found;
  VSL_ASSIGN_OR_RETURN(int64_t made, MakeArrayMaster(image, dst_array_id, actor));
  return std::optional<int64_t>(made);
}

Result<int64_t> Operations::MakeArrayMaster(const catalog::Image& image, int64_t array_id, const Actor& actor) {
  std::lock_guard lock(masters_mu_);
  auto existing = [&]() -> Result<std::optional<int64_t>> {
    std::optional<int64_t> out;
    VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
      out.reset();
      VSL_ASSIGN_OR_RETURN(auto copies, catalog_->ImageMasters(tx, image.id));
      for (const catalog::ImageMaster& m : copies) {
        if (m.array_id == array_id) out = m.volume_id;
      }
      return Status::Ok();
    }));
    return out;
  };
  VSL_ASSIGN_OR_RETURN(auto before, existing());
  if (before) return *before;  // another disk of this array made it meanwhile
  uint64_t size = 0;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(Volume m, catalog_->GetVolume(tx, *image.master_volume_id));
    size = m.size;
    return Status::Ok();
  }));
  AllocateArgs args;
  args.size = size;
  args.array_id = array_id;
  // With the request's id: a re-run after a crash finds the unit it took.
  VSL_ASSIGN_OR_RETURN(int64_t unit, AllocateUnit(args, actor));
  Status s = CopyUnit(unit, *image.master_volume_id, DiskOp::kCopyImage, actor, image.id);
  if (!s.ok()) return s.Annotate("master copy of image '" + image.name + "' on array " + std::to_string(array_id));
  util::CrashPoint("op.copy.master-copied");  // the copy is there, not yet the image's master
  s = catalog_->Write([&](Tx& tx) -> Status {
    catalog::ImageMaster m;
    m.image_id = image.id;
    m.array_id = array_id;
    m.volume_id = unit;
    return catalog_->AddImageMaster(tx, m);
  });
  if (s.code() == Code::kAlreadyExists) {
    // Another process made one first: that one is the master; ours goes back.
    VSL_ASSIGN_OR_RETURN(auto theirs, existing());
    if (theirs && *theirs != unit) {
      (void)Free(unit, actor);
      return *theirs;
    }
    s = Status::Ok();
  }
  VSL_RETURN_IF_ERROR(s);
  return unit;
}

Status Operations::CloneUnit(int64_t unit, int64_t master, const catalog::Image& image, const Actor& actor) {
  std::vector<Member> src, dst;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(Volume d, catalog_->GetVolume(tx, unit));
    VSL_RETURN_IF_ERROR(machine_.Check(tx, unit, DiskOp::kCopyImage));
    VSL_ASSIGN_OR_RETURN(Volume m, catalog_->GetVolume(tx, master));
    VSL_ASSIGN_OR_RETURN(src, Resolve(tx, m));
    VSL_ASSIGN_OR_RETURN(dst, Resolve(tx, d));
    return Status::Ok();
  }));
  if (src.size() != 1 || dst.size() != 1) {
    return Internal("clone of volume " + std::to_string(master) + " onto volume " + std::to_string(unit) +
                    ": both must be single volumes");
  }
  const std::string what = "image '" + image.name + "' (master volume " + std::to_string(master) + ")";
  Status s = dst[0].array->Clone(*src[0].array, src[0].volume.array_volume, dst[0].volume.array_volume);
  if (!s.ok()) {
    s = s.Annotate("clone of " + what + " onto volume " + std::to_string(unit));
    (void)catalog_->Write(
        [&](Tx& tx) { return machine_.ApplyFailure(tx, unit, DiskOp::kCopyImage, actor, s.message()).status(); });
    return s;
  }
  util::CrashPoint("op.copy.cloned");  // the array has the clone, the catalog does not know
  return catalog_->Write([&](Tx& tx) -> Status {
    VolumeUpdate u;
    u.image_id = image.id;
    VSL_RETURN_IF_ERROR(
        machine_.Apply(tx, unit, DiskOp::kCopyImage, actor, u, "clone of " + what).status());
    return catalog_->SetCloneMaster(tx, unit, master);
  });
}

Status Operations::Flatten(int64_t unit, const Actor& actor) {
  std::vector<Member> members;
  std::optional<int64_t> master;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(Volume v, catalog_->GetVolume(tx, unit));
    VSL_ASSIGN_OR_RETURN(members, Resolve(tx, v));
    VSL_ASSIGN_OR_RETURN(master, catalog_->CloneMaster(tx, unit));
    if (!master) {
      std::string why = "volume " + std::to_string(unit) + " is not a clone of an image master";
      if (members.size() == 1) {
        array::ArrayInfo a = members[0].array->info();
        if (!members[0].array->CanCloneFrom(*members[0].array)) {
          why += " (it lies on array '" + a.name + "', driver " + a.driver + ", which makes no clones)";
        }
      } else {
        why += " (it is a meta volume of " + std::to_string(members.size()) + " members)";
      }
      return FailedPrecondition(why + ": nothing to flatten");
    }
    VSL_ASSIGN_OR_RETURN(auto bindings, catalog_->BindingsOfVolume(tx, unit));
    std::string mapped;
    for (const catalog::Binding& b : bindings) {
      if (!b.mapped) continue;
      VSL_ASSIGN_OR_RETURN(catalog::Host h, catalog_->GetHost(tx, b.host_id));
      mapped += (mapped.empty() ? "" : ", ") + h.name;
    }
    if (!mapped.empty()) {
      return FailedPrecondition("volume " + std::to_string(unit) + " is mapped to hosts " + mapped +
                                " (the gateway holds it); unmap it before flattening");
    }
    return Status::Ok();
  }));
  // A re-run after a crash finds it flat already: the array leaves it so.
  Status s = members[0].array->Flatten(members[0].volume.array_volume);
  if (!s.ok()) return s.Annotate("flatten of volume " + std::to_string(unit));
  util::CrashPoint("op.flatten.flat");
  return catalog_->Write([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(Volume v, catalog_->GetVolume(tx, unit));
    VolumeUpdate u;
    u.image_id = std::optional<int64_t>();  // a disk of its own now, no longer one of the image's
    VSL_RETURN_IF_ERROR(catalog_->UpdateVolume(tx, unit, v.state, u));
    VSL_RETURN_IF_ERROR(catalog_->SetCloneMaster(tx, unit, std::nullopt));
    catalog::Event e;
    e.entity = "volume";
    e.entity_id = unit;
    e.from_state = e.to_state = std::string(catalog::DiskStateName(v.state));
    e.op = "flatten";
    e.actor = actor.name;
    e.request_id = actor.request_id;
    e.detail = "detached from master volume " + std::to_string(*master);
    return catalog_->AppendEvent(tx, e);
  });
}

}  // namespace vsl::manager
