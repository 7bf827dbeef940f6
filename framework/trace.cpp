#include "framework/trace.h"

#include <charconv>
#include <cstdio>
#include <cstring>

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t held by value
#include <xxhash.h>

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
    : trace_(o.trace_), line_(o.line_ == &o.own_ ? &own_ : o.line_), own_(std::move(o.own_)) {
  o.trace_ = nullptr;
}

Trace::Event::~Event() {
  if (!trace_) return;
  line_->push_back('}');
  const bool scratch = line_ == &trace_->scratch_;
  trace_->commit(*line_, !scratch);
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
    p.add_int(value);
    p.flush(*line_);
    return *this;
  }
  key(k);
  append_int(*line_, value);
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

struct Trace::HashState {
  XXH3_state_t state;
};

Trace::Trace() : hash_(std::make_unique<HashState>()) { XXH3_64bits_reset(&hash_->state); }
Trace::~Trace() = default;

std::uint64_t Trace::hash() const { return XXH3_64bits_digest(&hash_->state); }

void Trace::commit(std::string& line, bool owned) {
  // The line and its newline, as a JSONL file holds them: the hash is XXH3 of
  // the file's bytes.
  line.push_back('\n');
  XXH3_64bits_update(&hash_->state, line.data(), line.size());
  ++count_;
  if (sink_) sink_->write(line.data(), static_cast<std::streamsize>(line.size()));
  line.pop_back();
  if (keep_lines_) {
    if (owned) lines_.push_back(std::move(line));
    else lines_.push_back(line);
  }
}

std::string Trace::hash_hex() const { return hex16(hash()); }

}  // namespace destsim
