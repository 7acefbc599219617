#include "cli/farm_body.h"

#include <gtest/gtest.h>

namespace vsl::cli {
namespace {

TEST(FarmRequestBodyTest, CarriesTheTextAsItIs) {
  const std::string text = "<farm fmlversion=\"1.1\" name=\"caf\xc3\xa9\"/>\n";
  auto body = FarmRequestBody(text, "dir/farm.fml", "web");
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_EQ((*body)["fml"], text);
  EXPECT_EQ((*body)["file"], "dir/farm.fml");
  EXPECT_EQ((*body)["name"], "web");
  EXPECT_FALSE(FarmRequestBody(text, "f.fml", "")->contains("name"));
}

// Before, the first of these made `vsl farm plan` die in terminate().
TEST(FarmRequestBodyTest, TextThatIsNotUtf8IsAnErrorAtItsPlace) {
  auto body = FarmRequestBody("<farm\n  name=\"a\xff\"/>", "f.fml", "");
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(body.status().message(), "f.fml:2:10: not valid UTF-8 (byte \\xff); FML files are UTF-8 text");
  body = FarmRequestBody(std::string("<farm>\0</farm>", 14), "f.fml", "");
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.status().message().rfind("f.fml:1:7: control character \\x00", 0), 0u) << body.status().message();
}

TEST(FarmRequestBodyTest, AFileNameThatIsNotUtf8IsEscapedAndBodiesAlwaysSerialize) {
  auto body = FarmRequestBody("<farm fmlversion=\"1.1\"/>", "a\xff" "b.fml", "");
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_EQ((*body)["file"], "a\\xffb.fml");
  EXPECT_NO_THROW((void)body->dump());
  auto bad = FarmRequestBody("\xfe", "a\xff.fml", "");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind("a\\xff.fml:1:1: not valid UTF-8", 0), 0u) << bad.status().message();
}

TEST(FarmRequestBodyTest, ABadNameIsRefused) {
  for (std::string name : {std::string("../x"), std::string("a b"), std::string("a\0", 2), std::string("\xff"), std::string(64, 'n')}) {
    auto body = FarmRequestBody("<farm fmlversion=\"1.1\"/>", "f.fml", name);
    ASSERT_FALSE(body.ok());
    EXPECT_NE(body.status().message().find("farm name (--name)"), std::string::npos) << body.status().message();
  }
}

}  // namespace
}  // namespace vsl::cli
