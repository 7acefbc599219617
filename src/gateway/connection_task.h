// Connection's per-command state (private to connection*.cc).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <span>
#include <vector>

#include "gateway/connection.h"

namespace vsl::gateway {

struct Connection::Task {
  uint64_t serial = 0;  // unique per connection; ITTs get reused
  iscsi::ScsiCommandPdu cmd;
  uint64_t lun = 0;        // decoded
  EventLoop::Clock::time_point arrived;  // for the LU's latency histogram
  LuCounters* lu = nullptr;              // the LU's counters; null for an unmapped LUN
  bool counted = false;    // released by the CmdSN window (holds a slot)
  bool started = false;    // released (or immediate): R2Ts may go out
  bool executing = false;  // handed to the SCSI layer
  bool aborted = false;
  // SAM-5 task attributes, per I_T nexus (the Control mode page's TST 001b):
  // `seq` orders started tasks; a task whose data is complete but which an
  // ORDERED task holds back (or which is ORDERED and waits for earlier ones)
  // is `dormant` until a completion releases it.
  uint64_t seq = 0;
  scsi::TaskAttr attr = scsi::TaskAttr::kSimple;
  bool dormant = false;
  // Waiting for the LU's limits (parked in a QosLine), or let through by
  // them (not checked again).
  bool throttled = false;
  bool qos_passed = false;
  // The LU's block size as Execute found it (0: not executed yet).
  uint32_t block_size = 0;

  // Write data: immediate, unsolicited Data-Out, then R2T-solicited. Memory
  // is committed only as data arrives: `data_out` holds the bytes from offset
  // 0 that have arrived without a gap; a piece that arrives ahead of a gap
  // (an R2T's burst before the unsolicited burst ended) waits in
  // `data_ahead` until the gap fills. Offsets are checked by the caller
  // (every byte arrives once, within EDTL).
  std::vector<uint8_t> data_out;
  std::map<uint32_t, std::vector<uint8_t>> data_ahead;  // by buffer offset
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
  std::vector<R2tRange> r2t_todo;  // not yet sent (a vector: no allocation when empty)
  std::vector<R2t> r2ts;          // sent, data still expected
  uint32_t r2tsn = 0;
  // Solicited bytes reserved from the session's share and the gateway's
  // WriteBudget; R2Ts go out only once `may_solicit` (reserved, or nothing
  // to solicit beyond the unsolicited burst).
  uint64_t reserved = 0;
  bool may_solicit = false;
  // When the last R2T went out or Data-Out came in (data_out_timeout).
  EventLoop::Clock::time_point data_activity;

  void Store(uint32_t offset, std::span<const uint8_t> bytes) {
    if (bytes.empty()) return;
    if (offset != data_out.size()) {
      data_ahead.emplace(offset, std::vector<uint8_t>(bytes.begin(), bytes.end()));
      return;
    }
    Append(bytes);
    for (auto it = data_ahead.begin(); it != data_ahead.end() && it->first == data_out.size();
         it = data_ahead.erase(it)) {
      Append(it->second);
    }
  }
  // Room for bytes up to `end` (at most EDTL) without reallocating as they
  // arrive; reserved address space is not resident until written.
  void Expect(uint32_t end) {
    if (end > data_out.capacity()) data_out.reserve(std::min(end, cmd.edtl));
  }

 private:
  void Append(std::span<const uint8_t> bytes) {
    size_t want = data_out.size() + bytes.size();
    if (want > data_out.capacity()) {
      data_out.reserve(std::min<size_t>(cmd.edtl, std::max(want, 2 * data_out.capacity())));
    }
    data_out.insert(data_out.end(), bytes.begin(), bytes.end());
  }
};

// One limited LU as this session sees it: its line at the limiter and the
// tasks parked there.
struct Connection::QosLine {
  std::shared_ptr<QosLimiter> limiter;
  std::shared_ptr<QosLimiter::Waiter> waiter;
  std::deque<std::pair<uint32_t, uint64_t>> parked;  // (ITT, serial)
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
