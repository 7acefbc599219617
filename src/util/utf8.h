// UTF-8 validation (RFC 3629): what nlohmann::json, PostgreSQL and a terminal
// all need before they are handed text from outside.
#pragma once

#include <cstddef>
#include <string_view>

namespace vsl {

// The offset of the first byte that does not start or continue a well-formed
// UTF-8 sequence (overlong forms, surrogates, code points above U+10FFFF and
// truncated sequences are all ill-formed); text.size() when it is all valid.
size_t FirstInvalidUtf8(std::string_view text);
inline bool IsValidUtf8(std::string_view text) { return FirstInvalidUtf8(text) == text.size(); }

}  // namespace vsl
