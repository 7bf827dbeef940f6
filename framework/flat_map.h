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
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "framework/oracle.h"
#include "framework/result.h"

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
/// users, its event ids): the strings are not copied. Each slot is 8 bytes, a
/// 32-bit tag of the string's hash and its position + 1, open-addressed at
/// most three quarters full; a tag match is confirmed by comparing the string
/// itself (`key_at(pos)`), so two strings with one hash or one tag stay two
/// keys. A million keys cost 16 MB, not 48.
class HashedStringIndex {
 public:
  using KeyAt = std::function<std::string_view(std::size_t)>;

  std::optional<std::size_t> find(std::string_view key, const KeyAt& key_at) const {
    if (slots_.empty()) return std::nullopt;
    const std::uint32_t tag = tag_of(key);
    for (std::size_t i = slot_of(tag);; i = (i + 1) & (slots_.size() - 1)) {
      const Slot& s = slots_[i];
      if (s.pos == 0) return std::nullopt;
      if (s.tag == tag && key_at(s.pos - 1) == key) return s.pos - 1;
    }
  }
  /// Points `key` at `pos` (a key already present moves).
  void insert(std::string_view key, std::size_t pos, const KeyAt& key_at) {
    DS_ASSERT(pos < 0xffffffffu && "HashedStringIndex: over 4 billion positions");
    if ((size_ + 1) * 4 > slots_.size() * 3) grow();
    const std::uint32_t tag = tag_of(key);
    std::size_t i = slot_of(tag);
    for (; slots_[i].pos != 0; i = (i + 1) & (slots_.size() - 1)) {
      if (slots_[i].tag == tag && key_at(slots_[i].pos - 1) == key) {
        slots_[i].pos = static_cast<std::uint32_t>(pos + 1);
        return;
      }
    }
    slots_[i] = {tag, static_cast<std::uint32_t>(pos + 1)};
    ++size_;
  }
  std::size_t size() const { return size_; }
  std::size_t slot_bytes() const { return slots_.size() * sizeof(Slot); }

 private:
  struct Slot {
    std::uint32_t tag = 0;
    std::uint32_t pos = 0;  // position + 1; 0 = empty
  };
  static std::uint32_t tag_of(std::string_view key) { return static_cast<std::uint32_t>(fnv1a64(key) >> 32); }
  std::size_t slot_of(std::uint32_t tag) const {
    std::uint64_t k = tag;  // splitmix64's finalizer spreads the tag over the table
    k ^= k >> 30;
    k *= 0xbf58476d1ce4e5b9ULL;
    k ^= k >> 27;
    return static_cast<std::size_t>(k) & (slots_.size() - 1);
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
    for (const Slot& s : old) {
      if (s.pos == 0) continue;
      std::size_t i = slot_of(s.tag);
      while (slots_[i].pos != 0) i = (i + 1) & (slots_.size() - 1);
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
};

/// Strings appended once and read back by an 8-byte handle: a million short
/// names (emails, event ids) cost their bytes plus 8 each, not a std::string
/// (32 bytes) and a heap block. Bytes go into 1 MiB blocks that never move (no
/// doubling copy at a million names); a longer string gets a block of its own.
/// Views returned by get() stay valid as long as the arena.
class StringArena {
 public:
  struct Ref {
    std::uint64_t bits = 0;  // block << 40 | offset << 20 | size (kWhole: the whole block); 0 = ""
  };
  static constexpr std::size_t kBlockBytes = std::size_t{1} << 20;

  Ref add(std::string_view s) {
    if (s.empty()) return {};
    if (s.size() >= kWhole) {  // its own block, sized to it
      blocks_.push_back(std::make_unique<char[]>(s.size()));
      sizes_.push_back(s.size());
      std::memcpy(blocks_.back().get(), s.data(), s.size());
      used_ = kBlockBytes;  // the next short string starts a fresh block
      bytes_ += s.size();
      return Ref{(static_cast<std::uint64_t>(blocks_.size()) << 40) | kWhole};
    }
    if (blocks_.empty() || sizes_.back() != kBlockBytes || used_ + s.size() > kBlockBytes) {
      blocks_.push_back(std::make_unique<char[]>(kBlockBytes));
      sizes_.push_back(kBlockBytes);
      used_ = 0;
    }
    std::memcpy(blocks_.back().get() + used_, s.data(), s.size());
    Ref r{(static_cast<std::uint64_t>(blocks_.size()) << 40) | (static_cast<std::uint64_t>(used_) << 20) | s.size()};
    used_ += s.size();
    bytes_ += s.size();
    return r;
  }
  std::string_view get(Ref r) const {
    if (r.bits == 0) return {};
    const std::size_t block = static_cast<std::size_t>(r.bits >> 40) - 1;
    const std::size_t size = static_cast<std::size_t>(r.bits & kWhole);
    if (size == kWhole) return {blocks_[block].get(), sizes_[block]};
    return {blocks_[block].get() + ((r.bits >> 20) & kWhole), size};
  }
  /// Bytes of the strings held.
  std::size_t bytes() const { return bytes_; }

 private:
  static constexpr std::size_t kWhole = (std::size_t{1} << 20) - 1;  // a size field of all ones
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::vector<std::size_t> sizes_;  // per block: its bytes (kBlockBytes, or a long string's)
  std::size_t used_ = 0;            // bytes used in the last short-string block
  std::size_t bytes_ = 0;
};

}  // namespace destsim
