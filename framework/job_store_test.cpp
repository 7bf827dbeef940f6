#include "framework/job_store.h"

#include <gtest/gtest.h>

#include "framework/job_store_contract.h"

namespace destsim {
namespace {

TEST(MemoryJobStore, KeepsTheJobStoreContract) {
  MemoryJobStore s;
  testing::expect_job_store_contract(s);
}

TEST(MemoryJobStore, TracesEachJobsEndOnce) {
  Trace trace;
  trace.set_keep_lines(true);
  MemoryJobStore s(&trace);
  testing::expect_job_store_contract(s);
  ASSERT_EQ(trace.lines().size(), 3u);
  EXPECT_EQ(trace.lines()[1],
            R"({"t":0,"kind":"job","id":2,"state":"aborted","reason":"attempts exhausted (2 of 2): HTTP 503","outcome_unknown":true,"resent_after_unknown":false,"reason_kind":"unknown_outcome"})");
}

TEST(MemoryJobStoreDeathTest, ATerminalStateNeverChanges) {
  MemoryJobStore s;
  s.add(1);
  s.finish(1, {JobState::succeeded, "", false}, kTimeZero);
  EXPECT_DEATH(s.finish(1, {JobState::failed, "late", false}, kTimeZero), "pending");
}

TEST(MemoryJobStoreDeathTest, IdsAreUnique) {
  MemoryJobStore s;
  s.add(7);
  EXPECT_DEATH(s.add(7), "unique");
}

TEST(MemoryJobStoreDeathTest, FailuresNeedAReason) {
  MemoryJobStore s;
  s.add(1);
  EXPECT_DEATH(s.finish(1, {JobState::failed, "", false}, kTimeZero), "reason");
}

}  // namespace
}  // namespace destsim

namespace destsim {
namespace {

TEST(MemoryJobStoreCrash, ACrashLosesExactlyTheUncommittedWrites) {
  MemoryJobStore s;
  s.set_autocommit(false);
  s.add(1);
  s.add(2);
  s.finish(1, {JobState::succeeded, "", false}, kTimeZero);
  s.commit();
  s.add(3);
  s.attempt(2);
  s.finish(2, {JobState::aborted, "attempts exhausted (1 of 1): HTTP 503", true}, kTimeZero);
  s.add(10);  // a sparse id
  EXPECT_EQ(s.uncommitted(), 4u);
  EXPECT_EQ(s.crash(), 4u);
  EXPECT_EQ(s.ids(), (std::vector<JobId>{1, 2}));
  EXPECT_EQ(s.outcome(1).state, JobState::succeeded);
  EXPECT_EQ(s.outcome(2).state, JobState::pending);
  EXPECT_EQ(s.attempts(2), 0);
  JobCounts c = s.counts();
  EXPECT_EQ(c.pending, 1u);
  EXPECT_EQ(c.succeeded, 1u);
  EXPECT_EQ(c.aborted, 0u);
  EXPECT_EQ(c.unknown, 0u);
  // After the restart the job can still reach its one terminal state.
  s.finish(2, {JobState::succeeded, "", false}, kTimeZero);
  EXPECT_EQ(s.counts().succeeded, 2u);
}

TEST(MemoryJobStoreCrash, ImportsSurviveACrashExactlyAsCommitted) {
  MemoryJobStore s;
  s.set_autocommit(false);
  StoredImport a{1, "", {1, 2}, nlohmann::json::object(), kTimeZero, {2}};
  s.put_import(a);
  s.commit();
  StoredImport a2 = a;
  a2.import_id = "imp-1";
  a2.params = {{"order", {2, 1}}};
  s.put_import(a2);  // the import id is not committed yet
  s.put_import(StoredImport{2, "", {3}, {}, kTimeZero, {3}});
  s.drop_import(1);
  EXPECT_EQ(s.imports().size(), 1u);
  EXPECT_EQ(s.crash(), 3u);
  ASSERT_EQ(s.imports().size(), 1u);
  EXPECT_EQ(s.imports()[0], a);  // as committed: in flight, no import id
  s.put_import(a2);
  s.commit();
  s.crash();
  EXPECT_EQ(s.imports()[0], a2);
}

TEST(MemoryJobStoreCrash, AutocommitMakesEveryWriteDurable) {
  MemoryJobStore s;
  s.add(1);
  s.finish(1, {JobState::failed, "HTTP 400", false}, kTimeZero);
  EXPECT_EQ(s.crash(), 0u);
  EXPECT_EQ(s.outcome(1).state, JobState::failed);
}

}  // namespace
}  // namespace destsim
