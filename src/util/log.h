// The one place every line of `vsl serve` (and of the gateway inside it) is
// written. A component ("serve", "gateway", ...) gets a spdlog logger; how its
// lines look is chosen once per process with SetLogFormat:
//
//  text (default): what an operator reads on a terminal. The gateway writes
//    "2026-11-30T03:42:22.123 I gateway: message" to stderr; serve writes
//    "vsl serve: message", information to stdout, warnings and errors to
//    stderr (scripts read those lines; keep them stable).
//  json: one JSON object per line on stderr, for the journal and log
//    shippers: {"time":"2026-11-30T03:42:22.123Z","level":"info",
//    "component":"gateway","message":"...", ...fields}. Fields are the
//    values a line is about (address, host, array, ...) under their own keys.
//
// Lines are written synchronously by the thread that logs and flushed at once.
#pragma once

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "util/status.h"

namespace vsl::util {

enum class LogFormat { kText, kJson };

// "text" or "json"; anything else is InvalidArgument naming the value.
Result<LogFormat> ParseLogFormat(std::string_view name);

// How every component's lines are written from now on. Call before the
// threads that log are started.
void SetLogFormat(LogFormat format);
LogFormat CurrentLogFormat();

// How a component's lines look in the text format.
enum class TextStyle {
  kStamped,  // "<time> <level letter> <component>: message", to stderr
  kCommand,  // "vsl <component>: message"; info to stdout, warnings to stderr
};

// The component's logger, made on first use (thread-safe). The style is the
// one given on that first call.
spdlog::logger& Logger(const std::string& component, TextStyle style = TextStyle::kStamped);

// Logs `message` with `fields` (a JSON object; written in the json format
// only: the text format's message says the same in words).
void LogEvent(spdlog::logger& logger, spdlog::level::level_enum level, std::string_view message,
              const nlohmann::json& fields = nlohmann::json::object());

}  // namespace vsl::util
