// catalog.h — every fake that `destsim serve` can put behind the HTTP door.
//
// One explicit list (catalog.cpp), so a reader sees them all and nothing is
// dropped by the linker. Each entry builds a fresh fake from a JSON options
// object; bad options are an error naming the key.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fakes/fake_api.h"
#include "framework/result.h"

namespace destsim {

struct FakeEntry {
  std::string name;
  std::string about;
  /// Builds a fake; `options` is an object of fake-specific settings.
  /// An HTTP fake (FakeApi) or a file-server fake (FileFake).
  std::function<Result<std::unique_ptr<Fake>>(const nlohmann::json& options, const std::string& where)> make;
};

const std::vector<FakeEntry>& fake_catalog();
const FakeEntry* find_fake(const std::string& name);

}  // namespace destsim
