// Tenants (migration 8): the enterprises the data center serves. A tenant
// owns farms (farms.tenant_id) and images (images.tenant_id); NULL there
// means the admin's: an admin farm is the admin's alone, an admin image is
// shared (every tenant may boot from it, none may change or remove it).
//
// A tenant is known by its name and authenticated by a bearer token whose
// SHA-256 (lowercase hex) is all the catalog keeps; api/tokens.h makes and
// hashes tokens. Lookup by hash is safe to do with an index: the hash of a
// guess says nothing about the real token's bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "catalog/db.h"
#include "util/status.h"

namespace vsl::catalog {

struct Tenant {
  int64_t id = 0;
  std::string name;
  std::string token_sha256;  // hex
  int64_t created_ms = 0;
};

// AlreadyExists when the name is taken; InvalidArgument for a bad name.
Result<Tenant> AddTenant(Tx& tx, const std::string& name, const std::string& token_sha256, int64_t now_ms);
Result<std::vector<Tenant>> ListTenants(Tx& tx);
Result<Tenant> GetTenantByName(Tx& tx, const std::string& name);
// nullopt when no tenant has that token hash.
Result<std::optional<Tenant>> TenantByTokenHash(Tx& tx, const std::string& token_sha256);
// FailedPrecondition naming them while the tenant owns farms or images.
Status RemoveTenant(Tx& tx, const std::string& name);

// Owners: nullopt is the admin. NotFound when the farm/image does not exist.
Result<std::optional<int64_t>> FarmTenant(Tx& tx, int64_t farm_id);
Result<std::optional<int64_t>> ImageTenant(Tx& tx, int64_t image_id);
Status SetFarmTenant(Tx& tx, int64_t farm_id, std::optional<int64_t> tenant_id);
Status SetImageTenant(Tx& tx, int64_t image_id, std::optional<int64_t> tenant_id);
// The ids of the farms `tenant_id` owns (destroyed ones aside), and their names.
Result<std::vector<std::pair<int64_t, std::string>>> FarmsOfTenant(Tx& tx, int64_t tenant_id);
Result<std::vector<std::string>> ImagesOfTenant(Tx& tx, int64_t tenant_id);

}  // namespace vsl::catalog
