// Filling a BackupWriter from a Source: the three ways a backup finds what
// to store.
#pragma once

#include <cstdint>
#include <vector>

#include "backup/io.h"
#include "backup/store.h"

namespace vsl::backup {

struct FillStats {
  uint64_t chunks = 0;            // chunks of the disk
  uint64_t chunks_read = 0;       // read from the source
  uint64_t chunks_unchanged = 0;  // read and found equal to the parent chain's
  uint64_t extents = 0;           // in the backup (zero extents included)
  uint64_t zero_extents = 0;
  uint64_t data_bytes = 0;        // stored
};

// Level 0: every chunk that holds data (the source's holes and chunks of
// zeros are not stored; they restore as zeros).
Result<FillStats> FillFull(BackupWriter& w, Source& src);

// Level 1 from a dirty map: the chunks that `changed` touches (ranges of the
// disk, any order, may overlap), read from the source; nothing else. The map
// must be complete: a change it misses is missing from the backup.
Result<FillStats> FillChangedRanges(BackupWriter& w, Source& src, std::vector<ByteRange> changed);

// Level 1 without a map (after a crash the map is not trusted): every chunk
// of the source read and its SHA-256 compared with the one the parent chain's
// manifests give for it; chunks that differ are stored.
Result<FillStats> FillChangedByChecksum(const Store& store, BackupWriter& w, Source& src);

}  // namespace vsl::backup
