#include "cli/api_client.h"

#include <fcntl.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "api/api.h"
#include "cli/commands.h"

namespace vsl::cli {
namespace {

constexpr char kDefaultApi[] = "http://127.0.0.1:7780";

std::string Env(const char* name) {
  const char* v = getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

Code CodeFromName(const std::string& name) {
  for (int i = 0; i <= static_cast<int>(Code::kDataLoss); ++i) {
    auto c = static_cast<Code>(i);
    if (api::ErrorCode(c) == name) return c;
  }
  return Code::kInternal;
}

}  // namespace

void AddApiOptions(CLI::App* cmd, ApiOptions* o) {
  cmd->add_option("--api", o->api, "API address (default $VSL_API or http://127.0.0.1:7780)");
  cmd->add_option("--token", o->token, "bearer token (default $VSL_TOKEN or DATA/admin.token)");
  cmd->add_option("--data", o->data, "vsl serve's data directory, for its admin.token (default $VSL_DATA)");
  cmd->add_flag("--json", o->json, "print JSON instead of a table");
}

Result<std::unique_ptr<ApiClient>> ApiClient::Connect(const ApiOptions& options) {
  std::unique_ptr<ApiClient> c(new ApiClient());
  c->address_ = !options.api.empty() ? options.api : Env("VSL_API");
  if (c->address_.empty()) c->address_ = kDefaultApi;
  if (c->address_.find("://") == std::string::npos) c->address_ = "http://" + c->address_;
  while (!c->address_.empty() && c->address_.back() == '/') c->address_.pop_back();
  c->token_ = !options.token.empty() ? options.token : Env("VSL_TOKEN");
  if (c->token_.empty()) {
    std::string data = !options.data.empty() ? options.data : Env("VSL_DATA");
    if (data.empty()) return InvalidArgument("no token: give --token, VSL_TOKEN or --data DIR (with DIR/admin.token)");
    std::ifstream in(data + "/admin.token");
    if (!in) return InvalidArgument("no token: cannot read " + data + "/admin.token");
    std::getline(in, c->token_);
    if (c->token_.empty()) return InvalidArgument(data + "/admin.token is empty");
  }
  c->client_ = std::make_unique<httplib::Client>(c->address_);
  if (!c->client_->is_valid()) return InvalidArgument("bad API address '" + c->address_ + "'");
  c->client_->set_bearer_token_auth(c->token_.c_str());
  c->client_->set_connection_timeout(5, 0);
  c->client_->set_read_timeout(900, 0);  // ?wait=true calls last as long as the request
  c->client_->set_write_timeout(60, 0);
  return c;
}

ApiClient::~ApiClient() = default;

Result<Json> ApiClient::Finish(const std::string& method, const std::string& path, const void* result) {
  const auto& r = *static_cast<const httplib::Result*>(result);
  if (!r) {
    return Unavailable("cannot reach vsl serve at " + address_ + " (" + method + " " + path +
                       "): " + httplib::to_string(r.error()));
  }
  Json body = Json::parse(r->body, nullptr, false);
  if (r->status >= 400) {
    if (!body.is_discarded() && body.is_object() && body.contains("error")) {
      const Json& e = body["error"];
      return Status(CodeFromName(e.value("code", "internal")), e.value("message", "(no message)"));
    }
    return Internal(method + " " + path + ": HTTP " + std::to_string(r->status));
  }
  if (body.is_discarded()) return Internal(method + " " + path + ": the reply is not JSON");
  return body;
}

Result<Json> ApiClient::Get(const std::string& path) {
  auto r = client_->Get(path.c_str());
  return Finish("GET", path, &r);
}

Result<Json> ApiClient::Post(const std::string& path, const Json& body) {
  // Arguments from the command line may hold any bytes; ones that are not
  // UTF-8 go as U+FFFD (the server then names the field) instead of throwing.
  auto r = client_->Post(path.c_str(), body.dump(-1, ' ', false, Json::error_handler_t::replace), "application/json");
  return Finish("POST", path, &r);
}

Result<Json> ApiClient::Put(const std::string& path, const Json& body) {
  auto r = client_->Put(path.c_str(), body.dump(-1, ' ', false, Json::error_handler_t::replace), "application/json");
  return Finish("PUT", path, &r);
}

Result<Json> ApiClient::Delete(const std::string& path) {
  auto r = client_->Delete(path.c_str());
  return Finish("DELETE", path, &r);
}

Result<Json> ApiClient::PutFile(const std::string& path, const std::string& file, std::string* sha256,
                               const std::function<void(uint64_t, uint64_t)>& progress) {
  int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("opening " + file, errno);
  std::unique_ptr<int, void (*)(int*)> closer(&fd, [](int* f) { close(*f); });
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoError("stat " + file, errno);
  if (!S_ISREG(st.st_mode)) return InvalidArgument(file + " is not a regular file");
  uint64_t total = static_cast<uint64_t>(st.st_size);
  if (total == 0) return InvalidArgument(file + " is empty");
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!md || EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr) != 1) return Internal("OpenSSL: SHA-256 init failed");
  std::vector<char> buf(1 << 20);
  uint64_t hashed = 0;  // bytes digested so far: pieces are asked for in order
  Status read_error;
  auto provider = [&](size_t offset, size_t length, httplib::DataSink& sink) -> bool {
    if (offset != hashed) {
      read_error = Internal("upload of " + file + ": piece at byte " + std::to_string(offset) + " asked out of order");
      return false;
    }
    size_t want = std::min(length, buf.size());
    ssize_t n = pread(fd, buf.data(), want, static_cast<off_t>(offset));
    if (n <= 0) {
      read_error = n < 0 ? ErrnoError("reading " + file, errno)
                         : IoError(file + " shrank while being uploaded (at byte " + std::to_string(offset) + ")");
      return false;
    }
    EVP_DigestUpdate(md.get(), buf.data(), static_cast<size_t>(n));
    hashed += static_cast<uint64_t>(n);
    if (progress) progress(hashed, total);
    return sink.write(buf.data(), static_cast<size_t>(n));
  };
  client_->set_read_timeout(24 * 3600, 0);
  auto r = client_->Put(path.c_str(), static_cast<size_t>(total), provider, "application/octet-stream");
  client_->set_read_timeout(900, 0);
  if (!read_error.ok()) return read_error;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(md.get(), digest, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  sha256->clear();
  for (unsigned i = 0; i < len; ++i) {
    sha256->push_back(kHex[digest[i] >> 4]);
    sha256->push_back(kHex[digest[i] & 15]);
  }
  return Finish("PUT", path, &r);
}

int Fail(const std::string& what, const Status& status) {
  std::string msg = status.message();
  for (char& c : msg) {
    if (c == '\n') c = ' ';
  }
  fprintf(stderr, "vsl %s: %s: %s\n", what.c_str(), std::string(api::ErrorCode(status.code())).c_str(),
          msg.c_str());
  return status.code() == Code::kInvalidArgument ? kExitUsage : kExitFailure;
}

void PrintTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(headers.size());
  for (size_t i = 0; i < headers.size(); ++i) width[i] = headers[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < headers.size(); ++i) {
      std::string c = i < cells.size() ? cells[i] : "";
      if (i + 1 < headers.size()) c.resize(width[i] + 2, ' ');
      out += c;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    printf("%s\n", out.c_str());
  };
  line(headers);
  for (const auto& row : rows) line(row);
}

std::string Cell(const Json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>().empty() ? "-" : v.get<std::string>();
  return v.dump();
}

std::string HumanSize(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) snprintf(buf, sizeof buf, "%lluB", static_cast<unsigned long long>(bytes));
  else snprintf(buf, sizeof buf, "%.1f%s", v, kUnits[u]);
  return buf;
}

Result<uint64_t> ParseSizeArg(const std::string& text) { return api::ParseSize(text); }

int WithClient(const std::string& what, const ApiOptions& options, const std::function<Status(ApiClient&)>& body) {
  auto c = ApiClient::Connect(options);
  if (!c.ok()) return Fail(what, c.status());
  Status s = body(**c);
  return s.ok() ? kExitOk : Fail(what, s);
}

}  // namespace vsl::cli
