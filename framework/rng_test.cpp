#include "framework/rng.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <set>

namespace destsim {
namespace {

TEST(SplitMix64, MatchesReferenceVector) {
  // Reference: Vigna's splitmix64.c with x = 0 yields e220a8397b1dcdaf first.
  std::uint64_t state = 0;
  EXPECT_EQ(splitmix64(state), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(splitmix64(state), 0x6e789e6aa1b965f4ULL);
}

// Golden values (cross-checked against an independent Python implementation of
// SplitMix64 + xoshiro256** + Lemire) pin the algorithm: any change to seeding, xoshiro256** or the
// bounded-integer method changes every trace, so it must be deliberate.
TEST(Rng, GoldenValuesForSeed42) {
  Rng rng(42);
  std::vector<std::uint64_t> got;
  for (int i = 0; i < 4; ++i) got.push_back(rng.next_u64());
  EXPECT_EQ(got, (std::vector<std::uint64_t>{0x15780b2e0c2ec716ULL, 0x6104d9866d113a7eULL, 0xae17533239e499a1ULL, 0xecb8ad4703b360a1ULL}));
  Rng r2(42);
  std::vector<std::int64_t> bounded;
  for (int i = 0; i < 6; ++i) bounded.push_back(r2.uniform(0, 100));
  EXPECT_EQ(bounded, (std::vector<std::int64_t>{8, 37, 68, 92, 99, 76}));
}

TEST(Rng, SameSeedSameStreamDifferentSeedDifferentStream) {
  Rng a(7), b(7), c(8);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    auto x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    differs |= x != c.next_u64();
  }
  EXPECT_TRUE(differs);
}

RC_GTEST_PROP(Rng, UniformStaysInRange, (std::uint64_t seed, int lo, unsigned span)) {
  RC_PRE(span > 0u);
  Rng rng(seed);
  std::int64_t hi = static_cast<std::int64_t>(lo) + span;
  for (int i = 0; i < 50; ++i) {
    auto v = rng.uniform(lo, hi);
    RC_ASSERT(v >= lo);
    RC_ASSERT(v < hi);
  }
}

TEST(Rng, UniformCoversSmallRangeEvenly) {
  Rng rng(1);
  std::array<int, 6> counts{};
  for (int i = 0; i < 60000; ++i) ++counts[static_cast<size_t>(rng.uniform(0, 6))];
  for (int c : counts) {
    EXPECT_GT(c, 9400);
    EXPECT_LT(c, 10600);
  }
}

TEST(Rng, ChanceHonoursRatios) {
  Rng rng(3);
  int hits = 0;
  for (int i = 0; i < 100000; ++i) hits += rng.chance(1, 4);
  EXPECT_GT(hits, 24000);
  EXPECT_LT(hits, 26000);
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(rng.chance(0, 5));
    EXPECT_TRUE(rng.chance(5, 5));
  }
}

TEST(Rng, ForkGivesIndependentReproducibleStreams) {
  Rng a(9), b(9);
  Rng fa = a.fork(), fb = b.fork();
  EXPECT_EQ(fa.next_u64(), fb.next_u64());
  EXPECT_NE(fa.next_u64(), a.next_u64());
}

TEST(Ratio, ParsesAndRejects) {
  EXPECT_EQ(Ratio::parse("1/200").value().den, 200u);
  EXPECT_EQ(Ratio::parse("1").value().num, 1u);
  EXPECT_EQ(Ratio::parse("0").value().num, 0u);
  EXPECT_FALSE(Ratio::parse("3/2").ok());
  EXPECT_FALSE(Ratio::parse("1/0").ok());
  EXPECT_FALSE(Ratio::parse("0.5").ok());
  EXPECT_FALSE(Ratio::parse("").ok());
}

TEST(DeriveSeed, StableAndSensitiveToEveryInput) {
  auto s = derive_seed(1, "iterable", 0);
  EXPECT_EQ(s, derive_seed(1, "iterable", 0));
  EXPECT_NE(s, derive_seed(2, "iterable", 0));
  EXPECT_NE(s, derive_seed(1, "marketo", 0));
  EXPECT_NE(s, derive_seed(1, "iterable", 1));
}

}  // namespace
}  // namespace destsim
