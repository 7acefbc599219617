#include "array/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <linux/falloc.h>

#include "array/internal.h"

namespace vsl::array::internal {

Result<Fd> OpenFile(const std::string& path, int flags, int mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT) return NotFound("open " + path + ": no such file");
    return ErrnoError("open " + path, e);
  }
  return Fd(fd);
}

Result<uint64_t> FileSize(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoError("stat " + path, errno);
  if (!S_ISREG(st.st_mode)) return FailedPrecondition(path + " is not a regular file");
  return static_cast<uint64_t>(st.st_size);
}

Status PreadFull(int fd, const std::string& path, uint64_t offset, std::span<uint8_t> out) {
  while (!out.empty()) {
    ssize_t n = ::pread(fd, out.data(), out.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read " + path + " at " + std::to_string(offset), errno);
    }
    if (n == 0) {
      // Past the end of a file that shrank behind our back: holes read as zero.
      std::fill(out.begin(), out.end(), 0);
      return Status::Ok();
    }
    out = out.subspan(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

Status PwriteFull(int fd, const std::string& path, uint64_t offset, std::span<const uint8_t> data) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write " + path + " at " + std::to_string(offset), errno);
    }
    data = data.subspan(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

Status PunchOrZero(int fd, const std::string& path, uint64_t offset, uint64_t length) {
  if (length == 0) return Status::Ok();
  if (::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(length)) == 0) {
    return Status::Ok();
  }
  int e = errno;
  if (e != EOPNOTSUPP && e != ENOSYS) return ErrnoError("punch a hole in " + path, e);
  std::vector<uint8_t> zeros(static_cast<size_t>(std::min<uint64_t>(kCopyChunk, length)), 0);
  for (uint64_t done = 0; done < length;) {
    uint64_t n = std::min<uint64_t>(zeros.size(), length - done);
    VSL_RETURN_IF_ERROR(PwriteFull(fd, path, offset + done, std::span(zeros).first(n)));
    done += n;
  }
  return Status::Ok();
}

Result<std::vector<ByteRange>> DataRanges(int fd, const std::string& path, uint64_t size) {
  std::vector<ByteRange> ranges;
  uint64_t pos = 0;
  while (pos < size) {
    off_t data = ::lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole from pos to the end
      if (errno == EINVAL) {      // the file system can't tell: all of it is data
        ranges.push_back({pos, size - pos});
        break;
      }
      return ErrnoError("seek data in " + path, errno);
    }
    if (static_cast<uint64_t>(data) >= size) break;
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) return ErrnoError("seek hole in " + path, errno);
    uint64_t end = std::min<uint64_t>(static_cast<uint64_t>(hole), size);
    ranges.push_back({static_cast<uint64_t>(data), end - static_cast<uint64_t>(data)});
    pos = end;
  }
  return ranges;
}

Status SparseCopy(int src_fd, const std::string& src_path, uint64_t src_size, int dst_fd,
                  const std::string& dst_path, uint64_t dst_size) {
  VSL_RETURN_IF_ERROR(PunchOrZero(dst_fd, dst_path, 0, dst_size));
  VSL_ASSIGN_OR_RETURN(auto ranges, DataRanges(src_fd, src_path, src_size));
  std::vector<uint8_t> buf;
  for (const ByteRange& r : ranges) {
    for (uint64_t done = 0; done < r.length;) {
      uint64_t n = std::min<uint64_t>(kCopyChunk, r.length - done);
      buf.resize(static_cast<size_t>(n));
      VSL_RETURN_IF_ERROR(PreadFull(src_fd, src_path, r.offset + done, buf));
      if (!IsAllZero(buf)) VSL_RETURN_IF_ERROR(PwriteFull(dst_fd, dst_path, r.offset + done, buf));
      done += n;
    }
  }
  if (::fdatasync(dst_fd) != 0) return ErrnoError("sync " + dst_path, errno);
  return Status::Ok();
}

Status FsyncDir(const std::string& dir) {
  VSL_ASSIGN_OR_RETURN(Fd fd, OpenFile(dir, O_RDONLY | O_DIRECTORY));
  if (::fsync(fd.get()) != 0) return ErrnoError("sync directory " + dir, errno);
  return Status::Ok();
}

Status WriteFileAtomic(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  {
    VSL_ASSIGN_OR_RETURN(Fd fd, OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644));
    VSL_RETURN_IF_ERROR(PwriteFull(fd.get(), tmp, 0,
                                   {reinterpret_cast<const uint8_t*>(data.data()), data.size()}));
    if (::fsync(fd.get()) != 0) return ErrnoError("sync " + tmp, errno);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError("rename " + tmp, errno);
  auto slash = path.rfind('/');
  return FsyncDir(slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash)));
}

Result<std::string> ReadWholeFile(const std::string& path) {
  VSL_ASSIGN_OR_RETURN(Fd fd, OpenFile(path, O_RDONLY));
  VSL_ASSIGN_OR_RETURN(uint64_t size, FileSize(fd.get(), path));
  std::string data(static_cast<size_t>(size), '\0');
  VSL_RETURN_IF_ERROR(PreadFull(fd.get(), path, 0,
                                {reinterpret_cast<uint8_t*>(data.data()), data.size()}));
  return data;
}

}  // namespace vsl::array::internal
