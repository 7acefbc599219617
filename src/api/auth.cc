#include "api/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "api/session.h"
#include "catalog/catalog.h"
#include "catalog/tenants.h"
#include "util/names.h"

namespace vsl::api {

Result<std::string> NewToken() { return RandomHex(32); }

std::string HashToken(std::string_view token) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(token.data(), token.size(), md, &n, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

bool SameDigest(std::string_view a, std::string_view b) {
  if (a.empty() || a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<std::string> BearerToken(const httplib::Request& req) {
  if (!req.has_header("Authorization")) return Unauthenticated("missing Authorization: Bearer header");
  std::string h = req.get_header_value("Authorization");
  constexpr std::string_view kPrefix = "Bearer ";
  if (h.size() < kPrefix.size() || h.compare(0, kPrefix.size(), kPrefix) != 0) {
    return Unauthenticated("Authorization header is not a Bearer token");
  }
  std::string token = h.substr(kPrefix.size());
  if (token.empty()) return Unauthenticated("empty bearer token");
  return token;
}

Result<Principal> PrincipalForToken(const ApiContext& ctx, std::string_view token) {
  if (token.empty()) return Unauthenticated("invalid token");
  std::string digest = HashToken(token);
  if (SameDigest(digest, ctx.admin_token_sha256)) return Principal{};
  if (ctx.catalog == nullptr) return Unauthenticated("invalid token");
  std::optional<catalog::Tenant> tenant;
  VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(tenant, catalog::TenantByTokenHash(tx, digest));
    return Status::Ok();
  }));
  // The index found the row; compare again in constant time all the same.
  if (!tenant || !SameDigest(digest, tenant->token_sha256)) return Unauthenticated("invalid token");
  return Principal{tenant->id, tenant->name};
}

Result<Principal> Authenticate(const ApiContext& ctx, const httplib::Request& req) {
  if (req.has_header("Authorization")) {
    VSL_ASSIGN_OR_RETURN(std::string token, BearerToken(req));
    return PrincipalForToken(ctx, token);
  }
  VSL_ASSIGN_OR_RETURN(Session session, CookieSession(ctx, req));
  if (session.principal.admin()) return session.principal;
  // A tenant removed (or removed and added again) since it signed in is
  // signed out with it.
  bool live = false;
  VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
    auto t = catalog::GetTenantByName(tx, session.principal.tenant);
    live = t.ok() && t->id == *session.principal.tenant_id;
    return Status::Ok();
  }));
  if (!live) return Unauthenticated("session of a removed tenant: sign in again (POST /v1/session)");
  return session.principal;
}

Status AdminOnly(const Principal& p, std::string_view what) {
  if (p.admin()) return Status::Ok();
  return PermissionDenied(std::string(what) + " is for the admin only (tenant '" + p.tenant + "')");
}

Result<TenantFarms> FarmsOf(catalog::Tx& tx, const Principal& p) {
  TenantFarms out;
  if (p.admin()) return out;
  VSL_ASSIGN_OR_RETURN(auto farms, catalog::FarmsOfTenant(tx, *p.tenant_id));
  for (const auto& [id, name] : farms) {
    out.ids.insert(id);
    out.names.insert(name);
  }
  return out;
}

Status CheckFarmVisible(catalog::Tx& tx, const Principal& p, int64_t farm_id, const std::string& name) {
  if (p.admin()) return Status::Ok();
  VSL_ASSIGN_OR_RETURN(auto owner, catalog::FarmTenant(tx, farm_id));
  if (owner != p.tenant_id) return NotFound("farm '" + Printable(name) + "' does not exist");
  return Status::Ok();
}

Status CheckVolumeVisible(catalog::Tx& tx, const Principal& p, const catalog::Volume& v) {
  if (p.admin()) return Status::Ok();
  VSL_ASSIGN_OR_RETURN(TenantFarms farms, FarmsOf(tx, p));
  if (!farms.Has(v.farm_id)) return NotFound("volume " + std::to_string(v.id) + " does not exist");
  return Status::Ok();
}

Status CheckHostVisible(catalog::Tx& tx, const Principal& p, const catalog::Host& h) {
  if (p.admin()) return Status::Ok();
  VSL_ASSIGN_OR_RETURN(TenantFarms farms, FarmsOf(tx, p));
  if (!farms.Has(h.farm_id)) return NotFound("host '" + Printable(h.name) + "' does not exist");
  return Status::Ok();
}

Status CheckImageVisible(catalog::Tx& tx, const Principal& p, const catalog::Image& img) {
  if (p.admin()) return Status::Ok();
  VSL_ASSIGN_OR_RETURN(auto owner, catalog::ImageTenant(tx, img.id));
  if (owner && owner != p.tenant_id) return NotFound("image '" + Printable(img.name) + "' does not exist");
  return Status::Ok();
}

Status CheckImageOwned(catalog::Tx& tx, const Principal& p, const catalog::Image& img) {
  VSL_RETURN_IF_ERROR(CheckImageVisible(tx, p, img));
  if (p.admin()) return Status::Ok();
  VSL_ASSIGN_OR_RETURN(auto owner, catalog::ImageTenant(tx, img.id));
  if (!owner) return PermissionDenied("image '" + img.name + "' is shared by the admin: tenants may use it, not change it");
  return Status::Ok();
}

Result<catalog::Volume> VisibleVolume(catalog::Catalog& cat, catalog::Tx& tx, const Principal& p, int64_t id) {
  VSL_ASSIGN_OR_RETURN(catalog::Volume v, cat.GetVolume(tx, id));
  VSL_RETURN_IF_ERROR(CheckVolumeVisible(tx, p, v));
  return v;
}

Result<catalog::Host> VisibleHost(catalog::Catalog& cat, catalog::Tx& tx, const Principal& p,
                                  const std::string& name) {
  VSL_ASSIGN_OR_RETURN(catalog::Host h, cat.GetHostByName(tx, name));
  VSL_RETURN_IF_ERROR(CheckHostVisible(tx, p, h));
  return h;
}

}  // namespace vsl::api
