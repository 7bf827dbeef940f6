#include "fakes/eloqua/eloqua_api.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "fakes/fake_options.h"
#include "framework/clock.h"
#include "framework/json_in.h"
#include "framework/oracle.h"
#include "framework/text.h"

namespace destsim {

namespace {

constexpr std::string_view kBulkPrefix = "/api/bulk/2.0/";
constexpr std::string_view kImportsUri = "/contacts/imports/";
constexpr std::string_view kStatementPrefix = "{{Contact.Field(";
constexpr std::string_view kStatementSuffix = ")}}";
constexpr std::int64_t kSecondNs = 1'000'000'000;
constexpr std::int64_t kHourNs = 3600 * kSecondNs;
constexpr std::int64_t kLimitMax = 1000;
constexpr std::int64_t kNameMax = 100;

const char* const kUpdateRules[] = {"always", "ifNewIsNotNull", "ifBlank", "useFieldRule"};
const char* const kDataTypes[] = {"text", "emailAddress", "date", "number", "largeText"};

bool is_update_rule(const std::string& s) {
  return std::find(std::begin(kUpdateRules), std::end(kUpdateRules), s) != std::end(kUpdateRules);
}

// A decimal id as paths carry it: digits, no leading zero, at most 15 of them; else -1.
std::int64_t parse_id(std::string_view s) {
  if (s.empty() || s.size() > 15 || s[0] == '0') return -1;
  std::int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

// A query integer: digits only (no sign), at most 18 of them; else -1.
std::int64_t parse_count(std::string_view s) {
  if (s.empty() || s.size() > 18) return -1;
  std::int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

// Strict base64 (RFC 4648 standard alphabet, padded to a multiple of 4).
std::optional<std::string> base64_decode(std::string_view in) {
  if (in.empty() || in.size() % 4 != 0) return std::nullopt;
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = in[i + static_cast<std::size_t>(k)];
      if (c == '=') {
        if (!last || k < 2) return std::nullopt;
        ++pad;
        v[k] = 0;
      } else {
        if (pad > 0) return std::nullopt;  // data after padding
        v[k] = value(c);
        if (v[k] < 0) return std::nullopt;
      }
    }
    const std::uint32_t n = static_cast<std::uint32_t>(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
    out.push_back(static_cast<char>(n >> 16 & 0xff));
    if (pad < 2) out.push_back(static_cast<char>(n >> 8 & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xff));
  }
  return out;
}

// The media type of a request's Content-Type, lower-cased, without parameters; "" when absent.
std::string media_type(const Request& r) {
  auto ct = r.headers.get("Content-Type");
  if (!ct) return "";
  std::string t(trim_spaces(ct->substr(0, ct->find(';'))));
  for (char& c : t)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return t;
}

std::string ascii_lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// UTF-8 code points of a valid UTF-8 string.
std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  return n;
}

// -?digits[.digits]
bool valid_number(std::string_view v) {
  std::size_t i = !v.empty() && v[0] == '-' ? 1 : 0;
  std::size_t digits = 0;
  while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i, ++digits;
  if (digits == 0) return false;
  if (i == v.size()) return true;
  if (v[i] != '.') return false;
  ++i;
  digits = 0;
  while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i, ++digits;
  return digits > 0 && i == v.size();
}

// A real calendar date YYYY-MM-DD, optionally followed by " HH:MM:SS".
bool valid_date(std::string_view v) {
  if (v.size() != 10 && v.size() != 19) return false;
  auto num = [&](std::size_t at, std::size_t n, int* out) {
    int x = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (v[i] < '0' || v[i] > '9') return false;
      x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return true;
  };
  int y = 0, m = 0, d = 0;
  if (!num(0, 4, &y) || v[4] != '-' || !num(5, 2, &m) || v[7] != '-' || !num(8, 2, &d)) return false;
  if (m < 1 || m > 12 || d < 1) return false;
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d > kDays[m - 1] + (m == 2 && leap ? 1 : 0)) return false;
  if (v.size() == 10) return true;
  int h = 0, mi = 0, s = 0;
  return v[10] == ' ' && num(11, 2, &h) && v[13] == ':' && num(14, 2, &mi) && v[16] == ':' && num(17, 2, &s) &&
         h < 24 && mi < 60 && s < 60;
}

// One CSV record (RFC 4180) of `text` from `pos` into `out`; `pos` moves past
// its line end and `line` counts the line ends consumed (quoted ones too).
// Quotes only around a whole cell; "" escapes a quote; CRLF or LF ends a
// record, a bare CR is refused.
Status read_csv_record(std::string_view text, std::size_t& pos, std::int64_t& line, std::vector<std::string>& out) {
  out.clear();
  const std::int64_t first = line;
  auto bad = [&](const std::string& what) { return Error::bad_input("line " + std::to_string(first) + ": " + what); };
  std::string cell;
  while (true) {
    cell.clear();
    if (pos < text.size() && text[pos] == '"') {
      ++pos;
      bool closed = false;
      while (pos < text.size()) {
        const char c = text[pos++];
        if (c == '"') {
          if (pos < text.size() && text[pos] == '"') {
            cell.push_back('"');
            ++pos;
          } else {
            closed = true;
            break;
          }
        } else {
          if (c == '\n') ++line;
          cell.push_back(c);
        }
      }
      if (!closed) return bad("an unterminated quoted cell");
      if (pos < text.size() && text[pos] != ',' && text[pos] != '\n' && text[pos] != '\r')
        return bad("text after a closing quote");
    } else {
      const std::size_t start = pos;
      while (pos < text.size() && text[pos] != ',' && text[pos] != '\n' && text[pos] != '\r') {
        if (text[pos] == '"') return bad("a quote inside an unquoted cell");
        ++pos;
      }
      cell.assign(text.substr(start, pos - start));
    }
    out.push_back(std::move(cell));
    if (pos >= text.size()) return Status::success();
    if (text[pos] == ',') {
      ++pos;
      continue;
    }
    if (text[pos] == '\r') {
      if (pos + 1 >= text.size() || text[pos + 1] != '\n') return bad("a bare CR (expected CRLF or LF)");
      ++pos;
    }
    ++pos;  // the LF
    ++line;
    return Status::success();
  }
}

nlohmann::json failure(const std::string& field, const std::string& constraint, nlohmann::json value) {
  return {{"field", field}, {"constraint", constraint}, {"value", std::move(value)}};
}

struct Page {
  std::int64_t limit = kLimitMax;
  std::int64_t offset = 0;
};

// Reads `limit` (1..1000) and `offset` (>= 0); the failures when they are bad.
nlohmann::json read_page(const Request& r, Page& p) {
  nlohmann::json failures = nlohmann::json::array();
  if (auto l = r.query_param("limit")) {
    p.limit = parse_count(*l);
    if (p.limit < 1 || p.limit > kLimitMax)
      failures.push_back(failure("limit", "Must be an integer from 1 to 1000.", *l));
  }
  if (auto o = r.query_param("offset")) {
    p.offset = parse_count(*o);
    if (p.offset < 0) failures.push_back(failure("offset", "Must be an integer of at least 0.", *o));
  }
  return failures;
}

// A page of `total` items from `p.offset`, at most min(limit, cap) of them; `item(i)` builds item i.
template <class ItemAt>
nlohmann::json page_json(std::int64_t total, const Page& p, std::int64_t cap, ItemAt&& item) {
  nlohmann::json items = nlohmann::json::array();
  const std::int64_t end = std::min(total, p.offset + std::min(p.limit, cap));
  for (std::int64_t i = p.offset; i < end; ++i) items.push_back(item(i));
  const std::int64_t count = static_cast<std::int64_t>(items.size());
  return {{"items", std::move(items)}, {"totalResults", total}, {"limit", p.limit},
          {"offset", p.offset},        {"count", count},        {"hasMore", p.offset + count < total}};
}

const char* code_description(const std::string& code) {
  if (code == "ELQ-00001") return "Value too long";
  if (code == "ELQ-00002") return "Invalid email address";
  if (code == "ELQ-00003") return "Invalid number";
  return "Invalid date";
}

const char* title_case(EloquaApiState::Outcome o) {
  switch (o) {
    case EloquaApiState::Outcome::success:
      return "Success";
    case EloquaApiState::Outcome::warning:
      return "Warning";
    default:
      return "Error";
  }
}

// The fake's own keys (read_fake_options reads the common ones and the null case).
Status read_own_options(const JsonIn& in, EloquaApiOptions& o) {
  if (in.has("company")) { DS_TRY(o.company, in.at("company").string()); }
  if (in.has("username")) { DS_TRY(o.username, in.at("username").string()); }
  if (in.has("base_url")) {
    DS_TRY(o.base_url, in.at("base_url").string());
    if ((o.base_url.rfind("https://", 0) != 0 && o.base_url.rfind("http://", 0) != 0) || o.base_url.back() == '/')
      return in.at("base_url").expected("an http(s) URL without a trailing '/'");
  }
  if (in.has("fields")) {
    JsonIn a = in.at("fields");
    DS_CHECK(a.array());
    if (a.size() == 0) return a.expected("at least one field");
    o.fields.clear();
    std::set<std::string> names;
    std::int64_t unique = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      JsonIn f = a.at(i);
      DS_CHECK(f.object());
      DS_CHECK(f.only_keys({"name", "internalName", "dataType", "hasUniquenessConstraint"}));
      DS_CHECK(f.require("name"));
      DS_CHECK(f.require("internalName"));
      DS_CHECK(f.require("dataType"));
      EloquaApiOptions::Field field;
      DS_TRY(field.name, f.at("name").string());
      DS_TRY(field.internal_name, f.at("internalName").string());
      DS_TRY(field.data_type, f.at("dataType").string());
      if (f.has("hasUniquenessConstraint")) { DS_TRY(field.unique, f.at("hasUniquenessConstraint").boolean()); }
      bool word = !field.internal_name.empty();
      for (char c : field.internal_name)
        word &= (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      if (!word) return f.at("internalName").expected("an internal name of letters, digits and '_'");
      if (!names.insert(field.internal_name).second)
        return f.at("internalName").fail("internalName \"" + field.internal_name + "\" is given twice");
      if (std::find(std::begin(kDataTypes), std::end(kDataTypes), field.data_type) == std::end(kDataTypes))
        return f.at("dataType").expected("one of text, emailAddress, date, number, largeText");
      if (field.unique) {
        ++unique;
        if (field.data_type != "emailAddress")
          return f.at("dataType").expected("emailAddress (the unique field identifies contacts by email)");
      }
      o.fields.push_back(std::move(field));
    }
    if (unique != 1)
      return a.fail("exactly one field must have hasUniquenessConstraint true; " + std::to_string(unique) + " have");
  }
  if (in.has("page_size_max")) { DS_TRY(o.page_size_max, in.at("page_size_max").integer(1)); }
  if (in.has("fields_max")) { DS_TRY(o.fields_max, in.at("fields_max").integer(1)); }
  if (in.has("data_bytes_max")) {
    DS_TRY(o.data_bytes_max, in.at("data_bytes_max").size_bytes());
    if (o.data_bytes_max < 1) return in.at("data_bytes_max").expected("a size of at least 1 byte");
  }
  if (in.has("text_max")) { DS_TRY(o.text_max, in.at("text_max").integer(1)); }
  if (in.has("large_text_max")) { DS_TRY(o.large_text_max, in.at("large_text_max").integer(1)); }
  if (in.has("pending_for")) {
    DS_TRY(o.pending_for, in.at("pending_for").duration());
    if (o.pending_for.count() < 0) return in.at("pending_for").expected("a duration >= 0");
  }
  if (in.has("active_for")) {
    DS_TRY(o.active_for, in.at("active_for").duration());
    if (o.active_for.count() < 0) return in.at("active_for").expected("a duration >= 0");
  }
  if (in.has("error_syncs")) {
    JsonIn a = in.at("error_syncs");
    DS_CHECK(a.array());
    for (std::size_t i = 0; i < a.size(); ++i) {
      DS_TRY(std::int64_t n, a.at(i).integer(1));
      o.error_syncs.push_back(n);
    }
  }
  if (in.has("imports_per_hour")) { DS_TRY(o.imports_per_hour, in.at("imports_per_hour").integer(0)); }
  if (in.has("syncs_per_hour")) { DS_TRY(o.syncs_per_hour, in.at("syncs_per_hour").integer(0)); }
  if (in.has("status_values")) {
    DS_TRY(o.status_values,
           read_status_values(in.at("status_values"), {"pending", "active", "success", "warning", "error"}));
  }
  return {};
}

}  // namespace

std::vector<EloquaApiOptions::Field> EloquaApiOptions::default_fields() {
  return {{"Email Address", "C_EmailAddress", "emailAddress", true},
          {"First Name", "C_FirstName", "text", false},
          {"Last Name", "C_LastName", "text", false},
          {"Company", "C_Company", "text", false},
          {"City", "C_City", "text", false},
          {"Country", "C_Country", "text", false},
          {"Mobile Phone", "C_MobilePhone", "text", false},
          {"Title", "C_Title", "text", false},
          {"Lead Score", "C_Lead_Score1", "number", false},
          {"Last Purchase", "C_Last_Purchase_Date1", "date", false}};
}

Result<EloquaApiOptions> EloquaApiOptions::from_json(const nlohmann::json& j, const std::string& where) {
  return read_fake_options(j, where, "password", &EloquaApiOptions::password,
                           {"company", "username", "base_url", "fields", "page_size_max", "fields_max",
                            "data_bytes_max", "text_max", "large_text_max", "pending_for", "active_for", "error_syncs",
                            "imports_per_hour", "syncs_per_hour", "status_values"},
                           read_own_options);
}

// Eloqua writes instants with seven fractional digits ("2014-01-01T13:59:07.1375620Z");
// loop time has milliseconds here.
std::string EloquaApi::iso(Time t) const {
  const std::int64_t ms = SimClock::kDefaultEpochUnixMs +
                          std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  CivilTime c = civil_from_unix_ms(ms);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03d0000Z", c.year, c.month, c.day, c.hour, c.minute,
                c.second, c.millisecond);
  return buf;
}

Response EloquaApi::failed(int status, nlohmann::json failures) {
  ++state_.rejected;
  return json_response(status, {{"failures", std::move(failures)}});
}

Response EloquaApi::refused(int status, const char* text) {
  ++state_.rejected;
  return json_response(status, {{"error", text}});
}

Response EloquaApi::throttled(std::int64_t wait_s) {
  ++state_.throttled;
  Response r = json_response(429, {{"error", "Too Many Requests"}});
  r.headers.set("Retry-After", std::to_string(wait_s));
  return r;
}

bool EloquaApi::room(Window& w, std::int64_t per_hour, Time now, std::int64_t* wait_s) {
  const std::int64_t ns = to_ns(now);
  if (w.index != ns / kHourNs) w = {ns / kHourNs, 0};
  if (per_hour <= 0 || w.count < per_hour) return true;
  const std::int64_t wait_ns = (w.index + 1) * kHourNs - ns;
  *wait_s = std::max<std::int64_t>(1, (wait_ns + kSecondNs - 1) / kSecondNs);
  return false;
}

Time EloquaApi::done_at(const Sync& sync) const { return sync.created + options_.pending_for + options_.active_for; }

EloquaApi::Phase EloquaApi::phase(const Sync& sync, Time now) const {
  if (now < sync.created + options_.pending_for) return Phase::pending;
  if (now < done_at(sync)) return Phase::active;
  return Phase::terminal;
}

const char* EloquaApi::status_name(const Sync& sync, Time now) const {
  if (sync.settled) {
    switch (sync.outcome) {
      case Outcome::success:
        return "success";
      case Outcome::warning:
        return "warning";
      default:
        return "error";
    }
  }
  // Unsettled and terminal happens only for a time before the latest settled one.
  return phase(sync, now) == Phase::pending ? "pending" : "active";
}

EloquaApi::Import* EloquaApi::live_import(std::int64_t n) {
  if (n < 1 || n > static_cast<std::int64_t>(state_.imports.size())) return nullptr;
  Import& im = state_.imports[static_cast<std::size_t>(n - 1)];
  return im.deleted ? nullptr : &im;
}

EloquaApi::Sync* EloquaApi::find_sync(std::int64_t m) {
  if (m < 1 || m > static_cast<std::int64_t>(state_.syncs.size())) return nullptr;
  return &state_.syncs[static_cast<std::size_t>(m - 1)];
}

std::optional<EloquaApi::Credentials> EloquaApi::authenticate(const Request& request) const {
  auto h = request.headers.get("Authorization");
  if (!h || h->size() <= 6 || !iequals(h->substr(0, 6), "Basic ")) return std::nullopt;
  auto decoded = base64_decode(trim_spaces(h->substr(6)));
  if (!decoded) return std::nullopt;
  const std::size_t colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  const std::string login = decoded->substr(0, colon), password = decoded->substr(colon + 1);
  const std::size_t slash = login.find('\\');
  if (slash == std::string::npos) return std::nullopt;
  Credentials who{login.substr(0, slash), login.substr(slash + 1)};
  if (who.company.empty() || who.user.empty() || password.empty()) return std::nullopt;
  if (!options_.company.empty() && who.company != options_.company) return std::nullopt;
  if (!options_.username.empty() && who.user != options_.username) return std::nullopt;
  if (!options_.password.empty() && password != options_.password) return std::nullopt;
  return who;
}

Response EloquaApi::handle(const Request& request, Time now) {
  ++state_.requests;
  if (now > state_.last_now) state_.last_now = now;
  settle_due(now);
  return route(request, now);
}

void EloquaApi::catch_up(Time now) {
  state_.last_now = std::max(state_.last_now, now);
  settle_due(state_.last_now);
}

Response EloquaApi::route(const Request& request, Time now) {
  enum class Ep { id, fields, field, imports, import, data, syncs, sync, rejects, logs };
  const std::string_view path = request.path_only();
  Ep ep = Ep::id;
  std::int64_t n = 0;
  bool known = false;
  if (path == "/id") {
    known = true;
  } else if (path.rfind(kBulkPrefix, 0) == 0) {
    const std::vector<std::string_view> seg = split(path.substr(kBulkPrefix.size()), '/');
    const std::size_t k = seg.size();
    if (k >= 2 && seg[0] == "contacts" && seg[1] == "fields") {
      if (k == 2)
        known = true, ep = Ep::fields;
      else if (k == 3 && (n = parse_id(seg[2])) > 0)
        known = true, ep = Ep::field;
    } else if (k >= 2 && seg[0] == "contacts" && seg[1] == "imports") {
      if (k == 2)
        known = true, ep = Ep::imports;
      else if ((n = parse_id(seg[2])) > 0) {
        if (k == 3)
          known = true, ep = Ep::import;
        else if (k == 4 && seg[3] == "data")
          known = true, ep = Ep::data;
      }
    } else if (k >= 1 && seg[0] == "syncs") {
      if (k == 1)
        known = true, ep = Ep::syncs;
      else if ((n = parse_id(seg[1])) > 0) {
        if (k == 2)
          known = true, ep = Ep::sync;
        else if (k == 3 && seg[2] == "rejects")
          known = true, ep = Ep::rejects;
        else if (k == 3 && seg[2] == "logs")
          known = true, ep = Ep::logs;
      }
    }
  }
  if (!known) return refused(404, "Not Found");
  const char* allow = ep == Ep::imports                   ? "GET, POST"
                      : ep == Ep::import                  ? "GET, DELETE"
                      : ep == Ep::syncs                   ? "GET, POST"
                      : ep == Ep::data                    ? "POST"
                                                          : "GET";
  bool method_ok = false;
  for (std::string_view m : split(allow, ',')) method_ok |= trim_spaces(m) == request.method;
  if (!method_ok) {
    Response r = refused(405, "Method Not Allowed");
    r.headers.set("Allow", allow);
    return r;
  }
  auto who = authenticate(request);
  if (!who) return refused(401, "Unauthorized");
  switch (ep) {
    case Ep::id:
      return get_id(*who);
    case Ep::fields:
      return get_fields(request);
    case Ep::field:
      return get_field(n);
    case Ep::imports:
      return request.method == "POST" ? create_import(request, now) : list_imports(request);
    case Ep::import:
      return request.method == "DELETE" ? delete_import(n) : get_import(n);
    case Ep::data:
      return post_data(request, n);
    case Ep::syncs:
      return request.method == "POST" ? create_sync(request, *who, now) : list_syncs(request, now);
    case Ep::sync:
      return get_sync(n, now);
    case Ep::rejects:
      return get_rejects(request, n);
    case Ep::logs:
      return get_logs(request, n);
  }
  return refused(404, "Not Found");
}

std::string EloquaApi::base_host() const {
  std::string_view url = options_.base_url;
  if (auto scheme = url.find("://"); scheme != std::string_view::npos) url.remove_prefix(scheme + 3);
  return std::string(url.substr(0, url.find_first_of("/:")));
}

Response EloquaApi::get_id(const Credentials& who) const {
  const std::string company = options_.company.empty() ? who.company : options_.company;
  const std::string user = options_.username.empty() ? who.user : options_.username;
  return json_response(
      200,
      {{"site", {{"id", 42}, {"name", company}}},
       {"user", {{"id", 7}, {"username", user}}},
       {"urls",
        {{"base", options_.base_url}, {"apis", {{"rest", {{"bulk", options_.base_url + "/api/bulk/{version}/"}}}}}}}});
}

namespace {

nlohmann::json field_json(const EloquaApiOptions::Field& f, std::size_t index) {
  return {{"name", f.name},
          {"internalName", f.internal_name},
          {"dataType", f.data_type},
          {"hasUniquenessConstraint", f.unique},
          {"statement", std::string(kStatementPrefix) + f.internal_name + std::string(kStatementSuffix)},
          {"uri", "/contacts/fields/" + std::to_string(index + 1)}};
}

}  // namespace

Response EloquaApi::get_fields(const Request& request) {
  Page p;
  nlohmann::json bad = read_page(request, p);
  if (!bad.empty()) return failed(400, std::move(bad));
  const auto& fields = options_.fields;
  return json_response(
      200, page_json(static_cast<std::int64_t>(fields.size()), p, options_.page_size_max, [&](std::int64_t i) {
        return field_json(fields[static_cast<std::size_t>(i)], static_cast<std::size_t>(i));
      }));
}

Response EloquaApi::get_field(std::int64_t n) {
  if (n > static_cast<std::int64_t>(options_.fields.size())) return refused(404, "Not Found");
  return json_response(200,
                       field_json(options_.fields[static_cast<std::size_t>(n - 1)], static_cast<std::size_t>(n - 1)));
}

nlohmann::json EloquaApi::import_json(const Import& im) const {
  nlohmann::json fields = nlohmann::json::object();
  for (std::size_t i = 0; i < im.keys.size(); ++i)
    fields[im.keys[i]] = std::string(kStatementPrefix) + options_.fields[im.field_index[i]].internal_name +
                         std::string(kStatementSuffix);
  return {{"name", im.name},
          {"fields", std::move(fields)},
          {"identifierFieldName", im.identifier},
          {"isSyncTriggeredOnImport", false},
          {"updateRule", im.update_rule},
          {"dataRetentionDuration", "P7D"},
          {"uri", std::string(kImportsUri) + std::to_string(im.id)},
          {"createdAt", iso(im.created)},
          {"updatedAt", iso(im.created)}};
}

Response EloquaApi::create_import(const Request& request, Time now) {
  const std::string type = media_type(request);
  if (!type.empty() && type != "application/json") return refused(415, "Unsupported Media Type");
  std::int64_t wait_s = 0;
  if (!room(state_.imports_window, options_.imports_per_hour, now, &wait_s)) return throttled(wait_s);
  const nlohmann::json body = parse_json_body(request.body);
  if (body.is_discarded() || !body.is_object())
    return failed(400, nlohmann::json::array({failure("", "The body must be a JSON object.", nullptr)}));
  nlohmann::json failures = nlohmann::json::array();
  auto fail = [&](const std::string& field, const std::string& constraint, const nlohmann::json& value) {
    failures.push_back(failure(field, constraint, value));
  };
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& k = it.key();
    if (k != "name" && k != "fields" && k != "identifierFieldName" && k != "isSyncTriggeredOnImport" &&
        k != "updateRule")
      fail(k, "Is not a property of a contact import definition.", it.value());
  }
  auto member = [&](const char* k) { return body.contains(k) ? body[k] : nlohmann::json(); };
  const nlohmann::json name = member("name");
  if (!name.is_string() || name.get_ref<const std::string&>().empty() ||
      code_points(name.get_ref<const std::string&>()) > static_cast<std::size_t>(kNameMax))
    fail("name", "Must be a string of 1 to 100 characters.", name);

  const nlohmann::json fields = member("fields");
  std::vector<std::string> keys;
  std::vector<std::size_t> index;
  const std::string fields_rule =
      "Must be an object of 1 to " + std::to_string(options_.fields_max) + " keys, each mapped to a field statement.";
  if (!fields.is_object() || fields.empty()) {
    fail("fields", fields_rule, fields);
  } else if (static_cast<std::int64_t>(fields.size()) > options_.fields_max) {
    fail("fields", fields_rule + " It has " + std::to_string(fields.size()) + ".",
         static_cast<std::int64_t>(fields.size()));
  } else {
    std::map<std::size_t, std::string> mapped;  // field index → the key mapping it
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      const std::string& key = it.key();
      const std::string at = "fields." + key;
      if (key.empty()) {
        fail("fields", "A key must be non-empty.", it.value());
        continue;
      }
      const std::string statement = it.value().is_string() ? it.value().get<std::string>() : std::string();
      const bool framed =
          statement.size() > kStatementPrefix.size() + kStatementSuffix.size() &&
          statement.rfind(kStatementPrefix, 0) == 0 &&
          statement.compare(statement.size() - kStatementSuffix.size(), kStatementSuffix.size(), kStatementSuffix) == 0;
      if (!framed) {
        fail(at, "Must be a field statement of the form {{Contact.Field(<internalName>)}}.", it.value());
        continue;
      }
      const std::string internal = statement.substr(
          kStatementPrefix.size(), statement.size() - kStatementPrefix.size() - kStatementSuffix.size());
      std::size_t f = 0;
      while (f < options_.fields.size() && options_.fields[f].internal_name != internal) ++f;
      if (f == options_.fields.size()) {
        fail(at, "Must name an existing contact field; there is no field \"" + internal + "\".", it.value());
        continue;
      }
      auto [was, fresh] = mapped.emplace(f, key);
      if (!fresh) {
        fail(at, "Maps field " + internal + ", already mapped by key \"" + was->second + "\".", it.value());
        continue;
      }
      keys.push_back(key);
      index.push_back(f);
    }
  }

  const nlohmann::json identifier = member("identifierFieldName");
  if (!identifier.is_string()) {
    fail("identifierFieldName", "Must be a key of fields mapped to the unique field.", identifier);
  } else if (fields.is_object() && !fields.contains(identifier.get<std::string>())) {
    fail("identifierFieldName", "Must be a key of fields.", identifier);
  } else {
    auto k = std::find(keys.begin(), keys.end(), identifier.get<std::string>());
    if (k != keys.end() && !options_.fields[index[static_cast<std::size_t>(k - keys.begin())]].unique)
      fail("identifierFieldName", "Must be mapped to a field with a uniqueness constraint.", identifier);
  }

  const nlohmann::json sync_now = member("isSyncTriggeredOnImport");
  if (!sync_now.is_boolean() || sync_now.get<bool>())
    fail("isSyncTriggeredOnImport", "Must be false: this fake supports explicit syncs (POST /syncs) only.", sync_now);

  std::string rule = "always";
  if (body.contains("updateRule")) {
    const nlohmann::json& r = body["updateRule"];
    if (!r.is_string() || !is_update_rule(r.get<std::string>()))
      fail("updateRule", "Must be one of always, ifNewIsNotNull, ifBlank, useFieldRule.", r);
    else
      rule = r.get<std::string>();
  }
  if (!failures.empty()) return failed(400, std::move(failures));

  Import im;
  im.id = static_cast<std::int64_t>(state_.imports.size()) + 1;
  im.name = name.get<std::string>();
  im.keys = std::move(keys);
  im.field_index = std::move(index);
  im.identifier = identifier.get<std::string>();
  im.update_rule = rule;
  im.created = now;
  ++state_.imports_window.count;
  state_.imports.push_back(std::move(im));
  return json_response(201, import_json(state_.imports.back()));
}

Response EloquaApi::list_imports(const Request& request) {
  Page p;
  nlohmann::json bad = read_page(request, p);
  if (!bad.empty()) return failed(400, std::move(bad));
  std::vector<const Import*> live;
  for (const auto& im : state_.imports)
    if (!im.deleted) live.push_back(&im);
  return json_response(200, page_json(static_cast<std::int64_t>(live.size()), p, options_.page_size_max,
                                      [&](std::int64_t i) { return import_json(*live[static_cast<std::size_t>(i)]); }));
}

Response EloquaApi::list_syncs(const Request& request, Time now) {
  Page p;
  nlohmann::json bad = read_page(request, p);
  if (!bad.empty()) return failed(400, std::move(bad));
  return json_response(200, page_json(static_cast<std::int64_t>(state_.syncs.size()), p, options_.page_size_max,
                                      [&](std::int64_t i) {
                                        return sync_json(state_.syncs[static_cast<std::size_t>(i)], now);
                                      }));
}

Response EloquaApi::get_import(std::int64_t n) {
  const Import* im = live_import(n);
  if (!im) return refused(404, "Not Found");
  return json_response(200, import_json(*im));
}

Response EloquaApi::delete_import(std::int64_t n) {
  Import* im = live_import(n);
  if (!im) return refused(404, "Not Found");
  im->deleted = true;
  im->rows.clear();
  im->rows.shrink_to_fit();
  // A sync not yet ended loses its data: it will end `error` (settle()).
  if (Sync* s = find_sync(im->sync); s && !s->settled) s->import_deleted = true;
  Response r;
  r.status = 204;
  return r;
}

Response EloquaApi::post_data(const Request& request, std::int64_t n) {
  // Over the limit is the documented 404, the same answer as an unknown import.
  if (static_cast<std::int64_t>(request.body.size()) > options_.data_bytes_max) return refused(404, "Not Found");
  Import* im = live_import(n);
  if (!im) return refused(404, "Not Found");
  if (media_type(request) != "text/csv") return refused(415, "Unsupported Media Type");
  const std::string uri = std::string(kImportsUri) + std::to_string(n);
  if (im->sync != 0)
    return failed(409,
                  nlohmann::json::array({failure("data",
                                                 "The import already has a sync (/syncs/" + std::to_string(im->sync) +
                                                     "); stage data on a new import definition.",
                                                 uri)}));
  auto bad = [&](const std::string& why) {
    return failed(400, nlohmann::json::array({failure("data", why, nullptr)}));
  };
  std::string_view text = request.body;
  if (text.empty()) return bad("The body is empty: a header row and at least one data row are required.");
  if (!valid_utf8(text)) return bad("The body is not UTF-8.");
  std::size_t pos = 0;
  std::int64_t line = 1;
  std::vector<std::string> header;
  if (Status s = read_csv_record(text, pos, line, header); !s.ok()) return bad(s.error().message);
  // column → position of its key in im->keys
  std::vector<std::size_t> column(header.size());
  std::vector<bool> seen(im->keys.size(), false);
  std::string expected;
  for (const auto& k : im->keys) expected += (expected.empty() ? "" : ", ") + k;
  const std::string header_rule =
      "line 1: the header must be the import's keys (" + expected + ") in any order, each once";
  if (header.size() != im->keys.size())
    return bad(header_rule + "; it has " + std::to_string(header.size()) + " cells");
  for (std::size_t c = 0; c < header.size(); ++c) {
    auto k = std::lower_bound(im->keys.begin(), im->keys.end(), header[c]);  // keys are sorted
    if (k == im->keys.end() || *k != header[c]) return bad(header_rule + "; \"" + header[c] + "\" is not one");
    const std::size_t at = static_cast<std::size_t>(k - im->keys.begin());
    if (seen[at]) return bad(header_rule + "; \"" + header[c] + "\" is given twice");
    seen[at] = true;
    column[c] = at;
  }
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> cells;
  while (pos < text.size()) {
    const std::int64_t first = line;
    if (Status s = read_csv_record(text, pos, line, cells); !s.ok()) return bad(s.error().message);
    if (cells.size() != header.size())
      return bad("line " + std::to_string(first) + " has " + std::to_string(cells.size()) + " cells; the header has " +
                 std::to_string(header.size()));
    std::vector<std::string> row(header.size());
    for (std::size_t c = 0; c < cells.size(); ++c) row[column[c]] = std::move(cells[c]);
    rows.push_back(std::move(row));
  }
  if (rows.empty()) return bad("The body has a header and no data rows.");
  im->rows_staged += static_cast<std::int64_t>(rows.size());
  if (im->rows.empty()) {
    im->rows = std::move(rows);
  } else {
    im->rows.insert(im->rows.end(), std::make_move_iterator(rows.begin()), std::make_move_iterator(rows.end()));
  }
  Response r;
  r.status = 204;
  return r;
}

nlohmann::json EloquaApi::sync_json(const Sync& sync, Time now) const {
  nlohmann::json j = {{"syncedInstanceUri", std::string(kImportsUri) + std::to_string(sync.import_id)}};
  if (sync.settled || phase(sync, now) != Phase::pending) j["syncStartedAt"] = iso(sync.created + options_.pending_for);
  if (sync.settled) j["syncEndedAt"] = iso(done_at(sync));
  j["status"] = wire_status(options_.status_values, status_name(sync, now));
  j["createdAt"] = iso(sync.created);
  j["createdBy"] = sync.created_by;
  j["uri"] = "/syncs/" + std::to_string(sync.id);
  return j;
}

Response EloquaApi::create_sync(const Request& request, const Credentials& who, Time now) {
  const std::string type = media_type(request);
  if (!type.empty() && type != "application/json") return refused(415, "Unsupported Media Type");
  std::int64_t wait_s = 0;
  if (!room(state_.syncs_window, options_.syncs_per_hour, now, &wait_s)) return throttled(wait_s);
  const nlohmann::json body = parse_json_body(request.body);
  if (body.is_discarded() || !body.is_object())
    return failed(400, nlohmann::json::array({failure("", "The body must be a JSON object.", nullptr)}));
  nlohmann::json failures = nlohmann::json::array();
  for (auto it = body.begin(); it != body.end(); ++it)
    if (it.key() != "syncedInstanceUri")
      failures.push_back(
          failure(it.key(), "Is not a property of a sync (this fake takes syncedInstanceUri only).", it.value()));
  const nlohmann::json uri = body.contains("syncedInstanceUri") ? body["syncedInstanceUri"] : nlohmann::json();
  Import* im = nullptr;
  if (uri.is_string() && uri.get_ref<const std::string&>().rfind(kImportsUri, 0) == 0)
    im = live_import(parse_id(std::string_view(uri.get_ref<const std::string&>()).substr(kImportsUri.size())));
  if (!im)
    failures.push_back(failure("syncedInstanceUri", "Must be the uri of an existing contact import definition.", uri));
  if (!failures.empty()) return failed(400, std::move(failures));
  if (im->sync != 0)
    return failed(409, nlohmann::json::array(
                           {failure("syncedInstanceUri",
                                    "The import already has a sync: /syncs/" + std::to_string(im->sync) + ".", uri)}));
  if (im->rows_staged == 0)
    return failed(400,
                  nlohmann::json::array({failure("syncedInstanceUri", "The import has no staged data to sync.", uri)}));
  Sync s;
  s.id = static_cast<std::int64_t>(state_.syncs.size()) + 1;
  s.import_id = im->id;
  s.created = now;
  s.created_by = who.user;
  s.fail = std::find(options_.error_syncs.begin(), options_.error_syncs.end(), s.id) != options_.error_syncs.end();
  im->sync = s.id;
  ++state_.syncs_window.count;
  state_.syncs.push_back(std::move(s));
  settle_due(now);  // a zero-duration lifecycle ends at once
  return json_response(201, sync_json(state_.syncs.back(), now));
}

Response EloquaApi::get_sync(std::int64_t m, Time now) {
  const Sync* s = find_sync(m);
  if (!s) return refused(404, "Not Found");
  return json_response(200, sync_json(*s, now));
}

Response EloquaApi::get_rejects(const Request& request, std::int64_t m) {
  const Sync* s = find_sync(m);
  if (!s) return refused(404, "Not Found");
  Page p;
  nlohmann::json bad = read_page(request, p);
  if (!bad.empty()) return failed(400, std::move(bad));
  const std::int64_t total = s->settled ? static_cast<std::int64_t>(s->rejects.size()) : 0;
  return json_response(200, page_json(total, p, options_.page_size_max, [&](std::int64_t i) {
                         const Reject& r = s->rejects[static_cast<std::size_t>(i)];
                         return nlohmann::json{{"fieldValues", r.field_values},
                                               {"message", r.message},
                                               {"statusCode", r.code},
                                               {"recordIndex", r.record_index},
                                               {"invalidFields", r.invalid_fields}};
                       }));
}

nlohmann::json EloquaApi::logs_of(const Sync& sync) const {
  nlohmann::json items = nlohmann::json::array();
  if (!sync.settled) return items;
  const std::string at = iso(done_at(sync)), uri = "/syncs/" + std::to_string(sync.id);
  auto entry = [&](std::int64_t count, const std::string& message, const char* severity, const std::string& code) {
    items.push_back({{"count", count},
                     {"createdAt", at},
                     {"message", message},
                     {"severity", severity},
                     {"statusCode", code},
                     {"syncUri", uri}});
  };
  std::map<std::string, std::int64_t> by_code;
  for (const auto& r : sync.rejects) ++by_code[r.code];
  for (const auto& [code, count] : by_code) entry(count, code_description(code), "warning", code);
  if (sync.outcome == Outcome::error) {
    const std::string why = sync.fail             ? "The sync failed on the server (this fake's option error_syncs)."
                            : sync.import_deleted ? "The import definition was deleted before the sync ended."
                                                  : "Every record was rejected; nothing was imported.";
    entry(sync.rows - sync.applied, why, "error", "ELQ-00107");
  }
  entry(sync.applied, "Sync processed for sync " + uri + ", resulting in " + title_case(sync.outcome) + " status.",
        "information", "ELQ-00101");
  return items;
}

Response EloquaApi::get_logs(const Request& request, std::int64_t m) {
  const Sync* s = find_sync(m);
  if (!s) return refused(404, "Not Found");
  Page p;
  nlohmann::json bad = read_page(request, p);
  if (!bad.empty()) return failed(400, std::move(bad));
  const nlohmann::json items = logs_of(*s);
  return json_response(200, page_json(static_cast<std::int64_t>(items.size()), p, options_.page_size_max,
                                      [&](std::int64_t i) { return items[static_cast<std::size_t>(i)]; }));
}

void EloquaApi::settle_due(Time now) {
  std::vector<std::size_t> due;
  for (std::size_t i = 0; i < state_.syncs.size(); ++i)
    if (!state_.syncs[i].settled && done_at(state_.syncs[i]) <= now) due.push_back(i);
  std::stable_sort(due.begin(), due.end(),
                   [&](std::size_t a, std::size_t b) { return done_at(state_.syncs[a]) < done_at(state_.syncs[b]); });
  for (std::size_t i : due) settle(state_.syncs[i]);
}

void EloquaApi::settle(Sync& sync) {
  sync.settled = true;
  Import& im = state_.imports[static_cast<std::size_t>(sync.import_id - 1)];
  sync.rows = im.rows_staged;
  if (sync.fail || sync.import_deleted) {
    sync.outcome = Outcome::error;
    im.rows.clear();
    im.rows.shrink_to_fit();
    return;
  }
  const auto& fields = options_.fields;
  const std::size_t id_at =
      static_cast<std::size_t>(std::find(im.keys.begin(), im.keys.end(), im.identifier) - im.keys.begin());
  DS_ASSERT(id_at < im.keys.size());
  const std::string& rule = im.update_rule;
  std::vector<std::string> codes(im.keys.size());
  for (std::size_t r = 0; r < im.rows.size(); ++r) {
    const std::vector<std::string>& row = im.rows[r];
    Reject rej;
    std::size_t first_bad = im.keys.size();
    for (std::size_t k = 0; k < im.keys.size(); ++k) {
      const EloquaApiOptions::Field& f = fields[im.field_index[k]];
      const std::string& v = row[k];
      std::string& code = codes[k];
      code.clear();
      if (f.data_type == "emailAddress") {
        if ((f.unique || !v.empty()) && !fake_valid_email(v, " ,<>\";")) code = "ELQ-00002";
      } else if (f.data_type == "text") {
        if (static_cast<std::int64_t>(v.size()) > options_.text_max) code = "ELQ-00001";
      } else if (f.data_type == "largeText") {
        if (static_cast<std::int64_t>(v.size()) > options_.large_text_max) code = "ELQ-00001";
      } else if (f.data_type == "number") {
        if (!v.empty() && !valid_number(v)) code = "ELQ-00003";
      } else if (f.data_type == "date") {
        if (!v.empty() && !valid_date(v)) code = "ELQ-00004";
      }
      if (!code.empty()) {
        rej.invalid_fields.push_back(im.keys[k]);
        if (first_bad == im.keys.size()) first_bad = k;
      }
    }
    if (first_bad < im.keys.size()) {
      const std::size_t k = codes[id_at].empty() ? first_bad : id_at;
      const EloquaApiOptions::Field& f = fields[im.field_index[k]];
      rej.code = codes[k];
      rej.message =
          std::string(code_description(rej.code)) + " in field " + f.internal_name + " (key \"" + im.keys[k] + "\")";
      if (rej.code == "ELQ-00001")
        rej.message += ": " + std::to_string(row[k].size()) + " bytes, over the limit of " +
                       std::to_string(f.data_type == "largeText" ? options_.large_text_max : options_.text_max);
      rej.message += ".";
      rej.record_index = static_cast<std::int64_t>(r) + 1;
      rej.field_values = nlohmann::json::object();
      for (std::size_t j = 0; j < im.keys.size(); ++j) rej.field_values[im.keys[j]] = row[j];
      sync.rejects.push_back(std::move(rej));
      ++state_.rejects;
      continue;
    }
    // Apply: upsert by email, case-insensitively.
    EloquaApiState::Contact& c = state_.contacts[ascii_lower(row[id_at])];
    nlohmann::json applied = nlohmann::json::object();
    for (std::size_t k = 0; k < im.keys.size(); ++k) {
      const std::string& internal = fields[im.field_index[k]].internal_name;
      const std::string& v = row[k];
      applied[internal] = v;
      if (rule == "ifNewIsNotNull") {
        if (!v.empty()) c.fields[internal] = v;
      } else if (rule == "ifBlank") {
        auto it = c.fields.find(internal);
        if (it == c.fields.end() || it->second.empty()) c.fields[internal] = v;
      } else {  // always, useFieldRule
        c.fields[internal] = v;
      }
    }
    ++c.updates;
    ledger_.add("eloqua.contact", content_hash_of_dump(applied));
    ++state_.applications;
    ++sync.applied;
  }
  const std::int64_t rejected = static_cast<std::int64_t>(sync.rejects.size());
  sync.outcome = rejected == 0 ? Outcome::success : rejected == sync.rows ? Outcome::error : Outcome::warning;
  im.rows.clear();
  im.rows.shrink_to_fit();
}

nlohmann::json EloquaApi::accepted() const {
  nlohmann::json imports = nlohmann::json::array();
  std::int64_t live = 0;
  for (const auto& im : state_.imports) {
    live += !im.deleted;
    nlohmann::json j = {{"uri", std::string(kImportsUri) + std::to_string(im.id)},
                        {"name", im.name},
                        {"fields", im.keys.size()},
                        {"rows_staged", im.rows_staged},
                        {"deleted", im.deleted}};
    if (im.sync != 0) {
      const Sync& s = state_.syncs[static_cast<std::size_t>(im.sync - 1)];
      j["sync"] = {{"uri", "/syncs/" + std::to_string(s.id)}, {"status", status_name(s, state_.last_now)}};
    }
    imports.push_back(std::move(j));
  }
  std::map<std::string, std::int64_t> by_status = {
      {"pending", 0}, {"active", 0}, {"success", 0}, {"warning", 0}, {"error", 0}};
  for (const auto& s : state_.syncs) ++by_status[status_name(s, state_.last_now)];
  nlohmann::json contacts = nlohmann::json::object();
  for (const auto& [email, c] : state_.contacts) contacts[email] = c.fields;
  return {{"requests", state_.requests},
          {"throttled", state_.throttled},
          {"rejected", state_.rejected},
          {"imports", std::move(imports)},
          {"live_imports", live},
          {"syncs_by_status", by_status},
          {"contacts", std::move(contacts)},
          {"contact_count", state_.contacts.size()},
          {"applications", state_.applications},
          {"rejects", state_.rejects}};
}

Status EloquaApi::control(const JsonIn& op, Time now) {
  DS_TRY(std::string which, control_key(op, {"set_password", "request"}));
  if (which == "set_password") {
    DS_TRY(std::string p, op.at(which).string());
    options_.password = std::move(p);
    return Status::success();
  }
  return FakeApi::control(op, now);
}

}  // namespace destsim
