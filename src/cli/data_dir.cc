#include "cli/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "api/api.h"

namespace vsl::cli {
namespace {

namespace fs = std::filesystem;

constexpr mode_t kOpenBits = S_IRWXG | S_IRWXO;

// The files that carry secrets: refused, never repaired, when open.
constexpr const char* kSecretFiles[] = {"catalog.db", "catalog.db-wal", "catalog.db-shm", "catalog.db-journal",
                                        "admin.token"};

std::string Octal(mode_t mode) {
  char buf[8];
  snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Takes group/other bits off everything below `dir` except the secret files
// (checked by the caller). Symbolic links are not followed.
Status TightenTree(const std::string& dir) {
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec);
  if (ec) return IoError("listing " + dir + ": " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return IoError("listing " + dir + ": " + ec.message());
    struct stat st;
    if (lstat(it->path().c_str(), &st) != 0) continue;  // vanished meanwhile
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) continue;
    if ((st.st_mode & kOpenBits) == 0) continue;
    if (chmod(it->path().c_str(), st.st_mode & 07700) != 0) {
      return ErrnoError("chmod go-rwx " + it->path().string(), errno);
    }
  }
  return Status::Ok();
}

}  // namespace

Status SecureDataDir(const std::string& dir) {
  umask(077);
  std::error_code ec;
  bool existed = fs::exists(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) return IoError("creating " + dir + ": " + ec.message());
  bool holds_secrets = false;
  for (const char* name : kSecretFiles) {
    std::string path = dir + "/" + name;
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) continue;
    holds_secrets = true;
    if ((st.st_mode & kOpenBits) != 0) {
      return FailedPrecondition(path + " is mode " + Octal(st.st_mode) +
                                ": other local users can read it (it holds " +
                                (std::string(name) == "admin.token" ? "the admin token" : "every host's CHAP secret") +
                                "); vsl serve refuses to start. Fix: chmod 600 " + path +
                                " (and rotate the secrets if someone may have read them)");
    }
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) return ErrnoError("stat " + dir, errno);
  if ((st.st_mode & kOpenBits) != 0) {
    if (existed && holds_secrets) {
      return FailedPrecondition("data directory " + dir + " is mode " + Octal(st.st_mode) +
                                ": other local users can reach the catalog and the admin token in it; vsl serve "
                                "refuses to start. Fix: chmod 700 " + dir);
    }
    // A new (or still empty) data directory: ours to make private.
    if (chmod(dir.c_str(), 0700) != 0) return ErrnoError("chmod 700 " + dir, errno);
  }
  return TightenTree(dir);
}

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
