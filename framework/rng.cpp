#include "framework/rng.h"

#include <charconv>

namespace destsim {

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t derive_seed(std::uint64_t seed, std::string_view label, std::uint64_t index) {
  // FNV-1a over the label, then mixed with the seed and index through SplitMix64.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : label) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  std::uint64_t state = seed ^ h;
  std::uint64_t a = splitmix64(state);
  state ^= index * 0xd1b54a32d192ed03ULL;
  return a ^ splitmix64(state);
}

Rng::Rng(std::uint64_t seed) : seed_(seed) {
  std::uint64_t st = seed;
  for (auto& w : s_) w = splitmix64(st);
}

static inline std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

std::uint64_t Rng::next_u64() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

std::uint64_t Rng::below(std::uint64_t bound) {
  DS_ASSERT(bound > 0);
  // Lemire, "Fast Random Integer Generation in an Interval" (2019).
  std::uint64_t x = next_u64();
  UInt128 m = static_cast<UInt128>(x) * bound;
  std::uint64_t l = static_cast<std::uint64_t>(m);
  if (l < bound) {
    std::uint64_t t = (0 - bound) % bound;
    while (l < t) {
      x = next_u64();
      m = static_cast<UInt128>(x) * bound;
      l = static_cast<std::uint64_t>(m);
    }
  }
  return static_cast<std::uint64_t>(m >> 64);
}

std::int64_t Rng::uniform(std::int64_t lo, std::int64_t hi_exclusive) {
  DS_ASSERT(lo < hi_exclusive);
  std::uint64_t span = static_cast<std::uint64_t>(hi_exclusive) - static_cast<std::uint64_t>(lo);
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(lo) + below(span));
}

bool Rng::chance(std::uint64_t num, std::uint64_t den) {
  DS_ASSERT(den > 0);
  if (num == 0) return false;
  if (num >= den) return true;
  return below(den) < num;
}

Rng Rng::fork() { return Rng(next_u64()); }

Result<Ratio> Ratio::parse(std::string_view text) {
  auto bad = [&] {
    return Error::bad_input("expected a probability as an integer ratio like \"1/200\", \"0\" or \"1\", got \"" +
                            std::string(text) + "\"");
  };
  Ratio r;
  auto slash = text.find('/');
  std::string_view a = text.substr(0, slash);
  std::string_view b = slash == std::string_view::npos ? std::string_view("1") : text.substr(slash + 1);
  auto [p1, e1] = std::from_chars(a.data(), a.data() + a.size(), r.num);
  auto [p2, e2] = std::from_chars(b.data(), b.data() + b.size(), r.den);
  if (a.empty() || b.empty() || e1 != std::errc() || e2 != std::errc() || p1 != a.data() + a.size() ||
      p2 != b.data() + b.size() || r.den == 0 || r.num > r.den) {
    return bad();
  }
  return r;
}

std::string Ratio::to_string() const {
  if (den == 1) return std::to_string(num);
  return std::to_string(num) + "/" + std::to_string(den);
}

}  // namespace destsim
