// rng.h — the one source of randomness: a seeded, fixed-algorithm PRNG.
//
// Algorithm: xoshiro256** (Blackman & Vigna, 2018), state seeded by SplitMix64
// from a 64-bit seed. Distributions are our own (Lemire's nearly-divisionless
// bounded integers), never std::*_distribution, whose output differs between
// standard libraries. Probabilities are integer ratios; no floating point in the
// API. The output for a given seed is pinned by golden-value tests.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "framework/result.h"

namespace destsim {

/// An integer ratio num/den used as a probability (0/1 never, 1/1 always).
struct Ratio {
  std::uint64_t num = 0;
  std::uint64_t den = 1;
  /// Parses "1/200", "0", "1", "3/4"; the result satisfies num <= den, den > 0.
  static Result<Ratio> parse(std::string_view text);
  std::string to_string() const;
};

/// SplitMix64 step; also used to derive seeds ("seed for case i of destination d").
std::uint64_t splitmix64(std::uint64_t& state);

/// Mixes values into one derived seed, stable across platforms.
std::uint64_t derive_seed(std::uint64_t seed, std::string_view label, std::uint64_t index = 0);

class Rng {
 public:
  explicit Rng(std::uint64_t seed);

  /// The next raw 64 bits.
  std::uint64_t next_u64();

  /// Uniform integer in [lo, hi_exclusive); asserts lo < hi_exclusive.
  std::int64_t uniform(std::int64_t lo, std::int64_t hi_exclusive);

  /// Uniform integer in [0, bound); asserts bound > 0.
  std::uint64_t below(std::uint64_t bound);

  /// True with probability num/den.
  bool chance(std::uint64_t num, std::uint64_t den);
  bool chance(const Ratio& r) { return chance(r.num, r.den); }

  /// An independent stream: a new Rng seeded from this one's next output.
  Rng fork();

  /// The seed this Rng was constructed with (forks report their derived seed).
  std::uint64_t seed() const { return seed_; }

 private:
  std::uint64_t s_[4];
  std::uint64_t seed_;
};

}  // namespace destsim
