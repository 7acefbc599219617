// Listener: the gateway's listening TCP socket. Accepts on its loop and hands
// each new non-blocking connection to a callback.
#pragma once

#include <sys/socket.h>

#include <chrono>
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
  // Resumes accepting after a pause (see OnEvents). The loop's tick; loop thread.
  void Tick(std::chrono::steady_clock::time_point now);

 private:
  Listener(int fd, std::string address);
  void OnEvents(uint32_t events) override;
  // Out of descriptors (EMFILE/ENFILE) or memory: the pending connection is
  // taken off the queue with the spare descriptor and closed at once (else
  // the level-triggered listener would wake the loop without end), and
  // accepting pauses until the next tick so the loop keeps serving the
  // sessions it has.
  void Shed(int err);

  int fd_;
  int spare_fd_ = -1;  // /dev/null, held so one accept can succeed when out of descriptors
  bool paused_ = false;
  std::chrono::steady_clock::time_point resume_at_;
  std::string address_;
  Poller* poller_ = nullptr;
  OnAccept on_accept_;
};

}  // namespace vsl::gateway
