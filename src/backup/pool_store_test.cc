// The pool store's format and operations on the directory ObjectStore (the
// same code a RADOS pool runs, without a cluster; tests/ceph/backup_pool.sh
// runs it on a pool).
#include <gtest/gtest.h>

#include "backup/incremental.h"
#include "backup/store.h"
#include "backup/test_util.h"

namespace vsl::backup {
namespace {

using namespace testing;  // NOLINT

constexpr uint64_t kChunk = 64 * 1024;
constexpr uint64_t kDiskSize = 4 * 1024 * 1024 + 100;

class PoolStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    disk_ = tmp_.path() + "/disk";
    objects_dir_ = tmp_.path() + "/objects";
    MakeSparse(disk_, kDiskSize);
    Reopen();
  }
  void Reopen() {
    store_.reset();
    auto o = OpenDirObjects(objects_dir_, true);
    ASSERT_TRUE(o.ok()) << o.status().ToString();
    auto s = Store::OpenPool(std::move(*o), {.create = true}, tmp_.path() + "/scratch");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  std::string Backup(std::optional<std::string> parent) {
    auto src = FileSource::Open(disk_);
    EXPECT_TRUE(src.ok());
    BackupSpec spec;
    spec.disk = "vol-0001";
    spec.level = parent ? 1 : 0;
    spec.parent = parent;
    spec.disk_size = kDiskSize;
    spec.chunk_size = kChunk;
    auto w = store_->Begin(spec);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    if (!w.ok()) return "";
    auto f = parent ? FillChangedByChecksum(*store_, **w, **src) : FillFull(**w, **src);
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    auto c = (*w)->Commit();
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? c->header.id : "";
  }
  std::vector<uint8_t> Restored(const std::string& id) {
    std::string out = tmp_.path() + "/out";
    ::unlink(out.c_str());
    FileSink sink(out);
    auto r = store_->Restore(id, sink);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return ReadBytes(out);
  }
  size_t Objects(const std::string& prefix) {
    auto o = OpenDirObjects(objects_dir_, false);
    auto l = (*o)->List(prefix);
    return l.ok() ? l->size() : 0;
  }

  TempDir tmp_;
  std::string disk_, objects_dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(PoolStoreTest, LevelsRestoreVerifyCorruptionAndDelete) {
  WriteAt(disk_, 0, Pattern(1, 3 * kChunk));
  WriteAt(disk_, 40 * kChunk, Pattern(2, kChunk));
  std::vector<uint8_t> at0 = ReadBytes(disk_);
  std::string b0 = Backup({});
  ASSERT_FALSE(b0.empty());
  EXPECT_EQ(Objects("chunk."), 4u);
  EXPECT_EQ(Objects("manifest."), 1u);

  WriteAt(disk_, kChunk, Pattern(3, kChunk));
  WriteAt(disk_, 40 * kChunk, std::vector<uint8_t>(kChunk, 0));
  std::vector<uint8_t> at1 = ReadBytes(disk_);
  std::string b1 = Backup(b0);
  ASSERT_FALSE(b1.empty());
  EXPECT_EQ(Objects("chunk."), 5u);  // one new chunk; the zeroed one is a zero extent

  auto l = store_->List();
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->backups.size(), 2u);
  EXPECT_EQ(l->backups[0].header.id, b0);
  EXPECT_EQ(l->backups[1].header.parent.value_or(""), b0);
  EXPECT_EQ(Restored(b0), at0);
  EXPECT_EQ(Restored(b1), at1);
  auto v = store_->Verify(b1);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok());
  EXPECT_EQ(v->chain.size(), 2u);

  // The level 1's chunk at offset kChunk, overwritten in place.
  auto m = store_->Show(b1);
  ASSERT_TRUE(m.ok());
  auto r = store_->OpenManifest(b1);
  ASSERT_TRUE(r.ok());
  std::optional<Extent> first;
  while (true) {
    auto e = (*r)->Next();
    ASSERT_TRUE(e.ok());
    if (!*e) break;
    if (!(**e).zero) first = **e;
  }
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->offset, kChunk);
  WriteAt(objects_dir_ + "/" + ChunkObject(first->sha256), 7, std::vector<uint8_t>{0x5a});
  v = store_->Verify(b1);
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->failure_count, 1u);
  EXPECT_EQ(v->failures[0].backup, b1);
  EXPECT_EQ(v->failures[0].offset, kChunk);
  std::string out = tmp_.path() + "/refused";
  FileSink sink(out);
  auto refused = store_->Restore(b1, sink);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("extent at offset " + std::to_string(kChunk)), std::string::npos)
      << refused.status().message();
  EXPECT_NE(::access(out.c_str(), F_OK), 0);
  EXPECT_EQ(Restored(b0), at0);  // the level 0 does not use that chunk

  // Deleting the level 0 takes its child and every chunk.
  auto refused_delete = store_->Delete(b0, false);
  EXPECT_EQ(refused_delete.status().code(), Code::kFailedPrecondition);
  auto gone = store_->Delete(b0, true);
  ASSERT_TRUE(gone.ok()) << gone.status().ToString();
  EXPECT_EQ(gone->size(), 2u);
  EXPECT_EQ(Objects("manifest."), 0u);
  EXPECT_EQ(Objects("chunk."), 0u);
}

TEST_F(PoolStoreTest, AnUncommittedWriterListsNothingAndItsChunksAreCollected) {
  WriteAt(disk_, 0, Pattern(4, 2 * kChunk));
  std::string kept = Backup({});
  ASSERT_FALSE(kept.empty());
  WriteAt(disk_, 10 * kChunk, Pattern(5, 2 * kChunk));
  {
    BackupSpec spec;
    spec.disk = "vol-0001";
    spec.disk_size = kDiskSize;
    spec.chunk_size = kChunk;
    auto w = store_->Begin(spec);
    ASSERT_TRUE(w.ok());
    auto src = FileSource::Open(disk_);
    ASSERT_TRUE(FillFull(**w, **src).ok());
    // While it holds the lock, a delete is refused.
    EXPECT_EQ(store_->Delete(kept, false).status().code(), Code::kUnavailable);
    (*w)->Abort();  // as a killed writer: the manifest never written
  }
  EXPECT_EQ(Objects("chunk."), 4u);
  auto l = store_->List();
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->backups.size(), 1u);
  Reopen();  // cleanup at open: the writer's two chunks go
  EXPECT_EQ(Objects("chunk."), 2u);
  ASSERT_EQ(store_->leftovers().size(), 1u);
  EXPECT_TRUE(store_->leftovers()[0].removed);
  auto v = store_->Verify(kept);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok());
}

TEST(PoolStoreSpec, ParsesAndRefuses) {
  RadosTarget t;
  ASSERT_TRUE(ParseRadosSpec("rados:backups", &t).ok());
  EXPECT_EQ(t.pool, "backups");
  EXPECT_EQ(t.ns, "");
  ASSERT_TRUE(ParseRadosSpec("rados:backups/farm1", &t).ok());
  EXPECT_EQ(t.ns, "farm1");
  EXPECT_FALSE(ParseRadosSpec("rados:", &t).ok());
  EXPECT_FALSE(ParseRadosSpec("rados:p/", &t).ok());
  EXPECT_FALSE(ParseRadosSpec("rados:p/a/b", &t).ok());
  EXPECT_FALSE(ParseRadosSpec("s3:bucket", &t).ok());
}

}  // namespace
}  // namespace vsl::backup
