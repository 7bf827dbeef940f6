#include "fakes/fault_plan.h"

#include <gtest/gtest.h>

namespace destsim {
namespace {

FaultPlan parse(const char* text) {
  auto plan = FaultPlan::from_json(nlohmann::json::parse(text), "test.json");
  EXPECT_TRUE(plan.ok()) << (plan.ok() ? "" : plan.error().message);
  return plan.ok() ? std::move(plan).value() : FaultPlan();
}

std::string parse_error(const char* text) {
  auto plan = FaultPlan::from_json(nlohmann::json::parse(text), "test.json");
  EXPECT_FALSE(plan.ok());
  return plan.ok() ? "" : plan.error().message;
}

TEST(Glob, MatchesStarsAnywhere) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("/api/*", "/api/events/trackBulk"));
  EXPECT_TRUE(glob_match("/api/*/trackBulk", "/api/events/trackBulk"));
  EXPECT_TRUE(glob_match("*Bulk", "/api/events/trackBulk"));
  EXPECT_FALSE(glob_match("/api/users/*", "/api/events/trackBulk"));
  EXPECT_FALSE(glob_match("/api", "/api/x"));
}

TEST(FaultPlan, FailNTimesThenPassThrough) {
  FaultPlan plan = parse(R"([{"match": {"method": "POST", "path": "/api/*"}, "times": 2,
                              "respond": {"status": 500, "body": "{\"msg\":\"fail\"}"}}])");
  Rng rng(1);
  for (int i = 0; i < 2; ++i) {
    auto d = plan.decide("POST", "h", "/api/x", 10, Duration(0), rng);
    ASSERT_TRUE(d.action.has_value());
    EXPECT_EQ(d.action->status, 500);
  }
  EXPECT_FALSE(plan.decide("POST", "h", "/api/x", 10, Duration(0), rng).action.has_value());
  EXPECT_FALSE(plan.decide("GET", "h", "/api/x", 10, Duration(0), rng).action.has_value());
}

TEST(FaultPlan, WindowIsHalfOpen) {
  FaultPlan plan = parse(R"([{"window": ["10s", "20m"], "rate_limit": {"retry_after": "60s"}}])");
  Rng rng(1);
  EXPECT_FALSE(plan.decide("POST", "h", "/", 0, std::chrono::seconds(9), rng).action.has_value());
  EXPECT_TRUE(plan.decide("POST", "h", "/", 0, std::chrono::seconds(10), rng).action.has_value());
  EXPECT_TRUE(plan.decide("POST", "h", "/", 0, std::chrono::minutes(19), rng).action.has_value());
  EXPECT_FALSE(plan.decide("POST", "h", "/", 0, std::chrono::minutes(20), rng).action.has_value());
}

TEST(FaultPlan, FromRequestHoldsFromTheNthRequestForItsDuration) {
  FaultPlan plan = parse(R"([{"match": {"path": "/commit"}, "from_request": 3, "lasting": "10s",
                              "outage": {"status": 502, "after": true}}])");
  Rng rng(1);
  using std::chrono::seconds;
  // Requests 1 and 2 (one not matching the rule) come before the outage.
  EXPECT_FALSE(plan.decide("POST", "h", "/commit", 0, seconds(100), rng).action.has_value());
  EXPECT_FALSE(plan.decide("POST", "h", "/rows", 0, seconds(101), rng).action.has_value());
  // The 3rd request starts it, though it does not match; it holds 10 s from then.
  EXPECT_FALSE(plan.decide("POST", "h", "/rows", 0, seconds(102), rng).action.has_value());
  auto d = plan.decide("POST", "h", "/commit", 0, seconds(111), rng);
  ASSERT_TRUE(d.action.has_value());
  EXPECT_TRUE(d.action->after);
  EXPECT_EQ(d.action->status, 502);
  EXPECT_FALSE(plan.decide("POST", "h", "/commit", 0, seconds(112), rng).action.has_value());
  // A new process of the fake's door counts again.
  plan.reset_counters();
  EXPECT_FALSE(plan.decide("POST", "h", "/commit", 0, seconds(200), rng).action.has_value());
  EXPECT_EQ(plan.rules()[0].applied, 0);
  auto again = FaultPlan::from_json(plan.to_json(), "again");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->to_json(), plan.to_json());
  EXPECT_EQ(plan.rules()[0].describe(), "* /commit outage 502 after applying from request 3 for 10s");
}

TEST(FaultPlan, TooLargeOnlyAboveTheLimit) {
  FaultPlan plan = parse(R"([{"too_large": {"max_body": "1KB"}}])");
  Rng rng(1);
  EXPECT_FALSE(plan.decide("POST", "h", "/", 1000, Duration(0), rng).action.has_value());
  EXPECT_TRUE(plan.decide("POST", "h", "/", 1001, Duration(0), rng).action.has_value());
}

TEST(FaultPlan, LatencyAddsUpAndFirstActionWins) {
  FaultPlan plan = parse(R"([{"latency": {"fixed": "100ms"}},
                             {"respond": {"status": 502}},
                             {"latency": {"min": "1s", "max": "2s"}},
                             {"respond": {"status": 503}}])");
  Rng rng(5);
  auto d = plan.decide("GET", "h", "/", 0, Duration(0), rng);
  ASSERT_TRUE(d.action.has_value());
  EXPECT_EQ(d.action->status, 502);
  EXPECT_EQ(d.rule, 1);
  EXPECT_GE(d.latency, std::chrono::milliseconds(1100));
  EXPECT_LE(d.latency, std::chrono::milliseconds(2100));
  EXPECT_EQ(plan.rules()[3].applied, 0);
}

TEST(FaultPlan, ProbabilityIsSeeded) {
  auto run = [](std::uint64_t seed) {
    FaultPlan plan = parse(R"([{"probability": "1/3", "reset": "before"}])");
    Rng rng(seed);
    std::string hits;
    for (int i = 0; i < 64; ++i) hits += plan.decide("GET", "h", "/", 0, Duration(0), rng).action.has_value() ? '1' : '0';
    return hits;
  };
  EXPECT_EQ(run(1), run(1));
  EXPECT_NE(run(1), run(2));
  std::string h = run(3);
  auto ones = std::count(h.begin(), h.end(), '1');
  EXPECT_GT(ones, 8);
  EXPECT_LT(ones, 36);
}

TEST(FaultPlan, RoundTripsThroughJson) {
  FaultPlan plan = parse(R"({"rules": [
      {"match": {"method": "POST", "path": "/api/events/trackBulk"}, "window": ["0s", "20m"], "times": 3,
       "probability": "1/2", "rate_limit": {"retry_after": "60s", "http_date": true}},
      {"respond": {"status": 500, "headers": {"X-Why": "test"}, "body": "oops"}},
      {"too_large": {"max_body": "4MB"}}, {"latency": {"min": "1ms", "max": "5ms"}},
      {"timeout": "after"}, {"reset": "before"}, {"garble": true}, {"outage": "refused"},
      {"outage": {"status": 502}}]})");
  auto again = FaultPlan::from_json(plan.to_json(), "again");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->to_json(), plan.to_json());
  EXPECT_EQ(again->rules().size(), 9u);
}

TEST(FaultPlan, ErrorsNameFilePathAndExpectation) {
  EXPECT_EQ(parse_error(R"([{"respond": {"status": "500"}}])"),
            "test.json: /0/respond/status: expected an integer, got \"500\"");
  EXPECT_EQ(parse_error(R"({"rules": [{"respond": {"status": 500}}, {"rate_limit": {"retry_after": 60}}]})"),
            "test.json: /rules/1/rate_limit/retry_after: expected a duration string like \"250ms\", \"10s\", \"6h\", "
            "got 60");
  EXPECT_NE(parse_error(R"([{"respnd": {"status": 500}}])").find("/0/respnd: unknown key \"respnd\""),
            std::string::npos);
  EXPECT_NE(parse_error(R"([{"times": 2}])").find("exactly one action"), std::string::npos);
  EXPECT_NE(parse_error(R"([{"timeout": true}])").find("\"before\" or \"after\""), std::string::npos);
  EXPECT_NE(parse_error(R"([{"window": ["5m", "1m"], "garble": true}])").find("end is after its start"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"ruls": []})").find("unknown key"), std::string::npos);
  EXPECT_EQ(parse_error(R"([{"from_request": 0, "garble": true}])"),
            "test.json: /0/from_request: expected an integer >= 1, got 0");
  EXPECT_NE(parse_error(R"([{"window": ["0s", null], "from_request": 2, "garble": true}])").find("not both"),
            std::string::npos);
  EXPECT_NE(parse_error(R"([{"lasting": "5s", "garble": true}])").find("/0/lasting: \"lasting\" needs"),
            std::string::npos);
}

TEST(InjectedResponse, RateLimitCarriesRetryAfterInBothForms) {
  FaultRule r;
  r.kind = FaultKind::rate_limit;
  r.retry_after = std::chrono::milliseconds(1500);
  Response a = injected_response(r, 0);
  EXPECT_EQ(a.status, 429);
  EXPECT_EQ(a.headers.get("Retry-After").value(), "2");  // rounded up, never shorter
  EXPECT_TRUE(a.injected);
  r.retry_after_http_date = true;
  Response b = injected_response(r, 784'111'777'000 - 2000);
  EXPECT_EQ(b.headers.get("Retry-After").value(), "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST(Garble, IsDeterministicAndCorrupts) {
  Rng a(1), b(1);
  std::string body = R"({"successCount":10,"failCount":0})";
  std::string ga = garble_body(body, a);
  EXPECT_EQ(ga, garble_body(body, b));
  EXPECT_NE(ga, body);
  EXPECT_FALSE(nlohmann::json::accept(ga));
}

TEST(FaultPlan, MatchesOnBodyQueryAndHeaders) {
  // "Fail the request holding record 7": a literal in the body; a query glob;
  // a header glob (any case in the name); all conditions of a rule must hold.
  FaultPlan plan = parse(R"([{"match": {"method": "POST", "body_contains": "\"user7@"}, "respond": {"status": 502}},
                             {"match": {"query": "*listId=9*"}, "respond": {"status": 404}},
                             {"match": {"headers": {"content-type": "text/*"}}, "respond": {"status": 415}},
                             {"match": {"body_contains": ["alpha", "beta"]}, "respond": {"status": 409}}])");
  Rng rng(1);
  auto decide = [&](const char* method, const char* target, std::string body, Headers headers = {}) {
    Request r;
    r.method = method;
    r.host = "h";
    r.path = target;
    r.body = std::move(body);
    r.headers = std::move(headers);
    auto d = plan.decide(FaultRequest::of(r), Duration(0), rng);
    return d.action ? d.action->status : 0;
  };
  EXPECT_EQ(decide("POST", "/api/x", R"({"email":"user7@x.com"})"), 502);
  EXPECT_EQ(decide("POST", "/api/x", R"({"email":"user70@x.com"})"), 0);  // the literal is exact
  EXPECT_EQ(decide("GET", "/api/x", R"({"email":"user7@x.com"})"), 0);    // method still matters
  EXPECT_EQ(decide("GET", "/lists?listId=9&x=1", ""), 404);
  EXPECT_EQ(decide("GET", "/lists?listId=8", ""), 0);
  EXPECT_EQ(decide("GET", "/lists", ""), 0);
  EXPECT_EQ(decide("PUT", "/x", "", Headers{{"Content-Type", "text/csv"}}), 415);
  EXPECT_EQ(decide("PUT", "/x", "", Headers{{"Content-Type", "application/json"}}), 0);
  EXPECT_EQ(decide("PUT", "/x", ""), 0);  // a header the request lacks does not match
  EXPECT_EQ(decide("PUT", "/x", "alpha"), 0);
  EXPECT_EQ(decide("PUT", "/x", "beta and alpha"), 409);
  // Without content (an SFTP operation), a content rule never matches.
  EXPECT_FALSE(plan.decide("POST", "h", "/api/x", 30, Duration(0), rng).action.has_value());
  // Round trip, and a description that names the conditions.
  auto again = FaultPlan::from_json(plan.to_json(), "again");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->to_json(), plan.to_json());
  EXPECT_NE(plan.rules()[0].describe().find("body has"), std::string::npos);
  EXPECT_NE(plan.rules()[1].describe().find("?*listId=9*"), std::string::npos);
}

TEST(FaultPlan, ContentMatchesAreBounded) {
  EXPECT_NE(parse_error(R"([{"match": {"body_contains": ""}, "garble": true}])").find("test.json: /0/match/body_contains"),
            std::string::npos);
  std::string big = R"([{"match": {"body_contains": ")" + std::string(kFaultBodyMatchMax + 1, 'x') + R"("}, "garble": true}])";
  EXPECT_NE(parse_error(big.c_str()).find("at most 4096 bytes"), std::string::npos);
  EXPECT_NE(parse_error(R"([{"match": {"headers": {"X": 1}}, "garble": true}])").find("/0/match/headers/X"),
            std::string::npos);
  EXPECT_NE(parse_error(R"([{"match": {"body_contains": []}, "garble": true}])").find("1 to 32 literals"),
            std::string::npos);
}

}  // namespace
}  // namespace destsim
