// Test helpers for the storage manager: a recording MapTarget and a fixture
// with two fault-injecting memory arrays on a catalog of either back end.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "array/fault_array.h"
#include "array/memory_array.h"
#include "catalog/testing/catalog_fixture.h"
#include "manager/operations.h"
#include "volume/volume.h"

namespace vsl::manager::testing {

// Remembers every call; fails the next Map when told to, or holds it.
class RecordingTarget : public MapTarget {
 public:
  struct Call {
    std::string what;  // "set-host", "map", "unmap", "grow"
    std::string host;
    uint64_t lun = 0;
    std::string volume_id;
    std::vector<volume::Extent> extents;  // map, grow
    std::vector<uint64_t> luns;           // set-host: the LUNs it already has
    bool read_only = false;               // map: a write-protected LU
    std::vector<uint64_t> read_only_luns;  // set-host: those of `luns` that are
  };
  Status SetHost(const MapHost& h) override {
    std::lock_guard<std::mutex> l(mu_);
    Call c{"set-host", h.name, 0, "", {}, {}, false, {}};
    for (const MapLun& l : h.luns) {
      c.luns.push_back(l.lun);
      if (l.read_only) c.read_only_luns.push_back(l.lun);
    }
    calls_.push_back(std::move(c));
    return Status::Ok();
  }
  Status Map(const std::string& host, const MapLun& lun) override {
    WaitAtGate();
    std::lock_guard<std::mutex> l(mu_);
    if (fail_next_map_) {
      fail_next_map_ = false;
      return Unavailable("gateway refused LUN " + std::to_string(lun.lun));
    }
    calls_.push_back({"map", host, lun.lun, lun.volume_id, lun.extents, {}, lun.read_only, {}});
    mapped_[host + "/" + std::to_string(lun.lun)] = lun.volume_id;
    if (!lun.extents.empty()) served_[lun.volume_id] = lun.extents;
    return Status::Ok();
  }
  Status Unmap(const std::string& host, uint64_t lun) override {
    std::lock_guard<std::mutex> l(mu_);
    calls_.push_back({"unmap", host, lun, "", {}, {}, false, {}});
    mapped_.erase(host + "/" + std::to_string(lun));
    return Status::Ok();
  }
  Status RemoveHost(const std::string& host) override {
    std::lock_guard<std::mutex> l(mu_);
    calls_.push_back({"remove-host", host, 0, "", {}, {}, false, {}});
    std::erase_if(mapped_, [&](const auto& kv) { return kv.first.rfind(host + "/", 0) == 0; });
    return Status::Ok();
  }
  std::string TargetName(const std::string& host) override { return "iqn.2026-11.test.target:" + host; }
  Status Grow(const std::string& volume_id, const std::vector<volume::Extent>& extents) override {
    std::lock_guard<std::mutex> l(mu_);
    calls_.push_back({"grow", "", 0, volume_id, extents, {}, false, {}});
    return Status::Ok();
  }
  Status SetCache(const std::string& volume_id, bool) override {
    std::lock_guard<std::mutex> l(mu_);
    calls_.push_back({"cache", "", 0, volume_id, {}, {}, false, {}});
    return Status::Ok();
  }
  Status SetQos(const std::string& volume_id, const QosLimits&) override {
    std::lock_guard<std::mutex> l(mu_);
    calls_.push_back({"qos", "", 0, volume_id, {}, {}, false, {}});
    return Status::Ok();
  }
  // A live migration: the commit runs, then the switch (the extents the
  // unit is served from change) unless FailSwitches asked it to fail. No
  // data is copied: that is the real gateway's part.
  Result<MigrateResult> Migrate(const std::string& volume_id, const std::vector<volume::Extent>& to,
                                const MigrateOptions& options) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!served_.count(volume_id)) return NotFound("volume " + volume_id + " is not mapped here");
    }
    if (options.commit) VSL_RETURN_IF_ERROR(options.commit());
    std::lock_guard<std::mutex> l(mu_);
    calls_.push_back({"migrate", "", 0, volume_id, to, {}, false, {}});
    if (fail_switches_ > 0) {
      --fail_switches_;
      return Internal("fake gateway: the switch of volume " + volume_id + " failed");
    }
    served_[volume_id] = to;
    return MigrateResult{};
  }
  std::shared_ptr<volume::MetaVolume> MappedVolume(const std::string& volume_id) override {
    std::vector<volume::Extent> extents;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = served_.find(volume_id);
      if (it == served_.end()) return nullptr;
      extents = it->second;
    }
    volume::VolumeOptions o;
    o.id = volume_id;
    auto v = volume::MetaVolume::Open(extents, o);
    return v.ok() ? std::move(v).value() : nullptr;
  }
  void FailSwitches(int n) {
    std::lock_guard<std::mutex> l(mu_);
    fail_switches_ = n;
  }
  // The extents mapped unit `volume_id` is served from.
  std::vector<volume::Extent> served(const std::string& volume_id) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = served_.find(volume_id);
    return it == served_.end() ? std::vector<volume::Extent>() : it->second;
  }
  void FailNextMap() {
    std::lock_guard<std::mutex> l(mu_);
    fail_next_map_ = true;
  }
  // The next Map waits until OpenGate() (later ones pass): a test sees what
  // else runs while an operation is stuck in the gateway. WaitUntilHeld
  // returns once one waits (false after `timeout`).
  void HoldNextMap() {
    std::lock_guard<std::mutex> l(gate_mu_);
    gate_armed_ = true;
    gate_open_ = false;
  }
  bool WaitUntilHeld(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> l(gate_mu_);
    return gate_cv_.wait_for(l, timeout, [&] { return gate_held_; });
  }
  void OpenGate() {
    std::lock_guard<std::mutex> l(gate_mu_);
    gate_open_ = true;
    gate_cv_.notify_all();
  }
  std::vector<Call> calls() {
    std::lock_guard<std::mutex> l(mu_);
    return calls_;
  }
  int Count(const std::string& what) {
    std::lock_guard<std::mutex> l(mu_);
    int n = 0;
    for (auto& c : calls_) n += c.what == what;
    return n;
  }
  // "host/lun" -> volume id, as the gateway presents it now.
  std::map<std::string, std::string> mapped() {
    std::lock_guard<std::mutex> l(mu_);
    return mapped_;
  }

 private:
  void WaitAtGate() {
    std::unique_lock<std::mutex> l(gate_mu_);
    if (!gate_armed_) return;
    gate_armed_ = false;
    gate_held_ = true;
    gate_cv_.notify_all();
    gate_cv_.wait(l, [&] { return gate_open_; });
  }

  std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  bool gate_armed_ = false, gate_held_ = false, gate_open_ = false;
  std::mutex mu_;
  std::vector<Call> calls_;
  std::map<std::string, std::string> mapped_;
  std::map<std::string, std::vector<volume::Extent>> served_;  // volume id -> extents
  int fail_switches_ = 0;
  bool fail_next_map_ = false;
};

inline constexpr uint64_t kMiB = 1 << 20;

// Arrays "east" and "west": memory, carved into 1 MiB volumes, raid=1; each
// wrapped in a FaultInjectingArray.
class ManagerFixture : public catalog::testing::CatalogFixture {
 protected:
  void SetUp() override {
    CatalogFixture::SetUp();
    if (HasFatalFailure()) return;
    east_ = MakeArray("east", 3);
    west_ = MakeArray("west", 3);
  }

  std::shared_ptr<array::FaultInjectingArray> MakeArray(const std::string& name, int volumes,
                                                        array::Qualities q = {{"raid", "1"}},
                                                        uint64_t volume_size = kMiB) {
    array::ArraySpec spec;
    spec.name = name;
    spec.driver = "memory";
    spec.capacity = volumes * (volume_size ? volume_size : kMiB);
    spec.volume_size = volume_size;
    spec.qualities = q;
    spec.ports = {"port0"};
    auto a = array::MemoryArray::Create(spec);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return std::make_shared<array::FaultInjectingArray>(std::move(a).value());
  }

  array::MemoryArray& Base(array::FaultInjectingArray& f) { return static_cast<array::MemoryArray&>(f.base()); }

  Status AddHost(const std::string& name) {
    return catalog().Write([&](catalog::Tx& tx) {
      catalog::Host h;
      h.name = name;
      h.hw_type = "qemu";
      h.initiators = {"iqn.2026-11.test:" + name};
      h.chap_user = name;
      h.chap_secret = "secret-of-" + name + "-0123456789";
      return catalog().AddHost(tx, h).status();
    });
  }

  catalog::Volume Get(int64_t id) {
    catalog::Volume v;
    Status s = catalog().Read([&](catalog::Tx& tx) -> Status {
      VSL_ASSIGN_OR_RETURN(v, catalog().GetVolume(tx, id));
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return v;
  }

  std::vector<catalog::Volume> Volumes(std::optional<DiskState> state = std::nullopt) {
    std::vector<catalog::Volume> out;
    EXPECT_TRUE(catalog().Read([&](catalog::Tx& tx) -> Status {
                         catalog::VolumeFilter f;
                         f.state = state;
                         VSL_ASSIGN_OR_RETURN(out, catalog().ListVolumes(tx, f));
                         return Status::Ok();
                       }).ok());
    return out;
  }

  std::vector<catalog::Binding> BindingsOf(int64_t unit) {
    std::vector<catalog::Binding> out;
    EXPECT_TRUE(catalog().Read([&](catalog::Tx& tx) -> Status {
                         VSL_ASSIGN_OR_RETURN(out, catalog().BindingsOfVolume(tx, unit));
                         return Status::Ok();
                       }).ok());
    return out;
  }

  std::shared_ptr<array::FaultInjectingArray> east_, west_;
  RecordingTarget target_;
};

}  // namespace vsl::manager::testing
