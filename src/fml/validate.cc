// Validate: the checks that need the whole FarmSpec.
#include <map>
#include <set>
#include <string>

#include "fml/fml.h"
#include "fml/source.h"
#include "fml/text.h"

namespace vsl::fml {

namespace {

std::string LineColumn(Loc loc) {
  return "line " + std::to_string(loc.line) + ", column " + std::to_string(loc.column);
}

constexpr std::string_view kNameRule =
    "expected 1 to 63 of A-Z a-z 0-9 . _ -, not starting with . or -";

// Records `key` at `loc`; reports it and returns false when it was recorded before.
bool Unique(Diagnostics* d, std::map<std::string, Loc>* seen, const std::string& key, Loc loc,
            const std::string& what, const std::string& where = "") {
  auto [it, inserted] = seen->emplace(key, loc);
  if (!inserted) {
    d->Add(loc, "duplicate " + what + " " + Quote(key) + where + "; the first is at " +
                    LineColumn(it->second));
  }
  return inserted;
}

void ValidateTier(const FarmSpec& spec, const Tier& tier, Diagnostics* d) {
  if (!tier.role.empty() && spec.FindRole(tier.role) == nullptr) {
    d->Add(tier.role_loc, "tier " + Quote(tier.id) + " uses role " + Quote(tier.role) +
                              ", which no <server-role> defines");
  }
  for (const Interface& itf : tier.interfaces) {
    if (spec.FindSubnet(itf.subnet) == nullptr) {
      d->Add(itf.subnet_loc, "interface " + Quote(itf.name) + " uses subnet " + Quote(itf.subnet) +
                                 ", which no <subnet> defines");
    }
  }
  if (tier.min_servers > tier.max_servers) {
    d->Add(tier.min_loc, "min-servers " + std::to_string(tier.min_servers) +
                             " is greater than max-servers " + std::to_string(tier.max_servers) +
                             " in tier " + Quote(tier.id));
  } else if (tier.init_servers < tier.min_servers || tier.init_servers > tier.max_servers) {
    d->Add(tier.init_loc, "init-servers " + std::to_string(tier.init_servers) +
                              " is outside min-servers..max-servers (" +
                              std::to_string(tier.min_servers) + ".." +
                              std::to_string(tier.max_servers) + ") in tier " + Quote(tier.id));
  }
}

// Each backup-policy attribute of one disk parses, and together they make
// sense (ParseBackupPolicies); reported at the attribute that is wrong.
void ValidateBackupPolicies(const std::vector<DiskAttribute>& attributes, Diagnostics* d) {
  std::vector<std::string> texts;
  std::vector<Loc> locs;
  for (const DiskAttribute& a : attributes) {
    if (a.name != "backup-policy") continue;
    Result<BackupPolicy> one = ParseBackupPolicy(a.value);
    if (!one.ok()) {
      d->Add(a.loc, one.status().message());
      return;
    }
    texts.push_back(a.value);
    locs.push_back(a.loc);
    Result<std::vector<BackupPolicy>> so_far = ParseBackupPolicies(texts);
    if (!so_far.ok() && so_far.status().message().find("already has") != std::string::npos) {
      d->Add(a.loc, so_far.status().message());
      return;
    }
  }
  Result<std::vector<BackupPolicy>> all = ParseBackupPolicies(texts);
  if (!all.ok()) d->Add(locs.front(), all.status().message());
}

void ValidateRole(const FarmSpec& spec, ServerRole* role, Diagnostics* d) {
  std::map<int, Loc> targets;  // target -> where it was first used
  auto claim = [&](int target, Loc loc) {
    auto [it, inserted] = targets.emplace(target, loc);
    if (!inserted) {
      d->Add(loc, "two disks at target " + std::to_string(target) + " in server-role " +
                      Quote(role->id) + "; the other is at " + LineColumn(it->second));
    }
  };
  std::map<std::string, Loc> drivenames;
  for (const Disk& disk : role->disks) {
    ValidateBackupPolicies(disk.attributes, d);
    if (disk.target_given) claim(disk.target, disk.target_loc);
    if (!disk.drivename.empty()) {
      Unique(d, &drivenames, disk.drivename, disk.drivename_loc, "drivename",
             " in server-role " + Quote(role->id));
    }
  }
  for (const SharedDisk& shared : role->shared_disks) {
    if (shared.target >= 0) claim(shared.target, shared.target_loc);
    if (!shared.global_name.empty() && spec.FindGlobalDisk(shared.global_name) == nullptr) {
      d->Add(shared.global_name_loc, "shared-disk global-name " + Quote(shared.global_name) +
                                         " is not defined in <farm-global-disks>");
    }
  }
  // Disks named only by drivename take the lowest free targets, in file order.
  int next = 0;
  for (Disk& disk : role->disks) {
    if (disk.target_given || disk.drivename.empty()) continue;
    while (next <= kMaxTarget && targets.count(next) > 0) ++next;
    if (next > kMaxTarget) {
      d->Add(disk.loc, "no free target left for disk " + Quote(disk.drivename) +
                           " in server-role " + Quote(role->id));
      continue;
    }
    disk.target = next;
    targets.emplace(next, disk.loc);
  }
}

}  // namespace

Status Validate(FarmSpec* spec) {
  Diagnostics d(spec->file);
  if (spec->name_given && !IsValidName(spec->name)) {
    d.Add(spec->name_loc, "farm name " + Quote(spec->name) + " cannot be used in server names; " +
                              std::string(kNameRule));
  }
  std::map<std::string, Loc> subnet_ids, role_ids, global_names, tier_ids, prefixes;
  for (const Subnet& s : spec->subnets) Unique(&d, &subnet_ids, s.id, s.loc, "subnet id");
  for (const ServerRole& r : spec->roles) Unique(&d, &role_ids, r.id, r.loc, "server-role id");
  for (const GlobalDisk& g : spec->global_disks) {
    Unique(&d, &global_names, g.global_name, g.global_name_loc, "global-name");
    ValidateBackupPolicies(g.attributes, &d);
  }
  for (const Tier& t : spec->tiers) {
    const std::string& prefix = t.ServerPrefix();
    if (!Unique(&d, &tier_ids, t.id, t.loc, "tier id")) {
      // Already reported; a second message about its name would only repeat it.
    } else if (!IsValidName(prefix)) {
      d.Add(t.loc, "tier " + std::string(t.name.empty() ? "id " : "name ") + Quote(prefix) +
                       " cannot be used in server names; " + std::string(kNameRule));
    } else {
      // A tier's servers are named after it, so no two tiers may share a name.
      Unique(&d, &prefixes, prefix, t.loc, "tier name");
    }
    ValidateTier(*spec, t, &d);
  }
  for (ServerRole& r : spec->roles) ValidateRole(*spec, &r, &d);
  return d.ToStatus();
}

Result<FarmSpec> Parse(std::string_view text, std::string_view file) {
  VSL_ASSIGN_OR_RETURN(FarmSpec spec, ReadXml(text, file));
  VSL_RETURN_IF_ERROR(Validate(&spec));
  return spec;
}

}  // namespace vsl::fml
