// ObjectStore on a directory: one file per object, puts and whole writes
// through a temporary file renamed into place, locks with flock.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "backup/file_io.h"
#include "backup/objects.h"

namespace vsl::backup {
namespace {

class FlockLock : public ObjectLock {
 public:
  explicit FlockLock(Fd fd) : fd_(std::move(fd)), cookie_(std::to_string(::getpid())) {}
  Status Renew() override { return Status::Ok(); }
  const std::string& cookie() const override { return cookie_; }

 private:
  Fd fd_;
  std::string cookie_;  // closing it releases the flock
};

class DirObjects : public ObjectStore {
 public:
  explicit DirObjects(std::string dir) : dir_(std::move(dir)), name_("objects in " + dir_) {}
  const std::string& name() const override { return name_; }

  Status PutIfAbsent(const std::string& object, std::span<const uint8_t> bytes) override {
    VSL_ASSIGN_OR_RETURN(bool there, Exists(object));
    if (there) return Status::Ok();
    return WriteWhole(object, bytes);
  }

  Status WriteWhole(const std::string& object, std::span<const uint8_t> bytes) override {
    const std::string path = Path(object), tmp = path + ".tmp." + std::to_string(::getpid());
    {
      VSL_ASSIGN_OR_RETURN(Fd fd, OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600));
      VSL_RETURN_IF_ERROR(WriteAll(fd.get(), tmp, bytes));
      VSL_RETURN_IF_ERROR(Fsync(fd.get(), tmp));
      VSL_RETURN_IF_ERROR(fd.Close(tmp));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError(tmp + ": rename", errno);
    return FsyncDir(dir_);
  }

  Result<std::string> Read(const std::string& object) const override {
    const std::string path = Path(object);
    VSL_ASSIGN_OR_RETURN(bool there, Exists(object));
    if (!there) return NotFound(name_ + ": no object " + object);
    Result<Fd> fd = OpenFile(path, O_RDONLY);
    if (!fd.ok()) return fd.status();
    VSL_ASSIGN_OR_RETURN(uint64_t size, SizeOf(fd->get(), path));
    std::string out(size, '\0');
    VSL_RETURN_IF_ERROR(PreadFull(fd->get(), path, 0, {reinterpret_cast<uint8_t*>(out.data()), out.size()}));
    return out;
  }

  Result<bool> Exists(const std::string& object) const override {
    struct stat st;
    if (::stat(Path(object).c_str(), &st) == 0) return true;
    if (errno == ENOENT) return false;
    return ErrnoError(Path(object), errno);
  }

  Result<std::vector<std::string>> List(const std::string& prefix) const override {
    DIR* d = ::opendir(dir_.c_str());
    if (d == nullptr) return ErrnoError(dir_, errno);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.starts_with(prefix) && n.find(".tmp.") == std::string::npos && n != "lock") names.push_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }

  Status Remove(const std::string& object) override {
    if (::unlink(Path(object).c_str()) != 0 && errno != ENOENT) return ErrnoError(Path(object), errno);
    return Status::Ok();
  }

  Result<std::unique_ptr<ObjectLock>> Lock(LockMode mode) override {
    VSL_ASSIGN_OR_RETURN(Fd fd, OpenFile(dir_ + "/lock", O_RDWR | O_CREAT, 0600));
    if (::flock(fd.get(), (mode == LockMode::kShared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
      return Unavailable(name_ + ": locked (" + (mode == LockMode::kShared ? "a delete" : "a backup or delete") +
                         " is running)");
    }
    return std::unique_ptr<ObjectLock>(new FlockLock(std::move(fd)));
  }

  // A flock goes with its process: nothing is left to break.
  Result<int> BreakLocks(const std::vector<std::string>&) override { return 0; }

 private:
  std::string Path(const std::string& object) const { return dir_ + "/" + object; }
  std::string dir_, name_;
};

}  // namespace

Result<std::unique_ptr<ObjectStore>> OpenDirObjects(const std::string& dir, bool create) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT || !create) return ErrnoError("object directory " + dir, errno);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoError(dir + ": mkdir", errno);
  } else if (!S_ISDIR(st.st_mode)) {
    return InvalidArgument(dir + ": not a directory");
  }
  return std::unique_ptr<ObjectStore>(new DirObjects(dir));
}

Status ParseRadosSpec(const std::string& spec, RadosTarget* out) {
  if (!spec.starts_with("rados:")) {
    return InvalidArgument("backup store '" + spec + "': expected rados:POOL[/NAMESPACE]");
  }
  std::string rest = spec.substr(6);
  size_t slash = rest.find('/');
  out->pool = rest.substr(0, slash);
  out->ns = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (out->pool.empty()) return InvalidArgument("backup store '" + spec + "': no pool after rados:");
  if (slash != std::string::npos && out->ns.empty()) {
    return InvalidArgument("backup store '" + spec + "': empty namespace after '/'");
  }
  if (out->ns.find('/') != std::string::npos) {
    return InvalidArgument("backup store '" + spec + "': the namespace may not hold '/'");
  }
  return Status::Ok();
}

}  // namespace vsl::backup
