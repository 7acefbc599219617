// The farm manager as a reconciler: before it plans, the farm record is
// brought in line with what the catalog observes (units and their FIG. 7
// states, bindings, hosts), because a process killed between a step's
// effect and the record's write leaves the record behind the truth.
//
// What the record lacks is adopted (a binding or mapping made but not
// written down) or given back (a unit or host taken but never recorded);
// what the record claims but the catalog no longer has is forgotten, and a
// unit the catalog shows half-made or half-removed goes back to the free
// pool, for the plan to make it anew.
#include <set>

#include "farm/farm_manager.h"

namespace vsl::farm {

using VS = catalog::DiskState;
using catalog::Tx;

namespace {

struct BindingView {
  std::string host;
  int64_t lun = 0;
  bool mapped = false;
};

// One farm as the catalog sees it.
struct Observed {
  std::map<int64_t, catalog::Volume> units;  // top-level volumes of the farm
  std::map<int64_t, std::vector<BindingView>> bindings;
  std::set<std::string> hosts;  // hosts in the farm
};

// A unit in one of these states is a disk in use; any other state is a step
// cut short on the way in (allocated, failure arcs) or out (unmapped,
// unbound, scrubbing), and the unit is given back.
bool InUse(VS s) { return s == VS::kConfigured || s == VS::kBound || s == VS::kMapped; }

}  // namespace

Status FarmManager::WaitForFarmRequests(int64_t farm_id) {
  std::set<int64_t> units;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    units.clear();
    catalog::VolumeFilter f;
    f.farm_id = farm_id;
    f.top_level_only = true;
    VSL_ASSIGN_OR_RETURN(auto vols, catalog_->ListVolumes(tx, f));
    for (const catalog::Volume& v : vols) units.insert(v.id);
    return Status::Ok();
  }));
  for (catalog::RequestState state : {catalog::RequestState::kQueued, catalog::RequestState::kRunning}) {
    catalog::RequestFilter f;
    f.state = state;
    f.limit = 100000;
    VSL_ASSIGN_OR_RETURN(auto pending, manager_->List(f));
    for (const catalog::Request& r : pending) {
      if (r.actor != actor_) continue;
      manager::Json args = manager::Json::parse(r.args, nullptr, false);
      if (!args.is_object()) continue;
      bool ours = (args.contains("farm") && args["farm"] == farm_id) ||
                  (args.contains("volume") && args["volume"].is_number_integer() &&
                   units.count(args["volume"].get<int64_t>()) > 0);
      if (!ours) continue;
      // Left by a process that died while it waited for it: it is finished
      // (or rolled back) by whichever worker holds it now.
      VSL_RETURN_IF_ERROR(manager_->Wait(r.id).status());
    }
  }
  return Status::Ok();
}

Status FarmManager::Reconcile(FarmRecord& record, bool act) {
  if (record.farm_id == 0) return Status::Ok();
  if (act) VSL_RETURN_IF_ERROR(WaitForFarmRequests(record.farm_id));
  Observed seen;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    seen = Observed{};
    catalog::VolumeFilter f;
    f.farm_id = record.farm_id;
    f.top_level_only = true;
    VSL_ASSIGN_OR_RETURN(auto vols, catalog_->ListVolumes(tx, f));
    VSL_ASSIGN_OR_RETURN(auto hosts, catalog_->ListHosts(tx));
    std::map<int64_t, std::string> host_names;
    for (const catalog::Host& h : hosts) {
      host_names[h.id] = h.name;
      if (h.state == catalog::HostState::kInFarm && h.farm_id == record.farm_id) seen.hosts.insert(h.name);
    }
    for (catalog::Volume& v : vols) {
      VSL_ASSIGN_OR_RETURN(auto bs, catalog_->BindingsOfVolume(tx, v.id));
      for (const catalog::Binding& b : bs) seen.bindings[v.id].push_back({host_names[b.host_id], b.lun, b.mapped});
      seen.units[v.id] = std::move(v);
    }
    return Status::Ok();
  }));

  std::set<int64_t> known(record.leftovers.begin(), record.leftovers.end());
  auto give_back = [&](int64_t unit) {
    if (seen.units.count(unit) && known.insert(unit).second) record.leftovers.push_back(unit);
  };
  auto binding_of = [&](int64_t unit, const std::string& host) -> const BindingView* {
    for (const BindingView& b : seen.bindings[unit]) {
      if (b.host == host) return &b;
    }
    return nullptr;
  };

  // Servers whose host left the farm (a release recorded too late) go;
  // their disks, if any are left, go back to the pool.
  std::erase_if(record.servers, [&](ServerRecord& s) {
    if (seen.hosts.count(s.host)) return false;
    for (const DiskRecord& d : s.disks) give_back(d.unit);
    return true;
  });
  for (ServerRecord& s : record.servers) {
    std::erase_if(s.disks, [&](DiskRecord& d) {
      auto u = seen.units.find(d.unit);
      if (u == seen.units.end()) return true;  // freed: the record was late
      if (!InUse(u->second.state)) {
        give_back(d.unit);
        return true;
      }
      known.insert(d.unit);
      d.qos = u->second.qos;
      d.cache = u->second.cache == "read" ? "read" : "";
      const BindingView* b = binding_of(d.unit, s.host);
      d.bound = b != nullptr;
      d.mapped = b != nullptr && b->mapped;
      return false;
    });
  }
  std::set<std::string> dropped_globals;
  std::erase_if(record.global_disks, [&](GlobalDiskRecord& g) {
    auto u = seen.units.find(g.unit);
    bool keep = u != seen.units.end() && InUse(u->second.state);
    if (keep) {
      known.insert(g.unit);
      g.qos = u->second.qos;
      g.cache = u->second.cache == "read" ? "read" : "";
      return false;
    }
    if (u != seen.units.end()) give_back(g.unit);
    dropped_globals.insert(g.global_name);
    return true;
  });
  // Shared-disk mappings are whatever bindings the global disks have.
  record.shared_disks.clear();
  for (const GlobalDiskRecord& g : record.global_disks) {
    for (const BindingView& b : seen.bindings[g.unit]) {
      for (const ServerRecord& s : record.servers) {
        if (s.host == b.host) {
          record.shared_disks.push_back({s.name, g.global_name, static_cast<int>(b.lun), b.mapped});
        }
      }
    }
  }
  // Units of the farm the record never learnt of: taken by a step whose
  // record write never happened.
  for (const auto& [id, v] : seen.units) {
    if (!known.count(id)) give_back(id);
  }
  if (!act) return Status::Ok();
  FreeLeftovers(record);

  // Hosts taken for a server the record never learnt of go back to the pool.
  std::set<std::string> playing;
  for (const ServerRecord& s : record.servers) playing.insert(s.host);
  for (const std::string& host : seen.hosts) {
    if (playing.count(host)) continue;
    VSL_RETURN_IF_ERROR(catalog_->Write([&](Tx& tx) -> Status {
      VSL_ASSIGN_OR_RETURN(catalog::Host h, catalog_->GetHostByName(tx, host));
      if (h.state != catalog::HostState::kInFarm || h.farm_id != record.farm_id) return Status::Ok();
      return catalog_->CasHost(tx, h.id, catalog::HostState::kInFarm, catalog::HostState::kIdle, std::nullopt,
                               catalog::Actor{actor_, std::nullopt});
    }));
  }
  return Save(record);
}

}  // namespace vsl::farm
