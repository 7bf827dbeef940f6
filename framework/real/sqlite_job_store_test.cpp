#include "framework/real/sqlite_job_store.h"

#include <sqlite3.h>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "framework/job_store_contract.h"

namespace destsim {
namespace {

std::string temp_db(const char* name) {
  std::string p = ::testing::TempDir() + "/destsim-" + name + "-" + std::to_string(getpid()) + ".db";
  std::remove(p.c_str());
  std::remove((p + "-wal").c_str());
  std::remove((p + "-shm").c_str());
  return p;
}

// Runs `work` on the store at `path` in a child process that then dies without
// a clean close (_exit: no destructor commits what `work` left uncommitted).
template <class Work>
void in_a_process_that_dies(const std::string& path, Work work) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s = SqliteJobStore::open({path, 1000});
    if (!s.ok()) _exit(2);
    work(**s);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
}

TEST(SqliteJobStore, KeepsTheJobStoreContract) {
  auto s = SqliteJobStore::open({temp_db("contract")});
  ASSERT_TRUE(s.ok()) << s.error().message;
  testing::expect_job_store_contract(**s);
}

TEST(SqliteJobStore, ReopeningRestoresCommittedJobs) {
  const std::string path = temp_db("reopen");
  {
    auto s = SqliteJobStore::open({path, 1000});
    ASSERT_TRUE(s.ok());
    for (JobId id = 1; id <= 5; ++id) (*s)->add(id);
    (*s)->finish(3, {JobState::failed, "HTTP 400 InvalidEmailAddressError", false}, from_ns(7));
  }  // the destructor commits
  auto s = SqliteJobStore::open({path});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->ids().size(), 5u);
  EXPECT_EQ((*s)->outcome(3).state, JobState::failed);
  EXPECT_EQ((*s)->outcome(3).reason, "HTTP 400 InvalidEmailAddressError");
}

TEST(SqliteJobStore, AProcessThatDiesKeepsExactlyWhatItCommitted) {
  const std::string path = temp_db("crash");
  in_a_process_that_dies(path, [](SqliteJobStore& s) {
    for (JobId id = 1; id <= 5; ++id) s.add(id);
    s.finish(1, {JobState::succeeded, "", false}, kTimeZero);
    s.commit();
    for (JobId id = 6; id <= 8; ++id) s.add(id);  // these four writes are never committed
    s.finish(2, {JobState::succeeded, "", false}, kTimeZero);
  });
  if (HasFatalFailure()) return;
  auto s = SqliteJobStore::open({path});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->ids(), (std::vector<JobId>{1, 2, 3, 4, 5}));
  EXPECT_EQ((*s)->outcome(1).state, JobState::succeeded);
  EXPECT_EQ((*s)->outcome(2).state, JobState::pending);  // its finish was not committed
}

TEST(SqliteJobStore, KeepsImportsAcrossADeathExactlyAsCommitted) {
  const std::string path = temp_db("imports");
  StoredImport a{1, "3404", {1, 2, 3}, {{"rows", {{"a@x.com", {1, 3}}, {"b@x.com", {2}}}}}, from_ns(5'000'000'000), {}};
  in_a_process_that_dies(path, [&a](SqliteJobStore& s) {
    s.put_import(a);
    s.put_import(StoredImport{2, "", {4, 5}, nlohmann::json::object(), kTimeZero, {5}});
    s.commit();
    s.drop_import(2);                                             // not committed
    s.put_import(StoredImport{3, "", {6}, {}, kTimeZero, {6}});  // not committed
  });
  if (HasFatalFailure()) return;
  auto s = SqliteJobStore::open({path});
  ASSERT_TRUE(s.ok());
  std::vector<StoredImport> got = (*s)->imports();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], a);  // the import id, its jobs and the per-record map survive
  EXPECT_EQ(got[1].key, 2u);
  EXPECT_TRUE(got[1].import_id.empty());
  EXPECT_EQ(got[1].unknown, (std::vector<JobId>{5}));  // only job 5's earlier upload had an unknown outcome
  (*s)->drop_import(1);
  (*s)->commit();
  EXPECT_EQ((*s)->imports().size(), 1u);
}

// A store written before schema 5 kept one unknown flag per stored import:
// 1 still marks every job of the entry unknown (none is offered clean).
TEST(SqliteJobStore, ReadsASchema4UnknownFlagAsEveryJob) {
  const std::string path = temp_db("schema4");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const char* sql =
      "CREATE TABLE imports(key INTEGER PRIMARY KEY, import_id TEXT NOT NULL, jobs TEXT NOT NULL, "
      "params TEXT NOT NULL, started_ns INTEGER NOT NULL, unknown INTEGER NOT NULL);"
      "INSERT INTO imports VALUES(1, '', '[1,2]', '{}', 0, 1);"
      "INSERT INTO imports VALUES(2, 'imp', '[3]', '{}', 0, 0);";
  ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto s = SqliteJobStore::open({path});
  ASSERT_TRUE(s.ok()) << s.error().message;
  std::vector<StoredImport> got = (*s)->imports();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].unknown, (std::vector<JobId>{1, 2}));
  EXPECT_TRUE(got[1].unknown.empty());
}

TEST(SqliteJobStore, BadPathIsAnErrorNamingTheFile) {
  auto s = SqliteJobStore::open({"/nonexistent-dir/x/jobs.db"});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("/nonexistent-dir/x/jobs.db: cannot open"), std::string::npos)
      << s.error().message;
  auto bad = SqliteJobStore::open({temp_db("bad"), 0});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("commit_every"), std::string::npos);
}

TEST(SqliteJobStoreDeathTest, ATerminalStateNeverChanges) {
  auto s = SqliteJobStore::open({temp_db("death")});
  ASSERT_TRUE(s.ok());
  (*s)->add(1);
  (*s)->finish(1, {JobState::succeeded, "", false}, kTimeZero);
  EXPECT_DEATH((*s)->finish(1, {JobState::failed, "late", false}, kTimeZero), "once");
}

}  // namespace
}  // namespace destsim
