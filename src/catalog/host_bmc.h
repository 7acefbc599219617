// The checks on a host's BMC settings (records.h, HostBmc), shared by the
// API, the CLI and the catalog's write entry points. Each returns OK or
// InvalidArgument "<field>: <why>" naming the field as POST /v1/hosts spells
// it and showing the value escaped (util/names.h, Printable) — never the
// password.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "catalog/records.h"
#include "util/status.h"

namespace vsl::catalog {

// IPMI 2.0 user names are at most 16 bytes, passwords at most 20 (RAKP keys).
inline constexpr size_t kMaxBmcUser = 16;
inline constexpr size_t kMaxBmcPassword = 20;
inline constexpr int64_t kDefaultBmcPort = 623;

// A host name (RFC 1123: dot-separated labels of a-z A-Z 0-9 -, each 1-63
// long and not starting or ending with '-', 253 at most) or an IPv4/IPv6
// literal (without brackets).
bool IsValidBmcAddress(std::string_view address);

// A BMC with an address needs a valid port (1-65535), a user of printable
// ASCII (at most 16 bytes; empty: the BMC's anonymous user), a password of
// 1-20 bytes of printable ASCII, and bootdev none, pxe or disk. A BMC
// without an address must have nothing else set.
Status CheckHostBmc(const HostBmc& bmc);

// "ADDR", "ADDR:PORT", "[IPv6]", "[IPv6]:PORT" or a bare IPv6 literal into
// (address, port); the port defaults to 623. InvalidArgument naming `what`.
Result<std::pair<std::string, int64_t>> ParseBmcAddress(std::string_view text, std::string_view what = "--bmc");

}  // namespace vsl::catalog
