// LogicalUnit: unit attentions and reservations first, then the CDB check,
// then the command's handler.
#include <openssl/sha.h>

#include <cstdio>

#include "gateway/scsi/lu_core.h"

namespace vsl::scsi {

void LuCore::UpdateGate() {
  bool any = reserved_by.has_value() || pr_held || sanitize != SanitizeState::kIdle;
  for (auto& [id, n] : nexuses) any = any || !n.unit_attentions.empty();
  gate.store(any, std::memory_order_release);
}

void LuCore::QueueUa(uint64_t nexus_id, Asc asc) {
  auto it = nexuses.find(nexus_id);
  if (it == nexuses.end()) return;
  auto& q = it->second.unit_attentions;
  for (const Asc& a : q)
    if (a == asc) return;  // already pending: one report is enough
  q.push_back(asc);
  gate.store(true, std::memory_order_release);
}

void LuCore::QueueUaForPorts(const std::string& iport, const std::string& tport, Asc asc,
                             uint64_t except) {
  for (auto& [id, n] : nexuses) {
    if (id != except && n.initiator_port == iport && n.target_port == tport) QueueUa(id, asc);
  }
}

Registration* LuCore::FindRegistration(const Nexus& nexus) {
  for (auto& reg : registrations) {
    if (reg.initiator_port == nexus.initiator_port && reg.target_port == nexus.target_port)
      return &reg;
  }
  return nullptr;
}

bool LuCore::IsPrHolder(const Nexus& nexus) {
  if (!pr_held) return false;
  if (pr_type == 7 || pr_type == 8) return FindRegistration(nexus) != nullptr;
  return pr_holder_initiator == nexus.initiator_port && pr_holder_target == nexus.target_port;
}

struct LogicalUnit::Impl {
  std::shared_ptr<LuCore> core;
};

LogicalUnit::LogicalUnit(std::shared_ptr<volume::MetaVolume> volume, IoExecutor* io,
                         LuOptions options)
    : volume_(std::move(volume)), impl_(std::make_unique<Impl>()) {
  auto core = std::make_shared<LuCore>();
  core->volume = volume_;
  core->io = io;
  core->options = std::move(options);
  core->unmap_geometry = ComputeUnmapGeometry(*volume_);
  // Identity: SHA-256 of the volume id, so it is stable across restarts and
  // differs between volumes.
  unsigned char h[SHA256_DIGEST_LENGTH];
  const std::string& id = volume_->id();
  SHA256(reinterpret_cast<const unsigned char*>(id.data()), id.size(), h);
  // NAA 6 | 24-bit IEEE company id | 36-bit vendor specific | 64-bit extension.
  constexpr uint32_t kOui = 0x001405;
  core->naa[0] = uint8_t(0x60 | (kOui >> 20));
  core->naa[1] = uint8_t(kOui >> 12);
  core->naa[2] = uint8_t(kOui >> 4);
  core->naa[3] = uint8_t((kOui << 4) | (h[0] & 0x0f));
  for (int i = 4; i < 16; ++i) core->naa[i] = h[i - 3];
  char hex[3];
  for (int i = 0; i < 12; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", h[16 + i]);
    core->serial += hex;
  }
  impl_->core = std::move(core);
}

LogicalUnit::~LogicalUnit() { impl_->core->retired.store(true, std::memory_order_release); }

namespace {

// Runs after the gate: CDB check and dispatch.
void Dispatch(Req& r, const OpInfo& op) {
  if (auto bad = CheckCdb(op, r.cdb())) return r.Reply(Response::Check(*bad));
  if (op.flags & kWritesMedium) {
    if (r.read_only || r.core->volume->read_only())
      return r.Reply(Response::Check(MakeSense(SenseKey::kDataProtect, kWriteProtected)));
    if (r.core->software_wp.load(std::memory_order_acquire))
      return r.Reply(Response::Check(MakeSense(SenseKey::kDataProtect, kSoftwareWriteProtected)));
  }
  switch (op.op) {
    case Op::kTestUnitReady:
    case Op::kPreventAllow:
      return r.Reply(Response::Good());
    case Op::kRequestSense:
      return DoRequestSense(r);
    case Op::kRead6:
    case Op::kRead10:
    case Op::kRead12:
    case Op::kRead16:
      return DoRead(r);
    case Op::kWrite6:
    case Op::kWrite10:
    case Op::kWrite12:
    case Op::kWrite16:
    case Op::kWriteVerify10:
    case Op::kWriteVerify12:
    case Op::kWriteVerify16:
    case Op::kWriteAtomic16:
      return DoWrite(r);
    case Op::kReadDefectData10:
    case Op::kReadDefectData12:
      return DoReadDefectData(r);
    case Op::kInquiry:
      return DoInquiry(r);
    case Op::kModeSelect6:
    case Op::kModeSelect10:
      return DoModeSelect(r);
    case Op::kModeSense6:
    case Op::kModeSense10:
      return DoModeSense(r);
    case Op::kReserve6:
    case Op::kReserve10:
      return DoReserve(r);
    case Op::kRelease6:
    case Op::kRelease10:
      return DoRelease(r);
    case Op::kStartStopUnit:
      return DoStartStopUnit(r);
    case Op::kReadCapacity10:
      return DoReadCapacity10(r);
    case Op::kReadCapacity16:
      return DoReadCapacity16(r);
    case Op::kVerify10:
    case Op::kVerify12:
    case Op::kVerify16:
      return DoVerify(r);
    case Op::kPrefetch10:
    case Op::kPrefetch16:
      return DoPrefetch(r);
    case Op::kSyncCache10:
    case Op::kSyncCache16:
      return DoSyncCache(r);
    case Op::kWriteSame10:
    case Op::kWriteSame16:
      return DoWriteSame(r);
    case Op::kUnmap:
      return DoUnmap(r);
    case Op::kPrIn:
      return DoPrIn(r);
    case Op::kPrOut:
      return DoPrOut(r);
    case Op::kCompareAndWrite:
      return DoCompareAndWrite(r);
    case Op::kOrWrite16:
      return DoOrWrite(r);
    case Op::kGetLbaStatus:
      return DoGetLbaStatus(r);
    case Op::kReportOpcodes:
      return DoReportOpcodes(r);
    case Op::kReportTmf:
      return DoReportTmf(r);
    case Op::kExtendedCopy:
      return DoExtendedCopy(r);
    case Op::kReceiveCopyResults:
      return DoReceiveCopyResults(r);
    case Op::kSanitize:
      return DoSanitize(r);
    case Op::kReportLuns:
      break;  // answered by Target; an LU alone reports just itself as LUN 0
  }
  std::vector<uint8_t> d(16, 0);
  d[3] = 8;
  r.Reply(GoodTruncated(std::move(d), LoadBe32(&r.cmd.cdb[6])));
}

// Unit attentions and reservation conflicts; requires core.mu.
std::optional<Response> Gate(LuCore& core, const Nexus& nexus, const OpInfo* op) {
  auto it = core.nexuses.find(nexus.id);
  if (it != core.nexuses.end() && !it->second.unit_attentions.empty() &&
      !(op && (op->flags & kUaExempt))) {
    Asc asc = it->second.unit_attentions.front();
    it->second.unit_attentions.pop_front();
    core.UpdateGate();
    return Response::Check(MakeSense(SenseKey::kUnitAttention, asc));
  }
  if (!op) return std::nullopt;
  if (core.reserved_by && *core.reserved_by != nexus.id && !(op->flags & kSpc2Allowed))
    return Conflict();
  if (core.pr_held && PrConflict(core, nexus, *op)) return Conflict();
  // SBC-4 4.11: while a sanitize runs only the commands marked allowed run;
  // after one failed, the medium is off limits until a sanitize succeeds or
  // EXIT FAILURE MODE.
  if (core.sanitize == SanitizeState::kRunning && !(op->flags & kSanitizeAllowed))
    return Response::Check(*core.SanitizeSense());
  if (core.sanitize == SanitizeState::kFailed && op->op != Op::kSanitize &&
      (op->flags & (kWritesMedium | kReadsMedium)))
    return Response::Check(*core.SanitizeSense());
  return std::nullopt;
}

}  // namespace

std::shared_ptr<LuCore> LogicalUnit::core() const { return impl_->core; }

void LogicalUnit::Execute(const Nexus& nexus, bool read_only, Command cmd, Done done,
                          std::shared_ptr<const CopyScope> scope) {
  // Writes held by this thread land before any other command runs; a WRITE
  // decides in DoWrite whether it continues them.
  const uint8_t opcode = cmd.cdb.empty() ? 0 : cmd.cdb[0];
  if (opcode != 0x0a && opcode != 0x2a && opcode != 0xaa && opcode != 0x8a) FlushWriteBatch();
  const std::shared_ptr<LuCore>& core = impl_->core;
  const OpInfo* op = FindOp(cmd.cdb);
  if (core->gate.load(std::memory_order_acquire)) {
    std::optional<Response> stop;
    {
      std::lock_guard<std::mutex> l(core->mu);
      stop = Gate(*core, nexus, op);
    }
    if (stop) return done(std::move(*stop));
  }
  if (!op) {
    // A known opcode with a service action vsl lacks: the field is invalid.
    if (cmd.cdb.size() > 1 && HasServiceActions(cmd.cdb[0])) return done(CheckInvalidCdb(1, 4));
    return done(CheckIllegal(kInvalidOpcode));
  }
  Req r{core, nexus, read_only, cmd, done, scope.get()};
  Dispatch(r, *op);
}

void LogicalUnit::AttachNexus(const Nexus& nexus, bool power_on) {
  LuCore& core = *impl_->core;
  std::lock_guard<std::mutex> l(core.mu);
  auto [it, added] = core.nexuses.try_emplace(nexus.id);
  if (added) {
    it->second.initiator_port = nexus.initiator_port;
    it->second.target_port = nexus.target_port;
  }
  if (power_on) core.QueueUa(nexus.id, kPowerOnReset);
}

void LogicalUnit::AddUnitAttention(uint64_t nexus_id, Asc asc) {
  std::lock_guard<std::mutex> l(impl_->core->mu);
  impl_->core->QueueUa(nexus_id, asc);
}

void LogicalUnit::ClearUnitAttention(uint64_t nexus_id, Asc asc) {
  LuCore& core = *impl_->core;
  std::lock_guard<std::mutex> l(core.mu);
  auto it = core.nexuses.find(nexus_id);
  if (it == core.nexuses.end()) return;
  std::erase(it->second.unit_attentions, asc);
  core.UpdateGate();
}

void LogicalUnit::NotifyMediumChanged() {
  LuCore& core = *impl_->core;
  std::lock_guard<std::mutex> l(core.mu);
  for (auto& [id, n] : core.nexuses) core.QueueUa(id, kMediumMayHaveChanged);
}

void LogicalUnit::NotifyCapacityChanged() {
  LuCore& core = *impl_->core;
  UnmapGeometry g = ComputeUnmapGeometry(*core.volume);
  std::lock_guard<std::mutex> l(core.mu);
  core.unmap_geometry = g;
  for (auto& [id, n] : core.nexuses) core.QueueUa(id, kCapacityDataChanged);
}

namespace {

Response TaskAborted() {
  Response r;
  r.status = ScsiStatus::kTaskAborted;
  return r;
}

// Takes the sanitize's waiting command if `match` says so; requires mu.
Done TakeSanitizeWaiter(LuCore& core, const std::function<bool(uint64_t, uint32_t)>& match) {
  if (!core.sanitize_waiter || !match(core.sanitize_waiter_nexus, core.sanitize_waiter_tag))
    return nullptr;
  Done d = std::move(core.sanitize_waiter);
  core.sanitize_waiter = nullptr;
  return d;
}

}  // namespace

// A LU reset aborts every task (with TAS=1 the other nexuses see TASK
// ABORTED); a sanitize goes on (SBC-4 4.11.2).
void LogicalUnit::Reset(const Nexus& nexus) {
  LuCore& core = *impl_->core;
  Done waiter;
  {
    std::lock_guard<std::mutex> l(core.mu);
    core.reserved_by.reset();
    for (auto& [id, n] : core.nexuses) core.QueueUa(id, kBusDeviceReset);
    core.UpdateGate();
    waiter = TakeSanitizeWaiter(core, [](uint64_t, uint32_t) { return true; });
  }
  if (waiter) waiter(TaskAborted());
}

void LogicalUnit::AbortTask(const Nexus& nexus, uint32_t tag) {
  LuCore& core = *impl_->core;
  Done waiter;
  {
    std::lock_guard<std::mutex> l(core.mu);
    waiter = TakeSanitizeWaiter(
        core, [&](uint64_t n, uint32_t t) { return n == nexus.id && t == tag; });
  }
  if (waiter) waiter(TaskAborted());
}

void LogicalUnit::ForgetNexus(uint64_t nexus_id) {
  LuCore& core = *impl_->core;
  Done waiter;
  {
    std::lock_guard<std::mutex> l(core.mu);
    waiter = TakeSanitizeWaiter(core, [&](uint64_t n, uint32_t) { return n == nexus_id; });
  }
  if (waiter) waiter(TaskAborted());
  std::lock_guard<std::mutex> l(core.mu);
  core.nexuses.erase(nexus_id);
  std::erase_if(core.held_copies, [&](const HeldCopyResult& h) { return h.nexus_id == nexus_id; });
  // A RESERVE(6) reservation does not survive the loss of its I_T nexus.
  if (core.reserved_by == nexus_id) core.reserved_by.reset();
  core.UpdateGate();
}

}  // namespace vsl::scsi
