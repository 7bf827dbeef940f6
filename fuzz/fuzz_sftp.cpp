// fuzz_sftp — the SFTP server door's packet handling without a socket: the
// bytes a client sends on the `sftp` channel go through SftpPacketSession (the
// framer, the packet parser, the dispatch onto the fake's tree with its jail),
// exactly as a real session runs them. Nothing crashes; every answer is a
// well-framed SFTP packet; no answer is longer than the bound the door keeps;
// and the tree never holds a name with a control byte or a path outside "/".
//
// Input: raw client bytes. The session is started with INIT first so that
// most inputs reach the request handlers; the input itself may send more.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fakes/doors/sftp_server.h"
#include "fakes/doors/sftp_wire.h"

using namespace destsim;

namespace {

std::uint32_t be32(std::string_view s, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(s[at + i]);
  return v;
}

// Every answer is whole: length, a known reply type, and no trailing bytes.
void check_framing(std::string_view out) {
  while (!out.empty()) {
    if (out.size() < 5) std::abort();
    const std::uint32_t len = be32(out, 0);
    if (len < 1 || out.size() - 4 < len) std::abort();
    const auto type = static_cast<std::uint8_t>(out[4]);
    if (type != sftp_wire::kVersion && (type < sftp_wire::kStatus || type > sftp_wire::kAttrs)) std::abort();
    // DATA answers are bounded by the door's read cap (64 KiB) plus the header.
    if (type == sftp_wire::kData && len > 64 * 1024 + 9) std::abort();
    out.remove_prefix(4 + len);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  SftpServerOptions o;
  o.in_memory = true;
  o.user = "fuzz";
  o.password = "fuzz";
  o.fs.quota_bytes = 1 << 20;  // a write at a huge offset must not allocate it
  SftpServer server(o);
  if (!server.prepare().ok()) std::abort();
  SftpPacketSession session(server);
  // INIT v3.
  const std::string init("\0\0\0\x05\x01\0\0\0\x03", 9);
  check_framing(session.feed(init));
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // Feed in two parts split at a point the input picks, to exercise the framer.
  const std::size_t cut = size == 0 ? 0 : data[0] % (size + 1);
  check_framing(session.feed(in.substr(0, cut)));
  check_framing(session.feed(in.substr(cut)));
  // The tree stays inside "/" with printable names only.
  for (const std::string& path : server.paths()) {
    if (path.size() < 2 || path[0] != '/' || path.find("/../") != std::string::npos) std::abort();
    if (control_char_at(path) != std::string::npos) std::abort();
  }
  (void)server.accepted().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return 0;
}
