// BlockCache: the gateway's read cache in RAM (issue 12, FIG. 3C), one per
// process, shared by every open volume.
//
// Blocks of kBlock bytes, keyed by (backing, block index): a backing is what
// holds the bytes, named by a key string that MetaVolume derives from the
// file (device and inode) or the RBD image (cluster, pool, image, snapshot),
// interned to a small id while any open volume uses it. Two volumes on one
// backing share its blocks; RBD clones share their parent's (MetaVolume
// keys a clone's unwritten objects by the parent's snapshot).
//
// Bounded: a fixed arena of capacity/kBlock slots, split over kShards
// shards by a hash of the key, each with its own lock, hash map and CLOCK
// hand (a reference bit per slot; a hit sets it, the hand clears it and
// evicts the first slot found clear). Nothing is allocated per block after
// SetCapacity.
//
// Exact invalidation without a lock held across the backend's I/O: every
// region (kRegion bytes of one backing) has a generation (hashed into
// stripes, each with its own lock), bumped by Invalidate and Bump while
// they hold the stripe's lock. A reader takes Gen of each block before it
// reads the backend and Put installs a block only if its region's
// generation is unchanged, checked and installed under the stripe's lock,
// so a read that raced a write to its range (and may hold the old bytes)
// never installs them; Invalidate after the write's completion drops
// whatever such a read installed before it. Lock order: stripe, then shard.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace vsl::volume {

class BlockCache {
 public:
  // 4 KiB: the page of every guest OS and file system, so a 4 KiB random
  // read is one block with nothing read beyond it (docs/cache.md).
  static constexpr uint64_t kBlock = 4096;
  static constexpr uint64_t kRegion = uint64_t(1) << 22;  // 4 MiB, an RBD object
  static constexpr size_t kShards = 64;

  static BlockCache& Global();

  // Sizes the cache (0: off). Call once, before any volume opens (vsl serve
  // --cache). With test_skip_invalidate, writes leave cached blocks alone:
  // only for checking that the tests catch a stale read.
  void SetCapacity(uint64_t bytes, bool test_skip_invalidate = false);
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }
  uint64_t capacity() const { return capacity_; }

  // The id of backing `key` (a fresh one when no open volume uses it, so
  // blocks of a backing nobody held stay unreachable: the array may have
  // rewritten it meanwhile, e.g. scrubbed and handed it to another disk).
  // Release once per Acquire. 0 when the cache is off.
  uint64_t Acquire(const std::string& key);
  void Release(uint64_t id);

  // Copies block `block` of backing `id` to out (kBlock bytes); false when
  // it is not cached.
  bool Get(uint64_t id, uint64_t block, uint8_t* out);
  // The generation to pass to Put, taken before the backend read starts.
  uint64_t Gen(uint64_t id, uint64_t block);
  // Installs the block unless a write reached its region since Gen.
  void Put(uint64_t id, uint64_t block, const uint8_t* data, uint64_t gen);
  // Blocks [first, first+count) changed: dropped, and reads in flight over
  // them will not install what they read.
  void Invalidate(uint64_t id, uint64_t first, uint64_t count);
  // Reads in flight over the blocks will not install them; cached blocks
  // stay (a clone starts writing an object: the parent's blocks are still
  // right for its siblings, but a read of the clone racing the write may
  // return the clone's new bytes).
  void Bump(uint64_t id, uint64_t first, uint64_t count);

  struct Stats {
    uint64_t capacity_bytes = 0;
    uint64_t used_bytes = 0;
    uint64_t inserts = 0;
    uint64_t evictions = 0;
    uint64_t invalidations = 0;  // blocks dropped by writes
  };
  Stats stats() const;

 private:
  struct Key {
    uint64_t id, block;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<Key, uint32_t, KeyHash> map;  // guarded by mu
    std::vector<Key> keys;                           // per slot; guarded by mu
    std::vector<uint8_t> ref;                        // per slot: 0 free, 1 cold, 2 referenced
    uint32_t hand = 0;                               // guarded by mu
    uint8_t* arena = nullptr;                        // slots * kBlock bytes
    uint64_t inserts = 0, evictions = 0, invalidations = 0;  // guarded by mu
  };
  static constexpr size_t kStripes = 256, kGensPerStripe = 64;
  struct Stripe {
    std::mutex mu;
    uint64_t gens[kGensPerStripe] = {};  // by region hash; guarded by mu
  };
  Shard& ShardOf(uint64_t id, uint64_t block);
  // The stripe of the block's region, and the index of its generation there.
  Stripe& StripeOf(uint64_t id, uint64_t block, size_t* index);
  void Change(uint64_t id, uint64_t first, uint64_t count, bool drop);

  std::atomic<bool> enabled_{false};
  bool skip_invalidate_ = false;
  uint64_t capacity_ = 0;
  uint32_t slots_per_shard_ = 0;
  std::unique_ptr<uint8_t[]> arena_;
  std::unique_ptr<Shard[]> shards_;
  std::unique_ptr<Stripe[]> stripes_;
  std::mutex ids_mu_;
  std::unordered_map<std::string, std::pair<uint64_t, uint64_t>>
      ids_;                                          // key -> (id, users); guarded by ids_mu_
  std::unordered_map<uint64_t, std::string> names_;  // id -> key; guarded by ids_mu_
  uint64_t next_id_ = 1;                             // guarded by ids_mu_
};

}  // namespace vsl::volume
