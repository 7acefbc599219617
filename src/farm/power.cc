#include "farm/power.h"

#include "farm/power_ipmi.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace vsl::farm {

namespace {

// Remembers power state; starts nothing.
class NonePower : public PowerController {
 public:
  std::string driver() const override { return "none"; }
  Status PowerOn(const PowerHost& host) override {
    std::lock_guard<std::mutex> l(mu_);
    on_.insert(host.name);
    return Status::Ok();
  }
  Status PowerOff(const std::string& host) override {
    std::lock_guard<std::mutex> l(mu_);
    on_.erase(host);
    return Status::Ok();
  }
  bool IsOn(const std::string& host) override {
    std::lock_guard<std::mutex> l(mu_);
    return on_.count(host) > 0;
  }
  std::vector<std::string> Running() override {
    std::lock_guard<std::mutex> l(mu_);
    return {on_.begin(), on_.end()};
  }
  std::string ConsolePath(const std::string&) const override { return ""; }

 private:
  std::mutex mu_;
  std::set<std::string> on_;  // guarded by mu_
};

bool ValidHostName(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return s[0] != '.';
}

// QEMU's -iscsi option value is comma-separated; a comma in a value is doubled.
std::string QemuEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

class QemuPower : public PowerController {
 public:
  explicit QemuPower(PowerOptions o) : o_(std::move(o)) {}
  ~QemuPower() override { PowerOffAll(); }

  std::string driver() const override { return "qemu"; }

  Status PowerOn(const PowerHost& host) override {
    if (!ValidHostName(host.name)) return InvalidArgument("host name '" + host.name + "' cannot name a VM");
    std::lock_guard<std::mutex> l(mu_);
    auto it = vms_.find(host.name);
    if (it != vms_.end()) {
      if (waitpid(it->second, nullptr, WNOHANG) == 0) return Status::Ok();
      vms_.erase(it);
    }
    std::string dir = o_.data_dir + "/consoles";
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoError("mkdir " + dir, errno);
    std::vector<std::string> args = {o_.qemu, "-name", host.name, "-machine", "accel=kvm:tcg", "-m", "64",
                                     "-display", "none", "-no-user-config", "-nodefaults",
                                     "-serial", "file:" + ConsolePath(host.name)};
    std::string iscsi = "initiator-name=" + QemuEscape(host.initiator);
    if (!host.chap_secret.empty()) {
      iscsi += ",user=" + QemuEscape(host.chap_user.empty() ? host.name : host.chap_user) +
               ",password=" + QemuEscape(host.chap_secret);
    }
    args.insert(args.end(), {"-iscsi", iscsi});
    int index = 0;
    for (int lun : host.luns) {
      if (index >= 4) break;  // the IDE bus has four places
      args.insert(args.end(), {"-drive", "file=" + QemuEscape(HostLunUrl(o_, host.name, lun)) +
                                             ",if=ide,format=raw,index=" + std::to_string(index)});
      ++index;
    }
    args.insert(args.end(), {"-boot", "c"});
    std::string log = dir + "/" + host.name + ".qemu.log";
    pid_t pid = fork();
    if (pid < 0) return ErrnoError("fork for host " + host.name, errno);
    if (pid == 0) {
      // `vsl serve` blocks SIGTERM/SIGINT and ignores SIGPIPE; QEMU must not.
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      signal(SIGPIPE, SIG_DFL);
      setsid();
      FILE* f = freopen(log.c_str(), "w", stdout);
      if (f != nullptr) dup2(fileno(stdout), 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      _exit(127);
    }
    vms_[host.name] = pid;
    return Status::Ok();
  }

  Status PowerOff(const std::string& host) override {
    pid_t pid;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = vms_.find(host);
      if (it == vms_.end()) return Status::Ok();
      pid = it->second;
      vms_.erase(it);
    }
    kill(pid, SIGTERM);
    for (int i = 0; i < 50; ++i) {
      if (waitpid(pid, nullptr, WNOHANG) != 0) return Status::Ok();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return Status::Ok();
  }

  bool IsOn(const std::string& host) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = vms_.find(host);
    return it != vms_.end() && waitpid(it->second, nullptr, WNOHANG) == 0;
  }

  std::vector<std::string> Running() override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> out;
    for (const auto& [name, pid] : vms_) out.push_back(name);
    return out;
  }

  std::string ConsolePath(const std::string& host) const override {
    return o_.data_dir + "/consoles/" + host + ".log";
  }

 private:
  const PowerOptions o_;
  std::mutex mu_;
  std::map<std::string, pid_t> vms_;  // guarded by mu_
};

}  // namespace

std::string HostLunUrl(const PowerOptions& options, const std::string& host, int lun) {
  return "iscsi://" + options.iscsi_address + "/" + options.iqn_prefix + ":" + host + "/" + std::to_string(lun);
}

Result<std::unique_ptr<PowerController>> MakePowerController(const PowerOptions& options) {
  if (options.driver == "none" || options.driver.empty()) return std::unique_ptr<PowerController>(new NonePower);
  if (options.driver == "qemu") {
    if (options.data_dir.empty()) return InvalidArgument("power driver qemu needs a data directory for consoles");
    if (options.iscsi_address.empty()) return InvalidArgument("power driver qemu needs the gateway's iSCSI address");
    return std::unique_ptr<PowerController>(new QemuPower(options));
  }
  if (options.driver == "ipmi") return MakeIpmiPower(options);
  return InvalidArgument("unknown power driver '" + options.driver + "'; expected none, qemu or ipmi");
}

}  // namespace vsl::farm
