// Encode() and PduReader: the wire framing of RFC 7143 §11.1.

#include "gateway/iscsi/pdu.h"

#include <algorithm>
#include <cstring>

namespace vsl::iscsi {
namespace {

constexpr size_t kInitialBuffer = 64 * 1024;

size_t Pad4(size_t n) { return (n + 3) & ~size_t(3); }

void StoreLe32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v);
  p[1] = uint8_t(v >> 8);
  p[2] = uint8_t(v >> 16);
  p[3] = uint8_t(v >> 24);
}
uint32_t LoadLe32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

// Every AHS is AHSLength (2), AHSType (1) and AHSLength bytes, padded to 4
// (RFC 7143 §11.2.2); together they must fill TotalAHSLength exactly.
bool AhsTiles(const uint8_t* ahs, size_t len) {
  size_t pos = 0;
  while (pos < len) {
    if (len - pos < 4) return false;
    size_t entry = Pad4(3 + size_t(LoadBe16(ahs + pos)));
    if (entry > len - pos) return false;
    pos += entry;
  }
  return true;
}

}  // namespace

void Encode(const Pdu& pdu, const DigestParams& digests, std::vector<uint8_t>* out) {
  const size_t ahs_len = Pad4(pdu.ahs.size());
  const size_t data_len = pdu.data.size();
  const bool data_digest = digests.data_digest && data_len > 0;
  const size_t header_len = kBhsLength + ahs_len;
  const size_t total =
      header_len + (digests.header_digest ? 4 : 0) + Pad4(data_len) + (data_digest ? 4 : 0);
  const size_t start = out->size();
  out->resize(start + total);
  uint8_t* p = out->data() + start;
  std::memcpy(p, pdu.bhs.data(), kBhsLength);
  p[4] = uint8_t(ahs_len / 4);
  StoreBe24(p + 5, uint32_t(data_len));
  if (!pdu.ahs.empty()) std::memcpy(p + kBhsLength, pdu.ahs.data(), pdu.ahs.size());
  std::memset(p + kBhsLength + pdu.ahs.size(), 0, ahs_len - pdu.ahs.size());
  p += header_len;
  if (digests.header_digest) {
    StoreLe32(p, Crc32c({out->data() + start, header_len}));
    p += 4;
  }
  if (data_len > 0) {
    std::memcpy(p, pdu.data.data(), data_len);
    std::memset(p + data_len, 0, Pad4(data_len) - data_len);
    if (data_digest) StoreLe32(p + Pad4(data_len), Crc32c({p, Pad4(data_len)}));
  }
}

std::span<uint8_t> PduReader::Prepare(size_t min) {
  if (begin_ == end_) begin_ = end_ = 0;
  if (min == 0) min = 1;
  if (buf_.size() - end_ < min && begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (buf_.size() - end_ < min) {
    buf_.resize(std::max({end_ + min, kInitialBuffer, buf_.size() + buf_.size() / 2}));
  }
  return {buf_.data() + end_, buf_.size() - end_};
}

void PduReader::Commit(size_t n) {
  if (dead_) return;  // nothing will be read any more; don't let it pile up
  end_ = std::min(end_ + n, buf_.size());
}

void PduReader::Append(std::span<const uint8_t> bytes) {
  if (bytes.empty() || dead_) return;
  std::span<uint8_t> dst = Prepare(bytes.size());
  std::memcpy(dst.data(), bytes.data(), bytes.size());
  Commit(bytes.size());
}

PduReader::Item PduReader::Fatal(std::string reason) {
  dead_ = true;
  dead_reason_ = reason;
  begin_ = end_ = skip_ = 0;
  Item item;
  item.kind = Kind::kFatal;
  item.reason = std::move(reason);
  return item;
}

size_t PduReader::Needed() const {
  if (dead_) return 0;
  const size_t avail = end_ - begin_;
  if (skip_ > 0) return skip_ + kBhsLength - std::min(avail, skip_);
  if (avail < kBhsLength) return kBhsLength - avail;
  const uint8_t* p = buf_.data() + begin_;
  const size_t header_len = kBhsLength + size_t(p[4]) * 4 + (digests_.header_digest ? 4 : 0);
  const uint32_t dsl = LoadBe24(p + 5);
  size_t total = header_len;
  if (dsl <= max_data_) {
    total += Pad4(dsl) + (digests_.data_digest && dsl > 0 ? 4 : 0);
  }
  return total > avail ? total - avail : 0;
}

PduReader::Item PduReader::Next() {
  Item item;
  if (dead_) {
    item.kind = Kind::kFatal;
    item.reason = dead_reason_;
    return item;
  }
  if (skip_ > 0) {
    size_t n = std::min(skip_, end_ - begin_);
    begin_ += n;
    skip_ -= n;
    if (skip_ > 0) return item;
  }
  const size_t avail = end_ - begin_;
  if (avail < kBhsLength) return item;
  const uint8_t* p = buf_.data() + begin_;
  const size_t ahs_len = size_t(p[4]) * 4;
  const uint32_t dsl = LoadBe24(p + 5);
  const size_t digest_len = digests_.header_digest ? 4 : 0;
  const size_t header_len = kBhsLength + ahs_len + digest_len;
  if (avail < header_len) return item;

  if (digests_.header_digest) {
    uint32_t want = Crc32c({p, kBhsLength + ahs_len});
    uint32_t got = LoadLe32(p + kBhsLength + ahs_len);
    if (want != got) {
      return Fatal("header digest error on " + std::string(OpcodeName(Opcode(p[0] & 0x3f))));
    }
  }
  if (!AhsTiles(p + kBhsLength, ahs_len)) {
    return Fatal("TotalAHSLength " + std::to_string(ahs_len / 4) +
                 " does not match the AHS it announces");
  }
  if (dsl > kMaxDataSegmentHardLimit) {
    return Fatal("DataSegmentLength " + std::to_string(dsl) + " exceeds the hard limit");
  }

  const size_t padded = Pad4(dsl);
  const size_t data_digest_len = digests_.data_digest && dsl > 0 ? 4 : 0;

  const size_t total = header_len + padded + data_digest_len;
  if (dsl <= max_data_ && avail < total) return item;
  std::memcpy(item.pdu.bhs.data(), p, kBhsLength);
  if (ahs_len > 0) item.pdu.ahs.assign(p + kBhsLength, p + kBhsLength + ahs_len);
  if (dsl > max_data_) {
    item.kind = Kind::kOversized;
    item.reason = "DataSegmentLength " + std::to_string(dsl) +
                  " exceeds MaxRecvDataSegmentLength " + std::to_string(max_data_);
    begin_ += header_len;
    skip_ = padded + data_digest_len;
    size_t n = std::min(skip_, end_ - begin_);
    begin_ += n;
    skip_ -= n;
    return item;
  }
  const uint8_t* data = p + header_len;
  if (data_digest_len > 0 && Crc32c({data, padded}) != LoadLe32(data + padded)) {
    item.kind = Kind::kDataDigestError;
    item.reason = "data digest error on " + std::string(OpcodeName(Opcode(p[0] & 0x3f)));
  } else {
    item.kind = Kind::kPdu;
    if (data_out_in_place_ && Opcode(p[0] & 0x3f) == Opcode::kDataOut) {
      item.pdu.data_in_place = {data, dsl};
    } else if (data_source_ != nullptr && dsl >= kSourcedDataMin && dsl <= kSourcedDataMax) {
      item.pdu.data = data_source_(dsl);
      std::memcpy(item.pdu.data.data(), data, dsl);
    } else {
      item.pdu.data.assign(data, data + dsl);
    }
  }
  begin_ += total;
  if (begin_ == end_) begin_ = end_ = 0;
  return item;
}

}  // namespace vsl::iscsi
