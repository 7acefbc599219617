#include "gateway/config.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace vsl::gateway {
namespace {

ConfigEnv FakeEnv() {
  static const std::map<std::string, uint64_t> files = {
      {"/img/a.img", 1 << 20}, {"/img/b.img", 4096}, {"/cfg/rel.img", 8192}};
  ConfigEnv env;
  env.base_dir = "/cfg";
  env.file_size = [](const std::string& path) -> Result<uint64_t> {
    auto it = files.find(path);
    if (it == files.end()) return NotFound("\"" + path + "\": No such file or directory");
    return it->second;
  };
  return env;
}

// A valid host; rows change one thing about it.
std::string Host(const std::string& name, const std::string& initiator, const std::string& extra = "",
                 const std::string& luns = R"([{"lun": 0, "extents": [{"path": "/img/a.img", "offset": 0, "length": 1048576}]}])") {
  return R"({"name": ")" + name + R"(", "initiator": ")" + initiator +
         R"(", "chap": {"user": "u", "secret": "123456789012"})" + extra + R"(, "luns": )" + luns + "}";
}

std::string Config(const std::string& hosts, const std::string& top = "") {
  return R"({"listen": "127.0.0.1:3260", "iqn_prefix": "iqn.2026-11.org.vsl")" + top +
         R"(, "hosts": [)" + hosts + "]}";
}

TEST(GatewayConfig, ErrorTable) {
  const std::string h1 = Host("h1", "iqn.2026-11.org.example:h1");
  struct Row {
    std::string name;
    std::string json;
    std::string error;  // empty: must parse
  };
  const std::vector<Row> rows = {
      {"valid", Config(h1), ""},
      {"not json", "{", "not valid JSON"},
      {"not an object", "[]", "(top level): must be a JSON object"},
      {"unknown top key", Config(h1, R"(, "lisen": "x")"), "lisen: unknown key"},
      {"hosts missing", R"({"listen": "127.0.0.1:1"})", "hosts: is required"},
      {"bad listen", R"({"listen": "localhost", "hosts": []})", "listen: must be \"address:port\""},
      {"bad port", R"({"listen": "127.0.0.1:99999", "hosts": []})", "listen: port \"99999\""},
      {"bad prefix", R"({"iqn_prefix": "vsl", "hosts": []})", "iqn_prefix: must be"},
      {"bad tuning", Config(h1, R"(, "queue_depth": 0)"), "queue_depth: must be between 1 and 4096"},
      {"bad sanitize pace", Config(h1, R"(, "sanitize_mib_per_second": -1)"),
       "sanitize_mib_per_second: must be"},
      {"batch pause too long", Config(h1, R"(, "batch_pause_us": 1001)"),
       "batch_pause_us: must be between 0 and 1000"},
      {"first burst above max burst",
       Config(h1, R"(, "first_burst_length": 2097152, "max_burst_length": 1048576)"),
       "first_burst_length: must not exceed max_burst_length"},
      {"host name missing", Config(R"({"initiator": "iqn.x:y", "allow_no_auth": true})"),
       "hosts[0].name: is required"},
      {"host name invalid", Config(Host("Web 1", "iqn.2026-11.org.example:h1")),
       "hosts[0].name: must be"},
      {"null extent", Config(Host("h1", "iqn.2026-11.org.example:h1", "",
                                  R"([{"lun": 0, "extents": [{"null": true, "length": 1048576}]}])")),
       ""},
      {"null extent with a path",
       Config(Host("h1", "iqn.2026-11.org.example:h1", "",
                   R"([{"lun": 0, "extents": [{"null": true, "path": "/img/a.img", "length": 512}]}])")),
       "hosts[0].luns[0].extents[0].path: a null extent has no file"},
      {"null extent without a length",
       Config(Host("h1", "iqn.2026-11.org.example:h1", "", R"([{"lun": 0, "extents": [{"null": true}]}])")),
       "hosts[0].luns[0].extents[0].length: is required"},
      {"null not a boolean",
       Config(Host("h1", "iqn.2026-11.org.example:h1", "",
                   R"([{"lun": 0, "extents": [{"null": 1, "length": 512}]}])")),
       "hosts[0].luns[0].extents[0].null"},
      {"duplicate host", Config(h1 + "," + Host("h1", "iqn.2026-11.org.example:h2")),
       "hosts[1].name: host \"h1\" is defined twice"},
      {"duplicate initiator across hosts",
       Config(h1 + "," + Host("h2", "iqn.2026-11.org.example:h1")),
       "hosts[1].initiator: \"iqn.2026-11.org.example:h1\" already belongs to hosts[0]"},
      {"both initiator forms",
       Config(Host("h1", "iqn.2026-11.org.example:h1", R"(, "initiators": ["iqn.a:b"])")),
       "hosts[0].initiators: give \"initiator\" or \"initiators\", not both"},
      {"initiator not an iqn", Config(Host("h1", "web1")), "hosts[0].initiator: \"web1\" is not an iSCSI name"},
      {"initiators list bad entry",
       Config(R"({"name": "h1", "initiators": ["iqn.2026-11.a:1", 5], "allow_no_auth": true})"),
       "hosts[0].initiators[1]: must be an iSCSI name"},
      {"no chap, no allow_no_auth",
       Config(R"({"name": "h1", "initiator": "iqn.2026-11.a:1"})"),
       "hosts[0]: has no \"chap\"; set \"allow_no_auth\": true"},
      {"no chap with allow_no_auth",
       Config(R"({"name": "h1", "initiator": "iqn.2026-11.a:1", "allow_no_auth": true})"), ""},
      {"chap and allow_no_auth",
       Config(Host("h1", "iqn.2026-11.a:1", R"(, "allow_no_auth": true)")),
       "hosts[0].allow_no_auth: contradicts \"chap\""},
      {"short secret",
       Config(R"({"name": "h1", "initiator": "iqn.2026-11.a:1", "chap": {"user": "u", "secret": "short"}})"),
       "hosts[0].chap.secret: must be at least 12 characters"},
      {"chap user missing",
       Config(R"({"name": "h1", "initiator": "iqn.2026-11.a:1", "chap": {"secret": "123456789012"}})"),
       "hosts[0].chap.user: is required"},
      {"mutual chap same secret",
       Config(Host("h1", "iqn.2026-11.a:1", R"(, "mutual_chap": {"user": "t", "secret": "123456789012"})")),
       "hosts[0].mutual_chap.secret: must differ from chap.secret"},
      {"mutual chap ok",
       Config(Host("h1", "iqn.2026-11.a:1", R"(, "mutual_chap": {"user": "t", "secret": "abcdefghijklm"})")),
       ""},
      {"duplicate lun",
       Config(Host("h1", "iqn.2026-11.a:1", "",
                   R"([{"lun": 1, "extents": [{"path": "/img/b.img", "length": 512}]},
                       {"lun": 1, "extents": [{"path": "/img/b.img", "length": 512}]}])")),
       "hosts[0].luns[1].lun: LUN 1 is mapped twice"},
      {"lun too big",
       Config(Host("h1", "iqn.2026-11.a:1", "", R"([{"lun": 20000, "extents": [{"path": "/img/b.img", "length": 512}]}])")),
       "hosts[0].luns[0].lun: must be between 0 and 16383"},
      {"no extents",
       Config(Host("h1", "iqn.2026-11.a:1", "", R"([{"lun": 0, "extents": []}])")),
       "hosts[0].luns[0].extents: must be a non-empty array"},
      {"length not multiple of 512",
       Config(h1 + "," + Host("h2", "iqn.2026-11.a:2", "",
                              R"([{"lun": 0, "extents": [{"path": "/img/b.img", "length": 1000}]}])")),
       "hosts[1].luns[0].extents[0].length: must be a positive multiple of 512"},
      {"negative length",
       Config(Host("h1", "iqn.2026-11.a:1", "", R"([{"lun": 0, "extents": [{"path": "/img/b.img", "length": -512}]}])")),
       "hosts[0].luns[0].extents[0].length: must be a positive multiple of 512"},
      {"offset not aligned",
       Config(Host("h1", "iqn.2026-11.a:1", "", R"([{"lun": 0, "extents": [{"path": "/img/b.img", "offset": 7, "length": 512}]}])")),
       "hosts[0].luns[0].extents[0].offset: must be a multiple of 512"},
      {"file missing",
       Config(Host("h1", "iqn.2026-11.a:1", "", R"([{"lun": 0, "extents": [{"path": "/img/none.img", "length": 512}]}])")),
       "hosts[0].luns[0].extents[0].path: \"/img/none.img\": No such file"},
      {"file too short",
       Config(Host("h1", "iqn.2026-11.a:1", "", R"([{"lun": 0, "extents": [{"path": "/img/b.img", "offset": 512, "length": 4096}]}])")),
       "hosts[0].luns[0].extents[0].length: \"/img/b.img\" has 4096 bytes, fewer than offset + length = 4608"},
      {"rbd extent",
       Config(Host("h1", "iqn.2026-11.a:1", "",
                   R"([{"lun": 0, "extents": [{"rbd": {"pool": "p", "image": "i", "conf": "c.conf", "user": "vsl",
                                                       "keyring": "/k"}, "length": 4194304}]}])")),
       ""},
      {"rbd extent without an image",
       Config(Host("h1", "iqn.2026-11.a:1", "", R"([{"lun": 0, "extents": [{"rbd": {"pool": "p"}, "length": 512}]}])")),
       "hosts[0].luns[0].extents[0].rbd.image: is required"},
      {"rbd extent with a key in it",
       Config(Host("h1", "iqn.2026-11.a:1", "",
                   R"([{"lun": 0, "extents": [{"rbd": {"pool": "p", "image": "i", "key": "AQB"}, "length": 512}]}])")),
       "hosts[0].luns[0].extents[0].rbd.key: unknown key"},
      {"rbd extent with a path",
       Config(Host("h1", "iqn.2026-11.a:1", "",
                   R"([{"lun": 0, "extents": [{"rbd": {"pool": "p", "image": "i"}, "path": "/img/b.img", "length": 512}]}])")),
       "hosts[0].luns[0].extents[0].path: an RBD extent has no file"},
      {"rbd extent not an object",
       Config(Host("h1", "iqn.2026-11.a:1", "", R"([{"lun": 0, "extents": [{"rbd": "p/i", "length": 512}]}])")),
       "hosts[0].luns[0].extents[0].rbd: must be an object"},
      {"relative path resolves against the config dir",
       Config(Host("h1", "iqn.2026-11.a:1", "", R"([{"lun": 0, "extents": [{"path": "rel.img", "length": 8192}]}])")),
       ""},
      {"unknown lun key",
       Config(Host("h1", "iqn.2026-11.a:1", "", R"([{"lun": 0, "readonly": true, "extents": [{"path": "/img/b.img", "length": 512}]}])")),
       "hosts[0].luns[0].readonly: unknown key"},
      {"volume id reused with other extents",
       Config(Host("h1", "iqn.2026-11.a:1", "", R"([{"lun": 0, "volume_id": "v", "extents": [{"path": "/img/b.img", "length": 512}]}])") +
              "," + Host("h2", "iqn.2026-11.a:2", "", R"([{"lun": 3, "volume_id": "v", "extents": [{"path": "/img/b.img", "length": 1024}]}])")),
       "hosts[1].luns[0].volume_id: volume \"v\" is mapped elsewhere with other extents"},
      {"cache not a policy",
       Config(Host("h1", "iqn.2026-11.a:1", "", R"([{"lun": 0, "cache": "write", "extents": [{"path": "/img/b.img", "length": 512}]}])")),
       "hosts[0].luns[0].cache: must be \"read\" or \"none\""},
      {"qos not an object",
       Config(Host("h1", "iqn.2026-11.a:1", "", R"([{"lun": 0, "qos": "iops=5", "extents": [{"path": "/img/b.img", "length": 512}]}])")),
       "hosts[0].luns[0].qos: must be an object such as {\"iops\": 2000, \"mbps\": 100}"},
      {"qos unknown key",
       Config(Host("h1", "iqn.2026-11.a:1", "", R"([{"lun": 0, "qos": {"read-iops": 5}, "extents": [{"path": "/img/b.img", "length": 512}]}])")),
       "hosts[0].luns[0].qos.read-iops: unknown key"},
      {"qos zero",
       Config(Host("h1", "iqn.2026-11.a:1", "", R"([{"lun": 0, "qos": {"iops": 0}, "extents": [{"path": "/img/b.img", "length": 512}]}])")),
       "hosts[0].luns[0].qos.iops: must be between 1 and 1000000000"},
      {"qos differs between LUNs of one volume",
       Config(Host("h1", "iqn.2026-11.a:1", "", R"([{"lun": 0, "volume_id": "v", "qos": {"iops": 5}, "extents": [{"path": "/img/b.img", "length": 512}]}])") +
              "," + Host("h2", "iqn.2026-11.a:2", "", R"([{"lun": 3, "volume_id": "v", "extents": [{"path": "/img/b.img", "length": 512}]}])")),
       "hosts[1].luns[0].qos: volume \"v\" is mapped elsewhere with other limits"},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    Result<GatewayConfig> c = ParseGatewayConfig(r.json, FakeEnv());
    if (r.error.empty()) {
      EXPECT_TRUE(c.ok()) << c.status().ToString();
    } else {
      ASSERT_FALSE(c.ok());
      EXPECT_NE(c.status().message().find(r.error), std::string::npos) << c.status().message();
      EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
    }
  }
}

TEST(GatewayConfig, ValuesComeThrough) {
  std::string json = R"({"listen": "0.0.0.0:3261", "iqn_prefix": "iqn.2026-11.org.test",
    "queue_depth": 64, "nop_interval": 0, "initial_r2t": true, "sanitize_mib_per_second": 12,
    "batch_pause_us": 0,
    "hosts": [{"name": "web1", "initiators": ["iqn.2026-11.a:1", "iqn.2026-11.a:2"],
               "chap": {"user": "web1", "secret": "0123456789ab"},
               "luns": [{"lun": 2, "read_only": true, "qos": {"iops": 1000, "write_mbps": 40}, "cache": "read",
                         "extents": [{"path": "/img/a.img", "offset": 512, "length": 1024},
                                     {"path": "rel.img", "length": 8192}]}]},
              {"name": "web2", "initiator": "iqn.2026-11.a:3", "allow_no_auth": true,
               "luns": [{"lun": 0, "qos": {"write_mbps": 40, "iops": 1000},
                         "extents": [{"path": "/img/a.img", "offset": 512, "length": 1024},
                                     {"path": "rel.img", "length": 8192}]}]}]})";
  Result<GatewayConfig> c = ParseGatewayConfig(json, FakeEnv());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->options.listen, "0.0.0.0:3261");
  EXPECT_EQ(c->options.iqn_prefix, "iqn.2026-11.org.test");
  EXPECT_EQ(c->options.queue_depth, 64u);
  EXPECT_EQ(c->options.nop_interval_s, 0u);
  EXPECT_TRUE(c->options.initial_r2t);
  EXPECT_EQ(c->options.sanitize_bytes_per_second, uint64_t(12) << 20);
  EXPECT_EQ(c->options.batch_pause_us, 0u) << "default 60; 0 turns the pause off";
  ASSERT_EQ(c->hosts.size(), 2u);
  const HostConfig& h = c->hosts[0];
  EXPECT_EQ(h.initiators, (std::vector<std::string>{"iqn.2026-11.a:1", "iqn.2026-11.a:2"}));
  ASSERT_TRUE(h.chap.has_value());
  EXPECT_EQ(h.chap->secret, "0123456789ab");
  EXPECT_FALSE(h.mutual_chap.has_value());
  ASSERT_EQ(h.luns.size(), 1u);
  EXPECT_EQ(h.luns[0].lun, 2u);
  EXPECT_TRUE(h.luns[0].read_only);
  EXPECT_EQ(FormatQos(h.luns[0].qos), "iops=1000,write-mbps=40");
  EXPECT_TRUE(h.luns[0].cache_reads);
  EXPECT_FALSE(c->hosts[1].luns[0].cache_reads) << "no \"cache\": none";
  ASSERT_EQ(h.luns[0].extents.size(), 2u);
  EXPECT_EQ(h.luns[0].extents[1].path, "/cfg/rel.img");
  EXPECT_EQ(h.luns[0].extents[0].offset, 512u);
  // Same extents, no volume_id: the same derived id, so one shared LU.
  EXPECT_FALSE(h.luns[0].volume_id.empty());
  EXPECT_EQ(h.luns[0].volume_id, c->hosts[1].luns[0].volume_id);
  EXPECT_TRUE(c->hosts[1].allow_no_auth);
}

TEST(VolumeIdFromExtents, StableAndDistinct) {
  std::vector<volume::Extent> a = {{"/x", 0, 512}};
  std::vector<volume::Extent> b = {{"/x", 512, 512}};
  std::vector<volume::Extent> n = {{"", 0, 512, true}};
  std::vector<volume::Extent> e = {{"", 0, 512}};
  EXPECT_EQ(VolumeIdFromExtents(a), VolumeIdFromExtents(a));
  EXPECT_NE(VolumeIdFromExtents(a), VolumeIdFromExtents(b));
  EXPECT_NE(VolumeIdFromExtents(n), VolumeIdFromExtents(e));
}

}  // namespace
}  // namespace vsl::gateway

namespace vsl::gateway {
namespace {

TEST(GatewayConfig, RbdExtentComesThrough) {
  std::string json = R"({"hosts": [{"name": "h1", "initiator": "iqn.2026-11.a:1", "allow_no_auth": true,
    "luns": [{"lun": 0, "extents": [{"path": "/img/a.img", "length": 1048576},
                                    {"rbd": {"pool": "rbd", "image": "vsl-r1-vol-0001", "conf": "ceph.conf",
                                             "user": "client.vsl", "keyring": "/etc/ceph/vsl.keyring"},
                                     "offset": 4096, "length": 8192}]}]}]})";
  Result<GatewayConfig> c = ParseGatewayConfig(json, FakeEnv());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const auto& ex = c->hosts[0].luns[0].extents;
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_FALSE(ex[0].rbd.has_value());
  ASSERT_TRUE(ex[1].rbd.has_value());
  EXPECT_EQ(ex[1].rbd->pool, "rbd");
  EXPECT_EQ(ex[1].rbd->image, "vsl-r1-vol-0001");
  EXPECT_EQ(ex[1].rbd->conf, "/cfg/ceph.conf");  // relative to the config file
  EXPECT_EQ(ex[1].rbd->user, "vsl");             // "client." dropped
  EXPECT_EQ(ex[1].rbd->keyring, "/etc/ceph/vsl.keyring");
  EXPECT_EQ(ex[1].path, "rbd:rbd/vsl-r1-vol-0001");
  EXPECT_EQ(ex[1].offset, 4096u);
  EXPECT_EQ(ex[1].length, 8192u);
}

TEST(VolumeIdFromExtents, RbdImagesAreDistinct) {
  volume::Extent a{"rbd:p/i", 0, 512};
  a.rbd = volume::RbdImage{"p", "i", "/c", "u", "/k", ""};
  volume::Extent b = a;
  b.rbd->image = "j";
  volume::Extent c = a;
  c.rbd->conf = "/other.conf";  // the same pool and image on another cluster
  EXPECT_NE(VolumeIdFromExtents({a}), VolumeIdFromExtents({b}));
  EXPECT_NE(VolumeIdFromExtents({a}), VolumeIdFromExtents({c}));
  EXPECT_EQ(VolumeIdFromExtents({a}), VolumeIdFromExtents({a}));
}

}  // namespace
}  // namespace vsl::gateway
