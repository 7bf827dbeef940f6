// sftp_fake_test.cpp — the SFTP fake's model (RemoteFs, both backends), its
// options, its oracle and its sim door in virtual time, fault by fault.
#include "fakes/sftp/sftp_fake.h"

#include <cctype>

#include <gtest/gtest.h>
#include <libssh/libssh.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include "fakes/catalog.h"
#include "framework/clock.h"
#include "framework/loop.h"
#include "framework/oracle.h"

namespace destsim {
namespace {

using namespace std::chrono_literals;
using Kind = FileError::Kind;

// ---------------------------------------------------------------- model

// A delivered file's row keys are oracle_key("sftp.row", row) of each row as
// a JSON object: for CSV the non-empty cells by column (a repeated column
// keeps its last non-empty cell), for JSONL each line parsed (keys in any
// order, a repeated key's last value, escapes, nesting). Hashed in place, they
// must equal the keys of the objects built the slow way.
TEST(SftpRowKeys, EqualTheKeysOfTheRowObjects) {
  const std::string csv = "b,a,b,c\r\n1,,2,\r\n,x,,\"q\"\"\"\r\n\r\n3,4,,5\r\n";
  auto keys = sftp_row_keys("f.csv", csv);
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0], oracle_key("sftp.row", nlohmann::json{{"b", "2"}}));
  EXPECT_EQ(keys[1], oracle_key("sftp.row", nlohmann::json{{"a", "x"}, {"c", "q\""}}));
  EXPECT_EQ(keys[2], oracle_key("sftp.row", nlohmann::json{{"a", "4"}, {"b", "3"}, {"c", "5"}}));
  const std::string jsonl = "{\"z\":1,\"a\":[1,{\"y\":null,\"b\":true}]}\n"
                            "{\"k\":\"first\",\"k\":\"last\",\"e\":\"\\u00e9\\n\"}\r\n"
                            "not json\n[1,2]\n{\"n\":-1.5e3,\"u\":18446744073709551615}\n";
  keys = sftp_row_keys("f.jsonl", jsonl);
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0], oracle_key("sftp.row", nlohmann::json::parse(R"({"z":1,"a":[1,{"y":null,"b":true}]})")));
  EXPECT_EQ(keys[1], oracle_key("sftp.row", nlohmann::json{{"k", "last"}, {"e", "\u00e9\n"}}));
  EXPECT_EQ(keys[2], oracle_key("sftp.row", nlohmann::json::parse(R"({"n":-1.5e3,"u":18446744073709551615})")));
}

TEST(RemoteFsModel, NormalizeKeepsPathsUnderTheRootAndRefusesEscapes) {
  EXPECT_EQ(*RemoteFs::normalize("/a/../b"), "/b");
  EXPECT_EQ(*RemoteFs::normalize("a/./b//c/"), "/a/b/c");
  EXPECT_EQ(*RemoteFs::normalize(""), "/");
  EXPECT_EQ(*RemoteFs::normalize("/a/b/../.."), "/");
  for (const char* escape : {"/..", "..", "../etc/passwd", "/a/../../x", "a/b/../../../c"}) {
    auto r = RemoteFs::normalize(escape, "get");
    ASSERT_FALSE(r.ok()) << escape;
    EXPECT_EQ(r.error().kind, Kind::permission_denied) << escape;
    EXPECT_NE(r.error().message.find("jail"), std::string::npos) << r.error().message;
  }
  auto nul = RemoteFs::normalize(std::string("/a\0b", 4));
  ASSERT_FALSE(nul.ok());
  EXPECT_EQ(nul.error().kind, Kind::invalid_path);
}

TEST(RemoteFsModel, MkdirPutRenameRemoveList) {
  auto fs = RemoteFs::in_memory();
  ASSERT_TRUE(fs->mkdir_p("/x/y").ok());
  ASSERT_TRUE(fs->mkdir_p("/x/y").ok());  // existing directories are fine
  ASSERT_TRUE(fs->put("/x/y/b.csv", "abc").ok());
  ASSERT_TRUE(fs->put("/x/y/a.csv", "12345").ok());
  auto l = fs->list("/x/y");
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ((*l)[0].name, "a.csv");
  EXPECT_EQ((*l)[0].size, 5);
  EXPECT_EQ((*l)[1].name, "b.csv");
  EXPECT_FALSE((*l)[1].directory);
  EXPECT_TRUE((*fs->list("/x"))[0].directory);

  // Rename with overwrite replaces; without (SFTP v3) it is refused.
  ASSERT_TRUE(fs->rename("/x/y/a.csv", "/x/y/b.csv", true).ok());
  EXPECT_EQ(*fs->read_all("/x/y/b.csv"), "12345");
  EXPECT_EQ(fs->used_bytes(), 5);
  ASSERT_TRUE(fs->put("/x/y/c.csv", "c").ok());
  auto v3 = fs->rename("/x/y/c.csv", "/x/y/b.csv", false);
  ASSERT_FALSE(v3.ok());
  EXPECT_EQ(v3.error().kind, Kind::failure);

  // Errors name the operation and the path.
  auto missing_dir = fs->put("/nope/f", "x");
  ASSERT_FALSE(missing_dir.ok());
  EXPECT_EQ(missing_dir.error().kind, Kind::no_such_file);
  EXPECT_EQ(missing_dir.error().message, "put /nope/f: no such directory /nope");
  EXPECT_EQ(fs->mkdir("/x").error().kind, Kind::failure);
  EXPECT_EQ(fs->remove("/x").error().kind, Kind::failure);
  EXPECT_EQ(fs->rmdir("/x/y").error().kind, Kind::failure);  // not empty
  EXPECT_EQ(fs->remove("/x/y/zzz").error().kind, Kind::no_such_file);
  EXPECT_EQ(fs->list("/x/y/b.csv").error().kind, Kind::failure);
  EXPECT_EQ(fs->mkdir_p("/x/y/b.csv/sub").error().kind, Kind::failure);

  ASSERT_TRUE(fs->remove("/x/y/b.csv").ok());
  ASSERT_TRUE(fs->remove("/x/y/c.csv").ok());
  EXPECT_EQ(fs->used_bytes(), 0);
  ASSERT_TRUE(fs->rmdir("/x/y").ok());
  EXPECT_TRUE(fs->list("/x")->empty());

  // A directory moves with its content.
  ASSERT_TRUE(fs->mkdir_p("/d/e").ok());
  ASSERT_TRUE(fs->put("/d/e/f", "1").ok());
  ASSERT_TRUE(fs->put("/d.txt", "sibling").ok());
  ASSERT_TRUE(fs->rename("/d", "/m", false).ok());
  EXPECT_EQ(*fs->read_all("/m/e/f"), "1");
  EXPECT_EQ(*fs->read_all("/d.txt"), "sibling");
  EXPECT_EQ(fs->all_files(), (std::vector<std::string>{"/d.txt", "/m/e/f"}));
  EXPECT_EQ(fs->rename("/m", "/m/e/inside", false).error().kind, Kind::failure);
}

TEST(RemoteFsModel, QuotaFillsPartWayAndFailsNoSpace) {
  RemoteFsOptions o;
  o.quota_bytes = 10;
  auto fs = RemoteFs::in_memory(o);
  ASSERT_TRUE(fs->put("/a", "123456").ok());
  auto full = fs->put("/b", "abcdef");
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().kind, Kind::no_space);
  EXPECT_NE(full.error().message.find("quota of 10 bytes"), std::string::npos) << full.error().message;
  EXPECT_EQ(*fs->read_all("/b"), "abcd");  // the part that fit stays, like a full disk
  EXPECT_EQ(fs->used_bytes(), 10);
  // Overwriting a file frees its old bytes first.
  ASSERT_TRUE(fs->put("/a", "xyzxyz").ok());
  // Rewriting bytes inside a file costs nothing.
  ASSERT_TRUE(fs->write("/a", 0, "QQ").ok());
  ASSERT_TRUE(fs->remove("/b").ok());
  EXPECT_EQ(fs->used_bytes(), 6);
  ASSERT_TRUE(fs->put("/b", "1234").ok());
  EXPECT_EQ(fs->put("/c", "1").error().kind, Kind::no_space);
}

TEST(RemoteFsModel, DenyRulesRefuseWithPermissionDenied) {
  RemoteFsOptions o;
  o.deny.push_back(SftpDenyRule{{"put", "rename", "remove"}, "/ro/*"});
  o.deny.push_back(SftpDenyRule{{"list"}, "/drop"});
  auto fs = RemoteFs::in_memory(o);
  ASSERT_TRUE(fs->mkdir_p("/ro").ok());
  ASSERT_TRUE(fs->mkdir_p("/drop").ok());
  auto put = fs->put("/ro/f", "x");
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.error().kind, Kind::permission_denied);
  EXPECT_EQ(put.error().message, "put /ro/f: permission denied");
  EXPECT_TRUE(fs->list("/ro").ok());
  EXPECT_EQ(fs->list("/drop").error().kind, Kind::permission_denied);
  EXPECT_TRUE(fs->put("/drop/f", "x").ok());
  EXPECT_EQ(fs->rename("/drop/f", "/ro/f", true).error().kind, Kind::permission_denied);
  // A deny rule matches the normalised path: a ".." detour does not get around it.
  EXPECT_EQ(fs->put("/drop/../ro/f", "x").error().kind, Kind::permission_denied);
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/destsim-sftpfs-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

TEST(RemoteFsDisk, JailRefusesDotDotAndSymlinksLeadingOutside) {
  TempDir outside, root;
  std::ofstream(outside.path / "secret") << "top secret";
  std::filesystem::create_directories(root.path / "in");
  std::ofstream(root.path / "in" / "old.csv") << "1234567";
  std::filesystem::create_symlink(outside.path, root.path / "out");            // a directory link outside
  std::filesystem::create_symlink(outside.path / "secret", root.path / "s");   // a file link outside
  std::filesystem::create_symlink(outside.path / "new", root.path / "dangle");  // would create outside
  std::filesystem::create_symlink(root.path / "in", root.path / "in_link");    // stays inside

  auto fs = RemoteFs::on_disk(root.path.string());
  ASSERT_TRUE(fs.ok()) << fs.error().message;
  RemoteFs& d = **fs;
  EXPECT_EQ(d.used_bytes(), 7);  // bytes already there count toward the quota

  for (const char* p : {"/out/secret", "/s", "/../" "secret"}) {
    auto r = d.read_all(p);
    ASSERT_FALSE(r.ok()) << p;
    EXPECT_EQ(r.error().kind, Kind::permission_denied) << p << ": " << r.error().message;
  }
  EXPECT_EQ(d.put("/out/planted", "x").error().kind, Kind::permission_denied);
  EXPECT_EQ(d.put("/dangle", "x").error().kind, Kind::permission_denied);
  EXPECT_FALSE(std::filesystem::exists(outside.path / "planted"));
  EXPECT_FALSE(std::filesystem::exists(outside.path / "new"));
  EXPECT_EQ(d.list("/out").error().kind, Kind::permission_denied);
  // An absolute path is taken inside the root, never as a host path.
  auto abs = d.read_all(outside.path.string() + "/secret");
  ASSERT_FALSE(abs.ok());
  EXPECT_EQ(abs.error().kind, Kind::no_such_file);

  // Links that stay inside work; real files and directories work.
  EXPECT_EQ(*d.read_all("/in_link/old.csv"), "1234567");
  ASSERT_TRUE(d.mkdir_p("/a/b").ok());
  ASSERT_TRUE(d.put("/a/b/f.tmp", "hello").ok());
  ASSERT_TRUE(d.rename("/a/b/f.tmp", "/a/b/f", true).ok());
  std::ifstream f(root.path / "a" / "b" / "f");
  std::string content((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "hello");
  EXPECT_EQ(d.used_bytes(), 12);
  EXPECT_FALSE(d.clear().ok());
}

TEST(RemoteFsDisk, AMissingRootIsAnErrorNamingIt) {
  auto fs = RemoteFs::on_disk("/no/such/destsim/root");
  ASSERT_FALSE(fs.ok());
  EXPECT_NE(fs.error().message.find("/no/such/destsim/root"), std::string::npos);
}

// ---------------------------------------------------------------- options

TEST(SftpFakeOptions, ReadsEveryKey) {
  auto o = SftpFakeOptions::from_json(nlohmann::json::parse(R"({
    "users": [{"name": "u", "password": {"secret": "p"}}],
    "quota_bytes": "1KB",
    "deny": [{"ops": ["put"], "path": "/ro/*"}, {"path": "/locked/*"}],
    "dirs": ["/exports/a/../b"],
    "files": {"/exports/old.csv": "a\r\n", "/ro/seed": "s"}})"),
                                      "x.json: /fake/options");
  ASSERT_TRUE(o.ok()) << o.error().message;
  ASSERT_EQ(o->users.size(), 1u);
  EXPECT_EQ(o->users[0].password, "p");
  EXPECT_EQ(*o->fs.quota_bytes, 1000);
  ASSERT_EQ(o->fs.deny.size(), 2u);
  EXPECT_TRUE(o->fs.deny[1].ops.empty());
  EXPECT_EQ(o->dirs, std::vector<std::string>{"/exports/b"});
  SftpFake fake(*o);
  EXPECT_EQ(*fake.fs().read_all("/exports/old.csv"), "a\r\n");
  EXPECT_TRUE(fake.fs().stat("/exports/b")->directory);
  // The initial tree is laid down before the deny rules apply to clients.
  EXPECT_EQ(*fake.fs().read_all("/ro/seed"), "s");
  EXPECT_EQ(fake.fs().put("/ro/x", "1").error().kind, Kind::permission_denied);
}

TEST(SftpFakeOptions, ErrorsNameTheKeyAndWhatWasExpected) {
  struct Case {
    const char* json;
    const char* fragment;
  };
  for (const Case& c : std::initializer_list<Case>{
           {R"({"user": []})", "x.json: /fake/options/user: unknown key \"user\""},
           {R"({"users": [{"name": "u"}]})", "/users/0: user \"u\" needs a \"password\" or \"authorized_keys\""},
           {R"({"users": [{"name": "u", "password": 5}]})", "/users/0/password: expected a string"},
           {R"({"users": [{"name": "u", "authorized_keys": ["ssh-nope AAAA"]}]})", "unknown key type \"ssh-nope\""},
           {R"({"quota_bytes": "lots"})", "/quota_bytes: expected a size"},
           {R"({"deny": [{"ops": ["delete"], "path": "/x"}]})", "/deny/0/ops/0: expected an operation"},
           {R"({"deny": [{"path": "relative/*"}]})", "/deny/0/path: expected a path glob"},
           {R"({"dirs": ["rel"]})", "/dirs/0: expected an absolute path"},
           {R"({"files": {"/../x": "a"}})", "/files/~1..~1x: expected a file path"},
       }) {
    auto o = SftpFakeOptions::from_json(nlohmann::json::parse(c.json), "x.json: /fake/options");
    ASSERT_FALSE(o.ok()) << c.json;
    EXPECT_NE(o.error().message.find(c.fragment), std::string::npos) << o.error().message;
  }
}

TEST(SftpFakeCatalog, TheCatalogBuildsAFileFake) {
  const FakeEntry* e = find_fake("sftp");
  ASSERT_NE(e, nullptr);
  auto f = e->make(nlohmann::json::object(), "opts");
  ASSERT_TRUE(f.ok());
  EXPECT_NE(dynamic_cast<FileFake*>(f->get()), nullptr);
  EXPECT_EQ((*f)->name(), "sftp");
  EXPECT_FALSE(e->make(nlohmann::json{{"quota_bytes", -1}}, "opts").ok());
}

// ---------------------------------------------------------------- sim door

// Runs a task to completion on the loop; returns its value and when it finished.
template <class T>
std::pair<T, Time> run(Loop& loop, Task<T> task) {
  std::optional<T> out;
  Time at{};
  loop.spawn([](Loop& l, Task<T> t, std::optional<T>& o, Time& when) -> Task<void> {
    o.emplace(co_await std::move(t));
    when = l.now();
  }(loop, std::move(task), out, at));
  EXPECT_TRUE(loop.run_until_idle().ok());
  return {std::move(*out), at};
}

struct SimDoor : ::testing::Test {
  SimClock clock;
  Loop loop{clock};
  std::unique_ptr<SftpFake> fake = std::make_unique<SftpFake>(options());
  FaultPlan plan;
  std::unique_ptr<FileTransport> t;

  static SftpFakeOptions options() {
    SftpFakeOptions o;
    o.users.push_back(SftpUser{"u", "p", {}});
    o.dirs = {"/exports"};
    return o;
  }
  void open(nlohmann::json login = {{"user", "u"}, {"password", "p"}}) {
    t = fake->sim_transport(loop, &plan, 10ms, 1s, login);
  }
  void add(FaultRule r) { plan.add(std::move(r)); }
  static FaultRule rule(const char* op, FaultKind kind) {
    FaultRule r;
    r.method = op;
    r.kind = kind;
    return r;
  }
  FileResult<bool> connect() { return run(loop, t->connect()).first; }
};

TEST_F(SimDoor, OperationsTakeVirtualTimeAndApplyToTheModel) {
  open();
  EXPECT_FALSE(t->connected());
  auto [c, c_at] = run(loop, t->connect());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c_at, kTimeZero + 10ms);
  EXPECT_TRUE(t->connected());
  EXPECT_TRUE(run(loop, t->connect()).first.ok());  // a no-op while connected
  EXPECT_EQ(loop.now(), kTimeZero + 10ms);
  ASSERT_TRUE(run(loop, t->mkdir_p("/exports/d/r")).first.ok());
  ASSERT_TRUE(run(loop, t->put("/exports/d/r/.f.tmp", "a,b\r\n1,2\r\n")).first.ok());
  ASSERT_TRUE(run(loop, t->rename("/exports/d/r/.f.tmp", "/exports/d/r/f.csv")).first.ok());
  auto [l, l_at] = run(loop, t->list("/exports/d/r"));
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->size(), 1u);
  EXPECT_EQ((*l)[0].name, "f.csv");
  EXPECT_EQ((*l)[0].size, 10);
  EXPECT_EQ(l_at, kTimeZero + 50ms);
  EXPECT_EQ(*run(loop, t->get("/exports/d/r/f.csv")).first, "a,b\r\n1,2\r\n");
  ASSERT_TRUE(run(loop, t->remove("/exports/d/r/f.csv")).first.ok());
  EXPECT_EQ(run(loop, t->get("/exports/d/r/f.csv")).first.error().kind, Kind::no_such_file);
  EXPECT_EQ(run(loop, t->list("/nope")).first.error().kind, Kind::no_such_file);
  EXPECT_EQ(run(loop, t->get("/../etc/passwd")).first.error().kind, Kind::permission_denied);
  t->disconnect();
  auto [nc, nc_at] = run(loop, t->put("/exports/x", "1"));
  ASSERT_FALSE(nc.ok());
  EXPECT_EQ(nc.error().kind, Kind::disconnected);
  EXPECT_EQ(nc_at, loop.now());  // fails at once, no round trip
  auto acc = fake->accepted();
  EXPECT_EQ(acc["counts"]["put"], 1);
  EXPECT_EQ(acc["counts"]["connect"], 1);
  EXPECT_EQ(acc["commits"].size(), 2u);  // the put of the temporary, then the rename into place
  EXPECT_EQ(acc["commits"][1]["via"], "rename");
}

TEST_F(SimDoor, LoginsAreChecked) {
  open({{"user", "u"}, {"password", "wrong"}});
  auto r = connect();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, Kind::auth_failed);
  EXPECT_FALSE(t->connected());
  open({{"user", "who"}, {"password", "p"}});
  EXPECT_EQ(connect().error().kind, Kind::auth_failed);
  open({{"user", "u"}});
  EXPECT_EQ(connect().error().kind, Kind::auth_failed);
  open(nlohmann::json::array());
  EXPECT_EQ(connect().error().kind, Kind::auth_failed);
  EXPECT_EQ(fake->accepted()["counts"]["auth_failed"], 4);

  // With no users configured, any user with a password gets in.
  fake = std::make_unique<SftpFake>();
  open({{"user", "anyone"}, {"password", "x"}});
  EXPECT_TRUE(connect().ok());
}

TEST_F(SimDoor, KeyLoginChecksTheKeyAgainstAuthorizedKeys) {
  ssh_key key = nullptr, other = nullptr;
  ASSERT_EQ(ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key), SSH_OK);
  ASSERT_EQ(ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &other), SSH_OK);
  char* b64 = nullptr;
  ASSERT_EQ(ssh_pki_export_pubkey_base64(key, &b64), SSH_OK);
  const std::string pub_line = std::string("ssh-ed25519 ") + b64 + " test@destsim";
  ssh_string_free_char(b64);
  auto priv_text = [](ssh_key k) {
    char* text = nullptr;
    EXPECT_EQ(ssh_pki_export_privkey_base64(k, nullptr, nullptr, nullptr, &text), SSH_OK);
    std::string s = text;
    ssh_string_free_char(text);
    return s;
  };
  const std::string right = priv_text(key), wrong = priv_text(other);
  ssh_key_free(key);
  ssh_key_free(other);

  SftpFakeOptions o;
  o.users.push_back(SftpUser{"k", "", {}});
  auto parsed = parse_authorized_keys("# comment\n\n" + pub_line + "\n", "keys");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  o.users[0].authorized_keys = *parsed;
  fake = std::make_unique<SftpFake>(o);
  open({{"user", "k"}, {"private_key", right}});
  EXPECT_TRUE(connect().ok());
  open({{"user", "k"}, {"private_key", wrong}});
  EXPECT_EQ(connect().error().kind, Kind::auth_failed);
  open({{"user", "k"}, {"private_key", "KEY"}});
  EXPECT_EQ(connect().error().kind, Kind::auth_failed);
  open({{"user", "k"}, {"password", "p"}});  // this user has no password
  EXPECT_EQ(connect().error().kind, Kind::auth_failed);

  // A key file path works too.
  char tmpl[] = "/tmp/destsim-key-XXXXXX";
  int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, right.data(), right.size()), static_cast<ssize_t>(right.size()));
  ::close(fd);
  open({{"user", "k"}, {"private_key", tmpl}});
  EXPECT_TRUE(connect().ok());
  ::unlink(tmpl);
}

TEST_F(SimDoor, RespondAnswersAnSftpStatusAndKeepsTheSession) {
  FaultRule r = rule("put", FaultKind::respond);
  r.status = 3;
  r.times = 1;
  add(r);
  r.status = 14;
  add(r);
  r.status = 2;
  add(r);
  r.status = 4;
  add(r);
  open();
  ASSERT_TRUE(connect().ok());
  for (Kind want : {Kind::permission_denied, Kind::no_space, Kind::no_such_file, Kind::failure}) {
    auto res = run(loop, t->put("/exports/f", "data")).first;
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(res.error().kind, want) << res.error().message;
    EXPECT_NE(res.error().message.find("injected"), std::string::npos);
    EXPECT_TRUE(t->connected());
    EXPECT_FALSE(fake->fs().stat("/exports/f").ok());  // nothing written
  }
  EXPECT_TRUE(run(loop, t->put("/exports/f", "data")).first.ok());
}

TEST_F(SimDoor, RespondOnConnectIsAnAuthFailure) {
  FaultRule r = rule("connect", FaultKind::respond);
  r.status = 500;
  r.times = 1;
  add(r);
  open();
  EXPECT_EQ(connect().error().kind, Kind::auth_failed);
  EXPECT_TRUE(connect().ok());
}

TEST_F(SimDoor, ResetBeforeAPutWritesNothingAndDropsTheSession) {
  FaultRule r = rule("put", FaultKind::reset);
  r.times = 1;
  add(r);
  open();
  ASSERT_TRUE(connect().ok());
  auto res = run(loop, t->put("/exports/f", "0123456789")).first;
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().kind, Kind::disconnected);
  EXPECT_FALSE(t->connected());
  EXPECT_FALSE(fake->fs().stat("/exports/f").ok());
  EXPECT_EQ(run(loop, t->list("/exports")).first.error().kind, Kind::disconnected);
  ASSERT_TRUE(connect().ok());
  EXPECT_TRUE(run(loop, t->put("/exports/f", "0123456789")).first.ok());
  EXPECT_EQ(fake->applied("/exports/f"), 1);
}

TEST_F(SimDoor, ResetAfterAPutLeavesHalfAFileThatNeverCounts) {
  FaultRule r = rule("put", FaultKind::reset);
  r.after = true;
  r.times = 1;
  add(r);
  open();
  ASSERT_TRUE(connect().ok());
  auto res = run(loop, t->put("/exports/.f.tmp", "0123456789")).first;
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().kind, Kind::disconnected);
  EXPECT_NE(res.error().message.find("mid-upload after 5 of 10 bytes"), std::string::npos) << res.error().message;
  EXPECT_EQ(*fake->fs().read_all("/exports/.f.tmp"), "01234");
  EXPECT_FALSE(t->connected());
  // Renaming the partial file into place is not a complete commit.
  ASSERT_TRUE(connect().ok());
  ASSERT_TRUE(run(loop, t->rename("/exports/.f.tmp", "/exports/f")).first.ok());
  EXPECT_EQ(fake->applied("/exports/f"), 0);
}

TEST_F(SimDoor, ResetAfterARenameAppliesItAndLosesTheAnswer) {
  FaultRule r = rule("rename", FaultKind::reset);
  r.after = true;
  r.times = 1;
  add(r);
  open();
  ASSERT_TRUE(connect().ok());
  ASSERT_TRUE(run(loop, t->put("/exports/.t", "abc")).first.ok());
  auto res = run(loop, t->rename("/exports/.t", "/exports/final")).first;
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().kind, Kind::disconnected);
  EXPECT_EQ(fake->applied("/exports/final"), 1);
  EXPECT_EQ(*fake->fs().read_all("/exports/final"), "abc");
}

TEST_F(SimDoor, ADisconnectFailsTheOtherOperationsInFlight) {
  FaultRule r = rule("put", FaultKind::reset);
  r.path = "/exports/a";
  add(r);
  open();
  ASSERT_TRUE(connect().ok());
  std::vector<std::string> out;
  for (const char* p : {"/exports/a", "/exports/b"}) {
    loop.spawn([](FileTransport& tr, std::string path, std::vector<std::string>& o) -> Task<void> {
      auto res = co_await tr.put(path, "data");
      o.push_back(path + " " + (res.ok() ? "ok" : file_error_kind_name(res.error().kind)));
    }(*t, p, out));
  }
  ASSERT_TRUE(loop.run_until_idle().ok());
  EXPECT_EQ(out, (std::vector<std::string>{"/exports/a disconnected", "/exports/b disconnected"}));
  EXPECT_FALSE(fake->fs().stat("/exports/b").ok());
  // Two connect() calls racing make one session.
  for (int i = 0; i < 2; ++i)
    loop.spawn([](FileTransport& tr) -> Task<void> { (void)co_await tr.connect(); }(*t));
  ASSERT_TRUE(loop.run_until_idle().ok());
  EXPECT_TRUE(t->connected());
  EXPECT_TRUE(run(loop, t->put("/exports/b", "x")).first.ok());
}

TEST_F(SimDoor, TimeoutAnswersNothingForTheWholeTimeout) {
  FaultRule before = rule("put", FaultKind::timeout);
  before.times = 1;
  add(before);
  FaultRule after = before;
  after.after = true;
  add(after);
  open();
  ASSERT_TRUE(connect().ok());
  const Time t0 = loop.now();
  auto [res, at] = run(loop, t->put("/exports/a", "x"));
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().kind, Kind::timeout);
  EXPECT_EQ(at, t0 + 1s);
  EXPECT_FALSE(fake->fs().stat("/exports/a").ok());
  EXPECT_FALSE(t->connected());  // the client closes a session that stopped answering
  ASSERT_TRUE(connect().ok());
  auto res2 = run(loop, t->put("/exports/a", "x")).first;
  EXPECT_EQ(res2.error().kind, Kind::timeout);
  EXPECT_EQ(*fake->fs().read_all("/exports/a"), "x");  // "after": the server did it
  EXPECT_EQ(fake->applied("/exports/a"), 1);
}

TEST_F(SimDoor, OutageRefusesEveryMatchingOperation) {
  FaultRule r = rule("*", FaultKind::outage);
  r.window_start = Duration(0);
  r.window_end = Duration(5s);
  add(r);
  open();
  auto c = connect();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, Kind::disconnected);
  EXPECT_NE(c.error().message.find("connection refused"), std::string::npos);
  ASSERT_TRUE(loop.run_until(kTimeZero + 5s).ok());
  EXPECT_TRUE(connect().ok());
}

TEST_F(SimDoor, LatencyIsPaidPerChunkOnPut) {
  FaultRule r = rule("put", FaultKind::latency);
  r.latency_min = r.latency_max = 100ms;
  add(r);
  open();
  ASSERT_TRUE(connect().ok());
  Time t0 = loop.now();
  auto [small, small_at] = run(loop, t->put("/exports/s", "x"));
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small_at - t0, 110ms);
  t0 = loop.now();
  auto [big, big_at] = run(loop, t->put("/exports/b", std::string(3 * 32 * 1024 + 1, 'z')));
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big_at - t0, 410ms);  // 4 chunks
}

TEST_F(SimDoor, TooLargeGarbleAndRejectedKinds) {
  FaultRule big = rule("put", FaultKind::too_large);
  big.max_body_bytes = 4;
  add(big);
  FaultRule g = rule("get", FaultKind::garble);
  g.times = 1;
  add(g);
  open();
  ASSERT_TRUE(connect().ok());
  auto tl = run(loop, t->put("/exports/big", "12345")).first;
  ASSERT_FALSE(tl.ok());
  EXPECT_EQ(tl.error().kind, Kind::failure);
  EXPECT_NE(tl.error().message.find("file too large"), std::string::npos);
  ASSERT_TRUE(run(loop, t->put("/exports/ok", "1234")).first.ok());
  auto garbled = run(loop, t->get("/exports/ok")).first;
  ASSERT_TRUE(garbled.ok());
  EXPECT_NE(*garbled, "1234");
  EXPECT_EQ(*run(loop, t->get("/exports/ok")).first, "1234");

  FaultPlan bad;
  FaultRule rl = rule("put", FaultKind::rate_limit);
  bad.add(rl);
  auto st = check_sftp_fault_plan(bad, "x.json: /faults");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("x.json: /faults/0/rate_limit: "), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("rate_limit has no meaning for SFTP"), std::string::npos);
  FaultPlan http;
  http.add(rule("POST", FaultKind::reset));
  EXPECT_NE(check_sftp_fault_plan(http, "p").error().message.find("expected an SFTP operation"), std::string::npos);
  FaultPlan garble_list;
  garble_list.add(rule("list", FaultKind::garble));
  EXPECT_FALSE(check_sftp_fault_plan(garble_list, "p").ok());
  FaultPlan content;
  FaultRule by_body = rule("put", FaultKind::reset);
  by_body.body_contains = {"record 7"};
  content.add(by_body);
  EXPECT_NE(check_sftp_fault_plan(content, "p").error().message.find("p/0/match: an SFTP operation has no query"),
            std::string::npos);
  FaultPlan fine;
  fine.add(rule("p*", FaultKind::reset));
  fine.add(g);
  EXPECT_TRUE(check_sftp_fault_plan(fine, "p").ok());

  // A transport over a plan the doors cannot apply fails every operation, naming the rule.
  plan = bad;
  open();
  auto refused = connect();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, Kind::failure);
  EXPECT_NE(refused.error().message.find("rate_limit"), std::string::npos);
}

TEST_F(SimDoor, QuotaAndDenyRulesSurfaceAsNoSpaceAndPermissionDenied) {
  SftpFakeOptions o = options();
  o.fs.quota_bytes = 8;
  o.fs.deny.push_back(SftpDenyRule{{"put"}, "/exports/ro/*"});
  fake = std::make_unique<SftpFake>(o);
  open();
  ASSERT_TRUE(connect().ok());
  ASSERT_TRUE(run(loop, t->mkdir_p("/exports/ro")).first.ok());
  EXPECT_EQ(run(loop, t->put("/exports/ro/f", "1")).first.error().kind, Kind::permission_denied);
  auto full = run(loop, t->put("/exports/f", "0123456789")).first;
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().kind, Kind::no_space);
  EXPECT_TRUE(full.error().transient());
  EXPECT_EQ(fake->applied("/exports/f"), 0);
  EXPECT_EQ(fake->fs().stat("/exports/f")->size, 8);
  ASSERT_TRUE(run(loop, t->remove("/exports/f")).first.ok());
  EXPECT_TRUE(run(loop, t->put("/exports/f", "01234567")).first.ok());
}

// ---------------------------------------------------------------- oracle

std::string gzip(std::string_view s) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, s.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s.data()));
  z.avail_in = static_cast<uInt>(s.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

TEST(SftpOracle, RowKeysCountRowsOfFilesInPlace) {
  SftpFake fake;
  ASSERT_TRUE(fake.fs().mkdir_p("/e").ok());
  ASSERT_TRUE(fake.fs().put("/e/a.csv", "job_id,name,note\r\n1,Ann,\r\n2,\"B,b\",x\r\n").ok());
  ASSERT_TRUE(fake.fs().put("/e/b.jsonl.gz", gzip("{\"job_id\":\"3\",\"n\":1}\n{\"job_id\":\"4\",\"n\":2}\n")).ok());
  ASSERT_TRUE(fake.fs().put("/e/.a.csv.destsim-tmp-1-1", "job_id,name\r\n9,T\r\n").ok());
  const std::string ann = oracle_key("sftp.row", nlohmann::json{{"job_id", "1"}, {"name", "Ann"}});
  const std::string bb = oracle_key("sftp.row", nlohmann::json{{"job_id", "2"}, {"name", "B,b"}, {"note", "x"}});
  const std::string three = oracle_key("sftp.row", nlohmann::json{{"job_id", "3"}, {"n", 1}});
  const std::string tmp = oracle_key("sftp.row", nlohmann::json{{"job_id", "9"}, {"name", "T"}});
  EXPECT_EQ(fake.applied(ann), 1);
  EXPECT_EQ(fake.applied(bb), 1);
  EXPECT_EQ(fake.applied(three), 1);
  EXPECT_EQ(fake.applied(tmp), 0);  // temporaries (hidden names) are not in place
  // A second copy of a row counts twice; removing a file forgets its rows.
  ASSERT_TRUE(fake.fs().put("/e/c.csv", "name,job_id\n\"Ann\",1\n").ok());
  EXPECT_EQ(fake.applied(ann), 2);
  ASSERT_TRUE(fake.fs().remove("/e/a.csv").ok());
  EXPECT_EQ(fake.applied(ann), 1);
  EXPECT_EQ(fake.applied(bb), 0);
  EXPECT_EQ(fake.applied("unrelated#0000000000000000"), 0);
  // Rows are counted by hash: only the exact key spelling names one.
  std::string upper = ann;
  for (std::size_t i = std::string("sftp.row#").size(); i < upper.size(); ++i)
    upper[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(upper[i])));
  if (upper != ann) EXPECT_EQ(fake.applied(upper), 0);
  EXPECT_EQ(fake.applied(ann + "0"), 0);
  EXPECT_EQ(fake.applied(ann.substr(0, ann.size() - 1)), 0);
  EXPECT_EQ(fake.applied("sftp.row#zzzzzzzzzzzzzzzz"), 0);
  fake.reset();
  EXPECT_EQ(fake.applied(three), 0);
  EXPECT_TRUE(fake.fs().all_files().empty());
}

// ---------------------------------------------------------------- determinism

std::vector<std::string> chaos_run(std::uint64_t seed) {
  SimClock clock;
  Loop loop(clock, LoopOptions{.seed = seed});
  loop.trace().set_keep_lines(true);
  SftpFake fake;
  auto plan = FaultPlan::from_json(nlohmann::json::parse(R"([
      {"match": {"op": "put"}, "probability": "1/3", "reset": "after"},
      {"match": {"op": "rename"}, "probability": "1/4", "timeout": "after"},
      {"probability": "1/5", "respond": {"status": 500}},
      {"match": {"op": "put"}, "latency": {"min": "1ms", "max": "200ms"}}])"),
                                   "chaos");
  EXPECT_TRUE(plan.ok());
  auto t = fake.sim_transport(loop, &*plan, 5ms, 2s, {{"user", "a"}, {"password", "b"}});
  std::vector<std::string> outcomes;
  loop.spawn([](Loop& l, FileTransport& tr, std::vector<std::string>& out) -> Task<void> {
    for (int i = 0; i < 40; ++i) {
      auto c = co_await tr.connect();
      if (!c.ok()) {
        out.push_back("connect " + std::string(file_error_kind_name(c.error().kind)));
        continue;
      }
      (void)co_await tr.mkdir_p("/d");
      const std::string tmp = "/d/.t" + std::to_string(i), fin = "/d/f" + std::to_string(i % 7) + ".csv";
      auto p = co_await tr.put(tmp, "job_id\r\n" + std::to_string(i) + "\r\n");
      auto r = co_await tr.rename(tmp, fin);
      out.push_back(std::to_string(to_ns(l.now())) + " " + (p.ok() ? "ok" : file_error_kind_name(p.error().kind)) +
                    " " + (r.ok() ? "ok" : file_error_kind_name(r.error().kind)));
    }
    co_return;
  }(loop, *t, outcomes));
  EXPECT_TRUE(loop.run_until_idle().ok());
  outcomes.push_back(fake.accepted().dump());
  for (const auto& line : loop.trace().lines()) outcomes.push_back(line);
  return outcomes;
}

TEST(SftpDeterminism, SameSeedSameOutcomeAndTrace) {
  auto a = chaos_run(7), b = chaos_run(7), c = chaos_run(8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // The plan really fired: some puts failed and some went through.
  const std::string all = [&] {
    std::string s;
    for (const auto& x : a) s += x + "\n";
    return s;
  }();
  EXPECT_NE(all.find(" disconnected "), std::string::npos);
  EXPECT_NE(all.find(" ok ok"), std::string::npos);
}

}  // namespace
}  // namespace destsim
