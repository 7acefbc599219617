#include "farm/farm_record.h"

#include "fml/fml.h"

namespace vsl::farm {

using nlohmann::json;

ServerRecord* FarmRecord::FindServer(const std::string& n) {
  for (ServerRecord& s : servers) {
    if (s.name == n) return &s;
  }
  return nullptr;
}

DiskRecord* FarmRecord::FindDisk(const std::string& server, int target) {
  ServerRecord* s = FindServer(server);
  if (s == nullptr) return nullptr;
  for (DiskRecord& d : s->disks) {
    if (d.target == target) return &d;
  }
  return nullptr;
}

GlobalDiskRecord* FarmRecord::FindGlobal(const std::string& g) {
  for (GlobalDiskRecord& d : global_disks) {
    if (d.global_name == g) return &d;
  }
  return nullptr;
}

FarmState FarmRecord::ToState(std::vector<IdleHost> pool) const {
  FarmState st;
  for (const ServerRecord& s : servers) {
    ServerState ss{s.name, s.role, s.hw, s.host, s.powered_on, {}};
    for (const DiskRecord& d : s.disks) {
      ss.disks.push_back({d.target,
                          d.drivename,
                          d.size_bytes,
                          d.drivetype,
                          d.image,
                          {d.unit},
                          d.bound,
                          d.mapped,
                          d.qos,
                          d.cache,
                          d.raid_level});
    }
    st.servers.push_back(std::move(ss));
  }
  for (const GlobalDiskRecord& g : global_disks) {
    st.global_disks.push_back(
        {g.global_name, g.size_bytes, g.drivetype, {g.unit}, g.qos, g.cache, g.raid_level});
  }
  st.shared_disks = shared_disks;
  st.pool = std::move(pool);
  return st;
}

json ToJson(const FarmRecord& r) {
  json servers = json::array();
  for (const ServerRecord& s : r.servers) {
    json disks = json::array();
    for (const DiskRecord& d : s.disks) {
      disks.push_back({{"target", d.target},
                       {"drivename", d.drivename},
                       {"drivetype", d.drivetype},
                       {"image", d.image},
                       {"raid_level", d.raid_level},
                       {"size_bytes", d.size_bytes},
                       {"unit", d.unit},
                       {"backup_policies", d.backup_policies},
                       {"bound", d.bound},
                       {"mapped", d.mapped}});
    }
    servers.push_back({{"name", s.name},
                       {"role", s.role},
                       {"hw", s.hw},
                       {"host", s.host},
                       {"powered_on", s.powered_on},
                       {"disks", disks}});
  }
  json globals = json::array();
  for (const GlobalDiskRecord& g : r.global_disks) {
    globals.push_back({{"global_name", g.global_name},
                       {"drivetype", g.drivetype},
                       {"raid_level", g.raid_level},
                       {"size_bytes", g.size_bytes},
                       {"unit", g.unit},
                       {"backup_policies", g.backup_policies}});
  }
  json shared = json::array();
  for (const SharedDiskMapping& m : r.shared_disks) {
    shared.push_back(
        {{"server", m.server}, {"global_name", m.global_name}, {"target", m.target}, {"mapped", m.mapped}});
  }
  return {{"farm_id", r.farm_id},         {"name", r.name},          {"state", r.state},
          {"last_error", r.last_error},   {"servers", servers},      {"global_disks", globals},
          {"shared_disks", shared},       {"leftovers", r.leftovers}};
}

Result<FarmRecord> FarmRecordFromJson(const json& j) {
  try {
    FarmRecord r;
    r.farm_id = j.at("farm_id").get<int64_t>();
    r.name = j.at("name").get<std::string>();
    r.state = j.at("state").get<std::string>();
    r.last_error = j.value("last_error", "");
    for (const json& s : j.at("servers")) {
      ServerRecord sr;
      sr.name = s.at("name");
      sr.role = s.at("role");
      sr.hw = s.at("hw");
      sr.host = s.at("host");
      sr.powered_on = s.at("powered_on");
      for (const json& d : s.at("disks")) {
        DiskRecord dr;
        dr.target = d.at("target");
        dr.drivename = d.at("drivename");
        dr.drivetype = d.at("drivetype");
        dr.image = d.at("image");
        dr.raid_level = d.value("raid_level", "");
        dr.size_bytes = d.at("size_bytes");
        dr.unit = d.at("unit");
        dr.backup_policies = d.at("backup_policies").get<std::vector<std::string>>();
        dr.bound = d.value("bound", false);
        dr.mapped = d.value("mapped", false);
        sr.disks.push_back(std::move(dr));
      }
      r.servers.push_back(std::move(sr));
    }
    for (const json& g : j.at("global_disks")) {
      GlobalDiskRecord gr;
      gr.global_name = g.at("global_name");
      gr.drivetype = g.at("drivetype");
      gr.raid_level = g.value("raid_level", "");
      gr.size_bytes = g.at("size_bytes");
      gr.unit = g.at("unit");
      gr.backup_policies = g.at("backup_policies").get<std::vector<std::string>>();
      r.global_disks.push_back(std::move(gr));
    }
    for (const json& m : j.at("shared_disks")) {
      r.shared_disks.push_back({m.at("server"), m.at("global_name"), m.at("target"), m.value("mapped", true)});
    }
    r.leftovers = j.value("leftovers", std::vector<int64_t>{});
    return r;
  } catch (const json::exception& e) {
    return DataLoss(std::string("farm record is malformed: ") + e.what());
  }
}

Status EnsureRecordTable(catalog::Catalog& catalog) {
  return catalog.Write([](catalog::Tx& tx) -> Status {
    return tx.Exec("CREATE TABLE IF NOT EXISTS farm_records (farm_id BIGINT PRIMARY KEY, doc TEXT NOT NULL)")
        .status();
  });
}

Result<std::optional<FarmRecord>> LoadRecord(catalog::Tx& tx, int64_t farm_id) {
  VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT doc FROM farm_records WHERE farm_id = ?", {farm_id}));
  if (!row) return std::optional<FarmRecord>();
  json j = json::parse(row->Text(0), nullptr, false);
  if (j.is_discarded()) return DataLoss("farm record of farm " + std::to_string(farm_id) + " is not JSON");
  VSL_ASSIGN_OR_RETURN(FarmRecord r, FarmRecordFromJson(j));
  return std::optional<FarmRecord>(std::move(r));
}

Status StoreRecord(catalog::Tx& tx, const FarmRecord& r) {
  VSL_RETURN_IF_ERROR(DeleteRecord(tx, r.farm_id));
  return tx.Exec("INSERT INTO farm_records (farm_id, doc) VALUES (?, ?)", {r.farm_id, ToJson(r).dump()}).status();
}

Status DeleteRecord(catalog::Tx& tx, int64_t farm_id) {
  return tx.Exec("DELETE FROM farm_records WHERE farm_id = ?", {farm_id}).status();
}

namespace {

void AddScheduled(const std::string& farm, int64_t unit, const std::vector<std::string>& texts,
                  std::vector<manager::ScheduledDisk>* out) {
  if (unit <= 0 || texts.empty()) return;
  auto parsed = fml::ParseBackupPolicies(texts);
  if (!parsed.ok()) return;
  manager::ScheduledDisk d{unit, farm, {}};
  for (const fml::BackupPolicy& p : *parsed) d.policies.push_back({p.level, p.schedule});
  out->push_back(std::move(d));
}

}  // namespace

Result<std::vector<manager::ScheduledDisk>> ScheduledDisks(catalog::Catalog& catalog) {
  std::vector<manager::ScheduledDisk> out;
  VSL_RETURN_IF_ERROR(catalog.Read([&](catalog::Tx& tx) -> Status {
    out.clear();
    VSL_ASSIGN_OR_RETURN(auto farms, catalog.ListFarms(tx));
    for (const catalog::Farm& f : farms) {
      VSL_ASSIGN_OR_RETURN(auto record, LoadRecord(tx, f.id));
      if (!record || record->state != "ready") continue;
      for (const ServerRecord& s : record->servers) {
        for (const DiskRecord& d : s.disks) AddScheduled(f.name, d.unit, d.backup_policies, &out);
      }
      for (const GlobalDiskRecord& g : record->global_disks) AddScheduled(f.name, g.unit, g.backup_policies, &out);
    }
    return Status::Ok();
  }));
  return out;
}

}  // namespace vsl::farm
