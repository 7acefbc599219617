// `vsl farm plan|apply|show|list|destroy` and `vsl host console`: the farm
// manager's commands, over the API (/v1/farms, farm/farm_service.h).
#pragma once

#include "cli/commands.h"

namespace vsl::cli {

void AddFarmCommands(CLI::App& app, RunFn* run);

}  // namespace vsl::cli
