// FarmManager: the seed's farm manager (section 2.1-2.2, FIG. 2C, FIG. 6B).
// Turns an FML farm definition into servers running from central storage,
// reconciles changes and tears farms down, through the storage manager.
//
//   FarmManager fm(catalog, manager, power);
//   VSL_RETURN_IF_ERROR(fm.Init());
//   auto plan = fm.PlanFarm(spec);            // changes nothing
//   auto done = fm.Apply(spec, text, progress);  // runs the plan
//   fm.Destroy("two-tier", progress);
//
// Apply and Destroy are reconcilers: each first brings the farm's record
// (farm_record.h) in line with what the catalog observes — units and their
// FIG. 7 states, bindings, hosts (farm_reconcile.cc) — then plans from that
// and runs the planner's actions one by one, rewriting the record after
// each. A process killed at any point therefore leaves nothing that the next
// Apply or Destroy does not finish or give back. When a step fails, the disk
// unit it was working on is undone (claims 12, 13, 19, 20: the storage
// manager moves it along FIG. 7's failure arc, then the farm manager gives it
// back to the free pool), the farm is marked "failed" with the step and the
// reason, and the next Apply completes the farm. Apply of an applied file
// plans nothing.
//
// Applies and destroys of one farm are serialized, across processes too: the
// farm's lock lives in the catalog (Catalog::LockFarm), held by this
// process's id and renewed after each step; a second process gets Aborted
// "farm 'x' is busy". Farm state changes are compare-and-swaps along
// farm_states.h's table. Different farms run side by side. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "farm/farm_record.h"
#include "farm/farm_states.h"
#include "farm/plan.h"
#include "farm/power.h"
#include "fml/fml.h"
#include "manager/storage_manager.h"

namespace vsl::farm {

// One step of an apply or destroy, as it starts ("running") and ends ("done"
// or "failed", with the reason).
struct StepProgress {
  int index = 0;  // 1-based
  int total = 0;
  std::string action;  // Action::ToString()
  std::string status;
  std::string detail;
};
using ProgressFn = std::function<void(const StepProgress&)>;

// Sets spec->name from `override` when given; InvalidArgument when the name
// the farm ends up with is unusable.
Status SetFarmName(fml::FarmSpec* spec, const std::string& override);

class FarmManager {
 public:
  // Pointers must outlive the FarmManager; `power` may be null (hosts are
  // then left as they are).
  FarmManager(catalog::Catalog* catalog, manager::StorageManager* manager, PowerController* power,
              std::string actor = "farm-manager");

  // Creates the farm_records table when missing.
  Status Init();

  // What Apply would do now, changing nothing.
  Result<FarmPlan> PlanFarm(const fml::FarmSpec& spec);
  // Plans and runs. Returns the plan that ran; the Status of the first
  // failing step otherwise (the record says what is left).
  // `tenant` is who applies (catalog/tenants.h; nullopt: the admin): a farm
  // it creates, or a destroyed farm's row it reuses, becomes its own; an
  // existing farm of another owner is refused (FailedPrecondition, the name
  // is taken) when a tenant applies; the admin may apply any farm.
  Result<FarmPlan> Apply(const fml::FarmSpec& spec, const std::string& fml_text, const ProgressFn& progress = {},
                         std::optional<int64_t> tenant = std::nullopt);
  // Every volume back to Free (unmap, unbind, scrub, break-meta), hosts
  // powered off and back to the idle pool, the farm forgotten. A tenant may
  // destroy only its own farms (NotFound for any other).
  Result<FarmPlan> Destroy(const std::string& name, const ProgressFn& progress = {},
                           std::optional<int64_t> tenant = std::nullopt);

  Result<FarmRecord> Show(const std::string& name);
  Result<std::vector<FarmRecord>> List();
  // A human-readable account of the record: servers, hosts, disks with their
  // volumes' states, backup policies, and what the last failure left.
  std::string Describe(const FarmRecord& record);

  PowerController* power() { return power_; }

 private:
  struct Run;
  std::mutex& FarmLock(const std::string& name);
  Result<std::vector<IdleHost>> Pool();
  Result<std::optional<FarmRecord>> Find(const std::string& name, catalog::Farm* farm);
  Result<FarmPlan> Execute(FarmRecord& record, const FarmPlan& plan, FarmPhase running, const ProgressFn& progress);
  // Waits for requests this farm manager queued for the farm's units (left
  // by a process that died waiting for them) to finish.
  Status WaitForFarmRequests(int64_t farm_id);
  // Brings `record` in line with the catalog (see farm_reconcile.cc). With
  // `act`, also gives back what nobody recorded and saves the record;
  // without, only `record` (a copy, for a plan) changes.
  Status Reconcile(FarmRecord& record, bool act);
  // The catalog's farm lock for this process; Unlock never fails.
  Status Lock(int64_t farm_id);
  void Unlock(int64_t farm_id);
  // Compare-and-swap of the farm row from `from` along `event`; returns the
  // new phase.
  Result<FarmPhase> MoveFarm(int64_t farm_id, FarmPhase from, FarmEvent event,
                             const std::optional<std::string>& fml);
  Status Step(FarmRecord& record, const Action& a);
  void Undo(FarmRecord& record, const Action& a, std::string* note);
  Status Save(const FarmRecord& record);
  void RefreshPower(FarmRecord& record);

  Result<int64_t> AllocateUnit(uint64_t size, const catalog::Qualities& qualities, int64_t farm_id);
  Status WriteHostName(int64_t unit, const std::string& server, const std::string& host);
  Status UndoUnit(int64_t unit, const std::optional<std::string>& host);
  Result<catalog::DiskState> UnitState(int64_t unit);
  Result<manager::Json> Call(const std::string& op, const manager::Json& args);
  void FreeLeftovers(FarmRecord& record);

  catalog::Catalog* catalog_;
  manager::StorageManager* manager_;
  PowerController* power_;
  std::string actor_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<std::mutex>> farm_locks_;  // guarded by mu_
};

// The marker a farm boot image carries in its first sector: the farm manager
// then writes "host <host> server <server>" into sector 1 after the copy, so
// each host can print who it is (tests/boot/farm_boot.S).
inline constexpr char kHostNameMarker[] = "VSL-FARM-HOSTNAME@1";

}  // namespace vsl::farm
