// What a command pays in QosLimiter::Admit when its LU has limits that are
// not reached (the per-command part of bench/qos.sh, without the network
// and the machine's noise): one thread, then two threads on one limiter (two
// hosts on different network threads sharing a disk). Prints ns per Admit.
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "gateway/qos.h"

using vsl::gateway::QosClass;
using vsl::gateway::QosLimiter;

namespace {

double NsPerAdmit(QosLimiter& q, int threads, int per_thread) {
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&q, per_thread, t] {
      auto w = std::make_shared<QosLimiter::Waiter>([] {});
      for (int i = 0; i < per_thread; ++i) {
        QosClass c = (i + t) % 2 ? QosClass::kRead : QosClass::kWrite;
        if (!q.Admit(w, {c, 4096}, std::chrono::steady_clock::now())) std::abort();
      }
    });
  }
  for (auto& t : ts) t.join();
  auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  return ns / (double(threads) * per_thread);
}

}  // namespace

int main() {
  QosLimiter q;
  vsl::QosLimits l;
  l[vsl::QosLimits::kIops] = vsl::kMaxQosValue;
  l[vsl::QosLimits::kMbps] = vsl::kMaxQosValue;
  l[vsl::QosLimits::kReadIops] = vsl::kMaxQosValue;
  q.Set(l);
  const int n = 2'000'000;
  NsPerAdmit(q, 1, n / 10);  // warm up
  std::printf("Admit, limits set not reached: %.1f ns/command (1 thread), %.1f ns/command (2 threads, one LU)\n",
              NsPerAdmit(q, 1, n), NsPerAdmit(q, 2, n / 2));
  return 0;
}
