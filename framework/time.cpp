#include "framework/time.h"

#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>

namespace destsim {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads an unsigned decimal with an optional fraction; returns value * 1e9 as an
// integer (nano-units) so "1.5" gives 1'500'000'000 without floating point.
bool read_decimal_nano(std::string_view s, size_t& pos, std::int64_t& nano) {
  size_t start = pos;
  std::int64_t whole = 0;
  while (pos < s.size() && is_digit(s[pos])) {
    if (whole > (INT64_MAX / 10) - 10) return false;
    whole = whole * 10 + (s[pos] - '0');
    ++pos;
  }
  std::int64_t frac = 0;
  std::int64_t scale = 1'000'000'000;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t fstart = pos;
    while (pos < s.size() && is_digit(s[pos])) {
      if (scale > 1) {
        scale /= 10;
        frac += (s[pos] - '0') * scale;
      }
      ++pos;
    }
    if (pos == fstart) return false;
  }
  if (pos == start) return false;
  if (whole > INT64_MAX / 1'000'000'000) return false;
  nano = whole * 1'000'000'000 + frac;
  return true;
}

}  // namespace

Result<Duration> parse_duration(std::string_view text) {
  if (text == "0") return Duration(0);
  if (text.empty()) return Error::bad_input("expected a duration with a unit like \"250ms\", got \"\"");
  size_t pos = 0;
  Int128 total = 0;
  while (pos < text.size()) {
    std::int64_t nano = 0;
    if (!read_decimal_nano(text, pos, nano)) {
      return Error::bad_input("expected a duration with a unit like \"250ms\", \"10s\", \"6h\", got \"" +
                              std::string(text) + "\"");
    }
    size_t ustart = pos;
    while (pos < text.size() && std::isalpha(static_cast<unsigned char>(text[pos]))) ++pos;
    std::string_view unit = text.substr(ustart, pos - ustart);
    Int128 mult;  // nanoseconds per unit, applied to nano-units (÷1e9)
    if (unit == "ns") mult = 1;
    else if (unit == "us") mult = 1'000;
    else if (unit == "ms") mult = 1'000'000;
    else if (unit == "s") mult = 1'000'000'000;
    else if (unit == "m") mult = 60'000'000'000LL;
    else if (unit == "h") mult = 3'600'000'000'000LL;
    else if (unit == "d") mult = 86'400'000'000'000LL;
    else {
      return Error::bad_input("expected a duration unit (ns, us, ms, s, m, h, d) in \"" +
                              std::string(text) + "\", got \"" + std::string(unit) + "\"");
    }
    Int128 scaled = static_cast<Int128>(nano) * mult;
    if (scaled % 1'000'000'000 != 0)
      return Error::bad_input("duration \"" + std::string(text) + "\" is finer than a nanosecond");
    total += scaled / 1'000'000'000;
    if (total > kDurationMax.count())
      return Error::bad_input("duration \"" + std::string(text) + "\" is longer than " +
                              format_duration(kDurationMax) + " (3650d), the limit on any duration");
  }
  return Duration(static_cast<std::int64_t>(total));
}

std::string format_duration(Duration d) {
  std::int64_t ns = d.count();
  if (ns == 0) return "0s";
  std::string out;
  if (ns < 0) {
    out = "-";
    ns = -ns;
  }
  if (ns < 1'000) return out + std::to_string(ns) + "ns";
  if (ns < 1'000'000 && ns % 1'000 == 0) return out + std::to_string(ns / 1'000) + "us";
  if (ns < 1'000'000'000 && ns % 1'000'000 == 0) return out + std::to_string(ns / 1'000'000) + "ms";
  if (ns < 1'000'000'000) return out + std::to_string(ns) + "ns";
  std::int64_t hours = ns / 3'600'000'000'000LL;
  ns %= 3'600'000'000'000LL;
  std::int64_t minutes = ns / 60'000'000'000LL;
  ns %= 60'000'000'000LL;
  if (hours) out += std::to_string(hours) + "h";
  if (minutes) out += std::to_string(minutes) + "m";
  if (ns) {
    std::int64_t whole = ns / 1'000'000'000;
    std::int64_t frac = ns % 1'000'000'000;
    out += std::to_string(whole);
    if (frac) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%09lld", static_cast<long long>(frac));
      std::string f(buf);
      while (!f.empty() && f.back() == '0') f.pop_back();
      out += "." + f;
    }
    out += "s";
  }
  return out;
}

Result<std::int64_t> parse_size(std::string_view text) {
  if (text == "0") return std::int64_t{0};
  size_t pos = 0;
  std::int64_t nano = 0;
  if (!read_decimal_nano(text, pos, nano)) {
    return Error::bad_input("expected a size with a unit like \"4MB\", got \"" + std::string(text) + "\"");
  }
  std::string_view unit = text.substr(pos);
  Int128 mult;
  if (unit == "B") mult = 1;
  else if (unit == "KB") mult = 1000;
  else if (unit == "MB") mult = 1000 * 1000;
  else if (unit == "GB") mult = 1000LL * 1000 * 1000;
  else if (unit == "KiB") mult = 1024;
  else if (unit == "MiB") mult = 1024 * 1024;
  else if (unit == "GiB") mult = 1024LL * 1024 * 1024;
  else {
    return Error::bad_input("expected a size unit (B, KB, MB, GB, KiB, MiB, GiB) in \"" + std::string(text) +
                            "\"");
  }
  Int128 scaled = static_cast<Int128>(nano) * mult;
  if (scaled % 1'000'000'000 != 0)
    return Error::bad_input("size \"" + std::string(text) + "\" is not a whole number of bytes");
  Int128 bytes = scaled / 1'000'000'000;
  if (bytes > kSizeMax)
    return Error::bad_input("size \"" + std::string(text) + "\" is larger than 1TB, the limit on any size");
  return static_cast<std::int64_t>(bytes);
}

std::string format_size(std::int64_t bytes) {
  if (bytes != 0 && bytes % (1000LL * 1000 * 1000) == 0) return std::to_string(bytes / (1000LL * 1000 * 1000)) + "GB";
  if (bytes != 0 && bytes % (1000 * 1000) == 0) return std::to_string(bytes / (1000 * 1000)) + "MB";
  if (bytes != 0 && bytes % 1000 == 0) return std::to_string(bytes / 1000) + "KB";
  return std::to_string(bytes) + "B";
}

// Howard Hinnant's days_from_civil / civil_from_days.
namespace {
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += (m <= 2);
}
std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

constexpr std::array<const char*, 7> kWeekdays = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int month_index(std::string_view m) {
  for (int i = 0; i < 12; ++i)
    if (m == kMonths[i]) return i + 1;
  return 0;
}
}  // namespace

CivilTime civil_from_unix_ms(std::int64_t unix_ms) {
  std::int64_t days = floor_div(unix_ms, 86'400'000);
  std::int64_t rem = unix_ms - days * 86'400'000;
  std::int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  CivilTime c{};
  c.year = static_cast<int>(y);
  c.month = static_cast<int>(m);
  c.day = static_cast<int>(d);
  c.hour = static_cast<int>(rem / 3'600'000);
  c.minute = static_cast<int>(rem / 60'000 % 60);
  c.second = static_cast<int>(rem / 1000 % 60);
  c.millisecond = static_cast<int>(rem % 1000);
  return c;
}

std::int64_t unix_ms_from_civil(const CivilTime& c) {
  std::int64_t days = days_from_civil(c.year, static_cast<unsigned>(c.month), static_cast<unsigned>(c.day));
  return days * 86'400'000 + c.hour * 3'600'000LL + c.minute * 60'000LL + c.second * 1000LL + c.millisecond;
}

std::string format_http_date(std::int64_t unix_ms) {
  CivilTime c = civil_from_unix_ms(unix_ms);
  std::int64_t days = floor_div(unix_ms, 86'400'000);
  int wd = static_cast<int>(((days % 7) + 7) % 7);
  if (c.year < 0 || c.year > 9999) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kWeekdays[wd], c.day, kMonths[c.month - 1],
                  c.year, c.hour, c.minute, c.second);
    return buf;
  }
  // The same bytes as the snprintf above, without it: every simulated answer
  // carries a Date (fakes/sim_transport.cpp).
  std::string out = "Thu, 01 Jan 1970 00:00:00 GMT";
  auto two = [&](std::size_t at, int v) {
    out[at] = static_cast<char>('0' + v / 10);
    out[at + 1] = static_cast<char>('0' + v % 10);
  };
  out.replace(0, 3, kWeekdays[wd]);
  two(5, c.day);
  out.replace(8, 3, kMonths[c.month - 1]);
  two(12, c.year / 100);
  two(14, c.year % 100);
  two(17, c.hour);
  two(20, c.minute);
  two(23, c.second);
  return out;
}

Result<std::int64_t> parse_http_date(std::string_view s) {
  auto fail = [&] {
    return Error::bad_input("expected an HTTP-date like \"Sun, 06 Nov 1994 08:49:37 GMT\", got \"" +
                            std::string(s) + "\"");
  };
  char wd[16] = {}, mon[4] = {}, tz[4] = {};
  int day = 0, year = 0, hh = 0, mm = 0, ss = 0;
  std::string str(s);
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
  if (std::sscanf(str.c_str(), "%3s, %2d %3s %4d %2d:%2d:%2d %3s", wd, &day, mon, &year, &hh, &mm, &ss, tz) == 8) {
  } else if (std::sscanf(str.c_str(), "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d %3s", wd, &day, mon, &year, &hh, &mm, &ss,
                         tz) == 8) {
    // RFC 850: two-digit year; RFC 9110 says interpret as within 50 years: pick 19xx/20xx.
    year += year < 70 ? 2000 : 1900;
  } else if (std::sscanf(str.c_str(), "%3s %3s %2d %2d:%2d:%2d %4d", wd, mon, &day, &hh, &mm, &ss, &year) == 7) {
    std::snprintf(tz, sizeof tz, "GMT");
  } else {
    return fail();
  }
  int m = month_index(mon);
  if (m == 0 || std::string_view(tz) != "GMT" || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) return fail();
  return unix_ms_from_civil(CivilTime{year, m, day, hh, mm, ss, 0});
}

Result<std::int64_t> parse_iso8601_utc(std::string_view s) {
  int y, mo, d, h, mi, se;
  char z = 0;
  std::string str(s);
  if (std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se, &z) != 7 || z != 'Z' ||
      mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59) {
    return Error::bad_input("expected a UTC instant like \"2024-01-01T00:00:00Z\", got \"" + str + "\"");
  }
  return unix_ms_from_civil(CivilTime{y, mo, d, h, mi, se, 0});
}

}  // namespace destsim
