#include "fakes/yandex_metrica/yandex_metrica_api.h"

#include "fakes/fake_options.h"

#include <algorithm>
#include <cstdio>

#include "framework/clock.h"
#include "framework/json_in.h"
#include "framework/multipart.h"
#include "framework/oracle.h"
#include "framework/text.h"

namespace destsim {

namespace {

constexpr std::string_view kCounterPrefix = "/management/v1/counter/";
constexpr std::int64_t kSecondNs = 1'000'000'000;
constexpr std::int64_t kDayMs = 86'400'000;
constexpr std::int64_t kLinkWindowS = 21 * 86'400;  // rows older than this at processing do not link
constexpr std::size_t kIdBytesMax = 256;
constexpr std::size_t kDigitIdMax = 20;
constexpr std::size_t kTargetBytesMax = 100;
constexpr std::size_t kDateTimeDigitsMax = 12;

const char* phase_name(int p) {
  static const char* kNames[] = {"UPLOADED", "PROCESSED", "LINKAGE_FAILURE"};
  return kNames[p];
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// The API's calendar time at loop time `t`, in unix milliseconds.
std::int64_t unix_ms(Time t) {
  return SimClock::kDefaultEpochUnixMs +
         std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string iso(Time t) {
  CivilTime c = civil_from_unix_ms(unix_ms(t));
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", c.year, c.month, c.day, c.hour, c.minute, c.second);
  return buf;
}

Response error(int status, const std::string& type, const std::string& message) {
  return json_response(status, {{"errors", nlohmann::json::array({{{"error_type", type}, {"message", message}}})},
                                {"code", status},
                                {"message", message}});
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A positive integer written without sign or leading zeros, that fits in int64; else 0.
std::int64_t positive_number(std::string_view s) {
  if (!all_digits(s) || s[0] == '0' || s.size() > 18) return 0;
  std::int64_t v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

const char* id_column(const std::string& client_id_type) {
  if (client_id_type == "CLIENT_ID") return "ClientId";
  if (client_id_type == "USER_ID") return "UserId";
  return "Yclid";
}

// One CSV record (RFC 4180) from `text` at `pos`: quotes around a whole cell,
// "" a quote inside them, line ends LF or CRLF (inside quotes too). `line` is
// the physical line the record starts on; it moves past the line ends read.
Status read_record(std::string_view text, std::size_t& pos, std::int64_t& line, std::vector<std::string>& cells) {
  cells.clear();
  const std::int64_t start = line;
  auto bad = [&](const std::string& what) {
    return Error::bad_input("line " + std::to_string(start) + ": " + what);
  };
  std::string cell;
  while (true) {
    cell.clear();
    if (pos < text.size() && text[pos] == '"') {
      ++pos;
      bool closed = false;
      while (pos < text.size()) {
        const char c = text[pos++];
        if (c != '"') {
          if (c == '\n') ++line;
          cell.push_back(c);
        } else if (pos < text.size() && text[pos] == '"') {
          cell.push_back('"');
          ++pos;
        } else {
          closed = true;
          break;
        }
      }
      if (!closed) return bad("unterminated quoted cell");
      if (pos < text.size() && text[pos] != ',' && text[pos] != '\n' && text[pos] != '\r')
        return bad("text after a closing quote");
    } else {
      while (pos < text.size() && text[pos] != ',' && text[pos] != '\n' && text[pos] != '\r') {
        if (text[pos] == '"') return bad("a quote inside an unquoted cell");
        cell.push_back(text[pos++]);
      }
    }
    cells.push_back(cell);
    if (pos >= text.size()) return Status::success();
    if (text[pos] == ',') {
      ++pos;
      continue;
    }
    if (text[pos] == '\r') {
      if (pos + 1 >= text.size() || text[pos + 1] != '\n') return bad("a bare CR (lines end with LF or CRLF)");
      ++pos;
    }
    ++pos;
    ++line;
    return Status::success();
  }
}

bool valid_id(const std::string& type, const std::string& id) {
  if (id.empty() || id.size() > kIdBytesMax) return false;
  if (type != "USER_ID") return id.size() <= kDigitIdMax && all_digits(id);
  return std::none_of(id.begin(), id.end(), [](char c) {
    const auto b = static_cast<unsigned char>(c);
    return b < 0x20 || b == 0x7f;
  });
}

bool valid_target(const std::string& t) {
  if (t.empty() || t.size() > kTargetBytesMax) return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
  });
}

// The DateTime's unix seconds, or 0 when it is not 1–12 digits.
std::int64_t date_time_of(const std::string& d) {
  if (!all_digits(d) || d.size() > kDateTimeDigitsMax) return 0;
  std::int64_t v = 0;
  for (char c : d) v = v * 10 + (c - '0');
  return v;
}

// Empty, or [0-9]{1,15}(\.[0-9]{1,6})?
bool valid_price(const std::string& p) {
  if (p.empty()) return true;
  const auto dot = p.find('.');
  const std::string_view whole = std::string_view(p).substr(0, dot);
  if (!all_digits(whole) || whole.size() > 15) return false;
  if (dot == std::string::npos) return true;
  const std::string_view frac = std::string_view(p).substr(dot + 1);
  return all_digits(frac) && frac.size() <= 6;
}

bool valid_currency(const std::string& c, const std::string& price) {
  if (c.empty()) return true;
  return c.size() == 3 && std::all_of(c.begin(), c.end(), [](char ch) { return ch >= 'A' && ch <= 'Z'; }) &&
         !price.empty();
}

// The fake's own keys (read_fake_options reads the common ones and the null case).
Status read_own_options(const JsonIn& in, YandexMetricaApiOptions& o) {
  for (const char* key : {"counter_ids", "linkage_failure_uploads"}) {
    if (!in.has(key)) continue;
    JsonIn a = in.at(key);
    DS_CHECK(a.array());
    auto& list = std::string_view(key) == "counter_ids" ? o.counter_ids : o.linkage_failure_uploads;
    for (std::size_t i = 0; i < a.size(); ++i) {
      DS_TRY(std::int64_t n, a.at(i).integer(1));
      list.push_back(n);
    }
  }
  if (in.has("unlinked_ids")) {
    JsonIn a = in.at("unlinked_ids");
    DS_CHECK(a.array());
    for (std::size_t i = 0; i < a.size(); ++i) {
      DS_TRY(std::string id, a.at(i).string());
      o.unlinked_ids.insert(id);
    }
  }
  if (in.has("file_bytes_max")) {
    DS_TRY(o.file_bytes_max, in.at("file_bytes_max").size_bytes());
    if (o.file_bytes_max < 1) return in.at("file_bytes_max").expected("a size of at least 1 byte");
  }
  for (const char* key : {"processing_for", "upload_service", "status_service"}) {
    if (!in.has(key)) continue;
    const std::string_view k = key;
    Duration& d = k == "processing_for" ? o.processing_for : k == "upload_service" ? o.upload_service : o.status_service;
    DS_TRY(d, in.at(key).duration());
    if (d.count() < 0) return in.at(key).expected("a duration >= 0");
  }
  if (in.has("requests_per_second")) { DS_TRY(o.requests_per_second, in.at("requests_per_second").integer(0)); }
  if (in.has("parallel_max")) { DS_TRY(o.parallel_max, in.at("parallel_max").integer(0)); }
  if (in.has("requests_per_day")) { DS_TRY(o.requests_per_day, in.at("requests_per_day").integer(0)); }
  if (in.has("quota_status")) {
    DS_TRY(std::int64_t st, in.at("quota_status").integer());
    if (st != 429 && st != 420)
      return in.at("quota_status").expected("429 (the Russian docs) or 420 (the English docs)");
    o.quota_status = static_cast<int>(st);
  }
  if (in.has("status_values")) {
    DS_TRY(o.status_values,
           read_status_values(in.at("status_values"), {"UPLOADED", "PROCESSED", "LINKAGE_FAILURE"}));
  }
  return {};
}

}  // namespace

Result<YandexMetricaApiOptions> YandexMetricaApiOptions::from_json(const nlohmann::json& j, const std::string& where) {
  return read_fake_options(j, where, "api_key", &YandexMetricaApiOptions::api_key,
                           {"counter_ids", "file_bytes_max", "processing_for", "linkage_failure_uploads",
                            "unlinked_ids", "requests_per_second", "parallel_max", "upload_service",
                            "status_service", "requests_per_day", "quota_status", "status_values"},
                           read_own_options);
}

Response YandexMetricaApi::handle(const Request& request, Time now) {
  ++state_.requests;
  if (now > state_.last_now) state_.last_now = now;
  settle_due(now);

  auto auth = request.headers.get("Authorization");
  const std::string_view scheme = "OAuth ";
  if (!auth || auth->size() <= scheme.size() || auth->substr(0, scheme.size()) != scheme ||
      auth->find(' ', scheme.size()) != std::string_view::npos ||
      (!options_.api_key.empty() && auth->substr(scheme.size()) != options_.api_key)) {
    ++state_.auth_refusals;
    return error(403, "invalid_token", "Invalid oauth_token");
  }

  // The route: {counterId}/offline_conversions/{upload | uploadings | uploading/{id}}.
  const std::string_view path = request.path_only();
  Endpoint endpoint = Endpoint::none;
  std::string counter_text, id;
  if (path.substr(0, kCounterPrefix.size()) == kCounterPrefix) {
    const std::vector<std::string_view> seg = split(path.substr(kCounterPrefix.size()), '/');
    if (seg.size() >= 3 && seg[1] == "offline_conversions") {
      if (seg.size() == 3 && seg[2] == "upload") endpoint = Endpoint::upload;
      if (seg.size() == 3 && seg[2] == "uploadings") endpoint = Endpoint::uploadings;
      if (seg.size() == 4 && seg[2] == "uploading" && !seg[3].empty()) {
        endpoint = Endpoint::uploading;
        id = std::string(seg[3]);
      }
      counter_text = std::string(seg[0]);
    }
  }
  const std::string method = endpoint == Endpoint::upload ? "POST" : "GET";
  if (auto refused = take_quota(endpoint == Endpoint::upload && request.method == "POST", now)) return *refused;

  if (endpoint == Endpoint::none) {
    ++state_.rejected;
    return error(404, "not_found", "No resource at " + std::string(path));
  }
  if (request.method != method) {
    ++state_.rejected;
    return error(405, "method_not_allowed", std::string(path) + " expects " + method + ", not " + request.method);
  }
  const std::int64_t counter = positive_number(counter_text);
  if (counter == 0 || (!options_.counter_ids.empty() && std::find(options_.counter_ids.begin(),
                                                                   options_.counter_ids.end(),
                                                                   counter) == options_.counter_ids.end())) {
    ++state_.rejected;
    return error(404, "not_found", "Counter " + counter_text + " not found");
  }
  if (endpoint == Endpoint::upload) return upload(request, counter, now);
  if (endpoint == Endpoint::uploading) return get_uploading(id, counter, now);
  return list_uploadings(counter, now);
}

Duration YandexMetricaApi::latency_for(const Request& request) const {
  const std::string_view path = request.path_only();
  const bool upload = request.method == "POST" && path.size() >= 7 && path.substr(path.size() - 7) == "/upload";
  return latency() + (upload ? options_.upload_service : options_.status_service);
}

std::optional<Response> YandexMetricaApi::take_quota(bool is_upload, Time now) {
  const std::int64_t second = floor_div(to_ns(now), kSecondNs);
  const std::int64_t second_count = state_.second_window == second ? state_.second_count : 0;
  const std::int64_t day = floor_div(unix_ms(now), kDayMs);
  const std::int64_t day_count = state_.day == day ? state_.day_count : 0;
  // A request is in service for its service time before its answer (the
  // doors wait latency_for() before handling it): this one since now - its
  // service time, each one answered before it until its answer.
  const Duration service = latency() + (is_upload ? options_.upload_service : options_.status_service);
  const auto in_service = std::count_if(state_.in_service.begin(), state_.in_service.end(),
                                        [&](Time end) { return end > now - service; });
  auto refuse = [&](const std::string& type, const std::string& message) {
    ++state_.quota_refusals[type];
    return error(options_.quota_status, type, message);
  };
  if (options_.requests_per_second > 0 && second_count >= options_.requests_per_second)
    return refuse("quota_requests_by_ip", "Quota exceeded: " + std::to_string(options_.requests_per_second) +
                                              " requests per second per IP");
  if (options_.parallel_max > 0 && in_service >= options_.parallel_max)
    return refuse("quota_parallel_requests",
                  "Quota exceeded: " + std::to_string(options_.parallel_max) + " parallel requests per user");
  if (options_.requests_per_day > 0 && day_count >= options_.requests_per_day)
    return refuse("quota_requests_by_uid", "Quota exceeded: " + std::to_string(options_.requests_per_day) +
                                               " requests per day per user; the quota resets at 00:00 GMT");
  state_.second_window = second;
  state_.second_count = second_count + 1;
  state_.day = day;
  state_.day_count = day_count + 1;
  if (options_.parallel_max > 0) {
    const Duration longest = latency() + std::max(options_.upload_service, options_.status_service);
    std::erase_if(state_.in_service, [&](Time end) { return end <= now - longest; });
    if (service.count() > 0) state_.in_service.push_back(now);  // a zero service time occupies nothing
  }
  return std::nullopt;
}

Response YandexMetricaApi::upload(const Request& request, std::int64_t counter, Time now) {
  auto bad = [&](const std::string& message) {
    ++state_.rejected;
    return error(400, "invalid_parameter", message);
  };
  if (static_cast<std::int64_t>(request.body.size()) > options_.file_bytes_max) {
    ++state_.rejected;
    return error(413, "invalid_parameter",
                 "The request body is " + std::to_string(request.body.size()) + " bytes, over the limit of " +
                     std::to_string(options_.file_bytes_max) + " bytes");
  }
  const std::optional<std::string> type = request.query_param("client_id_type");
  if (!type) return bad("client_id_type is required (CLIENT_ID, USER_ID or YCLID)");
  if (*type != "CLIENT_ID" && *type != "USER_ID" && *type != "YCLID")
    return bad("Unknown client_id_type \"" + *type + "\" (CLIENT_ID, USER_ID or YCLID)");
  const std::string comment = request.query_param("comment").value_or("");

  auto ct = request.headers.get("Content-Type");
  if (!ct || mime_type(*ct) != "multipart/form-data") return bad("The request must be multipart/form-data");
  const auto boundary = multipart_boundary(*ct);
  if (!boundary) return bad("The multipart/form-data Content-Type has no valid boundary");
  auto parts = parse_multipart(request.body, *boundary);
  if (!parts.ok()) return bad("Malformed multipart request: " + parts.error().message);
  const MultipartPart* file = nullptr;
  for (const MultipartPart& p : *parts) {
    if (p.name != "file") continue;
    if (file) return bad("More than one \"file\" part");
    file = &p;
  }
  if (!file) return bad("The multipart request has no \"file\" part");
  for (const MultipartPart& p : *parts)
    if (p.name != "file") return bad("Unexpected form field \"" + p.name + "\" (only \"file\" is accepted)");
  const std::string_view text = file->content;
  if (text.empty()) return bad("The file is empty");
  if (!valid_utf8(text)) return bad("The file is not valid UTF-8");

  std::size_t pos = 0;
  std::int64_t line = 1;
  std::vector<std::string> cells;
  Status s = read_record(text, pos, line, cells);
  if (!s.ok()) return bad("Malformed CSV: " + s.error().message);
  const std::string id_col = id_column(*type);
  const std::vector<std::string> short_header = {id_col, "Target", "DateTime"};
  const std::vector<std::string> long_header = {id_col, "Target", "DateTime", "Price", "Currency"};
  if (cells != short_header && cells != long_header)
    return bad("line 1: the header must be " + id_col + ",Target,DateTime or " + id_col +
               ",Target,DateTime,Price,Currency for client_id_type " + *type);
  const std::size_t columns = cells.size();

  Uploading u;
  u.counter = counter;
  u.client_id_type = *type;
  u.comment = comment;
  u.created = now;
  const std::int64_t now_s = floor_div(unix_ms(now), 1000);
  while (pos < text.size()) {
    const std::int64_t row_line = line;
    s = read_record(text, pos, line, cells);
    if (!s.ok()) return bad("Malformed CSV: " + s.error().message);
    if (cells.size() != columns)
      return bad("line " + std::to_string(row_line) + ": " + std::to_string(cells.size()) +
                 (cells.size() == 1 ? " cell" : " cells") + ", the header has " + std::to_string(columns));
    ++u.source_quantity;
    if (columns == 3) cells.resize(5);  // price and currency ""
    const std::int64_t dt = date_time_of(cells[2]);
    const bool ok = valid_id(*type, cells[0]) && valid_target(cells[1]) && dt >= 1 && dt <= now_s &&
                    valid_price(cells[3]) && valid_currency(cells[4], cells[3]);
    if (!ok) continue;
    ++u.line_quantity;
    u.rows.push_back(Row{cells, dt});
  }
  if (u.source_quantity == 0) return bad("The file has no data rows");

  u.ordinal = static_cast<std::int64_t>(state_.uploadings.size()) + 1;
  u.id = 700'000'000 + u.ordinal;
  u.linkage_failure = u.line_quantity == 0 ||
                      std::find(options_.linkage_failure_uploads.begin(), options_.linkage_failure_uploads.end(),
                                u.ordinal) != options_.linkage_failure_uploads.end();
  state_.uploadings.push_back(std::move(u));
  settle_due(now);  // a zero processing_for settles at once
  return json_response(200, {{"uploading", uploading_json(state_.uploadings.back(), now)}});
}

Response YandexMetricaApi::get_uploading(const std::string& id, std::int64_t counter, Time now) {
  const std::int64_t n = positive_number(id);
  for (const Uploading& u : state_.uploadings)
    if (n != 0 && u.id == n && u.counter == counter) return json_response(200, {{"uploading", uploading_json(u, now)}});
  ++state_.rejected;
  return error(404, "not_found", "Uploading " + id + " not found for counter " + std::to_string(counter));
}

Response YandexMetricaApi::list_uploadings(std::int64_t counter, Time now) {
  nlohmann::json list = nlohmann::json::array();
  for (const Uploading& u : state_.uploadings)
    if (u.counter == counter) list.push_back(uploading_json(u, now));
  return json_response(200, {{"uploadings", list}});
}

YandexMetricaApi::Phase YandexMetricaApi::phase(const Uploading& u, Time now) const {
  if (now < done_at(u)) return Phase::uploaded;
  return u.linkage_failure ? Phase::linkage_failure : Phase::processed;
}

void YandexMetricaApi::catch_up(Time now) {
  state_.last_now = std::max(state_.last_now, now);
  settle_due(state_.last_now);
}

void YandexMetricaApi::settle_due(Time now) {
  // Every upload takes processing_for: creation order is completion order.
  for (Uploading& u : state_.uploadings)
    if (!u.settled && done_at(u) <= now) settle(u);
}

void YandexMetricaApi::settle(Uploading& u) {
  u.settled = true;
  if (!u.linkage_failure) {
    const std::int64_t processed_s = floor_div(unix_ms(done_at(u)), 1000);
    for (const Row& row : u.rows) {
      ledger_.add("yandex_metrica.conversion",
                  content_hash_of_dump(nlohmann::json{{"client_id_type", u.client_id_type}, {"cells", row.cells}}));
      ++state_.conversions_applied;
      if (row.date_time >= processed_s - kLinkWindowS && !options_.unlinked_ids.count(row.cells[0]))
        ++u.linked_quantity;
    }
  }
  u.rows.clear();
  u.rows.shrink_to_fit();
}

nlohmann::json YandexMetricaApi::uploading_json(const Uploading& u, Time now) const {
  const Phase ph = phase(u, now);
  return {{"id", u.id},
          {"create_time", iso(u.created)},
          {"client_id_type", u.client_id_type},
          {"status", wire_status(options_.status_values, phase_name(static_cast<int>(ph)))},
          {"comment", u.comment},
          {"source_quantity", u.source_quantity},
          {"line_quantity", u.line_quantity},
          {"linked_quantity", ph == Phase::processed ? u.linked_quantity : 0}};
}

nlohmann::json YandexMetricaApi::accepted() const {
  nlohmann::json uploadings = nlohmann::json::array();
  for (const Uploading& u : state_.uploadings) {
    const Phase ph = phase(u, state_.last_now);
    uploadings.push_back({{"id", u.id},
                          {"counter_id", u.counter},
                          {"status", phase_name(static_cast<int>(ph))},
                          {"client_id_type", u.client_id_type},
                          {"source_quantity", u.source_quantity},
                          {"line_quantity", u.line_quantity},
                          {"linked_quantity", ph == Phase::processed ? u.linked_quantity : 0}});
  }
  return {{"requests", state_.requests},
          {"auth_refusals", state_.auth_refusals},
          {"quota_refusals", state_.quota_refusals},
          {"rejected", state_.rejected},
          {"uploadings", uploadings},
          {"conversions_applied", state_.conversions_applied},
          {"distinct_conversions", ledger_.distinct()}};
}

Status YandexMetricaApi::control(const JsonIn& op, Time now) { return api_key_control(op, now, options_.api_key); }

}  // namespace destsim
