// HeldBytes: bytes that stay in buffers someone else allocated (librbd's
// reply to a read, or a pooled Data-In buffer), lying end to end in
// `pieces`, valid while the object lives. A read on an RBD image hands
// librbd's buffers to the connection this way, and the connection sends
// them (one iovec per piece) without copying them first.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace vsl::util {

struct HeldBytes {
  virtual ~HeldBytes() = default;
  std::vector<std::span<const uint8_t>> pieces;
  size_t size = 0;  // the pieces' lengths added up

  // Calls fn(piece) for the parts of the pieces within [offset, offset+length).
  template <class Fn>
  void ForEach(size_t offset, size_t length, Fn&& fn) const {
    for (std::span<const uint8_t> p : pieces) {
      if (length == 0) return;
      if (offset >= p.size()) {
        offset -= p.size();
        continue;
      }
      const size_t n = std::min(p.size() - offset, length);
      fn(p.subspan(offset, n));
      offset = 0;
      length -= n;
    }
  }
  // How many pieces [offset, offset+length) touches.
  size_t PiecesIn(size_t offset, size_t length) const {
    size_t k = 0;
    ForEach(offset, length, [&](std::span<const uint8_t>) { ++k; });
    return k;
  }
};

}  // namespace vsl::util
