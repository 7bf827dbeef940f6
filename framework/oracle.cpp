#include "framework/oracle.h"

#include <algorithm>

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack: the streaming hash of one dump
#include <xxhash.h>

#include "framework/trace.h"

namespace destsim {

namespace {
constexpr std::uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr std::uint64_t kFnvPrime = 0x100000001b3ULL;

void fnv_step(std::uint64_t& h, std::string_view bytes) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= kFnvPrime;
  }
}
}  // namespace

std::uint64_t fnv1a64(std::string_view s) {
  std::uint64_t h = kFnvOffset;
  fnv_step(h, s);
  return h;
}

std::uint64_t content_hash(std::string_view s) { return XXH3_64bits(s.data(), s.size()); }

std::string oracle_key_of_dump(std::string_view endpoint, std::string_view canonical) {
  return std::string(endpoint) + "#" + hex16(content_hash(canonical));
}

namespace {

// nlohmann's serializer writes through an output adapter in chunks: these two
// take the bytes as they come, so hashing or measuring a 4 MB record costs no
// 4 MB string (the checkers do both for every record of every case).
class HashSink final : public nlohmann::detail::output_adapter_protocol<char> {
 public:
  HashSink() { XXH3_64bits_reset(&state_); }
  void write_character(char c) override { XXH3_64bits_update(&state_, &c, 1); }
  void write_characters(const char* s, std::size_t n) override { XXH3_64bits_update(&state_, s, n); }
  std::uint64_t digest() const { return XXH3_64bits_digest(&state_); }

 private:
  XXH3_state_t state_;
};

class CountSink final : public nlohmann::detail::output_adapter_protocol<char> {
 public:
  void write_character(char) override { ++n; }
  void write_characters(const char*, std::size_t k) override { n += k; }
  std::size_t n = 0;
};

// As j.dump(): compact, UTF-8 kept, invalid UTF-8 an error.
void serialize(const nlohmann::json& j, nlohmann::detail::output_adapter_t<char> sink) {
  nlohmann::detail::serializer<nlohmann::json> s(std::move(sink), ' ');
  s.dump(j, false, false, 0);
}

}  // namespace

std::uint64_t content_hash_of_dump(const nlohmann::json& j) {
  auto sink = std::make_shared<HashSink>();
  serialize(j, sink);
  return sink->digest();
}

std::size_t dump_size(const nlohmann::json& j) {
  auto sink = std::make_shared<CountSink>();
  serialize(j, sink);
  return sink->n;
}

std::string canonical_object(std::vector<CanonicalMember> members) {
  std::sort(members.begin(), members.end(),
            [](const CanonicalMember& a, const CanonicalMember& b) { return a.key < b.key; });
  std::string out;
  nlohmann::detail::serializer<nlohmann::json> s(nlohmann::detail::output_adapter<char>(out), ' ');
  out.push_back('{');
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (i) out.push_back(',');
    s.dump(nlohmann::json(members[i].key), false, false, 0);  // keys escaped as dump() escapes them
    out.push_back(':');
    s.dump(*members[i].value, false, false, 0);  // appends to `out` as it writes
  }
  out.push_back('}');
  return out;
}

std::string oracle_key(std::string_view endpoint, const nlohmann::json& item) {
  return std::string(endpoint) + "#" + hex16(content_hash_of_dump(item));
}

}  // namespace destsim
