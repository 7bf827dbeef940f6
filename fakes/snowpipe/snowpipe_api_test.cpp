#include "fakes/snowpipe/snowpipe_api.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "framework/oracle.h"

namespace destsim {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* kSidecar = "snowpipe-sidecar.local";
constexpr const char* kSqlHost = "destsim.snowflakecomputing.com";
constexpr const char* kEvents = "DESTSIM.RUDDER.EVENTS";
constexpr const char* kPlain = "DESTSIM.RUDDER.PLAIN";

Time at(Duration d) { return kTimeZero + d; }

// `data` as one gzip member, written with zlib.
std::string gzip(std::string_view data) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, static_cast<uLong>(data.size())) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// EVENTS has a column of every type; PLAIN has no ID (the row-form oracle key).
SnowpipeApiOptions opts() {
  SnowpipeApiOptions o;
  o.tables = {{kEvents,
               {{"ID", "VARCHAR(64)", false},
                {"N", "NUMBER", true},
                {"SMALL", "NUMBER(3)", true},
                {"AMOUNT", "NUMBER(10,2)", true},
                {"F", "FLOAT", true},
                {"NAME", "STRING", true},
                {"OK", "BOOLEAN", true},
                {"TS", "TIMESTAMP_TZ", true},
                {"V", "VARIANT", true},
                {"REQ", "INT", false}}},
              {kPlain, {{"A", "VARCHAR", true}, {"B", "NUMBER(38,0)", true}}}};
  return o;
}

Request req(const std::string& method, const std::string& path, const std::string& body = "",
            const std::string& host = kSidecar) {
  Request r;
  r.method = method;
  r.host = host;
  r.path = path;
  r.body = body;
  if (!body.empty()) r.headers.set("Content-Type", "application/json");
  return r;
}

json parse(const Response& r) { return json::parse(r.body); }

json open_body(const std::string& table = "EVENTS", const std::string& rid = "rudder", const std::string& part = "p1") {
  return {{"rudderIdentifier", rid},
          {"partition", part},
          {"account",
           {{"account", "DESTSIM-ACCOUNT"},
            {"user", "DESTSIM_USER"},
            {"role", "DESTSIM_ROLE"},
            {"privateKey", "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----"},
            {"privateKeyPassphrase", ""}}},
          {"table", {{"database", "DESTSIM"}, {"schema", "RUDDER"}, {"table", table}}}};
}

Response open(SnowpipeApi& api, const json& body, Time now = kTimeZero) {
  return api.handle(req("POST", "/channels", body.dump()), now);
}

// Opens a channel and returns its id.
std::string open_id(SnowpipeApi& api, const std::string& table = "EVENTS", Time now = kTimeZero,
                    const std::string& part = "p1") {
  const Response r = open(api, open_body(table, "rudder", part), now);
  EXPECT_EQ(r.status, 200) << r.body;
  const json b = parse(r);
  EXPECT_EQ(b["success"], true) << r.body;
  return b.value("channelId", "");
}

Response insert(SnowpipeApi& api, const std::string& id, const json& rows, const std::string& token,
                Time now = kTimeZero) {
  return api.handle(req("POST", "/channels/" + id + "/insert", json{{"rows", rows}, {"offset", token}}.dump()), now);
}

json good_row(const std::string& id) { return {{"ID", id}, {"REQ", 1}}; }

json status(SnowpipeApi& api, const std::string& id, Time now = kTimeZero) {
  const Response r = api.handle(req("GET", "/channels/" + id + "/status"), now);
  EXPECT_EQ(r.status, 200) << r.body;
  return parse(r);
}

std::string id_key(const std::string& table, const json& id) {
  return oracle_key("snowpipe.row", json{{"table", table}, {"id", id}});
}
std::string row_key(const std::string& table, const json& row) {
  return oracle_key("snowpipe.row", json{{"table", table}, {"row", row}});
}

Response sql(SnowpipeApi& api, const std::string& statement, Time now = kTimeZero) {
  Request r = req("POST", "/api/v2/statements", json{{"statement", statement}, {"timeout", 60}}.dump(), kSqlHost);
  r.headers.set("Authorization", "Bearer jwt.token.here");
  r.headers.set("X-Snowflake-Authorization-Token-Type", "KEYPAIR_JWT");
  return api.handle(r, now);
}

void expect_sql(const Response& r, int status, const std::string& code, const std::string& message_part = "") {
  EXPECT_EQ(r.status, status) << r.body;
  const json b = parse(r);
  EXPECT_EQ(b["code"], code) << r.body;
  EXPECT_NE(b["message"].get<std::string>().find(message_part), std::string::npos)
      << "expected \"" << message_part << "\" in " << r.body;
}

void expect_400(const Response& r, const std::string& error_part) {
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.headers.get("Content-Type"), "application/json");
  const json b = parse(r);
  EXPECT_EQ(b["success"], false);
  EXPECT_EQ(b["code"], "ERR_VALIDATION_ERROR");
  EXPECT_NE(b["error"].get<std::string>().find(error_part), std::string::npos)
      << "expected \"" << error_part << "\" in " << r.body;
}

void expect_404(const Response& r, const std::string& error = "channel not found") {
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(parse(r), (json{{"success", false}, {"error", error}})) << r.body;
}

json columns_of(const SnowpipeApi& api, const std::string& table) {
  return api.accepted()["tables"][table]["columns"];
}

// ---------------------------------------------------------------- channels

TEST(SnowpipeChannels, OpenAnswersTheChannelWithItsTableSchema) {
  SnowpipeApi api(opts());
  const Response r = open(api, open_body());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.get("Content-Type"), "application/json");
  const json b = parse(r);
  EXPECT_EQ(b["success"], true);
  EXPECT_EQ(b["channelId"], "ch-1");
  EXPECT_EQ(b["channelName"], "EVENTS_rudder_p1");
  EXPECT_EQ(b["clientName"], "destsim");
  EXPECT_EQ(b["valid"], true);
  EXPECT_EQ(b["deleted"], false);
  EXPECT_EQ(b["error"], "");
  EXPECT_EQ(b["code"], "");
  EXPECT_EQ(b["snowflakeSDKCode"], "");
  EXPECT_EQ(b["snowflakeAPIHttpCode"], 0);
  EXPECT_EQ(b["snowflakeAPIStatusCode"], 0);
  EXPECT_EQ(b["snowflakeAPIMessage"], "");
  EXPECT_EQ(b.size(), 13u) << r.body;
  const json& s = b["tableSchema"];
  EXPECT_EQ(s.size(), 10u);
  EXPECT_EQ(s["ID"], (json{{"type", "VARCHAR(64)"}, {"scale", 0}, {"nullable", false}}));
  EXPECT_EQ(s["N"], (json{{"type", "NUMBER(38,0)"}, {"scale", 0}, {"nullable", true}}));
  EXPECT_EQ(s["SMALL"]["type"], "NUMBER(3,0)");
  EXPECT_EQ(s["AMOUNT"], (json{{"type", "NUMBER(10,2)"}, {"scale", 2}, {"nullable", true}}));
  EXPECT_EQ(s["F"]["type"], "FLOAT");
  EXPECT_EQ(s["NAME"]["type"], "VARCHAR(16777216)");
  EXPECT_EQ(s["OK"]["type"], "BOOLEAN");
  EXPECT_EQ(s["TS"], (json{{"type", "TIMESTAMP_TZ(9)"}, {"scale", 9}, {"nullable", true}}));
  EXPECT_EQ(s["V"]["type"], "VARIANT");
  EXPECT_EQ(s["REQ"], (json{{"type", "NUMBER(38,0)"}, {"scale", 0}, {"nullable", false}}));
  // A second name gets the next id; GET answers the same channel.
  EXPECT_EQ(open_id(api, "EVENTS", kTimeZero, "p2"), "ch-2");
  const Response g = api.handle(req("GET", "/channels/ch-1"), kTimeZero);
  ASSERT_EQ(g.status, 200);
  EXPECT_EQ(parse(g), b);
  EXPECT_EQ(api.accepted()["channels_opened"], 2);
}

// Each failure, fixed in turn, uncovers the next one: the documented order.
TEST(SnowpipeChannels, FailuresComeInTheDocumentedOrder) {
  SnowpipeApi api(opts());
  json body = open_body("events", "bad id!");
  body["account"]["account"] = "OTHER";
  body["account"]["role"] = "OTHER_ROLE";
  body["table"]["database"] = "NOPE";
  auto expect_failure = [&](const std::string& code, int http_code, const std::string& part) {
    const Response r = open(api, body);
    ASSERT_EQ(r.status, 200) << r.body;
    const json b = parse(r);
    EXPECT_EQ(b["success"], false) << r.body;
    EXPECT_EQ(b["code"], code) << r.body;
    EXPECT_EQ(b["snowflakeAPIHttpCode"], http_code) << r.body;
    EXPECT_NE(b["error"].get<std::string>().find(part), std::string::npos) << r.body;
    EXPECT_EQ(b["snowflakeAPIMessage"], b["error"]);
    EXPECT_EQ(b["channelId"], "");
  };
  expect_failure("ERR_VALIDATION_ERROR", 400, "bad id!");
  body["rudderIdentifier"] = "rudder";
  expect_failure("ERR_VALIDATION_ERROR", 400, "\"events\"");
  body["table"]["table"] = "EVENTS";
  expect_failure("ERR_AUTHENTICATION_FAILED", 401, "OTHER");
  body["account"]["account"] = "destsim-account";  // ASCII case ignored
  expect_failure("ERR_ROLE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED", 403, "OTHER_ROLE");
  body["account"]["role"] = "destsim_role";
  expect_failure("ERR_DATABASE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED", 404, "NOPE");
  body["table"]["database"] = "DESTSIM";
  body["table"]["schema"] = "MISSING";
  expect_failure("ERR_SCHEMA_DOES_NOT_EXIST_OR_NOT_AUTHORIZED", 404, "DESTSIM.MISSING");
  body["table"]["schema"] = "RUDDER";
  body["table"]["table"] = "ABSENT";
  expect_failure("ERR_TABLE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED", 404, "DESTSIM.RUDDER.ABSENT");
  body["table"]["table"] = "EVENTS";
  EXPECT_EQ(parse(open(api, body))["success"], true);
  EXPECT_EQ(api.accepted()["rejected"], 7);
  EXPECT_EQ(api.accepted()["channels_opened"], 1);
}

TEST(SnowpipeChannels, EachFormAndAuthFailure) {
  SnowpipeApi api(opts());
  auto code = [&](const json& body) { return parse(open(api, body))["code"].get<std::string>(); };
  json b = open_body();
  b["partition"] = std::string(129, 'p');
  EXPECT_EQ(code(b), "ERR_VALIDATION_ERROR");
  b = open_body();
  b["partition"] = "";
  EXPECT_EQ(code(b), "ERR_VALIDATION_ERROR");
  b = open_body();
  b["table"]["schema"] = "9RUDDER";
  EXPECT_EQ(code(b), "ERR_VALIDATION_ERROR");
  b = open_body();
  b["table"]["database"] = "$DB";
  EXPECT_EQ(code(b), "ERR_VALIDATION_ERROR");
  b = open_body();
  b["table"]["enableIceberg"] = true;
  EXPECT_EQ(code(b), "ERR_VALIDATION_ERROR");
  b = open_body();
  b["table"]["enableIceberg"] = false;
  EXPECT_EQ(code(b), "");
  b = open_body();
  b["account"]["user"] = "SOMEONE";
  EXPECT_EQ(code(b), "ERR_AUTHENTICATION_FAILED");
  b = open_body();
  b["account"]["user"] = "destsim_user";
  EXPECT_EQ(code(b), "");
  b = open_body();
  b["account"]["privateKey"] = "";
  EXPECT_EQ(code(b), "ERR_AUTHENTICATION_FAILED");
  {
    SnowpipeApiOptions keyed = opts();
    keyed.private_key = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----";
    SnowpipeApi strict(keyed);
    nlohmann::json other = open_body();
    other["account"]["privateKey"] = "-----BEGIN PRIVATE KEY-----\nOTHER\n-----END PRIVATE KEY-----";
    EXPECT_EQ(strict.handle(req("POST", "/channels", other.dump()), kTimeZero).status, 200);
    EXPECT_NE(strict.handle(req("POST", "/channels", other.dump()), kTimeZero).body.find("ERR_AUTHENTICATION_FAILED"),
              std::string::npos);
    EXPECT_NE(strict.handle(req("POST", "/channels", open_body().dump()), kTimeZero).body.find("\"success\":true"),
              std::string::npos);
  }
  b = open_body();
  b["account"]["privateKeyPassphrase"] = "secret";
  EXPECT_EQ(code(b), "");
}

TEST(SnowpipeChannels, MalformedBodiesAre400NamingThePath) {
  SnowpipeApi api(opts());
  expect_400(api.handle(req("POST", "/channels", "{"), kTimeZero), "not valid JSON");
  expect_400(api.handle(req("POST", "/channels", "[1]"), kTimeZero), "/: expected an object");
  json b = open_body();
  b.erase("partition");
  expect_400(open(api, b), "/partition: required");
  b = open_body();
  b["rudderIdentifier"] = 5;
  expect_400(open(api, b), "/rudderIdentifier: expected a string");
  b = open_body();
  b["account"] = "x";
  expect_400(open(api, b), "/account: expected an object");
  b = open_body();
  b["account"].erase("privateKeyPassphrase");
  expect_400(open(api, b), "/account/privateKeyPassphrase: required");
  b = open_body();
  b["table"]["enableIceberg"] = "yes";
  expect_400(open(api, b), "/table/enableIceberg: expected");
  b = open_body();
  b["table"].erase("schema");
  expect_400(open(api, b), "/table/schema: required");
  EXPECT_EQ(api.accepted()["channels_opened"], 0);
  EXPECT_EQ(api.accepted()["rejected"], 8);
}

TEST(SnowpipeChannels, ReopenInvalidatesTheOldIdAndDiscardsItsPendingInserts) {
  SnowpipeApi api(opts());
  const std::string first = open_id(api);
  ASSERT_EQ(parse(insert(api, first, json::array({good_row("a")}), "1"))["success"], true);
  api.catch_up(at(1s));  // "1" commits
  ASSERT_EQ(parse(insert(api, first, json::array({good_row("b")}), "2", at(2s)))["success"], true);
  EXPECT_EQ(status(api, first, at(2s))["latestInsertedOffset"], "2");
  const std::string second = open_id(api, "EVENTS", at(2s));
  EXPECT_EQ(second, "ch-2");
  expect_404(api.handle(req("GET", "/channels/" + first), at(2s)));
  expect_404(api.handle(req("GET", "/channels/" + first + "/status"), at(2s)));
  expect_404(insert(api, first, json::array({good_row("c")}), "3", at(2s)));
  const json st = status(api, second, at(2s));
  EXPECT_EQ(st, (json{{"success", true}, {"offset", "1"}, {"valid", true}, {"latestInsertedOffset", "1"}}));
  api.catch_up(at(1h));
  EXPECT_EQ(api.applied(id_key(kEvents, "a")), 1);
  EXPECT_EQ(api.applied(id_key(kEvents, "b")), 0);  // discarded by the reopen
  EXPECT_EQ(api.accepted()["tables"][kEvents]["rows"], 1);
  // A name that never committed starts from "".
  const std::string other = open_id(api, "EVENTS", at(1h), "p9");
  EXPECT_EQ(status(api, other, at(1h))["offset"], "");
  EXPECT_EQ(status(api, other, at(1h))["latestInsertedOffset"], "");
}

TEST(SnowpipeChannels, UnknownIdsAre404) {
  SnowpipeApi api(opts());
  for (const char* id : {"ch-1", "ch-0", "ch-01", "x", "ch--1"}) {
    expect_404(api.handle(req("GET", std::string("/channels/") + id), kTimeZero));
    expect_404(api.handle(req("DELETE", std::string("/channels/") + id + "?sync=true"), kTimeZero));
  }
}

// ------------------------------------------------------------------ routes

TEST(SnowpipeRoutes, HealthUnknownPathsAndMethods) {
  SnowpipeApi api(opts());
  const Response h = api.handle(req("GET", "/health"), kTimeZero);
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(parse(h), (json{{"status", "ok"}}));
  for (const char* path : {"/", "/nope", "/channels/", "/channels/ch-1/other", "/channels/ch-1/insert/x", "//channels"})
    expect_404(api.handle(req("GET", path), kTimeZero), "not found");
  const std::string id = open_id(api);
  const struct {
    const char* method;
    std::string path;
    const char* allow;
  } cases[] = {{"GET", "/channels", "POST"},
               {"POST", "/health", "GET"},
               {"POST", "/channels/bulk-status?channelIds=ch-1", "GET"},
               {"POST", "/channels/" + id, "GET, DELETE"},
               {"PUT", "/channels/" + id, "GET, DELETE"},
               {"POST", "/channels/" + id + "/status", "GET"},
               {"GET", "/channels/" + id + "/insert", "POST"}};
  for (const auto& c : cases) {
    const Response r = api.handle(req(c.method, c.path), kTimeZero);
    EXPECT_EQ(r.status, 405) << c.method << " " << c.path;
    EXPECT_EQ(r.headers.get("Allow"), c.allow) << c.path;
    EXPECT_EQ(parse(r)["success"], false);
  }
}

// ------------------------------------------------------------------ inserts

TEST(SnowpipeInsert, EachRowErrorFieldAndTheAnswer) {
  SnowpipeApi api(opts());
  const std::string id = open_id(api);
  const json rows = json::array({good_row("ok"),
                                 {{"ID", "x"}, {"REQ", 1}, {"EXTRA", 1}, {"Name", "lower"}},
                                 {{"N", 5}},
                                 {{"ID", nullptr}, {"REQ", nullptr}},
                                 7,
                                 {{"ID", "y"}, {"REQ", 1}, {"OK", "true"}, {"SMALL", 1000}}});
  const Response r = insert(api, id, rows, "10");
  ASSERT_EQ(r.status, 200) << r.body;
  const json b = parse(r);
  EXPECT_EQ(b["success"], false);
  EXPECT_EQ(b["code"], "ERR_INSERT_ROWS_VALIDATION");
  EXPECT_EQ(b.size(), 3u) << r.body;
  const json& e = b["errors"];
  ASSERT_EQ(e.size(), 5u) << r.body;
  EXPECT_EQ(e[0]["rowIndex"], 1);
  EXPECT_EQ(e[0]["extraColNames"], (json{"EXTRA", "Name"}));  // exact, case-sensitive
  EXPECT_EQ(e[0]["missingNotNullColNames"], json::array());
  EXPECT_EQ(e[0]["nullValueForNotNullColNames"], json::array());
  EXPECT_EQ(e[1]["rowIndex"], 2);
  EXPECT_EQ(e[1]["missingNotNullColNames"], (json{"ID", "REQ"}));
  EXPECT_EQ(e[1]["extraColNames"], json::array());
  EXPECT_EQ(e[2]["rowIndex"], 3);
  EXPECT_EQ(e[2]["nullValueForNotNullColNames"], (json{"ID", "REQ"}));
  EXPECT_EQ(e[2]["missingNotNullColNames"], json::array());
  EXPECT_EQ(e[3]["rowIndex"], 4);
  EXPECT_EQ(e[3]["message"], "row is not an object");
  EXPECT_EQ(e[4]["rowIndex"], 5);
  const std::string m = e[4]["message"];
  EXPECT_NE(m.find("Column OK of type BOOLEAN: cannot ingest string true"), std::string::npos) << m;
  EXPECT_NE(m.find("Column SMALL of type NUMBER(3,0): cannot ingest number 1000"), std::string::npos) << m;
  for (const auto& x : e) EXPECT_EQ(x.size(), 5u) << x.dump();
  // on_error continue (the default): the good row is buffered under the token.
  EXPECT_EQ(status(api, id)["latestInsertedOffset"], "10");
  api.catch_up(at(1s));
  EXPECT_EQ(api.applied(id_key(kEvents, "ok")), 1);
  EXPECT_EQ(api.applied(id_key(kEvents, "x")), 0);
  EXPECT_EQ(api.accepted()["tables"][kEvents]["rows"], 1);
  EXPECT_EQ(api.accepted()["inserts"], 1);
  EXPECT_EQ(api.accepted()["rejected"], 1);
  EXPECT_EQ(status(api, id, at(1s))["offset"], "10");
}

TEST(SnowpipeInsert, OnErrorAbortBuffersNothingWhenARowIsBad) {
  SnowpipeApiOptions o = opts();
  o.on_error_abort = true;
  SnowpipeApi api(o);
  const std::string id = open_id(api);
  const Response r = insert(api, id, json::array({good_row("ok"), {{"ID", "x"}}}), "10");
  const json b = parse(r);
  EXPECT_EQ(b["success"], false);
  EXPECT_EQ(b["code"], "ERR_INSERT_ROWS_VALIDATION");
  EXPECT_EQ(b["errors"].size(), 1u);
  EXPECT_EQ(status(api, id)["latestInsertedOffset"], "");
  api.catch_up(at(1h));
  EXPECT_EQ(api.applied(id_key(kEvents, "ok")), 0);
  EXPECT_EQ(api.accepted()["inserts"], 0);
  EXPECT_EQ(status(api, id, at(1h))["offset"], "");
  // A clean insert goes through.
  EXPECT_EQ(parse(insert(api, id, json::array({good_row("ok")}), "10", at(1h))),
            (json{{"success", true}, {"errors", json::array()}, {"code", ""}}));
}

TEST(SnowpipeInsert, TypeConversionsPerType) {
  SnowpipeApi api(opts());
  const std::string id = open_id(api);
  const struct {
    const char* column;
    json value;
    bool ok;
  } cases[] = {
      {"N", 5, true},
      {"N", -9223372036854775807LL, true},
      {"N", 18446744073709551615ULL, true},
      {"N", "-12", true},
      {"N", "0007", true},
      {"N", 1.5, false},
      {"N", "1.5", false},
      {"N", "12a", false},
      {"N", "-", false},
      {"N", true, false},
      {"N", std::string(38, '9'), true},
      {"N", std::string(39, '9'), false},
      {"SMALL", 999, true},
      {"SMALL", -999, true},
      {"SMALL", 1000, false},
      {"SMALL", "0999", true},
      {"SMALL", "-1000", false},
      {"AMOUNT", 1.25, true},
      {"AMOUNT", 3, true},
      {"AMOUNT", "1.25", true},
      {"AMOUNT", "-3", true},
      {"AMOUNT", "1e5", false},
      {"AMOUNT", "1.", false},
      {"AMOUNT", json::array(), false},
      {"F", 1e300, true},
      {"F", "2.5", true},
      {"F", "x", false},
      {"F", false, false},
      {"OK", true, true},
      {"OK", false, true},
      {"OK", "true", false},
      {"OK", 1, false},
      {"ID", std::string(64, 'x'), true},
      {"ID", std::string(65, 'x'), false},
      {"ID", "\xc3\xa9" + std::string(62, 'x'), true},  // 64 bytes of UTF-8
      {"NAME", 5, false},
      {"NAME", "", true},
      {"TS", "2024-01-31T12:00:00Z", true},
      {"TS", "2024-01-31T12:00:00.123456789+05:30", true},
      {"TS", "2024-02-29T00:00:00-08:00", true},
      {"TS", "2023-02-29T00:00:00Z", false},
      {"TS", "2024-01-31 12:00:00Z", false},
      {"TS", "2024-01-31T12:00:00", false},
      {"TS", "2024-01-31T12:00:00.1234567890Z", false},
      {"TS", "2024-01-31T12:00:00+0530", false},
      {"TS", "2024-01-31t12:00:00z", false},
      {"TS", 1700000000, false},
      {"V", json{{"a", json::array({1, 2})}}, true},
      {"V", json::array({1}), true},
      {"V", "s", true},
      {"V", 1.5, true},
  };
  int token = 0;
  for (const auto& c : cases) {
    json row = good_row("r" + std::to_string(token));
    if (std::string(c.column) == "ID")
      row["ID"] = c.value;
    else
      row[c.column] = c.value;
    const json b = parse(insert(api, id, json::array({row}), std::to_string(++token)));
    EXPECT_EQ(b["success"], c.ok) << c.column << " = " << c.value.dump() << ": " << b.dump();
    if (!c.ok && b["errors"].size() == 1) {
      const std::string m = b["errors"][0]["message"];
      EXPECT_EQ(m.rfind(std::string("Column ") + c.column + " of type ", 0), 0u) << m;
      EXPECT_NE(m.find(std::string(": cannot ingest ") + c.value.type_name() + " "), std::string::npos) << m;
    }
  }
  // The value shown in a message is cut to 64 bytes.
  json row = good_row("long");
  row["ID"] = std::string(100, 'z');
  const std::string m = parse(insert(api, id, json::array({row}), "1000"))["errors"][0]["message"];
  EXPECT_EQ(m, "Column ID of type VARCHAR(64): cannot ingest string " + std::string(64, 'z'));
}

TEST(SnowpipeInsert, ValuesOver16MiBAreRefused) {
  SnowpipeApi api(opts());
  const std::string id = open_id(api);
  const std::size_t max = 16'777'216;
  json row = good_row("big");
  row["NAME"] = std::string(max, 'n');
  EXPECT_EQ(parse(insert(api, id, json::array({row}), "1"))["success"], true);
  row["NAME"] = std::string(max + 1, 'n');
  json b = parse(insert(api, id, json::array({row}), "2"));
  ASSERT_EQ(b["errors"].size(), 1u);
  EXPECT_EQ(b["errors"][0]["message"], "value of NAME exceeds 16777216 bytes");
  row.erase("NAME");
  row["V"] = std::string(max + 1, 'v');
  b = parse(insert(api, id, json::array({row}), "3"));
  ASSERT_EQ(b["errors"].size(), 1u);
  EXPECT_EQ(b["errors"][0]["message"], "value of V exceeds 16777216 bytes");
  // A VARIANT array is measured as JSON.
  row["V"] = json::array({std::string(max / 2, 'a'), std::string(max / 2, 'b')});
  b = parse(insert(api, id, json::array({row}), "4"));
  ASSERT_EQ(b["errors"].size(), 1u);
  EXPECT_EQ(b["errors"][0]["message"], "value of V exceeds 16777216 bytes");
}

TEST(SnowpipeInsert, MalformedInsertsAre400) {
  SnowpipeApiOptions o = opts();
  o.insert_rows_max = 2;
  SnowpipeApi api(o);
  const std::string id = open_id(api);
  const std::string path = "/channels/" + id + "/insert";
  auto post = [&](const std::string& body) { return api.handle(req("POST", path, body), kTimeZero); };
  expect_400(post("not json"), "not valid JSON");
  expect_400(post("[]"), "/: expected an object");
  expect_400(post(R"({"offset":"1"})"), "/rows: required");
  expect_400(post(R"({"rows":{},"offset":"1"})"), "/rows: expected an array");
  expect_400(post(R"({"rows":[],"offset":"1"})"), "/rows: expected 1 to 2 rows, got 0");
  expect_400(post(R"({"rows":[{},{},{}],"offset":"1"})"), "/rows: expected 1 to 2 rows, got 3");
  expect_400(post(R"({"rows":[{}]})"), "/offset: required");
  expect_400(post(R"({"rows":[{}],"offset":5})"), "/offset: expected a string");
  for (const char* token : {"+5", "05", "-0", "1.5", "", "-", "9223372036854775808", "-9223372036854775809", " 1", "1e3"})
    expect_400(insert(api, id, json::array({good_row("a")}), token), "/offset: expected a decimal int64");
  for (const char* token : {"0", "-5", "9223372036854775807", "-9223372036854775808"})
    EXPECT_EQ(parse(insert(api, id, json::array({good_row("a")}), token))["success"], true) << token;
  expect_400(post(R"({"rows":[1e400],"offset":"1"})"), "not valid JSON");   // out of range
  expect_400(post("{\"rows\":[\"\xff\"],\"offset\":\"1\"}"), "not valid JSON");  // not UTF-8
  std::string deep(10000, '[');
  expect_400(post(R"({"rows":[)" + deep + "]}"), "not valid JSON");
  EXPECT_EQ(api.accepted()["inserts"], 4);
}

TEST(SnowpipeInsert, TokensAtOrBelowTheCommittedOneAreNoOps) {
  SnowpipeApi api(opts());
  const std::string id = open_id(api);
  ASSERT_EQ(parse(insert(api, id, json::array({good_row("a")}), "10"))["success"], true);
  // Not yet committed: the same token is buffered again (only C counts).
  ASSERT_EQ(parse(insert(api, id, json::array({good_row("b")}), "9"))["success"], true);
  EXPECT_EQ(status(api, id)["latestInsertedOffset"], "9");  // L follows the last insert, even lower
  api.catch_up(at(1s));
  EXPECT_EQ(status(api, id, at(1s))["offset"], "9");  // committed in acceptance order
  const json noop = {{"success", true}, {"errors", json::array()}, {"code", ""}, {"noop", true}};
  EXPECT_EQ(parse(insert(api, id, json::array({good_row("c")}), "9", at(1s))), noop);
  EXPECT_EQ(parse(insert(api, id, json::array({good_row("c")}), "-5", at(1s))), noop);
  // A noop is not validated: a bad row under an old token is still a no-op.
  EXPECT_EQ(parse(insert(api, id, json::array({7}), "2", at(1s))), noop);
  EXPECT_EQ(parse(insert(api, id, json::array({good_row("d")}), "10", at(1s)))["noop"], nullptr);
  api.catch_up(at(1h));
  EXPECT_EQ(api.applied(id_key(kEvents, "c")), 0);
  EXPECT_EQ(api.applied(id_key(kEvents, "d")), 1);
  const json a = api.accepted();
  EXPECT_EQ(a["noop_inserts"], 3);
  EXPECT_EQ(a["inserts"], 3);
  EXPECT_EQ(a["tables"][kEvents]["rows"], 3);
}

TEST(SnowpipeInsert, InvalidChannelRefusesInserts) {
  SnowpipeApi api(opts());
  const std::string id = open_id(api);
  ASSERT_TRUE(api.control(JsonIn(json{{"invalidate", {{"channel", id}}}}, "t"), kTimeZero).ok());
  const Response r = insert(api, id, json::array({good_row("a")}), "1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(parse(r), (json{{"success", false},
                            {"code", "ERR_CHANNEL_INVALID"},
                            {"errors", json::array()},
                            {"error", "channel ch-1 is invalid; reopen it"}}));
  EXPECT_EQ(status(api, id)["valid"], false);
  const Response g = api.handle(req("GET", "/channels/" + id), kTimeZero);
  EXPECT_EQ(parse(g)["valid"], false);
  EXPECT_EQ(api.accepted()["inserts"], 0);
}

// ------------------------------------------------------------------ commits

TEST(SnowpipeCommits, CommitsAfterTheDelayLazilyOnTheNextRequest) {
  SnowpipeApiOptions o = opts();
  o.commit_delay = 5s;
  SnowpipeApi api(o);
  const std::string id = open_id(api);
  ASSERT_EQ(parse(insert(api, id, json::array({good_row("a"), good_row("b")}), "1", at(1s)))["success"], true);
  EXPECT_EQ(status(api, id, at(5999ms)),
            (json{{"success", true}, {"offset", ""}, {"valid", true}, {"latestInsertedOffset", "1"}}));
  EXPECT_EQ(api.applied(id_key(kEvents, "a")), 0);
  // Any request at the commit time commits first (here the health check).
  EXPECT_EQ(api.handle(req("GET", "/health"), at(6s)).status, 200);
  EXPECT_EQ(api.applied(id_key(kEvents, "a")), 1);
  EXPECT_EQ(api.applied(id_key(kEvents, "b")), 1);
  EXPECT_EQ(status(api, id, at(6s))["offset"], "1");
  EXPECT_EQ(status(api, id, at(6s))["latestInsertedOffset"], "1");
}

TEST(SnowpipeCommits, CatchUpCommitsInOrderPerChannel) {
  SnowpipeApi api(opts());
  const std::string a = open_id(api, "EVENTS", kTimeZero, "a");
  const std::string b = open_id(api, "PLAIN", kTimeZero, "b");
  ASSERT_EQ(parse(insert(api, a, json::array({good_row("1")}), "1", at(0s)))["success"], true);
  ASSERT_EQ(parse(insert(api, b, json::array({{{"A", "x"}}}), "7", at(500ms)))["success"], true);
  ASSERT_EQ(parse(insert(api, a, json::array({good_row("2")}), "2", at(700ms)))["success"], true);
  api.catch_up(at(1s));  // only the first is due
  EXPECT_EQ(api.applied(id_key(kEvents, "1")), 1);
  EXPECT_EQ(api.applied(id_key(kEvents, "2")), 0);
  EXPECT_EQ(api.applied(row_key(kPlain, {{"A", "x"}})), 0);
  api.catch_up(at(1700ms));
  EXPECT_EQ(api.applied(id_key(kEvents, "2")), 1);
  EXPECT_EQ(api.applied(row_key(kPlain, {{"A", "x"}})), 1);
  EXPECT_EQ(status(api, a, at(1700ms))["offset"], "2");
  EXPECT_EQ(status(api, b, at(1700ms))["offset"], "7");
  EXPECT_EQ(api.accepted()["tables"][kEvents]["sample"], (json{good_row("1"), good_row("2")}));
}

// -------------------------------------------------------------- bulk status

TEST(SnowpipeStatus, BulkStatusAnswersFoundAndNotFound) {
  SnowpipeApi api(opts());
  const std::string a = open_id(api, "EVENTS", kTimeZero, "a");
  const std::string b = open_id(api, "EVENTS", kTimeZero, "b");
  ASSERT_EQ(parse(insert(api, a, json::array({good_row("1")}), "4"))["success"], true);
  const Response r =
      api.handle(req("GET", "/channels/bulk-status?channelIds=ch-9&channelIds=" + b + "&channelIds=" + a + "&channelIds=zz"),
                 kTimeZero);
  ASSERT_EQ(r.status, 200) << r.body;
  const json body = parse(r);
  EXPECT_EQ(body["success"], true);
  EXPECT_EQ(body["notFound"], (json{"ch-9", "zz"}));
  EXPECT_EQ(body["statuses"][a], (json{{"success", true}, {"offset", ""}, {"valid", true}, {"latestInsertedOffset", "4"}}));
  EXPECT_EQ(body["statuses"][b], (json{{"success", true}, {"offset", ""}, {"valid", true}, {"latestInsertedOffset", ""}}));
  EXPECT_EQ(body.size(), 3u);
  // 0, 101 or a repeat: 400. Exactly 100: 200.
  expect_400(api.handle(req("GET", "/channels/bulk-status"), kTimeZero), "channelIds");
  expect_400(api.handle(req("GET", "/channels/bulk-status?other=1"), kTimeZero), "channelIds");
  expect_400(api.handle(req("GET", "/channels/bulk-status?channelIds=a&channelIds=a"), kTimeZero),
             "more than once");
  std::string q;
  for (int i = 0; i < 100; ++i) q += (q.empty() ? "" : "&") + std::string("channelIds=ch-") + std::to_string(i + 1);
  const Response hundred = api.handle(req("GET", "/channels/bulk-status?" + q), kTimeZero);
  ASSERT_EQ(hundred.status, 200);
  EXPECT_EQ(parse(hundred)["notFound"].size(), 98u);
  EXPECT_EQ(parse(hundred)["statuses"].size(), 2u);
  expect_400(api.handle(req("GET", "/channels/bulk-status?" + q + "&channelIds=ch-101"), kTimeZero), "more than 100");
  // Percent-decoded.
  EXPECT_EQ(parse(api.handle(req("GET", "/channels/bulk-status?channelIds=ch%2D1"), kTimeZero))["statuses"].size(), 1u);
}

// ------------------------------------------------------------------- delete

TEST(SnowpipeDelete, SyncTrueCommitsAtOnce) {
  SnowpipeApiOptions o = opts();
  o.commit_delay = 1h;
  SnowpipeApi api(o);
  const std::string id = open_id(api);
  ASSERT_EQ(parse(insert(api, id, json::array({good_row("a")}), "3"))["success"], true);
  const Response r = api.handle(req("DELETE", "/channels/" + id + "?sync=true"), at(1s));
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(api.applied(id_key(kEvents, "a")), 1);
  expect_404(api.handle(req("GET", "/channels/" + id), at(1s)));
  expect_404(api.handle(req("DELETE", "/channels/" + id + "?sync=true"), at(1s)));
  // The committed token lives on: a reopened name starts from it.
  EXPECT_EQ(status(api, open_id(api, "EVENTS", at(1s)), at(1s))["offset"], "3");
}

TEST(SnowpipeDelete, SyncFalseCommitsAtTheCommitTime) {
  SnowpipeApi api(opts());
  const std::string id = open_id(api);
  ASSERT_EQ(parse(insert(api, id, json::array({good_row("a")}), "3"))["success"], true);
  const Response r = api.handle(req("DELETE", "/channels/" + id + "?sync=false"), at(100ms));
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(api.applied(id_key(kEvents, "a")), 0);
  expect_404(api.handle(req("GET", "/channels/" + id + "/status"), at(200ms)));
  EXPECT_EQ(parse(api.handle(req("GET", "/channels/bulk-status?channelIds=" + id), at(200ms)))["notFound"],
            (json{id}));
  api.catch_up(at(1s));
  EXPECT_EQ(api.applied(id_key(kEvents, "a")), 1);
  EXPECT_EQ(status(api, open_id(api, "EVENTS", at(1s)), at(1s))["offset"], "3");
}

TEST(SnowpipeDelete, SyncMustBeTrueOrFalse) {
  SnowpipeApi api(opts());
  const std::string id = open_id(api);
  for (const char* q : {"", "?sync=TRUE", "?sync=1", "?sync", "?sync=true&sync=true", "?other=true"})
    expect_400(api.handle(req("DELETE", "/channels/" + id + q), kTimeZero), "sync");
  EXPECT_EQ(api.handle(req("GET", "/channels/" + id), kTimeZero).status, 200);  // still open
}

// ------------------------------------------------------------------- faults

TEST(SnowpipeFaults, LoseEveryLosesTheInsertAndItsChannelsPendingOnes) {
  SnowpipeApiOptions o = opts();
  o.lose_every = 2;
  SnowpipeApi api(o);
  const std::string id = open_id(api);
  ASSERT_EQ(parse(insert(api, id, json::array({good_row("a")}), "1"))["success"], true);
  EXPECT_EQ(status(api, id)["latestInsertedOffset"], "1");
  // The 2nd is answered as usual, then lost with the 1st.
  EXPECT_EQ(parse(insert(api, id, json::array({good_row("b")}), "2"))["success"], true);
  EXPECT_EQ(status(api, id), (json{{"success", true}, {"offset", ""}, {"valid", true}, {"latestInsertedOffset", ""}}));
  EXPECT_EQ(parse(insert(api, id, json::array({good_row("c")}), "3"))["success"], true);
  api.catch_up(at(1h));
  EXPECT_EQ(api.applied(id_key(kEvents, "a")), 0);
  EXPECT_EQ(api.applied(id_key(kEvents, "b")), 0);
  EXPECT_EQ(api.applied(id_key(kEvents, "c")), 1);
  EXPECT_EQ(api.accepted()["lost_inserts"], 2);
  EXPECT_EQ(api.accepted()["inserts"], 3);
}

TEST(SnowpipeFaults, InvalidateEveryTurnsTheChannelInvalidAtCommitTime) {
  SnowpipeApiOptions o = opts();
  o.invalidate_every = 2;
  SnowpipeApi api(o);
  const std::string id = open_id(api);
  ASSERT_EQ(parse(insert(api, id, json::array({good_row("a")}), "1"))["success"], true);
  ASSERT_EQ(parse(insert(api, id, json::array({good_row("b")}), "2", at(100ms)))["success"], true);
  ASSERT_EQ(parse(insert(api, id, json::array({good_row("c")}), "3", at(200ms)))["success"], true);
  EXPECT_EQ(status(api, id, at(1050ms))["offset"], "1");
  EXPECT_EQ(status(api, id, at(1050ms))["valid"], true);
  // At the 2nd insert's commit time: invalid, the 2nd and 3rd discarded.
  EXPECT_EQ(status(api, id, at(1100ms)),
            (json{{"success", true}, {"offset", "1"}, {"valid", false}, {"latestInsertedOffset", "1"}}));
  EXPECT_EQ(parse(insert(api, id, json::array({good_row("d")}), "4", at(2s)))["code"], "ERR_CHANNEL_INVALID");
  api.catch_up(at(1h));
  EXPECT_EQ(api.applied(id_key(kEvents, "b")), 0);
  EXPECT_EQ(api.applied(id_key(kEvents, "c")), 0);
  EXPECT_EQ(api.accepted()["invalidated"], 1);
  // Reopened, it works again.
  const std::string again = open_id(api, "EVENTS", at(1h));
  EXPECT_EQ(status(api, again, at(1h))["valid"], true);
  EXPECT_EQ(parse(insert(api, again, json::array({good_row("e")}), "5", at(1h)))["success"], true);
}

TEST(SnowpipeFaults, StallEveryHoldsTheInsertAndTheOnesAfterIt) {
  SnowpipeApiOptions o = opts();
  o.stall_every = 3;
  SnowpipeApi api(o);
  const std::string id = open_id(api);
  const std::string other = open_id(api, "PLAIN", kTimeZero, "x");
  ASSERT_EQ(parse(insert(api, id, json::array({good_row("a")}), "1"))["success"], true);
  ASSERT_EQ(parse(insert(api, other, json::array({{{"A", "o"}}}), "1"))["success"], true);  // other channel: fine
  ASSERT_EQ(parse(insert(api, id, json::array({good_row("b")}), "2"))["success"], true);    // the 3rd: stalls
  ASSERT_EQ(parse(insert(api, id, json::array({good_row("c")}), "3"))["success"], true);    // blocked
  api.catch_up(at(24h));
  EXPECT_EQ(status(api, id, at(24h)),
            (json{{"success", true}, {"offset", "1"}, {"valid", true}, {"latestInsertedOffset", "3"}}));
  EXPECT_EQ(api.applied(id_key(kEvents, "b")), 0);
  EXPECT_EQ(api.applied(id_key(kEvents, "c")), 0);
  EXPECT_EQ(api.applied(row_key(kPlain, {{"A", "o"}})), 1);
  EXPECT_EQ(api.accepted()["stalled"], 1);
  // A reopen discards them.
  const std::string again = open_id(api, "EVENTS", at(24h));
  EXPECT_EQ(status(api, again, at(24h))["latestInsertedOffset"], "1");
  api.catch_up(at(48h));
  EXPECT_EQ(api.applied(id_key(kEvents, "b")), 0);
}

TEST(SnowpipeFaults, RestartEveryForgetsEveryChannelAfterAnswering) {
  SnowpipeApiOptions o = opts();
  o.restart_every = 3;
  SnowpipeApi api(o);
  const std::string id = open_id(api);
  const std::string other = open_id(api, "EVENTS", kTimeZero, "p2");
  ASSERT_EQ(parse(insert(api, id, json::array({good_row("a")}), "1"))["success"], true);
  api.catch_up(at(1s));
  ASSERT_EQ(parse(insert(api, other, json::array({good_row("p")}), "8", at(1500ms)))["success"], true);
  // The 3rd insert is answered, then the sidecar restarts.
  EXPECT_EQ(parse(insert(api, id, json::array({good_row("b")}), "2", at(2s)))["success"], true);
  expect_404(api.handle(req("GET", "/channels/" + id), at(2s)));
  EXPECT_EQ(parse(api.handle(req("GET", "/channels/bulk-status?channelIds=ch-1&channelIds=ch-2"), at(2s)))["notFound"],
            (json{"ch-1", "ch-2"}));
  api.catch_up(at(1h));
  EXPECT_EQ(api.applied(id_key(kEvents, "b")), 0);
  EXPECT_EQ(api.applied(id_key(kEvents, "p")), 0);  // pending on another channel: discarded too
  EXPECT_EQ(api.accepted()["restarts"], 1);
  // Committed tokens and tables survive.
  EXPECT_EQ(status(api, open_id(api, "EVENTS", at(1h)), at(1h))["offset"], "1");
  EXPECT_EQ(api.accepted()["tables"][kEvents]["rows"], 1);
}

// --------------------------------------------------------------- bodies

TEST(SnowpipeBodies, GzipBodiesAreInflatedAndCorruptOnesRefused) {
  SnowpipeApi api(opts());
  const std::string id = open_id(api);
  Request r = req("POST", "/channels/" + id + "/insert",
                  gzip(json{{"rows", json::array({good_row("z")})}, {"offset", "1"}}.dump()));
  r.headers.set("Content-Encoding", "gzip");
  EXPECT_EQ(parse(api.handle(r, kTimeZero))["success"], true);
  Request o = req("POST", "/channels", gzip(open_body("EVENTS", "rudder", "gz").dump()));
  o.headers.set("Content-Encoding", "GZIP");
  EXPECT_EQ(parse(api.handle(o, kTimeZero))["success"], true);
  r.body = r.body.substr(0, r.body.size() / 2);
  expect_400(api.handle(r, kTimeZero), "not valid gzip");
  r.body = "plainly not gzip";
  expect_400(api.handle(r, kTimeZero), "not valid gzip");
  r.headers.set("Content-Encoding", "br");
  expect_400(api.handle(r, kTimeZero), "Content-Encoding");
  api.catch_up(at(1s));
  EXPECT_EQ(api.applied(id_key(kEvents, "z")), 1);
  EXPECT_EQ(api.accepted()["inserts"], 1);
}

TEST(SnowpipeBodies, BodiesOverTheCapAre413) {
  SnowpipeApiOptions o = opts();
  o.insert_bytes_max = 500;
  SnowpipeApi api(o);
  const std::string id = open_id(api);
  json row = good_row("x");
  row["NAME"] = std::string(400, 'n');
  const std::string fits = json{{"rows", json::array({row})}, {"offset", "1"}}.dump();
  ASSERT_LE(fits.size(), 500u);
  EXPECT_EQ(api.handle(req("POST", "/channels/" + id + "/insert", fits), kTimeZero).status, 200);
  row["NAME"] = std::string(500, 'n');
  const std::string big = json{{"rows", json::array({row})}, {"offset", "2"}}.dump();
  Response r = api.handle(req("POST", "/channels/" + id + "/insert", big), kTimeZero);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(parse(r)["code"], "ERR_REQUEST_TOO_LARGE");
  EXPECT_EQ(parse(r)["success"], false);
  // Small when sent, too large inflated: 413 as well.
  Request g = req("POST", "/channels/" + id + "/insert", gzip(big));
  g.headers.set("Content-Encoding", "gzip");
  ASSERT_LT(g.body.size(), 500u);
  r = api.handle(g, kTimeZero);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(parse(r)["code"], "ERR_REQUEST_TOO_LARGE");
  EXPECT_EQ(api.accepted()["inserts"], 1);
}

TEST(SnowpipeBodies, HostileInputIsAnsweredNeverCrashes) {
  SnowpipeApi api(opts());
  const std::string id = open_id(api);
  const std::string bad_utf8 = "\xff\xfe\x80";
  for (const std::string& path : {"/channels/" + bad_utf8, "/channels/" + bad_utf8 + "/insert", "/" + bad_utf8,
                                  std::string("/channels/ch-99999999999999999999999/status")}) {
    const Response r = api.handle(req("POST", path, "{}"), kTimeZero);
    EXPECT_GE(r.status, 400) << path;
    EXPECT_FALSE(json::parse(r.body, nullptr, false).is_discarded()) << r.body;
  }
  for (const std::string& body : {std::string("\0\0\0", 3), bad_utf8, std::string(1000, '{'), std::string("1e99999"),
                                  std::string(R"({"rows":[{"N":123456789012345678901234567890}],"offset":"1"})")}) {
    const Response r = api.handle(req("POST", "/channels/" + id + "/insert", body), kTimeZero);
    EXPECT_EQ(r.status == 400 || r.status == 200, true) << r.status;
    EXPECT_FALSE(json::parse(r.body, nullptr, false).is_discarded()) << r.body;
  }
  // A key that is not UTF-8 cannot arrive (the JSON is refused), but an
  // identifier with non-ASCII bytes is quoted safely.
  json b = open_body("\xc3\xa9T\xc3\xa9");
  const Response r = open(api, b);
  EXPECT_EQ(parse(r)["code"], "ERR_VALIDATION_ERROR");
}

// --------------------------------------------------------------------- SQL

Request sql_request(const std::string& statement) {
  Request r = req("POST", "/api/v2/statements", json{{"statement", statement}}.dump(), kSqlHost);
  r.headers.set("Authorization", "Bearer t0ken");
  r.headers.set("X-Snowflake-Authorization-Token-Type", "OAUTH");
  return r;
}

TEST(SnowpipeSql, AuthenticationIsRequired) {
  SnowpipeApiOptions o = opts();
  o.sql_token = "right";
  SnowpipeApi api(o);
  const std::string stmt = "CREATE SCHEMA IF NOT EXISTS DESTSIM.A";
  Request r = sql_request(stmt);
  expect_sql(api.handle(r, kTimeZero), 401, "390303", "Invalid OAuth access token.");
  r.headers.set("Authorization", "Bearer right");
  EXPECT_EQ(api.handle(r, kTimeZero).status, 200);
  r.headers.remove("X-Snowflake-Authorization-Token-Type");
  expect_sql(api.handle(r, kTimeZero), 401, "390303");
  r.headers.set("X-Snowflake-Authorization-Token-Type", "PASSWORD");
  expect_sql(api.handle(r, kTimeZero), 401, "390303");
  r.headers.set("X-Snowflake-Authorization-Token-Type", "KEYPAIR_JWT");
  r.headers.set("Authorization", "right");
  expect_sql(api.handle(r, kTimeZero), 401, "390303");
  r.headers.remove("Authorization");
  expect_sql(api.handle(r, kTimeZero), 401, "390303");

  // Without sql_token: any non-empty token without spaces.
  SnowpipeApi any(opts());
  Request a = sql_request(stmt);
  EXPECT_EQ(any.handle(a, kTimeZero).status, 200);
  a.headers.set("Authorization", "Bearer ");
  expect_sql(any.handle(a, kTimeZero), 401, "390303");
  a.headers.set("Authorization", "Bearer two words");
  expect_sql(any.handle(a, kTimeZero), 401, "390303");
  EXPECT_EQ(any.accepted()["statements"], 1);
  EXPECT_EQ(any.accepted()["rejected"], 2);
}

TEST(SnowpipeSql, RoutesAndBodies) {
  SnowpipeApi api(opts());
  Request r = sql_request("CREATE SCHEMA IF NOT EXISTS DESTSIM.A");
  r.path = "/api/v2/statements/x";
  EXPECT_EQ(api.handle(r, kTimeZero).status, 404);
  r = sql_request("CREATE SCHEMA IF NOT EXISTS DESTSIM.A");
  r.method = "GET";
  const Response m = api.handle(r, kTimeZero);
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.headers.get("Allow"), "POST");
  r = sql_request("");
  for (const std::string& body : {std::string("nope"), std::string("[]"), std::string(R"({"timeout": 1})"),
                                  std::string(R"({"statement": 5})"),
                                  std::string(R"({"statement": "CREATE SCHEMA IF NOT EXISTS DESTSIM.A", "timeout": -1})"),
                                  std::string(R"({"statement": "CREATE SCHEMA IF NOT EXISTS DESTSIM.A", "role": 1})")}) {
    r.body = body;
    expect_sql(api.handle(r, kTimeZero), 400, "000000");
  }
  r.body = json{{"statement", "CREATE SCHEMA IF NOT EXISTS DESTSIM.A"}, {"database", "DESTSIM"}, {"schema", "A"},
                {"warehouse", "WH"}, {"role", "R"}, {"timeout", 60}}
               .dump();
  const Response ok = api.handle(r, kTimeZero);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(parse(ok), (json{{"code", "090001"},
                             {"message", "Statement executed successfully."},
                             {"statementHandle", "stmt-1"},
                             {"sqlState", "00000"}}));
  // gzip works here too; the host matches ignoring case and port.
  r.body = gzip(r.body);
  r.headers.set("Content-Encoding", "gzip");
  r.host = "DESTSIM.snowflakecomputing.com:443";
  EXPECT_EQ(parse(api.handle(r, kTimeZero))["statementHandle"], "stmt-2");
}

TEST(SnowpipeSql, EachStatementFormWithIdentifiersAndTypes) {
  SnowpipeApi api(opts());
  EXPECT_EQ(sql(api, "create   schema if\tnot\nexists destsim.\"NEW_1\"").status, 200);
  const Response t = sql(api,
                         "CREATE TABLE IF NOT EXISTS Destsim.New_1.\"T$1\" (\n"
                         "  id VARCHAR NOT NULL, \"B\" number, c NUMBER(10), d NUMBER(10, 2), e INT, f INTEGER,\n"
                         "  g BIGINT, h FLOAT, i DOUBLE, j VARCHAR(5), k STRING, l TEXT, m BOOLEAN,\n"
                         "  n TIMESTAMP_TZ, o VARIANT not null);");
  ASSERT_EQ(t.status, 200) << t.body;
  const json cols = columns_of(api, "DESTSIM.NEW_1.T$1");
  ASSERT_EQ(cols.size(), 15u) << cols.dump();
  const std::vector<std::pair<std::string, std::string>> want = {
      {"ID", "VARCHAR(16777216)"}, {"B", "NUMBER(38,0)"},  {"C", "NUMBER(10,0)"},       {"D", "NUMBER(10,2)"},
      {"E", "NUMBER(38,0)"},       {"F", "NUMBER(38,0)"},  {"G", "NUMBER(38,0)"},       {"H", "FLOAT"},
      {"I", "FLOAT"},              {"J", "VARCHAR(5)"},    {"K", "VARCHAR(16777216)"},  {"L", "VARCHAR(16777216)"},
      {"M", "BOOLEAN"},            {"N", "TIMESTAMP_TZ(9)"}, {"O", "VARIANT"}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(cols[i]["name"], want[i].first);
    EXPECT_EQ(cols[i]["type"], want[i].second) << want[i].first;
    EXPECT_EQ(cols[i]["nullable"], want[i].first != "ID" && want[i].first != "O") << want[i].first;
  }
  EXPECT_EQ(sql(api, "alter table DESTSIM.NEW_1.\"T$1\" add column if not exists \"P_2\" number(5,5)").status, 200);
  const json after = columns_of(api, "DESTSIM.NEW_1.T$1");
  ASSERT_EQ(after.size(), 16u);
  EXPECT_EQ(after[15], (json{{"name", "P_2"}, {"type", "NUMBER(5,5)"}, {"nullable", true}}));
  EXPECT_EQ(api.accepted()["statements"], 3);
}

TEST(SnowpipeSql, OtherStatementsAndTypesAre400) {
  SnowpipeApi api(opts());
  for (const char* s : {"SELECT 1", "DROP TABLE DESTSIM.RUDDER.EVENTS", "CREATE SCHEMA DESTSIM.X",
                        "CREATE TABLE DESTSIM.RUDDER.X (A INT)", "CREATE SCHEMA IF NOT EXISTS X",
                        "CREATE TABLE IF NOT EXISTS RUDDER.X (A INT)", "CREATE TABLE IF NOT EXISTS DESTSIM.RUDDER.X ()",
                        "CREATE TABLE IF NOT EXISTS DESTSIM.RUDDER.X (A DATE)",
                        "CREATE TABLE IF NOT EXISTS DESTSIM.RUDDER.X (A NUMBER(39))",
                        "CREATE TABLE IF NOT EXISTS DESTSIM.RUDDER.X (A NUMBER(5,6))",
                        "CREATE TABLE IF NOT EXISTS DESTSIM.RUDDER.X (A NUMBER(0))",
                        "CREATE TABLE IF NOT EXISTS DESTSIM.RUDDER.X (A VARCHAR(0))",
                        "CREATE TABLE IF NOT EXISTS DESTSIM.RUDDER.X (A VARCHAR(16777217))",
                        "CREATE TABLE IF NOT EXISTS DESTSIM.RUDDER.X (A TIMESTAMP_TZ(9))",
                        "CREATE TABLE IF NOT EXISTS DESTSIM.RUDDER.X (A INT NULL)",
                        "CREATE TABLE IF NOT EXISTS DESTSIM.RUDDER.X (\"lower\" INT)",
                        "CREATE TABLE IF NOT EXISTS DESTSIM.RUDDER.X (\"A B\" INT)",
                        "CREATE TABLE IF NOT EXISTS DESTSIM.RUDDER.\"X (A INT)",
                        "ALTER TABLE DESTSIM.RUDDER.EVENTS ADD COLUMN X INT",
                        "ALTER TABLE DESTSIM.RUDDER.EVENTS ADD COLUMN IF NOT EXISTS X INT NOT NULL",
                        "ALTER TABLE DESTSIM.RUDDER.EVENTS DROP COLUMN IF NOT EXISTS X",
                        "CREATE SCHEMA IF NOT EXISTS DESTSIM.A; CREATE SCHEMA IF NOT EXISTS DESTSIM.B",
                        "CREATE SCHEMA IF NOT EXISTS DESTSIM.A -- comment", ""}) {
    const Response r = sql(api, s);
    EXPECT_EQ(r.status, 400) << s << ": " << r.body;
    const json b = parse(r);
    EXPECT_EQ(b["code"], "001003") << s;
    EXPECT_EQ(b["message"].get<std::string>().rfind("SQL compilation error: syntax error", 0), 0u) << b.dump();
  }
  EXPECT_EQ(api.accepted()["tables"].size(), 2u);
  EXPECT_EQ(api.accepted()["statements"], 0);
}

TEST(SnowpipeSql, UnknownObjectsAre422) {
  SnowpipeApi api(opts());
  expect_sql(sql(api, "CREATE SCHEMA IF NOT EXISTS NODB.S"), 422, "002003",
             "SQL compilation error: Database 'NODB' does not exist or not authorized.");
  EXPECT_EQ(parse(sql(api, "CREATE SCHEMA IF NOT EXISTS NODB.S"))["sqlState"], "02000");
  expect_sql(sql(api, "CREATE TABLE IF NOT EXISTS NODB.S.T (A INT)"), 422, "002003", "Database 'NODB'");
  expect_sql(sql(api, "CREATE TABLE IF NOT EXISTS DESTSIM.NOPE.T (A INT)"), 422, "002003",
             "Schema 'DESTSIM.NOPE' does not exist or not authorized.");
  expect_sql(sql(api, "ALTER TABLE DESTSIM.NOPE.T ADD COLUMN IF NOT EXISTS A INT"), 422, "002003", "Schema");
  expect_sql(sql(api, "ALTER TABLE DESTSIM.RUDDER.NOPE ADD COLUMN IF NOT EXISTS A INT"), 422, "002003",
             "Table 'DESTSIM.RUDDER.NOPE' does not exist or not authorized.");
  const Response dup = sql(api, "CREATE TABLE IF NOT EXISTS DESTSIM.RUDDER.T (A INT, \"A\" VARCHAR)");
  EXPECT_EQ(dup.status, 422);
  EXPECT_NE(parse(dup)["message"].get<std::string>().find("duplicate column name 'A'"), std::string::npos);
  EXPECT_FALSE(api.accepted()["tables"].contains("DESTSIM.RUDDER.T"));
  EXPECT_EQ(api.accepted()["rejected"], 7);
}

TEST(SnowpipeSql, IfNotExistsLeavesExistingObjectsAsTheyAre) {
  SnowpipeApi api(opts());
  const json before = columns_of(api, kPlain);
  EXPECT_EQ(sql(api, "CREATE SCHEMA IF NOT EXISTS DESTSIM.RUDDER").status, 200);
  EXPECT_EQ(sql(api, "CREATE TABLE IF NOT EXISTS DESTSIM.RUDDER.PLAIN (Z BOOLEAN)").status, 200);
  EXPECT_EQ(columns_of(api, kPlain), before);
  EXPECT_EQ(sql(api, "ALTER TABLE DESTSIM.RUDDER.PLAIN ADD COLUMN IF NOT EXISTS B VARIANT").status, 200);
  EXPECT_EQ(columns_of(api, kPlain), before);  // B stays NUMBER(38,0)
  EXPECT_EQ(api.accepted()["statements"], 3);
}

TEST(SnowpipeSql, ANewColumnIsUnknownToAnOpenChannelUntilReopened) {
  SnowpipeApi api(opts());
  const std::string id = open_id(api, "PLAIN");
  ASSERT_EQ(sql(api, "ALTER TABLE DESTSIM.RUDDER.PLAIN ADD COLUMN IF NOT EXISTS C BOOLEAN").status, 200);
  const json row = {{"A", "x"}, {"C", true}};
  const json b = parse(insert(api, id, json::array({row}), "1"));
  ASSERT_EQ(b["errors"].size(), 1u) << b.dump();
  EXPECT_EQ(b["errors"][0]["extraColNames"], (json{"C"}));
  EXPECT_FALSE(parse(api.handle(req("GET", "/channels/" + id), kTimeZero))["tableSchema"].contains("C"));
  const std::string again = open_id(api, "PLAIN");
  EXPECT_TRUE(parse(api.handle(req("GET", "/channels/" + again), kTimeZero))["tableSchema"].contains("C"));
  EXPECT_EQ(parse(insert(api, again, json::array({row}), "2"))["success"], true);
  api.catch_up(at(1s));
  EXPECT_EQ(api.applied(row_key(kPlain, row)), 1);
}

TEST(SnowpipeSql, ACreatedTableCanBeOpenedAndWritten) {
  SnowpipeApi api(opts());
  ASSERT_EQ(sql(api, "CREATE SCHEMA IF NOT EXISTS DESTSIM.S2").status, 200);
  json body = open_body("T");
  body["table"]["schema"] = "S2";
  EXPECT_EQ(parse(open(api, body))["code"], "ERR_TABLE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED");
  ASSERT_EQ(sql(api, "CREATE TABLE IF NOT EXISTS DESTSIM.S2.T (ID NUMBER NOT NULL)").status, 200);
  const json opened = parse(open(api, body));
  ASSERT_EQ(opened["success"], true);
  EXPECT_EQ(parse(insert(api, opened["channelId"], json::array({{{"ID", 7}}}), "1"))["success"], true);
  api.catch_up(at(1s));
  EXPECT_EQ(api.applied(id_key("DESTSIM.S2.T", 7)), 1);
  EXPECT_EQ(api.applied(id_key("DESTSIM.S2.T", "7")), 0);  // the ID as sent
}

// ------------------------------------------------------------------- oracle

TEST(SnowpipeOracle, KeysByIdOrByRowAndDuplicatesCountTwice) {
  SnowpipeApi api(opts());
  const std::string e = open_id(api);
  const std::string p = open_id(api, "PLAIN");
  const json row1 = {{"ID", "u1"}, {"REQ", 1}, {"NAME", "first"}};
  const json row1b = {{"ID", "u1"}, {"REQ", 2}, {"NAME", "second"}};
  ASSERT_EQ(parse(insert(api, e, json::array({row1, row1b}), "1"))["success"], true);
  const json plain = {{"A", "x"}, {"B", 1}};
  ASSERT_EQ(parse(insert(api, p, json::array({plain, plain}), "1"))["success"], true);
  ASSERT_EQ(parse(insert(api, p, json::array({{{"A", "y"}, {"B", nullptr}}}), "2"))["success"], true);
  api.catch_up(at(1s));
  EXPECT_EQ(api.applied(id_key(kEvents, "u1")), 2);  // by ID: the row's other values do not matter
  EXPECT_EQ(api.applied(row_key(kEvents, row1)), 0);
  EXPECT_EQ(api.applied(id_key(kPlain, "x")), 0);
  EXPECT_EQ(api.applied(row_key(kPlain, plain)), 2);
  EXPECT_EQ(api.applied(row_key(kPlain, {{"A", "y"}, {"B", nullptr}})), 1);  // the row as sent, null kept
  EXPECT_EQ(api.applied(row_key(kPlain, {{"A", "y"}})), 0);
  const json a = api.accepted();
  EXPECT_EQ(a["applications"], 5);
  EXPECT_EQ(a["distinct_applications"], 3);
}

TEST(SnowpipeOracle, ANullIdUsesTheRowForm) {
  SnowpipeApiOptions o = opts();
  o.tables.push_back({"DESTSIM.RUDDER.OPT", {{"ID", "VARCHAR", true}, {"X", "INT", true}}});
  SnowpipeApi api(o);
  const std::string id = open_id(api, "OPT");
  const json row = {{"ID", nullptr}, {"X", 1}};
  ASSERT_EQ(parse(insert(api, id, json::array({row}), "1"))["success"], true);
  api.catch_up(at(1s));
  EXPECT_EQ(api.applied(row_key("DESTSIM.RUDDER.OPT", row)), 1);
  EXPECT_EQ(api.applied(id_key("DESTSIM.RUDDER.OPT", nullptr)), 0);
}

// ------------------------------------------------------------------ accepted

// The ```json sample of ACCEPTED.md, beside this file.
std::string accepted_doc() {
  std::string path = __FILE__;
  path = path.substr(0, path.rfind('/') + 1) + "ACCEPTED.md";
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(SnowpipeAccepted, HasTheDocumentedShapeAndSample) {
  SnowpipeApi api(opts());
  const std::string id = open_id(api);
  for (int i = 0; i < 25; ++i)
    ASSERT_EQ(parse(insert(api, id, json::array({good_row(std::to_string(i))}), std::to_string(i + 1)))["success"],
              true);
  api.catch_up(at(1s));
  const json a = api.accepted();
  std::set<std::string> keys;
  for (auto it = a.begin(); it != a.end(); ++it) keys.insert(it.key());
  EXPECT_EQ(keys, (std::set<std::string>{"requests", "rejected", "channels_opened", "inserts", "noop_inserts",
                                         "lost_inserts", "invalidated", "stalled", "restarts", "statements", "tables",
                                         "applications", "distinct_applications"}));
  EXPECT_EQ(a["requests"], 26);
  EXPECT_EQ(a["inserts"], 25);
  EXPECT_EQ(a["applications"], 25);
  EXPECT_EQ(a["distinct_applications"], 25);
  const json& t = a["tables"][kEvents];
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t["rows"], 25);
  ASSERT_EQ(t["sample"].size(), 20u);
  EXPECT_EQ(t["sample"][0], good_row("0"));
  EXPECT_EQ(t["sample"][19], good_row("19"));
  EXPECT_EQ(t["columns"][0], (json{{"name", "ID"}, {"type", "VARCHAR(64)"}, {"nullable", false}}));
  EXPECT_EQ(a["tables"][kPlain]["rows"], 0);
  EXPECT_EQ(a["tables"][kPlain]["sample"], json::array());

  // The document's sample has the same keys.
  const std::string doc = accepted_doc();
  const auto start = doc.find("```json\n");
  ASSERT_NE(start, std::string::npos);
  const json sample = json::parse(doc.substr(start + 8, doc.find("```", start + 8) - start - 8));
  std::set<std::string> documented;
  for (auto it = sample.begin(); it != sample.end(); ++it) documented.insert(it.key());
  EXPECT_EQ(documented, keys);
  const json& doc_table = sample["tables"].begin().value();
  for (auto it = t.begin(); it != t.end(); ++it) EXPECT_TRUE(doc_table.contains(it.key())) << it.key();
  EXPECT_EQ(doc_table["columns"][0].size(), t["columns"][0].size());
}

// The examples of ACCEPTED.md's "## Operations", in its order, on a fresh
// fake with the default options, are each accepted; the names are exactly
// control_ops().
TEST(SnowpipeAccepted, DocumentedOperationExamplesHold) {
  const std::string doc = accepted_doc();
  const auto section = doc.find("\n## Operations\n");
  ASSERT_NE(section, std::string::npos);
  std::istringstream lines(doc.substr(section));
  SnowpipeApi api;
  std::vector<std::string> names;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("- `", 0) != 0) continue;
    const auto name_end = line.find('`', 3);
    names.push_back(line.substr(3, name_end - 3));
    const auto ex = line.find("(`", name_end) + 2;
    const json op = json::parse(line.substr(ex, line.find("`)", ex) - ex));
    const Status s = api.control(JsonIn(op, "ACCEPTED.md"), kTimeZero);
    EXPECT_TRUE(s.ok()) << names.back() << ": " << s.error().message;
    if (names.back() == "request") EXPECT_EQ(api.accepted()["channels_opened"], 1);
  }
  std::string listed;
  for (const auto& n : names) listed += (listed.empty() ? "" : ", ") + n;
  std::set<std::string> want, got(names.begin(), names.end());
  std::stringstream ops(api.control_ops());
  for (std::string n; std::getline(ops, n, ',');) want.insert(n.substr(n.find_first_not_of(' ')));
  EXPECT_EQ(got, want) << listed;
  EXPECT_EQ(names.size(), got.size());
  const json a = api.accepted();
  EXPECT_FALSE(a["tables"].contains("DESTSIM.OPS.EVENTS"));  // dropped last
  EXPECT_EQ(a["restarts"], 1);
  EXPECT_EQ(a["invalidated"], 1);
}

// ------------------------------------------------------------------ control

TEST(SnowpipeControl, RestartInvalidateAndLosePending) {
  SnowpipeApi api(opts());
  const std::string a = open_id(api, "EVENTS", kTimeZero, "a");
  const std::string b = open_id(api, "EVENTS", kTimeZero, "b");
  ASSERT_EQ(parse(insert(api, a, json::array({good_row("a1")}), "1"))["success"], true);
  ASSERT_EQ(parse(insert(api, b, json::array({good_row("b1")}), "1"))["success"], true);
  ASSERT_TRUE(api.control(JsonIn(json{{"lose_pending", {{"channel", a}}}}, "t"), at(10ms)).ok());
  EXPECT_EQ(status(api, a, at(10ms))["latestInsertedOffset"], "");
  EXPECT_EQ(api.accepted()["lost_inserts"], 1);
  ASSERT_TRUE(api.control(JsonIn(json{{"invalidate", {{"channel", b}}}}, "t"), at(20ms)).ok());
  EXPECT_EQ(status(api, b, at(20ms))["valid"], false);
  ASSERT_TRUE(api.control(JsonIn(json{{"invalidate", {{"channel", b}}}}, "t"), at(20ms)).ok());  // again: as it is
  EXPECT_EQ(api.accepted()["invalidated"], 1);
  api.catch_up(at(1h));
  EXPECT_EQ(api.applied(id_key(kEvents, "a1")), 0);
  EXPECT_EQ(api.applied(id_key(kEvents, "b1")), 0);
  // An operation commits what is due by its time first.
  ASSERT_EQ(parse(insert(api, a, json::array({good_row("a2")}), "2", at(1h)))["success"], true);
  ASSERT_TRUE(api.control(JsonIn(json{{"restart", json::object()}}, "t"), at(1h) + 1s).ok());
  EXPECT_EQ(api.applied(id_key(kEvents, "a2")), 1);
  expect_404(api.handle(req("GET", "/channels/" + a), at(1h) + 1s));
  EXPECT_EQ(api.accepted()["restarts"], 1);
}

TEST(SnowpipeControl, DropTableInvalidatesItsChannelsAndForgetsTheirTokens) {
  SnowpipeApi api(opts());
  const std::string id = open_id(api);
  const std::string plain = open_id(api, "PLAIN");
  ASSERT_EQ(parse(insert(api, id, json::array({good_row("a")}), "5"))["success"], true);
  api.catch_up(at(1s));
  ASSERT_EQ(parse(insert(api, id, json::array({good_row("b")}), "6", at(1s)))["success"], true);
  ASSERT_TRUE(api.control(JsonIn(json{{"drop_table", {{"table", kEvents}}}}, "t"), at(1s)).ok());
  EXPECT_FALSE(api.accepted()["tables"].contains(kEvents));
  EXPECT_EQ(status(api, id, at(1s))["valid"], false);
  EXPECT_EQ(status(api, id, at(1s))["offset"], "");
  EXPECT_EQ(status(api, plain, at(1s))["valid"], true);
  EXPECT_EQ(parse(open(api, open_body(), at(1s)))["code"], "ERR_TABLE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED");
  ASSERT_TRUE(api.control(JsonIn(json{{"create_table",
                                       {{"table", kEvents},
                                        {"columns", {{{"name", "ID"}, {"type", "VARCHAR"}, {"nullable", false}},
                                                     {{"name", "REQ"}, {"type", "INT"}}}}}}},
                                  "t"),
                          at(2s))
                  .ok());
  const std::string again = open_id(api, "EVENTS", at(2s));
  EXPECT_EQ(status(api, again, at(2s))["offset"], "");
  // Token 5 is no longer a no-op.
  EXPECT_EQ(parse(insert(api, again, json::array({good_row("c")}), "5", at(2s)))["noop"], nullptr);
  api.catch_up(at(1h));
  EXPECT_EQ(api.applied(id_key(kEvents, "a")), 1);  // delivered before the drop: still counted
  EXPECT_EQ(api.applied(id_key(kEvents, "b")), 0);
  EXPECT_EQ(api.applied(id_key(kEvents, "c")), 1);
  EXPECT_EQ(api.accepted()["tables"][kEvents]["rows"], 1);
}

TEST(SnowpipeControl, ReplaceTableKeepsItsColumnsAndForgetsRowsChannelsAndTokens) {
  SnowpipeApi api(opts());
  // No table yet: nothing to replace, and no error (an operator act a run may meet at any point).
  ASSERT_TRUE(api.control(JsonIn(json{{"replace_table", {{"table", "DESTSIM.RUDDER.NOPE"}}}}, "t"), kTimeZero).ok());
  EXPECT_FALSE(api.accepted()["tables"].contains("DESTSIM.RUDDER.NOPE"));
  const std::string id = open_id(api);
  const json columns = columns_of(api, kEvents);
  ASSERT_EQ(parse(insert(api, id, json::array({good_row("a")}), "5"))["success"], true);
  api.catch_up(at(1s));
  ASSERT_EQ(status(api, id, at(1s))["offset"], "5");
  ASSERT_TRUE(api.control(JsonIn(json{{"replace_table", {{"table", kEvents}}}}, "t"), at(1s)).ok());
  EXPECT_EQ(columns_of(api, kEvents), columns);
  EXPECT_EQ(api.accepted()["tables"][kEvents]["rows"], 0);
  EXPECT_EQ(status(api, id, at(1s))["valid"], false);
  const std::string again = open_id(api, "EVENTS", at(2s));
  EXPECT_EQ(status(api, again, at(2s))["offset"], "");
  EXPECT_EQ(parse(insert(api, again, json::array({good_row("a")}), "5", at(2s)))["noop"], nullptr);  // history gone
  api.catch_up(at(1h));
  // Both commits count; one copy before the replace, one after: never two at once.
  EXPECT_EQ(api.applied(id_key(kEvents, "a")), 2);
  EXPECT_EQ(api.peak(id_key(kEvents, "a"), api.applied(id_key(kEvents, "a"))), 1);
  EXPECT_EQ(api.held(id_key(kEvents, "a")), 1);
  // A second copy in the new table is two at once.
  ASSERT_EQ(parse(insert(api, again, json::array({good_row("a")}), "6", at(1h)))["success"], true);
  api.catch_up(at(2h));
  EXPECT_EQ(api.peak(id_key(kEvents, "a"), api.applied(id_key(kEvents, "a"))), 2);
  const Status bad = api.control(JsonIn(json{{"replace_table", {{"table", "lower.case.t"}}}}, "x: /op"), at(1h));
  EXPECT_FALSE(bad.ok());
}

// Every table at once (certify's operator act "tables replaced"): each keeps
// its columns and loses its rows, channels and tokens; committed rows stay
// delivered, and a row committed again afterwards is one copy.
TEST(SnowpipeControl, ReplaceTablesReplacesEveryTable) {
  SnowpipeApi api(opts());
  const std::string a = open_id(api, "EVENTS", kTimeZero, "a");
  const std::string b = open_id(api, "PLAIN", kTimeZero, "b");
  ASSERT_EQ(parse(insert(api, a, json::array({good_row("1")}), "1", at(0s)))["success"], true);
  ASSERT_EQ(parse(insert(api, b, json::array({{{"A", "x"}}}), "7", at(0s)))["success"], true);
  api.catch_up(at(1s));
  ASSERT_EQ(parse(insert(api, a, json::array({good_row("2")}), "2", at(1s)))["success"], true);  // still pending
  const json plain_columns = columns_of(api, kPlain);
  ASSERT_TRUE(api.control(JsonIn(json{{"replace_tables", json::object()}}, "t"), at(1s)).ok());
  EXPECT_EQ(api.accepted()["tables"][kEvents]["rows"], 0);
  EXPECT_EQ(api.accepted()["tables"][kPlain]["rows"], 0);
  EXPECT_EQ(columns_of(api, kPlain), plain_columns);
  EXPECT_EQ(status(api, a, at(1s))["valid"], false);
  EXPECT_EQ(status(api, b, at(1s))["valid"], false);
  api.catch_up(at(1h));
  EXPECT_EQ(api.applied(id_key(kEvents, "1")), 1);
  EXPECT_EQ(api.held(id_key(kEvents, "1")), 0);
  EXPECT_EQ(api.applied(id_key(kEvents, "2")), 0);  // pending when replaced: discarded
  EXPECT_EQ(api.applied(row_key(kPlain, {{"A", "x"}})), 1);
  const std::string again = open_id(api, "PLAIN", at(1h), "b");
  EXPECT_EQ(status(api, again, at(1h))["offset"], "");
  ASSERT_EQ(parse(insert(api, again, json::array({{{"A", "x"}}}), "7", at(1h)))["success"], true);
  api.catch_up(at(2h));
  EXPECT_EQ(api.applied(row_key(kPlain, {{"A", "x"}})), 2);
  EXPECT_EQ(api.peak(row_key(kPlain, {{"A", "x"}}), api.applied(row_key(kPlain, {{"A", "x"}}))), 1);
  EXPECT_EQ(api.accepted()["tables"][kPlain]["rows"], 1);
  EXPECT_FALSE(api.control(JsonIn(json{{"replace_tables", {{"table", kPlain}}}}, "x: /op"), at(2h)).ok());
}

TEST(SnowpipeControl, CreateSchemaAndTableAsTheSqlWould) {
  SnowpipeApi api(opts());
  ASSERT_TRUE(api.control(JsonIn(json{{"create_schema", "DESTSIM.NEW"}}, "t"), kTimeZero).ok());
  ASSERT_TRUE(api.control(JsonIn(json{{"create_schema", "DESTSIM.NEW"}}, "t"), kTimeZero).ok());  // exists: as is
  ASSERT_TRUE(api.control(JsonIn(json{{"create_table",
                                       {{"table", "DESTSIM.NEW.T"},
                                        {"columns", {{{"name", "ID"}, {"type", "number(10, 2)"}}}}}}},
                                  "t"),
                          kTimeZero)
                  .ok());
  EXPECT_EQ(columns_of(api, "DESTSIM.NEW.T"), (json{{{"name", "ID"}, {"type", "NUMBER(10,2)"}, {"nullable", true}}}));
  ASSERT_TRUE(api.control(JsonIn(json{{"create_table",
                                       {{"table", "DESTSIM.NEW.T"}, {"columns", {{{"name", "Z"}, {"type", "INT"}}}}}}},
                                  "t"),
                          kTimeZero)
                  .ok());
  EXPECT_EQ(columns_of(api, "DESTSIM.NEW.T").size(), 1u);
  EXPECT_EQ(api.accepted()["statements"], 0);
  json body = open_body("T");
  body["table"]["schema"] = "NEW";
  EXPECT_EQ(parse(open(api, body))["success"], true);
}

TEST(SnowpipeControl, SeedRequestIsAppliedAndMustSucceed) {
  SnowpipeApi api(opts());
  const json seed = {{"request", {{"method", "POST"}, {"path", "/channels"}, {"json", open_body()}}}};
  ASSERT_TRUE(api.control(JsonIn(seed, "t"), kTimeZero).ok());
  EXPECT_EQ(api.accepted()["channels_opened"], 1);
  EXPECT_EQ(api.accepted()["requests"], 1);
  const json bad = {{"request", {{"method", "POST"}, {"path", "/channels"}, {"body", "{"}}}};
  const Status s = api.control(JsonIn(bad, "x.json: /fake/seed/1"), kTimeZero);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("x.json: /fake/seed/1/request: the fake answered 400"), std::string::npos)
      << s.error().message;
}

TEST(SnowpipeControl, MalformedOperationsLeaveTheStateUnchanged) {
  SnowpipeApi api(opts());
  const std::string id = open_id(api);
  ASSERT_EQ(parse(insert(api, id, json::array({good_row("a")}), "1"))["success"], true);
  api.catch_up(at(1h));
  const json before = api.accepted();
  const struct {
    json op;
    const char* message;
  } cases[] = {
      {json::object(), "x.json: /fake/seed/0: expected exactly one operation"},
      {json{{"restart", json::object()}, {"invalidate", json::object()}}, "expected exactly one operation"},
      {json{{"drop_schema", "DESTSIM.RUDDER"}}, "/fake/seed/0/drop_schema: fake snowpipe has no operation"},
      {json{{"restart", json{{"now", true}}}}, "/fake/seed/0/restart: expected {}"},
      {json{{"restart", 1}}, "/fake/seed/0/restart: expected {}"},
      {json{{"invalidate", {{"channel", 7}}}}, "/fake/seed/0/invalidate/channel: expected a string"},
      {json{{"invalidate", {{"channel", "ch-9"}}}}, "/fake/seed/0/invalidate/channel: no open channel \"ch-9\""},
      {json{{"invalidate", {{"id", "ch-1"}}}}, "/fake/seed/0/invalidate"},
      {json{{"lose_pending", "ch-1"}}, "/fake/seed/0/lose_pending: expected an object"},
      {json{{"lose_pending", {{"channel", "ch-2"}}}}, "/fake/seed/0/lose_pending/channel: no open channel"},
      {json{{"drop_table", {{"table", "DESTSIM.RUDDER.NOPE"}}}}, "/fake/seed/0/drop_table/table: no table"},
      {json{{"drop_table", {{"table", "destsim.rudder.events"}}}}, "/fake/seed/0/drop_table/table: expected"},
      {json{{"create_schema", "NODB.S"}}, "/fake/seed/0/create_schema: SQL compilation error: Database 'NODB'"},
      {json{{"create_schema", "DESTSIM"}}, "/fake/seed/0/create_schema: expected"},
      {json{{"create_table", {{"table", "DESTSIM.NOPE.T"}, {"columns", {{{"name", "A"}, {"type", "INT"}}}}}}},
       "/fake/seed/0/create_table: SQL compilation error: Schema 'DESTSIM.NOPE'"},
      {json{{"create_table", {{"table", "DESTSIM.RUDDER.T"}, {"columns", {{{"name", "A"}, {"type", "DATE"}}}}}}},
       "/fake/seed/0/create_table/columns/0/type: not a type this fake takes"},
      {json{{"create_table", {{"table", "DESTSIM.RUDDER.T"}, {"columns", json::array()}}}},
       "/fake/seed/0/create_table/columns: expected 1 to 1000 columns"},
      {json{{"create_table",
             {{"table", "DESTSIM.RUDDER.T"},
              {"columns", {{{"name", "A"}, {"type", "INT"}}, {{"name", "A"}, {"type", "INT"}}}}}}},
       "/fake/seed/0/create_table/columns/1/name: column \"A\" is listed twice"},
      {json{{"request", {{"method", "GET"}, {"path", "/channels/ch-9"}}}}, "/fake/seed/0/request: the fake answered 404"},
      {json{{"invalidate", json::object()}}, "/fake/seed/0/invalidate: give exactly one of \"channel\" or \"table\""},
      {json{{"lose_pending", {{"table", "DESTSIM.RUDDER.NOPE"}}}},
       "/fake/seed/0/lose_pending/table: no open channel on table \"DESTSIM.RUDDER.NOPE\""},
  };
  for (const auto& c : cases) {
    const Status s = api.control(JsonIn(c.op, "x.json: /fake/seed/0"), at(1h));
    ASSERT_FALSE(s.ok()) << c.op.dump();
    EXPECT_NE(s.error().message.find(c.message), std::string::npos) << c.op.dump() << ": " << s.error().message;
  }
  json after = api.accepted();
  // The failed seeding request is a request the fake answered.
  EXPECT_EQ(after["requests"], before["requests"].get<int>() + 1);
  after["requests"] = before["requests"];
  after["rejected"] = before["rejected"];
  EXPECT_EQ(after, before);
  EXPECT_EQ(status(api, id, at(1h)),
            (json{{"success", true}, {"offset", "1"}, {"valid", true}, {"latestInsertedOffset", "1"}}));
  EXPECT_EQ(api.applied(id_key(kEvents, "a")), 1);
}

// ------------------------------------------------------------------ options

TEST(SnowpipeOptions, DefaultsAndEveryKey) {
  auto d = SnowpipeApiOptions::from_json(json(), "o.json");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->account, "DESTSIM-ACCOUNT");
  EXPECT_EQ(d->databases, (std::vector<std::string>{"DESTSIM"}));
  EXPECT_EQ(d->schemas, (std::vector<std::string>{"DESTSIM.RUDDER"}));
  EXPECT_EQ(d->commit_delay, std::chrono::seconds(1));
  const json all = {{"account", "ACC"},
                    {"user", "U"},
                    {"role", "R"},
                    {"sql_host", "sql.example.com"},
                    {"sql_token", {{"secret", "tok"}}},
                    {"databases", {"DB", "DB2"}},
                    {"schemas", {"DB.S"}},
                    {"tables", {{{"table", "DB.S.T"}, {"columns", {{{"name", "ID"}, {"type", "INT"}, {"nullable", false}}}}}}},
                    {"commit_delay", "250ms"},
                    {"on_error", "abort"},
                    {"insert_bytes_max", "1MB"},
                    {"insert_rows_max", 10},
                    {"lose_every", 1},
                    {"invalidate_every", 2},
                    {"stall_every", 3},
                    {"restart_every", 4},
                    {"latency", "20ms"}};
  auto o = SnowpipeApiOptions::from_json(all, "o.json");
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->sql_token, "tok");
  EXPECT_EQ(o->tables.size(), 1u);
  EXPECT_EQ(o->tables[0].columns[0].nullable, false);
  EXPECT_EQ(o->commit_delay, std::chrono::milliseconds(250));
  EXPECT_TRUE(o->on_error_abort);
  EXPECT_EQ(o->insert_rows_max, 10);
  EXPECT_EQ(o->restart_every, 4);
  SnowpipeApi api(*o);
  EXPECT_EQ(api.latency(), std::chrono::milliseconds(20));
  EXPECT_EQ(api.extra_hosts(), (std::vector<std::string>{"sql.example.com"}));
  EXPECT_EQ(api.accepted()["tables"].size(), 1u);
  // Databases without DESTSIM drop the default schema.
  auto no_default = SnowpipeApiOptions::from_json(json{{"databases", {"OTHER"}}}, "o.json");
  ASSERT_TRUE(no_default.ok()) << no_default.error().message;
  EXPECT_TRUE(no_default->schemas.empty());
}

TEST(SnowpipeOptions, BadOptionsNameTheKey) {
  const struct {
    json j;
    const char* message;
  } cases[] = {
      {json{{"nope", 1}}, "o.json: /nope: unknown key"},
      {json{{"account", ""}}, "o.json: /account: expected 1-255 printable ASCII"},
      {json{{"user", "a b"}}, "o.json: /user: expected"},
      {json{{"role", 5}}, "o.json: /role: expected a string"},
      {json{{"sql_host", "bad host"}}, "o.json: /sql_host: expected a host name"},
      {json{{"sql_token", 5}}, "o.json: /sql_token"},
      {json{{"databases", "DESTSIM"}}, "o.json: /databases: expected an array"},
      {json{{"databases", {"lower"}}}, "o.json: /databases/0: expected a database name"},
      {json{{"databases", {"A", "A"}}}, "o.json: /databases/1: database \"A\" is listed twice"},
      {json{{"schemas", {"NODB.S"}}}, "o.json: /schemas/0: database \"NODB\" is not in /databases"},
      {json{{"schemas", {"DESTSIM"}}}, "o.json: /schemas/0: expected \"DB.SCHEMA\""},
      {json{{"tables", {{{"table", "DESTSIM.NOPE.T"}, {"columns", {{{"name", "A"}, {"type", "INT"}}}}}}}},
       "o.json: /tables/0/table: schema \"DESTSIM.NOPE\" is not in /schemas"},
      {json{{"tables", {{{"table", "DESTSIM.RUDDER.T"}, {"columns", {{{"name", "A"}, {"type", "BLOB"}}}}}}}},
       "o.json: /tables/0/columns/0/type: not a type this fake takes"},
      {json{{"tables", {{{"table", "DESTSIM.RUDDER.T"}, {"columns", {{{"name", "a"}, {"type", "INT"}}}}}}}},
       "o.json: /tables/0/columns/0/name: expected an identifier"},
      {json{{"tables", {{{"table", "DESTSIM.RUDDER.T"}, {"columns", {{{"name", "A"}, {"type", "INT"}, {"x", 1}}}}}}}},
       "o.json: /tables/0/columns/0/x"},
      {json{{"tables", {{{"table", "DESTSIM.RUDDER.T"}}}}}, "o.json: /tables/0"},
      {json{{"tables",
             {{{"table", "DESTSIM.RUDDER.T"}, {"columns", {{{"name", "A"}, {"type", "INT"}}}}},
              {{"table", "DESTSIM.RUDDER.T"}, {"columns", {{{"name", "A"}, {"type", "INT"}}}}}}}},
       "o.json: /tables/1/table: table \"DESTSIM.RUDDER.T\" is listed twice"},
      {json{{"commit_delay", "2h"}}, "o.json: /commit_delay: expected a duration from 0 to 1h"},
      {json{{"commit_delay", 5}}, "o.json: /commit_delay: expected a duration"},
      {json{{"on_error", "skip"}}, "o.json: /on_error: expected \"continue\" or \"abort\""},
      {json{{"insert_bytes_max", 0}}, "o.json: /insert_bytes_max: expected a size from 1 byte to 1GiB"},
      {json{{"insert_bytes_max", "2GB"}}, "o.json: /insert_bytes_max: expected a size from 1 byte to 1GiB"},
      {json{{"insert_rows_max", 0}}, "o.json: /insert_rows_max"},
      {json{{"insert_rows_max", 10000001}}, "o.json: /insert_rows_max"},
      {json{{"lose_every", -1}}, "o.json: /lose_every"},
      {json{{"invalidate_every", "2"}}, "o.json: /invalidate_every"},
      {json{{"stall_every", 1000000001}}, "o.json: /stall_every"},
      {json{{"restart_every", 1.5}}, "o.json: /restart_every"},
      {json{{"latency", "-1s"}}, "o.json: /latency"},
      {json::array(), "o.json: /: expected an object"},
  };
  for (const auto& c : cases) {
    auto o = SnowpipeApiOptions::from_json(c.j, "o.json");
    ASSERT_FALSE(o.ok()) << c.j.dump();
    EXPECT_NE(o.error().message.find(c.message), std::string::npos) << c.j.dump() << ": " << o.error().message;
  }
}

// ------------------------------------------------------------------ reset

TEST(SnowpipeReset, ReseedsFromTheOptionsAndForgetsTheRest) {
  SnowpipeApi api(opts());
  const std::string id = open_id(api);
  ASSERT_EQ(parse(insert(api, id, json::array({good_row("a")}), "1"))["success"], true);
  api.catch_up(at(1s));
  ASSERT_EQ(sql(api, "CREATE SCHEMA IF NOT EXISTS DESTSIM.X", at(1s)).status, 200);
  ASSERT_EQ(sql(api, "CREATE TABLE IF NOT EXISTS DESTSIM.X.T (A INT)", at(1s)).status, 200);
  ASSERT_EQ(sql(api, "ALTER TABLE DESTSIM.RUDDER.PLAIN ADD COLUMN IF NOT EXISTS C INT", at(1s)).status, 200);
  ASSERT_TRUE(api.control(JsonIn(json{{"drop_table", {{"table", kEvents}}}}, "t"), at(1s)).ok());
  api.reset();
  const json a = api.accepted();
  EXPECT_EQ(a["requests"], 0);
  EXPECT_EQ(a["channels_opened"], 0);
  EXPECT_EQ(a["statements"], 0);
  EXPECT_EQ(a["applications"], 0);
  EXPECT_EQ(a["tables"].size(), 2u);
  EXPECT_EQ(a["tables"][kEvents]["rows"], 0);
  EXPECT_EQ(a["tables"][kPlain]["columns"].size(), 2u);
  EXPECT_EQ(api.applied(id_key(kEvents, "a")), 0);
  expect_404(api.handle(req("GET", "/channels/" + id), at(2s)));
  // The schema made over SQL is gone; ids and tokens start over.
  expect_sql(sql(api, "CREATE TABLE IF NOT EXISTS DESTSIM.X.T (A INT)", at(2s)), 422, "002003", "Schema");
  const std::string again = open_id(api, "EVENTS", at(2s));
  EXPECT_EQ(again, "ch-1");
  EXPECT_EQ(status(api, again, at(2s))["offset"], "");
  EXPECT_EQ(parse(insert(api, again, json::array({good_row("a")}), "1", at(2s)))["noop"], nullptr);
}

TEST(SnowpipeApi, NameHostsAndOperations) {
  SnowpipeApi api;
  EXPECT_EQ(api.name(), "snowpipe");
  EXPECT_EQ(api.extra_hosts(), (std::vector<std::string>{kSqlHost}));
  EXPECT_EQ(api.http(), &api);
  EXPECT_EQ(api.accepted()["tables"].size(), 0u);
}

}  // namespace
}  // namespace destsim
