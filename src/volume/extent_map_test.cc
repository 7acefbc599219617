#include <gtest/gtest.h>

#include "volume/volume.h"

namespace vsl::volume {
namespace {

std::vector<Extent> ThreeExtents() {
  // Volume: [0,1024) a@4096, [1024,1536) b@0, [1536,3584) a@0.
  return {{"a", 4096, 1024}, {"b", 0, 512}, {"a", 0, 2048}};
}

TEST(ExtentMapTest, RejectsBadExtents) {
  EXPECT_EQ(ExtentMap::Make({{"a", 0, 0}}, 512).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ExtentMap::Make({{"a", 0, 1000}}, 512).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ExtentMap::Make({{"a", 0, 512}}, 500).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ExtentMap::Make({{"a", ~0ull - 10, 512}}, 512).status().code(), Code::kInvalidArgument);
  auto m = ExtentMap::Make({}, 512);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->size(), 0u);
}

struct MapCase {
  uint64_t offset, length;
  std::vector<Piece> want;  // empty + ok=false: OutOfRange
  bool ok = true;
};

TEST(ExtentMapTest, Table) {
  auto m = ExtentMap::Make(ThreeExtents(), 512);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->size(), 3584u);
  const std::vector<MapCase> cases = {
      {0, 512, {{0, 4096, 512, 0}}},
      {0, 1024, {{0, 4096, 1024, 0}}},
      {512, 512, {{0, 4608, 512, 512}}},
      // Exactly at a boundary: starts in the next extent.
      {1024, 512, {{1, 0, 512, 1024}}},
      // Crossing one boundary.
      {512, 1024, {{0, 4608, 512, 512}, {1, 0, 512, 1024}}},
      // All three.
      {0, 3584, {{0, 4096, 1024, 0}, {1, 0, 512, 1024}, {2, 0, 2048, 1536}}},
      {1000, 1000, {{0, 5096, 24, 1000}, {1, 0, 512, 1024}, {2, 0, 464, 1536}}},
      {3583, 1, {{2, 2047, 1, 3583}}},
      {3584, 0, {}},
      {0, 0, {}},
      {3584, 1, {}, false},
      {3000, 1000, {}, false},
      {~0ull, 2, {}, false},
      {512, ~0ull, {}, false},
  };
  for (const auto& c : cases) {
    auto r = m->Map(c.offset, c.length);
    SCOPED_TRACE(std::to_string(c.offset) + "+" + std::to_string(c.length));
    Piece one;
    const bool single = m->MapOne(c.offset, c.length, &one);
    EXPECT_EQ(single, c.ok && c.want.size() == 1);
    if (single) {
      EXPECT_EQ(one.extent, c.want[0].extent);
      EXPECT_EQ(one.file_offset, c.want[0].file_offset);
      EXPECT_EQ(one.length, c.want[0].length);
      EXPECT_EQ(one.volume_offset, c.want[0].volume_offset);
    }
    if (!c.ok) {
      EXPECT_EQ(r.status().code(), Code::kOutOfRange);
      continue;
    }
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->size(), c.want.size());
    for (size_t i = 0; i < c.want.size(); ++i) {
      EXPECT_EQ((*r)[i].extent, c.want[i].extent) << i;
      EXPECT_EQ((*r)[i].file_offset, c.want[i].file_offset) << i;
      EXPECT_EQ((*r)[i].length, c.want[i].length) << i;
      EXPECT_EQ((*r)[i].volume_offset, c.want[i].volume_offset) << i;
    }
  }
}

}  // namespace
}  // namespace vsl::volume
