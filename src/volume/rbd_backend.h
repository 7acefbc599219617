// RbdBackend: one open RBD image for MetaVolume (internal to src/volume).
//
// Synchronous librbd calls (rbd_read2/rbd_write2/...), made on the caller's
// thread: MetaVolume never runs them on the connection loop (TryReadNoWait
// and TryWriteNoWait say false for RBD pieces), so they run on the gateway's
// I/O pool. The cluster handle is shared by every image of one (conf, user,
// keyring) in the process and shut down when its last image closes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "util/status.h"
#include "volume/volume.h"

namespace vsl::volume {

class RbdBackend;

// Opens `where`; for writing, takes the image's exclusive lock (refused,
// naming the image and the lock's owner, when another client holds it).
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
// Calls fn(offset, length, holds_data) for the runs of [off, off+n) in
// order, until fn returns false. A run "holds data" when the image's object
// there exists (whole objects: a mapped run may read zeros).
Status RbdRuns(const RbdBackend& b, uint64_t off, uint64_t n,
               const std::function<bool(uint64_t, uint64_t, bool)>& fn);

}  // namespace vsl::volume
