#include "fakes/eloqua/eloqua_api.h"

#include <gtest/gtest.h>

#include "framework/json_in.h"
#include "framework/oracle.h"

namespace destsim {
namespace {

using namespace std::chrono_literals;

constexpr const char* kLogin = "Acme\\api.user:s3cret";
const std::string kBulk = "/api/bulk/2.0";

std::string base64(std::string_view in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    std::uint32_t n = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) n |= static_cast<unsigned char>(in[i + 2]);
    out.push_back(kAlphabet[n >> 18 & 63]);
    out.push_back(kAlphabet[n >> 12 & 63]);
    out.push_back(i + 1 < in.size() ? kAlphabet[n >> 6 & 63] : '=');
    out.push_back(i + 2 < in.size() ? kAlphabet[n & 63] : '=');
  }
  return out;
}

Request req(const std::string& method, const std::string& path, const std::string& body = "",
            const std::string& content_type = "", const std::string& login = kLogin) {
  Request r;
  r.method = method;
  r.host = "secure.p04.eloqua.com";
  r.path = path;
  if (!login.empty()) r.headers.set("Authorization", "Basic " + base64(login));
  if (!content_type.empty()) r.headers.set("Content-Type", content_type);
  r.body = body;
  return r;
}

Request bulk(const std::string& method, const std::string& path, const std::string& body = "",
             const std::string& content_type = "") {
  return req(method, kBulk + path, body, content_type);
}

Request post_json(const std::string& path, const nlohmann::json& body) {
  return bulk("POST", path, body.dump(), "application/json");
}

Request csv(const std::string& import_uri, const std::string& body) {
  return bulk("POST", import_uri + "/data", body, "text/csv");
}

EloquaApiOptions opts() {
  EloquaApiOptions o;
  o.company = "Acme";
  o.username = "api.user";
  o.password = "s3cret";
  return o;
}

nlohmann::json parse(const Response& r) { return nlohmann::json::parse(r.body); }

std::string statement(const std::string& internal) { return "{{Contact.Field(" + internal + ")}}"; }

nlohmann::json import_body(const std::string& name = "destsim import") {
  return {{"name", name},
          {"fields",
           {{"email", statement("C_EmailAddress")},
            {"first", statement("C_FirstName")},
            {"score", statement("C_Lead_Score1")},
            {"bought", statement("C_Last_Purchase_Date1")}}},
          {"identifierFieldName", "email"},
          {"isSyncTriggeredOnImport", false}};
}

std::string create_import(EloquaApi& api, const nlohmann::json& body = import_body(), Time now = kTimeZero) {
  Response r = api.handle(post_json("/contacts/imports", body), now);
  EXPECT_EQ(r.status, 201) << r.body;
  return r.status == 201 ? parse(r)["uri"].get<std::string>() : "";
}

std::string create_sync(EloquaApi& api, const std::string& import_uri, Time now = kTimeZero) {
  Response r = api.handle(post_json("/syncs", {{"syncedInstanceUri", import_uri}}), now);
  EXPECT_EQ(r.status, 201) << r.body;
  return r.status == 201 ? parse(r)["uri"].get<std::string>() : "";
}

// The oracle row of a staged row: internalName → cell.
nlohmann::json row(const std::string& email, const std::string& first, const std::string& score = "",
                   const std::string& bought = "") {
  return {
      {"C_EmailAddress", email}, {"C_FirstName", first}, {"C_Lead_Score1", score}, {"C_Last_Purchase_Date1", bought}};
}

std::int64_t applied(const EloquaApi& api, const nlohmann::json& r) {
  return api.applied(oracle_key("eloqua.contact", r));
}

TEST(EloquaApi, AuthIsBasicCompanyBackslashUserColonPassword) {
  EloquaApi api(opts());
  const std::string id = "/id";
  for (const std::string login : {"api.user:s3cret", "Acme\\api.user:wrong", "Other\\api.user:s3cret",
                                  "Acme\\someone:s3cret", "Acme\\:s3cret", "Acme\\api.user:", "Acme\\api.user"}) {
    Response r = api.handle(req("GET", id, "", "", login), kTimeZero);
    EXPECT_EQ(r.status, 401) << login;
    EXPECT_EQ(r.body, R"({"error":"Unauthorized"})");
  }
  EXPECT_EQ(api.handle(req("GET", id, "", "", ""), kTimeZero).status, 401);  // no header
  Request bearer = req("GET", id);
  bearer.headers.set("Authorization", "Bearer " + base64(kLogin));
  EXPECT_EQ(api.handle(bearer, kTimeZero).status, 401);
  Request garbage = req("GET", id);
  garbage.headers.set("Authorization", "Basic not*base64");
  EXPECT_EQ(api.handle(garbage, kTimeZero).status, 401);
  EXPECT_EQ(api.handle(req("GET", id), kTimeZero).status, 200);
  EXPECT_EQ(api.accepted()["rejected"], 10);

  // Empty options: any non-empty company, user and password, but the form is required.
  EloquaApi open{EloquaApiOptions{}};
  EXPECT_EQ(open.handle(req("GET", id, "", "", "Other\\x:y:z"), kTimeZero).status, 200);  // password "y:z"
  EXPECT_EQ(open.handle(req("GET", id, "", "", "x:y"), kTimeZero).status, 401);
  EXPECT_EQ(open.handle(req("GET", id, "", "", "Other\\x:"), kTimeZero).status, 401);
}

TEST(EloquaApi, IdNamesTheSiteUserAndBulkUrl) {
  EloquaApiOptions o = opts();
  o.base_url = "https://secure.p07.eloqua.com";
  EloquaApi api(o);
  Request login = req("GET", "/id");
  login.host = "login.eloqua.com";
  Response r = api.handle(login, kTimeZero);
  ASSERT_EQ(r.status, 200);
  auto j = parse(r);
  EXPECT_EQ(j["site"]["name"], "Acme");
  EXPECT_EQ(j["site"]["id"], 42);
  EXPECT_EQ(j["user"]["username"], "api.user");
  EXPECT_EQ(j["urls"]["base"], "https://secure.p07.eloqua.com");
  EXPECT_EQ(j["urls"]["apis"]["rest"]["bulk"], "https://secure.p07.eloqua.com/api/bulk/{version}/");
  EXPECT_EQ(api.base_host(), "secure.p07.eloqua.com");
  Response post = api.handle(req("POST", "/id"), kTimeZero);
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.headers.get("Allow").value_or(""), "GET");
  EXPECT_EQ(api.handle(req("GET", "/api/bulk/1.0/contacts/fields"), kTimeZero).status, 404);
  EXPECT_EQ(api.handle(bulk("GET", "/contacts/imports/"), kTimeZero).status, 404);
  EXPECT_EQ(api.handle(bulk("GET", "/contacts/imports/01"), kTimeZero).status, 404);
  EXPECT_EQ(api.handle(bulk("GET", "/accounts/imports"), kTimeZero).status, 404);
  Response wrong = api.handle(bulk("PUT", "/contacts/imports/1"), kTimeZero);
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.headers.get("Allow").value_or(""), "GET, DELETE");
  EXPECT_EQ(api.handle(bulk("DELETE", "/syncs"), kTimeZero).status, 405);
}

TEST(EloquaApi, SyncsAreListedInCreationOrderWithTheirStatus) {
  // GET /syncs: how a restarted client finds which leftover definitions' syncs have ended.
  EloquaApiOptions o = opts();
  o.page_size_max = 2;
  EloquaApi api(o);
  std::vector<std::string> syncs;
  for (int i = 0; i < 3; ++i) {
    const std::string uri = create_import(api);
    ASSERT_EQ(api.handle(csv(uri, "email,first,score,bought\na@x.io,A,,\n"), kTimeZero).status, 204);
    syncs.push_back(create_sync(api, uri, kTimeZero + std::chrono::seconds(i * 30)));
  }
  Response first = api.handle(bulk("GET", "/syncs?limit=10"), kTimeZero + std::chrono::seconds(65));
  ASSERT_EQ(first.status, 200);
  nlohmann::json p = nlohmann::json::parse(first.body);
  EXPECT_EQ(p["totalResults"], 3);
  ASSERT_EQ(p["items"].size(), 2u);  // page_size_max
  EXPECT_TRUE(p["hasMore"].get<bool>());
  EXPECT_EQ(p["items"][0]["uri"], syncs[0]);
  EXPECT_EQ(p["items"][0]["status"], "success");  // created at 0s: ended at 40s
  EXPECT_EQ(p["items"][1]["status"], "active");   // created at 30s: active until 70s
  Response rest = api.handle(bulk("GET", "/syncs?limit=10&offset=2"), kTimeZero + std::chrono::seconds(65));
  nlohmann::json q = nlohmann::json::parse(rest.body);
  ASSERT_EQ(q["items"].size(), 1u);
  EXPECT_EQ(q["items"][0]["uri"], syncs[2]);
  EXPECT_EQ(q["items"][0]["status"], "pending");  // created at 60s: pending until 70s
  EXPECT_FALSE(q["hasMore"].get<bool>());
  EXPECT_EQ(api.handle(bulk("GET", "/syncs?limit=0"), kTimeZero).status, 400);
}

TEST(EloquaApi, FieldsPageUnderPageSizeMax) {
  EloquaApiOptions o = opts();
  o.page_size_max = 4;
  EloquaApi api(o);
  std::vector<std::string> names;
  std::int64_t offset = 0;
  std::vector<bool> more;
  while (true) {
    auto page = parse(api.handle(bulk("GET", "/contacts/fields?offset=" + std::to_string(offset)), kTimeZero));
    EXPECT_EQ(page["totalResults"], 10);
    EXPECT_EQ(page["limit"], 1000);  // as asked; the page holds fewer
    EXPECT_EQ(page["offset"], offset);
    EXPECT_EQ(page["count"], page["items"].size());
    for (const auto& f : page["items"]) names.push_back(f["internalName"]);
    more.push_back(page["hasMore"]);
    if (!page["hasMore"].get<bool>()) break;
    offset += page["count"].get<std::int64_t>();
  }
  EXPECT_EQ(more, std::vector<bool>({true, true, false}));
  ASSERT_EQ(names.size(), 10u);
  EXPECT_EQ(names[0], "C_EmailAddress");
  EXPECT_EQ(names[9], "C_Last_Purchase_Date1");
  auto first = parse(api.handle(bulk("GET", "/contacts/fields?limit=2"), kTimeZero));
  ASSERT_EQ(first["items"].size(), 2u);
  EXPECT_EQ(first["items"][0], nlohmann::json({{"name", "Email Address"},
                                               {"internalName", "C_EmailAddress"},
                                               {"dataType", "emailAddress"},
                                               {"hasUniquenessConstraint", true},
                                               {"statement", "{{Contact.Field(C_EmailAddress)}}"},
                                               {"uri", "/contacts/fields/1"}}));
  EXPECT_EQ(first["items"][1]["hasUniquenessConstraint"], false);
  EXPECT_TRUE(first["hasMore"].get<bool>());
  auto one = parse(api.handle(bulk("GET", "/contacts/fields/9"), kTimeZero));
  EXPECT_EQ(one["dataType"], "number");
  EXPECT_EQ(api.handle(bulk("GET", "/contacts/fields/11"), kTimeZero).status, 404);
  for (const char* q : {"limit=0", "limit=1001", "limit=abc", "offset=-1", "limit=-5"}) {
    Response bad = api.handle(bulk("GET", std::string("/contacts/fields?") + q), kTimeZero);
    EXPECT_EQ(bad.status, 400) << q;
    EXPECT_TRUE(parse(bad)["failures"].is_array()) << q;
  }
  EXPECT_EQ(api.handle(bulk("GET", "/contacts/fields?limit=1000&offset=50"), kTimeZero).status, 200);
}

TEST(EloquaApi, ImportDefinitionIsValidatedWhole) {
  EloquaApiOptions o = opts();
  // 101 fields, so that exactly 100 keys can be mapped and 101 refused.
  for (int i = 1; i <= 91; ++i)
    o.fields.push_back({"Extra " + std::to_string(i), "C_Extra" + std::to_string(i), "text", false});
  ASSERT_EQ(o.fields.size(), 101u);
  EloquaApi api(o);
  auto refused = [&](nlohmann::json body) {
    Response r = api.handle(post_json("/contacts/imports", body), kTimeZero);
    EXPECT_EQ(r.status, 400) << body.dump();
    return r.status == 400 ? parse(r)["failures"] : nlohmann::json();
  };
  auto fields_of = [](const nlohmann::json& failures) {
    std::vector<std::string> out;
    for (const auto& f : failures) out.push_back(f["field"]);
    return out;
  };
  nlohmann::json b = import_body();
  b.erase("name");
  EXPECT_EQ(fields_of(refused(b)), std::vector<std::string>({"name"}));
  b = import_body(std::string(101, 'n'));
  EXPECT_EQ(fields_of(refused(b)), std::vector<std::string>({"name"}));
  b = import_body();
  b["fields"] = nlohmann::json::object();
  b.erase("identifierFieldName");
  EXPECT_EQ(fields_of(refused(b)), std::vector<std::string>({"fields", "identifierFieldName"}));
  // 101 keys (over fields_max 100) → one failure naming the count.
  nlohmann::json many = nlohmann::json::object();
  for (std::size_t i = 0; i < 101; ++i) many["k" + std::to_string(1000 + i)] = statement(o.fields[i].internal_name);
  b = import_body();
  b["fields"] = many;
  b["identifierFieldName"] = "k1000";
  auto f101 = refused(b);
  ASSERT_EQ(f101.size(), 1u);
  EXPECT_EQ(f101[0]["field"], "fields");
  EXPECT_NE(f101[0]["constraint"].get<std::string>().find("1 to 100 keys"), std::string::npos);
  many.erase("k1100");
  b["fields"] = many;
  std::string hundred = create_import(api, b);  // exactly 100 is accepted
  EXPECT_EQ(hundred, "/contacts/imports/1");
  // Statements: the exact form, a known field, one key per field.
  b = import_body();
  b["fields"]["first"] = "{{Contact.Field(C_FirstName)}} ";
  b["fields"]["score"] = statement("C_Nope");
  b["fields"]["again"] = statement("C_EmailAddress");
  auto statements = refused(b);
  ASSERT_EQ(statements.size(), 3u);
  EXPECT_EQ(statements[0]["field"], "fields.email");  // keys in sorted order: "again" mapped it first
  EXPECT_NE(statements[0]["constraint"].get<std::string>().find("already mapped by key \"again\""), std::string::npos);
  EXPECT_EQ(statements[1]["field"], "fields.first");
  EXPECT_EQ(statements[1]["value"], "{{Contact.Field(C_FirstName)}} ");
  EXPECT_EQ(statements[2]["field"], "fields.score");
  EXPECT_NE(statements[2]["constraint"].get<std::string>().find("C_Nope"), std::string::npos);
  // identifierFieldName: a key, mapped to the unique field.
  b = import_body();
  b["identifierFieldName"] = "mail";
  EXPECT_EQ(fields_of(refused(b)), std::vector<std::string>({"identifierFieldName"}));
  b["identifierFieldName"] = "first";
  EXPECT_EQ(fields_of(refused(b)), std::vector<std::string>({"identifierFieldName"}));
  // Only explicit syncs; unknown keys; update rules.
  b = import_body();
  b["isSyncTriggeredOnImport"] = true;
  EXPECT_EQ(fields_of(refused(b)), std::vector<std::string>({"isSyncTriggeredOnImport"}));
  b.erase("isSyncTriggeredOnImport");
  EXPECT_EQ(fields_of(refused(b)), std::vector<std::string>({"isSyncTriggeredOnImport"}));
  b = import_body();
  b["syncActions"] = nlohmann::json::array();
  b["updateRule"] = "sometimes";
  EXPECT_EQ(fields_of(refused(b)), std::vector<std::string>({"syncActions", "updateRule"}));
  EXPECT_EQ(api.handle(bulk("POST", "/contacts/imports", "{", "application/json"), kTimeZero).status, 400);
  EXPECT_EQ(api.handle(bulk("POST", "/contacts/imports", import_body().dump(), "text/csv"), kTimeZero).status, 415);
  EXPECT_EQ(api.imports(), 1);

  // A valid one: echoed with the defaults filled in.
  b = import_body();
  b["updateRule"] = "ifNewIsNotNull";
  Response ok = api.handle(post_json("/contacts/imports", b), kTimeZero + 1500ms);
  ASSERT_EQ(ok.status, 201);
  auto def = parse(ok);
  EXPECT_EQ(def["uri"], "/contacts/imports/2");
  EXPECT_EQ(def["dataRetentionDuration"], "P7D");
  EXPECT_EQ(def["updateRule"], "ifNewIsNotNull");
  EXPECT_EQ(def["isSyncTriggeredOnImport"], false);
  EXPECT_EQ(def["fields"], b["fields"]);
  EXPECT_EQ(def["createdAt"], "2024-01-01T00:00:01.5000000Z");
  EXPECT_EQ(parse(api.handle(bulk("GET", "/contacts/imports/2"), kTimeZero + 2s)), def);
  EXPECT_EQ(parse(api.handle(post_json("/contacts/imports", import_body()), kTimeZero))["updateRule"], "always");
  std::string hundred_chars;
  for (int i = 0; i < 100; ++i) hundred_chars += "\xc3\xa9";  // 100 characters, 200 bytes
  EXPECT_EQ(parse(api.handle(post_json("/contacts/imports", import_body(hundred_chars)), kTimeZero))["name"],
            hundred_chars);
  EXPECT_EQ(api.handle(post_json("/contacts/imports", import_body(hundred_chars + "x")), kTimeZero).status, 400);
  auto list = parse(api.handle(bulk("GET", "/contacts/imports?limit=2&offset=1"), kTimeZero + 2s));
  EXPECT_EQ(list["totalResults"], 4);
  ASSERT_EQ(list["items"].size(), 2u);
  EXPECT_EQ(list["items"][0], def);
  EXPECT_TRUE(list["hasMore"].get<bool>());
}

TEST(EloquaApi, FieldsMaxIsAnOption) {
  EloquaApiOptions o = opts();
  o.fields_max = 3;
  EloquaApi api(o);
  Response r = api.handle(post_json("/contacts/imports", import_body()), kTimeZero);  // 4 keys
  ASSERT_EQ(r.status, 400);
  EXPECT_EQ(parse(r)["failures"][0]["value"], 4);
}

TEST(EloquaApi, DataPostsStageRowsAndAccumulate) {
  EloquaApi api(opts());
  std::string im = create_import(api);
  Response first = api.handle(csv(im, "email,first,score,bought\r\na@x.io,Ada,12,2024-03-01\r\n"), kTimeZero);
  EXPECT_EQ(first.status, 204);
  EXPECT_TRUE(first.body.empty());
  // Columns in another order, quoting, a cell with a comma, a quote and a line break.
  Response second = api.handle(
      csv(im, "bought,first,email,score\n,\"Bo, \"\"the\"\"\nsecond\",b@x.io,\n2024-02-29 23:59:59,Cy,c@x.io,-3.5"),
      kTimeZero);
  EXPECT_EQ(second.status, 204) << second.body;
  EXPECT_EQ(api.accepted()["imports"][0]["rows_staged"], 3);
  // Bad bodies stage nothing.
  auto refused = [&](const std::string& body, const char* type = "text/csv") {
    Response r = api.handle(bulk("POST", im + "/data", body, type), kTimeZero);
    return std::make_pair(r.status, r.body);
  };
  EXPECT_EQ(refused("email,first,score,bought\na@x.io,A,1,\n", "application/json").first, 415);
  EXPECT_EQ(refused("email,first,score,bought\na@x.io,A,1,\n", "").first, 415);
  EXPECT_EQ(refused("email,first,score,bought\na@x.io,A,1,\n", "text/csv; charset=utf-8").first, 204);
  auto missing = refused("email,first,score\na@x.io,A,1\n");
  EXPECT_EQ(missing.first, 400);
  EXPECT_NE(missing.second.find("line 1: the header must be the import's keys (bought, email, first, score)"),
            std::string::npos)
      << missing.second;
  EXPECT_EQ(refused("email,first,score,bought,extra\na@x.io,A,1,,\n").first, 400);
  auto twice = refused("email,first,score,email\na@x.io,A,1,b@x.io\n");
  EXPECT_EQ(twice.first, 400);
  EXPECT_NE(twice.second.find("given twice"), std::string::npos);
  auto short_row = refused("email,first,score,bought\na@x.io,A,1,\nb@x.io,B,2\n");
  EXPECT_EQ(short_row.first, 400);
  EXPECT_NE(short_row.second.find("line 3 has 3 cells"), std::string::npos) << short_row.second;
  // A quoted line break moves the line count on.
  auto after_quote = refused("email,first,score,bought\na@x.io,\"A\nB\",1,\nb@x.io,B,2\n");
  EXPECT_NE(after_quote.second.find("line 4 has 3 cells"), std::string::npos) << after_quote.second;
  EXPECT_EQ(refused("").first, 400);
  EXPECT_EQ(refused("email,first,score,bought\n").first, 400);
  EXPECT_EQ(refused("email,first,score,bought\na@x.io,\"unterminated,1,\n").first, 400);
  EXPECT_EQ(refused("email,first,score,bought\na@x.io,\xff,1,\n").first, 400);  // not UTF-8
  EXPECT_EQ(api.accepted()["imports"][0]["rows_staged"], 4);                    // the three, and the charset one
  EXPECT_EQ(api.handle(csv("/contacts/imports/9", "email,first,score,bought\na@x.io,A,1,\n"), kTimeZero).status, 404);
  // The staged cells are what the sync applies.
  create_sync(api, im);
  api.catch_up(kTimeZero + 1h);
  EXPECT_EQ(applied(api, row("a@x.io", "Ada", "12", "2024-03-01")), 1);
  EXPECT_EQ(applied(api, row("b@x.io", "Bo, \"the\"\nsecond")), 1);
  EXPECT_EQ(applied(api, row("c@x.io", "Cy", "-3.5", "2024-02-29 23:59:59")), 1);
  EXPECT_EQ(applied(api, row("a@x.io", "A", "1")), 1);
  // Data after a sync (any status) is a conflict.
  Response late = api.handle(csv(im, "email,first,score,bought\nd@x.io,D,1,\n"), kTimeZero + 1h);
  EXPECT_EQ(late.status, 409);
  EXPECT_NE(parse(late)["failures"][0]["constraint"].get<std::string>().find("/syncs/1"), std::string::npos);
}

// A CSV body of exactly `size` bytes: a header and one row padded in its first-name cell.
std::string body_of_size(std::size_t size) {
  const std::string head = "email,first,score,bought\na@x.io,";
  const std::string tail = ",1,\n";
  return head + std::string(size - head.size() - tail.size(), 'p') + tail;
}

TEST(EloquaApi, DataOverTheLimitIsA404LikeAnUnknownImport) {
  EloquaApiOptions o = opts();
  o.data_bytes_max = 200;
  EloquaApi api(o);
  std::string im = create_import(api);
  Response unknown = api.handle(csv("/contacts/imports/7", body_of_size(100)), kTimeZero);
  Response over = api.handle(csv(im, body_of_size(201)), kTimeZero);
  EXPECT_EQ(over.status, 404);
  EXPECT_EQ(over.body, R"({"error":"Not Found"})");
  EXPECT_EQ(over.body, unknown.body);
  EXPECT_EQ(over.headers.get("Content-Type"), unknown.headers.get("Content-Type"));
  EXPECT_EQ(api.handle(csv(im, body_of_size(200)), kTimeZero).status, 204);
  EXPECT_EQ(api.accepted()["imports"][0]["rows_staged"], 1);
}

TEST(EloquaApi, DefaultDataLimitIs32MB) {
  EloquaApi api(opts());
  std::string im = create_import(api);
  EXPECT_EQ(api.handle(csv(im, body_of_size(33'554'433)), kTimeZero).status, 404);
  EXPECT_EQ(api.handle(csv(im, body_of_size(33'554'432)), kTimeZero).status, 204);
  EXPECT_EQ(api.accepted()["imports"][0]["rows_staged"], 1);
}

TEST(EloquaApi, SyncLifecycleIsLazyPendingActiveSuccess) {
  EloquaApi api(opts());
  std::string im = create_import(api);
  // A sync needs a live import with staged rows.
  Response empty = api.handle(post_json("/syncs", {{"syncedInstanceUri", im}}), kTimeZero);
  EXPECT_EQ(empty.status, 400);
  EXPECT_NE(empty.body.find("no staged data"), std::string::npos);
  EXPECT_EQ(api.handle(post_json("/syncs", {{"syncedInstanceUri", "/contacts/imports/9"}}), kTimeZero).status, 400);
  EXPECT_EQ(api.handle(post_json("/syncs", {{"syncedInstanceUri", im}, {"callbackUrl", "x"}}), kTimeZero).status, 400);
  ASSERT_EQ(api.handle(csv(im, "email,first,score,bought\na@x.io,Ada,,\nB@X.io,Bo,7,\n"), kTimeZero).status, 204);
  Response created = api.handle(post_json("/syncs", {{"syncedInstanceUri", im}}), kTimeZero + 1s);
  ASSERT_EQ(created.status, 201);
  EXPECT_EQ(parse(created), nlohmann::json({{"syncedInstanceUri", im},
                                            {"status", "pending"},
                                            {"createdAt", "2024-01-01T00:00:01.0000000Z"},
                                            {"createdBy", "api.user"},
                                            {"uri", "/syncs/1"}}));
  Response again = api.handle(post_json("/syncs", {{"syncedInstanceUri", im}}), kTimeZero + 2s);
  EXPECT_EQ(again.status, 409);
  auto get = [&](Time t) { return parse(api.handle(bulk("GET", "/syncs/1"), t)); };
  auto pending = get(kTimeZero + 10s);
  EXPECT_EQ(pending["status"], "pending");
  EXPECT_FALSE(pending.contains("syncStartedAt"));
  auto active = get(kTimeZero + 11s);
  EXPECT_EQ(active["status"], "active");
  EXPECT_EQ(active["syncStartedAt"], "2024-01-01T00:00:11.0000000Z");
  EXPECT_FALSE(active.contains("syncEndedAt"));
  EXPECT_EQ(applied(api, row("a@x.io", "Ada")), 0);
  auto early = parse(api.handle(bulk("GET", "/syncs/1/logs"), kTimeZero + 40s));
  EXPECT_EQ(early["totalResults"], 0);
  auto done = get(kTimeZero + 41s);
  EXPECT_EQ(done["status"], "success");
  EXPECT_EQ(done["syncEndedAt"], "2024-01-01T00:00:41.0000000Z");
  EXPECT_EQ(applied(api, row("a@x.io", "Ada")), 1);
  EXPECT_EQ(applied(api, row("B@X.io", "Bo", "7")), 1);
  auto logs = parse(api.handle(bulk("GET", "/syncs/1/logs"), kTimeZero + 41s));
  ASSERT_EQ(logs["items"].size(), 1u);
  EXPECT_EQ(logs["items"][0],
            nlohmann::json({{"count", 2},
                            {"createdAt", "2024-01-01T00:00:41.0000000Z"},
                            {"message", "Sync processed for sync /syncs/1, resulting in Success status."},
                            {"severity", "information"},
                            {"statusCode", "ELQ-00101"},
                            {"syncUri", "/syncs/1"}}));
  EXPECT_EQ(parse(api.handle(bulk("GET", "/syncs/1/rejects"), kTimeZero + 41s))["totalResults"], 0);
  EXPECT_EQ(api.handle(bulk("GET", "/syncs/2"), kTimeZero + 41s).status, 404);
  // A second import upserts by email, case-insensitively; "always" writes empty cells too.
  std::string im2 = create_import(api, import_body(), kTimeZero + 1min);
  ASSERT_EQ(api.handle(csv(im2, "email,first,score,bought\nb@x.io,,9,2024-05-05\n"), kTimeZero + 1min).status, 204);
  create_sync(api, im2, kTimeZero + 1min);
  api.catch_up(kTimeZero + 2min);
  auto acc = api.accepted();
  EXPECT_EQ(acc["contact_count"], 2);
  EXPECT_EQ(acc["contacts"]["b@x.io"], nlohmann::json({{"C_EmailAddress", "b@x.io"},
                                                       {"C_FirstName", ""},
                                                       {"C_Lead_Score1", "9"},
                                                       {"C_Last_Purchase_Date1", "2024-05-05"}}));
  EXPECT_EQ(acc["applications"], 3);
  EXPECT_EQ(acc["syncs_by_status"]["success"], 2);
}

TEST(EloquaApi, UpdateRulesMergeAsDocumented) {
  EloquaApi api(opts());
  auto run = [&](const std::string& rule, const std::string& rows, Time t) {
    nlohmann::json b = import_body();
    b["updateRule"] = rule;
    std::string im = create_import(api, b, t);
    EXPECT_EQ(api.handle(csv(im, "email,first,score,bought\n" + rows), t).status, 204);
    create_sync(api, im, t);
    api.catch_up(t + 1h);
  };
  run("always", "a@x.io,Ada,5,\n", kTimeZero);
  run("ifNewIsNotNull", "a@x.io,,6,\n", kTimeZero + 2h);
  auto c = api.accepted()["contacts"]["a@x.io"];
  EXPECT_EQ(c["C_FirstName"], "Ada");  // the empty cell did not overwrite
  EXPECT_EQ(c["C_Lead_Score1"], "6");
  run("ifBlank", "a@x.io,Bea,7,2024-01-02\n", kTimeZero + 4h);
  c = api.accepted()["contacts"]["a@x.io"];
  EXPECT_EQ(c["C_FirstName"], "Ada");                   // not blank: kept
  EXPECT_EQ(c["C_Lead_Score1"], "6");                   // kept
  EXPECT_EQ(c["C_Last_Purchase_Date1"], "2024-01-02");  // was blank: written
  // Each applied row counts once whatever the rule wrote.
  EXPECT_EQ(applied(api, row("a@x.io", "Bea", "7", "2024-01-02")), 1);
}

TEST(EloquaApi, WarningListsRejectsIndexedAcrossDataPosts) {
  EloquaApiOptions o = opts();
  o.page_size_max = 3;
  EloquaApi api(o);
  std::string im = create_import(api);
  // Rows 1-3, then rows 4-8.
  ASSERT_EQ(api.handle(csv(im,
                           "email,first,score,bought\n"
                           "ok1@x.io,A,1,2024-01-01\n"
                           "not-an-email,B,2,\n"
                           "ok3@x.io,C,,\n"),
                       kTimeZero)
                .status,
            204);
  ASSERT_EQ(api.handle(csv(im, "first,email,score,bought\n" + std::string(101, 'L') +
                                   ",long@x.io,,\n"
                                   "E,num@x.io,12a,\n"
                                   "F,date@x.io,,2024-02-30\n"
                                   "G,ok7@x.io,3.25,2024-02-29 10:00:00\n"
                                   "H,bad@,,31/12/2024\n"),
                       kTimeZero)
                .status,
            204);
  std::string sync = create_sync(api, im);
  // Not yet terminal: an empty list.
  auto early = parse(api.handle(bulk("GET", sync + "/rejects"), kTimeZero + 39s));
  EXPECT_EQ(early["totalResults"], 0);
  EXPECT_EQ(early["items"].size(), 0u);
  EXPECT_EQ(parse(api.handle(bulk("GET", sync), kTimeZero + 40s))["status"], "warning");
  // limit 2: pages of two, following hasMore and offset.
  std::vector<std::int64_t> indexes;
  std::vector<std::string> codes;
  std::int64_t offset = 0;
  int pages = 0;
  while (true) {
    auto page =
        parse(api.handle(bulk("GET", sync + "/rejects?limit=2&offset=" + std::to_string(offset)), kTimeZero + 40s));
    ++pages;
    EXPECT_EQ(page["totalResults"], 5);
    EXPECT_LE(page["count"].get<int>(), 2);
    for (const auto& r : page["items"]) {
      indexes.push_back(r["recordIndex"]);
      codes.push_back(r["statusCode"]);
    }
    if (!page["hasMore"].get<bool>()) break;
    offset += page["count"].get<std::int64_t>();
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(indexes, std::vector<std::int64_t>({2, 4, 5, 6, 8}));
  EXPECT_EQ(codes, std::vector<std::string>({"ELQ-00002", "ELQ-00001", "ELQ-00003", "ELQ-00004", "ELQ-00002"}));
  // The default limit is capped by page_size_max (3).
  auto capped = parse(api.handle(bulk("GET", sync + "/rejects"), kTimeZero + 40s));
  EXPECT_EQ(capped["limit"], 1000);
  EXPECT_EQ(capped["count"], 3);
  EXPECT_TRUE(capped["hasMore"].get<bool>());
  EXPECT_EQ(capped["items"][1]["fieldValues"],
            nlohmann::json({{"email", "long@x.io"}, {"first", std::string(101, 'L')}, {"score", ""}, {"bought", ""}}));
  EXPECT_EQ(capped["items"][1]["invalidFields"], nlohmann::json({"first"}));
  // Two bad fields: both listed, the email's code wins.
  auto last = parse(api.handle(bulk("GET", sync + "/rejects?offset=4"), kTimeZero + 40s))["items"][0];
  EXPECT_EQ(last["invalidFields"], nlohmann::json({"bought", "email"}));
  EXPECT_EQ(last["statusCode"], "ELQ-00002");
  EXPECT_EQ(api.handle(bulk("GET", sync + "/rejects?limit=1001"), kTimeZero + 40s).status, 400);
  // Only the valid rows were applied.
  EXPECT_EQ(applied(api, row("ok1@x.io", "A", "1", "2024-01-01")), 1);
  EXPECT_EQ(applied(api, row("ok7@x.io", "G", "3.25", "2024-02-29 10:00:00")), 1);
  EXPECT_EQ(applied(api, row("num@x.io", "E", "12a")), 0);
  auto acc = api.accepted();
  EXPECT_EQ(acc["contact_count"], 3);
  EXPECT_EQ(acc["rejects"], 5);
  EXPECT_EQ(acc["imports"][0]["sync"], nlohmann::json({{"uri", "/syncs/1"}, {"status", "warning"}}));
  // Logs: a warning per code, then the summary.
  auto logs_page = parse(api.handle(bulk("GET", sync + "/logs?limit=10"), kTimeZero + 40s));
  EXPECT_EQ(logs_page["totalResults"], 5);
  EXPECT_EQ(logs_page["count"], 3);  // page_size_max
  auto logs = logs_page["items"];
  const auto rest = parse(api.handle(bulk("GET", sync + "/logs?offset=3"), kTimeZero + 40s));
  for (const auto& l : rest["items"]) logs.push_back(l);
  ASSERT_EQ(logs.size(), 5u);
  EXPECT_EQ(logs[0]["statusCode"], "ELQ-00001");
  EXPECT_EQ(logs[1]["statusCode"], "ELQ-00002");
  EXPECT_EQ(logs[1]["count"], 2);
  EXPECT_EQ(logs[1]["severity"], "warning");
  EXPECT_EQ(logs[4]["statusCode"], "ELQ-00101");
  EXPECT_EQ(logs[4]["count"], 3);
  EXPECT_EQ(logs[4]["message"], "Sync processed for sync /syncs/1, resulting in Warning status.");
}

TEST(EloquaApi, ErrorSyncsApplyNothingAndAllRejectedIsError) {
  EloquaApiOptions o = opts();
  o.error_syncs = {1};
  EloquaApi api(o);
  std::string first = create_import(api);
  ASSERT_EQ(api.handle(csv(first, "email,first,score,bought\na@x.io,A,,\nnope,B,,\n"), kTimeZero).status, 204);
  std::string second = create_import(api);
  ASSERT_EQ(api.handle(csv(second, "email,first,score,bought\na@x.io,A,,\n"), kTimeZero).status, 204);
  std::string third = create_import(api);
  ASSERT_EQ(api.handle(csv(third, "email,first,score,bought\nx,A,,\ny,B,,\n"), kTimeZero).status, 204);
  std::string s1 = create_sync(api, first), s2 = create_sync(api, second), s3 = create_sync(api, third);
  auto status = [&](const std::string& s) { return parse(api.handle(bulk("GET", s), kTimeZero + 1h))["status"]; };
  EXPECT_EQ(status(s1), "error");
  EXPECT_EQ(status(s2), "success");
  EXPECT_EQ(status(s3), "error");
  EXPECT_EQ(applied(api, row("a@x.io", "A")), 1);  // the second import's only
  EXPECT_EQ(parse(api.handle(bulk("GET", s1 + "/rejects"), kTimeZero + 1h))["totalResults"], 0);
  auto logs1 = parse(api.handle(bulk("GET", s1 + "/logs"), kTimeZero + 1h))["items"];
  ASSERT_EQ(logs1.size(), 2u);
  EXPECT_EQ(logs1[0]["severity"], "error");
  EXPECT_EQ(logs1[0]["count"], 2);
  EXPECT_EQ(logs1[1]["message"], "Sync processed for sync /syncs/1, resulting in Error status.");
  EXPECT_EQ(logs1[1]["count"], 0);
  // Every row rejected: error, and the rejects are listed.
  EXPECT_EQ(parse(api.handle(bulk("GET", s3 + "/rejects"), kTimeZero + 1h))["totalResults"], 2);
  auto acc = api.accepted();
  EXPECT_EQ(acc["syncs_by_status"],
            nlohmann::json({{"pending", 0}, {"active", 0}, {"success", 1}, {"warning", 0}, {"error", 2}}));
  EXPECT_EQ(acc["contact_count"], 1);
}

TEST(EloquaApi, DeleteRemovesTheDefinition) {
  EloquaApi api(opts());
  std::string done = create_import(api);
  ASSERT_EQ(api.handle(csv(done, "email,first,score,bought\na@x.io,A,,\nbad,B,,\n"), kTimeZero).status, 204);
  std::string done_sync = create_sync(api, done);
  std::string early = create_import(api);
  ASSERT_EQ(api.handle(csv(early, "email,first,score,bought\nc@x.io,C,,\n"), kTimeZero).status, 204);
  std::string early_sync = create_sync(api, early, kTimeZero + 30s);
  std::string unused = create_import(api);
  EXPECT_EQ(api.accepted()["live_imports"], 3);
  // The first sync ends at 40s; the second would at 70s.
  Response del = api.handle(bulk("DELETE", done), kTimeZero + 50s);
  EXPECT_EQ(del.status, 204);
  EXPECT_TRUE(del.body.empty());
  EXPECT_EQ(api.handle(bulk("DELETE", early), kTimeZero + 50s).status, 204);
  EXPECT_EQ(api.handle(bulk("DELETE", done), kTimeZero + 50s).status, 404);
  EXPECT_EQ(api.handle(bulk("GET", done), kTimeZero + 50s).status, 404);
  EXPECT_EQ(api.handle(csv(unused, "email,first,score,bought\nd@x.io,D,,\n"), kTimeZero + 50s).status, 204);
  EXPECT_EQ(api.handle(csv(done, "email,first,score,bought\nd@x.io,D,,\n"), kTimeZero + 50s).status, 404);
  EXPECT_EQ(api.handle(post_json("/syncs", {{"syncedInstanceUri", done}}), kTimeZero + 50s).status, 400);
  auto list = parse(api.handle(bulk("GET", "/contacts/imports"), kTimeZero + 50s));
  ASSERT_EQ(list["totalResults"], 1);
  EXPECT_EQ(list["items"][0]["uri"], unused);
  // A sync that ended before the delete keeps its results.
  EXPECT_EQ(parse(api.handle(bulk("GET", done_sync), kTimeZero + 50s))["status"], "warning");
  EXPECT_EQ(parse(api.handle(bulk("GET", done_sync + "/rejects"), kTimeZero + 50s))["totalResults"], 1);
  // One whose import was deleted before it ended fails and applies nothing.
  EXPECT_EQ(parse(api.handle(bulk("GET", early_sync), kTimeZero + 2min))["status"], "error");
  EXPECT_EQ(applied(api, row("c@x.io", "C")), 0);
  auto logs = parse(api.handle(bulk("GET", early_sync + "/logs"), kTimeZero + 2min))["items"];
  EXPECT_NE(logs[0]["message"].get<std::string>().find("deleted before the sync ended"), std::string::npos);
  auto acc = api.accepted();
  EXPECT_EQ(acc["live_imports"], 1);
  EXPECT_EQ(acc["imports"][0]["deleted"], true);
  EXPECT_EQ(acc["imports"][2]["deleted"], false);
  EXPECT_EQ(acc["imports"][2]["rows_staged"], 1);
}

TEST(EloquaApi, HourlyWindowsThrottleCreations) {
  EloquaApiOptions o = opts();
  o.imports_per_hour = 2;
  o.syncs_per_hour = 1;
  EloquaApi api(o);
  nlohmann::json bad = import_body();
  bad.erase("name");
  EXPECT_EQ(api.handle(post_json("/contacts/imports", bad), kTimeZero).status, 400);  // takes no slot
  std::string a = create_import(api, import_body(), kTimeZero);
  std::string b = create_import(api, import_body(), kTimeZero + 10min);
  Response third = api.handle(post_json("/contacts/imports", import_body()), kTimeZero + 30min);
  EXPECT_EQ(third.status, 429);
  EXPECT_EQ(third.headers.get("Retry-After").value_or(""), "1800");
  EXPECT_EQ(third.body, R"({"error":"Too Many Requests"})");
  Response almost = api.handle(post_json("/contacts/imports", import_body()), kTimeZero + 1h - 100ms);
  EXPECT_EQ(almost.headers.get("Retry-After").value_or(""), "1");
  EXPECT_EQ(api.handle(bulk("GET", a), kTimeZero + 30min).status, 200);  // reads are not limited
  create_import(api, import_body(), kTimeZero + 1h);                     // a new window
  EXPECT_EQ(api.imports(), 3);
  for (const auto& im : {a, b})
    ASSERT_EQ(api.handle(csv(im, "email,first,score,bought\na@x.io,A,,\n"), kTimeZero + 1h).status, 204);
  create_sync(api, a, kTimeZero + 1h);
  Response sync = api.handle(post_json("/syncs", {{"syncedInstanceUri", b}}), kTimeZero + 1h + 15min);
  EXPECT_EQ(sync.status, 429);
  EXPECT_EQ(sync.headers.get("Retry-After").value_or(""), "2700");
  create_sync(api, b, kTimeZero + 2h);
  EXPECT_EQ(api.syncs(), 2);
  EXPECT_EQ(api.accepted()["throttled"], 3);
  EXPECT_EQ(api.accepted()["rejected"], 1);
}

TEST(EloquaApi, HostileStatusValuesRenameOnlyTheWire) {
  EloquaApiOptions o = opts();
  auto renamed =
      EloquaApiOptions::from_json({{"status_values", {{"success", "succeeded"}, {"active", "processing"}}}}, "o");
  ASSERT_TRUE(renamed.ok()) << renamed.error().message;
  o.status_values = renamed->status_values;
  EloquaApi api(o);
  std::string im = create_import(api);
  ASSERT_EQ(api.handle(csv(im, "email,first,score,bought\na@x.io,A,,\n"), kTimeZero).status, 204);
  std::string s = create_sync(api, im);
  auto status = [&](Time t) { return parse(api.handle(bulk("GET", s), t))["status"]; };
  EXPECT_EQ(status(kTimeZero + 1s), "pending");
  EXPECT_EQ(status(kTimeZero + 20s), "processing");
  EXPECT_EQ(status(kTimeZero + 60s), "succeeded");
  EXPECT_EQ(api.accepted()["syncs_by_status"]["success"], 1);  // its own state keeps the documented names
  auto bad = EloquaApiOptions::from_json({{"status_values", {{"done", "x"}}}}, "x.json: /fake/options");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("x.json: /fake/options/status_values/done: unknown key"), std::string::npos)
      << bad.error().message;
}

TEST(EloquaApi, ZeroDurationsEndASyncAtOnce) {
  EloquaApiOptions o = opts();
  o.pending_for = 0s;
  o.active_for = 0s;
  EloquaApi api(o);
  std::string im = create_import(api);
  ASSERT_EQ(api.handle(csv(im, "email,first,score,bought\na@x.io,A,,\n"), kTimeZero).status, 204);
  Response r = api.handle(post_json("/syncs", {{"syncedInstanceUri", im}}), kTimeZero);
  ASSERT_EQ(r.status, 201);
  EXPECT_EQ(parse(r)["status"], "success");
  EXPECT_EQ(applied(api, row("a@x.io", "A")), 1);
}

TEST(EloquaApi, ResetForgetsEverything) {
  EloquaApi api(opts());
  std::string im = create_import(api);
  ASSERT_EQ(api.handle(csv(im, "email,first,score,bought\na@x.io,A,,\n"), kTimeZero).status, 204);
  create_sync(api, im);
  api.catch_up(kTimeZero + 1h);
  EXPECT_EQ(api.contacts(), 1);
  EXPECT_EQ(applied(api, row("a@x.io", "A")), 1);
  api.reset();
  EXPECT_EQ(api.contacts(), 0);
  EXPECT_EQ(api.imports(), 0);
  EXPECT_EQ(api.syncs(), 0);
  EXPECT_EQ(applied(api, row("a@x.io", "A")), 0);
  EXPECT_EQ(api.accepted()["requests"], 0);
  EXPECT_EQ(api.handle(bulk("GET", im), kTimeZero).status, 404);
  EXPECT_EQ(create_import(api), "/contacts/imports/1");  // ids start again
}

TEST(EloquaApi, AcceptedHasTheDocumentedShape) {
  EloquaApi api(opts());
  std::string im = create_import(api, import_body("contacts 1"));
  ASSERT_EQ(
      api.handle(csv(im, "email,first,score,bought\nuser1@example.com,Ada,10,2024-01-05\nbad,B,,\n"), kTimeZero).status,
      204);
  create_sync(api, im);
  api.handle(bulk("GET", "/syncs/1"), kTimeZero + 1min);
  api.handle(bulk("DELETE", im), kTimeZero + 1min);
  create_import(api, import_body("contacts 2"), kTimeZero + 1min);
  auto acc = api.accepted();
  EXPECT_EQ(acc, nlohmann::json::parse(R"({
    "requests": 6, "throttled": 0, "rejected": 0,
    "imports": [
      {"uri": "/contacts/imports/1", "name": "contacts 1", "fields": 4, "rows_staged": 2, "deleted": true,
       "sync": {"uri": "/syncs/1", "status": "warning"}},
      {"uri": "/contacts/imports/2", "name": "contacts 2", "fields": 4, "rows_staged": 0, "deleted": false}
    ],
    "live_imports": 1,
    "syncs_by_status": {"pending": 0, "active": 0, "success": 0, "warning": 1, "error": 0},
    "contacts": {"user1@example.com": {"C_EmailAddress": "user1@example.com", "C_FirstName": "Ada",
                                       "C_Lead_Score1": "10", "C_Last_Purchase_Date1": "2024-01-05"}},
    "contact_count": 1, "applications": 1, "rejects": 1
  })"))
      << acc.dump(2);
}

TEST(EloquaApi, ControlRotatesThePasswordAndSeedsRequests) {
  EloquaApi api(opts());
  nlohmann::json rotate = {{"set_password", "n3w"}};
  ASSERT_TRUE(api.control(JsonIn(rotate, "seed"), kTimeZero).ok());
  EXPECT_EQ(api.handle(req("GET", "/id"), kTimeZero).status, 401);
  EXPECT_EQ(api.handle(req("GET", "/id", "", "", "Acme\\api.user:n3w"), kTimeZero).status, 200);
  nlohmann::json seed = {{"request",
                          {{"method", "POST"},
                           {"path", kBulk + "/contacts/imports"},
                           {"headers", {{"Authorization", "Basic " + base64("Acme\\api.user:n3w")}}},
                           {"json", import_body("seeded")}}}};
  ASSERT_TRUE(api.control(JsonIn(seed, "seed"), kTimeZero).ok());
  EXPECT_EQ(api.imports(), 1);
  nlohmann::json unknown = {{"set_api_key", "k"}};
  auto err = api.control(JsonIn(unknown, "x.json: /fake/seed/0"), kTimeZero);
  ASSERT_FALSE(err.ok());
  EXPECT_NE(err.error().message.find("set_password, request"), std::string::npos) << err.error().message;
  nlohmann::json wrong = {{"set_password", 7}};
  EXPECT_FALSE(api.control(JsonIn(wrong, "seed"), kTimeZero).ok());
  EXPECT_EQ(api.handle(req("GET", "/id", "", "", "Acme\\api.user:n3w"), kTimeZero).status, 200);  // unchanged
}

// The examples of ACCEPTED.md's "## Operations", in its order, on a fake with the documented options.
TEST(EloquaApi, AcceptedDocOperationExamplesHold) {
  EloquaApiOptions o;
  o.company = "Acme";
  o.username = "destsim";
  o.password = "incident-pw";
  EloquaApi api(o);
  for (
      const char* text :
      {R"({"set_password": "rotated-pw"})",
       R"({"request": {"method": "POST", "path": "/api/bulk/2.0/contacts/imports", "headers": {"Authorization": "Basic QWNtZVxkZXN0c2ltOnJvdGF0ZWQtcHc="}, "json": {"name": "legacy import", "fields": {"email": "{{Contact.Field(C_EmailAddress)}}", "first": "{{Contact.Field(C_FirstName)}}"}, "identifierFieldName": "email", "isSyncTriggeredOnImport": false}}})"}) {
    const nlohmann::json op = nlohmann::json::parse(text);
    Status s = api.control(JsonIn(op, "ACCEPTED.md"), kTimeZero);
    EXPECT_TRUE(s.ok()) << s.error().message;
  }
  EXPECT_EQ(base64("Acme\\destsim:rotated-pw"), "QWNtZVxkZXN0c2ltOnJvdGF0ZWQtcHc=");
  EXPECT_EQ(api.accepted()["live_imports"], 1);
}

TEST(EloquaApiOptions, ErrorsNameTheKey) {
  auto unknown = EloquaApiOptions::from_json({{"pending_four", "1h"}}, "x.json: /fake/options");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("x.json: /fake/options/pending_four"), std::string::npos)
      << unknown.error().message;
  auto d = EloquaApiOptions::from_json({{"active_for", 5}}, "x.json: /fake/options");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("/fake/options/active_for"), std::string::npos) << d.error().message;
  auto e = EloquaApiOptions::from_json({{"error_syncs", {0}}}, "x.json: /fake/options");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("/fake/options/error_syncs/0"), std::string::npos) << e.error().message;
  nlohmann::json two_unique = {
      {"fields",
       {{{"name", "E"}, {"internalName", "C_E"}, {"dataType", "emailAddress"}, {"hasUniquenessConstraint", true}},
        {{"name", "F"}, {"internalName", "C_F"}, {"dataType", "emailAddress"}, {"hasUniquenessConstraint", true}}}}};
  auto u = EloquaApiOptions::from_json(two_unique, "x.json: /fake/options");
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.error().message.find("/fake/options/fields: exactly one field"), std::string::npos) << u.error().message;
  nlohmann::json bad_type = {{"fields", {{{"name", "E"}, {"internalName", "C_E"}, {"dataType", "blob"}}}}};
  auto t = EloquaApiOptions::from_json(bad_type, "x.json: /fake/options");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("/fake/options/fields/0/dataType"), std::string::npos) << t.error().message;
  auto ok =
      EloquaApiOptions::from_json({{"password", {{"secret", "pw"}}},
                                   {"company", "Acme"},
                                   {"pending_for", "1m"},
                                   {"data_bytes_max", "1MB"},
                                   {"error_syncs", {2}},
                                   {"fields",
                                    {{{"name", "Email"},
                                      {"internalName", "C_EmailAddress"},
                                      {"dataType", "emailAddress"},
                                      {"hasUniquenessConstraint", true}},
                                     {{"name", "Notes"}, {"internalName", "C_Notes"}, {"dataType", "largeText"}}}}},
                                  "x");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->password, "pw");
  EXPECT_EQ(ok->company, "Acme");
  EXPECT_EQ(ok->pending_for, std::chrono::minutes(1));
  EXPECT_EQ(ok->data_bytes_max, 1'000'000);  // "MB" is decimal here
  EXPECT_EQ(ok->error_syncs, std::vector<std::int64_t>({2}));
  ASSERT_EQ(ok->fields.size(), 2u);
  EXPECT_EQ(ok->fields[1].data_type, "largeText");
  auto defaults = EloquaApiOptions::from_json(nullptr, "x");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->fields.size(), 10u);
  EXPECT_EQ(defaults->data_bytes_max, 33'554'432);
  EXPECT_EQ(defaults->pending_for, std::chrono::seconds(10));
  EXPECT_EQ(defaults->active_for, std::chrono::seconds(30));
}

TEST(EloquaApi, LargeTextHasItsOwnLimit) {
  EloquaApiOptions o = opts();
  o.fields.push_back({"Notes", "C_Notes", "largeText", false});
  o.large_text_max = 150;
  EloquaApi api(o);
  nlohmann::json b = import_body();
  b["fields"]["notes"] = statement("C_Notes");
  std::string im = create_import(api, b);
  ASSERT_EQ(api.handle(csv(im, "email,first,score,bought,notes\na@x.io,A,,," + std::string(150, 'n') + "\nb@x.io,B,,," +
                                   std::string(151, 'n') + "\n"),
                       kTimeZero)
                .status,
            204);
  std::string s = create_sync(api, im);
  auto rejects = parse(api.handle(bulk("GET", s + "/rejects"), kTimeZero + 1h));
  ASSERT_EQ(rejects["totalResults"], 1);
  EXPECT_EQ(rejects["items"][0]["recordIndex"], 2);
  EXPECT_EQ(rejects["items"][0]["statusCode"], "ELQ-00001");
  EXPECT_EQ(rejects["items"][0]["invalidFields"], nlohmann::json({"notes"}));
}

}  // namespace
}  // namespace destsim
