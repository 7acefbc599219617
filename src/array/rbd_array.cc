#include "array/rbd_array.h"

#include <fcntl.h>
#include <rbd/librbd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "array/file_util.h"
#include "array/internal.h"
#include "util/crash_point.h"
#include "util/log.h"

namespace vsl::array {

using internal::HumanSize;
using json = nlohmann::json;

namespace {

constexpr const char* kGrantsKey = "vsl.grants";
constexpr const char* kScrubSuffix = ".scrub";
// The snapshot of an image's master that its clones hang from.
constexpr const char* kCloneBase = "vsl-master";
constexpr const char* kCloneSuffix = ".clone";
// Snapshots a BCV is a clone of: "vsl.bcv.<bcv id>.<ms>.<n>", one per Snap.
constexpr const char* kBcvSnapPrefix = "vsl.bcv.";
// How long connecting, and each monitor command, may take.
constexpr const char* kTimeoutSeconds = "15";
// Blocks Scrub reads back besides the first and the last.
constexpr uint64_t kScrubSamples = 62;

std::string Strerror(int r) { return std::strerror(r < 0 ? -r : r); }

// An open RBD image, closed when it goes.
class Image {
 public:
  Image() = default;
  Image(Image&& o) noexcept : img_(o.img_) { o.img_ = nullptr; }
  Image& operator=(Image&&) = delete;
  ~Image() {
    if (img_ != nullptr) rbd_close(img_);
  }
  rbd_image_t* out() { return &img_; }
  rbd_image_t get() const { return img_; }

 private:
  rbd_image_t img_ = nullptr;
};

int OpenImage(rados_ioctx_t io, const std::string& name, bool read_only, Image& img,
              const char* snap = nullptr) {
  return read_only ? rbd_open_read_only(io, name.c_str(), img.out(), snap)
                   : rbd_open(io, name.c_str(), img.out(), snap);
}

// Runs a monitor command; the reply (JSON) on success.
Result<std::string> MonCommand(rados_t cluster, const json& cmd, const std::string& what) {
  std::string text = cmd.dump();
  const char* argv[] = {text.c_str()};
  char* out = nullptr;
  size_t out_len = 0;
  char* outs = nullptr;
  size_t outs_len = 0;
  int r = rados_mon_command(cluster, argv, 1, "", 0, &out, &out_len, &outs, &outs_len);
  std::string reply(out != nullptr ? out : "", out_len);
  std::string status(outs != nullptr ? outs : "", outs_len);
  if (out != nullptr) rados_buffer_free(out);
  if (outs != nullptr) rados_buffer_free(outs);
  if (r < 0)
    return IoError(what + ": " + Strerror(r) + (status.empty() ? "" : " (" + status + ")"));
  return reply;
}

int DiffCollect(uint64_t offset, size_t length, int exists, void* arg) {
  auto* out = static_cast<std::vector<ByteRange>*>(arg);
  if (!exists || length == 0) return 0;
  if (!out->empty() && out->back().offset + out->back().length == offset) {
    out->back().length += length;
  } else {
    out->push_back({offset, length});
  }
  return 0;
}

// Narrows whole-object ranges to the bytes each object holds: an object
// that a discard truncated (a tail, or an image's last, short object) still
// shows in the object map. Only where the mapping object <-> offset is plain:
// no striping, data in the image's own pool, no parent (whose data the child's
// objects do not show).
std::vector<ByteRange> TrimToObjects(rados_ioctx_t io, rbd_image_t img,
                                     std::vector<ByteRange> ranges) {
  rbd_image_info_t info{};
  uint64_t stripes = 0, overlap = 0;
  char prefix[RBD_MAX_BLOCK_NAME_SIZE + 1] = {};
  if (rbd_stat(img, &info, sizeof info) < 0 || info.obj_size == 0 ||
      rbd_get_stripe_count(img, &stripes) < 0 || stripes > 1 ||
      rbd_get_overlap(img, &overlap) < 0 || overlap > 0 ||
      rbd_get_data_pool_id(img) != rados_ioctx_get_id(io) ||
      rbd_get_block_name_prefix(img, prefix, sizeof prefix - 1) < 0) {
    return ranges;
  }
  std::vector<ByteRange> out;
  for (const ByteRange& r : ranges) {
    for (uint64_t obj = r.offset / info.obj_size; obj * info.obj_size < r.offset + r.length;
         ++obj) {
      const uint64_t begin = std::max(r.offset, obj * info.obj_size);
      const uint64_t end = std::min(r.offset + r.length, (obj + 1) * info.obj_size);
      char name[RBD_MAX_BLOCK_NAME_SIZE + 32];
      std::snprintf(name, sizeof name, "%s.%016llx", prefix, static_cast<unsigned long long>(obj));
      uint64_t held = end - begin;
      uint64_t size = 0;
      time_t mtime = 0;
      int rc = rados_stat(io, name, &size, &mtime);
      if (rc == -ENOENT) {
        held = 0;
      } else if (rc == 0) {
        held = std::min(
            held, size > begin - obj * info.obj_size ? size - (begin - obj * info.obj_size) : 0);
      }
      if (held == 0) continue;
      if (!out.empty() && out.back().offset + out.back().length == begin) {
        out.back().length += held;
      } else {
        out.push_back({begin, held});
      }
    }
  }
  return out;
}

// The ranges of an open image that may hold data: whole objects (4 MiB by
// default) from the object map (fast-diff) rather than one RADOS call per
// object of the image, then narrowed to the objects' sizes. `io` is null for
// an image opened at a snapshot (whose objects are not the ones rados_stat
// sees): its ranges stay whole objects.
Result<std::vector<ByteRange>> ImageRanges(rados_ioctx_t io, rbd_image_t img, uint64_t size,
                                           const std::string& what) {
  std::vector<ByteRange> out;
  int r = rbd_diff_iterate2(img, nullptr, 0, size, 1, 1, DiffCollect, &out);
  if (r < 0) return IoError(what + ": list allocated ranges: " + Strerror(r));
  if (io == nullptr) return out;
  return TrimToObjects(io, img, std::move(out));
}

Status ReadImage(rbd_image_t img, uint64_t offset, std::span<uint8_t> out,
                 const std::string& what) {
  while (!out.empty()) {
    size_t n = std::min<size_t>(out.size(), 16u << 20);
    ssize_t r = rbd_read2(img, offset, n, reinterpret_cast<char*>(out.data()), 0);
    if (r < 0)
      return IoError(what + ": read at " + std::to_string(offset) + ": " +
                     Strerror(static_cast<int>(r)));
    if (r == 0) return IoError(what + ": short read at " + std::to_string(offset));
    offset += static_cast<uint64_t>(r);
    out = out.subspan(static_cast<size_t>(r));
  }
  return Status::Ok();
}

Status WriteImage(rbd_image_t img, uint64_t offset, std::span<const uint8_t> data,
                  const std::string& what) {
  while (!data.empty()) {
    size_t n = std::min<size_t>(data.size(), 16u << 20);
    ssize_t r = rbd_write2(img, offset, n, reinterpret_cast<const char*>(data.data()), 0);
    if (r < 0)
      return IoError(what + ": write at " + std::to_string(offset) + ": " +
                     Strerror(static_cast<int>(r)));
    if (r == 0) return IoError(what + ": short write at " + std::to_string(offset));
    offset += static_cast<uint64_t>(r);
    data = data.subspan(static_cast<size_t>(r));
  }
  return Status::Ok();
}

// Afterwards the range reads as zeros and holds no storage: a discard, which
// with rbd_skip_partial_discard off (Connect sets it) removes whole objects,
// truncates tails and punches the rest.
Status ZeroImage(rbd_image_t img, uint64_t offset, uint64_t length, const std::string& what) {
  while (length > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(length, 1ull << 30));
    int r = rbd_discard(img, offset, n);
    if (r < 0) return IoError(what + ": discard at " + std::to_string(offset) + ": " + Strerror(r));
    offset += n;
    length -= n;
  }
  return Status::Ok();
}

Status FlushImage(rbd_image_t img, const std::string& what) {
  int r = rbd_flush(img);
  if (r < 0) return IoError(what + ": flush: " + Strerror(r));
  return Status::Ok();
}

// Appends the names of an open image's snapshots to `names`; a negative
// errno when they cannot be listed.
int SnapNames(rbd_image_t img, std::vector<std::string>& names) {
  std::vector<rbd_snap_info_t> snaps(8);
  int max = static_cast<int>(snaps.size());
  int r;
  while ((r = rbd_snap_list(img, snaps.data(), &max)) == -ERANGE) {
    snaps.resize(static_cast<size_t>(max) + 4);
    max = static_cast<int>(snaps.size());
  }
  if (r < 0) return r;
  for (int i = 0; i < r; ++i) names.emplace_back(snaps[static_cast<size_t>(i)].name);
  rbd_snap_list_end(snaps.data());
  return 0;
}

// The parent of an open image as "pool/image@snap"; nullopt for a plain
// image.
Result<std::optional<std::string>> ParentOf(rbd_image_t img, const std::string& what) {
  rbd_linked_image_spec_t image{};
  rbd_snap_spec_t snap{};
  int r = rbd_get_parent(img, &image, &snap);
  if (r == -ENOENT) return std::optional<std::string>();
  if (r < 0) return IoError(what + ": read the parent: " + Strerror(r));
  std::string out = std::string(image.pool_name) + "/" + image.image_name + "@" + snap.name;
  rbd_linked_image_spec_cleanup(&image);
  rbd_snap_spec_cleanup(&snap);
  return std::optional<std::string>(out);
}

}  // namespace

RbdArray::~RbdArray() {
  {
    std::lock_guard l(state_mu_);
    stopping_ = true;
  }
  state_cv_.notify_all();
  if (reconnect_.joinable()) reconnect_.join();
  Disconnect();
}

void RbdArray::Disconnect() {
  if (io_ != nullptr) rados_ioctx_destroy(io_);
  if (cluster_ != nullptr) rados_shutdown(cluster_);
  io_ = nullptr;
  cluster_ = nullptr;
}

ArrayInfo RbdArray::info() const {
  // While disconnected, info_ may be being read from the manifest: what
  // Open knew is shown instead.
  return connected_.load(std::memory_order_acquire) ? info_ : offline_info_;
}

std::string RbdArray::Disconnected() const {
  if (connected_.load(std::memory_order_acquire)) return {};
  std::lock_guard l(state_mu_);
  return reason_;
}

Status RbdArray::Ready() const {
  if (connected_.load(std::memory_order_acquire)) return Status::Ok();
  std::lock_guard l(state_mu_);
  return Unavailable(Label() + " is disconnected (" + reason_ +
                     "); vsl keeps trying to reach the cluster");
}

void RbdArray::OnReconnect(std::function<void()> fn) {
  std::lock_guard l(cb_mu_);  // waits for a running one
  on_reconnect_ = std::move(fn);
}

void RbdArray::ReconnectLoop(ArraySpec spec) {
  // The manifest must be there: a reconnect never creates the array.
  spec.capacity = 0;
  spec.volume_size = 0;
  std::chrono::seconds delay(1);
  for (;;) {
    {
      std::unique_lock l(state_mu_);
      if (state_cv_.wait_for(l, delay, [&] { return stopping_; })) return;
    }
    delay = std::min(delay * 2, std::chrono::seconds(60));
    Status s = Connect();
    if (s.ok()) s = LoadOrCreateManifest(spec);
    if (!s.ok()) {
      Disconnect();
      std::lock_guard l(state_mu_);
      reason_ = s.message();
      continue;
    }
    {
      std::lock_guard l(state_mu_);
      reason_.clear();
    }
    connected_.store(true, std::memory_order_release);
    util::LogEvent(util::Logger("rbd", util::TextStyle::kCommand), spdlog::level::warn,
                   Label() + " is reachable again", {{"array", info().name}});
    std::lock_guard l(cb_mu_);
    if (on_reconnect_) on_reconnect_();
    return;
  }
}

Result<std::vector<std::string>> RbdArray::BreakDeadLocks(const std::vector<util::RbdClient>& dead) {
  VSL_RETURN_IF_ERROR(Ready());
  char fsid_buf[64] = {};
  if (rados_cluster_fsid(cluster_, fsid_buf, sizeof fsid_buf - 1) < 0) return std::vector<std::string>{};
  const std::string fsid = fsid_buf;
  std::vector<const util::RbdClient*> ours;
  for (const util::RbdClient& c : dead) {
    if (c.fsid == fsid) ours.push_back(&c);
  }
  std::vector<std::string> freed;
  if (ours.empty()) return freed;
  std::lock_guard lock(mu_);
  VSL_ASSIGN_OR_RETURN(auto volumes, Scan());
  for (const ArrayVolume& v : volumes) {
    const std::string name = ImageName(v.id);
    Image img;
    int r = OpenImage(io_, name, false, img);
    if (r == -ENOENT) continue;
    if (r < 0) return RbdError("open image " + name, r);
    std::vector<char*> owners(8);
    size_t max = owners.size();
    rbd_lock_mode_t mode;
    r = rbd_lock_get_owners(img.get(), &mode, owners.data(), &max);
    if (r == -ENOENT || (r >= 0 && max == 0)) continue;  // nobody holds it
    if (r < 0) return RbdError("read the lock owner of image " + name, r);
    std::vector<std::string> held(owners.begin(), owners.begin() + static_cast<long>(max));
    rbd_lock_get_owners_cleanup(owners.data(), max);
    for (const std::string& owner : held) {
      const std::string nonce = util::RbdAddrNonce(owner);
      auto it = std::find_if(ours.begin(), ours.end(),
                             [&](const util::RbdClient* c) { return c->nonce == nonce; });
      if (nonce.empty() || it == ours.end()) continue;  // a live client, or not ours
      r = rbd_lock_break(img.get(), RBD_LOCK_MODE_EXCLUSIVE, owner.c_str());
      if (r < 0 && r != -ENOENT)
        return RbdError("break the exclusive lock of image " + name + " held by dead client " + owner, r);
      freed.push_back(rbd_.pool + "/" + name + " (held by " + owner + ")");
    }
  }
  return freed;
}

std::string RbdArray::Label() const {
  return "array '" + info_.name + "' (pool '" + rbd_.pool + "')";
}
std::string RbdArray::ImageName(const std::string& id) const {
  return "vsl-" + info_.name + "-" + id;
}
std::string RbdArray::ManifestObject() const { return "vsl-" + info_.name + ".array"; }

Status RbdArray::RbdError(const std::string& what, int r) const {
  std::string m = Label() + ": " + what + ": " + Strerror(r);
  if (r == -ENOENT) return NotFound(m);
  if (r == -EEXIST) return AlreadyExists(m);
  if (r == -EBUSY) return FailedPrecondition(m + " (the image is open elsewhere)");
  if (r == -EACCES || r == -EPERM) return PermissionDenied(m);
  if (r == -EDQUOT || r == -ENOSPC) return ResourceExhausted(m);
  if (r == -ETIMEDOUT) return Unavailable(m + " (the cluster did not answer)");
  return IoError(m);
}

Result<std::unique_ptr<RbdArray>> RbdArray::Open(const ArraySpec& spec) {
  if (spec.name.empty()) return InvalidArgument("array spec: the name is empty");
  if (spec.rbd.pool.empty())
    return InvalidArgument("array '" + spec.name + "': an rbd array needs a pool");
  std::unique_ptr<RbdArray> a(new RbdArray());
  a->rbd_ = spec.rbd;
  if (a->rbd_.conf.empty()) a->rbd_.conf = "/etc/ceph/ceph.conf";
  if (a->rbd_.user.empty()) a->rbd_.user = "admin";
  if (a->rbd_.user.starts_with("client.")) a->rbd_.user = a->rbd_.user.substr(7);
  a->info_.name = spec.name;
  a->info_.driver = "rbd";
  a->info_.path = "rbd:" + a->rbd_.pool + "/vsl-" + spec.name + "-";
  Status s = a->Connect();
  if (s.ok()) s = a->LoadOrCreateManifest(spec);
  if (s.ok()) {
    a->connected_.store(true, std::memory_order_release);
    return a;
  }
  if (!spec.may_start_disconnected || s.code() != Code::kUnavailable) return s;
  a->Disconnect();
  a->offline_info_ = a->info_;
  a->reason_ = s.message();
  a->reconnect_ = std::thread([p = a.get(), spec] { p->ReconnectLoop(spec); });
  return a;
}

Status RbdArray::Connect() {
  const std::string who = "client." + rbd_.user;
  const std::string where = "array '" + info_.name + "': Ceph as " + who + " (conf " + rbd_.conf +
                            (rbd_.keyring.empty() ? "" : ", keyring " + rbd_.keyring) + ")";
  // Unreadable files get an error naming them, not librados' generic one.
  if (::access(rbd_.conf.c_str(), R_OK) != 0) {
    return InvalidArgument("array '" + info_.name + "': ceph conf " + rbd_.conf + ": " +
                           Strerror(errno));
  }
  if (!rbd_.keyring.empty()) {
    auto text = internal::ReadWholeFile(rbd_.keyring);
    if (!text.ok()) {
      return InvalidArgument("array '" + info_.name + "': keyring " + rbd_.keyring + ": " +
                             text.status().message());
    }
    if (text->find("[" + who + "]") == std::string::npos) {
      return InvalidArgument("array '" + info_.name + "': keyring " + rbd_.keyring +
                             " holds no key for " + who);
    }
  }
  int r = rados_create2(&cluster_, "ceph", who.c_str(), 0);
  if (r < 0) return IoError(where + ": create the cluster handle: " + Strerror(r));
  // The keyring is set before the conf file is read (librados otherwise
  // logs a failed search of /etc/ceph first) and again after it, so that the
  // array's own setting wins over a keyring line in the file.
  auto set_keyring = [&]() -> Status {
    if (rbd_.keyring.empty()) return Status::Ok();
    int rr = rados_conf_set(cluster_, "keyring", rbd_.keyring.c_str());
    if (rr < 0) return InvalidArgument(where + ": set keyring: " + Strerror(rr));
    return Status::Ok();
  };
  VSL_RETURN_IF_ERROR(set_keyring());
  r = rados_conf_read_file(cluster_, rbd_.conf.c_str());
  if (r < 0)
    return InvalidArgument("array '" + info_.name + "': ceph conf " + rbd_.conf + ": " +
                           Strerror(r));
  VSL_RETURN_IF_ERROR(set_keyring());
  // rados_osd_op_timeout too: with the OSDs gone, the control plane gets an
  // error naming the array rather than a thread blocked for good.
  for (const char* opt : {"client_mount_timeout", "rados_mon_op_timeout", "rados_osd_op_timeout"}) {
    r = rados_conf_set(cluster_, opt, kTimeoutSeconds);
    if (r < 0) return Internal(where + ": set " + opt + ": " + Strerror(r));
  }
  // A discard of part of an object must zero it: Deallocate and Copy promise
  // zeros, and Ceph's default skips such discards.
  r = rados_conf_set(cluster_, "rbd_skip_partial_discard", "false");
  if (r < 0) return Internal(where + ": set rbd_skip_partial_discard: " + Strerror(r));
  r = rados_connect(cluster_);
  if (r == -EACCES || r == -EPERM) {
    return Unauthenticated(where + ": the cluster refused the key: " + Strerror(r));
  }
  if (r == -ETIMEDOUT) {
    return Unavailable(where + ": no monitor answered within " + kTimeoutSeconds + " s");
  }
  if (r < 0) return Unavailable(where + ": connect: " + Strerror(r));
  {
    // For the next vsl serve on this data directory (util/rbd_clients.h).
    char fsid[64] = {};
    char* addrs = nullptr;
    if (rados_cluster_fsid(cluster_, fsid, sizeof fsid - 1) >= 0 && rados_getaddrs(cluster_, &addrs) == 0) {
      util::NoteRbdClient(fsid, addrs);
      std::free(addrs);
    }
  }
  r = rados_ioctx_create(cluster_, rbd_.pool.c_str(), &io_);
  if (r == -ENOENT) return NotFound(where + ": pool '" + rbd_.pool + "' does not exist");
  if (r < 0) return IoError(where + ": open pool '" + rbd_.pool + "': " + Strerror(r));
  return Status::Ok();
}

Status RbdArray::CheckCapacityAgainstPool(uint64_t capacity) {
  const std::string label = Label();
  VSL_ASSIGN_OR_RETURN(
      std::string pools,
      MonCommand(cluster_, {{"prefix", "osd pool ls"}, {"detail", "detail"}, {"format", "json"}},
                 label + ": read the pool's quota"));
  json j = json::parse(pools, nullptr, false);
  if (j.is_array()) {
    for (const json& p : j) {
      if (p.value("pool_name", "") != rbd_.pool) continue;
      uint64_t quota = p.value("quota_max_bytes", uint64_t{0});
      if (quota != 0 && capacity > quota) {
        return InvalidArgument(label + ": capacity " + HumanSize(capacity) +
                               " is larger than the pool's quota (" + HumanSize(quota) + ")");
      }
    }
  }
  // Free space comes from the manager daemon's statistics; a cluster without
  // one lists no pools here, and then only the quota is checked.
  auto df = MonCommand(cluster_, {{"prefix", "df"}, {"format", "json"}},
                       label + ": read the pool's free space");
  if (!df.ok()) return Status::Ok();
  j = json::parse(*df, nullptr, false);
  if (!j.is_object() || !j.contains("pools") || !j["pools"].is_array()) return Status::Ok();
  for (const json& p : j["pools"]) {
    if (!p.is_object() || p.value("name", "") != rbd_.pool || !p.contains("stats")) continue;
    uint64_t avail = p["stats"].value("max_avail", uint64_t{0});
    if (avail != 0 && capacity > avail) {
      return InvalidArgument(label + ": capacity " + HumanSize(capacity) +
                             " is larger than the pool's free space (" + HumanSize(avail) + ")");
    }
  }
  return Status::Ok();
}

Status RbdArray::LoadOrCreateManifest(const ArraySpec& spec) {
  std::lock_guard lock(mu_);
  const std::string obj = ManifestObject();
  const std::string where = Label() + ": manifest object " + obj;
  uint64_t size = 0;
  time_t mtime = 0;
  int r = rados_stat(io_, obj.c_str(), &size, &mtime);
  if (r == -ENOENT) {
    VSL_RETURN_IF_ERROR(internal::CheckNewSpec(spec));
    VSL_RETURN_IF_ERROR(CheckCapacityAgainstPool(spec.capacity));
    info_.capacity = spec.capacity;
    info_.volume_size = spec.volume_size;
    info_.qualities = spec.qualities;
    info_.ports = spec.ports.empty() ? std::vector<std::string>{"port0"} : spec.ports;
    if (spec.volume_size > 0) VSL_RETURN_IF_ERROR(CarveLocked(spec.capacity / spec.volume_size));
    return SaveManifestLocked();
  }
  if (r < 0) return RbdError("stat manifest object " + obj, r);
  std::string text(size, '\0');
  r = rados_read(io_, obj.c_str(), text.data(), text.size(), 0);
  if (r < 0) return RbdError("read manifest object " + obj, r);
  text.resize(static_cast<size_t>(r));
  try {
    json j = json::parse(text);
    if (j.at("name").get<std::string>() != info_.name) {
      return FailedPrecondition(where + " names array " + j.at("name").dump());
    }
    VSL_RETURN_IF_ERROR(internal::ReadManifestFields(j, where, "rbd", info_, next_id_));
  } catch (const json::exception& e) {
    return DataLoss(where + " is unreadable: " + e.what());
  }
  return internal::CheckSpecAgrees(where, info_, spec);
}

Status RbdArray::SaveManifestLocked() {
  json j = internal::ManifestFields(info_, "rbd", next_id_);
  std::string text = j.dump(2) + "\n";
  int r = rados_write_full(io_, ManifestObject().c_str(), text.data(), text.size());
  if (r < 0) return RbdError("write manifest object " + ManifestObject(), r);
  return Status::Ok();
}

Status RbdArray::CreateImage(const std::string& id, uint64_t size) {
  rbd_image_options_t opts;
  rbd_image_options_create(&opts);
  int r = rbd_create4(io_, ImageName(id).c_str(), size, opts);
  rbd_image_options_destroy(opts);
  if (r < 0) return RbdError("create image " + ImageName(id) + " of " + HumanSize(size), r);
  return Status::Ok();
}

Status RbdArray::CarveLocked(uint64_t count) {
  for (uint64_t i = 1; i <= count; ++i) {
    Status s = CreateImage(internal::VolumeId(i), info_.volume_size);
    if (!s.ok() && s.code() != Code::kAlreadyExists) return s;  // carved before a crash
  }
  next_id_ = std::max(next_id_, count + 1);
  return Status::Ok();
}

Result<ArrayVolume> RbdArray::Stat(const std::string& id) {
  Image img;
  return OpenVolume(id, true, img.out());
}

Result<ArrayVolume> RbdArray::OpenVolume(const std::string& id, bool read_only, rbd_image_t* img) {
  VSL_RETURN_IF_ERROR(Ready());  // every operation on a volume comes here first
  if (!internal::IsVolumeFileName(id)) {
    return InvalidArgument(Label() + ": '" + id +
                           "' is not a volume id of an rbd array (vol-NNNN)");
  }
  const std::string name = ImageName(id);
  int r = read_only ? rbd_open_read_only(io_, name.c_str(), img, nullptr)
                    : rbd_open(io_, name.c_str(), img, nullptr);
  if (r == -ENOENT) return NotFound(Label() + ": no volume " + id + " (image " + name + ")");
  if (r < 0) return RbdError("open image " + name, r);
  uint64_t size = 0;
  r = rbd_get_size(*img, &size);
  if (r < 0) return RbdError("size of image " + name, r);
  return ArrayVolume{id, size, "rbd:" + rbd_.pool + "/" + name, info_.qualities};
}

Result<std::vector<ArrayVolume>> RbdArray::Scan(bool cached) {
  VSL_RETURN_IF_ERROR(Ready());
  std::vector<rbd_image_spec_t> specs(64);
  int r;
  for (;;) {
    size_t max = specs.size();
    r = rbd_list2(io_, specs.data(), &max);
    if (r == -ERANGE) {
      specs.resize(max + 16);
      continue;
    }
    if (r < 0) return RbdError("list images", r);
    specs.resize(max);
    break;
  }
  const std::string prefix = ImageName("");
  std::vector<std::pair<std::string, std::string>> ids;  // volume id, RBD id
  for (const rbd_image_spec_t& s : specs) {
    std::string_view name = s.name;
    if (name.starts_with(prefix) && internal::IsVolumeFileName(name.substr(prefix.size()))) {
      ids.emplace_back(name.substr(prefix.size()), s.id);
    }
  }
  rbd_image_spec_list_cleanup(specs.data(), specs.size());
  std::sort(ids.begin(), ids.end());
  std::vector<ArrayVolume> out;
  std::map<std::string, KnownSize> sizes;
  for (const auto& [id, rbd_id] : ids) {
    const std::string name = ImageName(id);
    auto known = sizes_.find(name);
    if (cached && known != sizes_.end() && known->second.rbd_id == rbd_id) {
      out.push_back(ArrayVolume{id, known->second.size, "rbd:" + rbd_.pool + "/" + name, info_.qualities});
      sizes.emplace(name, known->second);
      continue;
    }
    auto v = Stat(id);
    if (v.ok()) {
      // Read after the listing: should the image have been replaced in
      // between, this entry's id is the old one's, which never comes back.
      sizes.emplace(name, KnownSize{rbd_id, v->size});
      out.push_back(std::move(v).value());
    } else if (v.status().code() != Code::kNotFound) {  // removed meanwhile
      return v.status();
    }
  }
  sizes_ = std::move(sizes);
  return out;
}

Result<std::vector<ArrayVolume>> RbdArray::Discover() {
  std::lock_guard lock(mu_);
  return Scan();
}

Result<ArrayVolume> RbdArray::GetVolume(const std::string& id) { return Stat(id); }

Result<ArrayVolume> RbdArray::CreateVolume(uint64_t size) {
  if (info_.volume_size != 0) {
    return FailedPrecondition(Label() + " is pre-carved into volumes of " +
                              HumanSize(info_.volume_size) + "; it does not cut volumes on demand");
  }
  VSL_RETURN_IF_ERROR(internal::CheckVolumeSize(info_, size, "a volume"));
  std::lock_guard lock(mu_);
  VSL_ASSIGN_OR_RETURN(auto volumes, Scan(/*cached=*/true));
  uint64_t used = 0;
  for (const auto& v : volumes) used += v.size;
  VSL_RETURN_IF_ERROR(internal::CheckPoolRoom(info_, used, size));
  // The number is used up before the image exists: a crash in between skips
  // an id but never hands one out twice; an image another process made
  // meanwhile under the next number is skipped.
  for (int tries = 0; tries < 1000; ++tries) {
    std::string id = internal::VolumeId(next_id_++);
    VSL_RETURN_IF_ERROR(SaveManifestLocked());
    Status s = CreateImage(id, size);
    if (s.code() == Code::kAlreadyExists) continue;
    VSL_RETURN_IF_ERROR(s);
    return ArrayVolume{id, size, "rbd:" + rbd_.pool + "/" + ImageName(id), info_.qualities};
  }
  return Internal(Label() + ": no free volume number after 1000 tries");
}

Status RbdArray::DeleteVolume(const std::string& id) {
  std::lock_guard lock(mu_);
  VSL_RETURN_IF_ERROR(Stat(id).status());
  return RemoveImage(ImageName(id));
}

Status RbdArray::Read(const std::string& id, uint64_t offset, std::span<uint8_t> out) {
  Image img;
  VSL_ASSIGN_OR_RETURN(ArrayVolume v, OpenVolume(id, true, img.out()));
  VSL_RETURN_IF_ERROR(internal::CheckRange(info_, id, v.size, offset, out.size()));
  return ReadImage(img.get(), offset, out, Label() + ": volume " + id);
}

Status RbdArray::Write(const std::string& id, uint64_t offset, std::span<const uint8_t> data) {
  std::shared_lock io(io_mu_);
  Image img;
  VSL_ASSIGN_OR_RETURN(ArrayVolume v, OpenVolume(id, false, img.out()));
  VSL_RETURN_IF_ERROR(internal::CheckRange(info_, id, v.size, offset, data.size()));
  const std::string what = Label() + ": volume " + id;
  VSL_RETURN_IF_ERROR(WriteImage(img.get(), offset, data, what));
  return FlushImage(img.get(), what);
}

Status RbdArray::Deallocate(const std::string& id, uint64_t offset, uint64_t length) {
  std::shared_lock io(io_mu_);
  Image img;
  VSL_ASSIGN_OR_RETURN(ArrayVolume v, OpenVolume(id, false, img.out()));
  VSL_RETURN_IF_ERROR(internal::CheckRange(info_, id, v.size, offset, length));
  const std::string what = Label() + ": volume " + id;
  VSL_RETURN_IF_ERROR(ZeroImage(img.get(), offset, length, what));
  return FlushImage(img.get(), what);
}

Result<std::vector<ByteRange>> RbdArray::MappedRanges(const std::string& id) {
  Image img;
  VSL_ASSIGN_OR_RETURN(ArrayVolume v, OpenVolume(id, true, img.out()));
  return ImageRanges(io_, img.get(), v.size, Label() + ": volume " + id);
}

Status RbdArray::Copy(StorageArray& src, const std::string& src_id, const std::string& dst_id) {
  if (&src == this && src_id == dst_id) {
    return InvalidArgument(Label() + ": cannot copy volume " + dst_id + " onto itself");
  }
  VSL_ASSIGN_OR_RETURN(ArrayVolume from, src.GetVolume(src_id));
  std::shared_lock io(io_mu_);
  // The destination image is opened once (not per chunk, as Write would).
  Image img;
  VSL_ASSIGN_OR_RETURN(ArrayVolume to, OpenVolume(dst_id, false, img.out()));
  if (from.size > to.size) {
    return OutOfRange(Label() + ": volume " + dst_id + " (" + std::to_string(to.size) +
                      " bytes) is smaller than the source " + src_id + " (" +
                      std::to_string(from.size) + " bytes)");
  }
  const std::string what = Label() + ": volume " + dst_id;
  VSL_RETURN_IF_ERROR(ZeroImage(img.get(), 0, to.size, what));
  VSL_ASSIGN_OR_RETURN(auto ranges, src.MappedRanges(src_id));
  std::vector<uint8_t> buf;
  for (const ByteRange& range : ranges) {
    for (uint64_t done = 0; done < range.length;) {
      uint64_t n = std::min<uint64_t>(internal::kCopyChunk, range.length - done);
      buf.resize(static_cast<size_t>(n));
      VSL_RETURN_IF_ERROR(src.Read(src_id, range.offset + done, buf));
      if (!internal::IsAllZero(buf)) {
        VSL_RETURN_IF_ERROR(WriteImage(img.get(), range.offset + done, buf, what));
      }
      done += n;
    }
  }
  return FlushImage(img.get(), what);
}

Status RbdArray::CopyFromFile(const std::string& src_path, const std::string& dst_id) {
  std::shared_lock io(io_mu_);
  Image img;
  VSL_ASSIGN_OR_RETURN(ArrayVolume dst, OpenVolume(dst_id, false, img.out()));
  VSL_ASSIGN_OR_RETURN(internal::Fd fd, internal::OpenFile(src_path, O_RDONLY));
  VSL_ASSIGN_OR_RETURN(uint64_t src_size, internal::FileSize(fd.get(), src_path));
  if (src_size > dst.size) {
    return OutOfRange(Label() + ": volume " + dst_id + " (" + std::to_string(dst.size) +
                      " bytes) is smaller than " + src_path + " (" + std::to_string(src_size) +
                      " bytes)");
  }
  const std::string what = Label() + ": volume " + dst_id;
  VSL_RETURN_IF_ERROR(ZeroImage(img.get(), 0, dst.size, what));
  VSL_ASSIGN_OR_RETURN(auto ranges, internal::DataRanges(fd.get(), src_path, src_size));
  std::vector<uint8_t> buf;
  for (const ByteRange& range : ranges) {
    for (uint64_t done = 0; done < range.length;) {
      uint64_t n = std::min<uint64_t>(internal::kCopyChunk, range.length - done);
      buf.resize(static_cast<size_t>(n));
      VSL_RETURN_IF_ERROR(internal::PreadFull(fd.get(), src_path, range.offset + done, buf));
      if (!internal::IsAllZero(buf))
        VSL_RETURN_IF_ERROR(WriteImage(img.get(), range.offset + done, buf, what));
      done += n;
    }
  }
  return FlushImage(img.get(), what);
}

Status RbdArray::Snap(const std::string& src_id, const std::string& dst_id) {
  if (src_id == dst_id)
    return InvalidArgument(Label() + ": cannot snap volume " + dst_id + " onto itself");
  std::unique_lock io(io_mu_);  // no write through this array lands halfway
  VSL_ASSIGN_OR_RETURN(ArrayVolume from, Stat(src_id));
  VSL_ASSIGN_OR_RETURN(ArrayVolume to, Stat(dst_id));
  if (from.size > to.size) {
    return OutOfRange(Label() + ": volume " + dst_id + " (" + std::to_string(to.size) +
                      " bytes) is smaller than the source " + src_id + " (" +
                      std::to_string(from.size) + " bytes)");
  }
  // The point in time is an RBD snapshot of the source, protected; the BCV
  // becomes a copy-on-write clone of it (no byte copied). Each Snap takes a
  // new snapshot; the one the BCV hung from before goes with its old image.
  static std::atomic<uint64_t> seq{0};
  const std::string src_name = ImageName(src_id);
  const std::string snap =
      std::string(kBcvSnapPrefix) + dst_id + "." +
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count()) +
      "." + std::to_string(seq++);
  {
    Image src;
    int r = OpenImage(io_, src_name, false, src);
    if (r < 0) return RbdError("open image " + src_name, r);
    r = rbd_snap_create(src.get(), snap.c_str());
    if (r < 0) return RbdError("snapshot image " + src_name + "@" + snap, r);
    r = rbd_snap_protect(src.get(), snap.c_str());
    if (r < 0) {
      (void)rbd_snap_remove(src.get(), snap.c_str());
      return RbdError("protect snapshot " + src_name + "@" + snap, r);
    }
  }
  std::lock_guard lock(mu_);
  Status s = SwapForClone(*this, src_id, snap, from.size, dst_id);
  if (!s.ok()) {
    (void)DropSnapshot(src_name, snap);  // unless the BCV hangs from it already
    return s;
  }
  // Snapshots of earlier Snaps into this BCV that a crash left behind.
  Image src;
  if (OpenImage(io_, src_name, true, src) == 0) {
    std::vector<rbd_snap_info_t> snaps(16);
    int max = static_cast<int>(snaps.size());
    int r;
    while ((r = rbd_snap_list(src.get(), snaps.data(), &max)) == -ERANGE) {
      snaps.resize(static_cast<size_t>(max) + 4);
      max = static_cast<int>(snaps.size());
    }
    std::vector<std::string> stale;
    const std::string mine = std::string(kBcvSnapPrefix) + dst_id + ".";
    for (int i = 0; r > 0 && i < r; ++i) {
      std::string n = snaps[static_cast<size_t>(i)].name;
      if (n.starts_with(mine) && n != snap) stale.push_back(n);
    }
    if (r >= 0) rbd_snap_list_end(snaps.data());
    for (const std::string& n : stale) (void)DropSnapshot(src_name, n);
  }
  return Status::Ok();
}

Status RbdArray::Scrub(const std::string& id) {
  std::shared_lock io(io_mu_);
  if (!internal::IsVolumeFileName(id)) {
    return InvalidArgument(Label() + ": '" + id +
                           "' is not a volume id of an rbd array (vol-NNNN)");
  }
  const std::string name = ImageName(id);
  const std::string old = name + kScrubSuffix;
  // The image is renamed aside, a new empty one made under its name, then
  // the old one removed: a crash at any point leaves either the volume or
  // its renamed data, and Scrub run again finishes the job. mu_ (grants, the
  // set of images) is held for the swap only, not while the OSDs delete.
  uint64_t size = 0;
  std::optional<ImageFacts> data;  // what goes: the renamed image
  {
    std::lock_guard lock(mu_);
    VSL_RETURN_IF_ERROR(Ready());
    VSL_ASSIGN_OR_RETURN(auto now, Facts(name));
    VSL_ASSIGN_OR_RETURN(data, Facts(old));
    if (now) {
      // A master's clone base goes first: refused while clones hang from it.
      if (now->has_snaps) {
        VSL_RETURN_IF_ERROR(RemoveSnapshots(name));
        now->has_snaps = false;
      }
      if (data) (void)RemoveImage(old, *data);  // an earlier scrub's
      int r = rbd_rename(io_, name.c_str(), old.c_str());
      if (r < 0) return RbdError("rename image " + name + " to " + old, r);
      data = std::move(now);
    } else if (!data) {  // neither the volume nor a scrub of it
      return NotFound(Label() + ": no volume " + id + " (image " + name + ")");
    }
    size = data->size;
    Status made = CreateImage(id, size);
    if (!made.ok() && made.code() != Code::kAlreadyExists) return made;
    if (!data->grants.empty()) VSL_RETURN_IF_ERROR(WriteGrants(id, data->grants));
  }
  Status removed = RemoveImage(old, *data);
  if (!removed.ok() && removed.code() != Code::kNotFound) {
    return removed.Annotate("remove the scrubbed data (image " + old + ")");
  }
  int r;

  // Verify: nothing mapped, and a sample of blocks reads as zeros.
  Image img;
  r = OpenImage(io_, name, true, img);
  if (r < 0) return RbdError("open image " + name, r);
  const std::string what = Label() + ": volume " + id;
  VSL_ASSIGN_OR_RETURN(auto ranges, ImageRanges(io_, img.get(), size, what));
  if (!ranges.empty()) {
    return DataLoss(what + " still maps data in bytes [" + std::to_string(ranges[0].offset) + ", " +
                    std::to_string(ranges[0].offset + ranges[0].length) + ") after scrubbing");
  }
  const uint64_t blocks = size / kBlockSize;
  std::vector<uint8_t> buf(kBlockSize);
  for (uint64_t i = 0; blocks > 0 && i < kScrubSamples + 2; ++i) {
    uint64_t block = i == kScrubSamples + 1 ? blocks - 1 : i * blocks / (kScrubSamples + 1);
    VSL_RETURN_IF_ERROR(ReadImage(img.get(), block * kBlockSize, buf, what));
    if (!internal::IsAllZero(buf)) {
      return DataLoss(what + " still holds data in block " + std::to_string(block) +
                      " after scrubbing");
    }
  }
  return Status::Ok();
}

std::string RbdArray::Fsid() const {
  char buf[64] = {};
  int r = rados_cluster_fsid(cluster_, buf, sizeof buf - 1);
  return r < 0 ? std::string() : std::string(buf);
}

bool RbdArray::CanCloneFrom(const StorageArray& src) const {
  const auto* other = dynamic_cast<const RbdArray*>(&src);
  if (other == nullptr || other->rbd_.pool != rbd_.pool) return false;
  const std::string fsid = Fsid();
  return !fsid.empty() && fsid == other->Fsid();
}

Status RbdArray::RemoveSnapshots(const std::string& name) {
  Image img;
  int r = OpenImage(io_, name, false, img);
  if (r < 0) return RbdError("open image " + name, r);
  std::vector<rbd_snap_info_t> snaps(8);
  int max = static_cast<int>(snaps.size());
  for (;;) {
    r = rbd_snap_list(img.get(), snaps.data(), &max);
    if (r != -ERANGE) break;
    snaps.resize(static_cast<size_t>(max) + 4);
    max = static_cast<int>(snaps.size());
  }
  if (r < 0) return RbdError("list the snapshots of image " + name, r);
  std::vector<std::string> names;
  for (int i = 0; i < r; ++i) names.emplace_back(snaps[static_cast<size_t>(i)].name);
  rbd_snap_list_end(snaps.data());
  for (const std::string& snap : names) {
    int prot = 0;
    r = rbd_snap_is_protected(img.get(), snap.c_str(), &prot);
    if (r == 0 && prot != 0 && snap.starts_with(kBcvSnapPrefix)) {
      // BCVs taken of this image keep their point in time: their own copy.
      VSL_RETURN_IF_ERROR(FlattenChildren(img.get(), name, snap));
    }
    if (r == 0 && prot != 0) {
      r = rbd_snap_unprotect(img.get(), snap.c_str());
      if (r == -EBUSY) {
        return FailedPrecondition(Label() + ": image " + name + "@" + snap +
                                  " still has clones; flatten or remove them first");
      }
      if (r < 0 && r != -EINVAL) return RbdError("unprotect snapshot " + name + "@" + snap, r);
    }
    r = rbd_snap_remove(img.get(), snap.c_str());
    if (r < 0 && r != -ENOENT) return RbdError("remove snapshot " + name + "@" + snap, r);
  }
  return Status::Ok();
}

Status RbdArray::FlattenChildren(rbd_image_t img, const std::string& name,
                                 const std::string& snap) {
  int r = rbd_snap_set(img, snap.c_str());
  if (r < 0) return RbdError("open snapshot " + name + "@" + snap, r);
  std::vector<rbd_linked_image_spec_t> children(8);
  size_t max = children.size();
  for (;;) {
    r = rbd_list_children3(img, children.data(), &max);
    if (r != -ERANGE) break;
    children.resize(max + 4);
    max = children.size();
  }
  (void)rbd_snap_set(img, nullptr);
  if (r < 0) return RbdError("list the clones of " + name + "@" + snap, r);
  std::vector<std::pair<std::string, std::string>> found;  // pool, image
  for (size_t i = 0; i < max; ++i) {
    if (!children[i].trash) found.emplace_back(children[i].pool_name, children[i].image_name);
  }
  rbd_linked_image_spec_list_cleanup(children.data(), max);
  for (const auto& [pool, child] : found) {
    if (pool != rbd_.pool) {
      return FailedPrecondition(Label() + ": " + name + "@" + snap + " has a clone in pool '" + pool +
                                "' (" + child + ")");
    }
    Image c;
    r = OpenImage(io_, child, false, c);
    if (r == -ENOENT) continue;
    if (r < 0) return RbdError("open image " + child, r);
    r = rbd_flatten(c.get());
    if (r < 0) return RbdError("flatten image " + child + " (a clone of " + name + "@" + snap + ")", r);
  }
  return Status::Ok();
}

Status RbdArray::DropSnapshot(const std::string& name, const std::string& snap) {
  VSL_ASSIGN_OR_RETURN(bool exists, ImageExists(name));  // see Facts
  if (!exists) return Status::Ok();
  Image img;
  int r = OpenImage(io_, name, false, img);
  if (r == -ENOENT) return Status::Ok();
  if (r < 0) return RbdError("open image " + name, r);
  int prot = 0;
  r = rbd_snap_is_protected(img.get(), snap.c_str(), &prot);
  if (r == -ENOENT) return Status::Ok();
  if (r == 0 && prot != 0) {
    r = rbd_snap_unprotect(img.get(), snap.c_str());
    if (r == -EBUSY) return Status::Ok();  // clones still hang from it
    if (r < 0 && r != -EINVAL) return RbdError("unprotect snapshot " + name + "@" + snap, r);
  }
  r = rbd_snap_remove(img.get(), snap.c_str());
  if (r < 0 && r != -ENOENT) return RbdError("remove snapshot " + name + "@" + snap, r);
  return Status::Ok();
}

Result<bool> RbdArray::ImageExists(const std::string& name) {
  // A format 2 image (the only kind librbd creates) is named by its object
  // rbd_id.NAME: one stat, and no image context for a name that is free.
  uint64_t size = 0;
  time_t mtime = 0;
  int r = rados_stat(io_, ("rbd_id." + name).c_str(), &size, &mtime);
  if (r == -ENOENT) return false;
  if (r < 0) return RbdError("look up image " + name, r);
  return true;
}

Result<std::optional<RbdArray::ImageFacts>> RbdArray::Facts(const std::string& name) {
  // librbd 16.2 (Debian 12) can hang or crash a later call after an open of
  // an image that does not exist: names that are usually free (the image a
  // swap or scrub sets aside) are looked up first, not opened.
  VSL_ASSIGN_OR_RETURN(bool exists, ImageExists(name));
  if (!exists) return std::optional<ImageFacts>();
  Image img;
  int r = OpenImage(io_, name, true, img);
  if (r == -ENOENT) return std::optional<ImageFacts>();
  if (r < 0) return RbdError("open image " + name, r);
  ImageFacts f;
  r = rbd_get_size(img.get(), &f.size);
  if (r < 0) return RbdError("size of image " + name, r);
  VSL_ASSIGN_OR_RETURN(f.parent, ParentOf(img.get(), Label() + ": image " + name));
  std::vector<std::string> snaps;
  r = SnapNames(img.get(), snaps);
  if (r < 0) return RbdError("list the snapshots of image " + name, r);
  f.has_snaps = !snaps.empty();
  VSL_ASSIGN_OR_RETURN(f.grants, GrantsOf(img.get(), name));
  return std::optional<ImageFacts>(std::move(f));
}

Status RbdArray::RemoveImage(const std::string& name) {
  VSL_ASSIGN_OR_RETURN(auto facts, Facts(name));
  if (!facts) return RbdError("open image " + name, -ENOENT);
  return RemoveImage(name, *facts);
}

Status RbdArray::RemoveImage(const std::string& name, const ImageFacts& facts) {
  if (facts.has_snaps) VSL_RETURN_IF_ERROR(RemoveSnapshots(name));
  int r = rbd_remove(io_, name.c_str());
  if (r < 0) return RbdError("remove image " + name, r);
  // A BCV's snapshot of its source has no use once the BCV is gone.
  const std::string pool_prefix = rbd_.pool + "/";
  const auto& parent = facts.parent;
  if (parent && parent->starts_with(pool_prefix)) {
    const size_t at = parent->find('@');
    if (at != std::string::npos && parent->substr(at + 1).starts_with(kBcvSnapPrefix)) {
      (void)DropSnapshot(parent->substr(pool_prefix.size(), at - pool_prefix.size()),
                         parent->substr(at + 1));
    }
  }
  return Status::Ok();
}

Result<uint64_t> RbdArray::MakeCloneBase(const std::string& id) {
  const std::string name = ImageName(id);
  uint64_t size = 0;
  {
    // Made once per master: after that, one read-only open says so.
    Image img;
    VSL_ASSIGN_OR_RETURN(ArrayVolume v, OpenVolume(id, true, img.out()));
    size = v.size;
    int prot = 0;
    if (rbd_snap_is_protected(img.get(), kCloneBase, &prot) == 0 && prot != 0) return size;
  }
  Image img;
  int r = OpenImage(io_, name, false, img);
  if (r < 0) return RbdError("open image " + name, r);
  int prot = 0;
  r = rbd_snap_is_protected(img.get(), kCloneBase, &prot);
  if (r == -ENOENT) {
    r = rbd_snap_create(img.get(), kCloneBase);
    if (r < 0 && r != -EEXIST) return RbdError("snapshot image " + name + "@" + kCloneBase, r);
    util::CrashPoint("rbd.clone.snapped");  // the snapshot exists, unprotected
    prot = 0;
  } else if (r < 0) {
    return RbdError("read snapshot " + name + "@" + kCloneBase, r);
  }
  if (prot == 0) {
    r = rbd_snap_protect(img.get(), kCloneBase);
    if (r < 0 && r != -EBUSY) return RbdError("protect snapshot " + name + "@" + kCloneBase, r);
  }
  r = rbd_get_size(img.get(), &size);
  if (r < 0) return RbdError("size of image " + name, r);
  return size;
}

Status RbdArray::Clone(StorageArray& src_array, const std::string& src_id,
                       const std::string& dst_id) {
  auto* src = dynamic_cast<RbdArray*>(&src_array);
  if (src == nullptr || !CanCloneFrom(*src)) {
    return FailedPrecondition(Label() + ": volume " + dst_id + " cannot be a clone of volume " +
                              src_id + " of array '" + src_array.info().name +
                              "' (not an rbd array on the same cluster and pool)");
  }
  if (src == this && src_id == dst_id)
    return InvalidArgument(Label() + ": cannot clone volume " + dst_id + " from itself");
  VSL_ASSIGN_OR_RETURN(uint64_t src_size, src->MakeCloneBase(src_id));
  std::shared_lock io(io_mu_);
  std::lock_guard lock(mu_);  // the set of images and the grants, during the swap
  return SwapForClone(*src, src_id, kCloneBase, src_size, dst_id);
}

Status RbdArray::SwapForClone(RbdArray& src, const std::string& src_id, const std::string& snap,
                              uint64_t src_size, const std::string& dst_id) {
  const std::string parent = rbd_.pool + "/" + src.ImageName(src_id) + "@" + snap;
  const std::string name = ImageName(dst_id);
  const std::string aside = name + kCloneSuffix;
  const std::string what = Label() + ": volume " + dst_id;
  VSL_RETURN_IF_ERROR(Ready());
  if (!internal::IsVolumeFileName(dst_id)) {
    return InvalidArgument(Label() + ": '" + dst_id + "' is not a volume id of an rbd array (vol-NNNN)");
  }
  // One open of each says what there is: the volume's image, and the old
  // image a cut-short swap left aside.
  VSL_ASSIGN_OR_RETURN(auto dst, Facts(name));
  VSL_ASSIGN_OR_RETURN(auto old, Facts(aside));
  if (!dst && !old) {  // neither the volume nor its old image
    return NotFound(Label() + ": no volume " + dst_id + " (image " + name + ")");
  }
  // A clone of `parent` with the old image still aside is a swap cut short:
  // finish it. Anything else (a plain image, a clone of another snapshot,
  // a finished clone of this one that may have been written since) is
  // swapped for a new clone.
  const bool cut_short = dst && dst->parent == parent && old;
  if (!cut_short) {
    if (dst) {
      // The old image goes aside (its size and grants stay there).
      if (src_size > dst->size) {
        return OutOfRange(what + " (" + std::to_string(dst->size) +
                          " bytes) is smaller than the source " + src_id + " (" +
                          std::to_string(src_size) + " bytes)");
      }
      if (old) (void)RemoveImage(aside, *old);  // a stale one
      if (dst->has_snaps) {
        VSL_RETURN_IF_ERROR(RemoveSnapshots(name));
        dst->has_snaps = false;
      }
      int r = rbd_rename(io_, name.c_str(), aside.c_str());
      if (r < 0) return RbdError("rename image " + name + " to " + aside, r);
      old = std::move(dst);
      util::CrashPoint("rbd.clone.aside");  // no image under the volume's name
    }
    rbd_image_options_t opts;
    rbd_image_options_create(&opts);
    int r = rbd_clone3(src.io_, src.ImageName(src_id).c_str(), snap.c_str(), io_, name.c_str(),
                       opts);
    rbd_image_options_destroy(opts);
    if (r < 0) return RbdError("clone " + parent + " as image " + name, r);
    util::CrashPoint("rbd.clone.cloned");  // the clone has its parent's size, no grants
  }
  // Finish from the old image, when it is still there: its size and grants.
  if (!old) return Status::Ok();
  {
    Image img;
    int r = OpenImage(io_, name, false, img);
    if (r < 0) return RbdError("open image " + name, r);
    uint64_t now = 0;
    r = rbd_get_size(img.get(), &now);
    if (r == 0 && now < old->size) r = rbd_resize(img.get(), old->size);
    if (r < 0) return RbdError("resize image " + name + " to " + HumanSize(old->size), r);
    sizes_.erase(name);
    if (!old->grants.empty()) VSL_RETURN_IF_ERROR(SetGrantsOf(img.get(), name, old->grants));
  }
  Status removed = RemoveImage(aside, *old);
  if (!removed.ok() && removed.code() != Code::kNotFound) return removed;
  return Status::Ok();
}

Result<std::optional<std::string>> RbdArray::CloneParent(const std::string& id) {
  Image img;
  VSL_RETURN_IF_ERROR(OpenVolume(id, true, img.out()).status());
  return ParentOf(img.get(), Label() + ": volume " + id);
}

Status RbdArray::Flatten(const std::string& id) {
  std::shared_lock io(io_mu_);
  Image img;
  VSL_RETURN_IF_ERROR(OpenVolume(id, false, img.out()).status());
  const std::string what = Label() + ": volume " + id;
  VSL_ASSIGN_OR_RETURN(auto parent, ParentOf(img.get(), what));
  if (!parent) return Status::Ok();  // not a clone (any more): nothing to do
  int r = rbd_flatten(img.get());
  if (r < 0) return RbdError("flatten image " + ImageName(id), r);
  return Status::Ok();
}

Result<std::vector<std::string>> RbdArray::GrantsOf(rbd_image_t img, const std::string& name) {
  std::string value(256, '\0');
  for (;;) {
    size_t len = value.size();
    int r = rbd_metadata_get(img, kGrantsKey, value.data(), &len);
    if (r == -ERANGE) {
      value.resize(len);
      continue;
    }
    if (r == -ENOENT) return std::vector<std::string>{};
    if (r < 0) return RbdError("read the grants of image " + name, r);
    value.resize(len > 0 && value[len - 1] == '\0' ? len - 1 : len);
    break;
  }
  json j = json::parse(value, nullptr, false);
  if (!j.is_array())
    return DataLoss(Label() + ": image " + name + ": metadata " + kGrantsKey + " is not a list");
  std::vector<std::string> out;
  for (const json& g : j) {
    if (g.is_string()) out.push_back(g.get<std::string>());
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status RbdArray::SetGrantsOf(rbd_image_t img, const std::string& name,
                             const std::vector<std::string>& grants) {
  int r;
  if (grants.empty()) {
    r = rbd_metadata_remove(img, kGrantsKey);
    if (r == -ENOENT) r = 0;
  } else {
    r = rbd_metadata_set(img, kGrantsKey, json(grants).dump().c_str());
  }
  if (r < 0) return RbdError("write the grants of image " + name, r);
  return Status::Ok();
}

Status RbdArray::WriteGrants(const std::string& id, const std::vector<std::string>& grants) {
  Image img;
  int r = OpenImage(io_, ImageName(id), false, img);
  if (r < 0) return RbdError("open image " + ImageName(id), r);
  return SetGrantsOf(img.get(), ImageName(id), grants);
}

Status RbdArray::Grant(const std::string& id, const std::string& initiator) {
  if (initiator.empty())
    return InvalidArgument(Label() + ": grant of volume " + id + " names no initiator");
  std::lock_guard lock(mu_);
  Image img;  // one open reads and writes the grants
  VSL_RETURN_IF_ERROR(OpenVolume(id, false, img.out()).status());
  VSL_ASSIGN_OR_RETURN(auto grants, GrantsOf(img.get(), ImageName(id)));
  if (std::find(grants.begin(), grants.end(), initiator) != grants.end()) return Status::Ok();
  grants.push_back(initiator);
  std::sort(grants.begin(), grants.end());
  return SetGrantsOf(img.get(), ImageName(id), grants);
}

Status RbdArray::Revoke(const std::string& id, const std::string& initiator) {
  std::lock_guard lock(mu_);
  Image img;
  VSL_RETURN_IF_ERROR(OpenVolume(id, false, img.out()).status());
  VSL_ASSIGN_OR_RETURN(auto grants, GrantsOf(img.get(), ImageName(id)));
  size_t before = grants.size();
  if (initiator.empty()) {
    grants.clear();
  } else {
    grants.erase(std::remove(grants.begin(), grants.end(), initiator), grants.end());
  }
  if (grants.size() == before) return Status::Ok();
  return SetGrantsOf(img.get(), ImageName(id), grants);
}

Result<std::vector<std::string>> RbdArray::Grants(const std::string& id) {
  std::lock_guard lock(mu_);
  Image img;
  VSL_RETURN_IF_ERROR(OpenVolume(id, true, img.out()).status());
  return GrantsOf(img.get(), ImageName(id));
}

Result<std::vector<volume::Extent>> RbdArray::Locate(const std::string& id) {
  VSL_ASSIGN_OR_RETURN(ArrayVolume v, Stat(id));  // one open: the check and the size
  // The gateway opens the image itself through librbd with the array's
  // connection settings (the keyring's path, never the key).
  volume::Extent e;
  e.path = "rbd:" + rbd_.pool + "/" + ImageName(id);
  e.offset = 0;
  e.length = v.size;
  e.rbd = volume::RbdImage{rbd_.pool, ImageName(id), rbd_.conf, rbd_.user, rbd_.keyring, ""};
  return std::vector<volume::Extent>{std::move(e)};
}

}  // namespace vsl::array
