#include "framework/gzip.h"

#include <zlib.h>

#include <algorithm>

namespace destsim {

namespace {
// zlib counts bytes in 32 bits: larger buffers go in pieces of 1 GiB.
constexpr std::size_t kPiece = std::size_t{1} << 30;

// Hands zlib the next piece of `data` once it has taken the last one.
void feed(z_stream& z, std::string_view data, std::size_t& fed) {
  if (z.avail_in != 0 || fed >= data.size()) return;
  const std::size_t n = std::min(data.size() - fed, kPiece);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + fed));
  z.avail_in = static_cast<uInt>(n);
  fed += n;
}
}  // namespace

Result<std::string> gzip_compress(std::string_view data, int level) {
  if (level < 1 || level > 9) return Error::bad_input("gzip level: expected 1..9, got " + std::to_string(level));
  z_stream z{};
  // windowBits 15 + 16: a gzip wrapper with a zeroed header (no name, mtime 0).
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return Error::internal("gzip: deflateInit2 failed");
  std::string out;
  char buf[65536];
  std::size_t fed = 0;
  int rc = Z_OK;
  do {
    feed(z, data, fed);
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = deflate(&z, fed == data.size() ? Z_FINISH : Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc == Z_OK || rc == Z_BUF_ERROR);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return Error::internal("gzip: deflate did not finish (" + std::to_string(rc) + ")");
  return out;
}

Result<std::string> gzip_decompress(std::string_view data) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return Error::internal("gunzip: inflateInit2 failed");
  std::string out;
  char buf[65536];
  std::size_t fed = 0;
  int rc = Z_OK;
  while (true) {
    feed(z, data, fed);
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && (z.avail_in > 0 || fed < data.size())) continue;
    break;
  }
  const bool trailing = z.avail_in != 0 || fed < data.size();
  inflateEnd(&z);
  if (rc != Z_STREAM_END) return Error::bad_input("gunzip: not a complete gzip stream (zlib " + std::to_string(rc) + ")");
  if (trailing) return Error::bad_input("gunzip: bytes after the end of the gzip stream");
  return out;
}

}  // namespace destsim
