// The catalog's one SQL seam: a Database runs transactions of positional-
// parameter SQL on SQLite or PostgreSQL.
//
// SQL above the seam is written once, with `?` placeholders; the PostgreSQL
// back end rewrites them to $1, $2, ... Integers are 64-bit, booleans are
// integers 0/1, times are integer milliseconds since the epoch, so the same
// text runs on both. The few places where the dialects differ ask the Tx
// (SkipLocked, IdColumn in schema.cc).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "util/status.h"

namespace vsl::catalog {

enum class Dialect { kSqlite, kPostgres };

// A parameter or a column value.
using Value = std::variant<std::nullptr_t, int64_t, double, std::string>;

// NULL for an empty optional.
template <typename T>
Value Opt(const std::optional<T>& v) {
  if (!v) return nullptr;
  return Value(*v);
}

// One result row; columns by position, in SELECT order.
class Row {
 public:
  explicit Row(std::vector<Value> values) : values_(std::move(values)) {}
  size_t size() const { return values_.size(); }
  bool IsNull(size_t i) const;
  // Integers; text that holds a number is converted (PostgreSQL's BIGINT comes
  // back as text through libpq). NULL reads as 0.
  int64_t Int(size_t i) const;
  std::optional<int64_t> OptInt(size_t i) const;
  // NULL reads as "".
  std::string Text(size_t i) const;
  std::optional<std::string> OptText(size_t i) const;
  bool Bool(size_t i) const { return Int(i) != 0; }
  const Value& at(size_t i) const { return values_.at(i); }

 private:
  std::vector<Value> values_;
};

using Rows = std::vector<Row>;

// A transaction on one connection. Valid only inside the function given to
// Database::Read/Write; not thread-safe.
class Tx {
 public:
  virtual ~Tx() = default;
  // Runs a statement; returns the number of rows it changed.
  virtual Result<int64_t> Exec(std::string_view sql, const std::vector<Value>& params = {}) = 0;
  virtual Result<Rows> Query(std::string_view sql, const std::vector<Value>& params = {}) = 0;
  // Runs one statement that returns at most one row (e.g. INSERT ... RETURNING
  // id); nullopt when it returned none.
  Result<std::optional<Row>> QueryOne(std::string_view sql, const std::vector<Value>& params = {});
  virtual Dialect dialect() const = 0;
  // " FOR UPDATE SKIP LOCKED" on PostgreSQL; "" on SQLite, where every write
  // transaction holds the database's one write lock from its BEGIN IMMEDIATE.
  std::string_view SkipLocked() const;
};

enum class TxMode {
  kRead,   // SQLite: BEGIN DEFERRED; PostgreSQL: BEGIN READ ONLY
  kWrite,  // SQLite: BEGIN IMMEDIATE (takes the write lock at once);
           // PostgreSQL: BEGIN (READ COMMITTED, CAS on rows)
};

// A pool of connections to one catalog database. Thread-safe.
class Database {
 public:
  virtual ~Database() = default;

  // Runs `fn` in a transaction: commits when it returns OK, rolls back
  // otherwise and returns its Status. Retries the whole function (a few
  // times, with backoff) when the back end reports a transient conflict
  // (SQLITE_BUSY, a PostgreSQL serialization failure or deadlock); `fn` must
  // therefore have no effect outside the transaction.
  virtual Status Run(TxMode mode, const std::function<Status(Tx&)>& fn) = 0;
  Status Read(const std::function<Status(Tx&)>& fn) { return Run(TxMode::kRead, fn); }
  Status Write(const std::function<Status(Tx&)>& fn) { return Run(TxMode::kWrite, fn); }

  virtual Dialect dialect() const = 0;
  // "sqlite:/path/catalog.db" or the PostgreSQL URL without its password.
  virtual std::string description() const = 0;
};

// Opens a catalog database:
//   "postgresql://..." or "postgres://..." (libpq connection URI),
//   "sqlite:PATH" or a plain PATH (an SQLite file, created when missing; WAL).
// `pool_size` bounds the connections held open at once.
Result<std::unique_ptr<Database>> OpenDatabase(const std::string& url, int pool_size = 8);

Result<std::unique_ptr<Database>> OpenSqlite(const std::string& path, int pool_size);
Result<std::unique_ptr<Database>> OpenPostgres(const std::string& conninfo, int pool_size);

// `?` placeholders (outside quoted strings) rewritten as $1, $2, ...
std::string ToDollarParams(std::string_view sql);

}  // namespace vsl::catalog
