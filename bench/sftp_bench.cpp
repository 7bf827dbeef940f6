// sftp_bench.cpp — upload throughput to the SFTP fake's real server over
// loopback: destsim's libssh client (LibsshFileTransport::put, one request in
// flight at a time, per write size) against OpenSSH's `sftp -b` put of the
// same file, to the same server, in the same run. Counters: MB/s (10^6 bytes
// per second of wall time) and the file size.
//
//   build/<dir>/bench/sftp_bench [--benchmark_filter=...]
//
// The server runs on 127.0.0.1 on a free port with a temporary root and stops
// at exit. OpenSSH's client logs in with a key made by ssh-keygen for the run
// (batch mode allows no password); the libssh client logs in with a password.
// Without /usr/bin/sftp or ssh-keygen, the OpenSSH benchmark reports an error.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "fakes/doors/sftp_server.h"
#include "framework/real/libssh_file_transport.h"
#include "framework/real/real_clock.h"

namespace destsim {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kFileBytes = 32 * 1024 * 1024;

struct Bench {
  fs::path dir;
  fs::path root;
  fs::path key;
  fs::path local_file;
  std::unique_ptr<SftpServer> server;
  std::string error;

  Bench() {
    char tmpl[] = "/tmp/destsim-sftp-bench-XXXXXX";
    const char* made = mkdtemp(tmpl);
    if (!made) {
      error = "mkdtemp failed";
      return;
    }
    dir = made;
    root = dir / "root";
    fs::create_directories(root);
    key = dir / "id_ed25519";
    const std::string keygen = "ssh-keygen -q -t ed25519 -N '' -f " + key.string() + " >/dev/null 2>&1";
    const bool have_key = std::system(keygen.c_str()) == 0;
    // Incompressible-looking content, so no layer gets a free ride.
    local_file = dir / "payload.bin";
    {
      std::ofstream out(local_file, std::ios::binary);
      std::uint64_t x = 0x9E3779B97F4A7C15ULL;
      std::string block(1 << 16, '\0');
      for (std::int64_t written = 0; written < kFileBytes; written += static_cast<std::int64_t>(block.size())) {
        for (auto& c : block) {
          x ^= x << 13;
          x ^= x >> 7;
          x ^= x << 17;
          c = static_cast<char>(x);
        }
        out.write(block.data(), static_cast<std::streamsize>(block.size()));
      }
    }
    SftpServerOptions o;
    o.root = root.string();
    o.user = "bench";
    o.password = "bench-pw";
    if (have_key) o.authorized_keys_file = key.string() + ".pub";
    o.idle_timeout = std::chrono::seconds(120);
    server = std::make_unique<SftpServer>(std::move(o));
    Status st = server->start();
    if (!st.ok()) error = "server: " + st.error().message;
  }
  ~Bench() {
    if (server) server->stop();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

Bench& bench() {
  static Bench b;
  return b;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void set_rate(benchmark::State& state, std::int64_t bytes) {
  state.counters["MB/s"] =
      benchmark::Counter(static_cast<double>(bytes) / 1e6, benchmark::Counter::kIsRate);
  state.counters["file_MB"] = static_cast<double>(kFileBytes) / 1e6;
}

// destsim's client: one connected session, a put of the whole file per iteration.
void BM_LibsshPut(benchmark::State& state) {
  Bench& b = bench();
  if (!b.error.empty()) {
    state.SkipWithError(b.error.c_str());
    return;
  }
  const std::string data = read_all(b.local_file);
  RealClock clock;
  Loop loop(clock);
  LibsshOptions o;
  o.port = b.server->port();
  o.user = "bench";
  o.password = "bench-pw";
  o.host_key = HostKeyPolicy::accept_any;
  o.write_chunk_bytes = static_cast<std::size_t>(state.range(0));
  LibsshFileTransport t(loop, o);
  std::string failure;
  auto run = [&](auto make) {
    loop.spawn(make());
    Status st = loop.run_until_idle();
    if (!st.ok()) failure = st.error().message;
  };
  run([&]() -> Task<void> {
    auto c = co_await t.connect();
    if (!c.ok()) failure = c.error().message;
  });
  std::int64_t bytes = 0;
  int n = 0;
  for (auto _ : state) {
    if (!failure.empty()) break;
    const std::string path = "/libssh_" + std::to_string(n++) + ".bin";
    run([&, path]() -> Task<void> {
      auto r = co_await t.put(path, data);
      if (!r.ok()) failure = r.error().message;
    });
    bytes += kFileBytes;
  }
  if (!failure.empty()) state.SkipWithError(failure.c_str());
  set_rate(state, bytes);
  for (int i = 0; i < n; ++i) fs::remove(b.root / ("libssh_" + std::to_string(i) + ".bin"));
}
BENCHMARK(BM_LibsshPut)->Arg(32 * 1024)->Arg(128 * 1024)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

// OpenSSH's client: `sftp -b` with one put per iteration (includes its login,
// as a cron job's transfer would).
void BM_OpenSshSftpPut(benchmark::State& state) {
  Bench& b = bench();
  if (!b.error.empty()) {
    state.SkipWithError(b.error.c_str());
    return;
  }
  if (access("/usr/bin/sftp", X_OK) != 0 || !fs::exists(b.key)) {
    state.SkipWithError("needs /usr/bin/sftp and ssh-keygen");
    return;
  }
  const fs::path batch = b.dir / "batch.txt";
  std::int64_t bytes = 0;
  int n = 0;
  for (auto _ : state) {
    const std::string remote = "/openssh_" + std::to_string(n++) + ".bin";
    {
      std::ofstream out(batch);
      out << "put " << b.local_file.string() << " " << remote << "\n";
    }
    const std::string cmd = "/usr/bin/sftp -q -b " + batch.string() + " -i " + b.key.string() + " -P " +
                            std::to_string(b.server->port()) +
                            " -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes"
                            " -o ConnectTimeout=10 bench@127.0.0.1 >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      state.SkipWithError("sftp -b failed");
      break;
    }
    bytes += kFileBytes;
  }
  set_rate(state, bytes);
  for (int i = 0; i < n; ++i) fs::remove(b.root / ("openssh_" + std::to_string(i) + ".bin"));
}
BENCHMARK(BM_OpenSshSftpPut)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

}  // namespace
}  // namespace destsim

BENCHMARK_MAIN();
