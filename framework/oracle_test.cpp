// The streaming hash and size of a JSON dump agree with dumping it first.
#include "framework/oracle.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace destsim {
namespace {

void expect_same(const nlohmann::json& j) {
  const std::string d = j.dump();
  EXPECT_EQ(content_hash_of_dump(j), content_hash(d)) << d;
  EXPECT_EQ(dump_size(j), d.size()) << d;
  EXPECT_EQ(oracle_key("e", j), oracle_key_of_dump("e", d));
}

TEST(Oracle, ContentHashIsXxh3AndTellsBytesApart) {
  // XXH3-64 of "" is a published constant; one changed byte changes the key.
  EXPECT_EQ(content_hash(""), 0x2D06800538D394C2ULL);
  EXPECT_NE(oracle_key_of_dump("e", R"({"a":1})"), oracle_key_of_dump("e", R"({"a":2})"));
  EXPECT_NE(oracle_key_of_dump("e", R"({"a":1})"), oracle_key_of_dump("f", R"({"a":1})"));
}

TEST(Oracle, StreamingHashAndSizeMatchTheDump) {
  expect_same(nullptr);
  expect_same(nlohmann::json::object());
  expect_same({{"email", "a@b.c"}, {"n", 1.5}, {"big", 1e300}, {"neg", -7}, {"t", true}, {"arr", {1, "x", nullptr}}});
  expect_same({{"text", "Zo\u00eb \u674e \U0001f680 \"quoted\"\n\t\\ ctl\x01"}});
  expect_same({{"pad", std::string(200000, 'x')}});  // past the serializer's 512-byte buffer many times
}

RC_GTEST_PROP(Oracle, StreamingHashMatchesForAnyStrings, (const std::vector<std::string>& parts)) {
  nlohmann::json j = nlohmann::json::object();
  std::size_t i = 0;
  for (const auto& p : parts) j["k" + std::to_string(i++)] = {{"v", p}, {"n", static_cast<std::int64_t>(p.size())}};
  const std::string d = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // Arbitrary bytes may not be UTF-8: compare on what dump() accepts.
  nlohmann::json clean = nlohmann::json::parse(d);
  RC_ASSERT(content_hash_of_dump(clean) == content_hash(clean.dump()));
  RC_ASSERT(dump_size(clean) == clean.dump().size());
}

// The hand-written writer against nlohmann's serializer: any bytes as a string
// value and as a key, with every number form — the same text, or the same throw.
RC_GTEST_PROP(Oracle, AppendDumpWritesWhatDumpWrites, (const std::vector<std::string>& parts, std::int64_t i, double d)) {
  nlohmann::json j = {{"i", i}, {"u", static_cast<std::uint64_t>(i)}, {"d", d}, {"n", nullptr}, {"t", true}, {"f", false}};
  for (const auto& p : parts) {
    j["v" + std::to_string(j.size())] = p;
    j[p] = {p, i};
  }
  std::string want;
  bool want_throw = false;
  try {
    want = j.dump();
  } catch (const nlohmann::json::type_error&) {
    want_throw = true;
  }
  std::string got;
  bool got_throw = false;
  try {
    append_dump(got, j);
  } catch (const nlohmann::json::type_error&) {
    got_throw = true;
  }
  RC_ASSERT(got_throw == want_throw);
  // dump_of, what destinations write items and bodies with, the same.
  std::string of;
  bool of_throw = false;
  try {
    of = dump_of(j);
  } catch (const nlohmann::json::type_error&) {
    of_throw = true;
  }
  RC_ASSERT(of_throw == want_throw);
  if (!want_throw) {
    RC_ASSERT(of == want);
    RC_ASSERT(got == want);
    RC_ASSERT(content_hash_of_dump(j) == content_hash(want));
    RC_ASSERT(dump_size(j) == want.size());
  }
  for (const auto& p : parts) {
    std::string one;
    const bool ok = append_dumped_string(one, p);
    bool valid = true;
    try {
      RC_ASSERT(one == nlohmann::json(p).dump());
    } catch (const nlohmann::json::type_error&) {
      valid = false;
    }
    RC_ASSERT(ok == valid);
    if (!ok) RC_ASSERT(one.empty());
  }
}

// A value as written, or that the writer threw (a string that is not UTF-8).
struct Written {
  std::string text;
  bool threw = false;
};
Written ours(const nlohmann::json& j) {
  Written w;
  try {
    append_dump(w.text, j);
  } catch (const nlohmann::json::type_error&) {
    w.threw = true;
  }
  return w;
}
Written theirs(const nlohmann::json& j) {
  Written w;
  try {
    w.text = j.dump();
  } catch (const nlohmann::json::type_error&) {
    w.threw = true;
  }
  return w;
}

TEST(Oracle, AppendDumpOnTheEdgesOfUtf8) {
  for (const char* s : {"\xc2\x80", "\xc1\xbf", "\xe0\xa0\x80", "\xe0\x9f\xbf", "\xed\x9f\xbf", "\xed\xa0\x80",
                        "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf0\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80",
                        "\xf5\x80\x80\x80", "\xc3", "\xe2\x82", "a\x7f\x1f\x08\x0c", "\x80", "\xff"}) {
    const nlohmann::json j = std::string(s);
    const Written got = ours(j), want = theirs(j);
    EXPECT_EQ(got.threw, want.threw) << s;
    if (!got.threw) EXPECT_EQ(got.text, want.text);
  }
  std::string big = "\"";
  for (int k = 0; k < 100000; ++k) big += "\xc3\xa9";  // a padded record's two-byte characters
  expect_same({{"pad", big}, {"ctl", std::string("\0\x01\x1f", 3)}});
}

// The writer skips plain bytes eight at a time: every byte value, at every
// offset of a word and across word edges, in a run of plain text, is still
// written (or refused) as nlohmann writes it.
TEST(Oracle, AppendDumpFindsEveryByteInsideAPlainRun) {
  for (int b = 0; b < 256; ++b) {
    for (std::size_t at = 0; at < 19; ++at) {
      std::string text(19, 'a');
      text[at] = static_cast<char>(b);
      if (b == 0xC3 && at + 1 < text.size()) text[at + 1] = '\xA9';  // a whole two-byte character too
      const nlohmann::json j = text;
      const Written got = ours(j), want = theirs(j);
      ASSERT_EQ(got.threw, want.threw) << "byte " << b << " at " << at;
      if (!got.threw) {
        ASSERT_EQ(got.text, want.text) << "byte " << b << " at " << at;
        ASSERT_EQ(dump_size(j), want.text.size());
        ASSERT_EQ(content_hash_of_dump(j), content_hash(want.text));
      }
    }
  }
}

// The hash is taken in one call while the dump fits the 8 KiB buffer and
// streamed past it: both give XXH3 of the whole dump, at every size around
// the buffer's edge, written in one piece or in many.
TEST(Oracle, DumpHashAgreesAcrossTheBufferEdge) {
  for (std::size_t n : {0u, 1u, 8188u, 8189u, 8190u, 8191u, 8192u, 8193u, 8194u, 16382u, 16383u, 16384u, 16385u,
                        70'000u}) {
    const nlohmann::json one = std::string(n, 'x');
    EXPECT_EQ(content_hash_of_dump(one), content_hash(one.dump())) << n;
    nlohmann::json many = nlohmann::json::array();
    for (std::size_t i = 0; i < n / 7; ++i) many.push_back(i % 3 ? nlohmann::json("ab") : nlohmann::json(i));
    EXPECT_EQ(content_hash_of_dump(many), content_hash(many.dump())) << n;
  }
}

}  // namespace
}  // namespace destsim
