#include "api/auth.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "catalog/catalog.h"
#include "catalog/tenants.h"

namespace vsl::api {
namespace {

TEST(HashToken, IsSha256InLowercaseHex) {
  // FIPS 180-2's test vector for "abc".
  EXPECT_EQ(HashToken("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HashToken("").size(), 64u);
  EXPECT_NE(HashToken("token-a"), HashToken("token-b"));
}

TEST(NewToken, Is32RandomBytesAsHex) {
  auto a = NewToken();
  auto b = NewToken();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 64u);
  EXPECT_EQ(a->find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(*a, *b);
}

TEST(SameDigest, ComparesWholeDigests) {
  std::string d = HashToken("x");
  EXPECT_TRUE(SameDigest(d, HashToken("x")));
  EXPECT_FALSE(SameDigest(d, HashToken("y")));
  std::string last = d;
  last.back() = last.back() == '0' ? '1' : '0';
  EXPECT_FALSE(SameDigest(d, last));             // differs only in the last byte
  EXPECT_FALSE(SameDigest(d, d.substr(0, 63)));  // a prefix
  EXPECT_FALSE(SameDigest("", ""));              // no digest matches nothing
  EXPECT_FALSE(SameDigest(d, ""));
}

TEST(PrincipalForToken, AdminByHashOnly) {
  ApiContext ctx;
  ctx.admin_token_sha256 = HashToken("the-admin-token");
  auto p = PrincipalForToken(ctx, "the-admin-token");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(p->admin());
  EXPECT_EQ(p->actor(), "admin");
  // The hash itself is not a token.
  EXPECT_EQ(PrincipalForToken(ctx, ctx.admin_token_sha256).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(PrincipalForToken(ctx, "the-admin-tokem").status().code(), Code::kUnauthenticated);
  EXPECT_EQ(PrincipalForToken(ctx, "").status().code(), Code::kUnauthenticated);
  // No admin hash configured: nothing is the admin, not even "".
  ApiContext none;
  EXPECT_EQ(PrincipalForToken(none, "").status().code(), Code::kUnauthenticated);
  EXPECT_EQ(PrincipalForToken(none, "x").status().code(), Code::kUnauthenticated);
}

TEST(PrincipalForToken, TenantsFromTheCatalogUntilRemoved) {
  char tmpl[] = "/tmp/vsl-auth-test.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  {
    auto cat = catalog::Catalog::Open("sqlite:" + dir + "/catalog.db");
    ASSERT_TRUE(cat.ok()) << cat.status().ToString();
    ApiContext ctx;
    ctx.catalog = cat->get();
    ctx.admin_token_sha256 = HashToken("admin");
    std::string token = *NewToken();
    ASSERT_TRUE((*cat)->Write([&](catalog::Tx& tx) {
                        return catalog::AddTenant(tx, "acme", HashToken(token), 1).status();
                      }).ok());
    auto p = PrincipalForToken(ctx, token);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_FALSE(p->admin());
    EXPECT_EQ(p->tenant, "acme");
    EXPECT_EQ(p->actor(), "tenant:acme");
    EXPECT_TRUE(PrincipalForToken(ctx, "admin")->admin());
    EXPECT_EQ(AdminOnly(*p, "GET /v1/arrays").code(), Code::kPermissionDenied);
    EXPECT_TRUE(AdminOnly(Principal{}, "GET /v1/arrays").ok());
    // Only the hash is stored.
    ASSERT_TRUE((*cat)->Read([&](catalog::Tx& tx) -> Status {
                        VSL_ASSIGN_OR_RETURN(auto all, catalog::ListTenants(tx));
                        EXPECT_EQ(all.size(), 1u);
                        EXPECT_EQ(all[0].token_sha256, HashToken(token));
                        return Status::Ok();
                      }).ok());
    ASSERT_TRUE((*cat)->Write([&](catalog::Tx& tx) { return catalog::RemoveTenant(tx, "acme"); }).ok());
    EXPECT_EQ(PrincipalForToken(ctx, token).status().code(), Code::kUnauthenticated);
  }
  std::filesystem::remove_all(dir);
}

TEST(RemoveTenant, RefusedWhileItOwnsAFarmNamingIt) {
  char tmpl[] = "/tmp/vsl-auth-test.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  {
    auto cat = catalog::Catalog::Open("sqlite:" + dir + "/catalog.db");
    ASSERT_TRUE(cat.ok()) << cat.status().ToString();
    catalog::Catalog& c = **cat;
    int64_t farm_id = 0;
    ASSERT_TRUE(c.Write([&](catalog::Tx& tx) -> Status {
                   VSL_ASSIGN_OR_RETURN(auto t, catalog::AddTenant(tx, "acme", HashToken("t"), 1));
                   catalog::Farm f;
                   f.name = "web-shop";
                   VSL_ASSIGN_OR_RETURN(f, c.AddFarm(tx, f));
                   farm_id = f.id;
                   return catalog::SetFarmTenant(tx, f.id, t.id);
                 }).ok());
    Status s = c.Write([&](catalog::Tx& tx) { return catalog::RemoveTenant(tx, "acme"); });
    EXPECT_EQ(s.code(), Code::kFailedPrecondition);
    EXPECT_NE(s.message().find("web-shop"), std::string::npos) << s.message();
    // A destroyed farm's row no longer holds the tenant, and is no one's after.
    ASSERT_TRUE(c.Write([&](catalog::Tx& tx) {
                   return tx.Exec("UPDATE farms SET state = 'destroyed' WHERE id = ?", {farm_id}).status();
                 }).ok());
    EXPECT_TRUE(c.Write([&](catalog::Tx& tx) { return catalog::RemoveTenant(tx, "acme"); }).ok());
    ASSERT_TRUE(c.Read([&](catalog::Tx& tx) -> Status {
                   VSL_ASSIGN_OR_RETURN(auto owner, catalog::FarmTenant(tx, farm_id));
                   EXPECT_FALSE(owner.has_value());
                   return Status::Ok();
                 }).ok());
    EXPECT_EQ(c.Write([&](catalog::Tx& tx) { return catalog::RemoveTenant(tx, "acme"); }).code(), Code::kNotFound);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vsl::api
