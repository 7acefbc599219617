// `vsl array|host|image|tenant|volume ...`: the catalog's things, through the API.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "catalog/host_bmc.h"
#include "cli/api_client.h"
#include "cli/commands.h"

namespace vsl::cli {
namespace {

struct Args {
  ApiOptions api;
  std::string name, driver = "file", path, capacity, volume_size, quality, hw, chap_secret, chap_user;
  std::string mutual_user, mutual_secret, file, state, array;
  std::string pool, ceph_conf, ceph_user, keyring;  // array add --driver rbd
  std::string bmc, bmc_user, bmc_password_file, bmc_bootdev;  // host add, host bmc
  bool clear = false;
  std::vector<std::string> initiators;
  bool all = false;
  bool server_side = false;
};

std::string Quals(const Json& q) {
  std::string out;
  for (auto& [k, v] : q.items()) out += (out.empty() ? "" : ",") + k + "=" + Cell(v);
  return out.empty() ? "-" : out;
}

void PrintJson(const Json& j) { printf("%s\n", j.dump(2).c_str()); }

// ---- array ----

// Paths name files on the server's machine; relative ones are taken from
// where the CLI runs, as for --path.
std::string AbsolutePath(const std::string& p) { return std::filesystem::absolute(p).string(); }

Status ArrayAdd(ApiClient& c, const Args& a) {
  Json body = {{"name", a.name}, {"driver", a.driver}};
  const bool rbd = a.driver == "rbd";
  if (rbd) {
    if (!a.path.empty())
      return InvalidArgument("--path: an rbd array has no directory; give --pool");
    if (a.pool.empty()) return InvalidArgument("--pool: missing (the Ceph pool of an rbd array)");
    body["pool"] = a.pool;
    if (!a.ceph_conf.empty()) body["ceph_conf"] = AbsolutePath(a.ceph_conf);
    if (!a.ceph_user.empty()) body["ceph_user"] = a.ceph_user;
    if (!a.keyring.empty()) body["keyring"] = AbsolutePath(a.keyring);
  } else {
    if (a.path.empty()) return InvalidArgument("--path: missing (the array's directory)");
    if (!a.pool.empty() || !a.ceph_conf.empty() || !a.ceph_user.empty() || !a.keyring.empty()) {
      return InvalidArgument("--pool, --ceph-conf, --ceph-user and --keyring are for --driver rbd");
    }
    body["path"] = AbsolutePath(a.path);
  }
  VSL_ASSIGN_OR_RETURN(uint64_t cap, ParseSizeArg(a.capacity));
  body["capacity"] = cap;
  if (!a.volume_size.empty()) {
    VSL_ASSIGN_OR_RETURN(uint64_t vs, ParseSizeArg(a.volume_size));
    body["volume_size"] = vs;
  }
  if (!a.quality.empty()) body["qualities"] = a.quality;
  VSL_ASSIGN_OR_RETURN(Json r, c.Post("/v1/arrays", body));
  if (a.api.json) return PrintJson(r), Status::Ok();
  printf("array %s added (%s, %s); discovery found %s new volume(s)\n", a.name.c_str(), a.driver.c_str(),
         HumanSize(cap).c_str(), Cell(r["discovery"]["added"]).c_str());
  return Status::Ok();
}

Status ArrayList(ApiClient& c, const Args& a) {
  VSL_ASSIGN_OR_RETURN(Json r, c.Get("/v1/arrays"));
  if (a.api.json) return PrintJson(r), Status::Ok();
  std::vector<std::vector<std::string>> rows;
  for (const Json& x : r["arrays"]) {
    uint64_t vs = x["volume_size"].get<uint64_t>();
    rows.push_back({Cell(x["name"]), Cell(x["driver"]), HumanSize(x["capacity"].get<uint64_t>()),
                    vs ? HumanSize(vs) : "pool", Cell(x["volumes"]), Cell(x["free_volumes"]), Quals(x["qualities"]),
                    x.contains("state") ? Cell(x["state"]) : "-"});
  }
  PrintTable({"NAME", "DRIVER", "CAPACITY", "VOLUME SIZE", "VOLUMES", "FREE", "QUALITIES", "STATE"}, rows);
  return Status::Ok();
}

Status ArrayDiscover(ApiClient& c, const Args& a) {
  Json body = Json::object();
  if (!a.name.empty()) body["array"] = a.name;
  VSL_ASSIGN_OR_RETURN(Json r, c.Post("/v1/arrays/discover?wait=true", body));
  if (a.api.json) return PrintJson(r), Status::Ok();
  const Json& x = r["result"];
  printf("discovered %s array(s): %s added, %s vanished, %s reappeared\n", Cell(x["arrays"]).c_str(),
         Cell(x["added"]).c_str(), Cell(x["vanished"]).c_str(), Cell(x["reappeared"]).c_str());
  return Status::Ok();
}

Status ArrayShow(ApiClient& c, const Args& a) {
  VSL_ASSIGN_OR_RETURN(Json r, c.Get("/v1/arrays/" + a.name));
  if (a.api.json) return PrintJson(r), Status::Ok();
  printf("name: %s\ndriver: %s\ncapacity: %s\nqualities: %s\n", Cell(r["name"]).c_str(), Cell(r["driver"]).c_str(),
         HumanSize(r["capacity"].get<uint64_t>()).c_str(), Quals(r["qualities"]).c_str());
  if (r.contains("state")) {
    printf("state: %s%s\n", Cell(r["state"]).c_str(),
           r["reason"].is_string() ? (" (" + r["reason"].get<std::string>() + ")").c_str() : "");
  }
  printf("%s", r["dwml"].get<std::string>().c_str());
  return Status::Ok();
}

// ---- host ----

// The BMC password from --bmc-password-file: its first line (the newline
// that ends it is not part of it). The password never goes on a command line.
Result<std::string> ReadBmcPassword(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument("--bmc-password-file " + path + ": cannot be read");
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    fprintf(stderr, "vsl: warning: %s is readable by other users (chmod 600 it)\n", path.c_str());
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  size_t nl = text.find('\n');
  if (nl != std::string::npos) {
    if (text.find_first_not_of("\r\n", nl) != std::string::npos) {
      return InvalidArgument("--bmc-password-file " + path + ": more than one line");
    }
    text.resize(nl);
  }
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (text.empty()) return InvalidArgument("--bmc-password-file " + path + ": empty");
  return text;
}

// The BMC flags into body fields named `prefix` + address, port, ...
Status BmcFields(const Args& a, const std::string& prefix, Json* body) {
  if (!a.bmc.empty()) {
    VSL_ASSIGN_OR_RETURN(auto addr, catalog::ParseBmcAddress(a.bmc, "--bmc"));
    (*body)[prefix + "address"] = addr.first;
    (*body)[prefix + "port"] = addr.second;
  }
  if (!a.bmc_user.empty()) (*body)[prefix + "user"] = a.bmc_user;
  if (!a.bmc_password_file.empty()) {
    VSL_ASSIGN_OR_RETURN((*body)[prefix + "password"], ReadBmcPassword(a.bmc_password_file));
  }
  if (!a.bmc_bootdev.empty()) (*body)[prefix + "bootdev"] = a.bmc_bootdev;
  return Status::Ok();
}

std::string BmcLine(const Json& h) {
  if (!h.contains("bmc_address") || Cell(h["bmc_address"]).empty()) return "none";
  std::string addr = Cell(h["bmc_address"]);
  if (addr.find(':') != std::string::npos) addr = "[" + addr + "]";
  return addr + ":" + Cell(h["bmc_port"]) + ", user " + Cell(h["bmc_user"]) + ", password " +
         (h.value("bmc_password_set", false) ? "set" : "not set") + ", boot device " + Cell(h["bmc_bootdev"]);
}

Status HostBmc(ApiClient& c, const Args& a) {
  Json r;
  if (a.clear) {
    if (!a.bmc.empty() || !a.bmc_user.empty() || !a.bmc_password_file.empty() || !a.bmc_bootdev.empty()) {
      return InvalidArgument("--clear takes no other BMC option");
    }
    VSL_ASSIGN_OR_RETURN(r, c.Delete("/v1/hosts/" + a.name + "/bmc"));
  } else {
    Json body = Json::object();
    VSL_RETURN_IF_ERROR(BmcFields(a, "", &body));
    if (body.empty()) {
      return InvalidArgument("nothing to set: give --bmc, --bmc-user, --bmc-password-file or --bmc-bootdev "
                             "(or --clear)");
    }
    VSL_ASSIGN_OR_RETURN(r, c.Put("/v1/hosts/" + a.name + "/bmc", body));
  }
  if (a.api.json) return PrintJson(r), Status::Ok();
  printf("host %s: BMC %s\n", a.name.c_str(), BmcLine(r).c_str());
  return Status::Ok();
}

Status HostAdd(ApiClient& c, const Args& a) {
  Json body = {{"name", a.name}, {"hw", a.hw}, {"initiators", a.initiators}};
  VSL_RETURN_IF_ERROR(BmcFields(a, "bmc_", &body));
  if (!a.chap_secret.empty()) body["chap_secret"] = a.chap_secret;
  if (!a.chap_user.empty()) body["chap_user"] = a.chap_user;
  if (!a.mutual_secret.empty()) body["mutual_chap_secret"] = a.mutual_secret;
  if (!a.mutual_user.empty()) body["mutual_chap_user"] = a.mutual_user;
  VSL_ASSIGN_OR_RETURN(Json r, c.Post("/v1/hosts", body));
  if (a.api.json) return PrintJson(r), Status::Ok();
  printf("host %s added (%s)\nCHAP user: %s\nCHAP secret (shown once): %s\n", Cell(r["name"]).c_str(),
         Cell(r["hw"]).c_str(), Cell(r["chap_user"]).c_str(), Cell(r["chap_secret"]).c_str());
  return Status::Ok();
}

Status HostList(ApiClient& c, const Args& a) {
  VSL_ASSIGN_OR_RETURN(Json r, c.Get("/v1/hosts"));
  if (a.api.json) return PrintJson(r), Status::Ok();
  std::vector<std::vector<std::string>> rows;
  for (const Json& h : r["hosts"]) {
    std::string inits;
    for (const Json& i : h["initiators"]) inits += (inits.empty() ? "" : ",") + i.get<std::string>();
    rows.push_back({Cell(h["name"]), Cell(h["hw"]), Cell(h["state"]), Cell(h["farm_id"]), inits});
  }
  PrintTable({"NAME", "HW", "STATE", "FARM", "INITIATORS"}, rows);
  return Status::Ok();
}

Status HostShow(ApiClient& c, const Args& a) {
  VSL_ASSIGN_OR_RETURN(Json h, c.Get("/v1/hosts/" + a.name));
  if (a.api.json) return PrintJson(h), Status::Ok();
  printf("name: %s\nhw: %s\nstate: %s\ntarget: %s\nchap user: %s\n", Cell(h["name"]).c_str(), Cell(h["hw"]).c_str(),
         Cell(h["state"]).c_str(), Cell(h["target"]).c_str(), Cell(h["chap_user"]).c_str());
  for (const Json& i : h["initiators"]) printf("initiator: %s\n", i.get<std::string>().c_str());
  printf("bmc: %s\n", BmcLine(h).c_str());
  std::vector<std::vector<std::string>> rows;
  for (const Json& b : h["bindings"]) {
    rows.push_back({Cell(b["lun"]), Cell(b["target"]), Cell(b["volume_id"]), b["mapped"].get<bool>() ? "yes" : "no",
                    b.value("read_only", false) ? "read-only" : "read-write"});
  }
  PrintTable({"LUN", "TARGET", "VOLUME", "MAPPED", "ACCESS"}, rows);
  return Status::Ok();
}

Status HostRemove(ApiClient& c, const Args& a) {
  VSL_ASSIGN_OR_RETURN(Json r, c.Delete("/v1/hosts/" + a.name));
  if (a.api.json) return PrintJson(r), Status::Ok();
  printf("host %s removed\n", a.name.c_str());
  return Status::Ok();
}

// ---- image ----

// A progress bar on stderr when it is a terminal, redrawn at most every
// 100 ms; nothing when it is not (the result line says it all).
class UploadProgress {
 public:
  explicit UploadProgress(std::string name) : name_(std::move(name)), tty_(isatty(STDERR_FILENO) == 1) {}
  ~UploadProgress() {
    if (drawn_) fprintf(stderr, "\n");
  }

  void Update(uint64_t sent, uint64_t total) {
    if (!tty_) return;
    auto now = std::chrono::steady_clock::now();
    if (sent < total && drawn_ && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    drawn_ = true;
    constexpr int kWidth = 30;
    int filled = total == 0 ? kWidth : static_cast<int>(sent * kWidth / total);
    double secs = std::chrono::duration<double>(now - start_).count();
    double rate = secs > 0 ? static_cast<double>(sent) / secs : 0;
    fprintf(stderr, "\r%s [%s%s] %3d%% %s/%s %s/s ", name_.c_str(), std::string(filled, '#').c_str(),
            std::string(kWidth - filled, ' ').c_str(), total == 0 ? 100 : static_cast<int>(sent * 100 / total),
            HumanSize(sent).c_str(), HumanSize(total).c_str(), HumanSize(static_cast<uint64_t>(rate)).c_str());
    if (sent == total) fprintf(stderr, "(server importing)");
    fflush(stderr);
  }

 private:
  std::string name_;
  bool tty_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_;
};

Status ImageImport(ApiClient& c, const Args& a) {
  Json r;
  if (a.server_side) {
    // A file in vsl serve's --import-dir, read there.
    VSL_ASSIGN_OR_RETURN(r, c.Post("/v1/images", {{"name", a.name}, {"file", a.file}}));
  } else {
    std::string sent;
    {
      UploadProgress bar(a.name);
      VSL_ASSIGN_OR_RETURN(r, c.PutFile("/v1/images/" + a.name, a.file, &sent,
                                        [&bar](uint64_t s, uint64_t t) { bar.Update(s, t); }));
    }
    std::string stored = r["result"].value("sha256", "");
    if (stored != sent) {
      return DataLoss("image " + a.name + ": " + a.file + " has SHA-256 " + sent + " but vsl serve stored " +
                      (stored.empty() ? "no digest" : stored));
    }
  }
  if (a.api.json) return PrintJson(r), Status::Ok();
  const Json& x = r["result"];
  printf("image %s imported: volume %s, %s, sha256 %s\n", a.name.c_str(), Cell(x["volume"]).c_str(),
         HumanSize(x["size"].get<uint64_t>()).c_str(), Cell(x["sha256"]).c_str());
  return Status::Ok();
}

Status ImageRemove(ApiClient& c, const Args& a) {
  VSL_ASSIGN_OR_RETURN(Json r, c.Delete("/v1/images/" + a.name + "?wait=true"));
  if (a.api.json) return PrintJson(r), Status::Ok();
  const Json& v = r["result"]["volume"];
  printf("image %s removed%s\n", a.name.c_str(),
         v.is_number() ? ("; its master, volume " + Cell(v) + ", is scrubbed and free").c_str() : "");
  return Status::Ok();
}

Status ImageList(ApiClient& c, const Args& a) {
  VSL_ASSIGN_OR_RETURN(Json r, c.Get("/v1/images"));
  if (a.api.json) return PrintJson(r), Status::Ok();
  std::vector<std::vector<std::string>> rows;
  for (const Json& i : r["images"]) {
    rows.push_back({Cell(i["name"]), HumanSize(i["size"].get<uint64_t>()), Cell(i["master_volume_id"]), Cell(i["sha256"])});
  }
  PrintTable({"NAME", "SIZE", "VOLUME", "SHA256"}, rows);
  return Status::Ok();
}

Status ImageShow(ApiClient& c, const Args& a) {
  VSL_ASSIGN_OR_RETURN(Json i, c.Get("/v1/images/" + a.name));
  if (a.api.json) return PrintJson(i), Status::Ok();
  printf("image %s: %s, sha256 %s\n", Cell(i["name"]).c_str(), HumanSize(i["size"].get<uint64_t>()).c_str(),
         Cell(i["sha256"]).c_str());
  std::vector<std::vector<std::string>> rows;
  for (const Json& m : i.value("masters", Json::array())) {
    rows.push_back({Cell(m["volume_id"]), Cell(m["array"]), m.value("primary", false) ? "imported" : "copy for clones",
                    std::to_string(m["clones"].size())});
  }
  PrintTable({"MASTER", "ARRAY", "KIND", "CLONES"}, rows);
  return Status::Ok();
}

// ---- volume ----

Status VolumeList(ApiClient& c, const Args& a) {
  std::string q = a.all ? "?x=1" : "?top=true";
  if (!a.state.empty()) q += "&state=" + a.state;
  if (!a.array.empty()) q += "&array=" + a.array;
  VSL_ASSIGN_OR_RETURN(Json r, c.Get("/v1/volumes" + q));
  if (a.api.json) return PrintJson(r), Status::Ok();
  std::vector<std::vector<std::string>> rows;
  for (const Json& v : r["volumes"]) {
    rows.push_back({Cell(v["id"]), Cell(v["type"]), HumanSize(v["size"].get<uint64_t>()), Cell(v["state"]),
                    Cell(v.value("array", Json(nullptr))), Cell(v["array_volume"]), Cell(v["parent_id"]), v["clean"].get<bool>() ? "yes" : "no"});
  }
  PrintTable({"ID", "TYPE", "SIZE", "STATE", "ARRAY", "ARRAY VOLUME", "PARENT", "CLEAN"}, rows);
  return Status::Ok();
}

Status VolumeShow(ApiClient& c, const Args& a) {
  VSL_ASSIGN_OR_RETURN(Json v, c.Get("/v1/volumes/" + a.name));
  if (a.api.json) return PrintJson(v), Status::Ok();
  printf("volume %s: %s, %s, %s%s\n", Cell(v["id"]).c_str(), Cell(v["type"]).c_str(),
         HumanSize(v["size"].get<uint64_t>()).c_str(), Cell(v["state"]).c_str(), v["clean"].get<bool>() ? ", clean" : "");
  if (v.contains("array")) printf("on array %s as %s\n", Cell(v["array"]).c_str(), Cell(v["array_volume"]).c_str());
  if (v.value("clone_of", Json(nullptr)).is_number()) {
    printf("clone of master volume %s (vsl disk flatten detaches it)\n", Cell(v["clone_of"]).c_str());
  }
  if (v.value("master_of_image", Json(nullptr)).is_string()) {
    printf("master of image %s (bound read-only only, never written)\n", Cell(v["master_of_image"]).c_str());
  }
  if (v.contains("qos") && v["qos"].is_object() && !v["qos"].empty()) {
    std::string limits;  // docs/qos.md; the API's read_iops is the text form's read-iops
    for (auto& [k, n] : v["qos"].items()) {
      std::string key = k;
      for (char& ch : key) ch = ch == '_' ? '-' : ch;
      limits += (limits.empty() ? "" : ",") + key + "=" + Cell(n);
    }
    printf("limits: %s (vsl disk qos changes them)\n", limits.c_str());
  }
  for (const Json& m : v["members"]) {
    printf("member %s: volume %s on array %s (%s), %s\n", Cell(m["member_order"]).c_str(), Cell(m["id"]).c_str(),
           Cell(m["array_id"]).c_str(), Cell(m["array_volume"]).c_str(), HumanSize(m["size"].get<uint64_t>()).c_str());
  }
  for (const Json& b : v["bindings"]) {
    printf("bound to host %s at LUN %s %s%s\n", Cell(b["host"]).c_str(), Cell(b["lun"]).c_str(),
           b.value("read_only", false) ? "read-only" : "read-write", b["mapped"].get<bool>() ? " (mapped)" : "");
  }
  return Status::Ok();
}

using Fn = Status (*)(ApiClient&, const Args&);

CLI::App* Leaf(CLI::App* group, const char* name, const char* help, Fn fn, RunFn* run,
               const std::shared_ptr<Args>& args, const std::string& what) {
  CLI::App* cmd = group->add_subcommand(name, help);
  AddApiOptions(cmd, &args->api);
  cmd->callback([=] {
    *run = [=] { return WithClient(what, args->api, [&](ApiClient& c) { return fn(c, *args); }); };
  });
  return cmd;
}

// ---- tenant ----

Status TenantAdd(ApiClient& c, const Args& a) {
  VSL_ASSIGN_OR_RETURN(Json r, c.Post("/v1/tenants", {{"name", a.name}}));
  if (a.api.json) return PrintJson(r), Status::Ok();
  printf("tenant %s added; its token (shown once, only its SHA-256 is kept):\n%s\n", Cell(r["name"]).c_str(),
         Cell(r["token"]).c_str());
  return Status::Ok();
}

Status TenantList(ApiClient& c, const Args& a) {
  VSL_ASSIGN_OR_RETURN(Json r, c.Get("/v1/tenants"));
  if (a.api.json) return PrintJson(r), Status::Ok();
  std::vector<std::vector<std::string>> rows;
  auto joined = [](const Json& list) {
    std::string out;
    for (const Json& n : list) out += (out.empty() ? "" : ",") + Cell(n);
    return out.empty() ? std::string("-") : out;
  };
  for (const Json& t : r["tenants"]) {
    rows.push_back({Cell(t["name"]), joined(t["farms"]), joined(t["images"])});
  }
  PrintTable({"NAME", "FARMS", "IMAGES"}, rows);
  return Status::Ok();
}

Status TenantRemove(ApiClient& c, const Args& a) {
  VSL_ASSIGN_OR_RETURN(Json r, c.Delete("/v1/tenants/" + a.name));
  if (a.api.json) return PrintJson(r), Status::Ok();
  printf("tenant %s removed; its token no longer works\n", a.name.c_str());
  return Status::Ok();
}

}  // namespace

void AddAdminCommands(CLI::App& app, RunFn* run) {
  auto args = std::make_shared<Args>();

  CLI::App* array = app.add_subcommand("array", "storage arrays: add, list, show, discover");
  array->require_subcommand(1);
  CLI::App* add = Leaf(array, "add", "add an array and discover its volumes", ArrayAdd, run, args, "array add");
  add->add_option("name", args->name, "array name")->required();
  add->add_option("--driver", args->driver,
                  "driver: file or rbd (fault:file with serve --test-faults)")
      ->capture_default_str();
  add->add_option("--path", args->path, "file: the array's directory (on the server's machine)");
  add->add_option("--pool", args->pool, "rbd: the Ceph pool its images live in");
  add->add_option("--ceph-conf", args->ceph_conf,
                  "rbd: ceph.conf on the server's machine (default /etc/ceph/ceph.conf)");
  add->add_option("--ceph-user", args->ceph_user,
                  "rbd: the cephx user, without client. (default admin)");
  add->add_option(
      "--keyring", args->keyring,
      "rbd: the user's keyring file on the server's machine (default: librados' search)");
  add->add_option(
         "--capacity", args->capacity,
         "bytes it may hand out (e.g. 64GiB, 500GB); rbd: the share of the pool vsl may use")
      ->required();
  add->add_option("--volume-size", args->volume_size, "pre-carve volumes of this size (default: a pool)");
  add->add_option("--quality", args->quality, "quality attributes KEY=VALUE,... (raid=1,media=ssd)");
  Leaf(array, "list", "list arrays", ArrayList, run, args, "array list");
  Leaf(array, "discover", "re-read arrays and update the catalog", ArrayDiscover, run, args, "array discover")
      ->add_option("name", args->name, "only this array");
  Leaf(array, "show", "show an array and its disk wiring map (DWML)", ArrayShow, run, args, "array show")
      ->add_option("name", args->name, "array name")->required();

  CLI::App* host = app.add_subcommand("host", "hosts: add, list, show, remove, bmc");
  host->require_subcommand(1);
  CLI::App* hadd = Leaf(host, "add", "add a host (prints its CHAP secret once)", HostAdd, run, args, "host add");
  hadd->add_option("name", args->name, "host name")->required();
  hadd->add_option("--hw", args->hw, "hardware type (FML's hw)")->required();
  hadd->add_option("--initiator", args->initiators, "initiator IQN (repeatable)")->required();
  hadd->add_option("--chap-secret", args->chap_secret, "CHAP secret (default: 16 random bytes, hex)");
  hadd->add_option("--chap-user", args->chap_user, "CHAP user name (default: the host name)");
  hadd->add_option("--mutual-chap-user", args->mutual_user, "mutual CHAP: the target's user name");
  hadd->add_option("--mutual-chap-secret", args->mutual_secret, "mutual CHAP: the target's secret");
  auto bmc_options = [&args](CLI::App* cmd) {
    cmd->add_option("--bmc", args->bmc,
                    "the host's BMC for --power ipmi: ADDR[:PORT] (host name or IP; [IPv6]:PORT; port 623 by "
                    "default)");
    cmd->add_option("--bmc-user", args->bmc_user, "BMC user (IPMI 2.0: at most 16 characters)");
    cmd->add_option("--bmc-password-file", args->bmc_password_file,
                    "file whose first line is the BMC password (1-20 characters; stored like CHAP secrets, never "
                    "shown again)");
    cmd->add_option("--bmc-bootdev", args->bmc_bootdev,
                    "boot device the BMC is told before each power-on: none (leave the BMC's), pxe (network, "
                    "for hosts that boot through iPXE), disk")
        ->check(CLI::IsMember({"none", "pxe", "disk"}));
  };
  bmc_options(hadd);
  CLI::App* hbmc = Leaf(host, "bmc", "set or clear a host's BMC (power driver ipmi); options left out keep their value",
                        HostBmc, run, args, "host bmc");
  hbmc->add_option("name", args->name, "host name")->required();
  bmc_options(hbmc);
  hbmc->add_flag("--clear", args->clear, "remove the host's BMC settings");
  Leaf(host, "list", "list hosts", HostList, run, args, "host list");
  Leaf(host, "show", "show a host and its LUNs", HostShow, run, args, "host show")
      ->add_option("name", args->name, "host name")->required();
  Leaf(host, "remove", "remove a host (it must have no bindings)", HostRemove, run, args, "host remove")
      ->add_option("name", args->name, "host name")->required();

  CLI::App* image = app.add_subcommand("image", "master images: import, list, show, remove");
  image->require_subcommand(1);
  CLI::App* imp = Leaf(image, "import",
                       "upload a raw disk image onto a read-only master volume (progress on a terminal; the "
                       "SHA-256 vsl serve computed is checked against this file's)",
                       ImageImport, run, args, "image import");
  imp->add_option("name", args->name, "image name")->required();
  imp->add_option("file", args->file, "raw image file on this machine (uploaded)")->required();
  imp->add_flag("--server-side", args->server_side,
                "FILE is on vsl serve's machine, inside its --import-dir (read there, not uploaded)");
  Leaf(image, "remove",
       "remove an image and scrub and free its master volume (refused while the master is bound to a host or "
       "disks copied from the image exist)",
       ImageRemove, run, args, "image remove")
      ->add_option("name", args->name, "image name")->required();
  Leaf(image, "list", "list images", ImageList, run, args, "image list");
  Leaf(image, "show",
       "show an image and its master volumes: the imported one and the copies made on arrays that clone it, "
       "each with how many disks are its clones",
       ImageShow, run, args, "image show")
      ->add_option("name", args->name, "image name")->required();

  CLI::App* tenant = app.add_subcommand("tenant", "tenants (each sees only its own farms and images): add, list, remove");
  tenant->require_subcommand(1);
  Leaf(tenant, "add", "add a tenant and print its bearer token, once (vsl keeps only its SHA-256)", TenantAdd, run,
       args, "tenant add")
      ->add_option("name", args->name, "tenant name")->required();
  Leaf(tenant, "list", "list tenants with the farms and images they own", TenantList, run, args, "tenant list");
  Leaf(tenant, "remove", "remove a tenant (refused while it owns farms or images, naming them); its token stops working",
       TenantRemove, run, args, "tenant remove")
      ->add_option("name", args->name, "tenant name")->required();

  CLI::App* volume = app.add_subcommand("volume", "volumes: list, show");
  volume->require_subcommand(1);
  CLI::App* vlist = Leaf(volume, "list", "list volumes (disk units; --all adds meta members)", VolumeList, run, args,
                         "volume list");
  vlist->add_option("--state", args->state, "only this state (free, allocated, configured, ...)");
  vlist->add_option("--array", args->array, "only this array's");
  vlist->add_flag("--all", args->all, "include members of meta volumes");
  Leaf(volume, "show", "show a volume, its members and bindings", VolumeShow, run, args, "volume show")
      ->add_option("id", args->name, "volume id")->required();
}

}  // namespace vsl::cli
