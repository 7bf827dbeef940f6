#include "framework/config.h"

#include "framework/json_in.h"

#include <cctype>

namespace destsim {

const char* config_type_name(ConfigType t) {
  switch (t) {
    case ConfigType::integer: return "integer";
    case ConfigType::boolean: return "boolean";
    case ConfigType::string: return "string";
    case ConfigType::duration: return "duration string like \"10s\"";
    case ConfigType::size: return "size string like \"4MB\"";
    case ConfigType::secret: return "secret ({\"secret\": \"...\"} or a string)";
    case ConfigType::ratio: return "ratio string like \"1/200\"";
    case ConfigType::json: return "JSON value";
  }
  return "?";
}

namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// Flattens the document into (layer, key) → (value, json path).
struct Entry {
  nlohmann::json value;
  std::string path;
};

}  // namespace

Result<Config> Config::resolve(const nlohmann::json& doc, std::string_view destination,
                               const std::vector<ConfigKey>& schema, std::string_view where) {
  // "file: /json/path" → errors read "file: /json/path/key: …".
  std::string w(where), base;
  if (auto split = w.find(": /"); split != std::string::npos) {
    base = w.substr(split + 2);
    w.resize(split);
  }
  if (!doc.is_null() && !doc.is_object())
    return Error::bad_input(w + ": " + (base.empty() ? "/" : base) + ": expected an object of configuration keys");
  const std::string dest_upper = upper(destination);

  std::map<std::string, const ConfigKey*, std::less<>> known;
  for (const auto& k : schema) known.emplace(k.name, &k);

  // dest_layer: Router.<DEST>.<key> and bare keys; router_layer: Router.<key>.
  std::map<std::string, Entry, std::less<>> dest_layer, router_layer;
  auto put = [&](std::map<std::string, Entry, std::less<>>& layer, const std::string& key, const nlohmann::json& v,
                 const std::string& rel) -> Status {
    const std::string path = base + rel;
    if (!known.count(key)) {
      std::string names;
      for (const auto& k : schema) names += (names.empty() ? "" : ", ") + k.name;
      return Error::bad_input(w + ": " + path + ": unknown key \"" + key + "\" (known keys: " + names + ")");
    }
    if (layer.count(key)) return Error::bad_input(w + ": " + path + ": key \"" + key + "\" is given twice");
    layer.emplace(key, Entry{v, path});
    return Status::success();
  };

  auto handle_router_object = [&](const nlohmann::json& obj, const std::string& base) -> Status {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      std::string path = base + "/" + json_pointer_escape(it.key());
      if (it.value().is_object() && !known.count(it.key())) {
        // A destination layer: Router.<NAME>.
        if (upper(it.key()) != dest_upper) continue;  // another destination's layer
        for (auto jt = it.value().begin(); jt != it.value().end(); ++jt) {
          Status s = put(dest_layer, jt.key(), jt.value(), path + "/" + json_pointer_escape(jt.key()));
          if (!s) return s;
        }
      } else {
        Status s = put(router_layer, it.key(), it.value(), path);
        if (!s) return s;
      }
    }
    return Status::success();
  };

  if (doc.is_object()) {
    for (auto it = doc.begin(); it != doc.end(); ++it) {
      const std::string& key = it.key();
      std::string path = "/" + json_pointer_escape(key);
      if (key == "Router") {
        if (!it.value().is_object()) return Error::bad_input(w + ": " + base + path + ": expected an object");
        Status s = handle_router_object(it.value(), path);
        if (!s) return s.error();
      } else if (key.rfind("Router.", 0) == 0) {
        std::string rest = key.substr(7);
        auto dot = rest.find('.');
        if (dot == std::string::npos) {
          Status s = put(router_layer, rest, it.value(), path);
          if (!s) return s.error();
        } else {
          if (upper(rest.substr(0, dot)) != dest_upper) continue;
          Status s = put(dest_layer, rest.substr(dot + 1), it.value(), path);
          if (!s) return s.error();
        }
      } else {
        Status s = put(dest_layer, key, it.value(), path);
        if (!s) return s.error();
      }
    }
  }

  Config cfg;
  cfg.where_ = std::string(where);
  for (const auto& k : schema) {
    Value v;
    v.type = k.type;
    nlohmann::json raw = k.default_value;
    std::string path = "default";
    v.source = "default";
    if (auto it = dest_layer.find(k.name); it != dest_layer.end()) {
      raw = it->second.value;
      path = it->second.path;
      v.source = "Router." + dest_upper + "." + k.name;
    } else if (auto jt = router_layer.find(k.name); jt != router_layer.end()) {
      raw = jt->second.value;
      path = jt->second.path;
      v.source = "Router." + k.name;
    }
    auto bad = [&](const std::string& what) {
      return Error::bad_input(w + ": " + (path == "default" ? "default of " + k.name : path) + ": expected " + what);
    };
    if (raw.is_null()) {
      if (k.type == ConfigType::json) {
        v.j = raw;
        v.set = true;
        cfg.order_.push_back(k.name);
        cfg.values_.emplace(k.name, std::move(v));
        continue;
      }
      return Error::bad_input(w + ": " + (base.empty() ? "/" : base) + ": missing required key \"" + k.name +
                              "\" (" + config_type_name(k.type) + ")");
    }
    v.j = raw;
    v.set = true;
    switch (k.type) {
      case ConfigType::integer:
        if (!raw.is_number_integer()) return bad("an integer");
        v.i = raw.get<std::int64_t>();
        if (v.i < k.min || v.i > k.max)
          return bad("an integer in [" + std::to_string(k.min) + ", " + std::to_string(k.max) + "], got " +
                     std::to_string(v.i));
        break;
      case ConfigType::boolean:
        if (!raw.is_boolean()) return bad("true or false");
        v.i = raw.get<bool>() ? 1 : 0;
        break;
      case ConfigType::string:
        if (!raw.is_string()) return bad("a string");
        v.s = raw.get<std::string>();
        break;
      case ConfigType::duration: {
        if (!raw.is_string()) return bad("a duration string like \"10s\"");
        auto d = parse_duration(raw.get<std::string>());
        if (!d.ok()) return bad(d.error().message.substr(9));  // drop "expected "
        v.i = d->count();
        if (v.i < k.min || v.i > k.max)
          return bad("a duration in [" + format_duration(Duration(k.min)) + ", " + format_duration(Duration(k.max)) +
                     "], got " + raw.get<std::string>());
        break;
      }
      case ConfigType::size: {
        if (!raw.is_string() && !raw.is_number_integer()) return bad("a size string like \"4MB\"");
        if (raw.is_number_integer()) {
          v.i = raw.get<std::int64_t>();
        } else {
          auto s = parse_size(raw.get<std::string>());
          if (!s.ok()) return bad(s.error().message.substr(9));
          v.i = *s;
        }
        if (v.i < k.min || v.i > k.max)
          return bad("a size in [" + format_size(k.min) + ", " + format_size(k.max) + "], got " + raw.dump());
        break;
      }
      case ConfigType::secret:
        if (raw.is_string()) {
          v.secret.value = raw.get<std::string>();
        } else if (raw.is_object() && raw.size() == 1 && raw.contains("secret") && raw["secret"].is_string()) {
          v.secret.value = raw["secret"].get<std::string>();
        } else {
          return bad("a secret: {\"secret\": \"...\"}");
        }
        break;
      case ConfigType::ratio: {
        if (raw.is_number_integer() && (raw.get<std::int64_t>() == 0 || raw.get<std::int64_t>() == 1)) {
          v.r = Ratio{static_cast<std::uint64_t>(raw.get<std::int64_t>()), 1};
          break;
        }
        if (!raw.is_string()) return bad("a ratio string like \"1/200\"");
        auto r = Ratio::parse(raw.get<std::string>());
        if (!r.ok()) return bad(r.error().message.substr(9));
        v.r = *r;
        break;
      }
      case ConfigType::json:
        break;
    }
    cfg.order_.push_back(k.name);
    cfg.values_.emplace(k.name, std::move(v));
  }
  return cfg;
}

const Config::Value& Config::get(std::string_view key, ConfigType type) const {
  auto it = values_.find(key);
  if (it == values_.end()) {
    std::fprintf(stderr, "config: key \"%.*s\" was not declared\n", static_cast<int>(key.size()), key.data());
    DS_ASSERT(!"undeclared config key");
  }
  DS_ASSERT(it->second.type == type);
  return it->second;
}

std::int64_t Config::integer(std::string_view key) const { return get(key, ConfigType::integer).i; }
bool Config::boolean(std::string_view key) const { return get(key, ConfigType::boolean).i != 0; }
const std::string& Config::string(std::string_view key) const { return get(key, ConfigType::string).s; }
Duration Config::duration(std::string_view key) const { return Duration(get(key, ConfigType::duration).i); }
std::int64_t Config::size(std::string_view key) const { return get(key, ConfigType::size).i; }
Ratio Config::ratio(std::string_view key) const { return get(key, ConfigType::ratio).r; }
const nlohmann::json& Config::json(std::string_view key) const { return get(key, ConfigType::json).j; }
const Secret& Config::secret(std::string_view key) const {
  return get(key, ConfigType::secret).secret;
}

const std::string& Config::source(std::string_view key) const {
  auto it = values_.find(key);
  DS_ASSERT(it != values_.end());
  return it->second.source;
}

nlohmann::json Config::describe() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& name : order_) {
    const Value& v = values_.find(name)->second;
    nlohmann::json value = v.type == ConfigType::secret ? nlohmann::json("***") : v.j;
    out.push_back({{"key", name}, {"value", value}, {"source", v.source}});
  }
  return out;
}

nlohmann::json Config::to_document(bool with_secrets) const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& name : order_) {
    const Value& v = values_.find(name)->second;
    if (v.source == "default") continue;
    if (v.type == ConfigType::secret) {
      out[name] = {{"secret", with_secrets ? v.secret.value : std::string("***")}};
    } else {
      out[name] = v.j;
    }
  }
  return out;
}

std::vector<std::string> Config::secret_values() const {
  std::vector<std::string> out;
  for (const auto& name : order_) {
    const Value& v = values_.find(name)->second;
    if (v.type == ConfigType::secret && !v.secret.value.empty()) out.push_back(v.secret.value);
  }
  return out;
}

}  // namespace destsim
