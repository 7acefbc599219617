// /v1/requests (the FIG. 8 queue), /v1/events, and the test-only
// /v1/test/faults and /v1/test/clock.
#include "api/auth.h"
#include "api/records_json.h"
#include "api/routes.h"
#include "api/test_hooks.h"
#include "catalog/backup_schedules.h"
#include "catalog/catalog.h"
#include "manager/storage_manager.h"

#include <map>

namespace vsl::api {
namespace {

// What a tenant may see of the queue: the requests it asked for, and those
// whose every reference (volume, source, bcv, volumes, farm, host, map_to,
// in the arguments and the result) is in its farms. A request that names
// nothing (a discovery) or anything of another owner is not its.
class QueueScope {
 public:
  QueueScope(ApiContext& ctx, catalog::Tx& tx, const Principal& p, TenantFarms mine)
      : ctx_(ctx), tx_(tx), p_(p), mine_(std::move(mine)) {}

  bool Request(const catalog::Request& r) {
    if (p_.admin() || r.actor == p_.actor()) return true;
    if (auto it = requests_.find(r.id); it != requests_.end()) return it->second;
    int refs = 0;
    bool all_mine = Refs(Json::parse(r.args, nullptr, false), &refs) &&
                    Refs(Json::parse(r.result, nullptr, false), &refs);
    return requests_[r.id] = all_mine && refs > 0;
  }

  bool Event(const catalog::Event& e) {
    if (p_.admin()) return true;
    if (e.entity == "volume") return Volume(e.entity_id);
    if (e.entity == "host") return Host(e.entity_id);
    if (e.entity == "farm") return mine_.ids.count(e.entity_id) > 0;
    if (e.entity == "request") {
      // Read in this transaction (the queue's Get would open another).
      auto row = tx_.QueryOne("SELECT actor, args, result FROM requests WHERE id = ?", {e.entity_id});
      if (!row.ok() || !*row) return false;
      catalog::Request r;
      r.id = e.entity_id;
      r.actor = (*row)->Text(0);
      r.args = (*row)->Text(1);
      r.result = (*row)->Text(2);
      return Request(r);
    }
    return false;  // arrays, and whatever else is not a tenant's
  }

 private:
  bool Volume(int64_t id) {
    auto v = ctx_.catalog->GetVolume(tx_, id);
    return v.ok() && mine_.Has(v->farm_id);
  }
  bool Host(int64_t id) {
    auto h = ctx_.catalog->GetHost(tx_, id);
    return h.ok() && mine_.Has(h->farm_id);
  }
  bool HostNamed(const std::string& name) {
    auto h = ctx_.catalog->GetHostByName(tx_, name);
    return h.ok() && mine_.Has(h->farm_id);
  }
  // False when `j` names something not the tenant's; counts what it names.
  bool Refs(const Json& j, int* refs) {
    if (!j.is_object()) return true;
    for (const char* k : {"volume", "source", "bcv"}) {
      if (auto it = j.find(k); it != j.end() && it->is_number_integer()) {
        ++*refs;
        if (!Volume(it->get<int64_t>())) return false;
      }
    }
    if (auto it = j.find("volumes"); it != j.end() && it->is_array()) {
      for (const Json& v : *it) {
        ++*refs;
        if (!v.is_number_integer() || !Volume(v.get<int64_t>())) return false;
      }
    }
    if (auto it = j.find("farm"); it != j.end() && it->is_number_integer()) {
      ++*refs;
      if (mine_.ids.count(it->get<int64_t>()) == 0) return false;
    }
    for (const char* k : {"host", "map_to"}) {
      if (auto it = j.find(k); it != j.end() && it->is_string()) {
        ++*refs;
        if (!HostNamed(it->get<std::string>())) return false;
      }
    }
    return true;
  }

  ApiContext& ctx_;
  catalog::Tx& tx_;
  const Principal& p_;
  TenantFarms mine_;
  std::map<int64_t, bool> requests_;
};

// What a tenant is shown of a request's arguments or an event's detail:
// the server's own paths (an upload's staging file, "file") are the
// admin's business, so they are left out; anything else as it is.
std::string ForTenant(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("file")) return text;
  j.erase("file");
  return j.dump();
}

Json RequestJsonFor(const Principal& p, catalog::Request r) {
  if (!p.admin()) r.args = ForTenant(r.args);
  return RequestJson(r);
}

Status ListRequests(ApiContext& ctx, const Principal& p, const httplib::Request& req, httplib::Response& res) {
  catalog::RequestFilter f;
  if (auto s = QueryParam(req, "state")) {
    auto st = catalog::ParseRequestState(*s);
    if (!st.ok()) return InvalidArgument("query parameter 'state': " + st.status().message());
    f.state = *st;
  }
  if (auto op = QueryParam(req, "op")) f.op = *op;
  VSL_ASSIGN_OR_RETURN(auto after, QueryInt(req, "after"));
  VSL_ASSIGN_OR_RETURN(auto limit, QueryInt(req, "limit"));
  f.after_id = after.value_or(0);
  f.limit = limit.value_or(1000);
  VSL_ASSIGN_OR_RETURN(auto reqs, ctx.manager->List(f));
  Json list = Json::array();
  VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(TenantFarms mine, FarmsOf(tx, p));
    QueueScope scope(ctx, tx, p, std::move(mine));
    for (const auto& r : reqs) {
      if (scope.Request(r)) list.push_back(RequestJsonFor(p, r));
    }
    return Status::Ok();
  }));
  ReplyJson(res, {{"requests", list}});
  return Status::Ok();
}

Status ListEvents(ApiContext& ctx, const Principal& p, const httplib::Request& req, httplib::Response& res) {
  catalog::EventFilter f;
  f.entity = QueryParam(req, "entity");
  VSL_ASSIGN_OR_RETURN(f.entity_id, QueryInt(req, "entity_id"));
  VSL_ASSIGN_OR_RETURN(f.request_id, QueryInt(req, "request"));
  VSL_ASSIGN_OR_RETURN(auto after, QueryInt(req, "after"));
  VSL_ASSIGN_OR_RETURN(auto limit, QueryInt(req, "limit"));
  f.after_id = after.value_or(0);
  f.limit = limit.value_or(1000);
  Json list = Json::array();
  VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(auto events, ctx.catalog->ListEvents(tx, f));
    VSL_ASSIGN_OR_RETURN(events, VisibleEvents(ctx, tx, p, std::move(events)));
    for (const auto& e : events) list.push_back(EventJson(e));
    return Status::Ok();
  }));
  ReplyJson(res, {{"events", list}});
  return Status::Ok();
}

Result<array::ArrayOp> ParseArrayOp(const std::string& name) {
  for (int i = 0; i < array::kArrayOpCount; ++i) {
    auto op = static_cast<array::ArrayOp>(i);
    if (array::ArrayOpName(op) == name) return op;
  }
  return InvalidArgument("field 'op': unknown array operation '" + name + "'");
}

// {"array": NAME, "op": "copy", "nth": 1 | "always": true | "stall": true |
// "heal": true} or {"op": "gateway-map", "nth": 1}. The failure is an
// IoError; a stall blocks the nth call until healed.
Status ArmFault(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  VSL_ASSIGN_OR_RETURN(Json body, ParseBody(req));
  VSL_RETURN_IF_ERROR(OnlyFields(body, {"array", "op", "nth", "always", "stall", "heal"}));
  VSL_ASSIGN_OR_RETURN(std::string op, RequiredString(body, "op"));
  VSL_ASSIGN_OR_RETURN(auto array, OptionalString(body, "array"));
  VSL_ASSIGN_OR_RETURN(auto nth, OptionalInt(body, "nth"));
  VSL_ASSIGN_OR_RETURN(auto always, OptionalBool(body, "always"));
  VSL_ASSIGN_OR_RETURN(auto heal, OptionalBool(body, "heal"));
  VSL_ASSIGN_OR_RETURN(auto stall, OptionalBool(body, "stall"));
  if (nth && *nth < 1) return InvalidArgument("field 'nth': must be >= 1");
  Status injected = IoError("injected fault: " + op + (array ? " on array '" + *array + "'" : std::string()));
  if (op == "gateway-map") {
    ctx.test_hooks->FailMapNth(heal.value_or(false) ? 0 : static_cast<uint64_t>(nth.value_or(1)), injected);
  } else {
    if (!array) return InvalidArgument("field 'array': missing");
    VSL_ASSIGN_OR_RETURN(auto a, ctx.test_hooks->FindArray(*array));
    VSL_ASSIGN_OR_RETURN(array::ArrayOp aop, ParseArrayOp(op));
    if (heal.value_or(false)) {
      a->Heal(aop);
    } else if (always.value_or(false)) {
      a->FailAlways(aop, injected);
    } else if (stall.value_or(false)) {
      a->StallNth(aop, static_cast<uint64_t>(nth.value_or(1)));
    } else {
      a->FailNth(aop, static_cast<uint64_t>(nth.value_or(1)), injected);
    }
  }
  ReplyJson(res, {{"armed", op}});
  return Status::Ok();
}

// {"set": "2027-01-15T02:00:00Z"} | {"advance_ms": N}: moves the
// scheduler's test clock, then runs one scheduler tick and says what it did.
Status MoveClock(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  catalog::FakeClock* clock = ctx.test_hooks->clock();
  if (clock == nullptr || ctx.test_hooks->scheduler() == nullptr) {
    return FailedPrecondition("no test clock: start vsl serve --test-faults --backup-dir DIR with VSL_TEST_CLOCK set");
  }
  VSL_ASSIGN_OR_RETURN(Json body, ParseBody(req));
  VSL_RETURN_IF_ERROR(OnlyFields(body, {"set", "advance_ms"}));
  VSL_ASSIGN_OR_RETURN(auto set, OptionalString(body, "set"));
  VSL_ASSIGN_OR_RETURN(auto advance, OptionalInt(body, "advance_ms"));
  if (set.has_value() == advance.has_value()) return InvalidArgument("give exactly one of 'set' and 'advance_ms'");
  if (advance && *advance < 0) return InvalidArgument("field 'advance_ms': time only moves forward");
  if (set) {
    VSL_ASSIGN_OR_RETURN(int64_t ms, catalog::ParseUtc(*set));
    clock->Set(ms);
  } else {
    clock->Advance(*advance);
  }
  VSL_ASSIGN_OR_RETURN(auto report, ctx.test_hooks->scheduler()->Tick());
  Json queued = Json::array();
  for (const auto& q : report.queued) {
    Json slots = Json::array();
    for (const auto& s : q.slots) {
      slots.push_back(Json{{"level", s.level}, {"schedule", s.schedule}, {"slot", catalog::FormatUtc(s.slot_ms)}});
    }
    queued.push_back(Json{{"request", q.request}, {"volume", q.unit}, {"level", q.run_level}, {"slots", slots}});
  }
  ReplyJson(res, {{"now_ms", report.now_ms},
                  {"now", catalog::FormatUtc(report.now_ms)},
                  {"queued", queued},
                  {"deleted", report.deleted},
                  {"errors", report.errors}});
  return Status::Ok();
}

}  // namespace

void RegisterQueueRoutes(ApiContext& ctx, httplib::Server& server) {
  using P = const Principal&;
  using R = const httplib::Request&;
  using W = httplib::Response&;
  server.Get("/v1/requests", Authed(ctx, [&ctx](P p, R req, W res) { return ListRequests(ctx, p, req, res); }));
  server.Get(R"(/v1/requests/([^/]+))", Authed(ctx, [&ctx](P p, R req, W res) -> Status {
               VSL_ASSIGN_OR_RETURN(int64_t id, PathId(req.matches[1], "request"));
               VSL_ASSIGN_OR_RETURN(catalog::Request r, ctx.manager->queue().Get(id));
               bool visible = false;
               VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
                 VSL_ASSIGN_OR_RETURN(TenantFarms mine, FarmsOf(tx, p));
                 visible = QueueScope(ctx, tx, p, std::move(mine)).Request(r);
                 return Status::Ok();
               }));
               if (!visible) return NotFound("request " + std::to_string(id) + " does not exist");
               ReplyJson(res, RequestJsonFor(p, std::move(r)));
               return Status::Ok();
             }));
  server.Get("/v1/events", Authed(ctx, [&ctx](P p, R req, W res) { return ListEvents(ctx, p, req, res); }));
}

void RegisterTestRoutes(ApiContext& ctx, httplib::Server& server) {
  server.Post("/v1/test/faults", Authed(ctx, [&ctx](const httplib::Request& req, httplib::Response& res) {
                return ArmFault(ctx, req, res);
              }));
  server.Post("/v1/test/clock", Authed(ctx, [&ctx](const httplib::Request& req, httplib::Response& res) {
                return MoveClock(ctx, req, res);
              }));
}

Result<std::vector<catalog::Event>> VisibleEvents(ApiContext& ctx, catalog::Tx& tx, const Principal& p,
                                                  std::vector<catalog::Event> events) {
  if (p.admin()) return events;
  VSL_ASSIGN_OR_RETURN(TenantFarms mine, FarmsOf(tx, p));
  QueueScope scope(ctx, tx, p, std::move(mine));
  std::erase_if(events, [&](const catalog::Event& e) { return !scope.Event(e); });
  for (catalog::Event& e : events) e.detail = ForTenant(e.detail);
  return events;
}

}  // namespace vsl::api
