#include "catalog/host_bmc.h"

#include <arpa/inet.h>

#include <charconv>

#include "util/names.h"

namespace vsl::catalog {

namespace {

bool IsIpLiteral(std::string_view s) {
  std::string z(s);
  unsigned char buf[16];
  return inet_pton(AF_INET, z.c_str(), buf) == 1 || inet_pton(AF_INET6, z.c_str(), buf) == 1;
}

bool IsHostName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  for (;;) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
    if (start == s.size()) return true;  // a trailing dot: fully qualified
  }
}

bool PrintableAscii(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

Result<int64_t> ParsePort(std::string_view text, std::string_view what) {
  int64_t port = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || port < 1 || port > 65535) {
    return InvalidArgument(std::string(what) + ": port '" + Printable(text) + "' is not a number from 1 to 65535");
  }
  return port;
}

}  // namespace

bool IsValidBmcAddress(std::string_view address) { return IsIpLiteral(address) || IsHostName(address); }

Status CheckHostBmc(const HostBmc& bmc) {
  if (bmc.address.empty()) {
    if (!bmc.user.empty() || !bmc.password.empty()) {
      return InvalidArgument("bmc_address: missing (a BMC user or password needs the BMC's address)");
    }
    return Status::Ok();
  }
  if (!IsValidBmcAddress(bmc.address)) {
    return InvalidArgument("bmc_address: '" + Printable(bmc.address) + "' is not a host name nor an IP address");
  }
  if (bmc.port < 1 || bmc.port > 65535) {
    return InvalidArgument("bmc_port: " + std::to_string(bmc.port) + " is not a port from 1 to 65535");
  }
  if (bmc.user.size() > kMaxBmcUser || !PrintableAscii(bmc.user)) {
    return InvalidArgument("bmc_user: '" + Printable(bmc.user) + "' is not at most " + std::to_string(kMaxBmcUser) +
                           " printable ASCII characters (IPMI 2.0)");
  }
  if (bmc.password.empty() || bmc.password.size() > kMaxBmcPassword || !PrintableAscii(bmc.password)) {
    return InvalidArgument("bmc_password: must be 1 to " + std::to_string(kMaxBmcPassword) +
                           " printable ASCII characters (IPMI 2.0); the one given is " +
                           std::to_string(bmc.password.size()) + " bytes" +
                           (PrintableAscii(bmc.password) ? "" : " with control or non-ASCII bytes"));
  }
  if (bmc.bootdev != "none" && bmc.bootdev != "pxe" && bmc.bootdev != "disk") {
    return InvalidArgument("bmc_bootdev: '" + Printable(bmc.bootdev) + "' is none of none, pxe or disk");
  }
  return Status::Ok();
}

Result<std::pair<std::string, int64_t>> ParseBmcAddress(std::string_view text, std::string_view what) {
  std::string_view addr = text;
  int64_t port = kDefaultBmcPort;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return InvalidArgument(std::string(what) + " '" + Printable(text) + "': '[' without ']'");
    }
    addr = text.substr(1, close - 1);
    unsigned char buf[16];
    if (inet_pton(AF_INET6, std::string(addr).c_str(), buf) != 1) {
      return InvalidArgument(std::string(what) + " '" + Printable(text) +
                             "': not a host name nor an IP address (brackets are for IPv6 literals)");
    }
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return InvalidArgument(std::string(what) + " '" + Printable(text) + "': expected :PORT after ']'");
      }
      VSL_ASSIGN_OR_RETURN(port, ParsePort(rest.substr(1), what));
    }
  } else if (size_t colon = text.find(':'); colon != std::string_view::npos && text.find(':', colon + 1) == std::string_view::npos) {
    addr = text.substr(0, colon);
    VSL_ASSIGN_OR_RETURN(port, ParsePort(text.substr(colon + 1), what));
  }
  if (!IsValidBmcAddress(addr)) {
    return InvalidArgument(std::string(what) + " '" + Printable(text) +
                           "': not a host name nor an IP address (ADDR, ADDR:PORT or [IPv6]:PORT)");
  }
  return std::make_pair(std::string(addr), port);
}

}  // namespace vsl::catalog
