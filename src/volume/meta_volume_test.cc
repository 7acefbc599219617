#include <fcntl.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "volume/volume.h"

namespace vsl::volume {
namespace {

class MetaVolumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vsl_volume_testXXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string MakeFile(const std::string& name, uint64_t size, uint8_t fill) {
    std::string path = dir_ + "/" + name;
    int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600);
    EXPECT_GE(fd, 0);
    std::vector<uint8_t> buf(size, fill);
    EXPECT_EQ(::pwrite(fd, buf.data(), size, 0), ssize_t(size));
    ::close(fd);
    return path;
  }
  std::vector<uint8_t> ReadFile(const std::string& path, uint64_t off, uint64_t n) {
    std::vector<uint8_t> buf(n);
    int fd = ::open(path.c_str(), O_RDONLY);
    EXPECT_EQ(::pread(fd, buf.data(), n, off), ssize_t(n));
    ::close(fd);
    return buf;
  }
  // v_ on file "a" (0x11) with its mirror on file "c" (zeros), `size` bytes
  // each; park_ holds the I/O threads' work in parked_ until RunParked.
  void Mirrored(uint64_t size) {
    a_ = MakeFile("a", size, 0x11);
    c_ = MakeFile("c", size, 0);
    auto v = MetaVolume::Open({{a_, 0, size}}, {});
    auto d = MetaVolume::Open({{c_, 0, size}}, {});
    ASSERT_TRUE(v.ok() && d.ok());
    v_ = *v;
    ASSERT_TRUE(v_->StartMirror(*d).ok());
  }
  void RunParked() {
    for (auto& fn : parked_) fn();
    parked_.clear();
  }
  std::string dir_;
  std::shared_ptr<MetaVolume> v_;
  std::string a_, c_;
  std::vector<std::function<void()>> parked_;
  const MetaVolume::Offload park_ = [this](std::function<void()> fn) { parked_.push_back(std::move(fn)); };
};

TEST_F(MetaVolumeTest, OpenErrorsNameThePath) {
  auto r = MetaVolume::Open({{dir_ + "/missing", 0, 4096}}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("missing"), std::string::npos);
  std::string a = MakeFile("a", 4096, 0);
  auto s = MetaVolume::Open({{a, 512, 4096}}, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find(a), std::string::npos);
  EXPECT_FALSE(MetaVolume::Open({}, {}).ok());
}

TEST_F(MetaVolumeTest, ReadWriteAcrossExtents) {
  std::string a = MakeFile("a", 8192, 0xaa), b = MakeFile("b", 4096, 0xbb);
  auto v = MetaVolume::Open({{a, 4096, 4096}, {b, 0, 4096}, {a, 0, 4096}}, {.id = "v1"});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ((*v)->size(), 12288u);
  EXPECT_EQ((*v)->block_count(), 24u);
  std::vector<uint8_t> buf(12288);
  ASSERT_TRUE((*v)->Read(0, buf).ok());
  EXPECT_EQ(buf[4095], 0xaa);
  EXPECT_EQ(buf[4096], 0xbb);
  EXPECT_EQ(buf[8192], 0xaa);
  // A write spanning all three extents lands in the right files.
  std::vector<uint8_t> data(8192);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 7);
  ASSERT_TRUE((*v)->Write(2048, data, /*fua=*/true).ok());
  EXPECT_EQ(ReadFile(a, 4096 + 2048, 2048), std::vector<uint8_t>(data.begin(), data.begin() + 2048));
  EXPECT_EQ(ReadFile(b, 0, 4096), std::vector<uint8_t>(data.begin() + 2048, data.begin() + 6144));
  EXPECT_EQ(ReadFile(a, 0, 2048), std::vector<uint8_t>(data.begin() + 6144, data.end()));
  std::vector<uint8_t> back(8192);
  ASSERT_TRUE((*v)->Read(2048, back).ok());
  EXPECT_EQ(back, data);
  auto nw = (*v)->TryReadNoWait(2048, back);
  ASSERT_TRUE(nw.ok());
  if (*nw) {
    EXPECT_EQ(back, data);
  }
  EXPECT_TRUE((*v)->Flush().ok());
  // Out of range.
  EXPECT_EQ((*v)->Read(12288 - 512, std::span<uint8_t>(buf.data(), 1024)).code(), Code::kOutOfRange);
  EXPECT_EQ((*v)->Write(12288, std::span<const uint8_t>(data.data(), 1), false).code(),
            Code::kOutOfRange);
}

TEST_F(MetaVolumeTest, ReadOnlyRefusesWrites) {
  std::string a = MakeFile("a", 4096, 1);
  auto v = MetaVolume::Open({{a, 0, 4096}}, {.block_size = 512, .read_only = true, .id = "ro"});
  ASSERT_TRUE(v.ok());
  std::vector<uint8_t> d(512, 2);
  EXPECT_FALSE((*v)->Write(0, d, false).ok());
  EXPECT_FALSE((*v)->Unmap(0, 512).ok());
  EXPECT_EQ(ReadFile(a, 0, 1)[0], 1);
}

TEST_F(MetaVolumeTest, UnmapReadsZerosAndShowsInLbaStatus) {
  std::string a = MakeFile("a", 1 << 20, 0x11), b = MakeFile("b", 1 << 20, 0x22);
  auto v = MetaVolume::Open({{a, 0, 1 << 20}, {b, 0, 1 << 20}}, {.block_size = 512, .read_only = false, .id = "u"});
  ASSERT_TRUE(v.ok());
  auto st = (*v)->GetLbaStatus(0, 16);
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->size(), 1u);
  EXPECT_TRUE((*st)[0].mapped);
  EXPECT_EQ((*st)[0].length, 2u << 20);
  // Unmap 256 KiB straddling the two extents.
  uint64_t off = (1 << 20) - (128 << 10), len = 256 << 10;
  ASSERT_TRUE((*v)->Unmap(off, len).ok());
  std::vector<uint8_t> buf(len + 8192);
  ASSERT_TRUE((*v)->Read(off - 4096, buf).ok());
  EXPECT_EQ(buf[4095], 0x11);
  for (size_t i = 4096; i < 4096 + len; ++i) ASSERT_EQ(buf[i], 0) << i;
  EXPECT_EQ(buf[4096 + len], 0x22);
  st = (*v)->GetLbaStatus(0, 16);
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->size(), 3u);
  EXPECT_TRUE((*st)[0].mapped);
  EXPECT_EQ((*st)[0].length, off);
  EXPECT_FALSE((*st)[1].mapped);
  EXPECT_EQ((*st)[1].offset, off);
  EXPECT_EQ((*st)[1].length, len);  // holes in the two files merge into one run
  EXPECT_TRUE((*st)[2].mapped);
  EXPECT_EQ((*st)[2].offset, off + len);
  // Asking from inside the hole; max_runs caps the answer.
  st = (*v)->GetLbaStatus(off + 512, 1);
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->size(), 1u);
  EXPECT_FALSE((*st)[0].mapped);
  EXPECT_EQ((*st)[0].offset, off + 512);
  EXPECT_EQ((*st)[0].length, len - 512);
  EXPECT_EQ((*v)->GetLbaStatus(2 << 20, 4).status().code(), Code::kOutOfRange);
}

// CopyFrom: data runs arrive byte for byte across extent boundaries on both
// sides, the source's holes become holes of the destination (what it held
// there is gone, and GET LBA STATUS says deallocated), and a range that
// overlaps itself in one file is left to the caller.
TEST_F(MetaVolumeTest, CopyFromKeepsDataAndHoles) {
  const uint64_t mib = 1 << 20;
  std::string s1 = MakeFile("s1", mib, 0x11), s2 = MakeFile("s2", mib, 0x22);
  std::string d1 = MakeFile("d1", mib + 4096, 0xdd), d2 = MakeFile("d2", mib, 0xee);
  auto src = MetaVolume::Open({{s1, 0, mib}, {s2, 0, mib}}, {.block_size = 512, .id = "src"});
  // The destination's extents split the volume at another place than the source's.
  auto dst = MetaVolume::Open({{d1, 4096, mib - 65536}, {d2, 0, mib}}, {.block_size = 512, .id = "dst"});
  ASSERT_TRUE(src.ok() && dst.ok());
  // A hole of 256 KiB in the source, straddling its two files.
  ASSERT_TRUE((*src)->Unmap(mib - (128 << 10), 256 << 10).ok());
  const uint64_t len = mib + (256 << 10);
  auto done = (*dst)->CopyFrom(**src, 512 << 10, 64 << 10, len);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_TRUE(*done);
  std::vector<uint8_t> want(len), got(len);
  ASSERT_TRUE((*src)->Read(512 << 10, want).ok());
  ASSERT_TRUE((*dst)->Read(64 << 10, got).ok());
  EXPECT_EQ(want, got);
  // Around the copy the destination is as it was.
  std::vector<uint8_t> edge(512);
  ASSERT_TRUE((*dst)->Read((64 << 10) - 512, edge).ok());
  EXPECT_EQ(edge, std::vector<uint8_t>(512, 0xdd));
  ASSERT_TRUE((*dst)->Read((64 << 10) + len, edge).ok());
  EXPECT_EQ(edge, std::vector<uint8_t>(512, 0xee));
  // The source's hole is a hole of the destination: [64K + 384K, +256K).
  auto st = (*dst)->GetLbaStatus(0, 16);
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->size(), 3u);
  EXPECT_FALSE((*st)[1].mapped);
  EXPECT_EQ((*st)[1].offset, (64u << 10) + (384u << 10));
  EXPECT_EQ((*st)[1].length, 256u << 10);

  // One file, overlapping ranges: false and nothing written.
  const auto before = ReadFile(s1, 0, mib);
  done = (*src)->CopyFrom(**src, 0, 4096, 8192);
  ASSERT_TRUE(done.ok());
  EXPECT_FALSE(*done);
  EXPECT_EQ(ReadFile(s1, 0, mib), before);
  // Another volume opened on the same file is the same file.
  auto alias = MetaVolume::Open({{s1, 0, mib}}, {.block_size = 512, .id = "alias"});
  ASSERT_TRUE(alias.ok());
  done = (*alias)->CopyFrom(**src, 0, 4096, 8192);
  ASSERT_TRUE(done.ok());
  EXPECT_FALSE(*done);
  // Past the end, and into a read-only volume.
  EXPECT_EQ((*dst)->CopyFrom(**src, 2 * mib - 512, 0, 1024).status().code(), Code::kOutOfRange);
  auto ro = MetaVolume::Open({{d2, 0, mib}}, {.block_size = 512, .read_only = true, .id = "ro"});
  ASSERT_TRUE(ro.ok());
  EXPECT_EQ((*ro)->CopyFrom(**src, 0, 0, 512).status().code(), Code::kFailedPrecondition);
}

TEST_F(MetaVolumeTest, AppendGrowsWhileReading) {
  std::string a = MakeFile("a", 4096, 0x33), b = MakeFile("b", 4096, 0x44);
  auto v = MetaVolume::Open({{a, 0, 4096}}, {});
  ASSERT_TRUE(v.ok());
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    std::vector<uint8_t> buf(512);
    while (!stop) {
      ASSERT_TRUE((*v)->Read(3584, buf).ok());
      ASSERT_EQ(buf[0], 0x33);
      ++reads;
    }
  });
  while (reads.load() < 10) std::this_thread::yield();
  EXPECT_FALSE((*v)->Append({{b, 0, 8192}}).ok());  // b is too short
  EXPECT_EQ((*v)->size(), 4096u);
  ASSERT_TRUE((*v)->Append({{b, 0, 4096}}).ok());
  stop = true;
  reader.join();
  EXPECT_EQ((*v)->size(), 8192u);
  EXPECT_EQ((*v)->extents().size(), 2u);
  std::vector<uint8_t> buf(1024);
  ASSERT_TRUE((*v)->Read(3584, buf).ok());
  EXPECT_EQ(buf[511], 0x33);
  EXPECT_EQ(buf[512], 0x44);
}

// Replace (a live migration's switch): the volume moves onto other extents
// of the same size at once; writes afterwards land there only.
TEST_F(MetaVolumeTest, ReplaceSwitchesExtentsOfTheSameSize) {
  std::string a = MakeFile("a", 4096, 0x33), b = MakeFile("b", 4096, 0x44), c = MakeFile("c", 12288, 0x55);
  auto v = MetaVolume::Open({{a, 0, 4096}, {b, 0, 4096}}, {});
  ASSERT_TRUE(v.ok());
  Status wrong = (*v)->Replace({{c, 0, 4096}});
  EXPECT_EQ(wrong.code(), Code::kInvalidArgument) << wrong.ToString();
  EXPECT_EQ((*v)->extents().size(), 2u);
  ASSERT_TRUE((*v)->Replace({{c, 4096, 8192}}).ok());
  EXPECT_EQ((*v)->size(), 8192u);
  ASSERT_EQ((*v)->extents().size(), 1u);
  EXPECT_EQ((*v)->extents()[0].path, c);
  std::vector<uint8_t> buf(512);
  ASSERT_TRUE((*v)->Read(0, buf).ok());
  EXPECT_EQ(buf[0], 0x55);  // c's bytes now, not a's
  std::vector<uint8_t> more(512, 0x77);
  ASSERT_TRUE((*v)->Write(0, more, false).ok());
  EXPECT_EQ(ReadFile(c, 4096, 512), more);
  EXPECT_EQ(ReadFile(a, 0, 1), std::vector<uint8_t>{0x33});
}

// A live migration's mirror: while it is on, every write path of the volume
// writes the destination too, at the same offsets; the background copy
// (CopyToMirror) fills in the rest; after StopMirror nothing more reaches it.
TEST_F(MetaVolumeTest, MirrorTakesEveryWritePath) {
  constexpr uint64_t kHalf = 65536;
  std::string a = MakeFile("a", kHalf, 0x11), b = MakeFile("b", kHalf, 0x22), c = MakeFile("c", 2 * kHalf, 0);
  auto v = MetaVolume::Open({{a, 0, kHalf}, {b, 0, kHalf}}, {});
  auto d = MetaVolume::Open({{c, 0, 2 * kHalf}}, {});
  ASSERT_TRUE(v.ok() && d.ok());
  auto small = MetaVolume::Open({{c, 0, kHalf}}, {});
  ASSERT_TRUE(small.ok());
  EXPECT_EQ((*v)->StartMirror(*small).code(), Code::kFailedPrecondition);  // another size
  ASSERT_TRUE((*v)->StartMirror(*d).ok());
  EXPECT_EQ((*v)->StartMirror(*d).code(), Code::kFailedPrecondition);  // one at a time
  const MetaVolume::Offload inline_offload = [](std::function<void()> fn) { fn(); };
  auto same = [&](uint64_t off, uint64_t n) {
    std::vector<uint8_t> want(n);
    EXPECT_TRUE((*v)->Read(off, want).ok());
    return ReadFile(c, off, n) == want;
  };
  std::vector<uint8_t> w1(512, 0x66);
  ASSERT_TRUE((*v)->Write(4096, w1, false).ok());
  EXPECT_TRUE(same(4096, 512)) << "Write";
  std::vector<uint8_t> w2(1024, 0x77);  // across the two extents
  auto inl = (*v)->TryWriteNoWait(kHalf - 512, w2, false);
  ASSERT_TRUE(inl.ok() && *inl);
  EXPECT_TRUE(same(kHalf - 512, 1024)) << "TryWriteNoWait";
  std::vector<uint8_t> w3(4096, 0x88);
  Status async = Internal("not done");
  (*v)->WriteAsync(8192, w3, true, inline_offload, [&](Status st) { async = st; });
  ASSERT_TRUE(async.ok()) << async.ToString();
  EXPECT_TRUE(same(8192, 4096)) << "WriteAsync";
  for (bool deallocate : {true, false}) {
    Status z = Internal("not done");
    (*v)->ZeroAsync(deallocate ? 12288 : 16384, 4096, deallocate, inline_offload, [&](Status st) { z = st; });
    ASSERT_TRUE(z.ok()) << z.ToString();
  }
  ASSERT_TRUE((*v)->Unmap(20480, 4096).ok());
  auto copied = (*v)->CopyFrom(**v, 4096, 40960, 4096);  // EXTENDED COPY inside the volume
  ASSERT_TRUE(copied.ok() && *copied);
  EXPECT_TRUE(same(12288, 3 * 4096)) << "ZeroAsync, Unmap";
  EXPECT_EQ(ReadFile(c, 12288, 1), std::vector<uint8_t>{0});
  EXPECT_TRUE(same(40960, 4096)) << "CopyFrom";
  // Nothing ran at the same time as anything else: no conflict.
  EXPECT_TRUE((*v)->TakeMirrorConflicts().empty());
  EXPECT_FALSE(same(0, 2 * kHalf));  // the unwritten bytes are the copy's to move
  ASSERT_TRUE((*v)->CopyToMirror(0, 2 * kHalf).ok());
  EXPECT_TRUE(same(0, 2 * kHalf));
  EXPECT_TRUE((*v)->MirrorStatus().ok());
  (*v)->StopMirror();
  EXPECT_EQ((*v)->CopyToMirror(0, 4096).code(), Code::kFailedPrecondition);
  std::vector<uint8_t> later(512, 0x99);
  ASSERT_TRUE((*v)->Write(0, later, false).ok());
  EXPECT_EQ(ReadFile(c, 0, 512), std::vector<uint8_t>(512, 0x11)) << "a write after StopMirror reached the mirror";
}

// Two writes of the same bytes that run at the same time may reach the
// mirror in another order than the volume: their chunk is marked for
// another copy, a write elsewhere is not. StopMirror returns only once no
// write to the mirror runs.
TEST_F(MetaVolumeTest, MirrorMarksWritesThatRanTogetherAndStopWaitsForThem) {
  constexpr uint64_t kSize = 4 * kChunkBytes;
  ASSERT_NO_FATAL_FAILURE(Mirrored(kSize));
  std::vector<uint8_t> one(4096, 0xa1), two(4096, 0xb2);
  Status first = Internal("not done");
  v_->WriteAsync(kChunkBytes, one, false, park_, [&](Status st) { first = st; });
  ASSERT_EQ(parked_.size(), 2u) << "the volume's and the mirror's parts wait for the I/O threads (not on tmpfs)";
  ASSERT_TRUE(v_->Write(kChunkBytes + 2048, two, false).ok());  // overlaps the parked write
  ASSERT_TRUE(v_->Write(3 * kChunkBytes, two, false).ok());     // overlaps nothing
  RunParked();
  ASSERT_TRUE(first.ok()) << first.ToString();
  auto conflicts = v_->TakeMirrorConflicts();
  ASSERT_EQ(conflicts.size(), 1u);
  EXPECT_EQ(conflicts[0].first, kChunkBytes);
  EXPECT_EQ(conflicts[0].second, kChunkBytes);
  EXPECT_TRUE(v_->TakeMirrorConflicts().empty()) << "taking the conflicts clears them";
  // The copy counts as a writer: a write while a copy of its bytes runs is marked too.
  v_->WriteAsync(0, one, false, park_, [&](Status) {});
  ASSERT_TRUE(v_->CopyToMirror(0, kChunkBytes).ok());
  RunParked();
  conflicts = v_->TakeMirrorConflicts();
  ASSERT_EQ(conflicts.size(), 1u);
  EXPECT_EQ(conflicts[0].first, 0u);
  // StopMirror waits for a write still running on the mirror.
  Status last = Internal("not done");
  v_->WriteAsync(2 * kChunkBytes, one, false, park_, [&](Status st) { last = st; });
  ASSERT_EQ(parked_.size(), 2u);
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    v_->StopMirror();
    stopped = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(stopped.load()) << "StopMirror returned while a write to the mirror ran";
  RunParked();
  stopper.join();
  EXPECT_TRUE(last.ok());
  EXPECT_EQ(ReadFile(c_, 2 * kChunkBytes, 4096), one);
}

// A long write (or copy) that many other writes overlap keeps a bounded
// list of what they shared: past Op::kMaxShared entries its whole range
// counts as shared, marking more, never less.
TEST_F(MetaVolumeTest, MirrorBoundsWhatOneWriteRemembers) {
  constexpr uint64_t kSize = 8 * kChunkBytes;
  ASSERT_NO_FATAL_FAILURE(Mirrored(kSize));
  std::vector<uint8_t> big(4 * kChunkBytes, 0xa1), small(512, 0xb2);
  for (int overlapping : {3, 100}) {
    v_->WriteAsync(0, big, false, park_, [](Status) {});
    ASSERT_EQ(parked_.size(), 2u);
    for (int i = 0; i < overlapping; ++i) ASSERT_TRUE(v_->Write(uint64_t(i % 8) * 512, small, false).ok());
    RunParked();
    auto conflicts = v_->TakeMirrorConflicts();
    ASSERT_EQ(conflicts.size(), 1u) << overlapping;
    EXPECT_EQ(conflicts[0].first, 0u);
    // A few: only the chunk they wrote; many: the long write's whole range.
    EXPECT_EQ(conflicts[0].second, overlapping < 64 ? kChunkBytes : 4 * kChunkBytes) << overlapping;
  }
  v_->StopMirror();
}

// A mirror that refuses writes (a dead destination) fails the migration,
// not the host: the host's write lands and succeeds, MirrorStatus says why.
TEST_F(MetaVolumeTest, AFailingMirrorKeepsTheHostsWrite) {
  std::string a = MakeFile("a", 65536, 0x11), c = MakeFile("c", 65536, 0);
  auto v = MetaVolume::Open({{a, 0, 65536}}, {});
  auto d = MetaVolume::Open({{c, 0, 65536}}, {.read_only = true, .id = "mirror"});
  ASSERT_TRUE(v.ok() && d.ok());
  ASSERT_TRUE((*v)->StartMirror(*d).ok());
  std::vector<uint8_t> data(4096, 0x5c);
  ASSERT_TRUE((*v)->Write(0, data, false).ok());
  auto inl = (*v)->TryWriteNoWait(4096, data, false);
  ASSERT_TRUE(inl.ok() && *inl);
  EXPECT_EQ(ReadFile(a, 0, 4096), data);
  EXPECT_EQ(ReadFile(a, 4096, 4096), data);
  Status m = (*v)->MirrorStatus();
  EXPECT_FALSE(m.ok());
  EXPECT_NE(m.message().find("migration destination"), std::string::npos) << m.ToString();
  EXPECT_EQ(ReadFile(c, 0, 4096), std::vector<uint8_t>(4096, 0));
  (*v)->StopMirror();
}

// A file cut short under the volume (someone truncated it): the missing part
// reads as zeros rather than failing or looping on a 0-byte read.
TEST_F(MetaVolumeTest, ShortFileReadsZeros) {
  std::string a = MakeFile("a", 8192, 0x5a);
  auto v = MetaVolume::Open({{a, 0, 8192}}, {});
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(::truncate(a.c_str(), 4096 + 100), 0);
  std::vector<uint8_t> buf(8192, 1);
  ASSERT_TRUE((*v)->Read(0, buf).ok());
  EXPECT_EQ(buf[4096 + 99], 0x5a);
  EXPECT_EQ(buf[4096 + 100], 0);
  EXPECT_EQ(buf[8191], 0);
  std::fill(buf.begin(), buf.end(), 1);
  auto nw = (*v)->TryReadNoWait(0, buf);
  ASSERT_TRUE(nw.ok());
  if (*nw) {
    EXPECT_EQ(buf[8191], 0);
  }
}

TEST_F(MetaVolumeTest, TryWriteNoWaitLeavesDurableDiskWritesToWrite) {
  std::string a = MakeFile("a", 4096, 0);
  auto v = MetaVolume::Open({{a, 0, 4096}}, {});
  ASSERT_TRUE(v.ok());
  std::vector<uint8_t> d(512, 9), back(512);
  auto r = (*v)->TryWriteNoWait(0, d, false);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE((*v)->Read(0, back).ok());
  EXPECT_EQ(back == d, *r);  // written exactly when it says so
  struct statfs fs;
  if (::statfs("/dev/shm", &fs) != 0 || fs.f_type != 0x01021994) GTEST_SKIP() << "no tmpfs at /dev/shm";
  std::string shm = "/dev/shm/vsl_volume_test_" + std::to_string(::getpid());
  int fd = ::open(shm.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 8192), 0);
  ::close(fd);
  auto m = MetaVolume::Open({{shm, 0, 4096}, {a, 0, 4096}}, {});
  ASSERT_TRUE(m.ok());
  r = (*m)->TryWriteNoWait(512, d, true);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
  ASSERT_TRUE((*m)->Read(512, back).ok());
  EXPECT_EQ(back, d);
  // A FUA range reaching into a disk-backed file is left to Write (the
  // fdatasync waits for the disk); without FUA the page cache takes it here.
  bool disk_is_memory = ::statfs(a.c_str(), &fs) == 0 && fs.f_type == 0x01021994;
  r = (*m)->TryWriteNoWait(4096 - 256, d, true);
  ASSERT_TRUE(r.ok());
  if (!disk_is_memory) {
    EXPECT_FALSE(*r);
  }
  std::vector<uint8_t> e(512, 7);
  r = (*m)->TryWriteNoWait(4096 - 256, e, false);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
  ASSERT_TRUE((*m)->Read(4096 - 256, back).ok());
  EXPECT_EQ(back, e);
  ::unlink(shm.c_str());
}

// A run of buffers end to end, split at odd places and across three
// extents (two files, one of them twice): each byte lands where a single
// write would have put it.
TEST_F(MetaVolumeTest, TryWriteNoWaitOfBuffersEndToEnd) {
  std::string a = MakeFile("a", 8192, 0xaa), b = MakeFile("b", 4096, 0xbb);
  auto v = MetaVolume::Open({{a, 4096, 4096}, {b, 0, 4096}, {a, 0, 4096}}, {.id = "v1"});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  std::vector<uint8_t> data(9000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 11 + 3);
  // Pieces of 1000, 3000, 1, 2999, 2000 bytes from volume offset 1500: the
  // extent edges (4096, 8192) fall inside the second and fifth buffers.
  std::vector<std::span<const uint8_t>> bufs;
  size_t at = 0;
  for (size_t n : {1000, 3000, 1, 2999, 2000}) {
    bufs.emplace_back(data.data() + at, n);
    at += n;
  }
  ASSERT_EQ(at, data.size());
  auto r = (*v)->TryWriteNoWait(1500, bufs, false);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  if (!*r) {
    ASSERT_TRUE(
        (*v)->Write(1500, data, false).ok());  // the volume's fallback, as its contract says
  }
  std::vector<uint8_t> back(12288);
  ASSERT_TRUE((*v)->Read(0, back).ok());
  EXPECT_EQ(std::vector<uint8_t>(back.begin(), back.begin() + 1500),
            std::vector<uint8_t>(1500, 0xaa));
  EXPECT_EQ(std::vector<uint8_t>(back.begin() + 1500, back.begin() + 10500), data);
  EXPECT_EQ(std::vector<uint8_t>(back.begin() + 10500, back.end()),
            std::vector<uint8_t>(12288 - 10500, 0xaa));
  // And in the files themselves: volume 4096.. is b, 8192.. is a's start.
  EXPECT_EQ(ReadFile(b, 0, 4096),
            std::vector<uint8_t>(data.begin() + (4096 - 1500), data.begin() + (8192 - 1500)));
  EXPECT_EQ(ReadFile(a, 0, 10500 - 8192),
            std::vector<uint8_t>(data.begin() + (8192 - 1500), data.end()));
  // A run reaching past the end is refused and names the range.
  std::vector<std::span<const uint8_t>> past{std::span<const uint8_t>(data.data(), 4096),
                                             std::span<const uint8_t>(data.data(), 4096)};
  EXPECT_EQ((*v)->TryWriteNoWait(8192, past, false).status().code(), Code::kOutOfRange);
}

// An RBD extent whose cluster can't be reached (here: no conf file) is
// refused naming the image and the file; a build without librbd refuses it
// saying so. Either way nothing opens. (tests/ceph runs the real thing.)
TEST_F(MetaVolumeTest, RbdExtentWithoutAClusterIsRefusedClearly) {
  std::string a = MakeFile("a", 4096, 5);
  Extent e{"rbd:p/img", 0, 4096};
  e.rbd = RbdImage{"p", "img", dir_ + "/no-such-ceph.conf", "vsl", "", ""};
  auto v = MetaVolume::Open({{a, 0, 4096}, e}, {});
  ASSERT_FALSE(v.ok());
  const std::string m = v.status().ToString();
  EXPECT_NE(m.find("rbd:p/img"), std::string::npos) << m;
#if VSL_VOLUME_HAVE_RBD
  EXPECT_NE(m.find("no-such-ceph.conf"), std::string::npos) << m;
#else
  EXPECT_NE(m.find("built without librbd"), std::string::npos) << m;
#endif
}

TEST_F(MetaVolumeTest, NullExtentDiscardsWritesAndReadsZeros) {
  std::string a = MakeFile("a", 4096, 5);
  Extent null_extent;
  null_extent.null = true;
  null_extent.length = 8192;
  auto v = MetaVolume::Open({{a, 0, 4096}, null_extent}, {});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ((*v)->size(), 4096u + 8192u);
  std::vector<uint8_t> d(8192, 9), back(8192, 1);
  ASSERT_TRUE((*v)->Write(2048, d, true).ok());
  auto r = (*v)->TryWriteNoWait(4096, std::span<const uint8_t>(d.data(), 4096), true);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
  ASSERT_TRUE((*v)->Read(2048, back).ok());
  // The file's half took the data; the null half reads zeros.
  EXPECT_TRUE(std::all_of(back.begin(), back.begin() + 2048, [](uint8_t b) { return b == 9; }));
  EXPECT_TRUE(std::all_of(back.begin() + 2048, back.end(), [](uint8_t b) { return b == 0; }));
  auto cached = (*v)->TryReadNoWait(8192, std::span<uint8_t>(back.data(), 4096));
  ASSERT_TRUE(cached.ok());
  EXPECT_TRUE(*cached);
  EXPECT_TRUE(std::all_of(back.begin(), back.begin() + 4096, [](uint8_t b) { return b == 0; }));
  EXPECT_TRUE((*v)->Unmap(4096, 8192).ok());
  EXPECT_TRUE((*v)->Flush().ok());
}

}  // namespace
}  // namespace vsl::volume
