// The farm manager's steps: one planner action each, through the storage
// manager, and the undo of a failed one.
#include <algorithm>
#include <cstring>

#include "farm/farm_manager.h"
#include "farm/power_host.h"

namespace vsl::farm {

using VS = catalog::DiskState;
using catalog::Tx;
using manager::Json;

Result<Json> FarmManager::Call(const std::string& op, const Json& args) {
  return manager_->Call(op, args, actor_);
}

Result<VS> FarmManager::UnitState(int64_t unit) {
  VS state = VS::kFree;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(catalog::Volume v, catalog_->GetVolume(tx, unit));
    state = v.state;
    return Status::Ok();
  }));
  return state;
}

// Allocate + configure. A disk unit is always a meta volume, even of one
// member, so that growing it later adds members without changing the
// unit's id (which the gateway knows the logical unit by).
Result<int64_t> FarmManager::AllocateUnit(uint64_t size, const catalog::Qualities& qualities, int64_t farm_id) {
  VSL_ASSIGN_OR_RETURN(Json got, Call("allocate-unit",
                                      {{"size", size}, {"qualities", qualities}, {"farm", farm_id}, {"meta", true}}));
  return got.at("volume").get<int64_t>();
}

Status FarmManager::WriteHostName(int64_t unit, const std::string& server, const std::string& host) {
  VSL_ASSIGN_OR_RETURN(auto members, manager_->ops().Resolve(unit));
  if (members.empty() || members[0].volume.size < 1024) return Status::Ok();
  auto& m = members[0];
  std::vector<uint8_t> sector(512);
  VSL_RETURN_IF_ERROR(m.array->Read(m.volume.array_volume, 0, sector));
  std::string_view text(reinterpret_cast<const char*>(sector.data()), sector.size());
  if (text.find(kHostNameMarker) == std::string_view::npos) return Status::Ok();
  std::string line = "host " + host + " server " + server;
  std::vector<uint8_t> name(512, 0);
  std::memcpy(name.data(), line.data(), std::min<size_t>(line.size(), 255));
  return m.array->Write(m.volume.array_volume, 512, name);
}

// Takes `unit` back to Free from wherever a failure left it.
Status FarmManager::UndoUnit(int64_t unit, const std::optional<std::string>& host) {
  for (int step = 0; step < 6; ++step) {
    auto state = UnitState(unit);
    if (!state.ok()) return state.status().code() == Code::kNotFound ? Status::Ok() : state.status();
    switch (*state) {
      case VS::kFree:
        return Status::Ok();
      case VS::kMapped: {
        Json args = {{"volume", unit}};
        if (host) args["host"] = *host;
        VSL_RETURN_IF_ERROR(Call("unmap", args).status());
        break;
      }
      case VS::kBound:
      case VS::kUnmapped:
        VSL_RETURN_IF_ERROR(Call("unbind", {{"volume", unit}}).status());
        break;
      default:
        VSL_RETURN_IF_ERROR(Call("free", {{"volume", unit}}).status());
        break;
    }
  }
  return Aborted("volume " + std::to_string(unit) + " did not reach free");
}

void FarmManager::FreeLeftovers(FarmRecord& record) {
  std::vector<int64_t> left;
  for (int64_t unit : record.leftovers) {
    if (!UndoUnit(unit, std::nullopt).ok()) left.push_back(unit);
  }
  record.leftovers = left;
}

namespace {

Status Missing(const Action& a) {
  return FailedPrecondition("the farm record has no " +
                            (a.global_name.empty() ? "disk at target " + std::to_string(a.target) + " of server " + a.server
                                                   : "global disk '" + a.global_name + "'") +
                            " for: " + a.ToString());
}

}  // namespace

Status FarmManager::Step(FarmRecord& record, const Action& a) {
  const catalog::Actor actor{actor_, std::nullopt};
  DiskRecord* disk = a.global_name.empty() ? record.FindDisk(a.server, a.target) : nullptr;
  GlobalDiskRecord* global = a.global_name.empty() ? nullptr : record.FindGlobal(a.global_name);
  switch (a.kind) {
    case ActionKind::kTakeHost:
    case ActionKind::kReleaseHost: {
      bool take = a.kind == ActionKind::kTakeHost;
      VSL_RETURN_IF_ERROR(catalog_->Write([&](Tx& tx) -> Status {
        VSL_ASSIGN_OR_RETURN(catalog::Host h, catalog_->GetHostByName(tx, a.host));
        if (take) return catalog_->CasHost(tx, h.id, catalog::HostState::kIdle, catalog::HostState::kInFarm,
                                           record.farm_id, actor);
        if (h.state == catalog::HostState::kIdle) return Status::Ok();
        return catalog_->CasHost(tx, h.id, catalog::HostState::kInFarm, catalog::HostState::kIdle, std::nullopt,
                                 actor);
      }));
      if (take) {
        record.servers.push_back({a.server, a.role, a.hw, a.host, false, {}});
      } else {
        std::erase_if(record.servers, [&](const ServerRecord& s) { return s.name == a.server; });
      }
      return Status::Ok();
    }
    case ActionKind::kAllocateGlobalDisk: {
      VSL_ASSIGN_OR_RETURN(int64_t unit,
                           AllocateUnit(a.size_bytes, StorageQualities(a.drivetype, a.raid_level), record.farm_id));
      record.global_disks.push_back({a.global_name, a.drivetype, a.raid_level, a.size_bytes, unit, a.backup_policies, "", ""});
      return Status::Ok();
    }
    case ActionKind::kAllocateDisk: {
      ServerRecord* s = record.FindServer(a.server);
      if (s == nullptr) return FailedPrecondition("no server " + a.server + " for: " + a.ToString());
      VSL_ASSIGN_OR_RETURN(int64_t unit,
                           AllocateUnit(a.size_bytes, StorageQualities(a.drivetype, a.raid_level), record.farm_id));
      DiskRecord d;
      d.target = a.target;
      d.drivename = a.drivename;
      d.drivetype = a.drivetype;
      d.raid_level = a.raid_level;
      d.size_bytes = a.size_bytes;
      d.unit = unit;
      d.backup_policies = a.backup_policies;
      s->disks.push_back(std::move(d));
      return Status::Ok();
    }
    case ActionKind::kGrowDisk: {
      if (disk == nullptr && global == nullptr) return Missing(a);
      int64_t unit = disk ? disk->unit : global->unit;
      catalog::Qualities q = disk ? StorageQualities(disk->drivetype, disk->raid_level)
                                  : StorageQualities(global->drivetype, global->raid_level);
      VSL_RETURN_IF_ERROR(Call("grow", {{"volume", unit}, {"size", a.new_size_bytes}, {"qualities", q}}).status());
      if (disk) disk->size_bytes = a.new_size_bytes;
      if (global) global->size_bytes = a.new_size_bytes;
      return Status::Ok();
    }
    case ActionKind::kMigrateDisk: {
      // A global disk is one unit however many servers map it: one migrate
      // moves it under all of their LUNs at once.
      int64_t unit = disk ? disk->unit : global ? global->unit : 0;
      if (unit == 0) return Missing(a);
      VSL_RETURN_IF_ERROR(
          Call("migrate",
               {{"volume", unit}, {"qualities", StorageQualities(a.drivetype, a.raid_level)}})
              .status());
      std::string& drivetype = disk ? disk->drivetype : global->drivetype;
      std::string& raid_level = disk ? disk->raid_level : global->raid_level;
      drivetype = a.drivetype;
      raid_level = a.raid_level;
      return Status::Ok();
    }
    case ActionKind::kSetCache: {
      int64_t unit = disk ? disk->unit : global ? global->unit : 0;
      if (unit == 0) return Missing(a);
      VSL_RETURN_IF_ERROR(
          Call("cache", {{"volume", unit}, {"cache", a.cache.empty() ? "none" : a.cache}})
              .status());
      if (disk) disk->cache = a.cache;
      if (global) global->cache = a.cache;
      return Status::Ok();
    }
    case ActionKind::kSetQos: {
      int64_t unit = disk ? disk->unit : global ? global->unit : 0;
      if (unit == 0) return Missing(a);
      VSL_RETURN_IF_ERROR(Call("qos", {{"volume", unit}, {"qos", a.qos}}).status());
      if (disk) disk->qos = a.qos;
      if (global) global->qos = a.qos;
      return Status::Ok();
    }
    case ActionKind::kCopyImage: {
      if (disk == nullptr) return Missing(a);
      VSL_RETURN_IF_ERROR(Call("copy", {{"volume", disk->unit}, {"image", a.image}}).status());
      VSL_RETURN_IF_ERROR(WriteHostName(disk->unit, a.server, a.host));
      disk->image = a.image;
      return Status::Ok();
    }
    case ActionKind::kBind: {
      int64_t unit = disk ? disk->unit : global ? global->unit : 0;
      if (unit == 0) return Missing(a);
      VSL_RETURN_IF_ERROR(
          Call("bind", {{"volume", unit}, {"host", a.host}, {"lun", a.target}, {"target", a.target}}).status());
      if (disk) disk->bound = true;
      return Status::Ok();
    }
    case ActionKind::kMap:
    case ActionKind::kMapSharedDisk: {
      int64_t unit = disk ? disk->unit : global ? global->unit : 0;
      if (unit == 0) return Missing(a);
      VSL_RETURN_IF_ERROR(Call("map", {{"volume", unit}, {"host", a.host}}).status());
      if (disk) disk->mapped = true;
      if (global) {
        std::erase_if(record.shared_disks, [&](const SharedDiskMapping& m) {
          return m.server == a.server && m.global_name == a.global_name;
        });
        record.shared_disks.push_back({a.server, a.global_name, a.target, true});
      }
      return Status::Ok();
    }
    case ActionKind::kUnmap: {
      int64_t unit = disk ? disk->unit : global ? global->unit : 0;
      if (unit == 0) return Missing(a);
      VSL_RETURN_IF_ERROR(Call("unmap", {{"volume", unit}, {"host", a.host}}).status());
      if (disk) disk->mapped = false;
      if (global) {
        std::erase_if(record.shared_disks, [&](const SharedDiskMapping& m) {
          return m.server == a.server && m.global_name == a.global_name;
        });
      }
      return Status::Ok();
    }
    case ActionKind::kUnbind: {
      if (global) return Call("unbind", {{"volume", global->unit}, {"host", a.host}}).status();
      if (disk == nullptr) return Missing(a);
      VSL_RETURN_IF_ERROR(Call("unbind", {{"volume", disk->unit}}).status());
      disk->bound = false;
      return Status::Ok();
    }
    case ActionKind::kScrub: {
      int64_t unit = disk ? disk->unit : global ? global->unit : 0;
      if (unit == 0) return Missing(a);
      // A unit never bound (a global disk no server used) is Configured;
      // free scrubs it on its way back.
      VSL_ASSIGN_OR_RETURN(VS state, UnitState(unit));
      if (state == VS::kConfigured) return Status::Ok();
      return Call("scrub", {{"volume", unit}}).status();
    }
    case ActionKind::kFree: {
      int64_t unit = disk ? disk->unit : global ? global->unit : 0;
      if (unit == 0) return Missing(a);
      VSL_RETURN_IF_ERROR(Call("free", {{"volume", unit}}).status());
      if (disk) {
        ServerRecord* s = record.FindServer(a.server);
        std::erase_if(s->disks, [&](const DiskRecord& d) { return d.target == a.target; });
      } else {
        std::erase_if(record.global_disks, [&](const GlobalDiskRecord& g) { return g.global_name == a.global_name; });
      }
      return Status::Ok();
    }
    case ActionKind::kPowerOn: {
      ServerRecord* s = record.FindServer(a.server);
      if (s == nullptr) return FailedPrecondition("no server " + a.server + " for: " + a.ToString());
      if (power_ != nullptr) {
        VSL_ASSIGN_OR_RETURN(PowerHost ph, LoadPowerHost(*catalog_, s->host));
        for (const DiskRecord& d : s->disks) ph.luns.push_back(d.target);
        for (const SharedDiskMapping& m : record.shared_disks) {
          if (m.server == s->name) ph.luns.push_back(m.target);
        }
        std::sort(ph.luns.begin(), ph.luns.end());
        VSL_RETURN_IF_ERROR(power_->PowerOn(ph));
      }
      s->powered_on = true;
      return Status::Ok();
    }
    case ActionKind::kPowerOff: {
      if (power_ != nullptr) VSL_RETURN_IF_ERROR(power_->PowerOff(a.host));
      if (ServerRecord* s = record.FindServer(a.server)) s->powered_on = false;
      return Status::Ok();
    }
  }
  return Internal("unknown action kind");
}

// Undoes what the failed step's disk unit needs (claims 12, 13, 19, 20): the
// storage manager already moved it along FIG. 7's failure arc; here it goes
// back to the free pool and out of the record, so the next apply makes it
// anew. What cannot be given back now is kept in record.leftovers.
void FarmManager::Undo(FarmRecord& record, const Action& a, std::string* note) {
  switch (a.kind) {
    case ActionKind::kAllocateDisk:
    case ActionKind::kCopyImage:
    case ActionKind::kBind:
    case ActionKind::kMap: {
      if (!a.global_name.empty()) break;
      DiskRecord* d = record.FindDisk(a.server, a.target);
      if (d == nullptr) {
        *note = "nothing was allocated";
        return;
      }
      int64_t unit = d->unit;
      ServerRecord* s = record.FindServer(a.server);
      std::erase_if(s->disks, [&](const DiskRecord& x) { return x.target == a.target; });
      Status u = UndoUnit(unit, a.host);
      if (u.ok()) {
        *note = "volume " + std::to_string(unit) + " of that disk was given back to the free pool";
      } else {
        record.leftovers.push_back(unit);
        *note = "volume " + std::to_string(unit) + " could not be given back yet (" + u.message() + ")";
      }
      return;
    }
    default:
      break;
  }
  if ((a.kind == ActionKind::kBind || a.kind == ActionKind::kMapSharedDisk) && !a.global_name.empty()) {
    GlobalDiskRecord* g = record.FindGlobal(a.global_name);
    if (g == nullptr) return;
    (void)Call("unmap", {{"volume", g->unit}, {"host", a.host}});
    Status u = Call("unbind", {{"volume", g->unit}, {"host", a.host}}).status();
    auto state = UnitState(g->unit);
    if (state.ok() && *state == VS::kUnconfigured) {
      // The failure arc left the shared unit unusable: give it back, and
      // with it every server's mapping of it; the next apply makes it anew.
      int64_t unit = g->unit;
      std::erase_if(record.shared_disks, [&](const SharedDiskMapping& m) { return m.global_name == a.global_name; });
      std::erase_if(record.global_disks, [&](const GlobalDiskRecord& x) { return x.global_name == a.global_name; });
      if (!UndoUnit(unit, std::nullopt).ok()) record.leftovers.push_back(unit);
      *note = "global disk " + a.global_name + " (volume " + std::to_string(unit) + ") was given back";
      return;
    }
    *note = u.ok() ? "host " + a.host + " let go of global disk " + a.global_name
                   : "host " + a.host + " still holds global disk " + a.global_name + " (" + u.message() + ")";
  }
}

}  // namespace vsl::farm
