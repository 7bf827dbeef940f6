#include "fakes/lytics/lytics_api.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "framework/oracle.h"

namespace destsim {
namespace {

using namespace std::chrono_literals;

constexpr const char* kBulk = "bulk.lytics.io";
constexpr const char* kApi = "api.lytics.io";
constexpr const char* kCsv = "id,email\n1,a@x.io\n2,b@x.io\n";

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

Request post(const std::string& body, const std::string& query = "", const std::string& stream = "events",
             const std::string& host = kBulk) {
  Request r;
  r.method = "POST";
  r.host = host;
  r.path = "/collect/bulk/" + stream + (query.empty() ? "" : "?" + query);
  r.headers.set("Authorization", "key1");
  r.headers.set("Content-Type", "application/csv");
  r.body = body;
  return r;
}

Request gz_post(const std::string& csv, const std::string& query = "") {
  Request r = post(gzip(csv), query);
  r.headers.set("Content-Encoding", "gzip");
  return r;
}

LyticsApiOptions opts() {
  LyticsApiOptions o;
  o.api_key = "key1";
  return o;
}

nlohmann::json parse(const Response& r) { return nlohmann::json::parse(r.body); }

std::string row_key(const std::string& stream, const nlohmann::json& row) {
  return oracle_key("lytics.row", nlohmann::json{{"stream", stream}, {"row", row}});
}

void expect_error(const Response& r, int status, const std::string& message_part) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_EQ(r.headers.get("Content-Type"), "application/json");
  const nlohmann::json b = parse(r);
  EXPECT_EQ(b.size(), 2u) << r.body;
  EXPECT_EQ(b["status"], status) << r.body;
  ASSERT_TRUE(b["message"].is_string()) << r.body;
  EXPECT_NE(b["message"].get<std::string>().find(message_part), std::string::npos)
      << "expected \"" << message_part << "\" in " << r.body;
}

// The `data` of a 200 answer.
nlohmann::json accepted_data(LyticsApi& api, const Request& r, Time now = kTimeZero) {
  const Response resp = api.handle(r, now);
  EXPECT_EQ(resp.status, 200) << resp.body;
  return resp.status == 200 ? parse(resp)["data"] : nlohmann::json();
}

Request with_header(Request r, const char* name, const char* value) {
  if (value)
    r.headers.set(name, value);
  else
    r.headers.remove(name);
  return r;
}

// A CSV of exactly `bytes` bytes (at least 4): header "a", rows of x's.
std::string csv_of_size(std::size_t bytes) {
  std::string s = "a\n";
  while (bytes - s.size() >= 1002) s += std::string(999, 'x') + "\n";
  s += std::string(bytes - s.size() - 1, 'x') + "\n";
  return s;
}

// ------------------------------------------------------------------ auth

TEST(LyticsAuth, TheKeyIsSentRawInAuthorization) {
  LyticsApi api(opts());
  const std::pair<const char*, const char*> refused[] = {
      {nullptr, "Missing API key"},       {"", "Empty API key"},        {"wrong", "Invalid API key"},
      {"Bearer key1", "Invalid API key"}, {"key1 ", "Invalid API key"}, {"KEY1", "Invalid API key"}};
  for (const auto& [value, message] : refused) {
    Request r = post(kCsv);
    if (value)
      r.headers.set("Authorization", value);
    else
      r.headers.remove("Authorization");
    expect_error(api.handle(r, kTimeZero), 401, message);
  }
  Request none = post(kCsv);
  none.headers.remove("Authorization");
  EXPECT_EQ(parse(api.handle(none, kTimeZero)), nlohmann::json::parse(R"j({"status": 401, "message":
                "Missing API key: send it raw in the Authorization header (or as access_token)"})j"));
  // Checked before the route: a wrong key learns nothing about paths.
  Request lost = post(kCsv);
  lost.path = "/nowhere";
  lost.headers.set("Authorization", "wrong");
  EXPECT_EQ(api.handle(lost, kTimeZero).status, 401);
  EXPECT_EQ(api.accepted()["auth_refusals"], 8);
  EXPECT_EQ(api.accepted()["rejected"], 8);
  EXPECT_EQ(api.applications(), 0);
  EXPECT_EQ(api.handle(post(kCsv), kTimeZero).status, 200);
  EXPECT_EQ(api.applications(), 2);
}

TEST(LyticsAuth, WithoutApiKeyAnyNonEmptyKeyWithoutASchemePasses) {
  LyticsApi api{LyticsApiOptions{}};
  Request r = post(kCsv);
  r.headers.set("Authorization", "anything-at-all");
  EXPECT_EQ(api.handle(r, kTimeZero).status, 200);
  r.headers.set("Authorization", "Bearer anything");
  expect_error(api.handle(r, kTimeZero), 401, "no scheme");
  r.headers.set("Authorization", "a\tb");
  expect_error(api.handle(r, kTimeZero), 401, "no scheme");
  r.headers.set("Authorization", "");
  expect_error(api.handle(r, kTimeZero), 401, "Empty API key");
}

TEST(LyticsAuth, AccessTokenIsDocumentedAndKeyIsNot) {
  LyticsApi api(opts());
  Request query_only = post(kCsv, "access_token=key1");
  query_only.headers.remove("Authorization");
  EXPECT_EQ(api.handle(query_only, kTimeZero).status, 200);
  query_only.path = "/collect/bulk/events?access_token=nope";
  expect_error(api.handle(query_only, kTimeZero), 401, "Invalid API key");
  query_only.path = "/collect/bulk/events?access_token=key1&access_token=key1";
  expect_error(api.handle(query_only, kTimeZero), 401, "access_token repeated");
  // Both forms at once: which one counts is undocumented, so neither does.
  expect_error(api.handle(post(kCsv, "access_token=key1"), kTimeZero), 401, "given twice");
  // `key` is no key: with no other one the 401 says so ...
  Request key_only = post(kCsv, "key=key1");
  key_only.headers.remove("Authorization");
  expect_error(api.handle(key_only, kTimeZero), 401, "a \"key\" query parameter is not read");
  // ... and beside a good one it is an unknown parameter.
  expect_error(api.handle(post(kCsv, "key=key1"), kTimeZero), 400, "Unknown query parameter \"key\"");
  EXPECT_EQ(api.uploads(), 1);
  EXPECT_EQ(api.applications(), 2);
}

TEST(LyticsAuth, SetApiKeyRotatesTheKey) {
  LyticsApi api(opts());
  ASSERT_TRUE(api.control(JsonIn(nlohmann::json{{"set_api_key", "key2"}}, "op"), kTimeZero).ok());
  expect_error(api.handle(post(kCsv), kTimeZero), 401, "Invalid API key");
  Request r = post(kCsv);
  r.headers.set("Authorization", "key2");
  EXPECT_EQ(api.handle(r, kTimeZero).status, 200);
  // A seeding request goes through the same checks and counts.
  nlohmann::json seed = {{"request",
                          {{"method", "POST"},
                           {"path", "/collect/bulk/seeded"},
                           {"headers", {{"Authorization", "key2"}, {"Content-Type", "application/csv"}}},
                           {"body", "id\n7\n"}}}};
  EXPECT_TRUE(api.control(JsonIn(seed, "op"), kTimeZero).ok());
  EXPECT_EQ(api.applied(row_key("seeded", {{"id", "7"}})), 1);
  seed["request"]["headers"]["Authorization"] = "key1";
  EXPECT_FALSE(api.control(JsonIn(seed, "op"), kTimeZero).ok());
  EXPECT_FALSE(api.control(JsonIn(nlohmann::json{{"set_api_key", 7}}, "op"), kTimeZero).ok());
  const Status unknown = api.control(JsonIn(nlohmann::json{{"drop_stream", "x"}}, "op"), kTimeZero);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("no operation \"drop_stream\" (set_api_key, request)"), std::string::npos)
      << unknown.error().message;
  EXPECT_EQ(api.control_ops(), "set_api_key, request");
  // "" accepts any key again; reset() keeps the rotated key.
  api.reset();
  EXPECT_EQ(api.handle(r, kTimeZero).status, 200);
  ASSERT_TRUE(api.control(JsonIn(nlohmann::json{{"set_api_key", ""}}, "op"), kTimeZero).ok());
  r.headers.set("Authorization", "whatever");
  EXPECT_EQ(api.handle(r, kTimeZero).status, 200);
}

// The examples of ACCEPTED.md's "## Operations", in its order, on a fake with the documented options.
TEST(LyticsApi, AcceptedDocOperationExamplesHold) {
  LyticsApiOptions o;
  o.api_key = "lk_incident";
  LyticsApi api(o);
  for (
      const char* text :
      {R"({"request": {"method": "POST", "path": "/collect/bulk/user_regdata?timestamp_field=reg_date", "headers": {"Authorization": "lk_incident", "Content-Type": "application/csv"}, "body": "user_id,email,reg_date\n7456,email@email.com,2012-10-17T17:29:39.738Z\n"}})",
       R"({"set_api_key": "lk_rotated"})"}) {
    const nlohmann::json op = nlohmann::json::parse(text);
    const Status s = api.control(JsonIn(op, "ACCEPTED.md"), kTimeZero);
    EXPECT_TRUE(s.ok()) << s.error().message;
  }
  EXPECT_EQ(api.applied(
                row_key("user_regdata",
                        {{"user_id", "7456"}, {"email", "email@email.com"}, {"reg_date", "2012-10-17T17:29:39.738Z"}})),
            1);
  EXPECT_EQ(api.accepted()["streams"], nlohmann::json::parse(R"({"user_regdata": 1})"));
  expect_error(api.handle(with_header(post(kCsv), "Authorization", "lk_incident"), kTimeZero), 401, "Invalid API key");
  EXPECT_EQ(api.handle(with_header(post(kCsv), "Authorization", "lk_rotated"), kTimeZero).status, 200);
  // A JSON seeding body is sent as application/json: 415, so the operation fails and names it.
  const nlohmann::json json_seed = {{"request",
                                     {{"method", "POST"},
                                      {"path", "/collect/bulk/x"},
                                      {"headers", {{"Authorization", "lk_rotated"}}},
                                      {"json", {{"id", 1}}}}}};
  const Status refused = api.control(JsonIn(json_seed, "x.json: /fake/seed/0"), kTimeZero);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("x.json: /fake/seed/0/request: the fake answered 415"), std::string::npos)
      << refused.error().message;
}

// ---------------------------------------------------------------- routes

TEST(LyticsRoutes, OtherPathsAre404AndOtherMethods405) {
  LyticsApi api(opts());
  for (const char* path : {"/collect/bulk", "/collect/bulk/", "/collect/bulk/events/", "/collect/bulk/a/b",
                           "/collect/json/events", "/api/collect/bulk/events", "/", "/collect/bulkevents"}) {
    Request r = post(kCsv);
    r.path = path;
    expect_error(api.handle(r, kTimeZero), 404, "Not found");
  }
  for (const char* method : {"GET", "PUT", "DELETE", "PATCH"}) {
    Request r = post(kCsv);
    r.method = method;
    const Response resp = api.handle(r, kTimeZero);
    expect_error(resp, 405, "use POST");
    EXPECT_EQ(resp.headers.get("Allow"), "POST");
  }
  for (const char* stream : {"a.b", "a%20b", "caf\xC3\xA9", "a+b"})
    expect_error(api.handle(post(kCsv, "", stream), kTimeZero), 400, "Invalid stream");
  EXPECT_EQ(api.uploads(), 0);
  EXPECT_EQ(api.accepted()["rejected"], 16);
  for (const char* stream : {"user_regdata", "A-1", "x"})
    EXPECT_EQ(api.handle(post(kCsv, "", stream), kTimeZero).status, 200);
}

// ---------------------------------------------------------------- answer

TEST(LyticsUpload, AnswersExactlyTheDocumentedShape) {
  LyticsApi api(opts());
  const Response r = api.handle(post(kCsv), kTimeZero);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.get("Content-Type"), "application/json");
  EXPECT_EQ(parse(r), nlohmann::json::parse(R"({"status": 200, "message": "success", "data": {
      "message_count": 2, "rejected_count": 0, "content-type": "application/csv", "droperrors": false,
      "dryrun": false, "timestamp_field": "", "filename": "events"}})"));
  // Every documented option echoed; text/csv with parameters.
  Request all = post("1,1700000000\n",
                     "timestamp_field=ts&droperrors=true&dryrun=false&filename=users.csv"
                     "&account_id=123&headers=id,ts&append=%7B%7D");
  all.headers.set("Content-Type", "Text/CSV; charset=UTF-8");
  EXPECT_EQ(accepted_data(api, all), nlohmann::json::parse(R"({"message_count": 1, "rejected_count": 0,
      "content-type": "text/csv", "droperrors": true, "dryrun": false, "timestamp_field": "ts",
      "filename": "users.csv"})"));
}

// ------------------------------------------------------- whole-request refusals

struct BadRequest {
  const char* label;
  std::function<Request()> request;
  int status;
  const char* message;  // a part of the answer's message
};
void PrintTo(const BadRequest& b, std::ostream* os) { *os << b.label; }

Request gz_raw(std::string body) {
  Request r = post("");
  r.body = std::move(body);
  r.headers.set("Content-Encoding", "gzip");
  return r;
}

const BadRequest kBadRequests[] = {
    // query parameters
    {"unknown_parameter", [] { return post(kCsv, "foo=1"); }, 400,
     "Unknown query parameter \"foo\" (allowed: timestamp_field, dryrun, droperrors, delimiter, headers, append, "
     "filename, account_id, access_token)"},
    {"repeated_parameter", [] { return post(kCsv, "dryrun=true&dryrun=true"); }, 400,
     "Query parameter \"dryrun\" is given more than once"},
    {"dryrun_1", [] { return post(kCsv, "dryrun=1"); }, 400, "dryrun must be true or false, not \"1\""},
    {"dryrun_no_value", [] { return post(kCsv, "dryrun"); }, 400, "dryrun must be true or false, not \"\""},
    {"droperrors_capital", [] { return post(kCsv, "droperrors=True"); }, 400, "droperrors must be true or false"},
    {"delimiter_two_chars", [] { return post(kCsv, "delimiter=%7C%7C"); }, 400, "delimiter must be one character"},
    {"delimiter_t", [] { return post(kCsv, "delimiter=t"); }, 400, "a tab as %09"},
    {"delimiter_digit", [] { return post(kCsv, "delimiter=1"); }, 400, "delimiter must be one character"},
    {"delimiter_quote", [] { return post(kCsv, "delimiter=%22"); }, 400, "delimiter must be one character"},
    {"delimiter_newline", [] { return post(kCsv, "delimiter=%0A"); }, 400, "delimiter must be one character"},
    {"delimiter_empty", [] { return post(kCsv, "delimiter="); }, 400, "not \"\""},
    {"delimiter_non_ascii", [] { return post(kCsv, "delimiter=%C2%A7"); }, 400, "delimiter must be one character"},
    {"headers_empty_name", [] { return post("1,2,3\n", "headers=a,,b"); }, 400, "headers column 2 is empty"},
    {"headers_trailing_comma", [] { return post("1,2\n", "headers=a,b,"); }, 400, "headers column 3 is empty"},
    {"headers_empty", [] { return post("1\n", "headers="); }, 400, "headers column 1 is empty"},
    {"headers_repeat_ignoring_case", [] { return post("1,2\n", "headers=id,ID"); }, 400,
     "headers column 2 \"ID\" repeats column 1 \"id\""},
    {"timestamp_field_empty", [] { return post(kCsv, "timestamp_field="); }, 400, "timestamp_field is empty"},
    {"timestamp_field_not_a_column", [] { return post(kCsv, "timestamp_field=ts"); }, 400,
     "timestamp_field \"ts\" is not a column of the header (\"id, email\")"},
    {"timestamp_field_case", [] { return post(kCsv, "timestamp_field=ID"); }, 400, "is not a column"},
    {"append_not_json", [] { return post(kCsv, "append=%7Bsource"); }, 400, "append must be a JSON object"},
    {"append_array", [] { return post(kCsv, "append=%5B%5D"); }, 400, "append must be a JSON object"},
    {"append_number", [] { return post(kCsv, "append=%7B%22n%22%3A1%7D"); }, 400,
     "append's value for \"n\" must be a string"},
    {"append_empty_name", [] { return post(kCsv, "append=%7B%22%22%3A%22x%22%7D"); }, 400, "append has an empty name"},
    {"append_header_column", [] { return post(kCsv, "append=%7B%22Email%22%3A%22x%22%7D"); }, 400,
     "append's name \"Email\" is a column of the header"},
    {"filename_empty", [] { return post(kCsv, "filename="); }, 400, "filename must be non-empty"},
    {"filename_not_utf8", [] { return post(kCsv, "filename=a%FF.csv"); }, 400,
     "filename must be non-empty UTF-8, not \"a\\xFF.csv\""},
    {"account_id_empty", [] { return post(kCsv, "account_id="); }, 400, "account_id is empty"},
    // Content-Type and Content-Encoding
    {"no_content_type", [] { return with_header(post(kCsv), "Content-Type", nullptr); }, 415,
     "Content-Type must be application/csv or text/csv, not absent"},
    {"json_content_type", [] { return with_header(post(kCsv), "Content-Type", "application/json"); }, 415,
     "not \"application/json\""},
    {"text_plain", [] { return with_header(post(kCsv), "Content-Type", "text/plain"); }, 415, "text/plain"},
    {"multipart", [] { return with_header(post(kCsv), "Content-Type", "multipart/form-data; boundary=x"); }, 415,
     "Content-Type must be"},
    {"charset_latin1", [] { return with_header(post(kCsv), "Content-Type", "text/csv; charset=ISO-8859-1"); }, 415,
     "The CSV must be UTF-8, not charset \"ISO-8859-1\""},
    {"deflate", [] { return with_header(post(kCsv), "Content-Encoding", "deflate"); }, 415,
     "Content-Encoding must be gzip or identity, not \"deflate\""},
    {"br", [] { return with_header(post(kCsv), "Content-Encoding", "br"); }, 415, "Content-Encoding"},
    // gzip
    {"gzip_declared_plain_body", [] { return with_header(post(kCsv), "Content-Encoding", "gzip"); }, 400,
     "The body is not valid gzip"},
    {"gzip_truncated", [] { return gz_raw(gzip(kCsv).substr(0, 15)); }, 400,
     "The body is not valid gzip: the gzip stream is truncated"},
    {"gzip_corrupt",
     [] {
       std::string g = gzip(std::string(kCsv) + kCsv);
       for (std::size_t i = 10; i < g.size() - 8; ++i) g[i] = static_cast<char>(g[i] ^ 0x5a);
       return gz_raw(g);
     },
     400, "The body is not valid gzip"},
    {"gzip_bad_crc",
     [] {
       std::string g = gzip(kCsv);
       g[g.size() - 6] = static_cast<char>(g[g.size() - 6] ^ 1);  // the CRC32 in the trailer
       return gz_raw(g);
     },
     400, "The body is not valid gzip"},
    {"gzip_trailing_garbage", [] { return gz_raw(gzip(kCsv) + "garbage"); }, 400, "The body is not valid gzip"},
    {"gzip_empty_body", [] { return gz_raw(""); }, 400, "The body is not valid gzip"},
    {"gzip_of_nothing", [] { return gz_raw(gzip("")); }, 400, "The file is empty"},
    // the file
    {"empty_body", [] { return post(""); }, 400, "The file is empty"},
    {"empty_body_with_headers", [] { return post("", "headers=id"); }, 400, "The file is empty"},
    {"bom", [] { return post("\xEF\xBB\xBFid,email\n1,a\n"); }, 400, "The file starts with a UTF-8 byte order mark"},
    {"header_only", [] { return post("id,email\n"); }, 400, "The file has no data rows"},
    {"header_only_no_line_end", [] { return post("id,email"); }, 400, "The file has no data rows"},
    {"header_empty_column", [] { return post("id,,email\n1,2,3\n"); }, 400, "header column 2 is empty"},
    {"header_blank_first_line", [] { return post("\nid\n1\n"); }, 400, "header column 1 is empty"},
    {"header_repeat", [] { return post("id,email,Id\n1,2,3\n"); }, 400,
     "header column 3 \"Id\" repeats column 1 \"id\" (names must be unique ignoring case)"},
    {"header_quoted_repeat", [] { return post("\"id\",id\n1,2\n"); }, 400, "header column 2 \"id\" repeats column 1"},
    {"header_not_utf8", [] { return post("id,e\xFFmail\n1,2\n"); }, 400,
     "header column 2 \"e\\xFFmail\" is not valid UTF-8"},
    {"unterminated_quote", [] { return post("id,email\n1,\"a@x.io\n2,b\n"); }, 400,
     "Malformed CSV: line 2: unterminated quoted cell"},
    {"quote_inside_unquoted_cell", [] { return post("id,email\n1,a\"b\n"); }, 400,
     "Malformed CSV: line 2: a quote inside an unquoted cell"},
    {"text_after_closing_quote", [] { return post("id,email\n1,\"a\"b\n"); }, 400,
     "Malformed CSV: line 2: text after a closing quote"},
    {"bare_cr", [] { return post("id,email\r1,a\n"); }, 400, "Malformed CSV: line 1: a bare CR"},
    {"malformed_in_header", [] { return post("\"id,email\n1,a\n"); }, 400, "Malformed CSV: line 1: unterminated"},
    // A quoted line end spans two physical lines: the next record starts on line 4.
    {"line_after_quoted_line_end", [] { return post("id,email\n1,\"a\nb\"\n2,\"c\n"); }, 400,
     "Malformed CSV: line 4: unterminated quoted cell"},
    // A malformed file is refused whole even when errors are dropped.
    {"malformed_with_droperrors", [] { return post("id,email\n1,a\n2,\"b\n", "droperrors=true"); }, 400,
     "Malformed CSV: line 3"},
};

class LyticsBadRequest : public ::testing::TestWithParam<BadRequest> {};

TEST_P(LyticsBadRequest, IsRefusedWholeAndAppliesNothing) {
  LyticsApi api(opts());
  const BadRequest& c = GetParam();
  expect_error(api.handle(c.request(), kTimeZero), c.status, c.message);
  EXPECT_EQ(api.uploads(), 0);
  EXPECT_EQ(api.applications(), 0);
  EXPECT_EQ(api.accepted()["rejected"], 1);
  EXPECT_EQ(api.accepted()["streams"], nlohmann::json::object());
  // The fake is left as it was.
  EXPECT_EQ(accepted_data(api, post(kCsv))["message_count"], 2);
}

INSTANTIATE_TEST_SUITE_P(Lytics, LyticsBadRequest, ::testing::ValuesIn(kBadRequests),
                         [](const auto& info) { return std::string(info.param.label); });

// ----------------------------------------------------------------- row rules

struct RowRule {
  const char* label;
  const char* header;  // the header line
  const char* query;   // more query parameters, or ""
  const char* good;    // a row that passes
  const char* bad;     // a row that is rejected
  const char* why;     // the 400's message after "row 2: "
};
void PrintTo(const RowRule& r, std::ostream* os) { *os << r.label; }

const RowRule kRowRules[] = {
    {"short_row", "id,email", "", "1,a", "2", "1 cell, the header has 2"},
    {"long_row", "id,email", "", "1,a", "2,b,c", "3 cells, the header has 2"},
    {"empty_line", "id,email", "", "1,a", "", "1 cell, the header has 2"},
    {"empty_line_one_column", "id", "", "1", "", "every cell is empty"},
    {"all_cells_empty", "id,email", "", "1,a", ",", "every cell is empty"},
    {"all_cells_quoted_empty", "id,email", "", "1,a", "\"\",\"\"", "every cell is empty"},
    {"invalid_utf8", "id,email", "", "1,a", "2,b\xFF", "column \"email\" is not valid UTF-8"},
    {"overlong_utf8", "id,email", "", "1,a", "\xC0\xAF,b", "column \"id\" is not valid UTF-8"},
    {"surrogate_utf8", "id,email", "", "1,a", "2,\xED\xA0\x80", "column \"email\" is not valid UTF-8"},
    {"timestamp_empty", "id,ts", "&timestamp_field=ts", "1,1700000000", "2,",
     "timestamp_field \"ts\" is \"\", not unix seconds"},
    {"timestamp_word", "id,ts", "&timestamp_field=ts", "1,1700000000", "2,yesterday",
     "timestamp_field \"ts\" is \"yesterday\", not unix seconds (1-10 digits), unix milliseconds (13 digits) or an "
     "RFC 3339 UTC instant"},
    {"timestamp_with_offset", "id,ts", "&timestamp_field=ts", "1,2024-01-01T00:00:00Z", "2,2024-01-01T00:00:00+02:00",
     "timestamp_field \"ts\" is \"2024-01-01T00:00:00+02:00\""},
    // Tab-delimited rows obey the same rules.
    {"tab_short_row", "id\temail", "&delimiter=%09", "1\ta", "2", "1 cell, the header has 2"},
};

class LyticsRowRule : public ::testing::TestWithParam<RowRule> {};

TEST_P(LyticsRowRule, RefusesTheRequestOrIsDroppedWithDroperrors) {
  const RowRule& c = GetParam();
  const std::string csv = std::string(c.header) + "\n" + c.good + "\n" + c.bad + "\n" + c.good + "\n";
  LyticsApi api(opts());
  // droperrors=false: refused whole, naming the first bad row.
  expect_error(api.handle(post(csv, std::string("droperrors=false") + c.query), kTimeZero), 400,
               std::string("row 2: ") + c.why);
  EXPECT_EQ(api.handle(post(csv, c.query[0] ? std::string(c.query + 1) : ""), kTimeZero).status, 400);  // the default
  EXPECT_EQ(api.applications(), 0);
  EXPECT_EQ(api.uploads(), 0);
  // droperrors=true: the bad row dropped, the others applied.
  const nlohmann::json data = accepted_data(api, post(csv, std::string("droperrors=true") + c.query));
  EXPECT_EQ(data["message_count"], 2);
  EXPECT_EQ(data["rejected_count"], 1);
  EXPECT_EQ(api.applications(), 2);
  EXPECT_EQ(api.accepted()["distinct_applications"], 1);  // the good row, twice
  EXPECT_EQ(api.accepted()["rows_rejected"], 1);
  EXPECT_EQ(api.accepted()["streams"], nlohmann::json::parse(R"({"events": 2})"));
}

INSTANTIATE_TEST_SUITE_P(Lytics, LyticsRowRule, ::testing::ValuesIn(kRowRules),
                         [](const auto& info) { return std::string(info.param.label); });

TEST(LyticsTimestamp, AcceptsUnixSecondsMillisecondsAndRfc3339Utc) {
  const char* good[] = {"1",
                        "1700000000",
                        "9999999999",
                        "1700000000000",
                        "2012-10-17T17:29:39.738Z",  // [OAS]'s example
                        "2012-10-17T17:29:39Z",
                        "2024-02-29T00:00:00Z",  // a leap day
                        "2000-02-29T12:00:00Z",
                        "1970-01-01T00:00:00Z",
                        "9999-12-31T23:59:59.123456789Z"};
  const char* bad[] = {"0",
                       "0170000000",
                       "01700000000",
                       "17000000000",     // 11 digits: neither
                       "170000000000",    // 12
                       "17000000000000",  // 14
                       "-1700000000",
                       "+1700000000",
                       "1700000000.5",
                       " 1700000000",
                       "1700000000 ",
                       "1e9",
                       "2012-10-17T17:29:39.738z",
                       "2012-10-17t17:29:39Z",
                       "2012-10-17 17:29:39Z",
                       "2012-10-17T17:29:39",
                       "2012-10-17T17:29:39+00:00",
                       "2012-10-17",
                       "2023-02-29T00:00:00Z",  // not a leap year
                       "2100-02-29T00:00:00Z",  // a century, not a leap year
                       "2024-02-30T00:00:00Z",
                       "2024-04-31T00:00:00Z",
                       "2024-13-01T00:00:00Z",
                       "2024-00-10T00:00:00Z",
                       "2024-01-00T00:00:00Z",
                       "2024-01-01T24:00:00Z",
                       "2024-01-01T23:60:00Z",
                       "2016-12-31T23:59:60Z",  // a leap second
                       "1969-12-31T23:59:59Z",
                       "2024-01-01T00:00:00.Z",
                       "2024-01-01T00:00:00.1234567890Z",
                       "2024-1-01T00:00:00Z",
                       "2024-01-01T00:00:00ZZ",
                       "２０２４-01-01T00:00:00Z"};
  LyticsApi api(opts());
  for (const char* ts : good) {
    const nlohmann::json data =
        accepted_data(api, post(std::string("id,ts\n1,\"") + ts + "\"\n", "timestamp_field=ts"));
    EXPECT_EQ(data["message_count"], 1) << ts;
    EXPECT_EQ(api.applied(row_key("events", {{"id", "1"}, {"ts", ts}})), 1) << ts;
  }
  for (const char* ts : bad)
    expect_error(api.handle(post(std::string("id,ts\n1,") + ts + "\n", "timestamp_field=ts"), kTimeZero), 400,
                 std::string("row 1: timestamp_field \"ts\" is \"") + ts + "\"");
  EXPECT_EQ(api.applications(), static_cast<std::int64_t>(std::size(good)));
  // Without timestamp_field any cell goes.
  EXPECT_EQ(accepted_data(api, post("id,ts\n1,yesterday\n"))["message_count"], 1);
}

// ------------------------------------------------------- droperrors, dryrun

TEST(LyticsDroperrors, FalseNamesTheFirstBadDataRow) {
  LyticsApi api(opts());
  const std::string csv = "id,email\n1,a\n2,b\n3\n,\n5,e\n";
  expect_error(api.handle(post(csv), kTimeZero), 400, "row 3: 1 cell, the header has 2");
  EXPECT_EQ(parse(api.handle(post(csv), kTimeZero)),
            nlohmann::json::parse(R"({"status": 400, "message": "row 3: 1 cell, the header has 2"})"));
  // With `headers` the first record is data row 1.
  expect_error(api.handle(post("1,a\n,\n", "headers=id,email"), kTimeZero), 400, "row 2: every cell is empty");
  expect_error(api.handle(post(",\n1,a\n", "headers=id,email"), kTimeZero), 400, "row 1: every cell is empty");
  // Row numbers count records, not physical lines (a quoted line end).
  expect_error(api.handle(post("id,email\n1,\"a\nb\"\n2\n"), kTimeZero), 400, "row 2: 1 cell");
  EXPECT_EQ(api.applications(), 0);
  EXPECT_EQ(api.accepted()["rejected"], 5);
}

TEST(LyticsDroperrors, TrueDropsTheBadRowsAndCountsThem) {
  LyticsApi api(opts());
  const std::string csv = "id,email\n1,a\n2\n3,c\n,\n5,e\n";
  const nlohmann::json data = accepted_data(api, post(csv, "droperrors=true"));
  EXPECT_EQ(data["message_count"], 3);
  EXPECT_EQ(data["rejected_count"], 2);
  EXPECT_EQ(data["droperrors"], true);
  for (const char* id : {"1", "3", "5"}) {
    const std::string email = id == std::string("1") ? "a" : id == std::string("3") ? "c" : "e";
    EXPECT_EQ(api.applied(row_key("events", {{"id", id}, {"email", email}})), 1) << id;
  }
  EXPECT_EQ(api.applied(row_key("events", {{"id", "2"}})), 0);
  EXPECT_EQ(api.applications(), 3);
  EXPECT_EQ(api.accepted()["rows_rejected"], 2);
  // Every row dropped: still 200, nothing applied.
  const nlohmann::json none = accepted_data(api, post("id,email\n1\n,\n", "droperrors=true"));
  EXPECT_EQ(none["message_count"], 0);
  EXPECT_EQ(none["rejected_count"], 2);
  EXPECT_EQ(api.applications(), 3);
  EXPECT_EQ(api.accepted()["rows_rejected"], 4);
}

TEST(LyticsDryrun, ValidatesAndAnswersButAppliesNothing) {
  LyticsApi api(opts());
  const nlohmann::json data = accepted_data(api, post("id,email\n1,a\n2\n3,c\n", "dryrun=true&droperrors=true"));
  EXPECT_EQ(data["dryrun"], true);
  EXPECT_EQ(data["message_count"], 2);
  EXPECT_EQ(data["rejected_count"], 1);
  EXPECT_EQ(api.applications(), 0);
  EXPECT_EQ(api.applied(row_key("events", {{"id", "1"}, {"email", "a"}})), 0);
  const nlohmann::json state = api.accepted();
  EXPECT_EQ(state["streams"], nlohmann::json::object());
  EXPECT_EQ(state["rows_rejected"], 0);
  EXPECT_EQ(state["distinct_applications"], 0);
  ASSERT_EQ(state["uploads"].size(), 1u);
  EXPECT_EQ(state["uploads"][0]["dryrun"], true);
  EXPECT_EQ(state["uploads"][0]["message_count"], 2);
  // A dry run refuses what a real run refuses.
  expect_error(api.handle(post("id,email\n1,a\n2\n", "dryrun=true"), kTimeZero), 400, "row 2: 1 cell");
  // The same file for real applies.
  EXPECT_EQ(accepted_data(api, post("id,email\n1,a\n2\n3,c\n", "dryrun=false&droperrors=true"))["dryrun"], false);
  EXPECT_EQ(api.applications(), 2);
}

// --------------------------------------------------------------------- CSV

TEST(LyticsCsv, QuotingAndLineEnds) {
  LyticsApi api(opts());
  // CRLF, a quoted header, quoted delimiters, line ends and quotes, a trailing CRLF.
  const std::string csv =
      "\"id\",note,empty\r\n"
      "1,\"a, b\",\r\n"
      "2,\"line1\r\nline2\",\"\"\r\n"
      "3,\"say \"\"hi\"\"\",x\r\n";
  EXPECT_EQ(accepted_data(api, post(csv))["message_count"], 3);
  EXPECT_EQ(api.applied(row_key("events", {{"id", "1"}, {"note", "a, b"}})), 1);
  EXPECT_EQ(api.applied(row_key("events", {{"id", "2"}, {"note", "line1\r\nline2"}})), 1);
  EXPECT_EQ(api.applied(row_key("events", {{"id", "3"}, {"note", "say \"hi\""}, {"empty", "x"}})), 1);
  // No trailing line end: the last record still counts; one line end is no row.
  EXPECT_EQ(accepted_data(api, post("id\n1\n2"))["message_count"], 2);
  EXPECT_EQ(accepted_data(api, post("id\n1\n2\n"))["message_count"], 2);
  // Two line ends are an empty row (rejected: every cell is empty).
  expect_error(api.handle(post("id\n1\n2\n\n"), kTimeZero), 400, "row 3: every cell is empty");
  // Spaces are data.
  EXPECT_EQ(accepted_data(api, post("id, name\n1, x \n"))["message_count"], 1);
  EXPECT_EQ(api.applied(row_key("events", {{"id", "1"}, {" name", " x "}})), 1);
}

TEST(LyticsCsv, TheDelimiterParameter) {
  LyticsApi api(opts());
  // A tab, sent as %09; a comma is then data.
  EXPECT_EQ(accepted_data(api, post("id\tnote\n1\ta,b\n", "delimiter=%09"))["message_count"], 1);
  EXPECT_EQ(api.applied(row_key("events", {{"id", "1"}, {"note", "a,b"}})), 1);
  EXPECT_EQ(accepted_data(api, post("id|note\n2|\"x|y\"\n", "delimiter=%7C"))["message_count"], 1);
  EXPECT_EQ(api.applied(row_key("events", {{"id", "2"}, {"note", "x|y"}})), 1);
  EXPECT_EQ(accepted_data(api, post("id;note\n3;z\n", "delimiter=;"))["message_count"], 1);
  EXPECT_EQ(api.applied(row_key("events", {{"id", "3"}, {"note", "z"}})), 1);
  // With the default a semicolon file is one column.
  EXPECT_EQ(accepted_data(api, post("id;note\n4;w\n"))["message_count"], 1);
  EXPECT_EQ(api.applied(row_key("events", {{"id;note", "4;w"}})), 1);
}

TEST(LyticsCsv, TheHeadersParameterMeansNoHeaderRow) {
  LyticsApi api(opts());
  // Every record is data, even one that looks like a header.
  EXPECT_EQ(accepted_data(api, post("id,email\n1,a\n", "headers=id,email"))["message_count"], 2);
  EXPECT_EQ(api.applied(row_key("events", {{"id", "id"}, {"email", "email"}})), 1);
  EXPECT_EQ(api.applied(row_key("events", {{"id", "1"}, {"email", "a"}})), 1);
  // The list is comma-separated whatever the delimiter; names are percent-decoded.
  EXPECT_EQ(accepted_data(api, post("2|b\n", "headers=user%20id,email&delimiter=%7C"))["message_count"], 1);
  EXPECT_EQ(api.applied(row_key("events", {{"user id", "2"}, {"email", "b"}})), 1);
  // timestamp_field may name one of them.
  EXPECT_EQ(accepted_data(api, post("3,1700000000\n", "headers=id,ts&timestamp_field=ts"))["timestamp_field"], "ts");
  expect_error(api.handle(post("3,1700000000\n", "headers=id,ts&timestamp_field=id2"), kTimeZero), 400,
               "timestamp_field \"id2\" is not a column of the header (\"id, ts\")");
}

// -------------------------------------------------------------------- gzip

TEST(LyticsGzip, ContentEncodingGzipIsInflated) {
  LyticsApi api(opts());
  EXPECT_EQ(accepted_data(api, gz_post(kCsv))["message_count"], 2);
  EXPECT_EQ(api.applied(row_key("events", {{"id", "1"}, {"email", "a@x.io"}})), 1);
  EXPECT_EQ(api.accepted()["uploads"][0]["gzip"], true);
  // The encoding's name ignores case; identity is plain.
  EXPECT_EQ(accepted_data(api, with_header(gz_post(kCsv), "Content-Encoding", "GZIP"))["message_count"], 2);
  EXPECT_EQ(accepted_data(api, with_header(post(kCsv), "Content-Encoding", "identity"))["message_count"], 2);
  EXPECT_EQ(api.accepted()["uploads"][2]["gzip"], false);
  EXPECT_EQ(api.applied(row_key("events", {{"id", "1"}, {"email", "a@x.io"}})), 3);
  // Two members in a row are one file.
  EXPECT_EQ(accepted_data(api, gz_raw(gzip("id,email\n7,g\n") + gzip("8,h\n")))["message_count"], 2);
  EXPECT_EQ(api.applied(row_key("events", {{"id", "8"}, {"email", "h"}})), 1);
}

TEST(LyticsGzip, AGzipBodyWithoutContentEncodingIsSniffedUnlessTurnedOff) {
  // [OAS]'s example posts users.csv.gz with only Content-type: application/csv.
  LyticsApi api(opts());
  EXPECT_EQ(accepted_data(api, post(gzip(kCsv)))["message_count"], 2);
  EXPECT_EQ(api.accepted()["uploads"][0]["gzip"], true);
  LyticsApiOptions o = opts();
  o.gzip_sniff = false;
  LyticsApi strict(o);
  expect_error(strict.handle(post(gzip(kCsv)), kTimeZero), 400,
               "The body is gzip-compressed but Content-Encoding is not gzip");
  EXPECT_EQ(strict.handle(gz_post(kCsv), kTimeZero).status, 200);
  // A body declared identity is read as it is, gzip magic or not.
  EXPECT_EQ(api.handle(with_header(post(gzip(kCsv)), "Content-Encoding", "identity"), kTimeZero).status, 400);
  EXPECT_EQ(strict.applications(), 2);
}

TEST(LyticsGzip, TheInflatedSizeIsBounded) {
  LyticsApiOptions o = opts();
  o.inflated_bytes_max = 100;
  LyticsApi api(o);
  EXPECT_EQ(api.handle(gz_post(csv_of_size(100)), kTimeZero).status, 200);
  const Request over = gz_post(csv_of_size(101));
  ASSERT_LT(over.body.size(), 100u);  // small on the wire
  expect_error(api.handle(over, kTimeZero), 413, "The gzip body inflates to more than 100 bytes");
  EXPECT_EQ(api.uploads(), 1);
  EXPECT_EQ(LyticsApiOptions{}.inflated_bytes_max, std::int64_t{1} << 30);
}

// -------------------------------------------------------------------- size

TEST(LyticsSize, ApiHostCapsTheBodyAt10MBAndTheBulkHostDoesNot) {
  LyticsApi api(opts());
  const std::string exactly = csv_of_size(10'000'000);
  const std::string over = csv_of_size(10'000'001);
  ASSERT_EQ(exactly.size(), 10'000'000u);
  ASSERT_EQ(over.size(), 10'000'001u);
  EXPECT_EQ(api.handle(post(exactly, "", "events", kApi), kTimeZero).status, 200);
  expect_error(api.handle(post(over, "", "events", kApi), kTimeZero), 413,
               "The body is 10000001 bytes, over the limit of 10000000 bytes on api.lytics.io (use bulk.lytics.io "
               "for large files)");
  // The host's case and a port do not matter.
  EXPECT_EQ(api.handle(post(over, "", "events", "API.Lytics.io:443"), kTimeZero).status, 413);
  EXPECT_EQ(api.handle(post(over, "", "events", kBulk), kTimeZero).status, 200);
  // A gzip body small on the wire is capped by its inflated size on api.lytics.io (strict) ...
  Request gz = gz_post(over);
  ASSERT_LT(gz.body.size(), 1'000'000u);
  gz.host = kApi;
  expect_error(api.handle(gz, kTimeZero), 413, "The gzip body inflates to more than 10000000 bytes");
  // ... and not on the bulk host.
  gz.host = kBulk;
  EXPECT_EQ(api.handle(gz, kTimeZero).status, 200);
  const nlohmann::json uploads = api.accepted()["uploads"];
  ASSERT_EQ(uploads.size(), 3u);
  EXPECT_EQ(uploads[0]["host"], kApi);
  EXPECT_EQ(uploads[1]["host"], kBulk);
  EXPECT_EQ(uploads[2]["gzip"], true);
  EXPECT_EQ(LyticsApiOptions{}.api_bytes_max, 10'000'000);
}

TEST(LyticsSize, BulkBytesMaxCapsEveryOtherHost) {
  EXPECT_EQ(LyticsApiOptions{}.bulk_bytes_max, std::int64_t{1} << 30);
  LyticsApiOptions o = opts();
  o.bulk_bytes_max = 50;
  o.api_bytes_max = 60;
  LyticsApi api(o);
  EXPECT_EQ(api.handle(post(csv_of_size(50)), kTimeZero).status, 200);
  expect_error(api.handle(post(csv_of_size(51)), kTimeZero), 413, "over the limit of 50 bytes on this host");
  expect_error(api.handle(post(csv_of_size(51), "", "events", "127.0.0.1:8080"), kTimeZero), 413, "of 50 bytes");
  EXPECT_EQ(api.handle(post(csv_of_size(60), "", "events", kApi), kTimeZero).status, 200);
  expect_error(api.handle(post(csv_of_size(61), "", "events", kApi), kTimeZero), 413, "of 60 bytes on api.lytics.io");
}

// ------------------------------------------------------------------ oracle

TEST(LyticsOracle, EveryAppliedRowCountsOnceUnderItsNonEmptyCells) {
  LyticsApi api(opts());
  const std::string csv = "id,email,note\n1,a@x.io,\n1,a@x.io,\n2,,z\n";
  EXPECT_EQ(accepted_data(api, post(csv))["message_count"], 3);
  // Rows are events: the same row twice applies twice.
  EXPECT_EQ(api.applied(row_key("events", {{"id", "1"}, {"email", "a@x.io"}})), 2);
  EXPECT_EQ(api.applied(row_key("events", {{"id", "2"}, {"note", "z"}})), 1);
  // Empty cells are not part of the key.
  EXPECT_EQ(api.applied(row_key("events", {{"id", "1"}, {"email", "a@x.io"}, {"note", ""}})), 0);
  // The stream is.
  EXPECT_EQ(api.applied(row_key("other", {{"id", "1"}, {"email", "a@x.io"}})), 0);
  EXPECT_EQ(accepted_data(api, post("id,email\n1,a@x.io\n", "", "other"))["message_count"], 1);
  EXPECT_EQ(api.applied(row_key("other", {{"id", "1"}, {"email", "a@x.io"}})), 1);
  EXPECT_EQ(api.applications(), 4);
  const nlohmann::json state = api.accepted();
  EXPECT_EQ(state["distinct_applications"], 3);
  EXPECT_EQ(state["streams"], nlohmann::json::parse(R"({"events": 3, "other": 1})"));
  // The documented key names the stream and the row.
  EXPECT_EQ(
      row_key("events", {{"id", "2"}, {"note", "z"}}),
      oracle_key("lytics.row", nlohmann::json::parse(R"({"stream": "events", "row": {"id": "2", "note": "z"}})")));
}

TEST(LyticsOracle, AppendAddsItsNonEmptyPairsToEveryRow) {
  LyticsApi api(opts());
  // append = urlencode({"source":"crm","blank":""}), [OAS]'s example plus an empty value.
  EXPECT_EQ(accepted_data(api, post("id\n1\n2\n",
                                    "append=%7B%22source%22%3A%22crm%22%2C%22blank%22%3A%22%22%7D"))["message_count"],
            2);
  EXPECT_EQ(api.applied(row_key("events", {{"id", "1"}, {"source", "crm"}})), 1);
  EXPECT_EQ(api.applied(row_key("events", {{"id", "2"}, {"source", "crm"}})), 1);
  EXPECT_EQ(api.applied(row_key("events", {{"id", "1"}})), 0);
  // A row whose own cells are all empty is still rejected.
  expect_error(api.handle(post("id,x\n,\n", "append=%7B%22source%22%3A%22crm%22%7D"), kTimeZero), 400,
               "row 1: every cell is empty");
}

// -------------------------------------------------------------- rate limit

TEST(LyticsRateLimit, FixedMinuteWindowsWithRetryAfter) {
  EXPECT_EQ(LyticsApiOptions{}.requests_per_minute, 0);  // off by default (UNCONFIRMED)
  LyticsApiOptions o = opts();
  o.requests_per_minute = 2;
  LyticsApi api(o);
  // Refused keys count toward no window.
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(api.handle(with_header(post(kCsv), "Authorization", "bad"), kTimeZero).status, 401);
  EXPECT_EQ(api.handle(post(kCsv), at(1s)).status, 200);
  Request lost = post(kCsv);
  lost.path = "/nowhere";
  EXPECT_EQ(api.handle(lost, at(2s)).status, 404);  // authenticated: it counts
  const Response refused = api.handle(post(kCsv), at(10s));
  expect_error(refused, 429, "Rate limit exceeded: 2 requests per minute; retry in 50s");
  EXPECT_EQ(refused.headers.get("Retry-After"), "50");
  EXPECT_EQ(api.handle(post(kCsv), at(10500ms)).headers.get("Retry-After"), "50");  // 49.5s, rounded up
  const Response late = api.handle(post(kCsv), at(59500ms));
  EXPECT_EQ(late.status, 429);
  EXPECT_EQ(late.headers.get("Retry-After"), "1");  // half a second, rounded up
  // A new window at one minute.
  EXPECT_EQ(api.handle(post(kCsv), at(60s)).status, 200);
  EXPECT_EQ(api.handle(post(kCsv), at(119s)).status, 200);
  EXPECT_EQ(api.handle(post(kCsv), at(119999ms)).status, 429);
  EXPECT_EQ(api.handle(post(kCsv), at(120s)).status, 200);
  // Refused requests applied nothing and did not count.
  EXPECT_EQ(api.applications(), 8);
  const nlohmann::json state = api.accepted();
  EXPECT_EQ(state["rate_limited"], 4);
  EXPECT_EQ(state["auth_refusals"], 3);
  EXPECT_EQ(state["rejected"], 8);
  EXPECT_EQ(state["requests"], 12);
}

// ----------------------------------------------------------------- latency

TEST(LyticsLatency, ServiceTimeIsProportionalToTheBodyAsSent) {
  LyticsApiOptions o = opts();
  o.latency = 5ms;
  LyticsApi api(o);
  EXPECT_EQ(api.latency(), 5ms);
  EXPECT_EQ(LyticsApiOptions{}.service_per_mb, 100ms);
  Request r = post("");
  EXPECT_EQ(api.latency_for(r), 5ms);
  r.body.assign(1'000'000, 'x');
  EXPECT_EQ(api.latency_for(r), 105ms);
  r.body.assign(2'500'000, 'x');
  EXPECT_EQ(api.latency_for(r), 255ms);
  r.body.assign(1, 'x');
  EXPECT_EQ(api.latency_for(r), 5ms + 100ns);
  o.service_per_mb = 0ms;
  EXPECT_EQ(LyticsApi(o).latency_for(r), 5ms);
  o.service_per_mb = 2500ns;  // not a whole number of ns per byte
  r.body.assign(2'000'000, 'x');
  EXPECT_EQ(LyticsApi(o).latency_for(r), 5ms + 5000ns);
  o.service_per_mb = 1h;
  r.body.assign(3'000'000, 'x');
  EXPECT_EQ(LyticsApi(o).latency_for(r), 5ms + 3h);
}

// ----------------------------------------------------------------- options

TEST(LyticsOptions, ReadsEveryKeyAndNamesTheBadOne) {
  auto o = LyticsApiOptions::from_json(
      nlohmann::json::parse(R"({"api_key": {"secret": "s"}, "latency": "5ms", "api_bytes_max": "5MB",
        "bulk_bytes_max": "2GB", "inflated_bytes_max": 1000, "requests_per_minute": 60, "service_per_mb": "1s",
        "gzip_sniff": false})"),
      "s.json: /fake/options");
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->api_key, "s");
  EXPECT_EQ(o->latency, 5ms);
  EXPECT_EQ(o->api_bytes_max, 5'000'000);
  EXPECT_EQ(o->bulk_bytes_max, 2'000'000'000);
  EXPECT_EQ(o->inflated_bytes_max, 1000);
  EXPECT_EQ(o->requests_per_minute, 60);
  EXPECT_EQ(o->service_per_mb, 1s);
  EXPECT_FALSE(o->gzip_sniff);
  EXPECT_EQ(LyticsApi(*o).latency(), 5ms);

  auto d = LyticsApiOptions::from_json(nullptr, "d");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->api_key, "");
  EXPECT_EQ(d->api_bytes_max, 10'000'000);
  EXPECT_TRUE(d->gzip_sniff);

  const std::pair<const char*, const char*> bad[] = {
      {R"({"api_bytes_max": 0})", "/api_bytes_max"},
      {R"({"bulk_bytes_max": "lots"})", "/bulk_bytes_max"},
      {R"({"inflated_bytes_max": -1})", "/inflated_bytes_max"},
      {R"({"requests_per_minute": -1})", "/requests_per_minute"},
      {R"({"requests_per_minute": "60"})", "/requests_per_minute"},
      {R"({"service_per_mb": 100})", "/service_per_mb"},
      {R"({"service_per_mb": "2h"})", "/service_per_mb"},
      {R"({"gzip_sniff": "yes"})", "/gzip_sniff"},
      {R"({"api_key": 7})", "/api_key"},
      {R"({"latency": "fast"})", "/latency"},
      {R"({"status_values": {}})", "/status_values: unknown key"},
      {R"({"requests_per_second": 1})", "/requests_per_second: unknown key"},
  };
  for (const auto& [text, where] : bad) {
    auto r = LyticsApiOptions::from_json(nlohmann::json::parse(text), "s.json: /fake/options");
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.error().message.find(std::string("s.json: /fake/options") + where), std::string::npos)
        << text << ": " << r.error().message;
  }
}

// ------------------------------------------------------------------- state

TEST(LyticsState, AcceptedHasTheDocumentedShape) {
  LyticsApiOptions o = opts();
  o.requests_per_minute = 4;
  LyticsApi api(o);
  EXPECT_EQ(api.handle(post("id,email\n1,a\n2\n1,a\n", "droperrors=true", "users", kApi), kTimeZero).status, 200);
  EXPECT_EQ(api.handle(gz_post("id\n9\n", "dryrun=true"), kTimeZero).status, 200);
  EXPECT_EQ(api.handle(post(""), kTimeZero).status, 400);
  EXPECT_EQ(api.handle(with_header(post(kCsv), "Authorization", "nope"), kTimeZero).status, 401);
  EXPECT_EQ(api.handle(post(kCsv), kTimeZero).status, 200);
  EXPECT_EQ(api.handle(post(kCsv), kTimeZero).status, 429);
  EXPECT_EQ(api.accepted(), nlohmann::json::parse(R"({
      "requests": 6, "rejected": 3, "auth_refusals": 1, "rate_limited": 1,
      "uploads": [
        {"stream": "users", "host": "api.lytics.io", "rows": 3, "message_count": 2, "rejected_count": 1,
         "dryrun": false, "droperrors": true, "gzip": false},
        {"stream": "events", "host": "bulk.lytics.io", "rows": 1, "message_count": 1, "rejected_count": 0,
         "dryrun": true, "droperrors": false, "gzip": true},
        {"stream": "events", "host": "bulk.lytics.io", "rows": 2, "message_count": 2, "rejected_count": 0,
         "dryrun": false, "droperrors": false, "gzip": false}],
      "streams": {"events": 2, "users": 2},
      "applications": 4, "distinct_applications": 3, "rows_rejected": 1})"));
  EXPECT_EQ(api.requests(), 6);
}

TEST(LyticsState, ResetForgetsEverything) {
  LyticsApiOptions o = opts();
  o.requests_per_minute = 1;
  LyticsApi api(o);
  EXPECT_EQ(api.handle(post(kCsv), kTimeZero).status, 200);
  EXPECT_EQ(api.handle(post(kCsv), kTimeZero).status, 429);
  ASSERT_EQ(api.applications(), 2);
  api.reset();
  EXPECT_EQ(api.applied(row_key("events", {{"id", "1"}, {"email", "a@x.io"}})), 0);
  EXPECT_EQ(api.accepted(), nlohmann::json::parse(R"({"requests": 0, "rejected": 0, "auth_refusals": 0,
      "rate_limited": 0, "uploads": [], "streams": {}, "applications": 0, "distinct_applications": 0,
      "rows_rejected": 0})"));
  // The window's count is forgotten too.
  EXPECT_EQ(api.handle(post(kCsv), kTimeZero).status, 200);
}

// An answer stays valid JSON whatever bytes the client sent.
TEST(LyticsState, MessagesQuoteClientBytesAsValidUtf8) {
  LyticsApi api(opts());
  const Response r = api.handle(post(kCsv, "f%FFo=1"), kTimeZero);
  expect_error(r, 400, "Unknown query parameter \"f\\xFFo\"");
  Request host = post(kCsv);
  host.host = "bulk\xFF.lytics.io";
  EXPECT_EQ(api.handle(host, kTimeZero).status, 200);
  EXPECT_EQ(api.accepted()["uploads"][0]["host"], "bulk\\xFF.lytics.io");
  EXPECT_NO_THROW((void)api.accepted().dump());
}

}  // namespace
}  // namespace destsim
