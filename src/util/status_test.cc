#include "util/status.h"

#include <gtest/gtest.h>

#include "util/bytes.h"

namespace vsl {
namespace {

Result<int> Half(int x) {
  if (x % 2) return InvalidArgument("odd: " + std::to_string(x));
  return x / 2;
}

Result<int> Quarter(int x) {
  VSL_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

TEST(StatusTest, OkAndError) {
  EXPECT_TRUE(Status().ok());
  Status s = NotFound("volume 7");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.ToString(), "NotFound: volume 7");
  EXPECT_EQ(s.Annotate("unmap").message(), "unmap: volume 7");
}

TEST(StatusTest, ResultPropagates) {
  EXPECT_EQ(*Quarter(8), 2);
  Result<int> r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "odd: 3");
  EXPECT_EQ(r.value_or(-1), -1);
}

TEST(BytesTest, BigEndianRoundTrip) {
  uint8_t b[8];
  StoreBe64(b, 0x0102030405060708ull);
  EXPECT_EQ(b[0], 1);
  EXPECT_EQ(b[7], 8);
  EXPECT_EQ(LoadBe64(b), 0x0102030405060708ull);
  StoreBe24(b, 0xabcdef);
  EXPECT_EQ(LoadBe24(b), 0xabcdefu);
  StoreBe16(b, 0xfffe);
  EXPECT_EQ(LoadBe16(b), 0xfffe);
}

}  // namespace
}  // namespace vsl

