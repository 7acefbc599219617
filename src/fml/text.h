// Small text helpers for reading FML and wording its messages. Internal.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace vsl::fml {

using Names = std::initializer_list<std::string_view>;

// XML white space only (or nothing).
bool IsBlank(std::string_view s);
// Without leading and trailing XML white space.
std::string Trim(std::string_view s);
std::string Lower(std::string_view s);
// A value as shown in a message: in double quotes, cut after 40 bytes (at a
// character boundary, so valid UTF-8 stays valid),
// control characters shown as '?', so that no input can break a message line.
std::string Quote(std::string_view s);
// "a, b or c"; with `angle`, "<a>, <b> or <c>".
std::string OneOf(Names names, bool angle);
bool Contains(Names names, std::string_view s);

}  // namespace vsl::fml
