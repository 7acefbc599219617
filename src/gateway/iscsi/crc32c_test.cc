#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "gateway/iscsi/pdu.h"

namespace vsl::iscsi {
namespace {

struct Vector {
  const char* name;
  std::vector<uint8_t> bytes;
  uint32_t crc;
};

std::vector<uint8_t> Filled(size_t n, uint8_t v) { return std::vector<uint8_t>(n, v); }
std::vector<uint8_t> Counting(bool up) {
  std::vector<uint8_t> v(32);
  for (int i = 0; i < 32; i++) v[i] = uint8_t(up ? i : 31 - i);
  return v;
}

// RFC 3720 appendix B.4, plus the usual "123456789" check value.
std::vector<Vector> Vectors() {
  return {
      {"32 zeros", Filled(32, 0), 0x8a9136aa},
      {"32 0xff", Filled(32, 0xff), 0x62a8ab43},
      {"0..31", Counting(true), 0x46dd794e},
      {"31..0", Counting(false), 0x113fdb5c},
      {"SCSI Read(10) BHS",
       {0x01, 0xc0, 0, 0, 0, 0, 0,    0, 0,    0, 0, 0,    0, 0, 0, 0,
        0x14, 0,    0, 0, 0, 0, 0x04, 0, 0,    0, 0, 0x14, 0, 0, 0, 0x18,
        0x28, 0,    0, 0, 0, 0, 0,    0, 0x02, 0, 0, 0,    0, 0, 0, 0},
       0xd9963a56},
      {"123456789", {'1', '2', '3', '4', '5', '6', '7', '8', '9'}, 0xe3069283},
      {"empty", {}, 0},
  };
}

TEST(Crc32c, KnownVectors) {
  for (const Vector& v : Vectors()) {
    EXPECT_EQ(Crc32c(v.bytes), v.crc) << v.name;
    EXPECT_EQ(Crc32cPortable(v.bytes), v.crc) << v.name;
  }
}

TEST(Crc32c, ImplementationsAgreeOnEveryLengthAndAlignment) {
  std::mt19937 rng(7);
  std::vector<uint8_t> buf(300);
  for (auto& b : buf) b = uint8_t(rng());
  for (size_t off = 0; off < 9; off++) {
    for (size_t len = 0; off + len <= buf.size(); len += 1 + len / 8) {
      std::span<const uint8_t> s(buf.data() + off, len);
      ASSERT_EQ(Crc32c(s), Crc32cPortable(s)) << "offset " << off << " length " << len;
    }
  }
}

TEST(Crc32c, Chains) {
  std::vector<uint8_t> all = Counting(true);
  std::span<const uint8_t> s(all);
  for (size_t cut = 0; cut <= all.size(); cut++) {
    EXPECT_EQ(Crc32c(s.subspan(cut), Crc32c(s.first(cut))), 0x46ddu << 16 | 0x794e) << cut;
  }
}

}  // namespace
}  // namespace vsl::iscsi
