// Authentication attacks over raw TCP, with CHAP done by hand: replayed and
// garbled responses, reflected challenges, unsupported algorithms, and
// logins that reuse a live session's ISID. A failed login must never
// disturb the session it names.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "raw_fixture.h"

namespace vsl::e2e {
namespace {

using RawAuth = RawGatewayTest;

TEST_F(RawAuth, ChapAndMutualChapByHand) {
  RawLoginOptions o = Web1Host();
  o.target_secret = farm::kWeb1TargetSecret;
  RawSession s;
  RawLogin(&s, o);  // checks the target's mutual CHAP_R
  std::string error;
  EXPECT_TRUE(s.Ping(Pattern(32, 20), &error)) << error;
}

TEST_F(RawAuth, ChallengesAreFreshAndResponsesDoNotReplay) {
  RawSession first;
  RawLogin(&first, Web1Host());
  RawLoginOptions replay = Web1Host();
  replay.chap_response_override = first.chap_response;
  RawSession second;
  std::string error;
  EXPECT_FALSE(second.Login(gw_.port(), replay, &error))
      << "a CHAP response to an earlier challenge was accepted";
  EXPECT_EQ(second.login_status_class, 2) << error;
  EXPECT_EQ(second.login_status_detail, 1) << error;
  EXPECT_NE(second.target_challenge, first.target_challenge) << "the target reused a challenge";
  EXPECT_TRUE(first.Ping(Pattern(8, 21), &error)) << error;
}

TEST_F(RawAuth, GarbledChapResponsesFailAuthentication) {
  for (const char* garbled : {"0xZZ", "0x00", "0x0123456789abcdef0123456789abcde", "banana",
                              "0bAAAAAAAAAAAAAAAAAAAAAA=="}) {
    SCOPED_TRACE(std::string("CHAP_R=") + garbled);
    RawLoginOptions o = Web1Host();
    o.chap_response_override = garbled;
    RawSession s;
    std::string error;
    EXPECT_FALSE(s.Login(gw_.port(), o, &error));
    EXPECT_EQ(s.login_status_class, 2) << error;
    EXPECT_TRUE(s.login_status_detail == 0 || s.login_status_detail == 1)
        << "status detail " << int(s.login_status_detail);
  }
  ExpectOthersWork();
}

TEST_F(RawAuth, ReflectedChallengeIsRefused) {
  // RFC 7143 §12.1.3: the responder must not answer its own challenge sent
  // back to it (that would hand the attacker a valid response).
  RawLoginOptions o = Web1Host();
  o.target_secret = farm::kWeb1TargetSecret;
  o.reflect_challenge = true;
  RawSession s;
  std::string error;
  EXPECT_FALSE(s.Login(gw_.port(), o, &error)) << "the target answered its own challenge";
  EXPECT_TRUE(s.login_status_class == 2 || error.find("closed") != std::string::npos)
      << "expected a login reject or a closed connection, got: " << error;
  ExpectOthersWork();
}

TEST_F(RawAuth, UnsupportedChapAlgorithmFailsTheLogin) {
  RawLoginOptions o = Web1Host();
  o.chap_algorithms = "7";  // only MD5 (5) is defined for iSCSI
  RawSession s;
  std::string error;
  EXPECT_FALSE(s.Login(gw_.port(), o, &error));
  EXPECT_TRUE(s.login_status_class == 2 || error == "target answered CHAP_A=Reject")
      << "expected CHAP_A=Reject or a login reject, got: " << error;
  ExpectOthersWork();
}

TEST_F(RawAuth, FailedLoginDoesNotTakeOverALiveSession) {
  RawLoginOptions o = Web1Host();
  o.login_itt = UniqueLoginItt();  // fixes the ISID
  RawSession victim;
  RawLogin(&victim, o);
  std::string error;
  {
    SCOPED_TRACE("same initiator name and ISID, wrong secret");
    RawLoginOptions bad = o;
    bad.chap_secret = "web1-secret-guess";
    RawSession attacker;
    EXPECT_FALSE(attacker.Login(gw_.port(), bad, &error));
    EXPECT_EQ(attacker.login_status_class, 2) << error;
    EXPECT_TRUE(victim.Ping(Pattern(8, 22), &error)) << "the victim session broke: " << error;
  }
  {
    SCOPED_TRACE("same initiator name and ISID, another host's valid account");
    RawLoginOptions bad = o;
    bad.chap_user = farm::kWeb2User;
    bad.chap_secret = farm::kWeb2Secret;
    RawSession attacker;
    EXPECT_FALSE(attacker.Login(gw_.port(), bad, &error));
    EXPECT_EQ(attacker.login_status_class, 2) << error;
    EXPECT_TRUE(victim.Ping(Pattern(8, 23), &error)) << "the victim session broke: " << error;
  }
  {
    SCOPED_TRACE("same ISID, another host's initiator name and account");
    RawLoginOptions other = o;
    other.initiator = farm::kWeb2InitiatorA;
    other.target = TargetName("web2");
    other.chap_user = farm::kWeb2User;
    other.chap_secret = farm::kWeb2Secret;
    RawSession web2;
    RawLogin(&web2, other);  // a different I_T nexus: both live
    EXPECT_TRUE(victim.Ping(Pattern(8, 24), &error)) << "the victim session broke: " << error;
    EXPECT_TRUE(web2.Ping(Pattern(8, 25), &error)) << error;
  }
  ExpectOthersWork();
}

TEST_F(RawAuth, ReinstatementWithTheRightSecretReplacesTheOldSession) {
  // RFC 7143 §6.3.5: a login with a live session's ISID and TSIH 0
  // reinstates it; the old session's connection is closed.
  RawLoginOptions o = Web1Host();
  o.login_itt = UniqueLoginItt();
  RawSession old_session;
  RawLogin(&old_session, o);
  RawSession new_session;
  RawLogin(&new_session, o);
  std::vector<Pdu> seen;
  EXPECT_TRUE(old_session.conn.WaitClosed(kWait, &seen))
      << "the reinstated session's connection is still open";
  for (const Pdu& p : seen) {
    EXPECT_EQ(p.opcode(), kAsyncMessage) << "opcode " << Hex(p.opcode());
  }
  std::string error;
  EXPECT_TRUE(new_session.Ping(Pattern(8, 26), &error)) << error;
  ExpectOthersWork();
}

}  // namespace
}  // namespace vsl::e2e
