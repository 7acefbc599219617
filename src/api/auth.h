// Who is asking: the admin or a tenant (catalog/tenants.h), resolved once per
// request from its credentials, and the checks that keep a tenant to its own.
//
// Tokens: 32 bytes of CSPRNG output as 64 lowercase hex characters. Only
// their SHA-256 is kept (the catalog's tenants.token_sha256, the data
// directory's admin.token.sha256); a presented token is hashed and compared
// with CRYPTO_memcmp, so the comparison takes the same time wherever the
// bytes differ.
//
// Enforcement (docs/tenants.md): a tenant sees and changes its farms, the
// servers (hosts) and disks (volumes) in them, their backups, requests and
// events, its own images and, read-only, the admin's shared images. Anything
// else of another owner answers NotFound (404), never PermissionDenied, so
// a tenant cannot learn what exists; routes only the admin may use
// (arrays, the host pool, tenants, disk operations, test hooks, metrics)
// answer PermissionDenied (403).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/api.h"

namespace vsl::catalog {
class Catalog;
class Tx;
struct Event;
struct Host;
struct Image;
struct Volume;
}  // namespace vsl::catalog

namespace vsl::api {

// ---- Tokens ----------------------------------------------------------------

// A new token: 32 random bytes as hex.
Result<std::string> NewToken();
// SHA-256 of `token`, lowercase hex (64 characters).
std::string HashToken(std::string_view token);
// Constant-time equality of two hex digests (false when lengths differ or
// either is empty).
bool SameDigest(std::string_view a, std::string_view b);
// The token of "Authorization: Bearer <token>"; Unauthenticated naming what
// is wrong with the header otherwise.
Result<std::string> BearerToken(const httplib::Request& req);

// ---- Principals -------------------------------------------------------------

// Resolves a bearer token (or whatever a session maps to one): the admin
// when its hash is ctx.admin_token_sha256, else the tenant whose hash it
// is; Unauthenticated otherwise (also for a removed tenant's token).
Result<Principal> PrincipalForToken(const ApiContext& ctx, std::string_view token);

// The principal of a request. The only place credentials are read: the
// Authorization header's bearer token, else the console's session cookie
// (api/session.h CookieSession: X-VSL-CSRF on state-changing methods; a
// tenant's session ends when the tenant is removed).
Result<Principal> Authenticate(const ApiContext& ctx, const httplib::Request& req);

// PermissionDenied for a tenant ("<what> is for the admin only").
Status AdminOnly(const Principal& p, std::string_view what);

// ---- What a tenant may reach ----------------------------------------------

// The farms a principal owns (ids and names); empty for the admin, who is
// never filtered (check p.admin() first).
struct TenantFarms {
  std::set<int64_t> ids;
  std::set<std::string> names;
  bool Has(std::optional<int64_t> farm_id) const { return farm_id && ids.count(*farm_id) > 0; }
};
Result<TenantFarms> FarmsOf(catalog::Tx& tx, const Principal& p);

// NotFound (with the message an absent object would get) unless `p` may
// see it. The admin may see everything.
Status CheckFarmVisible(catalog::Tx& tx, const Principal& p, int64_t farm_id, const std::string& name);
Status CheckVolumeVisible(catalog::Tx& tx, const Principal& p, const catalog::Volume& v);
Status CheckHostVisible(catalog::Tx& tx, const Principal& p, const catalog::Host& h);
// Own or shared images are visible; another tenant's are NotFound.
Status CheckImageVisible(catalog::Tx& tx, const Principal& p, const catalog::Image& img);
// Visible and changeable: a shared image is PermissionDenied for a tenant.
Status CheckImageOwned(catalog::Tx& tx, const Principal& p, const catalog::Image& img);

// Keeps of `events` those `p` may see, in order (the rule of GET
// /v1/events, shared with its stream; defined with the queue routes).
Result<std::vector<catalog::Event>> VisibleEvents(ApiContext& ctx, catalog::Tx& tx, const Principal& p,
                                                  std::vector<catalog::Event> events);

// The volume by id, if `p` may see it (NotFound otherwise, worded as for a
// missing volume).
Result<catalog::Volume> VisibleVolume(catalog::Catalog& cat, catalog::Tx& tx, const Principal& p, int64_t id);
// The host by name, if `p` may see it (NotFound otherwise).
Result<catalog::Host> VisibleHost(catalog::Catalog& cat, catalog::Tx& tx, const Principal& p,
                                  const std::string& name);

}  // namespace vsl::api
