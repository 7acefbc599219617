// GatewayProcess: the real `vsl gateway --config FILE` as a child process,
// serving a small farm of backing files in a private temporary directory.
//
// The end-to-end tests talk to it only over TCP on 127.0.0.1 (libiscsi or raw
// PDUs) and look at the backing files directly to check where bytes landed.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vsl::e2e {

inline constexpr char kIqnPrefix[] = "iqn.2026-11.org.vsl";
inline constexpr uint32_t kBlockSize = 512;

struct ExtentSpec {
  std::string file;  // name inside the temporary directory
  uint64_t offset = 0;
  uint64_t length = 0;
};

struct LunSpec {
  uint64_t lun = 0;
  bool read_only = false;
  std::vector<ExtentSpec> extents;
};

struct ChapSpec {
  std::string user;
  std::string secret;
};

struct HostSpec {
  std::string name;
  std::vector<std::string> initiators;
  bool has_chap = false;
  ChapSpec chap;
  bool has_mutual_chap = false;
  ChapSpec mutual_chap;
  bool allow_no_auth = false;
  std::vector<LunSpec> luns;
};

// A backing file: `size` bytes, every byte `fill` (so a test can tell which
// file, and which part of it, a LUN block came from).
struct FileSpec {
  std::string name;
  uint64_t size = 0;
  uint8_t fill = 0;
};

struct FarmSpec {
  std::vector<FileSpec> files;
  std::vector<HostSpec> hosts;
  // Top-level numeric keys of the configuration (docs/gateway-config.md),
  // e.g. {"max_connections_per_address", 8}.
  std::vector<std::pair<std::string, uint64_t>> options;
};

// The farm every test uses unless it needs something else:
//   web1  CHAP + mutual CHAP; LUN 0 = a.img[4096, +64 KiB] ++ b.img[0, +128 KiB]
//         ++ c.img[8192, +64 KiB] (512 blocks, boundaries at blocks 128 and
//         384); LUN 3 = shared.img (1 MiB).
//   web2  two initiator names, CHAP; LUN 0 = web2.img (1 MiB); LUN 5 = shared.img.
//   open  no authentication (explicitly allowed); LUN 0 = open.img (1 MiB).
FarmSpec StandardFarm();

namespace farm {
inline constexpr char kWeb1Initiator[] = "iqn.2026-11.org.example:web1";
inline constexpr char kWeb1User[] = "web1";
inline constexpr char kWeb1Secret[] = "web1-secret-0123";
inline constexpr char kWeb1TargetUser[] = "vsl-web1";
inline constexpr char kWeb1TargetSecret[] = "vsl-web1-mutual-4567";
inline constexpr char kWeb2InitiatorA[] = "iqn.2026-11.org.example:web2a";
inline constexpr char kWeb2InitiatorB[] = "iqn.2026-11.org.example:web2b";
inline constexpr char kWeb2User[] = "web2";
inline constexpr char kWeb2Secret[] = "web2-secret-89ab";
inline constexpr char kOpenInitiator[] = "iqn.2026-11.org.example:open";
inline constexpr uint64_t kWeb1Lun0Blocks = 512;
inline constexpr uint64_t kOpenLun0Blocks = 2048;
}  // namespace farm

std::string TargetName(const std::string& host);

class GatewayProcess {
 public:
  GatewayProcess() = default;
  GatewayProcess(const GatewayProcess&) = delete;
  GatewayProcess& operator=(const GatewayProcess&) = delete;
  // Kills the child (SIGKILL) if Stop() was not called, removes the directory.
  ~GatewayProcess();

  // Creates the directory, the backing files and the config, starts
  // `vsl gateway` on a free port and waits until it accepts connections.
  // On failure returns false and sets *error (including the child's output).
  bool Start(const FarmSpec& farm, std::string* error);
  // Restarts the child on the same config and files (same port if possible).
  bool Restart(std::string* error);
  // SIGTERM, then SIGKILL after a bounded wait. Returns true when the child
  // exited by itself with status 0; otherwise sets *error.
  bool Stop(std::string* error);

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  std::string LogPath() const { return log_path_; }
  int port() const { return port_; }
  std::string portal() const;  // "127.0.0.1:PORT"
  std::string dir() const { return dir_; }
  std::string FilePath(const std::string& name) const { return dir_ + "/" + name; }
  std::string Log() const;  // the child's stdout+stderr so far

  // Reads `length` bytes of backing file `name` at `offset`.
  std::vector<uint8_t> ReadFile(const std::string& name, uint64_t offset,
                                uint64_t length) const;
  uint64_t FileSize(const std::string& name) const;
  // Bytes the file system has allocated for backing file `name` (st_blocks).
  uint64_t AllocatedBytes(const std::string& name) const;
  // Whether the directory's file system can punch holes (FALLOC_FL_PUNCH_HOLE).
  bool CanPunchHoles() const;

 private:
  bool WriteConfig(const FarmSpec& farm, std::string* error);
  bool Spawn(std::string* error);
  bool WaitReady(std::string* error);

  std::string dir_;
  std::string config_path_;
  std::string log_path_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// A free TCP port on 127.0.0.1 (bound then released; callers retry on a race).
int PickFreePort();

}  // namespace vsl::e2e
