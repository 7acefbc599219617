// Table tests of the FML reader: valid documents of both versions, and every
// syntax error with its exact place and message.
#include <gtest/gtest.h>

#include "fml/fml.h"
#include "util/utf8.h"

namespace vsl::fml {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

TEST(ReaderTest, Version11) {
  const char* doc = R"(<?xml version="1.0"?>
<farm fmlversion="1.1">
  <tier id="37" name="Server1">
    <interface name="eth0" subnet="subnet17" />
    <role>role37</role>
    <min-servers>1</min-servers>
    <max-servers> 3 </max-servers>
    <init-servers>2</init-servers>
  </tier>
  <server-role id="role37" name="Server1">
    <hw>cpu-sun4u-x4</hw>
    <disk target="0" drivetype="scsi" drivesize="8631">
      <diskimage type="system">solaris</diskimage>
      <attribute name="backup-policy" value="nightly" />
    </disk>
    <disk drivename="/home" drivesize="512MB">
      <attribute name="raid-level" value="0+1"/>
      <attribute name="qos" value="mbps=100, iops=2000"/>
      <attribute name="cache" value="read"/>
      <attribute name="backup-policy" value="level=0:nightly"/>
      <attribute name="backup-policy" value="level=1:hourly"/>
      <attribute name="owner" value="ops"/>
    </disk>
  </server-role>
  <subnet id="subnet17" name="Internet1" ip="external"
    mask="255.255.255.240" vlan="outer-vlan" />
</farm>
)";
  Result<FarmSpec> got = Parse(doc, "farms/seed.fml");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  const FarmSpec& f = *got;
  EXPECT_EQ(f.version, "1.1");
  EXPECT_EQ(f.name, "seed");
  EXPECT_FALSE(f.name_given);
  EXPECT_EQ(f.loc, (Loc{2, 1}));
  ASSERT_EQ(f.tiers.size(), 1u);
  const Tier& t = f.tiers[0];
  EXPECT_EQ(t.id, "37");
  EXPECT_EQ(t.name, "Server1");
  EXPECT_EQ(t.ServerPrefix(), "Server1");
  EXPECT_EQ(t.role, "role37");
  EXPECT_EQ(t.role_loc, (Loc{5, 11}));
  EXPECT_EQ(t.min_servers, 1);
  EXPECT_EQ(t.max_servers, 3);
  EXPECT_EQ(t.init_servers, 2);
  ASSERT_EQ(t.interfaces.size(), 1u);
  EXPECT_EQ(t.interfaces[0].name, "eth0");
  EXPECT_EQ(t.interfaces[0].subnet, "subnet17");
  EXPECT_EQ(t.interfaces[0].subnet_loc, (Loc{4, 28}));
  ASSERT_EQ(f.roles.size(), 1u);
  const ServerRole& r = f.roles[0];
  EXPECT_EQ(r.id, "role37");
  EXPECT_EQ(r.name, "Server1");
  EXPECT_EQ(r.hw, "cpu-sun4u-x4");
  ASSERT_EQ(r.disks.size(), 2u);
  const Disk& boot = r.disks[0];
  EXPECT_EQ(boot.target, 0);
  EXPECT_TRUE(boot.target_given);
  EXPECT_EQ(boot.drivetype, "scsi");
  EXPECT_EQ(boot.size_bytes, 8631 * kMiB);
  EXPECT_EQ(boot.image, "solaris");
  EXPECT_EQ(boot.backup_policies, std::vector<std::string>{"nightly"});
  EXPECT_EQ(boot.raid_level, "");
  EXPECT_EQ(boot.loc, (Loc{12, 5}));
  EXPECT_EQ(boot.target_loc, (Loc{12, 11}));
  const Disk& home = r.disks[1];
  EXPECT_EQ(home.drivename, "/home");
  EXPECT_FALSE(home.target_given);
  EXPECT_EQ(home.target, 1);  // the lowest target the role leaves free
  EXPECT_EQ(home.size_bytes, 512 * kMiB);
  EXPECT_EQ(home.image, "");
  EXPECT_EQ(home.raid_level, "0+1");
  EXPECT_EQ(home.qos, "iops=2000,mbps=100");
  EXPECT_EQ(boot.qos, "");
  EXPECT_EQ(home.cache, "read");
  EXPECT_EQ(boot.cache, "");
  EXPECT_EQ(home.backup_policies, (std::vector<std::string>{"level=0:nightly", "level=1:hourly"}));
  ASSERT_EQ(home.attributes.size(), 6u);
  EXPECT_EQ(home.attributes[5].name, "owner");
  EXPECT_EQ(home.attributes[5].value, "ops");
  ASSERT_EQ(f.subnets.size(), 1u);
  EXPECT_EQ(f.subnets[0].id, "subnet17");
  EXPECT_EQ(f.subnets[0].name, "Internet1");
  EXPECT_EQ(f.subnets[0].ip, "external");
  EXPECT_EQ(f.subnets[0].mask, "255.255.255.240");
  EXPECT_EQ(f.subnets[0].vlan, "outer-vlan");
  EXPECT_TRUE(f.global_disks.empty());
}

TEST(ReaderTest, Version12) {
  const char* doc = R"(<farm fmlversion="1.2" name="ora">
  <farm-global-disks>
    <global-disk global-name="Oracle Cluster, partition 1" drivesize="8631"/>
    <global-disk global-name="p2" drivesize="2GB" drivetype="RAID">
      <attribute name="backup-policy" value="hourly"/>
    </global-disk>
  </farm-global-disks>
  <tier id="db">
    <role>r</role>
    <init-servers>3</init-servers>
  </tier>
  <server-role id="r">
    <hw>x86</hw>
    <disk target="0" drivetype="iscsi" drivesize="8GB"><diskimage>linux</diskimage></disk>
    <shared-disk global-name="Oracle Cluster, partition 1" target="1" drivetype="scsi"/>
    <shared-disk global-name="p2" target="5"/>
  </server-role>
</farm>)";
  Result<FarmSpec> got = Parse(doc, "x.fml");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  const FarmSpec& f = *got;
  EXPECT_EQ(f.version, "1.2");
  EXPECT_EQ(f.name, "ora");
  EXPECT_TRUE(f.name_given);
  ASSERT_EQ(f.global_disks.size(), 2u);
  EXPECT_EQ(f.global_disks[0].global_name, "Oracle Cluster, partition 1");
  EXPECT_EQ(f.global_disks[0].size_bytes, 8631 * kMiB);
  EXPECT_EQ(f.global_disks[1].size_bytes, 2ull << 30);
  EXPECT_EQ(f.global_disks[1].drivetype, "RAID");
  EXPECT_EQ(f.global_disks[1].backup_policies, std::vector<std::string>{"hourly"});
  const Tier& t = f.tiers[0];
  EXPECT_EQ(t.ServerPrefix(), "db");  // no name: the id
  EXPECT_EQ(t.min_servers, 0);
  EXPECT_EQ(t.max_servers, kMaxServersPerTier);
  EXPECT_EQ(t.init_servers, 3);
  const ServerRole& r = f.roles[0];
  EXPECT_EQ(r.disks[0].image, "linux");
  ASSERT_EQ(r.shared_disks.size(), 2u);
  EXPECT_EQ(r.shared_disks[0].global_name, "Oracle Cluster, partition 1");
  EXPECT_EQ(r.shared_disks[0].target, 1);
  EXPECT_EQ(r.shared_disks[0].drivetype, "scsi");
  EXPECT_EQ(r.shared_disks[1].target, 5);
  EXPECT_EQ(r.shared_disks[1].drivetype, "");
  EXPECT_EQ(f.FindGlobalDisk("p2"), &f.global_disks[1]);
  EXPECT_EQ(f.FindRole("r"), &f.roles[0]);
  EXPECT_EQ(f.FindRole("nope"), nullptr);
}

TEST(ReaderTest, CrlfCdataBomAndComments) {
  std::string doc =
      "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
      "<!-- a comment -->\r\n"
      "<farm fmlversion=\"1.1\"><?pi ignored?>\r\n"
      "  <server-role id=\"r\"><hw><![CDATA[x86]]></hw></server-role>\r\n"
      "  <tier id=\"t\"><role>r</role><init-servers>0</init-servers></tier>\r\n"
      "</farm>\r\n";
  Result<FarmSpec> got = Parse(doc, "c.fml");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->roles[0].hw, "x86");
  EXPECT_EQ(got->tiers[0].loc, (Loc{5, 3}));
  EXPECT_EQ(got->tiers[0].init_servers, 0);
}

struct ErrorCase {
  const char* name;
  std::string doc;
  std::string message;  // the whole Status message
};

// A server-role that the error cases below can lean on.
const std::string kRole = "  <server-role id=\"r\"><hw>x</hw></server-role>\n";

std::vector<ErrorCase> ErrorCases() {
  const std::string unknown_farm_child =
      "expected <tier>, <server-role>, <subnet> or <farm-global-disks>";
  return {
      {"unknown element", "<farm fmlversion=\"1.1\">\n  <tire id=\"t\"/>\n</farm>",
       "t.fml:2:3: unknown element <tire> in <farm>; " + unknown_farm_child},
      {"unknown element deep",
       "<farm fmlversion=\"1.1\">\n  <server-role id=\"r\">\n    <hw>x</hw>\n"
       "    <disk target=\"0\" drivetype=\"scsi\" drivesize=\"1\"><image/></disk>\n"
       "  </server-role>\n</farm>",
       "t.fml:4:53: unknown element <image> in <disk>; expected <diskimage> or <attribute>"},
      {"unknown attribute",
       "<farm fmlversion=\"1.1\">\n  <server-role id=\"r\">\n    <hw>x</hw>\n"
       "    <disk target=\"0\" drivetype=\"scsi\" drivesize=\"1\" colour=\"red\"/>\n"
       "  </server-role>\n</farm>",
       "t.fml:4:53: unknown attribute \"colour\" on <disk>; expected target, drivename, "
       "drivetype or drivesize"},
      {"attribute on a leaf",
       "<farm fmlversion=\"1.1\">\n  <server-role id=\"r\"><hw v=\"1\">x</hw>"
       "</server-role>\n</farm>",
       "t.fml:2:27: unknown attribute \"v\" on <hw>; expected no attributes"},
      {"attribute twice", "<farm fmlversion=\"1.1\" fmlversion=\"1.2\"/>",
       "t.fml:1:1: attribute \"fmlversion\" given twice on <farm>"},
      {"missing fmlversion", "<farm>\n" + kRole + "</farm>",
       "t.fml:1:1: <farm> is missing the required attribute \"fmlversion\""},
      {"missing tier id",
       "<farm fmlversion=\"1.1\">\n  <tier name=\"web\">\n    <role>r</role>\n"
       "    <init-servers>1</init-servers>\n  </tier>\n" +
           kRole + "</farm>",
       "t.fml:2:3: <tier> is missing the required attribute \"id\""},
      {"missing drivesize",
       "<farm fmlversion=\"1.1\">\n  <server-role id=\"r\">\n    <hw>x</hw>\n"
       "    <disk target=\"0\" drivetype=\"scsi\"/>\n  </server-role>\n</farm>",
       "t.fml:4:5: <disk> is missing the required attribute \"drivesize\""},
      {"disk without target or drivename",
       "<farm fmlversion=\"1.1\">\n  <server-role id=\"r\">\n    <hw>x</hw>\n"
       "    <disk drivesize=\"1\"/>\n  </server-role>\n</farm>",
       "t.fml:4:5: <disk> needs a target or a drivename attribute"},
      {"target without drivetype",
       "<farm fmlversion=\"1.1\">\n  <server-role id=\"r\">\n    <hw>x</hw>\n"
       "    <disk target=\"0\" drivesize=\"1\"/>\n  </server-role>\n</farm>",
       "t.fml:4:5: <disk> with a target is missing the required attribute \"drivetype\""},
      {"size not a size",
       "<farm fmlversion=\"1.1\">\n  <server-role id=\"r\">\n    <hw>x</hw>\n"
       "    <disk target=\"0\" drivetype=\"scsi\" drivesize=\"12XB\"/>\n  </server-role>\n</farm>",
       "t.fml:4:39: drivesize \"12XB\" is not a size; expected megabytes (\"8631\") or a number "
       "with a unit (KB, MB, GB, TB, KiB, MiB, GiB, TiB)"},
      {"global size not a size",
       "<farm fmlversion=\"1.2\">\n  <farm-global-disks>\n"
       "    <global-disk global-name=\"g\" drivesize=\"lots\"/>\n  </farm-global-disks>\n</farm>",
       "t.fml:3:34: drivesize \"lots\" is not a size; expected megabytes (\"8631\") or a number "
       "with a unit (KB, MB, GB, TB, KiB, MiB, GiB, TiB)"},
      {"target not a number",
       "<farm fmlversion=\"1.1\">\n  <server-role id=\"r\">\n    <hw>x</hw>\n"
       "    <disk target=\"zero\" drivetype=\"scsi\" drivesize=\"1\"/>\n  </server-role>\n</farm>",
       "t.fml:4:11: target \"zero\" is not a SCSI target; expected a number from 0 to 255"},
      {"target too big",
       "<farm fmlversion=\"1.2\">\n  <server-role id=\"r\">\n    <hw>x</hw>\n"
       "    <shared-disk global-name=\"g\" target=\"256\"/>\n  </server-role>\n</farm>",
       "t.fml:4:34: target \"256\" is not a SCSI target; expected a number from 0 to 255"},
      {"shared disk without target",
       "<farm fmlversion=\"1.2\">\n  <server-role id=\"r\">\n    <hw>x</hw>\n"
       "    <shared-disk global-name=\"g\"/>\n  </server-role>\n</farm>",
       "t.fml:4:5: <shared-disk> is missing the required attribute \"target\""},
      {"unknown drivetype",
       "<farm fmlversion=\"1.1\">\n  <server-role id=\"r\">\n    <hw>x</hw>\n"
       "    <disk target=\"0\" drivetype=\"floppy\" drivesize=\"1\"/>\n  </server-role>\n</farm>",
       "t.fml:4:22: drivetype \"floppy\" is not known; expected scsi, iscsi, fibre-channel, std, "
       "raid, performance, spindle, bandwidth or other"},
      {"server count not a number",
       "<farm fmlversion=\"1.1\">\n  <tier id=\"t\">\n    <role>r</role>\n"
       "    <init-servers>two</init-servers>\n  </tier>\n" +
           kRole + "</farm>",
       "t.fml:4:19: init-servers \"two\" is not a server count; expected a whole number from 0 "
       "to 10000"},
      {"server count too big",
       "<farm fmlversion=\"1.1\">\n  <tier id=\"t\">\n    <role>r</role>\n"
       "    <init-servers>1</init-servers>\n    <max-servers>10001</max-servers>\n  </tier>\n" +
           kRole + "</farm>",
       "t.fml:5:18: max-servers \"10001\" is not a server count; expected a whole number from 0 "
       "to 10000"},
      {"tier without role",
       "<farm fmlversion=\"1.1\">\n  <tier id=\"t\">\n    <init-servers>1</init-servers>\n"
       "  </tier>\n</farm>",
       "t.fml:2:3: <tier> needs a <role> element naming its server-role"},
      {"tier with two roles",
       "<farm fmlversion=\"1.1\">\n  <tier id=\"t\">\n    <role>r</role>\n    <role>s</role>\n"
       "    <init-servers>1</init-servers>\n  </tier>\n" +
           kRole + "</farm>",
       "t.fml:4:5: <tier> has a second <role>; expected one"},
      {"empty role",
       "<farm fmlversion=\"1.1\">\n  <tier id=\"t\"><role> </role>"
       "<init-servers>1</init-servers></tier>\n</farm>",
       "t.fml:2:16: <role> is empty; expected a server-role id"},
      {"role without hw", "<farm fmlversion=\"1.1\">\n  <server-role id=\"r\"/>\n</farm>",
       "t.fml:2:3: <server-role> needs a <hw> element naming its hardware type"},
      {"element inside a leaf",
       "<farm fmlversion=\"1.1\">\n  <server-role id=\"r\"><hw>x<b/></hw></server-role>\n</farm>",
       "t.fml:2:28: unexpected element <b> in <hw>; expected text only"},
      {"fmlversion", "<farm fmlversion=\"2.0\">\n" + kRole + "</farm>",
       "t.fml:1:7: fmlversion \"2.0\" is not supported; expected \"1.1\" or \"1.2\""},
      {"global disks need 1.2", "<farm fmlversion=\"1.1\">\n  <farm-global-disks/>\n</farm>",
       "t.fml:2:3: <farm-global-disks> needs fmlversion \"1.2\"; this farm is fmlversion "
       "\"1.1\""},
      {"shared disk needs 1.2",
       "<farm fmlversion=\"1.1\">\n  <server-role id=\"r\"><hw>x</hw>\n"
       "    <shared-disk global-name=\"g\" target=\"1\"/></server-role>\n</farm>",
       "t.fml:3:5: <shared-disk> needs fmlversion \"1.2\"; this farm is fmlversion \"1.1\""},
      {"unknown in farm-global-disks",
       "<farm fmlversion=\"1.2\">\n  <farm-global-disks><disk/></farm-global-disks>\n</farm>",
       "t.fml:2:22: unknown element <disk> in <farm-global-disks>; expected <global-disk>"},
      {"diskimage type",
       "<farm fmlversion=\"1.1\">\n  <server-role id=\"r\"><hw>x</hw>\n"
       "    <disk target=\"0\" drivetype=\"scsi\" drivesize=\"1\">\n"
       "      <diskimage type=\"data\">x</diskimage>\n    </disk></server-role>\n</farm>",
       "t.fml:4:18: diskimage type \"data\" is not supported; expected \"system\""},
      {"empty diskimage",
       "<farm fmlversion=\"1.1\">\n  <server-role id=\"r\"><hw>x</hw>\n"
       "    <disk target=\"0\" drivetype=\"scsi\" drivesize=\"1\">\n"
       "      <diskimage type=\"system\"/>\n    </disk></server-role>\n</farm>",
       "t.fml:4:7: <diskimage> is empty; expected the name of an image"},
      {"attribute without value",
       "<farm fmlversion=\"1.1\">\n  <server-role id=\"r\"><hw>x</hw>\n"
       "    <disk target=\"0\" drivetype=\"scsi\" drivesize=\"1\">\n"
       "      <attribute name=\"raid-level\"/>\n    </disk></server-role>\n</farm>",
       "t.fml:4:7: <attribute> is missing the required attribute \"value\""},
      {"two raid levels",
       "<farm fmlversion=\"1.1\">\n  <server-role id=\"r\"><hw>x</hw>\n"
       "    <disk target=\"0\" drivetype=\"scsi\" drivesize=\"1\">\n"
       "      <attribute name=\"raid-level\" value=\"1\"/>\n"
       "      <attribute name=\"raid-level\" value=\"5\"/>\n    </disk></server-role>\n</farm>",
       "t.fml:5:7: a second raid-level attribute; expected one per disk"},
      {"qos with an unknown key",
       "<farm fmlversion=\"1.1\">\n  <server-role id=\"r\"><hw>x</hw>\n"
       "    <disk target=\"0\" drivetype=\"scsi\" drivesize=\"1\">\n"
       "      <attribute name=\"qos\" value=\"iops=5,speed=3\"/>\n    "
       "</disk></server-role>\n</farm>",
       "t.fml:4:29: qos: unknown qos key 'speed' (expected iops, read-iops, write-iops, mbps, "
       "read-mbps, "
       "write-mbps)"},
      {"qos of zero",
       "<farm fmlversion=\"1.1\">\n  <server-role id=\"r\"><hw>x</hw>\n"
       "    <disk target=\"0\" drivetype=\"scsi\" drivesize=\"1\">\n"
       "      <attribute name=\"qos\" value=\"mbps=0\"/>\n    </disk></server-role>\n</farm>",
       "t.fml:4:29: qos: mbps=0: must be a whole number from 1 to 1000000000"},
      {"two qos",
       "<farm fmlversion=\"1.1\">\n  <server-role id=\"r\"><hw>x</hw>\n"
       "    <disk target=\"0\" drivetype=\"scsi\" drivesize=\"1\">\n"
       "      <attribute name=\"qos\" value=\"iops=1\"/>\n"
       "      <attribute name=\"qos\" value=\"iops=2\"/>\n    </disk></server-role>\n</farm>",
       "t.fml:5:7: a second qos attribute; expected one per disk (e.g. "
       "value=\"iops=2000,mbps=100\")"},
      {"cache policy unknown",
       "<farm fmlversion=\"1.1\">\n  <server-role id=\"r\"><hw>x</hw>\n"
       "    <disk target=\"0\" drivetype=\"scsi\" drivesize=\"1\">\n"
       "      <attribute name=\"cache\" value=\"write\"/>\n    </disk></server-role>\n</farm>",
       "t.fml:4:31: cache: 'write' is no cache policy; expected read or none"},
      {"two cache",
       "<farm fmlversion=\"1.1\">\n  <server-role id=\"r\"><hw>x</hw>\n"
       "    <disk target=\"0\" drivetype=\"scsi\" drivesize=\"1\">\n"
       "      <attribute name=\"cache\" value=\"none\"/>\n"
       "      <attribute name=\"cache\" value=\"read\"/>\n    </disk></server-role>\n</farm>",
       "t.fml:5:7: a second cache attribute; expected one per disk (value=\"read\" or \"none\")"},
      {"bad mask", "<farm fmlversion=\"1.1\">\n  <subnet id=\"s\" mask=\"255.255.0\"/>\n</farm>",
       "t.fml:2:18: mask \"255.255.0\" is not a network mask; expected four numbers such as "
       "255.255.255.0"},
      {"text in a container", "<farm fmlversion=\"1.1\">hello</farm>",
       "t.fml:1:24: unexpected text \"hello\" in <farm>; expected elements only"},
      {"text outside farm", "<farm fmlversion=\"1.1\"/>\ntrailing",
       "t.fml:2:1: unexpected text \"trailing\" outside <farm>"},
      {"wrong root", "<farms fmlversion=\"1.1\"/>",
       "t.fml:1:1: the root element is <farms>; expected <farm>"},
      {"two farms", "<farm fmlversion=\"1.1\"/>\n<farm fmlversion=\"1.1\"/>",
       "t.fml:2:1: a second <farm> element; expected one per file"},
      {"empty file", "", "t.fml:1:1: no <farm> element; expected an FML document"},
      {"mismatched tags", "<farm fmlversion=\"1.1\">\n  <tier id=\"t\">\n</farm>",
       "t.fml:3:3: malformed XML: this closing tag does not match the element it closes"},
      {"the seed's commas",
       "<farm fmlversion=\"1.1\">\n  <disk drivename=\"D:\", drivesize=\"200\">"
       "</disk>\n</farm>",
       "t.fml:2:23: malformed XML: cannot read this start tag; expected <name "
       "attribute=\"value\" ...> with the attributes separated by white space (no commas)"},
      {"unquoted value", "<farm fmlversion=\"1.1\">\n  <disk drivesize=200/>\n</farm>",
       "t.fml:2:19: malformed XML: cannot read an attribute; expected name=\"value\" with the "
       "value in quotes"},
      {"columns count characters",
       "<farm fmlversion=\"1.1\" name=\"\xC3\xA9t\xC3\xA9\"><tire/></farm>",
       "t.fml:1:35: unknown element <tire> in <farm>; " + unknown_farm_child},
      {"several errors, in order", "<farm fmlversion=\"1.1\">\n  <tier/>\n  <bogus/>\n</farm>",
       "t.fml:2:3: <tier> is missing the required attribute \"id\"\n"
       "t.fml:2:3: <tier> needs a <role> element naming its server-role\n"
       "t.fml:2:3: <tier> needs an <init-servers> element\n"
       "t.fml:3:3: unknown element <bogus> in <farm>; " +
           unknown_farm_child},
  };
}

TEST(ReaderTest, Errors) {
  for (const ErrorCase& c : ErrorCases()) {
    SCOPED_TRACE(c.name);
    Result<FarmSpec> got = Parse(c.doc, "t.fml");
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(got.status().message(), c.message);
  }
}

// No DTD is ever read: a DOCTYPE is refused before anything in it matters.
TEST(ReaderTest, DoctypeRefused) {
  const std::string refused =
      "DOCTYPE is not allowed in FML (no DTDs, entities or external references); "
      "expected <farm> as the only content";
  struct Case {
    const char* name;
    std::string doc;
    std::string message;
  } cases[] = {
      {"plain", "<!DOCTYPE farm>\n<farm fmlversion=\"1.1\"/>", "t.fml:1:1: " + refused},
      {"external entity (XXE)",
       "<?xml version=\"1.0\"?>\n<!DOCTYPE farm [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
       "<farm fmlversion=\"1.1\" name=\"&x;\"/>",
       "t.fml:2:1: " + refused},
      {"entity bomb",
       "<!DOCTYPE farm [\n <!ENTITY a \"aaaaaaaaaa\">\n <!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">\n"
       " <!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;\">\n]>\n<farm fmlversion=\"1.1\" name=\"&c;\"/>",
       "t.fml:1:1: " + refused},
      {"inside the farm", "<farm fmlversion=\"1.1\"><!DOCTYPE farm></farm>",
       "t.fml:1:24: malformed XML: a DOCTYPE that cannot be read; FML allows no DOCTYPE"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Result<FarmSpec> got = Parse(c.doc, "t.fml");
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().message(), c.message);
  }
}

// Entity references other than the five of XML stay text; nothing expands.
TEST(ReaderTest, UndeclaredEntityIsText) {
  Result<FarmSpec> got = ReadXml(
      "<farm fmlversion=\"1.1\"><server-role id=\"r\"><hw>&lt;&x;</hw></server-role></farm>",
      "t.fml");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->roles[0].hw, "<&x;");
}

// Text that is not UTF-8 (or holds a control character XML forbids) is
// refused at its first bad byte, before any XML is read.
TEST(ReaderTest, InvalidUtf8AndControlCharacters) {
  const std::string utf8 = "; FML files are UTF-8 text";
  struct Case {
    const char* name;
    std::string doc;
    std::string message;
  } cases[] = {
      {"0xff in a name", "<farm fmlversion=\"1.1\"\n      name=\"we\xff\"/>",
       "t.fml:2:15: not valid UTF-8 (byte \\xff)" + utf8},
      {"column counts characters before it", "<farm fmlversion=\"1.1\">\n<!-- caf\xc3\xa9 \x80 -->\n</farm>",
       "t.fml:2:11: not valid UTF-8 (byte \\x80)" + utf8},
      {"truncated sequence at the end", "<farm fmlversion=\"1.1\"/>\xe2\x82",
       "t.fml:1:25: not valid UTF-8 (byte \\xe2)" + utf8},
      {"overlong slash", "<farm fmlversion=\"1.1\" name=\"a\xc0\xaf" "b\"/>",
       "t.fml:1:31: not valid UTF-8 (byte \\xc0)" + utf8},
      {"surrogate", "<farm \xed\xa0\x80/>", "t.fml:1:7: not valid UTF-8 (byte \\xed)" + utf8},
      {"NUL", std::string("<farm fmlversion=\"1.1\" name=\"a\0b\"/>", 34),
       "t.fml:1:31: control character \\x00 is not allowed in XML; expected text, tab or line breaks"},
      {"ESC", "<farm fmlversion=\"1.1\">\n  <subnet id=\"\x1b[31m\"/>\n</farm>",
       "t.fml:2:15: control character \\x1b is not allowed in XML; expected text, tab or line breaks"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Result<FarmSpec> got = Parse(c.doc, "t.fml");
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(got.status().message(), c.message);
  }
  // A long value is cut in a message at a character boundary, so the message
  // stays valid UTF-8 (it travels as JSON).
  Result<FarmSpec> cut = Parse("<farm fmlversion=\"" + std::string(39, '9') + "\xc3\xa9\xc3\xa9\"/>", "t.fml");
  ASSERT_FALSE(cut.ok());
  EXPECT_NE(cut.status().message().find(std::string(39, '9') + "\xc3\xa9...\""), std::string::npos)
      << cut.status().message();
  EXPECT_TRUE(IsValidUtf8(cut.status().message()));
  // Valid multi-byte text is still fine (in a comment and an attribute value).
  Result<FarmSpec> ok = ReadXml("<farm fmlversion=\"1.1\"><!-- caf\xc3\xa9 \xe2\x82\xac -->"
                                "<subnet id=\"s\" name=\"r\xc3\xa9seau\"/></farm>",
                                "t.fml");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->subnets.at(0).name, "r\xc3\xa9seau");
}

TEST(ReaderTest, ParseFile) {
  Result<FarmSpec> missing = ParseFile("/nonexistent/dir/farm.fml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kIoError);
  EXPECT_NE(missing.status().message().find("/nonexistent/dir/farm.fml"), std::string::npos);
}

}  // namespace
}  // namespace vsl::fml
