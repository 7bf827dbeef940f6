#include "fakes/warehouse/warehouse_api.h"

#include <gtest/gtest.h>

#include "fakes/catalog.h"

namespace destsim {
namespace {

constexpr const char* kKey = "wh-key";

Request req(const std::string& method, const std::string& path, const nlohmann::json& body = nullptr,
            const std::string& key = kKey) {
  Request r;
  r.method = method;
  r.host = "warehouse.example.com";
  r.path = path;
  if (!key.empty()) r.headers.set("Authorization", "Bearer " + key);
  if (!body.is_null()) {
    r.headers.set("Content-Type", "application/json");
    r.body = body.dump();
  }
  return r;
}

nlohmann::json body_of(const Response& r) { return nlohmann::json::parse(r.body); }

std::string code_of(const Response& r) { return body_of(r)["error"]["code"].get<std::string>(); }

class WarehouseTest : public ::testing::Test {
 protected:
  WarehouseTest() : api_(options()) {}

  static WarehouseApiOptions options() {
    WarehouseApiOptions o;
    o.api_key = kKey;
    o.rows_max = 5;
    o.body_bytes_max = 2'000;
    o.row_bytes_max = 300;
    o.stages_max = 3;
    return o;
  }

  Response call(const Request& r) { return api_.handle(r, kTimeZero); }

  std::string stage(const std::string& table, const std::string& label = "sync-a") {
    Response r = call(req("POST", "/v1/stages", {{"table", table}, {"label", label}}));
    EXPECT_EQ(r.status, 201) << r.body;
    return body_of(r)["stage"];
  }

  // (An initializer list, not a json: nlohmann reads a one-element braced list
  // as a copy of that element, not as an array.)
  Response put(const std::string& stage, std::initializer_list<nlohmann::json> entries) {
    return put_array(stage, nlohmann::json(std::vector<nlohmann::json>(entries)));
  }
  Response put_array(const std::string& stage, const nlohmann::json& entries) {
    return call(req("PUT", "/v1/stages/" + stage + "/rows", {{"rows", entries}}));
  }

  Response commit(const std::string& table, const std::string& stage, const std::string& mode,
                  std::int64_t generation = 0, nlohmann::json pk = nlohmann::json::array()) {
    return call(req("POST", "/v1/tables/" + table + "/commit",
                    {{"stage", stage}, {"mode", mode}, {"primary_key", pk}, {"generation", generation}}));
  }

  static nlohmann::json user(std::uint64_t id, const std::string& email) {
    return {{"id", id}, {"row", {{"id", id}, {"email", email}}}};
  }

  WarehouseApi api_;
};

TEST_F(WarehouseTest, AuthIsRequiredAndChecked) {
  Response none = call(req("GET", "/v1/tables", nullptr, ""));
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(code_of(none), "Unauthorized");
  EXPECT_EQ(call(req("GET", "/v1/tables", nullptr, "wrong")).status, 401);
  Request basic = req("GET", "/v1/tables");
  basic.headers.set("Authorization", "Basic wh-key");
  EXPECT_EQ(call(basic).status, 401);
  EXPECT_EQ(call(req("GET", "/v1/tables")).status, 200);
}

TEST_F(WarehouseTest, AppendCommitAppliesStagedRowsOnceAndTagsThem) {
  const std::string s = stage("users");
  Response p = put(s, {user(1, "a@x.io"), user(2, "b@x.io")});
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(body_of(p)["staged"], 2);
  // Re-sending a row (a lost answer) replaces it in the stage: no duplicate.
  ASSERT_EQ(put(s, {user(2, "b@x.io")}).status, 200);
  EXPECT_TRUE(api_.rows("users").empty()) << "staged rows are not in the table before the commit";
  EXPECT_EQ(api_.applied(warehouse_oracle_key("users", 1, {{"id", 1}, {"email", "a@x.io"}})), 0);

  Response c = commit("users", s, "append", 3);
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(body_of(c)["inserted"], 2);
  auto rows = api_.rows("users");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["email"], "a@x.io");
  EXPECT_EQ(rows[0]["_id"], 1);
  EXPECT_EQ(rows[0]["_generation"], 3);
  EXPECT_EQ(api_.applied(warehouse_oracle_key("users", 1, {{"id", 1}, {"email", "a@x.io"}})), 1);
  EXPECT_EQ(api_.applied(warehouse_oracle_key("users", 2, {{"id", 2}, {"email", "b@x.io"}})), 1);
  EXPECT_EQ(api_.applied(warehouse_oracle_key("events", 1, {{"id", 1}, {"email", "a@x.io"}})), 0);

  // A second append of another stage adds rows.
  const std::string s2 = stage("users");
  ASSERT_EQ(put(s2, {user(3, "c@x.io")}).status, 200);
  ASSERT_EQ(commit("users", s2, "append", 3).status, 200);
  EXPECT_EQ(api_.rows("users").size(), 3u);
  EXPECT_EQ(api_.commits(), 2);

  auto acc = api_.accepted();
  EXPECT_EQ(acc["commits"], 2);
  EXPECT_EQ(acc["tables"]["users"].size(), 3u);
  EXPECT_EQ(acc["stages"][s]["state"], "committed");
  EXPECT_EQ(acc["stages"][s]["rows"], 2);
}

TEST_F(WarehouseTest, CommittingAStageTwiceIsRefusedAndAppliesNothing) {
  const std::string s = stage("users");
  ASSERT_EQ(put(s, {user(1, "a@x.io")}).status, 200);
  ASSERT_EQ(commit("users", s, "append").status, 200);
  Response again = commit("users", s, "append");
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(code_of(again), "StageCommitted");
  EXPECT_EQ(api_.rows("users").size(), 1u);
  EXPECT_EQ(api_.applied(warehouse_oracle_key("users", 1, {{"id", 1}, {"email", "a@x.io"}})), 1);
  // Neither can rows be added to it nor can it be dropped: its fate is settled.
  Response late = put(s, {user(2, "b@x.io")});
  EXPECT_EQ(late.status, 409);
  EXPECT_EQ(code_of(late), "StageNotOpen");
  Response drop = call(req("DELETE", "/v1/stages/" + s));
  EXPECT_EQ(drop.status, 409);
  EXPECT_EQ(code_of(drop), "StageCommitted");
}

TEST_F(WarehouseTest, DroppedStageCommitsNothingAndDropIsIdempotent) {
  const std::string s = stage("users");
  ASSERT_EQ(put(s, {user(1, "a@x.io")}).status, 200);
  Response d = call(req("DELETE", "/v1/stages/" + s));
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_EQ(body_of(d)["state"], "dropped");
  EXPECT_EQ(call(req("DELETE", "/v1/stages/" + s)).status, 200);
  Response c = commit("users", s, "append");
  EXPECT_EQ(c.status, 409);
  EXPECT_EQ(code_of(c), "StageDropped");
  EXPECT_TRUE(api_.rows("users").empty());
  EXPECT_EQ(call(req("DELETE", "/v1/stages/stg-99")).status, 404);
  EXPECT_EQ(call(req("GET", "/v1/stages/bogus")).status, 404);
}

TEST_F(WarehouseTest, DedupeUpsertsByPrimaryKeyLaterRowIdWins) {
  const std::string s = stage("users");
  ASSERT_EQ(put(s, {{{"id", 1}, {"row", {{"uid", "u1"}, {"plan", "free"}}}},
                    {{"id", 2}, {"row", {{"uid", "u2"}, {"plan", "free"}}}}})
                .status,
            200);
  ASSERT_EQ(commit("users", s, "dedupe", 0, {"uid"}).status, 200);
  const std::string s2 = stage("users");
  // Row ids 4 and 3 share a key: the higher id wins whatever the order staged.
  ASSERT_EQ(put(s2, {{{"id", 4}, {"row", {{"uid", "u1"}, {"plan", "pro"}}}},
                     {{"id", 3}, {"row", {{"uid", "u1"}, {"plan", "team"}}}},
                     {{"id", 5}, {"row", {{"uid", "u3"}, {"plan", "free"}}}}})
                .status,
            200);
  Response c = commit("users", s2, "dedupe", 0, {"uid"});
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(body_of(c)["inserted"], 1);
  EXPECT_EQ(body_of(c)["updated"], 2);
  auto rows = api_.rows("users");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["uid"], "u1");  // replaced in place
  EXPECT_EQ(rows[0]["plan"], "pro");
  EXPECT_EQ(rows[0]["_id"], 4);
  EXPECT_EQ(rows[1]["uid"], "u2");
  EXPECT_EQ(rows[2]["uid"], "u3");
}

TEST_F(WarehouseTest, DedupeRefusesAStageWithARowLackingTheKeyAtomically) {
  const std::string s = stage("users");
  ASSERT_EQ(put(s, {{{"id", 1}, {"row", {{"uid", "u1"}}}}, {{"id", 2}, {"row", {{"plan", "free"}}}}}).status, 200);
  Response c = commit("users", s, "dedupe", 0, {"uid"});
  EXPECT_EQ(c.status, 400);
  EXPECT_EQ(code_of(c), "MissingPrimaryKey");
  EXPECT_NE(body_of(c)["error"]["message"].get<std::string>().find("row 2"), std::string::npos);
  EXPECT_TRUE(api_.rows("users").empty());
  Response nopk = commit("users", s, "dedupe");
  EXPECT_EQ(nopk.status, 400);
  // Still open: a fixed commit goes through.
  ASSERT_EQ(commit("users", s, "append").status, 200);
  EXPECT_EQ(api_.rows("users").size(), 2u);
}

TEST_F(WarehouseTest, TruncateDeletesOlderGenerationsOnlyWhenItCommits) {
  const std::string g1 = stage("users");
  ASSERT_EQ(put(g1, {user(1, "old1@x.io"), user(2, "old2@x.io")}).status, 200);
  ASSERT_EQ(commit("users", g1, "truncate", 1).status, 200);

  // Generation 2 stages its rows, but the attempt fails: its stage is dropped,
  // and generation 1 stays whole.
  const std::string failed = stage("users");
  ASSERT_EQ(put(failed, {user(3, "new3@x.io")}).status, 200);
  ASSERT_EQ(call(req("DELETE", "/v1/stages/" + failed)).status, 200);
  auto rows = api_.rows("users");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["_generation"], 1);

  // A resumed generation 2 commits in two stages: after the first, generation 1
  // is gone; the second keeps the first's rows (same generation).
  const std::string a = stage("users");
  ASSERT_EQ(put(a, {user(3, "new3@x.io")}).status, 200);
  Response ca = commit("users", a, "truncate", 2);
  ASSERT_EQ(ca.status, 200) << ca.body;
  EXPECT_EQ(body_of(ca)["deleted"], 2);
  const std::string b = stage("users");
  ASSERT_EQ(put(b, {user(4, "new4@x.io")}).status, 200);
  Response cb = commit("users", b, "truncate", 2);
  ASSERT_EQ(cb.status, 200);
  EXPECT_EQ(body_of(cb)["deleted"], 0);
  rows = api_.rows("users");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["email"], "new3@x.io");
  EXPECT_EQ(rows[1]["email"], "new4@x.io");
  for (const auto& r : rows) EXPECT_EQ(r["_generation"], 2);

  // An older generation cannot truncate a newer one.
  const std::string stale = stage("users");
  Response cs = commit("users", stale, "truncate", 1);
  EXPECT_EQ(cs.status, 409);
  EXPECT_EQ(code_of(cs), "StaleGeneration");
  EXPECT_EQ(api_.rows("users").size(), 2u);
}

TEST_F(WarehouseTest, InvalidRowsAreRejectedOneByOneOthersStaged) {
  const std::string s = stage("events");
  Response p = put(s, {{{"id", 1}, {"row", {{"name", "ok"}}}},
                       {{"id", 2}, {"row", {{"tags", {{"nested", true}}}}}},
                       {{"id", 3}, {"row", {{"bad column", 1}}}},
                       {{"id", 4}, {"row", {{"_id", 9}}}},
                       {{"id", 5}, {"row", {{"pad", std::string(400, 'x')}}}}});
  ASSERT_EQ(p.status, 200) << p.body;
  auto b = body_of(p);
  EXPECT_EQ(b["staged"], 1);
  ASSERT_EQ(b["rejected"].size(), 4u);
  EXPECT_EQ(b["rejected"][0]["id"], 2);
  EXPECT_NE(b["rejected"][0]["reason"].get<std::string>().find("expected a scalar"), std::string::npos);
  EXPECT_NE(b["rejected"][1]["reason"].get<std::string>().find("invalid column name"), std::string::npos);
  EXPECT_NE(b["rejected"][2]["reason"].get<std::string>().find("reserved"), std::string::npos);
  EXPECT_NE(b["rejected"][3]["reason"].get<std::string>().find("row limit"), std::string::npos);
  ASSERT_EQ(commit("events", s, "append").status, 200);
  EXPECT_EQ(api_.rows("events").size(), 1u);
}

TEST_F(WarehouseTest, OversizedRequestsAre413AndStageNothing) {
  const std::string s = stage("users");
  nlohmann::json six = nlohmann::json::array();
  for (std::uint64_t i = 1; i <= 6; ++i) six.push_back(user(i, "u@x.io"));
  Response many = put_array(s, six);
  EXPECT_EQ(many.status, 413);
  EXPECT_EQ(code_of(many), "TooManyRows");
  nlohmann::json big = nlohmann::json::array();
  for (std::uint64_t i = 1; i <= 5; ++i) big.push_back({{"id", i}, {"row", {{"pad", std::string(400, 'y')}}}});
  Response bytes = put_array(s, big);
  EXPECT_EQ(bytes.status, 413);
  EXPECT_EQ(code_of(bytes), "PayloadTooLarge");
  Response d = call(req("GET", "/v1/stages/" + s));
  EXPECT_EQ(body_of(d)["rows"], 0);
}

TEST_F(WarehouseTest, BadRequestsNameWhatIsWrong) {
  Response t = call(req("POST", "/v1/stages", {{"table", "9users"}}));
  EXPECT_EQ(t.status, 400);
  EXPECT_EQ(code_of(t), "InvalidTableName");
  const std::string s = stage("users");
  Response e = put(s, {{{"row", {{"a", 1}}}}});
  EXPECT_EQ(e.status, 400);
  EXPECT_NE(body_of(e)["error"]["message"].get<std::string>().find("rows[0]"), std::string::npos);
  Response other = commit("events", s, "append");
  EXPECT_EQ(other.status, 400);
  EXPECT_EQ(code_of(other), "StageTableMismatch");
  Response mode = commit("users", s, "merge");
  EXPECT_EQ(mode.status, 400);
  EXPECT_EQ(call(req("PATCH", "/v1/stages/" + s)).status, 405);
  EXPECT_EQ(call(req("GET", "/v2/stages")).status, 404);
  EXPECT_EQ(call(req("GET", "/v1/tables/nope")).status, 404);
}

TEST_F(WarehouseTest, ListsStagesByLabelAndStateAndCapsOpenStages) {
  const std::string a = stage("users", "sync-a");
  const std::string b = stage("events", "sync-b");
  const std::string c = stage("events", "sync-a");
  Response full = call(req("POST", "/v1/stages", {{"table", "users"}}));
  EXPECT_EQ(full.status, 409);
  EXPECT_EQ(code_of(full), "TooManyStages");
  ASSERT_EQ(call(req("DELETE", "/v1/stages/" + c)).status, 200);
  Response l = call(req("GET", "/v1/stages?label=sync-a&state=open"));
  ASSERT_EQ(l.status, 200);
  auto stages = body_of(l)["stages"];
  ASSERT_EQ(stages.size(), 1u);
  EXPECT_EQ(stages[0]["stage"], a);
  EXPECT_EQ(body_of(call(req("GET", "/v1/stages")))["stages"].size(), 3u);
  EXPECT_EQ(call(req("GET", "/v1/stages?state=gone")).status, 400);
  (void)b;
}

TEST(WarehouseCatalog, BuildsFromOptionsAndNamesBadKeys) {
  const FakeEntry* e = find_fake("warehouse");
  ASSERT_NE(e, nullptr);
  auto ok = e->make({{"api_key", {{"secret", "k"}}}, {"rows_max", 10}, {"body_bytes_max", "1MB"}}, "test");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ((*ok)->name(), "warehouse");
  auto bad = e->make({{"rows_max", 0}}, "opts.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("opts.json"), std::string::npos);
  EXPECT_NE(bad.error().message.find("/rows_max"), std::string::npos);
  auto unknown = e->make({{"colour", 1}}, "opts.json");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("colour"), std::string::npos);
}

TEST(WarehouseSeed, TablesGivenInOptionsExistFromTheStartAndAfterReset) {
  auto o = WarehouseApiOptions::from_json(
      {{"api_key", kKey},
       {"tables", {{"users", {{"generation", 7}, {"rows", {{{"id", 1}, {"email", "old@example.com"}}, {{"id", 2}}}}}}}}},
      "opts.json");
  ASSERT_TRUE(o.ok()) << o.error().message;
  WarehouseApi api(*o);
  auto check = [&] {
    auto rows = api.rows("users");
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0]["email"], "old@example.com");
    EXPECT_EQ(rows[0]["_id"], 1);
    EXPECT_EQ(rows[1]["_generation"], 7);
    nlohmann::json a = api.accepted();
    EXPECT_EQ(a["table_stats"]["users"]["rows"], 2);
    EXPECT_EQ(a["table_stats"]["users"]["generation_max"], 7);
    EXPECT_EQ(a["table_stats"]["users"]["generations"], nlohmann::json({{"7", 2}}));
  };
  check();
  // A truncate refresh of an older generation is refused; a newer one replaces the seed.
  Response s = api.handle(req("POST", "/v1/stages", {{"table", "users"}}), kTimeZero);
  ASSERT_EQ(s.status, 201);
  const std::string stage = body_of(s)["stage"];
  nlohmann::json rows = nlohmann::json::array({{{"id", 5}, {"row", {{"id", 5}}}}});
  ASSERT_EQ(api.handle(req("PUT", "/v1/stages/" + stage + "/rows", {{"rows", rows}}), kTimeZero).status, 200);
  Response stale = api.handle(
      req("POST", "/v1/tables/users/commit", {{"stage", stage}, {"mode", "truncate"}, {"generation", 6}}), kTimeZero);
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(code_of(stale), "StaleGeneration");
  check();  // nothing applied
  Response ok = api.handle(
      req("POST", "/v1/tables/users/commit", {{"stage", stage}, {"mode", "truncate"}, {"generation", 8}}), kTimeZero);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(body_of(ok)["deleted"], 2);
  EXPECT_EQ(api.accepted()["table_stats"]["users"]["generations"], nlohmann::json({{"8", 1}}));
  api.reset();
  check();
}

TEST(WarehouseSeed, BadSeedTablesNameThePath) {
  auto name = WarehouseApiOptions::from_json({{"tables", {{"9lives", {{"rows", nlohmann::json::array()}}}}}}, "opts.json");
  ASSERT_FALSE(name.ok());
  EXPECT_NE(name.error().message.find("/tables/9lives"), std::string::npos) << name.error().message;
  auto nested = WarehouseApiOptions::from_json(
      {{"tables", {{"users", {{"rows", {{{"id", 1}, {"tags", {{"a", 1}}}}}}}}}}}, "opts.json");
  ASSERT_FALSE(nested.ok());
  EXPECT_NE(nested.error().message.find("/tables/users/rows/0/tags"), std::string::npos) << nested.error().message;
  EXPECT_NE(nested.error().message.find("scalar"), std::string::npos);
  auto column = WarehouseApiOptions::from_json({{"tables", {{"users", {{"rows", {{{"_id", 1}}}}}}}}}, "opts.json");
  ASSERT_FALSE(column.ok());
  EXPECT_NE(column.error().message.find("/tables/users/rows/0/_id"), std::string::npos) << column.error().message;
}

}  // namespace
}  // namespace destsim
