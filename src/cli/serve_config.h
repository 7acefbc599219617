// /etc/vsl/vsl.conf: the settings of `vsl serve` in one file (docs/service.md).
//
// The file is a small TOML subset: `key = value` lines, `#` comments, blank
// lines and an optional `[serve]` section header. A key is a long flag of
// `vsl serve` without its dashes (`api`, `iscsi-write-budget`, `metrics-open`);
// a value is a bare word (64GiB, 4, true) or a quoted string. A flag given on
// the command line wins over the file.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "util/status.h"

namespace vsl::cli {

// Read when `vsl serve` is given no --config and the file exists.
inline constexpr const char* kDefaultServeConfig = "/etc/vsl/vsl.conf";

struct ConfigEntry {
  std::string key;
  std::string value;
  int line = 0;  // 1-based
};

// The entries of a config file's text, in order. InvalidArgument naming
// "FILE:LINE" for a line that is not `key = value`, a second value for one
// key, an unterminated string or a section other than [serve].
Result<std::vector<ConfigEntry>> ParseServeConfig(std::string_view text, const std::string& file);

// Gives each entry to the option of `cmd` named `--KEY`, unless the command
// line gave that option already; the option's own checks run on the value.
// InvalidArgument naming "FILE:LINE" and the key for a key that `cmd` has no
// option for (or that can't be set from a file: config, help), and for a
// value the option refuses.
Status ApplyServeConfig(CLI::App& cmd, const std::vector<ConfigEntry>& entries, const std::string& file);

// Reads `file` and applies it to `cmd`. IoError naming the file when it
// can't be read.
Status LoadServeConfig(CLI::App& cmd, const std::string& file);

}  // namespace vsl::cli
