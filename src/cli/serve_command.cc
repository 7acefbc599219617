// `vsl serve --data DIR`: the product's one daemon. The API, the storage
// manager's workers and the gateway run in one process over one catalog.
// On first start DIR gets a SQLite catalog (unless --catalog), a default
// file array and the admin token. SIGINT/SIGTERM stop it cleanly.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "api/api.h"
#include "api/auth.h"
#include "api/console.h"
#include "api/http_server.h"
#include "api/image_staging.h"
#include "api/metrics.h"
#include "api/routes_farms.h"
#include "api/session.h"
#include "api/test_hooks.h"
#include "backup/store.h"
#include "catalog/backup_schedules.h"
#include "catalog/catalog.h"
#include "cli/api_client.h"
#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/serve_config.h"
#include "farm/farm_record.h"
#include "gateway/gateway.h"
#include "gateway/process.h"
#include "manager/backup_ops.h"
#include "manager/backup_schedule.h"
#include "manager/gateway_map_target.h"
#include "manager/storage_manager.h"
#include "util/crash_point.h"
#include "util/log.h"
#include "util/rbd_clients.h"
#include "volume/cache.h"
#include "volume/volume.h"

namespace vsl::cli {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// serve's own lines (util/log.h): "vsl serve: ..." in the text format.
void Say(spdlog::level::level_enum level, std::string_view message, const Json& fields = Json::object()) {
  util::LogEvent(util::Logger("serve", util::TextStyle::kCommand), level, message, fields);
}
void Info(std::string_view message, const Json& fields = Json::object()) {
  Say(spdlog::level::info, message, fields);
}
void Warn(std::string_view message, const Json& fields = Json::object()) {
  Say(spdlog::level::warn, message, fields);
}
void Error(const Status& s, const Json& fields = Json::object()) {
  Json f = fields;
  f["code"] = std::string(CodeName(s.code()));
  Say(spdlog::level::err, s.ToString(), f);
}

struct ServeArgs {
  std::string config;      // default kDefaultServeConfig when it exists
  std::string log_format = "text";
  std::string data;
  std::string api = "127.0.0.1:7780";
  std::string iscsi = "127.0.0.1:3260";
  std::string catalog;  // default: sqlite:DATA/catalog.db
  std::string iqn_prefix = "iqn.2026-11.org.vsl";
  std::string power = "none";
  std::string qemu_accel = "tcg";
  std::string ipmitool = "ipmitool";
  int ipmi_cipher = -1;
  std::string default_capacity = "64GiB";
  int workers = 2;
  int64_t lease_ms = 30000;
  bool test_faults = false;
  // The API's doors (api/http_server.h) and the import directory.
  std::string api_max_body = "16MiB";
  api::HttpLimits api_limits;
  std::string import_dir;
  std::string backup_dir;
  // --backup-store rados:POOL[/NAMESPACE] and how to reach the cluster.
  std::string backup_store, ceph_conf, ceph_user, keyring;
  // GET /metrics: its own token, or none.
  std::string metrics_token_file;
  bool metrics_open = false;
  // The console's sign-in sessions (api/session.h): how long one lasts.
  int session_ttl_s = 12 * 3600;
  // The gateway's limits against untrusted hosts (docs/security.md).
  gateway::GatewayOptions iscsi_limits;
  std::string iscsi_write_budget = "512MiB";
  std::string cache = "0";  // the read cache's size (docs/cache.md); 0: none
};

// --import-dir as a realpath; refused when it is, holds or lies inside the
// data directory (clients could import the catalog and read it back).
Result<std::string> ImportDir(const std::string& dir, const std::string& data) {
  if (dir.empty()) return std::string();
  std::error_code ec;
  std::string real = fs::canonical(dir, ec).string();
  if (ec) return InvalidArgument("--import-dir " + dir + ": " + ec.message());
  if (!fs::is_directory(real)) return InvalidArgument("--import-dir " + dir + " is not a directory");
  auto inside = [](const std::string& a, const std::string& b) { return a == b || a.rfind(b + "/", 0) == 0; };
  if (inside(real, data) || inside(data, real)) {
    return InvalidArgument("--import-dir " + real + " overlaps the data directory " + data +
                           ": clients could import the catalog");
  }
  return real;
}

Result<std::pair<std::string, int>> SplitHostPort(const std::string& s, const char* what) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return InvalidArgument(std::string(what) + " '" + s + "' is not HOST:PORT");
  try {
    int port = std::stoi(s.substr(colon + 1));
    if (port < 0 || port > 65535) throw std::out_of_range("port");
    return std::make_pair(s.substr(0, colon), port);
  } catch (const std::exception&) {
    return InvalidArgument(std::string(what) + " '" + s + "': bad port");
  }
}

// Writes `text` to `path` through a temporary file of this process (two
// serves starting on one data directory may both write it), mode 0600.
Status WritePrivate(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  mode_t old = umask(077);
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text << "\n";
    out.close();
    if (!out) {
      umask(old);
      return ErrnoError("writing " + tmp, errno);
    }
  }
  umask(old);
  chmod(tmp.c_str(), 0600);
  if (rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError("renaming " + tmp, errno);
  return Status::Ok();
}

// The admin token's SHA-256, which is all vsl serve keeps of it. It is
// DIR/admin.token.sha256; DIR/admin.token, when present, is the token the
// local CLI reads and wins (its hash is written anew when it changed), so
// an operator may rotate the token by replacing that file, or delete it
// and keep the token elsewhere (--token, VSL_TOKEN). On first start a new
// token is made (CSPRNG) and written to both; `created` then holds it.
Result<std::string> AdminTokenHash(const std::string& dir, std::string* created) {
  std::string path = dir + "/admin.token";
  std::string hash_path = path + ".sha256";
  std::string stored_hash;
  if (std::ifstream h(hash_path); h) std::getline(h, stored_hash);
  std::ifstream in(path);
  if (in) {
    std::string token;
    std::getline(in, token);
    if (token.empty()) return InvalidArgument(path + " is empty");
    std::string hash = api::HashToken(token);
    if (hash != stored_hash) VSL_RETURN_IF_ERROR(WritePrivate(hash_path, hash));
    return hash;
  }
  if (!stored_hash.empty()) {
    if (stored_hash.size() != 64 || stored_hash.find_first_not_of("0123456789abcdef") != std::string::npos) {
      return InvalidArgument(hash_path + " is not a SHA-256 in hex (64 characters 0-9a-f)");
    }
    return stored_hash;
  }
  VSL_ASSIGN_OR_RETURN(std::string token, api::NewToken());
  std::string hash = api::HashToken(token);
  VSL_RETURN_IF_ERROR(WritePrivate(hash_path, hash));
  VSL_RETURN_IF_ERROR(WritePrivate(path, token));
  *created = token;
  return hash;
}

// Arrays added with driver "fault:file" come back wrapped again (test mode),
// before the manager reopens the plain file arrays.
Status ReopenFaultArrays(catalog::Catalog& cat, manager::StorageManager& m, api::TestHooks* hooks) {
  if (hooks == nullptr) return Status::Ok();
  std::vector<catalog::ArrayRecord> records;
  VSL_RETURN_IF_ERROR(cat.Read([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(records, cat.ListArrays(tx));
    return Status::Ok();
  }));
  for (const auto& r : records) {
    api::Json c = api::Json::parse(r.config, nullptr, false);
    if (!c.is_object() || !c.value("fault", false)) continue;
    array::ArraySpec spec;
    spec.name = r.name;
    spec.driver = "file";
    spec.path = c.value("path", "");
    auto base = array::OpenArray(spec);
    if (!base.ok()) return base.status().Annotate("reopening array '" + r.name + "'");
    auto fault = std::make_shared<array::FaultInjectingArray>(std::move(base).value());
    VSL_RETURN_IF_ERROR(m.AttachArray(fault, r.config));
    hooks->AddArray(r.name, fault);
  }
  return Status::Ok();
}

// A process killed between a pool's cut of a new volume and the catalog row
// for it leaves a file no row knows: nobody was ever given it, so it holds
// nothing, and discovery of the pool takes it in as a free volume (instead
// of leaving its space lost to the pool's accounting). Pool arrays only:
// vsl itself never creates volumes on the others.
Status AdoptInterruptedCuts(catalog::Catalog& cat, manager::StorageManager& m) {
  std::vector<catalog::ArrayRecord> records;
  VSL_RETURN_IF_ERROR(cat.Read([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(records, cat.ListArrays(tx));
    return Status::Ok();
  }));
  for (const catalog::ArrayRecord& r : records) {
    auto a = m.arrays().Find(r.name);
    if (r.volume_size != 0 || !a.ok() || !(*a)->Disconnected().empty()) continue;
    auto found = m.ops().Discover(r.name, catalog::Actor{"serve", std::nullopt});
    if (!found.ok()) return found.status().Annotate("taking in what pool '" + r.name + "' holds");
    if (found->added > 0) {
      Info("pool " + r.name + ": " + std::to_string(found->added) + " volume(s) cut by a killed process taken in as free",
           {{"array", r.name}, {"volumes", found->added}});
    }
  }
  return Status::Ok();
}

// The default file array of a new installation: a sparse pool in DATA/arrays.
Status EnsureDefaultArray(catalog::Catalog& cat, manager::StorageManager& m, const ServeArgs& args) {
  bool any = false;
  VSL_RETURN_IF_ERROR(cat.Read([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(auto arrays, cat.ListArrays(tx));
    any = !arrays.empty();
    return Status::Ok();
  }));
  if (any) return Status::Ok();
  array::ArraySpec spec;
  spec.name = "default";
  spec.driver = "file";
  spec.path = args.data + "/arrays/default";
  VSL_ASSIGN_OR_RETURN(spec.capacity, ParseSizeArg(args.default_capacity));
  VSL_RETURN_IF_ERROR(m.AddArray(spec));
  return m.ops().Discover(spec.name, catalog::Actor{"serve", std::nullopt}).status();
}

// Every array the catalog lists, reopened (fault-injecting ones wrapped
// again in test mode), the default pool of a new installation, and what a
// killed process cut from a pool taken in.
Status OpenArrays(catalog::Catalog& cat, manager::StorageManager& m, api::TestHooks* hooks, const ServeArgs& args) {
  VSL_RETURN_IF_ERROR(ReopenFaultArrays(cat, m, hooks));
  VSL_RETURN_IF_ERROR(m.OpenCatalogArrays());
  VSL_RETURN_IF_ERROR(EnsureDefaultArray(cat, m, args));
  return AdoptInterruptedCuts(cat, m);
}

// What a killed vsl serve left on its rbd arrays, and the arrays whose
// cluster did not answer at start-up (util/rbd_clients.h, docs/ceph.md):
//  - every Ceph client an earlier process of this data directory connected
//    is dead (this process holds the directory's lock), so the exclusive
//    locks they hold on images are broken before the gateway opens them;
//  - a disconnected array's hosts are left out of the gateway at start and
//    loaded once the array reconnects (its locks broken first).
// Destroyed before the manager: the arrays' callbacks are cleared first.
class RbdRecovery {
 public:
  RbdRecovery(manager::StorageManager* m, std::string data) : m_(m), data_(std::move(data)) {}
  ~RbdRecovery() { Close(); }
  // Clears the arrays' callbacks (waiting for a running one); before the
  // manager goes.
  void Close() {
    if (m_ == nullptr) return;
    {
      std::lock_guard l(mu_);
      closing_ = true;
    }
    cv_.notify_all();
    if (retry_.joinable()) retry_.join();
    for (auto& a : m_->arrays().All()) a->OnReconnect({});
    m_ = nullptr;
  }

  // Before the arrays open: the dead processes' clients, kept in
  // DATA/rbd-clients.dead until every array has seen them; this process
  // notes its own in DATA/rbd-clients.
  Status TakeDeadClients() {
    VSL_ASSIGN_OR_RETURN(dead_, util::ReadRbdClientLog(DeadPath()));
    VSL_ASSIGN_OR_RETURN(auto last, util::ReadRbdClientLog(LivePath()));
    for (auto& c : last) {
      if (std::find(dead_.begin(), dead_.end(), c) == dead_.end()) dead_.push_back(std::move(c));
    }
    VSL_RETURN_IF_ERROR(util::WriteRbdClientLog(DeadPath(), dead_));
    VSL_RETURN_IF_ERROR(util::WriteRbdClientLog(LivePath(), {}));
    util::SetRbdClientLog(LivePath());
    return Status::Ok();
  }

  // After the arrays open, before the gateway loads its hosts.
  void BreakDeadLocks() {
    bool all_seen = true;
    for (auto& a : m_->arrays().All()) {
      std::string why = a->Disconnected();
      if (!why.empty()) {
        Warn("array " + a->info().name + " is disconnected (" + why +
                 "); its hosts wait, everyone else is served, and vsl keeps trying to reach it",
             {{"array", a->info().name}, {"reason", why}});
        all_seen = false;
        continue;
      }
      Break(*a);
    }
    if (all_seen) {
      Status s = util::WriteRbdClientLog(DeadPath(), {});
      if (!s.ok()) Error(s);
    }
  }

  // After the gateway loaded what it could.
  void Skipped(const std::vector<std::pair<std::string, Status>>& skipped) {
    {
      std::lock_guard l(mu_);
      for (const auto& [host, why] : skipped) {
        Warn("host " + host + " is not served for now: " + why.ToString(), {{"host", host}, {"reason", why.ToString()}});
        skipped_.push_back(host);
      }
    }
    // A host left out for another reason (an image whose lock a live
    // client holds, a cluster slow to answer) is tried again with back-off.
    if (!skipped.empty()) retry_ = std::thread([this] { RetryLoop(); });
    for (auto& a : m_->arrays().All()) {
      if (a->Disconnected().empty()) continue;
      std::weak_ptr<array::StorageArray> weak = a;
      a->OnReconnect([this, weak] {
        if (auto arr = weak.lock()) Reconnected(*arr);
      });
      if (a->Disconnected().empty()) Reconnected(*a);  // reached meanwhile
    }
  }

 private:
  std::string DeadPath() const { return data_ + "/rbd-clients.dead"; }
  std::string LivePath() const { return data_ + "/rbd-clients"; }

  void Break(array::StorageArray& a) {
    if (dead_.empty()) return;
    auto freed = a.BreakDeadLocks(dead_);
    if (!freed.ok()) {
      Error(freed.status().Annotate("array " + a.info().name), {{"array", a.info().name}});
      return;
    }
    for (const std::string& f : *freed) {
      Info("array " + a.info().name + ": broke the exclusive lock of " + f +
               ", a client of a killed vsl serve of this data directory",
           {{"array", a.info().name}, {"client", f}});
    }
  }

  void Reconnected(array::StorageArray& a) {
    std::lock_guard l(mu_);
    Info("array " + a.info().name + " is connected again", {{"array", a.info().name}});
    Break(a);
    RetrySkippedLocked();
  }

  void RetryLoop() {
    std::chrono::seconds delay(2);
    std::unique_lock l(mu_);
    while (!skipped_.empty()) {
      if (cv_.wait_for(l, delay, [&] { return closing_; })) return;
      delay = std::min(delay * 2, std::chrono::seconds(60));
      RetrySkippedLocked();
    }
  }

  // Requires mu_.
  void RetrySkippedLocked() {
    std::vector<std::string> still;
    for (const std::string& host : skipped_) {
      Status s = m_->ops().SyncHost(host);
      if (s.ok()) {
        Info("host " + host + " is served again", {{"host", host}});
      } else {
        still.push_back(host);
      }
    }
    skipped_ = std::move(still);
  }

  manager::StorageManager* m_;
  std::string data_;
  std::vector<util::RbdClient> dead_;  // fixed after TakeDeadClients
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> skipped_;  // guarded by mu_
  bool closing_ = false;              // guarded by mu_
  std::thread retry_;
};

// The backup store: --backup-dir DIR, or --backup-store rados:POOL[/NS] with
// the Ceph options (a pool store keeps what a running backup sets aside, the
// copy-on-write blocks of a file array's instant, under DATA/backup-scratch).
// The pool is named with its own connection settings rather than after an
// rbd array: `vsl backup-store` reads it with no catalog, where arrays keep
// theirs, and a store outlives the array it was next to.
Result<std::unique_ptr<backup::Store>> OpenBackupStore(const ServeArgs& args, const std::string& data) {
  backup::OpenOptions bo;
  bo.create = true;
  const bool ceph = !args.ceph_conf.empty() || !args.ceph_user.empty() || !args.keyring.empty();
  if (args.backup_store.empty()) {
    if (ceph) return InvalidArgument("--ceph-conf, --ceph-user and --keyring go with --backup-store rados:POOL");
    auto store = backup::Store::Open(args.backup_dir, bo);
    if (!store.ok()) return store.status().Annotate("--backup-dir " + args.backup_dir);
    return store;
  }
  if (!args.backup_dir.empty()) return InvalidArgument("--backup-dir and --backup-store exclude each other");
  backup::RadosTarget t;
  VSL_RETURN_IF_ERROR(backup::ParseRadosSpec(args.backup_store, &t).Annotate("--backup-store"));
  if (args.ceph_conf.empty() || args.ceph_user.empty()) {
    return InvalidArgument("--backup-store " + args.backup_store + " needs --ceph-conf and --ceph-user");
  }
  t.conf = args.ceph_conf;
  t.user = args.ceph_user;
  t.keyring = args.keyring;
  auto objects = backup::OpenRadosObjects(t);
  if (!objects.ok()) return objects.status().Annotate("--backup-store " + args.backup_store);
  auto store = backup::Store::OpenPool(std::move(*objects), bo, data + "/backup-scratch");
  if (!store.ok()) return store.status().Annotate("--backup-store " + args.backup_store);
  for (const backup::Leftover& l : (*store)->leftovers()) {
    Info("backup store " + args.backup_store + ": " + l.name + ": " + l.note,
         {{"store", args.backup_store}, {"what", l.name}, {"note", l.note}});
  }
  return store;
}

// The API's doors from the flags (api/http_server.h).
Result<api::HttpLimits> ApiLimits(const ServeArgs& args) {
  api::HttpLimits limits = args.api_limits;
  auto max_body = ParseSizeArg(args.api_max_body);
  if (!max_body.ok()) return max_body.status().Annotate("--api-max-body");
  limits.max_body = *max_body;
  limits.idle_timeout_s = limits.header_timeout_s;
  VSL_RETURN_IF_ERROR(api::ValidateLimits(limits));
  return limits;
}

// The gateway's listener and its limits against untrusted hosts.
Result<gateway::GatewayOptions> GatewayOptionsOf(const ServeArgs& args) {
  gateway::GatewayOptions o = args.iscsi_limits;
  auto write_budget = ParseSizeArg(args.iscsi_write_budget);
  if (!write_budget.ok()) return write_budget.status().Annotate("--iscsi-write-budget");
  if (*write_budget < (uint64_t{8} << 20)) {
    return InvalidArgument("--iscsi-write-budget " + args.iscsi_write_budget +
                           " is below 8MiB, the largest write one command may announce");
  }
  o.write_buffer_budget = *write_budget;
  auto cache = ParseSizeArg(args.cache);
  if (!cache.ok()) return cache.status().Annotate("--cache");
  if (*cache != 0 && *cache < volume::BlockCache::kBlock * volume::BlockCache::kShards)
    return InvalidArgument("--cache " + args.cache +
                           " is below 256KiB, the least the cache can hold");
  o.listen = args.iscsi;
  o.iqn_prefix = args.iqn_prefix;
  return o;
}

int RunServe(const ServeArgs& args) {
  auto fail = [](const Status& s, int code) {
    Error(s);
    return code;
  };
  auto api_addr = SplitHostPort(args.api, "--api");
  if (!api_addr.ok()) return fail(api_addr.status(), kExitUsage);
  if (args.power != "none" && args.power != "qemu" && args.power != "qemu-direct" && args.power != "ipmi") {
    return fail(InvalidArgument("--power must be none, qemu, qemu-direct or ipmi, not '" + args.power + "'"),
                kExitUsage);
  }
  auto limits = ApiLimits(args);
  if (!limits.ok()) return fail(limits.status(), kExitUsage);
  auto gopts = GatewayOptionsOf(args);
  if (!gopts.ok()) return fail(gopts.status(), kExitUsage);
  // Private before anything is made in it: the catalog holds every CHAP secret.
  Status secured = SecureDataDir(args.data);
  if (!secured.ok()) return fail(secured, kExitFailure);
  std::error_code ec;
  fs::create_directories(args.data + "/arrays", ec);
  if (ec) return fail(IoError("creating " + args.data + ": " + ec.message()), kExitFailure);
  std::string data = fs::canonical(args.data, ec).string();
  if (ec) return fail(IoError(args.data + ": " + ec.message()), kExitFailure);
  // Held until the process ends: no second `vsl serve` on this directory,
  // and every earlier one is known to be dead.
  auto data_lock = LockDataDir(data);
  if (!data_lock.ok()) return fail(data_lock.status(), kExitFailure);
  auto node = NodeId(data);
  if (!node.ok()) return fail(node.status(), kExitFailure);
  auto import_dir = ImportDir(args.import_dir, data);
  if (!import_dir.ok()) return fail(import_dir.status(), kExitUsage);
  std::string metrics_token;
  if (!args.metrics_token_file.empty()) {
    if (args.metrics_open) {
      return fail(InvalidArgument("--metrics-open and --metrics-token-file exclude each other"), kExitUsage);
    }
    auto t = api::ReadMetricsToken(args.metrics_token_file);
    if (!t.ok()) return fail(t.status(), kExitUsage);
    metrics_token = *t;
  }

  sigset_t stop = gateway::PrepareProcess();

  std::string url = args.catalog.empty() ? "sqlite:" + data + "/catalog.db" : args.catalog;
  auto cat = catalog::Catalog::Open(url);
  if (!cat.ok()) return fail(cat.status().Annotate("opening catalog " + url), kExitFailure);
  std::string new_token;  // set on first start only
  auto token_hash = AdminTokenHash(data, &new_token);
  if (!token_hash.ok()) return fail(token_hash.status(), kExitFailure);

  // Sized before any volume opens. The stale-read hook (tests/api/cache.sh
  // checks that it catches one) needs --test-faults.
  const char* stale = getenv("VSL_TEST_CACHE_NO_INVALIDATE");
  volume::BlockCache::Global().SetCapacity(
      *ParseSizeArg(args.cache), args.test_faults && stale != nullptr && std::string(stale) == "1");
  auto gw = gateway::Gateway::Create(*gopts);
  if (!gw.ok()) return fail(gw.status(), kExitUsage);

  std::unique_ptr<api::TestHooks> hooks;
  if (args.test_faults) {
    hooks = std::make_unique<api::TestHooks>();
    const char* crash_at = getenv("VSL_CRASH_AT");
    Status armed = util::ArmCrashPoints(crash_at ? crash_at : "");
    if (!armed.ok()) return fail(armed.Annotate("VSL_CRASH_AT"), kExitUsage);
  }
  manager::GatewayMapTarget gateway_target(gw->get());
  api::FaultableMapTarget target(&gateway_target, hooks.get());
  manager::ManagerOptions mopts;
  mopts.workers = args.workers;
  mopts.lease_ms = args.lease_ms;
  mopts.node = *node;
  mopts.gateway_initiator = args.iqn_prefix + ":gateway";
  auto mgr = std::make_unique<manager::StorageManager>(cat->get(), &target, mopts);

  std::unique_ptr<manager::BackupOps> backups;
  if (!args.backup_dir.empty() || !args.backup_store.empty()) {
    auto store = OpenBackupStore(args, data);
    if (!store.ok()) return fail(store.status(), store.status().code() == Code::kInvalidArgument ? kExitUsage : kExitFailure);
    backups = std::make_unique<manager::BackupOps>(&mgr->ops(), &target, std::move(store).value(),
                                                   data + "/changemaps");
    mgr->ops().set_backups(backups.get());
  }

  // The backup scheduler (with a store only); in test mode with
  // $VSL_TEST_CLOCK it reads a fake clock that POST /v1/test/clock moves.
  std::unique_ptr<catalog::FakeClock> test_clock;
  catalog::Clock* schedule_clock = catalog::SystemClock::Get();
  if (hooks) {
    const char* at = getenv("VSL_TEST_CLOCK");
    if (at != nullptr && *at != '\0') {
      auto ms = catalog::ParseUtc(at);
      if (!ms.ok()) return fail(ms.status().Annotate("VSL_TEST_CLOCK"), kExitUsage);
      test_clock = std::make_unique<catalog::FakeClock>(*ms);
      schedule_clock = test_clock.get();
    }
  }
  std::unique_ptr<manager::BackupScheduler> scheduler;
  if (backups) {
    catalog::Catalog* c = cat->get();
    scheduler = std::make_unique<manager::BackupScheduler>(mgr.get(), backups.get(), schedule_clock,
                                                           [c] { return farm::ScheduledDisks(*c); });
    if (hooks && test_clock) hooks->SetClock(test_clock.get(), scheduler.get());
  }

  api::ApiContext ctx;
  ctx.catalog = cat->get();
  ctx.schedule_clock = schedule_clock;
  ctx.manager = mgr.get();
  ctx.data_dir = data;
  ctx.iqn_prefix = args.iqn_prefix;
  ctx.power = args.power;
  ctx.qemu_accel = args.qemu_accel;
  ctx.ipmitool = args.ipmitool;
  ctx.ipmi_cipher = args.ipmi_cipher;
  ctx.admin_token_sha256 = *token_hash;
  ctx.test_hooks = hooks.get();
  ctx.backups = backups.get();
  ctx.import_dir = *import_dir;
  ctx.metrics_token = metrics_token;
  ctx.metrics_open = args.metrics_open;
  gateway::Gateway* gateway = gw->get();
  ctx.gateway_metrics = [gateway](api::MetricsText& out) { api::WriteGatewayMetrics(gateway->Stats(), out); };
  ctx.volume_cache = [gateway](const std::string& id, api::ApiContext::VolumeCacheFigures* out) {
    auto vol = gateway->MappedVolume(id);
    if (!vol) return false;
    const auto c = vol->cache_counters();
    *out = {vol->cache_reads(), c.hits, c.misses, c.backend_read_bytes};
    return true;
  };

  RbdRecovery rbd(mgr.get(), data);
  Status s = rbd.TakeDeadClients();
  if (!s.ok()) return fail(s, kExitFailure);
  s = OpenArrays(**cat, *mgr, hooks.get(), args);
  if (!s.ok()) return fail(s, kExitFailure);
  rbd.BreakDeadLocks();
  s = (*gw)->Start();
  if (!s.ok()) return fail(s.Annotate("iSCSI listener " + args.iscsi), kExitFailure);
  ctx.iscsi_address = (*gw)->address();
  // The gateway serves exactly what the catalog says is mapped; a host it
  // cannot load now (an array disconnected) waits, the others are served.
  if (backups) {
    // Maps saved by a clean stop count on, loaded as the gateway opens each
    // volume (before its host can write); a crash left none (the next level
    // 1 then compares checksums). Rows of backups a dead run left running
    // are failed (the store never lists them).
    int maps = backups->LoadChangeMaps();
    if (maps > 0) Info("loaded " + std::to_string(maps) + " change map(s)", {{"changemaps", maps}});
    auto orphans = backups->FailOrphans();
    if (!orphans.ok()) return fail(orphans.status().Annotate("backups left running"), kExitFailure);
  }
  std::vector<std::pair<std::string, Status>> skipped;
  auto loaded = mgr->ops().SyncHosts(&skipped);
  if (!loaded.ok()) return fail(loaded.status().Annotate("loading the gateway from the catalog"), kExitFailure);
  rbd.Skipped(skipped);
  auto staged = api::CleanStaging(ctx);
  if (!staged.ok()) return fail(staged.status().Annotate("cleaning " + data + "/uploads"), kExitFailure);
  // Sessions live in this process only: a restart signs everyone out.
  api::SessionStore sessions(std::chrono::seconds(args.session_ttl_s), api::kMaxSessions);
  ctx.sessions = &sessions;
  api::ApiServer server(ctx, *limits);
  api::RegisterRoutes(ctx, server);
  api::RegisterSessionRoutes(ctx, server);
  api::RegisterEventStreamRoute(ctx, server, api::MaxEventStreams(*limits));
  api::RegisterUiRoutes(ctx, server);
  std::shared_ptr<void> farm_service;
  {
    auto attached = api::AttachFarmRoutes(ctx, server);
    if (!attached.ok()) return fail(attached.status().Annotate("farm routes"), kExitFailure);
    farm_service = std::move(attached).value();
  }
  // Requests a killed process left running are taken over: at once when it
  // ran on this data directory (Start declares it dead), else once its
  // heartbeat stopped. The workers start only after the gateway has its maps
  // and the farm routes gave the backups their power probe (a restore taken
  // over asks it whether the disk's hosts are on).
  s = mgr->Start();
  if (!s.ok()) return fail(s, kExitFailure);
  // After the farm routes made the farm record table it reads.
  if (scheduler) scheduler->Start();
  int port = api_addr->second;
  if (port == 0) {
    port = server.bind_to_any_port(api_addr->first);
    if (port < 0) return fail(Unavailable("cannot listen on " + args.api), kExitFailure);
  } else if (!server.bind_to_port(api_addr->first, port)) {
    return fail(Unavailable("cannot listen on " + args.api + " (in use?)"), kExitFailure);
  }
  std::thread http([&server] { server.listen_after_bind(); });

  if (!new_token.empty()) {
    // On a terminal the operator sees it once; a log (the journal) must not
    // keep it: the json format names only the file.
    if (util::CurrentLogFormat() == util::LogFormat::kText) {
      Info("admin token (shown once, kept in " + data + "/admin.token): " + new_token);
    } else {
      Info("admin token created in " + data + "/admin.token", {{"path", data + "/admin.token"}});
    }
  }
  Info("catalog " + (*cat)->db().description(), {{"catalog", (*cat)->db().description()}});
  std::string api_url = "http://" + api_addr->first + ":" + std::to_string(port);
  Info("API on " + api_url, {{"address", api_url}});
  Info("iSCSI on " + ctx.iscsi_address + " (targets " + args.iqn_prefix + ":<host>, " + std::to_string(*loaded) +
           " host" + (*loaded == 1 ? "" : "s") + " loaded)",
       {{"address", ctx.iscsi_address}, {"iqn_prefix", args.iqn_prefix}, {"hosts", *loaded}});
  if (mgr->retired() > 0) {
    Info(std::to_string(mgr->retired()) +
             " earlier process(es) of this data directory died; their requests are taken over",
         {{"processes", mgr->retired()}});
  }
  if (hooks) Warn("TEST FAULT INJECTION ENABLED (--test-faults)");

  int sig = 0;
  sigwait(&stop, &sig);
  const char* signame = sig == SIGINT ? "SIGINT" : "SIGTERM";
  Info(std::string(signame) + ", stopping", {{"signal", signame}});
  server.stop();
  http.join();
  farm_service.reset();
  rbd.Close();
  if (scheduler) scheduler->Stop();
  mgr->Stop();
  if (backups) {
    // After the workers stopped (no backup runs), before the gateway closes
    // the volumes: the next start trusts these maps.
    int saved = backups->SaveChangeMaps();
    if (saved > 0) Info("saved " + std::to_string(saved) + " change map(s)", {{"changemaps", saved}});
  }
  (*gw)->Stop();
  mgr.reset();
  gw->reset();
  // Every image is closed now (its lock released) and every Ceph handle shut
  // down: the next start has no dead client's lock to look for.
  if (!volume::WaitRbdQuiet(kRbdQuietWait))
    Warn("librbd still busy after " + std::to_string(kRbdQuietWait.count()) +
         "s (completions, image closes); exiting anyway");
  util::SetRbdClientLog("");
  Status forgot = util::WriteRbdClientLog(data + "/rbd-clients", {});
  if (!forgot.ok()) Error(forgot);
  // Requests still queued stay in the catalog for the next start.
  Info("stopped");
  return kExitOk;
}

// The config file under the flags, the log format, then the daemon.
int ConfigureAndServe(CLI::App& cmd, ServeArgs& args) {
  // A --log-format flag holds for the config's own errors too.
  auto early = util::ParseLogFormat(args.log_format);
  if (early.ok()) util::SetLogFormat(*early);
  std::string config = args.config;
  bool given = cmd.get_option("--config")->count() > 0;
  if (!given && access(kDefaultServeConfig, F_OK) == 0) config = kDefaultServeConfig;
  if (!config.empty()) {
    Status s = LoadServeConfig(cmd, config);
    if (!s.ok()) {
      Error(s);
      return kExitUsage;
    }
  }
  auto format = util::ParseLogFormat(args.log_format);
  if (!format.ok()) {
    Error(format.status().Annotate("--log-format"));
    return kExitUsage;
  }
  util::SetLogFormat(*format);
  if (args.data.empty()) {
    Error(InvalidArgument("--data is required (on the command line or as `data` in " +
                          (config.empty() ? std::string(kDefaultServeConfig) : config) + ")"));
    return kExitUsage;
  }
  if (!config.empty()) Info("settings from " + config, {{"config", config}});
  return RunServe(args);
}

}  // namespace

void AddServeCommands(CLI::App& app, RunFn* run) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "run the daemon: API, storage manager workers and gateway");
  cmd->add_option("--config", args->config,
                  std::string("settings file: `key = value` lines whose keys are these flags without -- "
                              "(docs/service.md); flags given here win (default ") +
                      kDefaultServeConfig + " when it exists; --config '' reads none)");
  cmd->add_option("--data", args->data,
                  "data directory (created on first start; kept 0700 with files 0600: refused when the catalog "
                  "or token in it is open to others); required, here or in the config");
  cmd->add_option("--log-format", args->log_format,
                  "text (for a terminal) or json (one object per line: time, level, component, message, fields)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->add_option("--api", args->api, "API listen address HOST:PORT (port 0 picks one)")->capture_default_str();
  cmd->add_option("--iscsi", args->iscsi, "iSCSI listen address HOST:PORT")->capture_default_str();
  cmd->add_option("--catalog", args->catalog, "catalog URL: postgresql://... or sqlite:PATH (default sqlite:DATA/catalog.db)");
  cmd->add_option("--iqn-prefix", args->iqn_prefix, "target names are PREFIX:<host>")->capture_default_str();
  cmd->add_option("--power", args->power,
                  "power controller for hosts: none | qemu (a QEMU VM per host that boots from LUN 0 through "
                  "its NIC's iPXE firmware, sanboot, then the OS's own initiator) | qemu-direct (QEMU's built-in "
                  "initiator, LUNs 0-3 as IDE disks) | ipmi (servers' BMCs through ipmitool; each host needs "
                  "--bmc, see vsl host bmc)")
      ->check(CLI::IsMember({"none", "qemu", "qemu-direct", "ipmi"}))
      ->capture_default_str();
  cmd->add_option("--qemu-accel", args->qemu_accel,
                  "QEMU hosts' accelerator: tcg (emulation, works everywhere), kvm (needs a working /dev/kvm) "
                  "or kvm:tcg (KVM where it opens)")
      ->check(CLI::IsMember({"tcg", "kvm", "kvm:tcg"}))
      ->capture_default_str();
  cmd->add_option("--ipmitool", args->ipmitool, "--power ipmi: the ipmitool binary (searched in PATH)")
      ->capture_default_str();
  cmd->add_option("--ipmi-cipher", args->ipmi_cipher,
                  "--power ipmi: the RMCP+ cipher suite ipmitool asks for (-C; 3 or 17 on most BMCs; default: "
                  "ipmitool's choice)")
      ->check(CLI::Range(0, 17));
  cmd->add_option("--default-capacity", args->default_capacity,
                  "capacity of the default file array made on first start")->capture_default_str();
  cmd->add_option("--workers", args->workers, "storage manager worker threads")->check(CLI::Range(1, 64))->capture_default_str();
  cmd->add_option("--iscsi-max-connections", args->iscsi_limits.max_connections,
                  "iSCSI connections open at once, from all hosts; more are closed at accept")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  cmd->add_option("--iscsi-max-connections-per-address", args->iscsi_limits.max_connections_per_address,
                  "iSCSI connections open at once from one IP address")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  cmd->add_option("--iscsi-login-timeout", args->iscsi_limits.login_timeout_s,
                  "seconds a new iSCSI connection has to finish its login")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  cmd->add_option("--iscsi-write-budget", args->iscsi_write_budget,
                  "write data all iSCSI sessions together may hold while it arrives (R2Ts wait beyond it; "
                  "at least 8MiB)")
      ->capture_default_str();
  cmd->add_option(
         "--cache", args->cache,
         "the gateway's read cache in RAM, shared by every disk whose cache policy is read "
         "(vsl disk cache); e.g. 1GiB; 0: none (docs/cache.md)")
      ->capture_default_str();
  cmd->add_option("--lease-ms", args->lease_ms,
                  "request lease: a request a dead process held is taken over after this long")
      ->check(CLI::Range(int64_t{500}, int64_t{3600000}))
      ->capture_default_str();
  cmd->add_option("--api-max-body", args->api_max_body,
                  "largest API request body (image uploads excepted: they stream to disk); larger gets 413")
      ->capture_default_str();
  cmd->add_option("--api-max-connections", args->api_limits.max_connections,
                  "API connections served at once; 4x as many (at least 64) more wait, further ones get 503")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cmd->add_option("--api-header-timeout", args->api_limits.header_timeout_s,
                  "seconds a client has to send a request's line and headers (also the keep-alive idle time)")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  cmd->add_option("--api-body-timeout", args->api_limits.body_timeout_s,
                  "seconds a client has to send a (capped) request body; no read or write may stall longer "
                  "than --api-header-timeout")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  cmd->add_option("--backup-store", args->backup_store,
                  "the backup store in a RADOS pool, rados:POOL[/NAMESPACE] (docs/backup.md), made when missing; "
                  "needs --ceph-conf and --ceph-user (and --keyring); instead of --backup-dir");
  cmd->add_option("--ceph-conf", args->ceph_conf, "--backup-store rados:...: the cluster's ceph.conf");
  cmd->add_option("--ceph-user", args->ceph_user,
                  "--backup-store rados:...: the cephx user, without \"client.\" (caps: docs/ceph.md)");
  cmd->add_option("--keyring", args->keyring, "--backup-store rados:...: the user's keyring (default: as the conf says)");
  cmd->add_option("--backup-dir", args->backup_dir,
                  "the backup store (docs/backup.md), made when missing; with it the farms' backup policies run "
                  "on their schedules (vsl backup schedule); without it backups are refused");
  cmd->add_option("--import-dir", args->import_dir,
                  "the one directory whose files POST /v1/images {file} may name (default: none, uploads only)");
  cmd->add_option("--metrics-token-file", args->metrics_token_file,
                  "GET /metrics takes the bearer token on this file's first line (mode 0600, at least 16 "
                  "characters) instead of the admin token");
  cmd->add_option("--session-ttl", args->session_ttl_s,
                  "seconds a console sign-in (POST /v1/session, the vsl_session cookie) lasts")
      ->check(CLI::Range(60, 30 * 24 * 3600))
      ->capture_default_str();
  cmd->add_flag("--metrics-open", args->metrics_open,
                "GET /metrics answers without a token (for a scraper inside a trusted network)");
  cmd->add_flag("--test-faults", args->test_faults,
                "TESTS ONLY: allow driver fault:file, POST /v1/test/faults and the crash points named in $VSL_CRASH_AT; "
                "with $VSL_TEST_CLOCK (a UTC time) the backup scheduler reads a fake clock moved by POST /v1/test/clock");
  cmd->callback([args, run, cmd] { *run = [args, cmd] { return ConfigureAndServe(*cmd, *args); }; });
}

}  // namespace vsl::cli
