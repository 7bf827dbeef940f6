// text.h — the small string helpers several parts of destsim need alike.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace destsim {

/// The parts of `text` between the `sep` characters, empty ones included, as
/// views into `text`: "a,,b" → {"a", "", "b"}; "" → {""}; "/a/" → {"", "a", ""}.
std::vector<std::string_view> split(std::string_view text, char sep);

/// `text` without its leading and trailing spaces.
std::string_view trim_spaces(std::string_view text);

/// Whether `text` is well-formed UTF-8 (no overlongs, surrogates or code points
/// past U+10FFFF). A hand-written check: 20 lines, not worth a dependency.
bool valid_utf8(std::string_view text);

/// RFC 4648 base64 (standard alphabet, padded): HTTP Basic credentials.
std::string base64_encode(std::string_view bytes);

}  // namespace destsim
