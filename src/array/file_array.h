// FileArray: the `file` driver. An array is a directory:
//
//   DIR/array.json     the manifest: name, capacity, volume size, qualities,
//                      ports, the next volume number, the grants
//   DIR/volumes/ID     one sparse file per volume; its size is the volume's
//
// Files named vol-NNNN an administrator adds to or removes from DIR/volumes/
// by hand are volumes that appeared or vanished; any other name is ignored
// and left alone. vsl builds a new volume as .vol-NNNN.new and renames it into
// place; a failed build removes it, and Open() removes those a crash left.
#pragma once

#include <mutex>
#include <set>
#include <shared_mutex>

#include "array/array.h"

namespace vsl::array {

// `path` made absolute, with `..` and symlinks resolved (the part that does
// not exist yet is normalized lexically), without a trailing '/'.
Result<std::string> ResolveArrayPath(const std::string& path);
// InvalidArgument when the resolved directories `a` and `b` are the same or
// one lies inside the other: "<what_a> <a> is inside <what_b> <b>".
Status CheckDisjointPaths(const std::string& what_a, const std::string& a, const std::string& what_b,
                          const std::string& b);

class FileArray : public StorageArray {
 public:
  // Opens the array in spec.path (resolved: ResolveArrayPath), creating it
  // (and carving its volumes) when it has no manifest yet. A new array's
  // capacity may not exceed the size of the file system it lives on.
  static Result<std::unique_ptr<FileArray>> Open(const ArraySpec& spec);

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

  // The file that holds (or would hold) volume `id`.
  std::string VolumePath(const std::string& id) const;
  std::string ManifestPath() const;

 private:
  explicit FileArray(ArrayInfo info) : info_(std::move(info)) {}
  std::string VolumesDir() const;
  Result<ArrayVolume> Stat(const std::string& id) const;
  Result<std::vector<ArrayVolume>> Scan() const;
  Status CarveLocked(uint64_t count);             // requires mu_
  Status CreateFileLocked(const std::string& id, uint64_t size);  // requires mu_
  Status SaveManifestLocked();                    // requires mu_
  Status LoadManifest(const ArraySpec& spec);
  // Removes the .vol-NNNN.new files a crash left in VolumesDir().
  void RemoveStaleTempFilesLocked();  // requires mu_
  // Copies between open files with the destination's I/O guard held by the caller.
  Status CopyFromPath(const std::string& src_path, const std::string& what,
                      const std::string& dst_id);

  ArrayInfo info_;  // fixed after Open
  std::mutex mu_;   // the manifest and the set of volume files
  uint64_t next_id_ = 1;                                  // guarded by mu_
  std::map<std::string, std::set<std::string>> grants_;   // guarded by mu_
  // Writes hold it shared; Snap holds it exclusively so no write through this
  // array lands while the snapshot is taken.
  std::shared_mutex io_mu_;
};

}  // namespace vsl::array
