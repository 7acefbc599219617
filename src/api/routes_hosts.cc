// /v1/hosts (add, list, show, remove, set the BMC) and /v1/images (import, list, show, remove).
#include "api/auth.h"
#include "api/records_json.h"
#include "api/routes.h"
#include "catalog/catalog.h"
#include "catalog/host_bmc.h"
#include "catalog/tenants.h"
#include "manager/storage_manager.h"
#include "util/names.h"

namespace vsl::api {
namespace {

// RFC 7143 §12.1.3 wants secrets of at least 12 bytes for one-way CHAP.
constexpr size_t kMinSecret = 12;
// A generated secret: 16 bytes of CSPRNG output, as 32 hex characters.
constexpr size_t kSecretBytes = 16;

// The BMC fields of a body (with `prefix`: "bmc_" in POST /v1/hosts, "" in
// PUT /v1/hosts/NAME/bmc) over `bmc`: what is given replaces, what is not
// stays. Checked whole by catalog::CheckHostBmc before anything is written.
Status ReadBmc(const Json& body, const std::string& prefix, catalog::HostBmc* bmc) {
  auto field = [&](const char* f) { return prefix + f; };
  VSL_ASSIGN_OR_RETURN(auto address, OptionalString(body, field("address")));
  VSL_ASSIGN_OR_RETURN(auto port, OptionalInt(body, field("port")));
  VSL_ASSIGN_OR_RETURN(auto user, OptionalString(body, field("user")));
  VSL_ASSIGN_OR_RETURN(auto password, OptionalString(body, field("password")));
  VSL_ASSIGN_OR_RETURN(auto bootdev, OptionalString(body, field("bootdev")));
  if (address) bmc->address = *address;
  if (port) {
    if (*port < 1 || *port > 65535) {
      return InvalidArgument("field '" + field("port") + "': " + std::to_string(*port) +
                             " is not a port from 1 to 65535");
    }
    bmc->port = *port;
  }
  if (user) bmc->user = *user;
  if (password) bmc->password = *password;
  if (bootdev) bmc->bootdev = *bootdev;
  Status s = catalog::CheckHostBmc(*bmc);
  if (s.ok()) return s;
  // "bmc_address: why", as POST names the field; PUT's fields have no prefix.
  std::string m = s.message();
  size_t colon = m.find(':');
  std::string name = m.substr(0, colon);
  if (prefix.empty() && name.rfind("bmc_", 0) == 0) name = name.substr(4);
  return InvalidArgument("field '" + name + "'" + (colon == std::string::npos ? "" : m.substr(colon)));
}

Status AddHost(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  VSL_ASSIGN_OR_RETURN(Json body, ParseBody(req));
  VSL_RETURN_IF_ERROR(OnlyFields(body, {"name", "hw", "initiators", "chap_user", "chap_secret",
                                        "mutual_chap_user", "mutual_chap_secret", "bmc_address", "bmc_port",
                                        "bmc_user", "bmc_password", "bmc_bootdev"}));
  catalog::Host h;
  VSL_ASSIGN_OR_RETURN(h.name, RequiredString(body, "name"));
  VSL_RETURN_IF_ERROR(CheckName("host name", h.name));
  VSL_ASSIGN_OR_RETURN(h.hw_type, RequiredString(body, "hw"));
  VSL_RETURN_IF_ERROR(CheckText("field 'hw'", h.hw_type));
  auto it = body.find("initiators");
  if (it == body.end() || it->is_null()) return InvalidArgument("field 'initiators': missing");
  if (!it->is_array() || it->empty()) return InvalidArgument("field 'initiators': expected a non-empty list of IQNs");
  for (const Json& i : *it) {
    if (!i.is_string() || i.get<std::string>().empty()) {
      return InvalidArgument("field 'initiators': every entry must be a non-empty string");
    }
    std::string iqn = i.get<std::string>();
    VSL_RETURN_IF_ERROR(CheckIscsiName("field 'initiators': initiator name", iqn));
    h.initiators.push_back(iqn);
  }
  VSL_ASSIGN_OR_RETURN(auto user, OptionalString(body, "chap_user"));
  VSL_ASSIGN_OR_RETURN(auto secret, OptionalString(body, "chap_secret"));
  VSL_ASSIGN_OR_RETURN(auto muser, OptionalString(body, "mutual_chap_user"));
  VSL_ASSIGN_OR_RETURN(auto msecret, OptionalString(body, "mutual_chap_secret"));
  h.chap_user = user.value_or(h.name);
  VSL_RETURN_IF_ERROR(CheckChapUser("field 'chap_user'", h.chap_user));
  if (muser) VSL_RETURN_IF_ERROR(CheckChapUser("field 'mutual_chap_user'", *muser));
  if (secret) {
    if (secret->size() < kMinSecret) {
      return InvalidArgument("field 'chap_secret': must be at least " + std::to_string(kMinSecret) + " characters");
    }
    VSL_RETURN_IF_ERROR(CheckChapSecret("field 'chap_secret'", *secret));
    h.chap_secret = *secret;
  } else {
    VSL_ASSIGN_OR_RETURN(h.chap_secret, RandomHex(kSecretBytes));
  }
  if (msecret) {
    if (msecret->size() < kMinSecret) {
      return InvalidArgument("field 'mutual_chap_secret': must be at least " + std::to_string(kMinSecret) +
                             " characters");
    }
    VSL_RETURN_IF_ERROR(CheckChapSecret("field 'mutual_chap_secret'", *msecret));
    if (*msecret == h.chap_secret) {
      return InvalidArgument("field 'mutual_chap_secret': must differ from the host's CHAP secret");
    }
    h.mutual_chap_user = muser.value_or(ctx.iqn_prefix);
    h.mutual_chap_secret = *msecret;
  }
  VSL_RETURN_IF_ERROR(ReadBmc(body, "bmc_", &h.bmc));
  catalog::Host added;
  VSL_RETURN_IF_ERROR(ctx.catalog->Write([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(added, ctx.catalog->AddHost(tx, h));
    return Status::Ok();
  }));
  Status s = ctx.manager->ops().SyncHost(added.name);
  if (!s.ok()) {
    // The gateway refused it: take the row back so nothing half-made stays.
    (void)ctx.catalog->Write([&](catalog::Tx& tx) { return ctx.catalog->RemoveHost(tx, added.id); });
    (void)ctx.manager->ops().SyncHost(added.name);
    return s.Annotate("gateway refused host '" + added.name + "'");
  }
  ReplyJson(res, HostJson(added, true), 201);
  return Status::Ok();
}

// A host as `p` may see it: a tenant does not see its BMC (the data
// center's management network).
Json HostFor(const Principal& p, const catalog::Host& h) {
  Json j = HostJson(h, false);
  if (!p.admin()) {
    for (const char* k : {"bmc_address", "bmc_port", "bmc_user", "bmc_bootdev", "bmc_password_set"}) j.erase(k);
  }
  return j;
}

Status ShowHost(ApiContext& ctx, const Principal& p, const std::string& name, httplib::Response& res) {
  Json out;
  VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(catalog::Host h, VisibleHost(*ctx.catalog, tx, p, name));
    out = HostFor(p, h);
    std::string target = ctx.manager->ops().TargetName(h.name);
    out["target"] = target.empty() ? ctx.iqn_prefix + ":" + h.name : target;
    VSL_ASSIGN_OR_RETURN(auto bindings, ctx.catalog->BindingsOfHost(tx, h.id));
    Json list = Json::array();
    for (const auto& b : bindings) list.push_back(BindingJson(b));
    out["bindings"] = list;
    return Status::Ok();
  }));
  ReplyJson(res, out);
  return Status::Ok();
}

// PUT /v1/hosts/NAME/bmc {address, port, user, password, bootdev}: fields
// left out keep their value (so a new user or boot device needs no
// password again); DELETE clears the BMC.
Status SetBmc(ApiContext& ctx, const httplib::Request& req, const std::string& name, bool clear,
              httplib::Response& res) {
  Json body = Json::object();
  if (!clear) {
    VSL_ASSIGN_OR_RETURN(body, ParseBody(req));
    VSL_RETURN_IF_ERROR(OnlyFields(body, {"address", "port", "user", "password", "bootdev"}));
  }
  catalog::Host out;
  VSL_RETURN_IF_ERROR(ctx.catalog->Write([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(catalog::Host h, ctx.catalog->GetHostByName(tx, name));
    catalog::HostBmc bmc = clear ? catalog::HostBmc{} : h.bmc;
    if (!clear) VSL_RETURN_IF_ERROR(ReadBmc(body, "", &bmc));
    VSL_RETURN_IF_ERROR(ctx.catalog->SetHostBmc(tx, h.id, bmc));
    VSL_ASSIGN_OR_RETURN(out, ctx.catalog->GetHost(tx, h.id));
    return Status::Ok();
  }));
  ReplyJson(res, HostJson(out, false));
  return Status::Ok();
}

Status RemoveHost(ApiContext& ctx, const std::string& name, httplib::Response& res) {
  VSL_RETURN_IF_ERROR(ctx.catalog->Write([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(catalog::Host h, ctx.catalog->GetHostByName(tx, name));
    return ctx.catalog->RemoveHost(tx, h.id);
  }));
  Status s = ctx.manager->ops().SyncHost(name);
  if (!s.ok()) return s.Annotate("host '" + name + "' removed from the catalog");
  ReplyJson(res, {{"removed", name}});
  return Status::Ok();
}

Status ImportImage(ApiContext& ctx, const Principal& p, const httplib::Request& req, httplib::Response& res) {
  VSL_ASSIGN_OR_RETURN(Json body, ParseBody(req));
  VSL_RETURN_IF_ERROR(OnlyFields(body, {"name", "file"}));
  VSL_ASSIGN_OR_RETURN(std::string name, RequiredString(body, "name"));
  VSL_RETURN_IF_ERROR(CheckName("image name", name));
  VSL_ASSIGN_OR_RETURN(std::string file, RequiredString(body, "file"));
  // The import directory is the server's, shared by whoever drops files in
  // it: a tenant uploads its bytes (PUT /v1/images/NAME) instead.
  VSL_RETURN_IF_ERROR(AdminOnly(p, "importing from vsl serve's --import-dir (upload with PUT /v1/images/NAME)"));
  return ImportFromImportDir(ctx, p, name, file, res);
}

// GET /v1/bindings[?host=NAME][&volume=ID]: table 4, with host names.
// An image with where its masters are: its own and its copies on arrays
// that clone it (image_masters), each with how many disks are its clones.
Result<Json> ImageWithMasters(ApiContext& ctx, catalog::Tx& tx, const catalog::Image& img) {
  Json j = ImageJson(img);
  std::vector<std::pair<int64_t, bool>> masters;  // volume, the image's own
  if (img.master_volume_id) masters.emplace_back(*img.master_volume_id, true);
  VSL_ASSIGN_OR_RETURN(auto copies, ctx.catalog->ImageMasters(tx, img.id));
  for (const catalog::ImageMaster& m : copies) masters.emplace_back(m.volume_id, false);
  Json list = Json::array();
  for (const auto& [id, own] : masters) {
    VSL_ASSIGN_OR_RETURN(catalog::Volume v, ctx.catalog->GetVolume(tx, id));
    std::string array;
    if (v.array_id) {
      VSL_ASSIGN_OR_RETURN(auto a, ctx.catalog->GetArray(tx, *v.array_id));
      array = a.name;
    }
    VSL_ASSIGN_OR_RETURN(auto clones, ctx.catalog->ClonesOf(tx, id));
    list.push_back({{"volume_id", id}, {"array", array.empty() ? Json(nullptr) : Json(array)},
                    {"primary", own}, {"clones", clones}});
  }
  j["masters"] = list;
  return j;
}

// A tenant sees the bindings of its farms' hosts only.
Status ListBindings(ApiContext& ctx, const Principal& p, const httplib::Request& req, httplib::Response& res) {
  auto host = QueryParam(req, "host");
  VSL_ASSIGN_OR_RETURN(auto volume, QueryInt(req, "volume"));
  Json list = Json::array();
  VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
    std::vector<catalog::Host> hosts;
    if (host) {
      VSL_ASSIGN_OR_RETURN(catalog::Host h, VisibleHost(*ctx.catalog, tx, p, *host));
      hosts.push_back(std::move(h));
    } else {
      VSL_ASSIGN_OR_RETURN(hosts, ctx.catalog->ListHosts(tx));
    }
    VSL_ASSIGN_OR_RETURN(TenantFarms mine, FarmsOf(tx, p));
    for (const catalog::Host& h : hosts) {
      if (!p.admin() && !mine.Has(h.farm_id)) continue;
      VSL_ASSIGN_OR_RETURN(auto bindings, ctx.catalog->BindingsOfHost(tx, h.id));
      for (const auto& b : bindings) {
        if (volume && b.volume_id != *volume) continue;
        Json j = BindingJson(b);
        j["host"] = h.name;
        list.push_back(std::move(j));
      }
    }
    return Status::Ok();
  }));
  ReplyJson(res, {{"bindings", list}});
  return Status::Ok();
}

}  // namespace

// Hosts: a tenant lists and shows the hosts of its farms (never the idle
// pool, never CHAP secrets: those are only in the reply that adds a host);
// adding, removing and BMCs are the admin's. Images: a tenant sees its own
// and the shared ones, imports its own, removes only its own.
void RegisterHostRoutes(ApiContext& ctx, httplib::Server& server) {
  using P = const Principal&;
  using R = const httplib::Request&;
  using W = httplib::Response&;
  server.Post("/v1/hosts", Authed(ctx, [&ctx](R req, W res) { return AddHost(ctx, req, res); }));
  server.Get("/v1/hosts", Authed(ctx, [&ctx](P p, R, W res) -> Status {
               Json list = Json::array();
               VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
                 VSL_ASSIGN_OR_RETURN(auto hosts, ctx.catalog->ListHosts(tx));
                 VSL_ASSIGN_OR_RETURN(TenantFarms mine, FarmsOf(tx, p));
                 for (const auto& h : hosts) {
                   if (p.admin() || mine.Has(h.farm_id)) list.push_back(HostFor(p, h));
                 }
                 return Status::Ok();
               }));
               ReplyJson(res, {{"hosts", list}});
               return Status::Ok();
             }));
  server.Get(R"(/v1/hosts/([^/]+))", Authed(ctx, [&ctx](P p, R req, W res) {
               return ShowHost(ctx, p, req.matches[1], res);
             }));
  server.Put(R"(/v1/hosts/([^/]+)/bmc)",
             Authed(ctx, [&ctx](R req, W res) { return SetBmc(ctx, req, req.matches[1], false, res); }));
  server.Delete(R"(/v1/hosts/([^/]+)/bmc)",
                Authed(ctx, [&ctx](R req, W res) { return SetBmc(ctx, req, req.matches[1], true, res); }));
  server.Delete(R"(/v1/hosts/([^/]+))",
                Authed(ctx, [&ctx](R req, W res) { return RemoveHost(ctx, req.matches[1], res); }));
  server.Get("/v1/bindings", Authed(ctx, [&ctx](P p, R req, W res) { return ListBindings(ctx, p, req, res); }));
  server.Post("/v1/images", Authed(ctx, [&ctx](P p, R req, W res) { return ImportImage(ctx, p, req, res); }));
  server.Get("/v1/images", Authed(ctx, [&ctx](P p, R, W res) -> Status {
               Json list = Json::array();
               VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
                 VSL_ASSIGN_OR_RETURN(auto images, ctx.catalog->ListImages(tx));
                 for (const auto& i : images) {
                   if (!CheckImageVisible(tx, p, i).ok()) continue;
                   VSL_ASSIGN_OR_RETURN(Json j, ImageWithMasters(ctx, tx, i));
                   VSL_ASSIGN_OR_RETURN(auto owner, catalog::ImageTenant(tx, i.id));
                   j["shared"] = !owner.has_value();
                   if (!p.admin()) j.erase("masters");  // arrays are not a tenant's to see
                   list.push_back(std::move(j));
                 }
                 return Status::Ok();
               }));
               ReplyJson(res, {{"images", list}});
               return Status::Ok();
             }));
  server.Delete(R"(/v1/images/([^/]+))", Authed(ctx, [&ctx](P p, R req, W res) -> Status {
                  std::string name = req.matches[1];
                  VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
                    VSL_ASSIGN_OR_RETURN(catalog::Image img, ctx.catalog->GetImageByName(tx, name));
                    return CheckImageOwned(tx, p, img);
                  }));
                  // Refused before anything is queued while its master is
                  // bound or copies of it exist (the request checks again).
                  VSL_RETURN_IF_ERROR(ctx.manager->ops().CheckImageRemovable(name));
                  return SubmitAndReply(ctx, req, res, "remove-image", {{"name", name}}, p.actor());
                }));
  server.Get(R"(/v1/images/([^/]+))", Authed(ctx, [&ctx](P p, R req, W res) -> Status {
               Json out;
               std::string name = req.matches[1];
               VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
                 VSL_ASSIGN_OR_RETURN(catalog::Image img, ctx.catalog->GetImageByName(tx, name));
                 VSL_RETURN_IF_ERROR(CheckImageVisible(tx, p, img));
                 VSL_ASSIGN_OR_RETURN(out, ImageWithMasters(ctx, tx, img));
                 VSL_ASSIGN_OR_RETURN(auto owner, catalog::ImageTenant(tx, img.id));
                 out["shared"] = !owner.has_value();
                 if (!p.admin()) out.erase("masters");
                 return Status::Ok();
               }));
               ReplyJson(res, out);
               return Status::Ok();
             }));
}

}  // namespace vsl::api
