#include "backup/io.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

namespace vsl::backup {

Result<std::unique_ptr<FileSource>> FileSource::Open(const std::string& path) {
  VSL_ASSIGN_OR_RETURN(Fd fd, OpenFile(path, O_RDONLY));
  VSL_ASSIGN_OR_RETURN(uint64_t size, SizeOf(fd.get(), path));
  if (size == 0) return InvalidArgument(path + ": empty (a disk has at least one byte)");
  std::unique_ptr<FileSource> s(new FileSource(path, std::move(fd), size));
  if (IsBlockDevice(s->fd_.get())) s->seek_data_ = false;
  return s;
}

Status FileSource::Read(uint64_t offset, std::span<uint8_t> out) {
  if (offset > size_ || out.size() > size_ - offset) {
    return OutOfRange(path_ + ": read of " + std::to_string(out.size()) + " bytes at " + std::to_string(offset) +
                      " beyond its size " + std::to_string(size_));
  }
  return PreadFull(fd_.get(), path_, offset, out);
}

Result<std::optional<ByteRange>> FileSource::NextData(uint64_t from) {
  if (from >= size_) return std::optional<ByteRange>();
  if (!seek_data_) return std::optional<ByteRange>(ByteRange{from, size_ - from});
  off_t data = ::lseek(fd_.get(), static_cast<off_t>(from), SEEK_DATA);
  if (data < 0) {
    if (errno == ENXIO) return std::optional<ByteRange>();  // only a hole is left
    if (errno == EINVAL || errno == EOPNOTSUPP) {
      seek_data_ = false;
      return std::optional<ByteRange>(ByteRange{from, size_ - from});
    }
    return ErrnoError(path_ + ": SEEK_DATA", errno);
  }
  off_t hole = ::lseek(fd_.get(), data, SEEK_HOLE);
  if (hole < 0) return ErrnoError(path_ + ": SEEK_HOLE", errno);
  // The file may have grown since Open; past size_ is not the disk's.
  uint64_t start = static_cast<uint64_t>(data), end = std::min<uint64_t>(static_cast<uint64_t>(hole), size_);
  if (start >= size_) return std::optional<ByteRange>();
  return std::optional<ByteRange>(ByteRange{start, end - start});
}

Status FileSink::Prepare(uint64_t size) {
  VSL_ASSIGN_OR_RETURN(fd_, OpenFile(path_, O_WRONLY | O_CREAT, 0600));
  struct stat st;
  if (::fstat(fd_.get(), &st) != 0) return ErrnoError(path_ + ": stat", errno);
  if (S_ISBLK(st.st_mode)) {
    device_ = true;
    VSL_ASSIGN_OR_RETURN(uint64_t have, SizeOf(fd_.get(), path_));
    if (have < size) {
      return OutOfRange(path_ + ": the device holds " + std::to_string(have) + " bytes, the backup " +
                        std::to_string(size));
    }
    return Status::Ok();
  }
  if (!S_ISREG(st.st_mode)) return InvalidArgument(path_ + ": neither a regular file nor a block device");
  // Cut to nothing, then out to the size: every byte not written reads as
  // zero and takes no space.
  if (::ftruncate(fd_.get(), 0) != 0) return ErrnoError(path_ + ": truncate", errno);
  if (::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0) return ErrnoError(path_ + ": truncate", errno);
  return Status::Ok();
}

Status FileSink::Write(uint64_t offset, std::span<const uint8_t> bytes) {
  VSL_RETURN_IF_ERROR(PwriteFull(fd_.get(), path_, offset, bytes));
  writeback_.Wrote(fd_.get(), offset, bytes.size());
  return Status::Ok();
}

Status FileSink::Zero(uint64_t offset, uint64_t length) {
  if (!device_ || length == 0) return Status::Ok();  // a regular file was cut: holes already
  uint64_t range[2] = {offset, length};
  if (::ioctl(fd_.get(), BLKZEROOUT, range) == 0) return Status::Ok();
  std::vector<uint8_t> zeros(std::min<uint64_t>(length, 1 << 20), 0);
  for (uint64_t done = 0; done < length;) {
    uint64_t n = std::min<uint64_t>(zeros.size(), length - done);
    VSL_RETURN_IF_ERROR(PwriteFull(fd_.get(), path_, offset + done, std::span(zeros.data(), n)));
    done += n;
  }
  return Status::Ok();
}

Status FileSink::Finish() {
  VSL_RETURN_IF_ERROR(Fsync(fd_.get(), path_));
  return fd_.Close(path_);
}

}  // namespace vsl::backup
