// The volume engine on RBD extents, against the real cluster of
// tests/ceph/rbd.sh (see rbd_array_test.cc for the environment): a meta
// volume that mixes a file extent and an RBD extent, I/O across the
// boundary, FUA and flush, UNMAP and GET LBA STATUS on the image, and the
// exclusive lock a writable open takes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <numeric>

#include "array/array.h"
#include "volume/volume.h"

namespace vsl::array {
namespace {

constexpr uint64_t kMiB = 1 << 20;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

class RbdVolumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(Env("VSL_CEPH_CONF").empty()) << "run through tests/ceph/rbd.sh (needs a cluster)";
    ArraySpec s;
    s.name = name_;
    s.driver = "rbd";
    s.capacity = 64 * kMiB;
    s.rbd = {Env("VSL_CEPH_POOL"), Env("VSL_CEPH_CONF"), Env("VSL_CEPH_USER"),
             Env("VSL_CEPH_KEYRING")};
    auto a = OpenArray(s);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    array_ = std::move(a).value();
    auto v = array_->CreateVolume(8 * kMiB);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    id_ = v->id;
    auto where = array_->Locate(id_);
    ASSERT_TRUE(where.ok()) << where.status().ToString();
    ASSERT_EQ(where->size(), 1u);
    rbd_ = (*where)[0];
    ASSERT_TRUE(rbd_.rbd.has_value());
    char tmpl[] = "/tmp/vsl-rbdvol-XXXXXX";
    int fd = ::mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    file_ = tmpl;
    ASSERT_EQ(::ftruncate(fd, 1 * kMiB), 0);
    ::close(fd);
  }
  void TearDown() override {
    if (!file_.empty()) ::unlink(file_.c_str());
    if (array_) (void)array_->DeleteVolume(id_);
  }
  // file [0, 1 MiB) then the whole 8 MiB image.
  std::vector<volume::Extent> Mixed() const { return {{file_, 0, 1 * kMiB}, rbd_}; }
  std::vector<uint8_t> Pattern(size_t n, uint8_t seed) const {
    std::vector<uint8_t> p(n);
    for (size_t i = 0; i < n; ++i) p[i] = uint8_t(seed + i * 7 + i / 4096);
    return p;
  }
  std::vector<uint8_t> ImageBytes(uint64_t off, size_t n) {
    std::vector<uint8_t> out(n);
    EXPECT_TRUE(array_->Read(id_, off, out).ok());
    return out;
  }
  std::vector<uint8_t> FileBytes(uint64_t off, size_t n) {
    std::vector<uint8_t> out(n);
    int fd = ::open(file_.c_str(), O_RDONLY);
    EXPECT_EQ(::pread(fd, out.data(), n, off_t(off)), ssize_t(n));
    ::close(fd);
    return out;
  }

  std::string name_ = "rv" + std::to_string(::getpid() % 100000);
  std::unique_ptr<StorageArray> array_;
  std::string id_;
  volume::Extent rbd_;
  std::string file_;
};

TEST_F(RbdVolumeTest, MixedFileAndRbdExtentsAcrossTheBoundary) {
  auto v = volume::MetaVolume::Open(Mixed(), {});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ((*v)->size(), 9 * kMiB);

  // 8 KiB on each side of the boundary, with FUA.
  const auto data = Pattern(16384, 3);
  ASSERT_TRUE((*v)->Write(1 * kMiB - 8192, data, true).ok());
  std::vector<uint8_t> got(data.size());
  ASSERT_TRUE((*v)->Read(1 * kMiB - 8192, got).ok());
  EXPECT_EQ(got, data);
  // Each half is where the extents say: the file's tail, the image's head
  // (read through the array driver, another client of the cluster).
  EXPECT_EQ(FileBytes(1 * kMiB - 8192, 8192),
            std::vector<uint8_t>(data.begin(), data.begin() + 8192));
  EXPECT_EQ(ImageBytes(0, 8192), std::vector<uint8_t>(data.begin() + 8192, data.end()));

  // The no-wait paths leave RBD pieces to the I/O threads, and write nothing.
  std::vector<uint8_t> small(4096);
  auto r = (*v)->TryReadNoWait(2 * kMiB, small);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  const auto other = Pattern(4096, 99);
  auto w = (*v)->TryWriteNoWait(2 * kMiB, other, false);
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE(*w);
  EXPECT_EQ(ImageBytes(1 * kMiB, 4096), std::vector<uint8_t>(4096, 0));
  ASSERT_TRUE((*v)->Flush().ok());

  // UNMAP of the image's second object (volume [5, 9) MiB) and of 1 KiB
  // across the boundary: zeros there, the rest intact.
  const auto fill = Pattern(8 * kMiB, 11);
  ASSERT_TRUE((*v)->Write(1 * kMiB, fill, false).ok());
  ASSERT_TRUE((*v)->Unmap(5 * kMiB, 4 * kMiB).ok());
  ASSERT_TRUE((*v)->Unmap(1 * kMiB - 512, 1024).ok());
  std::vector<uint8_t> all(9 * kMiB);
  ASSERT_TRUE((*v)->Read(0, all).ok());
  for (uint64_t i : {1 * kMiB - 512, 1 * kMiB, 1 * kMiB + 511, 5 * kMiB, 7 * kMiB, 9 * kMiB - 1})
    EXPECT_EQ(all[i], 0) << "byte " << i;
  EXPECT_EQ(all[1 * kMiB - 513], data[8192 - 513]);
  EXPECT_EQ(all[1 * kMiB + 512], fill[512]);
  EXPECT_EQ(all[5 * kMiB - 1], fill[4 * kMiB - 1]);
  EXPECT_EQ(ImageBytes(4 * kMiB, 4096), std::vector<uint8_t>(4096, 0));

  // GET LBA STATUS: the image's first object mapped, its second a hole.
  auto st = (*v)->GetLbaStatus(1 * kMiB, 8);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  ASSERT_GE(st->size(), 2u);
  EXPECT_TRUE((*st)[0].mapped);
  EXPECT_EQ((*st)[0].offset, 1 * kMiB);
  EXPECT_EQ((*st)[0].length, 4 * kMiB);
  EXPECT_FALSE((*st)[1].mapped);
  EXPECT_EQ((*st)[1].offset, 5 * kMiB);
  EXPECT_EQ((*st)[1].length, 4 * kMiB);

  // EXTENDED COPY between the file and the image goes through a buffer.
  auto c = (*v)->CopyFrom(**v, 1 * kMiB + 4096, 4096, 8192);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(*c);
  EXPECT_EQ(FileBytes(4096, 8192),
            std::vector<uint8_t>(fill.begin() + 4096, fill.begin() + 4096 + 8192));
}

std::vector<uint8_t> Gather(const util::HeldBytes& b, size_t off, size_t len) {
  std::vector<uint8_t> out;
  b.ForEach(off, len, [&](std::span<const uint8_t> p) { out.insert(out.end(), p.begin(), p.end()); });
  return out;
}

// A large read in one RBD extent hands over librbd's buffers (the
// gateway's READ path): the same bytes as Read, across the image's objects
// and into a hole; a range that is not in one RBD extent is left to
// ReadAsync, its callback untouched.
TEST_F(RbdVolumeTest, AHeldReadHandsOverTheImagesBytes) {
  auto v = volume::MetaVolume::Open(Mixed(), {});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_TRUE((*v)->Write(1 * kMiB, Pattern(8 * kMiB, 23), false).ok());
  ASSERT_TRUE((*v)->Unmap(6 * kMiB, 1 * kMiB).ok());  // image [5, 6) MiB: zeros in the second object
  ASSERT_TRUE((*v)->Unmap(7 * kMiB, 2 * kMiB).ok());  // image [6, 8) MiB

  for (auto [off, len] : {std::pair<uint64_t, uint64_t>{3 * kMiB, 4 * kMiB},
                          {1 * kMiB, 8 * kMiB}, {5 * kMiB - 4096, 8192}, {8 * kMiB, 1 * kMiB}}) {
    std::vector<uint8_t> want(len);
    ASSERT_TRUE((*v)->Read(off, want).ok());
    std::promise<std::pair<Status, std::shared_ptr<const util::HeldBytes>>> got;
    volume::MetaVolume::HeldReadDone done = [&](Status s, std::shared_ptr<const util::HeldBytes> b) {
      got.set_value({std::move(s), std::move(b)});
    };
    ASSERT_TRUE((*v)->ReadHeldAsync(off, len, done)) << "at " << off;
    auto [st, bytes] = got.get_future().get();
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_NE(bytes, nullptr);
    EXPECT_EQ(bytes->size, len);
    EXPECT_GE(bytes->pieces.size(), 1u);
    EXPECT_LE(bytes->pieces.size(), 16u);
    EXPECT_TRUE(Gather(*bytes, 0, len) == want) << "the held bytes at volume offset " << off << " differ from Read's";
    // A Data-In PDU's share of them: the same bytes.
    EXPECT_TRUE(Gather(*bytes, len / 3, len / 2) ==
                std::vector<uint8_t>(want.begin() + long(len / 3), want.begin() + long(len / 3 + len / 2)));
  }

  bool called = false;
  volume::MetaVolume::HeldReadDone done = [&](Status, std::shared_ptr<const util::HeldBytes>) { called = true; };
  EXPECT_FALSE((*v)->ReadHeldAsync(1 * kMiB - 4096, 8192, done)) << "file and image";
  EXPECT_FALSE((*v)->ReadHeldAsync(0, 65536, done)) << "file only";
  EXPECT_FALSE((*v)->ReadHeldAsync(9 * kMiB, 65536, done)) << "past the end";
  ASSERT_TRUE(done != nullptr) << "a refused held read keeps its callback";
  done(Status::Ok(), nullptr);
  EXPECT_TRUE(called);
}

// The threads of this process whose name is `name` (/proc/self/task).
int ThreadsNamed(const std::string& name) {
  int n = 0;
  for (const auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(t.path() / "comm");
    std::string c;
    if (std::getline(comm, c) && c == name) ++n;
  }
  return n;
}

// The data path's cluster handle runs librados' and librbd's completions
// on one io_context thread (librados_thread_count = 1, src/volume/
// rbd_backend.cc), not librados' default of two, unless the conf file asks
// for another number.
TEST_F(RbdVolumeTest, TheDataPathRunsCompletionsOnOneThreadUnlessTheConfSaysOtherwise) {
  const int before = ThreadsNamed("io_context_pool");
  {
    auto v = volume::MetaVolume::Open({rbd_}, {});
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(ThreadsNamed("io_context_pool"), before + 1);
    // Completions still arrive: an asynchronous write, then a read of it.
    std::promise<Status> wrote;
    const auto data = Pattern(8192, 5);
    (*v)->WriteAsync(4096, data, true, {}, [&](Status s) { wrote.set_value(std::move(s)); });
    ASSERT_TRUE(wrote.get_future().get().ok());
    std::vector<uint8_t> got(8192);
    std::promise<Status> read;
    (*v)->ReadAsync(4096, got, {}, [&](Status s) { read.set_value(std::move(s)); });
    ASSERT_TRUE(read.get_future().get().ok());
    EXPECT_EQ(got, data);
  }
  // The handle is gone with its last image; a conf that asks for three
  // threads gets three.
  ASSERT_EQ(ThreadsNamed("io_context_pool"), before);
  char tmpl[] = "/tmp/vsl-rbdconf-XXXXXX";
  int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  {
    std::ifstream in(rbd_.rbd->conf);
    std::ofstream out(tmpl);
    out << in.rdbuf() << "\n[client]\nlibrados_thread_count = 3\n";
  }
  volume::Extent e = rbd_;
  e.rbd->conf = tmpl;
  {
    auto v = volume::MetaVolume::Open({e}, {});
    ::unlink(tmpl);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(ThreadsNamed("io_context_pool"), before + 3);
  }
}

TEST_F(RbdVolumeTest, AWritableOpenHoldsTheExclusiveLock) {
  auto first = volume::MetaVolume::Open({rbd_}, {});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE((*first)->Write(0, Pattern(4096, 1), false).ok());
  // A second writer is refused, naming the image and the lock's owner.
  auto second = volume::MetaVolume::Open(Mixed(), {});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kFailedPrecondition) << second.status().ToString();
  EXPECT_NE(second.status().message().find(rbd_.rbd->image), std::string::npos)
      << second.status().ToString();
  EXPECT_NE(second.status().message().find("exclusive lock is held by another client (127.0.0.1:"),
            std::string::npos)
      << second.status().ToString();
  // The array (another client) still changes the image's grants: a bind of
  // a mapped shared disk to another host does.
  ASSERT_TRUE(array_->Grant(id_, "iqn.2026-11.org.test:other").ok());
  auto grants = array_->Grants(id_);
  ASSERT_TRUE(grants.ok());
  EXPECT_EQ(*grants, std::vector<std::string>{"iqn.2026-11.org.test:other"});
  // A reader takes no lock.
  volume::VolumeOptions ro;
  ro.read_only = true;
  auto reader = volume::MetaVolume::Open({rbd_}, ro);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  std::vector<uint8_t> got(4096);
  ASSERT_TRUE((*reader)->Read(0, got).ok());
  EXPECT_EQ(got, Pattern(4096, 1));
  // Once the first writer is gone, the lock is free again.
  first->reset();
  auto third = volume::MetaVolume::Open({rbd_}, {});
  EXPECT_TRUE(third.ok()) << third.status().ToString();
}

// What a backup needs of a meta volume of a file and an image (issue 10):
// a point-in-time view that keeps the file's bytes only (the image's
// instant is an RBD snapshot taken through the writable handle), the
// image opened at that snapshot, and the byte ranges changed between two
// snapshots, in volume offsets.
TEST_F(RbdVolumeTest, SnapshotsAndTheirDiffForBackups) {
  auto vol = volume::MetaVolume::Open(Mixed(), {});
  ASSERT_TRUE(vol.ok()) << vol.status().ToString();
  auto& v = **vol;
  const auto a = Pattern(9 * kMiB, 3);
  ASSERT_TRUE(v.Write(0, a, false).ok());
  char dir[] = "/tmp/vsl-rbdpit-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  auto view = volume::OpenPointInTime(*vol, dir);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  ASSERT_TRUE(v.CreateRbdSnapshot("vsl-bk-s1").ok());
  // Writes after the instant: one in the file, one in the image.
  ASSERT_TRUE(v.Write(4096, Pattern(4096, 9), false).ok());
  ASSERT_TRUE(v.Write(2 * kMiB, Pattern(65536, 9), false).ok());
  EXPECT_EQ((*view)->preserved_bytes(), 65536u) << "only the file's chunk is preserved";
  std::vector<uint8_t> got(8192);
  ASSERT_TRUE((*view)->Read(0, got).ok());
  EXPECT_TRUE(std::equal(got.begin(), got.end(), a.begin())) << "the view keeps the file's instant";

  // The image at the snapshot holds the instant; the head the new bytes.
  auto at = [&](const std::string& snap) {
    std::vector<volume::Extent> e = Mixed();
    e[1].rbd->snap = snap;
    volume::VolumeOptions ro;
    ro.read_only = true;
    return volume::MetaVolume::Open(e, ro);
  };
  auto s1 = at("vsl-bk-s1");
  ASSERT_TRUE(s1.ok()) << s1.status().ToString();
  std::vector<uint8_t> img(65536);
  ASSERT_TRUE((*s1)->Read(2 * kMiB, img).ok());
  EXPECT_TRUE(std::equal(img.begin(), img.end(), a.begin() + 2 * kMiB));
  EXPECT_EQ(ImageBytes(1 * kMiB, 65536), Pattern(65536, 9));

  // A second snapshot; the diff from the first is the one 64 KiB write, at
  // its volume offset (the image starts at 1 MiB of the volume).
  ASSERT_TRUE(v.CreateRbdSnapshot("vsl-bk-s2").ok());
  EXPECT_EQ(v.CreateRbdSnapshot("vsl-bk-s2").code(), Code::kAlreadyExists);
  auto s2 = at("vsl-bk-s2");
  ASSERT_TRUE(s2.ok()) << s2.status().ToString();
  auto diff = (*s2)->RbdChangesSince("vsl-bk-s1");
  ASSERT_TRUE(diff.ok()) << diff.status().ToString();
  using R = std::vector<std::pair<uint64_t, uint64_t>>;
  EXPECT_EQ(*diff, (R{{2 * kMiB, 65536}}));
  auto none = (*s1)->RbdChangesSince("vsl-bk-s1");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto gone = (*s2)->RbdChangesSince("vsl-bk-gone");
  EXPECT_EQ(gone.status().code(), Code::kNotFound);
  EXPECT_NE(gone.status().message().find("vsl-bk-gone"), std::string::npos) << gone.status().ToString();

  // Opening at a snapshot the image lacks names it; a snapshot is never writable.
  auto missing = at("vsl-bk-none");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find("no snapshot 'vsl-bk-none'"), std::string::npos)
      << missing.status().ToString();
  std::vector<volume::Extent> w = Mixed();
  w[1].rbd->snap = "vsl-bk-s1";
  EXPECT_EQ(volume::MetaVolume::Open(w, {}).status().code(), Code::kInvalidArgument);

  auto names = v.RbdSnapshotNames();
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"vsl-bk-s1", "vsl-bk-s2"}));
  s1->reset();
  ASSERT_TRUE(v.RemoveRbdSnapshot("vsl-bk-s1").ok());
  EXPECT_TRUE(v.RemoveRbdSnapshot("vsl-bk-s1").ok()) << "removing one that is gone is fine";
  names = v.RbdSnapshotNames();
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"vsl-bk-s2"}));
  view->reset();
  ::rmdir(dir);
}

// An image without the exclusive-lock feature is served read-only only: a
// writable open says how to enable the lock.
TEST_F(RbdVolumeTest, AnImageWithoutTheLockFeatureIsNotOpenedForWriting) {
  rados_t cluster = nullptr;
  ASSERT_EQ(rados_create2(&cluster, "ceph", "client.admin", 0), 0);
  rados_conf_set(cluster, "keyring", Env("VSL_CEPH_ADMIN_KEYRING").c_str());
  rados_conf_read_file(cluster, Env("VSL_CEPH_CONF").c_str());
  ASSERT_EQ(rados_connect(cluster), 0);
  rados_ioctx_t io = nullptr;
  ASSERT_EQ(rados_ioctx_create(cluster, Env("VSL_CEPH_POOL").c_str(), &io), 0);
  const std::string name = name_ + "-nolock";
  int order = 0;
  ASSERT_EQ(rbd_create2(io, name.c_str(), 4 * kMiB, RBD_FEATURE_LAYERING, &order), 0);
  volume::Extent e = rbd_;
  e.rbd->image = name;
  e.length = 4 * kMiB;
  auto v = volume::MetaVolume::Open({e}, {});
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("rbd feature enable " + Env("VSL_CEPH_POOL") + "/" + name +
                                      " exclusive-lock"),
            std::string::npos)
      << v.status().ToString();
  volume::VolumeOptions ro;
  ro.read_only = true;
  EXPECT_TRUE(volume::MetaVolume::Open({e}, ro).ok());
  rbd_remove(io, name.c_str());
  rados_ioctx_destroy(io);
  rados_shutdown(cluster);
}

TEST_F(RbdVolumeTest, AnImageThatIsNotThereIsNamed) {
  volume::Extent e = rbd_;
  e.rbd->image = "vsl-no-such-image";
  auto v = volume::MetaVolume::Open({e}, {});
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("vsl-no-such-image"), std::string::npos)
      << v.status().ToString();
  e = rbd_;
  e.length = 16 * kMiB;  // longer than the image
  v = volume::MetaVolume::Open({e}, {});
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("the extent needs"), std::string::npos)
      << v.status().ToString();
}

}  // namespace
}  // namespace vsl::array
