// End-to-end tests of the eloqua destination against the Eloqua fake on the
// simulator: the base URL from /id, every page of the field list, data POSTs
// split at the 32 MB limit, warning syncs mapped back by recordIndex across
// pages of rejects, error syncs retried, the definition deleted at every end,
// leftovers after a crash cleaned up, the errorSeverity Retry-After honoured.
#include <gtest/gtest.h>

#include "conformance/runner.h"
#include "conformance/testing.h"
#include "destinations/destination.h"

namespace destsim {
namespace {

using namespace testing;  // conformance/testing.h

const char* kProps = R"(["A1", "A2", "A3", "A4", "B1", "D1", "D3", "E1", "G1", "H1", "I1"])";

std::string config(const std::string& extra = "") {
  return R"({"company": "Acme", "username": "destsim", "password": {"secret": "pw-test"})" + extra + "}";
}

std::string fake(const std::string& extra = "") {
  return R"({"options": {"company": "Acme", "username": "destsim", "password": "pw-test")" + extra + "}}";
}

TEST(EloquaEndToEnd, WarningSyncsMapRejectsBackByRecordIndexAcrossPages) {
  // Small pages everywhere: the field list and the rejects take several pages each.
  Scenario s = scenario(R"({"scenario": 2, "name": "warning", "seed": 9,
    "destination": {"name": "eloqua", "config": )" + config(R"(, "records_max": 500)") + R"(},
    "fake": )" + fake(R"(, "page_size_max": 3)") + R"(,
    "input": {"generate": {"records": 1200, "invalid": "1/15"}, "pace": "1ms"},
    "expect": {"properties": )" + kProps + "}}");
  Outcome o = run(s);
  const JobCounts c = o.jobs().counts();
  EXPECT_EQ(c.total(), 1200u);
  EXPECT_EQ(c.pending, 0u);
  EXPECT_EQ(c.aborted, 0u);
  EXPECT_GT(c.failed, 40u);
  EXPECT_LT(c.failed, 130u);
  for (JobId id : o.jobs().ids()) {
    const JobOutcome out = o.jobs().outcome(id);
    if (out.state == JobState::failed)
      EXPECT_EQ(out.reason.rfind("rejected by Eloqua: ELQ-0000", 0), 0u) << "job " << id << ": " << out.reason;
  }
  const nlohmann::json acc = o.fake().accepted();
  EXPECT_EQ(acc["rejects"].get<std::int64_t>(), static_cast<std::int64_t>(c.failed));
  EXPECT_EQ(acc["applications"].get<std::int64_t>(), static_cast<std::int64_t>(c.succeeded));
  EXPECT_EQ(acc["imports"].size(), 3u);   // 1200 rows at 500 per import
  EXPECT_EQ(acc["live_imports"], 0);       // every definition deleted
  EXPECT_EQ(all_lines(o).find("pw-test"), std::string::npos);
}

TEST(EloquaEndToEnd, AnImportOverOneDataPostIsStagedInSeveralUnderTheLimit) {
  // A 4 KB data POST limit on both sides: each import's rows go in several POSTs.
  Scenario s = scenario(R"({"scenario": 2, "name": "split",
    "destination": {"name": "eloqua", "config": )" + config(R"(, "data_post_bytes_max": 4096)") + R"(},
    "fake": )" + fake(R"(, "data_bytes_max": 4096)") + R"(,
    "input": {"generate": {"records": 300}},
    "expect": {"jobs": {"succeeded": 300}, "requests": {"by_status": {"404": 0}}, "properties": )" + kProps + "}}");
  Outcome o = run(s);
  const nlohmann::json acc = o.fake().accepted();
  ASSERT_EQ(acc["imports"].size(), 1u);
  EXPECT_EQ(acc["imports"][0]["rows_staged"], 300);
  EXPECT_GT(o.transport().by_status.at(204), 5u);  // several data POSTs
}

TEST(EloquaEndToEnd, AnErrorSyncIsUploadedAgainAndItsDefinitionDeleted) {
  Scenario s = scenario(R"({"scenario": 2, "name": "error",
    "destination": {"name": "eloqua", "config": )" + config() + R"(},
    "fake": )" + fake(R"(, "error_syncs": [1])") + R"(,
    "input": {"generate": {"records": 40}},
    "expect": {"jobs": {"succeeded": 40}, "fake": {"/live_imports": 0, "/syncs_by_status/error": 1,
               "/syncs_by_status/success": 1}, "properties": )" + kProps + "}}");
  run(s);
}

TEST(EloquaEndToEnd, AnUndocumentedSyncStatusIsNeverSuccess) {
  Scenario s = scenario(R"({"scenario": 2, "name": "undocumented",
    "destination": {"name": "eloqua", "config": )" + config(R"(, "poll_timeout": "30m", "max_attempts": 1)") + R"(},
    "fake": )" + fake(R"(, "status_values": {"success": "succeeded"})") + R"(,
    "input": {"generate": {"records": 20}},
    "expect": {"jobs": {"succeeded": 0, "aborted": 20}, "properties": )" + kProps + "}}");
  Outcome o = run(s);
  EXPECT_TRUE(o.jobs().outcome(1).outcome_unknown);
}

TEST(EloquaEndToEnd, ASevereTemporaryErrorWaitsItsSeverityRetryAfter) {
  // A 500 of errorSeverity 3 without a Retry-After header: two minutes.
  Scenario s = scenario(R"({"scenario": 2, "name": "severity",
    "destination": {"name": "eloqua", "config": )" + config() + R"(},
    "fake": )" + fake() + R"(,
    "faults": [{"match": {"method": "POST", "path": "/api/bulk/2.0/contacts/imports"}, "times": 1,
                "respond": {"status": 500, "json": {"error": "Unable to process request due to a temporary error.",
                                                    "errorSeverity": 3}}}],
    "input": {"generate": {"records": 10}},
    "expect": {"jobs": {"succeeded": 10}, "properties": )" + kProps + "}}");
  Outcome o = run(s);
  EXPECT_GE(o.virtual_duration, std::chrono::seconds(120 + 30));
}

TEST(EloquaEndToEnd, LeftoverDefinitionsFromACrashAreDeletedAtTheNextStart) {
  // Crashed right after the first upload (its sync created, the import id not
  // stored): the sync runs on and its definition is left behind. After the
  // restart the rows are uploaded again (upserts), and the leftover — its
  // sync ended by then — is found by its name prefix and deleted.
  Scenario s = scenario(R"({"scenario": 2, "name": "leftover",
    "destination": {"name": "eloqua", "config": )" + config(R"(, "records_max": 50)") + R"(},
    "fake": )" + fake() + R"(,
    "input": {"generate": {"records": 100}},
    "events": [{"step": "after_upload", "crash": {"restart_after": "1m"}}],
    "expect": {"jobs": {"succeeded": 100}, "fake": {"/live_imports": 0}, "properties": )" + kProps + "}}");
  Outcome o = run(s);
  EXPECT_GE(o.fake().accepted()["imports"].size(), 3u);  // the leftover and two imports
}

TEST(EloquaEndToEnd, AFieldTheSiteDoesNotHaveFailsTheUploadNamingIt) {
  Scenario s = scenario(R"({"scenario": 2, "name": "field",
    "destination": {"name": "eloqua", "config": )" +
                        config(R"(, "fields": {"email": "C_EmailAddress", "shoe_size": "C_Shoe_Size1"})") + R"(},
    "fake": )" + fake() + R"(,
    "input": {"generate": {"records": 5}},
    "expect": {"jobs": {"failed": 5}, "properties": ["A1", "A2", "C1"]}})");
  Outcome o = run(s);
  EXPECT_NE(o.jobs().outcome(1).reason.find("no contact field C_Shoe_Size1"), std::string::npos)
      << o.jobs().outcome(1).reason;
}

}  // namespace
}  // namespace destsim
