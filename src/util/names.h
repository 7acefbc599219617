// The names vsl accepts from anyone who can write to it: one rule, used by the
// API handlers, the catalog's write entry points and the FML reader, so no
// door takes a name another one would refuse.
//
// A name that reaches the catalog ends up in file paths, target names,
// SendTargets replies, log lines and terminals. Each check returns OK or
// InvalidArgument whose message names the field and shows the value with
// every byte outside printable ASCII escaped (\xNN), so the message itself is
// safe to print and to put into JSON.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/status.h"

namespace vsl {

// Names of hosts, arrays, images, farms (and the tiers and servers a farm is
// built of): 1-63 characters of A-Za-z0-9._- not starting with '.' or '-'.
inline constexpr size_t kMaxNameLength = 63;
bool IsValidName(std::string_view name);
// OK, or InvalidArgument "<what> '<name>': <why>", e.g. what = "host name".
Status CheckName(std::string_view what, std::string_view name);

// iSCSI names (RFC 3720 §3.2.6, RFC 7143 §4.2.7), in the normalized
// (stringprep'd) form initiators send, restricted to ASCII:
//   iqn.YYYY-MM.reversed.domain[:anything of a-z 0-9 . - :]
//   eui. + 16 hex digits
//   naa. + 16 or 32 hex digits
// at most 223 bytes; no upper case in iqn. names.
inline constexpr size_t kMaxIscsiNameLength = 223;
bool IsValidIscsiName(std::string_view name);
Status CheckIscsiName(std::string_view what, std::string_view name);

// CHAP user names and secrets (RFC 7143 §12.1.3): 1-255 bytes of valid UTF-8
// without control characters; a secret also at least kMinChapSecret bytes.
inline constexpr size_t kMaxChapLength = 255;
inline constexpr size_t kMinChapSecret = 12;
Status CheckChapUser(std::string_view what, std::string_view user);
// The message never shows the secret.
Status CheckChapSecret(std::string_view what, std::string_view secret);

// Free text a client names things with (a host's hardware type, a quality
// value): at most `max` bytes of valid UTF-8 without control characters.
Status CheckText(std::string_view what, std::string_view text, size_t max = 255);

// Sizes in bytes a client may ask for: at most 4 EiB, so that rounding up to
// blocks, adding a volume to a sum and storing it as a signed 64-bit integer
// (the catalog) cannot overflow.
inline constexpr uint64_t kMaxSizeBytes = uint64_t{1} << 62;
// OK, or InvalidArgument "<what>: N bytes is more than 4 EiB".
Status CheckSize(std::string_view what, uint64_t bytes);

// `text` for a message: bytes outside printable ASCII as \xNN, cut after
// `max` bytes of input with "...". Safe for terminals, logs and JSON.
std::string Printable(std::string_view text, size_t max = 80);

}  // namespace vsl
