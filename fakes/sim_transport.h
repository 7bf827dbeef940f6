// sim_transport.h — the sim door: requests go in-process to fakes, in virtual time.
//
// Routes each request to the fake registered for its host, applies that host's
// fault plan (latency, timeouts, resets, injected responses) on the loop's
// virtual clock, and traces every request, fault and answer. Fault randomness
// comes from a stream forked off the loop's Rng at construction.
#pragma once

#include <map>
#include <string>

#include "fakes/fake_api.h"
#include "fakes/fault_plan.h"
#include "framework/loop.h"

namespace destsim {

struct SimTransportOptions {
  /// How long the client waits for an answer before a timeout error.
  Duration request_timeout = std::chrono::seconds(30);
  /// Latency of every request before fault-plan latency is added.
  Duration base_latency = std::chrono::milliseconds(20);
  /// The API's clock against the destination's: every answer carries a
  /// `Date` header (RFC 9110 §6.6.1) from the API's clock, and a Retry-After
  /// given as an HTTP date is dated by it. Positive = the API is ahead.
  Duration api_clock_skew{0};
};

/// Counts per request outcome, for summaries and reachability.
struct SimTransportStats {
  std::uint64_t requests = 0;
  std::map<int, std::uint64_t> by_status;             // HTTP status → count
  std::map<std::string, std::uint64_t> by_error;      // transport error kind → count
  std::map<std::string, std::uint64_t> faults;        // fault kind → count injected
  std::uint64_t in_flight = 0;
  std::uint64_t in_flight_max = 0;
};

class SimTransport final : public Transport {
 public:
  explicit SimTransport(Loop& loop, SimTransportOptions options = {});

  /// Routes requests for `host` to `api`, with an optional fault plan (not owned).
  void route(const std::string& host, FakeApi* api, FaultPlan* plan = nullptr);

  Task<HttpResult> send(Request request) override;

  const SimTransportStats& stats() const { return stats_; }
  /// The API's clock moves (a scenario's clock_skew event): answers from now on are dated by it.
  void set_api_clock_skew(Duration skew) { options_.api_clock_skew = skew; }

 private:
  struct Route {
    FakeApi* api;
    FaultPlan* plan;
  };
  /// The API's calendar time now (the loop's, moved by the skew).
  std::int64_t api_unix_ms() const {
    return loop_.clock().unix_ms(loop_.now()) +
           std::chrono::duration_cast<std::chrono::milliseconds>(options_.api_clock_skew).count();
  }
  /// format_http_date of api_unix_ms(), kept for the second it names (a
  /// long incident dates thousands of answers within a few seconds each).
  const std::string& http_date();
  Loop& loop_;
  SimTransportOptions options_;
  std::int64_t date_second_ = INT64_MIN;
  std::string date_text_;
  Rng fault_rng_;
  std::map<std::string, Route> routes_;
  SimTransportStats stats_;
};

}  // namespace destsim
