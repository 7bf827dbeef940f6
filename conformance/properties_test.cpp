// Every property checker, seen failing and seen passing, on hand-built
// outcomes: the declared contract (a test entry + config), a job store, an
// oracle fake and typed trace events written by hand. A checker that is never
// seen failing is not a check (CONFORMANCE.md: "Each checker has a
// hand-built outcome that fails it").
#include "conformance/properties.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "conformance/certify.h"
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
  std::map<std::string, std::int64_t> applied_;
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
    at(t, ev::HttpResponse{req, status, 10, false, std::nullopt});
  }
  void all_succeed(std::int64_t t = kSec) {
    for (std::int64_t i = 1; i <= o.input_size; ++i) end(static_cast<JobId>(i), JobState::succeeded, "", t);
  }
  void all_succeed_from(JobId first, std::int64_t t = kSec) {
    for (auto i = static_cast<std::int64_t>(first); i <= o.input_size; ++i)
      end(static_cast<JobId>(i), JobState::succeeded, "", t);
  }
  void applied(JobId id, std::int64_t n) { fake.applied_["rec:" + std::to_string(id)] = n; }
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
  void one(std::int64_t t, JobId id, int attempt, std::string verdict, int http, bool too_large = false) {
    at(t, ev::OneSent{"h", static_cast<std::int64_t>(id), attempt, std::move(verdict), t, 0, http, std::nullopt,
                      too_large});
  }
  // A bulk upload of `ids` accepted at `t` as import `imp`, then its polls.
  void upload(std::int64_t key, std::int64_t t, std::vector<JobId> ids, int attempt = 1) {
    const auto n = static_cast<std::int64_t>(ids.size());
    at(t, ev::UploadStart{key, n, JobIds{std::move(ids)}, t, 0, attempt});
    at(t, ev::UploadResult{"m", key, n, "importing", "imp" + std::to_string(key), n, 0, 0, 0, 0});
  }
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
  Evidence unknown(false);
  unknown.end(1, JobState::succeeded);
  unknown.end(2, JobState::succeeded);
  unknown.end(3, JobState::aborted, "timeout", kSec, true);
  unknown.applied(3, 1);  // applied, and the job says it cannot know
  EXPECT_PASS(unknown, "A2");
}

TEST(PropertyCheckers, A3Duplicates) {
  Evidence good(false);
  good.all_succeed();
  EXPECT_PASS(good, "A3");
  Evidence dup(false);
  dup.all_succeed();
  dup.applied(1, 2);
  EXPECT_FAIL(dup, "A3");
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
  missing.at(kSec, ev::UploadResult{"m", 1, 3, "importing", "imp1", 2, 0, 1, 0, 0});
  EXPECT_FAIL(missing, "A5");
  Evidence foreign(true);
  foreign.at(kSec, ev::UploadResult{"m", 1, 3, "importing", "imp1", 3, 1, 0, 0, 1});
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
  Evidence good(false);
  good.o.destination_stats = {{"endpoints", 1}};
  good.o.transport_stats.in_flight_max = 50;  // max_async_requests 50 x individual 1
  EXPECT_PASS(good, "B4");
  Evidence over(false);
  over.o.destination_stats = {{"endpoints", 1}};
  over.o.transport_stats.in_flight_max = 51;
  EXPECT_FAIL(over, "B4");
  Evidence bulk(true);
  bulk.o.destination_stats = {{"imports_in_flight_max", 3}};  // imports_in_flight 2
  EXPECT_FAIL(bulk, "B4");
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
}

TEST(PropertyCheckers, C4TooLarge) {
  Evidence good(false);
  good.batch(kSec, {1, 2}, 1, "retry_individual", 413, std::nullopt, true);
  good.one(2 * kSec, 1, 1, "ok", 200);
  good.one(2 * kSec, 2, 1, "fail", 413, true);
  good.end(1, JobState::succeeded);
  good.end(2, JobState::failed, "too large alone (413)");
  EXPECT_PASS(good, "C4");
  Evidence same(false);
  same.batch(kSec, {1, 2}, 1, "retry_batch", 413, std::nullopt, true);
  same.batch(2 * kSec, {1, 2}, 2, "success", 200);
  EXPECT_FAIL(same, "C4");
  Evidence alone(false);
  alone.one(kSec, 2, 1, "fail", 413, true);
  alone.end(2, JobState::failed, "HTTP 413");  // not failed *as too large*
  EXPECT_FAIL(alone, "C4");
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
  good.at(kSec, ev::HttpResponse{1, 429, 0, true, std::string("60")});
  good.at(61 * kSec, ev::HttpRequest{2, "POST", "api", "/x", 10});
  good.at(2 * kSec, ev::HttpRequest{3, "POST", "api", "/other", 10});  // another endpoint
  EXPECT_PASS(good, "I1");
  Evidence rude(false);
  rude.at(0, ev::HttpRequest{1, "POST", "api", "/x", 10});
  rude.at(kSec, ev::HttpResponse{1, 503, 0, true, std::string("60")});
  rude.at(30 * kSec, ev::HttpRequest{2, "POST", "api", "/x", 10});
  EXPECT_FAIL(rude, "I1");
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
