// Operational key negotiation, one rule per row (RFC 7143 §13).
#include "gateway/iscsi/negotiate.h"

#include <gtest/gtest.h>

namespace vsl::iscsi::internal {
namespace {

struct Row {
  std::string key, value;
  std::string answer;  // "" : no answer expected; "!" : login fails
  std::function<bool(const SessionParams&, const ConnectionParams&)> check;
  bool discovery = false;
  std::function<void(TargetLimits*)> limits;
};

TEST(OperationalNegotiation, KeyRules) {
  using S = const SessionParams&;
  using C = const ConnectionParams&;
  const std::vector<Row> rows = {
      {"HeaderDigest", "CRC32C,None", "CRC32C", [](S, C c) { return c.header_digest; }},
      {"HeaderDigest", "None,CRC32C", "None", [](S, C c) { return !c.header_digest; }},
      {"DataDigest", "CRC32C", "CRC32C", [](S, C c) { return c.data_digest; }},
      {"DataDigest", "CRC32C,None", "None", [](S, C c) { return !c.data_digest; }, false,
       [](TargetLimits* l) { l->allow_data_digest = false; }},
      {"HeaderDigest", "CRC32C", "Reject", [](S, C c) { return !c.header_digest; }, false,
       [](TargetLimits* l) { l->allow_header_digest = false; }},
      {"HeaderDigest", "Foo,None", "None", nullptr},
      {"HeaderDigest", "CRC32C,,None", "!", nullptr},
      {"MaxRecvDataSegmentLength", "65536", "262144",
       [](S, C c) {
         return c.initiator_max_recv_data_segment_length == 65536 &&
                c.target_max_recv_data_segment_length == 262144;
       }},
      {"MaxRecvDataSegmentLength", "511", "!", nullptr},
      {"MaxRecvDataSegmentLength", "16777216", "!", nullptr},
      {"MaxRecvDataSegmentLength", "0x1000", "262144",
       [](S, C c) { return c.initiator_max_recv_data_segment_length == 4096; }},
      {"MaxBurstLength", "16776192", "1048576",
       [](S s, C) { return s.max_burst_length == 1048576; }},
      {"MaxBurstLength", "4096", "4096", [](S s, C) { return s.max_burst_length == 4096; }},
      {"MaxBurstLength", "abc", "!", nullptr},
      {"FirstBurstLength", "1048576", "262144",
       [](S s, C) { return s.first_burst_length == 262144; }},
      {"FirstBurstLength", "100", "!", nullptr},
      {"ImmediateData", "Yes", "Yes", [](S s, C) { return s.immediate_data; }},
      {"ImmediateData", "No", "No", [](S s, C) { return !s.immediate_data; }},
      {"ImmediateData", "Yes", "No", [](S s, C) { return !s.immediate_data; }, false,
       [](TargetLimits* l) { l->immediate_data = false; }},
      {"ImmediateData", "yes", "!", nullptr},
      {"InitialR2T", "No", "No", [](S s, C) { return !s.initial_r2t; }},
      {"InitialR2T", "Yes", "Yes", [](S s, C) { return s.initial_r2t; }},
      {"InitialR2T", "No", "Yes", [](S s, C) { return s.initial_r2t; }, false,
       [](TargetLimits* l) { l->initial_r2t = true; }},
      {"MaxOutstandingR2T", "64", "16", [](S s, C) { return s.max_outstanding_r2t == 16; }},
      {"MaxOutstandingR2T", "1", "1", [](S s, C) { return s.max_outstanding_r2t == 1; }},
      {"MaxOutstandingR2T", "0", "!", nullptr},
      {"MaxOutstandingR2T", "65536", "!", nullptr},
      {"DataPDUInOrder", "No", "Yes", [](S s, C) { return s.data_pdu_in_order; }},
      {"DataSequenceInOrder", "No", "Yes", [](S s, C) { return s.data_sequence_in_order; }},
      {"DataSequenceInOrder", "Maybe", "!", nullptr},
      {"ErrorRecoveryLevel", "2", "0", [](S s, C) { return s.error_recovery_level == 0; }},
      {"ErrorRecoveryLevel", "3", "!", nullptr},
      {"MaxConnections", "8", "1", [](S s, C) { return s.max_connections == 1; }},
      {"MaxConnections", "8", "4", [](S s, C) { return s.max_connections == 4; }, false,
       [](TargetLimits* l) { l->max_connections = 4; }},
      {"MaxConnections", "0", "!", nullptr},
      {"DefaultTime2Wait", "0", "2", [](S s, C) { return s.default_time2wait == 2; }},
      {"DefaultTime2Wait", "5", "5", [](S s, C) { return s.default_time2wait == 5; }},
      {"DefaultTime2Wait", "3601", "!", nullptr},
      {"DefaultTime2Retain", "0", "0", [](S s, C) { return s.default_time2retain == 0; }},
      {"DefaultTime2Retain", "60", "20", [](S s, C) { return s.default_time2retain == 20; }},
      {"IFMarker", "Yes", "No", nullptr},
      {"OFMarker", "No", "No", nullptr},
      {"OFMarkInt", "2048~8192", "Irrelevant", nullptr},
      {"TargetAlias", "x", "Irrelevant", nullptr},
      {"X-com.example.Foo", "1", "NotUnderstood", nullptr},
      {"iSCSIProtocolLevel", "1", "NotUnderstood", nullptr},
      {"MaxBurstLength", "4096", "Irrelevant", nullptr, true},
      {"InitialR2T", "No", "Irrelevant", nullptr, true},
      {"MaxConnections", "2", "Irrelevant", nullptr, true},
      {"HeaderDigest", "CRC32C", "CRC32C", nullptr, true},
      {"MaxRecvDataSegmentLength", "8192", "262144", nullptr, true},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.key + "=" + row.value + (row.discovery ? " (discovery)" : ""));
    TargetLimits limits;
    if (row.limits) row.limits(&limits);
    OperationalNegotiation n(limits);
    n.set_discovery(row.discovery);
    std::vector<TextKey> reply;
    Status st = n.Answer({row.key, row.value}, &reply);
    if (row.answer == "!") {
      EXPECT_FALSE(st.ok());
      EXPECT_NE(st.message().find(row.key), std::string::npos) << st.message();
      continue;
    }
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_EQ(reply.size(), 1u);
    const std::string want_key =
        row.key == "MaxRecvDataSegmentLength" ? "MaxRecvDataSegmentLength" : row.key;
    EXPECT_EQ(reply[0].key, want_key);
    EXPECT_EQ(reply[0].value, row.answer);
    if (row.check) {
      EXPECT_TRUE(row.check(n.session(), n.connection()));
    }
  }
}

TEST(OperationalNegotiation, KeyOfferedAgain) {
  OperationalNegotiation n(TargetLimits{});
  std::vector<TextKey> reply;
  ASSERT_TRUE(n.Answer({"HeaderDigest", "None"}, &reply).ok());
  ASSERT_TRUE(n.Answer({"MaxRecvDataSegmentLength", "8192"}, &reply).ok());
  // The same value again (libiscsi offers digests in both stages): same answer.
  ASSERT_TRUE(n.Answer({"HeaderDigest", "None"}, &reply).ok());
  ASSERT_TRUE(n.Answer({"MaxRecvDataSegmentLength", "8192"}, &reply).ok());
  std::vector<TextKey> want = {
      {"HeaderDigest", "None"}, {"MaxRecvDataSegmentLength", "262144"}, {"HeaderDigest", "None"}};
  EXPECT_EQ(reply, want);
  Status st = n.Answer({"HeaderDigest", "CRC32C"}, &reply);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("offered again"), std::string::npos) << st.message();
}

TEST(OperationalNegotiation, FirstBurstMustNotExceedMaxBurst) {
  {
    OperationalNegotiation n(TargetLimits{});
    std::vector<TextKey> reply;
    ASSERT_TRUE(n.Answer({"MaxBurstLength", "16384"}, &reply).ok());
    ASSERT_TRUE(n.Answer({"FirstBurstLength", "65536"}, &reply).ok());
    Status st = n.Finish();
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find("FirstBurstLength"), std::string::npos);
  }
  {
    // Only the default FirstBurstLength is too large: it follows MaxBurstLength.
    OperationalNegotiation n(TargetLimits{});
    std::vector<TextKey> reply;
    ASSERT_TRUE(n.Answer({"MaxBurstLength", "16384"}, &reply).ok());
    ASSERT_TRUE(n.Finish().ok());
    EXPECT_EQ(n.session().first_burst_length, 16384u);
  }
  {
    OperationalNegotiation n(TargetLimits{});
    EXPECT_TRUE(n.Finish().ok());
    EXPECT_EQ(n.session().first_burst_length, 65536u);  // RFC defaults
    EXPECT_EQ(n.session().max_burst_length, 262144u);
  }
}

TEST(OperationalNegotiation, DeclaresOwnLengthOnce) {
  OperationalNegotiation n(TargetLimits{});
  std::vector<TextKey> reply;
  n.DeclareOwn(&reply);
  n.DeclareOwn(&reply);
  ASSERT_TRUE(n.Answer({"MaxRecvDataSegmentLength", "4096"}, &reply).ok());
  ASSERT_EQ(reply.size(), 1u);
  EXPECT_EQ(reply[0].value, "262144");
}

TEST(ParseNumber, Table) {
  EXPECT_EQ(ParseNumber("0", 10), 0u);
  EXPECT_EQ(ParseNumber("10", 10), 10u);
  EXPECT_EQ(ParseNumber("11", 10), std::nullopt);
  EXPECT_EQ(ParseNumber("0xff", 255), 255u);
  EXPECT_EQ(ParseNumber("0x100", 255), std::nullopt);
  EXPECT_EQ(ParseNumber("", 10), std::nullopt);
  EXPECT_EQ(ParseNumber("0x", 10), std::nullopt);
  EXPECT_EQ(ParseNumber("-1", 10), std::nullopt);
  EXPECT_EQ(ParseNumber("99999999999999999999999", ~0ull), std::nullopt);
  EXPECT_EQ(ParseNumber("18446744073709551615", ~0ull), ~0ull);
}

}  // namespace
}  // namespace vsl::iscsi::internal
