#include "api/http_server.h"

#include "api/auth.h"
#include "api/metrics.h"
#include "api/session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace vsl::api {
namespace {

using Clock = std::chrono::steady_clock;

// The request line and headers together; httplib's line reader has no bound.
constexpr size_t kMaxHeaderBytes = 64 * 1024;
// The largest body POST /v1/session (public) takes.
constexpr uint64_t kMaxSignInBody = 4096;
// Requests served on one kept-alive connection before it is closed.
constexpr int kMaxRequestsPerConnection = 100;
// How long a refused request's unread body is drained before the close, so
// that the client reads our reply instead of a reset.
constexpr auto kLingerTime = std::chrono::milliseconds(1000);

enum class Phase { kHeaders, kBody };

// When the connection the calling worker thread is about to serve was
// accepted: its first request's headers are due header_timeout after that,
// however long it waited in the pool's queue.
thread_local Clock::time_point t_accepted;

// One connection: a buffered socket Stream whose reads end at the phase's
// deadline, and what the handlers learned about the request being served.
class Connection : public httplib::Stream {
 public:
  // `listener` is the server's listening socket: INVALID_SOCKET once it stops.
  Connection(int fd, const HttpLimits& limits, const std::atomic<socket_t>* listener)
      : fd_(fd), limits_(limits), listener_(listener), buf_(16 * 1024) {}

  // A new request: its line and headers are due within header_timeout of
  // `start` (the accept for the first request, else now).
  void BeginRequest(Clock::time_point start) {
    phase_ = Phase::kHeaders;
    header_bytes_ = 0;
    deadline_ = start + std::chrono::seconds(limits_.header_timeout_s);
    timed_out_ = false;
    has_body_ = false;
    status_ = 0;
  }

  // The headers are in (httplib's setup_request hook): a capped body is due
  // within body_timeout; a streamed one only must not stall.
  void HeadersDone(httplib::Request& req) {
    phase_ = Phase::kBody;
    timed_out_ = false;
    deadline_ = IsStreamingRoute(req) ? std::optional<Clock::time_point>()
                                      : Clock::now() + std::chrono::seconds(limits_.body_timeout_s);
    bool chunked = req.has_header("Transfer-Encoding");
    // RFC 9112 §6.3: without Content-Length or Transfer-Encoding a request has
    // no body; httplib would read until the client closes.
    if (!chunked && !req.has_header("Content-Length") &&
        (req.method == "POST" || req.method == "PUT" || req.method == "PATCH")) {
      req.set_header("Content-Length", "0");
    }
    has_body_ = chunked || (req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0");
  }

  bool has_body() const { return has_body_; }
  bool timed_out() const { return timed_out_; }
  Phase phase() const { return phase_; }
  void set_status(int status) { status_ = status; }
  int status() const { return status_; }
  void MustClose() { must_close_ = true; }
  bool must_close() const { return must_close_ || (has_body_ && status_ >= 400); }

  // After a reply that left a body unread: stop sending, then read and
  // discard what the client still sends for a short while, then close.
  void Linger() {
    shutdown(fd_, SHUT_WR);
    auto until = Clock::now() + kLingerTime;
    char scratch[64 * 1024];
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (left <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) break;
      ssize_t n = recv(fd_, scratch, sizeof scratch, 0);
      if (n <= 0) break;
    }
  }

  // ---- httplib::Stream ----
  bool is_readable() const override { return off_ < len_ || WaitFor(POLLIN); }
  bool is_writable() const override { return WaitFor(POLLOUT); }

  ssize_t read(char* ptr, size_t size) override {
    if (off_ == len_ && phase_ == Phase::kBody && size >= buf_.size()) {
      // A large body read: straight into the caller's buffer.
      if (!WaitFor(POLLIN)) return -1;
      ssize_t n = recv(fd_, ptr, size, 0);
      if (n < 0 && errno == EINTR) n = recv(fd_, ptr, size, 0);
      return n;
    }
    if (off_ == len_) {
      if (!WaitFor(POLLIN)) return -1;
      ssize_t n = recv(fd_, buf_.data(), buf_.size(), 0);
      if (n < 0 && errno == EINTR) n = recv(fd_, buf_.data(), buf_.size(), 0);
      if (n <= 0) return n;
      off_ = 0;
      len_ = static_cast<size_t>(n);
    }
    size_t n = std::min(size, len_ - off_);
    if (phase_ == Phase::kHeaders) {
      if (header_bytes_ + n > kMaxHeaderBytes) return -1;
      header_bytes_ += n;
    }
    memcpy(ptr, buf_.data() + off_, n);
    off_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!WaitFor(POLLOUT)) return -1;
    ssize_t n = send(fd_, ptr, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) n = send(fd_, ptr, size, MSG_NOSIGNAL);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t l = sizeof a;
    if (getpeername(fd_, reinterpret_cast<sockaddr*>(&a), &l) == 0) Describe(a, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t l = sizeof a;
    if (getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &l) == 0) Describe(a, ip, port);
  }
  socket_t socket() const override { return fd_; }

 private:
  static void Describe(const sockaddr_storage& a, std::string& ip, int& port) {
    char text[INET6_ADDRSTRLEN] = {};
    if (a.ss_family == AF_INET) {
      auto* in = reinterpret_cast<const sockaddr_in*>(&a);
      inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
      port = ntohs(in->sin_port);
    } else if (a.ss_family == AF_INET6) {
      auto* in = reinterpret_cast<const sockaddr_in6*>(&a);
      inet_ntop(AF_INET6, &in->sin6_addr, text, sizeof text);
      port = ntohs(in->sin6_port);
    }
    ip = text;
  }

  // Waits for `events` for at most the idle timeout and, for reads, at most
  // until the phase's deadline (then the request is marked timed out). Gives
  // up at once when the server stops.
  bool WaitFor(short events) const {
    auto end = Clock::now() + std::chrono::seconds(limits_.idle_timeout_s);
    if (deadline_ && events == POLLIN && *deadline_ < end) end = *deadline_;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
      if (left <= 0) {
        timed_out_ = true;
        return false;
      }
      if (*listener_ == INVALID_SOCKET) return false;
      pollfd p{fd_, events, 0};
      int r = poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 250)));
      if (r > 0) return true;
      if (r < 0 && errno != EINTR) return false;
    }
  }

  int fd_;
  const HttpLimits& limits_;
  const std::atomic<socket_t>* listener_;
  std::vector<char> buf_;
  size_t off_ = 0, len_ = 0;
  Phase phase_ = Phase::kHeaders;
  size_t header_bytes_ = 0;
  std::optional<Clock::time_point> deadline_;
  mutable bool timed_out_ = false;
  bool has_body_ = false;
  bool must_close_ = false;
  int status_ = 0;
};

// The connection the calling worker thread serves (the handlers httplib calls
// run on that thread); null elsewhere.
thread_local Connection* t_conn = nullptr;
// Set while the listening thread hands over a connection the pool has no
// room for: it is answered 503 and closed at once.
thread_local bool t_reject = false;

// httplib's TaskQueue with `threads` workers and room for `waiting` more
// connections; beyond that a connection is refused (see t_reject), not queued.
class BoundedPool : public httplib::TaskQueue {
 public:
  BoundedPool(size_t threads, size_t waiting) : waiting_(waiting) {
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
  }

  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (jobs_.size() < waiting_) {
        jobs_.push_back({std::move(fn), Clock::now()});
        cv_.notify_one();
        return;
      }
    }
    t_reject = true;
    fn();  // our process_and_close_socket: a 503 without blocking, and close
    t_reject = false;
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void Work() {
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stopping, nothing left
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      t_accepted = job.accepted;
      job.fn();
    }
  }

  struct Job {
    std::function<void()> fn;
    Clock::time_point accepted;
  };

  const size_t waiting_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;  // guarded by mu_
  bool stop_ = false;     // guarded by mu_
  std::vector<std::thread> threads_;
};

// Public: health, signing in (the token is the body), and the console's
// static files (the page signs in itself).
bool IsPublicRoute(const httplib::Request& req) {
  bool get = req.method == "GET" || req.method == "HEAD";
  return (get && (req.path == "/v1/health" || req.path == "/" || req.path == "/ui" ||
                  req.path.rfind("/ui/", 0) == 0)) ||
         (req.method == "POST" && req.path == "/v1/session");
}

// What every request must pass once its headers are in, before its body is
// read: the token, then the body's framing and size. An error to reply with,
// or nullopt to go on.
std::optional<std::pair<int, Status>> Gate(const ApiContext& ctx, const HttpLimits& limits,
                                           const httplib::Request& req) {
  if (req.path == "/metrics") {
    Status s = CheckMetricsAccess(ctx, req);
    if (!s.ok()) return std::make_pair(HttpStatusFor(s.code()), s);
  } else if (!IsPublicRoute(req)) {
    // Any principal passes here; what it may reach is the route's to say.
    Status s = Authenticate(ctx, req).status();
    if (!s.ok()) return std::make_pair(HttpStatusFor(s.code()), s);
  }
  if (IsStreamingRoute(req)) return std::nullopt;
  if (req.has_header("Transfer-Encoding")) {
    return std::make_pair(
        411, InvalidArgument("Transfer-Encoding is not accepted on " + req.method + " " + req.path +
                             ": send the body with a Content-Length"));
  }
  if (req.get_header_value_count("Content-Length") > 1) {
    return std::make_pair(400, InvalidArgument("more than one Content-Length header"));
  }
  std::string text = req.get_header_value("Content-Length");
  if (text.empty()) return std::nullopt;
  uint64_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9' || n > (UINT64_MAX - 9) / 10) {
      return std::make_pair(400,
                            InvalidArgument("Content-Length '" + text + "' is not a byte count"));
    }
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  // Signing in is open to anyone: its body ({"token": ...}) is small, and
  // nobody without a token makes the server read more.
  if (req.path == "/v1/session" && n > kMaxSignInBody) {
    return std::make_pair(
        413, InvalidArgument("request body of " + std::to_string(n) +
                             " bytes is larger than the limit of " +
                             std::to_string(kMaxSignInBody) + " bytes for POST /v1/session"));
  }
  if (n > limits.max_body) {
    return std::make_pair(
        413, Status(Code::kInvalidArgument,
                    "request body of " + std::to_string(n) + " bytes is larger than the limit of " +
                        std::to_string(limits.max_body) + " bytes (vsl serve --api-max-body)"));
  }
  return std::nullopt;
}

void Refuse(httplib::Response& res, int http_status, const Status& s) {
  ReplyError(res, s);
  res.status = http_status;
  res.set_header("Connection", "close");
  if (t_conn != nullptr) t_conn->MustClose();
}

constexpr char k503[] =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
    "Content-Length: 100\r\n\r\n"
    "{\"error\":{\"code\":\"unavailable\",\"message\":\"too many connections (vsl serve "
    "--api-max-connections)\"}}\n";

}  // namespace

bool PeerClosed() {
  if (t_conn == nullptr) return false;
  pollfd p{t_conn->socket(), POLLIN | POLLRDHUP, 0};
  if (poll(&p, 1, 0) <= 0) return false;
  if ((p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) return true;
  char c;
  return recv(t_conn->socket(), &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

bool IsStreamingRoute(const httplib::Request& req) {
  return req.method == "PUT" && req.path.rfind("/v1/images/", 0) == 0 &&
         req.path.find('/', sizeof("/v1/images/") - 1) == std::string::npos;
}

Status ValidateLimits(const HttpLimits& l) {
  if (l.max_body < 1024) return InvalidArgument("--api-max-body must be at least 1KiB");
  if (l.max_connections < 1 || l.max_connections > 4096) {
    return InvalidArgument("--api-max-connections must be between 1 and 4096");
  }
  if (l.header_timeout_s < 1 || l.body_timeout_s < 1 || l.idle_timeout_s < 1) {
    return InvalidArgument("API timeouts must be at least 1 second");
  }
  return Status::Ok();
}

ApiServer::ApiServer(const ApiContext& ctx, const HttpLimits& limits) : ctx_(ctx), limits_(limits) {
  size_t n = static_cast<size_t>(limits_.max_connections);
  new_task_queue = [n] { return new BoundedPool(n, std::max<size_t>(4 * n, 64)); };
  set_read_timeout(limits_.idle_timeout_s, 0);
  set_write_timeout(limits_.idle_timeout_s, 0);
  set_keep_alive_timeout(limits_.header_timeout_s);
  set_keep_alive_max_count(kMaxRequestsPerConnection);
  set_expect_100_continue_handler([this](const httplib::Request& req, httplib::Response& res) {
    auto refused = Gate(ctx_, limits_, req);
    if (!refused) return 100;
    Refuse(res, refused->first, refused->second);
    return refused->first;
  });
  set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    auto refused = Gate(ctx_, limits_, req);
    if (!refused) return HandlerResponse::Unhandled;
    Refuse(res, refused->first, refused->second);
    return HandlerResponse::Handled;
  });
  set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;  // a handler's own error reply
    int status = res.status;
    if (t_conn != nullptr && t_conn->timed_out()) {
      // httplib gave up reading: the deadline or an idle stall passed.
      bool headers = t_conn->phase() == Phase::kHeaders;
      ReplyError(res, InvalidArgument(
                          std::string(headers ? "request line and headers" : "request body") +
                          " did not arrive in time (vsl serve " +
                          (headers ? "--api-header-timeout " + std::to_string(limits_.header_timeout_s)
                                   : "--api-body-timeout " + std::to_string(limits_.body_timeout_s)) +
                          " s)"));
      status = 408;
      t_conn->MustClose();
    } else if (status == 404) {
      ReplyError(res, NotFound("no such API path: " + req.method + " " + req.path));
    } else {
      ReplyError(res, Status(Code::kInvalidArgument, "HTTP " + std::to_string(status)));
    }
    res.status = status;
  });
  set_logger([](const httplib::Request&, const httplib::Response& res) {
    if (t_conn != nullptr) t_conn->set_status(res.status);
  });
}

bool ApiServer::process_and_close_socket(socket_t sock) {
  if (t_reject) {
    (void)send(sock, k503, sizeof k503 - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    ::shutdown(sock, SHUT_RDWR);
    close(sock);
    return false;
  }
  // httplib sends a reply's headers and body in two writes; without this the
  // body waits for the client's delayed ACK (40 ms) on kept-alive connections.
  int one = 1;
  setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  Connection conn(sock, limits_, &svr_sock_);
  t_conn = &conn;
  bool ok = false;
  for (int n = 0; n < kMaxRequestsPerConnection && svr_sock_ != INVALID_SOCKET; ++n) {
    conn.BeginRequest(n == 0 ? t_accepted : Clock::now());
    bool closed = false;
    bool last = n + 1 == kMaxRequestsPerConnection;
    ok = process_request(conn, last, closed, [&conn](httplib::Request& req) { conn.HeadersDone(req); });
    if (!ok || closed || conn.must_close()) break;
  }
  t_conn = nullptr;
  if (conn.must_close() && conn.has_body()) conn.Linger();
  ::shutdown(sock, SHUT_RDWR);
  close(sock);
  return ok;
}

}  // namespace vsl::api
