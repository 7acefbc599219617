// PgServer: a throw-away PostgreSQL server for tests.
//
// Start() copies a cluster made once by Debian's initdb (kept beside the test
// binary, in .pg-template-*) into a fresh temporary directory and runs pg_ctl
// there (as the `postgres` user when the test runs as root), listening only on a
// unix socket inside it, with trust authentication. The destructor stops the
// server and removes the directory. Start fails (it never skips) when
// PostgreSQL is missing or does not come up, with the server's log in the
// message.
#pragma once

#include <memory>
#include <string>

#include "util/status.h"

namespace vsl::catalog::testing {

class PgServer {
 public:
  static Result<std::unique_ptr<PgServer>> Start();
  ~PgServer();
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  // Creates an empty database and returns a libpq URL for it.
  Result<std::string> CreateDatabase(const std::string& name);
  // The URL of the server's default `postgres` database.
  std::string url() const { return Url("postgres"); }
  const std::string& dir() const { return dir_; }

 private:
  PgServer() = default;
  std::string Url(const std::string& db) const;
  Status Run(const std::string& command);
  Status Run(const std::string& command, bool as_postgres);
  // The data directory of a cluster made once by initdb, to copy from.
  Result<std::string> Template();

  std::string dir_;
  std::string bin_;
  bool as_postgres_ = false;
  bool started_ = false;
};

// A process-wide server shared by every test of one binary, started on first
// use and stopped at exit.
Result<PgServer*> SharedPgServer();

}  // namespace vsl::catalog::testing
