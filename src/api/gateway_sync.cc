#include "api/gateway_sync.h"

#include "catalog/catalog.h"
#include "gateway/gateway.h"
#include "manager/storage_manager.h"

namespace vsl::api {

Result<int> LoadGatewayFromCatalog(ApiContext& ctx) {
  if (ctx.gateway == nullptr) return 0;
  std::vector<gateway::HostConfig> configs;
  VSL_RETURN_IF_ERROR(ctx.catalog->Read([&](catalog::Tx& tx) -> Status {
    VSL_ASSIGN_OR_RETURN(auto hosts, ctx.catalog->ListHosts(tx));
    for (const catalog::Host& h : hosts) {
      gateway::HostConfig c;
      c.name = h.name;
      c.initiators = h.initiators;
      if (!h.chap_secret.empty()) c.chap = gateway::Chap{h.chap_user.empty() ? h.name : h.chap_user, h.chap_secret};
      if (!h.mutual_chap_secret.empty()) c.mutual_chap = gateway::Chap{h.mutual_chap_user, h.mutual_chap_secret};
      VSL_ASSIGN_OR_RETURN(auto bindings, ctx.catalog->BindingsOfHost(tx, h.id));
      for (const catalog::Binding& b : bindings) {
        if (!b.mapped) continue;
        VSL_ASSIGN_OR_RETURN(catalog::Volume v, ctx.catalog->GetVolume(tx, b.volume_id));
        auto members = ctx.manager->ops().Resolve(tx, v);
        if (!members.ok()) return members.status().Annotate("loading host '" + h.name + "' into the gateway");
        gateway::LunConfig l;
        l.lun = static_cast<uint64_t>(b.lun);
        l.volume_id = std::to_string(v.id);
        for (const auto& m : *members) {
          auto ext = m.array->Locate(m.volume.array_volume);
          if (!ext.ok()) return ext.status().Annotate("locating volume " + std::to_string(m.volume.id));
          l.extents.insert(l.extents.end(), ext->begin(), ext->end());
        }
        c.luns.push_back(std::move(l));
      }
      configs.push_back(std::move(c));
    }
    return Status::Ok();
  }));
  for (const auto& c : configs) {
    Status s = ctx.gateway->SetHost(c);
    if (!s.ok()) return s.Annotate("loading host '" + c.name + "' into the gateway");
  }
  return static_cast<int>(configs.size());
}

}  // namespace vsl::api
