// `vsl gateway --config FILE`: the gateway alone, from a JSON file
// (docs/gateway-config.md). A bad configuration exits with status 2 before
// anything listens; SIGINT/SIGTERM stop it cleanly.
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "gateway/config.h"
#include "gateway/gateway.h"
#include "gateway/process.h"
#include "volume/volume.h"

namespace vsl::cli {
namespace {

struct GatewayArgs {
  std::string config;
  std::string listen;  // overrides the file's "listen"
};

int RunGateway(const GatewayArgs& args) {
  Result<gateway::GatewayConfig> config = gateway::LoadGatewayConfig(args.config);
  if (!config.ok()) {
    fprintf(stderr, "vsl gateway: %s\n", config.status().message().c_str());
    return kExitUsage;
  }
  if (!args.listen.empty()) config->options.listen = args.listen;

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
  for (const auto& host : config->hosts) {
    printf("vsl gateway: target %s (%zu LUN%s)\n", (*gw)->TargetName(host.name).c_str(),
           host.luns.size(), host.luns.size() == 1 ? "" : "s");
  }
  fflush(stdout);

  int sig = 0;
  sigwait(&stop, &sig);
  fprintf(stderr, "vsl gateway: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  (*gw)->Stop();
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
  sub->callback([args, run] { *run = [args] { return RunGateway(*args); }; });
}

}  // namespace vsl::cli
