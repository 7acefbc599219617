#include "farm/power.h"

#include "farm/power_ipmi.h"

#include <fcntl.h>
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

// Writes `text` to `path` with mode 0600 (an existing file is replaced).
Status WritePrivateFile(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoError("open " + path, errno);
  Status st = Status::Ok();
  if (fchmod(fd, 0600) != 0) st = ErrnoError("chmod " + path, errno);
  size_t done = 0;
  while (st.ok() && done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) st = ErrnoError("write " + path, errno);
    else done += static_cast<size_t>(n);
  }
  if (close(fd) != 0 && st.ok()) st = ErrnoError("close " + path, errno);
  return st;
}

Status MakeDir(const std::string& dir, mode_t mode) {
  if (mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) return ErrnoError("mkdir " + dir, errno);
  return Status::Ok();
}

class QemuPower : public PowerController {
 public:
  QemuPower(PowerOptions o, bool firmware) : o_(std::move(o)), firmware_(firmware) {}
  ~QemuPower() override { PowerOffAll(); }

  std::string driver() const override { return firmware_ ? "qemu" : "qemu-direct"; }

  Status PowerOn(const PowerHost& host) override {
    if (!ValidHostName(host.name)) return InvalidArgument("host name '" + host.name + "' cannot name a VM");
    std::lock_guard<std::mutex> l(mu_);
    auto it = vms_.find(host.name);
    if (it != vms_.end()) {
      if (waitpid(it->second, nullptr, WNOHANG) == 0) return Status::Ok();
      vms_.erase(it);
    }
    std::string dir = o_.data_dir + "/consoles";
    VSL_RETURN_IF_ERROR(MakeDir(dir, 0755));
    std::vector<std::string> args = {o_.qemu, "-name", host.name, "-machine", "accel=" + o_.accel,
                                     "-m", std::to_string(o_.memory_mib), "-display", "none",
                                     "-no-user-config", "-nodefaults", "-serial", "file:" + ConsolePath(host.name)};
    if (firmware_) {
      VSL_RETURN_IF_ERROR(FirmwareArgs(host, args));
    } else {
      DirectArgs(host, args);
    }
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
  // QEMU's own initiator: LUN n is IDE disk n (the IDE bus has four places).
  void DirectArgs(const PowerHost& host, std::vector<std::string>& args) const {
    std::string iscsi = "initiator-name=" + QemuEscape(host.initiator);
    if (!host.chap_secret.empty()) {
      iscsi += ",user=" + QemuEscape(host.chap_user.empty() ? host.name : host.chap_user) +
               ",password=" + QemuEscape(host.chap_secret);
    }
    args.insert(args.end(), {"-iscsi", iscsi});
    int index = 0;
    for (int lun : host.luns) {
      if (index >= 4) break;
      args.insert(args.end(), {"-drive", "file=" + QemuEscape(HostLunUrl(o_, host.name, lun)) +
                                             ",if=ide,format=raw,index=" + std::to_string(index)});
      ++index;
    }
    args.insert(args.end(), {"-boot", "c"});
  }

  // The NIC's firmware: QEMU's user network answers DHCP and serves the
  // host's own directory over TFTP, whose boot.ipxe runs sanboot. SeaBIOS
  // copies the firmware's output to the serial console when told its port
  // (etc/sercon-port, two bytes); a failed boot ends the VM (reboot-timeout
  // with -no-reboot) rather than retrying forever.
  Status FirmwareArgs(const PowerHost& host, std::vector<std::string>& args) const {
    VSL_ASSIGN_OR_RETURN(std::string script, IpxeBootScript(o_, host));
    std::string boot = o_.data_dir + "/boot";
    std::string dir = boot + "/" + host.name;
    VSL_RETURN_IF_ERROR(MakeDir(boot, 0700));
    VSL_RETURN_IF_ERROR(MakeDir(dir, 0700));
    VSL_RETURN_IF_ERROR(WritePrivateFile(dir + "/boot.ipxe", script));
    std::string sercon = boot + "/sercon-port";
    VSL_RETURN_IF_ERROR(WritePrivateFile(sercon, std::string("\xf8\x03", 2)));
    args.insert(args.end(),
                {"-netdev", "user,id=n0,tftp=" + QemuEscape(dir) + ",bootfile=boot.ipxe", "-device",
                 "e1000,netdev=n0", "-boot", "order=n,reboot-timeout=1000", "-no-reboot", "-fw_cfg",
                 "name=etc/sercon-port,file=" + QemuEscape(sercon)});
    return Status::Ok();
  }

  const PowerOptions o_;
  const bool firmware_;
  std::mutex mu_;
  std::map<std::string, pid_t> vms_;  // guarded by mu_
};

}  // namespace

std::string HostLunUrl(const PowerOptions& options, const std::string& host, int lun) {
  return "iscsi://" + options.iscsi_address + "/" + options.iqn_prefix + ":" + host + "/" + std::to_string(lun);
}

namespace {

// A CHAP value iPXE's command line carries unchanged: printable ASCII without
// white space (the line is split at spaces) and without "${" (a setting's
// expansion).
Status CheckIpxeValue(const std::string& host, const char* what, const std::string& value) {
  bool ok = value.find("${") == std::string::npos;
  for (char c : value) ok = ok && c > ' ' && c < 0x7f;
  if (ok) return Status::Ok();
  return InvalidArgument("host " + host + ": its " + what +
                         " has a space, a non-ASCII character or \"${\", which an iPXE boot script cannot carry; "
                         "give the host another secret or use --power qemu-direct");
}

}  // namespace

Result<std::string> IpxeBootScript(const PowerOptions& options, const PowerHost& host) {
  // From inside QEMU's user network the machine's own loopback is 10.0.2.2;
  // any other address is reached through QEMU's NAT as it is.
  std::string address = options.iscsi_address;
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return InvalidArgument("iSCSI address '" + address + "' has no port");
  std::string ip = address.substr(0, colon), port = address.substr(colon + 1);
  if (ip == "0.0.0.0" || ip == "localhost" || ip.rfind("127.", 0) == 0) ip = "10.0.2.2";
  std::string user = host.chap_user.empty() ? host.name : host.chap_user;
  std::string s = "#!ipxe\n# vsl: boots host " + host.name + " from LUN 0 of its target (holds its CHAP secret)\n";
  VSL_RETURN_IF_ERROR(CheckIpxeValue(host.name, "initiator name", host.initiator));
  s += "set initiator-iqn " + host.initiator + "\n";
  if (!host.chap_secret.empty()) {
    VSL_RETURN_IF_ERROR(CheckIpxeValue(host.name, "CHAP user", user));
    VSL_RETURN_IF_ERROR(CheckIpxeValue(host.name, "CHAP secret", host.chap_secret));
    s += "set username " + user + "\nset password " + host.chap_secret + "\n";
    if (!host.mutual_secret.empty()) {
      VSL_RETURN_IF_ERROR(CheckIpxeValue(host.name, "mutual CHAP user", host.mutual_user));
      VSL_RETURN_IF_ERROR(CheckIpxeValue(host.name, "mutual CHAP secret", host.mutual_secret));
      s += "set reverse-username " + host.mutual_user + "\nset reverse-password " + host.mutual_secret + "\n";
    }
  }
  s += "sanboot iscsi:" + ip + "::" + port + ":0:" + options.iqn_prefix + ":" + host.name + "\n";
  return s;
}

bool DriverRunsVms(const std::string& driver) { return driver == "qemu" || driver == "qemu-direct"; }

Result<std::unique_ptr<PowerController>> MakePowerController(const PowerOptions& options) {
  if (options.driver == "none" || options.driver.empty()) return std::unique_ptr<PowerController>(new NonePower);
  if (DriverRunsVms(options.driver)) {
    if (options.data_dir.empty()) {
      return InvalidArgument("power driver " + options.driver + " needs a data directory for consoles");
    }
    if (options.iscsi_address.empty()) {
      return InvalidArgument("power driver " + options.driver + " needs the gateway's iSCSI address");
    }
    return std::unique_ptr<PowerController>(new QemuPower(options, options.driver == "qemu"));
  }
  if (options.driver == "ipmi") return MakeIpmiPower(options);
  return InvalidArgument("unknown power driver '" + options.driver + "'; expected none, qemu, qemu-direct or ipmi");
}

}  // namespace vsl::farm
