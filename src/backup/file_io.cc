#include "backup/file_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vsl::backup {

Result<Fd> OpenFile(const std::string& path, int flags, mode_t mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoError(path, errno);
  return Fd(fd);
}

Status PreadFull(int fd, const std::string& path, uint64_t offset, std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(path + ": read at " + std::to_string(offset + done), errno);
    }
    if (n == 0) {
      return DataLoss(path + ": " + std::to_string(out.size()) + " bytes at " + std::to_string(offset) +
                      ": the file ends at " + std::to_string(offset + done));
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status PwriteFull(int fd, const std::string& path, uint64_t offset, std::span<const uint8_t> data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(path + ": write at " + std::to_string(offset + done), errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status WriteAll(int fd, const std::string& path, std::span<const uint8_t> data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(path + ": write", errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status Fsync(int fd, const std::string& path) {
  if (::fsync(fd) != 0) return ErrnoError(path + ": fsync", errno);
  return Status::Ok();
}

Status FsyncDir(const std::string& dir) {
  VSL_ASSIGN_OR_RETURN(Fd fd, OpenFile(dir, O_RDONLY | O_DIRECTORY));
  return Fsync(fd.get(), dir);
}

void Writeback::Wrote(int fd, uint64_t offset, uint64_t length) {
  if (offset != end_) {  // not sequential: start a new window here
    start_ = end_ = offset;
  }
  end_ = offset + length;
  if (end_ - start_ < kWindow) return;
  (void)::sync_file_range(fd, static_cast<off_t>(start_), static_cast<off_t>(end_ - start_), SYNC_FILE_RANGE_WRITE);
  if (prev_end_ > prev_start_) {
    (void)::sync_file_range(fd, static_cast<off_t>(prev_start_), static_cast<off_t>(prev_end_ - prev_start_),
                            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
  }
  prev_start_ = start_;
  prev_end_ = end_;
  start_ = end_;
}

bool IsBlockDevice(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 && S_ISBLK(st.st_mode);
}

Result<uint64_t> SizeOf(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoError(path + ": stat", errno);
  if (S_ISREG(st.st_mode)) return static_cast<uint64_t>(st.st_size);
  if (S_ISBLK(st.st_mode)) {
    uint64_t size = 0;
    if (::ioctl(fd, BLKGETSIZE64, &size) != 0) return ErrnoError(path + ": BLKGETSIZE64", errno);
    return size;
  }
  return InvalidArgument(path + ": neither a regular file nor a block device");
}

Status RemoveTree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return ErrnoError(path, errno);
  }
  if (S_ISDIR(st.st_mode)) {
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) return ErrnoError(path, errno);
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string child = path + "/" + name;
      if (::unlink(child.c_str()) != 0 && errno != ENOENT) {
        int err = errno;
        ::closedir(d);
        return ErrnoError(child + ": unlink", err);
      }
    }
    ::closedir(d);
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT) return ErrnoError(path + ": rmdir", errno);
    return Status::Ok();
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError(path + ": unlink", errno);
  return Status::Ok();
}

}  // namespace vsl::backup
