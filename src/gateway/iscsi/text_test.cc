// Text key=value lists and binary values (RFC 7143 §6.1).
#include <gtest/gtest.h>

#include "gateway/iscsi/login.h"

namespace vsl::iscsi {
namespace {

std::vector<uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

TEST(ParseText, Table) {
  struct Case {
    std::string name;
    std::string bytes;
    std::vector<TextKey> want;  // when ok
    const char* error;          // substring of the message, nullptr: ok
  };
  const std::string big(8193, 'v');
  const std::vector<Case> cases = {
      {"empty", "", {}, nullptr},
      {"one", std::string("A=b\0", 4), {{"A", "b"}}, nullptr},
      {"two",
       std::string("InitiatorName=iqn.x\0SessionType=Normal\0", 40),
       {{"InitiatorName", "iqn.x"}, {"SessionType", "Normal"}},
       nullptr},
      {"value with =", std::string("K=a=b\0", 6), {{"K", "a=b"}}, nullptr},
      {"extra NULs", std::string("\0A=1\0\0B=2\0", 10), {{"A", "1"}, {"B", "2"}}, nullptr},
      {"key chars", std::string("X-com.vsl+v@1_a=1\0", 18), {{"X-com.vsl+v@1_a", "1"}}, nullptr},
      {"extension key", std::string("X#org.example=1\0", 16), {{"X#org.example", "1"}}, nullptr},
      {"# elsewhere", std::string("A#b=1\0", 6), {}, "character"},
      {"no NUL", "A=b", {}, "not NUL-terminated"},
      {"no =", std::string("Ab\0", 3), {}, "no '='"},
      {"empty key", std::string("=b\0", 3), {}, "empty"},
      {"empty value", std::string("A=\0", 3), {}, "empty"},
      {"bad key char", std::string("A b=1\0", 6), {}, "character"},
      {"key too long", std::string(64, 'K') + std::string("=1\0", 3), {}, "63"},
      {"value too long", "K=" + big + std::string(1, '\0'), {}, "8192"},
      {"twice", std::string("A=1\0A=1\0", 8), {}, "twice"},
  };
  for (const Case& c : cases) {
    Result<std::vector<TextKey>> r = ParseText(Bytes(c.bytes));
    if (c.error) {
      ASSERT_FALSE(r.ok()) << c.name;
      EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
      EXPECT_NE(r.status().message().find(c.error), std::string::npos)
          << c.name << ": " << r.status().message();
    } else {
      ASSERT_TRUE(r.ok()) << c.name << ": " << r.status().ToString();
      EXPECT_EQ(*r, c.want) << c.name;
    }
  }
}

TEST(EncodeText, RoundTrips) {
  std::vector<TextKey> keys = {{"HeaderDigest", "CRC32C,None"}, {"MaxBurstLength", "262144"}};
  std::vector<uint8_t> bytes = EncodeText(keys);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()),
            std::string("HeaderDigest=CRC32C,None\0MaxBurstLength=262144\0", 47));
  Result<std::vector<TextKey>> back = ParseText(bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, keys);
  EXPECT_TRUE(EncodeText({}).empty());
}

TEST(BinaryValue, Table) {
  struct Case {
    const char* text;
    std::vector<uint8_t> want;
    bool ok;
  };
  const std::vector<Case> cases = {
      {"0x00ff10", {0x00, 0xff, 0x10}, true},
      {"0XABcd", {0xab, 0xcd}, true},
      {"0xf", {0x0f}, true},
      {"0x123", {0x01, 0x23}, true},
      {"0bAAEC", {0x00, 0x01, 0x02}, true},
      {"0bAAE=", {0x00, 0x01}, true},
      {"0bAA==", {0x00}, true},
      {"0B/+8=", {0xff, 0xef}, true},
      {"0x", {}, false},
      {"0xzz", {}, false},
      {"12", {}, false},
      {"0bAA=A", {}, false},
      {"0bA=AA", {}, false},
      {"0bAAA", {}, false},
      {"0b====", {}, false},
      {"0q12", {}, false},
  };
  for (const Case& c : cases) {
    Result<std::vector<uint8_t>> r = DecodeBinaryValue(c.text);
    EXPECT_EQ(r.ok(), c.ok) << c.text;
    if (r.ok() && c.ok) {
      EXPECT_EQ(*r, c.want) << c.text;
    }
  }
  const uint8_t bytes[] = {0x00, 0x9a, 0xff};
  EXPECT_EQ(EncodeHex(bytes), "0x009aff");
  Result<std::vector<uint8_t>> back = DecodeBinaryValue(EncodeHex(bytes));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, std::vector<uint8_t>(std::begin(bytes), std::end(bytes)));
}

class Directory : public TargetDirectory {
 public:
  std::vector<TargetAccess> targets;
  std::optional<TargetAccess> Find(const std::string& name) const override {
    for (const TargetAccess& t : targets) {
      if (t.name == name) return t;
    }
    return std::nullopt;
  }
  std::vector<TargetAccess> ForInitiator(const std::string& initiator) const override {
    std::vector<TargetAccess> out;
    for (const TargetAccess& t : targets) {
      for (const std::string& i : t.initiators) {
        if (i == initiator) out.push_back(t);
      }
    }
    return out;
  }
};

TEST(SendTargets, ListsOnlyTheInitiatorsTargets) {
  Directory d;
  d.targets.push_back({.name = "iqn.t:web1",
                       .tpgt = 1,
                       .initiators = {"iqn.i:web1"},
                       .portals = {"127.0.0.1:3260,1", "10.0.0.1:3260"}});
  d.targets.push_back({.name = "iqn.t:web2",
                       .tpgt = 2,
                       .initiators = {"iqn.i:web2", "iqn.i:both"},
                       .portals = {"127.0.0.1:3260,2"}});
  d.targets.push_back({.name = "iqn.t:db",
                       .tpgt = 1,
                       .initiators = {"iqn.i:both"},
                       .portals = {"127.0.0.1:3260,1"}});

  std::vector<TextKey> web1 = SendTargets(d, "iqn.i:web1", "All");
  std::vector<TextKey> want1 = {{"TargetName", "iqn.t:web1"},
                                {"TargetAddress", "127.0.0.1:3260,1"},
                                {"TargetAddress", "10.0.0.1:3260,1"}};
  EXPECT_EQ(web1, want1);
  std::vector<TextKey> both = SendTargets(d, "iqn.i:both", "All");
  std::vector<TextKey> want_both = {{"TargetName", "iqn.t:web2"},
                                    {"TargetAddress", "127.0.0.1:3260,2"},
                                    {"TargetName", "iqn.t:db"},
                                    {"TargetAddress", "127.0.0.1:3260,1"}};
  EXPECT_EQ(both, want_both);
  EXPECT_TRUE(SendTargets(d, "iqn.i:nobody", "All").empty());
  // Naming another host's target shows nothing.
  EXPECT_TRUE(SendTargets(d, "iqn.i:web1", "iqn.t:web2").empty());
  std::vector<TextKey> named = SendTargets(d, "iqn.i:both", "iqn.t:db");
  ASSERT_EQ(named.size(), 2u);
  EXPECT_EQ(named[0].value, "iqn.t:db");
  EXPECT_TRUE(SendTargets(d, "iqn.i:web1", "").empty());
}

}  // namespace
}  // namespace vsl::iscsi
