// sftp_test.cpp — the sftp destination end to end.
//
// Simulated: the destination against the SFTP fake's sim door (runner, fault
// plans, crashes), reading the files back to check what a reader would see.
// Real: the libssh client (LibsshFileTransport) and the destination in real
// mode against the fake's real libssh server on 127.0.0.1 (a free port, a
// temporary root, bounded timeouts; the server stops with the test).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "conformance/testing.h"
#include "conformance/runner.h"
#include "destinations/destination.h"
#include "destinations/sftp/file_format.h"
#include "destinations/sftp/sftp.h"
#include "fakes/sftp/sftp_fake.h"
#include "fakes/doors/sftp_server.h"
#include "framework/real/libssh_file_transport.h"
#include "framework/real/real_clock.h"

namespace destsim {
namespace {

using namespace testing;  // conformance/testing.h

namespace fs = std::filesystem;

// ------------------------------------------------------------------ helpers

std::string dest_json(const std::string& extra = "") {
  return std::string(R"("destination": {"name": "sftp", "config": {
      "username": "etl", "password": {"secret": "pw-sim"}, "destination_id": "dest-1", "job_run_id": "run-42",
      "root": "/exports", "file_path": "/exports/{destinationID}/{jobRunID}/users_{YYYY}{MM}{DD}.csv",
      "records_max": 100, "upload_interval": "5s")") +
         extra + "}}";
}

// The fake's files: path → content. Reading is logically const; RemoteFs's
// readers are not marked const because the disk backend shares them.
std::map<std::string, std::string> files_of(const Outcome& o) {
  auto& fake = const_cast<SftpFake&>(dynamic_cast<const SftpFake&>(o.fake()));
  std::map<std::string, std::string> out;
  for (const auto& p : fake.fs().all_files()) {
    auto c = fake.fs().read_all(p);
    EXPECT_TRUE(c.ok());
    out[p] = c.ok() ? *c : "";
  }
  return out;
}

bool has_temp(const std::map<std::string, std::string>& files) {
  for (const auto& [p, _] : files)
    if (is_sftp_temp_name(p.substr(p.rfind('/') + 1))) return true;
  return false;
}

// The CSV rows of every final file, by job id, as {column: cell}.
std::map<JobId, std::map<std::string, std::string>> rows_by_job(const std::map<std::string, std::string>& files,
                                                                  int* copies_max) {
  std::map<JobId, std::map<std::string, std::string>> out;
  std::map<JobId, int> copies;
  for (const auto& [path, content] : files) {
    if (is_sftp_temp_name(path.substr(path.rfind('/') + 1))) continue;
    auto table = parse_csv(content);
    EXPECT_TRUE(table.ok()) << path;
    if (!table.ok() || table->empty()) continue;
    const auto& header = (*table)[0];
    EXPECT_EQ(header.at(0), "job_id") << path;
    EXPECT_TRUE(std::is_sorted(header.begin() + 1, header.end())) << path << ": columns in sorted order";
    for (std::size_t r = 1; r < table->size(); ++r) {
      const auto& row = (*table)[r];
      EXPECT_EQ(row.size(), header.size()) << path << " row " << r;
      std::map<std::string, std::string> cells;
      for (std::size_t c = 0; c < header.size() && c < row.size(); ++c) cells[header[c]] = row[c];
      const JobId id = std::stoull(cells["job_id"]);
      out[id] = cells;
      ++copies[id];
    }
  }
  *copies_max = 0;
  for (const auto& [_, n] : copies) *copies_max = std::max(*copies_max, n);
  return out;
}

// ------------------------------------------------------------------ simulated

TEST(SftpEndToEnd, FilesHoldExactlyTheSucceededRecordsWithStableColumns) {
  Scenario s = scenario(R"({"scenario": 1, "name": "gen", "seed": 5, )" + dest_json() + R"(,
    "input": {"generate": {"records": 450, "invalid": "1/30"}, "pace": "10ms"},
    "expect": {"properties": ["A1", "A2", "A3", "A4", "A5", "B1", "G1", "H1"]}})");
  Outcome o = run(s);
  ASSERT_TRUE(o.world);
  const auto files = files_of(o);
  EXPECT_FALSE(has_temp(files));
  EXPECT_EQ(files.size(), 5u) << "450 records, 100 per file";
  int copies = 0;
  const auto rows = rows_by_job(files, &copies);
  EXPECT_EQ(copies, 1);
  RowOptions ro;
  std::int64_t failed = 0;
  for (std::int64_t i = 0; i < o.input_size; ++i) {
    const Record r = o.record(i);
    const JobOutcome out = o.jobs().outcome(r.id);
    auto expected = record_row(r, ro);
    if (!expected.ok()) {
      ++failed;
      EXPECT_EQ(out.state, JobState::failed) << r.id;
      EXPECT_NE(out.reason.find("expected an object"), std::string::npos) << out.reason;
      EXPECT_EQ(rows.count(r.id), 0u) << r.id;
      continue;
    }
    EXPECT_EQ(out.state, JobState::succeeded) << r.id << " " << out.reason;
    ASSERT_EQ(rows.count(r.id), 1u) << r.id;
    const auto& cells = rows.at(r.id);
    for (const auto& [col, cell] : cells) {
      // A field the record does not have is an empty cell, never "<nil>".
      const std::string want = expected->contains(col) ? (*expected)[col].get<std::string>() : "";
      EXPECT_EQ(cell, want) << "job " << r.id << " column " << col;
    }
  }
  EXPECT_GT(failed, 3);
  EXPECT_EQ(static_cast<std::int64_t>(rows.size()) + failed, o.input_size);
}

TEST(SftpEndToEnd, ADisconnectMidUploadLeavesNoPartialFileAnywhere) {
  Scenario s = scenario(R"({"scenario": 1, "name": "reset", "seed": 6, )" + dest_json() + R"(,
    "input": {"generate": {"records": 200}},
    "faults": [{"match": {"op": "put"}, "times": 2, "reset": "after"}],
    "expect": {"jobs": {"succeeded": 200}, "properties": ["A1", "A2", "A3", "A4", "G1", "H1"]}})");
  Outcome o = run(s);
  ASSERT_TRUE(o.world);
  const auto files = files_of(o);
  EXPECT_FALSE(has_temp(files)) << "the partial temporaries were removed";
  EXPECT_EQ(files.size(), 2u);
  EXPECT_EQ(o.destination_stats["sftp"]["temps_removed"], 2);
  EXPECT_EQ(o.destination_stats["upload_retries"], 2);
  // Every file in place was committed whole, once.
  auto acc = o.fake().accepted();
  for (const auto& [path, _] : files) EXPECT_EQ(acc["files"][path]["commits"], 1) << path;
}

TEST(SftpEndToEnd, ACrashBeforeTheRenameLeavesATemporaryThatTheRestartCleans) {
  Scenario s = scenario(R"({"scenario": 1, "name": "crash", "seed": 7, )" + dest_json() + R"(,
    "input": {"generate": {"records": 200}},
    "faults": [{"match": {"op": "rename"}, "latency": {"fixed": "5s"}}],
    "crashes": [{"at": "3s", "restart_after": "30s"}],
    "expect": {"jobs": {"succeeded": 200}, "properties": ["A1", "A2", "A3", "A4", "E1", "G1", "H1"]}})");
  Outcome o = run(s);
  ASSERT_TRUE(o.world);
  const std::string trace = all_lines(o);
  EXPECT_NE(trace.find("\"run.crash\""), std::string::npos);
  // The crashed process left its written temporary; the restarted one removed it.
  EXPECT_NE(trace.find("\"kind\":\"sftp.cleanup\",\"dir\":\"/exports/dest-1/run-42\",\"removed\":1"), std::string::npos);
  EXPECT_EQ(o.destination_stats["sftp"]["stale_temps_cleaned"], 1);
  const auto files = files_of(o);
  EXPECT_FALSE(has_temp(files));
  EXPECT_EQ(files.size(), 2u);
}

TEST(SftpEndToEnd, ACrashAfterTheRenameReuploadsToTheSamePath) {
  Scenario s = scenario(R"({"scenario": 1, "name": "crash-rename", "seed": 8, )" + dest_json() + R"(,
    "input": {"generate": {"records": 150}},
    "crashes": [{"step": "after_upload", "nth": 1, "restart_after": "20s"}],
    "expect": {"jobs": {"succeeded": 150}, "properties": ["A1", "A2", "A3", "E1", "G1", "H1"]}})");
  Outcome o = run(s);
  ASSERT_TRUE(o.world);
  const auto files = files_of(o);
  EXPECT_EQ(files.size(), 2u);
  auto acc = o.fake().accepted();
  EXPECT_EQ(acc["files"]["/exports/dest-1/run-42/users_20240101_1.csv"]["commits"], 2)
      << "the re-upload replaced the first copy at the same path";
  int copies = 0;
  rows_by_job(files, &copies);
  EXPECT_EQ(copies, 1) << "no row exists twice";
  EXPECT_TRUE(o.jobs().outcome(1).resent_after_unknown);
  EXPECT_FALSE(o.jobs().outcome(101).resent_after_unknown) << "the second file was not in doubt";
}

TEST(SftpEndToEnd, SameSeedSameTraceAndSameFiles) {
  const std::string json = R"({"scenario": 1, "name": "det", "seed": 9, )" + dest_json() + R"(,
    "input": {"generate": {"records": 300}},
    "faults": [{"match": {"op": "*"}, "probability": "1/8", "times": 6, "reset": "after"},
               {"match": {"op": "put"}, "latency": {"min": "10ms", "max": "900ms"}}],
    "expect": {"properties": ["A1", "A2", "A3", "G1"]}})";
  Outcome a = run(scenario(json)), b = run(scenario(json));
  ASSERT_TRUE(a.world && b.world);
  EXPECT_EQ(a.trace_hash, b.trace_hash);
  EXPECT_EQ(files_of(a), files_of(b));
}

TEST(SftpEndToEnd, ReasonsNameTheCause) {
  Scenario s = scenario(R"({"scenario": 1, "name": "deny", "seed": 10, )" + dest_json(R"(, "max_attempts": 2)") + R"(,
    "fake": {"options": {"deny": [{"ops": ["rename"], "path": "/exports/*"}]}},
    "input": {"generate": {"records": 10}},
    "expect": {"jobs": {"failed": 10}, "properties": ["A1", "A2", "A4"]}})");
  Outcome o = run(s);
  ASSERT_TRUE(o.world);
  const JobOutcome out = o.jobs().outcome(1);
  EXPECT_NE(out.reason.find("permission_denied"), std::string::npos) << out.reason;
  EXPECT_EQ(o.jobs().attempts(1), 1);
  EXPECT_TRUE(files_of(o).empty()) << "the denied file's temporary was removed";
}

// ------------------------------------------------------------------ real server

// A temporary directory, removed with the test.
struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/destsim-sftp-XXXXXX";
    char* made = mkdtemp(tmpl);
    EXPECT_NE(made, nullptr);
    path = made ? made : "/tmp";
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct ServerFixture : ::testing::Test {
  TempDir dir;
  fs::path root;
  std::unique_ptr<SftpServer> server;

  void start(SftpServerOptions o = {}) {
    root = dir.path / "root";
    fs::create_directories(root);
    o.root = root.string();
    if (o.user.empty()) o.user = "etl";
    if (o.password.empty() && o.authorized_keys_file.empty()) o.password = "pw-real";
    o.idle_timeout = std::chrono::seconds(20);
    server = std::make_unique<SftpServer>(std::move(o));
    Status st = server->start();
    ASSERT_TRUE(st.ok()) << st.error().message;
    ASSERT_GT(server->port(), 0);
  }

  LibsshOptions client(std::string password = "pw-real") {
    LibsshOptions o;
    o.host = "127.0.0.1";
    o.port = server->port();
    o.user = "etl";
    o.password = std::move(password);
    o.host_key = HostKeyPolicy::accept_any;
    o.connect_timeout = std::chrono::seconds(5);
    o.op_timeout = std::chrono::seconds(5);
    return o;
  }

  void TearDown() override {
    if (server) server->stop();
  }
};

// Runs `body` on a real-clock loop until it is done.
template <class F>
void run_real(F body) {
  RealClock clock;
  Loop loop(clock);
  bool done = false;
  loop.spawn([](Loop& l, F b, bool* d) -> Task<void> {
    co_await b(l);
    *d = true;
  }(loop, std::move(body), &done));
  Status st = loop.run_until_idle();
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_TRUE(done);
}

TEST_F(ServerFixture, TheLibsshClientUploadsRenamesListsReadsAndRemoves) {
  start();
  run_real([this](Loop& loop) -> Task<void> {
    LibsshFileTransport t(loop, client());
    auto c = co_await t.connect();
    EXPECT_TRUE(c.ok()) << c.error().message;
    EXPECT_TRUE(t.connected());
    EXPECT_TRUE(t.atomic_rename()) << "the fake server offers posix-rename@openssh.com";
    EXPECT_TRUE((co_await t.mkdir_p("/a/b/c")).ok());
    EXPECT_TRUE((co_await t.mkdir_p("/a/b/c")).ok()) << "existing directories are fine";
    std::string big(300'000, 'x');
    for (std::size_t i = 0; i < big.size(); i += 997) big[i] = static_cast<char>('a' + i % 26);
    EXPECT_TRUE((co_await t.put("/a/b/c/.f.tmp", big)).ok());
    EXPECT_TRUE((co_await t.put("/a/b/c/f.csv", "old")).ok());
    auto r = co_await t.rename("/a/b/c/.f.tmp", "/a/b/c/f.csv");
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    auto l = co_await t.list("/a/b/c");
    EXPECT_TRUE(l.ok());
    if (l.ok()) {
      EXPECT_EQ(l->size(), 1u);
      if (!l->empty()) {
        EXPECT_EQ((*l)[0].name, "f.csv");
        EXPECT_EQ((*l)[0].size, 300'000);
      }
    }
    auto g = co_await t.get("/a/b/c/f.csv");
    EXPECT_TRUE(g.ok() && *g == big) << "read back what was written";
    auto missing = co_await t.get("/a/b/c/nope");
    EXPECT_FALSE(missing.ok());
    if (!missing.ok()) EXPECT_EQ(missing.error().kind, FileError::Kind::no_such_file);
    EXPECT_TRUE((co_await t.remove("/a/b/c/f.csv")).ok());
    auto again = co_await t.remove("/a/b/c/f.csv");
    EXPECT_TRUE(!again.ok() && again.error().kind == FileError::Kind::no_such_file);
    EXPECT_TRUE(t.connected()) << "status errors keep the session";
  });
  EXPECT_EQ(read_file(root / "a/b/c/f.csv"), "") << "removed";
  EXPECT_FALSE(fs::exists(root / "a/b/c/f.csv"));
  EXPECT_TRUE(fs::is_directory(root / "a/b/c"));
}

TEST_F(ServerFixture, ServerRefusalsMapToFileErrorKinds) {
  SftpServerOptions o;
  o.fs.quota_bytes = 1000;
  o.fs.deny.push_back(SftpDenyRule{{"put"}, "/readonly/*"});
  start(std::move(o));
  run_real([this](Loop& loop) -> Task<void> {
    {
      LibsshFileTransport bad(loop, client("wrong"));
      auto c = co_await bad.connect();
      EXPECT_TRUE(!c.ok() && c.error().kind == FileError::Kind::auth_failed) << (c.ok() ? "" : c.error().message);
      EXPECT_FALSE(bad.connected());
    }
    LibsshFileTransport t(loop, client());
    EXPECT_TRUE((co_await t.connect()).ok());
    EXPECT_TRUE((co_await t.mkdir_p("/readonly")).ok());
    auto denied = co_await t.put("/readonly/x.csv", "a");
    EXPECT_TRUE(!denied.ok() && denied.error().kind == FileError::Kind::permission_denied)
        << (denied.ok() ? "" : denied.error().message);
    auto full = co_await t.put("/big.csv", std::string(5000, 'x'));
    EXPECT_TRUE(!full.ok() && full.error().kind == FileError::Kind::no_space) << (full.ok() ? "" : full.error().message);
    EXPECT_TRUE(!full.ok() && full.error().transient());
    auto escape = co_await t.put("/../../etc/x", "a");
    EXPECT_TRUE(!escape.ok() && escape.error().kind == FileError::Kind::permission_denied);
    EXPECT_TRUE(t.connected());
  });
  EXPECT_FALSE(fs::exists(dir.path / "etc"));
}

TEST_F(ServerFixture, ADisconnectMidUploadAndANoAnswerAreTransient) {
  SftpServerOptions o;
  auto plan = FaultPlan::from_json(nlohmann::json::parse(R"([
      {"match": {"op": "put", "path": "/cut.csv"}, "times": 1, "reset": "after"},
      {"match": {"op": "put", "path": "/stuck.csv"}, "times": 1, "timeout": "before"}])"),
                               "test faults");
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  o.faults = *plan;
  start(std::move(o));
  const auto t0 = std::chrono::steady_clock::now();
  run_real([this](Loop& loop) -> Task<void> {
    LibsshOptions opts = client();
    opts.op_timeout = std::chrono::seconds(1);
    LibsshFileTransport t(loop, opts);
    EXPECT_TRUE((co_await t.connect()).ok());
    auto cut = co_await t.put("/cut.csv", std::string(100'000, 'y'));
    EXPECT_TRUE(!cut.ok() && cut.error().kind == FileError::Kind::disconnected) << (cut.ok() ? "" : cut.error().message);
    EXPECT_FALSE(t.connected());
    auto not_up = co_await t.list("/");
    EXPECT_TRUE(!not_up.ok() && not_up.error().kind == FileError::Kind::disconnected);
    EXPECT_TRUE((co_await t.connect()).ok()) << "a new session after the drop";
    auto stuck = co_await t.put("/stuck.csv", "z");
    EXPECT_TRUE(!stuck.ok() && stuck.error().kind == FileError::Kind::timeout) << (stuck.ok() ? "" : stuck.error().message);
    EXPECT_TRUE((co_await t.connect()).ok());
    EXPECT_TRUE((co_await t.put("/after.csv", "fine")).ok());
  });
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(15)) << "the watchdog ended the stuck call";
  EXPECT_LT(fs::file_size(root / "cut.csv"), 100'000u) << "the cut upload left a partial file";
  EXPECT_EQ(read_file(root / "after.csv"), "fine");
}

TEST_F(ServerFixture, KeyLoginAndHostKeyPolicies) {
  const fs::path key = dir.path / "id_ed25519";
  const std::string cmd = "ssh-keygen -q -t ed25519 -N '' -f " + key.string() + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "ssh-keygen";
  SftpServerOptions o;
  o.authorized_keys_file = key.string() + ".pub";
  start(std::move(o));
  const std::string known = (dir.path / "known_hosts").string();
  run_real([&](Loop& loop) -> Task<void> {
    LibsshOptions by_path = client("");
    by_path.private_key = key.string();
    by_path.host_key = HostKeyPolicy::strict;
    by_path.known_hosts = known;
    {
      LibsshFileTransport strict(loop, by_path);
      auto c = co_await strict.connect();
      EXPECT_TRUE(!c.ok() && c.error().kind == FileError::Kind::auth_failed) << "unknown host refused";
      if (!c.ok()) EXPECT_NE(c.error().message.find("known_hosts"), std::string::npos) << c.error().message;
    }
    by_path.host_key = HostKeyPolicy::accept_new;
    {
      LibsshFileTransport learn(loop, by_path);
      auto c = co_await learn.connect();
      EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
    }
    by_path.host_key = HostKeyPolicy::strict;
    {
      LibsshFileTransport strict(loop, by_path);
      auto c = co_await strict.connect();
      EXPECT_TRUE(c.ok()) << "now known: " << (c.ok() ? "" : c.error().message);
    }
    LibsshOptions by_text = client("");
    by_text.private_key = read_file(key);
    LibsshFileTransport t(loop, by_text);
    auto c = co_await t.connect();
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
    EXPECT_TRUE((co_await t.put("/k.txt", "key")).ok());
  });
  EXPECT_EQ(read_file(root / "k.txt"), "key");
  EXPECT_NE(read_file(known).find("127.0.0.1"), std::string::npos) << "accept_new recorded the host";
}

TEST_F(ServerFixture, TheDestinationInRealModeDeliversAtomicallyThroughFaults) {
  SftpServerOptions o;
  auto plan = FaultPlan::from_json(nlohmann::json::parse(R"([
      {"match": {"op": "put"}, "times": 1, "reset": "after"},
      {"match": {"op": "rename"}, "times": 1, "reset": "after"}])"),
                               "test faults");
  ASSERT_TRUE(plan.ok());
  o.faults = *plan;
  start(std::move(o));
  const DestinationEntry* e = find_destination("sftp");
  ASSERT_NE(e, nullptr);
  auto config = Config::resolve(
      {{"username", "etl"}, {"password", {{"secret", "pw-real"}}}, {"host", "127.0.0.1"}, {"port", server->port()},
       {"host_key_policy", "accept_any"}, {"destination_id", "d"}, {"job_run_id", "r"}, {"records_max", 250},
       {"file_path", "/out/{destinationID}/{jobRunID}/part.jsonl"}, {"file_format", "jsonl"}, {"gzip", true},
       {"upload_interval", "50ms"}, {"retry_delay_initial", "50ms"}, {"retry_delay_max", "200ms"},
       {"op_timeout", "5s"}},
      "sftp", e->schema, "test config");
  ASSERT_TRUE(config.ok()) << config.error().message;
  RealClock clock;
  Loop loop(clock);
  MemoryJobStore jobs;
  struct NoHttp final : Transport {
    Task<HttpResult> send(Request) override { co_return TransportError{}; }
  } http;
  DeliveryContext ctx{loop, http, jobs, nullptr, libssh_session_opener(loop)};
  auto made = e->make(ctx, *config);
  ASSERT_TRUE(made.ok()) << made.error().message;
  std::unique_ptr<Destination> dest = std::move(made).value();
  std::vector<Record> input;
  Rng rng(3);
  for (JobId id = 1; id <= 1000; ++id) input.push_back(e->generate(rng, id, GenerateOptions{}));
  loop.spawn([](Destination& d, std::vector<Record> rs) -> Task<void> {
    for (auto& r : rs) co_await d.deliver(std::move(r));
    co_await d.drain();
  }(*dest, input));
  Status st = loop.run_until_idle();
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(jobs.counts().succeeded, 1000u);
  dest.reset();
  // What a reader finds: four complete gzip files, every record once, no temporaries.
  std::set<std::string> names;
  std::map<std::int64_t, int> seen;
  for (const auto& f : fs::directory_iterator(root / "out/d/r")) {
    const std::string name = f.path().filename().string();
    names.insert(name);
    EXPECT_FALSE(is_sftp_temp_name(name)) << name;
    auto text = gzip_decompress(read_file(f.path()));
    ASSERT_TRUE(text.ok()) << name << ": " << text.error().message;
    std::size_t start = 0;
    while (start < text->size()) {
      const std::size_t end = text->find('\n', start);
      auto line = nlohmann::json::parse(text->substr(start, end - start));
      ++seen[line["job_id"].get<std::int64_t>()];
      start = end + 1;
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{"part_1.jsonl.gz", "part_251.jsonl.gz", "part_501.jsonl.gz",
                                          "part_751.jsonl.gz"}));
  EXPECT_EQ(seen.size(), 1000u);
  for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << "job " << id;
}

}  // namespace
}  // namespace destsim
