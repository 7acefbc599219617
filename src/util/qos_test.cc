#include "util/qos.h"

#include <gtest/gtest.h>

namespace vsl {
namespace {

TEST(QosTest, ParsesAndFormats) {
  auto q = ParseQos("mbps=100, iops=2000,write-iops=7");
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ((*q)[QosLimits::kIops], 2000u);
  EXPECT_EQ((*q)[QosLimits::kMbps], 100u);
  EXPECT_EQ((*q)[QosLimits::kWriteIops], 7u);
  EXPECT_EQ((*q)[QosLimits::kReadIops], 0u);
  EXPECT_EQ(FormatQos(*q), "iops=2000,write-iops=7,mbps=100");
  auto again = ParseQos(FormatQos(*q));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *q);
  auto none = ParseQos("");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(FormatQos(*none), "");
}

TEST(QosTest, RefusesBadText) {
  struct Case {
    const char* text;
    const char* message_has;
  };
  const Case cases[] = {
      {"iops", "'iops' is not KEY=N"},
      {"iops=", "iops=: must be a whole number"},
      {"iops=0", "iops=0: must be a whole number"},
      {"iops=-5", "iops=-5"},
      {"iops=12x", "iops=12x"},
      {"iops=1000000001", "iops=1000000001"},
      {"iops=1,iops=2", "'iops' given twice"},
      {"speed=3", "unknown qos key 'speed'"},
      {"iops=1,,mbps=2", "'' is not KEY=N"},
      {"read_iops=5", "unknown qos key 'read_iops'"},
  };
  for (const Case& c : cases) {
    auto q = ParseQos(c.text);
    ASSERT_FALSE(q.ok()) << c.text;
    EXPECT_EQ(q.status().code(), Code::kInvalidArgument);
    EXPECT_NE(q.status().message().find(c.message_has), std::string::npos)
        << c.text << ": " << q.status().message();
  }
}

TEST(QosTest, KeysAndValues) {
  for (int k = 0; k < QosLimits::kKeys; ++k) {
    auto back = ParseQosKey(QosKeyName(QosLimits::Key(k)));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, QosLimits::Key(k));
  }
  EXPECT_TRUE(CheckQosValue("iops", 1).ok());
  EXPECT_FALSE(CheckQosValue("iops", 0).ok());
  EXPECT_FALSE(CheckQosValue("iops", int64_t(kMaxQosValue) + 1).ok());
}

}  // namespace
}  // namespace vsl
