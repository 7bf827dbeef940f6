// gzip.h — gzip (RFC 1952) over zlib, written once: what destinations send
// compressed (SFTP files, declarative bodies, Snowpipe inserts), what the HTTP
// door re-compresses for a fake, what tests read back.
//
// Compression is reproducible: no name, mtime 0, so the same content at the
// same level is the same bytes on every machine (a scenario's trace hash holds).
// Fakes inflate what they are sent with their own reader (fakes/gunzip.h):
// a fake must not share the code it checks.
#pragma once

#include <string>
#include <string_view>

#include "framework/result.h"

namespace destsim {

/// Deflates `data` into one gzip member at `level` (1–9). Inputs of any size
/// (zlib's 32-bit counters are fed in pieces).
Result<std::string> gzip_compress(std::string_view data, int level = 6);
/// Inflates exactly one complete gzip member; an error names what is wrong
/// (not gzip, truncated, bytes after its end).
Result<std::string> gzip_decompress(std::string_view data);

}  // namespace destsim
