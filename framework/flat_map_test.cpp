// FlatU64Map against std::map: any sequence of sets and lookups agrees, key 0
// included, across every growth of the table.
#include "framework/flat_map.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
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

TEST(FlatU64Map, OneByteValuesSitBesideTheKeys) {
  FlatU64Map<std::uint8_t> m;
  for (std::uint64_t k = 1; k <= 1000; ++k) m[k] = static_cast<std::uint8_t>(k);
  EXPECT_EQ(m.slot_bytes(), 1369u * 9);  // 16, 24, 36, … 1,369 slots of 8 + 1 bytes: at most three quarters full
  EXPECT_EQ(*m.find(1000), static_cast<std::uint8_t>(1000));
}

TEST(SegmentedVector, GrowsInBlocksThatNeverMove) {
  SegmentedVector<std::uint64_t> v;
  EXPECT_TRUE(v.empty());
  const std::uint64_t& first = v.push_back(41);
  const std::uint64_t* first_address = &first;
  const std::size_t n = 3 * SegmentedVector<std::uint64_t>::kBlock + 5;
  for (std::uint64_t i = 1; i < n; ++i) v.push_back(i * 3);
  ASSERT_EQ(v.size(), n);
  EXPECT_EQ(&v[0], first_address);  // appending never moved the first element
  EXPECT_EQ(v[0], 41u);
  for (std::size_t i = 1; i < n; ++i) ASSERT_EQ(v[i], i * 3) << i;
  std::uint64_t sum = 0;
  v.for_each([&](std::uint64_t x) { sum += x; });
  EXPECT_EQ(sum, 41 + 3 * (n - 1) * n / 2);
  // Iteration visits each element once, in order, across every block size.
  std::size_t i = 0;
  for (const std::uint64_t& x : v) {
    ASSERT_EQ(&x, &v[i]) << i;
    ++i;
  }
  EXPECT_EQ(i, n);
  EXPECT_EQ(&v.back(), &v[n - 1]);
  EXPECT_EQ(std::find(v.begin(), v.end(), 3u * 70'000), std::next(v.begin(), 70'000));
}

// Blocks of 64, 128, … 65,536 elements, then 65,536 each: element i is where
// appending put it at every size around a block's edge, and a reference taken
// early still reads it.
TEST(SegmentedVector, SmallBlocksFirstAndEveryEdgeAddressed) {
  SegmentedVector<std::uint32_t> v;
  EXPECT_EQ(v.begin(), v.end());
  std::vector<const std::uint32_t*> at;
  const std::size_t n = 3 * SegmentedVector<std::uint32_t>::kBlock;
  for (std::size_t i = 0; i < n; ++i) at.push_back(&v.push_back(static_cast<std::uint32_t>(i)));
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_EQ(&v[i], at[i]) << i;
    ASSERT_EQ(v[i], i) << i;
  }
  // Contiguous within a block: 0..63, 64..191, 192..447, …
  EXPECT_EQ(at[63] + 1, at[62] + 2);
  EXPECT_EQ(at[65], at[64] + 1);
  EXPECT_EQ(at[191], at[64] + 127);
  EXPECT_EQ(at[447], at[192] + 255);
  // A copy holds the same elements in blocks of the same capacities:
  // appending to it moves none of its elements.
  SegmentedVector<std::uint32_t> copy = v;
  ASSERT_EQ(copy.size(), n);
  const std::uint32_t* last = &copy[n - 1];
  const std::uint32_t* first = &copy[0];
  for (std::uint32_t k = 0; k < 1000; ++k) copy.push_back(k);
  EXPECT_EQ(&copy[n - 1], last);
  EXPECT_EQ(&copy[0], first);
  EXPECT_EQ(copy[n - 1], n - 1);
  EXPECT_EQ(copy[n + 999], 999u);
  EXPECT_EQ(v.size(), n);  // the original is untouched
  SegmentedVector<int> one;
  one.push_back(7);
  EXPECT_EQ(*one.begin(), 7);
  EXPECT_EQ(std::next(one.begin()), one.end());
  std::size_t mutated = 0;
  for (std::uint32_t& x : v) x += 1, ++mutated;
  EXPECT_EQ(mutated, n);
  EXPECT_EQ(v[n - 1], n);
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
  // 6 bytes a slot, at most three quarters full: 6,927 slots (16 grown by half 15 times) for 5,000 keys.
  EXPECT_EQ(index.slot_bytes(), 6927u * 6);
}

TEST(HashedStringIndex, EqualTagsAreToldApartByTheStrings) {
  // Two strings with one tag and one home slot in a 16-slot table: the second
  // probes past the first, whose tag matches, and only the string tells them apart.
  std::map<std::uint64_t, std::string> seen;  // tag << 4 | home slot → key
  std::string a, b;
  for (int i = 0; a.empty(); ++i) {
    std::string k = "k" + std::to_string(i);
    const std::uint64_t h = HashedStringIndex::hash_of(k);
    auto [it, fresh] = seen.emplace(std::uint64_t{HashedStringIndex::tag_of(h)} << 4 | scaled_slot(h, 16), k);
    if (!fresh) a = it->second, b = k;
  }
  std::vector<std::string> keys = {a, b};
  auto key_at = [&keys](std::size_t i) -> std::string_view { return keys[i]; };
  HashedStringIndex index;
  index.insert(a, 0, key_at);
  EXPECT_FALSE(index.find(b, key_at).has_value());
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
