#include "catalog/request_queue.h"

#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <thread>

#include "catalog/testing/catalog_fixture.h"

namespace vsl::catalog {
namespace {

class RequestQueueTest : public testing::CatalogFixture {
 protected:
  void SetUp() override {
    CatalogFixture::SetUp();
    if (HasFatalFailure()) return;
    queue_ = std::make_unique<RequestQueue>(&catalog(), 3);
  }
  RequestQueue& queue() { return *queue_; }
  std::unique_ptr<RequestQueue> queue_;
};

TEST_P(RequestQueueTest, QueuedClaimedDone) {
  auto id = queue().Submit("allocate", R"({"size":1024})", "alice");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  auto q = queue().Get(*id);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->state, RequestState::kQueued);
  EXPECT_EQ(q->args, R"({"size":1024})");
  EXPECT_EQ(q->actor, "alice");

  auto c = queue().Claim("w1", 30000);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->id, *id);
  EXPECT_EQ((*c)->state, RequestState::kRunning);
  EXPECT_EQ((*c)->attempts, 1);
  EXPECT_EQ((*c)->lease_expiry_ms, clock().NowMs() + 30000);

  // Nothing else to claim while the lease holds.
  auto none = queue().Claim("w2", 30000);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  ASSERT_TRUE(queue().Complete(*id, "w1", R"({"volumes":[1]})").ok());
  q = queue().Get(*id);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->state, RequestState::kDone);
  EXPECT_EQ(q->result, R"({"volumes":[1]})");
  EXPECT_EQ(q->finished_ms, clock().NowMs());

  std::vector<Event> events;
  ASSERT_TRUE(catalog().Read([&](Tx& tx) -> Status {
                     EventFilter f;
                     f.entity = "request";
                     f.entity_id = *id;
                     VSL_ASSIGN_OR_RETURN(events, catalog().ListEvents(tx, f));
                     return Status::Ok();
                   }).ok());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].to_state, "queued");
  EXPECT_EQ(events[1].to_state, "running");
  EXPECT_EQ(events[2].to_state, "done");
}

TEST_P(RequestQueueTest, FailRecordsTheReason) {
  auto id = queue().Submit("bind", "{}", "a");
  ASSERT_TRUE(id.ok());
  auto c = queue().Claim("w1", 1000);
  ASSERT_TRUE(c.ok() && c->has_value());
  ASSERT_TRUE(queue().Fail(*id, "w1", "array east: grant refused").ok());
  auto q = queue().Get(*id);
  EXPECT_EQ(q->state, RequestState::kFailed);
  EXPECT_EQ(q->reason, "array east: grant refused");
  auto pending = queue().Pending();
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(*pending, 0);
}

TEST_P(RequestQueueTest, ClaimsInSubmissionOrder) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(*queue().Submit("op" + std::to_string(i), "{}", "a"));
  for (int i = 0; i < 4; ++i) {
    auto c = queue().Claim("w", 1000);
    ASSERT_TRUE(c.ok() && c->has_value());
    EXPECT_EQ((*c)->id, ids[i]);
  }
}

// A worker claims and dies; after its lease runs out another worker gets the
// request, and the dead worker's late answer is refused.
TEST_P(RequestQueueTest, ExpiredLeaseIsTakenOver) {
  auto id = queue().Submit("scrub", "{}", "a");
  ASSERT_TRUE(id.ok());
  auto c = queue().Claim("dead", 5000);
  ASSERT_TRUE(c.ok() && c->has_value());
  clock().Advance(4999);
  auto early = queue().Claim("w2", 5000);
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->has_value());
  clock().Advance(2);
  auto late = queue().Claim("w2", 5000);
  ASSERT_TRUE(late.ok());
  ASSERT_TRUE(late->has_value());
  EXPECT_EQ((*late)->id, *id);
  EXPECT_EQ((*late)->attempts, 2);
  EXPECT_EQ((*late)->lease_owner, "w2");
  EXPECT_EQ(queue().Complete(*id, "dead", "{}").code(), Code::kAborted);
  EXPECT_EQ(queue().Renew(*id, "dead", 5000).code(), Code::kAborted);
  ASSERT_TRUE(queue().Renew(*id, "w2", 5000).ok());
  ASSERT_TRUE(queue().Complete(*id, "w2", "{}").ok());
  EXPECT_EQ(queue().Get(*id)->state, RequestState::kDone);
}

TEST_P(RequestQueueTest, RenewKeepsTheLease) {
  auto id = queue().Submit("copy", "{}", "a");
  ASSERT_TRUE(queue().Claim("w1", 1000).ok());
  for (int i = 0; i < 5; ++i) {
    clock().Advance(900);
    ASSERT_TRUE(queue().Renew(*id, "w1", 1000).ok());
    auto other = queue().Claim("w2", 1000);
    ASSERT_TRUE(other.ok());
    EXPECT_FALSE(other->has_value());
  }
}

TEST_P(RequestQueueTest, GivesUpAfterMaxAttempts) {
  auto id = queue().Submit("poison", "{}", "a");
  for (int i = 0; i < 3; ++i) {
    auto c = queue().Claim("w" + std::to_string(i), 100);
    ASSERT_TRUE(c.ok() && c->has_value()) << i;
    clock().Advance(101);
  }
  auto c = queue().Claim("w9", 100);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->has_value());
  auto q = queue().Get(*id);
  EXPECT_EQ(q->state, RequestState::kFailed);
  EXPECT_NE(q->reason.find("abandoned after 3 attempts"), std::string::npos) << q->reason;
}

TEST_P(RequestQueueTest, ReleasePutsItBack) {
  auto id = queue().Submit("map", "{}", "a");
  ASSERT_TRUE(queue().Claim("w1", 1000).ok());
  ASSERT_TRUE(queue().Release(*id, "w1", "gateway busy").ok());
  auto q = queue().Get(*id);
  EXPECT_EQ(q->state, RequestState::kQueued);
  auto c = queue().Claim("w2", 1000);
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->attempts, 2);
}

// Many workers on their own connections drain the queue: each request is
// claimed exactly once.
TEST_P(RequestQueueTest, ConcurrentWorkersClaimEachRequestOnce) {
  constexpr int kRequests = 80, kWorkers = 6;
  for (int i = 0; i < kRequests; ++i) ASSERT_TRUE(queue().Submit("op", "{}", "a").ok());
  std::mutex mu;
  std::multiset<int64_t> claimed;
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      auto cat = OpenAnother();
      ASSERT_NE(cat, nullptr);
      RequestQueue q(cat.get());
      std::string me = "w" + std::to_string(w);
      int idle = 0;
      while (idle < 3) {
        auto c = q.Claim(me, 60000);
        ASSERT_TRUE(c.ok()) << c.status().ToString();
        if (!c->has_value()) {
          // Empty, or lost a race: look again a few times.
          ++idle;
          continue;
        }
        idle = 0;
        ASSERT_TRUE(q.Complete((*c)->id, me, "{}").ok());
        std::lock_guard<std::mutex> l(mu);
        claimed.insert((*c)->id);
      }
    });
  }
  for (auto& t : workers) t.join();
  auto pending = queue().Pending();
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(*pending, 0);
  EXPECT_EQ(claimed.size(), static_cast<size_t>(kRequests));
  EXPECT_EQ(std::set<int64_t>(claimed.begin(), claimed.end()).size(), static_cast<size_t>(kRequests));
}

VSL_INSTANTIATE_CATALOG_BACKENDS(RequestQueueTest);

}  // namespace
}  // namespace vsl::catalog
