#include "framework/json_in.h"

#include <fstream>
#include <sstream>

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
  if (!d.ok()) return expected("a duration string like \"250ms\", \"10s\", \"6h\"");
  return *d;
}

Result<std::int64_t> JsonIn::size_bytes() const {
  if (j_->is_number_integer() && j_->get<std::int64_t>() >= 0) return j_->get<std::int64_t>();
  if (!j_->is_string()) return expected("a size like \"4MB\" or a byte count");
  auto s = parse_size(j_->get<std::string>());
  if (!s.ok()) return expected("a size like \"4MB\" or a byte count");
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

Result<nlohmann::json> read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::io(path + ": cannot read the file");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // Turn the byte offset into a line and column.
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    std::string msg = e.what();
    auto pos = msg.find("parse error");
    if (pos != std::string::npos) msg = msg.substr(pos);
    return Error::bad_input(path + ": line " + std::to_string(line) + ", column " + std::to_string(col) +
                            ": not valid JSON (" + msg + ")");
  }
}

}  // namespace destsim
