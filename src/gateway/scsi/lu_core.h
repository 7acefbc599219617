// The state a logical unit's commands share, and the command handlers. Not a
// public interface: only the files of gateway/scsi include it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <deque>
#include <functional>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/scsi/cdb.h"
#include "gateway/scsi/scsi.h"
#include "gateway/scsi/sense.h"
#include "util/bytes.h"

namespace vsl::scsi {

// Limits advertised in the BLOCK LIMITS VPD page and enforced on commands
// (kMaxTransferBytes is in scsi.h: the transport refuses larger Data-Out).
inline constexpr uint32_t kMaxCompareAndWriteBlocks = 64;
inline constexpr uint32_t kMaxAtomicTransferBytes = 1u << 20;
inline constexpr uint32_t kMaxUnmapBlocks = 1u << 20;  // per descriptor and per command
inline constexpr uint32_t kMaxUnmapDescriptors = 256;
inline constexpr uint32_t kMaxWriteSameBlocks = 0xffff;

// EXTENDED COPY (LID1) limits, advertised by RECEIVE COPY RESULTS / OPERATING
// PARAMETERS and enforced on every parameter list.
inline constexpr uint16_t kMaxCscdDescriptors = 16;
inline constexpr uint16_t kMaxSegmentDescriptors = 16;
inline constexpr uint32_t kMaxCopyDescriptorListBytes = 1024;
inline constexpr uint32_t kMaxCopySegmentBytes = 64u << 20;
// The copy moves data through one buffer of at most this size.
inline constexpr uint32_t kCopyChunkBytes = 1u << 20;
// EXTENDED COPY commands one LU (copy manager) runs at once; more are refused
// (ILLEGAL REQUEST, INSUFFICIENT RESOURCES).
inline constexpr int kMaxConcurrentCopies = 4;
// Copy results held for RECEIVE COPY RESULTS / COPY STATUS, per LU.
inline constexpr size_t kMaxHeldCopyResults = 64;

struct NexusState {
  std::string initiator_port;
  std::string target_port;
  std::deque<Asc> unit_attentions;  // oldest first
};

// A persistent reservation registration: an I_T nexus (by port names, so it
// outlives the session) and its key.
struct Registration {
  std::string initiator_port;
  std::string target_port;
  uint64_t key = 0;
};

// The outcome of an EXTENDED COPY whose list identifier asked for it to be
// held (LIST ID USAGE 00b or 10b), per I_T nexus and list identifier.
struct HeldCopyResult {
  uint64_t nexus_id = 0;
  uint8_t list_id = 0;
  uint8_t status = 0;  // copy manager status: 1 completed, 2 completed with errors
  uint16_t segments = 0;
  uint64_t bytes = 0;
};

// Where the LU stands with SANITIZE (SBC-4 4.11): idle, a sanitize running,
// or the last one failed (sanitize failure mode).
enum class SanitizeState : uint8_t { kIdle, kRunning, kFailed };

// Where the file backing can deallocate: OPTIMAL UNMAP GRANULARITY and, when
// every extent agrees, UNMAP GRANULARITY ALIGNMENT (in logical blocks). An
// UNMAP deallocates whole granules and zeroes the blocks around them.
struct UnmapGeometry {
  uint32_t granularity = 1;  // blocks, a power of two
  uint32_t alignment = 0;    // LBA of the first whole granule
  bool aligned = true;       // UGAVALID: all extents share one alignment
};
// From the extents' file system block sizes (statfs) and file offsets.
UnmapGeometry ComputeUnmapGeometry(const volume::MetaVolume& volume);

// The kind of LuCore::write_mu: a shared mutex (std::shared_lock and
// std::unique_lock work with it) whose shared hold may be given back by
// another thread than the one that took it, which std::shared_mutex
// forbids: an asynchronous RBD write takes it where it starts (a connection
// loop, with try_lock_shared) and gives it back from librbd's completion.
// A waiting exclusive holder (COMPARE AND WRITE, ORWRITE, WRITE ATOMIC)
// keeps new shared holders out, so a stream of writes can't starve it.
class WriteGate {
 public:
  void lock() {
    std::unique_lock l(mu_);
    ++exclusive_waiting_;
    cv_.wait(l, [this] { return !exclusive_ && shared_ == 0; });
    --exclusive_waiting_;
    exclusive_ = true;
  }
  bool try_lock() {
    std::lock_guard l(mu_);
    if (exclusive_ || shared_ > 0) return false;
    exclusive_ = true;
    return true;
  }
  void unlock() {
    {
      std::lock_guard l(mu_);
      exclusive_ = false;
    }
    cv_.notify_all();
  }
  void lock_shared() {
    std::unique_lock l(mu_);
    cv_.wait(l, [this] { return !exclusive_ && exclusive_waiting_ == 0; });
    ++shared_;
  }
  bool try_lock_shared() {
    std::lock_guard l(mu_);
    if (exclusive_ || exclusive_waiting_ > 0) return false;
    ++shared_;
    return true;
  }
  void unlock_shared() {
    bool wake;
    {
      std::lock_guard l(mu_);
      wake = --shared_ == 0 && exclusive_waiting_ > 0;
    }
    if (wake) cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int shared_ = 0;              // guarded by mu_
  int exclusive_waiting_ = 0;   // guarded by mu_
  bool exclusive_ = false;      // guarded by mu_
};

struct LuCore {
  std::shared_ptr<volume::MetaVolume> volume;
  IoExecutor* io = nullptr;
  LuOptions options;
  uint8_t naa[16] = {};  // NAA type 6 (IEEE registered extended) designator
  std::string serial;    // unit serial number (hex of the volume id's hash)

  // Ordinary writes hold it shared (an asynchronous RBD write until librbd
  // completes it); COMPARE AND WRITE, ORWRITE and WRITE ATOMIC hold it
  // exclusively so that they are atomic against other writes.
  WriteGate write_mu;

  // A long hold of the hosts' writes (Gateway::HoldWrites: a destructive
  // restore writing the volume underneath): while it lasts, writes wait in
  // `parked` instead of on an I/O thread, so a held host cannot fill the
  // pool every other LU needs. BeginHold before taking write_mu, EndHold
  // after giving it back (the parked writes then go to the pool in order).
  // Without a hold a write pays one atomic load, no lock; a write that
  // races the hold's start goes to the pool and waits there on write_mu,
  // as every write did before holds parked them.
  void RunWrite(std::function<void()> work) {
    if (holding.load(std::memory_order_acquire)) {
      std::lock_guard l(hold_mu);
      if (holding.load(std::memory_order_relaxed)) {
        parked.push_back(std::move(work));
        return;
      }
    }
    io->Run(std::move(work));
  }
  void BeginHold() {
    std::lock_guard l(hold_mu);
    holding.store(true, std::memory_order_release);
  }
  void EndHold() {
    std::vector<std::function<void()>> go;
    {
      std::lock_guard l(hold_mu);
      holding.store(false, std::memory_order_release);
      go.swap(parked);
    }
    for (auto& w : go) io->Run(std::move(w));
  }
  std::mutex hold_mu;
  std::atomic<bool> holding{false};            // set and cleared under hold_mu
  std::vector<std::function<void()>> parked;   // guarded by hold_mu

  // True while any unit attention is queued or any reservation is held: only
  // then do commands take `mu` before they run.
  std::atomic<bool> gate{false};

  std::mutex mu;
  std::unordered_map<uint64_t, NexusState> nexuses;  // guarded by mu
  std::optional<uint64_t> reserved_by;               // RESERVE(6) holder; guarded by mu
  std::vector<Registration> registrations;           // guarded by mu
  uint32_t pr_generation = 0;                        // guarded by mu
  bool pr_held = false;                              // guarded by mu
  uint8_t pr_type = 0;                               // guarded by mu
  std::string pr_holder_initiator, pr_holder_target;  // non-all-registrants types; guarded by mu
  // Computed at creation and when the volume grows; guarded by mu (the
  // handlers copy it out).
  UnmapGeometry unmap_geometry;

  // Software write protect: the Control mode page's SWP bit (per LU, in
  // memory), set and cleared by MODE SELECT. Writers: under mu.
  std::atomic<bool> software_wp{false};

  // SANITIZE (lu_sanitize.cc). One at a time per LU.
  SanitizeState sanitize = SanitizeState::kIdle;  // guarded by mu
  bool sanitize_failed_ause = false;  // AUSE of the failed sanitize; guarded by mu
  std::atomic<uint16_t> sanitize_progress{0};  // of the running one, /65536
  // The running sanitize's command while the initiator waits for its status
  // (IMMED=0): its nexus and tag, and its completion, taken by whoever ends
  // the command first (the sanitize, ABORT TASK, a reset, the session's end).
  // The sanitize itself goes on after the command is aborted. Guarded by mu.
  uint64_t sanitize_waiter_nexus = 0;
  uint32_t sanitize_waiter_tag = 0;
  Done sanitize_waiter;
  // The LogicalUnit is gone (unmapped, gateway stopping): a running
  // sanitize stops at its next chunk and fails.
  std::atomic<bool> retired{false};

  std::atomic<int> copies_running{0};     // EXTENDED COPY commands on the I/O pool
  std::deque<HeldCopyResult> held_copies;  // oldest first, at most kMaxHeldCopyResults; guarded by mu

  // All require mu.
  void UpdateGate();
  void QueueUa(uint64_t nexus_id, Asc asc);
  // Queues `asc` for every attached nexus with these ports, except `except`.
  void QueueUaForPorts(const std::string& iport, const std::string& tport, Asc asc,
                       uint64_t except);
  Registration* FindRegistration(const Nexus& nexus);
  // The sense a command gets from the sanitize state, if any (REQUEST SENSE's
  // pollable sense too): NOT READY / SANITIZE IN PROGRESS with its progress,
  // or MEDIUM ERROR / SANITIZE COMMAND FAILED.
  std::optional<Sense> SanitizeSense() const;
  bool IsPrHolder(const Nexus& nexus);
};

// The LUs mapped to the host that sent a command (its Target's map at that
// moment): what an EXTENDED COPY may name by designator.
struct CopyScope {
  struct Entry {
    std::shared_ptr<LuCore> core;
    bool read_only = false;  // the mapping's flag
  };
  std::vector<Entry> lus;
};

// One command in flight through the handlers.
struct Req {
  std::shared_ptr<LuCore> core;
  const Nexus& nexus;  // valid until the handler returns (not in async work)
  bool read_only;
  Command& cmd;
  Done& done;
  const CopyScope* scope = nullptr;  // null: no LU may be named by EXTENDED COPY

  std::span<const uint8_t> cdb() const { return cmd.cdb; }
  void Reply(Response r) { done(std::move(r)); }
};

// lu_info.cc
void DoInquiry(Req& r);
void DoModeSense(Req& r);
void DoModeSelect(Req& r);
void DoReadCapacity10(Req& r);
void DoReadCapacity16(Req& r);
void DoReportOpcodes(Req& r);
void DoReportTmf(Req& r);
void DoRequestSense(Req& r);
void DoStartStopUnit(Req& r);
void DoReadDefectData(Req& r);
// lu_io.cc
void DoRead(Req& r);
void DoWrite(Req& r);
void DoVerify(Req& r);
void DoWriteSame(Req& r);
void DoUnmap(Req& r);
void DoCompareAndWrite(Req& r);
void DoOrWrite(Req& r);
void DoSyncCache(Req& r);
void DoPrefetch(Req& r);
void DoGetLbaStatus(Req& r);
UnmapGeometry GetUnmapGeometry(LuCore& core);  // takes mu
// Deallocates the whole granules of [lba, lba+blocks) and writes zeros over
// the rest (where it is not zero already). The caller holds write_mu shared.
Status UnmapBlocks(LuCore& core, const UnmapGeometry& g, uint64_t lba, uint64_t blocks);
// lu_sanitize.cc
void DoSanitize(Req& r);
// lu_xcopy.cc
void DoExtendedCopy(Req& r);
void DoReceiveCopyResults(Req& r);
// The Third-party Copy VPD page (0x8F).
std::vector<uint8_t> ThirdPartyCopyPage();
// lu_pr.cc
void DoReserve(Req& r);
void DoRelease(Req& r);
void DoPrIn(Req& r);
void DoPrOut(Req& r);
// A command from `nexus` the persistent reservation refuses. Requires mu.
bool PrConflict(LuCore& core, const Nexus& nexus, const OpInfo& op);

}  // namespace vsl::scsi
