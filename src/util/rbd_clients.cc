#include "util/rbd_clients.h"

#include "util/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

namespace vsl::util {
namespace {

std::mutex log_mu;
std::string& LogPath() {
  static auto* p = new std::string;  // guarded by log_mu
  return *p;
}

}  // namespace

void SetRbdClientLog(const std::string& path) {
  std::lock_guard l(log_mu);
  LogPath() = path;
}

std::string RbdAddrNonce(const std::string& addr) {
  // The first address of a vector: its nonce is the entity's.
  std::string a = addr;
  if (!a.empty() && a.front() == '[') a = a.substr(1);
  a = a.substr(0, a.find_first_of(",]"));
  size_t slash = a.rfind('/');
  if (slash == std::string::npos || slash + 1 >= a.size()) return {};
  std::string nonce = a.substr(slash + 1);
  if (nonce.find_first_not_of("0123456789") != std::string::npos) return {};
  return nonce;
}

void NoteRbdClient(const std::string& fsid, const std::string& addrs) {
  std::string nonce = RbdAddrNonce(addrs);
  if (fsid.empty() || nonce.empty()) return;
  std::string line = fsid + " " + nonce + " " + addrs + "\n";
  std::lock_guard l(log_mu);
  if (LogPath().empty()) return;
  int fd = ::open(LogPath().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    Logger("rbd", TextStyle::kCommand).error("cannot note Ceph client {} in {}: {}", addrs, LogPath(), strerror(errno));
    return;
  }
  // One write of one short line: appended whole.
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    Logger("rbd", TextStyle::kCommand).error("cannot note Ceph client {} in {}: {}", addrs, LogPath(), strerror(errno));
  }
  ::close(fd);
}

Result<std::vector<RbdClient>> ReadRbdClientLog(const std::string& path) {
  std::vector<RbdClient> out;
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return out;
    return ErrnoError("reading " + path, errno);
  }
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    RbdClient c;
    if (!(f >> c.fsid >> c.nonce >> c.addr)) continue;  // a torn last line
    bool seen = false;
    for (const RbdClient& o : out) seen = seen || (o.fsid == c.fsid && o.nonce == c.nonce);
    if (!seen) out.push_back(std::move(c));
  }
  return out;
}

Status WriteRbdClientLog(const std::string& path, const std::vector<RbdClient>& clients) {
  if (clients.empty()) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("removing " + path, errno);
    return Status::Ok();
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (const RbdClient& c : clients) out << c.fsid << ' ' << c.nonce << ' ' << c.addr << '\n';
    out.close();
    if (!out) return ErrnoError("writing " + tmp, errno);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError("renaming " + tmp, errno);
  return Status::Ok();
}

}  // namespace vsl::util
