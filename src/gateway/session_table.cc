#include "gateway/session_table.h"

#include <cstdio>

namespace vsl::gateway {

std::string SessionTable::InitiatorPort(const std::string& initiator,
                                        const std::array<uint8_t, 6>& isid) {
  char hex[16];
  snprintf(hex, sizeof hex, "%02x%02x%02x%02x%02x%02x", isid[0], isid[1], isid[2], isid[3],
           isid[4], isid[5]);
  return initiator + ",i,0x" + hex;
}

uint16_t SessionTable::NextTsih() {
  for (;;) {
    ++last_tsih_;
    if (last_tsih_ != 0 && !sessions_.count(last_tsih_)) return last_tsih_;
  }
}

std::variant<SessionTable::Binding, iscsi::LoginStatus> SessionTable::Bind(
    const iscsi::LoginOutcome& login, std::shared_ptr<scsi::Target> target, uint64_t conn_id,
    CloseFn close) {
  std::vector<std::pair<CloseFn, std::string>> to_close;
  std::vector<std::pair<std::shared_ptr<scsi::Target>, uint64_t>> to_forget;
  Binding b;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (login.tsih != 0) {
      auto it = sessions_.find(login.tsih);
      if (it == sessions_.end() || it->second.initiator != login.initiator_name ||
          it->second.isid != login.isid || it->second.target_name != login.target_name) {
        return iscsi::kLoginSessionDoesNotExist;
      }
      Record& r = it->second;
      if (r.cid != login.cid || login.session.max_connections > 1) {
        return iscsi::kLoginTooManyConnections;
      }
      // Connection reinstatement: the new connection takes the session over.
      to_close.emplace_back(std::move(r.close), "connection reinstated by a new login");
      r.conn_id = conn_id;
      r.close = std::move(close);
      b.tsih = it->first;
      b.nexus = r.nexus;
    } else {
      // Session reinstatement: an older session of this I_T nexus ends.
      for (auto it = sessions_.begin(); it != sessions_.end();) {
        const Record& r = it->second;
        if (r.initiator == login.initiator_name && r.isid == login.isid &&
            r.target_name == login.target_name && r.discovery == login.discovery) {
          to_close.emplace_back(r.close, "session reinstated by a new login");
          if (r.target) to_forget.emplace_back(r.target, r.nexus.id);
          it = sessions_.erase(it);
        } else {
          ++it;
        }
      }
      if (sessions_.size() >= 65535) return iscsi::kLoginOutOfResources;
      Record r;
      r.discovery = login.discovery;
      r.initiator = login.initiator_name;
      r.isid = login.isid;
      r.target_name = login.target_name;
      r.cid = login.cid;
      r.target = target;
      r.conn_id = conn_id;
      r.close = std::move(close);
      if (target) {
        r.nexus = target->AddNexus(InitiatorPort(login.initiator_name, login.isid),
                                   login.target_name + ",t,0x1");
      }
      b.tsih = NextTsih();
      b.nexus = r.nexus;
      sessions_.emplace(b.tsih, std::move(r));
    }
  }
  for (auto& [fn, why] : to_close) {
    if (fn) fn(why);
  }
  for (auto& [t, id] : to_forget) t->RemoveNexus(id);
  return b;
}

void SessionTable::Release(uint16_t tsih, uint64_t conn_id) {
  std::shared_ptr<scsi::Target> target;
  uint64_t nexus = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(tsih);
    if (it == sessions_.end() || it->second.conn_id != conn_id) return;
    target = it->second.target;
    nexus = it->second.nexus.id;
    sessions_.erase(it);
  }
  if (target) target->RemoveNexus(nexus);
}

void SessionTable::CloseTarget(const std::string& target_name, const std::string& reason,
                               std::function<bool(const std::string&)> keep) {
  std::vector<CloseFn> fns;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [tsih, r] : sessions_) {
      if (r.discovery || r.target_name != target_name) continue;
      if (keep && keep(r.initiator)) continue;
      fns.push_back(r.close);
    }
  }
  for (auto& fn : fns) {
    if (fn) fn(reason);
  }
}

size_t SessionTable::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sessions_.size();
}

}  // namespace vsl::gateway
