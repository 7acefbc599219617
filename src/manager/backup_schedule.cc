#include "manager/backup_schedule.h"

#include <algorithm>
#include <set>

#include "catalog/backups.h"
#include "manager/backup_ops.h"
#include "manager/storage_manager.h"
#include "util/crash_point.h"
#include "util/log.h"

namespace vsl::manager {

using catalog::BackupSchedule;
using catalog::Tx;

namespace {

std::string Num(int64_t v) { return std::to_string(v); }

const BackupSchedule* Find(const std::vector<BackupSchedule>& all, const std::string& name) {
  for (const BackupSchedule& s : all) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

// The ids of units with a request of `op` queued or running (inside the
// caller's transaction); `any` is set when there is such a request at all.
Result<std::set<int64_t>> PendingUnits(Tx& tx, const std::string& op, bool* any = nullptr) {
  VSL_ASSIGN_OR_RETURN(catalog::Rows rows,
                       tx.Query("SELECT args FROM requests WHERE op = ? AND state IN ('queued', 'running')", {op}));
  std::set<int64_t> out;
  if (any != nullptr) *any = !rows.empty();
  for (const catalog::Row& r : rows) {
    Json a = Json::parse(r.Text(0), nullptr, false);
    if (a.is_object() && a.contains("volume") && a["volume"].is_number_integer()) out.insert(a["volume"].get<int64_t>());
  }
  return out;
}

void Log(spdlog::level::level_enum level, const std::string& message, const Json& fields = Json::object()) {
  util::LogEvent(util::Logger("scheduler", util::TextStyle::kStamped), level, message, fields);
}

}  // namespace

std::optional<BackupDecision> DecideBackup(const std::vector<DiskPolicy>& policies,
                                           const std::vector<BackupSchedule>& schedules, int64_t now_ms,
                                           const std::function<bool(int, int64_t)>& claimed, bool has_backup) {
  BackupDecision d;
  d.run_level = 2;
  for (const DiskPolicy& p : policies) {
    const BackupSchedule* s = Find(schedules, p.schedule);
    if (s == nullptr) continue;
    int64_t slot = catalog::LatestSlotMs(*s, now_ms);
    if (claimed(p.level, slot)) continue;
    d.claims.push_back({p.level, p.schedule, slot});
    d.run_level = std::min(d.run_level, p.level);
  }
  if (d.claims.empty()) return std::nullopt;
  if (d.run_level > 0 && !has_backup) {
    d.run_level = 0;
    d.why = "the disk has no complete backup for a level 1 to build on";
  }
  return d;
}

std::vector<SlotDue> BaselineSlots(const std::vector<DiskPolicy>& policies,
                                   const std::vector<BackupSchedule>& schedules, int64_t now_ms,
                                   const std::function<bool(int)>& ever_claimed) {
  std::vector<SlotDue> out;
  for (const DiskPolicy& p : policies) {
    const BackupSchedule* s = Find(schedules, p.schedule);
    if (s == nullptr || ever_claimed(p.level)) continue;
    out.push_back({p.level, p.schedule, catalog::LatestSlotMs(*s, now_ms)});
  }
  return out;
}

BackupScheduler::BackupScheduler(StorageManager* manager, BackupOps* backups, catalog::Clock* clock,
                                 PolicySource source, SchedulerOptions options)
    : manager_(manager), backups_(backups), clock_(clock), source_(std::move(source)), options_(std::move(options)) {}

BackupScheduler::~BackupScheduler() { Stop(); }

Result<std::optional<BackupScheduler::Queued>> BackupScheduler::QueueDue(const ScheduledDisk& d,
                                                                        const std::vector<BackupSchedule>& schedules,
                                                                        int64_t now_ms) {
  catalog::Catalog& c = manager_->ops().catalog();
  // Most ticks find every slot claimed: a read says so without taking the
  // write lock; the write below decides again under it.
  bool anything_due = false;
  VSL_RETURN_IF_ERROR(c.Read([&](Tx& tx) -> Status {
    Status lookup;
    auto claimed = [&](int level, int64_t slot) {
      auto r = catalog::SlotClaimed(tx, d.unit, level, slot);
      if (!r.ok()) lookup = r.status();
      return !r.ok() || *r;
    };
    anything_due = DecideBackup(d.policies, schedules, now_ms, claimed, true).has_value();
    return lookup;
  }));
  std::optional<Queued> out;
  if (!anything_due) return out;
  Status s = c.Write([&](Tx& tx) -> Status {
    out.reset();
    if (tx.dialect() == catalog::Dialect::kPostgres) {
      // One scheduler at a time per disk, across processes: the pending
      // check below then sees what another one queued.
      VSL_RETURN_IF_ERROR(tx.Query("SELECT id FROM volumes WHERE id = ? FOR UPDATE", {d.unit}).status());
    }
    VSL_ASSIGN_OR_RETURN(catalog::Volume v, c.GetVolume(tx, d.unit));
    if (v.parent_id || v.state == catalog::DiskState::kFree || v.state == catalog::DiskState::kAllocated ||
        v.state == catalog::DiskState::kScrubbing) {
      return Status::Ok();  // nothing to back up (yet, or any more)
    }
    // A policy's first sight: its latest slots are the baseline, not due.
    Status lookup;
    auto ever = [&](int level) {
      auto r = catalog::AnySlotClaimed(tx, d.unit, level);
      if (!r.ok()) lookup = r.status();
      return !r.ok() || *r;
    };
    for (const SlotDue& b : BaselineSlots(d.policies, schedules, now_ms, ever)) {
      catalog::SlotClaim claim{d.unit, b.level, b.slot_ms, b.schedule, b.level, 0, c.NowMs()};
      VSL_RETURN_IF_ERROR(catalog::ClaimSlot(tx, claim).status());
    }
    VSL_RETURN_IF_ERROR(lookup);
    VSL_ASSIGN_OR_RETURN(auto pending, PendingUnits(tx, "backup"));
    if (pending.count(d.unit)) return Status::Ok();  // never two at once; the slot waits
    VSL_ASSIGN_OR_RETURN(auto latest, catalog::LatestBackup(tx, d.unit));
    auto claimed = [&](int level, int64_t slot) {
      auto r = catalog::SlotClaimed(tx, d.unit, level, slot);
      if (!r.ok()) {
        lookup = r.status();
        return true;
      }
      return *r;
    };
    auto decision = DecideBackup(d.policies, schedules, now_ms, claimed, latest.has_value());
    VSL_RETURN_IF_ERROR(lookup);
    if (!decision) return Status::Ok();
    const SlotDue& first = decision->claims.front();
    Json args{{"volume", d.unit},
              {"level", decision->run_level},
              {"schedule", first.schedule},
              {"slot", catalog::FormatUtc(first.slot_ms)}};
    Json slots = Json::array();
    for (const SlotDue& due : decision->claims) {
      slots.push_back(Json{{"level", due.level}, {"schedule", due.schedule}, {"slot", catalog::FormatUtc(due.slot_ms)}});
    }
    args["slots"] = slots;
    if (!decision->why.empty()) args["why"] = decision->why;
    VSL_ASSIGN_OR_RETURN(int64_t request, manager_->queue().Submit(tx, "backup", args.dump(), options_.actor));
    for (const SlotDue& due : decision->claims) {
      catalog::SlotClaim claim{d.unit, due.level, due.slot_ms, due.schedule, decision->run_level, request, c.NowMs()};
      VSL_ASSIGN_OR_RETURN(bool mine, catalog::ClaimSlot(tx, claim));
      if (!mine) {
        // Another scheduler was first: roll the request back with the claims.
        return Aborted("slot " + catalog::FormatUtc(due.slot_ms) + " of disk " + Num(d.unit) + " is claimed");
      }
    }
    // A kill here, before the commit, takes the claims with the request:
    // the next tick finds the slot unclaimed and queues it again.
    util::CrashPoint("backup.schedule.claimed");
    out = Queued{request, d.unit, decision->run_level, decision->claims, decision->why};
    return Status::Ok();
  });
  if (s.code() == Code::kAborted) return std::optional<Queued>();
  VSL_RETURN_IF_ERROR(s);
  return out;
}

Result<std::vector<std::string>> BackupScheduler::Prune(const ScheduledDisk& d,
                                                        const std::vector<BackupSchedule>& schedules) {
  // The keep of the disk's full-backup schedules: the largest; 0 (all) wins.
  int64_t keep = -1;
  for (const DiskPolicy& p : d.policies) {
    const BackupSchedule* s = Find(schedules, p.schedule);
    if (p.level != 0 || s == nullptr) continue;
    keep = s->keep == 0 || keep == 0 ? 0 : std::max(keep, s->keep);
  }
  std::vector<std::string> deleted;
  if (keep <= 0) return deleted;
  catalog::Catalog& c = manager_->ops().catalog();
  std::vector<catalog::BackupRecord> fulls;
  bool busy = false;
  VSL_RETURN_IF_ERROR(c.Read([&](Tx& tx) -> Status {
    bool restores = false;
    VSL_ASSIGN_OR_RETURN(auto pending, PendingUnits(tx, "backup"));
    VSL_RETURN_IF_ERROR(PendingUnits(tx, "backup-restore", &restores).status());
    busy = restores || pending.count(d.unit) > 0;
    catalog::BackupFilter f;
    f.volume_id = d.unit;
    f.state = "complete";
    VSL_ASSIGN_OR_RETURN(auto rows, catalog::ListBackups(tx, f));
    for (auto& r : rows) {
      if (r.level == 0) fulls.push_back(std::move(r));
    }
    return Status::Ok();
  }));
  if (busy || static_cast<int64_t>(fulls.size()) <= keep) return deleted;
  fulls.resize(fulls.size() - static_cast<size_t>(keep));  // oldest first: these go
  for (const catalog::BackupRecord& old : fulls) {
    std::vector<std::string> gone;
    auto r = backups_->store().Delete(old.id, /*with_descendants=*/true);
    if (r.ok()) {
      gone = *r;
    } else if (r.status().code() == Code::kNotFound) {
      gone = {old.id};  // another process deleted it from the store first
    } else {
      return r.status().Annotate("retention of disk " + Num(d.unit));
    }
    VSL_RETURN_IF_ERROR(c.Write([&](Tx& tx) -> Status {
      for (const std::string& id : gone) VSL_RETURN_IF_ERROR(catalog::DeleteBackupRow(tx, id));
      catalog::Event e;
      e.entity = "volume";
      e.entity_id = d.unit;
      e.op = "backup-retention";
      e.actor = options_.actor;
      e.time_ms = c.NowMs();
      std::string list;
      for (const std::string& id : gone) list += (list.empty() ? "" : ", ") + id;
      e.detail = "deleted " + list + " (keep " + Num(keep) + " full backups)";
      return c.AppendEvent(tx, e);
    }));
    deleted.insert(deleted.end(), gone.begin(), gone.end());
  }
  return deleted;
}

Result<BackupScheduler::TickReport> BackupScheduler::Tick() {
  std::lock_guard l(tick_mu_);
  TickReport report;
  report.now_ms = clock_->NowMs();
  std::vector<BackupSchedule> schedules;
  VSL_RETURN_IF_ERROR(manager_->ops().catalog().Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(schedules, catalog::ListSchedules(tx));
    return Status::Ok();
  }));
  VSL_ASSIGN_OR_RETURN(std::vector<ScheduledDisk> disks, source_());
  for (const ScheduledDisk& d : disks) {
    auto q = QueueDue(d, schedules, report.now_ms);
    if (!q.ok()) {
      report.errors.push_back("disk " + Num(d.unit) + ": " + q.status().ToString());
    } else if (*q) {
      // Committed: a kill from here on leaves the request queued; the
      // restarted serve's workers run it, its ticks see the slot claimed.
      util::CrashPoint("backup.schedule.queued");
      report.queued.push_back(**q);
    }
    auto pruned = Prune(d, schedules);
    if (!pruned.ok()) {
      report.errors.push_back("disk " + Num(d.unit) + ": " + pruned.status().ToString());
    } else {
      report.deleted.insert(report.deleted.end(), pruned->begin(), pruned->end());
    }
  }
  return report;
}

void BackupScheduler::Start() {
  std::lock_guard l(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void BackupScheduler::Stop() {
  {
    std::lock_guard l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BackupScheduler::Loop() {
  for (;;) {
    try {
      auto r = Tick();
      if (!r.ok()) {
        Log(spdlog::level::warn, "backup schedules: " + r.status().ToString());
      } else {
        for (const Queued& q : r->queued) {
          std::string slots;
          for (const SlotDue& s : q.slots) {
            slots += (slots.empty() ? "" : ", ") + s.schedule + " level " + Num(s.level) + " " +
                     catalog::FormatUtc(s.slot_ms);
          }
          Log(spdlog::level::info,
              "disk " + Num(q.unit) + ": level " + Num(q.run_level) + " backup queued (request " + Num(q.request) +
                  ") for " + slots,
              {{"volume", q.unit}, {"request", q.request}, {"level", q.run_level}});
        }
        for (const std::string& id : r->deleted) Log(spdlog::level::info, "retention deleted backup " + id, {{"backup", id}});
        for (const std::string& e : r->errors) Log(spdlog::level::warn, "backup schedules: " + e);
      }
    } catch (const std::exception& e) {
      Log(spdlog::level::err, std::string("backup schedules: tick failed: ") + e.what());
    }
    std::unique_lock l(mu_);
    if (cv_.wait_for(l, std::chrono::milliseconds(options_.tick_ms), [&] { return stopping_; })) return;
  }
}

}  // namespace vsl::manager
