// Fuzzes the FML reader, the validator and the planner.
//
// Properties checked on every input, besides memory safety:
//  * a refused document's message starts with the file name (every error
//    carries file:line:column);
//  * a valid one plans against an empty farm, and once that plan is done,
//    planning again gives no action (plan/apply converges).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "farm/plan.h"
#include "fml/fml.h"

namespace {

// Bigger farms are legal but make each run slow without reaching new code.
constexpr int kMaxServers = 256;

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  vsl::Result<vsl::fml::FarmSpec> spec = vsl::fml::Parse(text, "fuzz.fml");
  if (!spec.ok()) {
    Check(spec.status().message().rfind("fuzz.fml:", 0) == 0);
    return 0;
  }
  std::map<std::string, int> needed;  // hw -> servers
  int servers = 0;
  for (const vsl::fml::Tier& t : spec->tiers) {
    const vsl::fml::ServerRole* role = spec->FindRole(t.role);
    Check(role != nullptr);
    needed[role->hw] += t.init_servers;
    servers += t.init_servers;
  }
  if (servers > kMaxServers) return 0;
  vsl::farm::FarmState state;
  // Every few inputs the pool is one host short, to reach the refusal.
  const bool short_pool = size % 5 == 0;
  for (const auto& [hw, n] : needed) {
    for (int i = 0; i < n - (short_pool ? 1 : 0); ++i) {
      state.pool.push_back({hw + "-host-" + std::to_string(i), hw});
    }
  }
  vsl::Result<vsl::farm::FarmPlan> plan = vsl::farm::Plan(*spec, state);
  if (!plan.ok()) {
    // On an empty farm the only possible refusal is a short pool.
    Check(short_pool && plan.status().code() == vsl::Code::kResourceExhausted);
    return 0;
  }
  for (const vsl::farm::Action& a : plan->actions) Check(!a.ToString().empty());
  vsl::farm::VolumeId next = 1;
  vsl::farm::FarmState after = vsl::farm::Simulate(state, *plan, &next);
  vsl::Result<vsl::farm::FarmPlan> again = vsl::farm::Plan(*spec, after);
  Check(again.ok() && again->empty());
  return 0;
}
