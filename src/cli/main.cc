// vsl: one binary, one subcommand group per file (commands.h).
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "cli/api_commands.h"
#include "cli/farm_command.h"

#ifndef VSL_VERSION
#define VSL_VERSION "0.0.0"
#endif

namespace {

// The subcommand groups, in the order `vsl --help` lists them.
constexpr vsl::cli::AddCommandsFn kGroups[] = {
    vsl::cli::AddServeCommands, vsl::cli::AddAdminCommands, vsl::cli::AddDiskCommands,
    vsl::cli::AddGatewayCommands, vsl::cli::AddBackupStoreCommands, vsl::cli::AddBackupCommands,
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vsl: the virtual storage layer"};
  app.set_version_flag("--version", std::string("vsl ") + VSL_VERSION);
  app.require_subcommand(1);
  vsl::cli::RunFn run;
  for (auto add : kGroups) add(app, &run);
  vsl::cli::AddFarmCommands(app, &run);
  vsl::cli::AddCompletionCommand(app, &run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return vsl::cli::kExitUsage;
  }
  if (!run) return vsl::cli::kExitOk;
  // A bug must end in a message and an exit status, never in terminate().
  try {
    return run();
  } catch (const std::exception& e) {
    fprintf(stderr, "vsl: internal: unexpected exception: %s\n", e.what());
    return vsl::cli::kExitFailure;
  }
}
