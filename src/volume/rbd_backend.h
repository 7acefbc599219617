// RbdBackend: one open RBD image for MetaVolume (internal to src/volume).
//
// Two kinds of calls. The asynchronous ones (RbdAio*: librbd's aio_read2,
// aio_write2, aio_flush, aio_discard, aio_write_zeroes)
// start the operation and return; librbd calls back on one of its threads
// when the cluster answered, so no thread of ours waits: the gateway's data
// path (MetaVolume::ReadAsync and friends) uses them. The synchronous ones
// (read2, write2, ...) block the caller's thread until the cluster
// answers: MetaVolume::Read/Write, copies and GET LBA STATUS
// (diff_iterate2, which has no asynchronous form) use them, never on a
// connection loop. The cluster handle is shared by every image of one
// (conf, user, keyring) in the process and shut down when its last image
// closes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "util/held_bytes.h"
#include "util/status.h"
#include "volume/volume.h"

namespace vsl::volume {

class RbdBackend;
// The outcome of an asynchronous call. Runs exactly once, on a librbd
// thread (or on the caller's, when the call could not be started); it must
// not block (librbd's completions for the whole image wait behind it).
using RbdDone = std::function<void(Status)>;

// Opens `where`; for writing, takes the image's exclusive lock (refused,
// naming the image and the lock's owner, when another client holds it).
// With where.snap set, the image as of that snapshot, read only (NotFound
// naming the snapshot when the image has none of that name).
// Without librbd in the build: FailedPrecondition saying so.
Result<std::shared_ptr<RbdBackend>> OpenRbd(const RbdImage& where, bool read_only);

// "rbd:POOL/IMAGE": the image's name in messages.
std::string RbdName(const RbdImage& where);
// Identifies the image across volumes: cluster settings, pool and image.
std::string RbdKey(const RbdImage& where);

uint64_t RbdSize(const RbdBackend& b);
Status RbdRead(const RbdBackend& b, uint64_t off, uint8_t* p, uint64_t n);
Status RbdWrite(const RbdBackend& b, uint64_t off, const uint8_t* p, uint64_t n);
Status RbdFlush(const RbdBackend& b);
// Afterwards [off, off+n) reads as zeros.
Status RbdDiscard(const RbdBackend& b, uint64_t off, uint64_t n);
// Asynchronous forms of the above; `p` must stay valid until `done` runs.
// Errors name the image and the offset. A flush covers the writes that
// completed before it started.
void RbdAioRead(const RbdBackend& b, uint64_t off, uint8_t* p, uint64_t n, RbdDone done);
// A read whose bytes stay in librbd's buffers (no copy into the caller's):
// `done` gets them (the image's reply, zeros past the end of an image that
// shrank) or the error and null. At most 16 pieces.
using RbdHeldDone = std::function<void(Status, std::shared_ptr<const util::HeldBytes>)>;
void RbdAioReadHeld(const RbdBackend& b, uint64_t off, uint64_t n, RbdHeldDone done);
void RbdAioWrite(const RbdBackend& b, uint64_t off, const uint8_t* p, uint64_t n, RbdDone done);
void RbdAioFlush(const RbdBackend& b, RbdDone done);
void RbdAioDiscard(const RbdBackend& b, uint64_t off, uint64_t n, RbdDone done);
// Afterwards [off, off+n) reads as zeros; whole objects may be deallocated.
void RbdAioWriteZeroes(const RbdBackend& b, uint64_t off, uint64_t n, RbdDone done);

// Calls fn(offset, length, holds_data) for the runs of [off, off+n) in
// order, until fn returns false. A run "holds data" when the image's object
// there exists (whole objects: a mapped run may read zeros).
Status RbdRuns(const RbdBackend& b, uint64_t off, uint64_t n,
               const std::function<bool(uint64_t, uint64_t, bool)>& fn);

// An RBD clone's link to its parent, for the read cache (volume/cache.h):
// the parent snapshot's identity (cluster settings, pool id, image id,
// snapshot id: stable across renames, never reused), the overlap (bytes of
// the clone that still read through to the parent where the clone has no
// object), the object size, and which objects the clone holds now
// (rbd_diff_iterate2 over the clone alone, whole objects). nullopt for an
// image that is no clone.
struct RbdParent {
  std::string key;
  uint64_t overlap = 0;
  uint64_t object_size = 0;
  std::vector<bool> written;  // per object of the clone
};
Result<std::optional<RbdParent>> RbdCloneParent(const RbdBackend& b, const RbdImage& where);

// Snapshots (backups, issue 10). Through `b`'s handle: for an image open
// for writing that is the handle holding the exclusive lock, so librbd
// takes the snapshot here (after the writes this handle completed) rather
// than asking another client.
Status RbdSnapCreate(const RbdBackend& b, const std::string& snap);
// Removing a snapshot the image does not have is fine.
Status RbdSnapRemove(const RbdBackend& b, const std::string& snap);
Result<std::vector<std::string>> RbdSnapNames(const RbdBackend& b);
// Calls fn(offset, length) for the runs of [off, off+n) that differ between
// snapshot `from_snap` and what `b` shows (its snapshot, or the head),
// exact to the byte range librbd recorded (not whole objects), written or
// discarded. NotFound naming the image and the snapshot when it is gone.
Status RbdDiff(const RbdBackend& b, const std::string& from_snap, uint64_t off, uint64_t n,
               const std::function<void(uint64_t, uint64_t)>& fn);

}  // namespace vsl::volume
