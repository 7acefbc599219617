// The RBD backend over librbd: a registry of cluster handles (one per conf,
// user and keyring in the process), synchronous and asynchronous image I/O.
#include "volume/rbd_backend.h"

#include <rados/librados.h>
#include <rados/librados.hpp>
#include <rbd/librbd.h>
#include <rbd/librbd.hpp>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <list>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "util/countdown.h"
#include "util/rbd_clients.h"

namespace vsl::volume {
namespace {

std::string Strerror(int r) { return std::strerror(r < 0 ? -r : r); }

// How long connecting, and each monitor command, may take.
constexpr const char* kTimeoutSeconds = "15";

// librbd settings of the gateway's data path (issue 9); like
// rbd_skip_partial_discard they are vsl's, set after the conf file is read
// (an option this librbd does not know is left out):
//  * rbd_non_blocking_aio = false: librbd starts an aio_* call in the
//    caller's thread (the connection's loop) instead of handing it to its
//    io_context thread first: one thread hand-off, and its wake-up, less per
//    I/O. That hand-off is for callers that must never block; in Ceph 16
//    nothing on the aio path blocks (image refresh, the exclusive lock, held
//    anyway, write blocking for snapshots and QoS queue the request and
//    resume it asynchronously) but the objecter's in-flight budget, hence:
//  * objecter_inflight_ops = 0, objecter_inflight_op_bytes = 0 (no limit):
//    past the budget (1024 ops, 100 MiB by default) librados makes the
//    submitting thread wait for replies, which would stall an event loop and
//    every connection on it (file LUNs too) while a cluster is slow or down.
//    What the gateway has in flight is bounded before librbd by its own
//    limits (each session's command window, queue_depth; the solicited
//    write data, write_buffer_budget_mib), and those bytes are already held
//    in its own buffers.
constexpr std::pair<const char*, const char*> kDataPathSettings[] = {
    {"rbd_non_blocking_aio", "false"},
    {"objecter_inflight_ops", "0"},
    {"objecter_inflight_op_bytes", "0"},
};

// librados_thread_count, librados' default of 2 unless the conf file says
// otherwise: the io_context threads that run librados' and librbd's
// completions, and with them the callback that posts an I/O's answer to the
// connection's loop. Two such threads take turns on the same strands
// (librados finishes one client's replies in order) and wake each other;
// one does the same work with fewer wake-ups. Measured on a 2-core machine
// (bench/rbd.sh, bench/README.md): 4 KiB reads at queue depth 32 through
// the gateway went from 0.81 to 0.90 of librbd's own rate, writes and 1 MiB
// I/O unchanged or better. So where the conf file leaves it at librados'
// default, vsl sets 1 (rados_conf_set overrides the file, hence the check).
// The cost: one cluster handle's completions run on one thread (about 10 us
// of it per I/O), which a gateway serving tens of thousands of RBD I/Os a
// second from one cluster would raise ([client] librados_thread_count = 4
// in its ceph.conf). Nothing vsl runs on that thread waits for librbd:
// completions only post to a loop, or start the next asynchronous call.
constexpr const char* kThreadCountOption = "librados_thread_count";
constexpr const char* kThreadCountLibradosDefault = "2";
constexpr const char* kThreadCountVsl = "1";

// For the next vsl serve on this data directory (util/rbd_clients.h).
void NoteClient(rados_t cluster) {
  char fsid[64] = {};
  char* addrs = nullptr;
  if (rados_cluster_fsid(cluster, fsid, sizeof fsid - 1) < 0 || rados_getaddrs(cluster, &addrs) != 0) return;
  util::NoteRbdClient(fsid, addrs);
  std::free(addrs);
}

// A connected cluster handle and its pools' I/O contexts.
class Cluster {
 public:
  ~Cluster() {
    for (auto& [pool, io] : pools_) rados_ioctx_destroy(io);
    if (cluster_ != nullptr) rados_shutdown(cluster_);
  }

  static Result<std::shared_ptr<Cluster>> Connect(const RbdImage& w) {
    const std::string user = w.user.empty() ? "admin" : w.user;
    const std::string conf = w.conf.empty() ? "/etc/ceph/ceph.conf" : w.conf;
    const std::string where = "Ceph as client." + user + " (conf " + conf +
                              (w.keyring.empty() ? "" : ", keyring " + w.keyring) + ")";
    if (::access(conf.c_str(), R_OK) != 0)
      return InvalidArgument("ceph conf " + conf + ": " + Strerror(errno));
    if (!w.keyring.empty() && ::access(w.keyring.c_str(), R_OK) != 0)
      return InvalidArgument("keyring " + w.keyring + ": " + Strerror(errno));
    auto c = std::make_shared<Cluster>();
    int r = rados_create2(&c->cluster_, "ceph", ("client." + user).c_str(), 0);
    if (r < 0) return IoError(where + ": create the cluster handle: " + Strerror(r));
    // As the rbd array driver: the keyring before and after the conf file,
    // so that the extent's keyring wins over one named in the file.
    if (!w.keyring.empty()) rados_conf_set(c->cluster_, "keyring", w.keyring.c_str());
    r = rados_conf_read_file(c->cluster_, conf.c_str());
    if (r < 0) return InvalidArgument("ceph conf " + conf + ": " + Strerror(r));
    if (!w.keyring.empty()) rados_conf_set(c->cluster_, "keyring", w.keyring.c_str());
    for (const char* opt : {"client_mount_timeout", "rados_mon_op_timeout"})
      rados_conf_set(c->cluster_, opt, kTimeoutSeconds);
    // UNMAP promises zeros: a discard of part of an object must zero it.
    r = rados_conf_set(c->cluster_, "rbd_skip_partial_discard", "false");
    if (r < 0) return Internal(where + ": set rbd_skip_partial_discard: " + Strerror(r));
    for (const auto& [opt, val] : kDataPathSettings) {
      r = rados_conf_set(c->cluster_, opt, val);
      if (r < 0 && r != -ENOENT) return Internal(where + ": set " + opt + ": " + Strerror(r));
    }
    char threads[16] = {};
    if (rados_conf_get(c->cluster_, kThreadCountOption, threads, sizeof threads - 1) == 0 &&
        std::strcmp(threads, kThreadCountLibradosDefault) == 0) {
      r = rados_conf_set(c->cluster_, kThreadCountOption, kThreadCountVsl);
      if (r < 0) return Internal(where + ": set " + kThreadCountOption + ": " + Strerror(r));
    }
    r = rados_connect(c->cluster_);
    if (r == -EACCES || r == -EPERM)
      return Unauthenticated(where + ": the cluster refused the key: " + Strerror(r));
    if (r < 0) return Unavailable(where + ": connect: " + Strerror(r));
    NoteClient(c->cluster_);
    return c;
  }

  Result<rados_ioctx_t> Pool(const std::string& pool) {
    std::lock_guard l(mu_);
    auto it = pools_.find(pool);
    if (it != pools_.end()) return it->second;
    rados_ioctx_t io = nullptr;
    int r = rados_ioctx_create(cluster_, pool.c_str(), &io);
    if (r == -ENOENT) return NotFound("pool '" + pool + "' does not exist");
    if (r < 0) return IoError("open pool '" + pool + "': " + Strerror(r));
    pools_.emplace(pool, io);
    return io;
  }

 private:
  rados_t cluster_ = nullptr;
  std::mutex mu_;
  std::map<std::string, rados_ioctx_t> pools_;  // guarded by mu_
};

// The process's clusters, by (conf, user, keyring); an entry lives while an
// image uses it.
std::mutex registry_mu;
std::map<std::string, std::weak_ptr<Cluster>>& Registry() {
  static auto* m = new std::map<std::string, std::weak_ptr<Cluster>>;  // guarded by registry_mu
  return *m;
}

Result<std::shared_ptr<Cluster>> GetCluster(const RbdImage& w) {
  const std::string key = w.conf + '\n' + w.user + '\n' + w.keyring;
  std::lock_guard l(registry_mu);
  auto& reg = Registry();
  for (auto it = reg.begin(); it != reg.end();)
    it = it->second.expired() ? reg.erase(it) : std::next(it);
  // The last image of a cluster may close on another thread (not under
  // registry_mu) between the sweep and here: an entry that no longer locks
  // is one to connect again, never a null cluster.
  if (auto it = reg.find(key); it != reg.end()) {
    if (auto c = it->second.lock()) return c;
  }
  VSL_ASSIGN_OR_RETURN(auto c, Cluster::Connect(w));
  reg[key] = c;
  return c;
}

// The lock's owners (their addresses, "127.0.0.1:0/219922178"), for the
// refusal's message.
std::string LockOwners(librbd::Image& img) {
  std::list<std::string> owners;
  rbd_lock_mode_t mode;
  int r = img.lock_get_owners(&mode, &owners);
  if (r < 0 || owners.empty()) return "another client";
  std::string out;
  for (const std::string& o : owners) out += (out.empty() ? "" : ", ") + o;
  return out;
}

// RbdIoStats: calls into librbd's data path, and how many are in flight.
std::atomic<uint64_t> io_calls{0};
std::atomic<uint64_t> io_in_flight{0};
std::atomic<uint64_t> io_max_in_flight{0};

void CallStarts() {
  io_calls.fetch_add(1, std::memory_order_relaxed);
  const uint64_t now = io_in_flight.fetch_add(1, std::memory_order_relaxed) + 1;
  uint64_t max = io_max_in_flight.load(std::memory_order_relaxed);
  while (now > max && !io_max_in_flight.compare_exchange_weak(max, now, std::memory_order_relaxed)) {
  }
}
void CallEnds() { io_in_flight.fetch_sub(1, std::memory_order_relaxed); }

// Set while this thread runs a completion librbd called back: an image
// closed here (its last user went away in the callback) is closed on
// another thread, since rbd_close waits for librbd's threads, this one too.
thread_local bool in_rbd_callback = false;

// For WaitRbdQuiet: librbd's calls into vsl (OnAioComplete) that have not
// returned yet, and closes running on threads of their own (~RbdBackend).
// A close a callback hands over counts before the callback stops counting.
// No lock on the I/O path: busy_mu only orders the last BusyEnds' notify
// after a waiter's check of the count.
std::atomic<int> busy{0};
std::mutex busy_mu;
std::condition_variable busy_cv;
void BusyBegins() { busy.fetch_add(1, std::memory_order_relaxed); }
void BusyEnds() {
  if (busy.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  std::lock_guard l(busy_mu);
  busy_cv.notify_all();
}

// One synchronous call, counted.
template <class Fn>
auto Counted(Fn fn) {
  CallStarts();
  auto r = fn();
  CallEnds();
  return r;
}

}  // namespace

bool WaitRbdQuiet(std::chrono::milliseconds limit) {
  std::unique_lock l(busy_mu);
  return busy_cv.wait_for(l, limit, [] { return busy.load(std::memory_order_acquire) == 0; });
}

RbdIoStats GetRbdIoStats() {
  return {io_calls.load(std::memory_order_relaxed), io_max_in_flight.load(std::memory_order_relaxed)};
}

// The image through librbd's C++ API: its aio_read hands over the reply's
// buffers as they came off the wire (a bufferlist), where the C API copies
// them into the caller's buffer (RbdAioReadHeld). The cluster handle and the
// pool stay C handles; the image's IoCtx wraps the pool's.
class RbdBackend {
 public:
  std::shared_ptr<Cluster> cluster;
  librados::IoCtx io;
  std::unique_ptr<librbd::Image> img;  // open once OpenRbd returned it
  std::string name;
  uint64_t size = 0;
  bool locked = false;
  ~RbdBackend() {
    if (img == nullptr) return;
    // The cluster handle goes with the close (moved, not copied): when that
    // runs on another thread, the last reference never drops here, on a
    // librados thread, where rados_shutdown would wait for itself.
    auto close = [img = std::move(img), io = std::move(io), locked = locked,
                  cluster = std::move(cluster)]() mutable {
      if (locked) img->lock_release();
      img->close();
      img.reset();
      io.close();
      cluster.reset();  // here, not when the thread lets go of this lambda
    };
    if (!in_rbd_callback) {
      close();
      return;
    }
    BusyBegins();
    std::thread([close = std::move(close)]() mutable {
      close();
      BusyEnds();
    }).detach();
  }
};

std::string RbdName(const RbdImage& where) {
  return "rbd:" + where.pool + "/" + where.image + (where.snap.empty() ? "" : "@" + where.snap);
}
std::string RbdKey(const RbdImage& where) {
  return where.conf + '\n' + where.user + '\n' + where.keyring + '\n' + where.pool + '\n' +
         where.image + (where.snap.empty() ? "" : "@" + where.snap);
}

Result<std::shared_ptr<RbdBackend>> OpenRbd(const RbdImage& where, bool read_only) {
  const std::string name = RbdName(where);
  if (!where.snap.empty() && !read_only) return InvalidArgument(name + ": a snapshot is read only");
  if (where.pool.empty() || where.image.empty())
    return InvalidArgument(name + ": an RBD extent needs a pool and an image");
  auto cluster = GetCluster(where);
  if (!cluster.ok()) return cluster.status().Annotate(name);
  auto io = (*cluster)->Pool(where.pool);
  if (!io.ok()) return io.status().Annotate(name);
  auto b = std::make_shared<RbdBackend>();
  b->cluster = *cluster;
  b->name = name;
  librados::IoCtx::from_rados_ioctx_t(*io, b->io);
  const char* snap = where.snap.empty() ? nullptr : where.snap.c_str();
  librbd::RBD rbd;
  auto img = std::make_unique<librbd::Image>();
  int r = read_only ? rbd.open_read_only(b->io, *img, where.image.c_str(), snap)
                    : rbd.open(b->io, *img, where.image.c_str());
  if (r == -ENOENT && snap != nullptr) {
    // Which is missing, the image or its snapshot: the message says.
    librbd::Image probe;
    if (rbd.open_read_only(b->io, probe, where.image.c_str(), nullptr) == 0)
      return NotFound(name + ": no snapshot '" + where.snap + "'");
  }
  if (r == -ENOENT) return NotFound(name + ": no such image");
  if (r < 0) return IoError(name + ": open: " + Strerror(r));
  b->img = std::move(img);
  r = b->img->size(&b->size);
  if (r < 0) return IoError(name + ": size: " + Strerror(r));
  if (!read_only) {
    uint64_t features = 0;
    r = b->img->features(&features);
    if (r < 0) return IoError(name + ": features: " + Strerror(r));
    if ((features & RBD_FEATURE_EXCLUSIVE_LOCK) == 0)
      return FailedPrecondition(
          name +
          ": the image lacks the exclusive-lock feature, so two gateways could "
          "write it unknowingly; enable it (rbd feature enable " +
          where.pool + "/" + where.image + " exclusive-lock)");
    // Two gateways must never write one image without knowing: hold the
    // lock (librbd then refuses to hand it to another client on request).
    r = b->img->lock_acquire(RBD_LOCK_MODE_EXCLUSIVE);
    if (r < 0) {
      if (r == -EROFS || r == -EBUSY || r == -EAGAIN)
        return FailedPrecondition(
            name + ": the image's exclusive lock is held by another client (" + LockOwners(*b->img) +
            "): it is open for writing elsewhere, e.g. mapped by another gateway");
      return IoError(name + ": take the exclusive lock: " + Strerror(r));
    }
    b->locked = true;
  }
  return b;
}

uint64_t RbdSize(const RbdBackend& b) { return b.size; }

Status RbdRead(const RbdBackend& b, uint64_t off, uint8_t* p, uint64_t n) {
  while (n > 0) {
    size_t k = size_t(std::min<uint64_t>(n, 16u << 20));
    ceph::bufferlist bl;
    ssize_t r = Counted([&] { return b.img->read2(off, k, bl, 0); });
    if (r > 0) bl.begin().copy(unsigned(r), reinterpret_cast<char*>(p));
    if (r < 0)
      return IoError("read " + b.name + " at offset " + std::to_string(off) + ": " +
                     Strerror(int(r)));
    if (r == 0) {  // past the end of an image that shrank: zeros
      std::memset(p, 0, n);
      return Status::Ok();
    }
    p += r;
    off += uint64_t(r);
    n -= uint64_t(r);
  }
  return Status::Ok();
}

Status RbdWrite(const RbdBackend& b, uint64_t off, const uint8_t* p, uint64_t n) {
  while (n > 0) {
    size_t k = size_t(std::min<uint64_t>(n, 16u << 20));
    ceph::bufferlist bl;
    bl.append(reinterpret_cast<const char*>(p), unsigned(k));
    ssize_t r = Counted([&] { return b.img->write2(off, k, bl, 0); });
    if (r < 0)
      return IoError("write " + b.name + " at offset " + std::to_string(off) + ": " +
                     Strerror(int(r)));
    if (r == 0)
      return IoError("write " + b.name + " at offset " + std::to_string(off) + ": no progress");
    p += r;
    off += uint64_t(r);
    n -= uint64_t(r);
  }
  return Status::Ok();
}

Status RbdFlush(const RbdBackend& b) {
  int r = Counted([&] { return b.img->flush(); });
  if (r < 0) return IoError("flush " + b.name + ": " + Strerror(r));
  return Status::Ok();
}

Status RbdDiscard(const RbdBackend& b, uint64_t off, uint64_t n) {
  while (n > 0) {
    size_t k = size_t(std::min<uint64_t>(n, 1ull << 30));
    int r = Counted([&] { return b.img->discard(off, k); });
    if (r < 0)
      return IoError("discard " + b.name + " at offset " + std::to_string(off) + ": " +
                     Strerror(r));
    off += k;
    n -= k;
  }
  return Status::Ok();
}

namespace {

// The largest piece one aio call carries (librbd takes size_t lengths; a
// discard of a whole volume is cut into such pieces).
constexpr uint64_t kMaxAioBytes = 1ull << 30;

enum class AioKind { kRead, kWrite, kFlush, kDiscard, kWriteZeroes };

const char* Verb(AioKind k) {
  switch (k) {
    case AioKind::kRead: return "read";
    case AioKind::kWrite: return "write";
    case AioKind::kFlush: return "flush";
    case AioKind::kDiscard: return "discard";
    case AioKind::kWriteZeroes: return "write zeroes to";
  }
  return "?";
}

struct AioRequest;

// A read's reply in librbd's own buffers (RbdAioReadHeld).
struct BufferlistBytes final : util::HeldBytes {
  ceph::bufferlist bl;
};

// The most pieces a held read hands over; a reply in more buffers (a clone
// read partly through to its parent, holes between objects) is gathered
// into one, so that one Data-In PDU never needs more iovecs than the
// connection's writev takes.
constexpr size_t kMaxHeldPieces = 16;

// One aio call of a request.
struct AioCall {
  AioRequest* req = nullptr;
  uint64_t off = 0, n = 0;
  uint8_t* read_into = nullptr;    // reads: where the bytes go
  BufferlistBytes* held = nullptr;  // held reads: where the buffers go instead
  bool own = true;                  // allocated by itself (not the request's first)
  ceph::bufferlist bl;              // reads: the reply; writes: the data
};

// One asynchronous request, possibly cut into several aio calls: `done`
// runs when the last of them completed, with the first error. The first
// call lives in the request (one allocation per I/O less: nearly every
// request is one call).
struct AioRequest {
  AioRequest(const RbdBackend* b, AioKind kind, RbdDone done) : b(b), kind(kind), done(std::move(done)) {}
  const RbdBackend* b;
  AioKind kind;
  RbdDone done;
  util::Countdown calls;  // the aio calls in flight, plus one while they are started
  AioCall first;  // the first call's, unused while its req is null

  AioCall* NewCall(uint64_t off, uint64_t n) {
    AioCall* c = &first;
    if (first.req != nullptr) {
      c = new AioCall;
    } else {
      c->own = false;
    }
    c->req = this;
    c->off = off;
    c->n = n;
    return c;
  }
  static void Free(AioCall* c) {
    if (c->own) delete c;
  }

  void Finish(Status s) {
    Status out;
    if (!calls.Finish(std::move(s), &out)) return;
    RbdDone d = std::move(done);
    delete this;
    d(std::move(out));
  }
};

std::string AioError(const AioCall& c, int r) {
  std::string what = std::string(Verb(c.req->kind)) + " " + c.req->b->name;
  if (c.req->kind != AioKind::kFlush) what += " at offset " + std::to_string(c.off);
  return what + ": " + Strerror(r);
}

// A read's reply, `r` bytes in call->bl: copied to read_into, or handed
// over whole to the held bytes. Past the end of an image that shrank the
// reply is short: zeros, as the synchronous read.
void Delivered(AioCall* call, uint64_t r) {
  if (call->held != nullptr) {
    ceph::bufferlist& bl = call->held->bl;
    bl = std::move(call->bl);
    if (r < call->n) bl.append_zero(unsigned(call->n - r));
    if (bl.get_num_buffers() > kMaxHeldPieces) bl.rebuild();
    for (const auto& ptr : bl.buffers()) {
      if (ptr.length() == 0) continue;
      call->held->pieces.emplace_back(reinterpret_cast<const uint8_t*>(ptr.c_str()), ptr.length());
    }
    call->held->size = bl.length();
    return;
  }
  if (r > 0) call->bl.begin().copy(unsigned(r), reinterpret_cast<char*>(call->read_into));
  if (r < call->n) std::memset(call->read_into + r, 0, call->n - r);
  call->bl.clear();
}

void OnAioComplete(rbd_completion_t comp, void* arg) {
  BusyBegins();  // before anything here can answer the command
  auto* call = static_cast<AioCall*>(arg);
  auto* c = static_cast<librbd::RBD::AioCompletion*>(comp);
  const ssize_t r = c->get_return_value();
  c->release();
  CallEnds();
  Status s;
  if (r < 0) {
    s = IoError(AioError(*call, int(r)));
  } else if (call->req->kind == AioKind::kRead) {
    Delivered(call, std::min(uint64_t(r), call->n));
  }
  AioRequest* req = call->req;
  AioRequest::Free(call);
  const bool outer = in_rbd_callback;  // a completion may run inside another's
  in_rbd_callback = true;
  req->Finish(std::move(s));  // answers; what it held is gone when it returns
  in_rbd_callback = outer;
  BusyEnds();
}

// Starts one aio call of `req` for [off, off+n) (p: the bytes, or null;
// held: a held read's bytes).
void StartCall(AioRequest* req, uint64_t off, uint8_t* p, uint64_t n, BufferlistBytes* held = nullptr) {
  AioCall* call = req->NewCall(off, n);
  req->calls.Add();
  CallStarts();
  auto* comp = new librbd::RBD::AioCompletion(call, OnAioComplete);
  librbd::Image& img = *req->b->img;
  int r = 0;
  switch (req->kind) {
    case AioKind::kRead:
      call->read_into = p;
      call->held = held;
      r = img.aio_read2(off, size_t(n), call->bl, comp, 0);
      break;
    case AioKind::kWrite:
      // A copy, as the C API makes one (rbd_disable_zero_copy_writes): with
      // its cache on, librbd answers some writes before the cluster has
      // them, and keeps the data after the answer.
      call->bl.append(reinterpret_cast<const char*>(p), unsigned(n));
      r = img.aio_write2(off, size_t(n), call->bl, comp, 0);
      break;
    case AioKind::kFlush: r = img.aio_flush(comp); break;
    case AioKind::kDiscard: r = img.aio_discard(off, n, comp); break;
    case AioKind::kWriteZeroes: r = img.aio_write_zeroes(off, size_t(n), comp, 0, 0); break;
  }
  if (r < 0) {  // not started: librbd will not call back
    comp->release();
    CallEnds();
    Status s = IoError(AioError(*call, r));
    AioRequest::Free(call);
    req->Finish(std::move(s));
  }
}

void StartAio(const RbdBackend& b, AioKind kind, uint64_t off, uint8_t* p, uint64_t n, RbdDone done) {
  auto* req = new AioRequest(&b, kind, std::move(done));
  if (kind == AioKind::kFlush) {
    StartCall(req, 0, nullptr, 0);
  } else {
    while (n > 0) {
      const uint64_t k = std::min(n, kMaxAioBytes);
      StartCall(req, off, p, k);
      off += k;
      if (p != nullptr) p += k;
      n -= k;
    }
  }
  req->Finish(Status::Ok());  // all started
}

}  // namespace

void RbdAioRead(const RbdBackend& b, uint64_t off, uint8_t* p, uint64_t n, RbdDone done) {
  StartAio(b, AioKind::kRead, off, p, n, std::move(done));
}
void RbdAioReadHeld(const RbdBackend& b, uint64_t off, uint64_t n, RbdHeldDone done) {
  auto bytes = std::make_shared<BufferlistBytes>();
  if (n == 0) return done(Status::Ok(), std::move(bytes));
  if (n > kMaxAioBytes) return done(InvalidArgument("read " + b.name + ": too long to hold"), nullptr);
  BufferlistBytes* into = bytes.get();
  auto* req = new AioRequest(&b, AioKind::kRead, [bytes = std::move(bytes), done = std::move(done)](Status s) {
    if (!s.ok()) return done(std::move(s), nullptr);
    done(Status::Ok(), bytes);
  });
  StartCall(req, off, nullptr, n, into);
  req->Finish(Status::Ok());  // started
}
void RbdAioWrite(const RbdBackend& b, uint64_t off, const uint8_t* p, uint64_t n, RbdDone done) {
  StartAio(b, AioKind::kWrite, off, const_cast<uint8_t*>(p), n, std::move(done));
}
void RbdAioFlush(const RbdBackend& b, RbdDone done) {
  StartAio(b, AioKind::kFlush, 0, nullptr, 0, std::move(done));
}
void RbdAioDiscard(const RbdBackend& b, uint64_t off, uint64_t n, RbdDone done) {
  StartAio(b, AioKind::kDiscard, off, nullptr, n, std::move(done));
}
void RbdAioWriteZeroes(const RbdBackend& b, uint64_t off, uint64_t n, RbdDone done) {
  StartAio(b, AioKind::kWriteZeroes, off, nullptr, n, std::move(done));
}

namespace {
struct RunState {
  const std::function<bool(uint64_t, uint64_t, bool)>* fn;
  uint64_t cur;  // runs reported up to here
  uint64_t stop;
  bool stopped = false;
};
constexpr int kStop = -ECANCELED;  // the callback's "enough"

int OnDiff(uint64_t offset, size_t length, int exists, void* arg) {
  auto* s = static_cast<RunState*>(arg);
  if (!exists || length == 0) return 0;
  uint64_t a = std::max(offset, s->cur), b = std::min<uint64_t>(offset + length, s->stop);
  if (a >= b) return 0;
  if (a > s->cur && !(*s->fn)(s->cur, a - s->cur, false)) return s->stopped = true, kStop;
  s->cur = a;
  if (!(*s->fn)(a, b - a, true)) return s->stopped = true, kStop;
  s->cur = b;
  return 0;
}
}  // namespace

Status RbdRuns(const RbdBackend& b, uint64_t off, uint64_t n,
               const std::function<bool(uint64_t, uint64_t, bool)>& fn) {
  RunState s{&fn, off, off + n};
  // whole_object: the object map answers (fast-diff) without a RADOS call
  // per object; runs are whole objects.
  int r = b.img->diff_iterate2(nullptr, off, n, true, true, OnDiff, &s);
  if (r < 0 && !(r == kStop && s.stopped))
    return IoError("list allocated ranges of " + b.name + ": " + Strerror(r));
  if (!s.stopped && s.cur < s.stop) fn(s.cur, s.stop - s.cur, false);
  return Status::Ok();
}

namespace {
int OnObject(uint64_t offset, size_t length, int exists, void* arg) {
  auto* p = static_cast<RbdParent*>(arg);
  if (!exists) return 0;
  for (uint64_t o = offset / p->object_size;
       o * p->object_size < offset + length && o < p->written.size(); ++o)
    p->written[o] = true;
  return 0;
}
}  // namespace

Result<std::optional<RbdParent>> RbdCloneParent(const RbdBackend& b, const RbdImage& where) {
  librbd::linked_image_spec_t image{};
  librbd::snap_spec_t snap{};
  int r = b.img->get_parent(&image, &snap);
  if (r == -ENOENT) return std::optional<RbdParent>();
  if (r < 0) return IoError(b.name + ": parent: " + Strerror(r));
  RbdParent p;
  p.key = where.conf + '\n' + where.user + '\n' + where.keyring + '\n' +
          std::to_string(image.pool_id) + '\n' + image.pool_namespace + '\n' + image.image_id + '@' +
          std::to_string(snap.id);
  r = b.img->overlap(&p.overlap);
  if (r < 0) return IoError(b.name + ": parent overlap: " + Strerror(r));
  librbd::image_info_t info{};
  r = b.img->stat(info, sizeof info);
  if (r < 0) return IoError(b.name + ": stat: " + Strerror(r));
  p.object_size = info.obj_size;
  if (p.object_size == 0) return std::optional<RbdParent>();
  p.written.assign((b.size + p.object_size - 1) / p.object_size, false);
  // include_parent 0: only the clone's own objects; whole_object: the object map answers.
  r = b.img->diff_iterate2(nullptr, 0, b.size, false, true, OnObject, &p);
  if (r < 0) return IoError(b.name + ": list the clone's objects: " + Strerror(r));
  return std::optional<RbdParent>(std::move(p));
}

// ---- snapshots -------------------------------------------------------------

Status RbdSnapCreate(const RbdBackend& b, const std::string& snap) {
  int r = b.img->snap_create(snap.c_str());
  if (r == -EEXIST) return AlreadyExists(b.name + ": snapshot '" + snap + "' exists already");
  if (r < 0) return IoError(b.name + ": create snapshot '" + snap + "': " + Strerror(r));
  return Status::Ok();
}

Status RbdSnapRemove(const RbdBackend& b, const std::string& snap) {
  int r = b.img->snap_remove(snap.c_str());
  if (r < 0 && r != -ENOENT) return IoError(b.name + ": remove snapshot '" + snap + "': " + Strerror(r));
  return Status::Ok();
}

Result<std::vector<std::string>> RbdSnapNames(const RbdBackend& b) {
  std::vector<librbd::snap_info_t> snaps;
  int r = b.img->snap_list(snaps);
  if (r < 0) return IoError(b.name + ": list snapshots: " + Strerror(r));
  std::vector<std::string> out;
  for (const auto& snap : snaps) out.push_back(snap.name);
  return out;
}

namespace {
int OnChanged(uint64_t offset, size_t length, int, void* arg) {
  if (length > 0) (*static_cast<const std::function<void(uint64_t, uint64_t)>*>(arg))(offset, length);
  return 0;
}
}  // namespace

Status RbdDiff(const RbdBackend& b, const std::string& from_snap, uint64_t off, uint64_t n,
               const std::function<void(uint64_t, uint64_t)>& fn) {
  // whole_object 0: the byte ranges written, not the objects they touched
  // (a 4 KiB write counts 4 KiB, not 4 MiB).
  int r = b.img->diff_iterate2(from_snap.c_str(), off, n, true, false, OnChanged,
                               const_cast<std::function<void(uint64_t, uint64_t)>*>(&fn));
  if (r == -ENOENT) return NotFound(b.name + ": no snapshot '" + from_snap + "' to compare with");
  if (r < 0) return IoError(b.name + ": changes since snapshot '" + from_snap + "': " + Strerror(r));
  return Status::Ok();
}

}  // namespace vsl::volume
