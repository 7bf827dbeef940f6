// sftp_server_test.cpp — the SFTP fake's real door: a libssh server on
// 127.0.0.1 (a free port, a temporary root) driven by OpenSSH's `sftp -b` with
// key auth and by the libssh client with password auth. Every client call is
// bounded (libssh timeouts, `timeout` around the OpenSSH client).
#include "fakes/doors/sftp_server.h"

#include <cstdlib>

#include <gtest/gtest.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fakes/doors/serve_sftp.h"

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

}  // namespace
}  // namespace destsim
