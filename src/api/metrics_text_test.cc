#include "api/metrics_text.h"

#include <gtest/gtest.h>

namespace vsl::api {
namespace {

TEST(MetricsText, EscapesLabelValuesAndHelp) {
  MetricsText m;
  m.Family("vsl_x_total", "counter", "a \\ back\nslash");
  m.Sample("vsl_x_total", {{"array", "a\"b\\c\nd"}}, 3);
  EXPECT_EQ(m.text(),
            "# HELP vsl_x_total a \\\\ back\\nslash\n"
            "# TYPE vsl_x_total counter\n"
            "vsl_x_total{array=\"a\\\"b\\\\c\\nd\"} 3\n");
}

TEST(MetricsText, FormatsValues) {
  EXPECT_EQ(MetricsText::FormatValue(0), "0");
  EXPECT_EQ(MetricsText::FormatValue(68719476736.0), "68719476736");
  EXPECT_EQ(MetricsText::FormatValue(0.005), "0.005");
  EXPECT_EQ(MetricsText::FormatValue(0.0001), "0.0001");
  EXPECT_EQ(MetricsText::FormatValue(1.0 / 0.0), "+Inf");
}

TEST(MetricsText, HistogramIsCumulativeWithInfSumAndCount) {
  MetricsText m;
  m.Histogram("vsl_h_seconds", {{"op", "map"}}, {0.1, 1}, {2, 5}, 7, 4.5);
  EXPECT_EQ(m.text(),
            "vsl_h_seconds_bucket{op=\"map\",le=\"0.1\"} 2\n"
            "vsl_h_seconds_bucket{op=\"map\",le=\"1\"} 5\n"
            "vsl_h_seconds_bucket{op=\"map\",le=\"+Inf\"} 7\n"
            "vsl_h_seconds_sum{op=\"map\"} 4.5\n"
            "vsl_h_seconds_count{op=\"map\"} 7\n");
}

}  // namespace
}  // namespace vsl::api
