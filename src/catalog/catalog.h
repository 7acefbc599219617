// Catalog: the control database (FIG. 5B), the one source of truth about
// arrays, volumes, bindings, hosts, farms, images, requests and events.
//
// Every method that takes a Tx works inside the caller's transaction, so that
// several changes (a state change and its event row, a binding and the
// volume's new state) commit together or not at all:
//
//   Status s = catalog->Write([&](Tx& tx) -> Status {
//     VSL_ASSIGN_OR_RETURN(Volume v, catalog->GetVolume(tx, id));
//     ...
//   });
//
// State changes are compare-and-swaps: CasVolume changes a row only when it is
// still in the state the caller read, and returns Aborted otherwise, so two
// workers can never both take the same volume.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "catalog/clock.h"
#include "catalog/db.h"
#include "catalog/records.h"

namespace vsl::catalog {

struct VolumeFilter {
  std::optional<DiskState> state;
  std::optional<int64_t> array_id;
  std::optional<std::string> type;
  std::optional<int64_t> parent_id;
  std::optional<int64_t> request_id;
  std::optional<int64_t> farm_id;
  std::optional<bool> clean;
  bool top_level_only = false;  // no members of meta volumes
  bool include_vanished = true;
  // For the allocator: of each group of otherwise alike volumes (same
  // array, size and qualities) only as many as it takes to hold this many
  // bytes, lowest ids first. More of one group could never be chosen
  // together, and at thousands of free volumes reading them all dominates.
  std::optional<uint64_t> enough_for;
};

// Columns CasVolume may change besides the state; unset ones stay as they are.
struct VolumeUpdate {
  std::optional<std::optional<int64_t>> parent_id;
  std::optional<int64_t> member_order;
  std::optional<std::optional<int64_t>> bcv_id;
  std::optional<std::optional<int64_t>> farm_id;
  std::optional<std::optional<DiskState>> prior_state;
  std::optional<bool> clean;
  std::optional<std::optional<int64_t>> image_id;
  std::optional<std::optional<int64_t>> request_id;
  std::optional<uint64_t> size;
};

// Who asked for a change, recorded in its event row.
struct Actor {
  std::string name;                   // "manager", "admin", a worker id
  std::optional<int64_t> request_id;  // the request being run, if any
};

struct EventFilter {
  std::optional<std::string> entity;
  std::optional<int64_t> entity_id;
  std::optional<int64_t> request_id;
  int64_t after_id = 0;  // only events with a larger id
  int64_t limit = 1000;
};

class Catalog {
 public:
  // Opens (creating when new) and migrates the catalog at `url`
  // (see OpenDatabase). `clock` must outlive the Catalog; null: the system clock.
  static Result<std::unique_ptr<Catalog>> Open(const std::string& url, Clock* clock = nullptr,
                                               int pool_size = 8);
  Catalog(std::unique_ptr<Database> db, Clock* clock);

  Database& db() { return *db_; }
  Clock& clock() { return *clock_; }
  int64_t NowMs() { return clock_->NowMs(); }
  Status Read(const std::function<Status(Tx&)>& fn) { return db_->Read(fn); }
  Status Write(const std::function<Status(Tx&)>& fn) { return db_->Write(fn); }

  // ---- arrays and their ports (tables 2, 3) ----
  // AlreadyExists when the name is taken. Returns the row with its id.
  Result<ArrayRecord> AddArray(Tx& tx, ArrayRecord a);
  Result<ArrayRecord> GetArray(Tx& tx, int64_t id);
  Result<ArrayRecord> GetArrayByName(Tx& tx, const std::string& name);
  Result<std::vector<ArrayRecord>> ListArrays(Tx& tx);
  Status SetArrayDwml(Tx& tx, int64_t array_id, const std::string& dwml);
  // FailedPrecondition while any of its volumes is not free.
  Status RemoveArray(Tx& tx, int64_t array_id);
  // Inserts the port or, when (array, port) exists, updates its wwn/san/type.
  Result<ArrayPort> UpsertPort(Tx& tx, ArrayPort p);
  Result<std::vector<ArrayPort>> ListPorts(Tx& tx, int64_t array_id);
  Status SetVolumePortLun(Tx& tx, const VolumePortLun& l);
  Result<std::vector<VolumePortLun>> ListVolumePortLuns(Tx& tx, int64_t volume_id);

  // ---- volumes (table 1) ----
  Result<Volume> InsertVolume(Tx& tx, Volume v);
  Result<Volume> GetVolume(Tx& tx, int64_t id);
  // nullopt when the array has no catalog row for that volume.
  Result<std::optional<Volume>> FindArrayVolume(Tx& tx, int64_t array_id, const std::string& array_volume);
  // Ordered by id.
  Result<std::vector<Volume>> ListVolumes(Tx& tx, const VolumeFilter& f = {});
  // A meta volume's members in member_order.
  Result<std::vector<Volume>> Members(Tx& tx, int64_t meta_id);
  // Bytes of the volumes array `array_id` reports now (vanished ones aside).
  Result<uint64_t> UsedBytes(Tx& tx, int64_t array_id);
  // The compare-and-swap of every state change: sets state `to` (and the
  // columns in `u`) only while the row is in state `from`, and appends an
  // event. Aborted naming the volume when the row moved on; NotFound when
  // it does not exist.
  Status CasVolume(Tx& tx, int64_t id, DiskState from, DiskState to, const VolumeUpdate& u,
                   const std::string& op, const Actor& actor, const std::string& detail = "");
  // Changes columns that are not the state (the row must be in `state`).
  Status UpdateVolume(Tx& tx, int64_t id, DiskState state, const VolumeUpdate& u);
  Status SetVolumeVanished(Tx& tx, int64_t id, bool vanished);
  // The unit's limits (util/qos.h's canonical text; "" for none), with a
  // "qos" event row when they change. NotFound when it does not exist.
  Status SetVolumeQos(Tx& tx, int64_t id, const std::string& qos, const Actor& actor);
  // The unit's read cache policy ("none" or "read"), with a "cache" event
  // row when it changes. NotFound when it does not exist.
  Status SetVolumeCache(Tx& tx, int64_t id, const std::string& policy, const Actor& actor);
  // Deletes the row (no bindings or members may refer to it); backup links
  // to it are cleared.
  Status DeleteVolume(Tx& tx, int64_t id);

  // ---- bindings (table 4) ----
  // AlreadyExists when the host has something at that LUN or this volume.
  Result<Binding> AddBinding(Tx& tx, Binding b);
  Result<std::vector<Binding>> BindingsOfVolume(Tx& tx, int64_t volume_id);
  Result<std::vector<Binding>> BindingsOfHost(Tx& tx, int64_t host_id);
  Status SetBindingMapped(Tx& tx, int64_t binding_id, bool mapped);
  // Removes the volume's bindings (only host `host_id`'s when given).
  Result<int64_t> RemoveBindings(Tx& tx, int64_t volume_id, std::optional<int64_t> host_id = std::nullopt);

  // ---- hosts ----
  // AlreadyExists when the name or one of the initiators is taken.
  Result<Host> AddHost(Tx& tx, Host h);
  Result<Host> GetHost(Tx& tx, int64_t id);
  Result<Host> GetHostByName(Tx& tx, const std::string& name);
  Result<std::vector<Host>> ListHosts(Tx& tx);
  // CAS on the host's state (idle <-> in farm), with an event.
  Status CasHost(Tx& tx, int64_t id, HostState from, HostState to, std::optional<int64_t> farm_id,
                 const Actor& actor);
  // FailedPrecondition while the host has bindings or is in a farm.
  Status RemoveHost(Tx& tx, int64_t id);
  // Replaces the host's BMC settings (an empty address clears them);
  // InvalidArgument from CheckHostBmc (host_bmc.h). The event row names the
  // address, never the password.
  Status SetHostBmc(Tx& tx, int64_t id, const HostBmc& bmc);

  // ---- farms ----
  Result<Farm> AddFarm(Tx& tx, Farm f);
  Result<Farm> GetFarm(Tx& tx, int64_t id);
  Result<Farm> GetFarmByName(Tx& tx, const std::string& name);
  Result<std::vector<Farm>> ListFarms(Tx& tx);
  // CAS on the farm's state, with an event; also replaces the FML when given.
  Status CasFarm(Tx& tx, int64_t id, const std::string& from, const std::string& to,
                 const std::optional<std::string>& fml, const Actor& actor);
  Status RemoveFarm(Tx& tx, int64_t id);
  // Takes the farm for `owner` (a process id) until now + hold_ms: granted
  // when nobody holds it, `owner` holds it already (renewal), the hold
  // expired, or its holder is a dead process (DeadProcessCondition). Aborted
  // "farm 'x' is busy: ..." naming the holder otherwise.
  Status LockFarm(Tx& tx, int64_t id, const std::string& owner, int64_t hold_ms, int64_t dead_after_ms);
  // Lets go of the farm if `owner` holds it.
  Status UnlockFarm(Tx& tx, int64_t id, const std::string& owner);

  // ---- processes ----
  // Inserts (or revives) the process row with a fresh heartbeat.
  Status RegisterProcess(Tx& tx, const Process& p);
  // Renews the heartbeat; NotFound when the row is gone.
  Status Heartbeat(Tx& tx, const std::string& id);
  // Marks every other process of `node` dead at once: the caller holds the
  // node's data directory lock, so they cannot be running. Returns how many.
  Result<int64_t> RetireNodeProcesses(Tx& tx, const std::string& node, const std::string& keep_id);
  // A clean exit: the row goes.
  Status UnregisterProcess(Tx& tx, const std::string& id);
  Result<std::vector<Process>> ListProcesses(Tx& tx);
  // SQL condition true for a process id column `column` whose process is
  // known dead: its row exists and its heartbeat is older than
  // now - dead_after_ms (bind that value to the one placeholder). A process
  // without a row (tests, older versions) is never called dead.
  static std::string DeadProcessCondition(const std::string& column);

  // ---- images ----
  Result<Image> AddImage(Tx& tx, Image i);
  Result<Image> GetImage(Tx& tx, int64_t id);
  Result<Image> GetImageByName(Tx& tx, const std::string& name);
  Result<std::vector<Image>> ListImages(Tx& tx);
  // The image whose master volume `volume_id` is, the image's own or one
  // of its per-array masters (nullopt: none).
  Result<std::optional<Image>> ImageOfMaster(Tx& tx, int64_t volume_id);
  // Per-array masters (image_masters): AlreadyExists when the image has one
  // on that array already.
  Status AddImageMaster(Tx& tx, ImageMaster m);
  Result<std::vector<ImageMaster>> ImageMasters(Tx& tx, int64_t image_id);
  Status RemoveImageMasters(Tx& tx, int64_t image_id);
  // Clones: volume `volume_id` reads what it has not written from master
  // volume `master` (nullopt: it is no clone, any more).
  Status SetCloneMaster(Tx& tx, int64_t volume_id, std::optional<int64_t> master);
  Result<std::optional<int64_t>> CloneMaster(Tx& tx, int64_t volume_id);
  // The clones of master volume `master`, by volume id.
  Result<std::vector<int64_t>> ClonesOf(Tx& tx, int64_t master);
  Status SetImageMaster(Tx& tx, int64_t image_id, int64_t volume_id, uint64_t size, const std::string& sha256);
  Status RemoveImage(Tx& tx, int64_t image_id);

  // ---- events ----
  Status AppendEvent(Tx& tx, Event e);
  Result<std::vector<Event>> ListEvents(Tx& tx, const EventFilter& f = {});

 private:
  std::unique_ptr<Database> db_;
  Clock* clock_;
};

// Qualities as a JSON object string and back.
std::string QualitiesToJson(const Qualities& q);
Qualities QualitiesFromJson(const std::string& json);

}  // namespace vsl::catalog
