// The built-in route groups; RegisterRoutes (routes.cc) adds them all.
#pragma once

#include "api/api.h"
#include "catalog/records.h"

namespace vsl::api {

void RegisterArrayRoutes(ApiContext& ctx, httplib::Server& server);
void RegisterHostRoutes(ApiContext& ctx, httplib::Server& server);   // hosts and images
void RegisterDiskRoutes(ApiContext& ctx, httplib::Server& server);   // volumes, disk ops
void RegisterBackupRoutes(ApiContext& ctx, httplib::Server& server); // /v1/backups
void RegisterQueueRoutes(ApiContext& ctx, httplib::Server& server);  // requests, events
void RegisterTestRoutes(ApiContext& ctx, httplib::Server& server);   // only with test hooks
void RegisterImageUploadRoutes(ApiContext& ctx, httplib::Server& server);  // PUT /v1/images/{name}
void RegisterTenantRoutes(ApiContext& ctx, httplib::Server& server); // /v1/tenants (admin only)

class ImageStaging;  // api/image_staging.h

// Runs import-image on a committed staged file and waits for it: 201 with
// the request, its result and what was received, or the request's failure.
// Removes the staged file once the request finished.
// The image is `p`'s: a tenant's import makes a tenant image, the admin's a
// shared one.
Status ImportStaged(ApiContext& ctx, const Principal& p, const std::string& name, ImageStaging& staging,
                    httplib::Response& res);

// POST /v1/images {name, file}: `file` must lie inside ctx.import_dir
// (PermissionDenied otherwise, and always without an import directory); it
// is copied into staging and imported like an upload.
Status ImportFromImportDir(ApiContext& ctx, const Principal& p, const std::string& name, const std::string& file,
                           httplib::Response& res);

// Queues `op` with `args` as the manager's request. With ?wait=true the reply
// comes when the request finished: 200 with the request and its result, or
// the request's failure as an error (its code, plus "request"). Without it:
// 202 with the queued request.
// The reply for a request that ended failed: the error its reason gives,
// with the request itself under "request".
void ReplyFailedRequest(httplib::Response& res, const catalog::Request& r);

// The request's actor is `actor` ("admin" or "tenant:NAME", Principal::actor).
Status SubmitAndReply(ApiContext& ctx, const httplib::Request& req, httplib::Response& res,
                      const std::string& op, const Json& args, const std::string& actor = "admin");

// Rejects fields of `body` that are not in `known` ("field 'x': unknown").
Status OnlyFields(const Json& body, std::initializer_list<std::string_view> known);

// The id in a path segment; InvalidArgument naming `what` when not a number.
Result<int64_t> PathId(const std::string& text, std::string_view what);

}  // namespace vsl::api
