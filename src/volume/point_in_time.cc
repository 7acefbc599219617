#include "volume/point_in_time.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "volume/volume.h"

namespace vsl::volume {

namespace {

uint64_t Chunks(uint64_t size) { return (size + kChunkBytes - 1) / kChunkBytes; }

Status PwriteAll(int fd, const uint8_t* p, size_t n, uint64_t off) {
  while (n > 0) {
    ssize_t w = pwrite(fd, p, n, static_cast<off_t>(off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return ErrnoError("point-in-time side file: write", w < 0 ? errno : EIO);
    p += w;
    n -= static_cast<size_t>(w);
    off += static_cast<uint64_t>(w);
  }
  return Status::Ok();
}

Status PreadAll(int fd, uint8_t* p, size_t n, uint64_t off) {
  while (n > 0) {
    ssize_t r = pread(fd, p, n, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoError("point-in-time side file: read", errno);
    if (r == 0) return DataLoss("point-in-time side file: short read");
    p += r;
    n -= static_cast<size_t>(r);
    off += static_cast<uint64_t>(r);
  }
  return Status::Ok();
}

}  // namespace

// ---- CowState --------------------------------------------------------------

CowState::CowState(uint64_t size, int side_fd)
    : size_(size), fd_(side_fd), chunks_(Chunks(size), kUntouched) {}

CowState::~CowState() {
  if (fd_ >= 0) close(fd_);
}

uint64_t CowState::preserved_bytes() const {
  std::lock_guard l(mu_);
  return preserved_;
}

Status CowState::Preserve(uint64_t chunk, const RawRead& read) {
  uint64_t off = chunk * kChunkBytes;
  size_t n = static_cast<size_t>(std::min(kChunkBytes, size_ - off));
  buf_.resize(kChunkBytes);
  VSL_RETURN_IF_ERROR(read(off, std::span<uint8_t>(buf_.data(), n)));
  VSL_RETURN_IF_ERROR(PwriteAll(fd_, buf_.data(), n, off));
  chunks_[chunk] = kPreserved;
  preserved_ += n;
  return Status::Ok();
}

void CowState::Skip(uint64_t offset, uint64_t length) {
  std::lock_guard l(mu_);
  uint64_t first = (offset + kChunkBytes - 1) / kChunkBytes;
  uint64_t end = std::min(offset + length, size_);
  uint64_t last = end == size_ ? Chunks(size_) : end / kChunkBytes;
  for (uint64_t c = first; c < last; ++c) chunks_[c] = kRead;
}

void CowState::BeforeWrite(uint64_t offset, uint64_t length, const RawRead& read) {
  if (length == 0 || offset >= size_) return;
  uint64_t first = offset / kChunkBytes;
  uint64_t last = std::min(Chunks(size_), (std::min(offset + length, size_) + kChunkBytes - 1) / kChunkBytes);
  std::lock_guard l(mu_);
  if (!broken_.ok()) return;
  for (uint64_t c = first; c < last; ++c) {
    if (chunks_[c] != kUntouched) continue;
    Status s = Preserve(c, read);
    if (!s.ok()) {
      broken_ = s.Annotate("the point-in-time view broke while preserving bytes " +
                           std::to_string(c * kChunkBytes) + "+" + std::to_string(kChunkBytes));
      return;
    }
  }
}

Status CowState::Read(uint64_t offset, std::span<uint8_t> out, const RawRead& read) {
  if (offset > size_ || out.size() > size_ - offset) {
    return OutOfRange("point-in-time read of " + std::to_string(out.size()) + " bytes at " +
                      std::to_string(offset) + " past its size " + std::to_string(size_));
  }
  size_t done = 0;
  while (done < out.size()) {
    uint64_t at = offset + done;
    uint64_t c = at / kChunkBytes;
    size_t n = static_cast<size_t>(std::min<uint64_t>(out.size() - done, (c + 1) * kChunkBytes - at));
    std::span<uint8_t> part = out.subspan(done, n);
    // Under mu_: a writer that wants this chunk waits until it is read (and
    // then need not preserve it) or preserves it before this read starts.
    std::lock_guard l(mu_);
    VSL_RETURN_IF_ERROR(broken_);
    if (chunks_[c] == kPreserved) {
      VSL_RETURN_IF_ERROR(PreadAll(fd_, part.data(), n, at));
    } else {
      VSL_RETURN_IF_ERROR(read(at, part));
      // The whole chunk counts as read only when this read reached its end:
      // a later read of its other bytes must still see the instant.
      if (at + n == std::min((c + 1) * kChunkBytes, size_) && at == c * kChunkBytes) chunks_[c] = kRead;
    }
    done += n;
  }
  return Status::Ok();
}

// ---- PointInTime -----------------------------------------------------------

PointInTime::PointInTime(std::shared_ptr<MetaVolume> volume, std::shared_ptr<CowState> cow)
    : volume_(std::move(volume)), cow_(std::move(cow)) {}

PointInTime::~PointInTime() { volume_->DetachPointInTime(cow_); }

Status PointInTime::Read(uint64_t offset, std::span<uint8_t> out) {
  MetaVolume* v = volume_.get();
  return cow_->Read(offset, out, [v](uint64_t off, std::span<uint8_t> o) { return v->Read(off, o); });
}

// ---- ChangeMap -------------------------------------------------------------

void ChangeMap::Enable(uint64_t size) {
  std::lock_guard l(mu_);
  size_ = size;
  bits_.assign((Chunks(size) + 63) / 64, 0);
  since_.clear();
  enabled_.store(true, std::memory_order_release);
}

std::string ChangeMap::since() const {
  std::lock_guard l(mu_);
  return since_;
}

void ChangeMap::set_since(std::string since) {
  std::lock_guard l(mu_);
  since_ = std::move(since);
}

void ChangeMap::Disable() {
  std::lock_guard l(mu_);
  enabled_.store(false, std::memory_order_release);
  bits_.clear();
  size_ = 0;
  since_.clear();
}

void ChangeMap::Grow(uint64_t size) {
  std::lock_guard l(mu_);
  if (!enabled_.load(std::memory_order_relaxed) || size <= size_) return;
  uint64_t old = size_;
  size_ = size;
  bits_.resize((Chunks(size) + 63) / 64, 0);
  for (uint64_t c = old / kChunkBytes; c < Chunks(size); ++c) bits_[c / 64] |= uint64_t{1} << (c % 64);
}

void ChangeMap::MarkSlow(uint64_t offset, uint64_t length) {
  if (length == 0) return;
  std::lock_guard l(mu_);
  if (!enabled_.load(std::memory_order_relaxed) || offset >= size_) return;
  uint64_t first = offset / kChunkBytes;
  uint64_t last = (std::min(offset + length, size_) + kChunkBytes - 1) / kChunkBytes;
  for (uint64_t c = first; c < last; ++c) bits_[c / 64] |= uint64_t{1} << (c % 64);
}

std::vector<std::pair<uint64_t, uint64_t>> ChangeMap::Ranges() const {
  std::lock_guard l(mu_);
  std::vector<std::pair<uint64_t, uint64_t>> out;
  uint64_t n = Chunks(size_);
  for (uint64_t c = 0; c < n; ++c) {
    if ((bits_[c / 64] >> (c % 64) & 1) == 0) continue;
    uint64_t start = c * kChunkBytes, end = std::min((c + 1) * kChunkBytes, size_);
    if (!out.empty() && out.back().first + out.back().second == start) {
      out.back().second += end - start;
    } else {
      out.emplace_back(start, end - start);
    }
  }
  return out;
}

void ChangeMap::Clear() {
  std::lock_guard l(mu_);
  std::fill(bits_.begin(), bits_.end(), 0);
}

namespace {

constexpr char kMagic[8] = {'v', 's', 'l', 'c', 'h', 'g', '1', '\n'};

uint64_t Fnv1a(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char b : bytes) {
    h ^= b;
    h *= 0x100000001b3ull;
  }
  return h;
}

void PutU64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t GetU64(std::string_view s, size_t at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(static_cast<unsigned char>(s[at + i])) << (8 * i);
  return v;
}

}  // namespace

std::string ChangeMap::Serialize() const {
  std::lock_guard l(mu_);
  std::string s(kMagic, sizeof kMagic);
  PutU64(s, kChunkBytes);
  PutU64(s, size_);
  for (uint64_t w : bits_) PutU64(s, w);
  PutU64(s, Fnv1a(s));
  return s;
}

Status ChangeMap::Load(std::string_view image, uint64_t size) {
  const size_t head = sizeof kMagic + 16;
  if (image.size() < head + 8 || memcmp(image.data(), kMagic, sizeof kMagic) != 0) {
    return InvalidArgument("change map: not a vsl change map (bad magic or too short)");
  }
  if (GetU64(image, image.size() - 8) != Fnv1a(image.substr(0, image.size() - 8))) {
    return InvalidArgument("change map: checksum mismatch (damaged)");
  }
  if (GetU64(image, sizeof kMagic) != kChunkBytes) {
    return InvalidArgument("change map: chunk size " + std::to_string(GetU64(image, sizeof kMagic)) + ", expected " +
                           std::to_string(kChunkBytes));
  }
  uint64_t was = GetU64(image, sizeof kMagic + 8);
  size_t words = (Chunks(was) + 63) / 64;
  if (image.size() != head + 8 * words + 8) return InvalidArgument("change map: length does not match its size");
  if (was > size) {
    return InvalidArgument("change map: made for " + std::to_string(was) + " bytes, the volume has " +
                           std::to_string(size));
  }
  std::lock_guard l(mu_);
  size_ = was;
  bits_.assign(words, 0);
  for (size_t i = 0; i < words; ++i) bits_[i] = GetU64(image, head + 8 * i);
  enabled_.store(true, std::memory_order_release);
  if (size > was) {
    // The volume grew while the map was on disk: the new chunks changed.
    size_ = size;
    bits_.resize((Chunks(size) + 63) / 64, 0);
    for (uint64_t c = was / kChunkBytes; c < Chunks(size); ++c) bits_[c / 64] |= uint64_t{1} << (c % 64);
  }
  return Status::Ok();
}

}  // namespace vsl::volume
