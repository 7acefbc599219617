#include "array/memory_array.h"

#include <fcntl.h>

#include <algorithm>
#include <cstring>

#include "array/file_util.h"
#include "array/internal.h"

namespace vsl::array {

using internal::ArrayLabel;

Result<std::unique_ptr<MemoryArray>> MemoryArray::Create(const ArraySpec& spec) {
  VSL_RETURN_IF_ERROR(internal::CheckNewSpec(spec));
  ArrayInfo info;
  info.name = spec.name;
  info.driver = "memory";
  info.capacity = spec.capacity;
  info.volume_size = spec.volume_size;
  info.qualities = spec.qualities;
  info.ports = spec.ports.empty() ? std::vector<std::string>{"port0"} : spec.ports;
  std::unique_ptr<MemoryArray> a(new MemoryArray(std::move(info)));
  if (spec.volume_size > 0) {
    for (uint64_t i = 0; i < spec.capacity / spec.volume_size; ++i) {
      a->volumes_[a->NewIdLocked()].size = spec.volume_size;
    }
  }
  return a;
}

Result<MemoryArray::Volume*> MemoryArray::Find(const std::string& id) {
  auto it = volumes_.find(id);
  if (it == volumes_.end()) return NotFound(ArrayLabel(info_) + ": no volume " + id);
  return &it->second;
}

ArrayVolume MemoryArray::Describe(const std::string& id, const Volume& v) const {
  return ArrayVolume{id, v.size, "", info_.qualities};
}

uint64_t MemoryArray::UsedLocked() const {
  uint64_t used = 0;
  for (const auto& [id, v] : volumes_) used += v.size;
  return used;
}

std::string MemoryArray::NewIdLocked() {
  std::string id;
  do {
    id = internal::VolumeId(next_id_++);
  } while (volumes_.count(id));
  return id;
}

Result<std::vector<ArrayVolume>> MemoryArray::Discover() {
  std::lock_guard lock(mu_);
  std::vector<ArrayVolume> out;
  for (const auto& [id, v] : volumes_) out.push_back(Describe(id, v));
  return out;
}

Result<ArrayVolume> MemoryArray::GetVolume(const std::string& id) {
  std::lock_guard lock(mu_);
  VSL_ASSIGN_OR_RETURN(Volume * v, Find(id));
  return Describe(id, *v);
}

Result<ArrayVolume> MemoryArray::CreateVolume(uint64_t size) {
  if (info_.volume_size != 0) {
    return FailedPrecondition(ArrayLabel(info_) + " is pre-carved into volumes of " +
                              internal::HumanSize(info_.volume_size) +
                              "; it does not cut volumes on demand");
  }
  VSL_RETURN_IF_ERROR(internal::CheckVolumeSize(info_, size, "a volume"));
  std::lock_guard lock(mu_);
  VSL_RETURN_IF_ERROR(internal::CheckPoolRoom(info_, UsedLocked(), size));
  std::string id = NewIdLocked();
  volumes_[id].size = size;
  return Describe(id, volumes_[id]);
}

Status MemoryArray::DeleteVolume(const std::string& id) {
  std::lock_guard lock(mu_);
  VSL_RETURN_IF_ERROR(Find(id).status());
  volumes_.erase(id);
  return Status::Ok();
}

void MemoryArray::WriteChunks(Volume& v, uint64_t offset, std::span<const uint8_t> data) {
  while (!data.empty()) {
    uint64_t index = offset / kChunk, within = offset % kChunk;
    size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk - within, data.size()));
    auto it = v.chunks.find(index);
    if (it == v.chunks.end()) {
      if (internal::IsAllZero(data.first(n))) {  // zeros over a hole stay a hole
        data = data.subspan(n);
        offset += n;
        continue;
      }
      it = v.chunks.emplace(index, std::vector<uint8_t>(kChunk, 0)).first;
    }
    std::memcpy(it->second.data() + within, data.data(), n);
    data = data.subspan(n);
    offset += n;
  }
}

void MemoryArray::ReadChunks(const Volume& v, uint64_t offset, std::span<uint8_t> out) {
  while (!out.empty()) {
    uint64_t index = offset / kChunk, within = offset % kChunk;
    size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk - within, out.size()));
    auto it = v.chunks.find(index);
    if (it == v.chunks.end()) {
      std::memset(out.data(), 0, n);
    } else {
      std::memcpy(out.data(), it->second.data() + within, n);
    }
    out = out.subspan(n);
    offset += n;
  }
}

void MemoryArray::ZeroRange(Volume& v, uint64_t offset, uint64_t length) {
  uint64_t end = offset + length;
  for (auto it = v.chunks.lower_bound(offset / kChunk);
       it != v.chunks.end() && it->first * kChunk < end;) {
    uint64_t start = it->first * kChunk;
    uint64_t from = std::max(start, offset), to = std::min(start + kChunk, end);
    if (from == start && to == start + kChunk) {
      it = v.chunks.erase(it);
      continue;
    }
    std::memset(it->second.data() + (from - start), 0, to - from);
    if (internal::IsAllZero(it->second)) {
      it = v.chunks.erase(it);
    } else {
      ++it;
    }
  }
}

Status MemoryArray::Read(const std::string& id, uint64_t offset, std::span<uint8_t> out) {
  std::lock_guard lock(mu_);
  VSL_ASSIGN_OR_RETURN(Volume * v, Find(id));
  VSL_RETURN_IF_ERROR(internal::CheckRange(info_, id, v->size, offset, out.size()));
  ReadChunks(*v, offset, out);
  return Status::Ok();
}

Status MemoryArray::Write(const std::string& id, uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  VSL_ASSIGN_OR_RETURN(Volume * v, Find(id));
  VSL_RETURN_IF_ERROR(internal::CheckRange(info_, id, v->size, offset, data.size()));
  WriteChunks(*v, offset, data);
  return Status::Ok();
}

Status MemoryArray::Deallocate(const std::string& id, uint64_t offset, uint64_t length) {
  std::lock_guard lock(mu_);
  VSL_ASSIGN_OR_RETURN(Volume * v, Find(id));
  VSL_RETURN_IF_ERROR(internal::CheckRange(info_, id, v->size, offset, length));
  ZeroRange(*v, offset, length);
  return Status::Ok();
}

Result<std::vector<ByteRange>> MemoryArray::MappedRanges(const std::string& id) {
  std::lock_guard lock(mu_);
  VSL_ASSIGN_OR_RETURN(Volume * v, Find(id));
  std::vector<ByteRange> out;
  for (const auto& [index, data] : v->chunks) {
    uint64_t start = index * kChunk, len = std::min(kChunk, v->size - start);
    if (!out.empty() && out.back().offset + out.back().length == start) {
      out.back().length += len;
    } else {
      out.push_back({start, len});
    }
  }
  return out;
}

Status MemoryArray::Copy(StorageArray& src, const std::string& src_id, const std::string& dst_id) {
  if (&src == this && src_id == dst_id) {
    return InvalidArgument(ArrayLabel(info_) + ": cannot copy volume " + dst_id + " onto itself");
  }
  return internal::CopyThroughInterface(src, src_id, *this, dst_id);
}

Status MemoryArray::CopyFromFile(const std::string& src_path, const std::string& dst_id) {
  VSL_ASSIGN_OR_RETURN(internal::Fd fd, internal::OpenFile(src_path, O_RDONLY));
  VSL_ASSIGN_OR_RETURN(uint64_t src_size, internal::FileSize(fd.get(), src_path));
  VSL_ASSIGN_OR_RETURN(ArrayVolume to, GetVolume(dst_id));
  if (src_size > to.size) {
    return OutOfRange(ArrayLabel(info_) + ": volume " + dst_id + " (" + std::to_string(to.size) +
                      " bytes) is smaller than " + src_path + " (" + std::to_string(src_size) +
                      " bytes)");
  }
  VSL_RETURN_IF_ERROR(Deallocate(dst_id, 0, to.size));
  VSL_ASSIGN_OR_RETURN(auto ranges, internal::DataRanges(fd.get(), src_path, src_size));
  std::vector<uint8_t> buf;
  for (const ByteRange& r : ranges) {
    for (uint64_t done = 0; done < r.length;) {
      uint64_t n = std::min<uint64_t>(internal::kCopyChunk, r.length - done);
      buf.resize(static_cast<size_t>(n));
      VSL_RETURN_IF_ERROR(internal::PreadFull(fd.get(), src_path, r.offset + done, buf));
      VSL_RETURN_IF_ERROR(Write(dst_id, r.offset + done, buf));
      done += n;
    }
  }
  return Status::Ok();
}

Status MemoryArray::Snap(const std::string& src_id, const std::string& dst_id) {
  std::lock_guard lock(mu_);
  VSL_ASSIGN_OR_RETURN(Volume * src, Find(src_id));
  VSL_ASSIGN_OR_RETURN(Volume * dst, Find(dst_id));
  if (src == dst) {
    return InvalidArgument(ArrayLabel(info_) + ": cannot snap volume " + dst_id + " onto itself");
  }
  if (src->size > dst->size) {
    return OutOfRange(ArrayLabel(info_) + ": snapshot volume " + dst_id + " (" +
                      std::to_string(dst->size) + " bytes) is smaller than " + src_id + " (" +
                      std::to_string(src->size) + " bytes)");
  }
  dst->chunks = src->chunks;
  return Status::Ok();
}

Status MemoryArray::Scrub(const std::string& id) {
  std::lock_guard lock(mu_);
  VSL_ASSIGN_OR_RETURN(Volume * v, Find(id));
  v->chunks.clear();
  std::vector<uint8_t> buf;
  for (uint64_t off = 0; off < v->size; off += internal::kCopyChunk) {
    buf.resize(static_cast<size_t>(std::min(internal::kCopyChunk, v->size - off)));
    ReadChunks(*v, off, buf);
    if (!internal::IsAllZero(buf)) {
      return DataLoss(ArrayLabel(info_) + ": volume " + id + " still holds data near byte " +
                      std::to_string(off) + " after scrubbing");
    }
  }
  return Status::Ok();
}

Status MemoryArray::Grant(const std::string& id, const std::string& initiator) {
  if (initiator.empty()) {
    return InvalidArgument(ArrayLabel(info_) + ": grant of volume " + id + " names no initiator");
  }
  std::lock_guard lock(mu_);
  VSL_ASSIGN_OR_RETURN(Volume * v, Find(id));
  v->grants.insert(initiator);
  return Status::Ok();
}

Status MemoryArray::Revoke(const std::string& id, const std::string& initiator) {
  std::lock_guard lock(mu_);
  VSL_ASSIGN_OR_RETURN(Volume * v, Find(id));
  if (initiator.empty()) {
    v->grants.clear();
  } else {
    v->grants.erase(initiator);
  }
  return Status::Ok();
}

Result<std::vector<std::string>> MemoryArray::Grants(const std::string& id) {
  std::lock_guard lock(mu_);
  VSL_ASSIGN_OR_RETURN(Volume * v, Find(id));
  return std::vector<std::string>(v->grants.begin(), v->grants.end());
}

Result<std::vector<volume::Extent>> MemoryArray::Locate(const std::string& id) {
  std::lock_guard lock(mu_);
  VSL_RETURN_IF_ERROR(Find(id).status());
  return Unimplemented(ArrayLabel(info_) + " keeps volume " + id +
                       " in memory; it has no file a gateway could serve");
}

Status MemoryArray::AddVolumeBehindBack(const std::string& id, uint64_t size) {
  if (!internal::IsValidVolumeId(id)) {
    return InvalidArgument(ArrayLabel(info_) + ": '" + id + "' is not a valid volume id");
  }
  std::lock_guard lock(mu_);
  if (volumes_.count(id)) return AlreadyExists(ArrayLabel(info_) + ": volume " + id + " exists");
  volumes_[id].size = size;
  return Status::Ok();
}

Status MemoryArray::RemoveVolumeBehindBack(const std::string& id) {
  std::lock_guard lock(mu_);
  VSL_RETURN_IF_ERROR(Find(id).status());
  volumes_.erase(id);
  return Status::Ok();
}

uint64_t MemoryArray::AllocatedBytes() const {
  std::lock_guard lock(mu_);
  uint64_t n = 0;
  for (const auto& [id, v] : volumes_) n += v.chunks.size() * kChunk;
  return n;
}

}  // namespace vsl::array
