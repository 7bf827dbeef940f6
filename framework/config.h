// config.h — layered, typed, validated configuration.
//
// A destination declares its keys (`ConfigKey`: name, type, default, doc). A
// config document is resolved against that schema with the layering of the
// reference router: `Router.<DESTINATION>.<key>` overrides `Router.<key>`
// overrides the declared default. Keys may be written flat
// ("Router.ITERABLE.max_retries") or nested ({"Router": {"ITERABLE": {...}}});
// a bare key ("max_retries") is the destination's own setting, equivalent to
// `Router.<DESTINATION>.<key>`. Unknown keys and wrong types are errors naming
// the key and what was expected. Secrets are marked and never printed.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "framework/result.h"
#include "framework/rng.h"
#include "framework/time.h"

namespace destsim {

enum class ConfigType { integer, boolean, string, duration, size, secret, ratio, json };

const char* config_type_name(ConfigType t);

/// One declared configuration key.
struct ConfigKey {
  std::string name;  // snake_case
  ConfigType type;
  nlohmann::json default_value;  // in the same form a user writes it ("10s", "4MB"); null = required
  std::string doc;
  std::int64_t min = INT64_MIN;  // for integer, duration (ns) and size
  std::int64_t max = INT64_MAX;
};

/// A secret value: prints as "***".
struct Secret {
  std::string value;
};

class Config {
 public:
  Config() = default;

  /// Resolves `doc` for `destination` (matched case-insensitively against the
  /// `Router.<NAME>` layer, which is conventionally upper case). `where` prefixes
  /// error messages ("scenarios/x.json: /destination/config").
  static Result<Config> resolve(const nlohmann::json& doc, std::string_view destination,
                                const std::vector<ConfigKey>& schema, std::string_view where = "config");

  std::int64_t integer(std::string_view key) const;
  bool boolean(std::string_view key) const;
  const std::string& string(std::string_view key) const;
  Duration duration(std::string_view key) const;
  std::int64_t size(std::string_view key) const;
  const Secret& secret(std::string_view key) const;
  Ratio ratio(std::string_view key) const;
  const nlohmann::json& json(std::string_view key) const;

  /// Where a key's value came from: "Router.ITERABLE.x", "Router.x" or "default".
  const std::string& source(std::string_view key) const;

  /// Every resolved key with its value (secrets as "***") and source, in schema order.
  nlohmann::json describe() const;
  /// The config as a document that resolves to the same values (secrets kept as
  /// {"secret": "***"} unless `with_secrets`), for writing scenarios out.
  nlohmann::json to_document(bool with_secrets = false) const;
  /// Every secret value, so traces and reports can redact them.
  std::vector<std::string> secret_values() const;
  /// Where the config was read ("scenarios/x.json: /destination/config", or
  /// "config"), so errors found later in a value (an inline spec) name it.
  const std::string& where() const { return where_; }
  /// where() followed by a JSON pointer below the config ("/spec/name").
  std::string where_at(std::string_view pointer) const {
    return where_ + (where_.find(": /") == std::string::npos ? ": " : "") + std::string(pointer);
  }

 private:
  struct Value {
    ConfigType type;
    std::int64_t i = 0;  // integer, boolean, duration ns, size
    std::string s;       // string
    Secret secret;       // secret
    Ratio r;
    nlohmann::json j;    // json; also the value as written
    std::string source;
    bool set = false;
  };
  const Value& get(std::string_view key, ConfigType type) const;
  std::vector<std::string> order_;
  std::map<std::string, Value, std::less<>> values_;
  std::string where_ = "config";
};

}  // namespace destsim
