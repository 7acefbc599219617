// The allocator's choice (claims 14 and 36): which free volumes, or which
// pool, will hold `size` bytes. Pure: no catalog, no array.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "util/status.h"

namespace vsl::manager {

struct FreeVolume {
  int64_t id = 0;
  int64_t array_id = 0;
  uint64_t size = 0;
};

// An array that cuts volumes on demand, with the bytes it has left.
struct PoolSpace {
  int64_t array_id = 0;
  uint64_t free_bytes = 0;
};

struct AllocationChoice {
  std::vector<int64_t> volumes;     // existing free volumes, in member order
  std::optional<int64_t> cut_from;  // or: cut one volume of `size` from this pool
  uint64_t total = 0;               // bytes the choice provides
};

// In order of preference:
//  1. one free volume that wastes at most 1/8 of `size` (the smallest such);
//  2. one new volume of exactly `size` cut from the pool with the least room
//     that still fits;
//  3. the smallest single free volume that is big enough;
//  4. several free volumes of one array (fewest, then least waste, then the
//     lower array id): largest first, the last one best fit;
//  5. the same across arrays.
// ResourceExhausted (saying how much there is) when nothing adds up.
Result<AllocationChoice> ChooseStorage(std::span<const FreeVolume> free, std::span<const PoolSpace> pools,
                                       uint64_t size);

}  // namespace vsl::manager
