// The command groups that run or talk to `vsl serve` (serve_command.cc,
// admin_commands.cc, disk_commands.cc).
#pragma once

#include "cli/commands.h"

namespace vsl::cli {

void AddServeCommands(CLI::App& app, RunFn* run);  // serve
void AddAdminCommands(CLI::App& app, RunFn* run);  // array, host, image, tenant, volume
void AddDiskCommands(CLI::App& app, RunFn* run);   // disk, queue, events
void AddBackupCommands(CLI::App& app, RunFn* run); // backup

}  // namespace vsl::cli
