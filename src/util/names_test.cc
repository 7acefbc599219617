#include "util/names.h"

#include <gtest/gtest.h>

#include "util/utf8.h"

namespace vsl {
namespace {

struct Case {
  std::string text;
  bool valid;
};

TEST(NamesTest, ResourceNames) {
  const Case cases[] = {
      {"web1", true},
      {"two-tier", true},
      {"a.b_c-d", true},
      {"_x", true},
      {"37", true},
      {"Server1", true},
      {std::string(63, 'a'), true},
      {"", false},
      {std::string(64, 'a'), false},
      {"../../etc", false},
      {".hidden", false},
      {"-rf", false},
      {"a/b", false},
      {"a b", false},
      {std::string("a\0b", 3), false},
      {"a\x1b[31mred", false},
      {"tab\there", false},
      {"caf\xc3\xa9", false},
      {"new\nline", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(IsValidName(c.text), c.valid) << Printable(c.text);
    EXPECT_EQ(CheckName("host name", c.text).ok(), c.valid) << Printable(c.text);
  }
}

TEST(NamesTest, NameMessageNamesTheFieldAndEscapesTheValue) {
  Status s = CheckName("host name", "../../etc");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "host name '../../etc': must not start with '.' or '-' "
                         "(a name is 1-63 of A-Za-z0-9._- not starting with '.' or '-')");
  EXPECT_NE(CheckName("host name", "a/b").message().find("may only hold letters"), std::string::npos);
  s = CheckName("array name", std::string("x\0\x1b[2J", 6));
  EXPECT_EQ(s.message().find('\0'), std::string::npos);
  EXPECT_EQ(s.message().find('\x1b'), std::string::npos);
  EXPECT_NE(s.message().find("array name 'x\\x00\\x1b[2J'"), std::string::npos) << s.message();
  EXPECT_NE(CheckName("image name", std::string(64, 'a')).message().find("longer than 63"), std::string::npos);
}

TEST(NamesTest, IscsiNames) {
  const Case cases[] = {
      {"iqn.2026-11.org.example:web1", true},
      {"iqn.2026-11.org.example", true},
      {"iqn.1993-08.org.debian:01:abcdef123", true},
      {"iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-ls", true},
      {"iqn.2026-11.test:host.with-dots:and:colons", true},
      {"eui.02004567A425678D", true},
      {"eui.02004567a425678d", true},
      {"naa.52004567BA64678D", true},
      {"naa.52004567BA64678D52004567BA64678D", true},
      {"iqn.2026-11.org.example:" + std::string(223 - 24, 'a'), true},
      {"iqn.2026-11.org.example:" + std::string(224 - 24, 'a'), false},
      {"", false},
      {"iqn.", false},
      {"iqn.x", false},
      {"iqn.t:db", false},
      {"iqn.2026-13.org.example", false},
      {"iqn.2026-00.org.example", false},
      {"iqn.26-11.org.example", false},
      {"iqn.2026-11", false},
      {"iqn.2026-11.", false},
      {"iqn.2026-11.:x", false},
      {"iqn.2026-11..org", false},
      {"iqn.2026-11.org.example.", false},
      {"iqn.2026-11.Org.Example:web1", false},
      {"iqn.2026-11.org.example:Web1", false},
      {"iqn.2026-11.org.example:web_1", false},
      {"iqn.2026-11.org.example:web 1", false},
      {std::string("iqn.2026-11.org.example:a\0b", 27), false},
      {"iqn.2026-11.org.example:\x1b[31m", false},
      {"iqn.2026-11.org.example:caf\xc3\xa9", false},
      {"eui.02004567A425678", false},
      {"eui.02004567A425678DD", false},
      {"eui.02004567A425678G", false},
      {"naa.52004567BA64678D5", false},
      {"naa.", false},
      {"IQN.2026-11.org.example", false},
      {"web1", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(IsValidIscsiName(c.text), c.valid) << Printable(c.text);
    EXPECT_EQ(CheckIscsiName("initiator", c.text).ok(), c.valid) << Printable(c.text);
  }
  EXPECT_NE(CheckIscsiName("field 'initiators'", "iqn.t:db").message().find("field 'initiators' 'iqn.t:db'"),
            std::string::npos);
}

TEST(NamesTest, ChapCredentials) {
  EXPECT_TRUE(CheckChapUser("chap_user", "web1").ok());
  EXPECT_TRUE(CheckChapUser("chap_user", "iqn.2026-11.org.vsl:gateway").ok());
  EXPECT_TRUE(CheckChapUser("chap_user", "Jos\xc3\xa9 Doe").ok());
  EXPECT_FALSE(CheckChapUser("chap_user", "").ok());
  EXPECT_FALSE(CheckChapUser("chap_user", std::string(256, 'u')).ok());
  EXPECT_FALSE(CheckChapUser("chap_user", std::string("a\0b", 3)).ok());
  EXPECT_FALSE(CheckChapUser("chap_user", "a\x1b[2Jb").ok());
  EXPECT_FALSE(CheckChapUser("chap_user", "a\x7f").ok());
  EXPECT_FALSE(CheckChapUser("chap_user", "\xff\xfe").ok());

  EXPECT_TRUE(CheckChapSecret("chap_secret", "twelve-bytes").ok());
  EXPECT_TRUE(CheckChapSecret("chap_secret", std::string(255, 's')).ok());
  EXPECT_FALSE(CheckChapSecret("chap_secret", "eleven-byte").ok());
  EXPECT_FALSE(CheckChapSecret("chap_secret", std::string(256, 's')).ok());
  EXPECT_FALSE(CheckChapSecret("chap_secret", std::string("secret\0secret", 13)).ok());
  EXPECT_FALSE(CheckChapSecret("chap_secret", "secret\nsecret").ok());
  // The message names the field but never shows the secret.
  Status s = CheckChapSecret("field 'chap_secret'", "hunter2-hunter2\x01");
  EXPECT_EQ(s.message(), "field 'chap_secret': must not hold control characters");
}

TEST(NamesTest, TextAndSizes) {
  EXPECT_TRUE(CheckText("field 'hw'", "std").ok());
  EXPECT_TRUE(CheckText("field 'hw'", "").ok());
  EXPECT_TRUE(CheckText("field 'hw'", "Dell R740 \xe2\x80\x94 2U").ok());
  EXPECT_FALSE(CheckText("field 'hw'", "a\x1b[2J").ok());
  EXPECT_FALSE(CheckText("field 'hw'", std::string("a\0", 2)).ok());
  EXPECT_FALSE(CheckText("field 'hw'", "\xff").ok());
  EXPECT_FALSE(CheckText("field 'hw'", std::string(256, 'x')).ok());
  EXPECT_TRUE(CheckText("field 'hw'", std::string(300, 'x'), 300).ok());

  EXPECT_TRUE(CheckSize("field 'size'", 1).ok());
  EXPECT_TRUE(CheckSize("field 'size'", kMaxSizeBytes).ok());
  EXPECT_FALSE(CheckSize("field 'size'", kMaxSizeBytes + 1).ok());
  Status s = CheckSize("field 'capacity'", UINT64_MAX);
  EXPECT_EQ(s.message(), "field 'capacity': 18446744073709551615 bytes is more than 4 EiB");
}

TEST(NamesTest, Printable) {
  EXPECT_EQ(Printable("plain"), "plain");
  EXPECT_EQ(Printable(std::string("\0\x1b\\\xff", 4)), "\\x00\\x1b\\x5c\\xff");
  EXPECT_EQ(Printable(std::string(100, 'a'), 10), std::string(10, 'a') + "...");
}

struct Utf8Case {
  std::string text;
  size_t first_invalid;  // std::string::npos: valid
};

TEST(Utf8Test, Table) {
  const Utf8Case cases[] = {
      {"", std::string::npos},
      {"ascii <farm/>", std::string::npos},
      {"caf\xc3\xa9", std::string::npos},                  // U+00E9
      {"\xe2\x82\xac", std::string::npos},                 // U+20AC
      {"\xf0\x9f\x98\x80", std::string::npos},             // U+1F600
      {"\xf4\x8f\xbf\xbf", std::string::npos},             // U+10FFFF
      {"\xef\xbb\xbf<farm/>", std::string::npos},          // BOM
      {std::string("nul\0ok", 6), std::string::npos},      // NUL is valid UTF-8
      {"\xff", 0},
      {"ab\x80", 2},                                       // lone continuation
      {"ab\xc3", 2},                                       // truncated
      {"ab\xc3(", 2},                                      // bad continuation
      {"\xc0\xaf", 0},                                     // overlong '/'
      {"\xc1\xbf", 0},                                     // overlong
      {"\xe0\x80\xaf", 0},                                 // overlong 3-byte
      {"\xf0\x80\x80\xaf", 0},                             // overlong 4-byte
      {"x\xed\xa0\x80", 1},                                // surrogate U+D800
      {"\xf4\x90\x80\x80", 0},                             // above U+10FFFF
      {"\xf5\x80\x80\x80", 0},
      {"ok\xe2\x82", 2},                                   // truncated at the end
      {"\xc3\xa9\xc3\xa9\xfe", 4},
  };
  for (const Utf8Case& c : cases) {
    size_t want = c.first_invalid == std::string::npos ? c.text.size() : c.first_invalid;
    EXPECT_EQ(FirstInvalidUtf8(c.text), want) << Printable(c.text);
    EXPECT_EQ(IsValidUtf8(c.text), c.first_invalid == std::string::npos) << Printable(c.text);
  }
}

}  // namespace
}  // namespace vsl
