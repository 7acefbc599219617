// The rbd driver against a real Ceph cluster. Run by tests/ceph/rbd.sh, which
// starts a throw-away cluster (tests/lib/ceph.sh) and sets:
//   VSL_CEPH_CONF, VSL_CEPH_POOL, VSL_CEPH_USER, VSL_CEPH_KEYRING   vsl's least-privilege user
//   VSL_CEPH_ADMIN_KEYRING                              for the test's own checks
// Without them every test fails (a cluster is what this binary tests).
#include "array/rbd_array.h"

#include <gtest/gtest.h>
#include <rados/librados.h>
#include <rbd/librbd.h>

#include <cstdlib>
#include <fstream>
#include <random>

#include "array/array.h"
#include "array/test_util.h"
#include "util/crash_point.h"

namespace vsl::array {
namespace {

constexpr uint64_t kMiB = 1 << 20;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

// The test's own handle on the pool, as the administrator: what a second
// client (or an operator with the rbd tool) sees and does.
class AdminPool {
 public:
  AdminPool() {
    if (rados_create2(&cluster_, "ceph", "client.admin", 0) < 0) return;
    rados_conf_set(cluster_, "keyring", Env("VSL_CEPH_ADMIN_KEYRING").c_str());
    rados_conf_read_file(cluster_, Env("VSL_CEPH_CONF").c_str());
    if (rados_connect(cluster_) < 0) return;
    if (rados_ioctx_create(cluster_, Env("VSL_CEPH_POOL").c_str(), &io_) < 0) io_ = nullptr;
  }
  ~AdminPool() {
    if (io_ != nullptr) rados_ioctx_destroy(io_);
    if (cluster_ != nullptr) rados_shutdown(cluster_);
  }
  bool ok() const { return io_ != nullptr; }
  rados_t cluster() const { return cluster_; }
  rados_ioctx_t io() const { return io_; }

  int Create(const std::string& name, uint64_t size) {
    int order = 0;
    return rbd_create(io_, name.c_str(), size, &order);
  }
  bool Exists(const std::string& name) {
    rbd_image_t img;
    if (rbd_open_read_only(io_, name.c_str(), &img, nullptr) < 0) return false;
    rbd_close(img);
    return true;
  }
  bool ObjectExists(const std::string& name) {
    uint64_t size;
    time_t mtime;
    return rados_stat(io_, name.c_str(), &size, &mtime) == 0;
  }
  // Writes through librbd directly, not through the driver.
  int Write(const std::string& name, uint64_t off, const std::vector<uint8_t>& data) {
    rbd_image_t img;
    int r = rbd_open(io_, name.c_str(), &img, nullptr);
    if (r < 0) return r;
    ssize_t w = rbd_write(img, off, data.size(), reinterpret_cast<const char*>(data.data()));
    rbd_close(img);
    return w < 0 ? static_cast<int>(w) : 0;
  }
  // The whole image read through librbd; empty on error.
  std::vector<uint8_t> ReadAll(const std::string& name) {
    rbd_image_t img;
    if (rbd_open_read_only(io_, name.c_str(), &img, nullptr) < 0) return {};
    uint64_t size = 0;
    rbd_get_size(img, &size);
    std::vector<uint8_t> out(size);
    ssize_t r = rbd_read(img, 0, size, reinterpret_cast<char*>(out.data()));
    rbd_close(img);
    if (r != static_cast<ssize_t>(size)) return {};
    return out;
  }
  int MonCommand(const std::string& json) {
    const char* argv[] = {json.c_str()};
    char *out = nullptr, *outs = nullptr;
    size_t out_len = 0, outs_len = 0;
    int r = rados_mon_command(cluster_, argv, 1, "", 0, &out, &out_len, &outs, &outs_len);
    if (out) rados_buffer_free(out);
    if (outs) rados_buffer_free(outs);
    return r;
  }

 private:
  rados_t cluster_ = nullptr;
  rados_ioctx_t io_ = nullptr;
};

class RbdArrayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(Env("VSL_CEPH_CONF").empty()) << "run through tests/ceph/rbd.sh (needs a cluster)";
    ASSERT_TRUE(admin_.ok()) << "cannot reach the pool as client.admin";
  }
  // A spec for a new array with a name no other test uses.
  ArraySpec Spec(const std::string& name, uint64_t capacity, uint64_t volume_size = 0) {
    ArraySpec s;
    s.name = name;
    s.driver = "rbd";
    s.capacity = capacity;
    s.volume_size = volume_size;
    s.rbd.pool = Env("VSL_CEPH_POOL");
    s.rbd.conf = Env("VSL_CEPH_CONF");
    s.rbd.user = Env("VSL_CEPH_USER");
    s.rbd.keyring = Env("VSL_CEPH_KEYRING");
    return s;
  }
  std::unique_ptr<StorageArray> MustOpen(const ArraySpec& s) {
    auto a = OpenArray(s);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? std::move(a).value() : nullptr;
  }
  AdminPool admin_;
};

std::vector<std::string> Ids(const std::vector<ArrayVolume>& v) {
  std::vector<std::string> out;
  for (const auto& x : v) out.push_back(x.id);
  return out;
}

TEST_F(RbdArrayTest, CreateAndDiscoverListOnlyItsOwnImages) {
  auto a = MustOpen(Spec("disc", 256 * kMiB));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->info().driver, "rbd");
  auto v1 = a->CreateVolume(8 * kMiB);
  auto v2 = a->CreateVolume(16 * kMiB);
  ASSERT_TRUE(v1.ok() && v2.ok()) << v1.status().ToString() << v2.status().ToString();
  EXPECT_EQ(v1->id, "vol-0001");
  EXPECT_EQ(v2->id, "vol-0002");
  EXPECT_EQ(v1->path, "rbd:" + Env("VSL_CEPH_POOL") + "/vsl-disc-vol-0001");
  EXPECT_TRUE(admin_.Exists("vsl-disc-vol-0002"));
  // Images that are not this array's: another array's with a name that
  // starts alike, names near the pattern, someone else's image.
  auto other = MustOpen(Spec("disc-b", 64 * kMiB));
  ASSERT_TRUE(other);
  ASSERT_TRUE(other->CreateVolume(4 * kMiB).ok());
  for (const char* n :
       {"vsl-disc-vol-12", "vsl-disc-vol-0003x", "vsl-discvol-0004", "somebody-else"}) {
    ASSERT_EQ(admin_.Create(n, 4 * kMiB), 0) << n;
  }
  auto found = a->Discover();
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(Ids(*found), (std::vector<std::string>{"vol-0001", "vol-0002"}));
  EXPECT_EQ((*found)[1].size, 16 * kMiB);
  auto found_b = other->Discover();
  ASSERT_TRUE(found_b.ok());
  EXPECT_EQ(Ids(*found_b), (std::vector<std::string>{"vol-0001"}));

  // An image made behind vsl's back under the array's pattern is a volume.
  ASSERT_EQ(admin_.Create("vsl-disc-vol-0007", 4 * kMiB), 0);
  found = a->Discover();
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(Ids(*found), (std::vector<std::string>{"vol-0001", "vol-0002", "vol-0007"}));

  // Reopened (as after a restart) from the manifest: same capacity, the
  // numbers go on from where they were, a removed number is not reused.
  ASSERT_TRUE(a->DeleteVolume("vol-0002").ok());
  EXPECT_FALSE(admin_.Exists("vsl-disc-vol-0002"));
  a.reset();
  ArraySpec again = Spec("disc", 0);
  auto b = MustOpen(again);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->info().capacity, 256 * kMiB);
  auto v3 = b->CreateVolume(4 * kMiB);
  ASSERT_TRUE(v3.ok()) << v3.status().ToString();
  EXPECT_EQ(v3->id, "vol-0003");
  EXPECT_EQ(b->GetVolume("vol-0002").status().code(), Code::kNotFound);
  // A reopen that disagrees with the manifest is refused.
  auto wrong = OpenArray(Spec("disc", 512 * kMiB));
  EXPECT_EQ(wrong.status().code(), Code::kFailedPrecondition) << wrong.status().ToString();
}

TEST_F(RbdArrayTest, PreCarvedArrayMakesItsImages) {
  auto a = MustOpen(Spec("carve", 32 * kMiB, 8 * kMiB));
  ASSERT_TRUE(a);
  auto found = a->Discover();
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(Ids(*found),
            (std::vector<std::string>{"vol-0001", "vol-0002", "vol-0003", "vol-0004"}));
  EXPECT_EQ(a->CreateVolume(8 * kMiB).status().code(), Code::kFailedPrecondition);
}

TEST_F(RbdArrayTest, CapacityIsEnforcedAndCheckedAgainstThePoolQuota) {
  auto a = MustOpen(Spec("cap", 64 * kMiB));
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->CreateVolume(48 * kMiB).ok());
  auto refused = a->CreateVolume(32 * kMiB);
  EXPECT_EQ(refused.status().code(), Code::kResourceExhausted) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("16 MiB"), std::string::npos)
      << refused.status().ToString();
  auto found = a->Discover();
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->size(), 1u);  // the refused one made no image
  EXPECT_TRUE(a->CreateVolume(16 * kMiB).ok());

  const std::string pool = Env("VSL_CEPH_POOL");
  ASSERT_EQ(admin_.MonCommand(R"({"prefix":"osd pool set-quota","pool":")" + pool +
                              R"(","field":"max_bytes","val":"1073741824"})"),
            0);
  auto over = OpenArray(Spec("cap-over", 2048 * kMiB));
  auto under = OpenArray(Spec("cap-under", 512 * kMiB));
  ASSERT_EQ(admin_.MonCommand(R"({"prefix":"osd pool set-quota","pool":")" + pool +
                              R"(","field":"max_bytes","val":"0"})"),
            0);
  EXPECT_EQ(over.status().code(), Code::kInvalidArgument) << over.status().ToString();
  EXPECT_NE(over.status().message().find("quota"), std::string::npos) << over.status().ToString();
  EXPECT_NE(over.status().message().find("pool '" + pool + "'"), std::string::npos)
      << over.status().ToString();
  EXPECT_FALSE(admin_.ObjectExists("vsl-cap-over.array"));
  EXPECT_TRUE(under.ok()) << under.status().ToString();
}

// CreateVolume's room check takes image sizes from a cache: an image that
// was removed and made again under the same name (a new RBD id) is counted
// at its new size, and one that is gone is not counted.
TEST_F(RbdArrayTest, RoomCheckCountsAnImageMadeAgainUnderItsName) {
  auto a = MustOpen(Spec("room", 64 * kMiB));
  ASSERT_TRUE(a);
  auto v1 = a->CreateVolume(16 * kMiB);
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  ASSERT_TRUE(a->CreateVolume(16 * kMiB).ok());  // its check read vol 1 as 16 MiB
  const std::string name = "vsl-room-" + v1->id;
  ASSERT_EQ(rbd_remove(admin_.io(), name.c_str()), 0);
  ASSERT_EQ(admin_.Create(name, 40 * kMiB), 0);
  auto refused = a->CreateVolume(16 * kMiB);  // 40 + 16 + 16 > 64
  EXPECT_EQ(refused.status().code(), Code::kResourceExhausted) << refused.status().ToString();
  ASSERT_EQ(rbd_remove(admin_.io(), name.c_str()), 0);
  auto fits = a->CreateVolume(40 * kMiB);  // 16 + 40 <= 64
  EXPECT_TRUE(fits.ok()) << fits.status().ToString();
}

TEST_F(RbdArrayTest, ScrubLeavesOnlyZeros) {
  auto a = MustOpen(Spec("scrub", 64 * kMiB));
  ASSERT_TRUE(a);
  const uint64_t size = 12 * kMiB + 4096;  // not a whole number of objects
  auto v = a->CreateVolume(size);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  const std::string image = "vsl-scrub-" + v->id;
  std::vector<uint8_t> pattern(64 * 1024);
  std::mt19937 rng(7);
  for (auto& b : pattern) b = static_cast<uint8_t>(rng() | 1);
  for (uint64_t off : {uint64_t{0}, 5 * kMiB + 512, size - pattern.size()}) {
    ASSERT_EQ(admin_.Write(image, off, pattern), 0);
  }
  std::vector<uint8_t> got(pattern.size());
  ASSERT_TRUE(a->Read(v->id, 5 * kMiB + 512, got).ok());
  ASSERT_EQ(got, pattern);  // the data is there before the scrub
  ASSERT_TRUE(a->Grant(v->id, "iqn.gw").ok());

  Status s = a->Scrub(v->id);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::vector<uint8_t> all = admin_.ReadAll(image);
  ASSERT_EQ(all.size(), size);
  EXPECT_TRUE(std::all_of(all.begin(), all.end(), [](uint8_t b) { return b == 0; }));
  auto ranges = a->MappedRanges(v->id);
  ASSERT_TRUE(ranges.ok());
  EXPECT_TRUE(ranges->empty());
  EXPECT_FALSE(admin_.Exists(image + ".scrub"));
  auto g = a->Grants(v->id);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(*g, std::vector<std::string>{"iqn.gw"});  // the volume is the same volume
  auto again = a->GetVolume(v->id);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->size, size);

  // A crash between the rename and the new image: Scrub again finishes.
  ASSERT_EQ(admin_.Write(image, 0, pattern), 0);
  ASSERT_EQ(rbd_rename(admin_.io(), image.c_str(), (image + ".scrub").c_str()), 0);
  EXPECT_EQ(a->GetVolume(v->id).status().code(), Code::kNotFound);
  s = a->Scrub(v->id);
  ASSERT_TRUE(s.ok()) << s.ToString();
  all = admin_.ReadAll(image);
  ASSERT_EQ(all.size(), size);
  EXPECT_TRUE(std::all_of(all.begin(), all.end(), [](uint8_t b) { return b == 0; }));
  EXPECT_FALSE(admin_.Exists(image + ".scrub"));
}

TEST_F(RbdArrayTest, GrantAndRevokeAreKeptOnTheImage) {
  auto a = MustOpen(Spec("grant", 64 * kMiB));
  ASSERT_TRUE(a);
  auto v = a->CreateVolume(4 * kMiB);
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(a->Grant(v->id, "iqn.b").ok());
  ASSERT_TRUE(a->Grant(v->id, "iqn.a").ok());
  ASSERT_TRUE(a->Grant(v->id, "iqn.b").ok());  // twice is harmless
  EXPECT_EQ(a->Grant(v->id, "").code(), Code::kInvalidArgument);
  EXPECT_EQ(a->Grant("vol-0099", "iqn.a").code(), Code::kNotFound);
  a.reset();
  auto b = MustOpen(Spec("grant", 0));  // survives a reopen
  ASSERT_TRUE(b);
  auto g = b->Grants(v->id);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(*g, (std::vector<std::string>{"iqn.a", "iqn.b"}));
  ASSERT_TRUE(b->Revoke(v->id, "iqn.a").ok());
  ASSERT_TRUE(b->Revoke(v->id, "iqn.zz").ok());  // not granted: harmless
  g = b->Grants(v->id);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(*g, std::vector<std::string>{"iqn.b"});
  ASSERT_TRUE(b->Grant(v->id, "iqn.c").ok());
  ASSERT_TRUE(b->Revoke(v->id, "").ok());
  g = b->Grants(v->id);
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->empty());
  ASSERT_TRUE(b->DeleteVolume(v->id).ok());
  EXPECT_EQ(b->Grants(v->id).status().code(), Code::kNotFound);
}

TEST_F(RbdArrayTest, ReadWriteCopySnapThroughTheInterface) {
  auto a = MustOpen(Spec("io", 128 * kMiB));
  ASSERT_TRUE(a);
  auto src = a->CreateVolume(8 * kMiB);
  auto dst = a->CreateVolume(8 * kMiB);
  ASSERT_TRUE(src.ok() && dst.ok());
  std::vector<uint8_t> data(8192, 0xab);
  ASSERT_TRUE(a->Write(src->id, 4 * kMiB, data).ok());
  EXPECT_EQ(a->Write(src->id, 8 * kMiB - 512, data).code(), Code::kOutOfRange);
  auto ranges = a->MappedRanges(src->id);
  ASSERT_TRUE(ranges.ok());
  ASSERT_FALSE(ranges->empty());
  EXPECT_LE((*ranges)[0].offset, 4 * kMiB);

  ASSERT_TRUE(a->Write(dst->id, 0, data).ok());  // overwritten by the snap
  Status s = a->Snap(src->id, dst->id);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(admin_.ReadAll("vsl-io-" + dst->id), admin_.ReadAll("vsl-io-" + src->id));

  // From another driver, through the interface.
  ArraySpec ms;
  ms.name = "mem";
  ms.driver = "memory";
  ms.capacity = 16 * kMiB;
  auto mem = OpenArray(ms);
  ASSERT_TRUE(mem.ok());
  auto mv = (*mem)->CreateVolume(4 * kMiB);
  ASSERT_TRUE(mv.ok());
  std::vector<uint8_t> other(4096, 0x5c);
  ASSERT_TRUE((*mem)->Write(mv->id, 1 * kMiB, other).ok());
  ASSERT_TRUE(a->Copy(**mem, mv->id, dst->id).ok());
  std::vector<uint8_t> got(4096);
  ASSERT_TRUE(a->Read(dst->id, 1 * kMiB, got).ok());
  EXPECT_EQ(got, other);
  ASSERT_TRUE(a->Read(dst->id, 4 * kMiB, got).ok());  // the snap's data is gone
  EXPECT_TRUE(std::all_of(got.begin(), got.end(), [](uint8_t b) { return b == 0; }));

  // From a raw image file.
  testing::TempDir tmp;
  const std::string file = tmp.path() + "/img.raw";
  {
    std::ofstream f(file, std::ios::binary);
    std::vector<uint8_t> head(1024, 0x11);
    f.write(reinterpret_cast<const char*>(head.data()), head.size());
  }
  ASSERT_TRUE(a->CopyFromFile(file, dst->id).ok());
  ASSERT_TRUE(a->Read(dst->id, 0, got).ok());
  EXPECT_EQ(got[0], 0x11);
  EXPECT_EQ(got[1023], 0x11);
  EXPECT_EQ(got[1024], 0);

  // A small, unaligned deallocate reads as zeros too (Ceph skips partial
  // discards by default).
  ASSERT_TRUE(a->Write(src->id, 4 * kMiB, data).ok());
  ASSERT_TRUE(a->Deallocate(src->id, 4 * kMiB + 512, 1024).ok());
  std::vector<uint8_t> around(2048);
  ASSERT_TRUE(a->Read(src->id, 4 * kMiB, around).ok());
  for (size_t i = 0; i < around.size(); ++i) {
    ASSERT_EQ(around[i], i >= 512 && i < 1536 ? 0 : 0xab) << "byte " << i;
  }
  ASSERT_TRUE(a->Deallocate(src->id, 0, 8 * kMiB).ok());
  ASSERT_TRUE(a->Read(src->id, 4 * kMiB, got).ok());
  EXPECT_TRUE(std::all_of(got.begin(), got.end(), [](uint8_t b) { return b == 0; }));
  // Locate names the image and how to reach it (the keyring's path only).
  auto where = a->Locate(src->id);
  ASSERT_TRUE(where.ok()) << where.status().ToString();
  ASSERT_EQ(where->size(), 1u);
  const volume::Extent& e = (*where)[0];
  ASSERT_TRUE(e.rbd.has_value());
  EXPECT_EQ(e.rbd->image, "vsl-io-" + src->id);
  EXPECT_EQ(e.rbd->pool, Env("VSL_CEPH_POOL"));
  EXPECT_EQ(e.rbd->keyring, Env("VSL_CEPH_KEYRING"));
  EXPECT_EQ(e.offset, 0u);
  EXPECT_EQ(e.length, src->size);
}

TEST_F(RbdArrayTest, BadPoolOrKeyringGetsAClearError) {
  ArraySpec s = Spec("bad", 64 * kMiB);
  s.rbd.pool = "no-such-pool";
  auto r = OpenArray(s);
  EXPECT_EQ(r.status().code(), Code::kNotFound) << r.status().ToString();
  EXPECT_NE(r.status().message().find("pool 'no-such-pool'"), std::string::npos)
      << r.status().ToString();

  testing::TempDir tmp;
  // A key of the right form that the cluster does not know.
  const std::string wrong = tmp.path() + "/wrong.keyring";
  std::ofstream(wrong) << "[client." << Env("VSL_CEPH_USER")
                       << "]\n\tkey = AQBQ1WZlAAAAABAAcaZ1t7lGxb3/x1u9e0YmQg==\n";
  s = Spec("bad", 64 * kMiB);
  s.rbd.keyring = wrong;
  r = OpenArray(s);
  EXPECT_EQ(r.status().code(), Code::kUnauthenticated) << r.status().ToString();
  EXPECT_NE(r.status().message().find(wrong), std::string::npos) << r.status().ToString();

  s.rbd.keyring = tmp.path() + "/missing.keyring";
  r = OpenArray(s);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().ToString();
  EXPECT_NE(r.status().message().find("missing.keyring"), std::string::npos)
      << r.status().ToString();

  const std::string other_user = tmp.path() + "/other.keyring";
  std::ofstream(other_user)
      << "[client.someone]\n\tkey = AQBQ1WZlAAAAABAAcaZ1t7lGxb3/x1u9e0YmQg==\n";
  s.rbd.keyring = other_user;
  r = OpenArray(s);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().ToString();
  EXPECT_NE(r.status().message().find("no key for client." + Env("VSL_CEPH_USER")),
            std::string::npos)
      << r.status().ToString();

  s = Spec("bad", 64 * kMiB);
  s.rbd.conf = tmp.path() + "/nope.conf";
  r = OpenArray(s);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().ToString();
  EXPECT_NE(r.status().message().find("nope.conf"), std::string::npos) << r.status().ToString();
  EXPECT_FALSE(admin_.ObjectExists("vsl-bad.array"));
}

std::vector<uint8_t> Noise(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

std::vector<uint8_t> ReadVolume(StorageArray& a, const std::string& id, uint64_t size) {
  std::vector<uint8_t> out(size);
  Status s = a.Read(id, 0, out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// Image copies inside a pool are clones of the master's protected snapshot:
// the clone reads as the master followed by zeros, keeps its size and
// grants, holds nothing of its own until written, and writes stay its own.
TEST_F(RbdArrayTest, CloneReadsAsTheMasterAndWritesStayItsOwn) {
  auto a = MustOpen(Spec("cl", 256 * kMiB));
  ASSERT_TRUE(a);
  auto* rbd = dynamic_cast<RbdArray*>(a.get());
  auto master = a->CreateVolume(8 * kMiB);
  auto d1 = a->CreateVolume(16 * kMiB);
  auto d2 = a->CreateVolume(8 * kMiB);
  ASSERT_TRUE(master.ok() && d1.ok() && d2.ok());
  const auto bytes = Noise(8 * kMiB, 1);
  ASSERT_TRUE(a->Write(master->id, 0, bytes).ok());
  ASSERT_TRUE(a->Write(d1->id, 12 * kMiB, Noise(kMiB, 2)).ok());  // old data, must go
  ASSERT_TRUE(a->Grant(d1->id, "iqn.gw").ok());
  ASSERT_TRUE(a->CanCloneFrom(*a));

  Status s = a->Clone(*a, master->id, d1->id);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_TRUE(a->Clone(*a, master->id, d2->id).ok());
  auto parent = rbd->CloneParent(d1->id);
  ASSERT_TRUE(parent.ok() && parent->has_value()) << parent.status().ToString();
  EXPECT_EQ(**parent, Env("VSL_CEPH_POOL") + "/vsl-cl-" + master->id + "@vsl-master");
  auto v1 = a->GetVolume(d1->id);
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(v1->size, 16 * kMiB);
  EXPECT_EQ(*a->Grants(d1->id), std::vector<std::string>{"iqn.gw"});
  auto got = ReadVolume(*a, d1->id, 16 * kMiB);
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), got.begin()));
  EXPECT_TRUE(std::all_of(got.begin() + 8 * kMiB, got.end(), [](uint8_t c) { return c == 0; }));
  EXPECT_FALSE(admin_.Exists("vsl-cl-" + d1->id + ".clone"));
  // Written, then cloned again: it reads as the master again, grants kept.
  ASSERT_TRUE(a->Write(d1->id, 0, Noise(kMiB, 9)).ok());
  ASSERT_TRUE(a->Clone(*a, master->id, d1->id).ok());
  EXPECT_EQ(*a->Grants(d1->id), std::vector<std::string>{"iqn.gw"});
  got = ReadVolume(*a, d1->id, 16 * kMiB);
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), got.begin()));
  EXPECT_EQ(a->GetVolume(d1->id)->size, 16 * kMiB);
  // A volume that does not exist is not made.
  EXPECT_EQ(a->Clone(*a, master->id, "vol-0999").code(), Code::kNotFound);
  EXPECT_FALSE(admin_.Exists("vsl-cl-vol-0999"));

  // d1's write is neither d2's nor the master's.
  const auto mine = Noise(kMiB, 3);
  ASSERT_TRUE(a->Write(d1->id, kMiB, mine).ok());
  auto m = ReadVolume(*a, master->id, 8 * kMiB);
  auto o = ReadVolume(*a, d2->id, 8 * kMiB);
  EXPECT_EQ(m, bytes);
  EXPECT_EQ(o, bytes);

  // The master cannot go while clones hang from it.
  s = a->DeleteVolume(master->id);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("clones"), std::string::npos) << s.ToString();
  s = a->Scrub(master->id);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(ReadVolume(*a, master->id, 8 * kMiB), bytes);  // untouched by the refusals

  // Flatten: d1 keeps its bytes and loses its parent; again is harmless.
  ASSERT_TRUE(a->Flatten(d1->id).ok());
  ASSERT_TRUE(a->Flatten(d1->id).ok());
  parent = rbd->CloneParent(d1->id);
  ASSERT_TRUE(parent.ok());
  EXPECT_FALSE(parent->has_value());
  got = ReadVolume(*a, d1->id, 16 * kMiB);
  EXPECT_TRUE(std::equal(mine.begin(), mine.end(), got.begin() + kMiB));
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.begin() + kMiB, got.begin()));

  // Scrub of a clone: a plain image of zeros under its name.
  ASSERT_TRUE(a->Scrub(d2->id).ok());
  parent = rbd->CloneParent(d2->id);
  ASSERT_TRUE(parent.ok());
  EXPECT_FALSE(parent->has_value());
  o = ReadVolume(*a, d2->id, 8 * kMiB);
  EXPECT_TRUE(std::all_of(o.begin(), o.end(), [](uint8_t c) { return c == 0; }));

  // No clone left: the master goes, its snapshot with it.
  s = a->DeleteVolume(master->id);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(admin_.Exists("vsl-cl-" + master->id));
}

TEST_F(RbdArrayTest, CloneRefusesAnotherKindOfArrayAndASmallerVolume) {
  auto a = MustOpen(Spec("clr", 64 * kMiB));
  ASSERT_TRUE(a);
  ArraySpec mem;
  mem.name = "mem";
  mem.driver = "memory";
  mem.capacity = 64 * kMiB;
  auto m = MustOpen(mem);
  ASSERT_TRUE(m);
  auto src = m->CreateVolume(4 * kMiB);
  auto big = a->CreateVolume(16 * kMiB);
  auto dst = a->CreateVolume(4 * kMiB);
  ASSERT_TRUE(src.ok() && big.ok() && dst.ok());
  EXPECT_FALSE(a->CanCloneFrom(*m));
  EXPECT_FALSE(m->CanCloneFrom(*a));
  Status s = a->Clone(*m, src->id, dst->id);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  s = a->Clone(*a, big->id, dst->id);
  EXPECT_EQ(s.code(), Code::kOutOfRange) << s.ToString();
  EXPECT_TRUE(admin_.Exists("vsl-clr-" + dst->id));  // left as it was
  s = m->Flatten(src->id);
  EXPECT_EQ(s.code(), Code::kUnimplemented) << s.ToString();
}

// A crash (here: an exception where the process would die) at each step of
// Clone leaves something the next call finishes: the clone under the
// volume's name, at its size, with its grants, and no image set aside.
TEST_F(RbdArrayTest, CloneCutShortAtEachStepConverges) {
  auto a = MustOpen(Spec("clc", 256 * kMiB));
  ASSERT_TRUE(a);
  auto* rbd = dynamic_cast<RbdArray*>(a.get());
  auto master = a->CreateVolume(4 * kMiB);
  ASSERT_TRUE(master.ok());
  const auto bytes = Noise(4 * kMiB, 4);
  ASSERT_TRUE(a->Write(master->id, 0, bytes).ok());
  struct Killed {};
  util::SetCrashPointAction([](std::string_view) { throw Killed{}; });
  for (const char* point : {"rbd.clone.snapped", "rbd.clone.aside", "rbd.clone.cloned"}) {
    SCOPED_TRACE(point);
    auto d = a->CreateVolume(8 * kMiB);
    ASSERT_TRUE(d.ok());
    ASSERT_TRUE(a->Grant(d->id, "iqn.gw").ok());
    ASSERT_TRUE(util::ArmCrashPoints(std::string(point) + ":1").ok());
    bool killed = false;
    try {
      (void)a->Clone(*a, master->id, d->id);
    } catch (const Killed&) {
      killed = true;
    }
    ASSERT_TRUE(util::ArmCrashPoints("").ok());
    EXPECT_TRUE(killed);
    Status s = a->Clone(*a, master->id, d->id);
    ASSERT_TRUE(s.ok()) << s.ToString();
    auto parent = rbd->CloneParent(d->id);
    ASSERT_TRUE(parent.ok() && parent->has_value());
    EXPECT_EQ(a->GetVolume(d->id)->size, 8 * kMiB);
    EXPECT_EQ(*a->Grants(d->id), std::vector<std::string>{"iqn.gw"});
    EXPECT_FALSE(admin_.Exists("vsl-clc-" + d->id + ".clone"));
    auto got = ReadVolume(*a, d->id, 8 * kMiB);
    EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), got.begin()));
  }
  util::SetCrashPointAction(nullptr);
}

// Snap (a BCV) on RBD: the BCV is a clone of a protected snapshot of the
// source, so it holds nothing of its own; a new Snap into it replaces that
// snapshot; scrubbing the source first gives the BCV its own copy; the
// BCV's scrub drops the snapshot.
TEST_F(RbdArrayTest, SnapMakesTheBcvACloneOfASnapshot) {
  auto a = MustOpen(Spec("bcv", 128 * kMiB));
  ASSERT_TRUE(a);
  auto* rbd = dynamic_cast<RbdArray*>(a.get());
  auto src = a->CreateVolume(8 * kMiB);
  auto bcv = a->CreateVolume(8 * kMiB);
  ASSERT_TRUE(src.ok() && bcv.ok());
  ASSERT_TRUE(a->Grant(bcv->id, "iqn.backup").ok());
  const auto first = Noise(8 * kMiB, 5);
  ASSERT_TRUE(a->Write(src->id, 0, first).ok());
  ASSERT_TRUE(a->Snap(src->id, bcv->id).ok());
  auto parent = rbd->CloneParent(bcv->id);
  ASSERT_TRUE(parent.ok() && parent->has_value()) << parent.status().ToString();
  EXPECT_NE((*parent)->find("/vsl-bcv-" + src->id + "@vsl.bcv." + bcv->id + "."), std::string::npos)
      << **parent;
  EXPECT_EQ(*a->Grants(bcv->id), std::vector<std::string>{"iqn.backup"});
  const auto second = Noise(8 * kMiB, 6);
  ASSERT_TRUE(a->Write(src->id, 0, second).ok());
  EXPECT_EQ(ReadVolume(*a, bcv->id, 8 * kMiB), first);

  // Again: the BCV is of now, and the source keeps one snapshot for it.
  ASSERT_TRUE(a->Snap(src->id, bcv->id).ok());
  EXPECT_EQ(ReadVolume(*a, bcv->id, 8 * kMiB), second);
  auto snaps = [&]() {
    rbd_image_t img;
    int n = -1;
    if (rbd_open_read_only(admin_.io(), ("vsl-bcv-" + src->id).c_str(), &img, nullptr) == 0) {
      std::vector<rbd_snap_info_t> info(16);
      int max = 16;
      n = rbd_snap_list(img, info.data(), &max);
      if (n >= 0) rbd_snap_list_end(info.data());
      rbd_close(img);
    }
    return n;
  };
  EXPECT_EQ(snaps(), 1);

  // The source scrubbed: the BCV keeps its bytes, now its own.
  ASSERT_TRUE(a->Write(src->id, 0, first).ok());
  Status s = a->Scrub(src->id);
  ASSERT_TRUE(s.ok()) << s.ToString();
  parent = rbd->CloneParent(bcv->id);
  ASSERT_TRUE(parent.ok());
  EXPECT_FALSE(parent->has_value());
  EXPECT_EQ(ReadVolume(*a, bcv->id, 8 * kMiB), second);
  EXPECT_EQ(snaps(), 0);

  // A BCV's scrub drops the snapshot it hung from.
  ASSERT_TRUE(a->Write(src->id, 0, first).ok());
  ASSERT_TRUE(a->Snap(src->id, bcv->id).ok());
  EXPECT_EQ(snaps(), 1);
  ASSERT_TRUE(a->Scrub(bcv->id).ok());
  EXPECT_EQ(snaps(), 0);
  auto z = ReadVolume(*a, bcv->id, 8 * kMiB);
  EXPECT_TRUE(std::all_of(z.begin(), z.end(), [](uint8_t c) { return c == 0; }));
  EXPECT_EQ(ReadVolume(*a, src->id, 8 * kMiB), first);
  // And a source with a BCV can be deleted: the BCV is flattened first.
  ASSERT_TRUE(a->Snap(src->id, bcv->id).ok());
  s = a->DeleteVolume(src->id);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ReadVolume(*a, bcv->id, 8 * kMiB), first);
}

}  // namespace
}  // namespace vsl::array
