// Table tests of the validator: documents that are well-formed FML but mean
// something impossible, with the exact place and message of each error.
#include <gtest/gtest.h>

#include "fml/fml.h"

namespace vsl::fml {
namespace {

// A valid 1.2 farm; each case replaces one line of it.
const std::vector<std::string> kBase = {
    /* 1 */ "<farm fmlversion=\"1.2\" name=\"f\">",
    /* 2 */ "  <subnet id=\"s\"/>",
    /* 3 */ "  <farm-global-disks>",
    /* 4 */ "    <global-disk global-name=\"g\" drivesize=\"32\"/>",
    /* 5 */ "  </farm-global-disks>",
    /* 6 */ "  <tier id=\"1\" name=\"web\">",
    /* 7 */ "    <interface name=\"eth0\" subnet=\"s\"/>",
    /* 8 */ "    <role>r</role>",
    /* 9 */ "    <min-servers>1</min-servers><max-servers>3</max-servers>",
    /* 10 */ "    <init-servers>2</init-servers>",
    /* 11 */ "  </tier>",
    /* 12 */ "  <server-role id=\"r\">",
    /* 13 */ "    <hw>x86</hw>",
    /* 14 */ "    <disk target=\"0\" drivetype=\"scsi\" drivesize=\"64\"/>",
    /* 15 */ "    <shared-disk global-name=\"g\" target=\"1\"/>",
    /* 16 */ "  </server-role>",
    /* 17 */ "</farm>",
};

std::string Doc(std::map<int, std::string> replace) {
  std::string out;
  for (size_t i = 0; i < kBase.size(); ++i) {
    auto it = replace.find(static_cast<int>(i + 1));
    out += (it == replace.end() ? kBase[i] : it->second) + "\n";
  }
  return out;
}

TEST(ValidateTest, BaseIsValid) {
  Result<FarmSpec> got = Parse(Doc({}), "v.fml");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->name, "f");
}

TEST(ValidateTest, Errors) {
  struct Case {
    const char* name;
    std::map<int, std::string> replace;
    std::string message;
  } cases[] = {
      {"undefined role",
       {{8, "    <role>rr</role>"}},
       "v.fml:8:11: tier \"1\" uses role \"rr\", which no <server-role> defines"},
      {"undefined global-name",
       {{15, "    <shared-disk global-name=\"h\" target=\"1\"/>"}},
       "v.fml:15:18: shared-disk global-name \"h\" is not defined in <farm-global-disks>"},
      {"undefined subnet",
       {{7, "    <interface name=\"eth0\" subnet=\"t\"/>"}},
       "v.fml:7:28: interface \"eth0\" uses subnet \"t\", which no <subnet> defines"},
      {"two disks at one target",
       {{15, "    <disk target=\"0\" drivetype=\"std\" drivesize=\"8\"/>"}},
       "v.fml:15:11: two disks at target 0 in server-role \"r\"; the other is at line 14, "
       "column 11"},
      {"shared disk at a disk's target",
       {{15, "    <shared-disk global-name=\"g\" target=\"0\"/>"}},
       "v.fml:15:34: two disks at target 0 in server-role \"r\"; the other is at line 14, "
       "column 11"},
      {"two drivenames",
       {{14,
         "    <disk drivename=\"/d\" drivesize=\"64\"/><disk drivename=\"/d\" drivesize=\"1\"/>"}},
       "v.fml:14:48: duplicate drivename \"/d\" in server-role \"r\"; the first is at line 14, "
       "column 11"},
      {"min greater than max",
       {{9, "    <min-servers>4</min-servers><max-servers>3</max-servers>"}},
       "v.fml:9:5: min-servers 4 is greater than max-servers 3 in tier \"1\""},
      {"init above max",
       {{10, "    <init-servers>4</init-servers>"}},
       "v.fml:10:5: init-servers 4 is outside min-servers..max-servers (1..3) in tier \"1\""},
      {"init below min",
       {{10, "    <init-servers>0</init-servers>"}},
       "v.fml:10:5: init-servers 0 is outside min-servers..max-servers (1..3) in tier \"1\""},
      {"duplicate tier id",
       {{11,
         "  </tier><tier id=\"1\" name=\"db\"><role>r</role><init-servers>1</init-servers>"
         "</tier>"}},
       "v.fml:11:10: duplicate tier id \"1\"; the first is at line 6, column 3"},
      {"duplicate tier name",
       {{11,
         "  </tier><tier id=\"2\" name=\"web\"><role>r</role><init-servers>1</init-servers>"
         "</tier>"}},
       "v.fml:11:10: duplicate tier name \"web\"; the first is at line 6, column 3"},
      {"tier name unusable",
       {{6, "  <tier id=\"1\" name=\"Web Server\">"}},
       "v.fml:6:3: tier name \"Web Server\" cannot be used in server names; expected 1 to 63 of "
       "A-Z a-z 0-9 . _ -, not starting with . or -"},
      {"duplicate role id",
       {{16, "  </server-role><server-role id=\"r\"><hw>y</hw></server-role>"}},
       "v.fml:16:17: duplicate server-role id \"r\"; the first is at line 12, column 3"},
      {"duplicate subnet id",
       {{2, "  <subnet id=\"s\"/><subnet id=\"s\"/>"}},
       "v.fml:2:19: duplicate subnet id \"s\"; the first is at line 2, column 3"},
      {"duplicate global-name",
       {{4,
         "    <global-disk global-name=\"g\" drivesize=\"32\"/><global-disk global-name=\"g\" "
         "drivesize=\"1\"/>"}},
       "v.fml:4:63: duplicate global-name \"g\"; the first is at line 4, column 18"},
      {"a backup policy of no known schedule",
       {{14, "    <disk target=\"0\" drivetype=\"scsi\" drivesize=\"64\"><attribute name=\"backup-policy\" value=\"weekly\"/></disk>"}},
       "v.fml:14:54: backup-policy \"weekly\": unknown schedule \"weekly\"; expected nightly, hourly, "
       "level=0:nightly, level=1:hourly (level 0 or 1)"},
      {"a backup policy of level 2",
       {{14, "    <disk target=\"0\" drivetype=\"scsi\" drivesize=\"64\"><attribute name=\"backup-policy\" value=\"level=2:hourly\"/></disk>"}},
       "v.fml:14:54: backup-policy \"level=2:hourly\": the level must be 0 or 1; expected nightly, hourly, "
       "level=0:nightly, level=1:hourly (level 0 or 1)"},
      {"a level 1 with no level 0",
       {{14, "    <disk target=\"0\" drivetype=\"scsi\" drivesize=\"64\"><attribute name=\"backup-policy\" value=\"level=1:hourly\"/></disk>"}},
       "v.fml:14:54: backup-policy \"level=1:hourly\": a level 1 needs a level 0 policy on the same disk (e.g. "
       "level=0:nightly); an incremental builds on a full backup"},
      {"one schedule twice",
       {{14, "    <disk target=\"0\" drivetype=\"scsi\" drivesize=\"64\"><attribute name=\"backup-policy\" value=\"nightly\"/>"
             "<attribute name=\"backup-policy\" value=\"level=1:nightly\"/></disk>"}},
       "v.fml:14:103: backup-policy \"level=1:nightly\": the disk already has a nightly policy; one level per schedule"},
      {"a global disk's bad policy",
       {{4, "    <global-disk global-name=\"g\" drivesize=\"32\"><attribute name=\"backup-policy\" value=\"daily\"/></global-disk>"}},
       "v.fml:4:49: backup-policy \"daily\": unknown schedule \"daily\"; expected nightly, hourly, "
       "level=0:nightly, level=1:hourly (level 0 or 1)"},
      {"farm name unusable",
       {{1, "<farm fmlversion=\"1.2\" name=\"my farm\">"}},
       "v.fml:1:24: farm name \"my farm\" cannot be used in server names; expected 1 to 63 of "
       "A-Z a-z 0-9 . _ -, not starting with . or -"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Result<FarmSpec> got = Parse(Doc(c.replace), "v.fml");
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(got.status().message(), c.message);
  }
}

TEST(ValidateTest, BackupPolicies) {
  auto one = ParseBackupPolicy("nightly");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->level, 0);
  EXPECT_EQ(one->schedule, "nightly");
  auto hourly = ParseBackupPolicy(" Level=1 : HOURLY ");
  ASSERT_TRUE(hourly.ok()) << hourly.status().ToString();
  EXPECT_EQ(hourly->level, 1);
  EXPECT_EQ(hourly->schedule, "hourly");
  for (const char* bad : {"", "level=1", "level=:nightly", "lvl=0:nightly", "level=0:weekly", "nightly,hourly"}) {
    EXPECT_FALSE(ParseBackupPolicy(bad).ok()) << bad;
  }
  auto both = ParseBackupPolicies({"level=0:nightly", "level=1:hourly"});
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  ASSERT_EQ(both->size(), 2u);
  EXPECT_EQ((*both)[1].level, 1);
  EXPECT_TRUE(ParseBackupPolicies({}).ok());
  EXPECT_FALSE(ParseBackupPolicies({"hourly", "level=0:hourly"}).ok());
}

TEST(ValidateTest, DrivenameDisksTakeFreeTargets) {
  Result<FarmSpec> got = Parse(Doc({{14,
                                     "    <disk drivename=\"/a\" drivesize=\"1\"/>"
                                     "<disk target=\"0\" drivetype=\"scsi\" drivesize=\"64\"/>"
                                     "<disk drivename=\"/b\" drivesize=\"1\"/>"
                                     "<disk target=\"3\" drivename=\"/c\" drivesize=\"1\"/>"}}),
                               "v.fml");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  const auto& disks = got->roles[0].disks;
  ASSERT_EQ(disks.size(), 4u);
  EXPECT_EQ(disks[0].target, 2);  // 0 is the boot disk's, 1 the shared disk's
  EXPECT_EQ(disks[1].target, 0);
  EXPECT_EQ(disks[2].target, 4);  // 3 is /c's
  EXPECT_EQ(disks[3].target, 3);
}

// Validate() works on specs built in code too, not only on parsed ones.
TEST(ValidateTest, BuiltInCode) {
  FarmSpec spec;
  spec.file = "code";
  spec.name = "built";
  spec.version = "1.2";
  Tier& t = spec.tiers.emplace_back();
  t.id = "t";
  t.role = "missing";
  t.init_servers = 1;
  t.role_loc = Loc{3, 4};
  EXPECT_EQ(Validate(&spec).message(),
            "code:3:4: tier \"t\" uses role \"missing\", which no <server-role> defines");
  ServerRole& r = spec.roles.emplace_back();
  r.id = "missing";
  r.hw = "x";
  EXPECT_TRUE(Validate(&spec).ok());
}

TEST(ValidateTest, AllErrorsAreReported) {
  Result<FarmSpec> got = Parse(
      Doc({{8, "    <role>rr</role>"}, {15, "    <shared-disk global-name=\"h\" target=\"1\"/>"}}),
      "v.fml");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().message(),
            "v.fml:8:11: tier \"1\" uses role \"rr\", which no <server-role> defines\n"
            "v.fml:15:18: shared-disk global-name \"h\" is not defined in <farm-global-disks>");
}

}  // namespace
}  // namespace vsl::fml
