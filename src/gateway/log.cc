#include "gateway/log.h"

#include <spdlog/sinks/stdout_sinks.h>

namespace vsl::gateway {

spdlog::logger& Log() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::get("gateway");
    if (!l) l = spdlog::stderr_logger_mt("gateway");
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%e %L gateway: %v");
    return l;
  }();
  return *logger;
}

}  // namespace vsl::gateway
