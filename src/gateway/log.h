// The gateway's log: one line per login, logout and failure, written by
// util/log.h (component "gateway"; text to stderr, or JSON lines).
#pragma once

#include <spdlog/spdlog.h>

#include "util/log.h"

#include <cstdint>
#include <string>
#include <utility>

namespace vsl::gateway {

spdlog::logger& Log();

// Lines a second LogLimited writes for one key; the rest are counted.
inline constexpr int kLogLinesPerSecond = 5;

// Whether a line of category `key` may be logged now (at most
// kLogLinesPerSecond a second per key). When it may, *suppressed is the number
// of lines of that key dropped since the last one logged. Thread-safe.
bool LogAllowed(const std::string& key, uint64_t* suppressed);

// A line that an unauthenticated peer can cause at will (refused connection,
// failed login, malformed PDU): logged at most kLogLinesPerSecond times a
// second per `key`, so a flood can't fill the disk or starve the loop;
// the next line logged says how many were suppressed.
template <typename... Args>
void LogLimited(spdlog::level::level_enum level, const std::string& key,
                spdlog::format_string_t<Args...> format, Args&&... args) {
  uint64_t suppressed = 0;
  if (!LogAllowed(key, &suppressed)) return;
  std::string line = spdlog::fmt_lib::format(format, std::forward<Args>(args)...);
  if (suppressed > 0) {
    Log().log(level, "{} (suppressed {} similar)", line, suppressed);
  } else {
    Log().log(level, "{}", line);
  }
}

}  // namespace vsl::gateway
