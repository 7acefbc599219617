// Dispatch, discovery, allocation and meta volumes.
#include "manager/operations.h"

#include <algorithm>
#include <set>

#include "array/dwml.h"
#include "catalog/snapshots.h"
#include "manager/allocator.h"
#include "manager/backup_ops.h"
#include "util/crash_point.h"
#include "util/names.h"

namespace vsl::manager {

using catalog::Actor;
using catalog::Tx;
using catalog::Volume;
using catalog::VolumeUpdate;

void ArraySet::Add(std::shared_ptr<array::StorageArray> a) {
  std::lock_guard<std::mutex> l(mu_);
  arrays_[a->info().name] = std::move(a);
}

Result<std::shared_ptr<array::StorageArray>> ArraySet::Find(const std::string& name) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = arrays_.find(name);
  if (it == arrays_.end()) return NotFound("array '" + name + "' is not attached to this storage manager");
  return it->second;
}

std::vector<std::shared_ptr<array::StorageArray>> ArraySet::All() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::shared_ptr<array::StorageArray>> out;
  for (auto& [n, a] : arrays_) out.push_back(a);
  return out;
}

Operations::Operations(catalog::Catalog* catalog, ArraySet* arrays, MapTarget* target,
                       std::string gateway_initiator)
    : catalog_(catalog),
      arrays_(arrays),
      target_(target),
      gateway_initiator_(std::move(gateway_initiator)),
      machine_(catalog) {}

namespace {

Result<int64_t> IntArg(const Json& args, const char* key) {
  auto it = args.find(key);
  if (it == args.end() || !it->is_number_integer()) {
    return InvalidArgument(std::string("argument '") + key + "' must be an integer");
  }
  return it->get<int64_t>();
}

Result<std::string> StringArg(const Json& args, const char* key) {
  auto it = args.find(key);
  if (it == args.end() || !it->is_string() || it->get<std::string>().empty()) {
    return InvalidArgument(std::string("argument '") + key + "' must be a non-empty string");
  }
  return it->get<std::string>();
}

// Absent is false.
Result<bool> BoolArg(const Json& args, const char* key) {
  auto it = args.find(key);
  if (it == args.end()) return false;
  if (!it->is_boolean()) return InvalidArgument(std::string("argument '") + key + "' must be true or false");
  return it->get<bool>();
}

std::optional<std::string> OptString(const Json& args, const char* key) {
  auto it = args.find(key);
  if (it == args.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

Result<catalog::Qualities> QualitiesArg(const Json& args) {
  catalog::Qualities out;
  auto q = args.find("qualities");
  if (q == args.end()) return out;
  if (!q->is_object()) return InvalidArgument("argument 'qualities' must be an object of strings");
  for (auto& [k, v] : q->items()) {
    if (!v.is_string()) return InvalidArgument("quality '" + k + "' must be a string");
    out[k] = v.get<std::string>();
  }
  return out;
}

Result<uint64_t> SizeArg(const Json& args) {
  auto size = args.find("size");
  bool positive = size != args.end() && size->is_number_integer() &&
                  (size->is_number_unsigned() ? size->get<uint64_t>() > 0 : size->get<int64_t>() > 0);
  if (!positive) return InvalidArgument("argument 'size' must be a positive integer (bytes)");
  VSL_RETURN_IF_ERROR(CheckSize("argument 'size'", size->get<uint64_t>()));
  return size->get<uint64_t>();
}

Result<AllocateArgs> ParseAllocate(const Json& args) {
  AllocateArgs a;
  VSL_ASSIGN_OR_RETURN(a.size, SizeArg(args));
  if (auto t = OptString(args, "type")) a.type = *t;
  VSL_ASSIGN_OR_RETURN(a.qualities, QualitiesArg(args));
  if (args.contains("farm")) {
    VSL_ASSIGN_OR_RETURN(int64_t f, IntArg(args, "farm"));
    a.farm_id = f;
  }
  VSL_ASSIGN_OR_RETURN(a.meta, BoolArg(args, "meta"));
  return a;
}

bool Matches(const catalog::Qualities& have, const catalog::Qualities& want) {
  for (auto& [k, v] : want) {
    auto it = have.find(k);
    if (it == have.end() || it->second != v) return false;
  }
  return true;
}

// How many qualities `have` offers that `want` (which it matches) did not ask for.
size_t Unasked(const catalog::Qualities& have, const catalog::Qualities& want) {
  return have.size() - want.size();
}

// Storage with qualities nobody asked for is kept for those who ask: choose
// among the candidates with the fewest unasked qualities first, and widen to
// the next level only when that one cannot hold `size`.
Result<AllocationChoice> ChooseSparing(const std::vector<std::pair<size_t, FreeVolume>>& free,
                                       const std::vector<std::pair<size_t, PoolSpace>>& pools, uint64_t size) {
  std::set<size_t> levels;
  for (auto& [n, v] : free) levels.insert(n);
  for (auto& [n, p] : pools) levels.insert(n);
  if (levels.empty()) levels.insert(0);
  Result<AllocationChoice> choice = ResourceExhausted("");
  for (size_t level : levels) {
    std::vector<FreeVolume> fv;
    std::vector<PoolSpace> ps;
    for (auto& [n, v] : free) {
      if (n <= level) fv.push_back(v);
    }
    for (auto& [n, p] : pools) {
      if (n <= level) ps.push_back(p);
    }
    choice = ChooseStorage(fv, ps, size);
    if (choice.ok() || choice.status().code() != Code::kResourceExhausted) return choice;
  }
  return choice;
}

std::string Describe(const AllocateArgs& a) {
  std::string s = "type " + a.type;
  for (auto& [k, v] : a.qualities) s += ", " + k + "=" + v;
  return s;
}

constexpr int kCasRetries = 20;

}  // namespace

Result<Json> Operations::Run(const std::string& op, const Json& args, const Actor& actor) {
  if (BackupOps::Handles(op)) {
    if (!backups_) return FailedPrecondition("no backup store: start vsl serve with --backup-dir DIR to run " + op);
    return backups_->Run(op, args, actor);
  }
  if (!args.is_object()) return InvalidArgument("the arguments of '" + op + "' must be a JSON object");
  Json out = Json::object();
  if (op == "discover") {
    VSL_ASSIGN_OR_RETURN(DiscoveryResult r, Discover(OptString(args, "array"), actor));
    out = {{"arrays", r.arrays}, {"added", r.added}, {"vanished", r.vanished}, {"reappeared", r.reappeared}};
  } else if (op == "allocate" || op == "allocate-unit") {
    VSL_ASSIGN_OR_RETURN(AllocateArgs a, ParseAllocate(args));
    if (op == "allocate") {
      VSL_ASSIGN_OR_RETURN(auto ids, Allocate(a, actor));
      out = {{"volumes", ids}};
    } else {
      VSL_ASSIGN_OR_RETURN(int64_t unit, AllocateUnit(a, actor));
      out = {{"volume", unit}};
    }
  } else if (op == "make-meta") {
    auto v = args.find("volumes");
    if (v == args.end() || !v->is_array() || v->empty()) {
      return InvalidArgument("argument 'volumes' must be a non-empty list of volume ids");
    }
    std::vector<int64_t> ids;
    for (auto& e : *v) {
      if (!e.is_number_integer()) return InvalidArgument("argument 'volumes' must hold volume ids");
      ids.push_back(e.get<int64_t>());
    }
    VSL_ASSIGN_OR_RETURN(bool meta, BoolArg(args, "meta"));
    VSL_ASSIGN_OR_RETURN(int64_t unit, MetaCreate(ids, actor, meta));
    out = {{"volume", unit}};
  } else if (op == "import-image") {
    VSL_ASSIGN_OR_RETURN(std::string name, StringArg(args, "name"));
    VSL_ASSIGN_OR_RETURN(std::string file, StringArg(args, "file"));
    std::optional<int64_t> tenant;
    if (args.contains("tenant")) {
      VSL_ASSIGN_OR_RETURN(tenant, IntArg(args, "tenant"));
    }
    VSL_ASSIGN_OR_RETURN(catalog::Image img, ImportImage(name, file, actor, tenant));
    out = {{"image", img.id}, {"volume", img.master_volume_id.value_or(0)}, {"size", img.size},
           {"sha256", img.sha256}};
  } else if (op == "remove-image") {
    VSL_ASSIGN_OR_RETURN(std::string name, StringArg(args, "name"));
    VSL_ASSIGN_OR_RETURN(std::optional<int64_t> master, RemoveImage(name, actor));
    out = {{"volume", master ? Json(*master) : Json(nullptr)}};
  } else {
    VSL_ASSIGN_OR_RETURN(int64_t unit, IntArg(args, "volume"));
    // A disk being backed up or restored is read or written outside the
    // gateway: nothing may map, rewrite, scrub or free it meanwhile.
    if (backups_ && op != "unmap" && op != "unbind" && op != "bind" && op != "snap") {
      VSL_RETURN_IF_ERROR(backups_->CheckIdle(unit));
    }
    if (op == "break-meta") {
      VSL_RETURN_IF_ERROR(MetaBreak(unit, actor));
    } else if (op == "copy") {
      if (auto image = OptString(args, "image")) {
        VSL_RETURN_IF_ERROR(CopyImage(unit, *image, actor));
      } else {
        VSL_ASSIGN_OR_RETURN(int64_t src, IntArg(args, "source"));
        VSL_RETURN_IF_ERROR(CopyVolume(unit, src, actor));
      }
    } else if (op == "snap") {
      VSL_ASSIGN_OR_RETURN(int64_t bcv, IntArg(args, "bcv"));
      VSL_RETURN_IF_ERROR(Snap(unit, bcv, actor));
    } else if (op == "snapshot") {
      VSL_ASSIGN_OR_RETURN(out, Snapshot(unit, OptString(args, "name").value_or(""), actor));
    } else if (op == "snapshot-map") {
      VSL_ASSIGN_OR_RETURN(std::string host, StringArg(args, "host"));
      VSL_ASSIGN_OR_RETURN(int64_t lun, IntArg(args, "lun"));
      VSL_RETURN_IF_ERROR(SnapshotMap(unit, host, lun, actor));
      out = {{"snapshot", unit}, {"host", host}, {"lun", lun}};
    } else if (op == "snapshot-release") {
      VSL_RETURN_IF_ERROR(SnapshotRelease(unit, actor));
      out = {{"snapshot", unit}};
    } else if (op == "bind") {
      VSL_ASSIGN_OR_RETURN(std::string host, StringArg(args, "host"));
      VSL_ASSIGN_OR_RETURN(int64_t lun, IntArg(args, "lun"));
      std::optional<int64_t> target;
      if (args.contains("target")) {
        VSL_ASSIGN_OR_RETURN(int64_t t, IntArg(args, "target"));
        target = t;
      }
      VSL_ASSIGN_OR_RETURN(bool read_only, BoolArg(args, "read_only"));
      VSL_RETURN_IF_ERROR(Bind(unit, host, lun, target, actor, read_only));
    } else if (op == "map") {
      VSL_RETURN_IF_ERROR(Map(unit, OptString(args, "host"), actor));
    } else if (op == "unmap") {
      VSL_RETURN_IF_ERROR(Unmap(unit, OptString(args, "host"), actor));
    } else if (op == "unbind") {
      VSL_RETURN_IF_ERROR(Unbind(unit, OptString(args, "host"), actor));
    } else if (op == "grow") {
      VSL_ASSIGN_OR_RETURN(uint64_t size, SizeArg(args));
      VSL_ASSIGN_OR_RETURN(catalog::Qualities qualities, QualitiesArg(args));
      VSL_ASSIGN_OR_RETURN(uint64_t now, Grow(unit, size, qualities, actor));
      VSL_ASSIGN_OR_RETURN(auto members, Resolve(unit));
      std::vector<int64_t> ids;
      for (const Member& m : members) ids.push_back(m.volume.id);
      out = {{"volume", unit}, {"size", now}, {"members", ids}};
    } else if (op == "migrate") {
      VSL_ASSIGN_OR_RETURN(catalog::Qualities qualities, QualitiesArg(args));
      if (qualities.empty()) return InvalidArgument("argument 'qualities' must name at least one quality (K=V)");
      uint64_t rate = 0;
      if (auto r = args.find("rate"); r != args.end()) {
        if (!r->is_number_unsigned()) return InvalidArgument("argument 'rate' must be a non-negative integer (bytes/s)");
        rate = r->get<uint64_t>();
      }
      VSL_ASSIGN_OR_RETURN(out, Migrate(unit, qualities, rate, actor));
    } else if (op == "scrub") {
      VSL_RETURN_IF_ERROR(Scrub(unit, actor));
    } else if (op == "free") {
      VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
        VSL_ASSIGN_OR_RETURN(auto snap, catalog::GetSnapshot(tx, unit));
        if (!snap) return Status::Ok();
        return FailedPrecondition("volume " + std::to_string(unit) + " is snapshot '" + snap->name + "' of disk " +
                                  std::to_string(snap->source_id) + "; release it (vsl disk snapshot-release " +
                                  std::to_string(unit) + ")");
      }));
      VSL_RETURN_IF_ERROR(Free(unit, actor));
    } else if (op == "flatten") {
      VSL_RETURN_IF_ERROR(Flatten(unit, actor));
    } else if (op == "cache") {
      auto c = args.find("cache");
      if (c == args.end() || !c->is_string())
        return InvalidArgument("argument 'cache' must be \"none\" or \"read\"");
      VSL_RETURN_IF_ERROR(SetCache(unit, c->get<std::string>(), actor));
      out = {{"volume", unit}, {"cache", c->get<std::string>()}};
    } else if (op == "qos") {
      auto q = args.find("qos");
      if (q == args.end() || !q->is_string()) return InvalidArgument("argument 'qos' must be a string (\"\" clears)");
      std::string text = q->get<std::string>();
      auto limits = ParseQos(text);
      if (!limits.ok()) return InvalidArgument("argument 'qos': " + limits.status().message());
      VSL_RETURN_IF_ERROR(SetQos(unit, *limits, actor));
      out = {{"volume", unit}, {"qos", FormatQos(*limits)}};
    } else {
      return InvalidArgument("unknown storage manager operation '" + op + "'");
    }
  }
  return out;
}

Result<std::vector<Operations::Member>> Operations::Resolve(Tx& tx, const Volume& unit) {
  std::vector<Volume> vols;
  if (unit.type == "meta") {
    VSL_ASSIGN_OR_RETURN(vols, catalog_->Members(tx, unit.id));
    if (vols.empty()) return Internal("meta volume " + std::to_string(unit.id) + " has no members");
  } else {
    vols.push_back(unit);
  }
  std::vector<Member> out;
  for (Volume& v : vols) {
    if (!v.array_id) return Internal("volume " + std::to_string(v.id) + " lies on no array");
    VSL_ASSIGN_OR_RETURN(catalog::ArrayRecord a, catalog_->GetArray(tx, *v.array_id));
    VSL_ASSIGN_OR_RETURN(auto arr, arrays_->Find(a.name));
    out.push_back(Member{std::move(v), std::move(arr)});
  }
  return out;
}

Result<std::vector<Operations::Member>> Operations::Resolve(int64_t unit) {
  std::vector<Member> out;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(Volume v, catalog_->GetVolume(tx, unit));
    VSL_ASSIGN_OR_RETURN(out, Resolve(tx, v));
    return Status::Ok();
  }));
  return out;
}

// ---- discovery ----

Result<DiscoveryResult> Operations::Discover(const std::optional<std::string>& name, const Actor& actor) {
  std::vector<std::shared_ptr<array::StorageArray>> arrays;
  if (name) {
    VSL_ASSIGN_OR_RETURN(auto a, arrays_->Find(*name));
    arrays.push_back(a);
  } else {
    arrays = arrays_->All();
  }
  DiscoveryResult r;
  for (auto& arr : arrays) {
    array::ArrayInfo info = arr->info();
    auto found = arr->Discover();
    if (!found.ok()) return found.status().Annotate("discovery of array '" + info.name + "'");
    array::WiringMap map;
    map.devices.push_back(array::WiredDevice{info, *found});
    std::string dwml = array::WriteDwml(map);
    DiscoveryResult one;
    Status s = catalog_->Write([&](Tx& tx) -> Status {
      one = DiscoveryResult{};
      auto rec = catalog_->GetArrayByName(tx, info.name);
      if (!rec.ok() && rec.status().code() != Code::kNotFound) return rec.status();
      if (!rec.ok()) {
        catalog::ArrayRecord a;
        a.name = info.name;
        a.driver = info.driver;
        a.capacity = info.capacity;
        a.volume_size = info.volume_size;
        a.qualities = info.qualities;
        a.config = Json{{"driver", info.driver}, {"path", info.path}}.dump();
        rec = catalog_->AddArray(tx, a);
        VSL_RETURN_IF_ERROR(rec.status());
      }
      int64_t array_id = rec->id;
      for (const std::string& p : info.ports) {
        VSL_RETURN_IF_ERROR(catalog_->UpsertPort(tx, catalog::ArrayPort{0, array_id, p, "", "", "front-end", 0})
                                .status());
      }
      std::set<std::string> seen;
      for (const array::ArrayVolume& av : *found) {
        seen.insert(av.id);
        VSL_ASSIGN_OR_RETURN(auto existing, catalog_->FindArrayVolume(tx, array_id, av.id));
        if (!existing) {
          Volume v;
          v.array_id = array_id;
          v.array_volume = av.id;
          v.size = av.size;
          v.qualities = av.qualities;
          VSL_ASSIGN_OR_RETURN(v, catalog_->InsertVolume(tx, v));
          VSL_RETURN_IF_ERROR(catalog_->AppendEvent(
              tx, catalog::Event{0, "volume", v.id, "", "free", "discover", actor.name, actor.request_id, 0,
                                 "array " + info.name + " volume " + av.id}));
          ++one.added;
        } else if (existing->vanished) {
          VSL_RETURN_IF_ERROR(catalog_->SetVolumeVanished(tx, existing->id, false));
          VSL_RETURN_IF_ERROR(catalog_->AppendEvent(
              tx, catalog::Event{0, "volume", existing->id, "", "", "reappeared", actor.name, actor.request_id, 0,
                                 "array " + info.name + " reports volume " + av.id + " again"}));
          ++one.reappeared;
        }
      }
      catalog::VolumeFilter f;
      f.array_id = array_id;
      VSL_ASSIGN_OR_RETURN(auto known, catalog_->ListVolumes(tx, f));
      for (const Volume& v : known) {
        if (v.vanished || seen.count(v.array_volume)) continue;
        VSL_RETURN_IF_ERROR(catalog_->SetVolumeVanished(tx, v.id, true));
        VSL_RETURN_IF_ERROR(catalog_->AppendEvent(
            tx, catalog::Event{0, "volume", v.id, "", "", "vanished", actor.name, actor.request_id, 0,
                               "array " + info.name + " no longer reports volume " + v.array_volume}));
        ++one.vanished;
      }
      return catalog_->SetArrayDwml(tx, array_id, dwml);
    });
    VSL_RETURN_IF_ERROR(s);
    r.arrays++;
    r.added += one.added;
    r.vanished += one.vanished;
    r.reappeared += one.reappeared;
  }
  return r;
}

// ---- allocation ----

Result<std::vector<int64_t>> Operations::Allocate(const AllocateArgs& args, const Actor& actor) {
  for (int attempt = 0;; ++attempt) {
    auto r = AllocateOnce(args, actor);
    if (r.ok() || r.status().code() != Code::kAborted || attempt >= kCasRetries) return r;
  }
}

Result<std::vector<int64_t>> Operations::AllocateOnce(const AllocateArgs& args, const Actor& actor) {
  uint64_t size = (args.size + array::kBlockSize - 1) / array::kBlockSize * array::kBlockSize;
  // Each candidate with the number of qualities it has that were not asked for.
  std::vector<std::pair<size_t, FreeVolume>> free;
  std::vector<std::pair<size_t, PoolSpace>> pools;
  std::map<int64_t, std::string> array_names;
  std::vector<int64_t> done;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    free.clear();
    pools.clear();
    done.clear();
    if (actor.request_id) {
      // A second run of the same request: what the first one took.
      catalog::VolumeFilter mine;
      mine.request_id = actor.request_id;
      VSL_ASSIGN_OR_RETURN(auto taken, catalog_->ListVolumes(tx, mine));
      std::sort(taken.begin(), taken.end(),
                [](const Volume& a, const Volume& b) { return a.member_order < b.member_order; });
      for (const Volume& v : taken) {
        if (v.type != "meta" && v.state != DiskState::kFree) done.push_back(v.id);
      }
      if (!done.empty()) return Status::Ok();
    }
    catalog::VolumeFilter f;
    f.state = DiskState::kFree;
    f.type = args.type;
    f.top_level_only = true;
    f.include_vanished = false;
    f.clean = true;
    f.enough_for = size;
    VSL_ASSIGN_OR_RETURN(auto vols, catalog_->ListVolumes(tx, f));
    for (const Volume& v : vols) {
      if (args.array_id && v.array_id != args.array_id) continue;
      if (v.clean && v.array_id && Matches(v.qualities, args.qualities)) {
        free.emplace_back(Unasked(v.qualities, args.qualities), FreeVolume{v.id, *v.array_id, v.size});
      }
    }
    if (args.type != "disk") return Status::Ok();  // pools cut plain disks only
    VSL_ASSIGN_OR_RETURN(auto arrays, catalog_->ListArrays(tx));
    for (const catalog::ArrayRecord& a : arrays) {
      array_names[a.id] = a.name;
      if (args.array_id && a.id != *args.array_id) continue;
      if (a.volume_size != 0 || !Matches(a.qualities, args.qualities) || !arrays_->Find(a.name).ok()) continue;
      VSL_ASSIGN_OR_RETURN(uint64_t in_use, catalog_->UsedBytes(tx, a.id));
      if (a.capacity > in_use) {
        pools.emplace_back(Unasked(a.qualities, args.qualities), PoolSpace{a.id, a.capacity - in_use});
      }
    }
    return Status::Ok();
  }));
  if (!done.empty()) return done;

  auto choice = ChooseSparing(free, pools, size);
  if (!choice.ok()) return choice.status().Annotate("allocate " + Describe(args));

  VolumeUpdate extra;
  extra.request_id = actor.request_id;
  extra.farm_id = args.farm_id;
  std::vector<int64_t> ids = choice->volumes;
  if (choice->cut_from) {
    VSL_ASSIGN_OR_RETURN(auto arr, arrays_->Find(array_names[*choice->cut_from]));
    auto cut = arr->CreateVolume(size);
    if (!cut.ok()) return cut.status().Annotate("allocate " + Describe(args));
    util::CrashPoint("op.allocate.cut");  // a new volume on the array, no catalog row for it
    Status s = catalog_->Write([&](Tx& tx) -> Status {
      Volume v;
      v.array_id = *choice->cut_from;
      v.array_volume = cut->id;
      v.size = cut->size;
      v.qualities = cut->qualities;
      VSL_ASSIGN_OR_RETURN(v, catalog_->InsertVolume(tx, v));
      ids = {v.id};
      return machine_.Apply(tx, v.id, DiskOp::kAllocate, actor, extra, "cut from pool " + arr->info().name)
          .status();
    });
    if (!s.ok()) {
      (void)arr->DeleteVolume(cut->id);
      return s;
    }
    return ids;
  }
  Status s = catalog_->Write([&](Tx& tx) -> Status {
    // Lock order by id, so two allocators never wait on each other in a cycle.
    std::vector<int64_t> sorted = ids;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t id : sorted) {
      VolumeUpdate u = extra;
      u.member_order = std::find(ids.begin(), ids.end(), id) - ids.begin();
      auto r = machine_.Apply(tx, id, DiskOp::kAllocate, actor, u);
      if (!r.ok() && r.status().code() == Code::kFailedPrecondition) {
        return Aborted(r.status().message());  // taken meanwhile: choose again
      }
      VSL_RETURN_IF_ERROR(r.status());
    }
    return Status::Ok();
  });
  VSL_RETURN_IF_ERROR(s);
  return ids;
}

// ---- meta volumes ----

Result<int64_t> Operations::MetaCreate(const std::vector<int64_t>& ids, const Actor& actor, bool meta_of_one) {
  std::set<int64_t> distinct(ids.begin(), ids.end());
  if (distinct.size() != ids.size()) return InvalidArgument("make-meta lists a volume twice");
  std::vector<Member> members;
  std::optional<int64_t> done;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    members.clear();
    done.reset();
    std::set<std::optional<int64_t>> parents;
    bool all_configured = true;
    for (int64_t id : ids) {
      VSL_ASSIGN_OR_RETURN(Volume v, catalog_->GetVolume(tx, id));
      if (v.type == "meta") return InvalidArgument("volume " + std::to_string(id) + " is a meta volume already");
      parents.insert(v.parent_id);
      all_configured = all_configured && v.state == DiskState::kConfigured;
      VSL_ASSIGN_OR_RETURN(auto m, Resolve(tx, v));
      members.push_back(std::move(m.front()));
    }
    // Run before (idempotence): the members are configured together.
    bool plain = ids.size() == 1 && !meta_of_one;
    if (all_configured && parents.size() == 1) {
      if (plain && !*parents.begin()) done = ids[0];
      if (!plain && *parents.begin()) {
        VSL_ASSIGN_OR_RETURN(auto existing, catalog_->Members(tx, **parents.begin()));
        if (existing.size() == ids.size()) done = **parents.begin();
      }
    }
    return Status::Ok();
  }));
  if (done) return *done;

  // The arrays confirm every member exists with the size the catalog has.
  Status failure;
  for (const Member& m : members) {
    auto got = m.array->GetVolume(m.volume.array_volume);
    if (!got.ok()) {
      failure = got.status().Annotate("make-meta: volume " + std::to_string(m.volume.id));
      break;
    }
    if (got->size < m.volume.size) {
      failure = FailedPrecondition("make-meta: volume " + std::to_string(m.volume.id) + " is " +
                                   std::to_string(got->size) + " bytes on its array, not " +
                                   std::to_string(m.volume.size));
      break;
    }
  }
  if (!failure.ok()) {
    (void)catalog_->Write([&](Tx& tx) -> Status {
      for (int64_t id : ids) {
        VSL_RETURN_IF_ERROR(machine_.ApplyFailure(tx, id, DiskOp::kMakeMeta, actor, failure.message()).status());
      }
      return Status::Ok();
    });
    return failure;
  }

  int64_t unit = ids[0];
  VSL_RETURN_IF_ERROR(catalog_->Write([&](Tx& tx) -> Status {
    if (ids.size() == 1 && !meta_of_one) return machine_.Apply(tx, unit, DiskOp::kMakeMeta, actor).status();
    Volume meta;
    meta.type = "meta";
    meta.state = DiskState::kConfigured;
    meta.clean = true;
    meta.size = 0;
    meta.request_id = actor.request_id;
    for (const Member& m : members) {
      meta.size += m.volume.size;
      meta.clean = meta.clean && m.volume.clean;
      if (!meta.farm_id) meta.farm_id = m.volume.farm_id;
    }
    VSL_ASSIGN_OR_RETURN(meta, catalog_->InsertVolume(tx, meta));
    unit = meta.id;
    std::string list;
    for (size_t i = 0; i < ids.size(); ++i) {
      VolumeUpdate u;
      u.parent_id = meta.id;
      u.member_order = static_cast<int64_t>(i);
      VSL_RETURN_IF_ERROR(machine_.Apply(tx, ids[i], DiskOp::kMakeMeta, actor, u).status());
      list += (i ? "," : "") + std::to_string(ids[i]);
    }
    return catalog_->AppendEvent(tx, catalog::Event{0, "volume", meta.id, "", "configured", "make-meta",
                                                    actor.name, actor.request_id, 0, "members " + list});
  }));
  return unit;
}

Result<int64_t> Operations::AllocateUnit(const AllocateArgs& args, const Actor& actor) {
  if (actor.request_id) {
    // A second run of the same request: the unit the first one made.
    std::optional<int64_t> made;
    VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
      catalog::VolumeFilter mine;
      mine.request_id = actor.request_id;
      mine.top_level_only = true;
      VSL_ASSIGN_OR_RETURN(auto vols, catalog_->ListVolumes(tx, mine));
      for (const Volume& v : vols) {
        if (v.state == DiskState::kConfigured) made = v.id;
      }
      return Status::Ok();
    }));
    if (made) return *made;
  }
  VSL_ASSIGN_OR_RETURN(auto ids, Allocate(args, actor));
  util::CrashPoint("op.allocate-unit.allocated");  // members Allocated by this request, no unit yet
  auto unit = MetaCreate(ids, actor, args.meta);
  if (!unit.ok()) {
    // The members are Unconfigured but were never written: give them back.
    for (int64_t id : ids) (void)FreeSingle(id, actor);
  }
  return unit;
}

Status Operations::MetaBreak(int64_t unit, const Actor& actor) {
  // The table refuses an image's master volume.
  return catalog_->Write(
      [&](Tx& tx) -> Status { return machine_.Apply(tx, unit, DiskOp::kBreakMeta, actor).status(); });
}

// ---- growth ----

Result<std::vector<volume::Extent>> Operations::Extents(const std::vector<Member>& members) {
  std::vector<volume::Extent> out;
  for (const Member& m : members) {
    auto ext = m.array->Locate(m.volume.array_volume);
    if (ext.ok()) {
      out.insert(out.end(), ext->begin(), ext->end());
    } else if (ext.status().code() != Code::kUnimplemented) {
      return ext.status().Annotate("volume " + std::to_string(m.volume.id));
    }
  }
  return out;
}

Result<uint64_t> Operations::Grow(int64_t unit, uint64_t size, const catalog::Qualities& qualities,
                                  const Actor& actor) {
  Volume v;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(v, catalog_->GetVolume(tx, unit));
    return v.type == "meta" && !v.parent_id ? machine_.Check(tx, unit, DiskOp::kGrow) : Status::Ok();
  }));
  if (v.type != "meta" || v.parent_id) {
    return FailedPrecondition("volume " + std::to_string(unit) +
                              (v.parent_id ? " is a member of meta volume " + std::to_string(*v.parent_id)
                                           : " is not a meta volume") +
                              ": only a meta volume grows in place (make it with make-meta meta=true)");
  }
  const std::string what = "grow of volume " + std::to_string(unit);
  // The mapped unit's hosts learn its extents, also on a re-run that finds
  // the catalog grown already (the first run may have died before telling).
  auto announce = [&]() -> Status {
    if (v.state != DiskState::kMapped) return Status::Ok();
    VSL_ASSIGN_OR_RETURN(auto members, Resolve(unit));
    VSL_ASSIGN_OR_RETURN(auto extents, Extents(members));
    Status s = target_->Grow(std::to_string(unit), extents);
    return s.ok() ? s : s.Annotate(what + ": the gateway did not take the new size");
  };
  if (size <= v.size) {
    VSL_RETURN_IF_ERROR(announce());
    return v.size;
  }

  AllocateArgs more;
  more.size = size - v.size;
  more.qualities = qualities;
  more.farm_id = v.farm_id;
  auto ids = Allocate(more, actor);
  if (!ids.ok()) return ids.status().Annotate(what);
  util::CrashPoint("op.grow.allocated");  // new members Allocated by this request, not yet granted
  std::vector<Member> added;
  auto give_back = [&](Status s) {
    (void)RevokeAll(added);
    for (int64_t id : *ids) (void)FreeSingle(id, actor);
    return s.Annotate(what);
  };
  for (int64_t id : *ids) {
    auto m = Resolve(id);
    if (!m.ok()) return give_back(m.status());
    added.insert(added.end(), m->begin(), m->end());
  }
  // A bound unit is reachable by the gateway; so must its new members be.
  if (v.state != DiskState::kConfigured) {
    for (const Member& m : added) {
      Status s = m.array->Grant(m.volume.array_volume, gateway_initiator_);
      if (!s.ok()) return give_back(s);
    }
  }
  util::CrashPoint("op.grow.granted");  // new members allocated and granted, not yet in the unit
  uint64_t grown = 0;
  Status s = catalog_->Write([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(Volume now, catalog_->GetVolume(tx, unit));
    if (now.state != v.state) {
      return Aborted("volume " + std::to_string(unit) + " moved from " +
                     std::string(catalog::DiskStateName(v.state)) + " to " +
                     std::string(catalog::DiskStateName(now.state)) + " during the grow");
    }
    VSL_ASSIGN_OR_RETURN(auto members, catalog_->Members(tx, unit));
    int64_t order = static_cast<int64_t>(members.size());
    grown = now.size;
    for (const Member& m : added) {
      VolumeUpdate u;
      u.parent_id = unit;
      u.member_order = order++;
      u.clean = false;
      VSL_RETURN_IF_ERROR(catalog_->CasVolume(tx, m.volume.id, DiskState::kAllocated, now.state, u, "grow", actor,
                                              "member " + std::to_string(u.member_order.value_or(0)) +
                                                  " of volume " + std::to_string(unit)));
      grown += m.volume.size;
    }
    VolumeUpdate u;
    u.size = grown;
    return machine_
        .Apply(tx, unit, DiskOp::kGrow, actor, u,
               "from " + std::to_string(now.size) + " to " + std::to_string(grown) + " bytes")
        .status();
  });
  if (!s.ok()) return give_back(s);
  util::CrashPoint("op.grow.recorded");  // the catalog has the new size, the gateway not yet
  VSL_RETURN_IF_ERROR(announce());
  return grown;
}

}  // namespace vsl::manager
