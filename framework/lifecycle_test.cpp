#include "framework/lifecycle.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace destsim {
namespace {

// A target that records the lifecycle calls it gets; a delivered record's job
// succeeds `delay` later (or, when staging, at its stream's commit).
class Target final : public SyncTarget {
 public:
  Target(Loop& loop, JobStore& jobs) : loop_(loop), jobs_(jobs) {}

  Task<void> deliver(Record r) override {
    log.push_back("deliver " + std::to_string(r.id));
    if (!jobs_.contains(r.id)) jobs_.add(r.id);
    if (is_terminal(jobs_.outcome(r.id).state)) co_return;
    if (staging) {
      staged[r.stream].push_back(r.id);
      co_return;
    }
    const JobId id = r.id;
    loop_.call_after(delay, [this, id] { jobs_.finish(id, JobOutcome{JobState::succeeded, "", false}, loop_.now()); });
    co_return;
  }
  Task<void> drain() override {
    log.push_back("drain");
    co_return;
  }
  Task<Status> setup(std::vector<StreamSpec> streams) override {
    log.push_back("setup " + std::to_string(streams.size()));
    co_return setup_error.empty() ? Status::success() : Status(Error::io(setup_error));
  }
  Task<Status> open_stream(StreamSpec s) override {
    log.push_back("open " + s.name);
    co_return Status::success();
  }
  bool stages() const override { return staging; }
  Task<Status> flush_stream(std::string s) override {
    log.push_back("flush " + s);
    co_return Status::success();
  }
  Task<Status> close_stream(std::string s, bool commit) override {
    log.push_back("close " + s + (commit ? " commit" : " discard"));
    if (commit && s == close_error_stream) {
      for (JobId id : staged[s]) jobs_.finish(id, JobOutcome{JobState::failed, "commit refused", false}, loop_.now());
      co_return Status(Error::io("commit refused"));
    }
    for (JobId id : staged[s])
      jobs_.finish(id,
                   commit ? JobOutcome{JobState::succeeded, "", false}
                          : JobOutcome{JobState::failed, "stream " + s + " failed: staged data discarded", false},
                   loop_.now());
    staged[s].clear();
    co_return Status::success();
  }
  Task<void> teardown(bool ok) override {
    log.push_back(std::string("teardown ") + (ok ? "ok" : "failed"));
    co_return;
  }

  std::vector<std::string> log;
  Duration delay = std::chrono::seconds(1);
  bool staging = false;
  std::string setup_error, close_error_stream;
  std::map<std::string, std::vector<JobId>> staged;

 private:
  Loop& loop_;
  JobStore& jobs_;
};

SyncMessage rec(JobId id, std::string stream) {
  SyncMessage m;
  m.kind = SyncMessage::Kind::record;
  m.record.id = id;
  m.record.stream = std::move(stream);
  return m;
}
SyncMessage state(std::string stream, int cursor) {
  SyncMessage m;
  m.kind = SyncMessage::Kind::state;
  m.stream = std::move(stream);
  m.state = {{"cursor", cursor}};
  return m;
}
SyncMessage end(std::string stream) {
  SyncMessage m;
  m.kind = SyncMessage::Kind::end;
  m.stream = std::move(stream);
  return m;
}

// Streams with these names, in append mode.
std::vector<StreamSpec> named(std::initializer_list<const char*> names) {
  std::vector<StreamSpec> out;
  for (const char* n : names) {
    StreamSpec s;
    s.name = n;
    out.push_back(std::move(s));
  }
  return out;
}

struct LifecycleFixture : ::testing::Test {
  SimClock clock;
  Loop loop{clock, LoopOptions{.seed = 3}};
  MemoryJobStore jobs;
  Target target{loop, jobs};

  // Runs a sync over `input` (one message per 100 ms) and returns its outcome.
  SyncOutcome run(std::vector<StreamSpec> streams, std::vector<SyncMessage> input) {
    Sync sync(loop, target, jobs, std::move(streams));
    auto messages = std::make_shared<std::vector<SyncMessage>>(std::move(input));
    auto index = std::make_shared<std::size_t>(0);
    SyncSource next = [this, messages, index]() -> Task<std::optional<SyncMessage>> {
      return [](Loop* l, std::shared_ptr<std::vector<SyncMessage>> ms,
                std::shared_ptr<std::size_t> i) -> Task<std::optional<SyncMessage>> {
        if (*i >= ms->size()) co_return std::nullopt;
        co_await l->sleep(std::chrono::milliseconds(100));
        co_return (*ms)[(*i)++];
      }(&loop, messages, index);
    };
    std::optional<SyncOutcome> out;
    loop.spawn([](Sync* s, SyncSource n, std::optional<SyncOutcome>* o) -> Task<void> {
      *o = co_await s->run(std::move(n));
    }(&sync, next, &out));
    EXPECT_TRUE(loop.run_until_idle().ok());
    EXPECT_TRUE(out.has_value()) << "the sync did not end";
    return out.value_or(SyncOutcome{});
  }
  std::vector<std::string> streams_of(const SyncOutcome& o) {
    std::vector<std::string> out;
    for (const auto& [s, v] : o.streams) out.push_back(s + " " + v);
    return out;
  }
};

TEST_F(LifecycleFixture, OrderAndCheckpointsReleasedOnlyAfterTheRecordsBeforeThem) {
  target.delay = std::chrono::seconds(5);  // records settle long after their state messages arrive
  // (b's only record settles before a's last, so b closes first.)
  SyncOutcome o = run(named({"a", "b"}), {rec(1, "a"), rec(2, "b"), state("a", 1), rec(3, "a"), state("a", 2),
                                       state("b", 1), end("a"), end("b")});
  EXPECT_TRUE(o.ok);
  ASSERT_EQ(o.released.size(), 3u);
  EXPECT_EQ(o.released[0].stream, "a");
  EXPECT_EQ(o.released[0].records, 1);
  EXPECT_EQ(o.released[0].state["cursor"], 1);
  // Record 1 succeeds at 0.1 s + 5 s: its checkpoint comes no earlier.
  EXPECT_GE(o.released[0].at, kTimeZero + std::chrono::milliseconds(5100));
  EXPECT_EQ(o.released[1].stream, "b");  // record 2 settles before record 3
  EXPECT_EQ(o.released[2].records, 2);
  EXPECT_GE(o.released[2].at, kTimeZero + std::chrono::milliseconds(5400));
  const std::vector<std::string> want = {"setup 2", "open a",  "open b",   "deliver 1",   "deliver 2",
                                         "deliver 3", "close b commit", "close a commit", "drain", "teardown ok"};
  EXPECT_EQ(target.log, want);
  // The last released checkpoint of each stream is in the store for a restart.
  EXPECT_EQ(jobs.checkpoints().at("a")["records"], 2);
  EXPECT_EQ(jobs.checkpoints().at("b")["seq"], 1);
}

TEST_F(LifecycleFixture, AnEmptyStreamClosesAtOnce) {
  SyncOutcome o = run(named({"a", "empty"}), {end("empty"), rec(1, "a"), end("a")});
  EXPECT_TRUE(o.ok);
  // "empty" closed before the first record of "a" was even delivered.
  auto at = [&](const std::string& what) { return std::find(target.log.begin(), target.log.end(), what) - target.log.begin(); };
  EXPECT_LT(at("close empty commit"), at("deliver 1"));
  EXPECT_EQ(o.streams.at("empty"), "committed");
}

TEST_F(LifecycleFixture, AFailedSetupRunsTheFailurePathOnceAndEnds) {
  target.setup_error = "cannot reach the warehouse";
  SyncOutcome o = run(named({"a"}), {rec(1, "a"), state("a", 1), end("a")});
  EXPECT_FALSE(o.ok);
  EXPECT_NE(o.error.find("cannot reach the warehouse"), std::string::npos);
  EXPECT_TRUE(o.released.empty());
  // Nothing opened, nothing delivered; the record's job failed with the reason; teardown once.
  const std::vector<std::string> want = {"setup 1", "drain", "teardown failed"};
  EXPECT_EQ(target.log, want);
  ASSERT_TRUE(jobs.contains(1));
  EXPECT_EQ(jobs.outcome(1).state, JobState::failed);
  EXPECT_NE(jobs.outcome(1).reason.find("failed"), std::string::npos);
}

TEST_F(LifecycleFixture, AnErrorInCloseFailsThatStreamOnly) {
  target.staging = true;
  target.close_error_stream = "b";
  SyncOutcome o = run(named({"a", "b"}), {rec(1, "a"), rec(2, "b"), state("b", 1), end("a"), end("b")});
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.streams.at("a"), "committed");
  EXPECT_EQ(o.streams.at("b").rfind("failed: close: commit refused", 0), 0u) << o.streams.at("b");
  EXPECT_EQ(jobs.outcome(1).state, JobState::succeeded);
  EXPECT_EQ(jobs.outcome(2).state, JobState::failed);
  EXPECT_TRUE(o.released.empty()) << "b's checkpoint covers a record that failed to commit";
  EXPECT_EQ(std::count(target.log.begin(), target.log.end(), "teardown failed"), 1);
  EXPECT_EQ(std::count(target.log.begin(), target.log.end(), "flush b"), 1);
}

TEST_F(LifecycleFixture, AStateForAnUnknownStreamFailsTheSyncNamingIt) {
  SyncOutcome o = run(named({"a"}), {rec(1, "a"), state("orders", 1), rec(2, "a"), end("a")});
  EXPECT_FALSE(o.ok);
  EXPECT_NE(o.error.find("unknown stream \"orders\""), std::string::npos) << o.error;
  // Every record still ends: 1 was delivered and succeeds, 2 fails with the reason.
  EXPECT_EQ(jobs.outcome(1).state, JobState::succeeded);
  EXPECT_EQ(jobs.outcome(2).state, JobState::failed);
  EXPECT_EQ(std::count(target.log.begin(), target.log.end(), "close a discard"), 1);
  EXPECT_EQ(std::count(target.log.begin(), target.log.end(), "teardown failed"), 1);
}

TEST_F(LifecycleFixture, InputEndingWithoutEndOfStreamFailsThatStream) {
  SyncOutcome o = run(named({"a", "b"}), {rec(1, "a"), rec(2, "b"), end("a")});
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.streams.at("a"), "committed");
  EXPECT_NE(o.streams.at("b").find("the input ended before the end of stream b"), std::string::npos);
}

TEST_F(LifecycleFixture, StagedJobsSettleAtCommitAndCheckpointsFollow) {
  target.staging = true;
  SyncOutcome o = run(named({"a"}), {rec(1, "a"), rec(2, "a"), state("a", 2), end("a")});
  EXPECT_TRUE(o.ok);
  ASSERT_EQ(o.released.size(), 1u);
  // Released at the commit (after the end of input), not when the records were staged.
  EXPECT_GE(o.released[0].at, kTimeZero + std::chrono::milliseconds(400));
  EXPECT_EQ(jobs.outcome(2).state, JobState::succeeded);
}

TEST_F(LifecycleFixture, AResumedSyncRestartsAfterTheLastReleasedCheckpoint) {
  // A first sync released a checkpoint after two records of "a", then the
  // process died; the store kept the checkpoint and the records' states.
  for (JobId id : {1, 2}) {
    jobs.add(id);
    jobs.finish(id, JobOutcome{JobState::succeeded, "", false}, loop.now());
  }
  jobs.add(3);  // in flight at the crash
  jobs.put_checkpoint("a", {{"state", {{"cursor", 2}}}, {"records", 2}, {"seq", 1}});
  SyncOutcome o = run(named({"a"}), {rec(1, "a"), rec(2, "a"), state("a", 2), rec(3, "a"), rec(4, "a"),
                                state("a", 4), end("a")});
  EXPECT_TRUE(o.ok);
  // Nothing before the checkpoint is offered again; 3 and 4 are.
  EXPECT_EQ(std::count(target.log.begin(), target.log.end(), "deliver 1"), 0);
  EXPECT_EQ(std::count(target.log.begin(), target.log.end(), "deliver 2"), 0);
  EXPECT_EQ(std::count(target.log.begin(), target.log.end(), "deliver 3"), 1);
  ASSERT_EQ(o.released.size(), 1u);  // the old checkpoint is not released twice
  EXPECT_EQ(o.released[0].records, 4);
  EXPECT_EQ(o.released[0].seq, 2);
}

TEST(LifecycleValidate, StreamsAreCheckedWithTheirNames) {
  EXPECT_FALSE(Sync::validate(named({"a", "a"})).ok());
  Status s = Sync::validate({{"users", "dedupe", {}, 0}});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("users"), std::string::npos);
  EXPECT_NE(s.error().message.find("primary_key"), std::string::npos);
  EXPECT_FALSE(Sync::validate({{"x", "upsert", {}, 0}}).ok());
  EXPECT_TRUE(Sync::validate({StreamSpec{"users", "dedupe", {"id"}, 3}, StreamSpec{"events", "append", {}, 0}}).ok());
}

}  // namespace
}  // namespace destsim
