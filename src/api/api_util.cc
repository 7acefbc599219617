// The helpers every route shares: error replies, the token check, parsing.
#include <cctype>
#include <charconv>
#include <exception>

#include "api/api.h"
#include "api/auth.h"
#include "util/names.h"

namespace vsl::api {

std::string_view ErrorCode(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kNotFound: return "not_found";
    case Code::kAlreadyExists: return "already_exists";
    case Code::kFailedPrecondition: return "failed_precondition";
    case Code::kOutOfRange: return "out_of_range";
    case Code::kResourceExhausted: return "resource_exhausted";
    case Code::kPermissionDenied: return "permission_denied";
    case Code::kUnauthenticated: return "unauthenticated";
    case Code::kIoError: return "io_error";
    case Code::kUnavailable: return "unavailable";
    case Code::kAborted: return "aborted";
    case Code::kInternal: return "internal";
    case Code::kUnimplemented: return "unimplemented";
    case Code::kDataLoss: return "data_loss";
  }
  return "internal";
}

int HttpStatusFor(Code code) {
  switch (code) {
    case Code::kOk: return 200;
    case Code::kInvalidArgument: return 400;
    case Code::kOutOfRange: return 400;
    case Code::kNotFound: return 404;
    case Code::kAlreadyExists: return 409;
    case Code::kFailedPrecondition: return 409;
    case Code::kAborted: return 409;
    case Code::kResourceExhausted: return 507;
    case Code::kPermissionDenied: return 403;
    case Code::kUnauthenticated: return 401;
    case Code::kUnavailable: return 503;
    case Code::kUnimplemented: return 501;
    case Code::kIoError:
    case Code::kInternal:
    case Code::kDataLoss: return 500;
  }
  return 500;
}

void ReplyJson(httplib::Response& res, const Json& body, int http_status) {
  res.status = http_status;
  // Replies may echo what a client sent; bytes that are not UTF-8 become
  // U+FFFD instead of an exception.
  res.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n", "application/json");
}

void ReplyError(httplib::Response& res, const Status& status) {
  Json body = {{"error", {{"code", std::string(ErrorCode(status.code()))}, {"message", status.message()}}}};
  ReplyJson(res, body, HttpStatusFor(status.code()));
}

Result<Json> ParseBody(const httplib::Request& req) {
  if (req.body.empty()) return Json::object();
  Json j;
  try {
    j = Json::parse(req.body);
  } catch (const Json::parse_error& e) {
    return InvalidArgument("request body is not valid JSON: error at byte " + std::to_string(e.byte));
  }
  if (!j.is_object()) return InvalidArgument("request body must be a JSON object");
  return j;
}

namespace {

const Json* Field(const Json& body, std::string_view field) {
  auto it = body.find(std::string(field));
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

Status WrongType(std::string_view field, std::string_view want) {
  return InvalidArgument("field '" + std::string(field) + "': expected " + std::string(want));
}

Status Missing(std::string_view field) {
  return InvalidArgument("field '" + std::string(field) + "': missing");
}

}  // namespace

Result<std::optional<std::string>> OptionalString(const Json& body, std::string_view field) {
  const Json* f = Field(body, field);
  if (f == nullptr) return std::optional<std::string>();
  if (!f->is_string()) return WrongType(field, "a string");
  return std::optional<std::string>(f->get<std::string>());
}

Result<std::string> RequiredString(const Json& body, std::string_view field) {
  VSL_ASSIGN_OR_RETURN(auto v, OptionalString(body, field));
  if (!v) return Missing(field);
  if (v->empty()) return InvalidArgument("field '" + std::string(field) + "': must not be empty");
  return *v;
}

Result<std::optional<int64_t>> OptionalInt(const Json& body, std::string_view field) {
  const Json* f = Field(body, field);
  if (f == nullptr) return std::optional<int64_t>();
  if (!f->is_number_integer()) return WrongType(field, "an integer");
  return std::optional<int64_t>(f->get<int64_t>());
}

Result<int64_t> RequiredInt(const Json& body, std::string_view field) {
  VSL_ASSIGN_OR_RETURN(auto v, OptionalInt(body, field));
  if (!v) return Missing(field);
  return *v;
}

Result<std::optional<bool>> OptionalBool(const Json& body, std::string_view field) {
  const Json* f = Field(body, field);
  if (f == nullptr) return std::optional<bool>();
  if (!f->is_boolean()) return WrongType(field, "true or false");
  return std::optional<bool>(f->get<bool>());
}

Result<uint64_t> ParseSize(std::string_view text) {
  std::string_view t = text;
  while (!t.empty() && isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
  if (ec != std::errc() || p == t.data()) return InvalidArgument("'" + std::string(text) + "' is not a size");
  std::string unit(p, t.data() + t.size());
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  for (char& c : unit) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  uint64_t mult = 0;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "KB") mult = 1000ULL;
  else if (unit == "MB") mult = 1000ULL * 1000;
  else if (unit == "GB") mult = 1000ULL * 1000 * 1000;
  else if (unit == "TB") mult = 1000ULL * 1000 * 1000 * 1000;
  else if (unit == "K" || unit == "KIB") mult = 1ULL << 10;
  else if (unit == "M" || unit == "MIB") mult = 1ULL << 20;
  else if (unit == "G" || unit == "GIB") mult = 1ULL << 30;
  else if (unit == "T" || unit == "TIB") mult = 1ULL << 40;
  else return InvalidArgument("'" + std::string(text) + "': unknown size unit '" + unit + "' (use MB, GB, MiB, GiB)");
  if ((n != 0 && mult > UINT64_MAX / n) || n * mult > kMaxSizeBytes) {
    return InvalidArgument("'" + std::string(text) + "' is too large (at most 4 EiB)");
  }
  return n * mult;
}

Result<std::optional<uint64_t>> OptionalSize(const Json& body, std::string_view field) {
  const Json* f = Field(body, field);
  if (f == nullptr) return std::optional<uint64_t>();
  if (f->is_number_unsigned()) {
    VSL_RETURN_IF_ERROR(CheckSize("field '" + std::string(field) + "'", f->get<uint64_t>()));
    return std::optional<uint64_t>(f->get<uint64_t>());
  }
  if (f->is_number_integer()) return InvalidArgument("field '" + std::string(field) + "': must not be negative");
  if (!f->is_string()) return WrongType(field, "a size (bytes, or a string like \"8GiB\")");
  auto s = ParseSize(f->get<std::string>());
  if (!s.ok()) return s.status().Annotate("field '" + std::string(field) + "'");
  return std::optional<uint64_t>(*s);
}

Result<uint64_t> RequiredSize(const Json& body, std::string_view field) {
  VSL_ASSIGN_OR_RETURN(auto v, OptionalSize(body, field));
  if (!v) return Missing(field);
  return *v;
}

std::optional<std::string> QueryParam(const httplib::Request& req, const std::string& name) {
  if (!req.has_param(name.c_str())) return std::nullopt;
  return req.get_param_value(name.c_str());
}

Result<std::optional<int64_t>> QueryInt(const httplib::Request& req, const std::string& name) {
  auto v = QueryParam(req, name);
  if (!v) return std::optional<int64_t>();
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || p != v->data() + v->size()) {
    return InvalidArgument("query parameter '" + name + "': '" + *v + "' is not an integer");
  }
  return std::optional<int64_t>(n);
}

bool QueryFlag(const httplib::Request& req, const std::string& name) {
  auto v = QueryParam(req, name);
  return v && (*v == "true" || *v == "1" || v->empty());
}

httplib::Server::Handler Authed(const ApiContext& ctx, PrincipalHandler handler) {
  return [&ctx, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    Result<Principal> who = Authenticate(ctx, req);
    Status s = who.status();
    if (s.ok()) {
      try {
        s = handler(*who, req, res);
      } catch (const std::exception& e) {
        s = Internal(std::string("unexpected exception: ") + e.what());
      }
    }
    if (!s.ok()) ReplyError(res, s);
  };
}

httplib::Server::Handler Authed(const ApiContext& ctx, Handler handler) {
  return Authed(ctx, [handler = std::move(handler)](const Principal& p, const httplib::Request& req,
                                                    httplib::Response& res) -> Status {
    VSL_RETURN_IF_ERROR(AdminOnly(p, req.method + " " + req.path));
    return handler(req, res);
  });
}

}  // namespace vsl::api

#include <openssl/rand.h>

namespace vsl::api {

Result<std::string> RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    return Internal("the CSPRNG (RAND_bytes) failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

}  // namespace vsl::api
