// The boot script the `qemu` power driver gives a host's NIC firmware.
#include <gtest/gtest.h>

#include "farm/power.h"

namespace vsl::farm {
namespace {

PowerHost Host() {
  PowerHost h;
  h.name = "web1";
  h.initiator = "iqn.2026-11.org.example:web1";
  h.chap_user = "web1";
  h.chap_secret = "0123456789abcdef";
  h.luns = {0, 1};
  return h;
}

PowerOptions Options(const std::string& address) {
  PowerOptions o;
  o.driver = "qemu";
  o.data_dir = "/tmp";
  o.iscsi_address = address;
  return o;
}

TEST(IpxeBootScript, LoopbackBecomesTheGuestsGatewayAddress) {
  auto s = IpxeBootScript(Options("127.0.0.1:3260"), Host());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*s,
            "#!ipxe\n# vsl: boots host web1 from LUN 0 of its target (holds its CHAP secret)\n"
            "set initiator-iqn iqn.2026-11.org.example:web1\n"
            "set username web1\nset password 0123456789abcdef\n"
            "sanboot iscsi:10.0.2.2::3260:0:iqn.2026-11.org.vsl:web1\n");
}

TEST(IpxeBootScript, OtherAddressesStayAndMutualChapIsSet) {
  PowerHost h = Host();
  h.mutual_user = "gw";
  h.mutual_secret = "fedcba9876543210";
  auto s = IpxeBootScript(Options("192.0.2.7:3261"), h);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_NE(s->find("set reverse-username gw\nset reverse-password fedcba9876543210\n"), std::string::npos) << *s;
  EXPECT_NE(s->find("sanboot iscsi:192.0.2.7::3261:0:iqn.2026-11.org.vsl:web1\n"), std::string::npos) << *s;
}

TEST(IpxeBootScript, NoChapNoCredentials) {
  PowerHost h = Host();
  h.chap_secret.clear();
  auto s = IpxeBootScript(Options("127.0.0.1:3260"), h);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->find("password"), std::string::npos);
}

TEST(IpxeBootScript, RefusesWhatTheScriptCannotCarry) {
  for (std::string bad : {"two words secret", "has${expansion}x", "tab\tsecret-12", "caf\xc3\xa9-secret-1"}) {
    PowerHost h = Host();
    h.chap_secret = bad;
    auto s = IpxeBootScript(Options("127.0.0.1:3260"), h);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.status().message().find("host web1: its CHAP secret"), std::string::npos) << s.status().ToString();
  }
  auto s = IpxeBootScript(Options("no-port"), Host());
  EXPECT_FALSE(s.ok());
}

TEST(PowerDrivers, NamesAndVms) {
  EXPECT_TRUE(DriverRunsVms("qemu"));
  EXPECT_TRUE(DriverRunsVms("qemu-direct"));
  EXPECT_FALSE(DriverRunsVms("none"));
  PowerOptions o = Options("127.0.0.1:3260");
  for (const char* d : {"qemu", "qemu-direct"}) {
    o.driver = d;
    auto p = MakePowerController(o);
    ASSERT_TRUE(p.ok()) << d;
    EXPECT_EQ((*p)->driver(), d);
  }
  o.driver = "qemu-kvm";
  auto bad = MakePowerController(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("expected none, qemu, qemu-direct or ipmi"), std::string::npos);
}

}  // namespace
}  // namespace vsl::farm
