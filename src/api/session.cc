#include "api/session.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>

#include "api/auth.h"
#include "api/routes.h"

namespace vsl::api {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::string Digest(const std::string& id) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(id.data()), id.size(), d);
  return std::string(reinterpret_cast<const char*>(d), sizeof d);
}

bool StateChanging(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

bool SameSecret(const std::string& a, const std::string& b) {
  return !a.empty() && a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Json SessionJson(const Session& s, bool with_csrf) {
  Json j = {
      {"admin", s.principal.admin()},
      {"tenant", s.principal.admin() ? Json(nullptr) : Json(s.principal.tenant)},
      {"expires_at", s.expires_at_ms}};
  j["csrf"] = with_csrf ? Json(s.csrf) : Json(nullptr);
  return j;
}

}  // namespace

SessionStore::SessionStore(std::chrono::seconds ttl, size_t max_sessions)
    : ttl_(ttl), max_(max_sessions) {}

Result<Session> SessionStore::Create(const Principal& principal) {
  Session s;
  VSL_ASSIGN_OR_RETURN(s.id, RandomHex(32));
  VSL_ASSIGN_OR_RETURN(s.csrf, RandomHex(32));
  s.principal = principal;
  s.expires = SteadyClock::now() + ttl_;
  s.expires_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        (std::chrono::system_clock::now() + ttl_).time_since_epoch())
                        .count();
  std::lock_guard<std::mutex> l(mu_);
  if (sessions_.size() >= max_) {
    auto now = SteadyClock::now();
    std::erase_if(sessions_, [&](const auto& kv) { return kv.second.expires <= now; });
  }
  if (sessions_.size() >= max_) {
    auto soonest = std::min_element(
        sessions_.begin(), sessions_.end(),
        [](const auto& a, const auto& b) { return a.second.expires < b.second.expires; });
    sessions_.erase(soonest);
  }
  Session stored = s;
  stored.id.clear();  // the store keeps only the digest of the cookie
  sessions_[Digest(s.id)] = std::move(stored);
  return s;
}

std::optional<Session> SessionStore::Find(const std::string& id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = sessions_.find(Digest(id));
  if (it == sessions_.end()) return std::nullopt;
  if (it->second.expires <= SteadyClock::now()) {
    sessions_.erase(it);
    return std::nullopt;
  }
  return it->second;
}

bool SessionStore::End(const std::string& id) {
  std::lock_guard<std::mutex> l(mu_);
  return sessions_.erase(Digest(id)) > 0;
}

size_t SessionStore::size() {
  std::lock_guard<std::mutex> l(mu_);
  return sessions_.size();
}

std::optional<std::string> SessionCookie(const httplib::Request& req) {
  size_t n = req.get_header_value_count("Cookie");
  for (size_t i = 0; i < n; ++i) {
    std::string header = req.get_header_value("Cookie", i);
    std::string_view h = header;
    while (!h.empty()) {
      size_t semi = h.find(';');
      std::string_view pair = h.substr(0, semi);
      h = semi == std::string_view::npos ? std::string_view() : h.substr(semi + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      size_t eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == kSessionCookie) {
        return std::string(pair.substr(eq + 1));
      }
    }
  }
  return std::nullopt;
}

Result<Session> CookieSession(const ApiContext& ctx, const httplib::Request& req) {
  auto cookie = SessionCookie(req);
  if (!cookie)
    return Unauthenticated("missing Authorization: Bearer header (or a vsl_session cookie)");
  if (ctx.sessions == nullptr) return Unauthenticated("sessions are not enabled on this server");
  auto session = ctx.sessions->Find(*cookie);
  if (!session)
    return Unauthenticated("session expired or signed out: sign in again (POST /v1/session)");
  if (StateChanging(req.method) && !SameSecret(session->csrf, req.get_header_value(kCsrfHeader))) {
    return PermissionDenied(std::string(req.has_header(kCsrfHeader) ? "wrong " : "missing ") +
                            kCsrfHeader + " header: a " + req.method +
                            " with the session cookie must carry the session's csrf token in it");
  }
  return *session;
}

void RegisterSessionRoutes(ApiContext& ctx, httplib::Server& server) {
  // Public (the HTTP server's gate lets it through): the token is the body.
  server.Post("/v1/session", [&ctx](const httplib::Request& req, httplib::Response& res) {
    Status s = [&]() -> Status {
      if (ctx.sessions == nullptr) return Unavailable("sessions are not enabled on this server");
      VSL_ASSIGN_OR_RETURN(Json body, ParseBody(req));
      VSL_RETURN_IF_ERROR(OnlyFields(body, {"token"}));
      VSL_ASSIGN_OR_RETURN(std::string token, RequiredString(body, "token"));
      VSL_ASSIGN_OR_RETURN(Principal principal, PrincipalForToken(ctx, token));
      VSL_ASSIGN_OR_RETURN(Session session, ctx.sessions->Create(principal));
      // No Secure attribute: vsl serve speaks plain HTTP (put a TLS proxy in
      // front for anything but loopback; docs/console.md).
      res.set_header("Set-Cookie", std::string(kSessionCookie) + "=" + session.id +
                                       "; HttpOnly; SameSite=Strict; Path=/; Max-Age=" +
                                       std::to_string(ctx.sessions->ttl().count()));
      res.set_header("Cache-Control", "no-store");
      ReplyJson(res, SessionJson(session, true));
      return Status::Ok();
    }();
    if (!s.ok()) ReplyError(res, s);
  });
  server.Get(
      "/v1/session",
      Authed(ctx, [&ctx](const Principal& p, const httplib::Request& req, httplib::Response& res) -> Status {
        auto cookie = SessionCookie(req);
        std::optional<Session> session;
        if (!req.has_header("Authorization") && cookie && ctx.sessions != nullptr) {
          session = ctx.sessions->Find(*cookie);
        }
        if (!session) {
          // A bearer token: who it is, and no session.
          ReplyJson(res, {{"admin", p.admin()},
                          {"tenant", p.admin() ? Json(nullptr) : Json(p.tenant)},
                          {"csrf", nullptr},
                          {"expires_at", nullptr}});
          return Status::Ok();
        }
        res.set_header("Cache-Control", "no-store");
        ReplyJson(res, SessionJson(*session, true));
        return Status::Ok();
      }));
  server.Delete("/v1/session",
                Authed(ctx, [&ctx](const Principal&, const httplib::Request& req,
                                   httplib::Response& res) -> Status {
                  auto cookie = SessionCookie(req);
                  if (req.has_header("Authorization") || !cookie || ctx.sessions == nullptr) {
                    return InvalidArgument(
                        "DELETE /v1/session ends the session of the vsl_session cookie; "
                        "the request carries none");
                  }
                  bool ended = ctx.sessions->End(*cookie);
                  res.set_header("Set-Cookie",
                                 std::string(kSessionCookie) +
                                     "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
                  ReplyJson(res, {{"signed_out", ended}});
                  return Status::Ok();
                }));
}

}  // namespace vsl::api
