#include "util/names.h"

#include <algorithm>

#include "util/utf8.h"

namespace vsl {
namespace {

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || IsDigit(c); }
bool IsNameChar(char c) { return IsAlnum(c) || c == '.' || c == '_' || c == '-'; }
// The ASCII characters of an iSCSI name (RFC 3720 §3.2.6.2).
bool IsIscsiChar(char c) { return IsLowerAlnum(c) || c == '.' || c == '-' || c == ':'; }

Status Refuse(std::string_view what, std::string_view value, std::string_view why) {
  return InvalidArgument(std::string(what) + " '" + Printable(value) + "': " + std::string(why));
}

// Why `name` is not a valid name; "" when it is.
std::string_view NameProblem(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > kMaxNameLength) return "longer than 63 characters";
  if (name[0] == '.' || name[0] == '-') return "must not start with '.' or '-'";
  if (!std::all_of(name.begin(), name.end(), IsNameChar)) {
    return "may only hold letters, digits, '.', '_' and '-'";
  }
  return {};
}

bool AllHex(std::string_view s) { return std::all_of(s.begin(), s.end(), IsHex); }

// "YYYY-MM." then a reversed domain name: labels of a-z 0-9 '-' joined by '.'.
std::string_view IqnProblem(std::string_view rest) {
  if (rest.size() < 8 || !IsDigit(rest[0]) || !IsDigit(rest[1]) || !IsDigit(rest[2]) || !IsDigit(rest[3]) ||
      rest[4] != '-' || !IsDigit(rest[5]) || !IsDigit(rest[6]) || rest[7] != '.') {
    return "an iqn. name goes on with a date yyyy-mm and '.' (iqn.2026-11.org.example:host)";
  }
  int month = (rest[5] - '0') * 10 + (rest[6] - '0');
  if (month < 1 || month > 12) return "the month of an iqn. name's date must be 01-12";
  std::string_view authority = rest.substr(8);
  std::string_view suffix;
  if (size_t colon = authority.find(':'); colon != std::string_view::npos) {
    suffix = authority.substr(colon + 1);
    authority = authority.substr(0, colon);
  }
  if (authority.empty()) return "an iqn. name needs a reversed domain name after its date";
  if (authority.front() == '.' || authority.back() == '.' || authority.find("..") != std::string_view::npos ||
      !std::all_of(authority.begin(), authority.end(), [](char c) { return IsLowerAlnum(c) || c == '-' || c == '.'; })) {
    return "the naming authority of an iqn. name is a reversed domain name (labels of a-z, 0-9 and '-')";
  }
  (void)suffix;  // checked with the whole name's characters
  return {};
}

std::string_view IscsiNameProblem(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > kMaxIscsiNameLength) return "longer than 223 bytes";
  std::string_view type = name.substr(0, 4);
  std::string_view rest = name.substr(std::min<size_t>(4, name.size()));
  if (type == "eui.") {
    if (rest.size() != 16 || !AllHex(rest)) return "an eui. name is 'eui.' and 16 hex digits";
    return {};
  }
  if (type == "naa.") {
    if ((rest.size() != 16 && rest.size() != 32) || !AllHex(rest)) {
      return "a naa. name is 'naa.' and 16 or 32 hex digits";
    }
    return {};
  }
  if (type != "iqn.") return "an iSCSI name starts with iqn., eui. or naa.";
  if (std::any_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return "an iqn. name is in lower case (RFC 3722 normalizes it so)";
  }
  if (!std::all_of(name.begin(), name.end(), IsIscsiChar)) {
    return "an iqn. name may only hold a-z, 0-9, '.', '-' and ':'";
  }
  return IqnProblem(rest);
}

std::string_view TextProblem(std::string_view value) {
  if (!IsValidUtf8(value)) return "is not valid UTF-8";
  if (std::any_of(value.begin(), value.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7F;
      })) {
    return "must not hold control characters";
  }
  return {};
}

std::string_view ChapProblem(std::string_view value) {
  if (value.empty()) return "must not be empty";
  if (value.size() > kMaxChapLength) return "longer than 255 bytes";
  return TextProblem(value);
}

}  // namespace

bool IsValidName(std::string_view name) { return NameProblem(name).empty(); }

Status CheckName(std::string_view what, std::string_view name) {
  std::string_view why = NameProblem(name);
  if (why.empty()) return Status::Ok();
  return Refuse(what, name, std::string(why) + " (a name is 1-63 of A-Za-z0-9._- not starting with '.' or '-')");
}

bool IsValidIscsiName(std::string_view name) { return IscsiNameProblem(name).empty(); }

Status CheckIscsiName(std::string_view what, std::string_view name) {
  std::string_view why = IscsiNameProblem(name);
  return why.empty() ? Status::Ok() : Refuse(what, name, why);
}

Status CheckChapUser(std::string_view what, std::string_view user) {
  std::string_view why = ChapProblem(user);
  return why.empty() ? Status::Ok() : Refuse(what, user, why);
}

Status CheckChapSecret(std::string_view what, std::string_view secret) {
  std::string_view why = ChapProblem(secret);
  if (why.empty() && secret.size() < kMinChapSecret) why = "must be at least 12 characters";
  if (why.empty()) return Status::Ok();
  return InvalidArgument(std::string(what) + ": " + std::string(why));
}

Status CheckText(std::string_view what, std::string_view text, size_t max) {
  if (text.size() > max) return Refuse(what, text, "longer than " + std::to_string(max) + " bytes");
  std::string_view why = TextProblem(text);
  return why.empty() ? Status::Ok() : Refuse(what, text, why);
}

Status CheckSize(std::string_view what, uint64_t bytes) {
  if (bytes <= kMaxSizeBytes) return Status::Ok();
  return InvalidArgument(std::string(what) + ": " + std::to_string(bytes) + " bytes is more than 4 EiB");
}

std::string Printable(std::string_view text, size_t max) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < text.size() && i < max; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (text.size() > max) out += "...";
  return out;
}

}  // namespace vsl
