#include "iscsi_client.h"

#include <algorithm>
#include <cstdio>
#include <regex>

namespace vsl::e2e {
namespace {

// Seconds before libiscsi gives up on any PDU: bounds every sync call.
constexpr int kTimeoutSeconds = 10;

Context NewContext(const LoginSpec& spec, std::string* error) {
  Context ctx(iscsi_create_context(spec.initiator.c_str()));
  if (!ctx) {
    *error = "iscsi_create_context failed";
    return nullptr;
  }
  iscsi_set_timeout(ctx.get(), kTimeoutSeconds);
  iscsi_set_noautoreconnect(ctx.get(), 1);
  iscsi_set_reconnect_max_retries(ctx.get(), 0);
  if (!spec.target.empty()) iscsi_set_targetname(ctx.get(), spec.target.c_str());
  if (!spec.user.empty()) {
    iscsi_set_initiator_username_pwd(ctx.get(), spec.user.c_str(), spec.secret.c_str());
  }
  if (!spec.target_user.empty()) {
    iscsi_set_target_username_pwd(ctx.get(), spec.target_user.c_str(),
                                  spec.target_secret.c_str());
  }
  iscsi_set_header_digest(ctx.get(), spec.header_digest ? ISCSI_HEADER_DIGEST_CRC32C
                                                        : ISCSI_HEADER_DIGEST_NONE);
  return ctx;
}

}  // namespace

LoginSpec Web1Spec() {
  using namespace farm;
  return {kWeb1Initiator, TargetName("web1"), kWeb1User, kWeb1Secret,
          kWeb1TargetUser, kWeb1TargetSecret, false};
}

LoginSpec Web2Spec(bool second_initiator) {
  using namespace farm;
  return {second_initiator ? kWeb2InitiatorB : kWeb2InitiatorA, TargetName("web2"), kWeb2User,
          kWeb2Secret, "", "", false};
}

LoginSpec OpenSpec() { return {farm::kOpenInitiator, TargetName("open"), "", "", "", "", false}; }

Context Login(const std::string& portal, const LoginSpec& spec, int lun, std::string* error) {
  Context ctx = NewContext(spec, error);
  if (!ctx) return nullptr;
  iscsi_set_session_type(ctx.get(), ISCSI_SESSION_NORMAL);
  if (iscsi_full_connect_sync(ctx.get(), portal.c_str(), lun) != 0) {
    *error = iscsi_get_error(ctx.get());
    return nullptr;
  }
  if (!ClearUnitAttentions(ctx.get(), lun)) {
    *error = "TEST UNIT READY on LUN " + std::to_string(lun) + " never became GOOD: " +
             iscsi_get_error(ctx.get());
    return nullptr;
  }
  return ctx;
}

Context LoginDiscovery(const std::string& portal, const LoginSpec& spec, std::string* error) {
  Context ctx = NewContext(spec, error);
  if (!ctx) return nullptr;
  iscsi_set_session_type(ctx.get(), ISCSI_SESSION_DISCOVERY);
  if (iscsi_connect_sync(ctx.get(), portal.c_str()) != 0 || iscsi_login_sync(ctx.get()) != 0) {
    *error = iscsi_get_error(ctx.get());
    return nullptr;
  }
  return ctx;
}

int LoginStatus(const std::string& e) {
  static const std::regex re(R"(Status: .*\((\d+)\))");
  std::smatch m;
  if (!std::regex_search(e, m, re)) return -1;
  return std::stoi(m[1]);
}

bool ClearUnitAttentions(iscsi_context* ctx, int lun) {
  for (int i = 0; i < 8; ++i) {
    Task t(iscsi_testunitready_sync(ctx, lun));
    if (!t) return false;
    if (t->status == SCSI_STATUS_GOOD) return true;
    if (t->status != SCSI_STATUS_CHECK_CONDITION || t->sense.key != SCSI_SENSE_UNIT_ATTENTION) {
      return false;
    }
  }
  return false;
}

std::vector<uint8_t> Pattern(size_t size, uint32_t seed) {
  std::vector<uint8_t> out(size);
  uint32_t x = seed * 2654435761u + 12345;
  for (auto& b : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = uint8_t(x);
  }
  return out;
}

std::string Describe(const scsi_task* t) {
  if (t == nullptr) return "no task (transport error)";
  char buf[128];
  std::snprintf(buf, sizeof buf, "status 0x%x sense key 0x%x asc/ascq 0x%04x", t->status,
                unsigned(t->sense.key), unsigned(t->sense.ascq));
  return buf;
}

std::vector<uint8_t> DataIn(const scsi_task* t) {
  if (t == nullptr || t->datain.data == nullptr) return {};
  return std::vector<uint8_t>(t->datain.data, t->datain.data + t->datain.size);
}

Task Write16(iscsi_context* ctx, int lun, uint64_t lba, std::vector<uint8_t> data) {
  return Task(iscsi_write16_sync(ctx, lun, lba, data.data(), uint32_t(data.size()), kBlockSize,
                                 0, 0, 0, 0, 0));
}

Task Read16(iscsi_context* ctx, int lun, uint64_t lba, uint32_t blocks) {
  return Task(iscsi_read16_sync(ctx, lun, lba, blocks * kBlockSize, kBlockSize, 0, 0, 0, 0, 0));
}

std::pair<std::string, uint64_t> Web1Lun0Location(uint64_t lba) {
  if (lba < 128) return {"a.img", 4096 + lba * kBlockSize};
  if (lba < 384) return {"b.img", (lba - 128) * kBlockSize};
  return {"c.img", 8192 + (lba - 384) * kBlockSize};
}

void ExpectInBackingFiles(const GatewayProcess& gw, uint64_t first_lba,
                          const std::vector<uint8_t>& bytes) {
  for (size_t i = 0; i * kBlockSize < bytes.size(); ++i) {
    auto [file, offset] = Web1Lun0Location(first_lba + i);
    std::vector<uint8_t> want(bytes.begin() + i * kBlockSize,
                              bytes.begin() + (i + 1) * kBlockSize);
    ASSERT_EQ(gw.ReadFile(file, offset, kBlockSize), want)
        << "LUN block " << first_lba + i << " is not at " << file << " offset " << offset;
  }
}

bool FileIsAll(const GatewayProcess& gw, const std::string& file, uint64_t offset, uint64_t size,
               uint8_t value) {
  std::vector<uint8_t> got = gw.ReadFile(file, offset, size);
  return got.size() == size && std::all_of(got.begin(), got.end(),
                                            [&](uint8_t b) { return b == value; });
}

void GatewayTest::SetUp() {
  std::string error;
  ASSERT_TRUE(gw_.Start(StandardFarm(), &error)) << error;
}

void GatewayTest::TearDown() {
  if (!gw_.running()) return;
  std::string error;
  EXPECT_TRUE(gw_.Stop(&error)) << error;
}

Context GatewayTest::LoginOrFail(const LoginSpec& spec, int lun) {
  std::string error;
  Context ctx = Login(gw_.portal(), spec, lun, &error);
  EXPECT_TRUE(ctx) << "login of " << spec.initiator << " to " << spec.target
                   << " failed: " << error;
  return ctx;
}

}  // namespace vsl::e2e
