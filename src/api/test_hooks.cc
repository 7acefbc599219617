#include "api/test_hooks.h"

namespace vsl::api {

void TestHooks::AddArray(const std::string& name, std::shared_ptr<array::FaultInjectingArray> a) {
  std::lock_guard<std::mutex> l(mu_);
  arrays_[name] = std::move(a);
}

Result<std::shared_ptr<array::FaultInjectingArray>> TestHooks::FindArray(const std::string& name) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = arrays_.find(name);
  if (it == arrays_.end()) return NotFound("array '" + name + "' is not a fault-injecting array");
  return it->second;
}

void TestHooks::FailMapNth(uint64_t n, Status status) {
  std::lock_guard<std::mutex> l(mu_);
  map_countdown_ = n;
  map_status_ = std::move(status);
}

Status TestHooks::EnterMap() {
  std::lock_guard<std::mutex> l(mu_);
  if (map_countdown_ == 0) return Status::Ok();
  if (--map_countdown_ == 0) return map_status_;
  return Status::Ok();
}

}  // namespace vsl::api
