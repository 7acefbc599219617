// ReadXml: FML text -> FarmSpec, checking syntax but not cross-references.
#include <cctype>
#include <pugixml.hpp>
#include <set>
#include <string>

#include "fml/fml.h"
#include "util/names.h"
#include "util/qos.h"
#include "util/utf8.h"
#include "fml/source.h"
#include "fml/text.h"

namespace vsl::fml {

namespace {

const Names kDriveTypes = {"scsi",        "iscsi",   "fibre-channel", "std",  "raid",
                           "performance", "spindle", "bandwidth",     "other"};

// What pugixml could not read, and what it expected instead.
std::string XmlProblem(const pugi::xml_parse_result& parsed) {
  switch (parsed.status) {
    case pugi::status_bad_start_element:
      return "cannot read this start tag; expected <name attribute=\"value\" ...> with the "
             "attributes separated by white space (no commas)";
    case pugi::status_bad_attribute:
      return "cannot read an attribute; expected name=\"value\" with the value in quotes";
    case pugi::status_bad_end_element:
      return "cannot read this closing tag; expected </name>";
    case pugi::status_end_element_mismatch:
      return "this closing tag does not match the element it closes";
    case pugi::status_no_document_element:
      return "no root element; expected <farm>";
    case pugi::status_bad_doctype:
      return "a DOCTYPE that cannot be read; FML allows no DOCTYPE";
    case pugi::status_unrecognized_tag:
      return "unrecognized markup; expected an element, a comment or text";
    default:
      return parsed.description();
  }
}

class Reader {
 public:
  Reader(std::string_view text, std::string_view file)
      : src_(text, file), diag_(std::string(file)) {}

  Result<FarmSpec> Read();
  Status CheckCharacters();

 private:
  size_t Offset(pugi::xml_node n) const {
    ptrdiff_t o = n.offset_debug();
    return o < 0 ? 0 : static_cast<size_t>(o);
  }
  // An element's place is its '<'; pugixml points one past it, at the name.
  Loc LocOf(pugi::xml_node n) const {
    size_t o = Offset(n);
    if (n.type() == pugi::node_element && o > 0) --o;
    return src_.LocAt(o);
  }
  Loc AttrLoc(pugi::xml_node n, std::string_view name) const {
    size_t at = src_.AttributeOffset(Offset(n), name);
    return at == Offset(n) ? LocOf(n) : src_.LocAt(at);
  }
  void Error(Loc loc, std::string message) { diag_.Add(loc, std::move(message)); }

  void CheckAttributes(pugi::xml_node n, Names allowed);
  bool Attr(pugi::xml_node n, std::string_view name, bool required, std::string* value,
            Loc* loc = nullptr);
  std::string Text(pugi::xml_node n, Loc* loc);
  // Walks the children of a container element: elements go to `on_element`,
  // anything but white space is reported.
  template <typename F>
  void Children(pugi::xml_node n, F on_element);
  void Unknown(pugi::xml_node child, pugi::xml_node parent, Names expected);
  bool Once(pugi::xml_node child, pugi::xml_node parent, bool* seen);
  bool NeedVersion12(pugi::xml_node n, const FarmSpec& spec);

  int Count(pugi::xml_node n);
  bool Size(pugi::xml_node n, std::string_view attr, uint64_t* out);
  bool Target(pugi::xml_node n, int* out, Loc* loc);
  bool DriveType(pugi::xml_node n, std::string* out);
  void DiskAttributes(pugi::xml_node a, std::vector<DiskAttribute>* attributes,
                      std::string* raid_level, std::vector<std::string>* backup_policies,
                      std::string* qos, std::string* cache, bool* cache_given);

  void ReadFarm(pugi::xml_node n, FarmSpec* spec);
  void ReadTier(pugi::xml_node n, Tier* tier);
  void ReadRole(pugi::xml_node n, const FarmSpec& spec, ServerRole* role);
  void ReadDisk(pugi::xml_node n, Disk* disk);
  void ReadSharedDisk(pugi::xml_node n, SharedDisk* shared);
  void ReadGlobalDisk(pugi::xml_node n, GlobalDisk* global);
  void ReadSubnet(pugi::xml_node n, Subnet* subnet);

  Source src_;
  Diagnostics diag_;
};

void Reader::CheckAttributes(pugi::xml_node n, Names allowed) {
  std::set<std::string_view> seen;
  for (pugi::xml_attribute a : n.attributes()) {
    std::string_view name = a.name();
    if (!Contains(allowed, name)) {
      Error(AttrLoc(n, name),
            "unknown attribute " + Quote(name) + " on <" + n.name() + ">; expected " +
                (allowed.size() == 0 ? std::string("no attributes") : OneOf(allowed, false)));
    } else if (!seen.insert(name).second) {
      Error(LocOf(n), "attribute " + Quote(name) + " given twice on <" + n.name() + ">");
    }
  }
}

bool Reader::Attr(pugi::xml_node n, std::string_view name, bool required, std::string* value,
                  Loc* loc) {
  pugi::xml_attribute a = n.attribute(std::string(name).c_str());
  if (!a) {
    if (required) {
      Error(LocOf(n),
            "<" + std::string(n.name()) + "> is missing the required attribute " + Quote(name));
    }
    return false;
  }
  *value = a.value();
  if (loc != nullptr) *loc = AttrLoc(n, name);
  return true;
}

std::string Reader::Text(pugi::xml_node n, Loc* loc) {
  std::string text;
  bool placed = false;
  *loc = LocOf(n);
  for (pugi::xml_node c : n.children()) {
    if (c.type() == pugi::node_element) {
      Error(LocOf(c), "unexpected element <" + std::string(c.name()) + "> in <" + n.name() +
                          ">; expected text only");
    } else if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) {
      if (!placed && !IsBlank(c.value())) {
        *loc = c.type() == pugi::node_pcdata ? src_.LocAt(src_.SkipSpace(Offset(c)))
                                             : src_.LocAt(Offset(c));
        placed = true;
      }
      text += c.value();
    }
  }
  return Trim(text);
}

template <typename F>
void Reader::Children(pugi::xml_node n, F on_element) {
  for (pugi::xml_node c : n.children()) {
    if (c.type() == pugi::node_element) {
      on_element(c);
    } else if ((c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) &&
               !IsBlank(c.value())) {
      Error(src_.LocAt(src_.SkipSpace(Offset(c))), "unexpected text " + Quote(Trim(c.value())) +
                                                       " in <" + n.name() +
                                                       ">; expected elements only");
    }
  }
}

void Reader::Unknown(pugi::xml_node child, pugi::xml_node parent, Names expected) {
  Error(LocOf(child),
        "unknown element <" + std::string(child.name()) + "> in <" + parent.name() +
            ">; expected " +
            (expected.size() == 0 ? std::string("no child elements") : OneOf(expected, true)));
}

bool Reader::Once(pugi::xml_node child, pugi::xml_node parent, bool* seen) {
  if (*seen) {
    Error(LocOf(child),
          "<" + std::string(parent.name()) + "> has a second <" + child.name() + ">; expected one");
    return false;
  }
  *seen = true;
  return true;
}

bool Reader::NeedVersion12(pugi::xml_node n, const FarmSpec& spec) {
  if (spec.version == "1.1") {
    Error(LocOf(n), "<" + std::string(n.name()) +
                        "> needs fmlversion \"1.2\"; this farm is fmlversion \"1.1\"");
    return false;
  }
  return true;
}

// The text of a server-count element: a whole number up to kMaxServersPerTier.
int Reader::Count(pugi::xml_node n) {
  Loc loc;
  std::string text = Text(n, &loc);
  int value = 0;
  bool ok = !text.empty() && text.size() <= 6;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) ok = false;
  }
  if (ok) value = std::stoi(text);
  if (!ok || value > kMaxServersPerTier) {
    Error(loc, std::string(n.name()) + " " + Quote(text) +
                   " is not a server count; expected a whole number from 0 to " +
                   std::to_string(kMaxServersPerTier));
    return -1;
  }
  return value;
}

bool Reader::Size(pugi::xml_node n, std::string_view attr, uint64_t* out) {
  std::string text;
  Loc loc;
  if (!Attr(n, attr, true, &text, &loc)) return false;
  Result<uint64_t> size = ParseSize(text);
  if (!size.ok()) {
    Error(loc, std::string(attr) + " " + size.status().message());
    return false;
  }
  *out = *size;
  return true;
}

bool Reader::Target(pugi::xml_node n, int* out, Loc* loc) {
  std::string text;
  if (!Attr(n, "target", false, &text, loc)) return false;
  bool ok = !text.empty() && text.size() <= 3;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) ok = false;
  }
  if (!ok || std::stoi(text) > kMaxTarget) {
    Error(*loc, "target " + Quote(text) + " is not a SCSI target; expected a number from 0 to " +
                    std::to_string(kMaxTarget));
    return false;
  }
  *out = std::stoi(text);
  return true;
}

bool Reader::DriveType(pugi::xml_node n, std::string* out) {
  std::string text;
  Loc loc;
  if (!Attr(n, "drivetype", false, &text, &loc)) return false;
  if (!Contains(kDriveTypes, Lower(text))) {
    Error(loc, "drivetype " + Quote(text) + " is not known; expected " + OneOf(kDriveTypes, false));
    return false;
  }
  *out = text;
  return true;
}

void Reader::DiskAttributes(pugi::xml_node a, std::vector<DiskAttribute>* attributes,
                            std::string* raid_level, std::vector<std::string>* backup_policies,
                            std::string* qos, std::string* cache, bool* cache_given) {
  CheckAttributes(a, {"name", "value"});
  Children(a, [&](pugi::xml_node c) { Unknown(c, a, {}); });
  DiskAttribute attr;
  attr.loc = LocOf(a);
  bool has_name = Attr(a, "name", true, &attr.name);
  bool has_value = Attr(a, "value", true, &attr.value);
  if (!has_name || !has_value) return;
  if (attr.name.empty()) {
    Error(AttrLoc(a, "name"),
          "<attribute> has an empty name; expected e.g. raid-level or "
          "backup-policy");
    return;
  }
  if (attr.name == "raid-level") {
    if (!raid_level->empty()) {
      Error(attr.loc, "a second raid-level attribute; expected one per disk");
      return;
    }
    if (attr.value.empty()) {
      Error(AttrLoc(a, "value"), "raid-level is empty; expected a RAID level such as \"0+1\"");
      return;
    }
    *raid_level = attr.value;
  } else if (attr.name == "backup-policy") {
    backup_policies->push_back(attr.value);
  } else if (attr.name == "qos") {
    if (!qos->empty()) {
      Error(attr.loc, "a second qos attribute; expected one per disk (e.g. value=\"iops=2000,mbps=100\")");
      return;
    }
    Result<QosLimits> limits = ParseQos(attr.value);
    if (!limits.ok() || limits->empty()) {
      Error(AttrLoc(a, "value"),
            "qos: " + (limits.ok() ? std::string("no limit given; expected KEY=N,... such as iops=2000,mbps=100")
                                   : limits.status().message()));
      return;
    }
    *qos = FormatQos(*limits);
  } else if (attr.name == "cache") {
    if (*cache_given) {
      Error(attr.loc,
            "a second cache attribute; expected one per disk (value=\"read\" or \"none\")");
      return;
    }
    if (attr.value != "read" && attr.value != "none") {
      Error(AttrLoc(a, "value"),
            "cache: '" + attr.value + "' is no cache policy; expected read or none");
      return;
    }
    *cache_given = true;
    *cache = attr.value == "read" ? "read" : "";
  }
  attributes->push_back(std::move(attr));
}

void Reader::ReadDisk(pugi::xml_node n, Disk* disk) {
  CheckAttributes(n, {"target", "drivename", "drivetype", "drivesize"});
  disk->loc = LocOf(n);
  disk->target_given = Target(n, &disk->target, &disk->target_loc);
  bool has_target = static_cast<bool>(n.attribute("target"));
  bool has_name = Attr(n, "drivename", false, &disk->drivename, &disk->drivename_loc);
  if (!has_target && !has_name) {
    Error(disk->loc, "<disk> needs a target or a drivename attribute");
  } else if (has_name && disk->drivename.empty()) {
    Error(disk->drivename_loc, "drivename is empty; expected a name such as \"/home\"");
  }
  if (has_target && !has_name && !n.attribute("drivetype")) {
    Error(disk->loc, "<disk> with a target is missing the required attribute \"drivetype\"");
  }
  DriveType(n, &disk->drivetype);
  Size(n, "drivesize", &disk->size_bytes);
  bool seen_image = false;
  Children(n, [&](pugi::xml_node c) {
    std::string_view name = c.name();
    if (name == "diskimage") {
      if (!Once(c, n, &seen_image)) return;
      CheckAttributes(c, {"type"});
      std::string type;
      Loc type_loc;
      if (Attr(c, "type", false, &type, &type_loc) && type != "system") {
        Error(type_loc, "diskimage type " + Quote(type) + " is not supported; expected \"system\"");
      }
      Loc loc;
      disk->image = Text(c, &loc);
      if (disk->image.empty()) {
        Error(loc, "<diskimage> is empty; expected the name of an image");
      }
    } else if (name == "attribute") {
      DiskAttributes(c, &disk->attributes, &disk->raid_level, &disk->backup_policies, &disk->qos,
                     &disk->cache, &disk->cache_given);
    } else {
      Unknown(c, n, {"diskimage", "attribute"});
    }
  });
}

void Reader::ReadSharedDisk(pugi::xml_node n, SharedDisk* shared) {
  CheckAttributes(n, {"global-name", "target", "drivetype"});
  Children(n, [&](pugi::xml_node c) { Unknown(c, n, {}); });
  shared->loc = LocOf(n);
  Attr(n, "global-name", true, &shared->global_name, &shared->global_name_loc);
  if (!n.attribute("target")) {
    Error(shared->loc, "<shared-disk> is missing the required attribute \"target\"");
  }
  Target(n, &shared->target, &shared->target_loc);
  DriveType(n, &shared->drivetype);
}

void Reader::ReadRole(pugi::xml_node n, const FarmSpec& spec, ServerRole* role) {
  CheckAttributes(n, {"id", "name"});
  role->loc = LocOf(n);
  Attr(n, "id", true, &role->id);
  Attr(n, "name", false, &role->name);
  bool seen_hw = false;
  Children(n, [&](pugi::xml_node c) {
    std::string_view name = c.name();
    if (name == "hw") {
      if (!Once(c, n, &seen_hw)) return;
      CheckAttributes(c, {});
      role->hw = Text(c, &role->hw_loc);
      if (role->hw.empty()) Error(role->hw_loc, "<hw> is empty; expected a hardware type");
    } else if (name == "disk") {
      role->disks.emplace_back();
      ReadDisk(c, &role->disks.back());
    } else if (name == "shared-disk") {
      if (!NeedVersion12(c, spec)) return;
      role->shared_disks.emplace_back();
      ReadSharedDisk(c, &role->shared_disks.back());
    } else {
      Unknown(c, n, {"hw", "disk", "shared-disk"});
    }
  });
  if (!seen_hw) Error(role->loc, "<server-role> needs a <hw> element naming its hardware type");
}

void Reader::ReadTier(pugi::xml_node n, Tier* tier) {
  CheckAttributes(n, {"id", "name"});
  tier->loc = LocOf(n);
  Attr(n, "id", true, &tier->id);
  Attr(n, "name", false, &tier->name);
  bool seen_role = false, seen_min = false, seen_max = false, seen_init = false;
  auto count = [&](pugi::xml_node c, bool* seen, int* value, Loc* loc) {
    if (!Once(c, n, seen)) return;
    CheckAttributes(c, {});
    *loc = LocOf(c);
    int v = Count(c);
    if (v >= 0) *value = v;
  };
  Children(n, [&](pugi::xml_node c) {
    std::string_view name = c.name();
    if (name == "interface") {
      CheckAttributes(c, {"name", "subnet"});
      Children(c, [&](pugi::xml_node cc) { Unknown(cc, c, {}); });
      Interface& itf = tier->interfaces.emplace_back();
      itf.loc = LocOf(c);
      Attr(c, "name", true, &itf.name);
      Attr(c, "subnet", true, &itf.subnet, &itf.subnet_loc);
    } else if (name == "role") {
      if (!Once(c, n, &seen_role)) return;
      CheckAttributes(c, {});
      tier->role = Text(c, &tier->role_loc);
      if (tier->role.empty()) Error(tier->role_loc, "<role> is empty; expected a server-role id");
    } else if (name == "min-servers") {
      count(c, &seen_min, &tier->min_servers, &tier->min_loc);
    } else if (name == "max-servers") {
      count(c, &seen_max, &tier->max_servers, &tier->max_loc);
    } else if (name == "init-servers") {
      count(c, &seen_init, &tier->init_servers, &tier->init_loc);
    } else {
      Unknown(c, n, {"interface", "role", "min-servers", "max-servers", "init-servers"});
    }
  });
  if (!seen_role) Error(tier->loc, "<tier> needs a <role> element naming its server-role");
  if (!seen_init) Error(tier->loc, "<tier> needs an <init-servers> element");
}

void Reader::ReadGlobalDisk(pugi::xml_node n, GlobalDisk* global) {
  CheckAttributes(n, {"global-name", "drivesize", "drivetype"});
  global->loc = LocOf(n);
  if (Attr(n, "global-name", true, &global->global_name, &global->global_name_loc) &&
      global->global_name.empty()) {
    Error(global->global_name_loc, "global-name is empty; expected the disk's farm-wide name");
  }
  Size(n, "drivesize", &global->size_bytes);
  DriveType(n, &global->drivetype);
  Children(n, [&](pugi::xml_node c) {
    if (std::string_view(c.name()) == "attribute") {
      DiskAttributes(c, &global->attributes, &global->raid_level, &global->backup_policies,
                     &global->qos, &global->cache, &global->cache_given);
    } else {
      Unknown(c, n, {"attribute"});
    }
  });
}

void Reader::ReadSubnet(pugi::xml_node n, Subnet* subnet) {
  CheckAttributes(n, {"id", "name", "ip", "mask", "vlan"});
  Children(n, [&](pugi::xml_node c) { Unknown(c, n, {}); });
  subnet->loc = LocOf(n);
  Attr(n, "id", true, &subnet->id);
  Attr(n, "name", false, &subnet->name);
  Attr(n, "ip", false, &subnet->ip);
  Attr(n, "vlan", false, &subnet->vlan);
  Loc mask_loc;
  if (Attr(n, "mask", false, &subnet->mask, &mask_loc)) {
    int parts = 0, digits = 0, value = 0;
    bool ok = true;
    for (char c : subnet->mask + ".") {
      if (c == '.') {
        ok = ok && digits > 0 && value <= 255;
        ++parts;
        digits = value = 0;
      } else if (std::isdigit(static_cast<unsigned char>(c)) && digits < 3) {
        value = value * 10 + (c - '0');
        ++digits;
      } else {
        ok = false;
      }
    }
    if (!ok || parts != 4) {
      Error(mask_loc, "mask " + Quote(subnet->mask) +
                          " is not a network mask; expected four numbers such as 255.255.255.0");
    }
  }
}

void Reader::ReadFarm(pugi::xml_node n, FarmSpec* spec) {
  CheckAttributes(n, {"fmlversion", "name"});
  spec->loc = LocOf(n);
  Loc version_loc;
  if (Attr(n, "fmlversion", true, &spec->version, &version_loc) && spec->version != "1.1" &&
      spec->version != "1.2") {
    Error(version_loc,
          "fmlversion " + Quote(spec->version) + " is not supported; expected \"1.1\" or \"1.2\"");
  }
  spec->name_given = Attr(n, "name", false, &spec->name, &spec->name_loc);
  Children(n, [&](pugi::xml_node c) {
    std::string_view name = c.name();
    if (name == "tier") {
      spec->tiers.emplace_back();
      ReadTier(c, &spec->tiers.back());
    } else if (name == "server-role") {
      spec->roles.emplace_back();
      ReadRole(c, *spec, &spec->roles.back());
    } else if (name == "subnet") {
      spec->subnets.emplace_back();
      ReadSubnet(c, &spec->subnets.back());
    } else if (name == "farm-global-disks") {
      if (!NeedVersion12(c, *spec)) return;
      CheckAttributes(c, {});
      Children(c, [&](pugi::xml_node g) {
        if (std::string_view(g.name()) == "global-disk") {
          spec->global_disks.emplace_back();
          ReadGlobalDisk(g, &spec->global_disks.back());
        } else {
          Unknown(g, c, {"global-disk"});
        }
      });
    } else {
      Unknown(c, n, {"tier", "server-role", "subnet", "farm-global-disks"});
    }
  });
}

// The first byte XML 1.0 (§2.2) does not allow in a document: ill-formed
// UTF-8 or a control character other than tab, LF and CR. Checked before
// pugixml sees the text, so every later stage (messages, JSON, the catalog)
// only ever holds valid UTF-8.
Status Reader::CheckCharacters() {
  const std::string_view text = src_.text();
  const size_t bad = FirstInvalidUtf8(text);
  for (size_t i = 0; i < bad; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
      Error(src_.LocAt(i), "control character " + Printable(text.substr(i, 1)) +
                               " is not allowed in XML; expected text, tab or line breaks");
      return diag_.ToStatus();
    }
  }
  if (bad == text.size()) return Status::Ok();
  Error(src_.LocAt(bad), "not valid UTF-8 (byte " + Printable(text.substr(bad, 1)) +
                             "); FML files are UTF-8 text");
  return diag_.ToStatus();
}

Result<FarmSpec> Reader::Read() {
  VSL_RETURN_IF_ERROR(CheckCharacters());
  pugi::xml_document doc;
  // parse_doctype makes a DOCTYPE a node so that it can be refused; pugixml
  // never expands entities other than the five predefined ones.
  const unsigned options = pugi::parse_default | pugi::parse_doctype | pugi::parse_fragment;
  pugi::xml_parse_result parsed =
      doc.load_buffer(src_.text().data(), src_.text().size(), options, pugi::encoding_utf8);
  if (!parsed) {
    size_t at = parsed.offset < 0 ? 0 : static_cast<size_t>(parsed.offset);
    Error(src_.LocAt(at), "malformed XML: " + XmlProblem(parsed));
    return diag_.ToStatus();
  }
  FarmSpec spec;
  spec.file = src_.file();
  spec.name = FarmNameFromFile(src_.file());
  pugi::xml_node farm;
  for (pugi::xml_node c : doc.children()) {
    if (c.type() == pugi::node_doctype) {
      // The doctype node points at its contents; back up to "<!DOCTYPE".
      size_t at = src_.text().rfind("<!DOCTYPE", Offset(c));
      Error(src_.LocAt(at == std::string_view::npos ? Offset(c) : at),
            "DOCTYPE is not allowed in FML (no DTDs, entities or external references); "
            "expected <farm> as the only content");
    } else if ((c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) &&
               !IsBlank(c.value())) {
      Error(src_.LocAt(src_.SkipSpace(Offset(c))),
            "unexpected text " + Quote(Trim(c.value())) + " outside <farm>");
    } else if (c.type() == pugi::node_element) {
      if (std::string_view(c.name()) != "farm") {
        Error(LocOf(c), "the root element is <" + std::string(c.name()) + ">; expected <farm>");
      } else if (farm) {
        Error(LocOf(c), "a second <farm> element; expected one per file");
      } else {
        farm = c;
      }
    }
  }
  if (farm) {
    ReadFarm(farm, &spec);
  } else if (diag_.empty()) {
    Error(Loc{1, 1}, "no <farm> element; expected an FML document");
  }
  if (!diag_.empty()) return diag_.ToStatus();
  return spec;
}

}  // namespace

Status CheckEncoding(std::string_view text, std::string_view file) {
  return Reader(text, file).CheckCharacters();
}

Result<FarmSpec> ReadXml(std::string_view text, std::string_view file) {
  return Reader(text, file).Read();
}

}  // namespace vsl::fml
