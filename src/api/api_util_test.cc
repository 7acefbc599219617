#include <gtest/gtest.h>

#include "api/api.h"
#include "api/auth.h"

namespace vsl::api {
namespace {

TEST(ParseSize, Units) {
  EXPECT_EQ(*ParseSize("512"), 512u);
  EXPECT_EQ(*ParseSize("512MB"), 512000000u);
  EXPECT_EQ(*ParseSize("8GB"), 8000000000u);
  EXPECT_EQ(*ParseSize("64MiB"), 64ull << 20);
  EXPECT_EQ(*ParseSize("2GiB"), 2ull << 30);
  EXPECT_EQ(*ParseSize("1g"), 1ull << 30);
  EXPECT_FALSE(ParseSize("").ok());
  EXPECT_FALSE(ParseSize("MB").ok());
  EXPECT_FALSE(ParseSize("12XB").ok());
  // Sizes past 4 EiB overflow something downstream (blocks, sums, int64).
  EXPECT_FALSE(ParseSize("16E").ok());
  EXPECT_FALSE(ParseSize("18446744073709551615").ok());
  EXPECT_FALSE(ParseSize("16777216T").ok());
  EXPECT_FALSE(ParseSize("99999999999999999999").ok());
  EXPECT_TRUE(ParseSize("4194304T").ok());
  EXPECT_FALSE(ParseSize("4194305T").ok());
  EXPECT_FALSE(ParseSize("99999999999999TB").ok());
}

TEST(Fields, NameTheField) {
  Json body = Json::parse(R"({"size":"12", "name": 5, "n": 3})");
  auto s = RequiredString(body, "name");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("'name'"), std::string::npos);
  auto m = RequiredString(body, "host");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("'host': missing"), std::string::npos);
  EXPECT_EQ(*RequiredSize(body, "size"), 12u);
  EXPECT_EQ(*RequiredInt(body, "n"), 3);
  EXPECT_FALSE(RequiredInt(body, "size").ok());
}

TEST(Errors, CodesAndHttp) {
  EXPECT_EQ(ErrorCode(Code::kNotFound), "not_found");
  EXPECT_EQ(HttpStatusFor(Code::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(Code::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(Code::kInvalidArgument), 400);
  httplib::Response res;
  ReplyError(res, NotFound("host 'x' does not exist"));
  EXPECT_EQ(res.status, 404);
  Json j = Json::parse(res.body);
  EXPECT_EQ(j["error"]["code"], "not_found");
  EXPECT_EQ(j["error"]["message"], "host 'x' does not exist");
}

TEST(Token, Checked) {
  ApiContext ctx;
  ctx.admin_token_sha256 = HashToken("abc123");
  httplib::Request req;
  EXPECT_EQ(Authenticate(ctx, req).status().code(), Code::kUnauthenticated);
  req.headers.emplace("Authorization", "Bearer abc124");
  EXPECT_EQ(Authenticate(ctx, req).status().code(), Code::kUnauthenticated);
  httplib::Request basic;
  basic.headers.emplace("Authorization", "Basic abc123");
  EXPECT_EQ(Authenticate(ctx, basic).status().code(), Code::kUnauthenticated);
  httplib::Request ok;
  ok.headers.emplace("Authorization", "Bearer abc123");
  ASSERT_TRUE(Authenticate(ctx, ok).ok());
  EXPECT_TRUE(Authenticate(ctx, ok)->admin());
}

TEST(RandomHex, LengthAndDifferent) {
  auto a = RandomHex(16), b = RandomHex(16);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_NE(*a, *b);
}

}  // namespace
}  // namespace vsl::api
