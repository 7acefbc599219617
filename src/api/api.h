// api: vsl's control center. A REST/JSON API under /v1/ over cpp-httplib,
// authenticated by a bearer token, for arrays, volumes, hosts, images, the
// FIG. 8 disk operations, requests and events.
//
// Route files (and the farm manager's, which attaches its own routes to the
// same server) share the helpers declared here: the token check, JSON error
// replies with a stable code, JSON body parsing with errors that name the
// field.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "util/status.h"

namespace vsl::catalog {
class Catalog;
class Clock;
}
namespace vsl::manager {
class StorageManager;
class BackupOps;
}

namespace vsl::api {

class TestHooks;     // api/test_hooks.h
class SessionStore;  // api/session.h
class MetricsText;   // api/metrics_text.h

using Json = nlohmann::json;

// What every route needs. The pointers are owned by `vsl serve` and outlive
// the HTTP server. Routes reach the gateway only through the manager
// (StorageManager::ops().SyncHost), never directly.
struct ApiContext {
  catalog::Catalog* catalog = nullptr;
  manager::StorageManager* manager = nullptr;
  std::string data_dir;
  std::string iscsi_address;  // "127.0.0.1:3260", as the gateway listens
  std::string iqn_prefix;     // target names are "<iqn_prefix>:<host>"
  std::string power = "none"; // power controller driver: none | qemu | qemu-direct | ipmi
  std::string qemu_accel = "tcg";  // QEMU hosts' -machine accel=
  // --power ipmi: the ipmitool binary and the RMCP+ cipher suite (-1: ipmitool's choice).
  std::string ipmitool = "ipmitool";
  int ipmi_cipher = -1;
  // SHA-256 (hex) of the admin's bearer token (api/auth.h); tenants'
  // tokens are in the catalog. The token itself is never kept.
  std::string admin_token_sha256;
  // `vsl serve --import-dir`: the one directory (a realpath) whose files
  // POST /v1/images {file} may name; empty: that form is refused.
  std::string import_dir;
  // GET /metrics (api/metrics.h): the token of --metrics-token-file (empty:
  // the admin's token), or no token at all with --metrics-open.
  std::string metrics_token;
  bool metrics_open = false;
  // Writes the gateway's families into a scrape; null: none.
  std::function<void(MetricsText&)> gateway_metrics;
  // The read cache's figures of a mapped volume (by id) for its JSON
  // (docs/cache.md); false when it is not mapped. Null: none.
  struct VolumeCacheFigures {
    bool reads = false;
    uint64_t hits = 0, misses = 0, backend_read_bytes = 0;
  };
  std::function<bool(const std::string&, VolumeCacheFigures*)> volume_cache;
  // Test-only fault injection (`vsl serve --test-faults`); null otherwise.
  TestHooks* test_hooks = nullptr;
  // `vsl serve --backup-dir`: the backup store and its ops; null: backups
  // are refused.
  manager::BackupOps* backups = nullptr;
  // The console's sign-in sessions (api/session.h); null: only bearer tokens.
  SessionStore* sessions = nullptr;
  // The clock the backup scheduler reads (a test clock under --test-faults
  // with $VSL_TEST_CLOCK); null: the catalog's.
  catalog::Clock* schedule_clock = nullptr;
};

// ---- Errors ---------------------------------------------------------------

// The stable API error code for a Status code ("not_found", "invalid_argument",
// "failed_precondition", "unauthenticated", ...).
std::string_view ErrorCode(Code code);
// The HTTP status for a Status code (404, 400, 409, 401, 500, ...).
int HttpStatusFor(Code code);

// Writes {"error":{"code":"...","message":"..."}} with the matching HTTP status.
void ReplyError(httplib::Response& res, const Status& status);
// Writes `body` as application/json with `http_status`.
void ReplyJson(httplib::Response& res, const Json& body, int http_status = 200);

// ---- Authentication -------------------------------------------------------

// Who a request acts for (api/auth.h resolves it): the admin, or a tenant.
struct Principal {
  std::optional<int64_t> tenant_id;  // nullopt: the admin
  std::string tenant;                // the tenant's name ("" for the admin)
  bool admin() const { return !tenant_id.has_value(); }
  // The actor recorded on requests and events: "admin" or "tenant:NAME".
  std::string actor() const { return admin() ? "admin" : "tenant:" + tenant; }
};

// ---- Request parsing ------------------------------------------------------

// Parses the body as a JSON object; InvalidArgument naming the problem
// ("request body: ... at byte N", "request body must be a JSON object").
Result<Json> ParseBody(const httplib::Request& req);

// Field readers for a parsed body. Required ones fail with InvalidArgument
// "field 'size': missing" / "field 'size': expected a string"; optional ones
// return nullopt when absent (or null) and fail when present with a wrong type.
Result<std::string> RequiredString(const Json& body, std::string_view field);
Result<std::optional<std::string>> OptionalString(const Json& body, std::string_view field);
Result<int64_t> RequiredInt(const Json& body, std::string_view field);
Result<std::optional<int64_t>> OptionalInt(const Json& body, std::string_view field);
Result<std::optional<bool>> OptionalBool(const Json& body, std::string_view field);
// A size given as a number of bytes or as a string with a unit ("512MB",
// "8GiB"; plain numbers are bytes).
Result<uint64_t> RequiredSize(const Json& body, std::string_view field);
Result<std::optional<uint64_t>> OptionalSize(const Json& body, std::string_view field);

// Parses "64GiB", "512MB", "1024" (bytes). MB/GB are 10^6/10^9, MiB/GiB
// powers of two, K/M/G/T alone are powers of two.
Result<uint64_t> ParseSize(std::string_view text);

// Query parameter helpers: nullopt when absent; InvalidArgument naming the
// parameter when malformed.
std::optional<std::string> QueryParam(const httplib::Request& req, const std::string& name);
Result<std::optional<int64_t>> QueryInt(const httplib::Request& req, const std::string& name);
bool QueryFlag(const httplib::Request& req, const std::string& name);  // ?x=true|1

// `bytes` bytes from the CSPRNG (OpenSSL RAND_bytes) as lowercase hex: CHAP
// secrets, the admin token.
Result<std::string> RandomHex(size_t bytes);

// ---- Routes ---------------------------------------------------------------

// A handler that either fills `res` itself and returns OK, or returns a
// Status that becomes the JSON error reply. A PrincipalHandler is told who
// asks and must keep a tenant to its own (api/auth.h); a plain Handler is
// for the admin only.
using Handler = std::function<Status(const httplib::Request&, httplib::Response&)>;
using PrincipalHandler = std::function<Status(const Principal&, const httplib::Request&, httplib::Response&)>;

// Wraps `handler`: resolves the principal (Authenticate: 401 without one),
// catches exceptions (-> internal), turns a non-OK Status into ReplyError.
// Every /v1/ route is registered through one of the two. The plain Handler
// form answers 403 to a tenant: a route that was not written for tenants
// is the admin's.
httplib::Server::Handler Authed(const ApiContext& ctx, PrincipalHandler handler);
httplib::Server::Handler Authed(const ApiContext& ctx, Handler handler);

// Registers every built-in /v1/ route on `server`. ctx must outlive server.
void RegisterRoutes(ApiContext& ctx, httplib::Server& server);

}  // namespace vsl::api
