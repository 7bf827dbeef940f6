// http_door.h — the HTTP door: any FakeApi and FaultPlan, served on loopback.
//
// cpp-httplib serves the fake on a background thread, for manual use (`destsim
// serve`) and for testing connectors outside this project; the sim door
// (SimTransport) serves the same fake in-process. Every request — GET, POST,
// PUT, PATCH, DELETE — becomes a destsim::Request answered by `api.handle()` at
// the time of the door's own RealClock. One mutex serialises the fake and the
// plan, so a fake needs no locking of its own.
//
// The fault plan applies as in the sim door. Injected answers carry the header
// `X-Destsim-Injected: <kind>`. A fault that has no answer cuts the exchange
// short on the wire: the status line and headers (with the marker) are sent,
// then the connection closes before the promised body, which a client sees as a
// read error. `reset` closes at once (after the fake applied the request for
// "after"); `timeout` holds the request for `timeout_hold` first; an outage
// with "refused" closes at once without the fake. destsim's HttpTransport reads
// the marker and reports reset / timeout / refused exactly as the sim door does.
//
// Admin endpoints (never faulted, never counted): GET /_destsim/accepted,
// POST /_destsim/reset, GET and PUT /_destsim/faults, GET /_destsim/health.
// All but health need the header `X-Destsim-Token: <admin_token>` and refuse
// (403) a request carrying an `Origin` (a web page the user has open) or a
// `Host` that is not a loopback name or the bound address (DNS rebinding).
//
// Hostile clients: a body over `body_bytes_max` is answered 413 before it is
// read; a client that stalls longer than `read_timeout` between bytes is cut
// off; `workers` threads serve, so a handful of slow clients cannot starve the
// rest; a path or header that is not UTF-8 is answered 400 without reaching
// the fake.
//
// The fake's stored state is bounded (`state_requests_max`, `state_bytes_max`
// since the last reset): past it, requests are answered 507 Insufficient
// Storage with `X-Destsim-Limit: state` and never reach the fake.
//
// Bounded: the door stops by itself after `max_requests` fake requests or after
// `max_lifetime`; stop() ends it any time, even before start().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "fakes/fake_api.h"
#include "fakes/fault_plan.h"
#include "framework/result.h"
#include "framework/time.h"

namespace destsim {

/// One fake request the door served, as a black-box checker sees it on the
/// wire: when it arrived and was answered (the door's steady clock), what it
/// was, what it was answered (status 0: the connection was cut short — a
/// reset, a timeout, a refusal), the fault that produced or altered the
/// answer, and how many fake requests were being served when it arrived (it
/// included).
struct DoorExchange {
  std::chrono::steady_clock::time_point arrived, answered;  // determinism-ok: a real-mode log
  std::string method, path, body;
  int status = 0;
  std::string injected;     // the fault kind ("" = the fake's own answer)
  std::string retry_after;  // the answer's Retry-After header ("" = none)
  std::int64_t in_flight = 0;
};

struct HttpDoorOptions {
  std::string bind_host = "127.0.0.1";
  /// 0 = any free port.
  int port = 0;
  /// Seeds the door's Rng (fault probabilities, latency draws, garbled bytes).
  std::uint64_t seed = 1;
  /// Stop after this many fake requests (admin requests excluded); 0 = unbounded.
  std::int64_t max_requests = 0;
  /// Stop after this long; 0 = unbounded.
  Duration max_lifetime{0};
  /// How long a `timeout` fault holds the request before dropping the connection.
  Duration timeout_hold = std::chrono::seconds(2);
  /// The admin token; empty: start() draws a random one (admin_token()).
  std::string admin_token;
  /// Request bodies larger than this are answered 413 unread.
  std::int64_t body_bytes_max = 64LL << 20;
  /// A client silent this long mid-request is disconnected.
  Duration read_timeout = std::chrono::seconds(5);
  /// Threads serving connections.
  int workers = 32;
  /// The bound on what the fake keeps between resets: requests it applied, and
  /// the bytes of their bodies. Past either, requests are answered 507 without
  /// reaching the fake (the admin surface still works; a reset clears it).
  std::int64_t state_requests_max = 1'000'000;
  std::int64_t state_bytes_max = 1LL << 30;
  /// Called (on a server thread, never two at once) for each fake request
  /// once it is answered; admin requests are not reported.
  std::function<void(const DoorExchange&)> on_exchange;
};

class HttpDoor {
 public:
  /// Serves `api` (not owned; must outlive the door) with `plan`.
  HttpDoor(FakeApi& api, FaultPlan plan, HttpDoorOptions options = {});
  /// Stops the door and joins its threads.
  ~HttpDoor();
  HttpDoor(const HttpDoor&) = delete;
  HttpDoor& operator=(const HttpDoor&) = delete;

  /// Binds and serves on a background thread; returns the port once the server
  /// is accepting. Errors: the bind failed, the door was already started or stopped.
  Result<int> start();
  /// Stops serving and joins the threads; idempotent, and a stopped door never starts.
  void stop();
  /// Blocks until the door stopped: stop(), max_requests or max_lifetime.
  void wait();
  /// The bound port (0 before start()).
  int port() const;
  /// "http://HOST:PORT".
  std::string url() const;
  /// Fake requests served so far (admin requests are not counted).
  std::uint64_t requests() const;
  /// Calls `fn` with the fake between requests (none is being applied meanwhile).
  void inspect(const std::function<void(const FakeApi&)>& fn);
  /// Fake requests being served right now (a client that went away may leave
  /// one running: a hold, a latency).
  std::int64_t in_flight() const;
  /// Waits until no fake request is being served, at most `bound`; false if one still is.
  bool wait_quiet(Duration bound);

  /// The token the admin endpoints require (fixed by the options, or drawn at construction).
  const std::string& admin_token() const;

  /// The header that carries the admin token.
  static constexpr const char* kTokenHeader = "X-Destsim-Token";

  /// The name of the header that marks injected faults.
  static constexpr const char* kInjectedHeader = "X-Destsim-Injected";

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace destsim
