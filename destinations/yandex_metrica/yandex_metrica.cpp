#include "destinations/yandex_metrica/yandex_metrica.h"

#include <algorithm>

#include "destinations/bulk_destination.h"
#include "framework/csv.h"
#include "framework/http_call.h"
#include "framework/json_in.h"
#include "framework/oracle.h"
#include "framework/rate_limiter.h"

namespace destsim {

namespace {

constexpr const char* kEffect = "yandex_metrica.conversion";
constexpr const char* kHost = "api-metrika.yandex.net";
// The API takes files up to 1 GB (APIS.md §6); the multipart envelope is
// counted inside this margin.
constexpr std::int64_t kFileBytesMax = 1'000'000'000;
constexpr std::int64_t kEnvelopeBytes = 4'096;
constexpr std::int64_t kRowsMax = 1'000'000;
constexpr std::int64_t kRateMax = 30;  // requests per second per IP

struct IdType {
  const char* wire;    // client_id_type
  const char* column;  // the CSV header's first column
  const char* field;   // the payload key
  bool digits;         // a number (ClientID, yclid), else free text (UserID)
};
constexpr IdType kIdTypes[] = {{"CLIENT_ID", "ClientId", "client_id", true},
                               {"USER_ID", "UserId", "user_id", false},
                               {"YCLID", "Yclid", "yclid", true}};

const IdType* id_type(const std::string& wire) {
  for (const auto& t : kIdTypes)
    if (wire == t.wire) return &t;
  return nullptr;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

bool goal_id(std::string_view s) {
  if (s.empty() || s.size() > 100) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
  });
}

// A price as the API takes it: 1–15 digits, optionally a point and 1–6 digits.
bool price_text(std::string_view s) {
  const auto dot = s.find('.');
  const std::string_view whole = s.substr(0, dot);
  if (!all_digits(whole) || whole.size() > 15) return false;
  if (dot == std::string_view::npos) return true;
  const std::string_view frac = s.substr(dot + 1);
  return all_digits(frac) && frac.size() <= 6;
}

bool currency_code(std::string_view s) {
  return s.size() == 3 && std::all_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// The five cells of a record's row (id, Target, DateTime, Price, Currency), or
// an error naming the field: the rules the API validates a row by, so a row we
// send is one it counts in line_quantity. `now_s`: unix seconds now (a
// conversion time must be in the past); < 0 skips that check (effects).
Result<std::vector<std::string>> cells_of(const Record& r, const IdType& type, std::int64_t now_s) {
  const nlohmann::json& p = r.payload;
  auto bad = [&](const std::string& what) {
    return Error::bad_input("record " + std::to_string(r.id) + ": " + what);
  };
  if (!p.is_object()) return bad("payload: expected an object");
  auto text = [&](const char* key) -> const nlohmann::json* {
    auto it = p.find(key);
    return it == p.end() || it->is_null() ? nullptr : &*it;
  };
  std::vector<std::string> cells(5);
  const nlohmann::json* id = text(type.field);
  if (!id || !id->is_string()) return bad(std::string(type.field) + ": expected a string (client_id_type " + type.wire + ")");
  cells[0] = id->get<std::string>();
  if (cells[0].empty() || cells[0].size() > 256) return bad(std::string(type.field) + ": expected 1 to 256 bytes");
  if (type.digits && (!all_digits(cells[0]) || cells[0].size() > 20))
    return bad(std::string(type.field) + ": expected up to 20 digits, got \"" + cells[0] + "\"");
  if (!type.digits && has_control(cells[0])) return bad(std::string(type.field) + ": holds a control character");
  const nlohmann::json* target = text("target");
  if (!target || !target->is_string() || !goal_id(target->get<std::string>()))
    return bad("target: expected a goal identifier (1 to 100 of A-Z a-z 0-9 _ . -)");
  cells[1] = target->get<std::string>();
  const nlohmann::json* when = text("date_time");
  if (!when || !when->is_number_integer() || when->get<std::int64_t>() < 1 || when->get<std::int64_t>() > 999'999'999'999)
    return bad("date_time: expected unix seconds (a positive integer)");
  if (now_s >= 0 && when->get<std::int64_t>() > now_s)
    return bad("date_time: " + std::to_string(when->get<std::int64_t>()) +
               " is in the future (Yandex takes only conversions that happened)");
  cells[2] = std::to_string(when->get<std::int64_t>());
  if (const nlohmann::json* price = text("price")) {
    if (price->is_number_unsigned() || (price->is_number_integer() && price->get<std::int64_t>() >= 0))
      cells[3] = price->dump();
    else if (price->is_string())
      cells[3] = price->get<std::string>();
    else
      return bad("price: expected a decimal string or a non-negative integer");
    if (!cells[3].empty() && !price_text(cells[3]))
      return bad("price: expected up to 15 digits and up to 6 decimals, got \"" + cells[3] + "\"");
  }
  if (const nlohmann::json* cur = text("currency")) {
    if (!cur->is_string()) return bad("currency: expected a string");
    cells[4] = cur->get<std::string>();
    if (!cells[4].empty() && !currency_code(cells[4]))
      return bad("currency: expected an ISO 4217 code (three capital letters), got \"" + cells[4] + "\"");
    if (!cells[4].empty() && cells[3].empty()) return bad("currency: given without a price");
  }
  return cells;
}

// Yandex's error document: {"errors":[{"error_type","message"}],"code","message"}.
std::string error_type_of(const nlohmann::json& b) {
  if (b.is_object() && b.contains("errors") && b["errors"].is_array() && !b["errors"].empty())
    return string_member(b["errors"][0], "error_type");
  return "";
}

std::string describe_response(const Response& r) {
  std::string out = "HTTP " + std::to_string(r.status);
  const nlohmann::json b = parse_json_body(r.body);
  const std::string type = error_type_of(b);
  std::string message = string_member(b, "message");
  if (message.empty() && b.is_object() && b.contains("errors") && b["errors"].is_array() && !b["errors"].empty())
    message = string_member(b["errors"][0], "message");
  if (!type.empty()) out += " " + type;
  if (!message.empty()) out += ": " + message;
  return out;
}

struct Settings {
  std::string host;
  std::string token;
  std::int64_t counter_id = 0;
  const IdType* type = &kIdTypes[0];
  std::string comment;
  std::int64_t rows_per_upload = 50'000;
  std::int64_t upload_bytes_max = 100'000'000;
  std::int64_t requests_per_second = 10;
};

class YandexMetricaManager final : public AsyncDestinationManager {
 public:
  YandexMetricaManager(DeliveryContext& ctx, Settings s)
      : ctx_(ctx), s_(std::move(s)), limiter_(ctx.loop, s_.requests_per_second) {
    ctx.loop.trace().add_secret(s_.token);
    header_ = std::string(s_.type->column) + ",Target,DateTime,Price,Currency\n";
    base_ = "/management/v1/counter/" + std::to_string(s_.counter_id) + "/offline_conversions/";
  }

  std::string name() const override { return "yandex_metrica_offline_conversions"; }

  BulkLimits limits() const override {
    return BulkLimits{.records_max = s_.rows_per_upload,
                      .bytes_max = s_.upload_bytes_max,
                      .header_bytes = static_cast<std::int64_t>(header_.size()),
                      .separator_bytes = 1};
  }

  Result<BulkItem> transform(const Record& record) override {
    const std::int64_t now_s = ctx_.loop.clock().unix_ms(ctx_.loop.now()) / 1000;
    DS_TRY(std::vector<std::string> cells, cells_of(record, *s_.type, now_s));
    return BulkItem{record.id, csv_line(cells)};
  }

  Task<UploadOutcome> upload(const std::vector<const BulkItem*>& items) override {
    UploadOutcome out;
    std::string file = header_;
    for (const BulkItem* item : items) {
      file += item->data;
      file.push_back('\n');
    }
    std::string boundary = "destsim-yandex-" + std::to_string(++uploads_);
    while (file.find(boundary) != std::string::npos) boundary += "x";
    std::string body;
    body.reserve(file.size() + 256);
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"conversions.csv\"\r\n";
    body += "Content-Type: text/csv\r\n\r\n";
    body += file;
    body += "\r\n--" + boundary + "--\r\n";
    std::string path = base_ + "upload?client_id_type=" + s_.type->wire;
    if (!s_.comment.empty()) path += "&comment=" + url_encode(s_.comment);
    Request req = request("POST", std::move(path), std::move(body));
    req.headers.set("Content-Type", "multipart/form-data; boundary=" + boundary);
    co_await limiter_.acquire("api");
    HttpResult res = co_await ctx_.transport.send(std::move(req));
    if (!res.ok()) {
      out.http_status = 0;
      out.kind = UploadOutcome::Kind::retry;
      out.reason = std::string("transport ") + transport_error_kind_name(res.error().kind) + ": " + res.error().message;
      out.maybe_applied = res.error().maybe_applied;
      co_return out;
    }
    const Response& r = *res;
    out.http_status = r.status;
    if (r.status == 200) {
      const nlohmann::json b = parse_json_body(r.body);
      const nlohmann::json* u = uploading(b);
      if (!u || !(*u)["id"].is_number_integer()) {
        // Taken, perhaps, but we cannot follow it: not uploaded again.
        out.kind = UploadOutcome::Kind::retry;
        out.maybe_applied = true;
        out.reason = "HTTP 200 without a readable uploading.id";
        co_return out;
      }
      out.kind = UploadOutcome::Kind::importing;
      out.import.import_id = std::to_string((*u)["id"].get<std::int64_t>());
      nlohmann::json jobs = nlohmann::json::array();
      for (const BulkItem* item : items) {
        out.import.jobs.push_back(item->id);
        jobs.push_back(item->id);
      }
      out.import.params = {{"jobs", std::move(jobs)},
                           {"rows", items.size()},
                           {"source_quantity", count(*u, "source_quantity")},
                           {"line_quantity", count(*u, "line_quantity")}};
      co_return out;
    }
    const nlohmann::json b = parse_json_body(r.body);
    if (auto wait = quota_wait(r, b)) {
      out.kind = UploadOutcome::Kind::retry;
      out.retry_after = wait;
      out.reason_kind = ReasonKind::rate_limited;
      out.reason = describe_response(r) + " (asked again in " + format_duration(*wait) + ")";
      co_return out;
    }
    if (r.status == 408 || r.status >= 500) {
      out.kind = UploadOutcome::Kind::retry;
      out.maybe_applied = may_have_applied(r.status);
      out.retry_after = retry_after(r, ctx_.loop);
      out.reason = describe_response(r);
      co_return out;
    }
    // 400 (the file), 403 (the token), 404 (the counter), 413, other 4xx:
    // asking again cannot change the answer (C1).
    out.kind = UploadOutcome::Kind::failed;
    out.reason = describe_response(r);
    co_return out;
  }

  Task<PollOutcome> poll(const ImportRef& import) override {
    PollOutcome out;
    co_await limiter_.acquire("api");
    HttpResult res = co_await ctx_.transport.send(request("GET", base_ + "uploading/" + import.import_id));
    if (!res.ok()) {
      out.transient = true;
      out.reason = std::string("transport ") + transport_error_kind_name(res.error().kind);
      co_return out;
    }
    const Response& r = *res;
    out.http_status = r.status;
    const nlohmann::json b = parse_json_body(r.body);
    if (r.status != 200) {
      if (auto wait = quota_wait(r, b)) {
        out.transient = true;
        out.retry_after = wait;
        out.reason = describe_response(r);
        co_return out;
      }
      if (r.status == 408 || r.status >= 500) {
        out.transient = true;
        out.retry_after = retry_after(r, ctx_.loop);
        out.reason = describe_response(r);
        co_return out;
      }
      // 403/404/other 4xx: the upload was taken and may be processed; we may
      // not read it. Its jobs end outcome unknown (never uploaded again).
      out.status = ImportStatus::failed;
      out.reason = describe_response(r);
      co_return out;
    }
    const nlohmann::json* u = uploading(b);
    const std::string status = u ? string_member(*u, "status") : "";
    if (status.empty()) {
      out.transient = true;
      out.reason = "HTTP 200 with an unreadable body (no uploading.status)";
      co_return out;
    }
    if (status == "UPLOADED") {
      out.status = ImportStatus::running;
    } else if (status == "PROCESSED") {
      const std::int64_t rows = count(import.params, "rows");
      const std::int64_t source = count(import.params, "source_quantity");
      const std::int64_t lines = count(import.params, "line_quantity");
      if (rows < 0 || source != rows || lines != rows) {
        // The API counted fewer rows, or fewer valid ones, than we sent: it
        // applied those it took and does not say which.
        out.status = ImportStatus::failed;
        out.reason = "uploading " + import.import_id + " processed " + std::to_string(lines) + " valid of " +
                     std::to_string(source) + " rows for the " + std::to_string(rows) +
                     " sent; which rows it refused is unknown";
        co_return out;
      }
      out.status = ImportStatus::completed;
    } else if (status == "LINKAGE_FAILURE") {
      // Processed, nothing linked to a visit, nothing applied: Yandex's advice
      // is to upload later (the ids may not be known yet).
      out.status = ImportStatus::failed;
      out.nothing_applied = true;
      out.reason = "uploading " + import.import_id + " ended LINKAGE_FAILURE (no conversion linked to a visit)";
    } else {
      // D3: an unknown status is neither done nor failed.
      out.transient = true;
      out.reason = "unknown uploading status \"" + status + "\"";
    }
    co_return out;
  }

  Task<StatsOutcome> upload_stats(const ImportRef& import) override {
    // A PROCESSED uploading whose counts matched every row we sent: each row
    // was valid and applied (poll checked the counts).
    StatsOutcome out;
    const nlohmann::json& jobs = import.params.is_object() && import.params.contains("jobs") ? import.params["jobs"]
                                                                                           : nlohmann::json();
    if (!jobs.is_array() || jobs.size() != import.jobs.size()) {
      out.reason = "uploading " + import.import_id + ": stored params unreadable (expected jobs)";
      co_return out;  // nothing mapped
    }
    for (JobId id : import.jobs) out.results.push_back({id, Verdict::ok, ""});
    co_return out;
  }

 private:
  static const nlohmann::json* uploading(const nlohmann::json& b) {
    if (!b.is_object() || !b.contains("uploading") || !b["uploading"].is_object()) return nullptr;
    const nlohmann::json& u = b["uploading"];
    return u.contains("id") ? &u : nullptr;
  }

  static std::int64_t count(const nlohmann::json& j, const char* key) {
    return j.is_object() && j.contains(key) && j[key].is_number_integer() ? j[key].get<std::int64_t>() : -1;
  }

  Request request(const char* method, std::string path, std::string body = "") const {
    Request r;
    r.method = method;
    r.host = s_.host;
    r.path = std::move(path);
    r.headers.set("Authorization", "OAuth " + s_.token);
    r.body = std::move(body);
    return r;
  }

  // A quota answer (429, or 420 as the English docs name it): how long to
  // wait. Yandex sends no Retry-After: the body's error_type says which quota.
  std::optional<Duration> quota_wait(const Response& r, const nlohmann::json& b) {
    if (r.status != 429 && r.status != 420) return std::nullopt;
    Duration wait = std::chrono::seconds(1);
    if (auto ra = retry_after(r, ctx_.loop)) {
      wait = *ra;
    } else if (error_type_of(b) == "quota_requests_by_uid") {
      // The daily quota resets at 00:00 GMT, of the API's clock when it dated its answer.
      std::int64_t now_ms = ctx_.loop.clock().unix_ms(ctx_.loop.now());
      if (auto d = r.headers.get("Date")) {
        if (auto api = parse_http_date(*d); api.ok()) now_ms = *api;
      }
      const std::int64_t day_ms = 86'400'000;
      wait = std::chrono::milliseconds((now_ms / day_ms + 1) * day_ms - now_ms + 1'000);
    } else if (error_type_of(b).empty()) {
      wait = std::chrono::seconds(60);  // an unreadable quota answer: a minute
    }
    limiter_.hold("api", ctx_.loop.now() + wait);
    return wait;
  }

  DeliveryContext& ctx_;
  Settings s_;
  RateLimiter limiter_;
  std::string header_, base_;
  std::int64_t uploads_ = 0;
};

std::vector<ConfigKey> schema() {
  BulkConfig d;
  d.upload_interval = std::chrono::seconds(30);
  d.poll_interval = std::chrono::minutes(1);
  // Processing takes up to 2 hours, and the daily quota may hold polls up to a day.
  d.poll_timeout = std::chrono::hours(26);
  d.imports_in_flight = 2;
  d.max_buffer_size = 100'000;
  d.retry.max_attempts = 5;
  d.retry.delay_initial = std::chrono::seconds(10);
  d.retry.delay_max = std::chrono::minutes(10);
  d.retry.elapsed_max = std::chrono::hours(48);  // a daily quota waits up to a day
  std::vector<ConfigKey> keys = {
      {"oauth_token", ConfigType::secret, nullptr, "Yandex OAuth token (Authorization: OAuth)"},
      {"counter_id", ConfigType::integer, nullptr, "the Metrica counter (tag) id", 1, 999'999'999'999},
      {"client_id_type", ConfigType::string, "CLIENT_ID",
       "which identifier rows carry: CLIENT_ID (payload client_id), USER_ID (user_id) or YCLID (yclid)"},
      {"comment", ConfigType::string, "", "the upload's comment (empty = none)"},
      {"host", ConfigType::string, kHost, "API host"},
      {"records_max", ConfigType::integer, 50'000, "conversions per uploaded file", 1, kRowsMax},
      {"file_bytes_max", ConfigType::size, "100MB", "bytes per uploaded file (Yandex takes up to 1 GB)", 1'024,
       kFileBytesMax - kEnvelopeBytes},
      {"requests_per_second", ConfigType::integer, 10, "client-side pacing of every request (the quota is 30/s)", 1,
       kRateMax},
  };
  for (auto& k : bulk_config_keys(d)) keys.push_back(std::move(k));
  return keys;
}

Result<Settings> settings_from(const Config& config) {
  Settings s{.host = config.string("host"),
             .token = config.secret("oauth_token").value,
             .counter_id = config.integer("counter_id"),
             .type = id_type(config.string("client_id_type")),
             .comment = config.string("comment"),
             .rows_per_upload = config.integer("records_max"),
             .upload_bytes_max = config.size("file_bytes_max"),
             .requests_per_second = config.integer("requests_per_second")};
  if (s.token.empty()) return Error::bad_input("oauth_token: expected a non-empty secret");
  if (s.host.empty()) return Error::bad_input("host: expected a non-empty host name");
  if (!s.type)
    return Error::bad_input("client_id_type: expected CLIENT_ID, USER_ID or YCLID, got \"" +
                            config.string("client_id_type") + "\"");
  return s;
}

// Conversion times: 1 to 14 days before the simulation's epoch (2024-01-01),
// inside Yandex's 21-day linking window and in the past for any clock skew
// certify draws (at most a day).
Record generate(Rng& rng, JobId id, const GenerateOptions& o) {
  static const char* kGoals[] = {"order_paid", "lead", "call.answered", "trial-started"};
  static const char* kCurrencies[] = {"RUB", "USD", "EUR", "KZT"};
  const std::int64_t epoch_s = SimClock::kDefaultEpochUnixMs / 1000;
  Record r;
  r.id = id;
  r.stream = "conversions";
  nlohmann::json p = {{"client_id", std::to_string(1'600'000'000'000'000'000ULL + id)},
                      {"user_id", "user-" + std::to_string(id)},
                      {"yclid", std::to_string(7'000'000'000'000'000'000ULL + id)},
                      {"target", kGoals[rng.below(4)]},
                      {"date_time", epoch_s - 86'400 - static_cast<std::int64_t>(rng.below(13 * 86'400))}};
  if (rng.chance(2, 3)) {
    p["price"] = std::to_string(rng.below(100'000)) + "." + std::to_string(10 + rng.below(90));
    if (rng.chance(3, 4)) p["currency"] = kCurrencies[rng.below(4)];
  }
  p["note"] = odd_text_or(o, id, 1, "paid at the office");  // not sent: free text the API has no column for
  if (rng.chance(o.invalid)) {
    switch (rng.below(4)) {
      case 0: p["target"] = "order paid"; break;                        // a space: not a goal identifier
      case 1: p["date_time"] = epoch_s + 30 * 86'400; break;            // in the future
      case 2: p["currency"] = "rub"; break;                             // not ISO 4217 capitals
      default: p["client_id"] = "cid-" + std::to_string(id); break;     // a ClientID is a number
    }
  }
  return padded_record(std::move(r), std::move(p), o, "/pad");
}

}  // namespace

Result<std::unique_ptr<AsyncDestinationManager>> yandex_metrica_manager(DeliveryContext& ctx, const Config& config) {
  DS_TRY(Settings s, settings_from(config));
  return std::unique_ptr<AsyncDestinationManager>(std::make_unique<YandexMetricaManager>(ctx, std::move(s)));
}

DestinationEntry yandex_metrica_destination() {
  DestinationEntry e = destination_entry(
      "yandex_metrica_offline_conversions", "yandex_metrica", kHost,
      "Yandex Metrica offline conversions on the bulk path: multipart CSV upload, uploading status polled to "
      "PROCESSED or LINKAGE_FAILURE, quotas waited out",
      schema(),
      {.limits = {.records_max = kRowsMax, .bytes_max = kFileBytesMax},
       .retryable_statuses = {408, 420, 429, 500, 502, 503, 504},
       .longest_api_wait = std::chrono::hours(24),  // the daily quota waits for 00:00 GMT
       .idempotent_writes = false,
       .rate_per_second = kRateMax,
       .bulk = true,
       .import_concurrency = 3});
  e.make = [](DeliveryContext& ctx, const Config& config) {
    return make_bulk_destination<YandexMetricaManager>(ctx, config, settings_from);
  };
  e.effects = [](const Record& r, const Config& config) -> std::vector<std::string> {
    const IdType* type = id_type(config.string("client_id_type"));
    if (!type) return {};
    auto cells = cells_of(r, *type, SimClock::kDefaultEpochUnixMs / 1000);
    if (!cells.ok()) return {};
    return {oracle_key(kEffect, nlohmann::json{{"client_id_type", type->wire}, {"cells", *cells}})};
  };
  e.generate = generate;
  e.fake_options = [](const Config& config) -> nlohmann::json {
    return {{"api_key", config.secret("oauth_token").value}, {"counter_ids", {config.integer("counter_id")}}};
  };
  e.certify_config = {{"oauth_token", {{"secret", "y0_certify-token"}}}, {"counter_id", 44147844}};
  return e;
}

}  // namespace destsim
