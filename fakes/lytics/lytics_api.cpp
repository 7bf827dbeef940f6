#include "fakes/lytics/lytics_api.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "fakes/fake_options.h"
#include "fakes/gunzip.h"
#include "framework/http.h"
#include "framework/json_in.h"
#include "framework/multipart.h"
#include "framework/oracle.h"
#include "framework/text.h"

namespace destsim {

namespace {

constexpr std::string_view kPrefix = "/collect/bulk/";
constexpr std::string_view kApiHost = "api.lytics.io";
constexpr std::int64_t kMinuteNs = 60'000'000'000;
constexpr std::int64_t kSecondNs = 1'000'000'000;
constexpr std::int64_t kBytesPerMb = 1'000'000;
constexpr std::size_t kShownBytesMax = 120;

constexpr std::string_view kParams[] = {"timestamp_field", "dryrun",   "droperrors", "delimiter",   "headers",
                                        "append",          "filename", "account_id", "access_token"};

std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Client data fit for a message or the accepted state: as is when it is
// short valid UTF-8, else its printable ASCII with every other byte as \xNN
// (answers are JSON: they must stay valid UTF-8 whatever the client sent).
std::string printable(std::string_view s) {
  if (s.size() <= kShownBytesMax && valid_utf8(s)) return std::string(s);
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < kShownBytesMax; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b >= 0x20 && b < 0x7f) {
      out.push_back(static_cast<char>(b));
    } else {
      out += "\\x";
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 15]);
    }
  }
  return s.size() > kShownBytesMax ? out + "…" : out;
}

// printable(s) in quotes.
std::string shown(std::string_view s) { return "\"" + printable(s) + "\""; }

Response error_response(int status, const std::string& message) {
  return json_response(status, {{"status", status}, {"message", message}});
}

// The host without a port, lowercased.
std::string bare_host(std::string_view host) {
  const auto colon = host.rfind(':');
  if (colon != std::string_view::npos && host.find(']') == std::string_view::npos) host = host.substr(0, colon);
  return lower(host);
}

// ------------------------------------------------------------------- CSV

// A strict RFC 4180 reader with a chosen delimiter: quotes around a whole
// cell, "" a quote inside them, records end with LF or CRLF (inside quotes
// too). Written here rather than shared: a fake must not share the code it
// checks (framework/csv.h is what destinations write with).
class CsvReader {
 public:
  CsvReader(std::string_view text, char delimiter) : text_(text), delimiter_(delimiter) {}
  bool done() const { return pos_ >= text_.size(); }
  /// The physical line the next record starts on.
  std::int64_t line() const { return line_; }
  /// Reads the next record into `cells`; an error names the line it starts on.
  Status next(std::vector<std::string>& cells) {
    cells.clear();
    const std::int64_t start = line_;
    auto bad = [&](const std::string& what) { return Error::bad_input("line " + std::to_string(start) + ": " + what); };
    std::string cell;
    while (true) {
      cell.clear();
      if (pos_ < text_.size() && text_[pos_] == '"') {
        ++pos_;
        bool closed = false;
        while (pos_ < text_.size()) {
          const char c = text_[pos_++];
          if (c != '"') {
            if (c == '\n') ++line_;
            cell.push_back(c);
          } else if (pos_ < text_.size() && text_[pos_] == '"') {
            cell.push_back('"');
            ++pos_;
          } else {
            closed = true;
            break;
          }
        }
        if (!closed) return bad("unterminated quoted cell");
        if (pos_ < text_.size() && !ends_cell(text_[pos_])) return bad("text after a closing quote");
      } else {
        while (pos_ < text_.size() && !ends_cell(text_[pos_])) {
          if (text_[pos_] == '"') return bad("a quote inside an unquoted cell");
          cell.push_back(text_[pos_++]);
        }
      }
      cells.push_back(cell);
      if (pos_ >= text_.size()) return Status::success();
      if (text_[pos_] == delimiter_) {
        ++pos_;
        continue;
      }
      if (text_[pos_] == '\r') {
        if (pos_ + 1 >= text_.size() || text_[pos_ + 1] != '\n') return bad("a bare CR (lines end with LF or CRLF)");
        ++pos_;
      }
      ++pos_;
      ++line_;
      return Status::success();
    }
  }

 private:
  bool ends_cell(char c) const { return c == delimiter_ || c == '\n' || c == '\r'; }

  std::string_view text_;
  char delimiter_;
  std::size_t pos_ = 0;
  std::int64_t line_ = 1;
};

// ------------------------------------------------------------- timestamps

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in(int y, int m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDays[m - 1];
}

// The number written by `n` ASCII digits at s[at], or -1.
int digits_at(std::string_view s, std::size_t at, std::size_t n) {
  if (at + n > s.size()) return -1;
  int v = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (!is_digit(s[i])) return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// YYYY-MM-DDTHH:MM:SS[.fraction]Z, year 1970-9999, a real day, second <= 59.
bool rfc3339_utc(std::string_view s) {
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return false;
  const int y = digits_at(s, 0, 4), mo = digits_at(s, 5, 2), d = digits_at(s, 8, 2);
  const int h = digits_at(s, 11, 2), mi = digits_at(s, 14, 2), se = digits_at(s, 17, 2);
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in(y, mo) || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 ||
      se > 59)
    return false;
  std::size_t i = 19;
  if (s[i] == '.') {
    const std::size_t first = ++i;
    while (i < s.size() && is_digit(s[i])) ++i;
    if (i == first || i - first > 9) return false;
  }
  return i + 1 == s.size() && s[i] == 'Z';
}

// Unix seconds (1-10 digits) or milliseconds (13 digits), no leading zero, not 0.
bool unix_time(std::string_view s) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), is_digit) || s[0] == '0') return false;
  return s.size() <= 10 || s.size() == 13;
}

bool valid_timestamp(std::string_view s) { return unix_time(s) || rfc3339_utc(s); }

bool valid_delimiter(char c) {
  const auto b = static_cast<unsigned char>(c);
  if (c == '\t' || c == ' ') return true;
  return b > 0x20 && b < 0x7f && c != '"' && !is_alnum(c);
}

// Why `names` cannot be a header (for `what`: "header column" or "headers
// column"), or nothing.
std::optional<std::string> header_problem(const std::vector<std::string>& names, const std::string& what) {
  std::map<std::string, std::size_t> seen;  // lowercased name -> its index
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string col = what + " " + std::to_string(i + 1);
    if (!valid_utf8(names[i])) return col + " " + shown(names[i]) + " is not valid UTF-8";
    if (names[i].empty()) return col + " is empty";
    const auto [it, fresh] = seen.emplace(lower(names[i]), i);
    if (!fresh)
      return col + " " + shown(names[i]) + " repeats column " + std::to_string(it->second + 1) + " " +
             shown(names[it->second]) + " (names must be unique ignoring case)";
  }
  return std::nullopt;
}

Status read_own_options(const JsonIn& in, LyticsApiOptions& o) {
  for (const char* key : {"api_bytes_max", "bulk_bytes_max", "inflated_bytes_max"}) {
    if (!in.has(key)) continue;
    const std::string_view k = key;
    std::int64_t& v = k == "api_bytes_max"    ? o.api_bytes_max
                      : k == "bulk_bytes_max" ? o.bulk_bytes_max
                                              : o.inflated_bytes_max;
    DS_TRY(v, in.at(key).size_bytes());
    if (v < 1) return in.at(key).expected("a size of at least 1 byte");
  }
  if (in.has("requests_per_minute")) {
    DS_TRY(o.requests_per_minute, in.at("requests_per_minute").integer(0));
  }
  if (in.has("service_per_mb")) {
    DS_TRY(o.service_per_mb, in.at("service_per_mb").duration());
    if (o.service_per_mb.count() < 0 || o.service_per_mb > std::chrono::hours(1))
      return in.at("service_per_mb").expected("a duration from 0 to 1h");
  }
  if (in.has("gzip_sniff")) {
    DS_TRY(o.gzip_sniff, in.at("gzip_sniff").boolean());
  }
  return {};
}

}  // namespace

// The query string, percent-decoded, in order (a name without "=" has value "").
struct LyticsApi::Query {
  std::vector<std::pair<std::string, std::string>> params;

  explicit Query(std::string_view raw) {
    if (raw.empty()) return;
    for (std::string_view part : split(raw, '&')) {
      const auto eq = part.find('=');
      if (eq == std::string_view::npos)
        params.emplace_back(url_decode(part), "");
      else
        params.emplace_back(url_decode(part.substr(0, eq)), url_decode(part.substr(eq + 1)));
    }
  }
  std::int64_t count(std::string_view name) const {
    return std::count_if(params.begin(), params.end(), [&](const auto& p) { return p.first == name; });
  }
  std::optional<std::string> get(std::string_view name) const {
    for (const auto& [k, v] : params)
      if (k == name) return v;
    return std::nullopt;
  }
};

Result<LyticsApiOptions> LyticsApiOptions::from_json(const nlohmann::json& j, const std::string& where) {
  return read_fake_options(
      j, where, "api_key", &LyticsApiOptions::api_key,
      {"api_bytes_max", "bulk_bytes_max", "inflated_bytes_max", "requests_per_minute", "service_per_mb", "gzip_sniff"},
      read_own_options);
}

Response LyticsApi::refuse(int status, const std::string& message) {
  ++state_.rejected;
  return error_response(status, message);
}

std::optional<std::string> LyticsApi::auth_problem(const Request& request, const Query& query) const {
  const auto header = request.headers.get("Authorization");
  const std::int64_t tokens = query.count("access_token");
  if (header && tokens > 0) return "The API key is given twice (Authorization and access_token): give it once";
  if (tokens > 1) return "The API key is given twice (access_token repeated): give it once";
  std::optional<std::string> key;
  if (header)
    key = std::string(*header);
  else
    key = query.get("access_token");
  if (!key) {
    std::string m = "Missing API key: send it raw in the Authorization header (or as access_token)";
    if (query.count("key") > 0) m += "; a \"key\" query parameter is not read by /collect/bulk";
    return m;
  }
  if (key->empty()) return "Empty API key";
  if (!options_.api_key.empty()) {
    if (*key != options_.api_key) return "Invalid API key";
    return std::nullopt;
  }
  if (key->find_first_of(" \t") != std::string::npos)
    return "Invalid API key: the key is sent raw, with no scheme (not \"Bearer <key>\")";
  return std::nullopt;
}

Response LyticsApi::handle(const Request& request, Time now) {
  ++state_.requests;
  const Query query(request.query());

  if (auto why = auth_problem(request, query)) {
    ++state_.auth_refusals;
    return refuse(401, *why);
  }

  if (options_.requests_per_minute > 0) {
    const std::int64_t minute = floor_div(to_ns(now), kMinuteNs);
    if (minute != state_.minute) {
      state_.minute = minute;
      state_.minute_count = 0;
    }
    if (state_.minute_count >= options_.requests_per_minute) {
      const std::int64_t wait_ns = (minute + 1) * kMinuteNs - to_ns(now);
      const std::int64_t wait_s = std::max<std::int64_t>(1, (wait_ns + kSecondNs - 1) / kSecondNs);
      ++state_.rate_limited;
      Response r = refuse(429, "Rate limit exceeded: " + std::to_string(options_.requests_per_minute) +
                                   " requests per minute; retry in " + std::to_string(wait_s) + "s");
      r.headers.set("Retry-After", std::to_string(wait_s));
      return r;
    }
    ++state_.minute_count;
  }

  const std::string_view path = request.path_only();
  if (path.substr(0, kPrefix.size()) != kPrefix || path.size() == kPrefix.size() ||
      path.find('/', kPrefix.size()) != std::string_view::npos)
    return refuse(404, "Not found: " + shown(path));
  if (request.method != "POST") {
    Response r = refuse(405, "Method " + shown(request.method) + " not allowed on /collect/bulk/{stream}: use POST");
    r.headers.set("Allow", "POST");
    return r;
  }
  const std::string stream(path.substr(kPrefix.size()));
  if (!std::all_of(stream.begin(), stream.end(), [](char c) { return is_alnum(c) || c == '_' || c == '-'; }))
    return refuse(400, "Invalid stream " + shown(stream) + ": use letters, digits, '_' and '-'");
  return upload(request, query, stream);
}

Response LyticsApi::upload(const Request& request, const Query& query, const std::string& stream) {
  // --- query parameters
  for (const auto& [name, value] : query.params) {
    const bool known = std::find(std::begin(kParams), std::end(kParams), name) != std::end(kParams);
    if (!known) {
      std::string allowed;
      for (std::string_view p : kParams) allowed += (allowed.empty() ? "" : ", ") + std::string(p);
      std::string m = "Unknown query parameter " + shown(name) + " (allowed: " + allowed + ")";
      if (name == "key") m += "; the API key goes in the Authorization header";
      return refuse(400, m);
    }
    if (query.count(name) > 1) return refuse(400, "Query parameter " + shown(name) + " is given more than once");
  }
  auto flag = [&](const char* name, bool& out) -> std::optional<std::string> {
    const auto v = query.get(name);
    if (!v) return std::nullopt;
    if (*v == "true")
      out = true;
    else if (*v == "false")
      out = false;
    else
      return std::string(name) + " must be true or false, not " + shown(*v);
    return std::nullopt;
  };
  bool dryrun = false, droperrors = false;
  if (auto why = flag("dryrun", dryrun)) return refuse(400, *why);
  if (auto why = flag("droperrors", droperrors)) return refuse(400, *why);

  char delimiter = ',';
  if (const auto d = query.get("delimiter")) {
    if (d->size() != 1 || !valid_delimiter((*d)[0]))
      return refuse(400,
                    "delimiter must be one character (a tab as %09, a space, or punctuation other than '\"'), "
                    "not " +
                        shown(*d));
    delimiter = (*d)[0];
  }

  std::vector<std::string> header;
  const bool header_given = query.get("headers").has_value();
  if (header_given) {
    const std::string given = *query.get("headers");  // kept: split's views point into it
    for (std::string_view name : split(given, ',')) header.emplace_back(name);
    if (auto why = header_problem(header, "headers column")) return refuse(400, *why);
  }

  const std::optional<std::string> timestamp_field = query.get("timestamp_field");
  if (timestamp_field && timestamp_field->empty()) return refuse(400, "timestamp_field is empty");

  std::vector<std::pair<std::string, std::string>> append;
  if (const auto a = query.get("append")) {
    const nlohmann::json j = parse_json_body(*a);
    if (j.is_discarded() || !j.is_object()) return refuse(400, "append must be a JSON object, not " + shown(*a));
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key().empty()) return refuse(400, "append has an empty name");
      if (!it.value().is_string())
        return refuse(400,
                      "append's value for " + shown(it.key()) + " must be a string, not " + json_summary(it.value()));
      append.emplace_back(it.key(), it.value().get<std::string>());
    }
  }

  const std::optional<std::string> filename = query.get("filename");
  if (filename && (filename->empty() || !valid_utf8(*filename)))
    return refuse(400, "filename must be non-empty UTF-8, not " + shown(*filename));
  if (const auto account = query.get("account_id"); account && account->empty())
    return refuse(400, "account_id is empty");

  // --- Content-Type and Content-Encoding
  const auto ct = request.headers.get("Content-Type");
  const std::string media = ct ? mime_type(*ct) : "";
  if (media != "application/csv" && media != "text/csv")
    return refuse(415, "Content-Type must be application/csv or text/csv, not " +
                           (ct ? shown(*ct) : std::string("absent")) + " (this API takes the CSV upload)");
  if (const auto charset = mime_param(*ct, "charset"); charset && lower(*charset) != "utf-8")
    return refuse(415, "The CSV must be UTF-8, not charset " + shown(*charset));
  bool gzip = false;
  std::string enc;  // the declared encoding, "" when none
  if (const auto ce = request.headers.get("Content-Encoding")) {
    enc = lower(trim_spaces(*ce));
    if (enc == "gzip")
      gzip = true;
    else if (enc != "identity" && !enc.empty())
      return refuse(415, "Content-Encoding must be gzip or identity, not " + shown(*ce));
  }

  // --- size, by host
  const bool api_host = bare_host(request.host) == kApiHost;
  const std::int64_t body_max = api_host ? options_.api_bytes_max : options_.bulk_bytes_max;
  const auto body_bytes = static_cast<std::int64_t>(request.body.size());
  if (body_bytes > body_max)
    return refuse(413, "The body is " + std::to_string(body_bytes) + " bytes, over the limit of " +
                           std::to_string(body_max) + " bytes on " +
                           (api_host ? "api.lytics.io (use bulk.lytics.io "
                                       "for large files)"
                                     : "this host"));

  // --- gzip
  const bool magic = request.body.size() >= 2 && static_cast<unsigned char>(request.body[0]) == 0x1f &&
                     static_cast<unsigned char>(request.body[1]) == 0x8b;
  if (magic && enc.empty()) {
    if (!options_.gzip_sniff) return refuse(400, "The body is gzip-compressed but Content-Encoding is not gzip");
    gzip = true;
  }
  std::string inflated;
  if (gzip) {
    const std::int64_t limit =
        api_host ? std::min(options_.api_bytes_max, options_.inflated_bytes_max) : options_.inflated_bytes_max;
    std::string why;
    const Gunzip r = gunzip_members(request.body, limit, inflated, why);
    if (r == Gunzip::too_large)
      return refuse(413, "The gzip body inflates to more than " + std::to_string(limit) + " bytes");
    if (r == Gunzip::corrupt) return refuse(400, "The body is not valid gzip: " + why);
  }
  const std::string_view text = gzip ? std::string_view(inflated) : std::string_view(request.body);

  // --- the CSV
  if (text.empty()) return refuse(400, "The file is empty");
  if (text.substr(0, 3) == "\xEF\xBB\xBF") return refuse(400, "The file starts with a UTF-8 byte order mark");
  CsvReader csv(text, delimiter);
  std::vector<std::string> cells;
  if (!header_given) {
    if (Status s = csv.next(cells); !s.ok()) return refuse(400, "Malformed CSV: " + s.error().message);
    header = cells;
    if (auto why = header_problem(header, "header column")) return refuse(400, *why);
  }
  std::size_t ts_column = header.size();
  if (timestamp_field) {
    ts_column = static_cast<std::size_t>(std::find(header.begin(), header.end(), *timestamp_field) - header.begin());
    if (ts_column == header.size()) {
      std::string names;
      for (const auto& h : header) names += (names.empty() ? "" : ", ") + h;
      return refuse(
          400, "timestamp_field " + shown(*timestamp_field) + " is not a column of the header (" + shown(names) + ")");
    }
  }
  if (!append.empty()) {
    std::set<std::string> columns;
    for (const auto& h : header) columns.insert(lower(h));
    for (const auto& [name, value] : append)
      if (columns.count(lower(name))) return refuse(400, "append's name " + shown(name) + " is a column of the header");
  }

  std::vector<std::string> keys;  // the accepted rows' oracle keys, applied once all is checked
  std::int64_t rows = 0, rejected_rows = 0;
  while (!csv.done()) {
    if (Status s = csv.next(cells); !s.ok()) return refuse(400, "Malformed CSV: " + s.error().message);
    ++rows;
    std::optional<std::string> why;
    if (cells.size() != header.size()) {
      why = std::to_string(cells.size()) + (cells.size() == 1 ? " cell" : " cells") + ", the header has " +
            std::to_string(header.size());
    } else if (auto bad = std::find_if(cells.begin(), cells.end(), [](const std::string& c) { return !valid_utf8(c); });
               bad != cells.end()) {
      why = "column " + shown(header[static_cast<std::size_t>(bad - cells.begin())]) + " is not valid UTF-8";
    } else if (std::all_of(cells.begin(), cells.end(), [](const std::string& c) { return c.empty(); })) {
      why = "every cell is empty";
    } else if (timestamp_field && !valid_timestamp(cells[ts_column])) {
      why = "timestamp_field " + shown(*timestamp_field) + " is " + shown(cells[ts_column]) +
            ", not unix seconds (1-10 digits), unix milliseconds (13 digits) or an RFC 3339 UTC instant "
            "(2024-01-31T12:00:00Z)";
    }
    if (why) {
      if (!droperrors) return refuse(400, "row " + std::to_string(rows) + ": " + *why);
      ++rejected_rows;
      continue;
    }
    nlohmann::json row = nlohmann::json::object();
    for (std::size_t i = 0; i < cells.size(); ++i)
      if (!cells[i].empty()) row[header[i]] = cells[i];
    for (const auto& [name, value] : append)
      if (!value.empty()) row[name] = value;
    keys.push_back(oracle_key("lytics.row", nlohmann::json{{"stream", stream}, {"row", std::move(row)}}));
  }
  if (rows == 0) return refuse(400, "The file has no data rows");

  // --- accepted
  const auto accepted_rows = static_cast<std::int64_t>(keys.size());
  DS_ASSERT(accepted_rows + rejected_rows == rows);
  DS_ASSERT(droperrors || rejected_rows == 0);
  if (!dryrun) {
    for (const std::string& key : keys) ledger_.add(key);
    state_.applications += accepted_rows;
    state_.streams[stream] += accepted_rows;
    state_.rows_rejected += rejected_rows;
  }
  LyticsApiState::Upload u;
  u.stream = stream;
  u.host = printable(request.host);
  u.rows = rows;
  u.message_count = accepted_rows;
  u.rejected_count = rejected_rows;
  u.dryrun = dryrun;
  u.droperrors = droperrors;
  u.gzip = gzip;
  state_.uploads.push_back(std::move(u));
  return json_response(200, {{"status", 200},
                             {"message", "success"},
                             {"data",
                              {{"message_count", accepted_rows},
                               {"rejected_count", rejected_rows},
                               {"content-type", media},
                               {"droperrors", droperrors},
                               {"dryrun", dryrun},
                               {"timestamp_field", timestamp_field.value_or("")},
                               {"filename", filename.value_or(stream)}}}});
}

Duration LyticsApi::latency_for(const Request& request) const {
  // service_per_mb is at most 1h (3.6e12 ns): split so the product cannot overflow.
  const std::int64_t ns = options_.service_per_mb.count();
  const auto bytes = static_cast<std::int64_t>(request.body.size());
  const std::int64_t service = (ns / kBytesPerMb) * bytes + (ns % kBytesPerMb) * bytes / kBytesPerMb;
  return latency() + Duration(service);
}

nlohmann::json LyticsApi::accepted() const {
  // Every request is answered 200 (an upload) or refused whole.
  DS_ASSERT(state_.requests == state_.rejected + static_cast<std::int64_t>(state_.uploads.size()));
  nlohmann::json uploads = nlohmann::json::array();
  for (const auto& u : state_.uploads)
    uploads.push_back({{"stream", u.stream},
                       {"host", u.host},
                       {"rows", u.rows},
                       {"message_count", u.message_count},
                       {"rejected_count", u.rejected_count},
                       {"dryrun", u.dryrun},
                       {"droperrors", u.droperrors},
                       {"gzip", u.gzip}});
  nlohmann::json streams = nlohmann::json::object();
  for (const auto& [stream, n] : state_.streams) streams[stream] = n;
  return {{"requests", state_.requests},
          {"rejected", state_.rejected},
          {"auth_refusals", state_.auth_refusals},
          {"rate_limited", state_.rate_limited},
          {"uploads", uploads},
          {"streams", streams},
          {"applications", state_.applications},
          {"distinct_applications", ledger_.distinct()},
          {"rows_rejected", state_.rows_rejected}};
}

Status LyticsApi::control(const JsonIn& op, Time now) { return api_key_control(op, now, options_.api_key); }

}  // namespace destsim
