// serve_sftp.h — `destsim serve sftp`: the SFTP fake as a real SSH/SFTP server.
//
//   destsim serve sftp --port P --root DIR --user U [--password W]
//                      [--authorized-keys F] [--host-key F] [--faults F]
//                      [--seed N] [--max-sessions N] [--duration D]
//
// Prints "listening on 127.0.0.1:PORT" (and the host key fingerprint), then
// serves until SIGINT/SIGTERM, until N sessions have ended (--max-sessions) or
// for D (--duration, e.g. "10m"). tools/main.cpp adds the subcommand under
// `serve` with add_serve_sftp_command; the server runs from the subcommand's
// callback, after parsing, and leaves its exit code in `exit_code`.
#pragma once

#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace destsim {

struct ServeSftpArgs {
  int port = 0;
  std::string root;
  std::string user;
  std::string password;
  std::string authorized_keys;
  std::string host_key;
  std::string faults;
  std::uint64_t seed = 1;
  std::int64_t max_sessions = 0;  // 0 = no bound
  std::string duration = "0";     // 0 = no bound
};

/// Adds the `sftp` subcommand to `serve_cmd`; when it is given, its callback
/// runs the server and stores the process exit code (0 ok, 2 bad input or
/// I/O, 3 internal) in `exit_code`. Returns the subcommand.
CLI::App* add_serve_sftp_command(CLI::App& serve_cmd, int& exit_code);

/// Runs the server with `args` until a stop signal or a bound; the exit code.
int run_serve_sftp(const ServeSftpArgs& args);

}  // namespace destsim
