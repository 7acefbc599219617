// Writing one backup: Store::Begin and BackupWriter.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "backup/store.h"
#include "util/crash_point.h"

namespace vsl::backup {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

constexpr size_t kManifestFlush = 64 * 1024;

}  // namespace

Result<std::unique_ptr<BackupWriter>> Store::Begin(const BackupSpec& spec) {
  BackupHeader h;
  h.disk = spec.disk;
  h.farm = spec.farm;
  h.server = spec.server;
  h.level = spec.level;
  h.parent = spec.parent;
  h.disk_size = spec.disk_size;
  h.chunk_size = spec.chunk_size;
  auto created = spec.created.value_or(std::chrono::system_clock::now());
  h.created = FormatTime(created);
  h.id = NewBackupId(created);
  VSL_RETURN_IF_ERROR(CheckHeader(h));

  std::unique_ptr<BackupWriter> w(new BackupWriter());
  w->dir_ = dir_;
  if (objects_) {
    VSL_ASSIGN_OR_RETURN(w->olock_, LockShared());
  } else {
    VSL_RETURN_IF_ERROR(w->LockDir());
  }
  VSL_RETURN_IF_ERROR(CheckParent(h));
  if (objects_) {
    w->objects_ = objects_.get();
    // The id's random part makes a clash unlikely; this makes it impossible
    // while writers hold the lock shared (a clash between two writers at
    // the same second would need the same 32 random bits).
    for (int attempt = 0;; attempt++) {
      VSL_ASSIGN_OR_RETURN(bool taken, objects_->Exists(ManifestObject(h.id)));
      if (!taken) break;
      if (attempt == 10) return Internal("backup store " + name_ + ": no free backup id after 10 tries");
      h.id = NewBackupId(created);
    }
    w->header_ = h;
    VSL_RETURN_IF_ERROR(w->AppendLine(HeaderLine(h)));
    return w;
  }
  return BeginInDir(std::move(w), h, created);
}

Result<std::unique_ptr<ObjectLock>> Store::LockShared() const {
  // A delete holds the lock for as long as it reads every manifest; a
  // writer waits for it, a bounded while.
  for (int attempt = 0;; attempt++) {
    Result<std::unique_ptr<ObjectLock>> l = objects_->Lock(ObjectStore::LockMode::kShared);
    if (l.ok()) {
      NoteLockCookie((*l)->cookie());
      return l;
    }
    if (l.status().code() != Code::kUnavailable || attempt == 150) return l;
    ::usleep(200 * 1000);
  }
}

Status BackupWriter::LockDir() {
  // Shared: any number of writers at once; a delete or a cleanup of tmp/
  // (exclusive) waits for none and is refused while a writer holds it.
  VSL_ASSIGN_OR_RETURN(lock_, OpenFile(dir_ + "/lock", O_RDWR | O_CREAT, 0600));
  if (::flock(lock_.get(), LOCK_SH) != 0) return ErrnoError(dir_ + "/lock: flock", errno);
  return Status::Ok();
}

Status Store::CheckParent(const BackupHeader& h) const {
  if (h.parent) {
    Result<ManifestSummary> p = Show(*h.parent);
    if (!p.ok()) return p.status().Annotate("level 1: parent");
    const BackupHeader& ph = p->header;
    if (ph.disk != h.disk) {
      return InvalidArgument("level 1: parent " + ph.id + " is a backup of disk '" + ph.disk + "', not '" + h.disk + "'");
    }
    if (ph.disk_size != h.disk_size) {
      return FailedPrecondition("level 1: the disk is " + std::to_string(h.disk_size) + " bytes, its parent " + ph.id +
                                " " + std::to_string(ph.disk_size) + "; a resized disk needs a level 0");
    }
    if (ph.chunk_size != h.chunk_size) {
      return InvalidArgument("level 1: chunk size " + std::to_string(h.chunk_size) + ", its parent " + ph.id + "'s " +
                             std::to_string(ph.chunk_size) + " (a level 1 uses its parent's)");
    }
    if (ph.created > h.created) return InvalidArgument("level 1: its parent " + ph.id + " is younger than it");
  }
  return Status::Ok();
}

Result<std::unique_ptr<BackupWriter>> Store::BeginInDir(std::unique_ptr<BackupWriter> w, BackupHeader h,
                                                        std::chrono::system_clock::time_point created) {
  // The id's random part makes a clash unlikely; mkdir makes it impossible.
  for (int attempt = 0;; attempt++) {
    w->tmp_path_ = dir_ + "/tmp/" + h.id + ".new";
    if (::access(BackupPath(h.id).c_str(), F_OK) != 0) {
      if (::mkdir(w->tmp_path_.c_str(), 0700) == 0) break;
      if (errno != EEXIST) {
        int err = errno;
        w->tmp_path_.clear();  // not ours: nothing for the destructor to remove
        return ErrnoError(dir_ + "/tmp: mkdir", err);
      }
    }
    if (attempt == 10) {
      w->tmp_path_.clear();
      return Internal("backup store " + dir_ + ": no free backup id after 10 tries");
    }
    h.id = NewBackupId(created);
  }
  w->header_ = h;
  Result<Fd> data = OpenFile(w->tmp_path_ + "/data", O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (!data.ok()) return data.status();  // ~BackupWriter removes tmp_path_
  w->data_ = std::move(*data);
  Result<Fd> man = OpenFile(w->tmp_path_ + "/manifest", O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (!man.ok()) return man.status();
  w->manifest_ = std::move(*man);
  VSL_RETURN_IF_ERROR(w->AppendLine(HeaderLine(h)));
  return w;
}

BackupWriter::~BackupWriter() {
  if (!done_) Abort();
}

void BackupWriter::Abort() {
  if (done_) return;
  done_ = true;
  data_ = Fd();
  manifest_ = Fd();
  if (!tmp_path_.empty()) (void)RemoveTree(tmp_path_);
  lock_ = Fd();
  // A pool writer's chunks stay until the next collection (Delete, or Open
  // with cleanup): another backup may share them.
  olock_.reset();
}

uint64_t BackupWriter::ChunkLength(uint64_t offset) const {
  return offset >= header_.disk_size ? 0 : std::min(header_.chunk_size, header_.disk_size - offset);
}

Status BackupWriter::CheckChunk(uint64_t offset, uint64_t length) const {
  if (done_) return FailedPrecondition("backup " + header_.id + ": already committed or aborted");
  if (!failed_.ok()) return failed_;
  std::string at = "backup " + header_.id + ": chunk at offset " + std::to_string(offset) + ": ";
  if (offset >= header_.disk_size) {
    return OutOfRange(at + "beyond the disk's end (" + std::to_string(header_.disk_size) + " bytes)");
  }
  if (offset % header_.chunk_size != 0) {
    return InvalidArgument(at + "not a multiple of the chunk size " + std::to_string(header_.chunk_size));
  }
  if (offset < next_offset_) return InvalidArgument(at + "chunks are added once each, in ascending order");
  if (length != ChunkLength(offset)) {
    return InvalidArgument(at + std::to_string(length) + " bytes, the chunk has " + std::to_string(ChunkLength(offset)));
  }
  return Status::Ok();
}

Status BackupWriter::AppendLine(const std::string& line) {
  manifest_sha_.Update(line);
  pending_ += line;
  if (!objects_ && pending_.size() >= kManifestFlush) return FlushManifest();
  return Status::Ok();
}

Status BackupWriter::FlushManifest() {
  Status s = WriteAll(manifest_.get(), tmp_path_ + "/manifest", Bytes(pending_));
  pending_.clear();
  if (!s.ok()) failed_ = s;
  return s;
}

Status BackupWriter::AddExtent(uint64_t offset, std::span<const uint8_t> bytes) {
  // Whole chunks only, checked before the first is added: a refused extent
  // adds nothing.
  const uint64_t size = header_.disk_size;
  if (bytes.empty()) return Status::Ok();
  VSL_RETURN_IF_ERROR(CheckChunk(offset, std::min<uint64_t>(bytes.size(), ChunkLength(offset))));
  std::string at = "backup " + header_.id + ": extent at offset " + std::to_string(offset) + " (" +
                   std::to_string(bytes.size()) + " bytes): ";
  if (bytes.size() > size - offset) return OutOfRange(at + "runs past the disk's end");
  const uint64_t end = offset + bytes.size();
  if (end != size && end % header_.chunk_size != 0) return InvalidArgument(at + "does not end at a chunk boundary");
  while (!bytes.empty()) {
    uint64_t n = ChunkLength(offset);
    if (n == 0 || bytes.size() < n) VSL_RETURN_IF_ERROR(CheckChunk(offset, bytes.size()));
    VSL_RETURN_IF_ERROR(AddChunk(offset, bytes.first(n), nullptr));
    bytes = bytes.subspan(n);
    offset += n;
  }
  return Status::Ok();
}

Status BackupWriter::AddChunk(uint64_t offset, std::span<const uint8_t> bytes, const Digest* sha256) {
  VSL_RETURN_IF_ERROR(CheckChunk(offset, bytes.size()));
  if (IsAllZero(bytes)) {
    if (header_.level == 0) {
      next_offset_ = offset + header_.chunk_size;
      return Status::Ok();
    }
    return AddZeroChunk(offset);
  }
  Extent e;
  e.offset = offset;
  e.length = bytes.size();
  e.sha256 = sha256 ? *sha256 : chunk_sha_.Of(bytes);
  e.data = data_pos_;
  if (objects_) {
    Status s = olock_->Renew();
    if (s.ok()) s = objects_->PutIfAbsent(ChunkObject(e.sha256), bytes);
    if (!s.ok()) return failed_ = s;
  } else {
    Status s = WriteAll(data_.get(), tmp_path_ + "/data", bytes);
    if (!s.ok()) return failed_ = s;
    data_writeback_.Wrote(data_.get(), data_pos_, e.length);
  }
  data_pos_ += e.length;
  next_offset_ = offset + header_.chunk_size;
  count_++;
  VSL_RETURN_IF_ERROR(AppendLine(ExtentLine(e)));
  util::CrashPoint("backup.extent");
  return Status::Ok();
}

Status BackupWriter::AddZeroChunk(uint64_t offset) {
  VSL_RETURN_IF_ERROR(CheckChunk(offset, ChunkLength(offset)));
  if (header_.level == 0) {
    return InvalidArgument("backup " + header_.id + ": a level 0 stores no zero extents (absent chunks are zeros)");
  }
  Extent e;
  e.offset = offset;
  e.length = ChunkLength(offset);
  e.zero = true;
  next_offset_ = offset + header_.chunk_size;
  count_++;
  zero_count_++;
  return AppendLine(ExtentLine(e));
}

Result<ListedBackup> BackupWriter::Commit() {
  if (done_) return FailedPrecondition("backup " + header_.id + ": already committed or aborted");
  if (!failed_.ok()) return failed_;
  Trailer t;
  t.extents = count_;
  t.data_size = data_pos_;
  t.manifest_sha256 = manifest_sha_.Final();
  pending_ += TrailerLine(t);
  if (objects_) return CommitToObjects();
  VSL_RETURN_IF_ERROR(FlushManifest());
  const std::string data_path = tmp_path_ + "/data", manifest_path = tmp_path_ + "/manifest";
  VSL_RETURN_IF_ERROR(Fsync(data_.get(), data_path));
  VSL_RETURN_IF_ERROR(data_.Close(data_path));
  VSL_RETURN_IF_ERROR(Fsync(manifest_.get(), manifest_path));
  VSL_RETURN_IF_ERROR(manifest_.Close(manifest_path));
  VSL_RETURN_IF_ERROR(FsyncDir(tmp_path_));
  util::CrashPoint("backup.commit.synced");
  const std::string final_path = dir_ + "/backups/" + header_.id;
  if (::rename(tmp_path_.c_str(), final_path.c_str()) != 0) return ErrnoError(tmp_path_ + ": rename", errno);
  done_ = true;
  Status s = FsyncDir(dir_ + "/backups");
  util::CrashPoint("backup.commit.renamed");
  lock_ = Fd();
  if (!s.ok()) return s.Annotate("backup " + header_.id + " renamed into place but not yet durable");
  return ListedBackup{header_, data_pos_};
}

}  // namespace vsl::backup

namespace vsl::backup {

Result<ListedBackup> BackupWriter::CommitToObjects() {
  // The lock still held (renewed, never lapsed) means no collection ran
  // since the first chunk: every chunk the manifest names is in the pool.
  if (Status s = olock_->Renew(); !s.ok()) return failed_ = s;
  util::CrashPoint("backup.commit.synced");
  Status s = objects_->WriteWhole(ManifestObject(header_.id), Bytes(pending_));
  if (!s.ok()) return failed_ = s.Annotate("backup " + header_.id + ": write its manifest");
  done_ = true;
  util::CrashPoint("backup.commit.renamed");
  olock_.reset();
  pending_.clear();
  return ListedBackup{header_, data_pos_};
}

}  // namespace vsl::backup
