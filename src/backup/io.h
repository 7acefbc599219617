// Where a backup's bytes come from (a Source: a snapshot, a file, a block
// device) and where a restore puts them (a Sink). The store reads and writes
// through these only, so the orchestration can hand it an RBD snapshot or a
// gateway LU without the store knowing either.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "backup/file_io.h"
#include "util/status.h"

namespace vsl::backup {

struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
};

class Source {
 public:
  virtual ~Source() = default;
  virtual uint64_t size() const = 0;
  // For messages: "/var/tmp/disk.img".
  virtual const std::string& name() const = 0;
  // Reads exactly out.size() bytes at `offset` (within size()).
  virtual Status Read(uint64_t offset, std::span<uint8_t> out) = 0;
  // The first range at or after `from` that may hold data (every byte
  // outside such ranges reads as zero), or nullopt when none is left. A
  // source that can't tell returns [from, size()).
  virtual Result<std::optional<ByteRange>> NextData(uint64_t from) = 0;
};

// A regular file or a block device, read with pread; holes found with
// SEEK_DATA/SEEK_HOLE (a device, or a file system without them, is all data).
class FileSource : public Source {
 public:
  static Result<std::unique_ptr<FileSource>> Open(const std::string& path);
  uint64_t size() const override { return size_; }
  const std::string& name() const override { return path_; }
  Status Read(uint64_t offset, std::span<uint8_t> out) override;
  Result<std::optional<ByteRange>> NextData(uint64_t from) override;

 private:
  FileSource(std::string path, Fd fd, uint64_t size) : path_(std::move(path)), fd_(std::move(fd)), size_(size) {}
  std::string path_;
  Fd fd_;
  uint64_t size_;
  bool seek_data_ = true;  // false once the file system said it can't
};

// A restore's destination. The store calls Prepare once every checksum was
// checked (nothing touches the destination before), then Write and Zero in
// ascending offset order covering [0, size) once, then Finish.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual const std::string& name() const = 0;
  virtual Status Prepare(uint64_t size) = 0;
  virtual Status Write(uint64_t offset, std::span<const uint8_t> bytes) = 0;
  // [offset, offset+length) must read as zeros afterwards.
  virtual Status Zero(uint64_t offset, uint64_t length) = 0;
  // Durable on return.
  virtual Status Finish() = 0;
};

// A regular file (made, or cut to the backup's size: unwritten regions are
// holes) or a block device at least the backup's size (unwritten regions
// zeroed with BLKZEROOUT, or written zeros).
class FileSink : public Sink {
 public:
  explicit FileSink(std::string path) : path_(std::move(path)) {}
  const std::string& name() const override { return path_; }
  Status Prepare(uint64_t size) override;
  Status Write(uint64_t offset, std::span<const uint8_t> bytes) override;
  Status Zero(uint64_t offset, uint64_t length) override;
  Status Finish() override;

 private:
  std::string path_;
  Fd fd_;
  Writeback writeback_;
  bool device_ = false;
};

}  // namespace vsl::backup
