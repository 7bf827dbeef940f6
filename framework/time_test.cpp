#include "framework/time.h"

#include <gtest/gtest.h>

namespace destsim {
namespace {

TEST(Duration, ParsesUnitsAndCompounds) {
  EXPECT_EQ(parse_duration("250ms").value(), std::chrono::milliseconds(250));
  EXPECT_EQ(parse_duration("10s").value(), std::chrono::seconds(10));
  EXPECT_EQ(parse_duration("6h").value(), std::chrono::hours(6));
  EXPECT_EQ(parse_duration("2m30s").value(), std::chrono::seconds(150));
  EXPECT_EQ(parse_duration("1.5s").value(), std::chrono::milliseconds(1500));
  EXPECT_EQ(parse_duration("1d").value(), std::chrono::hours(24));
  EXPECT_EQ(parse_duration("0").value(), Duration(0));
  EXPECT_EQ(parse_duration("7us").value(), std::chrono::microseconds(7));
}

TEST(Duration, RejectsBareNumbersAndUnknownUnits) {
  EXPECT_FALSE(parse_duration("10").ok());
  EXPECT_FALSE(parse_duration("").ok());
  EXPECT_FALSE(parse_duration("5 years").ok());
  auto r = parse_duration("3w");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("\"w\""), std::string::npos) << r.error().message;
}

TEST(Duration, BoundedAtTenYearsAndWholeNanoseconds) {
  // "106751d" is within int64 nanoseconds but overflowed the first sum it met.
  auto long_one = parse_duration("106751d");
  ASSERT_FALSE(long_one.ok());
  EXPECT_EQ(long_one.error().message, "duration \"106751d\" is longer than 87600h (3650d), the limit on any duration");
  EXPECT_EQ(parse_duration("3650d").value(), kDurationMax);
  EXPECT_FALSE(parse_duration("3650d1ns").ok());
  auto half = parse_duration("0.5ns");
  ASSERT_FALSE(half.ok());
  EXPECT_EQ(half.error().message, "duration \"0.5ns\" is finer than a nanosecond");
  EXPECT_EQ(parse_duration("1.5us").value(), std::chrono::nanoseconds(1500));
}

TEST(Size, BoundedAtOneTerabyteAndWholeBytes) {
  auto huge = parse_size("9000000000GB");
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error().message, "size \"9000000000GB\" is larger than 1TB, the limit on any size");
  EXPECT_EQ(parse_size("1000GB").value(), kSizeMax);
  EXPECT_FALSE(parse_size("0.5B").ok());
  EXPECT_EQ(parse_size("1.5KB").value(), 1500);
}

TEST(Duration, FormatRoundTrips) {
  for (const char* s : {"250ms", "10s", "6h", "2m30s", "1.5s", "1h2m3.25s", "7us", "12ns"}) {
    Duration d = parse_duration(s).value();
    EXPECT_EQ(parse_duration(format_duration(d)).value(), d) << s << " -> " << format_duration(d);
  }
  EXPECT_EQ(format_duration(std::chrono::milliseconds(250)), "250ms");
  EXPECT_EQ(format_duration(std::chrono::seconds(3723)), "1h2m3s");
}

TEST(Size, ParsesDecimalAndBinaryUnits) {
  EXPECT_EQ(parse_size("4MB").value(), 4'000'000);
  EXPECT_EQ(parse_size("10MiB").value(), 10 * 1024 * 1024);
  EXPECT_EQ(parse_size("100B").value(), 100);
  EXPECT_EQ(parse_size("4.6MB").value(), 4'600'000);
  EXPECT_FALSE(parse_size("4mb").ok());
  EXPECT_FALSE(parse_size("MB").ok());
  EXPECT_EQ(format_size(4'000'000), "4MB");
  EXPECT_EQ(format_size(1500), "1500B");
}

TEST(Calendar, CivilRoundTripAndKnownInstants) {
  // 2024-08-27T09:13:20Z = 1724750000 s (the SFTP example in APIS.md).
  CivilTime c = civil_from_unix_ms(1'724'750'000'000);
  EXPECT_EQ(c.year, 2024);
  EXPECT_EQ(c.month, 8);
  EXPECT_EQ(c.day, 27);
  EXPECT_EQ(c.hour, 9);
  EXPECT_EQ(c.minute, 13);
  EXPECT_EQ(c.second, 20);
  EXPECT_EQ(unix_ms_from_civil(c), 1'724'750'000'000);
  EXPECT_EQ(parse_iso8601_utc("2024-01-01T00:00:00Z").value(), 1'704'067'200'000);
}

TEST(HttpDate, FormatsAndParsesAllThreeForms) {
  EXPECT_EQ(format_http_date(784'111'777'000), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").value(), 784'111'777'000);
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT").value(), 784'111'777'000);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994").value(), 784'111'777'000);
  EXPECT_FALSE(parse_http_date("yesterday").ok());
}

TEST(LoopTime, IsNotASystemClockTimePoint) {
  static_assert(!std::is_convertible_v<std::chrono::system_clock::time_point, Time>);
  static_assert(!std::is_convertible_v<Time, std::chrono::system_clock::time_point>);
  EXPECT_EQ(to_ns(from_ns(42)), 42);
}

}  // namespace
}  // namespace destsim
