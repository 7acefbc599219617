#include "backup/manifest.h"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <ctime>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/names.h"

namespace vsl::backup {
namespace {

using Json = nlohmann::json;

bool IsDigits(std::string_view s) {
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

// The keys of `j` are exactly `keys`.
bool HasExactly(const Json& j, std::initializer_list<const char*> keys) {
  if (!j.is_object() || j.size() != keys.size()) return false;
  for (const char* k : keys)
    if (!j.contains(k)) return false;
  return true;
}

std::string KeyList(const Json& j) {
  std::string out;
  for (auto it = j.begin(); it != j.end(); ++it) out += (out.empty() ? "" : ",") + Printable(it.key(), 40);
  return out;
}

// An unsigned integer field; `what` names it in the error.
Result<uint64_t> Unsigned(const Json& j, const char* key) {
  const Json& v = j.at(key);
  if (!v.is_number_unsigned()) return InvalidArgument(std::string(key) + " is not a non-negative integer");
  return v.get<uint64_t>();
}

Result<std::string> String(const Json& j, const char* key) {
  const Json& v = j.at(key);
  if (!v.is_string()) return InvalidArgument(std::string(key) + " is not a string");
  return v.get<std::string>();
}

}  // namespace

bool IsValidBackupId(std::string_view id) {
  // YYYYMMDDTHHMMSSZ-xxxxxxxx
  if (id.size() != 25 || id[8] != 'T' || id[15] != 'Z' || id[16] != '-') return false;
  if (!IsDigits(id.substr(0, 8)) || !IsDigits(id.substr(9, 6))) return false;
  for (char c : id.substr(17))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string FormatTime(std::chrono::system_clock::time_point t) {
  time_t secs = std::chrono::system_clock::to_time_t(t);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool IsValidTime(std::string_view s) {
  // 2026-11-30T03:45:00Z
  return s.size() == 20 && IsDigits(s.substr(0, 4)) && s[4] == '-' && IsDigits(s.substr(5, 2)) && s[7] == '-' &&
         IsDigits(s.substr(8, 2)) && s[10] == 'T' && IsDigits(s.substr(11, 2)) && s[13] == ':' &&
         IsDigits(s.substr(14, 2)) && s[16] == ':' && IsDigits(s.substr(17, 2)) && s[19] == 'Z';
}

std::string NewBackupId(std::chrono::system_clock::time_point t) {
  std::string when = FormatTime(t);  // 2026-11-30T03:45:00Z
  std::string id = when.substr(0, 4) + when.substr(5, 2) + when.substr(8, 2) + "T" + when.substr(11, 2) +
                   when.substr(14, 2) + when.substr(17, 2) + "Z-";
  uint32_t r = 0;
  if (::getrandom(&r, sizeof r, 0) != sizeof r) {
    // Uniqueness also rests on O_EXCL of the backup's directory; the time
    // and the pid keep a retry from colliding forever.
    r = static_cast<uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
        static_cast<uint32_t>(::getpid());
  }
  char hex[9];
  snprintf(hex, sizeof hex, "%08x", r);
  return id + hex;
}

Status CheckHeader(const BackupHeader& h) {
  if (!IsValidBackupId(h.id)) return InvalidArgument("id '" + Printable(h.id) + "' is not a backup id");
  if (h.disk.empty()) return InvalidArgument("disk: empty");
  VSL_RETURN_IF_ERROR(CheckText("disk", h.disk, kMaxNameBytes));
  VSL_RETURN_IF_ERROR(CheckText("farm", h.farm, kMaxNameBytes));
  VSL_RETURN_IF_ERROR(CheckText("server", h.server, kMaxNameBytes));
  if (h.level != 0 && h.level != 1) return InvalidArgument("level " + std::to_string(h.level) + ": 0 or 1");
  if (h.level == 0 && h.parent) return InvalidArgument("level 0 with a parent: a full backup has none");
  if (h.level == 1) {
    if (!h.parent) return InvalidArgument("level 1 without a parent");
    if (!IsValidBackupId(*h.parent)) return InvalidArgument("parent '" + Printable(*h.parent) + "' is not a backup id");
    if (*h.parent == h.id) return InvalidArgument("parent is the backup itself");
  }
  if (!IsValidTime(h.created)) return InvalidArgument("created '" + Printable(h.created) + "': not YYYY-MM-DDTHH:MM:SSZ");
  if (h.disk_size == 0) return InvalidArgument("disk_size: 0");
  VSL_RETURN_IF_ERROR(CheckSize("disk_size", h.disk_size));
  if (!IsPowerOfTwo(h.chunk_size) || h.chunk_size < kMinChunkSize || h.chunk_size > kMaxChunkSize) {
    return InvalidArgument("chunk_size " + std::to_string(h.chunk_size) + ": a power of two from " +
                           std::to_string(kMinChunkSize) + " to " + std::to_string(kMaxChunkSize));
  }
  return Status::Ok();
}

std::string HeaderLine(const BackupHeader& h) {
  Json j = {{"format", "vsl-backup"}, {"version", kFormatVersion},  {"id", h.id},
            {"disk", h.disk},         {"farm", h.farm},             {"server", h.server},
            {"level", h.level},       {"created", h.created},       {"disk_size", h.disk_size},
            {"chunk_size", h.chunk_size}};
  j["parent"] = h.parent ? Json(*h.parent) : Json(nullptr);
  return j.dump() + "\n";
}

std::string ExtentLine(const Extent& e) {
  Json j = {{"offset", e.offset}, {"length", e.length}};
  if (e.zero) {
    j["zero"] = true;
  } else {
    j["sha256"] = ToHex(e.sha256);
    j["data"] = e.data;
  }
  return j.dump() + "\n";
}

std::string TrailerLine(const Trailer& t) {
  Json j = {{"end", true},
            {"extents", t.extents},
            {"data_size", t.data_size},
            {"manifest_sha256", ToHex(t.manifest_sha256)}};
  return j.dump() + "\n";
}

Result<BackupHeader> ParseHeaderLine(std::string_view line) {
  Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument("header: not JSON");
  if (!HasExactly(j, {"format", "version", "id", "disk", "farm", "server", "level", "created", "parent", "disk_size",
                      "chunk_size"})) {
    return InvalidArgument("header: expected the keys format, version, id, disk, farm, server, level, created, "
                           "parent, disk_size, chunk_size; got " + (j.is_object() ? KeyList(j) : "no object"));
  }
  if (j["format"] != "vsl-backup") return InvalidArgument("header: format is not \"vsl-backup\"");
  if (!j["version"].is_number_unsigned() || j["version"].get<uint64_t>() != kFormatVersion) {
    return InvalidArgument("header: version is not " + std::to_string(kFormatVersion));
  }
  BackupHeader h;
  auto fail = [](const Status& s) { return InvalidArgument("header: " + s.message()); };
  Result<std::string> s = String(j, "id");
  if (!s.ok()) return fail(s.status());
  h.id = *s;
  for (auto [key, field] : {std::pair{"disk", &h.disk}, {"farm", &h.farm}, {"server", &h.server},
                            {"created", &h.created}}) {
    Result<std::string> v = String(j, key);
    if (!v.ok()) return fail(v.status());
    *field = *v;
  }
  Result<uint64_t> level = Unsigned(j, "level");
  if (!level.ok()) return fail(level.status());
  if (*level > 1) return InvalidArgument("header: level " + std::to_string(*level) + ": 0 or 1");
  h.level = static_cast<int>(*level);
  if (!j["parent"].is_null()) {
    Result<std::string> p = String(j, "parent");
    if (!p.ok()) return InvalidArgument("header: parent is neither null nor a string");
    h.parent = *p;
  }
  Result<uint64_t> size = Unsigned(j, "disk_size");
  if (!size.ok()) return fail(size.status());
  h.disk_size = *size;
  Result<uint64_t> chunk = Unsigned(j, "chunk_size");
  if (!chunk.ok()) return fail(chunk.status());
  h.chunk_size = *chunk;
  Status c = CheckHeader(h);
  if (!c.ok()) return fail(c);
  return h;
}

// ---- ManifestReader ----

Result<std::unique_ptr<ManifestReader>> ManifestReader::Open(const std::string& path, const std::string& id) {
  Result<Fd> fd = OpenFile(path, O_RDONLY);
  if (!fd.ok()) return IoError("backup " + id + ": manifest: " + fd.status().message());
  return Start(std::unique_ptr<ManifestReader>(new ManifestReader(std::move(*fd), id)));
}

Result<std::unique_ptr<ManifestReader>> ManifestReader::FromBytes(std::string bytes, const std::string& id) {
  std::unique_ptr<ManifestReader> r(new ManifestReader(Fd(), id));
  r->bytes_ = std::move(bytes);
  return Start(std::move(r));
}

Result<std::unique_ptr<ManifestReader>> ManifestReader::Start(std::unique_ptr<ManifestReader> r) {
  const std::string& id = r->id_;
  std::string line;
  VSL_ASSIGN_OR_RETURN(bool got, r->ReadLine(&line));
  if (!got) return r->Bad("empty manifest");
  Result<BackupHeader> h = ParseHeaderLine(line);
  if (!h.ok()) return r->Bad(h.status().message());
  if (h->id != id) return r->Bad("header: id '" + h->id + "' is not the backup's id");
  r->header_ = std::move(*h);
  r->sha_.Update(line);
  r->sha_.Update("\n");
  return r;
}

Status ManifestReader::Bad(std::string what) const {
  return DataLoss("backup " + id_ + ": manifest line " + std::to_string(line_no_) + ": " + what);
}

Result<bool> ManifestReader::ReadLine(std::string* line) {
  line->clear();
  while (true) {
    size_t nl = buf_.find('\n', buf_pos_);
    if (nl != std::string::npos) {
      if (line->size() + (nl - buf_pos_) > kMaxManifestLine) break;
      line->append(buf_, buf_pos_, nl - buf_pos_);
      buf_pos_ = nl + 1;
      line_no_++;
      return true;
    }
    line->append(buf_, buf_pos_, std::string::npos);
    buf_.clear();
    buf_pos_ = 0;
    if (line->size() > kMaxManifestLine) break;
    buf_.resize(8192);
    ssize_t n;
    if (bytes_) {
      n = static_cast<ssize_t>(std::min<uint64_t>(buf_.size(), bytes_->size() - std::min<uint64_t>(file_pos_, bytes_->size())));
      if (n > 0) std::memcpy(buf_.data(), bytes_->data() + file_pos_, static_cast<size_t>(n));
    } else {
      do {
        n = ::pread(fd_.get(), buf_.data(), buf_.size(), static_cast<off_t>(file_pos_));
      } while (n < 0 && errno == EINTR);
    }
    if (n < 0) return ErrnoError("backup " + id_ + ": manifest: read", errno);
    buf_.resize(static_cast<size_t>(n));
    file_pos_ += static_cast<uint64_t>(n);
    if (n == 0) {
      line_no_++;
      if (line->empty()) return false;
      return Bad("truncated: the last line has no end (an interrupted write?)");
    }
  }
  line_no_++;
  return Bad("longer than " + std::to_string(kMaxManifestLine) + " bytes");
}

Result<std::optional<Extent>> ManifestReader::Next() {
  if (done_) return std::optional<Extent>();
  std::string line;
  VSL_ASSIGN_OR_RETURN(bool got, ReadLine(&line));
  if (!got) return Bad("no trailer line: the manifest is incomplete");
  Json j = Json::parse(line, nullptr, false);
  if (j.is_discarded()) return Bad("not JSON");
  if (!j.is_object()) return Bad("not a JSON object");
  if (j.contains("end")) {
    // The checksum covers every byte before the trailer.
    VSL_RETURN_IF_ERROR(ParseTrailer(line, sha_.Final()));
    done_ = true;
    return std::optional<Extent>();
  }
  sha_.Update(line);
  sha_.Update("\n");
  Extent e;
  bool zero = j.contains("zero");
  if (zero ? !HasExactly(j, {"offset", "length", "zero"}) : !HasExactly(j, {"offset", "length", "sha256", "data"})) {
    return Bad("an extent has the keys offset, length and either sha256, data or zero; got " + KeyList(j));
  }
  Result<uint64_t> off = Unsigned(j, "offset");
  if (!off.ok()) return Bad(off.status().message());
  Result<uint64_t> len = Unsigned(j, "length");
  if (!len.ok()) return Bad(len.status().message());
  e.offset = *off;
  e.length = *len;
  const uint64_t chunk = header_.chunk_size, size = header_.disk_size;
  std::string where = "extent at offset " + std::to_string(e.offset) + ": ";
  if (e.offset >= size) return Bad(where + "beyond the disk's end (disk_size " + std::to_string(size) + ")");
  if (e.offset % chunk != 0) return Bad(where + "not a multiple of chunk_size " + std::to_string(chunk));
  if (e.offset < next_offset_) {
    return Bad(where + "overlaps or comes before the previous extent (extents are in ascending order, one per chunk)");
  }
  uint64_t want = std::min(chunk, size - e.offset);
  if (e.length != want) return Bad(where + "length " + std::to_string(e.length) + ", expected " + std::to_string(want));
  if (zero) {
    if (j["zero"] != true) return Bad(where + "zero is not true");
    e.zero = true;
  } else {
    const Json& sha = j["sha256"];
    if (!sha.is_string() || !FromHex(sha.get<std::string>(), &e.sha256)) {
      return Bad(where + "sha256 is not 64 lower-case hex digits");
    }
    Result<uint64_t> data = Unsigned(j, "data");
    if (!data.ok()) return Bad(where + data.status().message());
    if (*data != data_pos_) {
      return Bad(where + "data " + std::to_string(*data) + ", expected " + std::to_string(data_pos_) +
                 " (extents are stored back to back in the data file)");
    }
    e.data = *data;
    data_pos_ += e.length;
  }
  next_offset_ = e.offset + chunk;
  count_++;
  return std::optional<Extent>(e);
}

Status ManifestReader::ParseTrailer(std::string_view line, const Digest& body_sha) {
  Json j = Json::parse(line, nullptr, false);
  if (!HasExactly(j, {"end", "extents", "data_size", "manifest_sha256"}) || j["end"] != true) {
    return Bad("the trailer has the keys end (true), extents, data_size, manifest_sha256; got " + KeyList(j));
  }
  Result<uint64_t> n = Unsigned(j, "extents");
  if (!n.ok()) return Bad("trailer: " + n.status().message());
  Result<uint64_t> ds = Unsigned(j, "data_size");
  if (!ds.ok()) return Bad("trailer: " + ds.status().message());
  const Json& sha = j["manifest_sha256"];
  if (!sha.is_string() || !FromHex(sha.get<std::string>(), &trailer_.manifest_sha256)) {
    return Bad("trailer: manifest_sha256 is not 64 lower-case hex digits");
  }
  if (*n != count_) return Bad("trailer: extents " + std::to_string(*n) + ", but the manifest lists " + std::to_string(count_));
  if (*ds != data_pos_) {
    return Bad("trailer: data_size " + std::to_string(*ds) + ", but the extents hold " + std::to_string(data_pos_));
  }
  trailer_.extents = *n;
  trailer_.data_size = *ds;
  if (trailer_.manifest_sha256 != body_sha) {
    return Bad("the manifest's checksum does not match its content (manifest_sha256 " + ToHex(trailer_.manifest_sha256) +
               ", computed " + ToHex(body_sha) + ")");
  }
  std::string rest;
  VSL_ASSIGN_OR_RETURN(bool more, ReadLine(&rest));
  if (more) return Bad("text after the trailer");
  return Status::Ok();
}

Result<ManifestSummary> ReadManifest(const std::string& path, const std::string& id) {
  VSL_ASSIGN_OR_RETURN(std::unique_ptr<ManifestReader> r, ManifestReader::Open(path, id));
  return ReadManifest(std::move(r));
}

Result<ManifestSummary> ReadManifest(std::unique_ptr<ManifestReader> r) {
  ManifestSummary s;
  while (true) {
    VSL_ASSIGN_OR_RETURN(std::optional<Extent> e, r->Next());
    if (!e) break;
    if (e->zero) s.zero_extents++;
  }
  s.header = r->header();
  s.trailer = r->trailer();
  return s;
}

}  // namespace vsl::backup
