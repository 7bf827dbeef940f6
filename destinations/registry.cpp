// registry.cpp — the one explicit list of destinations. Adding a destination
// adds one line here (and its folder, and its fake's folder).
#include "destinations/declarative/declarative.h"
#include "destinations/destination.h"
#include "destinations/iterable/iterable.h"
#include "destinations/klaviyo/klaviyo.h"
#include "destinations/marketo/marketo.h"

namespace destsim {

const std::vector<DestinationEntry>& destination_registry() {
  static const std::vector<DestinationEntry> registry = {
      iterable_destination(),
      declarative_destination(),
      klaviyo_destination(),
      marketo_destination(),
  };
  return registry;
}

const DestinationEntry* find_destination(const std::string& name) {
  for (const auto& e : destination_registry())
    if (e.name == name) return &e;
  return nullptr;
}

std::string destination_names() {
  std::string out;
  for (const auto& e : destination_registry()) out += (out.empty() ? "" : ", ") + e.name;
  return out;
}

const char* delivery_semantics_name(DeliverySemantics d) {
  return d == DeliverySemantics::exactly_once ? "exactly-once" : "at-least-once";
}

}  // namespace destsim
