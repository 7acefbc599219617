#include "catalog/backup_schedules.h"

#include <ctime>

namespace vsl::catalog {

namespace {

constexpr int64_t kHourMs = int64_t{3600} * 1000;
constexpr int64_t kDayMs = 24 * kHourMs;
constexpr int64_t kMinuteMs = 60 * 1000;

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

int64_t PeriodOrDay(const std::string& name) { return name == "hourly" ? kHourMs : kDayMs; }

bool Digits(const std::string& s) {
  if (s.empty() || s.size() > 2) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

Result<int64_t> SchedulePeriodMs(const std::string& name) {
  if (name == "nightly") return kDayMs;
  if (name == "hourly") return kHourMs;
  return InvalidArgument("unknown schedule '" + name + "'; expected nightly or hourly");
}

int64_t LatestSlotMs(const BackupSchedule& s, int64_t now_ms) {
  int64_t period = PeriodOrDay(s.name);
  int64_t offset = s.minute * kMinuteMs;
  return offset + FloorDiv(now_ms - offset, period) * period;
}

int64_t NextSlotMs(const BackupSchedule& s, int64_t now_ms) { return LatestSlotMs(s, now_ms) + PeriodOrDay(s.name); }

Result<int64_t> ParseScheduleAt(const std::string& name, const std::string& at) {
  VSL_RETURN_IF_ERROR(SchedulePeriodMs(name).status());
  size_t colon = at.find(':');
  std::string hh = colon == std::string::npos ? "" : at.substr(0, colon);
  std::string mm = colon == std::string::npos ? "" : at.substr(colon + 1);
  if (name == "hourly") {
    if (colon != 0 || !Digits(mm) || std::stoi(mm) > 59) {
      return InvalidArgument("hourly --at '" + at + "': expected :MM, the minute past each hour (:00 to :59)");
    }
    return int64_t{std::stoi(mm)};
  }
  if (colon == std::string::npos || !Digits(hh) || !Digits(mm) || mm.size() != 2 || std::stoi(hh) > 23 ||
      std::stoi(mm) > 59) {
    return InvalidArgument("nightly --at '" + at + "': expected HH:MM, a time of day in UTC (00:00 to 23:59)");
  }
  return int64_t{std::stoi(hh) * 60 + std::stoi(mm)};
}

std::string FormatScheduleAt(const BackupSchedule& s) {
  char buf[16];
  if (s.name == "hourly") {
    snprintf(buf, sizeof buf, ":%02d", static_cast<int>(s.minute % 60));
  } else {
    snprintf(buf, sizeof buf, "%02d:%02d", static_cast<int>(s.minute / 60), static_cast<int>(s.minute % 60));
  }
  return buf;
}

std::string FormatUtc(int64_t ms) {
  time_t t = static_cast<time_t>(FloorDiv(ms, 1000));
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<int64_t> ParseUtc(const std::string& text) {
  struct tm tm {};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end == nullptr || *end != '\0') {
    return InvalidArgument("time '" + text + "': expected YYYY-MM-DDTHH:MM:SSZ (UTC)");
  }
  return int64_t{timegm(&tm)} * 1000;
}

Result<std::vector<BackupSchedule>> ListSchedules(Tx& tx) {
  VSL_ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT name, minute, keep, updated_ms FROM backup_schedules"));
  std::vector<BackupSchedule> out;
  for (const std::string& name : ScheduleNames()) {
    for (const Row& r : rows) {
      if (r.Text(0) == name) out.push_back({r.Text(0), r.Int(1), r.Int(2), r.Int(3)});
    }
  }
  return out;
}

Result<BackupSchedule> GetSchedule(Tx& tx, const std::string& name) {
  VSL_ASSIGN_OR_RETURN(auto row,
                       tx.QueryOne("SELECT name, minute, keep, updated_ms FROM backup_schedules WHERE name = ?", {name}));
  if (!row) return NotFound("no backup schedule '" + name + "'; there are nightly and hourly");
  return BackupSchedule{row->Text(0), row->Int(1), row->Int(2), row->Int(3)};
}

Status SetSchedule(Tx& tx, const std::string& name, std::optional<int64_t> minute, std::optional<int64_t> keep,
                   int64_t now_ms) {
  VSL_ASSIGN_OR_RETURN(BackupSchedule s, GetSchedule(tx, name));
  if (minute) s.minute = *minute;
  if (keep) s.keep = *keep;
  return tx
      .Exec("UPDATE backup_schedules SET minute = ?, keep = ?, updated_ms = ? WHERE name = ?",
            {s.minute, s.keep, now_ms, name})
      .status();
}

Result<bool> ClaimSlot(Tx& tx, const SlotClaim& c) {
  VSL_ASSIGN_OR_RETURN(int64_t n, tx.Exec("INSERT INTO backup_slots (volume_id, level, slot_ms, schedule, run_level, "
                                          "request_id, claimed_ms) VALUES (?, ?, ?, ?, ?, ?, ?) "
                                          "ON CONFLICT (volume_id, level, slot_ms) DO NOTHING",
                                          {c.volume_id, int64_t{c.level}, c.slot_ms, c.schedule, int64_t{c.run_level},
                                           c.request_id, c.claimed_ms}));
  return n == 1;
}

Result<bool> SlotClaimed(Tx& tx, int64_t volume_id, int level, int64_t slot_ms) {
  VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT COUNT(*) FROM backup_slots WHERE volume_id = ? AND level = ? "
                                             "AND slot_ms = ?",
                                             {volume_id, int64_t{level}, slot_ms}));
  return row && row->Int(0) > 0;
}

Result<bool> AnySlotClaimed(Tx& tx, int64_t volume_id, int level) {
  VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT COUNT(*) FROM backup_slots WHERE volume_id = ? AND level = ?",
                                             {volume_id, int64_t{level}}));
  return row && row->Int(0) > 0;
}

Result<std::vector<SlotClaim>> ListSlotClaims(Tx& tx, int64_t volume_id, int64_t limit) {
  std::string sql =
      "SELECT volume_id, level, slot_ms, schedule, run_level, request_id, claimed_ms FROM backup_slots";
  std::vector<Value> params;
  if (volume_id != 0) {
    sql += " WHERE volume_id = ?";
    params.emplace_back(volume_id);
  }
  sql += " ORDER BY slot_ms DESC, volume_id, level LIMIT ?";
  params.emplace_back(limit);
  VSL_ASSIGN_OR_RETURN(Rows rows, tx.Query(sql, params));
  std::vector<SlotClaim> out;
  for (const Row& r : rows) {
    out.push_back({r.Int(0), static_cast<int>(r.Int(1)), r.Int(2), r.Text(3), static_cast<int>(r.Int(4)), r.Int(5),
                   r.Int(6)});
  }
  return out;
}

}  // namespace vsl::catalog
