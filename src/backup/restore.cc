// Reading backups back: Store::Verify and Store::Restore.
#include <fcntl.h>

#include <functional>
#include <vector>

#include "backup/chain.h"
#include "backup/store.h"

namespace vsl::backup {
namespace {

constexpr size_t kMaxReportedFailures = 100;

std::string ExtentName(const std::string& id, const Extent& e) {
  return "backup " + id + ": extent at offset " + std::to_string(e.offset) + " (" + std::to_string(e.length) +
         " bytes)";
}

// The data files of a chain, open, each as long as its manifest says.
Result<std::vector<Fd>> OpenDataFiles(const Store& store, const std::vector<ManifestSummary>& chain) {
  std::vector<Fd> fds;
  if (store.objects()) {  // a pool store reads chunk objects, not files
    fds.resize(chain.size());
    return fds;
  }
  for (const ManifestSummary& m : chain) {
    const std::string path = store.BackupPath(m.header.id) + "/data";
    Result<Fd> fd = OpenFile(path, O_RDONLY);
    if (!fd.ok()) return DataLoss("backup " + m.header.id + ": data: " + fd.status().message());
    VSL_ASSIGN_OR_RETURN(uint64_t size, SizeOf(fd->get(), path));
    if (size != m.trailer.data_size) {
      return DataLoss("backup " + m.header.id + ": the data file holds " + std::to_string(size) +
                      " bytes, its manifest says " + std::to_string(m.trailer.data_size));
    }
    fds.push_back(std::move(*fd));
  }
  return fds;
}

// Reads extent `e` of backup `m` into buf and checks it; OK, or DataLoss
// naming the backup and the extent.
Status ReadChecked(const Store& store, const ManifestSummary& m, int fd, const Extent& e, std::vector<uint8_t>& buf,
                   Sha256& sha) {
  if (const ObjectStore* objects = store.objects()) {
    Result<std::string> bytes = objects->Read(ChunkObject(e.sha256));
    if (!bytes.ok()) {
      if (bytes.status().code() != Code::kNotFound) return bytes.status().Annotate(ExtentName(m.header.id, e));
      return DataLoss(ExtentName(m.header.id, e) + ": its chunk object " + ChunkObject(e.sha256) + " is missing");
    }
    if (bytes->size() != e.length) {
      return DataLoss(ExtentName(m.header.id, e) + ": its chunk object holds " + std::to_string(bytes->size()) +
                      " bytes");
    }
    buf.assign(bytes->begin(), bytes->end());
  } else {
    buf.resize(e.length);
    Status s = PreadFull(fd, store.BackupPath(m.header.id) + "/data", e.data, buf);
    if (!s.ok()) return DataLoss(ExtentName(m.header.id, e) + ": " + s.message());
  }
  if (sha.Of(buf) != e.sha256) {
    return DataLoss(ExtentName(m.header.id, e) + ": checksum mismatch (the stored bytes are not the ones backed up)");
  }
  return Status::Ok();
}

}  // namespace

Result<VerifyReport> Store::Verify(const std::string& id) const {
  VSL_ASSIGN_OR_RETURN(std::vector<ManifestSummary> chain, Chain(id));
  VerifyReport report;
  auto fail = [&report](VerifyFailure f) {
    if (report.failures.size() < kMaxReportedFailures) report.failures.push_back(std::move(f));
    report.failure_count++;
  };
  std::vector<uint8_t> buf;
  Sha256 sha;
  for (const ManifestSummary& m : chain) {
    const std::string& bid = m.header.id;
    report.chain.push_back(bid);
    if (objects_) {
      VSL_RETURN_IF_ERROR(VerifyChunks(m, report, fail));
      continue;
    }
    const std::string path = BackupPath(bid) + "/data";
    Result<Fd> fd = OpenFile(path, O_RDONLY);
    if (!fd.ok()) {
      fail({bid, 0, m.header.disk_size, "data file: " + fd.status().message()});
      continue;
    }
    VSL_ASSIGN_OR_RETURN(uint64_t size, SizeOf(fd->get(), path));
    if (size != m.trailer.data_size) {
      fail({bid, 0, 0, "the data file holds " + std::to_string(size) + " bytes, its manifest says " +
                           std::to_string(m.trailer.data_size)});
    }
    VSL_ASSIGN_OR_RETURN(std::unique_ptr<ManifestReader> r, ManifestReader::Open(BackupPath(bid) + "/manifest", bid));
    while (true) {
      VSL_ASSIGN_OR_RETURN(std::optional<Extent> e, r->Next());
      if (!e) break;
      report.extents_checked++;
      if (e->zero) continue;
      Status s = ReadChecked(*this, m, fd->get(), *e, buf, sha);
      report.bytes_checked += e->length;
      if (!s.ok()) fail({bid, e->offset, e->length, s.message()});
    }
  }
  return report;
}

Status Store::VerifyChunks(const ManifestSummary& m, VerifyReport& report,
                           const std::function<void(VerifyFailure)>& fail) const {
  const std::string& bid = m.header.id;
  std::vector<uint8_t> buf;
  Sha256 sha;
  VSL_ASSIGN_OR_RETURN(std::unique_ptr<ManifestReader> r, OpenManifest(bid));
  while (true) {
    VSL_ASSIGN_OR_RETURN(std::optional<Extent> e, r->Next());
    if (!e) break;
    report.extents_checked++;
    if (e->zero) continue;
    Status s = ReadChecked(*this, m, -1, *e, buf, sha);
    report.bytes_checked += e->length;
    if (!s.ok()) fail({bid, e->offset, e->length, s.message()});
  }
  return Status::Ok();
}

Result<RestoreStats> Store::Restore(const std::string& id, Sink& sink) const {
  VSL_ASSIGN_OR_RETURN(std::vector<ManifestSummary> chain, Chain(id));
  VSL_ASSIGN_OR_RETURN(std::vector<Fd> data, OpenDataFiles(*this, chain));
  std::vector<uint8_t> buf;
  Sha256 sha;
  const uint64_t size = chain.back().header.disk_size;
  const std::string untouched = "; nothing was written to " + sink.name();

  // First pass: every extent the restore will write, read and checked.
  {
    VSL_ASSIGN_OR_RETURN(std::unique_ptr<ChainCursor> c, ChainCursor::Open(*this, chain));
    while (true) {
      Result<std::optional<ChainEntry>> next = c->Next();
      if (!next.ok()) return next.status().Annotate("restore of " + id + untouched);
      if (!*next) break;
      const ChainEntry& at = **next;
      if (at.extent.zero) continue;
      Status s = ReadChecked(*this, chain[at.member], data[at.member].get(), at.extent, buf, sha);
      if (!s.ok()) return Status(s.code(), s.message() + untouched);
    }
  }

  // Second pass: write. Each extent is checked again as it is written, in
  // case the store changed between the passes.
  RestoreStats stats;
  for (const ManifestSummary& m : chain) stats.chain.push_back(m.header.id);
  stats.disk_size = size;
  VSL_RETURN_IF_ERROR(sink.Prepare(size));
  const std::string partial = "; " + sink.name() + " is partly written";
  VSL_ASSIGN_OR_RETURN(std::unique_ptr<ChainCursor> c, ChainCursor::Open(*this, chain));
  uint64_t pos = 0;
  while (true) {
    Result<std::optional<ChainEntry>> next = c->Next();
    if (!next.ok()) return next.status().Annotate("restore of " + id + partial);
    if (!*next) break;
    const ChainEntry& at = **next;
    const Extent& e = at.extent;
    if (e.offset > pos) VSL_RETURN_IF_ERROR(sink.Zero(pos, e.offset - pos));
    if (e.zero) {
      VSL_RETURN_IF_ERROR(sink.Zero(e.offset, e.length));
    } else {
      Status s = ReadChecked(*this, chain[at.member], data[at.member].get(), e, buf, sha);
      if (!s.ok()) return Status(s.code(), s.message() + partial);
      VSL_RETURN_IF_ERROR(sink.Write(e.offset, buf));
      stats.extents_written++;
      stats.bytes_written += e.length;
    }
    pos = e.offset + e.length;
  }
  if (pos < size) VSL_RETURN_IF_ERROR(sink.Zero(pos, size - pos));
  VSL_RETURN_IF_ERROR(sink.Finish());
  return stats;
}

}  // namespace vsl::backup
