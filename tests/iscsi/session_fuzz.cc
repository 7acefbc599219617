// iscsi_session_fuzz: random and mutated PDUs against a live `vsl gateway`
// after a real CHAP login, replayable from a seed.
//
// It starts the gateway (the standard farm of gateway_process.h), logs web1 in
// with CHAP over a raw socket and sends PDUs drawn from a seeded generator:
// SCSI commands with mutated CDBs, Data-Out with wrong offsets, lengths and
// target transfer tags, NOP-Out, Task Management, Text, Logout, random
// opcodes and header bytes, truncated and oversized segments. Answers are read
// with bounded waits; when the gateway drops the connection (a legal answer
// to garbage) it logs in again and goes on. Meanwhile a second host (web2,
// libiscsi) writes and reads its own disk and checks every byte.
//
// Fails (exit 1) when the gateway process dies, the well-behaved session gets
// a wrong answer or none, or the gateway's VmRSS grows by more than the bound.
// Every failure names the seed and the PDU index; `--seed S --count N` with
// N = index + 1 replays the same PDUs.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gateway_process.h"
#include "iscsi_client.h"
#include "raw_pdu.h"

namespace vsl::e2e {
namespace {

using Clock = std::chrono::steady_clock;

// Under AddressSanitizer the gateway's RSS grows with every allocation (freed
// memory waits in ASan's quarantine, shadow memory follows), and under
// ThreadSanitizer with its shadow: a flat-memory bound would measure the
// sanitizer. There the sanitizer itself checks what the bound stands for
// (leaks, use after free), so the bound only catches runaway growth.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define VSL_FUZZ_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(VSL_FUZZ_SANITIZED)
constexpr uint64_t kDefaultRssBoundMib = 2048;
#else
constexpr uint64_t kDefaultRssBoundMib = 64;
#endif

struct Options {
  uint64_t seed = 1;
  uint64_t seeds = 1;        // consecutive seeds from `seed`
  uint64_t count = 2000;     // PDUs per seed
  double seconds = 0;        // 0: no time limit
  bool random_seed = false;  // add one seed derived from the clock
  uint64_t rss_bound_mib = kDefaultRssBoundMib;
  bool verbose = false;
  bool deep = false;  // mostly PDUs that keep the connection up
};

void Usage() {
  std::fprintf(
      stderr,
      "usage: iscsi_session_fuzz [--seed S] [--seeds K] [--count N] [--seconds T]\n"
      "                          [--random-seed] [--rss-bound-mib M] [--deep] [--verbose]\n"
      "  Runs seeds S..S+K-1 (N PDUs each) against a fresh `vsl gateway`,\n"
      "  stopping early after T seconds. --random-seed adds one seed taken\n"
      "  from the clock (printed). A failure prints the seed and PDU index;\n"
      "  `--seed S --count INDEX+1` replays it (with the same --deep).\n"
      "  --deep: 2 %% instead of 30 %% of the PDUs are ones that usually end\n"
      "  the connection, so sessions live longer and gather more state.\n");
}

bool ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", name);
        return nullptr;
      }
      return argv[++i];
    };
    const char* v = nullptr;
    try {
      if (a == "--seed") {
        if (!(v = next("--seed"))) return false;
        o->seed = std::stoull(v);
      } else if (a == "--seeds") {
        if (!(v = next("--seeds"))) return false;
        o->seeds = std::stoull(v);
      } else if (a == "--count") {
        if (!(v = next("--count"))) return false;
        o->count = std::stoull(v);
      } else if (a == "--seconds") {
        if (!(v = next("--seconds"))) return false;
        o->seconds = std::stod(v);
      } else if (a == "--rss-bound-mib") {
        if (!(v = next("--rss-bound-mib"))) return false;
        o->rss_bound_mib = std::stoull(v);
      } else if (a == "--random-seed") {
        o->random_seed = true;
      } else if (a == "--help" || a == "-h") {
        Usage();
        std::exit(0);
      } else if (a == "--deep") {
        o->deep = true;
      } else if (a == "--verbose") {
        o->verbose = true;
      } else {
        std::fprintf(stderr, "unknown argument %s\n", a.c_str());
        return false;
      }
    } catch (const std::exception&) {
      std::fprintf(stderr, "%s: not a number: %s\n", a.c_str(), v ? v : "");
      return false;
    }
  }
  return true;
}

// VmRSS of `pid` in KiB, or 0.
uint64_t RssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

// Empty while the child runs; otherwise how it ended.
std::string GatewayDeath(pid_t pid) {
  int status = 0;
  pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r == 0) return ::kill(pid, 0) == 0 ? "" : "kill -0 failed";
  if (r < 0) return std::string("waitpid: ") + std::strerror(errno);
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

// The well-behaved host: web2 writes a pattern to its own LUN 0 and reads it
// back, over and over, until told to stop or something is wrong.
class Witness {
 public:
  explicit Witness(std::string portal) : portal_(std::move(portal)) {}
  ~Witness() { Stop(); }

  bool Start(std::string* error) {
    ctx_ = Login(portal_, Web2Spec(), 0, error);
    if (!ctx_) return false;
    iscsi_set_timeout(ctx_.get(), 20);
    // A dropped session is a failure here, not something to paper over.
    iscsi_set_noautoreconnect(ctx_.get(), 1);
    thread_ = std::thread([this] { Run(); });
    return true;
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  bool failed() const { return failed_; }
  std::string error() {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }
  uint64_t rounds() const { return rounds_; }

 private:
  void Fail(const std::string& why) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = why;
    failed_ = true;
  }
  void Run() {
    for (uint32_t k = 1; !stop_; ++k) {
      const uint64_t lba = (k % 256) * 8;  // web2.img is 2048 blocks
      std::vector<uint8_t> data = Pattern(8 * kBlockSize, 0x5eed0000 + k);
      Task w = Write16(ctx_.get(), 0, lba, data);
      if (!w || w->status != SCSI_STATUS_GOOD) {
        Fail("well-behaved session (web2): WRITE(16) at " + std::to_string(lba) + ": " +
             (w ? Describe(w.get()) : iscsi_get_error(ctx_.get())));
        return;
      }
      Task r = Read16(ctx_.get(), 0, lba, 8);
      if (!r || r->status != SCSI_STATUS_GOOD) {
        Fail("well-behaved session (web2): READ(16) at " + std::to_string(lba) + ": " +
             (r ? Describe(r.get()) : iscsi_get_error(ctx_.get())));
        return;
      }
      if (DataIn(r.get()) != data) {
        Fail("well-behaved session (web2): READ(16) at " + std::to_string(lba) +
             " returned other bytes than it wrote");
        return;
      }
      ++rounds_;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  std::string portal_;
  Context ctx_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> failed_{false};
  std::atomic<uint64_t> rounds_{0};
  std::mutex mu_;
  std::string error_;
};

// The fuzzing session: web1 with CHAP over a raw socket.
class Fuzzer {
 public:
  Fuzzer(int port, uint64_t seed, bool verbose, bool deep)
      : port_(port), rng_(seed), verbose_(verbose), deep_(deep) {}

  uint64_t reconnects() const { return reconnects_; }
  uint64_t replies() const { return replies_; }

  bool Connect(std::string* error) {
    s_ = std::make_unique<RawSession>();
    RawLoginOptions o;
    o.initiator = farm::kWeb1Initiator;
    o.target = TargetName("web1");
    o.chap_user = farm::kWeb1User;
    o.chap_secret = farm::kWeb1Secret;
    // Digests on some connections, so their checks are fuzzed too.
    o.header_digest = Chance(25);
    o.data_digest = Chance(25);
    // The gateway may still be tearing down the previous connection's
    // session; a few tries with a pause are normal.
    for (int attempt = 0; attempt < 20; ++attempt) {
      error->clear();
      s_ = std::make_unique<RawSession>();
      if (s_->Login(port_, o, error)) {
        s_->conn.SetSendTimeout(2000);
        r2t_valid_ = false;
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // Sends PDU number `index`; false (with *error) only when logging in again
  // fails after the gateway dropped the connection.
  bool Step(uint64_t index, std::string* error) {
    if (!s_ || !s_->conn.is_open()) {
      ++reconnects_;
      if (!Connect(error)) return false;
    }
    const char* what = SendOne();
    if (verbose_) std::printf("  pdu %llu: %s\n", (unsigned long long)index, what);
    Drain();
    return true;
  }

 private:
  uint32_t U32() { return uint32_t(rng_()); }
  uint32_t Below(uint32_t n) { return n == 0 ? 0 : uint32_t(rng_() % n); }
  bool Chance(uint32_t percent) { return Below(100) < percent; }

  std::vector<uint8_t> Bytes(size_t n) {
    std::vector<uint8_t> b(n);
    for (auto& x : b) x = uint8_t(rng_());
    return b;
  }

  uint32_t DataSize() {
    switch (Below(6)) {
      case 0:
        return 0;
      case 1:
        return Below(64);
      case 2:
        return kBlockSize * (1 + Below(8));
      case 3:
        return Below(16384);
      case 4:
        return s_->target_mrdsl;
      default:
        return Below(70000);
    }
  }

  // A LUN the host has (0, 3), one it has not, or anything.
  uint64_t Lun() {
    switch (Below(4)) {
      case 0:
      case 1:
        return 0;
      case 2:
        return 3;
      default:
        return Below(2) ? Below(16) : U32() & 0x3fff;
    }
  }

  std::array<uint8_t, 16> Cdb() {
    static const uint8_t kOps[] = {0x00, 0x03, 0x12, 0x1a, 0x5a, 0x25, 0x9e, 0x28, 0x2a,
                                   0x88, 0x8a, 0x2f, 0x8f, 0x89, 0x42, 0x41, 0x93, 0x35,
                                   0x91, 0xa0, 0x15, 0x55, 0x5e, 0x5f, 0xa3, 0x83, 0x84,
                                   0x48, 0x1b, 0x1e, 0x37, 0x3b, 0x3c, 0x9b, 0x7f, 0x04};
    std::array<uint8_t, 16> cdb{};
    cdb[0] = Chance(90) ? kOps[Below(sizeof kOps)] : uint8_t(U32());
    const uint64_t blocks = farm::kWeb1Lun0Blocks;
    switch (Below(3)) {
      case 0: {  // in range, plausible lengths
        uint64_t lba = Below(uint32_t(blocks));
        uint32_t n = 1 + Below(16);
        if (cdb[0] == 0x28 || cdb[0] == 0x2a || cdb[0] == 0x2f || cdb[0] == 0x35 ||
            cdb[0] == 0x41) {
          cdb[2] = uint8_t(lba >> 24), cdb[3] = uint8_t(lba >> 16);
          cdb[4] = uint8_t(lba >> 8), cdb[5] = uint8_t(lba);
          cdb[7] = uint8_t(n >> 8), cdb[8] = uint8_t(n);
        } else {
          for (int i = 0; i < 8; ++i) cdb[2 + i] = uint8_t(lba >> (56 - 8 * i));
          cdb[10] = uint8_t(n >> 24), cdb[11] = uint8_t(n >> 16);
          cdb[12] = uint8_t(n >> 8), cdb[13] = uint8_t(n);
          if (cdb[0] == 0x89) cdb[13] = uint8_t(1 + Below(2));
        }
        break;
      }
      case 1:  // every byte random
        for (size_t i = 1; i < cdb.size(); ++i) cdb[i] = uint8_t(U32());
        break;
      default: {  // a few fields at their extremes
        for (size_t i = 1; i < cdb.size(); ++i) cdb[i] = Chance(50) ? 0 : 0xff;
        break;
      }
    }
    // A few flipped bits on top.
    for (uint32_t flips = Below(3); flips > 0; --flips) cdb[Below(16)] ^= uint8_t(1 << Below(8));
    return cdb;
  }

  Pdu Scsi() {
    const bool write = Chance(40);
    const bool read = Chance(60);
    uint32_t expected = Chance(20) ? U32() : Below(64) * kBlockSize;
    std::vector<uint8_t> data;
    if (write && Chance(70)) data = Bytes(std::min<uint32_t>(DataSize(), s_->first_burst));
    Pdu p = ScsiCommand(Lun(), s_->next_itt++, s_->cmd_sn, s_->exp_stat_sn, Cdb(), read, write,
                        expected, std::move(data));
    if (Chance(90)) ++s_->cmd_sn;
    if (Chance(10)) p.bhs[1] = uint8_t((p.bhs[1] & 0xf8) | Below(8));  // task attribute
    if (Chance(5)) p.bhs[0] |= 0x40;                                   // immediate
    if (Chance(5)) p.bhs[1] &= 0x7f;                                   // no F bit
    return p;
  }

  Pdu Data() {
    uint32_t itt = r2t_valid_ && Chance(70) ? r2t_itt_ : (Chance(50) ? U32() : s_->next_itt - 1);
    uint32_t ttt = r2t_valid_ && Chance(60) ? r2t_ttt_ : (Chance(50) ? kReservedTag : U32());
    uint32_t offset = r2t_valid_ && Chance(50) ? r2t_offset_ : (Chance(50) ? Below(131072) : U32());
    uint32_t size = r2t_valid_ && Chance(40) ? std::min(r2t_length_, s_->target_mrdsl) : DataSize();
    if (Chance(10)) offset += Below(2) ? kBlockSize : uint32_t(-int32_t(kBlockSize));
    Pdu p = DataOut(Lun(), itt, ttt, s_->exp_stat_sn, Below(4), offset, Chance(60), Bytes(size));
    if (Chance(10)) p.SetField32(36, U32());  // DataSN
    return p;
  }

  Pdu Nop() {
    Pdu p = NopOut(Chance(80) ? s_->next_itt++ : kReservedTag, s_->cmd_sn, s_->exp_stat_sn,
                   Bytes(Chance(70) ? Below(128) : DataSize()), Chance(70));
    if (Chance(30)) p.SetField32(20, Chance(50) ? U32() : kReservedTag);  // TTT
    return p;
  }

  Pdu TaskManagement() {
    Pdu p;
    p.bhs[0] = 0x02 | 0x40;
    p.bhs[1] = uint8_t(0x80 | (Chance(90) ? 1 + Below(8) : Below(128)));
    uint64_t lun = Lun();
    p.bhs[9] = uint8_t(lun);
    p.SetField32(16, s_->next_itt++);
    p.SetField32(20, Chance(60) ? s_->next_itt - 1 - Below(8) : U32());  // referenced task
    p.SetField32(24, s_->cmd_sn);
    p.SetField32(28, s_->exp_stat_sn);
    p.SetField32(32, Chance(50) ? s_->cmd_sn - 1 : U32());  // RefCmdSN
    if (Chance(20)) p.data = Bytes(Below(64));
    return p;
  }

  Pdu Text() {
    Pdu p;
    p.bhs[0] = 0x04 | (Chance(50) ? 0x40 : 0);
    p.bhs[1] = Chance(80) ? 0x80 : 0x40;
    p.SetField32(16, s_->next_itt++);
    p.SetField32(20, Chance(80) ? kReservedTag : U32());
    p.SetField32(24, s_->cmd_sn);
    p.SetField32(28, s_->exp_stat_sn);
    static const char* kKeys[] = {
        "SendTargets=All",     "SendTargets=",     "MaxRecvDataSegmentLength=512",
        "HeaderDigest=CRC32C", "X-vsl-unknown=1",  "=",
        "SendTargets",         "TargetName=iqn.x", "MaxBurstLength=0"};
    KeyValues keys;
    switch (Below(3)) {
      case 0: {
        std::string k = kKeys[Below(sizeof kKeys / sizeof *kKeys)];
        p.data.assign(k.begin(), k.end());
        if (Chance(70)) p.data.push_back(0);
        break;
      }
      case 1:
        p.data = Bytes(DataSize());
        break;
      default: {
        std::string big(Below(20000), 'A');
        big = "X-" + big + "=" + big;
        p.data.assign(big.begin(), big.end());
        p.data.push_back(0);
      }
    }
    return p;
  }

  Pdu Logout() {
    Pdu p;
    p.bhs[0] = 0x06 | 0x40;
    p.bhs[1] = uint8_t(0x80 | (Chance(80) ? Below(3) : Below(128)));
    p.SetField32(16, s_->next_itt++);
    p.SetField32(24, s_->cmd_sn);
    p.SetField32(28, s_->exp_stat_sn);
    return p;
  }

  Pdu RandomHeader() {
    Pdu p;
    for (auto& b : p.bhs) b = uint8_t(U32());
    if (Chance(70)) p.bhs[4] = 0;  // mostly no AHS
    if (Chance(50)) p.SetField32(24, s_->cmd_sn);
    p.data = Bytes(DataSize());
    return p;
  }

  // Sends one generated PDU; returns what kind it was.
  const char* SendOne() {
    Pdu p;
    const char* what;
    SendOptions opt;
    uint32_t pick;
    if (deep_) {
      pick = Chance(2) ? 14 + Below(6) : Below(13);
    } else {
      opt.corrupt_header_digest = Chance(2);
      opt.corrupt_data_digest = Chance(2);
      pick = Below(20);
    }
    switch (pick) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4:
      case 5:
        p = Scsi(), what = "scsi";
        break;
      case 6:
      case 7:
      case 8:
        p = Data(), what = "data-out";
        break;
      case 9:
      case 10:
        p = Nop(), what = "nop-out";
        break;
      case 11:
        p = TaskManagement(), what = "task-management";
        break;
      case 12:
        p = Text(), what = "text";
        break;
      case 13:
        p = Chance(20) ? Logout() : Nop(), what = "logout/nop";
        break;
      case 14:
      case 15:
        p = RandomHeader(), what = "random-header";
        break;
      case 16: {  // a valid PDU with a few header bytes changed
        p = Chance(50) ? Scsi() : Nop();
        for (uint32_t n = 1 + Below(4); n > 0; --n) p.bhs[Below(48)] = uint8_t(U32());
        what = "mutated-header";
        break;
      }
      case 17: {  // segment longer than it says, or longer than allowed
        p = Chance(50) ? Scsi() : Nop();
        opt.override_length = true;
        opt.data_length = Chance(50) ? s_->target_mrdsl + 1 + Below(1 << 20) : (0xffffff & U32());
        what = "oversized-length";
        break;
      }
      case 18: {  // header or segment cut short, then the next PDU follows
        p = Chance(50) ? Scsi() : Text();
        std::vector<uint8_t> wire = s_->conn.Serialize(p);
        wire.resize(Below(uint32_t(wire.size())));
        if (!s_->conn.SendBytes(wire)) s_->conn.Close();
        return "truncated";
      }
      default: {  // a write that announces more data than it sends (R2T path)
        std::array<uint8_t, 16> cdb{};
        cdb[0] = 0x8a;
        uint32_t blocks = 1 + Below(64);
        uint64_t lba = Below(uint32_t(farm::kWeb1Lun0Blocks));
        for (int i = 0; i < 8; ++i) cdb[2 + i] = uint8_t(lba >> (56 - 8 * i));
        cdb[13] = uint8_t(blocks);
        p = ScsiCommand(Chance(80) ? 0 : 3, s_->next_itt++, s_->cmd_sn++, s_->exp_stat_sn, cdb,
                        false, true, blocks * kBlockSize,
                        Chance(50) ? Bytes(std::min<uint32_t>(kBlockSize, s_->first_burst))
                                   : std::vector<uint8_t>{});
        what = "write-needing-r2t";
      }
    }
    if (!s_->conn.Send(p, opt)) s_->conn.Close();
    return what;
  }

  // Reads what the gateway answers, briefly; remembers the last R2T; closes
  // the connection when the gateway did (or the stream no longer parses).
  void Drain() {
    for (int i = 0; i < 64 && s_->conn.is_open(); ++i) {
      Pdu r;
      ReadStatus st = s_->conn.Read(&r, i == 0 ? 30 : 5);
      if (st == ReadStatus::kTimeout) return;
      if (st != ReadStatus::kPdu) {
        s_->conn.Close();
        return;
      }
      ++replies_;
      const uint8_t op = r.opcode();
      if (op < 0x20 || (op > 0x26 && op != 0x31 && op != 0x32 && op != 0x3f)) {
        s_->conn.Close();  // our framing is lost
        return;
      }
      if (op != 0x25 || (r.bhs[1] & 0x01)) s_->exp_stat_sn = r.Field32(24) + 1;
      if (op == kR2t) {
        r2t_valid_ = true;
        r2t_itt_ = r.itt();
        r2t_ttt_ = r.Field32(20);
        r2t_offset_ = r.Field32(40);
        r2t_length_ = r.Field32(44);
      }
      if (op == kNopIn && r.Field32(20) != kReservedTag) {
        // The gateway pinged: answer it as the initiator should, usually.
        if (Chance(80)) {
          Pdu ans = NopOut(kReservedTag, s_->cmd_sn, s_->exp_stat_sn, {}, true);
          ans.SetField32(20, r.Field32(20));
          if (!s_->conn.Send(ans)) s_->conn.Close();
        }
      }
      if (op == kLogoutResponse) s_->conn.Close();
    }
  }

  int port_;
  std::mt19937_64 rng_;
  bool verbose_;
  bool deep_;
  std::unique_ptr<RawSession> s_;
  bool r2t_valid_ = false;
  uint32_t r2t_itt_ = 0, r2t_ttt_ = 0, r2t_offset_ = 0, r2t_length_ = 0;
  uint64_t reconnects_ = 0;
  uint64_t replies_ = 0;
};

int Run(const Options& o) {
  std::vector<uint64_t> seeds;
  for (uint64_t i = 0; i < o.seeds; ++i) seeds.push_back(o.seed + i);
  if (o.random_seed) {
    uint64_t s = uint64_t(std::chrono::system_clock::now().time_since_epoch().count()) ^
                 (uint64_t(::getpid()) << 32);
    std::printf("time-derived seed: %llu\n", (unsigned long long)s);
    seeds.push_back(s);
  }

  GatewayProcess gw;
  std::string error;
  if (!gw.Start(StandardFarm(), &error)) {
    std::fprintf(stderr, "FAIL: could not start the gateway: %s\n", error.c_str());
    return 1;
  }
  const pid_t pid = gw.pid();
  Witness witness(gw.portal());
  if (!witness.Start(&error)) {
    std::fprintf(stderr, "FAIL: the well-behaved session could not log in: %s\n", error.c_str());
    return 1;
  }
  const auto start = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  const uint64_t rss_start = RssKib(pid);
  uint64_t rss_peak = rss_start;
  std::printf("gateway pid %d on %s, VmRSS at start %llu KiB\n", int(pid), gw.portal().c_str(),
              (unsigned long long)rss_start);

  uint64_t total = 0;
  size_t seeds_run = 0;
  uint64_t reconnects = 0;
  uint64_t replies = 0;
  auto fail = [&](uint64_t seed, uint64_t index, const std::string& why) {
    witness.Stop();
    std::fprintf(stderr,
                 "FAIL seed=%llu pdu=%llu: %s\n"
                 "replay: iscsi_session_fuzz --seed %llu --count %llu%s\n",
                 (unsigned long long)seed, (unsigned long long)index, why.c_str(),
                 (unsigned long long)seed, (unsigned long long)index + 1, o.deep ? " --deep" : "");
    std::string log = gw.Log();
    if (log.size() > 4000) log = log.substr(log.size() - 4000);
    std::fprintf(stderr, "gateway log (tail):\n%s\n", log.c_str());
    return 1;
  };

  bool out_of_time = false;
  for (uint64_t seed : seeds) {
    if (out_of_time) break;
    ++seeds_run;
    Fuzzer f(gw.port(), seed, o.verbose, o.deep);
    uint64_t index = 0;
    for (; index < o.count; ++index) {
      if (!f.Step(index, &error)) {
        if (std::string d = GatewayDeath(pid); !d.empty()) return fail(seed, index, "gateway " + d);
        return fail(seed, index, "could not log in again: " + error);
      }
      ++total;
      if (index % 64 == 0 || index + 1 == o.count) {
        if (std::string d = GatewayDeath(pid); !d.empty()) return fail(seed, index, "gateway " + d);
        if (witness.failed()) return fail(seed, index, witness.error());
        rss_peak = std::max(rss_peak, RssKib(pid));
      }
      if (o.seconds > 0 && elapsed() > o.seconds) {
        out_of_time = true;
        ++index;
        break;
      }
    }
    reconnects += f.reconnects();
    replies += f.replies();
    std::printf("seed %llu: %llu PDUs, %llu replies, %llu reconnects, %.0f s, VmRSS %llu KiB\n",
                (unsigned long long)seed, (unsigned long long)index,
                (unsigned long long)f.replies(), (unsigned long long)f.reconnects(), elapsed(),
                (unsigned long long)RssKib(pid));
    std::fflush(stdout);
  }

  // Let the well-behaved host finish a few more rounds on a quiet gateway.
  const uint64_t before = witness.rounds();
  for (int i = 0; i < 100 && witness.rounds() < before + 3 && !witness.failed(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  witness.Stop();
  if (witness.failed()) return fail(seeds.back(), o.count, witness.error());
  if (witness.rounds() <= before) {
    return fail(seeds.back(), o.count, "the well-behaved session made no progress at the end");
  }
  if (std::string d = GatewayDeath(pid); !d.empty()) {
    return fail(seeds.back(), o.count, "gateway " + d);
  }
  const uint64_t rss_end = RssKib(pid);
  std::printf(
      "total: %llu PDUs over %zu seeds in %.0f s, %llu replies, %llu reconnects; "
      "well-behaved session: %llu write+read rounds; gateway VmRSS start %llu KiB, "
      "peak %llu KiB, end %llu KiB; crashes: 0\n",
      (unsigned long long)total, seeds_run, elapsed(), (unsigned long long)replies,
      (unsigned long long)reconnects, (unsigned long long)witness.rounds(),
      (unsigned long long)rss_start, (unsigned long long)rss_peak, (unsigned long long)rss_end);
  if (rss_end > rss_start + o.rss_bound_mib * 1024) {
    return fail(seeds.back(), o.count,
                "gateway VmRSS grew from " + std::to_string(rss_start) + " KiB to " +
                    std::to_string(rss_end) + " KiB (bound +" + std::to_string(o.rss_bound_mib) +
                    " MiB)");
  }
  if (!gw.Stop(&error)) {
    std::fprintf(stderr, "FAIL: the gateway did not stop cleanly after the run: %s\n",
                 error.c_str());
    return 1;
  }
  std::printf("PASS\n");
  return 0;
}

}  // namespace
}  // namespace vsl::e2e

int main(int argc, char** argv) {
  vsl::e2e::Options o;
  if (!vsl::e2e::ParseArgs(argc, argv, &o)) {
    vsl::e2e::Usage();
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  return vsl::e2e::Run(o);
}
