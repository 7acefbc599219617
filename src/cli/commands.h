// The `vsl` binary's subcommand groups. Each group lives in its own file and
// adds its subcommands to the app; main.cc lists the groups.
#pragma once

#include <chrono>
#include <functional>

#include <CLI/CLI.hpp>

namespace vsl::cli {

// What runs once the command line is parsed; returns the exit status.
using RunFn = std::function<int()>;

// Adds a group's subcommands to `app`. When one of them is chosen, its parse
// callback stores the work in *run.
using AddCommandsFn = void (*)(CLI::App& app, RunFn* run);

// Exit statuses shared by all subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // ran, but something failed
inline constexpr int kExitUsage = 2;    // bad configuration or arguments; nothing done

// How long `vsl gateway` and `vsl serve` wait on stop for librbd's last
// completions and image closes (volume::WaitRbdQuiet) before they exit.
inline constexpr std::chrono::seconds kRbdQuietWait{30};

void AddGatewayCommands(CLI::App& app, RunFn* run);
// Hidden `vsl completion`: walks `app` (all groups added) when run.
void AddCompletionCommand(CLI::App& app, RunFn* run);
// `vsl backup-store`: the backup store alone (backup_store_command.cc).
void AddBackupStoreCommands(CLI::App& app, RunFn* run);

}  // namespace vsl::cli
