// serve_sftp.h — `destsim serve sftp`: the SFTP fake as a real SSH/SFTP server.
//
//   destsim serve sftp --port P --options '{"root": DIR, "user": U,
//                      "password_file": F, "authorized_keys": F, "host_key": F,
//                      "quota": "10MB", "max_sessions": 8, "login_timeout": "10s"}'
//                      [--faults F] [--seed N] [--max-requests SESSIONS] [--max-lifetime D]
//
// The password comes from `password_file` (its first line) or, when neither
// password key is given, the environment variable DESTSIM_SFTP_PASSWORD, so it
// never has to be on the command line; an inline "password" still works but
// serve warns on stderr (the command line shows in ps and shell history).
// `quota` bounds the bytes of all files under the root (a write past it answers
// SSH_FX_NO_SPACE_ON_FILESYSTEM naming the quota; the server stays up);
// `max_sessions` bounds the logged-in sessions, `login_timeout` closes a
// connection that has not logged in by then.
//
// `serve` dispatches by the fake's door: a file-door fake without a server of
// its own is served by serve_sftp_fake. Prints "listening on
// 127.0.0.1:PORT" (and the host key fingerprint), then serves until
// SIGINT/SIGTERM, until N sessions have ended or for D.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fakes/catalog.h"
#include "fakes/doors/sftp_server.h"
#include "framework/result.h"

namespace destsim {

/// The environment variable `serve sftp` reads the password from when the
/// options name none.
inline constexpr const char* kSftpPasswordEnv = "DESTSIM_SFTP_PASSWORD";

/// The server's settings as `serve sftp` reads them from `args.options` and the
/// environment, and the warnings serve prints for them.
struct ServeSftpSettings {
  SftpServerOptions server;
  std::vector<std::string> warnings;
};
/// Reads `args.options` (root and user required); errors name the option and the limit.
Result<ServeSftpSettings> read_serve_sftp_options(const ServeArgs& args);

/// `destsim serve sftp`: reads the server's settings from `args.options`
/// (root and user required; password may be {"secret": …}), sessions from
/// max_requests and the bound from max_lifetime, then runs the server; the
/// exit code (exit_code_of on errors, which name the option).
int serve_sftp_fake(const ServeArgs& args);

}  // namespace destsim
