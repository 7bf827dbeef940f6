#include "fakes/gunzip.h"

#include <zlib.h>

#include <algorithm>

namespace destsim {

Gunzip gunzip_members(std::string_view data, std::int64_t limit, std::string& out, std::string& why) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
    why = "zlib could not start";
    return Gunzip::corrupt;
  }
  // zlib counts input in 32 bits: a body past 4 GB is fed in pieces.
  std::size_t fed = 0;
  auto feed = [&] {
    const std::size_t n = std::min<std::size_t>(data.size() - fed, std::size_t{1} << 30);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + fed));
    z.avail_in = static_cast<uInt>(n);
    fed += n;
  };
  feed();
  char buf[65536];
  Gunzip result = Gunzip::ok;
  while (true) {
    if (z.avail_in == 0 && fed < data.size()) feed();
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    const int rc = inflate(&z, Z_NO_FLUSH);
    const std::size_t got = sizeof(buf) - z.avail_out;
    if (static_cast<std::int64_t>(out.size() + got) > limit) {
      result = Gunzip::too_large;
      break;
    }
    out.append(buf, got);
    const bool input_left = z.avail_in > 0 || fed < data.size();
    if (rc == Z_STREAM_END) {
      if (!input_left) break;  // the last member
      if (inflateReset(&z) != Z_OK) {
        why = "zlib could not read the next member";
        result = Gunzip::corrupt;
        break;
      }
      continue;
    }
    if (rc == Z_OK || (rc == Z_BUF_ERROR && input_left)) continue;
    why = rc == Z_BUF_ERROR ? "the gzip stream is truncated" : z.msg ? z.msg : "not a gzip stream";
    result = Gunzip::corrupt;
    break;
  }
  inflateEnd(&z);
  return result;
}

}  // namespace destsim
