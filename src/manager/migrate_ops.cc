// Live migration between qualities (docs/migration.md, "The request").
//
// The order of things is what makes a SIGKILL at any point harmless:
//   allocate (tagged by request) -> grant -> copy (the gateway, or here) ->
//   ONE transaction: new members in, old members out -> revoke, scrub, free.
// Before the transaction the old members are the disk and untouched; the
// new ones are volumes Allocated by this request, which a re-run finds and
// copies onto again. After it the new members are the disk (the copy was
// whole and flushed, with the host's writes held); the old ones carry the
// request's id, so a re-run finds them and finishes freeing them.
#include <chrono>
#include <optional>
#include <set>

#include "catalog/request_queue.h"
#include "manager/operations.h"
#include "util/crash_point.h"

namespace vsl::manager {

using catalog::Actor;
using catalog::Tx;
using catalog::Volume;
using catalog::VolumeUpdate;

namespace {

bool Has(const catalog::Qualities& have, const catalog::Qualities& want) {
  for (auto& [k, v] : want) {
    auto it = have.find(k);
    if (it == have.end() || it->second != v) return false;
  }
  return true;
}

std::string Text(const catalog::Qualities& q) {
  std::string s;
  for (auto& [k, v] : q) s += (s.empty() ? "" : ",") + k + "=" + v;
  return s;
}

std::string Ids(const std::vector<Operations::Member>& ms) {
  std::string s;
  for (const auto& m : ms) s += (s.empty() ? "" : ",") + std::to_string(m.volume.id);
  return s;
}

Json IdList(const std::vector<Operations::Member>& ms) {
  Json a = Json::array();
  for (const auto& m : ms) a.push_back(m.volume.id);
  return a;
}

uint64_t Total(const std::vector<Operations::Member>& ms) {
  uint64_t n = 0;
  for (const auto& m : ms) n += m.volume.size;
  return n;
}

}  // namespace

Result<std::vector<int64_t>> Operations::MigrateCleanup(int64_t unit, const Actor& actor) {
  std::vector<int64_t> ids;
  if (!actor.request_id) return ids;
  std::vector<Member> left;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    left.clear();
    catalog::VolumeFilter mine;
    mine.request_id = actor.request_id;
    VSL_ASSIGN_OR_RETURN(auto vols, catalog_->ListVolumes(tx, mine));
    for (Volume& v : vols) {
      // The destinations still waiting for their copy are Allocated; the
      // unit's members are in use.
      if (v.type == "meta" || v.parent_id == unit || v.id == unit) continue;
      if (v.state == DiskState::kFree || v.state == DiskState::kAllocated) continue;
      VSL_ASSIGN_OR_RETURN(auto m, Resolve(tx, v));
      left.insert(left.end(), m.begin(), m.end());
    }
    return Status::Ok();
  }));
  (void)RevokeAll(left);
  for (const Member& m : left) {
    Status s = FreeSingle(m.volume.id, actor);
    if (!s.ok())
      return s.Annotate("migrate of volume " + std::to_string(unit) + ": freeing volume " +
                        std::to_string(m.volume.id));
    ids.push_back(m.volume.id);
  }
  return ids;
}

Result<std::vector<int64_t>> Operations::MigrateRepair(const Volume& unit,
                                                       const std::vector<Member>& members,
                                                       uint64_t rate, const Actor& actor) {
  std::vector<int64_t> ids;
  // The request that made the members: all of them carry its id.
  std::optional<int64_t> req = members.empty() ? std::nullopt : members.front().volume.request_id;
  for (const Member& m : members) {
    if (m.volume.request_id != req) req.reset();
  }
  if (!req) return ids;
  std::vector<Member> kept;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    kept.clear();
    catalog::VolumeFilter mine;
    mine.request_id = req;
    VSL_ASSIGN_OR_RETURN(auto vols, catalog_->ListVolumes(tx, mine));
    for (Volume& v : vols) {
      if (v.type == "meta" || v.parent_id) continue;
      if (v.state != DiskState::kUnbound && v.state != DiskState::kUnconfigured &&
          v.state != DiskState::kScrubbing)
        continue;
      VSL_ASSIGN_OR_RETURN(auto m, Resolve(tx, v));
      kept.insert(kept.end(), m.begin(), m.end());
    }
    return Status::Ok();
  }));
  if (kept.empty()) return ids;
  const std::string what = "migrate of volume " + std::to_string(unit.id);
  if (unit.state == DiskState::kMapped) {
    // Does the gateway still serve an old member? Then it moves now.
    auto served = target_->MappedVolume(std::to_string(unit.id));
    if (!served) {
      return FailedPrecondition(
          what + ": the switch of request " + std::to_string(*req) +
          " was recorded, but this process's gateway does not serve the unit, so the old "
          "members " +
          Ids(kept) + " are kept");
    }
    VSL_ASSIGN_OR_RETURN(auto old_extents, Extents(kept));
    std::set<std::string> old_paths;
    for (const auto& e : old_extents) old_paths.insert(e.path);
    bool on_old = false;
    for (const auto& e : served->extents()) on_old = on_old || old_paths.count(e.path) > 0;
    if (on_old) {
      VSL_ASSIGN_OR_RETURN(auto to, Extents(members));
      MigrateOptions o;
      o.bytes_per_second = rate;
      auto r = target_->Migrate(std::to_string(unit.id), to, o);
      if (!r.ok()) {
        return r.status().Annotate(what + ": the switch of request " + std::to_string(*req) +
                                   " was recorded, the gateway still serves the old members " +
                                   Ids(kept) + " and did not switch again");
      }
      (void)catalog_->Write([&](Tx& tx) {
        return catalog_->AppendEvent(
            tx, catalog::Event{0, "volume", unit.id, "", "", "migrate-repair", actor.name,
                               actor.request_id, 0,
                               "the gateway moved onto members " + Ids(members) +
                                   " (recorded by request " + std::to_string(*req) + ")"});
      });
    }
  }
  (void)RevokeAll(kept);
  for (const Member& m : kept) {
    Status f = FreeSingle(m.volume.id, Actor{actor.name, req});
    if (!f.ok()) return f.Annotate(what + ": freeing old member " + std::to_string(m.volume.id));
    ids.push_back(m.volume.id);
  }
  return ids;
}

Result<std::vector<int64_t>> Operations::MigrateGiveBack(int64_t request_id, const Actor& actor) {
  std::vector<int64_t> ids;
  std::vector<Member> left;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    left.clear();
    catalog::VolumeFilter mine;
    mine.request_id = request_id;
    VSL_ASSIGN_OR_RETURN(auto vols, catalog_->ListVolumes(tx, mine));
    for (Volume& v : vols) {
      // A destination not (or no longer) in a unit; a unit's members, the
      // old members the switch kept unbound, and free volumes stay.
      if (v.type == "meta" || v.parent_id) continue;
      if (v.state != DiskState::kAllocated && v.state != DiskState::kUnconfigured &&
          v.state != DiskState::kScrubbing)
        continue;
      VSL_ASSIGN_OR_RETURN(auto m, Resolve(tx, v));
      left.insert(left.end(), m.begin(), m.end());
    }
    return Status::Ok();
  }));
  if (left.empty()) return ids;
  (void)RevokeAll(left);
  const std::string why = "given back: migrate request " + std::to_string(request_id) + " failed";
  VSL_RETURN_IF_ERROR(catalog_->Write([&](Tx& tx) -> Status {
    for (const Member& m : left) {
      VSL_ASSIGN_OR_RETURN(Volume now, catalog_->GetVolume(tx, m.volume.id));
      if (now.state != DiskState::kAllocated) continue;
      VolumeUpdate dirty;
      dirty.clean = false;  // the copy may have written it
      VSL_RETURN_IF_ERROR(catalog_->CasVolume(tx, m.volume.id, DiskState::kAllocated,
                                              DiskState::kUnconfigured, dirty, "migrate", actor,
                                              why));
    }
    return Status::Ok();
  }));
  for (const Member& m : left) {
    Status s = FreeSingle(m.volume.id, actor);
    if (!s.ok())
      return s.Annotate("migrate request " + std::to_string(request_id) + ": giving back volume " +
                        std::to_string(m.volume.id));
    ids.push_back(m.volume.id);
  }
  return ids;
}

Result<std::vector<int64_t>> Operations::MigrateReclaim(const Actor& actor) {
  // Destinations wait Allocated; one given back halfway is Unconfigured or
  // Scrubbing. Few volumes are in these states at any time.
  std::set<int64_t> requests;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    requests.clear();
    for (DiskState st : {DiskState::kAllocated, DiskState::kUnconfigured, DiskState::kScrubbing}) {
      catalog::VolumeFilter f;
      f.state = st;
      VSL_ASSIGN_OR_RETURN(auto vols, catalog_->ListVolumes(tx, f));
      for (const Volume& v : vols)
        if (v.request_id && !v.parent_id && v.type != "meta") requests.insert(*v.request_id);
    }
    return Status::Ok();
  }));
  std::vector<int64_t> freed;
  catalog::RequestQueue queue(catalog_);
  Status first;
  for (int64_t id : requests) {
    auto r = queue.Get(id);
    if (!r.ok() || r->op != "migrate" || r->state != catalog::RequestState::kFailed) continue;
    auto got = MigrateGiveBack(id, Actor{actor.name, id});
    if (!got.ok()) {
      if (first.ok()) first = got.status();
      continue;
    }
    freed.insert(freed.end(), got->begin(), got->end());
  }
  if (!first.ok()) return first;
  return freed;
}

Status Operations::MigrateSwitch(Tx& tx, const Volume& unit, const std::vector<Member>& from,
                                 const std::vector<Member>& to, const catalog::Qualities& qualities,
                                 const Actor& actor) {
  const std::string id = std::to_string(unit.id);
  VSL_ASSIGN_OR_RETURN(Volume now, catalog_->GetVolume(tx, unit.id));
  if (now.state != unit.state) {
    return Aborted("volume " + id + " moved from " +
                   std::string(catalog::DiskStateName(unit.state)) + " to " +
                   std::string(catalog::DiskStateName(now.state)) + " during the migration");
  }
  VSL_ASSIGN_OR_RETURN(auto members, catalog_->Members(tx, unit.id));
  std::set<int64_t> have, had;
  for (const Volume& m : members) have.insert(m.id);
  for (const Member& m : from) had.insert(m.volume.id);
  if (have != had) return Aborted("volume " + id + " changed members during the migration");
  // The old members leave the unit through the usual arcs, tagged with this
  // request so that a re-run finds them to free.
  for (const Member& m : from) {
    VolumeUpdate out;
    out.parent_id = std::optional<int64_t>();
    out.member_order = 0;
    out.request_id = actor.request_id;
    out.clean = false;  // whatever the unit held is on them: scrubbed before they are free
    const std::string why = "left volume " + id + " (migrate)";
    switch (unit.state) {
      case DiskState::kMapped:
        VSL_RETURN_IF_ERROR(catalog_->CasVolume(tx, m.volume.id, DiskState::kMapped,
                                                DiskState::kUnmapped, {}, "unmap", actor, why));
        VSL_RETURN_IF_ERROR(catalog_->CasVolume(tx, m.volume.id, DiskState::kUnmapped,
                                                DiskState::kUnbound, out, "unbind", actor, why));
        break;
      case DiskState::kBound:
        VSL_RETURN_IF_ERROR(catalog_->CasVolume(tx, m.volume.id, DiskState::kBound,
                                                DiskState::kUnbound, out, "unbind", actor, why));
        break;
      default:
        VSL_RETURN_IF_ERROR(catalog_->CasVolume(tx, m.volume.id, DiskState::kConfigured,
                                                DiskState::kUnconfigured, out, "break-meta", actor,
                                                why));
        break;
    }
  }
  int64_t order = 0;
  for (const Member& m : to) {
    VolumeUpdate in;
    in.parent_id = unit.id;
    in.member_order = order;
    in.clean = false;
    in.farm_id = unit.farm_id;
    VSL_RETURN_IF_ERROR(
        catalog_->CasVolume(tx, m.volume.id, DiskState::kAllocated, unit.state, in, "migrate",
                            actor, "member " + std::to_string(order) + " of volume " + id));
    ++order;
  }
  return machine_
      .Apply(tx, unit.id, DiskOp::kMigrate, actor, {},
             "members " + Ids(from) + " -> " + Ids(to) + " (" + Text(qualities) + ")")
      .status();
}

Status Operations::MigrateCopy(const Volume& unit, const std::vector<Member>& from,
                               const std::vector<Member>& to, uint64_t rate,
                               const std::function<Status()>& commit, Json& out,
                               const Actor& actor) {
  const std::string id = std::to_string(unit.id);
  auto start = std::chrono::steady_clock::now();
  if (unit.state != DiskState::kMapped) {
    // No host writes it: a plain copy, then the record.
    VSL_RETURN_IF_ERROR(CopyMembers(from, to));
    VSL_RETURN_IF_ERROR(commit());
    out["bytes_copied"] = Total(from);
    out["passes"] = 1;
    out["seconds"] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return Status::Ok();
  }
  VSL_ASSIGN_OR_RETURN(auto extents, Extents(to));
  if (extents.empty())
    return FailedPrecondition("migrate of volume " + id +
                              ": the new volumes' arrays cannot say "
                              "where their bytes lie, so the gateway cannot copy onto them");
  // Progress in the events: each pass's start and end, and about once a
  // second in between.
  int pass = 0;
  uint64_t last = 0;
  auto last_event = start;
  auto note = [&](uint64_t copied, uint64_t total) {
    bool new_pass = pass == 0 || copied < last;
    if (new_pass) ++pass;
    last = copied;
    auto now = std::chrono::steady_clock::now();
    if (!new_pass && copied != total && now - last_event < std::chrono::seconds(1)) return;
    last_event = now;
    (void)catalog_->Write([&](Tx& tx) {
      return catalog_->AppendEvent(
          tx, catalog::Event{0, "volume", unit.id, "", "", "migrate-copy", actor.name,
                             actor.request_id, 0,
                             "pass " + std::to_string(pass) + ": " + std::to_string(copied) +
                                 " of " + std::to_string(total) + " bytes"});
    });
  };
  MigrateOptions o;
  o.bytes_per_second = rate;
  o.progress = note;
  o.commit = commit;
  auto r = target_->Migrate(id, extents, o);
  if (!r.ok()) {
    if (r.status().code() == Code::kNotFound) {
      return FailedPrecondition("migrate of volume " + id +
                                ": it is mapped, but not by this process's gateway (" +
                                r.status().message() + ")");
    }
    return r.status();
  }
  out["bytes_copied"] = r->bytes_copied;
  out["passes"] = r->passes;
  out["seconds"] = r->seconds;
  return Status::Ok();
}

Result<Json> Operations::Migrate(int64_t unit, const catalog::Qualities& qualities, uint64_t rate,
                                 const Actor& actor) {
  const std::string what = "migrate of volume " + std::to_string(unit);
  Volume v;
  std::vector<Member> from;
  bool switched = false;
  std::vector<catalog::ArrayRecord> arrays;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(v, catalog_->GetVolume(tx, unit));
    if (v.type != "meta" || v.parent_id) {
      return FailedPrecondition("volume " + std::to_string(unit) +
                                (v.parent_id
                                     ? " is a member of meta volume " + std::to_string(*v.parent_id)
                                     : " is not a meta volume") +
                                ": only a meta volume migrates in place, keeping its id (make it "
                                "with allocate --unit --meta)");
    }
    VSL_ASSIGN_OR_RETURN(from, Resolve(tx, v));
    switched = actor.request_id.has_value();
    for (const Member& m : from) switched = switched && m.volume.request_id == actor.request_id;
    if (switched) return Status::Ok();
    VSL_RETURN_IF_ERROR(machine_.Check(tx, unit, DiskOp::kMigrate));
    VSL_ASSIGN_OR_RETURN(arrays, catalog_->ListArrays(tx));
    return Status::Ok();
  }));
  Json out = {{"volume", unit}, {"qualities", qualities}};
  // An earlier request (or this one) recorded its switch and the gateway did
  // not make it: the gateway moves onto the recorded members, the old ones go.
  VSL_ASSIGN_OR_RETURN(auto repaired, MigrateRepair(v, from, rate, actor));
  if (!repaired.empty()) out["repaired"] = repaired;
  if (switched) {
    // A re-run: this request recorded the switch before it died.
    VSL_ASSIGN_OR_RETURN(auto freed, MigrateCleanup(unit, actor));
    out["moved"] = true;
    out["members"] = IdList(from);
    out["from"] = freed;
    return out;
  }
  // What an earlier run of this request gave back halfway.
  VSL_RETURN_IF_ERROR(MigrateCleanup(unit, actor).status());
  bool there = true;
  for (const Member& m : from) there = there && Has(m.volume.qualities, qualities);
  if (there) {
    out["moved"] = false;
    out["members"] = IdList(from);
    out["note"] = "volume " + std::to_string(unit) + " already lies on storage with " +
                  Text(qualities) + ": nothing moved";
    return out;
  }
  std::string offered;
  bool any = false;
  for (const auto& a : arrays) {
    if (!arrays_->Find(a.name).ok()) continue;
    offered += (offered.empty() ? "" : "; ") + a.name +
               (a.qualities.empty() ? "" : " " + Text(a.qualities));
    any = any || Has(a.qualities, qualities);
  }
  if (!any) {
    return FailedPrecondition(what + ": no array has " + Text(qualities) +
                              " (arrays: " + (offered.empty() ? "none" : offered) + ")");
  }

  AllocateArgs want;
  want.size = v.size;
  want.qualities = qualities;
  want.farm_id = v.farm_id;
  auto ids = Allocate(want, actor);
  if (!ids.ok()) return ids.status().Annotate(what);
  util::CrashPoint(
      "op.migrate.allocated");  // destinations Allocated by this request, not granted, no data
  std::vector<Member> to;
  // Gives the destinations back (their content is undefined: scrubbed
  // on the way to Free) and returns `s`.
  auto give_back = [&](Status s) {
    (void)RevokeAll(to);
    (void)catalog_->Write([&](Tx& tx) -> Status {
      for (int64_t id : *ids) {
        auto got = catalog_->GetVolume(tx, id);
        if (!got.ok() || got->state != DiskState::kAllocated) continue;
        VolumeUpdate dirty;
        dirty.clean = false;
        VSL_RETURN_IF_ERROR(catalog_->CasVolume(tx, id, DiskState::kAllocated,
                                                DiskState::kUnconfigured, dirty, "migrate", actor,
                                                "given back: " + s.message()));
      }
      return Status::Ok();
    });
    Status freed;
    for (int64_t id : *ids) {
      Status f = FreeSingle(id, actor);
      if (!f.ok() && freed.ok()) freed = f;
    }
    s = s.Annotate(what + ", left where it was");
    if (!freed.ok())
      s = Status(s.code(),
                 s.message() + "; giving the new volumes back failed too: " + freed.message());
    return s;
  };
  for (int64_t id : *ids) {
    auto m = Resolve(id);
    if (!m.ok()) return give_back(m.status());
    to.insert(to.end(), m->begin(), m->end());
  }
  if (Total(to) != v.size) {
    return give_back(FailedPrecondition("the free volumes with " + Text(qualities) + " add up to " +
                                        std::to_string(Total(to)) + " bytes, the unit has " +
                                        std::to_string(v.size) + " (a migration keeps the size)"));
  }
  if (v.state != DiskState::kConfigured) {
    for (const Member& m : to) {
      Status s = m.array->Grant(m.volume.array_volume, gateway_initiator_);
      if (!s.ok()) return give_back(s.Annotate("grant of volume " + std::to_string(m.volume.id)));
    }
  }
  util::CrashPoint("op.migrate.granted");  // destinations granted, the copy not begun
  // From here the destinations may hold data: should this run die, the give
  // back of a later run scrubs them.
  VSL_RETURN_IF_ERROR(catalog_->Write([&](Tx& tx) -> Status {
    VolumeUpdate dirty;
    dirty.clean = false;
    for (const Member& m : to)
      VSL_RETURN_IF_ERROR(catalog_->UpdateVolume(tx, m.volume.id, DiskState::kAllocated, dirty));
    return Status::Ok();
  }));
  auto commit = [&]() -> Status {
    util::CrashPoint(
        "op.migrate.copied");  // the copy whole and flushed, writes held, nothing recorded
    return catalog_->Write(
        [&](Tx& tx) { return MigrateSwitch(tx, v, from, to, qualities, actor); });
  };
  Status copied = MigrateCopy(v, from, to, rate, commit, out, actor);
  if (!copied.ok()) {
    // Recorded, and then the gateway failed to switch (it was unmapped, or
    // its extent map refused): the destinations are the unit's members now
    // and the old members, not freed, still hold what the host had.
    bool recorded = false;
    (void)catalog_->Read([&](Tx& tx) -> Status {
      VSL_ASSIGN_OR_RETURN(auto ms, catalog_->Members(tx, unit));
      recorded = !ms.empty() && ms.front().id == to.front().volume.id;
      return Status::Ok();
    });
    if (recorded) {
      // Try the switch once more at once (the hosts' writes since go along);
      // failing that, a re-run of migrate repairs it (MigrateRepair).
      Volume now = v;
      std::vector<Member> members = to;
      for (Member& m : members) m.volume.request_id = actor.request_id;
      auto again = actor.request_id ? MigrateRepair(now, members, rate, actor)
                                    : Result<std::vector<int64_t>>(std::vector<int64_t>());
      if (!again.ok() || again->empty()) {
        return Internal(
            what + ": the catalog has the new members but the gateway did not switch (" +
            copied.message() + "); the old members " + Ids(from) +
            " are kept unbound, not scrubbed, until one more migrate of the volume repairs it" +
            (again.ok() ? std::string() : " (" + again.status().message() + ")"));
      }
      out["moved"] = true;
      out["members"] = IdList(to);
      out["from"] = *again;
      out["repaired"] = *again;
      return out;
    }
    return give_back(copied);
  }
  util::CrashPoint(
      "op.migrate.switched");  // the new members are the disk; the old ones not yet freed
  (void)RevokeAll(from);
  std::vector<int64_t> freed;
  for (const Member& m : from) {
    Status f = FreeSingle(m.volume.id, actor);
    if (!f.ok())
      return f.Annotate(what + ": moved, but freeing old member " + std::to_string(m.volume.id));
    freed.push_back(m.volume.id);
  }
  out["moved"] = true;
  out["members"] = IdList(to);
  out["from"] = freed;
  double secs = out["seconds"].get<double>();
  out["mib_per_s"] = secs > 0 ? out["bytes_copied"].get<double>() / secs / (1 << 20) : 0.0;
  return out;
}

}  // namespace vsl::manager
