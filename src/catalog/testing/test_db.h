// TestDb: an empty catalog database for one test, on either back end, so that
// suites can run parameterized over {"sqlite", "postgres"}.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace vsl::catalog::testing {

class TestDb {
 public:
  // backend: "sqlite" (a file in a fresh temporary directory) or "postgres"
  // (a fresh database on the shared throw-away server; an error, never a
  // skip, when that server can't start).
  static Result<std::unique_ptr<TestDb>> Make(std::string_view backend);
  ~TestDb();

  // The URL to give Catalog::Open / OpenDatabase.
  const std::string& url() const { return url_; }
  // A scratch directory removed with the TestDb.
  const std::string& dir() const { return dir_; }

 private:
  std::string url_;
  std::string dir_;
};

// The back ends every catalog suite runs on.
inline std::vector<std::string> AllBackends() { return {"sqlite", "postgres"}; }

}  // namespace vsl::catalog::testing
