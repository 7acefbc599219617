#include "fml/text.h"

#include <cctype>

namespace vsl::fml {

namespace {
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
}  // namespace

bool IsBlank(std::string_view s) {
  for (char c : s) {
    if (!IsSpace(c)) return false;
  }
  return true;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return std::string(s);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Quote(std::string_view s) {
  constexpr size_t kMax = 40;
  std::string out = "\"";
  size_t i = 0;
  // Cut at a character boundary, never inside a UTF-8 sequence: messages
  // travel as JSON.
  for (; i < s.size() && (i < kMax || (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
  }
  if (i < s.size()) out += "...";
  return out + "\"";
}

std::string OneOf(Names names, bool angle) {
  std::string out;
  size_t i = 0;
  for (std::string_view n : names) {
    if (i > 0) out += (i + 1 == names.size()) ? " or " : ", ";
    out += angle ? "<" + std::string(n) + ">" : std::string(n);
    ++i;
  }
  return out;
}

bool Contains(Names names, std::string_view s) {
  for (std::string_view n : names) {
    if (n == s) return true;
  }
  return false;
}

}  // namespace vsl::fml
