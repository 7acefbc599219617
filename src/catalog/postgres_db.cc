// PostgreSQL back end (libpq): READ COMMITTED transactions; rows are claimed
// by compare-and-swap UPDATEs and, for the request queue, SKIP LOCKED.
#include <libpq-fe.h>

#include "catalog/conn_pool.h"
#include "catalog/db.h"
#include "util/names.h"
#include "util/utf8.h"

namespace vsl::catalog {
namespace {

class PgConn {
 public:
  explicit PgConn(PGconn* c) : c_(c) {}
  ~PgConn() { PQfinish(c_); }
  PGconn* get() const { return c_; }

 private:
  PGconn* c_;
};

using ResultPtr = std::unique_ptr<PGresult, void (*)(PGresult*)>;

class PgTx : public Tx {
 public:
  explicit PgTx(PgConn& conn) : c_(conn.get()) {}

  Result<int64_t> Exec(std::string_view sql, const std::vector<Value>& params) override {
    VSL_ASSIGN_OR_RETURN(ResultPtr res, Run(sql, params));
    const char* n = PQcmdTuples(res.get());
    return static_cast<int64_t>(n && *n ? std::stoll(n) : 0);
  }

  Result<Rows> Query(std::string_view sql, const std::vector<Value>& params) override {
    VSL_ASSIGN_OR_RETURN(ResultPtr res, Run(sql, params));
    Rows rows;
    int nrows = PQntuples(res.get());
    int ncols = PQnfields(res.get());
    rows.reserve(nrows);
    for (int r = 0; r < nrows; ++r) {
      std::vector<Value> values;
      values.reserve(ncols);
      for (int c = 0; c < ncols; ++c) {
        if (PQgetisnull(res.get(), r, c)) {
          values.emplace_back(nullptr);
        } else {
          values.emplace_back(std::string(PQgetvalue(res.get(), r, c), PQgetlength(res.get(), r, c)));
        }
      }
      rows.emplace_back(std::move(values));
    }
    return rows;
  }

  Dialect dialect() const override { return Dialect::kPostgres; }
  bool conflict() const { return conflict_; }
  bool broken() const { return PQstatus(c_) != CONNECTION_OK; }

  Status Raw(const char* sql) { return Run(sql, {}).status(); }

 private:
  Result<ResultPtr> Run(std::string_view sql, const std::vector<Value>& params) {
    std::string text = ToDollarParams(sql);
    std::vector<std::string> storage(params.size());
    std::vector<const char*> ptrs(params.size(), nullptr);
    for (size_t i = 0; i < params.size(); ++i) {
      const Value& v = params[i];
      if (std::holds_alternative<std::nullptr_t>(v)) continue;
      if (auto* n = std::get_if<int64_t>(&v)) {
        storage[i] = std::to_string(*n);
      } else if (auto* d = std::get_if<double>(&v)) {
        storage[i] = std::to_string(*d);
      } else {
        storage[i] = std::get<std::string>(v);
        // libpq sends text parameters as C strings in UTF-8: a NUL would cut
        // the value short and a bad byte makes the server fail the statement.
        if (storage[i].find('\0') != std::string::npos || !IsValidUtf8(storage[i])) {
          return InvalidArgument("a text value (" + Printable(storage[i], 40) + ") is not UTF-8 without NUL");
        }
      }
      ptrs[i] = storage[i].c_str();
    }
    ResultPtr res(PQexecParams(c_, text.c_str(), static_cast<int>(params.size()), nullptr, ptrs.data(),
                               nullptr, nullptr, 0),
                  PQclear);
    ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return res;
    std::string state;
    if (res) {
      const char* s = PQresultErrorField(res.get(), PG_DIAG_SQLSTATE);
      if (s) state = s;
    }
    std::string msg = "postgresql: " + std::string(PQerrorMessage(c_));
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    msg += " in: " + std::string(sql.substr(0, 200));
    if (state == "40001" || state == "40P01" || state == "55P03") {
      conflict_ = true;
      return Unavailable(msg);
    }
    if (state == "23505") return AlreadyExists(msg);
    if (state.rfind("23", 0) == 0) return FailedPrecondition(msg);
    if (state.rfind("08", 0) == 0 || PQstatus(c_) != CONNECTION_OK) return Unavailable(msg);
    return Internal(msg);
  }

  PGconn* c_;
  bool conflict_ = false;
};

class PgDatabase : public Database {
 public:
  PgDatabase(std::string conninfo, int pool_size)
      : conninfo_(std::move(conninfo)), pool_(pool_size, [this] { return Connect(); }) {}

  Status Init() {
    VSL_ASSIGN_OR_RETURN(auto c, pool_.Acquire());
    pool_.Release(std::move(c));
    return Status::Ok();
  }

  Status Run(TxMode mode, const std::function<Status(Tx&)>& fn) override {
    return RunTransaction<PgTx>(pool_, mode == TxMode::kWrite ? "BEGIN" : "BEGIN READ ONLY", fn);
  }

  Dialect dialect() const override { return Dialect::kPostgres; }
  std::string description() const override {
    // Drops a password given as user:password@ in the URL.
    std::string d = conninfo_;
    size_t scheme = d.find("://");
    size_t at = d.find('@');
    if (scheme != std::string::npos && at != std::string::npos) {
      size_t colon = d.find(':', scheme + 3);
      if (colon != std::string::npos && colon < at) d.erase(colon, at - colon);
    }
    return d;
  }

 private:
  Result<std::unique_ptr<PgConn>> Connect() {
    auto conn = std::make_unique<PgConn>(PQconnectdb(conninfo_.c_str()));
    if (!conn->get() || PQstatus(conn->get()) != CONNECTION_OK) {
      std::string m = conn->get() ? PQerrorMessage(conn->get()) : "out of memory";
      while (!m.empty() && m.back() == '\n') m.pop_back();
      return Unavailable("postgresql: cannot connect to " + description() + ": " + m);
    }
    PGresult* r = PQexec(conn->get(), "SET client_min_messages = warning");
    PQclear(r);
    return conn;
  }

  std::string conninfo_;
  ConnPool<PgConn> pool_;
};

}  // namespace

Result<std::unique_ptr<Database>> OpenPostgres(const std::string& conninfo, int pool_size) {
  auto db = std::make_unique<PgDatabase>(conninfo, pool_size);
  VSL_RETURN_IF_ERROR(db->Init());
  return std::unique_ptr<Database>(std::move(db));
}

}  // namespace vsl::catalog
