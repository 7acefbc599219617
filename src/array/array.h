// StorageArray: a storage unit (the seed's disk array) as vsl drives it.
//
// An array holds volumes (the seed's disk volumes), each a run of bytes with a
// stable id. The storage manager discovers them, cuts new ones from a pool,
// copies images onto them, snaps them, binds them to the gateway (Grant),
// tells the gateway where their bytes live (Locate) and scrubs them when a
// host lets go. Drivers: `file` (a directory of sparse files, file_array.cc),
// `rbd` (RBD images in a Ceph pool, rbd_array.cc) and `memory` (for tests,
// memory_array.h); FaultInjectingArray
// (fault_array.h) wraps any of them.
//
// Every method is thread-safe and returns a Status naming the array and the
// volume at fault.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/rbd_clients.h"
#include "util/status.h"
#include "volume/volume.h"

namespace vsl::array {

// Quality attributes, e.g. raid=1, media=ssd, cache=large,
// drivetype=std|raid|performance|spindle|bandwidth. Keys and values are free
// text; the allocator matches on them.
using Qualities = std::map<std::string, std::string>;

// What an array is: the seed's device with its attributes and ports.
struct ArrayInfo {
  std::string name;
  std::string driver;        // "file", "rbd" or "memory"
  std::string path;          // file: the array's directory; rbd: "rbd:POOL/PREFIX"; memory: empty
  uint64_t capacity = 0;     // bytes the array may hand out in volumes
  uint64_t volume_size = 0;  // pre-carved volumes of this size; 0 = a pool
  Qualities qualities;
  std::vector<std::string> ports;  // names of the array's ports
  bool operator==(const ArrayInfo&) const = default;
};

// One volume on an array.
struct ArrayVolume {
  std::string id;      // stable on its array, e.g. "vol-0003"
  uint64_t size = 0;   // bytes, a multiple of kBlockSize for volumes vsl made
  std::string path;    // file: the file that holds it; rbd: "rbd:POOL/IMAGE"; memory: empty
  // The array's qualities, which every volume inherits, overlaid with any of
  // this volume's own.
  Qualities qualities;
  bool operator==(const ArrayVolume&) const = default;
};

// A byte range of a volume.
struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool operator==(const ByteRange&) const = default;
};

// Volume sizes (and pre-carved sizes) are whole blocks of this many bytes.
inline constexpr uint64_t kBlockSize = 512;

// Where an `rbd` array's images live and how vsl reaches the cluster. Only
// paths and names: the cephx secret stays in the keyring file.
struct RbdSettings {
  std::string pool;
  std::string conf;     // ceph.conf; empty = /etc/ceph/ceph.conf
  std::string user;     // cephx id without "client."; empty = "admin"
  std::string keyring;  // keyring file; empty = librados' default search
  bool operator==(const RbdSettings&) const = default;
};

// How to open (or create) an array. For an existing file array the fields
// left empty/zero are read from its manifest; those given must agree with it.
struct ArraySpec {
  std::string name;
  std::string driver = "file";
  std::string path;          // file: the directory (created when missing)
  uint64_t capacity = 0;     // required when the array is new
  uint64_t volume_size = 0;  // > 0: carve capacity/volume_size volumes now
  Qualities qualities;
  std::vector<std::string> ports;  // default {"port0"}
  RbdSettings rbd{};               // driver "rbd" only
  // Reopening at start-up (driver "rbd"): a cluster that does not answer
  // leaves the array disconnected (see StorageArray::Disconnected) instead of
  // failing the open.
  bool may_start_disconnected = false;
};


// The operations, for fault injection and call counting.
enum class ArrayOp {
  kDiscover,  // Discover
  kStat,      // GetVolume, MappedRanges, Grants
  kCreate,    // CreateVolume
  kDelete,    // DeleteVolume
  kRead,
  kWrite,
  kDeallocate,
  kCopy,      // Copy, CopyFromFile
  kSnap,
  kScrub,
  kGrant,
  kRevoke,
  kLocate,
};
inline constexpr int kArrayOpCount = 13;
std::string_view ArrayOpName(ArrayOp op);  // "create", "copy", ...

class StorageArray {
 public:
  virtual ~StorageArray() = default;

  // The array's identity, capacity, qualities and ports.
  virtual ArrayInfo info() const = 0;

  // The volumes that exist now, sorted by id. Calling it again without a
  // change in between returns the same list; volumes added or removed behind
  // vsl's back (a file array's files) show up or drop out.
  virtual Result<std::vector<ArrayVolume>> Discover() = 0;
  // NotFound when `id` does not exist.
  virtual Result<ArrayVolume> GetVolume(const std::string& id) = 0;

  // Cuts a new volume of `size` bytes (a multiple of kBlockSize) from the
  // pool; it reads as zeros. ResourceExhausted when the free capacity is
  // smaller; FailedPrecondition on a pre-carved array.
  virtual Result<ArrayVolume> CreateVolume(uint64_t size) = 0;
  // Removes the volume and its grants; its capacity returns to the pool.
  virtual Status DeleteVolume(const std::string& id) = 0;

  // Byte-addressed I/O inside the volume; OutOfRange past its end.
  virtual Status Read(const std::string& id, uint64_t offset, std::span<uint8_t> out) = 0;
  virtual Status Write(const std::string& id, uint64_t offset, std::span<const uint8_t> data) = 0;
  // Afterwards [offset, offset+length) reads as zeros and, where the driver
  // can, holds no storage (a hole).
  virtual Status Deallocate(const std::string& id, uint64_t offset, uint64_t length) = 0;
  // Ranges that may hold data, in order; everything else is a hole and reads
  // as zeros. May over-report (data that happens to be zero), never under.
  virtual Result<std::vector<ByteRange>> MappedRanges(const std::string& id) = 0;

  // Makes volume `dst_id` of this array a copy of volume `src_id` of `src`
  // (which may be this array): afterwards dst reads as src followed by zeros.
  // Sparse-aware: holes of src are never read and stay holes in dst. The copy
  // is durable on return. OutOfRange when src is bigger than dst.
  virtual Status Copy(StorageArray& src, const std::string& src_id, const std::string& dst_id) = 0;
  // As Copy, from a regular file (a raw disk image).
  virtual Status CopyFromFile(const std::string& src_path, const std::string& dst_id) = 0;
  // Point-in-time copy of `src_id` into `dst_id` on this array (the seed's
  // backup control volume): no write through this interface lands halfway.
  virtual Status Snap(const std::string& src_id, const std::string& dst_id) = 0;
  // Destroys the volume's data: holes punched over all of it (zeros written
  // where the driver can't), then every byte read back and checked to be zero.
  // DataLoss when a non-zero byte survives.
  virtual Status Scrub(const std::string& id) = 0;

  // Binding: the array lets `initiator` (the gateway, by name) reach the
  // volume. Granting twice is harmless. Revoke with an empty initiator drops
  // every grant of the volume; revoking what isn't granted is harmless. Both
  // are NotFound when the volume itself is gone (its grants went with it).
  // The file driver keeps grants in its manifest, so they survive a restart.
  virtual Status Grant(const std::string& id, const std::string& initiator) = 0;
  virtual Status Revoke(const std::string& id, const std::string& initiator) = 0;
  // Who may reach the volume now, sorted.
  virtual Result<std::vector<std::string>> Grants(const std::string& id) = 0;

  // Copy-on-write clones, for drivers that have them (rbd); the others say
  // no and the caller copies instead. CanCloneFrom: whether Clone works from
  // volumes of `src` (for rbd: an rbd array on the same cluster and pool).
  virtual bool CanCloneFrom(const StorageArray& src) const {
    (void)src;
    return false;
  }
  // Makes volume `dst_id` of this array a copy-on-write clone of volume
  // `src_id` of `src`: afterwards dst reads as src followed by zeros and
  // holds only what is written to it later. `src` must never be written
  // again while clones of it live (an image's master). dst keeps its id,
  // size and grants; whatever it held is gone. Idempotent: a call cut short
  // at any point (a crash) converges when made again. OutOfRange when src is
  // bigger than dst; FailedPrecondition when !CanCloneFrom(src).
  virtual Status Clone(StorageArray& src, const std::string& src_id, const std::string& dst_id);
  // Gives a clone its own copy of every block it still reads from its
  // parent; afterwards it is a plain volume. A plain volume is left as it
  // is (so a call cut short converges); Unimplemented for drivers without
  // clones.
  virtual Status Flatten(const std::string& id);

  // Where the volume's bytes live, for the gateway (volume::MetaVolume).
  // Unimplemented for the memory driver, which has no files; FailedPrecondition
  // for the rbd driver until the gateway has an RBD backend.
  virtual Result<std::vector<volume::Extent>> Locate(const std::string& id) = 0;

  // Why the array cannot be reached now, empty when it can: an rbd array
  // opened with may_start_disconnected whose cluster did not answer. Such an
  // array keeps trying in the background (with back-off) and every operation
  // meanwhile fails with Unavailable naming it.
  virtual std::string Disconnected() const { return {}; }
  // `fn` runs (on the array's own thread) once a disconnected array is
  // reached; an empty fn clears it and waits for a running one to end.
  virtual void OnReconnect(std::function<void()> fn) { (void)fn; }
  // Breaks the exclusive locks that clients in `dead` hold on the array's
  // volumes (util/rbd_clients.h: clients of an earlier vsl serve of this
  // data directory, which was killed); returns the names of the volumes freed. Nothing for drivers
  // without such locks.
  virtual Result<std::vector<std::string>> BreakDeadLocks(const std::vector<util::RbdClient>& dead) {
    (void)dead;
    return std::vector<std::string>{};
  }
};

// Opens the array `spec` describes: driver "file", "rbd" or "memory". A new
// file array gets its directory and manifest (array.json), a new rbd array its
// manifest object in the pool, and, when volume_size is given, its carved
// volumes. "rbd" is Unimplemented when vsl was built without librbd.
Result<std::unique_ptr<StorageArray>> OpenArray(const ArraySpec& spec);

}  // namespace vsl::array
