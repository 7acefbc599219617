#include "util/log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace vsl::util {
namespace {

using Json = nlohmann::json;

class LogTest : public ::testing::Test {
 protected:
  void TearDown() override { SetLogFormat(LogFormat::kText); }
};

TEST_F(LogTest, ParseLogFormatNamesABadValue) {
  EXPECT_EQ(*ParseLogFormat("text"), LogFormat::kText);
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  auto bad = ParseLogFormat("xml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'xml'"), std::string::npos);
}

TEST_F(LogTest, JsonIsOneObjectALineWithTimeLevelComponentMessageAndFields) {
  SetLogFormat(LogFormat::kJson);
  testing::internal::CaptureStderr();
  LogEvent(Logger("logtest"), spdlog::level::warn, "array a1 is slow", {{"array", "a1"}, {"ms", 1500}});
  Logger("logtest").info("plain {}", 7);
  std::string out = testing::internal::GetCapturedStderr();
  size_t nl = out.find('\n');
  ASSERT_NE(nl, std::string::npos);
  ASSERT_EQ(out.back(), '\n');
  ASSERT_EQ(out.find('\n', nl + 1), out.size() - 1) << out;  // exactly two lines
  Json first = Json::parse(out.substr(0, nl));
  EXPECT_EQ(first["level"], "warning");
  EXPECT_EQ(first["component"], "logtest");
  EXPECT_EQ(first["message"], "array a1 is slow");
  EXPECT_EQ(first["array"], "a1");
  EXPECT_EQ(first["ms"], 1500);
  std::string time = first["time"];
  EXPECT_EQ(time.size(), 24u) << time;  // 2026-11-30T03:42:22.123Z
  EXPECT_EQ(time.back(), 'Z');
  EXPECT_EQ(out.rfind("{\"time\":", 0), 0u) << "time comes first: " << out;
  Json second = Json::parse(out.substr(nl + 1));
  EXPECT_EQ(second["message"], "plain 7");
  EXPECT_EQ(second["level"], "info");
  EXPECT_FALSE(second.contains("array")) << "fields belong to their own line";
}

TEST_F(LogTest, AFieldNeverReplacesTheLinesOwnKeys) {
  SetLogFormat(LogFormat::kJson);
  testing::internal::CaptureStderr();
  LogEvent(Logger("logtest"), spdlog::level::info, "m", {{"level", "fake"}, {"message", "fake"}});
  Json j = Json::parse(testing::internal::GetCapturedStderr());
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["message"], "m");
}

TEST_F(LogTest, BytesThatAreNotUtf8StillMakeAJsonLine) {
  SetLogFormat(LogFormat::kJson);
  testing::internal::CaptureStderr();
  Logger("logtest").warn("initiator {}", std::string("iqn.\xff\xfe"));
  std::string out = testing::internal::GetCapturedStderr();
  Json j = Json::parse(out);
  EXPECT_EQ(j["message"].get<std::string>().rfind("initiator iqn.", 0), 0u);
}

TEST_F(LogTest, TextCommandStyleSplitsInformationAndWarnings) {
  SetLogFormat(LogFormat::kText);
  spdlog::logger& l = Logger("logcmd", TextStyle::kCommand);
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  LogEvent(l, spdlog::level::info, "API on http://127.0.0.1:7780", {{"address", "x"}});
  l.error("it broke");
  std::string err = testing::internal::GetCapturedStderr();
  std::string out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(out, "vsl logcmd: API on http://127.0.0.1:7780\n");
  EXPECT_EQ(err, "vsl logcmd: it broke\n");
}

TEST_F(LogTest, TextStampedStyleHasTimeLevelLetterAndComponent) {
  SetLogFormat(LogFormat::kText);
  testing::internal::CaptureStderr();
  Logger("logstamp").warn("refused");
  std::string err = testing::internal::GetCapturedStderr();
  // 2026-11-30T03:42:22.123 W logstamp: refused
  ASSERT_GT(err.size(), 24u);
  EXPECT_EQ(err[4], '-');
  EXPECT_EQ(err[10], 'T');
  EXPECT_EQ(err.substr(23), " W logstamp: refused\n");
}

}  // namespace
}  // namespace vsl::util
