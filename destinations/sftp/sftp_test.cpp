// sftp_test.cpp — the sftp destination against an in-memory FileTransport
// double (virtual time, scripted faults): atomic uploads, error
// classification, cleanup of temporaries, the look after a lost rename answer,
// path refusals, formats and config errors. The end-to-end runs against the
// real fake and server are in conformance/sftp_test.cpp.
#include "destinations/sftp/sftp.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>

#include "destinations/sftp/file_format.h"
#include "framework/clock.h"

namespace destsim {
namespace {

// A remote file system in memory. Each operation takes 1ms of virtual time; a
// scripted fault fails the next matching operations (optionally after applying
// them, like a reply lost on the way back).
class MemoryFiles final : public FileTransport {
 public:
  struct Fault {
    std::string op;        // connect, mkdir, put, rename, remove, list, get
    std::string contains;  // the path must contain this ("" = any)
    FileError::Kind kind;
    bool applied = false;  // the operation happened before the error (put: half the bytes)
    int times = 1;
    int skip = 0;  // let this many matching operations through first
  };
  explicit MemoryFiles(Loop& loop) : loop_(loop) {}

  std::map<std::string, std::string> files;
  std::set<std::string> dirs{"/"};
  std::vector<Fault> faults;
  std::vector<std::string> log;  // "op path" of every call
  std::string password = "pw";
  bool up = false;

  std::vector<std::string> names_in(const std::string& dir) const {
    std::vector<std::string> out;
    for (const auto& [p, _] : files)
      if (p.rfind(dir + "/", 0) == 0 && p.find('/', dir.size() + 1) == std::string::npos)
        out.push_back(p.substr(dir.size() + 1));
    return out;
  }
  int count(const std::string& op) const {
    int n = 0;
    for (const auto& l : log) n += l.rfind(op + " ", 0) == 0 ? 1 : 0;
    return n;
  }

  Task<FileResult<bool>> connect() override {
    if (up) co_return true;  // connected: a no-op, as the interface says
    co_await loop_.sleep(std::chrono::milliseconds(1));
    log.push_back("connect " + login_user);
    if (auto f = fault("connect", "")) co_return FileError{f->kind, "connect: injected"};
    if (login_password != password) co_return FileError{FileError::Kind::auth_failed, "connect: wrong password"};
    up = true;
    co_return true;
  }
  void disconnect() override { up = false; }
  bool connected() const override { return up; }

  Task<FileResult<bool>> mkdir_p(std::string path) override {
    co_await loop_.sleep(std::chrono::milliseconds(1));
    log.push_back("mkdir " + path);
    if (!up) co_return FileError{FileError::Kind::disconnected, "mkdir: not connected"};
    if (auto f = fault("mkdir", path)) co_return drop(*f, "mkdir " + path);
    std::string prefix;
    for (std::size_t i = 1; i <= path.size(); ++i)
      if (i == path.size() || path[i] == '/') dirs.insert(path.substr(0, i));
    co_return true;
  }

  Task<FileResult<bool>> put(std::string path, std::string data) override {
    co_await loop_.sleep(std::chrono::milliseconds(1));
    log.push_back("put " + path);
    if (!up) co_return FileError{FileError::Kind::disconnected, "put: not connected"};
    if (!dirs.count(parent(path))) co_return FileError{FileError::Kind::no_such_file, "put " + path + ": no directory"};
    if (auto f = fault("put", path)) {
      if (f->applied) files[path] = data.substr(0, data.size() / 2);  // a partial file
      co_return drop(*f, "put " + path);
    }
    files[path] = std::move(data);
    co_return true;
  }

  Task<FileResult<bool>> rename(std::string from, std::string to) override {
    co_await loop_.sleep(std::chrono::milliseconds(1));
    log.push_back("rename " + from + " -> " + to);
    if (!up) co_return FileError{FileError::Kind::disconnected, "rename: not connected"};
    if (!files.count(from)) co_return FileError{FileError::Kind::no_such_file, "rename: no " + from};
    auto f = fault("rename", to);
    if (!f || f->applied) {
      files[to] = files[from];
      files.erase(from);
    }
    if (f) co_return drop(*f, "rename " + from);
    co_return true;
  }

  Task<FileResult<bool>> remove(std::string path) override {
    co_await loop_.sleep(std::chrono::milliseconds(1));
    log.push_back("remove " + path);
    if (!up) co_return FileError{FileError::Kind::disconnected, "remove: not connected"};
    if (auto f = fault("remove", path)) co_return drop(*f, "remove " + path);
    if (!files.erase(path)) co_return FileError{FileError::Kind::no_such_file, "remove: no " + path};
    co_return true;
  }

  Task<FileResult<std::vector<RemoteEntry>>> list(std::string path) override {
    co_await loop_.sleep(std::chrono::milliseconds(1));
    log.push_back("list " + path);
    if (!up) co_return FileError{FileError::Kind::disconnected, "list: not connected"};
    if (auto f = fault("list", path)) co_return drop(*f, "list " + path);
    std::vector<RemoteEntry> out;
    for (const auto& n : names_in(path))
      out.push_back(RemoteEntry{n, false, static_cast<std::int64_t>(files[path + "/" + n].size())});
    co_return out;
  }

  Task<FileResult<std::string>> get(std::string path) override {
    co_await loop_.sleep(std::chrono::milliseconds(1));
    log.push_back("get " + path);
    if (!up) co_return FileError{FileError::Kind::disconnected, "get: not connected"};
    auto it = files.find(path);
    if (it == files.end()) co_return FileError{FileError::Kind::no_such_file, "get: no " + path};
    co_return it->second;
  }

  std::string login_user, login_password;

 private:
  static std::string parent(const std::string& p) {
    auto s = p.rfind('/');
    return s == 0 ? "/" : p.substr(0, s);
  }
  std::optional<Fault> fault(const std::string& op, const std::string& path) {
    for (auto& f : faults) {
      if (f.op != op || f.times <= 0) continue;
      if (!f.contains.empty() && path.find(f.contains) == std::string::npos) continue;
      if (f.skip > 0) {
        --f.skip;
        continue;
      }
      --f.times;
      return f;
    }
    return std::nullopt;
  }
  FileError drop(const Fault& f, const std::string& what) {
    if (f.kind == FileError::Kind::disconnected || f.kind == FileError::Kind::timeout) up = false;
    return FileError{f.kind, what + ": injected " + file_error_kind_name(f.kind)};
  }
  Loop& loop_;
};

class NoHttp final : public Transport {
 public:
  Task<HttpResult> send(Request) override {
    co_return TransportError{TransportErrorKind::other, "the sftp destination sends no HTTP", false, false};
  }
};

const DestinationEntry& entry() {
  const DestinationEntry* e = find_destination("sftp");
  DS_ASSERT(e != nullptr);
  return *e;
}

struct SftpFixture : ::testing::Test {
  SimClock clock;
  Loop loop{clock, LoopOptions{7, 10'000'000}};
  MemoryFiles files{loop};
  NoHttp http;
  MemoryJobStore jobs;
  DeliveryContext ctx{loop, http, jobs, &files};
  nlohmann::json config = {{"username", "alice"},
                           {"password", {{"secret", "pw"}}},
                           {"destination_id", "dest-1"},
                           {"job_run_id", "run-7"},
                           {"root", "/exports"},
                           {"upload_interval", "1s"},
                           {"retry_delay_initial", "1s"},
                           {"retry_jitter", "0"}};
  std::unique_ptr<Destination> dest;

  Result<Config> resolved() { return Config::resolve(config, "sftp", entry().schema, "test config"); }

  void make() {
    auto c = resolved();
    ASSERT_TRUE(c.ok()) << c.error().message;
    auto login = entry().file_login(*c);
    files.login_user = login.value("user", "");
    files.login_password = login.value("password", "");
    auto d = entry().make(ctx, *c);
    ASSERT_TRUE(d.ok()) << d.error().message;
    dest = std::move(d).value();
  }

  Record record(JobId id, nlohmann::json payload) {
    Record r;
    r.id = id;
    r.payload = std::move(payload);
    return r;
  }

  void deliver(std::vector<Record> records) {
    if (!dest) make();
    loop.spawn([](Destination& d, std::vector<Record> rs) -> Task<void> {
      for (auto& r : rs) co_await d.deliver(std::move(r));
      co_await d.drain();
    }(*dest, std::move(records)));
    auto st = loop.run_until_idle();
    ASSERT_TRUE(st.ok()) << st.error().message;
  }

  // Delivers `first`, waits until it is uploaded, runs `between`, then
  // delivers `second` and drains (a destination drains once).
  void deliver_phases(std::vector<Record> first, std::function<void()> between, std::vector<Record> second) {
    if (!dest) make();
    loop.spawn([](Loop& l, Destination& d, std::vector<Record> a, std::function<void()> mid,
                  std::vector<Record> b) -> Task<void> {
      for (auto& r : a) co_await d.deliver(std::move(r));
      co_await l.sleep(std::chrono::seconds(10));
      mid();
      for (auto& r : b) co_await d.deliver(std::move(r));
      co_await d.drain();
    }(loop, *dest, std::move(first), std::move(between), std::move(second)));
    auto st = loop.run_until_idle();
    ASSERT_TRUE(st.ok()) << st.error().message;
  }

  std::vector<Record> some(int n) {
    std::vector<Record> out;
    for (int i = 1; i <= n; ++i) out.push_back(record(static_cast<JobId>(i), {{"email", "u" + std::to_string(i) + "@x"}}));
    return out;
  }

  std::vector<std::string> temps() const {
    std::vector<std::string> out;
    for (const auto& [p, _] : files.files)
      if (is_sftp_temp_name(p.substr(p.rfind('/') + 1))) out.push_back(p);
    return out;
  }
};

constexpr const char* kFinal = "/exports/dest-1/run-7/records_20240101_1.csv";

TEST_F(SftpFixture, WritesATemporaryThenRenamesItIntoPlace) {
  deliver({record(1, {{"email", "a@x"}, {"name", "Ada"}}), record(2, {{"email", "b@x"}, {"score", 3}})});
  EXPECT_EQ(jobs.counts().succeeded, 2u);
  ASSERT_EQ(files.files.count(kFinal), 1u);
  EXPECT_EQ(files.files[kFinal], "job_id,email,name,score\r\n1,a@x,Ada,\r\n2,b@x,,3\r\n");
  EXPECT_TRUE(temps().empty());
  // The put went to a hidden temporary in the same directory, then one rename.
  std::string put, rename;
  for (const auto& l : files.log) {
    if (l.rfind("put ", 0) == 0) put = l;
    if (l.rfind("rename ", 0) == 0) rename = l;
  }
  EXPECT_EQ(put.rfind("put /exports/dest-1/run-7/.records_20240101_1.csv.destsim-tmp-", 0), 0u) << put;
  EXPECT_NE(rename.find(" -> " + std::string(kFinal)), std::string::npos) << rename;
  EXPECT_EQ(files.count("put"), 1);
  EXPECT_EQ(files.count("rename"), 1);
}

TEST_F(SftpFixture, RecordsPerFileSplitUploadsNamedByTheirFirstJob) {
  config["records_max"] = 2;
  deliver(some(5));
  EXPECT_EQ(jobs.counts().succeeded, 5u);
  EXPECT_EQ(files.names_in("/exports/dest-1/run-7"),
            (std::vector<std::string>{"records_20240101_1.csv", "records_20240101_3.csv", "records_20240101_5.csv"}));
}

TEST_F(SftpFixture, ADisconnectMidUploadRemovesThePartialTemporaryAndRetries) {
  files.faults.push_back({"put", "", FileError::Kind::disconnected, true, 1});
  deliver(some(3));
  EXPECT_EQ(jobs.counts().succeeded, 3u);
  EXPECT_EQ(jobs.attempts(1), 2);
  EXPECT_TRUE(temps().empty()) << "the partial temporary is removed";
  EXPECT_EQ(files.files.size(), 1u);
  EXPECT_EQ(files.count("connect"), 2);  // reconnected after the drop
  EXPECT_EQ(dest->stats()["sftp"]["temps_removed"], 1);
}

TEST_F(SftpFixture, DiskFullIsRetriedUntilSpaceFreesUp) {
  files.faults.push_back({"put", "", FileError::Kind::no_space, false, 2});
  deliver(some(2));
  EXPECT_EQ(jobs.counts().succeeded, 2u);
  EXPECT_EQ(jobs.attempts(1), 3);
}

TEST_F(SftpFixture, TransientErrorsExhaustTheAttemptsThenAbortWithTheCause) {
  config["max_attempts"] = 3;
  files.faults.push_back({"put", "", FileError::Kind::timeout, false, 100});
  deliver(some(2));
  EXPECT_EQ(jobs.counts().aborted, 2u);
  EXPECT_EQ(jobs.attempts(1), 3);
  const auto out = jobs.outcome(1);
  EXPECT_NE(out.reason.find("exhausted"), std::string::npos) << out.reason;
  EXPECT_NE(out.reason.find("timeout"), std::string::npos) << out.reason;
  EXPECT_FALSE(out.outcome_unknown) << "a failed put never touched the final path";
  EXPECT_TRUE(files.names_in("/exports/dest-1/run-7").empty());
}

TEST_F(SftpFixture, AWrongPasswordFailsEveryJobAtOnce) {
  config["password"] = {{"secret", "wrong"}};
  deliver(some(3));
  EXPECT_EQ(jobs.counts().failed, 3u);
  EXPECT_EQ(jobs.attempts(1), 1) << "auth failures are permanent: no retry";
  EXPECT_NE(jobs.outcome(2).reason.find("auth_failed"), std::string::npos) << jobs.outcome(2).reason;
  EXPECT_NE(jobs.outcome(2).reason.find("rejected"), std::string::npos);
}

TEST_F(SftpFixture, PermissionDeniedFailsTheFileAndRemovesItsTemporary) {
  files.faults.push_back({"rename", "", FileError::Kind::permission_denied, false, 1});
  deliver(some(2));
  EXPECT_EQ(jobs.counts().failed, 2u);
  EXPECT_NE(jobs.outcome(1).reason.find("permission_denied"), std::string::npos);
  EXPECT_TRUE(files.files.empty()) << "the temporary was removed";
}

TEST_F(SftpFixture, ALostRenameAnswerIsResolvedByLookingAtTheDirectory) {
  // Applied: the final file is there and the temporary gone — success, one upload.
  files.faults.push_back({"rename", "", FileError::Kind::disconnected, true, 1});
  deliver(some(2));
  EXPECT_EQ(jobs.counts().succeeded, 2u);
  EXPECT_EQ(jobs.attempts(1), 1);
  EXPECT_FALSE(jobs.outcome(1).resent_after_unknown);
  EXPECT_EQ(files.count("put"), 1);
  EXPECT_EQ(dest->stats()["sftp"]["renames_verified"], 1);
}

TEST_F(SftpFixture, ARenameThatDidNotHappenIsRetriedAsKnown) {
  files.faults.push_back({"rename", "", FileError::Kind::timeout, false, 1});
  deliver(some(2));
  EXPECT_EQ(jobs.counts().succeeded, 2u);
  EXPECT_EQ(jobs.attempts(1), 2);
  EXPECT_FALSE(jobs.outcome(1).resent_after_unknown) << "the look proved the first rename did not happen";
  EXPECT_TRUE(temps().empty());
  EXPECT_EQ(dest->stats()["sftp"]["renames_not_applied"], 1);
}

TEST_F(SftpFixture, WhenTheLookFailsTooTheOutcomeIsUnknownAndTheRetryOverwritesTheSamePath) {
  files.faults.push_back({"rename", "", FileError::Kind::disconnected, true, 1});
  files.faults.push_back({"list", "", FileError::Kind::disconnected, false, 1, 1});  // the look's list, not the cleanup's
  deliver(some(2));
  EXPECT_EQ(jobs.counts().succeeded, 2u);
  EXPECT_EQ(jobs.attempts(1), 2);
  EXPECT_TRUE(jobs.outcome(1).resent_after_unknown);
  // Same rows, same first job, same path: the retry replaced the first copy.
  EXPECT_EQ(files.names_in("/exports/dest-1/run-7"), std::vector<std::string>{"records_20240101_1.csv"});
  EXPECT_EQ(dest->stats()["sftp"]["renames_unknown"], 1);
}

TEST_F(SftpFixture, TemporariesLeftByAnotherInstanceAreCleanedBeforeTheFirstUpload) {
  files.dirs.insert("/exports");
  files.dirs.insert("/exports/dest-1");
  files.dirs.insert("/exports/dest-1/run-7");
  const std::string stale = "/exports/dest-1/run-7/.records_20240101_1.csv.destsim-tmp-deadbeef-3";
  const std::string other = "/exports/dest-1/run-7/.keep-me";
  files.files[stale] = "half a fi";
  files.files[other] = "not ours";
  int lists_after_first = -1;
  bool stale_gone = false;
  deliver_phases(
      some(1),
      [&] {
        lists_after_first = files.count("list");
        stale_gone = files.files.count(stale) == 0;
      },
      {record(2, {{"email", "x"}})});
  EXPECT_TRUE(stale_gone) << "removed before the first upload";
  EXPECT_EQ(files.files.count(other), 1u) << "only names with the temporary marker are removed";
  EXPECT_EQ(dest->stats()["sftp"]["stale_temps_cleaned"], 1);
  EXPECT_EQ(lists_after_first, 1);
  EXPECT_EQ(files.count("list"), 1) << "a directory is cleaned once per process";
  EXPECT_EQ(jobs.counts().succeeded, 2u);
}

TEST_F(SftpFixture, TraversalInTheTemplateIsRefusedBeforeAnyRemoteOperation) {
  config["file_path"] = "/exports/../etc/{destinationID}/{jobRunID}/passwd.csv";
  deliver(some(2));
  EXPECT_EQ(jobs.counts().failed, 2u);
  EXPECT_NE(jobs.outcome(1).reason.find("invalid_path"), std::string::npos) << jobs.outcome(1).reason;
  EXPECT_TRUE(files.log.empty()) << "nothing reached the server";
}

TEST_F(SftpFixture, GzipJsonlFilesAreRealGzipStreamsOfOneObjectPerLine) {
  config["file_format"] = "jsonl";
  config["gzip"] = true;
  config["file_path"] = "/exports/{destinationID}/{jobRunID}/events.jsonl";
  deliver({record(1, {{"e", "a"}}), record(2, {{"e", "b"}, {"n", 1.5}})});
  const std::string path = "/exports/dest-1/run-7/events_1.jsonl.gz";
  ASSERT_EQ(files.files.count(path), 1u);
  auto text = gzip_decompress(files.files[path]);
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(*text, "{\"e\":\"a\",\"job_id\":1}\n{\"e\":\"b\",\"job_id\":2,\"n\":1.5}\n");
}

TEST_F(SftpFixture, AnInvalidRecordFailsAloneAndTheRestAreDelivered) {
  deliver({record(1, {{"email", "a"}}), record(2, nlohmann::json::array({1})), record(3, {{"email", "c"}})});
  EXPECT_EQ(jobs.outcome(2).state, JobState::failed);
  EXPECT_NE(jobs.outcome(2).reason.find("record 2"), std::string::npos);
  EXPECT_EQ(jobs.counts().succeeded, 2u);
}

TEST_F(SftpFixture, AVanishedDirectoryIsCreatedAgain) {
  deliver_phases({record(1, {{"email", "a"}})},
                 [&] {
                   files.dirs.erase("/exports/dest-1/run-7");  // someone removed it between uploads
                   files.files.clear();
                 },
                 {record(2, {{"email", "b"}})});
  EXPECT_EQ(jobs.outcome(1).state, JobState::succeeded);
  EXPECT_EQ(jobs.outcome(2).state, JobState::succeeded);
  EXPECT_EQ(jobs.attempts(2), 2);
  EXPECT_EQ(files.files.count("/exports/dest-1/run-7/records_20240101_2.csv"), 1u);
}

TEST_F(SftpFixture, ACrashAfterTheRenameLeavesTheJobsToTheRestartWhichOverwritesTheSameFile) {
  make();
  jobs.set_autocommit(!dest->commits_at_durable_steps());  // only committed writes survive, as in the runner
  int asked = 0;
  dest->set_crash_hook([&](std::string_view step) { return step == "after_upload" && ++asked == 1; });
  auto feed = std::make_unique<Scope>(loop);  // the input feed dies with the process
  feed->spawn([](Destination& d, std::vector<Record> rs) -> Task<void> {
    for (auto& r : rs) co_await d.deliver(std::move(r));
    co_await d.drain();
  }(*dest, some(2)));
  ASSERT_TRUE(loop.run_for(std::chrono::seconds(5)).ok());
  EXPECT_EQ(asked, 1) << "the file drop reaches the bulk path's after_upload step";
  EXPECT_EQ(jobs.counts().pending, 2u) << "crashed before the jobs were marked";
  ASSERT_EQ(files.files.count(kFinal), 1u);
  const std::string first = files.files[kFinal];
  // The process dies; a new one resumes from the store and the records come again.
  feed.reset();
  dest.reset();
  jobs.crash();
  make();
  auto taken = dest->resume([&](JobId id) -> Result<Record> { return some(2).at(id - 1); });
  EXPECT_EQ(taken.size(), 2u);
  deliver(some(2));
  EXPECT_EQ(jobs.counts().succeeded, 2u);
  EXPECT_TRUE(jobs.outcome(1).resent_after_unknown);
  EXPECT_EQ(files.names_in("/exports/dest-1/run-7"), std::vector<std::string>{"records_20240101_1.csv"});
  EXPECT_EQ(files.files[kFinal], first) << "same rows, same bytes, same path";
}

TEST_F(SftpFixture, SameSeedSameFilesAndTemporaryNames) {
  files.faults.push_back({"put", "", FileError::Kind::disconnected, true, 1});
  deliver(some(4));
  SimClock clock2;
  Loop loop2{clock2, LoopOptions{7, 10'000'000}};
  MemoryFiles files2{loop2};
  files2.faults.push_back({"put", "", FileError::Kind::disconnected, true, 1});
  MemoryJobStore jobs2;
  DeliveryContext ctx2{loop2, http, jobs2, &files2};
  auto c = resolved();
  files2.login_user = "alice";
  files2.login_password = "pw";
  auto d2 = entry().make(ctx2, *c);
  ASSERT_TRUE(d2.ok());
  loop2.spawn([](Destination& d, std::vector<Record> rs) -> Task<void> {
    for (auto& r : rs) co_await d.deliver(std::move(r));
    co_await d.drain();
  }(**d2, some(4)));
  ASSERT_TRUE(loop2.run_until_idle().ok());
  EXPECT_EQ(files.log, files2.log);
  EXPECT_EQ(files.files, files2.files);
}

TEST(SftpConfig, ErrorsNameTheKeyAndWhatWasExpected) {
  const auto& e = entry();
  auto make_with = [&](nlohmann::json doc) -> std::string {
    auto c = Config::resolve(doc, "sftp", e.schema, "x.json: /destination/config");
    if (!c.ok()) return c.error().message;
    SimClock clock;
    Loop loop(clock);
    NoHttp http;
    MemoryJobStore jobs;
    MemoryFiles files(loop);
    DeliveryContext ctx{loop, http, jobs, &files};
    auto d = e.make(ctx, *c);
    return d.ok() ? "" : d.error().message;
  };
  nlohmann::json base = {{"username", "u"}, {"password", "p"}, {"destination_id", "d"}, {"job_run_id", "r"}};
  EXPECT_EQ(make_with(base), "");
  auto with = [&](const char* k, nlohmann::json v) {
    nlohmann::json d = base;
    d[k] = std::move(v);
    return make_with(d);
  };
  EXPECT_NE(with("file_path", "/x/{destinationID}/f.csv").find("file_path: expected the placeholder {jobRunID}"),
            std::string::npos);
  EXPECT_NE(with("auth_method", "key").find("private_key: expected a private key"), std::string::npos);
  EXPECT_NE(with("auth_method", "token").find("auth_method: expected \"password\" or \"key\""), std::string::npos);
  EXPECT_NE(with("password", "").find("password: expected a password"), std::string::npos);
  EXPECT_NE(with("file_format", "xml").find("file_format: expected \"csv\" or \"jsonl\""), std::string::npos);
  EXPECT_NE(with("job_run_id", "a/b").find("job_run_id: expected an id without '/'"), std::string::npos);
  EXPECT_NE(with("root", "relative").find("root: invalid path"), std::string::npos);
  EXPECT_NE(with("host_key_policy", "yolo").find("host_key_policy"), std::string::npos);
  nlohmann::json jsonl_cols = base;
  jsonl_cols["file_format"] = "jsonl";
  jsonl_cols["columns"] = {"a"};
  EXPECT_NE(make_with(jsonl_cols).find("columns: only for file_format \"csv\""), std::string::npos);
  EXPECT_NE(with("columns", nlohmann::json::array({"a", "a"})).find("columns/1: duplicate column"), std::string::npos);
  EXPECT_NE(with("gzip_level", 12).find("gzip_level"), std::string::npos);
  EXPECT_NE(make_with({{"password", "p"}, {"destination_id", "d"}, {"job_run_id", "r"}}).find("username"),
            std::string::npos);
}

TEST(SftpConfig, RealModeNeedsARealClockWhenNoSessionIsGiven) {
  const auto& e = entry();
  auto c = Config::resolve({{"username", "u"}, {"password", "p"}, {"destination_id", "d"}, {"job_run_id", "r"}},
                           "sftp", e.schema);
  ASSERT_TRUE(c.ok());
  SimClock clock;
  Loop loop(clock);
  NoHttp http;
  MemoryJobStore jobs;
  DeliveryContext ctx{loop, http, jobs, nullptr};
  auto d = e.make(ctx, *c);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("real clock"), std::string::npos);
}

// A clock that says it is real; the tests below only build the destination.
class NotVirtualClock final : public Clock {
 public:
  Time now() const override { return kTimeZero; }
  void wait_until(Time) override {}
  void wait() override {}
  void wake() override {}
  bool is_virtual() const override { return false; }
  std::int64_t unix_ms_at_zero() const override { return SimClock::kDefaultEpochUnixMs; }
};

TEST(SftpConfig, RealModeOpensItsSessionThroughTheInjectedOpener) {
  const auto& e = entry();
  auto c = Config::resolve({{"username", "u"}, {"password", {{"secret", "p"}}}, {"host", "files.example"},
                            {"port", 2222}, {"host_key_policy", "accept_new"}, {"known_hosts", "/kh"},
                            {"connect_timeout", "3s"}, {"op_timeout", "4s"}, {"destination_id", "d"},
                            {"job_run_id", "r"}},
                           "sftp", e.schema);
  ASSERT_TRUE(c.ok()) << c.error().message;
  NotVirtualClock clock;
  Loop loop(clock);
  NoHttp http;
  MemoryJobStore jobs;
  DeliveryContext no_opener{loop, http, jobs, nullptr};
  auto refused = e.make(no_opener, *c);
  ASSERT_FALSE(refused.ok()) << "real mode without an opener must not open a session of its own";
  EXPECT_NE(refused.error().message.find("open_files"), std::string::npos) << refused.error().message;

  std::vector<FileSessionOptions> opened;
  DeliveryContext ctx{loop, http, jobs, nullptr, [&](FileSessionOptions o) -> std::unique_ptr<FileTransport> {
                        opened.push_back(o);
                        return std::make_unique<MemoryFiles>(loop);
                      }};
  auto d = e.make(ctx, *c);
  ASSERT_TRUE(d.ok()) << d.error().message;
  ASSERT_EQ(opened.size(), 1u);
  EXPECT_EQ(opened[0].host, "files.example");
  EXPECT_EQ(opened[0].port, 2222);
  EXPECT_EQ(opened[0].user, "u");
  EXPECT_EQ(opened[0].password, "p");
  EXPECT_TRUE(opened[0].private_key.empty());
  EXPECT_EQ(opened[0].host_key, HostKeyPolicy::accept_new);
  EXPECT_EQ(opened[0].known_hosts, "/kh");
  EXPECT_EQ(opened[0].connect_timeout, Duration(std::chrono::seconds(3)));
  EXPECT_EQ(opened[0].op_timeout, Duration(std::chrono::seconds(4)));

  DeliveryContext null_session{loop, http, jobs, nullptr, [](FileSessionOptions) -> std::unique_ptr<FileTransport> {
                                 return nullptr;
                               }};
  auto none = e.make(null_session, *c);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("no session"), std::string::npos) << none.error().message;
}

TEST(SftpConfig, LoginAndEffectsComeFromTheConfig) {
  const auto& e = entry();
  auto c = Config::resolve({{"username", "u"}, {"auth_method", "key"}, {"private_key", {{"secret", "KEY"}}},
                            {"destination_id", "d"}, {"job_run_id", "r"}},
                           "sftp", e.schema);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(e.file_login(*c), (nlohmann::json{{"user", "u"}, {"private_key", "KEY"}}));
  Record r;
  r.id = 4;
  r.payload = {{"a", "x"}};
  auto keys = e.effects(r, *c);
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0], row_effect_key(nlohmann::json{{"job_id", "4"}, {"a", "x"}}, FileFormat::csv));
  r.payload = "not an object";
  EXPECT_TRUE(e.effects(r, *c).empty()) << "a record that fails has no effect";
}

}  // namespace
}  // namespace destsim
