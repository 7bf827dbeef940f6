#include "framework/oracle.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack: the streaming hash of one dump
#include <xxhash.h>

#include "framework/trace.h"

namespace destsim {

namespace {
constexpr std::uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr std::uint64_t kFnvPrime = 0x100000001b3ULL;

void fnv_step(std::uint64_t& h, std::string_view bytes) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= kFnvPrime;
  }
}
}  // namespace

std::uint64_t fnv1a64(std::string_view s) {
  std::uint64_t h = kFnvOffset;
  fnv_step(h, s);
  return h;
}

std::uint64_t content_hash(std::string_view s) { return XXH3_64bits(s.data(), s.size()); }

std::string oracle_key_of_dump(std::string_view endpoint, std::string_view canonical) {
  return std::string(endpoint) + "#" + hex16(content_hash(canonical));
}

namespace {

// The canonical dump written by hand for speed, byte for byte what nlohmann's
// serializer writes (compact, object keys in order, UTF-8 kept, the same
// escapes and number forms): its dump_escaped decodes every byte through a
// state machine and was a third of a certify case with hostile megabyte
// strings. Anything it is not sure of (a float's digits, a string that is not
// UTF-8) goes to nlohmann itself, which writes or throws as before.

// Where the bytes go: a string, an XXH3 state, or a count.
struct StringOut {
  std::string& s;
  void put(const char* p, std::size_t n) { s.append(p, n); }
  void put(char c) { s.push_back(c); }
};
class HashOut {
 public:
  // The XXH3 state is set up only when the bytes outgrow the buffer: most
  // dumps hashed here (a row, an item) are a few hundred bytes, hashed in one
  // call — the same digest as streamed (XXH3's streaming and one-shot forms
  // agree by definition), without resetting a 576-byte state per hash.
  void put(const char* p, std::size_t n) {
    if (used_ + n > sizeof buf_ || n >= sizeof buf_) flush();  // (starts the stream)
    if (n >= sizeof buf_) {
      XXH3_64bits_update(&state_, p, n);
      return;
    }
    std::memcpy(buf_ + used_, p, n);
    used_ += n;
  }
  void put(char c) {
    if (used_ == sizeof buf_) flush();
    buf_[used_++] = c;
  }
  std::uint64_t digest() {
    if (!streaming_) return XXH3_64bits(buf_, used_);
    flush();
    return XXH3_64bits_digest(&state_);
  }

 private:
  void flush() {
    if (!streaming_) {
      XXH3_64bits_reset(&state_);
      streaming_ = true;
    }
    if (used_) XXH3_64bits_update(&state_, buf_, used_);
    used_ = 0;
  }
  XXH3_state_t state_;
  bool streaming_ = false;
  char buf_[8192];
  std::size_t used_ = 0;
};
struct CountOut {
  std::size_t n = 0;
  void put(const char*, std::size_t k) { n += k; }
  void put(char) { ++n; }
};

// The length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlong
// forms, no surrogates, nothing past U+10FFFF), or 0.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  const unsigned c = b(0);
  const auto cont = [](unsigned x) { return (x & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return cont(b(1)) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    const unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return b(1) >= lo && b(1) <= hi && cont(b(2)) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    const unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return b(1) >= lo && b(1) <= hi && cont(b(2)) && cont(b(3)) ? 4 : 0;
  }
  return 0;
}

// Whether eight bytes are all written as they are: printable ASCII (0x20 to
// 0x7F), no quote, no backslash. Word-at-a-time tests (exact for whether any
// byte matches): a byte below 0x20, a byte with its high bit, a byte equal to
// '"' or '\\'.
bool plain8(std::uint64_t x) {
  constexpr std::uint64_t k01 = 0x0101010101010101ULL, k80 = 0x8080808080808080ULL;
  const auto has_zero = [](std::uint64_t v) { return ((v - k01) & ~v & k80) != 0; };
  return ((x - k01 * 0x20) & ~x & k80) == 0 && (x & k80) == 0 && !has_zero(x ^ (k01 * '"')) &&
         !has_zero(x ^ (k01 * '\\'));
}

// A string as dump() writes it; false (having written part of it) when it is not UTF-8.
template <class Out>
bool put_string(Out& out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out.put('"');
  std::size_t run = 0;  // the first byte not yet written
  for (std::size_t i = 0; i < s.size();) {
    // Plain bytes eight at a time (a padded payload is megabytes of them).
    while (i + 8 <= s.size()) {
      std::uint64_t x;
      std::memcpy(&x, s.data() + i, 8);
      if (!plain8(x)) break;
      i += 8;
    }
    if (i >= s.size()) break;
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      const std::size_t n = utf8_sequence(s, i);
      if (n == 0) return false;
      i += n;
      continue;
    }
    out.put(s.data() + run, i - run);
    char esc[6] = {'\\', 0, 0, 0, 0, 0};
    std::size_t len = 2;
    switch (c) {
      case 0x08: esc[1] = 'b'; break;
      case 0x09: esc[1] = 't'; break;
      case 0x0A: esc[1] = 'n'; break;
      case 0x0C: esc[1] = 'f'; break;
      case 0x0D: esc[1] = 'r'; break;
      case '"': esc[1] = '"'; break;
      case '\\': esc[1] = '\\'; break;
      default:
        esc[1] = 'u';
        esc[2] = '0';
        esc[3] = '0';
        esc[4] = kHex[c >> 4];
        esc[5] = kHex[c & 15];
        len = 6;
    }
    out.put(esc, len);
    run = ++i;
  }
  out.put(s.data() + run, s.size() - run);
  out.put('"');
  return true;
}

template <class Out, class T>
void put_integer(Out& out, T v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.put(buf, static_cast<std::size_t>(r.ptr - buf));
}

template <class Out>
void put_value(Out& out, const nlohmann::json& j) {
  using V = nlohmann::json::value_t;
  switch (j.type()) {
    case V::null: out.put("null", 4); return;
    case V::boolean:
      if (j.get_ref<const bool&>()) out.put("true", 4);
      else out.put("false", 5);
      return;
    case V::number_integer: put_integer(out, j.get_ref<const std::int64_t&>()); return;
    case V::number_unsigned: put_integer(out, j.get_ref<const std::uint64_t&>()); return;
    case V::string: {
      // Not UTF-8: dump() throws what it always threw (type_error 316).
      if (!put_string(out, j.get_ref<const std::string&>())) (void)j.dump();
      return;
    }
    case V::array: {  // the containers walked directly (nlohmann's iterator switches on the type per step)
      out.put('[');
      bool first = true;
      for (const auto& e : j.get_ref<const nlohmann::json::array_t&>()) {
        if (!first) out.put(',');
        first = false;
        put_value(out, e);
      }
      out.put(']');
      return;
    }
    case V::object: {
      out.put('{');
      bool first = true;
      for (const auto& [key, value] : j.get_ref<const nlohmann::json::object_t&>()) {
        if (!first) out.put(',');
        first = false;
        if (!put_string(out, key)) (void)nlohmann::json(key).dump();
        out.put(':');
        put_value(out, value);
      }
      out.put('}');
      return;
    }
    default: {  // floats (nlohmann's shortest round-trip form), binary, discarded
      const std::string d = j.dump();
      out.put(d.data(), d.size());
    }
  }
}

}  // namespace

bool append_dumped_string(std::string& out, std::string_view s) {
  const std::size_t before = out.size();
  StringOut o{out};
  if (put_string(o, s)) return true;
  out.resize(before);
  return false;
}

void append_dump(std::string& out, const nlohmann::json& j) {
  StringOut o{out};
  put_value(o, j);
}

std::string dump_of(const nlohmann::json& j) {
  std::string out;
  append_dump(out, j);
  return out;
}

std::uint64_t content_hash_of_dump(const nlohmann::json& j) {
  HashOut o;
  put_value(o, j);
  return o.digest();
}

std::size_t dump_size(const nlohmann::json& j) {
  CountOut o;
  put_value(o, j);
  return o.n;
}

namespace {
template <class Out>
void put_object(Out& out, std::vector<CanonicalMember>& members) {
  std::sort(members.begin(), members.end(),
            [](const CanonicalMember& a, const CanonicalMember& b) { return a.key < b.key; });
  out.put('{');
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (i) out.put(',');
    if (!put_string(out, members[i].key)) (void)nlohmann::json(members[i].key).dump();
    out.put(':');
    put_value(out, *members[i].value);
  }
  out.put('}');
}
}  // namespace

namespace {
// At least what dump() writes of `j` when no string needs an escape, read from
// lengths alone (no byte is scanned): the room a dump is written into.
std::size_t unescaped_size(const nlohmann::json& j) {
  using V = nlohmann::json::value_t;
  switch (j.type()) {
    case V::string: return j.get_ref<const std::string&>().size() + 2;
    case V::array: {
      std::size_t n = 2;
      for (const auto& e : j.get_ref<const nlohmann::json::array_t&>()) n += unescaped_size(e) + 1;
      return n;
    }
    case V::object: {
      std::size_t n = 2;
      for (const auto& [key, value] : j.get_ref<const nlohmann::json::object_t&>())
        n += key.size() + 4 + unescaped_size(value);
      return n;
    }
    default: return 8;  // a number (or null, true, false): the string grows for a longer one
  }
}
}  // namespace

std::string canonical_object(std::vector<CanonicalMember> members) {
  // Room for what is written when nothing needs escaping: one allocation for
  // a megabyte item, not a doubling chain, and no counting pass over its bytes.
  std::size_t room = 2;
  for (const CanonicalMember& m : members) room += m.key.size() + 4 + unescaped_size(*m.value);
  std::string out;
  out.reserve(room);
  StringOut o{out};
  put_object(o, members);
  return out;
}

std::uint64_t canonical_object_hash(std::vector<CanonicalMember> members) {
  HashOut o;
  put_object(o, members);
  return o.digest();
}

std::string oracle_key(std::string_view endpoint, const nlohmann::json& item) {
  return std::string(endpoint) + "#" + hex16(content_hash_of_dump(item));
}

}  // namespace destsim
