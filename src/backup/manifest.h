// The manifest of one backup (docs/backup.md, "manifest"): JSON Lines, one
// header line, one line per extent in ascending offset order, one trailer
// line holding the counts and the SHA-256 of every byte before it.
//
// The reader streams: it holds one line (at most kMaxManifestLine bytes) and
// one read buffer, whatever the disk size, and refuses anything that is not
// exactly what a writer of this version makes, naming the line and why.
#pragma once

#include <chrono>
#include <memory>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backup/digest.h"
#include "backup/file_io.h"
#include "util/status.h"

namespace vsl::backup {

inline constexpr int kFormatVersion = 1;
inline constexpr uint64_t kDefaultChunkSize = 64 * 1024;
inline constexpr uint64_t kMinChunkSize = 4 * 1024;
inline constexpr uint64_t kMaxChunkSize = 16 * 1024 * 1024;
inline constexpr size_t kMaxManifestLine = 4096;
inline constexpr size_t kMaxNameBytes = 255;  // disk, farm, server

// What a backup is of. Everything but the extents: the manifest's first line.
struct BackupHeader {
  std::string id;
  std::string disk;    // the volume's name
  std::string farm;    // "" when not known
  std::string server;  // "" when not known
  int level = 0;       // 0: full; 1: changes since `parent`
  std::string created; // UTC, "2026-11-30T03:45:00Z": the point in time
  std::optional<std::string> parent;
  uint64_t disk_size = 0;
  uint64_t chunk_size = kDefaultChunkSize;
};

// One chunk of the disk: its bytes are in the backup's data file at `data`,
// or they are all zero (`zero`, nothing stored).
struct Extent {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool zero = false;
  Digest sha256{};    // of the chunk's bytes (zeros for a zero extent)
  uint64_t data = 0;  // position in the data file; 0 for a zero extent
};

struct Trailer {
  uint64_t extents = 0;
  uint64_t data_size = 0;
  Digest manifest_sha256{};
};

// Backup ids: "20261130T034500Z-1a2b3c4d" (UTC time of creation, 8 random
// hex digits). Only such names become file names in the store.
bool IsValidBackupId(std::string_view id);
std::string NewBackupId(std::chrono::system_clock::time_point t);
std::string FormatTime(std::chrono::system_clock::time_point t);  // "2026-11-30T03:45:00Z"
bool IsValidTime(std::string_view text);

// OK, or InvalidArgument naming the field that is wrong.
Status CheckHeader(const BackupHeader& h);

// The lines, each ending in '\n'.
std::string HeaderLine(const BackupHeader& h);
std::string ExtentLine(const Extent& e);
std::string TrailerLine(const Trailer& t);

// Parses and checks a header line (without its '\n').
Result<BackupHeader> ParseHeaderLine(std::string_view line);

// Reads one manifest from the start. Use:
//   VSL_ASSIGN_OR_RETURN(auto r, ManifestReader::Open(path, id));
//   while (true) { VSL_ASSIGN_OR_RETURN(auto e, r->Next()); if (!e) break; ... }
// Next() returns nullopt once the trailer was read and checked (counts, the
// manifest's checksum, nothing after it). Errors read
// "backup ID: manifest line N: <what>".
class ManifestReader {
 public:
  static Result<std::unique_ptr<ManifestReader>> Open(const std::string& path, const std::string& id);
  // The same over a manifest held whole in memory (a pool store's object).
  static Result<std::unique_ptr<ManifestReader>> FromBytes(std::string bytes, const std::string& id);

  const BackupHeader& header() const { return header_; }
  Result<std::optional<Extent>> Next();
  // Valid after Next() returned nullopt.
  const Trailer& trailer() const { return trailer_; }

 private:
  ManifestReader(Fd fd, std::string id) : fd_(std::move(fd)), id_(std::move(id)) {}
  static Result<std::unique_ptr<ManifestReader>> Start(std::unique_ptr<ManifestReader> r);
  // False at the end of the file.
  Result<bool> ReadLine(std::string* line);
  Status Bad(std::string what) const;
  Status ParseTrailer(std::string_view line, const Digest& body_sha);

  Fd fd_;
  std::optional<std::string> bytes_;  // the manifest, when read from memory
  std::string id_;
  BackupHeader header_;
  Trailer trailer_;
  Sha256 sha_;
  std::string buf_;     // bytes read but not yet consumed
  size_t buf_pos_ = 0;
  uint64_t file_pos_ = 0;
  uint64_t line_no_ = 0;
  uint64_t next_offset_ = 0;  // the lowest offset the next extent may have
  uint64_t data_pos_ = 0;
  uint64_t count_ = 0;
  bool done_ = false;
};

// Reads a whole manifest (every line checked): its header and trailer, and
// how many extents hold zeros.
struct ManifestSummary {
  BackupHeader header;
  Trailer trailer;
  uint64_t zero_extents = 0;
};
Result<ManifestSummary> ReadManifest(const std::string& path, const std::string& id);
Result<ManifestSummary> ReadManifest(std::unique_ptr<ManifestReader> r);

}  // namespace vsl::backup
