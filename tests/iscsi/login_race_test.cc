// A host's CHAP secret rotated, or the host removed, while one of its
// initiators is in the middle of a slow login: the login must not get in
// with the credentials of before (issue 8). The gateway runs in this process
// so the test can change its host map between two Login Requests, which it
// sends by hand over TCP.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "gateway/gateway.h"
#include "raw_pdu.h"

namespace vsl::e2e {
namespace {

constexpr char kPrefix[] = "iqn.2026-11.org.vsl";
constexpr char kInitiator[] = "iqn.2026-11.org.example:slow";
constexpr char kUser[] = "slow";
constexpr char kSecret[] = "slow-secret-0123";

class LoginRace : public testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    dir_ = std::string(tmp && *tmp ? tmp : "/tmp") + "/vsl-race-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_.data()), nullptr);
    disk_ = dir_ + "/disk.img";
    int fd = ::open(disk_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 1 << 20), 0);
    ::close(fd);
    gateway::GatewayOptions o;
    o.listen = "127.0.0.1:0";
    o.iqn_prefix = kPrefix;
    o.network_threads = 1;
    o.io_threads = 2;
    auto gw = gateway::Gateway::Create(o);
    ASSERT_TRUE(gw.ok()) << gw.status().ToString();
    gw_ = std::move(*gw);
    ASSERT_TRUE(gw_->SetHost(Host(kSecret)).ok());
    ASSERT_TRUE(gw_->Start().ok());
    std::string addr = gw_->address();
    port_ = std::stoi(addr.substr(addr.rfind(':') + 1));
  }
  void TearDown() override {
    if (gw_) gw_->Stop();
    gw_.reset();
    ::unlink(disk_.c_str());
    ::rmdir(dir_.c_str());
  }

  gateway::HostConfig Host(const std::string& secret) const {
    gateway::HostConfig h;
    h.name = "slow";
    h.initiators = {kInitiator};
    h.chap = gateway::Chap{kUser, secret};
    gateway::LunConfig l;
    l.lun = 0;
    l.extents = {{disk_, 0, 1 << 20}};
    h.luns = {l};
    return h;
  }

  // One Login Request/Response; returns the response's status class.
  int Step(RawConnection* c, uint8_t csg, uint8_t nsg, bool transit, const KeyValues& keys,
           KeyValues* answer) {
    Pdu req = LoginRequest(csg, nsg, transit, itt_, 1, statsn_, EncodeKeys(keys));
    EXPECT_TRUE(c->Send(req));
    Pdu resp;
    std::string error;
    if (c->Read(&resp, 5000, &error) != ReadStatus::kPdu) {
      ADD_FAILURE() << "no Login Response: " << error;
      return -1;
    }
    EXPECT_EQ(resp.opcode(), kLoginResponse);
    statsn_ = resp.Field32(24) + 1;
    if (answer) *answer = DecodeKeys(resp.data);
    return resp.bhs[36];
  }

  // Logs in up to the CHAP challenge, lets `change` alter the gateway, then
  // answers the challenge with the secret of before and asks for full
  // feature phase. True when the gateway let the login in.
  bool SlowLogin(const std::function<void()>& change) {
    RawConnection c;
    std::string error;
    EXPECT_TRUE(c.Connect(port_, &error)) << error;
    itt_ = UniqueLoginItt();
    statsn_ = 0;
    KeyValues answer;
    KeyValues first = {{"InitiatorName", kInitiator},
                       {"SessionType", "Normal"},
                       {"TargetName", std::string(kPrefix) + ":slow"},
                       {"AuthMethod", "CHAP"}};
    if (Step(&c, 0, 1, false, first, &answer) != 0) return false;
    if (Step(&c, 0, 1, false, {{"CHAP_A", "5"}}, &answer) != 0) return false;
    std::vector<uint8_t> challenge;
    EXPECT_TRUE(FromHex(FindKey(answer, "CHAP_C"), &challenge));
    uint8_t id = uint8_t(std::stoi(FindKey(answer, "CHAP_I")));
    change();
    KeyValues proof = {{"CHAP_N", kUser}, {"CHAP_R", ToHex(ChapMd5(id, kSecret, challenge))}};
    if (Step(&c, 0, 1, true, proof, &answer) != 0) return false;
    KeyValues ops = {{"HeaderDigest", "None"}, {"DataDigest", "None"}, {"ErrorRecoveryLevel", "0"}};
    return Step(&c, 1, 3, true, ops, &answer) == 0;
  }

  std::string dir_, disk_;
  std::unique_ptr<gateway::Gateway> gw_;
  int port_ = 0;
  uint32_t itt_ = 0, statsn_ = 0;
};

TEST_F(LoginRace, UnchangedCredentialsLogIn) {
  EXPECT_TRUE(SlowLogin([] {}));
}

TEST_F(LoginRace, SecretRotatedDuringLoginRefuses) {
  EXPECT_FALSE(SlowLogin([this] { ASSERT_TRUE(gw_->SetHost(Host("slow-rotated-4567")).ok()); }))
      << "the secret of before still opened the target";
}

TEST_F(LoginRace, HostRemovedDuringLoginRefuses) {
  EXPECT_FALSE(SlowLogin([this] { ASSERT_TRUE(gw_->RemoveHost("slow").ok()); }))
      << "a removed host still logged in";
}

}  // namespace
}  // namespace vsl::e2e
