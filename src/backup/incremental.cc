#include "backup/incremental.h"

#include <algorithm>

#include "backup/chain.h"

namespace vsl::backup {
namespace {

Status SameSize(const BackupWriter& w, const Source& src) {
  if (src.size() != w.header().disk_size) {
    return InvalidArgument(src.name() + ": " + std::to_string(src.size()) + " bytes, the backup's disk_size is " +
                           std::to_string(w.header().disk_size));
  }
  return Status::Ok();
}

void Count(const BackupWriter& w, FillStats* s) {
  s->chunks = (w.header().disk_size + w.header().chunk_size - 1) / w.header().chunk_size;
  s->extents = w.extents();
  s->zero_extents = w.zero_extents();
  s->data_bytes = w.data_size();
}

}  // namespace

Result<FillStats> FillFull(BackupWriter& w, Source& src) {
  VSL_RETURN_IF_ERROR(SameSize(w, src));
  if (w.header().level != 0) return InvalidArgument("FillFull: backup " + w.header().id + " is not a level 0");
  const uint64_t chunk = w.header().chunk_size, size = src.size();
  FillStats stats;
  std::vector<uint8_t> buf;
  uint64_t from = 0;  // everything before it is done
  while (from < size) {
    VSL_ASSIGN_OR_RETURN(std::optional<ByteRange> r, src.NextData(from));
    if (!r || r->length == 0) break;
    const uint64_t end = r->offset + r->length;
    for (uint64_t off = std::max(from, r->offset / chunk * chunk); off < end; off += chunk) {
      buf.resize(w.ChunkLength(off));
      VSL_RETURN_IF_ERROR(src.Read(off, buf));
      stats.chunks_read++;
      VSL_RETURN_IF_ERROR(w.AddChunk(off, buf, nullptr));
    }
    // The chunk holding `end` was read whole: go on after it.
    from = std::max(from, (end + chunk - 1) / chunk * chunk);
  }
  Count(w, &stats);
  return stats;
}

Result<FillStats> FillChangedRanges(BackupWriter& w, Source& src, std::vector<ByteRange> changed) {
  VSL_RETURN_IF_ERROR(SameSize(w, src));
  if (w.header().level != 1) {
    return InvalidArgument("changed ranges: backup " + w.header().id + " is a level 0, which stores every chunk");
  }
  const uint64_t chunk = w.header().chunk_size, size = src.size();
  for (const ByteRange& r : changed) {
    if (r.offset > size || r.length > size - r.offset) {
      return OutOfRange("changed range at " + std::to_string(r.offset) + " (" + std::to_string(r.length) +
                        " bytes): beyond the disk's end (" + std::to_string(size) + " bytes)");
    }
  }
  std::sort(changed.begin(), changed.end(),
            [](const ByteRange& a, const ByteRange& b) { return a.offset < b.offset; });
  FillStats stats;
  std::vector<uint8_t> buf;
  uint64_t next = 0;  // the first chunk offset not yet stored
  for (const ByteRange& r : changed) {
    if (r.length == 0) continue;
    for (uint64_t off = std::max(next, r.offset / chunk * chunk); off < r.offset + r.length; off += chunk) {
      buf.resize(w.ChunkLength(off));
      VSL_RETURN_IF_ERROR(src.Read(off, buf));
      stats.chunks_read++;
      VSL_RETURN_IF_ERROR(w.AddChunk(off, buf, nullptr));
      next = off + chunk;
    }
  }
  Count(w, &stats);
  return stats;
}

Result<FillStats> FillChangedByChecksum(const Store& store, BackupWriter& w, Source& src) {
  VSL_RETURN_IF_ERROR(SameSize(w, src));
  const BackupHeader& h = w.header();
  if (h.level != 1 || !h.parent) return InvalidArgument("by checksum: backup " + h.id + " is not a level 1");
  VSL_ASSIGN_OR_RETURN(std::vector<ManifestSummary> chain, store.Chain(*h.parent));
  VSL_ASSIGN_OR_RETURN(std::unique_ptr<ChainCursor> cursor, ChainCursor::Open(store, chain));
  VSL_ASSIGN_OR_RETURN(std::optional<ChainEntry> had, cursor->Next());

  const uint64_t chunk = h.chunk_size, size = h.disk_size;
  FillStats stats;
  Sha256 sha;
  std::vector<uint8_t> buf;
  std::optional<ByteRange> data;  // the source's data range at or after `off`
  VSL_ASSIGN_OR_RETURN(data, src.NextData(0));
  for (uint64_t off = 0; off < size; off += chunk) {
    const uint64_t len = w.ChunkLength(off);
    // What the parent chain says this chunk holds (absent: zeros).
    std::optional<Extent> before;
    if (had && had->extent.offset == off) {
      before = had->extent;
      VSL_ASSIGN_OR_RETURN(had, cursor->Next());
    }
    if (data && data->offset + data->length <= off) {
      VSL_ASSIGN_OR_RETURN(data, src.NextData(off));
    }
    const bool hole = !data || data->offset >= off + len;
    bool zero = hole;
    Digest now{};
    if (!hole) {
      buf.resize(len);
      VSL_RETURN_IF_ERROR(src.Read(off, buf));
      stats.chunks_read++;
      zero = IsAllZero(buf);
      if (!zero) now = sha.Of(buf);
    }
    const bool was_zero = !before || before->zero;
    if (zero) {
      if (was_zero) continue;
      VSL_RETURN_IF_ERROR(w.AddZeroChunk(off));
      continue;
    }
    if (!was_zero && before->sha256 == now) {
      stats.chunks_unchanged++;
      continue;
    }
    VSL_RETURN_IF_ERROR(w.AddChunk(off, buf, &now));
  }
  Count(w, &stats);
  return stats;
}

}  // namespace vsl::backup
