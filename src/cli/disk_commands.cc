// `vsl disk ...` (the seed's FIG. 8 utilities), `vsl queue`, `vsl events`.
// Every disk command queues a request; by default the CLI waits for it and
// prints its outcome (--no-wait prints the request id instead).
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "cli/api_client.h"
#include "cli/commands.h"

namespace vsl::cli {
namespace {

struct Args {
  ApiOptions api;
  bool no_wait = false;
  bool unit = false, meta = false, read_only = false;
  std::string size, type, quality, image, host, state, op, entity, name;
  std::vector<int64_t> volumes;
  int64_t volume = 0, source = 0, lun = -1, target = -1, id = 0, request = 0, after = 0, limit = 0;
  // vsl disk qos: iops, read-iops, write-iops, mbps, read-mbps, write-mbps (0: not given).
  std::vector<int64_t> qos = std::vector<int64_t>(6, 0);
  bool clear = false;
  std::string policy;  // vsl disk cache
  std::string rate;    // vsl disk migrate: SIZE/s
};

Result<Json> QualityObject(const std::string& text) {
  Json q = Json::object();
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(pos, end - pos);
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) return InvalidArgument("--quality: '" + item + "' is not KEY=VALUE");
    q[item.substr(0, eq)] = item.substr(eq + 1);
    pos = end + 1;
  }
  return q;
}

std::string Time(int64_t ms) {
  if (ms <= 0) return "-";
  time_t t = static_cast<time_t>(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Posts the disk operation and prints the outcome.
Status Disk(ApiClient& c, const Args& a, const std::string& op, const Json& body) {
  std::string path = "/v1/disks/" + op + (a.no_wait ? "" : "?wait=true");
  VSL_ASSIGN_OR_RETURN(Json r, c.Post(path, body));
  if (a.api.json) {
    printf("%s\n", r.dump(2).c_str());
    return Status::Ok();
  }
  const Json& req = r["request"];
  if (a.no_wait) {
    printf("request %s queued (%s)\n", Cell(req["id"]).c_str(), op.c_str());
    return Status::Ok();
  }
  const Json& res = r["result"];
  if (res.is_object() && res.contains("snapshot") && res.contains("name")) {
    printf("snapshot %s '%s' of volume %s (%s)\n", Cell(res["snapshot"]).c_str(), res["name"].get<std::string>().c_str(),
           Cell(res["volume"]).c_str(), HumanSize(res["size"].get<uint64_t>()).c_str());
  } else if (res.is_object() && res.contains("snapshot") && res.contains("host")) {
    printf("snapshot %s mapped read-only to %s at LUN %s\n", Cell(res["snapshot"]).c_str(),
           res["host"].get<std::string>().c_str(), Cell(res["lun"]).c_str());
  } else if (res.is_object() && res.contains("snapshot")) {
    printf("snapshot %s released (unmapped, scrubbed, free)\n", Cell(res["snapshot"]).c_str());
  } else if (res.is_object() && res.contains("cache")) {
    printf("cache: volume %s: %s\n", Cell(res["volume"]).c_str(), Cell(res["cache"]).c_str());
  } else if (res.is_object() && res.contains("qos")) {
    std::string q = res["qos"].get<std::string>();
    printf("qos: volume %s: %s\n", Cell(res["volume"]).c_str(), q.empty() ? "no limits" : q.c_str());
  } else if (res.is_object() && res.contains("moved")) {
    std::string ids, from;
    for (const Json& v : res["members"]) ids += (ids.empty() ? "" : " ") + v.dump();
    if (!res["moved"].get<bool>()) {
      printf("migrate: %s\n", res.value("note", std::string("nothing moved")).c_str());
    } else {
      for (const Json& v : res.value("from", Json::array())) from += (from.empty() ? "" : " ") + v.dump();
      printf("migrate: volume %s now on members %s (old members %s scrubbed and free); %s bytes copied in %s "
             "passes\n",
             Cell(res["volume"]).c_str(), ids.c_str(), from.empty() ? "-" : from.c_str(),
             Cell(res.value("bytes_copied", Json(0))).c_str(), Cell(res.value("passes", Json(0))).c_str());
    }
  } else if (res.is_object() && res.contains("volumes")) {
    std::string ids;
    for (const Json& v : res["volumes"]) ids += (ids.empty() ? "" : " ") + v.dump();
    printf("allocated volume(s): %s\n", ids.c_str());
  } else if (res.is_object() && res.contains("members")) {
    std::string ids;
    for (const Json& v : res["members"]) ids += (ids.empty() ? "" : " ") + v.dump();
    printf("%s: volume %s is %s, members %s\n", op.c_str(), Cell(res["volume"]).c_str(),
           HumanSize(res["size"].get<uint64_t>()).c_str(), ids.c_str());
  } else if (res.is_object() && res.contains("volume")) {
    printf("%s: volume %s\n", op.c_str(), Cell(res["volume"]).c_str());
  } else {
    printf("%s: done (request %s)\n", op.c_str(), Cell(req["id"]).c_str());
  }
  return Status::Ok();
}

Status Allocate(ApiClient& c, const Args& a) {
  VSL_ASSIGN_OR_RETURN(uint64_t size, ParseSizeArg(a.size));
  Json body = {{"size", size}};
  if (!a.type.empty()) body["type"] = a.type;
  if (!a.quality.empty()) {
    VSL_ASSIGN_OR_RETURN(body["qualities"], QualityObject(a.quality));
  }
  if (a.meta) body["meta"] = true;
  return Disk(c, a, a.unit ? "allocate-unit" : "allocate", body);
}

Status Grow(ApiClient& c, const Args& a) {
  VSL_ASSIGN_OR_RETURN(uint64_t size, ParseSizeArg(a.size));
  Json body = {{"volume", a.volume}, {"size", size}};
  if (!a.quality.empty()) {
    VSL_ASSIGN_OR_RETURN(body["qualities"], QualityObject(a.quality));
  }
  return Disk(c, a, "grow", body);
}

Status Migrate(ApiClient& c, const Args& a) {
  if (a.quality.empty()) return InvalidArgument("--quality: give the qualities to move to, KEY=VALUE,...");
  Json body = {{"volume", a.volume}};
  VSL_ASSIGN_OR_RETURN(body["qualities"], QualityObject(a.quality));
  if (!a.rate.empty()) {
    std::string r = a.rate;
    if (r.size() > 2 && r.compare(r.size() - 2, 2, "/s") == 0) r.resize(r.size() - 2);
    auto bytes = ParseSizeArg(r);
    if (!bytes.ok()) return InvalidArgument("--rate: '" + a.rate + "' is not SIZE/s (e.g. 64MiB/s)");
    body["rate"] = *bytes;
  }
  return Disk(c, a, "migrate", body);
}

// The API's field for the i-th limit: "iops", "read_iops", ...
const char* const kQosFields[] = {"iops", "read_iops", "write_iops", "mbps", "read_mbps", "write_mbps"};

Status Qos(ApiClient& c, const Args& a) {
  Json body = {{"volume", a.volume}};
  bool any = false;
  for (size_t i = 0; i < a.qos.size(); ++i) {
    if (a.qos[i] == 0) continue;
    body[kQosFields[i]] = a.qos[i];
    any = true;
  }
  if (a.clear && any) return InvalidArgument("--clear: give either limits or --clear, not both");
  if (!a.clear && !any) {
    return InvalidArgument("no limit given: use --iops, --read-iops, --write-iops, --mbps, --read-mbps, --write-mbps "
                           "or --clear");
  }
  if (a.clear) body["clear"] = true;
  return Disk(c, a, "qos", body);
}

Status Snapshots(ApiClient& c, const Args& a) {
  VSL_ASSIGN_OR_RETURN(Json r, c.Get("/v1/disks/" + std::to_string(a.volume) + "/snapshots"));
  if (a.api.json) return printf("%s\n", r.dump(2).c_str()), Status::Ok();
  std::vector<std::vector<std::string>> rows;
  for (const Json& x : r["snapshots"]) {
    std::string to;
    for (const Json& m : x["mapped_to"]) {
      to += (to.empty() ? "" : ", ") + m["host"].get<std::string>() + " LUN " + Cell(m["lun"]);
    }
    rows.push_back({Cell(x["id"]), x["name"].get<std::string>(), Time(x["created_ms"].get<int64_t>()),
                    HumanSize(x["size"].get<uint64_t>()), to.empty() ? "-" : to});
  }
  PrintTable({"ID", "NAME", "TIME", "SIZE", "MAPPED TO"}, rows);
  return Status::Ok();
}

Status Cache(ApiClient& c, const Args& a) {
  return Disk(c, a, "cache", {{"volume", a.volume}, {"policy", a.policy}});
}

// The unit, its limits and cache policy, and the gateway's read cache
// figures while it is mapped (docs/cache.md).
Status Show(ApiClient& c, const Args& a) {
  VSL_ASSIGN_OR_RETURN(Json v, c.Get("/v1/volumes/" + std::to_string(a.volume)));
  if (a.api.json) return printf("%s\n", v.dump(2).c_str()), Status::Ok();
  printf("volume %s: %s, %s, %s\n", Cell(v["id"]).c_str(), Cell(v["type"]).c_str(),
         HumanSize(v["size"].get<uint64_t>()).c_str(), Cell(v["state"]).c_str());
  printf("cache policy: %s\n", Cell(v.value("cache", Json("none"))).c_str());
  const Json st = v.value("cache_stats", Json(nullptr));
  if (st.is_object()) {
    printf("cache: reads %s; %s hits, %s misses; %s bytes read from the backend\n",
           st["reads_cached"].get<bool>() ? "cached" : "not cached", Cell(st["hits"]).c_str(),
           Cell(st["misses"]).c_str(), Cell(st["backend_read_bytes"]).c_str());
  } else {
    printf("cache: not mapped (no figures)\n");
  }
  for (const Json& b : v["bindings"]) {
    printf("bound to host %s at LUN %s%s\n", Cell(b["host"]).c_str(), Cell(b["lun"]).c_str(),
           b["mapped"].get<bool>() ? " (mapped)" : "");
  }
  return Status::Ok();
}

Status QueueList(ApiClient& c, const Args& a) {
  std::string q = "?limit=" + std::to_string(a.limit > 0 ? a.limit : 1000);
  if (!a.state.empty()) q += "&state=" + a.state;
  if (!a.op.empty()) q += "&op=" + a.op;
  if (a.after > 0) q += "&after=" + std::to_string(a.after);
  VSL_ASSIGN_OR_RETURN(Json r, c.Get("/v1/requests" + q));
  if (a.api.json) return printf("%s\n", r.dump(2).c_str()), Status::Ok();
  std::vector<std::vector<std::string>> rows;
  for (const Json& x : r["requests"]) {
    rows.push_back({Cell(x["id"]), Cell(x["op"]), Cell(x["state"]), Cell(x["attempts"]), Time(x["created_ms"].get<int64_t>()),
                    Cell(x["args"]), Cell(x["reason"])});
  }
  PrintTable({"ID", "OP", "STATE", "ATTEMPTS", "CREATED", "ARGS", "REASON"}, rows);
  return Status::Ok();
}

Status QueueShow(ApiClient& c, const Args& a) {
  VSL_ASSIGN_OR_RETURN(Json r, c.Get("/v1/requests/" + std::to_string(a.id)));
  printf("%s\n", r.dump(2).c_str());
  return Status::Ok();
}

Status Events(ApiClient& c, const Args& a) {
  std::string q = "?limit=" + std::to_string(a.limit > 0 ? a.limit : 1000);
  if (!a.entity.empty()) q += "&entity=" + a.entity;
  if (a.id > 0) q += "&entity_id=" + std::to_string(a.id);
  if (a.request > 0) q += "&request=" + std::to_string(a.request);
  if (a.after > 0) q += "&after=" + std::to_string(a.after);
  VSL_ASSIGN_OR_RETURN(Json r, c.Get("/v1/events" + q));
  if (a.api.json) return printf("%s\n", r.dump(2).c_str()), Status::Ok();
  std::vector<std::vector<std::string>> rows;
  for (const Json& e : r["events"]) {
    rows.push_back({Cell(e["id"]), Time(e["time_ms"].get<int64_t>()), Cell(e["entity"]) + " " + Cell(e["entity_id"]),
                    Cell(e["op"]), Cell(e["from"]) + " -> " + Cell(e["to"]), Cell(e["actor"]), Cell(e["request_id"]),
                    Cell(e["detail"])});
  }
  PrintTable({"ID", "TIME", "ENTITY", "OP", "CHANGE", "ACTOR", "REQUEST", "DETAIL"}, rows);
  return Status::Ok();
}

CLI::App* Leaf(CLI::App* group, const char* name, const char* help, const std::shared_ptr<Args>& args, RunFn* run,
               std::function<Status(ApiClient&, const Args&)> fn, bool waits) {
  CLI::App* cmd = group->add_subcommand(name, help);
  AddApiOptions(cmd, &args->api);
  if (waits) cmd->add_flag("--no-wait", args->no_wait, "queue the request and print its id");
  std::string what = group->get_name() + " " + name;
  cmd->callback([=] {
    *run = [=] { return WithClient(what, args->api, [&](ApiClient& c) { return fn(c, *args); }); };
  });
  return cmd;
}

// A disk op that takes just the unit: scrub, free, break-meta.
void VolumeOnly(CLI::App* disk, const char* name, const char* help, const std::shared_ptr<Args>& args, RunFn* run) {
  std::string op = name;
  Leaf(disk, name, help, args, run,
       [op](ApiClient& c, const Args& a) { return Disk(c, a, op, {{"volume", a.volume}}); }, true)
      ->add_option("volume", args->volume, "the disk unit (volume id)")->required();
}

}  // namespace

void AddDiskCommands(CLI::App& app, RunFn* run) {
  auto args = std::make_shared<Args>();
  CLI::App* disk = app.add_subcommand("disk", "the FIG. 8 disk utilities, queued as requests");
  disk->require_subcommand(1);

  CLI::App* alloc = Leaf(disk, "allocate", "allocate free volumes adding up to SIZE", args, run, Allocate, true);
  alloc->add_option("--size", args->size, "bytes wanted (e.g. 8GiB, 512MB)")->required();
  alloc->add_option("--type", args->type, "volume type (default disk)");
  alloc->add_option("--quality", args->quality, "required qualities KEY=VALUE,...");
  alloc->add_flag("--unit", args->unit, "also configure them into one unit (allocate-unit)");
  alloc->add_flag("--meta", args->meta, "with --unit: a meta volume even of one member, so it can grow");

  CLI::App* conf = Leaf(disk, "configure", "make one unit (meta volume when several) of allocated volumes", args,
                        run, [](ApiClient& c, const Args& a) {
                          Json body = {{"volumes", a.volumes}};
                          if (a.meta) body["meta"] = true;
                          return Disk(c, a, "configure", body);
                        }, true);
  conf->add_option("volumes", args->volumes, "volume ids, in order")->required();
  conf->add_flag("--meta", args->meta, "a meta volume even of one member, so it can grow");

  CLI::App* grow = Leaf(disk, "grow", "concatenate free volumes onto a meta unit until it is SIZE", args, run,
                        Grow, true);
  grow->add_option("volume", args->volume, "the meta unit")->required();
  grow->add_option("--size", args->size, "the size it must reach (e.g. 16GiB); never shrinks")->required();
  grow->add_option("--quality", args->quality, "qualities the new volumes must have KEY=VALUE,...");

  CLI::App* mig = Leaf(disk, "migrate",
                       "move a meta unit onto new volumes with other qualities, live while it is mapped "
                       "(docs/migration.md)",
                       args, run, Migrate, true);
  mig->add_option("volume", args->volume, "the meta unit")->required();
  mig->add_option("--quality", args->quality, "qualities the new volumes must have KEY=VALUE,...")->required();
  mig->add_option("--rate", args->rate, "copy at most this fast, SIZE/s (e.g. 64MiB/s; default: unpaced)");

  CLI::App* copy = Leaf(disk, "copy", "copy an image (or another unit) onto a configured unit", args, run,
                        [](ApiClient& c, const Args& a) -> Status {
                          Json body = {{"volume", a.volume}};
                          if (!a.image.empty()) body["image"] = a.image;
                          if (a.source > 0) body["source"] = a.source;
                          return Disk(c, a, "copy", body);
                        }, true);
  copy->add_option("volume", args->volume, "the destination unit")->required();
  auto* img = copy->add_option("--image", args->image, "image name");
  auto* src = copy->add_option("--source", args->source, "source unit id");
  img->excludes(src);

  CLI::App* bind = Leaf(disk, "bind", "bind a unit for a host at a LUN", args, run,
                        [](ApiClient& c, const Args& a) -> Status {
                          Json body = {{"volume", a.volume}, {"host", a.host}};
                          if (a.lun >= 0) body["lun"] = a.lun;
                          if (a.target >= 0) body["target"] = a.target;
                          if (a.read_only) body["read_only"] = true;
                          return Disk(c, a, "bind", body);
                        }, true);
  bind->add_option("volume", args->volume, "the unit")->required();
  bind->add_option("--host", args->host, "host name")->required();
  bind->add_option("--lun", args->lun, "LUN the host sees it at (default: --target)");
  bind->add_option("--target", args->target, "SCSI target (FML's target)");
  bind->add_flag("--read-only", args->read_only,
                 "the host may read but not write (writes get DATA PROTECT); an image's master volume is bound "
                 "only this way, to any number of hosts");

  for (const char* op : {"map", "unmap"}) {
    std::string o = op;
    CLI::App* m = Leaf(disk, op, o == "map" ? "present a bound unit to its host(s) through the gateway"
                                            : "take a mapped unit away from its host(s)",
                       args, run,
                       [o](ApiClient& c, const Args& a) -> Status {
                         Json body = {{"volume", a.volume}};
                         if (!a.host.empty()) body["host"] = a.host;
                         return Disk(c, a, o, body);
                       }, true);
    m->add_option("volume", args->volume, "the unit")->required();
    m->add_option("--host", args->host, "only this host (default: every bound host)");
  }
  CLI::App* unbind = Leaf(disk, "unbind", "revoke the gateway's access at the array", args, run,
                          [](ApiClient& c, const Args& a) -> Status {
                            Json body = {{"volume", a.volume}};
                            if (!a.host.empty()) body["host"] = a.host;
                            return Disk(c, a, "unbind", body);
                          }, true);
  unbind->add_option("volume", args->volume, "the unit")->required();
  unbind->add_option("--host", args->host, "only this host's binding (others keep the unit)");
  CLI::App* snap = Leaf(disk, "snapshot",
                        "make a BCV: a new volume on the disk's array holding its point in time (a mapped disk's "
                        "host waits at most for a flush)",
                        args, run, [](ApiClient& c, const Args& a) -> Status {
                          Json body = {{"volume", a.volume}};
                          if (!a.name.empty()) body["name"] = a.name;
                          return Disk(c, a, "snapshot", body);
                        }, true);
  snap->add_option("volume", args->volume, "the disk (a mapped unit)")->required();
  snap->add_option("--name", args->name, "the snapshot's name, unique per disk (default snap-ID)");
  Leaf(disk, "snapshots", "list a disk's snapshots: id, name, time, size, the hosts each is mapped to", args, run,
       Snapshots, false)
      ->add_option("volume", args->volume, "the disk")->required();
  CLI::App* smap = Leaf(disk, "snapshot-map", "map a snapshot read-only to a host as another LUN (split)", args, run,
                        [](ApiClient& c, const Args& a) {
                          return Disk(c, a, "snapshot-map", {{"snapshot", a.id}, {"host", a.host}, {"lun", a.lun}});
                        }, true);
  smap->add_option("snapshot", args->id, "the snapshot (its volume id)")->required();
  smap->add_option("--host", args->host, "host name")->required();
  smap->add_option("--lun", args->lun, "the LUN the host sees it at")->required();
  Leaf(disk, "snapshot-release", "unmap a snapshot, scrub it and free its volume (join)", args, run,
       [](ApiClient& c, const Args& a) { return Disk(c, a, "snapshot-release", {{"snapshot", a.id}}); }, true)
      ->add_option("snapshot", args->id, "the snapshot (its volume id)")->required();
  VolumeOnly(disk, "scrub", "destroy the unit's data and verify it reads zero", args, run);
  VolumeOnly(disk, "free", "return the unit to the free pool (scrubbing what needs it)", args, run);
  VolumeOnly(disk, "break-meta", "break a meta volume into its members", args, run);
  VolumeOnly(disk, "flatten",
             "detach a clone of an image master (rbd): it gets its own copy of every block and no longer counts as "
             "the image's; refused on a volume that is no clone, or is mapped",
             args, run);

  CLI::App* qos = Leaf(disk, "qos",
                       "set a unit's limits (they replace all of its limits; a mapped unit's hosts are held to "
                       "them at once); over-limit commands wait in the gateway, never fail",
                       args, run, Qos, true);
  qos->add_option("volume", args->volume, "the unit")->required();
  const char* names[] = {"--iops", "--read-iops", "--write-iops", "--mbps", "--read-mbps", "--write-mbps"};
  const char* helps[] = {"commands a second, reads and writes together", "reads a second", "writes a second",
                         "MiB (2^20 bytes) a second, reads and writes together", "MiB a second read",
                         "MiB a second written"};
  for (size_t i = 0; i < 6; ++i) {
    qos->add_option(names[i], args->qos[i], helps[i])->check(CLI::Range(int64_t{1}, int64_t{1000000000}));
  }
  qos->add_flag("--clear", args->clear, "remove every limit");

  CLI::App* cache =
      Leaf(disk, "cache",
           "set a unit's read cache policy: read (its reads go through the gateway's RAM cache, "
           "vsl serve --cache) or none; a mapped unit changes at once, without a remap",
           args, run, Cache, true);
  cache->add_option("volume", args->volume, "the unit")->required();
  cache->add_option("--policy", args->policy, "read or none")
      ->required()
      ->check(CLI::IsMember({"read", "none"}));
  Leaf(disk, "show",
       "show a unit: state, limits, cache policy and the gateway's cache figures (hits, misses, "
       "bytes "
       "read from its backend) while it is mapped",
       args, run, Show, false)
      ->add_option("volume", args->volume, "the unit")
      ->required();

  CLI::App* queue = app.add_subcommand("queue", "the request queue");
  queue->require_subcommand(1);
  CLI::App* ql = Leaf(queue, "list", "list requests", args, run, QueueList, false);
  ql->add_option("--state", args->state, "queued, running, done or failed");
  ql->add_option("--op", args->op, "only this operation");
  ql->add_option("--after", args->after, "only requests with a larger id");
  ql->add_option("--limit", args->limit, "at most this many (default 1000)");
  Leaf(queue, "show", "show one request as JSON", args, run, QueueShow, false)
      ->add_option("id", args->id, "request id")->required();

  CLI::App* events = app.add_subcommand("events", "state changes: who did what, when");
  AddApiOptions(events, &args->api);
  events->add_option("--entity", args->entity, "volume, host, request, array, farm");
  events->add_option("--id", args->id, "only this entity id");
  events->add_option("--request", args->request, "only events of this request");
  events->add_option("--after", args->after, "only events with a larger id");
  events->add_option("--limit", args->limit, "at most this many (default 1000)");
  events->callback([=] {
    *run = [=] { return WithClient("events", args->api, [&](ApiClient& c) { return Events(c, *args); }); };
  });
}

}  // namespace vsl::cli
