// The store's directory: open, list, chains, delete, leftovers.
#include "backup/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "util/names.h"

namespace vsl::backup {
namespace {

constexpr char kMarker[] = "vsl-backup-store";

std::string MarkerText() { return R"({"format":"vsl-backup-store","version":1})" "\n"; }

Result<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoError(dir, errno);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoError(path + ": mkdir", errno);
  return Status::Ok();
}

Status Initialize(const std::string& dir) {
  VSL_RETURN_IF_ERROR(MakeDir(dir + "/backups"));
  VSL_RETURN_IF_ERROR(MakeDir(dir + "/tmp"));
  std::string tmp = dir + "/" + kMarker + ".tmp";
  {
    VSL_ASSIGN_OR_RETURN(Fd fd, OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600));
    std::string text = MarkerText();
    VSL_RETURN_IF_ERROR(WriteAll(fd.get(), tmp, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size())));
    VSL_RETURN_IF_ERROR(Fsync(fd.get(), tmp));
    VSL_RETURN_IF_ERROR(fd.Close(tmp));
  }
  if (::rename(tmp.c_str(), (dir + "/" + kMarker).c_str()) != 0) return ErrnoError(tmp + ": rename", errno);
  return FsyncDir(dir);
}

Status CheckMarker(const std::string& dir) {
  std::string path = dir + "/" + kMarker;
  VSL_ASSIGN_OR_RETURN(Fd fd, OpenFile(path, O_RDONLY));
  char buf[256];
  ssize_t n = ::read(fd.get(), buf, sizeof buf);
  if (n < 0) return ErrnoError(path, errno);
  auto j = nlohmann::json::parse(std::string_view(buf, static_cast<size_t>(n)), nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != "vsl-backup-store") {
    return InvalidArgument(path + ": not a vsl backup store marker");
  }
  if (j.value("version", 0) != kFormatVersion) {
    return InvalidArgument(path + ": store version " + Printable(j["version"].dump()) + ", this vsl reads " +
                           std::to_string(kFormatVersion));
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& dir, const OpenOptions& options) {
  if (dir.empty()) return InvalidArgument("backup store: no directory given");
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT || !options.create) return ErrnoError("backup store " + dir, errno);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoError("backup store " + dir + ": mkdir", errno);
  } else if (!S_ISDIR(st.st_mode)) {
    return InvalidArgument("backup store " + dir + ": not a directory");
  }
  if (!Exists(dir + "/" + kMarker)) {
    VSL_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
    if (!options.create || !names.empty()) {
      return InvalidArgument("backup store " + dir + ": not a vsl backup store (no " + kMarker + " file)" +
                             (options.create ? " and not empty" : ""));
    }
    VSL_RETURN_IF_ERROR(Initialize(dir));
  }
  VSL_RETURN_IF_ERROR(CheckMarker(dir));
  for (const char* sub : {"backups", "tmp"}) {
    if (!Exists(dir + "/" + sub)) return DataLoss("backup store " + dir + ": " + sub + "/ is missing");
  }
  std::unique_ptr<Store> s(new Store(dir));
  s->FindLeftovers(options.clean);
  return s;
}

void Store::FindLeftovers(bool clean) {
  Result<std::vector<std::string>> names = ListDir(dir_ + "/tmp");
  if (!names.ok()) {
    leftovers_.push_back({"tmp/", false, names.status().message()});
    return;
  }
  if (names->empty()) return;
  Fd lock;
  bool exclusive = false;
  std::string why = "not cleaned (opened without cleanup)";
  if (clean) {
    Result<Fd> l = OpenFile(dir_ + "/lock", O_RDWR | O_CREAT, 0600);
    if (!l.ok()) {
      why = l.status().message();
    } else if (::flock(l->get(), LOCK_EX | LOCK_NB) == 0) {
      lock = std::move(*l);
      exclusive = true;
    } else {
      why = "a backup is being written or deleted now";
    }
  }
  for (const std::string& n : *names) {
    Leftover left{n, false, why};
    bool ours = n.size() > 4 && IsValidBackupId(n.substr(0, n.size() - 4)) &&
                (n.ends_with(".new") || n.ends_with(".del"));
    if (!ours) {
      left.note = "not a name the store makes; left alone";
    } else if (exclusive) {
      Status r = RemoveTree(dir_ + "/tmp/" + n);
      left.removed = r.ok();
      left.note = r.ok() ? (n.ends_with(".new") ? "an interrupted backup, removed" : "an interrupted delete, finished")
                         : r.message();
    }
    leftovers_.push_back(std::move(left));
  }
  if (exclusive) (void)FsyncDir(dir_ + "/tmp");
}

Status Store::CheckId(const std::string& id) const {
  if (!IsValidBackupId(id)) {
    return InvalidArgument("'" + Printable(id) + "' is not a backup id (YYYYMMDDTHHMMSSZ-xxxxxxxx)");
  }
  if (objects_) {
    VSL_ASSIGN_OR_RETURN(bool there, objects_->Exists(ManifestObject(id)));
    if (!there) return NotFound("backup " + id + " is not in the store " + name_);
    return Status::Ok();
  }
  if (!Exists(BackupPath(id))) return NotFound("backup " + id + " is not in the store " + dir_);
  return Status::Ok();
}

Result<std::unique_ptr<ManifestReader>> Store::OpenManifest(const std::string& id) const {
  if (!objects_) return ManifestReader::Open(BackupPath(id) + "/manifest", id);
  Result<std::string> bytes = objects_->Read(ManifestObject(id));
  if (!bytes.ok()) return IoError("backup " + id + ": manifest: " + bytes.status().message());
  return ManifestReader::FromBytes(std::move(*bytes), id);
}

Result<ManifestSummary> Store::ReadSummary(const std::string& id) const {
  VSL_ASSIGN_OR_RETURN(std::unique_ptr<ManifestReader> r, OpenManifest(id));
  return ReadManifest(std::move(r));
}

Result<Listing> Store::List() const {
  Listing out;
  if (objects_) {
    VSL_ASSIGN_OR_RETURN(out, PoolList());
  } else {
    VSL_ASSIGN_OR_RETURN(out, DirList());
  }
  return SortListing(std::move(out));
}

Result<Listing> Store::DirList() const {
  VSL_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir_ + "/backups"));
  Listing out;
  for (const std::string& n : names) {
    if (!IsValidBackupId(n)) {
      out.skipped.push_back("backups/" + Printable(n) + ": not a backup id; ignored");
      continue;
    }
    Result<std::unique_ptr<ManifestReader>> r = ManifestReader::Open(BackupPath(n) + "/manifest", n);
    if (!r.ok()) {
      out.skipped.push_back(r.status().message());
      continue;
    }
    ListedBackup b{(*r)->header(), 0};
    struct stat st;
    if (::stat((BackupPath(n) + "/data").c_str(), &st) == 0) b.stored_bytes = static_cast<uint64_t>(st.st_size);
    out.backups.push_back(std::move(b));
  }
  return out;
}

Listing SortListing(Listing out) {
  // Times have whole seconds: within one, a parent comes before its child
  // (its depth in the chain is smaller).
  std::map<std::string, std::string> parent;
  for (const ListedBackup& b : out.backups) {
    if (b.header.parent) parent[b.header.id] = *b.header.parent;
  }
  auto depth = [&parent](std::string id) {
    size_t d = 0;
    for (auto it = parent.find(id); it != parent.end() && d <= kMaxChainLength; it = parent.find(it->second)) d++;
    return d;
  };
  std::vector<std::pair<size_t, ListedBackup>> keyed;
  for (ListedBackup& b : out.backups) keyed.push_back({depth(b.header.id), std::move(b)});
  std::sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) {
    return std::tie(a.second.header.created, a.first, a.second.header.id) <
           std::tie(b.second.header.created, b.first, b.second.header.id);
  });
  out.backups.clear();
  for (auto& [d, b] : keyed) out.backups.push_back(std::move(b));
  return out;
}

Result<ManifestSummary> Store::Show(const std::string& id) const {
  VSL_RETURN_IF_ERROR(CheckId(id));
  return ReadSummary(id);
}

Result<std::vector<ManifestSummary>> Store::Chain(const std::string& id) const {
  std::vector<ManifestSummary> chain;
  std::set<std::string> seen;
  std::string at = id;
  while (true) {
    if (chain.size() >= kMaxChainLength) {
      return FailedPrecondition("backup " + id + ": its chain is longer than " + std::to_string(kMaxChainLength) +
                                " backups; restore needs a level 0 nearer to it");
    }
    Status s = CheckId(at);
    if (!s.ok()) {
      if (at == id) return s;
      return DataLoss("backup " + chain.back().header.id + ": its parent " + at + " is not in the store");
    }
    VSL_ASSIGN_OR_RETURN(ManifestSummary m, ReadSummary(at));
    if (!chain.empty()) {
      const BackupHeader& child = chain.back().header;
      const BackupHeader& p = m.header;
      std::string pre = "backup " + child.id + " and its parent " + p.id + ": ";
      if (p.disk != child.disk) return DataLoss(pre + "different disks (" + p.disk + ", " + child.disk + ")");
      if (p.disk_size != child.disk_size) return DataLoss(pre + "different disk sizes");
      if (p.chunk_size != child.chunk_size) return DataLoss(pre + "different chunk sizes");
      if (p.created > child.created) return DataLoss(pre + "the parent is younger than its child");
    }
    seen.insert(at);
    std::optional<std::string> parent = m.header.parent;
    chain.push_back(std::move(m));
    if (!parent) break;
    if (seen.count(*parent)) return DataLoss("backup " + at + ": its parents form a loop at " + *parent);
    at = *parent;
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

Result<std::vector<std::string>> Store::Delete(const std::string& id, bool with_descendants) {
  VSL_RETURN_IF_ERROR(CheckId(id));
  Fd lock;
  std::unique_ptr<ObjectLock> olock;
  if (objects_) {
    Result<std::unique_ptr<ObjectLock>> l = objects_->Lock(ObjectStore::LockMode::kExclusive);
    if (!l.ok()) {
      if (l.status().code() != Code::kUnavailable) return l.status();
      return Unavailable("backup store " + name_ + ": a backup is being written; delete when it is done");
    }
    olock = std::move(*l);
  } else {
    VSL_ASSIGN_OR_RETURN(lock, OpenFile(dir_ + "/lock", O_RDWR | O_CREAT, 0600));
    if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
      return Unavailable("backup store " + dir_ + ": a backup is being written; delete when it is done");
    }
  }
  // Who has whom as parent: every header, read under the exclusive lock so
  // no new child can appear meanwhile.
  VSL_ASSIGN_OR_RETURN(Listing all, List());
  std::map<std::string, std::vector<std::string>> children;
  for (const ListedBackup& b : all.backups) {
    if (b.header.parent) children[*b.header.parent].push_back(b.header.id);
  }
  // Depth-first, children before their parent: a delete cut short never
  // leaves a backup whose parent is gone.
  std::vector<std::string> order;
  std::set<std::string> visited;
  std::vector<std::pair<std::string, bool>> stack = {{id, false}};
  while (!stack.empty()) {
    auto [at, expanded] = stack.back();
    stack.pop_back();
    if (expanded) {
      order.push_back(at);
      continue;
    }
    if (!visited.insert(at).second) continue;
    stack.push_back({at, true});
    for (const std::string& c : children[at]) stack.push_back({c, false});
  }
  if (order.size() > 1 && !with_descendants) {
    const std::vector<std::string>& kids = children[id];
    return FailedPrecondition("backup " + id + " is the parent of " + kids.front() +
                              (order.size() > 2 ? " (and " + std::to_string(order.size() - 2) + " more)" : "") +
                              "; delete those first, or the whole chain from this backup on");
  }
  std::vector<std::string> deleted;
  if (objects_) {
    VSL_RETURN_IF_ERROR(RemoveBackups(order, &deleted));
    return deleted;
  }
  for (const std::string& d : order) {
    std::string gone = dir_ + "/tmp/" + d + ".del";
    if (::rename(BackupPath(d).c_str(), gone.c_str()) != 0) return ErrnoError("backup " + d + ": rename", errno);
    VSL_RETURN_IF_ERROR(FsyncDir(dir_ + "/backups"));
    VSL_RETURN_IF_ERROR(RemoveTree(gone));
    deleted.push_back(d);
  }
  VSL_RETURN_IF_ERROR(FsyncDir(dir_ + "/tmp"));
  return deleted;
}

}  // namespace vsl::backup
