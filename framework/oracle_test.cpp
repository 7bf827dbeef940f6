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

}  // namespace
}  // namespace destsim
