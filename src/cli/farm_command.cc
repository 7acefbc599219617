#include "cli/farm_command.h"

#include <unistd.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "cli/api_client.h"
#include "cli/farm_body.h"

namespace vsl::cli {

namespace {

struct FarmArgs {
  ApiOptions api;
  std::string file, name, host;
};

Result<Json> FarmBody(const FarmArgs& a) {
  std::ifstream in(a.file, std::ios::binary);
  if (!in) return NotFound("cannot read FML file " + a.file);
  std::stringstream ss;
  ss << in.rdbuf();
  return FarmRequestBody(ss.str(), a.file, a.name);
}

// Follows a farm job to its end, one line per step; on a terminal the
// running step is shown on a live line that the result overwrites.
Status Follow(ApiClient& c, const FarmArgs& a, Json job) {
  if (a.api.json) {
    while (job["state"] == "running") {
      VSL_ASSIGN_OR_RETURN(job, c.Get("/v1/farms/jobs/" + std::to_string(job["job"].get<int64_t>())));
    }
  }
  const bool tty = isatty(STDOUT_FILENO) != 0;
  size_t seen = 0;
  bool live = false;
  for (;;) {
    for (const Json& step : job["steps"]) {
      ++seen;
      if (a.api.json) continue;
      std::string line = "[" + std::to_string(step["index"].get<int>()) + "/" +
                         std::to_string(step["total"].get<int>()) + "] " + step["action"].get<std::string>();
      std::string status = step["status"];
      if (status == "running") {
        if (tty) {
          printf("\r\033[K%s ...", line.c_str());
          live = true;
          fflush(stdout);
        }
        continue;
      }
      std::string detail = step["detail"];
      printf("%s%s: %s%s\n", live ? "\r\033[K" : "", line.c_str(), status.c_str(),
             detail.empty() ? "" : (" (" + detail + ")").c_str());
      live = false;
      fflush(stdout);
    }
    if (job["state"] != "running") break;
    VSL_ASSIGN_OR_RETURN(job, c.Get("/v1/farms/jobs/" + std::to_string(job["job"].get<int64_t>()) +
                                    "?after=" + std::to_string(seen)));
  }
  if (a.api.json) {
    printf("%s\n", job.dump(2).c_str());
  } else if (job["state"] == "done") {
    std::string summary = job["summary"].is_string() ? job["summary"].get<std::string>() : "";
    printf("%s %s: %s\n", job["kind"].get<std::string>().c_str(), job["farm"].get<std::string>().c_str(),
           summary.empty() ? "done" : summary.c_str());
  }
  if (job["state"] == "failed") {
    std::string err = job["error"];
    // The job's error is a Status rendering: "Code: message".
    Code code = Code::kAborted;
    if (err.rfind("FailedPrecondition", 0) == 0) code = Code::kFailedPrecondition;
    if (err.rfind("InvalidArgument", 0) == 0) code = Code::kInvalidArgument;
    return Status(code, err);
  }
  return Status::Ok();
}

CLI::App* Leaf(CLI::App* group, const std::string& name, const std::string& help, RunFn* run,
               std::shared_ptr<FarmArgs> args, const std::string& what,
               std::function<Status(ApiClient&, const FarmArgs&)> fn) {
  CLI::App* cmd = group->add_subcommand(name, help);
  AddApiOptions(cmd, &args->api);
  cmd->callback([=] {
    *run = [=] { return WithClient(what, args->api, [&](ApiClient& c) { return fn(c, *args); }); };
  });
  return cmd;
}

Status Plan(ApiClient& c, const FarmArgs& a) {
  VSL_ASSIGN_OR_RETURN(Json body, FarmBody(a));
  VSL_ASSIGN_OR_RETURN(Json plan, c.Post("/v1/farms/plan", body));
  if (a.api.json) {
    printf("%s\n", plan.dump(2).c_str());
  } else {
    printf("farm %s:\n%s\n", plan["farm"].get<std::string>().c_str(), plan["text"].get<std::string>().c_str());
  }
  return Status::Ok();
}

Status Apply(ApiClient& c, const FarmArgs& a) {
  VSL_ASSIGN_OR_RETURN(Json body, FarmBody(a));
  VSL_ASSIGN_OR_RETURN(Json job, c.Post("/v1/farms/apply", body));
  return Follow(c, a, job);
}

Status Destroy(ApiClient& c, const FarmArgs& a) {
  VSL_ASSIGN_OR_RETURN(Json job, c.Delete("/v1/farms/" + a.name));
  return Follow(c, a, job);
}

Status Show(ApiClient& c, const FarmArgs& a) {
  VSL_ASSIGN_OR_RETURN(Json farm, c.Get("/v1/farms/" + a.name));
  // Each disk's last complete backup (GET /v1/backups?farm=NAME, oldest first).
  std::map<std::string, Json> last;
  auto backups = c.Get("/v1/backups?farm=" + a.name + "&state=complete");
  if (backups.ok()) {
    for (const Json& b : (*backups)["backups"]) last[Cell(b["volume"])] = b;
  }
  if (a.api.json) {
    Json lb = Json::object();
    for (auto& [disk, b] : last) lb[disk] = b;
    farm["last_backups"] = lb;
    printf("%s\n", farm.dump(2).c_str());
  } else {
    printf("%s", farm["text"].get<std::string>().c_str());
    if (!last.empty()) {
      printf("last backups:\n");
      for (auto& [disk, b] : last) {
        printf("  disk %s (%s): %s level %s, %s\n", disk.c_str(), Cell(b["server"]).c_str(), Cell(b["id"]).c_str(),
               Cell(b["level"]).c_str(), Cell(b["mode"]).c_str());
      }
    }
  }
  return Status::Ok();
}

Status List(ApiClient& c, const FarmArgs& a) {
  VSL_ASSIGN_OR_RETURN(Json farms, c.Get("/v1/farms"));
  if (a.api.json) {
    printf("%s\n", farms.dump(2).c_str());
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const Json& f : farms["farms"]) {
    rows.push_back({Cell(f["name"]), Cell(f["state"]), Cell(f["servers"]), Cell(f["global_disks"]),
                    f["last_error"].get<std::string>().empty() ? "-" : Cell(f["last_error"])});
  }
  PrintTable({"NAME", "STATE", "SERVERS", "GLOBAL DISKS", "LAST FAILURE"}, rows);
  return Status::Ok();
}

Status Console(ApiClient& c, const FarmArgs& a) {
  VSL_ASSIGN_OR_RETURN(Json con, c.Get("/v1/hosts/" + a.host + "/console"));
  if (a.api.json) {
    printf("%s\n", con.dump(2).c_str());
  } else {
    fwrite(con["console"].get<std::string>().data(), 1, con["console"].get<std::string>().size(), stdout);
  }
  return Status::Ok();
}

}  // namespace

void AddFarmCommands(CLI::App& app, RunFn* run) {
  auto args = std::make_shared<FarmArgs>();
  CLI::App* farm = app.add_subcommand("farm", "farms: plan, apply, show, list, destroy");
  farm->require_subcommand(1);
  auto file_cmd = [&](const std::string& name, const std::string& help, auto fn) {
    CLI::App* cmd = Leaf(farm, name, help, run, args, "farm " + name, fn);
    cmd->add_option("file", args->file, "FML farm definition")->required();
    cmd->add_option("--name", args->name, "farm name (default: <farm name=\"..\">, else the file name)");
  };
  file_cmd("plan", "show what apply would do, changing nothing", Plan);
  file_cmd("apply", "create or change the farm as the file says", Apply);
  Leaf(farm, "show", "show a farm: servers, hosts, disks, backup policies, last failure", run, args, "farm show",
       Show)->add_option("name", args->name, "farm name")->required();
  Leaf(farm, "list", "list farms", run, args, "farm list", List);
  Leaf(farm, "destroy", "scrub and free every volume, return the hosts, forget the farm", run, args,
       "farm destroy", Destroy)->add_option("name", args->name, "farm name")->required();

  CLI::App* host = nullptr;
  try {
    host = app.get_subcommand("host");
  } catch (const CLI::OptionNotFound&) {
    host = app.add_subcommand("host", "hosts");
  }
  Leaf(host, "console", "print a host's serial console (power driver qemu)", run, args, "host console", Console)
      ->add_option("name", args->host, "host name")->required();
}

}  // namespace vsl::cli
