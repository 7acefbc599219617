// The gateway's log: one line per login, logout and failure, to stderr.
#pragma once

#include <spdlog/spdlog.h>

namespace vsl::gateway {

spdlog::logger& Log();

}  // namespace vsl::gateway
