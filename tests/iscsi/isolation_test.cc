// Isolation through libiscsi: each host's target opens only for that host's
// initiator names with that host's CHAP secret, discovery shows a host only
// its own target, and a host cannot address LUNs that are not mapped to it.
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "iscsi_client.h"

namespace vsl::e2e {
namespace {

// Login Response Status-Class 2 details (RFC 7143 §11.13.5).
constexpr int kAuthenticationFailure = 0x0201;
constexpr int kAuthorizationFailure = 0x0202;
constexpr int kNotFound = 0x0203;

class Isolation : public GatewayTest {
 protected:
  // Expects the login to fail with one of `statuses`; returns libiscsi's message.
  void ExpectRefused(const LoginSpec& spec, std::set<int> statuses) {
    std::string error;
    Context ctx = Login(gw_.portal(), spec, 0, &error);
    EXPECT_FALSE(ctx) << spec.initiator << " (CHAP user '" << spec.user << "') opened "
                      << spec.target;
    if (ctx) return;
    int status = LoginStatus(error);
    EXPECT_TRUE(statuses.count(status))
        << "login of " << spec.initiator << " to " << spec.target << " failed with \"" << error
        << "\"; expected a Login Response with status class 2 and detail in {1,2,3}";
  }

  std::set<std::string> Discover(const LoginSpec& spec, bool* logged_in, std::string* portals) {
    std::string error;
    Context ctx = LoginDiscovery(gw_.portal(), spec, &error);
    *logged_in = bool(ctx);
    std::set<std::string> targets;
    if (!ctx) return targets;
    // libiscsi returns null both for an empty answer and for a failure; an
    // empty set then fails the callers' expectations that need a target.
    iscsi_discovery_address* list = iscsi_discovery_sync(ctx.get());
    if (list == nullptr) *portals += std::string("(SendTargets: ") + iscsi_get_error(ctx.get()) + ")";
    for (auto* a = list; a != nullptr; a = a->next) {
      targets.insert(a->target_name);
      for (auto* p = a->portals; p != nullptr; p = p->next) *portals += std::string(p->portal) + " ";
    }
    if (list) iscsi_free_discovery_data(ctx.get(), list);
    iscsi_logout_sync(ctx.get());
    return targets;
  }
};

TEST_F(Isolation, WrongChapSecretIsRefused) {
  LoginSpec spec = Web1Spec();
  spec.secret = "web1-secret-0124";
  spec.target_user.clear();
  ExpectRefused(spec, {kAuthenticationFailure});
}

TEST_F(Isolation, RightSecretUnderAnotherInitiatorNameIsRefused) {
  LoginSpec spec = Web1Spec();
  spec.initiator = "iqn.2026-11.org.example:intruder";
  ExpectRefused(spec, {kAuthenticationFailure, kAuthorizationFailure});
  // Another host's initiator name with web1's secret, too.
  spec.initiator = farm::kWeb2InitiatorA;
  ExpectRefused(spec, {kAuthenticationFailure, kAuthorizationFailure});
}

TEST_F(Isolation, AnotherHostsTargetIsRefused) {
  // web1's own name and secret, web2's target.
  LoginSpec spec = Web1Spec();
  spec.target = TargetName("web2");
  spec.target_user.clear();
  ExpectRefused(spec, {kAuthenticationFailure, kAuthorizationFailure, kNotFound});
  // web2's credentials used by web1's initiator on web2's target.
  LoginSpec spec2 = Web2Spec();
  spec2.initiator = farm::kWeb1Initiator;
  ExpectRefused(spec2, {kAuthenticationFailure, kAuthorizationFailure});
  // The host without authentication is no way in to the others.
  LoginSpec spec3 = OpenSpec();
  spec3.target = TargetName("web1");
  ExpectRefused(spec3, {kAuthenticationFailure, kAuthorizationFailure, kNotFound});
  // A target no host has.
  LoginSpec spec4 = OpenSpec();
  spec4.target = TargetName("nosuchhost");
  ExpectRefused(spec4, {kAuthenticationFailure, kAuthorizationFailure, kNotFound});
}

TEST_F(Isolation, NoChapWhenTheHostRequiresItIsRefused) {
  LoginSpec spec = Web1Spec();
  spec.user.clear();
  spec.secret.clear();
  spec.target_user.clear();
  ExpectRefused(spec, {kAuthenticationFailure, kAuthorizationFailure});
  // Another host's CHAP account does not open web1 either.
  spec.user = farm::kWeb2User;
  spec.secret = farm::kWeb2Secret;
  ExpectRefused(spec, {kAuthenticationFailure, kAuthorizationFailure});
}

TEST_F(Isolation, DiscoveryShowsEachHostOnlyItsOwnTarget) {
  bool in = false;
  std::string portals;
  LoginSpec web1 = Web1Spec();
  web1.target_user.clear();  // mutual CHAP has its own test
  EXPECT_EQ(Discover(web1, &in, &portals), std::set<std::string>{TargetName("web1")}) << portals;
  EXPECT_TRUE(in) << "discovery login of web1 with its CHAP secret failed";
  EXPECT_NE(portals.find(std::to_string(gw_.port())), std::string::npos)
      << "SendTargets portals '" << portals << "' do not name the gateway's port";
  EXPECT_EQ(Discover(Web2Spec(), &in, &portals), std::set<std::string>{TargetName("web2")})
      << portals;
  EXPECT_EQ(Discover(Web2Spec(true), &in, &portals), std::set<std::string>{TargetName("web2")})
      << portals;
  EXPECT_EQ(Discover(OpenSpec(), &in, &portals), std::set<std::string>{TargetName("open")})
      << portals;
}

TEST_F(Isolation, DiscoveryRevealsNothingToStrangers) {
  // An initiator no host has: refused, or shown nothing.
  LoginSpec stranger = OpenSpec();
  stranger.initiator = "iqn.2026-11.org.example:stranger";
  bool in = false;
  std::string portals;
  EXPECT_EQ(Discover(stranger, &in, &portals), std::set<std::string>{});
  // web1's name with a wrong secret: refused, or shown nothing.
  LoginSpec wrong = Web1Spec();
  wrong.secret = "guess";
  wrong.target_user.clear();
  EXPECT_EQ(Discover(wrong, &in, &portals), std::set<std::string>{});
  // web1's name without CHAP never shows another host's target.
  LoginSpec bare = Web1Spec();
  bare.user.clear();
  bare.secret.clear();
  bare.target_user.clear();
  std::set<std::string> seen = Discover(bare, &in, &portals);
  EXPECT_EQ(seen.count(TargetName("web2")) + seen.count(TargetName("open")), 0u);
}

TEST_F(Isolation, UnmappedLunsAreNotAddressable) {
  // web1's LUN 3 is the shared volume; web2 has it at 5, so its LUN 3 must
  // not exist (SPC-4: LOGICAL UNIT NOT SUPPORTED, 25h/00h).
  Context web2 = LoginOrFail(Web2Spec());
  ASSERT_TRUE(web2);
  for (int lun : {1, 3}) {
    Task t(iscsi_read16_sync(web2.get(), lun, 0, kBlockSize, kBlockSize, 0, 0, 0, 0, 0));
    ASSERT_TRUE(t) << iscsi_get_error(web2.get());
    EXPECT_EQ(t->status, SCSI_STATUS_CHECK_CONDITION) << "LUN " << lun << ": " << Describe(t.get());
    EXPECT_EQ(t->sense.key, SCSI_SENSE_ILLEGAL_REQUEST) << Describe(t.get());
    EXPECT_EQ(t->sense.ascq, SCSI_SENSE_ASCQ_LOGICAL_UNIT_NOT_SUPPORTED) << Describe(t.get());
  }
  // INQUIRY to an absent LUN answers with peripheral qualifier 011b.
  Task inq(iscsi_inquiry_sync(web2.get(), 3, 0, 0, 96));
  ASSERT_TRUE(inq && inq->status == SCSI_STATUS_GOOD) << Describe(inq.get());
  ASSERT_GE(inq->datain.size, 1);
  EXPECT_EQ(inq->datain.data[0] >> 5, 3) << "peripheral qualifier of an unmapped LUN";
}

}  // namespace
}  // namespace vsl::e2e
