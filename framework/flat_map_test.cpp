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

}  // namespace
}  // namespace destsim
