// GET /v1/events/stream (api/console.h).
#include <atomic>
#include <charconv>
#include <chrono>
#include <memory>
#include <thread>

#include "api/auth.h"
#include "api/console.h"
#include "api/http_server.h"
#include "api/records_json.h"
#include "catalog/catalog.h"

namespace vsl::api {
namespace {

using Clock = std::chrono::steady_clock;

// How often a stream asks the catalog for new events (the catalog may be
// shared by several `vsl serve`, so there is nothing to wait on but the
// rows), how many it takes at once, and how long it stays silent before a
// heartbeat.
constexpr auto kPollInterval = std::chrono::milliseconds(250);
constexpr int64_t kPage = 100;
constexpr auto kHeartbeat = std::chrono::seconds(5);

struct Slots {
  explicit Slots(int n) : max(n) {}
  const int max;
  std::atomic<int> used{0};
};

struct StreamState {
  Principal who;
  int64_t after = 0;
  Clock::time_point last_write = Clock::now();
  bool opened = false;
};

Result<int64_t> NewestEventId(ApiContext& ctx) {
  int64_t id = 0;
  VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(catalog::Rows rows, tx.Query("SELECT COALESCE(MAX(id), 0) FROM events"));
    if (!rows.empty()) id = rows[0].Int(0);
    return Status::Ok();
  }));
  return id;
}

Result<int64_t> StartAfter(ApiContext& ctx, const httplib::Request& req) {
  if (req.has_header("Last-Event-ID")) {
    std::string v = req.get_header_value("Last-Event-ID");
    int64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || n < 0) {
      return InvalidArgument("header Last-Event-ID: '" + v + "' is not an event id");
    }
    return n;
  }
  VSL_ASSIGN_OR_RETURN(auto after, QueryInt(req, "after"));
  if (after) {
    if (*after < 0) return InvalidArgument("query parameter 'after': must not be negative");
    return *after;
  }
  return NewestEventId(ctx);
}

// One turn of a stream: new events (one page) or, after a quiet while, a
// heartbeat. False ends the stream (the client went away, the catalog failed).
bool Turn(ApiContext& ctx, StreamState& st, httplib::DataSink& sink) {
  if (!st.opened) {
    st.opened = true;
    // Tells EventSource how long to wait before it reconnects, and from
    // where: the id sets its Last-Event-ID (a block without data fires no
    // event), so a stream that drops before its first event resumes after
    // this point, not after whatever is newest when it reconnects.
    const std::string after = std::to_string(st.after);
    std::string hello = "retry: 2000\nid: " + after + "\n: vsl events after " + after + "\n\n";
    if (!sink.write(hello.data(), hello.size())) return false;
  }
  std::vector<catalog::Event> events;
  int64_t page_end = st.after;
  Status s = ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
    catalog::EventFilter f;
    f.after_id = st.after;
    f.limit = kPage;
    VSL_ASSIGN_OR_RETURN(events, ctx.catalog->ListEvents(tx, f));
    // The page's end, whatever the principal may see of it.
    if (!events.empty()) page_end = events.back().id;
    VSL_ASSIGN_OR_RETURN(events, VisibleEvents(ctx, tx, st.who, std::move(events)));
    return Status::Ok();
  });
  if (!s.ok()) {
    std::string msg = "event: error\ndata: " + Json({{"error", s.ToString()}}).dump() + "\n\n";
    sink.write(msg.data(), msg.size());
    return false;
  }
  bool moved = page_end > st.after;
  st.after = page_end;
  if (!events.empty()) {
    std::string out;
    for (const auto& e : events) {
      out += "id: " + std::to_string(e.id) + "\nevent: event\ndata: " +
             EventJson(e).dump(-1, ' ', false, Json::error_handler_t::replace) + "\n\n";
    }
    st.last_write = Clock::now();
    return sink.write(out.data(), out.size());
  }
  if (moved) return true;  // a page of others' events: read on at once
  if (Clock::now() - st.last_write >= kHeartbeat) {
    st.last_write = Clock::now();
    static constexpr char kBeat[] = ": heartbeat\n\n";
    return sink.write(kBeat, sizeof kBeat - 1);
  }
  // Nothing new: wait a little, but notice a client that went away (its
  // slot is free at once, not at the next failed write).
  std::this_thread::sleep_for(kPollInterval);
  return !PeerClosed() && sink.is_writable();
}

}  // namespace

void RegisterEventStreamRoute(ApiContext& ctx, httplib::Server& server, int max_streams) {
  auto slots = std::make_shared<Slots>(max_streams);
  server.Get(
      "/v1/events/stream",
      Authed(ctx, [&ctx, slots](const Principal& who, const httplib::Request& req,
                                httplib::Response& res) -> Status {
        VSL_ASSIGN_OR_RETURN(int64_t after, StartAfter(ctx, req));
        if (slots->used.fetch_add(1) >= slots->max) {
          slots->used.fetch_sub(1);
          return Unavailable("too many event streams (" + std::to_string(slots->max) +
                             " at once, a quarter of vsl serve --api-max-connections)");
        }
        auto st = std::make_shared<StreamState>();
        st->who = who;
        st->after = after;
        res.set_header("Cache-Control", "no-store");
        res.set_header("X-Accel-Buffering", "no");
        res.set_chunked_content_provider(
            "text/event-stream",
            [&ctx, st](size_t, httplib::DataSink& sink) { return Turn(ctx, *st, sink); },
            [slots](bool) { slots->used.fetch_sub(1); });
        return Status::Ok();
      }));
}

}  // namespace vsl::api
