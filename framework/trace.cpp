#include "framework/trace.h"

#include <charconv>
#include <cstdio>
#include <cstring>

namespace destsim {

// Length of the well-formed UTF-8 sequence at s[i], or 0 if it is not one.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  std::size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  if (n == 3 && ((c == 0xE0 && b(i + 1) < 0xA0) || (c == 0xED && b(i + 1) >= 0xA0))) return 0;  // overlong, surrogate
  if (n == 4 && ((c == 0xF0 && b(i + 1) < 0x90) || (c == 0xF4 && b(i + 1) >= 0x90))) return 0;  // overlong, > U+10FFFF
  return n;
}

namespace {
// Bytes that stand for themselves in a JSON string: printable ASCII but '"' and '\\'.
constexpr bool json_plain(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }
}  // namespace

// A JSON string; bytes that are not UTF-8 (a garbled API answer quoted in a
// reason) become U+FFFD, so every trace line stays valid JSON.
void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  std::size_t i = 0;
  while (i < s.size()) {
    // The plain run first, appended at once (the common case is all of it).
    std::size_t j = i;
    while (j < s.size() && json_plain(static_cast<unsigned char>(s[j]))) ++j;
    if (j > i) {
      out.append(s.data() + i, j - i);
      i = j;
      if (i == s.size()) break;
    }
    const unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else if (std::size_t n = utf8_length(s, i); n > 0) {
          out.append(s.substr(i, n));
          i += n - 1;
        } else {
          out += "\\ufffd";
        }
    }
    ++i;
  }
  out.push_back('"');
}

std::string hex16(std::uint64_t v) {
  // What "%016llx" writes, without snprintf (every oracle key is named by one).
  static const char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) out[static_cast<std::size_t>(i)] = kHex[v & 15];
  return out;
}

namespace {
void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

bool all_plain(std::string_view s) {
  for (char c : s)
    if (!json_plain(static_cast<unsigned char>(c))) return false;
  return true;
}

// A short piece of a line composed on the stack and appended at once: a
// field is one append, not one per quote and colon (every step of a run
// writes a line). Whatever does not fit, or needs escaping, takes the
// general path.
class Piece {
 public:
  static constexpr std::size_t kMax = 160;
  bool fits(std::size_t n) const { return n_ + n <= kMax; }
  void add(char c) { buf_[n_++] = c; }
  void add(std::string_view s) {
    std::memcpy(buf_ + n_, s.data(), s.size());
    n_ += s.size();
  }
  void add_int(std::int64_t v) {
    auto [end, ec] = std::to_chars(buf_ + n_, buf_ + kMax, v);
    n_ = static_cast<std::size_t>(end - buf_);
  }
  // `,"key":` when the key needs no escaping (and fits): false otherwise.
  bool add_key(std::string_view k) {
    if (!fits(k.size() + 4 + 24) || !all_plain(k)) return false;
    add(',');
    add('"');
    add(k);
    add('"');
    add(':');
    return true;
  }
  void flush(std::string& out) { out.append(buf_, n_); }
  std::size_t size() const { return n_; }

 private:
  char buf_[kMax];
  std::size_t n_ = 0;
};
}  // namespace

Trace::Event::Event(Trace* trace, Time t, std::string_view kind) : trace_(trace), line_(&own_) {
  if (!trace_->scratch_busy_) {
    trace_->scratch_busy_ = true;
    line_ = &trace_->scratch_;
    line_->clear();
  } else {
    own_.reserve(96);
  }
  Piece p;
  p.add("{\"t\":");
  p.add_int(to_ns(t));
  cut(p.size());
  p.add(",\"kind\":");
  if (p.fits(kind.size() + 2) && all_plain(kind)) {
    p.add('"');
    p.add(kind);
    p.add('"');
    p.flush(*line_);
  } else {
    p.flush(*line_);
    append_json_string(*line_, kind);
  }
}

Trace::Event::Event(Event&& o) noexcept
    : trace_(o.trace_), ncuts_(o.ncuts_), line_(o.line_ == &o.own_ ? &own_ : o.line_), own_(std::move(o.own_)) {
  std::memcpy(cuts_, o.cuts_, sizeof cuts_);
  o.trace_ = nullptr;
}

Trace::Event::~Event() {
  if (!trace_) return;
  line_->push_back('}');
  const bool scratch = line_ == &trace_->scratch_;
  trace_->commit(*line_, !scratch, cuts_, ncuts_);
  if (scratch) {
    trace_->scratch_.clear();
    trace_->scratch_busy_ = false;
  }
}

void Trace::Event::key(std::string_view k) {
  line_->push_back(',');
  append_json_string(*line_, k);
  line_->push_back(':');
}

Trace::Event& Trace::Event::str(std::string_view k, std::string_view value) {
  if (trace_ && trace_->has_secret(value)) {
    key(k);
    append_json_string(*line_, trace_->redact(value));
    return *this;
  }
  Piece p;
  if (p.add_key(k) && p.fits(value.size() + 2) && all_plain(value)) {
    p.add('"');
    p.add(value);
    p.add('"');
    p.flush(*line_);
    return *this;
  }
  key(k);
  append_json_string(*line_, value);
  return *this;
}

Trace::Event& Trace::Event::num(std::string_view k, std::int64_t value) {
  Piece p;
  if (p.add_key(k)) {
    cut(line_->size() + p.size());
    p.add_int(value);
    p.flush(*line_);
    cut(line_->size());
    return *this;
  }
  key(k);
  cut(line_->size());
  append_int(*line_, value);
  cut(line_->size());
  return *this;
}

Trace::Event& Trace::Event::flag(std::string_view k, bool value) {
  key(k);
  *line_ += value ? "true" : "false";
  return *this;
}

Trace::Event& Trace::Event::raw(std::string_view k, std::string_view json) {
  key(k);
  if (trace_ && trace_->has_secret(json)) {
    *line_ += trace_->redact(json);
  } else {
    *line_ += json;
  }
  return *this;
}

void Trace::add_secret(std::string value) {
  if (value.empty()) return;
  for (const auto& s : secrets_)
    if (s == value) return;
  secrets_.push_back(std::move(value));
}

bool Trace::has_secret(std::string_view s) const {
  for (const auto& secret : secrets_)
    if (s.find(secret) != std::string_view::npos) return true;
  return false;
}

std::string Trace::redact(std::string_view s) const {
  std::string out(s);
  for (const auto& secret : secrets_) {
    size_t pos = 0;
    while ((pos = out.find(secret, pos)) != std::string::npos) {
      out.replace(pos, secret.size(), "***");
      pos += 3;
    }
  }
  return out;
}

namespace {
constexpr std::uint64_t kFnvPrime = 0x100000001b3ULL;

// FNV-1a 64 of `s` continued from `h`. In a local: the bytes are chars, which
// may alias a member, so a member would be stored and loaded at every byte.
std::uint64_t fnv1a(std::uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= kFnvPrime;
  }
  return h;
}

std::uint64_t fnv_prime_pow(std::size_t n) {
  std::uint64_t r = 1, b = kFnvPrime;
  for (; n; n >>= 1, b *= b)
    if (n & 1) r *= b;
  return r;
}

// Segments shorter than this are hashed byte by byte (the cache costs about as much).
constexpr std::size_t kSegmentMin = 24;
constexpr std::size_t kSegmentSets = 32;  // two ways each
}  // namespace

// Why a run of text can be hashed in a few instructions, with the very same
// result: one FNV-1a step is h' = (h ^ b) * P (mod 2^64), and since b < 256,
// h ^ b = h + d where d = (l ^ b) - l depends only on l, the low byte of h.
// The low byte of h' = (l ^ b) * P (mod 256) depends only on l and b too. By
// induction, hashing the bytes s from h gives h * P^|s| + C_s(l): a term
// linear in h plus a constant that depends on s and the low byte of h alone.
// A segment met again (compared byte for byte) needs C_s(l), learnt the first
// time the segment is hashed from a state with that low byte.
struct Trace::Segment {
  std::string bytes;
  std::uint64_t pow = 1;           // P^|bytes|
  std::uint64_t known[4] = {};     // bit l: c[l] holds C_s(l)
  std::uint64_t used = 0;          // the trace's tick at the last use (two ways: the older goes)
  std::uint64_t c[256];
};

Trace::Trace() = default;
Trace::~Trace() = default;

std::uint64_t Trace::hash_segment(std::uint64_t h, std::string_view s) {
  if (s.size() < kSegmentMin) return fnv1a(h, s);
  if (!segments_) segments_ = std::make_unique<Segment[]>(2 * kSegmentSets);
  // The set: from the length and the first and last 8 bytes (segments are
  // compared whole below; this only spreads them, cheaper than hashing all).
  std::uint64_t head, tail;
  std::memcpy(&head, s.data(), 8);
  std::memcpy(&tail, s.data() + s.size() - 8, 8);
  const std::uint64_t mix = (head ^ (tail * 0x9E3779B97F4A7C15ULL) ^ s.size()) * 0xBF58476D1CE4E5B9ULL;
  Segment* set = &segments_[2 * ((mix >> 59) % kSegmentSets)];
  Segment* g = set[0].bytes == s ? &set[0] : set[1].bytes == s ? &set[1] : nullptr;
  if (!g) {
    g = set[0].used <= set[1].used ? &set[0] : &set[1];
    g->bytes.assign(s);
    g->pow = fnv_prime_pow(s.size());
    std::memset(g->known, 0, sizeof g->known);
  }
  g->used = ++segment_tick_;
  const unsigned l = static_cast<unsigned>(h & 0xff);
  const std::uint64_t bit = std::uint64_t{1} << (l & 63);
  if (g->known[l >> 6] & bit) return h * g->pow + g->c[l];
  const std::uint64_t out = fnv1a(h, s);
  g->c[l] = out - h * g->pow;
  g->known[l >> 6] |= bit;
  return out;
}

void Trace::commit(std::string& line, bool owned, const std::uint32_t* cuts, std::size_t ncuts) {
  // Numbers (times, ids, counts) change from line to line; the text between
  // them (kinds, keys, hosts, paths) mostly repeats, and goes through the cache.
  const std::string_view all(line);
  std::uint64_t h = hash_;
  std::size_t at = 0;
  bool number = true;  // the first part is `{"t":<time>`, short; then text and numbers alternate
  for (std::size_t i = 0; i <= ncuts; ++i) {
    const std::size_t end = i < ncuts ? std::min<std::size_t>(cuts[i], all.size()) : all.size();
    if (end < at) continue;
    const std::string_view part = all.substr(at, end - at);
    h = number ? fnv1a(h, part) : hash_segment(h, part);
    at = end;
    number = !number;
  }
  h ^= static_cast<unsigned char>('\n');
  h *= kFnvPrime;
  hash_ = h;
  ++count_;
  if (sink_) {
    sink_->write(line.data(), static_cast<std::streamsize>(line.size()));
    sink_->put('\n');
  }
  if (keep_lines_) {
    if (owned) lines_.push_back(std::move(line));
    else lines_.push_back(line);
  }
}

std::string Trace::hash_hex() const { return hex16(hash_); }

}  // namespace destsim
