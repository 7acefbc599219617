// Hosts (with their initiators), farms and images.
#include "catalog/catalog.h"
#include "catalog/host_bmc.h"

#include "util/names.h"
#include "util/utf8.h"

namespace vsl::catalog {
namespace {

constexpr const char* kHostCols =
    "id, name, hw_type, chap_user, chap_secret, mutual_chap_user, mutual_chap_secret, state, farm_id, created_ms, "
    "bmc_address, bmc_port, bmc_user, bmc_password, bmc_bootdev";

Result<Host> HostFromRow(Tx& tx, const Row& r) {
  Host h;
  h.id = r.Int(0);
  h.name = r.Text(1);
  h.hw_type = r.Text(2);
  h.chap_user = r.Text(3);
  h.chap_secret = r.Text(4);
  h.mutual_chap_user = r.Text(5);
  h.mutual_chap_secret = r.Text(6);
  h.state = r.Text(7) == HostStateName(HostState::kInFarm) ? HostState::kInFarm : HostState::kIdle;
  h.farm_id = r.OptInt(8);
  h.created_ms = r.Int(9);
  h.bmc = HostBmc{r.Text(10), r.Int(11), r.Text(12), r.Text(13), r.Text(14)};
  VSL_ASSIGN_OR_RETURN(Rows inits, tx.Query("SELECT iqn FROM host_initiators WHERE host_id = ? ORDER BY iqn", {h.id}));
  for (const Row& i : inits) h.initiators.push_back(i.Text(0));
  return h;
}

constexpr const char* kFarmCols = "id, name, state, fml, created_ms, updated_ms, lock_owner, lock_expiry_ms";

Farm FarmFromRow(const Row& r) {
  return Farm{r.Int(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4), r.Int(5), r.Text(6), r.Int(7)};
}

constexpr const char* kImageCols = "id, name, size, sha256, master_volume_id, created_ms";

Image ImageFromRow(const Row& r) {
  Image i;
  i.id = r.Int(0);
  i.name = r.Text(1);
  i.size = r.Int(2);
  i.sha256 = r.Text(3);
  i.master_volume_id = r.OptInt(4);
  i.created_ms = r.Int(5);
  return i;
}

}  // namespace

Result<Host> Catalog::AddHost(Tx& tx, Host h) {
  VSL_RETURN_IF_ERROR(CheckName("host name", h.name));
  if (h.initiators.empty()) return InvalidArgument("host '" + h.name + "' needs at least one initiator name");
  for (const std::string& i : h.initiators) VSL_RETURN_IF_ERROR(CheckIscsiName("initiator name", i));
  VSL_RETURN_IF_ERROR(CheckText("hardware type", h.hw_type));
  if (!h.chap_user.empty()) VSL_RETURN_IF_ERROR(CheckChapUser("CHAP user", h.chap_user));
  if (!h.chap_secret.empty()) VSL_RETURN_IF_ERROR(CheckChapSecret("CHAP secret", h.chap_secret));
  if (!h.mutual_chap_user.empty()) VSL_RETURN_IF_ERROR(CheckChapUser("mutual CHAP user", h.mutual_chap_user));
  if (!h.mutual_chap_secret.empty()) {
    VSL_RETURN_IF_ERROR(CheckChapSecret("mutual CHAP secret", h.mutual_chap_secret));
  }
  VSL_RETURN_IF_ERROR(CheckHostBmc(h.bmc));
  h.created_ms = NowMs();
  auto row = tx.QueryOne(
      "INSERT INTO hosts (name, hw_type, chap_user, chap_secret, mutual_chap_user, mutual_chap_secret, state, "
      "farm_id, created_ms, updated_ms, bmc_address, bmc_port, bmc_user, bmc_password, bmc_bootdev) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
      {h.name, h.hw_type, h.chap_user, h.chap_secret, h.mutual_chap_user, h.mutual_chap_secret,
       std::string(HostStateName(h.state)), Opt(h.farm_id), h.created_ms, h.created_ms, h.bmc.address, h.bmc.port,
       h.bmc.user, h.bmc.password, h.bmc.bootdev});
  if (!row.ok()) {
    if (row.status().code() == Code::kAlreadyExists) return AlreadyExists("host '" + h.name + "' exists already");
    return row.status();
  }
  h.id = (*row)->Int(0);
  for (const std::string& iqn : h.initiators) {
    Status s = tx.Exec("INSERT INTO host_initiators (host_id, iqn) VALUES (?, ?)", {h.id, iqn}).status();
    if (s.code() == Code::kAlreadyExists) {
      return AlreadyExists("initiator '" + iqn + "' belongs to another host (or is listed twice)");
    }
    VSL_RETURN_IF_ERROR(s);
  }
  return h;
}

Result<Host> Catalog::GetHost(Tx& tx, int64_t id) {
  VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne(std::string("SELECT ") + kHostCols + " FROM hosts WHERE id = ?", {id}));
  if (!row) return NotFound("host " + std::to_string(id) + " does not exist");
  return HostFromRow(tx, *row);
}

Result<Host> Catalog::GetHostByName(Tx& tx, const std::string& name) {
  if (!IsValidUtf8(name)) return NotFound("host '" + Printable(name) + "' does not exist");
  VSL_ASSIGN_OR_RETURN(auto row,
                       tx.QueryOne(std::string("SELECT ") + kHostCols + " FROM hosts WHERE name = ?", {name}));
  if (!row) return NotFound("host '" + Printable(name) + "' does not exist");
  return HostFromRow(tx, *row);
}

Result<std::vector<Host>> Catalog::ListHosts(Tx& tx) {
  VSL_ASSIGN_OR_RETURN(Rows rows, tx.Query(std::string("SELECT ") + kHostCols + " FROM hosts ORDER BY id"));
  std::vector<Host> out;
  for (const Row& r : rows) {
    VSL_ASSIGN_OR_RETURN(Host h, HostFromRow(tx, r));
    out.push_back(std::move(h));
  }
  return out;
}

Status Catalog::CasHost(Tx& tx, int64_t id, HostState from, HostState to, std::optional<int64_t> farm_id,
                        const Actor& actor) {
  int64_t now = NowMs();
  VSL_ASSIGN_OR_RETURN(int64_t n,
                       tx.Exec("UPDATE hosts SET state = ?, farm_id = ?, updated_ms = ? WHERE id = ? AND state = ?",
                               {std::string(HostStateName(to)), Opt(farm_id), now, id,
                                std::string(HostStateName(from))}));
  if (n == 0) {
    VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT state FROM hosts WHERE id = ?", {id}));
    if (!row) return NotFound("host " + std::to_string(id) + " does not exist");
    return Aborted("host " + std::to_string(id) + " is " + row->Text(0) + ", not " +
                   std::string(HostStateName(from)));
  }
  return AppendEvent(tx, Event{0, "host", id, std::string(HostStateName(from)), std::string(HostStateName(to)),
                               to == HostState::kInFarm ? "join-farm" : "leave-farm", actor.name,
                               actor.request_id, now,
                               farm_id ? "farm " + std::to_string(*farm_id) : std::string()});
}

Status Catalog::RemoveHost(Tx& tx, int64_t id) {
  VSL_ASSIGN_OR_RETURN(Host h, GetHost(tx, id));
  if (h.state != HostState::kIdle) return FailedPrecondition("host '" + h.name + "' is in a farm");
  VSL_ASSIGN_OR_RETURN(auto bound, BindingsOfHost(tx, id));
  if (!bound.empty()) {
    return FailedPrecondition("host '" + h.name + "' still has " + std::to_string(bound.size()) +
                              " volumes bound; unbind them first");
  }
  VSL_RETURN_IF_ERROR(tx.Exec("DELETE FROM host_initiators WHERE host_id = ?", {id}).status());
  VSL_RETURN_IF_ERROR(tx.Exec("DELETE FROM hosts WHERE id = ?", {id}).status());
  return AppendEvent(tx, Event{0, "host", id, "idle", "", "remove", "", std::nullopt, 0, h.name});
}

Status Catalog::SetHostBmc(Tx& tx, int64_t id, const HostBmc& bmc) {
  VSL_RETURN_IF_ERROR(CheckHostBmc(bmc));
  HostBmc b = bmc;
  if (b.address.empty()) b = HostBmc{};
  int64_t now = NowMs();
  VSL_ASSIGN_OR_RETURN(int64_t n, tx.Exec("UPDATE hosts SET bmc_address = ?, bmc_port = ?, bmc_user = ?, "
                                          "bmc_password = ?, bmc_bootdev = ?, updated_ms = ? WHERE id = ?",
                                          {b.address, b.port, b.user, b.password, b.bootdev, now, id}));
  if (n == 0) return NotFound("host " + std::to_string(id) + " does not exist");
  std::string detail = b.address.empty() ? "BMC removed"
                                         : "BMC " + b.address + ":" + std::to_string(b.port) + " user '" + b.user +
                                               "' bootdev " + b.bootdev;
  return AppendEvent(tx, Event{0, "host", id, "", "", "set-bmc", "", std::nullopt, now, detail});
}

// ---- farms ----

Result<Farm> Catalog::AddFarm(Tx& tx, Farm f) {
  VSL_RETURN_IF_ERROR(CheckName("farm name", f.name));
  f.created_ms = f.updated_ms = NowMs();
  auto row = tx.QueryOne("INSERT INTO farms (name, state, fml, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?) "
                         "RETURNING id",
                         {f.name, f.state, f.fml, f.created_ms, f.updated_ms});
  if (!row.ok()) {
    if (row.status().code() == Code::kAlreadyExists) return AlreadyExists("farm '" + f.name + "' exists already");
    return row.status();
  }
  f.id = (*row)->Int(0);
  return f;
}

Result<Farm> Catalog::GetFarm(Tx& tx, int64_t id) {
  VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne(std::string("SELECT ") + kFarmCols + " FROM farms WHERE id = ?", {id}));
  if (!row) return NotFound("farm " + std::to_string(id) + " does not exist");
  return FarmFromRow(*row);
}

Result<Farm> Catalog::GetFarmByName(Tx& tx, const std::string& name) {
  if (!IsValidUtf8(name)) return NotFound("farm '" + Printable(name) + "' does not exist");
  VSL_ASSIGN_OR_RETURN(auto row,
                       tx.QueryOne(std::string("SELECT ") + kFarmCols + " FROM farms WHERE name = ?", {name}));
  if (!row) return NotFound("farm '" + Printable(name) + "' does not exist");
  return FarmFromRow(*row);
}

Result<std::vector<Farm>> Catalog::ListFarms(Tx& tx) {
  VSL_ASSIGN_OR_RETURN(Rows rows, tx.Query(std::string("SELECT ") + kFarmCols + " FROM farms ORDER BY id"));
  std::vector<Farm> out;
  for (const Row& r : rows) out.push_back(FarmFromRow(r));
  return out;
}

Status Catalog::CasFarm(Tx& tx, int64_t id, const std::string& from, const std::string& to,
                        const std::optional<std::string>& fml, const Actor& actor) {
  int64_t now = NowMs();
  std::string sql = "UPDATE farms SET state = ?, updated_ms = ?";
  std::vector<Value> params{to, now};
  if (fml) {
    sql += ", fml = ?";
    params.emplace_back(*fml);
  }
  sql += " WHERE id = ? AND state = ?";
  params.emplace_back(id);
  params.emplace_back(from);
  VSL_ASSIGN_OR_RETURN(int64_t n, tx.Exec(sql, params));
  if (n == 0) {
    VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT state FROM farms WHERE id = ?", {id}));
    if (!row) return NotFound("farm " + std::to_string(id) + " does not exist");
    return Aborted("farm " + std::to_string(id) + " is " + row->Text(0) + ", not " + from);
  }
  return AppendEvent(tx, Event{0, "farm", id, from, to, "farm-state", actor.name, actor.request_id, now, ""});
}

Status Catalog::RemoveFarm(Tx& tx, int64_t id) {
  VSL_ASSIGN_OR_RETURN(auto used, tx.QueryOne("SELECT (SELECT COUNT(*) FROM volumes WHERE farm_id = ?) + "
                                              "(SELECT COUNT(*) FROM hosts WHERE farm_id = ?)",
                                              {id, id}));
  if (used && used->Int(0) > 0) {
    return FailedPrecondition("farm " + std::to_string(id) + " still has volumes or hosts");
  }
  VSL_ASSIGN_OR_RETURN(int64_t n, tx.Exec("DELETE FROM farms WHERE id = ?", {id}));
  if (n == 0) return NotFound("farm " + std::to_string(id) + " does not exist");
  return Status::Ok();
}

// ---- images ----

Result<Image> Catalog::AddImage(Tx& tx, Image i) {
  VSL_RETURN_IF_ERROR(CheckName("image name", i.name));
  i.created_ms = NowMs();
  auto row = tx.QueryOne("INSERT INTO images (name, size, sha256, master_volume_id, created_ms) "
                         "VALUES (?, ?, ?, ?, ?) RETURNING id",
                         {i.name, static_cast<int64_t>(i.size), i.sha256, Opt(i.master_volume_id), i.created_ms});
  if (!row.ok()) {
    if (row.status().code() == Code::kAlreadyExists) return AlreadyExists("image '" + i.name + "' exists already");
    return row.status();
  }
  i.id = (*row)->Int(0);
  return i;
}

Result<Image> Catalog::GetImage(Tx& tx, int64_t id) {
  VSL_ASSIGN_OR_RETURN(auto row,
                       tx.QueryOne(std::string("SELECT ") + kImageCols + " FROM images WHERE id = ?", {id}));
  if (!row) return NotFound("image " + std::to_string(id) + " does not exist");
  return ImageFromRow(*row);
}

Result<Image> Catalog::GetImageByName(Tx& tx, const std::string& name) {
  if (!IsValidUtf8(name)) return NotFound("image '" + Printable(name) + "' does not exist");
  VSL_ASSIGN_OR_RETURN(auto row,
                       tx.QueryOne(std::string("SELECT ") + kImageCols + " FROM images WHERE name = ?", {name}));
  if (!row) return NotFound("image '" + Printable(name) + "' does not exist");
  return ImageFromRow(*row);
}

Result<std::vector<Image>> Catalog::ListImages(Tx& tx) {
  VSL_ASSIGN_OR_RETURN(Rows rows, tx.Query(std::string("SELECT ") + kImageCols + " FROM images ORDER BY id"));
  std::vector<Image> out;
  for (const Row& r : rows) out.push_back(ImageFromRow(r));
  return out;
}

Result<std::optional<Image>> Catalog::ImageOfMaster(Tx& tx, int64_t volume_id) {
  VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne(std::string("SELECT ") + kImageCols +
                                                 " FROM images WHERE master_volume_id = ? OR id IN "
                                                 "(SELECT image_id FROM image_masters WHERE volume_id = ?) "
                                                 "ORDER BY id",
                                             {volume_id, volume_id}));
  if (!row) return std::optional<Image>();
  return std::optional<Image>(ImageFromRow(*row));
}

Status Catalog::AddImageMaster(Tx& tx, ImageMaster m) {
  VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT volume_id FROM image_masters WHERE image_id = ? AND array_id = ?",
                                             {m.image_id, m.array_id}));
  if (row) {
    return AlreadyExists("image " + std::to_string(m.image_id) + " has a master on array " +
                         std::to_string(m.array_id) + " already: volume " + row->Text(0));
  }
  m.created_ms = NowMs();
  return tx
      .Exec("INSERT INTO image_masters (image_id, array_id, volume_id, created_ms) VALUES (?, ?, ?, ?)",
            {m.image_id, m.array_id, m.volume_id, m.created_ms})
      .status();
}

Result<std::vector<ImageMaster>> Catalog::ImageMasters(Tx& tx, int64_t image_id) {
  VSL_ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT image_id, array_id, volume_id, created_ms FROM image_masters "
                                           "WHERE image_id = ? ORDER BY array_id",
                                           {image_id}));
  std::vector<ImageMaster> out;
  for (const Row& r : rows) out.push_back(ImageMaster{r.Int(0), r.Int(1), r.Int(2), r.Int(3)});
  return out;
}

Status Catalog::RemoveImageMasters(Tx& tx, int64_t image_id) {
  return tx.Exec("DELETE FROM image_masters WHERE image_id = ?", {image_id}).status();
}

Status Catalog::SetCloneMaster(Tx& tx, int64_t volume_id, std::optional<int64_t> master) {
  VSL_RETURN_IF_ERROR(tx.Exec("DELETE FROM clones WHERE volume_id = ?", {volume_id}).status());
  if (!master) return Status::Ok();
  return tx
      .Exec("INSERT INTO clones (volume_id, master_volume_id, created_ms) VALUES (?, ?, ?)",
            {volume_id, *master, NowMs()})
      .status();
}

Result<std::optional<int64_t>> Catalog::CloneMaster(Tx& tx, int64_t volume_id) {
  VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT master_volume_id FROM clones WHERE volume_id = ?", {volume_id}));
  if (!row) return std::optional<int64_t>();
  return std::optional<int64_t>(row->Int(0));
}

Result<std::vector<int64_t>> Catalog::ClonesOf(Tx& tx, int64_t master) {
  VSL_ASSIGN_OR_RETURN(Rows rows,
                       tx.Query("SELECT volume_id FROM clones WHERE master_volume_id = ? ORDER BY volume_id", {master}));
  std::vector<int64_t> out;
  for (const Row& r : rows) out.push_back(r.Int(0));
  return out;
}

Status Catalog::SetImageMaster(Tx& tx, int64_t image_id, int64_t volume_id, uint64_t size,
                               const std::string& sha256) {
  VSL_ASSIGN_OR_RETURN(int64_t n,
                       tx.Exec("UPDATE images SET master_volume_id = ?, size = ?, sha256 = ? WHERE id = ?",
                               {volume_id, static_cast<int64_t>(size), sha256, image_id}));
  if (n == 0) return NotFound("image " + std::to_string(image_id) + " does not exist");
  return Status::Ok();
}

Status Catalog::RemoveImage(Tx& tx, int64_t image_id) {
  VSL_ASSIGN_OR_RETURN(auto used, tx.QueryOne("SELECT COUNT(*) FROM volumes WHERE image_id = ?", {image_id}));
  if (used && used->Int(0) > 0) {
    return FailedPrecondition("image " + std::to_string(image_id) + " is on " + used->Text(0) + " volumes");
  }
  VSL_ASSIGN_OR_RETURN(int64_t n, tx.Exec("DELETE FROM images WHERE id = ?", {image_id}));
  if (n == 0) return NotFound("image " + std::to_string(image_id) + " does not exist");
  return Status::Ok();
}

}  // namespace vsl::catalog
