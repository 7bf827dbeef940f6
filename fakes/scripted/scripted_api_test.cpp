#include "fakes/scripted/scripted_api.h"

#include <gtest/gtest.h>

namespace destsim {
namespace {

Request post(std::string path) {
  Request r;
  r.method = "POST";
  r.host = "api.iterable.com";
  r.path = std::move(path);
  r.body = "{}";
  return r;
}

TEST(ScriptedApi, QueueThenFailThenRateLimitThenTooLargeThenSuccess) {
  ScriptedApi api({.fail_count = 2, .rate_limit_count = 1, .content_too_large_count = 1});
  api.add_response(418, "teapot");
  std::vector<int> statuses;
  for (int i = 0; i < 7; ++i) statuses.push_back(api.handle(post("/api/events/trackBulk"), kTimeZero).status);
  EXPECT_EQ(statuses, (std::vector<int>{418, 500, 500, 429, 413, 200, 200}));
  EXPECT_EQ(api.requests(), 7);
  EXPECT_EQ(api.accepted()["accepted"].size(), 2u);
}

TEST(ScriptedApi, FailureBodyMatchesThePeer) {
  ScriptedApi api({.fail_count = 1});
  Response r = api.handle(post("/x"), kTimeZero);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, R"({"msg":"fail","code":"500","params":null})");
  EXPECT_TRUE(r.headers.empty());
}

TEST(ScriptedApi, CountersNeverReset) {
  ScriptedApi api({.fail_count = 1});
  EXPECT_EQ(api.handle(post("/x"), kTimeZero).status, 500);
  EXPECT_EQ(api.handle(post("/x"), kTimeZero).status, 200);
  api.set_fail_count(1);  // same budget: already spent
  EXPECT_EQ(api.handle(post("/x"), kTimeZero).status, 200);
  api.set_fail_count(2);  // a larger budget gives one more failure
  EXPECT_EQ(api.handle(post("/x"), kTimeZero).status, 500);
}

TEST(ScriptedApi, PeerSuccessBodies) {
  ScriptedApi api;
  auto body = [&](const char* p) { return nlohmann::json::parse(api.handle(post(p), kTimeZero).body); };
  EXPECT_EQ(body("/api/users/bulkUpdate")["successCount"], 10);
  EXPECT_TRUE(body("/api/events/trackBulk")["failedUpdates"]["invalidEmails"].empty());
  EXPECT_EQ(body("/api/events/track")["code"], "200");
}

TEST(ScriptedApi, SuccessBodyPerEndpointByLongestSuffix) {
  ScriptedApi api;
  api.set_success_body("Bulk", R"({"generic":true})");
  api.set_success_body("/api/events/trackBulk", R"({"successCount":1})");  // replaces the default
  EXPECT_EQ(api.handle(post("/api/events/trackBulk"), kTimeZero).body, R"({"successCount":1})");
  EXPECT_EQ(api.handle(post("/api/users/otherBulk?x=1"), kTimeZero).body, R"({"generic":true})");
  EXPECT_EQ(api.requests_by_path().at("/api/users/otherBulk"), 1);
}

}  // namespace
}  // namespace destsim
