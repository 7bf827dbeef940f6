// Tests of the staged_table destination against the warehouse fake on the
// simulator. The first tests drive the destination's lifecycle hooks by hand
// (setup, open, deliver, flush, close, teardown) on a Loop with SimTransport
// and a MemoryJobStore that keeps only committed writes across a crash; the
// last ones run whole scenarios (with and without a Sync) and check the
// conformance properties.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "conformance/testing.h"
#include "conformance/runner.h"
#include "conformance/scenario.h"
#include "destinations/destination.h"
#include "fakes/fault_plan.h"
#include "fakes/sim_transport.h"
#include "fakes/warehouse/warehouse_api.h"
#include "framework/clock.h"
#include "framework/lifecycle.h"

namespace destsim {
namespace {

using namespace testing;  // conformance/testing.h

constexpr const char* kHost = "warehouse.example.com";

Record user(JobId id, bool valid = true) {
  Record r;
  r.id = id;
  r.stream = "users";
  r.payload = {{"id", id}, {"email", "user" + std::to_string(id) + "@example.com"}};
  if (!valid) r.payload["attributes"] = {{"nested", true}};  // columns are scalar: rejected at staging
  return r;
}

Record event(JobId id) {
  Record r;
  r.id = id;
  r.stream = "events";
  r.payload = {{"id", id}, {"name", "purchase"}, {"amount", static_cast<std::int64_t>(id) * 10}};
  return r;
}

StreamSpec spec(const std::string& name, const std::string& mode, std::int64_t generation = 0,
                std::vector<std::string> pk = {}) {
  return {.name = name, .mode = mode, .primary_key = std::move(pk), .generation = generation};
}

// A destination wired to its fake on one loop, driven hook by hook; it can be
// crashed (the store keeps only committed writes) and restarted on the same
// store and fake, as the runner does.
class Rig {
 public:
  explicit Rig(const nlohmann::json& overrides = nlohmann::json::object())
      : loop_(clock_, LoopOptions{11, 20'000'000}), transport_(loop_, SimTransportOptions{}), jobs_(&loop_.trace()) {
    entry_ = find_destination("staged_table");
    if (!entry_) throw std::runtime_error("staged_table is not registered");
    nlohmann::json doc = {{"api_key", {{"secret", "wh-key"}}}};
    doc.update(overrides);
    auto c = Config::resolve(doc, "staged_table", entry_->schema, "test");
    if (!c.ok()) throw std::runtime_error(c.error().message);
    config_ = *c;
    WarehouseApiOptions o;
    o.api_key = "wh-key";
    fake_ = std::make_unique<WarehouseApi>(o);
    transport_.route(kHost, fake_.get(), &plan_);
    ctx_ = std::make_unique<DeliveryContext>(DeliveryContext{loop_, transport_, jobs_, nullptr});
    start();
    jobs_.set_autocommit(!dest_->commits_at_durable_steps());
  }
  ~Rig() {
    producer_.reset();
    dest_.reset();
  }

  Destination& dest() { return *dest_; }
  WarehouseApi& fake() { return *fake_; }
  MemoryJobStore& jobs() { return jobs_; }
  FaultPlan& plan() { return plan_; }
  Loop& loop() { return loop_; }

  using Hook = std::function<Task<Status>(Destination&)>;
  /// Starts a hook without running the loop; the result fills in when it ends.
  std::shared_ptr<std::optional<Status>> start_call(Hook hook) {
    auto out = std::make_shared<std::optional<Status>>();
    producer_->spawn([](Destination* d, Hook f, std::shared_ptr<std::optional<Status>> o) -> Task<void> {
      Status s = co_await f(*d);
      *o = s;
    }(dest_.get(), std::move(hook), out));
    return out;
  }
  /// Runs a hook to its end (nullopt: it never ended, e.g. the process crashed).
  std::optional<Status> call(Hook hook) {
    auto out = start_call(std::move(hook));
    idle();
    return *out;
  }
  Status setup(std::vector<StreamSpec> streams) {
    streams_ = std::move(streams);
    auto s = call([this](Destination& d) { return d.setup(streams_); });
    EXPECT_TRUE(s.has_value());
    if (!s || !s->ok()) return s.value_or(Error::internal("setup never ended"));
    for (const auto& spec : streams_) {
      auto o = call([spec](Destination& d) { return d.open_stream(spec); });
      EXPECT_TRUE(o.has_value() && o->ok());
    }
    return s.value_or(Error::internal("setup never ended"));
  }
  Status flush(const std::string& stream) {
    return call([stream](Destination& d) { return d.flush_stream(stream); }).value_or(Error::internal("hung"));
  }
  std::optional<Status> close(const std::string& stream, bool commit) {
    return call([stream, commit](Destination& d) { return d.close_stream(stream, commit); });
  }
  void teardown(bool success) {
    producer_->spawn([](Destination* d, bool ok) -> Task<void> { co_await d->teardown(ok); }(dest_.get(), success));
    idle();
  }
  /// Delivers the records in order (they reach the processor; the loop runs on).
  void deliver(const std::vector<Record>& records, bool run = true) {
    for (const auto& r : records) offered_[r.id] = r;
    producer_->spawn([](Destination* d, std::vector<Record> rs) -> Task<void> {
      for (auto& r : rs) co_await d->deliver(std::move(r));
    }(dest_.get(), records));
    if (run) idle();
  }
  void idle() {
    Status s = loop_.run_until_idle();
    ASSERT_TRUE(s.ok()) << s.error().message;
  }

  /// Crashes the process at the nth time it reaches `step`.
  void crash_at(const std::string& step, int nth = 1) {
    dest_->set_crash_hook([this, step, nth, seen = 0](std::string_view s) mutable {
      if (s != step || ++seen < nth) return false;
      crashed_ = true;
      return true;
    });
  }
  bool crashed() const { return crashed_; }
  /// The process dies: only committed job store writes survive.
  void crash() {
    producer_.reset();
    dest_.reset();
    jobs_.crash();
    crashed_ = false;
  }
  /// A new process on the same store and warehouse.
  std::vector<JobId> restart() {
    start();
    return dest_->resume([this](JobId id) -> Result<Record> {
      auto it = offered_.find(id);
      if (it == offered_.end()) return Error::not_found("no record " + std::to_string(id));
      return it->second;
    });
  }
  /// The source offers everything again; the destination skips what is done.
  void reoffer() {
    std::vector<Record> all;
    for (const auto& [id, r] : offered_) all.push_back(r);
    deliver(all);
  }

  JobOutcome outcome(JobId id) const { return jobs_.outcome(id); }
  std::int64_t applied(JobId id) const {
    std::int64_t n = 0;
    for (const auto& key : entry_->effects(offered_.at(id), config_)) n += fake_->applied(key);
    return n;
  }
  std::string stage_state(const std::string& id) const { return fake_->accepted()["stages"][id]["state"]; }

 private:
  void start() {
    auto made = entry_->make(*ctx_, config_);
    if (!made.ok()) throw std::runtime_error(made.error().message);
    dest_ = std::move(made).value();
    producer_ = std::make_unique<Scope>(loop_);
  }

  SimClock clock_;
  Loop loop_;
  FaultPlan plan_;
  std::unique_ptr<WarehouseApi> fake_;
  SimTransport transport_;
  MemoryJobStore jobs_;
  std::unique_ptr<DeliveryContext> ctx_;
  const DestinationEntry* entry_ = nullptr;
  Config config_;
  std::vector<StreamSpec> streams_;
  std::map<JobId, Record> offered_;
  bool crashed_ = false;
  std::unique_ptr<Destination> dest_;
  std::unique_ptr<Scope> producer_;  // destroyed before dest_
};

TEST(StagedTable, JobsSucceedOnlyWhenTheirStreamCommits) {
  Rig rig;
  ASSERT_TRUE(rig.setup({spec("users", "append"), spec("events", "dedupe", 0, {"id"})}).ok());
  std::vector<Record> input;
  for (JobId id = 1; id <= 40; ++id) input.push_back(id % 10 == 0 ? user(id, false) : user(id));
  for (JobId id = 41; id <= 60; ++id) input.push_back(event(id));
  rig.deliver(input);
  ASSERT_TRUE(rig.flush("users").ok());
  ASSERT_TRUE(rig.flush("events").ok());

  // Staged, not committed: valid jobs are pending and nothing is in a table;
  // rows the warehouse rejected have failed already.
  for (JobId id = 1; id <= 60; ++id) {
    const bool invalid = id <= 40 && id % 10 == 0;
    EXPECT_EQ(rig.outcome(id).state, invalid ? JobState::failed : JobState::pending) << id;
    if (invalid) EXPECT_NE(rig.outcome(id).reason.find("rejected by the warehouse"), std::string::npos);
  }
  EXPECT_TRUE(rig.fake().rows("users").empty());
  EXPECT_TRUE(rig.fake().rows("events").empty());

  auto closed = rig.close("users", true);
  ASSERT_TRUE(closed.has_value());
  ASSERT_TRUE(closed->ok()) << closed->error().message;
  for (JobId id = 1; id <= 40; ++id) {
    if (id % 10 == 0) continue;
    EXPECT_EQ(rig.outcome(id).state, JobState::succeeded) << id;
    EXPECT_EQ(rig.applied(id), 1) << id;
  }
  EXPECT_EQ(rig.fake().rows("users").size(), 36u);
  EXPECT_EQ(rig.outcome(41).state, JobState::pending) << "events has not closed yet";

  ASSERT_TRUE(rig.close("events", true)->ok());
  for (JobId id = 41; id <= 60; ++id) {
    EXPECT_EQ(rig.outcome(id).state, JobState::succeeded) << id;
    EXPECT_EQ(rig.applied(id), 1) << id;
  }
  EXPECT_EQ(rig.fake().rows("events").size(), 20u);
  EXPECT_EQ(rig.fake().commits(), 2);
  rig.teardown(true);
  EXPECT_EQ(rig.fake().open_stages(), 0);
  EXPECT_EQ(rig.jobs().counts().pending, 0u);
}

TEST(StagedTable, CloseWithoutCommitDiscardsTheStageAndFailsTheStream) {
  Rig rig;
  ASSERT_TRUE(rig.setup({spec("users", "append"), spec("events", "append")}).ok());
  std::vector<Record> input;
  for (JobId id = 1; id <= 30; ++id) input.push_back(user(id));
  rig.deliver(input);
  ASSERT_TRUE(rig.flush("users").ok());
  // More records still buffered in the processor when the stream fails.
  std::vector<Record> more;
  for (JobId id = 31; id <= 35; ++id) more.push_back(user(id));
  rig.deliver(more, /*run=*/false);
  rig.deliver({event(36)}, /*run=*/false);
  auto closed = rig.close("users", false);
  ASSERT_TRUE(closed.has_value());
  EXPECT_TRUE(closed->ok());
  for (JobId id = 1; id <= 35; ++id) {
    EXPECT_EQ(rig.outcome(id).state, JobState::failed) << id;
    EXPECT_NE(rig.outcome(id).reason.find("stream users failed: staged data discarded"), std::string::npos)
        << rig.outcome(id).reason;
    EXPECT_EQ(rig.applied(id), 0) << id;
  }
  EXPECT_EQ(rig.stage_state("stg-1"), "dropped");
  // A later record of the failed stream fails at once; other streams go on.
  rig.deliver({user(37)});
  EXPECT_EQ(rig.outcome(37).state, JobState::failed);
  EXPECT_EQ(rig.close("users", true).value_or(Status::success()).ok(), false);
  ASSERT_TRUE(rig.flush("events").ok());
  ASSERT_TRUE(rig.close("events", true)->ok());
  EXPECT_EQ(rig.outcome(36).state, JobState::succeeded);
  EXPECT_TRUE(rig.fake().rows("users").empty());
  EXPECT_EQ(rig.fake().rows("events").size(), 1u);
  rig.teardown(false);
  EXPECT_EQ(rig.fake().open_stages(), 0);
}

TEST(StagedTable, CrashBeforeCommitThenRestartCommitsEachRowExactlyOnce) {
  Rig rig;
  ASSERT_TRUE(rig.setup({spec("users", "append")}).ok());
  std::vector<Record> input;
  for (JobId id = 1; id <= 50; ++id) input.push_back(user(id, id != 7));
  rig.deliver(input);
  ASSERT_TRUE(rig.flush("users").ok());
  rig.crash_at("before_commit");
  EXPECT_FALSE(rig.close("users", true).has_value()) << "the process stops at the crash point";
  ASSERT_TRUE(rig.crashed());
  EXPECT_TRUE(rig.fake().rows("users").empty());
  EXPECT_EQ(rig.stage_state("stg-1"), "open");
  rig.crash();
  ASSERT_EQ(rig.jobs().imports().size(), 1u) << "the commit in progress was stored before the crash point";
  EXPECT_EQ(rig.jobs().imports()[0].import_id, "stg-1");

  std::vector<JobId> taken = rig.restart();
  EXPECT_EQ(taken.size(), 49u);  // the staged jobs (7 was rejected)
  ASSERT_TRUE(rig.setup({spec("users", "append")}).ok());
  // The abandoned stage was settled (dropped: never committed).
  EXPECT_EQ(rig.stage_state("stg-1"), "dropped");
  EXPECT_TRUE(rig.jobs().imports().empty());
  rig.reoffer();
  ASSERT_TRUE(rig.flush("users").ok());
  ASSERT_TRUE(rig.close("users", true)->ok());
  for (JobId id = 1; id <= 50; ++id) {
    if (id == 7) {
      EXPECT_EQ(rig.outcome(id).state, JobState::failed);
      EXPECT_EQ(rig.applied(id), 0);
      continue;
    }
    EXPECT_EQ(rig.outcome(id).state, JobState::succeeded) << id;
    EXPECT_EQ(rig.applied(id), 1) << id;
  }
  EXPECT_EQ(rig.fake().rows("users").size(), 49u);
  EXPECT_EQ(rig.fake().commits(), 1);
  EXPECT_EQ(rig.stage_state("stg-2"), "committed") << "the rows were staged again in a new stage";
  rig.teardown(true);
  EXPECT_EQ(rig.fake().open_stages(), 0);
}

// Stages users 1..20 in an append stream and makes the next commit apply
// without an answer (a timeout after it was applied).
void stage_users_then_lose_the_commit_answer(Rig& rig) {
  ASSERT_TRUE(rig.setup({spec("users", "append")}).ok());
  std::vector<Record> input;
  for (JobId id = 1; id <= 20; ++id) input.push_back(user(id));
  rig.deliver(input);
  ASSERT_TRUE(rig.flush("users").ok());
  FaultRule lost;
  lost.method = "POST";
  lost.path = "/v1/tables/*/commit";
  lost.kind = FaultKind::timeout;
  lost.after = true;
  lost.times = 1;
  rig.plan().add(lost);
}

TEST(StagedTable, ALostCommitAnswerIsLearntFromTheRetryWithoutASecondCommit) {
  Rig rig;
  // The commit is applied, but its answer never comes (a timeout after 30 s).
  stage_users_then_lose_the_commit_answer(rig);
  if (::testing::Test::HasFatalFailure()) return;
  auto closed = rig.close("users", true);
  ASSERT_TRUE(closed.has_value());
  EXPECT_TRUE(closed->ok()) << closed->error().message;
  EXPECT_EQ(rig.fake().commits(), 1);
  EXPECT_EQ(rig.outcome(1).state, JobState::succeeded) << "the retry read 409 StageCommitted as applied";
  for (JobId id = 1; id <= 20; ++id) EXPECT_EQ(rig.applied(id), 1) << id;
}

TEST(StagedTable, CommitAppliedThenCrashIsSettledByTheStageAfterRestart) {
  Rig rig;
  stage_users_then_lose_the_commit_answer(rig);
  if (::testing::Test::HasFatalFailure()) return;
  // Start the close, and crash while the commit's answer is outstanding.
  auto closed = rig.start_call([](Destination& d) { return d.close_stream("users", true); });
  ASSERT_TRUE(rig.loop().run_for(std::chrono::seconds(5)).ok());
  ASSERT_EQ(rig.fake().commits(), 1) << "the warehouse applied the commit";
  EXPECT_EQ(rig.outcome(1).state, JobState::pending);
  EXPECT_FALSE(closed->has_value());
  rig.crash();
  for (JobId id = 1; id <= 20; ++id) EXPECT_EQ(rig.outcome(id).state, JobState::pending) << id;

  rig.restart();
  ASSERT_TRUE(rig.setup({spec("users", "append")}).ok());
  // The stored commit was settled: DELETE said 409 StageCommitted, so its jobs succeeded.
  for (JobId id = 1; id <= 20; ++id) EXPECT_EQ(rig.outcome(id).state, JobState::succeeded) << id;
  rig.reoffer();  // all terminal: skipped
  ASSERT_TRUE(rig.flush("users").ok());
  ASSERT_TRUE(rig.close("users", true)->ok());
  EXPECT_EQ(rig.fake().commits(), 1) << "nothing committed twice";
  for (JobId id = 1; id <= 20; ++id) EXPECT_EQ(rig.applied(id), 1) << id;
  EXPECT_EQ(rig.fake().rows("users").size(), 20u);
}

// Commits generation 1 of `table` directly, as an earlier sync would have.
void seed_generation(WarehouseApi& api, const std::string& table, std::int64_t generation,
                     const std::vector<std::uint64_t>& ids) {
  auto call = [&](const std::string& method, const std::string& path, const nlohmann::json& body) {
    Request r;
    r.method = method;
    r.host = kHost;
    r.path = path;
    r.headers.set("Authorization", "Bearer wh-key");
    r.body = body.dump();
    return nlohmann::json::parse(api.handle(r, kTimeZero).body);
  };
  std::string stage = call("POST", "/v1/stages", {{"table", table}, {"label", "earlier-sync"}})["stage"];
  nlohmann::json rows = nlohmann::json::array();
  for (auto id : ids) rows.push_back({{"id", id}, {"row", {{"id", id}, {"old", true}}}});
  call("PUT", "/v1/stages/" + stage + "/rows", {{"rows", rows}});
  auto c = call("POST", "/v1/tables/" + table + "/commit",
                {{"stage", stage}, {"mode", "truncate"}, {"generation", generation}});
  ASSERT_EQ(c["generation"], generation) << c.dump();
}

TEST(StagedTable, TruncateRefreshInterruptedThenResumedKeepsItsGenerationAndDeletesOlderOnlyOnSuccess) {
  Rig rig;
  seed_generation(rig.fake(), "users", 1, {9001, 9002, 9003});
  seed_generation(rig.fake(), "events", 1, {9101});
  const std::vector<StreamSpec> streams = {spec("events", "truncate", 2), spec("users", "truncate", 2)};
  ASSERT_TRUE(rig.setup(streams).ok());
  std::vector<Record> input;
  for (JobId id = 1; id <= 10; ++id) input.push_back(user(id));
  for (JobId id = 11; id <= 15; ++id) input.push_back(event(id));
  rig.deliver(input);
  ASSERT_TRUE(rig.flush("events").ok());
  ASSERT_TRUE(rig.flush("users").ok());
  ASSERT_TRUE(rig.close("events", true)->ok());  // generation 2 of events commits
  rig.crash_at("before_commit");                   // the next commit: users
  EXPECT_FALSE(rig.close("users", true).has_value());
  ASSERT_TRUE(rig.crashed());
  // Interrupted: users keeps generation 1 whole (nothing of generation 2 committed).
  auto users = rig.fake().rows("users");
  ASSERT_EQ(users.size(), 3u);
  for (const auto& r : users) EXPECT_EQ(r["_generation"], 1);
  auto events = rig.fake().rows("events");
  ASSERT_EQ(events.size(), 5u);
  for (const auto& r : events) EXPECT_EQ(r["_generation"], 2);
  rig.crash();

  // Resumed with the same generation: events' jobs are done (skipped) and its
  // committed rows stay; users is staged again and commits; generation 1 goes.
  rig.restart();
  ASSERT_TRUE(rig.setup(streams).ok());
  rig.reoffer();
  ASSERT_TRUE(rig.flush("events").ok());
  ASSERT_TRUE(rig.flush("users").ok());
  ASSERT_TRUE(rig.close("events", true)->ok());
  EXPECT_EQ(rig.fake().rows("events").size(), 5u) << "rows of this generation from the first attempt stay";
  ASSERT_TRUE(rig.close("users", true)->ok());
  users = rig.fake().rows("users");
  ASSERT_EQ(users.size(), 10u);
  for (const auto& r : users) {
    EXPECT_EQ(r["_generation"], 2);
    EXPECT_FALSE(r.contains("old"));
  }
  for (JobId id = 1; id <= 15; ++id) {
    EXPECT_EQ(rig.outcome(id).state, JobState::succeeded) << id;
    EXPECT_EQ(rig.applied(id), 1) << id;
  }
  rig.teardown(true);
  EXPECT_EQ(rig.fake().open_stages(), 0);
}

TEST(StagedTable, FailedTruncateStreamKeepsTheOlderGeneration) {
  Rig rig;
  seed_generation(rig.fake(), "users", 1, {9001, 9002});
  ASSERT_TRUE(rig.setup({spec("users", "truncate", 2)}).ok());
  std::vector<Record> input;
  for (JobId id = 1; id <= 5; ++id) input.push_back(user(id));
  rig.deliver(input);
  ASSERT_TRUE(rig.flush("users").ok());
  ASSERT_TRUE(rig.close("users", false)->ok());
  auto rows = rig.fake().rows("users");
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& r : rows) EXPECT_EQ(r["_generation"], 1);
  for (JobId id = 1; id <= 5; ++id) EXPECT_EQ(rig.outcome(id).state, JobState::failed);
}

TEST(StagedTable, CommitErrorFailsTheStagedJobsWithTheReasonAfterRetries) {
  Rig rig({{"max_retries", 3}, {"retry_delay_initial", "100ms"}});
  seed_generation(rig.fake(), "users", 5, {9001});
  // Transient 503s are retried; then the warehouse refuses the stale generation.
  FaultRule busy;
  busy.method = "POST";
  busy.path = "/v1/tables/users/commit";
  busy.kind = FaultKind::respond;
  busy.status = 503;
  busy.times = 1;
  rig.plan().add(busy);
  ASSERT_TRUE(rig.setup({spec("users", "truncate", 3)}).ok());
  std::vector<Record> input;
  for (JobId id = 1; id <= 4; ++id) input.push_back(user(id));
  rig.deliver(input);
  ASSERT_TRUE(rig.flush("users").ok());
  auto closed = rig.close("users", true);
  ASSERT_TRUE(closed.has_value());
  ASSERT_FALSE(closed->ok());
  EXPECT_NE(closed->error().message.find("StaleGeneration"), std::string::npos) << closed->error().message;
  for (JobId id = 1; id <= 4; ++id) {
    JobOutcome o = rig.outcome(id);
    EXPECT_EQ(o.state, JobState::failed) << id;
    EXPECT_NE(o.reason.find("HTTP 409 StaleGeneration"), std::string::npos) << o.reason;
    EXPECT_FALSE(o.outcome_unknown) << "the stage was dropped: the commit provably never applied";
    EXPECT_EQ(rig.applied(id), 0);
  }
  EXPECT_EQ(rig.stage_state("stg-2"), "dropped");
  EXPECT_EQ(rig.dest().stats()["control_retries"].get<std::int64_t>() >= 1, true);
  auto rows = rig.fake().rows("users");
  ASSERT_EQ(rows.size(), 1u) << "the table is untouched";
  EXPECT_EQ(rows[0]["_generation"], 5);
}

TEST(StagedTable, PlainDeliverAndDrainCommitsEveryStreamAndReopensAfter) {
  Rig rig({{"default_mode", "dedupe"}});
  std::vector<Record> input;
  for (JobId id = 1; id <= 8; ++id) input.push_back(user(id));
  rig.deliver(input);
  rig.call([](Destination& d) -> Task<Status> {
    co_await d.drain();
    co_return Status::success();
  });
  for (JobId id = 1; id <= 8; ++id) EXPECT_EQ(rig.outcome(id).state, JobState::succeeded) << id;
  // Another batch after the drain goes to a new stage; a record lacking the
  // primary key of a dedupe stream fails at once.
  Record nokey;
  nokey.id = 9;
  nokey.stream = "users";
  nokey.payload = {{"email", "x@example.com"}};
  rig.deliver({user(10), nokey});
  EXPECT_EQ(rig.outcome(9).state, JobState::failed);
  EXPECT_NE(rig.outcome(9).reason.find("primary key column \"id\""), std::string::npos);
  rig.call([](Destination& d) -> Task<Status> {
    co_await d.drain();
    co_return Status::success();
  });
  EXPECT_EQ(rig.outcome(10).state, JobState::succeeded);
  EXPECT_EQ(rig.fake().commits(), 2);
  EXPECT_EQ(rig.fake().rows("users").size(), 9u);
}

TEST(StagedTable, SetupRefusesAStreamWhoseTableNameIsInvalid) {
  Rig rig;
  Status s = rig.setup({spec("user events", "append")});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("\"user events\""), std::string::npos) << s.error().message;
}

TEST(StagedTable, BadConfigNamesTheKey) {
  const DestinationEntry* e = find_destination("staged_table");
  ASSERT_NE(e, nullptr);
  auto c = Config::resolve({{"api_key", {{"secret", "k"}}}, {"default_mode", "merge"}}, "staged_table", e->schema,
                           "cfg.json");
  ASSERT_TRUE(c.ok());
  SimClock clock;
  Loop loop(clock);
  SimTransport t(loop);
  MemoryJobStore jobs;
  DeliveryContext ctx{loop, t, jobs, nullptr};
  auto made = e->make(ctx, *c);
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.error().message.find("default_mode"), std::string::npos);
}

// ------------------------------------------------------------ whole scenarios

TEST(StagedTableScenario, SyncWithACrashBeforeCommitHoldsEveryProperty) {
  Scenario s = scenario(R"({
    "scenario": 1, "name": "staged-sync-crash", "seed": 5,
    "destination": {"name": "staged_table", "config": {"api_key": {"secret": "wh-key"}}},
    "input": {"generate": {"records": 300, "invalid": "1/25"}, "pace": "10ms"},
    "sync": {"streams": [{"name": "users", "mode": "dedupe", "primary_key": ["id"]},
                         {"name": "events", "mode": "truncate", "generation": 4}],
             "state_every": 20},
    "crashes": [{"step": "before_commit", "nth": 1, "restart_after": "10s"}],
    "faults": [{"match": {"path": "/v1/stages/*/rows"}, "probability": "1/6", "times": 6, "respond": {"status": 503}},
               {"match": {"path": "/v1/tables/*/commit"}, "times": 1, "timeout": "after"}],
    "expect": {"sync": {"ok": true, "streams": {"users": "committed", "events": "committed"}},
               "properties": ["A1", "A2", "A3", "A4", "B1", "C1", "C2", "C4", "E1", "E2", "F1", "F2", "G1", "H1",
                              "I1"]}})");
  Outcome o = run(s);
  ASSERT_TRUE(o.world);
  EXPECT_EQ(o.crashes, 1u);
  std::int64_t succeeded = 0, invalid = 0;
  for (std::int64_t i = 0; i < o.input_size; ++i) {
    Record r = o.record(i);
    const bool bad = r.payload.contains("attributes");
    invalid += bad;
    JobOutcome out = o.jobs().outcome(r.id);
    EXPECT_EQ(out.state, bad ? JobState::failed : JobState::succeeded) << r.id << " " << out.reason;
    std::int64_t n = 0;
    for (const auto& k : o.entry->effects(r, o.config)) n += o.fake().applied(k);
    EXPECT_EQ(n, bad ? 0 : 1) << r.id;
    succeeded += !bad;
  }
  EXPECT_GT(invalid, 0);
  auto acc = o.fake().accepted();
  EXPECT_EQ(static_cast<std::int64_t>(acc["tables"]["users"].size() + acc["tables"]["events"].size()), succeeded);
  for (const auto& row : acc["tables"]["events"]) EXPECT_EQ(row["_generation"], 4);
  for (const auto& [id, st] : acc["stages"].items()) EXPECT_NE(st["state"], "open") << id << " left open";
}

TEST(StagedTableScenario, FailedStreamCommitsNothingOfItsStagedData) {
  Scenario s = scenario(R"({
    "scenario": 1, "name": "staged-sync-stream-error", "seed": 8,
    "destination": {"name": "staged_table", "config": {"api_key": {"secret": "wh-key"}}},
    "input": {"generate": {"records": 120}, "pace": "5ms"},
    "sync": {"streams": ["users", "events"], "state_every": 10,
             "messages": [{"after": 100, "error": "source lost its cursor", "stream": "users"}]},
    "expect": {"sync": {"ok": false, "streams": {"users": "failed", "events": "committed"}},
               "properties": ["A1", "A2", "A4", "E2", "F1", "F2", "G1"]}})");
  Outcome o = run(s);
  ASSERT_TRUE(o.world);
  auto acc = o.fake().accepted();
  EXPECT_FALSE(acc["tables"].contains("users")) << acc["tables"].dump();
  for (std::int64_t i = 0; i < o.input_size; ++i) {
    Record r = o.record(i);
    JobOutcome out = o.jobs().outcome(r.id);
    if (r.stream == "users") EXPECT_EQ(out.state, JobState::failed) << r.id;
    else EXPECT_EQ(out.state, JobState::succeeded) << r.id << " " << out.reason;
  }
}

TEST(StagedTableScenario, PlainRunUnderRandomFaultsHoldsTheBatchProperties) {
  Scenario s = scenario(R"({
    "scenario": 1, "name": "staged-plain-faults", "seed": 21,
    "destination": {"name": "staged_table",
                    "config": {"api_key": {"secret": "wh-key"}, "flush_queue_size": 40, "max_retries": 8}},
    "input": {"generate": {"records": 600, "invalid": "1/30", "payload_bytes": 40}, "pace": "5ms"},
    "faults": [{"probability": "1/12", "timeout": "after"},
               {"probability": "1/15", "reset": "before"},
               {"probability": "1/15", "garble": true},
               {"probability": "1/10", "respond": {"status": 503}},
               {"probability": "1/15", "rate_limit": {"retry_after": "7s"}},
               {"match": {"path": "/v1/stages/*/rows"}, "probability": "1/3", "too_large": {"max_body": 2000}}],
    "expect": {"properties": ["A1", "A2", "A3", "A4", "B1", "B2", "B3", "B4", "C1", "C2", "C3", "C4", "C5", "C6",
                              "G1", "G2", "H1", "I1"]}})");
  Outcome o = run(s);
  ASSERT_TRUE(o.world);
  EXPECT_GT(o.destination_stats["splits"].get<std::int64_t>(), 0) << o.destination_stats.dump();
  EXPECT_GT(o.destination_stats["control_retries"].get<std::int64_t>() +
                o.destination_stats["batch_retries"].get<std::int64_t>(),
            0);
  std::int64_t succeeded = 0;
  for (std::int64_t i = 0; i < o.input_size; ++i) {
    Record r = o.record(i);
    JobOutcome out = o.jobs().outcome(r.id);
    if (r.payload.contains("attributes")) EXPECT_EQ(out.state, JobState::failed) << r.id;
    succeeded += out.state == JobState::succeeded;
  }
  EXPECT_GT(succeeded, 500);
}

}  // namespace
}  // namespace destsim
