// The SCSI side of the gateway: logical units (SBC-3 block devices over a
// MetaVolume) and targets (one private SCSI namespace per host).
//
// Transport-neutral: the iSCSI core (gateway/) hands over whole commands with
// all their Data-Out collected, and gets back status, sense and Data-In. No
// socket or PDU appears here.
//
// Threading: Target and LogicalUnit methods may be called from any thread.
// Execute() completes through `Done`, which may run on the calling thread
// (before Execute returns) or on an I/O thread; the caller must not hold locks
// it needs in Done while calling Execute.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "util/held_bytes.h"
#include "util/status.h"
#include "volume/volume.h"

namespace vsl::gateway {
class QosLimiter;  // gateway/qos.h
}

namespace vsl::scsi {

// SAM status codes.
enum class ScsiStatus : uint8_t {
  kGood = 0x00,
  kCheckCondition = 0x02,
  kConditionMet = 0x04,
  kBusy = 0x08,
  kReservationConflict = 0x18,
  kTaskSetFull = 0x28,
  kAcaActive = 0x30,
  kTaskAborted = 0x40,
};

enum class SenseKey : uint8_t {
  kNoSense = 0x0,
  kRecoveredError = 0x1,
  kNotReady = 0x2,
  kMediumError = 0x3,
  kHardwareError = 0x4,
  kIllegalRequest = 0x5,
  kUnitAttention = 0x6,
  kDataProtect = 0x7,
  kBlankCheck = 0x8,
  kCopyAborted = 0xa,
  kAbortedCommand = 0xb,
  kMiscompare = 0xe,
};

// Additional sense code + qualifier, e.g. {0x24, 0x00} INVALID FIELD IN CDB.
struct Asc {
  uint8_t asc = 0;
  uint8_t ascq = 0;
  bool operator==(const Asc&) const = default;
};

// One sense condition; encoded as fixed-format sense data (response code 70h).
struct Sense {
  SenseKey key = SenseKey::kNoSense;
  Asc asc;
  // SKSV field pointer for INVALID FIELD IN CDB / PARAMETER LIST: byte and
  // bit of the offending field (bit 8 = no bit pointer).
  bool has_field_pointer = false;
  bool in_cdb = true;
  uint16_t field_byte = 0;
  uint8_t field_bit = 8;
  // INFORMATION field (e.g. the miscompare offset), valid when has_info.
  bool has_info = false;
  uint64_t info = 0;
  // SKSV PROGRESS INDICATION (e.g. a sanitize in progress): done/65536.
  // Exclusive with has_field_pointer.
  bool has_progress = false;
  uint16_t progress = 0;
  std::vector<uint8_t> Encode() const;  // 18 bytes, fixed format
};

// An I_T nexus: initiator port x target port (SAM-5). Persistent reservations
// and unit attentions are kept per nexus. Port names are iSCSI's:
// "<initiator name>,i,0x<ISID>" and "<target name>,t,0x<TPGT>".
struct Nexus {
  uint64_t id = 0;  // unique in the process, never reused
  std::string initiator_port;
  std::string target_port;
};

// The largest data transfer of one command, in bytes: the Block Limits VPD
// page's MAXIMUM TRANSFER LENGTH. The transport refuses a command announcing
// more Data-Out (CHECK CONDITION, INVALID FIELD IN CDB) without taking any in.
inline constexpr uint32_t kMaxTransferBytes = 8u << 20;

enum class TaskAttr : uint8_t { kUntagged = 0, kSimple = 1, kOrdered = 2, kHeadOfQueue = 3, kAca = 4 };

struct Command {
  uint64_t lun = 0;                   // LUN number (decoded, see DecodeLun)
  std::vector<uint8_t> cdb;           // 6..260 bytes
  std::vector<uint8_t> data_out;      // all Data-Out of the command
  uint32_t expected_data_in = 0;      // the initiator's buffer for Data-In
  TaskAttr attr = TaskAttr::kSimple;
  uint32_t tag = 0;                   // the transport's task tag (ITT)
};

struct Response {
  ScsiStatus status = ScsiStatus::kGood;
  std::vector<uint8_t> sense;    // empty unless status is CHECK CONDITION
  std::vector<uint8_t> data_in;  // may be longer than expected_data_in: the
                                 // transport sends the first part and reports
                                 // an overflow residual
  // The Data-In in buffers another part owns (a large READ's bytes as librbd
  // delivered them), in place of data_in; sent without a copy.
  std::shared_ptr<const util::HeldBytes> data_held;
  size_t data_in_size() const { return data_held ? data_held->size : data_in.size(); }
  // Bytes of Data-Out the CDB called for (transfer length x block size, or
  // the parameter list length); the transport's residual count for commands
  // with Data-Out. 0 for commands without Data-Out.
  uint32_t data_out_wanted = 0;
  static Response Good(std::vector<uint8_t> data = {});
  static Response Check(const Sense& sense);
};

using Done = std::function<void(Response)>;

// Runs blocking work (file I/O) off the network threads. Thread-safe.
class IoExecutor {
 public:
  virtual ~IoExecutor() = default;
  virtual void Run(std::function<void()> work) = 0;
  // Asynchronous work started elsewhere (a command's librbd I/O) that may
  // still give this executor work and answer its command (posting to a
  // connection's loop): from Hold until the matching Release, a pool's
  // destructor waits (so Gateway::Stop returns only after every such
  // command has been answered).
  virtual void Hold() {}
  virtual void Release() {}
};
// A fixed pool of threads; the destructor waits for every Hold to be
// released, finishes queued work and joins.
std::unique_ptr<IoExecutor> MakeThreadPool(int threads);
// Runs work inline on the calling thread (tests).
IoExecutor* InlineExecutor();

struct LuCore;     // a logical unit's shared state (lu_core.h)
struct CopyScope;  // the LUs an EXTENDED COPY may name (lu_core.h)

struct LuOptions {
  std::string vendor = "VSL";           // T10 vendor id, 8 chars max
  std::string product = "VIRTUAL-DISK"; // 16 chars max
  std::string revision = "0001";        // 4 chars max
  // SANITIZE works through the medium in chunks of this many bytes, one
  // I/O-executor task each (its memory: two such buffers).
  uint32_t sanitize_chunk_bytes = 1u << 20;
  // Bytes per second a sanitize may overwrite, erase or verify; 0: as fast
  // as the files allow. A paced sanitize sleeps on one I/O thread.
  uint64_t sanitize_bytes_per_second = 0;
};

// Consecutive writes a network thread hands to logical units while a
// WriteBatch is open on it: a plain WRITE that would be written inline
// (page cache, no FUA) and starts where the previous one ended on the same
// LU is held, with its answer, and the run goes to the file as one pwritev
// when it breaks: a write elsewhere, any other command to any LU
// (LogicalUnit::Execute flushes first), FlushWriteBatch, or the scope's end.
// Every check of a command (reservations, write protection, ranges, qos in
// the transport) is made before it joins; only the system call and the
// answers wait, and no answer leaves before its bytes are in the file. The
// holder must close the scope before it sleeps: a held write holds its LU's
// write gate (shared). Per thread; scopes nest.
class WriteBatch {
 public:
  WriteBatch();
  ~WriteBatch();
  WriteBatch(const WriteBatch&) = delete;
  WriteBatch& operator=(const WriteBatch&) = delete;
};
// Writes what the calling thread's batch holds and answers those commands.
void FlushWriteBatch();

// A logical unit: one volume, possibly mapped to several hosts (shared disk) at
// different LUN numbers. Reservations, persistent reservations and capacity
// unit attentions live here so that every host sees the same state.
class LogicalUnit {
 public:
  LogicalUnit(std::shared_ptr<volume::MetaVolume> volume, IoExecutor* io, LuOptions options = {});
  ~LogicalUnit();

  // Runs one command for `nexus`; `read_only` is the mapping's flag (a write
  // gets DATA PROTECT / WRITE PROTECTED). `scope`: the LUs mapped to the
  // sending host, the only ones an EXTENDED COPY may name as source or
  // destination (Target passes its map); without it every copy target is
  // unreachable.
  void Execute(const Nexus& nexus, bool read_only, Command cmd, Done done,
               std::shared_ptr<const CopyScope> scope = nullptr);

  // The volume grew (MetaVolume::Append): every nexus that has used this LU
  // gets CAPACITY DATA HAS CHANGED.
  void NotifyCapacityChanged();
  // The volume's content was replaced under the hosts (a destructive
  // restore): every nexus that has used this LU gets NOT READY TO READY
  // CHANGE, MEDIUM MAY HAVE CHANGED (28h/00h), so it drops what it cached.
  void NotifyMediumChanged();
  // LOGICAL UNIT RESET from `nexus`: reservations (RESERVE/RELEASE) are
  // released and every nexus, the issuing one included (SAM-5; libiscsi's
  // MultipathIO.Reset checks it), gets a BUS DEVICE RESET unit attention.
  void Reset(const Nexus& nexus);
  // The nexus is gone (session closed): its unit attentions are dropped;
  // persistent reservations stay, as SPC-4 says.
  void ForgetNexus(uint64_t nexus_id);
  // ABORT TASK (and the task set functions) for a command still in the
  // SCSI layer: a command that waits on a background operation (SANITIZE
  // with IMMED=0) completes at once with TASK ABORTED, the operation going
  // on; other commands finish by themselves soon and are left alone.
  void AbortTask(const Nexus& nexus, uint32_t tag);

  const std::shared_ptr<volume::MetaVolume>& volume() const { return volume_; }
  // The LU's limits, enforced by the transport before it calls Execute (the
  // gateway sets them once, before the LU is shared; null: none ever).
  void set_qos(std::shared_ptr<gateway::QosLimiter> qos) { qos_ = std::move(qos); }
  const std::shared_ptr<gateway::QosLimiter>& qos() const { return qos_; }
  // The shared state, for Target's copy scope (gateway/scsi internals).
  std::shared_ptr<LuCore> core() const;

  // Nexus bookkeeping, driven by Target: a nexus that will send commands here
  // (power_on: it starts with a POWER ON unit attention). Nexuses never
  // attached still get their commands run, but no unit attentions.
  void AttachNexus(const Nexus& nexus, bool power_on);
  // Queues unit attention `asc` for `nexus_id` (if attached); clears one.
  void AddUnitAttention(uint64_t nexus_id, Asc asc);
  void ClearUnitAttention(uint64_t nexus_id, Asc asc);

 private:
  struct Impl;
  std::shared_ptr<volume::MetaVolume> volume_;
  std::shared_ptr<gateway::QosLimiter> qos_;
  std::unique_ptr<Impl> impl_;
};

// A host's private SCSI namespace: LUN number -> logical unit. Maps change
// while initiators are logged in; every nexus of the target then gets REPORTED
// LUNS DATA HAS CHANGED.
class Target {
 public:
  explicit Target(std::string name);
  ~Target();

  const std::string& name() const { return name_; }

  // Maps (or replaces) LUN `lun`.
  void MapLun(uint64_t lun, std::shared_ptr<LogicalUnit> lu, bool read_only);
  // Unmaps LUN `lun`; NotFound when it isn't mapped.
  Status UnmapLun(uint64_t lun);
  std::vector<uint64_t> Luns() const;
  std::shared_ptr<LogicalUnit> Lu(uint64_t lun) const;

  // A new I_T nexus (an iSCSI session completed login); it starts with a
  // POWER ON unit attention on every LUN, as a freshly attached disk would.
  Nexus AddNexus(std::string initiator_port, std::string target_port);
  void RemoveNexus(uint64_t nexus_id);

  // Runs one command: REPORT LUNS and commands to unmapped LUNs are answered
  // here (INQUIRY with peripheral qualifier 3, LOGICAL UNIT NOT SUPPORTED);
  // the rest goes to the LU.
  void Execute(const Nexus& nexus, Command cmd, Done done);

  // Task management resets. Abort of single tasks is the transport's job (it
  // knows which tasks are in flight); it tells the LU with AbortTask.
  void AbortTask(const Nexus& nexus, uint64_t lun, uint32_t tag);
  void LunReset(const Nexus& nexus, uint64_t lun);
  void TargetReset(const Nexus& nexus);

 private:
  struct Impl;
  std::string name_;
  std::unique_ptr<Impl> impl_;
};

// SAM LUN addressing: 8 bytes on the wire <-> LUN number (peripheral device
// addressing below 256, flat space addressing up to 16383).
uint64_t EncodeLun(uint64_t lun);
// InvalidArgument for addressing methods vsl does not use.
Result<uint64_t> DecodeLun(uint64_t wire);

}  // namespace vsl::scsi
