// time.h — the loop's one time type, and duration/size/calendar helpers.
//
// Framework code sees only `Time` (a time point of `LoopClock`) and `Duration`.
// `LoopClock` has no now(): time comes from a `Loop`, which gets it from a
// `SimClock` (virtual) or a `RealClock` (wall). Because `Time` is a time point of
// its own clock, it cannot be compared with or assigned from a wall-clock point.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "framework/result.h"

namespace destsim {

/// The clock type of loop time. Deliberately has no now().
struct LoopClock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<LoopClock>;
  static constexpr bool is_steady = true;
};

using Duration = std::chrono::nanoseconds;
using Time = LoopClock::time_point;

using namespace std::chrono_literals;

/// Loop time zero; every loop starts here.
inline constexpr Time kTimeZero{};

/// Nanoseconds since loop start, for traces.
inline std::int64_t to_ns(Time t) { return t.time_since_epoch().count(); }
inline Time from_ns(std::int64_t ns) { return Time(Duration(ns)); }

/// The longest duration any input may name (ten years). Inputs are bounded at
/// parse time so that sums and products of a few of them cannot overflow the
/// 64-bit nanosecond clock (which ends after 292 years).
inline constexpr Duration kDurationMax = std::chrono::hours(24 * 3650);

/// Parses "250ms", "10s", "1.5s", "6h", "2m30s", "1d", "0" into a Duration of
/// whole nanoseconds, at most kDurationMax. Units: ns, us, ms, s, m, h, d. A
/// bare "0" is allowed; other bare numbers are not.
Result<Duration> parse_duration(std::string_view text);

/// Formats a duration the way parse_duration reads it back ("1h2m3.5s", "250ms").
std::string format_duration(Duration d);

/// Parses "4MB", "512KB", "10MiB", "100B", "0" into bytes (KB = 1000, KiB = 1024).
/// The largest size any input may name (1 TB).
inline constexpr std::int64_t kSizeMax = 1'000'000'000'000LL;

Result<std::int64_t> parse_size(std::string_view text);

/// Formats bytes in the largest exact unit ("4MB", "1500B").
std::string format_size(std::int64_t bytes);

/// A UTC calendar instant, for path templates and HTTP dates.
struct CivilTime {
  int year, month, day, hour, minute, second, millisecond;
};

/// Unix milliseconds → UTC civil time (proleptic Gregorian; H. Hinnant's algorithm).
CivilTime civil_from_unix_ms(std::int64_t unix_ms);

/// UTC civil time → Unix milliseconds.
std::int64_t unix_ms_from_civil(const CivilTime& c);

/// Formats Unix milliseconds as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
std::string format_http_date(std::int64_t unix_ms);

/// Parses an IMF-fixdate into Unix milliseconds (RFC 9110 §5.6.7; the obsolete
/// RFC 850 and asctime forms are also accepted).
Result<std::int64_t> parse_http_date(std::string_view text);

/// Parses an ISO-8601 UTC instant "2024-08-27T09:13:20Z" into Unix milliseconds.
Result<std::int64_t> parse_iso8601_utc(std::string_view text);

}  // namespace destsim
