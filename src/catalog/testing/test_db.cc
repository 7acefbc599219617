#include "catalog/testing/test_db.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "catalog/testing/pg_server.h"

namespace vsl::catalog::testing {

Result<std::unique_ptr<TestDb>> TestDb::Make(std::string_view backend) {
  auto db = std::unique_ptr<TestDb>(new TestDb());
  char tmpl[] = "/tmp/vsl-catalog-test.XXXXXX";
  if (!mkdtemp(tmpl)) return ErrnoError("mkdtemp", errno);
  db->dir_ = tmpl;
  if (backend == "sqlite") {
    db->url_ = "sqlite:" + db->dir_ + "/catalog.db";
    return db;
  }
  if (backend == "postgres") {
    VSL_ASSIGN_OR_RETURN(PgServer * server, SharedPgServer());
    static std::atomic<int> seq{0};
    std::string name = "vsl_test_" + std::to_string(getpid()) + "_" + std::to_string(seq++);
    VSL_ASSIGN_OR_RETURN(db->url_, server->CreateDatabase(name));
    return db;
  }
  return InvalidArgument("unknown catalog back end '" + std::string(backend) + "'");
}

TestDb::~TestDb() {
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

}  // namespace vsl::catalog::testing
