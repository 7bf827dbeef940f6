// json_in.h — reading JSON input with errors that name the file, the JSON path
// and what was expected ("scenarios/x.json: /faults/2/status: expected an
// integer, got \"500\"").
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "framework/result.h"
#include "framework/rng.h"
#include "framework/time.h"

namespace destsim {

/// A JSON value plus where it came from.
class JsonIn {
 public:
  /// `where` names the file; a JSON path may follow it ("x.json: /faults"),
  /// which then prefixes every path below.
  JsonIn(const nlohmann::json& j, std::string where, std::string path = "");

  const nlohmann::json& json() const { return *j_; }
  const std::string& where() const { return where_; }
  /// The JSON pointer of this value ("/faults/2"), "/" for the root.
  std::string path() const { return path_.empty() ? "/" : path_; }

  bool has(std::string_view key) const { return j_->is_object() && j_->contains(key); }
  /// The member `key` (asserts has(key)).
  JsonIn at(std::string_view key) const;
  JsonIn at(std::size_t index) const;
  std::size_t size() const { return j_->size(); }

  /// An error at this value: "<where>: <path>: expected <what>, got <summary>".
  Error expected(std::string_view what) const;
  /// An error at this value with a free message: "<where>: <path>: <message>".
  Error fail(std::string_view message) const;

  Status object() const;
  Status array() const;
  /// Fails on a key not in `allowed`, naming it and the allowed keys.
  Status only_keys(std::initializer_list<std::string_view> allowed) const;
  /// Fails unless `key` is present.
  Status require(std::string_view key) const;

  Result<std::string> string() const;
  Result<std::int64_t> integer(std::int64_t min = INT64_MIN, std::int64_t max = INT64_MAX) const;
  Result<bool> boolean() const;
  Result<Duration> duration() const;
  Result<std::int64_t> size_bytes() const;
  Result<Ratio> ratio() const;

 private:
  const nlohmann::json* j_;
  std::string where_;
  std::string path_;
};

/// Escapes a key for a JSON pointer (RFC 6901: "~" → "~0", "/" → "~1").
std::string json_pointer_escape(std::string_view key);

/// The string `j` holds at `key` when `j` is an object with a string there;
/// "" otherwise (a missing member, another type, `j` not an object). One lookup.
std::string string_member(const nlohmann::json& j, std::string_view key);

/// A short description of a JSON value for error messages ("\"500\"", "an object").
std::string json_summary(const nlohmann::json& j);

/// Limits on every JSON document destsim reads (files, request and answer
/// bodies, stored rows). A deeper document is refused before it is built: a
/// nlohmann value nested ~75,000 levels deep overflows the stack when copied.
inline constexpr std::size_t kJsonDepthMax = 128;
/// The largest JSON file destsim reads (scenarios, specs, fault plans, reports).
inline constexpr std::int64_t kJsonFileBytesMax = 64LL << 20;

/// "line 3, column 7" of a byte offset.
std::string json_line_column(std::string_view text, std::size_t offset);

/// Parses JSON text within kJsonDepthMax; errors are bad input naming `where`,
/// the line and column, and the limit or the syntax problem (a number out of
/// range, a NUL byte, nesting too deep).
Result<nlohmann::json> parse_json_text(std::string_view text, const std::string& where);

/// Why `text` is refused before any parser reads it — a NUL byte outside a
/// string, or nesting past kJsonDepthMax — as "line L, column C: …"; nothing
/// when it may be parsed.
std::optional<std::string> json_text_refused(std::string_view text);

/// A request or answer body: discarded (is_discarded()) when it is not valid
/// JSON, holds a NUL byte, a number out of range, or nests deeper than the limit.
nlohmann::json parse_json_body(std::string_view text);

/// parse_json_body's reference: the pre-check, then nlohmann's parser alone.
/// parse_json_body reads the same DOM, faster (simdjson first); tests and
/// fuzz_parsers hold it to this, types of numbers included.
nlohmann::json parse_json_body_reference(std::string_view text);

/// Equal as nlohmann's == sees it, and of the same types throughout: == takes
/// 0 and 0u, or 1 and 1.0, as equal; a reader asking is_number_unsigned does
/// not. (Floats: the same sign too, -0.0 is not 0.0.)
bool json_same_typed(const nlohmann::json& a, const nlohmann::json& b);

/// Reads a regular file of at most `limit_bytes` (a whole number of MB);
/// errors name the file, a directory, a FIFO or device, and the limit, as
/// "larger than N MB, the limit on <what>".
Result<std::string> read_text_file(const std::string& path, std::int64_t limit_bytes, std::string_view what);

/// Reads and parses a JSON file of at most kJsonFileBytesMax bytes; errors
/// name the file (and line/column for syntax), a directory, a FIFO or device,
/// and the limit a file breaks.
Result<nlohmann::json> read_json_file(const std::string& path);

}  // namespace destsim
