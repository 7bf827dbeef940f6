#include "framework/real/sqlite_job_store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

namespace destsim {
namespace {

std::string temp_db(const char* name) {
  std::string p = ::testing::TempDir() + "/destsim-" + name + "-" + std::to_string(getpid()) + ".db";
  std::remove(p.c_str());
  std::remove((p + "-wal").c_str());
  std::remove((p + "-shm").c_str());
  return p;
}

TEST(SqliteJobStore, KeepsTheMemoryStoresContract) {
  auto s = SqliteJobStore::open({temp_db("contract")});
  ASSERT_TRUE(s.ok()) << s.error().message;
  SqliteJobStore& js = **s;
  js.add(1);
  js.add(2);
  js.add(3);
  js.attempt(2);
  js.attempt(2);
  js.finish(1, {JobState::succeeded, "", false, true}, kTimeZero);
  js.finish(2, {JobState::aborted, "attempts exhausted (2 of 2): HTTP 503", true}, kTimeZero);
  JobCounts c = js.counts();
  EXPECT_EQ(c.pending, 1u);
  EXPECT_EQ(c.succeeded, 1u);
  EXPECT_EQ(c.aborted, 1u);
  EXPECT_EQ(c.unknown, 1u);
  EXPECT_EQ(js.attempts(2), 2);
  EXPECT_EQ(js.outcome(2).reason, "attempts exhausted (2 of 2): HTTP 503");
  EXPECT_TRUE(js.outcome(2).outcome_unknown);
  EXPECT_TRUE(js.outcome(1).resent_after_unknown);
  EXPECT_TRUE(js.contains(3));
  EXPECT_FALSE(js.contains(4));
  EXPECT_EQ(js.ids(), (std::vector<JobId>{1, 2, 3}));
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
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s = SqliteJobStore::open({path, 1000});
    if (!s.ok()) _exit(2);
    for (JobId id = 1; id <= 5; ++id) (*s)->add(id);
    (*s)->finish(1, {JobState::succeeded, "", false}, kTimeZero);
    (*s)->commit();
    for (JobId id = 6; id <= 8; ++id) (*s)->add(id);
    (*s)->finish(2, {JobState::succeeded, "", false}, kTimeZero);
    _exit(0);  // dies without committing the last four writes
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  auto s = SqliteJobStore::open({path});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->ids(), (std::vector<JobId>{1, 2, 3, 4, 5}));
  EXPECT_EQ((*s)->outcome(1).state, JobState::succeeded);
  EXPECT_EQ((*s)->outcome(2).state, JobState::pending);  // its finish was not committed
}

TEST(SqliteJobStore, KeepsImportsAcrossADeathExactlyAsCommitted) {
  const std::string path = temp_db("imports");
  StoredImport a{1, "3404", {1, 2, 3}, {{"rows", {{"a@x.com", {1, 3}}, {"b@x.com", {2}}}}}, from_ns(5'000'000'000), false};
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s = SqliteJobStore::open({path, 1000});
    if (!s.ok()) _exit(2);
    (*s)->put_import(a);
    (*s)->put_import(StoredImport{2, "", {4, 5}, nlohmann::json::object(), kTimeZero, false});
    (*s)->commit();
    (*s)->drop_import(2);                                                  // not committed
    (*s)->put_import(StoredImport{3, "", {6}, {}, kTimeZero, true});       // not committed
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  auto s = SqliteJobStore::open({path});
  ASSERT_TRUE(s.ok());
  std::vector<StoredImport> got = (*s)->imports();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], a);  // the import id, its jobs and the per-record map survive
  EXPECT_EQ(got[1].key, 2u);
  EXPECT_TRUE(got[1].import_id.empty());
  (*s)->drop_import(1);
  (*s)->commit();
  EXPECT_EQ((*s)->imports().size(), 1u);
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
