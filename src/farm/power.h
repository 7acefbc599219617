// PowerController: turns the hosts of a farm on and off (seed FIG. 2C: the
// farm manager powers a server on once its disks are mapped).
//
// Drivers: `none` (the operator powers hosts; the controller only remembers
// what it was told), `qemu` and `qemu-direct`. With the last two each host is
// a QEMU VM that boots from LUN 0 of its own target through the gateway, with
// the host's initiator name and CHAP secret; its serial console goes to
// <data>/consoles/<host>.log.
//   qemu          boots the way bare metal boots from a SAN: the VM's NIC
//                 firmware (iPXE) fetches a boot script vsl writes for the host
//                 (<data>/boot/<host>/boot.ipxe, 0600: it holds the CHAP
//                 secret) over QEMU's user-mode TFTP and runs `sanboot`; the
//                 OS then logs in again with its own initiator from the iBFT
//                 the firmware leaves.
//   qemu-direct   QEMU's built-in initiator opens each LUN as an IDE disk (at
//                 most four); faster, for hosts that only need the disk read.
//   ipmi          each host is a server with a BMC reached over IPMI-over-LAN
//                 by ipmitool (power_ipmi.h).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "util/status.h"

namespace vsl::farm {

// A host's baseboard management controller, as the catalog holds it
// (catalog::HostBmc, checked by catalog::CheckHostBmc). The password is a
// secret: it goes to ipmitool through its environment, never into argv,
// a log line or a message.
struct BmcAccess {
  std::string address;  // host name or IP literal; "" when the host has none
  int port = 623;
  std::string user;
  std::string password;
  std::string bootdev = "none";  // set before each power-on: none | pxe | disk
};

// What a controller needs to know to start a host.
struct PowerHost {
  std::string name;
  std::string initiator;  // the host's (first) initiator name
  std::string chap_user, chap_secret;
  std::string mutual_user, mutual_secret;  // mutual CHAP: the target's, when set
  std::vector<int> luns;  // LUNs mapped to it, LUN 0 (the boot disk) first
  BmcAccess bmc;
};

struct PowerOptions {
  std::string driver = "none";   // "none", "qemu", "qemu-direct" or "ipmi"
  std::string data_dir;          // consoles go to <data_dir>/consoles, boot scripts to <data_dir>/boot
  std::string iscsi_address;     // the gateway, "127.0.0.1:3260"
  std::string iqn_prefix = "iqn.2026-11.org.vsl";
  std::string qemu = "qemu-system-x86_64";
  std::string accel = "tcg";     // QEMU's -machine accel=
  int memory_mib = 256;          // each VM's RAM: a Linux with its initramfs needs about 200
  // ipmi: the ipmitool binary, the RMCP+ cipher suite (-1: ipmitool's
  // choice), and how long one ipmitool run may take before it is killed.
  std::string ipmitool = "ipmitool";
  int ipmi_cipher = -1;
  int ipmi_timeout_ms = 60000;
  // Who a host is (its BMC, for ipmi), for the calls that name a host only
  // (PowerOff, IsOn): after a restart of `vsl serve` the driver is asked
  // about hosts an earlier process powered on. Required by ipmi.
  std::function<Result<PowerHost>(const std::string& host)> lookup;
};

class PowerController {
 public:
  virtual ~PowerController() = default;
  virtual std::string driver() const = 0;
  // Starts the host (a second call for a running host is harmless).
  virtual Status PowerOn(const PowerHost& host) = 0;
  // Stops it; stopping a host that is off is harmless.
  virtual Status PowerOff(const std::string& host) = 0;
  virtual bool IsOn(const std::string& host) = 0;
  // Every host this controller started and that still runs.
  virtual std::vector<std::string> Running() = 0;
  // Where the host's serial console is saved ("" when the driver has none).
  virtual std::string ConsolePath(const std::string& host) const = 0;
  // Off, then on again (ipmi: one `chassis power cycle`).
  virtual Status PowerCycle(const PowerHost& host) {
    VSL_RETURN_IF_ERROR(PowerOff(host.name));
    return PowerOn(host);
  }
  // What `vsl serve` does to the hosts at its shutdown: VMs it started go
  // with it; servers behind a BMC keep running (ipmi overrides this).
  virtual void PowerOffAll() {
    for (const std::string& h : Running()) (void)PowerOff(h);
  }
};

// True for the drivers whose hosts are VMs of this process (they do not
// survive a restart of `vsl serve`).
bool DriverRunsVms(const std::string& driver);

// InvalidArgument naming the driver when it is not "none", "qemu", "qemu-direct" or "ipmi".
Result<std::unique_ptr<PowerController>> MakePowerController(const PowerOptions& options);

// The iSCSI URL QEMU opens for LUN `lun` of host `host`.
std::string HostLunUrl(const PowerOptions& options, const std::string& host, int lun);

// The iPXE script that boots `host` from its LUN 0 (driver qemu): the
// initiator name, CHAP (and mutual CHAP) settings and the sanboot line, the
// gateway as the guest reaches it. InvalidArgument when a CHAP value has a
// character an iPXE command line cannot carry (white space, "${").
Result<std::string> IpxeBootScript(const PowerOptions& options, const PowerHost& host);

}  // namespace vsl::farm
