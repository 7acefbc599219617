// Console sessions: the web console signs in once with a token and from then
// on carries an HttpOnly cookie instead, so no token lives in the page's
// storage. Held in memory by `vsl serve` (bounded, expiring): a restart signs
// everyone out, and two `vsl serve` on one catalog each have their own
// sessions (a browser talks to one of them). See docs/console.md.
//
// Every /v1 route accepts either "Authorization: Bearer <token>" or the
// vsl_session cookie; with the cookie, POST/PUT/PATCH/DELETE must also carry
// X-VSL-CSRF equal to the session's csrf token (403 otherwise), so another
// site cannot make a signed-in browser change anything (SameSite=Strict is
// the first wall, the header the second).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "api/api.h"

namespace vsl::api {

inline constexpr char kSessionCookie[] = "vsl_session";
inline constexpr char kCsrfHeader[] = "X-VSL-CSRF";
// Sessions one `vsl serve` keeps at once (SessionStore's bound).
inline constexpr size_t kMaxSessions = 1024;

struct Session {
  std::string id;             // the cookie's value (64 hex digits); only in Create's reply
  std::string csrf;           // 64 hex digits; the page sends it as X-VSL-CSRF
  Principal principal;        // who signed in (api/auth.h PrincipalForToken)
  int64_t expires_at_ms = 0;  // wall clock, for the reply
  std::chrono::steady_clock::time_point expires;
};

// Thread-safe. Keys are SHA-256 digests of the cookie values, so a lookup
// never compares a secret byte by byte.
class SessionStore {
 public:
  SessionStore(std::chrono::seconds ttl, size_t max_sessions);

  // A new session for `principal`. When max_sessions are live, expired ones
  // are dropped first, then the one that would expire soonest.
  Result<Session> Create(const Principal& principal);
  // The live session whose cookie value is `id`; nullopt when unknown or
  // expired (an expired one is dropped).
  std::optional<Session> Find(const std::string& id);
  // Ends the session; false when there was none.
  bool End(const std::string& id);

  std::chrono::seconds ttl() const { return ttl_; }
  size_t size();

 private:
  const std::chrono::seconds ttl_;
  const size_t max_;
  std::mutex mu_;
  std::map<std::string, Session> sessions_;  // guarded by mu_; key: SHA-256(id)
};

// The vsl_session cookie's value in the request's Cookie header(s), if any.
std::optional<std::string> SessionCookie(const httplib::Request& req);

// The live session of the request's cookie, checked as every /v1 route
// needs it (api/auth.h Authenticate calls this when there is no
// Authorization header): Unauthenticated (401) without a live one, and
// PermissionDenied (403, naming the header) for a state-changing method
// without the session's X-VSL-CSRF.
Result<Session> CookieSession(const ApiContext& ctx, const httplib::Request& req);

// POST /v1/session (public: the token is in the body), GET and DELETE.
void RegisterSessionRoutes(ApiContext& ctx, httplib::Server& server);

}  // namespace vsl::api
