#include "catalog/tenants.h"

#include "util/crash_point.h"
#include "util/names.h"
#include "util/utf8.h"

namespace vsl::catalog {
namespace {

Tenant FromRow(const Row& r) { return Tenant{r.Int(0), r.Text(1), r.Text(2), r.Int(3)}; }

std::string Joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

Value Owner(std::optional<int64_t> tenant_id) { return tenant_id ? Value{*tenant_id} : Value{nullptr}; }

}  // namespace

Result<Tenant> AddTenant(Tx& tx, const std::string& name, const std::string& token_sha256, int64_t now_ms) {
  VSL_RETURN_IF_ERROR(CheckName("tenant name", name));
  auto row = tx.QueryOne("INSERT INTO tenants (name, token_sha256, created_ms) VALUES (?, ?, ?) RETURNING id",
                         {name, token_sha256, now_ms});
  if (!row.ok()) {
    if (row.status().code() == Code::kAlreadyExists) {
      // Also what a second `vsl tenant add` says when the first one's serve
      // died after the commit, before its reply: a whole tenant whose token
      // no one was shown.
      return AlreadyExists("tenant '" + name + "' exists already; its token was shown once, when it was added: if it " +
                           "was lost, remove the tenant (vsl tenant remove " + name + ") and add it again");
    }
    return row.status();
  }
  util::CrashPoint("tenant.add.inserted");
  return Tenant{(*row)->Int(0), name, token_sha256, now_ms};
}

Result<std::vector<Tenant>> ListTenants(Tx& tx) {
  VSL_ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT id, name, token_sha256, created_ms FROM tenants ORDER BY id"));
  std::vector<Tenant> out;
  for (const Row& r : rows) out.push_back(FromRow(r));
  return out;
}

Result<Tenant> GetTenantByName(Tx& tx, const std::string& name) {
  if (!IsValidUtf8(name)) return NotFound("tenant '" + Printable(name) + "' does not exist");
  VSL_ASSIGN_OR_RETURN(auto row,
                       tx.QueryOne("SELECT id, name, token_sha256, created_ms FROM tenants WHERE name = ?", {name}));
  if (!row) return NotFound("tenant '" + Printable(name) + "' does not exist");
  return FromRow(*row);
}

Result<std::optional<Tenant>> TenantByTokenHash(Tx& tx, const std::string& token_sha256) {
  VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT id, name, token_sha256, created_ms FROM tenants "
                                             "WHERE token_sha256 = ?",
                                             {token_sha256}));
  if (!row) return std::optional<Tenant>();
  return std::optional<Tenant>(FromRow(*row));
}

Status RemoveTenant(Tx& tx, const std::string& name) {
  VSL_ASSIGN_OR_RETURN(Tenant t, GetTenantByName(tx, name));
  VSL_ASSIGN_OR_RETURN(auto farms, FarmsOfTenant(tx, t.id));
  if (!farms.empty()) {
    std::vector<std::string> names;
    for (const auto& f : farms) names.push_back(f.second);
    return FailedPrecondition("tenant '" + name + "' still owns farm(s) " + Joined(names) +
                              ": destroy them first (vsl farm destroy NAME)");
  }
  VSL_ASSIGN_OR_RETURN(auto images, ImagesOfTenant(tx, t.id));
  if (!images.empty()) {
    return FailedPrecondition("tenant '" + name + "' still owns image(s) " + Joined(images) +
                              ": remove them first (vsl image remove NAME)");
  }
  // A destroyed farm's row may stay (freed volumes still name it): it is
  // no one's now, and whoever applies the name next takes it.
  VSL_RETURN_IF_ERROR(tx.Exec("UPDATE farms SET tenant_id = NULL WHERE tenant_id = ?", {t.id}).status());
  util::CrashPoint("tenant.remove.released");
  return tx.Exec("DELETE FROM tenants WHERE id = ?", {t.id}).status();
}

Result<std::optional<int64_t>> FarmTenant(Tx& tx, int64_t farm_id) {
  VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT tenant_id FROM farms WHERE id = ?", {farm_id}));
  if (!row) return NotFound("farm " + std::to_string(farm_id) + " does not exist");
  return row->OptInt(0);
}

Result<std::optional<int64_t>> ImageTenant(Tx& tx, int64_t image_id) {
  VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT tenant_id FROM images WHERE id = ?", {image_id}));
  if (!row) return NotFound("image " + std::to_string(image_id) + " does not exist");
  return row->OptInt(0);
}

Status SetFarmTenant(Tx& tx, int64_t farm_id, std::optional<int64_t> tenant_id) {
  VSL_ASSIGN_OR_RETURN(int64_t n, tx.Exec("UPDATE farms SET tenant_id = ? WHERE id = ?", {Owner(tenant_id), farm_id}));
  if (n == 0) return NotFound("farm " + std::to_string(farm_id) + " does not exist");
  return Status::Ok();
}

Status SetImageTenant(Tx& tx, int64_t image_id, std::optional<int64_t> tenant_id) {
  VSL_ASSIGN_OR_RETURN(int64_t n,
                       tx.Exec("UPDATE images SET tenant_id = ? WHERE id = ?", {Owner(tenant_id), image_id}));
  if (n == 0) return NotFound("image " + std::to_string(image_id) + " does not exist");
  return Status::Ok();
}

// 'destroyed' is farm::FarmPhase::kDestroyed's name (farm/farm_states.h);
// the catalog sits below the farm manager and names the state as stored.
Result<std::vector<std::pair<int64_t, std::string>>> FarmsOfTenant(Tx& tx, int64_t tenant_id) {
  VSL_ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT id, name FROM farms WHERE tenant_id = ? AND state <> 'destroyed' ORDER BY id",
                                           {tenant_id}));
  std::vector<std::pair<int64_t, std::string>> out;
  for (const Row& r : rows) out.emplace_back(r.Int(0), r.Text(1));
  return out;
}

Result<std::vector<std::string>> ImagesOfTenant(Tx& tx, int64_t tenant_id) {
  VSL_ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT name FROM images WHERE tenant_id = ? ORDER BY id", {tenant_id}));
  std::vector<std::string> out;
  for (const Row& r : rows) out.push_back(r.Text(0));
  return out;
}

}  // namespace vsl::catalog
