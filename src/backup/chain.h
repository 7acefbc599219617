// Walks the chunks a chain of backups holds, in ascending offset order, each
// with the extent of the youngest backup that has it: what a restore writes
// and what a level 1 by checksum compares with. Streams every manifest at
// once (one line buffer each); each manifest is checked again as it is read.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backup/manifest.h"

namespace vsl::backup {

class Store;

struct ChainEntry {
  Extent extent;
  size_t member = 0;  // index in the chain (0: the level 0)
};

class ChainCursor {
 public:
  // `chain`: store.Chain's answer.
  static Result<std::unique_ptr<ChainCursor>> Open(const Store& store, const std::vector<ManifestSummary>& chain);
  // The next chunk any member holds; nullopt after the last.
  Result<std::optional<ChainEntry>> Next();

 private:
  std::vector<std::unique_ptr<ManifestReader>> readers_;
  std::vector<std::optional<Extent>> current_;  // nullopt: that reader is at its end
};

}  // namespace vsl::backup
