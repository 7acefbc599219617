// The backup store: a directory of backups in the format of docs/backup.md.
//
//   DIR/vsl-backup-store       marker: {"format":"vsl-backup-store","version":1}
//   DIR/lock                   flock: writers shared, delete and cleanup exclusive
//   DIR/backups/ID/manifest    complete backups (ID as vsl makes them, never
//   DIR/backups/ID/data        a name taken from a manifest)
//   DIR/tmp/ID.new/            a backup being written (or left by a crash)
//   DIR/tmp/ID.del/            a backup being deleted (or left by a crash)
//
// A backup is complete exactly when its directory is in backups/: a writer
// fills tmp/ID.new, makes every file and the directory durable, then renames
// it into backups/ (atomic). A writer killed at any point leaves at most a
// tmp/ entry, never a listed backup. Complete backups are never modified.
//
// Memory: every operation holds one chunk (at most 16 MiB) and, per backup in
// a chain, one manifest line buffer, whatever the disk's size.
//
// A store in a RADOS pool (OpenPool; docs/backup.md, "A store in a RADOS
// pool") keeps the same manifests and the same operations on named objects
// (objects.h) instead:
//
//   vsl-backup-store           the marker, the same text
//   manifest.ID                a complete backup's manifest (written whole,
//                              last: the commit point)
//   chunk.SHA256               one chunk's bytes, named by their SHA-256,
//                              put if absent (shared by every backup that
//                              holds those bytes)
//
// A writer holds the store's lock shared, a delete exclusive; chunks no
// manifest names (a killed writer's, a deleted backup's) are removed under
// the exclusive lock by Delete and by Open with `clean`. Memory: a pool
// writer holds its manifest (about 150 bytes per stored chunk) until Commit,
// and a manifest is read whole; a delete holds one name per chunk.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "backup/digest.h"
#include "backup/file_io.h"
#include "backup/io.h"
#include "backup/manifest.h"
#include "backup/objects.h"
#include "util/status.h"

namespace vsl::backup {

// Restore and verify follow parents at most this far: a deeper chain wants a
// new level 0 (and would hold this many files open).
inline constexpr size_t kMaxChainLength = 256;

struct OpenOptions {
  bool create = false;  // make DIR (mode 0700) when missing or empty
  bool clean = true;    // remove tmp/ leftovers when no writer is active
};

// Something in tmp/ that a writer or a delete left behind.
struct Leftover {
  std::string name;     // "20261130T034500Z-1a2b3c4d.new"
  bool removed = false; // false: a writer is active, or it could not be removed
  std::string note;     // why not removed
};

struct BackupSpec {
  std::string disk;
  std::string farm;
  std::string server;
  int level = 0;
  std::optional<std::string> parent;  // required for level 1
  uint64_t disk_size = 0;
  uint64_t chunk_size = kDefaultChunkSize;
  // The point in time the backup's bytes are of; now when not given.
  std::optional<std::chrono::system_clock::time_point> created;
};

struct ListedBackup {
  BackupHeader header;
  uint64_t stored_bytes = 0;  // the data file's size
};

struct Listing {
  std::vector<ListedBackup> backups;  // by creation time, parents before children, then id
  std::vector<std::string> skipped;   // entries of backups/ that are not readable backups, and why
};

struct VerifyFailure {
  std::string backup;
  uint64_t offset = 0;  // the extent's offset on the disk
  uint64_t length = 0;
  std::string what;
};

struct VerifyReport {
  std::vector<std::string> chain;  // oldest (the level 0) first, the backup last
  uint64_t extents_checked = 0;
  uint64_t bytes_checked = 0;
  uint64_t failure_count = 0;
  std::vector<VerifyFailure> failures;  // the first 100
  bool ok() const { return failure_count == 0; }
};

struct RestoreStats {
  std::vector<std::string> chain;
  uint64_t disk_size = 0;
  uint64_t extents_written = 0;
  uint64_t bytes_written = 0;
};

class Store;

// By creation time, parents before children (within one second), then id.
Listing SortListing(Listing listing);

// A pool store's object names.
inline constexpr char kManifestPrefix[] = "manifest.";
inline constexpr char kChunkPrefix[] = "chunk.";
inline std::string ManifestObject(const std::string& id) { return kManifestPrefix + id; }
inline std::string ChunkObject(const Digest& sha256) { return kChunkPrefix + ToHex(sha256); }

// One backup being written. Chunks are added in ascending offset order; each
// is a whole chunk of the disk (the last one may be shorter). Destroying an
// uncommitted writer removes what it wrote. Not thread-safe.
class BackupWriter {
 public:
  ~BackupWriter();
  BackupWriter(const BackupWriter&) = delete;
  BackupWriter& operator=(const BackupWriter&) = delete;

  const BackupHeader& header() const { return header_; }
  // The length of the chunk at `offset`.
  uint64_t ChunkLength(uint64_t offset) const;

  // `bytes`: one or more whole chunks starting at `offset` (a multiple of the
  // chunk size). A chunk of zeros is stored as a zero extent in a level 1
  // and left out of a level 0 (its absence restores as zeros).
  Status AddExtent(uint64_t offset, std::span<const uint8_t> bytes);
  // One chunk whose SHA-256 the caller already has (it is trusted).
  Status AddChunk(uint64_t offset, std::span<const uint8_t> bytes, const Digest* sha256);
  // The chunk at `offset` now holds zeros (level 1 only).
  Status AddZeroChunk(uint64_t offset);

  // Makes the backup durable and lists it. The writer is done afterwards.
  Result<ListedBackup> Commit();
  // Removes what was written; the backup never existed.
  void Abort();

  uint64_t extents() const { return count_; }
  uint64_t zero_extents() const { return zero_count_; }
  uint64_t data_size() const { return data_pos_; }

 private:
  friend class Store;
  BackupWriter() = default;
  Status CheckChunk(uint64_t offset, uint64_t length) const;
  Status LockDir();
  Result<ListedBackup> CommitToObjects();
  Status AppendLine(const std::string& line);
  Status FlushManifest();

  std::string dir_;       // the store
  std::string tmp_path_;  // DIR/tmp/ID.new
  ObjectStore* objects_ = nullptr;      // a pool store's objects; null: a directory
  std::unique_ptr<ObjectLock> olock_;   // a pool store's lock, shared
  BackupHeader header_;
  Fd lock_;
  Fd data_;
  Writeback data_writeback_;
  Fd manifest_;
  std::string pending_;  // manifest bytes not yet written
  Sha256 manifest_sha_;
  Sha256 chunk_sha_;
  uint64_t next_offset_ = 0;
  uint64_t data_pos_ = 0;
  uint64_t count_ = 0;
  uint64_t zero_count_ = 0;
  bool done_ = false;
  Status failed_;  // the first write error; the writer refuses everything after it
};

// Thread-safe: a Store holds nothing that changes after Open, so any of its
// methods may run on several threads (and processes) at once; the store's
// lock (flock, per open file) orders writers against Delete and cleanup.
class Store {
 public:
  static Result<std::unique_ptr<Store>> Open(const std::string& dir, const OpenOptions& options = {});
  // A store on named objects (a RADOS pool). `scratch_dir`: a local
  // directory for what a backup keeps aside while it runs (the
  // copy-on-write blocks of a file array's instant, under scratch_dir/tmp).
  static Result<std::unique_ptr<Store>> OpenPool(std::unique_ptr<ObjectStore> objects, const OpenOptions& options,
                                                 const std::string& scratch_dir);

  // The directory; for a pool store the local scratch directory.
  const std::string& dir() const { return dir_; }
  // For messages: the directory, or "rados:POOL/NS".
  const std::string& name() const { return name_; }
  // A pool store's objects; null for a directory store.
  ObjectStore* objects() const { return objects_.get(); }
  // One backup's manifest, positioned after its header line.
  Result<std::unique_ptr<ManifestReader>> OpenManifest(const std::string& id) const;
  // What Open found in tmp/ (and removed when it could).
  const std::vector<Leftover>& leftovers() const { return leftovers_; }

  // Complete backups; reads each manifest's header line only.
  Result<Listing> List() const;
  // One backup's manifest, read whole and checked.
  Result<ManifestSummary> Show(const std::string& id) const;
  // The backup and its ancestors, oldest (the level 0) first, every manifest
  // read whole and checked, and the chain consistent (same disk, size and
  // chunk size; one level 0 at its start).
  Result<std::vector<ManifestSummary>> Chain(const std::string& id) const;

  Result<std::unique_ptr<BackupWriter>> Begin(const BackupSpec& spec);

  // Re-reads every extent of the backup and of its ancestors and checks it
  // against its manifest. A manifest that is not well-formed is an error; a
  // data mismatch is a failure in the report naming the backup and extent.
  Result<VerifyReport> Verify(const std::string& id) const;

  // The disk as it was at the backup's point in time: its chain applied (the
  // level 0, then each level 1 in order). Every extent that will be written
  // is read and checked first; on any mismatch the error names the backup and
  // the extent's offset, and the sink is never prepared (untouched).
  Result<RestoreStats> Restore(const std::string& id, Sink& sink) const;

  // Deletes a backup. Refused (FailedPrecondition) while other backups have
  // it as their parent, unless `with_descendants`: then those go too, the
  // youngest first. Unavailable while a backup is being written. Returns the
  // ids deleted.
  Result<std::vector<std::string>> Delete(const std::string& id, bool with_descendants);

  std::string BackupPath(const std::string& id) const { return dir_ + "/backups/" + id; }

 private:
  explicit Store(std::string dir) : dir_(std::move(dir)), name_(dir_) {}
  Status CheckId(const std::string& id) const;
  void FindLeftovers(bool clean);
  Result<ManifestSummary> ReadSummary(const std::string& id) const;
  Result<Listing> DirList() const;
  Status CheckParent(const BackupHeader& h) const;
  Status VerifyChunks(const ManifestSummary& m, VerifyReport& report,
                      const std::function<void(VerifyFailure)>& fail) const;
  Result<std::unique_ptr<ObjectLock>> LockShared() const;
  // The cookies of the pool locks this process took, in
  // SCRATCH/lock-cookies: the scratch directory belongs to one vsl serve
  // (its data directory's lock), so at the next start every lock with such
  // a cookie belongs to a dead process and is broken (OpenPool).
  void NoteLockCookie(const std::string& cookie) const;
  Result<std::unique_ptr<BackupWriter>> BeginInDir(std::unique_ptr<BackupWriter> w, BackupHeader h,
                                                   std::chrono::system_clock::time_point created);
  // Pool store: the backups' ids; removing chunks no manifest names (the
  // exclusive lock held); removing manifests in order.
  Result<Listing> PoolList() const;
  Result<uint64_t> CollectChunks();
  void BreakDeadLocks();
  Status RemoveBackups(const std::vector<std::string>& order, std::vector<std::string>* deleted);

  std::string dir_;
  std::string name_;
  std::unique_ptr<ObjectStore> objects_;
  std::vector<Leftover> leftovers_;
};

}  // namespace vsl::backup
