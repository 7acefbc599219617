#include "fml/source.h"

#include <algorithm>

namespace vsl::fml {

namespace {
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
}  // namespace

Source::Source(std::string_view text, std::string_view file) : text_(text), file_(file) {
  line_starts_.push_back(0);
  for (size_t i = 0; i < text_.size(); ++i) {
    if (text_[i] == '\n') line_starts_.push_back(i + 1);
  }
}

Loc Source::LocAt(size_t offset) const {
  offset = std::min(offset, text_.size());
  auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  size_t line = static_cast<size_t>(it - line_starts_.begin());  // 1-based
  size_t start = line_starts_[line - 1];
  // A byte order mark is not a character anyone sees.
  if (line == 1 && text_.substr(0, 3) == "\xEF\xBB\xBF" && offset >= 3) start = 3;
  int column = 1;
  // Columns count characters: UTF-8 continuation bytes do not start one.
  for (size_t i = start; i < offset; ++i) {
    if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++column;
  }
  return Loc{static_cast<int>(line), column};
}

std::string Source::Where(Loc loc) const {
  return file_ + ":" + std::to_string(loc.line) + ":" + std::to_string(loc.column);
}

size_t Source::SkipSpace(size_t offset) const {
  while (offset < text_.size() && IsSpace(text_[offset])) ++offset;
  return offset;
}

size_t Source::AttributeOffset(size_t name_offset, std::string_view name) const {
  const size_t n = text_.size();
  size_t i = name_offset;
  while (i < n && !IsSpace(text_[i]) && text_[i] != '/' && text_[i] != '>') ++i;
  while (true) {
    i = SkipSpace(i);
    if (i >= n || text_[i] == '/' || text_[i] == '>') return name_offset;
    size_t start = i;
    while (i < n && !IsSpace(text_[i]) && text_[i] != '=') ++i;
    if (text_.substr(start, i - start) == name) return start;
    i = SkipSpace(i);
    if (i < n && text_[i] == '=') i = SkipSpace(i + 1);
    if (i >= n || (text_[i] != '"' && text_[i] != '\'')) return name_offset;
    size_t close = text_.find(text_[i], i + 1);
    if (close == std::string_view::npos) return name_offset;
    i = close + 1;
  }
}

void Diagnostics::Add(Loc loc, std::string message) {
  errors_.push_back({loc, std::move(message)});
}

Status Diagnostics::ToStatus() const {
  if (errors_.empty()) return Status::Ok();
  std::vector<Error> sorted = errors_;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Error& a, const Error& b) {
    return a.loc.line != b.loc.line ? a.loc.line < b.loc.line : a.loc.column < b.loc.column;
  });
  // A file with a systematic mistake can produce thousands; the first ones tell.
  constexpr size_t kMaxShown = 50;
  std::string msg;
  for (size_t i = 0; i < sorted.size() && i < kMaxShown; ++i) {
    if (i > 0) msg += '\n';
    msg += file_ + ":" + std::to_string(sorted[i].loc.line) + ":" +
           std::to_string(sorted[i].loc.column) + ": " + sorted[i].message;
  }
  if (sorted.size() > kMaxShown) {
    msg += "\n(" + std::to_string(sorted.size() - kMaxShown) + " more errors)";
  }
  return InvalidArgument(std::move(msg));
}

}  // namespace vsl::fml
