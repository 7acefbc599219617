// The farm manager's routes of `vsl serve`: /v1/farms and
// GET /v1/hosts/{name}/console, on the API's HTTP server. The API depends on
// the farm manager, never the reverse.
//
//   POST   /v1/farms/plan    {fml, file?, name?}  -> {farm, actions[], summary, text}
//   POST   /v1/farms/apply   {fml, file?, name?}  -> 202 {job}   (?wait=true: the finished job)
//   GET    /v1/farms/jobs/{id}?after=N           -> {job, farm, kind, state, steps[], error}
//   GET    /v1/farms                             -> {farms: [{name, state, servers, last_error}]}
//   GET    /v1/farms/{name}                      -> the farm record, plus "text"
//   DELETE /v1/farms/{name}                      -> 202 {job}   (?wait=true as for apply)
//   GET    /v1/hosts/{name}/console              -> {host, path, console, running}
//
// Applies and destroys run as jobs on one bounded executor (kFarmJobThreads
// threads, at most kFarmJobsQueued waiting; more is 429-like
// resource_exhausted); their steps are kept in the job, which clients poll
// (after=N returns only steps after the N-th report, so a poller prints each
// one once). The last kFarmJobsKept finished jobs are remembered. A job
// whose work throws fails with the exception's text.
#pragma once

#include <memory>

#include <httplib.h>

#include "api/api.h"
#include "util/status.h"

namespace vsl::api {

inline constexpr int kFarmJobThreads = 4;
inline constexpr size_t kFarmJobsQueued = 64;
inline constexpr size_t kFarmJobsKept = 256;

// Registers the routes and creates the power controller ctx.power names.
// The returned object must be kept until the server stopped; destroying it
// waits for running jobs and powers every host it started off.
Result<std::shared_ptr<void>> AttachFarmRoutes(ApiContext& ctx, httplib::Server& server);

}  // namespace vsl::api
