// RequestQueue: the FIG. 8 request queue, kept in the catalog's requests
// table so that it outlives any process.
//
// A request is queued, claimed by one worker with a lease (owner + expiry),
// run, and finished done (with a result) or failed (with a reason). A worker
// that dies leaves its lease to expire; the next Claim after expiry hands the
// request to another worker (attempts counts the claims). Every operation is
// therefore written to be idempotent: it may run more than once.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.h"

namespace vsl::catalog {

struct RequestFilter {
  std::optional<RequestState> state;
  std::optional<std::string> op;
  int64_t after_id = 0;
  int64_t limit = 1000;
};

class RequestQueue {
 public:
  // `max_attempts`: a request whose lease expired this many times fails
  // ("abandoned") instead of being claimed again.
  explicit RequestQueue(Catalog* catalog, int64_t max_attempts = 5)
      : catalog_(catalog), max_attempts_(max_attempts) {}

  // A running request whose worker ("<process>/<name>") belongs to a process
  // whose heartbeat is older than this is claimable at once, without waiting
  // for its lease to expire (Catalog::DeadProcessCondition). Before Claim.
  void set_dead_after_ms(int64_t ms) { dead_after_ms_ = ms; }

  // Queues a request; returns its id. `args` is a JSON object.
  Result<int64_t> Submit(const std::string& op, const std::string& args, const std::string& actor);
  Result<int64_t> Submit(Tx& tx, const std::string& op, const std::string& args, const std::string& actor);

  // Claims the oldest queued request, or a running one whose lease has
  // expired or whose process is dead, for `worker` until now + lease_ms. nullopt when there is none.
  // Two workers never hold the same request at once. Requests in `skip` are
  // never taken: those the caller's process is running itself, whose lease
  // ran out only because renewing it was slow (a second run beside the first
  // would undo its work, e.g. give back the volumes a migration copies to).
  Result<std::optional<Request>> Claim(const std::string& worker, int64_t lease_ms,
                                       const std::vector<int64_t>& skip = {});
  // Extends the lease. Aborted when `worker` no longer holds the request.
  Status Renew(int64_t id, const std::string& worker, int64_t lease_ms);
  // Finishes a claimed request. Aborted when `worker` lost the lease (the
  // request then belongs to someone else and this result is dropped).
  Status Complete(int64_t id, const std::string& worker, const std::string& result);
  Status Complete(Tx& tx, int64_t id, const std::string& worker, const std::string& result);
  Status Fail(int64_t id, const std::string& worker, const std::string& reason);
  // Puts a claimed request back in the queue (a transient error).
  Status Release(int64_t id, const std::string& worker, const std::string& reason);

  Result<Request> Get(int64_t id);
  Result<Request> Get(Tx& tx, int64_t id);
  Result<std::vector<Request>> List(const RequestFilter& f = {});
  // Queued plus running requests.
  Result<int64_t> Pending();

 private:
  Status Finish(Tx& tx, int64_t id, const std::string& worker, RequestState to, const std::string& reason,
                const std::string& result);

  Catalog* catalog_;
  int64_t max_attempts_;
  int64_t dead_after_ms_ = 10000;
};

}  // namespace vsl::catalog
