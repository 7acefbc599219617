// Connection: SCSI commands, write data collection (immediate, unsolicited,
// R2T), Data-In / SCSI Response, and task management (RFC 7143 §4.2, §11.3-
// §11.8; SAM-5 for what an abort promises).
#include <algorithm>
#include <cstring>

#include "gateway/connection.h"
#include "gateway/connection_task.h"
#include "gateway/log.h"
#include "gateway/scsi/data_buffers.h"

namespace vsl::gateway {

using iscsi::Pdu;
using iscsi::RejectReason;

namespace {
// Data-Out transfers larger than the logical units accept (the Block Limits
// VPD page's MAXIMUM TRANSFER LENGTH) are refused with CHECK CONDITION before
// any of their data is taken in.
constexpr uint32_t kMaxWriteBuffer = scsi::kMaxTransferBytes;
constexpr size_t kRecentlyAborted = 64;

// A Data-In buffer from the pool, sent as it is: back to the pool once its
// last PDU is sent.
struct PooledBytes final : util::HeldBytes {
  explicit PooledBytes(std::vector<uint8_t> b) : buf(std::move(b)) {
    pieces.emplace_back(buf.data(), buf.size());
    size = buf.size();
  }
  ~PooledBytes() override { scsi::GiveDataBuffer(std::move(buf)); }
  std::vector<uint8_t> buf;
};

scsi::Response InvalidFieldInCdb() {
  scsi::Sense s;
  s.key = scsi::SenseKey::kIllegalRequest;
  s.asc = {0x24, 0x00};
  return scsi::Response::Check(s);
}

scsi::Response InvalidFieldInCommandIu() {
  scsi::Sense s;
  s.key = scsi::SenseKey::kIllegalRequest;
  s.asc = {0x0e, 0x03};  // INVALID FIELD IN COMMAND INFORMATION UNIT
  return scsi::Response::Check(s);
}
}  // namespace

void Connection::HandleScsiCommand(Pdu& pdu) {
  // The data segment (immediate data) moves into the command; the header
  // stays in `pdu` for a reject and for the CmdSN window.
  Result<iscsi::ScsiCommandPdu> cmd = iscsi::ParseScsiCommand(std::move(pdu));
  if (!cmd.ok()) {
    Log().warn("{}: {}", peer_, cmd.status().message());
    SendReject(RejectReason::kInvalidPduField, pdu);
    return;
  }
  if (!cmd->immediate && !window_->InWindow(cmd->cmdsn)) {
    Log().debug("{}: dropped SCSI command with CmdSN {} outside [{}, {}]", peer_, cmd->cmdsn,
                window_->expcmdsn(), window_->maxcmdsn());
    return;
  }
  if (tasks_.count(cmd->itt)) {
    SendReject(RejectReason::kTaskInProgress, pdu);
    return;
  }
  const iscsi::SessionParams& sp = login_.session;
  uint32_t imm = uint32_t(cmd->immediate_data.size());
  if (imm > 0 && (!sp.immediate_data || !cmd->write || imm > cmd->edtl ||
                  imm > sp.first_burst_length)) {
    ProtocolFailure(pdu, "immediate data not allowed here (ImmediateData, W bit, EDTL or "
                         "FirstBurstLength)");
    return;
  }
  if (cmd->read && cmd->write) {
    SendReject(RejectReason::kCommandNotSupported, pdu);  // bidirectional
    return;
  }
  auto task = std::make_unique<Task>();
  task->serial = next_serial_++;
  Result<uint64_t> lun = scsi::DecodeLun(cmd->lun);
  // An undecodable LUN goes on to the target, which answers it like any
  // LUN that isn't mapped.
  task->lun = lun.ok() ? *lun : UINT64_MAX;
  // Arrived with the read that brought it (one clock read per read, not per
  // command).
  task->arrived = last_rx_;
  task->lu = CountersFor(task->lun);
  if (cmd->write && cmd->edtl <= kMaxWriteBuffer) {
    // Only what has arrived is kept: the immediate data, never EDTL's worth.
    task->data_out = std::move(cmd->immediate_data);
    task->received = imm;
    task->unsolicited_end =
        UnsolicitedEnd(cmd->edtl, imm, sp.first_burst_length, sp.initial_r2t, cmd->final);
    task->unsolicited_next = imm;
    task->unsolicited_open = task->unsolicited_end > imm;
  }
  cmd->immediate_data.clear();
  cmd->immediate_data.shrink_to_fit();
  uint32_t itt = cmd->itt, cmdsn = cmd->cmdsn;
  bool immediate = cmd->immediate;
  task->cmd = std::move(*cmd);
  Task* t = task.get();
  tasks_[itt] = std::move(task);
  if (immediate) {
    StartTask(t);
    return;
  }
  Pdu header;  // the window only needs the header to find the task again
  header.bhs = pdu.bhs;
  // The list of released commands keeps its capacity from one command to
  // the next (no allocation per command); Dispatch does not come back here.
  std::vector<Pdu> ready;
  ready.swap(spare_ready_);
  ready.clear();
  if (window_->Offer(cmdsn, std::move(header), &ready) == CommandWindow<Pdu>::Verdict::kDropped) {
    tasks_.erase(itt);  // a CmdSN already queued: a duplicate
  } else {
    for (Pdu& p : ready) {
      if (fd_ < 0 || phase_ != Phase::kFullFeature) break;
      Dispatch(std::move(p));
    }
  }
  ready.clear();
  if (ready.capacity() > spare_ready_.capacity()) spare_ready_.swap(ready);
}

void Connection::StartTask(Task* t) {
  t->started = true;
  t->counted = !t->cmd.immediate;
  if (t->cmd.write && t->cmd.edtl > kMaxWriteBuffer) {
    uint32_t itt = t->cmd.itt;
    SendScsiResult(t, InvalidFieldInCdb());
    FinishTask(itt);
    return;
  }
  // iSCSI ATTR: 0 untagged, 1 simple, 2 ordered, 3 head of queue, 4 ACA,
  // 5-7 reserved. vsl never establishes ACA (NACA is not supported), so an
  // ACA task, like a reserved value, is refused (SAM-5 §8.6).
  if (t->cmd.attr >= 4) {
    uint32_t itt = t->cmd.itt;
    SendScsiResult(t, InvalidFieldInCommandIu());
    FinishTask(itt);
    return;
  }
  t->attr = t->cmd.attr == 0 ? scsi::TaskAttr::kSimple : scsi::TaskAttr(t->cmd.attr);
  t->seq = next_seq_++;
  task_order_.emplace_back(t->seq, t->cmd.itt);  // seq only grows: stays sorted
  if (t->attr == scsi::TaskAttr::kOrdered) ++ordered_tasks_;
  if (t->cmd.write) {
    for (const R2tRange& r : PlanR2Ts(t->unsolicited_end, t->cmd.edtl, login_.session.max_burst_length)) {
      t->r2t_todo.push_back(r);
    }
    if (t->r2t_todo.empty()) {
      t->may_solicit = true;
    } else {
      // R2Ts wait for memory: the session's share, then the gateway's budget.
      r2t_waiting_.emplace_back(t->cmd.itt, t->serial);
      PumpR2Ts();
      if (fd_ < 0) return;
    }
  }
  MaybeExecute(t);
}

uint64_t Connection::SessionSolicitCap() const {
  const iscsi::SessionParams& sp = login_.session;
  return std::max<uint64_t>(uint64_t(sp.max_burst_length) * sp.max_outstanding_r2t,
                            scsi::kMaxTransferBytes);
}

bool Connection::Reserve(Task* t) {
  uint64_t need = t->cmd.edtl - t->unsolicited_end;
  // A session's writes in progress may hold at most its negotiated share;
  // one of them finishing makes room. A session holding nothing can always
  // take one write's worth, so it never waits on itself.
  if (session_reserved_ > 0 && session_reserved_ + need > SessionSolicitCap()) return false;
  std::weak_ptr<Connection> weak = weak_from_this();
  EventLoop* loop = loop_;
  auto wake = [weak, loop] {
    loop->Post([weak] {
      if (auto c = weak.lock()) c->PumpR2Ts();
    });
  };
  if (!portal_->write_budget()->AcquireOrWait(need, id_, std::move(wake))) return false;
  t->reserved = need;
  session_reserved_ += need;
  return true;
}

void Connection::PumpR2Ts() {
  while (fd_ >= 0 && phase_ == Phase::kFullFeature && !r2t_waiting_.empty()) {
    auto [itt, serial] = r2t_waiting_.front();
    auto it = tasks_.find(itt);
    if (it == tasks_.end() || it->second->serial != serial) {  // aborted meanwhile
      r2t_waiting_.pop_front();
      continue;
    }
    Task* t = it->second.get();
    if (!Reserve(t)) return;
    r2t_waiting_.pop_front();
    t->may_solicit = true;
    SendR2Ts(t);
  }
}

void Connection::ReleaseReservation(Task* t) {
  if (t->reserved == 0) return;
  session_reserved_ -= t->reserved;
  portal_->write_budget()->Release(t->reserved);
  t->reserved = 0;
}

void Connection::EraseTask(uint32_t itt) {
  auto it = tasks_.find(itt);
  if (it == tasks_.end()) return;
  Task* t = it->second.get();
  bool had_reservation = t->reserved > 0;
  ReleaseReservation(t);
  if (t->seq) {
    // Tasks mostly finish in the order they started: the search is short
    // and the erase is usually at the front.
    auto o = std::lower_bound(task_order_.begin(), task_order_.end(), std::make_pair(t->seq, 0u),
                              [](const auto& a, const auto& b) { return a.first < b.first; });
    if (o != task_order_.end() && o->first == t->seq) task_order_.erase(o);
    if (t->attr == scsi::TaskAttr::kOrdered) --ordered_tasks_;
  }
  if (t->dormant) --dormant_tasks_;
  tasks_.erase(it);
  if (had_reservation && !r2t_waiting_.empty()) PumpR2Ts();
  if (dormant_tasks_ > 0) WakeDormant();
}

// SAM-5 §8.6: an ORDERED task starts once every task before it has
// completed, and no task after it starts before it completes; a HEAD OF QUEUE
// task starts at once. SIMPLE (and untagged) tasks are otherwise free.
bool Connection::HeldBack(const Task* t) const {
  if (t->attr == scsi::TaskAttr::kHeadOfQueue) return false;
  if (t->attr == scsi::TaskAttr::kOrdered) {
    return !task_order_.empty() && task_order_.begin()->first < t->seq;
  }
  if (ordered_tasks_ == 0) return false;
  for (auto it = task_order_.begin(); it != task_order_.end() && it->first < t->seq; ++it) {
    auto e = tasks_.find(it->second);
    if (e != tasks_.end() && e->second->attr == scsi::TaskAttr::kOrdered) return true;
  }
  return false;
}

void Connection::WakeDormant() {
  std::vector<uint32_t> ready;
  for (auto& [seq, itt] : task_order_) {
    auto e = tasks_.find(itt);
    if (e == tasks_.end()) continue;
    Task* t = e->second.get();
    if (t->dormant && !HeldBack(t)) ready.push_back(itt);
  }
  for (uint32_t itt : ready) {
    auto e = tasks_.find(itt);
    if (e == tasks_.end() || !e->second->dormant) continue;
    e->second->dormant = false;
    --dormant_tasks_;
    if (fd_ < 0 || phase_ != Phase::kFullFeature) return;
    Execute(e->second.get());
  }
}

void Connection::SendR2Ts(Task* t) {
  if (!t->started || !t->may_solicit) return;
  while (t->r2ts.size() < login_.session.max_outstanding_r2t && !t->r2t_todo.empty()) {
    R2tRange r = t->r2t_todo.front();
    t->r2t_todo.erase(t->r2t_todo.begin());
    uint32_t ttt = next_ttt_++;
    if (next_ttt_ == iscsi::kReservedTag) next_ttt_ = 1;
    t->r2ts.push_back({ttt, r.offset, r.length, r.offset, 0});
    // Every solicited byte is reserved (Reserve): room for all of them at
    // once, rather than a reallocation, and a copy of what came so far, per
    // R2T.
    t->Expect(t->cmd.edtl);
    t->data_activity = EventLoop::Clock::now();
    Send(iscsi::MakeR2T(t->cmd.itt, t->cmd.lun, ttt, t->r2tsn++, r.offset, r.length), false);
  }
}

void Connection::HandleDataOut(Pdu& pdu) {
  Result<iscsi::DataOutPdu> d = iscsi::ParseDataOut(pdu);
  if (!d.ok()) {
    Log().warn("{}: {}", peer_, d.status().message());
    SendReject(RejectReason::kInvalidPduField, pdu);
    return;
  }
  auto it = tasks_.find(d->itt);
  if (it == tasks_.end()) {
    // Data still in flight for a task that was just aborted is expected.
    if (std::find(recently_aborted_.begin(), recently_aborted_.end(), d->itt) ==
        recently_aborted_.end()) {
      SendReject(RejectReason::kInvalidPduField, pdu);
    }
    return;
  }
  Task* t = it->second.get();
  if (!t->cmd.write || t->executing) {
    ProtocolFailure(pdu, "Data-Out for a task that expects none");
    return;
  }
  if (t->cmd.edtl > kMaxWriteBuffer) return;  // refused anyway; drop the data
  uint64_t off = d->buffer_offset, len = d->data.size();
  auto sequence_error = [&](const char* what) {
    // ERL 0 has no recovery within a command (no SNACK, no recovery R2T):
    // reject the PDU and end the command with ABORTED COMMAND, keeping the
    // session and the initiator's other commands alive. Its remaining
    // Data-Out is dropped quietly (recently_aborted_).
    Log().warn("{}: Data-Out ITT {:#x} TTT {:#x} DataSN {} offset {} length {}: {}", peer_, d->itt,
               d->ttt, d->datasn, d->buffer_offset, len, what);
    SendReject(RejectReason::kProtocolError, pdu);
    uint32_t itt = t->cmd.itt;
    scsi::Sense sense;
    sense.key = scsi::SenseKey::kAbortedCommand;
    sense.asc = {0x4b, 0x00};  // DATA PHASE ERROR
    recently_aborted_.push_back(itt);
    if (recently_aborted_.size() > kRecentlyAborted) recently_aborted_.pop_front();
    if (t->counted) {
      window_->Finished();
      t->counted = false;
    }
    SendScsiResult(t, scsi::Response::Check(sense));
    EraseTask(itt);
  };
  if (d->ttt == iscsi::kReservedTag) {
    if (!t->unsolicited_open) return sequence_error("unsolicited data not expected");
    if (off != t->unsolicited_next) return sequence_error("buffer offset out of order");
    if (d->datasn != t->unsolicited_datasn) return sequence_error("DataSN out of order");
    if (off + len > t->unsolicited_end) return sequence_error("beyond FirstBurstLength/EDTL");
    if (off == t->unsolicited_next && t->unsolicited_datasn == 0) {
      t->Expect(t->may_solicit ? t->cmd.edtl : t->unsolicited_end);
    }
    t->Store(uint32_t(off), d->data);
    t->received += uint32_t(len);
    t->unsolicited_next += uint32_t(len);
    t->unsolicited_datasn++;
    if (d->final || t->unsolicited_next == t->unsolicited_end) {
      t->unsolicited_open = false;
      if (t->unsolicited_next < t->unsolicited_end) {
        // The initiator ended its unsolicited burst early: solicit the rest.
        auto rest = PlanR2Ts(t->unsolicited_next, t->unsolicited_end, login_.session.max_burst_length);
        t->r2t_todo.insert(t->r2t_todo.begin(), rest.begin(), rest.end());
        SendR2Ts(t);
      }
    }
  } else {
    t->data_activity = EventLoop::Clock::now();
    auto r = std::find_if(t->r2ts.begin(), t->r2ts.end(),
                          [&](const Task::R2t& x) { return x.ttt == d->ttt; });
    if (r == t->r2ts.end()) return sequence_error("TTT matches no outstanding R2T");
    if (off != r->next) return sequence_error("buffer offset out of order");
    if (d->datasn != r->datasn) return sequence_error("DataSN out of order");
    if (off + len > uint64_t(r->offset) + r->length) return sequence_error("beyond the R2T's range");
    t->Store(uint32_t(off), d->data);
    t->received += uint32_t(len);
    r->next += uint32_t(len);
    r->datasn++;
    if (r->next == r->offset + r->length) {
      t->r2ts.erase(r);
      SendR2Ts(t);
    } else if (d->final) {
      return sequence_error("F bit before the end of the R2T's burst");
    }
  }
  MaybeExecute(t);
}

void Connection::MaybeExecute(Task* t) {
  if (!t->started || t->executing || t->dormant) return;
  if (t->cmd.write && (t->received < t->cmd.edtl || t->unsolicited_open || !t->r2ts.empty() ||
                       !t->r2t_todo.empty())) {
    return;
  }
  if (HeldBack(t)) {
    t->dormant = true;
    ++dormant_tasks_;
    return;
  }
  Execute(t);
}

void Connection::Execute(Task* t) {
  // The one test commands pay while no LU has limits.
  if (limited_lus_->load(std::memory_order_relaxed) != 0 && !t->qos_passed && Throttled(t)) return;
  scsi::Command c;
  c.lun = t->lun;
  c.cdb = t->cmd.cdb;
  c.data_out = std::move(t->data_out);
  if (t->cmd.write) {
    uint32_t block = 512;
    if (auto lu = target_->Lu(t->lun)) block = lu->volume()->block_size();
    t->block_size = block;  // for the response's residual: no second look-up
    if (std::optional<WriteFit> fit = FitWriteToEdtl(t->cmd.cdb, t->cmd.edtl, block)) {
      if (fit->skip) {
        uint32_t itt = t->cmd.itt;
        if (t->counted) {
          window_->Finished();
          t->counted = false;
        }
        SendScsiResult(t, scsi::Response::Good());
        EraseTask(itt);
        return;
      }
      c.cdb = std::move(fit->cdb);
      c.data_out.resize(fit->data_length);
    }
  }
  c.expected_data_in = t->cmd.read ? t->cmd.edtl : 0;
  c.attr = t->attr;
  c.tag = t->cmd.itt;
  t->executing = true;
  std::weak_ptr<Connection> weak = weak_from_this();
  EventLoop* loop = loop_;
  uint32_t itt = t->cmd.itt;
  uint64_t serial = t->serial;
  target_->Execute(binding_->nexus, std::move(c),
                   [weak, loop, itt, serial](scsi::Response r) {
                     if (loop->InLoopThread()) {
                       if (auto self = weak.lock()) self->QueueCompletion(itt, serial, std::move(r));
                       return;
                     }
                     loop->Post([weak, itt, serial, r = std::move(r)]() mutable {
                       if (auto self = weak.lock()) self->OnScsiDone(itt, serial, std::move(r));
                     });
                   });
}

void Connection::QueueCompletion(uint32_t itt, uint64_t serial, scsi::Response r) {
  completions_.push_back({itt, serial, std::move(r)});
  if (completions_scheduled_) return;
  completions_scheduled_ = true;
  loop_->Defer([weak = weak_from_this()] {
    if (auto self = weak.lock()) self->RunCompletions();
  });
}

void Connection::RunCompletions() {
  completions_scheduled_ = false;
  // OnScsiDone may start further tasks whose completions queue anew (and
  // schedule another run): work on a swapped-out batch.
  running_completions_.swap(completions_);
  // One clock read for the batch's latencies (they completed together).
  completions_now_ = Clock::now();
  for (Completion& c : running_completions_) OnScsiDone(c.itt, c.serial, std::move(c.response));
  completions_now_.reset();
  running_completions_.clear();
}

void Connection::OnScsiDone(uint32_t itt, uint64_t serial, scsi::Response r) {
  if (fd_ < 0 || phase_ != Phase::kFullFeature) return;
  auto it = tasks_.find(itt);
  if (it == tasks_.end() || it->second->serial != serial) return;
  Task* t = it->second.get();
  if (t->aborted) {
    FinishTask(itt);
    TaskAbortedDone(serial);
    return;
  }
  // Free the window slot first so the response advertises it.
  if (t->counted) {
    window_->Finished();
    t->counted = false;
  }
  SendScsiResult(t, std::move(r));
  EraseTask(itt);
}

void Connection::SendScsiResult(Task* t, scsi::Response r) {
  const iscsi::ScsiCommandPdu& cmd = t->cmd;
  uint8_t status = uint8_t(r.status);
  int64_t residual = 0;
  uint32_t to_send = 0;
  uint64_t moved = 0;
  if (cmd.read) {
    to_send = uint32_t(std::min<uint64_t>(r.data_in_size(), cmd.edtl));
    residual = Residual(cmd.edtl, r.data_in_size());
    moved = to_send;
  } else if (cmd.write) {
    uint32_t block = t->block_size;
    if (block == 0) {
      block = 512;
      if (auto lu = target_->Lu(t->lun)) block = lu->volume()->block_size();
    }
    auto spdtl = CdbTransferLength(cmd.cdb, block);
    if (spdtl) residual = Residual(cmd.edtl, *spdtl);
    moved = spdtl ? std::min<uint64_t>(cmd.edtl, *spdtl) : cmd.edtl;
  }
  if (t->lu != nullptr) CountCommand(t, r, moved);
  bool collapse = r.sense.empty() && to_send > 0;
  uint32_t datasn = 0;
  if (to_send > 0) {
    std::shared_ptr<const util::HeldBytes> body = std::move(r.data_held);
    if (!body) body = std::make_shared<PooledBytes>(std::move(r.data_in));
    for (const DataInSegment& seg :
         PlanDataIn(to_send, login_.connection.initiator_max_recv_data_segment_length,
                    login_.session.max_burst_length)) {
      bool with_status = collapse && seg.last;
      Pdu h = iscsi::MakeDataIn(cmd.itt, cmd.lun, iscsi::kReservedTag, datasn++, seg.offset, {},
                                seg.final, with_status ? std::optional<uint8_t>(status) : std::nullopt,
                                with_status ? residual : 0);
      SendDataIn(std::move(h), body, seg.offset, seg.length, with_status);
    }
  }
  if (!collapse) {
    Pdu resp = iscsi::MakeScsiResponse(cmd.itt, status, r.sense, 0, residual);
    // ExpDataSN: the Data-In and R2T PDUs sent for this command.
    resp.set_field32(36, cmd.read ? datasn : t->r2tsn);
    Send(std::move(resp), true);
  }
}

LuCounters* Connection::CountersFor(uint64_t lun) {
  for (const auto& [l, c] : lu_counters_) {
    if (l == lun) return c;
  }
  // Only mapped LUNs get counters: a host probing LUN numbers adds nothing.
  if (lu_table_ == nullptr || host_.empty() || !target_ || !target_->Lu(lun)) return nullptr;
  LuCounters* c = &(*lu_table_)[{host_, lun}];
  lu_counters_.emplace_back(lun, c);
  return c;
}

void Connection::CountCommand(const Task* t, const scsi::Response& r, uint64_t bytes_moved) {
  LuOp op = LuOp::kOther;
  switch (t->cmd.cdb.empty() ? 0 : t->cmd.cdb[0]) {
    case 0x08: case 0x28: case 0xa8: case 0x88:  // READ (6), (10), (12), (16)
      op = LuOp::kRead;
      break;
    case 0x0a: case 0x2a: case 0xaa: case 0x8a:  // WRITE (6), (10), (12), (16)
    case 0x2e: case 0xae: case 0x8e:             // WRITE AND VERIFY (10), (12), (16)
      op = LuOp::kWrite;
      break;
    default:
      break;
  }
  int error = -1;
  bool good = r.status == scsi::ScsiStatus::kGood || r.status == scsi::ScsiStatus::kConditionMet;
  if (!good) {
    error = int(kLuErrorSlots - 1);
    if (r.status == scsi::ScsiStatus::kCheckCondition && r.sense.size() >= 3) {
      // Fixed format (70h/71h): the key in byte 2; descriptor (72h/73h): byte 1.
      error = (r.sense[0] & 0x7f) >= 0x72 ? (r.sense[1] & 0x0f) : (r.sense[2] & 0x0f);
    }
  }
  Clock::time_point now = completions_now_ ? *completions_now_ : Clock::now();
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - t->arrived).count();
  t->lu->Record(op, good ? bytes_moved : 0, uint64_t(std::max<int64_t>(ns, 0)), error);
}

void Connection::FinishTask(uint32_t itt) {
  auto it = tasks_.find(itt);
  if (it == tasks_.end()) return;
  if (it->second->counted) window_->Finished();
  EraseTask(itt);
}

// ---- Task management (RFC 7143 §11.5)

bool Connection::AbortTask(Task* t) {
  uint32_t itt = t->cmd.itt;
  recently_aborted_.push_back(itt);
  if (recently_aborted_.size() > kRecentlyAborted) recently_aborted_.pop_front();
  if (t->executing) {
    t->aborted = true;
    // A command waiting on a background operation (SANITIZE) ends now.
    target_->AbortTask(binding_->nexus, t->lun, itt);
    return true;
  }
  if (!t->started) {
    // Still waiting for a CmdSN gap: take it out of the window, and count
    // its CmdSN as received.
    std::vector<Pdu> ready;
    window_->RemoveQueued([itt](const Pdu& p) { return p.itt() == itt; }, &ready);
    tasks_.erase(itt);
    for (Pdu& p : ready) Dispatch(std::move(p));
    return false;
  }
  FinishTask(itt);
  return false;
}

void Connection::TaskAbortedDone(uint64_t serial) {
  for (size_t i = 0; i < tmfs_.size();) {
    PendingTmf* p = tmfs_[i].get();
    p->waiting.erase(serial);
    if (p->waiting.empty()) {
      if (p->counted) window_->Finished();
      Send(iscsi::MakeTaskMgmtResponse(p->itt, p->response), true);
      tmfs_.erase(tmfs_.begin() + long(i));
    } else {
      ++i;
    }
  }
}

void Connection::HandleTaskMgmt(Pdu& pdu) {
  bool counted = !pdu.immediate();
  Result<iscsi::TaskMgmtPdu> tm = iscsi::ParseTaskMgmt(pdu);
  if (!tm.ok()) {
    if (counted) window_->Finished();
    Log().warn("{}: {}", peer_, tm.status().message());
    SendReject(RejectReason::kInvalidPduField, pdu);
    return;
  }
  auto respond = [&](uint8_t response) {
    if (counted) window_->Finished();
    Send(iscsi::MakeTaskMgmtResponse(tm->itt, response), true);
  };
  auto pending = std::make_unique<PendingTmf>();
  pending->itt = tm->itt;
  pending->counted = counted;
  Result<uint64_t> lun = scsi::DecodeLun(tm->lun);
  switch (tm->function) {
    case 1: {  // ABORT TASK
      auto it = tasks_.find(tm->rtt);
      if (it != tasks_.end()) {
        uint64_t serial = it->second->serial;
        if (AbortTask(it->second.get())) {
          pending->waiting.insert(serial);
          tmfs_.push_back(std::move(pending));
          return;
        }
        return respond(0);  // function complete
      }
      // Never received: if its CmdSN is still ahead of us, count it as
      // received so the window moves on (RFC 7143 §11.5.1, case b).
      if (SnLessEq(window_->expcmdsn(), tm->refcmdsn) && SnLess(tm->refcmdsn, tm->cmdsn)) {
        std::vector<Pdu> ready;
        window_->Skip(tm->refcmdsn, &ready);
        respond(0);
        for (Pdu& p : ready) Dispatch(std::move(p));
        return;
      }
      return respond(1);  // task does not exist
    }
    case 2:    // ABORT TASK SET
    case 4:    // CLEAR TASK SET
    case 5:    // LOGICAL UNIT RESET
    case 6: {  // TARGET WARM RESET
      bool all = tm->function == 6;
      if (!all && (!lun.ok() || !target_->Lu(*lun))) return respond(2);  // LUN does not exist
      std::vector<uint32_t> itts;
      for (const auto& [itt, t] : tasks_) {
        if (all || t->lun == *lun) itts.push_back(itt);
      }
      for (uint32_t itt : itts) {
        auto it = tasks_.find(itt);
        if (it == tasks_.end()) continue;
        uint64_t serial = it->second->serial;
        if (AbortTask(it->second.get())) pending->waiting.insert(serial);
      }
      if (tm->function == 5) target_->LunReset(binding_->nexus, *lun);
      if (tm->function == 6) target_->TargetReset(binding_->nexus);
      if (!pending->waiting.empty()) {
        tmfs_.push_back(std::move(pending));
        return;
      }
      return respond(0);
    }
    case 8:  // TASK REASSIGN: needs ERL 2
      return respond(3);
    default:  // CLEAR ACA, TARGET COLD RESET, unknown
      return respond(4);
  }
}

}  // namespace vsl::gateway
