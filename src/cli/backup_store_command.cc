// `vsl backup-store list|show|verify|restore|create|delete STORE ...`: the
// backup store (a directory, or rados:POOL[/NAMESPACE]) read and written
// directly (docs/backup.md), with no catalog and no `vsl serve`: what an
// operator has when everything else is lost.
#include <sys/stat.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backup/incremental.h"
#include "backup/store.h"
#include "cli/api_client.h"
#include "cli/commands.h"
#include "util/crash_point.h"

namespace vsl::cli {
namespace {

using backup::Store;
using Json = nlohmann::json;

struct Args {
  std::string dir, store_opt, ceph_conf, ceph_user, keyring, id, out, disk_file, changed, parent, disk, farm, server, chunk_size = "64KiB";
  int level = 0;
  bool json = false, force = false, chain = false, test_faults = false;
  bool chunk_given = false;  // --chunk-size was on the command line
};

// Opens the store (a directory, or rados:POOL[/NAMESPACE] with the Ceph
// options); says on stderr what it found left over (and removed).
Result<std::unique_ptr<Store>> OpenStore(const std::string& what, const Args& a, bool create) {
  const std::string& dir = a.dir;
  if (dir.starts_with("rados:")) {
    backup::RadosTarget t;
    VSL_RETURN_IF_ERROR(backup::ParseRadosSpec(dir, &t));
    if (a.ceph_conf.empty() || a.ceph_user.empty()) {
      return InvalidArgument(dir + ": a pool store needs --ceph-conf and --ceph-user (and --keyring unless the "
                                   "conf names one)");
    }
    t.conf = a.ceph_conf;
    t.user = a.ceph_user;
    t.keyring = a.keyring;
    VSL_ASSIGN_OR_RETURN(std::unique_ptr<backup::ObjectStore> objects, backup::OpenRadosObjects(t));
    VSL_ASSIGN_OR_RETURN(std::unique_ptr<Store> s, Store::OpenPool(std::move(objects), {.create = create}, ""));
    for (const backup::Leftover& l : s->leftovers()) {
      fprintf(stderr, "vsl %s: note: %s: %s: %s\n", what.c_str(), dir.c_str(), l.name.c_str(), l.note.c_str());
    }
    return s;
  }
  if (!a.ceph_conf.empty() || !a.ceph_user.empty() || !a.keyring.empty()) {
    return InvalidArgument("--ceph-conf, --ceph-user and --keyring are for a rados:POOL store, not the directory " +
                           dir);
  }
  VSL_ASSIGN_OR_RETURN(std::unique_ptr<Store> s, Store::Open(dir, {.create = create}));
  for (const backup::Leftover& l : s->leftovers()) {
    fprintf(stderr, "vsl %s: note: %s/tmp/%s: %s\n", what.c_str(), dir.c_str(), l.name.c_str(), l.note.c_str());
  }
  return s;
}

Json HeaderJson(const backup::BackupHeader& h) {
  return {{"id", h.id},
          {"disk", h.disk},
          {"farm", h.farm},
          {"server", h.server},
          {"level", h.level},
          {"created", h.created},
          {"parent", h.parent ? Json(*h.parent) : Json(nullptr)},
          {"disk_size", h.disk_size},
          {"chunk_size", h.chunk_size}};
}

std::string Dash(const std::string& s) { return s.empty() ? "-" : s; }

std::string Percent(uint64_t part, uint64_t whole) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.2f %%", whole ? 100.0 * double(part) / double(whole) : 0.0);
  return buf;
}

Status List(const Args& a) {
  VSL_ASSIGN_OR_RETURN(auto store, OpenStore("backup-store list", a, false));
  VSL_ASSIGN_OR_RETURN(backup::Listing l, store->List());
  for (const std::string& s : l.skipped) fprintf(stderr, "vsl backup-store list: skipped: %s\n", s.c_str());
  if (a.json) {
    Json out = Json::array();
    for (const auto& b : l.backups) {
      Json j = HeaderJson(b.header);
      j["stored_bytes"] = b.stored_bytes;
      out.push_back(j);
    }
    printf("%s\n", Json{{"backups", out}}.dump(2).c_str());
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& b : l.backups) {
    const auto& h = b.header;
    rows.push_back({h.id, std::to_string(h.level), h.parent.value_or("-"), h.disk, Dash(h.farm), Dash(h.server),
                    h.created, HumanSize(h.disk_size), HumanSize(b.stored_bytes)});
  }
  PrintTable({"ID", "LEVEL", "PARENT", "DISK", "FARM", "SERVER", "CREATED", "DISK SIZE", "STORED"}, rows);
  return Status::Ok();
}

Status Show(const Args& a) {
  VSL_ASSIGN_OR_RETURN(auto store, OpenStore("backup-store show", a, false));
  VSL_ASSIGN_OR_RETURN(backup::ManifestSummary m, store->Show(a.id));
  VSL_ASSIGN_OR_RETURN(auto chain, store->Chain(a.id));
  Json j = HeaderJson(m.header);
  j["extents"] = m.trailer.extents;
  j["zero_extents"] = m.zero_extents;
  j["stored_bytes"] = m.trailer.data_size;
  j["manifest_sha256"] = backup::ToHex(m.trailer.manifest_sha256);
  j["chain"] = Json::array();
  for (const auto& c : chain) j["chain"].push_back(c.header.id);
  if (a.json) return printf("%s\n", j.dump(2).c_str()), Status::Ok();
  const auto& h = m.header;
  printf("id: %s\nlevel: %d\nparent: %s\ndisk: %s\nfarm: %s\nserver: %s\ncreated: %s\n", h.id.c_str(), h.level,
         h.parent.value_or("-").c_str(), h.disk.c_str(), Dash(h.farm).c_str(), Dash(h.server).c_str(),
         h.created.c_str());
  printf("disk size: %s (%llu bytes)\nchunk size: %llu\n", HumanSize(h.disk_size).c_str(),
         (unsigned long long)h.disk_size, (unsigned long long)h.chunk_size);
  printf("extents: %llu (%llu of zeros)\nstored: %s (%llu bytes, %s of the disk)\n",
         (unsigned long long)m.trailer.extents, (unsigned long long)m.zero_extents,
         HumanSize(m.trailer.data_size).c_str(), (unsigned long long)m.trailer.data_size,
         Percent(m.trailer.data_size, h.disk_size).c_str());
  printf("manifest sha256: %s\n", backup::ToHex(m.trailer.manifest_sha256).c_str());
  std::string ids;
  for (const auto& c : chain) ids += (ids.empty() ? "" : " ") + c.header.id;
  printf("chain: %s\n", ids.c_str());
  return Status::Ok();
}

Status Verify(const Args& a) {
  VSL_ASSIGN_OR_RETURN(auto store, OpenStore("backup-store verify", a, false));
  VSL_ASSIGN_OR_RETURN(backup::VerifyReport r, store->Verify(a.id));
  if (a.json) {
    Json f = Json::array();
    for (const auto& x : r.failures) {
      f.push_back({{"backup", x.backup}, {"offset", x.offset}, {"length", x.length}, {"error", x.what}});
    }
    printf("%s\n", Json{{"id", a.id}, {"chain", r.chain}, {"extents_checked", r.extents_checked},
                        {"bytes_checked", r.bytes_checked}, {"failure_count", r.failure_count}, {"failures", f}}
                       .dump(2)
                       .c_str());
  } else {
    for (const auto& x : r.failures) printf("FAIL %s\n", x.what.c_str());
    if (r.failure_count > r.failures.size()) {
      printf("... and %llu more\n", (unsigned long long)(r.failure_count - r.failures.size()));
    }
    printf("backup %s: %llu extents (%s) checked in a chain of %zu: %s\n", a.id.c_str(),
           (unsigned long long)r.extents_checked, HumanSize(r.bytes_checked).c_str(), r.chain.size(),
           r.ok() ? "ok" : (std::to_string(r.failure_count) + " failed").c_str());
  }
  if (!r.ok()) return DataLoss("backup " + a.id + ": " + std::to_string(r.failure_count) + " extent(s) failed");
  return Status::Ok();
}

Status Restore(const Args& a) {
  VSL_ASSIGN_OR_RETURN(auto store, OpenStore("backup-store restore", a, false));
  struct stat st;
  if (!a.force && ::stat(a.out.c_str(), &st) == 0 && (S_ISBLK(st.st_mode) || st.st_size > 0)) {
    return InvalidArgument(a.out + ": exists and is not empty; --force replaces its content");
  }
  backup::FileSink sink(a.out);
  VSL_ASSIGN_OR_RETURN(backup::RestoreStats r, store->Restore(a.id, sink));
  if (a.json) {
    printf("%s\n", Json{{"id", a.id}, {"to", a.out}, {"chain", r.chain}, {"disk_size", r.disk_size},
                        {"extents_written", r.extents_written}, {"bytes_written", r.bytes_written}}
                       .dump(2)
                       .c_str());
  } else {
    printf("restored %s (a chain of %zu) to %s: %s disk, %s of data written\n", a.id.c_str(), r.chain.size(),
           a.out.c_str(), HumanSize(r.disk_size).c_str(), HumanSize(r.bytes_written).c_str());
  }
  return Status::Ok();
}

// "OFFSET LENGTH" per line, in bytes; blank lines and # comments skipped.
Result<std::vector<backup::ByteRange>> ReadChanged(const std::string& path) {
  std::ifstream in(path);
  if (!in) return InvalidArgument("--changed " + path + ": cannot be read");
  std::vector<backup::ByteRange> out;
  std::string line;
  for (int n = 1; std::getline(in, line); n++) {
    size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::vector<uint64_t> fields;
    const char* p = line.data();
    const char* end = p + line.size();
    bool bad = false;
    while (p < end && !bad) {
      if (*p == ' ' || *p == '\t' || *p == '\r') {
        p++;
        continue;
      }
      uint64_t v = 0;
      auto r = std::from_chars(p, end, v);
      bad = r.ec != std::errc{} || (r.ptr < end && *r.ptr != ' ' && *r.ptr != '\t' && *r.ptr != '\r');
      fields.push_back(v);
      p = r.ptr;
    }
    if (fields.empty() && !bad) continue;
    if (bad || fields.size() != 2) {
      return InvalidArgument("--changed " + path + ":" + std::to_string(n) +
                             ": expected \"OFFSET LENGTH\", two numbers of bytes");
    }
    out.push_back({fields[0], fields[1]});
  }
  return out;
}

Status Create(const Args& a) {
  if (a.test_faults) VSL_RETURN_IF_ERROR(util::ArmCrashPoints(getenv("VSL_CRASH_AT") ? getenv("VSL_CRASH_AT") : ""));
  if (a.level == 0 && (!a.parent.empty() || !a.changed.empty())) {
    return InvalidArgument("--parent and --changed are for --level 1");
  }
  if (a.level == 1 && a.parent.empty()) return InvalidArgument("--level 1 needs --parent ID");
  VSL_ASSIGN_OR_RETURN(uint64_t chunk, ParseSizeArg(a.chunk_size));
  std::vector<backup::ByteRange> changed;
  if (!a.changed.empty()) {
    VSL_ASSIGN_OR_RETURN(changed, ReadChanged(a.changed));
  }
  VSL_ASSIGN_OR_RETURN(auto src, backup::FileSource::Open(a.disk_file));
  VSL_ASSIGN_OR_RETURN(auto store, OpenStore("backup-store create", a, true));
  backup::BackupSpec spec;
  spec.disk = a.disk.empty() ? a.disk_file.substr(a.disk_file.rfind('/') + 1) : a.disk;
  spec.farm = a.farm;
  spec.server = a.server;
  spec.level = a.level;
  if (!a.parent.empty()) spec.parent = a.parent;
  spec.disk_size = src->size();
  spec.chunk_size = chunk;
  if (a.level == 1 && !a.chunk_given) {
    // A level 1 takes its parent's chunk size.
    Result<backup::ManifestSummary> p = store->Show(a.parent);
    if (!p.ok()) return p.status().Annotate("--parent");
    spec.chunk_size = p->header.chunk_size;
  }
  VSL_ASSIGN_OR_RETURN(auto w, store->Begin(spec));
  Result<backup::FillStats> f = a.level == 0       ? backup::FillFull(*w, *src)
                                : !a.changed.empty() ? backup::FillChangedRanges(*w, *src, changed)
                                                     : backup::FillChangedByChecksum(*store, *w, *src);
  if (!f.ok()) return f.status();
  VSL_ASSIGN_OR_RETURN(backup::ListedBackup done, w->Commit());
  const char* how = a.level == 0 ? "full" : a.changed.empty() ? "by checksum" : "from the changed ranges";
  if (a.json) {
    Json j = HeaderJson(done.header);
    j["method"] = how;
    j["chunks"] = f->chunks;
    j["chunks_read"] = f->chunks_read;
    j["chunks_unchanged"] = f->chunks_unchanged;
    j["extents"] = f->extents;
    j["zero_extents"] = f->zero_extents;
    j["stored_bytes"] = f->data_bytes;
    printf("%s\n", j.dump(2).c_str());
  } else {
    printf("backup %s: level %d (%s) of %s: %llu extents (%llu of zeros), %s stored (%s of the disk); %llu of %llu "
           "chunks read\n",
           done.header.id.c_str(), a.level, how, spec.disk.c_str(), (unsigned long long)f->extents,
           (unsigned long long)f->zero_extents, HumanSize(f->data_bytes).c_str(),
           Percent(f->data_bytes, spec.disk_size).c_str(), (unsigned long long)f->chunks_read,
           (unsigned long long)f->chunks);
  }
  return Status::Ok();
}

Status Delete(const Args& a) {
  VSL_ASSIGN_OR_RETURN(auto store, OpenStore("backup-store delete", a, false));
  VSL_ASSIGN_OR_RETURN(std::vector<std::string> gone, store->Delete(a.id, a.chain));
  if (a.json) return printf("%s\n", Json{{"deleted", gone}}.dump(2).c_str()), Status::Ok();
  for (const std::string& g : gone) printf("deleted %s\n", g.c_str());
  return Status::Ok();
}

using Fn = Status (*)(const Args&);

// `positionals`: the names the command takes after STORE ("ID", "ID OUT").
// STORE is the first positional, or --store (then the others move up one).
CLI::App* Leaf(CLI::App* group, const char* name, const char* help, Fn fn, RunFn* run,
               const std::shared_ptr<Args>& args, std::vector<std::string> positionals = {}) {
  CLI::App* c = group->add_subcommand(name, help);
  std::string what = std::string("backup-store ") + name;
  c->add_option("store", args->dir, "the store: its directory, or rados:POOL[/NAMESPACE] (docs/backup.md)");
  c->add_option("--store", args->store_opt, "the store, given as an option (then STORE is left out)");
  c->add_option("--ceph-conf", args->ceph_conf, "a rados: store: the cluster's ceph.conf");
  c->add_option("--ceph-user", args->ceph_user, "a rados: store: the cephx user, without \"client.\"");
  c->add_option("--keyring", args->keyring, "a rados: store: the user's keyring (default: as the conf says)");
  c->add_flag("--json", args->json, "print JSON");
  c->callback([run, fn, args, what, positionals] {
    *run = [fn, args, what, positionals] {
      if (!args->store_opt.empty()) {
        if (!args->out.empty() || (positionals.size() < 2 && !args->id.empty()) ||
            (positionals.empty() && !args->dir.empty())) {
          return Fail(what, InvalidArgument("--store and a STORE argument: give the store once"));
        }
        args->out = args->id;
        args->id = args->dir;
        args->dir = args->store_opt;
      }
      std::vector<std::pair<std::string, const std::string*>> need = {{"STORE (or --store)", &args->dir}};
      if (positionals.size() > 0) need.push_back({positionals[0], &args->id});
      if (positionals.size() > 1) need.push_back({positionals[1], &args->out});
      for (const auto& [label, value] : need) {
        if (value->empty()) return Fail(what, InvalidArgument(label + " is required"));
      }
      Status s = fn(*args);
      return s.ok() ? kExitOk : Fail(what, s);
    };
  });
  return c;
}

}  // namespace

void AddBackupStoreCommands(CLI::App& app, RunFn* run) {
  auto args = std::make_shared<Args>();
  CLI::App* g = app.add_subcommand(
      "backup-store",
      "a backup store read and written directly, without vsl serve or a catalog (docs/backup.md)");
  g->require_subcommand(1);
  Leaf(g, "list", "list the complete backups", List, run, args);
  Leaf(g, "show", "show one backup's manifest and its chain", Show, run, args, {"ID"})
      ->add_option("id", args->id, "backup id");
  Leaf(g, "verify", "re-read every extent of a backup and its chain and check every checksum", Verify, run, args,
       {"ID"})
      ->add_option("id", args->id, "backup id");
  CLI::App* r = Leaf(g, "restore",
                     "write the disk as it was at a backup's point in time (its chain applied; every checksum "
                     "checked before OUT is touched)",
                     Restore, run, args, {"ID", "OUT"});
  r->add_option("id", args->id, "backup id");
  r->add_option("out", args->out, "a file (made, or replaced with --force) or a block device (--force)");
  r->add_flag("--force", args->force, "replace the content of an existing file or device");
  CLI::App* c = Leaf(g, "create", "back up a raw disk file or block device into the store (made if missing)",
                     Create, run, args);
  c->add_option("--disk-file", args->disk_file, "the disk: a raw file or a block device")->required();
  c->add_option("--level", args->level, "0: full; 1: changes since --parent")->check(CLI::IsMember({0, 1}));
  c->add_option("--parent", args->parent, "level 1: the backup it follows (any level)");
  c->add_option("--changed", args->changed,
                "level 1: a file of changed ranges (\"OFFSET LENGTH\" per line, bytes); without it each chunk's "
                "checksum is compared with the parent chain's");
  c->add_option("--disk", args->disk, "the disk's name in the manifest (default: the file's name)");
  c->add_option("--farm", args->farm, "the farm, for the manifest");
  c->add_option("--server", args->server, "the server, for the manifest");
  c->add_option("--chunk-size", args->chunk_size,
                "chunk size, a power of two from 4KiB to 16MiB (a level 1: its parent's)")
      ->capture_default_str()
      ->each([args](const std::string&) { args->chunk_given = true; });
  c->add_flag("--test-faults", args->test_faults, "arm the crash points in $VSL_CRASH_AT (test suites only)");
  CLI::App* d = Leaf(g, "delete", "delete a backup (refused while another has it as parent, unless --chain)",
                     Delete, run, args, {"ID"});
  d->add_option("id", args->id, "backup id");
  d->add_flag("--chain", args->chain, "also delete every backup built on it");
}

}  // namespace vsl::cli
