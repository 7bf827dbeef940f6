// http.h — HTTP value types and the Transport interface, the only door out.
//
// A `Request` names its host (the routing key: the sim transport routes by it, the
// real one maps it to a base URL) and its target path with query. The error side
// of a send is a `TransportError`: timeout, connection reset, refused — with
// `maybe_applied` set when the far side may have applied the request anyway
// (a timeout or reset after sending), which the framework must report as
// `outcome_unknown` rather than guess.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "framework/result.h"
#include "framework/task.h"
#include "framework/time.h"

namespace destsim {

/// Ordered header list with case-insensitive lookup.
class Headers {
 public:
  Headers() = default;
  Headers(std::initializer_list<std::pair<std::string, std::string>> init) {
    for (auto& [k, v] : init) add(k, v);
  }
  /// The first value of `name`, if present.
  std::optional<std::string_view> get(std::string_view name) const;
  /// Replaces every value of `name` with one value.
  void set(std::string_view name, std::string_view value);
  void add(std::string_view name, std::string_view value) {
    // Room for a few at once: an answer gets Content-Type, then Date, often Retry-After.
    if (items_.capacity() == 0) items_.reserve(4);
    items_.emplace_back(name, value);
  }
  void remove(std::string_view name);
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }
  bool empty() const { return items_.empty(); }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

/// True if a and b are equal ignoring ASCII case.
bool iequals(std::string_view a, std::string_view b);

struct Request {
  std::string method = "GET";
  std::string host;  // e.g. "api.iterable.com"
  std::string path;  // target: "/api/events/trackBulk?x=1"
  Headers headers;
  std::string body;
  /// Not sent: the jobs whose fate this request's answer decides, traced with
  /// it (ev::HttpRequest::carries) so checkers attribute an answer to the
  /// jobs it decided when one bulk upload sends several requests (a channel
  /// per table). Empty: the whole upload's.
  std::vector<std::uint64_t> carries;

  /// The path without its query string.
  std::string_view path_only() const;
  /// The raw query string (after '?'), or empty.
  std::string_view query() const;
  /// The value of query parameter `name` (percent-decoded), if present.
  std::optional<std::string> query_param(std::string_view name) const;
  /// "https://host/path" for display.
  std::string url() const { return "https://" + host + path; }
};

struct Response {
  int status = 0;
  Headers headers;
  std::string body;
  /// Set when a fault plan produced or altered this response.
  bool injected = false;

  bool ok() const { return status >= 200 && status < 300; }
};

enum class TransportErrorKind { timeout, connection_reset, connection_refused, other };

const char* transport_error_kind_name(TransportErrorKind kind);

struct TransportError {
  TransportErrorKind kind = TransportErrorKind::other;
  std::string message;
  /// The far side may have applied the request (timeout or reset after sending).
  bool maybe_applied = false;
  /// Produced by a fault plan.
  bool injected = false;
};

using HttpResult = Result<Response, TransportError>;

/// Sends requests. Implementations: SimTransport (in-process to fakes, virtual
/// time, fault plans) and HttpTransport (cpp-httplib, real mode).
class Transport {
 public:
  virtual ~Transport() = default;
  virtual Task<HttpResult> send(Request request) = 0;
};

class Trace;
/// Traces the answer to request `id` the same way in every transport:
/// "http.response" (status, bytes, injected, retry_after) or "http.error".
void trace_http_result(Trace& trace, Time at, std::uint64_t id, const HttpResult& result);
/// Traces request `id` leaving a transport (`http.request`).
void trace_http_request(Trace& trace, Time at, std::uint64_t id, const Request& request);
/// Traces request `id` ending in a transport error (`http.error`).
void trace_http_error(Trace& trace, Time at, std::uint64_t id, TransportErrorKind kind, bool applied, bool injected);

/// Percent-encodes for a query value (RFC 3986 unreserved kept).
std::string url_encode(std::string_view s);
/// Decodes %XX and '+' (as space).
std::string url_decode(std::string_view s);

/// Parses a Retry-After value (delta-seconds or HTTP-date) into a wait from `now`,
/// where `now_unix_ms` is the calendar time of the present. A date in the past
/// gives zero. nullopt when the value is neither form.
std::optional<Duration> parse_retry_after(std::string_view value, std::int64_t now_unix_ms);

}  // namespace destsim
