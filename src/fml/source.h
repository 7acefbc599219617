// Source: an FML text and its name, for turning byte offsets into places.
//
// pugixml reports byte offsets of nodes (not of attributes) into the buffer it
// parsed; Source maps them to file:line:column and finds attributes inside a
// start tag. Internal to src/fml.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fml/fml.h"
#include "util/status.h"

namespace vsl::fml {

class Source {
 public:
  // "text" must outlive the Source.
  Source(std::string_view text, std::string_view file);

  std::string_view text() const { return text_; }
  const std::string& file() const { return file_; }

  Loc LocAt(size_t offset) const;
  // "file:line:column"
  std::string Where(Loc loc) const;

  // The offset of attribute `name` in the start tag whose element name begins
  // at `name_offset`; `name_offset` itself when it is not found.
  size_t AttributeOffset(size_t name_offset, std::string_view name) const;
  // The first offset at or after `offset` that is not XML white space.
  size_t SkipSpace(size_t offset) const;

 private:
  std::string_view text_;
  std::string file_;
  std::vector<size_t> line_starts_;
};

// Diagnostics collects errors and turns them into one Status, sorted by place:
// "file:line:column: message" lines.
class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}
  void Add(Loc loc, std::string message);
  bool empty() const { return errors_.empty(); }
  Status ToStatus() const;

 private:
  struct Error {
    Loc loc;
    std::string message;
  };
  std::string file_;
  std::vector<Error> errors_;
};

}  // namespace vsl::fml
