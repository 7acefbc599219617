// The `ipmi` power driver: each host is a server whose BMC vsl reaches with
// ipmitool over IPMI-over-LAN (RMCP+, `-I lanplus`).
//
//   ipmitool -I lanplus -H ADDR -p PORT -U USER [-C N] -E chassis power on
//
// The password travels in ipmitool's environment (IPMI_PASSWORD, read by
// -E), never in its argv, so `ps` and /proc/PID/cmdline never show it; only
// the same user (or root) can read /proc/PID/environ. ipmitool runs from an
// argv vector (posix_spawn), never through a shell, so no BMC field is ever
// parsed as shell syntax.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "farm/power.h"

namespace vsl::farm {

// One ipmitool run: what it exited with and what it printed (stdout and
// stderr, interleaved).
struct CommandResult {
  int exit_code = 0;
  std::string output;
};

// Runs argv[0] (searched in PATH) with exactly the environment `env`
// ("NAME=value" entries); kills it after `timeout_ms`. A seam: tests give
// the driver a fake one.
using CommandRunner = std::function<Result<CommandResult>(const std::vector<std::string>& argv,
                                                          const std::vector<std::string>& env, int timeout_ms)>;

// The real runner: posix_spawnp, output through a pipe, DeadlineExceeded
// (the child killed) after timeout_ms.
Result<CommandResult> RunCommand(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                                 int timeout_ms);

// ipmitool's argv for `command` (e.g. {"chassis", "power", "on"}) on `bmc`.
// Holds no password: -E makes ipmitool read IPMI_PASSWORD.
std::vector<std::string> IpmitoolArgs(const PowerOptions& options, const BmcAccess& bmc,
                                      const std::vector<std::string>& command);

// The environment for ipmitool: `inherited` ("NAME=value" entries, e.g.
// this process's environ) without any IPMI_PASSWORD/IPMITOOL_PASSWORD of its
// own, plus IPMI_PASSWORD=<bmc.password>.
std::vector<std::string> IpmitoolEnv(const BmcAccess& bmc, const std::vector<std::string>& inherited);

// The driver; `runner` defaults to RunCommand. options.lookup is required.
Result<std::unique_ptr<PowerController>> MakeIpmiPower(const PowerOptions& options, CommandRunner runner = nullptr);

}  // namespace vsl::farm
