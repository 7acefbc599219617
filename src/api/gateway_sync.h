// Loading the gateway from the catalog: at start `vsl serve` gives the
// gateway every host and every mapped binding the catalog records, so the
// data plane serves exactly what the control database says.
#pragma once

#include "api/api.h"

namespace vsl::api {

// ctx.gateway gets SetHost for every catalog host, with the LUNs of its
// mapped bindings. Returns the number of hosts loaded.
Result<int> LoadGatewayFromCatalog(ApiContext& ctx);

}  // namespace vsl::api
