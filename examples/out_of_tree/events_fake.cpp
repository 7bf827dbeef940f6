#include "events_fake.h"

#include "fakes/fake_options.h"
#include "framework/json_in.h"
#include "framework/oracle.h"

namespace acme {

using namespace destsim;

namespace {

bool valid_email(const std::string& e) {
  const auto at = e.find('@');
  return at != std::string::npos && at > 0 && e.find('.', at) != std::string::npos && e.back() != '.';
}

Response error(int status, const std::string& code, const std::string& msg) {
  return json_response(status, {{"code", code}, {"msg", msg}, {"params", nullptr}});
}

}  // namespace

nlohmann::json EventsFake::accepted() const {
  return {{"tracked", state_.tracked}, {"rejected", state_.rejected}, {"requests", state_.requests}};
}

Response EventsFake::handle(const Request& request, Time now) {
  (void)now;
  ++state_.requests;
  const std::string path(request.path_only());
  const bool bulk = path == "/api/events/trackBulk";
  if (!bulk && path != "/api/events/track") return error(404, "NotFound", path + ": no such endpoint");
  if (request.method != "POST") return error(405, "MethodNotAllowed", "POST only");
  auto key = request.headers.get("Api-Key");
  if (!key || key->empty() || (!options_.api_key.empty() && *key != options_.api_key))
    return error(401, "BadApiKey", "Invalid API key");
  if (static_cast<std::int64_t>(request.body.size()) > options_.body_bytes_max)
    return error(413, "RequestTooLarge", "the body exceeds " + std::to_string(options_.body_bytes_max) + " bytes");
  nlohmann::json body = parse_json_body(request.body);
  if (!body.is_object()) return error(400, "BadJsonBody", "expected a JSON object");
  std::vector<nlohmann::json> events;
  if (bulk) {
    if (!body.contains("events") || !body["events"].is_array()) return error(400, "BadParams", "events: expected an array");
    if (static_cast<std::int64_t>(body["events"].size()) > options_.events_max)
      return error(400, "BadParams", "events: at most " + std::to_string(options_.events_max));
    for (const auto& e : body["events"]) events.push_back(e);
  } else {
    events.push_back(body);
  }
  nlohmann::json res = {{"successCount", 0}, {"failCount", 0}, {"invalidEmails", nlohmann::json::array()},
                        {"invalidUserIds", nlohmann::json::array()}};
  for (const auto& e : events) {
    const std::string email = e.is_object() ? e.value("email", "") : "";
    const std::string user_id = e.is_object() ? e.value("userId", "") : "";
    if (!e.is_object() || !e.contains("eventName") || (email.empty() && user_id.empty())) {
      if (!bulk) return error(400, "BadParams", "eventName and an email or userId are required");
      ++state_.rejected;
      res["failCount"] = res["failCount"].get<std::int64_t>() + 1;
      continue;
    }
    if (!email.empty() && !valid_email(email)) {
      if (!bulk) return error(400, "InvalidEmailAddressError", "Invalid email: " + email);
      ++state_.rejected;
      res["invalidEmails"].push_back(email);
      res["failCount"] = res["failCount"].get<std::int64_t>() + 1;
      continue;
    }
    ledger_.add(oracle_key_of_dump("iterable.event", e.dump()));
    ++state_.tracked;
    res["successCount"] = res["successCount"].get<std::int64_t>() + 1;
  }
  if (!bulk) return json_response(200, {{"msg", "Event tracked."}, {"code", "Success"}, {"params", nullptr}});
  return json_response(200, res);
}

FakeEntry events_fake_entry() {
  FakeEntry e;
  e.name = "acme_events";
  e.about = "Iterable's event endpoints (trackBulk, track), as iterable_events uses them";
  e.door = FakeDoor::http;  // every fault kind applies (the default fault_kinds)
  e.make = [](const nlohmann::json& options, const std::string& where) -> Result<std::unique_ptr<Fake>> {
    DS_TRY(EventsFakeOptions o,
           read_fake_options(options, where, "api_key", &EventsFakeOptions::api_key, {"events_max", "body_bytes_max"},
                             [](const JsonIn& in, EventsFakeOptions& o) -> Status {
                               if (in.has("events_max")) { DS_TRY(o.events_max, in.at("events_max").integer(1)); }
                               if (in.has("body_bytes_max")) {
                                 DS_TRY(o.body_bytes_max, in.at("body_bytes_max").size_bytes());
                               }
                               return {};
                             }));
    return std::unique_ptr<Fake>(std::make_unique<EventsFake>(std::move(o)));
  };
  return e;
}

}  // namespace acme
