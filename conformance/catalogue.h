// catalogue.h — the property ids and titles of CONFORMANCE.md, and nothing else:
// what a scenario file may name in `expect.properties`. The checkers live in
// properties.h; keeping the list apart lets the scenario loader validate ids
// without depending on the runner it feeds.
#pragma once

#include <string>
#include <vector>

namespace destsim {

struct PropertyInfo {
  std::string id;
  std::string title;
};

/// Every property of CONFORMANCE.md, in its order.
const std::vector<PropertyInfo>& property_catalogue();
/// The property with this id, or null.
const PropertyInfo* find_property(const std::string& id);
/// "A1, A2, …" for error messages.
std::string property_ids();

}  // namespace destsim
