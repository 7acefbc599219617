// The CLI's side of the API: finding `vsl serve` and its token, JSON calls
// with errors turned into one-line reasons, and table printing. Every
// command group that talks to `vsl serve` (array, host, disk, farm, ...)
// uses it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "util/status.h"

namespace httplib {
class Client;
}

namespace vsl::cli {

using Json = nlohmann::json;

// Where the API is and how to prove who we are; filled by AddApiOptions.
struct ApiOptions {
  std::string api;    // --api, else $VSL_API, else http://127.0.0.1:7780
  std::string token;  // --token, else $VSL_TOKEN, else <data>/admin.token
  std::string data;   // --data DIR (else $VSL_DATA): where admin.token is
  bool json = false;  // --json: print the API's JSON instead of tables
};

// Adds --api, --token, --data and --json to a (leaf) command.
void AddApiOptions(CLI::App* cmd, ApiOptions* options);

class ApiClient {
 public:
  // Resolves the address and the token; InvalidArgument when no token is
  // to be found.
  static Result<std::unique_ptr<ApiClient>> Connect(const ApiOptions& options);
  ~ApiClient();

  // JSON calls. A reply with {"error":{"code","message"}} becomes a Status
  // with that code and message; a refused connection is Unavailable naming
  // the address.
  Result<Json> Get(const std::string& path);
  Result<Json> Post(const std::string& path, const Json& body);
  Result<Json> Put(const std::string& path, const Json& body);
  Result<Json> Delete(const std::string& path);

  // Uploads the regular file `file` as the body of PUT `path`, streamed from
  // disk in 1 MiB pieces (never whole in memory). *sha256 gets the SHA-256 of
  // the bytes sent (lowercase hex); progress(sent, total) runs as they go.
  // Waits as long as the server needs to answer (an import copies the image).
  Result<Json> PutFile(const std::string& path, const std::string& file, std::string* sha256,
                       const std::function<void(uint64_t sent, uint64_t total)>& progress);

  const std::string& address() const { return address_; }

 private:
  ApiClient() = default;
  Result<Json> Finish(const std::string& method, const std::string& path, const void* result);

  std::string address_;
  std::string token_;
  std::unique_ptr<httplib::Client> client_;
};

// Prints "vsl <what>: <reason>" on stderr and returns the exit status for it
// (kExitUsage for invalid arguments, kExitFailure otherwise).
int Fail(const std::string& what, const Status& status);

// Prints rows under headers, columns aligned, on stdout.
void PrintTable(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows);

// A JSON value as a table cell: strings bare, null as "-", the rest dumped.
std::string Cell(const Json& v);
// 1073741824 -> "1.0GiB".
std::string HumanSize(uint64_t bytes);
// "64GiB", "512MB", "1024" -> bytes; InvalidArgument naming the text.
Result<uint64_t> ParseSizeArg(const std::string& text);

// Runs `body` (which uses a connected client) and maps its Status to an exit
// status via Fail(what, ...). For the commands' run callbacks.
int WithClient(const std::string& what, const ApiOptions& options,
               const std::function<Status(ApiClient&)>& body);

}  // namespace vsl::cli
