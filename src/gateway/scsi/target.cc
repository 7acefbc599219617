// Target: a host's LUN map. REPORT LUNS and commands to unmapped LUNs are
// answered here; everything else goes to the mapped LogicalUnit.
#include <atomic>
#include <set>

#include "gateway/scsi/cdb.h"
#include "gateway/scsi/lu_core.h"
#include "gateway/scsi/sense.h"
#include "util/bytes.h"

namespace vsl::scsi {
namespace {

std::atomic<uint64_t> next_nexus_id{1};

struct Mapping {
  std::shared_ptr<LogicalUnit> lu;
  bool read_only = false;
};

}  // namespace

struct Target::Impl {
  mutable std::mutex mu;
  std::map<uint64_t, Mapping> luns;     // guarded by mu
  std::map<uint64_t, Nexus> nexuses;    // guarded by mu

  // Every nexus hears REPORTED LUNS DATA HAS CHANGED on every mapped LU. Requires mu.
  void LunsChanged() {
    for (auto& [lun, m] : luns)
      for (auto& [id, n] : nexuses) m.lu->AddUnitAttention(id, kReportedLunsDataChanged);
  }
  bool StillMapped(const LogicalUnit* lu) const {
    for (auto& [lun, m] : luns)
      if (m.lu.get() == lu) return true;
    return false;
  }
};

Target::Target(std::string name) : name_(std::move(name)), impl_(std::make_unique<Impl>()) {}
Target::~Target() = default;

void Target::MapLun(uint64_t lun, std::shared_ptr<LogicalUnit> lu, bool read_only) {
  std::lock_guard<std::mutex> l(impl_->mu);
  std::shared_ptr<LogicalUnit> old;
  auto it = impl_->luns.find(lun);
  if (it != impl_->luns.end()) old = it->second.lu;
  for (auto& [id, n] : impl_->nexuses) lu->AttachNexus(n, false);
  impl_->luns[lun] = Mapping{std::move(lu), read_only};
  if (old && !impl_->StillMapped(old.get())) {
    for (auto& [id, n] : impl_->nexuses) old->ForgetNexus(id);
  }
  impl_->LunsChanged();
}

Status Target::UnmapLun(uint64_t lun) {
  std::lock_guard<std::mutex> l(impl_->mu);
  auto it = impl_->luns.find(lun);
  if (it == impl_->luns.end())
    return NotFound("LUN " + std::to_string(lun) + " is not mapped in target " + name_);
  std::shared_ptr<LogicalUnit> old = std::move(it->second.lu);
  impl_->luns.erase(it);
  if (!impl_->StillMapped(old.get())) {
    for (auto& [id, n] : impl_->nexuses) old->ForgetNexus(id);
  }
  impl_->LunsChanged();
  return Status::Ok();
}

std::vector<uint64_t> Target::Luns() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  std::vector<uint64_t> out;
  for (auto& [lun, m] : impl_->luns) out.push_back(lun);
  return out;
}

std::shared_ptr<LogicalUnit> Target::Lu(uint64_t lun) const {
  std::lock_guard<std::mutex> l(impl_->mu);
  auto it = impl_->luns.find(lun);
  return it == impl_->luns.end() ? nullptr : it->second.lu;
}

Nexus Target::AddNexus(std::string initiator_port, std::string target_port) {
  Nexus n{next_nexus_id.fetch_add(1), std::move(initiator_port), std::move(target_port)};
  std::lock_guard<std::mutex> l(impl_->mu);
  impl_->nexuses[n.id] = n;
  for (auto& [lun, m] : impl_->luns) m.lu->AttachNexus(n, true);
  return n;
}

void Target::RemoveNexus(uint64_t nexus_id) {
  std::lock_guard<std::mutex> l(impl_->mu);
  impl_->nexuses.erase(nexus_id);
  for (auto& [lun, m] : impl_->luns) m.lu->ForgetNexus(nexus_id);
}

namespace {

Response ReportLuns(const std::vector<uint64_t>& luns, std::span<const uint8_t> cdb) {
  const OpInfo* op = FindOp(cdb);
  if (auto bad = CheckCdb(*op, cdb)) return Response::Check(*bad);
  const uint8_t select = cdb[2];
  const uint32_t alloc = LoadBe32(&cdb[6]);
  if (select > 2) return CheckInvalidCdb(2);
  if (alloc < 16) return CheckInvalidCdb(6);
  std::vector<uint8_t> d(8, 0);
  if (select != 1) {  // 1: well-known LUs only, and vsl has none
    for (uint64_t lun : luns) {
      d.resize(d.size() + 8);
      StoreBe64(&d[d.size() - 8], EncodeLun(lun));
    }
  }
  StoreBe32(&d[0], uint32_t(d.size() - 8));
  return GoodTruncated(std::move(d), alloc);
}

// A LUN with nothing behind it (SPC-4 / SAM-5: peripheral qualifier 3).
Response UnmappedLun(std::span<const uint8_t> cdb) {
  const Sense not_supported = IllegalRequest(kLuNotSupported);
  if (cdb[0] == 0x12 && cdb.size() >= 6 && !(cdb[1] & 0x03) && cdb[2] == 0) {
    std::vector<uint8_t> d(36, 0);
    d[0] = 0x7f;  // peripheral qualifier 3, device type unknown
    d[2] = 0x06;
    d[3] = 0x12;
    d[4] = 31;
    return GoodTruncated(std::move(d), LoadBe16(&cdb[3]));
  }
  if (cdb[0] == 0x03 && cdb.size() >= 6) return GoodTruncated(not_supported.Encode(), cdb[4]);
  return Response::Check(not_supported);
}

}  // namespace

void Target::Execute(const Nexus& nexus, Command cmd, Done done) {
  if (cmd.cdb.empty()) return done(CheckIllegal(kInvalidOpcode));
  if (cmd.cdb[0] == 0xa0) {
    std::vector<uint64_t> luns;
    std::vector<std::shared_ptr<LogicalUnit>> lus;
    {
      std::lock_guard<std::mutex> l(impl_->mu);
      for (auto& [lun, m] : impl_->luns) {
        luns.push_back(lun);
        lus.push_back(m.lu);
      }
    }
    Response r = ReportLuns(luns, cmd.cdb);
    // The initiator has seen the new LUN inventory.
    if (r.status == ScsiStatus::kGood)
      for (auto& lu : lus) lu->ClearUnitAttention(nexus.id, kReportedLunsDataChanged);
    return done(std::move(r));
  }
  Mapping m;
  std::shared_ptr<CopyScope> scope;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    auto it = impl_->luns.find(cmd.lun);
    if (it != impl_->luns.end()) m = it->second;
    // EXTENDED COPY names its source and destination by designator: only
    // the LUs mapped to this host are candidates (never another host's).
    if (m.lu && cmd.cdb[0] == 0x83) {
      scope = std::make_shared<CopyScope>();
      for (auto& [lun, mapping] : impl_->luns)
        scope->lus.push_back({mapping.lu->core(), mapping.read_only});
    }
  }
  if (!m.lu) return done(UnmappedLun(cmd.cdb));
  m.lu->Execute(nexus, m.read_only, std::move(cmd), std::move(done), std::move(scope));
}

void Target::AbortTask(const Nexus& nexus, uint64_t lun, uint32_t tag) {
  if (auto lu = Lu(lun)) lu->AbortTask(nexus, tag);
}

void Target::LunReset(const Nexus& nexus, uint64_t lun) {
  if (auto lu = Lu(lun)) lu->Reset(nexus);
}

void Target::TargetReset(const Nexus& nexus) {
  std::vector<std::shared_ptr<LogicalUnit>> lus;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    for (auto& [lun, m] : impl_->luns) lus.push_back(m.lu);
  }
  for (auto& lu : lus) lu->Reset(nexus);
}

}  // namespace vsl::scsi
