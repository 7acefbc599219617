// GET /ui/...: the console's files (api/console.h), from the binary.
#include <string_view>

#include "api/console.h"

namespace vsl::api {
namespace {

// The page may load its own scripts, styles and images and talk to this API,
// nothing else: no inline script or style (attributes included), no eval, no
// framing, no plugins, forms only back here.
constexpr char kCsp[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src "
    "'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

std::string_view ContentType(std::string_view path) {
  auto ends = [&](std::string_view ext) {
    return path.size() >= ext.size() && path.substr(path.size() - ext.size()) == ext;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".json")) return "application/json";
  return "application/octet-stream";
}

const UiFile* FindUiFile(std::string_view path) {
  for (unsigned long i = 0; i < kUiFileCount; ++i) {
    if (path == kUiFiles[i].path) return &kUiFiles[i];
  }
  return nullptr;
}

void Redirect(httplib::Response& res) {
  res.status = 302;
  res.set_header("Location", "/ui/");
}

}  // namespace

void RegisterUiRoutes(ApiContext&, httplib::Server& server) {
  server.Get("/", [](const httplib::Request&, httplib::Response& res) { Redirect(res); });
  server.Get("/ui", [](const httplib::Request&, httplib::Response& res) { Redirect(res); });
  server.Get(R"(/ui/(.*))", [](const httplib::Request& req, httplib::Response& res) {
    std::string path = req.matches[1];
    if (path.empty()) path = "index.html";
    const UiFile* f = path.find("..") == std::string::npos ? FindUiFile(path) : nullptr;
    if (f == nullptr) {
      ReplyError(res, NotFound("no such console file: /ui/" + path));
      return;
    }
    res.set_header("Content-Security-Policy", kCsp);
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("X-Frame-Options", "DENY");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("Cache-Control", "no-cache");
    res.set_content(reinterpret_cast<const char*>(f->data), f->size,
                    std::string(ContentType(path)));
  });
}

}  // namespace vsl::api
