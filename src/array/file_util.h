// POSIX file helpers for the file driver and for copying from image files.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "array/array.h"
#include "util/fd.h"

namespace vsl::array::internal {

using Fd = util::Fd;  // an owned file descriptor

// Opens `path`; the error names the path.
Result<Fd> OpenFile(const std::string& path, int flags, int mode = 0);
Result<uint64_t> FileSize(int fd, const std::string& path);

Status PreadFull(int fd, const std::string& path, uint64_t offset, std::span<uint8_t> out);
Status PwriteFull(int fd, const std::string& path, uint64_t offset, std::span<const uint8_t> data);

// Afterwards [offset, offset+length) reads as zeros: a punched hole, or
// written zeros where the file system can't punch.
Status PunchOrZero(int fd, const std::string& path, uint64_t offset, uint64_t length);

// The ranges of [0, size) holding data (SEEK_DATA/SEEK_HOLE); the whole file
// when the file system can't tell.
Result<std::vector<ByteRange>> DataRanges(int fd, const std::string& path, uint64_t size);

// dst's [0, dst_size) becomes src's [0, src_size) followed by zeros, never
// reading src's holes and leaving holes where src has them or data is zero.
// fdatasync'ed on return. Requires src_size <= dst_size.
Status SparseCopy(int src_fd, const std::string& src_path, uint64_t src_size, int dst_fd,
                  const std::string& dst_path, uint64_t dst_size);

// Writes `data` to `path` atomically and durably (temp file, fsync, rename,
// fsync of the directory).
Status WriteFileAtomic(const std::string& path, const std::string& data);
Result<std::string> ReadWholeFile(const std::string& path);
Status FsyncDir(const std::string& dir);

}  // namespace vsl::array::internal
