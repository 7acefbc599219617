#include "volume/cache.h"

#include <algorithm>
#include <cstring>

namespace vsl::volume {
namespace {
constexpr uint64_t kBlocksPerRegion = BlockCache::kRegion / BlockCache::kBlock;

uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}
uint64_t RegionHash(uint64_t id, uint64_t block) {
  return Mix(id * 0x9e3779b97f4a7c15ULL ^ (block / kBlocksPerRegion));
}
}  // namespace

size_t BlockCache::KeyHash::operator()(const Key& k) const {
  return size_t(Mix(k.id * 0x9e3779b97f4a7c15ULL ^ k.block));
}

BlockCache& BlockCache::Global() {
  static auto* c = new BlockCache;  // never destroyed: volumes may close during exit
  return *c;
}

void BlockCache::SetCapacity(uint64_t bytes, bool test_skip_invalidate) {
  skip_invalidate_ = test_skip_invalidate;
  uint64_t slots = bytes / kBlock / kShards;
  if (slots == 0) return;
  slots_per_shard_ = uint32_t(std::min<uint64_t>(slots, uint64_t(1) << 31));
  capacity_ = uint64_t(slots_per_shard_) * kShards * kBlock;
  // Not value-initialised: untouched pages of the arena take no memory.
  arena_.reset(new uint8_t[capacity_]);
  shards_.reset(new Shard[kShards]);
  stripes_.reset(new Stripe[kStripes]);
  for (size_t i = 0; i < kShards; ++i) {
    Shard& s = shards_[i];
    s.keys.resize(slots_per_shard_);
    s.ref.assign(slots_per_shard_, 0);
    s.arena = arena_.get() + uint64_t(i) * slots_per_shard_ * kBlock;
    s.map.reserve(slots_per_shard_);
  }
  enabled_.store(true, std::memory_order_release);
}

uint64_t BlockCache::Acquire(const std::string& key) {
  if (!enabled()) return 0;
  std::lock_guard l(ids_mu_);
  auto [it, fresh] = ids_.try_emplace(key, 0, 0);
  if (fresh) {
    it->second.first = next_id_++;
    names_.emplace(it->second.first, key);
  }
  ++it->second.second;
  return it->second.first;
}

void BlockCache::Release(uint64_t id) {
  if (id == 0) return;
  std::lock_guard l(ids_mu_);
  auto n = names_.find(id);
  if (n == names_.end()) return;
  auto it = ids_.find(n->second);
  if (--it->second.second > 0) return;
  // Its blocks become unreachable; the CLOCK hand reclaims them.
  ids_.erase(it);
  names_.erase(n);
}

BlockCache::Shard& BlockCache::ShardOf(uint64_t id, uint64_t block) {
  return shards_[KeyHash()({id, block}) % kShards];
}
BlockCache::Stripe& BlockCache::StripeOf(uint64_t id, uint64_t block, size_t* index) {
  const uint64_t h = RegionHash(id, block);
  *index = size_t((h / kStripes) % kGensPerStripe);
  return stripes_[h % kStripes];
}

bool BlockCache::Get(uint64_t id, uint64_t block, uint8_t* out) {
  if (!enabled() || id == 0) return false;
  Shard& s = ShardOf(id, block);
  std::lock_guard l(s.mu);
  auto it = s.map.find({id, block});
  if (it == s.map.end()) return false;
  std::memcpy(out, s.arena + uint64_t(it->second) * kBlock, kBlock);
  s.ref[it->second] = 2;
  return true;
}

uint64_t BlockCache::Gen(uint64_t id, uint64_t block) {
  if (!enabled() || id == 0) return 0;
  size_t i;
  Stripe& g = StripeOf(id, block, &i);
  std::lock_guard l(g.mu);
  return g.gens[i];
}

void BlockCache::Put(uint64_t id, uint64_t block, const uint8_t* data, uint64_t gen) {
  if (!enabled() || id == 0) return;
  size_t i;
  Stripe& g = StripeOf(id, block, &i);
  std::lock_guard lg(g.mu);
  if (g.gens[i] != gen) return;  // a write raced this read
  Shard& s = ShardOf(id, block);
  std::lock_guard l(s.mu);
  auto [it, fresh] = s.map.try_emplace({id, block}, 0);
  if (fresh) {
    // CLOCK: pass over referenced slots (clearing them) to the first cold or free one.
    for (;;) {
      const uint32_t h = s.hand;
      s.hand = (h + 1) % slots_per_shard_;
      if (s.ref[h] == 2) {
        s.ref[h] = 1;
        continue;
      }
      if (s.ref[h] == 1) {
        s.map.erase(s.keys[h]);  // another key: `it` stays valid
        ++s.evictions;
      }
      it->second = h;
      s.keys[h] = {id, block};
      break;
    }
    ++s.inserts;
  }
  std::memcpy(s.arena + uint64_t(it->second) * kBlock, data, kBlock);
  s.ref[it->second] = 1;
}

void BlockCache::Change(uint64_t id, uint64_t first, uint64_t count, bool drop) {
  if (!enabled() || id == 0 || count == 0) return;
  if (skip_invalidate_) return;
  for (uint64_t b = first; b < first + count;) {
    const uint64_t region_end = (b / kBlocksPerRegion + 1) * kBlocksPerRegion;
    const uint64_t end = std::min(first + count, region_end);
    size_t i;
    Stripe& g = StripeOf(id, b, &i);
    std::lock_guard lg(g.mu);
    ++g.gens[i];
    for (uint64_t k = b; drop && k < end; ++k) {
      Shard& s = ShardOf(id, k);
      std::lock_guard l(s.mu);
      auto it = s.map.find({id, k});
      if (it == s.map.end()) continue;
      s.ref[it->second] = 0;
      s.map.erase(it);
      ++s.invalidations;
    }
    b = end;
  }
}

void BlockCache::Invalidate(uint64_t id, uint64_t first, uint64_t count) {
  Change(id, first, count, true);
}
void BlockCache::Bump(uint64_t id, uint64_t first, uint64_t count) {
  Change(id, first, count, false);
}

BlockCache::Stats BlockCache::stats() const {
  Stats st;
  st.capacity_bytes = capacity_;
  if (!enabled()) return st;
  for (size_t i = 0; i < kShards; ++i) {
    Shard& s = shards_[i];
    std::lock_guard l(s.mu);
    st.used_bytes += uint64_t(s.map.size()) * kBlock;
    st.inserts += s.inserts;
    st.evictions += s.evictions;
    st.invalidations += s.invalidations;
  }
  return st;
}

}  // namespace vsl::volume
