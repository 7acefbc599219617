#include "gateway/segmentation.h"

#include <algorithm>

#include "util/bytes.h"

namespace vsl::gateway {

std::vector<DataInSegment> PlanDataIn(uint32_t total, uint32_t max_segment, uint32_t max_burst) {
  if (max_segment == 0) max_segment = 512;
  if (max_burst == 0) max_burst = 512;
  std::vector<DataInSegment> out;
  uint32_t offset = 0;
  while (offset < total) {
    uint32_t burst_end = offset + std::min(max_burst, total - offset);
    while (offset < burst_end) {
      uint32_t n = std::min(max_segment, burst_end - offset);
      DataInSegment s;
      s.offset = offset;
      s.length = n;
      offset += n;
      s.final = offset == burst_end;
      s.last = offset == total;
      out.push_back(s);
    }
  }
  return out;
}

std::vector<R2tRange> PlanR2Ts(uint32_t from, uint32_t to, uint32_t max_burst) {
  if (max_burst == 0) max_burst = 512;
  std::vector<R2tRange> out;
  for (uint32_t offset = from; offset < to;) {
    uint32_t n = std::min(max_burst, to - offset);
    out.push_back({offset, n});
    offset += n;
  }
  return out;
}

uint32_t UnsolicitedEnd(uint32_t edtl, uint32_t immediate_length, uint32_t first_burst,
                        bool initial_r2t, bool final_bit) {
  uint32_t immediate = std::min(immediate_length, edtl);
  if (initial_r2t || final_bit) return immediate;
  return std::max(immediate, std::min(first_burst, edtl));
}

std::optional<uint64_t> CdbTransferLength(std::span<const uint8_t> cdb, uint32_t block_size) {
  if (cdb.empty()) return std::nullopt;
  uint64_t blocks = 0;
  switch (cdb[0]) {
    case 0x08:  // READ(6)
    case 0x0a:  // WRITE(6)
      if (cdb.size() < 6) return std::nullopt;
      blocks = cdb[4] == 0 ? 256 : cdb[4];
      break;
    case 0x28:  // READ(10)
    case 0x2a:  // WRITE(10)
    case 0x2e:  // WRITE AND VERIFY(10)
      if (cdb.size() < 10) return std::nullopt;
      blocks = LoadBe16(&cdb[7]);
      break;
    case 0xa8:  // READ(12)
    case 0xaa:  // WRITE(12)
    case 0xae:  // WRITE AND VERIFY(12)
      if (cdb.size() < 12) return std::nullopt;
      blocks = LoadBe32(&cdb[6]);
      break;
    case 0x88:  // READ(16)
    case 0x8a:  // WRITE(16)
    case 0x8e:  // WRITE AND VERIFY(16)
    case 0x8b:  // ORWRITE(16)
      if (cdb.size() < 16) return std::nullopt;
      blocks = LoadBe32(&cdb[10]);
      break;
    default:
      return std::nullopt;
  }
  return blocks * block_size;
}

std::optional<WriteFit> FitWriteToEdtl(std::span<const uint8_t> cdb, uint32_t edtl,
                                       uint32_t block_size) {
  if (cdb.empty() || block_size == 0) return std::nullopt;
  uint8_t op = cdb[0];
  bool write = op == 0x0a || op == 0x2a || op == 0x2e || op == 0xaa || op == 0xae || op == 0x8a ||
               op == 0x8e || op == 0x8b;
  if (!write) return std::nullopt;
  std::optional<uint64_t> spdtl = CdbTransferLength(cdb, block_size);
  if (!spdtl || *spdtl == edtl) return std::nullopt;
  WriteFit fit;
  fit.cdb.assign(cdb.begin(), cdb.end());
  if (edtl > *spdtl) {
    fit.data_length = uint32_t(*spdtl);
    return fit;
  }
  uint32_t blocks = edtl / block_size;
  fit.data_length = blocks * block_size;
  fit.skip = blocks == 0;
  switch (op) {
    case 0x0a:
      fit.cdb[4] = uint8_t(blocks);  // < 256 here, since EDTL < SPDTL
      break;
    case 0x2a:
    case 0x2e:
      StoreBe16(&fit.cdb[7], uint16_t(blocks));
      break;
    case 0xaa:
    case 0xae:
      StoreBe32(&fit.cdb[6], blocks);
      break;
    default:
      StoreBe32(&fit.cdb[10], blocks);
      break;
  }
  return fit;
}

}  // namespace vsl::gateway
