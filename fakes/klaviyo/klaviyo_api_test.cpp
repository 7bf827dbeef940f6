#include "fakes/klaviyo/klaviyo_api.h"

#include <gtest/gtest.h>

#include "framework/oracle.h"

namespace destsim {
namespace {

using namespace std::chrono_literals;

nlohmann::json profile(const nlohmann::json& attributes) { return {{"type", "profile"}, {"attributes", attributes}}; }

nlohmann::json job_body(const std::vector<nlohmann::json>& profiles, const std::string& list = "") {
  nlohmann::json b = {
      {"data",
       {{"type", "profile-bulk-import-job"}, {"attributes", {{"profiles", {{"data", nlohmann::json(profiles)}}}}}}}};
  if (!list.empty()) b["data"]["relationships"] = {{"lists", {{"data", {{{"type", "list"}, {"id", list}}}}}}};
  return b;
}

Request req(const std::string& method, const std::string& path, const std::string& body = "",
            const std::string& key = "pk_test", const char* revision = "2024-10-15") {
  Request r;
  r.method = method;
  r.host = "a.klaviyo.com";
  r.path = path;
  if (!key.empty()) r.headers.set("Authorization", "Klaviyo-API-Key " + key);
  if (revision) r.headers.set("revision", revision);
  if (method == "POST") r.headers.set("Content-Type", "application/vnd.api+json");
  r.body = body;
  return r;
}

Request create(const nlohmann::json& body) { return req("POST", "/api/profile-bulk-import-jobs", body.dump()); }

KlaviyoApiOptions opts() {
  KlaviyoApiOptions o;
  o.api_key = "pk_test";
  o.burst_per_second = 0;
  o.steady_per_minute = 0;
  return o;
}

nlohmann::json parse(const Response& r) { return nlohmann::json::parse(r.body); }

std::string created_id(KlaviyoApi& api, const nlohmann::json& body, Time now = kTimeZero) {
  Response r = api.handle(create(body), now);
  EXPECT_EQ(r.status, 202) << r.body;
  return r.status == 202 ? parse(r)["data"]["id"].get<std::string>() : "";
}

TEST(KlaviyoApi, RequiresTheApiKeySchemeAndARevision) {
  KlaviyoApi api(opts());
  nlohmann::json body = job_body({profile({{"email", "a@x.io"}})});
  EXPECT_EQ(api.handle(req("POST", "/api/profile-bulk-import-jobs", body.dump(), "wrong"), kTimeZero).status, 401);
  EXPECT_EQ(api.handle(req("POST", "/api/profile-bulk-import-jobs", body.dump(), ""), kTimeZero).status, 401);
  Request bearer = create(body);
  bearer.headers.set("Authorization", "Bearer pk_test");
  Response r = api.handle(bearer, kTimeZero);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(parse(r)["errors"][0]["code"], "not_authenticated");
  Response norev = api.handle(req("POST", "/api/profile-bulk-import-jobs", body.dump(), "pk_test", nullptr), kTimeZero);
  EXPECT_EQ(norev.status, 400);
  EXPECT_EQ(parse(norev)["errors"][0]["source"]["parameter"], "revision");
  EXPECT_EQ(api.handle(req("POST", "/api/profile-bulk-import-jobs", body.dump(), "pk_test", "latest"), kTimeZero).status,
            400);
  Request plain = create(body);
  plain.headers.set("Content-Type", "application/json; charset=utf-8");  // what RudderStack sends
  EXPECT_EQ(api.handle(plain, kTimeZero).status, 202);
  Request text = create(body);
  text.headers.set("Content-Type", "text/plain");
  EXPECT_EQ(api.handle(text, kTimeZero).status, 415);
  EXPECT_EQ(api.jobs(), 1);
}

TEST(KlaviyoApi, OneBadProfileRejectsTheWholeJobWithPointers) {
  KlaviyoApi api(opts());
  nlohmann::json body = job_body({profile({{"email", "a@x.io"}}), profile({{"email", "not-an-email"}}),
                                  profile({{"first_name", "NoId"}}), profile({{"email", "d@x.io"}, {"age", 3}}),
                                  profile({{"email", "e@x.io"}})});
  Response r = api.handle(create(body), kTimeZero);
  ASSERT_EQ(r.status, 400);
  auto errors = parse(r)["errors"];
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0]["source"]["pointer"], "/data/attributes/profiles/data/1/attributes/email");
  EXPECT_NE(errors[0]["detail"].get<std::string>().find("Invalid email"), std::string::npos);
  EXPECT_EQ(errors[1]["source"]["pointer"], "/data/attributes/profiles/data/2/attributes");
  EXPECT_EQ(errors[2]["source"]["pointer"], "/data/attributes/profiles/data/3/attributes/age");
  EXPECT_EQ(api.jobs(), 0);  // all or nothing
  // Without the bad ones it is accepted.
  body["data"]["attributes"]["profiles"]["data"] = {body["data"]["attributes"]["profiles"]["data"][0],
                                                    body["data"]["attributes"]["profiles"]["data"][4]};
  Response ok = api.handle(create(body), kTimeZero);
  EXPECT_EQ(ok.status, 202);
  EXPECT_EQ(parse(ok)["data"]["attributes"]["status"], "queued");
  EXPECT_EQ(parse(ok)["data"]["attributes"]["total_count"], 2);
}

TEST(KlaviyoApi, BadListIdPointsAtTheRelationship) {
  KlaviyoApiOptions o = opts();
  o.list_ids = {"GOOD01"};
  KlaviyoApi api(o);
  Response r = api.handle(create(job_body({profile({{"email", "a@x.io"}})}, "NOPE99")), kTimeZero);
  ASSERT_EQ(r.status, 400);
  EXPECT_EQ(parse(r)["errors"][0]["source"]["pointer"], "/data/relationships/lists/data/0/id");
  std::string id = created_id(api, job_body({profile({{"email", "a@x.io"}})}, "GOOD01"));
  api.handle(req("GET", "/api/profile-bulk-import-jobs/" + id), kTimeZero + 1h);
  EXPECT_EQ(api.accepted()["lists"]["GOOD01"], nlohmann::json({"a@x.io"}));
}

TEST(KlaviyoApi, EnforcesProfileCountPayloadAndProfileSize) {
  KlaviyoApiOptions o = opts();
  o.profiles_max = 3;
  o.payload_bytes_max = 2000;
  o.profile_bytes_max = 300;
  KlaviyoApi api(o);
  std::vector<nlohmann::json> four(4, profile({{"email", "a@x.io"}}));
  Response many = api.handle(create(job_body(four)), kTimeZero);
  EXPECT_EQ(many.status, 400);
  EXPECT_EQ(parse(many)["errors"][0]["source"]["pointer"], "/data/attributes/profiles/data");
  nlohmann::json big = profile({{"email", "b@x.io"}, {"properties", {{"pad", std::string(400, 'x')}}}});
  Response one_big = api.handle(create(job_body({profile({{"email", "a@x.io"}}), big})), kTimeZero);
  EXPECT_EQ(one_big.status, 400);
  EXPECT_EQ(parse(one_big)["errors"][0]["source"]["pointer"], "/data/attributes/profiles/data/1");
  nlohmann::json huge = profile({{"email", "b@x.io"}, {"properties", {{"pad", std::string(2500, 'x')}}}});
  EXPECT_EQ(api.handle(create(job_body({huge})), kTimeZero).status, 413);
  EXPECT_EQ(api.jobs(), 0);
}

TEST(KlaviyoApi, LifecycleIsLazyAndProfilesApplyAtCompletion) {
  KlaviyoApiOptions o = opts();
  o.queued_for = 5s;
  o.processing_for = 20s;
  KlaviyoApi api(o);
  nlohmann::json a = {{"email", "a@x.io"}, {"first_name", "Ada"}, {"properties", {{"plan", "pro"}}}};
  nlohmann::json b = {{"external_id", "ext-2"}, {"phone_number", "+14155550100"}};
  std::string id = created_id(api, job_body({profile(a), profile(b)}));
  auto status = [&](Time t) {
    return parse(api.handle(req("GET", "/api/profile-bulk-import-jobs/" + id + "/"), t))["data"]["attributes"];
  };
  EXPECT_EQ(status(kTimeZero + 4s)["status"], "queued");
  EXPECT_EQ(api.applied(oracle_key("klaviyo.profile", a)), 0);
  auto mid = status(kTimeZero + 15s);
  EXPECT_EQ(mid["status"], "processing");
  EXPECT_EQ(mid["completed_count"], 1);  // halfway through processing
  EXPECT_FALSE(mid["started_at"].is_null());
  EXPECT_TRUE(mid["completed_at"].is_null());
  EXPECT_EQ(api.applied(oracle_key("klaviyo.profile", a)), 0);
  auto done = status(kTimeZero + 25s);
  EXPECT_EQ(done["status"], "complete");
  EXPECT_EQ(done["completed_count"], 2);
  EXPECT_EQ(done["failed_count"], 0);
  EXPECT_EQ(done["created_at"], "2024-01-01T00:00:00+00:00");
  EXPECT_EQ(done["completed_at"], "2024-01-01T00:00:25+00:00");
  EXPECT_EQ(api.applied(oracle_key("klaviyo.profile", a)), 1);
  EXPECT_EQ(api.applied(oracle_key("klaviyo.profile", b)), 1);
  // Re-importing the same profile upserts: still one profile, applied twice.
  std::string again = created_id(api, job_body({profile(a)}), kTimeZero + 30s);
  status(kTimeZero + 60s);
  EXPECT_EQ(api.profiles(), 2);
  EXPECT_EQ(api.applied(oracle_key("klaviyo.profile", a)), 2);
  auto acc = api.accepted();
  EXPECT_EQ(acc["profiles"]["a@x.io"]["updates"], 2);
  EXPECT_EQ(acc["profiles"]["a@x.io"]["properties"]["plan"], "pro");
  EXPECT_EQ(acc["profiles"]["external_id:ext-2"]["phone_number"], "+14155550100");
  EXPECT_EQ(acc["jobs_by_status"]["complete"], 2);
  EXPECT_EQ(api.handle(req("GET", "/api/profile-bulk-import-jobs/nope"), kTimeZero + 60s).status, 404);
}

TEST(KlaviyoApi, HostileStatusValuesRenameOnlyTheWire) {
  KlaviyoApiOptions o = opts();
  auto renamed = KlaviyoApiOptions::from_json({{"status_values", {{"processing", "in_progress"}, {"complete", "completed"}}}},
                                              "o");
  ASSERT_TRUE(renamed.ok()) << renamed.error().message;
  o.status_values = renamed->status_values;
  KlaviyoApi api(o);
  std::string id = created_id(api, job_body({profile({{"email", "a@x.io"}})}));
  auto status = [&](Time t) {
    return parse(api.handle(req("GET", "/api/profile-bulk-import-jobs/" + id + "/"), t))["data"]["attributes"]["status"];
  };
  EXPECT_EQ(status(kTimeZero + 1s), "queued");
  EXPECT_EQ(status(kTimeZero + 10s), "in_progress");
  EXPECT_EQ(status(kTimeZero + 60s), "completed");
  EXPECT_EQ(api.accepted()["jobs_by_status"]["complete"], 1);  // its own state keeps the documented names
  auto bad = KlaviyoApiOptions::from_json({{"status_values", {{"done", "x"}}}}, "x.json: /fake/options");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("x.json: /fake/options/status_values/done: unknown key"), std::string::npos)
      << bad.error().message;
}

// The status answer is written straight, not through a DOM: it must be the
// bytes of the job's document as nlohmann dumps it (members in key order,
// compact, the same escapes), in every phase, with lists, a cancelled job and
// renamed statuses; a status that is not UTF-8 becomes U+FFFD, as the DOM
// writes it.
TEST(KlaviyoApi, StatusAnswerIsTheDumpOfTheJobDocument) {
  for (const std::string& wire : {std::string("completed \"\u00e9\\\n\x01/"), std::string("Bad\xff")}) {
    KlaviyoApiOptions o = opts();
    o.cancel_jobs = {2};
    o.list_ids = {"GOOD01"};
    o.status_values = {{"processing", "in_progress"}, {"complete", wire}};
    KlaviyoApi api(o);
    const std::string a =
        created_id(api, job_body({profile({{"email", "a@x.io"}}), profile({{"email", "b@x.io"}})}, "GOOD01"));
    const std::string b = created_id(api, job_body({profile({{"email", "c@x.io"}})}));
    int phases = 0;
    for (Duration t : {Duration(0s), Duration(1s), Duration(6s), Duration(15s), Duration(24s), Duration(1h)}) {
      for (const std::string& id : {a, b}) {
        SCOPED_TRACE(id + " at " + std::to_string(t.count()));
        Response r = api.handle(req("GET", "/api/profile-bulk-import-jobs/" + id), kTimeZero + t);
        ASSERT_EQ(r.status, 200) << r.body;
        EXPECT_EQ(r.headers.get("Content-Type").value_or(""), "application/vnd.api+json");
        const nlohmann::json doc = api.job_document(id, kTimeZero + t);
        ASSERT_TRUE(doc.is_object());
        EXPECT_EQ(r.body, doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        phases += doc["data"]["attributes"]["started_at"].is_string() + doc["data"]["attributes"]["completed_at"].is_string();
      }
    }
    EXPECT_GT(phases, 4);  // processing and complete were met, not only queued
    EXPECT_TRUE(api.job_document("no-such-job", kTimeZero).is_null());
  }
}

TEST(KlaviyoApi, CancelledJobsApplyNothing) {
  KlaviyoApiOptions o = opts();
  o.cancel_jobs = {1};
  KlaviyoApi api(o);
  nlohmann::json a = {{"email", "a@x.io"}};
  std::string first = created_id(api, job_body({profile(a)}));
  std::string second = created_id(api, job_body({profile(a)}));
  auto st = [&](const std::string& id, Time t) {
    return parse(api.handle(req("GET", "/api/profile-bulk-import-jobs/" + id), t))["data"]["attributes"]["status"];
  };
  EXPECT_EQ(st(first, kTimeZero + 1s), "queued");
  EXPECT_EQ(st(first, kTimeZero + 6s), "cancelled");
  EXPECT_EQ(st(first, kTimeZero + 1h), "cancelled");
  EXPECT_EQ(st(second, kTimeZero + 1h), "complete");
  EXPECT_EQ(api.applied(oracle_key("klaviyo.profile", a)), 1);  // only the second job's
  EXPECT_EQ(api.accepted()["jobs_by_status"]["cancelled"], 1);
}

TEST(KlaviyoApi, ImportTimeErrorsArePaginatedWithCursors) {
  KlaviyoApi api(opts());
  std::vector<nlohmann::json> profiles;
  for (int i = 0; i < 45; ++i) {
    nlohmann::json a = {{"email", "u" + std::to_string(i) + "@x.io"}};
    if (i % 2 == 1) a["phone_number"] = "555-0" + std::to_string(i);  // not E.164: fails at import
    profiles.push_back(profile(a));
  }
  std::string id = created_id(api, job_body(profiles));
  auto job = parse(api.handle(req("GET", "/api/profile-bulk-import-jobs/" + id), kTimeZero + 1h));
  EXPECT_EQ(job["data"]["attributes"]["failed_count"], 22);
  EXPECT_EQ(job["data"]["attributes"]["completed_count"], 23);
  const std::string base = "/api/profile-bulk-import-jobs/" + id + "/import-errors";
  // Default page size 20.
  auto first = parse(api.handle(req("GET", base), kTimeZero + 1h));
  EXPECT_EQ(first["data"].size(), 20u);
  EXPECT_EQ(first["data"][0]["attributes"]["code"], "invalid_phone_number");
  EXPECT_EQ(first["data"][0]["attributes"]["source"]["pointer"],
            "/data/attributes/profiles/data/1/attributes/phone_number");
  EXPECT_EQ(first["data"][0]["attributes"]["original_payload"]["email"], "u1@x.io");
  // Follow links.next with page[size]=15.
  std::string next = base + "?page%5Bsize%5D=15";
  std::set<std::string> seen;
  int pages = 0;
  while (!next.empty()) {
    auto page = parse(api.handle(req("GET", next), kTimeZero + 1h));
    ++pages;
    for (const auto& e : page["data"]) seen.insert(e["id"].get<std::string>());
    next.clear();
    if (page["links"]["next"].is_string()) {
      std::string url = page["links"]["next"];
      next = url.substr(url.find("/api/"));
    }
  }
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(seen.size(), 22u);
  EXPECT_EQ(api.handle(req("GET", base + "?page%5Bsize%5D=101"), kTimeZero + 1h).status, 400);
  EXPECT_EQ(api.handle(req("GET", base + "?page%5Bsize%5D=0"), kTimeZero + 1h).status, 400);
  EXPECT_EQ(api.handle(req("GET", base + "?page%5Bcursor%5D=c20.deadbeef"), kTimeZero + 1h).status, 400);
  EXPECT_EQ(api.accepted()["import_errors"], 22);
}

TEST(KlaviyoApi, IdentityConflictFailsAtImport) {
  KlaviyoApi api(opts());
  created_id(api, job_body({profile({{"email", "a@x.io"}}), profile({{"external_id", "X"}})}));
  api.handle(req("GET", "/api/profile-bulk-import-jobs/x"), kTimeZero + 1h);  // settles the first job
  std::string id = created_id(api, job_body({profile({{"email", "a@x.io"}, {"external_id", "X"}})}), kTimeZero + 1h);
  auto errors = parse(api.handle(req("GET", "/api/profile-bulk-import-jobs/" + id + "/import-errors"), kTimeZero + 2h));
  ASSERT_EQ(errors["data"].size(), 1u);
  EXPECT_EQ(errors["data"][0]["attributes"]["code"], "duplicate_profile");
  EXPECT_EQ(api.profiles(), 2);
}

TEST(KlaviyoApi, FixedWindowRateLimitsWithRetryAfter) {
  KlaviyoApiOptions o = opts();
  o.burst_per_second = 3;
  o.steady_per_minute = 5;
  KlaviyoApi api(o);
  auto get = [&](Time t) { return api.handle(req("GET", "/api/profile-bulk-import-jobs/none"), t); };
  Response first = get(kTimeZero);
  EXPECT_EQ(first.status, 404);  // counted, and carries the RateLimit headers
  EXPECT_EQ(first.headers.get("RateLimit-Limit").value_or(""), "5");
  EXPECT_EQ(first.headers.get("RateLimit-Remaining").value_or(""), "4");
  EXPECT_EQ(first.headers.get("RateLimit-Reset").value_or(""), "60");
  get(kTimeZero + 100ms);
  get(kTimeZero + 200ms);
  Response burst = get(kTimeZero + 300ms);
  EXPECT_EQ(burst.status, 429);
  EXPECT_EQ(burst.headers.get("Retry-After").value_or(""), "1");
  EXPECT_FALSE(burst.headers.get("RateLimit-Limit").has_value());
  EXPECT_EQ(parse(burst)["errors"][0]["code"], "throttled");
  // Another endpoint has its own windows.
  EXPECT_EQ(api.handle(req("GET", "/api/profile-bulk-import-jobs/none/import-errors"), kTimeZero + 300ms).status, 404);
  get(kTimeZero + 1s);
  get(kTimeZero + 1100ms);
  Response steady = get(kTimeZero + 2s);  // 5 in this minute already
  EXPECT_EQ(steady.status, 429);
  EXPECT_EQ(steady.headers.get("Retry-After").value_or(""), "58");
  EXPECT_EQ(get(kTimeZero + 60s).status, 404);
  EXPECT_EQ(api.accepted()["throttled"], 2);
}

TEST(KlaviyoApi, ResetForgetsEverything) {
  KlaviyoApi api(opts());
  created_id(api, job_body({profile({{"email", "a@x.io"}})}));
  api.handle(req("GET", "/api/profile-bulk-import-jobs/x"), kTimeZero + 1h);
  EXPECT_EQ(api.profiles(), 1);
  api.reset();
  EXPECT_EQ(api.profiles(), 0);
  EXPECT_EQ(api.jobs(), 0);
  EXPECT_EQ(api.applied(oracle_key("klaviyo.profile", {{"email", "a@x.io"}})), 0);
  EXPECT_EQ(api.accepted()["requests"], 0);
}

TEST(KlaviyoApiOptions, ErrorsNameTheKey) {
  auto o = KlaviyoApiOptions::from_json({{"procesing_for", "1h"}}, "x.json: /fake/options");
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.error().message.find("x.json: /fake/options/procesing_for"), std::string::npos) << o.error().message;
  auto d = KlaviyoApiOptions::from_json({{"processing_for", 5}}, "x.json: /fake/options");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("/fake/options/processing_for"), std::string::npos) << d.error().message;
  auto c = KlaviyoApiOptions::from_json({{"cancel_jobs", {0}}}, "x.json: /fake/options");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("/fake/options/cancel_jobs/0"), std::string::npos) << c.error().message;
  auto ok = KlaviyoApiOptions::from_json(
      {{"api_key", {{"secret", "k"}}}, {"processing_for", "6h"}, {"cancel_jobs", {2}}, {"list_ids", {"L1"}}}, "x");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->api_key, "k");
  EXPECT_EQ(ok->processing_for, std::chrono::hours(6));
  EXPECT_EQ(ok->cancel_jobs, std::vector<std::int64_t>({2}));
}

}  // namespace
}  // namespace destsim
