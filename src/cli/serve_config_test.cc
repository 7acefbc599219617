#include "cli/serve_config.h"

#include <gtest/gtest.h>

namespace vsl::cli {
namespace {

// A command with the kinds of options `vsl serve` has.
struct Serve {
  CLI::App app{"test"};
  CLI::App* cmd = app.add_subcommand("serve", "");
  std::string api = "127.0.0.1:7780";
  std::string power = "none";
  std::string data, config;
  int workers = 2;
  bool open = false;
  Serve() {
    cmd->add_option("--config", config);
    cmd->add_option("--data", data);
    cmd->add_option("--api", api);
    cmd->add_option("--power", power)->check(CLI::IsMember({"none", "qemu"}));
    cmd->add_option("--workers", workers)->check(CLI::Range(1, 64));
    cmd->add_flag("--metrics-open", open);
  }
  void Parse(std::vector<std::string> args) {
    std::reverse(args.begin(), args.end());
    args.push_back("serve");
    app.parse(args);
  }
  Status Apply(std::string_view text) {
    auto entries = ParseServeConfig(text, "vsl.conf");
    if (!entries.ok()) return entries.status();
    return ApplyServeConfig(*cmd, *entries, "vsl.conf");
  }
};

TEST(ServeConfig, ParsesKeysValuesCommentsAndTheSection) {
  auto e = ParseServeConfig(
      "# settings\n"
      "[serve]\n"
      "\n"
      "api = \"0.0.0.0:7780\"   # everyone\n"
      "workers=4\n"
      "  data = '/var/lib/vsl'\n"
      "default-capacity = 1TiB # comment\n"
      "iqn-prefix = \"a \\\"q\\\" b\"\n",
      "f");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_EQ(e->size(), 5u);
  EXPECT_EQ((*e)[0].key, "api");
  EXPECT_EQ((*e)[0].value, "0.0.0.0:7780");
  EXPECT_EQ((*e)[0].line, 4);
  EXPECT_EQ((*e)[1].value, "4");
  EXPECT_EQ((*e)[2].value, "/var/lib/vsl");
  EXPECT_EQ((*e)[3].value, "1TiB");
  EXPECT_EQ((*e)[4].value, "a \"q\" b");
  EXPECT_EQ((*e)[4].line, 8);
}

TEST(ServeConfig, AnEmptyOrCommentedFileHasNoEntries) {
  auto e = ParseServeConfig("", "f");
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->empty());
  e = ParseServeConfig("# api = \"x\"\n; workers = 3\n\n", "f");
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->empty());
}

TEST(ServeConfig, MalformedLinesAreRefusedNamingFileAndLine) {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"workers = 2\nworkers\n", "f:2: expected `key = value`"},
      {"= 3\n", "f:1: no key before '='"},
      {"\n\nwork ers = 3\n", "f:3: malformed key 'work ers'"},
      {"api =\n", "f:1: api: no value after '='"},
      {"api = \"x\n", "f:1: api: unterminated string"},
      {"api = 'x\n", "f:1: api: unterminated string"},
      {"api = \"x\" y\n", "f:1: api: text after the closing quote"},
      {"import-dir = /a b\n", "f:1: import-dir: a value with spaces needs quotes"},
      {"[gateway]\n", "f:1: unknown section [gateway]; the only one is [serve]"},
      {"[serve\n", "f:1: malformed section header"},
      {"workers = 2\n\nworkers = 3\n", "f:3: key 'workers' given again (first on line 1)"},
  };
  for (const auto& c : cases) {
    auto e = ParseServeConfig(c.text, "f");
    ASSERT_FALSE(e.ok()) << c.text;
    EXPECT_EQ(e.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(e.status().message(), c.message) << c.text;
  }
}

TEST(ServeConfig, ValuesReachTheOptions) {
  Serve s;
  s.Parse({});
  Status st = s.Apply("api = 0.0.0.0:17780\npower = qemu\nworkers = 8\nmetrics-open = true\ndata = /d\n");
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(s.api, "0.0.0.0:17780");
  EXPECT_EQ(s.power, "qemu");
  EXPECT_EQ(s.workers, 8);
  EXPECT_TRUE(s.open);
  EXPECT_EQ(s.data, "/d");
}

TEST(ServeConfig, FlagsOnTheCommandLineWin) {
  Serve s;
  s.Parse({"--workers", "3", "--api", "127.0.0.1:1"});
  Status st = s.Apply("workers = 8\napi = 0.0.0.0:2\npower = qemu\n");
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(s.workers, 3);
  EXPECT_EQ(s.api, "127.0.0.1:1");
  EXPECT_EQ(s.power, "qemu");
}

TEST(ServeConfig, AnUnknownKeyIsRefusedNamingItAndItsLine) {
  Serve s;
  s.Parse({});
  Status st = s.Apply("workers = 4\n# note\nwrokers = 4\n");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("vsl.conf:3: unknown key 'wrokers'"), std::string::npos) << st.message();
  for (const char* key : {"config", "help"}) {
    Serve t;
    t.Parse({});
    st = t.Apply(std::string(key) + " = x\n");
    EXPECT_NE(st.message().find("vsl.conf:1: unknown key '" + std::string(key) + "'"), std::string::npos)
        << st.message();
  }
}

TEST(ServeConfig, ABadValueIsRefusedNamingKeyAndLine) {
  struct Case {
    const char* text;
    const char* prefix;
  } cases[] = {
      {"api = x\nworkers = 100\n", "vsl.conf:2: workers: Value 100 not in range"},
      {"workers = many\n", "vsl.conf:1: workers: "},
      {"power = ipmi\n", "vsl.conf:1: power: "},
      {"metrics-open = yes\n", "vsl.conf:1: metrics-open: 'yes' is not true or false"},
  };
  for (const auto& c : cases) {
    Serve s;
    s.Parse({});
    Status st = s.Apply(c.text);
    ASSERT_FALSE(st.ok()) << c.text;
    EXPECT_EQ(st.code(), Code::kInvalidArgument);
    EXPECT_EQ(st.message().rfind(c.prefix, 0), 0u) << st.message();
  }
}

TEST(ServeConfig, AMissingFileIsAnIoErrorNamingIt) {
  Serve s;
  s.Parse({});
  Status st = LoadServeConfig(*s.cmd, "/nonexistent/vsl.conf");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kIoError);
  EXPECT_NE(st.message().find("/nonexistent/vsl.conf"), std::string::npos);
}

}  // namespace
}  // namespace vsl::cli
