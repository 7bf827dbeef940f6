// flat_map.h — a lookup-only hash map from 64-bit keys (hashes, ids) to small
// values, for the indexes that grow with every record of a run (the fakes'
// oracle ledgers and id indexes).
//
// Open addressing with linear probing in one array of {key, value} slots, at
// most half full: 32 bytes per entry instead of a node-based map's ~64-80, and
// one cache line per lookup. It has no iteration on purpose: nothing can take
// an order from it (the determinism law), so a caller that must list its
// entries keeps them in order elsewhere. Keys are mixed (a 64-bit finalizer)
// before probing, so sequential ids spread out as well as hashes do.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "framework/oracle.h"

namespace destsim {

template <class V>
class FlatU64Map {
 public:
  /// The value of `key`, default-constructed on first use.
  V& operator[](std::uint64_t key) {
    if (key == kEmpty) {
      has_empty_key_ = true;
      return empty_key_value_;
    }
    if ((size_ + 1) * 2 > slots_.size()) grow();
    std::size_t i = slot_of(key);
    while (slots_[i].first != kEmpty && slots_[i].first != key) i = (i + 1) & (slots_.size() - 1);
    if (slots_[i].first == kEmpty) {
      slots_[i].first = key;
      ++size_;
    }
    return slots_[i].second;
  }
  /// The value of `key`, or nullptr when it was never set.
  const V* find(std::uint64_t key) const {
    if (key == kEmpty) return has_empty_key_ ? &empty_key_value_ : nullptr;
    if (slots_.empty()) return nullptr;
    for (std::size_t i = slot_of(key);; i = (i + 1) & (slots_.size() - 1)) {
      if (slots_[i].first == key) return &slots_[i].second;
      if (slots_[i].first == kEmpty) return nullptr;
    }
  }
  bool contains(std::uint64_t key) const { return find(key) != nullptr; }
  std::size_t size() const { return size_ + (has_empty_key_ ? 1 : 0); }
  void reserve(std::size_t n) {
    while (slots_.size() < 2 * n) grow();
  }

 private:
  static constexpr std::uint64_t kEmpty = 0;  // key 0 lives beside the table

  static std::uint64_t mix(std::uint64_t k) {  // splitmix64's finalizer
    k ^= k >> 30;
    k *= 0xbf58476d1ce4e5b9ULL;
    k ^= k >> 27;
    k *= 0x94d049bb133111ebULL;
    return k ^ (k >> 31);
  }
  std::size_t slot_of(std::uint64_t key) const { return static_cast<std::size_t>(mix(key)) & (slots_.size() - 1); }
  void grow() {
    std::vector<std::pair<std::uint64_t, V>> old = std::move(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, {kEmpty, V{}});
    for (auto& [k, v] : old) {
      if (k == kEmpty) continue;
      std::size_t i = slot_of(k);
      while (slots_[i].first != kEmpty) i = (i + 1) & (slots_.size() - 1);
      slots_[i] = {k, std::move(v)};
    }
  }

  std::vector<std::pair<std::uint64_t, V>> slots_;
  std::size_t size_ = 0;  // keys in slots_
  bool has_empty_key_ = false;
  V empty_key_value_{};
};

/// An index from strings to positions in a sequence the caller keeps (its
/// users, its event ids): the strings are not copied, only their FNV-1a hash,
/// in a FlatU64Map. A string whose hash is already another string's goes to a
/// small ordered map, so a hash collision never merges two keys. `key_at(pos)`
/// gives the string at a position.
class HashedStringIndex {
 public:
  using KeyAt = std::function<std::string_view(std::size_t)>;

  std::optional<std::size_t> find(std::string_view key, const KeyAt& key_at) const {
    if (const std::uint32_t* p = by_hash_.find(fnv1a64(key)); p && key_at(*p - 1) == key) return *p - 1;
    if (auto it = clashes_.find(key); it != clashes_.end()) return it->second;
    return std::nullopt;
  }
  /// Points `key` at `pos` (a key already present moves).
  void insert(std::string_view key, std::size_t pos, const KeyAt& key_at) {
    std::uint32_t& p = by_hash_[fnv1a64(key)];
    if (p == 0 || key_at(p - 1) == key) {
      p = static_cast<std::uint32_t>(pos + 1);
    } else {
      clashes_[std::string(key)] = pos;
    }
  }
  std::size_t clashes() const { return clashes_.size(); }

 private:
  FlatU64Map<std::uint32_t> by_hash_;  // position + 1; 0 = none
  std::map<std::string, std::size_t, std::less<>> clashes_;
};

}  // namespace destsim
