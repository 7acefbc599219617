// `vsl backup ...`: the backups `vsl serve --backup-dir` runs, through
// /v1/backups (docs/api.md). `run` and `restore` queue a request and wait
// for it unless --no-wait; the others answer at once.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/api_client.h"
#include "cli/api_commands.h"
#include "cli/commands.h"

namespace vsl::cli {
namespace {

struct Args {
  ApiOptions api;
  bool no_wait = false, is_new = false, force = false, descendants = false;
  int64_t volume = 0, level = 0, lun = -1, disk = 0, to = 0;
  std::string id, farm, map_to;
  std::string schedule, at;  // backup schedule set
  int64_t keep = -1;         // -1: unchanged
};

std::string Size(const Json& v) { return v.is_number_unsigned() || v.is_number_integer() ? HumanSize(v.get<uint64_t>()) : "-"; }

Status PrintRequestResult(const Args& a, const Json& r, const std::string& what) {
  if (a.api.json) return printf("%s\n", r.dump(2).c_str()), Status::Ok();
  if (a.no_wait) {
    printf("request %s queued (%s)\n", Cell(r["request"]["id"]).c_str(), what.c_str());
    return Status::Ok();
  }
  const Json& res = r["result"];
  if (what == "backup") {
    printf("backup %s: level %s, mode %s, %s stored of a %s disk\n", Cell(res["backup"]).c_str(),
           Cell(res["level"]).c_str(), Cell(res["mode"]).c_str(), Size(res["bytes_stored"]).c_str(),
           Size(res["disk_size"]).c_str());
    if (res.contains("mode_reason")) printf("  (%s)\n", Cell(res["mode_reason"]).c_str());
  } else {
    printf("restored backup %s onto volume %s (%s written)", Cell(res["backup"]).c_str(), Cell(res["volume"]).c_str(),
           Size(res["bytes_written"]).c_str());
    if (res.contains("mapped_to")) printf(", mapped to %s at LUN %s", Cell(res["mapped_to"]).c_str(), Cell(res["lun"]).c_str());
    if (res.value("held_writes", false)) printf("; the hosts' writes were held while it ran");
    if (res.value("hosts_told", false)) printf("; they got MEDIUM MAY HAVE CHANGED");
    printf("\n");
  }
  return Status::Ok();
}

Status Run(ApiClient& c, const Args& a) {
  Json body{{"volume", a.volume}, {"level", a.level}};
  VSL_ASSIGN_OR_RETURN(Json r, c.Post(std::string("/v1/backups") + (a.no_wait ? "" : "?wait=true"), body));
  return PrintRequestResult(a, r, "backup");
}

Status List(ApiClient& c, const Args& a) {
  std::string q;
  if (!a.farm.empty()) q += std::string(q.empty() ? "?" : "&") + "farm=" + a.farm;
  if (a.disk > 0) q += std::string(q.empty() ? "?" : "&") + "disk=" + std::to_string(a.disk);
  VSL_ASSIGN_OR_RETURN(Json r, c.Get("/v1/backups" + q));
  if (a.api.json) return printf("%s\n", r.dump(2).c_str()), Status::Ok();
  std::vector<std::vector<std::string>> rows;
  for (const Json& b : r["backups"]) {
    rows.push_back({Cell(b["id"]), Cell(b["volume"]), Cell(b["farm"]), Cell(b["server"]), Cell(b["level"]),
                    Cell(b["parent"]), Cell(b["state"]), Cell(b["mode"]), Size(b["bytes_stored"]), Cell(b["error"])});
  }
  PrintTable({"ID", "DISK", "FARM", "SERVER", "LEVEL", "PARENT", "STATE", "MODE", "STORED", "ERROR"}, rows);
  return Status::Ok();
}

Status Show(ApiClient& c, const Args& a) {
  VSL_ASSIGN_OR_RETURN(Json r, c.Get("/v1/backups/" + a.id));
  printf("%s\n", r.dump(2).c_str());
  return Status::Ok();
}

Status Verify(ApiClient& c, const Args& a) {
  VSL_ASSIGN_OR_RETURN(Json r, c.Post("/v1/backups/" + a.id + "/verify", Json::object()));
  if (a.api.json) {
    printf("%s\n", r.dump(2).c_str());
  } else if (r["ok"].get<bool>()) {
    printf("backup %s: ok (%s extents, %s checked, chain of %zu)\n", a.id.c_str(), Cell(r["extents_checked"]).c_str(),
           Size(r["bytes_checked"]).c_str(), r["chain"].size());
  } else {
    printf("backup %s: %s extent(s) FAILED\n", a.id.c_str(), Cell(r["failure_count"]).c_str());
    for (const Json& f : r["failures"]) {
      printf("  backup %s, extent at offset %s (%s bytes): %s\n", Cell(f["backup"]).c_str(), Cell(f["offset"]).c_str(),
             Cell(f["length"]).c_str(), Cell(f["what"]).c_str());
    }
  }
  if (!r["ok"].get<bool>()) return DataLoss("backup " + a.id + " failed verification");
  return Status::Ok();
}

Status Delete(ApiClient& c, const Args& a) {
  VSL_ASSIGN_OR_RETURN(Json r, c.Delete("/v1/backups/" + a.id + (a.descendants ? "?descendants=true" : "")));
  if (a.api.json) return printf("%s\n", r.dump(2).c_str()), Status::Ok();
  for (const Json& d : r["deleted"]) printf("deleted %s\n", Cell(d).c_str());
  return Status::Ok();
}

Status Restore(ApiClient& c, const Args& a) {
  if (a.is_new == (a.to > 0)) return InvalidArgument("give exactly one of --new and --to VOLUME");
  if (!a.map_to.empty() && !a.is_new) return InvalidArgument("--map-to only with --new");
  if (a.lun >= 0 && a.map_to.empty()) return InvalidArgument("--lun only with --map-to");
  Json body = Json::object();
  if (a.is_new) body["new"] = true;
  if (a.to > 0) body["volume"] = a.to;
  if (a.force) body["force"] = true;
  if (!a.map_to.empty()) {
    body["map_to"] = a.map_to;
    body["lun"] = a.lun >= 0 ? a.lun : 0;
  }
  VSL_ASSIGN_OR_RETURN(Json r, c.Post("/v1/backups/" + a.id + "/restore" + (a.no_wait ? "" : "?wait=true"), body));
  return PrintRequestResult(a, r, "restore");
}

Status ScheduleList(ApiClient& c, const Args& a) {
  VSL_ASSIGN_OR_RETURN(Json r, c.Get("/v1/backups/schedules"));
  if (a.api.json) return printf("%s\n", r.dump(2).c_str()), Status::Ok();
  std::vector<std::vector<std::string>> rows;
  for (const Json& s : r["schedules"]) {
    int64_t keep = s["keep"].get<int64_t>();
    rows.push_back({Cell(s["name"]), Cell(s["at"]) + " UTC", keep == 0 ? "all" : std::to_string(keep), Cell(s["next"])});
  }
  PrintTable({"SCHEDULE", "AT", "KEEP", "NEXT"}, rows);
  return Status::Ok();
}

Status ScheduleSet(ApiClient& c, const Args& a) {
  Json body = Json::object();
  if (!a.at.empty()) body["at"] = a.at;
  if (a.keep >= 0) body["keep"] = a.keep;
  if (body.empty()) return InvalidArgument("give --at and/or --keep");
  VSL_ASSIGN_OR_RETURN(Json r, c.Put("/v1/backups/schedules/" + a.schedule, body));
  if (a.api.json) return printf("%s\n", r.dump(2).c_str()), Status::Ok();
  int64_t keep = r["keep"].get<int64_t>();
  printf("%s at %s UTC, keeping %s full backup(s) per disk; next %s\n", Cell(r["name"]).c_str(),
         Cell(r["at"]).c_str(), keep == 0 ? "all" : std::to_string(keep).c_str(), Cell(r["next"]).c_str());
  return Status::Ok();
}

Status ScheduleRuns(ApiClient& c, const Args& a) {
  VSL_ASSIGN_OR_RETURN(Json r, c.Get("/v1/backups/schedules/runs" + (a.disk > 0 ? "?disk=" + std::to_string(a.disk) : std::string())));
  if (a.api.json) return printf("%s\n", r.dump(2).c_str()), Status::Ok();
  std::vector<std::vector<std::string>> rows;
  for (const Json& x : r["runs"]) {
    rows.push_back({Cell(x["volume"]), Cell(x["schedule"]), Cell(x["level"]), Cell(x["slot"]), Cell(x["run_level"]),
                    Cell(x["request"]), Cell(x["state"])});
  }
  PrintTable({"DISK", "SCHEDULE", "LEVEL", "SLOT", "RAN AS", "REQUEST", "STATE"}, rows);
  return Status::Ok();
}

CLI::App* Leaf(CLI::App* group, const char* name, const char* help, const std::shared_ptr<Args>& args, RunFn* run,
               std::function<Status(ApiClient&, const Args&)> fn, bool waits) {
  CLI::App* cmd = group->add_subcommand(name, help);
  AddApiOptions(cmd, &args->api);
  if (waits) cmd->add_flag("--no-wait", args->no_wait, "queue the request and print its id");
  std::string what = (group->get_name() == "backup" ? std::string("backup ") : "backup " + group->get_name() + " ") + name;
  cmd->callback([=] {
    *run = [=] { return WithClient(what, args->api, [&](ApiClient& c) { return fn(c, *args); }); };
  });
  return cmd;
}

}  // namespace

void AddBackupCommands(CLI::App& app, RunFn* run) {
  auto args = std::make_shared<Args>();
  CLI::App* g = app.add_subcommand("backup", "backups of disks (vsl serve --backup-dir; docs/backup.md)");
  g->require_subcommand(1);

  CLI::App* r = Leaf(g, "run", "back up a disk now: level 0 (all of it) or 1 (what changed since its last backup)",
                     args, run, Run, true);
  r->add_option("volume", args->volume, "the disk unit (volume id)")->required();
  r->add_option("--level", args->level, "0 or 1 (default 0)")->check(CLI::Range(0, 1));

  CLI::App* l = Leaf(g, "list", "the backups the catalog knows (complete, running, failed)", args, run, List, false);
  l->add_option("--farm", args->farm, "only this farm's");
  l->add_option("--disk", args->disk, "only this disk's (volume id)");

  Leaf(g, "show", "one backup: its catalog row and manifest", args, run, Show, false)
      ->add_option("id", args->id, "the backup id")->required();
  Leaf(g, "verify", "re-read the backup and its chain and check every extent's checksum", args, run, Verify, false)
      ->add_option("id", args->id, "the backup id")->required();
  CLI::App* d = Leaf(g, "delete", "delete a backup from the store and the catalog", args, run, Delete, false);
  d->add_option("id", args->id, "the backup id")->required();
  d->add_flag("--with-descendants", args->descendants, "also the level 1 backups that build on it");

  CLI::App* rs = Leaf(g, "restore",
                      "restore a backup: --new (a new disk with its content) or --to VOLUME (overwrites that disk)",
                      args, run, Restore, true);
  rs->add_option("id", args->id, "the backup id")->required();
  rs->add_flag("--new", args->is_new, "restore onto a new disk of the backup's size");
  rs->add_option("--to", args->to, "overwrite this disk (volume id) with the backup's content");
  rs->add_flag("--force", args->force,
               "with --to: even while the disk is mapped to a powered-on server (a mapped disk's hosts have "
               "their writes held while it runs, then get a unit attention)");
  rs->add_option("--map-to", args->map_to, "with --new: bind and map the new disk to this host");
  rs->add_option("--lun", args->lun, "with --map-to: at this LUN (default 0)");

  CLI::App* sg = g->add_subcommand("schedule", "when the farms' backup policies run (nightly, hourly; UTC) and how many "
                                                "full backups per disk they keep");
  sg->require_subcommand(1);
  Leaf(sg, "list", "the schedules: time, retention, next slot", args, run, ScheduleList, false);
  CLI::App* ss = Leaf(sg, "set", "set a schedule's time and/or retention", args, run, ScheduleSet, false);
  ss->add_option("name", args->schedule, "nightly or hourly")->required()->check(CLI::IsMember({"nightly", "hourly"}));
  ss->add_option("--at", args->at, "nightly: HH:MM (UTC, default 02:00); hourly: :MM, minutes past each hour (default :00)");
  ss->add_option("--keep", args->keep,
                 "full backups kept per disk whose level 0 runs on this schedule (older ones go with their "
                 "incrementals); 0 keeps all (the default)")
      ->check(CLI::Range(int64_t{0}, int64_t{100000}));
  Leaf(sg, "runs", "the slots the scheduler queued backups for, newest first", args, run, ScheduleRuns, false)
      ->add_option("--disk", args->disk, "only this disk's (volume id)");
}

}  // namespace vsl::cli
