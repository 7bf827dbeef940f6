#include "fakes/iterable/iterable_api.h"

#include <gtest/gtest.h>

#include "framework/oracle.h"

namespace destsim {
namespace {

Request post(const std::string& path, const nlohmann::json& body, const std::string& key = "k") {
  Request r;
  r.method = "POST";
  r.host = "api.iterable.com";
  r.path = path;
  if (!key.empty()) r.headers.set("Api-Key", key);
  r.body = body.dump();
  return r;
}

IterableApiOptions opts() {
  IterableApiOptions o;
  o.api_key = "k";
  o.rate_per_second = 0;
  o.disallowed_event_names = {"banned"};
  return o;
}

TEST(IterableApi, RejectsMissingOrWrongKey) {
  IterableApi api(opts());
  Response r = api.handle(post("/api/events/trackBulk", {{"events", nlohmann::json::array()}}, "wrong"), kTimeZero);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(nlohmann::json::parse(r.body)["code"], "BadApiKey");
  EXPECT_EQ(api.handle(post("/api/events/trackBulk", {{"events", nlohmann::json::array()}}, ""), kTimeZero).status,
            401);
}

TEST(IterableApi, TrackBulkReportsPerRecordFailuresAndDedupesEventIds) {
  IterableApi api(opts());
  nlohmann::json events = {
      {{"email", "a@x.io"}, {"eventName", "buy"}, {"id", "e1"}},
      {{"email", "bad-email"}, {"eventName", "buy"}, {"id", "e2"}},
      {{"email", "b@x.io"}, {"eventName", "banned"}, {"id", "e3"}},
      {{"userId", "nobody"}, {"eventName", "buy"}, {"id", "e4"}},
  };
  Response r = api.handle(post("/api/events/trackBulk", {{"events", events}}), kTimeZero);
  ASSERT_EQ(r.status, 200);
  auto b = nlohmann::json::parse(r.body);
  EXPECT_EQ(b["successCount"], 1);
  EXPECT_EQ(b["failCount"], 3);
  EXPECT_EQ(b["invalidEmails"], nlohmann::json({"bad-email"}));
  EXPECT_EQ(b["disallowedEventNames"], nlohmann::json({"banned"}));
  EXPECT_EQ(b["failedUpdates"]["notFoundUserIds"], nlohmann::json({"nobody"}));
  // The same event id again updates, it does not duplicate.
  api.handle(post("/api/events/trackBulk", {{"events", {events[0]}}}), kTimeZero);
  EXPECT_EQ(api.events(), 1);
  EXPECT_EQ(api.applied(oracle_key("iterable.event", events[0])), 2);
  EXPECT_EQ(api.applied(oracle_key("iterable.event", events[1])), 0);
}

TEST(IterableApi, FieldTypeMismatchRejectsTheWholeRequest) {
  IterableApi api(opts());
  ASSERT_EQ(api.handle(post("/api/users/bulkUpdate",
                            {{"users", {{{"email", "a@x.io"}, {"dataFields", {{"age", 30}}}}}}}),
                       kTimeZero)
                .status,
            200);
  Response r = api.handle(post("/api/users/bulkUpdate",
                               {{"users",
                                 {{{"email", "b@x.io"}, {"dataFields", {{"age", 31}}}},
                                  {{"email", "c@x.io"}, {"dataFields", {{"age", "old"}}}}}}}),
                          kTimeZero);
  EXPECT_EQ(r.status, 400);
  auto b = nlohmann::json::parse(r.body);
  EXPECT_EQ(b["code"], "RequestFieldsTypesMismatched");
  EXPECT_EQ(api.users(), 1);  // nothing of the rejected request was applied
}

TEST(IterableApi, EnforcesBodyAndItemLimits) {
  IterableApiOptions o = opts();
  o.body_bytes_max = 200;
  o.items_max = 2;
  IterableApi api(o);
  nlohmann::json big = {{"email", "a@x.io"}, {"eventName", std::string(300, 'x')}};
  EXPECT_EQ(api.handle(post("/api/events/trackBulk", {{"events", {big}}}), kTimeZero).status, 413);
  nlohmann::json e = {{"email", "a@x.io"}, {"eventName", "e"}};
  Response r = api.handle(post("/api/events/trackBulk", {{"events", {e, e, e}}}), kTimeZero);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(nlohmann::json::parse(r.body)["code"], "BatchTooLarge");
}

TEST(IterableApi, RateLimitsPerEndpointWithRetryAfter) {
  IterableApiOptions o = opts();
  o.rate_per_second = 2;
  o.burst = 2;
  IterableApi api(o);
  nlohmann::json body = {{"events", nlohmann::json::array()}};
  EXPECT_EQ(api.handle(post("/api/events/trackBulk", body), kTimeZero).status, 200);
  EXPECT_EQ(api.handle(post("/api/events/trackBulk", body), kTimeZero).status, 200);
  Response limited = api.handle(post("/api/events/trackBulk", body), kTimeZero);
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.headers.get("Retry-After").value(), "1");
  // Another endpoint has its own bucket; time refills.
  EXPECT_EQ(api.handle(post("/api/users/bulkUpdate", {{"users", nlohmann::json::array()}}), kTimeZero).status, 200);
  EXPECT_EQ(api.handle(post("/api/events/trackBulk", body), kTimeZero + std::chrono::milliseconds(500)).status, 200);
}

TEST(IterableApi, ListsAndSubscriptions) {
  IterableApi api(opts());
  nlohmann::json sub = {{"listId", 7}, {"subscribers", {{{"email", "a@x.io"}}, {{"email", "nope"}}}}};
  auto b = nlohmann::json::parse(api.handle(post("/api/lists/subscribe", sub), kTimeZero).body);
  EXPECT_EQ(b["successCount"], 1);
  EXPECT_EQ(b["failedUpdates"]["invalidEmails"], nlohmann::json({"nope"}));
  EXPECT_EQ(api.accepted()["lists"]["7"], nlohmann::json({"email:a@x.io"}));
  nlohmann::json subs = {{"updateSubscriptionsRequests", {{{"email", "a@x.io"}, {"emailListIds", {7}}}}}};
  EXPECT_EQ(api.handle(post("/api/users/bulkUpdateSubscriptions", subs), kTimeZero).status, 200);
  nlohmann::json subs2 = {{"updateSubscriptionsRequests", {{{"email", "a@x.io"}, {"unsubscribedChannelIds", {1}}}}}};
  api.handle(post("/api/users/bulkUpdateSubscriptions", subs2), kTimeZero);
  auto users = api.accepted()["users"];
  ASSERT_EQ(users.size(), 1u);
  // Overwrites rather than merges.
  EXPECT_FALSE(users[0]["subscriptions"].contains("emailListIds"));
  EXPECT_EQ(users[0]["subscriptions"]["unsubscribedChannelIds"], nlohmann::json({1}));
}

TEST(IterableApi, SingleEndpointsAnswerLikeTheRealOnes) {
  IterableApi api(opts());
  Response bad = api.handle(post("/api/events/track", {{"email", "nope"}, {"eventName", "x"}}), kTimeZero);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(nlohmann::json::parse(bad.body)["code"], "InvalidEmailAddressError");
  Response banned = api.handle(post("/api/events/track", {{"email", "a@x.io"}, {"eventName", "banned"}}), kTimeZero);
  EXPECT_EQ(banned.status, 200);
  EXPECT_NE(nlohmann::json::parse(banned.body)["msg"].get<std::string>().find("is disallowed from tracking"),
            std::string::npos);
  EXPECT_EQ(api.handle(post("/api/events/trackBulk", nlohmann::json::object()), kTimeZero).status, 400);
  Request garbage = post("/api/events/trackBulk", nullptr);
  garbage.body = "{not json";
  EXPECT_EQ(nlohmann::json::parse(api.handle(garbage, kTimeZero).body)["code"], "BadJsonBody");
}

TEST(IterableApiOptions, ErrorsNameTheKey) {
  auto o = IterableApiOptions::from_json({{"rate_per_secnd", 3}}, "x.json: /fake/options");
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.error().message.find("x.json: /fake/options/rate_per_secnd: unknown key"), std::string::npos);
}


// One ~200 KB POST of 100,000 nested arrays in dataFields once killed `serve
// iterable` (the parsed value overflowed the stack when copied). A fake answers
// 400 to what it cannot take, keeps nothing of it, and goes on serving.
TEST(IterableApi, AnswersADeeplyNestedBody400AndStaysUp) {
  IterableApi api(opts());
  std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  Request r = post("/api/users/update", nlohmann::json::object());
  r.body = R"({"email": "a@x.io", "dataFields": {"x": )" + deep + "}}";
  Response bad = api.handle(r, kTimeZero);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(nlohmann::json::parse(bad.body)["code"], "BadJsonBody");
  EXPECT_EQ(api.users(), 0);
  Response ok = api.handle(post("/api/users/update", {{"email", "a@x.io"}, {"dataFields", {{"x", 1}}}}), kTimeZero);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(api.users(), 1);
}

}  // namespace
}  // namespace destsim
