#include "farm/power_ipmi.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <set>

#include "util/names.h"

extern char** environ;

namespace vsl::farm {

namespace {

// ipmitool's output as one line for a message: lines joined by "; ", any
// byte outside printable ASCII escaped, cut at a few hundred bytes.
std::string OneLine(const std::string& output) {
  std::string joined;
  size_t start = 0;
  while (start < output.size()) {
    size_t end = output.find('\n', start);
    if (end == std::string::npos) end = output.size();
    std::string line = output.substr(start, end - start);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) joined += (joined.empty() ? "" : "; ") + line;
    start = end + 1;
  }
  return joined.empty() ? "(no output)" : Printable(joined, 400);
}

std::string Join(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

class IpmiPower : public PowerController {
 public:
  IpmiPower(PowerOptions o, CommandRunner runner) : o_(std::move(o)), run_(std::move(runner)) {}

  std::string driver() const override { return "ipmi"; }

  Status PowerOn(const PowerHost& host) override {
    VSL_RETURN_IF_ERROR(HasBmc(host));
    if (host.bmc.bootdev != "none" && !host.bmc.bootdev.empty()) {
      // ipmitool exits 0 even when the BMC refuses a boot parameter; its
      // "Set Boot Device to X" line is the only sign that it took.
      VSL_ASSIGN_OR_RETURN(std::string out, Ipmi(host, {"chassis", "bootdev", host.bmc.bootdev}));
      if (out.find("Set Boot Device to") == std::string::npos) {
        return Failure(host, {"chassis", "bootdev", host.bmc.bootdev}, 0, out);
      }
    }
    VSL_RETURN_IF_ERROR(Ipmi(host, {"chassis", "power", "on"}).status());
    std::lock_guard<std::mutex> l(mu_);
    on_.insert(host.name);
    return Status::Ok();
  }

  Status PowerOff(const std::string& name) override {
    VSL_ASSIGN_OR_RETURN(PowerHost host, Lookup(name));
    VSL_RETURN_IF_ERROR(HasBmc(host));
    VSL_RETURN_IF_ERROR(Ipmi(host, {"chassis", "power", "off"}).status());
    std::lock_guard<std::mutex> l(mu_);
    on_.erase(name);
    return Status::Ok();
  }

  Status PowerCycle(const PowerHost& host) override {
    VSL_RETURN_IF_ERROR(HasBmc(host));
    VSL_RETURN_IF_ERROR(Ipmi(host, {"chassis", "power", "cycle"}).status());
    std::lock_guard<std::mutex> l(mu_);
    on_.insert(host.name);
    return Status::Ok();
  }

  // Asks the BMC; a BMC that cannot be asked counts as off.
  bool IsOn(const std::string& name) override {
    auto host = Lookup(name);
    if (!host.ok() || host->bmc.address.empty()) return false;
    auto out = Ipmi(*host, {"chassis", "power", "status"});
    return out.ok() && out->find("Chassis Power is on") != std::string::npos;
  }

  std::vector<std::string> Running() override {
    std::lock_guard<std::mutex> l(mu_);
    return {on_.begin(), on_.end()};
  }

  std::string ConsolePath(const std::string&) const override { return ""; }

  // Servers outlive `vsl serve`: their disks are served again at its next
  // start, and a farm's destroy powers them off.
  void PowerOffAll() override {}

 private:
  Result<PowerHost> Lookup(const std::string& name) {
    if (!o_.lookup) return Internal("power driver ipmi has no way to look host '" + name + "' up");
    return o_.lookup(name);
  }

  static Status HasBmc(const PowerHost& host) {
    if (!host.bmc.address.empty()) return Status::Ok();
    return FailedPrecondition("host '" + host.name + "' has no BMC, and the power driver is ipmi; give it one: vsl host bmc " +
                              host.name + " --bmc ADDR[:PORT] --bmc-user USER --bmc-password-file FILE");
  }

  static std::string BmcName(const BmcAccess& bmc) {
    std::string addr = bmc.address.find(':') != std::string::npos ? "[" + bmc.address + "]" : bmc.address;
    return addr + ":" + std::to_string(bmc.port) + (bmc.user.empty() ? "" : " as user '" + Printable(bmc.user) + "'");
  }

  static Status Failure(const PowerHost& host, const std::vector<std::string>& command, int exit_code,
                        const std::string& output) {
    return Unavailable("host '" + host.name + "': BMC " + BmcName(host.bmc) + ": ipmitool " + Join(command) +
                       " failed (exit " + std::to_string(exit_code) + "): " + OneLine(output) +
                       " (check the host's BMC address, user and password: vsl host show " + host.name + ")");
  }

  // Runs one ipmitool command; its output when it exited 0.
  Result<std::string> Ipmi(const PowerHost& host, const std::vector<std::string>& command) {
    std::vector<std::string> inherited;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) inherited.emplace_back(*e);
    auto r = run_(IpmitoolArgs(o_, host.bmc, command), IpmitoolEnv(host.bmc, inherited), o_.ipmi_timeout_ms);
    if (!r.ok()) {
      return Unavailable("host '" + host.name + "': BMC " + BmcName(host.bmc) + ": ipmitool " + Join(command) + ": " +
                         r.status().message());
    }
    if (r->exit_code != 0) return Failure(host, command, r->exit_code, r->output);
    return std::move(r->output);
  }

  const PowerOptions o_;
  const CommandRunner run_;
  std::mutex mu_;
  std::set<std::string> on_;  // guarded by mu_; hosts this process powered on
};

}  // namespace

std::vector<std::string> IpmitoolArgs(const PowerOptions& options, const BmcAccess& bmc,
                                      const std::vector<std::string>& command) {
  std::vector<std::string> args = {options.ipmitool, "-I", "lanplus", "-H", bmc.address,
                                   "-p", std::to_string(bmc.port)};
  if (!bmc.user.empty()) args.insert(args.end(), {"-U", bmc.user});
  if (options.ipmi_cipher >= 0) args.insert(args.end(), {"-C", std::to_string(options.ipmi_cipher)});
  args.push_back("-E");
  args.insert(args.end(), command.begin(), command.end());
  return args;
}

std::vector<std::string> IpmitoolEnv(const BmcAccess& bmc, const std::vector<std::string>& inherited) {
  std::vector<std::string> env;
  for (const std::string& e : inherited) {
    if (e.rfind("IPMI_PASSWORD=", 0) == 0 || e.rfind("IPMITOOL_PASSWORD=", 0) == 0) continue;
    env.push_back(e);
  }
  env.push_back("IPMI_PASSWORD=" + bmc.password);
  return env;
}

Result<CommandResult> RunCommand(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                                 int timeout_ms) {
  if (argv.empty()) return InvalidArgument("no command to run");
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("pipe", errno);
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  // Nothing else of `vsl serve` (sockets, volume files) reaches ipmitool.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_init(&attr);
  // `vsl serve` blocks SIGTERM/SIGINT and ignores SIGPIPE; the child must not.
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> a = argv, e = env;
  std::vector<char*> cargv, cenv;
  for (auto& s : a) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  for (auto& s : e) cenv.push_back(s.data());
  cenv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, cargv[0], &actions, &attr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return ErrnoError("starting " + argv[0], rc);
  }
  CommandResult result;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  bool timed_out = false;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    ssize_t got = read(fds[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // EOF: the child (and anything it started) closed its output
    if (result.output.size() < 65536) result.output.append(buf, static_cast<size_t>(got));
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return Unavailable(argv[0] + " did not finish within " + std::to_string(timeout_ms / 1000) + " s; killed");
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

Result<std::unique_ptr<PowerController>> MakeIpmiPower(const PowerOptions& options, CommandRunner runner) {
  if (!options.lookup) return InvalidArgument("power driver ipmi needs the catalog to find hosts' BMCs");
  if (options.ipmitool.empty()) return InvalidArgument("power driver ipmi: no ipmitool binary given");
  if (options.ipmi_cipher > 17) {
    return InvalidArgument("IPMI cipher suite " + std::to_string(options.ipmi_cipher) + " does not exist (0 to 17)");
  }
  if (!runner) runner = RunCommand;
  return std::unique_ptr<PowerController>(new IpmiPower(options, std::move(runner)));
}

}  // namespace vsl::farm
