// Image bytes in: PUT /v1/images/{name} (an upload, streamed to disk) and the
// import-directory form of POST /v1/images {file}. Both stage the bytes with
// ImageStaging and run the manager's import-image request on the staged copy.
#include <unistd.h>

#include "api/auth.h"
#include "api/image_staging.h"
#include "api/records_json.h"
#include "api/routes.h"
#include "catalog/catalog.h"
#include "manager/storage_manager.h"
#include "util/crash_point.h"
#include "util/names.h"

namespace vsl::api {
namespace {

// How long an upload waits for its import request (copying a large image
// onto its master volume takes a while).
constexpr int64_t kImportWaitMs = 24LL * 3600 * 1000;

// For a tenant, an image of that name it does not own (another tenant's,
// or a shared one) is refused before anything is staged or queued, saying
// no more than that the name is taken: the import request's own refusal
// would name the hosts and disks using the image.
Status CheckImageNameFor(ApiContext& ctx, const Principal& p, const std::string& name) {
  if (p.admin()) return Status::Ok();
  return ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
    auto taken = ctx.catalog->GetImageByName(tx, name);
    if (!taken.ok()) return taken.status().code() == Code::kNotFound ? Status::Ok() : taken.status();
    if (!CheckImageOwned(tx, p, *taken).ok()) return AlreadyExists("image '" + name + "' exists already");
    return Status::Ok();
  });
}

Status Upload(ApiContext& ctx, const Principal& p, const httplib::Request& req, httplib::Response& res,
              const httplib::ContentReader& reader) {
  std::string name = req.matches[1];
  // Before a byte is staged: a name the catalog would refuse wastes no disk.
  VSL_RETURN_IF_ERROR(CheckName("image name", name));
  VSL_RETURN_IF_ERROR(CheckImageNameFor(ctx, p, name));
  if (req.is_multipart_form_data()) {
    return InvalidArgument("upload of image '" + name +
                           "': send the image bytes as the body (application/octet-stream), not a form");
  }
  VSL_ASSIGN_OR_RETURN(auto staging, ImageStaging::Create(ctx.data_dir));
  Status write_error;
  bool complete = reader([&](const char* data, size_t n) {
    write_error = staging->Append(data, n);
    return write_error.ok();
  });
  if (!write_error.ok()) return write_error.Annotate("upload of image '" + name + "'");
  if (!complete) {
    return InvalidArgument("upload of image '" + name + "': the body ended early or stalled after " +
                           std::to_string(staging->size()) + " bytes");
  }
  if (staging->size() == 0) return InvalidArgument("upload of image '" + name + "': the body is empty");
  VSL_RETURN_IF_ERROR(staging->Commit());
  return ImportStaged(ctx, p, name, *staging, res);
}

}  // namespace

Status ImportStaged(ApiContext& ctx, const Principal& p, const std::string& name, ImageStaging& staging,
                    httplib::Response& res) {
  Json args = {{"name", name}, {"file", staging.path()}};
  if (p.tenant_id) args["tenant"] = *p.tenant_id;  // the image is born the tenant's
  VSL_ASSIGN_OR_RETURN(int64_t id, ctx.manager->Submit("import-image", args, p.actor()));
  staging.Keep();  // the queued request reads it, even after a restart
  util::CrashPoint("api.image-staged");
  auto r = ctx.manager->Wait(id, kImportWaitMs);
  if (!r.ok()) return r.status().Annotate("request " + std::to_string(id) + " (import-image) has not finished");
  unlink(staging.path().c_str());
  if (r->state != catalog::RequestState::kDone) {
    ReplyFailedRequest(res, *r);
    return Status::Ok();
  }
  Json out = {{"request", RequestJson(*r)}, {"result", RequestJson(*r)["result"]}};
  std::string stored = out["result"].value("sha256", "");
  if (stored != staging.sha256()) {
    return DataLoss("image '" + name + "': the bytes received hash to " + staging.sha256() +
                    " but the imported image to " + stored);
  }
  out["received"] = {{"size", staging.size()}, {"sha256", staging.sha256()}};
  ReplyJson(res, out, 201);
  return Status::Ok();
}

Status ImportFromImportDir(ApiContext& ctx, const Principal& p, const std::string& name, const std::string& file,
                           httplib::Response& res) {
  VSL_RETURN_IF_ERROR(CheckImageNameFor(ctx, p, name));
  VSL_ASSIGN_OR_RETURN(int fd, OpenInImportDir(ctx.import_dir, file));
  auto staging = ImageStaging::Create(ctx.data_dir);
  Status s = staging.ok() ? StageFromFd(fd, file, **staging) : staging.status();
  close(fd);
  if (s.ok()) s = (*staging)->Commit();
  if (!s.ok()) return s.Annotate("import of image '" + name + "' from " + file);
  return ImportStaged(ctx, p, name, **staging, res);
}

void RegisterImageUploadRoutes(ApiContext& ctx, httplib::Server& server) {
  server.Put(R"(/v1/images/([^/]+))",
             [&ctx](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
               // The server checked the token before the body; check again
               // here so the route is safe on any server.
               Result<Principal> who = Authenticate(ctx, req);
               Status s = who.status();
               if (s.ok()) {
                 try {
                   s = Upload(ctx, *who, req, res, reader);
                 } catch (const std::exception& e) {
                   s = Internal(std::string("unexpected exception: ") + e.what());
                 }
               }
               if (!s.ok()) ReplyError(res, s);
             });
}

}  // namespace vsl::api
