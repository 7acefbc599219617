#include "api/session.h"

#include "api/auth.h"

#include <gtest/gtest.h>

namespace vsl::api {
namespace {

using std::chrono::seconds;

TEST(SessionStore, CreateFindEnd) {
  SessionStore store(seconds(60), 8);
  auto s = store.Create(Principal{});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->id.size(), 64u);
  EXPECT_EQ(s->csrf.size(), 64u);
  EXPECT_NE(s->id, s->csrf);
  auto found = store.Find(s->id);
  ASSERT_TRUE(found.has_value());
  EXPECT_TRUE(found->principal.admin());
  EXPECT_EQ(found->csrf, s->csrf);
  EXPECT_TRUE(found->id.empty());  // the store keeps a digest, not the cookie
  EXPECT_FALSE(store.Find(s->csrf).has_value());
  EXPECT_TRUE(store.End(s->id));
  EXPECT_FALSE(store.Find(s->id).has_value());
  EXPECT_FALSE(store.End(s->id));
}

TEST(SessionStore, Expires) {
  SessionStore store(seconds(0), 8);
  auto s = store.Create(Principal{});
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(store.Find(s->id).has_value());
  EXPECT_EQ(store.size(), 0u);  // dropped when found expired
}

TEST(SessionStore, Bounded) {
  SessionStore store(seconds(60), 2);
  auto a = store.Create(Principal{});
  auto b = store.Create(Principal{});
  auto c = store.Create(Principal{});
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(store.size(), 2u);
  EXPECT_FALSE(store.Find(a->id).has_value());  // the one nearest its end went
  EXPECT_TRUE(store.Find(b->id).has_value());
  EXPECT_TRUE(store.Find(c->id).has_value());
}

TEST(SessionCookie, Parsed) {
  httplib::Request req;
  EXPECT_FALSE(SessionCookie(req).has_value());
  req.headers.emplace("Cookie", "a=1; other_vsl_session=no");
  EXPECT_FALSE(SessionCookie(req).has_value());
  req.headers.emplace("Cookie", "b=2;vsl_session=abc; c=3");
  EXPECT_EQ(SessionCookie(req).value_or(""), "abc");
}

struct Fixture {
  Fixture() : store(seconds(60), 8) {
    ctx.admin_token_sha256 = HashToken("tok-0123456789");
    ctx.sessions = &store;
    session = *store.Create(Principal{});
  }
  httplib::Request WithCookie(const std::string& method) {
    httplib::Request r;
    r.method = method;
    r.headers.emplace("Cookie", std::string(kSessionCookie) + "=" + session.id);
    return r;
  }
  ApiContext ctx;
  SessionStore store;
  Session session;
};

TEST(Authenticate, BearerOrCookie) {
  Fixture f;
  httplib::Request none;
  none.method = "GET";
  EXPECT_EQ(Authenticate(f.ctx, none).status().code(), Code::kUnauthenticated);
  httplib::Request bearer;
  bearer.method = "POST";
  bearer.headers.emplace("Authorization", "Bearer tok-0123456789");
  EXPECT_TRUE(Authenticate(f.ctx, bearer).ok());  // no CSRF header needed with the token
  EXPECT_TRUE(Authenticate(f.ctx, f.WithCookie("GET")).ok());
  // A wrong bearer token is not rescued by a good cookie.
  auto both = f.WithCookie("GET");
  both.headers.emplace("Authorization", "Bearer wrong");
  EXPECT_EQ(Authenticate(f.ctx, both).status().code(), Code::kUnauthenticated);
  // Unknown or ended sessions.
  httplib::Request stranger;
  stranger.method = "GET";
  stranger.headers.emplace("Cookie", std::string(kSessionCookie) + "=" + std::string(64, 'a'));
  EXPECT_EQ(Authenticate(f.ctx, stranger).status().code(), Code::kUnauthenticated);
}

TEST(Authenticate, CsrfOnStateChangingMethods) {
  Fixture f;
  for (const char* m : {"POST", "PUT", "PATCH", "DELETE"}) {
    auto r = f.WithCookie(m);
    Status s = Authenticate(f.ctx, r).status();
    EXPECT_EQ(s.code(), Code::kPermissionDenied) << m;
    EXPECT_NE(s.message().find("X-VSL-CSRF"), std::string::npos) << s.message();
    r.headers.emplace(kCsrfHeader, f.session.csrf.substr(1) + "0");
    EXPECT_EQ(Authenticate(f.ctx, r).status().code(), Code::kPermissionDenied) << m;
    auto ok = f.WithCookie(m);
    ok.headers.emplace(kCsrfHeader, f.session.csrf);
    EXPECT_TRUE(Authenticate(f.ctx, ok).ok()) << m;
  }
  EXPECT_TRUE(Authenticate(f.ctx, f.WithCookie("GET")).ok());
  EXPECT_TRUE(f.store.End(f.session.id));
  auto after = f.WithCookie("POST");
  after.headers.emplace(kCsrfHeader, f.session.csrf);
  EXPECT_EQ(Authenticate(f.ctx, after).status().code(), Code::kUnauthenticated);
}

}  // namespace
}  // namespace vsl::api
