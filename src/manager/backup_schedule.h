// BackupScheduler: runs the disks' backup policies on time (issue 10,
// "Schedules"). It lives in `vsl serve` beside the workers; each tick it
// reads the time through a catalog::Clock (a fake one in tests), and for
// every disk with a policy finds the latest slot of each of its schedules;
// a slot no one has claimed gets an ordinary "backup" request (durable,
// leased, with events), queued in the same transaction as the claim rows
// (catalog/backup_schedules.h), so with several `vsl serve` on one catalog
// each slot runs once. Only the latest slot counts: after downtime the
// missed slots run once, not once each. A policy seen for the first time
// claims its latest slots as a baseline (nothing runs): its first backup is
// at its next slot, as with cron, not at once. A disk with a backup queued or
// running gets none (its slot waits for the next tick). When a level 0 and
// a level 1 are due together the level 0 runs and covers both slots; a
// level 1 due on a disk with no complete backup runs as a level 0.
//
// Retention: when the schedule of a disk's level 0 keeps N (N > 0), the
// disk's complete full backups beyond the newest N are deleted with their
// incrementals, from the store and the catalog (as `vsl backup delete
// --with-descendants`), while no backup of that disk and no restore is
// pending.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "catalog/backup_schedules.h"
#include "catalog/clock.h"
#include "util/status.h"

namespace vsl::manager {

class BackupOps;
class StorageManager;

struct DiskPolicy {
  int level = 0;         // 0 or 1
  std::string schedule;  // "nightly" | "hourly"
};

// A disk (unit) whose farm asks for backups.
struct ScheduledDisk {
  int64_t unit = 0;
  std::string farm;
  std::vector<DiskPolicy> policies;
};

// What one disk's policies ask for at one instant (pure; unit tested).
struct SlotDue {
  int level = 0;
  std::string schedule;
  int64_t slot_ms = 0;
};
struct BackupDecision {
  int run_level = 0;            // the level the request runs
  std::vector<SlotDue> claims;  // every due slot it covers
  std::string why;              // set when run_level differs from the policies' lowest due level
};
// `claimed(level, slot_ms)`: whether that slot of the disk was claimed.
// `has_backup`: the disk has a complete backup (a level 1 can build on it).
// nullopt when nothing is due. Unknown schedule names are skipped.
std::optional<BackupDecision> DecideBackup(const std::vector<DiskPolicy>& policies,
                                           const std::vector<catalog::BackupSchedule>& schedules, int64_t now_ms,
                                           const std::function<bool(int, int64_t)>& claimed, bool has_backup);

// The slots a disk's policies claim as their baseline when first seen:
// the latest slot of each policy whose level was never claimed
// (`ever_claimed(level)`).
std::vector<SlotDue> BaselineSlots(const std::vector<DiskPolicy>& policies,
                                   const std::vector<catalog::BackupSchedule>& schedules, int64_t now_ms,
                                   const std::function<bool(int)>& ever_claimed);

struct SchedulerOptions {
  int64_t tick_ms = 20000;
  std::string actor = "scheduler";
};

class BackupScheduler {
 public:
  using PolicySource = std::function<Result<std::vector<ScheduledDisk>>()>;

  // All must outlive this.
  BackupScheduler(StorageManager* manager, BackupOps* backups, catalog::Clock* clock, PolicySource source,
                  SchedulerOptions options = {});
  ~BackupScheduler();

  struct Queued {
    int64_t request = 0, unit = 0;
    int run_level = 0;
    std::vector<SlotDue> slots;
    std::string why;
  };
  struct TickReport {
    int64_t now_ms = 0;
    std::vector<Queued> queued;
    std::vector<std::string> deleted;  // backups retention removed
    std::vector<std::string> errors;   // per disk; the others went on
  };
  // One pass over every disk (what the thread does each tick_ms). Ticks
  // are serialized.
  Result<TickReport> Tick();

  // The thread: a tick at once, then every tick_ms until Stop. Idempotent.
  void Start();
  void Stop();

 private:
  Result<std::optional<Queued>> QueueDue(const ScheduledDisk& d, const std::vector<catalog::BackupSchedule>& schedules,
                                         int64_t now_ms);
  Result<std::vector<std::string>> Prune(const ScheduledDisk& d, const std::vector<catalog::BackupSchedule>& schedules);
  void Loop();

  StorageManager* manager_;
  BackupOps* backups_;
  catalog::Clock* clock_;
  PolicySource source_;
  SchedulerOptions options_;
  std::mutex tick_mu_;  // one tick at a time
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace vsl::manager
