// The catalog's rows as the API's JSON objects (docs/api.md lists the fields).
#pragma once

#include <vector>

#include "api/api.h"
#include "catalog/records.h"

namespace vsl::api {

Json ArrayJson(const catalog::ArrayRecord& a, bool with_dwml);
Json VolumeJson(const catalog::Volume& v);
Json BindingJson(const catalog::Binding& b);
// The CHAP secrets are left out unless `with_secrets` (only at creation).
Json HostJson(const catalog::Host& h, bool with_secrets);
Json ImageJson(const catalog::Image& i);
Json RequestJson(const catalog::Request& r);
Json EventJson(const catalog::Event& e);

}  // namespace vsl::api
