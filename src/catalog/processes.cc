// Process liveness and the farm lock: how `vsl serve` processes sharing one
// catalog know which of them are alive, and keep two from working on one
// farm at once.
#include "catalog/catalog.h"

namespace vsl::catalog {

std::string Catalog::DeadProcessCondition(const std::string& column) {
  return column + " IN (SELECT id FROM processes WHERE heartbeat_ms < ?)";
}

Status Catalog::RegisterProcess(Tx& tx, const Process& p) {
  int64_t now = NowMs();
  VSL_RETURN_IF_ERROR(tx.Exec("DELETE FROM processes WHERE id = ?", {p.id}).status());
  // Rows of processes dead for a day say nothing any more.
  VSL_RETURN_IF_ERROR(
      tx.Exec("DELETE FROM processes WHERE heartbeat_ms < ?", {now - int64_t{24} * 3600 * 1000}).status());
  return tx
      .Exec("INSERT INTO processes (id, node, pid, started_ms, heartbeat_ms) VALUES (?, ?, ?, ?, ?)",
            {p.id, p.node, p.pid, now, now})
      .status();
}

Status Catalog::Heartbeat(Tx& tx, const std::string& id) {
  VSL_ASSIGN_OR_RETURN(int64_t n, tx.Exec("UPDATE processes SET heartbeat_ms = ? WHERE id = ?", {NowMs(), id}));
  if (n == 0) return NotFound("process " + id + " has no heartbeat row");
  return Status::Ok();
}

Result<int64_t> Catalog::RetireNodeProcesses(Tx& tx, const std::string& node, const std::string& keep_id) {
  if (node.empty()) return int64_t{0};
  return tx.Exec("UPDATE processes SET heartbeat_ms = 0 WHERE node = ? AND id <> ?", {node, keep_id});
}

Status Catalog::UnregisterProcess(Tx& tx, const std::string& id) {
  return tx.Exec("DELETE FROM processes WHERE id = ?", {id}).status();
}

Result<std::vector<Process>> Catalog::ListProcesses(Tx& tx) {
  VSL_ASSIGN_OR_RETURN(Rows rows,
                       tx.Query("SELECT id, node, pid, started_ms, heartbeat_ms FROM processes ORDER BY started_ms"));
  std::vector<Process> out;
  for (const Row& r : rows) out.push_back(Process{r.Text(0), r.Text(1), r.Int(2), r.Int(3), r.Int(4)});
  return out;
}

Status Catalog::LockFarm(Tx& tx, int64_t id, const std::string& owner, int64_t hold_ms, int64_t dead_after_ms) {
  int64_t now = NowMs();
  VSL_ASSIGN_OR_RETURN(int64_t n,
                       tx.Exec("UPDATE farms SET lock_owner = ?, lock_expiry_ms = ? WHERE id = ? AND "
                               "(lock_owner = '' OR lock_owner = ? OR lock_expiry_ms < ? OR " +
                                   DeadProcessCondition("lock_owner") + ")",
                               {owner, now + hold_ms, id, owner, now, now - dead_after_ms}));
  if (n == 1) return Status::Ok();
  VSL_ASSIGN_OR_RETURN(Farm f, GetFarm(tx, id));
  return Aborted("farm '" + f.name + "' is busy: process " + f.lock_owner + " is working on it (" + f.state +
                 "); try again when it has finished");
}

Status Catalog::UnlockFarm(Tx& tx, int64_t id, const std::string& owner) {
  return tx.Exec("UPDATE farms SET lock_owner = '', lock_expiry_ms = 0 WHERE id = ? AND lock_owner = ?", {id, owner})
      .status();
}

}  // namespace vsl::catalog
