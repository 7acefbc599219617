// CatalogFixture: a gtest fixture parameterized by back end ("sqlite",
// "postgres") holding a fresh, migrated Catalog on a FakeClock.
//
//   class MyTest : public vsl::catalog::testing::CatalogFixture {};
//   TEST_P(MyTest, Something) { ... catalog() ... }
//   VSL_INSTANTIATE_CATALOG_BACKENDS(MyTest);
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "catalog/catalog.h"
#include "catalog/testing/test_db.h"

namespace vsl::catalog::testing {

class CatalogFixture : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto db = TestDb::Make(GetParam());
    ASSERT_TRUE(db.ok()) << "back end " << GetParam() << ": " << db.status().ToString();
    db_ = std::move(db).value();
    auto c = Catalog::Open(db_->url(), &clock_, 16);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    catalog_ = std::move(c).value();
  }

  // Opens a second, independent Catalog on the same database (another
  // "process" as far as the database can tell: its own connections).
  std::unique_ptr<Catalog> OpenAnother() {
    auto c = Catalog::Open(db_->url(), &clock_, 16);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  Catalog& catalog() { return *catalog_; }
  FakeClock& clock() { return clock_; }
  const TestDb& test_db() const { return *db_; }

  FakeClock clock_;
  std::unique_ptr<TestDb> db_;
  std::unique_ptr<Catalog> catalog_;
};

}  // namespace vsl::catalog::testing

#define VSL_INSTANTIATE_CATALOG_BACKENDS(Suite)                                    \
  INSTANTIATE_TEST_SUITE_P(Backends, Suite,                                        \
                           ::testing::ValuesIn(::vsl::catalog::testing::AllBackends()), \
                           [](const ::testing::TestParamInfo<std::string>& i) { return i.param; })
