#include "framework/trace.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace destsim {
namespace {

TEST(Trace, Hex16IsSixteenLowercaseDigits) {
  EXPECT_EQ(hex16(0), "0000000000000000");
  EXPECT_EQ(hex16(0xdeadbeefULL), "00000000deadbeef");
  EXPECT_EQ(hex16(~0ULL), "ffffffffffffffff");
  std::uint64_t v = 0x9e3779b97f4a7c15ULL;
  for (int i = 0; i < 64; ++i, v = v * 6364136223846793005ULL + 1442695040888963407ULL) {
    char want[17];
    std::snprintf(want, sizeof want, "%016llx", static_cast<unsigned long long>(v));
    EXPECT_EQ(hex16(v), want);
  }
}

TEST(Trace, WritesOrderedFieldsAsJsonl) {
  Trace t;
  t.set_keep_lines(true);
  t.event(from_ns(1500), "http.request").str("method", "POST").num("bytes", 12).flag("injected", false);
  ASSERT_EQ(t.lines().size(), 1u);
  EXPECT_EQ(t.lines()[0], R"({"t":1500,"kind":"http.request","method":"POST","bytes":12,"injected":false})");
}

TEST(Trace, EscapesStrings) {
  Trace t;
  t.set_keep_lines(true);
  t.event(kTimeZero, "x").str("s", "a\"b\\c\n\x01");
  EXPECT_EQ(t.lines()[0], R"({"t":0,"kind":"x","s":"a\"b\\c\n\u0001"})");
}

TEST(Trace, InvalidUtf8BecomesAReplacementCharacterAndTheLineStaysJson) {
  Trace t;
  t.set_keep_lines(true);
  // Valid multi-byte text is kept; a stray byte, a truncated sequence and a
  // surrogate (a garbled API answer quoted in a reason) are replaced.
  t.event(kTimeZero, "x").str("s", "caf\xc3\xa9 \xff end\xe2\x82 \xed\xa0\x80");
  EXPECT_EQ(t.lines()[0], "{\"t\":0,\"kind\":\"x\",\"s\":\"caf\xc3\xa9 \\ufffd end\\ufffd\\ufffd \\ufffd\\ufffd\\ufffd\"}");
}

TEST(Trace, HashIsStableAndOrderSensitive) {
  Trace a, b, c;
  a.event(kTimeZero, "one").num("n", 1);
  a.event(kTimeZero, "two").num("n", 2);
  b.event(kTimeZero, "one").num("n", 1);
  b.event(kTimeZero, "two").num("n", 2);
  c.event(kTimeZero, "two").num("n", 2);
  c.event(kTimeZero, "one").num("n", 1);
  EXPECT_EQ(a.hash(), b.hash());
  EXPECT_NE(a.hash(), c.hash());
  EXPECT_EQ(a.hash_hex().size(), 16u);
  // Pinned: XXH3-64 of the JSONL bytes of one known event,
  // {"t":0,"kind":"x"} and its newline.
  Trace p;
  p.event(kTimeZero, "x");
  EXPECT_EQ(p.hash_hex(), "4ceecd397e553816");
}

TEST(Trace, HashDoesNotDependOnKeepingLines) {
  Trace kept, streamed;
  kept.set_keep_lines(true);
  std::ostringstream sink;
  streamed.set_sink(&sink);
  for (int i = 0; i < 10; ++i) {
    kept.event(from_ns(i), "e").num("i", i);
    streamed.event(from_ns(i), "e").num("i", i);
  }
  EXPECT_EQ(kept.hash(), streamed.hash());
  EXPECT_EQ(streamed.lines().size(), 0u);
  const std::string text = sink.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 10);
}

// The hash is XXH3-64 of the JSONL bytes (every line and its newline), as
// `xxhsum -H3` prints it for the trace file: whatever the lines hold, however
// they were built (a short piece or the general path, escapes, secrets).
TEST(Trace, HashIsXxh3OfTheJsonlBytes) {
  Trace t;
  t.set_keep_lines(true);
  t.add_secret("s3cret");
  const std::string hosts[] = {"api.sendgrid.com", "api.iterable.com", "a.example", "x"};
  for (int i = 0; i < 20000; ++i) {
    const std::string path = "/v3/marketing/contacts/imports/job-" + std::to_string(i % 97);
    auto e = t.event(from_ns(1'000'000'007LL * i), i % 3 ? "http.request" : "bulk.polled");
    e.num("req", i).str("method", "GET").str("host", hosts[i % 4]).str("path", path);
    if (i % 5 == 0) e.num("bytes", i % 11).str("status", "running, still running, as before");
    if (i % 7 == 0) e.str("note", "key s3cret and \"quotes\" \x01 " + std::string(200, 'p'));
    for (int k = 0; k < i % 17; ++k) e.num("n", k);
  }
  std::string file;
  for (const auto& line : t.lines()) file += line + "\n";
  EXPECT_EQ(file.find("s3cret"), std::string::npos);
  EXPECT_EQ(t.hash(), XXH3_64bits(file.data(), file.size()));
  Trace empty;
  EXPECT_EQ(empty.hash(), XXH3_64bits("", 0));
}

TEST(Trace, RedactsSecretsInStringAndRawFields) {
  Trace t;
  t.set_keep_lines(true);
  t.add_secret("sk-live-123");
  t.event(kTimeZero, "config").str("header", "Api-Key: sk-live-123").raw("cfg", R"({"k":"sk-live-123"})");
  EXPECT_EQ(t.lines()[0].find("sk-live-123"), std::string::npos) << t.lines()[0];
  EXPECT_NE(t.lines()[0].find("***"), std::string::npos);
}

}  // namespace
}  // namespace destsim
