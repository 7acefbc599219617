// ParseFile: the only I/O in src/fml.
#include <cerrno>
#include <fstream>
#include <sstream>

#include "fml/fml.h"

namespace vsl::fml {

Result<FarmSpec> ParseFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError("cannot open FML file " + path, errno);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return ErrnoError("cannot read FML file " + path, errno);
  return Parse(text.str(), path);
}

}  // namespace vsl::fml
