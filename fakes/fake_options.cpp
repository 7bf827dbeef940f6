// fake_options.cpp — the common option keys of every fake (fake_options.h).
#include "fakes/fake_options.h"

namespace destsim {

Result<std::string> string_or_secret(const JsonIn& v) {
  if (v.json().is_object()) {
    DS_CHECK(v.only_keys({"secret"}));
    DS_CHECK(v.require("secret"));
    return v.at("secret").string();
  }
  if (!v.json().is_string()) return v.expected("a string or {\"secret\": \"...\"}");
  return v.string();
}

Result<std::map<std::string, std::string>> read_status_values(const JsonIn& in,
                                                              std::initializer_list<std::string_view> documented) {
  DS_CHECK(in.object());
  DS_CHECK(in.only_keys(documented));
  std::map<std::string, std::string> out;
  for (std::string_view k : documented) {
    if (!in.has(k)) continue;
    DS_TRY(std::string v, in.at(k).string());
    if (v.empty()) return in.at(k).expected("a non-empty status string");
    out[std::string(k)] = std::move(v);
  }
  return out;
}

std::string wire_status(const std::map<std::string, std::string>& renames, std::string_view documented) {
  auto it = renames.find(std::string(documented));
  return it == renames.end() ? std::string(documented) : it->second;
}

Result<CommonFakeOptions> read_common_fake_options(const JsonIn& in, std::string_view secret_key,
                                                   std::initializer_list<std::string_view> own) {
  CommonFakeOptions o;
  if (in.json().is_null()) return o;
  DS_CHECK(in.object());
  for (auto it = in.json().begin(); it != in.json().end(); ++it) {
    const std::string& key = it.key();
    bool known = key == "latency" || (!secret_key.empty() && key == secret_key);
    for (auto k : own) known |= key == k;
    if (known) continue;
    std::string names;
    for (auto k : own) names += (names.empty() ? "" : ", ") + std::string(k);
    if (!secret_key.empty()) names += (names.empty() ? "" : ", ") + std::string(secret_key);
    names += (names.empty() ? "" : ", ") + std::string("latency");
    return in.at(key).fail("unknown key \"" + key + "\" (expected one of: " + names + ")");
  }
  if (!secret_key.empty() && in.has(secret_key)) { DS_TRY(o.secret, string_or_secret(in.at(secret_key))); }
  if (in.has("latency")) {
    DS_TRY(o.latency, in.at("latency").duration());
    if (o.latency.count() < 0) return in.at("latency").expected("a duration >= 0");
  }
  return o;
}

}  // namespace destsim
