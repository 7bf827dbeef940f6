#include "framework/oracle.h"

#include "framework/trace.h"

namespace destsim {

std::uint64_t fnv1a64(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string oracle_key_of_dump(std::string_view endpoint, std::string_view canonical) {
  return std::string(endpoint) + "#" + hex16(fnv1a64(canonical));
}

std::string oracle_key(std::string_view endpoint, const nlohmann::json& item) {
  return oracle_key_of_dump(endpoint, item.dump());
}

}  // namespace destsim
