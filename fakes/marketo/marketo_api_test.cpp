#include "fakes/marketo/marketo_api.h"

#include <gtest/gtest.h>

#include "framework/oracle.h"

namespace destsim {
namespace {

constexpr const char* kHost = "123-ABC-456.mktorest.com";

MarketoApiOptions opts() {
  MarketoApiOptions o;
  o.client_id = "cid";
  o.client_secret = "csec";
  o.token_ttl = std::chrono::hours(48);  // tests that need expiry set their own
  return o;
}

Time at(Duration d) { return kTimeZero + d; }

Request token_request(const std::string& id = "cid", const std::string& secret = "csec") {
  Request r;
  r.method = "POST";
  r.host = kHost;
  r.path = "/identity/oauth/token?grant_type=client_credentials&client_id=" + id + "&client_secret=" + secret;
  return r;
}

std::string get_token(MarketoApi& api, Time now) {
  Response r = api.handle(token_request(), now);
  EXPECT_EQ(r.status, 200);
  return nlohmann::json::parse(r.body)["access_token"];
}

std::string multipart(const std::string& boundary, const std::vector<std::pair<std::string, std::string>>& fields,
                      const std::string& file) {
  std::string b;
  for (const auto& [name, value] : fields)
    b += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n";
  b += "--" + boundary +
       "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.csv\"\r\nContent-Type: text/csv\r\n\r\n" +
       file + "\r\n--" + boundary + "--\r\n";
  return b;
}

Request upload_request(const std::string& token, const std::string& file, const std::string& lookup = "email",
                       const std::string& format = "csv") {
  Request r;
  r.method = "POST";
  r.host = kHost;
  r.path = "/bulk/v1/leads.json";
  r.headers.set("Content-Type", "multipart/form-data; boundary=BOUND");
  if (!token.empty()) r.headers.set("Authorization", "Bearer " + token);
  r.body = multipart("BOUND", {{"format", format}, {"lookupField", lookup}}, file);
  return r;
}

Request get(const std::string& token, const std::string& path) {
  Request r;
  r.method = "GET";
  r.host = kHost;
  r.path = path;
  r.headers.set("Authorization", "Bearer " + token);
  return r;
}

nlohmann::json body(const Response& r) { return nlohmann::json::parse(r.body); }

std::string error_code(const Response& r) {
  auto b = body(r);
  EXPECT_EQ(b["success"], false) << r.body;
  return b["errors"][0]["code"];
}

std::int64_t batch_of(const Response& r) {
  auto b = body(r);
  EXPECT_EQ(b["success"], true) << r.body;
  return b["result"][0]["batchId"];
}

nlohmann::json status_of(MarketoApi& api, const std::string& token, std::int64_t batch, Time now) {
  Response r = api.handle(get(token, "/bulk/v1/leads/batch/" + std::to_string(batch) + ".json"), now);
  return body(r)["result"][0];
}

TEST(MarketoApi, TokenIsCachedUntilExpiryAndWrongCredentialsAre401) {
  MarketoApiOptions o = opts();
  o.token_ttl = std::chrono::seconds(100);
  MarketoApi api(o);
  Response first = api.handle(token_request(), at(0s));
  ASSERT_EQ(first.status, 200);
  auto a = body(first);
  EXPECT_EQ(a["token_type"], "bearer");
  EXPECT_EQ(a["expires_in"], 100);
  auto b = body(api.handle(token_request(), at(30s)));
  EXPECT_EQ(b["access_token"], a["access_token"]);  // same token, with the time it has left
  EXPECT_EQ(b["expires_in"], 70);
  auto c = body(api.handle(token_request(), at(100s)));
  EXPECT_NE(c["access_token"], a["access_token"]);
  EXPECT_EQ(api.handle(token_request("cid", "wrong"), at(0s)).status, 401);
  EXPECT_EQ(api.handle(token_request("other", "csec"), at(0s)).status, 401);
  EXPECT_EQ(api.accepted()["counts"]["tokens_issued"], 2);
}

TEST(MarketoApi, BulkCallsNeedABearerTokenThatHasNotExpired) {
  MarketoApiOptions o = opts();
  o.token_ttl = std::chrono::seconds(60);
  MarketoApi api(o);
  const std::string file = "email\na@x.io\n";
  // No header: 600, even with the access_token query parameter (stricter than Marketo).
  Request no_auth = upload_request("", file);
  EXPECT_EQ(error_code(api.handle(no_auth, at(0s))), "600");
  no_auth.path += "?access_token=whatever";
  EXPECT_EQ(error_code(api.handle(no_auth, at(0s))), "600");
  EXPECT_EQ(error_code(api.handle(upload_request("made-up", file), at(0s))), "601");
  std::string tok = get_token(api, at(0s));
  EXPECT_EQ(body(api.handle(upload_request(tok, file), at(1s)))["success"], true);
  EXPECT_EQ(error_code(api.handle(upload_request(tok, file), at(60s))), "602");
  // The access_token form field is refused too.
  std::string fresh = get_token(api, at(61s));
  Request form = upload_request(fresh, file);
  form.body = multipart("BOUND", {{"format", "csv"}, {"access_token", fresh}}, file);
  EXPECT_EQ(error_code(api.handle(form, at(61s))), "613");
}

TEST(MarketoApi, MultipartAndCsvAreValidatedStrictly) {
  MarketoApi api(opts());
  std::string tok = get_token(api, at(0s));
  auto code_for = [&](Request r) { return error_code(api.handle(r, at(1s))); };
  Request wrong_type = upload_request(tok, "email\na@x.io\n");
  wrong_type.headers.set("Content-Type", "application/json");
  EXPECT_EQ(code_for(wrong_type), "612");
  Request no_boundary = upload_request(tok, "email\na@x.io\n");
  no_boundary.headers.set("Content-Type", "multipart/form-data");
  EXPECT_EQ(code_for(no_boundary), "613");
  Request bad_framing = upload_request(tok, "email\na@x.io\n");
  bad_framing.body = "--OTHER\r\n" + bad_framing.body;
  EXPECT_EQ(code_for(bad_framing), "613");
  Request unclosed = upload_request(tok, "email\na@x.io\n");
  unclosed.body.resize(unclosed.body.size() - 12);
  EXPECT_EQ(code_for(unclosed), "613");
  EXPECT_EQ(code_for(upload_request(tok, "email\na@x.io\n", "email", "tsv")), "1003");
  EXPECT_EQ(code_for(upload_request(tok, "email,shoeSize\na@x.io,9\n")), "1006");   // unknown field
  EXPECT_EQ(code_for(upload_request(tok, "email,email\na@x.io,b@x.io\n")), "1003"); // duplicate column
  EXPECT_EQ(code_for(upload_request(tok, "firstName\nAda\n")), "1003");             // no lookup column
  EXPECT_EQ(code_for(upload_request(tok, "email,firstName\na@x.io\n")), "1003");    // column count
  EXPECT_EQ(code_for(upload_request(tok, "email,firstName\na@x.io,\"Ada\n")), "1003");  // open quote
  EXPECT_EQ(code_for(upload_request(tok, "email,firstName\na@x.io,A\"da\n")), "1003");  // stray quote
  EXPECT_EQ(code_for(upload_request(tok, "email\n")), "1003");                          // no rows
  Response msg = api.handle(upload_request(tok, "email,firstName\na@x.io\n"), at(1s));
  EXPECT_NE(body(msg)["errors"][0]["message"].get<std::string>().find("line 2 has 1 columns"), std::string::npos);
  // Quoted fields with commas, quotes and line breaks are fine.
  Response ok = api.handle(upload_request(tok, "email,title\r\na@x.io,\"CEO, \"\"Chief\"\"\nline 2\"\r\n"), at(1s));
  EXPECT_EQ(body(ok)["success"], true) << ok.body;
  EXPECT_EQ(api.accepted()["counts"]["imports"], 1);
}

TEST(MarketoApi, FileOverTheLimitIs413) {
  MarketoApiOptions o = opts();
  o.file_bytes_max = 100;
  MarketoApi api(o);
  std::string tok = get_token(api, at(0s));
  std::string file = "email,comments\na@x.io," + std::string(100, 'c') + "\n";
  EXPECT_EQ(api.handle(upload_request(tok, file), at(1s)).status, 413);
  EXPECT_EQ(api.accepted()["counts"]["imports"], 0);
}

TEST(MarketoApi, QueueHoldsTenImportsAndRunsTwoAtATime) {
  MarketoApiOptions o = opts();
  o.importing_for = std::chrono::seconds(30);
  o.rate_limit_calls = 0;
  MarketoApi api(o);
  std::string tok = get_token(api, at(0s));
  std::vector<std::int64_t> batches;
  for (int i = 0; i < 10; ++i)
    batches.push_back(batch_of(api.handle(upload_request(tok, "email\nu" + std::to_string(i) + "@x.io\n"), at(1s))));
  EXPECT_EQ(error_code(api.handle(upload_request(tok, "email\nz@x.io\n"), at(1s))), "1016");
  EXPECT_EQ(status_of(api, tok, batches[0], at(2s))["status"], "Importing");
  EXPECT_EQ(status_of(api, tok, batches[1], at(2s))["status"], "Importing");
  EXPECT_EQ(status_of(api, tok, batches[2], at(2s))["status"], "Queued");
  // At 31s the first two complete and the next two start; at 61s those complete.
  EXPECT_EQ(status_of(api, tok, batches[0], at(31s))["status"], "Complete");
  EXPECT_EQ(status_of(api, tok, batches[3], at(31s))["status"], "Importing");
  EXPECT_EQ(status_of(api, tok, batches[4], at(31s))["status"], "Queued");
  // Computed lazily: a jump far ahead completes everything in order.
  EXPECT_EQ(status_of(api, tok, batches[9], at(151s))["status"], "Complete");
  EXPECT_EQ(status_of(api, tok, batches[8], at(151s))["status"], "Complete");
  EXPECT_EQ(api.leads(), 10);
  // There is room again.
  EXPECT_EQ(body(api.handle(upload_request(tok, "email\nz@x.io\n"), at(152s)))["success"], true);
}

TEST(MarketoApi, FailedAndStalledImports) {
  MarketoApiOptions o = opts();
  o.fail_imports = {1};
  o.stall_imports = {2};
  MarketoApi api(o);
  std::string tok = get_token(api, at(0s));
  std::int64_t a = batch_of(api.handle(upload_request(tok, "email\na@x.io\n"), at(0s)));
  std::int64_t b = batch_of(api.handle(upload_request(tok, "email\nb@x.io\n"), at(0s)));
  auto sa = status_of(api, tok, a, at(1h));
  EXPECT_EQ(sa["status"], "Failed");
  EXPECT_NE(sa["message"].get<std::string>().find("Import failed"), std::string::npos);
  EXPECT_EQ(status_of(api, tok, b, at(6h))["status"], "Importing");
  EXPECT_EQ(api.leads(), 0);  // a failed import applies nothing
  // Failures of an import that is not Complete are an error (stricter).
  EXPECT_EQ(error_code(api.handle(get(tok, "/bulk/v1/leads/batch/" + std::to_string(b) + "/failures.json"), at(6h))),
            "1019");
  EXPECT_EQ(error_code(api.handle(get(tok, "/bulk/v1/leads/batch/" + std::to_string(a) + "/failures.json"), at(6h))),
            "1003");
  EXPECT_EQ(error_code(api.handle(get(tok, "/bulk/v1/leads/batch/999999.json"), at(6h))), "1013");
}

TEST(MarketoApi, HostileStatusValuesRenameOnlyTheWire) {
  MarketoApiOptions o = opts();
  o.fail_imports = {1};
  auto renamed = MarketoApiOptions::from_json({{"status_values", {{"Failed", "Aborted"}, {"Complete", "Completed"}}}},
                                              "o");
  ASSERT_TRUE(renamed.ok()) << renamed.error().message;
  o.status_values = renamed->status_values;
  MarketoApi api(o);
  std::string tok = get_token(api, at(0s));
  std::int64_t a = batch_of(api.handle(upload_request(tok, "email\na@x.io\n"), at(0s)));
  std::int64_t b = batch_of(api.handle(upload_request(tok, "email\nb@x.io\n"), at(0s)));
  EXPECT_EQ(status_of(api, tok, a, at(1h))["status"], "Aborted");
  EXPECT_EQ(status_of(api, tok, b, at(1h))["status"], "Completed");
  // The fake's own state keeps the documented names.
  EXPECT_EQ(api.accepted()["counts"]["imports_by_status"]["Complete"], 1);
  auto bad = MarketoApiOptions::from_json({{"status_values", {{"Done", "x"}}}}, "x.json: /fake/options");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("x.json: /fake/options/status_values/Done: unknown key"), std::string::npos)
      << bad.error().message;
  auto empty = MarketoApiOptions::from_json({{"status_values", {{"Failed", ""}}}}, "o");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("non-empty status"), std::string::npos);
}

// The status answer is written straight, not through a DOM: it must be the
// bytes nlohmann's dump of the same document writes (members in key order,
// compact, the same escapes), every field in it; a status value that is not
// UTF-8 still becomes U+FFFD, as the DOM writes it.
TEST(MarketoApi, StatusAnswerIsTheCanonicalDumpOfItsDocument) {
  for (const std::string& wire : {std::string("Completed \"\u00e9\\\n\x01"), std::string("Bad\xff")}) {
    MarketoApiOptions o = opts();
    o.stall_imports = {2};
    auto renamed = MarketoApiOptions::from_json({{"status_values", {{"Complete", "x"}}}}, "o");
    ASSERT_TRUE(renamed.ok()) << renamed.error().message;
    o.status_values = renamed->status_values;
    for (auto& [name, value] : o.status_values)
      if (value == "x") value = wire;
    MarketoApi api(o);
    std::string tok = get_token(api, at(0s));
    std::int64_t a = batch_of(api.handle(upload_request(tok, "email\na@x.io\nbad\n"), at(0s)));
    std::int64_t b = batch_of(api.handle(upload_request(tok, "email\nb@x.io\n"), at(0s)));
    for (std::int64_t batch : {a, b}) {
      Response r = api.handle(get(tok, "/bulk/v1/leads/batch/" + std::to_string(batch) + ".json"), at(1h));
      ASSERT_EQ(r.status, 200);
      EXPECT_EQ(r.headers.get("Content-Type").value_or(""), "application/json");
      const nlohmann::json doc = nlohmann::json::parse(r.body);
      EXPECT_EQ(r.body, doc.dump()) << r.body;
      EXPECT_EQ(doc["success"], true);
      EXPECT_EQ(doc["requestId"].get<std::string>().rfind("fake#", 0), 0u);
      const nlohmann::json& res = doc["result"][0];
      EXPECT_EQ(doc["result"].size(), 1u);
      EXPECT_EQ(res.size(), 7u) << res.dump();
      EXPECT_EQ(res["batchId"], batch);
      EXPECT_EQ(res["importId"], std::to_string(batch));
      for (const char* k : {"numOfLeadsProcessed", "numOfRowsFailed", "numOfRowsWithWarning"})
        EXPECT_TRUE(res[k].is_number_integer()) << k;
      EXPECT_TRUE(res["message"].is_string());
      if (batch == a) {
        EXPECT_EQ(res["status"], wire == "Bad\xff" ? std::string("Bad\xef\xbf\xbd") : wire);
        EXPECT_EQ(res["numOfLeadsProcessed"], 1);  // the applied row; the bad one is counted failed
        EXPECT_EQ(res["numOfRowsFailed"], 1);
      } else {
        EXPECT_EQ(res["status"], "Importing");
      }
    }
  }
}

TEST(MarketoApi, FailuresAndWarningsFilesEchoRowsExactly) {
  MarketoApiOptions o = opts();
  o.field_max_length = 5;
  MarketoApi api(o);
  std::string tok = get_token(api, at(0s));
  const std::string file =
      "email,firstName,leadScore\n"
      "a@x.io,Ada,1\n"
      "bad-email,\"Q,\"\"x\"\"\",2\n"
      ",Nobody,3\n"
      "b@x.io,Barbara,4\n"
      "c@x.io,Cy,many\n";
  std::int64_t id = batch_of(api.handle(upload_request(tok, file), at(0s)));
  auto st = status_of(api, tok, id, at(31s));
  EXPECT_EQ(st["status"], "Complete");
  EXPECT_EQ(st["numOfLeadsProcessed"], 2);
  EXPECT_EQ(st["numOfRowsFailed"], 3);
  EXPECT_EQ(st["numOfRowsWithWarning"], 1);
  EXPECT_EQ(st["message"], "Import completed with errors, 2 records imported (2 members), 3 failed");
  const std::string base = "/bulk/v1/leads/batch/" + std::to_string(id);
  Response f = api.handle(get(tok, base + "/failures.json"), at(32s));
  EXPECT_EQ(f.headers.get("Content-Type").value(), "text/csv;charset=UTF-8");
  EXPECT_EQ(f.body,
            "email,firstName,leadScore,Import Failure Reason\n"
            "bad-email,\"Q,\"\"x\"\"\",2,1001 Invalid value 'bad-email'. Required of type 'email'\n"
            ",Nobody,3,1002 Missing value for required field 'email'\n"
            "c@x.io,Cy,many,1001 Invalid value 'many'. Required of type 'integer'\n");
  Response w = api.handle(get(tok, base + "/warnings.json"), at(32s));
  EXPECT_EQ(w.body,
            "email,firstName,leadScore,Import Warning Reason\n"
            "b@x.io,Barbara,4,Value for field 'firstName' truncated to 5 characters\n");
  EXPECT_EQ(api.lead("email", "b@x.io")["firstName"], "Barba");
  // The oracle counts rows as sent (before truncation); failed rows never.
  EXPECT_EQ(api.applied(oracle_key("marketo.lead", {{"email", "b@x.io"}, {"firstName", "Barbara"}, {"leadScore", "4"}})), 1);
  EXPECT_EQ(api.applied(oracle_key("marketo.lead", {{"email", "c@x.io"}, {"firstName", "Cy"}, {"leadScore", "many"}})), 0);
}

TEST(MarketoApi, UpsertsByLookupFieldAndCountsApplications) {
  MarketoApi api(opts());
  std::string tok = get_token(api, at(0s));
  batch_of(api.handle(upload_request(tok, "email,firstName,company\na@x.io,Ada,Acme\na@x.io,Ada,Acme\n"), at(0s)));
  batch_of(api.handle(upload_request(tok, "email,firstName,company\na@x.io,Adele,\n"), at(0s)));
  api.handle(token_request(), at(1h));  // advances time
  EXPECT_EQ(api.leads(), 1);
  auto lead = api.lead("email", "a@x.io");
  EXPECT_EQ(lead["firstName"], "Adele");  // the later row wins
  EXPECT_EQ(lead["company"], "Acme");     // an empty cell does not blank a field
  EXPECT_EQ(api.applied(oracle_key("marketo.lead", {{"email", "a@x.io"}, {"firstName", "Ada"}, {"company", "Acme"}})), 2);
  // lookupField id updates only: an unknown id fails the row with 1004.
  const std::string id = lead["id"];
  std::int64_t b = batch_of(api.handle(upload_request(tok, "id,title\n" + id + ",CTO\n999,CEO\n", "id"), at(1h)));
  auto st = status_of(api, tok, b, at(2h));
  EXPECT_EQ(st["numOfLeadsProcessed"], 1);
  EXPECT_EQ(st["numOfRowsFailed"], 1);
  EXPECT_EQ(api.lead("email", "a@x.io")["title"], "CTO");
  auto acc = api.accepted();
  EXPECT_EQ(acc["counts"]["leads"], 1);
  EXPECT_EQ(acc["imports"].size(), 3u);
  EXPECT_EQ(acc["counts"]["imports_by_status"]["Complete"], 3);
  api.reset();
  EXPECT_EQ(api.leads(), 0);
  EXPECT_EQ(api.accepted()["counts"]["imports"], 0);
}

TEST(MarketoApi, RateLimitAndDailyQuota) {
  MarketoApiOptions o = opts();
  o.rate_limit_calls = 3;
  o.rate_limit_window = std::chrono::seconds(20);
  o.daily_quota = 5;
  MarketoApi api(o);
  std::string tok = get_token(api, at(0s));
  std::int64_t b = batch_of(api.handle(upload_request(tok, "email\na@x.io\n"), at(0s)));
  const std::string path = "/bulk/v1/leads/batch/" + std::to_string(b) + ".json";
  EXPECT_EQ(body(api.handle(get(tok, path), at(1s)))["success"], true);
  EXPECT_EQ(body(api.handle(get(tok, path), at(2s)))["success"], true);
  EXPECT_EQ(error_code(api.handle(get(tok, path), at(3s))), "606");
  EXPECT_EQ(body(api.handle(get(tok, path), at(20s)))["success"], true);  // the first call left the window
  EXPECT_EQ(body(api.handle(get(tok, path), at(41s)))["success"], true);  // 5th call of the day
  EXPECT_EQ(error_code(api.handle(get(tok, path), at(62s))), "607");
  // The quota resets at 00:00 CST = loop time 6h.
  EXPECT_EQ(body(api.handle(get(tok, path), at(6h)))["success"], true);
}

TEST(MarketoApiOptions, ErrorsNameTheKey) {
  auto bad_key = MarketoApiOptions::from_json({{"importing_fro", "30s"}}, "x.json: /fake/options");
  ASSERT_FALSE(bad_key.ok());
  EXPECT_NE(bad_key.error().message.find("x.json: /fake/options/importing_fro"), std::string::npos)
      << bad_key.error().message;
  auto bad_duration = MarketoApiOptions::from_json({{"token_ttl", 5}}, "x.json: /fake/options");
  ASSERT_FALSE(bad_duration.ok());
  EXPECT_NE(bad_duration.error().message.find("/fake/options/token_ttl"), std::string::npos);
  auto bad_list = MarketoApiOptions::from_json({{"fail_imports", {1, "two"}}}, "o");
  ASSERT_FALSE(bad_list.ok());
  EXPECT_NE(bad_list.error().message.find("/fail_imports/1"), std::string::npos) << bad_list.error().message;
  auto ok = MarketoApiOptions::from_json(
      {{"client_secret", {{"secret", "s"}}}, {"importing_for", "6h"}, {"fail_ratio", "1/3"}, {"file_bytes_max", "1MB"}},
      "o");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->client_secret, "s");
  EXPECT_EQ(ok->importing_for, std::chrono::hours(6));
  EXPECT_EQ(ok->file_bytes_max, 1'000'000);
}

}  // namespace
}  // namespace destsim
