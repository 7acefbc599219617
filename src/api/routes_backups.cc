// /v1/backups: the backups `vsl serve --backup-dir` runs (manager/backup_ops.h),
// and /v1/backups/schedules: when the policies run (catalog/backup_schedules.h).
// Running a backup and restoring one are queued requests (ops "backup" and
// "backup-restore"); listing reads the catalog; show, verify and delete
// read or change the store directly.
#include "api/auth.h"
#include "api/routes.h"
#include "catalog/backup_schedules.h"
#include "catalog/backups.h"
#include "catalog/catalog.h"
#include "manager/backup_ops.h"
#include "manager/storage_manager.h"

namespace vsl::api {
namespace {

Status NeedStore(ApiContext& ctx) {
  if (ctx.backups == nullptr) return FailedPrecondition("no backup store: start vsl serve with --backup-dir DIR");
  return Status::Ok();
}

Json BackupJson(const catalog::BackupRecord& b) {
  return Json{{"id", b.id},
              {"volume", b.volume_id ? Json(*b.volume_id) : Json(nullptr)},
              {"disk", b.disk},
              {"farm", b.farm},
              {"server", b.server},
              {"level", b.level},
              {"parent", b.parent.empty() ? Json(nullptr) : Json(b.parent)},
              {"state", b.state},
              {"mode", b.mode},
              {"bytes_stored", b.bytes_stored},
              {"disk_size", b.disk_size},
              {"request", b.request_id},
              {"started_ms", b.started_ms},
              {"finished_ms", b.finished_ms},
              {"error", b.error}};
}

// Ids are the store's (20261130T034500Z-1a2b3c4d): letters, digits, '-'.
Status CheckId(const std::string& id) {
  if (id.empty() || id.size() > 64) return InvalidArgument("backup id: must be 1-64 characters");
  for (char c : id) {
    if (!isalnum(static_cast<unsigned char>(c)) && c != '-') {
      return InvalidArgument("backup id '" + id + "': only letters, digits and '-'");
    }
  }
  return Status::Ok();
}

// Never two backups of one disk at once: one queued or running refuses the next.
Status NoBackupPending(ApiContext& ctx, int64_t volume) {
  for (auto state : {catalog::RequestState::kQueued, catalog::RequestState::kRunning}) {
    catalog::RequestFilter f;
    f.state = state;
    f.op = "backup";
    VSL_ASSIGN_OR_RETURN(auto reqs, ctx.manager->List(f));
    for (const auto& r : reqs) {
      Json a = Json::parse(r.args, nullptr, false);
      if (a.is_object() && a.value("volume", int64_t{0}) == volume) {
        return FailedPrecondition("disk " + std::to_string(volume) + " already has a backup " +
                                  std::string(catalog::RequestStateName(state)) + " (request " +
                                  std::to_string(r.id) + "); wait for it to finish");
      }
    }
  }
  return Status::Ok();
}

// A tenant's backups: those of disks in its farms, taken under its farm's
// name. NotFound (as for a backup the catalog does not know) otherwise.
Status CheckBackupVisible(ApiContext& ctx, catalog::Tx& tx, const Principal& p, const TenantFarms& mine,
                          const catalog::BackupRecord& b) {
  if (p.admin()) return Status::Ok();
  Status gone = NotFound("backup " + b.id + " is not in the catalog");
  if (!b.volume_id || mine.names.count(b.farm) == 0) return gone;
  auto v = ctx.catalog->GetVolume(tx, *b.volume_id);
  if (!v.ok() || !mine.Has(v->farm_id)) return gone;
  return Status::Ok();
}

// The backup's catalog row, if `p` may see it. A tenant needs the row; the
// admin may name a backup only the store knows (nullopt then).
Result<std::optional<catalog::BackupRecord>> VisibleBackup(ApiContext& ctx, const Principal& p,
                                                           const std::string& id) {
  std::optional<catalog::BackupRecord> row;
  VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(row, catalog::GetBackup(tx, id));
    if (p.admin()) return Status::Ok();
    if (!row) return NotFound("backup " + id + " is not in the catalog");
    VSL_ASSIGN_OR_RETURN(TenantFarms mine, FarmsOf(tx, p));
    return CheckBackupVisible(ctx, tx, p, mine, *row);
  }));
  return row;
}

Status ListRoute(ApiContext& ctx, const Principal& p, const httplib::Request& req, httplib::Response& res) {
  catalog::BackupFilter f;
  if (auto farm = QueryParam(req, "farm")) f.farm = *farm;
  if (auto disk = QueryParam(req, "disk")) {
    VSL_ASSIGN_OR_RETURN(int64_t v, PathId(*disk, "disk"));
    f.volume_id = v;
  }
  if (auto state = QueryParam(req, "state")) f.state = *state;
  Json list = Json::array();
  VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(auto rows, catalog::ListBackups(tx, f));
    VSL_ASSIGN_OR_RETURN(TenantFarms mine, FarmsOf(tx, p));
    for (const auto& b : rows) {
      if (CheckBackupVisible(ctx, tx, p, mine, b).ok()) list.push_back(BackupJson(b));
    }
    return Status::Ok();
  }));
  ReplyJson(res, {{"backups", list}});
  return Status::Ok();
}

Status ShowRoute(ApiContext& ctx, const Principal& p, const httplib::Request& req, httplib::Response& res) {
  std::string id = req.matches[1];
  VSL_RETURN_IF_ERROR(CheckId(id));
  VSL_ASSIGN_OR_RETURN(auto row, VisibleBackup(ctx, p, id));
  if (!row) return NotFound("backup " + id + " is not in the catalog");
  Json out = BackupJson(*row);
  if (ctx.backups != nullptr && out["state"] == "complete") {
    auto m = ctx.backups->store().Show(id);
    if (m.ok()) {
      out["manifest"] = Json{{"created", m->header.created},
                             {"chunk_size", m->header.chunk_size},
                             {"extents", m->trailer.extents},
                             {"zero_extents", m->zero_extents},
                             {"data_size", m->trailer.data_size}};
    } else {
      out["manifest_error"] = m.status().ToString();
    }
  }
  ReplyJson(res, out);
  return Status::Ok();
}

Status RunRoute(ApiContext& ctx, const Principal& p, const httplib::Request& req, httplib::Response& res) {
  VSL_RETURN_IF_ERROR(NeedStore(ctx));
  VSL_ASSIGN_OR_RETURN(Json body, ParseBody(req));
  VSL_RETURN_IF_ERROR(OnlyFields(body, {"volume", "level"}));
  VSL_ASSIGN_OR_RETURN(int64_t volume, RequiredInt(body, "volume"));
  if (volume <= 0) return InvalidArgument("field 'volume': must be a positive volume id");
  VSL_ASSIGN_OR_RETURN(auto level, OptionalInt(body, "level"));
  if (level && *level != 0 && *level != 1) return InvalidArgument("field 'level': must be 0 or 1");
  VSL_RETURN_IF_ERROR(
      ctx.catalog->Read([&](catalog::Tx& tx) { return VisibleVolume(*ctx.catalog, tx, p, volume).status(); }));
  VSL_RETURN_IF_ERROR(NoBackupPending(ctx, volume));
  Json args{{"volume", volume}, {"level", level.value_or(0)}};
  return SubmitAndReply(ctx, req, res, "backup", args, p.actor());
}

Status RestoreRoute(ApiContext& ctx, const Principal& p, const httplib::Request& req, httplib::Response& res) {
  VSL_RETURN_IF_ERROR(NeedStore(ctx));
  std::string id = req.matches[1];
  VSL_RETURN_IF_ERROR(CheckId(id));
  VSL_RETURN_IF_ERROR(VisibleBackup(ctx, p, id).status());
  VSL_ASSIGN_OR_RETURN(Json body, ParseBody(req));
  VSL_RETURN_IF_ERROR(OnlyFields(body, {"new", "volume", "force", "map_to", "lun", "farm"}));
  VSL_ASSIGN_OR_RETURN(auto is_new, OptionalBool(body, "new"));
  VSL_ASSIGN_OR_RETURN(auto volume, OptionalInt(body, "volume"));
  VSL_ASSIGN_OR_RETURN(auto force, OptionalBool(body, "force"));
  VSL_ASSIGN_OR_RETURN(auto map_to, OptionalString(body, "map_to"));
  VSL_ASSIGN_OR_RETURN(auto lun, OptionalInt(body, "lun"));
  VSL_ASSIGN_OR_RETURN(auto farm, OptionalInt(body, "farm"));
  if (is_new.value_or(false) == volume.has_value()) {
    return InvalidArgument("give exactly one of 'new': true (a new disk) and 'volume' (overwrite that disk)");
  }
  if (map_to && !is_new.value_or(false)) return InvalidArgument("field 'map_to': only with 'new': true");
  if (lun && !map_to) return InvalidArgument("field 'lun': only with 'map_to'");
  if (!p.admin()) {
    // Everything the restore touches is the tenant's; a new disk must join
    // one of its farms, or the tenant could not see it.
    if (is_new.value_or(false) && !farm) return InvalidArgument("field 'farm': a tenant's new disk needs its farm's id");
    VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
      if (volume) VSL_RETURN_IF_ERROR(VisibleVolume(*ctx.catalog, tx, p, *volume).status());
      if (farm) VSL_RETURN_IF_ERROR(CheckFarmVisible(tx, p, *farm, std::to_string(*farm)));
      if (map_to) VSL_RETURN_IF_ERROR(VisibleHost(*ctx.catalog, tx, p, *map_to).status());
      return Status::Ok();
    }));
  }
  // The backup must be in the store now (a queued restore of nothing helps no one).
  VSL_RETURN_IF_ERROR(ctx.backups->store().Show(id).status());
  Json args{{"backup", id}};
  if (volume) args["volume"] = *volume;
  if (is_new) args["new"] = *is_new;
  if (force) args["force"] = *force;
  if (map_to) args["map_to"] = *map_to;
  if (lun) args["lun"] = *lun;
  if (farm) args["farm"] = *farm;
  return SubmitAndReply(ctx, req, res, "backup-restore", args, p.actor());
}

Status VerifyRoute(ApiContext& ctx, const Principal& p, const httplib::Request& req, httplib::Response& res) {
  VSL_RETURN_IF_ERROR(NeedStore(ctx));
  std::string id = req.matches[1];
  VSL_RETURN_IF_ERROR(CheckId(id));
  VSL_RETURN_IF_ERROR(VisibleBackup(ctx, p, id).status());
  VSL_ASSIGN_OR_RETURN(auto report, ctx.backups->store().Verify(id));
  Json failures = Json::array();
  for (const auto& f : report.failures) {
    failures.push_back(Json{{"backup", f.backup}, {"offset", f.offset}, {"length", f.length}, {"what", f.what}});
  }
  ReplyJson(res, {{"backup", id},
                  {"ok", report.ok()},
                  {"chain", report.chain},
                  {"extents_checked", report.extents_checked},
                  {"bytes_checked", report.bytes_checked},
                  {"failure_count", report.failure_count},
                  {"failures", failures}});
  return Status::Ok();
}

Status DeleteRoute(ApiContext& ctx, const Principal& p, const httplib::Request& req, httplib::Response& res) {
  VSL_RETURN_IF_ERROR(NeedStore(ctx));
  std::string id = req.matches[1];
  VSL_RETURN_IF_ERROR(CheckId(id));
  bool with_descendants = QueryParam(req, "descendants").value_or("") == "true";
  // A tenant deletes a backup of its own; descendants are of the same disk.
  VSL_ASSIGN_OR_RETURN(std::optional<catalog::BackupRecord> row, VisibleBackup(ctx, p, id));
  if (row && row->state == "running") return FailedPrecondition("backup " + id + " is still running");
  std::vector<std::string> deleted;
  auto gone = ctx.backups->store().Delete(id, with_descendants);
  if (gone.ok()) {
    deleted = *gone;
  } else if (gone.status().code() != Code::kNotFound || !row) {
    return gone.status();
  } else {
    deleted = {id};  // a failed backup: only the catalog knows it
  }
  VSL_RETURN_IF_ERROR(ctx.catalog->Write([&](catalog::Tx& tx) -> Status {
    for (const auto& d : deleted) VSL_RETURN_IF_ERROR(catalog::DeleteBackupRow(tx, d));
    return Status::Ok();
  }));
  ReplyJson(res, {{"deleted", deleted}});
  return Status::Ok();
}

Json ScheduleJson(const catalog::BackupSchedule& sc, int64_t now_ms) {
  int64_t next = catalog::NextSlotMs(sc, now_ms);
  return Json{{"name", sc.name},
              {"at", catalog::FormatScheduleAt(sc)},
              {"minute", sc.minute},
              {"keep", sc.keep},
              {"next", catalog::FormatUtc(next)},
              {"next_ms", next},
              {"updated_ms", sc.updated_ms}};
}

int64_t ScheduleNow(ApiContext& ctx) {
  return ctx.schedule_clock != nullptr ? ctx.schedule_clock->NowMs() : ctx.catalog->NowMs();
}

Status ListSchedulesRoute(ApiContext& ctx, const httplib::Request&, httplib::Response& res) {
  int64_t now = ScheduleNow(ctx);
  Json list = Json::array();
  VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(auto all, catalog::ListSchedules(tx));
    for (const auto& sc : all) list.push_back(ScheduleJson(sc, now));
    return Status::Ok();
  }));
  ReplyJson(res, {{"schedules", list}, {"now", catalog::FormatUtc(now)}});
  return Status::Ok();
}

// PUT /v1/backups/schedules/NAME {"at": "02:00" | ":15", "keep": N}.
Status SetScheduleRoute(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  std::string name = req.matches[1];
  VSL_RETURN_IF_ERROR(catalog::SchedulePeriodMs(name).status());
  VSL_ASSIGN_OR_RETURN(Json body, ParseBody(req));
  VSL_RETURN_IF_ERROR(OnlyFields(body, {"at", "keep"}));
  VSL_ASSIGN_OR_RETURN(auto at, OptionalString(body, "at"));
  VSL_ASSIGN_OR_RETURN(auto keep, OptionalInt(body, "keep"));
  if (!at && !keep) return InvalidArgument("give 'at' and/or 'keep'");
  std::optional<int64_t> minute;
  if (at) {
    auto m = catalog::ParseScheduleAt(name, *at);
    if (!m.ok()) return InvalidArgument("field 'at': " + m.status().message());
    minute = *m;
  }
  if (keep && (*keep < 0 || *keep > 100000)) {
    return InvalidArgument("field 'keep': full backups kept per disk, 0 (all) to 100000");
  }
  catalog::BackupSchedule out;
  VSL_RETURN_IF_ERROR(ctx.catalog->Write([&](catalog::Tx& tx) -> Status {
    VSL_RETURN_IF_ERROR(catalog::SetSchedule(tx, name, minute, keep, ctx.catalog->NowMs()));
    VSL_ASSIGN_OR_RETURN(out, catalog::GetSchedule(tx, name));
    catalog::Event e;
    e.entity = "schedule";
    e.op = "schedule-set";
    e.actor = "admin";
    e.time_ms = ctx.catalog->NowMs();
    e.detail = name + " at " + catalog::FormatScheduleAt(out) + " UTC, keep " + std::to_string(out.keep);
    return ctx.catalog->AppendEvent(tx, e);
  }));
  ReplyJson(res, ScheduleJson(out, ScheduleNow(ctx)));
  return Status::Ok();
}

// GET /v1/backups/schedules/runs[?disk=V&limit=N]: the slots the scheduler
// queued backups for, newest first, with their requests' states.
Status ListRunsRoute(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  int64_t disk = 0, limit = 100;
  if (auto d = QueryParam(req, "disk")) {
    VSL_ASSIGN_OR_RETURN(disk, PathId(*d, "disk"));
  }
  if (auto l = QueryParam(req, "limit")) {
    VSL_ASSIGN_OR_RETURN(limit, PathId(*l, "limit"));
    limit = std::min<int64_t>(limit, 10000);
  }
  Json list = Json::array();
  VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(auto claims, catalog::ListSlotClaims(tx, disk, limit));
    for (const auto& c : claims) {
      Json j{{"volume", c.volume_id},
             {"level", c.level},
             {"schedule", c.schedule},
             {"slot", catalog::FormatUtc(c.slot_ms)},
             {"slot_ms", c.slot_ms},
             {"run_level", c.run_level},
             {"request", c.request_id}};
      if (c.request_id == 0) {
        // The policy's first sight: the slot counts as past, nothing ran.
        j["request"] = nullptr;
        j["state"] = "baseline";
      } else {
        auto r = ctx.manager->queue().Get(tx, c.request_id);
        j["state"] = r.ok() ? Json(std::string(catalog::RequestStateName(r->state))) : Json(nullptr);
      }
      list.push_back(std::move(j));
    }
    return Status::Ok();
  }));
  ReplyJson(res, {{"runs", list}});
  return Status::Ok();
}

}  // namespace

void RegisterBackupRoutes(ApiContext& ctx, httplib::Server& server) {
  using P = const Principal&;
  using R = const httplib::Request&;
  using W = httplib::Response&;
  // Before /v1/backups/ID, which would take "schedules" for an id.
  server.Get("/v1/backups/schedules", Authed(ctx, [&ctx](R q, W s) { return ListSchedulesRoute(ctx, q, s); }));
  server.Get("/v1/backups/schedules/runs", Authed(ctx, [&ctx](R q, W s) { return ListRunsRoute(ctx, q, s); }));
  server.Put(R"(/v1/backups/schedules/([^/]+))", Authed(ctx, [&ctx](R q, W s) { return SetScheduleRoute(ctx, q, s); }));
  server.Get("/v1/backups", Authed(ctx, [&ctx](P p, R q, W s) { return ListRoute(ctx, p, q, s); }));
  server.Post("/v1/backups", Authed(ctx, [&ctx](P p, R q, W s) { return RunRoute(ctx, p, q, s); }));
  server.Get(R"(/v1/backups/([^/]+))", Authed(ctx, [&ctx](P p, R q, W s) { return ShowRoute(ctx, p, q, s); }));
  server.Delete(R"(/v1/backups/([^/]+))", Authed(ctx, [&ctx](P p, R q, W s) { return DeleteRoute(ctx, p, q, s); }));
  server.Post(R"(/v1/backups/([^/]+)/verify)",
              Authed(ctx, [&ctx](P p, R q, W s) { return VerifyRoute(ctx, p, q, s); }));
  server.Post(R"(/v1/backups/([^/]+)/restore)",
              Authed(ctx, [&ctx](P p, R q, W s) { return RestoreRoute(ctx, p, q, s); }));
}

}  // namespace vsl::api
