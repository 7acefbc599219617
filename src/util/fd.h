// An owned file descriptor: closed when it goes, movable, not copyable.
#pragma once

#include <string>

#include "util/status.h"

namespace vsl::util {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives the descriptor up without closing it.
  int release();
  // close(2)'s result, naming `path`: a close can report a failed write-back.
  Status Close(const std::string& path);

 private:
  int fd_ = -1;
};

}  // namespace vsl::util
