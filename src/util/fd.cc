#include "util/fd.h"

#include <unistd.h>

#include <cerrno>

namespace vsl::util {

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

int Fd::release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

Status Fd::Close(const std::string& path) {
  if (fd_ < 0) return Status::Ok();
  int rc = ::close(release());
  if (rc != 0) return ErrnoError(path + ": close", errno);
  return Status::Ok();
}

}  // namespace vsl::util
