// End-to-end tests of the yandex_metrica_offline_conversions destination
// against the Yandex Metrica fake on the simulator: rows the API would not
// count fail at transform, uploads are polled to PROCESSED, LINKAGE_FAILURE is
// uploaded again, quotas are waited out (the daily one until 00:00 GMT of the
// API's clock), unknown statuses and unreadable polls never pass for success,
// and an upload the API counted short ends outcome unknown.
#include <gtest/gtest.h>

#include "conformance/runner.h"
#include "conformance/testing.h"
#include "destinations/destination.h"

namespace destsim {
namespace {

using namespace testing;  // conformance/testing.h

const char* kProps = R"(["A1", "A2", "A3", "A4", "B1", "D1", "D3", "E1", "G1", "H1", "I1"])";

std::string config(const std::string& extra = "") {
  return R"({"oauth_token": {"secret": "y0_test-token"}, "counter_id": 44147844)" + extra + "}";
}

TEST(YandexMetricaEndToEnd, ValidConversionsArePolledToProcessedAndInvalidOnesFailAtTransform) {
  Scenario s = scenario(R"({"scenario": 2, "name": "mixed", "seed": 3,
    "destination": {"name": "yandex_metrica_offline_conversions", "config": )" +
                        config(R"(, "records_max": 400)") + R"(},
    "input": {"generate": {"records": 1000, "invalid": "1/20"}, "pace": "1ms"},
    "expect": {"properties": )" + kProps + "}}");
  Outcome o = run(s);
  const JobCounts c = o.jobs().counts();
  EXPECT_EQ(c.total(), 1000u);
  EXPECT_EQ(c.pending, 0u);
  EXPECT_EQ(c.aborted, 0u);
  EXPECT_GT(c.failed, 25u);  // about 1/20
  EXPECT_LT(c.failed, 80u);
  for (JobId id : o.jobs().ids()) {
    const JobOutcome out = o.jobs().outcome(id);
    if (out.state != JobState::failed) continue;
    const bool named = out.reason.find("target:") != std::string::npos ||
                       out.reason.find("is in the future") != std::string::npos ||
                       out.reason.find("currency:") != std::string::npos ||
                       out.reason.find("client_id:") != std::string::npos;
    EXPECT_TRUE(named) << "job " << id << ": " << out.reason;
  }
  const nlohmann::json acc = o.fake().accepted();
  EXPECT_EQ(acc["conversions_applied"].get<std::int64_t>(), static_cast<std::int64_t>(c.succeeded));
  ASSERT_EQ(acc["uploadings"].size(), 3u);  // the valid ones at 400 per file
  for (const auto& u : acc["uploadings"]) {
    EXPECT_EQ(u["status"], "PROCESSED");
    EXPECT_EQ(u["line_quantity"], u["source_quantity"]);  // every row sent was valid
  }
  EXPECT_EQ(all_lines(o).find("y0_test-token"), std::string::npos);  // the token never reaches the trace
}

TEST(YandexMetricaEndToEnd, EachIdentifierTypeSendsItsOwnColumn) {
  for (const char* type : {"CLIENT_ID", "USER_ID", "YCLID"}) {
    Scenario s = scenario(R"({"scenario": 2, "name": "types",
      "destination": {"name": "yandex_metrica_offline_conversions", "config": )" +
                          config(std::string(R"(, "client_id_type": ")") + type + "\"") + R"(},
      "input": {"generate": {"records": 30}},
      "expect": {"jobs": {"succeeded": 30}, "properties": ["A1", "A2", "A3"]}})");
    Outcome o = run(s);
    EXPECT_EQ(o.fake().accepted()["uploadings"][0]["client_id_type"], type);
  }
}

TEST(YandexMetricaEndToEnd, LinkageFailureAppliesNothingAndTheRowsAreUploadedAgainLater) {
  Scenario s = scenario(R"({"scenario": 2, "name": "linkage",
    "destination": {"name": "yandex_metrica_offline_conversions", "config": )" + config() + R"(},
    "fake": {"options": {"linkage_failure_uploads": [1], "processing_for": "20m"}},
    "input": {"generate": {"records": 50}},
    "expect": {"jobs": {"succeeded": 50}, "properties": )" + kProps + "}}");
  Outcome o = run(s);
  const nlohmann::json acc = o.fake().accepted();
  ASSERT_EQ(acc["uploadings"].size(), 2u);
  EXPECT_EQ(acc["uploadings"][0]["status"], "LINKAGE_FAILURE");
  EXPECT_EQ(acc["uploadings"][1]["status"], "PROCESSED");
  EXPECT_EQ(acc["conversions_applied"], 50);  // once each: the failed upload applied none
}

TEST(YandexMetricaEndToEnd, TheDailyQuotaIsWaitedOutUntilMidnightGmtOfTheApiClock) {
  // Two requests a day: the upload and one poll; the second poll is refused
  // and waits for 00:00 GMT (the loop starts at 2024-01-01T00:00:00Z).
  Scenario s = scenario(R"({"scenario": 2, "name": "daily",
    "destination": {"name": "yandex_metrica_offline_conversions", "config": )" +
                        config(R"(, "poll_interval": "30m")") + R"(},
    "fake": {"options": {"requests_per_day": 2, "processing_for": "45m"}},
    "input": {"generate": {"records": 20}},
    "expect": {"jobs": {"succeeded": 20}, "properties": )" + kProps + "}}");
  Outcome o = run(s);
  EXPECT_GE(o.virtual_duration, std::chrono::hours(24));
  EXPECT_LT(o.virtual_duration, std::chrono::hours(25));
  EXPECT_EQ(o.fake().accepted()["quota_refusals"]["quota_requests_by_uid"], 1);
}

TEST(YandexMetricaEndToEnd, QuotaAnsweredAs420IsRetriedLikeA429) {
  Scenario s = scenario(R"({"scenario": 2, "name": "q420",
    "destination": {"name": "yandex_metrica_offline_conversions", "config": )" +
                        config(R"(, "records_max": 10, "imports_in_flight": 3, "requests_per_second": 30)") + R"(},
    "fake": {"options": {"quota_status": 420, "requests_per_second": 2}},
    "input": {"generate": {"records": 60}},
    "expect": {"jobs": {"succeeded": 60}, "properties": )" + kProps + "}}");
  Outcome o = run(s);
  EXPECT_GT(o.fake().accepted()["quota_refusals"]["quota_requests_by_ip"].get<std::int64_t>(), 0);
}

TEST(YandexMetricaEndToEnd, AnUndocumentedStatusIsNeverSuccessAndEndsOutcomeUnknown) {
  Scenario s = scenario(R"({"scenario": 2, "name": "undocumented",
    "destination": {"name": "yandex_metrica_offline_conversions", "config": )" +
                        config(R"(, "poll_timeout": "2h")") + R"(},
    "fake": {"options": {"status_values": {"PROCESSED": "PROCESSED_PARTIALLY"}}},
    "input": {"generate": {"records": 25}},
    "expect": {"jobs": {"succeeded": 0, "aborted": 25, "unknown": 25}, "properties": )" + kProps + "}}");
  Outcome o = run(s);
  EXPECT_NE(o.jobs().outcome(1).reason.find("poll timeout"), std::string::npos) << o.jobs().outcome(1).reason;
  EXPECT_EQ(o.fake().accepted()["uploadings"].size(), 1u);  // never uploaded twice
}

TEST(YandexMetricaEndToEnd, AnUploadTheApiCountedShortEndsOutcomeUnknownNotDelivered) {
  // The API takes the file, then answers that only 37 of the 40 rows passed
  // its validation — and never says which. None may be reported delivered,
  // none uploaded again (the 37 it took are applied).
  Scenario s = scenario(R"({"scenario": 2, "name": "short",
    "destination": {"name": "yandex_metrica_offline_conversions", "config": )" + config() + R"(},
    "faults": [{"match": {"method": "POST"}, "times": 1,
                "respond": {"status": 200, "after": true, "json": {"uploading": {"id": 700000001, "status": "UPLOADED",
                  "client_id_type": "CLIENT_ID", "source_quantity": 40, "line_quantity": 37, "linked_quantity": 0}}}}],
    "input": {"generate": {"records": 40}},
    "expect": {"jobs": {"succeeded": 0, "aborted": 40, "unknown": 40}, "properties": )" + kProps + "}}");
  Outcome o = run(s);
  EXPECT_EQ(o.fake().accepted()["uploadings"].size(), 1u);
  EXPECT_NE(o.jobs().outcome(1).reason.find("37 valid of 40 rows"), std::string::npos) << o.jobs().outcome(1).reason;
}

TEST(YandexMetricaEndToEnd, PermanentRefusalsFailWithTheApiErrorAndAreNotRetried) {
  Scenario s = scenario(R"({"scenario": 2, "name": "token",
    "destination": {"name": "yandex_metrica_offline_conversions", "config": )" + config() + R"(},
    "fake": {"options": {"api_key": "another-token"}},
    "input": {"generate": {"records": 10}},
    "expect": {"jobs": {"failed": 10}, "requests": {"by_status": {"403": 1}}, "properties": ["A1", "A2", "C1"]}})");
  Outcome o = run(s);
  EXPECT_NE(o.jobs().outcome(1).reason.find("HTTP 403 invalid_token"), std::string::npos) << o.jobs().outcome(1).reason;
}

}  // namespace
}  // namespace destsim
