#include "iterable_events.h"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "framework/batch.h"
#include "framework/oracle.h"
#include "framework/rate_limiter.h"
#include "framework/router.h"

namespace acme {

namespace {

using namespace destsim;

constexpr const char* kBulkPath = "/api/events/trackBulk";
constexpr const char* kOnePath = "/api/events/track";
constexpr const char* kEnvelopeOpen = "{\"events\":[";
constexpr const char* kEnvelopeClose = "]}";
// Iterable's name for a tracked event in the fake's oracle (framework/oracle.h).
constexpr const char* kEffect = "iterable.event";

// Statuses that retry: the transport's 0, timeouts, rate limits and 5xx. 413
// is handled apart (split, then alone); every other 4xx is permanent.
const std::vector<int> kRetryable = {408, 429, 500, 502, 503, 504};

bool retryable(int status) {
  if (status == 0) return true;
  for (int s : kRetryable)
    if (s == status) return true;
  return false;
}

std::string str(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

// The Iterable event a record becomes, or why it cannot become one.
Result<nlohmann::json> transform(const Record& r) {
  const nlohmann::json& p = r.payload;
  auto bad = [&](const std::string& what) {
    return Error::bad_input("record " + std::to_string(r.id) + ": " + what);
  };
  if (!p.is_object()) return bad("payload: expected an object");
  nlohmann::json item = nlohmann::json::object();
  const std::string event = str(p, "event");
  if (event.empty()) return bad("event: expected a non-empty string");
  item["eventName"] = event;
  const std::string email = str(p, "email"), user_id = str(p, "userId");
  if (email.empty() && user_id.empty()) return bad("needs an email or a userId (non-empty strings)");
  if (!email.empty()) item["email"] = email;
  if (!user_id.empty()) item["userId"] = user_id;
  if (p.contains("messageId")) {
    if (!p["messageId"].is_string() || p["messageId"].get<std::string>().empty())
      return bad("messageId: expected a non-empty string");
    item["id"] = p["messageId"];
  } else {
    item["id"] = r.stream + ":" + std::to_string(r.id);
  }
  if (p.contains("timestamp")) {
    if (!p["timestamp"].is_number_integer()) return bad("timestamp: expected unix seconds (an integer)");
    item["createdAt"] = p["timestamp"];
  }
  if (p.contains("properties")) {
    if (!p["properties"].is_object()) return bad("properties: expected an object");
    item["dataFields"] = p["properties"];
  }
  return item;
}

// The identities Iterable reports per-record failures by: no two events of a
// batch share one, so every failure names exactly one record.
std::vector<std::string> keys_of(const nlohmann::json& item) {
  std::vector<std::string> keys;
  if (item.contains("email")) keys.push_back("email:" + item["email"].get<std::string>());
  if (item.contains("userId")) keys.push_back("userId:" + item["userId"].get<std::string>());
  return keys;
}

// "HTTP 400 InvalidEmailAddressError: Invalid email: x", tolerating any body.
std::string describe_error(const Response& r, std::string* code_out) {
  nlohmann::json b = nlohmann::json::parse(r.body, nullptr, false);
  const std::string code = str(b, "code"), msg = str(b, "msg");
  *code_out = code;
  std::string out = "HTTP " + std::to_string(r.status);
  if (!code.empty()) out += " " + code;
  if (!msg.empty()) out += ": " + msg;
  return out;
}

class EventsHandler final : public BatchHandler {
 public:
  EventsHandler(DeliveryContext& ctx, RateLimiter& limiter, std::string host, std::string api_key,
                BatchLimits limits, bool ignore_per_record_failures)
      : ctx_(ctx),
        limiter_(limiter),
        host_(std::move(host)),
        api_key_(std::move(api_key)),
        limits_(limits),
        ignore_per_record_failures_(ignore_per_record_failures) {
    limits_.envelope_bytes = static_cast<std::int64_t>(std::string(kEnvelopeOpen).size() + 2);
    limits_.separator_bytes = 1;  // the comma between events
  }

  std::string name() const override { return "iterable_events events/trackBulk"; }
  BatchLimits limits() const override { return limits_; }

  Task<BatchResult> process_batch(const std::vector<const Message*>& batch) override {
    std::string body = kEnvelopeOpen;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (i) body.push_back(',');
      body += batch[i]->body;
    }
    body += kEnvelopeClose;
    co_await limiter_.acquire(kBulkPath);
    HttpResult res = co_await ctx_.transport.send(request(kBulkPath, std::move(body)));
    note_retry_after(res, kBulkPath);
    BatchResult out = classify_batch(res, batch);
    out.http_status = res.ok() ? res->status : 0;
    co_return out;
  }

  Task<OneResult> process_one(const Message& m) override {
    co_await limiter_.acquire(kOnePath);
    HttpResult res = co_await ctx_.transport.send(request(kOnePath, m.body));
    note_retry_after(res, kOnePath);
    OneResult out = classify_one(res);
    out.http_status = res.ok() ? res->status : 0;
    co_return out;
  }

 private:
  Request request(const char* path, std::string body) const {
    Request r;
    r.method = "POST";
    r.host = host_;
    r.path = path;
    r.headers.set("Api-Key", api_key_);
    r.headers.set("Content-Type", "application/json");
    r.body = std::move(body);
    return r;
  }

  std::optional<Duration> retry_after(const Response& r) const {
    auto h = r.headers.get("Retry-After");
    if (!h) return std::nullopt;
    return parse_retry_after(*h, ctx_.loop.clock().unix_ms(ctx_.loop.now()));
  }

  // A Retry-After holds the endpoint for every send, not just this one (I1).
  void note_retry_after(const HttpResult& res, const char* path) {
    if (!res.ok()) return;
    if (auto d = retry_after(*res)) limiter_.hold(path, ctx_.loop.now() + *d);
  }

  // A transport error, or a 2xx whose body cannot be read: the API may have
  // applied it, and re-sending an event with its id is harmless, so retry.
  struct Unsure {
    std::string reason;
    bool maybe_applied = false;
  };
  std::optional<Unsure> unsure(const HttpResult& res, nlohmann::json* body) const {
    if (!res.ok())
      return Unsure{std::string("transport ") + transport_error_kind_name(res.error().kind) + ": " +
                        res.error().message,
                    res.error().maybe_applied};
    if (!res->ok()) return std::nullopt;
    *body = nlohmann::json::parse(res->body, nullptr, false);
    if (body->is_discarded() || !body->is_object())
      return Unsure{"HTTP " + std::to_string(res->status) + " with an unreadable body", true};
    return std::nullopt;
  }

  BatchResult classify_batch(const HttpResult& res, const std::vector<const Message*>& batch) const {
    BatchResult out;
    nlohmann::json body;
    if (auto u = unsure(res, &body)) {
      out.status = BatchStatus::retry_batch;
      out.reason = u->reason;
      out.maybe_applied = u->maybe_applied;
      return out;
    }
    const Response& r = *res;
    out.retry_after = retry_after(r);
    if (r.ok()) {
      BatchResult ok = per_record(body, batch);
      ok.retry_after = out.retry_after;
      return ok;
    }
    std::string code;
    out.reason = describe_error(r, &code);
    if (r.status == 413) {
      out.status = BatchStatus::retry_individual;  // split, then alone (C4)
      out.too_large = true;
    } else if (retryable(r.status)) {
      out.status = BatchStatus::retry_batch;
    } else if (code == "RequestFieldsTypesMismatched") {
      // One event's field has a type Iterable already knows otherwise: alone,
      // that one fails and the rest go through.
      out.status = BatchStatus::retry_individual;
    } else {
      out.status = BatchStatus::cannot_retry;
    }
    return out;
  }

  // Per-event verdicts from a 2xx trackBulk answer: Iterable lists failures by
  // email, userId and event name; an event not listed was tracked.
  BatchResult per_record(const nlohmann::json& b, const std::vector<const Message*>& batch) const {
    BatchResult out;
    out.status = BatchStatus::success;
    if (ignore_per_record_failures_) return out;  // the canary's bug
    std::map<std::string, std::string> failed;     // "email:x" → reason
    auto collect = [&](const nlohmann::json& arr, const char* prefix, const std::string& reason) {
      if (!arr.is_array()) return;
      for (const auto& v : arr)
        if (v.is_string()) failed.emplace(std::string(prefix) + v.get<std::string>(), reason);
    };
    collect(b.value("invalidEmails", nlohmann::json()), "email:", "invalid email (invalidEmails)");
    collect(b.value("invalidUserIds", nlohmann::json()), "userId:", "invalid userId (invalidUserIds)");
    if (b.contains("failedUpdates") && b["failedUpdates"].is_object()) {
      for (auto it = b["failedUpdates"].begin(); it != b["failedUpdates"].end(); ++it) {
        const bool emails = it.key().find("Emails") != std::string::npos;
        collect(it.value(), emails ? "email:" : "userId:", "rejected (failedUpdates." + it.key() + ")");
      }
    }
    std::set<std::string> disallowed;
    if (b.contains("disallowedEventNames") && b["disallowedEventNames"].is_array())
      for (const auto& v : b["disallowedEventNames"])
        if (v.is_string()) disallowed.insert(v.get<std::string>());
    if (failed.empty() && disallowed.empty()) return out;
    out.status = BatchStatus::partial_success;
    for (const Message* m : batch) {
      MessageResult mr{m->id, Verdict::ok, ""};
      for (const auto& k : m->keys) {
        auto f = failed.find(k);
        if (f != failed.end()) {
          mr.verdict = Verdict::fail;
          mr.reason = f->second;
          break;
        }
      }
      if (mr.verdict == Verdict::ok && !disallowed.empty()) {
        const std::string name = str(nlohmann::json::parse(m->body, nullptr, false), "eventName");
        if (disallowed.count(name)) {
          mr.verdict = Verdict::fail;
          mr.reason = "disallowed event name \"" + name + "\" (disallowedEventNames)";
        }
      }
      out.results.push_back(std::move(mr));
    }
    return out;
  }

  OneResult classify_one(const HttpResult& res) const {
    OneResult out;
    nlohmann::json body;
    if (auto u = unsure(res, &body)) {
      out.verdict = Verdict::retry;
      out.reason = u->reason;
      out.maybe_applied = u->maybe_applied;
      return out;
    }
    const Response& r = *res;
    out.retry_after = retry_after(r);
    if (r.ok()) {
      // events/track answers 200 even when it drops a disallowed event.
      const std::string msg = str(body, "msg");
      if (msg.find("is disallowed from tracking") != std::string::npos) {
        out.verdict = Verdict::fail;
        out.reason = "disallowed event name: " + msg;
      }
      return out;
    }
    std::string code;
    out.reason = describe_error(r, &code);
    if (r.status == 413) {
      out.verdict = Verdict::fail;  // too large alone: never resent unchanged (C4)
      out.too_large = true;
    } else {
      out.verdict = retryable(r.status) ? Verdict::retry : Verdict::fail;
    }
    return out;
  }

  DeliveryContext& ctx_;
  RateLimiter& limiter_;
  std::string host_;
  std::string api_key_;
  BatchLimits limits_;
  bool ignore_per_record_failures_;
};

class EventsDestination final : public Destination, public BatchRoutes {
 public:
  EventsDestination(DeliveryContext& ctx, const Config& config, ProcessorConfig processor, bool canary)
      : limiter_(ctx.loop, config.integer("requests_per_second")),
        handler_(ctx, limiter_, config.string("host"), config.secret("api_key").value,
                 BatchLimits{.records_max = config.integer("events_max"),
                             .bytes_max = config.size("request_bytes_max"),
                             .envelope_bytes = 0,
                             .separator_bytes = 1},
                 canary),
        router_(ctx.loop, *this, std::move(processor), ctx.jobs) {
    ctx.loop.trace().add_secret(config.secret("api_key").value);
  }

  Result<Routed> route(const Record& record) override {
    DS_TRY(nlohmann::json item, transform(record));
    Routed out;
    out.handler = &handler_;
    out.message.id = record.id;
    out.message.keys = keys_of(item);
    out.message.body = item.dump();
    return out;
  }

  Task<void> deliver(Record record) override { co_await router_.deliver(std::move(record)); }
  Task<void> drain() override { co_await router_.drain(); }

  nlohmann::json stats() const override {
    const ProcessorStats s = router_.stats();
    return {{"batches", s.batches},
            {"singles", s.singles},
            {"splits", s.splits},
            {"batch_retries", s.batch_retries},
            {"retry_after_waits", s.retry_after_waits},
            {"in_flight_max", s.in_flight_max},
            {"buffered_max", s.buffered_max},
            {"rate_limit_waits", limiter_.waits()}};
  }

 private:
  RateLimiter limiter_;
  EventsHandler handler_;  // before router_: outlives it
  Router router_;
};

std::vector<ConfigKey> schema() {
  // The processor's knobs with this destination's defaults.
  ProcessorConfig d;
  d.flush_queue_size = 500;
  d.flush_interval = std::chrono::seconds(2);
  d.max_retries = 5;
  d.retry.delay_initial = std::chrono::seconds(1);
  d.retry.delay_max = std::chrono::minutes(1);
  d.retry.elapsed_max = std::chrono::hours(1);
  d.individual_concurrency = 2;
  d.max_buffer_size = 5000;
  d.max_async_requests = 2;
  std::vector<ConfigKey> keys = {
      {"api_key", ConfigType::secret, nullptr, "Iterable API key (sent as the Api-Key header)"},
      {"host", ConfigType::string, "api.iterable.com", "API host (api.eu.iterable.com for the EU)"},
      {"events_max", ConfigType::integer, 1000, "events per trackBulk request (Iterable's limit is 1000)", 1, 1000},
      {"request_bytes_max", ConfigType::size, "4MB", "bytes per request body (Iterable's limit is 4 MB)", 1,
       4'000'000},
      {"requests_per_second", ConfigType::integer, 10,
       "client-side pacing per endpoint (Iterable allows 10 req/s on trackBulk; 0 = off)", 0, 100000},
  };
  for (auto& k : processor_config_keys(d)) keys.push_back(std::move(k));
  return keys;
}

// Record `id` of a seeded input: a track event with a unique email (so each
// record's effect is distinguishable), sometimes a userId, typed properties.
Record generate(Rng& rng, JobId id, const GenerateOptions& o) {
  static const char* kEvents[] = {"Order Completed", "Product Viewed", "Signed Up", "Cart Updated"};
  Record r;
  r.id = id;
  r.stream = "tracks";
  std::string email = "person" + std::to_string(id) + "@example.org";
  if (rng.chance(o.invalid)) email = "person" + std::to_string(id) + "-at-example.org";  // Iterable rejects it
  nlohmann::json p = {{"event", kEvents[rng.below(4)]}, {"email", email}};
  if (rng.chance(1, 2)) p["userId"] = "u" + std::to_string(id);
  if (rng.chance(1, 3)) p["messageId"] = "msg-" + std::to_string(id);
  p["timestamp"] = 1'704'067'200 + static_cast<std::int64_t>(id);
  p["properties"] = {{"revenue_cents", static_cast<std::int64_t>(rng.below(100'000))},
                     {"currency", rng.chance(1, 2) ? "USD" : "EUR"},
                     {"seq", id}};
  if (o.payload_bytes > 0) p["properties"]["pad"] = std::string(static_cast<std::size_t>(o.payload_bytes), 'x');
  r.payload = std::move(p);
  return r;
}

DestinationEntry make_entry(const char* name, bool canary) {
  DestinationEntry e;
  e.name = name;
  e.about = canary ? "iterable_events reading every 2xx as all-delivered (deliberate bug) — must fail certify"
                   : "analytics track events to Iterable events/trackBulk (an out-of-tree destination)";
  e.fake = "acme_events";  // this repository's own fake (events_fake.h), added with destsim::add_fake()
  e.host = "api.iterable.com";
  e.schema = schema();
  e.capabilities.limits = BatchLimits{.records_max = 1000, .bytes_max = 4'000'000};
  e.capabilities.delivery = DeliverySemantics::exactly_once;
  e.capabilities.retryable_statuses = kRetryable;
  e.capabilities.idempotent_writes = true;  // an event id updates, never duplicates
  e.capabilities.rate_per_second = 10;
  e.make = [canary](DeliveryContext& ctx, const Config& config) -> Result<std::unique_ptr<Destination>> {
    DS_TRY(ProcessorConfig p, processor_config_from(config));
    return std::unique_ptr<Destination>(std::make_unique<EventsDestination>(ctx, config, std::move(p), canary));
  };
  e.effects = [](const Record& r, const Config&) -> std::vector<std::string> {
    auto item = transform(r);
    if (!item.ok()) return {};
    return {oracle_key(kEffect, *item)};
  };
  e.generate = generate;
  e.fake_options = [](const Config& config) -> nlohmann::json {
    return {{"api_key", config.secret("api_key").value}};
  };
  e.shipped = !canary;
  return e;
}

}  // namespace

destsim::DestinationEntry iterable_events_destination() { return make_entry("iterable_events", false); }

destsim::DestinationEntry iterable_events_canary() { return make_entry("iterable_events_canary", true); }

}  // namespace acme
