// serve_sftp.h — `destsim serve sftp`: the SFTP fake as a real SSH/SFTP server.
//
//   destsim serve sftp --port P --options '{"root": DIR, "user": U, "password": W,
//                      "authorized_keys": F, "host_key": F}' [--faults F]
//                      [--seed N] [--max-requests SESSIONS] [--max-lifetime D]
//
// `serve` dispatches by the fake's door: a file-door fake without a server of
// its own is served by serve_sftp_fake. Prints "listening on
// 127.0.0.1:PORT" (and the host key fingerprint), then serves until
// SIGINT/SIGTERM, until N sessions have ended or for D.
#pragma once

#include <cstdint>
#include <string>

#include "fakes/catalog.h"

namespace destsim {

/// `destsim serve sftp`: reads the server's settings from `args.options`
/// (root and user required; password may be {"secret": …}), sessions from
/// max_requests and the bound from max_lifetime, then runs the server; the
/// exit code (exit_code_of on errors, which name the option).
int serve_sftp_fake(const ServeArgs& args);

}  // namespace destsim
