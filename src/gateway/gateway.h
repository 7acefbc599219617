// Gateway: vsl's iSCSI target. Serves each host's private SCSI namespace
// (target "<iqn_prefix>:<host>") to that host's initiators only.
//
// The map (hosts, their credentials, their LUNs) changes while initiators are
// logged in: the control plane (or `vsl gateway --config`) calls the methods
// below; they take effect for the next command, and logged-in initiators get
// the unit attentions SPC-4 asks for.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/stats.h"
#include "util/qos.h"
#include "util/status.h"
#include "volume/volume.h"

namespace vsl::gateway {

struct Chap {
  std::string user;
  std::string secret;
};

struct LunConfig {
  uint64_t lun = 0;
  bool read_only = false;
  // The volume's stable identity (catalog volume id); the same id mapped to
  // two hosts is the same logical unit (shared disk, one reservation state).
  std::string volume_id;
  std::vector<volume::Extent> extents;
  // The volume's limits (util/qos.h; empty: none). They belong to the
  // volume, not the mapping: the last map or SetVolumeQos sets them for
  // every host that uses it.
  QosLimits qos;
  // The volume's reads go through the process's read cache (volume/cache.h;
  // docs/cache.md). Belongs to the volume as qos does.
  bool cache_reads = false;
};

struct HostConfig {
  std::string name;                     // target is "<iqn_prefix>:<name>"
  std::vector<std::string> initiators;  // at least one
  std::optional<Chap> chap;
  std::optional<Chap> mutual_chap;
  bool allow_no_auth = false;           // only meaningful without chap
  std::vector<LunConfig> luns;
};

struct GatewayOptions {
  std::string listen = "127.0.0.1:3260";  // host:port; port 0 picks one
  std::string iqn_prefix = "iqn.2026-11.org.vsl";
  int network_threads = 0;  // 0: one per core
  int io_threads = 16;

  // Tuning; docs/gateway-config.md says what each does.
  uint32_t queue_depth = 128;     // commands in flight per session (CmdSN window)
  uint32_t nop_interval_s = 15;   // ping (NOP-In) a connection silent this long; 0: never
  uint32_t nop_timeout_s = 15;    // close it when the ping stays unanswered this long
  uint32_t max_recv_data_segment_length = 262144;  // offered; what we accept per PDU
  uint32_t max_burst_length = 1048576;
  uint32_t first_burst_length = 262144;
  uint32_t max_outstanding_r2t = 16;
  bool immediate_data = true;
  bool initial_r2t = false;
  // Microseconds a network thread pauses after a busy turn so the next one
  // finds a batch (gateway/moderation.h); 0: never.
  uint32_t batch_pause_us = 60;

  // Untrusted hosts (docs/security.md).
  // Bytes of solicited write data (R2Ts sent, command not finished) all
  // sessions together may hold; beyond it R2Ts wait. At least 8 MiB.
  uint64_t write_buffer_budget = uint64_t(512) << 20;
  uint32_t max_connections = 1024;             // open TCP connections, all peers
  uint32_t max_connections_per_address = 64;   // open TCP connections from one IP address
  uint32_t login_timeout_s = 15;               // a connection must finish login within this
  // A session that leaves an R2T unanswered this long is closed (ERL 0 has
  // no other recovery), giving back the memory its writes held.
  uint32_t data_out_timeout_s = 20;

  // SANITIZE pace per LU, bytes per second overwritten, erased or verified;
  // 0: as fast as the files allow. Keeps a host wiping its disk from
  // crowding out the others' I/O on the same file system.
  uint64_t sanitize_bytes_per_second = 0;
};

class Gateway {
 public:
  static Result<std::unique_ptr<Gateway>> Create(GatewayOptions options);
  virtual ~Gateway() = default;

  // Starts listening and serving; returns once the socket is bound.
  virtual Status Start() = 0;
  // Closes every connection and stops the threads.
  virtual void Stop() = 0;
  // The bound address, "127.0.0.1:3260" (useful when the port was 0).
  virtual std::string address() const = 0;
  virtual std::string TargetName(const std::string& host) const = 0;

  // Adds a host or replaces its credentials and LUNs (LUNs not in `host`
  // are unmapped).
  virtual Status SetHost(const HostConfig& host) = 0;
  // Removes a host: its sessions are closed, its LUNs unmapped.
  virtual Status RemoveHost(const std::string& name) = 0;
  // Maps one LUN into a host's namespace (replacing what was at that LUN).
  virtual Status MapLun(const std::string& host, const LunConfig& lun) = 0;
  virtual Status UnmapLun(const std::string& host, uint64_t lun) = 0;
  // The volume `volume_id` grew: it now has these extents (a prefix of them is
  // the old list). Every host that has it mapped sees CAPACITY DATA HAS CHANGED.
  virtual Status GrowVolume(const std::string& volume_id,
                            const std::vector<volume::Extent>& extents) = 0;
  // Live migration (docs/migration.md): moves mapped volume `volume_id` onto
  // `to` (extents of the same total size, elsewhere) while its hosts stay
  // logged in. With the writes held for an instant, `to` becomes the
  // volume's mirror: from then on every host write goes to both places.
  // A background copy moves the whole volume once; what a host write and
  // the copy (or two host writes) wrote at the same time to the same bytes
  // is copied again in further passes; when little is left, or after
  // max_passes, the last pass runs with the writes held, the copy is
  // flushed and the LU's extent map switches to `to` at once (no logout, no
  // unit attention: the content is the same). Until then the old extents
  // stay authoritative: any error (a destination that can't be opened,
  // read or written) or `cancelled` returning true leaves the volume on them
  // as it was. The copy goes at most bytes_per_second (0: unpaced).
  // `progress` (may be empty) hears the bytes copied so far and the bytes
  // the pass has. NotFound when the volume is not mapped.
  struct MigrateOptions {
    uint64_t bytes_per_second = 0;
    uint64_t chunk_bytes = uint64_t(1) << 20;
    int max_passes = 8;
    uint64_t final_pass_bytes = uint64_t(8) << 20;  // hold the writes when at most this is left
    std::function<void(uint64_t copied, uint64_t total)> progress;
    std::function<bool()> cancelled;
    // Runs once the copy is whole and flushed, with the writes still held,
    // just before the switch: the caller records the move (the catalog)
    // here, so that whatever it records is what the disk holds. An error
    // cancels the switch (the old extents stay) and is returned.
    std::function<Status()> commit;
  };
  struct MigrateResult {
    uint64_t bytes_copied = 0;  // all passes together
    int passes = 0;
    double seconds = 0;
  };
  virtual Result<MigrateResult> MigrateVolume(const std::string& volume_id,
                                              const std::vector<volume::Extent>& to,
                                              const MigrateOptions& options) = 0;
  // A point-in-time view of the mapped volume `volume_id`, for a backup
  // (volume/point_in_time.h): the instant is made by taking the LU's write
  // gate exclusively (waiting for the writes in flight, holding new ones),
  // flushing the volume, and opening the copy-on-write view; the writes then
  // go on, each first preserving what it overwrites. A host's I/O waits at
  // most for that flush. NotFound when the volume is not mapped. At the same
  // instant (under the same write gate) the volume's change map is taken and
  // cleared for the next incremental:
  // `changed` holds what it recorded since it was last cleared, `tracked`
  // whether it was on, `since` what it counted from (ChangeMap::since);
  // afterwards it is on, clear, and counts from `tag`. With `rbd_snap`
  // set, every RBD image of the volume gets a snapshot of that name at the
  // same instant (under the write gate, after the flush, through the
  // gateway's own handle, which holds the image's exclusive lock): the
  // instant of a meta volume is one across all its members; the view then
  // keeps only the file extents' bytes (MetaVolume's OpenPointInTime).
  // An empty `tag` leaves the change map as it is (a BCV snapshot's instant,
  // which is no backup).
  struct BackupInstant {
    std::unique_ptr<volume::PointInTime> view;
    bool tracked = false;
    std::string since;
    std::vector<std::pair<uint64_t, uint64_t>> changed;
  };
  virtual Result<BackupInstant> OpenBackupInstant(const std::string& volume_id, const std::string& side_dir,
                                                  const std::string& tag, const std::string& rbd_snap) = 0;
  // The engine of mapped volume `volume_id` (for saving, loading and
  // enabling its change map); nullptr when it is not mapped.
  virtual std::shared_ptr<volume::MetaVolume> MappedVolume(const std::string& volume_id) = 0;
  // The mapped volume's content was replaced (a forced destructive restore):
  // its hosts get a MEDIUM MAY HAVE CHANGED unit attention. NotFound when
  // it is not mapped.
  virtual Status NotifyMediumChanged(const std::string& volume_id) = 0;
  // Holds the hosts' writes to mapped volume `volume_id` (its LU's write
  // gate, taken exclusively as OpenBackupInstant takes it: the writes in
  // flight finish first) until the returned handle goes. Reads go on. For a
  // destructive restore, which writes the volume's engine directly. A held
  // write parks on the LU (no connection loop, no I/O thread waits for
  // it) and runs once the handle goes. NotFound
  // when the volume is not mapped.
  virtual Result<std::shared_ptr<void>> HoldWrites(const std::string& volume_id) = 0;
  // A change map saved by a clean stop (ChangeMap::Serialize, and what it
  // counted from), loaded into volume `volume_id` when the gateway opens it,
  // before any host can write it; one that does not load is dropped. Call
  // before the hosts are set.
  virtual void PreloadChangeMap(const std::string& volume_id, std::string image, std::string since) = 0;

  // The limits of volume `volume_id` become `qos` at once, for every host
  // that has it mapped: commands waiting for the old ones are measured
  // against the new ones, nobody is logged out. NotFound when the volume
  // is not mapped (its next map brings its limits).
  virtual Status SetVolumeQos(const std::string& volume_id, const QosLimits& qos) = 0;
  // Volume `volume_id`'s reads go through the read cache from the next
  // command on (or stop doing so), for every host that has it mapped.
  // NotFound when the volume is not mapped (its next map brings the policy).
  virtual Status SetVolumeCache(const std::string& volume_id, bool reads) = 0;

  // Sessions, connections, logins, R2Ts and write memory (gateway/stats.h),
  // for a metrics scrape. Any thread; asks each network thread for its
  // share and waits for it (a second at most). Costs the I/O path nothing.
  virtual GatewayStats Stats() const = 0;
};

}  // namespace vsl::gateway
