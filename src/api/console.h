// The web console's server side: its static files (ui/, built into the
// binary) at /ui/, and the live event stream it follows.
#pragma once

#include <httplib.h>

#include "api/api.h"

namespace vsl::api {

// GET /v1/events/stream: the catalog's events as server-sent events
// (text/event-stream), `id:` being the event id. Starts after the
// Last-Event-ID header's id, else after ?after=N, else after the newest event
// now. Each stream holds one of the HTTP server's worker threads, so at most
// `max_streams` run at once (503 beyond); each holds at most one page of
// events in memory, and sends a comment line as a heartbeat when quiet.
void RegisterEventStreamRoute(ApiContext& ctx, httplib::Server& server, int max_streams);

// GET /ui/... : the console's files with a strict Content-Security-Policy;
// GET /ui and / redirect to /ui/.
void RegisterUiRoutes(ApiContext& ctx, httplib::Server& server);

// The console's files, generated at build time from ui/ (cmake/EmbedUi.cmake).
struct UiFile {
  const char* path;  // relative to ui/, e.g. "index.html", "views/farms.js"
  const unsigned char* data;
  unsigned long size;
};
extern const UiFile kUiFiles[];
extern const unsigned long kUiFileCount;

}  // namespace vsl::api
