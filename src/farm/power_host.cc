#include "farm/power_host.h"

namespace vsl::farm {

Result<PowerHost> LoadPowerHost(catalog::Catalog& catalog, const std::string& host) {
  PowerHost ph;
  VSL_RETURN_IF_ERROR(catalog.Read([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(catalog::Host h, catalog.GetHostByName(tx, host));
    ph = PowerHost{};
    ph.name = h.name;
    ph.initiator = h.initiators.empty() ? "" : h.initiators[0];
    ph.chap_user = h.chap_user;
    ph.chap_secret = h.chap_secret;
    ph.mutual_user = h.mutual_chap_user;
    ph.mutual_secret = h.mutual_chap_secret;
    ph.bmc = BmcAccess{h.bmc.address, static_cast<int>(h.bmc.port), h.bmc.user, h.bmc.password, h.bmc.bootdev};
    return Status::Ok();
  }));
  return ph;
}

}  // namespace vsl::farm
