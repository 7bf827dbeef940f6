#include "fakes/doors/serve_sftp.h"

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
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
  const auto quota = o.fs.quota_bytes;
  const int max_sessions = o.max_sessions;
  const Duration login_timeout = o.login_timeout;

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
  std::printf("seed=%llu root=%s user=%s password=%s authorized_keys=%s faults=%s max_requests=%lld max_lifetime=%s "
              "quota=%s max_sessions=%d login_timeout=%s\n",
              static_cast<unsigned long long>(a.seed), root.c_str(), user.c_str(), password ? "***" : "none",
              keys.empty() ? "none" : keys.c_str(), a.faults_file.empty() ? "none" : a.faults_file.c_str(),
              static_cast<long long>(a.max_requests), format_duration(lifetime).c_str(),
              quota ? std::to_string(*quota).c_str() : "none", max_sessions, format_duration(login_timeout).c_str());
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

Result<ServeSftpSettings> read_serve_sftp_options(const ServeArgs& a) {
  ServeSftpSettings out;
  SftpServerOptions& o = out.server;
  JsonIn in(a.options, "--options");
  DS_CHECK(in.object());
  DS_CHECK(in.only_keys({"root", "user", "password", "password_file", "authorized_keys", "host_key", "quota",
                         "max_sessions", "login_timeout"}));
  DS_CHECK(in.require("root"));
  DS_CHECK(in.require("user"));
  DS_TRY(o.root, in.at("root").string());
  if (!std::filesystem::is_directory(o.root)) return in.at("root").expected("an existing directory");
  DS_TRY(o.user, in.at("user").string());
  if (in.has("password") && in.has("password_file"))
    return Error::bad_input("--options: give \"password\" or \"password_file\", not both");
  if (in.has("password")) {
    DS_TRY(o.password, string_or_secret(in.at("password")));
    out.warnings.push_back(std::string("--options /password: the password is on the command line (visible in ps and "
                                       "shell history); prefer \"password_file\" or ") + kSftpPasswordEnv);
  } else if (in.has("password_file")) {
    DS_TRY(std::string file, in.at("password_file").string());
    std::ifstream f(file, std::ios::binary);
    if (!f) return in.at("password_file").expected("a readable file holding the password (" + file + " cannot be read)");
    std::getline(f, o.password);  // the first line; a trailing newline (or CRLF) is not part of it
    if (!o.password.empty() && o.password.back() == '\r') o.password.pop_back();
    if (o.password.empty()) return in.at("password_file").expected("a file whose first line is the password (" + file + " has none)");
    struct stat st;
    if (::stat(file.c_str(), &st) == 0 && (st.st_mode & 077))
      out.warnings.push_back("--options /password_file: " + file + " can be read by other users; chmod 600 it");
  } else if (const char* env = std::getenv(kSftpPasswordEnv); env && *env) {
    o.password = env;
  }
  if (in.has("authorized_keys")) {
    DS_TRY(o.authorized_keys_file, in.at("authorized_keys").string());
    if (!std::filesystem::is_regular_file(o.authorized_keys_file))
      return in.at("authorized_keys").expected("an existing authorized_keys file");
  }
  if (in.has("host_key")) { DS_TRY(o.host_key_file, in.at("host_key").string()); }
  if (in.has("quota")) {
    DS_TRY(std::int64_t quota, in.at("quota").size_bytes());
    o.fs.quota_bytes = quota;
  }
  if (in.has("max_sessions")) {
    DS_TRY(std::int64_t n, in.at("max_sessions").integer(1, 10000));
    o.max_sessions = static_cast<int>(n);
  }
  if (in.has("login_timeout")) {
    DS_TRY(o.login_timeout, in.at("login_timeout").duration());
    if (o.login_timeout <= Duration::zero() || o.login_timeout > std::chrono::hours(1))
      return in.at("login_timeout").expected("a duration above 0 and at most 1h");
  }
  if (o.password.empty() && o.authorized_keys_file.empty())
    return Error::bad_input(std::string("--options: give \"password_file\" (or ") + kSftpPasswordEnv +
                            ") or \"authorized_keys\": no one could log in");
  return out;
}

int serve_sftp_fake(const ServeArgs& a) {
  if (a.host != "127.0.0.1") return fail(Error::bad_input("--host: the SFTP server binds 127.0.0.1 only"));
  auto settings = read_serve_sftp_options(a);
  if (!settings.ok()) return fail(settings.error());
  for (const std::string& w : settings->warnings) std::fprintf(stderr, "destsim: serve sftp: warning: %s\n", w.c_str());
  return run_server(std::move(settings->server), a);
}

}  // namespace destsim
