#include "framework/json_in.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include <simdjson.h>

namespace destsim {

std::string json_pointer_escape(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out.push_back(c);
  }
  return out;
}

JsonIn::JsonIn(const nlohmann::json& j, std::string where, std::string path) : j_(&j), path_(std::move(path)) {
  auto split = where.find(": /");
  if (split != std::string::npos) {
    path_ = where.substr(split + 2) + path_;
    where.resize(split);
  }
  where_ = std::move(where);
}

std::string json_summary(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object: return "an object";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::null: return "null";
    default: {
      std::string s = j.dump();
      if (s.size() > 40) s = s.substr(0, 37) + "...";
      return s;
    }
  }
}

JsonIn JsonIn::at(std::string_view key) const {
  DS_ASSERT(has(key));
  return JsonIn((*j_)[std::string(key)], where_, path_ + "/" + json_pointer_escape(key));
}

JsonIn JsonIn::at(std::size_t index) const {
  DS_ASSERT(j_->is_array() && index < j_->size());
  return JsonIn((*j_)[index], where_, path_ + "/" + std::to_string(index));
}

Error JsonIn::expected(std::string_view what) const {
  return Error::bad_input(where_ + ": " + path() + ": expected " + std::string(what) + ", got " + json_summary(*j_));
}

Error JsonIn::fail(std::string_view message) const {
  return Error::bad_input(where_ + ": " + path() + ": " + std::string(message));
}

Status JsonIn::object() const {
  if (!j_->is_object()) return expected("an object");
  return Status::success();
}

Status JsonIn::array() const {
  if (!j_->is_array()) return expected("an array");
  return Status::success();
}

Status JsonIn::only_keys(std::initializer_list<std::string_view> allowed) const {
  DS_CHECK(object());
  for (auto it = j_->begin(); it != j_->end(); ++it) {
    bool ok = false;
    for (auto a : allowed) ok |= it.key() == a;
    if (!ok) {
      std::string names;
      for (auto a : allowed) names += (names.empty() ? "" : ", ") + std::string(a);
      return Error::bad_input(where_ + ": " + path_ + "/" + json_pointer_escape(it.key()) + ": unknown key \"" + it.key() +
                              "\" (expected one of: " + names + ")");
    }
  }
  return Status::success();
}

Status JsonIn::require(std::string_view key) const {
  DS_CHECK(object());
  if (!has(key)) return fail("missing required key \"" + std::string(key) + "\"");
  return Status::success();
}

Result<std::string> JsonIn::string() const {
  if (!j_->is_string()) return expected("a string");
  return j_->get<std::string>();
}

Result<std::int64_t> JsonIn::integer(std::int64_t min, std::int64_t max) const {
  if (!j_->is_number_integer()) return expected("an integer");
  std::int64_t v = j_->get<std::int64_t>();
  if (v < min || v > max) {
    std::string range = "an integer";
    if (min != INT64_MIN && max != INT64_MAX) range += " in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
    else if (min != INT64_MIN) range += " >= " + std::to_string(min);
    else range += " <= " + std::to_string(max);
    return expected(range);
  }
  return v;
}

Result<bool> JsonIn::boolean() const {
  if (!j_->is_boolean()) return expected("true or false");
  return j_->get<bool>();
}

Result<Duration> JsonIn::duration() const {
  if (!j_->is_string()) return expected("a duration string like \"250ms\", \"10s\", \"6h\"");
  auto d = parse_duration(j_->get<std::string>());
  if (!d.ok())
    return expected("a duration string like \"250ms\", \"10s\", \"6h\" (whole nanoseconds, at most 3650d)");
  return *d;
}

Result<std::int64_t> JsonIn::size_bytes() const {
  if (j_->is_number_integer() && j_->get<std::int64_t>() >= 0 && j_->get<std::int64_t>() <= kSizeMax)
    return j_->get<std::int64_t>();
  if (!j_->is_string()) return expected("a size like \"4MB\" or a byte count (at most 1TB)");
  auto s = parse_size(j_->get<std::string>());
  if (!s.ok()) return expected("a size like \"4MB\" or a byte count (at most 1TB)");
  return *s;
}

Result<Ratio> JsonIn::ratio() const {
  if (j_->is_number_integer() && (j_->get<std::int64_t>() == 0 || j_->get<std::int64_t>() == 1))
    return Ratio{static_cast<std::uint64_t>(j_->get<std::int64_t>()), 1};
  if (!j_->is_string()) return expected("a probability as an integer ratio like \"1/200\"");
  auto r = Ratio::parse(j_->get<std::string>());
  if (!r.ok()) return expected("a probability as an integer ratio like \"1/200\" (at most 1)");
  return *r;
}

std::string string_member(const nlohmann::json& j, std::string_view key) {
  if (!j.is_object()) return {};
  const auto& o = j.get_ref<const nlohmann::json::object_t&>();
  auto it = o.find(key);
  return it != o.end() && it->second.is_string() ? it->second.get_ref<const std::string&>() : std::string();
}

std::string json_line_column(std::string_view text, std::size_t offset) {
  std::size_t line = 1, col = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

// A NUL byte or nesting past the limit, found in one pass before nlohmann
// builds anything (brackets inside strings do not count). This runs on every
// body a fake or destination reads, so strings are skipped with memchr: a NUL
// inside a string is nlohmann's to refuse (a control character), one outside
// it is ours (nlohmann stops reading there and accepts the document).
std::optional<std::string> json_text_refused(std::string_view text) {
  std::size_t depth = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\0')
      return json_line_column(text, i) + ": a NUL byte (JSON text holds none; write \\u0000 inside a string)";
    if (c == '"') {
      // The closing quote: the next one not escaped by an odd run of backslashes.
      std::size_t j = i;
      while (true) {
        const void* q = std::memchr(text.data() + j + 1, '"', text.size() - j - 1);
        if (!q) return std::nullopt;  // unterminated: nlohmann reports where
        j = static_cast<std::size_t>(static_cast<const char*>(q) - text.data());
        std::size_t slashes = 0;
        while (j - slashes > i + 1 && text[j - slashes - 1] == '\\') ++slashes;
        if (slashes % 2 == 0) break;
      }
      i = j;
    } else if (c == '[' || c == '{') {
      if (++depth > kJsonDepthMax)
        return json_line_column(text, i) + ": nested deeper than " + std::to_string(kJsonDepthMax) +
               " levels (the limit on JSON nesting)";
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}


Result<nlohmann::json> parse_json_text(std::string_view text, const std::string& where) {
  if (auto refused = json_text_refused(text)) return Error::bad_input(where + ": " + *refused);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    std::string msg = e.what();
    auto pos = msg.find("parse error");
    if (pos != std::string::npos) msg = msg.substr(pos);
    std::size_t at = e.byte > 0 ? e.byte - 1 : 0;
    return Error::bad_input(where + ": " + json_line_column(text, at) + ": not valid JSON (" + msg + ")");
  } catch (const nlohmann::json::exception& e) {
    // A number out of range (1e400): nlohmann names the literal, not where it is.
    std::string msg = e.what();
    std::string location;
    auto q1 = msg.find('\'');
    auto q2 = q1 == std::string::npos ? q1 : msg.find('\'', q1 + 1);
    if (q2 != std::string::npos) {
      auto literal = msg.substr(q1 + 1, q2 - q1 - 1);
      if (auto at = text.find(literal); at != std::string_view::npos) location = json_line_column(text, at) + ": ";
      return Error::bad_input(where + ": " + location + "the number " + literal +
                              " is out of range (JSON numbers here must fit a 64-bit integer or a double)");
    }
    return Error::bad_input(where + ": not valid JSON (" + msg + ")");
  }
}

namespace {
// Whether JSON text holds the token -0 (outside a string): nlohmann types it
// a signed integer, and simdjson reads it as it reads 0.
bool has_minus_zero(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') {
      for (++i; i < text.size() && text[i] != '"'; ++i)
        if (text[i] == '\\') ++i;
    } else if (c == '-' && i + 1 < text.size() && text[i + 1] == '0' &&
               (i + 2 == text.size() || (text[i + 2] != '.' && text[i + 2] != 'e' && text[i + 2] != 'E'))) {
      return true;
    }
  }
  return false;
}

// A simdjson DOM element as the nlohmann DOM nlohmann's parser builds of the
// same text: a non-negative integer token unsigned, a negative one signed, a
// fraction or exponent a float; of a key given twice, the last value. False
// past kJsonDepthMax (`depth` counts the containers around `e`). `zero` is set
// when an integer 0 was read (the token may have been -0).
bool nlohmann_of(simdjson::dom::element e, nlohmann::json& out, std::size_t depth, bool& zero) {
  using T = simdjson::dom::element_type;
  switch (e.type()) {
    case T::ARRAY: {
      if (depth >= kJsonDepthMax) return false;
      out = nlohmann::json::array();
      auto& a = out.get_ref<nlohmann::json::array_t&>();
      const simdjson::dom::array in(e);
      a.reserve(in.size());
      for (simdjson::dom::element child : in)
        if (!nlohmann_of(child, a.emplace_back(), depth + 1, zero)) return false;
      return true;
    }
    case T::OBJECT: {
      if (depth >= kJsonDepthMax) return false;
      out = nlohmann::json::object();
      auto& o = out.get_ref<nlohmann::json::object_t&>();
      for (simdjson::dom::key_value_pair m : simdjson::dom::object(e)) {
        nlohmann::json& slot = o[std::string(m.key)];
        slot = nlohmann::json();  // a key given again: its last value, as nlohmann keeps
        if (!nlohmann_of(m.value, slot, depth + 1, zero)) return false;
      }
      return true;
    }
    case T::INT64: {
      const std::int64_t i = std::int64_t(e);
      if (i < 0) out = i;
      else out = static_cast<std::uint64_t>(i);
      zero |= i == 0;
      return true;
    }
    case T::UINT64: out = std::uint64_t(e); return true;
    case T::DOUBLE: out = double(e); return true;
    case T::STRING: out = std::string(std::string_view(e)); return true;
    case T::BOOL: out = bool(e); return true;
    case T::NULL_VALUE: out = nullptr; return true;
  }
  return false;
}
}  // namespace

nlohmann::json parse_json_body(std::string_view text) {
  // simdjson first (answers are read on every poll: nlohmann's parser was a
  // fifth of a poll-bound certify case), building the DOM nlohmann would.
  // Whatever it refuses — a NUL, nesting past the limit, an integer past 64
  // bits, a syntax error — goes the reference path: the pre-check, then
  // nlohmann, which decides; so does a text with the token -0 (simdjson
  // reads it as 0, nlohmann as a signed 0). A NUL is checked for where
  // simdjson accepted, so the refusal does not rest on the library. (One parser per thread:
  // certify --jobs runs cases on threads; its buffers are reused.)
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(text.data(), text.size(), true).get(root) == simdjson::SUCCESS &&
      std::memchr(text.data(), 0, text.size()) == nullptr) {
    nlohmann::json out;
    bool zero = false;
    if (nlohmann_of(root, out, 0, zero) && !(zero && has_minus_zero(text))) return out;
  }
  return parse_json_body_reference(text);
}

nlohmann::json parse_json_body_reference(std::string_view text) {
  if (json_text_refused(text)) return nlohmann::json(nlohmann::json::value_t::discarded);
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

bool json_same_typed(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.type() != b.type()) return false;
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j)
      if (i.key() != j.key() || !json_same_typed(i.value(), j.value())) return false;
    return true;
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (!json_same_typed(a[i], b[i])) return false;
    return true;
  }
  if (a.is_number_float()) return std::signbit(a.get<double>()) == std::signbit(b.get<double>()) && a == b;
  return a.is_discarded() || a == b;
}

Result<std::string> read_text_file(const std::string& path, std::int64_t limit_bytes, std::string_view what) {
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) return Error::io(path + ": cannot read the file (no such file)");
  if (std::filesystem::is_directory(status))
    return Error::bad_input(path + ": is a directory, expected " + std::string(what));
  if (!std::filesystem::is_regular_file(status))
    return Error::bad_input(path + ": is not a regular file (a FIFO, device or socket), expected " + std::string(what));
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::io(path + ": cannot read the file");
  // Read at most one byte past the limit: the size on disk may change under us.
  std::string text;
  char chunk[1 << 16];
  while (in && static_cast<std::int64_t>(text.size()) <= limit_bytes) {
    in.read(chunk, sizeof chunk);
    text.append(chunk, static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) return Error::io(path + ": cannot read the file");
  if (static_cast<std::int64_t>(text.size()) > limit_bytes)
    return Error::bad_input(path + ": larger than " + std::to_string(limit_bytes >> 20) + " MB, the limit on " +
                            std::string(what));
  return text;
}

Result<nlohmann::json> read_json_file(const std::string& path) {
  DS_TRY(std::string text, read_text_file(path, kJsonFileBytesMax, "a JSON file"));
  return parse_json_text(text, path);
}

}  // namespace destsim
