// What a backup needs of a volume that its host keeps writing (issue 10):
//
// * PointInTime: a copy-on-write view of a MetaVolume as it was at one
//   instant. While it is open, every write to the volume (Write, the inline
//   and asynchronous writes, zeroing, Unmap, CopyFrom into it) first copies
//   the chunks it is about to change, and that the reader has not read yet,
//   into a side file; the reader gets each chunk from the side file or, when
//   untouched, from the volume itself. A host's write waits only for the
//   copy of the chunks it overwrites, never for the backup to finish.
// * ChangeMap: which chunks were written since it was last cleared, for the
//   next incremental backup; it can be saved on a clean stop and loaded on
//   the next start (a crash leaves nothing to load: the caller then compares
//   checksums instead of trusting a map).
//
// Both count in chunks of kChunkBytes (64 KiB: the unit a backup stores and
// checksums, small enough that a 4 KiB write preserves little, large enough
// that a 1 TiB volume's map is 2 MiB of bits).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "util/status.h"

namespace vsl::volume {

inline constexpr uint64_t kChunkBytes = 64 << 10;

class MetaVolume;

// The copy-on-write state a MetaVolume consults before each write while a
// PointInTime is open. Internal to the volume engine; PointInTime is its
// public face.
class CowState {
 public:
  using RawRead = std::function<Status(uint64_t offset, std::span<uint8_t> out)>;

  // `size`: the volume's size at the instant; `side_fd`: an empty file the
  // preserved chunks go to (chunk c at offset c * kChunkBytes); owned.
  CowState(uint64_t size, int side_fd);
  ~CowState();

  // The chunks wholly inside [offset, offset+length) are never preserved
  // (their instant is kept elsewhere: an RBD snapshot); before the view is
  // attached.
  void Skip(uint64_t offset, uint64_t length);
  // Before a write to [offset, offset+length): preserves each chunk of that
  // range the reader has neither read nor had preserved. A failure to
  // preserve (the side file's disk is full) breaks the view, not the write:
  // the host's I/O comes first, and the reader then gets the error.
  void BeforeWrite(uint64_t offset, uint64_t length, const RawRead& read);
  // The view's bytes at [offset, offset+out.size()) (inside size()).
  Status Read(uint64_t offset, std::span<uint8_t> out, const RawRead& read);

  uint64_t size() const { return size_; }
  uint64_t preserved_bytes() const;

 private:
  enum : uint8_t { kUntouched = 0, kPreserved = 1, kRead = 2 };
  Status Preserve(uint64_t chunk, const RawRead& read);  // requires mu_

  const uint64_t size_;
  const int fd_;
  mutable std::mutex mu_;
  std::vector<uint8_t> chunks_;  // guarded by mu_
  uint64_t preserved_ = 0;       // guarded by mu_
  Status broken_;                // guarded by mu_
  std::vector<uint8_t> buf_;     // one chunk; guarded by mu_
};

// An open point-in-time view; closing it (destruction) stops the copying
// and frees the side file. Holds the volume open while it lives.
class PointInTime {
 public:
  PointInTime(std::shared_ptr<MetaVolume> volume, std::shared_ptr<CowState> cow);
  ~PointInTime();
  PointInTime(const PointInTime&) = delete;
  PointInTime& operator=(const PointInTime&) = delete;

  uint64_t size() const { return cow_->size(); }
  // Bytes as they were at the instant; OutOfRange past size(); the error
  // of a failed preserve once one happened.
  Status Read(uint64_t offset, std::span<uint8_t> out);
  // How much the host's writes made the view copy aside so far.
  uint64_t preserved_bytes() const { return cow_->preserved_bytes(); }

 private:
  std::shared_ptr<MetaVolume> volume_;
  std::shared_ptr<CowState> cow_;
};

// Chunks written since the last Clear. Marking takes the map's own mutex
// (one per volume) only while tracking is on; off, it is one relaxed load.
class ChangeMap {
 public:
  void Enable(uint64_t size);  // starts tracking a volume of `size` bytes, all clean
  void Disable();
  bool enabled() const { return enabled_.load(std::memory_order_acquire); }
  void Grow(uint64_t size);  // the volume grew: the new chunks count as changed
  void Mark(uint64_t offset, uint64_t length) {
    if (enabled_.load(std::memory_order_relaxed)) MarkSlow(offset, length);
  }
  // Changed byte ranges (chunk-aligned, merged, clipped to the size).
  std::vector<std::pair<uint64_t, uint64_t>> Ranges() const;
  void Clear();

  // A self-checking image of the map (magic, chunk size, volume size, bits,
  // an FNV-1a 64 checksum), and its reverse: InvalidArgument saying what is wrong with a
  // damaged or foreign image, or one for a volume of another size.
  std::string Serialize() const;
  Status Load(std::string_view image, uint64_t size);

  // What the map counts from (for the caller: the backup whose instant last
  // cleared it); Enable and Disable reset it to "", a map freshly enabled
  // counting from nothing the caller can name.
  std::string since() const;
  void set_since(std::string since);

 private:
  void MarkSlow(uint64_t offset, uint64_t length);

  std::atomic<bool> enabled_{false};
  mutable std::mutex mu_;
  uint64_t size_ = 0;            // guarded by mu_
  std::vector<uint64_t> bits_;   // bit c of word c/64: chunk c changed; guarded by mu_
  std::string since_;            // guarded by mu_
};

}  // namespace vsl::volume
