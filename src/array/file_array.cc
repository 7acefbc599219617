#include "array/file_array.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "array/file_util.h"
#include "array/internal.h"

namespace vsl::array {

using internal::ArrayLabel;
using internal::Fd;
using internal::OpenFile;
using json = nlohmann::json;

namespace {

Status MakeDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError("create directory " + dir + ": " + ec.message());
  return Status::Ok();
}

// A new array's capacity must fit the file system under `dir` (its nearest
// existing ancestor): sparse files let a pool promise more than the disk
// holds, and that promise breaks on the first write past it.
Status CheckCapacityFits(const std::string& dir, const ArraySpec& spec) {
  std::filesystem::path p(dir);
  std::error_code ec;
  while (!std::filesystem::exists(p, ec) && p.has_parent_path() && p != p.parent_path()) p = p.parent_path();
  struct statvfs fs {};
  if (::statvfs(p.c_str(), &fs) != 0) return ErrnoError("array '" + spec.name + "': statvfs " + p.string(), errno);
  const unsigned __int128 total = static_cast<unsigned __int128>(fs.f_blocks) * fs.f_frsize;
  if (spec.capacity > total) {
    return InvalidArgument("array '" + spec.name + "': capacity " + internal::HumanSize(spec.capacity) +
                           " is larger than the file system at " + p.string() + " (" +
                           internal::HumanSize(static_cast<uint64_t>(total)) + " in all)");
  }
  return Status::Ok();
}

std::string StripSlash(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

Result<std::string> ResolveArrayPath(const std::string& path) {
  if (path.empty()) return InvalidArgument("array path: empty");
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(path, ec);
  if (ec) return InvalidArgument("array path " + path + ": " + ec.message());
  std::filesystem::path resolved = std::filesystem::weakly_canonical(abs, ec);
  if (ec) return InvalidArgument("array path " + path + ": " + ec.message());
  return StripSlash(resolved.lexically_normal().string());
}

Status CheckDisjointPaths(const std::string& what_a, const std::string& a, const std::string& what_b,
                          const std::string& b) {
  auto inside = [](const std::string& inner, const std::string& outer) {
    return inner == outer || outer == "/" || (inner.size() > outer.size() && inner.starts_with(outer) &&
                                              inner[outer.size()] == '/');
  };
  if (a == b) return InvalidArgument(what_a + " " + a + " is " + what_b);
  if (inside(a, b)) return InvalidArgument(what_a + " " + a + " is inside " + what_b + " " + b);
  if (inside(b, a)) return InvalidArgument(what_a + " " + a + " contains " + what_b + " " + b);
  return Status::Ok();
}

Result<std::unique_ptr<FileArray>> FileArray::Open(const ArraySpec& spec) {
  if (spec.path.empty()) {
    return InvalidArgument("array '" + spec.name + "': a file array needs a directory (path)");
  }
  std::error_code ec;
  VSL_ASSIGN_OR_RETURN(std::string dir, ResolveArrayPath(spec.path));

  ArrayInfo info;
  info.path = dir;
  info.driver = "file";
  std::unique_ptr<FileArray> a(new FileArray(std::move(info)));
  std::lock_guard lock(a->mu_);
  if (std::filesystem::exists(a->ManifestPath(), ec)) {
    VSL_RETURN_IF_ERROR(a->LoadManifest(spec));
    VSL_RETURN_IF_ERROR(MakeDir(a->VolumesDir()));
    a->RemoveStaleTempFilesLocked();
    return a;
  }
  VSL_RETURN_IF_ERROR(internal::CheckNewSpec(spec));
  VSL_RETURN_IF_ERROR(CheckCapacityFits(dir, spec));
  a->info_.name = spec.name;
  a->info_.capacity = spec.capacity;
  a->info_.volume_size = spec.volume_size;
  a->info_.qualities = spec.qualities;
  a->info_.ports = spec.ports.empty() ? std::vector<std::string>{"port0"} : spec.ports;
  VSL_RETURN_IF_ERROR(MakeDir(a->VolumesDir()));
  if (spec.volume_size > 0) VSL_RETURN_IF_ERROR(a->CarveLocked(spec.capacity / spec.volume_size));
  VSL_RETURN_IF_ERROR(a->SaveManifestLocked());
  return a;
}

std::string FileArray::VolumesDir() const { return info_.path + "/volumes"; }
std::string FileArray::VolumePath(const std::string& id) const { return VolumesDir() + "/" + id; }
std::string FileArray::ManifestPath() const { return info_.path + "/array.json"; }

Status FileArray::LoadManifest(const ArraySpec& spec) {
  const std::string path = ManifestPath();
  VSL_ASSIGN_OR_RETURN(std::string text, internal::ReadWholeFile(path));
  json j;
  try {
    j = json::parse(text);
    VSL_RETURN_IF_ERROR(internal::ReadManifestFields(j, path, "file", info_, next_id_));
    info_.name = j.at("name").get<std::string>();
    grants_ = j.at("grants").get<std::map<std::string, std::set<std::string>>>();
  } catch (const json::exception& e) {
    return DataLoss(path + ": the array manifest is unreadable: " + e.what());
  }
  return internal::CheckSpecAgrees("array at " + info_.path, info_, spec);
}

Status FileArray::SaveManifestLocked() {
  json j = internal::ManifestFields(info_, "file", next_id_);
  j["grants"] = grants_;
  return internal::WriteFileAtomic(ManifestPath(), j.dump(2) + "\n");
}

void FileArray::RemoveStaleTempFilesLocked() {
  DIR* d = ::opendir(VolumesDir().c_str());
  if (d == nullptr) return;
  std::vector<std::string> stale;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n.size() > 5 && n.front() == '.' && n.ends_with(".new") &&
        internal::IsVolumeFileName(n.substr(1, n.size() - 5))) {
      stale.emplace_back(n);
    }
  }
  ::closedir(d);
  for (const std::string& n : stale) (void)::unlink((VolumesDir() + "/" + n).c_str());
}

Status FileArray::CreateFileLocked(const std::string& id, uint64_t size) {
  const std::string tmp = VolumesDir() + "/." + id + ".new";
  Status s = [&]() -> Status {
    VSL_ASSIGN_OR_RETURN(Fd fd, OpenFile(tmp, O_RDWR | O_CREAT | O_TRUNC, 0600));
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
      return ErrnoError(ArrayLabel(info_) + ": size volume file " + tmp, errno);
    }
    if (::fsync(fd.get()) != 0) return ErrnoError("sync " + tmp, errno);
    const std::string path = VolumePath(id);
    if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError("rename " + tmp, errno);
    return Status::Ok();
  }();
  if (!s.ok()) {
    // Whatever failed, no half-made file stays behind.
    (void)::unlink(tmp.c_str());
    return s;
  }
  return internal::FsyncDir(VolumesDir());
}

Status FileArray::CarveLocked(uint64_t count) {
  for (uint64_t i = 1; i <= count; ++i) {
    std::string id = internal::VolumeId(i);
    struct stat st;
    if (::stat(VolumePath(id).c_str(), &st) == 0) continue;  // carved before a crash
    VSL_RETURN_IF_ERROR(CreateFileLocked(id, info_.volume_size));
  }
  next_id_ = std::max(next_id_, count + 1);
  return Status::Ok();
}

Result<ArrayVolume> FileArray::Stat(const std::string& id) const {
  if (!internal::IsVolumeFileName(id)) {
    return InvalidArgument(ArrayLabel(info_) + ": '" + id + "' is not a volume id of a file array (vol-NNNN)");
  }
  std::string path = VolumePath(id);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return NotFound(ArrayLabel(info_) + ": no volume " + id);
    return ErrnoError(ArrayLabel(info_) + ": stat " + path, errno);
  }
  if (!S_ISREG(st.st_mode)) {
    return NotFound(ArrayLabel(info_) + ": " + path + " is not a regular file");
  }
  return ArrayVolume{id, static_cast<uint64_t>(st.st_size), path, info_.qualities};
}

Result<std::vector<ArrayVolume>> FileArray::Scan() const {
  DIR* d = ::opendir(VolumesDir().c_str());
  if (d == nullptr) return ErrnoError(ArrayLabel(info_) + ": open " + VolumesDir(), errno);
  std::vector<std::string> ids;
  while (struct dirent* e = ::readdir(d)) {
    if (internal::IsVolumeFileName(e->d_name)) ids.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(ids.begin(), ids.end());
  std::vector<ArrayVolume> out;
  for (const auto& id : ids) {
    auto v = Stat(id);
    if (v.ok()) {
      out.push_back(std::move(v).value());
    } else if (v.status().code() != Code::kNotFound) {  // vanished meanwhile, or not a file
      return v.status();
    }
  }
  return out;
}

Result<std::vector<ArrayVolume>> FileArray::Discover() {
  std::lock_guard lock(mu_);
  VSL_ASSIGN_OR_RETURN(auto volumes, Scan());
  // Grants of volumes that vanished go with them.
  bool changed = false;
  for (auto it = grants_.begin(); it != grants_.end();) {
    bool present = std::any_of(volumes.begin(), volumes.end(),
                               [&](const ArrayVolume& v) { return v.id == it->first; });
    if (present) {
      ++it;
    } else {
      it = grants_.erase(it);
      changed = true;
    }
  }
  if (changed) VSL_RETURN_IF_ERROR(SaveManifestLocked());
  return volumes;
}

Result<ArrayVolume> FileArray::GetVolume(const std::string& id) { return Stat(id); }

Result<ArrayVolume> FileArray::CreateVolume(uint64_t size) {
  if (info_.volume_size != 0) {
    return FailedPrecondition(ArrayLabel(info_) + " is pre-carved into volumes of " +
                              internal::HumanSize(info_.volume_size) +
                              "; it does not cut volumes on demand");
  }
  VSL_RETURN_IF_ERROR(internal::CheckVolumeSize(info_, size, "a volume"));
  std::lock_guard lock(mu_);
  VSL_ASSIGN_OR_RETURN(auto volumes, Scan());
  uint64_t used = 0;
  for (const auto& v : volumes) used += v.size;
  VSL_RETURN_IF_ERROR(internal::CheckPoolRoom(info_, used, size));
  std::string id;
  struct stat st;
  do {
    id = internal::VolumeId(next_id_++);
  } while (::stat(VolumePath(id).c_str(), &st) == 0);
  // The number is used up before the file exists: a crash in between skips
  // an id but never hands one out twice.
  VSL_RETURN_IF_ERROR(SaveManifestLocked());
  VSL_RETURN_IF_ERROR(CreateFileLocked(id, size));
  return ArrayVolume{id, size, VolumePath(id), info_.qualities};
}

Status FileArray::DeleteVolume(const std::string& id) {
  std::lock_guard lock(mu_);
  VSL_RETURN_IF_ERROR(Stat(id).status());
  std::string path = VolumePath(id);
  if (::unlink(path.c_str()) != 0) return ErrnoError(ArrayLabel(info_) + ": remove " + path, errno);
  if (grants_.erase(id)) VSL_RETURN_IF_ERROR(SaveManifestLocked());
  return internal::FsyncDir(VolumesDir());
}

Status FileArray::Read(const std::string& id, uint64_t offset, std::span<uint8_t> out) {
  VSL_ASSIGN_OR_RETURN(ArrayVolume v, Stat(id));
  VSL_RETURN_IF_ERROR(internal::CheckRange(info_, id, v.size, offset, out.size()));
  VSL_ASSIGN_OR_RETURN(Fd fd, OpenFile(v.path, O_RDONLY));
  return internal::PreadFull(fd.get(), v.path, offset, out);
}

Status FileArray::Write(const std::string& id, uint64_t offset, std::span<const uint8_t> data) {
  std::shared_lock io(io_mu_);
  VSL_ASSIGN_OR_RETURN(ArrayVolume v, Stat(id));
  VSL_RETURN_IF_ERROR(internal::CheckRange(info_, id, v.size, offset, data.size()));
  VSL_ASSIGN_OR_RETURN(Fd fd, OpenFile(v.path, O_RDWR));
  VSL_RETURN_IF_ERROR(internal::PwriteFull(fd.get(), v.path, offset, data));
  if (::fdatasync(fd.get()) != 0) return ErrnoError("sync " + v.path, errno);
  return Status::Ok();
}

Status FileArray::Deallocate(const std::string& id, uint64_t offset, uint64_t length) {
  std::shared_lock io(io_mu_);
  VSL_ASSIGN_OR_RETURN(ArrayVolume v, Stat(id));
  VSL_RETURN_IF_ERROR(internal::CheckRange(info_, id, v.size, offset, length));
  VSL_ASSIGN_OR_RETURN(Fd fd, OpenFile(v.path, O_RDWR));
  VSL_RETURN_IF_ERROR(internal::PunchOrZero(fd.get(), v.path, offset, length));
  if (::fdatasync(fd.get()) != 0) return ErrnoError("sync " + v.path, errno);
  return Status::Ok();
}

Result<std::vector<ByteRange>> FileArray::MappedRanges(const std::string& id) {
  VSL_ASSIGN_OR_RETURN(ArrayVolume v, Stat(id));
  VSL_ASSIGN_OR_RETURN(Fd fd, OpenFile(v.path, O_RDONLY));
  return internal::DataRanges(fd.get(), v.path, v.size);
}

Status FileArray::CopyFromPath(const std::string& src_path, const std::string& what,
                               const std::string& dst_id) {
  VSL_ASSIGN_OR_RETURN(ArrayVolume dst, Stat(dst_id));
  VSL_ASSIGN_OR_RETURN(Fd src_fd, OpenFile(src_path, O_RDONLY));
  VSL_ASSIGN_OR_RETURN(uint64_t src_size, internal::FileSize(src_fd.get(), src_path));
  if (src_size > dst.size) {
    return OutOfRange(ArrayLabel(info_) + ": volume " + dst_id + " (" + std::to_string(dst.size) +
                      " bytes) is smaller than " + what + " (" + std::to_string(src_size) +
                      " bytes)");
  }
  VSL_ASSIGN_OR_RETURN(Fd dst_fd, OpenFile(dst.path, O_RDWR));
  return internal::SparseCopy(src_fd.get(), src_path, src_size, dst_fd.get(), dst.path, dst.size);
}

Status FileArray::Copy(StorageArray& src, const std::string& src_id, const std::string& dst_id) {
  if (&src == this && src_id == dst_id) {
    return InvalidArgument(ArrayLabel(info_) + ": cannot copy volume " + dst_id + " onto itself");
  }
  if (auto* file_src = dynamic_cast<FileArray*>(&src)) {
    VSL_ASSIGN_OR_RETURN(ArrayVolume from, file_src->Stat(src_id));
    std::shared_lock io(io_mu_);
    return CopyFromPath(from.path, "volume " + src_id + " of " + ArrayLabel(file_src->info_),
                        dst_id);
  }
  return internal::CopyThroughInterface(src, src_id, *this, dst_id);
}

Status FileArray::CopyFromFile(const std::string& src_path, const std::string& dst_id) {
  std::shared_lock io(io_mu_);
  return CopyFromPath(src_path, src_path, dst_id);
}

Status FileArray::Snap(const std::string& src_id, const std::string& dst_id) {
  if (src_id == dst_id) {
    return InvalidArgument(ArrayLabel(info_) + ": cannot snap volume " + dst_id + " onto itself");
  }
  std::unique_lock io(io_mu_);
  VSL_ASSIGN_OR_RETURN(ArrayVolume from, Stat(src_id));
  VSL_ASSIGN_OR_RETURN(ArrayVolume to, Stat(dst_id));
  if (from.size == to.size) {
    // Where the file system shares extents (btrfs, XFS), the snapshot is a
    // reflink: instant and taking no space until either side is written.
    VSL_ASSIGN_OR_RETURN(Fd src_fd, OpenFile(from.path, O_RDONLY));
    VSL_ASSIGN_OR_RETURN(Fd dst_fd, OpenFile(to.path, O_RDWR));
    if (::ioctl(dst_fd.get(), FICLONE, src_fd.get()) == 0) {
      if (::fdatasync(dst_fd.get()) != 0) return ErrnoError("sync " + to.path, errno);
      return Status::Ok();
    }
  }
  return CopyFromPath(from.path, "volume " + src_id, dst_id);
}

Status FileArray::Scrub(const std::string& id) {
  std::shared_lock io(io_mu_);
  VSL_ASSIGN_OR_RETURN(ArrayVolume v, Stat(id));
  VSL_ASSIGN_OR_RETURN(Fd fd, OpenFile(v.path, O_RDWR));
  VSL_RETURN_IF_ERROR(internal::PunchOrZero(fd.get(), v.path, 0, v.size));
  if (::fdatasync(fd.get()) != 0) return ErrnoError("sync " + v.path, errno);
  // Holes read as zeros by the file system's contract, so reading back every
  // range that still holds storage checks every byte that could survive.
  VSL_ASSIGN_OR_RETURN(auto ranges, internal::DataRanges(fd.get(), v.path, v.size));
  std::vector<uint8_t> buf;
  for (const ByteRange& r : ranges) {
    for (uint64_t done = 0; done < r.length;) {
      uint64_t n = std::min<uint64_t>(internal::kCopyChunk, r.length - done);
      buf.resize(static_cast<size_t>(n));
      VSL_RETURN_IF_ERROR(internal::PreadFull(fd.get(), v.path, r.offset + done, buf));
      if (!internal::IsAllZero(buf)) {
        return DataLoss(ArrayLabel(info_) + ": volume " + id + " still holds data in bytes [" +
                        std::to_string(r.offset + done) + ", " +
                        std::to_string(r.offset + done + n) + ") after scrubbing");
      }
      done += n;
    }
  }
  return Status::Ok();
}

Status FileArray::Grant(const std::string& id, const std::string& initiator) {
  if (initiator.empty()) {
    return InvalidArgument(ArrayLabel(info_) + ": grant of volume " + id + " names no initiator");
  }
  std::lock_guard lock(mu_);
  VSL_RETURN_IF_ERROR(Stat(id).status());
  if (!grants_[id].insert(initiator).second) return Status::Ok();
  return SaveManifestLocked();
}

Status FileArray::Revoke(const std::string& id, const std::string& initiator) {
  std::lock_guard lock(mu_);
  VSL_RETURN_IF_ERROR(Stat(id).status());
  auto it = grants_.find(id);
  if (it == grants_.end()) return Status::Ok();
  if (initiator.empty()) {
    grants_.erase(it);
  } else {
    if (!it->second.erase(initiator)) return Status::Ok();
    if (it->second.empty()) grants_.erase(it);
  }
  return SaveManifestLocked();
}

Result<std::vector<std::string>> FileArray::Grants(const std::string& id) {
  std::lock_guard lock(mu_);
  VSL_RETURN_IF_ERROR(Stat(id).status());
  auto it = grants_.find(id);
  if (it == grants_.end()) return std::vector<std::string>{};
  return std::vector<std::string>(it->second.begin(), it->second.end());
}

Result<std::vector<volume::Extent>> FileArray::Locate(const std::string& id) {
  VSL_ASSIGN_OR_RETURN(ArrayVolume v, Stat(id));
  if (v.size == 0 || v.size % kBlockSize != 0) {
    return FailedPrecondition(ArrayLabel(info_) + ": volume " + id + " is " +
                              std::to_string(v.size) + " bytes, not a whole number of " +
                              std::to_string(kBlockSize) + "-byte blocks");
  }
  return std::vector<volume::Extent>{{v.path, 0, v.size}};
}

}  // namespace vsl::array
