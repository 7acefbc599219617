#include "farm/plan.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <utility>

namespace vsl::farm {

namespace {

using fml::FormatSize;

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string Volumes(const std::vector<VolumeId>& ids) {
  if (ids.empty()) return "";
  std::string out = ids.size() == 1 ? " (volume " : " (volumes ";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(ids[i]);
  }
  return out + ")";
}

// "disk web-1 target 0" or "global disk "db-data"".
std::string Subject(const Action& a) {
  if (!a.global_name.empty()) return "global disk " + Quote(a.global_name);
  return "disk " + a.server + " target " + std::to_string(a.target);
}

// "host h3 (two-tier-db-1)" for actions on a global disk, else "host h3".
std::string OnHost(const Action& a) {
  std::string s = "host " + a.host;
  if (!a.global_name.empty()) s += " (" + a.server + ")";
  return s;
}

// Whether `have` is the disk `want` describes. A disk made for one drivename
// is not another drivename's disk, even at the same target.
bool SameDisk(const DiskState& have, const fml::Disk& want) {
  return have.target == want.target &&
         (have.drivename.empty() || want.drivename.empty() || have.drivename == want.drivename);
}

// One desired server.
struct Want {
  std::string name;
  const fml::Tier* tier;
  const fml::ServerRole* role;
};

// An error of the plan, with the code a caller can act on.
struct Problem {
  Code code;
  std::string message;
};

class Planner {
 public:
  Planner(const fml::FarmSpec& desired, const FarmState& current)
      : desired_(desired), current_(current) {}

  Result<FarmPlan> Run();

 private:
  void Emit(Action a) { plan_.actions.push_back(std::move(a)); }
  void Refuse(Code code, std::string message) { problems_.push_back({code, std::move(message)}); }

  void DecideServers();
  void CheckDisks();
  void CheckPool();
  void RemoveServer(const ServerState& s);
  void RemoveDisk(const ServerState& s, const DiskState& d);
  void Unmap(const ServerState& s, const SharedDiskMapping& m);
  void AddDisk(const std::string& server, const std::string& host, const fml::Disk& d);
  void AddSharedDisk(const std::string& server, const std::string& host, const fml::SharedDisk& sd);
  void ChangeServer(const ServerState& s, const Want& w);
  bool WantsMapping(const SharedDiskMapping& m) const;

  const fml::FarmSpec& desired_;
  const FarmState& current_;
  FarmPlan plan_;
  std::vector<Problem> problems_;

  std::vector<Want> wants_;
  std::vector<std::pair<const ServerState*, const Want*>> kept_;
  std::vector<const ServerState*> removed_;
  std::vector<const Want*> added_;
  // Hosts for new servers, by hw: idle ones first, then those this plan frees.
  std::map<std::string, std::vector<std::string>> hosts_;
};

// A server stays when the file still wants its name with the same role and hw;
// otherwise it goes (and a new one of that name may come).
void Planner::DecideServers() {
  for (const fml::Tier& tier : desired_.tiers) {
    const fml::ServerRole* role = desired_.FindRole(tier.role);
    if (role == nullptr) {
      Refuse(Code::kInvalidArgument, "tier " + Quote(tier.id) + " uses role " + Quote(tier.role) +
                                         ", which no server-role defines");
      continue;
    }
    for (int n = 1; n <= tier.init_servers; ++n) {
      wants_.push_back(
          {desired_.name + "-" + tier.ServerPrefix() + "-" + std::to_string(n), &tier, role});
    }
  }
  std::map<std::string, const Want*> by_name;
  for (const Want& w : wants_) by_name[w.name] = &w;
  std::set<std::string> kept_names;
  for (const ServerState& s : current_.servers) {
    auto it = by_name.find(s.name);
    if (it != by_name.end() && it->second->role->id == s.role && it->second->role->hw == s.hw &&
        kept_names.insert(s.name).second) {
      kept_.emplace_back(&s, it->second);
    } else {
      removed_.push_back(&s);
    }
  }
  for (const Want& w : wants_) {
    if (kept_names.count(w.name) == 0) added_.push_back(&w);
  }
}

// Refuses what the planner will not do to data: shrink a disk, replace an image.
void Planner::CheckDisks() {
  struct Seen {
    std::string message;
    int more = 0;
  };
  std::map<std::pair<std::string, int>, Seen> shrinks;  // (role, target)
  std::vector<std::pair<std::string, int>> order;
  for (const auto& [s, w] : kept_) {
    for (const fml::Disk& want : w->role->disks) {
      for (const DiskState& have : s->disks) {
        if (!have.drivename.empty() && have.drivename == want.drivename &&
            have.target != want.target) {
          Refuse(Code::kFailedPrecondition,
                 "disk " + Quote(have.drivename) + " of server " + s->name + " is at target " +
                     std::to_string(have.target) + "; the file now puts it at target " +
                     std::to_string(want.target) + ": moving a disk is refused (give it target=\"" +
                     std::to_string(have.target) + "\" in the file)");
          continue;
        }
        if (!SameDisk(have, want)) continue;
        if (want.size_bytes < have.size_bytes) {
          auto key = std::make_pair(w->role->id, want.target);
          auto [it, inserted] = shrinks.try_emplace(key);
          if (!inserted) {
            ++it->second.more;
            continue;
          }
          order.push_back(key);
          it->second.message = "disk at target " + std::to_string(want.target) + " of server " +
                               s->name + " (server-role " + Quote(w->role->id) + ") is " +
                               FormatSize(have.size_bytes) + "; the file asks for " +
                               FormatSize(want.size_bytes) + ": shrinking a disk is refused";
        }
        if (!have.image.empty() && want.image != have.image && !want.image.empty()) {
          Refuse(Code::kFailedPrecondition,
                 "disk at target " + std::to_string(want.target) + " of server " + s->name +
                     " holds image " + Quote(have.image) + "; the file asks for image " +
                     Quote(want.image) +
                     ": changing the image of a disk is refused (remove the disk, apply, "
                     "then add it back)");
        }
      }
    }
  }
  for (const auto& key : order) {
    const Seen& seen = shrinks[key];
    std::string msg = seen.message;
    if (seen.more > 0) {
      msg += " (and on " + std::to_string(seen.more) + " more server" +
             (seen.more == 1 ? "" : "s") + ")";
    }
    Refuse(Code::kFailedPrecondition, msg);
  }
  for (const GlobalDiskState& have : current_.global_disks) {
    const fml::GlobalDisk* want = desired_.FindGlobalDisk(have.global_name);
    if (want != nullptr && want->size_bytes < have.size_bytes) {
      Refuse(Code::kFailedPrecondition, "global disk " + Quote(have.global_name) + " is " +
                                            FormatSize(have.size_bytes) + "; the file asks for " +
                                            FormatSize(want->size_bytes) +
                                            ": shrinking a disk is refused");
    }
  }
}

void Planner::CheckPool() {
  std::vector<IdleHost> pool = current_.pool;
  std::sort(pool.begin(), pool.end(),
            [](const IdleHost& a, const IdleHost& b) { return a.name < b.name; });
  // A host listed twice, or listed idle while it runs a server of this farm,
  // must still be handed out at most once.
  std::set<std::string> busy;
  for (const ServerState& s : current_.servers) busy.insert(s.host);
  for (const IdleHost& h : pool) {
    if (busy.insert(h.name).second) hosts_[h.hw].push_back(h.name);
  }
  for (const ServerState* s : removed_) hosts_[s->hw].push_back(s->host);
  std::map<std::string, int> needed;
  for (const Want* w : added_) ++needed[w->role->hw];
  for (const auto& [hw, n] : needed) {
    int have = static_cast<int>(hosts_[hw].size());
    if (have < n) {
      int idle = have;
      for (const ServerState* s : removed_) idle -= s->hw == hw ? 1 : 0;
      Refuse(Code::kResourceExhausted,
             "not enough idle hosts of hw " + Quote(hw) + ": the farm needs " + std::to_string(n) +
                 " more, the pool has " + std::to_string(idle) +
                 (have > idle ? " (and this plan frees " + std::to_string(have - idle) + ")" : ""));
    }
  }
}

bool Planner::WantsMapping(const SharedDiskMapping& m) const {
  for (const auto& [s, w] : kept_) {
    if (s->name != m.server) continue;
    for (const fml::SharedDisk& sd : w->role->shared_disks) {
      if (sd.global_name == m.global_name && sd.target == m.target) return true;
    }
  }
  return false;
}

void Planner::Unmap(const ServerState& s, const SharedDiskMapping& m) {
  Emit({.kind = ActionKind::kUnmap,
        .effect = Effect::kRemove,
        .server = s.name,
        .host = s.host,
        .global_name = m.global_name,
        .target = m.target});
  Emit({.kind = ActionKind::kUnbind,
        .server = s.name,
        .host = s.host,
        .global_name = m.global_name,
        .target = m.target});
}

void Planner::RemoveDisk(const ServerState& s, const DiskState& d) {
  Action a{.kind = ActionKind::kUnmap,
           .server = s.name,
           .host = s.host,
           .target = d.target,
           .size_bytes = d.size_bytes,
           .volume_ids = d.volume_ids};
  Emit(a);
  a.kind = ActionKind::kUnbind;
  Emit(a);
  a.kind = ActionKind::kScrub;
  Emit(a);
  a.kind = ActionKind::kFree;
  a.effect = Effect::kRemove;
  Emit(a);
}

void Planner::RemoveServer(const ServerState& s) {
  if (s.powered_on) Emit({.kind = ActionKind::kPowerOff, .server = s.name, .host = s.host});
  for (const SharedDiskMapping& m : current_.shared_disks) {
    if (m.server == s.name) Unmap(s, m);
  }
  for (const DiskState& d : s.disks) RemoveDisk(s, d);
  Emit({.kind = ActionKind::kReleaseHost,
        .effect = Effect::kRemove,
        .server = s.name,
        .host = s.host,
        .hw = s.hw,
        .role = s.role});
}

void Planner::AddDisk(const std::string& server, const std::string& host, const fml::Disk& d) {
  Emit({.kind = ActionKind::kAllocateDisk,
        .effect = Effect::kAdd,
        .server = server,
        .host = host,
        .target = d.target,
        .size_bytes = d.size_bytes,
        .drivename = d.drivename,
        .drivetype = d.drivetype,
        .image = d.image,
        .raid_level = d.raid_level,
        .backup_policies = d.backup_policies});
  if (!d.qos.empty()) {
    Emit({.kind = ActionKind::kSetQos, .server = server, .host = host, .target = d.target, .qos = d.qos});
  }
  if (!d.cache.empty()) {
    Emit({.kind = ActionKind::kSetCache,
          .server = server,
          .host = host,
          .target = d.target,
          .cache = d.cache});
  }
  if (!d.image.empty()) {
    Emit({.kind = ActionKind::kCopyImage,
          .server = server,
          .host = host,
          .target = d.target,
          .image = d.image});
  }
  Emit({.kind = ActionKind::kBind, .server = server, .host = host, .target = d.target});
  Emit({.kind = ActionKind::kMap, .server = server, .host = host, .target = d.target});
}

void Planner::AddSharedDisk(const std::string& server, const std::string& host,
                            const fml::SharedDisk& sd) {
  Emit({.kind = ActionKind::kBind,
        .server = server,
        .host = host,
        .global_name = sd.global_name,
        .target = sd.target,
        .drivetype = sd.drivetype});
  Emit({.kind = ActionKind::kMapSharedDisk,
        .effect = Effect::kAdd,
        .server = server,
        .host = host,
        .global_name = sd.global_name,
        .target = sd.target,
        .drivetype = sd.drivetype});
}

std::vector<const fml::Disk*> ByTarget(const fml::ServerRole& role) {
  std::vector<const fml::Disk*> disks;
  for (const fml::Disk& d : role.disks) disks.push_back(&d);
  std::stable_sort(disks.begin(), disks.end(),
                   [](const fml::Disk* a, const fml::Disk* b) { return a->target < b->target; });
  return disks;
}

void Planner::ChangeServer(const ServerState& s, const Want& w) {
  for (const fml::Disk* want : ByTarget(*w.role)) {
    const DiskState* have = nullptr;
    for (const DiskState& d : s.disks) {
      if (SameDisk(d, *want)) have = &d;
    }
    if (have == nullptr) {
      AddDisk(s.name, s.host, *want);
      continue;
    }
    // Storage of other qualities (a changed raid-level, or a drivetype that
    // names another class): the disk moves there while mapped, before any
    // growth, which then takes the new qualities too.
    auto want_q = StorageQualities(want->drivetype, want->raid_level);
    if (!want_q.empty() && want_q != StorageQualities(have->drivetype, have->raid_level)) {
      Emit({.kind = ActionKind::kMigrateDisk,
            .effect = Effect::kChange,
            .server = s.name,
            .host = s.host,
            .target = want->target,
            .drivetype = want->drivetype,
            .raid_level = want->raid_level,
            .volume_ids = have->volume_ids});
    }
    if (want->size_bytes > have->size_bytes) {
      Emit({.kind = ActionKind::kGrowDisk,
            .effect = Effect::kChange,
            .server = s.name,
            .host = s.host,
            .target = want->target,
            .size_bytes = want->size_bytes - have->size_bytes,
            .new_size_bytes = want->size_bytes,
            .drivetype = want->drivetype,
            .volume_ids = have->volume_ids});
    }
    if (have->qos != want->qos) {
      // Limits apply to the mapped disk at once: a change, never a remap.
      Emit({.kind = ActionKind::kSetQos,
            .effect = Effect::kChange,
            .server = s.name,
            .host = s.host,
            .target = want->target,
            .volume_ids = have->volume_ids,
            .qos = want->qos});
    }
    if (have->cache != want->cache) {
      // The policy applies to the mapped disk at once: a change, never a remap.
      Emit({.kind = ActionKind::kSetCache,
            .effect = Effect::kChange,
            .server = s.name,
            .host = s.host,
            .target = want->target,
            .volume_ids = have->volume_ids,
            .cache = want->cache});
    }
    if (have->image.empty() && !want->image.empty()) {
      // The copy never finished (or the disk was blank before): make it now.
      Emit({.kind = ActionKind::kCopyImage,
            .effect = Effect::kChange,
            .server = s.name,
            .host = s.host,
            .target = want->target,
            .image = want->image,
            .volume_ids = have->volume_ids});
    }
    // An apply cut short between allocation and map: finish the disk.
    if (!have->bound) {
      Emit({.kind = ActionKind::kBind,
            .effect = Effect::kChange,
            .server = s.name,
            .host = s.host,
            .target = want->target,
            .volume_ids = have->volume_ids});
    }
    if (!have->mapped) {
      Emit({.kind = ActionKind::kMap,
            .effect = have->bound ? Effect::kChange : Effect::kNone,
            .server = s.name,
            .host = s.host,
            .target = want->target,
            .volume_ids = have->volume_ids});
    }
  }
  for (const fml::SharedDisk& sd : w.role->shared_disks) {
    bool mapped = false;
    for (const SharedDiskMapping& m : current_.shared_disks) {
      mapped = mapped || (m.mapped && m.server == s.name && m.global_name == sd.global_name &&
                          m.target == sd.target);
    }
    if (!mapped) AddSharedDisk(s.name, s.host, sd);
  }
  if (!s.powered_on) {
    Emit({.kind = ActionKind::kPowerOn,
          .effect = Effect::kChange,
          .server = s.name,
          .host = s.host});
  }
}

Result<FarmPlan> Planner::Run() {
  plan_.farm = desired_.name;
  if (!fml::IsValidName(desired_.name)) {
    Refuse(Code::kInvalidArgument, "farm name " + Quote(desired_.name) +
                                       " cannot be used in server names; expected 1 to 63 of "
                                       "A-Z a-z 0-9 . _ -, not starting with . or -");
  }
  DecideServers();
  CheckDisks();
  CheckPool();
  if (!problems_.empty()) {
    std::string msg;
    for (const Problem& p : problems_) msg += (msg.empty() ? "" : "\n") + p.message;
    return Status(problems_.front().code, msg);
  }

  // 1. What goes away.
  for (const ServerState* s : removed_) RemoveServer(*s);
  for (const auto& [s, w] : kept_) {
    for (const SharedDiskMapping& m : current_.shared_disks) {
      if (m.server == s->name && !WantsMapping(m)) Unmap(*s, m);
    }
    for (const DiskState& d : s->disks) {
      bool wanted = false;
      for (const fml::Disk& want : w->role->disks) wanted = wanted || SameDisk(d, want);
      if (!wanted) RemoveDisk(*s, d);
    }
  }
  for (const GlobalDiskState& g : current_.global_disks) {
    if (desired_.FindGlobalDisk(g.global_name) != nullptr) continue;
    Action a{.kind = ActionKind::kScrub,
             .global_name = g.global_name,
             .size_bytes = g.size_bytes,
             .volume_ids = g.volume_ids};
    Emit(a);
    a.kind = ActionKind::kFree;
    a.effect = Effect::kRemove;
    Emit(a);
  }

  // 2. Farm-global disks, before any server's disks (seed section 3.6).
  for (const fml::GlobalDisk& want : desired_.global_disks) {
    const GlobalDiskState* have = nullptr;
    for (const GlobalDiskState& g : current_.global_disks) {
      if (g.global_name == want.global_name) have = &g;
    }
    if (have == nullptr) {
      Emit({.kind = ActionKind::kAllocateGlobalDisk,
            .effect = Effect::kAdd,
            .global_name = want.global_name,
            .size_bytes = want.size_bytes,
            .drivetype = want.drivetype,
            .raid_level = want.raid_level,
            .backup_policies = want.backup_policies});
      if (!want.qos.empty()) {
        Emit({.kind = ActionKind::kSetQos, .global_name = want.global_name, .qos = want.qos});
      }
      if (!want.cache.empty()) {
        Emit({.kind = ActionKind::kSetCache, .global_name = want.global_name, .cache = want.cache});
      }
      continue;
    }
    // As a server's disk (ChangeServer): storage of other qualities means a
    // live move, once for the unit every mapping server shares, before any
    // growth.
    auto want_q = StorageQualities(want.drivetype, want.raid_level);
    if (!want_q.empty() && want_q != StorageQualities(have->drivetype, have->raid_level)) {
      Emit({.kind = ActionKind::kMigrateDisk,
            .effect = Effect::kChange,
            .global_name = want.global_name,
            .drivetype = want.drivetype,
            .raid_level = want.raid_level,
            .volume_ids = have->volume_ids});
    }
    if (want.size_bytes > have->size_bytes) {
      Emit({.kind = ActionKind::kGrowDisk,
            .effect = Effect::kChange,
            .global_name = want.global_name,
            .size_bytes = want.size_bytes - have->size_bytes,
            .new_size_bytes = want.size_bytes,
            .drivetype = want.drivetype,
            .volume_ids = have->volume_ids});
    }
    if (have->qos != want.qos) {
      Emit({.kind = ActionKind::kSetQos,
            .effect = Effect::kChange,
            .global_name = want.global_name,
            .volume_ids = have->volume_ids,
            .qos = want.qos});
    }
    if (have->cache != want.cache) {
      Emit({.kind = ActionKind::kSetCache,
            .effect = Effect::kChange,
            .global_name = want.global_name,
            .volume_ids = have->volume_ids,
            .cache = want.cache});
    }
  }

  // 3. Servers that stay.
  for (const auto& [s, w] : kept_) ChangeServer(*s, *w);

  // 4. New servers.
  std::map<std::string, size_t> next_host;
  for (const Want* w : added_) {
    const std::string& hw = w->role->hw;
    const std::string host = hosts_[hw][next_host[hw]++];
    Emit({.kind = ActionKind::kTakeHost,
          .effect = Effect::kAdd,
          .server = w->name,
          .host = host,
          .hw = hw,
          .role = w->role->id});
    for (const fml::Disk* d : ByTarget(*w->role)) AddDisk(w->name, host, *d);
    for (const fml::SharedDisk& sd : w->role->shared_disks) AddSharedDisk(w->name, host, sd);
    Emit({.kind = ActionKind::kPowerOn, .server = w->name, .host = host});
  }

  for (const Action& a : plan_.actions) {
    plan_.to_add += a.effect == Effect::kAdd;
    plan_.to_change += a.effect == Effect::kChange;
    plan_.to_remove += a.effect == Effect::kRemove;
  }
  return std::move(plan_);
}

}  // namespace

std::map<std::string, std::string> StorageQualities(const std::string& drivetype, const std::string& raid_level) {
  std::map<std::string, std::string> q;
  std::string type = drivetype;
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::tolower(c); });
  if (type == "raid" || type == "performance" || type == "spindle" || type == "bandwidth") q["class"] = type;
  if (!raid_level.empty()) q["raid"] = raid_level;
  return q;
}

const char* ActionKindName(ActionKind kind) {
  switch (kind) {
    case ActionKind::kTakeHost:
      return "take-host";
    case ActionKind::kReleaseHost:
      return "release-host";
    case ActionKind::kAllocateGlobalDisk:
      return "allocate-global-disk";
    case ActionKind::kAllocateDisk:
      return "allocate-disk";
    case ActionKind::kGrowDisk:
      return "grow-disk";
    case ActionKind::kCopyImage:
      return "copy-image";
    case ActionKind::kBind:
      return "bind";
    case ActionKind::kMap:
      return "map";
    case ActionKind::kMapSharedDisk:
      return "map-shared-disk";
    case ActionKind::kUnmap:
      return "unmap";
    case ActionKind::kUnbind:
      return "unbind";
    case ActionKind::kScrub:
      return "scrub";
    case ActionKind::kFree:
      return "free";
    case ActionKind::kPowerOn:
      return "power-on";
    case ActionKind::kPowerOff:
      return "power-off";
    case ActionKind::kMigrateDisk:
      return "migrate";
    case ActionKind::kSetQos:
      return "set-qos";
    case ActionKind::kSetCache:
      return "set-cache";
  }
  return "unknown";
}

std::string Action::ToString() const {
  const std::string lun = "LUN " + std::to_string(target);
  switch (kind) {
    case ActionKind::kTakeHost:
      return "+ take host " + host + " (hw " + hw + ") from the pool for " + server;
    case ActionKind::kReleaseHost:
      return "- release host " + host + " of " + server + " to the pool";
    case ActionKind::kAllocateGlobalDisk:
    case ActionKind::kAllocateDisk: {
      std::string s = "+ allocate " + Subject(*this);
      if (!drivename.empty()) s += " (" + drivename + ")";
      s += ": " + FormatSize(size_bytes);
      if (!drivetype.empty()) s += " " + drivetype;
      if (!raid_level.empty()) s += ", raid-level " + raid_level;
      for (const std::string& b : backup_policies) s += ", backup-policy " + b;
      return s;
    }
    case ActionKind::kGrowDisk:
      return "~ grow " + Subject(*this) + " from " + FormatSize(new_size_bytes - size_bytes) +
             " to " + FormatSize(new_size_bytes) + " (allocate " + FormatSize(size_bytes) +
             " and concatenate)";
    case ActionKind::kCopyImage:
      return std::string(effect == Effect::kChange ? "~" : "+") + " copy image " + image +
             " onto " + Subject(*this) + Volumes(volume_ids);
    case ActionKind::kBind:
      return "+ bind " + Subject(*this) + " to " + OnHost(*this);
    case ActionKind::kMap:
      return "+ map " + Subject(*this) + " as " + lun + " on host " + host;
    case ActionKind::kMapSharedDisk:
      return "+ map " + Subject(*this) + " as " + lun + " on " + OnHost(*this);
    case ActionKind::kUnmap:
      return "- unmap " + Subject(*this) + " (" + lun + ") from " + OnHost(*this);
    case ActionKind::kUnbind:
      return "- unbind " + Subject(*this) + " from " + OnHost(*this) + Volumes(volume_ids);
    case ActionKind::kScrub:
      return "- scrub " + Subject(*this) + Volumes(volume_ids);
    case ActionKind::kFree:
      return "- free " + Subject(*this) + Volumes(volume_ids);
    case ActionKind::kPowerOn:
      return std::string(effect == Effect::kChange ? "~" : "+") + " power on " + server +
             " (host " + host + ")";
    case ActionKind::kPowerOff:
      return "- power off " + server + " (host " + host + ")";
    case ActionKind::kSetQos:
      return std::string(effect == Effect::kChange ? "~" : "+") + " set limits of " + Subject(*this) + ": " +
             (qos.empty() ? std::string("none") : qos) + Volumes(volume_ids);
    case ActionKind::kMigrateDisk: {
      std::string q;
      for (auto& [k, v] : StorageQualities(drivetype, raid_level)) q += (q.empty() ? "" : ",") + k + "=" + v;
      return "~ migrate " + Subject(*this) + " to storage with " + q +
             (global_name.empty() ? " (live, keeps its LUN)"
                                  : " (live, keeps its LUN on every server that maps it)") +
             Volumes(volume_ids);
    }
    case ActionKind::kSetCache:
      return std::string(effect == Effect::kChange ? "~" : "+") + " set cache policy of " +
             Subject(*this) + ": " + (cache.empty() ? std::string("none") : cache) +
             Volumes(volume_ids);
  }
  return "? unknown action";
}

std::string FarmPlan::Summary() const {
  if (actions.empty()) return "No changes: farm " + farm + " matches its definition.";
  return "Plan: " + std::to_string(to_add) + " to add, " + std::to_string(to_change) +
         " to change, " + std::to_string(to_remove) + " to remove.";
}

std::string FarmPlan::ToString() const {
  std::string out;
  for (const Action& a : actions) out += a.ToString() + "\n";
  return out + Summary() + "\n";
}

Result<FarmPlan> Plan(const fml::FarmSpec& desired, const FarmState& current) {
  return Planner(desired, current).Run();
}

FarmState Simulate(const FarmState& current, const FarmPlan& plan, VolumeId* next_volume_id) {
  FarmState s = current;
  auto server = [&](const std::string& name) -> ServerState* {
    for (ServerState& x : s.servers) {
      if (x.name == name) return &x;
    }
    return nullptr;
  };
  auto global = [&](const std::string& name) -> GlobalDiskState* {
    for (GlobalDiskState& g : s.global_disks) {
      if (g.global_name == name) return &g;
    }
    return nullptr;
  };
  auto disk = [&](const Action& a) -> DiskState* {
    ServerState* x = server(a.server);
    if (x == nullptr) return nullptr;
    for (DiskState& d : x->disks) {
      if (d.target == a.target) return &d;
    }
    return nullptr;
  };
  for (const Action& a : plan.actions) {
    switch (a.kind) {
      case ActionKind::kTakeHost:
        std::erase_if(s.pool, [&](const IdleHost& h) { return h.name == a.host; });
        s.servers.push_back({.name = a.server, .role = a.role, .hw = a.hw, .host = a.host});
        break;
      case ActionKind::kReleaseHost:
        std::erase_if(s.servers, [&](const ServerState& x) { return x.name == a.server; });
        s.pool.push_back({a.host, a.hw});
        break;
      case ActionKind::kAllocateGlobalDisk:
        s.global_disks.push_back({.global_name = a.global_name,
                                  .size_bytes = a.size_bytes,
                                  .drivetype = a.drivetype,
                                  .volume_ids = {(*next_volume_id)++},
                                  .raid_level = a.raid_level});
        break;
      case ActionKind::kAllocateDisk:
        if (ServerState* x = server(a.server)) {
          x->disks.push_back({.target = a.target,
                              .drivename = a.drivename,
                              .size_bytes = a.size_bytes,
                              .drivetype = a.drivetype,
                              .volume_ids = {(*next_volume_id)++},
                              .raid_level = a.raid_level});
        }
        break;
      case ActionKind::kGrowDisk:
        if (!a.global_name.empty()) {
          if (GlobalDiskState* g = global(a.global_name)) {
            g->size_bytes = a.new_size_bytes;
            g->volume_ids.push_back((*next_volume_id)++);
          }
        } else if (DiskState* d = disk(a)) {
          d->size_bytes = a.new_size_bytes;
          d->volume_ids.push_back((*next_volume_id)++);
        }
        break;
      case ActionKind::kCopyImage:
        if (DiskState* d = disk(a)) d->image = a.image;
        break;
      case ActionKind::kMigrateDisk:
        if (!a.global_name.empty()) {
          if (GlobalDiskState* g = global(a.global_name)) {
            g->drivetype = a.drivetype;
            g->raid_level = a.raid_level;
            g->volume_ids = {(*next_volume_id)++};
          }
        } else if (DiskState* d = disk(a)) {
          d->drivetype = a.drivetype;
          d->raid_level = a.raid_level;
          d->volume_ids = {(*next_volume_id)++};
        }
        break;
      case ActionKind::kSetQos:
        if (!a.global_name.empty()) {
          if (GlobalDiskState* g = global(a.global_name)) g->qos = a.qos;
        } else if (DiskState* d = disk(a)) {
          d->qos = a.qos;
        }
        break;
      case ActionKind::kSetCache:
        if (!a.global_name.empty()) {
          if (GlobalDiskState* g = global(a.global_name)) g->cache = a.cache;
        } else if (DiskState* d = disk(a)) {
          d->cache = a.cache;
        }
        break;
      case ActionKind::kMapSharedDisk:
        s.shared_disks.push_back({a.server, a.global_name, a.target});
        break;
      case ActionKind::kUnmap:
        if (!a.global_name.empty()) {
          std::erase_if(s.shared_disks, [&](const SharedDiskMapping& m) {
            return m.server == a.server && m.global_name == a.global_name && m.target == a.target;
          });
        }
        break;
      case ActionKind::kFree:
        if (!a.global_name.empty()) {
          std::erase_if(s.global_disks,
                        [&](const GlobalDiskState& g) { return g.global_name == a.global_name; });
        } else if (ServerState* x = server(a.server)) {
          std::erase_if(x->disks, [&](const DiskState& d) { return d.target == a.target; });
        }
        break;
      case ActionKind::kPowerOn:
      case ActionKind::kPowerOff:
        if (ServerState* x = server(a.server)) x->powered_on = a.kind == ActionKind::kPowerOn;
        break;
      case ActionKind::kBind:
      case ActionKind::kMap:
      case ActionKind::kUnbind:
      case ActionKind::kScrub:
        break;
    }
  }
  return s;
}

}  // namespace vsl::farm
