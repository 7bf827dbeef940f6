#include "fakes/iterable/iterable_api.h"

#include "fakes/fake_options.h"

#include <algorithm>
#include <optional>

#include "framework/json_in.h"
#include "framework/oracle.h"
#include "framework/trace.h"

namespace destsim {

namespace {

constexpr std::int64_t kUnit = 1'000'000'000;  // token units per request

// A string member, or "" (missing, or not a string). Valid while the body is.
std::string_view str_field(JsonView j, std::string_view key) { return j[key].str(); }

Response error(int status, const std::string& code, const std::string& msg, nlohmann::json params = nullptr) {
  return json_response(status, {{"msg", msg}, {"code", code}, {"params", params}});
}

nlohmann::json failed_updates_skeleton(bool users) {
  nlohmann::json f = {{"invalidEmails", nlohmann::json::array()},   {"invalidUserIds", nlohmann::json::array()},
                      {"notFoundEmails", nlohmann::json::array()},  {"notFoundUserIds", nlohmann::json::array()},
                      {"forgottenEmails", nlohmann::json::array()}, {"forgottenUserIds", nlohmann::json::array()}};
  if (users) {
    f["conflictEmails"] = nlohmann::json::array();
    f["conflictUserIds"] = nlohmann::json::array();
    f["invalidDataEmails"] = nlohmann::json::array();
    f["invalidDataUserIds"] = nlohmann::json::array();
  }
  return f;
}

// A bulk answer's frame: the counts, the named top-level lists (empty) and failedUpdates.
nlohmann::json bulk_answer(std::initializer_list<const char*> lists, bool users) {
  nlohmann::json res = {{"successCount", 0}, {"failCount", 0}, {"failedUpdates", failed_updates_skeleton(users)}};
  for (const char* list : lists) res[list] = nlohmann::json::array();
  return res;
}

// Why an item names no user it may change (the single-item error's code and message), or nothing.
struct ItemError {
  std::string code, message;
};
std::optional<ItemError> identity_error(std::string_view email, std::string_view user_id) {
  if (email.empty() && user_id.empty()) return ItemError{"BadParams", "email or userId: required"};
  if (!email.empty() && !fake_valid_email(email))
    return ItemError{"InvalidEmailAddressError", "Invalid email: " + std::string(email)};
  return std::nullopt;
}

// The fake's own keys (read_fake_options reads the common ones and the null case).
Status read_own_options(const JsonIn& in, IterableApiOptions& o) {
  if (in.has("disallowed_event_names")) {
    JsonIn a = in.at("disallowed_event_names");
    DS_CHECK(a.array());
    for (std::size_t i = 0; i < a.size(); ++i) {
      DS_TRY(std::string n, a.at(i).string());
      o.disallowed_event_names.push_back(n);
    }
  }
  if (in.has("items_max")) { DS_TRY(o.items_max, in.at("items_max").integer(1)); }
  if (in.has("body_bytes_max")) { DS_TRY(o.body_bytes_max, in.at("body_bytes_max").size_bytes()); }
  if (in.has("rate_per_second")) { DS_TRY(o.rate_per_second, in.at("rate_per_second").integer(0)); }
  if (in.has("burst")) { DS_TRY(o.burst, in.at("burst").integer(1)); }
  if (in.has("retry_after")) { DS_TRY(o.retry_after, in.at("retry_after").boolean()); }
  if (in.has("list_ids")) {
    JsonIn a = in.at("list_ids");
    DS_CHECK(a.array());
    for (std::size_t i = 0; i < a.size(); ++i) {
      DS_TRY(std::int64_t id, a.at(i).integer());
      o.list_ids.push_back(id);
    }
  }
  if (in.has("forgotten_emails")) {
    JsonIn a = in.at("forgotten_emails");
    DS_CHECK(a.array());
    for (std::size_t i = 0; i < a.size(); ++i) {
      DS_TRY(std::string e, a.at(i).string());
      o.forgotten_emails.push_back(e);
    }
  }
  return {};
}

}  // namespace

Result<IterableApiOptions> IterableApiOptions::from_json(const nlohmann::json& j, const std::string& where) {
  return read_fake_options(j, where, "api_key", &IterableApiOptions::api_key,
                           {"disallowed_event_names", "items_max", "body_bytes_max", "rate_per_second", "burst",
                            "retry_after", "list_ids", "forgotten_emails"},
                           read_own_options);
}

// The item's canonical hash straight from the parsed body (framework/flat_json.h).
void IterableApi::count(std::string_view effect, std::uint64_t content_hash) {
  ledger_.add(effect, content_hash);
  ++state_.applications;
}

bool IterableApi::take_token(const std::string& path, Time now, Duration* wait) {
  if (options_.rate_per_second <= 0) return true;
  IterableApiState::Bucket& b = state_.buckets[path];
  const std::int64_t cap = options_.burst * kUnit;
  if (!b.init) {
    b.init = true;
    b.units = cap;
    b.last = now;
  }
  Int128 refill = static_cast<Int128>((now - b.last).count()) * options_.rate_per_second;
  b.units = static_cast<std::int64_t>(std::min<Int128>(cap, b.units + refill));
  b.last = now;
  if (b.units >= kUnit) {
    b.units -= kUnit;
    return true;
  }
  std::int64_t missing = kUnit - b.units;
  *wait = Duration((missing + options_.rate_per_second - 1) / options_.rate_per_second);
  return false;
}

std::string IterableApi::type_mismatch(const Types& types, const std::vector<JsonMember>& fields) const {
  for (const auto& [key, value] : fields) {
    if (value.is_null()) continue;
    auto known = types.find(key);
    if (known == types.end()) continue;
    std::string_view got = value.type_name();
    bool compatible = known->second == got || (known->second == "double" && got == "long");
    if (!compatible) return std::string(key) + ": expected " + known->second + ", got " + std::string(got);
  }
  return "";
}

void IterableApi::learn_types(Types& types, const std::vector<JsonMember>& fields) {
  for (const auto& [key, value] : fields) {
    if (value.is_null()) continue;
    if (types.find(key) == types.end()) types.emplace(std::string(key), value.type_name());
  }
}

namespace {
HashedStringIndex::KeyAt email_at(const IterableApiState& s) {
  return [&s](std::size_t i) -> std::string_view { return s.names.get(s.users[i].email); };
}
HashedStringIndex::KeyAt user_id_at(const IterableApiState& s) {
  return [&s](std::size_t i) -> std::string_view { return s.names.get(s.users[i].user_id); };
}
}  // namespace

std::optional<std::size_t> IterableApi::find_user(std::string_view email, std::string_view user_id) const {
  if (!email.empty())
    if (auto i = state_.by_email.find(email, email_at(state_))) return i;
  if (!user_id.empty())
    if (auto i = state_.by_user_id.find(user_id, user_id_at(state_))) return i;
  return std::nullopt;
}

std::size_t IterableApi::upsert_user(std::string_view email, std::string_view user_id) {
  if (auto found = find_user(email, user_id)) {
    User& u = state_.users[*found];
    if (!email.empty() && u.email.bits == 0) {
      u.email = state_.names.add(email);
      state_.by_email.insert(email, *found, email_at(state_));
    }
    if (!user_id.empty() && u.user_id.bits == 0) {
      u.user_id = state_.names.add(user_id);
      state_.by_user_id.insert(user_id, *found, user_id_at(state_));
    }
    return *found;
  }
  const std::size_t index = state_.users.size();
  state_.users.push_back(User{state_.names.add(email), state_.names.add(user_id)});
  if (!email.empty()) state_.by_email.insert(email, index, email_at(state_));
  if (!user_id.empty()) state_.by_user_id.insert(user_id, index, user_id_at(state_));
  return index;
}

Response IterableApi::handle(const Request& request, Time now) {
  ++state_.requests;
  return route(request, now);
}

Response IterableApi::route(const Request& request, Time now) {
  const std::string path(request.path_only());
  auto key = request.headers.get("Api-Key");
  if (!key || key->empty() || (!options_.api_key.empty() && *key != options_.api_key)) {
    return error(401, "BadApiKey", "Invalid API key", {{"endpoint", path}});
  }
  static const std::map<std::string, Kind> kinds = {
      {"/api/events/trackBulk", Kind::track_bulk},
      {"/api/events/track", Kind::track},
      {"/api/users/bulkUpdate", Kind::bulk_update},
      {"/api/users/update", Kind::update},
      {"/api/lists/subscribe", Kind::subscribe},
      {"/api/lists/unsubscribe", Kind::unsubscribe},
      {"/api/users/bulkUpdateSubscriptions", Kind::bulk_subs},
      {"/api/users/updateSubscriptions", Kind::subs},
  };
  auto k = kinds.find(path);
  if (k == kinds.end()) return error(404, "NotFound", "[" + path + "] Not found");
  if (request.method != "POST") return error(405, "MethodNotAllowed", "[" + path + "] expects POST");
  Duration wait{0};
  if (!take_token(path, now, &wait)) {
    Response r = error(429, "RateLimitExceeded", "[" + path + "] Rate limit exceeded");
    if (options_.retry_after) {
      r.headers.set("Retry-After", std::to_string(std::max<std::int64_t>(
                                       1, std::chrono::ceil<std::chrono::seconds>(wait).count())));
    }
    return r;
  }
  if (static_cast<std::int64_t>(request.body.size()) > options_.body_bytes_max) {
    return error(413, "PayloadTooLarge", "[" + path + "] Request body exceeds " +
                                             std::to_string(options_.body_bytes_max) + " bytes");
  }
  FlatJson& doc = body_;  // reused: its buffers keep their capacity between requests
  JsonView body = doc.parse(request.body) ? doc.root() : JsonView();
  if (!body.is_object()) {
    return error(400, "BadJsonBody", "[" + path + "] Invalid JSON body");
  }
  switch (k->second) {
    case Kind::track_bulk: return track(body, true, path);
    case Kind::track: return track(body, false, path);
    case Kind::bulk_update: return update_users(body, true, path);
    case Kind::update: return update_users(body, false, path);
    case Kind::subscribe: return lists(body, true, path);
    case Kind::unsubscribe: return lists(body, false, path);
    case Kind::bulk_subs: return subscriptions(body, true, path);
    case Kind::subs: return subscriptions(body, false, path);
  }
  return error(500, "Internal", "unreachable");
}

// The items of a request: the `field` array of a bulk body, or the body itself
// for a single endpoint. Fails on a missing array, too many items, or a field
// whose type contradicts the schema (which rejects the whole request).
std::optional<Response> IterableApi::items_of(JsonView body, bool bulk, const char* field,
                                              std::string_view endpoint, const Types& types,
                                              std::vector<JsonView>& items) const {
  if (bulk) {
    JsonView arr = body[field];
    if (!arr.is_array())
      return error(400, "BadParams", "[" + std::string(endpoint) + "] " + field + ": expected an array");
    if (static_cast<std::int64_t>(arr.size()) > options_.items_max)
      return error(400, "BatchTooLarge",
                   "at most " + std::to_string(options_.items_max) + " " + field + " per request");
    items = arr.elements();
  } else {
    items.push_back(body);
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    std::string m = type_mismatch(types, items[i]["dataFields"].members());
    if (!m.empty()) {
      return error(400, "RequestFieldsTypesMismatched", "Request fields types mismatched",
                   {{"validationErrors", {{(bulk ? std::string(field) + "[" + std::to_string(i) + "]." : std::string()) +
                                               "dataFields." + m.substr(0, m.find(':')),
                                           m}}}});
    }
  }
  return std::nullopt;
}

Response IterableApi::track(JsonView body, bool bulk, std::string_view endpoint) {
  std::vector<JsonView> items;
  if (auto rejected = items_of(body, bulk, "events", endpoint, state_.event_types, items)) return *rejected;
  nlohmann::json res = bulk_answer(
      {"invalidEmails", "invalidUserIds", "disallowedEventNames", "filteredOutFields", "createdFields"}, false);
  std::int64_t ok = 0, failed = 0;
  for (JsonView e : items) {
    std::string_view email = str_field(e, "email"), user_id = str_field(e, "userId"), name = str_field(e, "eventName");
    auto fail = [&](const char* list, std::string_view value, bool top_level) {
      ++failed;
      if (top_level) res[list].push_back(value);
      else res["failedUpdates"][list].push_back(value);
    };
    if (name.empty()) {
      if (!bulk) return error(400, "BadParams", "eventName: required");
      fail("invalidEmails", email.empty() ? user_id : email, true);
      continue;
    }
    if (auto bad = identity_error(email, user_id)) {
      if (!bulk) return error(400, bad->code, bad->message);
      if (email.empty()) ++failed;
      else fail("invalidEmails", email, true);
      continue;
    }
    if (std::find(options_.disallowed_event_names.begin(), options_.disallowed_event_names.end(), name) !=
        options_.disallowed_event_names.end()) {
      if (!bulk) return json_response(200, {{"msg", "Event name " + std::string(name) + " is disallowed from tracking"},
                                            {"code", "Success"},
                                            {"params", nullptr}});
      ++failed;
      res["disallowedEventNames"].push_back(name);
      continue;
    }
    if (email.empty() && !find_user("", user_id)) {
      if (!bulk) return error(400, "NotFound", "userId not found: " + std::string(user_id));
      fail("notFoundUserIds", user_id, false);
      continue;
    }
    // New fields become known; created fields are reported.
    const std::vector<JsonMember> fields = e["dataFields"].members();
    for (const auto& f : fields) {
      if (state_.event_types.find(f.key) == state_.event_types.end()) res["createdFields"].push_back(f.key);
    }
    learn_types(state_.event_types, fields);
    upsert_user(email, user_id);
    std::string_view id = str_field(e, "id");
    if (id.empty()) {
      ++state_.anonymous_events;
    } else {
      // An existing id is updated, not duplicated.
      auto id_at = [this](std::size_t i) -> std::string_view { return state_.names.get(state_.event_ids[i]); };
      if (!state_.event_index.find(id, id_at)) {
        state_.event_ids.push_back(state_.names.add(id));
        state_.event_index.insert(id, state_.event_ids.size() - 1, id_at);
      }
    }
    count("iterable.event", e.canonical_hash());
    ++ok;
  }
  if (!bulk) return json_response(200, {{"msg", "Event with id: " + std::string(str_field(items[0], "id")) + " tracked."},
                                        {"code", "Success"},
                                        {"params", {{"id", str_field(items[0], "id")}}}});
  res["successCount"] = ok;
  res["failCount"] = failed;
  return json_response(200, res);
}

Response IterableApi::update_users(JsonView body, bool bulk, std::string_view endpoint) {
  std::vector<JsonView> items;
  if (auto rejected = items_of(body, bulk, "users", endpoint, state_.user_types, items)) return *rejected;
  nlohmann::json res = bulk_answer(
      {"invalidEmails", "invalidUserIds", "filteredOutFields", "createdFields", "noOpEmails", "noOpUserIds"}, true);
  std::int64_t ok = 0, failed = 0;
  for (JsonView u : items) {
    std::string_view email = str_field(u, "email"), user_id = str_field(u, "userId");
    if (auto bad = identity_error(email, user_id)) {
      if (!bulk) return error(400, bad->code, bad->message);
      ++failed;
      if (!email.empty()) res["failedUpdates"]["invalidEmails"].push_back(email);
      continue;
    }
    // An email and a userId that belong to two different users conflict.
    auto by_e = email.empty() ? std::nullopt : find_user(email, "");
    auto by_u = user_id.empty() ? std::nullopt : find_user("", user_id);
    if (by_e && by_u && *by_e != *by_u) {
      if (!bulk) return error(409, "Conflict", "email and userId belong to different users");
      ++failed;
      res["failedUpdates"]["conflictEmails"].push_back(email);
      continue;
    }
    JsonView fields = u["dataFields"];
    learn_types(state_.user_types, fields.members());
    const std::size_t user = upsert_user(email, user_id);
    if (fields.is_object()) {
      auto [it, _] = state_.data_fields.try_emplace(user, nlohmann::json::object());
      it->second.update(fields.to_json());
    }
    count("iterable.user", u.canonical_hash());
    ++ok;
  }
  if (!bulk) return json_response(200, {{"msg", "User updated"}, {"code", "Success"}, {"params", nullptr}});
  res["successCount"] = ok;
  res["failCount"] = failed;
  return json_response(200, res);
}

Response IterableApi::lists(JsonView body, bool subscribe, std::string_view /*endpoint*/) {
  if (!body["listId"].is_integer()) return error(400, "BadParams", "listId: expected an integer");
  std::int64_t list_id = body["listId"].integer();
  if (deleted_lists_.count(list_id) ||
      (!options_.list_ids.empty() &&
       std::find(options_.list_ids.begin(), options_.list_ids.end(), list_id) == options_.list_ids.end())) {
    // As incidents show, Iterable answers a list that does not exist with a
    // 500 naming error.lists.invalidListId: a server status for a permanent
    // rejection (a client must read the code, not the status).
    return error(500, "error.lists.invalidListId", "listId " + std::to_string(list_id) + " does not exist");
  }
  if (!body["subscribers"].is_array()) return error(400, "BadParams", "subscribers: expected an array");
  if (static_cast<std::int64_t>(body["subscribers"].size()) > options_.items_max)
    return error(400, "BatchTooLarge", "at most " + std::to_string(options_.items_max) + " subscribers per request");
  nlohmann::json res = {{"successCount", 0}, {"failCount", 0}, {"failedUpdates", failed_updates_skeleton(true)}};
  std::int64_t ok = 0, failed = 0;
  auto& members = state_.lists[list_id];
  for (JsonView s : body["subscribers"].elements()) {
    std::string_view email = str_field(s, "email"), user_id = str_field(s, "userId");
    if (!email.empty() && !fake_valid_email(email)) {
      ++failed;
      res["failedUpdates"]["invalidEmails"].push_back(email);
      continue;
    }
    if (email.empty() && user_id.empty()) {
      ++failed;
      continue;
    }
    if (!email.empty() && std::find(options_.forgotten_emails.begin(), options_.forgotten_emails.end(), email) !=
                              options_.forgotten_emails.end()) {
      ++failed;
      res["failedUpdates"]["forgottenEmails"].push_back(email);
      continue;
    }
    if (email.empty() && !find_user("", user_id)) {
      ++failed;
      res["failedUpdates"]["notFoundUserIds"].push_back(user_id);
      continue;
    }
    std::string member = email.empty() ? "userId:" + std::string(user_id) : "email:" + std::string(email);
    if (subscribe) {
      upsert_user(email, user_id);
      members.insert(member);
    } else {
      members.erase(member);
    }
    nlohmann::json item = s.to_json();
    item["listId"] = list_id;
    count(subscribe ? "iterable.subscribe" : "iterable.unsubscribe", content_hash_of_dump(item));
    ++ok;
  }
  res["successCount"] = ok;
  res["failCount"] = failed;
  return json_response(200, res);
}

Response IterableApi::subscriptions(JsonView body, bool bulk, std::string_view /*endpoint*/) {
  std::vector<JsonView> items;
  if (bulk) {
    JsonView arr = body["updateSubscriptionsRequests"];
    if (!arr.is_array()) return error(400, "BadParams", "updateSubscriptionsRequests: expected an array");
    if (static_cast<std::int64_t>(arr.size()) > options_.items_max)
      return error(400, "BatchTooLarge", "at most " + std::to_string(options_.items_max) + " requests");
    items = arr.elements();
  } else {
    items.push_back(body);
  }
  nlohmann::json res = {{"successCount", 0},
                        {"failCount", 0},
                        {"invalidEmails", nlohmann::json::array()},
                        {"invalidUserIds", nlohmann::json::array()},
                        {"validEmailFailures", nlohmann::json::array()},
                        {"validUserIdFailures", nlohmann::json::array()}};
  std::int64_t ok = 0, failed = 0;
  for (JsonView r : items) {
    std::string_view email = str_field(r, "email"), user_id = str_field(r, "userId");
    if (!email.empty() && !fake_valid_email(email)) {
      if (!bulk) return error(400, "InvalidEmailAddressError", "Invalid email: " + std::string(email));
      ++failed;
      res["invalidEmails"].push_back(email);
      continue;
    }
    if (email.empty() && user_id.empty()) {
      if (!bulk) return error(400, "BadParams", "email or userId: required");
      ++failed;
      continue;
    }
    if (email.empty() && !find_user("", user_id)) {
      if (!bulk) return error(400, "NotFound", "userId not found: " + std::string(user_id));
      ++failed;
      res["invalidUserIds"].push_back(user_id);
      continue;
    }
    const std::size_t user = upsert_user(email, user_id);
    nlohmann::json subs = r.to_json();  // overwrites rather than merges (Iterable's documented behaviour)
    const std::uint64_t hash = content_hash_of_dump(subs);
    subs.erase("email");
    subs.erase("userId");
    state_.subscriptions[user] = std::move(subs);
    count("iterable.subscriptions", hash);
    ++ok;
  }
  if (!bulk) return json_response(200, {{"msg", "Subscriptions updated"}, {"code", "Success"}, {"params", nullptr}});
  res["successCount"] = ok;
  res["failCount"] = failed;
  return json_response(200, res);
}

nlohmann::json IterableApi::accepted() const {
  nlohmann::json users = nlohmann::json::array();
  for (std::size_t i = 0; i < state_.users.size(); ++i) {
    const User& u = state_.users[i];
    auto fields = state_.data_fields.find(i);
    nlohmann::json j = {{"dataFields", fields != state_.data_fields.end() ? fields->second : nlohmann::json::object()}};
    if (u.email.bits) j["email"] = state_.names.get(u.email);
    if (u.user_id.bits) j["userId"] = state_.names.get(u.user_id);
    if (auto subs = state_.subscriptions.find(i); subs != state_.subscriptions.end()) j["subscriptions"] = subs->second;
    users.push_back(j);
  }
  nlohmann::json lists = nlohmann::json::object();
  for (const auto& [id, members] : state_.lists) lists[std::to_string(id)] = members;
  return {{"requests", state_.requests},
          {"events", state_.event_ids.size() + static_cast<std::size_t>(state_.anonymous_events)},
          {"event_ids", [&] {
             std::vector<std::string_view> ids;
             ids.reserve(state_.event_ids.size());
             state_.event_ids.for_each([&](StringArena::Ref r) { ids.push_back(state_.names.get(r)); });
             std::sort(ids.begin(), ids.end());
             return nlohmann::json(ids);
           }()},
          {"users", users},
          {"lists", lists},
          {"applications", state_.applications},
          {"distinct_effects", ledger_.distinct()}};
}

Status IterableApi::control(const JsonIn& op, Time now) {
  DS_TRY(std::string key, control_key(op, {"set_api_key", "create_list", "delete_list", "request"}));
  if (key == "set_api_key") {
    DS_TRY(std::string k, op.at(key).string());
    options_.api_key = std::move(k);
    return Status::success();
  }
  if (key == "create_list" || key == "delete_list") {
    DS_TRY(std::int64_t id, op.at(key).integer(1));
    auto listed = std::find(options_.list_ids.begin(), options_.list_ids.end(), id);
    if (key == "create_list") {
      deleted_lists_.erase(id);
      if (!options_.list_ids.empty() && listed == options_.list_ids.end()) options_.list_ids.push_back(id);
    } else {
      // Deleted with its members: a subscribe to it is now error.lists.invalidListId.
      deleted_lists_.insert(id);
      if (listed != options_.list_ids.end()) options_.list_ids.erase(listed);
      state_.lists.erase(id);
    }
    return Status::success();
  }
  return FakeApi::control(op, now);
}

}  // namespace destsim
