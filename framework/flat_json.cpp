#include "framework/flat_json.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include <simdjson.h>

#include "framework/json_in.h"
#include "framework/oracle.h"

namespace destsim {

// nlohmann's SAX interface, building FlatJson nodes.
struct FlatJsonSax {
  using Node = FlatJson::Node;
  using Type = JsonView::Type;
  using string_t = nlohmann::json::string_t;
  using binary_t = nlohmann::json::binary_t;

  FlatJson& d;
  struct Open {
    std::uint32_t index;
    std::uint32_t last_member;  // UINT32_MAX: none yet
  };
  std::vector<Open> open;
  std::uint32_t key_off = 0, key_len = 0;

  std::uint32_t intern(std::string_view s) {
    const auto off = static_cast<std::uint32_t>(d.strings_.size());
    d.strings_.append(s);
    return off;
  }

  bool add(Node n) {
    if (d.nodes_.size() >= UINT32_MAX - 1 || d.strings_.size() >= UINT32_MAX - 1) return false;
    const auto index = static_cast<std::uint32_t>(d.nodes_.size());
    if (!open.empty()) {
      Open& parent = open.back();
      Node& p = d.nodes_[parent.index];
      ++p.count;
      if (p.type == Type::object) {
        n.key_off = key_off;
        n.key_len = key_len;
        if (parent.last_member != UINT32_MAX) {
          std::string_view prev = d.key_of(parent.last_member);
          std::string_view key(d.strings_.data() + key_off, key_len);
          if (!(prev < key)) p.sorted = false;
        }
        parent.last_member = index;
      }
    }
    d.nodes_.push_back(n);
    return true;
  }
  static Node scalar(Type t) {
    Node n;
    n.type = t;
    return n;
  }

  bool null() { return add(scalar(Type::null)); }
  bool boolean(bool b) {
    Node n = scalar(Type::boolean);
    n.v.b = b;
    return add(n);
  }
  bool number_integer(std::int64_t i) {
    Node n = scalar(Type::integer);
    n.v.i = i;
    return add(n);
  }
  bool number_unsigned(std::uint64_t u) {
    Node n = scalar(Type::unsigned_integer);
    n.v.u = u;
    return add(n);
  }
  bool number_float(double x, const string_t&) {
    Node n = scalar(Type::floating);
    n.v.d = x;
    return add(n);
  }
  bool string(string_t& s) { return string_view(s); }
  bool string_view(std::string_view s) {
    Node n = scalar(Type::string);
    n.v.s.len = static_cast<std::uint32_t>(s.size());
    n.v.s.off = intern(s);
    return add(n);
  }
  bool binary(binary_t&) { return false; }  // not JSON text
  bool start(Type t) {
    // Past kJsonDepthMax: refused (the simdjson walk meets it here; the
    // fallback's pre-check has refused such a text before nlohmann reads it).
    if (open.size() >= kJsonDepthMax) return false;
    if (!add(scalar(t))) return false;
    open.push_back({static_cast<std::uint32_t>(d.nodes_.size() - 1), UINT32_MAX});
    return true;
  }
  bool start_object(std::size_t) { return start(Type::object); }
  bool start_array(std::size_t) { return start(Type::array); }
  bool end() {
    d.nodes_[open.back().index].end = static_cast<std::uint32_t>(d.nodes_.size());
    open.pop_back();
    return true;
  }
  bool end_object() { return end(); }
  bool end_array() { return end(); }
  bool key(string_t& k) { return key_view(k); }
  bool key_view(std::string_view k) {
    key_len = static_cast<std::uint32_t>(k.size());
    key_off = intern(k);
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }
};

struct FlatJson::Simd {
  simdjson::dom::parser parser;
};

FlatJson::FlatJson() = default;
FlatJson::~FlatJson() = default;
FlatJson::FlatJson(FlatJson&&) noexcept = default;
FlatJson& FlatJson::operator=(FlatJson&&) noexcept = default;

namespace {
// A simdjson DOM element into FlatJson nodes, in document order.
bool build(FlatJsonSax& b, simdjson::dom::element e) {
  using T = simdjson::dom::element_type;
  switch (e.type()) {
    case T::ARRAY: {
      if (!b.start(JsonView::Type::array)) return false;
      for (simdjson::dom::element child : simdjson::dom::array(e))
        if (!build(b, child)) return false;
      return b.end();
    }
    case T::OBJECT: {
      if (!b.start(JsonView::Type::object)) return false;
      for (simdjson::dom::key_value_pair m : simdjson::dom::object(e)) {
        b.key_view(m.key);
        if (!build(b, m.value)) return false;
      }
      return b.end();
    }
    case T::INT64: {
      const std::int64_t i = std::int64_t(e);
      // nlohmann types a non-negative integer token unsigned, a negative one signed.
      return i < 0 ? b.number_integer(i) : b.number_unsigned(static_cast<std::uint64_t>(i));
    }
    case T::UINT64: return b.number_unsigned(std::uint64_t(e));
    case T::DOUBLE: {
      FlatJsonSax::Node n = FlatJsonSax::scalar(JsonView::Type::floating);
      n.v.d = double(e);
      return b.add(n);
    }
    case T::STRING: return b.string_view(std::string_view(e));
    case T::BOOL: return b.boolean(bool(e));
    case T::NULL_VALUE: return b.null();
  }
  return false;
}
}  // namespace

bool FlatJson::parse_simd(std::string_view text) {
  if (!simd_) simd_ = std::make_unique<Simd>();
  simdjson::dom::element root;
  // (The parser copies the text into its own padded buffer.)
  if (simd_->parser.parse(text.data(), text.size(), true).get(root) != simdjson::SUCCESS) return false;
  FlatJsonSax b{*this, {}};
  return build(b, root) && !nodes_.empty();
}

bool FlatJson::parse(std::string_view text) {
  nodes_.clear();
  strings_.clear();
  ok_ = false;
  // simdjson first, with no pre-check: it refuses a NUL byte anywhere (outside
  // a string it is no token, inside one an unescaped control character), and
  // the walk refuses nesting past kJsonDepthMax. Whatever it refuses goes
  // through parse_json_body's own path: the pre-check, then nlohmann.
  // (A NUL is checked for again where simdjson accepted, with memchr: our
  // refusal does not rest on a library's reading of it.)
  if (parse_simd(text) && std::memchr(text.data(), 0, text.size()) == nullptr) return ok_ = true;
  nodes_.clear();
  strings_.clear();
  if (json_text_refused(text)) return false;
  FlatJsonSax sax{*this, {}};
  ok_ = nlohmann::json::sax_parse(text.begin(), text.end(), &sax) && !nodes_.empty();
  return ok_;
}

namespace {
template <class T>
void append_number(std::string& out, T v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}
}  // namespace

JsonView::Type JsonView::type() const { return doc_ ? doc_->nodes_[index_].type : Type::absent; }

std::string_view JsonView::str() const {
  if (type() != Type::string) return {};
  const auto& n = doc_->nodes_[index_];
  return {doc_->strings_.data() + n.v.s.off, n.v.s.len};
}

bool JsonView::boolean() const { return type() == Type::boolean && doc_->nodes_[index_].v.b; }

std::int64_t JsonView::integer() const {
  if (type() == Type::integer) return doc_->nodes_[index_].v.i;
  if (type() == Type::unsigned_integer) return static_cast<std::int64_t>(doc_->nodes_[index_].v.u);
  return 0;
}

double JsonView::floating() const {
  switch (type()) {
    case Type::floating: return doc_->nodes_[index_].v.d;
    case Type::integer: return static_cast<double>(doc_->nodes_[index_].v.i);
    case Type::unsigned_integer: return static_cast<double>(doc_->nodes_[index_].v.u);
    default: return 0;
  }
}

template <class F>
void JsonView::for_each_child(F&& f) const {
  const Type t = type();
  if (t != Type::array && t != Type::object) return;
  const auto& nodes = doc_->nodes_;
  const std::uint32_t end = nodes[index_].end;
  for (std::uint32_t i = index_ + 1; i < end;) {
    f(i);
    const Type ct = nodes[i].type;
    i = ct == Type::array || ct == Type::object ? nodes[i].end : i + 1;
  }
}

std::size_t JsonView::size() const {
  const Type t = type();
  if (t == Type::array || (t == Type::object && doc_->nodes_[index_].sorted)) return doc_->nodes_[index_].count;
  if (t == Type::object) return members().size();
  return 0;
}

JsonView JsonView::operator[](std::string_view key) const {
  JsonView found;
  if (type() != Type::object) return found;
  const bool sorted = doc_->nodes_[index_].sorted;
  bool done = false;
  for_each_child([&](std::uint32_t i) {
    if (done) return;
    const std::string_view k = doc_->key_of(i);
    if (k == key) {
      found = JsonView(doc_, i);
      done = sorted;  // keys unique: the first is the last
    } else if (sorted && k > key) {
      done = true;
    }
  });
  return found;
}

std::vector<JsonView> JsonView::elements() const {
  std::vector<JsonView> out;
  if (type() != Type::array) return out;
  out.reserve(doc_->nodes_[index_].count);
  for_each_child([&](std::uint32_t i) { out.push_back(JsonView(doc_, i)); });
  return out;
}

std::vector<JsonMember> JsonView::members() const {
  std::vector<JsonMember> out;
  if (type() != Type::object) return out;
  out.reserve(doc_->nodes_[index_].count);
  for_each_child([&](std::uint32_t i) { out.push_back({doc_->key_of(i), JsonView(doc_, i)}); });
  if (doc_->nodes_[index_].sorted) return out;
  // Key order; of a repeated key, the last value (stable sort keeps document order within a key).
  std::stable_sort(out.begin(), out.end(), [](const JsonMember& a, const JsonMember& b) { return a.key < b.key; });
  std::vector<JsonMember> unique;
  for (std::size_t i = 0; i < out.size(); ++i)
    if (i + 1 == out.size() || out[i + 1].key != out[i].key) unique.push_back(out[i]);
  return unique;
}

nlohmann::json JsonView::to_json() const {
  if (!doc_) return nlohmann::json(nlohmann::json::value_t::discarded);
  const auto& n = doc_->nodes_[index_];
  switch (n.type) {
    case Type::null: return nullptr;
    case Type::boolean: return n.v.b;
    case Type::integer: return n.v.i;
    case Type::unsigned_integer: return n.v.u;
    case Type::floating: return n.v.d;
    case Type::string: return std::string(str());
    case Type::array: {
      nlohmann::json a = nlohmann::json::array();
      for_each_child([&](std::uint32_t i) { a.push_back(JsonView(doc_, i).to_json()); });
      return a;
    }
    case Type::object: {
      nlohmann::json o = nlohmann::json::object();
      for_each_child([&](std::uint32_t i) { o[std::string(doc_->key_of(i))] = JsonView(doc_, i).to_json(); });
      return o;
    }
    case Type::absent: break;
  }
  return nlohmann::json(nlohmann::json::value_t::discarded);
}

bool JsonView::canonical_into(std::string& out) const {
  const auto& n = doc_->nodes_[index_];
  switch (n.type) {
    case Type::null: out += "null"; return true;
    case Type::boolean: out += n.v.b ? "true" : "false"; return true;
    case Type::integer: append_number(out, n.v.i); return true;
    case Type::unsigned_integer: append_number(out, n.v.u); return true;
    case Type::floating: out += nlohmann::json(n.v.d).dump(); return true;  // nlohmann's shortest form, exactly
    case Type::string: append_dumped_string(out, str()); return true;  // UTF-8: the parser checked
    case Type::array: {
      out.push_back('[');
      bool ok = true, first = true;
      for_each_child([&](std::uint32_t i) {
        if (!ok) return;
        if (!first) out.push_back(',');
        first = false;
        ok = JsonView(doc_, i).canonical_into(out);
      });
      out.push_back(']');
      return ok;
    }
    case Type::object: {
      if (!n.sorted) return false;
      out.push_back('{');
      bool ok = true, first = true;
      for_each_child([&](std::uint32_t i) {
        if (!ok) return;
        if (!first) out.push_back(',');
        first = false;
        append_dumped_string(out, doc_->key_of(i));
        out.push_back(':');
        ok = JsonView(doc_, i).canonical_into(out);
      });
      out.push_back('}');
      return ok;
    }
    case Type::absent: break;
  }
  return false;
}

std::uint64_t JsonView::canonical_hash() const {
  if (!doc_) return content_hash_of_dump(nlohmann::json(nlohmann::json::value_t::discarded));
  std::string& scratch = doc_->scratch_;
  scratch.clear();
  if (canonical_into(scratch)) return content_hash(scratch);
  return content_hash_of_dump(to_json());
}

const char* JsonView::type_name() const {
  switch (type()) {
    case Type::boolean: return "boolean";
    case Type::integer:
    case Type::unsigned_integer: return "long";
    case Type::floating: return "double";
    case Type::string: return "string";
    case Type::object: return "object";
    case Type::array: return "array";
    default: return "null";
  }
}

}  // namespace destsim
