// CHAP for the raw initiator (RFC 7143 §12.1.3, RFC 1994), so tests can log
// in with a secret and then do what libiscsi never would: reuse an ISID,
// reflect a challenge, replay or garble a response.
#include <openssl/evp.h>

#include <random>

#include "raw_pdu.h"

namespace vsl::e2e {

std::vector<uint8_t> ChapMd5(uint8_t id, const std::string& secret,
                             const std::vector<uint8_t>& challenge) {
  std::vector<uint8_t> input;
  input.push_back(id);
  input.insert(input.end(), secret.begin(), secret.end());
  input.insert(input.end(), challenge.begin(), challenge.end());
  std::vector<uint8_t> md(EVP_MAX_MD_SIZE);
  unsigned int size = 0;
  EVP_Digest(input.data(), input.size(), md.data(), &size, EVP_md5(), nullptr);
  md.resize(size);
  return md;
}

std::string ToHex(const std::vector<uint8_t>& bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out = "0x";
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

bool FromHex(const std::string& text, std::vector<uint8_t>* out) {
  if (text.size() < 4 || text.size() % 2 != 0 || (text.compare(0, 2, "0x") != 0 &&
                                                  text.compare(0, 2, "0X") != 0)) {
    return false;
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out->clear();
  for (size_t i = 2; i < text.size(); i += 2) {
    int hi = nibble(text[i]), lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(uint8_t(hi << 4 | lo));
  }
  return true;
}

bool RawSession::ChapExchange(const RawLoginOptions& o, const KeyValues& security,
                              std::string* error) {
  Pdu response;
  KeyValues keys;
  if (!LoginStep(0, 1, false, security, &response, &keys, error)) return false;
  if (FindKey(keys, "AuthMethod") != "CHAP") {
    *error = "target answered AuthMethod=" + FindKey(keys, "AuthMethod") + " to CHAP";
    return false;
  }
  if (!LoginStep(0, 1, false, {{"CHAP_A", o.chap_algorithms}}, &response, &keys, error)) {
    return false;
  }
  if (FindKey(keys, "CHAP_A") != "5") {
    *error = "target answered CHAP_A=" + FindKey(keys, "CHAP_A");
    return false;
  }
  int id = std::stoi(FindKey(keys, "CHAP_I").empty() ? "-1" : FindKey(keys, "CHAP_I"));
  if (id < 0 || id > 255 || !FromHex(FindKey(keys, "CHAP_C"), &target_challenge)) {
    *error = "target sent CHAP_I=" + FindKey(keys, "CHAP_I") + " CHAP_C=" +
             FindKey(keys, "CHAP_C");
    return false;
  }
  chap_response = o.chap_response_override.empty()
                      ? ToHex(ChapMd5(uint8_t(id), o.chap_secret, target_challenge))
                      : o.chap_response_override;
  KeyValues answer = {{"CHAP_N", o.chap_user}, {"CHAP_R", chap_response}};
  const bool mutual = !o.target_secret.empty();
  const uint8_t my_id = 0x5a;
  std::vector<uint8_t> my_challenge = target_challenge;
  if (mutual) {
    if (!o.reflect_challenge) {
      std::random_device rd;
      my_challenge.assign(16, 0);
      for (auto& b : my_challenge) b = uint8_t(rd());
    }
    answer.emplace_back("CHAP_I", std::to_string(my_id));
    answer.emplace_back("CHAP_C", ToHex(my_challenge));
  }
  if (!LoginStep(0, 1, true, answer, &response, &keys, error)) return false;
  if (mutual) {
    std::vector<uint8_t> got;
    if (!FromHex(FindKey(keys, "CHAP_R"), &got) ||
        got != ChapMd5(my_id, o.target_secret, my_challenge)) {
      *error = "target's CHAP_R (" + FindKey(keys, "CHAP_R") + ") is not the mutual answer";
      return false;
    }
  }
  for (int round = 0; round < 4 && !(response.bhs[1] & 0x80); ++round) {
    if (!LoginStep(0, 1, true, {}, &response, &keys, error)) return false;
  }
  if (!(response.bhs[1] & 0x80) || (response.bhs[1] & 3) != 1) {
    *error = "target did not move to the operational stage after CHAP";
    return false;
  }
  return true;
}

}  // namespace vsl::e2e
