// Where image bytes wait for the manager's import-image request: files in
// DATA/uploads that only vsl serve names. An upload (PUT /v1/images/{name})
// and a file from the import directory (POST /v1/images {file}) are both
// copied here as they are read, hashed on the way (SHA-256), made durable and
// renamed into place; the import request then reads the staged copy, never a
// path a client named.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string>

#include "api/api.h"

namespace vsl::api {

class ImageStaging {
 public:
  // A new, empty DATA/uploads/upload-<random>.part (mode 0600, O_EXCL).
  static Result<std::unique_ptr<ImageStaging>> Create(const std::string& data_dir);
  // Removes the file unless Keep() was called after Commit().
  ~ImageStaging();
  ImageStaging(const ImageStaging&) = delete;
  ImageStaging& operator=(const ImageStaging&) = delete;

  // Writes the next bytes and adds them to the digest.
  Status Append(const char* data, size_t n);
  // fsync, rename .part -> .img, fsync the directory. path() is then the
  // final name; sha256() the lowercase hex digest of everything appended.
  Status Commit();
  // Leaves the committed file in place (an import request still needs it;
  // CleanStaging removes it once no request does).
  void Keep() { keep_ = true; }

  const std::string& path() const { return path_; }
  const std::string& sha256() const { return sha256_; }
  uint64_t size() const { return size_; }

 private:
  ImageStaging() = default;

  int fd_ = -1;
  std::string dir_;
  std::string path_;
  EVP_MD_CTX* md_ = nullptr;
  std::string sha256_;
  uint64_t size_ = 0;
  bool keep_ = false;
};

// Copies the regular file `fd` into `staging` (hashing it). `what` names the
// source in errors.
Status StageFromFd(int fd, const std::string& what, ImageStaging& staging);

// Opens `file` for reading only if it lies inside `import_dir` (a realpath):
// relative names are taken inside it; the name is resolved with realpath
// (so `..` and symbolic links pointing out are caught), checked to be inside,
// and opened with O_NOFOLLOW; it must be a regular file. PermissionDenied
// naming the path otherwise. Returns the descriptor; the caller closes it.
Result<int> OpenInImportDir(const std::string& import_dir, const std::string& file);

// At start: removes staged files no queued or running import-image request
// needs (uploads cut short by a crash). Returns how many were removed.
Result<int> CleanStaging(ApiContext& ctx);

}  // namespace vsl::api
