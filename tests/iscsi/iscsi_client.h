// libiscsi as an independent initiator: RAII handles, logins for the
// standard farm's hosts, and a gtest fixture that runs `vsl gateway`.
#pragma once

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "gateway_process.h"

namespace vsl::e2e {

struct ContextDeleter {
  void operator()(iscsi_context* c) const { iscsi_destroy_context(c); }
};
using Context = std::unique_ptr<iscsi_context, ContextDeleter>;

struct TaskDeleter {
  void operator()(scsi_task* t) const { scsi_free_scsi_task(t); }
};
using Task = std::unique_ptr<scsi_task, TaskDeleter>;

struct LoginSpec {
  std::string initiator;
  std::string target;
  std::string user;    // empty: no CHAP
  std::string secret;
  std::string target_user;  // non-empty: mutual CHAP
  std::string target_secret;
  bool header_digest = false;
};

LoginSpec Web1Spec();  // CHAP and mutual CHAP
LoginSpec Web2Spec(bool second_initiator = false);
LoginSpec OpenSpec();

// A normal session; unit attentions pending on `lun` (power on, reset) are
// consumed. Null with *error (libiscsi's message) when the login fails.
Context Login(const std::string& portal, const LoginSpec& spec, int lun, std::string* error);
// A discovery session (SessionType=Discovery), logged in.
Context LoginDiscovery(const std::string& portal, const LoginSpec& spec, std::string* error);
// The Status-Class/Status-Detail pair (class << 8 | detail) that libiscsi
// reports in "Failed to log in to target. Status: ...(N)", or -1.
int LoginStatus(const std::string& libiscsi_error);

// TEST UNIT READY until it is GOOD, consuming unit attentions; false when
// something other than a unit attention comes back or after 8 tries.
bool ClearUnitAttentions(iscsi_context* ctx, int lun);

// Deterministic bytes, different for each seed.
std::vector<uint8_t> Pattern(size_t size, uint32_t seed);
std::string Describe(const scsi_task* task);  // status and sense, for messages

// The data of a completed READ, as bytes.
std::vector<uint8_t> DataIn(const scsi_task* task);
Task Write16(iscsi_context* ctx, int lun, uint64_t lba, std::vector<uint8_t> data);
Task Read16(iscsi_context* ctx, int lun, uint64_t lba, uint32_t blocks);

// Where block `lba` of web1's LUN 0 lives (see StandardFarm()).
std::pair<std::string, uint64_t> Web1Lun0Location(uint64_t lba);
// Checks that `bytes`, written at `first_lba` of web1's LUN 0, are in the
// backing files where the extent map puts them.
void ExpectInBackingFiles(const GatewayProcess& gw, uint64_t first_lba,
                          const std::vector<uint8_t>& bytes);
// True when all `size` bytes of `file` from `offset` are `value`.
bool FileIsAll(const GatewayProcess& gw, const std::string& file, uint64_t offset, uint64_t size,
               uint8_t value);

// Every test runs against its own `vsl gateway` with the standard farm in a
// fresh directory; TearDown checks that SIGTERM stops it cleanly.
class GatewayTest : public testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  Context LoginOrFail(const LoginSpec& spec, int lun = 0);

  GatewayProcess gw_;
};

}  // namespace vsl::e2e
