// ImageStaging (hash + durable rename) and OpenInImportDir (what a client may
// name), on a temporary directory.
#include "api/image_staging.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace vsl::api {
namespace {

namespace fs = std::filesystem;

class StagingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vsl-staging-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = fs::canonical(tmpl).string();
    data_ = root_ + "/data";
    imp_ = root_ + "/import";
    fs::create_directories(data_);
    fs::create_directories(imp_ + "/sub");
    std::ofstream(imp_ + "/sub/ok.raw") << "abc";
    std::ofstream(root_ + "/secret") << "secret";
    fs::create_symlink(root_ + "/secret", imp_ + "/link");
    fs::create_symlink(root_, imp_ + "/rootlink");
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string root_, data_, imp_;
};

TEST_F(StagingTest, HashesRenamesAndRemoves) {
  std::string path;
  {
    auto st = ImageStaging::Create(data_);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    ASSERT_TRUE((*st)->Append("ab", 2).ok());
    ASSERT_TRUE((*st)->Append("c", 1).ok());
    ASSERT_TRUE((*st)->Commit().ok());
    EXPECT_EQ((*st)->sha256(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ((*st)->size(), 3u);
    path = (*st)->path();
    EXPECT_EQ(path.substr(path.size() - 4), ".img");
    struct stat s;
    ASSERT_EQ(stat(path.c_str(), &s), 0);
    EXPECT_EQ(s.st_mode & 0777, 0600u);
  }
  EXPECT_FALSE(fs::exists(path)) << "not kept: removed";
  {
    auto st = ImageStaging::Create(data_);
    ASSERT_TRUE(st.ok());
    ASSERT_TRUE((*st)->Append("x", 1).ok());
    ASSERT_TRUE((*st)->Commit().ok());
    (*st)->Keep();
    path = (*st)->path();
  }
  EXPECT_TRUE(fs::exists(path)) << "kept for the import request";
}

TEST_F(StagingTest, OpensOnlyInsideTheImportDir) {
  auto ok = OpenInImportDir(imp_, "sub/ok.raw");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  close(*ok);
  auto abs = OpenInImportDir(imp_, imp_ + "/sub/ok.raw");
  ASSERT_TRUE(abs.ok()) << abs.status().ToString();
  close(*abs);

  struct Case {
    const char* what;
    std::string file;
    Code code;
  };
  const Case cases[] = {
      {"absolute, outside", root_ + "/secret", Code::kPermissionDenied},
      {"/etc/shadow", "/etc/shadow", Code::kPermissionDenied},
      {"symlink inside pointing out", "link", Code::kPermissionDenied},
      {"through a symlinked directory", "rootlink/secret", Code::kPermissionDenied},
      {"'..' out", "../secret", Code::kPermissionDenied},
      {"'..' from an absolute path inside", imp_ + "/sub/../../secret", Code::kPermissionDenied},
      {"the import directory itself", ".", Code::kPermissionDenied},
      {"a directory inside", "sub", Code::kInvalidArgument},
      {"missing", "nope.raw", Code::kNotFound},
  };
  for (const Case& c : cases) {
    auto r = OpenInImportDir(imp_, c.file);
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.status().code(), c.code) << c.what << ": " << r.status().ToString();
  }
  auto none = OpenInImportDir("", "sub/ok.raw");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), Code::kPermissionDenied);
  EXPECT_NE(none.status().message().find("--import-dir"), std::string::npos);
}

}  // namespace
}  // namespace vsl::api
