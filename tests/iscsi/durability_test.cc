// FUA and SYNCHRONIZE CACHE keep their promise: when the status of a write
// with FUA=1, or of a SYNCHRONIZE CACHE, reaches the host, the bytes are on
// the backing file's storage, not only in the page cache, so a crash of the
// gateway or of the machine after that status cannot lose them.
//
// The backing file is on a disk file system (not tmpfs), and the test asks
// the kernel, with cachestat(2), how many of the range's pages are still
// dirty or under writeback after each status. An ordinary write leaves its
// pages dirty (the check can tell); FUA and SYNCHRONIZE CACHE must leave none.
// Then the gateway is killed with SIGKILL and the file holds every byte.
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "iscsi_client.h"

namespace vsl::e2e {
namespace {

#ifndef __NR_cachestat
#if defined(__x86_64__) || defined(__aarch64__)
#define __NR_cachestat 451
#endif
#endif

// The kernel's struct cachestat_range and struct cachestat (Linux 6.5).
struct CachestatRange {
  uint64_t off = 0, len = 0;
};
struct Cachestat {
  uint64_t nr_cache = 0, nr_dirty = 0, nr_writeback = 0, nr_evicted = 0, nr_recently_evicted = 0;
};

// Pages of [off, off+len) of `path` that are dirty or under writeback.
// Fails the test (and returns -1) where the kernel has no cachestat.
int64_t UnwrittenPages(const std::string& path, uint64_t off, uint64_t len) {
#ifdef __NR_cachestat
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    ADD_FAILURE() << "open " << path << ": " << std::strerror(errno);
    return -1;
  }
  CachestatRange range{off, len};
  Cachestat cs;
  long r = ::syscall(__NR_cachestat, fd, &range, &cs, 0);
  int err = errno;
  ::close(fd);
  if (r != 0) {
    ADD_FAILURE() << "cachestat " << path << ": " << std::strerror(err)
                  << " (needs Linux 6.5 or later)";
    return -1;
  }
  return int64_t(cs.nr_dirty + cs.nr_writeback);
#else
  ADD_FAILURE() << "no cachestat system call on this architecture";
  return -1;
#endif
}

Task WriteFua(iscsi_context* ctx, int lun, uint64_t lba, std::vector<uint8_t> data) {
  return Task(iscsi_write16_sync(ctx, lun, lba, data.data(), uint32_t(data.size()), kBlockSize,
                                 0, 0, /*fua=*/1, 0, 0));
}

class Durability : public testing::Test {
 protected:
  void SetUp() override {
    // A disk file system: tmpfs pages are never dirty in the writeback sense.
    const char* old = std::getenv("TMPDIR");
    if (old) saved_tmpdir_ = old;
    had_tmpdir_ = old != nullptr;
    ::setenv("TMPDIR", "/var/tmp", 1);
    std::string error;
    ASSERT_TRUE(gw_.Start(StandardFarm(), &error)) << error;
    struct statfs fs;
    ASSERT_EQ(::statfs(gw_.dir().c_str(), &fs), 0);
    ASSERT_NE(fs.f_type, 0x01021994) << gw_.dir() << " is on tmpfs; the test needs a disk";
  }
  void TearDown() override {
    if (had_tmpdir_) {
      ::setenv("TMPDIR", saved_tmpdir_.c_str(), 1);
    } else {
      ::unsetenv("TMPDIR");
    }
  }

  GatewayProcess gw_;
  std::string saved_tmpdir_;
  bool had_tmpdir_ = false;
};

TEST_F(Durability, FuaAndSynchronizeCacheLeaveNothingUnwritten) {
  std::string error;
  Context ctx = Login(gw_.portal(), Web2Spec(), 0, &error);
  ASSERT_TRUE(ctx) << error;
  const std::string file = gw_.FilePath("web2.img");  // web2's LUN 0, the whole file
  constexpr uint64_t kBytes = 64 << 10;
  const uint64_t blocks = kBytes / kBlockSize;

  // An ordinary write: GOOD while its pages are still only in memory.
  const auto plain = Pattern(kBytes, 1);
  Task t = Write16(ctx.get(), 0, 0, plain);
  ASSERT_TRUE(t && t->status == SCSI_STATUS_GOOD) << Describe(t.get());
  EXPECT_GT(UnwrittenPages(file, 0, kBytes), 0)
      << "a write without FUA was flushed at once: this test could not tell FUA from no FUA";

  // SYNCHRONIZE CACHE(10) over the LU: nothing of it stays unwritten.
  t = Task(iscsi_synchronizecache10_sync(ctx.get(), 0, 0, 0, 0, 0));
  ASSERT_TRUE(t && t->status == SCSI_STATUS_GOOD) << Describe(t.get());
  EXPECT_EQ(UnwrittenPages(file, 0, kBytes), 0);

  // WRITE(16) with FUA, one large and many small ones, each checked at its status.
  const auto fua = Pattern(kBytes, 2);
  t = WriteFua(ctx.get(), 0, blocks, fua);
  ASSERT_TRUE(t && t->status == SCSI_STATUS_GOOD) << Describe(t.get());
  EXPECT_EQ(UnwrittenPages(file, kBytes, kBytes), 0);
  std::vector<uint8_t> small_all;
  for (int i = 0; i < 32; ++i) {
    const auto small = Pattern(4096, 100 + i);
    small_all.insert(small_all.end(), small.begin(), small.end());
    const uint64_t lba = 2 * blocks + uint64_t(i) * 8;
    t = WriteFua(ctx.get(), 0, lba, small);
    ASSERT_TRUE(t && t->status == SCSI_STATUS_GOOD) << Describe(t.get());
    EXPECT_EQ(UnwrittenPages(file, lba * kBlockSize, 4096), 0) << "FUA write " << i;
  }

  // SYNCHRONIZE CACHE(16) with a range after more ordinary writes.
  const auto plain2 = Pattern(kBytes, 3);
  t = Write16(ctx.get(), 0, 4 * blocks, plain2);
  ASSERT_TRUE(t && t->status == SCSI_STATUS_GOOD) << Describe(t.get());
  t = Task(iscsi_synchronizecache16_sync(ctx.get(), 0, 4 * blocks, uint32_t(blocks), 0, 0));
  ASSERT_TRUE(t && t->status == SCSI_STATUS_GOOD) << Describe(t.get());
  EXPECT_EQ(UnwrittenPages(file, 4 * kBytes, kBytes), 0);

  // The gateway dies without warning; the file holds every acknowledged write.
  ASSERT_EQ(::kill(gw_.pid(), SIGKILL), 0);
  ctx.reset();
  EXPECT_EQ(gw_.ReadFile("web2.img", 0, kBytes), plain);
  EXPECT_EQ(gw_.ReadFile("web2.img", kBytes, kBytes), fua);
  EXPECT_EQ(gw_.ReadFile("web2.img", 2 * kBytes, small_all.size()), small_all);
  EXPECT_EQ(gw_.ReadFile("web2.img", 4 * kBytes, kBytes), plain2);
  // The killed child is reaped by GatewayProcess's destructor.
}

}  // namespace
}  // namespace vsl::e2e
