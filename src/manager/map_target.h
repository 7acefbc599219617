// MapTarget: what the storage manager's Map and Unmap operations drive — the
// storage gateway's per-host SCSI namespaces (FIG. 8's SAN Gateway
// interface). `vsl serve` plugs in the real gateway (gateway_map_target.h);
// tests use a recording fake.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "util/qos.h"
#include "util/status.h"
#include "volume/point_in_time.h"
#include "volume/volume.h"

namespace vsl::manager {

struct MapLun {
  uint64_t lun = 0;
  bool read_only = false;
  std::string volume_id;  // the catalog's unit id, as text: the LU's identity
  // Where the bytes live (empty when the arrays can't say, e.g. memory
  // arrays in tests).
  std::vector<volume::Extent> extents;
  // The unit's limits (catalog volumes.qos); empty: none.
  QosLimits qos;
  // The unit's read cache policy (catalog volumes.cache): reads through the
  // gateway's cache.
  bool cache_reads = false;
};

// A backup's view of a mapped unit (gateway::Gateway::BackupInstant).
struct BackupInstant {
  std::unique_ptr<volume::PointInTime> view;
  bool tracked = false;  // the change map was on at the instant
  std::string since;     // what it counted from
  std::vector<std::pair<uint64_t, uint64_t>> changed;
};

// A live migration of a mapped unit (gateway::Gateway::MigrateVolume,
// docs/migration.md).
struct MigrateOptions {
  uint64_t bytes_per_second = 0;  // 0: unpaced
  // Bytes the current pass copied so far, of the bytes it has; may be empty.
  std::function<void(uint64_t copied, uint64_t total)> progress;
  // Runs with the hosts' writes held once the copy is whole and flushed,
  // just before the switch; an error leaves the unit on its old extents.
  std::function<Status()> commit;
};
struct MigrateResult {
  uint64_t bytes_copied = 0;
  int passes = 0;
  double seconds = 0;
};

struct MapHost {
  std::string name;
  std::vector<std::string> initiators;
  std::string chap_user, chap_secret;
  std::string mutual_chap_user, mutual_chap_secret;  // empty: no mutual CHAP
  // Every LUN the catalog says is mapped to the host now.
  std::vector<MapLun> luns;
};

class MapTarget {
 public:
  virtual ~MapTarget() = default;
  // Makes the target know the host as given (credentials and exactly
  // `host.luns`). Called before each Map, so a restarted target catches up.
  virtual Status SetHost(const MapHost& host) = 0;
  // Presents one LUN to the host (replacing what was at that LUN). Idempotent.
  virtual Status Map(const std::string& host, const MapLun& lun) = 0;
  // Takes it away; unmapping what isn't mapped is harmless.
  virtual Status Unmap(const std::string& host, uint64_t lun) = 0;
  // The host is gone: its sessions end and its target disappears. Removing
  // a host the target does not know is harmless.
  virtual Status RemoveHost(const std::string& host) = 0;
  // The iSCSI target name the host logs in to ("" when there is no gateway).
  virtual std::string TargetName(const std::string& host) = 0;
  // The mapped unit `volume_id` grew: `extents` are all of its extents now
  // (the old ones first). Every host that has it mapped is told CAPACITY
  // DATA HAS CHANGED. Telling it the same extents twice is harmless.
  virtual Status Grow(const std::string& volume_id, const std::vector<volume::Extent>& extents) = 0;
  // The unit `volume_id`'s limits are `qos` now: a mapped unit's hosts are
  // held to them at once, without a remap. A unit the target does not
  // serve is left alone (its next map carries them). Idempotent.
  virtual Status SetQos(const std::string& volume_id, const QosLimits& qos) = 0;
  // The unit's reads go through the gateway's cache (or stop doing so) at
  // once, without a remap; otherwise as SetQos.
  virtual Status SetCache(const std::string& volume_id, bool reads) = 0;
  // A point-in-time view of mapped unit `volume_id`, its change map taken
  // and cleared at the same instant (counting from `tag` afterwards); with
  // `rbd_snap`, each RBD image of the unit gets a snapshot of that name at
  // that instant (gateway::Gateway::OpenBackupInstant).
  // An empty `tag` leaves the map alone, for a snapshot that is no backup.
  // NotFound when the unit is not mapped here.
  virtual Result<BackupInstant> OpenBackupInstant(const std::string& volume_id, const std::string& side_dir,
                                                  const std::string& tag, const std::string& rbd_snap) {
    (void)side_dir, (void)tag, (void)rbd_snap;
    return NotFound("volume " + volume_id + " is not mapped here");
  }
  // A saved change map for unit `volume_id`, loaded when it is opened
  // (before hosts can write it). False when the target keeps none.
  virtual bool PreloadChangeMap(const std::string& volume_id, std::string image, std::string since) {
    (void)volume_id, (void)image, (void)since;
    return false;
  }
  // The mapped unit's content was replaced: its hosts get a unit attention.
  virtual Status NotifyMediumChanged(const std::string& volume_id) {
    return NotFound("volume " + volume_id + " is not mapped here");
  }
  // Holds the hosts' writes to mapped unit `volume_id` until the handle
  // goes (reads go on); NotFound when the unit is not mapped here.
  virtual Result<std::shared_ptr<void>> HoldWrites(const std::string& volume_id) {
    return NotFound("volume " + volume_id + " is not mapped here");
  }
  // Moves mapped unit `volume_id` onto `to` (same size) while its hosts stay
  // logged in; until `commit` succeeded and the switch happened, its old
  // extents stay authoritative. NotFound when the unit is not mapped here.
  virtual Result<MigrateResult> Migrate(const std::string& volume_id, const std::vector<volume::Extent>& to,
                                        const MigrateOptions& options) {
    (void)to, (void)options;
    return NotFound("volume " + volume_id + " is not mapped here");
  }
  // The engine of mapped unit `volume_id`; nullptr when not mapped here.
  virtual std::shared_ptr<volume::MetaVolume> MappedVolume(const std::string& volume_id) {
    (void)volume_id;
    return nullptr;
  }
};

// A MapTarget that does nothing: for a manager without a gateway.
class NullMapTarget : public MapTarget {
 public:
  Status SetHost(const MapHost&) override { return Status::Ok(); }
  Status Map(const std::string&, const MapLun&) override { return Status::Ok(); }
  Status Unmap(const std::string&, uint64_t) override { return Status::Ok(); }
  Status RemoveHost(const std::string&) override { return Status::Ok(); }
  std::string TargetName(const std::string&) override { return ""; }
  Status Grow(const std::string&, const std::vector<volume::Extent>&) override { return Status::Ok(); }
  Status SetQos(const std::string&, const QosLimits&) override { return Status::Ok(); }
  Status SetCache(const std::string&, bool) override { return Status::Ok(); }
};

}  // namespace vsl::manager
