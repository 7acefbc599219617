// /v1/arrays: add (file and rbd arrays; "fault:file" with test hooks), list,
// show, discover.
#include "api/records_json.h"
#include "api/routes.h"
#include "api/test_hooks.h"
#include "array/file_array.h"
#include "catalog/catalog.h"
#include "manager/storage_manager.h"
#include "util/names.h"

namespace vsl::api {
namespace {

// Qualities as {"raid":"1"} or "raid=1,media=ssd".
Result<catalog::Qualities> ParseQualities(const Json& body) {
  catalog::Qualities q;
  auto it = body.find("qualities");
  if (it == body.end() || it->is_null()) return q;
  if (it->is_object()) {
    for (auto& [k, v] : it->items()) {
      if (!v.is_string()) return InvalidArgument("field 'qualities': value of '" + k + "' must be a string");
      q[k] = v.get<std::string>();
    }
    return q;
  }
  if (!it->is_string()) return InvalidArgument("field 'qualities': expected an object or \"key=value,...\"");
  std::string s = it->get<std::string>();
  size_t pos = 0;
  while (pos < s.size()) {
    size_t end = s.find(',', pos);
    if (end == std::string::npos) end = s.size();
    std::string item = s.substr(pos, end - pos);
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgument("field 'qualities': '" + item + "' is not key=value");
    }
    q[item.substr(0, eq)] = item.substr(eq + 1);
    pos = end + 1;
  }
  return q;
}

// The directory of a new file array may not be, hold or lie inside the data
// directory or another array's directory (`..` and symlinks resolved).
Status CheckArrayPlace(ApiContext& ctx, const array::ArraySpec& spec) {
  VSL_ASSIGN_OR_RETURN(std::string dir, array::ResolveArrayPath(spec.path));
  if (!ctx.data_dir.empty()) {
    VSL_ASSIGN_OR_RETURN(std::string data, array::ResolveArrayPath(ctx.data_dir));
    VSL_RETURN_IF_ERROR(array::CheckDisjointPaths("field 'path': array directory", dir, "the data directory", data));
  }
  return ctx.manager->CheckArrayPathIsFree(spec).Annotate("field 'path'");
}

// An rbd array's connection settings: the pool, and absolute paths of files
// on this machine (the keyring's secret stays in its file).
Status ParseRbdFields(const Json& body, array::ArraySpec& spec) {
  VSL_ASSIGN_OR_RETURN(auto pool, OptionalString(body, "pool"));
  if (!pool || pool->empty())
    return InvalidArgument("field 'pool': missing (the Ceph pool of an rbd array)");
  spec.rbd.pool = *pool;
  for (auto [field, out] :
       {std::pair{"ceph_conf", &spec.rbd.conf}, std::pair{"keyring", &spec.rbd.keyring}}) {
    VSL_ASSIGN_OR_RETURN(auto v, OptionalString(body, field));
    if (!v) continue;
    if (v->empty() || (*v)[0] != '/') {
      return InvalidArgument(std::string("field '") + field + "': '" + *v +
                             "' is not an absolute path");
    }
    *out = *v;
  }
  VSL_ASSIGN_OR_RETURN(auto user, OptionalString(body, "ceph_user"));
  if (user) {
    if (user->empty() || user->find_first_of(" \t\n[]") != std::string::npos) {
      return InvalidArgument("field 'ceph_user': '" + *user + "' is not a cephx user name");
    }
    spec.rbd.user = *user;
  }
  return Status::Ok();
}

Status AddArray(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  VSL_ASSIGN_OR_RETURN(Json body, ParseBody(req));
  VSL_RETURN_IF_ERROR(OnlyFields(body, {"name", "driver", "path", "capacity", "volume_size",
                                        "qualities", "pool", "ceph_conf", "ceph_user", "keyring"}));
  array::ArraySpec spec;
  VSL_ASSIGN_OR_RETURN(spec.name, RequiredString(body, "name"));
  VSL_RETURN_IF_ERROR(CheckName("array name", spec.name));
  VSL_ASSIGN_OR_RETURN(auto driver, OptionalString(body, "driver"));
  std::string drv = driver.value_or("file");
  VSL_ASSIGN_OR_RETURN(auto path, OptionalString(body, "path"));
  VSL_ASSIGN_OR_RETURN(auto capacity, OptionalSize(body, "capacity"));
  VSL_ASSIGN_OR_RETURN(auto volume_size, OptionalSize(body, "volume_size"));
  VSL_ASSIGN_OR_RETURN(spec.qualities, ParseQualities(body));
  if (drv != "file" && drv != "rbd" && drv != "fault:file") {
    return InvalidArgument("field 'driver': unknown driver '" + drv + "' (supported: file, rbd)");
  }
  if (drv == "fault:file" && ctx.test_hooks == nullptr) {
    return InvalidArgument("field 'driver': 'fault:file' needs `vsl serve --test-faults`");
  }
  spec.capacity = capacity.value_or(0);
  spec.volume_size = volume_size.value_or(0);
  if (drv == "rbd") {
    if (path) return InvalidArgument("field 'path': an rbd array has no directory (give 'pool')");
    spec.driver = "rbd";
    VSL_RETURN_IF_ERROR(ParseRbdFields(body, spec));
  } else {
    for (const char* f : {"pool", "ceph_conf", "ceph_user", "keyring"}) {
      if (body.contains(f))
        return InvalidArgument(std::string("field '") + f + "': only for driver rbd");
    }
    if (!path || path->empty())
      return InvalidArgument("field 'path': missing (the array's directory)");
    if ((*path)[0] != '/')
      return InvalidArgument("field 'path': '" + *path + "' is not an absolute path");
    spec.driver = "file";
    spec.path = *path;
    VSL_RETURN_IF_ERROR(CheckArrayPlace(ctx, spec));
  }
  VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
    auto existing = ctx.catalog->GetArrayByName(tx, spec.name);
    if (existing.ok()) return AlreadyExists("array '" + spec.name + "' exists already");
    return existing.status().code() == Code::kNotFound ? Status::Ok() : existing.status();
  }));
  if (drv == "file" || drv == "rbd") {
    VSL_RETURN_IF_ERROR(ctx.manager->AddArray(spec));
  } else {
    VSL_ASSIGN_OR_RETURN(auto base, array::OpenArray(spec));
    auto fault = std::make_shared<array::FaultInjectingArray>(std::move(base));
    Json config = {{"driver", "file"}, {"path", spec.path}, {"fault", true}};
    VSL_RETURN_IF_ERROR(ctx.manager->AttachArray(fault, config.dump()));
    ctx.test_hooks->AddArray(spec.name, fault);
  }
  // Its volumes join the catalog now, so the array is usable on return.
  VSL_ASSIGN_OR_RETURN(Json found, ctx.manager->Call("discover", {{"array", spec.name}}, "admin"));
  catalog::ArrayRecord rec;
  VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(rec, ctx.catalog->GetArrayByName(tx, spec.name));
    return Status::Ok();
  }));
  Json out = ArrayJson(rec, false);
  out["discovery"] = found;
  ReplyJson(res, out, 201);
  return Status::Ok();
}

// Whether vsl reaches the array now: "connected", or "disconnected" with
// the reason (an rbd array whose cluster did not answer; it keeps trying).
void AddState(ApiContext& ctx, Json& j) {
  auto a = ctx.manager->arrays().Find(j["name"].get<std::string>());
  std::string why = a.ok() ? (*a)->Disconnected() : "not open in this vsl serve";
  j["state"] = why.empty() ? "connected" : "disconnected";
  j["reason"] = why.empty() ? Json(nullptr) : Json(why);
}

}  // namespace

void RegisterArrayRoutes(ApiContext& ctx, httplib::Server& server) {
  server.Post("/v1/arrays", Authed(ctx, [&ctx](const httplib::Request& req, httplib::Response& res) {
                return AddArray(ctx, req, res);
              }));
  server.Get("/v1/arrays", Authed(ctx, [&ctx](const httplib::Request&, httplib::Response& res) {
               Json list = Json::array();
               VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
                 VSL_ASSIGN_OR_RETURN(auto arrays, ctx.catalog->ListArrays(tx));
                 for (const auto& a : arrays) {
                   Json j = ArrayJson(a, false);
                   catalog::VolumeFilter f;
                   f.array_id = a.id;
                   VSL_ASSIGN_OR_RETURN(auto vols, ctx.catalog->ListVolumes(tx, f));
                   int64_t free = 0;
                   for (const auto& v : vols) free += v.state == catalog::DiskState::kFree && !v.vanished;
                   j["volumes"] = vols.size();
                   j["free_volumes"] = free;
                   AddState(ctx, j);
                   list.push_back(std::move(j));
                 }
                 return Status::Ok();
               }));
               ReplyJson(res, {{"arrays", list}});
               return Status::Ok();
             }));
  server.Post("/v1/arrays/discover", Authed(ctx, [&ctx](const httplib::Request& req, httplib::Response& res) {
                VSL_ASSIGN_OR_RETURN(Json body, ParseBody(req));
                VSL_RETURN_IF_ERROR(OnlyFields(body, {"array"}));
                VSL_ASSIGN_OR_RETURN(auto array, OptionalString(body, "array"));
                Json args = Json::object();
                if (array) args["array"] = *array;
                return SubmitAndReply(ctx, req, res, "discover", args);
              }));
  server.Get(R"(/v1/arrays/([^/]+))", Authed(ctx, [&ctx](const httplib::Request& req, httplib::Response& res) {
               std::string name = req.matches[1];
               catalog::ArrayRecord rec;
               VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
                 VSL_ASSIGN_OR_RETURN(rec, ctx.catalog->GetArrayByName(tx, name));
                 return Status::Ok();
               }));
               Json j = ArrayJson(rec, true);
               AddState(ctx, j);
               ReplyJson(res, j);
               return Status::Ok();
             }));
}

}  // namespace vsl::api
