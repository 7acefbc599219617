// /v1/volumes (list, show) and /v1/disks/{op}: the FIG. 8 utilities, each
// checked here (so a malformed call queues nothing) and then queued as a
// request for the storage manager.
#include <map>

#include "api/auth.h"
#include "api/records_json.h"
#include "api/routes.h"
#include "catalog/catalog.h"
#include "catalog/snapshots.h"
#include "manager/storage_manager.h"
#include "util/names.h"
#include "util/qos.h"

namespace vsl::api {
namespace {

Status CopyVolumeField(const Json& body, Json& args) {
  VSL_ASSIGN_OR_RETURN(int64_t v, RequiredInt(body, "volume"));
  if (v <= 0) return InvalidArgument("field 'volume': must be a positive volume id");
  args["volume"] = v;
  return Status::Ok();
}

Status CopyQualities(const Json& body, Json& args) {
  auto q = body.find("qualities");
  if (q == body.end() || q->is_null()) return Status::Ok();
  if (!q->is_object()) return InvalidArgument("field 'qualities': expected an object of strings");
  for (auto& [k, v] : q->items()) {
    if (!v.is_string()) return InvalidArgument("field 'qualities': value of '" + k + "' must be a string");
  }
  args["qualities"] = *q;
  return Status::Ok();
}

// "meta": true makes a meta volume even of one member (so it can grow).
Status CopyMeta(const Json& body, Json& args) {
  VSL_ASSIGN_OR_RETURN(auto meta, OptionalBool(body, "meta"));
  if (meta) args["meta"] = *meta;
  return Status::Ok();
}

// "qos": {"volume", "iops"?, "read_iops"?, "write_iops"?, "mbps"?,
// "read_mbps"?, "write_mbps"?, "clear"?}: the limits given replace all of the
// unit's; "clear": true (and no limit) removes them.
Status QosArgs(const Json& body, Json& args) {
  std::vector<std::string> fields = {"volume", "clear"};
  std::vector<std::string> keys;
  for (int k = 0; k < QosLimits::kKeys; ++k) {
    std::string name(QosKeyName(QosLimits::Key(k)));
    for (char& c : name) c = c == '-' ? '_' : c;
    keys.push_back(name);
    fields.push_back(name);
  }
  for (auto& [k, v] : body.items()) {
    bool known = false;
    for (const auto& f : fields) known = known || f == k;
    if (!known) {
      return InvalidArgument("unknown field '" + k +
                             "' (expected volume, iops, read_iops, write_iops, mbps, read_mbps, write_mbps, clear)");
    }
  }
  VSL_RETURN_IF_ERROR(CopyVolumeField(body, args));
  QosLimits limits;
  for (int k = 0; k < QosLimits::kKeys; ++k) {
    VSL_ASSIGN_OR_RETURN(auto v, OptionalInt(body, keys[size_t(k)]));
    if (!v) continue;
    Status ok = CheckQosValue(keys[size_t(k)], *v);
    if (!ok.ok()) return InvalidArgument("field '" + keys[size_t(k)] + "': " + ok.message());
    limits[QosLimits::Key(k)] = uint64_t(*v);
  }
  VSL_ASSIGN_OR_RETURN(auto clear, OptionalBool(body, "clear"));
  if (clear.value_or(false) && !limits.empty()) {
    return InvalidArgument("field 'clear': give either limits or \"clear\": true, not both");
  }
  if (!clear.value_or(false) && limits.empty()) {
    return InvalidArgument("no limit given: set at least one of iops, read_iops, write_iops, mbps, read_mbps, "
                           "write_mbps, or \"clear\": true to remove them");
  }
  args["qos"] = FormatQos(limits);
  return Status::Ok();
}

// The manager's op name and arguments for the API's disk operation `op`.
Status DiskArgs(const std::string& op, const Json& body, std::string& mop, Json& args) {
  args = Json::object();
  mop = op;
  if (op == "allocate" || op == "allocate-unit") {
    VSL_RETURN_IF_ERROR(OnlyFields(body, {"size", "type", "qualities", "farm", "meta"}));
    VSL_ASSIGN_OR_RETURN(uint64_t size, RequiredSize(body, "size"));
    if (size == 0) return InvalidArgument("field 'size': must be positive");
    args["size"] = size;
    VSL_ASSIGN_OR_RETURN(auto type, OptionalString(body, "type"));
    if (type) args["type"] = *type;
    VSL_RETURN_IF_ERROR(CopyQualities(body, args));
    VSL_ASSIGN_OR_RETURN(auto farm, OptionalInt(body, "farm"));
    if (farm) args["farm"] = *farm;
    VSL_RETURN_IF_ERROR(CopyMeta(body, args));
  } else if (op == "configure" || op == "make-meta") {
    mop = "make-meta";
    VSL_RETURN_IF_ERROR(OnlyFields(body, {"volumes", "meta"}));
    VSL_RETURN_IF_ERROR(CopyMeta(body, args));
    auto v = body.find("volumes");
    if (v == body.end() || v->is_null()) return InvalidArgument("field 'volumes': missing");
    if (!v->is_array() || v->empty()) return InvalidArgument("field 'volumes': expected a non-empty list of volume ids");
    for (const Json& e : *v) {
      if (!e.is_number_integer() || e.get<int64_t>() <= 0) {
        return InvalidArgument("field 'volumes': every entry must be a positive volume id");
      }
    }
    args["volumes"] = *v;
  } else if (op == "copy") {
    VSL_RETURN_IF_ERROR(OnlyFields(body, {"volume", "image", "source"}));
    VSL_RETURN_IF_ERROR(CopyVolumeField(body, args));
    VSL_ASSIGN_OR_RETURN(auto image, OptionalString(body, "image"));
    VSL_ASSIGN_OR_RETURN(auto source, OptionalInt(body, "source"));
    if (image.has_value() == source.has_value()) {
      return InvalidArgument("field 'image' or 'source': give exactly one (an image name or a volume id)");
    }
    if (image) args["image"] = *image;
    if (source) args["source"] = *source;
  } else if (op == "snap") {
    VSL_RETURN_IF_ERROR(OnlyFields(body, {"volume", "bcv"}));
    VSL_RETURN_IF_ERROR(CopyVolumeField(body, args));
    VSL_ASSIGN_OR_RETURN(int64_t bcv, RequiredInt(body, "bcv"));
    args["bcv"] = bcv;
  } else if (op == "snapshot") {
    VSL_RETURN_IF_ERROR(OnlyFields(body, {"volume", "name"}));
    VSL_RETURN_IF_ERROR(CopyVolumeField(body, args));
    VSL_ASSIGN_OR_RETURN(auto name, OptionalString(body, "name"));
    if (name) {
      Status ok = CheckName("snapshot name", *name);
      if (!ok.ok()) return InvalidArgument("field 'name': " + ok.message());
      args["name"] = *name;
    }
  } else if (op == "snapshot-map" || op == "snapshot-release") {
    // The manager's unit argument is the snapshot (a unit of its own).
    bool map = op == "snapshot-map";
    VSL_RETURN_IF_ERROR(map ? OnlyFields(body, {"snapshot", "host", "lun"}) : OnlyFields(body, {"snapshot"}));
    VSL_ASSIGN_OR_RETURN(int64_t snap, RequiredInt(body, "snapshot"));
    if (snap <= 0) return InvalidArgument("field 'snapshot': must be a positive volume id");
    args["volume"] = snap;
    if (map) {
      VSL_ASSIGN_OR_RETURN(std::string host, RequiredString(body, "host"));
      VSL_ASSIGN_OR_RETURN(int64_t lun, RequiredInt(body, "lun"));
      if (lun < 0 || lun > 16383) return InvalidArgument("field 'lun': must be in 0..16383");
      args["host"] = host;
      args["lun"] = lun;
    }
  } else if (op == "bind") {
    VSL_RETURN_IF_ERROR(OnlyFields(body, {"volume", "host", "lun", "target", "read_only"}));
    VSL_RETURN_IF_ERROR(CopyVolumeField(body, args));
    VSL_ASSIGN_OR_RETURN(std::string host, RequiredString(body, "host"));
    VSL_ASSIGN_OR_RETURN(auto lun, OptionalInt(body, "lun"));
    VSL_ASSIGN_OR_RETURN(auto target, OptionalInt(body, "target"));
    // FML's target="N" is presented as LUN N unless the caller says otherwise.
    if (!lun) lun = target;
    if (!lun) return InvalidArgument("field 'lun': missing (or give 'target')");
    if (*lun < 0 || *lun > 16383) return InvalidArgument("field 'lun': must be in 0..16383");
    args["host"] = host;
    args["lun"] = *lun;
    if (target) args["target"] = *target;
    VSL_ASSIGN_OR_RETURN(auto read_only, OptionalBool(body, "read_only"));
    if (read_only) args["read_only"] = *read_only;
  } else if (op == "map" || op == "unmap") {
    VSL_RETURN_IF_ERROR(OnlyFields(body, {"volume", "host"}));
    VSL_RETURN_IF_ERROR(CopyVolumeField(body, args));
    VSL_ASSIGN_OR_RETURN(auto host, OptionalString(body, "host"));
    if (host) args["host"] = *host;
  } else if (op == "grow") {
    VSL_RETURN_IF_ERROR(OnlyFields(body, {"volume", "size", "qualities"}));
    VSL_RETURN_IF_ERROR(CopyVolumeField(body, args));
    VSL_ASSIGN_OR_RETURN(uint64_t size, RequiredSize(body, "size"));
    if (size == 0) return InvalidArgument("field 'size': must be positive");
    args["size"] = size;
    VSL_RETURN_IF_ERROR(CopyQualities(body, args));
  } else if (op == "migrate") {
    // {"volume", "qualities": {K: V}, "rate"?: bytes/s} (docs/migration.md)
    VSL_RETURN_IF_ERROR(OnlyFields(body, {"volume", "qualities", "rate"}));
    VSL_RETURN_IF_ERROR(CopyVolumeField(body, args));
    VSL_RETURN_IF_ERROR(CopyQualities(body, args));
    if (!args.contains("qualities") || args["qualities"].empty()) {
      return InvalidArgument("field 'qualities': missing (the qualities to move to, e.g. {\"class\": \"performance\"})");
    }
    VSL_ASSIGN_OR_RETURN(auto rate, OptionalSize(body, "rate"));
    if (rate) args["rate"] = *rate;
  } else if (op == "unbind") {
    VSL_RETURN_IF_ERROR(OnlyFields(body, {"volume", "host"}));
    VSL_RETURN_IF_ERROR(CopyVolumeField(body, args));
    VSL_ASSIGN_OR_RETURN(auto host, OptionalString(body, "host"));
    if (host) args["host"] = *host;
  } else if (op == "qos") {
    VSL_RETURN_IF_ERROR(QosArgs(body, args));
  } else if (op == "cache") {
    // {"volume", "policy": "none"|"read"} (docs/cache.md)
    VSL_RETURN_IF_ERROR(OnlyFields(body, {"volume", "policy"}));
    VSL_RETURN_IF_ERROR(CopyVolumeField(body, args));
    VSL_ASSIGN_OR_RETURN(auto policy, OptionalString(body, "policy"));
    if (!policy)
      return InvalidArgument("field 'policy' is missing (expected \"none\" or \"read\")");
    if (*policy != "none" && *policy != "read")
      return InvalidArgument("field 'policy': '" + *policy +
                             "' is no cache policy (expected \"none\" or \"read\")");
    args["cache"] = *policy;
  } else if (op == "scrub" || op == "free" || op == "break-meta" || op == "flatten") {
    VSL_RETURN_IF_ERROR(OnlyFields(body, {"volume"}));
    VSL_RETURN_IF_ERROR(CopyVolumeField(body, args));
  } else {
    return NotFound("unknown disk operation '" + op +
                    "' (allocate, allocate-unit, configure, break-meta, grow, migrate, copy, snap, snapshot, "
                    "snapshot-map, snapshot-release, bind, map, unmap, unbind, scrub, free, flatten, qos, cache)");
  }
  return Status::Ok();
}

// A tenant sees the volumes of its farms only (CheckVolumeVisible).
Status ListVolumes(ApiContext& ctx, const Principal& p, const httplib::Request& req, httplib::Response& res) {
  catalog::VolumeFilter f;
  if (auto s = QueryParam(req, "state")) {
    auto st = catalog::ParseDiskState(*s);
    if (!st.ok()) return InvalidArgument("query parameter 'state': " + st.status().message());
    f.state = *st;
  }
  if (auto t = QueryParam(req, "type")) f.type = *t;
  VSL_ASSIGN_OR_RETURN(auto parent, QueryInt(req, "parent"));
  f.parent_id = parent;
  VSL_ASSIGN_OR_RETURN(auto farm, QueryInt(req, "farm"));
  f.farm_id = farm;
  f.top_level_only = QueryFlag(req, "top");
  VSL_ASSIGN_OR_RETURN(auto limit, QueryInt(req, "limit"));
  Json list = Json::array();
  if (QueryParam(req, "array")) VSL_RETURN_IF_ERROR(AdminOnly(p, "query parameter 'array'"));
  VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
    if (auto a = QueryParam(req, "array")) {
      VSL_ASSIGN_OR_RETURN(auto rec, ctx.catalog->GetArrayByName(tx, *a));
      f.array_id = rec.id;
    }
    VSL_ASSIGN_OR_RETURN(auto vols, ctx.catalog->ListVolumes(tx, f));
    VSL_ASSIGN_OR_RETURN(auto arrays, ctx.catalog->ListArrays(tx));
    VSL_ASSIGN_OR_RETURN(TenantFarms mine, FarmsOf(tx, p));
    std::map<int64_t, std::string> names;
    for (const auto& a : arrays) names[a.id] = a.name;
    for (const auto& v : vols) {
      if (!p.admin() && !mine.Has(v.farm_id)) continue;
      if (limit && static_cast<int64_t>(list.size()) >= *limit) break;
      Json j = VolumeJson(v);
      if (v.array_id) j["array"] = names[*v.array_id];
      list.push_back(std::move(j));
    }
    return Status::Ok();
  }));
  ReplyJson(res, {{"volumes", list}});
  return Status::Ok();
}

Status ShowVolume(ApiContext& ctx, const Principal& p, const httplib::Request& req, httplib::Response& res) {
  VSL_ASSIGN_OR_RETURN(int64_t id, PathId(req.matches[1], "volume"));
  Json out;
  VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(catalog::Volume v, VisibleVolume(*ctx.catalog, tx, p, id));
    out = VolumeJson(v);
    if (v.array_id) {
      VSL_ASSIGN_OR_RETURN(auto a, ctx.catalog->GetArray(tx, *v.array_id));
      out["array"] = a.name;
    }
    Json members = Json::array();
    if (v.type == "meta") {
      VSL_ASSIGN_OR_RETURN(auto ms, ctx.catalog->Members(tx, v.id));
      for (const auto& m : ms) members.push_back(VolumeJson(m));
    }
    out["members"] = members;
    Json bindings = Json::array();
    VSL_ASSIGN_OR_RETURN(auto bs, ctx.catalog->BindingsOfVolume(tx, v.id));
    for (const auto& b : bs) {
      Json j = BindingJson(b);
      VSL_ASSIGN_OR_RETURN(auto h, ctx.catalog->GetHost(tx, b.host_id));
      j["host"] = h.name;
      bindings.push_back(std::move(j));
    }
    out["bindings"] = bindings;
    VSL_ASSIGN_OR_RETURN(auto master, ctx.catalog->ImageOfMaster(tx, v.id));
    out["master_of_image"] = master ? Json(master->name) : Json(nullptr);
    VSL_ASSIGN_OR_RETURN(auto clone_of, ctx.catalog->CloneMaster(tx, v.id));
    out["clone_of"] = clone_of ? Json(*clone_of) : Json(nullptr);
    return Status::Ok();
  }));
  // The gateway's read cache figures while the disk is mapped (docs/cache.md).
  ApiContext::VolumeCacheFigures f;
  if (ctx.volume_cache && ctx.volume_cache(std::to_string(id), &f)) {
    out["cache_stats"] = {{"reads_cached", f.reads},
                          {"hits", f.hits},
                          {"misses", f.misses},
                          {"backend_read_bytes", f.backend_read_bytes}};
  } else {
    out["cache_stats"] = nullptr;
  }
  ReplyJson(res, out);
  return Status::Ok();
}

// GET /v1/disks/{id}/snapshots: the disk's BCV snapshots, oldest first,
// with the hosts each is mapped to.
Status ListSnapshots(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  VSL_ASSIGN_OR_RETURN(int64_t id, PathId(req.matches[1], "disk"));
  Json list = Json::array();
  VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
    list = Json::array();
    VSL_RETURN_IF_ERROR(ctx.catalog->GetVolume(tx, id).status());
    VSL_ASSIGN_OR_RETURN(auto rows, catalog::SnapshotsOf(tx, id));
    for (const auto& r : rows) {
      VSL_ASSIGN_OR_RETURN(catalog::Volume v, ctx.catalog->GetVolume(tx, r.volume_id));
      Json mapped = Json::array();
      VSL_ASSIGN_OR_RETURN(auto bs, ctx.catalog->BindingsOfVolume(tx, r.volume_id));
      for (const auto& b : bs) {
        if (!b.mapped) continue;
        VSL_ASSIGN_OR_RETURN(auto h, ctx.catalog->GetHost(tx, b.host_id));
        mapped.push_back({{"host", h.name}, {"lun", b.lun}, {"read_only", b.read_only}});
      }
      list.push_back({{"id", r.volume_id},
                      {"name", r.name},
                      {"created_ms", r.created_ms},
                      {"size", v.size},
                      {"state", std::string(catalog::DiskStateName(v.state))},
                      {"mapped_to", mapped}});
    }
    return Status::Ok();
  }));
  ReplyJson(res, {{"volume", id}, {"snapshots", list}});
  return Status::Ok();
}

}  // namespace

void RegisterDiskRoutes(ApiContext& ctx, httplib::Server& server) {
  server.Get("/v1/volumes", Authed(ctx, [&ctx](const Principal& p, const httplib::Request& req,
                                                 httplib::Response& res) { return ListVolumes(ctx, p, req, res); }));
  server.Get(R"(/v1/volumes/([^/]+))",
             Authed(ctx, [&ctx](const Principal& p, const httplib::Request& req, httplib::Response& res) {
               return ShowVolume(ctx, p, req, res);
             }));
  server.Get(R"(/v1/disks/([^/]+)/snapshots)", Authed(ctx, [&ctx](const httplib::Request& req, httplib::Response& res) {
               return ListSnapshots(ctx, req, res);
             }));
  // The FIG. 8 utilities act on the arrays and the host pool directly: the
  // admin's (a tenant changes its disks through its farm's FML).
  server.Post(R"(/v1/disks/([a-z-]+))", Authed(ctx, [&ctx](const httplib::Request& req, httplib::Response& res) {
                VSL_ASSIGN_OR_RETURN(Json body, ParseBody(req));
                std::string mop;
                Json args;
                VSL_RETURN_IF_ERROR(DiskArgs(req.matches[1], body, mop, args));
                if (mop == "bind") {
                  // What no queued request could change is refused before
                  // anything is queued (a read-write bind of an image
                  // master, a unit whose other hosts have the other mode).
                  VSL_RETURN_IF_ERROR(ctx.manager->ops().CheckBindMode(args["volume"].get<int64_t>(),
                                                                       args["host"].get<std::string>(),
                                                                       args.value("read_only", false)));
                }
                return SubmitAndReply(ctx, req, res, mop, args);
              }));
}

}  // namespace vsl::api
