#include "manager/disk_state.h"

namespace vsl::manager {

using catalog::Actor;
using catalog::Tx;
using catalog::VolumeUpdate;

std::string_view DiskOpName(DiskOp op) {
  switch (op) {
    case DiskOp::kAllocate: return "allocate";
    case DiskOp::kMakeMeta: return "make-meta";
    case DiskOp::kCopyImage: return "copy-image";
    case DiskOp::kBind: return "bind";
    case DiskOp::kBindReadOnly: return "bind-read-only";
    case DiskOp::kRebind: return "rebind";
    case DiskOp::kMap: return "map";
    case DiskOp::kSnap: return "snap";
    case DiskOp::kUnmap: return "unmap";
    case DiskOp::kUnmapPartial: return "unmap-partial";
    case DiskOp::kUnbind: return "unbind";
    case DiskOp::kUnbindPartial: return "unbind-partial";
    case DiskOp::kGrow: return "grow";
    case DiskOp::kMigrate: return "migrate";
    case DiskOp::kScrub: return "scrub";
    case DiskOp::kScrubDone: return "scrub-done";
    case DiskOp::kBreakMeta: return "break-meta";
    case DiskOp::kDeallocate: return "deallocate";
  }
  return "?";
}

namespace {

using S = DiskState;
using O = DiskOp;
constexpr std::nullopt_t kPrior = std::nullopt;

constexpr bool kMaster = true;  // an image's master volume may take this arc

// FIG. 7. {from, op, to, on failure, dirties, image_master}
const Transition kTable[] = {
    {S::kFree, O::kAllocate, S::kAllocated, S::kFree, false},
    {S::kAllocated, O::kMakeMeta, S::kConfigured, S::kUnconfigured, false},
    {S::kAllocated, O::kDeallocate, S::kFree, S::kAllocated, false},
    {S::kConfigured, O::kCopyImage, S::kConfigured, S::kUnconfigured, true},
    {S::kConfigured, O::kBind, S::kBound, S::kUnconfigured, true},
    {S::kConfigured, O::kBreakMeta, S::kUnconfigured, S::kConfigured, false},
    {S::kConfigured, O::kGrow, S::kConfigured, S::kConfigured, false},
    {S::kConfigured, O::kMigrate, S::kConfigured, S::kConfigured, false},
    {S::kBound, O::kBind, S::kBound, S::kBound, true},
    // A read-only host lets no data in; when its bind fails the unit stays
    // as it was (an image master stays usable for its other hosts).
    {S::kConfigured, O::kBindReadOnly, S::kBound, S::kConfigured, false, kMaster},
    {S::kBound, O::kBindReadOnly, S::kBound, S::kBound, false, kMaster},
    {S::kMapped, O::kBindReadOnly, S::kMapped, S::kMapped, false, kMaster},
    {S::kUnbound, O::kBindReadOnly, S::kBound, S::kUnbound, false, kMaster},
    {S::kBound, O::kMap, S::kMapped, S::kUnbound, true, kMaster},
    {S::kBound, O::kUnbind, S::kUnbound, S::kBound, false, kMaster},
    {S::kBound, O::kUnbindPartial, S::kBound, S::kBound, false, kMaster},
    {S::kBound, O::kGrow, S::kBound, S::kBound, false},
    {S::kBound, O::kMigrate, S::kBound, S::kBound, false},
    {S::kMapped, O::kBind, S::kMapped, S::kMapped, true},
    {S::kMapped, O::kMap, S::kMapped, S::kMapped, true, kMaster},
    {S::kMapped, O::kSnap, S::kMapped, S::kMapped, false},
    {S::kMapped, O::kUnmap, S::kUnmapped, S::kMapped, false, kMaster},
    {S::kMapped, O::kUnmapPartial, S::kMapped, S::kMapped, false, kMaster},
    {S::kMapped, O::kUnbindPartial, S::kMapped, S::kMapped, false, kMaster},
    {S::kMapped, O::kGrow, S::kMapped, S::kMapped, false},
    {S::kMapped, O::kMigrate, S::kMapped, S::kMapped, false},
    {S::kUnmapped, O::kUnbind, S::kUnbound, S::kUnmapped, false, kMaster},
    {S::kUnmapped, O::kUnbindPartial, S::kUnmapped, S::kUnmapped, false, kMaster},
    {S::kUnbound, O::kRebind, S::kBound, S::kUnconfigured, true},
    {S::kUnbound, O::kCopyImage, S::kUnbound, S::kUnconfigured, true},
    {S::kUnbound, O::kScrub, S::kScrubbing, S::kUnbound, false},
    {S::kUnbound, O::kBreakMeta, S::kUnconfigured, S::kUnbound, false},
    {S::kUnconfigured, O::kScrub, S::kScrubbing, S::kUnconfigured, false},
    {S::kUnconfigured, O::kBreakMeta, S::kUnconfigured, S::kUnconfigured, false},
    {S::kUnconfigured, O::kDeallocate, S::kFree, S::kUnconfigured, false},
    // A scrub that was interrupted (its worker died) runs again.
    {S::kScrubbing, O::kScrub, S::kScrubbing, kPrior, false},
    {S::kScrubbing, O::kScrubDone, kPrior, kPrior, false},
};

std::string Name(S s) { return std::string(catalog::DiskStateName(s)); }

Status RefuseOnMaster(int64_t volume_id, DiskOp op, const catalog::Image& image) {
  std::string prefix = "volume " + std::to_string(volume_id) + " is the master of image '" + image.name +
                       "', which is shared read-only and never written: ";
  if (op == DiskOp::kBind || op == DiskOp::kRebind) {
    return FailedPrecondition(prefix + "a read-write bind is refused; bind it read-only (--read-only)");
  }
  std::string allowed;
  for (DiskOp o : kAllDiskOps) {
    bool any = false;
    for (const Transition& t : kTable) any = any || (t.op == o && t.image_master);
    if (any) allowed += (allowed.empty() ? "" : ", ") + std::string(DiskOpName(o));
  }
  return FailedPrecondition(prefix + std::string(DiskOpName(op)) + " is not allowed on it (allowed: " + allowed +
                            ")");
}

}  // namespace

std::span<const Transition> TransitionTable() { return kTable; }

Result<Transition> FindTransition(int64_t volume_id, DiskState from, DiskOp op, const catalog::Image* master) {
  std::string allowed;
  for (const Transition& t : kTable) {
    if (t.op != op) continue;
    if (t.from == from) {
      if (master && !t.image_master) return RefuseOnMaster(volume_id, op, *master);
      return t;
    }
    allowed += (allowed.empty() ? "" : ", ") + Name(t.from);
  }
  if (master) {
    bool any = false;
    for (const Transition& t : kTable) any = any || (t.op == op && t.image_master);
    if (!any) return RefuseOnMaster(volume_id, op, *master);
  }
  return FailedPrecondition("volume " + std::to_string(volume_id) + " is " + Name(from) + ": " +
                            std::string(DiskOpName(op)) + " is not allowed (allowed from: " + allowed + ")");
}

Status DiskStateMachine::Check(Tx& tx, int64_t unit, DiskOp op) {
  VSL_ASSIGN_OR_RETURN(catalog::Volume v, catalog_->GetVolume(tx, unit));
  VSL_ASSIGN_OR_RETURN(auto master, catalog_->ImageOfMaster(tx, unit));
  return FindTransition(unit, v.state, op, master ? &*master : nullptr).status();
}

Result<DiskState> DiskStateMachine::Apply(Tx& tx, int64_t unit, DiskOp op, const Actor& actor,
                                          const VolumeUpdate& extra, const std::string& detail) {
  return Move(tx, unit, op, false, actor, extra, detail);
}

Result<DiskState> DiskStateMachine::ApplyFailure(Tx& tx, int64_t unit, DiskOp op, const Actor& actor,
                                                 const std::string& reason) {
  return Move(tx, unit, op, true, actor, {}, reason);
}

Result<DiskState> DiskStateMachine::Move(Tx& tx, int64_t unit, DiskOp op, bool failure, const Actor& actor,
                                         const VolumeUpdate& extra, const std::string& detail) {
  VSL_ASSIGN_OR_RETURN(catalog::Volume v, catalog_->GetVolume(tx, unit));
  if (v.parent_id) {
    return FailedPrecondition("volume " + std::to_string(unit) + " is member " + std::to_string(v.member_order) +
                              " of meta volume " + std::to_string(*v.parent_id) + ": " +
                              std::string(DiskOpName(op)) + " applies to the meta volume");
  }
  VSL_ASSIGN_OR_RETURN(auto master, catalog_->ImageOfMaster(tx, unit));
  VSL_ASSIGN_OR_RETURN(Transition t, FindTransition(unit, v.state, op, master ? &*master : nullptr));
  if (!failure && (op == DiskOp::kAllocate || op == DiskOp::kDeallocate) && !v.clean) {
    return FailedPrecondition("volume " + std::to_string(unit) + " is " + Name(v.state) +
                              " and may hold data from its last use: " + std::string(DiskOpName(op)) +
                              " is refused until a scrub has finished");
  }
  std::optional<DiskState> target = failure ? t.on_failure : t.to;
  DiskState to;
  if (target) {
    to = *target;
  } else if (v.prior_state) {
    to = *v.prior_state;
  } else {
    return Internal("volume " + std::to_string(unit) + " is " + Name(v.state) + " with no state to return to");
  }

  VolumeUpdate common;
  if (t.dirties) common.clean = false;
  if (to == DiskState::kScrubbing && v.state != DiskState::kScrubbing) common.prior_state = v.state;
  if (v.state == DiskState::kScrubbing && to != DiskState::kScrubbing) {
    common.prior_state = std::optional<DiskState>();
    common.clean = !failure && op == DiskOp::kScrubDone;
  }
  std::string op_name = std::string(DiskOpName(op)) + (failure ? " (failed)" : "");

  VolumeUpdate mine = extra;
  if (common.clean && !mine.clean) mine.clean = common.clean;
  if (common.prior_state) mine.prior_state = common.prior_state;
  VSL_RETURN_IF_ERROR(catalog_->CasVolume(tx, unit, v.state, to, mine, op_name, actor, detail));
  VSL_ASSIGN_OR_RETURN(auto members, catalog_->Members(tx, unit));
  for (const catalog::Volume& m : members) {
    VSL_RETURN_IF_ERROR(catalog_->CasVolume(tx, m.id, v.state, to, common, op_name, actor,
                                            "member " + std::to_string(m.member_order) + " of volume " +
                                                std::to_string(unit)));
  }
  return to;
}

}  // namespace vsl::manager
