// control_test.cpp — Fake::control: each fake's operations change what the
// next request meets, and a bad operation names its JSON path and changes nothing.
#include <gtest/gtest.h>

#include "fakes/catalog.h"
#include "fakes/iterable/iterable_api.h"
#include "fakes/marketo/marketo_api.h"
#include "fakes/scripted/scripted_api.h"
#include "fakes/sftp/sftp_fake.h"

namespace destsim {
namespace {

Status control(Fake& fake, const char* op_text) {
  nlohmann::json op = nlohmann::json::parse(op_text);
  return fake.control(JsonIn(op, "s.json", "/fake/seed/0"), kTimeZero);
}

Request post(const std::string& path, const nlohmann::json& body, const std::string& key = "k") {
  Request r;
  r.method = "POST";
  r.host = "api.iterable.com";
  r.path = path;
  r.headers.set("Api-Key", key);
  r.headers.set("Content-Type", "application/json");
  r.body = body.dump();
  return r;
}

TEST(FakeControl, IterableRevokesAKeyAndDeletesAList) {
  IterableApi api;
  const nlohmann::json sub = {{"listId", 7}, {"subscribers", {{{"email", "a@x.com"}}}}};
  ASSERT_EQ(api.handle(post("/api/lists/subscribe", sub), kTimeZero).status, 200);
  EXPECT_EQ(api.accepted()["lists"]["7"].size(), 1u);
  ASSERT_TRUE(control(api, R"({"delete_list": 7})").ok());
  EXPECT_FALSE(api.accepted()["lists"].contains("7"));  // its members went with it
  Response gone = api.handle(post("/api/lists/subscribe", sub), kTimeZero);
  EXPECT_EQ(gone.status, 500);
  EXPECT_NE(gone.body.find("invalidListId"), std::string::npos);
  ASSERT_TRUE(control(api, R"({"create_list": 7})").ok());
  EXPECT_EQ(api.handle(post("/api/lists/subscribe", sub), kTimeZero).status, 200);

  ASSERT_TRUE(control(api, R"({"set_api_key": "rotated"})").ok());
  EXPECT_EQ(api.handle(post("/api/lists/subscribe", sub, "k"), kTimeZero).status, 401);
  EXPECT_EQ(api.handle(post("/api/lists/subscribe", sub, "rotated"), kTimeZero).status, 200);
}

TEST(FakeControl, ASeedingRequestMustSucceed) {
  IterableApi api;
  // A user seeded with a string field: a later number in that field is a type conflict.
  ASSERT_TRUE(control(api, R"({"request": {"method": "POST", "path": "/api/users/update",
                               "headers": {"Api-Key": "k"},
                               "json": {"email": "a@x.com", "dataFields": {"age": "forty"}}}})")
                  .ok());
  EXPECT_EQ(api.accepted()["users"].size(), 1u);
  auto refused = control(api, R"({"request": {"method": "POST", "path": "/api/users/update", "json": {}}})");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("s.json: /fake/seed/0/request: the fake answered 401"), std::string::npos)
      << refused.error().message;
}

TEST(FakeControl, UnknownAndMalformedOperationsNameThePath) {
  IterableApi api;
  auto unknown = control(api, R"({"drop_table": "x"})");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message,
            "s.json: /fake/seed/0/drop_table: fake iterable has no operation \"drop_table\" (set_api_key, "
            "create_list, delete_list, request)");
  auto two = control(api, R"({"create_list": 1, "delete_list": 2})");
  ASSERT_FALSE(two.ok());
  EXPECT_NE(two.error().message.find("exactly one operation of fake iterable"), std::string::npos);
  auto bad = control(api, R"({"delete_list": "seven"})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("/fake/seed/0/delete_list"), std::string::npos);
}

TEST(FakeControl, MarketoExpiresEveryToken) {
  MarketoApiOptions o;
  o.client_id = "cid";
  o.client_secret = "csec";
  o.token_ttl = std::chrono::hours(48);
  MarketoApi api(o);
  Request tok;
  tok.method = "POST";
  tok.host = "mkto";
  tok.path = "/identity/oauth/token?grant_type=client_credentials&client_id=cid&client_secret=csec";
  const std::string token = nlohmann::json::parse(api.handle(tok, kTimeZero).body)["access_token"];
  Request get;
  get.host = "mkto";
  get.path = "/bulk/v1/leads/batch/1.json";
  get.headers.set("Authorization", "Bearer " + token);
  const std::string before = api.handle(get, kTimeZero).body;
  EXPECT_EQ(before.find("\"602\""), std::string::npos);
  ASSERT_TRUE(control(api, R"({"expire_tokens": true})").ok());
  EXPECT_NE(api.handle(get, kTimeZero).body.find("\"602\""), std::string::npos);
  ASSERT_TRUE(control(api, R"({"set_client_secret": "new"})").ok());
  EXPECT_NE(api.handle(tok, kTimeZero).status, 200);
  EXPECT_FALSE(control(api, R"({"expire_tokens": false})").ok());
  // Marketo refuses in a 200: a seeding request with an expired token is refused, not taken.
  auto refused = control(api, R"({"request": {"method": "GET", "path": "/bulk/v1/leads/batch/1.json",
                                              "headers": {"Authorization": "Bearer mkto-token-1:ab"}}})");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("s.json: /fake/seed/0/request: Marketo refused it in a 200"), std::string::npos)
      << refused.error().message;
}

TEST(FakeControl, ScriptedQueuesAndAddsFailures) {
  ScriptedApi api;
  Request r;
  r.method = "POST";
  r.path = "/api/x";
  ASSERT_TRUE(control(api, R"({"queue": [{"status": 418, "body": "teapot"}, {"status": 200, "json": {"ok": 1}}]})").ok());
  ASSERT_TRUE(control(api, R"({"fail_count": 1})").ok());
  EXPECT_EQ(api.handle(r, kTimeZero).status, 418);
  EXPECT_EQ(api.handle(r, kTimeZero).body, R"({"ok":1})");
  EXPECT_EQ(api.handle(r, kTimeZero).status, 500);
  EXPECT_EQ(api.handle(r, kTimeZero).status, 200);
  ASSERT_TRUE(control(api, R"({"rate_limit_count": 2})").ok());  // two more, from now
  EXPECT_EQ(api.handle(r, kTimeZero).status, 429);
  EXPECT_EQ(api.handle(r, kTimeZero).status, 429);
  EXPECT_EQ(api.handle(r, kTimeZero).status, 200);
  auto bad = control(api, R"({"queue": [{"status": 200}, {"status": 99}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("/fake/seed/0/queue/1/status"), std::string::npos);
  EXPECT_EQ(api.handle(r, kTimeZero).status, 200);  // nothing of the bad queue was kept
}

TEST(FakeControl, SftpChangesPasswordsFilesQuotaAndDenyRules) {
  SftpFakeOptions o;
  o.users.push_back(SftpUser{"u", "p", {}});
  SftpFake fake(o);
  EXPECT_TRUE(fake.authenticate({{"user", "u"}, {"password", "p"}}).ok());
  ASSERT_TRUE(control(fake, R"({"set_password": {"user": "u", "password": "q"}})").ok());
  EXPECT_FALSE(fake.authenticate({{"user", "u"}, {"password", "p"}}).ok());
  EXPECT_TRUE(fake.authenticate({{"user", "u"}, {"password", "q"}}).ok());

  ASSERT_TRUE(control(fake, R"({"write_file": {"path": "/exports/old.csv", "content": "a\n"}})").ok());
  EXPECT_EQ(*fake.fs().read_all("/exports/old.csv"), "a\n");
  ASSERT_TRUE(control(fake, R"({"remove": "/exports/old.csv"})").ok());
  EXPECT_FALSE(fake.fs().stat("/exports/old.csv").ok());
  auto missing = control(fake, R"({"remove": "/exports/old.csv"})");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("s.json: /fake/seed/0/remove: "), std::string::npos);

  ASSERT_TRUE(control(fake, R"({"set_quota": 3})").ok());
  EXPECT_FALSE(fake.fs().put("/exports/big.csv", "abcd").ok());
  ASSERT_TRUE(control(fake, R"({"set_quota": null})").ok());
  EXPECT_TRUE(fake.fs().put("/exports/big.csv", "abcd").ok());
  ASSERT_TRUE(control(fake, R"({"deny": {"ops": ["put"], "path": "/exports/*"}})").ok());
  EXPECT_FALSE(fake.fs().put("/exports/other.csv", "x").ok());
  EXPECT_FALSE(control(fake, R"({"deny": {"ops": ["connect"], "path": "/x"}})").ok());
  EXPECT_FALSE(control(fake, R"({"set_password": {"user": "", "password": "x"}})").ok());
  // An operator's removal is not subject to the deny rules the clients meet.
  EXPECT_TRUE(control(fake, R"({"remove": "/exports/big.csv"})").ok());
}

TEST(FakeControl, EveryCatalogFakeListsItsOperations) {
  // Each built-in fake names what it takes, so a scenario's error can list it.
  for (const FakeEntry* e : all_fakes()) {
    auto fake = e->make(nlohmann::json::object(), "opts");
    ASSERT_TRUE(fake.ok()) << e->name;
    EXPECT_FALSE((*fake)->control_ops().empty()) << e->name;
  }
}

}  // namespace
}  // namespace destsim
