// fake_options_test.cpp — the common keys of every fake's options.
#include "fakes/fake_options.h"

#include <gtest/gtest.h>

#include "fakes/catalog.h"
#include "fakes/iterable/iterable_api.h"
#include "fakes/marketo/marketo_api.h"
#include "framework/oracle.h"
#include "framework/trace.h"

namespace destsim {
namespace {

Result<CommonFakeOptions> read(const nlohmann::json& j) {
  return read_common_fake_options(JsonIn(j, "s.json: /fake/options"), "api_key", {"items_max"});
}

TEST(CommonFakeOptions, NullIsTheDefaults) {
  auto o = read(nlohmann::json());
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->secret, "");
  EXPECT_EQ(o->latency, Duration(0));
}

TEST(CommonFakeOptions, UnwrapsASecretAndReadsLatency) {
  auto plain = read({{"api_key", "k1"}, {"latency", "50ms"}, {"items_max", 3}});
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  EXPECT_EQ(plain->secret, "k1");
  EXPECT_EQ(plain->latency, std::chrono::milliseconds(50));
  auto wrapped = read({{"api_key", {{"secret", "k2"}}}});
  ASSERT_TRUE(wrapped.ok());
  EXPECT_EQ(wrapped->secret, "k2");
}

TEST(CommonFakeOptions, BadValuesAreNamedWithTheirPath) {
  auto extra = read({{"api_key", {{"secret", "k"}, {"note", "x"}}}});
  ASSERT_FALSE(extra.ok());
  EXPECT_NE(extra.error().message.find("s.json: /fake/options/api_key/note: unknown key"), std::string::npos)
      << extra.error().message;
  auto number = read({{"api_key", 7}});
  ASSERT_FALSE(number.ok());
  EXPECT_NE(number.error().message.find("/fake/options/api_key: expected a string or {\"secret\""), std::string::npos)
      << number.error().message;
  auto latency = read({{"latency", "soon"}});
  ASSERT_FALSE(latency.ok());
  EXPECT_NE(latency.error().message.find("s.json: /fake/options/latency: "), std::string::npos)
      << latency.error().message;
}

TEST(CommonFakeOptions, AnUnknownKeyIsNamedWithItsPathAndTheKeysAllowed) {
  auto o = read({{"api_kee", "k"}});
  ASSERT_FALSE(o.ok());
  const std::string& m = o.error().message;
  EXPECT_NE(m.find("s.json: /fake/options/api_kee: unknown key \"api_kee\""), std::string::npos) << m;
  EXPECT_NE(m.find("items_max, api_key, latency"), std::string::npos) << m;
  // A fake without a credential takes no secret key.
  auto none = read_common_fake_options(JsonIn(nlohmann::json{{"api_key", "k"}}, "t"), "", {"items_max"});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("unknown key \"api_key\""), std::string::npos);
}

TEST(CommonFakeOptions, EveryFakeReadsThemTheSameWay) {
  auto it = IterableApiOptions::from_json({{"api_key", {{"secret", "k"}}}, {"latency", "5ms"}}, "t");
  ASSERT_TRUE(it.ok()) << it.error().message;
  EXPECT_EQ(it->api_key, "k");
  EXPECT_EQ(IterableApi(*it).latency(), std::chrono::milliseconds(5));
  auto mk = MarketoApiOptions::from_json({{"client_secret", {{"secret", "s"}}}, {"latency", "7ms"}}, "t");
  ASSERT_TRUE(mk.ok()) << mk.error().message;
  EXPECT_EQ(mk->client_secret, "s");
  EXPECT_EQ(MarketoApi(*mk).latency(), std::chrono::milliseconds(7));
  // Through the catalog: every built-in fake takes "latency", and names an unknown key.
  for (const FakeEntry& e : fake_catalog()) {
    auto made = e.make({{"latency", "3ms"}}, "t");
    ASSERT_TRUE(made.ok()) << e.name << ": " << made.error().message;
    EXPECT_EQ((*made)->latency(), std::chrono::milliseconds(3)) << e.name;
    auto bad = e.make({{"latencyy", "3ms"}}, "s.json: /fake/options");
    ASSERT_FALSE(bad.ok()) << e.name;
    EXPECT_NE(bad.error().message.find("s.json: /fake/options/latencyy: unknown key"), std::string::npos)
        << e.name << ": " << bad.error().message;
  }
}

}  // namespace
}  // namespace destsim

namespace destsim {
namespace {

// Counts kept in one byte until 255, then in the side map: exact either way.
TEST(AppliedLedger, CountsPastOneByteExactly) {
  AppliedLedger ledger;
  EXPECT_EQ(ledger.count("e#1"), 0);
  for (int i = 1; i <= 700; ++i) {
    ledger.add("e#1");
    if (i == 1 || i == 254 || i == 255 || i == 256 || i == 700) { ASSERT_EQ(ledger.count("e#1"), i); }
  }
  ledger.add("e#2");
  EXPECT_EQ(ledger.count("e#2"), 1);
  EXPECT_EQ(ledger.distinct(), 2u);
}

// A fake's JSON answer is nlohmann's dump of the document, byte for byte, and
// a string that is not UTF-8 is written with U+FFFD, not thrown.
TEST(JsonResponse, WritesTheDumpAndReplacesBytesThatAreNotUtf8) {
  const nlohmann::json doc = {{"z", {1, -2, 3.25, 1e300, nullptr, true}},
                              {"a", {{"s", "q\"\\\n\u00e9\U0001f680\x01"}, {"u", 18446744073709551615ULL}}},
                              {"m", nlohmann::json::object()}};
  Response r = json_response(201, doc);
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.headers.get("Content-Type").value_or(""), "application/json");
  EXPECT_EQ(r.body, doc.dump());
  const nlohmann::json bad = {{"error", "got \xff\xfe here"}, {"n", 1}};
  Response b = json_response(400, bad);
  EXPECT_EQ(b.body, "{\"error\":\"got \xef\xbf\xbd\xef\xbf\xbd here\",\"n\":1}");
  // A key that is not UTF-8 (a fake quoting a field name the client sent).
  const nlohmann::json bad_key = {{"a", 1}, {"k\xc3", {{"b", true}}}};
  Response k = json_response(400, bad_key);
  EXPECT_EQ(k.body, "{\"a\":1,\"k\xef\xbf\xbd\":{\"b\":true}}");
}

// An item's effect and content hash count as its oracle key spelled out.
TEST(AppliedLedger, EffectAndHashCountAsTheKeySpelledOut) {
  AppliedLedger ledger;
  for (std::uint64_t h : {0ULL, 1ULL, 0xabcdef0123456789ULL, ~0ULL}) {
    const std::string key = "iterable.event#" + hex16(h);
    EXPECT_EQ(ledger.add("iterable.event", h), fnv1a64(key));
    EXPECT_EQ(ledger.count(key), 1) << key;
    ledger.add(key);
    EXPECT_EQ(ledger.count(key), 2) << key;
  }
  EXPECT_EQ(ledger.count("iterable.event#" + hex16(2)), 0);
  EXPECT_EQ(ledger.count("iterable.events#" + hex16(1)), 0);
  EXPECT_EQ(ledger.distinct(), 4u);
}

// An operator's wipe: every application still counts; peak() is the most
// copies held at once, held() the copies held now.
TEST(AppliedLedger, WipeKeepsTheCountAndTracksPeakAndHeldCopies) {
  AppliedLedger ledger;
  ledger.wipe("never");  // nothing held: nothing changes
  EXPECT_EQ(ledger.count("never"), 0);
  EXPECT_EQ(ledger.peak("never"), 0);
  EXPECT_EQ(ledger.distinct(), 0u);
  // Applied, wiped: still applied once (it was delivered), none held.
  ledger.add("a");
  EXPECT_EQ(ledger.held("a"), 1);
  ledger.wipe("a");
  EXPECT_EQ(ledger.count("a"), 1);
  EXPECT_EQ(ledger.peak("a"), 1);
  EXPECT_EQ(ledger.held("a"), 0);
  // Applied again after the wipe: two applications, one copy at any moment.
  ledger.add("a");
  EXPECT_EQ(ledger.count("a"), 2);
  EXPECT_EQ(ledger.peak("a"), 1);
  EXPECT_EQ(ledger.held("a"), 1);
  // A second copy beside it: two at once.
  ledger.add("a");
  EXPECT_EQ(ledger.peak("a"), 2);
  EXPECT_EQ(ledger.held("a"), 2);
  // Two copies before a wipe stay the peak after it, and three after it rise.
  ledger.wipe("a");
  ledger.add("a");
  EXPECT_EQ(ledger.peak("a"), 2);
  ledger.add("a");
  ledger.add("a");
  EXPECT_EQ(ledger.peak("a"), 3);
  EXPECT_EQ(ledger.count("a"), 6);
  // Wiping twice in a row changes nothing more.
  AppliedLedger twice;
  twice.add("b");
  twice.add("b");
  twice.wipe("b");
  twice.wipe("b");
  EXPECT_EQ(twice.peak("b"), 2);
  EXPECT_EQ(twice.held("b"), 0);
  twice.add("b");
  EXPECT_EQ(twice.peak("b"), 2);
  // Never wiped: all three agree.
  EXPECT_EQ(twice.count("e#1"), 0);
  twice.add("c");
  twice.add("c");
  EXPECT_EQ(twice.peak("c"), 2);
  EXPECT_EQ(twice.held("c"), 2);
  // Past the one-byte count, wipes stay exact.
  AppliedLedger many;
  for (int i = 0; i < 300; ++i) many.add("c");
  many.wipe("c");
  for (int i = 0; i < 301; ++i) many.add("c");
  EXPECT_EQ(many.peak("c"), 301);
  EXPECT_EQ(many.count("c"), 601);
  EXPECT_EQ(many.held("c"), 301);
}

}  // namespace
}  // namespace destsim
