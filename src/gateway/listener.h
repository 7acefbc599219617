// Listener: the gateway's listening TCP socket. Accepts on its loop and hands
// each new non-blocking connection to a callback.
#pragma once

#include <sys/socket.h>

#include <functional>
#include <memory>
#include <string>

#include "gateway/poller.h"
#include "util/status.h"

namespace vsl::gateway {

class Listener : private Poller::Handler {
 public:
  struct Address {
    sockaddr_storage storage{};
    socklen_t length = 0;
  };
  // "127.0.0.1:3260", "[::1]:3260", "0.0.0.0:0".
  static Result<Address> ParseAddress(const std::string& listen);
  static std::string FormatAddress(const sockaddr* addr);

  // Binds and listens (port 0: the kernel picks one).
  static Result<std::unique_ptr<Listener>> Open(const std::string& listen);
  ~Listener() override;

  // The bound address, with the real port.
  std::string address() const { return address_; }

  using OnAccept = std::function<void(int fd, std::string peer)>;
  // Starts accepting on `poller`'s loop; Detach() stops. Loop thread only.
  Status Attach(Poller* poller, OnAccept on_accept);
  void Detach();

 private:
  Listener(int fd, std::string address) : fd_(fd), address_(std::move(address)) {}
  void OnEvents(uint32_t events) override;

  int fd_;
  std::string address_;
  Poller* poller_ = nullptr;
  OnAccept on_accept_;
};

}  // namespace vsl::gateway
