// flat_map.h — a lookup-only hash map from 64-bit keys (hashes, ids) to small
// values, for the indexes that grow with every record of a run (the fakes'
// oracle ledgers and id indexes).
//
// Open addressing with linear probing over keys and values in two arrays (a
// one-byte value costs 9 bytes a slot), at most three quarters full. Tables of
// any size, not only powers of two: a key's home slot is its mixed hash scaled
// to the size (multiply-shift), so a table grows by half, not double, and a
// million keys take 1.4 million slots, not 2.1 million. It has no iteration on purpose: nothing can take
// an order from it (the determinism law), so a caller that must list its
// entries keeps them in order elsewhere. Keys are mixed (a 64-bit finalizer)
// before probing, so sequential ids spread out as well as hashes do.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "framework/oracle.h"
#include "framework/result.h"

namespace destsim {

/// A well-mixed 64-bit hash scaled to a slot of a table of `n` (multiply-shift:
/// any n, no modulo).
inline std::size_t scaled_slot(std::uint64_t hash, std::size_t n) {
  return static_cast<std::size_t>((static_cast<UInt128>(hash) * n) >> 64);
}
/// The next size of a growing table: half as large again (16 to start).
inline std::size_t grown_size(std::size_t n) { return n == 0 ? 16 : n + n / 2; }

template <class V>
class FlatU64Map {
 public:
  /// The value of `key`, default-constructed on first use.
  V& operator[](std::uint64_t key) {
    if (key == kEmpty) {
      has_empty_key_ = true;
      return empty_key_value_;
    }
    if ((size_ + 1) * 4 > keys_.size() * 3) grow();
    std::size_t i = slot_of(key);
    while (keys_[i] != kEmpty && keys_[i] != key) i = next(i);
    if (keys_[i] == kEmpty) {
      keys_[i] = key;
      ++size_;
    }
    return values_[i];
  }
  /// The value of `key`, or nullptr when it was never set.
  const V* find(std::uint64_t key) const {
    if (key == kEmpty) return has_empty_key_ ? &empty_key_value_ : nullptr;
    if (keys_.empty()) return nullptr;
    for (std::size_t i = slot_of(key);; i = next(i)) {
      if (keys_[i] == key) return &values_[i];
      if (keys_[i] == kEmpty) return nullptr;
    }
  }
  bool contains(std::uint64_t key) const { return find(key) != nullptr; }
  std::size_t size() const { return size_ + (has_empty_key_ ? 1 : 0); }
  void reserve(std::size_t n) {
    while (n * 4 > keys_.size() * 3) grow();
  }
  /// Bytes of the table (keys and values side by side: a one-byte value costs 9 bytes a slot, not 16).
  std::size_t slot_bytes() const { return keys_.size() * (sizeof(std::uint64_t) + sizeof(V)); }

 private:
  static constexpr std::uint64_t kEmpty = 0;  // key 0 lives beside the table

  static std::uint64_t mix(std::uint64_t k) {  // splitmix64's finalizer
    k ^= k >> 30;
    k *= 0xbf58476d1ce4e5b9ULL;
    k ^= k >> 27;
    k *= 0x94d049bb133111ebULL;
    return k ^ (k >> 31);
  }
  std::size_t slot_of(std::uint64_t key) const { return scaled_slot(mix(key), keys_.size()); }
  std::size_t next(std::size_t i) const { return i + 1 == keys_.size() ? 0 : i + 1; }
  void grow() {
    std::vector<std::uint64_t> old_keys = std::move(keys_);
    std::vector<V> old_values = std::move(values_);
    const std::size_t n = grown_size(old_keys.size());
    keys_.assign(n, kEmpty);
    values_.assign(n, V{});
    for (std::size_t j = 0; j < old_keys.size(); ++j) {
      if (old_keys[j] == kEmpty) continue;
      std::size_t i = slot_of(old_keys[j]);
      while (keys_[i] != kEmpty) i = next(i);
      keys_[i] = old_keys[j];
      values_[i] = std::move(old_values[j]);
    }
  }

  std::vector<std::uint64_t> keys_;  // kEmpty: a free slot
  std::vector<V> values_;            // beside keys_, slot for slot
  std::size_t size_ = 0;  // keys in keys_
  bool has_empty_key_ = false;
  V empty_key_value_{};
};

/// A sequence that only grows, in blocks that never move: 64 elements, then
/// 128, doubling to 65,536, then 65,536 at a time. A million-element sequence
/// never holds a doubling copy of itself (nor relocates its elements, which a
/// growing vector does about twice each), a reference to an element stays
/// valid while more are appended, and a small one stays small.
template <class T>
class SegmentedVector {
  static constexpr std::size_t kFirstShift = 6;
  static constexpr std::size_t kFirst = std::size_t{1} << kFirstShift;

 public:
  static constexpr std::size_t kBlockShift = 16;
  static constexpr std::size_t kBlock = std::size_t{1} << kBlockShift;

  SegmentedVector() = default;
  SegmentedVector(SegmentedVector&&) noexcept = default;
  SegmentedVector& operator=(SegmentedVector&&) noexcept = default;
  /// A copy reserves each block to its capacity too, so appending to it
  /// moves nothing either.
  SegmentedVector(const SegmentedVector& o) : size_(o.size_) {
    blocks_.reserve(o.blocks_.size());
    for (std::size_t b = 0; b < o.blocks_.size(); ++b) {
      std::vector<T> block;
      block.reserve(capacity(b));
      block.insert(block.end(), o.blocks_[b].begin(), o.blocks_[b].end());
      blocks_.push_back(std::move(block));
    }
  }
  SegmentedVector& operator=(const SegmentedVector& o) {
    if (this != &o) *this = SegmentedVector(o);
    return *this;
  }

  T& push_back(T value) {
    if (blocks_.empty() || blocks_.back().size() == capacity(blocks_.size() - 1)) {
      std::vector<T> block;
      block.reserve(capacity(blocks_.size()));  // reserved, not filled: pages are touched as used
      blocks_.push_back(std::move(block));      // added only once reserved (a failed reserve leaves none)
    }
    T& added = blocks_.back().emplace_back(std::move(value));
    ++size_;
    return added;
  }
  T& operator[](std::size_t i) {
    const auto [b, at] = locate(i);
    return blocks_[b][at];
  }
  const T& operator[](std::size_t i) const {
    const auto [b, at] = locate(i);
    return blocks_[b][at];
  }
  T& back() { return blocks_.back().back(); }
  const T& back() const { return blocks_.back().back(); }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  template <class F>
  void for_each(F&& f) const {
    for (const auto& block : blocks_)
      for (const T& x : block) f(x);
  }

  /// Forward iteration in order (block by block).
  template <bool Const>
  class Iter {
    using Owner = std::conditional_t<Const, const SegmentedVector, SegmentedVector>;

   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = std::conditional_t<Const, const T*, T*>;
    using reference = std::conditional_t<Const, const T&, T&>;
    Iter() = default;
    Iter(Owner* v, std::size_t block, std::size_t at) : v_(v), block_(block), at_(at) {}
    reference operator*() const { return v_->blocks_[block_][at_]; }
    pointer operator->() const { return &**this; }
    Iter& operator++() {
      if (++at_ == v_->blocks_[block_].size()) {
        ++block_;
        at_ = 0;
      }
      return *this;
    }
    Iter operator++(int) {
      Iter was = *this;
      ++*this;
      return was;
    }
    bool operator==(const Iter& o) const { return block_ == o.block_ && at_ == o.at_; }

   private:
    Owner* v_ = nullptr;
    std::size_t block_ = 0, at_ = 0;
  };
  using iterator = Iter<false>;
  using const_iterator = Iter<true>;
  iterator begin() { return {this, 0, 0}; }
  iterator end() { return {this, blocks_.size(), 0}; }
  const_iterator begin() const { return {this, 0, 0}; }
  const_iterator end() const { return {this, blocks_.size(), 0}; }

 private:
  // Block b holds kFirst << b elements up to kBlock, then kBlock each.
  static std::size_t capacity(std::size_t b) {
    return b < kBlockShift - kFirstShift ? kFirst << b : kBlock;
  }
  // The block and place of element i.
  static std::pair<std::size_t, std::size_t> locate(std::size_t i) {
    constexpr std::size_t kGrown = kBlock - kFirst;  // elements in the doubling blocks before the first full-size one
    if (i < kGrown) {
      const std::size_t b = static_cast<std::size_t>(std::bit_width((i >> kFirstShift) + 1)) - 1;
      return {b, i - ((std::size_t{1} << b) - 1) * kFirst};
    }
    const std::size_t j = i - kGrown;
    return {kBlockShift - kFirstShift + (j >> kBlockShift), j & (kBlock - 1)};
  }

  std::vector<std::vector<T>> blocks_;  // each reserved to its capacity once, so it never reallocates
  std::size_t size_ = 0;
};

/// An index from strings to positions in a sequence the caller keeps (its
/// users, its event ids): the strings are not copied. Each slot is 6 bytes —
/// the position + 1 (4 bytes) and a 16-bit tag of the string's hash (2 bytes,
/// in a second array) — open-addressed at most three quarters full from the
/// hash scaled to the table (tables grow by half, as FlatU64Map's); a tag match is confirmed by comparing the string itself
/// (`key_at(pos)`), so two strings with one hash or one tag stay two keys, and
/// growing re-hashes the strings. A million keys cost 8.3 MB, not 48.
class HashedStringIndex {
 public:
  using KeyAt = std::function<std::string_view(std::size_t)>;

  /// The 64-bit hash a key is placed by (XXH3): its slot scales it to the table (its high bits decide), its tag is its low 16 bits.
  static std::uint64_t hash_of(std::string_view key) { return content_hash(key); }
  static std::uint16_t tag_of(std::uint64_t hash) { return static_cast<std::uint16_t>(hash); }

  std::optional<std::size_t> find(std::string_view key, const KeyAt& key_at) const {
    if (pos_.empty()) return std::nullopt;
    const std::uint64_t h = hash_of(key);
    const std::uint16_t tag = tag_of(h);
    for (std::size_t i = scaled_slot(h, pos_.size());; i = next(i)) {
      if (pos_[i] == 0) return std::nullopt;
      if (tags_[i] == tag && key_at(pos_[i] - 1) == key) return pos_[i] - 1;
    }
  }
  /// Points `key` at `pos` (a key already present moves).
  void insert(std::string_view key, std::size_t pos, const KeyAt& key_at) {
    DS_ASSERT(pos < 0xffffffffu && "HashedStringIndex: over 4 billion positions");
    if ((size_ + 1) * 4 > pos_.size() * 3) grow(key_at);
    const std::uint64_t h = hash_of(key);
    const std::uint16_t tag = tag_of(h);
    std::size_t i = scaled_slot(h, pos_.size());
    for (; pos_[i] != 0; i = next(i)) {
      if (tags_[i] == tag && key_at(pos_[i] - 1) == key) {
        pos_[i] = static_cast<std::uint32_t>(pos + 1);
        return;
      }
    }
    pos_[i] = static_cast<std::uint32_t>(pos + 1);
    tags_[i] = tag;
    ++size_;
  }
  std::size_t size() const { return size_; }
  std::size_t slot_bytes() const { return pos_.size() * (sizeof(std::uint32_t) + sizeof(std::uint16_t)); }

 private:
  std::size_t next(std::size_t i) const { return i + 1 == pos_.size() ? 0 : i + 1; }
  void grow(const KeyAt& key_at) {
    std::vector<std::uint32_t> old = std::move(pos_);
    const std::size_t n = grown_size(old.size());
    pos_.assign(n, 0);
    tags_.assign(n, 0);
    for (std::uint32_t p : old) {
      if (p == 0) continue;
      const std::uint64_t h = hash_of(key_at(p - 1));
      std::size_t i = scaled_slot(h, n);
      while (pos_[i] != 0) i = next(i);
      pos_[i] = p;
      tags_[i] = tag_of(h);
    }
  }

  std::vector<std::uint32_t> pos_;   // position + 1; 0 = empty
  std::vector<std::uint16_t> tags_;  // beside pos_, slot for slot
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
      blocks_.push_back(std::make_unique_for_overwrite<char[]>(s.size()));
      sizes_.push_back(s.size());
      std::memcpy(blocks_.back().get(), s.data(), s.size());
      used_ = kBlockBytes;  // the next short string starts a fresh block
      bytes_ += s.size();
      return Ref{(static_cast<std::uint64_t>(blocks_.size()) << 40) | kWhole};
    }
    if (blocks_.empty() || sizes_.back() != kBlockBytes || used_ + s.size() > kBlockBytes) {
      blocks_.push_back(std::make_unique_for_overwrite<char[]>(kBlockBytes));  // not zeroed: a 100-record run touches one page
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
