// TestHooks: the test-only fault switches of `vsl serve --test-faults`.
//
// With $VSL_TEST_CLOCK set as well, the backup scheduler reads a fake clock
// starting there, which POST /v1/test/clock sets or advances (then a tick
// runs at once), so a test moves time across backup slots instead of
// sleeping.
//
// With them, arrays added with driver "fault:file" are file arrays wrapped in
// a FaultInjectingArray, and POST /v1/test/faults arms a failure of one array
// operation or of the gateway's map. Without --test-faults none of this is
// reachable: the driver and the route are refused.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "array/fault_array.h"
#include "catalog/clock.h"
#include "manager/backup_schedule.h"
#include "manager/map_target.h"
#include "util/status.h"

namespace vsl::api {

class TestHooks {
 public:
  void AddArray(const std::string& name, std::shared_ptr<array::FaultInjectingArray> a);
  Result<std::shared_ptr<array::FaultInjectingArray>> FindArray(const std::string& name) const;

  // The scheduler's fake clock and the scheduler (both outlive the hooks'
  // use; null: no test clock).
  void SetClock(catalog::FakeClock* clock, manager::BackupScheduler* scheduler) {
    clock_ = clock;
    scheduler_ = scheduler;
  }
  catalog::FakeClock* clock() const { return clock_; }
  manager::BackupScheduler* scheduler() const { return scheduler_; }

  // The n-th next MapTarget::Map call fails once with `status` (n >= 1).
  void FailMapNth(uint64_t n, Status status);
  // Counts a Map call; the injected Status when this one must fail.
  Status EnterMap();

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<array::FaultInjectingArray>> arrays_;  // guarded by mu_
  uint64_t map_countdown_ = 0;  // guarded by mu_; 0: no rule
  Status map_status_;           // guarded by mu_
  catalog::FakeClock* clock_ = nullptr;          // set before serving
  manager::BackupScheduler* scheduler_ = nullptr;  // set before serving
};

// A MapTarget that asks `hooks` before each Map of `base`.
class FaultableMapTarget : public manager::MapTarget {
 public:
  // Both must outlive this object; hooks may be null (never fails).
  FaultableMapTarget(manager::MapTarget* base, TestHooks* hooks) : base_(base), hooks_(hooks) {}
  Status SetHost(const manager::MapHost& h) override { return base_->SetHost(h); }
  Status Map(const std::string& host, const manager::MapLun& lun) override {
    if (hooks_ != nullptr) VSL_RETURN_IF_ERROR(hooks_->EnterMap());
    return base_->Map(host, lun);
  }
  Status Unmap(const std::string& host, uint64_t lun) override { return base_->Unmap(host, lun); }
  Status RemoveHost(const std::string& host) override { return base_->RemoveHost(host); }
  std::string TargetName(const std::string& host) override { return base_->TargetName(host); }
  Status Grow(const std::string& volume_id, const std::vector<volume::Extent>& extents) override {
    return base_->Grow(volume_id, extents);
  }
  Status SetCache(const std::string& volume_id, bool reads) override {
    return base_->SetCache(volume_id, reads);
  }
  Status SetQos(const std::string& volume_id, const QosLimits& qos) override {
    return base_->SetQos(volume_id, qos);
  }
  Result<manager::BackupInstant> OpenBackupInstant(const std::string& volume_id, const std::string& side_dir,
                                                   const std::string& tag, const std::string& rbd_snap) override {
    return base_->OpenBackupInstant(volume_id, side_dir, tag, rbd_snap);
  }
  Status NotifyMediumChanged(const std::string& volume_id) override { return base_->NotifyMediumChanged(volume_id); }
  bool PreloadChangeMap(const std::string& volume_id, std::string image, std::string since) override {
    return base_->PreloadChangeMap(volume_id, std::move(image), std::move(since));
  }
  std::shared_ptr<volume::MetaVolume> MappedVolume(const std::string& volume_id) override {
    return base_->MappedVolume(volume_id);
  }
  Result<std::shared_ptr<void>> HoldWrites(const std::string& volume_id) override {
    return base_->HoldWrites(volume_id);
  }
  Result<manager::MigrateResult> Migrate(const std::string& volume_id, const std::vector<volume::Extent>& to,
                                         const manager::MigrateOptions& options) override {
    return base_->Migrate(volume_id, to, options);
  }

 private:
  manager::MapTarget* base_;
  TestHooks* hooks_;
};

}  // namespace vsl::api
