#include "manager/storage_manager.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <thread>

#include "array/test_util.h"
#include "manager/testing_util.h"

namespace vsl::manager {
namespace {

using catalog::Request;
using catalog::RequestState;
using testing::kMiB;

class StorageManagerTest : public testing::ManagerFixture {
 protected:
  std::unique_ptr<StorageManager> NewManager(catalog::Catalog* c, const std::string& id, int workers = 2) {
    ManagerOptions o;
    o.id = id;
    o.workers = workers;
    o.lease_ms = 10000;
    o.poll_ms = 5;
    o.max_attempts = 4;
    auto m = std::make_unique<StorageManager>(c, &target_, o);
    EXPECT_TRUE(m->AttachArray(east_).ok());
    EXPECT_TRUE(m->AttachArray(west_).ok());
    return m;
  }

  void SetUp() override {
    ManagerFixture::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(AddHost("web1").ok());
  }
};

TEST_P(StorageManagerTest, RequestsRunThroughTheQueue) {
  auto m = NewManager(&catalog(), "m1");
  ASSERT_TRUE(m->Start().ok());
  auto d = m->Call("discover", Json::object(), "alice");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ((*d)["added"], 6);
  auto u = m->Call("allocate-unit", Json{{"size", 2 * kMiB}}, "alice");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  int64_t unit = (*u)["volume"].get<int64_t>();
  ASSERT_TRUE(m->Call("bind", Json{{"volume", unit}, {"host", "web1"}, {"lun", 0}}, "alice").ok());
  ASSERT_TRUE(m->Call("map", Json{{"volume", unit}}, "alice").ok());
  EXPECT_EQ(Get(unit).state, DiskState::kMapped);
  EXPECT_EQ(target_.mapped().count("web1/0"), 1u);

  // A failing request keeps its reason and code.
  auto bad = m->Call("free", Json{{"volume", unit}}, "alice");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(bad.status().message().find("is mapped"), std::string::npos) << bad.status().ToString();
  auto unknown = m->Call("teleport", Json{{"volume", unit}}, "alice");
  EXPECT_EQ(unknown.status().code(), Code::kInvalidArgument);

  auto all = m->List();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 6u);
  int failed = 0;
  for (const Request& r : *all) {
    EXPECT_EQ(r.actor, "alice");
    EXPECT_TRUE(r.state == RequestState::kDone || r.state == RequestState::kFailed);
    EXPECT_EQ(r.attempts, 1);  // failures are final, not retried
    failed += r.state == RequestState::kFailed;
  }
  EXPECT_EQ(failed, 2);
  m->Stop();
}

// A worker takes a request and dies before it finishes; once its lease ran
// out another worker runs it, and the first one's late answer is refused.
TEST_P(StorageManagerTest, AbandonedRequestIsTakenOverAfterItsLease) {
  auto m = NewManager(&catalog(), "m1");
  ASSERT_TRUE(m->ops().Discover(std::nullopt, {"t", std::nullopt}).ok());
  auto id = m->Submit("allocate-unit", Json{{"size", kMiB}}, "bob");
  ASSERT_TRUE(id.ok());
  auto claimed = m->queue().Claim("dead-worker", m->options().lease_ms);
  ASSERT_TRUE(claimed.ok() && claimed->has_value());
  auto ran = m->RunOne("w2");
  ASSERT_TRUE(ran.ok());
  EXPECT_FALSE(*ran);  // still leased
  clock().Advance(m->options().lease_ms + 1);
  ran = m->RunOne("w2");
  ASSERT_TRUE(ran.ok());
  EXPECT_TRUE(*ran);
  auto r = m->queue().Get(*id);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, RequestState::kDone);
  EXPECT_EQ(r->attempts, 2);
  EXPECT_EQ(r->lease_owner, "w2");
  EXPECT_EQ(m->queue().Complete(*id, "dead-worker", "{}").code(), Code::kAborted);
}

// A request whose lease ran out while its worker is still at it (renewing
// was slow) is not run a second time by the same process: the second run
// would fight the first (a migration's would give back the volumes the
// first copies to). Another process may still take it over.
TEST_P(StorageManagerTest, ARequestThisProcessRunsIsNotTakenOverByIt) {
  auto m = NewManager(&catalog(), "m1");
  const catalog::Actor actor{"t", std::nullopt};
  ASSERT_TRUE(m->ops().Discover(std::nullopt, actor).ok());
  auto u = m->ops().Run("allocate-unit", Json{{"size", kMiB}}, actor);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  int64_t unit = (*u)["volume"].get<int64_t>();
  ASSERT_TRUE(m->ops().Run("bind", Json{{"volume", unit}, {"host", "web1"}, {"lun", 0}}, actor).ok());
  auto id = m->Submit("map", Json{{"volume", unit}}, "bob");
  ASSERT_TRUE(id.ok());
  target_.HoldNextMap();
  std::thread first([&] { EXPECT_TRUE(*m->RunOne("m1/w0")); });
  ASSERT_TRUE(target_.WaitUntilHeld(std::chrono::seconds(30)));
  clock().Advance(m->options().lease_ms + 1);  // no renewal came
  auto ran = m->RunOne("m1/w1");
  ASSERT_TRUE(ran.ok()) << ran.status().ToString();
  EXPECT_FALSE(*ran) << "this process ran its own running request again";
  auto r = m->queue().Get(*id);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->lease_owner, "m1/w0");
  EXPECT_EQ(r->attempts, 1);
  // Another process: the lease ran out, so it may (as after a crash).
  auto other = m->queue().Claim("m2/w0", m->options().lease_ms);
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(other->has_value());
  EXPECT_EQ((*other)->id, *id);
  target_.OpenGate();
  first.join();
  EXPECT_EQ(target_.Count("map"), 1);
}

// The worker dies after the operation's effects but before it recorded the
// request as done: the re-run finds the work done and takes nothing more.
TEST_P(StorageManagerTest, RerunAfterACrashDoesNotRepeatTheWork) {
  auto m = NewManager(&catalog(), "m1");
  ASSERT_TRUE(m->ops().Discover(std::nullopt, {"t", std::nullopt}).ok());
  auto id = m->Submit("allocate-unit", Json{{"size", 2 * kMiB}}, "bob");
  ASSERT_TRUE(id.ok());
  auto claimed = m->queue().Claim("dead-worker", m->options().lease_ms);
  ASSERT_TRUE(claimed.ok() && claimed->has_value());
  auto first = m->ops().Run("allocate-unit", Json{{"size", 2 * kMiB}}, {"dead-worker", *id});
  ASSERT_TRUE(first.ok());
  clock().Advance(m->options().lease_ms + 1);
  ASSERT_TRUE(*m->RunOne("w2"));
  auto r = m->queue().Get(*id);
  ASSERT_EQ(r->state, RequestState::kDone);
  EXPECT_EQ(Json::parse(r->result)["volume"], (*first)["volume"]);
  EXPECT_EQ(Volumes(DiskState::kFree).size(), 4u);
}

TEST_P(StorageManagerTest, RequestThatKeepsKillingWorkersIsAbandoned) {
  auto m = NewManager(&catalog(), "m1");
  auto id = m->Submit("discover", Json::object(), "bob");
  for (int i = 0; i < m->options().max_attempts; ++i) {
    auto c = m->queue().Claim("doomed-" + std::to_string(i), m->options().lease_ms);
    ASSERT_TRUE(c.ok() && c->has_value());
    clock().Advance(m->options().lease_ms + 1);
  }
  EXPECT_FALSE(*m->RunOne("w"));
  auto r = m->queue().Get(*id);
  EXPECT_EQ(r->state, RequestState::kFailed);
  EXPECT_NE(r->reason.find("abandoned"), std::string::npos);
}

// A migrate request whose workers keep dying after they allocated (and
// wrote) its destinations is abandoned by the queue; no worker of it runs
// again, so the manager gives those volumes back: scrubbed and free.
TEST_P(StorageManagerTest, AbandonedMigrateGivesItsDestinationsBack) {
  auto m = NewManager(&catalog(), "m1");
  ASSERT_TRUE(m->ops().Discover(std::nullopt, {"t", std::nullopt}).ok());
  auto u = m->ops().Run("allocate-unit", Json{{"size", kMiB}, {"meta", true}}, {"t", std::nullopt});
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  int64_t unit = (*u)["volume"].get<int64_t>();
  auto id = m->Submit("migrate", Json{{"volume", unit}, {"qualities", {{"raid", "1"}}}}, "bob");
  ASSERT_TRUE(id.ok());
  // The first worker got as far as the copy: its destination is Allocated,
  // tagged with the request, marked dirty and written.
  auto c = m->queue().Claim("doomed-0", m->options().lease_ms);
  ASSERT_TRUE(c.ok() && c->has_value());
  AllocateArgs want;
  want.size = kMiB;
  auto dst = m->ops().Allocate(want, {"doomed-0", *id});
  ASSERT_TRUE(dst.ok()) << dst.status().ToString();
  ASSERT_EQ(dst->size(), 1u);
  int64_t d = dst->front();
  ASSERT_TRUE(catalog()
                  .Write([&](catalog::Tx& tx) {
                    catalog::VolumeUpdate dirty;
                    dirty.clean = false;
                    return catalog().UpdateVolume(tx, d, DiskState::kAllocated, dirty);
                  })
                  .ok());
  auto dm = m->ops().Resolve(d);
  ASSERT_TRUE(dm.ok());
  ASSERT_TRUE(
      dm->front()
          .array->Write(dm->front().volume.array_volume, 0, std::vector<uint8_t>(4096, 0x77))
          .ok());
  clock().Advance(m->options().lease_ms + 1);
  for (int i = 1; i < m->options().max_attempts; ++i) {
    auto again = m->queue().Claim("doomed-" + std::to_string(i), m->options().lease_ms);
    ASSERT_TRUE(again.ok() && again->has_value());
    clock().Advance(m->options().lease_ms + 1);
  }
  EXPECT_EQ(Get(d).state, DiskState::kAllocated);
  EXPECT_FALSE(*m->RunOne("w"));
  auto r = m->queue().Get(*id);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, RequestState::kFailed);
  EXPECT_NE(r->reason.find("abandoned"), std::string::npos) << r->reason;
  EXPECT_EQ(Get(d).state, DiskState::kFree) << "the abandoned request's destination is given back";
  EXPECT_TRUE(Get(d).clean);
  std::vector<uint8_t> buf(4096);
  ASSERT_TRUE(dm->front().array->Read(dm->front().volume.array_volume, 0, buf).ok());
  EXPECT_EQ(buf, std::vector<uint8_t>(4096, 0)) << "scrubbed";
  EXPECT_EQ(Get(unit).state, DiskState::kConfigured) << "the disk stays where it was";
}

// Two managers (two "processes", each with its own connections) share one
// queue: every request ends once, no volume is handed out twice.
TEST_P(StorageManagerTest, TwoManagersShareOneQueue) {
  auto big = MakeArray("big", 30, {{"tier", "bulk"}}, 64 << 10);
  auto other_catalog = OpenAnother();
  ASSERT_NE(other_catalog, nullptr);
  auto m1 = NewManager(&catalog(), "m1");
  auto m2 = NewManager(other_catalog.get(), "m2");
  ASSERT_TRUE(m1->AttachArray(big).ok());
  ASSERT_TRUE(m2->AttachArray(big).ok());
  ASSERT_TRUE(m1->ops().Discover(std::string("big"), {"t", std::nullopt}).ok());
  std::vector<int64_t> ids;
  for (int i = 0; i < 25; ++i) {
    auto id = m1->Submit("allocate", Json{{"size", 64 << 10}, {"qualities", {{"tier", "bulk"}}}}, "load");
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
  }
  ASSERT_TRUE(m1->Start().ok());
  ASSERT_TRUE(m2->Start().ok());
  std::set<int64_t> volumes;
  for (int64_t id : ids) {
    auto r = m2->Wait(id, 120000);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->state, RequestState::kDone) << r->reason;
    Json res = Json::parse(r->result);
    ASSERT_TRUE(res.contains("volumes")) << r->result;
    for (auto& v : res["volumes"]) EXPECT_TRUE(volumes.insert(v.get<int64_t>()).second);
  }
  EXPECT_EQ(volumes.size(), 25u);
  m1->Stop();
  m2->Stop();
}

// A file array's directory may not be, hold or lie inside another array's
// (`..` resolved first); a refused one leaves no catalog row.
TEST_P(StorageManagerTest, OverlappingArrayPathsAreRefused) {
  const std::string base = test_db().dir() + "/overlap";
  auto spec = [&](const std::string& name, const std::string& path) {
    return array::testing::FileSpec(name, path, 1 << 20);
  };
  auto m = NewManager(&catalog(), "overlap");
  ASSERT_TRUE(m->AddArray(spec("a1", base + "/a1")).ok());
  const std::pair<std::string, std::string> refused[] = {
      {base + "/a1", "is array 'a1'"},
      {base + "/a1/inner", "is inside array 'a1'"},
      {base + "/x/../a1/volumes", "is inside array 'a1'"},
      {base, "contains array 'a1'"},
  };
  for (const auto& [path, why] : refused) {
    Status s = m->AddArray(spec("a2", path));
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << path << ": " << s.ToString();
    EXPECT_NE(s.message().find(why), std::string::npos) << s.ToString();
  }
  Status s = catalog().Read([&](catalog::Tx& tx) {
    EXPECT_EQ(catalog().GetArrayByName(tx, "a2").status().code(), Code::kNotFound);
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok());
  EXPECT_TRUE(m->AddArray(spec("a2", base + "/a1-sibling")).ok());
}

// kill -9 of a whole worker process in the middle of a queue of requests, on
// file arrays: after a restart every request ends done, none is lost, and no
// volume is in two places.
TEST_P(StorageManagerTest, KillNineInTheMiddleOfTheQueue) {
  const array::ArraySpec spec = array::testing::FileSpec(
      "disk", test_db().dir() + "/array-disk", 40 * (64 << 10), 64 << 10, {{"tier", "file"}});
  {
    auto m = NewManager(&catalog(), "setup");
    ASSERT_TRUE(m->AddArray(spec).ok());
    ASSERT_TRUE(m->ops().Discover(std::string("disk"), {"t", std::nullopt}).ok());
  }
  constexpr int kRequests = 30;
  std::vector<int64_t> ids;
  catalog::RequestQueue q(&catalog());
  for (int i = 0; i < kRequests; ++i) {
    auto id = q.Submit(i % 3 == 2 ? "allocate-unit" : "allocate",
                       Json{{"size", 64 << 10}, {"qualities", {{"tier", "file"}}}}.dump(), "load");
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
  }

  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The doomed process: its own catalog connections and arrays.
    auto c = catalog::Catalog::Open(test_db().url(), &clock(), 4);
    if (!c.ok()) _exit(2);
    StorageManager child(c->get(), &target_, ManagerOptions{1, 10000, 5, 4, "child", "iqn.gw"});
    if (!child.OpenCatalogArrays().ok()) _exit(3);
    for (int i = 0; i < 10; ++i) {
      if (!child.RunOne("child/w0").ok()) _exit(4);
    }
    // Dies in the middle of the 11th: its effects are in, its answer is not.
    auto r = child.queue().Claim("child/w0", 10000);
    if (!r.ok() || !r->has_value()) _exit(5);
    (void)child.ops().Run((*r)->op, Json::parse((*r)->args), {"child/w0", (*r)->id});
    kill(getpid(), SIGKILL);
    _exit(6);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  auto pending = q.Pending();
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(*pending, kRequests - 10);

  // The restart: a new manager on the same catalog and arrays.
  clock().Advance(10001);
  auto m = NewManager(&catalog(), "restarted");
  ASSERT_TRUE(m->OpenCatalogArrays().ok());
  ASSERT_TRUE(m->Start().ok());
  std::set<int64_t> volumes;
  int taken_over = 0;
  for (int64_t id : ids) {
    auto r = m->Wait(id, 120000);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->state, RequestState::kDone) << r->reason;
    taken_over += r->attempts == 2;
    Json res = Json::parse(r->result);
    if (res.contains("volumes")) {
      for (auto& v : res["volumes"]) EXPECT_TRUE(volumes.insert(v.get<int64_t>()).second) << v;
    } else {
      EXPECT_TRUE(volumes.insert(res["volume"].get<int64_t>()).second);
    }
  }
  m->Stop();
  EXPECT_EQ(taken_over, 1);
  EXPECT_EQ(volumes.size(), static_cast<size_t>(kRequests));
  // Exactly the volumes the requests report are in use: nothing leaked.
  size_t in_use = 0;
  for (const catalog::Volume& v : Volumes()) {
    if (v.array_volume.empty() || v.state == DiskState::kFree) continue;
    auto a = catalog().Read([&](catalog::Tx& tx) { return catalog().GetArray(tx, *v.array_id).status(); });
    ASSERT_TRUE(a.ok());
    ++in_use;
  }
  EXPECT_EQ(in_use, static_cast<size_t>(kRequests));
}

VSL_INSTANTIATE_CATALOG_BACKENDS(StorageManagerTest);

}  // namespace
}  // namespace vsl::manager
