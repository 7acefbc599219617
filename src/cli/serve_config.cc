#include "cli/serve_config.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace vsl::cli {
namespace {

std::string_view Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

bool IsKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// What is left after a value: nothing, or a comment.
bool OnlyComment(std::string_view rest) {
  rest = Trim(rest);
  return rest.empty() || rest.front() == '#';
}

// The value part of a line: a "basic string" (\" \\ \t \n escapes), a
// 'literal string', or a bare word ending at whitespace or #.
Result<std::string> ParseValue(std::string_view v, const std::string& where) {
  if (v.empty()) return InvalidArgument(where + ": no value after '='");
  if (v.front() == '"') {
    std::string out;
    for (size_t i = 1; i < v.size(); ++i) {
      char c = v[i];
      if (c == '"') {
        if (!OnlyComment(v.substr(i + 1))) return InvalidArgument(where + ": text after the closing quote");
        return out;
      }
      if (c == '\\') {
        if (++i == v.size()) break;
        switch (v[i]) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case 't': out += '\t'; break;
          case 'n': out += '\n'; break;
          default: return InvalidArgument(where + ": unknown escape \\" + std::string(1, v[i]));
        }
        continue;
      }
      out += c;
    }
    return InvalidArgument(where + ": unterminated string");
  }
  if (v.front() == '\'') {
    size_t end = v.find('\'', 1);
    if (end == std::string_view::npos) return InvalidArgument(where + ": unterminated string");
    if (!OnlyComment(v.substr(end + 1))) return InvalidArgument(where + ": text after the closing quote");
    return std::string(v.substr(1, end - 1));
  }
  size_t end = v.find_first_of(" \t#");
  std::string word(v.substr(0, end));
  if (end != std::string_view::npos && !OnlyComment(v.substr(end))) {
    return InvalidArgument(where + ": a value with spaces needs quotes");
  }
  return word;
}

}  // namespace

Result<std::vector<ConfigEntry>> ParseServeConfig(std::string_view text, const std::string& file) {
  std::vector<ConfigEntry> entries;
  std::map<std::string, int> seen;  // key -> line
  int number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = Trim(text.substr(pos, nl - pos));
    pos = nl + 1;
    ++number;
    std::string where = file + ":" + std::to_string(number);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      size_t close = line.find(']');
      if (close == std::string_view::npos || !OnlyComment(line.substr(close + 1))) {
        return InvalidArgument(where + ": malformed section header");
      }
      std::string_view name = Trim(line.substr(1, close - 1));
      if (name != "serve") {
        return InvalidArgument(where + ": unknown section [" + std::string(name) + "]; the only one is [serve]");
      }
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) return InvalidArgument(where + ": expected `key = value`");
    std::string key(Trim(line.substr(0, eq)));
    if (key.empty()) return InvalidArgument(where + ": no key before '='");
    for (char c : key) {
      if (!IsKeyChar(c)) return InvalidArgument(where + ": malformed key '" + key + "'");
    }
    VSL_ASSIGN_OR_RETURN(std::string value, ParseValue(Trim(line.substr(eq + 1)), where + ": " + key));
    auto [it, fresh] = seen.emplace(key, number);
    if (!fresh) {
      return InvalidArgument(where + ": key '" + key + "' given again (first on line " + std::to_string(it->second) +
                             ")");
    }
    entries.push_back({key, std::move(value), number});
  }
  return entries;
}

Status ApplyServeConfig(CLI::App& cmd, const std::vector<ConfigEntry>& entries, const std::string& file) {
  for (const ConfigEntry& e : entries) {
    std::string where = file + ":" + std::to_string(e.line) + ": " + e.key;
    CLI::Option* opt = e.key == "config" || e.key == "help" ? nullptr : cmd.get_option_no_throw("--" + e.key);
    if (opt == nullptr) {
      return InvalidArgument(file + ":" + std::to_string(e.line) + ": unknown key '" + e.key +
                             "' (keys are the long flags of `vsl serve` without --; see vsl serve --help)");
    }
    if (opt->count() > 0) continue;  // the command line wins
    try {
      if (opt->get_expected_min() == 0) {
        if (e.value != "true" && e.value != "false") {
          return InvalidArgument(where + ": '" + e.value + "' is not true or false");
        }
        opt->add_result(e.value);
      } else {
        opt->add_result(e.value);
      }
      opt->run_callback();
    } catch (const CLI::Error& err) {
      std::string why = err.what();
      std::string flag = "--" + e.key + ": ";
      if (why.rfind(flag, 0) == 0) why.erase(0, flag.size());
      return InvalidArgument(where + ": " + why);
    }
  }
  return Status::Ok();
}

Status LoadServeConfig(CLI::App& cmd, const std::string& file) {
  std::ifstream in(file);
  if (!in) return IoError("config " + file + ": " + strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return IoError("config " + file + ": read failed");
  VSL_ASSIGN_OR_RETURN(auto entries, ParseServeConfig(text.str(), file));
  return ApplyServeConfig(cmd, entries, file);
}

}  // namespace vsl::cli
