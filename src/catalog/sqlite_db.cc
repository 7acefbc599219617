// SQLite back end: one file, WAL, a busy timeout; write transactions take the
// write lock at BEGIN IMMEDIATE so that a read-then-update never deadlocks.
#include <sqlite3.h>

#include "catalog/conn_pool.h"
#include "catalog/db.h"

namespace vsl::catalog {
namespace {

constexpr int kBusyTimeoutMs = 15000;

class SqliteConn {
 public:
  explicit SqliteConn(sqlite3* db) : db_(db) {}
  ~SqliteConn() { sqlite3_close_v2(db_); }
  sqlite3* db() const { return db_; }

 private:
  sqlite3* db_;
};

bool IsConflict(int rc) {
  int primary = rc & 0xff;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

class SqliteTx : public Tx {
 public:
  explicit SqliteTx(SqliteConn& conn) : db_(conn.db()) {}

  Result<int64_t> Exec(std::string_view sql, const std::vector<Value>& params) override {
    VSL_RETURN_IF_ERROR(Step(sql, params, nullptr));
    return static_cast<int64_t>(sqlite3_changes(db_));
  }

  Result<Rows> Query(std::string_view sql, const std::vector<Value>& params) override {
    Rows rows;
    VSL_RETURN_IF_ERROR(Step(sql, params, &rows));
    return rows;
  }

  Dialect dialect() const override { return Dialect::kSqlite; }
  bool conflict() const { return conflict_; }
  bool broken() const { return false; }  // a SQLite connection does not drop

  // Runs a statement that is not part of the caller's SQL (BEGIN, COMMIT).
  Status Raw(const char* sql) {
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return Error(rc, sql);
    return Status::Ok();
  }

 private:
  Status Error(int rc, std::string_view sql) {
    if (IsConflict(rc)) conflict_ = true;
    std::string msg = "sqlite: " + std::string(sqlite3_errmsg(db_)) + " in: " + std::string(sql.substr(0, 200));
    int primary = rc & 0xff;
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) return AlreadyExists(msg);
    if (primary == SQLITE_CONSTRAINT) return FailedPrecondition(msg);
    if (IsConflict(rc)) return Unavailable(msg);
    if (primary == SQLITE_IOERR || primary == SQLITE_FULL || primary == SQLITE_CORRUPT) return IoError(msg);
    return Internal(msg);
  }

  Status Step(std::string_view sql, const std::vector<Value>& params, Rows* rows) {
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &st, nullptr);
    if (rc != SQLITE_OK) return Error(rc, sql);
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> guard(st, sqlite3_finalize);
    if (static_cast<size_t>(sqlite3_bind_parameter_count(st)) != params.size()) {
      return Internal("sqlite: statement wants " + std::to_string(sqlite3_bind_parameter_count(st)) +
                      " parameters, got " + std::to_string(params.size()) + ": " + std::string(sql));
    }
    for (size_t i = 0; i < params.size(); ++i) {
      int idx = static_cast<int>(i + 1);
      const Value& v = params[i];
      if (std::holds_alternative<std::nullptr_t>(v)) {
        rc = sqlite3_bind_null(st, idx);
      } else if (auto* n = std::get_if<int64_t>(&v)) {
        rc = sqlite3_bind_int64(st, idx, *n);
      } else if (auto* d = std::get_if<double>(&v)) {
        rc = sqlite3_bind_double(st, idx, *d);
      } else {
        const std::string& s = std::get<std::string>(v);
        rc = sqlite3_bind_text(st, idx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
      }
      if (rc != SQLITE_OK) return Error(rc, sql);
    }
    for (;;) {
      rc = sqlite3_step(st);
      if (rc == SQLITE_DONE) return Status::Ok();
      if (rc != SQLITE_ROW) return Error(sqlite3_extended_errcode(db_), sql);
      if (!rows) continue;
      int n = sqlite3_column_count(st);
      std::vector<Value> values;
      values.reserve(n);
      for (int c = 0; c < n; ++c) {
        switch (sqlite3_column_type(st, c)) {
          case SQLITE_NULL: values.emplace_back(nullptr); break;
          case SQLITE_INTEGER: values.emplace_back(static_cast<int64_t>(sqlite3_column_int64(st, c))); break;
          case SQLITE_FLOAT: values.emplace_back(sqlite3_column_double(st, c)); break;
          default: {
            const char* t = reinterpret_cast<const char*>(sqlite3_column_text(st, c));
            values.emplace_back(std::string(t ? t : "", sqlite3_column_bytes(st, c)));
          }
        }
      }
      rows->emplace_back(std::move(values));
    }
  }

  sqlite3* db_;
  bool conflict_ = false;
};

class SqliteDatabase : public Database {
 public:
  SqliteDatabase(std::string path, int pool_size)
      : path_(std::move(path)), pool_(pool_size, [this] { return Connect(); }) {}

  Status Init() {
    // Opening one connection creates the file and switches it to WAL before
    // any worker races to do so.
    VSL_ASSIGN_OR_RETURN(auto c, pool_.Acquire());
    pool_.Release(std::move(c));
    return Status::Ok();
  }

  Status Run(TxMode mode, const std::function<Status(Tx&)>& fn) override {
    return RunTransaction<SqliteTx>(pool_, mode == TxMode::kWrite ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED", fn);
  }

  Dialect dialect() const override { return Dialect::kSqlite; }
  std::string description() const override { return "sqlite:" + path_; }

 private:
  Result<std::unique_ptr<SqliteConn>> Connect() {
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(path_.c_str(), &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    auto conn = std::make_unique<SqliteConn>(db);
    if (rc != SQLITE_OK) {
      return IoError("sqlite: cannot open catalog " + path_ + ": " +
                     (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
    }
    sqlite3_busy_timeout(db, kBusyTimeoutMs);
    sqlite3_extended_result_codes(db, 1);
    for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                               "PRAGMA foreign_keys=ON"}) {
      char* err = nullptr;
      if (sqlite3_exec(db, pragma, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string m = err ? err : "?";
        sqlite3_free(err);
        return IoError("sqlite: " + std::string(pragma) + " on " + path_ + ": " + m);
      }
    }
    return conn;
  }

  std::string path_;
  ConnPool<SqliteConn> pool_;
};

}  // namespace

Result<std::unique_ptr<Database>> OpenSqlite(const std::string& path, int pool_size) {
  auto db = std::make_unique<SqliteDatabase>(path, pool_size);
  VSL_RETURN_IF_ERROR(db->Init());
  return std::unique_ptr<Database>(std::move(db));
}

}  // namespace vsl::catalog
