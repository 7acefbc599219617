#include "gateway/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace vsl::gateway {
namespace {

using nlohmann::json;

Status Err(const std::string& path, const std::string& what) {
  return InvalidArgument((path.empty() ? std::string("(top level)") : path) + ": " + what);
}

std::string Join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

std::string Index(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

// Refuses keys the schema doesn't know: a misspelt "allow_no_auth" must not
// silently mean "false".
Status CheckKeys(const json& obj, const std::string& path, std::initializer_list<const char*> known) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool ok = false;
    for (const char* k : known) ok = ok || it.key() == k;
    if (!ok) return Err(Join(path, it.key()), "unknown key");
  }
  return Status::Ok();
}

Result<std::string> GetString(const json& obj, const std::string& path, const char* key,
                              bool required, std::string fallback = "") {
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) return Err(Join(path, key), "is required");
    return fallback;
  }
  if (!it->is_string()) return Err(Join(path, key), "must be a string");
  return it->get<std::string>();
}

Result<uint64_t> GetUint(const json& obj, const std::string& path, const char* key,
                         bool required, uint64_t fallback, uint64_t min, uint64_t max) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) return Err(Join(path, key), "is required");
    return fallback;
  }
  if (!it->is_number_unsigned()) return Err(Join(path, key), "must be a non-negative integer");
  uint64_t v = it->get<uint64_t>();
  if (v < min || v > max) {
    return Err(Join(path, key),
               "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return v;
}

Result<bool> GetBool(const json& obj, const std::string& path, const char* key, bool fallback) {
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  if (!it->is_boolean()) return Err(Join(path, key), "must be true or false");
  return it->get<bool>();
}

bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 200) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// iSCSI names (RFC 3722 stringprep aside): iqn./eui./naa. and no spaces.
bool ValidIscsiName(const std::string& s) {
  if (s.size() < 5 || s.size() > 223) return false;
  if (s.rfind("iqn.", 0) != 0 && s.rfind("eui.", 0) != 0 && s.rfind("naa.", 0) != 0) return false;
  for (unsigned char c : s) {
    if (c <= ' ' || c >= 0x7f) return false;
  }
  return true;
}

Status CheckListen(const std::string& listen, const std::string& path) {
  std::string host, port;
  if (!listen.empty() && listen[0] == '[') {
    size_t close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return Err(path, "must be \"address:port\" (IPv6 as \"[addr]:port\")");
    }
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
    in6_addr a6;
    if (inet_pton(AF_INET6, host.c_str(), &a6) != 1) return Err(path, "\"" + host + "\" is not an IPv6 address");
  } else {
    size_t colon = listen.rfind(':');
    if (colon == std::string::npos) return Err(path, "must be \"address:port\"");
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
    in_addr a4;
    if (inet_pton(AF_INET, host.c_str(), &a4) != 1) return Err(path, "\"" + host + "\" is not an IPv4 address");
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535) {
    return Err(path, "port \"" + port + "\" must be a number from 0 to 65535");
  }
  return Status::Ok();
}

Result<Chap> ParseChap(const json& j, const std::string& path) {
  if (!j.is_object()) return Err(path, "must be an object {\"user\": ..., \"secret\": ...}");
  VSL_RETURN_IF_ERROR(CheckKeys(j, path, {"user", "secret"}));
  Chap c;
  VSL_ASSIGN_OR_RETURN(c.user, GetString(j, path, "user", true));
  VSL_ASSIGN_OR_RETURN(c.secret, GetString(j, path, "secret", true));
  if (c.user.empty()) return Err(Join(path, "user"), "must not be empty");
  // RFC 7143 §12.1.3 advises at least 96 bits of secret.
  if (c.secret.size() < 12) return Err(Join(path, "secret"), "must be at least 12 characters");
  if (c.secret.size() > 255) return Err(Join(path, "secret"), "must be at most 255 characters");
  return c;
}

// "rbd": {"pool", "image", "conf", "user", "keyring"}: where an RBD extent
// lives and how to reach its cluster (file paths; never the key itself).
Result<volume::RbdImage> ParseRbd(const json& j, const std::string& path, const ConfigEnv& env) {
  if (!j.is_object())
    return Err(path, "must be an object {\"pool\", \"image\", \"conf\", \"user\", \"keyring\"}");
  VSL_RETURN_IF_ERROR(CheckKeys(j, path, {"pool", "image", "conf", "user", "keyring"}));
  volume::RbdImage r;
  VSL_ASSIGN_OR_RETURN(r.pool, GetString(j, path, "pool", true));
  if (r.pool.empty()) return Err(Join(path, "pool"), "must not be empty");
  VSL_ASSIGN_OR_RETURN(r.image, GetString(j, path, "image", true));
  if (r.image.empty()) return Err(Join(path, "image"), "must not be empty");
  VSL_ASSIGN_OR_RETURN(r.conf, GetString(j, path, "conf", false));
  VSL_ASSIGN_OR_RETURN(r.user, GetString(j, path, "user", false));
  VSL_ASSIGN_OR_RETURN(r.keyring, GetString(j, path, "keyring", false));
  if (r.user.starts_with("client.")) r.user = r.user.substr(7);
  for (std::string* f : {&r.conf, &r.keyring}) {
    if (!f->empty() && (*f)[0] != '/' && !env.base_dir.empty()) *f = env.base_dir + "/" + *f;
  }
  return r;
}

// An extent's "length": required, a positive multiple of 512.
Result<uint64_t> ExtentLength(const json& j, const std::string& path) {
  auto len = j.find("length");
  if (len == j.end()) return Err(Join(path, "length"), "is required");
  if (!len->is_number_unsigned() || len->get<uint64_t>() == 0 || len->get<uint64_t>() % 512) {
    return Err(Join(path, "length"), "must be a positive multiple of 512");
  }
  return len->get<uint64_t>();
}

Result<volume::Extent> ParseExtent(const json& j, const std::string& path, const ConfigEnv& env) {
  if (!j.is_object()) return Err(path, "must be an object {\"path\", \"offset\", \"length\"}");
  VSL_RETURN_IF_ERROR(CheckKeys(j, path, {"path", "offset", "length", "null", "rbd"}));
  volume::Extent e;
  if (auto r = j.find("rbd"); r != j.end()) {
    if (j.contains("path"))
      return Err(Join(path, "path"), "an RBD extent has no file (it has \"rbd\")");
    if (j.contains("null")) return Err(Join(path, "null"), "an RBD extent is not a null extent");
    VSL_ASSIGN_OR_RETURN(volume::RbdImage img, ParseRbd(*r, Join(path, "rbd"), env));
    e.path = "rbd:" + img.pool + "/" + img.image;
    e.rbd = std::move(img);
    VSL_ASSIGN_OR_RETURN(e.offset, GetUint(j, path, "offset", false, 0, 0, UINT64_MAX));
    if (e.offset % 512) return Err(Join(path, "offset"), "must be a multiple of 512");
    VSL_ASSIGN_OR_RETURN(e.length, ExtentLength(j, path));
    if (e.offset + e.length < e.offset) return Err(path, "offset + length overflows");
    return e;  // the image's size is checked when the volume opens
  }
  VSL_ASSIGN_OR_RETURN(e.null, GetBool(j, path, "null", false));
  if (e.null) {  // no file: only a length
    if (j.contains("path")) return Err(Join(path, "path"), "a null extent has no file");
    if (j.contains("offset")) return Err(Join(path, "offset"), "a null extent has no file");
    VSL_ASSIGN_OR_RETURN(e.length, ExtentLength(j, path));
    return e;
  }
  VSL_ASSIGN_OR_RETURN(e.path, GetString(j, path, "path", true));
  if (e.path.empty()) return Err(Join(path, "path"), "must not be empty");
  if (e.path[0] != '/' && !env.base_dir.empty()) e.path = env.base_dir + "/" + e.path;
  VSL_ASSIGN_OR_RETURN(e.offset, GetUint(j, path, "offset", false, 0, 0, UINT64_MAX));
  if (e.offset % 512) return Err(Join(path, "offset"), "must be a multiple of 512");
  VSL_ASSIGN_OR_RETURN(e.length, ExtentLength(j, path));
  if (e.offset + e.length < e.offset) return Err(path, "offset + length overflows");
  if (env.file_size) {
    Result<uint64_t> size = env.file_size(e.path);
    if (!size.ok()) return Err(Join(path, "path"), size.status().message());
    if (*size < e.offset + e.length) {
      return Err(Join(path, "length"), "\"" + e.path + "\" has " + std::to_string(*size) +
                                           " bytes, fewer than offset + length = " +
                                           std::to_string(e.offset + e.length));
    }
  }
  return e;
}

// "qos": {"iops": N, "read_iops": N, ...} (util/qos.h's keys, dashes as
// underscores).
Result<QosLimits> ParseQosObject(const json& j, const std::string& path) {
  if (!j.is_object()) return Err(path, "must be an object such as {\"iops\": 2000, \"mbps\": 100}");
  VSL_RETURN_IF_ERROR(
      CheckKeys(j, path, {"iops", "read_iops", "write_iops", "mbps", "read_mbps", "write_mbps"}));
  QosLimits q;
  static const char* const kKeys[] = {"iops", "read_iops", "write_iops", "mbps", "read_mbps", "write_mbps"};
  for (int k = 0; k < QosLimits::kKeys; ++k) {
    VSL_ASSIGN_OR_RETURN(q[QosLimits::Key(k)], GetUint(j, path, kKeys[k], false, 0, 1, kMaxQosValue));
  }
  return q;
}

Result<LunConfig> ParseLun(const json& j, const std::string& path, const ConfigEnv& env) {
  if (!j.is_object()) return Err(path, "must be an object");
  VSL_RETURN_IF_ERROR(
      CheckKeys(j, path, {"lun", "read_only", "volume_id", "extents", "qos", "cache"}));
  LunConfig l;
  VSL_ASSIGN_OR_RETURN(l.lun, GetUint(j, path, "lun", true, 0, 0, 16383));
  VSL_ASSIGN_OR_RETURN(l.read_only, GetBool(j, path, "read_only", false));
  VSL_ASSIGN_OR_RETURN(l.volume_id, GetString(j, path, "volume_id", false));
  if (j.contains("volume_id") && l.volume_id.empty()) return Err(Join(path, "volume_id"), "must not be empty");
  auto ex = j.find("extents");
  std::string epath = Join(path, "extents");
  if (ex == j.end()) return Err(epath, "is required");
  if (!ex->is_array() || ex->empty()) return Err(epath, "must be a non-empty array");
  for (size_t i = 0; i < ex->size(); ++i) {
    VSL_ASSIGN_OR_RETURN(volume::Extent e, ParseExtent((*ex)[i], Index(epath, i), env));
    l.extents.push_back(std::move(e));
  }
  if (l.volume_id.empty()) l.volume_id = VolumeIdFromExtents(l.extents);
  if (auto q = j.find("qos"); q != j.end()) {
    VSL_ASSIGN_OR_RETURN(l.qos, ParseQosObject(*q, Join(path, "qos")));
  }
  VSL_ASSIGN_OR_RETURN(std::string cache, GetString(j, path, "cache", false));
  if (j.contains("cache") && cache != "read" && cache != "none")
    return Err(Join(path, "cache"), "must be \"read\" or \"none\"");
  l.cache_reads = cache == "read";
  return l;
}

Result<HostConfig> ParseHost(const json& j, const std::string& path, const ConfigEnv& env) {
  if (!j.is_object()) return Err(path, "must be an object");
  VSL_RETURN_IF_ERROR(CheckKeys(j, path, {"name", "initiator", "initiators", "chap", "mutual_chap",
                                          "allow_no_auth", "luns"}));
  HostConfig h;
  VSL_ASSIGN_OR_RETURN(h.name, GetString(j, path, "name", true));
  if (!ValidName(h.name)) {
    return Err(Join(path, "name"), "must be 1-200 characters of a-z, 0-9, '-' and '.'");
  }
  bool one = j.contains("initiator"), many = j.contains("initiators");
  if (one && many) return Err(Join(path, "initiators"), "give \"initiator\" or \"initiators\", not both");
  if (!one && !many) return Err(Join(path, "initiator"), "is required (or \"initiators\")");
  if (one) {
    VSL_ASSIGN_OR_RETURN(std::string n, GetString(j, path, "initiator", true));
    if (!ValidIscsiName(n)) return Err(Join(path, "initiator"), "\"" + n + "\" is not an iSCSI name (iqn./eui./naa.)");
    h.initiators.push_back(n);
  } else {
    const json& a = j["initiators"];
    std::string ipath = Join(path, "initiators");
    if (!a.is_array() || a.empty()) return Err(ipath, "must be a non-empty array of iSCSI names");
    for (size_t i = 0; i < a.size(); ++i) {
      if (!a[i].is_string() || !ValidIscsiName(a[i].get<std::string>())) {
        return Err(Index(ipath, i), "must be an iSCSI name (iqn./eui./naa.)");
      }
      for (const auto& prev : h.initiators) {
        if (prev == a[i].get<std::string>()) return Err(Index(ipath, i), "is listed twice");
      }
      h.initiators.push_back(a[i].get<std::string>());
    }
  }
  if (j.contains("chap")) {
    VSL_ASSIGN_OR_RETURN(Chap c, ParseChap(j["chap"], Join(path, "chap")));
    h.chap = c;
  }
  if (j.contains("mutual_chap")) {
    if (!h.chap) return Err(Join(path, "mutual_chap"), "needs \"chap\" as well");
    VSL_ASSIGN_OR_RETURN(Chap c, ParseChap(j["mutual_chap"], Join(path, "mutual_chap")));
    if (c.secret == h.chap->secret) {
      return Err(Join(path, "mutual_chap.secret"), "must differ from chap.secret (RFC 7143 §12.1.3)");
    }
    h.mutual_chap = c;
  }
  VSL_ASSIGN_OR_RETURN(h.allow_no_auth, GetBool(j, path, "allow_no_auth", false));
  if (h.chap && h.allow_no_auth) {
    return Err(Join(path, "allow_no_auth"), "contradicts \"chap\"; remove one of them");
  }
  if (!h.chap && !h.allow_no_auth) {
    return Err(path, "has no \"chap\"; set \"allow_no_auth\": true to let it log in without authentication");
  }
  auto luns = j.find("luns");
  std::string lpath = Join(path, "luns");
  if (luns != j.end()) {
    if (!luns->is_array()) return Err(lpath, "must be an array");
    std::set<uint64_t> seen;
    for (size_t i = 0; i < luns->size(); ++i) {
      VSL_ASSIGN_OR_RETURN(LunConfig l, ParseLun((*luns)[i], Index(lpath, i), env));
      if (!seen.insert(l.lun).second) {
        return Err(Join(Index(lpath, i), "lun"), "LUN " + std::to_string(l.lun) + " is mapped twice");
      }
      h.luns.push_back(std::move(l));
    }
  }
  return h;
}

Status ParseOptions(const json& j, GatewayOptions* o) {
  VSL_ASSIGN_OR_RETURN(o->listen, GetString(j, "", "listen", false, o->listen));
  VSL_RETURN_IF_ERROR(CheckListen(o->listen, "listen"));
  VSL_ASSIGN_OR_RETURN(o->iqn_prefix, GetString(j, "", "iqn_prefix", false, o->iqn_prefix));
  if (!ValidIscsiName(o->iqn_prefix) || o->iqn_prefix.back() == ':') {
    return Err("iqn_prefix", "must be an iSCSI name prefix like \"iqn.2026-11.org.vsl\"");
  }
  VSL_ASSIGN_OR_RETURN(uint64_t nt, GetUint(j, "", "network_threads", false, 0, 0, 256));
  VSL_ASSIGN_OR_RETURN(uint64_t io, GetUint(j, "", "io_threads", false, o->io_threads, 1, 1024));
  o->network_threads = int(nt);
  o->io_threads = int(io);
  VSL_ASSIGN_OR_RETURN(uint64_t qd, GetUint(j, "", "queue_depth", false, o->queue_depth, 1, 4096));
  VSL_ASSIGN_OR_RETURN(uint64_t ni, GetUint(j, "", "nop_interval", false, o->nop_interval_s, 0, 3600));
  VSL_ASSIGN_OR_RETURN(uint64_t nto, GetUint(j, "", "nop_timeout", false, o->nop_timeout_s, 1, 3600));
  VSL_ASSIGN_OR_RETURN(uint64_t mrdsl, GetUint(j, "", "max_recv_data_segment_length", false,
                                               o->max_recv_data_segment_length, 512, 16777215));
  VSL_ASSIGN_OR_RETURN(uint64_t mbl, GetUint(j, "", "max_burst_length", false, o->max_burst_length,
                                             512, 16777215));
  VSL_ASSIGN_OR_RETURN(uint64_t fbl, GetUint(j, "", "first_burst_length", false,
                                             o->first_burst_length, 512, 16777215));
  VSL_ASSIGN_OR_RETURN(uint64_t mor, GetUint(j, "", "max_outstanding_r2t", false,
                                             o->max_outstanding_r2t, 1, 65535));
  if (fbl > mbl) return Err("first_burst_length", "must not exceed max_burst_length");
  o->queue_depth = uint32_t(qd);
  o->nop_interval_s = uint32_t(ni);
  o->nop_timeout_s = uint32_t(nto);
  o->max_recv_data_segment_length = uint32_t(mrdsl);
  o->max_burst_length = uint32_t(mbl);
  o->first_burst_length = uint32_t(fbl);
  o->max_outstanding_r2t = uint32_t(mor);
  VSL_ASSIGN_OR_RETURN(uint64_t budget, GetUint(j, "", "write_buffer_budget_mib", false,
                                                o->write_buffer_budget >> 20, 8, 1u << 20));
  VSL_ASSIGN_OR_RETURN(uint64_t maxc, GetUint(j, "", "max_connections", false, o->max_connections,
                                              1, 1000000));
  VSL_ASSIGN_OR_RETURN(uint64_t maxa, GetUint(j, "", "max_connections_per_address", false,
                                              o->max_connections_per_address, 1, 1000000));
  VSL_ASSIGN_OR_RETURN(uint64_t lt, GetUint(j, "", "login_timeout", false, o->login_timeout_s, 1,
                                            3600));
  o->write_buffer_budget = budget << 20;
  o->max_connections = uint32_t(maxc);
  o->max_connections_per_address = uint32_t(maxa);
  VSL_ASSIGN_OR_RETURN(uint64_t dt, GetUint(j, "", "data_out_timeout", false,
                                            o->data_out_timeout_s, 1, 3600));
  o->login_timeout_s = uint32_t(lt);
  o->data_out_timeout_s = uint32_t(dt);
  VSL_ASSIGN_OR_RETURN(uint64_t san, GetUint(j, "", "sanitize_mib_per_second", false,
                                             o->sanitize_bytes_per_second >> 20, 0, 1u << 20));
  o->sanitize_bytes_per_second = san << 20;
  VSL_ASSIGN_OR_RETURN(uint64_t bp, GetUint(j, "", "batch_pause_us", false, o->batch_pause_us, 0,
                                            1000));
  o->batch_pause_us = uint32_t(bp);
  VSL_ASSIGN_OR_RETURN(o->immediate_data, GetBool(j, "", "immediate_data", o->immediate_data));
  VSL_ASSIGN_OR_RETURN(o->initial_r2t, GetBool(j, "", "initial_r2t", o->initial_r2t));
  return Status::Ok();
}

}  // namespace

Result<GatewayConfig> ParseGatewayConfig(std::string_view text, const ConfigEnv& env) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    return InvalidArgument(std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) return Err("", "must be a JSON object");
  VSL_RETURN_IF_ERROR(CheckKeys(
      j, "", {"listen", "iqn_prefix", "hosts", "network_threads", "io_threads", "queue_depth",
              "nop_interval", "nop_timeout", "max_recv_data_segment_length", "max_burst_length",
              "first_burst_length", "max_outstanding_r2t", "immediate_data", "initial_r2t",
              "write_buffer_budget_mib", "max_connections", "max_connections_per_address",
              "login_timeout", "data_out_timeout", "sanitize_mib_per_second", "batch_pause_us"}));
  GatewayConfig c;
  VSL_RETURN_IF_ERROR(ParseOptions(j, &c.options));
  auto hosts = j.find("hosts");
  if (hosts == j.end()) return Err("hosts", "is required");
  if (!hosts->is_array()) return Err("hosts", "must be an array");
  std::set<std::string> names;
  std::map<std::string, size_t> initiators;
  std::map<std::string, std::vector<volume::Extent>> volumes;
  std::map<std::string, QosLimits> limits;  // by volume id
  for (size_t i = 0; i < hosts->size(); ++i) {
    std::string path = Index("hosts", i);
    VSL_ASSIGN_OR_RETURN(HostConfig h, ParseHost((*hosts)[i], path, env));
    if (!names.insert(h.name).second) {
      return Err(Join(path, "name"), "host \"" + h.name + "\" is defined twice");
    }
    for (const auto& ini : h.initiators) {
      auto [it, fresh] = initiators.emplace(ini, i);
      if (!fresh) {
        return Err(Join(path, h.initiators.size() > 1 ? "initiators" : "initiator"),
                   "\"" + ini + "\" already belongs to hosts[" + std::to_string(it->second) + "]");
      }
    }
    for (size_t k = 0; k < h.luns.size(); ++k) {
      auto [it, fresh] = volumes.emplace(h.luns[k].volume_id, h.luns[k].extents);
      if (!fresh && it->second != h.luns[k].extents) {
        return Err(Join(Index(Join(path, "luns"), k), "volume_id"),
                   "volume \"" + h.luns[k].volume_id + "\" is mapped elsewhere with other extents");
      }
      // Limits belong to the volume: every LUN of it must say the same.
      auto [q, first] = limits.emplace(h.luns[k].volume_id, h.luns[k].qos);
      if (!first && !(q->second == h.luns[k].qos)) {
        return Err(Join(Index(Join(path, "luns"), k), "qos"),
                   "volume \"" + h.luns[k].volume_id + "\" is mapped elsewhere with other limits");
      }
    }
    c.hosts.push_back(std::move(h));
  }
  return c;
}

Result<uint64_t> FileSize(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return ErrnoError("\"" + path + "\"", errno);
  if (S_ISREG(st.st_mode)) return uint64_t(st.st_size);
  if (S_ISBLK(st.st_mode)) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError("\"" + path + "\"", errno);
    uint64_t size = 0;
    int rc = ioctl(fd, BLKGETSIZE64, &size);
    int err = errno;
    close(fd);
    if (rc != 0) return ErrnoError("\"" + path + "\" size", err);
    return size;
  }
  return InvalidArgument("\"" + path + "\" is neither a regular file nor a block device");
}

Result<GatewayConfig> LoadGatewayConfig(const std::string& file) {
  std::ifstream in(file);
  if (!in) return ErrnoError("can't read " + file, errno);
  std::stringstream ss;
  ss << in.rdbuf();
  ConfigEnv env;
  size_t slash = file.rfind('/');
  env.base_dir = slash == std::string::npos ? "." : file.substr(0, slash == 0 ? 1 : slash);
  env.file_size = FileSize;
  Result<GatewayConfig> c = ParseGatewayConfig(ss.str(), env);
  if (!c.ok()) return c.status().Annotate(file);
  return c;
}

std::string VolumeIdFromExtents(const std::vector<volume::Extent>& extents) {
  // FNV-1a, 64 bits: stable across builds and machines, unlike std::hash.
  uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&h](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) {
      h ^= b[i];
      h *= 0x100000001b3ull;
    }
  };
  for (const auto& e : extents) {
    if (e.null) {
      mix("\0null", 5);
    } else if (e.rbd) {
      for (const std::string* f :
           {&e.rbd->conf, &e.rbd->user, &e.rbd->keyring, &e.rbd->pool, &e.rbd->image}) {
        mix("\0rbd", 4);
        mix(f->data(), f->size());
      }
    } else {
      mix(e.path.data(), e.path.size());
    }
    mix("\0", 1);
    uint64_t v[2] = {e.offset, e.length};
    mix(v, sizeof v);
  }
  char buf[24];
  snprintf(buf, sizeof buf, "x%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace vsl::gateway
