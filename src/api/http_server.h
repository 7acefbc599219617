// The API's HTTP server: cpp-httplib's Server with the doors an open port
// needs. cpp-httplib 0.11 reads a request body whole before any handler runs
// (of any size, chunked or not), gives a request's headers no overall
// deadline (only each read has one), and serves connections from a fixed pool
// of 8 threads; so a client without the token could fill memory, and eight
// slow clients could keep everyone else out. ApiServer keeps httplib's
// parsing and routing and puts its own connection loop around them:
//
// * the token is checked when the headers have arrived, before any byte of
//   the body is read; a refused request gets its JSON error and the
//   connection is closed (the body is never read into memory);
// * bodies are capped (limits.max_body), except on the streaming routes
//   (PUT /v1/images/{name}), whose handler writes them to disk as they come;
// * the request line and headers must arrive within header_timeout (64 KiB
//   at most), a capped body within body_timeout, and no read or write may
//   stall longer than idle_timeout;
// * max_connections connections are served at once, 4x as many (at least
//   64) more wait, and further ones get 503 at once; a connection's first
//   headers are due header_timeout after its accept, so a slow client holds
//   a slot for at most that long, and one that waited too long in the queue
//   is dropped as soon as a worker picks it up.
#pragma once

#include <cstddef>

#include <httplib.h>

#include "api/api.h"

namespace vsl::api {

struct HttpLimits {
  size_t max_body = 16u << 20;  // bytes; `vsl serve --api-max-body`
  int max_connections = 32;     // served at once; `--api-max-connections`
  int header_timeout_s = 10;    // request line + headers; `--api-header-timeout`
  int body_timeout_s = 60;      // a whole capped body
  int idle_timeout_s = 10;      // any one read or write
};

// Event streams (GET /v1/events/stream) served at once: each holds a worker
// thread for as long as it runs, so a quarter of max_connections (at least
// one), leaving the rest to everyone else.
inline int MaxEventStreams(const HttpLimits& l) {
  return l.max_connections / 4 > 1 ? l.max_connections / 4 : 1;
}

// Checks `limits`; InvalidArgument naming the flag otherwise.
Status ValidateLimits(const HttpLimits& limits);

class ApiServer : public httplib::Server {
 public:
  // ctx (its admin token) must outlive the server.
  ApiServer(const ApiContext& ctx, const HttpLimits& limits);

  const HttpLimits& limits() const { return limits_; }

 private:
  bool process_and_close_socket(socket_t sock) override;

  const ApiContext& ctx_;
  HttpLimits limits_;
};

// For a long reply (the event stream) on an HTTP worker thread: true once the
// client of the request being served closed its side of the connection.
bool PeerClosed();

// True for the routes whose body streams to disk instead of memory: the body
// cap does not apply to them (the token check does).
bool IsStreamingRoute(const httplib::Request& req);

}  // namespace vsl::api
