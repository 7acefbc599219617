#include "catalog/db.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "catalog/catalog.h"
#include "catalog/schema.h"
#include "catalog/testing/test_db.h"

namespace vsl::catalog {
namespace {

TEST(ToDollarParams, NumbersPlaceholdersOutsideQuotes) {
  EXPECT_EQ(ToDollarParams("SELECT a FROM t WHERE b = ? AND c = '?' AND d = ?"),
            "SELECT a FROM t WHERE b = $1 AND c = '?' AND d = $2");
  EXPECT_EQ(ToDollarParams("SELECT \"we?ird\" FROM t WHERE x IN (?, ?, ?)"),
            "SELECT \"we?ird\" FROM t WHERE x IN ($1, $2, $3)");
  EXPECT_EQ(ToDollarParams("no params"), "no params");
}

TEST(OpenDatabase, RejectsEmptySqlitePath) {
  auto db = OpenDatabase("sqlite:");
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Code::kInvalidArgument);
}

TEST(OpenDatabase, PostgresUnreachableIsUnavailable) {
  auto db = OpenDatabase("postgresql:///nope?host=/nonexistent-dir&connect_timeout=1");
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Code::kUnavailable);
  EXPECT_NE(db.status().message().find("cannot connect"), std::string::npos);
}

class DbTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto t = testing::TestDb::Make(GetParam());
    ASSERT_TRUE(t.ok()) << GetParam() << ": " << t.status().ToString();
    tdb_ = std::move(t).value();
    auto d = OpenDatabase(tdb_->url(), 8);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    db_ = std::move(d).value();
    ASSERT_TRUE(db_->Write([](Tx& tx) {
                     return tx.Exec("CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT UNIQUE, n BIGINT, s TEXT)")
                         .status();
                   }).ok());
  }
  std::unique_ptr<testing::TestDb> tdb_;
  std::unique_ptr<Database> db_;
};

TEST_P(DbTest, TypedRowsAndNulls) {
  ASSERT_TRUE(db_->Write([](Tx& tx) {
                   return tx.Exec("INSERT INTO t (id, name, n, s) VALUES (?, ?, ?, ?)",
                                  {int64_t{1}, std::string("a"), int64_t{-9000000000}, nullptr})
                       .status();
                 }).ok());
  Status s = db_->Read([](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT id, name, n, s FROM t WHERE name = ?", {std::string("a")}));
    EXPECT_EQ(rows.size(), 1u);
    if (rows.size() != 1) return Internal("no row");
    EXPECT_EQ(rows[0].Int(0), 1);
    EXPECT_EQ(rows[0].Text(1), "a");
    EXPECT_EQ(rows[0].Int(2), -9000000000);
    EXPECT_TRUE(rows[0].IsNull(3));
    EXPECT_FALSE(rows[0].OptText(3).has_value());
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST_P(DbTest, ExecCountsChangedRows) {
  Status s = db_->Write([](Tx& tx) -> Status {
    for (int64_t i = 0; i < 5; ++i) {
      VSL_RETURN_IF_ERROR(tx.Exec("INSERT INTO t (id, n) VALUES (?, ?)", {i, i % 2}).status());
    }
    VSL_ASSIGN_OR_RETURN(int64_t n, tx.Exec("UPDATE t SET s = 'x' WHERE n = ?", {int64_t{0}}));
    EXPECT_EQ(n, 3);
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST_P(DbTest, ErrorRollsBackTheWholeTransaction) {
  Status s = db_->Write([](Tx& tx) -> Status {
    VSL_RETURN_IF_ERROR(tx.Exec("INSERT INTO t (id, name) VALUES (?, ?)", {int64_t{1}, std::string("x")}).status());
    return tx.Exec("INSERT INTO t (id, name) VALUES (?, ?)", {int64_t{2}, std::string("x")}).status();
  });
  EXPECT_EQ(s.code(), Code::kAlreadyExists) << s.ToString();
  int64_t count = -1;
  ASSERT_TRUE(db_->Read([&](Tx& tx) -> Status {
                   VSL_ASSIGN_OR_RETURN(auto r, tx.QueryOne("SELECT COUNT(*) FROM t"));
                   count = r->Int(0);
                   return Status::Ok();
                 }).ok());
  EXPECT_EQ(count, 0);
}

TEST_P(DbTest, SyntaxErrorNamesTheStatement) {
  Status s = db_->Write([](Tx& tx) { return tx.Exec("SELEKT 1").status(); });
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("SELEKT"), std::string::npos) << s.ToString();
}

// Many threads increment one counter by read-then-CAS; with retries on
// Aborted every increment lands exactly once.
TEST_P(DbTest, CompareAndSwapUnderContention) {
  ASSERT_TRUE(db_->Write([](Tx& tx) { return tx.Exec("INSERT INTO t (id, n) VALUES (1, 0)").status(); }).ok());
  constexpr int kThreads = 6, kEach = 15;
  std::atomic<int> aborted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        for (;;) {
          Status s = db_->Write([&](Tx& tx) -> Status {
            VSL_ASSIGN_OR_RETURN(auto r, tx.QueryOne("SELECT n FROM t WHERE id = 1"));
            int64_t n = r->Int(0);
            VSL_ASSIGN_OR_RETURN(int64_t changed,
                                 tx.Exec("UPDATE t SET n = ? WHERE id = 1 AND n = ?", {n + 1, n}));
            if (changed == 0) return Aborted("lost");
            return Status::Ok();
          });
          if (s.ok()) break;
          ASSERT_EQ(s.code(), Code::kAborted) << s.ToString();
          ++aborted;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  int64_t n = 0;
  ASSERT_TRUE(db_->Read([&](Tx& tx) -> Status {
                   VSL_ASSIGN_OR_RETURN(auto r, tx.QueryOne("SELECT n FROM t WHERE id = 1"));
                   n = r->Int(0);
                   return Status::Ok();
                 }).ok());
  EXPECT_EQ(n, kThreads * kEach);
}

TEST_P(DbTest, MigrateIsIdempotent) {
  ASSERT_TRUE(Migrate(*db_).ok());
  ASSERT_TRUE(Migrate(*db_).ok());
  auto v = SchemaVersion(*db_);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, LatestSchemaVersion());
}

TEST_P(DbTest, RefusesANewerSchema) {
  ASSERT_TRUE(Migrate(*db_).ok());
  ASSERT_TRUE(db_->Write([](Tx& tx) {
                   return tx.Exec("INSERT INTO schema_version (version, what, applied_ms) VALUES (999, 'x', 0)")
                       .status();
                 }).ok());
  Status s = Migrate(*db_);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("999"), std::string::npos);
}

// A catalog written by a build before read-only bindings (schema version 2)
// migrates: its bindings stay read-write, and read-only ones can be added.
TEST_P(DbTest, VersionTwoCatalogGainsReadOnlyBindings) {
  ASSERT_TRUE(MigrateTo(*db_, 2).ok());
  ASSERT_EQ(*SchemaVersion(*db_), 2);
  Status s = db_->Write([](Tx& tx) -> Status {
    VSL_RETURN_IF_ERROR(tx.Exec("INSERT INTO arrays (name, driver, created_ms) VALUES ('a', 'memory', 0)").status());
    VSL_RETURN_IF_ERROR(tx.Exec("INSERT INTO volumes (array_id, array_volume, type, size, state, created_ms, "
                                "updated_ms) SELECT id, 'vol-0', 'disk', 4096, 'bound', 0, 0 FROM arrays")
                            .status());
    VSL_RETURN_IF_ERROR(
        tx.Exec("INSERT INTO hosts (name, state, created_ms, updated_ms) VALUES ('old', 'idle', 0, 0)").status());
    return tx.Exec("INSERT INTO bindings (volume_id, host_id, target, lun, created_ms) "
                   "SELECT v.id, h.id, 0, 0, 0 FROM volumes v, hosts h")
        .status();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  // Before the migration there is no such column.
  EXPECT_FALSE(db_->Read([](Tx& tx) { return tx.Query("SELECT read_only FROM bindings").status(); }).ok());

  FakeClock clock;
  auto c = Catalog::Open(tdb_->url(), &clock, 4);  // migrates
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(*SchemaVersion(*db_), LatestSchemaVersion());
  s = (*c)->Write([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(Host h, (*c)->GetHostByName(tx, "old"));
    VSL_ASSIGN_OR_RETURN(auto old, (*c)->BindingsOfHost(tx, h.id));
    EXPECT_EQ(old.size(), 1u);
    if (old.empty()) return Status::Ok();
    EXPECT_FALSE(old[0].read_only);
    Host h2;
    h2.name = "new";
    h2.initiators = {"iqn.2026-11.test:new"};
    VSL_ASSIGN_OR_RETURN(h2, (*c)->AddHost(tx, h2));
    Binding b;
    b.volume_id = old[0].volume_id;
    b.host_id = h2.id;
    b.lun = 3;
    b.target = 3;
    b.read_only = true;
    VSL_RETURN_IF_ERROR((*c)->AddBinding(tx, b).status());
    VSL_ASSIGN_OR_RETURN(auto both, (*c)->BindingsOfVolume(tx, b.volume_id));
    EXPECT_EQ(both.size(), 2u);
    if (both.size() == 2) {
      EXPECT_FALSE(both[0].read_only);
      EXPECT_TRUE(both[1].read_only);
      EXPECT_EQ(both[1].lun, 3);
    }
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
}

// Migration 4: an image's masters on other arrays and the clones of each.
TEST_P(DbTest, VersionThreeCatalogGainsImageMastersAndClones) {
  ASSERT_TRUE(MigrateTo(*db_, 3).ok());
  Status s = db_->Write([](Tx& tx) -> Status {
    VSL_RETURN_IF_ERROR(tx.Exec("INSERT INTO arrays (name, driver, created_ms) VALUES ('f', 'file', 0)").status());
    VSL_RETURN_IF_ERROR(tx.Exec("INSERT INTO arrays (name, driver, created_ms) VALUES ('r', 'rbd', 0)").status());
    for (const char* v : {"vol-1", "vol-2", "vol-3", "vol-4"}) {
      VSL_RETURN_IF_ERROR(tx.Exec(std::string("INSERT INTO volumes (array_id, array_volume, type, size, state, "
                                              "created_ms, updated_ms) SELECT MIN(id), '") +
                                  v + "', 'disk', 4096, 'configured', 0, 0 FROM arrays")
                              .status());
    }
    return tx
        .Exec("INSERT INTO images (name, size, sha256, master_volume_id, created_ms) "
              "SELECT 'os', 4096, '', MIN(id), 0 FROM volumes")
        .status();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(db_->Read([](Tx& tx) { return tx.Query("SELECT * FROM image_masters").status(); }).ok());

  FakeClock clock;
  auto c = Catalog::Open(tdb_->url(), &clock, 4);  // migrates
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(*SchemaVersion(*db_), LatestSchemaVersion());
  s = (*c)->Write([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(Image img, (*c)->GetImageByName(tx, "os"));
    VSL_ASSIGN_OR_RETURN(auto arrays, (*c)->ListArrays(tx));
    const int64_t own = *img.master_volume_id;
    const int64_t copy = own + 1, clone1 = own + 2, clone2 = own + 3;
    ImageMaster m;
    m.image_id = img.id;
    m.array_id = arrays[1].id;
    m.volume_id = copy;
    VSL_RETURN_IF_ERROR((*c)->AddImageMaster(tx, m));
    m.volume_id = clone1;
    EXPECT_EQ((*c)->AddImageMaster(tx, m).code(), Code::kAlreadyExists);  // one per array
    VSL_ASSIGN_OR_RETURN(auto masters, (*c)->ImageMasters(tx, img.id));
    EXPECT_EQ(masters.size(), 1u);
    if (!masters.empty()) {
      EXPECT_EQ(masters[0].volume_id, copy);
    }
    // The copy is the image's master as much as its own is.
    VSL_ASSIGN_OR_RETURN(auto of_copy, (*c)->ImageOfMaster(tx, copy));
    EXPECT_TRUE(of_copy.has_value() && of_copy->name == "os");
    VSL_ASSIGN_OR_RETURN(auto of_clone, (*c)->ImageOfMaster(tx, clone1));
    EXPECT_FALSE(of_clone.has_value());

    VSL_RETURN_IF_ERROR((*c)->SetCloneMaster(tx, clone2, copy));
    VSL_RETURN_IF_ERROR((*c)->SetCloneMaster(tx, clone1, own));
    VSL_RETURN_IF_ERROR((*c)->SetCloneMaster(tx, clone1, copy));  // replaces
    VSL_ASSIGN_OR_RETURN(auto clones, (*c)->ClonesOf(tx, copy));
    EXPECT_EQ(clones, (std::vector<int64_t>{clone1, clone2}));
    VSL_ASSIGN_OR_RETURN(auto none, (*c)->ClonesOf(tx, own));
    EXPECT_TRUE(none.empty());
    VSL_RETURN_IF_ERROR((*c)->SetCloneMaster(tx, clone2, std::nullopt));
    VSL_ASSIGN_OR_RETURN(auto parent, (*c)->CloneMaster(tx, clone2));
    EXPECT_FALSE(parent.has_value());
    VSL_ASSIGN_OR_RETURN(parent, (*c)->CloneMaster(tx, clone1));
    EXPECT_EQ(parent, std::optional<int64_t>(copy));

    VSL_RETURN_IF_ERROR((*c)->RemoveImageMasters(tx, img.id));
    VSL_ASSIGN_OR_RETURN(masters, (*c)->ImageMasters(tx, img.id));
    EXPECT_TRUE(masters.empty());
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
}

INSTANTIATE_TEST_SUITE_P(Backends, DbTest, ::testing::ValuesIn(testing::AllBackends()),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace vsl::catalog
