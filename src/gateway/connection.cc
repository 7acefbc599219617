// Connection: socket I/O, the send queue, keepalive, and the PDUs of the full
// feature phase other than SCSI commands and task management
// (connection_scsi.cc) and login (connection_login.cc).
#include "gateway/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "gateway/connection_task.h"
#include "gateway/listener.h"
#include "gateway/log.h"
#include "gateway/scsi/data_buffers.h"

namespace vsl::gateway {

using iscsi::Opcode;
using iscsi::Pdu;
using iscsi::RejectReason;

namespace {
constexpr size_t kReadChunk = 256 * 1024;
constexpr size_t kReadBudget = 4 * 1024 * 1024;  // per wake-up, for fairness
constexpr size_t kPauseReadingAt = 16 * 1024 * 1024;
constexpr size_t kResumeReadingAt = 4 * 1024 * 1024;
// Sent PDUs' header buffers kept for reuse: how many, and up to what size
// (a whole small PDU, e.g. a SCSI Response with sense, fits).
constexpr size_t kSpareHeads = 64;
constexpr size_t kSpareHeadBytes = 1024;
}  // namespace

Connection::Connection(EventLoop* loop, Portal* portal, int fd, uint64_t id, std::string peer)
    : loop_(loop), portal_(portal), fd_(fd), id_(id), peer_(std::move(peer)) {
  started_ = last_rx_ = Clock::now();
  limited_lus_ = portal_->limited_lus();
}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
  LeaveQos();
}

Status Connection::Start() {
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len) == 0) {
    local_ = Listener::FormatAddress(reinterpret_cast<sockaddr*>(&local));
  }
  // During login a PDU may carry at most 8192 bytes (RFC 7143 §13.12).
  reader_.set_max_data_segment(8192);
  // Small writes' data lands in buffers the SCSI layer gives back once the
  // write is down (scsi/data_buffers.h): no allocation per write on this
  // thread. (Large ones allocate as before: held in the pool, their buffers
  // made 1 MiB writes slower.)
  reader_.set_data_source(&scsi::TakeDataBuffer);
  // Data-Out is copied once, from the read buffer into its command's
  // (HandleDataOut consumes each PDU before the next read).
  reader_.set_data_out_in_place(true);
  return loop_->poller()->Add(fd_, Poller::kReadable, this);
}

void Connection::Close(const std::string& reason) {
  if (fd_ < 0) return;
  auto self = shared_from_this();
  if (phase_ == Phase::kFullFeature || binding_) {
    Log().info("{}: session closed ({} {} tsih {}): {}", peer_, login_.initiator_name,
               login_.discovery ? "discovery" : login_.target_name, binding_ ? binding_->tsih : 0,
               reason);
  } else {
    // Anyone can open connections: this line must not turn a flood into
    // a flood of log lines.
    LogLimited(spdlog::level::info, "closed during login", "{}: connection closed during login: {}",
               peer_, reason);
  }
  loop_->poller()->Remove(fd_);
  ::close(fd_);
  fd_ = -1;
  if (binding_) portal_->sessions()->Release(binding_->tsih, id_);
  // Tasks still in the SCSI layer complete into nothing: OnScsiDone finds no
  // connection (weak pointer) or no task.
  DropAllTasks();
  tmfs_.clear();
  outq_.clear();
  out_bytes_ = 0;
  portal_->Closed(this);
}

void Connection::DropAllTasks() {
  for (auto& [itt, t] : tasks_) ReleaseReservation(t.get());
  tasks_.clear();
  task_order_.clear();
  ordered_tasks_ = dormant_tasks_ = 0;
  r2t_waiting_.clear();
  portal_->write_budget()->Cancel(id_);
  LeaveQos();
}

void Connection::OnEvents(uint32_t events) {
  if (fd_ < 0) return;
  auto self = shared_from_this();
  if (events & Poller::kWritable) Flush();
  if (fd_ < 0) return;
  if ((events & Poller::kError) && reading_paused_) {
    // Errors and hang-ups are reported even while reading is paused; left
    // alone they would wake the loop forever.
    Close("connection error or hang-up");
    return;
  }
  if ((events & (Poller::kReadable | Poller::kError)) && !reading_paused_) ReadSome();
}

void Connection::ReadSome() {
  // The writes these PDUs carry to one place in a row go down in one
  // system call, before this returns (so before their answers are sent).
  scsi::WriteBatch batch;
  size_t total = 0;
  while (fd_ >= 0 && !reading_paused_ && phase_ != Phase::kLoggedOut && !close_after_flush_) {
    std::span<uint8_t> buf = reader_.Prepare(kReadChunk);
    ssize_t n = ::read(fd_, buf.data(), buf.size());
    if (n == 0) {
      Close("connection closed by the initiator");
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      Close(std::string("read: ") + strerror(errno));
      return;
    }
    reader_.Commit(size_t(n));
    last_rx_ = Clock::now();
    for (;;) {
      iscsi::PduReader::Item item = reader_.Next();
      if (item.kind == iscsi::PduReader::Kind::kNeedMore) break;
      loop_->NoteWork(1);
      HandleItem(item);
      // What is left of the data segment may be the pool's (a command's
      // immediate data moved on; a Data-Out's stayed in the read buffer).
      if (item.pdu.data.capacity() >= iscsi::PduReader::kSourcedDataMin &&
          item.pdu.data.capacity() <= iscsi::PduReader::kSourcedDataMax) {
        scsi::GiveDataBuffer(std::move(item.pdu.data));
      }
      if (fd_ < 0 || phase_ == Phase::kLoggedOut || close_after_flush_) return;
    }
    total += size_t(n);
    if (size_t(n) < buf.size() || total >= kReadBudget) return;
  }
}

void Connection::HandleItem(iscsi::PduReader::Item& item) {
  using Kind = iscsi::PduReader::Kind;
  switch (item.kind) {
    case Kind::kNeedMore:
      return;
    case Kind::kFatal:
      Close("bad framing: " + item.reason);
      return;
    case Kind::kOversized:
      LogLimited(spdlog::level::warn, "bad pdu", "{}: {}", peer_, item.reason);
      if (phase_ == Phase::kFullFeature) SendReject(RejectReason::kProtocolError, item.pdu);
      close_after_flush_ = true;
      close_reason_ = item.reason;
      ScheduleFlush();
      return;
    case Kind::kDataDigestError:
      // RFC 7143 §7.8: the PDU is discarded and rejected; the initiator
      // recovers the command (at ERL 0 by aborting it).
      LogLimited(spdlog::level::warn, "bad pdu", "{}: {}", peer_, item.reason);
      if (phase_ == Phase::kFullFeature) {
        SendReject(RejectReason::kDataDigestError, item.pdu);
      } else {
        Close("data digest error during login");
      }
      return;
    case Kind::kPdu:
      if (phase_ == Phase::kLogin) {
        HandleLogin(item.pdu);
      } else if (phase_ == Phase::kFullFeature) {
        HandlePdu(item.pdu);
      }
      return;
  }
}

void Connection::SetInterest() {
  if (fd_ < 0) return;
  uint32_t interest = 0;
  if (!reading_paused_) interest |= Poller::kReadable;
  if (want_write_) interest |= Poller::kWritable;
  Status s = loop_->poller()->Modify(fd_, interest, this);
  if (!s.ok()) Close(s.ToString());
}

// ---- Output

iscsi::SequenceNumbers Connection::NextSequence(bool advances_statsn) {
  iscsi::SequenceNumbers seq;
  seq.statsn = advances_statsn ? statsn_++ : statsn_;
  if (window_) {
    seq.expcmdsn = window_->expcmdsn();
    seq.maxcmdsn = window_->maxcmdsn();
  } else {
    seq.expcmdsn = login_cmdsn_;
    seq.maxcmdsn = login_cmdsn_ + portal_->options().queue_depth - 1;
  }
  return seq;
}

void Connection::Send(Pdu pdu, bool advances_statsn) {
  if (fd_ < 0) return;
  iscsi::SetSequence(&pdu, NextSequence(advances_statsn));
  OutPdu out;
  if (!spare_heads_.empty()) {
    out.head = std::move(spare_heads_.back());
    spare_heads_.pop_back();
  }
  iscsi::Encode(pdu, digests_, &out.head);
  out_bytes_ += out.size();
  outq_.push_back(std::move(out));
  ScheduleFlush();
}

void Connection::SendDataIn(Pdu header, std::shared_ptr<const util::HeldBytes> body, size_t offset,
                            size_t length, bool advances_statsn) {
  if (fd_ < 0) return;
  iscsi::SetSequence(&header, NextSequence(advances_statsn));
  if (digests_.data_digest) {
    // The digest covers the data: let Encode do it on a copy.
    header.data.clear();
    header.data.reserve(length);
    body->ForEach(offset, length,
                  [&](std::span<const uint8_t> p) { header.data.insert(header.data.end(), p.begin(), p.end()); });
    Send(std::move(header), false);
    return;
  }
  // Zero copy: the header here, the data straight from the SCSI response.
  header.ahs.clear();
  header.bhs[4] = 0;
  StoreBe24(&header.bhs[5], uint32_t(length));
  OutPdu out;
  if (!spare_heads_.empty()) {
    out.head = std::move(spare_heads_.back());
    spare_heads_.pop_back();
  }
  out.head.assign(header.bhs.begin(), header.bhs.end());
  if (digests_.header_digest) {
    uint32_t crc = iscsi::Crc32c(std::span<const uint8_t>(header.bhs.data(), header.bhs.size()));
    for (int i = 0; i < 4; ++i) out.head.push_back(uint8_t(crc >> (8 * i)));
  }
  out.body = std::move(body);
  out.body_offset = offset;
  out.body_length = length;
  out.tail_length = uint8_t((4 - length % 4) % 4);
  out_bytes_ += out.size();
  outq_.push_back(std::move(out));
  ScheduleFlush();
}

void Connection::SendReject(RejectReason reason, const Pdu& offending) {
  LogLimited(spdlog::level::warn, "reject", "{}: reject (reason {:#04x}) of a PDU with opcode {:#04x}",
             peer_, uint8_t(reason), uint8_t(offending.bhs[0] & 0x3f));
  Send(iscsi::MakeReject(reason, offending.bhs), true);
}

void Connection::ScheduleFlush() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  loop_->Defer([weak = weak_from_this()] {
    if (auto self = weak.lock()) {
      self->flush_scheduled_ = false;
      self->Flush();
    }
  });
}

void Connection::Flush() {
  while (fd_ >= 0 && !outq_.empty()) {
    constexpr int kIov = 64;  // a PDU takes at most 18: its header, padding, 16 pieces
    iovec iov[kIov];
    int n = 0;
    size_t skip = front_sent_;
    for (auto it = outq_.begin(); it != outq_.end(); ++it) {
      const size_t pieces = it->body_length ? it->body->PiecesIn(it->body_offset, it->body_length) : 0;
      if (n + 2 + int(pieces) > kIov) break;
      auto add = [&](const uint8_t* p, size_t len) {
        if (len <= skip) {
          skip -= len;
          return;
        }
        iov[n].iov_base = const_cast<uint8_t*>(p + skip);
        iov[n].iov_len = len - skip;
        skip = 0;
        ++n;
      };
      add(it->head.data(), it->head.size());
      if (it->body_length)
        it->body->ForEach(it->body_offset, it->body_length,
                          [&](std::span<const uint8_t> p) { add(p.data(), p.size()); });
      if (it->tail_length) add(it->tail, it->tail_length);
    }
    ssize_t w = ::writev(fd_, iov, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      Close(std::string("write: ") + strerror(errno));
      return;
    }
    size_t done = size_t(w) + front_sent_;
    while (!outq_.empty() && done >= outq_.front().size()) {
      OutPdu& front = outq_.front();
      done -= front.size();
      out_bytes_ -= front.size();
      if (spare_heads_.size() < kSpareHeads && front.head.capacity() <= kSpareHeadBytes) {
        front.head.clear();
        spare_heads_.push_back(std::move(front.head));
      }
      outq_.pop_front();
    }
    front_sent_ = done;
  }
  if (fd_ < 0) return;
  if (outq_.empty() && (close_after_flush_ || phase_ == Phase::kLoggedOut)) {
    Close(phase_ == Phase::kLoggedOut ? std::string("logged out") : close_reason_);
    return;
  }
  bool want_write = !outq_.empty();
  bool pause = reading_paused_ ? out_bytes_ > kResumeReadingAt : out_bytes_ > kPauseReadingAt;
  if (want_write != want_write_ || pause != reading_paused_) {
    bool resumed = reading_paused_ && !pause;
    want_write_ = want_write;
    reading_paused_ = pause;
    SetInterest();
    // Bytes may already sit in the reader from before the pause.
    if (resumed && fd_ >= 0) ReadSome();
  }
}

void Connection::AddStats(GatewayStats* stats) const {
  for (const auto& [itt, task] : tasks_) {
    stats->r2ts_outstanding += task->r2ts.size();
    if (task->lu != nullptr) ++stats->lus[{host_, task->lun}].queue_depth;
  }
  stats->writes_waiting += r2t_waiting_.size();
}

// ---- Keepalive

void Connection::Tick(Clock::time_point now) {
  if (fd_ < 0) return;
  const GatewayOptions& o = portal_->options();
  if (phase_ == Phase::kLogin) {
    if (now - started_ >= std::chrono::seconds(o.login_timeout_s)) {
      if (!close_after_flush_) portal_->CountLogin(LoginFailure::kTimeout);
      Close("login did not complete within " + std::to_string(o.login_timeout_s) + " s");
    }
    return;
  }
  if (phase_ != Phase::kFullFeature) return;
  for (const auto& [itt, t] : tasks_) {
    if (!t->r2ts.empty() && now - t->data_activity >= std::chrono::seconds(o.data_out_timeout_s)) {
      Close("no Data-Out for an R2T of ITT " + std::to_string(itt) + " within " +
            std::to_string(o.data_out_timeout_s) + " s");
      return;
    }
  }
  if (o.nop_interval_s == 0) return;
  if (ping_outstanding_) {
    if (now - ping_sent_ > std::chrono::seconds(o.nop_timeout_s)) {
      Close("no answer to a NOP-In ping within " + std::to_string(o.nop_timeout_s) + " s");
    }
    return;
  }
  if (now - last_rx_ >= std::chrono::seconds(o.nop_interval_s)) {
    ping_outstanding_ = true;
    ping_sent_ = now;
    ping_ttt_ = next_ttt_++;
    if (next_ttt_ == iscsi::kReservedTag) next_ttt_ = 1;
    // ITT reserved + a TTT: the initiator must answer with a NOP-Out; StatSN
    // does not advance (RFC 7143 §11.19).
    Send(iscsi::MakeNopIn(iscsi::kReservedTag, ping_ttt_, 0, {}), false);
  }
}

// ---- Full feature phase: dispatch

void Connection::HandlePdu(Pdu& pdu) {
  Opcode op = pdu.opcode();
  bool discovery = login_.discovery;
  switch (op) {
    case Opcode::kScsiCommand:
      if (discovery) return ProtocolFailure(pdu, "SCSI command in a discovery session");
      return HandleScsiCommand(pdu);
    case Opcode::kDataOut:
      if (discovery) return ProtocolFailure(pdu, "Data-Out in a discovery session");
      return HandleDataOut(pdu);
    case Opcode::kNopOut:
    case Opcode::kTextRequest:
    case Opcode::kLogoutRequest:
    case Opcode::kTaskMgmtRequest: {
      scsi::FlushWriteBatch();  // a task management function sees them done
      if (op == Opcode::kTaskMgmtRequest && discovery) {
        return ProtocolFailure(pdu, "task management in a discovery session");
      }
      if (op == Opcode::kNopOut && pdu.itt() == iscsi::kReservedTag) {
        return HandleNopOut(pdu);  // a ping answer: outside CmdSN ordering
      }
      uint32_t cmdsn = pdu.field32(24);
      bool immediate = pdu.immediate();
      return Ordered(cmdsn, immediate, std::move(pdu));
    }
    case Opcode::kSnackRequest:
      // ErrorRecoveryLevel 0: no SNACK (RFC 7143 §11.16).
      SendReject(RejectReason::kProtocolError, pdu);
      return;
    case Opcode::kLoginRequest:
      SendReject(RejectReason::kProtocolError, pdu);
      return;
    default:
      SendReject(RejectReason::kCommandNotSupported, pdu);
      return;
  }
}

void Connection::Ordered(uint32_t cmdsn, bool immediate, Pdu pdu) {
  if (immediate) {
    Dispatch(std::move(pdu));
    return;
  }
  std::vector<Pdu> ready;
  auto verdict = window_->Offer(cmdsn, std::move(pdu), &ready);
  if (verdict == CommandWindow<Pdu>::Verdict::kDropped) {
    Log().debug("{}: dropped a PDU with CmdSN {} outside [{}, {}]", peer_, cmdsn,
                window_->expcmdsn(), window_->maxcmdsn());
    return;
  }
  for (Pdu& p : ready) {
    if (fd_ < 0 || phase_ != Phase::kFullFeature) return;
    Dispatch(std::move(p));
  }
}

void Connection::Dispatch(Pdu pdu) {
  // Non-immediate PDUs other than SCSI commands free their window slot as
  // soon as they are answered; SCSI commands and TMFs do it when they finish.
  bool counted = !pdu.immediate();
  switch (pdu.opcode()) {
    case Opcode::kScsiCommand: {
      auto it = tasks_.find(pdu.itt());
      if (it != tasks_.end()) {
        StartTask(it->second.get());
      } else if (counted) {
        window_->Finished();  // aborted while it waited for a CmdSN gap
      }
      return;
    }
    case Opcode::kNopOut:
      HandleNopOut(pdu);
      break;
    case Opcode::kTextRequest:
      HandleText(pdu);
      break;
    case Opcode::kLogoutRequest:
      HandleLogout(pdu);
      break;
    case Opcode::kTaskMgmtRequest:
      HandleTaskMgmt(pdu);
      return;
    default:
      break;
  }
  if (counted && window_) window_->Finished();
}

void Connection::ProtocolFailure(const Pdu& pdu, const std::string& why) {
  Log().warn("{}: protocol error: {}", peer_, why);
  SendReject(RejectReason::kProtocolError, pdu);
}

}  // namespace vsl::gateway
