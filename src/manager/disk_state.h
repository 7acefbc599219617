// The disk-unit state machine of FIG. 7, in one table.
//
// A disk unit is a volume or a meta (concatenated) volume; a transition of a
// meta volume moves its members with it, so every row of a unit is always in
// the unit's state. Each transition is a compare-and-swap on each row plus an
// event row, in the caller's transaction. Anything the table does not list is
// refused with FailedPrecondition naming the volume, its state and the
// operation.
//
// Beyond the figure (documented in docs/catalog.md):
//  * Scrubbing is a state of its own while a wipe runs; a scrub starts from
//    Unbound or Unconfigured and returns there (volumes.prior_state).
//  * volumes.clean says no customer data can be on the unit. Ops that let data
//    in (copy, snap, bind, map) clear it; only a finished scrub sets it.
//    Allocate and deallocate require it, so a volume is never handed out again
//    before its scrub finished.
//  * Shared disks: bind and map on an already Bound/Mapped unit add a host;
//    unmap-partial takes one host away while others keep the unit Mapped,
//    unbind-partial drops one host's (unmapped) binding while others keep it.
//  * Grow: a meta unit in use (Configured, Bound or Mapped) takes more
//    members and stays in its state; the new members join it from
//    Allocated. A failed grow leaves the unit as it was.
//  * Migrate: a meta unit in use (Configured, Bound or Mapped) swaps all its
//    members for new ones (from Allocated) and stays in its state; the old
//    ones leave through unmap/unbind (or break-meta) to be scrubbed and
//    freed. A failed migrate leaves the unit as it was.
//  * Rollback: Bound -> Unbound (unbind before map) and Allocated -> Free
//    (an allocation given back before it was configured).
//  * Read-only binds (bind-read-only) let no host write, so they do not
//    clear volumes.clean, and a failed one leaves the unit where it was.
//  * An image's master volume (images.master_volume_id) is shared read-only
//    and never written: only the rows marked `image_master` apply to it
//    (read-only bind, map, unmap, unbind); a read-write bind, copy, grow,
//    scrub, break-meta or deallocate is refused naming the image.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"

namespace vsl::manager {

using catalog::DiskState;

enum class DiskOp {
  kAllocate,
  kMakeMeta,
  kCopyImage,
  kBind,
  kBindReadOnly,  // bind (or rebind) a host that may only read
  kRebind,
  kMap,
  kSnap,  // split/join: a point-in-time copy of a mapped unit
  kUnmap,
  kUnmapPartial,
  kUnbind,
  kUnbindPartial,
  kGrow,
  kMigrate,  // a meta unit in use moves onto other members (docs/migration.md)
  kScrub,
  kScrubDone,
  kBreakMeta,
  kDeallocate,
};
inline constexpr DiskOp kAllDiskOps[] = {
    DiskOp::kAllocate,     DiskOp::kMakeMeta, DiskOp::kCopyImage, DiskOp::kBind,      DiskOp::kBindReadOnly,
    DiskOp::kRebind,
    DiskOp::kMap,          DiskOp::kSnap,     DiskOp::kUnmap,     DiskOp::kUnmapPartial, DiskOp::kUnbind,
    DiskOp::kUnbindPartial, DiskOp::kGrow,    DiskOp::kMigrate,   DiskOp::kScrub,     DiskOp::kScrubDone, DiskOp::kBreakMeta,
    DiskOp::kDeallocate};

// "allocate", "make-meta", "copy-image", ...
std::string_view DiskOpName(DiskOp op);

struct Transition {
  DiskState from;
  DiskOp op;
  // nullopt: back to the row's prior_state (the end of a scrub).
  std::optional<DiskState> to;
  // Where the unit goes when the operation fails (FIG. 7's failure arcs).
  std::optional<DiskState> on_failure;
  // The op may let customer data onto the unit: clears volumes.clean.
  bool dirties = false;
  // The op may apply to an image's master volume (it writes nothing).
  bool image_master = false;
};

// Every legal transition, one row each.
std::span<const Transition> TransitionTable();

// The row for (from, op); FailedPrecondition "volume 7 is mapped: deallocate
// is not allowed (allowed from: allocated, unconfigured)" when there is none.
// With `master` (the image whose master the volume is), also when the row
// is not one an image master may take: "volume 7 is the master of image
// 'deb' ...".
Result<Transition> FindTransition(int64_t volume_id, DiskState from, DiskOp op,
                                  const catalog::Image* master = nullptr);

class DiskStateMachine {
 public:
  explicit DiskStateMachine(catalog::Catalog* catalog) : catalog_(catalog) {}

  // Moves `unit` (and its members) along the success arc of `op`; `extra`
  // columns are set on the unit row only. Returns the new state. Aborted when
  // another transaction moved a row first; FailedPrecondition when the table
  // has no such arc or when allocate/deallocate meet a unit that is not clean.
  Result<DiskState> Apply(catalog::Tx& tx, int64_t unit, DiskOp op, const catalog::Actor& actor,
                          const catalog::VolumeUpdate& extra = {}, const std::string& detail = "");
  // Moves `unit` along the failure arc of `op` from its current state.
  Result<DiskState> ApplyFailure(catalog::Tx& tx, int64_t unit, DiskOp op, const catalog::Actor& actor,
                                 const std::string& reason);
  // OK when `op` is legal for `unit` now (no change), image masters included.
  Status Check(catalog::Tx& tx, int64_t unit, DiskOp op);

 private:
  Result<DiskState> Move(catalog::Tx& tx, int64_t unit, DiskOp op, bool failure, const catalog::Actor& actor,
                         const catalog::VolumeUpdate& extra, const std::string& detail);
  catalog::Catalog* catalog_;
};

}  // namespace vsl::manager
