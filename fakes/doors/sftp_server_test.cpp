// sftp_server_test.cpp — the SFTP fake's real door: a libssh server on
// 127.0.0.1 (a free port, a temporary root) driven by OpenSSH's `sftp -b` with
// key auth and by the libssh client with password auth. Every client call is
// bounded (libssh timeouts, `timeout` around the OpenSSH client).
#include "fakes/doors/sftp_server.h"

#include <cstdlib>

#include <gtest/gtest.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fakes/doors/serve_sftp.h"
#include "fakes/doors/sftp_wire.h"

namespace destsim {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/destsim-sftpsrv-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

// Runs a shell command (bounded by `timeout`), returns its exit code and output.
std::pair<int, std::string> sh(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(("timeout 60 " + cmd + " 2>&1").c_str(), "r");
  if (!p) return {-1, "popen failed"};
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// A libssh client session, bounded by a 10 s timeout.
struct Client {
  ssh_session s = nullptr;
  sftp_session sftp = nullptr;
  ~Client() { close(); }
  void close() {
    if (sftp) sftp_free(sftp);
    sftp = nullptr;
    if (s) {
      ssh_disconnect(s);
      ssh_free(s);
    }
    s = nullptr;
  }
  bool connect(int port, const std::string& user, long timeout_s = 10) {
    s = ssh_new();
    const bool no = false;
    ssh_options_set(s, SSH_OPTIONS_HOST, "127.0.0.1");
    ssh_options_set(s, SSH_OPTIONS_PORT, &port);
    ssh_options_set(s, SSH_OPTIONS_USER, user.c_str());
    ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout_s);
    ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no);
    return ssh_connect(s) == SSH_OK;
  }
  int password(const std::string& pw) { return ssh_userauth_password(s, nullptr, pw.c_str()); }
  bool open_sftp() {
    sftp = sftp_new(s);
    return sftp && sftp_init(sftp) == SSH_OK;
  }
  // Writes a whole file; the SFTP status on failure (0 = ok).
  int put(const std::string& path, const std::string& data) {
    sftp_file f = sftp_open(sftp, path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (!f) return sftp_get_error(sftp) ? sftp_get_error(sftp) : -1;
    ssize_t n = sftp_write(f, data.data(), data.size());
    int err = n == static_cast<ssize_t>(data.size()) ? 0 : sftp_get_error(sftp);
    if (sftp_close(f) != SSH_OK && err == 0) err = sftp_get_error(sftp);
    return err;
  }
  int open_read(const std::string& path) {
    sftp_file f = sftp_open(sftp, path.c_str(), O_RDONLY, 0);
    if (!f) return sftp_get_error(sftp) ? sftp_get_error(sftp) : -1;  // -1: the session failed, no status
    sftp_close(f);
    return 0;
  }
};

struct Keys {
  TempDir dir;
  fs::path id, pub;
  bool ok = false;
  Keys() {
    id = dir.path / "id_ed25519";
    pub = dir.path / "id_ed25519.pub";
    ok = sh("ssh-keygen -q -t ed25519 -N '' -C destsim-test -f " + id.string()).first == 0 && fs::exists(pub);
  }
};

struct ServerFixture : ::testing::Test {
  TempDir root, work;
  Keys keys;
  std::unique_ptr<SftpServer> server;

  SftpServerOptions options() {
    SftpServerOptions o;
    o.root = root.path.string();
    o.user = "tester";
    o.password = "s3cret";
    o.authorized_keys_file = keys.pub.string();
    o.host_key_file = (work.path / "host_key").string();
    o.idle_timeout = 20s;
    return o;
  }
  void start(SftpServerOptions o) {
    ASSERT_TRUE(keys.ok) << "ssh-keygen failed";
    server = std::make_unique<SftpServer>(std::move(o));
    auto st = server->start();
    ASSERT_TRUE(st.ok()) << st.error().message;
    ASSERT_GT(server->port(), 0);
  }
  void start() { start(options()); }
  void TearDown() override {
    if (server) server->stop();
  }

  // OpenSSH's sftp in batch mode with key auth; exit code and output.
  std::pair<int, std::string> openssh_batch(const std::string& commands) {
    spit(work.path / "batch", commands);
    return sh("/usr/bin/sftp -b " + (work.path / "batch").string() + " -i " + keys.id.string() +
              " -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes"
              " -o PasswordAuthentication=no -o ConnectTimeout=10 -o LogLevel=ERROR -F /dev/null -P " +
              std::to_string(server->port()) + " tester@127.0.0.1");
  }
};

bool have_openssh() { return ::access("/usr/bin/sftp", X_OK) == 0 && ::access("/usr/bin/ssh-keygen", X_OK) == 0; }

// A bare TCP connection to the server that never speaks SSH; closed with the object.
struct SilentSocket {
  int fd = -1;
  explicit SilentSocket(int port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ~SilentSocket() {
    if (fd >= 0) ::close(fd);
  }
  // True once the server closed the connection (EOF or reset) within `within`.
  bool closed_by_server_within(std::chrono::milliseconds within) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    char buf[512];
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);  // the server's SSH banner, then EOF
      if (n <= 0) return true;
    }
  }
};

// Builds SFTP packet bodies (big-endian fields, as on the wire).
struct Body {
  std::string b;
  Body& u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<char>((v >> (24 - 8 * i)) & 0xff));
    return *this;
  }
  Body& u64(std::uint64_t v) { return u32(static_cast<std::uint32_t>(v >> 32)).u32(static_cast<std::uint32_t>(v)); }
  Body& str(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    b.append(s);
    return *this;
  }
};

// One framed packet: length, type, body.
std::string packet(std::uint8_t type, const Body& body) {
  Body framed;
  framed.u32(static_cast<std::uint32_t>(body.b.size() + 1));
  framed.b.push_back(static_cast<char>(type));
  return framed.b + body.b;
}

struct Reply {
  std::uint8_t type = 0;
  std::uint32_t id = 0;
  std::uint32_t code = 0;  // STATUS
  std::string text;        // STATUS: the message; HANDLE, DATA: the string
};

std::uint32_t be32(std::string_view s, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(s[at + i]);
  return v;
}

// Splits server bytes into replies (fails the test on a torn packet).
std::vector<Reply> replies(std::string_view bytes) {
  std::vector<Reply> out;
  while (bytes.size() >= 5) {
    const std::uint32_t len = be32(bytes, 0);
    EXPECT_GE(bytes.size() - 4, len);
    if (bytes.size() - 4 < len) break;
    std::string_view p = bytes.substr(4, len);
    Reply r;
    r.type = static_cast<std::uint8_t>(p[0]);
    if (r.type != sftp_wire::kVersion) r.id = be32(p, 1);
    if (r.type == sftp_wire::kStatus) {
      r.code = be32(p, 5);
      r.text = std::string(p.substr(13, be32(p, 9)));
    } else if (r.type == sftp_wire::kHandle || r.type == sftp_wire::kData) {
      r.text = std::string(p.substr(9, be32(p, 5)));
    }
    out.push_back(r);
    bytes.remove_prefix(4 + len);
  }
  EXPECT_TRUE(bytes.empty());
  return out;
}

// One reply to one packet.
Reply ask(SftpPacketSession& s, const std::string& bytes) {
  auto r = replies(s.feed(bytes));
  EXPECT_EQ(r.size(), 1u);
  return r.empty() ? Reply{} : r[0];
}

// A packet session over `root`, past INIT.
struct PacketFixture {
  std::unique_ptr<SftpServer> server;
  std::unique_ptr<SftpPacketSession> session;
  explicit PacketFixture(SftpServerOptions o) {
    o.user = "tester";
    o.password = "p";
    server = std::make_unique<SftpServer>(std::move(o));
    auto st = server->prepare();
    EXPECT_TRUE(st.ok()) << st.error().message;
    session = std::make_unique<SftpPacketSession>(*server);
    auto v = replies(session->feed(packet(sftp_wire::kInit, Body().u32(3))));
    EXPECT_EQ(v.size(), 1u);
    if (!v.empty()) EXPECT_EQ(v[0].type, sftp_wire::kVersion);
  }
};

TEST_F(ServerFixture, OpenSshSftpBatchWithKeyAuth) {
  if (!have_openssh()) {
    // CI installs openssh-client (scripts/setup.sh): there a missing client is a failure, not a skip.
    if (std::getenv("CI")) FAIL() << "/usr/bin/sftp or /usr/bin/ssh-keygen is not installed (CI is set)";
    GTEST_SKIP() << "/usr/bin/sftp or /usr/bin/ssh-keygen is not installed";
  }
  start();
  spit(work.path / "local.csv", "job_id,name\r\n1,Ann\r\n");
  spit(work.path / "other.txt", "other bytes");
  spit(work.path / "newer.csv", "job_id,name\r\n1,Ann B\r\n");
  const std::string w = work.path.string();
  auto [rc, out] = openssh_batch("mkdir /up\n"
                                 "put " + w + "/local.csv /up/.a.tmp\n"
                                 "ls -l /up\n"
                                 "rename /up/.a.tmp /up/a.csv\n"
                                 "ls /up\n"
                                 "get /up/a.csv " + w + "/back.csv\n"
                                 "put " + w + "/other.txt /up/other.txt\n"
                                 "rm /up/other.txt\n"
                                 "cd /up\n"
                                 "put " + w + "/newer.csv .b.tmp\n"
                                 "rename .b.tmp a.csv\n"
                                 "mkdir /gone\n"
                                 "rmdir /gone\n");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("a.csv"), std::string::npos) << out;
  EXPECT_NE(out.find(".a.tmp"), std::string::npos) << out;  // ls -l shows the long names
  EXPECT_EQ(slurp(w + "/back.csv"), "job_id,name\r\n1,Ann\r\n");
  // The second rename replaced a.csv (posix-rename@openssh.com).
  EXPECT_EQ(slurp(root.path / "up" / "a.csv"), "job_id,name\r\n1,Ann B\r\n");
  EXPECT_FALSE(fs::exists(root.path / "up" / "other.txt"));
  EXPECT_FALSE(fs::exists(root.path / "up" / ".a.tmp"));
  EXPECT_FALSE(fs::exists(root.path / "gone"));
  EXPECT_EQ(server->applied("/up/a.csv"), 2);  // two complete files renamed into place
  auto acc = server->accepted();
  EXPECT_EQ(acc["counts"]["login"], 1);
  EXPECT_GE(acc["counts"]["put"].get<int>(), 3);
}

TEST_F(ServerFixture, OpenSshSeesFaultsAndRefusals) {
  if (!have_openssh()) {
    // CI installs openssh-client (scripts/setup.sh): there a missing client is a failure, not a skip.
    if (std::getenv("CI")) FAIL() << "/usr/bin/sftp or /usr/bin/ssh-keygen is not installed (CI is set)";
    GTEST_SKIP() << "/usr/bin/sftp or /usr/bin/ssh-keygen is not installed";
  }
  auto o = options();
  FaultPlan plan;
  plan.add({.method = "put", .path = "/denied/*", .kind = FaultKind::respond, .status = 3});
  o.faults = plan;
  start(o);
  fs::create_directories(root.path / "denied");
  spit(work.path / "f.txt", "x");
  auto [rc, out] = openssh_batch("put " + (work.path / "f.txt").string() + " /denied/f.txt\n");
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("Permission denied"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(root.path / "denied" / "f.txt"));
  auto [rc2, out2] = openssh_batch("get /../../etc/passwd " + (work.path / "p").string() + "\n");
  EXPECT_NE(rc2, 0);
  // OpenSSH's get stats first and reports any refused stat as "not found".
  EXPECT_TRUE(out2.find("Permission denied") != std::string::npos || out2.find("not found") != std::string::npos)
      << out2;
  EXPECT_FALSE(fs::exists(work.path / "p"));
}

TEST_F(ServerFixture, PasswordAuthWithTheLibsshClient) {
  start();
  Client c;
  ASSERT_TRUE(c.connect(server->port(), "tester"));
  ASSERT_EQ(c.password("s3cret"), SSH_AUTH_SUCCESS);
  ASSERT_TRUE(c.open_sftp());
  EXPECT_EQ(sftp_extension_supported(c.sftp, "posix-rename@openssh.com", "1"), 1);
  ASSERT_EQ(sftp_mkdir(c.sftp, "/d", 0755), SSH_OK);
  ASSERT_EQ(c.put("/d/pw.txt", std::string(100000, 'q')), 0);
  EXPECT_EQ(slurp(root.path / "d" / "pw.txt"), std::string(100000, 'q'));
  sftp_attributes a = sftp_stat(c.sftp, "/d/pw.txt");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->size, 100000u);
  sftp_attributes_free(a);
  // Plain v3 RENAME does not replace an existing file.
  ASSERT_EQ(c.put("/d/other.txt", "o"), 0);
  EXPECT_NE(sftp_rename(c.sftp, "/d/other.txt", "/d/pw.txt"), SSH_OK);
  EXPECT_EQ(server->applied("/d/pw.txt"), 1);
  char* real = sftp_canonicalize_path(c.sftp, "/d/../d/./x");
  ASSERT_NE(real, nullptr);
  EXPECT_STREQ(real, "/d/x");
  ssh_string_free_char(real);
}

TEST_F(ServerFixture, WrongPasswordAndWrongUserAreRefused) {
  start();
  Client c;
  ASSERT_TRUE(c.connect(server->port(), "tester"));
  EXPECT_EQ(c.password("nope"), SSH_AUTH_DENIED);
  Client d;
  ASSERT_TRUE(d.connect(server->port(), "root"));
  EXPECT_EQ(d.password("s3cret"), SSH_AUTH_DENIED);
  EXPECT_EQ(server->accepted()["counts"]["auth_failed"], 2);
}

TEST_F(ServerFixture, EscapesAreRefusedWithPermissionDenied) {
  TempDir outside;
  spit(outside.path / "secret", "top secret");
  fs::create_symlink(outside.path, root.path / "link");
  start();
  Client c;
  ASSERT_TRUE(c.connect(server->port(), "tester"));
  ASSERT_EQ(c.password("s3cret"), SSH_AUTH_SUCCESS);
  ASSERT_TRUE(c.open_sftp());
  EXPECT_EQ(c.open_read("/../outside"), SSH_FX_PERMISSION_DENIED);
  EXPECT_EQ(c.open_read("../../etc/passwd"), SSH_FX_PERMISSION_DENIED);
  EXPECT_EQ(c.open_read("/link/secret"), SSH_FX_PERMISSION_DENIED);
  EXPECT_EQ(c.put("/link/planted", "x"), SSH_FX_PERMISSION_DENIED);
  EXPECT_FALSE(fs::exists(outside.path / "planted"));
  EXPECT_NE(sftp_mkdir(c.sftp, "/../x", 0755), SSH_OK);
  EXPECT_EQ(sftp_get_error(c.sftp), SSH_FX_PERMISSION_DENIED);
  // An absolute host path is read inside the root, where it does not exist.
  EXPECT_EQ(c.open_read((outside.path / "secret").string()), SSH_FX_NO_SUCH_FILE);
  // No link can be made.
  EXPECT_NE(sftp_symlink(c.sftp, "/etc/passwd", "/p"), SSH_OK);
  EXPECT_FALSE(fs::exists(root.path / "p"));
  sftp_dir dir = sftp_opendir(c.sftp, "/link");
  EXPECT_EQ(dir, nullptr);
  if (dir) sftp_closedir(dir);
}

TEST_F(ServerFixture, DisconnectMidUploadAndQuotaAreVisibleToTheClient) {
  auto o = options();
  FaultPlan plan;
  plan.add({.method = "put", .path = "/cut/*", .kind = FaultKind::reset, .after = true});
  o.faults = plan;
  o.fs.quota_bytes = 1000;
  start(o);
  fs::create_directories(root.path / "cut");
  Client c;
  ASSERT_TRUE(c.connect(server->port(), "tester"));
  ASSERT_EQ(c.password("s3cret"), SSH_AUTH_SUCCESS);
  ASSERT_TRUE(c.open_sftp());
  EXPECT_EQ(c.put("/full.bin", std::string(1500, 'f')), 14);  // SSH_FX_NO_SPACE_ON_FILESYSTEM
  EXPECT_EQ(fs::file_size(root.path / "full.bin"), 1000u);
  EXPECT_EQ(server->applied("/full.bin"), 0);
  ASSERT_EQ(sftp_unlink(c.sftp, "/full.bin"), SSH_OK);  // frees the quota again
  EXPECT_NE(c.put("/cut/f.bin", std::string(20000, 'c')), 0);
  c.close();
  const std::string partial = slurp(root.path / "cut" / "f.bin");
  EXPECT_GT(partial.size(), 0u);
  EXPECT_LT(partial.size(), 20000u);
  EXPECT_EQ(server->applied("/cut/f.bin"), 0);
  // The server is still there for the next session.
  Client d;
  ASSERT_TRUE(d.connect(server->port(), "tester"));
  EXPECT_EQ(d.password("s3cret"), SSH_AUTH_SUCCESS);
}

TEST_F(ServerFixture, LatencyDelaysAndTimeoutLeavesTheClientWaiting) {
  auto o = options();
  FaultPlan plan;
  plan.add({.method = "mkdir", .kind = FaultKind::latency, .latency_min = 300ms, .latency_max = 300ms});
  plan.add({.method = "get", .path = "/hang/*", .kind = FaultKind::timeout});
  o.faults = plan;
  o.idle_timeout = 2s;  // a hung session is closed once the client has been silent this long
  start(o);
  fs::create_directories(root.path / "hang");
  spit(root.path / "hang" / "f", "x");
  Client c;
  ASSERT_TRUE(c.connect(server->port(), "tester"));
  ASSERT_EQ(c.password("s3cret"), SSH_AUTH_SUCCESS);
  ASSERT_TRUE(c.open_sftp());
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(sftp_mkdir(c.sftp, "/m", 0755), SSH_OK);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);
  // The server never answers; libssh's client waits until the idle timeout closes the session.
  t0 = std::chrono::steady_clock::now();
  EXPECT_NE(c.open_read("/hang/f"), 0);
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, 1900ms);
  EXPECT_LT(waited, 8s);
  c.close();
  EXPECT_EQ(server->accepted()["counts"]["fault.timeout"], 1);
}

TEST_F(ServerFixture, ConnectFaultsRefuseTheLogin) {
  auto o = options();
  FaultPlan plan;
  plan.add({.method = "connect", .times = 1, .kind = FaultKind::respond, .status = 3});
  o.faults = plan;
  start(o);
  Client c;
  ASSERT_TRUE(c.connect(server->port(), "tester"));
  EXPECT_EQ(c.password("s3cret"), SSH_AUTH_DENIED);
  Client d;
  ASSERT_TRUE(d.connect(server->port(), "tester"));
  EXPECT_EQ(d.password("s3cret"), SSH_AUTH_SUCCESS);
}

TEST_F(ServerFixture, StopsCleanlyWithSessionsOpenAndKeepsTheHostKey) {
  start();
  const std::string fp = server->host_key_fingerprint();
  EXPECT_EQ(fp.rfind("SHA256:", 0), 0u) << fp;
  EXPECT_TRUE(fs::exists(work.path / "host_key"));
  Client c;
  ASSERT_TRUE(c.connect(server->port(), "tester"));
  ASSERT_EQ(c.password("s3cret"), SSH_AUTH_SUCCESS);
  ASSERT_TRUE(c.open_sftp());
  const auto t0 = std::chrono::steady_clock::now();
  server->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(server->sessions_finished(), 1);
  EXPECT_NE(c.put("/after-stop", "x"), 0);
  server->stop();  // idempotent
  // A second start reuses the generated host key.
  start();
  EXPECT_EQ(server->host_key_fingerprint(), fp);
}

TEST_F(ServerFixture, SessionsAreBounded) {
  auto o = options();
  o.max_sessions = 1;
  start(o);
  Client a;
  ASSERT_TRUE(a.connect(server->port(), "tester"));
  ASSERT_EQ(a.password("s3cret"), SSH_AUTH_SUCCESS);
  Client b;
  const bool connected = b.connect(server->port(), "tester");
  EXPECT_FALSE(connected && b.password("s3cret") == SSH_AUTH_SUCCESS);
  EXPECT_EQ(server->accepted()["counts"]["refused.max_sessions"], 1);
  // The bound is on sessions at once: once a leaves, the next login gets in.
  a.close();
  b.close();
  Client c;
  bool in = false;
  for (int i = 0; i < 20 && !in; ++i) {  // a's session thread notices the disconnect within a poll slice
    Client t;
    in = t.connect(server->port(), "tester") && t.password("s3cret") == SSH_AUTH_SUCCESS;
    if (!in) ::usleep(100'000);
  }
  EXPECT_TRUE(in);
}

// Issue 16: the bound counted bare TCP connections, so 8 silent connects locked every user out.
TEST_F(ServerFixture, SilentConnectsDoNotLockOutALoginAndAreClosedAfterTheLoginTimeout) {
  auto o = options();
  o.max_sessions = 2;
  o.login_timeout = 700ms;
  start(o);
  std::vector<std::unique_ptr<SilentSocket>> silent;
  for (int i = 0; i < 12; ++i) {
    silent.push_back(std::make_unique<SilentSocket>(server->port()));
    ASSERT_GE(silent.back()->fd, 0);
  }
  Client c;
  ASSERT_TRUE(c.connect(server->port(), "tester"));
  ASSERT_EQ(c.password("s3cret"), SSH_AUTH_SUCCESS);
  ASSERT_TRUE(c.open_sftp());
  ASSERT_EQ(c.put("/in.txt", "x"), 0);
  // The silent ones are closed by the login timeout, not left for the idle timeout (20 s here).
  const auto t0 = std::chrono::steady_clock::now();
  for (auto& sock : silent) EXPECT_TRUE(sock->closed_by_server_within(3s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_EQ(server->accepted()["counts"]["login_timeout"], 12);
  // The logged-in session outlived the login timeout.
  EXPECT_EQ(c.put("/still.txt", "y"), 0);
}

TEST_F(ServerFixture, ConnectionsNotLoggedInAreBoundedApart) {
  auto o = options();
  o.max_unauthenticated = 3;
  o.login_timeout = 5s;
  start(o);
  std::vector<std::unique_ptr<SilentSocket>> silent;
  for (int i = 0; i < 3; ++i) silent.push_back(std::make_unique<SilentSocket>(server->port()));
  ::usleep(300'000);  // the acceptor has taken all three
  // A fourth makes room: the one waiting longest is closed (silent
  // connections opened again and again cannot keep a login out), not the new one.
  SilentSocket fourth(server->port());
  EXPECT_TRUE(silent[0]->closed_by_server_within(2s));
  EXPECT_FALSE(fourth.closed_by_server_within(300ms));
  EXPECT_EQ(server->accepted()["counts"]["evicted.max_unauthenticated"], 1);
  // And a real login still gets in beside them.
  Client c;
  ASSERT_TRUE(c.connect(server->port(), "tester"));
  EXPECT_EQ(c.password("s3cret"), SSH_AUTH_SUCCESS);
}

TEST_F(ServerFixture, FailedLoginsAreSlowedDownPerAddressAndTheSessionClosed) {
  auto o = options();
  o.auth_failure_delay = 150ms;
  o.auth_failure_delay_max = 400ms;
  o.auth_attempts_max = 3;
  start(o);
  auto timed = [](Client& c, const std::string& pw, int& rc) {
    const auto t0 = std::chrono::steady_clock::now();
    rc = c.password(pw);
    return std::chrono::steady_clock::now() - t0;
  };
  Client c;
  ASSERT_TRUE(c.connect(server->port(), "tester"));
  int rc = 0;
  EXPECT_GE(timed(c, "nope1", rc), 150ms);  // 1st failure: the base delay
  EXPECT_EQ(rc, SSH_AUTH_DENIED);
  EXPECT_GE(timed(c, "nope2", rc), 300ms);  // 2nd: doubled
  EXPECT_EQ(rc, SSH_AUTH_DENIED);
  EXPECT_GE(timed(c, "nope3", rc), 400ms);  // 3rd: capped
  EXPECT_EQ(c.password("s3cret"), SSH_AUTH_ERROR);  // the session closed after 3 failures
  // A new connection from the same address does not start over.
  Client d;
  ASSERT_TRUE(d.connect(server->port(), "tester"));
  EXPECT_GE(timed(d, "nope4", rc), 400ms);
  EXPECT_EQ(rc, SSH_AUTH_DENIED);
  EXPECT_EQ(d.password("s3cret"), SSH_AUTH_SUCCESS);  // the right password still gets in ...
  Client e;
  ASSERT_TRUE(e.connect(server->port(), "tester"));
  const auto after_login = timed(e, "nope5", rc);  // ... and resets the address's delay
  EXPECT_GE(after_login, 150ms);
  EXPECT_LT(after_login, 380ms);  // not reset it would be the 400 ms cap
  EXPECT_EQ(server->accepted()["counts"]["auth_failed"], 5);
}

TEST_F(ServerFixture, NamesWithControlCharactersAreRefused) {
  start();
  Client c;
  ASSERT_TRUE(c.connect(server->port(), "tester"));
  ASSERT_EQ(c.password("s3cret"), SSH_AUTH_SUCCESS);
  ASSERT_TRUE(c.open_sftp());
  EXPECT_NE(sftp_mkdir(c.sftp, "/a\x01b", 0755), SSH_OK);
  EXPECT_EQ(sftp_get_error(c.sftp), SSH_FX_FAILURE);
  EXPECT_EQ(c.put("/line\nbreak.csv", "x"), SSH_FX_FAILURE);
  EXPECT_EQ(c.put("/del\x7f.csv", "x"), SSH_FX_FAILURE);
  ASSERT_EQ(c.put("/ok.csv", "x"), 0);
  EXPECT_NE(sftp_rename(c.sftp, "/ok.csv", "/o\tk.csv"), SSH_OK);
  EXPECT_EQ(sftp_get_error(c.sftp), SSH_FX_FAILURE);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(root.path)) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"ok.csv"});
  // Five refusals for four calls: libssh's sftp_mkdir follows a FAILURE with a STAT of the same name.
  EXPECT_EQ(server->accepted()["counts"]["error.invalid_name"], 5) << server->accepted().dump();
}

TEST(SftpPacketSession, ANulInANameIsRefusedNotCutShort) {
  TempDir root;
  SftpServerOptions o;
  o.root = root.path.string();
  PacketFixture f(o);
  using namespace sftp_wire;
  // libssh's server parser read "/a\0b" as "/a" and created that file.
  Reply r = ask(*f.session, packet(kOpen, Body().u32(7).str(std::string("/a\0b", 4)).u32(kOpenWrite | kOpenCreate).u32(0)));
  EXPECT_EQ(r.type, kStatus);
  EXPECT_EQ(r.id, 7u);
  EXPECT_EQ(r.code, kFailure);
  EXPECT_NE(r.text.find("byte 2 is 0x00"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("\"/a\\x00b\""), std::string::npos) << r.text;
  EXPECT_FALSE(fs::exists(root.path / "a"));
  r = ask(*f.session, packet(kMkdir, Body().u32(8).str("/\x1f").u32(0)));
  EXPECT_EQ(r.code, kFailure);
  r = ask(*f.session, packet(kExtended, Body().u32(9).str("posix-rename@openssh.com").str("/x").str(std::string("/y\0", 3))));
  EXPECT_EQ(r.code, kFailure);
  EXPECT_TRUE(fs::is_empty(root.path));
  // A clean name still works in the same session.
  r = ask(*f.session, packet(kMkdir, Body().u32(10).str("/fine").u32(0)));
  EXPECT_EQ(r.code, kOk);
  EXPECT_TRUE(fs::is_directory(root.path / "fine"));
}

TEST(SftpPacketSession, MalformedPacketsAnswerBadMessageAndOversizedOnesEndTheSession) {
  SftpServerOptions o;
  o.in_memory = true;
  PacketFixture f(o);
  using namespace sftp_wire;
  Reply r = ask(*f.session, packet(kRead, Body().u32(3).str("h")));  // no offset, no length
  EXPECT_EQ(r.code, kBadMessage);
  EXPECT_EQ(r.id, 3u);
  r = ask(*f.session, packet(kOpen, Body().u32(4).u32(1000)));  // a name longer than the packet
  EXPECT_EQ(r.code, kBadMessage);
  r = ask(*f.session, packet(kClose, Body().u32(5).str("nope")));
  EXPECT_EQ(r.code, kFailure);  // an unknown handle
  r = ask(*f.session, packet(kSymlink, Body().u32(6).str("/a").str("/b")));
  EXPECT_EQ(r.code, kOpUnsupported);
  // Split anywhere: a packet fed byte by byte is answered once whole.
  const std::string mk = packet(kMkdir, Body().u32(11).str("/d").u32(0));
  std::string out;
  for (char ch : mk) out += f.session->feed(std::string(1, ch));
  auto rs = replies(out);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].code, kOk);
  EXPECT_FALSE(f.session->closed());
  // A length over the bound cannot be skipped safely: the session ends.
  EXPECT_EQ(f.session->feed(Body().u32(kPacketBytesMax + 1).b + "x"), "");
  EXPECT_TRUE(f.session->closed());
}

TEST_F(ServerFixture, ChmodIsHonouredOnDiskAndWhatCannotBeKeptIsRefused) {
  start();
  Client c;
  ASSERT_TRUE(c.connect(server->port(), "tester"));
  ASSERT_EQ(c.password("s3cret"), SSH_AUTH_SUCCESS);
  ASSERT_TRUE(c.open_sftp());
  ASSERT_EQ(c.put("/f.csv", "x"), 0);
  ASSERT_EQ(sftp_chmod(c.sftp, "/f.csv", 0600), SSH_OK);
  struct stat st;
  ASSERT_EQ(::stat((root.path / "f.csv").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  sftp_attributes a = sftp_stat(c.sftp, "/f.csv");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->permissions & 07777, 0600u);
  sftp_attributes_free(a);
  // Times are kept too.
  timeval times[2] = {{1'600'000'000, 0}, {1'700'000'000, 0}};
  ASSERT_EQ(sftp_utimes(c.sftp, "/f.csv", times), SSH_OK);
  a = sftp_stat(c.sftp, "/f.csv");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->mtime, 1'700'000'000u);
  sftp_attributes_free(a);
  // The owner and setuid bits are refused, and nothing changes.
  EXPECT_NE(sftp_chown(c.sftp, "/f.csv", 0, 0), SSH_OK);
  EXPECT_EQ(sftp_get_error(c.sftp), SSH_FX_OP_UNSUPPORTED);
  EXPECT_NE(sftp_chmod(c.sftp, "/f.csv", 04755), SSH_OK);
  EXPECT_EQ(sftp_get_error(c.sftp), SSH_FX_OP_UNSUPPORTED);
  ASSERT_EQ(::stat((root.path / "f.csv").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  // The jail holds for setstat as for every operation.
  EXPECT_NE(sftp_chmod(c.sftp, "/../f.csv", 0777), SSH_OK);
  EXPECT_EQ(sftp_get_error(c.sftp), SSH_FX_PERMISSION_DENIED);
  // The root's mode is not the client's to change (chmod 0 would lock every session out).
  EXPECT_NE(sftp_chmod(c.sftp, "/", 0), SSH_OK);
  EXPECT_EQ(sftp_get_error(c.sftp), SSH_FX_OP_UNSUPPORTED);
  ASSERT_EQ(::stat(root.path.c_str(), &st), 0);
  EXPECT_NE(st.st_mode & 0700, 0u);
}

// A read-only part of the tree (a "put" deny rule) stays read-only for setstat.
TEST_F(ServerFixture, SetstatKeepsTheWriteDenyRules) {
  std::filesystem::create_directories(root.path / "ro");
  spit(root.path / "ro" / "x.csv", "a\n");
  auto o = options();
  o.fs.deny.push_back(SftpDenyRule{{"put"}, "/ro/*"});
  start(o);
  Client c;
  ASSERT_TRUE(c.connect(server->port(), "tester"));
  ASSERT_EQ(c.password("s3cret"), SSH_AUTH_SUCCESS);
  ASSERT_TRUE(c.open_sftp());
  EXPECT_NE(sftp_chmod(c.sftp, "/ro/x.csv", 0), SSH_OK);
  EXPECT_EQ(sftp_get_error(c.sftp), SSH_FX_PERMISSION_DENIED);
  struct stat st;
  ASSERT_EQ(::stat((root.path / "ro" / "x.csv").c_str(), &st), 0);
  EXPECT_NE(st.st_mode & 0600, 0u);  // unchanged
}

// Many small READs in one piece of input used to build every answer before any
// was written (65 KB in, 148 MB out of one call): answers now come a bounded
// piece at a time, and all of them still come.
TEST(SftpPacketSession, AnswersComeABoundedPieceAtATime) {
  SftpServerOptions o;
  o.in_memory = true;
  PacketFixture f(o);
  using namespace sftp_wire;
  Reply w = ask(*f.session, packet(kOpen, Body().u32(1).str("/big").u32(kOpenWrite | kOpenCreate).u32(0)));
  ASSERT_EQ(w.type, kHandle);
  ASSERT_EQ(ask(*f.session, packet(kWrite, Body().u32(2).str(w.text).u64(0).str(std::string(65536, 'x')))).code, kOk);
  ASSERT_EQ(ask(*f.session, packet(kClose, Body().u32(3).str(w.text))).code, kOk);
  Reply h = ask(*f.session, packet(kOpen, Body().u32(4).str("/big").u32(kOpenRead).u32(0)));
  ASSERT_EQ(h.type, kHandle);
  std::string reads;
  const int n = 200;  // 200 answers of 64 KiB: 13 MB
  for (int i = 0; i < n; ++i) reads += packet(kRead, Body().u32(100 + i).str(h.text).u64(0).u32(65536));
  std::string piece = f.session->feed_once(reads);
  ASSERT_FALSE(piece.empty());
  {
    auto first = replies(piece.substr(0, 4 + ((static_cast<unsigned char>(piece[2]) << 8) | static_cast<unsigned char>(piece[3])) +
                                             (static_cast<unsigned char>(piece[1]) << 16)));
    ASSERT_FALSE(first.empty());
    ASSERT_EQ(first[0].type, kData) << "code " << first[0].code << ": " << first[0].text;
  }
  std::size_t total = piece.size(), pieces = 1;
  EXPECT_LE(piece.size(), (1u << 20) + 70'000u);
  while (!(piece = f.session->feed_once({})).empty()) {
    EXPECT_LE(piece.size(), (1u << 20) + 70'000u);
    total += piece.size();
    ++pieces;
  }
  EXPECT_GE(pieces, 10u);
  EXPECT_EQ(total, static_cast<std::size_t>(n) * (4 + 1 + 4 + 4 + 65536));  // every DATA answer came
}

TEST(SftpPacketSession, SetstatOnTheInMemoryTreeIsRefusedNotFaked) {
  SftpServerOptions o;
  o.in_memory = true;
  PacketFixture f(o);
  using namespace sftp_wire;
  ASSERT_EQ(ask(*f.session, packet(kMkdir, Body().u32(1).str("/d").u32(0))).code, kOk);
  Reply r = ask(*f.session, packet(kSetstat, Body().u32(2).str("/d").u32(kAttrPermissions).u32(0700)));
  EXPECT_EQ(r.code, kOpUnsupported);
  EXPECT_NE(r.text.find("nothing was changed"), std::string::npos) << r.text;
}

TEST_F(ServerFixture, BadOptionsAreErrorsNamingTheOption) {
  auto o = options();
  o.root = (work.path / "missing").string();
  SftpServer s1(o);
  auto e1 = s1.start();
  ASSERT_FALSE(e1.ok());
  EXPECT_NE(e1.error().message.find("--root"), std::string::npos) << e1.error().message;
  o = options();
  spit(work.path / "bad_keys", "ssh-ed25519 notbase64!!\n");
  o.authorized_keys_file = (work.path / "bad_keys").string();
  SftpServer s2(o);
  auto e2 = s2.start();
  ASSERT_FALSE(e2.ok());
  EXPECT_NE(e2.error().message.find("bad_keys: line 1"), std::string::npos) << e2.error().message;
  o = options();
  o.password.clear();
  o.authorized_keys_file.clear();
  EXPECT_FALSE(SftpServer(o).start().ok());
}

TEST(ServeSftpFake, ReadsItsSettingsFromOptionsAndServesForTheGivenLifetime) {
  TempDir root;
  const std::string r = root.path.string();
  ServeArgs a;
  a.fake = "sftp";
  a.options = {{"root", r}, {"user", "u"}, {"password", {{"secret", "p"}}}};
  a.max_lifetime = 300ms;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(serve_sftp_fake(a), kExitOk);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);

  // Bad input: a fault plan the SFTP door cannot apply → exit code 2.
  std::ofstream(root.path / "faults.json") << R"([{"rate_limit": true}])";
  ServeArgs bad = a;
  bad.faults_file = (root.path / "faults.json").string();
  EXPECT_EQ(serve_sftp_fake(bad), kExitUsage);

  // root and user are required; an unknown key is named.
  ServeArgs missing = a;
  missing.options = {{"user", "u"}};
  EXPECT_EQ(serve_sftp_fake(missing), kExitUsage);
  ServeArgs unknown = a;
  unknown.options["passwd"] = "p";
  EXPECT_EQ(serve_sftp_fake(unknown), kExitUsage);

  // `serve sftp` reaches it by the fake's door: a file door with no server
  // of its own (tools/main.cpp then serves it over SFTP).
  const FakeEntry* e = find_fake("sftp");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->door, FakeDoor::file);
  EXPECT_FALSE(e->serve);
}

TEST(ServeSftpFake, QuotaFromOptionsAnswersNoSpaceAndTheServerStaysUp) {
  TempDir root;
  ServeArgs a;
  a.fake = "sftp";
  a.options = {{"root", root.path.string()}, {"user", "u"}, {"password_file", ""}, {"quota", 1000}};
  spit(root.path / ".pw", "pw\n");
  a.options["password_file"] = (root.path / ".pw").string();
  auto settings = read_serve_sftp_options(a);
  ASSERT_TRUE(settings.ok()) << settings.error().message;
  ASSERT_TRUE(settings->server.fs.quota_bytes.has_value());
  EXPECT_EQ(*settings->server.fs.quota_bytes, 1000);
  fs::remove(root.path / ".pw");  // its 3 bytes would count toward the quota
  SftpServer server(settings->server);
  ASSERT_TRUE(server.start().ok());
  Client c;
  ASSERT_TRUE(c.connect(server.port(), "u"));
  ASSERT_EQ(c.password("pw"), SSH_AUTH_SUCCESS);
  ASSERT_TRUE(c.open_sftp());
  EXPECT_EQ(c.put("/big.bin", std::string(1500, 'b')), 14);  // SSH_FX_NO_SPACE_ON_FILESYSTEM
  ASSERT_EQ(sftp_unlink(c.sftp, "/big.bin"), SSH_OK);
  EXPECT_EQ(c.put("/small.bin", std::string(900, 's')), 0);
  // The message names the quota (seen through a packet session over the same tree).
  SftpPacketSession ps(server);
  using namespace sftp_wire;
  replies(ps.feed(packet(kInit, Body().u32(3))));
  Reply h = ask(ps, packet(kOpen, Body().u32(1).str("/more.bin").u32(kOpenWrite | kOpenCreate).u32(0)));
  ASSERT_EQ(h.type, kHandle);
  Reply w = ask(ps, packet(kWrite, Body().u32(2).str(h.text).u64(0).str(std::string(200, 'm'))));
  EXPECT_EQ(w.code, 14u);
  EXPECT_NE(w.text.find("quota of 1000 bytes"), std::string::npos) << w.text;
  // Still serving.
  Client d;
  ASSERT_TRUE(d.connect(server.port(), "u"));
  EXPECT_EQ(d.password("pw"), SSH_AUTH_SUCCESS);
  server.stop();

  ServeArgs bad = a;
  bad.options.erase("password_file");
  bad.options["password"] = "pw";
  bad.options["quota"] = "lots";
  auto e = read_serve_sftp_options(bad);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("/quota"), std::string::npos) << e.error().message;
  bad.options["quota"] = 100;
  bad.options["max_sessions"] = 0;
  e = read_serve_sftp_options(bad);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("/max_sessions"), std::string::npos) << e.error().message;
  EXPECT_NE(e.error().message.find("[1, 10000]"), std::string::npos) << e.error().message;
}

TEST(ServeSftpFake, ThePasswordComesFromAFileOrTheEnvironmentAndInlineWarns) {
  TempDir root;
  ServeArgs a;
  a.fake = "sftp";
  a.options = {{"root", root.path.string()}, {"user", "u"}, {"max_sessions", 3}, {"login_timeout", "2s"}};
  ::unsetenv(kSftpPasswordEnv);
  // No password anywhere and no keys: refused, naming both ways to give one.
  auto none = read_serve_sftp_options(a);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("password_file"), std::string::npos) << none.error().message;
  EXPECT_NE(none.error().message.find(kSftpPasswordEnv), std::string::npos) << none.error().message;

  TempDir work;
  spit(work.path / "pw", "from-file\r\nsecond line ignored\n");
  ::chmod((work.path / "pw").c_str(), 0600);
  ServeArgs file = a;
  file.options["password_file"] = (work.path / "pw").string();
  auto f = read_serve_sftp_options(file);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->server.password, "from-file");
  EXPECT_TRUE(f->warnings.empty());
  EXPECT_EQ(f->server.max_sessions, 3);
  EXPECT_EQ(f->server.login_timeout, 2s);
  ::chmod((work.path / "pw").c_str(), 0644);
  f = read_serve_sftp_options(file);
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f->warnings.size(), 1u);
  EXPECT_NE(f->warnings[0].find("chmod 600"), std::string::npos) << f->warnings[0];

  ServeArgs missing = a;
  missing.options["password_file"] = (work.path / "absent").string();
  auto m = read_serve_sftp_options(missing);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("/password_file"), std::string::npos) << m.error().message;

  ::setenv(kSftpPasswordEnv, "from-env", 1);
  auto env = read_serve_sftp_options(a);
  ::unsetenv(kSftpPasswordEnv);
  ASSERT_TRUE(env.ok()) << env.error().message;
  EXPECT_EQ(env->server.password, "from-env");
  EXPECT_TRUE(env->warnings.empty());

  ServeArgs both = file;
  both.options["password"] = "x";
  EXPECT_FALSE(read_serve_sftp_options(both).ok());

  // Inline still works, with a warning on stderr.
  ServeArgs inline_pw = a;
  inline_pw.options["password"] = "inline";
  inline_pw.max_lifetime = 200ms;
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(serve_sftp_fake(inline_pw), kExitOk);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("warning: --options /password: the password is on the command line"), std::string::npos) << err;
}

}  // namespace
}  // namespace destsim
