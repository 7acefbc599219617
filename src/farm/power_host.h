// What a power controller needs to know about a host, read from the catalog.
#pragma once

#include <string>

#include "catalog/catalog.h"
#include "farm/power.h"

namespace vsl::farm {

// The host's name, first initiator, CHAP credentials and BMC (no LUNs:
// the farm record knows those). NotFound when there is no such host.
Result<PowerHost> LoadPowerHost(catalog::Catalog& catalog, const std::string& host);

}  // namespace vsl::farm
