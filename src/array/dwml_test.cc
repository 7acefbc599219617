#include "array/dwml.h"

#include <fstream>
#include <random>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

#include "array/fault_array.h"
#include "array/test_util.h"

namespace vsl::array {
namespace {

constexpr uint64_t kMiB = 1 << 20;

TEST(DwmlTest, DiscoveredArraysRoundTrip) {
  testing::TempDir dir;
  auto file = OpenArray({"disk-a", "file", dir.path() + "/a", 8 * kMiB, 2 * kMiB,
                         {{"raid", "1"}, {"media", "ssd"}}, {"fa-0", "fa-1"}});
  auto mem = OpenArray({"disk-b", "memory", "", 16 * kMiB, 0,
                        {{"drivetype", "bandwidth"}, {"cache", "large"}}, {}});
  ASSERT_TRUE(file.ok() && mem.ok());
  ASSERT_TRUE((*mem)->CreateVolume(3 * kMiB).ok());
  ASSERT_TRUE((*mem)->CreateVolume(kMiB).ok());
  StorageArray* arrays[] = {file->get(), mem->get()};
  auto map = DiscoverWiring(arrays);
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  ASSERT_EQ(map->devices.size(), 2u);
  EXPECT_EQ(map->devices[0].volumes.size(), 4u);
  EXPECT_EQ(map->devices[1].volumes.size(), 2u);
  EXPECT_EQ(map->devices[0].info.ports, (std::vector<std::string>{"fa-0", "fa-1"}));

  std::string text = WriteDwml(*map);
  auto parsed = ParseDwml(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString() << "\n" << text;
  EXPECT_EQ(*parsed, *map);
  // Writing what was parsed gives the same document: the format is stable.
  EXPECT_EQ(WriteDwml(*parsed), text);
  // Re-discovery with nothing changed gives the same map.
  auto again = DiscoverWiring(arrays);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *map);
}

TEST(DwmlTest, VolumeAttributesAndAwkwardCharactersRoundTrip) {
  WiringMap m;
  WiredDevice d;
  d.info = {"R&D <lab>", "file", "/srv/\"quoted\"", 1 << 30, 0, {{"model", "V'max & co"}}, {"p0"}};
  d.volumes.push_back({"vol-0001", 4096, "/srv/x", {{"model", "V'max & co"}, {"spindle", "3"}}});
  d.volumes.push_back({"vol-0002", 8192, "", {{"model", "other"}}});
  m.devices.push_back(d);
  m.devices.push_back({{"empty", "memory", "", 512, 512, {}, {}}, {}});
  std::string text = WriteDwml(m);
  auto parsed = ParseDwml(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString() << "\n" << text;
  EXPECT_EQ(*parsed, m);
  // Inherited attributes are not repeated on the volume.
  EXPECT_EQ(text.find("V'max & co"), std::string::npos);  // escaped in the document
  size_t first = text.find("name=\"model\"");
  ASSERT_NE(first, std::string::npos);
  size_t spindle = text.find("name=\"spindle\"");
  ASSERT_NE(spindle, std::string::npos);
  size_t second = text.find("name=\"model\"", first + 1);
  ASSERT_NE(second, std::string::npos);
  EXPECT_GT(second, spindle);  // the second "model" is vol-0002's override, not vol-0001's
}

TEST(DwmlTest, ExampleParses) {
  std::ifstream in(std::string(VSL_SOURCE_DIR) + "/examples/example.dwml");
  ASSERT_TRUE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  auto map = ParseDwml(ss.str());
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  ASSERT_GE(map->devices.size(), 2u);
  for (const auto& d : map->devices) {
    EXPECT_FALSE(d.volumes.empty()) << d.info.name;
    for (const auto& v : d.volumes) {
      EXPECT_EQ(v.size % kBlockSize, 0u) << v.id;
      for (const auto& [k, val] : d.info.qualities) EXPECT_TRUE(v.qualities.count(k)) << v.id;
    }
  }
}

struct BadCase {
  const char* name;
  const char* text;
  const char* where;  // "line:column"
  const char* says;
};

const BadCase kBad[] = {
    {"not xml", "<wiring-map version=\"1\">\n  <device name=\"a\"\n</wiring-map>\n", "3:1", ""},
    {"unclosed", "<wiring-map version=\"1\">\n  <device name=\"a\" driver=\"file\" capacity=\"1\">",
     "2:", ""},
    {"doctype", "<?xml version=\"1.0\"?>\n<!DOCTYPE wiring-map [<!ENTITY x \"y\">]>\n"
                "<wiring-map version=\"1\"/>\n", "2:1", "DOCTYPE"},
    {"entity", "<wiring-map version=\"1\">\n  <device name=\"&x;\" driver=\"file\" capacity=\"1\"/>\n"
               "</wiring-map>\n", "2:17", "&x;"},
    {"wrong root", "\n<farm/>\n", "2:1", "<farm>"},
    {"version", "<wiring-map version=\"2\"/>", "1:1", "version '2'"},
    {"unknown element", "<wiring-map version=\"1\">\n  <device name=\"a\" driver=\"file\" "
                        "capacity=\"1\">\n    <lun id=\"1\"/>\n  </device>\n</wiring-map>\n",
     "3:5", "<lun>"},
    {"unknown attribute", "<wiring-map version=\"1\">\n <device name=\"a\" driver=\"file\" "
                          "capacity=\"1\" colour=\"red\"/>\n</wiring-map>",
     "2:2", "colour"},
    {"missing capacity", "<wiring-map version=\"1\">\n<device name=\"a\" driver=\"file\"/>\n"
                         "</wiring-map>",
     "2:1", "capacity"},
    {"bad number", "<wiring-map version=\"1\"><device name=\"a\" driver=\"file\" capacity=\"1\">"
                   "\n<volume id=\"v\" size=\"12MB\"/></device></wiring-map>",
     "2:1", "12MB"},
    {"negative number", "<wiring-map version=\"1\"><device name=\"a\" driver=\"file\" "
                        "capacity=\"-5\"/></wiring-map>",
     "1:25", "-5"},
    {"duplicate device", "<wiring-map version=\"1\">\n<device name=\"a\" driver=\"file\" "
                         "capacity=\"1\"/>\n<device name=\"a\" driver=\"file\" capacity=\"1\"/>\n"
                         "</wiring-map>",
     "3:1", "twice"},
    {"duplicate volume", "<wiring-map version=\"1\"><device name=\"a\" driver=\"file\" "
                         "capacity=\"1\">\n<volume id=\"v\" size=\"512\"/>\n"
                         "<volume id=\"v\" size=\"512\"/></device></wiring-map>",
     "3:1", "'v' twice"},
    {"text inside", "<wiring-map version=\"1\">\n  hello\n</wiring-map>", "2:3", "text"},
    {"empty", "", "1:1", ""},
};

TEST(DwmlTest, ParseErrorsSayLineAndColumn) {
  for (const BadCase& c : kBad) {
    auto r = ParseDwml(c.text);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << c.name;
    const std::string m = r.status().message();
    EXPECT_EQ(m.rfind(c.where, 0), 0u) << c.name << ": " << m;
    EXPECT_NE(m.find(c.says), std::string::npos) << c.name << ": " << m;
  }
}

// Every prefix and many corruptions of a valid map: the parser answers with a
// map or an InvalidArgument that starts with "line:column: ", never anything else.
TEST(DwmlTest, DamagedMapsGetALocatedError) {
  WiringMap m;
  m.devices.push_back({{"d", "file", "/srv/d", 1 << 20, 0, {{"raid", "1"}}, {"p0", "p1"}},
                       {{"vol-0001", 4096, "/srv/d/volumes/vol-0001", {{"raid", "1"}}},
                        {"vol-0002", 8192, "", {{"raid", "0"}, {"x", "&<>"}}}}});
  const std::string text = WriteDwml(m);
  const std::regex located("^[0-9]+:[0-9]+: .+");
  auto check = [&](const std::string& damaged) {
    auto r = ParseDwml(damaged);
    if (r.ok()) return;
    ASSERT_EQ(r.status().code(), Code::kInvalidArgument) << damaged;
    ASSERT_TRUE(std::regex_match(r.status().message(), located)) << r.status().message();
  };
  for (size_t n = 0; n < text.size(); ++n) check(text.substr(0, n));
  std::mt19937 rng(20261126);
  const char kBytes[] = "<>&;\"'=/ !-?x0\n\x00\xff";
  for (int i = 0; i < 3000; ++i) {
    std::string damaged = text;
    for (int k = 0, edits = 1 + int(rng() % 3); k < edits; ++k) {
      size_t at = rng() % damaged.size();
      damaged[at] = kBytes[rng() % (sizeof kBytes - 1)];
    }
    check(damaged);
  }
}

TEST(DwmlTest, DiscoveryFailureNamesTheArray) {
  auto good = OpenArray({"good", "memory", "", kMiB, 0, {}, {}});
  auto bad = OpenArray({"flaky", "memory", "", kMiB, 0, {}, {}});
  ASSERT_TRUE(good.ok() && bad.ok());
  FaultInjectingArray flaky(std::move(bad).value());
  flaky.FailNth(ArrayOp::kDiscover, 1, IoError("injected: array offline"));
  StorageArray* arrays[] = {good->get(), &flaky};
  auto map = DiscoverWiring(arrays);
  ASSERT_FALSE(map.ok());
  EXPECT_EQ(map.status().code(), Code::kIoError);
  EXPECT_NE(map.status().message().find("'flaky'"), std::string::npos) << map.status().message();
  EXPECT_TRUE(DiscoverWiring(arrays).ok());
}

}  // namespace
}  // namespace vsl::array
