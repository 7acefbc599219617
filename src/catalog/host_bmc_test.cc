#include "catalog/host_bmc.h"

#include <gtest/gtest.h>

#include "catalog/testing/catalog_fixture.h"

namespace vsl::catalog {
namespace {

TEST(ParseBmcAddress, FormsAndRefusals) {
  struct Case {
    const char* text;
    const char* address;  // nullptr: refused
    int64_t port;
    const char* error = "";
  };
  const Case cases[] = {
      {"10.0.0.5", "10.0.0.5", 623},
      {"10.0.0.5:6230", "10.0.0.5", 6230},
      {"bmc-07.rack3.example.net", "bmc-07.rack3.example.net", 623},
      {"bmc1:1", "bmc1", 1},
      {"bmc1:65535", "bmc1", 65535},
      {"fe80::1", "fe80::1", 623},
      {"[fe80::1]", "fe80::1", 623},
      {"[2001:db8::7]:6231", "2001:db8::7", 6231},
      {"bmc1:0", nullptr, 0, "port '0' is not a number from 1 to 65535"},
      {"bmc1:65536", nullptr, 0, "port '65536'"},
      {"bmc1:", nullptr, 0, "port ''"},
      {"bmc1:62x", nullptr, 0, "port '62x'"},
      {"bmc1:-5", nullptr, 0, "port '-5'"},
      {"", nullptr, 0, "not a host name nor an IP address"},
      {"-oProxyCommand=x", nullptr, 0, "not a host name nor an IP address"},
      {"bmc;reboot", nullptr, 0, "not a host name nor an IP address"},
      {"bmc 1", nullptr, 0, "not a host name nor an IP address"},
      {"bmc..x", nullptr, 0, "not a host name nor an IP address"},
      {"bmc-.x", nullptr, 0, "not a host name nor an IP address"},
      {"[fe80::1", nullptr, 0, "'[' without ']'"},
      {"[fe80::1]x", nullptr, 0, "expected :PORT after ']'"},
      {"[bmc1]:623", nullptr, 0, "not a host name nor an IP address"},
      {"bmc\n1", nullptr, 0, "'bmc\\x0a1'"},
  };
  for (const Case& c : cases) {
    auto got = ParseBmcAddress(c.text);
    if (c.address == nullptr) {
      ASSERT_FALSE(got.ok()) << c.text;
      EXPECT_EQ(got.status().code(), Code::kInvalidArgument) << c.text;
      EXPECT_NE(got.status().message().find(c.error), std::string::npos) << c.text << ": " << got.status().message();
      EXPECT_EQ(got.status().message().rfind("--bmc", 0), 0u) << got.status().message();
    } else {
      ASSERT_TRUE(got.ok()) << c.text << ": " << got.status().ToString();
      EXPECT_EQ(got->first, c.address);
      EXPECT_EQ(got->second, c.port) << c.text;
    }
  }
  EXPECT_TRUE(IsValidBmcAddress(std::string(253, 'a').replace(63, 1, ".").replace(127, 1, ".").replace(191, 1, ".")));
  EXPECT_FALSE(IsValidBmcAddress(std::string(64, 'a')));
}

TEST(CheckHostBmc, FieldsNamedPasswordNeverShown) {
  HostBmc ok{"10.0.0.5", 623, "admin", "p4ss word!", "pxe"};
  EXPECT_TRUE(CheckHostBmc(ok).ok());
  EXPECT_TRUE(CheckHostBmc(HostBmc{}).ok());  // no BMC at all
  HostBmc anon = ok;
  anon.user = "";
  EXPECT_TRUE(CheckHostBmc(anon).ok());
  struct Case {
    std::function<void(HostBmc&)> edit;
    const char* error;
  };
  const Case cases[] = {
      {[](HostBmc& b) { b.address = "a b"; }, "bmc_address: 'a b' is not a host name nor an IP address"},
      {[](HostBmc& b) { b.port = 0; }, "bmc_port: 0 is not a port from 1 to 65535"},
      {[](HostBmc& b) { b.port = 65536; }, "bmc_port: 65536"},
      {[](HostBmc& b) { b.user = "abcdefghijklmnopq"; }, "bmc_user: 'abcdefghijklmnopq' is not at most 16"},
      {[](HostBmc& b) { b.user = "ad\tmin"; }, "bmc_user: 'ad\\x09min'"},
      {[](HostBmc& b) { b.password = ""; }, "bmc_password: must be 1 to 20"},
      {[](HostBmc& b) { b.password = "123456789012345678901"; }, "the one given is 21 bytes"},
      {[](HostBmc& b) { b.password = "secret\n"; }, "with control or non-ASCII bytes"},
      {[](HostBmc& b) { b.password = "s\xc3\xa9\x63ret"; }, "with control or non-ASCII bytes"},
      {[](HostBmc& b) { b.bootdev = "floppy"; }, "bmc_bootdev: 'floppy' is none of none, pxe or disk"},
      {[](HostBmc& b) { b.address = ""; }, "bmc_address: missing"},
  };
  for (const Case& c : cases) {
    HostBmc b = ok;
    c.edit(b);
    Status s = CheckHostBmc(b);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.error;
    EXPECT_NE(s.message().find(c.error), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find(b.password.empty() ? "\x01" : b.password), std::string::npos) << s.message();
  }
}

class HostBmcCatalogTest : public testing::CatalogFixture {};

TEST_P(HostBmcCatalogTest, StoredWithTheHostSetAndCleared) {
  Status s = catalog().Write([&](Tx& tx) -> Status {
    Host h;
    h.name = "srv1";
    h.hw_type = "x86";
    h.initiators = {"iqn.2026-11.test:srv1"};
    h.bmc = HostBmc{"bmc-srv1.example.net", 6230, "admin", "first-pass", "pxe"};
    VSL_ASSIGN_OR_RETURN(h, catalog().AddHost(tx, h));
    VSL_ASSIGN_OR_RETURN(Host got, catalog().GetHostByName(tx, "srv1"));
    EXPECT_EQ(got.bmc.address, "bmc-srv1.example.net");
    EXPECT_EQ(got.bmc.port, 6230);
    EXPECT_EQ(got.bmc.user, "admin");
    EXPECT_EQ(got.bmc.password, "first-pass");
    EXPECT_EQ(got.bmc.bootdev, "pxe");
    VSL_RETURN_IF_ERROR(catalog().SetHostBmc(tx, h.id, HostBmc{"10.1.2.3", 623, "root", "second-pass", "none"}));
    VSL_ASSIGN_OR_RETURN(got, catalog().GetHost(tx, h.id));
    EXPECT_EQ(got.bmc.address, "10.1.2.3");
    EXPECT_EQ(got.bmc.password, "second-pass");
    // Refused: nothing changes.
    EXPECT_EQ(catalog().SetHostBmc(tx, h.id, HostBmc{"10.1.2.3", 70000, "root", "x", "none"}).code(),
              Code::kInvalidArgument);
    VSL_ASSIGN_OR_RETURN(got, catalog().GetHost(tx, h.id));
    EXPECT_EQ(got.bmc.port, 623);
    VSL_RETURN_IF_ERROR(catalog().SetHostBmc(tx, h.id, HostBmc{}));
    VSL_ASSIGN_OR_RETURN(got, catalog().GetHost(tx, h.id));
    EXPECT_EQ(got.bmc.address, "");
    EXPECT_EQ(got.bmc.password, "");
    EXPECT_EQ(catalog().SetHostBmc(tx, 9999, HostBmc{}).code(), Code::kNotFound);
    // A host without a BMC (the default) and a refused one at add.
    Host plain;
    plain.name = "srv2";
    plain.initiators = {"iqn.2026-11.test:srv2"};
    VSL_ASSIGN_OR_RETURN(plain, catalog().AddHost(tx, plain));
    EXPECT_EQ(plain.bmc.address, "");
    EXPECT_EQ(plain.bmc.port, kDefaultBmcPort);
    Host bad;
    bad.name = "srv3";
    bad.initiators = {"iqn.2026-11.test:srv3"};
    bad.bmc = HostBmc{"bmc3", 623, "admin", "", "none"};
    EXPECT_EQ(catalog().AddHost(tx, bad).status().code(), Code::kInvalidArgument);
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
}

VSL_INSTANTIATE_CATALOG_BACKENDS(HostBmcCatalogTest);

}  // namespace
}  // namespace vsl::catalog
