// /v1/tenants: the admin adds, lists and removes tenants. The token is in
// the reply that adds a tenant and nowhere else: only its SHA-256 is kept.
#include "api/auth.h"
#include "api/routes.h"
#include "catalog/catalog.h"
#include "catalog/tenants.h"
#include "util/crash_point.h"
#include "util/names.h"

namespace vsl::api {
namespace {

Json TenantJson(catalog::Tx& tx, const catalog::Tenant& t) {
  Json farms = Json::array();
  auto owned = catalog::FarmsOfTenant(tx, t.id);
  if (owned.ok()) {
    for (const auto& f : *owned) farms.push_back(f.second);
  }
  Json images = Json::array();
  auto imgs = catalog::ImagesOfTenant(tx, t.id);
  if (imgs.ok()) {
    for (const auto& i : *imgs) images.push_back(i);
  }
  return {{"id", t.id}, {"name", t.name}, {"created_ms", t.created_ms}, {"farms", farms}, {"images", images}};
}

Status AddTenant(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  VSL_ASSIGN_OR_RETURN(Json body, ParseBody(req));
  VSL_RETURN_IF_ERROR(OnlyFields(body, {"name"}));
  VSL_ASSIGN_OR_RETURN(std::string name, RequiredString(body, "name"));
  VSL_RETURN_IF_ERROR(CheckName("tenant name", name));
  VSL_ASSIGN_OR_RETURN(std::string token, NewToken());
  Json out;
  VSL_RETURN_IF_ERROR(ctx.catalog->Write([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(catalog::Tenant t, catalog::AddTenant(tx, name, HashToken(token), ctx.catalog->NowMs()));
    out = TenantJson(tx, t);
    return Status::Ok();
  }));
  util::CrashPoint("tenant.add.committed");  // the tenant is whole; its token not yet shown
  out["token"] = token;
  ReplyJson(res, out, 201);
  return Status::Ok();
}

}  // namespace

void RegisterTenantRoutes(ApiContext& ctx, httplib::Server& server) {
  using R = const httplib::Request&;
  using W = httplib::Response&;
  server.Post("/v1/tenants", Authed(ctx, [&ctx](R req, W res) { return AddTenant(ctx, req, res); }));
  server.Get("/v1/tenants", Authed(ctx, [&ctx](R, W res) -> Status {
               Json list = Json::array();
               VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
                 VSL_ASSIGN_OR_RETURN(auto tenants, catalog::ListTenants(tx));
                 for (const auto& t : tenants) list.push_back(TenantJson(tx, t));
                 return Status::Ok();
               }));
               ReplyJson(res, {{"tenants", list}});
               return Status::Ok();
             }));
  server.Delete(R"(/v1/tenants/([^/]+))", Authed(ctx, [&ctx](R req, W res) -> Status {
                  std::string name = req.matches[1];
                  VSL_RETURN_IF_ERROR(
                      ctx.catalog->Write([&](catalog::Tx& tx) { return catalog::RemoveTenant(tx, name); }));
                  util::CrashPoint("tenant.remove.committed");
                  ReplyJson(res, {{"removed", name}});
                  return Status::Ok();
                }));
}

}  // namespace vsl::api
