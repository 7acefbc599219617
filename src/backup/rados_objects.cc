// ObjectStore in a RADOS pool (one namespace of it) through librados.
#include <rados/librados.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <random>

#include "backup/objects.h"

namespace vsl::backup {
namespace {

constexpr char kTimeoutSeconds[] = "30";
// The lock every writer and delete takes, on the store's marker object.
constexpr char kLockObject[] = "vsl-backup-store";
constexpr char kLockName[] = "vsl-backup";
// A lock outlives a killed holder by at most this; holders renew it well
// before (BackupWriter renews as it adds chunks).
constexpr int kLeaseSeconds = 60;
constexpr auto kRenewEvery = std::chrono::seconds(15);

std::string Err(int r) { return std::strerror(-r); }

class RadosLock : public ObjectLock {
 public:
  RadosLock(rados_ioctx_t io, std::string cookie, bool shared, std::string store)
      : io_(io), cookie_(std::move(cookie)), shared_(shared), store_(std::move(store)),
        taken_(std::chrono::steady_clock::now()) {}
  ~RadosLock() override { (void)rados_unlock(io_, kLockObject, kLockName, cookie_.c_str()); }

  Status Renew() override {
    auto now = std::chrono::steady_clock::now();
    if (now - taken_ < kRenewEvery) return Status::Ok();
    // Past most of its lease a delete may have taken the lock meanwhile and
    // removed chunks this holder put: what it wrote can't be trusted.
    if (now - taken_ >= std::chrono::seconds(kLeaseSeconds - 10)) {
      return Aborted(store_ + ": the store's lock was not renewed within its lease; start again");
    }
    int r = Take(io_, cookie_, shared_, LIBRADOS_LOCK_FLAG_MAY_RENEW);
    if (r < 0) return Unavailable(store_ + ": renew the store's lock: " + Err(r));
    taken_ = now;
    return Status::Ok();
  }

  const std::string& cookie() const override { return cookie_; }

  static int Take(rados_ioctx_t io, const std::string& cookie, bool shared, uint8_t flags) {
    struct timeval lease = {kLeaseSeconds, 0};
    if (shared) {
      return rados_lock_shared(io, kLockObject, kLockName, cookie.c_str(), "writers", "vsl backup writer", &lease,
                               flags);
    }
    return rados_lock_exclusive(io, kLockObject, kLockName, cookie.c_str(), "vsl backup delete", &lease, flags);
  }

 private:
  rados_ioctx_t io_;
  std::string cookie_;
  bool shared_;
  std::string store_;
  std::chrono::steady_clock::time_point taken_;
};

class RadosObjects : public ObjectStore {
 public:
  explicit RadosObjects(const RadosTarget& t)
      : target_(t), name_("rados:" + t.pool + (t.ns.empty() ? "" : "/" + t.ns)) {}
  ~RadosObjects() override {
    if (io_ != nullptr) rados_ioctx_destroy(io_);
    if (cluster_ != nullptr) rados_shutdown(cluster_);
  }

  Status Connect() {
    const std::string who = "client." + target_.user;
    const std::string where = name_ + " as " + who + " (conf " + target_.conf +
                              (target_.keyring.empty() ? "" : ", keyring " + target_.keyring) + ")";
    if (::access(target_.conf.c_str(), R_OK) != 0) {
      return InvalidArgument(name_ + ": ceph conf '" + target_.conf + "': " + std::strerror(errno));
    }
    if (!target_.keyring.empty() && ::access(target_.keyring.c_str(), R_OK) != 0) {
      return InvalidArgument(name_ + ": keyring " + target_.keyring + ": " + std::strerror(errno));
    }
    int r = rados_create2(&cluster_, "ceph", who.c_str(), 0);
    if (r < 0) return IoError(where + ": create the cluster handle: " + Err(r));
    auto set = [&](const char* opt, const std::string& value) -> Status {
      int rr = rados_conf_set(cluster_, opt, value.c_str());
      if (rr < 0) return InvalidArgument(where + ": set " + opt + ": " + Err(rr));
      return Status::Ok();
    };
    if (!target_.keyring.empty()) VSL_RETURN_IF_ERROR(set("keyring", target_.keyring));
    r = rados_conf_read_file(cluster_, target_.conf.c_str());
    if (r < 0) return InvalidArgument(name_ + ": ceph conf " + target_.conf + ": " + Err(r));
    // The store's own keyring wins over a keyring line in the conf file.
    if (!target_.keyring.empty()) VSL_RETURN_IF_ERROR(set("keyring", target_.keyring));
    for (const char* opt : {"client_mount_timeout", "rados_mon_op_timeout", "rados_osd_op_timeout"}) {
      VSL_RETURN_IF_ERROR(set(opt, kTimeoutSeconds));
    }
    r = rados_connect(cluster_);
    if (r == -EACCES || r == -EPERM) return Unauthenticated(where + ": the cluster refused the key: " + Err(r));
    if (r == -ETIMEDOUT) return Unavailable(where + ": no monitor answered within " + kTimeoutSeconds + " s");
    if (r < 0) return Unavailable(where + ": connect: " + Err(r));
    r = rados_ioctx_create(cluster_, target_.pool.c_str(), &io_);
    if (r == -ENOENT) return NotFound(where + ": pool '" + target_.pool + "' does not exist");
    if (r < 0) return IoError(where + ": open pool '" + target_.pool + "': " + Err(r));
    rados_ioctx_set_namespace(io_, target_.ns.c_str());
    return Status::Ok();
  }

  const std::string& name() const override { return name_; }

  Status PutIfAbsent(const std::string& object, std::span<const uint8_t> bytes) override {
    // One operation: create exclusively and write; a second put of the same
    // name fails with EEXIST and changes nothing.
    rados_write_op_t op = rados_create_write_op();
    rados_write_op_create(op, LIBRADOS_CREATE_EXCLUSIVE, nullptr);
    rados_write_op_write_full(op, reinterpret_cast<const char*>(bytes.data()), bytes.size());
    int r = rados_write_op_operate(op, io_, object.c_str(), nullptr, 0);
    rados_release_write_op(op);
    if (r == -EEXIST) return Status::Ok();
    if (r < 0) return Failed("put", object, r);
    return Status::Ok();
  }

  Status WriteWhole(const std::string& object, std::span<const uint8_t> bytes) override {
    int r = rados_write_full(io_, object.c_str(), reinterpret_cast<const char*>(bytes.data()), bytes.size());
    if (r < 0) return Failed("write", object, r);
    return Status::Ok();
  }

  Result<std::string> Read(const std::string& object) const override {
    uint64_t size = 0;
    time_t mtime = 0;
    int r = rados_stat(io_, object.c_str(), &size, &mtime);
    if (r == -ENOENT) return NotFound(name_ + ": no object " + object);
    if (r < 0) return Failed("stat", object, r);
    std::string out(size, '\0');
    size_t done = 0;
    while (done < size) {
      r = rados_read(io_, object.c_str(), out.data() + done, size - done, done);
      if (r < 0) return Failed("read", object, r);
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    out.resize(done);
    return out;
  }

  Result<bool> Exists(const std::string& object) const override {
    uint64_t size = 0;
    time_t mtime = 0;
    int r = rados_stat(io_, object.c_str(), &size, &mtime);
    if (r == -ENOENT) return false;
    if (r < 0) return Failed("stat", object, r);
    return true;
  }

  Result<std::vector<std::string>> List(const std::string& prefix) const override {
    rados_list_ctx_t ctx;
    int r = rados_nobjects_list_open(io_, &ctx);
    if (r < 0) return Failed("list", prefix + "*", r);
    std::vector<std::string> names;
    while (true) {
      const char* entry = nullptr;
      r = rados_nobjects_list_next(ctx, &entry, nullptr, nullptr);
      if (r == -ENOENT) break;
      if (r < 0) {
        rados_nobjects_list_close(ctx);
        return Failed("list", prefix + "*", r);
      }
      std::string n = entry;
      if (n.starts_with(prefix)) names.push_back(std::move(n));
    }
    rados_nobjects_list_close(ctx);
    std::sort(names.begin(), names.end());
    return names;
  }

  Status Remove(const std::string& object) override {
    int r = rados_remove(io_, object.c_str());
    if (r < 0 && r != -ENOENT) return Failed("remove", object, r);
    return Status::Ok();
  }

  Result<std::unique_ptr<ObjectLock>> Lock(LockMode mode) override {
    std::random_device rd;
    std::string cookie = std::to_string(::getpid()) + "-" + std::to_string(rd()) + std::to_string(rd());
    bool shared = mode == LockMode::kShared;
    int r = RadosLock::Take(io_, cookie, shared, 0);
    if (r == -EBUSY || r == -EEXIST) {
      return Unavailable(name_ + ": locked (" + (shared ? "a delete" : "a backup or delete") + " is running)");
    }
    if (r < 0) return Failed("lock", kLockObject, r);
    return std::unique_ptr<ObjectLock>(new RadosLock(io_, cookie, shared, name_));
  }

  Result<int> BreakLocks(const std::vector<std::string>& cookies) override {
    if (cookies.empty()) return 0;
    int exclusive = 0;
    std::vector<char> tag(256), clients(64 * 1024), cks(64 * 1024), addrs(64 * 1024);
    size_t tag_len = tag.size(), clients_len = clients.size(), cks_len = cks.size(), addrs_len = addrs.size();
    ssize_t n = rados_list_lockers(io_, kLockObject, kLockName, &exclusive, tag.data(), &tag_len, clients.data(),
                                   &clients_len, cks.data(), &cks_len, addrs.data(), &addrs_len);
    if (n == -ENOENT) return 0;
    if (n < 0) return Failed("list the lockers of", kLockObject, static_cast<int>(n));
    int broken = 0;
    const char* c = clients.data();
    const char* k = cks.data();
    for (ssize_t i = 0; i < n; i++) {
      std::string client = c, cookie = k;
      c += client.size() + 1;
      k += cookie.size() + 1;
      if (std::find(cookies.begin(), cookies.end(), cookie) == cookies.end()) continue;
      int r = rados_break_lock(io_, kLockObject, kLockName, client.c_str(), cookie.c_str());
      if (r < 0 && r != -ENOENT) return Failed("break a dead holder's lock on", kLockObject, r);
      if (r == 0) broken++;
    }
    return broken;
  }

 private:
  Status Failed(const std::string& what, const std::string& object, int r) const {
    std::string m = name_ + ": " + what + " " + object + ": " + Err(r);
    if (r == -EPERM || r == -EACCES) return PermissionDenied(m + " (see docs/ceph.md for the caps a store needs)");
    if (r == -ETIMEDOUT) return Unavailable(m);
    return IoError(m);
  }

  RadosTarget target_;
  std::string name_;
  rados_t cluster_ = nullptr;
  rados_ioctx_t io_ = nullptr;
};

}  // namespace

bool HaveRados() { return true; }

Result<std::unique_ptr<ObjectStore>> OpenRadosObjects(const RadosTarget& target) {
  if (target.conf.empty()) return InvalidArgument("rados:" + target.pool + ": no ceph conf (--ceph-conf)");
  if (target.user.empty()) return InvalidArgument("rados:" + target.pool + ": no cephx user (--ceph-user)");
  auto s = std::make_unique<RadosObjects>(target);
  VSL_RETURN_IF_ERROR(s->Connect());
  return std::unique_ptr<ObjectStore>(std::move(s));
}

}  // namespace vsl::backup
