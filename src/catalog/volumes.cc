// The disk table (table 1) and the binding table (table 4).
#include "catalog/catalog.h"

#include <algorithm>

namespace vsl::catalog {
namespace {

constexpr const char* kVolumeCols =
    "id, array_id, array_volume, type, size, parent_id, member_order, bcv_id, farm_id, state, "
    "prior_state, "
    "clean, image_id, qualities, request_id, vanished, created_ms, updated_ms, qos, cache";

Result<Volume> VolumeFromRow(const Row& r) {
  Volume v;
  v.id = r.Int(0);
  v.array_id = r.OptInt(1);
  v.array_volume = r.Text(2);
  v.type = r.Text(3);
  v.size = r.Int(4);
  v.parent_id = r.OptInt(5);
  v.member_order = r.Int(6);
  v.bcv_id = r.OptInt(7);
  v.farm_id = r.OptInt(8);
  VSL_ASSIGN_OR_RETURN(v.state, ParseDiskState(r.Text(9)));
  if (!r.IsNull(10)) {
    VSL_ASSIGN_OR_RETURN(DiskState p, ParseDiskState(r.Text(10)));
    v.prior_state = p;
  }
  v.clean = r.Bool(11);
  v.image_id = r.OptInt(12);
  v.qualities = QualitiesFromJson(r.Text(13));
  v.request_id = r.OptInt(14);
  v.vanished = r.Bool(15);
  v.created_ms = r.Int(16);
  v.updated_ms = r.Int(17);
  v.qos = r.Text(18);
  v.cache = r.Text(19);
  return v;
}

Result<std::vector<Volume>> VolumesFromRows(const Rows& rows) {
  std::vector<Volume> out;
  out.reserve(rows.size());
  for (const Row& r : rows) {
    VSL_ASSIGN_OR_RETURN(Volume v, VolumeFromRow(r));
    out.push_back(std::move(v));
  }
  return out;
}

// Appends "col = ?" pieces for the fields set in `u`.
void AppendUpdate(const VolumeUpdate& u, std::string* sql, std::vector<Value>* params) {
  auto set = [&](const char* col, Value v) {
    *sql += ", ";
    *sql += col;
    *sql += " = ?";
    params->push_back(std::move(v));
  };
  if (u.parent_id) set("parent_id", Opt(*u.parent_id));
  if (u.member_order) set("member_order", *u.member_order);
  if (u.bcv_id) set("bcv_id", Opt(*u.bcv_id));
  if (u.farm_id) set("farm_id", Opt(*u.farm_id));
  if (u.prior_state) {
    set("prior_state", *u.prior_state ? Value(std::string(DiskStateName(**u.prior_state))) : Value(nullptr));
  }
  if (u.clean) set("clean", int64_t{*u.clean ? 1 : 0});
  if (u.image_id) set("image_id", Opt(*u.image_id));
  if (u.request_id) set("request_id", Opt(*u.request_id));
  if (u.size) set("size", static_cast<int64_t>(*u.size));
}

std::string VolumeName(int64_t id) { return "volume " + std::to_string(id); }

}  // namespace

Result<Volume> Catalog::InsertVolume(Tx& tx, Volume v) {
  v.created_ms = v.updated_ms = NowMs();
  auto row = tx.QueryOne(
      "INSERT INTO volumes (array_id, array_volume, type, size, parent_id, member_order, bcv_id, farm_id, state, "
      "prior_state, clean, image_id, qualities, request_id, vanished, created_ms, updated_ms) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
      {Opt(v.array_id), v.array_volume, v.type, static_cast<int64_t>(v.size), Opt(v.parent_id), v.member_order,
       Opt(v.bcv_id), Opt(v.farm_id), std::string(DiskStateName(v.state)),
       v.prior_state ? Value(std::string(DiskStateName(*v.prior_state))) : Value(nullptr),
       int64_t{v.clean ? 1 : 0}, Opt(v.image_id), QualitiesToJson(v.qualities), Opt(v.request_id),
       int64_t{v.vanished ? 1 : 0}, v.created_ms, v.updated_ms});
  if (!row.ok()) {
    if (row.status().code() == Code::kAlreadyExists) {
      return AlreadyExists("array " + std::to_string(v.array_id.value_or(0)) + " volume '" + v.array_volume +
                           "' is in the catalog already");
    }
    return row.status();
  }
  v.id = (*row)->Int(0);
  return v;
}

Result<Volume> Catalog::GetVolume(Tx& tx, int64_t id) {
  VSL_ASSIGN_OR_RETURN(auto row,
                       tx.QueryOne(std::string("SELECT ") + kVolumeCols + " FROM volumes WHERE id = ?", {id}));
  if (!row) return NotFound(VolumeName(id) + " does not exist");
  return VolumeFromRow(*row);
}

Result<std::optional<Volume>> Catalog::FindArrayVolume(Tx& tx, int64_t array_id, const std::string& array_volume) {
  VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne(std::string("SELECT ") + kVolumeCols +
                                                 " FROM volumes WHERE array_id = ? AND array_volume = ?",
                                             {array_id, array_volume}));
  if (!row) return std::optional<Volume>();
  VSL_ASSIGN_OR_RETURN(Volume v, VolumeFromRow(*row));
  return std::optional<Volume>(std::move(v));
}

namespace {

// `where_sql` selects volumes ("SELECT cols FROM volumes WHERE ..."): the
// groups it holds first (a scan of three columns), then at most
// ceil(enough / size) rows of each, by id. Much cheaper than one window
// query on SQLite, and the groups are few (an array's volumes are alike).
Result<std::vector<Volume>> EnoughOfEachGroup(Tx& tx, const std::string& where_sql, const std::vector<Value>& params,
                                              uint64_t enough) {
  const std::string from = where_sql.substr(where_sql.find(" FROM volumes"));
  VSL_ASSIGN_OR_RETURN(Rows groups, tx.Query("SELECT array_id, size, qualities" + from +
                                                 " AND array_id IS NOT NULL AND size > 0 GROUP BY array_id, size, "
                                                 "qualities",
                                             params));
  std::vector<Volume> out;
  for (const Row& g : groups) {
    std::vector<Value> p = params;
    p.emplace_back(g.Int(0));
    p.emplace_back(g.Int(1));
    p.emplace_back(g.Text(2));
    p.emplace_back(int64_t((enough + uint64_t(g.Int(1)) - 1) / uint64_t(g.Int(1))));
    VSL_ASSIGN_OR_RETURN(Rows rows, tx.Query(where_sql + " AND array_id = ? AND size = ? AND qualities = ? ORDER BY id "
                                                          "LIMIT ?",
                                             p));
    VSL_ASSIGN_OR_RETURN(auto vols, VolumesFromRows(rows));
    out.insert(out.end(), vols.begin(), vols.end());
  }
  std::sort(out.begin(), out.end(), [](const Volume& a, const Volume& b) { return a.id < b.id; });
  return out;
}

}  // namespace

Result<std::vector<Volume>> Catalog::ListVolumes(Tx& tx, const VolumeFilter& f) {
  std::string sql = std::string("SELECT ") + kVolumeCols + " FROM volumes WHERE 1 = 1";
  std::vector<Value> params;
  if (f.state) {
    sql += " AND state = ?";
    params.emplace_back(std::string(DiskStateName(*f.state)));
  }
  if (f.array_id) {
    sql += " AND array_id = ?";
    params.emplace_back(*f.array_id);
  }
  if (f.type) {
    sql += " AND type = ?";
    params.emplace_back(*f.type);
  }
  if (f.parent_id) {
    sql += " AND parent_id = ?";
    params.emplace_back(*f.parent_id);
  }
  if (f.request_id) {
    sql += " AND request_id = ?";
    params.emplace_back(*f.request_id);
  }
  if (f.farm_id) {
    sql += " AND farm_id = ?";
    params.emplace_back(*f.farm_id);
  }
  if (f.clean) {
    sql += " AND clean = ?";
    params.emplace_back(int64_t(*f.clean));
  }
  if (f.top_level_only) sql += " AND parent_id IS NULL";
  if (!f.include_vanished) sql += " AND vanished = 0";
  if (f.enough_for) return EnoughOfEachGroup(tx, sql, params, *f.enough_for);
  sql += " ORDER BY id";
  VSL_ASSIGN_OR_RETURN(Rows rows, tx.Query(sql, params));
  return VolumesFromRows(rows);
}

Result<std::vector<Volume>> Catalog::Members(Tx& tx, int64_t meta_id) {
  VSL_ASSIGN_OR_RETURN(Rows rows, tx.Query(std::string("SELECT ") + kVolumeCols +
                                               " FROM volumes WHERE parent_id = ? ORDER BY member_order, id",
                                           {meta_id}));
  return VolumesFromRows(rows);
}

Result<uint64_t> Catalog::UsedBytes(Tx& tx, int64_t array_id) {
  VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT COALESCE(SUM(size), 0) FROM volumes WHERE array_id = ? AND "
                                             "vanished = 0",
                                             {array_id}));
  return row ? uint64_t(row->Int(0)) : 0;
}

Status Catalog::CasVolume(Tx& tx, int64_t id, DiskState from, DiskState to, const VolumeUpdate& u,
                          const std::string& op, const Actor& actor, const std::string& detail) {
  int64_t now = NowMs();
  std::string sql = "UPDATE volumes SET state = ?, updated_ms = ?";
  std::vector<Value> params{std::string(DiskStateName(to)), now};
  // A free volume carries no limits to its next user.
  if (to == DiskState::kFree) sql += ", qos = '', cache = 'none'";
  AppendUpdate(u, &sql, &params);
  sql += " WHERE id = ? AND state = ?";
  params.emplace_back(id);
  params.emplace_back(std::string(DiskStateName(from)));
  VSL_ASSIGN_OR_RETURN(int64_t n, tx.Exec(sql, params));
  if (n == 0) {
    VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT state FROM volumes WHERE id = ?", {id}));
    if (!row) return NotFound(VolumeName(id) + " does not exist");
    return Aborted(VolumeName(id) + " is " + row->Text(0) + ", not " + std::string(DiskStateName(from)) +
                   ": another request changed it first (" + op + ")");
  }
  Event e;
  e.entity = "volume";
  e.entity_id = id;
  e.from_state = DiskStateName(from);
  e.to_state = DiskStateName(to);
  e.op = op;
  e.actor = actor.name;
  e.request_id = actor.request_id;
  e.time_ms = now;
  e.detail = detail;
  return AppendEvent(tx, std::move(e));
}

Status Catalog::UpdateVolume(Tx& tx, int64_t id, DiskState state, const VolumeUpdate& u) {
  std::string sql = "UPDATE volumes SET updated_ms = ?";
  std::vector<Value> params{NowMs()};
  AppendUpdate(u, &sql, &params);
  sql += " WHERE id = ? AND state = ?";
  params.emplace_back(id);
  params.emplace_back(std::string(DiskStateName(state)));
  VSL_ASSIGN_OR_RETURN(int64_t n, tx.Exec(sql, params));
  if (n == 0) {
    VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT state FROM volumes WHERE id = ?", {id}));
    if (!row) return NotFound(VolumeName(id) + " does not exist");
    return Aborted(VolumeName(id) + " is " + row->Text(0) + ", not " + std::string(DiskStateName(state)));
  }
  return Status::Ok();
}

namespace {

// Sets the text column `column` (qos, cache) of volume `id` to `value` and
// records the event `op` with `detail`. A volume whose column holds `value`
// already is left alone, with no event, so a repeated request changes nothing.
Status SetVolumeSetting(Catalog& c, Tx& tx, int64_t id, const char* column, const std::string& value,
                        const char* op, std::string detail, const Actor& actor) {
  const int64_t now = c.NowMs();
  VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne(std::string("SELECT state, ") + column +
                                                 " FROM volumes WHERE id = ?",
                                             {id}));
  if (!row) return NotFound(VolumeName(id) + " does not exist");
  if (row->Text(1) == value) return Status::Ok();
  VSL_RETURN_IF_ERROR(tx.Exec(std::string("UPDATE volumes SET ") + column +
                                  " = ?, updated_ms = ? WHERE id = ?",
                              {value, now, id})
                          .status());
  Event e;
  e.entity = "volume";
  e.entity_id = id;
  e.from_state = e.to_state = row->Text(0);
  e.op = op;
  e.actor = actor.name;
  e.request_id = actor.request_id;
  e.time_ms = now;
  e.detail = std::move(detail);
  return c.AppendEvent(tx, std::move(e));
}

}  // namespace

Status Catalog::SetVolumeQos(Tx& tx, int64_t id, const std::string& qos, const Actor& actor) {
  return SetVolumeSetting(*this, tx, id, "qos", qos, "qos", qos.empty() ? "no limits" : qos, actor);
}

Status Catalog::SetVolumeCache(Tx& tx, int64_t id, const std::string& policy, const Actor& actor) {
  return SetVolumeSetting(*this, tx, id, "cache", policy, "cache", "cache " + policy, actor);
}

Status Catalog::SetVolumeVanished(Tx& tx, int64_t id, bool vanished) {
  VSL_ASSIGN_OR_RETURN(int64_t n, tx.Exec("UPDATE volumes SET vanished = ?, updated_ms = ? WHERE id = ?",
                                          {int64_t{vanished ? 1 : 0}, NowMs(), id}));
  if (n == 0) return NotFound(VolumeName(id) + " does not exist");
  return Status::Ok();
}

Status Catalog::DeleteVolume(Tx& tx, int64_t id) {
  VSL_RETURN_IF_ERROR(tx.Exec("DELETE FROM volume_port_luns WHERE volume_id = ?", {id}).status());
  VSL_RETURN_IF_ERROR(tx.Exec("UPDATE volumes SET bcv_id = NULL WHERE bcv_id = ?", {id}).status());
  VSL_ASSIGN_OR_RETURN(int64_t n, tx.Exec("DELETE FROM volumes WHERE id = ?", {id}));
  if (n == 0) return NotFound(VolumeName(id) + " does not exist");
  return Status::Ok();
}

// ---- bindings ----

namespace {

constexpr const char* kBindingCols = "id, volume_id, host_id, port_id, target, lun, mapped, created_ms, read_only";

std::vector<Binding> BindingsFromRows(const Rows& rows) {
  std::vector<Binding> out;
  for (const Row& r : rows) {
    Binding b;
    b.id = r.Int(0);
    b.volume_id = r.Int(1);
    b.host_id = r.Int(2);
    b.port_id = r.OptInt(3);
    b.target = r.Int(4);
    b.lun = r.Int(5);
    b.mapped = r.Bool(6);
    b.created_ms = r.Int(7);
    b.read_only = r.Bool(8);
    out.push_back(b);
  }
  return out;
}

}  // namespace

Result<Binding> Catalog::AddBinding(Tx& tx, Binding b) {
  b.created_ms = NowMs();
  auto row = tx.QueryOne(
      "INSERT INTO bindings (volume_id, host_id, port_id, target, lun, mapped, created_ms, read_only) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
      {b.volume_id, b.host_id, Opt(b.port_id), b.target, b.lun, int64_t{b.mapped ? 1 : 0}, b.created_ms,
       int64_t{b.read_only ? 1 : 0}});
  if (!row.ok()) {
    if (row.status().code() == Code::kAlreadyExists) {
      return AlreadyExists("host " + std::to_string(b.host_id) + " already has LUN " + std::to_string(b.lun) +
                           " or " + VolumeName(b.volume_id) + " bound");
    }
    return row.status();
  }
  b.id = (*row)->Int(0);
  return b;
}

Result<std::vector<Binding>> Catalog::BindingsOfVolume(Tx& tx, int64_t volume_id) {
  VSL_ASSIGN_OR_RETURN(Rows rows, tx.Query(std::string("SELECT ") + kBindingCols +
                                               " FROM bindings WHERE volume_id = ? ORDER BY id",
                                           {volume_id}));
  return BindingsFromRows(rows);
}

Result<std::vector<Binding>> Catalog::BindingsOfHost(Tx& tx, int64_t host_id) {
  VSL_ASSIGN_OR_RETURN(Rows rows, tx.Query(std::string("SELECT ") + kBindingCols +
                                               " FROM bindings WHERE host_id = ? ORDER BY lun",
                                           {host_id}));
  return BindingsFromRows(rows);
}

Status Catalog::SetBindingMapped(Tx& tx, int64_t binding_id, bool mapped) {
  VSL_ASSIGN_OR_RETURN(int64_t n, tx.Exec("UPDATE bindings SET mapped = ? WHERE id = ?",
                                          {int64_t{mapped ? 1 : 0}, binding_id}));
  if (n == 0) return NotFound("binding " + std::to_string(binding_id) + " does not exist");
  return Status::Ok();
}

Result<int64_t> Catalog::RemoveBindings(Tx& tx, int64_t volume_id, std::optional<int64_t> host_id) {
  if (host_id) return tx.Exec("DELETE FROM bindings WHERE volume_id = ? AND host_id = ?", {volume_id, *host_id});
  return tx.Exec("DELETE FROM bindings WHERE volume_id = ?", {volume_id});
}

}  // namespace vsl::catalog
