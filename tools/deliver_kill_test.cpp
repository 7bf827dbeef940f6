// deliver_kill_test.cpp — `destsim deliver` survives kill -9 at any moment.
//
// A fake's HTTP door (the door `destsim serve` runs, here in this process so
// the test can read the fake between runs) serves with a fault plan of 5xx,
// applied-then-502, 429 and resets. `destsim deliver` runs as a child process
// with a SQLite store and is killed with SIGKILL at a random moment, over and
// over; after each kill the test waits until the door has answered every
// request the dead process left, then judges the store against the fake:
//   - a job reported succeeded is applied in the fake (nothing lost);
//   - a job reported failed with a known outcome is not applied;
//   - where the API is not idempotent, no record is applied twice unless its
//     job says an unknown outcome hid an earlier send (A3's rule);
//   - a terminal outcome never changes from one run to the next.
// A last run without a kill must end with every record terminal, under the same
// rules. The figures (kills that landed mid-run, duplicates, unknown outcomes)
// are printed; DESTSIM_KILL_RUNS and DESTSIM_KILL_SEED choose how many kills
// per destination and the seed of their moments.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "destinations/destination.h"
#include "fakes/catalog.h"
#include "fakes/doors/http_door.h"
#include "framework/real/sqlite_job_store.h"

extern char** environ;

namespace destsim {
namespace {

namespace fs = std::filesystem;
using WallClock = std::chrono::steady_clock;  // determinism-ok: a real-time test of a real-time command

std::string destsim_binary() {
  const char* bin = std::getenv("DESTSIM_BIN");
  return bin ? bin : "destsim";
}

long env_or(const char* name, long fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtol(v, nullptr, 10) : fallback;
}

struct Child {
  pid_t pid = -1;
};

Child spawn(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  Child c;
  int rc = posix_spawn(&c.pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) c.pid = -1;
  return c;
}

// Waits for the child at most `bound`; its exit status, or -1 if it still runs.
int wait_for(Child& c, std::chrono::milliseconds bound) {
  const auto deadline = WallClock::now() + bound;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(c.pid, &status, WNOHANG);
    if (r == c.pid) {
      c.pid = -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return 128 + WTERMSIG(status);
    }
    if (WallClock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // determinism-ok: polling a child process
  }
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct Setup {
  std::string destination;
  nlohmann::json config;
  nlohmann::json fake_options;  // over what the config implies
  std::int64_t records;
};

struct Figures {
  int kills_mid_run = 0;       // the process was still running when killed
  int finished_before_kill = 0;
  std::int64_t duplicates = 0;  // records applied more than once at the end
  std::int64_t unknown = 0;     // jobs ending with an unknown outcome
  std::int64_t resent = 0;      // succeeded after an unknown outcome
  std::int64_t failed_known = 0;
};

// What a store and the fake's copies of each record say, judged from the
// destination's declared capabilities only (never by asking the code under
// test). `seen` carries each record's terminal state from earlier judgements.
struct Verdict {
  std::vector<std::string> problems;
  std::int64_t duplicates = 0, unknown = 0, resent = 0, failed_known = 0;
};

Verdict judge_store(const JobStore& jobs, const std::vector<Record>& records, const std::vector<std::int64_t>& copies,
                    const Capabilities& caps, bool final, std::map<JobId, std::string>& seen) {
  Verdict v;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const JobId id = records[i].id;
    const std::string rec = "record " + std::to_string(id);
    const std::int64_t n = copies[i];
    if (!jobs.contains(id) || jobs.outcome(id).state == JobState::pending) {
      if (final) v.problems.push_back(rec + " never reached a terminal state (lost)");
      continue;
    }
    const JobOutcome o = jobs.outcome(id);
    const std::string state = job_state_name(o.state);
    if (auto [it, fresh] = seen.emplace(id, state); !fresh && it->second != state)
      v.problems.push_back(rec + "'s terminal state changed from " + it->second + " to " + state);
    if (o.state == JobState::succeeded && n < 1)
      v.problems.push_back(rec + " reported succeeded but the fake does not hold it");
    if (o.state != JobState::succeeded && !o.outcome_unknown && n > 0)
      v.problems.push_back(rec + " reported " + state + " (\"" + o.reason + "\", outcome known) but the fake applied it " +
                           std::to_string(n) + " times");
    if (n > 1) {
      ++v.duplicates;
      const bool hidden = o.outcome_unknown || o.resent_after_unknown;
      if (!caps.idempotent_writes && !(caps.delivery == DeliverySemantics::at_least_once && hidden))
        v.problems.push_back(rec + " is applied " + std::to_string(n) + " times by an API that is not idempotent, " +
                             "and its job (" + state + ") says no unknown outcome allowed a re-send");
    }
    v.unknown += o.outcome_unknown ? 1 : 0;
    v.resent += o.resent_after_unknown ? 1 : 0;
    v.failed_known += o.state != JobState::succeeded && !o.outcome_unknown ? 1 : 0;
  }
  return v;
}

class KillRun {
 public:
  KillRun(const Setup& s, const fs::path& dir) : s_(s), dir_(dir) {
    entry_ = find_destination(s.destination);
    EXPECT_NE(entry_, nullptr);
  }

  /// Stops a run `kills` times with `sig` (SIGKILL; or SIGTERM, after which the
  /// store must hold no job still in flight: the run drained), then runs to the end.
  void run(int kills, std::uint64_t seed, Figures& fig, int sig = SIGKILL) {
    ASSERT_NE(entry_, nullptr);
    auto config = Config::resolve(s_.config, entry_->name, entry_->schema, "test config");
    ASSERT_TRUE(config.ok()) << config.error().message;
    nlohmann::json options = entry_->fake_options ? entry_->fake_options(*config) : nlohmann::json::object();
    options.update(s_.fake_options);
    auto fake = find_fake(entry_->fake)->make(options, "test fake options");
    ASSERT_TRUE(fake.ok()) << fake.error().message;
    FakeApi* api = (*fake)->http();
    ASSERT_NE(api, nullptr);
    // Every class of answer a send can get, including applied-then-failed ones.
    auto plan = FaultPlan::from_json(
        nlohmann::json::parse(R"([
          {"probability": "1/12", "respond": {"status": 500}},
          {"probability": "1/15", "respond": {"status": 502, "after": true}},
          {"probability": "1/15", "rate_limit": {"retry_after": "1s"}},
          {"probability": "1/20", "reset": "after"},
          {"probability": "1/20", "reset": "before"}
        ])"),
        "kill test plan");
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    HttpDoor door(*api, std::move(plan).value(), {.seed = seed, .max_lifetime = std::chrono::minutes(30)});
    auto port = door.start();
    ASSERT_TRUE(port.ok()) << port.error().message;

    const fs::path input = dir_ / "input.jsonl";
    {
      std::ofstream out(input);
      for (std::int64_t i = 1; i <= s_.records; ++i) {
        Rng rng(derive_seed(seed, "kill-test-record", static_cast<std::uint64_t>(i)));
        Record r = entry_->generate(rng, static_cast<JobId>(i), GenerateOptions{.invalid = Ratio{1, 25}});
        r.id = static_cast<JobId>(i);
        out << nlohmann::json{{"id", r.id}, {"stream", r.stream}, {"payload", r.payload}}.dump() << "\n";
        records_.push_back(std::move(r));
      }
    }
    const fs::path cfg = dir_ / "config.json";
    std::ofstream(cfg) << s_.config.dump();
    const fs::path store = dir_ / "jobs.db";
    const fs::path log = dir_ / "deliver.log";
    const std::vector<std::string> args = {destsim_binary(), "deliver",          s_.destination, "--input",
                                           input.string(),   "--config",         cfg.string(),   "--store",
                                           store.string(),   "--url",            door.url(),     "--outcomes",
                                           (dir_ / "outcomes.jsonl").string()};

    std::mt19937_64 moments(seed);  // determinism-ok: the kill moments of a real-time test, seeded
    std::uniform_int_distribution<int> after_ms(20, 1200);
    for (int k = 0; k < kills; ++k) {
      Child c = spawn(args, log);
      ASSERT_GT(c.pid, 0) << "cannot start " << args[0];
      const int ms = after_ms(moments);
      int rc = wait_for(c, std::chrono::milliseconds(ms));
      if (rc == -1) {
        ::kill(c.pid, sig);
        rc = wait_for(c, std::chrono::seconds(60));
        if (sig == SIGKILL) {
          ASSERT_EQ(rc, 128 + SIGKILL) << "the process did not die of SIGKILL";
        } else {
          ASSERT_TRUE(rc == 0 || rc == 1) << "after SIGTERM deliver exited " << rc << ":\n" << read_file(log);
          auto drained = SqliteJobStore::open({.path = store.string()});
          ASSERT_TRUE(drained.ok());
          EXPECT_EQ((*drained)->counts().pending, 0u) << "SIGTERM must drain what was in flight";
          EXPECT_NE(read_file(log).find("no new records; draining"), std::string::npos);
        }
        ++fig.kills_mid_run;
      } else {
        ASSERT_TRUE(rc == 0 || rc == 1) << "deliver exited " << rc << ":\n" << read_file(log);
        ++fig.finished_before_kill;
      }
      // What the dead process sent may still be inside the door: wait for its answers.
      ASSERT_TRUE(door.wait_quiet(std::chrono::seconds(10))) << "the door never went quiet";
      judge(door, store, false, "after kill " + std::to_string(k + 1) + " at " + std::to_string(ms) + " ms");
      if (::testing::Test::HasFailure()) {
        ADD_FAILURE() << "deliver log:\n" << read_file(log);
        return;
      }
    }
    Child last = spawn(args, log);
    ASSERT_GT(last.pid, 0);
    const int rc = wait_for(last, std::chrono::seconds(240));
    if (rc == -1) ::kill(last.pid, SIGKILL), wait_for(last, std::chrono::seconds(10));
    ASSERT_TRUE(rc == 0 || rc == 1) << "the last run exited " << rc << ":\n" << read_file(log);
    ASSERT_TRUE(door.wait_quiet(std::chrono::seconds(10)));
    judge(door, store, true, "after the last run");
    if (::testing::Test::HasFailure()) ADD_FAILURE() << "deliver log:\n" << read_file(log);
    fig.duplicates += last_.duplicates;
    fig.unknown += last_.unknown;
    fig.resent += last_.resent;
    fig.failed_known += last_.failed_known;
  }

 private:
  void judge(HttpDoor& door, const fs::path& store_path, bool final, const std::string& when) {
    auto store = SqliteJobStore::open({.path = store_path.string()});
    ASSERT_TRUE(store.ok()) << store.error().message;
    auto config = Config::resolve(s_.config, entry_->name, entry_->schema, "test config");
    std::vector<std::int64_t> copies(records_.size(), 0);
    door.inspect([&](const FakeApi& api) {
      for (std::size_t i = 0; i < records_.size(); ++i) {
        std::int64_t n = INT64_MAX;
        for (const auto& key : entry_->effects(records_[i], *config)) n = std::min(n, api.applied(key));
        copies[i] = n == INT64_MAX ? 0 : n;
      }
    });
    Verdict v = judge_store(**store, records_, copies, entry_->capabilities, final, seen_);
    for (std::size_t i = 0; i < v.problems.size() && i < 10; ++i) ADD_FAILURE() << when << ": " << v.problems[i];
    if (v.problems.size() > 10) ADD_FAILURE() << when << ": and " << v.problems.size() - 10 << " more";
    last_ = v;
  }

  Setup s_;
  fs::path dir_;
  const DestinationEntry* entry_ = nullptr;
  std::vector<Record> records_;
  std::map<JobId, std::string> seen_;
  Verdict last_;
};

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("destsim-kill-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void kill_test(const Setup& s, int default_kills, int sig = SIGKILL) {
  const int kills = static_cast<int>(env_or("DESTSIM_KILL_RUNS", default_kills));
  const auto seed = static_cast<std::uint64_t>(env_or("DESTSIM_KILL_SEED", 1));
  const fs::path dir = fresh_dir(s.destination);
  // More kills need more input, or the later ones land after the run ended.
  Setup scaled = s;
  scaled.records = s.records * std::max(1, kills / 8);
  Figures fig;
  const auto start = WallClock::now();
  KillRun(scaled, dir).run(kills, seed, fig, sig);
  const double secs = std::chrono::duration<double>(WallClock::now() - start).count();
  std::printf("%s%s: %d kills (%d mid-run, %d after the run ended), %lld records: %lld failed with a known outcome, "
              "%lld unknown outcomes, %lld resent after one, %lld applied twice; %.1f s\n",
              s.destination.c_str(), sig == SIGKILL ? "" : " (SIGTERM)", kills, fig.kills_mid_run, fig.finished_before_kill,
              static_cast<long long>(scaled.records), static_cast<long long>(fig.failed_known),
              static_cast<long long>(fig.unknown), static_cast<long long>(fig.resent),
              static_cast<long long>(fig.duplicates), secs);
  EXPECT_GE(fig.kills_mid_run, kills / 2) << "most kills must land while the delivery runs";
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);
}

// The judge fails each way a store and a fake can disagree (hand-built).
TEST(DeliverKill, TheJudgeFailsOnHandBuiltOutcomes) {
  MemoryJobStore jobs;
  std::vector<Record> records(6);
  for (std::size_t i = 0; i < records.size(); ++i) records[i].id = static_cast<JobId>(i + 1);
  for (JobId id = 1; id <= 5; ++id) jobs.add(id);
  jobs.finish(1, {.state = JobState::succeeded}, kTimeZero);                  // not applied: lost
  jobs.finish(2, {.state = JobState::failed, .reason = "HTTP 400"}, kTimeZero);  // applied: phantom
  jobs.finish(3, {.state = JobState::succeeded}, kTimeZero);                  // applied twice, nothing hidden
  JobOutcome resent{.state = JobState::succeeded};
  resent.resent_after_unknown = true;
  jobs.finish(4, resent, kTimeZero);  // applied twice after an unknown outcome
  // 5 stays pending, 6 was never added.
  const std::vector<std::int64_t> copies = {0, 1, 2, 2, 1, 0};
  Capabilities at_least_once{.delivery = DeliverySemantics::at_least_once, .idempotent_writes = false};
  std::map<JobId, std::string> seen;
  Verdict mid = judge_store(jobs, records, copies, at_least_once, false, seen);
  ASSERT_EQ(mid.problems.size(), 3u);
  EXPECT_NE(mid.problems[0].find("record 1 reported succeeded but the fake does not hold it"), std::string::npos);
  EXPECT_NE(mid.problems[1].find("record 2 reported failed"), std::string::npos);
  EXPECT_NE(mid.problems[2].find("record 3 is applied 2 times"), std::string::npos);  // 4 is allowed
  EXPECT_EQ(mid.duplicates, 2);
  // At the end, pending and missing jobs are lost; an exactly-once API allows no copy twice.
  Capabilities exactly_once{.idempotent_writes = false};
  Verdict end = judge_store(jobs, records, copies, exactly_once, true, seen);
  EXPECT_EQ(end.problems.size(), 6u);
  // An idempotent API makes copies harmless.
  Capabilities idempotent{.idempotent_writes = true};
  EXPECT_EQ(judge_store(jobs, records, copies, idempotent, false, seen).problems.size(), 2u);
  // A terminal state that changes between two judgements.
  MemoryJobStore later;
  later.add(1);
  later.finish(1, {.state = JobState::failed, .reason = "HTTP 400"}, kTimeZero);
  Verdict changed = judge_store(later, {records[0]}, {0}, idempotent, false, seen);
  ASSERT_EQ(changed.problems.size(), 1u);
  EXPECT_NE(changed.problems[0].find("changed from succeeded to failed"), std::string::npos);
}

// The batch path: Iterable's bulk endpoints, paced so a run takes seconds.
TEST(DeliverKill, IterableSurvivesKillNine) {
  kill_test({.destination = "iterable",
             .config = {{"api_key", "kill-test-key"},
                        {"flush_queue_size", 20},
                        {"flush_interval", "100ms"},
                        {"requests_per_second", 10},
                        {"retry_delay_initial", "50ms"},
                        {"retry_delay_max", "500ms"}},
             .fake_options = nlohmann::json::object(),
             .records = 3000},
            12);
}

// The bulk path, not idempotent: upload, poll, per-record results (the
// declarative record_results_import on the async_job fake), quick imports.
Setup async_import() {
  return {.destination = "declarative",
          .config = {{"api_key", "kill-test-key"},
                     {"upload_interval", "100ms"},
                     {"poll_interval", "1s"},
                     {"retry_delay_initial", "100ms"},
                     {"records_max", 40}},
          .fake_options = {{"pending_for", "300ms"}},
          .records = 600};
}

// The bulk path, not idempotent: upload, poll, per-record results.
TEST(DeliverKill, AsyncImportNotIdempotentSurvivesKillNine) {
  kill_test(async_import(), 12);
}

// SIGTERM: no new records, what is in flight drains (bulk: imports polled to
// their end), and the rerun delivers the rest.
TEST(DeliverKill, SigtermDrainsAndTheRerunDeliversTheRest) {
  kill_test(async_import(), 3, SIGTERM);
}

}  // namespace
}  // namespace destsim
