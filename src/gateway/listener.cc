#include "gateway/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>

#include "gateway/log.h"

namespace vsl::gateway {

Result<Listener::Address> Listener::ParseAddress(const std::string& listen) {
  Address a;
  std::string host, port;
  if (!listen.empty() && listen[0] == '[') {
    size_t close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return InvalidArgument("listen address \"" + listen + "\" is not \"[addr]:port\"");
    }
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    size_t colon = listen.rfind(':');
    if (colon == std::string::npos) return InvalidArgument("listen address \"" + listen + "\" has no port");
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535) {
    return InvalidArgument("listen address \"" + listen + "\": bad port");
  }
  uint16_t p = uint16_t(std::stoul(port));
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(p);
    a.length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(p);
    a.length = sizeof(sockaddr_in6);
  } else {
    return InvalidArgument("listen address \"" + listen + "\": \"" + host + "\" is not an IP address");
  }
  return a;
}

std::string Listener::FormatAddress(const sockaddr* addr) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (addr->sa_family == AF_INET) {
    auto* v4 = reinterpret_cast<const sockaddr_in*>(addr);
    inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(ntohs(v4->sin_port));
  }
  if (addr->sa_family == AF_INET6) {
    auto* v6 = reinterpret_cast<const sockaddr_in6*>(addr);
    inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(v6->sin6_port));
  }
  return "?";
}

Result<std::unique_ptr<Listener>> Listener::Open(const std::string& listen) {
  VSL_ASSIGN_OR_RETURN(Address a, ParseAddress(listen));
  int fd = socket(a.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError("socket", errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a.storage), a.length) != 0) {
    int err = errno;
    close(fd);
    return ErrnoError("bind " + listen, err);
  }
  if (::listen(fd, 1024) != 0) {
    int err = errno;
    close(fd);
    return ErrnoError("listen " + listen, err);
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  return std::unique_ptr<Listener>(new Listener(fd, FormatAddress(reinterpret_cast<sockaddr*>(&bound))));
}

Listener::Listener(int fd, std::string address) : fd_(fd), address_(std::move(address)) {
  spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

Listener::~Listener() {
  if (fd_ >= 0) close(fd_);
  if (spare_fd_ >= 0) close(spare_fd_);
}

Status Listener::Attach(Poller* poller, OnAccept on_accept) {
  poller_ = poller;
  on_accept_ = std::move(on_accept);
  return poller_->Add(fd_, Poller::kReadable, this);
}

void Listener::Detach() {
  if (poller_ && !paused_) poller_->Remove(fd_);
  poller_ = nullptr;
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void Listener::OnEvents(uint32_t) {
  for (int i = 0; i < 256 && fd_ >= 0; ++i) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int fd = accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) Shed(errno);
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    on_accept_(fd, FormatAddress(reinterpret_cast<sockaddr*>(&peer)));
  }
}

void Listener::Shed(int err) {
  LogLimited(spdlog::level::warn, "accept", "accept: {}; refusing new connections for a moment",
             strerror(err));
  if ((err == EMFILE || err == ENFILE) && spare_fd_ >= 0) {
    ::close(spare_fd_);
    int fd = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) ::close(fd);
    spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  if (!paused_ && poller_) {
    poller_->Remove(fd_);
    paused_ = true;
  }
  resume_at_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
}

void Listener::Tick(std::chrono::steady_clock::time_point now) {
  if (!paused_ || fd_ < 0 || !poller_ || now < resume_at_) return;
  Status s = poller_->Add(fd_, Poller::kReadable, this);
  if (!s.ok()) {
    LogLimited(spdlog::level::err, "accept", "listener: {}", s.ToString());
    resume_at_ = now + std::chrono::seconds(1);
    return;
  }
  paused_ = false;
}

}  // namespace vsl::gateway
