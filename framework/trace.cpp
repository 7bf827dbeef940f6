#include "framework/trace.h"

#include <cstdio>

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

// A JSON string; bytes that are not UTF-8 (a garbled API answer quoted in a
// reason) become U+FFFD, so every trace line stays valid JSON.
void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
    unsigned char c = static_cast<unsigned char>(ch);
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
        } else if (c < 0x80) {
          out.push_back(ch);
        } else if (std::size_t n = utf8_length(s, i); n > 0) {
          out.append(s.substr(i, n));
          i += n - 1;
        } else {
          out += "\\ufffd";
        }
    }
  }
  out.push_back('"');
}

std::string hex16(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

Trace::Event::Event(Trace* trace, Time t, std::string_view kind) : trace_(trace) {
  line_.reserve(96);
  line_ = "{\"t\":";
  line_ += std::to_string(to_ns(t));
  line_ += ",\"kind\":";
  append_json_string(line_, kind);
}

Trace::Event::Event(Event&& o) noexcept : trace_(o.trace_), line_(std::move(o.line_)) { o.trace_ = nullptr; }

Trace::Event::~Event() {
  if (!trace_) return;
  line_.push_back('}');
  trace_->commit(std::move(line_));
}

void Trace::Event::key(std::string_view k) {
  line_.push_back(',');
  append_json_string(line_, k);
  line_.push_back(':');
}

Trace::Event& Trace::Event::str(std::string_view k, std::string_view value) {
  key(k);
  if (trace_ && !trace_->secrets_.empty()) {
    append_json_string(line_, trace_->redact(value));
  } else {
    append_json_string(line_, value);
  }
  return *this;
}

Trace::Event& Trace::Event::num(std::string_view k, std::int64_t value) {
  key(k);
  line_ += std::to_string(value);
  return *this;
}

Trace::Event& Trace::Event::flag(std::string_view k, bool value) {
  key(k);
  line_ += value ? "true" : "false";
  return *this;
}

Trace::Event& Trace::Event::raw(std::string_view k, std::string_view json) {
  key(k);
  if (trace_ && !trace_->secrets_.empty()) {
    line_ += trace_->redact(json);
  } else {
    line_ += json;
  }
  return *this;
}

void Trace::add_secret(std::string value) {
  if (value.empty()) return;
  for (const auto& s : secrets_)
    if (s == value) return;
  secrets_.push_back(std::move(value));
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

void Trace::commit(std::string&& line) {
  for (unsigned char c : line) {
    hash_ ^= c;
    hash_ *= 0x100000001b3ULL;
  }
  hash_ ^= static_cast<unsigned char>('\n');
  hash_ *= 0x100000001b3ULL;
  ++count_;
  if (sink_) {
    sink_->write(line.data(), static_cast<std::streamsize>(line.size()));
    sink_->put('\n');
  }
  if (keep_lines_) lines_.push_back(std::move(line));
}

std::string Trace::hash_hex() const { return hex16(hash_); }

}  // namespace destsim
