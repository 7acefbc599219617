// The persistence under a pool backup store (docs/backup.md, "A store in a
// RADOS pool"): named objects, nothing else. Two implementations: a RADOS
// pool (a namespace of it) through librados, and a directory of plain files
// (the same contract without a cluster, for tests and for reading a copy of
// a pool's objects). The directory store of `--backup-dir` keeps its own
// format (store.h) and does not go through this.
//
// Contract every implementation keeps:
//  - PutIfAbsent writes an object that does not exist yet, whole; one that
//    exists is left as it is (content-addressed chunks: same name, same
//    bytes). A reader never sees part of a put.
//  - WriteWhole replaces an object's content atomically: a reader sees the
//    old bytes or the new ones (the manifest's commit point).
//  - Lock(kShared) is held by any number of writers at once; Lock(kExclusive)
//    by one deleter and no writer. A lock held by a killed process goes away
//    by itself (flock: with the process; RADOS: its duration runs out unless
//    renewed, see Renew).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "util/status.h"

namespace vsl::backup {

class ObjectLock {
 public:
  virtual ~ObjectLock() = default;  // releases
  // Keeps the lock alive for another lease; cheap when called often.
  virtual Status Renew() = 0;
  // What tells this holder from others (BreakLocks takes it).
  virtual const std::string& cookie() const = 0;
};

class ObjectStore {
 public:
  enum class LockMode { kShared, kExclusive };

  virtual ~ObjectStore() = default;
  // For messages: "rados:backups/ns1", "objects in /tmp/x".
  virtual const std::string& name() const = 0;
  virtual Status PutIfAbsent(const std::string& object, std::span<const uint8_t> bytes) = 0;
  virtual Status WriteWhole(const std::string& object, std::span<const uint8_t> bytes) = 0;
  // The whole object; NotFound when it does not exist.
  virtual Result<std::string> Read(const std::string& object) const = 0;
  virtual Result<bool> Exists(const std::string& object) const = 0;
  // Names starting with `prefix`, sorted.
  virtual Result<std::vector<std::string>> List(const std::string& prefix) const = 0;
  // Missing is not an error.
  virtual Status Remove(const std::string& object) = 0;
  // Unavailable when a conflicting lock is held (no waiting).
  virtual Result<std::unique_ptr<ObjectLock>> Lock(LockMode mode) = 0;
  // Breaks the locks held with these cookies (holders known to be dead);
  // how many there were.
  virtual Result<int> BreakLocks(const std::vector<std::string>& cookies) = 0;
};

// Objects as files DIR/NAME (names are the store's own: [a-z0-9.-]).
Result<std::unique_ptr<ObjectStore>> OpenDirObjects(const std::string& dir, bool create);

// Where a pool store lives and how to reach the cluster.
struct RadosTarget {
  std::string pool;
  std::string ns;       // the RADOS namespace; "" is the pool's default one
  std::string conf;     // ceph.conf
  std::string user;     // cephx user without "client."
  std::string keyring;  // "" : as the conf says
};
// "rados:POOL[/NAMESPACE]" into pool and ns; InvalidArgument naming what is wrong.
Status ParseRadosSpec(const std::string& spec, RadosTarget* out);
// Unimplemented when vsl was built without librados.
Result<std::unique_ptr<ObjectStore>> OpenRadosObjects(const RadosTarget& target);
bool HaveRados();

}  // namespace vsl::backup
