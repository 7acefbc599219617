// /v1/requests (the FIG. 8 queue), /v1/events, and the test-only
// /v1/test/faults and /v1/test/clock.
#include "api/records_json.h"
#include "api/routes.h"
#include "api/test_hooks.h"
#include "catalog/backup_schedules.h"
#include "catalog/catalog.h"
#include "manager/storage_manager.h"

namespace vsl::api {
namespace {

Status ListRequests(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
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
  for (const auto& r : reqs) list.push_back(RequestJson(r));
  ReplyJson(res, {{"requests", list}});
  return Status::Ok();
}

Status ListEvents(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
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
  server.Get("/v1/requests", Authed(ctx, [&ctx](const httplib::Request& req, httplib::Response& res) {
               return ListRequests(ctx, req, res);
             }));
  server.Get(R"(/v1/requests/([^/]+))", Authed(ctx, [&ctx](const httplib::Request& req, httplib::Response& res) {
               VSL_ASSIGN_OR_RETURN(int64_t id, PathId(req.matches[1], "request"));
               VSL_ASSIGN_OR_RETURN(catalog::Request r, ctx.manager->queue().Get(id));
               ReplyJson(res, RequestJson(r));
               return Status::Ok();
             }));
  server.Get("/v1/events", Authed(ctx, [&ctx](const httplib::Request& req, httplib::Response& res) {
               return ListEvents(ctx, req, res);
             }));
}

void RegisterTestRoutes(ApiContext& ctx, httplib::Server& server) {
  server.Post("/v1/test/faults", Authed(ctx, [&ctx](const httplib::Request& req, httplib::Response& res) {
                return ArmFault(ctx, req, res);
              }));
  server.Post("/v1/test/clock", Authed(ctx, [&ctx](const httplib::Request& req, httplib::Response& res) {
                return MoveClock(ctx, req, res);
              }));
}

}  // namespace vsl::api
