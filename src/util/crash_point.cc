#include "util/crash_point.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <map>
#include <mutex>

namespace vsl::util {
namespace {

struct Armed {
  std::mutex mu;
  std::map<std::string, uint64_t, std::less<>> kill_at;  // guarded by mu
  std::map<std::string, uint64_t, std::less<>> hits;     // guarded by mu
  std::function<void(std::string_view)> action;          // guarded by mu
};

std::atomic<bool> g_armed{false};

Armed& State() {
  static Armed* a = new Armed;  // never destroyed: points may be passed during exit
  return *a;
}

}  // namespace

Status ArmCrashPoints(std::string_view spec) {
  std::map<std::string, uint64_t, std::less<>> at;
  while (!spec.empty()) {
    size_t comma = spec.find(',');
    std::string_view entry = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    size_t colon = entry.rfind(':');
    uint64_t n = 0;
    if (colon == std::string_view::npos || colon == 0 ||
        std::from_chars(entry.data() + colon + 1, entry.data() + entry.size(), n).ec != std::errc{} || n == 0) {
      return InvalidArgument("crash point '" + std::string(entry) + "': expected NAME:N with N >= 1");
    }
    at[std::string(entry.substr(0, colon))] = n;
  }
  Armed& a = State();
  std::lock_guard<std::mutex> l(a.mu);
  a.kill_at = std::move(at);
  a.hits.clear();
  g_armed.store(!a.kill_at.empty(), std::memory_order_relaxed);
  return Status::Ok();
}

void CrashPoint(std::string_view name) {
  if (!g_armed.load(std::memory_order_relaxed)) return;
  Armed& a = State();
  std::unique_lock<std::mutex> l(a.mu);
  auto h = a.hits.find(name);
  if (h == a.hits.end()) h = a.hits.emplace(std::string(name), 0).first;
  uint64_t n = ++h->second;
  auto k = a.kill_at.find(name);
  if (k == a.kill_at.end() || k->second != n) return;
  if (a.action) {
    auto action = a.action;
    l.unlock();
    action(name);
    return;
  }
  std::string line = "vsl: crash point " + std::string(name) + " #" + std::to_string(n) + ": SIGKILL\n";
  (void)!write(STDERR_FILENO, line.data(), line.size());
  kill(getpid(), SIGKILL);
}

uint64_t CrashPointHits(std::string_view name) {
  Armed& a = State();
  std::lock_guard<std::mutex> l(a.mu);
  auto h = a.hits.find(name);
  return h == a.hits.end() ? 0 : h->second;
}

}  // namespace vsl::util

namespace vsl::util {

void SetCrashPointAction(std::function<void(std::string_view name)> action) {
  Armed& a = State();
  std::lock_guard<std::mutex> l(a.mu);
  a.action = std::move(action);
}

}  // namespace vsl::util
