// GET /metrics: vsl's figures in the Prometheus text format, computed when
// they are scraped (docs/metrics.md lists every one):
//
// * the control plane, from the catalog: capacity and volumes by FIG. 7
//   state per array, the request queue (depth, durations, failures by
//   operation), farms by state, hosts;
// * the gateway, from ApiContext::gateway_metrics (set by `vsl serve`);
// * the process (process_* as Prometheus's client libraries name them).
//
// The endpoint has its own door (docs/api.md): the token of
// `vsl serve --metrics-token-file`, none with `--metrics-open`, else the
// admin token.
#pragma once

#include <string>

#include "api/api.h"
#include "api/metrics_text.h"
#include "gateway/stats.h"

namespace vsl::api {

// OK when `req` may read /metrics under ctx's metrics settings;
// Unauthenticated otherwise, PermissionDenied for a tenant's token (the
// whole data center's figures are the admin's).
Status CheckMetricsAccess(const ApiContext& ctx, const httplib::Request& req);

// Adds the catalog's families; a catalog that does not answer leaves them
// out and sets vsl_catalog_up to 0.
void WriteControlPlaneMetrics(ApiContext& ctx, MetricsText& out);
// The gateway's families from its Stats().
void WriteGatewayMetrics(const gateway::GatewayStats& stats, MetricsText& out);
// process_resident_memory_bytes, process_open_fds, ... of this process.
void WriteProcessMetrics(MetricsText& out);

// Registers GET /metrics. Without a catalog (ctx.catalog null: the
// standalone `vsl gateway`) the scrape has the gateway's and the process's
// families only.
void RegisterMetricsRoute(ApiContext& ctx, httplib::Server& server);

// The token of --metrics-token-file: its first line (at least 16
// characters), from a file only its owner may read (like DATA/admin.token);
// FailedPrecondition naming the chmod that fixes a file others can read.
Result<std::string> ReadMetricsToken(const std::string& path);

}  // namespace vsl::api
