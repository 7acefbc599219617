// A backup store on named objects (a RADOS pool): open, list, delete, and
// the removal of chunks no manifest names. The format is in store.h and
// docs/backup.md.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "backup/store.h"
#include "util/names.h"

namespace vsl::backup {
namespace {

constexpr char kMarkerObject[] = "vsl-backup-store";
constexpr char kMarkerText[] = R"({"format":"vsl-backup-store","version":1})" "\n";

std::span<const uint8_t> Bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

Status CheckMarker(const ObjectStore& objects) {
  VSL_ASSIGN_OR_RETURN(std::string text, objects.Read(kMarkerObject));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != "vsl-backup-store") {
    return InvalidArgument(objects.name() + ": object " + kMarkerObject + " is not a vsl backup store marker");
  }
  if (j.value("version", 0) != kFormatVersion) {
    return InvalidArgument(objects.name() + ": store version " + Printable(j["version"].dump()) +
                           ", this vsl reads " + std::to_string(kFormatVersion));
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Store>> Store::OpenPool(std::unique_ptr<ObjectStore> objects, const OpenOptions& options,
                                               const std::string& scratch_dir) {
  VSL_ASSIGN_OR_RETURN(bool marked, objects->Exists(kMarkerObject));
  if (!marked) {
    VSL_ASSIGN_OR_RETURN(std::vector<std::string> any, objects->List(kManifestPrefix));
    if (!options.create || !any.empty()) {
      return InvalidArgument("backup store " + objects->name() + ": not a vsl backup store (no object " +
                             kMarkerObject + ")" + (options.create ? " and it holds manifests" : ""));
    }
    VSL_RETURN_IF_ERROR(objects->PutIfAbsent(kMarkerObject, Bytes(kMarkerText)));
  }
  VSL_RETURN_IF_ERROR(CheckMarker(*objects));
  if (!scratch_dir.empty()) {
    for (const std::string& d : {scratch_dir, scratch_dir + "/tmp"}) {
      if (::mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoError(d + ": mkdir", errno);
    }
  }
  std::unique_ptr<Store> s(new Store(scratch_dir));
  s->name_ = objects->name();
  s->objects_ = std::move(objects);
  if (!scratch_dir.empty()) s->BreakDeadLocks();
  if (options.clean) {
    // Chunks of writers that were killed: removed when no writer runs now.
    Result<std::unique_ptr<ObjectLock>> lock = s->objects_->Lock(ObjectStore::LockMode::kExclusive);
    if (!lock.ok()) {
      s->leftovers_.push_back({"chunk.*", false,
                               lock.status().code() == Code::kUnavailable
                                   ? "chunks no manifest names not collected now: a backup or delete holds the lock"
                                   : lock.status().message()});
    } else {
      Result<uint64_t> removed = s->CollectChunks();
      if (!removed.ok()) {
        s->leftovers_.push_back({"chunk.*", false, removed.status().message()});
      } else if (*removed > 0) {
        s->leftovers_.push_back(
            {"chunk.*", true, std::to_string(*removed) + " chunk objects no manifest names (an interrupted backup), removed"});
      }
    }
  }
  return s;
}

void Store::NoteLockCookie(const std::string& cookie) const {
  if (dir_.empty()) return;
  // Not synced: a killed process leaves the line in the page cache; a
  // crashed machine may lose it, and then the lock's lease runs out.
  int fd = ::open((dir_ + "/lock-cookies").c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  std::string line = cookie + "\n";
  (void)!::write(fd, line.data(), line.size());
  ::close(fd);
}

void Store::BreakDeadLocks() {
  const std::string path = dir_ + "/lock-cookies";
  std::ifstream in(path);
  std::vector<std::string> cookies;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) cookies.push_back(line);
  }
  if (cookies.empty()) return;
  Result<int> broken = objects_->BreakLocks(cookies);
  if (!broken.ok()) {
    leftovers_.push_back({"lock", false, broken.status().message()});
    return;  // the file stays: the next start tries again
  }
  if (*broken > 0) {
    leftovers_.push_back({"lock", true, "broke " + std::to_string(*broken) +
                                            " lock(s) of a killed vsl serve's backup writers"});
  }
  ::unlink(path.c_str());
}

Result<Listing> Store::PoolList() const {
  VSL_ASSIGN_OR_RETURN(std::vector<std::string> names, objects_->List(kManifestPrefix));
  Listing out;
  for (const std::string& n : names) {
    std::string id = n.substr(sizeof kManifestPrefix - 1);
    if (!IsValidBackupId(id)) {
      out.skipped.push_back(Printable(n) + ": not a backup id; ignored");
      continue;
    }
    // A pool manifest is read whole anyway: its trailer gives what it stores.
    Result<ManifestSummary> m = ReadSummary(id);
    if (!m.ok()) {
      out.skipped.push_back(m.status().message());
      continue;
    }
    out.backups.push_back({m->header, m->trailer.data_size});
  }
  return out;
}

Result<uint64_t> Store::CollectChunks() {
  // Every chunk a manifest names, read before the chunks are listed: a
  // chunk put after the listing belongs to no writer (the lock excludes
  // them) and none is put meanwhile.
  std::set<std::string> named;
  VSL_ASSIGN_OR_RETURN(std::vector<std::string> manifests, objects_->List(kManifestPrefix));
  for (const std::string& n : manifests) {
    std::string id = n.substr(sizeof kManifestPrefix - 1);
    if (!IsValidBackupId(id)) continue;
    VSL_ASSIGN_OR_RETURN(std::unique_ptr<ManifestReader> r, OpenManifest(id));
    while (true) {
      // A manifest that does not read keeps every chunk: nothing is removed
      // on a guess.
      Result<std::optional<Extent>> e = r->Next();
      if (!e.ok()) return e.status().Annotate("chunks not collected");
      if (!*e) break;
      if (!(*e)->zero) named.insert(ChunkObject((*e)->sha256));
    }
  }
  VSL_ASSIGN_OR_RETURN(std::vector<std::string> chunks, objects_->List(kChunkPrefix));
  uint64_t removed = 0;
  for (const std::string& c : chunks) {
    if (named.count(c)) continue;
    VSL_RETURN_IF_ERROR(objects_->Remove(c));
    removed++;
  }
  return removed;
}

Status Store::RemoveBackups(const std::vector<std::string>& order, std::vector<std::string>* deleted) {
  // Children first: a delete cut short never leaves a backup whose parent
  // is gone. The chunks go after the manifests (a chunk without a manifest
  // is garbage; a manifest without its chunks would be a broken backup).
  for (const std::string& d : order) {
    VSL_RETURN_IF_ERROR(objects_->Remove(ManifestObject(d)));
    deleted->push_back(d);
  }
  return CollectChunks().status();
}

}  // namespace vsl::backup
