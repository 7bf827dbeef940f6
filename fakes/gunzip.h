// gunzip.h — how fakes read gzip bodies and files, once (the Lytics and
// Snowpipe fakes, the SFTP fake's .gz rows). Fake-side on purpose: a fake
// must not share the code it checks, and destinations compress with
// framework/gzip.h; both stand on zlib alone.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace destsim {

enum class Gunzip { ok, corrupt, too_large };

/// Inflates one or more whole gzip members filling all of `data` (several in
/// a row are one stream, as Go's and Python's readers take them) into `out`,
/// at most `limit` bytes. Anything else — not gzip, truncated, bytes after the
/// last member — is corrupt, `why` saying how.
Gunzip gunzip_members(std::string_view data, std::int64_t limit, std::string& out, std::string& why);

}  // namespace destsim
