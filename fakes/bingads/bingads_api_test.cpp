#include "fakes/bingads/bingads_api.h"

#include <gtest/gtest.h>
#include <zip.h>

#include <array>

#include "framework/json_in.h"
#include "framework/oracle.h"

namespace destsim {
namespace {

using namespace std::chrono_literals;

constexpr const char* kToken = "tok-1";
constexpr const char* kDev = "dev-1";
constexpr const char* kCustomer = "1000";
constexpr const char* kAccount = "123";
constexpr const char* kSoapHost = "bulk.api.bingads.microsoft.com";
constexpr const char* kServicePath = "/Api/Advertiser/CampaignManagement/v13/BulkService.svc";
const std::string kBom = "\xEF\xBB\xBF";

BingAdsApiOptions opts() {
  BingAdsApiOptions o;
  o.token = kToken;
  o.developer_token = kDev;
  o.customer_id = kCustomer;
  o.account_ids = {123};
  o.audience_ids = {555};
  o.conversion_goals = {"Purchase"};
  return o;
}

// ── SOAP ────────────────────────────────────────────────────────────────────

using Fields = std::vector<std::pair<std::string, std::string>>;

// The envelope as bing-ads-go-sdk's xml.MarshalIndent writes it; `header`
// entries replace the SDK's (a value "<omit>" drops one).
std::string envelope(const std::string& action, const Fields& body, const Fields& header = {}) {
  Fields h = {{"Action", action},
              {"AuthenticationToken", kToken},
              {"CustomerAccountId", kAccount},
              {"CustomerId", kCustomer},
              {"DeveloperToken", kDev}};
  for (const auto& [key, v] : header) {
    const std::string& k = key;
    auto it = std::find_if(h.begin(), h.end(), [&](const auto& e) { return e.first == k; });
    if (it == h.end()) h.emplace_back(k, v);
    else it->second = v;
  }
  std::string x =
      "<s:Envelope xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" "
      "xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\">\n"
      "  <s:Header xmlns=\"https://bingads.microsoft.com/CampaignManagement/v13\">\n";
  for (const auto& [k, v] : h) {
    if (v == "<omit>") continue;
    x += "    <" + k + (k == "Action" ? " mustUnderstand=\"1\"" : "") + ">" + v + "</" + k + ">\n";
  }
  x += "  </s:Header>\n  <s:Body>\n    <" + action +
       "Request xmlns=\"https://bingads.microsoft.com/CampaignManagement/v13\">\n";
  for (const auto& [k, v] : body) x += "      <" + k + ">" + v + "</" + k + ">\n";
  x += "    </" + action + "Request>\n  </s:Body>\n</s:Envelope>";
  return x;
}

Request soap_request(const std::string& action, const std::string& xml) {
  Request r;
  r.method = "POST";
  r.host = kSoapHost;
  r.path = kServicePath;
  r.headers.set("Content-Type", "text/xml; charset=utf-8");
  r.headers.set("SOAPAction", action);
  r.body = xml;
  return r;
}

Request url_request(const Fields& body = {{"AccountId", kAccount}, {"ResponseMode", "ErrorsOnly"}},
                    const Fields& header = {}) {
  return soap_request("GetBulkUploadUrl", envelope("GetBulkUploadUrl", body, header));
}

Request status_request(const std::string& id, const Fields& header = {}) {
  return soap_request("GetBulkUploadStatus", envelope("GetBulkUploadStatus", {{"RequestId", id}}, header));
}

std::string between(const std::string& s, const std::string& open, const std::string& close) {
  const auto a = s.find(open);
  if (a == std::string::npos) return "<absent>";
  const auto b = s.find(close, a + open.size());
  return b == std::string::npos ? "<absent>" : s.substr(a + open.size(), b - a - open.size());
}

std::string unescape(std::string s) {
  for (std::size_t p; (p = s.find("&amp;")) != std::string::npos;) s.replace(p, 5, "&");
  return s;
}

struct Ticket {
  std::string request_id, upload_url;
};

Ticket get_url(BingAdsApi& api, Time now, const std::string& mode = "ErrorsOnly") {
  Response r = api.handle(url_request({{"ResponseMode", mode}, {"AccountId", kAccount}}), now);
  EXPECT_EQ(r.status, 200) << r.body;
  return {between(r.body, "<RequestId>", "</RequestId>"), unescape(between(r.body, "<UploadUrl>", "</UploadUrl>"))};
}

struct Status {
  int http = 0;
  std::string status, percent, result_url, errors, body;
};

Status status_of(BingAdsApi& api, const std::string& id, Time now) {
  Response r = api.handle(status_request(id), now);
  Status s;
  s.http = r.status;
  s.body = r.body;
  s.status = between(r.body, "<RequestStatus>", "</RequestStatus>");
  s.percent = between(r.body, "<PercentComplete>", "</PercentComplete>");
  s.result_url = unescape(between(r.body, "<ResultFileUrl>", "</ResultFileUrl>"));
  s.errors = between(r.body, "<ErrorCode>", "</ErrorCode>");
  return s;
}

// The AdApiError or OperationError code and name of a fault.
std::pair<std::string, std::string> fault_of(const Response& r) {
  return {between(r.body, "<Code>", "</Code>"), between(r.body, "<ErrorCode>", "</ErrorCode>")};
}

// ── Files ───────────────────────────────────────────────────────────────────

std::string make_zip(const std::vector<std::pair<std::string, std::string>>& files) {
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t* out = zip_source_buffer_create(nullptr, 0, 0, &ze);
  zip_source_keep(out);
  zip_t* za = zip_open_from_source(out, ZIP_CREATE | ZIP_TRUNCATE, &ze);
  for (const auto& [name, content] : files)
    zip_file_add(za, name.c_str(), zip_source_buffer(za, content.data(), content.size(), 0), 0);
  EXPECT_EQ(zip_close(za), 0);
  zip_stat_t st;
  zip_stat_init(&st);
  zip_source_stat(out, &st);
  std::string bytes(st.size, '\0');
  zip_source_open(out);
  zip_source_read(out, bytes.data(), bytes.size());
  zip_source_close(out);
  zip_source_free(out);
  return bytes;
}

std::vector<std::pair<std::string, std::string>> unzip(const std::string& data) {
  std::vector<std::pair<std::string, std::string>> out;
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t* src = zip_source_buffer_create(data.data(), data.size(), 0, &ze);
  zip_t* za = zip_open_from_source(src, ZIP_RDONLY, &ze);
  if (!za) {
    zip_source_free(src);
    ADD_FAILURE() << "not a zip";
    return out;
  }
  for (zip_int64_t i = 0; i < zip_get_num_entries(za, 0); ++i) {
    zip_stat_t st;
    zip_stat_index(za, static_cast<zip_uint64_t>(i), 0, &st);
    std::string content(st.size, '\0');
    zip_file_t* f = zip_fopen_index(za, static_cast<zip_uint64_t>(i), 0);
    zip_fread(f, content.data(), content.size());
    zip_fclose(f);
    out.emplace_back(st.name, content);
  }
  zip_discard(za);
  return out;
}

std::string join(const std::vector<std::string>& cells) {
  std::string s;
  for (std::size_t i = 0; i < cells.size(); ++i) s += (i ? "," : "") + cells[i];
  return s;
}

std::string csv(const std::vector<std::vector<std::string>>& rows, bool bom = true) {
  std::string s = bom ? kBom : "";
  for (const auto& r : rows) s += join(r) + "\n";
  return s;
}

const std::vector<std::string> kAudienceHeader = {"Type",        "Status",   "Id",   "Parent Id", "Client Id",
                                                  "Modified Time", "Name",   "Description", "Scope", "Audience",
                                                  "Action Type", "Sub Type", "Text"};
const std::vector<std::string> kAudienceVersion = {"Format Version", "", "", "", "", "", "6.0", "", "", "", "", "", ""};

std::string hash(int n) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fnv1a64("h" + std::to_string(n))));
  return std::string(buf) + buf + buf + buf;
}

struct Item {
  std::string client, sub_type, text;
};
Item item(int n) { return {"7<<>>" + hash(n), "Email", hash(n)}; }

std::vector<std::string> list_row(const std::string& id, const std::string& action) {
  return {"Customer List", "", id, "", "", "", "", "", "", "", action, "", ""};
}
std::vector<std::string> item_row(const std::string& parent, const Item& i) {
  return {"Customer List Item", "", "", parent, i.client, "", "", "", "", "", "", i.sub_type, i.text};
}

std::string audience_csv(const std::string& id, const std::string& action, const std::vector<Item>& items) {
  std::vector<std::vector<std::string>> rows = {kAudienceHeader, kAudienceVersion, list_row(id, action)};
  for (const Item& i : items) rows.push_back(item_row(id, i));
  return csv(rows);
}

const std::vector<std::string> kInsertHeader = {
    "Type",        "Status",          "Id",              "Parent Id",        "Client Id",
    "Name",        "Conversion Currency Code", "Conversion Name", "Conversion Time", "Conversion Value",
    "Microsoft Click Id", "Hashed Email Address", "Hashed Phone Number", "External Attribution Credit",
    "External Attribution Model"};
const std::vector<std::string> kUpdateHeader = {
    "Type",           "Adjustment Type", "Client Id",          "Id",
    "Name",           "Conversion Name", "Conversion Time",    "Adjustment Value",
    "Microsoft Click Id", "Hashed Email Address", "Hashed Phone Number", "Adjusted Currency Code",
    "Adjustment Time"};
const std::vector<std::string> kDeleteHeader = {
    "Type", "Adjustment Type", "Client Id", "Id", "Name", "Conversion Name", "Conversion Time", "Microsoft Click Id",
    "Hashed Email Address", "Hashed Phone Number", "Adjustment Time"};

std::vector<std::string> version_row(std::size_t columns, std::size_t name_at) {
  std::vector<std::string> r(columns);
  r[0] = "Format Version";
  r[name_at] = "6.0";
  return r;
}

const std::string kClick = "f894f652ea334e739002f7167ab8f8e3";

struct Conv {
  std::string id, client, currency = "USD", name = "Purchase", time = "1/1/2024 6:50:54 PM", value = "10",
                              click = kClick, email = "", phone = "";
};
std::vector<std::string> insert_row(const Conv& c) {
  return {"Offline Conversion", "", c.id, "", c.client, "", c.currency, c.name, c.time, c.value, c.click,
          c.email, c.phone, "", ""};
}
struct Adj {
  std::string id, client, type = "Restate", name = "Purchase", time = "1/1/2024 6:50:54 PM", value = "20",
                              click = kClick, currency = "EUR", adjusted = "1/1/2024 8:00:00 PM";
};
std::vector<std::string> update_row(const Adj& a) {
  return {"Offline Conversion", a.type, a.client, a.id, "", a.name, a.time, a.value, a.click, "", "",
          a.currency, a.adjusted};
}
std::vector<std::string> delete_row(const Adj& a) {
  return {"Offline Conversion", a.type, a.client, a.id, "", a.name, a.time, a.click, "", "", a.adjusted};
}

std::string insert_csv(const std::vector<Conv>& cs) {
  std::vector<std::vector<std::string>> rows = {kInsertHeader, version_row(15, 5)};
  for (const Conv& c : cs) rows.push_back(insert_row(c));
  return csv(rows);
}
std::string update_csv(const std::vector<Adj>& as) {
  std::vector<std::vector<std::string>> rows = {kUpdateHeader, version_row(13, 4)};
  for (const Adj& a : as) rows.push_back(update_row(a));
  return csv(rows);
}
std::string delete_csv(const std::vector<Adj>& as) {
  std::vector<std::vector<std::string>> rows = {kDeleteHeader, version_row(11, 4)};
  for (Adj a : as) {
    a.type = "Retract";
    rows.push_back(delete_row(a));
  }
  return csv(rows);
}

std::string zip_csv(const std::string& csv_text, const std::string& name = "upload.csv") {
  return make_zip({{name, csv_text}});
}

// ── Uploads ─────────────────────────────────────────────────────────────────

Request upload_request(const std::string& url, const std::string& zip, const std::string& filename = "upload.zip",
                       const Fields& headers = {}) {
  Request r;
  r.method = "POST";
  const auto scheme = url.find("://");
  const auto slash = url.find('/', scheme + 3);
  r.host = url.substr(scheme + 3, slash - scheme - 3);
  r.path = url.substr(slash);
  r.headers.set("AuthenticationToken", kToken);
  r.headers.set("DeveloperToken", kDev);
  r.headers.set("CustomerId", kCustomer);
  r.headers.set("AccountId", kAccount);
  r.headers.set("Content-Type", "multipart/form-data; boundary=XyZzY");
  for (const auto& [k, v] : headers) {
    if (v == "<omit>") r.headers.remove(k);
    else r.headers.set(k, v);
  }
  r.body = "--XyZzY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + filename +
           "\"\r\nContent-Type: application/zip\r\n\r\n" + zip + "\r\n--XyZzY--\r\n";
  return r;
}

// GetBulkUploadUrl, then the upload: the RequestId.
std::string submit(BingAdsApi& api, const std::string& zip, Time now, const std::string& mode = "ErrorsOnly") {
  Ticket t = get_url(api, now, mode);
  Response r = api.handle(upload_request(t.upload_url, zip), now);
  EXPECT_EQ(r.status, 200) << r.body;
  return t.request_id;
}

// Submits and polls once after the whole lifecycle (10s queued + 1m processing).
Status submit_and_finish(BingAdsApi& api, const std::string& zip, Time now, const std::string& mode = "ErrorsOnly") {
  const std::string id = submit(api, zip, now, mode);
  return status_of(api, id, now + 70s);
}

Request get(const std::string& url) {
  Request r;
  r.method = "GET";
  const auto scheme = url.find("://");
  const auto slash = url.find('/', scheme + 3);
  r.host = url.substr(scheme + 3, slash - scheme - 3);
  r.path = url.substr(slash);
  return r;
}

// The result file's CSV rows, the BOM checked and stripped.
std::vector<std::vector<std::string>> result_rows(BingAdsApi& api, const std::string& url, Time now) {
  Response r = api.handle(get(url), now);
  EXPECT_EQ(r.status, 200) << r.body;
  auto files = unzip(r.body);
  EXPECT_EQ(files.size(), 1u);
  if (files.size() != 1) return {};
  std::string text = files[0].second;
  EXPECT_EQ(text.substr(0, 3), kBom);
  text = text.substr(3);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string cell;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') cell.push_back('"'), ++i;
      else if (c == '"') quoted = false;
      else cell.push_back(c);
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(cell), cell.clear();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      row.push_back(cell), cell.clear();
      rows.push_back(row), row.clear();
      ++i;
    } else {
      EXPECT_NE(c, '\n') << "a bare LF: lines end with CRLF";
      cell.push_back(c);
    }
  }
  return rows;
}

// Rows as maps from the header's names to the non-empty cells.
std::vector<std::map<std::string, std::string>> named(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::map<std::string, std::string>> out;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    std::map<std::string, std::string> m;
    for (std::size_t j = 0; j < rows[i].size(); ++j)
      if (!rows[i][j].empty()) m[rows[0][j]] = rows[i][j];
    out.push_back(m);
  }
  return out;
}

std::string member_key(const std::string& audience, const std::string& action, const std::string& h) {
  return oracle_key("bingads.customer_list_item", {{"audience", audience}, {"action", action}, {"hash", h}});
}

nlohmann::json accepted_upload(const BingAdsApi& api, std::size_t i) { return api.accepted()["uploads"][i]; }

// ── SOAP parsing ────────────────────────────────────────────────────────────

TEST(BingAdsSoap, TheSdksEnvelopeGetsAnUploadUrlWhoseResponseModeIsIgnored) {
  BingAdsApi api(opts());
  // The SDK's order: AccountId, then ResponseMode — which WCF's ordered reading skips.
  Response r = api.handle(url_request({{"AccountId", kAccount}, {"ResponseMode", "ErrorsAndResults"}}), kTimeZero);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.get("Content-Type").value_or(""), "text/xml; charset=utf-8");
  const std::string id = between(r.body, "<RequestId>", "</RequestId>");
  EXPECT_EQ(id.size(), 36u);
  EXPECT_EQ(id.substr(24), "000000000001");
  const std::string raw_url = between(r.body, "<UploadUrl>", "</UploadUrl>");
  EXPECT_NE(raw_url.find("&amp;AccountId=123"), std::string::npos) << "the query's & is XML-escaped";
  EXPECT_EQ(unescape(raw_url), "https://fileupload.api.bingads.microsoft.com/Api/Advertiser/CampaignManagement/v13/"
                               "FileUpload/File/UploadBulkFile/" + id + "?Ver=13&AccountId=123");
  EXPECT_NE(r.body.find("<TrackingId d3p1:nil=\"false\""), std::string::npos);
  EXPECT_EQ(accepted_upload(api, 0)["response_mode"], "ErrorsOnly");
  EXPECT_EQ(accepted_upload(api, 0)["status"], "PendingFileUpload");

  // The documented order reads it.
  get_url(api, kTimeZero, "ErrorsAndResults");
  EXPECT_EQ(accepted_upload(api, 1)["response_mode"], "ErrorsAndResults");
  // Absent: ErrorsOnly.
  ASSERT_EQ(api.handle(url_request({{"AccountId", kAccount}}), kTimeZero).status, 200);
  EXPECT_EQ(accepted_upload(api, 2)["response_mode"], "ErrorsOnly");
  EXPECT_EQ(api.accepted()["faults"]["BadRequest"], 0);
}

TEST(BingAdsSoap, TransportChecksComeFirst) {
  BingAdsApi api(opts());
  Request get_req = url_request();
  get_req.method = "GET";
  EXPECT_EQ(api.handle(get_req, kTimeZero).status, 405);
  Request json = url_request();
  json.headers.set("Content-Type", "application/soap+xml; charset=utf-8");  // SOAP 1.2's
  EXPECT_EQ(api.handle(json, kTimeZero).status, 415);
  Request no_charset = url_request();
  no_charset.headers.set("Content-Type", "text/xml");
  EXPECT_EQ(api.handle(no_charset, kTimeZero).status, 415);
  Request upper = url_request();
  upper.headers.set("Content-Type", "Text/XML; Charset=UTF-8");
  EXPECT_EQ(api.handle(upper, kTimeZero).status, 200);

  Request no_action = url_request();
  no_action.headers.remove("SOAPAction");
  Response r = api.handle(no_action, kTimeZero);
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("<faultcode xmlns:a=\"http://schemas.microsoft.com/ws/2005/05/addressing/none\">"
                        "a:ActionNotSupported</faultcode>"),
            std::string::npos)
      << r.body;
  Request other = url_request();
  other.headers.set("SOAPAction", "DownloadCampaignsByAccountIds");
  EXPECT_EQ(api.handle(other, kTimeZero).status, 500);
  Request quoted = url_request();
  quoted.headers.set("SOAPAction", "\"GetBulkUploadUrl\"");
  EXPECT_EQ(api.handle(quoted, kTimeZero).status, 200);

  Request wrong_path = url_request();
  wrong_path.path = "/Api/Advertiser/CampaignManagement/v12/BulkService.svc";
  const Response not_found = api.handle(wrong_path, kTimeZero);
  EXPECT_EQ(not_found.status, 404);
  EXPECT_EQ(not_found.body, "");
  const Response get_answer = api.handle(get_req, kTimeZero);
  EXPECT_EQ(get_answer.body, "");
  Request on_upload_host = url_request();
  on_upload_host.host = "fileupload.api.bingads.microsoft.com";
  EXPECT_EQ(api.handle(on_upload_host, kTimeZero).status, 404);
  EXPECT_EQ(api.accepted()["faults"]["ActionNotSupported"], 2);
  EXPECT_EQ(api.accepted()["uploads"].size(), 2u);
}

TEST(BingAdsSoap, MalformedOrUnexpectedXmlIsA400ClientFault) {
  const std::string ok = envelope("GetBulkUploadUrl", {{"AccountId", kAccount}});
  auto with = [&](std::string from, std::string to) {
    std::string x = ok;
    const auto at = x.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return at == std::string::npos ? x : x.replace(at, from.size(), to);
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not well-formed", with("</s:Body>", "</s:Bdy>")},
      {"an undefined entity", with("<AuthenticationToken>tok-1", "<AuthenticationToken>tok-1&nbsp;")},
      {"a duplicate attribute", with("<s:Body>", "<s:Body i:nil=\"false\" i:nil=\"false\">")},
      {"two roots", ok + "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"/>"},
      {"text outside the root", ok + "trailing"},
      {"a DOCTYPE", "<!DOCTYPE x>" + ok},
      {"a UTF-16 declaration", "<?xml version=\"1.0\" encoding=\"utf-16\"?>" + ok},
      {"an unbound prefix", with("<s:Body>", "<t:Body>")},
      {"SOAP 1.2", with("http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope")},
      {"no Header", with("<s:Header", "<s:Hidden").replace(ok.find("</s:Header>"), 11, "</s:Hidden>")},
      {"an unknown header entry", with("<DeveloperToken>", "<Tenant>x</Tenant><DeveloperToken>")},
      {"a header entry twice", with("<DeveloperToken>", "<CustomerId>1000</CustomerId><DeveloperToken>")},
      {"an Action other than SOAPAction", with(">GetBulkUploadUrl</Action>", ">GetBulkUploadStatus</Action>")},
      {"mustUnderstand on another entry", with("<DeveloperToken>", "<DeveloperToken s:mustUnderstand=\"1\">")},
      {"a bad mustUnderstand", with("mustUnderstand=\"1\"", "mustUnderstand=\"yes\"")},
      {"AccountId beyond 64 bits", with("<AccountId>123", "<AccountId>9223372036854775808")},
      {"another request element",
       envelope("GetBulkUploadStatus", {{"RequestId", "x"}}, {{"Action", "GetBulkUploadUrl"}})},
      {"the request in no namespace", with("<GetBulkUploadUrlRequest xmlns=\"https://bingads.microsoft.com/"
                                           "CampaignManagement/v13\">",
                                           "<GetBulkUploadUrlRequest>")},
      {"an unknown request element", with("<AccountId>", "<Scope>x</Scope><AccountId>")},
      {"element content in a leaf", with("<AccountId>123", "<AccountId><long>123</long>")},
      {"a bad ResponseMode", with("<AccountId>", "<ResponseMode>Everything</ResponseMode><AccountId>")},
      {"AccountId not a long", with("<AccountId>123", "<AccountId>12x3")},
      {"an unexpected attribute", with("<AccountId>", "<AccountId id=\"1\">")},
  };
  BingAdsApi api(opts());
  for (const auto& [what, xml] : cases) {
    Response r = api.handle(soap_request("GetBulkUploadUrl", xml), kTimeZero);
    EXPECT_EQ(r.status, 400) << what << "\n" << r.body;
    EXPECT_NE(r.body.find("<faultcode>s:Client</faultcode>"), std::string::npos) << what;
  }
  EXPECT_EQ(api.accepted()["faults"]["BadRequest"], static_cast<std::int64_t>(cases.size()));
  EXPECT_EQ(api.accepted()["uploads"].size(), 0u);

  // Strict, not narrow: a BOM, a declaration, comments, CDATA, references,
  // i:nil, mustUnderstand and prefixes of one's own all read.
  BingAdsApiOptions o = opts();
  o.token = "a&b<c";
  BingAdsApi lenient(o);
  std::string x = "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?><!-- hi -->"
                  "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" "
                  "xmlns:v13=\"https://bingads.microsoft.com/CampaignManagement/v13\" "
                  "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soap:Header>"
                  "<v13:Action soap:mustUnderstand=\"1\">GetBulkUploadUrl</v13:Action>"
                  "<v13:AuthenticationToken><![CDATA[a&b]]>&#60;c</v13:AuthenticationToken>"
                  "<v13:CustomerAccountId xsi:nil=\"false\">123</v13:CustomerAccountId>"
                  "<v13:CustomerId>1000</v13:CustomerId><v13:DeveloperToken>dev&#x2D;1</v13:DeveloperToken>"
                  "<v13:UserName xsi:nil=\"true\"/></soap:Header><soap:Body><v13:GetBulkUploadUrlRequest>"
                  "<v13:ResponseMode>ErrorsAndResults</v13:ResponseMode><v13:AccountId> 123 </v13:AccountId>"
                  "</v13:GetBulkUploadUrlRequest></soap:Body></soap:Envelope>";
  Response r = lenient.handle(soap_request("GetBulkUploadUrl", x), kTimeZero);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(accepted_upload(lenient, 0)["response_mode"], "ErrorsAndResults");
}

// ── Faults ──────────────────────────────────────────────────────────────────

TEST(BingAdsFaults, CredentialsAnswerAdApiFaults) {
  BingAdsApi api(opts());
  struct Case {
    Fields header;
    std::string code, name;
  };
  const std::vector<Case> cases = {
      {{{"AuthenticationToken", "<omit>"}}, "105", "InvalidCredentials"},
      {{{"AuthenticationToken", "stolen"}}, "105", "InvalidCredentials"},
      {{{"DeveloperToken", "other"}}, "105", "InvalidCredentials"},
      {{{"DeveloperToken", ""}}, "105", "InvalidCredentials"},
      {{{"CustomerId", "<omit>"}}, "116", "RequestMissingHeaders"},
      {{{"CustomerAccountId", ""}}, "116", "RequestMissingHeaders"},
      {{{"CustomerId", "2000"}}, "106", "UserIsNotAuthorized"},
  };
  for (const Case& c : cases) {
    Response r = api.handle(url_request({{"AccountId", kAccount}}, c.header), kTimeZero);
    EXPECT_EQ(r.status, 500) << c.name;
    EXPECT_EQ(fault_of(r), std::make_pair(c.code, c.name)) << r.body;
    EXPECT_NE(r.body.find("<faultcode>s:Server</faultcode>"), std::string::npos);
    EXPECT_NE(r.body.find("<detail><AdApiFaultDetail xmlns=\"https://adapi.microsoft.com\""), std::string::npos);
    EXPECT_NE(r.body.find("<Errors><AdApiError><Code>"), std::string::npos);
    EXPECT_NE(r.body.find("<Detail i:nil=\"true\"/>"), std::string::npos);
  }
  EXPECT_EQ(api.accepted()["faults"]["InvalidCredentials"], 4);
  EXPECT_EQ(api.accepted()["faults"]["RequestMissingHeaders"], 2);
  EXPECT_EQ(api.accepted()["faults"]["UserIsNotAuthorized"], 1);
  EXPECT_EQ(api.accepted()["uploads"].size(), 0u);
}

TEST(BingAdsFaults, BadAccountsAndRequestIdsAnswerApiFaultOperationErrors) {
  BingAdsApi api(opts());
  auto expect_fault = [&](const Response& r, const std::string& code, const std::string& name) {
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(fault_of(r), std::make_pair(code, name)) << r.body;
    EXPECT_NE(r.body.find("<ApiFaultDetail xmlns=\"https://bingads.microsoft.com/CampaignManagement/v13\""),
              std::string::npos);
    EXPECT_NE(r.body.find("<OperationErrors><OperationError><Code>"), std::string::npos);
  };
  expect_fault(api.handle(url_request({{"AccountId", "999"}}, {{"CustomerAccountId", "999"}}), kTimeZero), "1102",
               "CampaignServiceInvalidAccountId");
  expect_fault(api.handle(url_request({{"AccountId", "124"}}), kTimeZero), "1102", "CampaignServiceInvalidAccountId");
  expect_fault(api.handle(url_request({{"ResponseMode", "ErrorsOnly"}}), kTimeZero), "1102",
               "CampaignServiceInvalidAccountId");
  expect_fault(api.handle(url_request({{"AccountId", "0123"}}, {{"CustomerAccountId", "0123"}}), kTimeZero), "1102",
               "CampaignServiceInvalidAccountId");
  // The largest xs:long reads (a 400 would be wrong): merely not an account.
  expect_fault(api.handle(url_request({{"AccountId", "9223372036854775807"}},
                                      {{"CustomerAccountId", "9223372036854775807"}}),
                          kTimeZero),
               "1102", "CampaignServiceInvalidAccountId");
  EXPECT_EQ(api.accepted()["uploads"].size(), 0u) << "a refused call issues nothing";

  const Ticket t = get_url(api, kTimeZero);
  expect_fault(api.handle(status_request("00000000-0000-4000-8000-000000000009"), kTimeZero), "4201",
               "BulkServiceInvalidRequestId");
  expect_fault(api.handle(status_request(""), kTimeZero), "4201", "BulkServiceInvalidRequestId");
  // Another account's or customer's credentials: not this request.
  BingAdsApiOptions o = opts();
  o.account_ids = {123, 456};
  o.customer_id = "";
  BingAdsApi two(o);
  const Ticket mine = get_url(two, kTimeZero);
  // An account that exists, but not the one the CustomerAccountId header names.
  expect_fault(two.handle(url_request({{"AccountId", "456"}}), kTimeZero), "1102", "CampaignServiceInvalidAccountId");
  EXPECT_EQ(two.accepted()["uploads"].size(), 1u);
  expect_fault(two.handle(status_request(mine.request_id, {{"CustomerAccountId", "456"}}), kTimeZero), "4201",
               "BulkServiceInvalidRequestId");
  expect_fault(two.handle(status_request(mine.request_id, {{"CustomerId", "1001"}}), kTimeZero), "4201",
               "BulkServiceInvalidRequestId");
  EXPECT_EQ(status_of(two, mine.request_id, kTimeZero).status, "PendingFileUpload");
  EXPECT_EQ(api.accepted()["faults"]["BulkServiceInvalidRequestId"], 2);
  EXPECT_EQ(api.accepted()["faults"]["CampaignServiceInvalidAccountId"], 5);
  (void)t;
}

TEST(BingAdsFaults, InternalErrorsByCallOrdinal) {
  BingAdsApiOptions o = opts();
  o.internal_error_calls = {2, 3};
  BingAdsApi api(o);
  Request get_req = url_request();
  get_req.method = "GET";
  EXPECT_EQ(api.handle(get_req, kTimeZero).status, 405) << "not a SOAP call: no ordinal";
  EXPECT_EQ(api.handle(url_request(), kTimeZero).status, 200);
  Response r = api.handle(url_request(), kTimeZero);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(fault_of(r), std::make_pair(std::string("0"), std::string("InternalError")));
  // Before any other check: even a call without credentials.
  EXPECT_EQ(fault_of(api.handle(url_request({}, {{"AuthenticationToken", "<omit>"}}), kTimeZero)).second,
            "InternalError");
  EXPECT_EQ(api.handle(url_request(), kTimeZero).status, 200);
  EXPECT_EQ(api.accepted()["faults"]["InternalError"], 2);
  EXPECT_EQ(api.accepted()["uploads"].size(), 2u);
}

TEST(BingAdsFaults, CallsPerMinuteInFixedWindows) {
  BingAdsApiOptions o = opts();
  o.calls_per_minute = 2;
  BingAdsApi api(o);
  const Ticket t = get_url(api, kTimeZero + 10s);
  // An auth failure counts toward nothing.
  EXPECT_EQ(fault_of(api.handle(url_request({}, {{"AuthenticationToken", "x"}}), kTimeZero + 20s)).second, "InvalidCredentials");
  EXPECT_EQ(status_of(api, t.request_id, kTimeZero + 30s).http, 200);
  Response r = api.handle(status_request(t.request_id), kTimeZero + 59s);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(fault_of(r), std::make_pair(std::string("117"), std::string("CallRateExceeded")));
  // A refused call does not count: the next window is whole.
  EXPECT_EQ(status_of(api, t.request_id, kTimeZero + 60s).http, 200);
  EXPECT_EQ(status_of(api, t.request_id, kTimeZero + 119s).http, 200);
  EXPECT_EQ(api.handle(status_request(t.request_id), kTimeZero + 119s).status, 500);
  // Uploads are not SOAP calls.
  EXPECT_EQ(api.handle(upload_request(t.upload_url, zip_csv(audience_csv("555", "Add", {item(1)}))), kTimeZero + 119s).status,
            200);
  EXPECT_EQ(api.accepted()["faults"]["CallRateExceeded"], 2);

  // A call that authenticated counts even when it fails later (1102), and the
  // rate check comes before the account check.
  o.calls_per_minute = 1;
  BingAdsApi one(o);
  EXPECT_EQ(fault_of(one.handle(url_request({{"AccountId", "999"}}, {{"CustomerAccountId", "999"}}), kTimeZero)).first,
            "1102");
  EXPECT_EQ(fault_of(one.handle(url_request({{"AccountId", "999"}}, {{"CustomerAccountId", "999"}}), kTimeZero)).first,
            "117");
  EXPECT_EQ(one.handle(url_request(), kTimeZero + 1min).status, 200);
}

// ── Tokens ──────────────────────────────────────────────────────────────────

TEST(BingAdsToken, ExpiresTokenLifetimeAfterFirstUseUntilSetToken) {
  BingAdsApiOptions o = opts();
  o.token_lifetime = 1h;
  BingAdsApi api(o);
  const Ticket t = get_url(api, kTimeZero + 10min);  // first use
  EXPECT_EQ(status_of(api, t.request_id, kTimeZero + 69min).http, 200);
  Response r = api.handle(status_request(t.request_id), kTimeZero + 70min);
  EXPECT_EQ(fault_of(r), std::make_pair(std::string("109"), std::string("AuthenticationTokenExpired")));
  // The upload door too: 401 with the same code.
  Response up = api.handle(upload_request(t.upload_url, zip_csv(audience_csv("555", "Add", {item(1)}))), kTimeZero + 70min);
  EXPECT_EQ(up.status, 401);
  EXPECT_EQ(nlohmann::json::parse(up.body)["ErrorCode"], "AuthenticationTokenExpired");
  // A wrong token is still a wrong token.
  EXPECT_EQ(fault_of(api.handle(url_request({}, {{"AuthenticationToken", "x"}}), kTimeZero + 70min)).first, "105");

  ASSERT_TRUE(api.control(JsonIn(nlohmann::json{{"set_token", "tok-2"}}, "test"), kTimeZero + 71min).ok());
  // The old token is retired: expired, not invalid.
  EXPECT_EQ(fault_of(api.handle(status_request(t.request_id), kTimeZero + 71min)).first, "109");
  EXPECT_EQ(api.handle(status_request(t.request_id, {{"AuthenticationToken", "tok-2"}}), kTimeZero + 71min).status, 200);
  // The new one's lifetime runs from its own first use.
  EXPECT_EQ(api.handle(status_request(t.request_id, {{"AuthenticationToken", "tok-2"}}), kTimeZero + 130min).status, 200);
  EXPECT_EQ(fault_of(api.handle(status_request(t.request_id, {{"AuthenticationToken", "tok-2"}}), kTimeZero + 131min)).first,
            "109");
  EXPECT_EQ(api.accepted()["faults"]["AuthenticationTokenExpired"], 3);
}

TEST(BingAdsToken, WithNoTokenOptionSetTokenRetiresEveryTokenThatAuthenticated) {
  BingAdsApiOptions o = opts();
  o.token = "";
  BingAdsApi api(o);
  const Ticket t = get_url(api, kTimeZero);  // kToken, accepted as any token is
  EXPECT_EQ(api.handle(status_request(t.request_id, {{"AuthenticationToken", "other"}}), kTimeZero).status, 200);
  ASSERT_TRUE(api.control(JsonIn(nlohmann::json{{"set_token", "tok-2"}}, "test"), kTimeZero + 1s).ok());
  EXPECT_EQ(fault_of(api.handle(status_request(t.request_id), kTimeZero + 2s)).first, "109");
  EXPECT_EQ(fault_of(api.handle(status_request(t.request_id, {{"AuthenticationToken", "other"}}), kTimeZero + 2s)).first,
            "109");
  EXPECT_EQ(fault_of(api.handle(status_request(t.request_id, {{"AuthenticationToken", "never"}}), kTimeZero + 2s)).first,
            "105")
      << "a token never seen is merely wrong";
  EXPECT_EQ(api.handle(status_request(t.request_id, {{"AuthenticationToken", "tok-2"}}), kTimeZero + 2s).status, 200);
  // Rotating again retires tok-2 as any set token is.
  ASSERT_TRUE(api.control(JsonIn(nlohmann::json{{"set_token", "tok-3"}}, "test"), kTimeZero + 3s).ok());
  EXPECT_EQ(fault_of(api.handle(status_request(t.request_id, {{"AuthenticationToken", "tok-2"}}), kTimeZero + 4s)).first,
            "109");
  EXPECT_EQ(api.accepted()["faults"]["AuthenticationTokenExpired"], 3);
}

TEST(BingAdsToken, ExpireTokenAnswers109UntilSetTokenAndControlErrorsNameThePath) {
  BingAdsApi api(opts());
  const Ticket t = get_url(api, kTimeZero);
  ASSERT_TRUE(api.control(JsonIn(nlohmann::json{{"expire_token", true}}, "test"), kTimeZero + 1s).ok());
  EXPECT_EQ(fault_of(api.handle(status_request(t.request_id), kTimeZero + 2s)).first, "109");
  EXPECT_EQ(fault_of(api.handle(url_request(), kTimeZero + 2s)).first, "109");
  // Every call with a token, a wrong one too; a missing token is still missing.
  EXPECT_EQ(fault_of(api.handle(status_request(t.request_id, {{"AuthenticationToken", "x"}}), kTimeZero + 2s)).first,
            "109");
  EXPECT_EQ(fault_of(api.handle(status_request(t.request_id, {{"AuthenticationToken", ""}}), kTimeZero + 2s)).first,
            "105");
  Response up = api.handle(upload_request(t.upload_url, zip_csv(audience_csv("555", "Add", {item(1)}))), kTimeZero + 2s);
  EXPECT_EQ(up.status, 401);
  EXPECT_EQ(nlohmann::json::parse(up.body)["Code"], 109);

  auto bad = api.control(JsonIn(nlohmann::json{{"expire_token", false}}, "s.json", "/fake/seed/0"), kTimeZero + 3s);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "s.json: /fake/seed/0/expire_token: expected true, got false");
  auto unknown = api.control(JsonIn(nlohmann::json{{"delete_list", 1}}, "s.json", "/fake/seed/0"), kTimeZero + 3s);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("(set_token, expire_token, request)"), std::string::npos);
  EXPECT_FALSE(api.control(JsonIn(nlohmann::json{{"set_token", 7}}, "test"), kTimeZero + 3s).ok());
  // An empty token would make every token good.
  auto empty = api.control(JsonIn(nlohmann::json{{"set_token", ""}}, "s.json", "/fake/seed/1"), kTimeZero + 3s);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().message.substr(0, 34), "s.json: /fake/seed/1/set_token: ex");
  EXPECT_EQ(fault_of(api.handle(status_request(t.request_id), kTimeZero + 3s)).first, "109") << "still expired";

  ASSERT_TRUE(api.control(JsonIn(nlohmann::json{{"set_token", kToken}}, "test"), kTimeZero + 4s).ok());
  EXPECT_EQ(status_of(api, t.request_id, kTimeZero + 5s).status, "PendingFileUpload");
  // A seeding request goes through every check.
  nlohmann::json seed = {{"request",
                          {{"method", "POST"},
                           {"path", kServicePath},
                           {"headers", {{"Content-Type", "text/xml; charset=utf-8"}, {"SOAPAction", "GetBulkUploadUrl"}}},
                           {"body", envelope("GetBulkUploadUrl", {{"AccountId", kAccount}})}}}};
  EXPECT_TRUE(api.control(JsonIn(seed, "test"), kTimeZero + 6s).ok());
  EXPECT_EQ(api.accepted()["uploads"].size(), 2u);
}

// ── Upload ──────────────────────────────────────────────────────────────────

TEST(BingAdsUpload, TheRequestIdIsValidFifteenMinutesUntilItsFileIsUploaded) {
  BingAdsApi api(opts());
  const std::string zip = zip_csv(audience_csv("555", "Add", {item(1)}));
  const Ticket late = get_url(api, kTimeZero);
  Response r = api.handle(upload_request(late.upload_url, zip), kTimeZero + 15min + 1ms);
  EXPECT_EQ(r.status, 400);
  const auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["Code"], 3226);
  EXPECT_EQ(body["ErrorCode"], "BulkServiceUrlExpired");
  EXPECT_EQ(body["RequestId"], late.request_id);
  EXPECT_TRUE(body.contains("TrackingId"));
  // Never uploaded: pending for ever.
  EXPECT_EQ(status_of(api, late.request_id, kTimeZero + 3h).status, "PendingFileUpload");
  EXPECT_EQ(accepted_upload(api, 0)["url_expired"], true);

  const Ticket in_time = get_url(api, kTimeZero + 3h);
  Response ok = api.handle(upload_request(in_time.upload_url, zip), kTimeZero + 3h + 15min);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.headers.get("Content-Type").value_or(""), "application/json; charset=utf-8");
  const auto answer = nlohmann::json::parse(ok.body);
  EXPECT_EQ(answer["RequestId"], in_time.request_id);
  EXPECT_EQ(answer["TrackingId"].get<std::string>().size(), 36u);
  // Used: a second upload is refused, even in time.
  Response again = api.handle(upload_request(in_time.upload_url, zip), kTimeZero + 3h + 15min);
  EXPECT_EQ(nlohmann::json::parse(again.body)["ErrorCode"], "BulkServiceUrlAlreadyUsedForUpload");
  EXPECT_EQ(accepted_upload(api, 1)["url_expired"], false);
  EXPECT_EQ(api.accepted()["upload_refusals"]["BulkServiceUrlExpired"], 1);
}

TEST(BingAdsUpload, RefusalsStoreNothingAndLeaveTheUrlUsable) {
  BingAdsApiOptions o = opts();
  o.upload_bytes_max = 2000;
  BingAdsApi api(o);
  const std::string zip = zip_csv(audience_csv("555", "Add", {item(1)}));
  const Ticket t = get_url(api, kTimeZero);
  auto refused = [&](Request r) {
    Response a = api.handle(r, kTimeZero + 1s);
    return std::make_pair(a.status, a.body.empty() ? std::string() : nlohmann::json::parse(a.body)["ErrorCode"].get<std::string>());
  };
  using P = std::pair<int, std::string>;
  Request unknown = upload_request(t.upload_url, zip);
  unknown.path.replace(unknown.path.find(t.request_id), 36, "00000000-0000-4000-8000-000000000099");
  EXPECT_EQ(refused(unknown), P(400, "BulkServiceInvalidBulkUploadUrl"));
  Request requery = upload_request(t.upload_url, zip);
  requery.path = requery.path.substr(0, requery.path.find('?')) + "?AccountId=123&Ver=13";
  EXPECT_EQ(refused(requery), P(400, "BulkServiceInvalidBulkUploadUrl"));
  EXPECT_EQ(refused(upload_request(t.upload_url, zip, "upload.zip", {{"AuthenticationToken", "x"}})),
            P(401, "InvalidCredentials"));
  EXPECT_EQ(refused(upload_request(t.upload_url, zip, "upload.zip", {{"DeveloperToken", "<omit>"}})),
            P(401, "InvalidCredentials"));
  EXPECT_EQ(refused(upload_request(t.upload_url, zip, "upload.zip", {{"CustomerId", "2000"}})),
            P(401, "UserIsNotAuthorized"));
  EXPECT_EQ(refused(upload_request(t.upload_url, zip, "upload.zip", {{"AccountId", "456"}})),
            P(401, "UserIsNotAuthorized"));
  EXPECT_EQ(refused(upload_request(t.upload_url, zip, "upload.zip", {{"AccountId", "<omit>"}})),
            P(401, "UserIsNotAuthorized"));
  Request not_multipart = upload_request(t.upload_url, zip);
  not_multipart.headers.set("Content-Type", "application/zip");
  not_multipart.body = zip;
  EXPECT_EQ(refused(not_multipart), P(400, "BulkServiceNoFileFound"));
  Request no_filename = upload_request(t.upload_url, zip);
  no_filename.body = "--XyZzY\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n" + zip + "\r\n--XyZzY--\r\n";
  EXPECT_EQ(refused(no_filename), P(400, "BulkServiceNoFileFound"));
  Request sdk_name = upload_request(t.upload_url, zip);  // the SDK's CreateFormFile("", …)
  sdk_name.body = "--XyZzY\r\nContent-Disposition: form-data; name=\"\"; filename=\"u.zip\"\r\n\r\n" + zip +
                  "\r\n--XyZzY--\r\n";
  EXPECT_EQ(refused(sdk_name), P(400, "BulkServiceNoFileFound"));
  Request two = upload_request(t.upload_url, zip);
  two.body = "--XyZzY\r\nContent-Disposition: form-data; name=\"a\"; filename=\"a.zip\"\r\n\r\n" + zip +
             "\r\n--XyZzY\r\nContent-Disposition: form-data; name=\"b\"; filename=\"b.zip\"\r\n\r\n" + zip +
             "\r\n--XyZzY--\r\n";
  EXPECT_EQ(refused(two), P(400, "BulkServiceMultipleFilesFound"));
  EXPECT_EQ(refused(upload_request(t.upload_url, zip, "upload.csv")), P(400, "BulkServiceInvalidFileExtension"));
  EXPECT_EQ(refused(upload_request(t.upload_url, std::string(2001, 'x'))), P(413, "FileSizeLimitExceeded"));
  Request put = upload_request(t.upload_url, zip);
  put.method = "PUT";
  const Response put_answer = api.handle(put, kTimeZero + 1s);
  EXPECT_EQ(put_answer.status, 405);
  EXPECT_EQ(put_answer.body, "");
  Request wrong_host = upload_request(t.upload_url, zip);
  wrong_host.host = kSoapHost;  // a client that rebuilt the URL
  EXPECT_EQ(api.handle(wrong_host, kTimeZero + 1s).status, 404);

  EXPECT_EQ(status_of(api, t.request_id, kTimeZero + 2s).status, "PendingFileUpload");
  EXPECT_EQ(api.handle(upload_request(t.upload_url, zip, "UPLOAD.ZIP", {{"AccountId", "<omit>"}, {"CustomerAccountId", kAccount}}), kTimeZero + 3s)
                .status,
            200);
  EXPECT_EQ(status_of(api, t.request_id, kTimeZero + 3s).status, "FileUploaded");
  EXPECT_EQ(api.accepted()["upload_refusals"]["BulkServiceNoFileFound"], 3);
}

// ── File format ─────────────────────────────────────────────────────────────

TEST(BingAdsFormat, UnreadableFilesEndUploadFileFormatNotSupported) {
  const std::string good = audience_csv("555", "Add", {item(1)});
  std::string eocd("PK\x05\x06", 4);
  eocd.append(18, '\0');
  auto lines = [&](std::vector<std::vector<std::string>> rows, bool bom = true) { return zip_csv(csv(rows, bom)); };
  struct Case {
    std::string what, zip, code;
  };
  std::vector<std::string> ragged = item_row("555", item(1));
  ragged.pop_back();
  const std::vector<Case> cases = {
      {"not a zip", "PK but not really a zip archive at all", "3223"},
      {"a plain CSV", good, "3223"},
      {"an empty zip", eocd, "3221"},
      {"two CSVs", make_zip({{"a.csv", good}, {"b.csv", good}}), "3222"},
      {"a .txt", make_zip({{"a.txt", good}}), "3223"},
      {"a directory and a CSV", make_zip({{"dir/", ""}, {"dir/a.csv", good}}), "3222"},
      {"no BOM", lines({kAudienceHeader, kAudienceVersion, list_row("555", "Add")}, false), "3217"},
      {"a UTF-16 file", zip_csv("\xFF\xFE" "T\0y\0p\0e\0"), "3217"},
      {"another header", lines({{"Type", "Id"}, {"Format Version", "6.0"}}), "3217"},
      {"the docs' header without Sub Type and Text",
       lines({std::vector<std::string>(kAudienceHeader.begin(), kAudienceHeader.end() - 2)}), "3217"},
      {"no Format Version row", lines({kAudienceHeader, list_row("555", "Add")}), "3219"},
      {"only a header", lines({kAudienceHeader}), "3219"},
      {"Format Version 5.0",
       lines({kAudienceHeader, {"Format Version", "", "", "", "", "", "5.0", "", "", "", "", "", ""}}), "3217"},
      {"Format Version 6", lines({kAudienceHeader, {"Format Version", "", "", "", "", "", "6", "", "", "", "", "", ""}}),
       "3217"},
      {"Format Version with more", lines({kAudienceHeader, {"Format Version", "", "", "", "", "", "6.0", "x", "", "", "", "", ""}}),
       "3217"},
      {"a ragged row", lines({kAudienceHeader, kAudienceVersion, list_row("555", "Add"), ragged}), "3217"},
      {"a stray quote", zip_csv(good + "Customer List Item,,,555,a\"b,,,,,,,Email," + hash(2) + "\n"), "3217"},
      {"items before the list", lines({kAudienceHeader, kAudienceVersion, item_row("555", item(1)),
                                       list_row("555", "Add")}),
       "3217"},
      {"two lists", lines({kAudienceHeader, kAudienceVersion, list_row("555", "Add"), list_row("556", "Add")}), "3217"},
      {"no list", lines({kAudienceHeader, kAudienceVersion}), "3217"},
      {"no conversion", zip_csv(csv({kInsertHeader, version_row(15, 5)})), "3217"},
  };
  BingAdsApi api(opts());
  std::vector<std::string> ids;
  for (const Case& c : cases) ids.push_back(submit(api, c.zip, kTimeZero));
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Status before = status_of(api, ids[i], kTimeZero + 9s);
    EXPECT_EQ(before.status, "FileUploaded") << cases[i].what;
    const Status s = status_of(api, ids[i], kTimeZero + 10s);
    EXPECT_EQ(s.status, "UploadFileFormatNotSupported") << cases[i].what;
    EXPECT_EQ(s.percent, "0");
    EXPECT_EQ(between(s.body, "<Code>", "</Code>"), cases[i].code) << cases[i].what << "\n" << s.body;
    EXPECT_NE(s.body.find("<ResultFileUrl i:nil=\"true\"/>"), std::string::npos);
  }
  EXPECT_EQ(api.applications(), 0);
  EXPECT_TRUE(api.audience("555").empty());

  // bom_required false reads a BOM-less file (and one with a BOM alike).
  BingAdsApiOptions o = opts();
  o.bom_required = false;
  BingAdsApi lax(o);
  EXPECT_EQ(submit_and_finish(lax, lines({kAudienceHeader, kAudienceVersion, list_row("555", "Add"),
                                          item_row("555", item(1))},
                                         false),
                              kTimeZero)
                .status,
            "Completed");
  EXPECT_EQ(lax.audience("555").size(), 1u);
}

TEST(BingAdsFormat, MoreEntityRowsThanRowsMaxEndUploadFileRowCountExceeded) {
  BingAdsApiOptions o = opts();
  o.rows_max = 3;
  BingAdsApi api(o);
  const std::string over = submit(api, zip_csv(audience_csv("555", "Add", {item(1), item(2), item(3)})), kTimeZero);
  const std::string at = submit(api, zip_csv(audience_csv("555", "Add", {item(1), item(2)})), kTimeZero);
  const Status s = status_of(api, over, kTimeZero + 10s);
  EXPECT_EQ(s.status, "UploadFileRowCountExceeded");
  EXPECT_EQ(between(s.body, "<ErrorCode>", "</ErrorCode>"), "BulkServiceFileRowCountExceeded");
  EXPECT_NE(s.body.find("<Details>4 rows, the limit is 3</Details>"), std::string::npos) << s.body;
  EXPECT_EQ(s.percent, "0");
  EXPECT_NE(s.body.find("<ResultFileUrl i:nil=\"true\"/>"), std::string::npos);
  EXPECT_EQ(status_of(api, over, kTimeZero + 9s).status, "FileUploaded") << "queued first, like any upload";
  EXPECT_EQ(status_of(api, at, kTimeZero + 70s).status, "Completed");
  EXPECT_EQ(api.audience("555").size(), 2u);
  EXPECT_EQ(accepted_upload(api, 0)["rows"], 4);
}

// ── Lifecycle ───────────────────────────────────────────────────────────────

TEST(BingAdsLifecycle, PendingUploadedInProgressWithAGrowingPercentThenCompleted) {
  BingAdsApi api(opts());
  const Ticket t = get_url(api, kTimeZero);
  Status s = status_of(api, t.request_id, kTimeZero + 1s);
  EXPECT_EQ(std::make_pair(s.status, s.percent), std::make_pair(std::string("PendingFileUpload"), std::string("0")));
  EXPECT_NE(s.body.find("<Errors i:nil=\"true\"/><ForwardCompatibilityMap"), std::string::npos) << s.body;
  ASSERT_EQ(api.handle(upload_request(t.upload_url, zip_csv(audience_csv("555", "Add", {item(1)}))), kTimeZero + 100s).status, 200);
  auto at = [&](Duration d) {
    Status x = status_of(api, t.request_id, kTimeZero + 100s + d);
    return x.status + " " + x.percent;
  };
  EXPECT_EQ(at(0s), "FileUploaded 0");
  EXPECT_EQ(at(9999ms), "FileUploaded 0");
  EXPECT_EQ(at(10s), "InProgress 0");
  EXPECT_EQ(at(25s), "InProgress 25");
  EXPECT_EQ(at(40s), "InProgress 50");
  EXPECT_EQ(at(69999ms), "InProgress 99");
  EXPECT_TRUE(api.audience("555").empty()) << "applied only at the end";
  EXPECT_EQ(at(70s), "Completed 100");
  EXPECT_EQ(api.audience("555").size(), 1u);
  EXPECT_EQ(accepted_upload(api, 0)["status"], "Completed");
  EXPECT_EQ(accepted_upload(api, 0)["percent_complete"], 100);
}

TEST(BingAdsLifecycle, CompletedCompletedWithErrorsAndFailedApplyWhatTheySay) {
  BingAdsApiOptions o = opts();
  o.fail_uploads = {3};
  BingAdsApi api(o);
  Item bad = item(9);
  bad.text = "Someone@Example.com";
  const Status clean = submit_and_finish(api, zip_csv(audience_csv("555", "Add", {item(1), item(2)})), kTimeZero);
  EXPECT_EQ(clean.status, "Completed");
  EXPECT_NE(clean.result_url, "<absent>");
  const Status partial = submit_and_finish(api, zip_csv(audience_csv("555", "Add", {item(3), bad})), kTimeZero + 1h);
  EXPECT_EQ(partial.status, "CompletedWithErrors");
  EXPECT_NE(partial.result_url, "<absent>");
  EXPECT_EQ(api.audience("555").size(), 3u) << "the valid item of a file with errors is applied";

  const std::string failed = submit(api, zip_csv(audience_csv("555", "Add", {item(4)})), kTimeZero + 2h);
  EXPECT_EQ(status_of(api, failed, kTimeZero + 2h + 30s).status, "InProgress");
  const Status f = status_of(api, failed, kTimeZero + 2h + 70s);
  EXPECT_EQ(f.status, "Failed");
  EXPECT_EQ(f.percent, "0");
  EXPECT_EQ(f.errors, "InternalError");
  EXPECT_NE(f.body.find("<ResultFileUrl i:nil=\"true\"/>"), std::string::npos);
  EXPECT_EQ(api.audience("555").size(), 3u) << "a failed upload applies nothing";

  EXPECT_EQ(api.applied(member_key("555", "Add", hash(1))), 1);
  EXPECT_EQ(api.applied(member_key("555", "Add", hash(3))), 1);
  EXPECT_EQ(api.applied(member_key("555", "Add", "Someone@Example.com")), 0);
  EXPECT_EQ(api.applied(member_key("555", "Add", hash(4))), 0);
  EXPECT_EQ(api.applications(), 3);
  const auto up = api.accepted()["uploads"];
  EXPECT_EQ(up[1]["row_errors"], 1);
  EXPECT_EQ(up[1]["applied"], 1);
  EXPECT_EQ(up[2]["status"], "Failed");
  EXPECT_EQ(up[2]["applied"], 0);
  EXPECT_EQ(api.accepted()["row_errors"]["EmailMustBeHashed"], 1);
}

TEST(BingAdsLifecycle, UploadsSettleInCompletionOrderAndCatchUpSettlesUnasked) {
  BingAdsApi api(opts());
  // A is issued first but uploaded last: B's Add settles before A's Replace.
  const Ticket a = get_url(api, kTimeZero);
  const Ticket b = get_url(api, kTimeZero);
  ASSERT_EQ(api.handle(upload_request(b.upload_url, zip_csv(audience_csv("555", "Add", {item(1), item(2)}))), kTimeZero + 1s).status,
            200);
  ASSERT_EQ(api.handle(upload_request(a.upload_url, zip_csv(audience_csv("555", "Replace", {item(3)}))), kTimeZero + 2s).status,
            200);
  api.catch_up(kTimeZero + 24h);
  EXPECT_EQ(api.audience("555"), std::set<std::string>{hash(3)});
  EXPECT_EQ(accepted_upload(api, 0)["status"], "Completed");
  EXPECT_EQ(accepted_upload(api, 1)["status"], "Completed");
}

TEST(BingAdsLifecycle, StatusValuesRenameOnlyTheWire) {
  BingAdsApiOptions o = opts();
  o.status_values = {{"InProgress", "Processing"}, {"CompletedWithErrors", "CompletedWithWarnings"}};
  BingAdsApi api(o);
  Item bad = item(2);
  bad.sub_type = "Phone";
  const std::string id = submit(api, zip_csv(audience_csv("555", "Add", {item(1), bad})), kTimeZero);
  EXPECT_EQ(status_of(api, id, kTimeZero + 30s).status, "Processing");
  EXPECT_EQ(accepted_upload(api, 0)["status"], "InProgress");
  EXPECT_EQ(status_of(api, id, kTimeZero + 70s).status, "CompletedWithWarnings");
  EXPECT_EQ(accepted_upload(api, 0)["status"], "CompletedWithErrors");
}

// ── Result files ────────────────────────────────────────────────────────────

TEST(BingAdsResultFile, ErrorsOnlyHoldsTheErroredRowsByClientIdWithABomAndCrlf) {
  BingAdsApi api(opts());
  Item bad = item(2);
  bad.text = "abc@gmail.com";
  const Status s = submit_and_finish(api, zip_csv(audience_csv("555", "Add", {item(1), bad, item(3)})), kTimeZero);
  ASSERT_EQ(s.status, "CompletedWithErrors");
  const std::string& url = s.result_url;
  EXPECT_EQ(url.find("https://bingadsappsstorageprod.blob.core.windows.net/bulkuploadresultfiles/BulkUpload-01-01-2024-"),
            0u)
      << url;
  EXPECT_NE(url.find("&sr=b&sp=r&sig="), std::string::npos);
  EXPECT_NE(s.body.find("&amp;sr=b"), std::string::npos) << "escaped in the XML";
  const auto rows = result_rows(api, url, kTimeZero + 71s);
  ASSERT_GE(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], "Type");
  EXPECT_EQ(rows[0][5], "Client Id") << "the result file's columns are not the upload's";
  const auto r = named(rows);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0], (std::map<std::string, std::string>{{"Type", "Format Version"}, {"Name", "6.0"}}));
  EXPECT_EQ(r[1], (std::map<std::string, std::string>{{"Type", "Customer List Item"},
                                                      {"Parent Id", "555"},
                                                      {"Client Id", bad.client},
                                                      {"Sub Type", "Email"},
                                                      {"Text", "abc@gmail.com"}}));
  EXPECT_EQ(r[2], (std::map<std::string, std::string>{{"Type", "Customer List Item Error"},
                                                      {"Parent Id", "555"},
                                                      {"Client Id", bad.client},
                                                      {"Sub Type", "Email"},
                                                      {"Text", "abc@gmail.com"},
                                                      {"Error", "EmailMustBeHashed"},
                                                      {"Error Number", "8004"}}));
  // The entry: BulkUpload-…-Results.csv.
  Response z = api.handle(get(url), kTimeZero + 71s);
  const auto files = unzip(z.body);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].first.substr(0, 22), "BulkUpload-01-01-2024-");
  EXPECT_EQ(files[0].first.substr(files[0].first.size() - 12), "-Results.csv");
  EXPECT_EQ(api.accepted()["result_downloads"], 2);
}

TEST(BingAdsResultFile, ErrorsAndResultsEchoesEveryRow) {
  BingAdsApi api(opts());
  Item bad = item(2);
  bad.client = "";
  const Status s =
      submit_and_finish(api, zip_csv(audience_csv("555", "Remove", {item(1), bad})), kTimeZero, "ErrorsAndResults");
  const auto r = named(result_rows(api, s.result_url, kTimeZero + 70s));
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[1].at("Type"), "Customer List");
  EXPECT_EQ(r[1].at("Action Type"), "Remove");
  EXPECT_EQ(r[2].at("Type"), "Customer List Item");
  EXPECT_EQ(r[2].at("Client Id"), item(1).client);
  EXPECT_EQ(r[3].at("Type"), "Customer List Item");
  EXPECT_EQ(r[4].at("Type"), "Customer List Item Error");
  EXPECT_EQ(r[4].at("Error"), "ClientIdNullOrEmpty");
  EXPECT_EQ(r[4].count("Client Id"), 0u);
}

TEST(BingAdsResultFile, EachUrlLivesFiveMinutesFromItsStatusCall) {
  BingAdsApi api(opts());
  const std::string id = submit(api, zip_csv(audience_csv("555", "Add", {item(1)})), kTimeZero);
  const Status first = status_of(api, id, kTimeZero + 2min);
  ASSERT_EQ(first.status, "Completed");
  EXPECT_NE(first.result_url.find("&st=2024-01-01T00%3A02%3A00Z&se=2024-01-01T00%3A07%3A00Z&"), std::string::npos)
      << first.result_url;
  const std::string sig = first.result_url.substr(first.result_url.find("&sig=") + 5);
  EXPECT_EQ(sig.size(), 32u);
  EXPECT_EQ(sig.find_first_not_of("0123456789abcdef"), std::string::npos) << sig;
  EXPECT_EQ(api.handle(get(first.result_url), kTimeZero + 7min).status, 200);
  Response late = api.handle(get(first.result_url), kTimeZero + 7min + 1ms);
  EXPECT_EQ(late.status, 403);
  EXPECT_EQ(late.headers.get("Content-Type").value_or(""), "application/xml");
  EXPECT_EQ(late.headers.get("x-ms-error-code").value_or(""), "AuthenticationFailed");
  EXPECT_NE(late.body.find("<Error><Code>AuthenticationFailed</Code>"), std::string::npos);
  EXPECT_NE(late.body.find("<AuthenticationErrorDetail>Signature not valid in the specified time frame: Start [Mon, "
                           "01 Jan 2024 00:02:00 GMT] - Expiry [Mon, 01 Jan 2024 00:07:00 GMT] - Current [Mon, 01 Jan "
                           "2024 00:07:00 GMT]"),
            std::string::npos)
      << late.body;
  // A new status call issues a new URL; the old one stays dead.
  const Status second = status_of(api, id, kTimeZero + 10min);
  EXPECT_NE(second.result_url, first.result_url);
  EXPECT_EQ(api.handle(get(second.result_url), kTimeZero + 15min).status, 200);
  EXPECT_EQ(api.handle(get(first.result_url), kTimeZero + 15min).status, 403);

  std::string forged = second.result_url;
  forged[forged.size() - 1] = forged.back() == '0' ? '1' : '0';
  EXPECT_EQ(api.handle(get(forged), kTimeZero + 11min).status, 403);
  std::string other_blob = second.result_url;
  other_blob.replace(other_blob.find("BulkUpload-"), 11, "BulkUpload-X");
  EXPECT_EQ(api.handle(get(other_blob), kTimeZero + 11min).status, 404);
  Request post = get(second.result_url);
  post.method = "POST";
  EXPECT_EQ(api.handle(post, kTimeZero + 11min).status, 405);
  Request wrong_host = get(second.result_url);
  wrong_host.host = kSoapHost;
  EXPECT_EQ(api.handle(wrong_host, kTimeZero + 11min).status, 404);
  EXPECT_EQ(api.accepted()["result_refusals"], 5);
}

TEST(BingAdsResultFile, TheZipIsTheSameBytesEveryTimeAndDatedTheTerminalMoment) {
  auto run = [](Duration after) {
    const Time when = kTimeZero + after;
    BingAdsApi api(opts());
    Item bad = item(2);
    bad.sub_type = "Phone";
    const Status s = submit_and_finish(api, zip_csv(audience_csv("555", "Add", {item(1), bad})), when);
    return api.handle(get(s.result_url), when + 71s).body;
  };
  const std::string a = run(3h);
  EXPECT_EQ(a, run(3h));
  ASSERT_GT(a.size(), 30u);
  ASSERT_EQ(a.substr(0, 4), std::string("PK\x03\x04", 4));
  // Local header: DOS time at 10, date at 12, extra field length at 28 (none: no wall-clock timestamp).
  auto u16 = [&](std::size_t at) { return static_cast<unsigned char>(a[at]) | (static_cast<unsigned char>(a[at + 1]) << 8); };
  // Terminal moment: 03:00:00 + 10s + 1m = 03:01:10 on 2024-01-01.
  EXPECT_EQ(u16(10), (3 << 11) | (1 << 5) | (10 / 2));
  EXPECT_EQ(u16(12), ((2024 - 1980) << 9) | (1 << 5) | 1);
  EXPECT_EQ(u16(28), 0);
}

// ── Customer lists ──────────────────────────────────────────────────────────

TEST(BingAdsAudience, AddRemoveAndReplaceChangeTheMembership) {
  BingAdsApi api(opts());
  EXPECT_EQ(submit_and_finish(api, zip_csv(audience_csv("555", "Add", {item(1), item(2), item(3)})), kTimeZero).status,
            "Completed");
  EXPECT_EQ(api.audience("555"), (std::set<std::string>{hash(1), hash(2), hash(3)}));
  EXPECT_EQ(submit_and_finish(api, zip_csv(audience_csv("555", "Remove", {item(2), item(7)})), kTimeZero + 1h).status,
            "Completed");
  EXPECT_EQ(api.audience("555"), (std::set<std::string>{hash(1), hash(3)}));
  EXPECT_EQ(submit_and_finish(api, zip_csv(audience_csv("555", "Replace", {item(3), item(4)})), kTimeZero + 2h).status,
            "Completed");
  EXPECT_EQ(api.audience("555"), (std::set<std::string>{hash(3), hash(4)}));
  // Replace empties the list even when no item is valid.
  Item bad = item(5);
  bad.text = hash(5).substr(1);
  EXPECT_EQ(submit_and_finish(api, zip_csv(audience_csv("555", "Replace", {bad})), kTimeZero + 3h).status, "CompletedWithErrors");
  EXPECT_TRUE(api.audience("555").empty());

  EXPECT_EQ(api.applied(member_key("555", "Add", hash(2))), 1);
  EXPECT_EQ(api.applied(member_key("555", "Remove", hash(2))), 1);
  EXPECT_EQ(api.applied(member_key("555", "Remove", hash(7))), 1) << "removing a non-member applies";
  EXPECT_EQ(api.applied(member_key("555", "Replace", hash(4))), 1);
  EXPECT_EQ(api.applications(), 7);
  EXPECT_EQ(api.accepted()["audiences"]["555"], 0);
  // Two items of one Text in a file apply twice.
  Item twin = item(1);
  twin.client = "8<<>>" + hash(1);
  submit_and_finish(api, zip_csv(audience_csv("555", "Add", {item(1), twin})), kTimeZero + 4h);
  EXPECT_EQ(api.applied(member_key("555", "Add", hash(1))), 3);
  EXPECT_EQ(api.audience("555").size(), 1u);
}

TEST(BingAdsAudience, AListErrorErrorsEveryItemAsTheRealFileDoes) {
  BingAdsApi api(opts());
  const Status s = submit_and_finish(api, zip_csv(audience_csv("819689004", "Add", {item(1), item(2)})), kTimeZero);
  EXPECT_EQ(s.status, "CompletedWithErrors");
  const auto r = named(result_rows(api, s.result_url, kTimeZero + 70s));
  ASSERT_EQ(r.size(), 7u);
  EXPECT_EQ(r[2].at("Type"), "Customer List Error");
  EXPECT_EQ(r[2].at("Id"), "819689004");
  EXPECT_EQ(r[2].at("Error"), "InvalidAudienceId");
  EXPECT_EQ(r[2].at("Error Number"), "4835");
  EXPECT_EQ(r[4].at("Type"), "Customer List Item Error");
  EXPECT_EQ(r[4].at("Error"), "InvalidCustomerListId");
  EXPECT_EQ(r[4].at("Error Number"), "8000");
  const Status action = submit_and_finish(api, zip_csv(audience_csv("555", "Delete", {item(1)})), kTimeZero + 1h);
  const auto a = named(result_rows(api, action.result_url, kTimeZero + 1h + 70s));
  EXPECT_EQ(a[2].at("Error"), "InvalidCustomerListActionType");
  EXPECT_EQ(a[4].at("Error"), "InvalidCustomerListId");
  EXPECT_EQ(api.applications(), 0);
  EXPECT_TRUE(api.audience("555").empty());
  EXPECT_EQ(api.accepted()["row_errors"]["InvalidCustomerListId"], 3);
}

TEST(BingAdsAudience, EachItemRuleHasItsError) {
  BingAdsApi api(opts());
  std::vector<std::pair<Item, std::string>> cases;
  auto add = [&](int n, auto change, const std::string& error) {
    Item i = item(n);
    change(i);
    cases.emplace_back(i, error);
  };
  add(10, [](Item&) {}, "");
  add(11, [](Item& i) { i.client = ""; }, "ClientIdNullOrEmpty");
  add(12, [](Item& i) { i.client = std::string(101, 'c'); }, "ClientIdTooLong");
  add(13, [](Item& i) { i.client = "dup"; }, "DuplicateClientId");
  add(14, [](Item& i) { i.client = "dup"; }, "DuplicateClientId");
  add(15, [](Item& i) { i.sub_type = "CRM"; }, "CustomerListItemSubTypeNotSupported");
  add(16, [](Item& i) { i.text = hash(16).substr(0, 63) + "A"; }, "EmailMustBeHashed");
  add(17, [](Item& i) { i.text = ""; }, "EmailMustBeHashed");
  add(18, [](Item& i) { i.client = std::string(100, 'd'); }, "");
  add(21, [](Item& i) {
    i.client.clear();
    for (int k = 0; k < 100; ++k) i.client += "\xC3\xA9";  // 100 characters, 200 bytes
  }, "");
  std::vector<std::vector<std::string>> rows = {kAudienceHeader, kAudienceVersion, list_row("555", "Add")};
  for (const auto& [i, e] : cases) rows.push_back(item_row("555", i));
  rows.push_back(item_row("556", item(19)));
  rows.back()[4] = "other-parent";
  rows.push_back(item_row("555", item(20)));
  rows.back()[0] = "Customer List Items";
  const Status s = submit_and_finish(api, zip_csv(csv(rows)), kTimeZero);
  const auto r = named(result_rows(api, s.result_url, kTimeZero + 70s));
  std::map<std::string, std::string> errors;  // Client Id → Error
  for (const auto& row : r)
    if (row.count("Error")) errors[row.count("Client Id") ? row.at("Client Id") : ""] = row.at("Error");
  for (const auto& [i, e] : cases)
    if (!e.empty() && e != "DuplicateClientId") EXPECT_EQ(errors[i.client], e) << i.client;
  EXPECT_EQ(errors["dup"], "DuplicateClientId");
  EXPECT_EQ(errors["other-parent"], "InvalidCustomerListId");
  EXPECT_EQ(errors[item(20).client], "BulkServiceUnknownTypeForRow");
  EXPECT_EQ(errors.count(item(10).client), 0u);
  EXPECT_EQ(api.audience("555"), (std::set<std::string>{hash(10), hash(18), hash(21)}));
  EXPECT_EQ(api.accepted()["row_errors"]["DuplicateClientId"], 2);
  EXPECT_EQ(accepted_upload(api, 0)["row_errors"], 9);
}

// ── Offline conversions ─────────────────────────────────────────────────────

std::string conversion_key(const std::string& action, const nlohmann::json& row) {
  return oracle_key("bingads.offline_conversion", {{"action", action}, {"row", row}});
}

TEST(BingAdsConversions, InsertRestateAndRetractKeepTheStoreAndTheOracle) {
  BingAdsApi api(opts());
  const Time day = kTimeZero + 24h;  // 2024-01-02T00:00:00Z
  Conv a{"1", "c1"};
  Conv b{"2", "c2"};
  b.click = "";
  b.email = hash(5);
  b.time = "1/1/2024 7:00:00 AM";
  EXPECT_EQ(submit_and_finish(api, zip_csv(insert_csv({a, b})), day).status, "Completed");
  EXPECT_EQ(api.conversions(), 2);
  const nlohmann::json a_row = {{"Conversion Currency Code", "USD"}, {"Conversion Name", "Purchase"},
                                {"Conversion Time", "1/1/2024 6:50:54 PM"}, {"Conversion Value", "10"},
                                {"Microsoft Click Id", kClick}};
  EXPECT_EQ(api.applied(conversion_key("insert", a_row)), 1);
  // A duplicate (same goal, time and click id) is ignored: no error, nothing applied.
  Conv again = a;
  again.id = "3";
  again.value = "99";
  const Status dup = submit_and_finish(api, zip_csv(insert_csv({again})), day + 1h);
  EXPECT_EQ(dup.status, "Completed");
  EXPECT_EQ(api.conversions(), 2);
  EXPECT_EQ(accepted_upload(api, 1)["duplicates_ignored"], 1);
  EXPECT_EQ(accepted_upload(api, 1)["applied"], 0);

  Adj restate{"4", "r1"};
  Adj unknown{"5", "r2"};
  unknown.click = "0123456789abcdef0123456789abcdef";
  const Status rs = submit_and_finish(api, zip_csv(update_csv({restate, unknown})), day + 2h);
  EXPECT_EQ(rs.status, "CompletedWithErrors");
  const auto r = named(result_rows(api, rs.result_url, day + 2h + 70s));
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[1].at("Id"), "5") << "[RS] offline conversions read errors by Id";
  EXPECT_EQ(r[1].at("Client Id"), "r2");
  EXPECT_EQ(r[2].at("Type"), "Offline Conversion Error");
  EXPECT_EQ(r[2].at("Error"), "BulkServiceEntityNotFound");
  EXPECT_EQ(r[2].at("Adjustment Currency Code"), "EUR") << "the peer's column comes back under the real name";
  EXPECT_EQ(r[2].at("Conversion Time"), "1/1/2024 6:50:54\xE2\x80\xAFPM") << "re-rendered as the real file does";
  const nlohmann::json restate_row = {{"Adjustment Type", "Restate"}, {"Conversion Name", "Purchase"},
                                      {"Conversion Time", "1/1/2024 6:50:54 PM"}, {"Adjustment Value", "20"},
                                      {"Microsoft Click Id", kClick}, {"Adjusted Currency Code", "EUR"},
                                      {"Adjustment Time", "1/1/2024 8:00:00 PM"}};
  EXPECT_EQ(api.applied(conversion_key("restate", restate_row)), 1);
  EXPECT_EQ(api.accepted()["conversions"]["restated"], 1);

  Adj retract{"6", ""};
  retract.click = "";
  retract.time = "1/1/2024 7:00:00 AM";
  // A Retract naming no identifier at all (b has no click id) is refused.
  EXPECT_EQ(submit_and_finish(api, zip_csv(delete_csv({retract})), day + 3h).status, "CompletedWithErrors");
  EXPECT_EQ(api.conversions(), 2);
  Adj retract_a{"7", ""};
  EXPECT_EQ(submit_and_finish(api, zip_csv(delete_csv({retract_a})), day + 4h).status, "Completed");
  EXPECT_EQ(api.conversions(), 1);
  const nlohmann::json retract_row = {{"Adjustment Type", "Retract"}, {"Conversion Name", "Purchase"},
                                      {"Conversion Time", "1/1/2024 6:50:54 PM"}, {"Microsoft Click Id", kClick},
                                      {"Adjustment Time", "1/1/2024 8:00:00 PM"}};
  EXPECT_EQ(api.applied(conversion_key("retract", retract_row)), 1);
  EXPECT_EQ(submit_and_finish(api, zip_csv(delete_csv({retract_a})), day + 5h).status, "CompletedWithErrors")
      << "retracted twice";
  EXPECT_EQ(api.accepted()["conversions"],
            (nlohmann::json{{"stored", 1}, {"restated", 1}, {"retracted", 1}, {"duplicates_ignored", 1}}));
  // Retracted, it may be inserted again.
  EXPECT_EQ(submit_and_finish(api, zip_csv(insert_csv({a})), day + 6h).status, "Completed");
  EXPECT_EQ(api.applied(conversion_key("insert", a_row)), 2);
  // Applied: 2 inserts, 1 restate, 1 retract, 1 insert again; the duplicate and the refused rows not.
  EXPECT_EQ(api.applications(), 5);
  EXPECT_EQ(api.accepted()["distinct_applications"], 4);
}

TEST(BingAdsConversions, EachInsertRuleHasItsError) {
  BingAdsApi api(opts());
  const Time day = kTimeZero + 100 * 24h;  // 2024-04-10T00:00:00Z
  std::vector<std::pair<Conv, std::string>> cases;
  int n = 0;
  auto add = [&](auto change, const std::string& error) {
    Conv c;
    c.id = std::to_string(++n);
    c.client = "c" + c.id;
    c.time = "4/9/2024 " + std::to_string(n % 12 + 1) + ":00:00 PM";
    change(c);
    cases.emplace_back(c, error);
  };
  add([](Conv&) {}, "");
  add([](Conv& c) { c.name = ""; }, "OfflineConversionNameNullOrEmpty");
  add([](Conv& c) { c.name = "Signup"; }, "OfflineConversionNameInvalid");
  add([](Conv& c) { c.time = ""; }, "OfflineConversionTimeNullOrEmpty");
  add([](Conv& c) { c.time = "04/9/2024 1:00:00 PM"; }, "OfflineConversionTimeInvalid");
  add([](Conv& c) { c.time = "4/9/2024 01:00:00 PM"; }, "OfflineConversionTimeInvalid");
  add([](Conv& c) { c.time = "2024-04-09T13:00:00Z"; }, "OfflineConversionTimeInvalid");
  add([](Conv& c) { c.time = "2/30/2024 1:00:00 PM"; }, "OfflineConversionTimeInvalid");
  add([](Conv& c) { c.time = "4/9/2024 1:00:00\xE2\x80\xAFPM"; }, "OfflineConversionTimeInvalid");
  add([](Conv& c) { c.time = "4/10/2024 12:00:01 AM"; }, "FutureConversionTimeCannotBeSet");
  add([](Conv& c) { c.time = "1/10/2024 11:59:59 PM"; }, "OfflineConversionTimeOutOfWindow");
  add([](Conv& c) { c.time = "1/11/2024 12:00:00 AM"; }, "");  // exactly 90 days
  add([](Conv& c) { c.click = ""; }, "OfflineConversionMicrosoftClickIdNullOrEmpty");
  add([](Conv& c) { c.click = "F894F652EA334E739002F7167AB8F8E3"; }, "OfflineConversionMicrosoftClickIdInvalid");
  add([](Conv& c) { c.email = "someone@example.com"; }, "EmailMustBeHashed");
  add([](Conv& c) { c.click = "", c.phone = "+15551234567"; }, "PhoneNumberMustBeHashed");
  add([](Conv& c) { c.click = "", c.phone = hash(3); }, "");
  add([](Conv& c) { c.value = "1e3"; }, "OfflineConversionValueInvalid");
  add([](Conv& c) { c.value = "-1"; }, "OfflineConversionValueInvalid");
  add([](Conv& c) { c.value = ""; }, "");
  add([](Conv& c) { c.currency = "XYZ"; }, "OfflineConversionCurrencyCodeInvalid");
  add([](Conv& c) { c.currency = "usd"; }, "OfflineConversionCurrencyCodeInvalid");
  add([](Conv& c) { c.currency = "JPY"; }, "");
  add([](Conv& c) { c.client = std::string(101, 'x'); }, "ClientIdTooLong");
  std::vector<std::vector<std::string>> rows = {kInsertHeader, version_row(15, 5)};
  for (const auto& [c, e] : cases) rows.push_back(insert_row(c));
  rows.push_back(insert_row(Conv{"99", "c99"}));
  rows.back()[0] = "Offline Conversions";
  const Status s = submit_and_finish(api, zip_csv(csv(rows)), day, "ErrorsAndResults");
  const auto r = named(result_rows(api, s.result_url, day + 70s));
  std::map<std::string, std::string> errors;  // Id → Error
  for (const auto& row : r)
    if (row.count("Id")) errors[row.at("Id")] = row.count("Error") ? row.at("Error") : errors[row.at("Id")];
  for (const auto& [c, e] : cases) EXPECT_EQ(errors[c.id], e) << c.id << " " << c.time;
  EXPECT_EQ(errors["99"], "BulkServiceUnknownTypeForRow");
  EXPECT_EQ(api.conversions(), 5);
}

TEST(BingAdsConversions, EachAdjustmentRuleHasItsError) {
  BingAdsApi api(opts());
  const Time day = kTimeZero + 24h;
  Conv base{"0", "c0"};
  ASSERT_EQ(submit_and_finish(api, zip_csv(insert_csv({base})), day).status, "Completed");
  std::vector<std::pair<Adj, std::string>> cases;
  int n = 0;
  auto add = [&](auto change, const std::string& error) {
    Adj a;
    a.id = std::to_string(++n);
    change(a);
    cases.emplace_back(a, error);
  };
  add([](Adj& a) { a.type = "Update"; }, "OfflineConversionInvalidAdjustmentType");
  // The rules every row has come before the adjustment's own.
  add([](Adj& a) { a.type = "Update", a.name = ""; }, "OfflineConversionNameNullOrEmpty");
  add([](Adj& a) { a.type = "Update", a.click = "A"; }, "OfflineConversionMicrosoftClickIdInvalid");
  add([](Adj& a) { a.type = ""; }, "OfflineConversionInvalidAdjustmentType");
  add([](Adj& a) { a.adjusted = ""; }, "OfflineConversionAdjustmentTimeNullOrEmpty");
  add([](Adj& a) { a.adjusted = "2024-01-01T20:00:00Z"; }, "OfflineConversionAdjustmentTimeInvalid");
  add([](Adj& a) { a.adjusted = a.time; }, "OfflineConversionAdjustmentTimeEarlierThanConversionTime");
  add([](Adj& a) { a.adjusted = "1/2/2024 1:00:01 AM"; }, "OfflineConversionFutureAdjustmentTimeCannotBeSet");
  add([](Adj& a) { a.value = ""; }, "OfflineConversionAdjustmentValueRequired");
  add([](Adj& a) { a.value = "twenty"; }, "OfflineConversionValueInvalid");
  add([](Adj& a) { a.currency = "EURO"; }, "OfflineConversionCurrencyCodeInvalid");
  add([](Adj& a) { a.type = "Retract"; }, "OfflineConversionAdjustmentValueNotExpected");
  add([](Adj& a) { a.name = "Signup"; }, "OfflineConversionNameInvalid");
  add([](Adj& a) { a.currency = ""; }, "");  // applies: a restate of base
  std::vector<std::vector<std::string>> rows = {kUpdateHeader, version_row(13, 4)};
  for (const auto& [a, e] : cases) rows.push_back(update_row(a));
  const Status s = submit_and_finish(api, zip_csv(csv(rows)), day + 1h);
  const auto r = named(result_rows(api, s.result_url, day + 1h + 70s));
  std::map<std::string, std::string> errors;
  for (const auto& row : r)
    if (row.count("Error")) errors[row.at("Id")] = row.at("Error");
  for (const auto& [a, e] : cases) EXPECT_EQ(errors[a.id], e) << a.id;
  EXPECT_EQ(api.accepted()["conversions"]["restated"], 1);

  // The documented column name reads too; a Retract from an update-set file.
  std::vector<std::string> documented = kUpdateHeader;
  documented[11] = "Adjustment Currency Code";
  Adj retract{"20", ""};
  retract.type = "Retract";
  retract.value = "";
  retract.currency = "";
  EXPECT_EQ(submit_and_finish(api, zip_csv(csv({documented, version_row(13, 4), update_row(retract)})), day + 2h)
                .status,
            "Completed");
  EXPECT_EQ(api.conversions(), 0);
  // Adjustments older than 90 days are out of the window.
  Adj old{"21", ""};
  old.adjusted = "1/1/2024 9:00:00 PM";
  const Status late = submit_and_finish(api, zip_csv(update_csv({old})), kTimeZero + 92 * 24h);
  const auto lr = named(result_rows(api, late.result_url, kTimeZero + 92 * 24h + 70s));
  EXPECT_EQ(lr[2].at("Error"), "OfflineConversionAdjustmentTimeOutOfWindow");
}

// ── Options, hosts, state ───────────────────────────────────────────────────

TEST(BingAdsOptions, ReadsEveryKeyAndNamesTheBadOne) {
  auto o = BingAdsApiOptions::from_json(
      {{"token", {{"secret", "t"}}},
       {"developer_token", "d"},
       {"customer_id", "9"},
       {"latency", "5ms"},
       {"account_ids", {1, 2}},
       {"audience_ids", {3}},
       {"conversion_goals", {"G"}},
       {"token_lifetime", "1h"},
       {"calls_per_minute", 30},
       {"internal_error_calls", {4}},
       {"upload_url_valid_for", "10m"},
       {"result_url_valid_for", "2m"},
       {"queued_for", "1s"},
       {"processing_for", "2s"},
       {"fail_uploads", {5}},
       {"rows_max", 100},
       {"upload_bytes_max", "1MB"},
       {"bom_required", false},
       {"upload_base_url", "http://127.0.0.1:8080/"},
       {"result_base_url", "http://127.0.0.1:8080"},
       {"upload_service", "0"},
       {"call_service", "0"},
       {"status_values", {{"Completed", "Done"}}}},
      "x.json");
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->token, "t");
  EXPECT_EQ(o->developer_token, "d");
  EXPECT_EQ(o->latency, Duration(5ms));
  EXPECT_EQ(o->token_lifetime, Duration(1h));
  EXPECT_EQ(o->upload_bytes_max, 1'000'000);
  EXPECT_EQ(o->upload_base_url, "http://127.0.0.1:8080");
  EXPECT_FALSE(o->bom_required);
  EXPECT_EQ(o->status_values.at("Completed"), "Done");
  EXPECT_EQ(o->fail_uploads, std::vector<std::int64_t>{5});

  BingAdsApiOptions d;
  EXPECT_EQ(d.upload_url_valid_for, Duration(15min));
  EXPECT_EQ(d.result_url_valid_for, Duration(5min));
  EXPECT_EQ(d.rows_max, 4'000'000);
  EXPECT_EQ(d.upload_bytes_max, 100 * 1024 * 1024);

  auto err = [](const nlohmann::json& j) {
    auto r = BingAdsApiOptions::from_json(j, "x.json");
    return r.ok() ? std::string("ok") : r.error().message;
  };
  EXPECT_NE(err({{"tokens", "t"}}).find("x.json: /tokens"), std::string::npos) << err({{"tokens", "t"}});
  EXPECT_EQ(err({{"queued_for", "soon"}}).substr(0, 19), "x.json: /queued_for");
  EXPECT_EQ(err({{"fail_uploads", {0}}}).substr(0, 23), "x.json: /fail_uploads/0");
  EXPECT_EQ(err({{"upload_base_url", "ftp://x"}}).substr(0, 24), "x.json: /upload_base_url");
  EXPECT_EQ(err({{"result_base_url", "https://x/path"}}).substr(0, 24), "x.json: /result_base_url");
  EXPECT_EQ(err({{"status_values", {{"Done", "x"}}}}).substr(0, 27), "x.json: /status_values/Done");
  EXPECT_EQ(err({{"conversion_goals", {""}}}).substr(0, 29), "x.json: /conversion_goals/0: ");
  EXPECT_EQ(err({{"rows_max", 0}}).substr(0, 17), "x.json: /rows_max");
}

TEST(BingAdsHosts, ExtraHostsLatencyAndOneDoorForEverything) {
  BingAdsApiOptions o = opts();
  o.latency = 5ms;
  BingAdsApi api(o);
  EXPECT_EQ(api.extra_hosts(), (std::vector<std::string>{"fileupload.api.bingads.microsoft.com",
                                                         "bingadsappsstorageprod.blob.core.windows.net"}));
  const Ticket t = get_url(api, kTimeZero);
  EXPECT_EQ(api.latency_for(upload_request(t.upload_url, "")), Duration(1005ms));
  EXPECT_EQ(api.latency_for(url_request()), Duration(105ms));

  // `destsim serve`: both base URLs at the door; everything on its host.
  o.upload_base_url = "http://127.0.0.1:8080";
  o.result_base_url = "http://127.0.0.1:8080";
  BingAdsApi door(o);
  EXPECT_EQ(door.extra_hosts(), std::vector<std::string>{"127.0.0.1"});
  Request soap = url_request();
  soap.host = "127.0.0.1";
  Response r = door.handle(soap, kTimeZero);
  ASSERT_EQ(r.status, 200);
  const std::string url = unescape(between(r.body, "<UploadUrl>", "</UploadUrl>"));
  EXPECT_EQ(url.find("http://127.0.0.1:8080/Api/"), 0u);
  Request up = upload_request(url, zip_csv(audience_csv("555", "Add", {item(1)})));
  EXPECT_EQ(up.host, "127.0.0.1:8080");
  up.host = "127.0.0.1";  // as the HTTP door passes it
  EXPECT_EQ(door.handle(up, kTimeZero).status, 200);
}

TEST(BingAdsState, ResetForgetsEverythingButTheRotatedToken) {
  BingAdsApi api(opts());
  submit_and_finish(api, zip_csv(audience_csv("555", "Add", {item(1)})), kTimeZero);
  ASSERT_TRUE(api.control(JsonIn(nlohmann::json{{"set_token", "tok-2"}}, "test"), kTimeZero + 1min).ok());
  ASSERT_EQ(api.audience("555").size(), 1u);
  api.reset();
  EXPECT_TRUE(api.audience("555").empty());
  EXPECT_EQ(api.applied(member_key("555", "Add", hash(1))), 0);
  EXPECT_EQ(api.requests(), 0);
  EXPECT_EQ(api.accepted()["uploads"].size(), 0u);
  EXPECT_EQ(api.handle(url_request({{"AccountId", kAccount}}, {{"AuthenticationToken", "tok-2"}}), kTimeZero).status,
            200);
  // The old token was retired in the state reset() forgot: now merely wrong.
  EXPECT_EQ(fault_of(api.handle(url_request(), kTimeZero)).first, "105");
}

TEST(BingAdsState, AcceptedHasTheDocumentedShape) {
  BingAdsApi api(opts());
  const Time day = kTimeZero + 24h;
  submit_and_finish(api, zip_csv(audience_csv("555", "Add", {item(1), item(2)})), day);
  submit_and_finish(api, zip_csv(insert_csv({Conv{"1", "c1"}})), day, "ErrorsAndResults");
  get_url(api, day);
  api.handle(url_request({}, {{"AuthenticationToken", "x"}}), day);
  const nlohmann::json a = api.accepted();
  std::vector<std::string> keys;
  for (auto it = a.begin(); it != a.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"applications", "audiences", "conversions", "distinct_applications",
                                            "faults", "rejected", "requests", "result_downloads", "result_refusals",
                                            "row_errors", "soap_calls", "upload_refusals", "uploads"}));
  EXPECT_EQ(a["requests"], 8);
  EXPECT_EQ(a["soap_calls"], 6);
  EXPECT_EQ(a["faults"].size(), 10u);
  EXPECT_EQ(a["faults"]["InvalidCredentials"], 1);
  EXPECT_EQ(a["rejected"], 1) << "a SOAP fault is a refused request";
  EXPECT_EQ(a["audiences"], (nlohmann::json{{"555", 2}}));
  EXPECT_EQ(a["applications"], 3);
  EXPECT_EQ(a["distinct_applications"], 3);
  EXPECT_EQ(a["upload_refusals"], nlohmann::json::object());
  EXPECT_EQ(a["row_errors"], nlohmann::json::object());
  ASSERT_EQ(a["uploads"].size(), 3u);
  EXPECT_EQ(a["uploads"][0], (nlohmann::json{{"request_id", a["uploads"][0]["request_id"]},
                                             {"account_id", "123"},
                                             {"response_mode", "ErrorsOnly"},
                                             {"status", "Completed"},
                                             {"percent_complete", 100},
                                             {"url_expired", false},
                                             {"kind", "customer_list"},
                                             {"rows", 3},
                                             {"row_errors", 0},
                                             {"applied", 2},
                                             {"duplicates_ignored", 0}}));
  EXPECT_EQ(a["uploads"][1]["kind"], "offline_conversion");
  EXPECT_EQ(a["uploads"][1]["response_mode"], "ErrorsAndResults");
  EXPECT_EQ(a["uploads"][2]["kind"], nullptr);
  EXPECT_EQ(a["uploads"][2]["status"], "PendingFileUpload");
}

}  // namespace
}  // namespace destsim
