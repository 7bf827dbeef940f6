#include "framework/oracle.h"

#include "framework/trace.h"

namespace destsim {

std::string oracle_key(std::string_view endpoint, const nlohmann::json& item) {
  const std::string canonical = item.dump();
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : canonical) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return std::string(endpoint) + "#" + hex16(h);
}

}  // namespace destsim
