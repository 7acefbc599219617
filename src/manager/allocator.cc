#include "manager/allocator.h"

#include <algorithm>
#include <map>
#include <string>

namespace vsl::manager {
namespace {

// Largest first until the rest fits in one volume, then the smallest volume
// that covers the rest. `vs` sorted by size descending, then id.
std::optional<AllocationChoice> Concatenate(const std::vector<FreeVolume>& vs, uint64_t size) {
  uint64_t total = 0;
  for (const FreeVolume& v : vs) total += v.size;
  if (total < size) return std::nullopt;
  AllocationChoice c;
  std::vector<bool> used(vs.size(), false);
  uint64_t need = size;
  while (need > 0) {
    // The smallest unused volume that covers `need`, if any.
    std::optional<size_t> tail;
    for (size_t i = 0; i < vs.size(); ++i) {
      if (!used[i] && vs[i].size >= need && (!tail || vs[i].size < vs[*tail].size)) tail = i;
    }
    size_t pick = 0;
    if (tail) {
      pick = *tail;
    } else {
      while (used[pick]) ++pick;  // the largest unused
    }
    used[pick] = true;
    c.volumes.push_back(vs[pick].id);
    c.total += vs[pick].size;
    need = vs[pick].size >= need ? 0 : need - vs[pick].size;
  }
  return c;
}

bool Better(const AllocationChoice& a, const AllocationChoice& b) {
  if (a.volumes.size() != b.volumes.size()) return a.volumes.size() < b.volumes.size();
  return a.total < b.total;
}

std::string Bytes(uint64_t n) { return std::to_string(n) + " bytes"; }

}  // namespace

Result<AllocationChoice> ChooseStorage(std::span<const FreeVolume> free, std::span<const PoolSpace> pools,
                                       uint64_t size) {
  if (size == 0) return InvalidArgument("cannot allocate 0 bytes");
  std::vector<FreeVolume> vs(free.begin(), free.end());
  std::sort(vs.begin(), vs.end(), [](const FreeVolume& a, const FreeVolume& b) {
    return a.size != b.size ? a.size > b.size : a.id < b.id;
  });

  // The smallest single volume that is big enough (vs is descending).
  const FreeVolume* single = nullptr;
  for (const FreeVolume& v : vs) {
    if (v.size >= size && (!single || v.size < single->size)) single = &v;
  }
  if (single && single->size - size <= size / 8) return AllocationChoice{{single->id}, std::nullopt, single->size};

  const PoolSpace* pool = nullptr;
  for (const PoolSpace& p : pools) {
    if (p.free_bytes >= size && (!pool || p.free_bytes < pool->free_bytes ||
                                 (p.free_bytes == pool->free_bytes && p.array_id < pool->array_id))) {
      pool = &p;
    }
  }
  if (pool) return AllocationChoice{{}, pool->array_id, size};
  if (single) return AllocationChoice{{single->id}, std::nullopt, single->size};

  std::map<int64_t, std::vector<FreeVolume>> by_array;
  for (const FreeVolume& v : vs) by_array[v.array_id].push_back(v);
  std::optional<AllocationChoice> best;
  for (const auto& [array, list] : by_array) {
    auto c = Concatenate(list, size);
    if (c && (!best || Better(*c, *best))) best = c;
  }
  if (best) return *best;
  if (auto across = Concatenate(vs, size)) return *across;

  uint64_t total = 0;
  for (const FreeVolume& v : vs) total += v.size;
  uint64_t biggest_pool = 0;
  for (const PoolSpace& p : pools) biggest_pool = std::max(biggest_pool, p.free_bytes);
  return ResourceExhausted("no free storage for " + Bytes(size) + ": " + std::to_string(vs.size()) +
                           " free volumes hold " + Bytes(total) + " in all" +
                           (pools.empty() ? std::string() : ", the roomiest pool has " + Bytes(biggest_pool)));
}

}  // namespace vsl::manager
