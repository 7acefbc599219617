// Reservations with two nexuses: RESERVE/RELEASE and persistent reservations.
#include "gateway/scsi/scsi_test_util.h"

namespace vsl::scsi {
namespace {

using namespace testing;

std::vector<uint8_t> PrOutCdb(uint8_t sa, uint8_t type = 0) {
  std::vector<uint8_t> c(10, 0);
  c[0] = 0x5f;
  c[1] = sa;
  c[2] = type;
  c[8] = 24;
  return c;
}
std::vector<uint8_t> PrOutParam(uint64_t key, uint64_t sa_key, uint8_t flags = 0) {
  std::vector<uint8_t> p(24, 0);
  StoreBe64(&p[0], key);
  StoreBe64(&p[8], sa_key);
  p[20] = flags;
  return p;
}
std::vector<uint8_t> PrInCdb(uint8_t sa) { return {0x5e, sa, 0, 0, 0, 0, 0, 0x10, 0, 0}; }

const std::vector<uint8_t> kTur = {0, 0, 0, 0, 0, 0};
const std::vector<uint8_t> kRead = Cdb10(0x28, 0, 0, 1);

class PrTest : public LuTest {
 protected:
  Response Out1(uint8_t sa, uint64_t key, uint64_t sa_key, uint8_t type = 0) {
    return Do(PrOutCdb(sa, type), PrOutParam(key, sa_key));
  }
  Response Out2(uint8_t sa, uint64_t key, uint64_t sa_key, uint8_t type = 0) {
    return Do2(PrOutCdb(sa, type), PrOutParam(key, sa_key));
  }
  Response Write2() { return Do2(Cdb10(0x2a, 0, 0, 1), std::vector<uint8_t>(512, 1)); }
  std::vector<uint64_t> Keys() {
    Response r = Do(PrInCdb(0));
    std::vector<uint64_t> keys;
    EXPECT_GE(r.data_in.size(), 8u);
    if (r.data_in.size() < 8) return {~0ull};
    for (size_t at = 8; at + 8 <= r.data_in.size(); at += 8) keys.push_back(LoadBe64(&r.data_in[at]));
    EXPECT_EQ(LoadBe32(&r.data_in[4]), keys.size() * 8);
    return keys;
  }
};

TEST_F(PrTest, Reserve6AgainstOtherNexus) {
  EXPECT_GOOD(Do({0x16, 0, 0, 0, 0, 0}));
  EXPECT_GOOD(Do({0x16, 0, 0, 0, 0, 0}));  // again by the holder
  EXPECT_EQ(Do2({0x16, 0, 0, 0, 0, 0}).status, ScsiStatus::kReservationConflict);
  EXPECT_EQ(Do2(kRead).status, ScsiStatus::kReservationConflict);
  EXPECT_EQ(Do2(kTur).status, ScsiStatus::kReservationConflict);
  EXPECT_GOOD(Do2({0x12, 0, 0, 0, 36, 0}));
  EXPECT_GOOD(Do2({0x17, 0, 0, 0, 0, 0}));  // release by a non-holder: no effect
  EXPECT_EQ(Do2(kRead).status, ScsiStatus::kReservationConflict);
  EXPECT_GOOD(Do(kRead));
  EXPECT_GOOD(Do({0x17, 0, 0, 0, 0, 0}));
  EXPECT_GOOD(Do2(kRead));
  // Reset and nexus loss release it.
  EXPECT_GOOD(Do({0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  lu_->Reset(n2_);
  EXPECT_GOOD(Do2(kRead));
  EXPECT_GOOD(Do({0x16, 0, 0, 0, 0, 0}));
  lu_->ForgetNexus(n1_.id);
  EXPECT_GOOD(Do2(kRead));
}

TEST_F(PrTest, RegisterAndReadKeys) {
  EXPECT_GOOD(Out1(0x00, 0, 0xaa));
  EXPECT_EQ(Out1(0x00, 0, 0xbb).status, ScsiStatus::kReservationConflict);  // wrong key
  EXPECT_EQ(Out2(0x00, 0x99, 0xbb).status, ScsiStatus::kReservationConflict);  // not registered
  EXPECT_GOOD(Out2(0x06, 0x12345, 0xbb));                                   // ignore existing
  EXPECT_EQ(Keys(), (std::vector<uint64_t>{0xaa, 0xbb}));
  EXPECT_GOOD(Out1(0x00, 0xaa, 0xcc));  // change key
  EXPECT_EQ(Keys(), (std::vector<uint64_t>{0xcc, 0xbb}));
  Response r = Do(PrInCdb(0));
  uint32_t gen = LoadBe32(&r.data_in[0]);
  EXPECT_GOOD(Out2(0x00, 0xbb, 0));  // unregister
  EXPECT_EQ(Keys(), (std::vector<uint64_t>{0xcc}));
  EXPECT_GT(LoadBe32(&Do(PrInCdb(0)).data_in[0]), gen);
  // Truncation keeps the header's length.
  r = Do({0x5e, 0, 0, 0, 0, 0, 0, 0, 8, 0});
  EXPECT_EQ(r.data_in.size(), 8u);
  EXPECT_EQ(LoadBe32(&r.data_in[4]), 8u);
  // APTPL, SPEC_I_PT, ALL_TG_PT are refused.
  for (uint8_t flag : {0x01, 0x04, 0x08}) {
    r = Do(PrOutCdb(0x00), PrOutParam(0xcc, 0xdd, flag));
    EXPECT_SENSE(r, 0x5, 0x26, 0x00);
    EXPECT_EQ(ParseSense(r.sense).field, 20);
  }
  // Capabilities.
  r = Do(PrInCdb(2));
  EXPECT_GOOD(r);
  EXPECT_EQ(LoadBe16(&r.data_in[0]), 8);
  EXPECT_EQ(r.data_in[3] & 0x80, 0x80);
  EXPECT_EQ(r.data_in[2] & 0x01, 0);  // no PTPL_C
}

struct Access {
  uint8_t type;
  bool reg_read, reg_write, unreg_read, unreg_write;
};

TEST_F(PrTest, AccessByType) {
  const Access table[] = {
      {3, false, false, false, false}, {1, true, false, true, false},
      {6, true, true, false, false},   {5, true, true, true, false},
      {8, true, true, false, false},   {7, true, true, true, false},
  };
  for (const Access& a : table) {
    SCOPED_TRACE("type " + std::to_string(a.type));
    EXPECT_GOOD(Out1(0x06, 0, 0x1));
    EXPECT_GOOD(Out2(0x06, 0, 0x2));
    EXPECT_GOOD(Out1(0x01, 0x1, 0, a.type));
    Response r = Do(PrInCdb(1));
    EXPECT_EQ(LoadBe32(&r.data_in[4]), 16u);
    EXPECT_EQ(r.data_in[21], a.type);
    EXPECT_EQ(LoadBe64(&r.data_in[8]), a.type >= 7 ? 0u : 1u);
    EXPECT_GOOD(Do(kRead));
    EXPECT_GOOD(Do(Cdb10(0x2a, 0, 0, 1), std::vector<uint8_t>(512, 0)));
    EXPECT_EQ(Do2(kRead).status == ScsiStatus::kGood, a.reg_read);
    EXPECT_EQ(Write2().status == ScsiStatus::kGood, a.reg_write);
    EXPECT_GOOD(Do2(kTur));
    EXPECT_GOOD(Do2({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_GOOD(Out2(0x00, 0x2, 0));  // n2 unregisters
    EXPECT_EQ(Do2(kRead).status == ScsiStatus::kGood, a.unreg_read);
    EXPECT_EQ(Write2().status == ScsiStatus::kGood, a.unreg_write);
    if (!a.unreg_write) {
      EXPECT_EQ(Write2().status, ScsiStatus::kReservationConflict);
    }
    // Releasing with the wrong type is an error; with the right one it works.
    uint8_t wrong = a.type == 1 ? 3 : 1;
    EXPECT_SENSE(Out1(0x02, 0x1, 0, wrong), 0x5, 0x26, 0x04);
    EXPECT_GOOD(Out1(0x02, 0x1, 0, a.type));
    EXPECT_GOOD(Write2());
    EXPECT_GOOD(Out1(0x00, 0x1, 0));
    EXPECT_TRUE(Keys().empty());
  }
}

TEST_F(PrTest, ReserveConflictsAndRelease) {
  EXPECT_EQ(Out1(0x01, 0x1, 0, 1).status, ScsiStatus::kReservationConflict);  // not registered
  EXPECT_GOOD(Out1(0x06, 0, 0x1));
  EXPECT_GOOD(Out2(0x06, 0, 0x2));
  EXPECT_SENSE(Out1(0x01, 0x1, 0, 2), 0x5, 0x24, 0x00);  // type 2 is reserved
  EXPECT_GOOD(Out1(0x01, 0x1, 0, 1));
  EXPECT_GOOD(Out1(0x01, 0x1, 0, 1));                                          // same again
  EXPECT_EQ(Out1(0x01, 0x1, 0, 3).status, ScsiStatus::kReservationConflict);  // other type
  EXPECT_EQ(Out2(0x01, 0x2, 0, 1).status, ScsiStatus::kReservationConflict);
  EXPECT_GOOD(Out2(0x02, 0x2, 0, 1));  // release by a non-holder: no effect
  EXPECT_EQ(Write2().status, ScsiStatus::kReservationConflict);
  // RESERVE(6) is refused while registrations exist.
  EXPECT_EQ(Do({0x16, 0, 0, 0, 0, 0}).status, ScsiStatus::kReservationConflict);
  // The holder unregistering releases the reservation.
  EXPECT_GOOD(Out1(0x00, 0x1, 0));
  EXPECT_GOOD(Write2());
}

TEST_F(PrTest, RegistrantsOnlyReleaseNotifies) {
  lu_->AttachNexus(n1_, false);
  lu_->AttachNexus(n2_, false);
  EXPECT_GOOD(Out1(0x06, 0, 0x1));
  EXPECT_GOOD(Out2(0x06, 0, 0x2));
  EXPECT_GOOD(Out1(0x01, 0x1, 0, 5));
  EXPECT_GOOD(Out1(0x02, 0x1, 0, 5));
  EXPECT_SENSE(Do2(kTur), 0x6, 0x2a, 0x04);
  EXPECT_GOOD(Do(kTur));
}

TEST_F(PrTest, ClearAndPreempt) {
  lu_->AttachNexus(n1_, false);
  lu_->AttachNexus(n2_, false);
  EXPECT_GOOD(Out1(0x06, 0, 0x1));
  EXPECT_GOOD(Out2(0x06, 0, 0x2));
  EXPECT_GOOD(Out1(0x01, 0x1, 0, 3));
  EXPECT_EQ(Do2(kRead).status, ScsiStatus::kReservationConflict);
  // n2 preempts n1: n1's registration goes, n2 holds the reservation.
  EXPECT_EQ(Out2(0x04, 0x9, 0x1, 3).status, ScsiStatus::kReservationConflict);  // wrong own key
  EXPECT_GOOD(Out2(0x04, 0x2, 0x1, 1));
  EXPECT_SENSE(Do(kTur), 0x6, 0x2a, 0x05);  // REGISTRATIONS PREEMPTED
  EXPECT_EQ(Keys(), (std::vector<uint64_t>{0x2}));
  Response r = Do(PrInCdb(1));
  EXPECT_EQ(LoadBe64(&r.data_in[8]), 0x2u);
  EXPECT_EQ(r.data_in[21], 1);
  EXPECT_GOOD(Do(kRead));  // write exclusive now
  EXPECT_EQ(Do(Cdb10(0x2a, 0, 0, 1), std::vector<uint8_t>(512, 0)).status,
            ScsiStatus::kReservationConflict);
  // Preempt without a reservation removes registrations only.
  EXPECT_GOOD(Out1(0x06, 0, 0x1));
  EXPECT_GOOD(Out2(0x02, 0x2, 0, 1));
  EXPECT_GOOD(Out2(0x05, 0x2, 0x1, 1));  // PREEMPT AND ABORT
  EXPECT_SENSE(Do(kTur), 0x6, 0x2a, 0x05);
  EXPECT_EQ(Keys(), (std::vector<uint64_t>{0x2}));
  EXPECT_EQ(Out2(0x04, 0x2, 0x77, 1).status, ScsiStatus::kReservationConflict);  // no such key
  // READ FULL STATUS names the registrant's port.
  r = Do(PrInCdb(3));
  EXPECT_GOOD(r);
  ASSERT_GE(r.data_in.size(), 8u + 24u);
  EXPECT_EQ(LoadBe64(&r.data_in[8]), 0x2u);
  std::string tid(reinterpret_cast<const char*>(&r.data_in[8 + 24 + 4]));
  EXPECT_EQ(tid, n2_.initiator_port);
  // CLEAR removes everything and tells the others.
  EXPECT_GOOD(Out1(0x06, 0, 0x1));
  EXPECT_GOOD(Out2(0x01, 0x2, 0, 3));
  EXPECT_GOOD(Out2(0x03, 0x2, 0));
  EXPECT_SENSE(Do(kTur), 0x6, 0x2a, 0x03);
  EXPECT_TRUE(Keys().empty());
  EXPECT_GOOD(Do(kRead));
}

TEST_F(PrTest, AllRegistrantsPreemptWithZeroKey) {
  EXPECT_GOOD(Out1(0x06, 0, 0x1));
  EXPECT_GOOD(Out2(0x06, 0, 0x2));
  EXPECT_GOOD(Out1(0x01, 0x1, 0, 8));
  EXPECT_GOOD(Do2(kRead));  // a registrant holds an all-registrants reservation
  EXPECT_GOOD(Out2(0x04, 0x2, 0, 3));
  EXPECT_SENSE(Do(kTur), 0x6, 0x2a, 0x05);
  EXPECT_EQ(Keys(), (std::vector<uint64_t>{0x2}));
  EXPECT_EQ(Do(kRead).status, ScsiStatus::kReservationConflict);
  EXPECT_GOOD(Do2(kRead));
}

}  // namespace
}  // namespace vsl::scsi
