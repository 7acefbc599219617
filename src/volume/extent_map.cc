#include <algorithm>

#include "volume/volume.h"

namespace vsl::volume {

Result<ExtentMap> ExtentMap::Make(std::vector<Extent> extents, uint32_t block_size) {
  if (block_size == 0 || (block_size & (block_size - 1)) != 0)
    return InvalidArgument("block size " + std::to_string(block_size) + " is not a power of two");
  ExtentMap m;
  m.block_size_ = block_size;
  uint64_t pos = 0;
  for (size_t i = 0; i < extents.size(); ++i) {
    const Extent& e = extents[i];
    if (e.length == 0) return InvalidArgument("extent " + std::to_string(i) + " (" + e.path + ") is empty");
    if (e.length % block_size != 0)
      return InvalidArgument("extent " + std::to_string(i) + " (" + e.path + ") length " +
                             std::to_string(e.length) + " is not a multiple of the block size " +
                             std::to_string(block_size));
    if (e.offset + e.length < e.offset || pos + e.length < pos)
      return InvalidArgument("extent " + std::to_string(i) + " (" + e.path + ") overflows 64 bits");
    m.starts_.push_back(pos);
    pos += e.length;
  }
  m.extents_ = std::move(extents);
  m.size_ = pos;
  return m;
}

bool ExtentMap::MapOne(uint64_t offset, uint64_t length, Piece* piece) const {
  if (length == 0 || offset >= size_ || length > size_ - offset) return false;
  size_t i = std::upper_bound(starts_.begin(), starts_.end(), offset) - starts_.begin() - 1;
  uint64_t into = offset - starts_[i];
  if (length > extents_[i].length - into) return false;
  *piece = Piece{i, extents_[i].offset + into, length, offset};
  return true;
}

Result<std::vector<Piece>> ExtentMap::Map(uint64_t offset, uint64_t length) const {
  if (offset > size_ || length > size_ - offset)
    return OutOfRange("range [" + std::to_string(offset) + ", +" + std::to_string(length) +
                      ") lies past the end of the volume (" + std::to_string(size_) + " bytes)");
  std::vector<Piece> pieces;
  if (length == 0) return pieces;
  // The extent holding `offset`: the last one starting at or before it.
  size_t i = std::upper_bound(starts_.begin(), starts_.end(), offset) - starts_.begin() - 1;
  uint64_t pos = offset;
  uint64_t left = length;
  while (left > 0) {
    const Extent& e = extents_[i];
    uint64_t into = pos - starts_[i];
    uint64_t n = std::min(left, e.length - into);
    pieces.push_back(Piece{i, e.offset + into, n, pos});
    pos += n;
    left -= n;
    ++i;
  }
  return pieces;
}

}  // namespace vsl::volume
