#include "manager/disk_state.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "catalog/testing/catalog_fixture.h"

namespace vsl::manager {
namespace {

using catalog::Actor;
using catalog::Tx;
using catalog::Volume;

TEST(TransitionTable, EveryStateAndOpHasANameAndNoPairIsListedTwice) {
  for (const Transition& a : TransitionTable()) {
    EXPECT_NE(DiskOpName(a.op), "?");
    int same = 0;
    for (const Transition& b : TransitionTable()) same += (a.from == b.from && a.op == b.op);
    EXPECT_EQ(same, 1) << catalog::DiskStateName(a.from) << " " << DiskOpName(a.op);
  }
}

TEST(TransitionTable, FollowsFigure7) {
  auto to = [](DiskState from, DiskOp op) { return FindTransition(1, from, op)->to; };
  auto fail = [](DiskState from, DiskOp op) { return FindTransition(1, from, op)->on_failure; };
  EXPECT_EQ(to(DiskState::kFree, DiskOp::kAllocate), DiskState::kAllocated);
  EXPECT_EQ(to(DiskState::kAllocated, DiskOp::kMakeMeta), DiskState::kConfigured);
  EXPECT_EQ(fail(DiskState::kAllocated, DiskOp::kMakeMeta), DiskState::kUnconfigured);
  EXPECT_EQ(to(DiskState::kConfigured, DiskOp::kCopyImage), DiskState::kConfigured);
  EXPECT_EQ(fail(DiskState::kConfigured, DiskOp::kCopyImage), DiskState::kUnconfigured);
  EXPECT_EQ(to(DiskState::kConfigured, DiskOp::kBind), DiskState::kBound);
  EXPECT_EQ(fail(DiskState::kConfigured, DiskOp::kBind), DiskState::kUnconfigured);
  EXPECT_EQ(to(DiskState::kBound, DiskOp::kMap), DiskState::kMapped);
  EXPECT_EQ(fail(DiskState::kBound, DiskOp::kMap), DiskState::kUnbound);
  EXPECT_EQ(to(DiskState::kUnbound, DiskOp::kRebind), DiskState::kBound);
  EXPECT_EQ(to(DiskState::kMapped, DiskOp::kSnap), DiskState::kMapped);
  EXPECT_EQ(to(DiskState::kMapped, DiskOp::kUnmap), DiskState::kUnmapped);
  EXPECT_EQ(to(DiskState::kUnmapped, DiskOp::kUnbind), DiskState::kUnbound);
  EXPECT_EQ(to(DiskState::kUnbound, DiskOp::kScrub), DiskState::kScrubbing);
  EXPECT_EQ(to(DiskState::kUnbound, DiskOp::kBreakMeta), DiskState::kUnconfigured);
  EXPECT_EQ(to(DiskState::kUnconfigured, DiskOp::kDeallocate), DiskState::kFree);
  // Beyond the figure: a unit in use grows and lets one of its hosts go in
  // place; one on its way back to the pool does not grow.
  for (DiskState s : {DiskState::kConfigured, DiskState::kBound, DiskState::kMapped}) {
    EXPECT_EQ(to(s, DiskOp::kGrow), s);
    EXPECT_EQ(fail(s, DiskOp::kGrow), s);
  }
  EXPECT_FALSE(FindTransition(1, DiskState::kUnbound, DiskOp::kGrow).ok());
  EXPECT_FALSE(FindTransition(1, DiskState::kScrubbing, DiskOp::kGrow).ok());
  EXPECT_EQ(to(DiskState::kBound, DiskOp::kUnbindPartial), DiskState::kBound);
  EXPECT_EQ(to(DiskState::kMapped, DiskOp::kUnbindPartial), DiskState::kMapped);
  // Straight from Mapped or Bound back to Free is exactly what FIG. 7 forbids.
  EXPECT_FALSE(FindTransition(1, DiskState::kMapped, DiskOp::kDeallocate).ok());
  EXPECT_FALSE(FindTransition(1, DiskState::kUnbound, DiskOp::kAllocate).ok());
}

TEST(TransitionTable, RefusalNamesVolumeStateAndOp) {
  auto r = FindTransition(42, DiskState::kMapped, DiskOp::kDeallocate);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  const std::string m = r.status().message();
  EXPECT_NE(m.find("volume 42"), std::string::npos) << m;
  EXPECT_NE(m.find("mapped"), std::string::npos) << m;
  EXPECT_NE(m.find("deallocate"), std::string::npos) << m;
  EXPECT_NE(m.find("allowed from: allocated, unconfigured"), std::string::npos) << m;
}

TEST(TransitionTable, ImageMasterTakesOnlyArcsThatWriteNothing) {
  catalog::Image deb;
  deb.name = "deb";
  for (const Transition& t : TransitionTable()) {
    SCOPED_TRACE(std::string(catalog::DiskStateName(t.from)) + " " + std::string(DiskOpName(t.op)));
    auto r = FindTransition(9, t.from, t.op, &deb);
    EXPECT_EQ(r.ok(), t.image_master);
    bool writes = t.op == DiskOp::kBind || t.op == DiskOp::kRebind || t.op == DiskOp::kCopyImage ||
                  t.op == DiskOp::kScrub || t.op == DiskOp::kGrow || t.op == DiskOp::kMigrate ||
                  t.op == DiskOp::kBreakMeta ||
                  t.op == DiskOp::kDeallocate;
    if (writes) {
      EXPECT_FALSE(t.image_master);
    }
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("volume 9 is the master of image 'deb'"), std::string::npos)
          << r.status().ToString();
    }
  }
  // Read-only binds join a unit in use and come back to where they started
  // when they fail; they let no data in.
  for (DiskState s : {DiskState::kConfigured, DiskState::kBound, DiskState::kMapped, DiskState::kUnbound}) {
    auto t = FindTransition(1, s, DiskOp::kBindReadOnly);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_EQ(t->to, s == DiskState::kMapped ? DiskState::kMapped : DiskState::kBound);
    EXPECT_EQ(t->on_failure, s);
    EXPECT_FALSE(t->dirties);
  }
  auto rw = FindTransition(9, DiskState::kConfigured, DiskOp::kBind, &deb);
  ASSERT_FALSE(rw.ok());
  EXPECT_NE(rw.status().message().find("bind it read-only"), std::string::npos) << rw.status().ToString();
}

class DiskStateTest : public catalog::testing::CatalogFixture {
 protected:
  void SetUp() override {
    CatalogFixture::SetUp();
    if (HasFatalFailure()) return;
    machine_ = std::make_unique<DiskStateMachine>(&catalog());
    ASSERT_TRUE(catalog().Write([&](Tx& tx) -> Status {
                       catalog::ArrayRecord a;
                       a.name = "a";
                       a.driver = "memory";
                       VSL_ASSIGN_OR_RETURN(a, catalog().AddArray(tx, a));
                       array_ = a.id;
                       return Status::Ok();
                     }).ok());
  }

  // A volume put straight into `state` (Scrubbing ones came from `prior`).
  int64_t Make(DiskState state, bool clean = true, std::optional<int64_t> parent = std::nullopt,
               DiskState prior = DiskState::kUnbound) {
    int64_t id = 0;
    Status s = catalog().Write([&](Tx& tx) -> Status {
      Volume v;
      v.array_id = array_;
      v.array_volume = "v" + std::to_string(next_++);
      v.size = 1 << 20;
      v.state = state;
      v.clean = clean;
      v.parent_id = parent;
      if (state == DiskState::kScrubbing) v.prior_state = prior;
      VSL_ASSIGN_OR_RETURN(v, catalog().InsertVolume(tx, v));
      id = v.id;
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return id;
  }

  Volume Get(int64_t id) {
    Volume v;
    EXPECT_TRUE(catalog().Read([&](Tx& tx) -> Status {
                         VSL_ASSIGN_OR_RETURN(v, catalog().GetVolume(tx, id));
                         return Status::Ok();
                       }).ok());
    return v;
  }

  std::vector<catalog::Event> Events(int64_t id) {
    std::vector<catalog::Event> e;
    EXPECT_TRUE(catalog().Read([&](Tx& tx) -> Status {
                         catalog::EventFilter f;
                         f.entity = "volume";
                         f.entity_id = id;
                         VSL_ASSIGN_OR_RETURN(e, catalog().ListEvents(tx, f));
                         return Status::Ok();
                       }).ok());
    return e;
  }

  Result<DiskState> Apply(int64_t id, DiskOp op, bool failure = false) {
    Result<DiskState> out = DiskState::kFree;
    Status s = catalog().Write([&](Tx& tx) -> Status {
      out = failure ? machine_->ApplyFailure(tx, id, op, Actor{"test", std::nullopt}, "boom")
                    : machine_->Apply(tx, id, op, Actor{"test", std::nullopt});
      return out.status();
    });
    if (!s.ok()) return s;
    return out;
  }

  std::unique_ptr<DiskStateMachine> machine_;
  int64_t array_ = 0;
  int next_ = 0;
};

// Every (state, op) pair: the legal ones move the volume where the table says
// and write an event; every other one is refused and changes nothing.
TEST_P(DiskStateTest, EveryPairOfStateAndOperation) {
  for (DiskState from : catalog::kAllDiskStates) {
    for (DiskOp op : kAllDiskOps) {
      SCOPED_TRACE(std::string(catalog::DiskStateName(from)) + " " + std::string(DiskOpName(op)));
      int64_t id = Make(from, /*clean=*/true);
      auto t = FindTransition(id, from, op);
      auto r = Apply(id, op);
      Volume v = Get(id);
      if (t.ok()) {
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        DiskState want = t->to ? *t->to : DiskState::kUnbound;  // Make's prior
        EXPECT_EQ(*r, want);
        EXPECT_EQ(v.state, want);
        auto ev = Events(id);
        ASSERT_EQ(ev.size(), 1u);
        EXPECT_EQ(ev[0].op, DiskOpName(op));
        EXPECT_EQ(ev[0].from_state, catalog::DiskStateName(from));
        EXPECT_EQ(ev[0].to_state, catalog::DiskStateName(want));
        EXPECT_EQ(v.clean, !t->dirties);
      } else {
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
        EXPECT_NE(r.status().message().find("volume " + std::to_string(id) + " is " +
                                            std::string(catalog::DiskStateName(from))),
                  std::string::npos)
            << r.status().ToString();
        EXPECT_NE(r.status().message().find(std::string(DiskOpName(op))), std::string::npos);
        EXPECT_EQ(v.state, from);
        EXPECT_TRUE(Events(id).empty());
      }
    }
  }
}

// Every failure arc of the table lands where FIG. 7 says.
TEST_P(DiskStateTest, EveryFailureArc) {
  for (const Transition& t : TransitionTable()) {
    SCOPED_TRACE(std::string(catalog::DiskStateName(t.from)) + " " + std::string(DiskOpName(t.op)));
    int64_t id = Make(t.from, true, std::nullopt, DiskState::kUnconfigured);
    auto r = Apply(id, t.op, /*failure=*/true);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    DiskState want = t.on_failure ? *t.on_failure : DiskState::kUnconfigured;
    EXPECT_EQ(Get(id).state, want);
    auto ev = Events(id);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].op, std::string(DiskOpName(t.op)) + " (failed)");
    EXPECT_EQ(ev[0].detail, "boom");
  }
}

TEST_P(DiskStateTest, NeverAllocatedOrFreedBeforeTheScrubFinished) {
  int64_t dirty_free = Make(DiskState::kFree, /*clean=*/false);
  auto r = Apply(dirty_free, DiskOp::kAllocate);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("scrub"), std::string::npos) << r.status().ToString();

  int64_t id = Make(DiskState::kUnconfigured, /*clean=*/false);
  EXPECT_EQ(Apply(id, DiskOp::kDeallocate).status().code(), Code::kFailedPrecondition);
  ASSERT_EQ(*Apply(id, DiskOp::kScrub), DiskState::kScrubbing);
  EXPECT_EQ(Get(id).prior_state, DiskState::kUnconfigured);
  EXPECT_FALSE(Get(id).clean);
  // While the wipe runs, nothing else may happen to it.
  EXPECT_FALSE(Apply(id, DiskOp::kDeallocate).ok());
  EXPECT_FALSE(Apply(id, DiskOp::kAllocate).ok());
  ASSERT_EQ(*Apply(id, DiskOp::kScrubDone), DiskState::kUnconfigured);
  Volume v = Get(id);
  EXPECT_TRUE(v.clean);
  EXPECT_FALSE(v.prior_state.has_value());
  ASSERT_EQ(*Apply(id, DiskOp::kDeallocate), DiskState::kFree);
}

TEST_P(DiskStateTest, FailedScrubLeavesTheVolumeDirty) {
  int64_t id = Make(DiskState::kUnbound, /*clean=*/false);
  ASSERT_TRUE(Apply(id, DiskOp::kScrub).ok());
  ASSERT_EQ(*Apply(id, DiskOp::kScrub, /*failure=*/true), DiskState::kUnbound);
  EXPECT_FALSE(Get(id).clean);
}

TEST_P(DiskStateTest, MembersMoveWithTheirMetaVolumeOnly) {
  int64_t meta = 0;
  ASSERT_TRUE(catalog().Write([&](Tx& tx) -> Status {
                     Volume m;
                     m.type = "meta";
                     m.size = 2 << 20;
                     m.state = DiskState::kConfigured;
                     VSL_ASSIGN_OR_RETURN(m, catalog().InsertVolume(tx, m));
                     meta = m.id;
                     return Status::Ok();
                   }).ok());
  int64_t a = Make(DiskState::kConfigured, true, meta);
  int64_t b = Make(DiskState::kConfigured, true, meta);
  ASSERT_EQ(*Apply(meta, DiskOp::kBind), DiskState::kBound);
  EXPECT_EQ(Get(a).state, DiskState::kBound);
  EXPECT_EQ(Get(b).state, DiskState::kBound);
  EXPECT_FALSE(Get(a).clean);
  auto direct = Apply(a, DiskOp::kMap);
  ASSERT_FALSE(direct.ok());
  EXPECT_NE(direct.status().message().find("member"), std::string::npos);
  EXPECT_EQ(Get(a).state, DiskState::kBound);
}

// Two workers race to move one volume: exactly one succeeds.
TEST_P(DiskStateTest, ConcurrentTransitionsOfOneVolumeHaveOneWinner) {
  for (int round = 0; round < 5; ++round) {
    int64_t id = Make(DiskState::kFree);
    std::atomic<int> won{0}, lost{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) {
      ts.emplace_back([&] {
        auto r = Apply(id, DiskOp::kAllocate);
        if (r.ok()) {
          ++won;
        } else {
          EXPECT_TRUE(r.status().code() == Code::kAborted || r.status().code() == Code::kFailedPrecondition)
              << r.status().ToString();
          ++lost;
        }
      });
    }
    for (auto& t : ts) t.join();
    EXPECT_EQ(won.load(), 1);
    EXPECT_EQ(lost.load(), 3);
    EXPECT_EQ(Events(id).size(), 1u);
  }
}

VSL_INSTANTIATE_CATALOG_BACKENDS(DiskStateTest);

}  // namespace
}  // namespace vsl::manager
