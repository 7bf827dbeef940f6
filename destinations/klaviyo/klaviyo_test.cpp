// End-to-end tests of the klaviyo_bulk_upload destination against the Klaviyo
// fake on the simulator: stripping profiles a 400 names, the poll lifecycle
// (cancelled, stuck, unknown status, throttled polls), import errors over many
// pages mapped back to jobs, and a fresh manager following an import from its
// stored ImportRef alone.
#include <gtest/gtest.h>

#include "conformance/testing.h"
#include "conformance/runner.h"
#include "destinations/bulk_destination.h"
#include "destinations/destination.h"
#include "fakes/klaviyo/klaviyo_api.h"
#include "fakes/sim_transport.h"
#include "framework/json_in.h"

#include <set>

namespace destsim {
namespace {

using namespace testing;  // conformance/testing.h

const char* kProps = R"(["A1", "A2", "A3", "A4", "B1", "G1", "H1", "I1"])";

TEST(KlaviyoEndToEnd, MixedInvalidProfilesAcrossSeveralImports) {
  Scenario s = scenario(std::string(R"({"scenario": 1, "name": "mixed", "seed": 17,
    "destination": {"name": "klaviyo_bulk_upload",
                    "config": {"private_api_key": {"secret": "pk-mixed"}, "profiles_per_upload": 700}},
    "input": {"generate": {"records": 2000, "invalid": "1/25"}, "pace": "1ms"},
    "expect": {"properties": )") + kProps + "}}");
  Outcome o = run(s);
  JobCounts c = o.jobs().counts();
  EXPECT_EQ(c.total(), 2000u);
  EXPECT_EQ(c.pending, 0u);
  EXPECT_EQ(c.aborted, 0u);
  EXPECT_GT(c.failed, 40u);  // ~1/25 invalid, of two kinds
  EXPECT_LT(c.failed, 130u);
  std::int64_t sync = 0, async = 0;
  for (JobId id : o.jobs().ids()) {
    JobOutcome out = o.jobs().outcome(id);
    if (out.state != JobState::failed) continue;
    if (out.reason.find("HTTP 400 code invalid") != std::string::npos &&
        out.reason.find("Invalid email address") != std::string::npos)
      ++sync;
    else if (out.reason.find("import error code invalid_phone_number") != std::string::npos)
      ++async;
    else
      ADD_FAILURE() << "job " << id << ": " << out.reason;
  }
  EXPECT_GT(sync, 10);
  EXPECT_GT(async, 10);
  nlohmann::json acc = o.fake().accepted();
  EXPECT_EQ(acc["profile_count"].get<std::int64_t>(), static_cast<std::int64_t>(c.succeeded));
  EXPECT_EQ(acc["import_errors"].get<std::int64_t>(), async);
  EXPECT_EQ(acc["jobs"].size(), 3u);  // 2000 profiles at 700 per upload
  EXPECT_EQ(all_lines(o).find("pk-mixed"), std::string::npos);  // the secret never reaches the trace
}

TEST(KlaviyoEndToEnd, A400StripsExactlyTheNamedProfilesAndSendsTheRestAtOnce) {
  Scenario s = scenario(R"({"scenario": 1, "name": "strip",
    "destination": {"name": "klaviyo_bulk_upload", "config": {"private_api_key": "k"}},
    "input": {"records": [
      {"id": 1, "payload": {"email": "a@x.io", "first_name": "A"}},
      {"id": 2, "payload": {"email": "b@x.io"}},
      {"id": 3, "payload": {"email": "c-at-x.io"}},
      {"id": 4, "payload": {"external_id": "ext-4", "plan": "pro"}},
      {"id": 5, "payload": {"email": "e@x@io"}},
      {"id": 6, "payload": {"phone_number": "+14155550106"}}]},
    "expect": {"job": {"1": "succeeded", "2": "succeeded", "4": "succeeded", "6": "succeeded",
                       "3": {"state": "failed", "reason_contains": "/data/attributes/profiles/data/2/attributes/email"},
                       "5": {"state": "failed", "reason_contains": "Invalid email address: \"e@x@io\""}},
               "requests": {"by_status": {"400": 1, "202": 1}},
               "fake": {"/jobs/0/total_count": 4, "/profile_count": 4,
                        "/profiles/external_id:ext-4/properties/plan": "pro"},
               "properties": ["A1", "A2", "A4"]}})");
  Outcome o = run(s);
  EXPECT_EQ(o.jobs().outcome(3).reason.find("HTTP 400 code invalid"), 0u) << o.jobs().outcome(3).reason;
}

TEST(KlaviyoEndToEnd, NoIdentifierOrOversizedProfileFailsAtTransformWithoutARequest) {
  const std::string pad(120'000, 'x');
  Scenario s = scenario(R"({"scenario": 1, "name": "transform",
    "destination": {"name": "klaviyo_bulk_upload", "config": {"private_api_key": "k"}},
    "input": {"records": [
      {"id": 1, "payload": {"first_name": "Nobody"}},
      {"id": 2, "payload": {"email": "big@x.io", "properties": {"pad": ")" + pad + R"("}}},
      {"id": 3, "payload": {"email": 42}},
      {"id": 4, "payload": {"email": "ok@x.io", "location": {"planet": "Mars"}}}]},
    "expect": {"jobs": {"failed": 4},
               "job": {"1": {"state": "failed", "reason_contains": "needs an email, phone_number or external_id"},
                       "2": {"state": "failed", "reason_contains": "profile too large"},
                       "3": {"state": "failed", "reason_contains": "email: expected a string"},
                       "4": {"state": "failed", "reason_contains": "location/planet"}},
               "requests": 0, "properties": ["A1", "A4"]}})");
  run(s);
}

TEST(KlaviyoEndToEnd, ImportErrorsOverManyPagesMapBackToTheirOwnJobs) {
  Scenario s = scenario(std::string(R"({"scenario": 1, "name": "pages", "seed": 4,
    "destination": {"name": "klaviyo_bulk_upload", "config": {"private_api_key": "k"}},
    "input": {"generate": {"records": 900, "type": "bad_phone", "invalid": "1/3"}},
    "expect": {"properties": )") + kProps + "}}");
  Outcome o = run(s);
  JobCounts c = o.jobs().counts();
  EXPECT_GT(c.failed, 250u);  // over two pages of 100, far over the peer's 20
  EXPECT_EQ(c.succeeded + c.failed, 900u);
  for (JobId id : o.jobs().ids()) {
    JobOutcome out = o.jobs().outcome(id);
    if (out.state != JobState::failed) continue;
    // The error's detail quotes the job's own phone number ("555-01<id>"): mapped to the right job.
    EXPECT_NE(out.reason.find("import error code invalid_phone_number"), std::string::npos) << out.reason;
    EXPECT_NE(out.reason.find("\"555-01" + std::to_string(id) + "\""), std::string::npos) << id << ": " << out.reason;
  }
  std::string lines = all_lines(o);
  // Every page of 100 errors is read, once (no faults here), not only the first 20 errors.
  EXPECT_EQ(count_text(lines, "/import-errors\",\"bytes\":0"), static_cast<std::int64_t>((c.failed + 99) / 100));
  EXPECT_EQ(o.fake().accepted()["import_errors"].get<std::uint64_t>(), c.failed);
}

TEST(KlaviyoEndToEnd, CancelledImportIsReuploadedNotSpunOn) {
  Scenario s = scenario(R"({"scenario": 1, "name": "cancel",
    "destination": {"name": "klaviyo_bulk_upload", "config": {"private_api_key": "k", "retry_delay_initial": "1s"}},
    "fake": {"options": {"cancel_jobs": [1]}},
    "input": {"generate": {"records": 30}},
    "expect": {"jobs": {"succeeded": 30}, "requests": {"by_status": {"202": 2}},
               "fake": {"/jobs/0/status": "cancelled", "/jobs/1/status": "complete"},
               "properties": ["A1", "A2", "A3"]}})");
  Outcome o = run(s);
  EXPECT_NE(all_lines(o).find("\"status\":\"failed\""), std::string::npos);  // the poll saw the cancellation
}

TEST(KlaviyoEndToEnd, StuckAndUnknownStatusEndAtThePollTimeoutWithOutcomeUnknown) {
  Scenario stuck = scenario(R"({"scenario": 1, "name": "stuck",
    "destination": {"name": "klaviyo_bulk_upload",
                    "config": {"private_api_key": "k", "poll_timeout": "30m", "poll_interval": "1m"}},
    "fake": {"options": {"processing_for": "8h"}},
    "input": {"generate": {"records": 10}},
    "expect": {"jobs": {"aborted": 10, "unknown": 10}, "within": "1h", "properties": ["A1", "A2", "A4", "G1"]}})");
  Outcome a = run(stuck);
  EXPECT_NE(a.jobs().outcome(1).reason.find("poll timeout"), std::string::npos) << a.jobs().outcome(1).reason;

  // A status string Klaviyo does not document: never taken as complete or failed.
  Scenario unknown = scenario(R"({"scenario": 1, "name": "unknown",
    "destination": {"name": "klaviyo_bulk_upload",
                    "config": {"private_api_key": "k", "poll_timeout": "20m", "poll_interval": "1m"}},
    "input": {"generate": {"records": 10}},
    "faults": [{"match": {"method": "GET", "path": "/api/profile-bulk-import-jobs/*"},
                "respond": {"status": 200, "json": {"data": {"type": "profile-bulk-import-job", "id": "x",
                                                     "attributes": {"status": "paused"}}}}}],
    "expect": {"jobs": {"aborted": 10, "unknown": 10}, "properties": ["A1", "A2", "A4"]}})");
  Outcome b = run(unknown);
  std::string lines = all_lines(b);
  EXPECT_EQ(lines.find("\"status\":\"completed\""), std::string::npos);
  EXPECT_GE(count_text(lines, "\"status\":\"fault\""), 15);
}

TEST(KlaviyoEndToEnd, ThrottledPollsAndTimeoutsAreRetriedNotFailed) {
  Scenario s = scenario(std::string(R"({"scenario": 1, "name": "faults", "seed": 8,
    "destination": {"name": "klaviyo_bulk_upload", "config": {"private_api_key": "k"}},
    "input": {"generate": {"records": 400, "type": "bad_phone", "invalid": "1/10"}},
    "faults": [
      {"match": {"method": "POST"}, "times": 1, "timeout": "after"},
      {"match": {"method": "GET", "path": "*/import-errors"}, "times": 2, "respond": {"status": 503}},
      {"match": {"method": "GET"}, "window": ["0s", "3m"], "rate_limit": {"retry_after": "40s"}}],
    "expect": {"jobs": {"aborted": 0}, "properties": )") + kProps + "}}");
  Outcome o = run(s);
  JobCounts c = o.jobs().counts();
  EXPECT_EQ(c.succeeded + c.failed, 400u);
  EXPECT_GT(c.failed, 20u);
  // The timed-out upload had been applied: the re-upload is an upsert, flagged as resent after an unknown outcome.
  EXPECT_TRUE(o.jobs().outcome(1).resent_after_unknown || o.jobs().outcome(1).state == JobState::failed);
  EXPECT_EQ(o.fake().accepted()["jobs"].size(), 2u);
}

// After a restart a fresh manager has only the stored ImportRef: poll and
// upload_stats must map results back from its params alone.
TEST(KlaviyoManager, AFreshManagerFollowsAnImportFromItsStoredRef) {
  KlaviyoApiOptions fo;
  fo.api_key = "k";
  KlaviyoApi api(fo);
  testing::SimRig rig("klaviyo_bulk_upload", api);
  Loop& loop = rig.loop;
  auto first = rig.make({{"private_api_key", "k"}});
  auto second = rig.make({{"private_api_key", "k"}});
  ASSERT_TRUE(first && second);
  AsyncDestinationManager& m1 = static_cast<BulkDestination&>(*first).manager();
  AsyncDestinationManager& m2 = static_cast<BulkDestination&>(*second).manager();

  std::vector<BulkItem> items;
  for (JobId id = 1; id <= 6; ++id) {
    Record r;
    r.id = id;
    r.payload = {{"email", id == 2 ? "bad-email" : "u" + std::to_string(id) + "@x.io"}};
    if (id == 5) r.payload["phone_number"] = "12345";  // fails at import
    auto item = m1.transform(r);
    ASSERT_TRUE(item.ok());
    items.push_back(*item);
  }
  UploadOutcome up;
  PollOutcome polled;
  StatsOutcome stats;
  loop.spawn([](AsyncDestinationManager& a, AsyncDestinationManager& b, Loop& l, std::vector<BulkItem>& its,
                UploadOutcome& u, PollOutcome& p, StatsOutcome& st) -> Task<void> {
    std::vector<const BulkItem*> view;
    for (const auto& i : its) view.push_back(&i);
    u = co_await a.upload(view);
    ImportRef stored;  // as the job store keeps it: JSON round trip
    stored.import_id = u.import.import_id;
    stored.jobs = u.import.jobs;
    stored.params = nlohmann::json::parse(u.import.params.dump());
    co_await l.sleep(std::chrono::minutes(5));
    p = co_await b.poll(stored);
    st = co_await b.upload_stats(stored);
  }(m1, m2, loop, items, up, polled, stats));
  ASSERT_TRUE(loop.run_until_idle().ok());
  ASSERT_EQ(up.kind, UploadOutcome::Kind::importing) << up.reason;
  EXPECT_EQ(up.import.jobs, (std::vector<JobId>{1, 3, 4, 5, 6}));
  ASSERT_EQ(up.results.size(), 1u);
  EXPECT_EQ(up.results[0].id, 2u);
  EXPECT_EQ(up.results[0].verdict, Verdict::fail);
  EXPECT_FALSE(polled.transient);
  EXPECT_EQ(polled.status, ImportStatus::completed);
  ASSERT_FALSE(stats.transient) << stats.reason;
  std::map<JobId, Verdict> v;
  for (const auto& r : stats.results) v[r.id] = r.verdict;
  EXPECT_EQ(v, (std::map<JobId, Verdict>{{1, Verdict::ok}, {3, Verdict::ok}, {4, Verdict::ok},
                                         {5, Verdict::fail}, {6, Verdict::ok}}));
  EXPECT_TRUE(m2.idempotent());
}

TEST(KlaviyoDestination, DeclaresItsCapabilitiesAndRejectsBadConfig) {
  const DestinationEntry* e = find_destination("klaviyo_bulk_upload");
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->capabilities.bulk);
  EXPECT_TRUE(e->capabilities.idempotent_writes);
  EXPECT_EQ(e->capabilities.limits.records_max, 10'000);
  EXPECT_EQ(e->capabilities.limits.bytes_max, 5'000'000);
  EXPECT_EQ(e->capabilities.retryable_statuses, (std::vector<int>{408, 429, 500, 502, 503, 504}));
  auto missing = Config::resolve(nlohmann::json::object(), "klaviyo_bulk_upload", e->schema);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("private_api_key"), std::string::npos) << missing.error().message;
  auto too_many = Config::resolve({{"private_api_key", "k"}, {"profiles_per_upload", 20000}}, "klaviyo_bulk_upload",
                                  e->schema);
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.error().message.find("profiles_per_upload"), std::string::npos);
  // Effects name the profile the fake applies.
  Record r;
  r.id = 1;
  r.payload = {{"email", "a@x.io"}, {"plan", "pro"}};
  auto keys = e->effects(r, Config());
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].rfind("klaviyo.profile#", 0), 0u);
}

// records_from_request (import-har) undoes what the destination sends: every
// record comes back from the import jobs' bodies as its payload; polls and
// import-error reads carry none.
TEST(KlaviyoDestination, RecordsComeBackFromTheImportJobsThatCarriedThem) {
  KlaviyoApiOptions fo;
  fo.api_key = "k";
  KlaviyoApi api(fo);
  Recorder recorder(api);
  SimRig rig("klaviyo_bulk_upload", recorder);
  auto dest = rig.make({{"private_api_key", "k"}, {"profiles_per_upload", 9}});
  ASSERT_TRUE(dest && rig.entry.records_from_request);
  Rng rng(5);
  std::vector<Record> input;
  std::set<std::string> want, got;
  for (JobId id = 1; id <= 40; ++id) {
    Record r = rig.entry.generate(rng, id, GenerateOptions{});
    want.insert(r.payload.dump());
    input.push_back(std::move(r));
  }
  rig.deliver(*dest, std::move(input));
  ASSERT_EQ(rig.jobs.counts().succeeded, 40u);
  int reads = 0;
  for (const Request& r : recorder.seen) {
    auto payloads = rig.entry.records_from_request(r.method, r.path_only(), parse_json_body(r.body));
    if (r.method == "GET") {
      ++reads;
      EXPECT_TRUE(payloads.empty()) << r.path;
    }
    for (const auto& p : payloads) got.insert(p.dump());
  }
  EXPECT_EQ(got, want);
  EXPECT_GT(reads, 0);
}

}  // namespace
}  // namespace destsim
