// GatewayImpl: the host map (targets, their credentials and LUNs, logical
// units shared by volume id), the listener and the network threads.
#include "gateway/gateway.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "gateway/config.h"
#include "gateway/connection.h"
#include "gateway/event_loop.h"
#include "gateway/listener.h"
#include "gateway/log.h"
#include "gateway/qos.h"
#include "gateway/scsi/lu_core.h"
#include "gateway/session_table.h"
#include "volume/cache.h"

namespace vsl::gateway {
namespace {

class GatewayImpl final : public Gateway, public Portal, public iscsi::TargetDirectory {
 public:
  explicit GatewayImpl(GatewayOptions options)
      : options_(std::move(options)),
        io_(scsi::MakeThreadPool(options_.io_threads)),
        write_budget_(options_.write_buffer_budget) {
    limits_.max_recv_data_segment_length = options_.max_recv_data_segment_length;
    limits_.max_burst_length = options_.max_burst_length;
    limits_.first_burst_length = options_.first_burst_length;
    limits_.max_outstanding_r2t = options_.max_outstanding_r2t;
    limits_.max_connections = 1;
    limits_.immediate_data = options_.immediate_data;
    limits_.initial_r2t = options_.initial_r2t;
  }
  ~GatewayImpl() override { Stop(); }

  // ---- Gateway

  Status Start() override {
    if (started_) return FailedPrecondition("gateway already started");
    VSL_ASSIGN_OR_RETURN(listener_, Listener::Open(options_.listen));
    {
      std::lock_guard<std::mutex> lock(mu_);
      address_ = listener_->address();
    }
    int n = options_.network_threads > 0 ? options_.network_threads
                                         : int(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 0; i < n; ++i) {
      loops_.push_back(
          std::make_unique<EventLoop>(std::chrono::microseconds(options_.batch_pause_us)));
      conns_.push_back(std::make_unique<ConnMap>());
      lu_tables_.push_back(std::make_unique<LuStatsTable>());
    }
    for (int i = 0; i < n; ++i) {
      ConnMap* conns = conns_[size_t(i)].get();
      Listener* l = i == 0 ? listener_.get() : nullptr;
      Status s = loops_[size_t(i)]->Start([conns, l](EventLoop::Clock::time_point now) {
        if (l) l->Tick(now);
        std::vector<std::shared_ptr<Connection>> all;
        for (auto& [id, e] : *conns) all.push_back(e.conn);
        for (auto& c : all) c->Tick(now);
      });
      if (!s.ok()) {
        started_ = true;
        Stop();
        return s;
      }
    }
    started_ = true;
    EventLoop* first = loops_[0].get();
    Listener* l = listener_.get();
    first->Post([this, first, l] {
      Status s = l->Attach(first->poller(), [this](int fd, std::string peer) { Accepted(fd, std::move(peer)); });
      if (!s.ok()) Log().error("listener: {}", s.ToString());
    });
    Log().info("listening on {}", address_);
    return Status::Ok();
  }

  void Stop() override {
    if (!started_ || stopped_.exchange(true)) return;
    for (size_t i = 0; i < loops_.size(); ++i) {
      ConnMap* conns = conns_[i].get();
      Listener* l = i == 0 ? listener_.get() : nullptr;
      loops_[i]->Stop([conns, l] {
        if (l) l->Detach();
        std::vector<std::shared_ptr<Connection>> all;
        for (auto& [id, e] : *conns) all.push_back(e.conn);
        for (auto& c : all) c->Close("gateway stopping");
        conns->clear();
      });
    }
    // Commands still in the SCSI layer finish here; their completions are
    // posted to loops that no longer run and are dropped with them.
    io_.reset();
  }

  std::string address() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return address_;
  }

  std::string TargetName(const std::string& host) const override {
    return options_.iqn_prefix + ":" + host;
  }

  Status SetHost(const HostConfig& host) override;
  Status RemoveHost(const std::string& name) override;
  Status MapLun(const std::string& host, const LunConfig& lun) override;
  Status UnmapLun(const std::string& host, uint64_t lun) override;
  Status GrowVolume(const std::string& volume_id,
                    const std::vector<volume::Extent>& extents) override;
  Status SetVolumeQos(const std::string& volume_id, const QosLimits& qos) override;
  Result<MigrateResult> MigrateVolume(const std::string& volume_id, const std::vector<volume::Extent>& to,
                                      const MigrateOptions& options) override;
  Status SetVolumeCache(const std::string& volume_id, bool reads) override;
  Result<BackupInstant> OpenBackupInstant(const std::string& volume_id, const std::string& side_dir,
                                          const std::string& tag, const std::string& rbd_snap) override;
  void PreloadChangeMap(const std::string& volume_id, std::string image, std::string since) override {
    std::lock_guard<std::mutex> lock(mu_);
    preloaded_maps_[volume_id] = {std::move(image), std::move(since)};
  }
  Status NotifyMediumChanged(const std::string& volume_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = volumes_.find(volume_id);
    if (it == volumes_.end()) return NotFound("volume " + volume_id + " is not mapped");
    it->second.lu->NotifyMediumChanged();
    return Status::Ok();
  }
  Result<std::shared_ptr<void>> HoldWrites(const std::string& volume_id) override {
    std::shared_ptr<scsi::LuCore> core;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = volumes_.find(volume_id);
      if (it == volumes_.end()) return NotFound("volume " + volume_id + " is not mapped");
      core = it->second.lu->core();
    }
    core->BeginHold();  // writes arriving from now on park instead of taking an I/O thread
    core->write_mu.lock();
    return std::shared_ptr<void>(core.get(), [core](void*) {
      core->write_mu.unlock();
      core->EndHold();
    });
  }
  std::shared_ptr<volume::MetaVolume> MappedVolume(const std::string& volume_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = volumes_.find(volume_id);
    return it == volumes_.end() ? nullptr : it->second.lu->volume();
  }

  // ---- Portal

  const GatewayOptions& options() const override { return options_; }
  const iscsi::TargetDirectory* directory() const override { return this; }
  iscsi::TargetLimits limits() const override { return limits_; }
  std::shared_ptr<scsi::Target> FindTarget(const std::string& name) const override {
    std::lock_guard<std::mutex> lock(mu_);
    const HostEntry* h = HostByTarget(name);
    return h ? h->target : nullptr;
  }
  SessionTable* sessions() override { return &sessions_; }
  WriteBudget* write_budget() override { return &write_budget_; }
  void CountLogin(std::optional<LoginFailure> failure) override {
    if (!failure) {
      logins_.fetch_add(1, std::memory_order_relaxed);
    } else {
      login_failures_[size_t(*failure)].fetch_add(1, std::memory_order_relaxed);
    }
  }
  GatewayStats Stats() const override;
  LuStatsTable* lu_stats(EventLoop* loop) override {
    for (size_t i = 0; i < loops_.size(); ++i) {
      if (loops_[i].get() == loop) return lu_tables_[i].get();
    }
    return nullptr;
  }
  const std::atomic<uint32_t>* limited_lus() const override { return &limited_lus_; }
  void Closed(Connection* conn) override {
    for (size_t i = 0; i < loops_.size(); ++i) {
      if (!loops_[i]->InLoopThread()) continue;
      ConnMap* conns = conns_[i].get();
      uint64_t id = conn->id();
      loops_[i]->Defer([conns, id] { conns->erase(id); });
      return;
    }
  }

  // ---- TargetDirectory

  std::optional<iscsi::TargetAccess> Find(const std::string& target_name) const override {
    std::lock_guard<std::mutex> lock(mu_);
    const HostEntry* h = HostByTarget(target_name);
    if (!h) return std::nullopt;
    return Access(*h);
  }
  std::vector<iscsi::TargetAccess> ForInitiator(const std::string& initiator) const override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<iscsi::TargetAccess> out;
    for (const auto& [name, h] : hosts_) {
      for (const auto& i : h.config.initiators) {
        if (i == initiator) out.push_back(Access(h));
      }
    }
    return out;
  }

 private:
  struct HostEntry {
    HostConfig config;
    std::shared_ptr<scsi::Target> target;
  };
  struct VolumeEntry {
    std::shared_ptr<scsi::LogicalUnit> lu;
    std::vector<volume::Extent> extents;
    int mappings = 0;
    bool limited = false;  // counted in limited_lus_
  };
  // A connection counted against max_connections and its address's share;
  // the count drops when the slot is destroyed (with its ConnMap entry).
  class Slot {
   public:
    Slot(GatewayImpl* gw, std::string ip) : gw_(gw), ip_(std::move(ip)) {}
    ~Slot() { gw_->Leave(ip_); }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    GatewayImpl* gw_;
    std::string ip_;
  };
  struct ConnEntry {
    std::shared_ptr<Connection> conn;
    std::shared_ptr<Slot> slot;
  };
  using ConnMap = std::unordered_map<uint64_t, ConnEntry>;

  // Counts a new connection from `ip` unless a limit is reached; the reason
  // when it is. Thread-safe.
  std::optional<std::string> Admit(const std::string& ip) {
    std::lock_guard<std::mutex> lock(conn_mu_);
    if (open_connections_ >= options_.max_connections) {
      return std::to_string(open_connections_) + " connections open (max_connections " +
             std::to_string(options_.max_connections) + ")";
    }
    size_t& mine = per_address_[ip];
    if (mine >= options_.max_connections_per_address) {
      return std::to_string(mine) + " connections open from " + ip +
             " (max_connections_per_address " + std::to_string(options_.max_connections_per_address) +
             ")";
    }
    ++mine;
    ++open_connections_;
    return std::nullopt;
  }
  void Leave(const std::string& ip) {
    std::lock_guard<std::mutex> lock(conn_mu_);
    --open_connections_;
    auto it = per_address_.find(ip);
    if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
  }
  static std::string AddressOnly(const std::string& peer) {  // "1.2.3.4:5" -> "1.2.3.4"
    size_t colon = peer.rfind(':');
    return colon == std::string::npos ? peer : peer.substr(0, colon);
  }

  iscsi::TargetAccess Access(const HostEntry& h) const {  // requires mu_
    iscsi::TargetAccess a;
    a.name = h.target->name();
    a.alias = h.config.name;
    a.tpgt = 1;
    a.initiators = h.config.initiators;
    if (h.config.chap) a.chap = iscsi::ChapCredential{h.config.chap->user, h.config.chap->secret};
    if (h.config.mutual_chap) {
      a.mutual_chap = iscsi::ChapCredential{h.config.mutual_chap->user, h.config.mutual_chap->secret};
    }
    a.allow_no_auth = h.config.allow_no_auth && !h.config.chap;
    if (!address_.empty()) a.portals.push_back(address_ + ",1");
    return a;
  }
  const HostEntry* HostByTarget(const std::string& target_name) const {  // requires mu_
    std::string prefix = options_.iqn_prefix + ":";
    if (target_name.rfind(prefix, 0) != 0) return nullptr;
    auto it = hosts_.find(target_name.substr(prefix.size()));
    return it == hosts_.end() ? nullptr : &it->second;
  }

  void Accepted(int fd, std::string peer) {
    std::string ip = AddressOnly(peer);
    if (std::optional<std::string> full = Admit(ip)) {
      ::close(fd);
      LogLimited(spdlog::level::warn, "connection refused", "{}: connection refused: {}", peer,
                 *full);
      return;
    }
    auto slot = std::make_shared<Slot>(this, std::move(ip));
    size_t k = next_loop_++ % loops_.size();
    EventLoop* loop = loops_[k].get();
    ConnMap* conns = conns_[k].get();
    uint64_t id = next_conn_id_++;
    loop->Post([this, loop, conns, fd, id, peer = std::move(peer), slot = std::move(slot)] {
      if (stopped_) {
        ::close(fd);
        return;
      }
      auto c = std::make_shared<Connection>(loop, this, fd, id, peer);
      Status s = c->Start();
      if (!s.ok()) {
        LogLimited(spdlog::level::warn, "connection start", "{}: {}", peer, s.ToString());
        return;
      }
      ConnEntry& e = (*conns)[id];
      e.conn = std::move(c);
      e.slot = slot;
    });
  }

  Status CheckHost(const HostConfig& host) const;  // requires mu_
  Result<std::shared_ptr<scsi::LogicalUnit>> Acquire(const LunConfig& lun);  // requires mu_
  void Release(const std::string& volume_id);                                // requires mu_
  void ApplyQos(VolumeEntry& v, const QosLimits& qos);                       // requires mu_
  void ApplyCache(VolumeEntry& v, bool reads);                               // requires mu_

  const GatewayOptions options_;
  iscsi::TargetLimits limits_;
  std::unique_ptr<scsi::IoExecutor> io_;
  WriteBudget write_budget_;
  // Connection counts; declared before the loops so closures still queued
  // on them may release their slots while the loops are destroyed.
  mutable std::mutex conn_mu_;
  size_t open_connections_ = 0;                          // guarded by conn_mu_
  std::unordered_map<std::string, size_t> per_address_;  // guarded by conn_mu_
  std::unique_ptr<Listener> listener_;
  // lu_tables_[i] is touched on loops_[i] only; it outlives the loops and
  // their connections, which point into it.
  std::vector<std::unique_ptr<LuStatsTable>> lu_tables_;
  // Loops outlive the session table: its close callbacks post to them.
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::vector<std::unique_ptr<ConnMap>> conns_;  // conns_[i] touched on loops_[i] only
  SessionTable sessions_;
  bool started_ = false;
  std::atomic<bool> stopped_{false};
  std::atomic<size_t> next_loop_{0};
  std::atomic<uint64_t> next_conn_id_{1};
  // Login counts (once per login, not per command).
  std::atomic<uint64_t> logins_{0};
  std::array<std::atomic<uint64_t>, size_t(LoginFailure::kCount)> login_failures_{};

  mutable std::mutex mu_;
  std::string address_;                        // guarded by mu_
  std::map<std::string, HostEntry> hosts_;     // by host name; guarded by mu_
  std::map<std::string, VolumeEntry> volumes_; // by volume id; guarded by mu_
  // Entries of volumes_ with limits (written under mu_, read by every command).
  std::atomic<uint32_t> limited_lus_{0};
  // PreloadChangeMap's maps (image, since) not yet loaded; guarded by mu_
  std::map<std::string, std::pair<std::string, std::string>> preloaded_maps_;
  std::set<std::string> migrating_;  // volumes a MigrateVolume runs on; guarded by mu_
};

GatewayStats GatewayImpl::Stats() const {
  GatewayStats s;
  s.sessions = sessions_.size();
  {
    std::lock_guard<std::mutex> lock(conn_mu_);
    s.connections = open_connections_;
  }
  s.logins = logins_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < login_failures_.size(); ++i) {
    s.login_failures[i] = login_failures_[i].load(std::memory_order_relaxed);
  }
  s.write_buffer_bytes = write_budget_.used();
  s.write_buffer_limit_bytes = write_budget_.limit();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, v] : volumes_) {
      const auto vol = v.lu->volume();
      const auto c = vol->cache_counters();
      s.volumes[id] = {vol->cache_reads(), c.hits, c.misses, c.backend_read_bytes};
    }
  }
  const auto cs = volume::BlockCache::Global().stats();
  s.cache_capacity_bytes = cs.capacity_bytes;
  s.cache_used_bytes = cs.used_bytes;
  s.cache_inserts = cs.inserts;
  s.cache_evictions = cs.evictions;
  s.cache_invalidations = cs.invalidations;
  if (!started_ || stopped_) return s;
  // Each loop adds its connections' figures on its own thread; what a loop
  // that does not answer within the deadline would add is left out.
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    GatewayStats sum;
    size_t answered = 0;
  };
  auto shared = std::make_shared<Shared>();
  for (size_t i = 0; i < loops_.size(); ++i) {
    const ConnMap* conns = conns_[i].get();
    const LuStatsTable* lus = lu_tables_[i].get();
    loops_[i]->Post([shared, conns, lus] {
      GatewayStats mine;
      mine.lus = *lus;
      for (const auto& [id, e] : *conns) e.conn->AddStats(&mine);
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->sum.r2ts_outstanding += mine.r2ts_outstanding;
      shared->sum.writes_waiting += mine.writes_waiting;
      for (const auto& [key, c] : mine.lus) shared->sum.lus[key].Add(c);
      ++shared->answered;
      shared->cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(shared->mu);
  size_t n = loops_.size();
  s.complete = shared->cv.wait_for(lock, std::chrono::seconds(1), [&] { return shared->answered == n; });
  s.r2ts_outstanding = shared->sum.r2ts_outstanding;
  s.writes_waiting = shared->sum.writes_waiting;
  s.lus = std::move(shared->sum.lus);
  return s;
}

Status GatewayImpl::CheckHost(const HostConfig& host) const {
  if (host.name.empty()) return InvalidArgument("host name is empty");
  if (host.initiators.empty()) return InvalidArgument("host " + host.name + " has no initiator");
  if (!host.chap && !host.allow_no_auth) {
    return InvalidArgument("host " + host.name + " has no CHAP secret and allow_no_auth is not set");
  }
  if (host.mutual_chap && !host.chap) {
    return InvalidArgument("host " + host.name + ": mutual CHAP needs CHAP");
  }
  for (const auto& [name, other] : hosts_) {
    if (name == host.name) continue;
    for (const auto& i : host.initiators) {
      for (const auto& j : other.config.initiators) {
        if (i == j) return AlreadyExists("initiator " + i + " already belongs to host " + name);
      }
    }
  }
  std::set<uint64_t> luns;
  for (const auto& l : host.luns) {
    if (!luns.insert(l.lun).second) {
      return InvalidArgument("host " + host.name + " maps LUN " + std::to_string(l.lun) + " twice");
    }
  }
  return Status::Ok();
}

Result<std::shared_ptr<scsi::LogicalUnit>> GatewayImpl::Acquire(const LunConfig& lun) {
  std::string id = lun.volume_id.empty() ? VolumeIdFromExtents(lun.extents) : lun.volume_id;
  auto it = volumes_.find(id);
  if (it != volumes_.end()) {
    if (!lun.extents.empty() && lun.extents != it->second.extents) {
      return InvalidArgument("volume " + id + " is already mapped with other extents");
    }
    if (!lun.read_only && it->second.lu->volume()->read_only()) {
      return FailedPrecondition("volume " + id + " is open read-only; map it read_only here too");
    }
    it->second.mappings++;
    ApplyQos(it->second, lun.qos);
    ApplyCache(it->second, lun.cache_reads);
    return it->second.lu;
  }
  if (lun.extents.empty()) return InvalidArgument("volume " + id + " has no extents");
  // Open read-write even for a read-only mapping: another host may map the
  // same volume writable later. Read-only files only serve read-only maps.
  volume::VolumeOptions vo;
  vo.id = id;
  Result<std::shared_ptr<volume::MetaVolume>> opened = volume::MetaVolume::Open(lun.extents, vo);
  if (!opened.ok() && lun.read_only) {
    vo.read_only = true;
    opened = volume::MetaVolume::Open(lun.extents, vo);
  }
  VSL_ASSIGN_OR_RETURN(auto vol, std::move(opened));
  if (auto pm = preloaded_maps_.find(id); pm != preloaded_maps_.end()) {
    if (vol->changes().Load(pm->second.first, vol->size()).ok()) vol->changes().set_since(pm->second.second);
    preloaded_maps_.erase(pm);
  }
  VolumeEntry e;
  scsi::LuOptions lo;
  lo.sanitize_bytes_per_second = options_.sanitize_bytes_per_second;
  e.lu = std::make_shared<scsi::LogicalUnit>(std::move(vol), io_.get(), lo);
  e.lu->set_qos(std::make_shared<QosLimiter>());
  e.extents = lun.extents;
  e.mappings = 1;
  ApplyQos(e, lun.qos);
  ApplyCache(e, lun.cache_reads);
  auto lu = e.lu;
  volumes_.emplace(id, std::move(e));
  return lu;
}

void GatewayImpl::Release(const std::string& volume_id) {
  auto it = volumes_.find(volume_id);
  if (it != volumes_.end() && --it->second.mappings <= 0) {
    if (it->second.limited) limited_lus_.fetch_sub(1, std::memory_order_relaxed);
    volumes_.erase(it);
  }
}

void GatewayImpl::ApplyQos(VolumeEntry& v, const QosLimits& qos) {
  QosLimiter* q = v.lu->qos().get();
  if (q->limits() == qos) return;
  bool limited = !qos.empty();
  // Counted before the limiter holds commands, uncounted after it let them
  // go: a command never misses the check while its LU has limits.
  if (limited && !v.limited) limited_lus_.fetch_add(1, std::memory_order_relaxed);
  q->Set(qos);
  if (!limited && v.limited) limited_lus_.fetch_sub(1, std::memory_order_relaxed);
  v.limited = limited;
  Log().info("volume {}: limits {}", v.lu->volume()->id(), qos.empty() ? "none" : FormatQos(qos));
}

void GatewayImpl::ApplyCache(VolumeEntry& v, bool reads) {
  auto vol = v.lu->volume();
  if (vol->cache_reads() == reads) return;
  vol->set_cache_reads(reads);
  Log().info("volume {}: read cache {}{}", vol->id(), reads ? "on" : "off",
             reads && !volume::BlockCache::Global().enabled()
                 ? " (but this process has no cache: --cache)"
                 : "");
}

Status GatewayImpl::SetVolumeCache(const std::string& volume_id, bool reads) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = volumes_.find(volume_id);
  if (it == volumes_.end()) return NotFound("volume " + volume_id + " is not mapped");
  ApplyCache(it->second, reads);
  for (auto& [name, h] : hosts_) {
    for (auto& l : h.config.luns) {
      if (l.volume_id == volume_id) l.cache_reads = reads;
    }
  }
  return Status::Ok();
}

Status GatewayImpl::SetVolumeQos(const std::string& volume_id, const QosLimits& qos) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = volumes_.find(volume_id);
  if (it == volumes_.end()) return NotFound("volume " + volume_id + " is not mapped");
  ApplyQos(it->second, qos);
  for (auto& [name, h] : hosts_) {
    for (auto& l : h.config.luns) {
      if (l.volume_id == volume_id) l.qos = qos;
    }
  }
  return Status::Ok();
}

Status GatewayImpl::SetHost(const HostConfig& in) {
  HostConfig host = in;
  for (auto& l : host.luns) {
    if (l.volume_id.empty()) l.volume_id = VolumeIdFromExtents(l.extents);
  }
  std::function<bool(const std::string&)> keep;
  std::string target_name = TargetName(host.name);
  bool close_all = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    VSL_RETURN_IF_ERROR(CheckHost(host));
    // Acquire every LU first so a failure changes nothing.
    std::vector<std::shared_ptr<scsi::LogicalUnit>> lus;
    for (const auto& l : host.luns) {
      Result<std::shared_ptr<scsi::LogicalUnit>> lu = Acquire(l);
      if (!lu.ok()) {
        for (size_t k = 0; k < lus.size(); ++k) Release(host.luns[k].volume_id);
        return lu.status().Annotate("host " + host.name + " LUN " + std::to_string(l.lun));
      }
      lus.push_back(*lu);
    }
    auto it = hosts_.find(host.name);
    if (it == hosts_.end()) {
      HostEntry e;
      e.target = std::make_shared<scsi::Target>(target_name);
      it = hosts_.emplace(host.name, std::move(e)).first;
    } else {
      HostConfig& old = it->second.config;
      auto same = [](const std::optional<Chap>& a, const std::optional<Chap>& b) {
        return a.has_value() == b.has_value() && (!a || (a->user == b->user && a->secret == b->secret));
      };
      close_all = !same(old.chap, host.chap) || !same(old.mutual_chap, host.mutual_chap) ||
                  old.allow_no_auth != host.allow_no_auth;
      for (const auto& l : old.luns) {
        bool kept = false;
        for (const auto& n : host.luns) kept = kept || n.lun == l.lun;
        if (!kept) (void)it->second.target->UnmapLun(l.lun);
        Release(l.volume_id);
      }
    }
    for (size_t k = 0; k < host.luns.size(); ++k) {
      it->second.target->MapLun(host.luns[k].lun, lus[k], host.luns[k].read_only);
    }
    it->second.config = host;
    keep = [inits = host.initiators, close_all](const std::string& i) {
      if (close_all) return false;
      for (const auto& x : inits) {
        if (x == i) return true;
      }
      return false;
    };
  }
  // Credentials changed or an initiator was dropped: those sessions end.
  sessions_.CloseTarget(target_name, "host credentials or initiators changed", keep);
  Log().info("host {}: target {}, {} LUN(s)", host.name, target_name, host.luns.size());
  return Status::Ok();
}

Status GatewayImpl::RemoveHost(const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = hosts_.find(name);
    if (it == hosts_.end()) return NotFound("host " + name + " does not exist");
    for (const auto& l : it->second.config.luns) {
      (void)it->second.target->UnmapLun(l.lun);
      Release(l.volume_id);
    }
    hosts_.erase(it);
  }
  sessions_.CloseTarget(TargetName(name), "host removed");
  Log().info("host {} removed", name);
  return Status::Ok();
}

Status GatewayImpl::MapLun(const std::string& host, const LunConfig& in) {
  LunConfig lun = in;
  if (lun.volume_id.empty()) lun.volume_id = VolumeIdFromExtents(lun.extents);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return NotFound("host " + host + " does not exist");
  if (lun.lun > 16383) return InvalidArgument("LUN " + std::to_string(lun.lun) + " is above 16383");
  VSL_ASSIGN_OR_RETURN(auto lu, Acquire(lun));
  if (lun.extents.empty()) lun.extents = volumes_[lun.volume_id].extents;
  auto& luns = it->second.config.luns;
  for (auto l = luns.begin(); l != luns.end(); ++l) {
    if (l->lun == lun.lun) {
      Release(l->volume_id);
      luns.erase(l);
      break;
    }
  }
  it->second.target->MapLun(lun.lun, std::move(lu), lun.read_only);
  luns.push_back(lun);
  return Status::Ok();
}

Status GatewayImpl::UnmapLun(const std::string& host, uint64_t lun) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return NotFound("host " + host + " does not exist");
  auto& luns = it->second.config.luns;
  for (auto l = luns.begin(); l != luns.end(); ++l) {
    if (l->lun == lun) {
      (void)it->second.target->UnmapLun(lun);
      Release(l->volume_id);
      luns.erase(l);
      return Status::Ok();
    }
  }
  return NotFound("host " + host + " has no LUN " + std::to_string(lun));
}

Result<Gateway::BackupInstant> GatewayImpl::OpenBackupInstant(const std::string& volume_id,
                                                              const std::string& side_dir, const std::string& tag,
                                                              const std::string& rbd_snap) {
  std::shared_ptr<scsi::LogicalUnit> lu;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = volumes_.find(volume_id);
    if (it == volumes_.end()) return NotFound("volume " + volume_id + " is not mapped");
    lu = it->second.lu;
  }
  std::shared_ptr<scsi::LuCore> core = lu->core();
  std::unique_lock gate(core->write_mu);
  std::shared_ptr<volume::MetaVolume> vol = lu->volume();
  VSL_RETURN_IF_ERROR(vol->Flush());
  if (!rbd_snap.empty()) VSL_RETURN_IF_ERROR(vol->CreateRbdSnapshot(rbd_snap));
  BackupInstant out;
  auto view = volume::OpenPointInTime(vol, side_dir);
  if (!view.ok()) {
    if (!rbd_snap.empty()) (void)vol->RemoveRbdSnapshot(rbd_snap);
    return view.status();
  }
  out.view = std::move(*view);
  if (tag.empty()) return out;  // a snapshot: the change map is the backups'
  volume::ChangeMap& map = vol->changes();
  out.tracked = map.enabled();
  if (out.tracked) {
    out.since = map.since();
    out.changed = map.Ranges();
    map.Clear();
  } else {
    map.Enable(vol->size());
  }
  map.set_since(tag);
  return out;
}

Status GatewayImpl::GrowVolume(const std::string& volume_id,
                               const std::vector<volume::Extent>& extents) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = volumes_.find(volume_id);
  if (it == volumes_.end()) return NotFound("volume " + volume_id + " is not mapped");
  VolumeEntry& v = it->second;
  if (extents.size() < v.extents.size() ||
      !std::equal(v.extents.begin(), v.extents.end(), extents.begin())) {
    return InvalidArgument("volume " + volume_id + ": the new extents must start with the old ones");
  }
  if (extents.size() == v.extents.size()) return Status::Ok();
  std::vector<volume::Extent> more(extents.begin() + long(v.extents.size()), extents.end());
  VSL_RETURN_IF_ERROR(v.lu->volume()->Append(more));
  v.extents = extents;
  v.lu->NotifyCapacityChanged();
  for (auto& [name, h] : hosts_) {
    for (auto& l : h.config.luns) {
      if (l.volume_id == volume_id) l.extents = extents;
    }
  }
  return Status::Ok();
}

namespace {

// Copies `ranges` of `vol` to its mirror, in chunks, paced; stops at the
// first error, the mirror's own included (a host write it could not take).
// `paced` false: the host's writes are held, so the copy goes as fast as it can.
Status CopyRanges(volume::MetaVolume& vol, const std::vector<std::pair<uint64_t, uint64_t>>& ranges,
                  const Gateway::MigrateOptions& o, Gateway::MigrateResult& r,
                  std::chrono::steady_clock::time_point start, uint64_t pass_total, uint64_t& pass_done,
                  bool paced = true) {
  for (const auto& [offset, length] : ranges) {
    for (uint64_t done = 0; done < length;) {
      if (o.cancelled && o.cancelled()) return Status(Code::kAborted, "volume " + vol.id() + ": migration cancelled");
      VSL_RETURN_IF_ERROR(vol.MirrorStatus());
      const uint64_t n = std::min<uint64_t>(o.chunk_bytes, length - done);
      VSL_RETURN_IF_ERROR(vol.CopyToMirror(offset + done, n));
      done += n;
      pass_done += n;
      r.bytes_copied += n;
      if (o.progress) o.progress(pass_done, pass_total);
      if (paced && o.bytes_per_second != 0) {  // pace: never ahead of bytes_per_second since the start
        const auto due = start + std::chrono::microseconds(
                                     uint64_t(double(r.bytes_copied) * 1e6 / double(o.bytes_per_second)));
        std::this_thread::sleep_until(due);
      }
    }
  }
  return vol.MirrorStatus();
}

uint64_t RangeBytes(const std::vector<std::pair<uint64_t, uint64_t>>& ranges) {
  uint64_t n = 0;
  for (const auto& r : ranges) n += r.second;
  return n;
}

}  // namespace

Result<Gateway::MigrateResult> GatewayImpl::MigrateVolume(const std::string& volume_id,
                                                          const std::vector<volume::Extent>& to,
                                                          const MigrateOptions& options) {
  if (options.chunk_bytes == 0) return InvalidArgument("chunk_bytes must be at least 1");
  std::shared_ptr<scsi::LogicalUnit> lu;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = volumes_.find(volume_id);
    if (it == volumes_.end()) return NotFound("volume " + volume_id + " is not mapped");
    if (!migrating_.insert(volume_id).second) {
      return FailedPrecondition("volume " + volume_id + " is being migrated already");
    }
    lu = it->second.lu;
  }
  struct Done {  // the volume may be migrated again whatever way this returns
    GatewayImpl* gw;
    std::string id;
    ~Done() {
      std::lock_guard<std::mutex> lock(gw->mu_);
      gw->migrating_.erase(id);
    }
  } done_guard{this, volume_id};
  const std::shared_ptr<volume::MetaVolume> vol = lu->volume();
  if (vol->read_only()) return FailedPrecondition("volume " + volume_id + " is open read-only");
  volume::VolumeOptions vo;
  vo.id = volume_id + " (migration destination)";
  vo.block_size = vol->block_size();
  auto opened = volume::MetaVolume::Open(to, vo);
  if (!opened.ok()) return Status(opened.status().code(), "migration destination: " + opened.status().message());
  std::shared_ptr<volume::MetaVolume> dst = std::move(*opened);
  if (dst->size() != vol->size()) {
    return InvalidArgument("volume " + volume_id + " has " + std::to_string(vol->size()) +
                           " bytes, the migration destination " + std::to_string(dst->size()));
  }
  // librbd keeps a freshly opened image's cache write-through until its
  // first flush, so each mirrored host write would wait for the cluster.
  // The old extents stay authoritative until the switch, which flushes the
  // destination first: write-back is safe here from the start.
  VSL_RETURN_IF_ERROR(dst->Flush());
  const auto start = std::chrono::steady_clock::now();
  MigrateResult r;
  struct Off {  // the mirror goes off whatever way this returns, once no write to it runs
    volume::MetaVolume& v;
    ~Off() { v.StopMirror(); }
  } off{*vol};
  {
    // Started with no write running: every write that completes from now on
    // has reached the destination too.
    VSL_ASSIGN_OR_RETURN(auto hold, HoldWrites(volume_id));
    VSL_RETURN_IF_ERROR(vol->StartMirror(dst));
  }
  std::vector<std::pair<uint64_t, uint64_t>> pending = {{0, vol->size()}};
  for (;;) {
    ++r.passes;
    uint64_t done = 0;
    VSL_RETURN_IF_ERROR(CopyRanges(*vol, pending, options, r, start, RangeBytes(pending), done));
    // Only what raced with another write or with the copy is left.
    pending = vol->TakeMirrorConflicts();
    if (RangeBytes(pending) > options.final_pass_bytes && r.passes < options.max_passes) continue;
    // The last step: no write runs until the switch.
    VSL_ASSIGN_OR_RETURN(auto hold, HoldWrites(volume_id));
    for (const auto& c : vol->TakeMirrorConflicts()) pending.push_back(c);
    if (!pending.empty()) {
      ++r.passes;
      done = 0;
      VSL_RETURN_IF_ERROR(CopyRanges(*vol, pending, options, r, start, RangeBytes(pending), done, false));
    }
    VSL_RETURN_IF_ERROR(vol->MirrorStatus());
    VSL_RETURN_IF_ERROR(dst->Flush());
    if (vol->size() != dst->size()) return FailedPrecondition("volume " + volume_id + " changed size during the migration");
    // All that can fail in the switch is done before the record: once the
    // caller recorded the move, the volume moves.
    VSL_ASSIGN_OR_RETURN(auto next, vol->PrepareReplace(to, dst.get()));  // the copy's handles: RBD exclusive locks
    if (options.commit) {
      Status c = options.commit();
      if (!c.ok()) return c.Annotate("volume " + volume_id + ": migration not recorded, left where it was");
    }
    vol->SwitchTo(std::move(next));
    vol->StopMirror();  // the volume is on the destination's files now
    hold.reset();
    std::lock_guard<std::mutex> lock(mu_);  // not under the hold: HoldWrites takes mu_ first
    auto it = volumes_.find(volume_id);
    if (it == volumes_.end() || it->second.lu != lu) {
      return Status(Code::kAborted, "volume " + volume_id + " was unmapped during the migration");
    }
    it->second.extents = to;
    for (auto& [name, h] : hosts_) {
      for (auto& l : h.config.luns) {
        if (l.volume_id == volume_id) l.extents = to;
      }
    }
    break;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Log().info("volume {}: migrated, {} bytes copied in {} passes, {:.2f} s", volume_id, r.bytes_copied, r.passes,
             r.seconds);
  return r;
}

}  // namespace

Result<std::unique_ptr<Gateway>> Gateway::Create(GatewayOptions options) {
  if (options.iqn_prefix.empty()) return InvalidArgument("iqn_prefix is empty");
  if (options.queue_depth == 0) return InvalidArgument("queue_depth must be at least 1");
  if (options.io_threads <= 0) return InvalidArgument("io_threads must be at least 1");
  if (options.write_buffer_budget < scsi::kMaxTransferBytes) {
    return InvalidArgument("write_buffer_budget must be at least " +
                           std::to_string(scsi::kMaxTransferBytes) + " bytes (one largest write)");
  }
  if (options.max_connections == 0 || options.max_connections_per_address == 0) {
    return InvalidArgument("max_connections and max_connections_per_address must be at least 1");
  }
  if (options.login_timeout_s == 0) return InvalidArgument("login_timeout must be at least 1 s");
  VSL_RETURN_IF_ERROR(Listener::ParseAddress(options.listen).status());
  return std::unique_ptr<Gateway>(new GatewayImpl(std::move(options)));
}

}  // namespace vsl::gateway
