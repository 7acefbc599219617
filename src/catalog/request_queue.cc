#include "catalog/request_queue.h"

namespace vsl::catalog {
namespace {

constexpr const char* kRequestCols =
    "id, op, args, state, actor, lease_owner, lease_expiry_ms, attempts, reason, result, created_ms, updated_ms, "
    "finished_ms";

Result<Request> RequestFromRow(const Row& r) {
  Request q;
  q.id = r.Int(0);
  q.op = r.Text(1);
  q.args = r.Text(2);
  VSL_ASSIGN_OR_RETURN(q.state, ParseRequestState(r.Text(3)));
  q.actor = r.Text(4);
  q.lease_owner = r.Text(5);
  q.lease_expiry_ms = r.Int(6);
  q.attempts = r.Int(7);
  q.reason = r.Text(8);
  q.result = r.Text(9);
  q.created_ms = r.Int(10);
  q.updated_ms = r.Int(11);
  q.finished_ms = r.Int(12);
  return q;
}

std::string S(RequestState s) { return std::string(RequestStateName(s)); }

// Workers are named "<process>/<worker>"; a bare name is its own process.
std::string ProcessOf(const std::string& worker) {
  size_t slash = worker.rfind('/');
  return slash == std::string::npos ? worker : worker.substr(0, slash);
}

Event RequestEvent(int64_t id, RequestState from, RequestState to, const std::string& op, const std::string& actor,
                   int64_t now, std::string detail) {
  return Event{0, "request", id, S(from), S(to), op, actor, id, now, std::move(detail)};
}

}  // namespace

Result<int64_t> RequestQueue::Submit(const std::string& op, const std::string& args, const std::string& actor) {
  int64_t id = 0;
  VSL_RETURN_IF_ERROR(catalog_->Write([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(id, Submit(tx, op, args, actor));
    return Status::Ok();
  }));
  return id;
}

Result<int64_t> RequestQueue::Submit(Tx& tx, const std::string& op, const std::string& args,
                                     const std::string& actor) {
  if (op.empty()) return InvalidArgument("a request needs an operation");
  int64_t now = catalog_->NowMs();
  VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne("INSERT INTO requests (op, args, state, actor, created_ms, updated_ms) "
                                             "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                                             {op, args.empty() ? std::string("{}") : args,
                                              S(RequestState::kQueued), actor, now, now}));
  if (!row) return Internal("insert into requests returned no id");
  int64_t id = row->Int(0);
  VSL_RETURN_IF_ERROR(catalog_->AppendEvent(
      tx, Event{0, "request", id, "", S(RequestState::kQueued), op, actor, id, now, args}));
  return id;
}

Result<std::optional<Request>> RequestQueue::Claim(const std::string& worker, int64_t lease_ms,
                                                   const std::vector<int64_t>& skip) {
  std::optional<Request> claimed;
  std::string skipped;
  for (size_t i = 0; i < skip.size(); ++i) skipped += i == 0 ? " AND id NOT IN (?" : ", ?";
  if (!skip.empty()) skipped += ")";
  Status s = catalog_->Write([&](Tx& tx) -> Status {
    claimed.reset();
    for (;;) {
      int64_t now = catalog_->NowMs();
      std::vector<Value> params = {S(RequestState::kQueued), S(RequestState::kRunning), now, now - dead_after_ms_};
      for (int64_t id : skip) params.emplace_back(id);
      VSL_ASSIGN_OR_RETURN(auto row,
                           tx.QueryOne(std::string("SELECT ") + kRequestCols +
                                           " FROM requests WHERE (state = ? OR (state = ? AND (lease_expiry_ms < ? OR " +
                                           Catalog::DeadProcessCondition("lease_process") + ")))" + skipped +
                                           " ORDER BY id LIMIT 1" + std::string(tx.SkipLocked()),
                                       params));
      if (!row) return Status::Ok();
      VSL_ASSIGN_OR_RETURN(Request q, RequestFromRow(*row));
      if (q.state == RequestState::kRunning && q.attempts >= max_attempts_) {
        // Its workers keep dying on it: stop handing it out.
        std::string reason = "abandoned after " + std::to_string(q.attempts) + " attempts; last worker " +
                             q.lease_owner + " lost its lease";
        VSL_ASSIGN_OR_RETURN(int64_t n, tx.Exec("UPDATE requests SET state = ?, reason = ?, updated_ms = ?, "
                                                "finished_ms = ? WHERE id = ? AND state = ? AND lease_owner = ?",
                                                {S(RequestState::kFailed), reason, now, now, q.id,
                                                 S(RequestState::kRunning), q.lease_owner}));
        if (n == 1) {
          VSL_RETURN_IF_ERROR(catalog_->AppendEvent(
              tx, RequestEvent(q.id, RequestState::kRunning, RequestState::kFailed, q.op, worker, now, reason)));
        }
        continue;
      }
      VSL_ASSIGN_OR_RETURN(int64_t n,
                           tx.Exec("UPDATE requests SET state = ?, lease_owner = ?, lease_process = ?, "
                                   "lease_expiry_ms = ?, attempts = attempts + 1, updated_ms = ? "
                                   "WHERE id = ? AND state = ? AND lease_owner = ? AND attempts = ?",
                                   {S(RequestState::kRunning), worker, ProcessOf(worker), now + lease_ms, now, q.id,
                                    S(q.state), q.lease_owner, q.attempts}));
      if (n == 0) return Aborted("request " + std::to_string(q.id) + " was claimed by another worker");
      std::string detail = q.state == RequestState::kRunning
                               ? (q.lease_expiry_ms < now ? "lease of " + q.lease_owner + " expired; taken over"
                                                          : "process of " + q.lease_owner + " is dead; taken over")
                               : std::string();
      VSL_RETURN_IF_ERROR(
          catalog_->AppendEvent(tx, RequestEvent(q.id, q.state, RequestState::kRunning, q.op, worker, now, detail)));
      q.state = RequestState::kRunning;
      q.lease_owner = worker;
      q.lease_expiry_ms = now + lease_ms;
      q.attempts += 1;
      claimed = std::move(q);
      return Status::Ok();
    }
  });
  if (s.code() == Code::kAborted) return std::optional<Request>();  // lost a race: try again later
  if (!s.ok()) return s;
  return claimed;
}

Status RequestQueue::Renew(int64_t id, const std::string& worker, int64_t lease_ms) {
  return catalog_->Write([&](Tx& tx) -> Status {
    int64_t now = catalog_->NowMs();
    VSL_ASSIGN_OR_RETURN(int64_t n, tx.Exec("UPDATE requests SET lease_expiry_ms = ?, updated_ms = ? "
                                            "WHERE id = ? AND state = ? AND lease_owner = ?",
                                            {now + lease_ms, now, id, S(RequestState::kRunning), worker}));
    if (n == 0) return Aborted("worker " + worker + " no longer holds request " + std::to_string(id));
    return Status::Ok();
  });
}

Status RequestQueue::Finish(Tx& tx, int64_t id, const std::string& worker, RequestState to,
                            const std::string& reason, const std::string& result) {
  int64_t now = catalog_->NowMs();
  bool finished = to == RequestState::kDone || to == RequestState::kFailed;
  VSL_ASSIGN_OR_RETURN(int64_t n,
                       tx.Exec("UPDATE requests SET state = ?, reason = ?, result = ?, updated_ms = ?, "
                               "finished_ms = ?, lease_owner = ?, lease_expiry_ms = 0 "
                               "WHERE id = ? AND state = ? AND lease_owner = ?",
                               {S(to), reason, result, now, finished ? now : int64_t{0},
                                finished ? worker : std::string(), id, S(RequestState::kRunning), worker}));
  if (n == 0) return Aborted("worker " + worker + " no longer holds request " + std::to_string(id));
  VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT op FROM requests WHERE id = ?", {id}));
  return catalog_->AppendEvent(tx, RequestEvent(id, RequestState::kRunning, to, row ? row->Text(0) : "", worker,
                                                now, to == RequestState::kDone ? result : reason));
}

Status RequestQueue::Complete(int64_t id, const std::string& worker, const std::string& result) {
  return catalog_->Write([&](Tx& tx) { return Complete(tx, id, worker, result); });
}

Status RequestQueue::Complete(Tx& tx, int64_t id, const std::string& worker, const std::string& result) {
  return Finish(tx, id, worker, RequestState::kDone, "", result);
}

Status RequestQueue::Fail(int64_t id, const std::string& worker, const std::string& reason) {
  return catalog_->Write([&](Tx& tx) { return Finish(tx, id, worker, RequestState::kFailed, reason, ""); });
}

Status RequestQueue::Release(int64_t id, const std::string& worker, const std::string& reason) {
  return catalog_->Write([&](Tx& tx) { return Finish(tx, id, worker, RequestState::kQueued, reason, ""); });
}

Result<Request> RequestQueue::Get(int64_t id) {
  Request out;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(out, Get(tx, id));
    return Status::Ok();
  }));
  return out;
}

Result<Request> RequestQueue::Get(Tx& tx, int64_t id) {
  VSL_ASSIGN_OR_RETURN(auto row,
                       tx.QueryOne(std::string("SELECT ") + kRequestCols + " FROM requests WHERE id = ?", {id}));
  if (!row) return NotFound("request " + std::to_string(id) + " does not exist");
  return RequestFromRow(*row);
}

Result<std::vector<Request>> RequestQueue::List(const RequestFilter& f) {
  std::vector<Request> out;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    out.clear();
    std::string sql = std::string("SELECT ") + kRequestCols + " FROM requests WHERE id > ?";
    std::vector<Value> params{f.after_id};
    if (f.state) {
      sql += " AND state = ?";
      params.emplace_back(S(*f.state));
    }
    if (f.op) {
      sql += " AND op = ?";
      params.emplace_back(*f.op);
    }
    sql += " ORDER BY id LIMIT ?";
    params.emplace_back(f.limit);
    VSL_ASSIGN_OR_RETURN(Rows rows, tx.Query(sql, params));
    for (const Row& r : rows) {
      VSL_ASSIGN_OR_RETURN(Request q, RequestFromRow(r));
      out.push_back(std::move(q));
    }
    return Status::Ok();
  }));
  return out;
}

Result<int64_t> RequestQueue::Pending() {
  int64_t n = 0;
  VSL_RETURN_IF_ERROR(catalog_->Read([&](Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT COUNT(*) FROM requests WHERE state IN (?, ?)",
                                               {S(RequestState::kQueued), S(RequestState::kRunning)}));
    n = row ? row->Int(0) : 0;
    return Status::Ok();
  }));
  return n;
}

}  // namespace vsl::catalog
