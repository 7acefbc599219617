// The disk wiring map (DWML, seed §3.4): an XML file describing each device
// (array) with its attributes, ports and volumes, as discovery found them.
// The storage manager records it in the catalog; operators read it.
//
//   <wiring-map version="1">
//     <device name="a1" driver="file" path="/srv/a1" capacity="1073741824"
//             volume-size="0">
//       <attribute name="raid" value="1"/>
//       <port name="port0"/>
//       <volume id="vol-0001" size="67108864" path="/srv/a1/volumes/vol-0001">
//         <attribute name="spindle" value="3"/>
//       </volume>
//     </device>
//   </wiring-map>
//
// A volume inherits its device's attributes; it lists only those it adds or
// overrides. `path` attributes are optional (memory arrays have none).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "array/array.h"

namespace vsl::array {

struct WiredDevice {
  ArrayInfo info;
  std::vector<ArrayVolume> volumes;  // sorted by id, as Discover returns them
  bool operator==(const WiredDevice&) const = default;
};

struct WiringMap {
  std::vector<WiredDevice> devices;  // in the order discovered or written
  bool operator==(const WiringMap&) const = default;
};

// Runs Discover on every array, in order. Fails on the first array that
// fails, naming it.
Result<WiringMap> DiscoverWiring(std::span<StorageArray* const> arrays);

// The map as a DWML document. ParseDwml(WriteDwml(m)) == m for every map whose
// volumes carry their device's qualities (every map DiscoverWiring returns).
std::string WriteDwml(const WiringMap& map);

// Parses a DWML document. Errors start with "line:column: " and name the
// element or attribute at fault. A DOCTYPE, and any entity reference other
// than XML's five and numeric character references, is refused.
Result<WiringMap> ParseDwml(std::string_view text);

}  // namespace vsl::array
