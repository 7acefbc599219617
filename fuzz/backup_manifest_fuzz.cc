// Fuzzes the backup store's manifest reader (src/backup/manifest.h): any
// bytes as a backup's manifest file.
//
// Properties checked on every input, besides memory safety:
//  * a refused manifest's message names the backup ("backup ID: ...");
//  * an accepted one keeps the rules a restore relies on: extents in
//    ascending chunk-aligned order within disk_size, each of its chunk's
//    length, data positions back to back, the trailer's counts equal to
//    what was read.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "backup/manifest.h"

namespace {

constexpr char kId[] = "20261130T034500Z-0123abcd";

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vsl::backup;
  int fd = memfd_create("manifest", MFD_CLOEXEC);
  if (fd < 0) return 0;
  if (size > 0 && write(fd, data, size) != static_cast<ssize_t>(size)) {
    close(fd);
    return 0;
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  auto reader = ManifestReader::Open(path, kId);
  if (!reader.ok()) {
    Check(reader.status().message().rfind(std::string("backup ") + kId, 0) == 0);
    close(fd);
    return 0;
  }
  const BackupHeader& h = (*reader)->header();
  uint64_t next = 0, pos = 0, count = 0;
  while (true) {
    auto e = (*reader)->Next();
    if (!e.ok()) {
      Check(e.status().message().rfind(std::string("backup ") + kId, 0) == 0);
      break;
    }
    if (!*e) {
      Check((*reader)->trailer().extents == count && (*reader)->trailer().data_size == pos);
      break;
    }
    const Extent& x = **e;
    Check(x.offset >= next && x.offset < h.disk_size && x.offset % h.chunk_size == 0);
    Check(x.length == std::min(h.chunk_size, h.disk_size - x.offset));
    if (!x.zero) {
      Check(x.data == pos);
      pos += x.length;
    }
    next = x.offset + h.chunk_size;
    count++;
  }
  close(fd);
  return 0;
}
