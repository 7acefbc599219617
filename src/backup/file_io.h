// POSIX file helpers of the backup store. Every error names the file.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>

#include "util/fd.h"
#include "util/status.h"

namespace vsl::backup {

using Fd = util::Fd;  // an owned file descriptor

Result<Fd> OpenFile(const std::string& path, int flags, mode_t mode = 0600);

// Reads exactly out.size() bytes at `offset`; a short file is an error
// ("PATH: N bytes at OFFSET: file ends at ...").
Status PreadFull(int fd, const std::string& path, uint64_t offset, std::span<uint8_t> out);
Status PwriteFull(int fd, const std::string& path, uint64_t offset, std::span<const uint8_t> data);
// Appends at the file position.
Status WriteAll(int fd, const std::string& path, std::span<const uint8_t> data);
Status Fsync(int fd, const std::string& path);
Status FsyncDir(const std::string& dir);

// Starts write-back of what a long sequential writer wrote, a window at a
// time, and waits for the window before the last: the final fsync finds
// little left to do and the dirty pages of one backup or restore stay
// bounded (2 windows) whatever the disk's size. Best effort: errors are left
// for the fsync to report.
class Writeback {
 public:
  static constexpr uint64_t kWindow = 8 << 20;
  // `offset`, `length`: what was just written to fd.
  void Wrote(int fd, uint64_t offset, uint64_t length);

 private:
  uint64_t start_ = 0, end_ = 0;  // the window being filled
  uint64_t prev_start_ = 0, prev_end_ = 0;
};

// Size of a regular file or a block device.
Result<uint64_t> SizeOf(int fd, const std::string& path);
bool IsBlockDevice(int fd);

// Removes `path` and, when it is a directory, what it holds (one level: the
// store's directories hold plain files only). Missing is not an error.
Status RemoveTree(const std::string& path);

}  // namespace vsl::backup
