// FlatJson accepts exactly what parse_json_body accepts, reads the values
// nlohmann's DOM would hold, and hashes every value as content_hash_of_dump of
// that DOM — on hand-picked edge cases and on generated documents written
// canonically, reordered, repeated and indented. parse_json_body (simdjson
// first) is held to its reference, nlohmann alone, on the same texts.
#include "framework/flat_json.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "framework/json_in.h"
#include "framework/oracle.h"
#include "framework/rng.h"

namespace destsim {
namespace {

// parse_json_body (simdjson first) reads what its reference (nlohmann alone)
// reads, and refuses what it refuses.
bool body_as_reference(std::string_view text) {
  const nlohmann::json fast = parse_json_body(text), reference = parse_json_body_reference(text);
  return fast.is_discarded() == reference.is_discarded() && json_same_typed(fast, reference);
}

// Parses `text` both ways and compares everything a reader can see.
void expect_same_as_dom(std::string_view text) {
  SCOPED_TRACE(std::string(text.substr(0, 200)));
  EXPECT_TRUE(body_as_reference(text));
  const nlohmann::json dom = parse_json_body(text);
  FlatJson flat;
  const bool ok = flat.parse(text);
  ASSERT_EQ(ok, !dom.is_discarded());
  if (!ok) {
    EXPECT_TRUE(flat.root().absent());
    return;
  }
  EXPECT_EQ(flat.root().to_json(), dom);
  EXPECT_EQ(flat.root().canonical_hash(), content_hash_of_dump(dom));
  EXPECT_EQ(flat.root().size(), dom.is_structured() ? dom.size() : 0);
  if (dom.is_object()) {
    const auto members = flat.root().members();
    ASSERT_EQ(members.size(), dom.size());
    std::size_t i = 0;
    for (auto it = dom.begin(); it != dom.end(); ++it, ++i) {
      EXPECT_EQ(members[i].key, it.key());
      EXPECT_EQ(members[i].value.to_json(), it.value());
      EXPECT_EQ(flat.root()[it.key()].to_json(), it.value());
      EXPECT_EQ(members[i].value.canonical_hash(), content_hash_of_dump(it.value()));
    }
    EXPECT_TRUE(flat.root()["no such key"].absent());
  }
}

TEST(FlatJson, AcceptsAndRefusesWhatParseJsonBodyDoes) {
  for (const char* text : {
           "", " ", "{", "}", "[1,]", "{\"a\":}", "{\"a\" 1}", "nul", "tru", "01", "1.", ".5", "+1", "1e",
           "\"unterminated", "{\"a\":1} trailing", "[1] [2]", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"",
           "\"\\ud800\\u0041\"", "\"a\tb\"", "1e400", "-1e400", "[\"\xff\"]", "[\"\xc3\"]", "[\"\xed\xa0\x80\"]",
           "{\"a\":1}\0", "// c\n1", "[1,2,3,4,5,6,7,8,9,10]",
       }) {
    expect_same_as_dom(text);
  }
  expect_same_as_dom(std::string("[\"a\0b\"]", 7));    // a NUL inside a string: nlohmann refuses it
  expect_same_as_dom(std::string("[1]\0[2]", 7));      // one outside: the pre-check refuses it
  // A NUL after a whole document (nlohmann alone stops reading there and accepts it).
  for (const std::string& text : {std::string("[1]\0", 4), std::string("1\0", 2), std::string("true\0", 5),
                                 std::string("{}\n\0", 4), std::string("\"x\"\0", 4)}) {
    FlatJson flat;
    EXPECT_FALSE(flat.parse(text)) << text.size();
    expect_same_as_dom(text);
  }
  expect_same_as_dom(std::string(kJsonDepthMax, '[') + std::string(kJsonDepthMax, ']'));
  expect_same_as_dom(std::string(kJsonDepthMax + 1, '[') + std::string(kJsonDepthMax + 1, ']'));
  // Objects nest to the same limit (the simdjson walk counts both kinds).
  auto objects = [](std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += "{\"k\":";
    return s + "1" + std::string(n, '}');
  };
  expect_same_as_dom(objects(kJsonDepthMax));
  expect_same_as_dom(objects(kJsonDepthMax + 1));
  expect_same_as_dom("[" + objects(kJsonDepthMax - 1) + "]");
  expect_same_as_dom("[" + objects(kJsonDepthMax) + "]");
}

TEST(FlatJson, ReadsNumbersStringsAndKeysAsTheDomDoes) {
  for (const char* text : {
           "null", "true", "false", "0", "-0", "-0.0", "1.0", "1e2", "1E-2", "0.1", "-7",
           "9223372036854775807", "9223372036854775808", "18446744073709551615", "18446744073709551616",
           "-9223372036854775808", "-9223372036854775809", "123456789012345678901234567890", "5e-324",
           "1.7976931348623157e308", "\"\"", "\"\\u0000\\u001f\\b\\f\\n\\r\\t\\\"\\\\\\/\\u007f\"",
           "\"Zo\\u00eb \xe6\x9d\x8e \\ud83d\\ude80 \xf0\x9f\x9a\x80\"", "{}", "[]", "[[],{},[[{}]]]",
           R"({"b":1,"a":2})", R"({"a":1,"a":2})", R"({"a":1,"b":2,"a":3})", R"({"":0,"a":{"y":1,"x":[3,{"d":1,"c":2}]}})",
           R"({"é":1,"e":2,"z":3,"E":4})", R"({"a\u0000b":1,"a":2})", R"( { "k" : [ 1 , 2 ] } )",
           R"({"events":[{"email":"a@b.c","dataFields":{"n":1.5,"s":"x"}},{"userId":"u"}]})",
           // simdjson refuses an integer past 64 bits: nlohmann parses the
           // whole document instead (such an integer is a float to it).
           R"({"a":[1,"x",{"b":2}],"c":18446744073709551616,"d":-9223372036854775809})",
           // -0 is a signed 0 to nlohmann, 0 unsigned; "-0" in a string is text.
           "[0,-0]", R"({"a":-0})", "-0 ", R"({"d":"2024-01-05","n":0})", R"({"k":"\"-0","v":0})", "[-0.0,0,-0e1,-0E+1]",
       }) {
    expect_same_as_dom(text);
  }
}

TEST(FlatJson, ViewsOfMissingAndMistypedValues) {
  FlatJson f;
  ASSERT_TRUE(f.parse(R"({"s":"x","n":-3,"u":18446744073709551615,"d":2.5,"b":true,"o":{"k":"v"},"a":[1,"2"]})"));
  const JsonView r = f.root();
  EXPECT_EQ(r["s"].str(), "x");
  EXPECT_EQ(r["n"].integer(), -3);
  EXPECT_TRUE(r["u"].is_integer());
  EXPECT_TRUE(r["d"].is_float());
  EXPECT_EQ(r["d"].floating(), 2.5);
  EXPECT_TRUE(r["b"].boolean());
  EXPECT_EQ(r["o"]["k"].str(), "v");
  EXPECT_EQ(r["a"].elements().size(), 2u);
  EXPECT_EQ(r["a"].elements()[1].str(), "2");
  EXPECT_STREQ(r["n"].type_name(), "long");
  EXPECT_STREQ(r["u"].type_name(), "long");
  EXPECT_STREQ(r["d"].type_name(), "double");
  EXPECT_STREQ(r["o"].type_name(), "object");
  EXPECT_STREQ(r["a"].type_name(), "array");
  // Missing or of another type: empty, never a throw.
  EXPECT_TRUE(r["missing"].absent());
  EXPECT_TRUE(r["missing"]["deeper"].absent());
  EXPECT_EQ(r["n"].str(), "");
  EXPECT_EQ(r["s"].integer(), 0);
  EXPECT_TRUE(r["s"].elements().empty());
  EXPECT_TRUE(r["a"].members().empty());
  EXPECT_TRUE(r["a"]["k"].absent());
  // A second parse reuses the buffers; the first document's views are not used after it.
  ASSERT_TRUE(f.parse("[7]"));
  EXPECT_EQ(f.root().elements()[0].integer(), 7);
  EXPECT_FALSE(f.parse("[7"));
  EXPECT_TRUE(f.root().absent());
}

// A random JSON value: every type, keys that sort in any order and repeat,
// strings with control characters, quotes, backslashes and UTF-8.
nlohmann::json random_value(Rng& rng, int depth) {
  static const char* const kPieces[] = {"a", "b", "é", "\x01", "\"", "\\", "\n", "/", "\x7f", "🚀", "Z", "", "\t", "\b", "\f"};
  auto text = [&] {
    std::string s;
    for (std::uint64_t n = rng.below(5); n > 0; --n) s += kPieces[rng.below(std::size(kPieces))];
    return s;
  };
  switch (depth > 3 ? rng.below(6) : rng.below(8)) {
    case 0: return nullptr;
    case 1: return rng.chance(1, 2);
    case 2: return static_cast<std::int64_t>(rng.next_u64());
    case 3: return rng.next_u64();
    case 4: return static_cast<double>(static_cast<std::int64_t>(rng.next_u64() % 100000)) / 7.0;
    case 5: return text();
    case 6: {
      nlohmann::json a = nlohmann::json::array();
      for (std::uint64_t n = rng.below(4); n > 0; --n) a.push_back(random_value(rng, depth + 1));
      return a;
    }
    default: {
      nlohmann::json o = nlohmann::json::object();
      for (std::uint64_t n = rng.below(5); n > 0; --n) o[text()] = random_value(rng, depth + 1);
      return o;
    }
  }
}

// The same value written with its object members reversed, one of them
// repeated first with another value (the last one wins), and spaces.
void write_scrambled(const nlohmann::json& j, std::string& out, Rng& rng) {
  if (j.is_object()) {
    out += "{ ";
    std::vector<std::pair<std::string, const nlohmann::json*>> members;
    for (auto it = j.begin(); it != j.end(); ++it) members.push_back({it.key(), &it.value()});
    std::reverse(members.begin(), members.end());
    bool first = true;
    if (!members.empty() && rng.chance(1, 2)) {
      out += nlohmann::json(members.front().first).dump() + " : \"shadowed\"";
      first = false;
    }
    for (const auto& [k, v] : members) {
      if (!first) out += " , ";
      first = false;
      out += nlohmann::json(k).dump() + " : ";
      write_scrambled(*v, out, rng);
    }
    out += " }";
  } else if (j.is_array()) {
    out += "[ ";
    for (std::size_t i = 0; i < j.size(); ++i) {
      if (i) out += " , ";
      write_scrambled(j[i], out, rng);
    }
    out += " ]";
  } else {
    out += j.dump(-1, ' ', true);  // \u escapes for everything not ASCII: another spelling of the same text
  }
}

RC_GTEST_PROP(FlatJson, HashesAsTheDomDumpForAnyDocument, (std::uint64_t seed)) {
  Rng rng(seed);
  const nlohmann::json j = random_value(rng, 0);
  std::string scrambled;
  write_scrambled(j, scrambled, rng);
  for (const std::string& text : {j.dump(), j.dump(2), scrambled}) {
    RC_ASSERT(body_as_reference(text));
    FlatJson f;
    RC_ASSERT(f.parse(text));
    RC_ASSERT(f.root().to_json() == j);
    RC_ASSERT(f.root().canonical_hash() == content_hash_of_dump(j));
  }
}

// Broken and odd texts: a document's dump with bytes flipped, cut short, or
// spliced with tokens where the two parsers' edges are (integers past 64 bits,
// -0, lone and paired surrogates, exponents, a BOM, control bytes, invalid
// UTF-8, deep nesting). simdjson parses first and nlohmann decides what it
// refuses: whatever the text, FlatJson accepts it exactly when
// parse_json_body does and reads the same values.
RC_GTEST_PROP(FlatJson, AgreesWithParseJsonBodyOnMangledText, (std::uint64_t seed)) {
  static const char* const kSplices[] = {
      "18446744073709551616", "-9223372036854775809", "-0", "1e400", "1E-400", "0.1e1", "\\ud800",
      "\\ud83d\\ude80", "\\udc00", "\xef\xbb\xbf", "\x1f", "\xc3", "\xed\xa0\x80", "[[[[[[[[", "]]]]",
      "{\"\":", ",", ":", "\"", "\\", "nul", "true", "  ", "\n", "123456789012345678901234567890"};
  Rng rng(seed);
  std::string text = random_value(rng, 0).dump();
  for (std::uint64_t n = 1 + rng.below(3); n > 0; --n) {
    const std::size_t at = text.empty() ? 0 : rng.below(text.size() + 1);
    switch (rng.below(5)) {
      case 0: text.insert(at, kSplices[rng.below(std::size(kSplices))]); break;
      case 4: text.insert(at, 1, '\0'); break;
      case 1: if (at < text.size()) text[at] = static_cast<char>(rng.below(256)); break;
      case 2: text.resize(at); break;
      default: if (at < text.size()) text.erase(at, 1 + rng.below(3)); break;
    }
  }
  RC_ASSERT(body_as_reference(text));
  const nlohmann::json dom = parse_json_body(text);
  FlatJson f;
  RC_ASSERT(f.parse(text) == !dom.is_discarded());
  if (dom.is_discarded()) return;
  RC_ASSERT(f.root().to_json() == dom);
  RC_ASSERT(f.root().canonical_hash() == content_hash_of_dump(dom));
}

}  // namespace
}  // namespace destsim
