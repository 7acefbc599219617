#include "gateway_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

extern char** environ;

namespace vsl::e2e {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kStartTimeout = std::chrono::seconds(10);
constexpr auto kStopTimeout = std::chrono::seconds(10);

bool WriteFilled(const std::string& path, uint64_t size, uint8_t fill) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return false;
  std::vector<uint8_t> chunk(64 * 1024, fill);
  uint64_t done = 0;
  bool ok = true;
  while (ok && done < size) {
    size_t n = size_t(std::min<uint64_t>(chunk.size(), size - done));
    ok = ::pwrite(fd, chunk.data(), n, off_t(done)) == ssize_t(n);
    done += n;
  }
  return ::close(fd) == 0 && ok;
}

bool CanConnect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

std::string TargetName(const std::string& host) {
  return std::string(kIqnPrefix) + ":" + host;
}

FarmSpec StandardFarm() {
  using namespace farm;
  FarmSpec f;
  // Each file has slack before and after its extent, filled with its marker,
  // so a write that lands at the wrong offset shows.
  f.files = {{"a.img", 4096 + 65536 + 4096, 0xA1},
             {"b.img", 131072 + 4096, 0xB2},
             {"c.img", 8192 + 65536 + 4096, 0xC3},
             {"shared.img", 1 << 20, 0x5E},
             {"web2.img", 1 << 20, 0x22},
             {"open.img", 1 << 20, 0x0F}};
  HostSpec web1;
  web1.name = "web1";
  web1.initiators = {kWeb1Initiator};
  web1.has_chap = true;
  web1.chap = {kWeb1User, kWeb1Secret};
  web1.has_mutual_chap = true;
  web1.mutual_chap = {kWeb1TargetUser, kWeb1TargetSecret};
  web1.luns = {{0, false, {{"a.img", 4096, 65536}, {"b.img", 0, 131072}, {"c.img", 8192, 65536}}},
               {3, false, {{"shared.img", 0, 1 << 20}}}};
  HostSpec web2;
  web2.name = "web2";
  web2.initiators = {kWeb2InitiatorA, kWeb2InitiatorB};
  web2.has_chap = true;
  web2.chap = {kWeb2User, kWeb2Secret};
  web2.luns = {{0, false, {{"web2.img", 0, 1 << 20}}}, {5, false, {{"shared.img", 0, 1 << 20}}}};
  HostSpec open;
  open.name = "open";
  open.initiators = {kOpenInitiator};
  open.allow_no_auth = true;
  open.luns = {{0, false, {{"open.img", 0, 1 << 20}}}};
  f.hosts = {web1, web2, open};
  return f;
}

int PickFreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

GatewayProcess::~GatewayProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (dir_.empty()) return;
  if (std::getenv("VSL_E2E_KEEP") != nullptr) {  // for debugging a failure by hand
    std::fprintf(stderr, "vsl e2e: kept %s\n", dir_.c_str());
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string GatewayProcess::portal() const {
  return "127.0.0.1:" + std::to_string(port_);
}

std::string GatewayProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<uint8_t> GatewayProcess::ReadFile(const std::string& name, uint64_t offset,
                                              uint64_t length) const {
  std::vector<uint8_t> out(length);
  int fd = ::open(FilePath(name).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  ssize_t n = ::pread(fd, out.data(), length, off_t(offset));
  ::close(fd);
  out.resize(n < 0 ? 0 : size_t(n));
  return out;
}

uint64_t GatewayProcess::FileSize(const std::string& name) const {
  std::error_code ec;
  auto size = std::filesystem::file_size(FilePath(name), ec);
  return ec ? 0 : size;
}

uint64_t GatewayProcess::AllocatedBytes(const std::string& name) const {
  struct stat st {};
  if (::stat(FilePath(name).c_str(), &st) != 0) return 0;
  return uint64_t(st.st_blocks) * 512;
}

bool GatewayProcess::CanPunchHoles() const {
  std::string probe = dir_ + "/punch-probe";
  bool ok = WriteFilled(probe, 65536, 1);
  int fd = ::open(probe.c_str(), O_RDWR | O_CLOEXEC);
  ok = ok && fd >= 0 &&
       ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 32768) == 0;
  if (fd >= 0) ::close(fd);
  ::unlink(probe.c_str());
  return ok;
}

bool GatewayProcess::WriteConfig(const FarmSpec& farm, std::string* error) {
  using nlohmann::json;
  json hosts = json::array();
  for (const HostSpec& h : farm.hosts) {
    json host = {{"name", h.name}};
    if (h.initiators.size() == 1) {
      host["initiator"] = h.initiators[0];
    } else {
      host["initiators"] = h.initiators;
    }
    if (h.has_chap) host["chap"] = {{"user", h.chap.user}, {"secret", h.chap.secret}};
    if (h.has_mutual_chap) {
      host["mutual_chap"] = {{"user", h.mutual_chap.user}, {"secret", h.mutual_chap.secret}};
    }
    if (h.allow_no_auth) host["allow_no_auth"] = true;
    json luns = json::array();
    for (const LunSpec& l : h.luns) {
      json extents = json::array();
      for (const ExtentSpec& e : l.extents) {
        extents.push_back({{"path", FilePath(e.file)}, {"offset", e.offset}, {"length", e.length}});
      }
      luns.push_back({{"lun", l.lun}, {"read_only", l.read_only}, {"extents", extents}});
    }
    host["luns"] = luns;
    hosts.push_back(host);
  }
  json config = {{"listen", portal()}, {"iqn_prefix", kIqnPrefix}, {"hosts", hosts}};
  for (const auto& [key, value] : farm.options) config[key] = value;
  std::ofstream out(config_path_, std::ios::trunc);
  out << config.dump(2) << "\n";
  out.close();
  if (!out) {
    *error = "cannot write config " + config_path_;
    return false;
  }
  return true;
}

bool GatewayProcess::Start(const FarmSpec& farm, std::string* error) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/vsl-e2e-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    *error = "mkdtemp " + pattern + ": " + std::strerror(errno);
    return false;
  }
  dir_ = pattern;
  config_path_ = dir_ + "/gateway.json";
  log_path_ = dir_ + "/gateway.log";
  for (const FileSpec& f : farm.files) {
    if (!WriteFilled(FilePath(f.name), f.size, f.fill)) {
      *error = "cannot create backing file " + FilePath(f.name);
      return false;
    }
  }
  // The port is picked here and released before vsl binds it; another process
  // may take it in between, so a start that fails is retried on a new port.
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = PickFreePort();
    if (port_ == 0) {
      *error = "no free port";
      return false;
    }
    if (!WriteConfig(farm, error) || !Spawn(error)) return false;
    if (WaitReady(error)) return true;
    if (pid_ > 0) return false;  // running but not listening: not a port race
  }
  return false;
}

bool GatewayProcess::Restart(std::string* error) {
  if (!Stop(error)) return false;
  if (!Spawn(error)) return false;
  return WaitReady(error);
}

bool GatewayProcess::Spawn(std::string* error) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  // VSL_E2E_BIN runs the suites against another build (e.g. the code
  // before a fix, to see a new test fail there).
  const char* other = std::getenv("VSL_E2E_BIN");
  std::string bin = other && *other ? other : VSL_BIN;
  std::vector<char*> argv = {bin.data(), const_cast<char*>("gateway"),
                             const_cast<char*>("--config"), config_path_.data(), nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, bin.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    *error = "cannot start " + bin + ": " + std::strerror(rc);
    return false;
  }
  pid_ = pid;
  return true;
}

bool GatewayProcess::WaitReady(std::string* error) {
  auto deadline = Clock::now() + kStartTimeout;
  while (Clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      *error = "vsl gateway exited during start (status " + std::to_string(status) +
               "); output:\n" + Log();
      return false;
    }
    if (CanConnect(port_)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  *error = "vsl gateway did not accept connections on " + portal() +
           " within 10 s; output:\n" + Log();
  return false;
}

bool GatewayProcess::Stop(std::string* error) {
  if (pid_ <= 0) {
    *error = "vsl gateway is not running";
    return false;
  }
  ::kill(pid_, SIGTERM);
  auto deadline = Clock::now() + kStopTimeout;
  int status = 0;
  pid_t got = 0;
  while ((got = ::waitpid(pid_, &status, WNOHANG)) == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (got != pid_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    *error = "vsl gateway did not exit within 10 s of SIGTERM; output:\n" + Log();
    return false;
  }
  pid_ = -1;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  std::ostringstream ss;
  if (WIFEXITED(status)) {
    ss << "vsl gateway exited with status " << WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    ss << "vsl gateway was killed by signal " << WTERMSIG(status);
  }
  *error = ss.str() + " after SIGTERM; output:\n" + Log();
  return false;
}

}  // namespace vsl::e2e
