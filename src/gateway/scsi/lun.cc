#include <cstdio>

#include "gateway/scsi/scsi.h"

namespace vsl::scsi {

// The 8-byte LUN as a big-endian integer: the first level in the top 16 bits.
uint64_t EncodeLun(uint64_t lun) {
  if (lun < 256) return lun << 48;                             // peripheral device
  return (uint64_t(0x4000 | (lun & 0x3fff))) << 48;            // flat space
}

Result<uint64_t> DecodeLun(uint64_t wire) {
  uint16_t first = uint16_t(wire >> 48);
  if ((wire & 0x0000ffffffffffffull) != 0) {
    char hex[20];
    std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)wire);
    return InvalidArgument(std::string("LUN 0x") + hex + " uses more than one addressing level");
  }
  switch (first >> 14) {
    case 0:  // peripheral device addressing; bus identifier must be 0
      if ((first >> 8) != 0) return InvalidArgument("LUN with a non-zero bus identifier");
      return uint64_t(first & 0xff);
    case 1:
      return uint64_t(first & 0x3fff);
    default:
      return InvalidArgument("LUN addressing method " + std::to_string(first >> 14) +
                             " is not supported");
  }
}

}  // namespace vsl::scsi
