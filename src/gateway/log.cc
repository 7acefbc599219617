#include "gateway/log.h"

#include <chrono>
#include <mutex>
#include <unordered_map>

namespace vsl::gateway {

spdlog::logger& Log() {
  static spdlog::logger& logger = util::Logger("gateway");
  return logger;
}

namespace {
struct KeyState {
  std::chrono::steady_clock::time_point window;
  int lines = 0;
  uint64_t suppressed = 0;
};
struct Limiter {
  std::mutex mu;
  std::unordered_map<std::string, KeyState> keys;  // guarded by mu; keys are categories, few
};
Limiter& TheLimiter() {
  static Limiter* limiter = new Limiter;
  return *limiter;
}
}  // namespace

bool LogAllowed(const std::string& key, uint64_t* suppressed) {
  auto now = std::chrono::steady_clock::now();
  Limiter& l = TheLimiter();
  std::lock_guard<std::mutex> lock(l.mu);
  KeyState& s = l.keys[key];
  if (now - s.window >= std::chrono::seconds(1)) {
    s.window = now;
    s.lines = 0;
  }
  if (s.lines >= kLogLinesPerSecond) {
    ++s.suppressed;
    return false;
  }
  ++s.lines;
  *suppressed = s.suppressed;
  s.suppressed = 0;
  return true;
}

}  // namespace vsl::gateway
