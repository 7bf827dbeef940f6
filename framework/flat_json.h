// flat_json.h — a read-only JSON document in one flat array, for the bodies a
// fake reads on every request (a 1000-item bulk body, millions of times a run).
//
// nlohmann's DOM allocates a map node, a key string and a value per member and
// frees them all again; on the batch path that was most of a fake's cost. A
// FlatJson is parsed into one vector of nodes and one string buffer, both
// reused by the next parse, refusing what parse_json_body refuses (nesting
// past kJsonDepthMax, a NUL byte). simdjson (Debian's libsimdjson-dev) parses
// first, the depth limit checked as its DOM is walked: it takes
// only RFC 8259 JSON with valid UTF-8 and paired surrogates, as nlohmann does,
// and its number typing is mapped onto nlohmann's (negative → integer,
// non-negative → unsigned, a fraction or exponent → float). What simdjson
// refuses — an integer beyond 64 bits (a float to nlohmann), nesting past the
// limit, a NUL, or a body nlohmann refuses too — goes to parse_json_body's
// path (its pre-check, then nlohmann's SAX parser), which decides. So a body a FlatJson accepts is exactly a body
// parse_json_body accepts, and a view reads the same values nlohmann's DOM
// would hold (one spelling aside: "-0" reads as unsigned 0, where nlohmann
// holds a signed 0 — the same number, dump and type name):
//  - an object's members are seen in key order, and a repeated key counts
//    once, with its last value (as nlohmann's std::map keeps it);
//  - `canonical_hash()` is `content_hash_of_dump(to_json())` (framework/oracle.h),
//    computed straight from the nodes when every object's keys are already in
//    strictly ascending order (as a dump writes them), else through to_json().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace destsim {

class FlatJson;

/// One value of a FlatJson. Cheap to copy; valid while its document is neither
/// parsed again nor destroyed.
class JsonView {
 public:
  enum class Type : std::uint8_t { null, boolean, integer, unsigned_integer, floating, string, array, object, absent };

  JsonView() = default;
  Type type() const;
  bool absent() const { return type() == Type::absent; }
  bool is_null() const { return type() == Type::null; }
  bool is_boolean() const { return type() == Type::boolean; }
  bool is_string() const { return type() == Type::string; }
  bool is_object() const { return type() == Type::object; }
  bool is_array() const { return type() == Type::array; }
  /// As nlohmann's is_number_integer(): signed or unsigned.
  bool is_integer() const { return type() == Type::integer || type() == Type::unsigned_integer; }
  bool is_float() const { return type() == Type::floating; }

  /// The string's bytes (unescaped); empty for a non-string.
  std::string_view str() const;
  /// The string, or "" for anything else (a missing member included).
  std::string string_or_empty() const { return std::string(str()); }
  bool boolean() const;
  /// The integer (an unsigned one above INT64_MAX wraps; check with is_integer()).
  std::int64_t integer() const;
  double floating() const;

  /// Array elements or object members (members counted once per key).
  std::size_t size() const;
  /// The member named `key` (its last value when repeated); absent() when there
  /// is none or this is not an object.
  JsonView operator[](std::string_view key) const;
  /// The array's elements in order (empty for a non-array).
  std::vector<JsonView> elements() const;
  /// The object's members in key order, each key once with its last value
  /// (empty for a non-object), as iterating nlohmann's object would give them.
  std::vector<struct JsonMember> members() const;

  /// The value as a nlohmann DOM (what parse_json_body would have built).
  nlohmann::json to_json() const;
  /// content_hash_of_dump(to_json()), without building the DOM when it can.
  std::uint64_t canonical_hash() const;
  /// "boolean", "long", "double", "string", "object", "array" or "null": the
  /// type names Iterable's schema errors use.
  const char* type_name() const;

 private:
  friend class FlatJson;
  JsonView(const FlatJson* doc, std::uint32_t index) : doc_(doc), index_(index) {}
  // In document order, repeats included.
  template <class F>
  void for_each_child(F&& f) const;
  bool canonical_into(std::string& out) const;

  const FlatJson* doc_ = nullptr;
  std::uint32_t index_ = 0;
};

struct JsonMember {
  std::string_view key;
  JsonView value;
};

class FlatJson {
 public:
  FlatJson();
  ~FlatJson();
  FlatJson(FlatJson&&) noexcept;
  FlatJson& operator=(FlatJson&&) noexcept;
  /// Parses `text`; false when parse_json_body would give a discarded value.
  bool parse(std::string_view text);
  /// The document's root (absent() before a successful parse).
  JsonView root() const { return ok_ ? JsonView(this, 0) : JsonView(); }

 private:
  friend class JsonView;
  friend struct FlatJsonSax;
  struct Node {
    JsonView::Type type;
    bool sorted = true;        // an object: its keys strictly ascending in document order
    std::uint32_t end = 0;     // a container: the index just past its subtree
    std::uint32_t count = 0;   // a container: children, repeats included
    std::uint32_t key_off = 0;  // a member: its key in strings_
    std::uint32_t key_len = 0;
    union {
      std::int64_t i;
      std::uint64_t u;
      double d;
      bool b;
      struct {
        std::uint32_t off, len;
      } s;
    } v{};
  };
  std::string_view key_of(std::uint32_t i) const { return {strings_.data() + nodes_[i].key_off, nodes_[i].key_len}; }

  bool parse_simd(std::string_view text);

  std::vector<Node> nodes_;
  std::string strings_;
  struct Simd;                  // simdjson's parser, its buffers reused
  std::unique_ptr<Simd> simd_;
  mutable std::string scratch_;  // canonical_hash's dump, reused
  bool ok_ = false;
};

}  // namespace destsim
