#include "framework/http.h"

#include <gtest/gtest.h>

namespace destsim {
namespace {

TEST(Headers, LookupIsCaseInsensitiveAndSetReplaces) {
  Headers h{{"Content-Type", "application/json"}, {"X-A", "1"}, {"x-a", "2"}};
  EXPECT_EQ(h.get("content-type").value(), "application/json");
  EXPECT_EQ(h.get("X-A").value(), "1");
  h.set("X-a", "3");
  EXPECT_EQ(h.get("x-A").value(), "3");
  EXPECT_EQ(h.items().size(), 2u);
  EXPECT_FALSE(h.get("missing").has_value());
}

TEST(Request, SplitsPathAndQuery) {
  Request r;
  r.path = "/bulk/v1/leads.json?format=csv&lookupField=email&x=a%20b+c";
  EXPECT_EQ(r.path_only(), "/bulk/v1/leads.json");
  EXPECT_EQ(r.query_param("format").value(), "csv");
  EXPECT_EQ(r.query_param("x").value(), "a b c");
  EXPECT_FALSE(r.query_param("nope").has_value());
}

TEST(UrlEncoding, RoundTrips) {
  std::string s = "a b/c?d=e&f~g";
  EXPECT_EQ(url_decode(url_encode(s)), s);
  EXPECT_EQ(url_encode("a b"), "a%20b");
}

TEST(RetryAfter, DeltaSecondsAndHttpDate) {
  EXPECT_EQ(parse_retry_after("60", 0).value(), std::chrono::seconds(60));
  EXPECT_EQ(parse_retry_after(" 0 ", 0).value(), Duration(0));
  // 784111777000 is Sun, 06 Nov 1994 08:49:37 GMT; ask at 30 s before.
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784'111'747'000).value(), std::chrono::seconds(30));
  // A date in the past means "now".
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784'111'800'000).value(), Duration(0));
  EXPECT_FALSE(parse_retry_after("soon", 0).has_value());
  EXPECT_FALSE(parse_retry_after("-5", 0).has_value());
  EXPECT_FALSE(parse_retry_after("", 0).has_value());
}

}  // namespace
}  // namespace destsim
