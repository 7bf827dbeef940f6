#include "fakes/yandex_metrica/yandex_metrica_api.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>

#include "fakes/catalog.h"
#include "framework/oracle.h"

namespace destsim {
namespace {

using namespace std::chrono_literals;

constexpr const char* kHost = "api-metrika.yandex.net";
constexpr std::int64_t kEpochS = 1'704'067'200;  // loop time zero: 2024-01-01T00:00:00Z
constexpr const char* kUploadPath = "/management/v1/counter/12345/offline_conversions/upload";

Time at(Duration d) { return kTimeZero + d; }

// Unix seconds `d` before loop time zero, as a DateTime cell.
std::string ago(Duration d) { return std::to_string(kEpochS - std::chrono::duration_cast<std::chrono::seconds>(d).count()); }

struct Part {
  std::string name, filename, content;
};

std::string multipart(const std::string& boundary, const std::vector<Part>& parts) {
  std::string b;
  for (const auto& p : parts) {
    b += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + p.name + "\"";
    if (!p.filename.empty()) b += "; filename=\"" + p.filename + "\"";
    b += "\r\nContent-Type: text/csv\r\n\r\n" + p.content + "\r\n";
  }
  return b + "--" + boundary + "--\r\n";
}

Request upload(const std::string& csv, const std::string& query = "?client_id_type=CLIENT_ID",
               const std::string& path = kUploadPath, const std::string& token = "tok") {
  Request r;
  r.method = "POST";
  r.host = kHost;
  r.path = path + query;
  if (!token.empty()) r.headers.set("Authorization", "OAuth " + token);
  r.headers.set("Content-Type", "multipart/form-data; boundary=XyZ");
  r.body = multipart("XyZ", {{"file", "data.csv", csv}});
  return r;
}

Request get(const std::string& path, const std::string& token = "tok") {
  Request r;
  r.method = "GET";
  r.host = kHost;
  r.path = path;
  if (!token.empty()) r.headers.set("Authorization", "OAuth " + token);
  return r;
}

Request status(std::int64_t id, const std::string& counter = "12345") {
  return get("/management/v1/counter/" + counter + "/offline_conversions/uploading/" + std::to_string(id));
}

// Quotas off, so a test meets only the rules it is about.
YandexMetricaApiOptions opts() {
  YandexMetricaApiOptions o;
  o.api_key = "tok";
  o.requests_per_second = 0;
  o.parallel_max = 0;
  o.requests_per_day = 0;
  return o;
}

nlohmann::json parse(const Response& r) { return nlohmann::json::parse(r.body); }

std::string conversion_key(const std::string& type, const std::vector<std::string>& cells) {
  return oracle_key("yandex_metrica.conversion", nlohmann::json{{"client_id_type", type}, {"cells", cells}});
}

// The uploading of a successful upload.
nlohmann::json uploaded(YandexMetricaApi& api, const Request& r, Time now = kTimeZero) {
  Response resp = api.handle(r, now);
  EXPECT_EQ(resp.status, 200) << resp.body;
  return resp.status == 200 ? parse(resp)["uploading"] : nlohmann::json();
}

void expect_error(const Response& r, int status, const std::string& type, const std::string& message_part) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_EQ(r.headers.get("Content-Type"), "application/json");
  const nlohmann::json b = parse(r);
  ASSERT_TRUE(b.contains("errors")) << r.body;
  ASSERT_EQ(b["errors"].size(), 1u) << r.body;
  EXPECT_EQ(b["errors"][0]["error_type"], type) << r.body;
  EXPECT_EQ(b["code"], status) << r.body;
  EXPECT_EQ(b["message"], b["errors"][0]["message"]) << r.body;
  EXPECT_NE(b["message"].get<std::string>().find(message_part), std::string::npos)
      << "expected \"" << message_part << "\" in " << r.body;
}

// ------------------------------------------------------------------ auth, routes

TEST(YandexMetricaAuth, EveryRequestNeedsTheOAuthToken) {
  YandexMetricaApi api(opts());
  const std::string csv = "ClientId,Target,DateTime\n1,goal," + ago(1h) + "\n";
  const std::string want =
      R"({"code":403,"errors":[{"error_type":"invalid_token","message":"Invalid oauth_token"}],"message":"Invalid oauth_token"})";
  for (const char* value : {"", "OAuth ", "OAuth wrong", "Bearer tok", "oauth tok", "OAuth tok extra", "tok"}) {
    Request r = upload(csv);
    if (*value) r.headers.set("Authorization", value);
    else r.headers.remove("Authorization");
    Response resp = api.handle(r, kTimeZero);
    EXPECT_EQ(resp.status, 403) << value;
    EXPECT_EQ(parse(resp), nlohmann::json::parse(want)) << value;
  }
  // Reading needs it too, even for a path that does not exist.
  EXPECT_EQ(api.handle(get("/management/v1/counter/12345/offline_conversions/uploadings", ""), kTimeZero).status, 403);
  EXPECT_EQ(api.handle(get("/nowhere", "wrong"), kTimeZero).status, 403);
  EXPECT_EQ(api.uploadings(), 0);
  EXPECT_EQ(api.accepted()["auth_refusals"], 9);
  EXPECT_EQ(api.accepted()["rejected"], 0);
  EXPECT_EQ(uploaded(api, upload(csv))["id"], 700000001);

  // No api_key: any non-empty token.
  YandexMetricaApiOptions any = opts();
  any.api_key = "";
  YandexMetricaApi open(any);
  EXPECT_EQ(open.handle(upload(csv, "?client_id_type=CLIENT_ID", kUploadPath, "whatever"), kTimeZero).status, 200);
  EXPECT_EQ(open.handle(upload(csv, "?client_id_type=CLIENT_ID", kUploadPath, ""), kTimeZero).status, 403);
}

TEST(YandexMetricaAuth, SetApiKeyRotatesTheToken) {
  YandexMetricaApi api(opts());
  const std::string csv = "ClientId,Target,DateTime\n1,goal," + ago(1h) + "\n";
  ASSERT_TRUE(api.control(JsonIn(nlohmann::json{{"set_api_key", "tok2"}}, "op"), kTimeZero).ok());
  EXPECT_EQ(api.handle(upload(csv), kTimeZero).status, 403);
  EXPECT_EQ(api.handle(upload(csv, "?client_id_type=CLIENT_ID", kUploadPath, "tok2"), kTimeZero).status, 200);
  // A seeding request goes through the same checks.
  nlohmann::json seed = {{"request",
                          {{"method", "GET"},
                           {"path", "/management/v1/counter/12345/offline_conversions/uploadings"},
                           {"headers", {{"Authorization", "OAuth tok2"}}}}}};
  EXPECT_TRUE(api.control(JsonIn(seed, "op"), kTimeZero).ok());
  seed["request"]["headers"]["Authorization"] = "OAuth tok";
  EXPECT_FALSE(api.control(JsonIn(seed, "op"), kTimeZero).ok());
  EXPECT_FALSE(api.control(JsonIn(nlohmann::json{{"set_api_key", 7}}, "op"), kTimeZero).ok());
  EXPECT_EQ(api.control_ops(), "set_api_key, request");
}

TEST(YandexMetricaRoutes, UnknownOrNonNumericCounterIs404) {
  YandexMetricaApiOptions o = opts();
  o.counter_ids = {12345};
  YandexMetricaApi api(o);
  const std::string csv = "ClientId,Target,DateTime\n1,goal," + ago(1h) + "\n";
  for (const char* counter : {"54321", "abc", "0", "012345", "-12345", ""}) {
    const std::string path = std::string("/management/v1/counter/") + counter + "/offline_conversions/upload";
    expect_error(api.handle(upload(csv, "?client_id_type=CLIENT_ID", path), kTimeZero), 404, "not_found",
                 std::string("Counter ") + counter + " not found");
    expect_error(api.handle(get(std::string("/management/v1/counter/") + counter +
                                "/offline_conversions/uploadings"),
                            kTimeZero),
                 404, "not_found", "Counter");
  }
  EXPECT_EQ(api.uploadings(), 0);
  EXPECT_EQ(api.handle(upload(csv), kTimeZero).status, 200);
  // No counter_ids: any positive integer.
  YandexMetricaApi any(opts());
  EXPECT_EQ(any.handle(upload(csv, "?client_id_type=CLIENT_ID",
                              "/management/v1/counter/987654321/offline_conversions/upload"),
                       kTimeZero)
                .status,
            200);
  EXPECT_EQ(any.handle(upload(csv, "?client_id_type=CLIENT_ID", "/management/v1/counter/0/offline_conversions/upload"),
                       kTimeZero)
                .status,
            404);
}

TEST(YandexMetricaRoutes, OtherPathsAre404AndOtherMethods405) {
  YandexMetricaApi api(opts());
  for (const char* path : {"/management/v1/counter/12345/offline_conversions/upload/",
                           "/management/v1/counter/12345/offline_conversions/uploading/",
                           "/management/v1/counter/12345/offline_conversions/uploading/1/x",
                           "/management/v1/counter/12345/offline_conversions", "/management/v1/counters",
                           "/management/v1/counter/12345/conversions/upload", "/"})
    expect_error(api.handle(get(path), kTimeZero), 404, "not_found", "No resource at");
  expect_error(api.handle(get(kUploadPath), kTimeZero), 405, "method_not_allowed", "expects POST");
  Request post = get("/management/v1/counter/12345/offline_conversions/uploadings");
  post.method = "POST";
  expect_error(api.handle(post, kTimeZero), 405, "method_not_allowed", "expects GET");
  EXPECT_EQ(api.accepted()["rejected"], 9);
}

// ------------------------------------------------------------- whole-request 400s

struct BadUpload {
  const char* label;
  std::function<Request()> request;
  const char* message;  // a part of the answer's message
};
void PrintTo(const BadUpload& b, std::ostream* os) { *os << b.label; }

std::string good_rows() { return "1," + std::string("goal,") + ago(1h) + "\n"; }

Request with_body(const std::string& body, const std::string& content_type = "multipart/form-data; boundary=XyZ") {
  Request r = upload("");
  r.body = body;
  r.headers.set("Content-Type", content_type);
  return r;
}

const BadUpload kBadUploads[] = {
    {"no_client_id_type", [] { return upload("ClientId,Target,DateTime\n" + good_rows(), ""); },
     "client_id_type is required"},
    {"unknown_client_id_type",
     [] { return upload("ClientId,Target,DateTime\n" + good_rows(), "?client_id_type=client_id"); },
     "Unknown client_id_type \"client_id\""},
    {"not_multipart",
     [] { return with_body("ClientId,Target,DateTime\n" + good_rows(), "text/csv"); }, "multipart/form-data"},
    {"no_boundary",
     [] { return with_body(multipart("XyZ", {{"file", "f.csv", "ClientId,Target,DateTime\n" + good_rows()}}),
                           "multipart/form-data"); },
     "no valid boundary"},
    {"multipart_not_closed",
     [] { return with_body("--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nClientId,Target,DateTime\n"); },
     "Malformed multipart request: invalid multipart body: part \"file\" is not closed"},
    {"multipart_lf_framing",
     [] { return with_body("--XyZ\nContent-Disposition: form-data; name=\"file\"\n\nx\n--XyZ--\n"); },
     "Malformed multipart request"},
    {"no_file_part",
     [] { return with_body(multipart("XyZ", {{"data", "f.csv", "ClientId,Target,DateTime\n" + good_rows()}})); },
     "no \"file\" part"},
    {"two_file_parts",
     [] {
       const std::string csv = "ClientId,Target,DateTime\n" + good_rows();
       return with_body(multipart("XyZ", {{"file", "a.csv", csv}, {"file", "b.csv", csv}}));
     },
     "More than one \"file\" part"},
    {"another_form_field",
     [] {
       return with_body(multipart("XyZ", {{"file", "a.csv", "ClientId,Target,DateTime\n" + good_rows()},
                                          {"comment", "", "x"}}));
     },
     "Unexpected form field \"comment\""},
    {"empty_file", [] { return upload(""); }, "The file is empty"},
    {"not_utf8", [] { return upload("ClientId,Target,DateTime\n1,g\xff," + ago(1h) + "\n"); }, "not valid UTF-8"},
    {"header_case", [] { return upload("ClientID,Target,DateTime\n" + good_rows()); }, "line 1: the header must be"},
    {"header_of_another_type",
     [] { return upload("UserId,Target,DateTime\n" + good_rows()); },
     "line 1: the header must be ClientId,Target,DateTime or ClientId,Target,DateTime,Price,Currency"},
    {"header_four_columns", [] { return upload("ClientId,Target,DateTime,Price\n1,g," + ago(1h) + ",1\n"); },
     "line 1: the header"},
    {"header_reordered", [] { return upload("Target,ClientId,DateTime\n" + good_rows()); }, "line 1: the header"},
    {"header_with_bom", [] { return upload("\xEF\xBB\xBF" "ClientId,Target,DateTime\n" + good_rows()); },
     "line 1: the header"},
    {"header_only", [] { return upload("ClientId,Target,DateTime\n"); }, "no data rows"},
    {"header_only_no_newline", [] { return upload("ClientId,Target,DateTime"); }, "no data rows"},
    {"short_row",
     [] { return upload("ClientId,Target,DateTime\n" + good_rows() + "2,goal\n" + good_rows()); },
     "line 3: 2 cells, the header has 3"},
    {"long_row",
     [] { return upload("ClientId,Target,DateTime,Price,Currency\n1,g," + ago(1h) + ",1,RUB,x\n"); },
     "line 2: 6 cells, the header has 5"},
    {"empty_line_inside", [] { return upload("ClientId,Target,DateTime\n\n" + good_rows()); },
     "line 2: 1 cell, the header has 3"},
    {"two_trailing_newlines", [] { return upload("ClientId,Target,DateTime\n" + good_rows() + "\n"); },
     "line 3: 1 cell"},
    {"crlf_blank_line", [] { return upload("ClientId,Target,DateTime\r\n1,g," + ago(1h) + "\r\n\r\n"); },
     "line 3: 1 cell"},
    {"text_after_quote", [] { return upload("ClientId,Target,DateTime\n" + good_rows() + "1,\"g\"x," + ago(1h)); },
     "line 3: text after a closing quote"},
    {"quote_in_unquoted_cell", [] { return upload("ClientId,Target,DateTime\n1,g\"x," + ago(1h) + "\n"); },
     "line 2: a quote inside an unquoted cell"},
    {"unterminated_quote", [] { return upload("ClientId,Target,DateTime\n" + good_rows() + "1,\"goal," + ago(1h)); },
     "line 3: unterminated quoted cell"},
    {"bare_cr", [] { return upload("ClientId,Target,DateTime\r" + good_rows()); }, "line 1: a bare CR"},
    // A quoted newline spans two physical lines: the next row starts on line 4.
    {"line_after_quoted_newline",
     [] {
       return upload("UserId,Target,DateTime\n\"a\nb\",goal," + ago(1h) + "\nc,goal\n", "?client_id_type=USER_ID");
     },
     "line 4: 2 cells"},
};

class YandexMetricaBadUpload : public ::testing::TestWithParam<BadUpload> {};

TEST_P(YandexMetricaBadUpload, IsA400InvalidParameterAndStoresNothing) {
  YandexMetricaApi api(opts());
  const BadUpload& c = GetParam();
  expect_error(api.handle(c.request(), kTimeZero), 400, "invalid_parameter", c.message);
  EXPECT_EQ(api.uploadings(), 0);
  EXPECT_EQ(api.accepted()["rejected"], 1);
  // The fake is left as it was: the next upload is the first.
  EXPECT_EQ(uploaded(api, upload("ClientId,Target,DateTime\n" + good_rows()))["id"], 700000001);
}

INSTANTIATE_TEST_SUITE_P(YandexMetrica, YandexMetricaBadUpload, ::testing::ValuesIn(kBadUploads),
                         [](const auto& info) { return std::string(info.param.label); });

TEST(YandexMetricaUpload, ABodyOverFileBytesMaxIs413) {
  YandexMetricaApiOptions o = opts();
  o.file_bytes_max = 200;
  YandexMetricaApi api(o);
  std::string csv = "ClientId,Target,DateTime\n";
  while (upload(csv + good_rows()).body.size() <= 200) csv += good_rows();
  const Request fits = upload(csv);
  ASSERT_LE(fits.body.size(), 200u);
  EXPECT_EQ(api.handle(fits, kTimeZero).status, 200);
  const Request over = upload(csv + good_rows());
  ASSERT_GT(over.body.size(), 200u);
  expect_error(api.handle(over, kTimeZero), 413, "invalid_parameter", "over the limit of 200 bytes");
  EXPECT_EQ(api.uploadings(), 1);
  // The default is the documented 1 GB.
  EXPECT_EQ(YandexMetricaApiOptions{}.file_bytes_max, 1'000'000'000);
}

TEST(YandexMetricaUpload, AnswersTheUploadingWithCountsAndAcceptsLineEndsAndQuoting) {
  YandexMetricaApi api(opts());
  // CRLF line ends, a trailing line end, quoted cells (a quoted header too).
  const std::string csv = "\"ClientId\",Target,DateTime,Price,Currency\r\n"
                          "1,goal," + ago(1h) + ",10.50,RUB\r\n"
                          "\"2\",\"goal\"," + ago(2h) + ",,\r\n"
                          "x3,goal," + ago(3h) + ",1,USD\r\n";
  Response r = api.handle(upload(csv, "?client_id_type=CLIENT_ID&comment=first%20batch"), at(5s));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(parse(r), nlohmann::json::parse(R"({"uploading": {"id": 700000001, "create_time": "2024-01-01T00:00:05Z",
      "client_id_type": "CLIENT_ID", "status": "UPLOADED", "comment": "first batch", "source_quantity": 3,
      "line_quantity": 2, "linked_quantity": 0}})"));
  auto second = uploaded(api, upload("Yclid,Target,DateTime\n7,g," + ago(1h), "?client_id_type=YCLID"), at(6s));
  EXPECT_EQ(second["id"], 700000002);
  EXPECT_EQ(second["comment"], "");
  EXPECT_EQ(second["client_id_type"], "YCLID");
}

// -------------------------------------------------------------- per-row rules

struct RowRule {
  const char* label;
  const char* type;  // client_id_type
  bool five;         // the header has Price and Currency
  std::vector<std::string> bad, good;
};
void PrintTo(const RowRule& r, std::ostream* os) { *os << r.label; }

std::string csv_row(const std::vector<std::string>& cells) {
  std::string out;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i) out += ",";
    const std::string& c = cells[i];
    if (c.find_first_of(",\"\r\n") == std::string::npos) {
      out += c;
      continue;
    }
    out += "\"";
    for (char ch : c) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    out += "\"";
  }
  return out + "\n";
}

const std::string kNow = std::to_string(kEpochS);  // the API's unix seconds at loop time zero

const RowRule kRowRules[] = {
    {"client_id_not_digits", "CLIENT_ID", false, {"12a", "g", kNow}, {"123", "g", kNow}},
    {"client_id_21_digits", "CLIENT_ID", false, {std::string(21, '1'), "g", kNow}, {std::string(20, '9'), "g", kNow}},
    {"client_id_empty", "CLIENT_ID", false, {"", "g", kNow}, {"1", "g", kNow}},
    {"client_id_signed", "CLIENT_ID", false, {"+1", "g", kNow}, {"01", "g", kNow}},
    {"yclid_not_digits", "YCLID", false, {"y1", "g", kNow}, {"9", "g", kNow}},
    {"yclid_21_digits", "YCLID", false, {std::string(21, '2'), "g", kNow}, {std::string(20, '2'), "g", kNow}},
    {"user_id_control_byte", "USER_ID", false, {"u\x01", "g", kNow}, {"user 1, \"é\"", "g", kNow}},
    {"user_id_del", "USER_ID", false, {"u\x7f", "g", kNow}, {"u~", "g", kNow}},
    {"user_id_quoted_newline", "USER_ID", false, {"a\nb", "g", kNow}, {"a b", "g", kNow}},
    {"user_id_257_bytes", "USER_ID", false, {std::string(257, 'u'), "g", kNow}, {std::string(256, 'u'), "g", kNow}},
    {"user_id_empty", "USER_ID", false, {"", "g", kNow}, {"u", "g", kNow}},
    {"target_empty", "CLIENT_ID", false, {"1", "", kNow}, {"1", "t", kNow}},
    {"target_101_bytes", "CLIENT_ID", false, {"1", std::string(101, 't'), kNow}, {"1", std::string(100, 't'), kNow}},
    {"target_space", "CLIENT_ID", false, {"1", "goal 1", kNow}, {"1", "Goal_1.a-b", kNow}},
    {"target_non_ascii", "CLIENT_ID", false, {"1", "цель", kNow}, {"1", "goal", kNow}},
    {"date_time_zero", "CLIENT_ID", false, {"1", "g", "0"}, {"1", "g", "1"}},
    {"date_time_future", "CLIENT_ID", false, {"1", "g", std::to_string(kEpochS + 1)}, {"1", "g", kNow}},
    {"date_time_13_digits", "CLIENT_ID", false, {"1", "g", "0001704067200"}, {"1", "g", "001704067200"}},
    {"date_time_not_digits", "CLIENT_ID", false, {"1", "g", "2024-01-01"}, {"1", "g", "1704060000"}},
    {"date_time_negative", "CLIENT_ID", false, {"1", "g", "-5"}, {"1", "g", "5"}},
    {"date_time_empty", "CLIENT_ID", false, {"1", "g", ""}, {"1", "g", "1704000000"}},
    {"price_7_decimals", "CLIENT_ID", true, {"1", "g", kNow, "1.1234567", ""}, {"1", "g", kNow, "1.123456", ""}},
    {"price_16_digits", "CLIENT_ID", true, {"1", "g", kNow, std::string(16, '9'), ""},
     {"1", "g", kNow, std::string(15, '9'), ""}},
    {"price_trailing_dot", "CLIENT_ID", true, {"1", "g", kNow, "1.", ""}, {"1", "g", kNow, "1.0", ""}},
    {"price_leading_dot", "CLIENT_ID", true, {"1", "g", kNow, ".5", ""}, {"1", "g", kNow, "0.5", ""}},
    {"price_comma", "CLIENT_ID", true, {"1", "g", kNow, "1,5", ""}, {"1", "g", kNow, "15", ""}},
    {"price_negative", "CLIENT_ID", true, {"1", "g", kNow, "-1", ""}, {"1", "g", kNow, "", ""}},
    {"currency_lowercase", "CLIENT_ID", true, {"1", "g", kNow, "1", "rub"}, {"1", "g", kNow, "1", "RUB"}},
    {"currency_four_letters", "CLIENT_ID", true, {"1", "g", kNow, "1", "RUBL"}, {"1", "g", kNow, "1", "EUR"}},
    {"currency_without_price", "CLIENT_ID", true, {"1", "g", kNow, "", "RUB"}, {"1", "g", kNow, "", ""}},
};

class YandexMetricaRowRule : public ::testing::TestWithParam<RowRule> {};

TEST_P(YandexMetricaRowRule, AFailingRowLowersLineQuantityAndIsNeverApplied) {
  const RowRule& c = GetParam();
  YandexMetricaApi api(opts());
  const std::string type = c.type;
  const std::string id_col = type == "CLIENT_ID" ? "ClientId" : type == "USER_ID" ? "UserId" : "Yclid";
  const std::string csv = id_col + ",Target,DateTime" + (c.five ? ",Price,Currency" : "") + "\n" + csv_row(c.good) +
                          csv_row(c.bad);
  auto u = uploaded(api, upload(csv, "?client_id_type=" + type));
  EXPECT_EQ(u["source_quantity"], 2);
  EXPECT_EQ(u["line_quantity"], 1);
  api.catch_up(at(1h));
  auto cells = [&](std::vector<std::string> v) {
    v.resize(5);
    return v;
  };
  EXPECT_EQ(api.applied(conversion_key(type, cells(c.good))), 1);
  EXPECT_EQ(api.applied(conversion_key(type, cells(c.bad))), 0);
  EXPECT_EQ(api.conversions_applied(), 1);
  EXPECT_EQ(api.accepted()["uploadings"][0]["status"], "PROCESSED");
}

INSTANTIATE_TEST_SUITE_P(YandexMetrica, YandexMetricaRowRule, ::testing::ValuesIn(kRowRules),
                         [](const auto& info) { return std::string(info.param.label); });

TEST(YandexMetricaRowDateTime, IsComparedWithTheApisClockAtUpload) {
  YandexMetricaApi api(opts());
  // At loop time 10s the API's clock reads kEpochS + 10: that second passes, the next does not.
  const std::string csv = "ClientId,Target,DateTime\n1,g," + std::to_string(kEpochS + 10) + "\n2,g," +
                          std::to_string(kEpochS + 11) + "\n";
  EXPECT_EQ(uploaded(api, upload(csv), at(10s))["line_quantity"], 1);
  EXPECT_EQ(uploaded(api, upload(csv), at(11s))["line_quantity"], 2);
}

// ----------------------------------------------------------------- lifecycle

TEST(YandexMetricaLifecycle, UploadedThenProcessedAppliesRowsAndCountsLinked) {
  YandexMetricaApiOptions o = opts();
  o.unlinked_ids = {"3"};
  YandexMetricaApi api(o);
  // Processed at 30m: the link window reaches back 21 days from then.
  const std::int64_t processed_s = kEpochS + 30 * 60;
  const std::int64_t window_s = 21 * 86400;
  const std::string edge = std::to_string(processed_s - window_s);       // exactly 21 days: links
  const std::string older = std::to_string(processed_s - window_s - 1);  // one second more: does not
  const std::string csv = "ClientId,Target,DateTime,Price,Currency\n"
                          "1,goal," + ago(1h) + ",100,RUB\n"
                          "2,goal," + edge + ",,\n"
                          "3,goal," + ago(1h) + ",,\n"  // unlinked_ids
                          "4,goal," + older + ",,\n"
                          "5,bad goal," + ago(1h) + ",,\n";  // fails validation
  auto u = uploaded(api, upload(csv));
  EXPECT_EQ(u["status"], "UPLOADED");
  EXPECT_EQ(u["line_quantity"], 4);
  const std::int64_t id = u["id"];

  auto before = parse(api.handle(status(id), at(30min - 1ns)))["uploading"];
  EXPECT_EQ(before["status"], "UPLOADED");
  EXPECT_EQ(before["linked_quantity"], 0);
  EXPECT_EQ(api.conversions_applied(), 0);
  EXPECT_EQ(api.applied(conversion_key("CLIENT_ID", {"1", "goal", ago(1h), "100", "RUB"})), 0);

  auto after = parse(api.handle(status(id), at(30min)))["uploading"];
  EXPECT_EQ(after["status"], "PROCESSED");
  EXPECT_EQ(after["source_quantity"], 5);
  EXPECT_EQ(after["line_quantity"], 4);
  EXPECT_EQ(after["linked_quantity"], 2);  // rows 1 and 2
  EXPECT_EQ(api.conversions_applied(), 4);
  EXPECT_EQ(api.applied(conversion_key("CLIENT_ID", {"1", "goal", ago(1h), "100", "RUB"})), 1);
  EXPECT_EQ(api.applied(conversion_key("CLIENT_ID", {"3", "goal", ago(1h), "", ""})), 1);  // applied, not linked
  EXPECT_EQ(api.applied(conversion_key("CLIENT_ID", {"4", "goal", older, "", ""})), 1);
  EXPECT_EQ(api.applied(conversion_key("CLIENT_ID", {"5", "bad goal", ago(1h), "", ""})), 0);
  // Asking again applies nothing more.
  api.handle(status(id), at(2h));
  api.catch_up(at(48h));
  EXPECT_EQ(api.conversions_applied(), 4);
  EXPECT_EQ(api.accepted()["distinct_conversions"], 4);
}

TEST(YandexMetricaLifecycle, ProcessingForIsAnOptionAndCatchUpSettlesUnasked) {
  YandexMetricaApiOptions o = opts();
  o.processing_for = 2h;
  YandexMetricaApi api(o);
  uploaded(api, upload("ClientId,Target,DateTime\n1,g," + ago(1h) + "\n"), at(1s));
  api.catch_up(at(2h));
  EXPECT_EQ(api.conversions_applied(), 0);
  EXPECT_EQ(api.accepted()["uploadings"][0]["status"], "UPLOADED");
  api.catch_up(at(2h + 1s));
  EXPECT_EQ(api.conversions_applied(), 1);
  EXPECT_EQ(api.accepted()["uploadings"][0]["status"], "PROCESSED");
  EXPECT_EQ(api.accepted()["uploadings"][0]["linked_quantity"], 1);
  // A zero processing time is processed at once.
  o.processing_for = 0s;
  YandexMetricaApi now(o);
  EXPECT_EQ(uploaded(now, upload("ClientId,Target,DateTime\n1,g," + ago(1h) + "\n"))["status"], "PROCESSED");
  EXPECT_EQ(now.conversions_applied(), 1);
}

TEST(YandexMetricaLifecycle, LinkageFailureByOrdinalAppliesNothing) {
  YandexMetricaApiOptions o = opts();
  o.linkage_failure_uploads = {2};
  YandexMetricaApi api(o);
  const std::string a = "ClientId,Target,DateTime\n1,g," + ago(1h) + "\n";
  const std::string b = "ClientId,Target,DateTime\n2,g," + ago(1h) + "\n";
  const std::int64_t first = uploaded(api, upload(a))["id"];
  const std::int64_t second = uploaded(api, upload(b))["id"];
  EXPECT_EQ(parse(api.handle(status(second), at(29min)))["uploading"]["status"], "UPLOADED");
  EXPECT_EQ(parse(api.handle(status(first), at(31min)))["uploading"]["status"], "PROCESSED");
  auto failed = parse(api.handle(status(second), at(31min)))["uploading"];
  EXPECT_EQ(failed["status"], "LINKAGE_FAILURE");
  EXPECT_EQ(failed["line_quantity"], 1);
  EXPECT_EQ(failed["linked_quantity"], 0);
  EXPECT_EQ(api.applied(conversion_key("CLIENT_ID", {"1", "g", ago(1h), "", ""})), 1);
  EXPECT_EQ(api.applied(conversion_key("CLIENT_ID", {"2", "g", ago(1h), "", ""})), 0);
  EXPECT_EQ(api.conversions_applied(), 1);
}

TEST(YandexMetricaLifecycle, ZeroValidRowsEndInLinkageFailure) {
  YandexMetricaApi api(opts());
  auto u = uploaded(api, upload("ClientId,Target,DateTime\nx,g," + ago(1h) + "\n1,g,0\n"));
  EXPECT_EQ(u["source_quantity"], 2);
  EXPECT_EQ(u["line_quantity"], 0);
  EXPECT_EQ(u["status"], "UPLOADED");
  api.catch_up(at(1h));
  EXPECT_EQ(api.accepted()["uploadings"][0]["status"], "LINKAGE_FAILURE");
  EXPECT_EQ(api.conversions_applied(), 0);
  EXPECT_EQ(api.accepted()["distinct_conversions"], 0);
}

TEST(YandexMetricaLifecycle, DuplicateRowsApplyTwice) {
  YandexMetricaApi api(opts());
  const std::string row = "\"u,1\",goal," + ago(1h) + "\n";
  uploaded(api, upload("UserId,Target,DateTime\n" + row + row, "?client_id_type=USER_ID"));
  uploaded(api, upload("UserId,Target,DateTime\n" + row, "?client_id_type=USER_ID"), at(1min));
  api.catch_up(at(1h));
  // The key holds the cells unquoted, with Price and Currency "" under a 3-column header.
  const std::string key = oracle_key(
      "yandex_metrica.conversion",
      nlohmann::json{{"client_id_type", "USER_ID"}, {"cells", nlohmann::json::array({"u,1", "goal", ago(1h), "", ""})}});
  EXPECT_EQ(api.applied(key), 3);
  EXPECT_EQ(api.applied(conversion_key("CLIENT_ID", {"u,1", "goal", ago(1h), "", ""})), 0);  // the type is in the key
  EXPECT_EQ(api.conversions_applied(), 3);
  EXPECT_EQ(api.accepted()["distinct_conversions"], 1);
}

TEST(YandexMetricaStatus, UnknownIdsAndOtherCountersAre404AndTheListIsPerCounter) {
  YandexMetricaApi api(opts());
  const std::string csv = "ClientId,Target,DateTime\n1,g," + ago(1h) + "\n";
  const std::string other = "/management/v1/counter/777/offline_conversions/upload";
  uploaded(api, upload(csv));
  uploaded(api, upload(csv, "?client_id_type=CLIENT_ID", other));
  uploaded(api, upload(csv, "?client_id_type=CLIENT_ID&comment=third"));
  expect_error(api.handle(status(700000002), kTimeZero), 404, "not_found", "Uploading 700000002 not found");
  expect_error(api.handle(status(700000009), kTimeZero), 404, "not_found", "not found");
  expect_error(api.handle(get("/management/v1/counter/12345/offline_conversions/uploading/abc"), kTimeZero), 404,
               "not_found", "Uploading abc");
  EXPECT_EQ(api.handle(status(700000002, "777"), kTimeZero).status, 200);
  auto list = parse(api.handle(get("/management/v1/counter/12345/offline_conversions/uploadings"), at(1min)));
  ASSERT_EQ(list["uploadings"].size(), 2u);
  EXPECT_EQ(list["uploadings"][0]["id"], 700000001);
  EXPECT_EQ(list["uploadings"][1]["id"], 700000003);
  EXPECT_EQ(list["uploadings"][1]["comment"], "third");
  EXPECT_EQ(list["uploadings"][1]["status"], "UPLOADED");
  auto none = parse(api.handle(get("/management/v1/counter/5/offline_conversions/uploadings"), at(1min)));
  EXPECT_EQ(none, nlohmann::json::parse(R"({"uploadings": []})"));
}

TEST(YandexMetricaStatus, StatusValuesRenameOnlyTheWire) {
  YandexMetricaApiOptions o = opts();
  o.status_values = {{"UPLOADED", "IN_PROGRESS"}, {"PROCESSED", "PROCESSED_PARTIALLY"}};
  YandexMetricaApi api(o);
  auto u = uploaded(api, upload("ClientId,Target,DateTime\n1,g," + ago(1h) + "\n"));
  EXPECT_EQ(u["status"], "IN_PROGRESS");
  EXPECT_EQ(parse(api.handle(status(u["id"]), at(1h)))["uploading"]["status"], "PROCESSED_PARTIALLY");
  EXPECT_EQ(api.accepted()["uploadings"][0]["status"], "PROCESSED");  // the oracle's own name
  EXPECT_EQ(api.conversions_applied(), 1);

  // The catalog's hostile variants, as certify builds them.
  const FakeEntry* e = find_fake("yandex_metrica");
  ASSERT_NE(e, nullptr);
  ASSERT_EQ(e->hostile.size(), 3u);
  std::map<std::string, nlohmann::json> wire;
  for (const auto& h : e->hostile) {
    nlohmann::json options = h.options;
    options["api_key"] = "tok";
    auto made = e->make(options, "hostile");
    ASSERT_TRUE(made.ok()) << h.label << ": " << made.error().message;
    FakeApi* fake = (*made)->http();
    Response up = fake->handle(upload("ClientId,Target,DateTime\n1,g," + ago(1h) + "\n"), kTimeZero);
    Response up2 = fake->handle(upload("ClientId,Target,DateTime\n1,g," + ago(1h) + "\n"), at(100ms));
    Response up3 = fake->handle(upload("ClientId,Target,DateTime\n1,g," + ago(1h) + "\n"), at(200ms));
    wire[h.label] = {parse(up)["uploading"]["status"],
                     parse(fake->handle(status(700000001), at(1h)))["uploading"]["status"], up3.status};
    (void)up2;
  }
  EXPECT_EQ(wire["undocumented processed"], nlohmann::json::parse(R"(["UPLOADED", "PROCESSED_PARTIALLY", 200])"));
  EXPECT_EQ(wire["undocumented uploaded"], nlohmann::json::parse(R"(["IN_PROGRESS", "PROCESSED", 200])"));
  // Two per second, answered 420.
  EXPECT_EQ(wire["quota as 420"], nlohmann::json::parse(R"(["UPLOADED", "PROCESSED", 420])"));
}

// -------------------------------------------------------------------- quotas

TEST(YandexMetricaQuota, RequestsPerSecondInFixedWindows) {
  YandexMetricaApiOptions o = opts();
  o.requests_per_second = 3;
  YandexMetricaApi api(o);
  const Request list = get("/management/v1/counter/12345/offline_conversions/uploadings");
  for (Duration t : {100ms, 200ms, 300ms}) EXPECT_EQ(api.handle(list, at(t)).status, 200);
  Response refused = api.handle(list, at(999ms));
  expect_error(refused, 429, "quota_requests_by_ip", "Quota exceeded: 3 requests per second per IP");
  EXPECT_FALSE(refused.headers.get("Retry-After"));
  // A new window at 1s, however close the last request was.
  for (Duration t : {1000ms, 1000ms, 1001ms}) EXPECT_EQ(api.handle(list, at(t)).status, 200);
  EXPECT_EQ(api.handle(list, at(1999ms)).status, 429);
  // A refused upload stores nothing.
  EXPECT_EQ(api.handle(upload("ClientId,Target,DateTime\n1,g," + ago(1h) + "\n"), at(1999ms)).status, 429);
  EXPECT_EQ(api.uploadings(), 0);
  EXPECT_EQ(api.accepted()["quota_refusals"]["quota_requests_by_ip"], 3);
  EXPECT_EQ(api.accepted()["requests"], 9);
  EXPECT_EQ(api.accepted()["rejected"], 0);
}

TEST(YandexMetricaQuota, AuthFailuresComeFirstAndCountTowardNoQuota) {
  YandexMetricaApiOptions o = opts();
  o.requests_per_second = 1;
  YandexMetricaApi api(o);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(api.handle(get("/management/v1/counter/12345/offline_conversions/uploadings", "bad"), kTimeZero).status,
              403);
  EXPECT_EQ(api.handle(get("/management/v1/counter/12345/offline_conversions/uploadings"), kTimeZero).status, 200);
  EXPECT_EQ(api.handle(get("/management/v1/counter/12345/offline_conversions/uploadings", "bad"), kTimeZero).status,
            403);  // auth, not the quota
  // Requests refused later (404, 400) did reach the quota: they count.
  EXPECT_EQ(api.handle(get("/nowhere"), at(1s)).status, 404);
  EXPECT_EQ(api.handle(get("/nowhere"), at(1s)).status, 429);
}

TEST(YandexMetricaQuota, ParallelRequestsByServiceTime) {
  // A request answered at t was in service over [t - its service time, t):
  // the doors hold it latency_for() before handling it.
  YandexMetricaApiOptions o = opts();
  o.parallel_max = 2;
  YandexMetricaApi api(o);
  const std::string csv = "ClientId,Target,DateTime\n1,g," + ago(1h) + "\n";
  const Request list = get("/management/v1/counter/12345/offline_conversions/uploadings");
  EXPECT_EQ(api.latency_for(upload(csv)), 2s);
  EXPECT_EQ(api.latency_for(list), 200ms);
  EXPECT_EQ(api.handle(upload(csv), at(2s)).status, 200);      // in service over [0s, 2s)
  EXPECT_EQ(api.handle(upload(csv), at(2500ms)).status, 200);  // [0.5s, 2.5s): one other
  Response refused = api.handle(upload(csv), at(2500ms));      // [0.5s, 2.5s): two others
  expect_error(refused, 429, "quota_parallel_requests", "Quota exceeded: 2 parallel requests per user");
  EXPECT_FALSE(refused.headers.get("Retry-After"));
  EXPECT_EQ(api.handle(list, at(2600ms)).status, 200);         // [2.4s, 2.6s): only the one ending 2.5s
  EXPECT_EQ(api.handle(list, at(2650ms)).status, 429);         // [2.45s, 2.65s): 2.5s and 2.6s
  EXPECT_EQ(api.uploadings(), 2);
  EXPECT_EQ(api.accepted()["quota_refusals"]["quota_parallel_requests"], 2);
  // A client that waits for each answer never overlaps itself, even at one.
  o.parallel_max = 1;
  YandexMetricaApi one(o);
  for (int i = 1; i <= 10; ++i) EXPECT_EQ(one.handle(list, at(i * 200ms)).status, 200) << i;
  EXPECT_EQ(one.handle(list, at(2100ms)).status, 429);  // [1.9s, 2.1s) overlaps the one answered at 2s
  // The service times are options; a zero one is never in service.
  o.parallel_max = 2;
  o.upload_service = 10s;
  o.status_service = 0s;
  YandexMetricaApi slow(o);
  EXPECT_EQ(slow.latency_for(upload(csv)), 10s);
  EXPECT_EQ(slow.handle(upload(csv), at(10s)).status, 200);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(slow.handle(list, at(10s)).status, 200);
  EXPECT_EQ(slow.handle(upload(csv), at(12s)).status, 200);
  EXPECT_EQ(slow.handle(upload(csv), at(12s)).status, 429);
  EXPECT_EQ(slow.handle(upload(csv), at(20s)).status, 200);  // [10s, 20s): only the one ending 12s
}

TEST(YandexMetricaQuota, RequestsPerDayResetAtMidnightGmt) {
  YandexMetricaApiOptions o = opts();
  o.requests_per_day = 3;
  YandexMetricaApi api(o);
  const Request list = get("/management/v1/counter/12345/offline_conversions/uploadings");
  // Loop time zero is 2024-01-01T00:00:00Z: the day ends at 24h.
  EXPECT_EQ(api.handle(list, at(1h)).status, 200);
  EXPECT_EQ(api.handle(list, at(12h)).status, 200);
  EXPECT_EQ(api.handle(list, at(23h)).status, 200);
  Response refused = api.handle(list, at(24h - 1ms));
  expect_error(refused, 429, "quota_requests_by_uid", "3 requests per day per user; the quota resets at 00:00 GMT");
  EXPECT_FALSE(refused.headers.get("Retry-After"));
  EXPECT_EQ(api.handle(list, at(24h)).status, 200);
  EXPECT_EQ(api.handle(list, at(47h)).status, 200);
  EXPECT_EQ(api.handle(list, at(47h + 59min)).status, 200);
  EXPECT_EQ(api.handle(list, at(47h + 59min + 59s)).status, 429);
  EXPECT_EQ(api.handle(list, at(48h)).status, 200);
  EXPECT_EQ(api.accepted()["quota_refusals"]["quota_requests_by_uid"], 2);
}

TEST(YandexMetricaQuota, RefusedRequestsCountTowardNoOtherQuota) {
  YandexMetricaApiOptions o = opts();
  o.requests_per_second = 2;
  o.requests_per_day = 5;
  YandexMetricaApi api(o);
  const Request list = get("/management/v1/counter/12345/offline_conversions/uploadings");
  std::vector<int> got;
  for (int i = 0; i < 6; ++i) got.push_back(api.handle(list, at(1s)).status);  // 2 pass, 4 refused per second
  for (int i = 0; i < 2; ++i) got.push_back(api.handle(list, at(2s)).status);
  got.push_back(api.handle(list, at(3s)).status);  // the fifth accepted today
  got.push_back(api.handle(list, at(4s)).status);  // the day's quota is spent
  EXPECT_EQ(got, (std::vector<int>{200, 200, 429, 429, 429, 429, 200, 200, 200, 429}));
  const nlohmann::json refusals = api.accepted()["quota_refusals"];
  EXPECT_EQ(refusals, nlohmann::json::parse(
                          R"({"quota_requests_by_ip": 4, "quota_parallel_requests": 0, "quota_requests_by_uid": 1})"));
}

TEST(YandexMetricaQuota, DefaultsAndThe420Variant) {
  const YandexMetricaApiOptions d;
  EXPECT_EQ(d.requests_per_second, 30);
  EXPECT_EQ(d.parallel_max, 3);
  EXPECT_EQ(d.requests_per_day, 5000);
  EXPECT_EQ(d.upload_service, 2s);
  EXPECT_EQ(d.status_service, 200ms);
  EXPECT_EQ(d.quota_status, 429);
  EXPECT_EQ(d.processing_for, 30min);
  auto o = YandexMetricaApiOptions::from_json({{"api_key", "tok"}, {"quota_status", 420}, {"parallel_max", 0},
                                               {"requests_per_day", 0}},
                                              "t");
  ASSERT_TRUE(o.ok()) << o.error().message;
  YandexMetricaApi api(*o);
  const Request list = get("/management/v1/counter/12345/offline_conversions/uploadings");
  for (int i = 0; i < 30; ++i) ASSERT_EQ(api.handle(list, kTimeZero).status, 200) << i;
  expect_error(api.handle(list, kTimeZero), 420, "quota_requests_by_ip", "30 requests per second per IP");
}

// ----------------------------------------------------------- options, reset, accepted

TEST(YandexMetricaOptions, ReadsEveryKeyAndNamesTheBadOne) {
  auto o = YandexMetricaApiOptions::from_json(
      nlohmann::json::parse(R"({"api_key": {"secret": "s"}, "latency": "5ms", "counter_ids": [1, 2],
        "file_bytes_max": "1MB", "processing_for": "2h", "linkage_failure_uploads": [3], "unlinked_ids": ["x"],
        "requests_per_second": 0, "parallel_max": 5, "upload_service": "3s", "status_service": "50ms",
        "requests_per_day": 10, "quota_status": 429, "status_values": {"LINKAGE_FAILURE": "FAILED"}})"),
      "s.json: /fake/options");
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->api_key, "s");
  EXPECT_EQ(o->latency, 5ms);
  EXPECT_EQ(o->counter_ids, (std::vector<std::int64_t>{1, 2}));
  EXPECT_GE(o->file_bytes_max, 1'000'000);
  EXPECT_EQ(o->processing_for, 2h);
  EXPECT_EQ(o->linkage_failure_uploads, (std::vector<std::int64_t>{3}));
  EXPECT_EQ(o->unlinked_ids, (std::set<std::string>{"x"}));
  EXPECT_EQ(o->requests_per_second, 0);
  EXPECT_EQ(o->parallel_max, 5);
  EXPECT_EQ(o->upload_service, 3s);
  EXPECT_EQ(o->status_service, 50ms);
  EXPECT_EQ(o->requests_per_day, 10);
  EXPECT_EQ(o->status_values.at("LINKAGE_FAILURE"), "FAILED");
  EXPECT_EQ(YandexMetricaApi(*o).latency(), 5ms);

  const std::pair<const char*, const char*> bad[] = {
      {R"({"quota_status": 503})", "/quota_status"},
      {R"({"processing_for": 30})", "/processing_for"},
      {R"({"counter_ids": [0]})", "/counter_ids/0"},
      {R"({"requests_per_second": -1})", "/requests_per_second"},
      {R"({"status_values": {"COMPLETE": "X"}})", "/status_values"},
      {R"({"unlinked_ids": [1]})", "/unlinked_ids/0"},
      {R"({"file_bytes_max": 0})", "/file_bytes_max"},
      {R"({"upload_servce": "1s"})", "/upload_servce: unknown key"},
  };
  for (const auto& [text, where] : bad) {
    auto r = YandexMetricaApiOptions::from_json(nlohmann::json::parse(text), "s.json: /fake/options");
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.error().message.find(std::string("s.json: /fake/options") + where), std::string::npos)
        << text << ": " << r.error().message;
  }
}

TEST(YandexMetricaState, ResetForgetsEverything) {
  YandexMetricaApiOptions o = opts();
  o.requests_per_day = 2;
  YandexMetricaApi api(o);
  const std::string csv = "ClientId,Target,DateTime\n1,g," + ago(1h) + "\n";
  uploaded(api, upload(csv));
  uploaded(api, upload(csv));
  EXPECT_EQ(api.handle(upload(csv), kTimeZero).status, 429);
  api.catch_up(at(1h));
  ASSERT_EQ(api.conversions_applied(), 2);
  api.reset();
  EXPECT_EQ(api.uploadings(), 0);
  EXPECT_EQ(api.applied(conversion_key("CLIENT_ID", {"1", "g", ago(1h), "", ""})), 0);
  EXPECT_EQ(api.accepted(), nlohmann::json::parse(R"({"requests": 0, "auth_refusals": 0, "rejected": 0,
      "quota_refusals": {"quota_requests_by_ip": 0, "quota_parallel_requests": 0, "quota_requests_by_uid": 0},
      "uploadings": [], "conversions_applied": 0, "distinct_conversions": 0})"));
  // The day's count is forgotten too, and ids start again.
  EXPECT_EQ(uploaded(api, upload(csv), at(1h))["id"], 700000001);
}

TEST(YandexMetricaState, AcceptedHasTheDocumentedShape) {
  YandexMetricaApiOptions o = opts();
  o.requests_per_second = 2;
  YandexMetricaApi api(o);
  const std::string csv = "ClientId,Target,DateTime\n1,g," + ago(1h) + "\n2,g,0\n";
  uploaded(api, upload(csv));
  EXPECT_EQ(api.handle(upload(""), kTimeZero).status, 400);
  EXPECT_EQ(api.handle(upload(csv), kTimeZero).status, 429);
  EXPECT_EQ(api.handle(upload(csv, "?client_id_type=CLIENT_ID", kUploadPath, "bad"), kTimeZero).status, 403);
  uploaded(api, upload("UserId,Target,DateTime\nu,g," + ago(1h) + "\n", "?client_id_type=USER_ID",
                       "/management/v1/counter/9/offline_conversions/upload"),
           at(40min));
  EXPECT_EQ(api.accepted(), nlohmann::json::parse(R"({
      "requests": 5, "auth_refusals": 1, "rejected": 1,
      "quota_refusals": {"quota_requests_by_ip": 1, "quota_parallel_requests": 0, "quota_requests_by_uid": 0},
      "uploadings": [
        {"id": 700000001, "counter_id": 12345, "status": "PROCESSED", "client_id_type": "CLIENT_ID",
         "source_quantity": 2, "line_quantity": 1, "linked_quantity": 1},
        {"id": 700000002, "counter_id": 9, "status": "UPLOADED", "client_id_type": "USER_ID",
         "source_quantity": 1, "line_quantity": 1, "linked_quantity": 0}],
      "conversions_applied": 1, "distinct_conversions": 1})"));
}

TEST(YandexMetricaCatalog, TheEntryCarriesYandexErrorBodies) {
  const FakeEntry* e = find_fake("yandex_metrica");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->door, FakeDoor::http);
  std::vector<std::string> types;
  for (const auto& body : e->error_bodies) {
    const auto j = nlohmann::json::parse(body);
    types.push_back(j["errors"][0]["error_type"]);
    EXPECT_EQ(j["message"], j["errors"][0]["message"]);
    EXPECT_TRUE(j["code"].is_number_integer());
  }
  EXPECT_EQ(types, (std::vector<std::string>{"invalid_token", "access_denied", "invalid_parameter",
                                             "quota_requests_by_uid", "backend_error"}));
  auto made = e->make(nlohmann::json::object(), "t");
  ASSERT_TRUE(made.ok());
  EXPECT_EQ((*made)->name(), "yandex_metrica");
}

}  // namespace
}  // namespace destsim
