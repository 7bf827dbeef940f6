#include "conformance/properties.h"

#include <algorithm>
#include <deque>
#include <map>
#include <set>

namespace destsim {

const char* verdict_name(Verdict3 v) {
  switch (v) {
    case Verdict3::pass: return "pass";
    case Verdict3::fail: return "FAIL";
    case Verdict3::not_applicable: return "n/a";
    case Verdict3::unchecked: return "not checked yet";
  }
  return "?";
}

const std::vector<PropertyInfo>& property_catalogue() {
  static const std::vector<PropertyInfo> c = {
      {"A1", "conservation"},      {"A2", "truth"},           {"A3", "duplicates"},
      {"A4", "reasons"},           {"A5", "upload accounting"}, {"B1", "limits"},
      {"B2", "flush"},             {"B3", "backpressure"},    {"B4", "concurrency"},
      {"B5", "overflow"},          {"C1", "classification"},  {"C2", "bounded attempts"},
      {"C3", "backoff"},           {"C4", "413"},             {"C5", "partial success"},
      {"C6", "time budget"},       {"D1", "until terminal"},  {"D2", "poll timeout"},
      {"D3", "total mapping"},     {"D4", "per-job results"}, {"D5", "poll faults"},
      {"D6", "import concurrency"}, {"E1", "crash anywhere"}, {"E2", "checkpoints"},
      {"F1", "order"},             {"F2", "failure"},         {"G1", "quiescence"},
      {"G2", "no busy loops"},     {"H1", "replay"},          {"I1", "Retry-After"},
      {"I2", "declared rate"},
  };
  return c;
}

const PropertyInfo* find_property(const std::string& id) {
  for (const auto& p : property_catalogue())
    if (p.id == id) return &p;
  return nullptr;
}

std::string property_ids() {
  std::string out;
  for (const auto& p : property_catalogue()) out += (out.empty() ? "" : ", ") + p.id;
  return out;
}

namespace {

// Trace events as the checkers need them.
struct Req {
  std::int64_t id = 0;
  std::int64_t t = 0;
  std::string endpoint;  // host + path
  std::int64_t bytes = 0;
};
struct Resp {
  std::int64_t req = 0;
  std::int64_t t = 0;
  int status = 0;
  std::string retry_after;
};
struct Events {
  std::vector<Req> requests;
  std::vector<Resp> responses;
  std::vector<std::int64_t> batch_records;
  std::int64_t hidden_faults = 0;  // timeouts/resets after applying, garbles
};

Events parse_events(const Outcome& o) {
  Events ev;
  for (const auto& line : o.trace_lines) {
    // Cheap pre-filter before parsing.
    if (line.find("\"kind\":\"http.") == std::string::npos && line.find("\"kind\":\"batch\"") == std::string::npos &&
        line.find("\"kind\":\"fault\"") == std::string::npos)
      continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    const std::string kind = j.value("kind", "");
    if (kind == "http.request") {
      ev.requests.push_back({j["req"], j["t"], j.value("host", "") + j.value("path", ""), j.value("bytes", 0)});
    } else if (kind == "http.response") {
      ev.responses.push_back({j["req"], j["t"], j.value("status", 0), j.value("retry_after", "")});
    } else if (kind == "http.error") {
      if (j.value("applied", false)) ++ev.hidden_faults;
    } else if (kind == "fault") {
      // (Counted via http.error/garble below.)
      if (j.value("kind", "") == "garble") ++ev.hidden_faults;
    } else if (kind == "batch") {
      ev.batch_records.push_back(j.value("records", 0));
    }
  }
  return ev;
}

std::string ids_sample(const std::vector<JobId>& ids) {
  std::string out;
  for (std::size_t i = 0; i < ids.size() && i < 10; ++i) out += (i ? ", " : "") + std::to_string(ids[i]);
  if (ids.size() > 10) out += ", … (" + std::to_string(ids.size()) + " in all)";
  return out;
}

std::int64_t applied_count(const Outcome& o, const Record& r) {
  std::int64_t n = 0;
  for (const auto& key : o.entry->effects(r, o.config)) n += o.fake().applied(key);
  return n;
}

PropertyResult fail(const std::string& id, std::string detail) { return {id, Verdict3::fail, std::move(detail)}; }
PropertyResult pass(const std::string& id) { return {id, Verdict3::pass, ""}; }
PropertyResult na(const std::string& id, std::string why) { return {id, Verdict3::not_applicable, std::move(why)}; }

PropertyResult check_a1(const Outcome& o) {
  std::vector<JobId> missing, pending;
  std::set<JobId> input;
  for (std::int64_t i = 0; i < o.input_size; ++i) {
    JobId id = o.record(i).id;
    input.insert(id);
    if (!o.jobs().contains(id)) missing.push_back(id);
    else if (o.jobs().outcome(id).state == JobState::pending) pending.push_back(id);
  }
  std::vector<JobId> invented;
  for (JobId id : o.jobs().ids())
    if (!input.count(id)) invented.push_back(id);
  if (!missing.empty()) return fail("A1", "jobs never registered: " + ids_sample(missing));
  if (!pending.empty()) return fail("A1", "jobs without a terminal state: " + ids_sample(pending));
  if (!invented.empty()) return fail("A1", "jobs not in the input: " + ids_sample(invented));
  return pass("A1");
}

PropertyResult check_a2(const Outcome& o) {
  std::vector<JobId> lost, phantom;
  for (std::int64_t i = 0; i < o.input_size; ++i) {
    Record r = o.record(i);
    if (!o.jobs().contains(r.id)) continue;
    JobOutcome out = o.jobs().outcome(r.id);
    std::int64_t n = applied_count(o, r);
    if (out.state == JobState::succeeded && n == 0) lost.push_back(r.id);
    if ((out.state == JobState::failed || out.state == JobState::aborted) && n > 0 && !out.outcome_unknown)
      phantom.push_back(r.id);
  }
  if (!lost.empty()) return fail("A2", "reported succeeded but not in the fake's store: " + ids_sample(lost));
  if (!phantom.empty())
    return fail("A2", "reported failed/aborted (outcome known) but the fake applied them: " + ids_sample(phantom));
  return pass("A2");
}

PropertyResult check_a3(const Outcome& o) {
  const Capabilities& caps = o.entry->capabilities;
  if (caps.idempotent_writes && caps.delivery == DeliverySemantics::exactly_once) {
    // Copies in the store are at most one by the API's own semantics (upserts,
    // event ids); re-sends are C5's business.
    return pass("A3");
  }
  std::vector<JobId> dup;
  for (std::int64_t i = 0; i < o.input_size; ++i) {
    Record r = o.record(i);
    std::int64_t n = applied_count(o, r);
    if (n <= 1) continue;
    JobOutcome out = o.jobs().outcome(r.id);
    bool hidden = out.outcome_unknown || out.resent_after_unknown;
    if (caps.delivery == DeliverySemantics::exactly_once || !hidden) dup.push_back(r.id);
  }
  if (!dup.empty()) return fail("A3", "more than one copy in the fake's store: " + ids_sample(dup));
  return pass("A3");
}

PropertyResult check_a4(const Outcome& o) {
  static const char* kCauses[] = {"HTTP",      "transport", "timeout", "exhausted", "limit",   "too large",
                                  "invalid",   "rejected",  "disallowed", "record", "reset",   "refused",
                                  "needs",     "expected",  "window",  "code",      "not found"};
  std::vector<JobId> vague;
  for (JobId id : o.jobs().ids()) {
    JobOutcome out = o.jobs().outcome(id);
    if (out.state != JobState::failed && out.state != JobState::aborted) continue;
    bool named = false;
    for (const char* c : kCauses) named |= out.reason.find(c) != std::string::npos;
    if (!named) vague.push_back(id);
  }
  if (!vague.empty()) return fail("A4", "failed/aborted without a reason naming the cause: " + ids_sample(vague));
  return pass("A4");
}

PropertyResult check_b1(const Outcome& o, const Events& ev) {
  const BatchLimits& lim = o.entry->capabilities.limits;
  for (const auto& r : ev.requests) {
    if (r.bytes > lim.bytes_max)
      return fail("B1", "request " + std::to_string(r.id) + " to " + r.endpoint + " has " + std::to_string(r.bytes) +
                            " bytes, over the declared " + std::to_string(lim.bytes_max));
  }
  for (auto n : ev.batch_records) {
    if (n > lim.records_max)
      return fail("B1", "a batch of " + std::to_string(n) + " records, over the declared " +
                            std::to_string(lim.records_max));
  }
  return pass("B1");
}

PropertyResult check_b4(const Outcome& o) {
  const auto& st = o.destination_stats;
  std::int64_t async = o.config.integer("max_async_requests");
  std::int64_t individual = o.config.integer("individual_concurrency");
  std::int64_t endpoints = st.value("endpoints", 1);
  std::int64_t bound = std::max<std::int64_t>(1, endpoints) * async * std::max<std::int64_t>(1, individual);
  std::int64_t seen = static_cast<std::int64_t>(o.transport().in_flight_max);
  if (seen > bound)
    return fail("B4", std::to_string(seen) + " requests in flight, over the configured " + std::to_string(bound) +
                          " (" + std::to_string(endpoints) + " endpoints x max_async_requests " +
                          std::to_string(async) + " x individual_concurrency " + std::to_string(individual) + ")");
  return pass("B4");
}

PropertyResult check_c5(const Outcome& o) {
  std::vector<JobId> resent;
  for (std::int64_t i = 0; i < o.input_size; ++i) {
    Record r = o.record(i);
    std::int64_t n = applied_count(o, r);
    if (n <= 1) continue;
    JobOutcome out = o.jobs().outcome(r.id);
    if (!out.outcome_unknown && !out.resent_after_unknown) resent.push_back(r.id);
  }
  if (!resent.empty())
    return fail("C5", "applied more than once with no fault hiding an outcome (a success was re-sent): " +
                          ids_sample(resent));
  return pass("C5");
}

std::optional<Duration> retry_after_of(const Resp& r, const Outcome& o, std::int64_t t_ns) {
  if (r.retry_after.empty()) return std::nullopt;
  std::int64_t unix_ms = SimClock::kDefaultEpochUnixMs + t_ns / 1'000'000;
  (void)o;
  return parse_retry_after(r.retry_after, unix_ms);
}

PropertyResult check_i1(const Outcome& o, const Events& ev) {
  std::map<std::int64_t, const Req*> by_id;
  for (const auto& r : ev.requests) by_id[r.id] = &r;
  for (const auto& resp : ev.responses) {
    if (resp.status != 429 && resp.status != 503) continue;
    auto ra = retry_after_of(resp, o, resp.t);
    if (!ra) continue;
    const Req* req = by_id[resp.req];
    if (!req) continue;
    std::int64_t until = resp.t + ra->count();
    for (const auto& r : ev.requests) {
      if (r.endpoint == req->endpoint && r.t > resp.t && r.t < until) {
        return fail("I1", "request " + std::to_string(r.id) + " to " + r.endpoint + " at " +
                              format_duration(Duration(r.t)) + " came before the Retry-After of response to request " +
                              std::to_string(resp.req) + " (" + resp.retry_after + " at " +
                              format_duration(Duration(resp.t)) + ")");
      }
    }
  }
  return pass("I1");
}

PropertyResult check_i2(const Outcome& o, const Events& ev) {
  std::int64_t rate = o.entry->capabilities.rate_per_second;
  for (const auto& k : o.entry->schema)
    if (k.name == "requests_per_second") rate = o.config.integer("requests_per_second");
  if (rate <= 0) return na("I2", "the destination declares no rate limit");
  std::map<std::string, std::deque<std::int64_t>> windows;
  for (const auto& r : ev.requests) {
    auto& w = windows[r.endpoint];
    w.push_back(r.t);
    while (!w.empty() && w.front() <= r.t - 1'000'000'000) w.pop_front();
    if (static_cast<std::int64_t>(w.size()) > rate)
      return fail("I2", std::to_string(w.size()) + " requests to " + r.endpoint + " within one second ending " +
                            format_duration(Duration(r.t)) + ", over the declared " + std::to_string(rate) + "/s");
  }
  return pass("I2");
}

// A virtual-time bound derived from the configuration and the input.
Duration quiescence_bound(const Outcome& o, const Scenario& s, const Events& ev) {
  Duration last_arrival = o.arrivals.empty() ? Duration(0) : o.arrivals.back();
  Duration flush{0}, window{0}, delay_max{0};
  std::int64_t attempts = 1;
  for (const auto& k : o.entry->schema) {
    if (k.name == "flush_interval") flush = o.config.duration("flush_interval");
    if (k.name == "retry_window") window = o.config.duration("retry_window");
    if (k.name == "retry_delay_max") delay_max = o.config.duration("retry_delay_max");
    if (k.name == "max_retries") attempts = o.config.integer("max_retries");
  }
  Duration longest_retry_after{0};
  for (const auto& r : ev.responses) {
    if (auto ra = retry_after_of(r, o, r.t)) longest_retry_after = std::max(longest_retry_after, *ra);
  }
  // A record may go through a batch phase and a single phase, each bounded by
  // the retry window (or attempts × (longest wait + timeout) when unbounded).
  Duration per_attempt = std::max(delay_max, longest_retry_after) + s.request_timeout + s.latency;
  Duration phase = window.count() > 0 ? window + per_attempt : per_attempt * attempts;
  std::int64_t rate = o.entry->capabilities.rate_per_second;
  Duration pacing = rate > 0 ? std::chrono::seconds(1) * (o.input_size / rate + 1) : Duration(0);
  return last_arrival + flush + 2 * phase + pacing + std::chrono::minutes(1);
}

}  // namespace

PropertyResult check_property(const std::string& id, const Outcome& o, const Scenario& s) {
  const Capabilities& caps = o.entry->capabilities;
  if (!o.status.ok()) return fail(id, "the run did not end normally: " + o.status.error().message);
  static const std::set<std::string> bulk_only = {"A5", "B5", "D1", "D2", "D3", "D4", "D5", "D6"};
  if (!caps.bulk && bulk_only.count(id)) return na(id, "bulk: the destination is on the batch path");
  Events ev = parse_events(o);
  if (id == "A1") return check_a1(o);
  if (id == "A2") return check_a2(o);
  if (id == "A3") return check_a3(o);
  if (id == "A4") return check_a4(o);
  if (id == "B1") return check_b1(o, ev);
  if (id == "B4") return check_b4(o);
  if (id == "C5") return check_c5(o);
  if (id == "I1") return check_i1(o, ev);
  if (id == "I2") return check_i2(o, ev);
  if (id == "G1") {
    Duration bound = s.expect.within.value_or(quiescence_bound(o, s, ev));
    if (o.jobs().counts().pending > 0)
      return fail("G1", std::to_string(o.jobs().counts().pending) + " jobs never became terminal");
    if (o.virtual_duration > bound)
      return fail("G1", "the run took " + format_duration(o.virtual_duration) + " of virtual time, over the bound " +
                            format_duration(bound));
    return pass("G1");
  }
  if (id == "H1") {
    RunOptions again;
    again.seed = o.seed;
    again.keep_trace = false;
    auto second = run_scenario(s, again);
    if (!second.ok()) return fail("H1", "the rerun failed: " + second.error().message);
    if (second->trace_hash != o.trace_hash)
      return fail("H1", "same scenario and seed gave trace " + o.trace_hash + " then " + second->trace_hash);
    return pass("H1");
  }
  if (id == "E2" || id == "F1" || id == "F2") return na(id, "sync lifecycle: the run is not under a Sync");
  return {id, Verdict3::unchecked, "its checker arrives with the conformance suite"};
}

}  // namespace destsim
