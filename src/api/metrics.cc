#include "api/metrics.h"
#include "api/auth.h"

#include <dirent.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "catalog/catalog.h"
#include "farm/farm_states.h"

namespace vsl::api {
namespace {

// Upper bounds of the request duration buckets, in seconds: a Map takes
// milliseconds, a Copy of an image or a Scrub minutes.
const std::vector<double> kRequestBounds = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800};

bool BearerIs(const httplib::Request& req, const std::string& token) {
  std::string h = req.get_header_value("Authorization");
  constexpr std::string_view kPrefix = "Bearer ";
  if (token.empty() || h.size() != kPrefix.size() + token.size() || h.compare(0, kPrefix.size(), kPrefix) != 0) {
    return false;
  }
  return CRYPTO_memcmp(h.data() + kPrefix.size(), token.data(), token.size()) == 0;
}

Status WriteArrays(catalog::Tx& tx, MetricsText& out) {
  VSL_ASSIGN_OR_RETURN(auto arrays, tx.Query("SELECT a.name, a.capacity, COALESCE(SUM(CASE WHEN v.state <> 'free' "
                                             "THEN v.size ELSE 0 END), 0) FROM arrays a LEFT JOIN volumes v ON "
                                             "v.array_id = a.id AND v.vanished = 0 GROUP BY a.id, a.name, "
                                             "a.capacity ORDER BY a.name"));
  VSL_ASSIGN_OR_RETURN(auto states, tx.Query("SELECT a.name, v.state, COUNT(*) FROM volumes v JOIN arrays a ON "
                                             "v.array_id = a.id WHERE v.vanished = 0 GROUP BY a.name, v.state"));
  VSL_ASSIGN_OR_RETURN(auto metas, tx.Query("SELECT state, COUNT(*) FROM volumes WHERE array_id IS NULL AND "
                                            "vanished = 0 GROUP BY state"));
  out.Family("vsl_array_capacity_bytes", "gauge", "Capacity of the array.");
  for (const auto& r : arrays) out.Sample("vsl_array_capacity_bytes", {{"array", r.Text(0)}}, double(r.Int(1)));
  out.Family("vsl_array_used_bytes", "gauge", "Bytes of the array's volumes that are not Free.");
  for (const auto& r : arrays) out.Sample("vsl_array_used_bytes", {{"array", r.Text(0)}}, double(r.Int(2)));
  out.Family("vsl_array_free_bytes", "gauge", "Capacity of the array not taken by volumes that are not Free.");
  for (const auto& r : arrays) {
    int64_t free = std::max<int64_t>(0, r.Int(1) - r.Int(2));
    out.Sample("vsl_array_free_bytes", {{"array", r.Text(0)}}, double(free));
  }
  std::map<std::pair<std::string, std::string>, int64_t> by_state;
  for (const auto& r : states) by_state[{r.Text(0), r.Text(1)}] = r.Int(2);
  out.Family("vsl_volumes", "gauge", "Volumes on the array by FIG. 7 state.");
  for (const auto& r : arrays) {
    for (catalog::DiskState s : catalog::kAllDiskStates) {
      std::string state(catalog::DiskStateName(s));
      auto it = by_state.find({r.Text(0), state});
      out.Sample("vsl_volumes", {{"array", r.Text(0)}, {"state", state}}, double(it == by_state.end() ? 0 : it->second));
    }
  }
  std::map<std::string, int64_t> meta;
  for (const auto& r : metas) meta[r.Text(0)] = r.Int(1);
  out.Family("vsl_meta_volumes", "gauge", "Meta (concatenated) volumes by FIG. 7 state.");
  for (catalog::DiskState s : catalog::kAllDiskStates) {
    std::string state(catalog::DiskStateName(s));
    out.Sample("vsl_meta_volumes", {{"state", state}}, double(meta.count(state) ? meta[state] : 0));
  }
  return Status::Ok();
}

Status WriteRequests(catalog::Tx& tx, MetricsText& out) {
  VSL_ASSIGN_OR_RETURN(auto counts, tx.Query("SELECT op, state, COUNT(*) FROM requests GROUP BY op, state ORDER BY op"));
  // One row per operation: finished count, duration sum (ms) and the
  // cumulative count of each bucket.
  std::string sql = "SELECT op, COUNT(*), COALESCE(SUM(finished_ms - created_ms), 0)";
  for (double b : kRequestBounds) {
    sql += ", SUM(CASE WHEN finished_ms - created_ms <= " + std::to_string(int64_t(b * 1000)) + " THEN 1 ELSE 0 END)";
  }
  sql += " FROM requests WHERE state IN ('done', 'failed') GROUP BY op ORDER BY op";
  VSL_ASSIGN_OR_RETURN(auto durations, tx.Query(sql));

  std::map<std::string, std::map<std::string, int64_t>> by_op;  // op -> state -> count
  for (const auto& r : counts) by_op[r.Text(0)][r.Text(1)] = r.Int(2);
  auto count = [&](const std::string& op, catalog::RequestState s) {
    auto& m = by_op[op];
    auto it = m.find(std::string(catalog::RequestStateName(s)));
    return double(it == m.end() ? 0 : it->second);
  };
  out.Family("vsl_request_queue_depth", "gauge", "Requests in the queue by operation and state (queued, running).");
  for (const auto& [op, m] : by_op) {
    for (auto s : {catalog::RequestState::kQueued, catalog::RequestState::kRunning}) {
      out.Sample("vsl_request_queue_depth", {{"op", op}, {"state", std::string(catalog::RequestStateName(s))}},
                 count(op, s));
    }
  }
  out.Family("vsl_requests_finished_total", "counter",
             "Requests the catalog holds that finished, by operation and end state (done, failed).");
  for (const auto& [op, m] : by_op) {
    for (auto s : {catalog::RequestState::kDone, catalog::RequestState::kFailed}) {
      out.Sample("vsl_requests_finished_total", {{"op", op}, {"state", std::string(catalog::RequestStateName(s))}},
                 count(op, s));
    }
  }
  out.Family("vsl_request_failures_total", "counter", "Requests that ended failed, by operation.");
  for (const auto& [op, m] : by_op) {
    out.Sample("vsl_request_failures_total", {{"op", op}}, count(op, catalog::RequestState::kFailed));
  }
  out.Family("vsl_request_duration_seconds", "histogram",
             "Time from a request's submission to its end (done or failed), by operation.");
  for (const auto& r : durations) {
    std::vector<uint64_t> buckets;
    for (size_t i = 0; i < kRequestBounds.size(); ++i) buckets.push_back(uint64_t(r.Int(3 + i)));
    out.Histogram("vsl_request_duration_seconds", {{"op", r.Text(0)}}, kRequestBounds, buckets, uint64_t(r.Int(1)),
                  double(r.Int(2)) / 1000.0);
  }
  return Status::Ok();
}

Status WriteFarmsAndHosts(catalog::Tx& tx, MetricsText& out) {
  VSL_ASSIGN_OR_RETURN(auto farms, tx.Query("SELECT state, COUNT(*) FROM farms GROUP BY state"));
  VSL_ASSIGN_OR_RETURN(auto hosts, tx.Query("SELECT state, COUNT(*) FROM hosts GROUP BY state"));
  std::map<std::string, int64_t> by_state;
  for (const auto& r : farms) by_state[r.Text(0)] = r.Int(1);
  out.Family("vsl_farms", "gauge", "Farms by state.");
  for (auto p : {farm::FarmPhase::kApplying, farm::FarmPhase::kReady, farm::FarmPhase::kFailed,
                 farm::FarmPhase::kDestroying}) {
    std::string name(farm::FarmPhaseName(p));
    out.Sample("vsl_farms", {{"state", name}}, double(by_state.count(name) ? by_state[name] : 0));
  }
  out.Family("vsl_hosts", "gauge", "Hosts by state (idle, in_farm).");
  for (const auto& r : hosts) out.Sample("vsl_hosts", {{"state", r.Text(0)}}, double(r.Int(1)));
  return Status::Ok();
}

// /proc/self/stat's start time (clock ticks after boot) plus /proc/stat's
// btime; 0 when either cannot be read.
double ProcessStartSeconds() {
  std::ifstream stat("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  // Fields after the command name start at field 3; starttime is field 22.
  for (int i = 3; i <= 22 && fields >> f; ++i) {
  }
  double ticks = std::strtod(f.c_str(), nullptr);
  std::ifstream boot("/proc/stat");
  std::string key;
  double btime = 0;
  while (boot >> key) {
    if (key == "btime") {
      boot >> btime;
      break;
    }
  }
  if (btime == 0) return 0;
  return btime + ticks / double(sysconf(_SC_CLK_TCK));
}

// The per-LU families; labels host and lun.
void WriteLuMetrics(const gateway::LuStatsTable& lus, MetricsText& out) {
  static const char* const kOps[] = {"read", "write", "other"};
  auto labels = [](const std::pair<std::string, uint64_t>& key) {
    return Labels{{"host", key.first}, {"lun", std::to_string(key.second)}};
  };
  out.Family("vsl_lu_commands_total", "counter",
             "SCSI commands finished on the LU, by op (read: READ 6/10/12/16; write: WRITE and WRITE AND VERIFY; "
             "other).");
  for (const auto& [key, c] : lus) {
    for (size_t i = 0; i < gateway::kLuOps; ++i) {
      Labels l = labels(key);
      l.emplace_back("op", kOps[i]);
      out.Sample("vsl_lu_commands_total", l, double(c.commands[i]));
    }
  }
  out.Family("vsl_lu_bytes_total", "counter", "Bytes read from or written to the LU by commands that succeeded.");
  for (const auto& [key, c] : lus) {
    for (size_t i = 0; i < 2; ++i) {
      Labels l = labels(key);
      l.emplace_back("op", kOps[i]);
      out.Sample("vsl_lu_bytes_total", l, double(c.bytes[i]));
    }
  }
  std::vector<double> bounds;
  for (uint64_t ns : gateway::kLuLatencyBoundsNs) bounds.push_back(double(ns) / 1e9);
  out.Family("vsl_lu_latency_seconds", "histogram",
             "Time from a read's or write's arrival at the gateway to its status, by op.");
  for (const auto& [key, c] : lus) {
    for (size_t i = 0; i < 2; ++i) {
      std::vector<uint64_t> cumulative;
      uint64_t sum = 0;
      for (size_t b = 0; b < bounds.size(); ++b) cumulative.push_back(sum += c.latency[i][b]);
      sum += c.latency[i][bounds.size()];
      Labels l = labels(key);
      l.emplace_back("op", kOps[i]);
      out.Histogram("vsl_lu_latency_seconds", l, bounds, cumulative, sum, double(c.latency_ns_sum[i]) / 1e9);
    }
  }
  out.Family("vsl_lu_errors_total", "counter",
             "Commands on the LU that ended with an error status, by sense key (none: a status without sense "
             "data); only keys seen are listed.");
  for (const auto& [key, c] : lus) {
    for (size_t k = 0; k < gateway::kLuErrorSlots; ++k) {
      if (c.errors[k] == 0) continue;
      Labels l = labels(key);
      l.emplace_back("sense_key", gateway::SenseKeyLabel(k));
      out.Sample("vsl_lu_errors_total", l, double(c.errors[k]));
    }
  }
  out.Family("vsl_lu_queue_depth", "gauge", "Commands on the LU the gateway holds now (arrived, not yet answered).");
  for (const auto& [key, c] : lus) out.Sample("vsl_lu_queue_depth", labels(key), double(c.queue_depth));
}

}  // namespace

Status CheckMetricsAccess(const ApiContext& ctx, const httplib::Request& req) {
  if (ctx.metrics_open) return Status::Ok();
  if (!req.has_header("Authorization")) return Unauthenticated("missing Authorization: Bearer header (/metrics)");
  if (!ctx.metrics_token.empty()) {
    if (BearerIs(req, ctx.metrics_token)) return Status::Ok();
    return Unauthenticated("invalid token (/metrics takes the --metrics-token-file token)");
  }
  auto who = Authenticate(ctx, req);
  if (!who.ok()) return Unauthenticated("invalid token (/metrics takes the admin token)");
  // The whole data center's figures are not a tenant's to read.
  return AdminOnly(*who, "/metrics");
}

void WriteControlPlaneMetrics(ApiContext& ctx, MetricsText& out) {
  MetricsText catalog;
  Status s = ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
    VSL_RETURN_IF_ERROR(WriteArrays(tx, catalog));
    VSL_RETURN_IF_ERROR(WriteRequests(tx, catalog));
    return WriteFarmsAndHosts(tx, catalog);
  });
  out.Family("vsl_catalog_up", "gauge", "1 when the catalog answered this scrape's queries, else 0.");
  out.Sample("vsl_catalog_up", {}, s.ok() ? 1 : 0);
  if (s.ok()) out.Append(catalog);
}

// The read cache (docs/cache.md): the process's, then per mapped volume.
void WriteCacheMetrics(const gateway::GatewayStats& s, MetricsText& out) {
  out.Family("vsl_cache_capacity_bytes", "gauge",
             "The read cache's size (vsl serve --cache); 0: none.");
  out.Sample("vsl_cache_capacity_bytes", {}, double(s.cache_capacity_bytes));
  out.Family("vsl_cache_used_bytes", "gauge", "Bytes of the read cache holding blocks.");
  out.Sample("vsl_cache_used_bytes", {}, double(s.cache_used_bytes));
  out.Family("vsl_cache_inserts_total", "counter", "Blocks installed in the read cache.");
  out.Sample("vsl_cache_inserts_total", {}, double(s.cache_inserts));
  out.Family("vsl_cache_evictions_total", "counter",
             "Blocks evicted from the read cache to make room.");
  out.Sample("vsl_cache_evictions_total", {}, double(s.cache_evictions));
  out.Family("vsl_cache_invalidations_total", "counter",
             "Cached blocks dropped because a write changed them.");
  out.Sample("vsl_cache_invalidations_total", {}, double(s.cache_invalidations));
  out.Family("vsl_volume_cache_hits_total", "counter",
             "Reads of a mapped volume served from the read cache alone.");
  for (const auto& [id, v] : s.volumes)
    out.Sample("vsl_volume_cache_hits_total", {{"volume", id}}, double(v.hits));
  out.Family("vsl_volume_cache_misses_total", "counter",
             "Reads of a mapped volume with cache policy read that went to its files or images.");
  for (const auto& [id, v] : s.volumes)
    out.Sample("vsl_volume_cache_misses_total", {{"volume", id}}, double(v.misses));
  out.Family(
      "vsl_volume_backend_read_bytes_total", "counter",
      "Bytes the reads of a mapped volume asked of its files and images (any cache policy).");
  for (const auto& [id, v] : s.volumes)
    out.Sample("vsl_volume_backend_read_bytes_total", {{"volume", id}},
               double(v.backend_read_bytes));
}

void WriteGatewayMetrics(const gateway::GatewayStats& s, MetricsText& out) {
  out.Family("vsl_gateway_sessions", "gauge", "iSCSI sessions logged in (normal and discovery).");
  out.Sample("vsl_gateway_sessions", {}, double(s.sessions));
  out.Family("vsl_gateway_connections", "gauge", "Open iSCSI TCP connections, logged in or not.");
  out.Sample("vsl_gateway_connections", {}, double(s.connections));
  out.Family("vsl_gateway_logins_total", "counter", "iSCSI logins that succeeded.");
  out.Sample("vsl_gateway_logins_total", {}, double(s.logins));
  out.Family("vsl_gateway_login_failures_total", "counter", "iSCSI logins refused, by reason.");
  for (size_t i = 0; i < s.login_failures.size(); ++i) {
    out.Sample("vsl_gateway_login_failures_total",
               {{"reason", std::string(gateway::LoginFailureName(gateway::LoginFailure(i)))}},
               double(s.login_failures[i]));
  }
  out.Family("vsl_gateway_r2ts_outstanding", "gauge", "R2Ts sent whose data has not all arrived.");
  out.Sample("vsl_gateway_r2ts_outstanding", {}, double(s.r2ts_outstanding));
  out.Family("vsl_gateway_writes_waiting", "gauge", "Writes whose R2Ts wait for room in the write buffer budget.");
  out.Sample("vsl_gateway_writes_waiting", {}, double(s.writes_waiting));
  out.Family("vsl_gateway_write_buffer_bytes", "gauge", "Bytes reserved for solicited write data.");
  out.Sample("vsl_gateway_write_buffer_bytes", {}, double(s.write_buffer_bytes));
  out.Family("vsl_gateway_write_buffer_limit_bytes", "gauge",
             "The write buffer budget (vsl serve --iscsi-write-budget).");
  out.Sample("vsl_gateway_write_buffer_limit_bytes", {}, double(s.write_buffer_limit_bytes));
  out.Family("vsl_gateway_stats_complete", "gauge",
             "1 when every network thread answered this scrape in time, else 0 (its figures are left out).");
  out.Sample("vsl_gateway_stats_complete", {}, s.complete ? 1 : 0);
  WriteLuMetrics(s.lus, out);
  WriteCacheMetrics(s, out);
}

void WriteProcessMetrics(MetricsText& out) {
  long page = sysconf(_SC_PAGESIZE);
  uint64_t size = 0, resident = 0;
  if (FILE* f = fopen("/proc/self/statm", "r")) {
    if (fscanf(f, "%lu %lu", &size, &resident) != 2) size = resident = 0;
    fclose(f);
  }
  out.Family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  out.Sample("process_resident_memory_bytes", {}, double(resident) * double(page));
  out.Family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
  out.Sample("process_virtual_memory_bytes", {}, double(size) * double(page));
  int fds = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++fds;
    }
    closedir(d);
    --fds;  // the one opendir holds
  }
  out.Family("process_open_fds", "gauge", "Number of open file descriptors.");
  out.Sample("process_open_fds", {}, fds);
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  out.Family("process_max_fds", "gauge", "Maximum number of open file descriptors (the soft limit).");
  out.Sample("process_max_fds", {}, lim.rlim_cur == RLIM_INFINITY ? -1 : double(lim.rlim_cur));
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  double cpu = double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  out.Family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
  out.Sample("process_cpu_seconds_total", {}, cpu);
  out.Family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
  out.Sample("process_start_time_seconds", {}, ProcessStartSeconds());
}

Result<std::string> ReadMetricsToken(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return ErrnoError("--metrics-token-file " + path, errno);
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
    return FailedPrecondition("--metrics-token-file " + path + " is mode " + mode +
                              ": other local users can read the token. Fix: chmod 600 " + path);
  }
  std::ifstream in(path);
  if (!in) return ErrnoError("--metrics-token-file " + path, errno);
  std::string token;
  std::getline(in, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.size() < 16) {
    return InvalidArgument("--metrics-token-file " + path + ": the token (first line) must be at least 16 characters");
  }
  return token;
}

void RegisterMetricsRoute(ApiContext& ctx, httplib::Server& server) {
  server.Get("/metrics", [&ctx](const httplib::Request& req, httplib::Response& res) {
    // The door is checked before routing too (http_server.cc's Gate); this
    // keeps the route safe on a plain httplib::Server.
    Status s = CheckMetricsAccess(ctx, req);
    if (!s.ok()) {
      ReplyError(res, s);
      return;
    }
    MetricsText out;
    if (ctx.catalog != nullptr) WriteControlPlaneMetrics(ctx, out);
    if (ctx.gateway_metrics) ctx.gateway_metrics(out);
    WriteProcessMetrics(out);
    res.set_content(out.text(), "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace vsl::api
