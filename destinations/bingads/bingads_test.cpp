// Tests of the two Bing Ads destinations: the shared pieces (SHA-256, Bing's
// time layout, zips) by hand, then end to end against the Bing Ads fake on the
// simulator: one file per action with its request ids polled, rows mapped back
// by Client Id, an expired result URL replaced, a lost upload answer resolved
// by the service's "already used" refusal, Failed requests uploaded again,
// row-count and undocumented statuses, the call-rate quota waited out.
#include <gtest/gtest.h>

#include "conformance/runner.h"
#include "conformance/testing.h"
#include "destinations/bingads/bingads.h"
#include "destinations/bingads/bulk_service.h"
#include "destinations/destination.h"
#include "fakes/bingads/bingads_api.h"

namespace destsim {
namespace {

using namespace testing;  // conformance/testing.h

const char* kProps = R"(["A1", "A2", "A3", "A4", "A5", "B1", "C1", "D1", "D3", "D4", "E1", "G1", "H1", "I1"])";

std::string audience_config(const std::string& extra = "") {
  return R"({"access_token": {"secret": "tok-test"}, "developer_token": {"secret": "dev-test"},
             "customer_id": 1000, "account_id": 123, "audience_id": 555)" +
         extra + "}";
}

std::string conversions_config(const std::string& extra = "") {
  return R"({"access_token": {"secret": "tok-test"}, "developer_token": {"secret": "dev-test"},
             "customer_id": 1000, "account_id": 123)" +
         extra + "}";
}

std::string literal_audience_records() {
  // Two adds, a remove of one of them, a member given by its hash, one the
  // API would never see (not an address).
  return R"([{"id": 1, "payload": {"action": "Add", "email": "ada@example.com"}},
             {"id": 2, "payload": {"action": "Add", "email": "  Grace@Example.com "}},
             {"id": 3, "payload": {"action": "Remove", "email": "ada@example.com"}},
             {"id": 4, "payload": {"action": "add", "hashed_email": ")" +
         bingads::sha256_hex("alan@example.com") + R"("}},
             {"id": 5, "payload": {"action": "Add", "email": "not-an-address"}}])";
}

TEST(BingAdsShared, Sha256AndTheTimeLayout) {
  // FIPS 180-2's "abc" vector.
  EXPECT_EQ(bingads::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(bingads::sha256_shaped(bingads::sha256_hex("")));
  EXPECT_FALSE(bingads::sha256_shaped(std::string(64, 'A')));
  EXPECT_FALSE(bingads::sha256_shaped(std::string(63, 'a')));
  // 2024-04-18 21:29:59 UTC, and the hours around noon and midnight.
  EXPECT_EQ(bingads::bing_time(1713475799), "4/18/2024 9:29:59 PM");
  EXPECT_EQ(bingads::bing_time(1704067200), "1/1/2024 12:00:00 AM");
  EXPECT_EQ(bingads::bing_time(1704067200 + 12 * 3600 + 5), "1/1/2024 12:00:05 PM");
  EXPECT_EQ(*bingads::record_time(nlohmann::json("2024-01-01T00:00:00Z"), "t"), 1704067200);
  EXPECT_FALSE(bingads::record_time(nlohmann::json("yesterday"), "t").ok());
  EXPECT_FALSE(bingads::record_time(nlohmann::json(-5), "t").ok());
}

TEST(BingAdsShared, AZipHoldsOneEntryAndReadsBack) {
  const std::string csv = "\xEF\xBB\xBFType,Name\nFormat Version,6.0\n";
  const std::string zip = bingads::zip_file("upload.csv", csv, 1704067200);
  EXPECT_EQ(zip.substr(0, 4), std::string("PK\x03\x04", 4));
  auto back = bingads::unzip_one(zip, 1 << 20);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->first, "upload.csv");
  EXPECT_EQ(back->second, csv);
  // Deterministic: the same bytes for the same input and time.
  EXPECT_EQ(bingads::zip_file("upload.csv", csv, 1704067200), zip);
  // Limits and garbage are refused, naming why.
  auto big = bingads::unzip_one(zip, 10);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message.find("the limit is 10"), std::string::npos) << big.error().message;
  EXPECT_FALSE(bingads::unzip_one("not a zip at all", 1 << 20).ok());
  std::string broken = zip;
  broken[broken.size() / 2] ^= 0x55;
  EXPECT_FALSE(bingads::unzip_one(broken, 1 << 20).ok());
}

TEST(BingAdsAudience, EachActionIsOneFileAndEveryRowIsMappedBackByClientId) {
  Scenario s = scenario(R"({"scenario": 2, "name": "audience",
    "destination": {"name": "bingads_audience", "config": )" + audience_config() + R"(},
    "input": {"records": )" + literal_audience_records() + R"(},
    "expect": {"jobs": {"succeeded": 4, "failed": 1}, "properties": )" + kProps + "}}");
  Outcome o = run(s);
  EXPECT_EQ(o.jobs().outcome(5).kind, ReasonKind::invalid_record);
  const nlohmann::json acc = o.fake().accepted();
  // One upload of three records' kinds → two files (Remove, Add): Remove goes first.
  ASSERT_EQ(acc["uploads"].size(), 2u) << acc.dump();
  // Remove ran before Add: ada was removed from an empty list, then added.
  const auto* api = dynamic_cast<const BingAdsApi*>(&o.fake());
  ASSERT_NE(api, nullptr);
  EXPECT_EQ(api->audience("555"),
            (std::set<std::string>{bingads::sha256_hex("ada@example.com"), bingads::sha256_hex("grace@example.com"),
                                   bingads::sha256_hex("alan@example.com")}));
  const std::string all = all_lines(o);
  EXPECT_EQ(all.find("tok-test"), std::string::npos);
  EXPECT_EQ(all.find("dev-test"), std::string::npos);
}

TEST(BingAdsAudience, ReplaceEmptiesTheListFirst) {
  Scenario s = scenario(R"({"scenario": 2, "name": "replace",
    "destination": {"name": "bingads_audience", "config": )" + audience_config(R"(, "upload_interval": "1s")") + R"(},
    "input": {"records": [{"id": 1, "payload": {"action": "Add", "email": "old@example.com"}},
                          {"id": 2, "payload": {"action": "Replace", "email": "new@example.com"}, "at": "10m"}]},
    "expect": {"jobs": {"succeeded": 2}, "properties": )" + kProps + "}}");
  Outcome o = run(s);
  const auto* api = dynamic_cast<const BingAdsApi*>(&o.fake());
  ASSERT_NE(api, nullptr);
  EXPECT_EQ(api->audience("555"), std::set<std::string>{bingads::sha256_hex("new@example.com")});
}

TEST(BingAdsAudience, AnExpiredResultUrlIsReplacedByAFreshStatus) {
  // The first download of a result file waits six minutes on the way: its URL
  // (valid five) has expired when it arrives, 403; a fresh status gives a new one.
  Scenario s = scenario(R"({"scenario": 2, "name": "expired",
    "destination": {"name": "bingads_audience", "config": )" + audience_config() + R"(},
    "faults": [{"match": {"method": "GET", "path": "/bulkuploadresultfiles/*"}, "times": 1,
                "latency": {"fixed": "6m"}}],
    "input": {"generate": {"records": 30}},
    "expect": {"jobs": {"succeeded": 30}, "requests": {"by_status": {"403": 1}}, "properties": )" + kProps + "}}");
  Outcome o = run(s);
  EXPECT_EQ(o.fake().accepted()["result_refusals"], 1);
}

TEST(BingAdsAudience, ALostUploadAnswerIsResolvedByPostingAgainNeverAppliedTwice) {
  // The upload POST is applied, then its answer lost: posted again to the same
  // URL, the service answers 3224 (already used) — the file was taken once.
  Scenario s = scenario(R"({"scenario": 2, "name": "lost",
    "destination": {"name": "bingads_audience", "config": )" + audience_config() + R"(},
    "faults": [{"match": {"method": "POST", "path": "/Api/Advertiser/CampaignManagement/v13/FileUpload/*"},
                "times": 1, "timeout": "after"}],
    "transport": {"request_timeout": "30s"},
    "input": {"records": [{"id": 1, "payload": {"action": "Add", "email": "ada@example.com"}},
                          {"id": 2, "payload": {"action": "Add", "email": "grace@example.com"}}]},
    "expect": {"jobs": {"succeeded": 2}, "properties": )" + kProps + "}}");
  Outcome o = run(s);
  const nlohmann::json acc = o.fake().accepted();
  EXPECT_EQ(acc["uploads"].size(), 1u) << acc.dump();
  EXPECT_EQ(acc["upload_refusals"]["BulkServiceUrlAlreadyUsedForUpload"], 1) << acc.dump();
  EXPECT_EQ(acc["applications"], 2);
  EXPECT_FALSE(o.jobs().outcome(1).outcome_unknown);
}

TEST(BingAdsAudience, AFailedRequestIsUploadedAgain) {
  Scenario s = scenario(R"({"scenario": 2, "name": "failed",
    "destination": {"name": "bingads_audience", "config": )" + audience_config() + R"(},
    "fake": {"options": {"fail_uploads": [1]}},
    "input": {"generate": {"records": 20, "type": ""}},
    "expect": {"jobs": {"succeeded": 20}, "properties": )" + kProps + "}}");
  Outcome o = run(s);
  EXPECT_GE(o.fake().accepted()["uploads"].size(), 2u);
}

TEST(BingAdsAudience, AnUndocumentedStatusIsNeverSuccess) {
  Scenario s = scenario(R"({"scenario": 2, "name": "undocumented",
    "destination": {"name": "bingads_audience", "config": )" +
                        audience_config(R"(, "poll_timeout": "20m", "max_attempts": 1)") + R"(},
    "fake": {"options": {"status_values": {"Completed": "Done"}}},
    "input": {"records": [{"id": 1, "payload": {"action": "Add", "email": "ada@example.com"}}]},
    "expect": {"jobs": {"succeeded": 0, "aborted": 1}, "properties": )" + kProps + "}}");
  Outcome o = run(s);
  EXPECT_TRUE(o.jobs().outcome(1).outcome_unknown);
  EXPECT_EQ(o.jobs().outcome(1).kind, ReasonKind::unknown_outcome);
  EXPECT_NE(o.jobs().outcome(1).reason.find("poll timeout"), std::string::npos) << o.jobs().outcome(1).reason;
}

TEST(BingAdsAudience, TheCallRateQuotaIsWaitedOutUntilTheNextMinute) {
  Scenario s = scenario(R"({"scenario": 2, "name": "rate",
    "destination": {"name": "bingads_audience", "config": )" + audience_config(R"(, "records_max": 10)") + R"(},
    "fake": {"options": {"calls_per_minute": 3}},
    "input": {"generate": {"records": 60}},
    "expect": {"jobs": {"succeeded": 60}, "properties": )" + kProps + "}}");
  Outcome o = run(s);
  EXPECT_GT(o.fake().accepted()["faults"]["CallRateExceeded"].get<std::int64_t>(), 0);
}

TEST(BingAdsOfflineConversions, InsertRestateRetractAndTheServiceRowErrors) {
  Scenario s = scenario(R"({"scenario": 2, "name": "conversions",
    "destination": {"name": "bingads_offline_conversions", "config": )" + conversions_config() + R"(},
    "input": {"records": [
      {"id": 1, "payload": {"action": "insert", "conversion_name": "Purchase", "conversion_time": 1703980800,
                            "microsoft_click_id": "0123456789abcdef0123456789abcdef", "conversion_value": "12.50",
                            "conversion_currency_code": "USD"}},
      {"id": 2, "payload": {"action": "insert", "conversion_name": "Signup", "conversion_time": "2023-12-30T10:00:00Z",
                            "email": "Buyer@Example.com", "external_attribution_model": "comma, \"quoted\"\nand a line"}},
      {"id": 3, "payload": {"action": "update", "conversion_name": "Purchase", "conversion_time": 1703980800,
                            "microsoft_click_id": "0123456789abcdef0123456789abcdef", "adjustment_value": 20,
                            "adjustment_time": 1703984400}},
      {"id": 4, "payload": {"action": "delete", "conversion_name": "Signup", "conversion_time": "2023-12-30T10:00:00Z",
                            "email": "buyer@example.com", "adjustment_time": "2023-12-30T11:00:00Z"}},
      {"id": 5, "payload": {"action": "insert", "conversion_name": "No Such Goal", "conversion_time": 1703980800,
                            "microsoft_click_id": "fedcba9876543210fedcba9876543210"}},
      {"id": 6, "payload": {"action": "delete", "conversion_name": "Lead", "conversion_time": 1703980800,
                            "microsoft_click_id": "fedcba9876543210fedcba9876543210", "adjustment_time": 1703984400}},
      {"id": 7, "payload": {"action": "insert", "conversion_name": "Lead", "conversion_time": 1803980800,
                            "microsoft_click_id": "fedcba9876543210fedcba9876543210"}}]},
    "expect": {"jobs": {"succeeded": 4, "failed": 3}, "properties": )" + kProps + "}}");
  Outcome o = run(s);
  EXPECT_NE(o.jobs().outcome(5).reason.find("OfflineConversionNameInvalid (5606)"), std::string::npos)
      << o.jobs().outcome(5).reason;
  EXPECT_EQ(o.jobs().outcome(5).kind, ReasonKind::rejected_by_api);
  EXPECT_NE(o.jobs().outcome(6).reason.find("BulkServiceEntityNotFound"), std::string::npos)
      << o.jobs().outcome(6).reason;
  EXPECT_EQ(o.jobs().outcome(7).kind, ReasonKind::invalid_record);  // in the future
  EXPECT_NE(o.jobs().outcome(7).reason.find("conversion_time: in the future"), std::string::npos);
  const nlohmann::json acc = o.fake().accepted();
  EXPECT_EQ(acc["uploads"].size(), 3u) << acc.dump();  // insert, update, delete files
  EXPECT_EQ(acc["conversions"]["restated"], 1) << acc.dump();
  EXPECT_EQ(acc["conversions"]["retracted"], 1);
}

TEST(BingAdsOfflineConversions, ARowCountOverTheServiceLimitFailsItsJobs) {
  Scenario s = scenario(R"({"scenario": 2, "name": "rows",
    "destination": {"name": "bingads_offline_conversions", "config": )" + conversions_config(R"(, "records_max": 20)") + R"(},
    "fake": {"options": {"rows_max": 5}},
    "input": {"generate": {"records": 15}},
    "expect": {"jobs": {"aborted": 0}, "properties": )" + kProps + "}}");
  Outcome o = run(s);
  bool too_large = false;
  for (JobId id : o.jobs().ids())
    if (o.jobs().outcome(id).reason.find("UploadFileRowCountExceeded") != std::string::npos) {
      too_large = true;
      EXPECT_EQ(o.jobs().outcome(id).kind, ReasonKind::too_large);
    }
  EXPECT_TRUE(too_large);
}

TEST(BingAdsOfflineConversions, GeneratedInputIsDeliveredUnderEveryProperty) {
  Scenario s = scenario(R"({"scenario": 2, "name": "generated", "seed": 4,
    "destination": {"name": "bingads_offline_conversions", "config": )" + conversions_config(R"(, "records_max": 100)") + R"(},
    "input": {"generate": {"records": 400, "invalid": "1/10"}, "pace": "100ms"},
    "expect": {"properties": )" + kProps + "}}");
  Outcome o = run(s);
  const JobCounts c = o.jobs().counts();
  EXPECT_EQ(c.pending, 0u);
  EXPECT_EQ(c.aborted, 0u);
  EXPECT_GT(c.succeeded, 250u);
  EXPECT_GT(c.failed, 20u);
}

}  // namespace
}  // namespace destsim
