#include "gateway/listener.h"

#include <arpa/inet.h>
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

Listener::~Listener() {
  if (fd_ >= 0) close(fd_);
}

Status Listener::Attach(Poller* poller, OnAccept on_accept) {
  poller_ = poller;
  on_accept_ = std::move(on_accept);
  return poller_->Add(fd_, Poller::kReadable, this);
}

void Listener::Detach() {
  if (poller_) poller_->Remove(fd_);
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
      if (errno != EAGAIN && errno != EWOULDBLOCK) Log().warn("accept: {}", strerror(errno));
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    on_accept_(fd, FormatAddress(reinterpret_cast<sockaddr*>(&peer)));
  }
}

}  // namespace vsl::gateway
