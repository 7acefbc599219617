// The backup schedules of issue 10 (table backup_schedules, and the slots a
// scheduler claimed, table backup_slots): when the named policies
// `nightly` and `hourly` run, how many full backups of a disk they keep,
// and which (disk, policy level, slot) already has its backup queued.
//
// Time is UTC. A schedule's slots are the instants
//   nightly: every day at `minute` minutes past midnight (02:00 = 120),
//   hourly:  every hour at `minute` minutes past the hour (:15 = 15).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "catalog/db.h"
#include "util/status.h"

namespace vsl::catalog {

struct BackupSchedule {
  std::string name;  // "nightly" | "hourly"
  int64_t minute = 0;
  int64_t keep = 0;  // full backups kept per disk; 0: all
  int64_t updated_ms = 0;
};

// The schedules vsl knows, in this order.
inline const std::vector<std::string>& ScheduleNames() {
  static const std::vector<std::string> kNames = {"nightly", "hourly"};
  return kNames;
}

// ---- slot arithmetic (pure) ----
// The period of a schedule in ms (a day or an hour); InvalidArgument for
// an unknown name.
Result<int64_t> SchedulePeriodMs(const std::string& name);
// The latest slot of `s` at or before `now_ms` (ms since the epoch).
int64_t LatestSlotMs(const BackupSchedule& s, int64_t now_ms);
// The first slot of `s` after `now_ms`.
int64_t NextSlotMs(const BackupSchedule& s, int64_t now_ms);
// "02:00" (nightly) or ":15" (hourly) -> minute; InvalidArgument naming
// the form expected.
Result<int64_t> ParseScheduleAt(const std::string& name, const std::string& at);
// The inverse: "02:00" or ":15".
std::string FormatScheduleAt(const BackupSchedule& s);
// "2026-11-30T02:00:00Z".
std::string FormatUtc(int64_t ms);
// The inverse (whole seconds, UTC, the Z required); InvalidArgument otherwise.
Result<int64_t> ParseUtc(const std::string& text);

// ---- the tables ----
Result<std::vector<BackupSchedule>> ListSchedules(Tx& tx);
Result<BackupSchedule> GetSchedule(Tx& tx, const std::string& name);
// Changes what is given; NotFound for an unknown name.
Status SetSchedule(Tx& tx, const std::string& name, std::optional<int64_t> minute, std::optional<int64_t> keep,
                   int64_t now_ms);

struct SlotClaim {
  int64_t volume_id = 0;
  int level = 0;        // the policy's level
  int64_t slot_ms = 0;
  std::string schedule;
  int run_level = 0;    // what the request runs
  int64_t request_id = 0;  // 0: a baseline (the policy's first sight; nothing ran)
  int64_t claimed_ms = 0;
};
// Inserts the claim; false (and nothing changed) when that (volume, level,
// slot) was claimed before, by anyone.
Result<bool> ClaimSlot(Tx& tx, const SlotClaim& c);
Result<bool> SlotClaimed(Tx& tx, int64_t volume_id, int level, int64_t slot_ms);
// Whether any slot of that level of the disk was ever claimed.
Result<bool> AnySlotClaimed(Tx& tx, int64_t volume_id, int level);
// Newest slot first; every disk's when volume_id is 0.
Result<std::vector<SlotClaim>> ListSlotClaims(Tx& tx, int64_t volume_id = 0, int64_t limit = 1000);

}  // namespace vsl::catalog
