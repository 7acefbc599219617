#include "backup/store.h"

#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <thread>

#include <gtest/gtest.h>

#include "backup/incremental.h"
#include "backup/test_util.h"
#include "util/crash_point.h"

namespace vsl::backup {
namespace {

using namespace testing;  // NOLINT

constexpr uint64_t kChunk = 64 * 1024;
// Not a multiple of the chunk size: the last chunk is short.
constexpr uint64_t kDiskSize = 8 * 1024 * 1024 + 4096 + 100;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    disk_ = tmp_.path() + "/disk";
    store_dir_ = tmp_.path() + "/store";
    MakeSparse(disk_, kDiskSize);
    Result<std::unique_ptr<Store>> s = Store::Open(store_dir_, {.create = true});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }

  BackupSpec Spec(int level, std::optional<std::string> parent) {
    BackupSpec spec;
    spec.disk = "vol-0001";
    spec.farm = "shop";
    spec.server = "web1";
    spec.level = level;
    spec.parent = std::move(parent);
    spec.disk_size = kDiskSize;
    spec.chunk_size = kChunk;
    return spec;
  }

  enum class How { kFull, kRanges, kChecksum };

  // A backup of disk_ made the given way; its id, and its fill figures in *stats.
  std::string Backup(How how, std::optional<std::string> parent = {}, std::vector<ByteRange> changed = {},
                     FillStats* stats = nullptr) {
    Result<std::unique_ptr<FileSource>> src = FileSource::Open(disk_);
    EXPECT_TRUE(src.ok()) << src.status().ToString();
    if (!src.ok()) return "";
    Result<std::unique_ptr<BackupWriter>> w = store_->Begin(Spec(how == How::kFull ? 0 : 1, parent));
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    if (!w.ok()) return "";
    Result<FillStats> f = how == How::kFull     ? FillFull(**w, **src)
                          : how == How::kRanges ? FillChangedRanges(**w, **src, changed)
                                                : FillChangedByChecksum(*store_, **w, **src);
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    if (!f.ok()) return "";
    if (stats) *stats = *f;
    Result<ListedBackup> done = (*w)->Commit();
    EXPECT_TRUE(done.ok()) << done.status().ToString();
    return done.ok() ? done->header.id : "";
  }

  std::vector<uint8_t> RestoreBytes(const std::string& id) {
    std::string out = tmp_.path() + "/restored-" + id;
    FileSink sink(out);
    Result<RestoreStats> r = store_->Restore(id, sink);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return ReadBytes(out);
  }

  std::vector<uint64_t> Offsets(const std::string& id) {
    std::vector<uint64_t> out;
    auto r = ManifestReader::Open(store_->BackupPath(id) + "/manifest", id);
    EXPECT_TRUE(r.ok());
    while (true) {
      auto e = (*r)->Next();
      EXPECT_TRUE(e.ok()) << e.status().ToString();
      if (!e.ok() || !*e) break;
      out.push_back((*e)->offset * 2 + ((*e)->zero ? 1 : 0));  // odd: a zero extent
    }
    return out;
  }

  TempDir tmp_;
  std::string disk_, store_dir_;
  std::unique_ptr<Store> store_;
};

// Data at the start (part of a chunk), across a chunk boundary, in the short
// last chunk; a chunk of written zeros; the rest holes.
void FirstContent(const std::string& disk) {
  WriteAt(disk, 0, Pattern(1, 1000));
  WriteAt(disk, 3 * kChunk - 500, Pattern(2, 1000));
  WriteAt(disk, 10 * kChunk, std::vector<uint8_t>(kChunk, 0));
  WriteAt(disk, kDiskSize - 50, Pattern(3, 50));
}

TEST_F(StoreTest, FullStoresOnlyChunksThatHoldData) {
  FirstContent(disk_);
  FillStats st;
  std::string id = Backup(How::kFull, {}, {}, &st);
  ASSERT_FALSE(id.empty());
  // Chunks 0, 2, 3 and the last one; the zero chunk and the holes are not stored.
  const uint64_t last = kDiskSize / kChunk * kChunk;
  EXPECT_EQ(Offsets(id), (std::vector<uint64_t>{0, 2 * 2 * kChunk, 2 * 3 * kChunk, 2 * last}));
  EXPECT_EQ(st.data_bytes, 3 * kChunk + (kDiskSize - last));
  EXPECT_LT(st.chunks_read, 10u);  // holes are not read

  Result<Listing> l = store_->List();
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->backups.size(), 1u);
  EXPECT_EQ(l->backups[0].header.id, id);
  EXPECT_EQ(l->backups[0].header.level, 0);
  EXPECT_EQ(l->backups[0].header.disk, "vol-0001");
  EXPECT_EQ(l->backups[0].stored_bytes, st.data_bytes);

  std::vector<uint8_t> back = RestoreBytes(id);
  EXPECT_TRUE(back == ReadBytes(disk_));
  // Unwritten regions are holes in a restored file.
  struct stat s;
  ASSERT_EQ(::stat((tmp_.path() + "/restored-" + id).c_str(), &s), 0);
  EXPECT_LE(uint64_t(s.st_blocks) * 512, 8 * kChunk);

  // Over an existing, longer file full of other bytes: cut to the disk's size,
  // and its old bytes gone where the backup has none.
  std::string old = tmp_.path() + "/old";
  WriteText(old, std::string(2 * kDiskSize, 'x'));
  FileSink sink(old);
  ASSERT_TRUE(store_->Restore(id, sink).ok());
  EXPECT_TRUE(ReadBytes(old) == ReadBytes(disk_));
}

TEST_F(StoreTest, IncrementalFromChangedRanges) {
  FirstContent(disk_);
  std::string l0 = Backup(How::kFull);
  std::vector<uint8_t> at_l0 = ReadBytes(disk_);
  WriteAt(disk_, 5 * kChunk + 10, Pattern(4, 20));               // one chunk
  WriteAt(disk_, 7 * kChunk - 10, Pattern(5, 20));               // two chunks
  WriteAt(disk_, 0, std::vector<uint8_t>(1000, 0));              // chunk 0 now zeros
  std::vector<ByteRange> dirty = {{7 * kChunk - 10, 20}, {5 * kChunk + 10, 20}, {0, 1000}, {5 * kChunk, 1}};
  FillStats st;
  std::string l1 = Backup(How::kRanges, l0, dirty, &st);
  ASSERT_FALSE(l1.empty());
  EXPECT_EQ(Offsets(l1), (std::vector<uint64_t>{1, 2 * 5 * kChunk, 2 * 6 * kChunk, 2 * 7 * kChunk}));
  EXPECT_EQ(st.zero_extents, 1u);
  EXPECT_EQ(st.data_bytes, 3 * kChunk);
  EXPECT_TRUE(RestoreBytes(l1) == ReadBytes(disk_));
  EXPECT_TRUE(RestoreBytes(l0) == at_l0);
}

TEST_F(StoreTest, ChangedRangesBeyondTheDiskAreRefused) {
  std::string l0 = Backup(How::kFull);
  auto src = FileSource::Open(disk_);
  auto w = store_->Begin(Spec(1, l0));
  ASSERT_TRUE(w.ok());
  Result<FillStats> f = FillChangedRanges(**w, **src, {{kDiskSize - 10, 11}});
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("beyond the disk's end"), std::string::npos) << f.status().message();
}

TEST_F(StoreTest, IncrementalByChecksumFindsWhatChanged) {
  FirstContent(disk_);
  std::string l0 = Backup(How::kFull);
  WriteAt(disk_, 5 * kChunk + 10, Pattern(4, 20));
  WriteAt(disk_, 3 * kChunk + 100, Pattern(6, 10));  // a stored chunk changes
  PunchHole(disk_, 2 * kChunk, kChunk);             // a stored chunk becomes a hole
  WriteAt(disk_, 0, Pattern(1, 1000));              // rewritten with the same bytes: unchanged
  FillStats st;
  std::string l1 = Backup(How::kChecksum, l0, {}, &st);
  ASSERT_FALSE(l1.empty());
  EXPECT_EQ(Offsets(l1), (std::vector<uint64_t>{2 * 2 * kChunk + 1, 2 * 3 * kChunk, 2 * 5 * kChunk}));
  EXPECT_GE(st.chunks_unchanged, 2u);  // chunk 0 and the last chunk
  EXPECT_TRUE(RestoreBytes(l1) == ReadBytes(disk_));

  // Nothing changed since: an empty level 1.
  std::string l1b = Backup(How::kChecksum, l1, {}, &st);
  EXPECT_TRUE(Offsets(l1b).empty());
  EXPECT_EQ(st.data_bytes, 0u);
  EXPECT_TRUE(RestoreBytes(l1b) == ReadBytes(disk_));
}

TEST_F(StoreTest, ChainRestoresEveryPointByteForByte) {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> points;
  FirstContent(disk_);
  std::string id = Backup(How::kFull);
  points.push_back({id, ReadBytes(disk_)});
  for (uint32_t round = 0; round < 5; round++) {
    std::vector<ByteRange> dirty;
    for (uint32_t k = 0; k < 6; k++) {
      uint64_t off = (uint64_t(round) * 977 + k * 1234567) % (kDiskSize - 3000);
      WriteAt(disk_, off, Pattern(100 + round * 10 + k, 3000));
      dirty.push_back({off, 3000});
    }
    // Alternate the two ways a level 1 finds its chunks; parents of either kind.
    id = Backup(round % 2 ? How::kChecksum : How::kRanges, id, dirty);
    ASSERT_FALSE(id.empty());
    points.push_back({id, ReadBytes(disk_)});
  }
  for (const auto& [pid, bytes] : points) EXPECT_TRUE(RestoreBytes(pid) == bytes) << pid;
  // Listed oldest first, each parent before its child even within a second.
  Result<Listing> l = store_->List();
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->backups.size(), points.size());
  for (size_t i = 0; i < points.size(); i++) EXPECT_EQ(l->backups[i].header.id, points[i].first) << i;
  Result<std::vector<ManifestSummary>> chain = store_->Chain(points.back().first);
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ(chain->size(), 6u);
  EXPECT_EQ(chain->front().header.level, 0);
  Result<VerifyReport> v = store_->Verify(points.back().first);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE(v->ok());
  EXPECT_EQ(v->chain.size(), 6u);
}

// A writer killed before its rename leaves no listed backup; opening the
// store removes what it left and says so. Killed after the rename, the
// backup is complete.
TEST_F(StoreTest, InterruptedCommitIsNeverListed) {
  FirstContent(disk_);
  struct Case {
    const char* point;
    bool listed;
  } cases[] = {{"backup.extent:2", false}, {"backup.commit.synced:1", false}, {"backup.commit.renamed:1", true}};
  for (const Case& c : cases) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      if (!util::ArmCrashPoints(c.point).ok()) _exit(3);
      Backup(How::kFull);
      _exit(0);  // the crash point did not fire
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << c.point << " status " << status;

    Result<std::unique_ptr<Store>> again = Store::Open(store_dir_);
    ASSERT_TRUE(again.ok());
    Result<Listing> l = (*again)->List();
    ASSERT_TRUE(l.ok());
    if (c.listed) {
      ASSERT_EQ(l->backups.size(), 1u) << c.point;
      EXPECT_TRUE((*again)->leftovers().empty());
      auto v = (*again)->Verify(l->backups[0].header.id);
      ASSERT_TRUE(v.ok() && v->ok()) << c.point;
      EXPECT_TRUE(RestoreBytes(l->backups[0].header.id) == ReadBytes(disk_));
    } else {
      EXPECT_TRUE(l->backups.empty()) << c.point;
      ASSERT_EQ((*again)->leftovers().size(), 1u) << c.point;
      EXPECT_TRUE((*again)->leftovers()[0].removed);
      EXPECT_TRUE((*again)->leftovers()[0].name.ends_with(".new"));
    }
    EXPECT_EQ(system(("test -z \"$(ls -A '" + store_dir_ + "/tmp')\"").c_str()), 0) << c.point;
  }
}

// A backup being written is not a leftover: opening the store meanwhile
// leaves it alone, and it commits.
TEST_F(StoreTest, OpenLeavesAnActiveWriterAlone) {
  FirstContent(disk_);
  auto src = FileSource::Open(disk_);
  auto w = store_->Begin(Spec(0, {}));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(FillFull(**w, **src).ok());
  Result<std::unique_ptr<Store>> other = Store::Open(store_dir_);
  ASSERT_TRUE(other.ok());
  ASSERT_EQ((*other)->leftovers().size(), 1u);
  EXPECT_FALSE((*other)->leftovers()[0].removed);
  EXPECT_NE((*other)->leftovers()[0].note.find("being written"), std::string::npos);
  ASSERT_TRUE((*w)->Commit().ok());
  EXPECT_EQ((*other)->List()->backups.size(), 1u);
}

// Flips one byte of a backup's data file at extent `nth` (0-based); returns
// that extent.
Extent Corrupt(const Store& store, const std::string& id, int nth) {
  auto r = ManifestReader::Open(store.BackupPath(id) + "/manifest", id);
  Extent e;
  for (int i = 0; i <= nth; i++) e = **(*r)->Next();
  std::string data = store.BackupPath(id) + "/data";
  std::vector<uint8_t> b = ReadBytes(data);
  b[e.data + 77] ^= 0x20;
  WriteText(data, std::string(b.begin(), b.end()));
  return e;
}

TEST_F(StoreTest, CorruptionIsFoundByVerifyAndRefusedByRestore) {
  FirstContent(disk_);
  std::string l0 = Backup(How::kFull);
  WriteAt(disk_, 5 * kChunk, Pattern(9, kChunk));
  std::string l1 = Backup(How::kRanges, l0, {{5 * kChunk, kChunk}});
  Extent bad = Corrupt(*store_, l0, 1);

  Result<VerifyReport> v = store_->Verify(l1);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ(v->failure_count, 1u);
  EXPECT_EQ(v->failures[0].backup, l0);
  EXPECT_EQ(v->failures[0].offset, bad.offset);
  EXPECT_NE(v->failures[0].what.find("offset " + std::to_string(bad.offset)), std::string::npos);
  EXPECT_NE(v->failures[0].what.find("checksum mismatch"), std::string::npos);

  // An existing destination keeps its bytes; a new one is not made.
  std::string dest = tmp_.path() + "/dest";
  WriteText(dest, "precious");
  for (const std::string& out : {dest, tmp_.path() + "/new"}) {
    FileSink sink(out);
    Result<RestoreStats> r = store_->Restore(l1, sink);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kDataLoss);
    EXPECT_NE(r.status().message().find("backup " + l0 + ": extent at offset " + std::to_string(bad.offset)),
              std::string::npos)
        << r.status().message();
    EXPECT_NE(r.status().message().find("nothing was written"), std::string::npos);
  }
  EXPECT_EQ(ReadText(dest), "precious");
  EXPECT_FALSE(Exists(tmp_.path() + "/new"));

  // A corrupted manifest: refused too, naming the line.
  std::string m = store_->BackupPath(l1) + "/manifest";
  std::string text = ReadText(m);
  text[text.find("\"offset\":") + 9] = '9';
  WriteText(m, text);
  FileSink sink(dest);
  Result<RestoreStats> r = store_->Restore(l1, sink);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("backup " + l1 + ": manifest line"), std::string::npos) << r.status().message();
  EXPECT_EQ(ReadText(dest), "precious");
  EXPECT_FALSE(store_->Verify(l1).ok());
}

TEST_F(StoreTest, TruncatedDataFileIsRefused) {
  FirstContent(disk_);
  std::string l0 = Backup(How::kFull);
  ASSERT_EQ(::truncate((store_->BackupPath(l0) + "/data").c_str(), 100), 0);
  FileSink sink(tmp_.path() + "/out");
  Result<RestoreStats> r = store_->Restore(l0, sink);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("the data file holds 100 bytes"), std::string::npos) << r.status().message();
  EXPECT_FALSE(Exists(tmp_.path() + "/out"));
  Result<VerifyReport> v = store_->Verify(l0);
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->ok());
}

TEST_F(StoreTest, DeleteRefusedUnderAChildUnlessTheChainGoes) {
  FirstContent(disk_);
  std::string l0 = Backup(How::kFull);
  std::string l1 = Backup(How::kChecksum, l0);
  std::string l2 = Backup(How::kChecksum, l1);
  std::string other = Backup(How::kFull);

  Result<std::vector<std::string>> d = store_->Delete(l0, false);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(d.status().message().find("is the parent of " + l1), std::string::npos) << d.status().message();
  EXPECT_EQ(store_->List()->backups.size(), 4u);

  d = store_->Delete(l1, true);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, (std::vector<std::string>{l2, l1}));  // the youngest first
  d = store_->Delete(l0, false);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  Result<Listing> l = store_->List();
  ASSERT_EQ(l->backups.size(), 1u);
  EXPECT_EQ(l->backups[0].header.id, other);
  EXPECT_EQ(store_->Delete(l0, false).status().code(), Code::kNotFound);
}

TEST_F(StoreTest, DeleteWaitsForNoWriterButIsRefusedDuringOne) {
  std::string l0 = Backup(How::kFull);
  auto w = store_->Begin(Spec(0, {}));
  ASSERT_TRUE(w.ok());
  Result<std::vector<std::string>> d = store_->Delete(l0, false);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Code::kUnavailable);
  (*w)->Abort();
  EXPECT_TRUE(store_->Delete(l0, false).ok());
}

// Writers on several threads at once, a reader listing meanwhile: each
// backup complete and restorable.
TEST_F(StoreTest, ConcurrentWriters) {
  FirstContent(disk_);
  std::vector<std::string> ids(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < ids.size(); i++) {
    threads.emplace_back([this, &ids, i] { ids[i] = Backup(How::kFull); });
  }
  for (int i = 0; i < 20; i++) ASSERT_TRUE(store_->List().ok());
  for (auto& t : threads) t.join();
  Result<Listing> l = store_->List();
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->backups.size(), ids.size());
  for (const std::string& id : ids) {
    ASSERT_FALSE(id.empty());
    EXPECT_TRUE(RestoreBytes(id) == ReadBytes(disk_)) << id;
  }
}

TEST_F(StoreTest, LevelOneMustMatchItsParent) {
  std::string l0 = Backup(How::kFull);
  BackupSpec s = Spec(1, l0);
  s.disk = "vol-0002";
  EXPECT_NE(store_->Begin(s).status().message().find("is a backup of disk 'vol-0001'"), std::string::npos);
  s = Spec(1, l0);
  s.disk_size += 4096;
  EXPECT_NE(store_->Begin(s).status().message().find("needs a level 0"), std::string::npos);
  s = Spec(1, l0);
  s.chunk_size = 1 << 20;
  EXPECT_NE(store_->Begin(s).status().message().find("uses its parent's"), std::string::npos);
  s = Spec(1, "20261130T034500Z-00000000");
  EXPECT_EQ(store_->Begin(s).status().code(), Code::kNotFound);
  s = Spec(1, std::string("../../etc"));
  EXPECT_EQ(store_->Begin(s).status().code(), Code::kInvalidArgument);
}

TEST_F(StoreTest, WriterRefusesChunksOutOfOrderOrShape) {
  auto w = store_->Begin(Spec(1, Backup(How::kFull)));
  ASSERT_TRUE(w.ok());
  std::vector<uint8_t> c = Pattern(1, kChunk);
  EXPECT_TRUE((*w)->AddExtent(kChunk, c).ok());
  EXPECT_FALSE((*w)->AddExtent(0, c).ok());                 // backwards
  EXPECT_FALSE((*w)->AddExtent(kChunk, c).ok());            // twice
  EXPECT_FALSE((*w)->AddExtent(4 * kChunk + 512, c).ok());  // unaligned
  EXPECT_FALSE((*w)->AddExtent(5 * kChunk, Pattern(1, 100)).ok());  // not a whole chunk
  EXPECT_FALSE((*w)->AddExtent(kDiskSize / kChunk * kChunk, c).ok()); // the short last chunk is shorter
  EXPECT_TRUE((*w)->AddExtent(kDiskSize / kChunk * kChunk, Pattern(1, kDiskSize % kChunk)).ok());
  EXPECT_EQ((*w)->AddExtent(kDiskSize + kChunk, c).code(), Code::kOutOfRange);
  EXPECT_TRUE((*w)->Commit().ok());
}

// Hand-made backups in the store: names that are not ids are never opened,
// a parent that is not an id is refused, parents that form a loop are found.
TEST_F(StoreTest, HostileEntriesAndParents) {
  ASSERT_EQ(::mkdir((store_dir_ + "/backups/evil").c_str(), 0700), 0);
  Result<Listing> l = store_->List();
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->backups.empty());
  ASSERT_EQ(l->skipped.size(), 1u);
  EXPECT_NE(l->skipped[0].find("not a backup id"), std::string::npos);
  EXPECT_EQ(store_->Show("../../etc").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->Show("evil").status().code(), Code::kInvalidArgument);

  // Two level 1s, each the other's parent.
  const std::string a = "20261130T034500Z-0000000a", b = "20261130T034500Z-0000000b";
  for (auto [id, parent] : {std::pair{a, b}, {b, a}}) {
    BackupHeader h;
    h.id = id;
    h.disk = "vol-0001";
    h.level = 1;
    h.parent = parent;
    h.created = "2026-11-30T03:45:00Z";
    h.disk_size = kDiskSize;
    h.chunk_size = kChunk;
    std::string body = HeaderLine(h);
    Sha256 sha;
    sha.Update(body);
    ASSERT_EQ(::mkdir(store_->BackupPath(id).c_str(), 0700), 0);
    WriteText(store_->BackupPath(id) + "/manifest", body + TrailerLine({0, 0, sha.Final()}));
    WriteText(store_->BackupPath(id) + "/data", "");
  }
  FileSink sink(tmp_.path() + "/out");
  Result<RestoreStats> r = store_->Restore(a, sink);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("form a loop"), std::string::npos) << r.status().message();
  EXPECT_FALSE(Exists(tmp_.path() + "/out"));
}

// A source whose n-th read fails, like a disk that errors under the backup.
class FailingSource : public Source {
 public:
  FailingSource(std::unique_ptr<Source> inner, int fail_at) : inner_(std::move(inner)), fail_at_(fail_at) {}
  uint64_t size() const override { return inner_->size(); }
  const std::string& name() const override { return inner_->name(); }
  Status Read(uint64_t offset, std::span<uint8_t> out) override {
    if (++reads_ == fail_at_) return IoError(name() + ": read at " + std::to_string(offset) + ": injected");
    return inner_->Read(offset, out);
  }
  Result<std::optional<ByteRange>> NextData(uint64_t from) override { return inner_->NextData(from); }

 private:
  std::unique_ptr<Source> inner_;
  int fail_at_;
  int reads_ = 0;
};

// A sink whose n-th write fails.
class FailingSink : public FileSink {
 public:
  FailingSink(std::string path, int fail_at) : FileSink(std::move(path)), fail_at_(fail_at) {}
  Status Write(uint64_t offset, std::span<const uint8_t> bytes) override {
    if (++writes_ == fail_at_) return IoError(name() + ": write: injected");
    return FileSink::Write(offset, bytes);
  }

 private:
  int fail_at_;
  int writes_ = 0;
};

TEST_F(StoreTest, FailedReadLeavesNoBackup) {
  FirstContent(disk_);
  for (How how : {How::kFull, How::kChecksum}) {
    std::optional<std::string> parent;
    if (how == How::kChecksum) parent = Backup(How::kFull);
    size_t before = store_->List()->backups.size();
    auto file = FileSource::Open(disk_);
    ASSERT_TRUE(file.ok());
    FailingSource src(std::move(*file), 3);
    {
      auto w = store_->Begin(Spec(how == How::kFull ? 0 : 1, parent));
      ASSERT_TRUE(w.ok());
      Result<FillStats> f = how == How::kFull ? FillFull(**w, src) : FillChangedByChecksum(*store_, **w, src);
      ASSERT_FALSE(f.ok());
      EXPECT_NE(f.status().message().find("injected"), std::string::npos);
    }  // the writer goes without a commit
    EXPECT_EQ(store_->List()->backups.size(), before);
    EXPECT_EQ(system(("test -z \"$(ls -A '" + store_dir_ + "/tmp')\"").c_str()), 0);
  }
}

TEST_F(StoreTest, FailedWriteDuringRestoreIsReported) {
  FirstContent(disk_);
  std::string id = Backup(How::kFull);
  FailingSink sink(tmp_.path() + "/out", 2);
  Result<RestoreStats> r = store_->Restore(id, sink);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kIoError);
  EXPECT_NE(r.status().message().find("injected"), std::string::npos);
}

TEST(StoreOpen, RefusesADirectoryThatIsNotAStore) {
  TempDir tmp;
  WriteText(tmp.path() + "/something", "x");
  Result<std::unique_ptr<Store>> s = Store::Open(tmp.path(), {.create = true});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("not a vsl backup store"), std::string::npos);
  EXPECT_FALSE(Store::Open(tmp.path() + "/missing").ok());
}

}  // namespace
}  // namespace vsl::backup
