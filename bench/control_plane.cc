// control_plane_bench: the control plane's figures through the real API.
// Against a running `vsl serve` (bench/control_plane.sh starts one on each
// catalog back end), it fills the catalog to VOLUMES volumes and HOSTS
// hosts, then runs, with THREADS clients at once:
//   allocate+map:         allocate-unit, bind (LUN 0 of a host), map
//   unmap+scrub+free:     unmap, unbind, scrub, free
// each step a queued request waited for (?wait=true), and prints cycles per
// second of each. Bounded: at most CYCLES cycles or SECONDS seconds a phase.
//
// Usage: control_plane_bench API TOKEN ARRAY_DIR [VOLUMES HOSTS THREADS CYCLES SECONDS]
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Api {
  explicit Api(const std::string& addr, const std::string& token) : cli(addr) {
    cli.set_bearer_token_auth(token.c_str());
    cli.set_read_timeout(600, 0);
  }
  Json Call(const std::string& method, const std::string& path, const Json& body = Json::object()) {
    auto r = method == "GET" ? cli.Get(path.c_str()) : cli.Post(path.c_str(), body.dump(), "application/json");
    if (!r) {
      fprintf(stderr, "%s %s: %s\n", method.c_str(), path.c_str(), httplib::to_string(r.error()).c_str());
      exit(1);
    }
    Json j = Json::parse(r->body, nullptr, false);
    if (r->status >= 400) {
      fprintf(stderr, "%s %s: HTTP %d %s\n", method.c_str(), path.c_str(), r->status, r->body.c_str());
      exit(1);
    }
    return j;
  }
  httplib::Client cli;
};

double Seconds(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

// Mean latency of each step of a cycle, over every client thread.
struct StepTimes {
  std::mutex mu;
  std::vector<std::pair<std::string, std::pair<double, int>>> steps;  // guarded by mu
  void Add(const std::string& name, double s) {
    std::lock_guard<std::mutex> l(mu);
    for (auto& st : steps) {
      if (st.first == name) {
        st.second.first += s;
        ++st.second.second;
        return;
      }
    }
    steps.push_back({name, {s, 1}});
  }
  std::string Report() {
    std::lock_guard<std::mutex> l(mu);
    std::string out;
    char buf[96];
    for (auto& st : steps) {
      snprintf(buf, sizeof buf, "%s%s %.1f ms", out.empty() ? "" : ", ", st.first.c_str(),
               1000 * st.second.first / st.second.second);
      out += buf;
    }
    steps.clear();
    return out;
  }
};
StepTimes g_steps;


}  // namespace

Json Step(Api& a, const std::string& op, const Json& body) {
  auto start = Clock::now();
  Json r = a.Call("POST", "/v1/disks/" + op + "?wait=true", body);
  g_steps.Add(op, Seconds(start));
  return r;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s API TOKEN ARRAY_DIR [VOLUMES HOSTS THREADS CYCLES SECONDS]\n", argv[0]);
    return 2;
  }
  std::string addr = argv[1], token = argv[2], dir = argv[3];
  int volumes = argc > 4 ? atoi(argv[4]) : 10000;
  int hosts = argc > 5 ? atoi(argv[5]) : 1000;
  int threads = argc > 6 ? atoi(argv[6]) : 4;
  int cycles = argc > 7 ? atoi(argv[7]) : 1000;
  double seconds = argc > 8 ? atof(argv[8]) : 20;
  if (cycles > hosts) cycles = hosts;  // one unit per host, at LUN 0

  Api api(addr, token);
  auto t0 = Clock::now();
  // 1 MiB pre-carved volumes: the catalog holds `volumes` of them.
  api.Call("POST", "/v1/arrays",
           {{"name", "bench"}, {"path", dir}, {"capacity", uint64_t(volumes) << 20}, {"volume_size", 1 << 20},
            {"qualities", {{"tier", "bench"}}}});
  double t_array = Seconds(t0);
  t0 = Clock::now();
  {
    std::atomic<int> next{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&] {
        Api a(addr, token);
        for (int i = next++; i < hosts; i = next++) {
          std::string n = "bh" + std::to_string(i);
          a.Call("POST", "/v1/hosts", {{"name", n}, {"hw", "std"}, {"initiators", {"iqn.2026-11.org.bench:" + n}}});
        }
      });
    }
    for (auto& t : ts) t.join();
  }
  double t_hosts = Seconds(t0);
  Json vols = api.Call("GET", "/v1/volumes?x=1");
  printf("catalog: %zu volumes, %d hosts (array with %d volumes added+discovered in %.1f s, hosts added in %.1f s)\n",
         vols["volumes"].size(), hosts, volumes, t_array, t_hosts);

  std::vector<int64_t> units(cycles, 0);
  std::atomic<int> next{0};
  std::atomic<int> done{0};
  auto phase = [&](const char* name, const std::function<void(Api&, int)>& cycle) {
    next = 0;
    done = 0;
    auto start = Clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&] {
        Api a(addr, token);
        for (int i = next++; i < cycles && Seconds(start) < seconds; i = next++) {
          cycle(a, i);
          ++done;
        }
      });
    }
    for (auto& t : ts) t.join();
    double s = Seconds(start);
    printf("%-18s %5d cycles in %6.2f s = %7.1f cycles/s (%d client threads); mean per step: %s\n", name,
           done.load(), s, done / s, threads, g_steps.Report().c_str());
    return done.load();
  };
  int made = phase("allocate+map", [&](Api& a, int i) {
    Json r = Step(a, "allocate-unit", {{"size", 1 << 20}, {"qualities", {{"tier", "bench"}}}});
    int64_t u = r["result"]["volume"].get<int64_t>();
    units[i] = u;
    Step(a, "bind", {{"volume", u}, {"host", "bh" + std::to_string(i)}, {"lun", 0}});
    Step(a, "map", {{"volume", u}});
  });
  cycles = made;  // tear down exactly what was made (bounded by the same clock)
  seconds = 1e9;
  phase("unmap+scrub+free", [&](Api& a, int i) {
    int64_t u = units[i];
    if (u == 0) return;
    Step(a, "unmap", {{"volume", u}});
    Step(a, "unbind", {{"volume", u}});
    Step(a, "scrub", {{"volume", u}});
    Step(a, "free", {{"volume", u}});
  });
  return 0;
}
