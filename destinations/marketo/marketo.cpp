#include "destinations/marketo/marketo.h"

#include <algorithm>
#include <map>
#include <optional>

#include "destinations/bulk_destination.h"
#include "framework/http_call.h"
#include "framework/csv.h"
#include "framework/json_in.h"
#include "framework/oracle.h"

namespace destsim {

namespace {

constexpr std::int64_t kRequestBytesMax = 10'000'000;  // Marketo: files under 10 MB
constexpr std::int64_t kFileBytesMax = 9'990'000;       // leaves room for the multipart envelope
const char* const kFailureColumn = "Import Failure Reason";
const char* const kWarningColumn = "Import Warning Reason";

struct Settings {
  std::string host;
  std::string client_id;
  std::string client_secret;
  std::string lookup_field;
  std::vector<std::string> columns;
  std::map<std::string, std::string> field_map;  // payload key → column
  std::int64_t records_max = 0;
  std::int64_t file_bytes_max = 0;
  Duration token_refresh_margin{0};
};

Result<Settings> settings_from(const Config& c) {
  Settings s;
  s.host = c.string("host");
  s.client_id = c.string("client_id");
  s.client_secret = c.secret("client_secret").value;
  s.lookup_field = c.string("lookup_field");
  s.records_max = c.integer("records_max");
  s.file_bytes_max = c.size("file_bytes_max");
  s.token_refresh_margin = c.duration("token_refresh_margin");
  const std::string where = "marketo_bulk_upload config: ";
  if (s.host.empty()) return Error::bad_input(where + "host: expected a host like 123-ABC-456.mktorest.com");
  if (s.client_id.empty()) return Error::bad_input(where + "client_id: expected a non-empty string");
  const nlohmann::json& cols = c.json("columns");
  if (!cols.is_array() || cols.empty())
    return Error::bad_input(where + "columns: expected a non-empty array of Marketo REST field names");
  for (std::size_t i = 0; i < cols.size(); ++i) {
    if (!cols[i].is_string() || cols[i].get<std::string>().empty())
      return Error::bad_input(where + "columns/" + std::to_string(i) + ": expected a non-empty field name");
    std::string col = cols[i];
    if (col.find_first_of(",\"\r\n") != std::string::npos)
      return Error::bad_input(where + "columns/" + std::to_string(i) + ": expected a field name without , \" or line breaks");
    if (std::find(s.columns.begin(), s.columns.end(), col) != s.columns.end())
      return Error::bad_input(where + "columns/" + std::to_string(i) + ": duplicate column \"" + col + "\"");
    s.columns.push_back(col);
  }
  if (std::find(s.columns.begin(), s.columns.end(), s.lookup_field) == s.columns.end())
    return Error::bad_input(where + "lookup_field: \"" + s.lookup_field + "\" is not one of the columns");
  const nlohmann::json& fm = c.json("field_map");
  if (!fm.is_null()) {
    if (!fm.is_object()) return Error::bad_input(where + "field_map: expected an object {payload key: column}");
    for (auto it = fm.begin(); it != fm.end(); ++it) {
      if (!it.value().is_string() ||
          std::find(s.columns.begin(), s.columns.end(), it.value().get<std::string>()) == s.columns.end())
        return Error::bad_input(where + "field_map/" + it.key() + ": expected one of the columns");
      s.field_map[it.key()] = it.value().get<std::string>();
    }
  }
  return s;
}

// The row a record becomes: one value per column (empty when absent).
Result<std::vector<std::string>> row_of(const Record& r, const Settings& s) {
  auto bad = [&](const std::string& what) {
    return Error::bad_input("record " + std::to_string(r.id) + ": " + what);
  };
  if (!r.payload.is_object()) return bad("payload: expected an object of lead fields");
  std::vector<std::string> values(s.columns.size());
  std::vector<bool> set(s.columns.size(), false);
  for (auto it = r.payload.begin(); it != r.payload.end(); ++it) {
    auto mapped = s.field_map.find(it.key());
    const std::string& col = mapped != s.field_map.end() ? mapped->second : it.key();
    auto c = std::find(s.columns.begin(), s.columns.end(), col);
    if (c == s.columns.end())
      return bad("field \"" + it.key() + "\" is not a configured column (add it to columns or field_map)");
    const auto i = static_cast<std::size_t>(c - s.columns.begin());
    if (set[i]) return bad("two fields map to column \"" + col + "\"");
    set[i] = true;
    const nlohmann::json& v = it.value();
    if (v.is_string()) values[i] = v.get<std::string>();
    else if (v.is_null()) values[i] = "";
    else if (v.is_boolean()) values[i] = v.get<bool>() ? "true" : "false";
    else if (v.is_number()) values[i] = v.dump();
    else return bad("field \"" + it.key() + "\": expected a string, number, boolean or null");
  }
  const auto lookup = static_cast<std::size_t>(
      std::find(s.columns.begin(), s.columns.end(), s.lookup_field) - s.columns.begin());
  if (values[lookup].empty()) return bad("needs a value for the lookup field \"" + s.lookup_field + "\"");
  return values;
}

nlohmann::json effect_item(const std::vector<std::string>& columns, const std::vector<std::string>& values) {
  nlohmann::json item = nlohmann::json::object();
  for (std::size_t i = 0; i < columns.size(); ++i) item[columns[i]] = values[i];
  return item;
}

// How a Marketo error code is handled (APIS.md §1, fixed where the peer is wrong).
enum class CodeClass { refresh, retry, fail };

CodeClass classify_code(const std::string& code) {
  static const std::map<std::string, CodeClass> table = {
      {"600", CodeClass::refresh}, {"601", CodeClass::refresh}, {"602", CodeClass::refresh},
      {"502", CodeClass::retry},   {"604", CodeClass::retry},   {"606", CodeClass::retry},
      {"607", CodeClass::retry},   {"608", CodeClass::retry},   {"611", CodeClass::retry},
      {"614", CodeClass::retry},   {"615", CodeClass::retry},   {"713", CodeClass::retry},
      {"719", CodeClass::retry},   {"1016", CodeClass::retry},  {"1029", CodeClass::retry},
      {"603", CodeClass::fail},    {"605", CodeClass::fail},    {"609", CodeClass::fail},
      {"610", CodeClass::fail},    {"612", CodeClass::fail},    {"613", CodeClass::fail},
      {"616", CodeClass::fail},
  };
  auto it = table.find(code);
  if (it != table.end()) return it->second;
  // Other 7xx are parameter/data errors and 1xxx record/data errors: permanent.
  const bool digits = !code.empty() && std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits && ((code.size() == 3 && code[0] == '7') || (code.size() == 4 && code[0] == '1'))) return CodeClass::fail;
  return CodeClass::retry;  // unknown codes: retry
}

// The reason kind a Marketo code names (APIS.md §1): token and permission
// codes are auth, throttles and quotas are rate_limited, 1xxx/7xx are the
// API's rejections; none for no code (the HTTP status tells).
ReasonKind code_kind(const std::string& code) {
  if (code.empty()) return ReasonKind::none;
  if (code == "600" || code == "601" || code == "602" || code == "603") return ReasonKind::auth;
  if (code == "606" || code == "607" || code == "615" || code == "1029") return ReasonKind::rate_limited;
  if (code == "604" || code == "608" || code == "611" || code == "614" || code == "713" || code == "719" ||
      code == "1016" || code == "502")
    return ReasonKind::server_error;
  return ReasonKind::rejected_by_api;
}

std::string str(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return "";
  const auto& v = j[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  return "";
}

std::int64_t num(const nlohmann::json& j, const char* key, std::int64_t fallback = -1) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number_integer()) return fallback;
  return j[key].get<std::int64_t>();
}

// What one authorised call to Marketo gave.
struct Sent {
  std::optional<HttpResult> res;  // unset when no token could be had
  std::string token_error;        // why not
  bool token_permanent = false;   // bad credentials (not worth retrying)
  nlohmann::json body;            // the parsed JSON body of a 200, or discarded
  std::string code, message;      // of a success:false body
};

class MarketoManager final : public AsyncDestinationManager {
 public:
  MarketoManager(DeliveryContext& ctx, Settings s) : ctx_(ctx), s_(std::move(s)) {
    header_ = csv_line(s_.columns);
    ctx_.loop.trace().add_secret(s_.client_secret);
  }

  std::string name() const override { return "marketo_bulk_upload"; }
  bool idempotent() const override { return true; }  // upserts by lookup field

  BulkLimits limits() const override {
    return BulkLimits{.records_max = s_.records_max,
                      .bytes_max = s_.file_bytes_max,
                      .header_bytes = static_cast<std::int64_t>(header_.size()) + 1,
                      .separator_bytes = 1};
  }

  Result<BulkItem> transform(const Record& record) override {
    DS_TRY(std::vector<std::string> values, row_of(record, s_));
    return BulkItem{record.id, csv_line(values)};
  }

  Task<UploadOutcome> upload(const std::vector<const BulkItem*>& items) override {
    // Identical rows go once; each distinct row keeps the jobs that produced it.
    std::map<std::string, std::size_t> index;
    nlohmann::json rows = nlohmann::json::array(), jobs = nlohmann::json::array();
    std::vector<JobId> all;
    std::string file = header_ + "\n";
    for (const BulkItem* item : items) {
      all.push_back(item->id);
      auto [it, fresh] = index.emplace(item->data, index.size());
      if (fresh) {
        rows.push_back(item->data);
        jobs.push_back(nlohmann::json::array());
        file += item->data;
        file += '\n';
      }
      jobs[it->second].push_back(item->id);
    }
    std::string boundary = "destsim-marketo-" + std::to_string(++uploads_);
    while (file.find(boundary) != std::string::npos) boundary += "x";
    std::string body;
    body.reserve(file.size() + 512);
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"format\"\r\n\r\ncsv\r\n";
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"lookupField\"\r\n\r\n" + s_.lookup_field +
            "\r\n";
    body += "--" + boundary +
            "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"leads.csv\"\r\nContent-Type: text/csv\r\n\r\n";
    body += file;
    body += "\r\n--" + boundary + "--\r\n";
    Request req;
    req.method = "POST";
    req.host = s_.host;
    req.path = "/bulk/v1/leads.json";
    req.headers.set("Content-Type", "multipart/form-data; boundary=" + boundary);
    req.body = std::move(body);
    Sent sent = co_await send(std::move(req));

    UploadOutcome out;
    auto retry = [&](std::string reason, bool maybe_applied, std::optional<Duration> after = std::nullopt) {
      out.kind = UploadOutcome::Kind::retry;
      out.reason = std::move(reason);
      out.maybe_applied = maybe_applied;
      out.retry_after = after;
    };
    auto fail = [&](std::string reason) {
      out.kind = UploadOutcome::Kind::failed;
      out.reason = std::move(reason);
    };
    if (!sent.res) {
      if (sent.token_permanent) {
        out.reason_kind = ReasonKind::auth;  // the identity endpoint refused the credentials
        fail(sent.token_error);
      } else {
        retry(sent.token_error, false);
      }
      co_return out;
    }
    const HttpResult& res = *sent.res;
    if (!res.ok()) {
      out.http_status = 0;
      retry(std::string("transport ") + transport_error_kind_name(res.error().kind) + ": " + res.error().message,
            res.error().maybe_applied);
      co_return out;
    }
    const Response& r = *res;
    out.http_status = r.status;
    out.reason_kind = code_kind(sent.code);
    if (r.status == 413) {
      fail("HTTP 413: upload too large (file of " + std::to_string(file.size()) +
           " bytes; Marketo's limit is 10 MB per file)");
      co_return out;
    }
    if (r.status == 408 || r.status == 429 || r.status >= 500) {
      retry("HTTP " + std::to_string(r.status), may_have_applied(r.status), retry_after(r, ctx_.loop));
      co_return out;
    }
    if (r.status != 200) {
      // A 401/403 refuses the credentials, whatever code its body carries.
      if (r.status == 401 || r.status == 403) out.reason_kind = ReasonKind::auth;
      fail("HTTP " + std::to_string(r.status) + describe_body(r));
      co_return out;
    }
    if (!sent.body.is_object()) {
      retry("HTTP 200 with an unreadable body", true);
      co_return out;
    }
    if (!sent.code.empty()) {
      const std::string reason = "code " + sent.code + ": " + sent.message;
      if (classify_code(sent.code) == CodeClass::fail) fail(reason);
      else retry(reason, false, throttle_wait(sent.code));
      co_return out;
    }
    const nlohmann::json& result = sent.body.value("result", nlohmann::json());
    const nlohmann::json first = result.is_array() && !result.empty() ? result[0] : nlohmann::json();
    const std::int64_t batch = num(first, "batchId");
    if (batch < 0) {
      retry("HTTP 200 success without a batchId", true);
      co_return out;
    }
    out.kind = UploadOutcome::Kind::importing;
    out.import.import_id = std::to_string(batch);
    out.import.jobs = std::move(all);
    out.import.params = {{"batch_id", batch}, {"header", header_}, {"rows", std::move(rows)}, {"jobs", std::move(jobs)}};
    co_return out;
  }

  Task<PollOutcome> poll(const ImportRef& import) override {
    PollOutcome out;
    const std::int64_t batch = num(import.params, "batch_id");
    if (batch < 0) {
      out.status = ImportStatus::failed;
      out.reason = "import " + import.import_id + ": stored params have no batch_id (expected an integer)";
      co_return out;
    }
    Sent sent = co_await send(get("/bulk/v1/leads/batch/" + std::to_string(batch) + ".json"));
    auto transient = [&](std::string reason, std::optional<Duration> after = std::nullopt) {
      out.transient = true;
      out.reason = std::move(reason);
      out.retry_after = after;
    };
    std::string problem;
    if (!usable(sent, problem, out.retry_after)) {
      if (refused(sent)) {
        // A 4xx outside the declared table: polling again cannot help. The
        // batch Marketo accepted ends failed, its jobs' outcome unknown.
        out.status = ImportStatus::failed;
        out.reason = problem;
        if (sent.res) out.http_status = (*sent.res)->status;
        co_return out;
      }
      transient(problem, out.retry_after);
      co_return out;
    }
    if (!sent.code.empty()) {
      const std::string reason = "code " + sent.code + ": " + sent.message;
      if (sent.code == "1013" || classify_code(sent.code) == CodeClass::fail) {
        out.reason_kind = code_kind(sent.code);
        // The batch is gone or we may not read it; Marketo had accepted it, so
        // it may have been imported: the router marks the jobs outcome_unknown
        // and uploads them again (lead imports are idempotent upserts).
        out.status = ImportStatus::failed;
        out.reason = reason;
      } else {
        transient(reason, throttle_wait(sent.code));
      }
      co_return out;
    }
    const nlohmann::json& result = sent.body.value("result", nlohmann::json());
    const nlohmann::json first = result.is_array() && !result.empty() ? result[0] : nlohmann::json();
    const std::string status = str(first, "status");
    if (status == "Queued" || status == "Importing") {
      out.status = ImportStatus::running;
    } else if (status == "Complete") {
      out.status = ImportStatus::completed;
    } else if (status == "Failed") {
      // A Failed batch applied the leads it counts as processed (APIS.md §1:
      // numOfLeadsProcessed); none processed is a known failure, anything
      // else (or no count) leaves its jobs' outcome unknown.
      out.status = ImportStatus::failed;
      const nlohmann::json processed = first.value("numOfLeadsProcessed", nlohmann::json());
      out.nothing_applied = processed.is_number_integer() && processed.get<std::int64_t>() == 0;
      out.reason = "Marketo import " + import.import_id + " Failed: " + str(first, "message");
    } else {
      // D3: an unknown status is never taken for done. Poll again; the poll
      // timeout ends an import that never reaches a known terminal status.
      transient("unknown import status \"" + status + "\" (expected Queued, Importing, Complete or Failed)");
    }
    co_return out;
  }

  Task<StatsOutcome> upload_stats(const ImportRef& import) override {
    StatsOutcome out;
    const nlohmann::json& p = import.params;
    const std::int64_t batch = num(p, "batch_id");
    if (batch < 0 || !p.contains("rows") || !p["rows"].is_array() || !p.contains("jobs") || !p["jobs"].is_array() ||
        p["rows"].size() != p["jobs"].size()) {
      out.reason = "import " + import.import_id + ": stored params unreadable; its jobs are retried";
      co_return out;  // nothing named: every job is retried (D4)
    }
    const nlohmann::json& rows = p["rows"];
    const std::string header = p.value("header", header_);
    const std::string base = "/bulk/v1/leads/batch/" + std::to_string(batch);
    // The counts (read again: a fresh manager after a restart has only the ref).
    Sent st = co_await send(get(base + ".json"));
    std::optional<Duration> ignored;
    std::string problem;
    if (!usable(st, problem, ignored) || !st.code.empty()) {
      out.transient = !refused(st);  // a refused read is not asked again: its jobs are retried (D4)
      out.reason = problem.empty() ? "code " + st.code + ": " + st.message : problem;
      co_return out;
    }
    const nlohmann::json& result = st.body.value("result", nlohmann::json());
    const nlohmann::json first = result.is_array() && !result.empty() ? result[0] : nlohmann::json();
    if (str(first, "status") != "Complete") {
      out.transient = true;
      out.reason = "import " + import.import_id + " status \"" + str(first, "status") + "\" when reading results";
      co_return out;
    }
    const std::int64_t processed = num(first, "numOfLeadsProcessed", 0);
    const std::int64_t failed_n = num(first, "numOfRowsFailed", 0);
    const std::int64_t warned_n = num(first, "numOfRowsWithWarning", 0);

    std::map<std::string, std::size_t> by_text;
    for (std::size_t i = 0; i < rows.size(); ++i)
      if (rows[i].is_string()) by_text.emplace(rows[i].get<std::string>(), i);
    std::map<std::size_t, std::string> failed, warned;  // row index → reason
    bool consistent = by_text.size() == rows.size();
    for (int pass = 0; pass < 2; ++pass) {
      const bool failures = pass == 0;
      if ((failures ? failed_n : warned_n) <= 0) continue;
      Sent f = co_await send(get(base + (failures ? "/failures.json" : "/warnings.json")));
      std::string why;
      std::map<std::size_t, std::string>& into = failures ? failed : warned;
      if (!read_rows_file(f, header, failures ? kFailureColumn : kWarningColumn, by_text, into, consistent, why)) {
        // A refused read (a 4xx outside the table) is not asked again: with no
        // results, every job of the import is retried as unknown (D4).
        out.transient = !refused(f);
        out.reason = std::string(failures ? "failures" : "warnings") + " file: " + why;
        co_return out;
      }
    }
    consistent = consistent && static_cast<std::int64_t>(failed.size()) == failed_n &&
                 static_cast<std::int64_t>(warned.size()) == warned_n &&
                 processed + failed_n == static_cast<std::int64_t>(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      auto fi = failed.find(i);
      std::optional<MessageResult> verdict;
      if (fi != failed.end()) {
        verdict = MessageResult{0, Verdict::fail, fi->second};
      } else if (warned.count(i) || consistent) {
        verdict = MessageResult{0, Verdict::ok, ""};  // imported (a warned row was imported too)
      }
      if (!verdict || !p["jobs"][i].is_array()) continue;  // unaccounted: the router retries it (D4)
      for (const auto& id : p["jobs"][i]) {
        if (!id.is_number_unsigned() && !id.is_number_integer()) continue;
        MessageResult m = *verdict;
        m.id = id.get<JobId>();
        out.results.push_back(std::move(m));
      }
    }
    if (!consistent)
      out.reason = "import " + import.import_id + ": counts (" + std::to_string(processed) + " processed, " +
                   std::to_string(failed_n) + " failed, " + std::to_string(warned_n) +
                   " warned) do not account for its " + std::to_string(rows.size()) + " rows";
    co_return out;
  }

 private:
  Request get(std::string path) const {
    Request r;
    r.method = "GET";
    r.host = s_.host;
    r.path = std::move(path);
    return r;
  }

  // How long a throttle code asks us to wait: 606 the rate window, 607 until
  // the daily quota resets at 00:00 CST (06:00 UTC), 1016 a minute.
  std::optional<Duration> throttle_wait(const std::string& code) const {
    if (code == "606") return std::chrono::seconds(20);
    if (code == "1016") return std::chrono::seconds(60);
    if (code == "607") {
      const std::int64_t day_ms = 86'400'000, cst_ms = 6 * 3'600'000;
      const std::int64_t now_ms = ctx_.loop.clock().unix_ms(ctx_.loop.now());
      const std::int64_t next = ((now_ms - cst_ms) / day_ms + 1) * day_ms + cst_ms;
      return std::chrono::milliseconds(next - now_ms);
    }
    return std::nullopt;
  }

  static std::string describe_body(const Response& r) {
    nlohmann::json b = parse_json_body(r.body);
    std::string d = str(b, "error_description");
    if (d.empty()) d = str(b, "message");
    if (d.empty()) d = str(b, "error");
    return d.empty() ? "" : ": " + d;
  }

  // For poll and stats: a sent call that gave a readable 200 JSON body.
  bool usable(const Sent& sent, std::string& problem, std::optional<Duration>& after) const {
    if (!sent.res) {
      problem = sent.token_error;
      return false;
    }
    const HttpResult& res = *sent.res;
    if (!res.ok()) {
      problem = std::string("transport ") + transport_error_kind_name(res.error().kind);
      return false;
    }
    if (res->status != 200) {
      problem = "HTTP " + std::to_string(res->status);
      after = retry_after(*res, ctx_.loop);
      return false;
    }
    if (!sent.body.is_object()) {
      problem = "HTTP 200 with an unreadable body";
      return false;
    }
    return true;
  }

  // An HTTP answer outside the declared retryable table (408, 429, 5xx) and not a success.
  // (A token request refused so is one too: the request itself never left.)
  static bool refused(const Sent& sent) {
    if (!sent.res) return sent.token_permanent;
    if (!sent.res->ok()) return false;
    const int st = (*sent.res)->status;
    return st != 200 && !(st == 408 || st == 429 || st >= 500);
  }

  // Reads a failures/warnings file into `into` (row index → reason). False when
  // the file cannot be read now (try again later); rows it names that are not in
  // the upload make the import inconsistent.
  bool read_rows_file(const Sent& f, const std::string& header, const char* reason_column,
                      const std::map<std::string, std::size_t>& by_text, std::map<std::size_t, std::string>& into,
                      bool& consistent, std::string& why) const {
    if (!f.res) {
      why = f.token_error;
      return false;
    }
    if (!f.res->ok()) {
      why = std::string("transport ") + transport_error_kind_name(f.res->error().kind);
      return false;
    }
    const Response& r = **f.res;
    if (r.status != 200) {
      why = "HTTP " + std::to_string(r.status);
      return false;
    }
    auto ct = r.headers.get("Content-Type");
    std::string type = ct ? std::string(*ct) : "";
    for (auto& ch : type) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
    if (type.rfind("text/csv", 0) != 0) {
      why = f.code.empty() ? "HTTP 200 with Content-Type \"" + type + "\" (expected text/csv)"
                           : "code " + f.code + ": " + f.message;
      return false;
    }
    auto parsed = parse_csv(r.body);
    if (!parsed.ok()) {
      why = parsed.error().message;
      return false;
    }
    const auto& table = *parsed;
    if (table.empty() || csv_line(std::vector<std::string>(table[0].begin(), table[0].end() - (table[0].empty() ? 0 : 1))) != header ||
        table[0].back() != reason_column) {
      why = std::string("header is not the upload's header plus \"") + reason_column + "\"";
      return false;
    }
    for (std::size_t i = 1; i < table.size(); ++i) {
      const auto& row = table[i];
      if (row.size() < 2) {
        consistent = false;
        continue;
      }
      const std::string text = csv_line(std::vector<std::string>(row.begin(), row.end() - 1));
      auto it = by_text.find(text);
      if (it == by_text.end()) {
        consistent = false;  // a row we did not send: the counts cannot be trusted
        continue;
      }
      const std::string& reason = row.back();
      std::string code;
      for (char ch : reason) {
        if (ch < '0' || ch > '9') break;
        code.push_back(ch);
      }
      std::string text_reason = code.empty() ? reason : reason.substr(code.size());
      while (!text_reason.empty() && text_reason.front() == ' ') text_reason.erase(0, 1);
      into[it->second] = code.empty() ? "rejected by Marketo: " + reason
                                      : "rejected by Marketo (code " + code + "): " + text_reason;
    }
    return true;
  }

  // A token that is good now: the cached one, or a fresh one.
  struct TokenResult {
    std::string token, error;
    bool permanent = false;
  };
  Task<TokenResult> token(bool force) {
    const Time now = ctx_.loop.now();
    if (!force && !token_.empty() && now < token_expires_ &&
        (confirmed_ || now + s_.token_refresh_margin < token_expires_)) {
      co_return TokenResult{token_, "", false};
    }
    Request r = get("/identity/oauth/token?grant_type=client_credentials&client_id=" + url_encode(s_.client_id) +
                    "&client_secret=" + url_encode(s_.client_secret));
    ++token_requests_;
    HttpResult res = co_await send_raw(std::move(r));
    TokenResult out;
    if (!res.ok()) {
      out.error = std::string("token request: transport ") + transport_error_kind_name(res.error().kind);
      co_return out;
    }
    if (res->status != 200) {
      out.error = "token request: HTTP " + std::to_string(res->status) + describe_body(*res);
      // Retried only where the declared table says so (408, 429, 5xx).
      out.permanent = !(res->status == 408 || res->status == 429 || res->status >= 500);
      co_return out;
    }
    nlohmann::json b = parse_json_body(res->body);
    const std::string tok = str(b, "access_token");
    const std::int64_t ttl = num(b, "expires_in");
    if (tok.empty() || ttl < 0) {
      out.error = "token request: HTTP 200 without access_token/expires_in";
      co_return out;
    }
    ctx_.loop.trace().add_secret(tok);
    // Marketo hands out the same token until it expires: when a refresh gives
    // the same one back, or a new one that lives no longer than the margin,
    // asking again before it expires cannot help — keep using it to the end
    // (no token per call).
    confirmed_ = tok == token_ || std::chrono::seconds(ttl) <= s_.token_refresh_margin;
    token_ = tok;
    token_expires_ = ctx_.loop.now() + std::chrono::seconds(ttl);
    out.token = tok;
    co_return out;
  }

  // Sends one request, first waiting out any Retry-After the API gave for its
  // endpoint (I1: every request to that path waits, not only the one refused).
  Task<HttpResult> send_raw(Request req) {
    const std::string path(req.path_only());
    // A hold may grow while this request waits (another answer's Retry-After): look again after each wait.
    for (auto hold = hold_until_.find(path); hold != hold_until_.end() && ctx_.loop.now() < hold->second;
         hold = hold_until_.find(path))
      co_await ctx_.loop.sleep_to(hold->second);
    HttpResult res = co_await ctx_.transport.send(std::move(req));
    if (res.ok() && (res->status == 429 || res->status == 503)) {
      if (auto after = retry_after(*res, ctx_.loop)) {
        Time& until = hold_until_[path];
        until = std::max(until, ctx_.loop.now() + *after);
      }
    }
    co_return res;
  }

  // Sends `req` with a Bearer token; on 600/601/602 refreshes it and sends once more.
  Task<Sent> send(Request req) {
    Sent sent;
    for (int attempt = 0; attempt < 2; ++attempt) {
      TokenResult t = co_await token(attempt > 0);
      if (t.token.empty()) {
        sent.res.reset();
        sent.token_error = t.error;
        sent.token_permanent = t.permanent;
        co_return sent;
      }
      Request copy = req;
      copy.headers.set("Authorization", "Bearer " + t.token);
      HttpResult res = co_await send_raw(std::move(copy));
      sent.body = nlohmann::json();
      sent.code.clear();
      sent.message.clear();
      if (res.ok() && res->status == 200) {
        auto ct = res->headers.get("Content-Type");
        const bool csv = ct && ct->find("csv") != std::string_view::npos;
        if (!csv) {
          sent.body = parse_json_body(res->body);
          if (sent.body.is_object() && sent.body.contains("success") && sent.body["success"] == false) {
            const nlohmann::json& errs = sent.body.value("errors", nlohmann::json());
            const nlohmann::json e = errs.is_array() && !errs.empty() ? errs[0] : nlohmann::json();
            sent.code = str(e, "code");
            sent.message = str(e, "message");
            if (sent.code.empty()) sent.code = "unknown";
          }
        }
      }
      sent.res = std::move(res);
      if (attempt == 0 && classify_code(sent.code) == CodeClass::refresh && !sent.code.empty()) continue;
      co_return sent;
    }
    co_return sent;
  }

  DeliveryContext& ctx_;
  Settings s_;
  std::string header_;
  std::uint64_t uploads_ = 0;
  std::string token_;
  Time token_expires_{};
  bool confirmed_ = false;
  std::map<std::string, Time> hold_until_;  // endpoint path → no request before this
  std::uint64_t token_requests_ = 0;
};

std::vector<ConfigKey> schema() {
  BulkConfig d;
  d.upload_interval = std::chrono::seconds(30);
  d.poll_interval = std::chrono::seconds(10);  // Marketo recommends polling every 5–30 s
  d.poll_timeout = std::chrono::hours(6);
  d.imports_in_flight = 2;                      // Marketo runs 2 imports at once
  d.max_buffer_size = 200'000;
  d.retry.max_attempts = 5;
  d.retry.delay_initial = std::chrono::seconds(10);
  d.retry.delay_max = std::chrono::minutes(10);
  d.retry.elapsed_max = std::chrono::hours(24);
  std::vector<ConfigKey> keys = {
      {"host", ConfigType::string, "123-ABC-456.mktorest.com", "the Munchkin host: <munchkin id>.mktorest.com"},
      {"client_id", ConfigType::string, nullptr, "LaunchPoint service client id"},
      {"client_secret", ConfigType::secret, nullptr, "LaunchPoint service client secret"},
      {"lookup_field", ConfigType::string, "email", "the field leads are upserted by (lookupField)"},
      {"columns", ConfigType::json,
       nlohmann::json::array({"email", "firstName", "lastName", "company", "phone", "title", "leadScore", "comments"}),
       "the CSV header: Marketo REST field names, in file order; each record fills these"},
      {"field_map", ConfigType::json, nlohmann::json::object(),
       "payload key → column, for payload keys not named like their column"},
      {"records_max", ConfigType::integer, 100'000, "records per upload file", 1, 10'000'000},
      {"file_bytes_max", ConfigType::size, "9990KB",
       "bytes per upload file (Marketo's limit is 10 MB; the multipart envelope needs the rest)", 1024,
       kFileBytesMax},
      {"token_refresh_margin", ConfigType::duration, "60s",
       "refresh the access token this long before it expires", 0},
  };
  for (auto& k : bulk_config_keys(d)) keys.push_back(std::move(k));
  return keys;
}

Record generate(Rng& rng, JobId id, const GenerateOptions& o) {
  Record r;
  r.id = id;
  r.stream = "leads";
  static const char* kFirst[] = {"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald"};
  static const char* kCompany[] = {"Acme", "Initech", "Globex", "Umbrella"};
  // Emails are unique per record, so every record's effect is distinguishable.
  std::string email = "lead" + std::to_string(id) + "@example.com";
  if (rng.chance(o.invalid)) email = "lead" + std::to_string(id) + "-at-example.com";  // row failure 1001
  nlohmann::json p = {{"email", email},
                      {"firstName", odd_text_or(o, id, 1, kFirst[rng.below(6)])},
                      {"lastName", "Lead " + std::to_string(id)},
                      {"company", odd_text_or(o, id, 2, kCompany[rng.below(4)])},
                      {"leadScore", static_cast<std::int64_t>(rng.below(100))}};
  if (o.type == "dup") {
    // Pairs of ids (2k-1, 2k) produce identical rows: one row, two jobs.
    const JobId pair = (id + 1) / 2;
    p = {{"email", "pair" + std::to_string(pair) + "@example.com"}, {"firstName", "Pair"},
         {"lastName", "Lead " + std::to_string(pair)}};
  }
  return padded_record(std::move(r), std::move(p), o, "/comments");
}

}  // namespace

DestinationEntry marketo_destination() {
  DestinationEntry e = destination_entry(
      "marketo_bulk_upload", "marketo", "123-ABC-456.mktorest.com",
      "Marketo Bulk Lead Import: CSV upload, import polling, failures/warnings files, cached OAuth token", schema(),
      {.limits = {.records_max = 100'000, .bytes_max = kRequestBytesMax},
       .retryable_statuses = {408, 429, 500, 502, 503, 504}, .idempotent_writes = true, .bulk = true,
       .import_concurrency = 2});
  // 607 (daily quota) waits until the next day's reset, 1016/606 a minute or less.
  e.capabilities.longest_api_wait = std::chrono::hours(24);
  e.make = [](DeliveryContext& ctx, const Config& config) {
    return make_bulk_destination<MarketoManager>(ctx, config, settings_from);
  };
  e.effects = [](const Record& r, const Config& config) -> std::vector<std::string> {
    auto s = settings_from(config);
    if (!s.ok()) return {};
    auto values = row_of(r, *s);
    if (!values.ok()) return {};
    return {oracle_key("marketo.lead", effect_item(s->columns, *values))};
  };
  e.generate = generate;
  e.fake_options = [](const Config& config) -> nlohmann::json {
    return {{"client_id", config.string("client_id")}, {"client_secret", config.secret("client_secret").value}};
  };
  return e;
}

}  // namespace destsim
