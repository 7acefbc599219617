// One suite, run against every driver: the semantics the storage manager
// relies on must not depend on where the bytes live. array_test runs it on
// the file and memory drivers; rbd_array_test (built with
// VSL_ARRAY_TEST_RBD, run by tests/ceph/rbd.sh against a throw-away cluster)
// on the rbd driver.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <numeric>
#include <thread>

#include <gtest/gtest.h>

#include "array/array.h"
#include "array/fault_array.h"
#include "array/memory_array.h"
#include "array/test_util.h"
#ifdef VSL_ARRAY_TEST_RBD
#include <rbd/librbd.h>

#include "array/rbd_array.h"
#endif

namespace vsl::array {
namespace {

#ifdef VSL_ARRAY_TEST_RBD
// The cluster tests/ceph/rbd.sh started; each array gets a name no other
// array of the run has (the pool outlives the test fixtures).
void UseCluster(ArraySpec& spec) {
  static int made = 0;
  auto env = [](const char* n) { return std::string(getenv(n) != nullptr ? getenv(n) : ""); };
  spec.name = "c" + std::to_string(getpid()) + "-" + std::to_string(++made);
  spec.rbd.pool = env("VSL_CEPH_POOL");
  spec.rbd.conf = env("VSL_CEPH_CONF");
  spec.rbd.user = env("VSL_CEPH_USER");
  spec.rbd.keyring = env("VSL_CEPH_KEYRING");
}
bool RbdByHand(StorageArray& a, const std::string& id, uint64_t size, bool add) {
  auto* r = dynamic_cast<RbdArray*>(&a);
  if (r == nullptr) return false;
  int order = 0;
  int rc = add ? rbd_create(r->ioctx(), r->ImageName(id).c_str(), size, &order)
               : rbd_remove(r->ioctx(), r->ImageName(id).c_str());
  EXPECT_EQ(rc, 0) << (add ? "create " : "remove ") << r->ImageName(id);
  return true;
}
#else
void UseCluster(ArraySpec&) {}
bool RbdByHand(StorageArray&, const std::string&, uint64_t, bool) { return false; }
#endif

constexpr uint64_t kMiB = 1 << 20;

uint64_t MappedTotal(const std::vector<ByteRange>& ranges) {
  uint64_t n = 0;
  for (const auto& r : ranges) n += r.length;
  return n;
}

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 9));
  return v;
}

class ArrayTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<StorageArray> Make(uint64_t capacity, uint64_t volume_size = 0,
                                     Qualities q = {{"raid", "1"}, {"media", "ssd"}}) {
    ArraySpec spec;
    spec.name = "a" + std::to_string(++made_);
    spec.driver = GetParam();
    spec.path = dir_.path() + "/" + spec.name;
    spec.capacity = capacity;
    spec.volume_size = volume_size;
    spec.qualities = std::move(q);
    if (spec.driver == "rbd") UseCluster(spec);
    auto a = OpenArray(spec);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return std::move(a).value();
  }

  // A volume appears behind vsl's back, as an administrator would add one.
  void AddByHand(StorageArray& a, const std::string& id, uint64_t size) {
    if (auto* m = dynamic_cast<MemoryArray*>(&a)) {
      ASSERT_TRUE(m->AddVolumeBehindBack(id, size).ok());
      return;
    }
    if (RbdByHand(a, id, size, true)) return;
    std::string path = a.info().path + "/volumes/" + id;
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
    ::close(fd);
  }
  void RemoveByHand(StorageArray& a, const std::string& id) {
    if (auto* m = dynamic_cast<MemoryArray*>(&a)) {
      ASSERT_TRUE(m->RemoveVolumeBehindBack(id).ok());
      return;
    }
    if (RbdByHand(a, id, 0, false)) return;
    ASSERT_EQ(::unlink((a.info().path + "/volumes/" + id).c_str()), 0);
  }

  std::vector<uint8_t> ReadAll(StorageArray& a, const std::string& id, uint64_t size) {
    std::vector<uint8_t> out(size, 0xEE);
    Status s = a.Read(id, 0, out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  testing::TempDir dir_;
  int made_ = 0;
};

TEST_P(ArrayTest, PoolVolumeIsCutOnDemandAndReadsZero) {
  auto a = Make(8 * kMiB);
  auto v = a->CreateVolume(2 * kMiB);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->size, 2 * kMiB);
  EXPECT_EQ(v->qualities.at("raid"), "1");
  EXPECT_EQ(v->qualities.at("media"), "ssd");
  EXPECT_EQ(v->path.empty(), GetParam() == "memory");
  auto data = ReadAll(*a, v->id, v->size);
  EXPECT_TRUE(std::all_of(data.begin(), data.end(), [](uint8_t b) { return b == 0; }));
  auto found = a->Discover();
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0], *v);
  auto got = a->GetVolume(v->id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, *v);
  EXPECT_EQ(a->info().driver, GetParam());
  EXPECT_EQ(a->info().ports, std::vector<std::string>{"port0"});
}

TEST_P(ArrayTest, PreCarvedArrayHasFixedVolumesAndRefusesToCut) {
  auto a = Make(10 * kMiB, 3 * kMiB);
  auto found = a->Discover();
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 3u);  // 10 / 3, the remainder stays uncarved
  for (size_t i = 0; i < found->size(); ++i) {
    EXPECT_EQ((*found)[i].id, "vol-000" + std::to_string(i + 1));
    EXPECT_EQ((*found)[i].size, 3 * kMiB);
  }
  auto v = a->CreateVolume(kMiB);
  EXPECT_EQ(v.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(v.status().message().find("pre-carved"), std::string::npos) << v.status().message();
}

TEST_P(ArrayTest, PoolExhaustionSaysHowMuchIsFree) {
  auto a = Make(4 * kMiB);
  auto v1 = a->CreateVolume(3 * kMiB);
  ASSERT_TRUE(v1.ok());
  auto v2 = a->CreateVolume(2 * kMiB);
  ASSERT_EQ(v2.status().code(), Code::kResourceExhausted);
  EXPECT_NE(v2.status().message().find("1 MiB of 4 MiB are free"), std::string::npos)
      << v2.status().message();
  ASSERT_TRUE(a->DeleteVolume(v1->id).ok());
  auto v3 = a->CreateVolume(2 * kMiB);
  ASSERT_TRUE(v3.ok()) << v3.status().ToString();
  EXPECT_NE(v3->id, v1->id);  // ids are never handed out twice
  auto gone = a->GetVolume(v1->id);
  EXPECT_EQ(gone.status().code(), Code::kNotFound);
}

TEST_P(ArrayTest, RejectsSizesThatAreNotWholeBlocks) {
  auto a = Make(4 * kMiB);
  EXPECT_EQ(a->CreateVolume(0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(a->CreateVolume(1000).status().code(), Code::kInvalidArgument);
  auto d = a->Discover();
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->empty());
}

TEST_P(ArrayTest, ReadWriteAndBounds) {
  auto a = Make(4 * kMiB);
  auto v = a->CreateVolume(kMiB);
  ASSERT_TRUE(v.ok());
  auto data = Pattern(10000, 3);
  ASSERT_TRUE(a->Write(v->id, 12345, data).ok());
  std::vector<uint8_t> back(data.size());
  ASSERT_TRUE(a->Read(v->id, 12345, back).ok());
  EXPECT_EQ(back, data);
  std::vector<uint8_t> one(1);
  ASSERT_TRUE(a->Read(v->id, 12344, one).ok());
  EXPECT_EQ(one[0], 0);
  EXPECT_EQ(a->Write(v->id, kMiB - 10, data).code(), Code::kOutOfRange);
  EXPECT_EQ(a->Read(v->id, kMiB, one).code(), Code::kOutOfRange);
  EXPECT_EQ(a->Read("vol-9999", 0, one).code(), Code::kNotFound);
  EXPECT_EQ(a->Write("vol-9999", 0, data).code(), Code::kNotFound);
}

TEST_P(ArrayTest, DeallocateZeroesAndFreesRange) {
  auto a = Make(4 * kMiB);
  auto v = a->CreateVolume(kMiB);
  ASSERT_TRUE(v.ok());
  auto data = Pattern(kMiB, 9);
  ASSERT_TRUE(a->Write(v->id, 0, data).ok());
  ASSERT_TRUE(a->Deallocate(v->id, 64 * 1024, 512 * 1024).ok());
  auto back = ReadAll(*a, v->id, kMiB);
  for (uint64_t i = 0; i < kMiB; ++i) {
    bool zeroed = i >= 64 * 1024 && i < 576 * 1024;
    ASSERT_EQ(back[i], zeroed ? 0 : data[i]) << "byte " << i;
  }
  auto mapped = a->MappedRanges(v->id);
  ASSERT_TRUE(mapped.ok());
  // RBD knows allocation per object (4 MiB): a range inside one stays mapped.
  if (GetParam() != "rbd") {
    EXPECT_LE(MappedTotal(*mapped), kMiB - 512 * 1024);
  }
}

TEST_P(ArrayTest, CopyKeepsHolesAndNeverReadsThem) {
  auto a = Make(16 * kMiB);
  auto src = a->CreateVolume(4 * kMiB);
  auto dst = a->CreateVolume(6 * kMiB);
  ASSERT_TRUE(src.ok() && dst.ok());
  auto head = Pattern(8192, 1), mid = Pattern(4096, 2);
  ASSERT_TRUE(a->Write(src->id, 0, head).ok());
  ASSERT_TRUE(a->Write(src->id, 2 * kMiB, mid).ok());
  // The destination held someone else's data everywhere.
  ASSERT_TRUE(a->Write(dst->id, 0, std::vector<uint8_t>(6 * kMiB, 0xAA)).ok());

  // Copy through the wrapper so every read of the source is counted.
  auto src_array = Make(16 * kMiB);
  auto s2 = src_array->CreateVolume(4 * kMiB);
  ASSERT_TRUE(s2.ok());
  ASSERT_TRUE(src_array->Write(s2->id, 0, head).ok());
  ASSERT_TRUE(src_array->Write(s2->id, 2 * kMiB, mid).ok());
  FaultInjectingArray counted(std::move(src_array));
  auto ranges = counted.base().MappedRanges(s2->id);
  ASSERT_TRUE(ranges.ok());
  ASSERT_GE(ranges->size(), 1u);

  // How finely the driver tells data from holes: RBD per object (4 MiB).
  const uint64_t granule = GetParam() == "rbd" ? 4 * kMiB : 512 * 1024 - 1;
  for (int round = 0; round < 2; ++round) {
    Status s = round == 0 ? a->Copy(*a, src->id, dst->id) : a->Copy(counted, s2->id, dst->id);
    ASSERT_TRUE(s.ok()) << s.ToString();
    auto back = ReadAll(*a, dst->id, 6 * kMiB);
    std::vector<uint8_t> want(6 * kMiB, 0);
    std::copy(head.begin(), head.end(), want.begin());
    std::copy(mid.begin(), mid.end(), want.begin() + 2 * kMiB);
    ASSERT_EQ(back, want) << "round " << round;
    auto mapped = a->MappedRanges(dst->id);
    ASSERT_TRUE(mapped.ok());
    EXPECT_LE(MappedTotal(*mapped), granule) << "round " << round;
  }
  // Only the ranges that hold data were read, in chunks of 1 MiB.
  size_t chunks = 0;
  for (const ByteRange& r : *ranges) chunks += (r.length + kMiB - 1) / kMiB;
  EXPECT_EQ(counted.Calls(ArrayOp::kRead), chunks);
  EXPECT_LE(MappedTotal(*ranges), granule);
}

TEST_P(ArrayTest, CopyRefusesASmallerDestinationOrItself) {
  auto a = Make(16 * kMiB);
  auto big = a->CreateVolume(4 * kMiB);
  auto small = a->CreateVolume(2 * kMiB);
  ASSERT_TRUE(big.ok() && small.ok());
  EXPECT_EQ(a->Copy(*a, big->id, small->id).code(), Code::kOutOfRange);
  EXPECT_EQ(a->Copy(*a, big->id, big->id).code(), Code::kInvalidArgument);
  EXPECT_EQ(a->Copy(*a, "vol-9999", big->id).code(), Code::kNotFound);
}

TEST_P(ArrayTest, CopyFromSparseImageFile) {
  auto a = Make(16 * kMiB);
  auto v = a->CreateVolume(4 * kMiB);
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(a->Write(v->id, 3 * kMiB, Pattern(4096, 5)).ok());  // old data past the image
  std::string image = dir_.path() + "/image.raw";
  auto data = Pattern(5000, 7);
  {
    int fd = ::open(image.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 3 * kMiB - 100), 0);  // not a whole number of blocks
    ASSERT_EQ(::pwrite(fd, data.data(), data.size(), kMiB), ssize_t(data.size()));
    ::close(fd);
  }
  ASSERT_TRUE(a->CopyFromFile(image, v->id).ok());
  auto back = ReadAll(*a, v->id, 4 * kMiB);
  std::vector<uint8_t> want(4 * kMiB, 0);
  std::copy(data.begin(), data.end(), want.begin() + kMiB);
  EXPECT_EQ(back, want);
  auto small = a->CreateVolume(kMiB);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(a->CopyFromFile(image, small->id).code(), Code::kOutOfRange);
  EXPECT_EQ(a->CopyFromFile(dir_.path() + "/missing.raw", v->id).code(), Code::kNotFound);
}

TEST_P(ArrayTest, SnapIsAPointInTimeCopy) {
  auto a = Make(16 * kMiB);
  auto src = a->CreateVolume(2 * kMiB);
  auto bcv = a->CreateVolume(2 * kMiB);
  auto small = a->CreateVolume(kMiB);
  ASSERT_TRUE(src.ok() && bcv.ok() && small.ok());
  auto before = Pattern(2 * kMiB, 11);
  ASSERT_TRUE(a->Write(src->id, 0, before).ok());
  ASSERT_TRUE(a->Snap(src->id, bcv->id).ok());
  ASSERT_TRUE(a->Write(src->id, 0, Pattern(2 * kMiB, 99)).ok());
  EXPECT_EQ(ReadAll(*a, bcv->id, 2 * kMiB), before);
  EXPECT_EQ(a->Snap(src->id, small->id).code(), Code::kOutOfRange);
  EXPECT_EQ(a->Snap(src->id, src->id).code(), Code::kInvalidArgument);
}

TEST_P(ArrayTest, SnapNeverCatchesAWriteHalfway) {
  auto a = Make(16 * kMiB);
  auto src = a->CreateVolume(256 * 1024);
  auto bcv = a->CreateVolume(256 * 1024);
  ASSERT_TRUE(src.ok() && bcv.ok());
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (uint8_t k = 1; !stop; k = static_cast<uint8_t>(k % 250 + 1)) {
      ASSERT_TRUE(a->Write(src->id, 0, std::vector<uint8_t>(256 * 1024, k)).ok());
    }
  });
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(a->Snap(src->id, bcv->id).ok());
    auto back = ReadAll(*a, bcv->id, 256 * 1024);
    ASSERT_TRUE(std::all_of(back.begin(), back.end(), [&](uint8_t b) { return b == back[0]; }))
        << "snapshot " << i << " mixes two writes";
  }
  stop = true;
  writer.join();
}

TEST_P(ArrayTest, ScrubLeavesOnlyZerosAndNoStorage) {
  auto a = Make(16 * kMiB);
  auto v = a->CreateVolume(3 * kMiB);
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(a->Write(v->id, 0, Pattern(3 * kMiB, 42)).ok());
  ASSERT_TRUE(a->Grant(v->id, "gw").ok());
  Status s = a->Scrub(v->id);
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto back = ReadAll(*a, v->id, 3 * kMiB);
  EXPECT_TRUE(std::all_of(back.begin(), back.end(), [](uint8_t b) { return b == 0; }));
  auto mapped = a->MappedRanges(v->id);
  ASSERT_TRUE(mapped.ok());
  EXPECT_EQ(MappedTotal(*mapped), 0u);
  auto same = a->GetVolume(v->id);  // the volume itself stays, same size
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->size, 3 * kMiB);
  EXPECT_EQ(a->Scrub("vol-9999").code(), Code::kNotFound);
}

TEST_P(ArrayTest, GrantAndRevoke) {
  auto a = Make(16 * kMiB);
  auto v = a->CreateVolume(kMiB);
  ASSERT_TRUE(v.ok());
  using Names = std::vector<std::string>;
  ASSERT_TRUE(a->Grant(v->id, "iqn.gw-b").ok());
  ASSERT_TRUE(a->Grant(v->id, "iqn.gw-a").ok());
  ASSERT_TRUE(a->Grant(v->id, "iqn.gw-a").ok());  // twice is harmless
  EXPECT_EQ(*a->Grants(v->id), (Names{"iqn.gw-a", "iqn.gw-b"}));
  ASSERT_TRUE(a->Revoke(v->id, "iqn.gw-a").ok());
  ASSERT_TRUE(a->Revoke(v->id, "iqn.gw-a").ok());  // so is revoking twice
  EXPECT_EQ(*a->Grants(v->id), (Names{"iqn.gw-b"}));
  ASSERT_TRUE(a->Grant(v->id, "iqn.gw-c").ok());
  ASSERT_TRUE(a->Revoke(v->id, "").ok());
  EXPECT_TRUE(a->Grants(v->id)->empty());
  EXPECT_EQ(a->Grant(v->id, "").code(), Code::kInvalidArgument);
  EXPECT_EQ(a->Grant("vol-9999", "gw").code(), Code::kNotFound);
  EXPECT_EQ(a->Revoke("vol-9999", "gw").code(), Code::kNotFound);
}

TEST_P(ArrayTest, DiscoveryNoticesVolumesAppearingAndVanishing) {
  auto a = Make(16 * kMiB);
  auto v = a->CreateVolume(kMiB);
  ASSERT_TRUE(v.ok());
  AddByHand(*a, "vol-0000", 2 * kMiB);
  auto d1 = a->Discover();
  ASSERT_TRUE(d1.ok());
  ASSERT_EQ(d1->size(), 2u);
  EXPECT_EQ((*d1)[0].id, "vol-0000");
  EXPECT_EQ((*d1)[0].size, 2 * kMiB);
  EXPECT_EQ((*d1)[0].qualities.at("raid"), "1");
  EXPECT_EQ((*d1)[1].id, v->id);
  auto again = a->Discover();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *d1);  // idempotent

  ASSERT_TRUE(a->Grant(v->id, "gw").ok());
  RemoveByHand(*a, v->id);
  auto d2 = a->Discover();
  ASSERT_TRUE(d2.ok());
  ASSERT_EQ(d2->size(), 1u);
  EXPECT_EQ((*d2)[0].id, "vol-0000");
  EXPECT_EQ(a->Grants(v->id).status().code(), Code::kNotFound);
  // The hand-made volume counts against the pool.
  EXPECT_EQ(a->CreateVolume(15 * kMiB).status().code(), Code::kResourceExhausted);
  EXPECT_TRUE(a->CreateVolume(14 * kMiB).ok());
}

TEST_P(ArrayTest, LocateTellsTheGatewayWhereBytesLive) {
  auto a = Make(16 * kMiB);
  auto v = a->CreateVolume(kMiB);
  ASSERT_TRUE(v.ok());
  auto where = a->Locate(v->id);
  if (GetParam() == "memory") {
    EXPECT_EQ(where.status().code(), Code::kUnimplemented);
    return;
  }
  ASSERT_TRUE(where.ok()) << where.status().ToString();
  ASSERT_EQ(where->size(), 1u);
  EXPECT_EQ((*where)[0].path, v->path);
  EXPECT_EQ((*where)[0].offset, 0u);
  EXPECT_EQ((*where)[0].length, kMiB);
  // An RBD extent names its image (rbd_volume_test.cc does I/O through it).
  EXPECT_EQ((*where)[0].rbd.has_value(), GetParam() == "rbd");
  if (GetParam() == "rbd") return;
  // Bytes written through the array are where Locate says.
  auto data = Pattern(4096, 77);
  ASSERT_TRUE(a->Write(v->id, 8192, data).ok());
  std::vector<uint8_t> raw(4096);
  int fd = ::open((*where)[0].path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pread(fd, raw.data(), raw.size(), 8192), 4096);
  ::close(fd);
  EXPECT_EQ(raw, data);
}

TEST_P(ArrayTest, ConcurrentWritersToSeveralVolumes) {
  auto a = Make(16 * kMiB);
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    auto v = a->CreateVolume(kMiB);
    ASSERT_TRUE(v.ok());
    ids.push_back(v->id);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 16; ++i) {
        auto block = Pattern(64 * 1024, static_cast<uint8_t>(t * 16 + i));
        EXPECT_TRUE(a->Write(ids[t], i * 64 * 1024, block).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) {
    auto back = ReadAll(*a, ids[t], kMiB);
    for (int i = 0; i < 16; ++i) {
      auto block = Pattern(64 * 1024, static_cast<uint8_t>(t * 16 + i));
      ASSERT_TRUE(std::equal(block.begin(), block.end(), back.begin() + i * 64 * 1024))
          << "volume " << t << " block " << i;
    }
  }
}

#ifdef VSL_ARRAY_TEST_RBD
INSTANTIATE_TEST_SUITE_P(Drivers, ArrayTest, ::testing::Values("rbd"),
                         [](const auto& info) { return info.param; });
#else
INSTANTIATE_TEST_SUITE_P(Drivers, ArrayTest, ::testing::Values("file", "memory"),
                         [](const auto& info) { return info.param; });
#endif

TEST(CrossDriverTest, CopiesBetweenFileAndMemoryArrays) {
  testing::TempDir dir;
  auto file = OpenArray({"f", "file", dir.path() + "/f", 16 * kMiB, 0, {}, {}, {}, false});
  auto mem = OpenArray({"m", "memory", "", 16 * kMiB, 0, {}, {}, {}, false});
  ASSERT_TRUE(file.ok() && mem.ok());
  auto fv = (*file)->CreateVolume(2 * kMiB);
  auto mv = (*mem)->CreateVolume(2 * kMiB);
  ASSERT_TRUE(fv.ok() && mv.ok());
  auto data = Pattern(70000, 4);
  ASSERT_TRUE((*mem)->Write(mv->id, kMiB + 3, data).ok());
  ASSERT_TRUE((*file)->Copy(**mem, mv->id, fv->id).ok());
  std::vector<uint8_t> back(data.size());
  ASSERT_TRUE((*file)->Read(fv->id, kMiB + 3, back).ok());
  EXPECT_EQ(back, data);
  ASSERT_TRUE((*mem)->Scrub(mv->id).ok());
  ASSERT_TRUE((*mem)->Copy(**file, fv->id, mv->id).ok());
  std::fill(back.begin(), back.end(), 0);
  ASSERT_TRUE((*mem)->Read(mv->id, kMiB + 3, back).ok());
  EXPECT_EQ(back, data);
  auto* m = dynamic_cast<MemoryArray*>(mem->get());
  ASSERT_NE(m, nullptr);
  EXPECT_LE(m->AllocatedBytes(), 80 * 1024u);  // the holes stayed holes
}

TEST(OpenArrayTest, RejectsBadSpecs) {
  EXPECT_EQ(OpenArray({"", "memory", "", kMiB, 0, {}, {}, {}, false}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(OpenArray({"x", "memory", "", 0, 0, {}, {}, {}, false}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(OpenArray({"x", "memory", "", kMiB, 1000, {}, {}, {}, false}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(OpenArray({"x", "memory", "", kMiB, 2 * kMiB, {}, {}, {}, false}).status().code(),
            Code::kInvalidArgument);
  auto unknown = OpenArray({"x", "ceph", "", kMiB, 0, {}, {}, {}, false});
  EXPECT_EQ(unknown.status().code(), Code::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("ceph"), std::string::npos);
  EXPECT_EQ(OpenArray({"x", "file", "", kMiB, 0, {}, {}, {}, false}).status().code(),
            Code::kInvalidArgument);
}

}  // namespace
}  // namespace vsl::array
