// `vsl gateway --config FILE`: the gateway alone, from a JSON file
// (docs/gateway-config.md). A bad configuration exits with status 2 before
// anything listens; SIGINT/SIGTERM stop it cleanly. With --metrics it also
// serves GET /metrics (the gateway's and the process's families,
// docs/metrics.md) behind the same doors as the API's.
#include <openssl/rand.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "api/auth.h"
#include "api/http_server.h"
#include "api/metrics.h"
#include "cli/api_client.h"
#include "cli/commands.h"
#include "gateway/config.h"
#include "gateway/gateway.h"
#include "gateway/process.h"
#include "volume/cache.h"
#include "volume/volume.h"

namespace vsl::cli {
namespace {

struct GatewayArgs {
  std::string config;
  std::string listen;  // overrides the file's "listen"
  std::string metrics;  // HOST:PORT for GET /metrics; empty: none
  std::string metrics_token_file;
  bool metrics_open = false;
  std::string cache = "0";  // the read cache's size (docs/cache.md)
};

// Splits "HOST:PORT" ("[::1]:9780" for IPv6); InvalidArgument naming --metrics.
Result<std::pair<std::string, int>> MetricsAddress(const std::string& address) {
  size_t colon = address.rfind(':');
  std::string host = colon == std::string::npos ? "" : address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = -1;
  if (colon != std::string::npos && colon + 1 < address.size() && address.size() - colon <= 6) {
    port = 0;
    for (char c : address.substr(colon + 1)) port = (c >= '0' && c <= '9' && port >= 0) ? port * 10 + (c - '0') : -1;
  }
  if (host.empty() || port < 0 || port > 65535) {
    return InvalidArgument("--metrics '" + address + "': expected HOST:PORT (port 0 picks a free one)");
  }
  return std::make_pair(host, port);
}

int RunGateway(const GatewayArgs& args) {
  Result<gateway::GatewayConfig> config = gateway::LoadGatewayConfig(args.config);
  if (!config.ok()) {
    fprintf(stderr, "vsl gateway: %s\n", config.status().message().c_str());
    return kExitUsage;
  }
  if (!args.listen.empty()) config->options.listen = args.listen;
  // /metrics: its token is read before anything starts, like vsl serve's.
  api::ApiContext metrics_ctx;
  std::pair<std::string, int> metrics_at;
  if (!args.metrics.empty()) {
    Result<std::pair<std::string, int>> at = MetricsAddress(args.metrics);
    Status bad = at.ok() ? Status::Ok() : at.status();
    if (bad.ok() && args.metrics_open && !args.metrics_token_file.empty()) {
      bad = InvalidArgument("--metrics-open and --metrics-token-file exclude each other");
    } else if (bad.ok() && !args.metrics_open && args.metrics_token_file.empty()) {
      bad = InvalidArgument("--metrics needs --metrics-token-file FILE (a bearer token) or --metrics-open");
    }
    if (bad.ok() && !args.metrics_open) {
      Result<std::string> token = api::ReadMetricsToken(args.metrics_token_file);
      if (token.ok()) metrics_ctx.metrics_token = *token;
      bad = token.status();
    }
    if (!bad.ok()) {
      fprintf(stderr, "vsl gateway: %s\n", bad.message().c_str());
      return kExitUsage;
    }
    metrics_at = *at;
    metrics_ctx.metrics_open = args.metrics_open;
    // Only /metrics is routed; the admin token, which any other path would
    // need before its 404, is random and never shown (only its hash kept).
    unsigned char random[32];
    if (RAND_bytes(random, sizeof random) != 1) {
      fprintf(stderr, "vsl gateway: no random bytes for the metrics server\n");
      return kExitFailure;
    }
    std::string admin_token;
    for (unsigned char b : random) admin_token += "0123456789abcdef"[b >> 4];
    metrics_ctx.admin_token_sha256 = api::HashToken(admin_token);
  } else if (args.metrics_open || !args.metrics_token_file.empty()) {
    fprintf(stderr, "vsl gateway: --metrics-open and --metrics-token-file need --metrics HOST:PORT\n");
    return kExitUsage;
  }

  Result<uint64_t> cache = ParseSizeArg(args.cache);
  if (!cache.ok() ||
      (*cache != 0 && *cache < volume::BlockCache::kBlock * volume::BlockCache::kShards)) {
    fprintf(stderr, "vsl gateway: --cache %s: %s\n", args.cache.c_str(),
            cache.ok() ? "below 256KiB, the least the cache can hold"
                       : cache.status().message().c_str());
    return kExitUsage;
  }
  volume::BlockCache::Global().SetCapacity(*cache);

  // Before any thread starts: every thread inherits the blocked stop signals.
  sigset_t stop = gateway::PrepareProcess();

  Result<std::unique_ptr<gateway::Gateway>> gw = gateway::Gateway::Create(config->options);
  if (!gw.ok()) {
    fprintf(stderr, "vsl gateway: %s: %s\n", args.config.c_str(), gw.status().message().c_str());
    return kExitUsage;
  }
  for (const auto& host : config->hosts) {
    Status s = (*gw)->SetHost(host);
    if (!s.ok()) {
      fprintf(stderr, "vsl gateway: %s: %s\n", args.config.c_str(), s.message().c_str());
      return kExitUsage;
    }
  }
  Status s = (*gw)->Start();
  if (!s.ok()) {
    fprintf(stderr, "vsl gateway: %s\n", s.ToString().c_str());
    return kExitFailure;
  }
  printf("vsl gateway: listening on %s\n", (*gw)->address().c_str());
  std::unique_ptr<api::ApiServer> metrics;
  std::thread metrics_thread;
  if (!args.metrics.empty()) {
    gateway::Gateway* g = gw->get();
    metrics_ctx.gateway_metrics = [g](api::MetricsText& out) { api::WriteGatewayMetrics(g->Stats(), out); };
    api::HttpLimits limits;
    limits.max_body = 0;  // GET only
    limits.max_connections = 4;
    metrics = std::make_unique<api::ApiServer>(metrics_ctx, limits);
    api::RegisterMetricsRoute(metrics_ctx, *metrics);
    int port = metrics_at.second;
    if (port == 0) {
      port = metrics->bind_to_any_port(metrics_at.first);
    } else if (!metrics->bind_to_port(metrics_at.first, port)) {
      port = -1;
    }
    if (port <= 0) {
      fprintf(stderr, "vsl gateway: cannot listen on --metrics %s\n", args.metrics.c_str());
      (*gw)->Stop();
      return kExitFailure;
    }
    metrics_thread = std::thread([&metrics] { metrics->listen_after_bind(); });
    std::string host = metrics_at.first.find(':') != std::string::npos ? "[" + metrics_at.first + "]" : metrics_at.first;
    printf("vsl gateway: metrics on %s:%d\n", host.c_str(), port);
  }
  for (const auto& host : config->hosts) {
    printf("vsl gateway: target %s (%zu LUN%s)\n", (*gw)->TargetName(host.name).c_str(),
           host.luns.size(), host.luns.size() == 1 ? "" : "s");
  }
  fflush(stdout);

  int sig = 0;
  sigwait(&stop, &sig);
  fprintf(stderr, "vsl gateway: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  if (metrics) {
    metrics->stop();
    metrics_thread.join();
  }
  (*gw)->Stop();
  gw->reset();  // closes the volumes
  if (!volume::WaitRbdQuiet(kRbdQuietWait))
    fprintf(stderr, "vsl gateway: librbd still busy after %llds (completions, image closes); exiting anyway\n",
            static_cast<long long>(kRbdQuietWait.count()));
  // What the gateway asked of librbd, for operators and tests
  // (docs/gateway-config.md): the most calls in flight at once shows
  // whether RBD I/O overlapped.
  if (const volume::RbdIoStats rbd = volume::GetRbdIoStats(); rbd.calls > 0)
    fprintf(stderr, "vsl gateway: rbd: %llu calls, at most %llu in flight at once\n",
            static_cast<unsigned long long>(rbd.calls),
            static_cast<unsigned long long>(rbd.max_in_flight));
  return kExitOk;
}

}  // namespace

void AddGatewayCommands(CLI::App& app, RunFn* run) {
  auto args = std::make_shared<GatewayArgs>();
  CLI::App* sub = app.add_subcommand("gateway", "Run the iSCSI gateway from a JSON configuration");
  sub->add_option("--config,-c", args->config, "configuration file (docs/gateway-config.md)")
      ->required();
  sub->add_option("--listen", args->listen, "address:port to listen on, overriding the file's");
  sub->add_option("--cache", args->cache,
                  "the read cache in RAM, shared by every LUN whose \"cache\" is \"read\"; e.g. "
                  "1GiB; 0: none "
                  "(docs/cache.md)")
      ->capture_default_str();
  sub->add_option("--metrics", args->metrics,
                  "serve GET /metrics (Prometheus text: the gateway's and the process's metrics) on HOST:PORT "
                  "(port 0 picks one); needs --metrics-token-file or --metrics-open");
  sub->add_option("--metrics-token-file", args->metrics_token_file,
                  "GET /metrics takes the bearer token on this file's first line (mode 0600, at least 16 characters)");
  sub->add_flag("--metrics-open", args->metrics_open,
                "GET /metrics answers without a token (for a scraper inside a trusted network)");
  sub->callback([args, run] { *run = [args] { return RunGateway(*args); }; });
}

}  // namespace vsl::cli
