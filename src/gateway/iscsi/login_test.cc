// Full logins driven PDU by PDU through LoginNegotiator with a fake directory.
#include "gateway/iscsi/login.h"

#include <gtest/gtest.h>

namespace vsl::iscsi {

void PrintTo(const LoginStatus& s, std::ostream* os) {
  *os << int(s.status_class) << "/" << int(s.detail);
}

namespace {

const std::string kTarget = "iqn.2026-11.org.vsl:web1";
const std::string kInitiator = "iqn.2026-11.org.example:web1";
const std::string kOther = "iqn.2026-11.org.example:web2";

class Directory : public TargetDirectory {
 public:
  std::vector<TargetAccess> targets;
  std::optional<TargetAccess> Find(const std::string& name) const override {
    for (const TargetAccess& t : targets) {
      if (t.name == name) return t;
    }
    return std::nullopt;
  }
  std::vector<TargetAccess> ForInitiator(const std::string& initiator) const override {
    std::vector<TargetAccess> out;
    for (const TargetAccess& t : targets) {
      if (std::find(t.initiators.begin(), t.initiators.end(), initiator) != t.initiators.end()) {
        out.push_back(t);
      }
    }
    return out;
  }
};

struct Response {
  LoginStatus status;
  bool transit = false, cont = false;
  uint8_t csg = 0, nsg = 0;
  uint16_t tsih = 0;
  uint32_t itt = 0, statsn = 0, expcmdsn = 0, maxcmdsn = 0;
  std::vector<uint8_t> text;
  std::vector<TextKey> keys;

  const std::string* Get(std::string_view k) const {
    for (const TextKey& t : keys) {
      if (t.key == k) return &t.value;
    }
    return nullptr;
  }
  std::string Value(std::string_view k) const {
    const std::string* v = Get(k);
    return v ? *v : "<absent>";
  }
};

struct Request {
  uint8_t csg = 0, nsg = 1;
  bool transit = true, cont = false;
  std::vector<TextKey> keys;
  std::optional<std::vector<uint8_t>> raw;  // instead of keys
  uint32_t itt = 0x1000;
  uint16_t tsih = 0, cid = 1;
  uint8_t version_min = 0, version_max = 0;
  std::array<uint8_t, 6> isid = {0x80, 0, 0, 0x3d, 0, 1};
};

class LoginTest : public testing::Test {
 protected:
  LoginTest() {
    TargetAccess web1;
    web1.name = kTarget;
    web1.alias = "web1 disks";
    web1.tpgt = 7;
    web1.initiators = {kInitiator};
    web1.chap = ChapCredential{"web1", "web1-secret-0123"};
    web1.portals = {"127.0.0.1:3260,7"};
    dir_.targets.push_back(web1);
    TargetAccess web2;
    web2.name = "iqn.2026-11.org.vsl:web2";
    web2.initiators = {kOther};
    web2.chap = ChapCredential{"web2", "web2-secret-4567"};
    dir_.targets.push_back(web2);
  }

  TargetAccess& web1() { return dir_.targets[0]; }

  LoginNegotiator& N() {
    if (!n_) {
      n_ = std::make_unique<LoginNegotiator>(
          limits_, &dir_,
          [this](const LoginOutcome& o) {
            bound_.push_back(o);
            return bind_result_;
          },
          [this](std::span<uint8_t> out) {
            for (uint8_t& b : out) b = uint8_t(random_counter_++);
          });
    }
    return *n_;
  }

  Pdu Build(const Request& r) {
    Pdu p;
    p.bhs[0] = 0x43;
    p.bhs[1] = uint8_t((r.transit ? 0x80 : 0) | (r.cont ? 0x40 : 0) | r.csg << 2 |
                       (r.transit ? r.nsg : 0));
    p.bhs[2] = r.version_max;
    p.bhs[3] = r.version_min;
    std::copy(r.isid.begin(), r.isid.end(), p.bhs.begin() + 8);
    StoreBe16(&p.bhs[14], r.tsih);
    StoreBe32(&p.bhs[16], r.itt);
    StoreBe16(&p.bhs[20], r.cid);
    StoreBe32(&p.bhs[24], 500);  // CmdSN
    StoreBe32(&p.bhs[28], 900);  // ExpStatSN
    p.data = r.raw ? *r.raw : EncodeText(r.keys);
    StoreBe24(&p.bhs[5], uint32_t(p.data.size()));
    return p;
  }

  Response Send(const Request& r) { return Decode(N().Step(Build(r))); }

  static Response Decode(const Pdu& p) {
    Response out;
    EXPECT_EQ(p.opcode(), Opcode::kLoginResponse);
    out.status = {p.bhs[36], p.bhs[37]};
    out.transit = p.bhs[1] & 0x80;
    out.cont = p.bhs[1] & 0x40;
    out.csg = (p.bhs[1] >> 2) & 3;
    out.nsg = p.bhs[1] & 3;
    out.tsih = LoadBe16(&p.bhs[14]);
    out.itt = p.itt();
    out.statsn = p.field32(24);
    out.expcmdsn = p.field32(28);
    out.maxcmdsn = p.field32(32);
    EXPECT_EQ(p.data_segment_length(), p.data.size());
    out.text = p.data;
    if (!out.cont) {
      Result<std::vector<TextKey>> keys = ParseText(p.data);
      EXPECT_TRUE(keys.ok()) << keys.status().ToString();
      if (keys.ok()) out.keys = *keys;
    }
    return out;
  }

  static std::vector<TextKey> FirstKeys(std::string auth = "CHAP,None") {
    std::vector<TextKey> k = {{"InitiatorName", kInitiator},
                              {"InitiatorAlias", "web1"},
                              {"TargetName", kTarget},
                              {"SessionType", "Normal"}};
    if (!auth.empty()) k.push_back({"AuthMethod", auth});
    return k;
  }

  // CHAP_N/CHAP_R answering the challenge in `challenge_response`.
  static std::vector<TextKey> Answer(const Response& challenge_response, std::string user,
                                     std::string secret) {
    uint8_t id = uint8_t(std::stoi(challenge_response.Value("CHAP_I")));
    Result<std::vector<uint8_t>> c = DecodeBinaryValue(challenge_response.Value("CHAP_C"));
    EXPECT_TRUE(c.ok());
    return {{"CHAP_N", user}, {"CHAP_R", EncodeHex(ChapMd5(id, secret, c.value_or({})))}};
  }

  // Security stage up to the challenge; returns the challenge response.
  Response ToChallenge(std::vector<TextKey> first = FirstKeys()) {
    Response r1 = Send({.keys = first});
    EXPECT_EQ(r1.status, kLoginSuccess) << N().failure();
    EXPECT_EQ(r1.Value("AuthMethod"), "CHAP");
    EXPECT_FALSE(r1.transit);
    Response r2 = Send({.keys = {{"CHAP_A", "7,5"}}});
    EXPECT_EQ(r2.status, kLoginSuccess) << N().failure();
    EXPECT_EQ(r2.Value("CHAP_A"), "5");
    EXPECT_FALSE(r2.transit);
    return r2;
  }

  static std::vector<TextKey> OperationalKeys() {
    return {{"HeaderDigest", "CRC32C,None"},
            {"DataDigest", "None"},
            {"MaxRecvDataSegmentLength", "65536"},
            {"MaxBurstLength", "524288"},
            {"FirstBurstLength", "131072"},
            {"ImmediateData", "Yes"},
            {"InitialR2T", "No"},
            {"MaxOutstandingR2T", "4"},
            {"DataPDUInOrder", "Yes"},
            {"DataSequenceInOrder", "Yes"},
            {"ErrorRecoveryLevel", "0"},
            {"MaxConnections", "1"},
            {"DefaultTime2Wait", "2"},
            {"DefaultTime2Retain", "0"},
            {"IFMarker", "No"},
            {"OFMarker", "No"}};
  }

  void ExpectFailed(const Response& r, LoginStatus want, std::string_view reason) {
    EXPECT_EQ(r.status, want);
    EXPECT_EQ(N().state(), LoginNegotiator::State::kFailed);
    EXPECT_TRUE(r.keys.empty());
    EXPECT_FALSE(r.transit);
    EXPECT_NE(N().failure().find(reason), std::string::npos) << N().failure();
  }

  Directory dir_;
  TargetLimits limits_;
  std::vector<LoginOutcome> bound_;
  std::variant<uint16_t, LoginStatus> bind_result_ = uint16_t(0x2a);
  int random_counter_ = 0x40;
  std::unique_ptr<LoginNegotiator> n_;
};

TEST_F(LoginTest, ChapThenOperationalThenFullFeature) {
  Response r1 = Send({.keys = FirstKeys()});
  EXPECT_EQ(r1.status, kLoginSuccess);
  EXPECT_EQ(r1.Value("AuthMethod"), "CHAP");
  EXPECT_EQ(r1.Value("TargetPortalGroupTag"), "7");
  EXPECT_EQ(r1.Value("TargetAlias"), "web1 disks");
  EXPECT_FALSE(r1.transit) << "no transit before CHAP is done";
  EXPECT_EQ(r1.csg, 0);
  EXPECT_EQ(r1.itt, 0x1000u);
  EXPECT_EQ(r1.statsn, 900u);
  EXPECT_EQ(r1.expcmdsn, 500u);
  EXPECT_EQ(r1.tsih, 0);

  Response r2 = Send({.keys = {{"CHAP_A", "5"}}});
  EXPECT_EQ(r2.Value("CHAP_A"), "5");
  EXPECT_EQ(r2.Value("CHAP_I"), std::to_string(0x40));
  // 16 random bytes from the callback, after the identifier byte.
  EXPECT_EQ(r2.Value("CHAP_C"), "0x4142434445464748494a4b4c4d4e4f50");
  EXPECT_EQ(r2.statsn, 901u);

  Response r3 = Send({.keys = Answer(r2, "web1", "web1-secret-0123")});
  EXPECT_EQ(r3.status, kLoginSuccess) << N().failure();
  EXPECT_TRUE(r3.transit);
  EXPECT_EQ(r3.csg, 0);
  EXPECT_EQ(r3.nsg, 1);
  EXPECT_TRUE(r3.keys.empty()) << "no mutual CHAP asked";

  std::vector<TextKey> ops = OperationalKeys();
  ops.push_back({"X-vendor.key", "1"});
  Response r4 = Send({.csg = 1, .nsg = 3, .keys = ops});
  EXPECT_EQ(r4.status, kLoginSuccess) << N().failure();
  EXPECT_TRUE(r4.transit);
  EXPECT_EQ(r4.csg, 1);
  EXPECT_EQ(r4.nsg, 3);
  EXPECT_EQ(r4.tsih, 0x2a);
  EXPECT_EQ(r4.statsn, 903u);
  EXPECT_EQ(r4.Value("HeaderDigest"), "CRC32C");
  EXPECT_EQ(r4.Value("DataDigest"), "None");
  EXPECT_EQ(r4.Value("MaxRecvDataSegmentLength"), "262144");
  EXPECT_EQ(r4.Value("MaxBurstLength"), "524288");
  EXPECT_EQ(r4.Value("FirstBurstLength"), "131072");
  EXPECT_EQ(r4.Value("ImmediateData"), "Yes");
  EXPECT_EQ(r4.Value("InitialR2T"), "No");
  EXPECT_EQ(r4.Value("MaxOutstandingR2T"), "4");
  EXPECT_EQ(r4.Value("ErrorRecoveryLevel"), "0");
  EXPECT_EQ(r4.Value("DefaultTime2Retain"), "0");
  EXPECT_EQ(r4.Value("IFMarker"), "No");
  EXPECT_EQ(r4.Value("X-vendor.key"), "NotUnderstood");

  ASSERT_EQ(N().state(), LoginNegotiator::State::kSucceeded);
  const LoginOutcome& o = N().outcome();
  EXPECT_FALSE(o.discovery);
  EXPECT_EQ(o.initiator_name, kInitiator);
  EXPECT_EQ(o.initiator_alias, "web1");
  EXPECT_EQ(o.target_name, kTarget);
  EXPECT_EQ(o.isid[0], 0x80);
  EXPECT_EQ(o.tsih, 0);
  EXPECT_EQ(o.cid, 1);
  EXPECT_EQ(o.cmdsn, 500u);
  EXPECT_EQ(o.expstatsn, 900u);
  EXPECT_EQ(o.next_statsn, 904u);
  EXPECT_TRUE(o.connection.header_digest);
  EXPECT_FALSE(o.connection.data_digest);
  EXPECT_EQ(o.connection.initiator_max_recv_data_segment_length, 65536u);
  EXPECT_EQ(o.connection.target_max_recv_data_segment_length, 262144u);
  EXPECT_EQ(o.session.max_burst_length, 524288u);
  EXPECT_EQ(o.session.first_burst_length, 131072u);
  EXPECT_FALSE(o.session.initial_r2t);
  EXPECT_TRUE(o.session.immediate_data);
  EXPECT_EQ(o.session.max_outstanding_r2t, 4u);
  EXPECT_EQ(o.session.default_time2retain, 0u);
  ASSERT_EQ(bound_.size(), 1u);
  EXPECT_EQ(bound_[0].initiator_name, kInitiator);

  // Anything after the login is refused without changing the outcome.
  Response late = Send({.csg = 1, .nsg = 3, .keys = {}});
  EXPECT_EQ(late.status, kLoginInitiatorError);
  EXPECT_EQ(N().state(), LoginNegotiator::State::kSucceeded);
  EXPECT_EQ(bound_.size(), 1u);
}

TEST_F(LoginTest, MutualChap) {
  web1().mutual_chap = ChapCredential{"vsl-target", "target-secret-89"};
  Response challenge = ToChallenge();
  std::vector<TextKey> keys = Answer(challenge, "web1", "web1-secret-0123");
  keys.push_back({"CHAP_I", "200"});
  keys.push_back({"CHAP_C", "0xaabbcc"});
  Response r = Send({.keys = keys});
  ASSERT_EQ(r.status, kLoginSuccess) << N().failure();
  EXPECT_TRUE(r.transit);
  EXPECT_EQ(r.Value("CHAP_N"), "vsl-target");
  const uint8_t c[] = {0xaa, 0xbb, 0xcc};
  EXPECT_EQ(r.Value("CHAP_R"), EncodeHex(ChapMd5(200, "target-secret-89", c)));
}

TEST_F(LoginTest, MutualChapRefusesReflectedChallenge) {
  web1().mutual_chap = ChapCredential{"vsl-target", "target-secret-89"};
  Response challenge = ToChallenge();
  std::vector<TextKey> keys = Answer(challenge, "web1", "web1-secret-0123");
  keys.push_back({"CHAP_I", challenge.Value("CHAP_I")});
  keys.push_back({"CHAP_C", challenge.Value("CHAP_C")});
  ExpectFailed(Send({.keys = keys}), kLoginAuthFailed, "reflects");
}

TEST_F(LoginTest, MutualChapRefusesSharedSecret) {
  web1().mutual_chap = ChapCredential{"vsl-target", "web1-secret-0123"};
  Response challenge = ToChallenge();
  ExpectFailed(Send({.keys = Answer(challenge, "web1", "web1-secret-0123")}), kLoginAuthFailed,
               "target's own");
}

TEST_F(LoginTest, MutualChapFailures) {
  struct Case {
    const char* name;
    std::vector<TextKey> extra;
    bool target_has_mutual;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"no mutual secret", {{"CHAP_I", "1"}, {"CHAP_C", "0x01"}}, false, "no mutual secret"},
      {"only CHAP_I", {{"CHAP_I", "1"}}, true, "both"},
      {"CHAP_I too big", {{"CHAP_I", "256"}, {"CHAP_C", "0x01"}}, true, "malformed"},
      {"CHAP_C not binary", {{"CHAP_I", "1"}, {"CHAP_C", "hello"}}, true, "malformed"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    n_.reset();
    if (c.target_has_mutual) {
      web1().mutual_chap = ChapCredential{"t", "target-secret-89"};
    } else {
      web1().mutual_chap.reset();
    }
    Response challenge = ToChallenge();
    std::vector<TextKey> keys = Answer(challenge, "web1", "web1-secret-0123");
    keys.insert(keys.end(), c.extra.begin(), c.extra.end());
    ExpectFailed(Send({.keys = keys}), kLoginAuthFailed, c.reason);
  }
}

TEST_F(LoginTest, ChapFailures) {
  struct Case {
    const char* name;
    std::string user, secret;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"wrong secret", "web1", "web1-secret-0124", "wrong"},
      {"wrong user", "web2", "web2-secret-4567", "not"},
      {"empty-ish secret", "web1", "x", "wrong"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    n_.reset();
    Response challenge = ToChallenge();
    ExpectFailed(Send({.keys = Answer(challenge, c.user, c.secret)}), kLoginAuthFailed, c.reason);
    EXPECT_TRUE(bound_.empty());
  }
  n_.reset();
  Response challenge = ToChallenge();
  ExpectFailed(Send({.keys = {{"CHAP_N", "web1"}, {"CHAP_R", "0x00"}}}), kLoginAuthFailed,
               "malformed");
  n_.reset();
  ToChallenge();
  ExpectFailed(Send({.keys = {{"CHAP_N", "web1"}}}), kLoginAuthFailed, "missing");
}

TEST_F(LoginTest, FirstRequestFailures) {
  struct Case {
    const char* name;
    std::vector<TextKey> keys;
    LoginStatus want;
    const char* reason;
  };
  auto without = [](std::string_view key) {
    std::vector<TextKey> k = FirstKeys();
    std::erase_if(k, [&](const TextKey& t) { return t.key == key; });
    return k;
  };
  auto with = [](std::string_view key, std::string value) {
    std::vector<TextKey> k = FirstKeys();
    for (TextKey& t : k) {
      if (t.key == key) t.value = value;
    }
    return k;
  };
  const std::vector<Case> cases = {
      {"missing InitiatorName", without("InitiatorName"), kLoginMissingParameter, "InitiatorName"},
      {"missing TargetName", without("TargetName"), kLoginMissingParameter, "TargetName"},
      {"unknown target", with("TargetName", "iqn.2026-11.org.vsl:nope"), kLoginForbidden,
       "not found"},
      {"other host's target", with("TargetName", "iqn.2026-11.org.vsl:web2"), kLoginForbidden,
       "may not open"},
      {"forbidden initiator", with("InitiatorName", kOther), kLoginForbidden, "may not open"},
      {"bad SessionType", with("SessionType", "Both"), kLoginInitiatorError, "SessionType"},
      {"only None offered", with("AuthMethod", "None"), kLoginAuthFailed, "AuthMethod"},
      {"unknown AuthMethod", with("AuthMethod", "KRB5,SRP"), kLoginAuthFailed, "AuthMethod"},
      {"no AuthMethod with T", without("AuthMethod"), kLoginAuthFailed, "AuthMethod"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    n_.reset();
    ExpectFailed(Send({.keys = c.keys}), c.want, c.reason);
  }
}

TEST_F(LoginTest, GarbageText) {
  struct Case {
    const char* name;
    std::string raw;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"no =", std::string("InitiatorName\0", 14), "'='"},
      {"no NUL", "InitiatorName=x", "NUL"},
      {"twice", std::string("InitiatorName=a\0InitiatorName=a\0", 32), "twice"},
      {"binary", std::string("\x01\x02=\xff\0", 5), "character"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    n_.reset();
    ExpectFailed(Send({.raw = std::vector<uint8_t>(c.raw.begin(), c.raw.end())}),
                 kLoginInitiatorError, c.reason);
  }
  n_.reset();
  ExpectFailed(Send({.keys =
                         [] {
                           auto k = FirstKeys();
                           k.push_back({"MaxBurstLength", "12"});
                           return k;
                         }()}),
               kLoginInitiatorError, "MaxBurstLength");
}

TEST_F(LoginTest, NoAuthTargets) {
  web1().chap.reset();
  web1().allow_no_auth = true;
  {
    // Straight into the operational stage.
    std::vector<TextKey> keys = FirstKeys("");
    keys.push_back({"MaxRecvDataSegmentLength", "8192"});
    Response r = Send({.csg = 1, .nsg = 3, .keys = keys});
    ASSERT_EQ(r.status, kLoginSuccess) << N().failure();
    EXPECT_TRUE(r.transit);
    EXPECT_EQ(r.nsg, 3);
    EXPECT_EQ(r.Value("MaxRecvDataSegmentLength"), "262144");
    EXPECT_EQ(N().state(), LoginNegotiator::State::kSucceeded);
  }
  {
    n_.reset();
    Response r = Send({.keys = FirstKeys("CHAP,None")});
    ASSERT_EQ(r.status, kLoginSuccess) << N().failure();
    EXPECT_EQ(r.Value("AuthMethod"), "None");
    EXPECT_TRUE(r.transit);
    EXPECT_EQ(r.nsg, 1);
  }
  {
    // Security straight to full feature: defaults, our length declared.
    n_.reset();
    Response r = Send({.nsg = 3, .keys = FirstKeys("None")});
    ASSERT_EQ(r.status, kLoginSuccess) << N().failure();
    EXPECT_EQ(r.nsg, 3);
    EXPECT_EQ(r.Value("MaxRecvDataSegmentLength"), "262144");
    EXPECT_EQ(N().outcome().session.max_burst_length, 262144u);
  }
}

TEST_F(LoginTest, SkippingRequiredAuthentication) {
  ExpectFailed(Send({.csg = 1, .nsg = 3, .keys = FirstKeys("")}), kLoginAuthFailed,
               "skipped authentication");
  // allow_no_auth does not count when the target has a CHAP secret.
  n_.reset();
  web1().allow_no_auth = true;
  ExpectFailed(Send({.csg = 1, .nsg = 3, .keys = FirstKeys("")}), kLoginAuthFailed,
               "skipped authentication");
}

TEST_F(LoginTest, StageAndHeaderViolations) {
  struct Case {
    const char* name;
    std::function<Request(Request)> change;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"operational before auth",
       [](Request r) {
         r.csg = 1;
         r.nsg = 3;
         return r;
       },
       "stage"},
      {"ISID changed",
       [](Request r) {
         r.isid[5] = 9;
         return r;
       },
       "ISID"},
      {"TSIH changed",
       [](Request r) {
         r.tsih = 3;
         return r;
       },
       "TSIH"},
      {"CID changed",
       [](Request r) {
         r.cid = 2;
         return r;
       },
       "CID"},
      {"ITT changed",
       [](Request r) {
         r.itt = 0x1001;
         return r;
       },
       "Initiator Task Tag"},
      {"version changed",
       [](Request r) {
         r.version_max = 1;
         return r;
       },
       "Version"},
      {"T and C",
       [](Request r) {
         r.cont = true;
         return r;
       },
       "T and C"},
      {"NSG 2",
       [](Request r) {
         r.nsg = 2;
         return r;
       },
       "NSG 2"},
      {"security key after AuthMethod",
       [](Request r) {
         r.keys = {{"CHAP_N", "x"}};
         return r;
       },
       "CHAP_N"},
      {"InitiatorName changed",
       [](Request r) {
         r.keys = {{"InitiatorName", kOther}};
         return r;
       },
       "InitiatorName"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    n_.reset();
    ASSERT_EQ(Send({.keys = FirstKeys()}).status, kLoginSuccess);
    ExpectFailed(Send(c.change(Request{.keys = {{"CHAP_A", "5"}}})), kLoginInitiatorError,
                 c.reason);
  }
}

TEST_F(LoginTest, OperationalStageViolations) {
  auto to_operational = [&] {
    n_.reset();
    Response challenge = ToChallenge();
    Response r = Send({.keys = Answer(challenge, "web1", "web1-secret-0123")});
    ASSERT_TRUE(r.transit);
  };
  to_operational();
  ExpectFailed(Send({.csg = 0, .nsg = 1, .keys = {}}), kLoginInitiatorError, "stage");
  to_operational();
  ExpectFailed(Send({.csg = 1, .nsg = 3, .keys = {{"AuthMethod", "None"}}}), kLoginInitiatorError,
               "security key AuthMethod");
  to_operational();
  ExpectFailed(Send({.csg = 1,
                     .nsg = 3,
                     .keys = {{"MaxBurstLength", "16384"}, {"FirstBurstLength", "65536"}}}),
               kLoginInitiatorError, "FirstBurstLength");
  EXPECT_TRUE(bound_.empty());
  to_operational();
  ExpectFailed(Send({.csg = 1, .nsg = 3, .keys = {{"ImmediateData", "Perhaps"}}}),
               kLoginInitiatorError, "ImmediateData");
}

TEST_F(LoginTest, UnsupportedVersionAndWrongOpcode) {
  ExpectFailed(Send({.keys = FirstKeys(), .version_min = 1, .version_max = 2}),
               kLoginUnsupportedVersion, "Version-min");
  n_.reset();
  Pdu nop = Build({.keys = FirstKeys()});
  nop.bhs[0] = 0x40;
  Response r = Decode(N().Step(nop));
  EXPECT_EQ(r.status, kLoginInitiatorError);
  EXPECT_EQ(N().state(), LoginNegotiator::State::kFailed);
  EXPECT_NE(N().failure().find("NOP-Out"), std::string::npos) << N().failure();
}

TEST_F(LoginTest, ReofferedKeysAcrossStages) {
  // libiscsi declares InitiatorName, TargetName, SessionType and the digest
  // keys again in the operational stage: same values are fine.
  std::vector<TextKey> first = FirstKeys();
  first.push_back({"HeaderDigest", "None"});
  Response r1 = Send({.keys = first});
  EXPECT_EQ(r1.Value("HeaderDigest"), "None");
  Response r2 = Send({.keys = {{"CHAP_A", "5"}}});
  Response r3 = Send({.keys = Answer(r2, "web1", "web1-secret-0123")});
  ASSERT_TRUE(r3.transit) << N().failure();
  std::vector<TextKey> again = {{"InitiatorName", kInitiator},
                                {"TargetName", kTarget},
                                {"SessionType", "Normal"},
                                {"HeaderDigest", "None"}};
  Response r4 = Send({.csg = 1, .nsg = 3, .keys = again});
  ASSERT_EQ(r4.status, kLoginSuccess) << N().failure();
  EXPECT_EQ(r4.Value("HeaderDigest"), "None");
  EXPECT_EQ(N().state(), LoginNegotiator::State::kSucceeded);
}

TEST_F(LoginTest, TransitRequestedDuringChapIsHeldBack) {
  Response r1 = Send({.nsg = 3, .keys = FirstKeys()});
  EXPECT_FALSE(r1.transit);
  Response r2 = Send({.nsg = 3, .keys = {}});  // no CHAP_A yet: wait
  EXPECT_EQ(r2.status, kLoginSuccess);
  EXPECT_FALSE(r2.transit);
  Response r3 = Send({.nsg = 3, .keys = {{"CHAP_A", "5"}}});
  EXPECT_FALSE(r3.transit);
  Response r4 = Send({.nsg = 3, .keys = Answer(r3, "web1", "web1-secret-0123")});
  ASSERT_EQ(r4.status, kLoginSuccess) << N().failure();
  EXPECT_TRUE(r4.transit);
  EXPECT_EQ(r4.nsg, 3);
  EXPECT_EQ(N().state(), LoginNegotiator::State::kSucceeded);
}

TEST_F(LoginTest, EndlessLoginIsCutOff) {
  ASSERT_EQ(Send({.transit = false, .keys = FirstKeys()}).status, kLoginSuccess);
  int steps = 1;
  Response r;
  do {
    r = Send({.transit = false, .keys = {}});
  } while (r.status == kLoginSuccess && ++steps < 1000);
  EXPECT_EQ(steps, 128);
  ExpectFailed(r, kLoginInitiatorError, "not done after 128 PDUs");
}

TEST_F(LoginTest, ChapAlgorithmWithoutMd5) {
  ASSERT_EQ(Send({.keys = FirstKeys()}).status, kLoginSuccess);
  ExpectFailed(Send({.keys = {{"CHAP_A", "6,7"}}}), kLoginAuthFailed, "MD5");
}

TEST_F(LoginTest, AuthMethodAndChapAlgorithmInOnePdu) {
  std::vector<TextKey> keys = FirstKeys("CHAP");
  keys.push_back({"CHAP_A", "5"});
  Response r = Send({.keys = keys});
  ASSERT_EQ(r.status, kLoginSuccess) << N().failure();
  EXPECT_EQ(r.Value("AuthMethod"), "CHAP");
  EXPECT_EQ(r.Value("CHAP_A"), "5");
  EXPECT_NE(r.Get("CHAP_C"), nullptr);
}

TEST_F(LoginTest, RequestTextSpanningPdus) {
  std::vector<uint8_t> text = EncodeText(FirstKeys());
  const size_t third = text.size() / 3;
  std::vector<std::vector<uint8_t>> parts = {{text.begin(), text.begin() + third},
                                             {text.begin() + third, text.begin() + 2 * third},
                                             {text.begin() + 2 * third, text.end()}};
  Response a = Send({.transit = false, .cont = true, .raw = parts[0]});
  EXPECT_EQ(a.status, kLoginSuccess);
  EXPECT_TRUE(a.text.empty());
  EXPECT_FALSE(a.transit);
  Response b = Send({.transit = false, .cont = true, .raw = parts[1]});
  EXPECT_TRUE(b.text.empty());
  Response c = Send({.raw = parts[2]});
  ASSERT_EQ(c.status, kLoginSuccess) << N().failure();
  EXPECT_EQ(c.Value("AuthMethod"), "CHAP");
  EXPECT_EQ(c.statsn, 902u);
}

TEST_F(LoginTest, ResponseTextSpanningPdus) {
  web1().chap.reset();
  web1().allow_no_auth = true;
  // 400 vendor keys of ~40 bytes: the NotUnderstood answers need 3 PDUs.
  std::vector<TextKey> keys = FirstKeys("");
  for (int i = 0; i < 400; i++) {
    keys.push_back({"X-com.example.key-number-" + std::to_string(i), "1"});
  }
  std::vector<uint8_t> all;
  Response r = Send({.csg = 1, .nsg = 3, .keys = keys});
  int pdus = 1;
  while (r.cont) {
    EXPECT_EQ(r.status, kLoginSuccess);
    EXPECT_FALSE(r.transit);
    EXPECT_LE(r.text.size(), 8192u);
    EXPECT_EQ(N().state(), LoginNegotiator::State::kInProgress);
    all.insert(all.end(), r.text.begin(), r.text.end());
    r = Send({.csg = 1, .nsg = 3, .transit = false, .keys = {}});
    ASSERT_LT(++pdus, 10);
  }
  all.insert(all.end(), r.text.begin(), r.text.end());
  EXPECT_GE(pdus, 3);
  EXPECT_TRUE(r.transit);
  EXPECT_EQ(r.nsg, 3);
  EXPECT_EQ(N().state(), LoginNegotiator::State::kSucceeded);
  Result<std::vector<TextKey>> answers = ParseText(all);
  ASSERT_TRUE(answers.ok()) << answers.status().ToString();
  int not_understood = 0;
  for (const TextKey& k : *answers) not_understood += k.value == "NotUnderstood";
  EXPECT_EQ(not_understood, 400);

  // Text sent while the target's response continues is an error.
  n_.reset();
  r = Send({.csg = 1, .nsg = 3, .keys = keys});
  ASSERT_TRUE(r.cont);
  ExpectFailed(Send({.csg = 1, .nsg = 3, .transit = false, .keys = {{"A", "b"}}}),
               kLoginInitiatorError, "continues");
}

TEST_F(LoginTest, BinderRefusalBecomesTheStatus) {
  web1().chap.reset();
  web1().allow_no_auth = true;
  bind_result_ = kLoginSessionDoesNotExist;
  ExpectFailed(Send({.csg = 1, .nsg = 3, .keys = FirstKeys(""), .tsih = 9}),
               kLoginSessionDoesNotExist, "session refused");
  ASSERT_EQ(bound_.size(), 1u);
  EXPECT_EQ(bound_[0].tsih, 9);
}

TEST_F(LoginTest, DiscoverySession) {
  // The initiator may open web1 and db; it authenticates with db's secret.
  TargetAccess db;
  db.name = "iqn.2026-11.org.vsl:db";
  db.initiators = {kInitiator, kOther};
  db.chap = ChapCredential{"dbuser", "db-secret-abcdef"};
  dir_.targets.push_back(db);
  std::vector<TextKey> first = {
      {"InitiatorName", kInitiator}, {"SessionType", "Discovery"}, {"AuthMethod", "CHAP"}};
  Response r1 = Send({.keys = first});
  ASSERT_EQ(r1.status, kLoginSuccess) << N().failure();
  EXPECT_EQ(r1.Get("TargetPortalGroupTag"), nullptr);
  Response r2 = Send({.keys = {{"CHAP_A", "5"}}});
  Response r3 = Send({.nsg = 1, .keys = Answer(r2, "dbuser", "db-secret-abcdef")});
  ASSERT_EQ(r3.status, kLoginSuccess) << N().failure();
  Response r4 =
      Send({.csg = 1, .nsg = 3, .keys = {{"MaxBurstLength", "4096"}, {"HeaderDigest", "None"}}});
  ASSERT_EQ(r4.status, kLoginSuccess) << N().failure();
  EXPECT_EQ(r4.Value("MaxBurstLength"), "Irrelevant");
  EXPECT_TRUE(N().outcome().discovery);
  EXPECT_EQ(N().outcome().target_name, "");

  // web2's secret is not one of this initiator's.
  n_.reset();
  Send({.keys = first});
  r2 = Send({.keys = {{"CHAP_A", "5"}}});
  ExpectFailed(Send({.keys = Answer(r2, "web2", "web2-secret-4567")}), kLoginAuthFailed, "not");

  n_.reset();
  first[0].value = "iqn.2026-11.org.example:stranger";
  ExpectFailed(Send({.keys = first}), kLoginForbidden, "may open no target");
}

// A secret rotated, or the host removed, while a login is between its CHAP
// answer and its final response does not let the login in: the directory is
// consulted again when the session is bound (issue 8).
TEST_F(LoginTest, CredentialsChangedDuringLoginRefuse) {
  Response challenge = ToChallenge();
  Response r3 = Send({.keys = Answer(challenge, "web1", "web1-secret-0123")});
  ASSERT_EQ(r3.status, kLoginSuccess) << N().failure();
  web1().chap->secret = "web1-rotated-9999";
  ExpectFailed(Send({.csg = 1, .nsg = 3, .keys = OperationalKeys()}), kLoginAuthFailed,
               "changed or were removed");
  EXPECT_TRUE(bound_.empty()) << "no session was bound";

  // The host removed.
  web1().chap->secret = "web1-secret-0123";
  n_.reset();
  challenge = ToChallenge();
  ASSERT_EQ(Send({.keys = Answer(challenge, "web1", "web1-secret-0123")}).status, kLoginSuccess);
  dir_.targets.erase(dir_.targets.begin());
  ExpectFailed(Send({.csg = 1, .nsg = 3, .keys = OperationalKeys()}), kLoginAuthFailed,
               "changed or were removed");

  // A discovery session that proved db's secret, which then changes.
  TargetAccess db;
  db.name = "iqn.2026-11.org.vsl:db";
  db.initiators = {kInitiator};
  db.chap = ChapCredential{"dbuser", "db-secret-abcdef"};
  dir_.targets.push_back(db);
  n_.reset();
  Send({.keys = {{"InitiatorName", kInitiator}, {"SessionType", "Discovery"}, {"AuthMethod", "CHAP"}}});
  Response r2 = Send({.keys = {{"CHAP_A", "5"}}});
  ASSERT_EQ(Send({.keys = Answer(r2, "dbuser", "db-secret-abcdef")}).status, kLoginSuccess);
  dir_.targets.back().chap->user = "dbuser2";
  ExpectFailed(Send({.csg = 1, .nsg = 3, .keys = {}}), kLoginAuthFailed, "changed");
}

// The change lands after the first look but before the session is bound:
// the look after binding refuses it (and the caller releases the binding).
TEST_F(LoginTest, CredentialsChangedWhileBindingRefuse) {
  n_ = std::make_unique<LoginNegotiator>(
      limits_, &dir_,
      [this](const LoginOutcome& o) -> std::variant<uint16_t, LoginStatus> {
        bound_.push_back(o);
        web1().chap->secret = "web1-rotated-9999";
        return uint16_t(7);
      },
      [this](std::span<uint8_t> out) {
        for (uint8_t& b : out) b = uint8_t(random_counter_++);
      });
  Response challenge = ToChallenge();
  ASSERT_EQ(Send({.keys = Answer(challenge, "web1", "web1-secret-0123")}).status, kLoginSuccess);
  ExpectFailed(Send({.csg = 1, .nsg = 3, .keys = OperationalKeys()}), kLoginAuthFailed,
               "changed or were removed");
  EXPECT_EQ(bound_.size(), 1u);
}

}  // namespace
}  // namespace vsl::iscsi
