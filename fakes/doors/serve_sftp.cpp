#include "fakes/doors/serve_sftp.h"

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>

#include "fakes/doors/sftp_server.h"
#include "fakes/fake_options.h"
#include "framework/json_in.h"

namespace destsim {

namespace {

int fail(const Error& e) {
  std::fprintf(stderr, "destsim: serve sftp: %s\n", e.message.c_str());
  return exit_code_of(e);
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
    if (!plan.ok()) return fail(plan.error());
    o.faults = std::move(plan).value();
  }
  auto duration = parse_duration(a.duration);
  if (!duration.ok()) return fail(Error::bad_input("--duration: " + duration.error().message));
  if (a.max_sessions < 0) return fail(Error::bad_input("--max-sessions: expected 0 or more"));

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
    return fail(started.error());
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
  return kExitOk;
}

int serve_sftp_fake(const ServeArgs& a) {
  ServeSftpArgs s;
  s.port = a.port;
  s.faults = a.faults_file;
  s.seed = a.seed;
  s.max_sessions = a.max_requests;
  s.duration = format_duration(a.max_lifetime);
  if (a.host != "127.0.0.1") return fail(Error::bad_input("--host: the SFTP server binds 127.0.0.1 only"));
  JsonIn in(a.options, "--options");
  auto read = [&]() -> Status {
    DS_CHECK(in.object());
    DS_CHECK(in.only_keys({"root", "user", "password", "authorized_keys", "host_key"}));
    DS_CHECK(in.require("root"));
    DS_CHECK(in.require("user"));
    DS_TRY(s.root, in.at("root").string());
    if (!std::filesystem::is_directory(s.root)) return in.at("root").expected("an existing directory");
    DS_TRY(s.user, in.at("user").string());
    if (in.has("password")) { DS_TRY(s.password, string_or_secret(in.at("password"))); }
    if (in.has("authorized_keys")) {
      DS_TRY(s.authorized_keys, in.at("authorized_keys").string());
      if (!std::filesystem::is_regular_file(s.authorized_keys))
        return in.at("authorized_keys").expected("an existing authorized_keys file");
    }
    if (in.has("host_key")) { DS_TRY(s.host_key, in.at("host_key").string()); }
    return Status::success();
  };
  if (Status ok = read(); !ok.ok()) return fail(ok.error());
  return run_serve_sftp(s);
}

}  // namespace destsim
