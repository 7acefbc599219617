#include "cli/farm_body.h"

#include "fml/fml.h"
#include "util/names.h"
#include "util/utf8.h"

namespace vsl::cli {

Result<nlohmann::json> FarmRequestBody(std::string_view text, std::string_view file, std::string_view name) {
  // The file name starts every message, so it must be printable JSON too.
  const std::string shown = IsValidUtf8(file) ? std::string(file) : Printable(file, file.size());
  VSL_RETURN_IF_ERROR(fml::CheckEncoding(text, shown));
  nlohmann::json body = {{"fml", std::string(text)}, {"file", shown}};
  if (!name.empty()) {
    VSL_RETURN_IF_ERROR(CheckName("farm name (--name)", name));
    body["name"] = std::string(name);
  }
  return body;
}

}  // namespace vsl::cli
