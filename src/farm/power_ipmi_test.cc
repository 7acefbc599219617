#include "farm/power_ipmi.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace vsl::farm {
namespace {

constexpr const char* kPassword = "s3cret-Pw!";

BmcAccess Bmc(std::string bootdev = "none") {
  return BmcAccess{"bmc1.example.net", 6230, "admin", kPassword, std::move(bootdev)};
}

PowerHost Host(const std::string& name, BmcAccess bmc) {
  PowerHost h;
  h.name = name;
  h.bmc = std::move(bmc);
  return h;
}

bool Mentions(const std::vector<std::string>& words, const std::string& what) {
  for (const std::string& w : words) {
    if (w.find(what) != std::string::npos) return true;
  }
  return false;
}

TEST(IpmitoolArgs, LanplusWithUserCipherAndEnvironmentPassword) {
  PowerOptions o;
  o.ipmitool = "/usr/bin/ipmitool";
  o.ipmi_cipher = 3;
  EXPECT_EQ(IpmitoolArgs(o, Bmc(), {"chassis", "power", "on"}),
            (std::vector<std::string>{"/usr/bin/ipmitool", "-I", "lanplus", "-H", "bmc1.example.net", "-p", "6230",
                                      "-U", "admin", "-C", "3", "-E", "chassis", "power", "on"}));
  o.ipmi_cipher = -1;
  BmcAccess anonymous = Bmc();
  anonymous.user.clear();
  EXPECT_EQ(IpmitoolArgs(o, anonymous, {"chassis", "power", "status"}),
            (std::vector<std::string>{"/usr/bin/ipmitool", "-I", "lanplus", "-H", "bmc1.example.net", "-p", "6230",
                                      "-E", "chassis", "power", "status"}));
  EXPECT_FALSE(Mentions(IpmitoolArgs(o, Bmc(), {"chassis", "power", "on"}), kPassword));
  EXPECT_FALSE(Mentions(IpmitoolArgs(o, Bmc(), {"chassis", "power", "on"}), "-P"));
}

TEST(IpmitoolEnv, ReplacesInheritedPasswordsWithTheHosts) {
  auto env = IpmitoolEnv(Bmc(), {"PATH=/bin", "IPMI_PASSWORD=other", "IPMITOOL_PASSWORD=other2", "HOME=/root"});
  EXPECT_EQ(env, (std::vector<std::string>{"PATH=/bin", "HOME=/root", std::string("IPMI_PASSWORD=") + kPassword}));
}

// A fake ipmitool: records each call, answers from a script of outputs.
struct FakeBmc {
  std::vector<std::vector<std::string>> argvs;
  std::vector<std::vector<std::string>> envs;
  std::function<CommandResult(const std::vector<std::string>&)> answer = [](const std::vector<std::string>& argv) {
    std::string cmd = argv[argv.size() - 2] + " " + argv.back();
    if (cmd == "power on") return CommandResult{0, "Chassis Power Control: Up/On\n"};
    if (cmd == "power off") return CommandResult{0, "Chassis Power Control: Down/Off\n"};
    if (cmd == "power cycle") return CommandResult{0, "Chassis Power Control: Cycle\n"};
    if (cmd == "power status") return CommandResult{0, "Chassis Power is on\n"};
    if (argv[argv.size() - 2] == "bootdev") return CommandResult{0, "Set Boot Device to " + argv.back() + "\n"};
    return CommandResult{1, "unexpected\n"};
  };
  CommandRunner runner() {
    return [this](const std::vector<std::string>& argv, const std::vector<std::string>& env,
                  int) -> Result<CommandResult> {
      argvs.push_back(argv);
      envs.push_back(env);
      return answer(argv);
    };
  }
  std::vector<std::string> commands() const {
    std::vector<std::string> out;
    for (const auto& a : argvs) {
      size_t e = std::find(a.begin(), a.end(), "-E") - a.begin();
      std::string c;
      for (size_t i = e + 1; i < a.size(); ++i) c += (c.empty() ? "" : " ") + a[i];
      out.push_back(c);
    }
    return out;
  }
};

std::unique_ptr<PowerController> Driver(FakeBmc& fake, std::map<std::string, PowerHost> hosts) {
  PowerOptions o;
  o.driver = "ipmi";
  o.lookup = [hosts](const std::string& name) -> Result<PowerHost> {
    auto it = hosts.find(name);
    if (it == hosts.end()) return NotFound("host '" + name + "' does not exist");
    return it->second;
  };
  auto p = MakeIpmiPower(o, fake.runner());
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return std::move(p).value();
}

TEST(IpmiPower, OnOffCycleStatusAndPxeFirst) {
  FakeBmc fake;
  auto power = Driver(fake, {{"h1", Host("h1", Bmc("pxe"))}});
  EXPECT_EQ(power->driver(), "ipmi");
  ASSERT_TRUE(power->PowerOn(Host("h1", Bmc("pxe"))).ok());
  EXPECT_EQ(power->Running(), std::vector<std::string>{"h1"});
  EXPECT_TRUE(power->IsOn("h1"));
  ASSERT_TRUE(power->PowerCycle(Host("h1", Bmc("pxe"))).ok());
  ASSERT_TRUE(power->PowerOff("h1").ok());
  EXPECT_TRUE(power->Running().empty());
  EXPECT_EQ(fake.commands(), (std::vector<std::string>{"chassis bootdev pxe", "chassis power on",
                                                       "chassis power status", "chassis power cycle",
                                                       "chassis power off"}));
  for (size_t i = 0; i < fake.argvs.size(); ++i) {
    EXPECT_FALSE(Mentions(fake.argvs[i], kPassword)) << "call " << i;
    EXPECT_EQ(std::count(fake.envs[i].begin(), fake.envs[i].end(), std::string("IPMI_PASSWORD=") + kPassword), 1)
        << "call " << i;
  }
  // The shutdown of `vsl serve` leaves servers running.
  ASSERT_TRUE(power->PowerOn(Host("h1", Bmc())).ok());
  size_t calls = fake.argvs.size();
  power->PowerOffAll();
  EXPECT_EQ(fake.argvs.size(), calls);
}

TEST(IpmiPower, NoBootdevWhenNone) {
  FakeBmc fake;
  auto power = Driver(fake, {});
  ASSERT_TRUE(power->PowerOn(Host("h1", Bmc("none"))).ok());
  EXPECT_EQ(fake.commands(), std::vector<std::string>{"chassis power on"});
}

TEST(IpmiPower, WrongPasswordFailsNamingHostBmcAndIpmitoolsMessage) {
  FakeBmc fake;
  fake.answer = [](const std::vector<std::string>&) {
    return CommandResult{1, "Error: Unable to establish IPMI v2 / RMCP+ session\n"};
  };
  auto power = Driver(fake, {{"h1", Host("h1", Bmc())}});
  Status s = power->PowerOn(Host("h1", Bmc()));
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_NE(s.message().find("host 'h1': BMC bmc1.example.net:6230 as user 'admin': ipmitool chassis power on "
                             "failed (exit 1): Error: Unable to establish IPMI v2 / RMCP+ session"),
            std::string::npos)
      << s.message();
  EXPECT_EQ(s.message().find(kPassword), std::string::npos);
  EXPECT_TRUE(power->Running().empty());
  EXPECT_FALSE(power->IsOn("h1"));
  EXPECT_EQ(power->PowerOff("h1").code(), Code::kUnavailable);
}

TEST(IpmiPower, RefusedBootdevStopsBeforePowerOn) {
  FakeBmc fake;
  fake.answer = [](const std::vector<std::string>& argv) {
    // ipmitool exits 0 when the BMC refuses a boot parameter.
    if (argv[argv.size() - 2] == "bootdev") {
      return CommandResult{0, "Set Chassis Boot Parameter 5 failed: Invalid data field in request\n"};
    }
    return CommandResult{0, "Chassis Power Control: Up/On\n"};
  };
  auto power = Driver(fake, {});
  Status s = power->PowerOn(Host("h1", Bmc("pxe")));
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_NE(s.message().find("ipmitool chassis bootdev pxe failed (exit 0): Set Chassis Boot Parameter 5 failed"),
            std::string::npos)
      << s.message();
  EXPECT_EQ(fake.commands(), std::vector<std::string>{"chassis bootdev pxe"});
}

TEST(IpmiPower, HostWithoutBmcOrUnknown) {
  FakeBmc fake;
  auto power = Driver(fake, {{"nobmc", Host("nobmc", BmcAccess{})}});
  Status s = power->PowerOn(Host("nobmc", BmcAccess{}));
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("vsl host bmc nobmc --bmc"), std::string::npos) << s.message();
  EXPECT_EQ(power->PowerOff("nobmc").code(), Code::kFailedPrecondition);
  EXPECT_EQ(power->PowerOff("ghost").code(), Code::kNotFound);
  EXPECT_TRUE(fake.argvs.empty());
}

TEST(IpmiPower, NeedsALookupAndARealCipherSuite) {
  PowerOptions o;
  o.driver = "ipmi";
  EXPECT_EQ(MakePowerController(o).status().code(), Code::kInvalidArgument);
  o.lookup = [](const std::string&) -> Result<PowerHost> { return PowerHost{}; };
  EXPECT_TRUE(MakePowerController(o).ok());
  o.ipmi_cipher = 18;
  EXPECT_EQ(MakePowerController(o).status().code(), Code::kInvalidArgument);
  o.driver = "bmc";
  Status s = MakePowerController(o).status();
  EXPECT_NE(s.message().find("expected none, qemu, qemu-direct or ipmi"), std::string::npos) << s.message();
}

// The real runner, with a stand-in ipmitool that reports the argv the
// kernel shows for it (/proc/PID/cmdline, what ps reads) and its environment.
class RealRunner : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vsl-ipmi-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    tool_ = dir_ + "/ipmitool";
    std::ofstream f(tool_);
    f << "#!/bin/sh\n"
         "tr '\\0' ' ' </proc/$$/cmdline >" << dir_ << "/cmdline\n"
         "printf '%s' \"$IPMI_PASSWORD\" >" << dir_ << "/password\n"
         "echo 'Chassis Power Control: Up/On'\n"
         "echo 'to stderr' >&2\n"
         "exit ${FAKE_EXIT:-0}\n";
    f.close();
    chmod(tool_.c_str(), 0700);
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string Read(const std::string& name) {
    std::ifstream in(dir_ + "/" + name);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string dir_, tool_;
};

TEST_F(RealRunner, PasswordInTheEnvironmentNotOnTheCommandLine) {
  PowerOptions o;
  o.driver = "ipmi";
  o.ipmitool = tool_;
  o.lookup = [](const std::string& n) -> Result<PowerHost> { return Host(n, Bmc()); };
  auto power = MakePowerController(o);
  ASSERT_TRUE(power.ok());
  Status s = (*power)->PowerOn(Host("h1", Bmc()));
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::string cmdline = Read("cmdline");
  EXPECT_NE(cmdline.find("-H bmc1.example.net -p 6230 -U admin -E chassis power on"), std::string::npos) << cmdline;
  EXPECT_EQ(cmdline.find(kPassword), std::string::npos) << cmdline;
  EXPECT_EQ(Read("password"), kPassword);
}

TEST_F(RealRunner, ExitCodeOutputAndTimeout) {
  auto r = RunCommand({tool_}, {"FAKE_EXIT=3", "IPMI_PASSWORD=x"}, 10000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_NE(r->output.find("Chassis Power Control: Up/On"), std::string::npos);
  EXPECT_NE(r->output.find("to stderr"), std::string::npos);
  auto slow = RunCommand({"sleep", "30"}, {"PATH=/usr/bin:/bin"}, 300);
  EXPECT_EQ(slow.status().code(), Code::kUnavailable);
  EXPECT_NE(slow.status().message().find("killed"), std::string::npos);
  auto missing = RunCommand({dir_ + "/no-such-tool"}, {}, 1000);
  // posix_spawnp reports a missing binary either at once or as exit 127.
  EXPECT_TRUE(!missing.ok() || missing->exit_code == 127);
}

}  // namespace
}  // namespace vsl::farm
