// Operations that decide who reaches a unit: bind, map, unmap, unbind, free.
#include "catalog/snapshots.h"
#include "manager/operations.h"

#include "util/crash_point.h"

namespace vsl::manager {

using catalog::Actor;
using catalog::Binding;
using catalog::Tx;
using catalog::Volume;
using catalog::VolumeUpdate;

Status Operations::RevokeAll(const std::vector<Member>& members) {
  Status first;
  for (const Member& m : members) {
    Status s = m.array->Revoke(m.volume.array_volume, gateway_initiator_);
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

Result<MapHost> Operations::HostForTarget(Tx& tx, int64_t host_id) {
  VSL_ASSIGN_OR_RETURN(catalog::Host h, catalog_->GetHost(tx, host_id));
  MapHost m;
  m.name = h.name;
  m.initiators = h.initiators;
  m.chap_user = h.chap_user;
  m.chap_secret = h.chap_secret;
  m.mutual_chap_user = h.mutual_chap_user;
  m.mutual_chap_secret = h.mutual_chap_secret;
  VSL_ASSIGN_OR_RETURN(auto bindings, catalog_->BindingsOfHost(tx, host_id));
  for (const Binding& b : bindings) {
    if (!b.mapped) continue;
    VSL_ASSIGN_OR_RETURN(Volume v, catalog_->GetVolume(tx, b.volume_id));
    VSL_ASSIGN_OR_RETURN(auto members, Resolve(tx, v));
    MapLun l;
    l.lun = static_cast<uint64_t>(b.lun);
    l.read_only = b.read_only;
    l.volume_id = std::to_string(v.id);
    VSL_ASSIGN_OR_RETURN(l.extents, Extents(members));
    VSL_ASSIGN_OR_RETURN(l.qos, UnitQos(v));
    l.cache_reads = v.cache == "read";
    m.luns.push_back(std::move(l));
  }
  return m;
}

Result<QosLimits> Operations::UnitQos(const Volume& v) {
  auto q = ParseQos(v.qos);
  if (!q.ok()) return Internal("volume " + std::to_string(v.id) + ": catalog qos '" + v.qos + "': " + q.status().message());
  return *q;
}

Status Operations::SetQos(int64_t unit, const QosLimits& limits, const Actor& actor) {
  std::string text = FormatQos(limits);
  VSL_RETURN_IF_ERROR(catalog_->Write([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(Volume v, catalog_->GetVolume(tx, unit));
    if (v.parent_id) {
      return FailedPrecondition("volume " + std::to_string(unit) + " is a member of meta volume " +
                                std::to_string(*v.parent_id) + ": limits belong to the unit; set them on volume " +
                                std::to_string(*v.parent_id));
    }
    if (v.state == DiskState::kFree || v.state == DiskState::kScrubbing) {
      return FailedPrecondition("volume " + std::to_string(unit) + " is " +
                                std::string(catalog::DiskStateName(v.state)) + ": limits belong to allocated units");
    }
    return catalog_->SetVolumeQos(tx, unit, text, actor);
  }));
  // Recorded; a crash here leaves the gateway on the old limits until the
  // restart loads the catalog's (SyncHosts), or a re-run of this request.
  util::CrashPoint("op.qos.recorded");
  return target_->SetQos(std::to_string(unit), limits);
}

Status Operations::SetCache(int64_t unit, const std::string& policy, const Actor& actor) {
  if (policy != "none" && policy != "read")
    return InvalidArgument("cache policy '" + policy + "': expected none or read");
  VSL_RETURN_IF_ERROR(catalog_->Write([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(Volume v, catalog_->GetVolume(tx, unit));
    if (v.parent_id) {
      return FailedPrecondition("volume " + std::to_string(unit) + " is a member of meta volume " +
                                std::to_string(*v.parent_id) +
                                ": the cache policy belongs to the unit; set it on volume " +
                                std::to_string(*v.parent_id));
    }
    if (v.state == DiskState::kFree || v.state == DiskState::kScrubbing) {
      return FailedPrecondition("volume " + std::to_string(unit) + " is " +
                                std::string(catalog::DiskStateName(v.state)) +
                                ": a cache policy belongs to allocated units");
    }
    return catalog_->SetVolumeCache(tx, unit, policy, actor);
  }));
  // Recorded; a crash here leaves the gateway on the old policy until the
  // restart loads the catalog's (SyncHosts), or a re-run of this request.
  util::CrashPoint("op.cache.recorded");
  return target_->SetCache(std::to_string(unit), policy == "read");
}

Status Operations::SyncHost(const std::string& name) {
  std::optional<MapHost> host;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    host.reset();
    auto h = catalog_->GetHostByName(tx, name);
    if (!h.ok()) return h.status().code() == Code::kNotFound ? Status::Ok() : h.status();
    VSL_ASSIGN_OR_RETURN(host, HostForTarget(tx, h->id));
    return Status::Ok();
  }));
  if (!host) return target_->RemoveHost(name);
  return target_->SetHost(*host);
}

Result<int> Operations::SyncHosts(std::vector<std::pair<std::string, Status>>* skipped) {
  std::vector<MapHost> hosts;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    hosts.clear();
    if (skipped != nullptr) skipped->clear();
    VSL_ASSIGN_OR_RETURN(auto all, catalog_->ListHosts(tx));
    for (const catalog::Host& h : all) {
      auto m = HostForTarget(tx, h.id);
      if (!m.ok() && skipped != nullptr && m.status().code() != Code::kAborted) {
        skipped->emplace_back(h.name, m.status());
        continue;
      }
      if (!m.ok()) return m.status().Annotate("host '" + h.name + "'");
      hosts.push_back(std::move(m).value());
    }
    return Status::Ok();
  }));
  int loaded = 0;
  for (const MapHost& h : hosts) {
    Status s = target_->SetHost(h);
    if (!s.ok() && skipped != nullptr) {
      skipped->emplace_back(h.name, s);
      continue;
    }
    if (!s.ok()) return s.Annotate("host '" + h.name + "'");
    ++loaded;
  }
  return loaded;
}

// A shared unit's hosts all write or all only read: a reader caches what it
// read and would never see a writer's changes, and a read-only unit (an
// image master) must stay as its readers know it.
Status Operations::CheckSameMode(Tx& tx, int64_t unit, const std::vector<Binding>& existing,
                                 const std::string& host_name, bool read_only) {
  for (const Binding& b : existing) {
    if (b.read_only == read_only) continue;
    VSL_ASSIGN_OR_RETURN(catalog::Host other, catalog_->GetHost(tx, b.host_id));
    if (other.name == host_name) continue;  // its own binding: PlanBind says so
    return FailedPrecondition("volume " + std::to_string(unit) + " is bound " +
                              (b.read_only ? "read-only" : "read-write") + " to host '" + other.name +
                              "': a unit's hosts either all write or all only read, so it cannot be bound " +
                              (read_only ? "read-only" : "read-write") + " to host '" + host_name + "' too");
  }
  return Status::Ok();
}

Result<Operations::BindPlan> Operations::PlanBind(Tx& tx, int64_t unit, const std::string& host_name, int64_t lun,
                                                  bool read_only) {
  if (lun < 0 || lun > 16383) return InvalidArgument("LUN " + std::to_string(lun) + " is out of range 0..16383");
  BindPlan plan;
  VSL_ASSIGN_OR_RETURN(plan.volume, catalog_->GetVolume(tx, unit));
  VSL_ASSIGN_OR_RETURN(plan.host, catalog_->GetHostByName(tx, host_name));
  const char* mode = read_only ? "read-only" : "read-write";
  VSL_ASSIGN_OR_RETURN(auto existing, catalog_->BindingsOfVolume(tx, unit));
  for (const Binding& b : existing) {
    if (b.host_id != plan.host.id) continue;
    if (b.lun != lun) {
      return AlreadyExists("volume " + std::to_string(unit) + " is bound to host '" + host_name + "' at LUN " +
                           std::to_string(b.lun) + " already");
    }
    if (b.read_only != read_only) {
      return AlreadyExists("volume " + std::to_string(unit) + " is bound to host '" + host_name + "' " +
                           (b.read_only ? "read-only" : "read-write") + " already: unbind it before binding it " +
                           mode);
    }
    plan.done = true;  // bound before (this request, run again)
    return plan;
  }
  plan.op = read_only ? DiskOp::kBindReadOnly
                      : plan.volume.state == DiskState::kUnbound ? DiskOp::kRebind : DiskOp::kBind;
  // The table decides (an image's master volume takes read-only binds only).
  VSL_RETURN_IF_ERROR(machine_.Check(tx, unit, plan.op));
  VSL_RETURN_IF_ERROR(CheckSameMode(tx, unit, existing, host_name, read_only));
  VSL_ASSIGN_OR_RETURN(auto of_host, catalog_->BindingsOfHost(tx, plan.host.id));
  for (const Binding& b : of_host) {
    if (b.lun == lun) {
      return AlreadyExists("host '" + host_name + "' has volume " + std::to_string(b.volume_id) + " at LUN " +
                           std::to_string(lun) + " already");
    }
  }
  return plan;
}

Status Operations::CheckBindMode(int64_t unit, const std::string& host, bool read_only) {
  return catalog_->Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(Volume v, catalog_->GetVolume(tx, unit));
    VSL_RETURN_IF_ERROR(catalog_->GetHostByName(tx, host).status());
    if (!read_only) {
      // The table's word on a read-write bind of an image master.
      VSL_ASSIGN_OR_RETURN(auto master, catalog_->ImageOfMaster(tx, unit));
      if (master) VSL_RETURN_IF_ERROR(FindTransition(unit, v.state, DiskOp::kBind, &*master).status());
    }
    VSL_ASSIGN_OR_RETURN(auto existing, catalog_->BindingsOfVolume(tx, unit));
    return CheckSameMode(tx, unit, existing, host, read_only);
  });
}

Status Operations::Bind(int64_t unit, const std::string& host_name, int64_t lun, std::optional<int64_t> target,
                        const Actor& actor, bool read_only) {
  std::vector<Member> members;
  catalog::Host host;
  DiskOp op = DiskOp::kBind;
  bool done = false;
  std::optional<int64_t> port;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(BindPlan plan, PlanBind(tx, unit, host_name, lun, read_only));
    host = plan.host;
    op = plan.op;
    done = plan.done;
    const Volume& v = plan.volume;
    VSL_ASSIGN_OR_RETURN(members, Resolve(tx, v));
    VSL_ASSIGN_OR_RETURN(auto ports, catalog_->ListPorts(tx, *members.front().volume.array_id));
    if (!ports.empty()) port = ports.front().id;
    return Status::Ok();
  }));
  // The arrays let the gateway reach every member (again, harmlessly, when
  // this is a re-run).
  Status s;
  for (const Member& m : members) {
    s = m.array->Grant(m.volume.array_volume, gateway_initiator_);
    if (!s.ok()) break;
  }
  if (done && s.ok()) return Status::Ok();
  if (!s.ok()) {
    s = s.Annotate("bind of volume " + std::to_string(unit) + " to host '" + host_name + "'");
    Result<DiskState> after = DiskState::kFree;
    (void)catalog_->Write([&](Tx& tx) -> Status {
      after = machine_.ApplyFailure(tx, unit, op, actor, s.message());
      return after.status();
    });
    // Unconfigured: nobody may reach it. A shared unit keeps its other hosts.
    if (after.ok() && *after == DiskState::kUnconfigured) (void)RevokeAll(members);
    return s;
  }
  util::CrashPoint("op.bind.granted");  // the arrays grant the gateway, the catalog has no binding
  return catalog_->Write([&](Tx& tx) -> Status {
    Binding b;
    b.volume_id = unit;
    b.host_id = host.id;
    b.port_id = port;
    b.target = target.value_or(lun);
    b.lun = lun;
    b.read_only = read_only;
    // The transition first: its compare-and-swap holds the unit's row, so a
    // concurrent bind of the other mode has committed (and is seen below)
    // or waits for this one (and sees this binding).
    VSL_RETURN_IF_ERROR(machine_
                            .Apply(tx, unit, op, actor, {},
                                   "host " + host_name + " LUN " + std::to_string(lun) +
                                       (read_only ? " read-only" : ""))
                            .status());
    VSL_ASSIGN_OR_RETURN(auto existing, catalog_->BindingsOfVolume(tx, unit));
    VSL_RETURN_IF_ERROR(CheckSameMode(tx, unit, existing, host_name, read_only));
    return catalog_->AddBinding(tx, b).status();
  });
}

Status Operations::Map(int64_t unit, const std::optional<std::string>& host_name, const Actor& actor) {
  std::vector<Member> members;
  std::vector<std::pair<Binding, MapHost>> todo;
  DiskState state = DiskState::kFree;
  QosLimits qos;
  bool cache_reads = false;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(Volume v, catalog_->GetVolume(tx, unit));
    state = v.state;
    VSL_ASSIGN_OR_RETURN(qos, UnitQos(v));
    cache_reads = v.cache == "read";
    std::optional<int64_t> only;
    if (host_name) {
      VSL_ASSIGN_OR_RETURN(catalog::Host h, catalog_->GetHostByName(tx, *host_name));
      only = h.id;
    }
    VSL_ASSIGN_OR_RETURN(auto bindings, catalog_->BindingsOfVolume(tx, unit));
    bool any = false;
    for (const Binding& b : bindings) {
      if (only && b.host_id != *only) continue;
      any = true;
      if (b.mapped) continue;
      VSL_ASSIGN_OR_RETURN(MapHost mh, HostForTarget(tx, b.host_id));
      todo.emplace_back(b, std::move(mh));
    }
    if (!any) {
      return FailedPrecondition("volume " + std::to_string(unit) + " is " +
                                std::string(catalog::DiskStateName(v.state)) + " and not bound to " +
                                (host_name ? "host '" + *host_name + "'" : std::string("any host")) +
                                ": bind it before map");
    }
    if (todo.empty()) return Status::Ok();  // mapped before
    VSL_RETURN_IF_ERROR(FindTransition(unit, v.state, DiskOp::kMap).status());
    VSL_ASSIGN_OR_RETURN(members, Resolve(tx, v));
    return Status::Ok();
  }));
  if (todo.empty()) return Status::Ok();

  MapLun lun;
  lun.volume_id = std::to_string(unit);
  lun.qos = qos;
  lun.cache_reads = cache_reads;
  auto extents = Extents(members);
  if (!extents.ok()) return extents.status().Annotate("map of volume " + std::to_string(unit));
  lun.extents = std::move(extents).value();
  Status s;
  std::vector<const std::pair<Binding, MapHost>*> mapped;
  for (const auto& item : todo) {
    lun.lun = static_cast<uint64_t>(item.first.lun);
    lun.read_only = item.first.read_only;
    s = target_->SetHost(item.second);
    if (s.ok()) s = target_->Map(item.second.name, lun);
    if (!s.ok()) {
      s = s.Annotate("map of volume " + std::to_string(unit) + " to host '" + item.second.name + "' LUN " +
                     std::to_string(item.first.lun));
      break;
    }
    mapped.push_back(&item);
  }
  if (!s.ok()) {
    // FIG. 7: a failed map removes the bindings it was mapping.
    for (const auto* item : mapped) (void)target_->Unmap(item->second.name, static_cast<uint64_t>(item->first.lun));
    bool whole = state == DiskState::kBound;
    (void)catalog_->Write([&](Tx& tx) -> Status {
      for (const auto& item : todo) {
        VSL_RETURN_IF_ERROR(catalog_->RemoveBindings(tx, unit, item.first.host_id).status());
      }
      return machine_.ApplyFailure(tx, unit, DiskOp::kMap, actor, s.message()).status();
    });
    if (whole) (void)RevokeAll(members);
    return s;
  }
  util::CrashPoint("op.map.mapped");  // the gateway serves it, the catalog does not map it yet
  return catalog_->Write([&](Tx& tx) -> Status {
    std::string hosts;
    for (const auto& item : todo) {
      VSL_RETURN_IF_ERROR(catalog_->SetBindingMapped(tx, item.first.id, true));
      hosts += (hosts.empty() ? "" : ", ") + item.second.name + " LUN " + std::to_string(item.first.lun);
    }
    return machine_.Apply(tx, unit, DiskOp::kMap, actor, {}, hosts).status();
  });
}

Status Operations::Unmap(int64_t unit, const std::optional<std::string>& host_name, const Actor& actor) {
  std::vector<std::pair<Binding, std::string>> todo;
  size_t mapped_total = 0;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    VSL_RETURN_IF_ERROR(catalog_->GetVolume(tx, unit).status());
    std::optional<int64_t> only;
    if (host_name) {
      VSL_ASSIGN_OR_RETURN(catalog::Host h, catalog_->GetHostByName(tx, *host_name));
      only = h.id;
    }
    VSL_ASSIGN_OR_RETURN(auto bindings, catalog_->BindingsOfVolume(tx, unit));
    for (const Binding& b : bindings) {
      if (!b.mapped) continue;
      ++mapped_total;
      if (only && b.host_id != *only) continue;
      VSL_ASSIGN_OR_RETURN(catalog::Host h, catalog_->GetHost(tx, b.host_id));
      todo.emplace_back(b, h.name);
    }
    return Status::Ok();
  }));
  // Nothing of it is mapped (to `host`): unmapped before, by this request
  // run again after a crash or by an earlier one, or never mapped at all.
  // Either way the effect unmap promises is there.
  if (todo.empty()) return Status::Ok();
  DiskOp op = todo.size() == mapped_total ? DiskOp::kUnmap : DiskOp::kUnmapPartial;
  for (const auto& [b, name] : todo) {
    Status s = target_->Unmap(name, static_cast<uint64_t>(b.lun));
    if (!s.ok()) {
      s = s.Annotate("unmap of volume " + std::to_string(unit) + " from host '" + name + "'");
      (void)catalog_->Write([&](Tx& tx) { return machine_.ApplyFailure(tx, unit, op, actor, s.message()).status(); });
      return s;
    }
  }
  util::CrashPoint("op.unmap.unmapped");  // the gateway no longer serves it, the catalog still maps it
  return catalog_->Write([&](Tx& tx) -> Status {
    std::string hosts;
    for (const auto& [b, name] : todo) {
      VSL_RETURN_IF_ERROR(catalog_->SetBindingMapped(tx, b.id, false));
      // A shared unit's other hosts keep it: this host's binding goes now.
      if (op == DiskOp::kUnmapPartial) VSL_RETURN_IF_ERROR(catalog_->RemoveBindings(tx, unit, b.host_id).status());
      hosts += (hosts.empty() ? "" : ", ") + name;
    }
    return machine_.Apply(tx, unit, op, actor, {}, hosts).status();
  });
}

Status Operations::Unbind(int64_t unit, const std::optional<std::string>& host_name, const Actor& actor) {
  std::vector<Member> members;
  bool done = false;
  std::optional<Binding> partial;  // the one binding to drop; others stay
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(Volume v, catalog_->GetVolume(tx, unit));
    VSL_ASSIGN_OR_RETURN(auto bindings, catalog_->BindingsOfVolume(tx, unit));
    if (host_name) {
      VSL_ASSIGN_OR_RETURN(catalog::Host h, catalog_->GetHostByName(tx, *host_name));
      std::optional<Binding> mine;
      bool others = false;
      for (const Binding& b : bindings) {
        if (b.host_id == h.id) {
          mine = b;
        } else {
          others = true;
        }
      }
      if (!mine) {
        done = true;  // not bound to this host (any more)
        return Status::Ok();
      }
      if (mine->mapped) {
        return FailedPrecondition("volume " + std::to_string(unit) + " is mapped to host '" + *host_name +
                                  "' at LUN " + std::to_string(mine->lun) + ": unmap it before unbind");
      }
      if (others) {
        partial = mine;
        return FindTransition(unit, v.state, DiskOp::kUnbindPartial).status();
      }
    }
    if (bindings.empty() && v.state != DiskState::kBound && v.state != DiskState::kMapped &&
        v.state != DiskState::kUnmapped) {
      // Unbound before (a re-run), or never bound: no host holds it. The
      // arrays' grants are revoked again below, harmlessly.
      done = true;
    } else {
      VSL_RETURN_IF_ERROR(FindTransition(unit, v.state, DiskOp::kUnbind).status());
    }
    VSL_ASSIGN_OR_RETURN(members, Resolve(tx, v));
    return Status::Ok();
  }));
  if (partial) {
    // The other hosts keep the unit: the arrays keep granting it.
    return catalog_->Write([&](Tx& tx) -> Status {
      VSL_RETURN_IF_ERROR(catalog_->RemoveBindings(tx, unit, partial->host_id).status());
      return machine_.Apply(tx, unit, DiskOp::kUnbindPartial, actor, {}, "host " + *host_name).status();
    });
  }
  Status s = RevokeAll(members);
  if (done) return s;
  if (!s.ok()) {
    s = s.Annotate("unbind of volume " + std::to_string(unit));
    (void)catalog_->Write(
        [&](Tx& tx) { return machine_.ApplyFailure(tx, unit, DiskOp::kUnbind, actor, s.message()).status(); });
    return s;
  }
  util::CrashPoint("op.unbind.revoked");  // the arrays no longer grant the gateway, the catalog still binds
  return catalog_->Write([&](Tx& tx) -> Status {
    VSL_RETURN_IF_ERROR(catalog_->RemoveBindings(tx, unit).status());
    return machine_.Apply(tx, unit, DiskOp::kUnbind, actor).status();
  });
}

Status Operations::FreeSingle(int64_t id, const Actor& actor) {
  // At most: break -> scrub -> deallocate; each step re-reads the state, so a
  // re-run after a crash picks up where the last one stopped.
  for (int step = 0; step < 6; ++step) {
    Volume v;
    bool freed_before = false;
    VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
      auto got = catalog_->GetVolume(tx, id);
      if (got.ok()) {
        v = std::move(got).value();
        return Status::Ok();
      }
      if (got.status().code() != Code::kNotFound || !actor.request_id) return got.status();
      // A meta volume is deleted when it is freed: gone because this very
      // request freed it before (and died before saying so) is success.
      catalog::EventFilter f;
      f.entity = "volume";
      f.entity_id = id;
      f.request_id = actor.request_id;
      VSL_ASSIGN_OR_RETURN(auto events, catalog_->ListEvents(tx, f));
      for (const catalog::Event& e : events) freed_before = freed_before || e.op == "deallocate";
      return freed_before ? Status::Ok() : got.status();
    }));
    if (freed_before) return Status::Ok();
    switch (v.state) {
      case DiskState::kFree:
        return Status::Ok();
      case DiskState::kConfigured:
      case DiskState::kUnbound:
        VSL_RETURN_IF_ERROR(MetaBreak(id, actor));
        break;
      case DiskState::kScrubbing:
        VSL_RETURN_IF_ERROR(Scrub(id, actor));
        break;
      case DiskState::kAllocated:
      case DiskState::kUnconfigured:
        if (!v.clean) {
          VSL_RETURN_IF_ERROR(Scrub(id, actor));
          break;
        }
        return catalog_->Write([&](Tx& tx) -> Status {
          VolumeUpdate u;
          u.request_id = std::optional<int64_t>();
          u.farm_id = std::optional<int64_t>();
          u.image_id = std::optional<int64_t>();
          u.bcv_id = std::optional<int64_t>();
          VSL_RETURN_IF_ERROR(machine_.Apply(tx, id, DiskOp::kDeallocate, actor, u).status());
          if (v.type != "meta") return Status::Ok();
          // The members go back to the pool one by one; the meta volume is no more.
          VSL_ASSIGN_OR_RETURN(auto members, catalog_->Members(tx, id));
          for (const Volume& m : members) {
            VolumeUpdate mu = u;
            mu.parent_id = std::optional<int64_t>();
            mu.member_order = 0;
            VSL_RETURN_IF_ERROR(catalog_->UpdateVolume(tx, m.id, DiskState::kFree, mu));
          }
          return catalog_->DeleteVolume(tx, id);
        });
      default:
        // Bound, Mapped, Unmapped: the table's message says what to do first.
        return FindTransition(id, v.state, DiskOp::kDeallocate).status();
    }
    util::CrashPoint("op.free.step");  // one step of break, scrub, deallocate done, more may follow
  }
  return Internal("free of volume " + std::to_string(id) + " did not settle");
}

Status Operations::Free(int64_t unit, const Actor& actor) {
  // An image's master is never freed: the table's refusal of its deallocate,
  // before any step (a break or scrub) of the way there is tried.
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    auto v = catalog_->GetVolume(tx, unit);
    if (!v.ok()) return Status::Ok();  // FreeSingle says what is wrong
    // A disk handed out again must not come with its last owner's
    // snapshots listed under it (and on rbd they hang from its image).
    VSL_ASSIGN_OR_RETURN(auto snaps, catalog::SnapshotsOf(tx, unit));
    if (!snaps.empty()) {
      std::string ids;
      for (const auto& sn : snaps) ids += (ids.empty() ? "" : ", ") + std::to_string(sn.volume_id) + " '" + sn.name + "'";
      return FailedPrecondition("disk " + std::to_string(unit) + " has snapshots (" + ids +
                                "); release them first (vsl disk snapshot-release SNAP)");
    }
    VSL_ASSIGN_OR_RETURN(auto master, catalog_->ImageOfMaster(tx, unit));
    if (!master) return Status::Ok();
    return FindTransition(unit, v->state, DiskOp::kDeallocate, &*master).status();
  }));
  return FreeSingle(unit, actor);
}

}  // namespace vsl::manager
