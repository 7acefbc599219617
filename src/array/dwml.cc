#include "array/dwml.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <set>
#include <sstream>
#include <pugixml.hpp>

namespace vsl::array {

namespace {

constexpr const char* kVersion = "1";

// ---- writing ----

void AddAttributes(pugi::xml_node parent, const Qualities& q, const Qualities* inherited) {
  for (const auto& [key, value] : q) {
    if (inherited != nullptr) {
      auto it = inherited->find(key);
      if (it != inherited->end() && it->second == value) continue;
    }
    auto a = parent.append_child("attribute");
    a.append_attribute("name") = key.c_str();
    a.append_attribute("value") = value.c_str();
  }
}

// ---- parsing ----

// Line and column (both from 1) of byte `offset` in `text`.
std::string Where(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  size_t line = 1, line_start = 0;
  for (size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return std::to_string(line) + ":" + std::to_string(offset - line_start + 1);
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<WiringMap> Parse();

 private:
  Status Error(size_t offset, const std::string& message) const {
    return InvalidArgument(Where(text_, offset) + ": " + message);
  }
  // pugixml's offset of an element is its name; point at the '<' before it.
  Status Error(pugi::xml_node n, const std::string& message) const {
    size_t offset = static_cast<size_t>(std::max<ptrdiff_t>(n.offset_debug(), 0));
    if (n.type() == pugi::node_element && offset > 0 && offset <= text_.size() &&
        text_[offset - 1] == '<') {
      --offset;
    } else if (n.type() == pugi::node_doctype) {
      size_t start = text_.rfind("<!", offset);
      if (start != std::string_view::npos) offset = start;
    } else if (n.type() == pugi::node_pcdata) {
      size_t first = text_.find_first_not_of(" \t\r\n", offset);
      if (first != std::string_view::npos) offset = first;
    }
    return Error(offset, message);
  }
  Status CheckEntities() const;
  // Refuses attributes not in `allowed` and child elements not in `children`.
  Status CheckShape(pugi::xml_node n, std::initializer_list<const char*> allowed,
                    std::initializer_list<const char*> children) const;
  Result<std::string> Required(pugi::xml_node n, const char* attr) const;
  Result<uint64_t> Number(pugi::xml_node n, const char* attr) const;
  Status ParseAttributes(pugi::xml_node n, Qualities& q) const;
  Result<WiredDevice> ParseDevice(pugi::xml_node n) const;

  std::string_view text_;
};

// pugixml leaves unknown entity references as literal text; refuse them (and
// any DTD trickery) before parsing instead of letting them through as data.
Status Parser::CheckEntities() const {
  static const char* const kKnown[] = {"lt;", "gt;", "amp;", "quot;", "apos;"};
  for (size_t i = 0; i < text_.size(); ++i) {
    if (text_.compare(i, 4, "<!--") == 0) {
      size_t end = text_.find("-->", i + 4);
      if (end == std::string_view::npos) return Status::Ok();  // pugixml reports it
      i = end + 2;
      continue;
    }
    if (text_.compare(i, 9, "<![CDATA[") == 0) {
      size_t end = text_.find("]]>", i + 9);
      if (end == std::string_view::npos) return Status::Ok();
      i = end + 2;
      continue;
    }
    if (text_[i] != '&') continue;
    std::string_view rest = text_.substr(i + 1);
    bool ok = std::any_of(std::begin(kKnown), std::end(kKnown),
                          [&](const char* k) { return rest.starts_with(k); });
    if (!ok && rest.starts_with("#")) {
      size_t j = 1;
      bool hex = rest.size() > 1 && (rest[1] == 'x' || rest[1] == 'X');
      if (hex) ++j;
      size_t digits = 0;
      while (j < rest.size() && (hex ? std::isxdigit(static_cast<unsigned char>(rest[j]))
                                     : std::isdigit(static_cast<unsigned char>(rest[j])))) {
        ++j;
        ++digits;
      }
      ok = digits > 0 && j < rest.size() && rest[j] == ';';
    }
    if (!ok) {
      size_t end = rest.find_first_of("; \t\r\n<\"'");
      if (end != std::string_view::npos && rest[end] == ';') ++end;
      return Error(i, "entity reference '&" + std::string(rest.substr(0, std::min<size_t>(end, 40))) +
                          "' is not allowed in a wiring map (only &lt; &gt; &amp; &quot; &apos; "
                          "and character references)");
    }
  }
  return Status::Ok();
}

Status Parser::CheckShape(pugi::xml_node n, std::initializer_list<const char*> allowed,
                          std::initializer_list<const char*> children) const {
  std::set<std::string> seen;
  for (pugi::xml_attribute a : n.attributes()) {
    bool known = std::any_of(allowed.begin(), allowed.end(),
                             [&](const char* k) { return std::strcmp(k, a.name()) == 0; });
    if (!known) {
      return Error(n, "<" + std::string(n.name()) + "> has an unknown attribute '" + a.name() + "'");
    }
    if (!seen.insert(a.name()).second) {
      return Error(n, "<" + std::string(n.name()) + "> repeats attribute '" + a.name() + "'");
    }
  }
  for (pugi::xml_node c : n.children()) {
    if (c.type() == pugi::node_comment) continue;
    if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) {
      std::string_view v = c.value();
      if (v.find_first_not_of(" \t\r\n") != std::string_view::npos) {
        return Error(c, "<" + std::string(n.name()) + "> holds text; only elements belong there");
      }
      continue;
    }
    if (c.type() != pugi::node_element) {
      return Error(c, "<" + std::string(n.name()) + "> holds something other than elements");
    }
    bool known = std::any_of(children.begin(), children.end(),
                             [&](const char* k) { return std::strcmp(k, c.name()) == 0; });
    if (!known) {
      return Error(c, "unknown element <" + std::string(c.name()) + "> inside <" + n.name() + ">");
    }
  }
  return Status::Ok();
}

Result<std::string> Parser::Required(pugi::xml_node n, const char* attr) const {
  pugi::xml_attribute a = n.attribute(attr);
  if (!a) return Error(n, "<" + std::string(n.name()) + "> lacks attribute '" + attr + "'");
  if (*a.value() == '\0') {
    return Error(n, "<" + std::string(n.name()) + "> has an empty '" + attr + "'");
  }
  return std::string(a.value());
}

Result<uint64_t> Parser::Number(pugi::xml_node n, const char* attr) const {
  VSL_ASSIGN_OR_RETURN(std::string s, Required(n, attr));
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) {
    return Error(n, "<" + std::string(n.name()) + "> attribute '" + attr + "' is '" + s +
                        "', not a number of bytes");
  }
  return v;
}

Status Parser::ParseAttributes(pugi::xml_node n, Qualities& q) const {
  std::set<std::string> own;
  for (pugi::xml_node a : n.children("attribute")) {
    VSL_RETURN_IF_ERROR(CheckShape(a, {"name", "value"}, {}));
    VSL_ASSIGN_OR_RETURN(std::string name, Required(a, "name"));
    if (!a.attribute("value")) return Error(a, "<attribute name=\"" + name + "\"> lacks 'value'");
    if (!own.insert(name).second) {
      return Error(a, "attribute '" + name + "' appears twice in <" + n.name() + ">");
    }
    q[name] = a.attribute("value").value();
  }
  return Status::Ok();
}

Result<WiredDevice> Parser::ParseDevice(pugi::xml_node n) const {
  VSL_RETURN_IF_ERROR(CheckShape(n, {"name", "driver", "path", "capacity", "volume-size"},
                                 {"attribute", "port", "volume"}));
  WiredDevice d;
  VSL_ASSIGN_OR_RETURN(d.info.name, Required(n, "name"));
  VSL_ASSIGN_OR_RETURN(d.info.driver, Required(n, "driver"));
  d.info.path = n.attribute("path").value();
  VSL_ASSIGN_OR_RETURN(d.info.capacity, Number(n, "capacity"));
  if (n.attribute("volume-size")) {
    VSL_ASSIGN_OR_RETURN(d.info.volume_size, Number(n, "volume-size"));
  }
  VSL_RETURN_IF_ERROR(ParseAttributes(n, d.info.qualities));
  std::set<std::string> ports;
  for (pugi::xml_node p : n.children("port")) {
    VSL_RETURN_IF_ERROR(CheckShape(p, {"name"}, {}));
    VSL_ASSIGN_OR_RETURN(std::string name, Required(p, "name"));
    if (!ports.insert(name).second) {
      return Error(p, "device '" + d.info.name + "' lists port '" + name + "' twice");
    }
    d.info.ports.push_back(name);
  }
  std::set<std::string> ids;
  for (pugi::xml_node v : n.children("volume")) {
    VSL_RETURN_IF_ERROR(CheckShape(v, {"id", "size", "path"}, {"attribute"}));
    ArrayVolume vol;
    VSL_ASSIGN_OR_RETURN(vol.id, Required(v, "id"));
    if (!ids.insert(vol.id).second) {
      return Error(v, "device '" + d.info.name + "' lists volume '" + vol.id + "' twice");
    }
    VSL_ASSIGN_OR_RETURN(vol.size, Number(v, "size"));
    vol.path = v.attribute("path").value();
    vol.qualities = d.info.qualities;
    Qualities own;
    VSL_RETURN_IF_ERROR(ParseAttributes(v, own));
    for (auto& [k, val] : own) vol.qualities[k] = val;
    d.volumes.push_back(std::move(vol));
  }
  return d;
}

Result<WiringMap> Parser::Parse() {
  VSL_RETURN_IF_ERROR(CheckEntities());
  pugi::xml_document doc;
  pugi::xml_parse_result r = doc.load_buffer(text_.data(), text_.size(),
                                             pugi::parse_default | pugi::parse_doctype,
                                             pugi::encoding_utf8);
  if (!r) return Error(static_cast<size_t>(r.offset), r.description());
  pugi::xml_node root;
  for (pugi::xml_node c : doc.children()) {
    if (c.type() == pugi::node_doctype) {
      return Error(c, "a DOCTYPE is not allowed in a wiring map");
    }
    if (c.type() == pugi::node_element) {
      if (root) return Error(c, "a second root element <" + std::string(c.name()) + ">");
      root = c;
    }
  }
  if (!root) return Error(text_.size(), "no <wiring-map> element");
  if (std::strcmp(root.name(), "wiring-map") != 0) {
    return Error(root, "the root element is <" + std::string(root.name()) +
                           ">, not <wiring-map>");
  }
  VSL_RETURN_IF_ERROR(CheckShape(root, {"version"}, {"device"}));
  VSL_ASSIGN_OR_RETURN(std::string version, Required(root, "version"));
  if (version != kVersion) {
    return Error(root, "wiring map version '" + version + "' is not supported (only " +
                           kVersion + ")");
  }
  WiringMap map;
  std::set<std::string> names;
  for (pugi::xml_node d : root.children("device")) {
    VSL_ASSIGN_OR_RETURN(WiredDevice dev, ParseDevice(d));
    if (!names.insert(dev.info.name).second) {
      return Error(d, "device '" + dev.info.name + "' appears twice");
    }
    map.devices.push_back(std::move(dev));
  }
  return map;
}

}  // namespace

Result<WiringMap> DiscoverWiring(std::span<StorageArray* const> arrays) {
  WiringMap map;
  for (StorageArray* a : arrays) {
    WiredDevice d;
    d.info = a->info();
    auto volumes = a->Discover();
    if (!volumes.ok()) return volumes.status().Annotate("discover array '" + d.info.name + "'");
    d.volumes = std::move(volumes).value();
    map.devices.push_back(std::move(d));
  }
  return map;
}

std::string WriteDwml(const WiringMap& map) {
  pugi::xml_document doc;
  auto decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "UTF-8";
  auto root = doc.append_child("wiring-map");
  root.append_attribute("version") = kVersion;
  for (const WiredDevice& d : map.devices) {
    auto dev = root.append_child("device");
    dev.append_attribute("name") = d.info.name.c_str();
    dev.append_attribute("driver") = d.info.driver.c_str();
    if (!d.info.path.empty()) dev.append_attribute("path") = d.info.path.c_str();
    dev.append_attribute("capacity") = std::to_string(d.info.capacity).c_str();
    dev.append_attribute("volume-size") = std::to_string(d.info.volume_size).c_str();
    AddAttributes(dev, d.info.qualities, nullptr);
    for (const auto& p : d.info.ports) dev.append_child("port").append_attribute("name") = p.c_str();
    for (const ArrayVolume& v : d.volumes) {
      auto vol = dev.append_child("volume");
      vol.append_attribute("id") = v.id.c_str();
      vol.append_attribute("size") = std::to_string(v.size).c_str();
      if (!v.path.empty()) vol.append_attribute("path") = v.path.c_str();
      AddAttributes(vol, v.qualities, &d.info.qualities);
    }
  }
  std::ostringstream out;
  doc.save(out, "  ", pugi::format_default, pugi::encoding_utf8);
  return out.str();
}

Result<WiringMap> ParseDwml(std::string_view text) { return Parser(text).Parse(); }

}  // namespace vsl::array
