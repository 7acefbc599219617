#include "manager/storage_manager.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "array/file_array.h"

#include "util/crash_point.h"

namespace vsl::manager {

using catalog::Request;
using catalog::RequestState;

namespace {

// host:pid:nonce — the nonce keeps a restarted process that was given its
// predecessor's pid from inheriting the dead one's leases.
std::string DefaultId() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  std::random_device rd;
  char nonce[9];
  snprintf(nonce, sizeof(nonce), "%08x", rd());
  return std::string(host) + ":" + std::to_string(getpid()) + ":" + nonce;
}

// The catalog's record of how to reopen an array. For rbd, the connection
// settings: paths and names only, never a key.
Json SpecToJson(const array::ArraySpec& s) {
  Json j{{"driver", s.driver},           {"path", s.path},           {"capacity", s.capacity},
         {"volume_size", s.volume_size}, {"qualities", s.qualities}, {"ports", s.ports}};
  if (s.driver == "rbd") {
    j["pool"] = s.rbd.pool;
    j["ceph_conf"] = s.rbd.conf;
    j["ceph_user"] = s.rbd.user;
    j["keyring"] = s.rbd.keyring;
  }
  return j;
}

}  // namespace

Status RequestStatus(const Request& r) {
  if (r.state == RequestState::kDone) return Status::Ok();
  if (r.state != RequestState::kFailed) {
    return Unavailable("request " + std::to_string(r.id) + " is still " +
                       std::string(catalog::RequestStateName(r.state)));
  }
  for (int c = static_cast<int>(Code::kInvalidArgument); c <= static_cast<int>(Code::kDataLoss); ++c) {
    std::string prefix = std::string(CodeName(static_cast<Code>(c))) + ": ";
    if (r.reason.rfind(prefix, 0) == 0) return Status(static_cast<Code>(c), r.reason.substr(prefix.size()));
  }
  return Internal(r.reason);
}

StorageManager::StorageManager(catalog::Catalog* catalog, MapTarget* target, ManagerOptions options)
    : catalog_(catalog),
      options_(std::move(options)),
      ops_(catalog, &arrays_, target, options_.gateway_initiator),
      queue_(catalog, options_.max_attempts) {
  if (options_.id.empty()) options_.id = DefaultId();
  if (options_.workers < 1) options_.workers = 1;
  if (options_.lease_ms < 3) options_.lease_ms = 3;
  if (options_.heartbeat_ms < 1) options_.heartbeat_ms = 1;
  if (options_.dead_after_ms < 2 * options_.heartbeat_ms) options_.dead_after_ms = 2 * options_.heartbeat_ms;
  queue_.set_dead_after_ms(options_.dead_after_ms);
}

StorageManager::~StorageManager() { Stop(); }

Status StorageManager::AttachArray(std::shared_ptr<array::StorageArray> a, const std::string& config) {
  array::ArrayInfo info = a->info();
  VSL_RETURN_IF_ERROR(catalog_->Write([&](catalog::Tx& tx) -> Status {
    auto rec = catalog_->GetArrayByName(tx, info.name);
    if (rec.ok()) return Status::Ok();
    if (rec.status().code() != Code::kNotFound) return rec.status();
    catalog::ArrayRecord r;
    r.name = info.name;
    r.driver = info.driver;
    r.config = config;
    r.capacity = info.capacity;
    r.volume_size = info.volume_size;
    r.qualities = info.qualities;
    return catalog_->AddArray(tx, r).status();
  }));
  arrays_.Add(std::move(a));
  return Status::Ok();
}

Status StorageManager::AddArray(const array::ArraySpec& spec) {
  VSL_RETURN_IF_ERROR(CheckArrayPathIsFree(spec));
  VSL_ASSIGN_OR_RETURN(auto a, array::OpenArray(spec));
  return AttachArray(std::shared_ptr<array::StorageArray>(std::move(a)), SpecToJson(spec).dump());
}

Status StorageManager::CheckArrayPathIsFree(const array::ArraySpec& spec) {
  if (spec.driver != "file") return Status::Ok();
  VSL_ASSIGN_OR_RETURN(std::string dir, array::ResolveArrayPath(spec.path));
  for (const auto& a : arrays_.All()) {
    const array::ArrayInfo info = a->info();
    if (info.path.empty() || info.name == spec.name) continue;
    VSL_ASSIGN_OR_RETURN(std::string other, array::ResolveArrayPath(info.path));
    VSL_RETURN_IF_ERROR(array::CheckDisjointPaths("array '" + spec.name + "' at", dir,
                                                  "array '" + info.name + "' at", other));
  }
  return Status::Ok();
}

Status StorageManager::OpenCatalogArrays() {
  std::vector<catalog::ArrayRecord> records;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(records, catalog_->ListArrays(tx));
    return Status::Ok();
  }));
  for (const catalog::ArrayRecord& r : records) {
    if (arrays_.Find(r.name).ok()) continue;
    Json c = Json::parse(r.config, nullptr, false);
    if (!c.is_object()) continue;
    const std::string driver = c.value("driver", "");
    if (driver != "file" && driver != "rbd") continue;  // memory arrays die with their process
    array::ArraySpec spec;
    spec.name = r.name;
    spec.driver = driver;
    if (driver == "file") {
      spec.path = c.value("path", "");
    } else {
      spec.rbd.pool = c.value("pool", "");
      spec.rbd.conf = c.value("ceph_conf", "");
      spec.rbd.user = c.value("ceph_user", "");
      spec.rbd.keyring = c.value("keyring", "");
      // A cluster that does not answer now must not keep the file arrays'
      // hosts from being served: the array comes up disconnected.
      spec.may_start_disconnected = true;
    }
    auto a = array::OpenArray(spec);
    if (!a.ok()) return a.status().Annotate("reopening array '" + r.name + "'");
    arrays_.Add(std::shared_ptr<array::StorageArray>(std::move(a).value()));
  }
  return Status::Ok();
}

Status StorageManager::Start() {
  std::lock_guard<std::mutex> l(mu_);
  if (running_) return Status::Ok();
  int64_t retired = 0;
  VSL_RETURN_IF_ERROR(catalog_->Write([&](catalog::Tx& tx) -> Status {
    catalog::Process p;
    p.id = options_.id;
    p.node = options_.node;
    p.pid = getpid();
    VSL_RETURN_IF_ERROR(catalog_->RegisterProcess(tx, p));
    VSL_ASSIGN_OR_RETURN(retired, catalog_->RetireNodeProcesses(tx, options_.node, options_.id));
    return Status::Ok();
  }));
  retired_ = retired;
  running_ = true;
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this, i] { WorkerLoop(i); });
  threads_.emplace_back([this] { RenewLoop(); });
  return Status::Ok();
}

void StorageManager::Stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> l(mu_);
    running_ = false;
    threads.swap(threads_);
  }
  cv_.notify_all();
  bool was_running = !threads.empty();
  for (auto& t : threads) t.join();
  // A clean exit: nobody needs to wait for this process's heartbeat to stop.
  if (was_running) {
    (void)catalog_->Write([&](catalog::Tx& tx) { return catalog_->UnregisterProcess(tx, options_.id); });
  }
}

Result<int64_t> StorageManager::Submit(const std::string& op, const Json& args, const std::string& actor) {
  VSL_ASSIGN_OR_RETURN(int64_t id, queue_.Submit(op, args.dump(), actor));
  cv_.notify_all();
  return id;
}

Result<Request> StorageManager::Wait(int64_t id, int64_t timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    VSL_ASSIGN_OR_RETURN(Request r, queue_.Get(id));
    if (r.state == RequestState::kDone || r.state == RequestState::kFailed) return r;
    if (std::chrono::steady_clock::now() >= deadline) {
      return Unavailable("request " + std::to_string(id) + " (" + r.op + ") is still " +
                         std::string(catalog::RequestStateName(r.state)) + " after " + std::to_string(timeout_ms) +
                         " ms");
    }
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, std::chrono::milliseconds(options_.poll_ms));
  }
}

Result<Json> StorageManager::Call(const std::string& op, const Json& args, const std::string& actor,
                                  int64_t timeout_ms) {
  VSL_ASSIGN_OR_RETURN(int64_t id, Submit(op, args, actor));
  VSL_ASSIGN_OR_RETURN(Request r, Wait(id, timeout_ms));
  VSL_RETURN_IF_ERROR(RequestStatus(r));
  Json out = Json::parse(r.result, nullptr, false);
  if (out.is_discarded()) return Internal("request " + std::to_string(id) + " left no JSON result");
  return out;
}

Result<std::vector<Request>> StorageManager::List(const catalog::RequestFilter& f) { return queue_.List(f); }

Result<bool> StorageManager::RunOne(const std::string& worker) {
  // A request this process runs is never taken over by it: its lease may
  // run out while the catalog is slow to renew it, but its worker is alive
  // and still at it. (Another process takes it over then, as after a crash.)
  std::vector<int64_t> running;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [id, w] : in_flight_) running.push_back(id);
  }
  VSL_ASSIGN_OR_RETURN(auto claimed, queue_.Claim(worker, options_.lease_ms, running));
  if (!claimed) {
    // Idle: at most once a second, give back the destinations of migrate
    // requests that failed for good, also those the queue abandoned above
    // (no worker of theirs runs again to do it).
    const int64_t now = catalog_->NowMs();
    bool due = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      due = !reclaimed_ms_ || now - *reclaimed_ms_ >= 1000;
      if (due) reclaimed_ms_ = now;
    }
    if (due) (void)ops_.MigrateReclaim(catalog::Actor{worker, std::nullopt});
    return false;
  }
  Execute(*claimed, worker);
  return true;
}

void StorageManager::WorkerLoop(int index) {
  std::string worker = options_.id + "/w" + std::to_string(index);
  for (;;) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!running_) return;
    }
    auto ran = RunOne(worker);
    if (ran.ok() && *ran) continue;
    std::unique_lock<std::mutex> l(mu_);
    if (!running_) return;
    cv_.wait_for(l, std::chrono::milliseconds(options_.poll_ms));
  }
}

// Renews the leases of running requests and this process's heartbeat.
void StorageManager::RenewLoop() {
  const auto period =
      std::chrono::milliseconds(std::max<int64_t>(1, std::min(options_.lease_ms / 3, options_.heartbeat_ms)));
  std::unique_lock<std::mutex> l(mu_);
  while (running_) {
    cv_.wait_for(l, period);
    if (!running_) break;
    auto flights = in_flight_;
    l.unlock();
    for (auto& [id, worker] : flights) (void)queue_.Renew(id, worker, options_.lease_ms);
    (void)catalog_->Write([&](catalog::Tx& tx) { return catalog_->Heartbeat(tx, options_.id); });
    l.lock();
  }
}

void StorageManager::Execute(const Request& r, const std::string& worker) {
  {
    std::lock_guard<std::mutex> l(mu_);
    in_flight_[r.id] = worker;
  }
  util::CrashPoint("op." + r.op + ".start");  // claimed, nothing done yet
  Result<Json> out = Json::object();
  Json args = Json::parse(r.args, nullptr, false);
  if (args.is_discarded()) {
    out = InvalidArgument("request " + std::to_string(r.id) + " has malformed JSON arguments");
  } else {
    // A worker thread must outlive whatever an operation throws: it becomes
    // the request's failure, not std::terminate.
    try {
      out = ops_.Run(r.op, args, catalog::Actor{worker, r.id});
    } catch (const std::exception& e) {
      out = Internal("operation " + r.op + " of request " + std::to_string(r.id) + " threw: " + e.what());
    } catch (...) {
      out = Internal("operation " + r.op + " of request " + std::to_string(r.id) + " threw");
    }
  }
  util::CrashPoint("op." + r.op + ".end");  // its effect is there, the request still running
  (void)Finish(r, worker, out);
  {
    std::lock_guard<std::mutex> l(mu_);
    in_flight_.erase(r.id);
  }
  cv_.notify_all();
}

Status StorageManager::Finish(const Request& r, const std::string& worker, const Result<Json>& out) {
  if (out.ok()) return queue_.Complete(r.id, worker, out->dump());
  Code c = out.status().code();
  // Lost a race, or the catalog was busy: run it again later.
  if ((c == Code::kAborted || c == Code::kUnavailable) && r.attempts < options_.max_attempts) {
    return queue_.Release(r.id, worker, out.status().ToString());
  }
  VSL_RETURN_IF_ERROR(queue_.Fail(r.id, worker, out.status().ToString()));
  // Failed for good: what a migrate request allocated goes back.
  if (r.op == "migrate") (void)ops_.MigrateGiveBack(r.id, catalog::Actor{worker, r.id});
  return Status::Ok();
}

}  // namespace vsl::manager
