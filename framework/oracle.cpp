#include "framework/oracle.h"

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

std::string oracle_key_of_dump(std::string_view endpoint, std::string_view canonical) {
  return std::string(endpoint) + "#" + hex16(fnv1a64(canonical));
}

namespace {

// nlohmann's serializer writes through an output adapter in chunks: these two
// take the bytes as they come, so hashing or measuring a 4 MB record costs no
// 4 MB string (the checkers do both for every record of every case).
class FnvSink final : public nlohmann::detail::output_adapter_protocol<char> {
 public:
  void write_character(char c) override { fnv_step(h, std::string_view(&c, 1)); }
  void write_characters(const char* s, std::size_t n) override { fnv_step(h, std::string_view(s, n)); }
  std::uint64_t h = kFnvOffset;
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

std::uint64_t fnv1a64_of_dump(const nlohmann::json& j) {
  auto sink = std::make_shared<FnvSink>();
  serialize(j, sink);
  return sink->h;
}

std::size_t dump_size(const nlohmann::json& j) {
  auto sink = std::make_shared<CountSink>();
  serialize(j, sink);
  return sink->n;
}

std::string oracle_key(std::string_view endpoint, const nlohmann::json& item) {
  return std::string(endpoint) + "#" + hex16(fnv1a64_of_dump(item));
}

}  // namespace destsim
