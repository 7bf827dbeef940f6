#include "iterable_events.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "destinations/batch_destination.h"
#include "framework/http_call.h"
#include "framework/json_in.h"
#include "framework/oracle.h"
#include "framework/rate_limiter.h"

namespace acme {

namespace {

using namespace destsim;

constexpr const char* kBulkPath = "/api/events/trackBulk";
constexpr const char* kOnePath = "/api/events/track";
constexpr const char* kEnvelopeOpen = "{\"events\":[";
constexpr const char* kEnvelopeClose = "]}";
// Iterable's name for a tracked event in the fake's oracle (framework/oracle.h).
constexpr const char* kEffect = "iterable.event";

// Statuses that retry (besides transport errors): timeouts, rate limits and
// 5xx. 413 is handled apart (split, then alone); every other 4xx is permanent.
const RetryableStatuses kRetryable{{408, 429, 500, 502, 503, 504}};

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

// Adds Iterable's error code and message to an error answer's reason ("HTTP
// 400 InvalidEmailAddressError: Invalid email: x") and returns the code.
std::string read_error(HttpAnswer& a) {
  const std::string code = str(a.body, "code"), msg = str(a.body, "msg");
  if (!code.empty()) a.reason += " " + code;
  if (!msg.empty()) a.reason += ": " + msg;
  return code;
}

class EventsHandler final : public BatchHandler {
 public:
  EventsHandler(HttpCaller& http, const Config& c, bool ignore_per_record_failures)
      : http_(http),
        host_(c.string("host")),
        api_key_(c.secret("api_key").value),
        limits_{.records_max = c.integer("events_max"),
                .bytes_max = c.size("request_bytes_max"),
                .envelope_bytes = static_cast<std::int64_t>(std::string(kEnvelopeOpen).size() + 2),
                .separator_bytes = 1},  // the comma between events
        ignore_per_record_failures_(ignore_per_record_failures) {}

  std::string name() const override { return "iterable_events events/trackBulk"; }
  BatchLimits limits() const override { return limits_; }

  Task<BatchResult> process_batch(const std::vector<const Message*>& batch) override {
    std::string body = kEnvelopeOpen;
    for (std::size_t i = 0; i < batch.size(); ++i) body += (i ? "," : "") + batch[i]->body;
    HttpAnswer a = co_await http_.call(request(kBulkPath, body + kEnvelopeClose), kRetryable);
    if (a.ok()) co_return per_record(a, batch);
    BatchResult out = batch_result(a);
    // One event's field has a type Iterable already knows otherwise: alone,
    // that one fails and the rest go through. (A 5xx naming it is transient.)
    if (read_error(a) == "RequestFieldsTypesMismatched" && a.kind == AnswerKind::permanent)
      out.status = BatchStatus::retry_individual;
    out.reason = a.reason;
    co_return out;
  }

  Task<OneResult> process_one(const Message& m) override {
    HttpAnswer a = co_await http_.call(request(kOnePath, m.body), kRetryable);
    if (!a.ok()) {
      read_error(a);
      co_return one_result(a);  // 413 alone: fails, never resent unchanged (C4)
    }
    OneResult out = one_success(a);
    // events/track answers 200 even when it drops a disallowed event.
    const std::string msg = str(a.body, "msg");
    if (msg.find("is disallowed from tracking") != std::string::npos) {
      out.verdict = Verdict::fail;
      out.reason = "disallowed event name: " + msg;
    }
    co_return out;
  }

 private:
  Request request(const char* path, std::string body) const {
    return json_request("POST", host_, path, std::move(body), {{"Api-Key", api_key_}});
  }

  // Per-event verdicts from a 2xx trackBulk answer: Iterable lists failures by
  // email, userId and event name; an event not listed was tracked.
  BatchResult per_record(const HttpAnswer& a, const std::vector<const Message*>& batch) const {
    BatchResult out = batch_success(a);
    if (ignore_per_record_failures_) return out;  // the canary's bug
    const nlohmann::json& b = a.body;
    std::map<std::string, std::string> failed;  // "email:x" → reason
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
        const std::string name = str(parse_json_body(m->body), "eventName");
        if (disallowed.count(name)) {
          mr.verdict = Verdict::fail;
          mr.reason = "disallowed event name \"" + name + "\" (disallowedEventNames)";
        }
      }
      out.results.push_back(std::move(mr));
    }
    return out;
  }

  HttpCaller& http_;
  std::string host_;
  std::string api_key_;
  BatchLimits limits_;
  bool ignore_per_record_failures_;
};

// Every record goes to the one endpoint, paced to requests_per_second; a
// Retry-After holds it for every send (HttpCaller, I1).
class EventsRoutes final : public BatchRoutes {
 public:
  EventsRoutes(DeliveryContext& ctx, const Config& c, bool canary)
      : limiter_(ctx.loop, c.integer("requests_per_second")),
        http_(ctx.loop, ctx.transport, limiter_),
        handler_(http_, c, canary) {
    ctx.loop.trace().add_secret(c.secret("api_key").value);
  }

  Result<Routed> route(const Record& record) override {
    DS_TRY(nlohmann::json item, transform(record));
    return Routed{&handler_, Message{record.id, item.dump(), keys_of(item)}};
  }
  nlohmann::json stats() const override { return {{"rate_limit_waits", limiter_.waits()}}; }

 private:
  RateLimiter limiter_;
  HttpCaller http_;
  EventsHandler handler_;
};

std::vector<ConfigKey> schema() {
  return batch_schema(
      {
          {"api_key", ConfigType::secret, nullptr, "Iterable API key (sent as the Api-Key header)"},
          {"host", ConfigType::string, "api.iterable.com", "API host (api.eu.iterable.com for the EU)"},
          {"events_max", ConfigType::integer, 1000, "events per trackBulk request (Iterable's limit is 1000)", 1,
           1000},
          {"request_bytes_max", ConfigType::size, "4MB", "bytes per request body (Iterable's limit is 4 MB)", 1,
           4'000'000},
          {"requests_per_second", ConfigType::integer, 10,
           "client-side pacing per endpoint (Iterable allows 10 req/s on trackBulk; 0 = off)", 0, 100000},
      },
      // The processor's knobs with this destination's defaults.
      ProcessorConfig{.flush_queue_size = 500,
                      .flush_interval = std::chrono::seconds(2),
                      .max_retries = 5,
                      .retry = {.delay_initial = std::chrono::seconds(1), .delay_max = std::chrono::minutes(1)},
                      .individual_concurrency = 2,
                      .max_buffer_size = 5000,
                      .max_async_requests = 2});
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
  return padded_record(std::move(r), std::move(p), o, "/properties/pad");
}

DestinationEntry make_entry(const char* name, bool canary) {
  DestinationEntry e = destination_entry(
      name, "acme_events", "api.iterable.com",
      canary ? "iterable_events reading every 2xx as all-delivered (deliberate bug) — must fail certify"
             : "analytics track events to Iterable events/trackBulk (an out-of-tree destination)",
      schema(),
      // Idempotent: an event id updates, never duplicates.
      {.limits = {.records_max = 1000, .bytes_max = 4'000'000}, .retryable_statuses = kRetryable.statuses,
       .idempotent_writes = true, .rate_per_second = 10});
  // "acme_events" is this repository's own fake (events_fake.h), added with destsim::add_fake().
  e.make = [canary](DeliveryContext& ctx, const Config& config) {
    return make_batch_destination(ctx, config, [canary](DeliveryContext& c, const Config& cf) {
      return std::unique_ptr<BatchRoutes>(std::make_unique<EventsRoutes>(c, cf, canary));
    });
  };
  e.effects = [](const Record& r, const Config&) -> std::vector<std::string> {
    auto item = transform(r);
    return item.ok() ? std::vector<std::string>{oracle_key(kEffect, *item)} : std::vector<std::string>{};
  };
  e.generate = generate;
  e.fake_options = api_key_fake_options();
  e.shipped = !canary;
  return e;
}

}  // namespace

destsim::DestinationEntry iterable_events_destination() { return make_entry("iterable_events", false); }

destsim::DestinationEntry iterable_events_canary() { return make_entry("iterable_events_canary", true); }

}  // namespace acme
