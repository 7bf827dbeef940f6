#include "destinations/iterable/iterable.h"

#include <map>
#include <set>

#include "destinations/batch_destination.h"
#include "framework/http_call.h"
#include "framework/json_in.h"
#include "framework/oracle.h"
#include "framework/rate_limiter.h"
#include "framework/trace.h"

namespace destsim {

namespace {

enum class Kind { track, identify, subscribe, unsubscribe, subscriptions };

struct Endpoint {
  Kind kind;
  const char* bulk_path;
  const char* one_path;
  const char* list_field;  // the array in the bulk body
  const char* effect;      // the oracle's name for what a delivered item does
};

const Endpoint& endpoint(Kind k) {
  static const Endpoint eps[] = {
      {Kind::track, "/api/events/trackBulk", "/api/events/track", "events", "iterable.event"},
      {Kind::identify, "/api/users/bulkUpdate", "/api/users/update", "users", "iterable.user"},
      {Kind::subscribe, "/api/lists/subscribe", "/api/lists/subscribe", "subscribers", "iterable.subscribe"},
      {Kind::unsubscribe, "/api/lists/unsubscribe", "/api/lists/unsubscribe", "subscribers", "iterable.unsubscribe"},
      {Kind::subscriptions, "/api/users/bulkUpdateSubscriptions", "/api/users/updateSubscriptions",
       "updateSubscriptionsRequests", "iterable.subscriptions"},
  };
  return eps[static_cast<int>(k)];
}

// The item a record becomes, or an error naming what is wrong with it. The
// item is kept as it is sent: nlohmann's dump of the object, written member by
// member from the payload (canonical_object), never a copy of the payload's
// values (a hostile record carries megabytes of padding in dataFields).
struct Transformed {
  Kind kind;
  std::int64_t list_id = 0;
  std::string email, user_id;
  // The item's members: values of the payload, or of `own` for the strings the
  // payload does not hold as such. Pointers into `own`: a Transformed stays put.
  std::vector<CanonicalMember> members;
  struct {
    nlohmann::json email, user_id, name, id;
  } own;
  Transformed() = default;
  Transformed(const Transformed&) = delete;
  Transformed& operator=(const Transformed&) = delete;
};

// Fills `t` from the record, or names what is wrong with it.
Status transform(const Record& r, Transformed& t) {
  const nlohmann::json& p = r.payload;
  auto bad = [&](const std::string& what) {
    return Error::bad_input("record " + std::to_string(r.id) + ": " + what);
  };
  if (!p.is_object()) return bad("payload: expected an object");
  std::string type = string_member(p, "type");
  std::vector<CanonicalMember>& members = t.members;
  nlohmann::json &email = t.own.email, &user_id = t.own.user_id, &name = t.own.name, &id = t.own.id;
  auto identity = [&]() -> Status {
    t.email = string_member(p, "email");
    t.user_id = string_member(p, "userId");
    if (t.email.empty() && t.user_id.empty()) return bad("needs an email or a userId");
    if (!t.email.empty()) members.push_back({"email", &(email = t.email)});
    if (!t.user_id.empty()) members.push_back({"userId", &(user_id = t.user_id)});
    return Status::success();
  };
  auto copy = [&](const char* k) {
    auto it = p.find(k);
    if (it != p.end()) members.push_back({k, &*it});
  };
  if (type == "track") {
    t.kind = Kind::track;
    DS_CHECK(identity());
    name = string_member(p, "eventName");
    if (name.get_ref<const std::string&>().empty()) return bad("track needs an eventName");
    members.push_back({"eventName", &name});
    auto given = p.find("id");
    if (given != p.end() && given->is_string()) members.push_back({"id", &*given});
    else members.push_back({"id", &(id = r.stream + ":" + std::to_string(r.id))});
    copy("createdAt");
    copy("dataFields");
  } else if (type == "identify") {
    t.kind = Kind::identify;
    DS_CHECK(identity());
    for (const char* k : {"dataFields", "preferUserId", "mergeNestedObjects"}) copy(k);
  } else if (type == "subscribe" || type == "unsubscribe") {
    t.kind = type == "subscribe" ? Kind::subscribe : Kind::unsubscribe;
    if (!p.contains("listId") || !p["listId"].is_number_integer()) return bad(type + " needs an integer listId");
    t.list_id = p["listId"].get<std::int64_t>();
    DS_CHECK(identity());
  } else if (type == "subscriptions") {
    t.kind = Kind::subscriptions;
    DS_CHECK(identity());
    for (const char* k : {"emailListIds", "unsubscribedChannelIds", "unsubscribedMessageTypeIds",
                          "subscribedMessageTypeIds", "campaignId", "templateId"})
      copy(k);
  } else {
    return bad("type: expected track, identify, subscribe, unsubscribe or subscriptions, got \"" + type + "\"");
  }
  return Status::success();
}

std::vector<std::string> keys_of(const Transformed& t) {
  std::vector<std::string> keys;
  if (!t.email.empty()) keys.push_back("email:" + t.email);
  if (!t.user_id.empty()) keys.push_back("userId:" + t.user_id);
  return keys;
}

// The oracle key of what delivering the item does: the item itself, or on a
// list endpoint the item with the body's listId (as the fake counts it).
std::string effect_of(const Transformed& t) {
  const Endpoint& ep = endpoint(t.kind);
  std::vector<CanonicalMember> members = t.members;
  const nlohmann::json list_id = t.list_id;
  if (t.kind == Kind::subscribe || t.kind == Kind::unsubscribe) members.push_back({"listId", &list_id});
  return std::string(ep.effect) + "#" + hex16(canonical_object_hash(std::move(members)));
}

// "HTTP 400 code: msg" from an Iterable error body, tolerating anything.
std::string describe_error(const HttpAnswer& a, std::string* code_out) {
  std::string code = string_member(a.body, "code"), msg = string_member(a.body, "msg");
  *code_out = code;
  std::string out = "HTTP " + std::to_string(a.status);
  if (!code.empty()) out += " " + code;
  if (!msg.empty()) out += ": " + msg;
  return out;
}

// Statuses as the Go client maps them: a batch is retried whole on 429 and
// 5xx (408/409 send its records alone); a record alone is retried on 408, 429, 5xx.
// One code is permanent whatever its status: a list that does not exist is
// answered 500 with error.lists.invalidListId (#13 item 3), and no retry fixes it.
const std::vector<std::string> kPermanentCodes{"error.lists.invalidListId"};
const RetryableStatuses kBatchRetry{{429}, true, kPermanentCodes, "/code"};
const RetryableStatuses kOneRetry{{408, 429}, true, kPermanentCodes, "/code"};

class IterableHandler final : public BatchHandler {
 public:
  IterableHandler(HttpCaller& http, std::string host, std::string api_key, Kind kind, std::int64_t list_id,
                  BatchLimits limits)
      : http_(http), host_(std::move(host)), api_key_(std::move(api_key)), ep_(endpoint(kind)), list_id_(list_id),
        limits_(limits) {
    const std::string open = envelope_open();
    limits_.envelope_bytes = static_cast<std::int64_t>(open.size() + 2);  // "]}"
    limits_.separator_bytes = 1;
  }

  std::string name() const override {
    std::string n = std::string("iterable ") + (ep_.bulk_path + 5);
    if (ep_.kind == Kind::subscribe || ep_.kind == Kind::unsubscribe) n += " list " + std::to_string(list_id_);
    return n;
  }
  BatchLimits limits() const override { return limits_; }

  Task<BatchResult> process_batch(const std::vector<const Message*>& batch) override {
    std::string body = envelope_open();
    body.reserve(body.size() + 2 + batch.size() * (batch.front()->body.size() + 1));
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (i) body.push_back(',');
      body += batch[i]->body;
    }
    body += "]}";
    HttpAnswer a = co_await http_.call(request(ep_.bulk_path, std::move(body)), kBatchRetry);
    co_return classify_batch(a, batch);
  }

  Task<OneResult> process_one(const Message& m) override {
    std::string body;
    if (ep_.kind == Kind::subscribe || ep_.kind == Kind::unsubscribe) {
      body = envelope_open() + m.body + "]}";
    } else {
      body = m.body;
    }
    HttpAnswer a = co_await http_.call(request(ep_.one_path, std::move(body)), kOneRetry);
    co_return classify_one(a, m);
  }

 private:
  std::string envelope_open() const {
    switch (ep_.kind) {
      case Kind::subscribe: return "{\"listId\":" + std::to_string(list_id_) + ",\"subscribers\":[";
      case Kind::unsubscribe:
        return "{\"listId\":" + std::to_string(list_id_) + ",\"channelUnsubscribe\":false,\"subscribers\":[";
      default: return std::string("{\"") + ep_.list_field + "\":[";
    }
  }

  Request request(const char* path, std::string body) const {
    return json_request("POST", host_, path, std::move(body), {{"Api-Key", api_key_}});
  }

  BatchResult classify_batch(const HttpAnswer& a, const std::vector<const Message*>& batch) const {
    if (a.ok()) {
      BatchResult ok = per_record(a.body, batch, false);
      ok.retry_after = a.retry_after;
      ok.http_status = a.status;
      return ok;
    }
    BatchResult out = batch_result(a);  // transport, unreadable, 413, 429/5xx, the rest permanent
    if (a.kind == AnswerKind::transport || a.kind == AnswerKind::unreadable) return out;
    std::string code;
    out.reason = describe_error(a, &code);
    const bool by_code = std::find(kPermanentCodes.begin(), kPermanentCodes.end(), a.code) != kPermanentCodes.end();
    if (!by_code && ((code == "RequestFieldsTypesMismatched" && a.kind == AnswerKind::permanent) ||
                     a.status == 408 || a.status == 409)) {
      // Alone, the record with the mismatched field fails and the rest go through.
      out.status = BatchStatus::retry_individual;
      out.too_large = false;
    }
    return out;
  }

  // Per-record verdicts from a 2xx bulk body. The API names failures by
  // identity (email, userId) or event name, and counts them (successCount,
  // failCount); the two must agree before anything is called delivered:
  //  - a failure naming a key one message holds fails that message;
  //  - a failure naming a key several messages hold (one user's records share
  //    a batch) cannot say which of them failed: they are sent alone (retry);
  //  - failures counted but not named (failCount above the messages named, or
  //    the counts not adding up to the batch) leave every unnamed message
  //    unaccounted: sent alone too — or, for a message already alone, failed;
  //  - counts missing: the answer is unreadable (maybe applied, retried).
  BatchResult per_record(const nlohmann::json& b, const std::vector<const Message*>& batch, bool alone) const {
    std::map<std::string, std::string> failed_keys;  // "email:x" → reason
    std::set<std::string> success_keys;             // named, yet success (forgotten on lists, notFound on unsubscribe)
    std::set<std::string> disallowed;
    auto collect = [&](const nlohmann::json& arr, const char* prefix, const std::string& reason, bool success) {
      if (!arr.is_array()) return;
      for (const auto& v : arr) {
        if (!v.is_string()) continue;
        std::string key = std::string(prefix) + v.get<std::string>();
        if (success) success_keys.insert(std::move(key));
        else failed_keys.emplace(std::move(key), reason);
      }
    };
    collect(b.value("invalidEmails", nlohmann::json()), "email:", "invalid email (invalidEmails)", false);
    collect(b.value("invalidUserIds", nlohmann::json()), "userId:", "invalid userId (invalidUserIds)", false);
    collect(b.value("validEmailFailures", nlohmann::json()), "email:", "rejected (validEmailFailures)", false);
    collect(b.value("validUserIdFailures", nlohmann::json()), "userId:", "rejected (validUserIdFailures)", false);
    if (b.contains("disallowedEventNames") && b["disallowedEventNames"].is_array())
      for (const auto& v : b["disallowedEventNames"])
        if (v.is_string()) disallowed.insert(v.get<std::string>());
    if (b.contains("failedUpdates") && b["failedUpdates"].is_object()) {
      const auto& f = b["failedUpdates"];
      for (auto it = f.begin(); it != f.end(); ++it) {
        const std::string& list = it.key();
        // notFound on unsubscribe counts as success: the user is not on the
        // list, which is what was asked. A forgotten user (a privacy request)
        // is not: Iterable stores nothing for it, so its record fails for good
        // (the reference counts it delivered with a metric; docs/DECISIONS.md).
        const bool success = ep_.kind == Kind::unsubscribe && list.rfind("notFound", 0) == 0;
        bool emails = list.find("Emails") != std::string::npos;
        std::string what = list.rfind("invalidEmails", 0) == 0     ? "invalid email"
                           : list.rfind("invalidUserIds", 0) == 0  ? "invalid userId"
                           : list.rfind("notFound", 0) == 0        ? "user not found"
                           : list.rfind("forgotten", 0) == 0       ? "forgotten user (a privacy request: Iterable keeps no data for it)"
                           : list.rfind("conflict", 0) == 0        ? "email and userId conflict"
                           : list.rfind("invalidData", 0) == 0     ? "invalid data"
                                                                   : "rejected";
        collect(it.value(), emails ? "email:" : "userId:", what + " (failedUpdates." + list + ")", success);
      }
    }
    const nlohmann::json sc = b.value("successCount", nlohmann::json()), fc = b.value("failCount", nlohmann::json());
    if (!sc.is_number_integer() || !fc.is_number_integer()) {
      BatchResult out;
      out.status = BatchStatus::retry_batch;
      out.maybe_applied = true;
      out.reason = "HTTP 200 without integer successCount and failCount (cannot tell what was applied)";
      out.kind = ReasonKind::transport;
      return out;
    }
    const std::int64_t success_count = sc.get<std::int64_t>(), fail_count = fc.get<std::int64_t>();

    // Of the keys a failure names: the messages of this batch holding each, and their distinct bodies.
    std::map<std::string, int> holders;
    std::map<std::string, std::set<std::string_view>> bodies;
    if (!failed_keys.empty())
      for (const Message* m : batch)
        for (const auto& k : m->keys)
          if (failed_keys.count(k)) {
            ++holders[k];
            bodies[k].insert(m->body);
          }
    BatchResult out;
    out.status = BatchStatus::success;
    std::int64_t named = 0;  // messages a failure list names (success-counted ones included)
    std::vector<bool> unnamed(batch.size(), false);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const Message* m = batch[i];
      MessageResult mr{m->id, Verdict::ok, ""};
      bool is_named = false;
      for (const auto& k : m->keys) {
        auto f = failed_keys.find(k);
        if (f == failed_keys.end()) {
          is_named |= success_keys.count(k) != 0;
          continue;
        }
        is_named = true;
        // Identical rows (one body) get one answer: a failure naming their
        // key fails every copy; sending them alone would learn nothing.
        if (holders[k] > 1 && bodies[k].size() > 1) {
          mr.verdict = Verdict::retry;
          mr.reason = f->second + " names " + k + ", which " + std::to_string(holders[k]) +
                      " records of the batch share: sent alone to learn which";
        } else {
          mr.verdict = Verdict::fail;
          mr.reason = f->second;
          mr.kind = ReasonKind::rejected_by_api;
        }
        break;
      }
      if (mr.verdict == Verdict::ok && !disallowed.empty()) {
        nlohmann::json item = parse_json_body(m->body);
        std::string name = string_member(item, "eventName");
        if (disallowed.count(name)) {
          is_named = true;
          mr.verdict = Verdict::fail;
          mr.reason = "disallowed event name \"" + name + "\" (disallowedEventNames)";
          mr.kind = ReasonKind::rejected_by_api;
        }
      }
      named += is_named ? 1 : 0;
      unnamed[i] = !is_named;
      out.results.push_back(std::move(mr));
    }
    const auto n = static_cast<std::int64_t>(batch.size());
    if (fail_count > named || success_count + fail_count != n) {
      // Failures the answer counts but does not name: no unnamed message may be called delivered.
      const std::string why = "Iterable answered successCount " + std::to_string(success_count) + ", failCount " +
                              std::to_string(fail_count) + " for " + std::to_string(n) + " records but named " +
                              std::to_string(named);
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (!unnamed[i]) continue;
        MessageResult& mr = out.results[i];
        mr.verdict = alone ? Verdict::fail : Verdict::retry;
        mr.reason = alone ? why + " (a failure nobody is named for)" : why + ": sent alone to learn its outcome";
        if (alone) mr.kind = ReasonKind::rejected_by_api;
      }
    }
    bool all_ok = true;
    for (const auto& mr : out.results) all_ok &= mr.verdict == Verdict::ok;
    if (all_ok) out.results.clear();
    else out.status = BatchStatus::partial_success;
    return out;
  }

  OneResult classify_one(const HttpAnswer& a, const Message& m) const {
    if (!a.ok()) {
      OneResult out = one_result(a);  // 413 fails too large; 408/429/5xx retry
      if (a.kind == AnswerKind::transport || a.kind == AnswerKind::unreadable) return out;
      std::string code;
      out.reason = describe_error(a, &code);
      // The code decides only on a permanent (4xx) answer: a 5xx is transient whatever its body names.
      if (code == "RequestFieldsTypesMismatched" && a.kind == AnswerKind::permanent) out.verdict = Verdict::fail;
      return out;
    }
    OneResult out = one_success(a);
    const nlohmann::json& b = a.body;
    std::string msg = string_member(b, "msg");
    if (msg.find("is disallowed from tracking") != std::string::npos) {
      out.verdict = Verdict::fail;
      out.reason = "disallowed event name: " + msg;
      return out;
    }
    if (ep_.kind == Kind::subscribe || ep_.kind == Kind::unsubscribe) {
      std::vector<const Message*> one{&m};
      BatchResult br = per_record(b, one, true);
      if (br.status == BatchStatus::retry_batch) {
        out.verdict = Verdict::retry;
        out.reason = br.reason;
        out.maybe_applied = br.maybe_applied;
        out.kind = br.kind;
      } else if (br.status == BatchStatus::partial_success && br.results[0].verdict == Verdict::fail) {
        out.verdict = Verdict::fail;
        out.reason = br.results[0].reason;
        out.kind = br.results[0].kind;
      }
    }
    return out;
  }

  HttpCaller& http_;
  std::string host_;
  std::string api_key_;
  const Endpoint& ep_;
  std::int64_t list_id_;
  BatchLimits limits_;
};

// Routes each record to its endpoint's handler (one per endpoint, one per list).
class IterableRoutes final : public BatchRoutes {
 public:
  IterableRoutes(DeliveryContext& ctx, const Config& config)
      : host_(config.string("host")),
        api_key_(config.secret("api_key").value),
        limits_{.records_max = config.integer("records_max"),
                .bytes_max = config.size("request_bytes_max"),
                .envelope_bytes = 0,
                .separator_bytes = 1},
        limiter_(ctx.loop, config.integer("requests_per_second")),
        http_(ctx.loop, ctx.transport, limiter_) {
    ctx.loop.trace().add_secret(api_key_);
  }

  Result<Routed> route(const Record& record) override {
    Transformed t;
    DS_CHECK(transform(record, t));
    std::string key = std::to_string(static_cast<int>(t.kind)) + ":" + std::to_string(t.list_id);
    auto it = handlers_.find(key);
    if (it == handlers_.end()) {
      auto h = std::make_unique<IterableHandler>(http_, host_, api_key_, t.kind, t.list_id, limits_);
      it = handlers_.emplace(key, std::move(h)).first;
    }
    Routed out;
    out.handler = it->second.get();
    out.message.id = record.id;
    out.message.keys = keys_of(t);
    out.message.body = canonical_object(std::move(t.members));
    return out;
  }

  nlohmann::json stats() const override { return {{"rate_limit_waits", limiter_.waits()}}; }

 private:
  std::string host_;
  std::string api_key_;
  BatchLimits limits_;
  RateLimiter limiter_;
  HttpCaller http_;
  std::map<std::string, std::unique_ptr<IterableHandler>> handlers_;
};

std::vector<ConfigKey> schema() {
  // The destination's own defaults over the peer's.
  const ProcessorConfig d{
      .flush_queue_size = 1000, .flush_interval = std::chrono::seconds(5), .max_retries = 5,
      .retry = {.max_attempts = 1, .delay_initial = std::chrono::seconds(1), .delay_max = std::chrono::minutes(2),
                .elapsed_max = std::chrono::hours(3)},
      .individual_concurrency = 4, .max_buffer_size = 10000, .max_async_requests = 4};
  return batch_schema(
      {
          {"api_key", ConfigType::secret, nullptr, "Iterable API key (sent as the Api-Key header)"},
          {"host", ConfigType::string, "api.iterable.com", "API host (api.eu.iterable.com for the EU)"},
          {"records_max", ConfigType::integer, 1000, "items per request (Iterable's limit is 1000)", 1, 1000},
          {"request_bytes_max", ConfigType::size, "4MB", "bytes per request body (Iterable's limit is 4 MB)", 1,
           4'000'000},
          {"requests_per_second", ConfigType::integer, 10,
           "client-side pacing per endpoint (Iterable: 10 req/s per project on bulk endpoints; 0 = off)", 0, 100000},
      },
      d);
}

Record generate(Rng& rng, JobId id, const GenerateOptions& o) {
  static const char* kTypes[] = {"track", "track", "track", "identify", "subscribe", "subscriptions"};
  std::string type = o.type.empty() ? kTypes[rng.below(6)] : o.type;
  Record r;
  r.id = id;
  r.stream = type == "track" ? "events" : "users";
  // Emails are unique per record, so every record's effect is distinguishable.
  std::string email = "user" + std::to_string(id) + "@example.com";
  if (rng.chance(o.invalid)) email = "user" + std::to_string(id) + "-at-example.com";  // invalid
  // Members emplaced straight into the object (an initializer list copies
  // each value through json_ref: a third of a 429 storm's input cost). The
  // draws are taken in the order written, as before.
  nlohmann::json p(nlohmann::json::value_t::object);
  auto& m = p.get_ref<nlohmann::json::object_t&>();
  auto object = [] { return nlohmann::json(nlohmann::json::value_t::object); };
  const bool track = type == "track";
  const bool identify = type == "identify", subscribe = type == "subscribe", subscriptions = type == "subscriptions";
  m.emplace("type", std::move(type));
  m.emplace("email", std::move(email));
  if (track) {
    static const char* kEvents[] = {"purchase", "page_view", "signup", "cart_add"};
    m.emplace("eventName", kEvents[rng.below(4)]);
    m.emplace("createdAt", 1'704'067'200 + static_cast<std::int64_t>(id));
    nlohmann::json fields = object();
    auto& f = fields.get_ref<nlohmann::json::object_t&>();
    f.emplace("amount", static_cast<std::int64_t>(rng.below(10000)));
    f.emplace("seq", id);
    if (o.odd_text) f.emplace("note", odd_text_or(o, id, 1, "note"));
    m.emplace("dataFields", std::move(fields));
  } else if (identify) {
    nlohmann::json fields = object();
    auto& f = fields.get_ref<nlohmann::json::object_t&>();
    f.emplace("plan", odd_text_or(o, id, 2, rng.chance(1, 2) ? "pro" : "free"));
    f.emplace("seq", id);
    m.emplace("dataFields", std::move(fields));
  } else if (subscribe) {
    m.emplace("listId", 100 + static_cast<std::int64_t>(rng.below(3)));
  } else if (subscriptions) {
    m.emplace("emailListIds", nlohmann::json::array({100 + static_cast<std::int64_t>(rng.below(3))}));
  }
  return padded_record(std::move(r), std::move(p), o, "/dataFields/pad");
}

// The records one request carried, in generate()'s payload shape: each item
// of a bulk body (or a single-record body) with its "type" and, on a list
// endpoint, the body's "listId" put back — transform() undone over the paths
// the handlers send to. A track item keeps its "id", so a replay sends it again
// under the same event id.
std::vector<nlohmann::json> records_from_request(std::string_view method, std::string_view path,
                                                 const nlohmann::json& body) {
  static const char* const kTypes[] = {"track", "identify", "subscribe", "unsubscribe", "subscriptions"};
  std::vector<nlohmann::json> out;
  if (method != "POST" || !body.is_object()) return out;
  for (int k = 0; k < static_cast<int>(std::size(kTypes)); ++k) {
    const Endpoint& ep = endpoint(static_cast<Kind>(k));
    const bool list = ep.kind == Kind::subscribe || ep.kind == Kind::unsubscribe;
    std::vector<const nlohmann::json*> items;
    if (path == ep.bulk_path) {  // a list endpoint's single sends use the bulk envelope too
      auto arr = body.find(ep.list_field);
      if (arr == body.end() || !arr->is_array()) return out;
      for (const auto& item : *arr) items.push_back(&item);
    } else if (path == ep.one_path) {
      items.push_back(&body);
    } else {
      continue;
    }
    for (const nlohmann::json* item : items) {
      if (!item->is_object()) continue;
      nlohmann::json payload = *item;
      payload["type"] = kTypes[k];
      if (list) {
        auto id = body.find("listId");
        if (id == body.end() || !id->is_number_integer()) return {};
        payload["listId"] = *id;
      }
      out.push_back(std::move(payload));
    }
    return out;
  }
  return out;
}

}  // namespace

DestinationEntry iterable_destination() {
  // Retried statuses, one fact: what a record alone is retried on (kOneRetry: 408, 429 and every
  // 5xx). A 409 is not retried; a batch answered 409 sends its records alone, and a single 409 fails.
  DestinationEntry e = destination_entry(
      "iterable", "iterable", "api.iterable.com",
      "Iterable bulk endpoints (trackBulk, bulkUpdate, lists, subscriptions) on the batch path", schema(),
      {.limits = {.records_max = 1000, .bytes_max = 4'000'000}, .retryable_statuses = kOneRetry.statuses,
       .permanent_codes = kPermanentCodes,
       .idempotent_writes = true, .rate_per_second = 10});
  e.make = [](DeliveryContext& ctx, const Config& config) {
    return make_batch_destination(ctx, config, iterable_routes);
  };
  e.effects = [](const Record& r, const Config&) -> std::vector<std::string> {
    Transformed t;
    if (!transform(r, t).ok()) return {};
    return {effect_of(t)};
  };
  e.generate = generate;
  e.records_from_request = records_from_request;
  e.fake_options = api_key_fake_options();
  return e;
}

std::unique_ptr<BatchRoutes> iterable_routes(DeliveryContext& ctx, const Config& config) {
  return std::make_unique<IterableRoutes>(ctx, config);
}

}  // namespace destsim
