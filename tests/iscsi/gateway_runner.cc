// vsl_gateway_runner: `vsl gateway --config FILE` without the rest of vsl,
// for the sanitizer builds (scripts/sanitize.sh), which then need to build
// only the gateway's libraries to run the end-to-end suites against it. Same
// library calls as src/cli/gateway_command.cc; same arguments, so
// GatewayProcess runs either (VSL_E2E_BIN).
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "gateway/config.h"
#include "gateway/gateway.h"
#include "gateway/process.h"

int main(int argc, char** argv) {
  std::string config;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) config = argv[++i];
  }
  if (config.empty()) {
    std::fprintf(stderr, "usage: %s gateway --config FILE\n", argv[0]);
    return 2;
  }
  auto loaded = vsl::gateway::LoadGatewayConfig(config);
  if (!loaded.ok()) {
    std::fprintf(stderr, "vsl gateway: %s\n", loaded.status().message().c_str());
    return 2;
  }
  sigset_t stop = vsl::gateway::PrepareProcess();
  auto gw = vsl::gateway::Gateway::Create(loaded->options);
  if (!gw.ok()) {
    std::fprintf(stderr, "vsl gateway: %s\n", gw.status().message().c_str());
    return 2;
  }
  for (const auto& host : loaded->hosts) {
    vsl::Status s = (*gw)->SetHost(host);
    if (!s.ok()) {
      std::fprintf(stderr, "vsl gateway: %s\n", s.message().c_str());
      return 2;
    }
  }
  vsl::Status s = (*gw)->Start();
  if (!s.ok()) {
    std::fprintf(stderr, "vsl gateway: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("vsl gateway: listening on %s\n", (*gw)->address().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  (*gw)->Stop();
  return 0;
}
