// SessionTable: the gateway's iSCSI sessions (RFC 7143 §4.3, §6.3.5): TSIH
// assignment, session reinstatement (same initiator + ISID logs in again with
// TSIH 0: the old session is closed), connection reinstatement (same TSIH and
// CID), MaxConnections, and the I_T nexus each session is to its target.
//
// Thread-safe. Connections live on different network threads, so closing one
// goes through the `close` callback it registered (which posts to its loop).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include "gateway/iscsi/login.h"
#include "gateway/scsi/scsi.h"

namespace vsl::gateway {

class SessionTable {
 public:
  // Asks a connection, from any thread, to close; `reason` goes to the log.
  using CloseFn = std::function<void(const std::string& reason)>;

  struct Binding {
    uint16_t tsih = 0;
    scsi::Nexus nexus;  // id 0 for discovery sessions
  };

  // Places a connection that finished login negotiation. `target` is null for
  // discovery sessions.
  std::variant<Binding, iscsi::LoginStatus> Bind(const iscsi::LoginOutcome& login,
                                                 std::shared_ptr<scsi::Target> target,
                                                 uint64_t conn_id, CloseFn close);
  // The connection ended; its session ends with it (ERL 0, one connection)
  // unless another connection has taken the session over since.
  void Release(uint16_t tsih, uint64_t conn_id);

  // Closes every session of `target_name`, or only those whose initiator
  // `keep` rejects.
  void CloseTarget(const std::string& target_name, const std::string& reason,
                   std::function<bool(const std::string& initiator)> keep = nullptr);
  size_t size() const;

  // "<initiator>,i,0x<isid>" (RFC 7143 §10.1.1)
  static std::string InitiatorPort(const std::string& initiator, const std::array<uint8_t, 6>& isid);

 private:
  struct Record {
    bool discovery = false;
    std::string initiator;
    std::array<uint8_t, 6> isid{};
    std::string target_name;
    uint16_t cid = 0;
    std::shared_ptr<scsi::Target> target;
    scsi::Nexus nexus;
    uint64_t conn_id = 0;
    CloseFn close;
  };
  uint16_t NextTsih();  // requires mu_

  mutable std::mutex mu_;
  std::map<uint16_t, Record> sessions_;  // by TSIH; guarded by mu_
  uint16_t last_tsih_ = 0;               // guarded by mu_
};

}  // namespace vsl::gateway
