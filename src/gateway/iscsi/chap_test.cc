// CHAP with MD5 (RFC 1994) known answers.
#include <gtest/gtest.h>

#include "gateway/iscsi/login.h"

namespace vsl::iscsi {
namespace {

std::string Hex(std::span<const uint8_t> b) { return EncodeHex(b); }

TEST(ChapMd5, KnownAnswers) {
  // printf '\x01secretsecret\x00\x01...\x0f' | openssl md5
  //   -> 226dc576c33f04ff9c3a200ffe35f442
  std::vector<uint8_t> c1(16);
  for (int i = 0; i < 16; i++) c1[i] = uint8_t(i);
  EXPECT_EQ(Hex(ChapMd5(1, "secretsecret", c1)), "0x226dc576c33f04ff9c3a200ffe35f442");
  // printf '\xc8mutualsecret42\xaa\xbb\xcc' | openssl md5
  //   -> 3b3e08793f7d563a1af3b128d172e211
  const uint8_t c2[] = {0xaa, 0xbb, 0xcc};
  EXPECT_EQ(Hex(ChapMd5(200, "mutualsecret42", c2)), "0x3b3e08793f7d563a1af3b128d172e211");
  // printf '\x00' | openssl md5 -> 93b885adfe0da089cdf634904fd59f71
  EXPECT_EQ(Hex(ChapMd5(0, "", {})), "0x93b885adfe0da089cdf634904fd59f71");
}

TEST(ChapMd5, EveryInputMatters) {
  std::vector<uint8_t> c(16, 7);
  auto base = ChapMd5(1, "secretsecret", c);
  EXPECT_NE(base, ChapMd5(2, "secretsecret", c));
  EXPECT_NE(base, ChapMd5(1, "secretsecreT", c));
  c[15] = 8;
  EXPECT_NE(base, ChapMd5(1, "secretsecret", c));
}

}  // namespace
}  // namespace vsl::iscsi
