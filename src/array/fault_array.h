// FaultInjectingArray: wraps a StorageArray and makes chosen operations fail,
// so tests can drive every failure path of the storage manager (a copy that
// fails once, a bind that always fails). Counts the calls of each operation.
//
// A failing call returns the chosen Status without reaching the wrapped
// array: nothing changes there. Thread-safe.
#pragma once

#include <array>
#include <condition_variable>
#include <mutex>

#include "array/array.h"

namespace vsl::array {

class FaultInjectingArray : public StorageArray {
 public:
  explicit FaultInjectingArray(std::unique_ptr<StorageArray> base);

  // The n-th call of `op` from now (n >= 1; 1 = the next one) fails once
  // with `status`. Replaces any earlier rule for `op`.
  void FailNth(ArrayOp op, uint64_t n, Status status);
  // Every call of `op` fails with `status` until Heal or Reset.
  void FailAlways(ArrayOp op, Status status);
  // The n-th call of `op` from now (n >= 1) blocks until Heal or Reset,
  // then goes on: a worker caught in the middle of an operation, for tests
  // that kill the process there.
  void StallNth(ArrayOp op, uint64_t n);
  // Drops the rule for `op`.
  void Heal(ArrayOp op);
  // Drops every rule and zeroes every counter.
  void Reset();
  // Calls of `op` since construction or Reset, failed ones included.
  uint64_t Calls(ArrayOp op) const;
  // Calls of `op` that the wrapper failed.
  uint64_t Failures(ArrayOp op) const;

  StorageArray& base() { return *base_; }

  ArrayInfo info() const override { return base_->info(); }
  Result<std::vector<ArrayVolume>> Discover() override;
  Result<ArrayVolume> GetVolume(const std::string& id) override;
  Result<ArrayVolume> CreateVolume(uint64_t size) override;
  Status DeleteVolume(const std::string& id) override;
  Status Read(const std::string& id, uint64_t offset, std::span<uint8_t> out) override;
  Status Write(const std::string& id, uint64_t offset, std::span<const uint8_t> data) override;
  Status Deallocate(const std::string& id, uint64_t offset, uint64_t length) override;
  Result<std::vector<ByteRange>> MappedRanges(const std::string& id) override;
  Status Copy(StorageArray& src, const std::string& src_id, const std::string& dst_id) override;
  Status CopyFromFile(const std::string& src_path, const std::string& dst_id) override;
  Status Snap(const std::string& src_id, const std::string& dst_id) override;
  Status Scrub(const std::string& id) override;
  Status Grant(const std::string& id, const std::string& initiator) override;
  Status Revoke(const std::string& id, const std::string& initiator) override;
  Result<std::vector<std::string>> Grants(const std::string& id) override;
  Result<std::vector<volume::Extent>> Locate(const std::string& id) override;

 private:
  struct Rule {
    enum Mode { kNone, kNth, kAlways, kStall } mode = kNone;
    uint64_t countdown = 0;  // kNth, kStall: calls left until the chosen one
    Status status;
  };
  // Counts the call; the injected Status when it must fail, else OK.
  Status Enter(ArrayOp op);

  const std::unique_ptr<StorageArray> base_;
  mutable std::mutex mu_;
  std::condition_variable healed_;                // a rule was dropped
  std::array<Rule, kArrayOpCount> rules_;         // guarded by mu_
  std::array<uint64_t, kArrayOpCount> calls_{};     // guarded by mu_
  std::array<uint64_t, kArrayOpCount> failures_{};  // guarded by mu_
};

}  // namespace vsl::array
