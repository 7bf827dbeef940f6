// Every property checker, seen failing and seen passing, on hand-built
// outcomes: the declared contract (a test entry + config), a job store, an
// oracle fake and typed trace events written by hand. A checker that is never
// seen failing is not a check (CONFORMANCE.md: "Each checker has a
// hand-built outcome that fails it").
#include "conformance/properties.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "conformance/certify.h"
#include "fakes/catalog.h"
#include "framework/bulk.h"

namespace destsim {
namespace {

constexpr std::int64_t kSec = 1'000'000'000;

// The oracle: how often each record's effect was applied.
class CountingFake final : public Fake {
 public:
  std::string name() const override { return "counting"; }
  Status check_fault_plan(const FaultPlan&, std::string_view) const override { return Status::success(); }
  nlohmann::json accepted() const override { return nlohmann::json::object(); }
  void reset() override { applied_.clear(); }
  std::int64_t applied(const std::string& key) const override {
    auto it = applied_.find(key);
    return it == applied_.end() ? 0 : it->second;
  }
  std::int64_t held(const std::string& key) const override {
    auto it = held_.find(key);
    return it == held_.end() ? applied(key) : it->second;
  }
  std::int64_t peak(const std::string& key, std::int64_t applied) const override {
    auto it = peak_.find(key);
    return it == peak_.end() ? applied : it->second;
  }
  std::map<std::string, std::int64_t> applied_;
  // Where an operator wiped copies: those held now, and the most held at once.
  std::map<std::string, std::int64_t> held_, peak_;
};

DestinationEntry test_entry(bool bulk) {
  DestinationEntry e;
  e.name = bulk ? "test_bulk" : "test_batch";
  e.capabilities.bulk = bulk;
  e.capabilities.limits.records_max = 10;
  e.capabilities.limits.bytes_max = 1000;
  e.capabilities.rate_per_second = 2;
  e.capabilities.import_concurrency = 2;
  e.capabilities.retryable_statuses = {409};
  if (bulk) {
    e.schema = bulk_config_keys(BulkConfig{});
  } else {
    ProcessorConfig pc;
    pc.max_retries = 3;
    pc.retry.max_attempts = 3;
    e.schema = processor_config_keys(pc);
  }
  e.effects = [](const Record& r, const Config&) { return std::vector<std::string>{"rec:" + std::to_string(r.id)}; };
  return e;
}

// A hand-built outcome: `n` input records (ids 1..n, stream "s" unless set),
// each terminal as the test says, the fake's counts and typed events.
struct Evidence {
  explicit Evidence(bool bulk, std::int64_t n = 3) : entry(test_entry(bulk)) {
    auto c = Config::resolve(nlohmann::json::object(), entry.name, entry.schema);
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
    o.config = c.value();
    o.entry = &entry;
    o.job_store = &store;
    o.oracle = &fake;
    o.status = Status::success();
    o.input_size = n;
    for (std::int64_t i = 1; i <= n; ++i) {
      Record r;
      r.id = static_cast<JobId>(i);
      r.stream = "s";
      o.records.push_back(r);
      store.add(r.id);
    }
    s.name = "hand-built";
  }
  // Job `id` ends `state` at `t`; delivered ones are applied once in the fake.
  // A failed/aborted job's kind is rejected_by_api (unknown_outcome when unknown) unless given.
  void end(JobId id, JobState state, std::string reason = "", std::int64_t t = kSec, bool unknown = false,
           std::optional<ReasonKind> kind = std::nullopt) {
    const ReasonKind k = state == JobState::succeeded ? ReasonKind::none
                         : kind                       ? *kind
                         : unknown                    ? ReasonKind::unknown_outcome
                                                      : ReasonKind::rejected_by_api;
    store.attempt(id);
    store.finish(id, JobOutcome{state, reason, unknown, false, k}, kTimeZero + Duration(t));
    if (state == JobState::succeeded) fake.applied_["rec:" + std::to_string(id)] = 1;
    at(t, ev::JobTerminal{static_cast<std::int64_t>(id), job_state_name(state), std::move(reason), unknown, false,
                          reason_kind_name(k)});
  }
  // Request `req` to `path` at `t`, answered `status`.
  void answered(std::int64_t req, std::int64_t t, int status, std::string path = "/p") {
    at(t, ev::HttpRequest{req, "POST", "api", std::move(path), 10});
    at(t, ev::HttpResponse{req, status, 10, false, std::nullopt, std::nullopt});
  }
  void all_succeed(std::int64_t t = kSec) {
    for (std::int64_t i = 1; i <= o.input_size; ++i) end(static_cast<JobId>(i), JobState::succeeded, "", t);
  }
  void all_succeed_from(JobId first, std::int64_t t = kSec) {
    for (auto i = static_cast<std::int64_t>(first); i <= o.input_size; ++i)
      end(static_cast<JobId>(i), JobState::succeeded, "", t);
  }
  void applied(JobId id, std::int64_t n) { fake.applied_["rec:" + std::to_string(id)] = n; }
  void held(JobId id, std::int64_t n) { fake.held_["rec:" + std::to_string(id)] = n; }
  void peak(JobId id, std::int64_t n) { fake.peak_["rec:" + std::to_string(id)] = n; }
  // The run's config: `values` over the schema's defaults, with `extra` keys declared first.
  void configure(const nlohmann::json& values, std::vector<ConfigKey> extra = {}) {
    for (auto& k : extra) entry.schema.push_back(std::move(k));
    auto c = Config::resolve(values, entry.name, entry.schema);
    ASSERT_TRUE(c.ok()) << c.error().message;
    o.config = c.value();
  }
  // A batch send of `ids` that left at `sent` and was answered (classified `status`) at `t`.
  void batch_between(std::int64_t sent, std::int64_t t, std::vector<JobId> ids, int attempt, std::string status,
                     int http = 200, std::string handler = "h") {
    ev::BatchSent b;
    b.handler = std::move(handler);
    b.records = static_cast<std::int64_t>(ids.size());
    b.attempt = attempt;
    b.status = std::move(status);
    b.ids = JobIds{std::move(ids)};
    b.sent = sent;
    b.http = http;
    at(t, b);
  }
  void one_between(std::int64_t sent, std::int64_t t, JobId id, std::string verdict, int http = 200) {
    at(t, ev::OneSent{"h", static_cast<std::int64_t>(id), 1, std::move(verdict), sent, 0, http, std::nullopt, false});
  }
  template <class E> void at(std::int64_t t, E e) { o.events.push_back(TimedEvent{t, TraceEvent(std::move(e))}); }
  // A batch send of `ids` answered `status` (HTTP `http`) at `t`.
  void batch(std::int64_t t, std::vector<JobId> ids, int attempt, std::string status, int http,
             std::optional<std::int64_t> retry_after = std::nullopt, bool too_large = false) {
    ev::BatchSent b;
    b.handler = "h";
    b.records = static_cast<std::int64_t>(ids.size());
    b.attempt = attempt;
    b.status = std::move(status);
    b.ids = JobIds{std::move(ids)};
    b.sent = t;
    b.http = http;
    b.retry_after = retry_after;
    b.too_large = too_large;
    if (attempt == 1) b.oldest = b.flushed = t;
    at(t, b);
  }
  // The HTTP exchange `req` (to `path`, `bytes` long) answered `status` at `t`
  // (0: a transport error of kind `error`), as traced just before the send it answered.
  void exchange(std::int64_t req, std::int64_t sent, std::int64_t t, int status, std::string path = "/p",
                std::int64_t bytes = 10, std::optional<std::string> retry_after = std::nullopt,
                std::string error = "timeout", std::optional<std::string> date = std::nullopt) {
    at(sent, ev::HttpRequest{req, "POST", "api", std::move(path), bytes});
    if (status == 0) at(t, ev::HttpError{req, std::move(error), false, true});
    else at(t, ev::HttpResponse{req, status, 10, false, std::move(retry_after), std::move(date)});
  }
  void one(std::int64_t t, JobId id, int attempt, std::string verdict, int http, bool too_large = false) {
    at(t, ev::OneSent{"h", static_cast<std::int64_t>(id), attempt, std::move(verdict), t, 0, http, std::nullopt,
                      too_large});
  }
  // A bulk upload of `ids` accepted at `t` as import `imp`, then its polls.
  void upload(std::int64_t key, std::int64_t t, std::vector<JobId> ids, int attempt = 1) {
    const auto n = static_cast<std::int64_t>(ids.size());
    at(t, ev::UploadStart{key, n, JobIds{std::move(ids)}, t, 0, attempt, 100});
    at(t, ev::UploadResult{"m", key, n, "importing", "imp" + std::to_string(key), n, 0, 0, 0, 0, std::nullopt});
  }
  // A bulk upload of `ids` started at `t`, answered `outcome` at `answered`
  // (after HTTP exchange `req` answered `status`, when req > 0), its slot given back then.
  void upload_answered(std::int64_t key, std::int64_t t, std::vector<JobId> ids, std::string outcome,
                       std::int64_t answered, std::int64_t req = 0, int status = 200, int attempt = 1,
                       std::optional<std::string> retry_after = std::nullopt) {
    const auto n = static_cast<std::int64_t>(ids.size());
    at(t, ev::UploadStart{key, n, JobIds{std::move(ids)}, t, 0, attempt, 100});
    if (req > 0) exchange(req, t, answered, status, "/upload", 100, std::move(retry_after));
    const bool importing = outcome == "importing";
    at(answered, ev::UploadResult{"m", key, n, outcome, importing ? "imp" + std::to_string(key) : "",
                                  importing ? n : 0, 0, 0, 0, 0, std::nullopt});
    if (!importing) at(answered, ev::ImportEnd{key});
  }
  void staged(std::int64_t t, std::vector<JobId> ids) { at(t, ev::Staged{JobIds{std::move(ids)}}); }
  void poll(std::int64_t key, std::int64_t t, std::string status) {
    at(t, ev::Poll{key, "imp" + std::to_string(key)});
    at(t, ev::Polled{key, "imp" + std::to_string(key), std::move(status)});
  }
  // Job 1 uploaded at 1 s as import 1, then polled at each (time, status).
  Evidence& polled(std::vector<std::pair<std::int64_t, std::string>> polls) {
    upload(1, kSec, {1});
    for (auto& [t, status] : polls) poll(1, t, std::move(status));
    return *this;
  }
  PropertyResult check(const std::string& id) { return check_property(id, o, s); }

  DestinationEntry entry;
  MemoryJobStore store;
  CountingFake fake;
  Outcome o;
  Scenario s;
};

#define EXPECT_VERDICT(ev, id, v)                                            \
  do {                                                                       \
    PropertyResult r_ = (ev).check(id);                                      \
    EXPECT_EQ(r_.verdict, v) << id << ": " << verdict_name(r_.verdict) << " " << r_.detail; \
  } while (0)
#define EXPECT_PASS(ev, id) EXPECT_VERDICT(ev, id, Verdict3::pass)
#define EXPECT_FAIL(ev, id) EXPECT_VERDICT(ev, id, Verdict3::fail)

// ---- A: accounting

TEST(PropertyCheckers, A1Conservation) {
  Evidence good(false);
  good.all_succeed();
  EXPECT_PASS(good, "A1");
  Evidence pending(false);
  pending.end(1, JobState::succeeded);
  pending.end(2, JobState::succeeded);  // job 3 never terminal
  EXPECT_FAIL(pending, "A1");
  Evidence invented(false);
  invented.all_succeed();
  invented.store.add(99);
  EXPECT_FAIL(invented, "A1");
  Evidence foreign(false);  // an answer naming a job its batch did not hold
  foreign.all_succeed();
  foreign.at(kSec, ev::BatchSent{
                        .handler = "h", .records = 1, .attempt = 2, .status = "partial_success", .ids = JobIds{{1}},
                        .foreign = 1});
  EXPECT_FAIL(foreign, "A1");
}

TEST(PropertyCheckers, A2Truth) {
  Evidence good(false);
  good.all_succeed();
  EXPECT_PASS(good, "A2");
  Evidence lost(false);
  lost.all_succeed();
  lost.applied(2, 0);  // reported succeeded, the fake never got it
  EXPECT_FAIL(lost, "A2");
  Evidence phantom(false);
  phantom.end(1, JobState::succeeded);
  phantom.end(2, JobState::succeeded);
  phantom.end(3, JobState::failed, "HTTP 400");
  phantom.applied(3, 1);  // failed (outcome known) but applied
  EXPECT_FAIL(phantom, "A2");
  // Applied, then an operator wiped it (a table replaced): not in the store
  // now, so "failed" is true of the store. Still held: a phantom.
  phantom.held(3, 0);
  EXPECT_PASS(phantom, "A2");
  phantom.held(3, 1);
  EXPECT_FAIL(phantom, "A2");
  // A succeeded job whose row was wiped was delivered: not lost.
  Evidence wiped(false);
  wiped.all_succeed();
  wiped.held(2, 0);
  EXPECT_PASS(wiped, "A2");
  Evidence unknown(false);
  unknown.end(1, JobState::succeeded);
  unknown.end(2, JobState::succeeded);
  unknown.exchange(1, kSec / 2, kSec, 0);  // a timeout after the request left: the outcome is hidden
  unknown.batch(kSec, {3}, 1, "retry_batch", 0);
  unknown.end(3, JobState::aborted, "timeout", kSec, true);
  unknown.applied(3, 1);  // applied, and the job says it cannot know
  EXPECT_PASS(unknown, "A2");
}

TEST(PropertyCheckers, A2UnknownOutcomesMustBeJustified) {
  // The old A2 passed every outcome_unknown; a clean 401 hides nothing.
  Evidence after_401(false);
  after_401.exchange(1, 0, kSec, 401);
  after_401.batch(kSec, {1}, 1, "cannot_retry", 401);
  after_401.end(1, JobState::failed, "HTTP 401", kSec, true);
  after_401.all_succeed_from(2);
  EXPECT_FAIL(after_401, "A2");
  // A refused connection never carried the request (old A2: passed).
  Evidence refused(false);
  refused.exchange(1, 0, kSec, 0, "/p", 10, std::nullopt, "connection_refused");
  refused.batch(kSec, {1}, 1, "retry_batch", 0);
  refused.end(1, JobState::aborted, "attempts exhausted: connection refused", kSec, true);
  refused.all_succeed_from(2);
  EXPECT_FAIL(refused, "A2");
  // A garbled 2xx hides it.
  Evidence garbled(false);
  garbled.exchange(1, 0, kSec, 200);
  garbled.at(0, ev::Fault{1, std::nullopt, 0, "garble", std::nullopt, std::nullopt});
  garbled.batch(kSec, {1}, 1, "retry_batch", 200);
  garbled.end(1, JobState::aborted, "attempts exhausted: unreadable", kSec, true);
  garbled.all_succeed_from(2);
  EXPECT_PASS(garbled, "A2");
  // Bulk: an import ended by the poll timeout hides its jobs' outcome; a clean
  // completed upload does not (old A2: passed both).
  Evidence timed_out(true);
  timed_out.upload(1, kSec, {1});
  timed_out.at(7 * 3600 * kSec, ev::PollTimeout{1, "imp1", 1});
  timed_out.end(1, JobState::aborted, "poll timeout", 7 * 3600 * kSec, true);
  timed_out.all_succeed_from(2);
  EXPECT_PASS(timed_out, "A2");
  Evidence clean(true);
  clean.upload_answered(1, kSec, {1}, "completed", 2 * kSec, 1, 200);
  clean.end(1, JobState::failed, "rejected", 2 * kSec, true);
  clean.all_succeed_from(2);
  EXPECT_FAIL(clean, "A2");
  // The scenario changed the API's state (an operator dropped a table) while
  // an import was in flight: its jobs' outcome may be unknowable. The same
  // act after the import ended hides nothing.
  auto operator_act = [](Evidence& e, std::int64_t act) {
    auto play = [&] { e.at(act, ev::RunControl{"fake", "drop_table", false}); };
    e.upload(1, kSec, {1});
    if (act < 10 * kSec) play();
    e.poll(1, 10 * kSec, "completed");
    if (act >= 10 * kSec && act < 20 * kSec) play();
    e.at(20 * kSec, ev::ImportEnd{1});
    if (act >= 20 * kSec) play();
    e.end(1, JobState::aborted, "the table's committed token went back", 20 * kSec, true);
    e.all_succeed_from(2);
  };
  Evidence during(true);
  operator_act(during, 5 * kSec);
  EXPECT_PASS(during, "A2");
  Evidence after(true);
  operator_act(after, 30 * kSec);
  EXPECT_FAIL(after, "A2");
  // In flight is by trace order, not time. An act at a step shares its
  // instant with what the destination does next: traced right after the
  // import ended, it hid nothing (old A2: passed, the times being equal).
  Evidence right_after_end(true);
  operator_act(right_after_end, 20 * kSec);
  EXPECT_FAIL(right_after_end, "A2");
  // And an upload sent right after the act, at its instant, went to the
  // changed API (the Snowpipe insert on a replaced table's channel: old A2
  // passed it); one whose start was traced before the act was in flight.
  auto same_instant = [](Evidence& e, bool act_first) {
    if (act_first) e.at(kSec, ev::RunControl{"fake", "replace_tables", false});
    e.upload(1, kSec, {1});
    if (!act_first) e.at(kSec, ev::RunControl{"fake", "replace_tables", false});
    e.poll(1, 10 * kSec, "completed");
    e.at(20 * kSec, ev::ImportEnd{1});
    e.end(1, JobState::aborted, "its channel died and the table's history was forgotten", 20 * kSec, true);
    e.all_succeed_from(2);
  };
  Evidence sent_after_act(true);
  same_instant(sent_after_act, true);
  EXPECT_FAIL(sent_after_act, "A2");
  Evidence sent_before_act(true);
  same_instant(sent_before_act, false);
  EXPECT_PASS(sent_before_act, "A2");
  // An upload of two posts: the first lost its answer after it was sent,
  // the second (its answer deciding the upload) was refused 400. The first
  // still hides whether the upload was applied; a first post refused
  // cleanly (a 400 too) hides nothing.
  Evidence two_posts(true);
  two_posts.at(kSec, ev::UploadStart{1, 1, JobIds{{1}}, kSec, 0, 1, 100});
  two_posts.exchange(1, kSec, 2 * kSec, 0);
  two_posts.exchange(2, 2 * kSec, 3 * kSec, 400);
  two_posts.at(3 * kSec, ev::UploadResult{"m", 1, 1, "failed", "", 0, 0, 0, 0, 0, std::nullopt});
  two_posts.at(3 * kSec, ev::ImportEnd{1});
  two_posts.end(1, JobState::failed, "HTTP 400", 3 * kSec, true);
  two_posts.all_succeed_from(2);
  EXPECT_PASS(two_posts, "A2");
  // A 200 a fault answered after the API applied the upload (its counts
  // disagree with the rows sent): the outcome is hidden.
  Evidence after_200(true);
  after_200.at(kSec, ev::UploadStart{1, 1, JobIds{{1}}, kSec, 0, 1, 100});
  after_200.at(kSec, ev::Fault{1, std::nullopt, 0, "respond", true, std::nullopt});
  after_200.exchange(1, kSec, 2 * kSec, 200);
  after_200.at(2 * kSec, ev::UploadResult{"m", 1, 1, "completed", "", 0, 1, 0, 0, 0, std::nullopt});
  after_200.at(2 * kSec, ev::ImportEnd{1});
  after_200.end(1, JobState::aborted, "counts do not add up", 2 * kSec, true);
  after_200.all_succeed_from(2);
  EXPECT_PASS(after_200, "A2");
  Evidence two_clean(true);
  two_clean.at(kSec, ev::UploadStart{1, 1, JobIds{{1}}, kSec, 0, 1, 100});
  two_clean.exchange(1, kSec, 2 * kSec, 400);
  two_clean.exchange(2, 2 * kSec, 3 * kSec, 400);
  two_clean.at(3 * kSec, ev::UploadResult{"m", 1, 1, "failed", "", 0, 0, 0, 0, 0, std::nullopt});
  two_clean.at(3 * kSec, ev::ImportEnd{1});
  two_clean.end(1, JobState::failed, "HTTP 400", 3 * kSec, true);
  two_clean.all_succeed_from(2);
  EXPECT_FAIL(two_clean, "A2");
  // A post sent at the instant the upload was answered, traced after its
  // answer, is the next upload's: its lost answer hides nothing of this one
  // (old A2 took it as within: the times were equal).
  Evidence next_post(true);
  next_post.at(kSec, ev::UploadStart{1, 1, JobIds{{1}}, kSec, 0, 1, 100});
  next_post.exchange(1, kSec, 3 * kSec, 400);
  next_post.at(3 * kSec, ev::UploadResult{"m", 1, 1, "failed", "", 0, 0, 0, 0, 0, std::nullopt});
  next_post.at(3 * kSec, ev::ImportEnd{1});
  next_post.exchange(2, 3 * kSec, 3 * kSec, 0);
  next_post.end(1, JobState::failed, "HTTP 400", 3 * kSec, true);
  next_post.all_succeed_from(2);
  EXPECT_FAIL(next_post, "A2");
  // A staged table's commit decides its staged jobs: a garbled commit answer
  // hides their outcome; with no commit traced for them, nothing did.
  Evidence commit_garbled(false);
  commit_garbled.exchange(1, 0, kSec, 200, "/v1/tables/users/commit");
  commit_garbled.at(0, ev::Fault{1, std::nullopt, 0, "garble", std::nullopt, std::nullopt});
  commit_garbled.at(kSec, ev::Committing{"stage stg-1 into users", JobIds{{1}}});
  commit_garbled.end(1, JobState::failed, "commit failed: unreadable", kSec, true);
  commit_garbled.all_succeed_from(2);
  EXPECT_PASS(commit_garbled, "A2");
  Evidence commit_clean(false);
  commit_clean.exchange(1, 0, kSec, 400, "/v1/tables/users/commit");
  commit_clean.at(kSec, ev::Committing{"stage stg-1 into users", JobIds{{1}}});
  commit_clean.end(1, JobState::failed, "commit failed: HTTP 400", kSec, true);
  commit_clean.all_succeed_from(2);
  EXPECT_FAIL(commit_clean, "A2");
  // File operations: a generic SSH_FX_FAILURE (4) on a rename, or an outage
  // dropping the session with the rename sent, hides whether it happened; a
  // specific status (3, permission denied) or a refused connect does not.
  // The fault is traced inside the upload (after its start, before its
  // answer) — or, with `after_answer`, at the instant the upload was answered
  // but traced after it: the next upload's operation, which hides nothing of
  // this one (old A2 took it as within: the times were equal).
  auto file_case = [](std::string op, std::string fault, std::int64_t status, bool after_answer = false) {
    Evidence e(true);
    ev::Fault f;
    f.op = op;
    f.fault = fault;
    if (status) f.status = status;
    e.at(0, ev::UploadStart{1, 1, JobIds{{1}}, 0, 0, 1, 100});
    if (!after_answer) e.at(kSec / 2, f);
    e.at(kSec, ev::UploadResult{"m", 1, 1, "retry", "", 0, 0, 0, 0, 0, std::nullopt});
    e.at(kSec, ev::ImportEnd{1});
    if (after_answer) e.at(kSec, f);
    e.end(1, JobState::aborted, "attempts exhausted", kSec, true);
    e.all_succeed_from(2);
    return e;
  };
  EXPECT_PASS(file_case("rename", "respond", 4), "A2");
  EXPECT_PASS(file_case("rename", "outage", 0), "A2");
  EXPECT_FAIL(file_case("rename", "respond", 3), "A2");
  EXPECT_FAIL(file_case("list", "respond", 4), "A2");
  EXPECT_FAIL(file_case("connect", "outage", 0), "A2");
  EXPECT_FAIL(file_case("rename", "respond", 4, true), "A2");
  EXPECT_FAIL(file_case("rename", "outage", 0, true), "A2");
}

// Identical rows: records 1 and 2 have one effect ("row:a"), record 3 its own.
TEST(PropertyCheckers, IdenticalRowsShareTheirCopies) {
  auto run = [](bool idempotent, JobState second, std::int64_t copies, const char* id) {
    Evidence e(false);
    e.entry.capabilities.idempotent_writes = idempotent;
    e.entry.effects = [](const Record& r, const Config&) {
      return std::vector<std::string>{r.id <= 2 ? std::string("row:a") : "row:" + std::to_string(r.id)};
    };
    e.end(1, JobState::succeeded);
    e.end(2, second, second == JobState::succeeded ? "" : "HTTP 400");
    e.end(3, JobState::succeeded);
    e.fake.applied_.clear();
    e.fake.applied_["row:a"] = copies;
    e.fake.applied_["row:3"] = 1;
    return e.check(id);
  };
  // Two identical events both delivered: two copies, not a duplicate (A3) and none lost (A2).
  EXPECT_EQ(run(false, JobState::succeeded, 2, "A2").verdict, Verdict3::pass);
  EXPECT_EQ(run(false, JobState::succeeded, 2, "A3").verdict, Verdict3::pass);
  // One copy for two delivered events: one was lost (the old per-record
  // check saw "applied 1" for each and passed).
  EXPECT_EQ(run(false, JobState::succeeded, 1, "A2").verdict, Verdict3::fail);
  // Three copies for two: a duplicate (the old check failed both rows for
  // two copies; now only a third copy is one).
  EXPECT_EQ(run(false, JobState::succeeded, 3, "A3").verdict, Verdict3::fail);
  EXPECT_EQ(run(false, JobState::succeeded, 3, "C5").verdict, Verdict3::fail);
  // Upserts: one copy is both identical rows' effect; none is a loss.
  EXPECT_EQ(run(true, JobState::succeeded, 1, "A2").verdict, Verdict3::pass);
  EXPECT_EQ(run(true, JobState::succeeded, 0, "A2").verdict, Verdict3::fail);
  // One delivered, its twin failed (outcome known): one copy is the
  // delivered one's; a second is the failed one applied after all.
  EXPECT_EQ(run(false, JobState::failed, 1, "A2").verdict, Verdict3::pass);
  EXPECT_EQ(run(false, JobState::failed, 2, "A2").verdict, Verdict3::fail);
}

TEST(PropertyCheckers, A3Duplicates) {
  Evidence good(false);
  good.all_succeed();
  EXPECT_PASS(good, "A3");
  Evidence dup(false);
  dup.all_succeed();
  dup.applied(1, 2);
  EXPECT_FAIL(dup, "A3");
  // Applied, wiped by an operator (a table replaced), applied again: two
  // applications, never two copies at once — not a duplicate, and still
  // delivered. Two at once is.
  dup.peak(1, 1);
  EXPECT_PASS(dup, "A3");
  EXPECT_PASS(dup, "A2");
  dup.peak(1, 2);
  EXPECT_FAIL(dup, "A3");
  // Identical rows (records 1 and 2 share one effect): three applications,
  // at most two copies at once, is each delivered once; three at once is a
  // duplicate.
  Evidence same(false);
  same.entry.effects = [](const Record& r, const Config&) {
    return std::vector<std::string>{r.id <= 2 ? std::string("rec:g") : "rec:" + std::to_string(r.id)};
  };
  same.all_succeed();
  same.fake.applied_["rec:g"] = 3;
  same.fake.peak_["rec:g"] = 2;
  EXPECT_PASS(same, "A3");
  EXPECT_PASS(same, "A2");
  same.fake.peak_["rec:g"] = 3;
  EXPECT_FAIL(same, "A3");
  // Record 1 failed before it was sent; record 2 was applied, wiped and
  // applied again: one copy at once is record 2's, not a phantom of 1.
  Evidence one_failed(false);
  one_failed.entry.effects = same.entry.effects;
  one_failed.end(1, JobState::failed, "HTTP 401");
  one_failed.all_succeed_from(2);
  one_failed.fake.applied_["rec:g"] = 2;
  one_failed.fake.peak_["rec:g"] = 1;
  EXPECT_PASS(one_failed, "A2");
  one_failed.fake.peak_["rec:g"] = 2;  // two at once: record 1's failure was a lie
  EXPECT_FAIL(one_failed, "A2");
}

TEST(PropertyCheckers, A4AnUploadFailedOnA401IsAuth) {
  // An upload answered 401 ends its job failed: kind auth passes, the
  // generic rejected_by_api does not.
  Evidence auth(true);
  auth.upload_answered(1, kSec, {1}, "failed", 2 * kSec, 1, 401);
  auth.end(1, JobState::failed, "HTTP 401", 2 * kSec, false, ReasonKind::auth);
  auth.all_succeed_from(2);
  EXPECT_PASS(auth, "A4");
  Evidence generic(true);
  generic.upload_answered(1, kSec, {1}, "failed", 2 * kSec, 1, 401);
  generic.end(1, JobState::failed, "HTTP 401", 2 * kSec, false, ReasonKind::rejected_by_api);
  generic.all_succeed_from(2);
  EXPECT_FAIL(generic, "A4");
}

TEST(PropertyCheckers, A4Reasons) {
  Evidence good(false);
  good.answered(1, kSec, 400);
  good.answered(2, kSec, 503);
  good.batch(kSec, {1}, 1, "cannot_retry", 400);
  good.batch(kSec, {2}, 1, "retry_batch", 503);
  good.end(1, JobState::failed, "HTTP 400 InvalidEmailAddressError");
  good.end(2, JobState::aborted, "attempts exhausted (3 of 3): HTTP 503", kSec, false, ReasonKind::server_error);
  good.end(3, JobState::succeeded);
  EXPECT_PASS(good, "A4");
  // A clear reason is a kind plus the API's detail, whatever its words: the
  // old keyword list failed "conflict" and "forgotten" (#13 item 5).
  Evidence clear(false);
  clear.end(1, JobState::failed, "email and userId conflict (failedUpdates.conflictEmails)");
  clear.end(2, JobState::failed, "forgotten");
  clear.end(3, JobState::succeeded);
  EXPECT_PASS(clear, "A4");
  // A reason without a kind fails, however many keywords it holds (the old list passed "HTTP" anywhere).
  Evidence untyped(false);
  untyped.end(1, JobState::failed, "HTTP status invalid record", kSec, false, ReasonKind::none);
  untyped.all_succeed_from(2);
  EXPECT_FAIL(untyped, "A4");
  // A kind the run's answers do not back fails: rate_limited without a 429, auth without a 401/403.
  Evidence no_429(false);
  no_429.answered(1, kSec, 503);
  no_429.batch(kSec, {1}, 1, "retry_batch", 503);
  no_429.end(1, JobState::aborted, "attempts exhausted: HTTP 503", kSec, false, ReasonKind::rate_limited);
  no_429.all_succeed_from(2);
  EXPECT_FAIL(no_429, "A4");
  Evidence no_401(false);
  no_401.answered(1, kSec, 400);
  no_401.batch(kSec, {1}, 1, "cannot_retry", 400);
  no_401.end(1, JobState::failed, "HTTP 400", kSec, false, ReasonKind::auth);
  no_401.all_succeed_from(2);
  EXPECT_FAIL(no_401, "A4");
  // An unknown outcome is called unknown_outcome, and only then.
  Evidence hidden(false);
  hidden.end(1, JobState::aborted, "attempts exhausted: transport timeout", kSec, true, ReasonKind::transport);
  hidden.all_succeed_from(2);
  EXPECT_FAIL(hidden, "A4");
  Evidence claimed(false);
  claimed.end(1, JobState::failed, "HTTP 400", kSec, false, ReasonKind::unknown_outcome);
  claimed.all_succeed_from(2);
  EXPECT_FAIL(claimed, "A4");
}

TEST(PropertyCheckers, A5UploadAccounting) {
  Evidence good(true);
  good.upload(1, kSec, {1, 2, 3});
  EXPECT_PASS(good, "A5");
  Evidence missing(true);
  missing.at(kSec, ev::UploadStart{1, 3, JobIds{{1, 2, 3}}, kSec, 0, 1});
  missing.at(kSec, ev::UploadResult{"m", 1, 3, "importing", "imp1", 2, 0, 1, 0, 0, std::nullopt});
  EXPECT_FAIL(missing, "A5");
  Evidence foreign(true);
  foreign.at(kSec, ev::UploadResult{"m", 1, 3, "importing", "imp1", 3, 1, 0, 0, 1, std::nullopt});
  EXPECT_FAIL(foreign, "A5");
}

// ---- B: batching

TEST(PropertyCheckers, B1Limits) {
  Evidence good(false);
  good.at(kSec, ev::HttpRequest{1, "POST", "h", "/x", 999});
  good.batch(kSec, {1, 2, 3}, 1, "success", 200);
  EXPECT_PASS(good, "B1");
  Evidence bytes(false);
  bytes.at(kSec, ev::HttpRequest{1, "POST", "h", "/x", 1001});
  EXPECT_FAIL(bytes, "B1");
  Evidence records(false, 11);
  std::vector<JobId> ids;
  for (JobId i = 1; i <= 11; ++i) ids.push_back(i);
  records.batch(kSec, ids, 1, "success", 200);
  EXPECT_FAIL(records, "B1");
}

TEST(PropertyCheckers, B1ConfiguredLimitsOnBothPaths) {
  const std::vector<ConfigKey> batch_keys = {{"records_max", ConfigType::integer, 10, "", 1, 10},
                                             {"request_bytes_max", ConfigType::size, "1000B", "", 1, 1000}};
  Evidence good(false);
  good.configure({{"records_max", 5}, {"request_bytes_max", "500B"}}, batch_keys);
  good.exchange(1, 0, kSec, 200, "/p", 500);
  good.batch(kSec, {1, 2, 3, 4, 5}, 1, "success", 200);
  EXPECT_PASS(good, "B1");
  // Under the declared caps (10 records, 1000 bytes), over this run's config:
  // the old B1 compared with the caps only and passed each of these.
  Evidence records(false, 6);
  records.configure({{"records_max", 5}}, batch_keys);
  records.batch(kSec, {1, 2, 3, 4, 5, 6}, 1, "success", 200);
  EXPECT_FAIL(records, "B1");
  Evidence flush(false, 5);
  flush.configure({{"flush_queue_size", 4}});
  flush.batch(kSec, {1, 2, 3, 4, 5}, 1, "success", 200);
  EXPECT_FAIL(flush, "B1");
  Evidence bytes(false);
  bytes.configure({{"request_bytes_max", "500B"}}, batch_keys);
  bytes.exchange(1, 0, kSec, 200, "/p", 600);  // the request that carried the batch
  bytes.batch(kSec, {1, 2}, 1, "success", 200);
  EXPECT_FAIL(bytes, "B1");
  // Bulk: records per upload (the old B1 never looked) and the upload file's bytes.
  const std::vector<ConfigKey> bulk_keys = {{"records_max", ConfigType::integer, 10, "", 1, 10},
                                            {"file_bytes_max", ConfigType::size, "1000B", "", 1, 1000}};
  Evidence bulk_good(true, 5);
  bulk_good.configure({{"records_max", 5}, {"file_bytes_max", "200B"}}, bulk_keys);
  bulk_good.upload(1, kSec, {1, 2, 3, 4, 5});  // 100 bytes
  EXPECT_PASS(bulk_good, "B1");
  Evidence bulk_records(true, 6);
  bulk_records.configure({{"records_max", 5}}, bulk_keys);
  bulk_records.upload(1, kSec, {1, 2, 3, 4, 5, 6});
  EXPECT_FAIL(bulk_records, "B1");
  Evidence bulk_bytes(true);
  bulk_bytes.configure({{"file_bytes_max", "99B"}}, bulk_keys);
  bulk_bytes.upload(1, kSec, {1});  // a file of 100 bytes
  EXPECT_FAIL(bulk_bytes, "B1");
}

TEST(PropertyCheckers, B2Flush) {
  Evidence good(false);
  good.batch(kSec, {1}, 1, "success", 200);  // flushed at once
  EXPECT_PASS(good, "B2");
  Evidence late(false);
  // Flushed 6 s after its oldest record: the default flush interval is 5 s.
  late.at(6 * kSec, ev::BatchSent{.handler = "h", .records = 1, .attempt = 1, .status = "success",
                                  .ids = JobIds{{1}}, .sent = 6 * kSec, .http = 200, .oldest = 0,
                                  .flushed = 6 * kSec});
  EXPECT_FAIL(late, "B2");
  Evidence bulk_late(true);
  bulk_late.at(40 * kSec, ev::UploadStart{1, 1, JobIds{{1}}, 0, 0, 1});  // upload_interval 30s
  EXPECT_FAIL(bulk_late, "B2");
}

TEST(PropertyCheckers, B3Backpressure) {
  Evidence good(false);
  good.all_succeed();
  good.o.destination_stats = {{"buffered_max", 2000}};
  EXPECT_PASS(good, "B3");
  Evidence over(false);
  over.all_succeed();
  over.o.destination_stats = {{"buffered_max", 2001}};
  EXPECT_FAIL(over, "B3");
  Evidence silent(false);  // declares a buffer, reports none
  silent.all_succeed();
  EXPECT_FAIL(silent, "B3");
}

TEST(PropertyCheckers, B4Concurrency) {
  // Each limit on its own, from the sends' times. The old B4 compared the
  // transport's in-flight maximum with endpoints x async x individual (and
  // the bulk path's self-reported maximum): it passed every failing case below.
  Evidence good(false);
  good.configure({{"max_async_requests", 2}});
  good.batch_between(0, 2 * kSec, {1}, 1, "success");
  good.batch_between(kSec, 3 * kSec, {2}, 1, "success");
  good.batch_between(2 * kSec, 4 * kSec, {3}, 1, "success");  // starts as the first ends
  EXPECT_PASS(good, "B4");
  Evidence batches(false);
  batches.configure({{"max_async_requests", 2}});
  for (JobId id : {1, 2, 3}) batches.batch_between(0, 2 * kSec, {id}, 1, "success");
  EXPECT_FAIL(batches, "B4");
  // A batch holds its slot while its records are sent alone.
  Evidence held(false);
  held.configure({{"max_async_requests", 1}});
  held.batch_between(0, kSec, {1, 2}, 1, "retry_individual", 409);
  held.one_between(kSec, 3 * kSec, 1, "ok");
  held.batch_between(2 * kSec, 4 * kSec, {3}, 1, "success");
  EXPECT_FAIL(held, "B4");
  Evidence sync(false);  // async off: one batch at a time
  sync.configure({{"async", false}});
  sync.batch_between(0, 2 * kSec, {1}, 1, "success");
  sync.batch_between(kSec, 3 * kSec, {2}, 1, "success");
  EXPECT_FAIL(sync, "B4");
  Evidence alone(false);  // individual_concurrency 1, two records of one batch sent alone at once
  alone.batch_between(0, kSec, {1, 2}, 1, "retry_individual", 409);
  alone.one_between(kSec, 3 * kSec, 1, "ok");
  alone.one_between(2 * kSec, 4 * kSec, 2, "ok");
  EXPECT_FAIL(alone, "B4");
  Evidence alone_ok(false);
  alone_ok.configure({{"individual_concurrency", 2}});
  alone_ok.batch_between(0, kSec, {1, 2}, 1, "retry_individual", 409);
  alone_ok.one_between(kSec, 3 * kSec, 1, "ok");
  alone_ok.one_between(2 * kSec, 4 * kSec, 2, "ok");
  EXPECT_PASS(alone_ok, "B4");
  Evidence bulk(true);  // three uploads in flight, imports_in_flight 2
  for (std::int64_t k = 1; k <= 3; ++k)
    bulk.at(0, ev::UploadStart{k, 1, JobIds{{static_cast<JobId>(k)}}, 0, 0, 1, 10});
  EXPECT_FAIL(bulk, "B4");
  Evidence declared(true);  // within imports_in_flight 3, over the declared import concurrency 2
  declared.configure({{"imports_in_flight", 3}});
  for (std::int64_t k = 1; k <= 3; ++k)
    declared.at(0, ev::UploadStart{k, 1, JobIds{{static_cast<JobId>(k)}}, 0, 0, 1, 10});
  EXPECT_FAIL(declared, "B4");
  Evidence bulk_ok(true);
  bulk_ok.at(0, ev::UploadStart{1, 1, JobIds{{1}}, 0, 0, 1, 10});
  bulk_ok.at(0, ev::UploadStart{2, 1, JobIds{{2}}, 0, 0, 1, 10});
  bulk_ok.at(kSec, ev::ImportEnd{1});
  bulk_ok.at(kSec, ev::UploadStart{3, 1, JobIds{{3}}, 0, 0, 1, 10});
  EXPECT_PASS(bulk_ok, "B4");
}

TEST(PropertyCheckers, B5Overflow) {
  Evidence good(true);
  good.upload(1, kSec, {1, 2, 3});
  for (JobId id : {1, 2, 3}) good.store.attempt(id);
  EXPECT_PASS(good, "B5");
  Evidence extra(true);
  extra.upload(1, kSec, {1, 2, 3});
  for (JobId id : {1, 2, 3, 3}) extra.store.attempt(id);  // an attempt no upload carried
  EXPECT_FAIL(extra, "B5");
}

TEST(PropertyCheckers, B5DeferredJobsAreUploadedLaterWhateverTheirReason) {
  // Jobs 1-3 staged; upload 1 takes 1-2 (full), job 3 waits for upload 2.
  Evidence good(true);
  good.staged(0, {1, 2, 3});
  good.upload_answered(1, kSec, {1, 2}, "completed", 2 * kSec, 1, 200);
  good.end(1, JobState::succeeded, "", 2 * kSec);
  good.end(2, JobState::succeeded, "", 2 * kSec);
  good.upload_answered(2, 3 * kSec, {3}, "completed", 4 * kSec, 2, 200);
  good.end(3, JobState::succeeded, "", 4 * kSec);
  EXPECT_PASS(good, "B5");
  // Job 3, left out of the full upload 1, is aborted without another upload.
  // Its reason does not say "overflow": the old B5 passed it.
  // (Job 3 was uploaded once before, so its one attempt is accounted for.)
  Evidence aborted(true);
  aborted.staged(0, {3});
  aborted.upload_answered(9, kSec / 10, {3}, "retry", kSec / 5, 9, 503);
  aborted.staged(kSec / 2, {1, 2, 3});
  aborted.upload_answered(1, kSec, {1, 2}, "completed", 2 * kSec, 1, 200);
  aborted.end(1, JobState::succeeded, "", 2 * kSec);
  aborted.end(2, JobState::succeeded, "", 2 * kSec);
  aborted.end(3, JobState::aborted, "attempts exhausted (1 of 1): no room", 3 * kSec);
  PropertyResult r = aborted.check("B5");
  EXPECT_EQ(r.verdict, Verdict3::fail);
  EXPECT_NE(r.detail.find("job 3 was left for a later upload by upload 1"), std::string::npos) << r.detail;
  // Per job, not in sum: job 1 counts two attempts, job 2 none, though two
  // uploads carried one each (the old B5 compared the totals and passed).
  Evidence shifted(true, 2);
  shifted.staged(0, {1, 2});
  shifted.upload_answered(1, kSec, {1}, "completed", 2 * kSec, 1, 200);
  shifted.upload_answered(2, 3 * kSec, {2}, "completed", 4 * kSec, 2, 200);
  shifted.store.attempt(1);
  shifted.store.attempt(1);
  EXPECT_FAIL(shifted, "B5");
}

TEST(PropertyCheckers, B5JobsCutFromTheUploadBeingFilledAreNotEnded) {
  // Jobs 1-3 staged; upload 1 has room for two. Job 3 is aborted as the upload
  // is filled — its end traced before upload 1 starts, so no upload had yet
  // left it out (the old B5 passed it).
  Evidence cut(true);
  cut.staged(0, {1, 2, 3});
  // Ended without an attempt (end() would count one): no upload carried it.
  cut.store.finish(3, JobOutcome{JobState::aborted, "does not fit the upload being filled", false, false,
                                 ReasonKind::too_large},
                   kTimeZero + Duration(kSec));
  cut.at(kSec, ev::JobTerminal{3, "aborted", "does not fit the upload being filled", false, false, "too_large"});
  cut.upload_answered(1, kSec, {1, 2}, "completed", 2 * kSec, 1, 200);
  cut.end(1, JobState::succeeded, "", 2 * kSec);
  cut.end(2, JobState::succeeded, "", 2 * kSec);
  PropertyResult r = cut.check("B5");
  EXPECT_EQ(r.verdict, Verdict3::fail) << r.detail;
  EXPECT_NE(r.detail.find("job 3 was staged, then ended aborted"), std::string::npos) << r.detail;
  // Its retry window, not the overflow, ends a job already uploaded once
  // (run_upload ends it before the upload it was staged for starts).
  Evidence window(true);
  window.configure(nlohmann::json{{"retry_window", "10s"}});
  window.staged(0, {3});
  window.upload_answered(9, 0, {3}, "retry", kSec, 9, 503);
  window.staged(5 * kSec, {1, 2, 3});
  window.end(3, JobState::aborted, "retry window exhausted", 20 * kSec, false, ReasonKind::timeout);
  window.upload_answered(1, 20 * kSec, {1, 2}, "completed", 21 * kSec, 1, 200);
  window.end(1, JobState::succeeded, "", 21 * kSec);
  window.end(2, JobState::succeeded, "", 21 * kSec);
  EXPECT_PASS(window, "B5");
}

// ---- C: retries

TEST(PropertyCheckers, C1Classification) {
  Evidence good(false);
  good.batch(kSec, {1, 2}, 1, "retry_batch", 503);
  good.batch(2 * kSec, {1, 2}, 2, "cannot_retry", 400);
  good.one(3 * kSec, 3, 1, "retry", 409);  // declared retryable
  EXPECT_PASS(good, "C1");
  Evidence gave_up(false);
  gave_up.batch(kSec, {1, 2}, 1, "cannot_retry", 503);
  EXPECT_FAIL(gave_up, "C1");
  Evidence retried_400(false);
  retried_400.one(kSec, 1, 1, "retry", 400);
  EXPECT_FAIL(retried_400, "C1");
  Evidence resent(false);
  resent.batch(kSec, {1, 2}, 1, "cannot_retry", 400);
  resent.batch(2 * kSec, {1, 2}, 2, "success", 200);
  EXPECT_FAIL(resent, "C1");
}

TEST(PropertyCheckers, C1DeclaredPermanentCodes) {
  // A code the destination declares permanent decides whatever the status:
  // a 500 naming it fails at once, and retrying it is wrong.
  Evidence good(false);
  good.entry.capabilities.permanent_codes = {"error.lists.invalidListId"};
  good.batch(kSec, {1, 2}, 1, "cannot_retry", 500);
  std::get<ev::BatchSent>(good.o.events.back().event).code = "error.lists.invalidListId";
  good.batch(2 * kSec, {3}, 1, "retry_batch", 500);
  std::get<ev::BatchSent>(good.o.events.back().event).code = "GenericError";  // not declared: the status decides
  EXPECT_PASS(good, "C1");
  Evidence retried(false);
  retried.entry.capabilities.permanent_codes = {"error.lists.invalidListId"};
  retried.batch(kSec, {1, 2}, 1, "retry_batch", 500);
  std::get<ev::BatchSent>(retried.o.events.back().event).code = "error.lists.invalidListId";
  EXPECT_FAIL(retried, "C1");
  // Undeclared, the same answer is a 5xx like any other: giving up on it fails.
  Evidence undeclared(false);
  undeclared.batch(kSec, {1, 2}, 1, "cannot_retry", 500);
  std::get<ev::BatchSent>(undeclared.o.events.back().event).code = "error.lists.invalidListId";
  EXPECT_FAIL(undeclared, "C1");
}

TEST(PropertyCheckers, C1BulkJudgedFromTheAnswers) {
  // The old bulk C1 only read job reasons for "HTTP 5": it passed each failing case here.
  // A 400 to an upload, and the same jobs uploaded again.
  Evidence reuploaded(true);
  reuploaded.upload_answered(1, kSec, {1, 2}, "retry", 2 * kSec, 1, 400);
  reuploaded.upload_answered(2, 20 * kSec, {1, 2}, "completed", 21 * kSec, 2, 200, 2);
  EXPECT_FAIL(reuploaded, "C1");
  // ... unless their outcome was unknown (a timeout on an earlier upload of them).
  Evidence unknown(true);
  unknown.upload_answered(1, kSec, {1, 2}, "retry", 2 * kSec, 1, 0);
  unknown.upload_answered(2, 20 * kSec, {1, 2}, "retry", 21 * kSec, 2, 400, 2);
  unknown.upload_answered(3, 60 * kSec, {1, 2}, "completed", 61 * kSec, 3, 200, 3);
  EXPECT_PASS(unknown, "C1");
  // A 503 to an upload, and its jobs failed with a known outcome (the reason names no status).
  Evidence failed_503(true);
  failed_503.upload_answered(1, kSec, {1}, "failed", 2 * kSec, 1, 503);
  failed_503.end(1, JobState::failed, "the server said no", 2 * kSec);
  failed_503.all_succeed_from(2);
  EXPECT_FAIL(failed_503, "C1");
  // A 404 to a poll, asked again; a 403 to a results request, asked again.
  Evidence poll_404(true);
  poll_404.upload(1, kSec, {1});
  poll_404.at(11 * kSec, ev::Poll{1, "imp1"});
  poll_404.exchange(2, 11 * kSec, 11 * kSec, 404, "/jobs/imp1");
  poll_404.at(11 * kSec, ev::Polled{1, "imp1", "fault"});
  EXPECT_FAIL(poll_404, "C1");
  Evidence stats_403(true);
  stats_403.polled({{11 * kSec, "completed"}});
  stats_403.exchange(2, 11 * kSec, 12 * kSec, 403, "/jobs/imp1/errors");
  stats_403.at(12 * kSec, ev::StatsFault{1, "imp1", "fault"});
  EXPECT_FAIL(stats_403, "C1");
  // A 503 to a poll taken as the import failing.
  Evidence poll_503(true);
  poll_503.upload(1, kSec, {1});
  poll_503.at(11 * kSec, ev::Poll{1, "imp1"});
  poll_503.exchange(2, 11 * kSec, 11 * kSec, 503, "/jobs/imp1");
  poll_503.at(11 * kSec, ev::Polled{1, "imp1", "failed"});
  EXPECT_FAIL(poll_503, "C1");
  // Marketo answers throttling (606) and expired tokens (601) as HTTP 200 with
  // a code: retrying those uploads and polls is not a retried 4xx.
  Evidence marketo(true);
  marketo.upload_answered(1, kSec, {1, 2}, "retry", 2 * kSec, 1, 200);
  marketo.upload_answered(2, 20 * kSec, {1, 2}, "importing", 21 * kSec, 2, 200, 2);
  marketo.at(31 * kSec, ev::Poll{2, "imp2"});
  marketo.exchange(3, 31 * kSec, 31 * kSec, 200, "/bulk/v1/leads/batch/imp2.json");
  marketo.at(31 * kSec, ev::Polled{2, "imp2", "fault"});
  marketo.at(41 * kSec, ev::Poll{2, "imp2"});
  marketo.exchange(4, 41 * kSec, 41 * kSec, 200, "/bulk/v1/leads/batch/imp2.json");
  marketo.at(41 * kSec, ev::Polled{2, "imp2", "completed"});
  EXPECT_PASS(marketo, "C1");
}

TEST(PropertyCheckers, C1BulkPerRequestAnswersDecideTheJobsTheyCarry) {
  // One upload sends a request per table, each naming the jobs it carries:
  // table A's open answered 503 (job 1, retried), table B's insert 422 (job 2, failed).
  auto build = [](Evidence& e, std::vector<JobId> again, bool carries) {
    e.at(kSec, ev::UploadStart{1, 2, JobIds{{1, 2}}, kSec, 0, 1, 100});
    ev::HttpRequest a{1, "POST", "api", "/channels", 10};
    ev::HttpRequest b{2, "POST", "api", "/channels/ch-1/insert", 10};
    if (carries) {
      a.carries = JobIds{{1}};
      b.carries = JobIds{{2}};
    }
    e.at(kSec, a);
    e.at(kSec, ev::HttpResponse{1, 503, 10, false, std::nullopt, std::nullopt});
    e.at(kSec, b);
    e.at(2 * kSec, ev::HttpResponse{2, 422, 10, false, std::nullopt, std::nullopt});
    e.at(2 * kSec, ev::UploadResult{"m", 1, 2, "completed", "", 0, 2, 0, 0, 0, std::nullopt});
    e.at(2 * kSec, ev::ImportEnd{1});
    e.end(2, JobState::failed, "HTTP 422", 2 * kSec);
    e.upload_answered(2, 20 * kSec, std::move(again), "completed", 21 * kSec, 3, 200, 2);
  };
  Evidence good(true);
  build(good, {1}, true);
  good.end(1, JobState::succeeded, "", 21 * kSec);
  EXPECT_PASS(good, "C1");
  // The job the 422 decided, uploaded again.
  Evidence resent(true);
  build(resent, {1, 2}, true);
  EXPECT_FAIL(resent, "C1");
  // Without the per-request jobs the upload's last answer (the 422) decides
  // both jobs: the retry of job 1 reads as a retried permanent answer.
  Evidence whole(true);
  build(whole, {1}, false);
  whole.end(1, JobState::succeeded, "", 21 * kSec);
  EXPECT_FAIL(whole, "C1");
  // A permanent answer the manager went past in the same upload (a 404 on an
  // insert, the channel reopened and the insert answered 503): the 503 decided.
  Evidence superseded(true);
  superseded.at(kSec, ev::UploadStart{1, 1, JobIds{{1}}, kSec, 0, 1, 100});
  ev::HttpRequest first{1, "POST", "api", "/channels/ch-1/insert", 10, JobIds{{1}}};
  ev::HttpRequest second{2, "POST", "api", "/channels/ch-2/insert", 10, JobIds{{1}}};
  superseded.at(kSec, first);
  superseded.at(kSec, ev::HttpResponse{1, 404, 10, false, std::nullopt, std::nullopt});
  superseded.at(kSec, second);
  superseded.at(2 * kSec, ev::HttpResponse{2, 503, 10, false, std::nullopt, std::nullopt});
  superseded.at(2 * kSec, ev::UploadResult{"m", 1, 1, "completed", "", 0, 1, 0, 0, 0, std::nullopt});
  superseded.at(2 * kSec, ev::ImportEnd{1});
  superseded.upload_answered(2, 20 * kSec, {1}, "completed", 21 * kSec, 3, 200, 2);
  superseded.end(1, JobState::succeeded, "", 21 * kSec);
  EXPECT_PASS(superseded, "C1");
}

TEST(PropertyCheckers, C2BoundedAttempts) {
  Evidence good(false);
  good.batch(kSec, {1}, 3, "cannot_retry", 503);
  good.end(1, JobState::aborted, "attempts exhausted (3 of 3): HTTP 503");
  EXPECT_PASS(good, "C2");
  Evidence over(false);
  over.batch(kSec, {1}, 4, "success", 200);  // max_retries 3
  EXPECT_FAIL(over, "C2");
  Evidence causeless(false);
  causeless.end(1, JobState::aborted, "attempts exhausted");
  EXPECT_FAIL(causeless, "C2");
}

TEST(PropertyCheckers, C3Backoff) {
  // Attempt 2 comes at least 80 ms (100 ms less 1/5 jitter) after attempt 1's answer.
  Evidence good(false);
  good.batch(kSec, {1}, 1, "retry_batch", 503);
  good.batch(kSec + 90'000'000, {1}, 2, "success", 200);
  EXPECT_PASS(good, "C3");
  Evidence eager(false);
  eager.batch(kSec, {1}, 1, "retry_batch", 503);
  eager.batch(kSec + 10'000'000, {1}, 2, "success", 200);
  EXPECT_FAIL(eager, "C3");
  Evidence early(false);  // within the policy but before the Retry-After
  early.batch(kSec, {1}, 1, "retry_batch", 429, 30 * kSec);
  early.batch(2 * kSec, {1}, 2, "success", 200);
  EXPECT_FAIL(early, "C3");
  Evidence bulk(true);  // bulk: 5 s least delay x (1 - 1/5)
  bulk.upload(1, kSec, {1});
  bulk.upload(2, 2 * kSec, {1}, 2);
  EXPECT_FAIL(bulk, "C3");
  // An upload whose answer put job 2 back at once (named retry) while job 1
  // went on into its import until 100 s: job 2 waits from the answer, so an
  // upload carrying it at 101 s is 100 s after, not 1 s after the import's end.
  Evidence named(true);
  named.at(kSec, ev::UploadStart{1, 2, JobIds{{1, 2}}, kSec, 0, 1, 100});
  named.at(kSec, ev::UploadResult{"m", 1, 2, "importing", "imp1", 1, 1, 0, 0, 0, JobIds{{2}}});
  named.staged(20 * kSec, {2});
  named.at(100 * kSec, ev::ImportEnd{1});
  named.at(101 * kSec, ev::UploadStart{2, 1, JobIds{{2}}, 20 * kSec, 80 * kSec, 2, 100});  // 80 s waiting for a slot
  named.at(101 * kSec, ev::UploadResult{"m", 2, 1, "importing", "imp2", 1, 0, 0, 0, 0, std::nullopt});
  EXPECT_PASS(named, "C3");
  // Put back at the answer, but carried again within the least delay of it.
  Evidence named_early(true);
  named_early.at(kSec, ev::UploadStart{1, 2, JobIds{{1, 2}}, kSec, 0, 1, 100});
  named_early.at(kSec, ev::UploadResult{"m", 1, 2, "importing", "imp1", 1, 1, 0, 0, 0, JobIds{{2}}});
  named_early.staged(kSec + 1'000'000, {2});
  named_early.at(2 * kSec, ev::ImportEnd{1});
  named_early.upload(2, 2 * kSec + 1'000'000, {2}, 2);
  EXPECT_FAIL(named_early, "C3");
}

TEST(PropertyCheckers, C3BoundsFromTheDeclaredPolicyAndTheAnswers) {
  // Within the declared bounds: attempt 4 waits 100 ms x 2^2 = 400 ms, capped
  // by retry_delay_max 300 ms, less 1/5 jitter: [240 ms, 300 ms].
  Evidence capped(false);
  capped.configure({{"retry_delay_max", "300ms"}, {"max_retries", 5}});
  capped.batch(kSec, {1}, 3, "retry_batch", 503);
  capped.batch(kSec + 250'000'000, {1}, 4, "success", 200);
  EXPECT_PASS(capped, "C3");
  Evidence uncapped(false);  // 400 ms: the doubling without its cap
  uncapped.configure({{"retry_delay_max", "300ms"}, {"max_retries", 5}});
  uncapped.batch(kSec, {1}, 3, "retry_batch", 503);
  uncapped.batch(kSec + 400'000'000, {1}, 4, "success", 200);
  EXPECT_FAIL(uncapped, "C3");
  // The API's Retry-After, read from its answer: the send itself says none
  // (a handler that dropped the header), so the old C3 passed this.
  Evidence ignored(false);
  ignored.exchange(1, 0, kSec, 429, "/p", 10, std::string("30"));
  ignored.batch(kSec, {1}, 1, "retry_batch", 429);
  ignored.exchange(2, 2 * kSec, 3 * kSec, 200);
  ignored.batch_between(2 * kSec, 3 * kSec, {1}, 2, "success");
  EXPECT_FAIL(ignored, "C3");
  // A send that says it was held 10 s by a Retry-After no answer carried
  // (the old C3 added the send's own `held` to the longest delay and passed).
  Evidence held(false);
  held.batch(kSec, {1}, 1, "retry_batch", 503);
  held.at(11 * kSec, ev::BatchSent{.handler = "h", .records = 1, .attempt = 2, .status = "success", .ids = JobIds{{1}},
                                   .sent = 11 * kSec, .held = 10 * kSec, .http = 200});
  EXPECT_FAIL(held, "C3");
  // ... and one that a Retry-After of its handler really held passes.
  Evidence really_held(false);
  really_held.exchange(1, 0, kSec, 503);
  really_held.batch(kSec, {1}, 1, "retry_batch", 503);
  really_held.exchange(2, 0, kSec, 429, "/p", 10, std::string("10"));  // another batch of the handler
  really_held.batch(kSec, {2}, 1, "retry_batch", 429);
  really_held.at(11 * kSec, ev::BatchSent{.handler = "h", .records = 1, .attempt = 2, .status = "success",
                                          .ids = JobIds{{1}}, .sent = 11 * kSec, .held = 10 * kSec, .http = 200});
  EXPECT_PASS(really_held, "C3");
  // Bulk: a job put back at 2 s (attempt 2: 5 s, jitter 1/5) is uploaded
  // again within [4 s, 5 s + the 30 s upload interval] — the old C3 had no
  // longest delay on the bulk path.
  Evidence bulk_ok(true);
  bulk_ok.upload_answered(1, kSec, {1}, "retry", 2 * kSec, 1, 503);
  bulk_ok.upload_answered(2, 30 * kSec, {1}, "completed", 31 * kSec, 2, 200, 2);
  EXPECT_PASS(bulk_ok, "C3");
  Evidence bulk_late(true);
  bulk_late.upload_answered(1, kSec, {1}, "retry", 2 * kSec, 1, 503);
  bulk_late.upload_answered(2, 40 * kSec, {1}, "completed", 41 * kSec, 2, 200, 2);
  EXPECT_FAIL(bulk_late, "C3");
  Evidence bulk_retry_after(true);  // the upload's answer asked for 60 s
  bulk_retry_after.upload_answered(1, kSec, {1}, "retry", 2 * kSec, 1, 429, 1, std::string("60"));
  bulk_retry_after.upload_answered(2, 30 * kSec, {1}, "completed", 31 * kSec, 2, 200, 2);
  EXPECT_FAIL(bulk_retry_after, "C3");
  // The upload started at 30 s but its manager held its request until the
  // Retry-After had passed (Marketo's throttled token endpoint): honoured.
  Evidence bulk_held(true);
  bulk_held.upload_answered(1, kSec, {1}, "retry", 2 * kSec, 1, 429, 1, std::string("60"));
  bulk_held.at(30 * kSec, ev::UploadStart{2, 1, JobIds{{1}}, 30 * kSec, 0, 2, 100});
  bulk_held.exchange(2, 62 * kSec, 63 * kSec, 200, "/upload");
  bulk_held.at(63 * kSec, ev::UploadResult{"m", 2, 1, "completed", "", 0, 0, 0, 0, 0, std::nullopt});
  EXPECT_PASS(bulk_held, "C3");
  // ... but one whose first request to that endpoint left at 40 s did not.
  Evidence bulk_not_held(true);
  bulk_not_held.upload_answered(1, kSec, {1}, "retry", 2 * kSec, 1, 429, 1, std::string("60"));
  bulk_not_held.at(30 * kSec, ev::UploadStart{2, 1, JobIds{{1}}, 30 * kSec, 0, 2, 100});
  bulk_not_held.exchange(2, 40 * kSec, 41 * kSec, 200, "/upload");
  bulk_not_held.at(41 * kSec, ev::UploadResult{"m", 2, 1, "completed", "", 0, 0, 0, 0, 0, std::nullopt});
  EXPECT_FAIL(bulk_not_held, "C3");
  // An upload cut off by a crash while it still held never reached the API:
  // its start inside the Retry-After is not a retry sent early.
  Evidence bulk_cut(true);
  bulk_cut.upload_answered(1, kSec, {1}, "retry", 2 * kSec, 1, 429, 1, std::string("60"));
  bulk_cut.at(30 * kSec, ev::UploadStart{2, 1, JobIds{{1}}, 30 * kSec, 0, 2, 100});
  bulk_cut.at(50 * kSec, ev::RunCrash{"at 50s", 0});
  bulk_cut.exchange(2, 55 * kSec, 56 * kSec, 200, "/upload");  // another run's request, after the crash
  EXPECT_PASS(bulk_cut, "C3");
}

TEST(PropertyCheckers, C4TooLarge) {
  Evidence good(false);
  good.batch(kSec, {1, 2}, 1, "retry_individual", 413, std::nullopt, true);
  good.one(2 * kSec, 1, 1, "ok", 200);
  good.one(2 * kSec, 2, 1, "fail", 413, true);
  good.end(1, JobState::succeeded);
  good.end(2, JobState::failed, "too large alone (413)", kSec, false, ReasonKind::too_large);
  good.end(3, JobState::succeeded);
  EXPECT_PASS(good, "C4");
  Evidence same(false);
  same.batch(kSec, {1, 2}, 1, "retry_batch", 413, std::nullopt, true);
  same.batch(2 * kSec, {1, 2}, 2, "success", 200);
  EXPECT_FAIL(same, "C4");
  Evidence alone(false);
  alone.one(kSec, 2, 1, "fail", 413, true);
  alone.end(2, JobState::failed, "HTTP 413");  // not failed *as too large*
  EXPECT_FAIL(alone, "C4");
  // The source failed the stream between the 413 and the smaller requests:
  // the discarded jobs never needed them. Without that failure they did.
  for (bool stream_failed : {true, false}) {
    Evidence cut(false);
    cut.batch(kSec, {1, 2}, 1, "retry_individual", 413, std::nullopt, true);
    cut.end(1, JobState::failed, "stream s failed: staged data discarded", 2 * kSec, false, ReasonKind::stream_failed);
    cut.end(2, JobState::failed, "stream s failed: staged data discarded", 2 * kSec, false, ReasonKind::stream_failed);
    cut.end(3, JobState::failed, "stream s failed: staged data discarded", 2 * kSec, false, ReasonKind::stream_failed);
    SyncOutcome so;
    so.streams["s"] = stream_failed ? "failed: the source failed stream s" : "committed";
    cut.o.sync = so;
    if (stream_failed) EXPECT_PASS(cut, "C4");
    else EXPECT_FAIL(cut, "C4");
  }
  // Failed too large alone, but a crash undid that (not yet durable) end and
  // the next process delivered it: judged by its final process, not failed.
  for (bool crashed : {true, false}) {
    Evidence undone(false);
    undone.one(kSec, 2, 1, "fail", 413, true);
    undone.at(kSec, ev::JobTerminal{2, "failed", "too large alone: HTTP 413", false, false, "too_large"});
    if (crashed) {
      undone.at(3 * kSec, ev::RunCrash{"at 3s", 1});
      undone.at(4 * kSec, ev::RunRestart{1, 1});
    }
    undone.end(2, JobState::succeeded, "", 5 * kSec);
    if (crashed) EXPECT_PASS(undone, "C4");
    else EXPECT_FAIL(undone, "C4");
  }
}

TEST(PropertyCheckers, C4TooLargeOnlyWhenItIs) {
  // A record failed "too large" that no 413 named and that is at most half the
  // byte limit (1000 B, test_entry) is a deliverable record dropped — a limit
  // read in the wrong unit or from the wrong key. The old C4 never looked
  // (and said n/a on the bulk path).
  for (bool bulk : {false, true}) {
    for (std::int64_t pad : {0, 400, 600}) {
      Evidence e(bulk);
      e.o.records[1].payload = {{"pad", std::string(static_cast<std::size_t>(pad), 'x')}};
      e.end(1, JobState::succeeded);
      e.end(2, JobState::failed, "record too large", kSec, false, ReasonKind::too_large);
      e.end(3, JobState::succeeded);
      SCOPED_TRACE("bulk " + std::to_string(bulk) + " pad " + std::to_string(pad));
      if (pad >= 500) EXPECT_PASS(e, "C4");
      else EXPECT_FAIL(e, "C4");
    }
  }
  // A small record answered 413 alone was too large by the API's word.
  Evidence named(false);
  named.one(kSec, 2, 1, "fail", 413, true);
  named.end(1, JobState::succeeded);
  named.end(2, JobState::failed, "too large alone (413)", kSec, false, ReasonKind::too_large);
  named.end(3, JobState::succeeded);
  EXPECT_PASS(named, "C4");
  // The limit is the run's: a 120 B record may be too large for a request
  // configured at 200 B, never for the declared 1000 B.
  for (bool small : {true, false}) {
    Evidence configured(false);
    configured.configure(small ? nlohmann::json{{"request_bytes_max", "200B"}} : nlohmann::json::object(),
                         {ConfigKey{"request_bytes_max", ConfigType::size, "1000B", "bytes per request", 1, 1000}});
    configured.o.records[1].payload = {{"pad", std::string(110, 'x')}};
    configured.end(1, JobState::succeeded);
    configured.end(2, JobState::failed, "record too large", kSec, false, ReasonKind::too_large);
    configured.end(3, JobState::succeeded);
    if (small) EXPECT_PASS(configured, "C4");
    else EXPECT_FAIL(configured, "C4");
  }
}

TEST(PropertyCheckers, C4JudgedFromThe413Answers) {
  // The old C4 followed the handler's own too_large flag and read "too large"
  // in the reason: it passed each failing case here.
  // A 413 the handler did not flag, sent again unchanged (as a batch of the same records, in another order).
  Evidence unflagged(false);
  unflagged.batch(kSec, {1, 2}, 1, "retry_batch", 413);
  unflagged.batch(2 * kSec, {2, 1}, 2, "success", 200);
  EXPECT_FAIL(unflagged, "C4");
  // A 413'd batch whose records were never sent smaller or alone.
  Evidence dropped(false);
  dropped.batch(kSec, {1, 2}, 1, "cannot_retry", 413, std::nullopt, true);
  dropped.end(1, JobState::failed, "HTTP 413", kSec, false, ReasonKind::too_large);
  dropped.end(2, JobState::failed, "HTTP 413", kSec, false, ReasonKind::too_large);
  dropped.end(3, JobState::succeeded);
  EXPECT_FAIL(dropped, "C4");
  // A record answered 413 alone whose reason says "too large" but whose kind does not.
  Evidence worded(false);
  worded.one(kSec, 2, 1, "fail", 413, true);
  worded.end(2, JobState::failed, "too large alone (413)", kSec, false, ReasonKind::rejected_by_api);
  EXPECT_FAIL(worded, "C4");
  // A record answered 413 alone and retried alone (the handler said "retry").
  Evidence retried(false);
  retried.one(kSec, 2, 1, "retry", 413);
  retried.one(2 * kSec, 2, 2, "fail", 413);
  retried.end(2, JobState::failed, "too large alone (413)", 2 * kSec, false, ReasonKind::too_large);
  EXPECT_FAIL(retried, "C4");
  // Halves, then one record alone: each record is sent smaller, nothing twice as it was.
  Evidence split(false, 4);
  split.batch(kSec, {1, 2, 3, 4}, 1, "retry_individual", 413);
  split.batch(2 * kSec, {1, 2}, 1, "success", 200);
  split.batch(3 * kSec, {3, 4}, 1, "retry_individual", 413);
  split.batch(4 * kSec, {3}, 1, "success", 200);
  split.batch(5 * kSec, {4}, 1, "retry_individual", 413);
  split.end(4, JobState::failed, "too large alone: HTTP 413", 5 * kSec, false, ReasonKind::too_large);
  EXPECT_PASS(split, "C4");
}

TEST(PropertyCheckers, C5PartialSuccess) {
  Evidence good(false);
  good.all_succeed();
  EXPECT_PASS(good, "C5");
  Evidence resent(false);
  resent.all_succeed();
  resent.applied(1, 2);  // a success sent again
  EXPECT_FAIL(resent, "C5");
}

TEST(PropertyCheckers, C6TimeBudget) {
  Evidence good(false);
  good.batch(kSec, {1}, 1, "retry_batch", 503);
  good.batch(kSec + 3000 * kSec, {1}, 2, "success", 200);  // within the 1h window
  EXPECT_PASS(good, "C6");
  Evidence late(false);
  late.batch(kSec, {1}, 1, "retry_batch", 503);
  late.batch(kSec + 3700 * kSec, {1}, 2, "success", 200);
  EXPECT_FAIL(late, "C6");
}

// ---- D: polling

TEST(PropertyCheckers, D1UntilTerminal) {
  EXPECT_PASS(Evidence(true).polled({{11 * kSec, "running"}, {21 * kSec, "completed"}}), "D1");
  // Abandoned while running; then asked again 1 s later although the interval is 10 s.
  EXPECT_FAIL(Evidence(true).polled({{11 * kSec, "running"}}), "D1");
  EXPECT_FAIL(Evidence(true).polled({{11 * kSec, "running"}, {12 * kSec, "completed"}}), "D1");
}

TEST(PropertyCheckers, D2PollTimeout) {
  EXPECT_PASS(Evidence(true).polled({{6 * 3600 * kSec, "completed"}}), "D2");
  // Still running past 6 h + one interval.
  EXPECT_FAIL(Evidence(true).polled({{7 * 3600 * kSec, "running"}}), "D2");
}

TEST(PropertyCheckers, D3TotalMapping) {
  EXPECT_PASS(Evidence(true).polled({{11 * kSec, "fault"}, {21 * kSec, "failed"}}), "D3");
  EXPECT_FAIL(Evidence(true).polled({{11 * kSec, "QUEUED_FOREVER"}}), "D3");
}

TEST(PropertyCheckers, D4PerJobResults) {
  Evidence good(true);
  good.all_succeed();
  good.at(kSec, ev::Settle{1, "stats", 3, 0, 0, 0});
  EXPECT_PASS(good, "D4");
  Evidence assumed(true);
  assumed.all_succeed();
  assumed.at(kSec, ev::Settle{1, "stats", 2, 0, 0, 1});  // one unmentioned, yet succeeded
  EXPECT_FAIL(assumed, "D4");
}

TEST(PropertyCheckers, D4ResultsComeFromA2xxAnswer) {
  // Import 1 completes; its results request is answered 200, and the three
  // jobs settle succeeded on it.
  Evidence good(true);
  good.polled({{11 * kSec, "completed"}});
  good.exchange(1, 12 * kSec, 12 * kSec, 200, "/imports/imp1/results");
  good.at(12 * kSec, ev::Settle{1, "stats", 3, 0, 0, 0});
  good.all_succeed(12 * kSec);
  EXPECT_PASS(good, "D4");
  // The results request is answered 400 (no per-record results), yet the
  // jobs settle succeeded: assumed, not read. The fake holds every one of
  // them and the framework's own counts agree, so the old D4 passed it.
  Evidence assumed(true);
  assumed.polled({{11 * kSec, "completed"}});
  assumed.exchange(1, 12 * kSec, 12 * kSec, 400, "/imports/imp1/results");
  assumed.at(12 * kSec, ev::Settle{1, "stats", 3, 0, 0, 0});
  assumed.all_succeed(12 * kSec);
  PropertyResult r = assumed.check("D4");
  EXPECT_EQ(r.verdict, Verdict3::fail) << r.detail;
  EXPECT_NE(r.detail.find("3 jobs settled succeeded"), std::string::npos) << r.detail;
  // Refused, the results name nobody: the jobs are retried, not settled succeeded.
  Evidence retried(true);
  retried.polled({{11 * kSec, "completed"}});
  retried.exchange(1, 12 * kSec, 12 * kSec, 400, "/imports/imp1/results");
  retried.at(12 * kSec, ev::Settle{1, "stats", 0, 0, 0, 3});
  EXPECT_PASS(retried, "D4");
}

TEST(PropertyCheckers, D5PollFaults) {
  EXPECT_PASS(Evidence(true).polled({{11 * kSec, "fault"}, {21 * kSec, "completed"}}), "D5");
  EXPECT_FAIL(Evidence(true).polled({{11 * kSec, "fault"}}), "D5");  // never asked again
}

TEST(PropertyCheckers, D6ImportConcurrency) {
  Evidence good(true);
  good.at(0, ev::UploadStart{1, 1, JobIds{{1}}, 0, 0, 1});
  good.at(0, ev::UploadStart{2, 1, JobIds{{2}}, 0, 0, 1});
  good.at(kSec, ev::ImportEnd{1});
  good.at(kSec, ev::UploadStart{3, 1, JobIds{{3}}, 0, 0, 1});
  EXPECT_PASS(good, "D6");
  Evidence over(true);
  for (std::int64_t k = 1; k <= 3; ++k)
    over.at(0, ev::UploadStart{k, 1, JobIds{{static_cast<JobId>(k)}}, 0, 0, 1});  // 3 at once, limit 2
  EXPECT_FAIL(over, "D6");
}

// ---- E: durability

TEST(PropertyCheckers, E1CrashAnywhere) {
  Evidence good(true);
  good.all_succeed();
  good.upload(1, kSec, {1, 2, 3});
  good.at(2 * kSec, ev::RunCrash{"mid_poll", 0});
  good.at(3 * kSec, ev::RunRestart{3, 3});
  good.at(3 * kSec, ev::Resume{"m", 1, "imp1", 3});
  good.poll(1, 13 * kSec, "completed");
  EXPECT_PASS(good, "E1");
  Evidence not_polled(true);
  not_polled.all_succeed();
  not_polled.upload(1, kSec, {1, 2, 3});
  not_polled.at(2 * kSec, ev::RunCrash{"mid_poll", 0});
  not_polled.at(3 * kSec, ev::RunRestart{3, 3});
  not_polled.at(3 * kSec, ev::Resume{"m", 1, "imp1", 3});  // stored, then uploaded again instead
  EXPECT_FAIL(not_polled, "E1");
  Evidence twice(true);
  twice.all_succeed();
  twice.applied(2, 2);
  twice.at(2 * kSec, ev::RunCrash{"after_upload", 0});
  twice.at(3 * kSec, ev::RunRestart{0, 3});
  EXPECT_FAIL(twice, "E1");
  Evidence never(true);  // a required crash point that never happened
  never.all_succeed();
  CrashPoint c;
  c.step = "mid_poll";
  never.s.crashes.push_back(c);
  EXPECT_FAIL(never, "E1");
  // A clean stop (a deploy) is a process end as a crash is: a stored import is
  // polled again by its id after the start, and the start must follow.
  Evidence stopped(true);
  stopped.all_succeed();
  stopped.upload(1, kSec, {1, 2, 3});
  stopped.at(2 * kSec, ev::RunControl{"stop", "", false});
  stopped.at(3 * kSec, ev::RunControl{"start", "", false});
  stopped.at(3 * kSec, ev::RunRestart{3, 3});
  stopped.at(3 * kSec, ev::Resume{"m", 1, "imp1", 3});
  stopped.poll(1, 13 * kSec, "completed");
  EXPECT_PASS(stopped, "E1");
  Evidence stopped_reuploaded(true);
  stopped_reuploaded.all_succeed();
  stopped_reuploaded.upload(1, kSec, {1, 2, 3});
  stopped_reuploaded.at(2 * kSec, ev::RunControl{"stop", "", false});
  stopped_reuploaded.at(3 * kSec, ev::RunRestart{3, 3});
  stopped_reuploaded.at(3 * kSec, ev::Resume{"m", 1, "imp1", 3});  // stored, then uploaded again instead
  EXPECT_FAIL(stopped_reuploaded, "E1");
  Evidence skipped(true);  // a stop that found the run over is no process end: no restart owed
  skipped.all_succeed();
  skipped.upload(1, kSec, {1, 2, 3});
  skipped.poll(1, 2 * kSec, "completed");
  skipped.at(9 * kSec, ev::RunControl{"stop", "after the run drained", true});
  EXPECT_PASS(skipped, "E1");
}

// Under a Sync: setup, open, records, state, end, close, teardown.
void sync_run(Evidence& e, std::int64_t state_at, bool teardown_ok = true) {
  e.s.sync = SyncInput{};
  SyncOutcome so;
  so.ok = teardown_ok;
  so.streams["s"] = "committed";
  e.o.sync = so;
  e.at(0, ev::SyncStart{1});
  e.at(0, ev::SyncSetup{true});
  e.at(0, ev::SyncOpen{"s", true});
  e.at(0, ev::SyncFirstRecord{"s", 1});
  e.at(state_at, ev::SyncState{"s", 1, 3, nlohmann::json{{"cursor", 3}}});
  e.at(state_at, ev::SyncEnd{"s"});
  e.at(3 * kSec, ev::SyncClose{"s", true, 3});
  e.at(3 * kSec, ev::SyncTeardown{teardown_ok});
}

TEST(PropertyCheckers, E2Checkpoints) {
  Evidence good(false);
  good.all_succeed(kSec);
  sync_run(good, 2 * kSec);
  EXPECT_PASS(good, "E2");
  Evidence early(false);
  early.all_succeed(kSec);
  sync_run(early, kSec / 2);  // released before its records were terminal
  EXPECT_FAIL(early, "E2");
  Evidence unsynced(false);
  EXPECT_VERDICT(unsynced, "E2", Verdict3::not_applicable);
}

// ---- F: lifecycle

TEST(PropertyCheckers, F1Order) {
  Evidence good(false);
  good.all_succeed(kSec);
  sync_run(good, 2 * kSec);
  EXPECT_PASS(good, "F1");
  Evidence early_close(false);
  early_close.all_succeed(4 * kSec);  // terminal after the close at 3s
  sync_run(early_close, 5 * kSec);
  EXPECT_FAIL(early_close, "F1");
  Evidence no_setup(false);
  no_setup.all_succeed(kSec);
  no_setup.s.sync = SyncInput{};
  no_setup.o.sync = SyncOutcome{};
  no_setup.at(0, ev::SyncOpen{"s", true});
  EXPECT_FAIL(no_setup, "F1");
}

TEST(PropertyCheckers, F2Failure) {
  Evidence good(false);
  good.all_succeed(kSec);
  sync_run(good, 2 * kSec);
  EXPECT_PASS(good, "F2");
  Evidence lied(false);  // teardown told success, the sync failed
  lied.all_succeed(kSec);
  sync_run(lied, 2 * kSec, true);
  lied.o.sync->ok = false;
  EXPECT_FAIL(lied, "F2");
  Evidence hang(false);
  hang.s.sync = SyncInput{};
  EXPECT_FAIL(hang, "F2");  // never ended
  Evidence leaked(false);  // a staging destination's failed stream reached the destination
  leaked.entry.capabilities.stages = true;
  leaked.end(1, JobState::failed, "stream failed");
  leaked.applied(1, 1);
  sync_run(leaked, 2 * kSec);
  leaked.o.sync->streams["s"] = "failed: open";
  EXPECT_FAIL(leaked, "F2");
  // A commit whose answer was lost: the job says its outcome is unknown, so
  // the record in the destination is not a leak (A2 judges the unknown).
  Evidence unknown(false);
  unknown.entry.capabilities.stages = true;
  unknown.end(1, JobState::failed, "commit answer lost", kSec, true);
  unknown.applied(1, 1);
  sync_run(unknown, 2 * kSec);
  unknown.o.sync->streams["s"] = "failed: close";
  EXPECT_PASS(unknown, "F2");
}

// ---- G: liveness

TEST(PropertyCheckers, G1Quiescence) {
  Evidence good(false);
  good.all_succeed();
  good.o.virtual_duration = std::chrono::minutes(2);
  EXPECT_PASS(good, "G1");
  Evidence stuck(false);
  stuck.end(1, JobState::succeeded);
  EXPECT_FAIL(stuck, "G1");
  Evidence slow(false);
  slow.all_succeed();
  slow.o.virtual_duration = std::chrono::hours(30);
  EXPECT_FAIL(slow, "G1");
}

TEST(PropertyCheckers, G1BoundsFromTheRunsConfig) {
  // 20 records, 30 s poll timeout, one attempt: 15 minutes is too long for
  // imports of ten records...
  const nlohmann::json base = {{"poll_timeout", "30s"}, {"poll_interval", "10s"}, {"imports_in_flight", 1},
                               {"max_attempts", 1},     {"retry_window", "1s"},   {"retry_delay_max", "10s"}};
  const std::vector<ConfigKey> keys = {{"profiles_per_upload", ConfigType::integer, 10, "", 1, 10},
                                       {"requests_per_minute", ConfigType::integer, 0, "", 0, 150}};
  // Twenty records, all succeeded after 15 minutes, under `base` + `extra`.
  auto fifteen_minutes = [&](Evidence& e, const nlohmann::json& extra, const std::vector<ConfigKey>& schema) {
    nlohmann::json config = base;
    config.update(extra);
    e.configure(config, schema);
    e.all_succeed();
    e.o.virtual_duration = std::chrono::minutes(15);
  };
  Evidence few(true, 20);
  fifteen_minutes(few, nlohmann::json::object(), keys);
  EXPECT_FAIL(few, "G1");
  // ... but not for twenty imports of one record each, one at a time,
  Evidence many(true, 20);
  fifteen_minutes(many, {{"profiles_per_upload", 1}}, keys);
  EXPECT_PASS(many, "G1");
  // ... nor for twenty imports of one record each because the staging
  // buffer holds one,
  Evidence one_staged(true, 20);
  fifteen_minutes(one_staged, {{"max_buffer_size", 1}},
                  {{"max_buffer_size", ConfigType::integer, 100, "", 1, 100}});
  EXPECT_PASS(one_staged, "G1");
  // ... nor for twenty imports because each record alone fills a file,
  Evidence big_rows(true, 20);
  for (Record& r : big_rows.o.records) r.payload = {{"pad", std::string(500, 'x')}};
  fifteen_minutes(big_rows, {{"file_bytes_max", "600B"}},
                  {{"file_bytes_max", ConfigType::size, "1MB", "", 1, 1'000'000}});
  EXPECT_PASS(big_rows, "G1");
  // ... nor for three imports whose requests go one a minute.
  Evidence paced(true, 20);
  fifteen_minutes(paced, {{"requests_per_minute", 1}}, keys);
  EXPECT_PASS(paced, "G1");
  // Many polls over a very long poll timeout under pacing: the bound stays
  // a bound (it once overflowed to a negative duration and failed a 1-minute run).
  Evidence fine(true, 20);
  fine.configure(
      {{"poll_timeout", "3650d"}, {"poll_interval", "1s"}, {"requests_per_minute", 150}, {"max_attempts", 20}}, keys);
  fine.all_succeed();
  fine.o.virtual_duration = std::chrono::minutes(1);
  EXPECT_PASS(fine, "G1");
}

TEST(PropertyCheckers, AHungRunFailsG1AndNothingElse) {
  Evidence hung(false);
  hung.end(1, JobState::succeeded);
  hung.o.status = Error::hang("still busy after 9d of virtual time");
  EXPECT_FAIL(hung, "G1");
  EXPECT_EQ(check_property("A1", hung.o, hung.s).verdict, Verdict3::not_applicable);
  EXPECT_EQ(check_property("D2", hung.o, hung.s).verdict, Verdict3::not_applicable);
  // Any other failure of the run fails every property.
  hung.o.status = Error::internal("a task failed");
  EXPECT_FAIL(hung, "A1");
  // The bound a run is cut at covers G1's own bound, doubled, and a week.
  Evidence slow(false);
  slow.all_succeed();
  const Duration bound = run_time_bound(slow.o, slow.s);
  EXPECT_GE(bound, std::chrono::hours(24 * 7));
  slow.o.virtual_duration = bound / 2 - std::chrono::hours(24 * 7);
  EXPECT_PASS(slow, "G1");
}

TEST(PropertyCheckers, G1AllowsAWindowPerDeclaredSerialPhase) {
  // A 1 h retry window, a run of 5 h: too long for a record that passes a
  // batch phase and a single phase...
  const std::vector<ConfigKey> keys = {{"retry_window", ConfigType::duration, "1h", "", 0}};
  Evidence two(false);
  two.configure({{"retry_window", "1h"}}, keys);
  two.all_succeed();
  two.o.virtual_duration = std::chrono::hours(5);
  EXPECT_FAIL(two, "G1");
  // ... not for a staging destination whose listing, stage, rows, commit,
  // settling and teardown may each spend the window during an outage,
  Evidence seven(false);
  seven.entry.capabilities.serial_phases = 7;
  seven.configure({{"retry_window", "1h"}}, keys);
  seven.all_succeed();
  seven.o.virtual_duration = std::chrono::hours(5);
  EXPECT_PASS(seven, "G1");
  seven.o.virtual_duration = std::chrono::hours(9);
  EXPECT_FAIL(seven, "G1");
  // ... and a restarted process may pass them all again.
  seven.s.crashes.push_back(CrashPoint{});
  EXPECT_PASS(seven, "G1");
}

TEST(PropertyCheckers, G2NoBusyLoops) {
  Evidence good(false);
  good.o.steps = 1000;
  EXPECT_PASS(good, "G2");
  Evidence busy(false);
  busy.o.steps = 5'000'000;
  EXPECT_FAIL(busy, "G2");
  // Polled twice without a wait.
  EXPECT_FAIL(Evidence(true).polled({{11 * kSec, "running"}, {11 * kSec, "completed"}}), "G2");
}

// ---- I: politeness

TEST(PropertyCheckers, I1RetryAfter) {
  Evidence good(false);
  good.at(0, ev::HttpRequest{1, "POST", "api", "/x", 10});
  good.at(kSec, ev::HttpResponse{1, 429, 0, true, std::string("60"), std::nullopt});
  good.at(61 * kSec, ev::HttpRequest{2, "POST", "api", "/x", 10});
  good.at(2 * kSec, ev::HttpRequest{3, "POST", "api", "/other", 10});  // another endpoint
  EXPECT_PASS(good, "I1");
  Evidence rude(false);
  rude.at(0, ev::HttpRequest{1, "POST", "api", "/x", 10});
  rude.at(kSec, ev::HttpResponse{1, 503, 0, true, std::string("60"), std::nullopt});
  rude.at(30 * kSec, ev::HttpRequest{2, "POST", "api", "/x", 10});
  EXPECT_FAIL(rude, "I1");
  // A Retry-After as an HTTP date from an API whose clock is two hours behind
  // the simulator's (loop time zero is 2024-01-01T00:00:00Z): it asks for 60 s
  // by its own Date. The old I1 read the date against the simulator's clock
  // (long past: no hold) and passed the retry at 5 s.
  for (bool waited : {true, false}) {
    Evidence skewed(false);
    skewed.at(0, ev::HttpRequest{1, "POST", "api", "/x", 10});
    skewed.at(kSec, ev::HttpResponse{1, 429, 0, true, std::string("Sun, 31 Dec 2023 22:00:01 GMT"),
                                     std::string("Sun, 31 Dec 2023 21:59:01 GMT")});
    skewed.at((waited ? 61 : 5) * kSec, ev::HttpRequest{2, "POST", "api", "/x", 10});
    if (waited) EXPECT_PASS(skewed, "I1");
    else EXPECT_FAIL(skewed, "I1");
  }
}

TEST(PropertyCheckers, I2DeclaredRate) {
  Evidence good(false);  // declared 2/s
  good.at(0, ev::HttpRequest{1, "POST", "api", "/x", 10});
  good.at(kSec / 2, ev::HttpRequest{2, "POST", "api", "/x", 10});
  good.at(kSec, ev::HttpRequest{3, "POST", "api", "/x", 10});
  EXPECT_PASS(good, "I2");
  Evidence fast(false);
  for (std::int64_t i = 0; i < 3; ++i) fast.at(i * kSec / 10, ev::HttpRequest{i + 1, "POST", "api", "/x", 10});
  EXPECT_FAIL(fast, "I2");
}

// ---- Applicability and H1

TEST(PropertyCheckers, BulkOnlyPropertiesAreNotApplicableOnTheBatchPath) {
  Evidence batch(false);
  for (const char* id : {"A5", "B5", "D1", "D2", "D3", "D4", "D5", "D6"})
    EXPECT_VERDICT(batch, id, Verdict3::not_applicable);
  EXPECT_VERDICT(batch, "F1", Verdict3::not_applicable);  // not under a Sync
}

TEST(PropertyCheckers, AFailedRunFailsEveryProperty) {
  Evidence e(false);
  e.o.status = Error::internal("step bound");
  for (const auto& p : property_catalogue()) {
    if (p.id == "H1") continue;
    EXPECT_VERDICT(e, p.id, Verdict3::fail);
  }
}

TEST(PropertyCheckers, H1Replay) {
  // H1 reruns the scenario: a real run of the first shipped destination (no
  // name: whichever the registry lists first), then the same outcome with a
  // trace hash the rerun cannot give.
  const DestinationEntry* entry = nullptr;
  for (const auto* e : all_destinations())
    if (e->shipped && !entry) entry = e;
  ASSERT_NE(entry, nullptr);
  CertifyOptions opts;
  CaseSpec c = generate_case(*entry, 5, 0, opts);
  c.faults.clear();
  c.crashes.clear();
  c.records = 5;
  Scenario s = case_scenario(*entry, c);
  auto o = run_scenario(s);
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(check_property("H1", *o, s).verdict, Verdict3::pass);
  o->trace_hash = "0000000000000000";
  PropertyResult r = check_property("H1", *o, s);
  EXPECT_EQ(r.verdict, Verdict3::fail) << r.detail;
}

// The first shipped destination (in registry order) whose entry and fake
// pass `want`, and its fake: this directory names no destination or fake.
template <class Want>
std::pair<const DestinationEntry*, const FakeEntry*> shipped_with(Want want) {
  for (const auto* e : all_destinations())
    if (const FakeEntry* f = find_fake(e->fake); e->shipped && f && want(*e, *f)) return {e, f};
  return {nullptr, nullptr};
}

// Certify plays the operator acts a fake declares: in an eighth of the cases
// and every eighth in turn, as a `fake` event of the written case; an act no
// case met while work was in flight fails certification. (Whichever shipped
// destination's fake declares acts: this directory names none.)
TEST(CertifyOperatorActs, DrawnPlayedAndRequired) {
  const auto [entry, fake] = shipped_with([](const DestinationEntry&, const FakeEntry& f) { return !f.operator_acts.empty(); });
  ASSERT_NE(entry, nullptr) << "no shipped destination's fake declares an operator act";
  CertifyOptions opts;
  int with_act = 0;
  for (std::int64_t i = 0; i < 64; ++i) {
    const CaseSpec c = generate_case(*entry, 3, i, opts);
    if (i % 8 == 5) EXPECT_FALSE(c.act.empty()) << "case " << i << " must take an act in turn";
    if (c.act.empty()) continue;
    ++with_act;
    EXPECT_GE(c.act_at, std::chrono::milliseconds(100));
    EXPECT_LT(c.act_at, std::chrono::seconds(60));
    const Scenario s = case_scenario(*entry, c);
    int played = 0;
    for (const ControlEvent& e : s.events)
      if (e.kind == ControlEvent::Kind::fake && e.step == c.act_step && (!e.step.empty() || e.at == c.act_at)) {
        ++played;
        bool known = false;
        for (const auto& a : fake->operator_acts) known |= a.label == c.act && a.op == e.op;
        EXPECT_TRUE(known) << e.op.dump();
      }
    EXPECT_EQ(played, 1) << "case " << i;
    // Without the act (what shrinking tries), no fake event is left.
    CaseSpec none = c;
    none.act.clear();
    for (const ControlEvent& e : case_scenario(*entry, none).events) EXPECT_NE(e.kind, ControlEvent::Kind::fake);
  }
  EXPECT_GE(with_act, 8);
  EXPECT_LE(with_act, 24);
  // Two cases that draw no act (0 and 1 take none in turn; a seed where
  // neither draws one by chance): the act is required and unreached.
  opts.cases = 2;
  opts.shrink = false;
  opts.seed = 0;
  for (std::uint64_t seed = 1; seed < 100 && opts.seed == 0; ++seed)
    if (generate_case(*entry, seed, 0, opts).act.empty() && generate_case(*entry, seed, 1, opts).act.empty())
      opts.seed = seed;
  ASSERT_NE(opts.seed, 0u);
  auto few = certify({entry}, opts);
  ASSERT_TRUE(few.ok()) << few.error().message;
  const DestinationReport& d = few->destinations.at(0);
  const std::string label = "act." + fake->operator_acts.front().label;
  EXPECT_EQ(d.reached.count(label) ? d.reached.at(label) : 0, 0);
  EXPECT_NE(std::find(d.unreached.begin(), d.unreached.end(), label), d.unreached.end());
  EXPECT_FALSE(d.certified());
  // Enough cases meet it.
  opts.cases = 24;
  auto more = certify({entry}, opts);
  ASSERT_TRUE(more.ok()) << more.error().message;
  EXPECT_GT(more->destinations.at(0).reached.at(label), 0);
  EXPECT_EQ(std::find(more->destinations.at(0).unreached.begin(), more->destinations.at(0).unreached.end(), label),
            more->destinations.at(0).unreached.end());
}

// A bulk destination's acts fall at a step of the framework in about half the
// cases that draw one (after an upload's answer, or a poll's), the nth time it
// is reached, as the written case's event says; the rest at a time. Most of
// a non-staging one's keep uploads coming past the act.
TEST(CertifyOperatorActs, HalfFallAtAStep) {
  int destinations = 0;
  for (const auto* entry : all_destinations()) {
    const FakeEntry* fake = find_fake(entry->fake);
    if (!entry->shipped || !fake || fake->operator_acts.empty() || !entry->capabilities.bulk) continue;
    ++destinations;
    CertifyOptions opts;
    int at_step = 0, at_time = 0, played = 0, kept_coming = 0;
    std::set<std::string> steps;
    for (std::int64_t i = 0; i < 160; ++i) {
      const CaseSpec c = generate_case(*entry, 5, i, opts);
      if (c.act.empty()) continue;
      if (c.act_step.empty()) {
        ++at_time;
        continue;
      }
      ++at_step;
      steps.insert(c.act_step);
      // Most keep uploads coming past the act: records arriving, small
      // uploads, a short upload interval, several imports in flight (as far
      // as the declared ranges allow).
      const bool keeps_coming =
          c.pace.count() > 0 && c.records >= 20 && c.config.contains("upload_interval") &&
          c.config.contains("imports_in_flight") &&
          (c.config.contains("records_max") || c.config.contains("profiles_per_upload"));
      kept_coming += keeps_coming;
      EXPECT_GE(c.act_nth, 1);
      EXPECT_LE(c.act_nth, 2);
      const Scenario s = case_scenario(*entry, c);
      const auto e = std::find_if(s.events.begin(), s.events.end(),
                                  [](const ControlEvent& e) { return e.kind == ControlEvent::Kind::fake; });
      ASSERT_NE(e, s.events.end());
      EXPECT_EQ(e->step, c.act_step);
      EXPECT_EQ(e->nth, c.act_nth);
      // Played at most once, and only at its step (a step never reached plays nothing).
      auto o = run_scenario(s);
      ASSERT_TRUE(o.ok()) << o.error().message;
      int acts = 0;
      for (const auto& te : o->events)
        if (const auto* rc = std::get_if<ev::RunControl>(&te.event); rc && rc->what == "fake") ++acts;
      EXPECT_LE(acts, 1);
      played += acts;
    }
    EXPECT_GE(at_step, 5) << entry->name;
    EXPECT_GE(at_time, 5) << entry->name;
    if (!entry->capabilities.stages) EXPECT_GE(kept_coming * 2, at_step) << entry->name;
    EXPECT_TRUE(steps.count("upload_answered")) << entry->name;
    if (entry->capabilities.polls) EXPECT_TRUE(steps.count("mid_poll")) << entry->name;
    // A case of one upload that completes at once reaches no poll and no
    // second upload: not every drawn step is reached, but a good share is.
    EXPECT_GE(played * 3, at_step) << entry->name << ": " << played << " of " << at_step << " acts at a step played";
    std::cerr << entry->name << ": " << played << " of " << at_step << " acts at a step played\n";
  }
  EXPECT_GE(destinations, 3);
}

// An act with companions (hostile variants under which its damage shows)
// falls at a step under one of them every act in turn, unless the case drew a
// hostile variant already, and in some of the other acts at a step; certify
// requires each companion met. (Snowpipe: "tables replaced", then channels
// dying every other insert, found the history rule fe4f476 fixed in 7 of
// seeds 1-10 of a default certify; the usual variants' rates in none of 5.)
TEST(CertifyOperatorActs, CompanionsFollowActsAtAStep) {
  const auto [entry, fake] = shipped_with([](const DestinationEntry&, const FakeEntry& f) {
    for (const auto& a : f.operator_acts)
      if (!a.companions.empty()) return true;
    return false;
  });
  ASSERT_NE(entry, nullptr) << "no shipped destination's fake declares an act with companions";
  ASSERT_EQ(fake->operator_acts.size(), 1u);
  const auto& companions = fake->operator_acts.front().companions;
  auto is_companion = [&](const std::string& label) {
    for (const auto& h : companions)
      if (h.label == label) return true;
    return false;
  };
  CertifyOptions opts;
  std::map<std::string, int> met;
  int in_turn = 0, drawn = 0;
  for (std::int64_t i = 0; i < 200; ++i) {
    const CaseSpec c = generate_case(*entry, 4, i, opts);
    if (!is_companion(c.hostile)) {
      if (i % 8 == 5) EXPECT_FALSE(c.hostile.empty()) << "case " << i << ": an act in turn without a companion";
      continue;
    }
    ++met[c.hostile];
    EXPECT_FALSE(c.act.empty()) << "case " << i << ": a companion without its act";
    EXPECT_FALSE(c.act_step.empty()) << "case " << i << ": a companion with an act at a time";
    EXPECT_LE(c.records, 100) << "case " << i << ": a hostile case keeps to 100 records";
    (i % 8 == 5 ? in_turn : drawn) += 1;
    // The written case runs the fake under the companion's options.
    const Scenario s = case_scenario(*entry, c);
    EXPECT_EQ(s.fake_options, *fake->hostile_options(c.hostile)) << "case " << i;
  }
  EXPECT_EQ(met.size(), companions.size());
  EXPECT_GE(in_turn, 15);
  EXPECT_GE(drawn, 1);
  // Required: cases that meet no companion leave it unreached.
  opts.cases = 5;
  opts.shrink = false;
  opts.seed = 4;
  auto few = certify({entry}, opts);
  ASSERT_TRUE(few.ok()) << few.error().message;
  const DestinationReport& d = few->destinations.at(0);
  for (const auto& h : companions) {
    const std::string label = "hostile." + h.label;
    EXPECT_NE(std::find(d.unreached.begin(), d.unreached.end(), label), d.unreached.end()) << label;
  }
  EXPECT_FALSE(d.certified());
}

// Certify refuses a read of an import's per-record results (the requests a
// fake declares as such) in a sixth of a bulk destination's cases, every sixth
// in turn, with a permanent 4xx the destination does not retry.
TEST(CertifyResultsRefused, DrawnOnTheDeclaredReads) {
  const auto [entry, fake] = shipped_with([](const DestinationEntry& e, const FakeEntry& f) {
    return e.capabilities.bulk && !f.results_reads.empty();
  });
  ASSERT_NE(entry, nullptr) << "no shipped bulk destination's fake declares its results reads";
  CertifyOptions opts;
  int drawn = 0;
  for (std::int64_t i = 0; i < 60; ++i) {
    const CaseSpec c = generate_case(*entry, 9, i, opts);
    const FaultRule* refusal = nullptr;
    for (const FaultRule& f : c.faults)
      if (f.note == "results read refused") refusal = &f;
    if (i % 6 == 3) EXPECT_NE(refusal, nullptr) << "case " << i << " must refuse a results read in turn";
    if (!refusal) continue;
    ++drawn;
    bool declared = false;
    for (const auto& r : fake->results_reads) declared |= r.method == refusal->method && r.path == refusal->path;
    EXPECT_TRUE(declared) << refusal->method << " " << refusal->path;
    EXPECT_EQ(refusal->kind, FaultKind::respond);
    EXPECT_GE(refusal->status, 400);
    EXPECT_LT(refusal->status, 500);
    EXPECT_FALSE(refusal->after);
    const auto& retryable = entry->capabilities.retryable_statuses;
    EXPECT_EQ(std::find(retryable.begin(), retryable.end(), refusal->status), retryable.end());
    EXPECT_GT(c.invalid.num, 0u) << "records the API rejects, so it has results to list";
  }
  EXPECT_GE(drawn, 10);
  EXPECT_LE(drawn, 25);
}

TEST(PropertyCheckers, EveryCatalogueIdHasACheckerHere) {
  // The tests above name each id of CONFORMANCE.md; this keeps the list honest
  // when an id is added to the catalogue.
  const std::set<std::string> covered = {"A1", "A2", "A3", "A4", "A5", "B1", "B2", "B3", "B4", "B5", "C1",
                                         "C2", "C3", "C4", "C5", "C6", "D1", "D2", "D3", "D4", "D5", "D6",
                                         "E1", "E2", "F1", "F2", "G1", "G2", "H1", "I1", "I2"};
  for (const auto& p : property_catalogue()) EXPECT_TRUE(covered.count(p.id)) << p.id << " has no checker test";
  EXPECT_EQ(covered.size(), property_catalogue().size());
}

}  // namespace
}  // namespace destsim
