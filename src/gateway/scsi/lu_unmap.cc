// Where a file-backed LU can deallocate, and UNMAP that respects it: the
// file system frees whole blocks of its own (usually 4 KiB, 8 logical blocks
// of 512 bytes), so a range is deallocated granule by granule and the
// logical blocks around the granules it covers are written with zeros, which
// keeps LBPRZ=1 true whatever the file system does with a partial block.
#include <sys/stat.h>
#include <sys/vfs.h>

#include <algorithm>
#include <optional>

#include "gateway/scsi/lu_core.h"

namespace vsl::scsi {
namespace {

// Granules are capped: a file system reporting a huge block (some network
// file systems report 1 MiB or more) still frees 64 KiB ranges well.
constexpr uint64_t kMaxGranuleBytes = 64 * 1024;

uint64_t FsBlockBytes(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode)) return 4096;
  struct statfs fs;
  if (::statfs(path.c_str(), &fs) != 0 || fs.f_bsize <= 0) return 4096;
  return uint64_t(fs.f_bsize);
}

}  // namespace

UnmapGeometry ComputeUnmapGeometry(const volume::MetaVolume& volume) {
  const uint64_t bs = volume.block_size();
  uint64_t granule = bs;
  const auto extents = volume.extents();
  for (const auto& e : extents) granule = std::max(granule, FsBlockBytes(e.path));
  granule = std::min(granule, std::max(kMaxGranuleBytes, bs));
  // A power of two, and a whole number of logical blocks.
  uint64_t p2 = bs;
  while (p2 * 2 <= granule) p2 *= 2;
  granule = p2;
  UnmapGeometry g;
  g.granularity = uint32_t(granule / bs);
  // Volume byte v lies at file byte v - start + offset: v is on a granule
  // boundary when (v + offset - start) % granule == 0.
  uint64_t start = 0;
  std::optional<uint64_t> phase;
  for (const auto& e : extents) {
    const uint64_t ph = (start % granule + granule - e.offset % granule) % granule;
    if (phase && *phase != ph) g.aligned = false;
    if (!phase) phase = ph;
    start += e.length;
  }
  g.alignment = g.aligned && phase ? uint32_t(*phase / bs) : 0;
  if (!g.aligned) g.alignment = 0;
  return g;
}

UnmapGeometry GetUnmapGeometry(LuCore& core) {
  std::lock_guard<std::mutex> l(core.mu);
  return core.unmap_geometry;
}

Status UnmapBlocks(LuCore& core, const UnmapGeometry& g, uint64_t lba, uint64_t blocks) {
  auto& vol = *core.volume;
  const uint64_t bs = vol.block_size();
  if (blocks == 0) return Status::Ok();
  if (!g.aligned || g.granularity <= 1) return vol.Unmap(lba * bs, blocks * bs);
  const uint64_t gr = g.granularity, al = g.alignment, end = lba + blocks;
  // First granule boundary at or after lba, last at or before end.
  auto up = [&](uint64_t x) { return x <= al ? al : al + (x - al + gr - 1) / gr * gr; };
  auto down = [&](uint64_t x) { return x < al ? 0 : al + (x - al) / gr * gr; };
  uint64_t mid_a = up(lba), mid_b = down(end);
  if (mid_a >= mid_b || mid_a < lba || mid_b > end) mid_a = mid_b = end;  // no whole granule
  // Zeros where a partial granule is not already zero (a hole stays a hole).
  auto zero = [&](uint64_t a, uint64_t b) -> Status {
    if (a >= b) return Status::Ok();
    std::vector<uint8_t> buf((b - a) * bs);
    VSL_RETURN_IF_ERROR(vol.Read(a * bs, buf));
    if (std::all_of(buf.begin(), buf.end(), [](uint8_t c) { return c == 0; })) return Status::Ok();
    std::fill(buf.begin(), buf.end(), 0);
    return vol.Write(a * bs, buf, false);
  };
  if (mid_a == mid_b) {
    // Less than a granule: zero it in pieces of at most one granule.
    for (uint64_t a = lba; a < end;) {
      uint64_t b = std::min(end, a + gr);
      VSL_RETURN_IF_ERROR(zero(a, b));
      a = b;
    }
    return Status::Ok();
  }
  VSL_RETURN_IF_ERROR(zero(lba, mid_a));
  VSL_RETURN_IF_ERROR(vol.Unmap(mid_a * bs, (mid_b - mid_a) * bs));
  return zero(mid_b, end);
}

}  // namespace vsl::scsi
