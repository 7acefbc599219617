// Read-only bindings: an image's master volume shared by several hosts that
// may read it and never write it; a unit's hosts all write or all only read.
#include <gtest/gtest.h>

#include <fstream>

#include "manager/operations.h"
#include "manager/testing_util.h"

namespace vsl::manager {
namespace {

using catalog::Actor;
using testing::kMiB;

class ReadOnlyTest : public testing::ManagerFixture {
 protected:
  void SetUp() override {
    ManagerFixture::SetUp();
    if (HasFatalFailure()) return;
    arrays_.Add(east_);
    arrays_.Add(west_);
    ops_ = std::make_unique<Operations>(&catalog(), &arrays_, &target_, "iqn.gw");
    ASSERT_TRUE(ops_->Discover(std::nullopt, actor_).ok());
    for (const char* h : {"web1", "web2", "web3"}) ASSERT_TRUE(AddHost(h).ok());
    std::string path = test_db().dir() + "/image.raw";
    {
      std::ofstream f(path, std::ios::binary);
      for (uint64_t i = 0; i < 300 * 1024; ++i) f.put(static_cast<char>((i * 7 + 3) % 251));
    }
    auto img = ops_->ImportImage("deb", path, actor_);
    ASSERT_TRUE(img.ok()) << img.status().ToString();
    master_ = img->master_volume_id.value();
    image_bytes_ = Bytes(master_);
  }

  std::vector<uint8_t> Bytes(int64_t unit) {
    auto members = ops_->Resolve(unit);
    EXPECT_TRUE(members.ok());
    std::vector<uint8_t> out;
    for (auto& m : *members) {
      std::vector<uint8_t> buf(m.volume.size);
      EXPECT_TRUE(m.array->Read(m.volume.array_volume, 0, buf).ok());
      out.insert(out.end(), buf.begin(), buf.end());
    }
    return out;
  }

  size_t Events() {
    size_t n = 0;
    EXPECT_TRUE(catalog()
                    .Read([&](catalog::Tx& tx) -> Status {
                      VSL_ASSIGN_OR_RETURN(auto e, catalog().ListEvents(tx, {}));
                      n = e.size();
                      return Status::Ok();
                    })
                    .ok());
    return n;
  }

  ArraySet arrays_;
  std::unique_ptr<Operations> ops_;
  Actor actor_{"test", std::nullopt};
  int64_t master_ = 0;
  std::vector<uint8_t> image_bytes_;
};

// The master goes to two hosts at once, read-only, and the gateway is told
// so both when a LUN is mapped and when a host is synced.
TEST_P(ReadOnlyTest, ImageMasterIsSharedReadOnlyAndNeverScrubbed) {
  ASSERT_TRUE(ops_->Bind(master_, "web1", 2, std::nullopt, actor_, /*read_only=*/true).ok());
  ASSERT_TRUE(ops_->Bind(master_, "web2", 5, std::nullopt, actor_, /*read_only=*/true).ok());
  auto bindings = BindingsOf(master_);
  ASSERT_EQ(bindings.size(), 2u);
  EXPECT_TRUE(bindings[0].read_only);
  EXPECT_TRUE(bindings[1].read_only);
  ASSERT_TRUE(ops_->Map(master_, std::nullopt, actor_).ok());
  EXPECT_EQ(Get(master_).state, DiskState::kMapped);
  int maps = 0;
  for (const auto& c : target_.calls()) {
    if (c.what != "map") continue;
    ++maps;
    EXPECT_TRUE(c.read_only) << c.host;
  }
  EXPECT_EQ(maps, 2);
  // The image is not replaced under its hosts; the refusal names them.
  std::string other = test_db().dir() + "/other.raw";
  std::ofstream(other) << "other bytes";
  auto again = ops_->ImportImage("deb", other, actor_);
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists);
  EXPECT_NE(again.status().message().find("bound read-only to hosts web1, web2"), std::string::npos)
      << again.status().ToString();
  ASSERT_TRUE(ops_->SyncHost("web2").ok());
  auto last = target_.calls().back();
  EXPECT_EQ(last.what, "set-host");
  EXPECT_EQ(last.read_only_luns, std::vector<uint64_t>{5});

  // A third host joins the mapped master.
  ASSERT_TRUE(ops_->Bind(master_, "web3", 0, std::nullopt, actor_, true).ok());
  ASSERT_TRUE(ops_->Map(master_, std::string("web3"), actor_).ok());
  EXPECT_EQ(target_.mapped().size(), 3u);

  // One host leaves; the others keep reading it.
  ASSERT_TRUE(ops_->Unmap(master_, std::string("web1"), actor_).ok());
  ASSERT_TRUE(ops_->Unbind(master_, std::string("web1"), actor_).ok());
  EXPECT_EQ(Get(master_).state, DiskState::kMapped);
  EXPECT_EQ(BindingsOf(master_).size(), 2u);
  // Everyone leaves: unbound, never scrubbed, the image's bytes intact, and
  // it can be bound again.
  ASSERT_TRUE(ops_->Unmap(master_, std::nullopt, actor_).ok());
  ASSERT_TRUE(ops_->Unbind(master_, std::nullopt, actor_).ok());
  EXPECT_EQ(Get(master_).state, DiskState::kUnbound);
  EXPECT_EQ(Bytes(master_), image_bytes_);
  ASSERT_TRUE(ops_->Bind(master_, "web1", 2, std::nullopt, actor_, true).ok());
  EXPECT_EQ(Get(master_).state, DiskState::kBound);
  // And a copy from it still makes a writable disk of the image.
  auto clone =
      ops_->AllocateUnit(AllocateArgs{300 * 1024, "disk", {}, std::nullopt, false, std::nullopt}, actor_);
  ASSERT_TRUE(clone.ok()) << clone.status().ToString();
  ASSERT_TRUE(ops_->CopyImage(*clone, "deb", actor_).ok());
  EXPECT_EQ(Bytes(*clone), image_bytes_);
}

// Everything that would write the master is refused naming the volume and
// the image, and changes nothing.
TEST_P(ReadOnlyTest, WritingTheMasterIsRefusedByTheTable) {
  size_t events = Events();
  Status rw = ops_->Bind(master_, "web1", 0, std::nullopt, actor_);
  ASSERT_EQ(rw.code(), Code::kFailedPrecondition) << rw.ToString();
  EXPECT_NE(
      rw.message().find("volume " + std::to_string(master_) + " is the master of image 'deb'"),
      std::string::npos)
      << rw.ToString();
  EXPECT_NE(rw.message().find("read-only"), std::string::npos) << rw.ToString();
  EXPECT_EQ(ops_->CheckBindMode(master_, "web1", false).code(), Code::kFailedPrecondition);
  EXPECT_TRUE(ops_->CheckBindMode(master_, "web1", true).ok());
  EXPECT_EQ(ops_->CheckBindMode(master_ + 1000, "web1", true).code(), Code::kNotFound);
  int64_t other = 0;
  {
    auto u = ops_->AllocateUnit(AllocateArgs{kMiB, "disk", {}, std::nullopt, false, std::nullopt}, actor_);
    ASSERT_TRUE(u.ok());
    other = *u;
  }
  events = Events();
  for (Status s : {ops_->Scrub(master_, actor_), ops_->Free(master_, actor_),
                   ops_->MetaBreak(master_, actor_), ops_->CopyVolume(master_, other, actor_)}) {
    EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
    EXPECT_NE(s.message().find("master of image 'deb'"), std::string::npos) << s.ToString();
  }
  EXPECT_EQ(Get(master_).state, DiskState::kConfigured);
  EXPECT_EQ(Bytes(master_), image_bytes_);
  EXPECT_TRUE(BindingsOf(master_).empty());
  EXPECT_EQ(Events(), events);
  // Bound read-only to a host, then read-write to another: refused too.
  ASSERT_TRUE(ops_->Bind(master_, "web1", 0, std::nullopt, actor_, true).ok());
  rw = ops_->Bind(master_, "web2", 0, std::nullopt, actor_);
  EXPECT_EQ(rw.code(), Code::kFailedPrecondition) << rw.ToString();
  EXPECT_NE(rw.message().find("master of image 'deb'"), std::string::npos) << rw.ToString();
  EXPECT_EQ(BindingsOf(master_).size(), 1u);
}

// An ordinary unit may be shared read-only too, but never read-only to one
// host and read-write to another; the refusal names the other host.
TEST_P(ReadOnlyTest, OneUnitIsNeverReadOnlyForOneHostAndWritableForAnother) {
  auto u = ops_->AllocateUnit(AllocateArgs{kMiB, "disk", {}, std::nullopt, false, std::nullopt}, actor_);
  ASSERT_TRUE(u.ok());
  ASSERT_TRUE(ops_->Bind(*u, "web1", 1, std::nullopt, actor_).ok());
  Status s = ops_->Bind(*u, "web2", 1, std::nullopt, actor_, true);
  ASSERT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("bound read-write to host 'web1'"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("all write or all only read"), std::string::npos) << s.ToString();
  EXPECT_EQ(BindingsOf(*u).size(), 1u);
  // The same host asking for the other mode is told it is bound already.
  s = ops_->Bind(*u, "web1", 1, std::nullopt, actor_, true);
  EXPECT_EQ(s.code(), Code::kAlreadyExists) << s.ToString();
  EXPECT_NE(s.message().find("read-write already"), std::string::npos) << s.ToString();

  auto r = ops_->AllocateUnit(AllocateArgs{kMiB, "disk", {}, std::nullopt, false, std::nullopt}, actor_);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(ops_->Bind(*r, "web1", 2, std::nullopt, actor_, true).ok());
  // A read-only bind lets no data in: a clean unit stays clean.
  EXPECT_TRUE(Get(*r).clean);
  s = ops_->Bind(*r, "web2", 2, std::nullopt, actor_, false);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("bound read-only to host 'web1'"), std::string::npos) << s.ToString();
  ASSERT_TRUE(ops_->Bind(*r, "web2", 2, std::nullopt, actor_, true).ok());
  EXPECT_EQ(BindingsOf(*r).size(), 2u);
}

// A read-only bind that fails at the array leaves the master where it was,
// for its other hosts and for the next try; a re-run of a done bind is done.
TEST_P(ReadOnlyTest, FailedReadOnlyBindLeavesTheMasterUsable) {
  ASSERT_TRUE(ops_->Bind(master_, "web1", 0, std::nullopt, actor_, true).ok());
  Actor req{"test", 77};
  ASSERT_TRUE(
      ops_->Run("bind",
                Json{{"volume", master_}, {"host", "web2"}, {"lun", 4}, {"read_only", true}}, req)
          .ok());
  ASSERT_TRUE(
      ops_->Run("bind",
                Json{{"volume", master_}, {"host", "web2"}, {"lun", 4}, {"read_only", true}}, req)
          .ok());
  EXPECT_EQ(BindingsOf(master_).size(), 2u);
  auto bad = ops_->Run(
      "bind", Json{{"volume", master_}, {"host", "web3"}, {"lun", 4}, {"read_only", "yes"}}, req);
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);

  auto members = ops_->Resolve(master_);
  ASSERT_TRUE(members.ok());
  auto& arr = members->front().array == east_ ? east_ : west_;
  arr->FailNth(array::ArrayOp::kGrant, 1, Unavailable("VolumeLogix: no path"));
  Status s = ops_->Bind(master_, "web3", 1, std::nullopt, actor_, true);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(Get(master_).state, DiskState::kBound);
  EXPECT_EQ(BindingsOf(master_).size(), 2u);
  EXPECT_TRUE(ops_->Bind(master_, "web3", 1, std::nullopt, actor_, true).ok());
  EXPECT_EQ(BindingsOf(master_).size(), 3u);
}

// The image goes only when nobody holds its master and no disk records a
// copy of it; then its master is scrubbed and free.
TEST_P(ReadOnlyTest, RemoveImageWaitsForItsHostsAndCopies) {
  ASSERT_TRUE(ops_->Bind(master_, "web1", 0, std::nullopt, actor_, true).ok());
  ASSERT_TRUE(ops_->Bind(master_, "web2", 0, std::nullopt, actor_, true).ok());
  ASSERT_TRUE(ops_->Map(master_, std::string("web2"), actor_).ok());
  auto r = ops_->RemoveImage("deb", actor_);
  ASSERT_EQ(r.status().code(), Code::kFailedPrecondition) << r.status().ToString();
  EXPECT_NE(r.status().message().find("is bound to hosts web1, web2 (mapped)"), std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(ops_->CheckImageRemovable("deb").code(), Code::kFailedPrecondition);
  EXPECT_EQ(Get(master_).state, DiskState::kMapped);
  ASSERT_TRUE(ops_->Unmap(master_, std::nullopt, actor_).ok());
  ASSERT_TRUE(ops_->Unbind(master_, std::nullopt, actor_).ok());

  auto clone =
      ops_->AllocateUnit(AllocateArgs{300 * 1024, "disk", {}, std::nullopt, false, std::nullopt}, actor_);
  ASSERT_TRUE(clone.ok());
  ASSERT_TRUE(ops_->CopyImage(*clone, "deb", actor_).ok());
  r = ops_->RemoveImage("deb", actor_);
  ASSERT_EQ(r.status().code(), Code::kFailedPrecondition) << r.status().ToString();
  EXPECT_NE(r.status().message().find("volumes " + std::to_string(*clone) + " hold copies"),
            std::string::npos)
      << r.status().ToString();
  ASSERT_TRUE(ops_->Free(*clone, actor_).ok());

  EXPECT_TRUE(ops_->CheckImageRemovable("deb").ok());
  Actor req{"test", 501};
  r = ops_->RemoveImage("deb", req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, master_);
  catalog::Volume m = Get(master_);
  EXPECT_EQ(m.state, DiskState::kFree);
  EXPECT_TRUE(m.clean);
  EXPECT_FALSE(m.image_id.has_value());
  std::vector<uint8_t> zero(image_bytes_.size(), 0);
  EXPECT_EQ(Bytes(master_), zero);
  // The same request run again is done; another one finds no such image.
  r = ops_->RemoveImage("deb", req);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ops_->RemoveImage("deb", actor_).status().code(), Code::kNotFound);
  // Once the volume was handed out again, a late re-run leaves it alone.
  ASSERT_TRUE(catalog()
                  .Write([&](catalog::Tx& tx) {
                    return catalog().CasVolume(tx, master_, DiskState::kFree, DiskState::kAllocated,
                                               {}, "allocate", Actor{"other", 777});
                  })
                  .ok());
  r = ops_->RemoveImage("deb", req);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Get(master_).state, DiskState::kAllocated);
}

VSL_INSTANTIATE_CATALOG_BACKENDS(ReadOnlyTest);

}  // namespace
}  // namespace vsl::manager
