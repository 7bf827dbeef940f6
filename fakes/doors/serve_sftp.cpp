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

// Runs the server until a stop signal, `a.max_requests` finished sessions or `a.max_lifetime`.
int run_server(SftpServerOptions o, const ServeArgs& a) {
  o.port = a.port;
  o.seed = a.seed;
  if (!a.faults_file.empty()) {
    auto plan = FaultPlan::load(a.faults_file);
    if (!plan.ok()) return fail(plan.error());
    o.faults = std::move(plan).value();
  }
  if (a.max_requests < 0) return fail(Error::bad_input("--max-requests: expected 0 or more"));
  const Duration lifetime = a.max_lifetime;
  const std::string root = o.root, user = o.user, keys = o.authorized_keys_file, host_key = o.host_key_file;
  const bool password = !o.password.empty();

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
  std::printf("seed=%llu root=%s user=%s password=%s authorized_keys=%s faults=%s max_requests=%lld max_lifetime=%s\n",
              static_cast<unsigned long long>(a.seed), root.c_str(), user.c_str(), password ? "***" : "none",
              keys.empty() ? "none" : keys.c_str(), a.faults_file.empty() ? "none" : a.faults_file.c_str(),
              static_cast<long long>(a.max_requests), format_duration(lifetime).c_str());
  std::printf("host key %s (%s)\n", server.host_key_fingerprint().c_str(),
              host_key.empty() ? "ephemeral" : host_key.c_str());
  std::printf("listening on 127.0.0.1:%d\n", server.port());
  std::fflush(stdout);

  const auto start = std::chrono::steady_clock::now();  // determinism-ok: the real server's --max-lifetime bound
  const char* why = "signal";
  for (;;) {
    timespec slice{0, 200'000'000};
    const int sig = sigtimedwait(&stop_signals, nullptr, &slice);
    if (sig == SIGINT || sig == SIGTERM) break;
    if (a.max_requests > 0 && server.sessions_finished() >= a.max_requests) {
      why = "--max-requests";
      break;
    }
    if (lifetime.count() > 0 && std::chrono::steady_clock::now() - start >= lifetime) {  // determinism-ok: same bound
      why = "--max-lifetime";
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

}  // namespace

int serve_sftp_fake(const ServeArgs& a) {
  if (a.host != "127.0.0.1") return fail(Error::bad_input("--host: the SFTP server binds 127.0.0.1 only"));
  SftpServerOptions o;
  JsonIn in(a.options, "--options");
  auto read = [&]() -> Status {
    DS_CHECK(in.object());
    DS_CHECK(in.only_keys({"root", "user", "password", "authorized_keys", "host_key"}));
    DS_CHECK(in.require("root"));
    DS_CHECK(in.require("user"));
    DS_TRY(o.root, in.at("root").string());
    if (!std::filesystem::is_directory(o.root)) return in.at("root").expected("an existing directory");
    DS_TRY(o.user, in.at("user").string());
    if (in.has("password")) { DS_TRY(o.password, string_or_secret(in.at("password"))); }
    if (in.has("authorized_keys")) {
      DS_TRY(o.authorized_keys_file, in.at("authorized_keys").string());
      if (!std::filesystem::is_regular_file(o.authorized_keys_file))
        return in.at("authorized_keys").expected("an existing authorized_keys file");
    }
    if (in.has("host_key")) { DS_TRY(o.host_key_file, in.at("host_key").string()); }
    return Status::success();
  };
  if (Status ok = read(); !ok.ok()) return fail(ok.error());
  return run_server(std::move(o), a);
}

}  // namespace destsim
