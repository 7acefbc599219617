// Text key=value lists, binary values, and SendTargets (RFC 7143 §6.1, §12.3).

#include <algorithm>

#include "gateway/iscsi/login.h"

namespace vsl::iscsi {
namespace {

constexpr size_t kMaxKeyLength = 63;
constexpr size_t kMaxValueLength = 8192;

bool KeyChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '+' || c == '@' || c == '_';
}

// Shortens what goes into an error message; the text is the initiator's.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > 64) out += "...";
  return out + "\"";
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int Base64Digit(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

Result<std::vector<TextKey>> ParseText(std::span<const uint8_t> bytes) {
  std::vector<TextKey> keys;
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nul = text.find('\0', pos);
    if (nul == std::string_view::npos) {
      return InvalidArgument("text pair " + Quote(text.substr(pos)) + " is not NUL-terminated");
    }
    std::string_view pair = text.substr(pos, nul - pos);
    pos = nul + 1;
    if (pair.empty()) continue;  // padding-like NULs between pairs
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) {
      return InvalidArgument("text pair " + Quote(pair) + " has no '='");
    }
    std::string_view key = pair.substr(0, eq);
    std::string_view value = pair.substr(eq + 1);
    if (key.empty() || key.size() > kMaxKeyLength) {
      return InvalidArgument("text key " + Quote(key) + " is empty or longer than 63 bytes");
    }
    // "X#name" is the form of IANA-registered extension keys (RFC 7143 §13.5.2).
    const size_t from = key.starts_with("X#") ? 2 : 0;
    if (!std::all_of(key.begin() + from, key.end(), KeyChar)) {
      return InvalidArgument("text key " + Quote(key) +
                             " has a character outside [A-Za-z0-9.-+@_]");
    }
    if (value.empty() || value.size() > kMaxValueLength) {
      return InvalidArgument("value of " + Quote(key) + " is empty or longer than 8192 bytes");
    }
    for (const TextKey& k : keys) {
      if (k.key == key) return InvalidArgument("text key " + Quote(key) + " is given twice");
    }
    keys.push_back({std::string(key), std::string(value)});
  }
  return keys;
}

std::vector<uint8_t> EncodeText(const std::vector<TextKey>& keys) {
  std::vector<uint8_t> out;
  for (const TextKey& k : keys) {
    out.insert(out.end(), k.key.begin(), k.key.end());
    out.push_back('=');
    out.insert(out.end(), k.value.begin(), k.value.end());
    out.push_back('\0');
  }
  return out;
}

Result<std::vector<uint8_t>> DecodeBinaryValue(std::string_view value) {
  if (value.size() < 3 || value[0] != '0') {
    return InvalidArgument("binary value " + Quote(value) + " lacks a 0x or 0b prefix");
  }
  std::string_view digits = value.substr(2);
  std::vector<uint8_t> out;
  if (value[1] == 'x' || value[1] == 'X') {
    // An odd number of digits has an implied leading zero.
    size_t i = 0;
    if (digits.size() % 2 == 1) {
      int d = HexDigit(digits[0]);
      if (d < 0) return InvalidArgument("binary value " + Quote(value) + " is not hex");
      out.push_back(uint8_t(d));
      i = 1;
    }
    for (; i < digits.size(); i += 2) {
      int hi = HexDigit(digits[i]), lo = HexDigit(digits[i + 1]);
      if (hi < 0 || lo < 0) return InvalidArgument("binary value " + Quote(value) + " is not hex");
      out.push_back(uint8_t(hi << 4 | lo));
    }
    return out;
  }
  if (value[1] == 'b' || value[1] == 'B') {
    if (digits.size() % 4 != 0) {
      return InvalidArgument("base64 value " + Quote(value) + " is not a multiple of 4 characters");
    }
    for (size_t i = 0; i < digits.size(); i += 4) {
      int v[4];
      int pads = 0;
      for (int j = 0; j < 4; j++) {
        char c = digits[i + j];
        if (c == '=' && i + 4 == digits.size() && j >= 2) {
          v[j] = 0;
          pads++;
          continue;
        }
        v[j] = pads ? -1 : Base64Digit(c);
        if (v[j] < 0) return InvalidArgument("base64 value " + Quote(value) + " is malformed");
      }
      uint32_t n =
          uint32_t(v[0]) << 18 | uint32_t(v[1]) << 12 | uint32_t(v[2]) << 6 | uint32_t(v[3]);
      out.push_back(uint8_t(n >> 16));
      if (pads < 2) out.push_back(uint8_t(n >> 8));
      if (pads < 1) out.push_back(uint8_t(n));
    }
    return out;
  }
  return InvalidArgument("binary value " + Quote(value) + " lacks a 0x or 0b prefix");
}

std::string EncodeHex(std::span<const uint8_t> bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out = "0x";
  out.reserve(2 + 2 * bytes.size());
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

std::vector<TextKey> SendTargets(const TargetDirectory& directory,
                                 const std::string& initiator_name, std::string_view request) {
  std::vector<TextKey> out;
  if (request.empty()) return out;
  for (const TargetAccess& t : directory.ForInitiator(initiator_name)) {
    if (request != "All" && request != t.name) continue;
    // ForInitiator should only list targets the initiator may open; check
    // again so a directory bug can't leak another host's target.
    if (std::find(t.initiators.begin(), t.initiators.end(), initiator_name) == t.initiators.end()) {
      continue;
    }
    out.push_back({"TargetName", t.name});
    for (const std::string& portal : t.portals) {
      std::string addr = portal;
      if (addr.find(',') == std::string::npos) addr += "," + std::to_string(t.tpgt);
      out.push_back({"TargetAddress", addr});
    }
  }
  return out;
}

}  // namespace vsl::iscsi
