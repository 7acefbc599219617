#include "volume/cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "volume/volume.h"

namespace vsl::volume {
namespace {

constexpr uint64_t kB = BlockCache::kBlock;

std::vector<uint8_t> Filled(uint8_t v) { return std::vector<uint8_t>(kB, v); }

TEST(BlockCacheTest, PutThenGet) {
  BlockCache c;
  c.SetCapacity(1 << 20);
  const uint64_t id = c.Acquire("file\n1:2");
  std::vector<uint8_t> out(kB);
  EXPECT_FALSE(c.Get(id, 7, out.data()));
  c.Put(id, 7, Filled(0xab).data(), c.Gen(id, 7));
  ASSERT_TRUE(c.Get(id, 7, out.data()));
  EXPECT_EQ(out, Filled(0xab));
  EXPECT_FALSE(c.Get(id, 8, out.data()));
  c.Release(id);
}

// A read that took its generation before a write completed may not install
// what it read, even though the write's invalidation came before the Put.
TEST(BlockCacheTest, ReadRacingAWriteInstallsNothing) {
  BlockCache c;
  c.SetCapacity(1 << 20);
  const uint64_t id = c.Acquire("k");
  const uint64_t gen = c.Gen(id, 3);
  c.Invalidate(id, 3, 1);
  c.Put(id, 3, Filled(1).data(), gen);
  std::vector<uint8_t> out(kB);
  EXPECT_FALSE(c.Get(id, 3, out.data()));
  // Bump too: blocks the racing read, leaves what is cached.
  c.Put(id, 4, Filled(2).data(), c.Gen(id, 4));
  const uint64_t gen5 = c.Gen(id, 5);
  c.Bump(id, 4, 2);
  c.Put(id, 5, Filled(3).data(), gen5);
  EXPECT_TRUE(c.Get(id, 4, out.data()));
  EXPECT_FALSE(c.Get(id, 5, out.data()));
  // Invalidate drops what a write changed.
  c.Invalidate(id, 4, 1);
  EXPECT_FALSE(c.Get(id, 4, out.data()));
  EXPECT_EQ(c.stats().invalidations, 1u);
}

TEST(BlockCacheTest, BoundedByItsCapacity) {
  BlockCache c;
  c.SetCapacity(kB * BlockCache::kShards * 2);  // two slots per shard
  const uint64_t id = c.Acquire("k");
  for (uint64_t b = 0; b < 10000; ++b) c.Put(id, b, Filled(uint8_t(b)).data(), c.Gen(id, b));
  const auto st = c.stats();
  EXPECT_LE(st.used_bytes, c.capacity());
  EXPECT_EQ(st.inserts, 10000u);
  EXPECT_EQ(st.inserts - st.evictions, st.used_bytes / kB);
  // What is still there is right.
  std::vector<uint8_t> out(kB);
  int found = 0;
  for (uint64_t b = 0; b < 10000; ++b) {
    if (!c.Get(id, b, out.data())) continue;
    ++found;
    EXPECT_EQ(out, Filled(uint8_t(b)));
  }
  EXPECT_GT(found, 0);
}

// A backing no open volume holds gets a fresh id when opened again: what
// was cached under the old one is unreachable (the array may have rewritten it).
TEST(BlockCacheTest, IdsLiveWhileHeld) {
  BlockCache c;
  c.SetCapacity(1 << 20);
  const uint64_t a = c.Acquire("k");
  EXPECT_EQ(c.Acquire("k"), a);
  EXPECT_NE(c.Acquire("other"), a);
  c.Release(a);
  EXPECT_EQ(c.Acquire("k"), a);  // still held once
  c.Release(a);
  c.Release(a);
  EXPECT_NE(c.Acquire("k"), a);
}

TEST(BlockCacheTest, OffWithoutCapacity) {
  BlockCache c;
  EXPECT_FALSE(c.enabled());
  EXPECT_EQ(c.Acquire("k"), 0u);
}

// Through MetaVolume and the process's cache: a second read hits, a write
// (every path) makes the next read miss and return the new bytes.
TEST(BlockCacheTest, MetaVolumeReadsHitAndWritesInvalidate) {
  BlockCache::Global().SetCapacity(8 << 20);
  char tmpl[] = "/tmp/vsl_cache_testXXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/f";
  int fd = ::open(path.c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 1 << 20), 0);
  ::close(fd);
  auto v = MetaVolume::Open({{.path = path, .offset = 0, .length = 1 << 20}}, {});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  (*v)->set_cache_reads(true);
  std::vector<uint8_t> buf(2 * kB);
  ASSERT_TRUE((*v)->Read(kB, buf).ok());
  ASSERT_TRUE((*v)->Read(kB, buf).ok());
  auto c = (*v)->cache_counters();
  EXPECT_EQ(c.misses, 1u);
  EXPECT_EQ(c.hits, 1u);
  EXPECT_EQ(c.backend_read_bytes, 2 * kB);
  auto expect = [&](uint8_t want, uint64_t misses) {
    ASSERT_TRUE((*v)->Read(kB, buf).ok());
    EXPECT_EQ(buf, std::vector<uint8_t>(2 * kB, want));
    EXPECT_EQ((*v)->cache_counters().misses, misses);
  };
  std::vector<uint8_t> data(512, 0x11);
  ASSERT_TRUE((*v)->Write(kB + 512, data, false).ok());  // a part of a block
  ASSERT_TRUE((*v)->Read(kB, buf).ok());
  EXPECT_EQ(buf[512], 0x11);
  EXPECT_EQ(buf[0], 0);
  EXPECT_EQ((*v)->cache_counters().misses, 2u);
  data.assign(2 * kB, 0x22);
  ASSERT_TRUE((*v)->Write(kB, data, false).ok());
  expect(0x22, 3);
  data.assign(2 * kB, 0x33);
  auto done = (*v)->TryWriteNoWait(kB, data, false);
  ASSERT_TRUE(done.ok());
  if (!*done) {
    ASSERT_TRUE((*v)->Write(kB, data, false).ok());
  }
  expect(0x33, 4);
  ASSERT_TRUE((*v)->Unmap(kB, 2 * kB).ok());
  expect(0, 5);
  expect(0, 5);  // cached again: a hit
  (*v)->set_cache_reads(false);
  data.assign(2 * kB, 0x44);
  ASSERT_TRUE((*v)->Write(kB, data, false).ok());  // invalidates with the policy off too
  (*v)->set_cache_reads(true);
  expect(0x44, 6);
  v->reset();
  std::filesystem::remove_all(tmpl);
}

// A read of less than a block (a BIOS reads 512 bytes at a time) reads the
// aligned block around it and caches it: the next sectors of that block hit.
// A write of a sector drops the block; a read whose block would reach past
// its extent goes around the cache.
TEST(BlockCacheTest, MetaVolumeSectorReadsCacheTheirBlock) {
  BlockCache::Global().SetCapacity(8 << 20);
  char tmpl[] = "/tmp/vsl_cache_testXXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/f";
  int fd = ::open(path.c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  std::vector<uint8_t> pattern(2 * kB);
  for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = uint8_t(i / 512 + 1);
  ASSERT_EQ(::pwrite(fd, pattern.data(), pattern.size(), 0), ssize_t(pattern.size()));
  ASSERT_EQ(::ftruncate(fd, 1 << 20), 0);
  ::close(fd);
  auto v = MetaVolume::Open({{.path = path, .offset = 0, .length = 1 << 20}}, {});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  (*v)->set_cache_reads(true);
  std::vector<uint8_t> sector(512);
  ASSERT_TRUE((*v)->Read(512, sector).ok());
  EXPECT_EQ(sector, std::vector<uint8_t>(512, 2));
  auto c = (*v)->cache_counters();
  EXPECT_EQ(c.misses, 1u);
  EXPECT_EQ(c.backend_read_bytes, kB);  // the whole block, once
  std::vector<uint8_t> two(1024);
  ASSERT_TRUE((*v)->Read(1024, two).ok());
  EXPECT_EQ(std::vector<uint8_t>(two.begin(), two.begin() + 512), std::vector<uint8_t>(512, 3));
  EXPECT_EQ(std::vector<uint8_t>(two.begin() + 512, two.end()), std::vector<uint8_t>(512, 4));
  auto inline_read = (*v)->TryReadNoWait(3584, sector);
  ASSERT_TRUE(inline_read.ok());
  EXPECT_TRUE(*inline_read);
  EXPECT_EQ(sector, std::vector<uint8_t>(512, 8));
  c = (*v)->cache_counters();
  EXPECT_EQ(c.hits, 2u);
  EXPECT_EQ(c.backend_read_bytes, kB);
  // Across a block boundary: both blocks, the second from the backend.
  std::vector<uint8_t> across(1024);
  ASSERT_TRUE((*v)->Read(kB - 512, across).ok());
  EXPECT_EQ(across[0], 8);
  EXPECT_EQ(across[512], 9);
  EXPECT_EQ((*v)->cache_counters().backend_read_bytes, 3 * kB);
  // A sector written: its block is dropped, the next read has the new bytes.
  std::vector<uint8_t> data(512, 0x77);
  ASSERT_TRUE((*v)->Write(1024, data, false).ok());
  ASSERT_TRUE((*v)->Read(1024, sector).ok());
  EXPECT_EQ(sector, data);
  ASSERT_TRUE((*v)->Read(512, sector).ok());  // the block read again just above: a hit
  EXPECT_EQ(sector, std::vector<uint8_t>(512, 2));
  c = (*v)->cache_counters();
  EXPECT_EQ(c.misses, 3u);
  EXPECT_EQ(c.hits, 3u);
  v->reset();

  // An extent that starts mid-block: its first sector's block reaches
  // outside it, so that read goes around the cache (512 bytes asked).
  auto w = MetaVolume::Open({{.path = path, .offset = 512, .length = 8 * kB}}, {});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  (*w)->set_cache_reads(true);
  ASSERT_TRUE((*w)->Read(0, sector).ok());
  EXPECT_EQ(sector, std::vector<uint8_t>(512, 2));
  EXPECT_EQ((*w)->cache_counters().backend_read_bytes, 512u);
  ASSERT_TRUE((*w)->Read(0, sector).ok());
  EXPECT_EQ((*w)->cache_counters().backend_read_bytes, 1024u);
  w->reset();
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace vsl::volume
