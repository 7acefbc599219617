#include "backup/chain.h"

#include "backup/store.h"

namespace vsl::backup {

Result<std::unique_ptr<ChainCursor>> ChainCursor::Open(const Store& store,
                                                       const std::vector<ManifestSummary>& chain) {
  auto c = std::make_unique<ChainCursor>();
  for (const ManifestSummary& m : chain) {
    const std::string& id = m.header.id;
    VSL_ASSIGN_OR_RETURN(std::unique_ptr<ManifestReader> r, store.OpenManifest(id));
    VSL_ASSIGN_OR_RETURN(std::optional<Extent> first, r->Next());
    c->readers_.push_back(std::move(r));
    c->current_.push_back(first);
  }
  return c;
}

Result<std::optional<ChainEntry>> ChainCursor::Next() {
  std::optional<uint64_t> lowest;
  for (const auto& e : current_)
    if (e && (!lowest || e->offset < *lowest)) lowest = e->offset;
  if (!lowest) return std::optional<ChainEntry>();
  std::optional<ChainEntry> out;
  for (size_t i = 0; i < current_.size(); i++) {
    if (!current_[i] || current_[i]->offset != *lowest) continue;
    out = ChainEntry{*current_[i], i};  // later members are younger: the last wins
    VSL_ASSIGN_OR_RETURN(current_[i], readers_[i]->Next());
  }
  return out;
}

}  // namespace vsl::backup
