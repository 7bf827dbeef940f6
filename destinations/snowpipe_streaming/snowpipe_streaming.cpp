#include "destinations/snowpipe_streaming/snowpipe_streaming.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "destinations/bulk_destination.h"
#include "framework/gzip.h"
#include "framework/http_call.h"
#include "framework/json_in.h"
#include "framework/oracle.h"
#include "framework/rate_limiter.h"
#include "framework/time.h"

namespace destsim {

namespace {

constexpr const char* kEffect = "snowpipe.row";
constexpr const char* kHost = "snowpipe-clients.internal";  // the sidecar (RudderStack's clientURL)
constexpr const char* kDiscards = "RUDDER_DISCARDS";
constexpr std::int64_t kValueBytesMax = 16'777'216;   // Snowflake's largest VARCHAR / VARIANT value
constexpr std::int64_t kInsertBytesMax = 25'165'824;  // 24 MiB: the sidecar's insert cap
constexpr std::int64_t kRowsMax = 100'000;            // rows per insert
constexpr std::int64_t kInsertEnvelope = 64;           // {"rows":[…],"offset":"<int64>"}
constexpr std::size_t kBulkStatusMax = 100;

// ─── Types ──────────────────────────────────────────────────────────────────

enum class WhType { string, integer, floating, boolean, datetime, json, unknown };

const char* wh_type_name(WhType t) {
  switch (t) {
    case WhType::string: return "string";
    case WhType::integer: return "int";
    case WhType::floating: return "float";
    case WhType::boolean: return "boolean";
    case WhType::datetime: return "datetime";
    case WhType::json: return "json";
    case WhType::unknown: break;
  }
  return "unknown";
}

std::optional<WhType> wh_type_from(std::string_view s) {
  if (s == "string") return WhType::string;
  if (s == "int") return WhType::integer;
  if (s == "float") return WhType::floating;
  if (s == "boolean") return WhType::boolean;
  if (s == "datetime") return WhType::datetime;
  if (s == "json") return WhType::json;
  return std::nullopt;
}

// The column type CREATE TABLE / ADD COLUMN gives a declared type.
const char* sql_type(WhType t) {
  switch (t) {
    case WhType::integer: return "NUMBER(38,0)";
    case WhType::floating: return "FLOAT";
    case WhType::boolean: return "BOOLEAN";
    case WhType::datetime: return "TIMESTAMP_TZ";
    case WhType::json: return "VARIANT";
    default: return "VARCHAR";
  }
}

struct ColumnType {
  WhType type = WhType::unknown;
  std::int64_t length = kValueBytesMax;  // VARCHAR(n)
};

// A channel's tableSchema entry {"type": "NUMBER(38,0)", "scale": 0} as a warehouse type.
ColumnType column_type_of(const nlohmann::json& info) {
  ColumnType c;
  if (!info.is_object() || !info.contains("type") || !info["type"].is_string()) return c;
  const std::string t = info["type"].get<std::string>();
  const std::string base = t.substr(0, t.find('('));
  std::int64_t scale = 0;
  if (info.contains("scale") && info["scale"].is_number()) scale = static_cast<std::int64_t>(info["scale"].get<double>());
  if (base == "NUMBER" || base == "DECIMAL" || base == "NUMERIC") {
    if (const auto comma = t.find(','); comma != std::string::npos) scale = std::atoll(t.c_str() + comma + 1);
    c.type = scale > 0 ? WhType::floating : WhType::integer;
  } else if (base == "FLOAT" || base == "DOUBLE" || base == "REAL") {
    c.type = WhType::floating;
  } else if (base == "VARCHAR" || base == "TEXT" || base == "STRING" || base == "CHAR") {
    c.type = WhType::string;
    if (const auto open = t.find('('); open != std::string::npos) {
      const std::int64_t n = std::atoll(t.c_str() + open + 1);
      if (n > 0) c.length = n;
    }
  } else if (base == "BOOLEAN") {
    c.type = WhType::boolean;
  } else if (base.rfind("TIMESTAMP", 0) == 0) {
    c.type = WhType::datetime;
  } else if (base == "VARIANT" || base == "OBJECT" || base == "ARRAY") {
    c.type = WhType::json;
  }
  return c;
}

bool identifier(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  if (!((s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$'; });
}

std::string upper(std::string s) {
  for (char& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return s;
}

// An RFC 3339 instant ("2024-01-01T00:00:00.000Z", or with ±hh:mm).
bool rfc3339(std::string_view s) {
  auto digits = [&](std::size_t at, std::size_t n) {
    if (at + n > s.size()) return false;
    for (std::size_t i = at; i < at + n; ++i)
      if (s[i] < '0' || s[i] > '9') return false;
    return true;
  };
  if (!digits(0, 4) || s.size() < 20 || s[4] != '-' || !digits(5, 2) || s[7] != '-' || !digits(8, 2) ||
      (s[10] != 'T' && s[10] != 't') || !digits(11, 2) || s[13] != ':' || !digits(14, 2) || s[16] != ':' ||
      !digits(17, 2))
    return false;
  std::size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    std::size_t j = i + 1;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    if (j == i + 1) return false;
    i = j;
  }
  const std::string_view zone = s.substr(i);
  if (zone == "Z" || zone == "z") return true;
  return zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && digits(i + 1, 2) && zone[3] == ':' &&
         digits(i + 4, 2);
}

bool integer_text(std::string_view s) {
  if (!s.empty() && s[0] == '-') s.remove_prefix(1);
  return !s.empty() && s.size() <= 38 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool decimal_text(std::string_view s) {
  if (!s.empty() && s[0] == '-') s.remove_prefix(1);
  const auto dot = s.find('.');
  const std::string_view whole = s.substr(0, dot);
  const std::string_view frac = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  auto all = [](std::string_view d) { return std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; }); };
  if (whole.empty() && frac.empty()) return false;
  return all(whole) && all(frac) && (dot == std::string_view::npos || !frac.empty());
}

// `v` as a column of type `to` takes it, or why it cannot: the rules the
// sidecar's SDK validates by (fakes/snowpipe), so a value sent is one it takes.
Result<nlohmann::json> convert(const nlohmann::json& v, const ColumnType& to) {
  auto fail = [&](const char* what) {
    std::string shown = v.is_string() ? v.get<std::string>() : v.dump();
    if (shown.size() > 64) shown = shown.substr(0, 64) + "…";
    return Error::bad_input(std::string("cannot convert ") + v.type_name() + " " + shown + " to " +
                            wh_type_name(to.type) + ": " + what);
  };
  if (v.is_null()) return v;
  switch (to.type) {
    case WhType::unknown:
    case WhType::json: return v;
    case WhType::string: {
      std::string s = v.is_string() ? v.get<std::string>() : v.dump();
      if (static_cast<std::int64_t>(s.size()) > to.length) return fail("longer than the column's length");
      return nlohmann::json(std::move(s));
    }
    case WhType::integer:
      if (v.is_number_integer()) return v;
      if (v.is_number_float()) {
        const double d = v.get<double>();
        if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) return nlohmann::json(static_cast<std::int64_t>(d));
        return fail("not a whole number");
      }
      if (v.is_string() && integer_text(v.get<std::string>())) return v;
      return fail("not an integer");
    case WhType::floating:
      if (v.is_number()) return v;
      if (v.is_string() && decimal_text(v.get<std::string>())) return v;
      return fail("not a number");
    case WhType::boolean:
      if (v.is_boolean()) return v;
      if (v == "true") return nlohmann::json(true);
      if (v == "false") return nlohmann::json(false);
      return fail("not a boolean");
    case WhType::datetime:
      if (v.is_string() && rfc3339(v.get<std::string>())) return v;
      return fail("not an RFC 3339 timestamp");
  }
  return v;
}

// ─── Rows ───────────────────────────────────────────────────────────────────

struct Row {
  JobId id = 0;
  std::string table;
  nlohmann::json data;                  // COL → value
  std::vector<std::pair<std::string, WhType>> columns;  // declared, in key order
};

// A record read as a row without copying its values: the table, the values
// by upper-cased column (in key order, as the item's JSON has them) and the
// declared types.
struct RowView {
  std::string table;
  std::map<std::string, const nlohmann::json*> data;
  std::map<std::string, WhType> types;
  const nlohmann::json* id = nullptr;
};

// A record as the row it becomes, or why it cannot be one.
Result<RowView> row_of(const Record& r) {
  auto bad = [&](const std::string& what) { return Error::bad_input("record " + std::to_string(r.id) + ": " + what); };
  const nlohmann::json& p = r.payload;
  if (!p.is_object()) return bad("payload: expected an object {table?, data, columns}");
  RowView row;
  if (p.contains("table")) {
    if (!p["table"].is_string()) return bad("table: expected a string");
    row.table = upper(p["table"].get<std::string>());
  } else {
    row.table = upper(r.stream);
  }
  if (!identifier(row.table) || row.table == kDiscards)
    return bad("table \"" + row.table + "\": expected a Snowflake identifier ([A-Z_][A-Z0-9_$]*, at most 255) other than " +
               kDiscards);
  if (!p.contains("data") || !p["data"].is_object()) return bad("data: expected an object of column values");
  if (!p.contains("columns") || !p["columns"].is_object()) return bad("columns: expected an object of column types");
  for (auto it = p["columns"].begin(); it != p["columns"].end(); ++it) {
    const std::string col = upper(it.key());
    if (!identifier(col)) return bad("columns/" + it.key() + ": not a Snowflake identifier");
    if (!it->is_string()) return bad("columns/" + it.key() + ": expected a type name");
    auto t = wh_type_from(it->get<std::string>());
    if (!t) return bad("columns/" + it.key() + ": unknown type \"" + it->get<std::string>() +
                       "\" (expected string, int, float, boolean, datetime or json)");
    if (!row.types.emplace(col, *t).second) return bad("columns: " + col + " is declared twice (names are upper-cased)");
  }
  for (auto it = p["data"].begin(); it != p["data"].end(); ++it) {
    const std::string col = upper(it.key());
    if (!row.types.count(col)) return bad("data/" + it.key() + ": no type declared in columns");
    const std::size_t bytes = it->is_string() ? it->get_ref<const std::string&>().size() : dump_size(*it);
    if (static_cast<std::int64_t>(bytes) > kValueBytesMax)
      return bad("data/" + it.key() + ": " + std::to_string(bytes) + " bytes exceeds Snowflake's largest value (" +
                 std::to_string(kValueBytesMax) + " bytes)");
    if (!row.data.emplace(col, &*it).second) return bad("data: " + col + " is given twice (names are upper-cased)");
  }
  const auto id = row.data.find("ID");
  if (id == row.data.end() || !id->second->is_string() || id->second->get_ref<const std::string&>().empty())
    return bad("data/ID: expected a non-empty string (every row is named by its ID)");
  row.id = id->second;
  return row;
}

// The item's text: {"c":{COL:type},"d":{COL:value},"t":TABLE}, written
// straight from the record (a padded value is copied once, into the item).
std::string item_text(const RowView& row) {
  std::string out = "{\"c\":{";
  bool first = true;
  for (const auto& [col, t] : row.types) {
    if (!first) out += ',';
    first = false;
    append_dumped_string(out, col);
    out += ':';
    append_dumped_string(out, wh_type_name(t));
  }
  out += "},\"d\":{";
  first = true;
  for (const auto& [col, v] : row.data) {
    if (!first) out += ',';
    first = false;
    append_dumped_string(out, col);
    out += ':';
    append_dump(out, *v);
  }
  out += "},\"t\":";
  append_dumped_string(out, row.table);
  out += '}';
  return out;
}

Row row_from_item(const BulkItem& item) {
  Row row;
  row.id = item.id;
  nlohmann::json j = nlohmann::json::parse(item.data, nullptr, false);
  if (!j.is_object()) return row;
  row.table = j.value("t", "");
  row.data = std::move(j["d"]);
  for (auto it = j["c"].begin(); it != j["c"].end(); ++it)
    row.columns.emplace_back(it.key(), wh_type_from(it->get<std::string>()).value_or(WhType::string));
  return row;
}

std::int64_t token_of(const nlohmann::json& s) {
  // "" (never committed) is below every token.
  if (!s.is_string() || s.get_ref<const std::string&>().empty()) return INT64_MIN;
  const std::string& t = s.get_ref<const std::string&>();
  if (!integer_text(t) || t.size() > 19) return INT64_MIN;
  return std::strtoll(t.c_str(), nullptr, 10);
}

// The statuses asked again (Capabilities::retryable_statuses). The sidecar's
// 404 means "no such channel" (it restarted, or the channel was dropped): the
// channel is opened again and the call repeated, as the peer does.
bool retryable(int status) {
  return status == 404 || status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
         status == 504;
}

// The kind of cause behind a retry, from the answer's status: no answer →
// transport; a sidecar failure answered 200 (success:false) or a 5xx →
// server_error; 429 → rate_limited; 408 → timeout.
ReasonKind retry_kind(int http_status) {
  if (http_status == 200) return ReasonKind::server_error;
  if (http_status == -1) return ReasonKind::server_error;
  const ReasonKind k = reason_kind_of_status(http_status);
  return k == ReasonKind::none ? ReasonKind::server_error : k;
}

// ─── Settings ───────────────────────────────────────────────────────────────

struct Settings {
  std::string host, sql_host;
  std::string account, user, role, private_key, passphrase, sql_token;
  std::string database, schema, rudder_identifier, partition;
  std::int64_t records_max = 10'000;
  std::int64_t insert_bytes_max = kInsertBytesMax;
  bool gzip = true;
};

struct Channel {
  std::string id;
  std::map<std::string, ColumnType> columns;
};

// The sidecar's answer to opening a channel, read.
struct Opened {
  enum class Kind { ok, retry, fail } kind = Kind::retry;
  Channel channel;
  std::string reason;
  ReasonKind reason_kind = ReasonKind::none;
  int http_status = -1;
  std::optional<Duration> retry_after;
};

struct ChannelStatus {
  bool found = false;  // the channel answered (not notFound)
  bool valid = false;
  std::int64_t committed = INT64_MIN, latest = INT64_MIN;
};

class SnowpipeManager final : public AsyncDestinationManager {
 public:
  SnowpipeManager(DeliveryContext& ctx, Settings s)
      : ctx_(ctx), s_(std::move(s)), limiter_(ctx.loop, 0), caller_(ctx.loop, ctx.transport, limiter_) {
    ctx.loop.trace().add_secret(s_.private_key);
    if (!s_.passphrase.empty()) ctx.loop.trace().add_secret(s_.passphrase);
    ctx.loop.trace().add_secret(s_.sql_token);
  }

  std::string name() const override { return "snowpipe_streaming"; }
  bool idempotent() const override { return false; }

  BulkLimits limits() const override {
    return BulkLimits{.records_max = s_.records_max,
                      .bytes_max = s_.insert_bytes_max,
                      .header_bytes = kInsertEnvelope,
                      .separator_bytes = 1};
  }

  Result<BulkItem> transform(const Record& record) override {
    DS_TRY(RowView row, row_of(record));
    return BulkItem{record.id, item_text(row)};
  }

  Task<UploadOutcome> upload(const std::vector<const BulkItem*>& items) override {
    std::map<std::string, std::vector<Row>> tables;
    for (const BulkItem* item : items) {
      Row row = row_from_item(*item);
      tables[row.table].push_back(std::move(row));
    }
    UploadOutcome out;
    nlohmann::json entries = nlohmann::json::array();
    std::string import_id;
    for (auto& [table, rows] : tables) {
      std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.id < b.id; });
      nlohmann::json entry = co_await upload_table(table, std::move(rows), out);
      if (entry.is_null()) continue;
      for (const auto& j : entry["jobs"]) out.import.jobs.push_back(j.get<JobId>());
      if (!import_id.empty()) import_id += ",";
      import_id += table + "@" + std::to_string(entry["token"].get<std::int64_t>());
      entries.push_back(std::move(entry));
    }
    if (entries.empty()) {
      out.kind = UploadOutcome::Kind::completed;
      co_return out;
    }
    out.kind = UploadOutcome::Kind::importing;
    out.import.import_id = std::move(import_id);
    out.import.params = {{"tables", std::move(entries)}};
    co_return out;
  }

  Task<PollOutcome> poll(const ImportRef& import) override {
    PollOutcome out;
    auto resolved = co_await resolve(import);
    if (!resolved.ok()) {
      out.reason = resolved.error().message;
      if (resolved.error().code == ErrorCode::bad_input) {
        // A call of the poll was refused for good (C1: not asked again): the
        // rows may be in; the jobs end outcome unknown.
        out.status = ImportStatus::failed;
        out.http_status = refused_status_;
        co_return out;
      }
      out.transient = true;
      co_return out;
    }
    if (!resolved->done) {
      out.status = ImportStatus::running;
      out.reason = resolved->why;
      co_return out;
    }
    results_[import.import_id] = std::move(resolved->results);
    out.status = ImportStatus::completed;
    co_return out;
  }

  Task<StatsOutcome> upload_stats(const ImportRef& import) override {
    StatsOutcome out;
    if (auto it = results_.find(import.import_id); it != results_.end()) {
      out.results = std::move(it->second);
      results_.erase(it);
      co_return out;
    }
    // Asked without a poll that finished here (a restart between the two):
    // the channel statuses decide again.
    auto resolved = co_await resolve(import);
    if (!resolved.ok() || !resolved->done) {
      out.transient = true;
      out.reason = resolved.ok() ? resolved->why : resolved.error().message;
      co_return out;
    }
    out.results = std::move(resolved->results);
    co_return out;
  }

 private:
  // ── requests ──

  Request sidecar(const char* method, std::string path, std::string body = "") const {
    return json_request(method, s_.host, std::move(path), std::move(body));
  }

  nlohmann::json channel_request(const std::string& table, const std::string& partition) const {
    return {{"rudderIdentifier", s_.rudder_identifier},
            {"partition", partition},
            {"account",
             {{"account", s_.account},
              {"user", s_.user},
              {"role", s_.role},
              {"privateKey", s_.private_key},
              {"privateKeyPassphrase", s_.passphrase}}},
            {"table", {{"database", s_.database}, {"schema", s_.schema}, {"table", table}, {"enableIceberg", false}}}};
  }

  std::string full_name(const std::string& table) const { return s_.database + "." + s_.schema + "." + table; }

  // One SQL statement through the SQL API; an error names the statement's answer.
  Task<Opened> sql(std::string statement, std::vector<JobId> carries = {}) {
    Opened o;
    Request r = json_request("POST", s_.sql_host, "/api/v2/statements",
                             nlohmann::json{{"statement", statement}, {"timeout", 60}, {"role", s_.role}}.dump(),
                             Headers{{"Authorization", "Bearer " + s_.sql_token},
                                     {"X-Snowflake-Authorization-Token-Type", "KEYPAIR_JWT"},
                                     {"Accept", "application/json"}});
    r.carries = std::move(carries);
    HttpResult res = co_await caller_.send(std::move(r));
    const std::string what = statement.substr(0, statement.find('('));
    if (!res.ok()) {
      o.http_status = 0;
      o.reason = "SQL " + what + ": transport " + transport_error_kind_name(res.error().kind);
      co_return o;  // retry (IF NOT EXISTS: running it twice is harmless)
    }
    o.http_status = res->status;
    if (res->status == 200) {
      o.kind = Opened::Kind::ok;
      co_return o;
    }
    const nlohmann::json b = parse_json_body(res->body);
    o.reason = "SQL " + what + ": HTTP " + std::to_string(res->status);
    if (!string_member(b, "code").empty()) o.reason += " " + string_member(b, "code");
    if (!string_member(b, "message").empty()) o.reason += ": " + string_member(b, "message");
    if (retryable(res->status)) {
      o.retry_after = retry_after(*res, ctx_.loop);
      co_return o;
    }
    o.kind = Opened::Kind::fail;  // 400/401/403/422: the same statement cannot succeed
    o.reason_kind = reason_kind_of_status(res->status);
    co_return o;
  }

  // Opens (or reopens) the channel of `table` (`key` in the cache), creating
  // the schema and table when the sidecar says they do not exist, with
  // `create` as the table's columns.
  Task<Opened> open(std::string key, std::string table, std::string partition,
                    std::vector<std::pair<std::string, std::string>> create, std::vector<JobId> carries = {}) {
    channels_.erase(key);
    for (int attempt = 0;; ++attempt) {
      Opened o;
      Request req = sidecar("POST", "/channels", channel_request(table, partition).dump());
      req.carries = carries;
      HttpResult res = co_await caller_.send(std::move(req));
      if (!res.ok()) {
        o.http_status = 0;
        o.reason = "open channel " + table + ": transport " + transport_error_kind_name(res.error().kind);
        co_return o;
      }
      o.http_status = res->status;
      const nlohmann::json b = parse_json_body(res->body);
      if (res->status != 200 || !b.is_object() || !b.contains("success") || !b["success"].is_boolean()) {
        o.reason = "open channel " + table + ": HTTP " + std::to_string(res->status) +
                   (res->status == 200 ? " with an unreadable body" : "");
        if (!string_member(b, "error").empty()) o.reason += ": " + string_member(b, "error");
        o.retry_after = retry_after(*res, ctx_.loop);
        if (res->status != 200 && !retryable(res->status)) {
          // 400, 401/403, 409, 422: the same request cannot succeed (C1).
          o.kind = Opened::Kind::fail;
          o.reason_kind = reason_kind_of_status(res->status);
        }
        co_return o;
      }
      if (b["success"].get<bool>()) {
        const std::string id = string_member(b, "channelId");
        if (id.empty()) {
          o.reason = "open channel " + table + ": success without a channelId";
          co_return o;
        }
        o.channel.id = id;
        if (b.contains("tableSchema") && b["tableSchema"].is_object())
          for (auto it = b["tableSchema"].begin(); it != b["tableSchema"].end(); ++it)
            o.channel.columns[it.key()] = column_type_of(*it);
        // The channel's tokens: every token we send from now on is above them.
        refused_.clear();
        ChannelStatus st = co_await status_of(id, carries);
        if (!refused_.empty()) {
          o.kind = Opened::Kind::fail;  // C1: a status call refused for good is not asked again
          o.http_status = refused_status_;
          o.reason_kind = reason_kind_of_status(refused_status_);
          o.reason = "open channel " + table + ": " + refused_;
          co_return o;
        }
        if (!st.found) {
          o.reason = "open channel " + table + ": its status could not be read";
          co_return o;
        }
        auto& last = last_token_.try_emplace(key, INT64_MIN).first->second;
        last = std::max({last, st.committed, st.latest});
        if (key == table) observe_committed(table, st.committed);
        channels_[key] = o.channel;
        o.kind = Opened::Kind::ok;
        co_return o;
      }
      const std::string code = string_member(b, "code");
      o.reason = "open channel " + table + ": " + (code.empty() ? "success:false" : code);
      const std::string message = !string_member(b, "snowflakeAPIMessage").empty() ? string_member(b, "snowflakeAPIMessage") : string_member(b, "error");
      if (!message.empty()) o.reason += ": " + message;
      const bool schema_missing = code == "ERR_SCHEMA_DOES_NOT_EXIST_OR_NOT_AUTHORIZED";
      if ((schema_missing || code == "ERR_TABLE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED") && attempt == 0 && !create.empty()) {
        if (schema_missing) {
          Opened made = co_await sql("CREATE SCHEMA IF NOT EXISTS \"" + s_.database + "\".\"" + s_.schema + "\"", carries);
          if (made.kind != Opened::Kind::ok) co_return made;
        }
        std::string cols;
        for (const auto& [c, t] : create) cols += (cols.empty() ? "" : ", ") + ("\"" + c + "\" " + t);
        Opened made = co_await sql("CREATE TABLE IF NOT EXISTS \"" + s_.database + "\".\"" + s_.schema + "\".\"" + table +
                                   "\" (" + cols + ")",
                                   carries);
        if (made.kind != Opened::Kind::ok) co_return made;
        continue;  // open again
      }
      std::int64_t api_http = 0;
      if (b.contains("snowflakeAPIHttpCode") && b["snowflakeAPIHttpCode"].is_number_integer())
        api_http = b["snowflakeAPIHttpCode"].get<std::int64_t>();
      if (code == "ERR_AUTHENTICATION_FAILED" || code == "ERR_ROLE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED") {
        o.kind = Opened::Kind::fail;
        o.reason_kind = ReasonKind::auth;
      } else if (code == "ERR_VALIDATION_ERROR" || code == "ERR_DATABASE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED" ||
                 api_http == 400) {
        o.kind = Opened::Kind::fail;
        o.reason_kind = ReasonKind::rejected_by_api;
      }
      // ERR_SCHEMA_CONFLICT, ERR_UNKNOWN_ERROR, a table still missing after
      // its creation, anything else: retried.
      co_return o;
    }
  }

  // One channel's status (found false on any failure or notFound).
  Task<ChannelStatus> status_of(std::string id, std::vector<JobId> carries = {}) {
    std::map<std::string, ChannelStatus> m = co_await statuses({id}, std::move(carries));
    co_return m[id];
  }

  // Bulk status of `ids` (≤ 100 a call). An id missing from the map: the
  // call failed; found=false with the id present: notFound.
  Task<std::map<std::string, ChannelStatus>> statuses(std::vector<std::string> ids, std::vector<JobId> carries = {}) {
    std::map<std::string, ChannelStatus> out;
    for (std::size_t at = 0; at < ids.size(); at += kBulkStatusMax) {
      std::string path = "/channels/bulk-status?";
      const std::size_t end = std::min(ids.size(), at + kBulkStatusMax);
      for (std::size_t i = at; i < end; ++i) path += (i > at ? "&" : "") + ("channelIds=" + url_encode(ids[i]));
      Request req = sidecar("GET", path);
      req.carries = carries;
      HttpResult res = co_await caller_.send(std::move(req));
      if (res.ok() && res->status != 200 && !retryable(res->status)) {
        refused_ = "bulk status: HTTP " + std::to_string(res->status);
        refused_status_ = res->status;
      }
      if (!res.ok() || res->status != 200) continue;
      const nlohmann::json b = parse_json_body(res->body);
      if (!b.is_object() || b.value("success", false) != true) continue;
      if (b.contains("notFound") && b["notFound"].is_array())
        for (const auto& n : b["notFound"])
          if (n.is_string()) out[n.get<std::string>()] = ChannelStatus{};
      if (b.contains("statuses") && b["statuses"].is_object())
        for (auto it = b["statuses"].begin(); it != b["statuses"].end(); ++it) {
          const nlohmann::json& s = *it;
          if (!s.is_object()) continue;
          ChannelStatus st;
          st.found = s.value("success", false) == true;
          st.valid = s.value("valid", false) == true;
          st.committed = token_of(s.contains("offset") ? s["offset"] : nlohmann::json());
          st.latest = token_of(s.contains("latestInsertedOffset") ? s["latestInsertedOffset"] : nlohmann::json());
          if (!st.found) continue;  // success:false: unread
          out[it.key()] = st;
        }
    }
    co_return out;
  }

  // ── the upload of one table's rows ──

  // Sends `rows` of `table`; returns the import entry of the rows that went
  // in (null when none), and adds per-job results to `out` for the others.
  Task<nlohmann::json> upload_table(std::string table, std::vector<Row> rows, UploadOutcome& out) {
    auto settle_all = [&](const Opened& o) {
      for (const Row& r : rows) {
        MessageResult m{r.id, o.kind == Opened::Kind::fail ? Verdict::fail : Verdict::retry, o.reason};
        m.kind = o.kind == Opened::Kind::fail ? o.reason_kind : retry_kind(o.http_status);
        out.results.push_back(std::move(m));
      }
      if (o.retry_after) out.retry_after = std::max(out.retry_after.value_or(Duration{0}), *o.retry_after);
      if (o.http_status >= 0) out.http_status = o.http_status;
    };
    // Every request of this table names its jobs (Request::carries): its
    // answer decides them, not the other tables' of the upload.
    std::vector<JobId> job_ids;
    for (const Row& r : rows) job_ids.push_back(r.id);
    // The batch's columns, first declaration wins (as the peer builds its schema).
    std::vector<std::pair<std::string, WhType>> declared;
    std::map<std::string, bool> seen;
    for (const Row& r : rows)
      for (const auto& [c, t] : r.columns)
        if (seen.emplace(c, true).second) declared.emplace_back(c, t);
    std::vector<std::pair<std::string, std::string>> create;
    for (const auto& [c, t] : declared) create.emplace_back(c, sql_type(t));

    for (int reopen = 0;; ++reopen) {
      if (!channels_.count(table)) {
        Opened o = co_await open(table, table, s_.partition, create, job_ids);
        if (o.kind != Opened::Kind::ok) {
          settle_all(o);
          co_return nullptr;
        }
      }
      // Columns the batch has and the channel does not: added, then the channel reopened.
      std::vector<std::pair<std::string, std::string>> missing;
      for (const auto& [c, t] : create)
        if (!channels_[table].columns.count(c)) missing.emplace_back(c, t);
      if (!missing.empty()) {
        for (const auto& [c, t] : missing) {
          Opened made = co_await sql("ALTER TABLE \"" + s_.database + "\".\"" + s_.schema + "\".\"" + table +
                                     "\" ADD COLUMN IF NOT EXISTS \"" + c + "\" " + t,
                                     job_ids);
          if (made.kind != Opened::Kind::ok) {
            settle_all(made);
            co_return nullptr;
          }
        }
        Opened o = co_await open(table, table, s_.partition, create, job_ids);
        if (o.kind != Opened::Kind::ok) {
          settle_all(o);
          co_return nullptr;
        }
        for (const auto& [c, t] : missing)
          if (!channels_[table].columns.count(c)) {
            settle_all(Opened{.reason = "column " + c + " of " + table + " is still unknown to its channel after ADD COLUMN"});
            co_return nullptr;
          }
      }
      const Channel channel = channels_[table];

      // Values checked against the columns; what does not convert is sent as
      // null and kept for the discards table.
      nlohmann::json insert_rows = nlohmann::json::array();
      nlohmann::json discards = nlohmann::json::array();  // [{job, rows}]
      for (const Row& r : rows) {
        nlohmann::json sent = nlohmann::json::object();
        nlohmann::json dropped = nlohmann::json::array();
        for (auto it = r.data.begin(); it != r.data.end(); ++it) {
          auto col = channel.columns.find(it.key());
          const ColumnType to = col == channel.columns.end() ? ColumnType{} : col->second;
          auto v = convert(*it, to);
          if (v.ok()) {
            sent[it.key()] = std::move(*v);
            continue;
          }
          sent[it.key()] = nullptr;
          dropped.push_back(discard_row(table, r, it.key(), *it, v.error().message));
        }
        insert_rows.push_back(std::move(sent));
        if (!dropped.empty()) discards.push_back({{"job", r.id}, {"rows", std::move(dropped)}});
      }
      std::int64_t token = static_cast<std::int64_t>(rows.back().id);
      auto& last = last_token_.try_emplace(table, INT64_MIN).first->second;
      token = std::max(token, last == INT64_MIN ? token : last + 1);
      last = token;

      Inserted ins = co_await insert(channel.id, insert_rows, token, job_ids);
      if (ins.gone && reopen == 0) {
        channels_.erase(table);  // 404: the sidecar forgot it (a restart); open anew and try once more
        continue;
      }
      nlohmann::json jobs = nlohmann::json::array();
      std::map<JobId, bool> out_of_import;
      for (const auto& [index, err] : ins.row_errors) {
        const Row& r = rows[static_cast<std::size_t>(index)];
        out_of_import[r.id] = true;
        MessageResult m{r.id, err.retry ? Verdict::retry : Verdict::fail, err.reason};
        m.kind = err.retry ? ReasonKind::none : ReasonKind::rejected_by_api;
        out.results.push_back(std::move(m));
      }
      if (ins.refused) {
        // Nothing of it can have been taken: every job goes again (or fails).
        for (const Row& r : rows) {
          if (out_of_import.count(r.id)) continue;
          MessageResult m{r.id, ins.permanent ? Verdict::fail : Verdict::retry, ins.reason};
          m.kind = ins.permanent ? ins.reason_kind : retry_kind(ins.http_status);
          out.results.push_back(std::move(m));
        }
        if (ins.retry_after) out.retry_after = std::max(out.retry_after.value_or(Duration{0}), *ins.retry_after);
        out.http_status = ins.http_status;
        co_return nullptr;
      }
      for (const Row& r : rows)
        if (!out_of_import.count(r.id)) jobs.push_back(r.id);
      if (jobs.empty()) co_return nullptr;
      nlohmann::json kept_discards = nlohmann::json::array();
      for (auto& d : discards)
        if (!out_of_import.count(d["job"].get<JobId>())) kept_discards.push_back(std::move(d));
      co_return nlohmann::json{{"table", table},
                               {"channel", channel.id},
                               {"token", token},
                               {"history", history_[table]},
                               {"jobs", std::move(jobs)},
                               {"uncertain", ins.uncertain},
                               {"discards", std::move(kept_discards)}};
    }
  }

  nlohmann::json discard_row(const std::string& table, const Row& r, const std::string& column,
                             const nlohmann::json& value, const std::string& reason) const {
    const auto received = r.data.find("RECEIVED_AT");
    const bool has_received = received != r.data.end() && received->is_string() && rfc3339(received->get<std::string>());
    const std::int64_t now_ms = ctx_.loop.clock().unix_ms(ctx_.loop.now());
    const CivilTime c = civil_from_unix_ms(now_ms);
    char ts[40];
    std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", c.year, c.month, c.day, c.hour, c.minute,
                  c.second, c.millisecond);
    std::string shown = value.is_string() ? value.get<std::string>() : value.dump();
    return {{"TABLE_NAME", table},
            {"ROW_ID", r.data["ID"]},
            {"COLUMN_NAME", column},
            {"COLUMN_VALUE", std::move(shown)},
            {"REASON", reason},
            {"RECEIVED_AT", has_received ? *received : nlohmann::json()},
            {"UUID_TS", ts}};
  }

  struct RowError {
    bool retry = false;
    std::string reason;
  };
  struct Inserted {
    bool gone = false;       // 404: the channel is unknown to the sidecar
    bool refused = false;    // nothing of it can have been buffered
    bool permanent = false;  // with refused: failing again cannot change
    bool uncertain = false;  // it may or may not have been buffered: the status decides
    std::map<std::int64_t, RowError> row_errors;
    std::string reason;
    ReasonKind reason_kind = ReasonKind::none;
    int http_status = -1;
    std::optional<Duration> retry_after;
  };

  Task<Inserted> insert(std::string channel_id, const nlohmann::json& rows, std::int64_t token,
                        std::vector<JobId> carries = {}) {
    Inserted ins;
    std::string body = dump_of(nlohmann::json{{"rows", rows}, {"offset", std::to_string(token)}});
    Request r = sidecar("POST", "/channels/" + url_encode(channel_id) + "/insert");
    r.carries = std::move(carries);
    r.headers.set("Content-Type", "application/json");
    if (s_.gzip) {
      auto z = gzip_compress(body, 1);
      if (z.ok()) {
        r.body = std::move(*z);
        r.headers.set("Content-Encoding", "gzip");
      } else {
        r.body = std::move(body);
      }
    } else {
      r.body = std::move(body);
    }
    HttpResult res = co_await caller_.send(std::move(r));
    const std::string what = "insert " + std::to_string(token) + " into channel " + channel_id;
    if (!res.ok()) {
      ins.http_status = 0;
      ins.reason = what + ": transport " + transport_error_kind_name(res.error().kind);
      if (res.error().maybe_applied) ins.uncertain = true;
      else ins.refused = true;
      co_return ins;
    }
    ins.http_status = res->status;
    const nlohmann::json b = parse_json_body(res->body);
    ins.reason = what + ": HTTP " + std::to_string(res->status);
    if (!string_member(b, "code").empty()) ins.reason += " " + string_member(b, "code");
    if (!string_member(b, "error").empty()) ins.reason += ": " + string_member(b, "error");
    if (res->status == 404) {
      // The sidecar forgot the channel (a restart): once more after
      // reopening, then in a later upload.
      ins.gone = ins.refused = true;
      channels_.erase(channel_key_of(channel_id));
      co_return ins;
    }
    if (res->status != 200) {
      ins.retry_after = retry_after(*res, ctx_.loop);
      if (may_have_applied(res->status)) {
        ins.uncertain = true;
      } else {
        ins.refused = true;
        // 400 (the request), 401/403, 413 (too large: the router's limit
        // keeps inserts under the cap, so only a smaller cap than declared
        // gets here) cannot succeed as they are; 408/429/503 can.
        if (!retryable(res->status)) {
          ins.permanent = true;
          ins.reason_kind = reason_kind_of_status(res->status);
        }
      }
      co_return ins;
    }
    if (!b.is_object() || !b.contains("success") || !b["success"].is_boolean()) {
      ins.uncertain = true;  // a 200 we cannot read: the status decides
      ins.reason = what + ": HTTP 200 with an unreadable body";
      co_return ins;
    }
    if (b["success"].get<bool>()) co_return ins;
    // success:false. Rows named by an error are out of the import; the rest
    // may have been buffered (ON_ERROR CONTINUE) or not (ABORT): the status
    // decides. Without row errors the channel refused the insert (invalid,
    // or a sidecar failure): the status decides too, and the channel is
    // opened afresh at its next use.
    ins.uncertain = true;
    const bool has_errors = b.contains("errors") && b["errors"].is_array() && !b["errors"].empty();
    if (!has_errors && string_member(b, "code") == "ERR_CHANNEL_INVALID") {
      // The channel turned invalid before this insert (its table replaced,
      // dropped or altered): an invalid channel takes nothing, so nothing of
      // it was buffered. Reopened and sent once more, as after a 404.
      ins.uncertain = false;
      ins.gone = ins.refused = true;
      channels_.erase(channel_key_of(channel_id));
      co_return ins;
    }
    if (!has_errors) {
      channels_.erase(channel_key_of(channel_id));
      co_return ins;
    }
    bool stale = false;
    for (const auto& e : b["errors"]) {
      if (!e.is_object() || !e.contains("rowIndex") || !e["rowIndex"].is_number_integer()) continue;
      const std::int64_t i = e["rowIndex"].get<std::int64_t>();
      if (i < 0 || i >= static_cast<std::int64_t>(rows.size())) continue;
      RowError re;
      auto names = [&](const char* key) {
        std::string out;
        if (e.contains(key) && e[key].is_array())
          for (const auto& n : e[key])
            if (n.is_string()) out += (out.empty() ? "" : ", ") + n.get<std::string>();
        return out;
      };
      const std::string extra = names("extraColNames"), missing = names("missingNotNullColNames"),
                        nulls = names("nullValueForNotNullColNames");
      re.reason = "row refused by Snowflake";
      if (!extra.empty()) re.reason += "; columns unknown to the channel: " + extra;
      if (!missing.empty()) re.reason += "; NOT NULL columns missing: " + missing;
      if (!nulls.empty()) re.reason += "; null for NOT NULL columns: " + nulls;
      if (!string_member(e, "message").empty()) re.reason += "; " + string_member(e, "message");
      // Columns the channel does not know (its schema is older than the
      // table's): the channel is reopened and the row sent again.
      re.retry = !extra.empty() && missing.empty() && nulls.empty();
      stale = stale || re.retry;
      ins.row_errors[i] = std::move(re);
    }
    if (stale) channels_.erase(channel_key_of(channel_id));
    co_return ins;
  }

  std::string channel_key_of(const std::string& id) const {
    for (const auto& [key, ch] : channels_)
      if (ch.id == id) return key;
    return "";
  }

  // ── completion ──

  struct Resolved {
    bool done = false;
    std::string why;  // while running
    std::vector<MessageResult> results;
  };

  // A poll's call refused for good (bad_input, with refused_status_) or one
  // to ask again (transport).
  static Error transient(std::string m) { return Error{ErrorCode::transport, std::move(m)}; }
  Error refuse(const Opened& o) {
    refused_status_ = o.http_status;
    return Error::bad_input(o.reason);
  }

  Task<Result<Resolved>> resolve(const ImportRef& import) {
    Resolved r;
    refused_.clear();
    refused_status_ = -1;
    const nlohmann::json& entries = import.params.is_object() ? import.params.value("tables", nlohmann::json()) : nlohmann::json();
    if (!entries.is_array()) co_return Error::bad_input("import " + import.import_id + ": stored params unreadable");
    std::vector<std::string> ids;
    std::set<std::string> asked;
    auto ask = [&](const std::string& id) {
      if (!id.empty() && asked.insert(id).second) ids.push_back(id);
    };
    for (const auto& e : entries) {
      ask(string_member(e, "channel"));
      const std::string table = string_member(e, "table");
      if (channels_.count(table)) ask(channels_[table].id);
    }
    std::map<std::string, ChannelStatus> st = co_await statuses(ids);
    bool running = false;
    for (const auto& e : entries) {
      const std::string table = string_member(e, "table"), id = string_member(e, "channel");
      const std::int64_t token = e.value("token", std::int64_t{0});
      auto it = st.find(id);
      if (!refused_.empty()) co_return Error::bad_input(refused_);
      if (it == st.end()) co_return transient("channel status of " + table + " could not be read");
      ChannelStatus s = it->second;
      const bool alive = s.found && s.valid;
      const char* dead = s.found ? "channel invalid" : "channel gone";
      if (!alive) {
        // Gone (a restart, or reopened) or invalid: what it held and had not
        // committed never will be. The committed token lives on with the
        // channel's name: read it from the channel open now, or open one.
        channels_.erase(channel_key_of(id));
        if (channels_.count(table) && st.count(channels_[table].id) && st[channels_[table].id].found) {
          s = st[channels_[table].id];
        } else {
          Opened o = co_await open(table, table, s_.partition, {});
          if (o.kind == Opened::Kind::fail) co_return refuse(o);
          if (o.kind != Opened::Kind::ok) co_return transient(o.reason);
          s = co_await status_of(channels_[table].id);
          if (!refused_.empty()) co_return Error::bad_input(refused_);
          if (!s.found) co_return transient("channel status of " + table + " could not be read after reopening");
        }
      }
      std::vector<JobId> jobs;
      for (const auto& j : e["jobs"]) jobs.push_back(j.get<JobId>());
      // A channel name's committed token only grows — unless its table was
      // dropped (and made again), which forgets it. Seen going back since the
      // insert was sent, the history it was sent into is gone: a dead
      // channel's insert may have committed (into the table that was dropped)
      // before it died, and nothing can tell. (An insert sent after the loss
      // was seen went into the new history: not committed is not committed.)
      observe_committed(table, s.committed);
      const std::int64_t sent_in = e.value("history", history_[table]);
      const bool history_lost = sent_in < history_[table];
      if (s.committed >= token) {
        auto d = co_await discards_done(table, token, e["discards"]);
        if (!d.ok()) co_return d.error();
        if (!*d) {
          running = true;
          r.why = "discards of " + table + "@" + std::to_string(token) + " not committed yet";
          continue;
        }
        for (JobId j : jobs) r.results.push_back({j, Verdict::ok, ""});
        continue;
      }
      if (alive && s.latest >= token) {
        running = true;
        r.why = table + "@" + std::to_string(token) + " still flushing (committed " + token_text(s.committed) + ")";
        continue;
      }
      if (history_lost && !alive) {
        const std::string reason = "insert " + std::to_string(token) + " into " + table + ": its channel died (" + dead +
                                   ") and the table's committed tokens were forgotten after it was sent (committed now " +
                                   token_text(s.committed) +
                                   "; the table was dropped or replaced?): whether it committed is unknown, so it is not "
                                   "sent again";
        for (JobId j : jobs) {
          MessageResult m{j, Verdict::retry, reason, ReasonKind::unknown_outcome};
          m.maybe_applied = true;
          r.results.push_back(std::move(m));
        }
        continue;
      }
      const std::string reason = "insert " + std::to_string(token) + " into " + table + " was not committed (" +
                                 (alive ? "lost: latest inserted " + token_text(s.latest) : std::string(dead)) +
                                 ", committed " + token_text(s.committed) + "): sent again";
      // The API lost them: a server-side failure, certainly not applied.
      for (JobId j : jobs) r.results.push_back({j, Verdict::retry, reason, ReasonKind::server_error});
    }
    r.done = !running;
    co_return r;
  }

  static std::string token_text(std::int64_t t) { return t == INT64_MIN ? "none" : std::to_string(t); }

  // A committed token of `table`'s channel name, read from an open or a
  // status. It only grows — unless the table was dropped or replaced, which
  // forgets it: seen going back, the table's history is a new one (history_
  // counts them; an insert stores the history it was sent in).
  void observe_committed(const std::string& table, std::int64_t committed) {
    std::int64_t& seen = committed_seen_.try_emplace(table, INT64_MIN).first->second;
    if (committed < seen) ++history_[table];
    seen = committed < seen ? committed : std::max(seen, committed);
  }

  // Whether the discard rows of the insert `token` of `table` are committed;
  // sends them (again) when they are not and cannot be pending.
  Task<Result<bool>> discards_done(std::string table, std::int64_t token, nlohmann::json discards) {
    if (!discards.is_array() || discards.empty()) co_return true;
    const std::string key = std::string("discards:") + table;
    std::string partition = s_.partition + "-" + table;
    std::replace(partition.begin(), partition.end(), '$', '_');
    if (!channels_.count(key)) {
      Opened o = co_await open(key, kDiscards, partition, discards_schema());
      if (o.kind == Opened::Kind::fail) co_return refuse(o);
      if (o.kind != Opened::Kind::ok) co_return transient(o.reason);
    }
    const std::string id = channels_[key].id;
    ChannelStatus s = co_await status_of(id);
    if (!refused_.empty()) co_return Error::bad_input(refused_);
    if (!s.found || !s.valid) {
      channels_.erase(key);
      co_return false;  // next poll reopens
    }
    if (s.committed >= token) {
      sent_discards_.erase({table, token});
      co_return true;
    }
    auto sent = sent_discards_.find({table, token});
    if (sent != sent_discards_.end() && sent->second == id && s.latest >= token) co_return false;  // flushing
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& d : discards)
      for (const auto& row : d["rows"]) rows.push_back(row);
    Inserted ins = co_await insert(id, rows, token);
    last_token_[key] = std::max(last_token_.try_emplace(key, INT64_MIN).first->second, token);
    if (ins.refused && ins.permanent && !ins.gone) {
      refused_status_ = ins.http_status;
      co_return Error::bad_input("discards of " + table + ": " + ins.reason);
    }
    if (!ins.refused) sent_discards_[{table, token}] = id;
    co_return false;
  }

  static std::vector<std::pair<std::string, std::string>> discards_schema() {
    return {{"TABLE_NAME", "VARCHAR"},         {"ROW_ID", "VARCHAR"},       {"COLUMN_NAME", "VARCHAR"},
            {"COLUMN_VALUE", "VARCHAR"},       {"RECEIVED_AT", "TIMESTAMP_TZ"}, {"UUID_TS", "TIMESTAMP_TZ"},
            {"REASON", "VARCHAR"}};
  }

  DeliveryContext& ctx_;
  Settings s_;
  RateLimiter limiter_;  // no pacing: Retry-After holds per endpoint (I1)
  std::string refused_;     // a poll's status call refused for good (its reason)
  int refused_status_ = -1;
  HttpCaller caller_;
  std::map<std::string, Channel> channels_;         // table (or "discards:<table>") → its open channel
  std::map<std::string, std::int64_t> last_token_;  // the largest token used or seen per channel name
  std::map<std::string, std::int64_t> committed_seen_;  // the largest committed token read per table (this history)
  std::map<std::string, std::int64_t> history_;  // per table: how often its committed token was seen going back
  std::map<std::pair<std::string, std::int64_t>, std::string> sent_discards_;  // (table, token) → channel sent on
  std::map<std::string, std::vector<MessageResult>> results_;                 // import id → per-job results
};

// ─── Schema, settings, generation ───────────────────────────────────────────

std::vector<ConfigKey> schema() {
  BulkConfig d;
  d.upload_interval = std::chrono::seconds(10);
  d.poll_interval = std::chrono::seconds(5);  // commits come about a second after an insert
  d.poll_timeout = std::chrono::minutes(15);  // the peer's stuck-pipeline threshold
  d.imports_in_flight = 1;
  d.max_buffer_size = 100'000;
  d.retry.max_attempts = 5;
  d.retry.delay_initial = std::chrono::seconds(5);
  d.retry.delay_max = std::chrono::minutes(5);
  d.retry.elapsed_max = std::chrono::hours(6);
  std::vector<ConfigKey> keys = {
      {"account", ConfigType::string, nullptr, "Snowflake account identifier (ORG-ACCOUNT)"},
      {"user", ConfigType::string, nullptr, "Snowflake user of the key pair"},
      {"role", ConfigType::string, nullptr, "Snowflake role the channels and SQL run as"},
      {"private_key", ConfigType::secret, nullptr, "the user's private key, PEM (-----BEGIN …)"},
      {"private_key_passphrase", ConfigType::secret, "", "the key's passphrase, if encrypted"},
      {"sql_token", ConfigType::secret, nullptr,
       "bearer token for the SQL API (the key-pair JWT or an OAuth token) that creates schemas, tables, columns"},
      {"database", ConfigType::string, nullptr, "database (upper case identifier)"},
      {"namespace", ConfigType::string, "RUDDER", "schema the tables live in (created when missing)"},
      {"rudder_identifier", ConfigType::string, "destsim", "channel owner id (the peer's destination id)"},
      {"partition", ConfigType::string, "1", "channel partition (the peer's instance id): one writer per partition"},
      {"host", ConfigType::string, kHost, "the Snowpipe Streaming sidecar (rudder-snowpipe-clients) host"},
      {"sql_host", ConfigType::string, "",
       "the SQL API host (empty = <account, lower case>.snowflakecomputing.com)"},
      {"records_max", ConfigType::integer, 10'000, "rows per upload (split into one insert per table)", 1, kRowsMax},
      {"bytes_max", ConfigType::size, "24MB", "bytes of rows per insert (the sidecar takes up to 24 MiB)", 1'024,
       kInsertBytesMax},
      {"gzip", ConfigType::boolean, true, "send inserts with Content-Encoding: gzip"},
  };
  for (auto& k : bulk_config_keys(d)) keys.push_back(std::move(k));
  return keys;
}

bool name_part(std::string_view s) {
  return !s.empty() && s.size() <= 100 &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
         });
}

std::string default_sql_host(const std::string& account) {
  std::string h;
  for (char c : account) h += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return h + ".snowflakecomputing.com";
}

Result<Settings> settings_from(const Config& config) {
  Settings s{.host = config.string("host"),
             .sql_host = config.string("sql_host"),
             .account = config.string("account"),
             .user = config.string("user"),
             .role = config.string("role"),
             .private_key = config.secret("private_key").value,
             .passphrase = config.secret("private_key_passphrase").value,
             .sql_token = config.secret("sql_token").value,
             .database = config.string("database"),
             .schema = config.string("namespace"),
             .rudder_identifier = config.string("rudder_identifier"),
             .partition = config.string("partition"),
             .records_max = config.integer("records_max"),
             .insert_bytes_max = config.size("bytes_max"),
             .gzip = config.boolean("gzip")};
  if (s.account.empty() || s.user.empty() || s.role.empty())
    return Error::bad_input("account, user, role: expected non-empty names");
  if (s.private_key.empty()) return Error::bad_input("private_key: expected the user's private key (PEM)");
  if (s.sql_token.empty() || s.sql_token.find(' ') != std::string::npos)
    return Error::bad_input("sql_token: expected a non-empty token without spaces");
  if (!identifier(s.database)) return Error::bad_input("database: expected an upper case Snowflake identifier, got \"" + s.database + "\"");
  if (!identifier(s.schema)) return Error::bad_input("namespace: expected an upper case Snowflake identifier, got \"" + s.schema + "\"");
  if (!name_part(s.rudder_identifier)) return Error::bad_input("rudder_identifier: expected 1–100 of [A-Za-z0-9_-]");
  if (!name_part(s.partition)) return Error::bad_input("partition: expected 1–100 of [A-Za-z0-9_-]");
  if (s.host.empty()) return Error::bad_input("host: expected a non-empty host name");
  if (s.sql_host.empty()) s.sql_host = default_sql_host(s.account);
  return s;
}

// Two tables: TRACKS (present in the certify warehouse, typed) and PAGES
// (created by the destination from the first batch's declared types).
Record generate(Rng& rng, JobId id, const GenerateOptions& o) {
  static const char* kEvents[] = {"Order Completed", "Product Viewed", "Signed Up", "Checkout Started"};
  Record r;
  r.id = id;
  const std::string msg = "msg-" + std::to_string(id);
  const std::int64_t received_ms = SimClock::kDefaultEpochUnixMs - 3'600'000 + static_cast<std::int64_t>(rng.below(3'600'000));
  const CivilTime c = civil_from_unix_ms(received_ms);
  char ts[40];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", c.year, c.month, c.day, c.hour, c.minute, c.second,
                c.millisecond);
  nlohmann::json data, columns;
  if (rng.chance(2, 3)) {
    r.stream = "tracks";
    data = {{"ID", msg},
            {"RECEIVED_AT", ts},
            {"EVENT", odd_text_or(o, id, 1, kEvents[rng.below(4)])},
            {"AMOUNT", static_cast<double>(rng.below(100'000)) / 100.0},
            {"QUANTITY", static_cast<std::int64_t>(1 + rng.below(9))},
            {"CONTEXT", {{"ip", "10.0.0." + std::to_string(rng.below(250))}, {"library", "destsim"}}}};
    columns = {{"ID", "string"},   {"RECEIVED_AT", "datetime"}, {"EVENT", "string"},
               {"AMOUNT", "float"}, {"QUANTITY", "int"},        {"CONTEXT", "json"}};
    if (rng.chance(1, 8)) {  // a column the table does not have yet
      data["COUPON"] = odd_text_or(o, id, 2, "WINTER" + std::to_string(rng.below(50)));
      columns["COUPON"] = "string";
    }
  } else {
    r.stream = "pages";
    data = {{"ID", msg},
            {"RECEIVED_AT", ts},
            {"TITLE", odd_text_or(o, id, 3, "Pricing")},
            {"URL", "https://example.com/p/" + std::to_string(rng.below(1000))},
            {"DURATION", static_cast<double>(rng.below(60'000)) / 1000.0}};
    columns = {{"ID", "string"}, {"RECEIVED_AT", "datetime"}, {"TITLE", "string"}, {"URL", "string"}, {"DURATION", "float"}};
  }
  if (rng.chance(o.invalid)) {
    switch (rng.below(4)) {
      case 0:  // a value the column's type cannot take: sent as null, written to RUDDER_DISCARDS
        if (r.stream == "tracks") {
          data["AMOUNT"] = "n/a";
          columns["AMOUNT"] = "string";
        } else {
          data["DURATION"] = "long";
          columns["DURATION"] = "string";
        }
        break;
      case 1:  // not a timestamp: discarded likewise
        data["RECEIVED_AT"] = "yesterday";
        break;
      case 2:  // no ID: the record cannot be a row
        data.erase("ID");
        break;
      default:  // a column name Snowflake cannot take
        data["bad col"] = 1;
        columns["bad col"] = "int";
        break;
    }
  }
  nlohmann::json p = {{"data", std::move(data)}, {"columns", std::move(columns)}};
  if (o.payload_bytes > 0) p["columns"]["PAD"] = "string";
  return padded_record(std::move(r), std::move(p), o, "/data/PAD");
}

}  // namespace

Result<std::unique_ptr<AsyncDestinationManager>> snowpipe_streaming_manager(DeliveryContext& ctx, const Config& config) {
  DS_TRY(Settings s, settings_from(config));
  return std::unique_ptr<AsyncDestinationManager>(std::make_unique<SnowpipeManager>(ctx, std::move(s)));
}

DestinationEntry snowpipe_streaming_destination() {
  DestinationEntry e = destination_entry(
      "snowpipe_streaming", "snowpipe", kHost,
      "Snowflake Snowpipe Streaming through RudderStack's sidecar: a channel per table, inserts under offset tokens, "
      "commits read from channel status, schema/table/column creation over SQL, discards table",
      schema(),
      {.limits = {.records_max = kRowsMax, .bytes_max = kInsertBytesMax},
       .retryable_statuses = {404, 408, 429, 500, 502, 503, 504},
       .idempotent_writes = false,
       .bulk = true,
       .import_concurrency = 1});
  e.make = [](DeliveryContext& ctx, const Config& config) {
    return make_bulk_destination<SnowpipeManager>(ctx, config, settings_from);
  };
  e.effects = [](const Record& r, const Config& config) -> std::vector<std::string> {
    auto row = row_of(r);
    if (!row.ok()) return {};
    return {oracle_key(kEffect, nlohmann::json{{"table", config.string("database") + "." + config.string("namespace") +
                                                              "." + row->table},
                                               {"id", *row->id}})};
  };
  e.generate = generate;
  e.fake_options = [](const Config& config) -> nlohmann::json {
    const std::string db = config.string("database"), ns = config.string("namespace");
    std::string sql_host = config.string("sql_host");
    if (sql_host.empty()) sql_host = default_sql_host(config.string("account"));
    return {{"account", config.string("account")},
            {"private_key", config.secret("private_key").value},
            {"user", config.string("user")},
            {"role", config.string("role")},
            {"sql_host", sql_host},
            {"sql_token", config.secret("sql_token").value},
            {"databases", {db}},
            {"schemas", {db + "." + ns}},
            {"tables",
             {{{"table", db + "." + ns + ".TRACKS"},
               {"columns",
                {{{"name", "ID"}, {"type", "VARCHAR"}, {"nullable", false}},
                 {{"name", "RECEIVED_AT"}, {"type", "TIMESTAMP_TZ"}},
                 {{"name", "EVENT"}, {"type", "VARCHAR"}},
                 {{"name", "AMOUNT"}, {"type", "FLOAT"}},
                 {{"name", "QUANTITY"}, {"type", "NUMBER(38,0)"}},
                 {{"name", "CONTEXT"}, {"type", "VARIANT"}}}}}}}};
  };
  e.certify_config = {{"account", "DESTSIM-ACCOUNT"},
                      {"user", "DESTSIM_USER"},
                      {"role", "DESTSIM_ROLE"},
                      {"private_key", {{"secret", "-----BEGIN PRIVATE KEY-----\nMIIcertify\n-----END PRIVATE KEY-----"}}},
                      {"sql_token", {{"secret", "sql-certify-token"}}},
                      {"database", "DESTSIM"},
                      {"namespace", "RUDDER"}};
  return e;
}

}  // namespace destsim
