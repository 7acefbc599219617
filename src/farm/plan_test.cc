// Table tests of the planner: desired FarmSpec x current FarmState -> actions.
#include "farm/plan.h"

#include <gtest/gtest.h>

#include <map>

#include "fml/fml.h"

namespace vsl::farm {
namespace {

// The knobs of the test farm: web servers with a private boot disk, db
// servers with a boot disk and the farm-global disk "g" at target 1.
struct Farm {
  int web = 1;
  int db = 2;
  std::string web_size = "64";
  std::string web_image = "demo";
  std::string web_role = "web";
  std::string global_size = "32";
  bool global = true;
  std::string global_type;   // the global disk's drivetype ("" for none)
  std::string global_extra;  // <attribute> children of the global disk
  std::string web_extra;  // more elements in the web server-role
};

std::string Doc(const Farm& f) {
  std::string doc = "<farm fmlversion=\"1.2\" name=\"f\">\n";
  if (f.global) {
    doc += "  <farm-global-disks><global-disk global-name=\"g\" drivesize=\"" + f.global_size +
           "\"" + (f.global_type.empty() ? "" : " drivetype=\"" + f.global_type + "\"") + ">" +
           f.global_extra + "</global-disk></farm-global-disks>\n";
  }
  doc += "  <tier id=\"1\" name=\"web\"><role>" + f.web_role + "</role><init-servers>" +
         std::to_string(f.web) + "</init-servers></tier>\n";
  doc += "  <tier id=\"2\" name=\"db\"><role>db</role><init-servers>" + std::to_string(f.db) +
         "</init-servers></tier>\n";
  doc +=
      "  <server-role id=\"web\"><hw>small</hw>\n"
      "    <disk target=\"0\" drivetype=\"scsi\" drivesize=\"" +
      f.web_size + "\"><diskimage>" + f.web_image + "</diskimage></disk>" + f.web_extra +
      "\n  </server-role>\n";
  doc +=
      "  <server-role id=\"db\"><hw>big</hw>\n"
      "    <disk target=\"0\" drivetype=\"scsi\" drivesize=\"64\"><diskimage>demo</diskimage>"
      "</disk>\n";
  if (f.global) doc += "    <shared-disk global-name=\"g\" target=\"1\"/>\n";
  doc += "  </server-role>\n</farm>\n";
  return doc;
}

fml::FarmSpec Spec(const Farm& f) {
  Result<fml::FarmSpec> spec = fml::Parse(Doc(f), "f.fml");
  EXPECT_TRUE(spec.ok()) << spec.status().ToString() << "\n" << Doc(f);
  return spec.ok() ? *spec : fml::FarmSpec{};
}

FarmState EmptyFarm() {
  FarmState s;
  for (const char* h : {"s3", "s1", "s2"}) s.pool.push_back({h, "small"});
  for (const char* h : {"b1", "b2", "b3"}) s.pool.push_back({h, "big"});
  s.pool.push_back({"x1", "other"});
  return s;
}

// The state after planning `f` on `from` and doing every action.
FarmState Applied(const Farm& f, const FarmState& from, VolumeId* next_id) {
  Result<FarmPlan> plan = Plan(Spec(f), from);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return plan.ok() ? Simulate(from, *plan, next_id) : from;
}

std::vector<std::string> Lines(const FarmPlan& plan) {
  std::vector<std::string> out;
  for (const Action& a : plan.actions) out.push_back(a.ToString());
  out.push_back(plan.Summary());
  return out;
}

// A fresh farm: web 1, db 2, volumes 1 ("g"), 2 (f-web-1), 3, 4 (f-db-1, -2).
FarmState Fresh() {
  VolumeId next = 1;
  return Applied(Farm{}, EmptyFarm(), &next);
}

struct Case {
  const char* name;
  Farm desired;
  FarmState current;
  std::vector<std::string> lines;  // every action, then the summary
};

std::vector<Case> Cases() {
  Farm grow;
  grow.web_size = "128MB";
  Farm one_db;
  one_db.db = 1;
  Farm three_db;
  three_db.db = 3;
  Farm new_disk;
  new_disk.web_extra =
      "<disk target=\"2\" drivetype=\"std\" drivesize=\"1GB\">"
      "<attribute name=\"raid-level\" value=\"5\"/>"
      "<attribute name=\"backup-policy\" value=\"nightly\"/></disk>";
  FarmState with_disk;
  {
    VolumeId next = 1;
    with_disk = Applied(new_disk, EmptyFarm(), &next);
  }
  Farm web_shares;
  web_shares.web = 2;
  web_shares.web_extra = "<shared-disk global-name=\"g\" target=\"3\"/>";
  Farm no_global;
  no_global.global = false;
  Farm global_grow;
  global_grow.global_size = "64";
  Farm web_as_db;
  web_as_db.web_role = "db";
  Farm home;
  home.web_extra = "<disk drivename=\"/home\" drivesize=\"8\"/>";
  FarmState with_home;
  {
    VolumeId next = 1;
    with_home = Applied(home, EmptyFarm(), &next);
  }
  Farm data;
  data.web_extra = "<disk drivename=\"/data\" drivesize=\"8\"/>";
  FarmState half_done = Fresh();
  half_done.servers[0].disks[0].image = "";  // the copy did not finish
  half_done.servers[0].powered_on = false;

  return {
      {"fresh farm",
       Farm{},
       EmptyFarm(),
       {
           "+ allocate global disk \"g\": 32 MiB",
           "+ take host s1 (hw small) from the pool for f-web-1",
           "+ allocate disk f-web-1 target 0: 64 MiB scsi",
           "+ copy image demo onto disk f-web-1 target 0",
           "+ bind disk f-web-1 target 0 to host s1",
           "+ map disk f-web-1 target 0 as LUN 0 on host s1",
           "+ power on f-web-1 (host s1)",
           "+ take host b1 (hw big) from the pool for f-db-1",
           "+ allocate disk f-db-1 target 0: 64 MiB scsi",
           "+ copy image demo onto disk f-db-1 target 0",
           "+ bind disk f-db-1 target 0 to host b1",
           "+ map disk f-db-1 target 0 as LUN 0 on host b1",
           "+ bind global disk \"g\" to host b1 (f-db-1)",
           "+ map global disk \"g\" as LUN 1 on host b1 (f-db-1)",
           "+ power on f-db-1 (host b1)",
           "+ take host b2 (hw big) from the pool for f-db-2",
           "+ allocate disk f-db-2 target 0: 64 MiB scsi",
           "+ copy image demo onto disk f-db-2 target 0",
           "+ bind disk f-db-2 target 0 to host b2",
           "+ map disk f-db-2 target 0 as LUN 0 on host b2",
           "+ bind global disk \"g\" to host b2 (f-db-2)",
           "+ map global disk \"g\" as LUN 1 on host b2 (f-db-2)",
           "+ power on f-db-2 (host b2)",
           "Plan: 9 to add, 0 to change, 0 to remove.",
       }},
      {"re-plan of an applied farm",
       Farm{},
       Fresh(),
       {"No changes: farm f matches its definition."}},
      {"grow a disk",
       grow,
       Fresh(),
       {
           "~ grow disk f-web-1 target 0 from 64 MiB to 128 MiB (allocate 64 MiB and "
           "concatenate)",
           "Plan: 0 to add, 1 to change, 0 to remove.",
       }},
      {"grow a global disk",
       global_grow,
       Fresh(),
       {
           "~ grow global disk \"g\" from 32 MiB to 64 MiB (allocate 32 MiB and concatenate)",
           "Plan: 0 to add, 1 to change, 0 to remove.",
       }},
      {"add a server",
       three_db,
       Fresh(),
       {
           "+ take host b3 (hw big) from the pool for f-db-3",
           "+ allocate disk f-db-3 target 0: 64 MiB scsi",
           "+ copy image demo onto disk f-db-3 target 0",
           "+ bind disk f-db-3 target 0 to host b3",
           "+ map disk f-db-3 target 0 as LUN 0 on host b3",
           "+ bind global disk \"g\" to host b3 (f-db-3)",
           "+ map global disk \"g\" as LUN 1 on host b3 (f-db-3)",
           "+ power on f-db-3 (host b3)",
           "Plan: 3 to add, 0 to change, 0 to remove.",
       }},
      {"remove a server",
       one_db,
       Fresh(),
       {
           "- power off f-db-2 (host b2)",
           "- unmap global disk \"g\" (LUN 1) from host b2 (f-db-2)",
           "- unbind global disk \"g\" from host b2 (f-db-2)",
           "- unmap disk f-db-2 target 0 (LUN 0) from host b2",
           "- unbind disk f-db-2 target 0 from host b2 (volume 4)",
           "- scrub disk f-db-2 target 0 (volume 4)",
           "- free disk f-db-2 target 0 (volume 4)",
           "- release host b2 of f-db-2 to the pool",
           "Plan: 0 to add, 0 to change, 3 to remove.",
       }},
      {"add a disk",
       new_disk,
       Fresh(),
       {
           "+ allocate disk f-web-1 target 2: 1 GiB std, raid-level 5, backup-policy nightly",
           "+ bind disk f-web-1 target 2 to host s1",
           "+ map disk f-web-1 target 2 as LUN 2 on host s1",
           "Plan: 1 to add, 0 to change, 0 to remove.",
       }},
      {"remove a disk",
       Farm{},
       with_disk,
       {
           "- unmap disk f-web-1 target 2 (LUN 2) from host s1",
           "- unbind disk f-web-1 target 2 from host s1 (volume 3)",
           "- scrub disk f-web-1 target 2 (volume 3)",
           "- free disk f-web-1 target 2 (volume 3)",
           "Plan: 0 to add, 0 to change, 1 to remove.",
       }},
      {"shared disk at another target on another role",
       web_shares,
       Fresh(),
       {
           "+ bind global disk \"g\" to host s1 (f-web-1)",
           "+ map global disk \"g\" as LUN 3 on host s1 (f-web-1)",
           "+ take host s2 (hw small) from the pool for f-web-2",
           "+ allocate disk f-web-2 target 0: 64 MiB scsi",
           "+ copy image demo onto disk f-web-2 target 0",
           "+ bind disk f-web-2 target 0 to host s2",
           "+ map disk f-web-2 target 0 as LUN 0 on host s2",
           "+ bind global disk \"g\" to host s2 (f-web-2)",
           "+ map global disk \"g\" as LUN 3 on host s2 (f-web-2)",
           "+ power on f-web-2 (host s2)",
           "Plan: 4 to add, 0 to change, 0 to remove.",
       }},
      {"remove the global disk",
       no_global,
       Fresh(),
       {
           "- unmap global disk \"g\" (LUN 1) from host b1 (f-db-1)",
           "- unbind global disk \"g\" from host b1 (f-db-1)",
           "- unmap global disk \"g\" (LUN 1) from host b2 (f-db-2)",
           "- unbind global disk \"g\" from host b2 (f-db-2)",
           "- scrub global disk \"g\" (volume 1)",
           "- free global disk \"g\" (volume 1)",
           "Plan: 0 to add, 0 to change, 3 to remove.",
       }},
      {"a server whose role changes is replaced",
       web_as_db,
       Fresh(),
       {
           "- power off f-web-1 (host s1)",
           "- unmap disk f-web-1 target 0 (LUN 0) from host s1",
           "- unbind disk f-web-1 target 0 from host s1 (volume 2)",
           "- scrub disk f-web-1 target 0 (volume 2)",
           "- free disk f-web-1 target 0 (volume 2)",
           "- release host s1 of f-web-1 to the pool",
           "+ take host b3 (hw big) from the pool for f-web-1",
           "+ allocate disk f-web-1 target 0: 64 MiB scsi",
           "+ copy image demo onto disk f-web-1 target 0",
           "+ bind disk f-web-1 target 0 to host b3",
           "+ map disk f-web-1 target 0 as LUN 0 on host b3",
           "+ bind global disk \"g\" to host b3 (f-web-1)",
           "+ map global disk \"g\" as LUN 1 on host b3 (f-web-1)",
           "+ power on f-web-1 (host b3)",
           "Plan: 3 to add, 0 to change, 2 to remove.",
       }},
      {"a disk for another drivename replaces the old one",
       data,
       with_home,
       {
           "- unmap disk f-web-1 target 1 (LUN 1) from host s1",
           "- unbind disk f-web-1 target 1 from host s1 (volume 3)",
           "- scrub disk f-web-1 target 1 (volume 3)",
           "- free disk f-web-1 target 1 (volume 3)",
           "+ allocate disk f-web-1 target 1 (/data): 8 MiB",
           "+ bind disk f-web-1 target 1 to host s1",
           "+ map disk f-web-1 target 1 as LUN 1 on host s1",
           "Plan: 1 to add, 0 to change, 1 to remove.",
       }},
      {"a half-done server is repaired",
       Farm{},
       half_done,
       {
           "~ copy image demo onto disk f-web-1 target 0 (volume 2)",
           "~ power on f-web-1 (host s1)",
           "Plan: 0 to add, 2 to change, 0 to remove.",
       }},
  };
}

TEST(PlanTest, Table) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    Result<FarmPlan> plan = Plan(Spec(c.desired), c.current);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    EXPECT_EQ(Lines(*plan), c.lines);
  }
}

struct ErrorCase {
  const char* name;
  Farm desired;
  FarmState current;
  Code code;
  std::string message;
};

TEST(PlanTest, Refused) {
  Farm shrink;
  shrink.web_size = "32";
  FarmState two_web;
  {
    VolumeId next = 1;
    Farm f;
    f.web = 2;
    two_web = Applied(f, EmptyFarm(), &next);
  }
  Farm shrink_two = shrink;
  shrink_two.web = 2;
  Farm global_shrink;
  global_shrink.global_size = "16";
  Farm new_image;
  new_image.web_image = "other";
  Farm many;
  many.web = 4;
  many.db = 5;
  Farm many_web;
  many_web.web = 4;
  FarmState small_pool = Fresh();
  small_pool.pool.push_back({"b0", "big"});

  Farm home;
  home.web_extra = "<disk drivename=\"/home\" drivesize=\"8\"/>";
  FarmState with_home;
  {
    VolumeId next = 1;
    with_home = Applied(home, EmptyFarm(), &next);
  }
  Farm home_moves;
  home_moves.web_extra =
      "<disk target=\"1\" drivetype=\"scsi\" drivesize=\"8\"/>"
      "<disk drivename=\"/home\" drivesize=\"8\"/>";

  ErrorCase cases[] = {
      {"move a disk named by drivename", home_moves, with_home, Code::kFailedPrecondition,
       "disk \"/home\" of server f-web-1 is at target 1; the file now puts it at target 2: "
       "moving a disk is refused (give it target=\"1\" in the file)"},
      {"shrink a disk", shrink, Fresh(), Code::kFailedPrecondition,
       "disk at target 0 of server f-web-1 (server-role \"web\") is 64 MiB; the file asks for "
       "32 MiB: shrinking a disk is refused"},
      {"shrink a disk on two servers", shrink_two, two_web, Code::kFailedPrecondition,
       "disk at target 0 of server f-web-1 (server-role \"web\") is 64 MiB; the file asks for "
       "32 MiB: shrinking a disk is refused (and on 1 more server)"},
      {"shrink a global disk", global_shrink, Fresh(), Code::kFailedPrecondition,
       "global disk \"g\" is 32 MiB; the file asks for 16 MiB: shrinking a disk is refused"},
      {"change an image", new_image, Fresh(), Code::kFailedPrecondition,
       "disk at target 0 of server f-web-1 holds image \"demo\"; the file asks for image "
       "\"other\": changing the image of a disk is refused (remove the disk, apply, then add "
       "it back)"},
      {"pool exhausted", many_web, EmptyFarm(), Code::kResourceExhausted,
       "not enough idle hosts of hw \"small\": the farm needs 4 more, the pool has 3"},
      {"pool exhausted for two hw types", many, EmptyFarm(), Code::kResourceExhausted,
       "not enough idle hosts of hw \"big\": the farm needs 5 more, the pool has 3\n"
       "not enough idle hosts of hw \"small\": the farm needs 4 more, the pool has 3"},
      {"pool exhausted counting freed hosts", many_web, Fresh(), Code::kResourceExhausted,
       "not enough idle hosts of hw \"small\": the farm needs 3 more, the pool has 2"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    Result<FarmPlan> plan = Plan(Spec(c.desired), c.current);
    ASSERT_FALSE(plan.ok());
    EXPECT_EQ(plan.status().code(), c.code);
    EXPECT_EQ(plan.status().message(), c.message);
  }
}

TEST(PlanTest, HostsAreHandedOutOnce) {
  Farm two_db;
  FarmState state;
  state.pool = {{"b1", "big"}, {"b1", "big"}, {"s1", "small"}};
  Result<FarmPlan> plan = Plan(Spec(two_db), state);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().message(),
            "not enough idle hosts of hw \"big\": the farm needs 2 more, the pool has 1");
  FarmState busy = Fresh();  // f-db-1 runs on b1
  busy.pool.push_back({"b1", "big"});
  Farm three_db;
  three_db.db = 3;
  plan = Plan(Spec(three_db), busy);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->actions[0].ToString(), "+ take host b3 (hw big) from the pool for f-db-3");
}

TEST(PlanTest, RefusesUnusableFarmName) {
  fml::FarmSpec spec = Spec(Farm{});
  spec.name = "my farm";  // e.g. derived from a file called "my farm.fml"
  Result<FarmPlan> plan = Plan(spec, EmptyFarm());
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(plan.status().message(),
            "farm name \"my farm\" cannot be used in server names; expected 1 to 63 of A-Z a-z "
            "0-9 . _ -, not starting with . or -");
}

// Whatever the farm was, planning towards a definition and doing the plan
// leaves a farm that needs nothing more; the pool loses exactly the hosts the
// farm holds.
TEST(PlanTest, ApplyingThePlanConverges) {
  std::vector<Farm> farms;
  for (int web : {0, 1, 3}) {
    for (int db : {0, 2}) {
      for (const char* size : {"64", "1GB"}) {
        for (bool global : {true, false}) {
          Farm f;
          f.web = web;
          f.db = db;
          f.web_size = size;
          f.global = global;
          f.global_size = web == 3 ? "64" : "32";
          if (web == 1) f.web_extra = "<disk drivename=\"/home\" drivesize=\"8\"/>";
          farms.push_back(f);
        }
      }
    }
  }
  for (size_t i = 0; i < farms.size(); ++i) {
    for (size_t j = 0; j < farms.size(); ++j) {
      SCOPED_TRACE("from farm " + std::to_string(i) + " to farm " + std::to_string(j));
      VolumeId next = 1;
      FarmState from = Applied(farms[i], EmptyFarm(), &next);
      Result<FarmPlan> plan = Plan(Spec(farms[j]), from);
      if (!plan.ok()) {
        // Only shrinking may be refused.
        EXPECT_EQ(plan.status().code(), Code::kFailedPrecondition) << plan.status().ToString();
        continue;
      }
      FarmState to = Simulate(from, *plan, &next);
      Result<FarmPlan> again = Plan(Spec(farms[j]), to);
      ASSERT_TRUE(again.ok()) << again.status().ToString();
      EXPECT_TRUE(again->empty()) << again->ToString();
      EXPECT_EQ(to.servers.size(), static_cast<size_t>(farms[j].web + farms[j].db));
      EXPECT_EQ(to.servers.size() + to.pool.size(), EmptyFarm().pool.size());
      for (const ServerState& s : to.servers) EXPECT_TRUE(s.powered_on) << s.name;
    }
  }
}

// The seed's own example farm (section 2.1) plans as the seed describes.
TEST(PlanTest, SeedFarm) {
  Result<fml::FarmSpec> spec =
      fml::ParseFile(std::string(VSL_SOURCE_DIR) + "/examples/seed-farm.fml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  FarmState state;
  state.pool = {{"sun2", "cpu-sun4u-x4"}, {"sun1", "cpu-sun4u-x4"}, {"pc1", "x86-vm"}};
  Result<FarmPlan> plan = Plan(*spec, state);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(Lines(*plan), (std::vector<std::string>{
                              "+ take host sun1 (hw cpu-sun4u-x4) from the pool for "
                              "seed-farm-Server1-1",
                              "+ allocate disk seed-farm-Server1-1 target 0: 8631 MiB scsi, "
                              "backup-policy nightly",
                              "+ copy image solaris onto disk seed-farm-Server1-1 target 0",
                              "+ bind disk seed-farm-Server1-1 target 0 to host sun1",
                              "+ map disk seed-farm-Server1-1 target 0 as LUN 0 on host sun1",
                              "+ power on seed-farm-Server1-1 (host sun1)",
                              "Plan: 2 to add, 0 to change, 0 to remove.",
                          }));
  const Action& allocate = plan->actions[1];
  EXPECT_EQ(allocate.kind, ActionKind::kAllocateDisk);
  EXPECT_EQ(allocate.size_bytes, uint64_t{8631} << 20);
  EXPECT_EQ(allocate.image, "solaris");
  EXPECT_EQ(allocate.backup_policies, std::vector<std::string>{"nightly"});
  VolumeId next = 1;
  FarmState after = Simulate(state, *plan, &next);
  ASSERT_EQ(after.servers.size(), 1u);
  EXPECT_EQ(after.servers[0].role, "role37");
  EXPECT_EQ(after.servers[0].disks[0].image, "solaris");
  EXPECT_TRUE(Plan(*spec, after)->empty());
}

// The demo's farm: the global disk comes before every server's disks.
TEST(PlanTest, TwoTierExample) {
  Result<fml::FarmSpec> spec =
      fml::ParseFile(std::string(VSL_SOURCE_DIR) + "/examples/two-tier.fml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  FarmState state;
  for (const char* h : {"h1", "h2", "h3", "h4"}) state.pool.push_back({h, "x86-vm"});
  Result<FarmPlan> plan = Plan(*spec, state);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_FALSE(plan->actions.empty());
  EXPECT_EQ(plan->actions[0].kind, ActionKind::kAllocateGlobalDisk);
  std::map<std::string, int> shared_targets;  // server -> target of the shared disk
  int takes = 0;
  for (const Action& a : plan->actions) {
    takes += a.kind == ActionKind::kTakeHost;
    if (a.kind == ActionKind::kMapSharedDisk) shared_targets[a.server] = a.target;
  }
  EXPECT_EQ(takes, 4);
  EXPECT_EQ(shared_targets,
            (std::map<std::string, int>{{"two-tier-db-1", 1}, {"two-tier-db-2", 1}}));
  // 4 servers, 4 boot disks, 1 global disk, 2 shared-disk mappings.
  EXPECT_EQ(plan->Summary(), "Plan: 11 to add, 0 to change, 0 to remove.");
  FarmState one_short = state;
  one_short.pool.pop_back();
  Result<FarmPlan> refused = Plan(*spec, one_short);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(),
            "not enough idle hosts of hw \"x86-vm\": the farm needs 4 more, the pool has 3");
}

TEST(StorageQualities, Table) {
  using Q = std::map<std::string, std::string>;
  struct Case {
    std::string drivetype, raid_level;
    Q want;
  } cases[] = {
      {"scsi", "", {}},
      {"iSCSI", "", {}},
      {"fibre-channel", "", {}},
      {"std", "", {}},
      {"other", "", {}},
      {"", "", {}},
      {"scsi", "0+1", {{"raid", "0+1"}}},
      {"performance", "", {{"class", "performance"}}},
      {"Spindle", "", {{"class", "spindle"}}},
      {"bandwidth", "", {{"class", "bandwidth"}}},
      {"raid", "5", {{"class", "raid"}, {"raid", "5"}}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(StorageQualities(c.drivetype, c.raid_level), c.want) << c.drivetype << " " << c.raid_level;
  }
}

TEST(PlanTest, ToStringEndsWithSummary) {
  Result<FarmPlan> plan = Plan(Spec(Farm{}), EmptyFarm());
  ASSERT_TRUE(plan.ok());
  std::string text = plan->ToString();
  EXPECT_EQ(text.substr(0, text.find('\n')), "+ allocate global disk \"g\": 32 MiB");
  EXPECT_NE(text.find("\nPlan: 9 to add, 0 to change, 0 to remove.\n"), std::string::npos);
}

}  // namespace
}  // namespace vsl::farm

namespace vsl::farm {
namespace {

// A changed qos or cache attribute is one change of the disk (its limits or
// its policy are set at once on the mapped disk): no unmap, no map, no new
// volume; dropping the attribute is one change again.
TEST(PlanTest, QosOrCacheChangeIsAChangeNotARemap) {
  struct Case {
    const char* attribute;
    const char* value;
    ActionKind kind;
    std::string Action::*field;
    const char* planned;  // the field as the plan has it
    const char* text;     // how the step starts
  };
  const Case cases[] = {
      {"qos", "mbps=50,iops=100", ActionKind::kSetQos, &Action::qos, "iops=100,mbps=50", "~ set limits of "},
      {"cache", "read", ActionKind::kSetCache, &Action::cache, "read", "~ set cache policy of "},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.attribute);
    Farm plain;
    plain.web_extra = "<disk drivename=\"/home\" drivesize=\"8\"/>";
    Farm with;
    with.web_extra = std::string("<disk drivename=\"/home\" drivesize=\"8\"><attribute name=\"") + c.attribute +
                     "\" value=\"" + c.value + "\"/></disk>";
    VolumeId next = 1;
    FarmState from = Applied(plain, EmptyFarm(), &next);
    Result<FarmPlan> plan = Plan(Spec(with), from);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    ASSERT_EQ(plan->actions.size(), 1u) << plan->ToString();
    const Action& a = plan->actions[0];
    EXPECT_EQ(a.kind, c.kind);
    EXPECT_EQ(a.*c.field, c.planned);
    EXPECT_EQ(plan->to_change, 1);
    EXPECT_EQ(plan->to_add + plan->to_remove, 0);
    EXPECT_EQ(a.ToString().rfind(c.text, 0), 0u) << a.ToString();
    EXPECT_NE(a.ToString().find(std::string(": ") + c.planned), std::string::npos) << a.ToString();

    FarmState to = Simulate(from, *plan, &next);
    Result<FarmPlan> again = Plan(Spec(with), to);
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->empty()) << again->ToString();

    Result<FarmPlan> back = Plan(Spec(plain), to);
    ASSERT_TRUE(back.ok());
    ASSERT_EQ(back->actions.size(), 1u) << back->ToString();
    EXPECT_EQ(back->actions[0].kind, c.kind);
    EXPECT_EQ(back->actions[0].*c.field, "");
    EXPECT_NE(back->actions[0].ToString().find(": none"), std::string::npos);
  }
}

// A changed raid-level (or a drivetype naming another class) is one change
// of the disk: a live migration, no unmap, no remap, no new disk; changing
// it back plans the way back, and to an access class asks for nothing.
TEST(PlanTest, QualityChangeIsALiveMigration) {
  Farm spindle;
  spindle.web_extra = "<disk drivename=\"/home\" drivetype=\"spindle\" drivesize=\"8\"/>";
  Farm fast;
  fast.web_extra =
      "<disk drivename=\"/home\" drivetype=\"performance\" drivesize=\"8\">"
      "<attribute name=\"raid-level\" value=\"1\"/></disk>";
  VolumeId next = 1;
  FarmState from = Applied(spindle, EmptyFarm(), &next);
  Result<FarmPlan> plan = Plan(Spec(fast), from);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->actions.size(), 1u) << plan->ToString();
  const Action& a = plan->actions[0];
  EXPECT_EQ(a.kind, ActionKind::kMigrateDisk);
  EXPECT_EQ(a.drivetype, "performance");
  EXPECT_EQ(a.raid_level, "1");
  EXPECT_EQ(std::string(ActionKindName(a.kind)), "migrate");
  EXPECT_EQ(plan->to_change, 1);
  EXPECT_EQ(plan->to_add + plan->to_remove, 0);
  EXPECT_EQ(a.ToString().rfind("~ migrate ", 0), 0u) << a.ToString();
  EXPECT_NE(a.ToString().find("class=performance,raid=1"), std::string::npos) << a.ToString();

  FarmState to = Simulate(from, *plan, &next);
  Result<FarmPlan> again = Plan(Spec(fast), to);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty()) << again->ToString();

  Result<FarmPlan> back = Plan(Spec(spindle), to);
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->actions.size(), 1u) << back->ToString();
  EXPECT_EQ(back->actions[0].kind, ActionKind::kMigrateDisk);
  EXPECT_NE(back->actions[0].ToString().find("class=spindle"), std::string::npos) << back->ToString();

  // scsi asks for no quality: any storage will do, nothing moves.
  Farm any;
  any.web_extra = "<disk drivename=\"/home\" drivetype=\"scsi\" drivesize=\"8\"/>";
  Result<FarmPlan> none = Plan(Spec(any), from);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty()) << none->ToString();
}

// A farm-global disk whose raid-level (or quality-class drivetype) changed
// moves live, as a server's disk does: ONE migrate of the global disk, not
// one per server that maps it, and nothing unmapped, unbound or allocated.
TEST(PlanTest, GlobalDiskQualityChangeIsOneLiveMigration) {
  Farm r1;
  r1.global_extra = "<attribute name=\"raid-level\" value=\"1\"/>";
  Farm r5 = r1;
  r5.global_extra = "<attribute name=\"raid-level\" value=\"5\"/>";
  VolumeId next = 1;
  FarmState from = Applied(r1, EmptyFarm(), &next);

  Result<FarmPlan> same = Plan(Spec(r1), from);
  ASSERT_TRUE(same.ok()) << same.status().ToString();
  EXPECT_TRUE(same->empty()) << "unchanged raid-level: nothing to do\n" << same->ToString();

  Result<FarmPlan> plan = Plan(Spec(r5), from);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->actions.size(), 1u) << plan->ToString();
  const Action& a = plan->actions[0];
  EXPECT_EQ(a.kind, ActionKind::kMigrateDisk);
  EXPECT_EQ(a.effect, Effect::kChange);
  EXPECT_EQ(a.global_name, "g");
  EXPECT_EQ(a.server, "");
  EXPECT_EQ(a.raid_level, "5");
  EXPECT_EQ(a.volume_ids, std::vector<VolumeId>{1});
  EXPECT_EQ(plan->to_change, 1);
  EXPECT_EQ(plan->to_add + plan->to_remove, 0);
  EXPECT_EQ(Lines(*plan),
            (std::vector<std::string>{"~ migrate global disk \"g\" to storage with raid=5 (live, "
                                      "keeps its LUN on every server that "
                                      "maps it) (volume 1)",
                                      "Plan: 0 to add, 1 to change, 0 to remove."}));

  // After it the farm holds the new quality: the next plan is empty, and
  // going back is one migrate again.
  FarmState to = Simulate(from, *plan, &next);
  Result<FarmPlan> again = Plan(Spec(r5), to);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty()) << again->ToString();
  Result<FarmPlan> back = Plan(Spec(r1), to);
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->actions.size(), 1u) << back->ToString();
  EXPECT_EQ(back->actions[0].kind, ActionKind::kMigrateDisk);
  EXPECT_EQ(back->actions[0].global_name, "g");

  // A drivetype naming a quality class, and a bigger size: the move comes
  // first, then the growth (which then takes the new qualities too).
  Farm fast_big = r5;
  fast_big.global_type = "performance";
  fast_big.global_size = "64";
  Result<FarmPlan> both = Plan(Spec(fast_big), to);
  ASSERT_TRUE(both.ok());
  ASSERT_EQ(both->actions.size(), 2u) << both->ToString();
  EXPECT_EQ(both->actions[0].kind, ActionKind::kMigrateDisk);
  EXPECT_NE(both->actions[0].ToString().find("class=performance,raid=5"), std::string::npos)
      << both->ToString();
  EXPECT_EQ(both->actions[1].kind, ActionKind::kGrowDisk);
  FarmState grown = Simulate(to, *both, &next);
  EXPECT_TRUE(Plan(Spec(fast_big), grown)->empty()) << Plan(Spec(fast_big), grown)->ToString();

  // Without a raid-level (and an access-class drivetype) the disk asks for
  // nothing: any storage will do, nothing moves.
  Farm any = r1;
  any.global_extra = "";
  any.global_type = "scsi";
  Result<FarmPlan> none = Plan(Spec(any), from);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty()) << none->ToString();
}

// A new disk with limits gets them before it is bound and mapped.
TEST(PlanTest, NewDiskGetsItsLimitsBeforeItsMap) {
  Farm limited;
  limited.web_extra =
      "<disk drivename=\"/home\" drivesize=\"8\"><attribute name=\"qos\" value=\"iops=100\"/></disk>";
  Result<FarmPlan> plan = Plan(Spec(limited), EmptyFarm());
  ASSERT_TRUE(plan.ok());
  int set = -1, map = -1;
  for (size_t i = 0; i < plan->actions.size(); ++i) {
    const Action& a = plan->actions[i];
    if (a.kind == ActionKind::kSetQos) set = int(i);
    if (a.kind == ActionKind::kMap && a.target == 1 && set >= 0 && map < 0) map = int(i);
  }
  ASSERT_GE(set, 0) << plan->ToString();
  EXPECT_GT(map, set);
  EXPECT_EQ(plan->actions[size_t(set)].effect, Effect::kNone);
}

}  // namespace
}  // namespace vsl::farm
