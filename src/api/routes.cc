#include <charconv>

#include "api/metrics.h"
#include "api/records_json.h"
#include "api/routes.h"
#include "manager/storage_manager.h"

namespace vsl::api {

Status OnlyFields(const Json& body, std::initializer_list<std::string_view> known) {
  for (auto it = body.begin(); it != body.end(); ++it) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || k == it.key();
    if (!ok) return InvalidArgument("field '" + it.key() + "': unknown");
  }
  return Status::Ok();
}

Result<int64_t> PathId(const std::string& text, std::string_view what) {
  int64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || p != text.data() + text.size() || n <= 0) {
    return InvalidArgument(std::string(what) + " id '" + text + "' is not a positive integer");
  }
  return n;
}

Status SubmitAndReply(ApiContext& ctx, const httplib::Request& req, httplib::Response& res,
                      const std::string& op, const Json& args, const std::string& actor) {
  VSL_ASSIGN_OR_RETURN(int64_t id, ctx.manager->Submit(op, args, actor));
  if (!QueryFlag(req, "wait")) {
    VSL_ASSIGN_OR_RETURN(catalog::Request r, ctx.manager->queue().Get(id));
    ReplyJson(res, {{"request", RequestJson(r)}}, 202);
    return Status::Ok();
  }
  VSL_ASSIGN_OR_RETURN(auto timeout, QueryInt(req, "timeout_ms"));
  auto r = ctx.manager->Wait(id, timeout.value_or(600000));
  if (!r.ok()) {
    return r.status().Annotate("request " + std::to_string(id) + " (" + op + ") has not finished");
  }
  if (r->state == catalog::RequestState::kDone) {
    ReplyJson(res, {{"request", RequestJson(*r)}, {"result", RequestJson(*r)["result"]}});
    return Status::Ok();
  }
  ReplyFailedRequest(res, *r);
  return Status::Ok();
}

void ReplyFailedRequest(httplib::Response& res, const catalog::Request& r) {
  Status s = manager::RequestStatus(r);
  if (s.ok()) s = Internal("request " + std::to_string(r.id) + " failed without a reason");
  ReplyError(res, s);
  Json body = Json::parse(res.body);
  body["request"] = RequestJson(r);
  res.set_content(body.dump() + "\n", "application/json");
}

void RegisterRoutes(ApiContext& ctx, httplib::Server& server) {
  server.Get("/v1/health", [&ctx](const httplib::Request&, httplib::Response& res) {
    ReplyJson(res, {{"status", "ok"}, {"iscsi", ctx.iscsi_address}, {"iqn_prefix", ctx.iqn_prefix},
                    {"power", ctx.power}});
  });
  RegisterArrayRoutes(ctx, server);
  RegisterHostRoutes(ctx, server);
  RegisterImageUploadRoutes(ctx, server);
  RegisterDiskRoutes(ctx, server);
  RegisterBackupRoutes(ctx, server);
  RegisterQueueRoutes(ctx, server);
  RegisterTenantRoutes(ctx, server);
  RegisterMetricsRoute(ctx, server);
  if (ctx.test_hooks != nullptr) RegisterTestRoutes(ctx, server);
}

}  // namespace vsl::api
