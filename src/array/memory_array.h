// MemoryArray: the `memory` driver. Volumes live in this process, sparse
// (only written chunks take memory), with the file driver's semantics, so the
// manager's tests run without a disk.
#pragma once

#include <map>
#include <mutex>
#include <set>

#include "array/array.h"

namespace vsl::array {

class MemoryArray : public StorageArray {
 public:
  // Checks the spec as OpenArray does; carves when volume_size > 0.
  static Result<std::unique_ptr<MemoryArray>> Create(const ArraySpec& spec);

  ArrayInfo info() const override { return info_; }
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

  // For tests: a volume appears or vanishes behind vsl's back, as when an
  // administrator adds or removes a file array's file by hand.
  Status AddVolumeBehindBack(const std::string& id, uint64_t size);
  Status RemoveVolumeBehindBack(const std::string& id);
  // Bytes of memory holding data, summed over all volumes (sparseness check).
  uint64_t AllocatedBytes() const;

  static constexpr uint64_t kChunk = 4096;

 private:
  struct Volume {
    uint64_t size = 0;
    std::map<uint64_t, std::vector<uint8_t>> chunks;  // chunk index -> kChunk bytes
    std::set<std::string> grants;
  };

  explicit MemoryArray(ArrayInfo info) : info_(std::move(info)) {}
  Result<Volume*> Find(const std::string& id);  // requires mu_
  ArrayVolume Describe(const std::string& id, const Volume& v) const;
  uint64_t UsedLocked() const;
  std::string NewIdLocked();
  static void WriteChunks(Volume& v, uint64_t offset, std::span<const uint8_t> data);
  static void ReadChunks(const Volume& v, uint64_t offset, std::span<uint8_t> out);
  static void ZeroRange(Volume& v, uint64_t offset, uint64_t length);

  const ArrayInfo info_;
  mutable std::mutex mu_;
  std::map<std::string, Volume> volumes_;  // guarded by mu_
  uint64_t next_id_ = 1;                   // guarded by mu_
};

}  // namespace vsl::array
