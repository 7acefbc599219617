#include "api/image_staging.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <set>
#include <vector>

#include "manager/storage_manager.h"

namespace vsl::api {
namespace {

std::string UploadsDir(const std::string& data_dir) { return data_dir + "/uploads"; }

Status FsyncPath(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("opening " + path, errno);
  int r = fsync(fd);
  int e = errno;
  close(fd);
  return r == 0 ? Status::Ok() : ErrnoError("fsync " + path, e);
}

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

Result<std::unique_ptr<ImageStaging>> ImageStaging::Create(const std::string& data_dir) {
  std::unique_ptr<ImageStaging> st(new ImageStaging());
  st->dir_ = UploadsDir(data_dir);
  if (mkdir(st->dir_.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoError("creating " + st->dir_, errno);
  VSL_ASSIGN_OR_RETURN(std::string id, RandomHex(12));
  st->path_ = st->dir_ + "/upload-" + id + ".part";
  st->fd_ = open(st->path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (st->fd_ < 0) return ErrnoError("creating " + st->path_, errno);
  st->md_ = EVP_MD_CTX_new();
  if (st->md_ == nullptr || EVP_DigestInit_ex(st->md_, EVP_sha256(), nullptr) != 1) {
    return Internal("OpenSSL: cannot start a SHA-256 digest");
  }
  return st;
}

ImageStaging::~ImageStaging() {
  if (fd_ >= 0) close(fd_);
  if (md_ != nullptr) EVP_MD_CTX_free(md_);
  if (!keep_ && !path_.empty()) unlink(path_.c_str());
}

Status ImageStaging::Append(const char* data, size_t n) {
  if (fd_ < 0) return FailedPrecondition("staged image " + path_ + " is closed");
  if (EVP_DigestUpdate(md_, data, n) != 1) return Internal("OpenSSL: SHA-256 update failed");
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(fd_, data + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return ErrnoError("writing " + path_ + " at byte " + std::to_string(size_ + done), errno);
    done += static_cast<size_t>(w);
  }
  size_ += n;
  return Status::Ok();
}

Status ImageStaging::Commit() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(md_, md, &len) != 1) return Internal("OpenSSL: SHA-256 final failed");
  static constexpr char kHex[] = "0123456789abcdef";
  sha256_.clear();
  for (unsigned i = 0; i < len; ++i) {
    sha256_.push_back(kHex[md[i] >> 4]);
    sha256_.push_back(kHex[md[i] & 15]);
  }
  if (fsync(fd_) != 0) return ErrnoError("fsync " + path_, errno);
  close(fd_);
  fd_ = -1;
  std::string final_path = path_.substr(0, path_.size() - 5) + ".img";
  if (rename(path_.c_str(), final_path.c_str()) != 0) return ErrnoError("renaming " + path_, errno);
  path_ = final_path;
  return FsyncPath(dir_);
}

Status StageFromFd(int fd, const std::string& what, ImageStaging& staging) {
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("reading " + what, errno);
    if (n == 0) return Status::Ok();
    VSL_RETURN_IF_ERROR(staging.Append(buf.data(), static_cast<size_t>(n)));
  }
}

Result<int> OpenInImportDir(const std::string& import_dir, const std::string& file) {
  if (import_dir.empty()) {
    return PermissionDenied(
        "field 'file': vsl serve reads no path a client names unless it runs with --import-dir DIR; "
        "upload the image instead (PUT /v1/images/{name}, `vsl image import NAME FILE`)");
  }
  if (file.find('\0') != std::string::npos) return InvalidArgument("field 'file': contains a NUL byte");
  std::string named = file[0] == '/' ? file : import_dir + "/" + file;
  char resolved[PATH_MAX];
  if (realpath(named.c_str(), resolved) == nullptr) {
    int e = errno;
    if (e == ENOENT || e == ENOTDIR) return NotFound("field 'file': no file '" + file + "' in the import directory");
    return ErrnoError("field 'file': '" + file + "' in the import directory", e);
  }
  std::string real = resolved;
  if (real.rfind(import_dir + "/", 0) != 0) {
    return PermissionDenied("field 'file': '" + file + "' resolves to " + real + ", outside the import directory " +
                            import_dir);
  }
  int fd = open(real.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return ErrnoError("field 'file': opening " + real, errno);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return InvalidArgument("field 'file': " + real + " is not a regular file");
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

Result<int> CleanStaging(ApiContext& ctx) {
  std::string dir = UploadsDir(ctx.data_dir);
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return errno == ENOENT ? Result<int>(0) : Result<int>(ErrnoError("listing " + dir, errno));
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (EndsWith(n, ".part") || EndsWith(n, ".img")) names.push_back(n);
  }
  closedir(d);
  std::set<std::string> needed;
  for (auto state : {catalog::RequestState::kQueued, catalog::RequestState::kRunning}) {
    catalog::RequestFilter f;
    f.state = state;
    f.op = "import-image";
    f.limit = 100000;
    VSL_ASSIGN_OR_RETURN(auto requests, ctx.manager->List(f));
    for (const auto& r : requests) {
      Json args = Json::parse(r.args, nullptr, false);
      if (args.is_object() && args.contains("file") && args["file"].is_string()) {
        needed.insert(args["file"].get<std::string>());
      }
    }
  }
  int removed = 0;
  for (const std::string& n : names) {
    std::string path = dir + "/" + n;
    if (needed.count(path) != 0) continue;
    if (unlink(path.c_str()) == 0) ++removed;
  }
  return removed;
}

}  // namespace vsl::api
