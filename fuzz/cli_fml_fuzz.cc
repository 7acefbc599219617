// Fuzzes what `vsl farm plan|apply FILE` does with a file's bytes, end to end
// without a socket: the CLI's request body (cli/farm_body.h), its JSON text,
// the server's reading of that JSON, the FML reader, the validator and the
// planner.
//
// Properties checked on every input, besides memory safety and no exception
// escaping (libFuzzer aborts on one):
//  * the CLI refuses exactly the texts the FML reader refuses for their
//    encoding, with the same file:line:column message;
//  * a body the CLI accepts serializes, and the server reads back the very
//    same FML text from it;
//  * a refused document's message starts with the file name;
//  * a valid one plans against an empty farm with a full pool.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cli/farm_body.h"
#include "farm/plan.h"
#include "fml/fml.h"

namespace {

constexpr int kMaxServers = 256;

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // The first byte picks a --name now and then, to reach that check too.
  std::string name;
  if (size > 0 && data[0] % 7 == 0) name = std::string(text.substr(1, data[0] % 70));

  vsl::Result<nlohmann::json> body = vsl::cli::FarmRequestBody(text, "fuzz.fml", name);
  vsl::Status encoding = vsl::fml::CheckEncoding(text, "fuzz.fml");
  if (!encoding.ok()) {
    Check(!body.ok() && body.status() == encoding);
    Check(encoding.message().rfind("fuzz.fml:", 0) == 0);
    Check(!vsl::fml::Parse(text, "fuzz.fml").ok());
    return 0;
  }
  if (!body.ok()) {  // only --name can be refused now
    Check(!name.empty() && body.status().message().find("farm name") != std::string::npos);
    return 0;
  }
  // What travels: the CLI's dump, the server's parse (api::ParseBody).
  const std::string wire = body->dump();
  nlohmann::json got = nlohmann::json::parse(wire, nullptr, false);
  Check(got.is_object() && got["fml"].is_string() && got["fml"].get<std::string>() == text);

  vsl::Result<vsl::fml::FarmSpec> spec = vsl::fml::Parse(got["fml"].get<std::string>(), "fuzz.fml");
  if (!spec.ok()) {
    Check(spec.status().message().rfind("fuzz.fml:", 0) == 0);
    // The reply carries the message back as JSON; it must serialize.
    (void)nlohmann::json({{"error", spec.status().message()}}).dump();
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
  for (const auto& [hw, n] : needed) {
    for (int i = 0; i < n; ++i) state.pool.push_back({hw + "-host-" + std::to_string(i), hw});
  }
  vsl::Result<vsl::farm::FarmPlan> plan = vsl::farm::Plan(*spec, state);
  Check(plan.ok());
  for (const vsl::farm::Action& a : plan->actions) Check(!a.ToString().empty());
  (void)nlohmann::json({{"text", plan->ToString()}}).dump();
  return 0;
}
