// RbdArray: the `rbd` driver. An array is a set of RBD images in one Ceph
// pool, reached through librados/librbd (no kernel rbd):
//
//   POOL/vsl-NAME-vol-NNNN   one image per volume; its size is the volume's
//   POOL/vsl-NAME.array      a RADOS object, the manifest: name, capacity,
//                            volume size, qualities, ports, the next number
//
// Images of the pool with any other name (other arrays', other users') are
// neither listed nor touched. Grants are kept on each image (its metadata key
// "vsl.grants"), so they survive a restart and go with the image.
//
// One cluster handle (and one I/O context on the pool) per array, shared by
// everything the array does. The cephx secret is read by librados from the
// keyring file; the array only knows the file's path.
//
// Capacity is what vsl may cut from the pool: the images' provisioned sizes
// count against it. A new array's capacity is checked against the pool's
// quota (max_bytes) and the pool's free space where the cluster reports them
// (a cluster without a manager reports no free space).
#pragma once

#include <rados/librados.h>
#include <rbd/librbd.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <thread>

#include "array/array.h"

namespace vsl::array {

class RbdArray : public StorageArray {
 public:
  // Connects to the cluster spec.rbd names and opens the array's manifest in
  // spec.rbd.pool, creating it (and carving) when there is none. Errors name
  // the pool, the conf file, the user and the keyring file.
  //
  // With spec.may_start_disconnected (vsl serve reopening the catalog's
  // arrays), a cluster that does not answer (Unavailable) gives an array
  // that is disconnected: every operation fails with Unavailable naming it
  // and the reason, and a thread of the array tries again with back-off
  // (1 s doubling to 60 s) until the cluster answers and the manifest reads.
  static Result<std::unique_ptr<RbdArray>> Open(const ArraySpec& spec);
  ~RbdArray() override;

  ArrayInfo info() const override;
  std::string Disconnected() const override;
  void OnReconnect(std::function<void()> fn) override;
  // Opens each of the array's images and breaks its exclusive lock when the
  // owner is one of `dead` (same cluster fsid, same address nonce);
  // rbd_lock_break blocklists the owner as it breaks.
  Result<std::vector<std::string>> BreakDeadLocks(const std::vector<util::RbdClient>& dead) override;
  const RbdSettings& settings() const { return rbd_; }
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
  // The BCV becomes a copy-on-write clone of a protected snapshot of the
  // source (vsl.bcv.BCV.TIME.N), taken with every write through this array
  // held off: no byte is copied. The snapshot stays while the BCV hangs from
  // it; scrubbing or deleting the source first gives its BCVs their own
  // copy (flatten); the BCV's scrub or delete drops the snapshot.
  Status Snap(const std::string& src_id, const std::string& dst_id) override;
  // Removes the image and creates it again, empty, with the same name, size
  // and grants; then reads a sample of blocks (first, last and spread
  // between) and checks the image maps no data. DataLoss when a byte survives.
  Status Scrub(const std::string& id) override;
  // An rbd array on the same cluster (fsid) and pool.
  bool CanCloneFrom(const StorageArray& src) const override;
  // The clone's parent is the snapshot `vsl-master` of src's image, made and
  // protected the first time (and kept until src is deleted or scrubbed).
  // dst's old image is renamed aside (IMAGE.clone) while the clone is made
  // under its name, resized to dst's size and given its grants, then
  // removed: a crash at any point leaves either of them, and the next call
  // finishes the job.
  Status Clone(StorageArray& src, const std::string& src_id, const std::string& dst_id) override;
  Status Flatten(const std::string& id) override;
  // The image (pool/name@snap) a clone's parent is; nullopt for a plain one.
  Result<std::optional<std::string>> CloneParent(const std::string& id);
  Status Grant(const std::string& id, const std::string& initiator) override;
  Status Revoke(const std::string& id, const std::string& initiator) override;
  Result<std::vector<std::string>> Grants(const std::string& id) override;
  // One RBD extent: the whole image, with the array's pool, conf, user and
  // keyring path (the gateway opens the image through librbd itself).
  Result<std::vector<volume::Extent>> Locate(const std::string& id) override;

  // The RBD image that holds (or would hold) volume `id`.
  std::string ImageName(const std::string& id) const;
  std::string ManifestObject() const;
  // The pool's I/O context (for tests that change the pool behind vsl's back).
  rados_ioctx_t ioctx() const { return io_; }

 private:
  RbdArray() = default;
  Status Connect();
  // Drops the cluster handle and the pool's I/O context (after a failed
  // connect).
  void Disconnect();
  // Ok when connected; otherwise Unavailable naming the array and why.
  Status Ready() const;
  void ReconnectLoop(ArraySpec spec);
  Status LoadOrCreateManifest(const ArraySpec& spec);
  Status SaveManifestLocked();  // requires mu_
  Status CheckCapacityAgainstPool(uint64_t capacity);
  Status CarveLocked(uint64_t count);  // requires mu_
  Status CreateImage(const std::string& id, uint64_t size);
  // The array's volumes (requires mu_). With `cached`, a size is taken from
  // sizes_ when the image listed under that name still has the RBD id it
  // was read from; every other image is opened (and sizes_ refreshed).
  Result<std::vector<ArrayVolume>> Scan(bool cached = false);
  Result<ArrayVolume> Stat(const std::string& id);
  // Opens volume `id`'s image into *img (one open serves the check, the
  // size and the call's own work); NotFound naming the volume.
  Result<ArrayVolume> OpenVolume(const std::string& id, bool read_only, rbd_image_t* img);
  // Makes the protected snapshot clones of volume `id` hang from; the
  // volume's size.
  Result<uint64_t> MakeCloneBase(const std::string& id);
  // What the swaps (Clone, Scrub) and RemoveImage need to know of an image,
  // read in one open.
  struct ImageFacts {
    uint64_t size = 0;
    std::optional<std::string> parent;  // "pool/image@snap" of a clone
    bool has_snaps = false;
    std::vector<std::string> grants;
  };
  // nullopt when image `name` does not exist.
  Result<std::optional<ImageFacts>> Facts(const std::string& name);
  // Whether image `name` exists, without opening it.
  Result<bool> ImageExists(const std::string& name);
  // Unprotects and removes every snapshot of image `name` (before it goes);
  // FailedPrecondition naming the clones when some still hang from it.
  // BCVs of image `name` taken as clones of its snapshot `snap` get their
  // own copy of every block (before the snapshot goes).
  Status RemoveSnapshots(const std::string& name);
  Status FlattenChildren(rbd_image_t img, const std::string& name, const std::string& snap);
  // Unprotects and removes snapshot `snap` of image `name` unless clones
  // still hang from it; a missing image or snapshot is fine.
  Status DropSnapshot(const std::string& name, const std::string& snap);
  // Removes image `name` with its snapshots, and the BCV snapshot of its
  // source that it was a clone of.
  Status RemoveImage(const std::string& name);
  // The same, with what Facts read of it (under mu_; the image is one that
  // only this call may touch since: set aside, or stale).
  Status RemoveImage(const std::string& name, const ImageFacts& facts);
  // Clone's swap (requires mu_): dst's image goes aside, a clone of
  // src_id@snap takes its name, size and grants, the old one goes.
  Status SwapForClone(RbdArray& src, const std::string& src_id, const std::string& snap,
                      uint64_t src_size, const std::string& dst_id);
  std::string Fsid() const;
  Status WriteGrants(const std::string& id, const std::vector<std::string>& grants);
  // The grants of an open image (`name` for messages), and their writing.
  Result<std::vector<std::string>> GrantsOf(rbd_image_t img, const std::string& name);
  Status SetGrantsOf(rbd_image_t img, const std::string& name, const std::vector<std::string>& grants);
  // "array 'a' (pool 'p')": every message about the pool says which.
  std::string Label() const;
  Status RbdError(const std::string& what, int r) const;

  ArrayInfo info_;  // fixed once connected_
  ArrayInfo offline_info_;  // what info() shows until then
  RbdSettings rbd_;
  rados_t cluster_ = nullptr;
  rados_ioctx_t io_ = nullptr;
  std::mutex mu_;         // the manifest, grants, the set of images
  uint64_t next_id_ = 1;  // guarded by mu_
  // Image sizes as Scan read them, by image name, with the RBD id of the
  // image read: a re-created, scrubbed or swapped image has a new id, so a
  // stale size is never taken. Dropped where vsl resizes. guarded by mu_.
  struct KnownSize {
    std::string rbd_id;
    uint64_t size = 0;
  };
  std::map<std::string, KnownSize> sizes_;
  // Writes hold it shared; Snap holds it exclusively (as FileArray does).
  std::shared_mutex io_mu_;

  // Connection state: connected_ is set (release) once cluster_, io_ and
  // info_ are complete, and never cleared.
  std::atomic<bool> connected_{false};
  mutable std::mutex state_mu_;
  std::condition_variable state_cv_;
  std::string reason_;                  // guarded by state_mu_
  bool stopping_ = false;               // guarded by state_mu_
  std::mutex cb_mu_;                    // held while on_reconnect_ runs
  std::function<void()> on_reconnect_;  // guarded by cb_mu_
  std::thread reconnect_;
};

}  // namespace vsl::array
