#include "util/rbd_clients.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace vsl::util {
namespace {

TEST(RbdClientsTest, NonceOfEveryAddressForm) {
  EXPECT_EQ(RbdAddrNonce("127.0.0.1:0/3017452034"), "3017452034");
  EXPECT_EQ(RbdAddrNonce("v2:127.0.0.1:0/42"), "42");
  EXPECT_EQ(RbdAddrNonce("[v2:10.0.0.1:0/7,v1:10.0.0.1:0/7]"), "7");
  EXPECT_EQ(RbdAddrNonce("any:127.0.0.1:0/99"), "99");
  EXPECT_EQ(RbdAddrNonce("127.0.0.1:0"), "");
  EXPECT_EQ(RbdAddrNonce("127.0.0.1:0/"), "");
  EXPECT_EQ(RbdAddrNonce("127.0.0.1:0/12x"), "");
  EXPECT_EQ(RbdAddrNonce(""), "");
}

class RbdClientLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vsl-rbd-clients.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/rbd-clients";
  }
  void TearDown() override {
    SetRbdClientLog("");
    std::system(("rm -rf " + dir_).c_str());
  }
  std::string dir_, path_;
};

TEST_F(RbdClientLogTest, NotedClientsReadBackOnceEach) {
  auto none = ReadRbdClientLog(path_);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());

  NoteRbdClient("fsid-a", "127.0.0.1:0/1");  // no log set: nothing written
  EXPECT_NE(::access(path_.c_str(), F_OK), 0);
  SetRbdClientLog(path_);
  NoteRbdClient("fsid-a", "127.0.0.1:0/1");
  NoteRbdClient("fsid-a", "v2:127.0.0.1:0/1");  // the same client again
  NoteRbdClient("fsid-b", "127.0.0.1:0/2");
  NoteRbdClient("fsid-b", "no-nonce");  // not noted
  NoteRbdClient("", "127.0.0.1:0/3");   // not noted
  {
    std::ofstream torn(path_, std::ios::app);
    torn << "fsid-c 4";  // a line cut short by a kill
  }
  auto got = ReadRbdClientLog(path_);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0], (RbdClient{"fsid-a", "1", "127.0.0.1:0/1"}));
  EXPECT_EQ((*got)[1], (RbdClient{"fsid-b", "2", "127.0.0.1:0/2"}));

  ASSERT_TRUE(WriteRbdClientLog(path_, {(*got)[1]}).ok());
  got = ReadRbdClientLog(path_);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].fsid, "fsid-b");
  ASSERT_TRUE(WriteRbdClientLog(path_, {}).ok());
  EXPECT_NE(::access(path_.c_str(), F_OK), 0) << "an empty list removes the file";
}

}  // namespace
}  // namespace vsl::util
