#include "catalog/catalog.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "catalog/testing/catalog_fixture.h"

namespace vsl::catalog {
namespace {

class CatalogTest : public testing::CatalogFixture {
 protected:
  int64_t AddArray(const std::string& name) {
    int64_t id = 0;
    Status s = catalog().Write([&](Tx& tx) -> Status {
      ArrayRecord a;
      a.name = name;
      a.driver = "memory";
      a.capacity = 1 << 30;
      a.qualities = {{"raid", "1"}, {"media", "ssd"}};
      VSL_ASSIGN_OR_RETURN(a, catalog().AddArray(tx, a));
      id = a.id;
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return id;
  }

  std::vector<int64_t> AddFreeVolumes(int64_t array_id, int n, uint64_t size) {
    std::vector<int64_t> ids;
    Status s = catalog().Write([&](Tx& tx) -> Status {
      for (int i = 0; i < n; ++i) {
        Volume v;
        v.array_id = array_id;
        v.array_volume = "vol-" + std::to_string(i);
        v.size = size;
        VSL_ASSIGN_OR_RETURN(v, catalog().InsertVolume(tx, v));
        ids.push_back(v.id);
      }
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return ids;
  }

  Result<Volume> Get(int64_t id) {
    Volume v;
    VSL_RETURN_IF_ERROR(catalog().Read([&](Tx& tx) -> Status {
      VSL_ASSIGN_OR_RETURN(v, catalog().GetVolume(tx, id));
      return Status::Ok();
    }));
    return v;
  }
};

// Takes one free volume with a compare-and-swap, as the allocator does;
// returns 0 when none is left.
int64_t TakeOneFree(Catalog& c, const std::string& who, std::mt19937& rng) {
  for (;;) {
    int64_t got = 0;
    Status s = c.Write([&](Tx& tx) -> Status {
      VolumeFilter f;
      f.state = DiskState::kFree;
      VSL_ASSIGN_OR_RETURN(auto free, c.ListVolumes(tx, f));
      if (free.empty()) return Status::Ok();
      // Everyone aims at the first few, to make collisions likely.
      size_t pick = std::uniform_int_distribution<size_t>(0, std::min<size_t>(free.size(), 3) - 1)(rng);
      VSL_RETURN_IF_ERROR(c.CasVolume(tx, free[pick].id, DiskState::kFree, DiskState::kAllocated, {}, "allocate",
                                      Actor{who, std::nullopt}));
      got = free[pick].id;
      return Status::Ok();
    });
    if (s.ok()) return got;
    if (s.code() != Code::kAborted) {
      ADD_FAILURE() << s.ToString();
      return 0;
    }
  }
}

TEST_P(CatalogTest, ArraysAndPorts) {
  int64_t a = AddArray("east");
  ASSERT_GT(a, 0);
  Status s = catalog().Write([&](Tx& tx) -> Status {
    ArrayRecord dup;
    dup.name = "east";
    dup.driver = "file";
    auto r = catalog().AddArray(tx, dup);
    EXPECT_EQ(r.status().code(), Code::kAlreadyExists);
    return Status::Ok();
  });
  // The failed insert aborted that transaction on PostgreSQL; the error is
  // what matters.
  (void)s;
  s = catalog().Write([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(ArrayPort p, catalog().UpsertPort(tx, ArrayPort{0, a, "port0", "wwn-1", "san", "front-end", 0}));
    VSL_ASSIGN_OR_RETURN(ArrayPort p2, catalog().UpsertPort(tx, ArrayPort{0, a, "port0", "wwn-2", "san", "front-end", 0}));
    EXPECT_EQ(p.id, p2.id);
    EXPECT_EQ(p2.wwn, "wwn-2");
    VSL_ASSIGN_OR_RETURN(auto ports, catalog().ListPorts(tx, a));
    EXPECT_EQ(ports.size(), 1u);
    VSL_ASSIGN_OR_RETURN(ArrayRecord rec, catalog().GetArrayByName(tx, "east"));
    EXPECT_EQ(rec.qualities.at("media"), "ssd");
    VSL_RETURN_IF_ERROR(catalog().SetArrayDwml(tx, a, "<dwml/>"));
    VSL_ASSIGN_OR_RETURN(rec, catalog().GetArray(tx, a));
    EXPECT_EQ(rec.dwml, "<dwml/>");
    EXPECT_EQ(rec.discovered_ms, clock().NowMs());
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST_P(CatalogTest, GetMissingNamesIt) {
  auto v = Get(4242);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), Code::kNotFound);
  EXPECT_NE(v.status().message().find("volume 4242"), std::string::npos);
}

TEST_P(CatalogTest, VolumeRoundTripAndDuplicate) {
  int64_t a = AddArray("a");
  auto ids = AddFreeVolumes(a, 2, 4096);
  ASSERT_EQ(ids.size(), 2u);
  auto v = Get(ids[1]);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->array_id, a);
  EXPECT_EQ(v->array_volume, "vol-1");
  EXPECT_EQ(v->size, 4096u);
  EXPECT_EQ(v->state, DiskState::kFree);
  EXPECT_TRUE(v->clean);
  EXPECT_FALSE(v->parent_id.has_value());
  Status s = catalog().Write([&](Tx& tx) -> Status {
    Volume dup;
    dup.array_id = a;
    dup.array_volume = "vol-1";
    dup.size = 1;
    return catalog().InsertVolume(tx, dup).status();
  });
  EXPECT_EQ(s.code(), Code::kAlreadyExists) << s.ToString();
}

TEST_P(CatalogTest, CasChangesStateAndColumnsAndWritesAnEvent) {
  int64_t a = AddArray("a");
  auto ids = AddFreeVolumes(a, 1, 4096);
  Status s = catalog().Write([&](Tx& tx) {
    VolumeUpdate u;
    u.clean = false;
    u.request_id = int64_t{77};
    return catalog().CasVolume(tx, ids[0], DiskState::kFree, DiskState::kAllocated, u, "allocate",
                               Actor{"tester", int64_t{77}}, "why");
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto v = Get(ids[0]);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->state, DiskState::kAllocated);
  EXPECT_FALSE(v->clean);
  EXPECT_EQ(v->request_id, 77);
  std::vector<Event> events;
  ASSERT_TRUE(catalog().Read([&](Tx& tx) -> Status {
                     EventFilter f;
                     f.entity = "volume";
                     f.entity_id = ids[0];
                     VSL_ASSIGN_OR_RETURN(events, catalog().ListEvents(tx, f));
                     return Status::Ok();
                   }).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].from_state, "free");
  EXPECT_EQ(events[0].to_state, "allocated");
  EXPECT_EQ(events[0].op, "allocate");
  EXPECT_EQ(events[0].actor, "tester");
  EXPECT_EQ(events[0].request_id, 77);
  EXPECT_EQ(events[0].detail, "why");
}

TEST_P(CatalogTest, CasFromTheWrongStateIsAbortedAndChangesNothing) {
  int64_t a = AddArray("a");
  auto ids = AddFreeVolumes(a, 1, 4096);
  Status s = catalog().Write([&](Tx& tx) {
    return catalog().CasVolume(tx, ids[0], DiskState::kBound, DiskState::kMapped, {}, "map", Actor{"t", {}});
  });
  EXPECT_EQ(s.code(), Code::kAborted);
  EXPECT_NE(s.message().find("volume " + std::to_string(ids[0]) + " is free, not bound"), std::string::npos)
      << s.ToString();
  auto v = Get(ids[0]);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->state, DiskState::kFree);
  s = catalog().Write([&](Tx& tx) {
    return catalog().CasVolume(tx, 999999, DiskState::kFree, DiskState::kAllocated, {}, "allocate", Actor{"t", {}});
  });
  EXPECT_EQ(s.code(), Code::kNotFound);
}

TEST_P(CatalogTest, MembersComeInOrder) {
  int64_t a = AddArray("a");
  auto ids = AddFreeVolumes(a, 3, 4096);
  Status s = catalog().Write([&](Tx& tx) -> Status {
    Volume meta;
    meta.type = "meta";
    meta.size = 3 * 4096;
    meta.state = DiskState::kConfigured;
    VSL_ASSIGN_OR_RETURN(meta, catalog().InsertVolume(tx, meta));
    // Insert order differs from member order.
    int64_t order[] = {2, 0, 1};
    for (int i = 0; i < 3; ++i) {
      VolumeUpdate u;
      u.parent_id = meta.id;
      u.member_order = order[i];
      VSL_RETURN_IF_ERROR(catalog().UpdateVolume(tx, ids[i], DiskState::kFree, u));
    }
    VSL_ASSIGN_OR_RETURN(auto members, catalog().Members(tx, meta.id));
    EXPECT_EQ(members.size(), 3u);
    if (members.size() == 3) {
      EXPECT_EQ(members[0].id, ids[1]);
      EXPECT_EQ(members[1].id, ids[2]);
      EXPECT_EQ(members[2].id, ids[0]);
    }
    VolumeFilter top;
    top.top_level_only = true;
    VSL_ASSIGN_OR_RETURN(auto tops, catalog().ListVolumes(tx, top));
    EXPECT_EQ(tops.size(), 1u);
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
}

// The allocator's read: of alike free volumes (same array, size, qualities)
// only as many as could be chosen together, lowest ids first; every kind of
// volume is represented.
TEST_P(CatalogTest, EnoughForReadsOnlyWhatCouldBeChosen) {
  int64_t a = AddArray("a");
  int64_t b = AddArray("b");
  auto small = AddFreeVolumes(a, 5, 4096);
  auto big = AddFreeVolumes(b, 3, 16384);
  int64_t c = AddArray("c");
  auto other = AddFreeVolumes(c, 2, 8192);
  Status s = catalog().Read([&](Tx& tx) -> Status {
    VolumeFilter f;
    f.state = DiskState::kFree;
    f.clean = true;
    f.enough_for = 3 * 4096 - 1;  // 3 of the small, 2 of the 8 KiB, 1 big
    VSL_ASSIGN_OR_RETURN(auto got, catalog().ListVolumes(tx, f));
    std::vector<int64_t> ids;
    for (auto& v : got) ids.push_back(v.id);
    std::vector<int64_t> want = {small[0], small[1], small[2], big[0], other[0], other[1]};
    std::sort(want.begin(), want.end());
    EXPECT_EQ(ids, want);
    f.enough_for.reset();
    VSL_ASSIGN_OR_RETURN(auto all, catalog().ListVolumes(tx, f));
    EXPECT_EQ(all.size(), 10u);
    VSL_ASSIGN_OR_RETURN(uint64_t used_a, catalog().UsedBytes(tx, a));
    EXPECT_EQ(used_a, 5u * 4096);
    VSL_ASSIGN_OR_RETURN(uint64_t used_b, catalog().UsedBytes(tx, b));
    EXPECT_EQ(used_b, 3u * 16384);
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST_P(CatalogTest, HostsInitiatorsAndBindings) {
  int64_t a = AddArray("a");
  auto ids = AddFreeVolumes(a, 2, 4096);
  Status s = catalog().Write([&](Tx& tx) -> Status {
    Host h;
    h.name = "web1";
    h.hw_type = "qemu";
    h.initiators = {"iqn.2026-11.test:b", "iqn.2026-11.test:a"};
    h.chap_user = "web1";
    h.chap_secret = "0123456789abcdef";
    VSL_ASSIGN_OR_RETURN(h, catalog().AddHost(tx, h));
    VSL_ASSIGN_OR_RETURN(Host got, catalog().GetHostByName(tx, "web1"));
    EXPECT_EQ(got.initiators, (std::vector<std::string>{"iqn.2026-11.test:a", "iqn.2026-11.test:b"}));
    EXPECT_EQ(got.state, HostState::kIdle);
    VSL_ASSIGN_OR_RETURN(Binding b, catalog().AddBinding(tx, Binding{0, ids[0], h.id, {}, 0, 0, false, 0}));
    VSL_RETURN_IF_ERROR(catalog().SetBindingMapped(tx, b.id, true));
    VSL_ASSIGN_OR_RETURN(auto of_host, catalog().BindingsOfHost(tx, h.id));
    EXPECT_EQ(of_host.size(), 1u);
    EXPECT_TRUE(of_host.at(0).mapped);
    Status rm = catalog().RemoveHost(tx, h.id);
    EXPECT_EQ(rm.code(), Code::kFailedPrecondition) << rm.ToString();
    VSL_ASSIGN_OR_RETURN(int64_t n, catalog().RemoveBindings(tx, ids[0]));
    EXPECT_EQ(n, 1);
    VSL_RETURN_IF_ERROR(catalog().CasHost(tx, h.id, HostState::kIdle, HostState::kInFarm, std::nullopt, Actor{"t", {}}));
    EXPECT_EQ(catalog().CasHost(tx, h.id, HostState::kIdle, HostState::kInFarm, std::nullopt, Actor{"t", {}}).code(),
              Code::kAborted);
    VSL_RETURN_IF_ERROR(catalog().CasHost(tx, h.id, HostState::kInFarm, HostState::kIdle, std::nullopt, Actor{"t", {}}));
    return catalog().RemoveHost(tx, h.id);
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST_P(CatalogTest, LunTakenTwiceIsRefused) {
  int64_t a = AddArray("a");
  auto ids = AddFreeVolumes(a, 2, 4096);
  int64_t host = 0;
  ASSERT_TRUE(catalog().Write([&](Tx& tx) -> Status {
                     Host h;
                     h.name = "h";
                     h.initiators = {"iqn.2026-11.test:h"};
                     VSL_ASSIGN_OR_RETURN(h, catalog().AddHost(tx, h));
                     host = h.id;
                     return catalog().AddBinding(tx, Binding{0, ids[0], host, {}, 0, 0, false, 0}).status();
                   }).ok());
  Status s = catalog().Write([&](Tx& tx) {
    return catalog().AddBinding(tx, Binding{0, ids[1], host, {}, 0, 0, false, 0}).status();
  });
  EXPECT_EQ(s.code(), Code::kAlreadyExists) << s.ToString();
}

TEST_P(CatalogTest, ReadOnlyBindingsReadBackAsSuch) {
  int64_t a = AddArray("a");
  auto ids = AddFreeVolumes(a, 1, 4096);
  Status s = catalog().Write([&](Tx& tx) -> Status {
    std::vector<int64_t> hosts;
    for (std::string n : {"r1", "r2"}) {
      Host h;
      h.name = n;
      h.initiators = {"iqn.2026-11.test:" + n};
      VSL_ASSIGN_OR_RETURN(h, catalog().AddHost(tx, h));
      hosts.push_back(h.id);
      Binding b;
      b.volume_id = ids[0];
      b.host_id = h.id;
      b.read_only = n == "r1";
      VSL_RETURN_IF_ERROR(catalog().AddBinding(tx, b).status());
    }
    VSL_ASSIGN_OR_RETURN(auto r1, catalog().BindingsOfHost(tx, hosts[0]));
    VSL_ASSIGN_OR_RETURN(auto r2, catalog().BindingsOfHost(tx, hosts[1]));
    EXPECT_TRUE(r1.at(0).read_only);
    EXPECT_FALSE(r2.at(0).read_only);
    VSL_RETURN_IF_ERROR(catalog().SetBindingMapped(tx, r1.at(0).id, true));
    VSL_ASSIGN_OR_RETURN(auto of_vol, catalog().BindingsOfVolume(tx, ids[0]));
    EXPECT_TRUE(of_vol.at(0).read_only);  // mapping keeps the flag
    EXPECT_TRUE(of_vol.at(0).mapped);
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST_P(CatalogTest, SecondHostCannotReuseAnInitiator) {
  ASSERT_TRUE(catalog().Write([&](Tx& tx) {
                     Host h;
                     h.name = "h1";
                     h.initiators = {"iqn.2026-11.test:same"};
                     return catalog().AddHost(tx, h).status();
                   }).ok());
  Status s = catalog().Write([&](Tx& tx) {
    Host h;
    h.name = "h2";
    h.initiators = {"iqn.2026-11.test:same"};
    return catalog().AddHost(tx, h).status();
  });
  EXPECT_EQ(s.code(), Code::kAlreadyExists);
  EXPECT_NE(s.message().find("iqn.2026-11.test:same"), std::string::npos) << s.ToString();
}

// Every door that writes a name goes through the catalog: names that would
// become paths, break a SendTargets reply or a terminal are refused there
// and leave no row behind.
TEST_P(CatalogTest, BadNamesAreRefusedAndWriteNothing) {
  auto host = [](std::string name, std::string initiator) {
    Host h;
    h.name = std::move(name);
    h.hw_type = "std";
    h.initiators = {std::move(initiator)};
    return h;
  };
  const std::string ok_iqn = "iqn.2026-11.test:ok";
  struct Case {
    const char* what;
    Host h;
    const char* message_part;
  } cases[] = {
      {"path", host("../../etc", ok_iqn), "host name '../../etc'"},
      {"NUL", host(std::string("a\0b", 3), ok_iqn), "host name 'a\\x00b'"},
      {"ESC", host("x\x1b[31m", ok_iqn), "host name 'x\\x1b[31m'"},
      {"64 characters", host(std::string(64, 'h'), ok_iqn), "longer than 63"},
      {"bad initiator", host("h9", "iqn.t:db"), "initiator name 'iqn.t:db'"},
      {"NUL in initiator", host("h9", std::string("iqn.2026-11.test:a\0SessionType=Normal", 37)),
       "initiator name"},
  };
  for (Case& c : cases) {
    SCOPED_TRACE(c.what);
    Status s = catalog().Write([&](Tx& tx) { return catalog().AddHost(tx, c.h).status(); });
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find(c.message_part), std::string::npos) << s.ToString();
  }
  Host bad_secret = host("h9", ok_iqn);
  bad_secret.chap_secret = std::string("0123456789ab\ncd", 15);
  Status s = catalog().Write([&](Tx& tx) { return catalog().AddHost(tx, bad_secret).status(); });
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  s = catalog().Write([&](Tx& tx) -> Status {
    EXPECT_EQ(catalog().AddImage(tx, Image{0, ".hidden", 0, "", {}, 0}).status().code(), Code::kInvalidArgument);
    Farm f;
    f.name = "a/b";
    f.state = "planned";
    EXPECT_EQ(catalog().AddFarm(tx, f).status().code(), Code::kInvalidArgument);
    ArrayRecord a;
    a.name = "-rf";
    a.driver = "file";
    a.capacity = 1 << 20;
    EXPECT_EQ(catalog().AddArray(tx, a).status().code(), Code::kInvalidArgument);
    a.name = "big";
    a.capacity = UINT64_MAX;
    EXPECT_EQ(catalog().AddArray(tx, a).status().code(), Code::kInvalidArgument);
    // A lookup by a name that is not UTF-8 is simply not found, on both back
    // ends (PostgreSQL cannot even compare one), and the message escapes it.
    auto missing = catalog().GetHostByName(tx, "\xff\xfe");
    EXPECT_EQ(missing.status().code(), Code::kNotFound) << missing.status().ToString();
    EXPECT_EQ(missing.status().message(), "host '\\xff\\xfe' does not exist");
    EXPECT_EQ(catalog().GetArrayByName(tx, "\xc0").status().code(), Code::kNotFound);
    EXPECT_EQ(catalog().GetImageByName(tx, "\xc0").status().code(), Code::kNotFound);
    EXPECT_EQ(catalog().GetFarmByName(tx, "\xc0").status().code(), Code::kNotFound);
    VSL_ASSIGN_OR_RETURN(auto hosts, catalog().ListHosts(tx));
    EXPECT_TRUE(hosts.empty());
    VSL_ASSIGN_OR_RETURN(auto images, catalog().ListImages(tx));
    EXPECT_TRUE(images.empty());
    VSL_ASSIGN_OR_RETURN(auto farms, catalog().ListFarms(tx));
    EXPECT_TRUE(farms.empty());
    VSL_ASSIGN_OR_RETURN(auto arrays, catalog().ListArrays(tx));
    EXPECT_TRUE(arrays.empty());
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST_P(CatalogTest, ImagesAndFarms) {
  Status s = catalog().Write([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(Image i, catalog().AddImage(tx, Image{0, "debian", 0, "", {}, 0}));
    VSL_RETURN_IF_ERROR(catalog().SetImageMaster(tx, i.id, 5, 1 << 20, "ab12"));
    VSL_ASSIGN_OR_RETURN(Image got, catalog().GetImageByName(tx, "debian"));
    EXPECT_EQ(got.master_volume_id, 5);
    EXPECT_EQ(got.size, 1u << 20);
    EXPECT_EQ(got.sha256, "ab12");
    Farm planned;
    planned.name = "farm1";
    planned.state = "planned";
    planned.fml = "<farm/>";
    VSL_ASSIGN_OR_RETURN(Farm f, catalog().AddFarm(tx, planned));
    VSL_RETURN_IF_ERROR(catalog().CasFarm(tx, f.id, "planned", "active", std::nullopt, Actor{"t", {}}));
    EXPECT_EQ(catalog().CasFarm(tx, f.id, "planned", "active", std::nullopt, Actor{"t", {}}).code(), Code::kAborted);
    VSL_ASSIGN_OR_RETURN(Farm g, catalog().GetFarmByName(tx, "farm1"));
    EXPECT_EQ(g.state, "active");
    EXPECT_EQ(g.fml, "<farm/>");
    return catalog().RemoveFarm(tx, f.id);
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
}

// A disk's limits and cache policy: each change is one event saying what it
// set; setting what is there already changes nothing and adds no event.
TEST_P(CatalogTest, QosAndCacheSettingsAreEventsOnlyWhenTheyChange) {
  const int64_t id = AddFreeVolumes(AddArray("a1"), 1, 1 << 20).at(0);
  const Actor actor{"t", 7};
  auto events = [&]() {
    std::vector<Event> out;
    Status s = catalog().Read([&](Tx& tx) -> Status {
      EventFilter f;
      f.entity = "volume";
      f.entity_id = id;
      VSL_ASSIGN_OR_RETURN(out, catalog().ListEvents(tx, f));
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  };
  const size_t before = events().size();
  Status s = catalog().Write([&](Tx& tx) -> Status {
    VSL_RETURN_IF_ERROR(catalog().SetVolumeQos(tx, id, "iops=500", actor));
    VSL_RETURN_IF_ERROR(catalog().SetVolumeQos(tx, id, "iops=500", actor));
    VSL_RETURN_IF_ERROR(catalog().SetVolumeCache(tx, id, "read", actor));
    VSL_RETURN_IF_ERROR(catalog().SetVolumeCache(tx, id, "read", actor));
    return catalog().SetVolumeQos(tx, id, "", actor);
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto v = Get(id);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->qos, "");
  EXPECT_EQ(v->cache, "read");
  auto ev = events();
  ASSERT_EQ(ev.size(), before + 3);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"qos", "iops=500"}, {"cache", "cache read"}, {"qos", "no limits"}};
  for (size_t i = 0; i < want.size(); ++i) {
    const Event& e = ev[before + i];
    EXPECT_EQ(e.op, want[i].first) << i;
    EXPECT_EQ(e.detail, want[i].second) << i;
    EXPECT_EQ(e.from_state, "free") << i;
    EXPECT_EQ(e.to_state, "free") << i;
    EXPECT_EQ(e.actor, "t") << i;
    EXPECT_EQ(e.request_id, 7) << i;
  }
  s = catalog().Write([&](Tx& tx) { return catalog().SetVolumeCache(tx, id + 100, "read", actor); });
  EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
  s = catalog().Write([&](Tx& tx) { return catalog().SetVolumeQos(tx, id + 100, "iops=1", actor); });
  EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
}

TEST_P(CatalogTest, RemoveArrayRefusedWhileVolumesInUse) {
  int64_t a = AddArray("a");
  auto ids = AddFreeVolumes(a, 2, 4096);
  ASSERT_TRUE(catalog().Write([&](Tx& tx) {
                     return catalog().CasVolume(tx, ids[0], DiskState::kFree, DiskState::kAllocated, {}, "allocate",
                                                Actor{"t", {}});
                   }).ok());
  Status s = catalog().Write([&](Tx& tx) { return catalog().RemoveArray(tx, a); });
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
}

// Several threads, each with its own connections, grab free volumes until
// none is left: every volume goes to exactly one of them.
TEST_P(CatalogTest, ConcurrentAllocatorsNeverShareAVolume) {
  int64_t a = AddArray("a");
  constexpr int kVolumes = 60, kThreads = 6;
  AddFreeVolumes(a, kVolumes, 4096);
  std::vector<std::vector<int64_t>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int64_t id; (id = TakeOneFree(catalog(), "w" + std::to_string(t), rng)) != 0;) got[t].push_back(id);
    });
  }
  for (auto& th : threads) th.join();
  std::set<int64_t> all;
  size_t total = 0;
  for (auto& g : got) {
    total += g.size();
    all.insert(g.begin(), g.end());
  }
  EXPECT_EQ(total, static_cast<size_t>(kVolumes));
  EXPECT_EQ(all.size(), static_cast<size_t>(kVolumes));
}

// The same with a second process on the same database.
TEST_P(CatalogTest, TwoProcessesNeverShareAVolume) {
  int64_t a = AddArray("a");
  constexpr int kVolumes = 60;
  AddFreeVolumes(a, kVolumes, 4096);
  std::string child_out = test_db().dir() + "/child.txt";
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Own connections; _exit so no parent-owned destructor (the shared
    // PostgreSQL server) runs here.
    auto c = Catalog::Open(test_db().url(), &clock(), 4);
    if (!c.ok()) _exit(2);
    std::ofstream out(child_out);
    std::mt19937 rng(99);
    for (int64_t id; (id = TakeOneFree(**c, "child", rng)) != 0;) out << id << "\n";
    out.close();
    _exit(0);
  }
  std::vector<int64_t> mine;
  {
    auto other = OpenAnother();
    ASSERT_NE(other, nullptr);
    std::mt19937 rng(7);
    for (int64_t id; (id = TakeOneFree(*other, "parent", rng)) != 0;) mine.push_back(id);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  std::ifstream in(child_out);
  std::vector<int64_t> theirs;
  for (int64_t id; in >> id;) theirs.push_back(id);
  std::set<int64_t> all(mine.begin(), mine.end());
  for (int64_t id : theirs) EXPECT_TRUE(all.insert(id).second) << "volume " << id << " taken twice";
  EXPECT_EQ(all.size(), static_cast<size_t>(kVolumes));
  EXPECT_EQ(mine.size() + theirs.size(), static_cast<size_t>(kVolumes));
}

VSL_INSTANTIATE_CATALOG_BACKENDS(CatalogTest);

}  // namespace
}  // namespace vsl::catalog
