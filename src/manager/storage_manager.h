// StorageManager: FIG. 8's storage manager. Owns the arrays this process can
// reach and the worker threads that take requests from the catalog's queue
// and run them (Operations), so any number of `vsl serve` processes on one
// PostgreSQL catalog share the work.
//
//   StorageManager m(catalog, &gateway_target, {});
//   m.AttachArray(array);             // or OpenArray(spec) + AttachArray
//   m.Start();
//   auto id = m.Submit("allocate", {{"size", 1 << 30}}, "alice");
//   auto req = m.Wait(*id);           // done or failed, with result/reason
//
// A worker holds a lease on its request and renews it while the operation
// runs; when a worker (or its whole process) dies, another takes the request
// over once the lease expired and runs it again; operations are idempotent.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "catalog/request_queue.h"
#include "manager/operations.h"

namespace vsl::manager {

struct ManagerOptions {
  int workers = 2;
  int64_t lease_ms = 30000;
  // How often an idle worker looks at the queue (other processes submit too).
  int64_t poll_ms = 50;
  // A request taken over this many times fails instead ("abandoned").
  int64_t max_attempts = 5;
  // This process's identity in the catalog's processes table; names its
  // workers ("<id>/w0", ...). Default host:pid:nonce.
  std::string id;
  // The node (data directory) this process runs on. Start() declares every
  // other process of the same node dead: the caller holds the node's lock.
  std::string node;
  // How often the process row's heartbeat is renewed, and after how long
  // without one a process is dead (its requests and farm locks are then
  // taken over without waiting for their leases).
  int64_t heartbeat_ms = 1000;
  int64_t dead_after_ms = 5000;
  // What arrays grant access to when a unit is bound.
  std::string gateway_initiator = "iqn.2026-11.org.vsl:gateway";
};

class StorageManager {
 public:
  // `catalog` and `target` must outlive the manager.
  StorageManager(catalog::Catalog* catalog, MapTarget* target, ManagerOptions options = {});
  ~StorageManager();  // Stop()s

  // Makes an array usable: its catalog row is created (with `config`, the
  // JSON needed to reopen it, e.g. the ArraySpec) when missing. Does not
  // discover; submit "discover" (or call ops().Discover) for that.
  Status AttachArray(std::shared_ptr<array::StorageArray> a, const std::string& config = "{}");
  // Opens the array `spec` describes, attaches it and records the spec.
  // InvalidArgument when a file array's directory (resolved) is, lies inside
  // or contains the directory of an array already attached.
  Status AddArray(const array::ArraySpec& spec);
  Status CheckArrayPathIsFree(const array::ArraySpec& spec);
  // Reopens every array the catalog lists with a stored spec (at start-up).
  Status OpenCatalogArrays();

  // Registers this process (heartbeat row) and starts the workers.
  // Idempotent.
  Status Start();
  // Processes of this node that Start() declared dead.
  int64_t retired() const { return retired_; }
  // Stops taking requests; waits for running operations to finish.
  void Stop();

  Result<int64_t> Submit(const std::string& op, const Json& args, const std::string& actor);
  // Waits until the request is done or failed, or `timeout_ms` passed
  // (Unavailable then). Works for requests another process runs.
  Result<catalog::Request> Wait(int64_t id, int64_t timeout_ms = 600000);
  // Submit + Wait; the operation's failure becomes the returned Status
  // (with the code the operation failed with).
  Result<Json> Call(const std::string& op, const Json& args, const std::string& actor,
                    int64_t timeout_ms = 600000);
  Result<std::vector<catalog::Request>> List(const catalog::RequestFilter& f = {});

  // Claims and runs at most one request on the calling thread as worker
  // `worker`; true when one ran. For tests that step the queue by hand.
  Result<bool> RunOne(const std::string& worker);

  Operations& ops() { return ops_; }
  catalog::RequestQueue& queue() { return queue_; }
  ArraySet& arrays() { return arrays_; }
  const ManagerOptions& options() const { return options_; }

 private:
  void WorkerLoop(int index);
  void RenewLoop();
  // Runs a claimed request to the end (done, failed or released).
  void Execute(const catalog::Request& r, const std::string& worker);
  Status Finish(const catalog::Request& r, const std::string& worker, const Result<Json>& out);

  catalog::Catalog* catalog_;
  ManagerOptions options_;
  ArraySet arrays_;
  Operations ops_;
  catalog::RequestQueue queue_;

  std::mutex mu_;
  std::condition_variable cv_;        // wakes workers and waiters
  bool running_ = false;              // guarded by mu_
  std::map<int64_t, std::string> in_flight_;  // request -> worker; guarded by mu_
  std::vector<std::thread> threads_;  // guarded by mu_ (start/stop)
  int64_t retired_ = 0;
  // When RunOne last gave back what failed migrate requests left
  // (Operations::MigrateReclaim), in catalog ms; guarded by mu_.
  std::optional<int64_t> reclaimed_ms_;
};

// Maps a request's stored failure back to a Status: the reason text starts
// with the code name ("NotFound: host 'x' does not exist").
Status RequestStatus(const catalog::Request& r);

}  // namespace vsl::manager
