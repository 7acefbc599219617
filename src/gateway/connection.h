// Connection: one iSCSI TCP connection and, since vsl negotiates
// MaxConnections=1 at ErrorRecoveryLevel 0, the session it carries.
//
// Lives on one EventLoop and is touched only there; SCSI completions come
// back through EventLoop::Post. The login phase runs an iscsi::LoginNegotiator;
// the full feature phase orders commands by CmdSN (CommandWindow), collects
// write data (immediate, unsolicited, R2T-solicited), hands whole commands to
// the host's scsi::Target and returns Data-In / SCSI Response, and answers
// NOP, Text (SendTargets), Task Management and Logout (RFC 7143).
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/command_window.h"
#include "gateway/event_loop.h"
#include "gateway/gateway.h"
#include "gateway/iscsi/login.h"
#include "gateway/iscsi/pdu.h"
#include "gateway/scsi/scsi.h"
#include "gateway/segmentation.h"
#include "gateway/lu_stats.h"
#include "gateway/qos.h"
#include "gateway/session_table.h"
#include "gateway/write_budget.h"
#include "util/held_bytes.h"

namespace vsl::gateway {

class Connection;

// What a connection needs from the gateway around it. Thread-safe.
class Portal {
 public:
  virtual ~Portal() = default;
  virtual const GatewayOptions& options() const = 0;
  virtual const iscsi::TargetDirectory* directory() const = 0;
  virtual iscsi::TargetLimits limits() const = 0;
  virtual std::shared_ptr<scsi::Target> FindTarget(const std::string& name) const = 0;
  virtual SessionTable* sessions() = 0;
  // The gateway-wide budget for solicited write data.
  virtual WriteBudget* write_budget() = 0;
  // A login ended: nullopt when it succeeded, else why it was refused.
  // Any thread.
  virtual void CountLogin(std::optional<LoginFailure> failure) = 0;
  // The I/O counters of `loop` (lu_stats.h); loop thread.
  virtual LuStatsTable* lu_stats(EventLoop* loop) = 0;
  // How many LUs have limits (gateway/qos.h) now; 0 lets commands skip
  // the limit check altogether.
  virtual const std::atomic<uint32_t>* limited_lus() const = 0;
  // Called on the connection's loop when it has closed; the portal drops its
  // reference later (not from inside this call).
  virtual void Closed(Connection* conn) = 0;
};

class Connection : public std::enable_shared_from_this<Connection>, private Poller::Handler {
 public:
  using Clock = EventLoop::Clock;

  Connection(EventLoop* loop, Portal* portal, int fd, uint64_t id, std::string peer);
  ~Connection() override;

  // Registers with the loop's poller. Loop thread.
  Status Start();
  // Ends the connection (and its session): tasks are dropped, the socket is
  // closed. Loop thread; idempotent.
  void Close(const std::string& reason);
  // Keepalive and login timeout. Loop thread.
  void Tick(Clock::time_point now);

  uint64_t id() const { return id_; }
  // Adds this connection's R2Ts outstanding and writes waiting for the write
  // budget to `stats`. Loop thread.
  void AddStats(GatewayStats* stats) const;
  bool closed() const { return fd_ < 0; }

 private:
  struct Task;
  struct PendingTmf;
  struct OutPdu {
    std::vector<uint8_t> head;  // a whole PDU, or the header of a zero-copy one
    std::shared_ptr<const util::HeldBytes> body;  // data kept alive while queued
    size_t body_offset = 0, body_length = 0;
    uint8_t tail[4] = {0, 0, 0, 0};  // padding of the body
    uint8_t tail_length = 0;
    size_t size() const { return head.size() + body_length + tail_length; }
  };
  enum class Phase { kLogin, kFullFeature, kLoggedOut };

  // Poller::Handler
  void OnEvents(uint32_t events) override;
  void ReadSome();
  void HandleItem(iscsi::PduReader::Item& item);
  void SetInterest();

  // Output.
  void Send(iscsi::Pdu pdu, bool advances_statsn);
  void SendDataIn(iscsi::Pdu header, std::shared_ptr<const util::HeldBytes> body, size_t offset,
                  size_t length, bool advances_statsn);
  void SendReject(iscsi::RejectReason reason, const iscsi::Pdu& offending);
  void ScheduleFlush();
  void Flush();
  iscsi::SequenceNumbers NextSequence(bool advances_statsn);

  // Login phase (connection_login.cc).
  void HandleLogin(iscsi::Pdu& pdu);
  void EnterFullFeature();

  // Full feature phase (connection.cc, connection_scsi.cc).
  void HandlePdu(iscsi::Pdu& pdu);
  void Ordered(uint32_t cmdsn, bool immediate, iscsi::Pdu pdu);
  void Dispatch(iscsi::Pdu pdu);
  void HandleNopOut(iscsi::Pdu& pdu);
  void HandleText(iscsi::Pdu& pdu);
  void SendTextChunk(uint32_t itt, uint64_t lun);
  void HandleLogout(iscsi::Pdu& pdu);
  void HandleScsiCommand(iscsi::Pdu& pdu);
  void StartTask(Task* task);
  void SendR2Ts(Task* task);
  // Write memory (connection_scsi.cc): a write's R2Ts go out once its
  // solicited bytes are reserved from the session's share and the gateway's
  // budget; until then it waits in r2t_waiting_, in arrival order.
  uint64_t SessionSolicitCap() const;
  bool Reserve(Task* task);
  void PumpR2Ts();
  void ReleaseReservation(Task* task);
  // Removes a task, giving back its reservation (which may let waiting
  // writes solicit their data).
  void EraseTask(uint32_t itt);
  void DropAllTasks();
  void HandleDataOut(iscsi::Pdu& pdu);
  void MaybeExecute(Task* task);
  // Task attributes (connection_scsi.cc): whether an earlier task holds
  // `task` back; runs the dormant tasks a completion released.
  bool HeldBack(const Task* task) const;
  void WakeDormant();
  void Execute(Task* task);
  // Limits (gateway/qos.h, connection_qos.cc): true when `task` must wait
  // for its LU's limits (it is parked; ReleaseGranted runs it later).
  bool Throttled(Task* task);
  struct QosLine;
  QosLine* LineFor(const std::shared_ptr<QosLimiter>& limiter);
  // Pumps every limiter this connection waits on, runs what they granted
  // and sets the timer for the next grant. Loop thread.
  void PumpQos();
  void ArmQosTimer(Clock::time_point when);
  void LeaveQos();
  void OnScsiDone(uint32_t itt, uint64_t serial, scsi::Response response);
  // A completion on the loop thread (the command ran inline): queued, and
  // all of a batch's run after the current events, through one Defer.
  void QueueCompletion(uint32_t itt, uint64_t serial, scsi::Response response);
  void RunCompletions();
  void SendScsiResult(Task* task, scsi::Response response);
  void FinishTask(uint32_t itt);
  void HandleTaskMgmt(iscsi::Pdu& pdu);
  // Aborts `task`; true when it is still running in the SCSI layer (the TMF
  // must wait for it).
  bool AbortTask(Task* task);
  void TaskAbortedDone(uint64_t serial);
  void ProtocolFailure(const iscsi::Pdu& pdu, const std::string& why);
  // The counters of this session's host and `lun` (cached per LUN).
  LuCounters* CountersFor(uint64_t lun);
  void CountCommand(const Task* t, const scsi::Response& r, uint64_t bytes_moved);

  EventLoop* loop_;
  Portal* portal_;
  int fd_;
  const uint64_t id_;
  const std::string peer_;
  std::string local_;  // our address on this connection, for SendTargets
  Phase phase_ = Phase::kLogin;
  bool want_write_ = false;
  bool reading_paused_ = false;
  bool flush_scheduled_ = false;
  bool close_after_flush_ = false;
  std::string close_reason_;  // logged when close_after_flush_ closes

  iscsi::PduReader reader_;
  iscsi::DigestParams digests_;
  std::deque<OutPdu> outq_;
  size_t out_bytes_ = 0;
  size_t front_sent_ = 0;  // bytes of outq_.front() already written

  // Login.
  std::unique_ptr<iscsi::LoginNegotiator> negotiator_;
  std::optional<SessionTable::Binding> binding_;
  uint32_t login_cmdsn_ = 0;
  Clock::time_point started_;

  // Session (full feature phase).
  iscsi::LoginOutcome login_;
  std::shared_ptr<scsi::Target> target_;
  std::optional<CommandWindow<iscsi::Pdu>> window_;
  uint32_t statsn_ = 1;
  uint32_t next_ttt_ = 1;
  uint64_t next_serial_ = 1;
  uint64_t session_reserved_ = 0;  // sum of tasks_' reservations
  uint64_t next_seq_ = 1;
  // Started tasks as (seq, ITT), in seq order (seq only grows).
  std::deque<std::pair<uint64_t, uint32_t>> task_order_;
  size_t ordered_tasks_ = 0;                 // ORDERED tasks in task_order_
  size_t dormant_tasks_ = 0;
  std::deque<std::pair<uint32_t, uint64_t>> r2t_waiting_;  // (ITT, serial)
  std::unordered_map<uint32_t, std::unique_ptr<Task>> tasks_;  // by ITT
  std::vector<std::unique_ptr<PendingTmf>> tmfs_;
  std::deque<uint32_t> recently_aborted_;  // ITTs whose late Data-Out is ignored

  struct Completion {
    uint32_t itt;
    uint64_t serial;
    scsi::Response response;
  };
  std::vector<Completion> completions_;          // inline completions not yet handled
  std::vector<Completion> running_completions_;  // the batch RunCompletions works on
  bool completions_scheduled_ = false;
  // While RunCompletions works: the time its batch completed.
  std::optional<Clock::time_point> completions_now_;
  // HandleScsiCommand's list of commands the CmdSN window released, kept
  // for its capacity.
  std::vector<iscsi::Pdu> spare_ready_;
  // I/O counters: the loop's table, this session's host name, and the
  // counters of the LUNs it used (few: a linear search).
  LuStatsTable* lu_table_ = nullptr;
  std::string host_;
  std::vector<std::pair<uint64_t, LuCounters*>> lu_counters_;

  // Limits: the gateway's count of limited LUs (read per command), and one
  // line per limited LU this session used, each with the tasks it parked
  // (ITT, serial) in the order their tickets were queued.
  const std::atomic<uint32_t>* limited_lus_ = nullptr;
  std::vector<std::unique_ptr<QosLine>> qos_lines_;
  size_t qos_parked_ = 0;  // entries in every line's `parked`
  Clock::time_point qos_timer_at_ = Clock::time_point::max();  // the earliest timer set

  // Header buffers of sent PDUs, kept for the next ones (no allocation per PDU).
  std::vector<std::vector<uint8_t>> spare_heads_;

  // A Text response too long for one PDU, sent in pieces (C bit).
  std::vector<uint8_t> text_out_;
  size_t text_out_offset_ = 0;
  uint32_t text_ttt_ = iscsi::kReservedTag;
  std::vector<uint8_t> text_in_;  // a Text request arriving in pieces

  // Keepalive.
  Clock::time_point last_rx_;
  bool ping_outstanding_ = false;
  uint32_t ping_ttt_ = 0;
  Clock::time_point ping_sent_;
};

}  // namespace vsl::gateway
