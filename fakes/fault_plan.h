// fault_plan.h — seeded, data-driven fault injection for any fake.
//
// A plan is an ordered list of rules. A rule matches requests by method, host and
// path (globs with `*`), and for HTTP optionally by query (a glob over the raw
// query string), headers (name → glob) and body (a literal the body contains:
// "fail the request holding record 7"), optionally within a virtual-time window or from the
// plan's Nth request on (for a while), at most `times` times, with a probability
// (integer ratio) drawn from the caller's seeded Rng.
// Each rule does one thing:
//
//   respond     answer with a fixed status/headers/body instead of the fake ("fail N times")
//   rate_limit  429 with Retry-After (delta-seconds, or an HTTP-date)
//   too_large   413 when the body exceeds max_body bytes
//   latency     add a delay drawn uniformly from [min, max]
//   timeout     no answer; the client times out ("before" or "after" the fake applied it)
//   reset       connection reset ("before" or "after" the fake applied it)
//   garble      the fake applies the request; the response body is corrupted
//   outage      every matching request fails (status, default 503, or "refused";
//               with a status, "after": the API applied it first)
//
// Latency rules add up; the first matching rule of any other kind decides the
// request. The same plan drives the sim door and the HTTP door. Faults are marked
// as injected wherever they surface. JSON reference: scenarios/README.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "framework/http.h"
#include "framework/result.h"
#include "framework/rng.h"
#include "framework/time.h"

namespace destsim {

enum class FaultKind { respond, rate_limit, too_large, latency, timeout, reset, garble, outage };

const char* fault_kind_name(FaultKind kind);
/// Every kind, in declaration order (for swarm testing and reachability counts).
const std::vector<FaultKind>& all_fault_kinds();

/// True if `text` matches `pattern`, where '*' matches any run of characters.
bool glob_match(std::string_view pattern, std::string_view text);

/// What a rule matches against: one HTTP request, or one SFTP operation
/// (no query, headers or body).
struct FaultRequest {
  std::string_view method;
  std::string_view host;
  std::string_view path;   // without its query
  std::string_view query;  // the raw query string, "" when none
  const Headers* headers = nullptr;
  std::string_view body;
  std::size_t body_bytes = 0;
  /// The request of an HTTP client (its query, headers and body are what they are).
  static FaultRequest of(const Request& request);
};

/// Bounds on the content conditions of a rule (a plan is input).
inline constexpr std::size_t kFaultBodyMatchMax = 4096;     // bytes of a body_contains
inline constexpr std::size_t kFaultHeaderMatchesMax = 32;   // headers one rule matches on

struct FaultRule {
  // --- match
  std::string method = "*";  // HTTP method, or an SFTP operation name
  std::string host = "*";
  std::string path = "*";    // matched against the path without its query
  /// HTTP only. A glob over the raw query string ("*" matches none too).
  std::string query = "*";
  /// HTTP only. Header name (any case) → glob over its first value; a header
  /// the request lacks does not match.
  std::vector<std::pair<std::string, std::string>> header_globs;
  /// HTTP only. Literals the body must each contain (all of them).
  std::vector<std::string> body_contains;
  std::optional<Duration> window_start;  // inclusive
  std::optional<Duration> window_end;    // exclusive
  /// From the plan's Nth request on (1-based, every request the plan decides,
  /// matching or not): "the API goes down at the commit", whatever the clock.
  std::optional<std::int64_t> from_request;
  /// With from_request: the rule holds this long after that request (none: to the end).
  std::optional<Duration> lasting;
  std::optional<std::int64_t> times;     // at most this many applications
  Ratio probability{1, 1};

  // --- action
  FaultKind kind = FaultKind::respond;
  int status = 0;                  // respond, outage (0 with outage = refused)
  Headers headers;                 // respond
  std::string body;                // respond
  Duration retry_after{0};         // rate_limit
  bool retry_after_http_date = false;
  bool retry_after_omitted = false;  // rate_limit without the header
  std::int64_t max_body_bytes = 0;   // too_large
  Duration latency_min{0}, latency_max{0};
  /// timeout/reset/respond/outage: after the fake applied the request (the classic
  /// "applied, then answered 502" — the answer is lost or wrong, the effect is not).
  bool after = false;

  /// A label for readers and for certify's reachability ("HTTP 401",
  /// "Marketo 606"); a rule's "about" in a plan file.
  std::string note;

  /// How often this rule has been applied.
  std::int64_t applied = 0;
  /// When the plan met the rule's from_request (state, like `applied`).
  std::optional<Duration> started_at;

  bool matches(const FaultRequest& request, Duration since_start) const;
  bool matches(std::string_view method, std::string_view host, std::string_view path, std::size_t body_bytes,
               Duration since_start) const {
    return matches(FaultRequest{method, host, path, {}, nullptr, {}, body_bytes}, since_start);
  }
  /// The rule looks at the query, headers or body (an SFTP door cannot apply it).
  bool matches_content() const { return query != "*" || !header_globs.empty() || !body_contains.empty(); }
  /// A readable one-line description ("rule 2: POST /api/* respond 500 ×3").
  std::string describe() const;
  nlohmann::json to_json() const;
};

/// What the plan decided for one request. The deciding rule is a copy, so a
/// decision outlives changes to the plan (a fault injected or healed while the
/// request waits out its latency).
struct FaultDecision {
  Duration latency{0};
  /// The index of the rule that decides the request (not a latency rule), or -1.
  int rule = -1;
  /// That rule as it was when it decided (its `applied` already counts this request).
  std::optional<FaultRule> action;
};

class FaultPlan {
 public:
  FaultPlan() = default;

  /// Parses a plan: an array of rules, or {"rules": [...]}. `where` names the
  /// file and JSON path prefix for errors ("faults.json" or "x.json: /faults").
  static Result<FaultPlan> from_json(const nlohmann::json& doc, std::string_view where);
  /// Reads and parses a JSON file.
  static Result<FaultPlan> load(const std::string& path);
  nlohmann::json to_json() const;

  /// Decides the faults for one request at `since_start` (loop time since the
  /// run began). Draws from `rng` only for rules with a probability below 1.
  FaultDecision decide(const FaultRequest& request, Duration since_start, Rng& rng);
  FaultDecision decide(std::string_view method, std::string_view host, std::string_view path,
                       std::size_t body_bytes, Duration since_start, Rng& rng) {
    return decide(FaultRequest{method, host, path, {}, nullptr, {}, body_bytes}, since_start, rng);
  }

  void add(FaultRule rule) { rules_.push_back(std::move(rule)); }
  const std::vector<FaultRule>& rules() const { return rules_; }
  bool empty() const { return rules_.empty(); }
  void reset_counters();

 private:
  std::vector<FaultRule> rules_;
  std::int64_t requests_ = 0;  // requests decided (from_request counts these)
};

/// Fails on a rule an HTTP door cannot apply (a respond status outside 100-599,
/// e.g. an SFTP status), naming `where` + the rule's JSON path ("x.json: /faults"
/// → "x.json: /faults/2/respond/status: …"). The check FakeApi::check_fault_plan uses.
Status check_http_fault_plan(const FaultPlan& plan, std::string_view where);

/// Builds the response a deciding rule gives without consulting the fake
/// (respond, rate_limit, too_large, outage with a status). `now_unix_ms` dates
/// an HTTP-date Retry-After.
Response injected_response(const FaultRule& rule, std::int64_t now_unix_ms);

/// Corrupts a body deterministically: keeps a prefix, appends bytes from `rng`.
std::string garble_body(std::string_view body, Rng& rng);

}  // namespace destsim
