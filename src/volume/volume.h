// MetaVolume: a LUN's storage, made of an ordered list of extents.
//
// The seed's concatenated (meta) volume: extent i covers bytes
// [sum(len[0..i)), sum(len[0..i])) of the volume and lives at
// [offset, offset+length) of its backend: the file at `path`, or an RBD
// image reached through librbd in this process. I/O that crosses extent
// boundaries is split, and one volume may mix both kinds. Every method is
// thread-safe: many I/O threads may read and write one volume at once
// (pread/pwrite on shared fds; librbd's calls on a shared image).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "util/held_bytes.h"
#include "util/status.h"
#include "volume/point_in_time.h"

namespace vsl::volume {

// An RBD image and what reaches its cluster. The cephx secret stays in the
// keyring file: neither an extent nor a gateway configuration holds it.
struct RbdImage {
  std::string pool;
  std::string image;
  std::string conf;     // ceph.conf; empty = /etc/ceph/ceph.conf
  std::string user;     // cephx id without "client."; empty = "admin"
  std::string keyring;  // keyring file; empty = librados' default search
  // Set: the image as of this snapshot, opened read only (a backup reads
  // one); "rbd:POOL/IMAGE@SNAP" in messages.
  std::string snap;
  bool operator==(const RbdImage&) const = default;
};

struct Extent {
  std::string path;     // a regular file or block device
  uint64_t offset = 0;  // bytes into the file
  uint64_t length = 0;  // bytes; a multiple of the block size
  // No file at all (path and offset unused): writes are discarded and reads
  // return zeros. For measuring the transport alone (bench/); only the
  // standalone gateway's configuration can ask for one.
  bool null = false;
  // Set: the extent lives at [offset, offset+length) of this RBD image, and
  // `path` is only its name for messages ("rbd:POOL/IMAGE"). Every open
  // volume's images of one cluster (conf, user, keyring) share one cluster
  // handle in the process; an image opened for writing holds the RBD
  // exclusive lock until the last volume using it goes. A build without
  // librbd (VSL_WITH_RBD=OFF) refuses to open such an extent.
  std::optional<RbdImage> rbd = std::nullopt;
  bool operator==(const Extent&) const = default;
};

// Where one volume byte range lies: piece of an extent.
struct Piece {
  size_t extent = 0;        // index into extents()
  uint64_t file_offset = 0; // offset in that extent's file
  uint64_t length = 0;
  uint64_t volume_offset = 0;
};

// ExtentMap: the pure part (no I/O): volume offset -> (extent, file offset).
class ExtentMap {
 public:
  // Fails when an extent is empty or not a multiple of block_size.
  static Result<ExtentMap> Make(std::vector<Extent> extents, uint32_t block_size);
  uint64_t size() const { return size_; }
  uint32_t block_size() const { return block_size_; }
  const std::vector<Extent>& extents() const { return extents_; }
  // The pieces covering [offset, offset+length), in order. OutOfRange when the
  // range goes past size().
  Result<std::vector<Piece>> Map(uint64_t offset, uint64_t length) const;
  // The fast path of Map for the common case: true (and *piece set) when the
  // non-empty range lies inside one extent.
  bool MapOne(uint64_t offset, uint64_t length, Piece* piece) const;

 private:
  std::vector<Extent> extents_;
  std::vector<uint64_t> starts_;  // volume offset where extent i begins
  uint64_t size_ = 0;
  uint32_t block_size_ = 512;
};

// Options for opening a volume.
struct VolumeOptions {
  uint32_t block_size = 512;
  bool read_only = false;
  // Stable identity (e.g. the catalog's volume id, or a hash of the extents for
  // a standalone gateway): the SCSI NAA identifier and serial come from it.
  std::string id;
};

// What the process asked of librbd, all RBD images together, since start:
// the data path's calls (reads, writes, flushes, discards, synchronous or
// asynchronous) and the most of them in flight at one moment. A gateway
// whose RBD I/O waited on its I/O threads could never have more in flight
// than it has I/O threads.
struct RbdIoStats {
  uint64_t calls = 0;
  uint64_t max_in_flight = 0;
};
RbdIoStats GetRbdIoStats();

// Waits, at most `limit`, until no call librbd made into vsl (an I/O's
// completion) is still running and no RBD image is still closing; false
// when something still runs. A completion may answer a command (letting
// the gateway's Stop return) and only then let go of the last user of an
// image, whose close then runs on a thread of its own (rbd_close waits for
// librbd's threads). A process calls this after closing its volumes and
// before it exits: librbd still running while the process tears down its
// static state crashes it.
bool WaitRbdQuiet(std::chrono::milliseconds limit);

// Allocation state of a block range, for GET LBA STATUS.
struct LbaStatus {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool mapped = true;  // false: deallocated (a hole; reads as zeros)
};

class MetaVolume {
 public:
  // Opens every extent's file (O_RDWR, or O_RDONLY when read_only) or RBD
  // image (for writing: with the image's exclusive lock). Fails with the
  // path and errno when a file can't be opened or is shorter than
  // offset+length; with the image and the lock's owner when another client
  // holds an image's exclusive lock.
  static Result<std::shared_ptr<MetaVolume>> Open(std::vector<Extent> extents,
                                                  VolumeOptions options);
  ~MetaVolume();

  uint64_t size() const { return size_.load(std::memory_order_acquire); }  // bytes
  uint64_t block_count() const { return size() / block_size(); }
  uint32_t block_size() const { return options_.block_size; }
  bool read_only() const { return options_.read_only; }
  const std::string& id() const { return options_.id; }
  std::vector<Extent> extents() const;

  // Byte-addressed I/O; offset and length need not be block aligned but the
  // SCSI layer always passes whole blocks. OutOfRange past the end.
  Status Read(uint64_t offset, std::span<uint8_t> out) const;
  // Read without blocking (preadv2 RWF_NOWAIT): true when all of `out` came
  // from the page cache, false when some of it would need the disk or lies on
  // an RBD image (the caller then uses Read on an I/O thread). Errors as Read.
  Result<bool> TryReadNoWait(uint64_t offset, std::span<uint8_t> out) const;
  // Write on the caller's thread when that will not wait for a disk: true
  // when written (and, with fua, durable), false when the caller must use
  // Write on an I/O thread (part of the range may then be written already;
  // Write writes it again). Always false when the range touches an RBD
  // image. Memory-backed files (tmpfs, ramfs) are always written here;
  // page-cache files only without fua, with pwritev2 RWF_NOWAIT where the
  // file system supports it, else as a plain buffered write, unless an
  // inline write to that file lately took over 2 ms (then false for 10 ms,
  // doubling up to a second while such writes recur).
  Result<bool> TryWriteNoWait(uint64_t offset, std::span<const uint8_t> data, bool fua);
  // The same for consecutive writes: bufs lie end to end from offset, and go
  // down as one pwritev per file piece (one system call for a run of writes).
  Result<bool> TryWriteNoWait(uint64_t offset, std::span<const std::span<const uint8_t>> bufs,
                              bool fua);
  // fua: the data is durable (fdatasync of every touched file, librbd's flush of
  // every touched image) before return.
  Status Write(uint64_t offset, std::span<const uint8_t> data, bool fua);
  // Makes every completed write durable.
  Status Flush();
  // Deallocates [offset, offset+length): holes are punched
  // (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE); where the file system can't,
  // zeros are written; on RBD, librbd's discard (whole objects removed, parts of
  // objects zeroed: rbd_skip_partial_discard is off). Afterwards the range
  // reads as zeros.
  Status Unmap(uint64_t offset, uint64_t length);
  // Mapped/unmapped runs from `offset` (SEEK_DATA/SEEK_HOLE; on RBD the
  // image's allocated objects from rbd_diff_iterate2), at most
  // `max_runs` entries, covering at least the first block.
  Result<std::vector<LbaStatus>> GetLbaStatus(uint64_t offset, size_t max_runs) const;

  // Asynchronous I/O, the gateway's data path for volumes with RBD extents:
  // each call starts the transfer and returns at once; `done` runs exactly
  // once, after every piece of the range has finished, with the first error
  // (which names the file or image). RBD pieces go to librbd's aio calls, so
  // no thread waits for the cluster; the pieces in files go together as one
  // task to `offload` (something that runs it on a thread that may block),
  // except those in memory-backed files and null extents, done on the
  // caller's thread. `done` runs on a librbd thread, an `offload` thread or
  // the caller's (a range past the end, or one in memory only) and must not
  // block. `out` and `data` must stay valid until `done` runs.
  using IoDone = std::function<void(Status)>;
  using Offload = std::function<void(std::function<void()>)>;
  // Whether any extent lies on an RBD image (it may become true on Append).
  bool has_rbd() const { return has_rbd_.load(std::memory_order_acquire); }
  void ReadAsync(uint64_t offset, std::span<uint8_t> out, const Offload& offload,
                 IoDone done) const;
  // A read whose bytes stay where they arrived: when [offset, offset+length)
  // lies in one RBD extent and the volume reads around the cache, librbd's
  // buffers go to `done` (on a librbd thread) and nothing copies them;
  // returns true and takes `done`. For any other range it returns false and
  // leaves `done` alone: the caller uses ReadAsync.
  using HeldReadDone = std::function<void(Status, std::shared_ptr<const util::HeldBytes>)>;
  bool ReadHeldAsync(uint64_t offset, uint64_t length, HeldReadDone& done) const;
  // fua: as Write, durable before `done`: once every piece is written,
  // librbd's aio_flush of every touched image and fdatasync of every touched file.
  void WriteAsync(uint64_t offset, std::span<const uint8_t> data, bool fua,
                  const Offload& offload, IoDone done);
  // Flush, asynchronously (librbd's aio_flush; file syncs offloaded).
  void FlushAsync(const Offload& offload, IoDone done);
  // Afterwards [offset, offset+length) reads as zeros. deallocate: as Unmap
  // (aio_discard; holes punched in files); otherwise the zeros are
  // written (aio_write_zeroes, which may still free whole objects;
  // zeros written to files).
  void ZeroAsync(uint64_t offset, uint64_t length, bool deallocate, const Offload& offload,
                 IoDone done);

  // Copies [src_offset, src_offset+length) of `src` to [dst_offset, ...) of
  // this volume inside the kernel, without the bytes passing through this
  // process: runs that hold data go by copy_file_range(2) (a reflink where
  // the file system shares blocks, an in-kernel copy otherwise), holes of the
  // source become holes here (punched, or zeros written where the file system
  // can't), so a sparse source stays sparse. Where copy_file_range can't join
  // two files (an old kernel, another file system), that run goes through a
  // buffer here. Returns false, having written nothing, when a source and a
  // destination range overlap in one file: the caller then orders the copy
  // itself. Runs to or from an RBD image go through a buffer here (zero runs
  // of the source still become holes). Not durable until Flush, as Write
  // without fua.
  Result<bool> CopyFrom(const MetaVolume& src, uint64_t src_offset, uint64_t dst_offset,
                        uint64_t length);

  // Grows the volume by appending extents (the meta volume got another
  // member). Safe while I/O runs; callers see the new size afterwards.
  Status Append(std::vector<Extent> more);
  // Moves the volume onto `extents` (same total size) at once: I/O that
  // starts afterwards uses them; I/O already running finishes on the old
  // ones (their files stay open until it does). For a live migration
  // (docs/migration.md): the caller has copied the data and holds the
  // writes. InvalidArgument when the size differs. The files and RBD images
  // that `opened` (the volume the copy wrote, open on the same extents) has
  // open are taken over, not opened again: a second handle of an RBD image
  // would find the copy's handle holding its exclusive lock.
  Status Replace(std::vector<Extent> extents, const MetaVolume* opened = nullptr);
  // Replace in two steps, so that nothing can fail once the caller recorded
  // the move (a migration's catalog transaction runs between them):
  // PrepareReplace does all that may fail (the map, the size, taking over or
  // opening the files) and SwitchTo only swaps the prepared extent map in.
  struct State;  // extent map + open fds; replaced whole on Append
  Result<std::shared_ptr<const State>> PrepareReplace(std::vector<Extent> extents,
                                                      const MetaVolume* opened = nullptr) const;
  void SwitchTo(std::shared_ptr<const State> next);

  // RBD snapshots of the volume's images, for backups (issue 10). Each acts
  // on every distinct image through this volume's own handle: for a
  // writable volume the one that holds the image's exclusive lock, so the
  // snapshot follows every write this volume completed (the caller makes
  // the instant: no write may run meanwhile). Volumes without RBD extents:
  // nothing to do.
  Status CreateRbdSnapshot(const std::string& snap);
  // Removing one an image does not have is fine.
  Status RemoveRbdSnapshot(const std::string& snap);
  // The snapshot names present on any of the images.
  Result<std::vector<std::string>> RbdSnapshotNames() const;
  // The byte ranges of the volume, inside its RBD extents only, that differ
  // between snapshot `from_snap` of their images and what this volume shows
  // (its images opened at a later snapshot, RbdImage::snap, or the head);
  // sorted. NotFound naming the image when one has no such snapshot.
  Result<std::vector<std::pair<uint64_t, uint64_t>>> RbdChangesSince(const std::string& from_snap) const;

  // Chunks written since the map was last cleared (off until enabled; see
  // point_in_time.h). Every write path marks it.
  ChangeMap& changes() { return changes_; }

  // A live migration's mirror (docs/migration.md): from StartMirror until
  // StopMirror every write path (Write, the inline and asynchronous writes,
  // zeroing, Unmap, CopyFrom into this volume) writes `dst` too, at the same
  // offsets, before the write completes. This volume stays authoritative: a
  // failed write to `dst` does not fail the host's write; it is kept for
  // MirrorStatus and the migration gives up. The caller starts the mirror
  // with no write running (the gateway holds the LU's write gate), so that
  // every write that completes afterwards has reached `dst`.
  // FailedPrecondition when a mirror is on already or the sizes differ.
  Status StartMirror(std::shared_ptr<MetaVolume> dst);
  // The background copy's step: [offset, offset+length) of this volume to
  // the mirror (copy_file_range between files, holes kept), registered like
  // a write so that it and the host's writes see each other.
  Status CopyToMirror(uint64_t offset, uint64_t length);
  // Byte ranges (64 KiB chunks, merged) whose copy on the mirror may differ
  // from this volume's: a write or copy there ran at the same time as
  // another write or copy of the same bytes (their order on the mirror may
  // not be their order here). Cleared by the call; copy them again, the
  // last time with no write running.
  std::vector<std::pair<uint64_t, uint64_t>> TakeMirrorConflicts();
  // The first error a write to the mirror met (Ok while there is none).
  Status MirrorStatus() const;
  // Ends the mirror; returns once no write to `dst` is running, so the
  // caller may scrub or free it.
  void StopMirror();

  // The read cache (volume/cache.h, when the process has one): with reads
  // on, reads of whole 4 KiB blocks are served from it and fill it. Every
  // write path invalidates the blocks it wrote whatever the setting, after
  // its bytes reached the backend and before it completes, so turning
  // reads on again never finds a block older than the last write.
  void set_cache_reads(bool on) { cache_reads_.store(on, std::memory_order_relaxed); }
  bool cache_reads() const { return cache_reads_.load(std::memory_order_relaxed); }
  struct CacheCounters {
    uint64_t hits = 0;                // reads served from the cache alone
    uint64_t misses = 0;              // reads with cache on that went to the backend (all or part)
    uint64_t backend_read_bytes = 0;  // bytes any read asked of the files and images
  };
  CacheCounters cache_counters() const {
    return {hits_.load(std::memory_order_relaxed), misses_.load(std::memory_order_relaxed),
            backend_read_bytes_.load(std::memory_order_relaxed)};
  }

 private:
  friend class PointInTime;
  friend Result<std::unique_ptr<PointInTime>> OpenPointInTime(const std::shared_ptr<MetaVolume>&,
                                                              const std::string&);
  // Marks the change map, and preserves for an open point-in-time view what
  // [offset, offset+length) is about to overwrite.
  void BeforeWrite(uint64_t offset, uint64_t length);
  void DetachPointInTime(const std::shared_ptr<CowState>& cow);

  MetaVolume(VolumeOptions options);
  std::shared_ptr<const State> state() const;
  bool UseCache() const;  // reads go through the cache
  // `done` preceded by the cache's part of a write of [offset, offset+length)
  // (run now for its start, in the returned callback for its end).
  IoDone AfterWriteDone(std::shared_ptr<const State> s, uint64_t offset, uint64_t length,
                        IoDone done);

  VolumeOptions options_;
  mutable std::mutex mu_;
  std::shared_ptr<const State> state_;  // guarded by mu_
  std::atomic<uint64_t> size_{0};       // state_'s size, readable without mu_
  std::atomic<bool> has_rbd_{false};    // state_ has an RBD extent
  std::shared_ptr<CowState> cow_;       // the open point-in-time view; guarded by mu_
  std::atomic<bool> has_cow_{false};    // cow_ is set, readable without mu_
  ChangeMap changes_;
  struct Mirror;        // meta_volume.cc
  class MirrorTicket;   // one write's registration with the mirror
  MirrorTicket MirrorFor(uint64_t offset, uint64_t length);  // none when no mirror is on
  std::shared_ptr<Mirror> mirror_;     // guarded by mu_
  std::atomic<bool> has_mirror_{false};  // mirror_ is set, readable without mu_
  std::atomic<bool> cache_reads_{false};
  mutable std::atomic<uint64_t> hits_{0}, misses_{0}, backend_read_bytes_{0};
};

// Opens a copy-on-write view of `volume` as it is now, its preserved chunks
// in an unnamed file (O_TMPFILE) in side_dir. The caller makes "now" an
// instant: no write to the volume may be running while this is called (the
// gateway holds the LU's write gate exclusively). FailedPrecondition when a
// view is already open. The chunks that lie wholly in RBD extents are never
// preserved (an RBD snapshot is their point in time, and a host's write
// there must not wait for a synchronous librbd read): the view holds the
// instant only for the rest, and reads of those chunks give the live bytes.
Result<std::unique_ptr<PointInTime>> OpenPointInTime(const std::shared_ptr<MetaVolume>& volume,
                                                     const std::string& side_dir);

}  // namespace vsl::volume
