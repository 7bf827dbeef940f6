// json_out.h — `to_json` for plain structs of counters, their keys the member
// names listed once. Built on nlohmann/json's own member-list macros: its
// NLOHMANN_DEFINE_TYPE_* also define a from_json, which write-only stats do
// not want (and which an anonymous namespace reports as unused).
#pragma once

#include <nlohmann/json.hpp>

/// `DS_TO_JSON(Type, a, b, c)` at namespace scope: {"a": t.a, "b": t.b, "c": t.c}.
#define DS_TO_JSON(Type, ...)                                                          \
  inline void to_json(nlohmann::json& nlohmann_json_j, const Type& nlohmann_json_t) { \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_TO, __VA_ARGS__))          \
  }
/// The same inside the struct's own body (a hidden friend; for nested structs).
#define DS_TO_JSON_FRIEND(Type, ...)                                                   \
  friend void to_json(nlohmann::json& nlohmann_json_j, const Type& nlohmann_json_t) { \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_TO, __VA_ARGS__))          \
  }
