#include "api/routes_farms.h"

#include <fstream>
#include <sstream>

#include "api/auth.h"
#include "api/routes.h"
#include "catalog/catalog.h"
#include "catalog/tenants.h"
#include "farm/farm_manager.h"
#include "farm/power_host.h"
#include "manager/backup_ops.h"
#include "util/executor.h"

namespace vsl::api {

namespace {

using farm::FarmManager;
using farm::FarmPlan;
using farm::FarmRecord;
using farm::Action;
using farm::JobState;
using farm::PowerController;
using farm::ProgressFn;
using farm::StepProgress;

struct Job {
  int64_t id = 0;
  std::string farm, kind;
  std::optional<int64_t> tenant;  // who started it (nullopt: the admin)
  std::mutex mu;
  std::condition_variable cv;
  JobState state = JobState::kRunning;  // guarded by mu
  std::vector<Json> steps;        // guarded by mu
  std::string error;              // guarded by mu
  Json summary;                   // guarded by mu
};

class FarmService {
 public:
  FarmService(ApiContext& ctx, std::unique_ptr<PowerController> power)
      : ctx_(ctx),
        power_(std::move(power)),
        fm_(ctx.catalog, ctx.manager, power_.get(), "farm-manager"),
        executor_(std::make_unique<util::Executor>(kFarmJobThreads, kFarmJobsQueued)) {}

  ~FarmService() {
    executor_.reset();  // runs what is queued, joins its threads
    power_->PowerOffAll();
  }

  Status Init() { return fm_.Init(); }
  void Register(httplib::Server& server);
  bool IsOn(const std::string& host) { return power_->IsOn(host); }

 private:
  Result<fml::FarmSpec> SpecFrom(const Principal& p, const Json& body, std::string* text);
  Status CheckNameFor(const Principal& p, const std::string& name);
  Status PlanRoute(const Principal& p, const httplib::Request& req, httplib::Response& res);
  Status ApplyRoute(const Principal& p, const httplib::Request& req, httplib::Response& res);
  Status DestroyRoute(const Principal& p, const httplib::Request& req, httplib::Response& res);
  Status JobRoute(const Principal& p, const httplib::Request& req, httplib::Response& res);
  Status ConsoleRoute(const Principal& p, const httplib::Request& req, httplib::Response& res);
  Status ListRoute(const Principal& p, httplib::Response& res);
  Status ShowRoute(const Principal& p, const httplib::Request& req, httplib::Response& res);
  Result<std::shared_ptr<Job>> StartJob(const Principal& p, const std::string& farm, const std::string& kind,
                                        std::function<Result<FarmPlan>(const ProgressFn&)> work);
  void ReplyJob(const httplib::Request& req, httplib::Response& res, const std::shared_ptr<Job>& job);
  Json JobJson(Job& job, size_t after);

  ApiContext& ctx_;
  std::unique_ptr<PowerController> power_;
  FarmManager fm_;
  std::mutex mu_;
  int64_t next_job_ = 1;                            // guarded by mu_
  std::map<int64_t, std::shared_ptr<Job>> jobs_;    // guarded by mu_
  std::unique_ptr<util::Executor> executor_;        // last member: stops first
};

Json PlanJson(const FarmPlan& plan) {
  Json actions = Json::array();
  for (const Action& a : plan.actions) actions.push_back(a.ToString());
  return {{"farm", plan.farm}, {"actions", actions}, {"summary", plan.Summary()},
          {"to_add", plan.to_add}, {"to_change", plan.to_change}, {"to_remove", plan.to_remove},
          {"text", plan.ToString()}};
}

// For a tenant: the farm's name is free or names its own farm, and every
// <diskimage> names its own or a shared image (another tenant's is
// "does not exist", at the element's line).
Result<fml::FarmSpec> FarmService::SpecFrom(const Principal& p, const Json& body, std::string* text) {
  VSL_ASSIGN_OR_RETURN(*text, RequiredString(body, "fml"));
  VSL_ASSIGN_OR_RETURN(auto file, OptionalString(body, "file"));
  VSL_ASSIGN_OR_RETURN(auto name, OptionalString(body, "name"));
  VSL_ASSIGN_OR_RETURN(fml::FarmSpec spec, fml::Parse(*text, file.value_or("farm.fml")));
  VSL_RETURN_IF_ERROR(farm::SetFarmName(&spec, name.value_or("")));
  if (p.admin()) return spec;
  VSL_RETURN_IF_ERROR(CheckNameFor(p, spec.name));
  VSL_RETURN_IF_ERROR(ctx_.catalog->Read([&](catalog::Tx& tx) -> Status {
    for (const fml::ServerRole& role : spec.roles) {
      for (const fml::Disk& d : role.disks) {
        if (d.image.empty()) continue;
        auto img = ctx_.catalog->GetImageByName(tx, d.image);
        Status s = img.ok() ? CheckImageVisible(tx, p, *img) : img.status();
        if (!s.ok()) {
          return s.Annotate(spec.file + ":" + std::to_string(d.loc.line) + ":" + std::to_string(d.loc.column) +
                            ": <diskimage>");
        }
      }
    }
    return Status::Ok();
  }));
  return spec;
}

// A farm name is global: a tenant may plan or apply a name that is free,
// destroyed, or its own farm's.
Status FarmService::CheckNameFor(const Principal& p, const std::string& name) {
  if (p.admin()) return Status::Ok();
  return ctx_.catalog->Read([&](catalog::Tx& tx) -> Status {
    auto farm = ctx_.catalog->GetFarmByName(tx, name);
    if (farm.status().code() == Code::kNotFound) return Status::Ok();
    VSL_RETURN_IF_ERROR(farm.status());
    if (farm->state == farm::FarmPhaseName(farm::FarmPhase::kDestroyed)) return Status::Ok();
    VSL_ASSIGN_OR_RETURN(auto owner, catalog::FarmTenant(tx, farm->id));
    if (owner != p.tenant_id) return FailedPrecondition("farm name '" + name + "' is taken: choose another name");
    return Status::Ok();
  });
}

Status FarmService::PlanRoute(const Principal& p, const httplib::Request& req, httplib::Response& res) {
  VSL_ASSIGN_OR_RETURN(Json body, ParseBody(req));
  std::string text;
  VSL_ASSIGN_OR_RETURN(fml::FarmSpec spec, SpecFrom(p, body, &text));
  VSL_ASSIGN_OR_RETURN(FarmPlan plan, fm_.PlanFarm(spec));
  ReplyJson(res, PlanJson(plan));
  return Status::Ok();
}

Result<std::shared_ptr<Job>> FarmService::StartJob(const Principal& p, const std::string& farm,
                                                   const std::string& kind,
                                                   std::function<Result<FarmPlan>(const ProgressFn&)> work) {
  auto job = std::make_shared<Job>();
  job->farm = farm;
  job->kind = kind;
  job->tenant = p.tenant_id;
  auto run = [job, work = std::move(work)] {
    Result<FarmPlan> result = Internal("not run");
    try {
      result = work([&](const StepProgress& p) {
        std::lock_guard<std::mutex> jl(job->mu);
        job->steps.push_back({{"index", p.index}, {"total", p.total}, {"action", p.action},
                              {"status", p.status}, {"detail", p.detail}});
        job->cv.notify_all();
      });
    } catch (const std::exception& e) {
      result = Internal("farm " + job->kind + " of '" + job->farm + "' threw: " + e.what());
    }
    std::lock_guard<std::mutex> jl(job->mu);
    if (result.ok()) {
      job->state = JobState::kDone;
      job->summary = result->Summary();
    } else {
      job->state = JobState::kFailed;
      job->error = result.status().ToString();
    }
    job->cv.notify_all();
  };
  std::lock_guard<std::mutex> l(mu_);
  Status posted = executor_->Post(std::move(run));
  if (!posted.ok()) return posted.Annotate("farm " + kind + " of '" + farm + "' not started");
  job->id = next_job_++;
  jobs_[job->id] = job;
  // Forget the oldest finished jobs beyond the ones kept.
  for (auto it = jobs_.begin(); jobs_.size() > kFarmJobsKept && it != jobs_.end();) {
    std::unique_lock<std::mutex> jl(it->second->mu, std::try_to_lock);
    bool finished = jl.owns_lock() && it->second->state != JobState::kRunning;
    if (jl.owns_lock()) jl.unlock();
    it = finished ? jobs_.erase(it) : std::next(it);
  }
  return job;
}

Json FarmService::JobJson(Job& job, size_t after) {
  std::lock_guard<std::mutex> l(job.mu);
  Json steps = Json::array();
  for (size_t i = after; i < job.steps.size(); ++i) steps.push_back(job.steps[i]);
  return {{"job", job.id}, {"farm", job.farm}, {"kind", job.kind}, {"state", farm::JobStateName(job.state)},
          {"steps", steps}, {"reports", job.steps.size()}, {"error", job.error},
          {"summary", job.summary}};
}

void FarmService::ReplyJob(const httplib::Request& req, httplib::Response& res, const std::shared_ptr<Job>& job) {
  if (QueryFlag(req, "wait")) {
    std::unique_lock<std::mutex> l(job->mu);
    job->cv.wait(l, [&] { return job->state != JobState::kRunning; });
    l.unlock();
    ReplyJson(res, JobJson(*job, 0), 200);
    return;
  }
  ReplyJson(res, JobJson(*job, 0), 202);
}

Status FarmService::ApplyRoute(const Principal& p, const httplib::Request& req, httplib::Response& res) {
  VSL_ASSIGN_OR_RETURN(Json body, ParseBody(req));
  auto text = std::make_shared<std::string>();
  VSL_ASSIGN_OR_RETURN(fml::FarmSpec spec, SpecFrom(p, body, text.get()));
  auto tenant = p.tenant_id;
  VSL_ASSIGN_OR_RETURN(auto job, StartJob(p, spec.name, "apply", [this, spec, text, tenant](const ProgressFn& pr) {
                         return fm_.Apply(spec, *text, pr, tenant);
                       }));
  ReplyJob(req, res, job);
  return Status::Ok();
}

Status FarmService::DestroyRoute(const Principal& p, const httplib::Request& req, httplib::Response& res) {
  std::string name = req.matches[1];
  VSL_ASSIGN_OR_RETURN(FarmRecord r, fm_.Show(name));
  VSL_RETURN_IF_ERROR(
      ctx_.catalog->Read([&](catalog::Tx& tx) { return CheckFarmVisible(tx, p, r.farm_id, name); }));
  auto tenant = p.tenant_id;
  VSL_ASSIGN_OR_RETURN(auto job, StartJob(p, name, "destroy", [this, name, tenant](const ProgressFn& pr) {
                         return fm_.Destroy(name, pr, tenant);
                       }));
  ReplyJob(req, res, job);
  return Status::Ok();
}

Status FarmService::JobRoute(const Principal& p, const httplib::Request& req, httplib::Response& res) {
  VSL_ASSIGN_OR_RETURN(int64_t id, PathId(req.matches[1], "farm job"));
  std::shared_ptr<Job> job;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = jobs_.find(id);
    if (it == jobs_.end() || (!p.admin() && it->second->tenant != p.tenant_id)) {
      return NotFound("farm job " + std::to_string(id) + " does not exist");
    }
    job = it->second;
  }
  VSL_ASSIGN_OR_RETURN(auto after, QueryInt(req, "after"));
  // Long poll: wait (a little) for something new.
  {
    std::unique_lock<std::mutex> l(job->mu);
    size_t seen = static_cast<size_t>(after.value_or(0));
    job->cv.wait_for(l, std::chrono::milliseconds(500),
                     [&] { return job->steps.size() > seen || job->state != JobState::kRunning; });
  }
  ReplyJson(res, JobJson(*job, static_cast<size_t>(std::max<int64_t>(0, after.value_or(0)))));
  return Status::Ok();
}

Status FarmService::ConsoleRoute(const Principal& p, const httplib::Request& req, httplib::Response& res) {
  std::string host = req.matches[1];
  VSL_RETURN_IF_ERROR(ctx_.catalog->Read([&](catalog::Tx& tx) {
    return VisibleHost(*ctx_.catalog, tx, p, host).status();
  }));
  std::string path = power_->ConsolePath(host);
  if (path.empty()) {
    return FailedPrecondition("host '" + host + "' has no console: the power driver is '" + power_->driver() +
                              "' (start vsl serve with --power qemu or qemu-direct)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("host '" + host + "' has no console log yet (never powered on)");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  std::erase(text, '\r');
  ReplyJson(res, {{"host", host}, {"path", path}, {"console", text}, {"running", power_->IsOn(host)}});
  return Status::Ok();
}

Status FarmService::ListRoute(const Principal& p, httplib::Response& res) {
  VSL_ASSIGN_OR_RETURN(auto farms, fm_.List());
  TenantFarms mine;
  VSL_RETURN_IF_ERROR(ctx_.catalog->Read([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(mine, FarmsOf(tx, p));
    return Status::Ok();
  }));
  Json out = Json::array();
  for (const FarmRecord& r : farms) {
    if (!p.admin() && !mine.Has(r.farm_id)) continue;
    out.push_back({{"name", r.name}, {"state", r.state}, {"servers", r.servers.size()},
                   {"global_disks", r.global_disks.size()}, {"last_error", r.last_error}});
  }
  ReplyJson(res, {{"farms", out}});
  return Status::Ok();
}

Status FarmService::ShowRoute(const Principal& p, const httplib::Request& req, httplib::Response& res) {
  std::string name = req.matches[1];
  VSL_ASSIGN_OR_RETURN(FarmRecord r, fm_.Show(name));
  Json fml;
  VSL_RETURN_IF_ERROR(ctx_.catalog->Read([&](catalog::Tx& tx) -> Status {
    VSL_RETURN_IF_ERROR(CheckFarmVisible(tx, p, r.farm_id, name));
    // The FML last applied, for the console's designer to open.
    auto f = ctx_.catalog->GetFarmByName(tx, r.name);
    fml = f.ok() ? Json(f->fml) : Json(nullptr);
    return Status::Ok();
  }));
  Json j = farm::ToJson(r);
  j["text"] = fm_.Describe(r);
  j["power"] = power_->driver();
  j["fml"] = std::move(fml);
  ReplyJson(res, j);
  return Status::Ok();
}

void FarmService::Register(httplib::Server& server) {
  using P = const Principal&;
  using R = const httplib::Request&;
  using W = httplib::Response&;
  server.Post("/v1/farms/plan", Authed(ctx_, [this](P p, R q, W s) { return PlanRoute(p, q, s); }));
  server.Post("/v1/farms/apply", Authed(ctx_, [this](P p, R q, W s) { return ApplyRoute(p, q, s); }));
  server.Get(R"(/v1/farms/jobs/(\d+))", Authed(ctx_, [this](P p, R q, W s) { return JobRoute(p, q, s); }));
  server.Get("/v1/farms", Authed(ctx_, [this](P p, R, W s) { return ListRoute(p, s); }));
  server.Get(R"(/v1/farms/([^/]+))", Authed(ctx_, [this](P p, R q, W s) { return ShowRoute(p, q, s); }));
  server.Delete(R"(/v1/farms/([^/]+))", Authed(ctx_, [this](P p, R q, W s) { return DestroyRoute(p, q, s); }));
  server.Get(R"(/v1/hosts/([^/]+)/console)", Authed(ctx_, [this](P p, R q, W s) { return ConsoleRoute(p, q, s); }));
}

}  // namespace

Result<std::shared_ptr<void>> AttachFarmRoutes(ApiContext& ctx, httplib::Server& server) {
  farm::PowerOptions o;
  o.driver = ctx.power;
  o.data_dir = ctx.data_dir;
  o.iscsi_address = ctx.iscsi_address;
  o.iqn_prefix = ctx.iqn_prefix;
  o.accel = ctx.qemu_accel;
  o.ipmitool = ctx.ipmitool;
  o.ipmi_cipher = ctx.ipmi_cipher;
  catalog::Catalog* cat = ctx.catalog;
  o.lookup = [cat](const std::string& host) { return farm::LoadPowerHost(*cat, host); };
  VSL_ASSIGN_OR_RETURN(auto power, farm::MakePowerController(o));
  auto service = std::make_shared<FarmService>(ctx, std::move(power));
  VSL_RETURN_IF_ERROR(service->Init());
  service->Register(server);
  if (ctx.backups) {
    // A destructive restore asks whether the disk's hosts are on.
    std::weak_ptr<FarmService> weak = service;
    ctx.backups->set_power_probe([weak](const std::string& host) {
      auto s = weak.lock();
      return !s || s->IsOn(host);
    });
  }
  return std::shared_ptr<void>(service);
}

}  // namespace vsl::api
