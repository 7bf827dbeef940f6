#include "fakes/snowpipe/snowpipe_api.h"

#include <algorithm>
#include <deque>
#include <set>
#include <utility>

#include "fakes/fake_options.h"
#include "fakes/gunzip.h"
#include "framework/http.h"
#include "framework/json_in.h"
#include "framework/oracle.h"
#include "framework/text.h"

namespace destsim {

namespace {

constexpr std::int64_t kValueBytesMax = 16'777'216;  // Snowflake's largest VARCHAR/VARIANT
constexpr std::size_t kSampleRows = 20;
constexpr std::size_t kIdentifierMax = 255;
constexpr std::size_t kChannelPartMax = 128;  // rudderIdentifier, partition
constexpr std::size_t kBulkIdsMax = 100;
constexpr std::size_t kColumnsMax = 1000;
constexpr std::size_t kTablesMax = 10'000;
constexpr std::size_t kSchemasMax = 10'000;
constexpr std::size_t kDatabasesMax = 1'000;
constexpr std::size_t kOpenChannelsMax = 10'000;
constexpr std::size_t kShownBytesMax = 64;
constexpr std::int64_t kEveryMax = 1'000'000'000;
constexpr std::int64_t kInsertBytesCap = std::int64_t{1} << 30;
constexpr std::int64_t kInsertRowsCap = 10'000'000;
constexpr std::int64_t kSqlTimeoutMax = 604'800;  // the SQL API's largest timeout, seconds
constexpr std::string_view kStatementsPath = "/api/v2/statements";

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_alpha(char c) { return is_upper(c) || (c >= 'a' && c <= 'z'); }
char ascii_upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }
char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_upper(c);
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

// The host without a port, lowercased.
std::string bare_host(std::string_view host) {
  const auto colon = host.rfind(':');
  if (colon != std::string_view::npos && host.find(']') == std::string_view::npos) host = host.substr(0, colon);
  return lower(host);
}

// At most `max` bytes of `s`, cut on a UTF-8 character boundary.
std::string_view utf8_prefix(std::string_view s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

// Client data fit for a message: short, in quotes (json_response replaces
// bytes that are not UTF-8).
std::string shown(std::string_view s) {
  const std::string_view cut = utf8_prefix(s, kShownBytesMax);
  return "\"" + std::string(cut) + (cut.size() < s.size() ? "…" : "") + "\"";
}

// A Snowflake identifier in provider case: 1-255 of [A-Z0-9_$], not starting
// with a digit or '$'.
bool valid_identifier(std::string_view s) {
  if (s.empty() || s.size() > kIdentifierMax || is_digit(s[0]) || s[0] == '$') return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return is_upper(c) || is_digit(c) || c == '_' || c == '$'; });
}

// rudderIdentifier and partition: 1-128 of [A-Za-z0-9_-].
bool valid_channel_part(std::string_view s) {
  if (s.empty() || s.size() > kChannelPartMax) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return is_alpha(c) || is_digit(c) || c == '_' || c == '-'; });
}

// "A.B" or "A.B.C" split into `parts` identifiers, or nothing.
std::optional<std::vector<std::string>> dotted(std::string_view s, std::size_t parts) {
  std::vector<std::string> out;
  for (std::string_view p : split(s, '.')) {
    if (!valid_identifier(p)) return std::nullopt;
    out.emplace_back(p);
  }
  if (out.size() != parts) return std::nullopt;
  return out;
}

// ------------------------------------------------------------- column types

struct ColType {
  enum class Kind { number, floating, varchar, boolean, timestamp_tz, variant };
  Kind kind = Kind::variant;
  int precision = 38, scale = 0;    // NUMBER
  std::int64_t length = kValueBytesMax;  // VARCHAR
};

// The type as the SDK names it in a channel's tableSchema.
std::string sdk_name(const ColType& t) {
  switch (t.kind) {
    case ColType::Kind::number: return "NUMBER(" + std::to_string(t.precision) + "," + std::to_string(t.scale) + ")";
    case ColType::Kind::floating: return "FLOAT";
    case ColType::Kind::varchar: return "VARCHAR(" + std::to_string(t.length) + ")";
    case ColType::Kind::boolean: return "BOOLEAN";
    case ColType::Kind::timestamp_tz: return "TIMESTAMP_TZ(9)";
    case ColType::Kind::variant: return "VARIANT";
  }
  return "VARIANT";
}

// The tableSchema's scale: NUMBER's scale, 9 for TIMESTAMP_TZ(9), else 0.
int sdk_scale(const ColType& t) {
  if (t.kind == ColType::Kind::number) return t.scale;
  if (t.kind == ColType::Kind::timestamp_tz) return 9;
  return 0;
}

struct Column {
  std::string name;
  ColType type;
  bool nullable = true;
};

// ---------------------------------------------------------------------- SQL

struct SqlToken {
  enum class Kind { word, quoted, number, punct, end };
  Kind kind = Kind::end;
  std::string text;
  std::size_t pos = 0;  // 1-based position in the statement
};

bool sql_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Words ([A-Za-z_][A-Za-z0-9_$]*), "quoted" identifiers ("" a quote inside),
// unsigned integers and the punctuation . ( ) , ; — anything else is an error.
Result<std::vector<SqlToken>, std::string> sql_tokens(std::string_view s) {
  std::vector<SqlToken> out;
  std::size_t i = 0;
  while (true) {
    while (i < s.size() && sql_space(s[i])) ++i;
    SqlToken t;
    t.pos = i + 1;
    if (i >= s.size()) {
      out.push_back(t);
      return out;
    }
    const char c = s[i];
    if (is_alpha(c) || c == '_') {
      t.kind = SqlToken::Kind::word;
      while (i < s.size() && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '_' || s[i] == '$')) t.text.push_back(s[i++]);
    } else if (is_digit(c)) {
      t.kind = SqlToken::Kind::number;
      while (i < s.size() && is_digit(s[i])) t.text.push_back(s[i++]);
    } else if (c == '"') {
      t.kind = SqlToken::Kind::quoted;
      ++i;
      bool closed = false;
      while (i < s.size()) {
        if (s[i] != '"') {
          t.text.push_back(s[i++]);
        } else if (i + 1 < s.size() && s[i + 1] == '"') {
          t.text.push_back('"');
          i += 2;
        } else {
          ++i;
          closed = true;
          break;
        }
      }
      if (!closed) return "position " + std::to_string(t.pos) + ": an unterminated quoted identifier";
    } else if (c == '.' || c == '(' || c == ')' || c == ',' || c == ';') {
      t.kind = SqlToken::Kind::punct;
      t.text = std::string(1, c);
      ++i;
    } else {
      return "position " + std::to_string(t.pos) + ": unexpected " + shown(s.substr(i, 1));
    }
    out.push_back(std::move(t));
  }
}

// A recursive-descent reader of the few statements the fake runs. Every
// method returns false with error() set when the text does not fit.
class SqlParser {
 public:
  explicit SqlParser(std::vector<SqlToken> tokens) : t_(std::move(tokens)) {}
  const std::string& error() const { return error_; }

  bool at_end() const { return t_[i_].kind == SqlToken::Kind::end; }
  bool end() {
    if (at_end()) return true;
    return fail("expected the end of the statement");
  }
  // The keyword `kw` (upper case) next, consumed; false (no error) otherwise.
  bool accept(std::string_view kw) {
    if (t_[i_].kind == SqlToken::Kind::word && upper(t_[i_].text) == kw) {
      ++i_;
      return true;
    }
    return false;
  }
  bool keyword(std::string_view kw) { return accept(kw) || fail("expected " + std::string(kw)); }
  bool accept_punct(char c) {
    if (t_[i_].kind == SqlToken::Kind::punct && t_[i_].text[0] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool punct(char c) { return accept_punct(c) || fail("expected '" + std::string(1, c) + "'"); }
  bool number(std::int64_t lo, std::int64_t hi, std::int64_t& out) {
    const SqlToken& t = t_[i_];
    if (t.kind != SqlToken::Kind::number) return fail("expected a number");
    if (t.text.size() > 9) return fail("a number from " + std::to_string(lo) + " to " + std::to_string(hi));
    out = std::stoll(t.text);
    if (out < lo || out > hi) return fail("a number from " + std::to_string(lo) + " to " + std::to_string(hi));
    ++i_;
    return true;
  }
  // An identifier: unquoted (upper-cased) or quoted (exact); either must then
  // be 1-255 of [A-Z0-9_$], not starting with a digit or '$'.
  bool identifier(std::string& out) {
    const SqlToken& t = t_[i_];
    if (t.kind == SqlToken::Kind::word)
      out = upper(t.text);
    else if (t.kind == SqlToken::Kind::quoted)
      out = t.text;
    else
      return fail("expected an identifier");
    if (!valid_identifier(out))
      return fail("invalid identifier " + shown(out) + " (1-255 of [A-Z0-9_$], not starting with a digit or '$')");
    ++i_;
    return true;
  }
  // `parts` identifiers separated by '.'.
  bool qualified(std::size_t parts, std::vector<std::string>& out) {
    out.assign(parts, "");
    for (std::size_t p = 0; p < parts; ++p) {
      if (p > 0 && !accept_punct('.'))
        return fail(parts == 2 ? "expected a qualified name db.schema" : "expected a qualified name db.schema.table");
      if (!identifier(out[p])) return false;
    }
    return true;
  }
  bool type(ColType& out) {
    const SqlToken& t = t_[i_];
    if (t.kind != SqlToken::Kind::word) return fail("expected a type");
    const std::string name = upper(t.text);
    ++i_;
    out = ColType{};
    if (name == "NUMBER") {
      out.kind = ColType::Kind::number;
      if (accept_punct('(')) {
        std::int64_t p = 0, s = 0;
        if (!number(1, 38, p)) return false;
        if (accept_punct(',') && !number(0, p, s)) return false;
        if (!punct(')')) return false;
        out.precision = static_cast<int>(p);
        out.scale = static_cast<int>(s);
      }
      return true;
    }
    if (name == "INT" || name == "INTEGER" || name == "BIGINT") {
      out.kind = ColType::Kind::number;
      return true;
    }
    if (name == "FLOAT" || name == "DOUBLE") {
      out.kind = ColType::Kind::floating;
      return true;
    }
    if (name == "VARCHAR") {
      out.kind = ColType::Kind::varchar;
      if (accept_punct('(')) {
        if (!number(1, kValueBytesMax, out.length) || !punct(')')) return false;
      }
      return true;
    }
    if (name == "STRING" || name == "TEXT") {
      out.kind = ColType::Kind::varchar;
      return true;
    }
    if (name == "BOOLEAN") {
      out.kind = ColType::Kind::boolean;
      return true;
    }
    if (name == "TIMESTAMP_TZ") {
      out.kind = ColType::Kind::timestamp_tz;
      return true;
    }
    if (name == "VARIANT") {
      out.kind = ColType::Kind::variant;
      return true;
    }
    --i_;
    return fail("unknown type " + shown(t.text) +
                " (NUMBER[(p[,s])], INT, INTEGER, BIGINT, FLOAT, DOUBLE, VARCHAR[(n)], STRING, TEXT, BOOLEAN, "
                "TIMESTAMP_TZ, VARIANT)");
  }

 private:
  bool fail(const std::string& what) {
    const SqlToken& t = t_[i_];
    const std::string got = t.kind == SqlToken::Kind::end ? "the end" : shown(t.text);
    error_ = "position " + std::to_string(t.pos) + ": " + what + ", got " + got;
    return false;
  }

  std::vector<SqlToken> t_;
  std::size_t i_ = 0;
  std::string error_;
};

// A type written as in SQL ("NUMBER(10,2)", "varchar"), or an error.
Result<ColType, std::string> parse_type(std::string_view text) {
  auto tokens = sql_tokens(text);
  if (!tokens.ok()) return tokens.error();
  SqlParser p(std::move(*tokens));
  ColType t;
  if (!p.type(t) || !p.end()) return p.error();
  return t;
}

struct Statement {
  enum class Kind { create_schema, create_table, add_column };
  Kind kind = Kind::create_schema;
  std::vector<std::string> name;  // db, schema[, table]
  std::vector<Column> columns;    // CREATE TABLE's, or the one ADD COLUMN adds
};

Result<Statement, std::string> parse_statement(std::string_view text) {
  auto tokens = sql_tokens(text);
  if (!tokens.ok()) return tokens.error();
  SqlParser p(std::move(*tokens));
  Statement st;
  auto if_not_exists = [&] { return p.keyword("IF") && p.keyword("NOT") && p.keyword("EXISTS"); };
  auto finish = [&] {
    p.accept_punct(';');
    return p.end();
  };
  if (p.accept("CREATE")) {
    if (p.accept("SCHEMA")) {
      st.kind = Statement::Kind::create_schema;
      if (!if_not_exists() || !p.qualified(2, st.name) || !finish()) return p.error();
      return st;
    }
    if (!p.keyword("TABLE")) return p.error() + " (this fake runs CREATE SCHEMA and CREATE TABLE)";
    st.kind = Statement::Kind::create_table;
    if (!if_not_exists() || !p.qualified(3, st.name) || !p.punct('(')) return p.error();
    do {
      Column c;
      if (!p.identifier(c.name) || !p.type(c.type)) return p.error();
      if (p.accept("NOT")) {
        if (!p.keyword("NULL")) return p.error();
        c.nullable = false;
      }
      st.columns.push_back(std::move(c));
    } while (p.accept_punct(','));
    if (!p.punct(')') || !finish()) return p.error();
    return st;
  }
  if (p.accept("ALTER")) {
    st.kind = Statement::Kind::add_column;
    Column c;
    if (!p.keyword("TABLE") || !p.qualified(3, st.name) || !p.keyword("ADD") || !p.keyword("COLUMN") ||
        !if_not_exists() || !p.identifier(c.name) || !p.type(c.type) || !finish())
      return p.error();
    st.columns.push_back(std::move(c));
    return st;
  }
  p.keyword("CREATE");
  return p.error() + " (this fake runs CREATE SCHEMA IF NOT EXISTS, CREATE TABLE IF NOT EXISTS and ALTER TABLE … "
                     "ADD COLUMN IF NOT EXISTS)";
}

// ------------------------------------------------------------- row values

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

// YYYY-MM-DDTHH:MM:SS[.1-9 digits](Z|±hh:mm): year 0001-9999, a real day,
// second at most 59, capital T and Z.
bool rfc3339(std::string_view s) {
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return false;
  const int y = digits_at(s, 0, 4), mo = digits_at(s, 5, 2), d = digits_at(s, 8, 2);
  const int h = digits_at(s, 11, 2), mi = digits_at(s, 14, 2), se = digits_at(s, 17, 2);
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in(y, mo) || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 ||
      se > 59)
    return false;
  std::size_t i = 19;
  if (s[i] == '.') {
    const std::size_t first = ++i;
    while (i < s.size() && is_digit(s[i])) ++i;
    if (i == first || i - first > 9) return false;
  }
  if (i + 1 == s.size() && s[i] == 'Z') return true;
  if (i + 6 != s.size() || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':') return false;
  const int oh = digits_at(s, i + 1, 2), om = digits_at(s, i + 4, 2);
  return oh >= 0 && oh <= 23 && om >= 0 && om <= 59;
}

// An optional '-' and 1+ digits; `digits` counts them without leading zeros.
bool integer_string(std::string_view s, std::size_t& digits) {
  if (!s.empty() && s[0] == '-') s.remove_prefix(1);
  if (s.empty() || !std::all_of(s.begin(), s.end(), is_digit)) return false;
  const auto first = s.find_first_not_of('0');
  digits = first == std::string_view::npos ? 0 : s.size() - first;
  return true;
}

// An optional '-', 1+ digits, and optionally '.' and 1+ digits.
bool decimal_string(std::string_view s) {
  if (!s.empty() && s[0] == '-') s.remove_prefix(1);
  const auto dot = s.find('.');
  const std::string_view whole = s.substr(0, dot);
  if (whole.empty() || !std::all_of(whole.begin(), whole.end(), is_digit)) return false;
  if (dot == std::string_view::npos) return true;
  const std::string_view frac = s.substr(dot + 1);
  return !frac.empty() && std::all_of(frac.begin(), frac.end(), is_digit);
}

std::size_t decimal_digits(std::uint64_t v) {
  std::size_t n = 0;
  while (v > 0) {
    ++n;
    v /= 10;
  }
  return n;
}

// Why `v` (not null) cannot go into column `c`, or nothing.
std::optional<std::string> value_problem(const Column& c, const nlohmann::json& v) {
  const std::string too_big = "value of " + c.name + " exceeds " + std::to_string(kValueBytesMax) + " bytes";
  if (v.is_string() && static_cast<std::int64_t>(v.get_ref<const std::string&>().size()) > kValueBytesMax)
    return too_big;
  bool ok = false;
  switch (c.type.kind) {
    case ColType::Kind::number:
      if (c.type.scale == 0) {
        std::size_t digits = 0;
        if (v.is_number_unsigned()) {
          digits = decimal_digits(v.get<std::uint64_t>());
          ok = true;
        } else if (v.is_number_integer()) {
          const std::int64_t i = v.get<std::int64_t>();
          digits = decimal_digits(i < 0 ? std::uint64_t(0) - static_cast<std::uint64_t>(i) : static_cast<std::uint64_t>(i));
          ok = true;
        } else if (v.is_string()) {
          ok = integer_string(v.get_ref<const std::string&>(), digits);
        }
        ok = ok && digits <= static_cast<std::size_t>(c.type.precision);
      } else {
        ok = v.is_number() || (v.is_string() && decimal_string(v.get_ref<const std::string&>()));
      }
      break;
    case ColType::Kind::floating:
      ok = v.is_number() || (v.is_string() && decimal_string(v.get_ref<const std::string&>()));
      break;
    case ColType::Kind::boolean: ok = v.is_boolean(); break;
    case ColType::Kind::varchar:
      ok = v.is_string() && static_cast<std::int64_t>(v.get_ref<const std::string&>().size()) <= c.type.length;
      break;
    case ColType::Kind::timestamp_tz: ok = v.is_string() && rfc3339(v.get_ref<const std::string&>()); break;
    case ColType::Kind::variant:
      // A VARIANT holds at most 16 MiB whatever its JSON type.
      if (!v.is_string() && static_cast<std::int64_t>(dump_size(v)) > kValueBytesMax) return too_big;
      ok = true;
      break;
  }
  if (ok) return std::nullopt;
  std::string dumped;
  if (v.is_string()) {
    dumped = std::string(utf8_prefix(v.get_ref<const std::string&>(), kShownBytesMax));
  } else if (v.is_object() || v.is_array()) {
    // A large object is never dumped whole for a message: its size is bounded
    // by the body's, but a message needs only its start.
    dumped = dump_size(v) > 4 * kShownBytesMax ? std::string(v.is_object() ? "{…}" : "[…]") : v.dump();
    dumped = std::string(utf8_prefix(dumped, kShownBytesMax));
  } else {
    dumped = std::string(utf8_prefix(v.dump(), kShownBytesMax));
  }
  return "Column " + c.name + " of type " + sdk_name(c.type) + ": cannot ingest " + v.type_name() + " " + dumped;
}

// ---------------------------------------------------------------- options

Status read_identifier_string(const JsonIn& in, std::size_t parts, std::string& out, std::string_view form) {
  DS_TRY(out, in.string());
  if (!dotted(out, parts))
    return in.expected(std::string(form) + " of identifiers (1-255 of [A-Z0-9_$], not starting with a digit or '$')");
  return Status::success();
}

// A table's columns: 1-1000 of {"name", "type", "nullable"?}, names unique.
Result<std::vector<SnowpipeApiOptions::Column>> read_columns(const JsonIn& in) {
  DS_CHECK(in.array());
  if (in.size() < 1 || in.size() > kColumnsMax) return in.expected("1 to 1000 columns");
  std::vector<SnowpipeApiOptions::Column> out;
  std::set<std::string> names;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const JsonIn c = in.at(i);
    DS_CHECK(c.object());
    DS_CHECK(c.only_keys({"name", "type", "nullable"}));
    DS_CHECK(c.require("name"));
    DS_CHECK(c.require("type"));
    SnowpipeApiOptions::Column col;
    DS_TRY(col.name, c.at("name").string());
    if (!valid_identifier(col.name))
      return c.at("name").expected("an identifier: 1-255 of [A-Z0-9_$], not starting with a digit or '$'");
    if (!names.insert(col.name).second) return c.at("name").fail("column \"" + col.name + "\" is listed twice");
    DS_TRY(col.type, c.at("type").string());
    if (auto t = parse_type(col.type); !t.ok()) return c.at("type").fail("not a type this fake takes: " + t.error());
    if (c.has("nullable")) { DS_TRY(col.nullable, c.at("nullable").boolean()); }
    out.push_back(std::move(col));
  }
  return out;
}

Status read_own_options(const JsonIn& in, SnowpipeApiOptions& o) {
  for (const char* key : {"account", "user", "role"}) {
    if (!in.has(key)) continue;
    const std::string_view k = key;
    std::string& v = k == "account" ? o.account : k == "user" ? o.user : o.role;
    DS_TRY(v, in.at(key).string());
    if (v.empty() || v.size() > kIdentifierMax ||
        !std::all_of(v.begin(), v.end(), [](char c) { return c > 0x20 && c < 0x7f; }))
      return in.at(key).expected("1-255 printable ASCII characters, no spaces");
  }
  if (in.has("private_key")) {
    DS_TRY(o.private_key, in.at("private_key").string());
    if (o.private_key.size() > 65'536) return in.at("private_key").expected("at most 65536 bytes");
  }
  if (in.has("sql_host")) {
    DS_TRY(o.sql_host, in.at("sql_host").string());
    if (o.sql_host.empty() || o.sql_host.size() > 253 || !std::all_of(o.sql_host.begin(), o.sql_host.end(), [](char c) {
          return is_alpha(c) || is_digit(c) || c == '.' || c == '-' || c == ':';
        }))
      return in.at("sql_host").expected("a host name (1-253 of letters, digits, '.', '-', ':')");
  }
  if (in.has("databases")) {
    const JsonIn a = in.at("databases");
    DS_CHECK(a.array());
    if (a.size() > kDatabasesMax) return a.expected("at most 1000 databases");
    o.databases.clear();
    for (std::size_t i = 0; i < a.size(); ++i) {
      std::string db;
      DS_CHECK(read_identifier_string(a.at(i), 1, db, "a database name"));
      if (std::find(o.databases.begin(), o.databases.end(), db) != o.databases.end())
        return a.at(i).fail("database \"" + db + "\" is listed twice");
      o.databases.push_back(db);
    }
    // The default schema stays only when its database is listed.
    if (!in.has("schemas") && std::find(o.databases.begin(), o.databases.end(), "DESTSIM") == o.databases.end())
      o.schemas.clear();
  }
  if (in.has("schemas")) {
    const JsonIn a = in.at("schemas");
    DS_CHECK(a.array());
    if (a.size() > kSchemasMax) return a.expected("at most 10000 schemas");
    o.schemas.clear();
    for (std::size_t i = 0; i < a.size(); ++i) {
      std::string s;
      DS_CHECK(read_identifier_string(a.at(i), 2, s, "\"DB.SCHEMA\""));
      const std::string db = s.substr(0, s.find('.'));
      if (std::find(o.databases.begin(), o.databases.end(), db) == o.databases.end())
        return a.at(i).fail("database \"" + db + "\" is not in /databases");
      if (std::find(o.schemas.begin(), o.schemas.end(), s) != o.schemas.end())
        return a.at(i).fail("schema \"" + s + "\" is listed twice");
      o.schemas.push_back(s);
    }
  }
  if (in.has("tables")) {
    const JsonIn a = in.at("tables");
    DS_CHECK(a.array());
    if (a.size() > kTablesMax) return a.expected("at most 10000 tables");
    o.tables.clear();
    for (std::size_t i = 0; i < a.size(); ++i) {
      const JsonIn t = a.at(i);
      DS_CHECK(t.object());
      DS_CHECK(t.only_keys({"table", "columns"}));
      DS_CHECK(t.require("table"));
      DS_CHECK(t.require("columns"));
      SnowpipeApiOptions::Table table;
      DS_CHECK(read_identifier_string(t.at("table"), 3, table.table, "\"DB.SCHEMA.TABLE\""));
      const std::string schema = table.table.substr(0, table.table.rfind('.'));
      if (std::find(o.schemas.begin(), o.schemas.end(), schema) == o.schemas.end())
        return t.at("table").fail("schema \"" + schema + "\" is not in /schemas");
      for (const auto& other : o.tables)
        if (other.table == table.table) return t.at("table").fail("table \"" + table.table + "\" is listed twice");
      DS_TRY(table.columns, read_columns(t.at("columns")));
      o.tables.push_back(std::move(table));
    }
  }
  if (in.has("commit_delay")) {
    DS_TRY(o.commit_delay, in.at("commit_delay").duration());
    if (o.commit_delay.count() < 0 || o.commit_delay > std::chrono::hours(1))
      return in.at("commit_delay").expected("a duration from 0 to 1h");
  }
  if (in.has("on_error")) {
    DS_TRY(std::string v, in.at("on_error").string());
    if (v != "continue" && v != "abort") return in.at("on_error").expected("\"continue\" or \"abort\"");
    o.on_error_abort = v == "abort";
  }
  if (in.has("insert_bytes_max")) {
    DS_TRY(o.insert_bytes_max, in.at("insert_bytes_max").size_bytes());
    if (o.insert_bytes_max < 1 || o.insert_bytes_max > kInsertBytesCap)
      return in.at("insert_bytes_max").expected("a size from 1 byte to 1GiB");
  }
  if (in.has("insert_rows_max")) { DS_TRY(o.insert_rows_max, in.at("insert_rows_max").integer(1, kInsertRowsCap)); }
  for (const char* key : {"lose_every", "invalidate_every", "stall_every", "restart_every"}) {
    if (!in.has(key)) continue;
    const std::string_view k = key;
    std::int64_t& v = k == "lose_every"         ? o.lose_every
                      : k == "invalidate_every" ? o.invalidate_every
                      : k == "stall_every"      ? o.stall_every
                                                : o.restart_every;
    DS_TRY(v, in.at(key).integer(0, kEveryMax));
  }
  return Status::success();
}

// A query string as (name, value) pairs, percent-decoded, in order.
std::vector<std::pair<std::string, std::string>> query_params(std::string_view raw) {
  std::vector<std::pair<std::string, std::string>> out;
  if (raw.empty()) return out;
  for (std::string_view part : split(raw, '&')) {
    const auto eq = part.find('=');
    if (eq == std::string_view::npos)
      out.emplace_back(url_decode(part), "");
    else
      out.emplace_back(url_decode(part.substr(0, eq)), url_decode(part.substr(eq + 1)));
  }
  return out;
}

// An offset token: a decimal int64 ("-5"; no '+', no leading zeros but "0").
std::optional<std::int64_t> parse_token(std::string_view s) {
  std::string_view digits = s;
  const bool negative = !digits.empty() && digits[0] == '-';
  if (negative) digits.remove_prefix(1);
  if (digits.empty() || digits.size() > 19 || !std::all_of(digits.begin(), digits.end(), is_digit)) return std::nullopt;
  if (digits[0] == '0' && (digits.size() > 1 || negative)) return std::nullopt;
  UInt128 v = 0;
  for (char c : digits) v = v * 10 + static_cast<unsigned>(c - '0');
  const UInt128 max = static_cast<UInt128>(INT64_MAX);
  if (v > max + (negative ? 1 : 0)) return std::nullopt;
  if (negative) return static_cast<std::int64_t>(-static_cast<Int128>(v));
  return static_cast<std::int64_t>(v);
}

// The message of a JsonIn error made with an empty `where`: the JSON path on.
std::string body_message(const Error& e) {
  std::string m = e.message;
  if (m.rfind(": ", 0) == 0) m.erase(0, 2);
  return m;
}

}  // namespace

// ------------------------------------------------------------------ state

struct SnowpipeApiState {
  struct Table {
    std::vector<Column> columns;
    std::int64_t rows = 0;  // committed
    std::vector<nlohmann::json> sample;
    std::vector<std::uint64_t> keys;  // its rows' oracle keys, hashed (a drop wipes them)
  };
  struct Insert {
    std::int64_t seq = 0;  // the n-th buffered insert of the fake
    std::string token;
    std::vector<nlohmann::json> rows;
    Time commit_at{};
    bool stall = false, invalidate = false;
  };
  struct Channel {
    std::int64_t n = 0;  // its id is "ch-<n>"
    std::string name, table;
    std::vector<Column> columns;  // the table's, as of the opening
    bool valid = true;
    bool closed = false;  // deleted with sync=false, its inserts still to commit: 404 to clients
    std::deque<Insert> pending;
  };

  std::set<std::string> databases, schemas;
  std::map<std::string, Table> tables;             // "DB.S.T"
  std::map<std::int64_t, Channel> channels;        // by n
  std::map<std::string, std::int64_t> open;        // "DB.S.T/NAME" → the open channel's n
  std::map<std::string, std::string> committed;    // "DB.S.T/NAME" → its committed offset token

  std::int64_t requests = 0, rejected = 0, channels_opened = 0, inserts = 0, noop_inserts = 0, lost_inserts = 0,
               invalidated = 0, stalled = 0, restarts = 0, statements = 0, applications = 0;
  bool refused = false;          // the request being answered was refused (counted in rejected)
  bool pending_restart = false;  // restart_every: the sidecar restarts once this answer is made
};

namespace {

using State = SnowpipeApiState;

std::string name_key(const std::string& table, const std::string& name) { return table + "/" + name; }

std::string channel_id(std::int64_t n) { return "ch-" + std::to_string(n); }

// The n of an id "ch-<n>", or 0.
std::int64_t channel_n(std::string_view id) {
  if (id.substr(0, 3) != "ch-") return 0;
  const auto n = parse_token(id.substr(3));
  return n && *n > 0 ? *n : 0;
}

Column column_of(const SnowpipeApiOptions::Column& c) {
  auto t = parse_type(c.type);
  DS_ASSERT(t.ok());
  DS_ASSERT(valid_identifier(c.name));
  return Column{c.name, *t, c.nullable};
}

}  // namespace


// The fake's work over its state: a view of SnowpipeApi's members, so the
// header names none of the state's types.
struct SnowpipeApi::Impl {
  explicit Impl(SnowpipeApi& api) : options_(api.options_), state_(api.state_), ledger_(api.ledger_) {}

  void commit_due(Time now);
  void commit_insert(SnowpipeApiState::Channel& ch, SnowpipeApiState::Insert& ins);
  void invalidate_channel(SnowpipeApiState::Channel& ch);
  void drop_table(const std::string& table, bool replace);
  void restart();
  nlohmann::json status_json(const SnowpipeApiState::Channel& ch) const;
  std::optional<std::pair<int, std::string>> read_body(const Request& request, std::string& out) const;
  Response sidecar(const Request& request, Time now);
  Response open_channel(const Request& request);
  Response bulk_status(const Request& request);
  Response delete_channel(const Request& request, SnowpipeApiState::Channel& ch);
  Response insert(const Request& request, SnowpipeApiState::Channel& ch, Time now);
  std::optional<Response> check_statement(const Statement& st) const;
  void run_statement(const Statement& st);
  Response sql(const Request& request);

  const SnowpipeApiOptions& options_;
  std::unique_ptr<SnowpipeApiState>& state_;
  AppliedLedger& ledger_;
};

// ------------------------------------------------------------------ the fake

SnowpipeApi::SnowpipeApi(SnowpipeApiOptions options) : options_(std::move(options)) {
  set_latency(options_.latency);
  reset();
}

SnowpipeApi::~SnowpipeApi() = default;

Result<SnowpipeApiOptions> SnowpipeApiOptions::from_json(const nlohmann::json& j, const std::string& where) {
  return read_fake_options(j, where, "sql_token", &SnowpipeApiOptions::sql_token,
                           {"account", "user", "role", "private_key", "sql_host", "databases", "schemas", "tables", "commit_delay",
                            "on_error", "insert_bytes_max", "insert_rows_max", "lose_every", "invalidate_every",
                            "stall_every", "restart_every"},
                           read_own_options);
}

void SnowpipeApi::reset() {
  ledger_ = AppliedLedger{};
  state_ = std::make_unique<SnowpipeApiState>();
  State& s = *state_;
  for (const auto& db : options_.databases) {
    DS_ASSERT(valid_identifier(db));
    s.databases.insert(db);
  }
  for (const auto& schema : options_.schemas) {
    DS_ASSERT(dotted(schema, 2) && s.databases.count(schema.substr(0, schema.find('.'))));
    s.schemas.insert(schema);
  }
  for (const auto& t : options_.tables) {
    DS_ASSERT(dotted(t.table, 3) && s.schemas.count(t.table.substr(0, t.table.rfind('.'))));
    State::Table table;
    for (const auto& c : t.columns) table.columns.push_back(column_of(c));
    s.tables[t.table] = std::move(table);
  }
}

std::int64_t SnowpipeApi::applied(const std::string& key) const { return ledger_.count(key); }
std::int64_t SnowpipeApi::peak(const std::string& key, std::int64_t) const { return ledger_.peak(key); }
std::int64_t SnowpipeApi::held(const std::string& key) const { return ledger_.held(key); }

void SnowpipeApi::catch_up(Time now) { Impl(*this).commit_due(now); }

// Appends an insert's rows to its table and moves its name's committed token.
void SnowpipeApi::Impl::commit_insert(SnowpipeApiState::Channel& ch, SnowpipeApiState::Insert& ins) {
  State& s = *state_;
  auto t = s.tables.find(ch.table);
  DS_ASSERT(t != s.tables.end());  // a dropped table invalidated its channels
  for (auto& row : ins.rows) {
    const auto id = row.find("ID");
    const bool by_id = id != row.end() && !id->is_null();
    const std::string key = by_id ? oracle_key("snowpipe.row", nlohmann::json{{"table", ch.table}, {"id", *id}})
                                  : oracle_key("snowpipe.row", nlohmann::json{{"table", ch.table}, {"row", row}});
    t->second.keys.push_back(ledger_.add(key));
    ++s.applications;
    ++t->second.rows;
    if (t->second.sample.size() < kSampleRows) t->second.sample.push_back(std::move(row));
  }
  s.committed[name_key(ch.table, ch.name)] = ins.token;
}

// Drops `table` (it exists): its rows go, and the oracle's copies of them
// (AppliedLedger::wipe); its channels turn invalid; its channel names'
// committed tokens are forgotten. With `replace`, CREATE OR REPLACE TABLE …
// LIKE itself: the same columns come back, empty.
void SnowpipeApi::Impl::drop_table(const std::string& table, bool replace) {
  State& s = *state_;
  for (std::uint64_t key : s.tables[table].keys) ledger_.wipe_hashed(key);
  State::Table fresh;
  fresh.columns = s.tables[table].columns;
  s.tables.erase(table);
  if (replace) s.tables[table] = std::move(fresh);
  for (auto it = s.channels.begin(); it != s.channels.end();) {
    if (it->second.table != table) {
      ++it;
    } else if (it->second.closed) {
      it = s.channels.erase(it);
    } else {
      if (it->second.valid) invalidate_channel(it->second);
      ++it;
    }
  }
  const std::string prefix = table + "/";
  for (auto it = s.committed.begin(); it != s.committed.end();)
    it = it->first.rfind(prefix, 0) == 0 ? s.committed.erase(it) : std::next(it);
}

// Turns a channel invalid: its pending inserts are discarded.
void SnowpipeApi::Impl::invalidate_channel(SnowpipeApiState::Channel& ch) {
  ch.valid = false;
  ch.pending.clear();
  ++state_->invalidated;
}

void SnowpipeApi::Impl::commit_due(Time now) {
  State& s = *state_;
  struct Due {
    Time at;
    std::int64_t seq, n;
  };
  std::vector<Due> due;
  for (const auto& [n, ch] : s.channels)
    for (const auto& ins : ch.pending) {
      if (ins.stall || ins.commit_at > now) break;
      due.push_back({ins.commit_at, ins.seq, n});
      if (ins.invalidate) break;
    }
  std::sort(due.begin(), due.end(), [](const Due& a, const Due& b) {
    return a.at != b.at ? a.at < b.at : a.seq < b.seq;
  });
  for (const Due& d : due) {
    auto it = s.channels.find(d.n);
    if (it == s.channels.end() || it->second.pending.empty() || it->second.pending.front().seq != d.seq) continue;
    State::Channel& ch = it->second;
    if (ch.pending.front().invalidate) {
      invalidate_channel(ch);
      continue;
    }
    commit_insert(ch, ch.pending.front());
    ch.pending.pop_front();
  }
  // A closed channel is gone once its inserts are.
  for (auto it = s.channels.begin(); it != s.channels.end();)
    it = it->second.closed && it->second.pending.empty() ? s.channels.erase(it) : std::next(it);
}

void SnowpipeApi::Impl::restart() {
  state_->channels.clear();
  state_->open.clear();
  ++state_->restarts;
}

// ------------------------------------------------------------------ answers

namespace {

Response sidecar_error(int status, const std::string& code, const std::string& error) {
  nlohmann::json b = {{"success", false}, {"error", error}};
  if (!code.empty()) b["code"] = code;
  return json_response(status, b);
}

Response no_content(int status) {
  Response r;
  r.status = status;
  return r;
}

Response sql_answer(int status, const std::string& code, const std::string& message, const char* sql_state = nullptr) {
  nlohmann::json b = {{"code", code}, {"message", message}};
  if (sql_state) b["sqlState"] = sql_state;
  return json_response(status, b);
}

nlohmann::json channel_json(const State::Channel& ch) {
  nlohmann::json schema = nlohmann::json::object();
  for (const auto& c : ch.columns)
    schema[c.name] = {{"type", sdk_name(c.type)}, {"scale", sdk_scale(c.type)}, {"nullable", c.nullable}};
  return {{"success", true},          {"channelId", channel_id(ch.n)},
          {"channelName", ch.name},   {"clientName", "destsim"},
          {"valid", ch.valid},        {"deleted", false},
          {"tableSchema", schema},    {"error", ""},
          {"code", ""},               {"snowflakeSDKCode", ""},
          {"snowflakeAPIHttpCode", 0}, {"snowflakeAPIStatusCode", 0},
          {"snowflakeAPIMessage", ""}};
}

Response channel_failure(const std::string& code, int http_code, const std::string& message) {
  return json_response(200, {{"success", false},
                             {"channelId", ""},
                             {"channelName", ""},
                             {"clientName", "destsim"},
                             {"valid", false},
                             {"deleted", false},
                             {"tableSchema", nlohmann::json::object()},
                             {"error", message},
                             {"code", code},
                             {"snowflakeSDKCode", ""},
                             {"snowflakeAPIHttpCode", http_code},
                             {"snowflakeAPIStatusCode", 0},
                             {"snowflakeAPIMessage", message}});
}

}  // namespace

nlohmann::json SnowpipeApi::Impl::status_json(const SnowpipeApiState::Channel& ch) const {
  const auto c = state_->committed.find(name_key(ch.table, ch.name));
  const std::string committed = c == state_->committed.end() ? "" : c->second;
  const std::string latest = ch.pending.empty() ? committed : ch.pending.back().token;
  return {{"success", true}, {"offset", committed}, {"valid", ch.valid}, {"latestInsertedOffset", latest}};
}

Response SnowpipeApi::handle(const Request& request, Time now) {
  Impl impl(*this);
  State& s = *state_;
  ++s.requests;
  s.refused = false;
  impl.commit_due(now);
  Response r = bare_host(request.host) == lower(options_.sql_host) ? impl.sql(request) : impl.sidecar(request, now);
  if (s.refused || !r.ok()) ++s.rejected;
  if (s.pending_restart) {
    s.pending_restart = false;
    impl.restart();
  }
  return r;
}

// The body as received: inflated when Content-Encoding is gzip; `error` set
// (status and message) when it cannot be read or is too large.
std::optional<std::pair<int, std::string>> SnowpipeApi::Impl::read_body(const Request& request, std::string& out) const {
  const std::int64_t cap = options_.insert_bytes_max;
  const auto too_large = [&](const std::string& what) {
    return std::make_pair(413, what + " over the limit of " + std::to_string(cap) + " bytes");
  };
  if (static_cast<std::int64_t>(request.body.size()) > cap)
    return too_large("the body is " + std::to_string(request.body.size()) + " bytes,");
  std::string enc;
  if (const auto ce = request.headers.get("Content-Encoding")) enc = lower(trim_spaces(*ce));
  if (enc.empty() || enc == "identity") {
    out = request.body;
    return std::nullopt;
  }
  if (enc != "gzip") return std::make_pair(400, "Content-Encoding must be gzip or identity, not " + shown(enc));
  std::string why;
  switch (gunzip_members(request.body, cap, out, why)) {
    case Gunzip::ok: return std::nullopt;
    case Gunzip::too_large: return too_large("the gzip body inflates");
    case Gunzip::corrupt: return std::make_pair(400, "the body is not valid gzip: " + why);
  }
  return std::nullopt;
}

Response SnowpipeApi::Impl::sidecar(const Request& request, Time now) {
  State& s = *state_;
  const std::string path(request.path_only());
  const std::vector<std::string_view> seg = split(path, '/');
  auto refuse = [&](int status, const std::string& code, const std::string& error) {
    s.refused = true;
    return sidecar_error(status, code, error);
  };
  auto not_allowed = [&](const char* allow) {
    Response r = refuse(405, "", "method " + shown(request.method) + " not allowed on " + shown(path));
    r.headers.set("Allow", allow);
    return r;
  };
  if (seg.size() < 2 || !seg[0].empty()) return refuse(404, "", "not found");
  if (seg.size() == 2 && seg[1] == "health") {
    if (request.method != "GET") return not_allowed("GET");
    return json_response(200, {{"status", "ok"}});
  }
  if (seg[1] != "channels" || seg.size() > 4) return refuse(404, "", "not found");
  if (seg.size() == 2) {
    if (request.method != "POST") return not_allowed("POST");
    return open_channel(request);
  }
  if (seg[2].empty()) return refuse(404, "", "not found");
  if (seg.size() == 3 && seg[2] == "bulk-status") {
    if (request.method != "GET") return not_allowed("GET");
    return bulk_status(request);
  }
  const std::string id(seg[2]);
  if (seg.size() == 4 && seg[3] != "status" && seg[3] != "insert") return refuse(404, "", "not found");
  const char* allow = seg.size() == 3 ? "GET, DELETE" : seg[3] == "status" ? "GET" : "POST";
  const bool allowed = seg.size() == 3 ? request.method == "GET" || request.method == "DELETE"
                                       : request.method == (seg[3] == "status" ? "GET" : "POST");
  if (!allowed) return not_allowed(allow);
  const auto it = s.channels.find(channel_n(id));
  if (it == s.channels.end() || it->second.closed) return refuse(404, "", "channel not found");
  State::Channel& ch = it->second;
  if (seg.size() == 3 && request.method == "GET") return json_response(200, channel_json(ch));
  if (seg.size() == 3) return delete_channel(request, ch);
  if (seg[3] == "status") return json_response(200, status_json(ch));
  return insert(request, ch, now);
}

Response SnowpipeApi::Impl::open_channel(const Request& request) {
  State& s = *state_;
  auto refuse400 = [&](const std::string& error) {
    s.refused = true;
    return sidecar_error(400, "ERR_VALIDATION_ERROR", error);
  };
  auto fail = [&](const std::string& code, int http_code, const std::string& message) {
    s.refused = true;
    return channel_failure(code, http_code, message);
  };
  std::string text;
  if (auto e = read_body(request, text)) {
    s.refused = true;
    return sidecar_error(e->first, e->first == 413 ? "ERR_REQUEST_TOO_LARGE" : "ERR_VALIDATION_ERROR", e->second);
  }
  const nlohmann::json body = parse_json_body(text);
  if (body.is_discarded()) return refuse400("/: the body is not valid JSON");
  const JsonIn in(body, "");
  auto str = [&](const JsonIn& obj, const char* key, std::string& out) -> std::optional<std::string> {
    if (!obj.has(key)) return obj.path() + (obj.path() == "/" ? "" : "/") + key + ": required";
    auto v = obj.at(key).string();
    if (!v.ok()) return body_message(v.error());
    out = *v;
    return std::nullopt;
  };
  auto obj = [&](const JsonIn& o) -> std::optional<std::string> {
    if (Status st = o.object(); !st.ok()) return body_message(st.error());
    return std::nullopt;
  };
  if (auto e = obj(in)) return refuse400(*e);
  std::string rudder_id, partition, account, user, role, key, passphrase, database, schema, table;
  if (auto e = str(in, "rudderIdentifier", rudder_id)) return refuse400(*e);
  if (auto e = str(in, "partition", partition)) return refuse400(*e);
  if (!in.has("account")) return refuse400("/account: required");
  const JsonIn acc = in.at("account");
  if (auto e = obj(acc)) return refuse400(*e);
  for (auto [k, out] : {std::pair<const char*, std::string*>{"account", &account},
                        {"user", &user},
                        {"role", &role},
                        {"privateKey", &key},
                        {"privateKeyPassphrase", &passphrase}})
    if (auto e = str(acc, k, *out)) return refuse400(*e);
  if (!in.has("table")) return refuse400("/table: required");
  const JsonIn tab = in.at("table");
  if (auto e = obj(tab)) return refuse400(*e);
  for (auto [k, out] : {std::pair<const char*, std::string*>{"database", &database},
                        {"schema", &schema},
                        {"table", &table}})
    if (auto e = str(tab, k, *out)) return refuse400(*e);
  bool iceberg = false;
  if (tab.has("enableIceberg")) {
    auto b = tab.at("enableIceberg").boolean();
    if (!b.ok()) return refuse400(body_message(b.error()));
    iceberg = *b;
  }

  // 1. forms
  const auto invalid = [&](const std::string& what) { return fail("ERR_VALIDATION_ERROR", 400, what); };
  if (!valid_channel_part(rudder_id))
    return invalid("invalid rudderIdentifier " + shown(rudder_id) + ": 1-128 of [A-Za-z0-9_-]");
  if (!valid_channel_part(partition)) return invalid("invalid partition " + shown(partition) + ": 1-128 of [A-Za-z0-9_-]");
  for (auto [what, v] : {std::pair<const char*, const std::string*>{"database", &database},
                         {"schema", &schema},
                         {"table", &table}})
    if (!valid_identifier(*v))
      return invalid(std::string("invalid ") + what + " name " + shown(*v) +
                     ": 1-255 of [A-Z0-9_$], not starting with a digit or '$' (provider case)");
  if (iceberg) return invalid("enableIceberg is not supported: this fake models standard tables only");
  // 2. authentication
  if (!iequals(account, options_.account))
    return fail("ERR_AUTHENTICATION_FAILED", 401, "authentication failed for account " + shown(account));
  if (!iequals(user, options_.user))
    return fail("ERR_AUTHENTICATION_FAILED", 401, "authentication failed for user " + shown(user));
  if (key.empty()) return fail("ERR_AUTHENTICATION_FAILED", 401, "authentication failed: empty privateKey");
  if (!options_.private_key.empty() && key != options_.private_key)
    return fail("ERR_AUTHENTICATION_FAILED", 401, "authentication failed: privateKey is not the user's key");
  // 3-6. role, database, schema, table
  if (!iequals(role, options_.role))
    return fail("ERR_ROLE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED", 403,
                "Role " + shown(role) + " does not exist or not authorized");
  if (!s.databases.count(database))
    return fail("ERR_DATABASE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED", 404,
                "Database " + shown(database) + " does not exist or not authorized");
  const std::string schema_name = database + "." + schema;
  if (!s.schemas.count(schema_name))
    return fail("ERR_SCHEMA_DOES_NOT_EXIST_OR_NOT_AUTHORIZED", 404,
                "Schema " + shown(schema_name) + " does not exist or not authorized");
  const std::string table_name = schema_name + "." + table;
  const auto t = s.tables.find(table_name);
  if (t == s.tables.end())
    return fail("ERR_TABLE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED", 404,
                "Table " + shown(table_name) + " does not exist or not authorized");

  const std::string name = table + "_" + rudder_id + "_" + partition;
  const std::string nk = name_key(table_name, name);
  const auto old = s.open.find(nk);
  if (old == s.open.end() && s.open.size() >= kOpenChannelsMax)
    return invalid("this fake holds at most " + std::to_string(kOpenChannelsMax) + " open channels");
  if (old != s.open.end()) s.channels.erase(old->second);  // invalidated: its id is 404, its pending inserts gone
  State::Channel ch;
  ch.n = ++s.channels_opened;
  ch.name = name;
  ch.table = table_name;
  ch.columns = t->second.columns;
  s.open[nk] = ch.n;
  const auto [it, fresh] = s.channels.emplace(ch.n, std::move(ch));
  DS_ASSERT(fresh);
  return json_response(200, channel_json(it->second));
}

Response SnowpipeApi::Impl::bulk_status(const Request& request) {
  State& s = *state_;
  auto refuse = [&](const std::string& error) {
    s.refused = true;
    return sidecar_error(400, "ERR_VALIDATION_ERROR", error);
  };
  std::vector<std::string> ids;
  std::set<std::string> seen;
  for (auto& [k, v] : query_params(request.query())) {
    if (k != "channelIds") continue;
    if (v.empty()) return refuse("channelIds: an empty id");
    if (!seen.insert(v).second) return refuse("channelIds: " + shown(v) + " is given more than once");
    ids.push_back(std::move(v));
    if (ids.size() > kBulkIdsMax) return refuse("channelIds: more than 100 ids");
  }
  if (ids.empty()) return refuse("channelIds: give 1 to 100 ids");
  nlohmann::json statuses = nlohmann::json::object(), not_found = nlohmann::json::array();
  for (const auto& id : ids) {
    const auto it = s.channels.find(channel_n(id));
    if (it == s.channels.end() || it->second.closed)
      not_found.push_back(id);
    else
      statuses[id] = status_json(it->second);
  }
  return json_response(200, {{"success", true}, {"statuses", statuses}, {"notFound", not_found}});
}

Response SnowpipeApi::Impl::delete_channel(const Request& request, SnowpipeApiState::Channel& ch) {
  State& s = *state_;
  std::optional<std::string> sync;
  int count = 0;
  for (const auto& [k, v] : query_params(request.query()))
    if (k == "sync") {
      ++count;
      sync = v;
    }
  if (count != 1 || (*sync != "true" && *sync != "false")) {
    s.refused = true;
    return sidecar_error(400, "ERR_VALIDATION_ERROR", "sync: required once, exactly true or false");
  }
  s.open.erase(name_key(ch.table, ch.name));
  if (*sync == "false") {
    // Its inserts commit at their time; the id is 404 from now on.
    ch.closed = true;
    if (ch.pending.empty()) s.channels.erase(ch.n);
    return no_content(202);
  }
  // A close flushes: everything pending commits now, in order, up to a
  // stalled insert (it and what follows never commit) or an invalidating one.
  while (!ch.pending.empty()) {
    State::Insert& ins = ch.pending.front();
    if (ins.stall) break;
    if (ins.invalidate) {
      invalidate_channel(ch);
      break;
    }
    commit_insert(ch, ins);
    ch.pending.pop_front();
  }
  s.channels.erase(ch.n);
  return no_content(204);
}

Response SnowpipeApi::Impl::insert(const Request& request, SnowpipeApiState::Channel& ch, Time now) {
  State& s = *state_;
  auto refuse = [&](int status, const std::string& code, const std::string& error) {
    s.refused = true;
    return sidecar_error(status, code, error);
  };
  std::string text;
  if (auto e = read_body(request, text))
    return refuse(e->first, e->first == 413 ? "ERR_REQUEST_TOO_LARGE" : "ERR_VALIDATION_ERROR", e->second);
  nlohmann::json body = parse_json_body(text);
  text.clear();
  text.shrink_to_fit();
  if (body.is_discarded()) return refuse(400, "ERR_VALIDATION_ERROR", "/: the body is not valid JSON");
  const JsonIn in(body, "");
  if (Status st = in.object(); !st.ok()) return refuse(400, "ERR_VALIDATION_ERROR", body_message(st.error()));
  if (!in.has("rows")) return refuse(400, "ERR_VALIDATION_ERROR", "/rows: required");
  if (Status st = in.at("rows").array(); !st.ok())
    return refuse(400, "ERR_VALIDATION_ERROR", body_message(st.error()));
  const std::size_t n_rows = body["rows"].size();
  if (n_rows < 1 || static_cast<std::int64_t>(n_rows) > options_.insert_rows_max)
    return refuse(400, "ERR_VALIDATION_ERROR",
                  "/rows: expected 1 to " + std::to_string(options_.insert_rows_max) + " rows, got " +
                      std::to_string(n_rows));
  if (!in.has("offset")) return refuse(400, "ERR_VALIDATION_ERROR", "/offset: required");
  auto token_text = in.at("offset").string();
  if (!token_text.ok()) return refuse(400, "ERR_VALIDATION_ERROR", body_message(token_text.error()));
  const auto token = parse_token(*token_text);
  if (!token)
    return refuse(400, "ERR_VALIDATION_ERROR",
                  "/offset: expected a decimal int64 (no '+', no leading zeros), got " + shown(*token_text));

  if (!ch.valid) {
    s.refused = true;
    return json_response(200, {{"success", false},
                               {"code", "ERR_CHANNEL_INVALID"},
                               {"errors", nlohmann::json::array()},
                               {"error", "channel " + channel_id(ch.n) + " is invalid; reopen it"}});
  }
  if (const auto c = s.committed.find(name_key(ch.table, ch.name)); c != s.committed.end()) {
    const auto committed = parse_token(c->second);
    DS_ASSERT(committed);
    if (*token <= *committed) {
      ++s.noop_inserts;
      return json_response(200,
                           {{"success", true}, {"errors", nlohmann::json::array()}, {"code", ""}, {"noop", true}});
    }
  }

  // Validate each row against the channel's columns (as of its opening).
  std::map<std::string_view, const Column*> columns;
  for (const auto& c : ch.columns) columns.emplace(c.name, &c);
  nlohmann::json errors = nlohmann::json::array();
  std::vector<nlohmann::json> good;
  for (std::size_t i = 0; i < n_rows; ++i) {
    nlohmann::json& row = body["rows"][i];
    nlohmann::json extra = nlohmann::json::array(), missing = nlohmann::json::array(),
                   nulls = nlohmann::json::array();
    std::vector<std::string> messages;
    if (!row.is_object()) {
      messages.push_back("row is not an object");
    } else {
      for (auto it = row.begin(); it != row.end(); ++it)
        if (!columns.count(it.key())) extra.push_back(it.key());
      for (const auto& c : ch.columns) {
        const auto v = row.find(c.name);
        if (v == row.end()) {
          if (!c.nullable) missing.push_back(c.name);
        } else if (v->is_null()) {
          if (!c.nullable) nulls.push_back(c.name);
        } else if (auto why = value_problem(c, *v)) {
          messages.push_back(*why);
        }
      }
    }
    if (messages.empty() && extra.empty() && missing.empty() && nulls.empty()) {
      good.push_back(std::move(row));
      continue;
    }
    auto names = [](const nlohmann::json& a) {
      std::string out;
      for (const auto& x : a) out += (out.empty() ? "" : ", ") + x.get<std::string>();
      return out;
    };
    if (!extra.empty()) messages.push_back("extra columns: " + names(extra));
    if (!missing.empty()) messages.push_back("missing NOT NULL columns: " + names(missing));
    if (!nulls.empty()) messages.push_back("null for NOT NULL columns: " + names(nulls));
    std::string message;
    for (const auto& m : messages) message += (message.empty() ? "" : "; ") + m;
    errors.push_back({{"rowIndex", i},
                      {"extraColNames", extra},
                      {"missingNotNullColNames", missing},
                      {"nullValueForNotNullColNames", nulls},
                      {"message", message}});
  }
  const bool bad = !errors.empty();
  if (bad && options_.on_error_abort) {
    s.refused = true;
    return json_response(200, {{"success", false}, {"errors", errors}, {"code", "ERR_INSERT_ROWS_VALIDATION"}});
  }

  // Buffer it; the counter faults apply to it.
  const std::int64_t seq = ++s.inserts;
  const auto hits = [seq](std::int64_t every) { return every > 0 && seq % every == 0; };
  State::Insert ins;
  ins.seq = seq;
  ins.token = *token_text;
  ins.rows = std::move(good);
  ins.commit_at = now + options_.commit_delay;
  if (!ch.pending.empty()) ins.commit_at = std::max(ins.commit_at, ch.pending.back().commit_at);
  ins.stall = hits(options_.stall_every);
  ins.invalidate = hits(options_.invalidate_every);
  ch.pending.push_back(std::move(ins));
  if (hits(options_.lose_every)) {
    s.lost_inserts += static_cast<std::int64_t>(ch.pending.size());
    ch.pending.clear();
  } else if (ch.pending.back().stall) {
    ++s.stalled;
  }
  if (hits(options_.restart_every)) s.pending_restart = true;
  if (bad) {
    s.refused = true;
    return json_response(200, {{"success", false}, {"errors", errors}, {"code", "ERR_INSERT_ROWS_VALIDATION"}});
  }
  return json_response(200, {{"success", true}, {"errors", nlohmann::json::array()}, {"code", ""}});
}

// ---------------------------------------------------------------- SQL API

// Why a CREATE/ALTER cannot run on the current state (status 422 or 400 and
// the answer), or nothing; it then runs (an existing object is left as it is).
std::optional<Response> SnowpipeApi::Impl::check_statement(const Statement& st) const {
  const State& s = *state_;
  const auto missing = [](const char* what, const std::string& name) {
    return sql_answer(422, "002003",
                      std::string("SQL compilation error: ") + what + " '" + name +
                          "' does not exist or not authorized.",
                      "02000");
  };
  const auto limit = [](const std::string& what) {
    return sql_answer(422, "002003", "SQL compilation error: " + what, "02000");
  };
  if (!s.databases.count(st.name[0])) return missing("Database", st.name[0]);
  const std::string schema = st.name[0] + "." + st.name[1];
  if (st.kind == Statement::Kind::create_schema) {
    if (!s.schemas.count(schema) && s.schemas.size() >= kSchemasMax)
      return limit("this fake holds at most " + std::to_string(kSchemasMax) + " schemas.");
    return std::nullopt;
  }
  if (!s.schemas.count(schema)) return missing("Schema", schema);
  const std::string table = schema + "." + st.name[2];
  const auto t = s.tables.find(table);
  if (st.kind == Statement::Kind::create_table) {
    std::set<std::string> names;
    for (const auto& c : st.columns)
      if (!names.insert(c.name).second)
        return sql_answer(422, "002025", "SQL compilation error: duplicate column name '" + c.name + "'", "42S21");
    if (st.columns.size() > kColumnsMax)
      return limit("a table has at most " + std::to_string(kColumnsMax) + " columns in this fake.");
    if (t == s.tables.end() && s.tables.size() >= kTablesMax)
      return limit("this fake holds at most " + std::to_string(kTablesMax) + " tables.");
    return std::nullopt;
  }
  if (t == s.tables.end()) return missing("Table", table);
  const auto& cols = t->second.columns;
  const bool exists = std::any_of(cols.begin(), cols.end(), [&](const Column& c) { return c.name == st.columns[0].name; });
  if (!exists && cols.size() >= kColumnsMax)
    return limit("a table has at most " + std::to_string(kColumnsMax) + " columns in this fake.");
  return std::nullopt;
}

void SnowpipeApi::Impl::run_statement(const Statement& st) {
  State& s = *state_;
  const std::string schema = st.name[0] + "." + st.name[1];
  if (st.kind == Statement::Kind::create_schema) {
    s.schemas.insert(schema);
    return;
  }
  const std::string table = schema + "." + st.name[2];
  if (st.kind == Statement::Kind::create_table) {
    if (!s.tables.count(table)) s.tables[table].columns = st.columns;
    return;
  }
  auto& cols = s.tables.at(table).columns;
  if (std::none_of(cols.begin(), cols.end(), [&](const Column& c) { return c.name == st.columns[0].name; })) {
    Column c = st.columns[0];
    c.nullable = true;
    cols.push_back(std::move(c));
  }
}

Response SnowpipeApi::Impl::sql(const Request& request) {
  State& s = *state_;
  if (request.path_only() != kStatementsPath)
    return sql_answer(404, "000404", "Not found: " + shown(request.path_only()) + " (use POST /api/v2/statements)");
  if (request.method != "POST") {
    Response r = sql_answer(405, "000405", "Method " + shown(request.method) + " not allowed: use POST");
    r.headers.set("Allow", "POST");
    return r;
  }
  // Authentication.
  const auto auth = request.headers.get("Authorization");
  const auto kind = request.headers.get("X-Snowflake-Authorization-Token-Type");
  std::optional<std::string> why;
  if (!auth || auth->rfind("Bearer ", 0) != 0) {
    why = "Send Authorization: Bearer <token>.";
  } else if (!kind || (*kind != "KEYPAIR_JWT" && *kind != "OAUTH")) {
    why = "Send X-Snowflake-Authorization-Token-Type: KEYPAIR_JWT or OAUTH.";
  } else {
    const std::string_view token = auth->substr(7);
    if (!options_.sql_token.empty() ? token != options_.sql_token
                                    : token.empty() || token.find_first_of(" \t") != std::string_view::npos)
      why = "The token is not valid.";
  }
  if (why) return sql_answer(401, "390303", "Invalid OAuth access token. " + *why);

  std::string text;
  if (auto e = read_body(request, text)) return sql_answer(e->first, "000000", e->second);
  const nlohmann::json body = parse_json_body(text);
  if (body.is_discarded() || !body.is_object())
    return sql_answer(400, "000000", "The request body must be a JSON object with a \"statement\".");
  const JsonIn in(body, "");
  if (!in.has("statement")) return sql_answer(400, "000000", "/statement: required");
  auto statement = in.at("statement").string();
  if (!statement.ok()) return sql_answer(400, "000000", body_message(statement.error()));
  for (const char* k : {"database", "schema", "warehouse", "role"})
    if (in.has(k))
      if (auto v = in.at(k).string(); !v.ok()) return sql_answer(400, "000000", body_message(v.error()));
  if (in.has("timeout"))
    if (auto v = in.at("timeout").integer(0, kSqlTimeoutMax); !v.ok())
      return sql_answer(400, "000000", body_message(v.error()));

  auto st = parse_statement(*statement);
  if (!st.ok()) return sql_answer(400, "001003", "SQL compilation error: syntax error " + st.error(), "42000");
  if (auto refused = check_statement(*st)) return *refused;
  run_statement(*st);
  ++s.statements;
  return json_response(200, {{"code", "090001"},
                             {"message", "Statement executed successfully."},
                             {"statementHandle", "stmt-" + std::to_string(s.statements)},
                             {"sqlState", "00000"}});
}

// ------------------------------------------------------------------ accepted

nlohmann::json SnowpipeApi::accepted() const {
  const State& s = *state_;
  nlohmann::json tables = nlohmann::json::object();
  for (const auto& [name, t] : s.tables) {
    nlohmann::json columns = nlohmann::json::array();
    for (const auto& c : t.columns)
      columns.push_back({{"name", c.name}, {"type", sdk_name(c.type)}, {"nullable", c.nullable}});
    nlohmann::json sample = nlohmann::json::array();
    for (const auto& row : t.sample) sample.push_back(row);
    tables[name] = {{"columns", columns}, {"rows", t.rows}, {"sample", sample}};
  }
  return {{"requests", s.requests},
          {"rejected", s.rejected},
          {"channels_opened", s.channels_opened},
          {"inserts", s.inserts},
          {"noop_inserts", s.noop_inserts},
          {"lost_inserts", s.lost_inserts},
          {"invalidated", s.invalidated},
          {"stalled", s.stalled},
          {"restarts", s.restarts},
          {"statements", s.statements},
          {"tables", tables},
          {"applications", s.applications},
          {"distinct_applications", ledger_.distinct()}};
}

// ------------------------------------------------------------------ control

Status SnowpipeApi::control(const JsonIn& op, Time now) {
  DS_TRY(std::string which, control_key(op, {"restart", "invalidate", "lose_pending", "drop_table", "replace_table",
                                             "replace_tables", "create_schema", "create_table", "request"}));
  if (which == "request") return FakeApi::control(op, now);
  const JsonIn arg = op.at(which);
  Impl impl(*this);
  State& s = *state_;
  // Every operation is checked whole before anything changes; then the
  // commits due by `now` happen, then the operation.
  if (which == "restart") {
    if (!arg.json().is_object() || !arg.json().empty()) return arg.expected("{}");
    impl.commit_due(now);
    impl.restart();
    return Status::success();
  }
  if (which == "invalidate" || which == "lose_pending") {
    // One channel by id, or every open channel on a table (a scenario
    // rarely knows the ids the client was given).
    DS_CHECK(arg.object());
    DS_CHECK(arg.only_keys({"channel", "table"}));
    if (arg.has("channel") == arg.has("table")) return arg.fail("give exactly one of \"channel\" or \"table\"");
    std::vector<std::int64_t> targets;
    if (arg.has("channel")) {
      DS_TRY(std::string id, arg.at("channel").string());
      const auto it = s.channels.find(channel_n(id));
      if (it == s.channels.end() || it->second.closed) return arg.at("channel").fail("no open channel \"" + id + "\"");
      targets.push_back(it->first);
    } else {
      std::string table;
      DS_CHECK(read_identifier_string(arg.at("table"), 3, table, "\"DB.SCHEMA.TABLE\""));
      for (const auto& [n, ch] : s.channels)
        if (!ch.closed && ch.table == table) targets.push_back(n);
      if (targets.empty()) return arg.at("table").fail("no open channel on table \"" + table + "\"");
    }
    impl.commit_due(now);
    for (const std::int64_t n : targets) {
      const auto again = s.channels.find(n);
      DS_ASSERT(again != s.channels.end());  // commits erase closed channels only
      if (which == "invalidate") {
        if (again->second.valid) impl.invalidate_channel(again->second);
      } else {
        s.lost_inserts += static_cast<std::int64_t>(again->second.pending.size());
        again->second.pending.clear();
      }
    }
    return Status::success();
  }
  if (which == "replace_tables") {
    if (!arg.json().is_object() || !arg.json().empty()) return arg.expected("{}");
    impl.commit_due(now);
    std::vector<std::string> names;
    for (const auto& [name, t] : s.tables) names.push_back(name);
    for (const auto& name : names) impl.drop_table(name, true);
    return Status::success();
  }
  if (which == "drop_table" || which == "replace_table") {
    DS_CHECK(arg.object());
    DS_CHECK(arg.only_keys({"table"}));
    DS_CHECK(arg.require("table"));
    std::string table;
    DS_CHECK(read_identifier_string(arg.at("table"), 3, table, "\"DB.SCHEMA.TABLE\""));
    if (!s.tables.count(table)) {
      if (which == "replace_table") return Status::success();  // nothing to replace yet
      return arg.at("table").fail("no table \"" + table + "\"");
    }
    impl.commit_due(now);
    impl.drop_table(table, which == "replace_table");
    return Status::success();
  }
  Statement st;
  if (which == "create_schema") {
    std::string schema;
    DS_CHECK(read_identifier_string(arg, 2, schema, "\"DB.SCHEMA\""));
    st.kind = Statement::Kind::create_schema;
    st.name = *dotted(schema, 2);
  } else {
    DS_CHECK(arg.object());
    DS_CHECK(arg.only_keys({"table", "columns"}));
    DS_CHECK(arg.require("table"));
    DS_CHECK(arg.require("columns"));
    std::string table;
    DS_CHECK(read_identifier_string(arg.at("table"), 3, table, "\"DB.SCHEMA.TABLE\""));
    DS_TRY(auto columns, read_columns(arg.at("columns")));
    st.kind = Statement::Kind::create_table;
    st.name = *dotted(table, 3);
    for (const auto& c : columns) st.columns.push_back(column_of(c));
  }
  if (auto refused = impl.check_statement(st)) {
    const nlohmann::json b = parse_json_body(refused->body);
    return arg.fail(b.is_object() && b.contains("message") ? b["message"].get<std::string>() : "refused");
  }
  impl.commit_due(now);
  impl.run_statement(st);
  return Status::success();
}

}  // namespace destsim
