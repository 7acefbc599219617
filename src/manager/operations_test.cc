#include "manager/operations.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "array/test_util.h"
#include "manager/testing_util.h"

namespace vsl::manager {
namespace {

using catalog::Actor;
using testing::kMiB;

class OperationsTest : public testing::ManagerFixture {
 protected:
  void SetUp() override {
    ManagerFixture::SetUp();
    if (HasFatalFailure()) return;
    arrays_.Add(east_);
    arrays_.Add(west_);
    ops_ = std::make_unique<Operations>(&catalog(), &arrays_, &target_, "iqn.gw");
    auto d = ops_->Discover(std::nullopt, actor_);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    ASSERT_TRUE(AddHost("web1").ok());
    ASSERT_TRUE(AddHost("web2").ok());
  }

  // A unit of `size` bytes, Configured.
  int64_t Unit(uint64_t size) {
    AllocateArgs a;
    a.size = size;
    auto u = ops_->AllocateUnit(a, actor_);
    EXPECT_TRUE(u.ok()) << u.status().ToString();
    return u.ok() ? *u : 0;
  }

  std::vector<uint8_t> ReadUnit(int64_t unit, uint64_t n) {
    auto members = ops_->Resolve(unit);
    EXPECT_TRUE(members.ok());
    std::vector<uint8_t> out;
    for (auto& m : *members) {
      std::vector<uint8_t> buf(m.volume.size);
      EXPECT_TRUE(m.array->Read(m.volume.array_volume, 0, buf).ok());
      out.insert(out.end(), buf.begin(), buf.end());
    }
    out.resize(std::min<uint64_t>(n, out.size()));
    return out;
  }

  std::string WriteImageFile(uint64_t size) {
    std::string path = test_db().dir() + "/image.raw";
    std::ofstream f(path, std::ios::binary);
    for (uint64_t i = 0; i < size; ++i) f.put(static_cast<char>((i * 7 + 3) % 251));
    return path;
  }

  bool Zero(const std::vector<uint8_t>& b) {
    return std::all_of(b.begin(), b.end(), [](uint8_t c) { return c == 0; });
  }

  ArraySet arrays_;
  std::unique_ptr<Operations> ops_;
  Actor actor_{"test", std::nullopt};
};

TEST_P(OperationsTest, DiscoveryRecordsVolumesPortsAndWiringMap) {
  EXPECT_EQ(Volumes(DiskState::kFree).size(), 6u);
  Status s = catalog().Read([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(auto a, catalog().GetArrayByName(tx, "east"));
    EXPECT_NE(a.dwml.find("<device name=\"east\""), std::string::npos) << a.dwml;
    EXPECT_NE(a.dwml.find("raid"), std::string::npos);
    VSL_ASSIGN_OR_RETURN(auto ports, catalog().ListPorts(tx, a.id));
    EXPECT_EQ(ports.size(), 1u);
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  // Again: nothing new.
  auto again = ops_->Discover(std::nullopt, actor_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->added, 0);
  EXPECT_EQ(again->vanished, 0);
  EXPECT_EQ(Volumes().size(), 6u);
  // A volume added and one removed behind vsl's back.
  ASSERT_TRUE(Base(*east_).AddVolumeBehindBack("extra", kMiB).ok());
  auto vols = Volumes();
  std::string gone = vols.front().array_volume;
  ASSERT_TRUE(Base(*east_).RemoveVolumeBehindBack(gone).ok());
  auto d = ops_->Discover(std::string("east"), actor_);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->added, 1);
  EXPECT_EQ(d->vanished, 1);
  EXPECT_TRUE(Get(vols.front().id).vanished);
  // A vanished volume is never allocated.
  AllocateArgs a;
  a.size = kMiB;
  for (int i = 0; i < 6; ++i) {
    auto got = ops_->Allocate(a, actor_);
    ASSERT_TRUE(got.ok()) << i << ": " << got.status().ToString();
    EXPECT_NE(got->front(), vols.front().id);
  }
  EXPECT_EQ(ops_->Allocate(a, actor_).status().code(), Code::kResourceExhausted);
}

// The seed's whole life of a disk: allocated across two arrays, configured
// into a meta volume, an image copied on, bound, mapped, unmapped, unbound,
// scrubbed and freed; given to the next host it reads only zeros.
TEST_P(OperationsTest, LifecycleOfAMetaVolumeAcrossTwoArrays) {
  std::string file = WriteImageFile(kMiB / 2 + 4096);
  auto img = ops_->ImportImage("debian", file, actor_);
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  EXPECT_EQ(img->size, kMiB / 2 + 4096);
  EXPECT_EQ(img->sha256.size(), 64u);
  EXPECT_EQ(Get(*img->master_volume_id).state, DiskState::kConfigured);

  // 4 MiB: no array has four free volumes.
  int64_t unit = Unit(4 * kMiB);
  ASSERT_NE(unit, 0);
  catalog::Volume meta = Get(unit);
  EXPECT_EQ(meta.type, "meta");
  EXPECT_EQ(meta.size, 4 * kMiB);
  EXPECT_EQ(meta.state, DiskState::kConfigured);
  auto members = ops_->Resolve(unit);
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->size(), 4u);
  std::set<std::string> arrays;
  for (auto& m : *members) {
    arrays.insert(m.array->info().name);
    EXPECT_EQ(m.volume.state, DiskState::kConfigured);
    EXPECT_EQ(m.volume.parent_id, unit);
  }
  EXPECT_EQ(arrays.size(), 2u);

  ASSERT_TRUE(ops_->CopyImage(unit, "debian", actor_).ok());
  auto bytes = ReadUnit(unit, kMiB);
  std::ifstream in(file, std::ios::binary);
  std::vector<uint8_t> want((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.begin() + want.size()), want);
  EXPECT_TRUE(Zero(std::vector<uint8_t>(bytes.begin() + want.size(), bytes.end())));
  EXPECT_FALSE(Get(unit).clean);
  EXPECT_EQ(Get(unit).image_id, img->id);

  ASSERT_TRUE(ops_->Bind(unit, "web1", 0, std::nullopt, actor_).ok());
  EXPECT_EQ(Get(unit).state, DiskState::kBound);
  for (auto& m : *members) {
    auto g = m.array->Grants(m.volume.array_volume);
    ASSERT_TRUE(g.ok());
    EXPECT_EQ(*g, std::vector<std::string>{"iqn.gw"});
  }
  ASSERT_TRUE(ops_->Map(unit, std::nullopt, actor_).ok());
  EXPECT_EQ(Get(unit).state, DiskState::kMapped);
  EXPECT_EQ(target_.mapped(), (std::map<std::string, std::string>{{"web1/0", std::to_string(unit)}}));
  ASSERT_EQ(BindingsOf(unit).size(), 1u);
  EXPECT_TRUE(BindingsOf(unit)[0].mapped);

  ASSERT_TRUE(ops_->Unmap(unit, std::nullopt, actor_).ok());
  EXPECT_EQ(Get(unit).state, DiskState::kUnmapped);
  EXPECT_TRUE(target_.mapped().empty());
  ASSERT_TRUE(ops_->Unbind(unit, std::nullopt, actor_).ok());
  EXPECT_EQ(Get(unit).state, DiskState::kUnbound);
  EXPECT_TRUE(BindingsOf(unit).empty());
  for (auto& m : *members) EXPECT_TRUE(m.array->Grants(m.volume.array_volume)->empty());

  // Not free before the scrub.
  ASSERT_TRUE(ops_->Scrub(unit, actor_).ok());
  EXPECT_EQ(Get(unit).state, DiskState::kUnbound);
  EXPECT_TRUE(Get(unit).clean);
  EXPECT_TRUE(Zero(ReadUnit(unit, 4 * kMiB)));
  ASSERT_TRUE(ops_->Free(unit, actor_).ok());
  for (auto& m : *members) {
    catalog::Volume v = Get(m.volume.id);
    EXPECT_EQ(v.state, DiskState::kFree);
    EXPECT_FALSE(v.parent_id.has_value());
    EXPECT_TRUE(v.clean);
  }
  EXPECT_EQ(catalog().Read([&](catalog::Tx& tx) { return catalog().GetVolume(tx, unit).status(); }).code(),
            Code::kNotFound);

  // The next host gets zeros.
  int64_t next = Unit(4 * kMiB);
  ASSERT_NE(next, 0);
  EXPECT_TRUE(Zero(ReadUnit(next, 4 * kMiB)));
}

TEST_P(OperationsTest, FreeScrubsWhatMayHoldData) {
  int64_t unit = Unit(kMiB);
  ASSERT_TRUE(ops_->CopyVolume(unit, unit, actor_).code() == Code::kInvalidArgument);
  auto members = ops_->Resolve(unit);
  ASSERT_TRUE(members.ok());
  std::vector<uint8_t> junk(4096, 0xab);
  ASSERT_TRUE((*members)[0].array->Write((*members)[0].volume.array_volume, 8192, junk).ok());
  ASSERT_TRUE(ops_->Bind(unit, "web1", 1, std::nullopt, actor_).ok());
  ASSERT_TRUE(ops_->Unbind(unit, std::nullopt, actor_).ok());
  int scrubs = static_cast<int>(east_->Calls(array::ArrayOp::kScrub) + west_->Calls(array::ArrayOp::kScrub));
  ASSERT_TRUE(ops_->Free(unit, actor_).ok());
  EXPECT_EQ(east_->Calls(array::ArrayOp::kScrub) + west_->Calls(array::ArrayOp::kScrub), scrubs + 1u);
  EXPECT_EQ(Get(unit).state, DiskState::kFree);
  EXPECT_TRUE(Zero(ReadUnit(unit, kMiB)));
}

TEST_P(OperationsTest, IllegalOperationsAreRefusedByName) {
  int64_t unit = Unit(kMiB);
  Status s = ops_->Map(unit, std::nullopt, actor_);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("bind it before map"), std::string::npos) << s.ToString();
  ASSERT_TRUE(ops_->Bind(unit, "web1", 0, std::nullopt, actor_).ok());
  ASSERT_TRUE(ops_->Map(unit, std::nullopt, actor_).ok());
  s = ops_->Free(unit, actor_);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("volume " + std::to_string(unit) + " is mapped"), std::string::npos) << s.ToString();
  s = ops_->Scrub(unit, actor_);
  EXPECT_NE(s.message().find("scrub is not allowed"), std::string::npos) << s.ToString();
  EXPECT_EQ(Get(unit).state, DiskState::kMapped);
  // LUN 0 of web1 is taken.
  int64_t other = Unit(kMiB);
  s = ops_->Bind(other, "web1", 0, std::nullopt, actor_);
  EXPECT_EQ(s.code(), Code::kAlreadyExists) << s.ToString();
  EXPECT_EQ(Get(other).state, DiskState::kConfigured);
}

TEST_P(OperationsTest, ExhaustionIsAClearError) {
  AllocateArgs a;
  a.size = 100 * kMiB;
  auto r = ops_->Allocate(a, actor_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted);
  EXPECT_NE(r.status().message().find("6 free volumes hold " + std::to_string(6 * kMiB)), std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(Volumes(DiskState::kFree).size(), 6u);
}

TEST_P(OperationsTest, QualitiesChooseTheArray) {
  auto ssd = MakeArray("ssd", 2, {{"media", "ssd"}});
  arrays_.Add(ssd);
  ASSERT_TRUE(ops_->Discover(std::string("ssd"), actor_).ok());
  AllocateArgs a;
  a.size = kMiB;
  a.qualities = {{"media", "ssd"}};
  auto r = ops_->Allocate(a, actor_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto members = ops_->Resolve(r->front());
  ASSERT_TRUE(members.ok());
  EXPECT_EQ(members->front().array->info().name, "ssd");
  a.qualities = {{"media", "tape"}};
  EXPECT_EQ(ops_->Allocate(a, actor_).status().code(), Code::kResourceExhausted);
}

// Storage with qualities nobody asked for is spent last.
TEST_P(OperationsTest, AllocationSparesQualitiesNobodyAskedFor) {
  auto plain = MakeArray("plain", 2, {});
  arrays_.Add(plain);
  ASSERT_TRUE(ops_->Discover(std::string("plain"), actor_).ok());
  auto array_of = [&](int64_t id) {
    auto m = ops_->Resolve(id);
    EXPECT_TRUE(m.ok());
    return m.ok() ? m->front().array->info().name : std::string();
  };
  AllocateArgs any;
  any.size = kMiB;
  for (int i = 0; i < 2; ++i) {
    auto r = ops_->Allocate(any, actor_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(array_of(r->front()), "plain") << "allocation " << i << " asks nothing: plain storage first";
  }
  // Plain storage is used up: the raid=1 arrays serve the next one.
  auto r = ops_->Allocate(any, actor_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(array_of(r->front()), "plain");
  // A request that asks raid=1 never gets plain storage.
  AllocateArgs raid;
  raid.size = kMiB;
  raid.qualities = {{"raid", "1"}};
  auto q = ops_->Allocate(raid, actor_);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_NE(array_of(q->front()), "plain");
  // Too big for every level: the error counts all the storage there is.
  any.size = 100 * kMiB;
  auto big = ops_->Allocate(any, actor_);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("4 free volumes hold " + std::to_string(4 * kMiB)), std::string::npos)
      << big.status().ToString();
}

TEST_P(OperationsTest, PoolArraysCutVolumesOnDemand) {
  auto pool = MakeArray("pool", 8, {{"raid", "5"}}, /*volume_size=*/0);
  arrays_.Add(pool);
  ASSERT_TRUE(ops_->Discover(std::string("pool"), actor_).ok());
  AllocateArgs a;
  a.size = 3 * kMiB + 100;  // rounded up to whole blocks
  a.qualities = {{"raid", "5"}};
  auto r = ops_->Allocate(a, actor_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  catalog::Volume v = Get(r->front());
  EXPECT_EQ(v.state, DiskState::kAllocated);
  EXPECT_EQ(v.size, 3 * kMiB + 512);
  EXPECT_TRUE(pool->GetVolume(v.array_volume).ok());
  a.size = 5 * kMiB;  // 8 - 3.x MiB left
  EXPECT_EQ(ops_->Allocate(a, actor_).status().code(), Code::kResourceExhausted);
}

// Many threads allocate at once: each volume goes to one of them only.
TEST_P(OperationsTest, ConcurrentAllocationsNeverShareAVolume) {
  std::mutex mu;
  std::vector<int64_t> got;
  std::atomic<int> exhausted{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 9; ++t) {
    ts.emplace_back([&, t] {
      AllocateArgs a;
      a.size = kMiB;
      auto r = ops_->Allocate(a, Actor{"t" + std::to_string(t), std::nullopt});
      if (!r.ok()) {
        EXPECT_EQ(r.status().code(), Code::kResourceExhausted) << r.status().ToString();
        ++exhausted;
        return;
      }
      std::lock_guard<std::mutex> l(mu);
      got.insert(got.end(), r->begin(), r->end());
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(got.size(), 6u);
  EXPECT_EQ(std::set<int64_t>(got.begin(), got.end()).size(), 6u);
  EXPECT_EQ(exhausted.load(), 3);
  EXPECT_TRUE(Volumes(DiskState::kFree).empty());
}

// ---- the seed's failure arcs, each then retried ----

TEST_P(OperationsTest, MakeMetaFailureLeavesMembersUnconfigured) {
  AllocateArgs a;
  a.size = 2 * kMiB;
  auto ids = ops_->Allocate(a, actor_);
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->size(), 2u);
  east_->FailNth(array::ArrayOp::kStat, 1, IoError("symconfig: meta device refused"));
  west_->FailNth(array::ArrayOp::kStat, 1, IoError("symconfig: meta device refused"));
  auto unit = ops_->MetaCreate(*ids, actor_);
  ASSERT_FALSE(unit.ok());
  EXPECT_NE(unit.status().message().find("meta device refused"), std::string::npos);
  for (int64_t id : *ids) {
    EXPECT_EQ(Get(id).state, DiskState::kUnconfigured);
    EXPECT_FALSE(Get(id).parent_id.has_value());
    EXPECT_TRUE(Get(id).clean);  // nothing was written: no scrub needed
  }
  EXPECT_EQ(Volumes().size(), 6u);  // no meta row left behind
  for (int64_t id : *ids) ASSERT_TRUE(ops_->Free(id, actor_).ok());
  EXPECT_EQ(Volumes(DiskState::kFree).size(), 6u);
  east_->Reset();
  west_->Reset();
  EXPECT_NE(Unit(2 * kMiB), 0);
}

TEST_P(OperationsTest, CopyFailureLeavesTheUnitUnconfigured) {
  std::string file = WriteImageFile(8192);
  ASSERT_TRUE(ops_->ImportImage("img", file, actor_).ok());
  int64_t unit = Unit(kMiB);
  east_->FailAlways(array::ArrayOp::kCopy, IoError("TimeFinder: copy failed"));
  west_->FailAlways(array::ArrayOp::kCopy, IoError("TimeFinder: copy failed"));
  Status s = ops_->CopyImage(unit, "img", actor_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("copy failed"), std::string::npos);
  EXPECT_EQ(Get(unit).state, DiskState::kUnconfigured);
  EXPECT_FALSE(Get(unit).clean);  // half a copy may be there
  ASSERT_TRUE(ops_->Free(unit, actor_).ok());
  EXPECT_EQ(Get(unit).state, DiskState::kFree);
  east_->Heal(array::ArrayOp::kCopy);
  west_->Heal(array::ArrayOp::kCopy);
  int64_t again = Unit(kMiB);
  ASSERT_TRUE(ops_->CopyImage(again, "img", actor_).ok());
  EXPECT_EQ(Get(again).state, DiskState::kConfigured);
}

TEST_P(OperationsTest, BindFailureLeavesTheUnitUnconfiguredAndUnreachable) {
  int64_t unit = Unit(2 * kMiB);
  auto members = ops_->Resolve(unit);
  ASSERT_TRUE(members.ok());
  // The second member's grant fails: the first one's must not stay behind.
  auto& second = (*members)[1];
  auto* fault = second.array == east_ ? east_.get() : west_.get();
  uint64_t n = (*members)[0].array == second.array ? 2 : 1;
  fault->FailNth(array::ArrayOp::kGrant, n, Unavailable("VolumeLogix: no path"));
  Status s = ops_->Bind(unit, "web1", 0, std::nullopt, actor_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(Get(unit).state, DiskState::kUnconfigured);
  EXPECT_TRUE(BindingsOf(unit).empty());
  for (auto& m : *members) EXPECT_TRUE(m.array->Grants(m.volume.array_volume)->empty());
  ASSERT_TRUE(ops_->Free(unit, actor_).ok());
  int64_t again = Unit(2 * kMiB);
  ASSERT_TRUE(ops_->Bind(again, "web1", 0, std::nullopt, actor_).ok());
  EXPECT_EQ(Get(again).state, DiskState::kBound);
}

TEST_P(OperationsTest, MapFailureRemovesBindingsAndRebindRecovers) {
  int64_t unit = Unit(kMiB);
  ASSERT_TRUE(ops_->Bind(unit, "web1", 0, std::nullopt, actor_).ok());
  target_.FailNextMap();
  Status s = ops_->Map(unit, std::nullopt, actor_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("gateway refused"), std::string::npos);
  EXPECT_EQ(Get(unit).state, DiskState::kUnbound);
  EXPECT_TRUE(BindingsOf(unit).empty());
  auto members = ops_->Resolve(unit);
  for (auto& m : *members) EXPECT_TRUE(m.array->Grants(m.volume.array_volume)->empty());
  EXPECT_TRUE(target_.mapped().empty());
  // FIG. 7's disk array bind (721) back to Bound, then map again.
  ASSERT_TRUE(ops_->Bind(unit, "web1", 0, std::nullopt, actor_).ok());
  EXPECT_EQ(Get(unit).state, DiskState::kBound);
  ASSERT_TRUE(ops_->Map(unit, std::nullopt, actor_).ok());
  EXPECT_EQ(Get(unit).state, DiskState::kMapped);
}

// ---- idempotence: every operation may run twice ----

TEST_P(OperationsTest, OperationsRunTwiceAreHarmless) {
  Actor req{"w", int64_t{4242}};
  AllocateArgs a;
  a.size = 2 * kMiB;
  auto first = ops_->AllocateUnit(a, req);
  auto second = ops_->AllocateUnit(a, req);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(*first, *second);
  EXPECT_EQ(Volumes(DiskState::kFree).size(), 4u);
  int64_t unit = *first;
  ASSERT_TRUE(ops_->Bind(unit, "web1", 3, std::nullopt, req).ok());
  ASSERT_TRUE(ops_->Bind(unit, "web1", 3, std::nullopt, req).ok());
  EXPECT_EQ(BindingsOf(unit).size(), 1u);
  ASSERT_TRUE(ops_->Map(unit, std::nullopt, req).ok());
  ASSERT_TRUE(ops_->Map(unit, std::nullopt, req).ok());
  EXPECT_EQ(target_.Count("map"), 1);
  ASSERT_TRUE(ops_->Unmap(unit, std::nullopt, req).ok());
  ASSERT_TRUE(ops_->Unmap(unit, std::nullopt, req).ok());
  EXPECT_EQ(target_.Count("unmap"), 1);
  ASSERT_TRUE(ops_->Unbind(unit, std::nullopt, req).ok());
  ASSERT_TRUE(ops_->Unbind(unit, std::nullopt, req).ok());
  ASSERT_TRUE(ops_->Free(unit, req).ok());
  // The meta volume is gone now; this request freed it, so a re-run is done.
  ASSERT_TRUE(ops_->Free(unit, req).ok());
  EXPECT_EQ(ops_->Free(unit, actor_).code(), Code::kNotFound);
  EXPECT_EQ(Volumes(DiskState::kFree).size(), 6u);
}

TEST_P(OperationsTest, SharedDiskStaysMappedUntilItsLastHostLeaves) {
  int64_t unit = Unit(kMiB);
  ASSERT_TRUE(ops_->Bind(unit, "web1", 1, std::nullopt, actor_).ok());
  ASSERT_TRUE(ops_->Bind(unit, "web2", 1, std::nullopt, actor_).ok());
  ASSERT_TRUE(ops_->Map(unit, std::nullopt, actor_).ok());
  EXPECT_EQ(target_.mapped().size(), 2u);
  ASSERT_TRUE(ops_->Unmap(unit, std::string("web1"), actor_).ok());
  EXPECT_EQ(Get(unit).state, DiskState::kMapped);
  ASSERT_EQ(BindingsOf(unit).size(), 1u);
  EXPECT_EQ(target_.mapped(), (std::map<std::string, std::string>{{"web2/1", std::to_string(unit)}}));
  ASSERT_TRUE(ops_->Unmap(unit, std::string("web2"), actor_).ok());
  EXPECT_EQ(Get(unit).state, DiskState::kUnmapped);
}

// One host of a shared unit lets go before it was mapped; the others keep
// the unit, and the arrays keep granting it to the gateway.
TEST_P(OperationsTest, UnbindOfOneHostKeepsTheUnitForTheOthers) {
  int64_t unit = Unit(kMiB);
  ASSERT_TRUE(ops_->Bind(unit, "web1", 1, std::nullopt, actor_).ok());
  ASSERT_TRUE(ops_->Bind(unit, "web2", 2, std::nullopt, actor_).ok());
  ASSERT_TRUE(ops_->Map(unit, std::string("web2"), actor_).ok());
  // web2's binding is mapped: it must be unmapped first.
  Status mapped = ops_->Unbind(unit, std::string("web2"), actor_);
  EXPECT_EQ(mapped.code(), Code::kFailedPrecondition);
  EXPECT_NE(mapped.message().find("unmap it before unbind"), std::string::npos) << mapped.ToString();
  ASSERT_TRUE(ops_->Unbind(unit, std::string("web1"), actor_).ok());
  EXPECT_EQ(Get(unit).state, DiskState::kMapped);
  auto left = BindingsOf(unit);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].lun, 2);
  auto members = ops_->Resolve(unit);
  ASSERT_TRUE(members.ok());
  EXPECT_EQ(*members->front().array->Grants(members->front().volume.array_volume),
            std::vector<std::string>{"iqn.gw"});
  // Run again: web1 holds nothing any more, which is what was asked.
  EXPECT_TRUE(ops_->Unbind(unit, std::string("web1"), actor_).ok());
  EXPECT_EQ(BindingsOf(unit).size(), 1u);
  // The last host's unbind is the whole unbind.
  ASSERT_TRUE(ops_->Unmap(unit, std::nullopt, actor_).ok());
  ASSERT_TRUE(ops_->Unbind(unit, std::string("web2"), actor_).ok());
  EXPECT_EQ(Get(unit).state, DiskState::kUnbound);
  EXPECT_TRUE(members->front().array->Grants(members->front().volume.array_volume)->empty());
}

// A mapped meta unit grows in place: new members at its end, in its state,
// granted to the gateway, and the gateway told its new extents.
TEST_P(OperationsTest, GrowConcatenatesInPlaceAndTellsTheGateway) {
  auto r = ops_->Run("allocate-unit", Json{{"size", kMiB}, {"meta", true}}, actor_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  int64_t unit = (*r)["volume"].get<int64_t>();
  EXPECT_EQ(Get(unit).type, "meta") << "meta=true makes a meta volume of one member";
  auto first = ops_->Resolve(unit);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 1u);
  std::vector<uint8_t> data(512, 0x42);
  ASSERT_TRUE(first->front().array->Write(first->front().volume.array_volume, 0, data).ok());
  ASSERT_TRUE(ops_->Bind(unit, "web1", 0, std::nullopt, actor_).ok());
  ASSERT_TRUE(ops_->Map(unit, std::nullopt, actor_).ok());

  auto grown = ops_->Run("grow", Json{{"volume", unit}, {"size", 3 * kMiB}}, actor_);
  ASSERT_TRUE(grown.ok()) << grown.status().ToString();
  EXPECT_EQ((*grown)["size"].get<uint64_t>(), 3 * kMiB);
  EXPECT_EQ((*grown)["volume"].get<int64_t>(), unit);
  EXPECT_EQ(Get(unit).size, 3 * kMiB);
  EXPECT_EQ(Get(unit).state, DiskState::kMapped);
  auto members = ops_->Resolve(unit);
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->size(), 3u);
  EXPECT_EQ((*members)[0].volume.id, first->front().volume.id) << "the old member stays first";
  for (auto& m : *members) {
    EXPECT_EQ(m.volume.state, DiskState::kMapped);
    EXPECT_EQ(*m.array->Grants(m.volume.array_volume), std::vector<std::string>{"iqn.gw"});
  }
  EXPECT_EQ(ReadUnit(unit, 512), data) << "growth keeps the data";
  int told = 0;
  for (auto& c : target_.calls()) told += c.what == "grow" && c.volume_id == std::to_string(unit);
  EXPECT_EQ(told, 1);

  // Big enough already (or asked to shrink): nothing changes; the gateway is
  // told the same extents again (harmless), no volume is taken.
  size_t free_before = Volumes(DiskState::kFree).size();
  auto again = ops_->Grow(unit, 2 * kMiB, {}, actor_);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, 3 * kMiB);
  EXPECT_EQ(Volumes(DiskState::kFree).size(), free_before);

  // Not enough storage: a clear error, the unit as it was, nothing taken.
  auto too_big = ops_->Grow(unit, 100 * kMiB, {}, actor_);
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.status().code(), Code::kResourceExhausted);
  EXPECT_NE(too_big.status().message().find("grow of volume " + std::to_string(unit)), std::string::npos)
      << too_big.status().ToString();
  EXPECT_EQ(Get(unit).size, 3 * kMiB);
  EXPECT_EQ(Volumes(DiskState::kFree).size(), free_before);
}

// Migrate (docs/migration.md) of a meta unit that is not mapped: copied onto
// new volumes with the asked qualities, switched in one transaction (same
// unit id), the old members scrubbed and freed. A re-run of the request
// finds it done; a unit there already, a quality no array has and a plain
// volume are refused or left alone, changing nothing.
TEST_P(OperationsTest, MigrateMovesAConfiguredUnitAndRefusesClearly) {
  auto fast = MakeArray("fast", 1, {{"class", "fast"}}, 2 * kMiB);
  arrays_.Add(fast);
  ASSERT_TRUE(ops_->Discover(std::string("fast"), actor_).ok());
  auto r = ops_->Run("allocate-unit", Json{{"size", 2 * kMiB}, {"meta", true}, {"qualities", {{"raid", "1"}}}},
                     actor_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  int64_t unit = (*r)["volume"].get<int64_t>();
  auto old = ops_->Resolve(unit);
  ASSERT_TRUE(old.ok());
  ASSERT_EQ(old->size(), 2u);
  std::vector<uint8_t> data(kMiB, 0x5a);
  for (auto& m : *old) ASSERT_TRUE(m.array->Write(m.volume.array_volume, 0, data).ok());

  auto none = ops_->Run("migrate", Json{{"volume", unit}, {"qualities", {{"class", "nope"}}}}, actor_);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(none.status().message().find("no array has class=nope"), std::string::npos) << none.status().ToString();
  EXPECT_EQ(ops_->Run("migrate", Json{{"volume", unit}}, actor_).status().code(), Code::kInvalidArgument);
  int64_t plain = Unit(kMiB);
  auto p = ops_->Run("migrate", Json{{"volume", plain}, {"qualities", {{"class", "fast"}}}}, actor_);
  EXPECT_NE(p.status().message().find("not a meta volume"), std::string::npos) << p.status().ToString();

  Actor req{"worker", 77};
  auto m = ops_->Run("migrate", Json{{"volume", unit}, {"qualities", {{"class", "fast"}}}}, req);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE((*m)["moved"].get<bool>());
  EXPECT_EQ(Get(unit).state, DiskState::kConfigured);
  auto now = ops_->Resolve(unit);
  ASSERT_TRUE(now.ok());
  ASSERT_EQ(now->size(), 1u);
  EXPECT_EQ(now->front().array->info().name, "fast");
  EXPECT_EQ(ReadUnit(unit, 2 * kMiB), std::vector<uint8_t>(2 * kMiB, 0x5a)) << "the copy holds the data";
  for (auto& o : *old) {
    EXPECT_EQ(Get(o.volume.id).state, DiskState::kFree);
    std::vector<uint8_t> buf(kMiB);
    ASSERT_TRUE(o.array->Read(o.volume.array_volume, 0, buf).ok());
    EXPECT_EQ(buf, std::vector<uint8_t>(kMiB, 0)) << "old member " << o.volume.id << " scrubbed";
  }
  // The same request again (a worker that died before saying so): done.
  auto again = ops_->Run("migrate", Json{{"volume", unit}, {"qualities", {{"class", "fast"}}}}, req);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE((*again)["moved"].get<bool>());
  EXPECT_EQ(ops_->Resolve(unit)->front().volume.id, now->front().volume.id);
  // Another request: there already, nothing moves.
  auto there = ops_->Run("migrate", Json{{"volume", unit}, {"qualities", {{"class", "fast"}}}}, actor_);
  ASSERT_TRUE(there.ok()) << there.status().ToString();
  EXPECT_FALSE((*there)["moved"].get<bool>());
  EXPECT_NE((*there)["note"].get<std::string>().find("already"), std::string::npos);
  // Back onto raid=1 (two 1 MiB volumes again), then the data is there.
  auto back = ops_->Run("migrate", Json{{"volume", unit}, {"qualities", {{"raid", "1"}}}}, Actor{"worker", 78});
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(ops_->Resolve(unit)->size(), 2u);
  EXPECT_EQ(ReadUnit(unit, 2 * kMiB), std::vector<uint8_t>(2 * kMiB, 0x5a));
}

// The catalog recorded a mapped unit's switch and the gateway's switch then
// failed (the run's immediate retry too): the request fails, the gateway
// still serves the old members, which are kept unbound. One more migrate
// repairs it: the gateway moves onto the recorded members, the old ones are
// revoked, scrubbed and freed.
TEST_P(OperationsTest, MigrateRepairsARecordedSwitchTheGatewayDidNotMake) {
  for (const char* name : {"fa", "fb"}) {
    auto opened = array::OpenArray(
        array::testing::FileSpec(name, test_db().dir() + "/" + name, 2 * kMiB, kMiB, {{"media", name}}));
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    arrays_.Add(std::shared_ptr<array::StorageArray>(std::move(opened).value()));
    ASSERT_TRUE(ops_->Discover(std::string(name), actor_).ok());
  }
  AllocateArgs a;
  a.size = kMiB;
  a.meta = true;
  a.qualities = {{"media", "fa"}};
  auto unit = ops_->AllocateUnit(a, actor_);
  ASSERT_TRUE(unit.ok()) << unit.status().ToString();
  ASSERT_TRUE(ops_->Bind(*unit, "web1", 0, std::nullopt, actor_).ok());
  ASSERT_TRUE(ops_->Map(*unit, std::nullopt, actor_).ok());
  const std::string id = std::to_string(*unit);
  auto old = ops_->Resolve(*unit);
  ASSERT_TRUE(old.ok());
  const auto old_served = target_.served(id);
  ASSERT_FALSE(old_served.empty());
  std::vector<uint8_t> data(kMiB, 0x3c);
  for (auto& m : *old) ASSERT_TRUE(m.array->Write(m.volume.array_volume, 0, data).ok());

  target_.FailSwitches(2);
  auto r = ops_->Run("migrate", Json{{"volume", *unit}, {"qualities", {{"media", "fb"}}}},
                     Actor{"w", 90});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("the gateway did not switch"), std::string::npos)
      << r.status().ToString();
  auto now = ops_->Resolve(*unit);
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->front().array->info().name, "fb") << "the catalog recorded the switch";
  EXPECT_EQ(target_.served(id), old_served) << "the gateway serves the old members";
  for (auto& m : *old) EXPECT_EQ(Get(m.volume.id).state, DiskState::kUnbound);

  auto again = ops_->Run("migrate", Json{{"volume", *unit}, {"qualities", {{"media", "fb"}}}},
                         Actor{"w", 91});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE((*again)["moved"].get<bool>()) << again->dump();
  ASSERT_TRUE(again->contains("repaired")) << again->dump();
  EXPECT_EQ((*again)["repaired"].size(), old->size());
  auto want = now->front().array->Locate(now->front().volume.array_volume);
  ASSERT_TRUE(want.ok());
  EXPECT_EQ(target_.served(id), *want) << "the gateway serves the recorded members";
  for (auto& m : *old) {
    EXPECT_EQ(Get(m.volume.id).state, DiskState::kFree);
    std::vector<uint8_t> buf(kMiB);
    ASSERT_TRUE(m.array->Read(m.volume.array_volume, 0, buf).ok());
    EXPECT_EQ(buf, std::vector<uint8_t>(kMiB, 0)) << "old member " << m.volume.id << " scrubbed";
  }
  EXPECT_EQ(Get(*unit).state, DiskState::kMapped);
}

TEST_P(OperationsTest, GrowGivesBackWhatItTookWhenAStepFails) {
  AllocateArgs a;
  a.size = kMiB;
  a.meta = true;
  auto unit = ops_->AllocateUnit(a, actor_);
  ASSERT_TRUE(unit.ok()) << unit.status().ToString();
  ASSERT_TRUE(ops_->Bind(*unit, "web1", 0, std::nullopt, actor_).ok());
  size_t free_before = Volumes(DiskState::kFree).size();
  east_->FailAlways(array::ArrayOp::kGrant, Unavailable("east refuses grants"));
  west_->FailAlways(array::ArrayOp::kGrant, Unavailable("west refuses grants"));
  auto r = ops_->Grow(*unit, 2 * kMiB, {}, actor_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("refuses grants"), std::string::npos) << r.status().ToString();
  EXPECT_EQ(Get(*unit).state, DiskState::kBound);
  EXPECT_EQ(Get(*unit).size, kMiB);
  EXPECT_EQ(Volumes(DiskState::kFree).size(), free_before) << "the volume it took is free again";
  east_->Heal(array::ArrayOp::kGrant);
  west_->Heal(array::ArrayOp::kGrant);
  ASSERT_TRUE(ops_->Grow(*unit, 2 * kMiB, {}, actor_).ok());
  EXPECT_EQ(Get(*unit).size, 2 * kMiB);
  EXPECT_EQ(Get(*unit).state, DiskState::kBound);
}

TEST_P(OperationsTest, GrowRefusesWhatCannotGrowInPlace) {
  int64_t plain = Unit(kMiB);
  auto r = ops_->Grow(plain, 2 * kMiB, {}, actor_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("is not a meta volume"), std::string::npos) << r.status().ToString();
  // A unit on its way back to the pool does not grow.
  AllocateArgs a;
  a.size = kMiB;
  a.meta = true;
  auto unit = ops_->AllocateUnit(a, actor_);
  ASSERT_TRUE(unit.ok());
  ASSERT_TRUE(ops_->Bind(*unit, "web1", 0, std::nullopt, actor_).ok());
  ASSERT_TRUE(ops_->Unbind(*unit, std::nullopt, actor_).ok());
  r = ops_->Grow(*unit, 2 * kMiB, {}, actor_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unbound: grow is not allowed"), std::string::npos) << r.status().ToString();
  EXPECT_EQ(ops_->Run("grow", Json{{"volume", *unit}}, actor_).status().code(), Code::kInvalidArgument);
}

TEST_P(OperationsTest, SnapCopiesAMappedUnitIntoItsBackupVolume) {
  int64_t unit = Unit(kMiB);
  auto members = ops_->Resolve(unit);
  std::vector<uint8_t> data(4096, 0x5a);
  ASSERT_TRUE((*members)[0].array->Write((*members)[0].volume.array_volume, 65536, data).ok());
  ASSERT_TRUE(ops_->Bind(unit, "web1", 0, std::nullopt, actor_).ok());
  ASSERT_TRUE(ops_->Map(unit, std::nullopt, actor_).ok());
  int64_t bcv = Unit(kMiB);
  ASSERT_TRUE(ops_->Snap(unit, bcv, actor_).ok());
  EXPECT_EQ(Get(unit).state, DiskState::kMapped);
  EXPECT_EQ(Get(unit).bcv_id, bcv);
  EXPECT_EQ(Get(bcv).state, DiskState::kConfigured);
  EXPECT_EQ(ReadUnit(bcv, kMiB), ReadUnit(unit, kMiB));
  // Only a Mapped unit snaps.
  EXPECT_EQ(ops_->Snap(bcv, unit, actor_).code(), Code::kFailedPrecondition);
}

TEST_P(OperationsTest, RunDispatchesByNameAndChecksArguments) {
  auto r = ops_->Run("allocate-unit", Json{{"size", kMiB}}, actor_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  int64_t unit = (*r)["volume"].get<int64_t>();
  EXPECT_EQ(Get(unit).state, DiskState::kConfigured);
  EXPECT_TRUE(ops_->Run("bind", Json{{"volume", unit}, {"host", "web1"}, {"lun", 0}}, actor_).ok());
  EXPECT_EQ(ops_->Run("bind", Json{{"volume", unit}, {"host", "web1"}}, actor_).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(ops_->Run("teleport", Json{{"volume", unit}}, actor_).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ops_->Run("allocate", Json{{"size", -1}}, actor_).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ops_->Run("map", Json{{"volume", 99999}}, actor_).status().code(), Code::kNotFound);
}

// On file arrays the gateway learns where the unit's bytes live, member by
// member, and a host's second LUN keeps its first one.
TEST_P(OperationsTest, MapTellsTheGatewayTheExtentsOfFileVolumes) {
  auto opened = array::OpenArray(
      array::testing::FileSpec("files", test_db().dir() + "/files", 4 * kMiB, kMiB, {{"media", "file"}}));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  arrays_.Add(std::shared_ptr<array::StorageArray>(std::move(opened).value()));
  ASSERT_TRUE(ops_->Discover(std::string("files"), actor_).ok());
  AllocateArgs a;
  a.size = 2 * kMiB;
  a.qualities = {{"media", "file"}};
  auto unit = ops_->AllocateUnit(a, actor_);
  ASSERT_TRUE(unit.ok()) << unit.status().ToString();
  ASSERT_TRUE(ops_->Bind(*unit, "web1", 0, std::nullopt, actor_).ok());
  ASSERT_TRUE(ops_->Map(*unit, std::nullopt, actor_).ok());
  a.size = kMiB;
  auto second = ops_->AllocateUnit(a, actor_);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(ops_->Bind(*second, "web1", 1, std::nullopt, actor_).ok());
  ASSERT_TRUE(ops_->Map(*second, std::nullopt, actor_).ok());

  auto calls = target_.calls();
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[0].what, "set-host");
  EXPECT_TRUE(calls[0].luns.empty());
  ASSERT_EQ(calls[1].what, "map");
  ASSERT_EQ(calls[1].extents.size(), 2u);
  uint64_t total = 0;
  for (const auto& e : calls[1].extents) {
    EXPECT_TRUE(std::filesystem::exists(e.path)) << e.path;
    total += e.length;
  }
  EXPECT_EQ(total, 2 * kMiB);
  EXPECT_EQ(calls[2].what, "set-host");
  EXPECT_EQ(calls[2].luns, std::vector<uint64_t>{0});
  EXPECT_EQ(calls[3].lun, 1u);
  EXPECT_EQ(calls[3].volume_id, std::to_string(*second));
}

// Every operation is idempotent from every state a crash can leave: unmap
// of a unit nothing maps, and unbind of one no host holds, are done; what
// is truly wrong is still refused by the FIG. 7 table.
TEST_P(OperationsTest, UnmapAndUnbindOfWhatIsNotThereAreDone) {
  int64_t unit = Unit(kMiB);
  ASSERT_EQ(Get(unit).state, DiskState::kConfigured);
  Status s = ops_->Unmap(unit, std::nullopt, actor_);
  EXPECT_TRUE(s.ok()) << s.ToString();
  s = ops_->Unmap(unit, "web1", actor_);
  EXPECT_TRUE(s.ok()) << s.ToString();
  s = ops_->Unbind(unit, std::nullopt, actor_);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Get(unit).state, DiskState::kConfigured) << "nothing to undo changes nothing";

  ASSERT_TRUE(ops_->Bind(unit, "web1", 0, std::nullopt, actor_).ok());
  ASSERT_TRUE(ops_->Map(unit, std::nullopt, actor_).ok());
  // Still refused: freeing or unbinding a mapped unit.
  EXPECT_EQ(ops_->Free(unit, actor_).code(), Code::kFailedPrecondition);
  EXPECT_EQ(ops_->Unbind(unit, "web1", actor_).code(), Code::kFailedPrecondition);
  ASSERT_TRUE(ops_->Unmap(unit, std::nullopt, actor_).ok());
  ASSERT_TRUE(ops_->Unmap(unit, std::nullopt, actor_).ok()) << "a second unmap (a re-run) is done";
  EXPECT_EQ(Get(unit).state, DiskState::kUnmapped);
  ASSERT_TRUE(ops_->Unbind(unit, std::nullopt, actor_).ok());
  ASSERT_TRUE(ops_->Unbind(unit, std::nullopt, actor_).ok()) << "a second unbind (a re-run) is done";
  EXPECT_EQ(Get(unit).state, DiskState::kUnbound);
  // Still refused: mapping a unit no host holds.
  EXPECT_EQ(ops_->Map(unit, std::nullopt, actor_).code(), Code::kFailedPrecondition);
  ASSERT_TRUE(ops_->Free(unit, actor_).ok());
}

VSL_INSTANTIATE_CATALOG_BACKENDS(OperationsTest);

}  // namespace
}  // namespace vsl::manager
