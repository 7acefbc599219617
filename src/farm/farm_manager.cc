#include "farm/farm_manager.h"

#include <algorithm>

#include "util/crash_point.h"

namespace vsl::farm {

using catalog::Tx;

Status SetFarmName(fml::FarmSpec* spec, const std::string& override) {
  if (!override.empty()) spec->name = override;
  if (!fml::IsValidName(spec->name)) {
    return InvalidArgument("farm name '" + spec->name +
                           "' is unusable; expected 1 to 63 of A-Z a-z 0-9 . _ -, starting with a letter or digit"
                           " (give one with --name)");
  }
  return Status::Ok();
}

FarmManager::FarmManager(catalog::Catalog* catalog, manager::StorageManager* manager, PowerController* power,
                         std::string actor)
    : catalog_(catalog), manager_(manager), power_(power), actor_(std::move(actor)) {}

Status FarmManager::Init() { return EnsureRecordTable(*catalog_); }

std::mutex& FarmManager::FarmLock(const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  auto& m = farm_locks_[name];
  if (!m) m = std::make_unique<std::mutex>();
  return *m;
}

Result<std::vector<IdleHost>> FarmManager::Pool() {
  std::vector<IdleHost> pool;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    pool.clear();
    VSL_ASSIGN_OR_RETURN(auto hosts, catalog_->ListHosts(tx));
    for (const catalog::Host& h : hosts) {
      if (h.state == catalog::HostState::kIdle) pool.push_back({h.name, h.hw_type});
    }
    return Status::Ok();
  }));
  return pool;
}

// The farm's row and record; nullopt record (and farm->id 0) when the farm
// does not exist or was destroyed.
Result<std::optional<FarmRecord>> FarmManager::Find(const std::string& name, catalog::Farm* farm) {
  std::optional<FarmRecord> record;
  *farm = catalog::Farm{};
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    record.reset();
    auto f = catalog_->GetFarmByName(tx, name);
    if (!f.ok()) return f.status().code() == Code::kNotFound ? Status::Ok() : f.status();
    *farm = *f;
    VSL_ASSIGN_OR_RETURN(record, LoadRecord(tx, f->id));
    return Status::Ok();
  }));
  return record;
}

Result<FarmPlan> FarmManager::PlanFarm(const fml::FarmSpec& spec) {
  catalog::Farm farm;
  VSL_ASSIGN_OR_RETURN(auto record, Find(spec.name, &farm));
  VSL_ASSIGN_OR_RETURN(auto pool, Pool());
  FarmRecord r = record.value_or(FarmRecord{});
  RefreshPower(r);
  return Plan(spec, r.ToState(std::move(pool)));
}

// VMs do not survive a restart of `vsl serve`: a server the record says is
// on but whose VM is not running is planned to be powered on again.
void FarmManager::RefreshPower(FarmRecord& record) {
  if (power_ == nullptr || power_->driver() != "qemu") return;
  for (ServerRecord& s : record.servers) s.powered_on = s.powered_on && power_->IsOn(s.host);
}

Status FarmManager::Save(const FarmRecord& record) {
  return catalog_->Write([&](Tx& tx) { return StoreRecord(tx, record); });
}

Status FarmManager::SetFarmState(int64_t farm_id, const std::string& to, const std::optional<std::string>& fml) {
  return catalog_->Write([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(catalog::Farm f, catalog_->GetFarm(tx, farm_id));
    return catalog_->CasFarm(tx, farm_id, f.state, to, fml, catalog::Actor{actor_, std::nullopt});
  });
}

Result<FarmPlan> FarmManager::Apply(const fml::FarmSpec& spec, const std::string& fml_text,
                                    const ProgressFn& progress) {
  if (!fml::IsValidName(spec.name)) {
    fml::FarmSpec copy;
    copy.name = spec.name;
    return SetFarmName(&copy, "");
  }
  std::lock_guard<std::mutex> lock(FarmLock(spec.name));
  catalog::Farm farm;
  VSL_ASSIGN_OR_RETURN(auto found, Find(spec.name, &farm));
  FarmRecord record = found.value_or(FarmRecord{});
  if (!found) {
    if (farm.id == 0) {
      VSL_RETURN_IF_ERROR(catalog_->Write([&](Tx& tx) -> Status {
        catalog::Farm f;
        f.name = spec.name;
        f.state = "applying";
        f.fml = fml_text;
        VSL_ASSIGN_OR_RETURN(farm, catalog_->AddFarm(tx, f));
        return Status::Ok();
      }));
    }
    record.farm_id = farm.id;
    record.name = spec.name;
  }
  // Units an earlier failure could not give back go first, so that nothing
  // stays leaked once the fault is gone.
  FreeLeftovers(record);
  RefreshPower(record);
  VSL_ASSIGN_OR_RETURN(auto pool, Pool());
  auto plan = Plan(spec, record.ToState(std::move(pool)));
  if (!plan.ok()) {
    if (!found) {
      (void)catalog_->Write([&](Tx& tx) { return catalog_->RemoveFarm(tx, farm.id); });
    }
    return plan.status();
  }
  record.state = "applying";
  VSL_RETURN_IF_ERROR(Save(record));
  VSL_RETURN_IF_ERROR(SetFarmState(record.farm_id, "applying", std::nullopt));
  auto ran = Execute(record, *plan, progress);
  if (!ran.ok()) return ran.status();
  record.state = "ready";
  record.last_error.clear();
  VSL_RETURN_IF_ERROR(Save(record));
  VSL_RETURN_IF_ERROR(SetFarmState(record.farm_id, "ready", fml_text));
  return ran;
}

Result<FarmPlan> FarmManager::Execute(FarmRecord& record, const FarmPlan& plan, const ProgressFn& progress) {
  const int total = static_cast<int>(plan.actions.size());
  for (int i = 0; i < total; ++i) {
    const Action& a = plan.actions[i];
    std::string line = a.ToString();
    if (progress) progress({i + 1, total, line, "running", ""});
    Status s = Step(record, a);
    // A kill here leaves the step's effect in place and the record without it.
    util::CrashPoint("farm.step");
    if (s.ok()) {
      s = Save(record);
      if (progress) progress({i + 1, total, line, s.ok() ? "done" : "failed", s.ok() ? "" : s.message()});
      if (s.ok()) continue;
      return s;
    }
    std::string note;
    Undo(record, a, &note);
    record.state = "failed";
    record.last_error = "step " + std::to_string(i + 1) + " of " + std::to_string(total) + " (" + line +
                        ") failed: " + s.message() + (note.empty() ? "" : "; " + note) +
                        ". Apply again to finish the farm.";
    if (progress) progress({i + 1, total, line, "failed", s.message() + (note.empty() ? "" : "; " + note)});
    (void)Save(record);
    (void)SetFarmState(record.farm_id, "failed", std::nullopt);
    return Status(s.code(), record.last_error);
  }
  return plan;
}

Result<FarmPlan> FarmManager::Destroy(const std::string& name, const ProgressFn& progress) {
  std::lock_guard<std::mutex> lock(FarmLock(name));
  catalog::Farm farm;
  VSL_ASSIGN_OR_RETURN(auto found, Find(name, &farm));
  if (farm.id == 0) return NotFound("farm '" + name + "' does not exist");
  FarmRecord record = found.value_or(FarmRecord{});
  record.farm_id = farm.id;
  record.name = name;
  FreeLeftovers(record);
  fml::FarmSpec empty;
  empty.name = name;
  empty.version = "1.2";
  VSL_ASSIGN_OR_RETURN(FarmPlan plan, Plan(empty, record.ToState({})));
  record.state = "destroying";
  VSL_RETURN_IF_ERROR(Save(record));
  VSL_RETURN_IF_ERROR(SetFarmState(farm.id, "destroying", std::nullopt));
  VSL_RETURN_IF_ERROR(Execute(record, plan, progress).status());
  if (!record.leftovers.empty()) {
    record.state = "failed";
    record.last_error = "destroy could not free volumes; destroy again";
    (void)Save(record);
    return Aborted(record.last_error);
  }
  // Freed volumes may still name the farm; the row then stays, marked
  // destroyed, and a new farm of that name reuses it.
  VSL_RETURN_IF_ERROR(catalog_->Write([&](Tx& tx) -> Status {
    VSL_RETURN_IF_ERROR(DeleteRecord(tx, farm.id));
    Status s = catalog_->RemoveFarm(tx, farm.id);
    if (s.ok()) return s;
    VSL_ASSIGN_OR_RETURN(catalog::Farm f, catalog_->GetFarm(tx, farm.id));
    return catalog_->CasFarm(tx, farm.id, f.state, "destroyed", std::nullopt, catalog::Actor{actor_, std::nullopt});
  }));
  return plan;
}

Result<FarmRecord> FarmManager::Show(const std::string& name) {
  catalog::Farm farm;
  VSL_ASSIGN_OR_RETURN(auto found, Find(name, &farm));
  if (!found) return NotFound("farm '" + name + "' does not exist");
  return *found;
}

Result<std::vector<FarmRecord>> FarmManager::List() {
  std::vector<FarmRecord> out;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    out.clear();
    VSL_ASSIGN_OR_RETURN(auto farms, catalog_->ListFarms(tx));
    for (const catalog::Farm& f : farms) {
      VSL_ASSIGN_OR_RETURN(auto r, LoadRecord(tx, f.id));
      if (r) out.push_back(std::move(*r));
    }
    return Status::Ok();
  }));
  return out;
}

std::string FarmManager::Describe(const FarmRecord& r) {
  // "mapped, on mirror": the unit's state and the arrays its members lie on.
  auto state_of = [&](int64_t unit) -> std::string {
    auto s = UnitState(unit);
    if (!s.ok()) return "missing";
    std::string out(catalog::DiskStateName(*s));
    auto members = manager_->ops().Resolve(unit);
    if (!members.ok()) return out;
    std::vector<std::string> arrays;
    for (const auto& m : *members) {
      std::string name = m.array->info().name;
      if (std::find(arrays.begin(), arrays.end(), name) == arrays.end()) arrays.push_back(name);
    }
    for (size_t i = 0; i < arrays.size(); ++i) out += (i ? " + " : ", on ") + arrays[i];
    return out;
  };
  auto policies = [](const std::vector<std::string>& p) {
    std::string out;
    for (const std::string& s : p) out += (out.empty() ? "" : ", ") + s;
    return out.empty() ? std::string("none") : out;
  };
  std::string out = "farm " + r.name + ": " + r.state + "\n";
  if (!r.last_error.empty()) out += "  last failure: " + r.last_error + "\n";
  for (const GlobalDiskRecord& g : r.global_disks) {
    out += "  global disk " + g.global_name + ": " + fml::FormatSize(g.size_bytes) + ", volume " +
           std::to_string(g.unit) + " (" + state_of(g.unit) + "), backup-policy " + policies(g.backup_policies) +
           "\n";
  }
  for (const ServerRecord& s : r.servers) {
    out += "  server " + s.name + " (role " + s.role + ", hw " + s.hw + ") on host " + s.host + ", power " +
           (s.powered_on ? "on" : "off") + "\n";
    for (const DiskRecord& d : s.disks) {
      out += "    LUN " + std::to_string(d.target) + ": " + fml::FormatSize(d.size_bytes) +
             (d.image.empty() ? "" : ", image " + d.image) + ", volume " + std::to_string(d.unit) + " (" +
             state_of(d.unit) + ")" + (d.raid_level.empty() ? "" : ", raid-level " + d.raid_level) +
             ", backup-policy " + policies(d.backup_policies) + "\n";
    }
    for (const SharedDiskMapping& m : r.shared_disks) {
      if (m.server == s.name) {
        out += "    LUN " + std::to_string(m.target) + ": shared global disk " + m.global_name + "\n";
      }
    }
  }
  if (!r.leftovers.empty()) {
    out += "  volumes still to give back:";
    for (int64_t v : r.leftovers) out += " " + std::to_string(v);
    out += "\n";
  }
  return out;
}

}  // namespace vsl::farm
