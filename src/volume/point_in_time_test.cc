// Point-in-time views and change maps of meta volumes (point_in_time.h).
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <shared_mutex>
#include <thread>

#include <gtest/gtest.h>

#include "volume/volume.h"

namespace vsl::volume {
namespace {

class PointInTimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vsl_pit_testXXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // A file of `size` bytes whose byte i is (i * 7 + seed) & 0xff.
  std::string MakeFile(const std::string& name, uint64_t size, uint8_t seed) {
    std::string path = dir_ + "/" + name;
    int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600);
    EXPECT_GE(fd, 0);
    std::vector<uint8_t> buf(size);
    for (uint64_t i = 0; i < size; ++i) buf[i] = uint8_t(i * 7 + seed);
    EXPECT_EQ(::pwrite(fd, buf.data(), size, 0), ssize_t(size));
    ::close(fd);
    return path;
  }
  std::vector<uint8_t> ReadAll(MetaVolume& v) {
    std::vector<uint8_t> out(v.size());
    EXPECT_TRUE(v.Read(0, out).ok());
    return out;
  }
  std::vector<uint8_t> ReadView(PointInTime& p, size_t step) {
    std::vector<uint8_t> out(p.size());
    for (size_t at = 0; at < out.size(); at += step) {
      size_t n = std::min(step, out.size() - at);
      Status s = p.Read(at, std::span<uint8_t>(out.data() + at, n));
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    return out;
  }
  std::string dir_;
};

// Chunks skipped (an RBD extent's: its instant is an RBD snapshot) are
// never preserved, and only chunks wholly inside the skipped range count:
// a chunk shared with a file extent is still preserved.
TEST_F(PointInTimeTest, SkippedChunksAreNeverPreserved) {
  int fd = ::open(dir_.c_str(), O_TMPFILE | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  CowState cow(8 * kChunkBytes, fd);
  cow.Skip(2 * kChunkBytes + 4096, 4 * kChunkBytes);  // chunks 3, 4, 5 wholly; 2 and 6 partly
  int reads = 0;
  auto read = [&](uint64_t, std::span<uint8_t> out) {
    ++reads;
    std::fill(out.begin(), out.end(), uint8_t(7));
    return Status::Ok();
  };
  cow.BeforeWrite(3 * kChunkBytes, 3 * kChunkBytes, read);
  EXPECT_EQ(reads, 0);
  EXPECT_EQ(cow.preserved_bytes(), 0u);
  cow.BeforeWrite(2 * kChunkBytes, 4096, read);
  cow.BeforeWrite(6 * kChunkBytes + 100, 1, read);
  EXPECT_EQ(cow.preserved_bytes(), 2 * kChunkBytes) << "chunks 2 and 6 are shared with the rest";
}

// Two members of different files, the second not chunk-aligned in size: the
// view keeps the instant's bytes through every kind of write.
TEST_F(PointInTimeTest, ViewKeepsTheInstantThroughEveryWrite) {
  const uint64_t a_len = 5 * kChunkBytes, b_len = 3 * kChunkBytes + 8192;
  std::string a = MakeFile("a", a_len, 1), b = MakeFile("b", b_len + 4096, 2);
  auto v = MetaVolume::Open({{a, 0, a_len}, {b, 4096, b_len}}, {.id = "v"});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  std::vector<uint8_t> before = ReadAll(**v);

  auto pit = OpenPointInTime(*v, dir_);
  ASSERT_TRUE(pit.ok()) << pit.status().ToString();
  EXPECT_EQ((*pit)->size(), (*v)->size());
  auto again = OpenPointInTime(*v, dir_);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("already open"), std::string::npos);

  std::vector<uint8_t> x(3 * 4096, 0x5a);
  // Across the two members, a partial chunk, an unmap, a write the inline
  // path must refuse, and the tail chunk.
  ASSERT_TRUE((*v)->Write(a_len - 4096, x, false).ok());
  ASSERT_TRUE((*v)->Write(4096, std::span<const uint8_t>(x.data(), 512), true).ok());
  ASSERT_TRUE((*v)->Unmap(2 * kChunkBytes, kChunkBytes).ok());
  auto inline_write = (*v)->TryWriteNoWait(3 * kChunkBytes, x, false);
  ASSERT_TRUE(inline_write.ok());
  EXPECT_FALSE(*inline_write) << "preserving needs the I/O threads, not the loop";
  ASSERT_TRUE((*v)->Write((*v)->size() - 4096, std::span<const uint8_t>(x.data(), 4096), false).ok());

  std::vector<uint8_t> now = ReadAll(**v);
  EXPECT_NE(now, before);
  EXPECT_EQ(ReadView(**pit, 4096), before);
  // chunks 0, 2, 4, 5 and the last (8): one copy each, the tail chunk short.
  EXPECT_EQ((*pit)->preserved_bytes(), 4 * kChunkBytes + 8192);
  pit->reset();
  // Closed: writes no longer preserve, and a new view can open.
  auto next = OpenPointInTime(*v, dir_);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(ReadView(**next, 65536), now);
}

TEST_F(PointInTimeTest, ChunksAlreadyReadAreNotCopied) {
  std::string a = MakeFile("a", 4 * kChunkBytes, 3);
  auto v = MetaVolume::Open({{a, 0, 4 * kChunkBytes}}, {});
  ASSERT_TRUE(v.ok());
  std::vector<uint8_t> before = ReadAll(**v);
  auto pit = OpenPointInTime(*v, dir_);
  ASSERT_TRUE(pit.ok());
  std::vector<uint8_t> chunk(kChunkBytes);
  ASSERT_TRUE((*pit)->Read(0, chunk).ok());
  EXPECT_TRUE(std::equal(chunk.begin(), chunk.end(), before.begin()));
  // Half of chunk 1 read: it must still be preserved.
  ASSERT_TRUE((*pit)->Read(kChunkBytes, std::span<uint8_t>(chunk.data(), kChunkBytes / 2)).ok());
  std::vector<uint8_t> x(2 * kChunkBytes, 0xee);
  ASSERT_TRUE((*v)->Write(0, x, false).ok());
  EXPECT_EQ((*pit)->preserved_bytes(), kChunkBytes) << "chunk 0 was read whole; only chunk 1 is copied";
  ASSERT_TRUE((*pit)->Read(kChunkBytes, chunk).ok());
  EXPECT_TRUE(std::equal(chunk.begin(), chunk.end(), before.begin() + kChunkBytes));
  std::vector<uint8_t> past(8);
  EXPECT_EQ((*pit)->Read(4 * kChunkBytes - 4, past).code(), Code::kOutOfRange);
}

// A writer keeps writing blocks at random offsets while the view is read
// from another thread: the view equals the volume at the instant, and the
// volume afterwards holds every write.
TEST_F(PointInTimeTest, ConcurrentWritesNeverReachTheView) {
  const uint64_t size = 64 * kChunkBytes;
  std::string a = MakeFile("a", size, 4);
  auto v = MetaVolume::Open({{a, 0, size}}, {});
  ASSERT_TRUE(v.ok());
  std::shared_mutex gate;  // the LU's write gate
  std::atomic<bool> stop{false};
  std::vector<uint8_t> model = ReadAll(**v);
  std::mutex model_mu;
  std::thread writer([&] {
    std::mt19937_64 rng(42);
    uint32_t seq = 0;
    while (!stop.load()) {
      uint64_t block = rng() % (size / 4096);
      std::vector<uint8_t> data(4096, uint8_t(++seq));
      std::shared_lock l(gate);
      ASSERT_TRUE((*v)->Write(block * 4096, data, false).ok());
      std::lock_guard m(model_mu);
      std::copy(data.begin(), data.end(), model.begin() + long(block * 4096));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::vector<uint8_t> instant;
  std::unique_ptr<PointInTime> pit;
  {
    std::unique_lock l(gate);  // no write runs: this is the instant
    instant = ReadAll(**v);
    auto p = OpenPointInTime(*v, dir_);
    ASSERT_TRUE(p.ok());
    pit = std::move(*p);
  }
  std::vector<uint8_t> view = ReadView(*pit, 12288);  // reads straddle chunks
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stop = true;
  writer.join();
  EXPECT_EQ(view, instant);
  std::lock_guard m(model_mu);
  EXPECT_EQ(ReadAll(**v), model);
}

TEST_F(PointInTimeTest, ChangeMapRecordsEveryWritePath) {
  const uint64_t size = 8 * kChunkBytes;
  std::string a = MakeFile("a", size, 5), b = MakeFile("b", size, 6);
  auto v = MetaVolume::Open({{a, 0, size}}, {});
  auto src = MetaVolume::Open({{b, 0, size}}, {});
  ASSERT_TRUE(v.ok() && src.ok());
  std::vector<uint8_t> x(4096, 1);
  ASSERT_TRUE((*v)->Write(0, x, false).ok());
  EXPECT_TRUE((*v)->changes().Ranges().empty()) << "off until enabled";
  (*v)->changes().Enable((*v)->size());
  ASSERT_TRUE((*v)->Write(kChunkBytes - 512, std::span<const uint8_t>(x.data(), 1024), false).ok());
  auto inline_write = (*v)->TryWriteNoWait(3 * kChunkBytes, x, false);
  ASSERT_TRUE(inline_write.ok() && *inline_write);
  ASSERT_TRUE((*v)->Unmap(5 * kChunkBytes, 4096).ok());
  auto copied = (*v)->CopyFrom(**src, 0, 7 * kChunkBytes, 4096);
  ASSERT_TRUE(copied.ok() && *copied);
  using R = std::vector<std::pair<uint64_t, uint64_t>>;
  EXPECT_EQ((*v)->changes().Ranges(),
            (R{{0, 2 * kChunkBytes}, {3 * kChunkBytes, kChunkBytes}, {5 * kChunkBytes, kChunkBytes},
               {7 * kChunkBytes, kChunkBytes}}));

  // Saved on a clean stop, loaded on the next start.
  std::string image = (*v)->changes().Serialize();
  ChangeMap loaded;
  ASSERT_TRUE(loaded.Load(image, size).ok());
  EXPECT_EQ(loaded.Ranges(), (*v)->changes().Ranges());
  // The volume grew while it was saved: the new chunk counts as changed.
  ChangeMap grown;
  ASSERT_TRUE(grown.Load(image, size + kChunkBytes).ok());
  EXPECT_EQ(grown.Ranges().back(), (std::pair<uint64_t, uint64_t>{7 * kChunkBytes, 2 * kChunkBytes}));
  std::string damaged = image;
  damaged[20] ^= 1;
  Status s = loaded.Load(damaged, size);
  EXPECT_NE(s.message().find("checksum mismatch"), std::string::npos) << s.ToString();
  EXPECT_NE(loaded.Load("not a map", size).message().find("not a vsl change map"), std::string::npos);
  EXPECT_NE(loaded.Load(image, size - kChunkBytes).message().find("made for"), std::string::npos);

  (*v)->changes().Clear();
  EXPECT_TRUE((*v)->changes().Ranges().empty());
  ASSERT_TRUE((*v)->Append({{b, 0, kChunkBytes}}).ok());
  EXPECT_EQ((*v)->changes().Ranges(), (R{{8 * kChunkBytes, kChunkBytes}})) << "a grown volume's new chunks changed";
}

}  // namespace
TEST(ChangeMapSince, EnableAndDisableForgetWhatTheMapCountedFrom) {
  ChangeMap m;
  EXPECT_EQ(m.since(), "");
  m.Enable(4 * kChunkBytes);
  m.set_since("b1");
  m.Mark(0, 1);
  m.Clear();
  EXPECT_EQ(m.since(), "b1") << "Clear keeps it: the caller names the new origin";
  m.Enable(4 * kChunkBytes);
  EXPECT_EQ(m.since(), "") << "a map turned on again counts from nothing a backup can name";
  m.set_since("b2");
  m.Disable();
  EXPECT_EQ(m.since(), "");
}

}  // namespace vsl::volume
