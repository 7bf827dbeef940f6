#include "fakes/sim_transport.h"

#include "framework/trace_events.h"

#include <optional>

namespace destsim {

SimTransport::SimTransport(Loop& loop, SimTransportOptions options)
    : loop_(loop), options_(options), fault_rng_(loop.rng().fork()) {}

void SimTransport::route(const std::string& host, FakeApi* api, FaultPlan* plan) {
  DS_ASSERT(api != nullptr);
  routes_[host] = Route{api, plan};
}

Task<HttpResult> SimTransport::send(Request request) {
  const std::uint64_t id = ++stats_.requests;
  trace_http_request(loop_.trace(), loop_.now(), id, request);
  ++stats_.in_flight;
  stats_.in_flight_max = std::max(stats_.in_flight, stats_.in_flight_max);
  struct InFlight {
    SimTransportStats* s;
    ~InFlight() { --s->in_flight; }
  } in_flight_guard{&stats_};

  auto fail = [&](TransportErrorKind kind, bool applied, bool injected, std::string message) -> HttpResult {
    ++stats_.by_error[transport_error_kind_name(kind)];
    trace_http_error(loop_.trace(), loop_.now(), id, kind, applied, injected);
    TransportError e;
    e.kind = kind;
    e.message = std::move(message);
    e.maybe_applied = kind != TransportErrorKind::connection_refused;
    e.injected = injected;
    return e;
  };

  auto it = routes_.find(request.host);
  if (it == routes_.end()) {
    co_await loop_.sleep(options_.base_latency);
    co_return fail(TransportErrorKind::connection_refused, false, false, "no fake serves host " + request.host);
  }
  Route route = it->second;
  FaultDecision decision;
  if (route.plan) {
    decision = route.plan->decide(FaultRequest::of(request), loop_.now().time_since_epoch(), fault_rng_);
  }
  if (decision.action) {
    ++stats_.faults[fault_kind_name(decision.action->kind)];
    ev::Fault f;
    f.req = static_cast<std::int64_t>(id);
    f.rule = decision.rule;
    f.fault = fault_kind_name(decision.action->kind);
    if (decision.action->after) f.after = true;
    emit(loop_.trace(), loop_.now(), f);
  }
  Duration latency = options_.base_latency + route.api->latency_for(request) + decision.latency;
  if (decision.latency.count() > 0) ++stats_.faults["latency"];
  // The decision holds its rule by value: the plan may change during the wait
  // (a fault injected or healed mid-run reallocates its rules).
  std::optional<FaultRule> decided = std::move(decision.action);
  co_await loop_.sleep(latency);

  const FaultRule* rule = decided ? &*decided : nullptr;
  Response response;
  if (!rule) {
    response = route.api->handle(request, loop_.now());
  } else {
    switch (rule->kind) {
      case FaultKind::respond:
        // Applied, then answered with the fault's status: the effect stays, the answer lies.
        if (rule->after) (void)route.api->handle(request, loop_.now());
        response = injected_response(*rule, api_unix_ms());
        break;
      case FaultKind::rate_limit:
      case FaultKind::too_large:
        response = injected_response(*rule, api_unix_ms());
        break;
      case FaultKind::outage:
        if (rule->status == 0) {
          co_return fail(TransportErrorKind::connection_refused, false, true, "connection refused (injected outage)");
        }
        if (rule->after) (void)route.api->handle(request, loop_.now());
        response = injected_response(*rule, api_unix_ms());
        break;
      case FaultKind::timeout: {
        if (rule->after) (void)route.api->handle(request, loop_.now());
        Duration rest = options_.request_timeout - latency;
        co_await loop_.sleep(rest);
        co_return fail(TransportErrorKind::timeout, rule->after, true, "request timed out (injected)");
      }
      case FaultKind::reset:
        if (rule->after) (void)route.api->handle(request, loop_.now());
        co_return fail(TransportErrorKind::connection_reset, rule->after, true, "connection reset (injected)");
      case FaultKind::garble:
        response = route.api->handle(request, loop_.now());
        response.body = garble_body(response.body, fault_rng_);
        response.injected = true;
        break;
      case FaultKind::latency:
        DS_ASSERT(!"latency rules never decide a request");
    }
  }
  ++stats_.by_status[response.status];
  // Every answer is dated by the API's clock (an origin server with a clock
  // must send Date); a destination that reads API time measures against it.
  if (!response.headers.get("Date")) response.headers.add("Date", http_date());
  trace_http_result(loop_.trace(), loop_.now(), id, response);
  co_return response;
}

const std::string& SimTransport::http_date() {
  const std::int64_t ms = api_unix_ms();
  const std::int64_t second = ms / 1000 - (ms % 1000 < 0 ? 1 : 0);  // floor: an HTTP date names whole seconds
  if (second != date_second_) {
    date_second_ = second;
    date_text_ = format_http_date(ms);
  }
  return date_text_;
}

}  // namespace destsim
