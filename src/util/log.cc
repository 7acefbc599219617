#include "util/log.h"

#include <spdlog/sinks/base_sink.h>
#include <time.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>

namespace vsl::util {
namespace {

using Json = nlohmann::json;

std::atomic<LogFormat> g_format{LogFormat::kText};

// The fields of the line being logged by this thread (LogEvent); loggers are
// synchronous, so the sink runs on the same thread before LogEvent returns.
thread_local const Json* t_fields = nullptr;

std::string Stamp(spdlog::log_clock::time_point t, bool utc) {
  auto since = t.time_since_epoch();
  time_t secs = std::chrono::duration_cast<std::chrono::seconds>(since).count();
  int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(since).count() % 1000);
  struct tm tm;
  if (utc) {
    gmtime_r(&secs, &tm);
  } else {
    localtime_r(&secs, &tm);
  }
  char buf[40];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof buf - n, ".%03d%s", ms, utc ? "Z" : "");
  return buf;
}

// One line per record, written with one fwrite (stdio locks the stream, so
// lines of several components never interleave) and flushed.
class LineSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  LineSink(std::string component, TextStyle style) : component_(std::move(component)), style_(style) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string_view text(msg.payload.data(), msg.payload.size());
    std::string line;
    FILE* out = stderr;
    if (g_format.load(std::memory_order_relaxed) == LogFormat::kJson) {
      nlohmann::ordered_json j = nlohmann::ordered_json::object();
      j["time"] = Stamp(msg.time, true);
      auto level = spdlog::level::to_string_view(msg.level);
      j["level"] = std::string(level.data(), level.size());
      j["component"] = component_;
      j["message"] = std::string(text);
      if (t_fields != nullptr && t_fields->is_object()) {
        for (const auto& [k, v] : t_fields->items()) {
          if (!j.contains(k)) j[k] = v;
        }
      }
      // Messages carry what peers sent (initiator names): never let a bad
      // byte cost the line.
      line = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    } else if (style_ == TextStyle::kCommand) {
      line = "vsl " + component_ + ": " + std::string(text);
      if (msg.level < spdlog::level::warn) out = stdout;
    } else {
      auto letter = spdlog::level::to_short_c_str(msg.level);
      line = Stamp(msg.time, false) + " " + letter + " " + component_ + ": " + std::string(text);
    }
    line += '\n';
    fwrite(line.data(), 1, line.size(), out);
    fflush(out);
  }
  void flush_() override {
    fflush(stdout);
    fflush(stderr);
  }

 private:
  const std::string component_;
  const TextStyle style_;
};

}  // namespace

Result<LogFormat> ParseLogFormat(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return InvalidArgument("log format '" + std::string(name) + "': expected text or json");
}

void SetLogFormat(LogFormat format) { g_format.store(format); }
LogFormat CurrentLogFormat() { return g_format.load(); }

spdlog::logger& Logger(const std::string& component, TextStyle style) {
  static std::mutex mu;
  static auto* loggers = new std::map<std::string, std::shared_ptr<spdlog::logger>>;  // guarded by mu
  std::lock_guard<std::mutex> l(mu);
  auto& slot = (*loggers)[component];
  if (!slot) {
    slot = std::make_shared<spdlog::logger>(component, std::make_shared<LineSink>(component, style));
    slot->set_level(spdlog::level::info);
  }
  return *slot;
}

void LogEvent(spdlog::logger& logger, spdlog::level::level_enum level, std::string_view message,
              const nlohmann::json& fields) {
  const Json* saved = t_fields;
  t_fields = &fields;
  logger.log(level, "{}", message);
  t_fields = saved;
}

}  // namespace vsl::util
