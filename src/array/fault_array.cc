#include "array/fault_array.h"

#include <cassert>

namespace vsl::array {

namespace {
size_t Index(ArrayOp op) { return static_cast<size_t>(op); }
}  // namespace

FaultInjectingArray::FaultInjectingArray(std::unique_ptr<StorageArray> base)
    : base_(std::move(base)) {
  assert(base_ != nullptr);
}

void FaultInjectingArray::FailNth(ArrayOp op, uint64_t n, Status status) {
  assert(n >= 1 && !status.ok());
  std::lock_guard lock(mu_);
  rules_[Index(op)] = Rule{Rule::kNth, n, std::move(status)};
  healed_.notify_all();  // a stall of `op` is replaced
}

void FaultInjectingArray::FailAlways(ArrayOp op, Status status) {
  assert(!status.ok());
  std::lock_guard lock(mu_);
  rules_[Index(op)] = Rule{Rule::kAlways, 0, std::move(status)};
  healed_.notify_all();
}

void FaultInjectingArray::StallNth(ArrayOp op, uint64_t n) {
  assert(n >= 1);
  std::lock_guard lock(mu_);
  rules_[Index(op)] = Rule{Rule::kStall, n, Status::Ok()};
}

void FaultInjectingArray::Heal(ArrayOp op) {
  std::lock_guard lock(mu_);
  rules_[Index(op)] = Rule{};
  healed_.notify_all();
}

void FaultInjectingArray::Reset() {
  std::lock_guard lock(mu_);
  rules_.fill(Rule{});
  calls_.fill(0);
  failures_.fill(0);
  healed_.notify_all();
}

uint64_t FaultInjectingArray::Calls(ArrayOp op) const {
  std::lock_guard lock(mu_);
  return calls_[Index(op)];
}

uint64_t FaultInjectingArray::Failures(ArrayOp op) const {
  std::lock_guard lock(mu_);
  return failures_[Index(op)];
}

Status FaultInjectingArray::Enter(ArrayOp op) {
  std::unique_lock lock(mu_);
  ++calls_[Index(op)];
  Rule& rule = rules_[Index(op)];
  switch (rule.mode) {
    case Rule::kNone:
      return Status::Ok();
    case Rule::kAlways:
      ++failures_[Index(op)];
      return rule.status;
    case Rule::kNth:
      if (--rule.countdown > 0) return Status::Ok();
      {
        Status s = std::move(rule.status);
        rule = Rule{};
        ++failures_[Index(op)];
        return s;
      }
    case Rule::kStall:
      if (--rule.countdown > 0) return Status::Ok();
      healed_.wait(lock, [&] { return rules_[Index(op)].mode != Rule::kStall; });
      return Status::Ok();
  }
  return Status::Ok();
}

Result<std::vector<ArrayVolume>> FaultInjectingArray::Discover() {
  VSL_RETURN_IF_ERROR(Enter(ArrayOp::kDiscover));
  return base_->Discover();
}

Result<ArrayVolume> FaultInjectingArray::GetVolume(const std::string& id) {
  VSL_RETURN_IF_ERROR(Enter(ArrayOp::kStat));
  return base_->GetVolume(id);
}

Result<ArrayVolume> FaultInjectingArray::CreateVolume(uint64_t size) {
  VSL_RETURN_IF_ERROR(Enter(ArrayOp::kCreate));
  return base_->CreateVolume(size);
}

Status FaultInjectingArray::DeleteVolume(const std::string& id) {
  VSL_RETURN_IF_ERROR(Enter(ArrayOp::kDelete));
  return base_->DeleteVolume(id);
}

Status FaultInjectingArray::Read(const std::string& id, uint64_t offset, std::span<uint8_t> out) {
  VSL_RETURN_IF_ERROR(Enter(ArrayOp::kRead));
  return base_->Read(id, offset, out);
}

Status FaultInjectingArray::Write(const std::string& id, uint64_t offset,
                                  std::span<const uint8_t> data) {
  VSL_RETURN_IF_ERROR(Enter(ArrayOp::kWrite));
  return base_->Write(id, offset, data);
}

Status FaultInjectingArray::Deallocate(const std::string& id, uint64_t offset, uint64_t length) {
  VSL_RETURN_IF_ERROR(Enter(ArrayOp::kDeallocate));
  return base_->Deallocate(id, offset, length);
}

Result<std::vector<ByteRange>> FaultInjectingArray::MappedRanges(const std::string& id) {
  VSL_RETURN_IF_ERROR(Enter(ArrayOp::kStat));
  return base_->MappedRanges(id);
}

Status FaultInjectingArray::Copy(StorageArray& src, const std::string& src_id,
                                 const std::string& dst_id) {
  VSL_RETURN_IF_ERROR(Enter(ArrayOp::kCopy));
  // A copy from this wrapper onto itself is a copy inside the wrapped array.
  StorageArray& from = (&src == this) ? *base_ : src;
  return base_->Copy(from, src_id, dst_id);
}

Status FaultInjectingArray::CopyFromFile(const std::string& src_path, const std::string& dst_id) {
  VSL_RETURN_IF_ERROR(Enter(ArrayOp::kCopy));
  return base_->CopyFromFile(src_path, dst_id);
}

Status FaultInjectingArray::Snap(const std::string& src_id, const std::string& dst_id) {
  VSL_RETURN_IF_ERROR(Enter(ArrayOp::kSnap));
  return base_->Snap(src_id, dst_id);
}

Status FaultInjectingArray::Scrub(const std::string& id) {
  VSL_RETURN_IF_ERROR(Enter(ArrayOp::kScrub));
  return base_->Scrub(id);
}

Status FaultInjectingArray::Grant(const std::string& id, const std::string& initiator) {
  VSL_RETURN_IF_ERROR(Enter(ArrayOp::kGrant));
  return base_->Grant(id, initiator);
}

Status FaultInjectingArray::Revoke(const std::string& id, const std::string& initiator) {
  VSL_RETURN_IF_ERROR(Enter(ArrayOp::kRevoke));
  return base_->Revoke(id, initiator);
}

Result<std::vector<std::string>> FaultInjectingArray::Grants(const std::string& id) {
  VSL_RETURN_IF_ERROR(Enter(ArrayOp::kStat));
  return base_->Grants(id);
}

Result<std::vector<volume::Extent>> FaultInjectingArray::Locate(const std::string& id) {
  VSL_RETURN_IF_ERROR(Enter(ArrayOp::kLocate));
  return base_->Locate(id);
}

}  // namespace vsl::array
