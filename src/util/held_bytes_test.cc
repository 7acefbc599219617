#include "util/held_bytes.h"

#include <gtest/gtest.h>

#include <string>

namespace vsl::util {
namespace {

// "abc" "" "defgh" "ij": three pieces and an empty one, as a reply in
// several buffers arrives.
class Pieces : public HeldBytes {
 public:
  Pieces() {
    for (const std::string* s : {&a_, &empty_, &b_, &c_}) {
      pieces.emplace_back(reinterpret_cast<const uint8_t*>(s->data()), s->size());
      size += s->size();
    }
  }

 private:
  std::string a_ = "abc", empty_, b_ = "defgh", c_ = "ij";
};

std::string Gather(const HeldBytes& h, size_t off, size_t len) {
  std::string out;
  h.ForEach(off, len, [&](std::span<const uint8_t> p) {
    EXPECT_FALSE(p.empty()) << "ForEach never hands over an empty piece";
    out.append(reinterpret_cast<const char*>(p.data()), p.size());
  });
  return out;
}

TEST(HeldBytesTest, ForEachCoversExactlyTheRangeAcrossPieces) {
  Pieces h;
  EXPECT_EQ(h.size, 10u);
  EXPECT_EQ(Gather(h, 0, 10), "abcdefghij");
  EXPECT_EQ(Gather(h, 2, 5), "cdefg");
  EXPECT_EQ(Gather(h, 3, 5), "defgh");
  EXPECT_EQ(Gather(h, 8, 2), "ij");
  EXPECT_EQ(Gather(h, 9, 5), "j");  // clipped at the end
  EXPECT_EQ(Gather(h, 4, 0), "");
  EXPECT_EQ(Gather(h, 10, 3), "");
}

TEST(HeldBytesTest, PiecesInCountsTheIovecsARangeNeeds) {
  Pieces h;
  EXPECT_EQ(h.PiecesIn(0, 10), 3u);
  EXPECT_EQ(h.PiecesIn(0, 3), 1u);
  EXPECT_EQ(h.PiecesIn(2, 2), 2u);
  EXPECT_EQ(h.PiecesIn(2, 7), 3u);
  EXPECT_EQ(h.PiecesIn(5, 2), 1u);
  EXPECT_EQ(h.PiecesIn(3, 0), 0u);
}

}  // namespace
}  // namespace vsl::util
