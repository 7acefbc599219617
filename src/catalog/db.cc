#include "catalog/db.h"

#include <charconv>

namespace vsl::catalog {

bool Row::IsNull(size_t i) const { return std::holds_alternative<std::nullptr_t>(values_.at(i)); }

int64_t Row::Int(size_t i) const {
  const Value& v = values_.at(i);
  if (auto* n = std::get_if<int64_t>(&v)) return *n;
  if (auto* d = std::get_if<double>(&v)) return static_cast<int64_t>(*d);
  if (auto* s = std::get_if<std::string>(&v)) {
    int64_t out = 0;
    std::from_chars(s->data(), s->data() + s->size(), out);
    return out;
  }
  return 0;
}

std::optional<int64_t> Row::OptInt(size_t i) const {
  if (IsNull(i)) return std::nullopt;
  return Int(i);
}

std::string Row::Text(size_t i) const {
  const Value& v = values_.at(i);
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  if (auto* n = std::get_if<int64_t>(&v)) return std::to_string(*n);
  if (auto* d = std::get_if<double>(&v)) return std::to_string(*d);
  return "";
}

std::optional<std::string> Row::OptText(size_t i) const {
  if (IsNull(i)) return std::nullopt;
  return Text(i);
}

Result<std::optional<Row>> Tx::QueryOne(std::string_view sql, const std::vector<Value>& params) {
  VSL_ASSIGN_OR_RETURN(Rows rows, Query(sql, params));
  if (rows.empty()) return std::optional<Row>();
  return std::optional<Row>(std::move(rows.front()));
}

std::string_view Tx::SkipLocked() const {
  return dialect() == Dialect::kPostgres ? " FOR UPDATE SKIP LOCKED" : "";
}

std::string ToDollarParams(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  char quote = 0;  // inside '...' or "..." when set
  for (char c : sql) {
    if (quote) {
      if (c == quote) quote = 0;
      out += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      out += c;
    } else if (c == '?') {
      out += '$';
      out += std::to_string(++n);
    } else {
      out += c;
    }
  }
  return out;
}

Result<std::unique_ptr<Database>> OpenDatabase(const std::string& url, int pool_size) {
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) {
    return OpenPostgres(url, pool_size);
  }
  std::string path = url.rfind("sqlite:", 0) == 0 ? url.substr(7) : url;
  if (path.empty()) return InvalidArgument("catalog URL '" + url + "' names no SQLite file");
  return OpenSqlite(path, pool_size);
}

}  // namespace vsl::catalog
