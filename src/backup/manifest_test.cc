#include "backup/manifest.h"

#include <gtest/gtest.h>

#include "backup/test_util.h"

namespace vsl::backup {
namespace {

using testing::TempDir;
using testing::WriteText;

BackupHeader Header() {
  BackupHeader h;
  h.id = "20261130T034500Z-0123abcd";
  h.disk = "vol-0003";
  h.farm = "shop";
  h.server = "web1";
  h.level = 0;
  h.created = "2026-11-30T03:45:00Z";
  h.disk_size = 1 << 20;
  h.chunk_size = 65536;
  return h;
}

TEST(BackupId, Shapes) {
  EXPECT_TRUE(IsValidBackupId("20261130T034500Z-0123abcd"));
  for (const char* bad : {"", "..", "../20261130T034500Z-0123abcd", "20261130T034500Z-0123ABCD",
                          "20261130T034500Z-0123abc", "20261130T034500Z_0123abcd", "2026113xT034500Z-0123abcd",
                          "20261130T034500Z-0123abcd/", "20261130T034500Z-0123abcd\n"}) {
    EXPECT_FALSE(IsValidBackupId(bad)) << bad;
  }
  std::string id = NewBackupId(std::chrono::system_clock::time_point(std::chrono::seconds(1796010300)));
  EXPECT_TRUE(IsValidBackupId(id)) << id;
  EXPECT_EQ(id.substr(0, 16), "20261130T034500Z");
}

TEST(ManifestHeader, RoundTrip) {
  BackupHeader h = Header();
  h.level = 1;
  h.parent = "20261129T034500Z-89abcdef";
  std::string line = HeaderLine(h);
  ASSERT_EQ(line.back(), '\n');
  Result<BackupHeader> back = ParseHeaderLine(line.substr(0, line.size() - 1));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->id, h.id);
  EXPECT_EQ(back->parent, h.parent);
  EXPECT_EQ(back->disk_size, h.disk_size);
  EXPECT_EQ(back->chunk_size, h.chunk_size);
  EXPECT_EQ(back->farm, "shop");
  EXPECT_EQ(back->server, "web1");
}

// Each line is a header a writer of this version never makes; the error
// names what is wrong.
TEST(ManifestHeader, RefusesWhatAWriterNeverMakes) {
  std::string good = HeaderLine(Header());
  good.pop_back();
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  struct Case {
    std::string line, want;
  } cases[] = {
      {"{", "not JSON"},
      {"[1,2]", "expected the keys"},
      {with("\"farm\":\"shop\",", ""), "expected the keys"},
      {with("\"farm\":\"shop\"", "\"farm\":\"shop\",\"extra\":1"), "expected the keys"},
      {with("\"format\":\"vsl-backup\"", "\"format\":\"tar\""), "format"},
      {with("\"version\":1", "\"version\":2"), "version is not 1"},
      {with("20261130T034500Z-0123abcd", "../../etc/passwd"), "is not a backup id"},
      {with("\"parent\":null", "\"parent\":\"../x\""), "level 0 with a parent"},
      {with("\"level\":0", "\"level\":1"), "level 1 without a parent"},
      {with("\"level\":0", "\"level\":-1"), "level is not a non-negative integer"},
      {with("\"level\":0", "\"level\":7"), "level 7"},
      {with("\"disk_size\":1048576", "\"disk_size\":0"), "disk_size: 0"},
      {with("\"disk_size\":1048576", "\"disk_size\":9223372036854775808"), "4 EiB"},
      {with("\"disk_size\":1048576", "\"disk_size\":1e300"), "disk_size is not a non-negative integer"},
      {with("\"chunk_size\":65536", "\"chunk_size\":65537"), "chunk_size 65537"},
      {with("\"chunk_size\":65536", "\"chunk_size\":1024"), "chunk_size 1024"},
      {with("\"created\":\"2026-11-30T03:45:00Z\"", "\"created\":\"yesterday\""), "created"},
      {with("\"disk\":\"vol-0003\"", "\"disk\":\"\""), "disk: empty"},
      {with("\"disk\":\"vol-0003\"", "\"disk\":\"a\\u0001b\""), "disk"},
      {with("\"disk\":\"vol-0003\"", "\"disk\":7"), "disk is not a string"},
  };
  for (const Case& c : cases) {
    Result<BackupHeader> r = ParseHeaderLine(c.line);
    ASSERT_FALSE(r.ok()) << c.line;
    EXPECT_NE(r.status().message().find(c.want), std::string::npos) << c.line << " -> " << r.status().message();
  }
}

// A manifest written with lines chosen by the test, and a trailer whose
// checksum is right for them: what is refused is the defect under test, not
// the checksum.
std::string Manifest(const BackupHeader& h, const std::vector<std::string>& extent_lines, uint64_t extents,
                     uint64_t data_size) {
  std::string body = HeaderLine(h);
  for (const std::string& l : extent_lines) body += l + "\n";
  Sha256 sha;
  sha.Update(body);
  Trailer t{extents, data_size, sha.Final()};
  return body + TrailerLine(t);
}

std::string Line(uint64_t offset, uint64_t length, uint64_t data) {
  return R"({"offset":)" + std::to_string(offset) + R"(,"length":)" + std::to_string(length) +
         R"(,"sha256":")" + std::string(64, 'a') + R"(","data":)" + std::to_string(data) + "}";
}

Status ReadAll(const std::string& text) {
  TempDir dir;
  std::string path = dir.path() + "/manifest";
  WriteText(path, text);
  return ReadManifest(path, Header().id).status();
}

TEST(ManifestReader, ReadsWhatTheWriterMakes) {
  std::string text = Manifest(Header(), {Line(0, 65536, 0), Line(131072, 65536, 65536)}, 2, 131072);
  TempDir dir;
  WriteText(dir.path() + "/manifest", text);
  Result<ManifestSummary> m = ReadManifest(dir.path() + "/manifest", Header().id);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->trailer.extents, 2u);
  EXPECT_EQ(m->trailer.data_size, 131072u);
}

TEST(ManifestReader, RefusesHostileManifests) {
  const BackupHeader h = Header();
  const uint64_t C = 65536;
  struct Case {
    const char* name;
    std::string text;
    std::string want;
  } cases[] = {
      {"empty", "", "empty manifest"},
      {"bad JSON extent", Manifest(h, {"{\"offset\":"}, 1, 0), "line 2: not JSON"},
      {"offset beyond the disk", Manifest(h, {Line(1 << 20, C, 0)}, 1, C), "line 2: extent at offset 1048576: beyond the disk's end"},
      {"offset near 2^64", Manifest(h, {Line(18446744073709486080ull, C, 0)}, 1, C), "beyond the disk's end"},
      {"unaligned offset", Manifest(h, {Line(4096, C, 0)}, 1, C), "not a multiple of chunk_size"},
      {"overlap (same chunk twice)", Manifest(h, {Line(0, C, 0), Line(0, C, C)}, 2, 2 * C), "line 3: extent at offset 0: overlaps"},
      {"descending", Manifest(h, {Line(C, C, 0), Line(0, C, C)}, 2, 2 * C), "overlaps or comes before"},
      {"short length", Manifest(h, {Line(0, 100, 0)}, 1, 100), "length 100, expected 65536"},
      {"data position gap", Manifest(h, {Line(0, C, 0), Line(C, C, 2 * C)}, 2, 3 * C), "data 131072, expected 65536"},
      {"unknown key",
       Manifest(h, {R"({"offset":0,"length":65536,"zero":true,"path":"../../x"})"}, 1, 0), "an extent has the keys"},
      {"bad sha", Manifest(h, {R"({"offset":0,"length":65536,"sha256":"xyz","data":0})"}, 1, C), "sha256 is not 64"},
      {"huge extent count in the trailer", Manifest(h, {Line(0, C, 0)}, 1000000000000ull, C),
       "trailer: extents 1000000000000, but the manifest lists 1"},
      {"data size in the trailer", Manifest(h, {Line(0, C, 0)}, 1, 5 * C), "trailer: data_size"},
      {"no trailer", HeaderLine(h) + Line(0, C, 0) + "\n", "no trailer line"},
      {"no newline at the end", HeaderLine(h) + Line(0, C, 0), "truncated"},
      {"a line longer than 4096 bytes", HeaderLine(h) + std::string(100000, ' ') + "\n", "longer than 4096 bytes"},
      {"text after the trailer", Manifest(h, {Line(0, C, 0)}, 1, C) + "{}\n", "text after the trailer"},
      {"id of another backup", Manifest([&] { auto o = h; o.id = "20261130T034500Z-ffffffff"; return o; }(), {}, 0, 0),
       "is not the backup's id"},
  };
  for (const Case& c : cases) {
    Status s = ReadAll(c.text);
    ASSERT_FALSE(s.ok()) << c.name;
    EXPECT_EQ(s.code(), Code::kDataLoss) << c.name;
    EXPECT_NE(s.message().find(c.want), std::string::npos) << c.name << ": " << s.message();
    EXPECT_NE(s.message().find("backup " + h.id), std::string::npos) << c.name << ": " << s.message();
  }
}

TEST(ManifestReader, ChecksumCoversEveryLine) {
  std::string text = Manifest(Header(), {Line(0, 65536, 0), Line(131072, 65536, 65536)}, 2, 131072);
  // Another checksum in the second extent, the trailer unchanged.
  size_t at = text.rfind(std::string(64, 'a'));
  text.replace(at, 1, "b");
  Status s = ReadAll(text);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("checksum does not match"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace vsl::backup
