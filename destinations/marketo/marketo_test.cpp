// End-to-end tests of the marketo_bulk_upload destination against the Marketo
// fake on the simulator: generated input with invalid rows, identical rows,
// error-code classification, unknown statuses, inconsistent counts, and a
// fresh manager reading an import back from its ImportRef alone (restart).
#include <gtest/gtest.h>

#include "conformance/testing.h"
#include "conformance/runner.h"
#include "destinations/bulk_destination.h"
#include "destinations/destination.h"
#include "fakes/marketo/marketo_api.h"
#include "fakes/sim_transport.h"
#include "framework/oracle.h"

namespace destsim {
namespace {

using namespace testing;  // conformance/testing.h

const char* kDest = R"("destination": {"name": "marketo_bulk_upload",
                       "config": {"client_id": "cid", "client_secret": {"secret": "sk-marketo"}}})";

TEST(MarketoEndToEnd, GeneratedRunWithInvalidRecordsFailsExactlyTheInvalidRows) {
  Scenario s = scenario(std::string(R"({"scenario": 1, "name": "gen", "seed": 31, )") + kDest + R"(,
    "input": {"generate": {"records": 4000, "invalid": "1/40", "payload_bytes": 300}, "pace": "1ms"},
    "expect": {"properties": ["A1", "A2", "A3", "A4", "B1", "G1", "H1", "I1"]}})");
  Outcome o = run(s);
  ASSERT_TRUE(o.world);
  std::int64_t invalid = 0;
  for (std::int64_t i = 0; i < o.input_size; ++i) {
    Record r = o.record(i);
    const bool bad = r.payload["email"].get<std::string>().find("-at-") != std::string::npos;
    invalid += bad;
    JobOutcome out = o.jobs().outcome(r.id);
    if (bad) {
      EXPECT_EQ(out.state, JobState::failed) << r.id;
      EXPECT_NE(out.reason.find("code 1001"), std::string::npos) << out.reason;
      EXPECT_NE(out.reason.find("Required of type 'email'"), std::string::npos) << out.reason;
    } else {
      EXPECT_EQ(out.state, JobState::succeeded) << r.id << " " << out.reason;
    }
  }
  EXPECT_GT(invalid, 60);
  EXPECT_LT(invalid, 160);
  auto acc = o.fake().accepted();
  EXPECT_EQ(acc["counts"]["leads"].get<std::int64_t>(), 4000 - invalid);
  EXPECT_EQ(acc["counts"]["applications"].get<std::int64_t>(), 4000 - invalid);
  const std::string lines = all_lines(o);
  EXPECT_EQ(lines.find("sk-marketo"), std::string::npos);   // the client secret never reaches the trace
  EXPECT_EQ(lines.find("mkto-token-"), std::string::npos);  // nor an access token
  EXPECT_EQ(count_text(lines, "/identity/oauth/token"), 1);   // one token for the whole run
}

TEST(MarketoEndToEnd, IdenticalRowsAreSentOnceAndShareTheirResult) {
  // Type "dup": ids 2k-1 and 2k produce identical rows. Add invalid pairs by hand.
  Scenario s = scenario(std::string(R"({"scenario": 1, "name": "dup", "seed": 32, )") + kDest + R"(,
    "input": {"generate": {"records": 200, "type": "dup"}},
    "expect": {"jobs": {"succeeded": 200}, "properties": ["A1", "A2", "A4"]}})");
  Outcome o = run(s);
  ASSERT_TRUE(o.world);
  auto acc = o.fake().accepted();
  ASSERT_EQ(acc["imports"].size(), 1u);
  EXPECT_EQ(acc["imports"][0]["rows"], 100);  // 200 jobs, 100 distinct rows
  EXPECT_EQ(acc["counts"]["leads"], 100);
  // Each distinct row applied once, and both jobs name that one effect.
  Record a = o.record(0), b = o.record(1);
  auto ka = o.entry->effects(a, o.config), kb = o.entry->effects(b, o.config);
  ASSERT_EQ(ka.size(), 1u);
  EXPECT_EQ(ka, kb);
  EXPECT_EQ(o.fake().applied(ka[0]), 1);

  // Identical failing and warned rows: each job gets the shared row's verdict.
  Scenario lit = scenario(std::string(R"({"scenario": 1, "name": "dup-lit", "seed": 33, )") + kDest + R"(,
    "fake": {"options": {"field_max_length": 10}},
    "input": {"records": [
      {"id": 1, "payload": {"email": "bad@", "firstName": "X"}},
      {"id": 2, "payload": {"email": "ok@x.io", "firstName": "Short"}},
      {"id": 3, "payload": {"email": "bad@", "firstName": "X"}},
      {"id": 4, "payload": {"email": "long@x.io", "title": "Much too long a title"}},
      {"id": 5, "payload": {"email": "long@x.io", "title": "Much too long a title"}},
      {"id": 6, "payload": {"email": "ok@x.io", "firstName": "Short"}}]},
    "expect": {"job": {"1": {"state": "failed", "reason_contains": "code 1001"},
                       "3": {"state": "failed", "reason_contains": "code 1001"},
                       "2": "succeeded", "4": "succeeded", "5": "succeeded", "6": "succeeded"},
               "fake": {"/imports/0/rows": 3, "/imports/0/numOfRowsFailed": 1, "/imports/0/numOfRowsWithWarning": 1},
               "properties": ["A1", "A2", "A4"]}})");
  Outcome ol = run(lit);
  ASSERT_TRUE(ol.world);
  EXPECT_EQ(ol.jobs().outcome(1).reason, ol.jobs().outcome(3).reason);
}

TEST(MarketoEndToEnd, ErrorCodesAreClassified) {
  // 1016 and 606 retry (then succeed); 603 fails at once naming the code.
  Scenario retry = scenario(std::string(R"({"scenario": 1, "name": "codes", "seed": 34, )") + kDest + R"(,
    "input": {"generate": {"records": 50}},
    "faults": [{"match": {"method": "POST", "path": "/bulk/v1/leads.json"}, "times": 1,
                "respond": {"status": 200, "json": {"success": false, "errors": [{"code": "1016", "message": "Too many imports"}]}}},
               {"match": {"method": "POST", "path": "/bulk/v1/leads.json"}, "times": 1,
                "respond": {"status": 200, "json": {"success": false, "errors": [{"code": "606", "message": "Max rate limit"}]}}}],
    "expect": {"jobs": {"succeeded": 50}, "fake": {"/counts/imports": 1}, "properties": ["A1", "A2", "A4"]}})");
  Outcome o = run(retry);
  ASSERT_TRUE(o.world);
  EXPECT_EQ(o.destination_stats["upload_retries"], 2);

  Scenario denied = scenario(std::string(R"({"scenario": 1, "name": "denied", "seed": 35, )") + kDest + R"(,
    "input": {"generate": {"records": 5}},
    "faults": [{"match": {"method": "POST", "path": "/bulk/v1/leads.json"},
                "respond": {"status": 200, "json": {"success": false, "errors": [{"code": "603", "message": "Access denied"}]}}}],
    "expect": {"jobs": {"failed": 5}, "job": {"1": {"state": "failed", "reason_contains": "code 603: Access denied"}},
               "requests": 2, "properties": ["A1", "A2", "A4"]}})");
  run(denied);

  Scenario too_large = scenario(std::string(R"({"scenario": 1, "name": "413", "seed": 36, )") + kDest + R"(,
    "input": {"generate": {"records": 5}},
    "faults": [{"match": {"method": "POST", "path": "/bulk/v1/leads.json"}, "too_large": {"max_body": "100B"}}],
    "expect": {"jobs": {"failed": 5}, "job": {"2": {"state": "failed", "reason_contains": "HTTP 413: upload too large"}},
               "properties": ["A1", "A2", "A4"]}})");
  Outcome t = run(too_large);
  ASSERT_TRUE(t.world);
  EXPECT_NE(t.jobs().outcome(2).reason.find("10 MB"), std::string::npos);

  Scenario bad_creds = scenario(R"({"scenario": 1, "name": "creds", "seed": 37,
    "destination": {"name": "marketo_bulk_upload", "config": {"client_id": "cid", "client_secret": {"secret": "wrong"}}},
    "fake": {"options": {"client_secret": "right"}},
    "input": {"generate": {"records": 3}},
    "expect": {"jobs": {"failed": 3}, "job": {"1": {"state": "failed", "reason_contains": "token request: HTTP 401"}},
               "requests": 1, "properties": ["A1", "A4"]}})");
  run(bad_creds);
}

TEST(MarketoEndToEnd, UnknownStatusIsNeverTakenForDoneAndEndsAtThePollTimeout) {
  Scenario s = scenario(std::string(R"({"scenario": 1, "name": "weird", "seed": 38,
    "destination": {"name": "marketo_bulk_upload",
                    "config": {"client_id": "cid", "client_secret": {"secret": "s"}, "poll_timeout": "5m"}},
    "input": {"generate": {"records": 10}},
    "faults": [{"match": {"method": "GET", "path": "/bulk/v1/leads/batch/*"},
                "respond": {"status": 200, "json": {"success": true, "result": [{"batchId": 1001, "status": "Paused"}]}}}],
    "expect": {"jobs": {"aborted": 10, "unknown": 10},
               "job": {"4": {"state": "aborted", "reason_contains": "poll timeout", "outcome_unknown": true}},
               "properties": ["A1", "A2", "A4", "G1"]}})"));
  Outcome o = run(s);
  ASSERT_TRUE(o.world);
  EXPECT_GE(o.destination_stats["poll_faults"].get<int>(), 25);  // each unknown status was a transient poll
  EXPECT_EQ(o.destination_stats["stats_calls"], 0);
}

TEST(MarketoEndToEnd, CountsThatDoNotAddUpLeaveJobsToBeRetried) {
  // The first poll and results read see "Complete" with counts that account for
  // nothing: no job may be assumed delivered (D4); they are uploaded again.
  Scenario s = scenario(std::string(R"({"scenario": 1, "name": "counts", "seed": 39, )") + kDest + R"(,
    "input": {"generate": {"records": 20}},
    "faults": [{"match": {"method": "GET", "path": "/bulk/v1/leads/batch/*"}, "times": 2,
                "respond": {"status": 200, "json": {"success": true, "result": [{"batchId": 1001, "status": "Complete",
                  "numOfLeadsProcessed": 3, "numOfRowsFailed": 0, "numOfRowsWithWarning": 0}]}}}],
    "expect": {"jobs": {"succeeded": 20}, "fake": {"/counts/imports": 2}, "properties": ["A1", "A2", "A3", "A4"]}})");
  Outcome o = run(s);
  ASSERT_TRUE(o.world);
  EXPECT_EQ(o.destination_stats["uploads"], 2);
}

TEST(MarketoEndToEnd, BadConfigAndBadRecordsNameTheProblem) {
  Scenario cfg = scenario(R"({"scenario": 1, "name": "cfg",
    "destination": {"name": "marketo_bulk_upload",
                    "config": {"client_id": "c", "client_secret": "s", "columns": ["firstName", "lastName"]}},
    "input": {"generate": {"records": 1}}})");
  auto o = run_scenario(cfg);
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.error().message.find("lookup_field: \"email\" is not one of the columns"), std::string::npos)
      << o.error().message;

  Scenario rec = scenario(std::string(R"({"scenario": 1, "name": "rec", )") + kDest + R"(,
    "input": {"records": [{"id": 1, "payload": {"email": "a@x.io", "shoeSize": 9}},
                          {"id": 2, "payload": {"firstName": "NoEmail"}},
                          {"id": 3, "payload": {"email": "c@x.io", "firstName": ["x"]}},
                          {"id": 4, "payload": {"email": "d@x.io", "leadScore": 7}}]},
    "expect": {"job": {"1": {"state": "failed", "reason_contains": "field \"shoeSize\" is not a configured column"},
                       "2": {"state": "failed", "reason_contains": "needs a value for the lookup field \"email\""},
                       "3": {"state": "failed", "reason_contains": "expected a string"},
                       "4": "succeeded"},
               "properties": ["A1", "A2", "A4"]}})");
  run(rec);
}

// A fresh manager (as after a crash and restart) polls and reads the results of
// an import from the stored ImportRef alone, identical rows included.
Task<void> upload_then_read(BulkDestination& first, BulkDestination& fresh, Loop& loop,
                            std::vector<BulkItem>& items, UploadOutcome& up, StatsOutcome& stats) {
  std::vector<const BulkItem*> view;
  for (const auto& i : items) view.push_back(&i);
  up = co_await first.manager().upload(view);
  if (up.kind != UploadOutcome::Kind::importing) co_return;
  ImportRef stored;
  stored.import_id = up.import.import_id;
  stored.jobs = up.import.jobs;
  stored.params = nlohmann::json::parse(up.import.params.dump());  // as the job store keeps it
  bool done = false;
  for (int i = 0; i < 100 && !done; ++i) {
    co_await loop.sleep(std::chrono::seconds(10));
    PollOutcome p = co_await fresh.manager().poll(stored);
    done = !p.transient && p.status == ImportStatus::completed;
  }
  if (done) stats = co_await fresh.manager().upload_stats(stored);
}

TEST(MarketoManager, AFreshManagerMapsResultsFromTheStoredImportRef) {
  MarketoApiOptions fo;
  fo.client_id = "cid";
  fo.client_secret = "csec";
  MarketoApi api(fo);
  testing::SimRig rig("marketo_bulk_upload", api);
  Loop& loop = rig.loop;
  const nlohmann::json config = {{"client_id", "cid"}, {"client_secret", "csec"}};
  auto d1 = rig.make(config);
  auto d2 = rig.make(config);
  ASSERT_TRUE(d1 && d2);
  auto& first = static_cast<BulkDestination&>(*d1);
  auto& fresh = static_cast<BulkDestination&>(*d2);
  std::vector<nlohmann::json> payloads = {
      {{"email", "a@x.io"}, {"firstName", "A, \"the\" first"}},
      {{"email", "bad"}},
      {{"email", "a@x.io"}, {"firstName", "A, \"the\" first"}},
      {{"email", "b@x.io"}},
      {{"email", "bad"}},
  };
  std::vector<BulkItem> items;
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    Record r;
    r.id = 10 + i;
    r.payload = payloads[i];
    auto item = first.manager().transform(r);
    ASSERT_TRUE(item.ok());
    items.push_back(*item);
  }
  UploadOutcome up;
  StatsOutcome stats;
  loop.spawn(upload_then_read(first, fresh, loop, items, up, stats));
  ASSERT_TRUE(loop.run_until_idle().ok());
  ASSERT_EQ(up.kind, UploadOutcome::Kind::importing) << up.reason;
  EXPECT_EQ(up.import.jobs, (std::vector<JobId>{10, 11, 12, 13, 14}));
  EXPECT_EQ(up.import.params["rows"].size(), 3u);
  EXPECT_EQ(up.import.params["jobs"], nlohmann::json::parse("[[10,12],[11,14],[13]]"));
  ASSERT_FALSE(stats.transient) << stats.reason;
  std::map<JobId, MessageResult> by_id;
  for (const auto& r : stats.results) by_id[r.id] = r;
  ASSERT_EQ(by_id.size(), 5u);
  EXPECT_EQ(by_id[10].verdict, Verdict::ok);
  EXPECT_EQ(by_id[12].verdict, Verdict::ok);
  EXPECT_EQ(by_id[13].verdict, Verdict::ok);
  EXPECT_EQ(by_id[11].verdict, Verdict::fail);
  EXPECT_EQ(by_id[14].verdict, Verdict::fail);
  EXPECT_NE(by_id[14].reason.find("code 1001"), std::string::npos) << by_id[14].reason;
  EXPECT_EQ(api.lead("email", "a@x.io")["firstName"], "A, \"the\" first");
  EXPECT_EQ(api.accepted()["counts"]["tokens_issued"], 1);  // both managers got the same live token
}

}  // namespace
}  // namespace destsim
