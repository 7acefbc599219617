// The fixture of the raw-socket tests: a running gateway, a libiscsi
// "witness" session opened before the test misbehaves, and helpers to log in
// by hand and run SCSI commands over a RawSession.
#pragma once

#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "iscsi_client.h"
#include "raw_pdu.h"

namespace vsl::e2e {

inline constexpr int kWait = 5000;  // ms: how long the target gets to answer or close

std::vector<uint8_t> BhsOf(const RawConnection& conn, const Pdu& pdu,
                           const SendOptions& options = {});
std::string Hex(uint32_t v);

// A Reject (RFC 7143 §11.17): F bit, reserved ITT, one of `reasons`, and the
// rejected PDU's header as its data segment.
void ExpectReject(const Pdu& reply, const std::set<uint8_t>& reasons,
                  const std::vector<uint8_t>& rejected_bhs);

class RawGatewayTest : public GatewayTest {
 protected:
  void SetUp() override;
  void TearDown() override;

  RawLoginOptions OpenHost() const;  // the "open" host, no authentication
  RawLoginOptions Web1Host() const;  // web1 with CHAP (not mutual)
  void RawLogin(RawSession* s, const RawLoginOptions& o);

  // The session opened before the bad input still does I/O, and a new one
  // can log in: the target survived and did not mix the bad connection up
  // with others.
  void ExpectOthersWork();

  // Sends a SCSI command to LUN 0 and gathers its Data-In and final status.
  struct ScsiResult {
    ReadStatus read = ReadStatus::kError;
    Pdu last;  // the SCSI Response, the Data-In with status, or a Reject
    uint8_t status = 0xff;
    std::vector<uint8_t> data_in;
  };
  ScsiResult RunScsi(RawSession* s, const std::array<uint8_t, 16>& cdb, bool read, bool write,
                     uint32_t length, std::vector<uint8_t> data = {});
  // Reads the rest of a command already sent (Data-In, R2T stop here too).
  ScsiResult Finish(RawSession* s, uint32_t itt);

  // TEST UNIT READY until GOOD: a new I_T nexus may first get a unit
  // attention (29h/00h power on or reset, SAM-5), which is no error here.
  void ClearRawUnitAttention(RawSession* s);

  Context witness_;
  uint32_t round_ = 1000;
};

}  // namespace vsl::e2e
