// Fuzzes login: ParseText, binary values, and a LoginNegotiator driven with
// fuzzed Login Request PDUs against a fixed directory.
//
// Input: a sequence of records  [flags][header-noise][len-hi][len-lo][text...]
//   flags: bits 0-1 CSG, 2-3 NSG, 4 T, 5 C; bit 6 appends a correct
//   CHAP_N/CHAP_R for the last challenge (so the fuzzer gets past CHAP);
//   bit 7 applies header-noise to one header byte.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gateway/iscsi/login.h"

using namespace vsl;
using namespace vsl::iscsi;

namespace {

// An invariant the code under test must keep; says which one broke.
#define Check(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                   \
    }                                                                 \
  } while (0)

class Directory : public TargetDirectory {
 public:
  Directory() {
    TargetAccess a;
    a.name = "iqn.2026-11.org.vsl:web1";
    a.initiators = {"iqn.i:web1"};
    a.chap = ChapCredential{"web1", "web1-secret-0123"};
    a.mutual_chap = ChapCredential{"tgt", "target-secret-89"};
    a.portals = {"127.0.0.1:3260,1"};
    targets.push_back(a);
    TargetAccess b;
    b.name = "iqn.2026-11.org.vsl:open";
    b.initiators = {"iqn.i:web1", "iqn.i:open"};
    b.allow_no_auth = true;
    targets.push_back(b);
  }
  std::optional<TargetAccess> Find(const std::string& name) const override {
    for (const TargetAccess& t : targets) {
      if (t.name == name) return t;
    }
    return std::nullopt;
  }
  std::vector<TargetAccess> ForInitiator(const std::string& initiator) const override {
    std::vector<TargetAccess> out;
    for (const TargetAccess& t : targets) {
      for (const std::string& i : t.initiators) {
        if (i == initiator) out.push_back(t);
      }
    }
    return out;
  }
  std::vector<TargetAccess> targets;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Directory directory;
  {
    // The text parser and binary values on the raw input.
    auto keys = ParseText({data, size});
    if (keys.ok()) {
      std::vector<uint8_t> again = EncodeText(*keys);
      auto back = ParseText(again);
      Check(back.ok() && *back == *keys);
      for (const TextKey& k : *keys) (void)DecodeBinaryValue(k.value);
      (void)SendTargets(directory, keys->empty() ? "" : keys->front().value, "All");
    }
  }

  int binds = 0;
  uint8_t counter = 0;
  LoginNegotiator n(
      TargetLimits{}, &directory,
      [&](const LoginOutcome& o) -> std::variant<uint16_t, LoginStatus> {
        binds++;
        if (o.tsih != 0) return kLoginSessionDoesNotExist;
        return uint16_t(1);
      },
      [&](std::span<uint8_t> out) {
        for (uint8_t& b : out) b = counter++;
      });

  std::string chap_i, chap_c;
  size_t pos = 0;
  int steps = 0;
  while (pos + 4 <= size && steps++ < 64) {
    const uint8_t flags = data[pos];
    const uint8_t noise = data[pos + 1];
    size_t len = size_t(data[pos + 2]) << 8 | data[pos + 3];
    pos += 4;
    len = std::min(len, size - pos);
    Pdu req;
    req.bhs[0] = 0x43;
    req.bhs[1] = uint8_t((flags & 0x10 ? 0x80 : 0) | (flags & 0x20 ? 0x40 : 0) | (flags & 3) << 2 |
                         (flags >> 2 & 3));
    req.bhs[8] = 0x80;
    StoreBe32(&req.bhs[16], 77);
    StoreBe16(&req.bhs[20], 1);
    req.data.assign(data + pos, data + pos + len);
    pos += len;
    if ((flags & 0x40) && !chap_i.empty()) {
      auto c = DecodeBinaryValue(chap_c);
      if (c.ok()) {
        std::string extra = "CHAP_N=web1";
        extra.push_back('\0');
        extra += "CHAP_R=" +
                 EncodeHex(ChapMd5(uint8_t(std::atoi(chap_i.c_str())), "web1-secret-0123", *c));
        extra.push_back('\0');
        req.data.insert(req.data.end(), extra.begin(), extra.end());
      }
    }
    if (flags & 0x80) req.bhs[noise % kBhsLength] ^= uint8_t(noise | 1);
    StoreBe24(&req.bhs[5], uint32_t(req.data.size()));

    const LoginNegotiator::State before = n.state();
    Pdu resp = n.Step(req);
    Check(resp.opcode() == Opcode::kLoginResponse);
    Check(resp.data.size() <= 8192);
    Check(resp.data_segment_length() == resp.data.size());
    if (before != LoginNegotiator::State::kInProgress) Check(n.state() == before);
    if (n.state() == LoginNegotiator::State::kFailed) {
      Check(!n.failure().empty() && resp.bhs[36] != 0);
    } else {
      Check(resp.bhs[36] == 0 || before != LoginNegotiator::State::kInProgress);
    }
    if (n.state() == LoginNegotiator::State::kSucceeded) {
      Check(binds == 1);
      // The final response: T bit and NSG full feature phase.
      if (before == LoginNegotiator::State::kInProgress) Check((resp.bhs[1] & 0x83) == 0x83);
      Check(n.outcome().session.first_burst_length <= n.outcome().session.max_burst_length ||
            n.outcome().discovery);
    }
    if (!(resp.bhs[1] & 0x40)) {
      auto keys = ParseText(resp.data);
      Check(keys.ok());
      for (const TextKey& k : *keys) {
        if (k.key == "CHAP_I") chap_i = k.value;
        if (k.key == "CHAP_C") chap_c = k.value;
      }
    }
  }
  Check(binds <= 1);
  return 0;
}
