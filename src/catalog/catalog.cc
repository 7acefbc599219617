#include "catalog/catalog.h"

#include <nlohmann/json.hpp>

#include "catalog/schema.h"
#include "util/names.h"
#include "util/utf8.h"

namespace vsl::catalog {

std::string_view DiskStateName(DiskState s) {
  switch (s) {
    case DiskState::kFree: return "free";
    case DiskState::kAllocated: return "allocated";
    case DiskState::kConfigured: return "configured";
    case DiskState::kBound: return "bound";
    case DiskState::kMapped: return "mapped";
    case DiskState::kUnmapped: return "unmapped";
    case DiskState::kUnbound: return "unbound";
    case DiskState::kUnconfigured: return "unconfigured";
    case DiskState::kScrubbing: return "scrubbing";
  }
  return "?";
}

Result<DiskState> ParseDiskState(std::string_view name) {
  for (DiskState s : kAllDiskStates) {
    if (DiskStateName(s) == name) return s;
  }
  return InvalidArgument("unknown disk state '" + std::string(name) + "'");
}

std::string_view HostStateName(HostState s) { return s == HostState::kIdle ? "idle" : "in-farm"; }

std::string_view RequestStateName(RequestState s) {
  switch (s) {
    case RequestState::kQueued: return "queued";
    case RequestState::kRunning: return "running";
    case RequestState::kDone: return "done";
    case RequestState::kFailed: return "failed";
  }
  return "?";
}

Result<RequestState> ParseRequestState(std::string_view name) {
  for (RequestState s : {RequestState::kQueued, RequestState::kRunning, RequestState::kDone, RequestState::kFailed}) {
    if (RequestStateName(s) == name) return s;
  }
  return InvalidArgument("unknown request state '" + std::string(name) + "'");
}

std::string QualitiesToJson(const Qualities& q) { return nlohmann::json(q).dump(); }

Qualities QualitiesFromJson(const std::string& json) {
  Qualities q;
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object()) return q;
  for (auto& [k, v] : j.items()) q[k] = v.is_string() ? v.get<std::string>() : v.dump();
  return q;
}

Result<std::unique_ptr<Catalog>> Catalog::Open(const std::string& url, Clock* clock, int pool_size) {
  VSL_ASSIGN_OR_RETURN(auto db, OpenDatabase(url, pool_size));
  VSL_RETURN_IF_ERROR(Migrate(*db));
  return std::make_unique<Catalog>(std::move(db), clock ? clock : SystemClock::Get());
}

Catalog::Catalog(std::unique_ptr<Database> db, Clock* clock) : db_(std::move(db)), clock_(clock) {}

// ---- arrays ----

namespace {

constexpr const char* kArrayCols =
    "id, name, driver, config, capacity, volume_size, qualities, dwml, discovered_ms, created_ms";

ArrayRecord ArrayFromRow(const Row& r) {
  ArrayRecord a;
  a.id = r.Int(0);
  a.name = r.Text(1);
  a.driver = r.Text(2);
  a.config = r.Text(3);
  a.capacity = r.Int(4);
  a.volume_size = r.Int(5);
  a.qualities = QualitiesFromJson(r.Text(6));
  a.dwml = r.Text(7);
  a.discovered_ms = r.Int(8);
  a.created_ms = r.Int(9);
  return a;
}

ArrayPort PortFromRow(const Row& r) {
  ArrayPort p;
  p.id = r.Int(0);
  p.array_id = r.Int(1);
  p.port = r.Text(2);
  p.wwn = r.Text(3);
  p.san = r.Text(4);
  p.type = r.Text(5);
  p.ref_count = r.Int(6);
  return p;
}

}  // namespace

Result<ArrayRecord> Catalog::AddArray(Tx& tx, ArrayRecord a) {
  VSL_RETURN_IF_ERROR(CheckName("array name", a.name));
  VSL_RETURN_IF_ERROR(CheckSize("array '" + a.name + "': capacity", a.capacity));
  a.created_ms = NowMs();
  auto row = tx.QueryOne(
      "INSERT INTO arrays (name, driver, config, capacity, volume_size, qualities, dwml, discovered_ms, created_ms) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
      {a.name, a.driver, a.config.empty() ? std::string("{}") : a.config, static_cast<int64_t>(a.capacity),
       static_cast<int64_t>(a.volume_size), QualitiesToJson(a.qualities), a.dwml, a.discovered_ms, a.created_ms});
  if (!row.ok()) {
    if (row.status().code() == Code::kAlreadyExists) return AlreadyExists("array '" + a.name + "' exists already");
    return row.status();
  }
  a.id = (*row)->Int(0);
  return a;
}

Result<ArrayRecord> Catalog::GetArray(Tx& tx, int64_t id) {
  VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne(std::string("SELECT ") + kArrayCols + " FROM arrays WHERE id = ?", {id}));
  if (!row) return NotFound("array " + std::to_string(id) + " does not exist");
  return ArrayFromRow(*row);
}

Result<ArrayRecord> Catalog::GetArrayByName(Tx& tx, const std::string& name) {
  if (!IsValidUtf8(name)) return NotFound("array '" + Printable(name) + "' does not exist");
  VSL_ASSIGN_OR_RETURN(auto row,
                       tx.QueryOne(std::string("SELECT ") + kArrayCols + " FROM arrays WHERE name = ?", {name}));
  if (!row) return NotFound("array '" + Printable(name) + "' does not exist");
  return ArrayFromRow(*row);
}

Result<std::vector<ArrayRecord>> Catalog::ListArrays(Tx& tx) {
  VSL_ASSIGN_OR_RETURN(Rows rows, tx.Query(std::string("SELECT ") + kArrayCols + " FROM arrays ORDER BY id"));
  std::vector<ArrayRecord> out;
  for (const Row& r : rows) out.push_back(ArrayFromRow(r));
  return out;
}

Status Catalog::SetArrayDwml(Tx& tx, int64_t array_id, const std::string& dwml) {
  VSL_ASSIGN_OR_RETURN(int64_t n, tx.Exec("UPDATE arrays SET dwml = ?, discovered_ms = ? WHERE id = ?",
                                          {dwml, NowMs(), array_id}));
  if (n == 0) return NotFound("array " + std::to_string(array_id) + " does not exist");
  return Status::Ok();
}

Status Catalog::RemoveArray(Tx& tx, int64_t array_id) {
  VSL_ASSIGN_OR_RETURN(auto busy, tx.QueryOne("SELECT COUNT(*) FROM volumes WHERE array_id = ? AND state <> ?",
                                              {array_id, std::string(DiskStateName(DiskState::kFree))}));
  if (busy && busy->Int(0) > 0) {
    return FailedPrecondition("array " + std::to_string(array_id) + " still has " + busy->Text(0) +
                              " volumes in use");
  }
  VSL_RETURN_IF_ERROR(tx.Exec("DELETE FROM volume_port_luns WHERE volume_id IN "
                              "(SELECT id FROM volumes WHERE array_id = ?)",
                              {array_id})
                          .status());
  VSL_RETURN_IF_ERROR(tx.Exec("DELETE FROM volumes WHERE array_id = ?", {array_id}).status());
  VSL_ASSIGN_OR_RETURN(int64_t n, tx.Exec("DELETE FROM arrays WHERE id = ?", {array_id}));
  if (n == 0) return NotFound("array " + std::to_string(array_id) + " does not exist");
  return Status::Ok();
}

Result<ArrayPort> Catalog::UpsertPort(Tx& tx, ArrayPort p) {
  VSL_ASSIGN_OR_RETURN(auto row,
                       tx.QueryOne("INSERT INTO array_ports (array_id, port, wwn, san, type, ref_count) "
                                   "VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (array_id, port) DO UPDATE SET "
                                   "wwn = excluded.wwn, san = excluded.san, type = excluded.type "
                                   "RETURNING id, array_id, port, wwn, san, type, ref_count",
                                   {p.array_id, p.port, p.wwn, p.san, p.type}));
  if (!row) return Internal("upsert of port '" + p.port + "' returned no row");
  return PortFromRow(*row);
}

Result<std::vector<ArrayPort>> Catalog::ListPorts(Tx& tx, int64_t array_id) {
  VSL_ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT id, array_id, port, wwn, san, type, ref_count FROM array_ports "
                                           "WHERE array_id = ? ORDER BY id",
                                           {array_id}));
  std::vector<ArrayPort> out;
  for (const Row& r : rows) out.push_back(PortFromRow(r));
  return out;
}

Status Catalog::SetVolumePortLun(Tx& tx, const VolumePortLun& l) {
  return tx
      .Exec("INSERT INTO volume_port_luns (volume_id, port_id, lun) VALUES (?, ?, ?) "
            "ON CONFLICT (volume_id, port_id) DO UPDATE SET lun = excluded.lun",
            {l.volume_id, l.port_id, l.lun})
      .status();
}

Result<std::vector<VolumePortLun>> Catalog::ListVolumePortLuns(Tx& tx, int64_t volume_id) {
  VSL_ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT volume_id, port_id, lun FROM volume_port_luns "
                                           "WHERE volume_id = ? ORDER BY port_id",
                                           {volume_id}));
  std::vector<VolumePortLun> out;
  for (const Row& r : rows) out.push_back({r.Int(0), r.Int(1), r.Text(2)});
  return out;
}

// ---- events ----

Status Catalog::AppendEvent(Tx& tx, Event e) {
  if (e.time_ms == 0) e.time_ms = NowMs();
  return tx
      .Exec("INSERT INTO events (entity, entity_id, from_state, to_state, op, actor, request_id, time_ms, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            {e.entity, e.entity_id, e.from_state, e.to_state, e.op, e.actor, Opt(e.request_id), e.time_ms,
             e.detail})
      .status();
}

Result<std::vector<Event>> Catalog::ListEvents(Tx& tx, const EventFilter& f) {
  std::string sql =
      "SELECT id, entity, entity_id, from_state, to_state, op, actor, request_id, time_ms, detail "
      "FROM events WHERE id > ?";
  std::vector<Value> params{f.after_id};
  if (f.entity) {
    sql += " AND entity = ?";
    params.emplace_back(*f.entity);
  }
  if (f.entity_id) {
    sql += " AND entity_id = ?";
    params.emplace_back(*f.entity_id);
  }
  if (f.request_id) {
    sql += " AND request_id = ?";
    params.emplace_back(*f.request_id);
  }
  sql += " ORDER BY id LIMIT ?";
  params.emplace_back(f.limit);
  VSL_ASSIGN_OR_RETURN(Rows rows, tx.Query(sql, params));
  std::vector<Event> out;
  for (const Row& r : rows) {
    Event e;
    e.id = r.Int(0);
    e.entity = r.Text(1);
    e.entity_id = r.Int(2);
    e.from_state = r.Text(3);
    e.to_state = r.Text(4);
    e.op = r.Text(5);
    e.actor = r.Text(6);
    e.request_id = r.OptInt(7);
    e.time_ms = r.Int(8);
    e.detail = r.Text(9);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace vsl::catalog
