#include "api/records_json.h"

#include "util/qos.h"

namespace vsl::api {
namespace {

Json OptInt(const std::optional<int64_t>& v) { return v ? Json(*v) : Json(nullptr); }

Json QualitiesJson(const catalog::Qualities& q) {
  Json j = Json::object();
  for (const auto& [k, v] : q) j[k] = v;
  return j;
}

// A stored JSON text as a value; text that is not JSON stays a string.
Json Embedded(const std::string& text) {
  if (text.empty()) return nullptr;
  Json j = Json::parse(text, nullptr, false);
  return j.is_discarded() ? Json(text) : j;
}

}  // namespace

Json ArrayJson(const catalog::ArrayRecord& a, bool with_dwml) {
  Json j = {{"id", a.id},
            {"name", a.name},
            {"driver", a.driver},
            {"config", Embedded(a.config)},
            {"capacity", a.capacity},
            {"volume_size", a.volume_size},
            {"qualities", QualitiesJson(a.qualities)},
            {"discovered_ms", a.discovered_ms},
            {"created_ms", a.created_ms}};
  if (with_dwml) j["dwml"] = a.dwml;
  return j;
}

// The limits as an object of the keys set ("iops", "read_iops", ...; the
// text form's dashes become underscores); {} for none.
Json QosJson(const std::string& text) {
  Json out = Json::object();
  auto q = ParseQos(text);
  if (!q.ok()) return out;
  for (int k = 0; k < QosLimits::kKeys; ++k) {
    uint64_t v = (*q)[QosLimits::Key(k)];
    if (v == 0) continue;
    std::string name(QosKeyName(QosLimits::Key(k)));
    for (char& c : name) c = c == '-' ? '_' : c;
    out[name] = v;
  }
  return out;
}

Json VolumeJson(const catalog::Volume& v) {
  return {{"id", v.id},
          {"array_id", OptInt(v.array_id)},
          {"array_volume", v.array_volume},
          {"type", v.type},
          {"size", v.size},
          {"parent_id", OptInt(v.parent_id)},
          {"member_order", v.member_order},
          {"bcv_id", OptInt(v.bcv_id)},
          {"farm_id", OptInt(v.farm_id)},
          {"state", std::string(catalog::DiskStateName(v.state))},
          {"prior_state", v.prior_state ? Json(std::string(catalog::DiskStateName(*v.prior_state)))
                                        : Json(nullptr)},
          {"clean", v.clean},
          {"image_id", OptInt(v.image_id)},
          {"qualities", QualitiesJson(v.qualities)},
          {"request_id", OptInt(v.request_id)},
          {"vanished", v.vanished},
          {"created_ms", v.created_ms},
          {"updated_ms", v.updated_ms},
          {"qos", QosJson(v.qos)},
          {"cache", v.cache}};
}

Json BindingJson(const catalog::Binding& b) {
  return {{"id", b.id},         {"volume_id", b.volume_id}, {"host_id", b.host_id},
          {"port_id", OptInt(b.port_id)}, {"target", b.target}, {"lun", b.lun},
          {"mapped", b.mapped}, {"read_only", b.read_only}, {"created_ms", b.created_ms}};
}

Json HostJson(const catalog::Host& h, bool with_secrets) {
  Json j = {{"id", h.id},
            {"name", h.name},
            {"hw", h.hw_type},
            {"initiators", h.initiators},
            {"chap_user", h.chap_user},
            {"mutual_chap_user", h.mutual_chap_user},
            // The BMC password is never shown, not even in the answer to
            // the call that set it: only whether there is one.
            {"bmc_address", h.bmc.address},
            {"bmc_port", h.bmc.port},
            {"bmc_user", h.bmc.user},
            {"bmc_bootdev", h.bmc.bootdev},
            {"bmc_password_set", !h.bmc.password.empty()},
            {"state", std::string(catalog::HostStateName(h.state))},
            {"farm_id", OptInt(h.farm_id)},
            {"created_ms", h.created_ms}};
  if (with_secrets) {
    j["chap_secret"] = h.chap_secret;
    if (!h.mutual_chap_secret.empty()) j["mutual_chap_secret"] = h.mutual_chap_secret;
  }
  return j;
}

Json ImageJson(const catalog::Image& i) {
  return {{"id", i.id},           {"name", i.name}, {"size", i.size}, {"sha256", i.sha256},
          {"master_volume_id", OptInt(i.master_volume_id)}, {"created_ms", i.created_ms}};
}

Json RequestJson(const catalog::Request& r) {
  return {{"id", r.id},
          {"op", r.op},
          {"args", Embedded(r.args)},
          {"state", std::string(catalog::RequestStateName(r.state))},
          {"actor", r.actor},
          {"lease_owner", r.lease_owner},
          {"attempts", r.attempts},
          {"reason", r.reason},
          {"result", Embedded(r.result)},
          {"created_ms", r.created_ms},
          {"updated_ms", r.updated_ms},
          {"finished_ms", r.finished_ms}};
}

Json EventJson(const catalog::Event& e) {
  return {{"id", e.id},         {"entity", e.entity},   {"entity_id", e.entity_id},
          {"from", e.from_state}, {"to", e.to_state},   {"op", e.op},
          {"actor", e.actor},   {"request_id", OptInt(e.request_id)},
          {"time_ms", e.time_ms}, {"detail", e.detail}};
}

}  // namespace vsl::api
