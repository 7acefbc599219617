#include <gtest/gtest.h>

#include "fml/fml.h"

namespace vsl::fml {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

TEST(SizeTest, Accepted) {
  struct Case {
    const char* text;
    uint64_t bytes;
  } cases[] = {
      {"8631", 8631 * kMiB}, {"512MB", 512 * kMiB}, {"512 MB", 512 * kMiB}, {"512MiB", 512 * kMiB},
      {"8GB", 8ull << 30},   {"8GiB", 8ull << 30},  {"8gb", 8ull << 30},    {"200Mb", 200 * kMiB},
      {"64KB", 64 << 10},    {"1TB", 1ull << 40},   {" 32 ", 32 * kMiB},    {"1024TiB", 1ull << 50},
      {"4k", 4096},          {"007", 7 * kMiB},
  };
  for (const Case& c : cases) {
    Result<uint64_t> got = ParseSize(c.text);
    ASSERT_TRUE(got.ok()) << c.text << ": " << got.status().ToString();
    EXPECT_EQ(*got, c.bytes) << c.text;
  }
}

TEST(SizeTest, Refused) {
  const std::string expected =
      "; expected megabytes (\"8631\") or a number with a unit "
      "(KB, MB, GB, TB, KiB, MiB, GiB, TiB)";
  struct Case {
    const char* text;
    std::string message;
  } cases[] = {
      {"", "\"\" is not a size" + expected},
      {"MB", "\"MB\" is not a size" + expected},
      {"12XB", "\"12XB\" is not a size" + expected},
      {"-5", "\"-5\" is not a size" + expected},
      {"1.5GB", "\"1.5GB\" is not a size" + expected},
      {"8 G B", "\"8 G B\" is not a size" + expected},
      {"0", "\"0\" is not a size; a disk needs more than 0 bytes"},
      {"0GB", "\"0GB\" is not a size; a disk needs more than 0 bytes"},
      {"1025TB", "\"1025TB\" is too big; the largest disk is 1024 TiB"},
      {"99999999999999999999999",
       "\"99999999999999999999999\" is too big; the largest disk is 1024 TiB"},
  };
  for (const Case& c : cases) {
    Result<uint64_t> got = ParseSize(c.text);
    ASSERT_FALSE(got.ok()) << c.text;
    EXPECT_EQ(got.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(got.status().message(), c.message);
  }
}

TEST(SizeTest, Format) {
  EXPECT_EQ(FormatSize(8ull << 30), "8 GiB");
  EXPECT_EQ(FormatSize(8631 * kMiB), "8631 MiB");
  EXPECT_EQ(FormatSize(1536 << 10), "1536 KiB");
  EXPECT_EQ(FormatSize(3ull << 40), "3 TiB");
  EXPECT_EQ(FormatSize(100), "100 bytes");
  EXPECT_EQ(FormatSize(0), "0 bytes");
  // Every size ParseSize accepts reads back as the same number of bytes.
  for (const char* text : {"8631", "64MB", "3GiB", "4k"}) {
    uint64_t bytes = *ParseSize(text);
    EXPECT_EQ(*ParseSize(FormatSize(bytes)), bytes) << text;
  }
}

TEST(NameTest, FarmNameFromFile) {
  EXPECT_EQ(FarmNameFromFile("examples/two-tier.fml"), "two-tier");
  EXPECT_EQ(FarmNameFromFile("/a.b/farm.v2.fml"), "farm.v2");
  EXPECT_EQ(FarmNameFromFile("plain"), "plain");
  EXPECT_EQ(FarmNameFromFile(".hidden"), ".hidden");
}

TEST(NameTest, Valid) {
  EXPECT_TRUE(IsValidName("two-tier"));
  EXPECT_TRUE(IsValidName("Server1"));
  EXPECT_TRUE(IsValidName("37"));
  EXPECT_TRUE(IsValidName("a.b_c-d"));
  EXPECT_FALSE(IsValidName(""));
  EXPECT_FALSE(IsValidName("-web"));
  EXPECT_FALSE(IsValidName("Web Server"));
  EXPECT_FALSE(IsValidName("a/b"));
  EXPECT_FALSE(IsValidName(std::string(64, 'a')));
  EXPECT_TRUE(IsValidName(std::string(63, 'a')));
  // The shared rule (util/names.h): '.' and '-' may not lead, '_' may.
  EXPECT_FALSE(IsValidName(".web"));
  EXPECT_TRUE(IsValidName("_web"));
  EXPECT_FALSE(IsValidName("../../etc"));
}

}  // namespace
}  // namespace vsl::fml
