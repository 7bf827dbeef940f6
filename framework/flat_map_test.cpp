// FlatU64Map against std::map: any sequence of sets and lookups agrees, key 0
// included, across every growth of the table.
#include "framework/flat_map.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <map>

namespace destsim {
namespace {

RC_GTEST_PROP(FlatU64Map, AgreesWithAnOrderedMap, (const std::vector<std::pair<std::uint64_t, int>>& ops)) {
  FlatU64Map<std::int64_t> flat;
  std::map<std::uint64_t, std::int64_t> model;
  for (const auto& [raw, v] : ops) {
    // Few distinct keys half the time (repeats), any key otherwise; 0 included.
    const std::uint64_t key = v % 2 == 0 ? raw % 37 : raw;
    flat[key] += v;
    model[key] += v;
    RC_ASSERT(flat.size() == model.size());
  }
  for (const auto& [k, v] : model) {
    const std::int64_t* got = flat.find(k);
    RC_ASSERT(got != nullptr);
    RC_ASSERT(*got == v);
  }
  for (const auto& [raw, _] : ops) RC_ASSERT(flat.contains(raw + 1) == (model.count(raw + 1) == 1));
}

TEST(FlatU64Map, ManyKeysGrowTheTableAndStayFound) {
  FlatU64Map<std::int64_t> m;
  EXPECT_EQ(m.find(5), nullptr);
  EXPECT_EQ(m.find(0), nullptr);
  for (std::uint64_t k = 0; k < 100000; ++k) m[k * 7919] = static_cast<std::int64_t>(k);
  EXPECT_EQ(m.size(), 100000u);
  for (std::uint64_t k = 0; k < 100000; ++k) {
    ASSERT_NE(m.find(k * 7919), nullptr) << k;
    EXPECT_EQ(*m.find(k * 7919), static_cast<std::int64_t>(k));
  }
  EXPECT_FALSE(m.contains(7919 * 100000ULL));
}

TEST(HashedStringIndex, FindsMovesAndKeepsCollidingTagsApart) {
  std::vector<std::string> keys;
  HashedStringIndex index;
  auto key_at = [&keys](std::size_t i) -> std::string_view { return keys[i]; };
  for (int i = 0; i < 5000; ++i) {
    keys.push_back("user" + std::to_string(i) + "@example.com");
    index.insert(keys.back(), keys.size() - 1, key_at);
  }
  EXPECT_EQ(index.size(), 5000u);
  for (int i = 0; i < 5000; i += 7) EXPECT_EQ(index.find("user" + std::to_string(i) + "@example.com", key_at), i);
  EXPECT_FALSE(index.find("nobody@example.com", key_at).has_value());
  // A key inserted again moves; the count stays.
  keys.push_back("user7@example.com");
  index.insert(keys.back(), keys.size() - 1, key_at);
  EXPECT_EQ(index.find("user7@example.com", key_at), 5000u);
  EXPECT_EQ(index.size(), 5000u);
  // 8 bytes a slot, at most three quarters full.
  EXPECT_LE(index.slot_bytes(), 5000u * 8 * 4 / 3 * 2 + 16 * 8);
}

TEST(HashedStringIndex, EqualTagsAreToldApartByTheStrings) {
  // Find two strings whose 32-bit tags are equal (the upper half of their FNV-1a 64).
  std::map<std::uint32_t, std::string> seen;
  std::string a, b;
  for (int i = 0; a.empty(); ++i) {
    std::string k = "k" + std::to_string(i);
    auto tag = static_cast<std::uint32_t>(fnv1a64(k) >> 32);
    auto [it, fresh] = seen.emplace(tag, k);
    if (!fresh) a = it->second, b = k;
  }
  std::vector<std::string> keys = {a, b};
  auto key_at = [&keys](std::size_t i) -> std::string_view { return keys[i]; };
  HashedStringIndex index;
  index.insert(a, 0, key_at);
  index.insert(b, 1, key_at);
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(index.find(a, key_at), 0u);
  EXPECT_EQ(index.find(b, key_at), 1u);
}

TEST(StringArena, HandsBackWhatWasAdded) {
  StringArena arena;
  auto e = arena.add("");
  auto x = arena.add("user1@example.com");
  auto y = arena.add("default:42");
  EXPECT_EQ(e.bits, 0u);
  EXPECT_EQ(arena.get(e), "");
  EXPECT_EQ(arena.get(x), "user1@example.com");
  EXPECT_EQ(arena.get(y), "default:42");
  EXPECT_EQ(arena.bytes(), 27u);
  // Views stay put while the arena grows past many blocks, and a string over a
  // block's size has one of its own.
  const std::string_view first = arena.get(x);
  std::vector<StringArena::Ref> refs;
  for (int i = 0; i < 200000; ++i) refs.push_back(arena.add("name-" + std::to_string(i) + "@example.com"));
  const std::string big(3 * StringArena::kBlockBytes + 5, 'z');
  auto b = arena.add(big);
  auto after = arena.add("after");
  EXPECT_EQ(first, "user1@example.com");
  EXPECT_EQ(arena.get(refs[123456]), "name-123456@example.com");
  EXPECT_EQ(arena.get(refs.back()), "name-199999@example.com");
  EXPECT_EQ(arena.get(b), big);
  EXPECT_EQ(arena.get(after), "after");
  const std::string edge(StringArena::kBlockBytes - 1, 'e');  // the largest short size is its own block too
  EXPECT_EQ(arena.get(arena.add(edge)), edge);
}

}  // namespace
}  // namespace destsim
