#include "fakes/async_job/async_job_api.h"

#include <gtest/gtest.h>

#include "fakes/catalog.h"
#include "framework/oracle.h"

namespace destsim {
namespace {

using std::chrono::seconds;

const std::string kPath = "/v3/marketing/contacts/imports";

Request create_req(const nlohmann::json& body, const std::string& key = "k") {
  Request r;
  r.method = "POST";
  r.host = "api.sendgrid.com";
  r.path = kPath;
  if (!key.empty()) r.headers.set("Authorization", "Bearer " + key);
  r.headers.set("Content-Type", "application/json");
  r.body = body.dump();
  return r;
}

Request get_req(const std::string& id, const std::string& key = "k") {
  Request r;
  r.method = "GET";
  r.host = "api.sendgrid.com";
  r.path = kPath + "/" + id;
  r.headers.set("Authorization", "Bearer " + key);
  return r;
}

nlohmann::json contacts(int n, int first = 1) {
  nlohmann::json a = nlohmann::json::array();
  for (int i = first; i < first + n; ++i) a.push_back({{"email", "u" + std::to_string(i) + "@x.io"}});
  return {{"contacts", a}};
}

AsyncJobApiOptions opts() {
  AsyncJobApiOptions o;
  o.api_key = "k";
  return o;
}

Time at(int s) { return kTimeZero + seconds(s); }

std::string create_id(AsyncJobApi& api, const nlohmann::json& body, Time now) {
  Response r = api.handle(create_req(body), now);
  EXPECT_EQ(r.status, 202) << r.body;
  auto b = nlohmann::json::parse(r.body);
  EXPECT_EQ(b["status"], "pending");
  return b["id"].get<std::string>();
}

nlohmann::json poll(AsyncJobApi& api, const std::string& id, Time now) {
  Response r = api.handle(get_req(id), now);
  EXPECT_EQ(r.status, 200) << r.body;
  return nlohmann::json::parse(r.body);
}

TEST(AsyncJobApi, RequiresABearerKey) {
  AsyncJobApi api(opts());
  EXPECT_EQ(api.handle(create_req(contacts(1), ""), kTimeZero).status, 401);
  EXPECT_EQ(api.handle(create_req(contacts(1), "wrong"), kTimeZero).status, 401);
  Request r = create_req(contacts(1));
  r.headers.set("Authorization", "k");  // no "Bearer "
  EXPECT_EQ(api.handle(r, kTimeZero).status, 401);
  EXPECT_EQ(api.jobs(), 0);
}

TEST(AsyncJobApi, ValidatesTheCreationBodyStrictly) {
  AsyncJobApiOptions o = opts();
  o.max_records = 3;
  o.max_bytes = 400;
  AsyncJobApi api(o);
  Request garbled = create_req(contacts(1));
  garbled.body = "{not json";
  EXPECT_EQ(api.handle(garbled, kTimeZero).status, 400);
  EXPECT_EQ(api.handle(create_req({{"people", contacts(1)["contacts"]}}), kTimeZero).status, 400);
  EXPECT_EQ(api.handle(create_req({{"contacts", nlohmann::json::array()}}), kTimeZero).status, 400);
  EXPECT_EQ(api.handle(create_req({{"contacts", {1, 2}}}), kTimeZero).status, 400);
  Response too_many = api.handle(create_req(contacts(4)), kTimeZero);
  EXPECT_EQ(too_many.status, 400);
  EXPECT_NE(too_many.body.find("at most 3 records"), std::string::npos) << too_many.body;
  nlohmann::json big = {{"contacts", {{{"email", "a@x.io"}, {"pad", std::string(500, 'x')}}}}};
  EXPECT_EQ(api.handle(create_req(big), kTimeZero).status, 413);
  EXPECT_EQ(api.jobs(), 0);
  EXPECT_EQ(api.handle(create_req(contacts(3)), kTimeZero).status, 202);
  EXPECT_EQ(api.jobs(), 1);
}

TEST(AsyncJobApi, JobIsPendingThenReadyAndAppliesItsRecordsOnce) {
  AsyncJobApi api(opts());
  nlohmann::json body = contacts(3);
  std::string id = create_id(api, body, at(0));
  EXPECT_EQ(poll(api, id, at(10))["status"], "pending");
  EXPECT_EQ(api.records_applied(), 0);  // nothing is applied before the job completes
  nlohmann::json done = poll(api, id, at(30));
  EXPECT_EQ(done["status"], "ready");
  EXPECT_FALSE(done.contains("results"));  // job-level mode
  EXPECT_EQ(api.records_applied(), 3);
  poll(api, id, at(100));
  EXPECT_EQ(api.records_applied(), 3);  // polling again applies nothing again
  EXPECT_EQ(api.applied(oracle_key("async_job.record", body["contacts"][1])), 1);
  EXPECT_EQ(api.applied(oracle_key("async_job.record", nlohmann::json{{"email", "nobody@x.io"}})), 0);
  EXPECT_EQ(api.handle(get_req("job-999999"), at(100)).status, 404);
  nlohmann::json acc = api.accepted();
  EXPECT_EQ(acc["jobs_by_status"]["ready"], 1);
  EXPECT_EQ(acc["records_applied"], 3);
}

TEST(AsyncJobApi, FailStallAndRemappedStatusesFollowTheOptions) {
  AsyncJobApiOptions o = opts();
  o.fail_jobs = {2};
  o.stall_jobs = {3};
  o.status_values = {{"failure", "exploded"}};
  AsyncJobApi api(o);
  std::string a = create_id(api, contacts(1, 1), at(0));
  std::string b = create_id(api, contacts(1, 2), at(0));
  std::string c = create_id(api, contacts(1, 3), at(0));
  EXPECT_EQ(poll(api, a, at(3600))["status"], "ready");
  nlohmann::json failed = poll(api, b, at(3600));
  EXPECT_EQ(failed["status"], "exploded");
  EXPECT_NE(failed["message"].get<std::string>().find("failed"), std::string::npos);
  EXPECT_EQ(poll(api, c, at(360000))["status"], "pending");  // stalled forever
  EXPECT_EQ(api.records_applied(), 1);                       // only the ready job's record
  EXPECT_EQ(api.accepted()["jobs_by_status"]["exploded"], 1);
}

TEST(AsyncJobApi, RecordModeListsPerRecordOutcomesAndAppliesOnlyValidOnes) {
  AsyncJobApiOptions o = opts();
  o.record_results = true;
  AsyncJobApi api(o);
  nlohmann::json body = {{"contacts", {{{"email", "a@x.io"}}, {{"email", "not-an-email"}}, {{"name", "no email"}}}}};
  std::string id = create_id(api, body, at(0));
  nlohmann::json done = poll(api, id, at(31));
  ASSERT_EQ(done["status"], "ready");
  ASSERT_EQ(done["results"].size(), 3u);
  EXPECT_EQ(done["results"][0]["status"], "ok");
  EXPECT_EQ(done["results"][0]["id"], "a@x.io");
  EXPECT_EQ(done["results"][1]["status"], "error");
  EXPECT_EQ(done["results"][1]["index"], 1);
  EXPECT_NE(done["results"][1]["error"].get<std::string>().find("invalid email"), std::string::npos);
  EXPECT_EQ(done["results"][2]["status"], "error");
  EXPECT_EQ(api.records_applied(), 1);
  EXPECT_EQ(api.applied(oracle_key("async_job.record", body["contacts"][0])), 1);
  EXPECT_EQ(api.applied(oracle_key("async_job.record", body["contacts"][1])), 0);
}

TEST(AsyncJobApi, CustomPathAndRecordsFieldAndPendingLimit) {
  AsyncJobApiOptions o = opts();
  o.path = "/v1/jobs";
  o.records_field = "items";
  o.max_pending_jobs = 1;
  o.pending_for = seconds(5);
  AsyncJobApi api(o);
  Request r = create_req({{"items", {{{"email", "a@x.io"}}}}});
  r.path = "/v1/jobs";
  EXPECT_EQ(api.handle(r, at(0)).status, 202);
  Response busy = api.handle(r, at(1));
  EXPECT_EQ(busy.status, 429);
  EXPECT_EQ(busy.headers.get("Retry-After").value_or(""), "60");
  EXPECT_EQ(api.handle(r, at(6)).status, 202);  // the first job is done by then
  EXPECT_EQ(api.handle(create_req(contacts(1)), at(6)).status, 404);  // the default path is not served
  Request del = r;
  del.method = "DELETE";
  EXPECT_EQ(api.handle(del, at(6)).status, 405);
}

TEST(AsyncJobApi, ResetForgetsEverything) {
  AsyncJobApi api(opts());
  std::string id = create_id(api, contacts(2), at(0));
  poll(api, id, at(40));
  ASSERT_EQ(api.records_applied(), 2);
  api.reset();
  EXPECT_EQ(api.records_applied(), 0);
  EXPECT_EQ(api.jobs(), 0);
  EXPECT_EQ(api.applied(oracle_key("async_job.record", contacts(2)["contacts"][0])), 0);
  EXPECT_EQ(api.handle(get_req(id), at(41)).status, 404);
}

TEST(AsyncJobApi, OptionErrorsNameTheKey) {
  auto bad = [](const nlohmann::json& j) {
    auto r = AsyncJobApiOptions::from_json(j, "fake.json");
    EXPECT_FALSE(r.ok()) << j.dump();
    return r.ok() ? std::string() : r.error().message;
  };
  EXPECT_NE(bad({{"fail_jobs", {0}}}).find("fake.json: /fail_jobs/0"), std::string::npos);
  EXPECT_NE(bad({{"results", "rows"}}).find("/results: expected \"job\" or \"record\""), std::string::npos);
  EXPECT_NE(bad({{"status_values", {{"done", "x"}}}}).find("done"), std::string::npos);
  EXPECT_NE(bad({{"pending_for", 30}}).find("/pending_for"), std::string::npos);
  EXPECT_NE(bad({{"path", "v3/x/"}}).find("/path"), std::string::npos);
  EXPECT_NE(bad({{"bogus", 1}}).find("bogus"), std::string::npos);
  auto ok = AsyncJobApiOptions::from_json(
      {{"api_key", {{"secret", "s"}}}, {"results", "record"}, {"stall_jobs", {1, 4}}, {"pending_for", "2m"}}, "f");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->api_key, "s");
  EXPECT_TRUE(ok->record_results);
  EXPECT_EQ(ok->stall_jobs.count(4), 1u);
  EXPECT_EQ(ok->pending_for, std::chrono::minutes(2));
}

TEST(AsyncJobApi, IsInTheCatalog) {
  const FakeEntry* e = find_fake("async_job");
  ASSERT_NE(e, nullptr);
  auto fake = e->make(nlohmann::json{{"results", "record"}}, "opts");
  ASSERT_TRUE(fake.ok());
  EXPECT_EQ((*fake)->name(), "async_job");
  EXPECT_FALSE(e->make(nlohmann::json{{"max_records", 0}}, "opts").ok());
}


// `serve async_job` died on one POST of 100,000 nested arrays: a 400 now, and
// the next job is created as if nothing happened.
TEST(AsyncJobApi, AnswersADeeplyNestedBody400AndStaysUp) {
  AsyncJobApi api(opts());
  Request r = create_req(nlohmann::json::object());
  r.body = R"({"contacts": [{"email": "a@x.io", "x": )" + std::string(100'000, '[') + std::string(100'000, ']') + "}]}";
  Response bad = api.handle(r, at(0));
  EXPECT_EQ(bad.status, 400) << bad.body;
  std::string id = create_id(api, contacts(2), at(1));
  EXPECT_FALSE(id.empty());
}

}  // namespace
}  // namespace destsim
