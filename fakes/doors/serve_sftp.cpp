#include "fakes/doors/serve_sftp.h"

#include <CLI/CLI.hpp>

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>

#include "fakes/doors/sftp_server.h"

namespace destsim {

namespace {

int exit_code_of(const Error& e) {
  std::fprintf(stderr, "destsim: serve sftp: %s\n", e.message.c_str());
  return e.code == ErrorCode::bad_input || e.code == ErrorCode::not_found || e.code == ErrorCode::io ? 2 : 3;
}

}  // namespace

int run_serve_sftp(const ServeSftpArgs& a) {
  SftpServerOptions o;
  o.port = a.port;
  o.root = a.root;
  o.user = a.user;
  o.password = a.password;
  o.authorized_keys_file = a.authorized_keys;
  o.host_key_file = a.host_key;
  o.seed = a.seed;
  if (!a.faults.empty()) {
    auto plan = FaultPlan::load(a.faults);
    if (!plan.ok()) return exit_code_of(plan.error());
    o.faults = std::move(plan).value();
  }
  auto duration = parse_duration(a.duration);
  if (!duration.ok()) return exit_code_of(Error::bad_input("--duration: " + duration.error().message));
  if (a.max_sessions < 0) return exit_code_of(Error::bad_input("--max-sessions: expected 0 or more"));

  // Block the stop signals before any server thread starts, so only the wait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigset_t previous;
  pthread_sigmask(SIG_BLOCK, &stop_signals, &previous);

  SftpServer server(std::move(o));
  Status started = server.start();
  if (!started.ok()) {
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    return exit_code_of(started.error());
  }
  std::printf("seed=%llu root=%s user=%s password=%s authorized_keys=%s faults=%s max_sessions=%lld duration=%s\n",
              static_cast<unsigned long long>(a.seed), a.root.c_str(), a.user.c_str(), a.password.empty() ? "none" : "***",
              a.authorized_keys.empty() ? "none" : a.authorized_keys.c_str(), a.faults.empty() ? "none" : a.faults.c_str(),
              static_cast<long long>(a.max_sessions), format_duration(*duration).c_str());
  std::printf("host key %s (%s)\n", server.host_key_fingerprint().c_str(),
              a.host_key.empty() ? "ephemeral" : a.host_key.c_str());
  std::printf("listening on 127.0.0.1:%d\n", server.port());
  std::fflush(stdout);

  const auto start = std::chrono::steady_clock::now();  // the real server's --duration bound
  const char* why = "signal";
  for (;;) {
    timespec slice{0, 200'000'000};
    const int sig = sigtimedwait(&stop_signals, nullptr, &slice);
    if (sig == SIGINT || sig == SIGTERM) break;
    if (a.max_sessions > 0 && server.sessions_finished() >= a.max_sessions) {
      why = "--max-sessions";
      break;
    }
    if (duration->count() > 0 && std::chrono::steady_clock::now() - start >= *duration) {  // --duration
      why = "--duration";
      break;
    }
  }
  server.stop();
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  const auto accepted = server.accepted();
  std::printf("stopped (%s) after %lld sessions; accepted %s\n", why,
              static_cast<long long>(server.sessions_finished()), accepted["counts"].dump().c_str());
  std::fflush(stdout);
  return 0;
}

CLI::App* add_serve_sftp_command(CLI::App& serve_cmd, int& exit_code) {
  auto args = std::make_shared<ServeSftpArgs>();
  CLI::App* cmd = serve_cmd.add_subcommand("sftp", "Serve the SFTP fake as a real SSH/SFTP server on 127.0.0.1");
  cmd->add_option("--port", args->port, "TCP port (0 = any free port)")->check(CLI::Range(0, 65535));
  cmd->add_option("--root", args->root, "Directory served as \"/\" (every path is jailed under it)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--user", args->user, "The user that may log in")->required();
  cmd->add_option("--password", args->password, "Password of the user (password login)");
  cmd->add_option("--authorized-keys", args->authorized_keys, "OpenSSH authorized_keys file (public-key login)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--host-key", args->host_key,
                  "Host private key file; generated there (ed25519) when missing; none = an ephemeral key");
  cmd->add_option("--faults", args->faults, "Fault plan JSON file (operations: docs/sftp_fake.md)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--seed", args->seed, "Seed for probabilistic fault rules");
  cmd->add_option("--max-sessions", args->max_sessions, "Stop after this many sessions ended (0 = no bound)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--duration", args->duration, "Stop after this long, e.g. 10m (0 = no bound)");
  cmd->callback([args, &exit_code] { exit_code = run_serve_sftp(*args); });
  return cmd;
}

}  // namespace destsim
