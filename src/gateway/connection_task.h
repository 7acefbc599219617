// Connection's per-command state (private to connection*.cc).
#pragma once

#include <cstdint>
#include <deque>
#include <set>
#include <vector>

#include "gateway/connection.h"

namespace vsl::gateway {

struct Connection::Task {
  uint64_t serial = 0;  // unique per connection; ITTs get reused
  iscsi::ScsiCommandPdu cmd;
  uint64_t lun = 0;        // decoded
  bool counted = false;    // released by the CmdSN window (holds a slot)
  bool started = false;    // released (or immediate): R2Ts may go out
  bool executing = false;  // handed to the SCSI layer
  bool aborted = false;

  // Write data: immediate, unsolicited Data-Out, then R2T-solicited.
  std::vector<uint8_t> data_out;
  uint32_t received = 0;
  uint32_t unsolicited_end = 0;
  uint32_t unsolicited_next = 0;
  uint32_t unsolicited_datasn = 0;
  bool unsolicited_open = false;

  struct R2t {
    uint32_t ttt = 0;
    uint32_t offset = 0;
    uint32_t length = 0;
    uint32_t next = 0;    // next expected buffer offset
    uint32_t datasn = 0;  // next expected DataSN
  };
  std::deque<R2tRange> r2t_todo;  // not yet sent
  std::vector<R2t> r2ts;          // sent, data still expected
  uint32_t r2tsn = 0;
};

// A task management function waiting for aborted tasks to leave the SCSI
// layer before its response goes out (SAM-5: the response means they're gone).
struct Connection::PendingTmf {
  uint32_t itt = 0;
  bool counted = false;
  uint8_t response = 0;
  std::set<uint64_t> waiting;  // task serials
};

}  // namespace vsl::gateway
