#include "farm/farm_manager.h"

#include <algorithm>

#include "catalog/tenants.h"
#include "util/crash_point.h"

namespace vsl::farm {

using catalog::Tx;

Status SetFarmName(fml::FarmSpec* spec, const std::string& override) {
  if (!override.empty()) spec->name = override;
  if (!fml::IsValidName(spec->name)) {
    return InvalidArgument("farm name '" + spec->name +
                           "' is unusable; expected 1 to 63 of A-Z a-z 0-9 . _ -, not starting with . or -"
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
  VSL_RETURN_IF_ERROR(Reconcile(r, false));
  RefreshPower(r);
  return Plan(spec, r.ToState(std::move(pool)));
}

// VMs do not survive a restart of `vsl serve`: a server the record says is
// on but whose VM is not running is planned to be powered on again.
void FarmManager::RefreshPower(FarmRecord& record) {
  if (power_ == nullptr || !DriverRunsVms(power_->driver())) return;
  for (ServerRecord& s : record.servers) s.powered_on = s.powered_on && power_->IsOn(s.host);
}

Status FarmManager::Save(const FarmRecord& record) {
  return catalog_->Write([&](Tx& tx) { return StoreRecord(tx, record); });
}

namespace {

// How long a farm lock lasts without renewal; renewed after every step.
constexpr int64_t kFarmHoldMs = 10 * 60 * 1000;

}  // namespace

Status FarmManager::Lock(int64_t farm_id) {
  return catalog_->Write([&](Tx& tx) {
    return catalog_->LockFarm(tx, farm_id, manager_->options().id, kFarmHoldMs, manager_->options().dead_after_ms);
  });
}

void FarmManager::Unlock(int64_t farm_id) {
  (void)catalog_->Write([&](Tx& tx) { return catalog_->UnlockFarm(tx, farm_id, manager_->options().id); });
}

Result<FarmPhase> FarmManager::MoveFarm(int64_t farm_id, FarmPhase from, FarmEvent event,
                                        const std::optional<std::string>& fml) {
  VSL_ASSIGN_OR_RETURN(FarmPhase to, NextFarmPhase(from, event));
  VSL_RETURN_IF_ERROR(catalog_->Write([&](Tx& tx) {
    return catalog_->CasFarm(tx, farm_id, std::string(FarmPhaseName(from)), std::string(FarmPhaseName(to)), fml,
                             catalog::Actor{actor_, std::nullopt});
  }));
  return to;
}

namespace {

// Lets go of the catalog's farm lock when a run ends, however it ends.
class FarmHold {
 public:
  explicit FarmHold(std::function<void()> release) : release_(std::move(release)) {}
  ~FarmHold() { release_(); }
  FarmHold(const FarmHold&) = delete;
  FarmHold& operator=(const FarmHold&) = delete;

 private:
  std::function<void()> release_;
};

}  // namespace

Result<FarmPlan> FarmManager::Apply(const fml::FarmSpec& spec, const std::string& fml_text,
                                    const ProgressFn& progress, std::optional<int64_t> tenant) {
  if (!fml::IsValidName(spec.name)) {
    fml::FarmSpec copy;
    copy.name = spec.name;
    return SetFarmName(&copy, "");
  }
  std::lock_guard<std::mutex> lock(FarmLock(spec.name));
  catalog::Farm farm;
  VSL_RETURN_IF_ERROR(Find(spec.name, &farm).status());
  bool created = false;
  if (farm.id == 0) {
    VSL_RETURN_IF_ERROR(catalog_->Write([&](Tx& tx) -> Status {
      catalog::Farm f;
      f.name = spec.name;
      f.state = std::string(FarmPhaseName(FarmPhase::kApplying));
      f.fml = fml_text;
      auto added = catalog_->AddFarm(tx, f);
      // Another process created it a moment ago: its lock decides below.
      if (added.status().code() == Code::kAlreadyExists) return Status::Ok();
      VSL_ASSIGN_OR_RETURN(farm, std::move(added));
      created = true;
      return catalog::SetFarmTenant(tx, farm.id, tenant);
    }));
  }
  if (!created) VSL_RETURN_IF_ERROR(Find(spec.name, &farm).status());
  if (farm.id == 0) return Aborted("farm '" + spec.name + "' was removed while this apply started; apply again");
  VSL_RETURN_IF_ERROR(Lock(farm.id));
  FarmHold hold([&] { Unlock(farm.id); });
  // Under the lock: the state and record as the last holder left them.
  VSL_ASSIGN_OR_RETURN(auto found, Find(spec.name, &farm));
  VSL_ASSIGN_OR_RETURN(FarmPhase phase, ParseFarmPhase(farm.state));
  VSL_RETURN_IF_ERROR(catalog_->Write([&](Tx& tx) -> Status {
    // A destroyed farm's row is reused by whoever applies the name next.
    if (phase == FarmPhase::kDestroyed) return catalog::SetFarmTenant(tx, farm.id, tenant);
    VSL_ASSIGN_OR_RETURN(auto owner, catalog::FarmTenant(tx, farm.id));
    if (tenant && owner != tenant) {
      return FailedPrecondition("farm name '" + spec.name + "' is taken: choose another name");
    }
    return Status::Ok();
  }));
  FarmRecord record = found.value_or(FarmRecord{});
  record.farm_id = farm.id;
  record.name = spec.name;
  VSL_RETURN_IF_ERROR(Reconcile(record, true));
  RefreshPower(record);
  VSL_ASSIGN_OR_RETURN(auto pool, Pool());
  auto plan = Plan(spec, record.ToState(std::move(pool)));
  if (!plan.ok()) {
    if (created) (void)catalog_->Write([&](Tx& tx) { return catalog_->RemoveFarm(tx, farm.id); });
    return plan.status();
  }
  VSL_ASSIGN_OR_RETURN(phase, MoveFarm(farm.id, phase, FarmEvent::kApply, std::nullopt));
  record.state = std::string(FarmPhaseName(phase));
  VSL_RETURN_IF_ERROR(Save(record));
  auto ran = Execute(record, *plan, phase, progress);
  if (!ran.ok()) return ran.status();
  VSL_ASSIGN_OR_RETURN(phase, MoveFarm(farm.id, phase, FarmEvent::kDone, fml_text));
  record.state = std::string(FarmPhaseName(phase));
  record.last_error.clear();
  VSL_RETURN_IF_ERROR(Save(record));
  return ran;
}

Result<FarmPlan> FarmManager::Execute(FarmRecord& record, const FarmPlan& plan, FarmPhase running,
                                      const ProgressFn& progress) {
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
      // Renewing the hold also proves nobody took the farm over meanwhile.
      if (s.ok()) s = Lock(record.farm_id);
      if (progress) progress({i + 1, total, line, s.ok() ? "done" : "failed", s.ok() ? "" : s.message()});
      if (s.ok()) continue;
      return s;
    }
    std::string note;
    Undo(record, a, &note);
    record.state = std::string(FarmPhaseName(FarmPhase::kFailed));
    record.last_error = "step " + std::to_string(i + 1) + " of " + std::to_string(total) + " (" + line +
                        ") failed: " + s.message() + (note.empty() ? "" : "; " + note) + ". " +
                        (running == FarmPhase::kDestroying ? "Destroy" : "Apply") + " again to finish the farm.";
    if (progress) progress({i + 1, total, line, "failed", s.message() + (note.empty() ? "" : "; " + note)});
    (void)Save(record);
    (void)MoveFarm(record.farm_id, running, FarmEvent::kFail, std::nullopt);
    return Status(s.code(), record.last_error);
  }
  return plan;
}

Result<FarmPlan> FarmManager::Destroy(const std::string& name, const ProgressFn& progress,
                                      std::optional<int64_t> tenant) {
  std::lock_guard<std::mutex> lock(FarmLock(name));
  catalog::Farm farm;
  VSL_RETURN_IF_ERROR(Find(name, &farm).status());
  if (farm.id == 0) return NotFound("farm '" + name + "' does not exist");
  VSL_RETURN_IF_ERROR(Lock(farm.id));
  FarmHold hold([&] { Unlock(farm.id); });
  VSL_ASSIGN_OR_RETURN(auto found, Find(name, &farm));
  if (farm.id == 0) return NotFound("farm '" + name + "' does not exist");
  if (tenant) {
    VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
      VSL_ASSIGN_OR_RETURN(auto owner, catalog::FarmTenant(tx, farm.id));
      if (owner != tenant) return NotFound("farm '" + name + "' does not exist");
      return Status::Ok();
    }));
  }
  VSL_ASSIGN_OR_RETURN(FarmPhase phase, ParseFarmPhase(farm.state));
  FarmRecord record = found.value_or(FarmRecord{});
  record.farm_id = farm.id;
  record.name = name;
  VSL_RETURN_IF_ERROR(Reconcile(record, true));
  fml::FarmSpec empty;
  empty.name = name;
  empty.version = "1.2";
  VSL_ASSIGN_OR_RETURN(FarmPlan plan, Plan(empty, record.ToState({})));
  VSL_ASSIGN_OR_RETURN(phase, MoveFarm(farm.id, phase, FarmEvent::kDestroy, std::nullopt));
  record.state = std::string(FarmPhaseName(phase));
  VSL_RETURN_IF_ERROR(Save(record));
  VSL_RETURN_IF_ERROR(Execute(record, plan, phase, progress).status());
  if (!record.leftovers.empty()) {
    record.state = std::string(FarmPhaseName(FarmPhase::kFailed));
    record.last_error = "destroy could not free volumes; destroy again";
    (void)Save(record);
    (void)MoveFarm(farm.id, phase, FarmEvent::kFail, std::nullopt);
    return Aborted(record.last_error);
  }
  // Freed volumes may still name the farm; the row then stays, marked
  // destroyed, and a new farm of that name reuses it.
  VSL_RETURN_IF_ERROR(catalog_->Write([&](Tx& tx) -> Status {
    VSL_RETURN_IF_ERROR(DeleteRecord(tx, farm.id));
    Status s = catalog_->RemoveFarm(tx, farm.id);
    if (s.ok()) return s;
    return catalog_->CasFarm(tx, farm.id, std::string(FarmPhaseName(phase)),
                             std::string(FarmPhaseName(FarmPhase::kDestroyed)), std::nullopt,
                             catalog::Actor{actor_, std::nullopt});
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
           std::to_string(g.unit) + " (" + state_of(g.unit) + ")" +
           (g.raid_level.empty() ? "" : ", raid-level " + g.raid_level) + ", backup-policy " +
           policies(g.backup_policies) + "\n";
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
