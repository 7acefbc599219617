// Connection: per-LU limits (gateway/qos.h). A command over its LU's limits
// is parked here, on the connection's own loop, until the limiter grants it:
// no thread blocks, nothing is refused, and the CmdSN window (which the
// parked command keeps occupied) bounds how many a session can park.
#include "gateway/connection.h"
#include "gateway/connection_task.h"
#include "gateway/log.h"

namespace vsl::gateway {

bool Connection::Throttled(Task* t) {
  std::optional<QosClass> cls = QosClassOf(t->cmd.cdb);
  if (!cls) return false;
  std::shared_ptr<scsi::LogicalUnit> lu = target_->Lu(t->lun);
  if (!lu || !lu->qos() || !lu->qos()->limited()) return false;
  QosLine* line = LineFor(lu->qos());
  if (t->cmd.immediate && qos_parked_ >= portal_->options().queue_depth) {
    // Immediate commands sit outside the CmdSN window: a session that sends
    // them faster than its limits allow is told to slow down (SAM-5 TASK SET
    // FULL, which initiators retry) rather than parking without end.
    uint32_t itt = t->cmd.itt;
    scsi::Response r;
    r.status = scsi::ScsiStatus::kTaskSetFull;
    SendScsiResult(t, std::move(r));
    FinishTask(itt);
    return true;
  }
  Clock::time_point now = Clock::now();
  if (line->limiter->Admit(line->waiter, QosCost{*cls, t->cmd.edtl}, now)) {
    t->qos_passed = true;
    return false;
  }
  t->throttled = true;
  line->parked.emplace_back(t->cmd.itt, t->serial);
  ++qos_parked_;
  // Ask for a grant at once if the limiter can give one (another line took
  // the turn before us, or a pump is due); otherwise the timer does.
  ArmQosTimer(line->limiter->Pump(now));
  return true;
}

Connection::QosLine* Connection::LineFor(const std::shared_ptr<QosLimiter>& limiter) {
  for (auto& l : qos_lines_) {
    if (l->limiter == limiter) return l.get();
  }
  auto line = std::make_unique<QosLine>();
  line->limiter = limiter;
  std::weak_ptr<Connection> weak = weak_from_this();
  EventLoop* loop = loop_;
  line->waiter = std::make_shared<QosLimiter::Waiter>([weak, loop] {
    loop->Post([weak] {
      if (auto c = weak.lock()) c->PumpQos();
    });
  });
  qos_lines_.push_back(std::move(line));
  return qos_lines_.back().get();
}

void Connection::PumpQos() {
  if (fd_ < 0 || phase_ != Phase::kFullFeature) return;
  auto self = shared_from_this();
  Clock::time_point now = Clock::now();
  Clock::time_point next = Clock::time_point::max();
  for (size_t i = 0; i < qos_lines_.size(); ++i) {
    QosLine* line = qos_lines_[i].get();
    if (line->parked.empty()) continue;
    next = std::min(next, line->limiter->Pump(now));
    size_t n = line->limiter->TakeGranted(line->waiter.get());
    for (; n > 0 && !line->parked.empty(); --n) {
      auto [itt, serial] = line->parked.front();
      line->parked.pop_front();
      --qos_parked_;
      auto it = tasks_.find(itt);
      // An aborted task's ticket was granted all the same: skipped here.
      if (it == tasks_.end() || it->second->serial != serial || !it->second->throttled) continue;
      Task* t = it->second.get();
      t->throttled = false;
      t->qos_passed = true;
      Execute(t);
      if (fd_ < 0 || phase_ != Phase::kFullFeature) return;
    }
    // Execute may have added lines (another LU): index, not iterator.
  }
  bool any = false;
  for (auto& l : qos_lines_) any = any || !l->parked.empty();
  if (any) ArmQosTimer(next);
}

void Connection::ArmQosTimer(Clock::time_point when) {
  if (when == Clock::time_point::max()) return;
  if (qos_timer_at_ <= when) return;  // an earlier timer will pump
  qos_timer_at_ = when;
  std::weak_ptr<Connection> weak = weak_from_this();
  loop_->RunAt(when, [weak, when] {
    auto c = weak.lock();
    if (!c) return;
    if (c->qos_timer_at_ == when) c->qos_timer_at_ = Clock::time_point::max();
    c->PumpQos();
  });
}

void Connection::LeaveQos() {
  for (auto& l : qos_lines_) l->limiter->Leave(l->waiter.get());
  qos_lines_.clear();
  qos_parked_ = 0;
}

}  // namespace vsl::gateway
