// Helpers for tests of arrays and of what runs on them (manager, farm).
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>

#include "array/array.h"

namespace vsl::array::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/vsl-array-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A file array's spec: NAME in directory PATH, CAPACITY bytes, carved now
// into volumes of VOLUME_SIZE (0: cut on demand), with QUALITIES.
inline ArraySpec FileSpec(std::string name, std::string path, uint64_t capacity,
                          uint64_t volume_size = 0, Qualities qualities = {}) {
  ArraySpec spec;
  spec.name = std::move(name);
  spec.driver = "file";
  spec.path = std::move(path);
  spec.capacity = capacity;
  spec.volume_size = volume_size;
  spec.qualities = std::move(qualities);
  return spec;
}

}  // namespace vsl::array::testing
