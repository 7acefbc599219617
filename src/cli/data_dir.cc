#include "cli/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "api/api.h"

namespace vsl::cli {

Result<int> LockDataDir(const std::string& dir) {
  std::string path = dir + "/serve.lock";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoError("opening " + path, errno);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char buf[32] = {};
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("?");
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    if (err != EWOULDBLOCK) return ErrnoError("locking " + path, err);
    return FailedPrecondition("data directory " + dir + " is in use by another vsl serve (pid " + holder +
                              ", lock " + path + "); stop it first, or give this one another --data");
  }
  std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    int err = errno;
    close(fd);
    return ErrnoError("writing " + path, err);
  }
  return fd;
}

Result<std::string> NodeId(const std::string& dir) {
  std::string path = dir + "/node-id";
  {
    std::ifstream in(path);
    std::string id;
    if (in && std::getline(in, id) && !id.empty()) return id;
  }
  VSL_ASSIGN_OR_RETURN(std::string id, api::RandomHex(8));
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << id << "\n";
    if (!out) return ErrnoError("writing " + tmp, errno);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError("renaming " + tmp, errno);
  return id;
}

}  // namespace vsl::cli
