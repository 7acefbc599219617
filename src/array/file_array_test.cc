// What only the file driver has: a manifest that survives a restart, files
// an administrator can see, holes the file system can show.
#include "array/file_array.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

#include "array/test_util.h"

namespace vsl::array {
namespace {

constexpr uint64_t kMiB = 1 << 20;

ArraySpec Spec(const std::string& dir, uint64_t capacity = 16 * kMiB, uint64_t volume_size = 0) {
  ArraySpec s;
  s.name = "disk1";
  s.driver = "file";
  s.path = dir + "/disk1";
  s.capacity = capacity;
  s.volume_size = volume_size;
  s.qualities = {{"raid", "5"}, {"drivetype", "spindle"}};
  s.ports = {"fa-0", "fa-1"};
  return s;
}

struct stat StatOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st;
}

TEST(FileArrayTest, ReopenReadsTheManifestBack) {
  testing::TempDir dir;
  ArraySpec spec = Spec(dir.path());
  std::vector<ArrayVolume> before;
  ArrayInfo info;
  {
    auto a = OpenArray(spec);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    auto v = (*a)->CreateVolume(kMiB);
    ASSERT_TRUE(v.ok());
    ASSERT_TRUE((*a)->Grant(v->id, "iqn.2026-11.org.vsl:gw").ok());
    auto w = (*a)->CreateVolume(kMiB);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*a)->DeleteVolume(w->id).ok());
    before = *(*a)->Discover();
    info = (*a)->info();
  }
  EXPECT_TRUE(std::filesystem::exists(spec.path + "/array.json"));
  // Only the driver and the directory: everything else comes from the manifest.
  auto again = OpenArray({"", "file", spec.path, 0, 0, {}, {}});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*again)->info(), info);
  EXPECT_EQ((*again)->info().ports, (std::vector<std::string>{"fa-0", "fa-1"}));
  EXPECT_EQ(*(*again)->Discover(), before);
  EXPECT_EQ(*(*again)->Grants(before[0].id),
            std::vector<std::string>{"iqn.2026-11.org.vsl:gw"});
  // The deleted volume's id is not reused after a restart either.
  auto next = (*again)->CreateVolume(kMiB);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->id, "vol-0003");
  // The same spec again opens it as well.
  EXPECT_TRUE(OpenArray(spec).ok());
}

TEST(FileArrayTest, ASpecThatDisagreesWithTheManifestIsRefused) {
  testing::TempDir dir;
  ArraySpec spec = Spec(dir.path());
  ASSERT_TRUE(OpenArray(spec).ok());
  ArraySpec bigger = spec;
  bigger.capacity *= 2;
  auto a = OpenArray(bigger);
  EXPECT_EQ(a.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(a.status().message().find("capacity"), std::string::npos) << a.status().message();
  ArraySpec renamed = spec;
  renamed.name = "disk2";
  EXPECT_EQ(OpenArray(renamed).status().code(), Code::kFailedPrecondition);
}

TEST(FileArrayTest, AnUnreadableManifestIsDataLoss) {
  testing::TempDir dir;
  ArraySpec spec = Spec(dir.path());
  ASSERT_TRUE(OpenArray(spec).ok());
  std::ofstream(spec.path + "/array.json") << "{\"format\": 1, \"name\": ";
  auto a = OpenArray(spec);
  EXPECT_EQ(a.status().code(), Code::kDataLoss);
  EXPECT_NE(a.status().message().find("array.json"), std::string::npos);
}

TEST(FileArrayTest, CarvedVolumesAreSparseFiles) {
  testing::TempDir dir;
  auto a = OpenArray(Spec(dir.path(), 64 * kMiB, 16 * kMiB));
  ASSERT_TRUE(a.ok());
  auto vols = (*a)->Discover();
  ASSERT_TRUE(vols.ok());
  ASSERT_EQ(vols->size(), 4u);
  for (const auto& v : *vols) {
    struct stat st = StatOf(v.path);
    EXPECT_EQ(uint64_t(st.st_size), 16 * kMiB);
    EXPECT_EQ(st.st_blocks, 0) << v.path;
  }
}

TEST(FileArrayTest, CopyLeavesHolesInTheDestinationFile) {
  testing::TempDir dir;
  auto a = OpenArray(Spec(dir.path()));
  ASSERT_TRUE(a.ok());
  auto src = (*a)->CreateVolume(4 * kMiB);
  auto dst = (*a)->CreateVolume(4 * kMiB);
  ASSERT_TRUE(src.ok() && dst.ok());
  std::vector<uint8_t> data(4096, 0x5A);
  ASSERT_TRUE((*a)->Write(src->id, 3 * kMiB, data).ok());
  ASSERT_TRUE((*a)->Write(dst->id, 0, std::vector<uint8_t>(4 * kMiB, 0xFF)).ok());
  ASSERT_GE(uint64_t(StatOf(dst->path).st_blocks) * 512, 4 * kMiB);
  ASSERT_TRUE((*a)->Copy(**a, src->id, dst->id).ok());
  struct stat st = StatOf(dst->path);
  EXPECT_LE(uint64_t(st.st_blocks) * 512, 64 * 1024u);
  int fd = ::open(dst->path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(::lseek(fd, 0, SEEK_HOLE), 0);             // a hole at the start
  EXPECT_EQ(::lseek(fd, 0, SEEK_DATA), off_t(3 * kMiB));  // data only where src had it
  ::close(fd);
}

TEST(FileArrayTest, ScrubFreesEveryBlock) {
  testing::TempDir dir;
  auto a = OpenArray(Spec(dir.path()));
  ASSERT_TRUE(a.ok());
  auto v = (*a)->CreateVolume(2 * kMiB);
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE((*a)->Write(v->id, 0, std::vector<uint8_t>(2 * kMiB, 0x33)).ok());
  ASSERT_GT(StatOf(v->path).st_blocks, 0);
  ASSERT_TRUE((*a)->Scrub(v->id).ok());
  struct stat st = StatOf(v->path);
  EXPECT_EQ(st.st_blocks, 0);
  EXPECT_EQ(uint64_t(st.st_size), 2 * kMiB);
}

// Discovery takes files named vol-NNNN and nothing else; every other name is
// left where it is, untouched.
TEST(FileArrayTest, HandMadeFilesAndStrayNames) {
  testing::TempDir dir;
  auto a = OpenArray(Spec(dir.path()));
  ASSERT_TRUE(a.ok());
  std::string vols = (*a)->info().path + "/volumes";
  std::ofstream(vols + "/vol-0042") << "not a whole block";
  const char* const ignored[] = {"odd-size", ".half-made", "vol-12", "vol-0002x", "vol-", "VOL-0003",
                                 "notes.txt", "vol-0003.bak", ".vol-0004.new.keep"};
  for (const char* n : ignored) std::ofstream(vols + "/" + n) << "ignored";
  std::filesystem::create_directory(vols + "/subdir");
  std::filesystem::create_directory(vols + "/vol-0043");
  auto found = (*a)->Discover();
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].id, "vol-0042");
  EXPECT_EQ((*a)->Locate("vol-0042").status().code(), Code::kFailedPrecondition);
  EXPECT_EQ((*a)->GetVolume("vol-0043").status().code(), Code::kNotFound);
  EXPECT_EQ((*a)->GetVolume("odd-size").status().code(), Code::kInvalidArgument);
  EXPECT_EQ((*a)->GetVolume("../array.json").status().code(), Code::kInvalidArgument);
  for (const char* n : ignored) EXPECT_TRUE(std::filesystem::exists(vols + "/" + n)) << n;
  // Reopening leaves them too.
  ASSERT_TRUE(OpenArray(Spec(dir.path())).ok());
  for (const char* n : ignored) EXPECT_TRUE(std::filesystem::exists(vols + "/" + n)) << n;
}

TEST(FileArrayTest, PathsAreResolved) {
  testing::TempDir dir;
  const std::string d = dir.path();
  std::filesystem::create_directories(d + "/real/sub");
  std::filesystem::create_directory_symlink(d + "/real", d + "/link");
  EXPECT_EQ(*ResolveArrayPath(d + "/a/../b"), d + "/b");
  EXPECT_EQ(*ResolveArrayPath(d + "/real/sub/../../x/"), d + "/x");
  EXPECT_EQ(*ResolveArrayPath(d + "/link/sub/new"), d + "/real/sub/new");
  EXPECT_EQ(*ResolveArrayPath(d + "/link/../real"), d + "/real");
  EXPECT_EQ(*ResolveArrayPath("/"), "/");

  auto a = OpenArray({"dots", "file", d + "/real/sub/../arr", kMiB, 0, {}, {}});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ((*a)->info().path, d + "/real/arr");
}

TEST(FileArrayTest, DisjointPaths) {
  struct Case {
    const char* a;
    const char* b;
    const char* message;  // "" when disjoint
  } cases[] = {
      {"/srv/a", "/srv/b", ""},
      {"/srv/a", "/srv/ab", ""},
      {"/srv/ab", "/srv/a", ""},
      {"/srv/a", "/srv/a", "new array /srv/a is data directory"},
      {"/srv/a/x", "/srv/a", "new array /srv/a/x is inside data directory /srv/a"},
      {"/srv", "/srv/a", "new array /srv contains data directory /srv/a"},
      {"/", "/srv/a", "new array / contains data directory /srv/a"},
  };
  for (const Case& c : cases) {
    Status s = CheckDisjointPaths("new array", c.a, "data directory", c.b);
    if (*c.message == '\0') {
      EXPECT_TRUE(s.ok()) << c.a << " " << c.b << ": " << s.ToString();
    } else {
      EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.a << " " << c.b;
      EXPECT_EQ(s.message(), c.message);
    }
  }
}

// A capacity the file system cannot hold (or that overflows) is refused
// before anything is created.
TEST(FileArrayTest, CapacityMustFitTheFileSystem) {
  testing::TempDir dir;
  for (uint64_t capacity : {uint64_t{1} << 61, uint64_t{1} << 62, UINT64_MAX}) {
    ArraySpec s = Spec(dir.path(), capacity);
    auto a = OpenArray(s);
    ASSERT_FALSE(a.ok()) << capacity;
    EXPECT_EQ(a.status().code(), Code::kInvalidArgument) << a.status().ToString();
    EXPECT_FALSE(std::filesystem::exists(s.path)) << capacity;
  }
  auto a = OpenArray(Spec(dir.path(), uint64_t{1} << 61));
  EXPECT_NE(a.status().message().find("larger than the file system at " + dir.path()), std::string::npos)
      << a.status().ToString();
  EXPECT_NE(OpenArray(Spec(dir.path(), UINT64_MAX)).status().message().find("more than 4 EiB"), std::string::npos);
}

std::vector<std::string> TempFiles(const std::string& vols) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(vols)) {
    std::string n = e.path().filename();
    if (n.ends_with(".new")) out.push_back(n);
  }
  return out;
}

// A volume file that cannot be made (here: the file size limit makes
// ftruncate fail with EFBIG) leaves no .new file behind.
TEST(FileArrayTest, FailedCreateLeavesNoTempFile) {
  testing::TempDir dir;
  auto a = OpenArray(Spec(dir.path()));
  ASSERT_TRUE(a.ok());
  const std::string vols = (*a)->info().path + "/volumes";
  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old;
  small.rlim_cur = kMiB;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto v = (*a)->CreateVolume(4 * kMiB);
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), Code::kIoError) << v.status().ToString();
  EXPECT_NE(v.status().message().find(".new"), std::string::npos) << v.status().ToString();
  EXPECT_EQ(TempFiles(vols), std::vector<std::string>{});
  // Nothing else was made either, and the array still works.
  auto found = (*a)->Discover();
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(found->empty());
  EXPECT_TRUE((*a)->CreateVolume(4 * kMiB).ok());
}

// A crash between creating and renaming leaves .vol-NNNN.new; reopening the
// array removes those (and nothing else).
TEST(FileArrayTest, ReopenRemovesTempFilesACrashLeft) {
  testing::TempDir dir;
  ASSERT_TRUE(OpenArray(Spec(dir.path())).ok());
  const std::string vols = dir.path() + "/disk1/volumes";
  std::ofstream(vols + "/.vol-0007.new") << "half made";
  std::ofstream(vols + "/.mine.new") << "not ours";
  ASSERT_TRUE(OpenArray(Spec(dir.path())).ok());
  EXPECT_EQ(TempFiles(vols), std::vector<std::string>{".mine.new"});
}

TEST(FileArrayTest, ArrayPathsAreAbsolute) {
  testing::TempDir dir;
  std::string cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  auto a = OpenArray({"rel", "file", "rel-array", kMiB, 0, {}, {}});
  std::filesystem::current_path(cwd);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->info().path, dir.path() + "/rel-array");
  auto v = (*a)->CreateVolume(kMiB);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->path, dir.path() + "/rel-array/volumes/" + v->id);
}

}  // namespace
}  // namespace vsl::array
