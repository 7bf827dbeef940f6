#include "framework/http.h"

#include "framework/trace_events.h"

#include <cctype>
#include <charconv>

#include "framework/trace.h"

namespace destsim {

namespace {
// ASCII only, as std::tolower in the "C" locale (which nothing here changes),
// without a call per byte.
constexpr unsigned char ascii_lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }
}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(static_cast<unsigned char>(a[i])) != ascii_lower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

std::optional<std::string_view> Headers::get(std::string_view name) const {
  for (const auto& [k, v] : items_)
    if (iequals(k, name)) return std::string_view(v);
  return std::nullopt;
}

void Headers::set(std::string_view name, std::string_view value) {
  remove(name);
  add(name, value);
}

void Headers::remove(std::string_view name) {
  std::erase_if(items_, [&](const auto& kv) { return iequals(kv.first, name); });
}

std::string_view Request::path_only() const {
  std::string_view p(path);
  auto q = p.find('?');
  return q == std::string_view::npos ? p : p.substr(0, q);
}

std::string_view Request::query() const {
  std::string_view p(path);
  auto q = p.find('?');
  return q == std::string_view::npos ? std::string_view() : p.substr(q + 1);
}

std::optional<std::string> Request::query_param(std::string_view name) const {
  std::string_view q = query();
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    auto eq = part.find('=');
    std::string key = url_decode(part.substr(0, eq));
    if (key == name) return eq == std::string_view::npos ? std::string() : url_decode(part.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    q = q.substr(amp + 1);
  }
  return std::nullopt;
}

const char* transport_error_kind_name(TransportErrorKind kind) {
  switch (kind) {
    case TransportErrorKind::timeout: return "timeout";
    case TransportErrorKind::connection_reset: return "connection_reset";
    case TransportErrorKind::connection_refused: return "connection_refused";
    case TransportErrorKind::other: return "other";
  }
  return "other";
}

void trace_http_result(Trace& trace, Time at, std::uint64_t id, const HttpResult& result) {
  if (result.ok()) {
    const Response& r = result.value();
    ev::HttpResponse e{static_cast<std::int64_t>(id), r.status, static_cast<std::int64_t>(r.body.size()), r.injected,
                       std::nullopt, std::nullopt};
    if (auto ra = r.headers.get("Retry-After")) {
      e.retry_after = std::string(*ra);
      if (auto d = r.headers.get("Date")) e.date = std::string(*d);
    }
    emit(trace, at, e);
  } else {
    const TransportError& err = result.error();
    trace_http_error(trace, at, id, err.kind, err.maybe_applied, err.injected);
  }
}

namespace {
// ev::HttpRequest's fields as views of the request, and a writer for them:
// the same field list writes the same line without copying host and path
// (every simulated request comes here).
struct HttpRequestView {
  std::int64_t req;
  std::string_view method, host, path;
  std::int64_t bytes;
  std::optional<JobIds> carries;  // always absent here (a request that carries goes the typed way)
};
struct ViewWriter {
  Trace::Event& e;
  void operator()(std::string_view k, std::string_view v) { e.str(k, v); }
  void operator()(std::string_view k, std::int64_t v) { e.num(k, v); }
  void operator()(std::string_view, const std::optional<JobIds>&) {}
};
}  // namespace

void trace_http_request(Trace& trace, Time at, std::uint64_t id, const Request& request) {
  if (trace.observer() || !request.carries.empty()) {
    ev::HttpRequest e{static_cast<std::int64_t>(id), request.method, request.host, std::string(request.path_only()),
                      static_cast<std::int64_t>(request.body.size())};
    if (!request.carries.empty()) e.carries = JobIds{request.carries};
    emit(trace, at, e);
    return;
  }
  // Nothing reads the typed event: the line alone.
  const HttpRequestView view{static_cast<std::int64_t>(id), request.method, request.host, request.path_only(),
                             static_cast<std::int64_t>(request.body.size()), std::nullopt};
  Trace::Event line = trace.event(at, ev::HttpRequest::kind);
  ViewWriter w{line};
  ev::HttpRequest::fields(view, w);
}

void trace_http_error(Trace& trace, Time at, std::uint64_t id, TransportErrorKind kind, bool applied, bool injected) {
  emit(trace, at, ev::HttpError{static_cast<std::int64_t>(id), transport_error_kind_name(kind), applied, injected});
}

std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string url_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (ec == std::errc() && p == s.data() + i + 3) {
        out.push_back(static_cast<char>(v));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i] == '+' ? ' ' : s[i]);
  }
  return out;
}

std::optional<Duration> parse_retry_after(std::string_view value, std::int64_t now_unix_ms) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::isdigit(static_cast<unsigned char>(value.front()))) {
    std::int64_t secs = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), secs);
    if (ec != std::errc() || p != value.data() + value.size() || secs < 0) return std::nullopt;
    if (secs > 10LL * 365 * 86400) secs = 10LL * 365 * 86400;  // clamp absurd values
    return std::chrono::seconds(secs);
  }
  auto date = parse_http_date(value);
  if (!date.ok()) return std::nullopt;
  std::int64_t delta = *date - now_unix_ms;
  if (delta < 0) delta = 0;
  return std::chrono::milliseconds(delta);
}

}  // namespace destsim
