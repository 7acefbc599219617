// The request body `vsl farm plan|apply FILE` sends: the FML text as it is on
// disk, checked first so that nothing that cannot travel as JSON (text that
// is not UTF-8) ever reaches nlohmann::json, and the user hears where the bad
// byte is instead of a crash.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "util/status.h"

namespace vsl::cli {

// {"fml": text, "file": file[, "name": name]}. InvalidArgument
// "file:line:column: ..." when the text is not UTF-8 or holds a control
// character (fml::CheckEncoding); InvalidArgument naming the farm name when
// `name` breaks the name rule. A file name that is not UTF-8 is sent with its
// odd bytes escaped (\xNN). The result's dump() never throws.
Result<nlohmann::json> FarmRequestBody(std::string_view text, std::string_view file, std::string_view name);

}  // namespace vsl::cli
