#include "fakes/klaviyo/klaviyo_api.h"

#include "fakes/fake_options.h"

#include <algorithm>
#include <cstdio>

#include "framework/clock.h"
#include "framework/json_in.h"
#include "framework/oracle.h"

namespace destsim {

namespace {

constexpr const char* kJobsPath = "/api/profile-bulk-import-jobs";
constexpr const char* kProfilesPointer = "/data/attributes/profiles/data";
constexpr std::int64_t kSecondNs = 1'000'000'000;
constexpr std::int64_t kMinuteNs = 60 * kSecondNs;

// E.164: "+", a non-zero digit, 8 to 15 digits in all.
bool valid_e164(const std::string& p) {
  if (p.size() < 9 || p.size() > 16 || p[0] != '+' || p[1] == '0') return false;
  for (std::size_t i = 1; i < p.size(); ++i)
    if (p[i] < '0' || p[i] > '9') return false;
  return true;
}

bool valid_revision(std::string_view r) {
  // YYYY-MM-DD, optionally followed by ".suffix" (e.g. "2024-10-15.pre").
  if (r.size() < 10) return false;
  for (std::size_t i = 0; i < 10; ++i) {
    bool dash = i == 4 || i == 7;
    if (dash ? r[i] != '-' : (r[i] < '0' || r[i] > '9')) return false;
  }
  return r.size() == 10 || (r[10] == '.' && r.size() > 11);
}

std::string hex8(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08llx", static_cast<unsigned long long>(v & 0xffffffffULL));
  return buf;
}

nlohmann::json error_entry(int status, const std::string& code, const std::string& title, const std::string& detail,
                           const std::string& pointer = "", const std::string& parameter = "") {
  nlohmann::json source = nlohmann::json::object();
  if (!pointer.empty()) source["pointer"] = pointer;
  if (!parameter.empty()) source["parameter"] = parameter;
  return {{"id", hex8(fnv1a64(code + "|" + detail + "|" + pointer))},
          {"status", status},
          {"code", code},
          {"title", title},
          {"detail", detail},
          {"source", source}};
}

Response api_response(int status, const nlohmann::json& body) {
  Response r = json_response(status, body);
  r.headers.set("Content-Type", "application/vnd.api+json");
  return r;
}

Response error(int status, const std::string& code, const std::string& title, const std::string& detail,
               const std::string& pointer = "", const std::string& parameter = "") {
  return api_response(status,
                      {{"errors", nlohmann::json::array({error_entry(status, code, title, detail, pointer, parameter)})}});
}

const std::set<std::string>& profile_attribute_keys() {
  static const std::set<std::string> keys = {"email",      "phone_number", "external_id", "anonymous_id", "_kx",
                                             "first_name", "last_name",    "organization", "locale",      "title",
                                             "image",      "location",     "properties"};
  return keys;
}

const std::set<std::string>& location_keys() {
  static const std::set<std::string> keys = {"address1", "address2", "city",      "country", "latitude",
                                             "longitude", "region",  "zip",       "timezone", "ip"};
  return keys;
}

std::string cursor_for(const std::string& job_id, std::int64_t offset) {
  return "c" + std::to_string(offset) + "." + hex8(fnv1a64(job_id + "#" + std::to_string(offset)));
}

// The offset a cursor issued for `job_id` stands for, or -1.
std::int64_t offset_of(const std::string& job_id, const std::string& cursor) {
  auto dot = cursor.find('.');
  if (cursor.size() < 3 || cursor[0] != 'c' || dot == std::string::npos || dot < 2) return -1;
  std::int64_t offset = 0;
  for (std::size_t i = 1; i < dot; ++i) {
    if (cursor[i] < '0' || cursor[i] > '9' || offset > 1'000'000'000) return -1;
    offset = offset * 10 + (cursor[i] - '0');
  }
  return cursor == cursor_for(job_id, offset) ? offset : -1;
}

// The fake's own keys (read_fake_options reads the common ones and the null case).
Status read_own_options(const JsonIn& in, KlaviyoApiOptions& o) {
  if (in.has("revision_required")) { DS_TRY(o.revision_required, in.at("revision_required").boolean()); }
  if (in.has("list_ids")) {
    JsonIn a = in.at("list_ids");
    DS_CHECK(a.array());
    for (std::size_t i = 0; i < a.size(); ++i) {
      DS_TRY(std::string id, a.at(i).string());
      if (id.empty()) return a.at(i).expected("a non-empty list id");
      o.list_ids.push_back(id);
    }
  }
  if (in.has("profiles_max")) { DS_TRY(o.profiles_max, in.at("profiles_max").integer(1)); }
  if (in.has("payload_bytes_max")) { DS_TRY(o.payload_bytes_max, in.at("payload_bytes_max").size_bytes()); }
  if (in.has("profile_bytes_max")) { DS_TRY(o.profile_bytes_max, in.at("profile_bytes_max").size_bytes()); }
  if (in.has("queued_for")) { DS_TRY(o.queued_for, in.at("queued_for").duration()); }
  if (in.has("processing_for")) { DS_TRY(o.processing_for, in.at("processing_for").duration()); }
  if (in.has("cancel_jobs")) {
    JsonIn a = in.at("cancel_jobs");
    DS_CHECK(a.array());
    for (std::size_t i = 0; i < a.size(); ++i) {
      DS_TRY(std::int64_t n, a.at(i).integer(1));
      o.cancel_jobs.push_back(n);
    }
  }
  if (in.has("burst_per_second")) { DS_TRY(o.burst_per_second, in.at("burst_per_second").integer(0)); }
  if (in.has("steady_per_minute")) { DS_TRY(o.steady_per_minute, in.at("steady_per_minute").integer(0)); }
  if (in.has("page_size_max")) { DS_TRY(o.page_size_max, in.at("page_size_max").integer(1)); }
  if (in.has("status_values")) {
    DS_TRY(o.status_values,
           read_status_values(in.at("status_values"), {"queued", "processing", "complete", "cancelled"}));
  }
  if (in.has("page_size_default")) {
    DS_TRY(o.page_size_default, in.at("page_size_default").integer(1, o.page_size_max));
  }
  if (o.payload_bytes_max < 1) return in.at("payload_bytes_max").expected("a size of at least 1 byte");
  if (o.profile_bytes_max < 1) return in.at("profile_bytes_max").expected("a size of at least 1 byte");
  if (o.queued_for.count() < 0) return in.at("queued_for").expected("a duration >= 0");
  if (o.processing_for.count() < 0) return in.at("processing_for").expected("a duration >= 0");
  if (o.page_size_default > o.page_size_max) {
    return in.fail("page_size_default (" + std::to_string(o.page_size_default) + ") exceeds page_size_max (" +
                   std::to_string(o.page_size_max) + ")");
  }
  return {};
}

}  // namespace

Result<KlaviyoApiOptions> KlaviyoApiOptions::from_json(const nlohmann::json& j, const std::string& where) {
  return read_fake_options(j, where, "api_key", &KlaviyoApiOptions::api_key,
                           {"revision_required", "list_ids", "profiles_max", "payload_bytes_max",
                            "profile_bytes_max", "queued_for", "processing_for", "cancel_jobs",
                            "burst_per_second", "steady_per_minute", "page_size_default", "page_size_max",
                            "status_values"},
                           read_own_options);
}

std::string KlaviyoApi::iso(Time t) const {
  const std::int64_t ms =
      SimClock::kDefaultEpochUnixMs + std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  CivilTime c = civil_from_unix_ms(ms);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d+00:00", c.year, c.month, c.day, c.hour, c.minute,
                c.second);
  return buf;
}

Time KlaviyoApi::done_at(const Job& job) const {
  return job.created + options_.queued_for + (job.cancel ? Duration(0) : options_.processing_for);
}

KlaviyoApi::Phase KlaviyoApi::phase(const Job& job, Time now) const {
  if (now < job.created + options_.queued_for) return Phase::queued;
  if (job.cancel) return Phase::cancelled;
  if (now < done_at(job)) return Phase::processing;
  return Phase::complete;
}

bool KlaviyoApi::take(const std::string& endpoint, Time now, std::int64_t* wait_s) {
  const std::int64_t ns = to_ns(now);
  Window& s = state_.second[endpoint];
  Window& m = state_.minute[endpoint];
  if (s.index != ns / kSecondNs) s = {ns / kSecondNs, 0};
  if (m.index != ns / kMinuteNs) m = {ns / kMinuteNs, 0};
  std::int64_t wait_ns = 0;
  if (options_.burst_per_second > 0 && s.count >= options_.burst_per_second)
    wait_ns = std::max(wait_ns, (s.index + 1) * kSecondNs - ns);
  if (options_.steady_per_minute > 0 && m.count >= options_.steady_per_minute)
    wait_ns = std::max(wait_ns, (m.index + 1) * kMinuteNs - ns);
  if (wait_ns > 0) {
    *wait_s = std::max<std::int64_t>(1, (wait_ns + kSecondNs - 1) / kSecondNs);
    return false;
  }
  ++s.count;
  ++m.count;
  return true;
}

void KlaviyoApi::add_rate_headers(Response& r, const std::string& endpoint, Time now) const {
  if (options_.steady_per_minute <= 0) return;
  const std::int64_t ns = to_ns(now);
  auto it = state_.minute.find(endpoint);
  std::int64_t used = it != state_.minute.end() && it->second.index == ns / kMinuteNs ? it->second.count : 0;
  std::int64_t reset_ns = (ns / kMinuteNs + 1) * kMinuteNs - ns;
  r.headers.set("RateLimit-Limit", std::to_string(options_.steady_per_minute));
  r.headers.set("RateLimit-Remaining", std::to_string(std::max<std::int64_t>(0, options_.steady_per_minute - used)));
  r.headers.set("RateLimit-Reset", std::to_string((reset_ns + kSecondNs - 1) / kSecondNs));
}

Response KlaviyoApi::handle(const Request& request, Time now) {
  ++state_.requests;
  if (now > state_.last_now) state_.last_now = now;
  settle_due(now);
  return route(request, now);
}

Response KlaviyoApi::route(const Request& request, Time now) {
  std::string path(request.path_only());
  if (path.size() > 1 && path.back() == '/') path.pop_back();  // Klaviyo's own URLs end in '/'
  // Which endpoint (the rate limits are per endpoint).
  std::string endpoint, job_id;
  const std::string prefix = std::string(kJobsPath) + "/";
  if (path == kJobsPath) {
    endpoint = "create";
    if (request.method != "POST") {
      ++state_.rejected;
      return error(405, "method_not_allowed", "Method not allowed.", "This fake serves POST " + std::string(kJobsPath));
    }
  } else if (path.rfind(prefix, 0) == 0) {
    std::string rest = path.substr(prefix.size());
    const std::string errors_suffix = "/import-errors";
    if (rest.size() > errors_suffix.size() &&
        rest.compare(rest.size() - errors_suffix.size(), errors_suffix.size(), errors_suffix) == 0) {
      endpoint = "errors";
      job_id = rest.substr(0, rest.size() - errors_suffix.size());
    } else {
      endpoint = "job";
      job_id = rest;
    }
    if (job_id.empty() || job_id.find('/') != std::string::npos) {
      ++state_.rejected;
      return error(404, "not_found", "Not found.", "No route for " + path);
    }
    if (request.method != "GET") {
      ++state_.rejected;
      return error(405, "method_not_allowed", "Method not allowed.", path + " expects GET");
    }
  } else {
    ++state_.rejected;
    return error(404, "not_found", "Not found.", "No route for " + path);
  }

  auto auth = request.headers.get("Authorization");
  const std::string scheme = "Klaviyo-API-Key ";
  if (!auth || auth->size() <= scheme.size() || auth->substr(0, scheme.size()) != scheme ||
      (!options_.api_key.empty() && auth->substr(scheme.size()) != options_.api_key)) {
    ++state_.rejected;
    return error(401, "not_authenticated", "Authentication credentials were not provided.",
                 "Missing or invalid private API key (Authorization: Klaviyo-API-Key <key>).");
  }
  auto revision = request.headers.get("revision");
  if (options_.revision_required && (!revision || !valid_revision(*revision))) {
    ++state_.rejected;
    return error(400, "invalid", "Invalid input.",
                 revision ? "revision header \"" + std::string(*revision) + "\" is not of the form YYYY-MM-DD"
                          : "The revision header is required.",
                 "", "revision");
  }
  std::int64_t wait_s = 0;
  if (!take(endpoint, now, &wait_s)) {
    ++state_.throttled;
    Response r = error(429, "throttled", "Request was throttled.",
                       "Request was throttled. Expected available in " + std::to_string(wait_s) + " second" +
                           (wait_s == 1 ? "" : "s") + ".");
    r.headers.set("Retry-After", std::to_string(wait_s));
    return r;
  }
  Response out;
  if (endpoint == "create") out = create(request, now);
  else if (endpoint == "job") out = get_job(job_id, now);
  else out = get_errors(request, job_id);
  add_rate_headers(out, endpoint, now);
  return out;
}

Response KlaviyoApi::create(const Request& request, Time now) {
  auto ct = request.headers.get("Content-Type");
  std::string type = ct ? std::string(ct->substr(0, ct->find(';'))) : "";
  while (!type.empty() && type.back() == ' ') type.pop_back();
  if (type != "application/vnd.api+json" && type != "application/json") {
    ++state_.rejected;
    return error(415, "unsupported_media_type", "Unsupported media type.",
                 "Content-Type must be application/vnd.api+json or application/json, got \"" + type + "\"");
  }
  if (static_cast<std::int64_t>(request.body.size()) > options_.payload_bytes_max) {
    ++state_.rejected;
    return error(413, "request_too_large", "Request entity too large.",
                 "The payload is " + std::to_string(request.body.size()) + " bytes, over the limit of " +
                     std::to_string(options_.payload_bytes_max) + " bytes.");
  }
  nlohmann::json body = parse_json_body(request.body);
  auto bad = [&](const std::string& detail, const std::string& pointer) {
    ++state_.rejected;
    return error(400, "invalid", "Invalid input.", detail, pointer);
  };
  if (body.is_discarded()) return bad("The request body is not valid JSON.", "/");
  if (!body.is_object() || !body.contains("data") || !body["data"].is_object())
    return bad("'data' must be an object.", "/data");
  const nlohmann::json& data = body["data"];
  for (auto it = data.begin(); it != data.end(); ++it)
    if (it.key() != "type" && it.key() != "attributes" && it.key() != "relationships")
      return bad("'" + it.key() + "' is not a valid field for this resource.", "/data/" + json_pointer_escape(it.key()));
  if (!data.contains("type") || data["type"] != "profile-bulk-import-job")
    return bad("'type' must be \"profile-bulk-import-job\".", "/data/type");
  if (!data.contains("attributes") || !data["attributes"].is_object())
    return bad("'attributes' must be an object.", "/data/attributes");
  const nlohmann::json& attrs = data["attributes"];
  for (auto it = attrs.begin(); it != attrs.end(); ++it)
    if (it.key() != "profiles")
      return bad("'" + it.key() + "' is not a valid attribute.", "/data/attributes/" + json_pointer_escape(it.key()));
  if (!attrs.contains("profiles") || !attrs["profiles"].is_object() || !attrs["profiles"].contains("data") ||
      !attrs["profiles"]["data"].is_array())
    return bad("'profiles' must be an object with a 'data' array.", "/data/attributes/profiles");
  const nlohmann::json& profiles = attrs["profiles"]["data"];
  if (profiles.empty()) return bad("At least one profile is required.", kProfilesPointer);
  if (static_cast<std::int64_t>(profiles.size()) > options_.profiles_max)
    return bad("At most " + std::to_string(options_.profiles_max) + " profiles per job; got " +
                   std::to_string(profiles.size()) + ".",
               kProfilesPointer);

  // Relationships: at most one list, which must exist.
  std::vector<std::string> lists;
  if (data.contains("relationships")) {
    const nlohmann::json& rel = data["relationships"];
    if (!rel.is_object()) return bad("'relationships' must be an object.", "/data/relationships");
    for (auto it = rel.begin(); it != rel.end(); ++it)
      if (it.key() != "lists")
        return bad("'" + it.key() + "' is not a valid relationship.",
                   "/data/relationships/" + json_pointer_escape(it.key()));
    if (rel.contains("lists")) {
      const nlohmann::json& l = rel["lists"];
      if (!l.is_object() || !l.contains("data") || !l["data"].is_array())
        return bad("'lists' must be an object with a 'data' array.", "/data/relationships/lists");
      if (l["data"].size() > 1) return bad("At most one list per job.", "/data/relationships/lists/data");
      for (std::size_t i = 0; i < l["data"].size(); ++i) {
        const nlohmann::json& e = l["data"][i];
        const std::string at = "/data/relationships/lists/data/" + std::to_string(i);
        if (!e.is_object() || !e.contains("type") || e["type"] != "list") return bad("'type' must be \"list\".", at + "/type");
        if (!e.contains("id") || !e["id"].is_string() || e["id"].get<std::string>().empty())
          return bad("'id' must be a non-empty string.", at + "/id");
        std::string id = e["id"];
        if (!options_.list_ids.empty() &&
            std::find(options_.list_ids.begin(), options_.list_ids.end(), id) == options_.list_ids.end()) {
          ++state_.rejected;
          return error(400, "invalid", "Invalid input.", "A list with id " + id + " does not exist.", at + "/id");
        }
        lists.push_back(id);
      }
    }
  }

  // Profiles: every problem of every profile, all-or-nothing.
  nlohmann::json errors = nlohmann::json::array();
  auto add = [&](const std::string& detail, const std::string& pointer) {
    errors.push_back(error_entry(400, "invalid", "Invalid input.", detail, pointer));
  };
  std::vector<nlohmann::json> accepted;
  accepted.reserve(profiles.size());
  for (std::size_t i = 0; i < profiles.size(); ++i) {
    const nlohmann::json& p = profiles[i];
    const std::string at = std::string(kProfilesPointer) + "/" + std::to_string(i);
    if (!p.is_object()) {
      add("A profile must be an object.", at);
      continue;
    }
    const std::int64_t size = static_cast<std::int64_t>(p.dump().size());
    if (size > options_.profile_bytes_max) {
      add("The profile is " + std::to_string(size) + " bytes, over the limit of " +
              std::to_string(options_.profile_bytes_max) + " bytes.",
          at);
      continue;
    }
    bool ok = true;
    for (auto it = p.begin(); it != p.end(); ++it) {
      if (it.key() != "type" && it.key() != "id" && it.key() != "attributes") {
        add("'" + it.key() + "' is not a valid field for a profile.", at + "/" + json_pointer_escape(it.key()));
        ok = false;
      }
    }
    if (!p.contains("type") || p["type"] != "profile") {
      add("'type' must be \"profile\".", at + "/type");
      ok = false;
    }
    if (p.contains("id") && !p["id"].is_string()) {
      add("'id' must be a string.", at + "/id");
      ok = false;
    }
    if (!p.contains("attributes") || !p["attributes"].is_object()) {
      add("'attributes' must be an object.", at + "/attributes");
      continue;
    }
    const nlohmann::json& a = p["attributes"];
    const std::string aat = at + "/attributes";
    for (auto it = a.begin(); it != a.end(); ++it) {
      const std::string& k = it.key();
      const std::string kat = aat + "/" + json_pointer_escape(k);
      if (!profile_attribute_keys().count(k)) {
        add("'" + k + "' is not a valid profile attribute.", kat);
        ok = false;
      } else if (k == "location") {
        if (!it.value().is_object()) {
          add("'location' must be an object.", kat);
          ok = false;
          continue;
        }
        for (auto l = it.value().begin(); l != it.value().end(); ++l) {
          if (!location_keys().count(l.key())) {
            add("'" + l.key() + "' is not a valid location field.", kat + "/" + json_pointer_escape(l.key()));
            ok = false;
          }
        }
      } else if (k == "properties") {
        if (!it.value().is_object()) {
          add("'properties' must be an object.", kat);
          ok = false;
        }
      } else if (!it.value().is_string() && !it.value().is_null()) {
        add("'" + k + "' must be a string.", kat);
        ok = false;
      }
    }
    auto text = [&](const char* k) {
      return a.contains(k) && a[k].is_string() ? a[k].get<std::string>() : std::string();
    };
    const std::string email = text("email"), phone = text("phone_number"), ext = text("external_id");
    if (a.contains("email") && a["email"].is_string() && !fake_valid_email(email, " ,<>\";")) {
      add("Invalid email address: \"" + email + "\".", aat + "/email");
      ok = false;
    }
    if (email.empty() && phone.empty() && ext.empty()) {
      add("A profile needs one of email, phone_number or external_id.", aat);
      ok = false;
    }
    if (ok) accepted.push_back(a);
  }
  if (!errors.empty()) {
    ++state_.rejected;
    return api_response(400, {{"errors", errors}});
  }

  Job job;
  job.ordinal = static_cast<std::int64_t>(state_.jobs.size()) + 1;
  job.id = "pbij" + std::to_string(job.ordinal) + hex8(fnv1a64("klaviyo-job-" + std::to_string(job.ordinal)));
  job.created = now;
  job.cancel = std::find(options_.cancel_jobs.begin(), options_.cancel_jobs.end(), job.ordinal) !=
               options_.cancel_jobs.end();
  job.total = static_cast<std::int64_t>(accepted.size());
  job.profiles = std::move(accepted);
  job.lists = std::move(lists);
  state_.job_by_id.emplace(job.id, state_.jobs.size());
  state_.jobs.push_back(std::move(job));
  settle_due(now);  // a zero-duration lifecycle completes at once
  return api_response(202, {{"data", job_json(state_.jobs.back(), now)}});
}

void KlaviyoApi::catch_up(Time now) {
  state_.last_now = std::max(state_.last_now, now);
  settle_due(state_.last_now);
}

void KlaviyoApi::settle_due(Time now) {
  std::vector<std::size_t> due;
  for (std::size_t i = 0; i < state_.jobs.size(); ++i)
    if (!state_.jobs[i].settled && done_at(state_.jobs[i]) <= now) due.push_back(i);
  std::stable_sort(due.begin(), due.end(),
                   [&](std::size_t a, std::size_t b) { return done_at(state_.jobs[a]) < done_at(state_.jobs[b]); });
  for (std::size_t i : due) settle(state_.jobs[i]);
}

KlaviyoApi::Profile* KlaviyoApi::find(const std::string& key_kind, const std::string& value) {
  if (value.empty()) return nullptr;
  const auto& index = key_kind == "email" ? state_.by_email : key_kind == "external_id" ? state_.by_external_id : state_.by_phone;
  auto it = index.find(value);
  return it == index.end() ? nullptr : &state_.profiles[it->second];
}

void KlaviyoApi::settle(Job& job) {
  job.settled = true;
  if (job.cancel) {
    job.profiles.clear();
    job.profiles.shrink_to_fit();
    return;
  }
  for (std::size_t i = 0; i < job.profiles.size(); ++i) {
    const nlohmann::json& a = job.profiles[i];
    auto text = [&](const char* k) {
      return a.contains(k) && a[k].is_string() ? a[k].get<std::string>() : std::string();
    };
    const std::string email = text("email"), phone = text("phone_number"), ext = text("external_id");
    const std::string at = std::string(kProfilesPointer) + "/" + std::to_string(i) + "/attributes";
    auto fail = [&](const std::string& code, const std::string& title, const std::string& detail,
                    const std::string& pointer) {
      ImportError e;
      e.id = "ie" + std::to_string(job.ordinal) + "-" + std::to_string(job.errors.size() + 1);
      e.code = code;
      e.title = title;
      e.detail = detail;
      e.pointer = pointer;
      e.original_payload = a;
      job.errors.push_back(std::move(e));
      ++job.failed;
      ++state_.import_errors;
    };
    if (!phone.empty() && !valid_e164(phone)) {
      fail("invalid_phone_number", "Invalid phone number.",
           "phone_number \"" + phone + "\" is not a valid E.164 phone number.", at + "/phone_number");
      continue;
    }
    Profile* by_email = find("email", email);
    Profile* by_ext = find("external_id", ext);
    if (by_email && by_ext && by_email != by_ext) {
      fail("duplicate_profile", "Conflict.",
           "email \"" + email + "\" and external_id \"" + ext + "\" belong to two different profiles.",
           at + "/external_id");
      continue;
    }
    Profile* target = by_email ? by_email : by_ext ? by_ext : find("phone_number", phone);
    if (!target) {
      state_.profiles.emplace_back();
      target = &state_.profiles.back();
    }
    const std::size_t index = static_cast<std::size_t>(target - state_.profiles.data());
    auto reindex = [&](std::map<std::string, std::size_t>& idx, std::string& field, const std::string& value) {
      if (value.empty() || field == value) return;
      if (!field.empty()) idx.erase(field);
      field = value;
      idx[value] = index;
    };
    reindex(state_.by_email, target->email, email);
    reindex(state_.by_external_id, target->external_id, ext);
    reindex(state_.by_phone, target->phone_number, phone);
    for (auto it = a.begin(); it != a.end(); ++it) {
      if (it.key() == "properties") {
        for (auto p = it.value().begin(); p != it.value().end(); ++p) target->properties[p.key()] = p.value();
      } else {
        target->attributes[it.key()] = it.value();
      }
    }
    for (const auto& l : job.lists) target->lists.insert(l);
    ++target->updates;
    ++job.completed;
    ledger_.add("klaviyo.profile", content_hash_of_dump(a));
    ++state_.applications;
  }
  job.profiles.clear();
  job.profiles.shrink_to_fit();
}

KlaviyoApi::JobShown KlaviyoApi::shown(const Job& job, Time now) const {
  const Phase ph = phase(job, now);
  static const char* kNames[] = {"queued", "processing", "complete", "cancelled"};
  const Time started = job.created + options_.queued_for;
  JobShown out;
  out.status = wire_status(options_.status_values, kNames[static_cast<int>(ph)]);
  out.completed = job.completed;
  out.failed = job.failed;
  if (ph == Phase::processing) {
    // Progress grows with time; failures are known only at the end.
    const auto elapsed = (now - started).count(), total = options_.processing_for.count();
    out.completed = total > 0 ? static_cast<std::int64_t>(static_cast<Int128>(job.total) * elapsed / total) : 0;
    out.failed = 0;
  } else if (ph == Phase::queued) {
    out.completed = out.failed = 0;
  }
  if (ph != Phase::queued && ph != Phase::cancelled) out.started_at = iso(started);
  if (ph == Phase::complete) out.completed_at = iso(done_at(job));
  return out;
}

nlohmann::json KlaviyoApi::job_json(const Job& job, Time now) const {
  const JobShown v = shown(job, now);
  auto or_null = [](const std::optional<std::string>& t) { return t ? nlohmann::json(*t) : nlohmann::json(nullptr); };
  nlohmann::json attrs = {{"status", v.status},
                          {"created_at", iso(job.created)},
                          {"total_count", job.total},
                          {"completed_count", v.completed},
                          {"failed_count", v.failed},
                          {"completed_at", or_null(v.completed_at)},
                          {"expires_at", iso(job.created + std::chrono::hours(24 * 7))},
                          {"started_at", or_null(v.started_at)}};
  nlohmann::json list_data = nlohmann::json::array();
  for (const auto& l : job.lists) list_data.push_back({{"type", "list"}, {"id", l}});
  return {{"type", "profile-bulk-import-job"},
          {"id", job.id},
          {"attributes", attrs},
          {"relationships", {{"lists", {{"data", list_data}}}}},
          {"links", {{"self", "https://a.klaviyo.com" + std::string(kJobsPath) + "/" + job.id + "/"}}}};
}

// job_json's members in nlohmann's order (keys sorted), compact.
bool KlaviyoApi::append_job_json(std::string& out, const Job& job, Time now) const {
  const std::size_t mark = out.size();
  const JobShown v = shown(job, now);
  auto num = [&](std::int64_t n) { out += std::to_string(n); };
  auto time_or_null = [&](const std::optional<std::string>& t) {
    if (t) (void)append_dumped_string(out, *t);  // ISO digits: always UTF-8
    else out += "null";
  };
  out += R"({"attributes":{"completed_at":)";
  time_or_null(v.completed_at);
  out += R"(,"completed_count":)";
  num(v.completed);
  out += R"(,"created_at":)";
  (void)append_dumped_string(out, iso(job.created));
  out += R"(,"expires_at":)";
  (void)append_dumped_string(out, iso(job.created + std::chrono::hours(24 * 7)));
  out += R"(,"failed_count":)";
  num(v.failed);
  out += R"(,"started_at":)";
  time_or_null(v.started_at);
  out += R"(,"status":)";
  bool ok = append_dumped_string(out, v.status);
  out += R"(,"total_count":)";
  num(job.total);
  out += R"(},"id":)";
  ok = ok && append_dumped_string(out, job.id);
  out += R"(,"links":{"self":)";
  ok = ok && append_dumped_string(out, "https://a.klaviyo.com" + std::string(kJobsPath) + "/" + job.id + "/");
  out += R"(},"relationships":{"lists":{"data":[)";
  for (std::size_t i = 0; ok && i < job.lists.size(); ++i) {
    out += i ? R"(,{"id":)" : R"({"id":)";
    ok = append_dumped_string(out, job.lists[i]);
    out += R"(,"type":"list"})";
  }
  out += R"(]}},"type":"profile-bulk-import-job"})";
  if (!ok) out.resize(mark);
  return ok;
}

nlohmann::json KlaviyoApi::job_document(const std::string& id, Time now) const {
  auto it = state_.job_by_id.find(id);
  if (it == state_.job_by_id.end()) return nullptr;
  return {{"data", job_json(state_.jobs[it->second], now)}};
}

Response KlaviyoApi::get_job(const std::string& id, Time now) {
  auto it = state_.job_by_id.find(id);
  if (it == state_.job_by_id.end()) {
    ++state_.rejected;
    return error(404, "not_found", "Not found.", "No profile bulk import job with id " + id + ".");
  }
  const Job& job = state_.jobs[it->second];
  // Written straight (it answers every poll of every import: its DOM was a
  // quarter of a poll-bound certify case); an id or status that is not UTF-8
  // takes the DOM, which writes replacements.
  std::string body = R"({"data":)";
  if (!append_job_json(body, job, now)) return api_response(200, {{"data", job_json(job, now)}});
  body += '}';
  Response r = api_response(200, nlohmann::json::object());
  r.body = std::move(body);
  return r;
}

Response KlaviyoApi::get_errors(const Request& request, const std::string& id) {
  auto it = state_.job_by_id.find(id);
  if (it == state_.job_by_id.end()) {
    ++state_.rejected;
    return error(404, "not_found", "Not found.", "No profile bulk import job with id " + id + ".");
  }
  const Job& job = state_.jobs[it->second];
  std::int64_t size = options_.page_size_default;
  if (auto s = request.query_param("page[size]")) {
    std::int64_t v = 0;
    bool digits = !s->empty() && s->size() < 10;
    for (char c : *s) digits &= c >= '0' && c <= '9';
    if (digits) v = std::stoll(*s);
    if (!digits || v < 1 || v > options_.page_size_max) {
      ++state_.rejected;
      return error(400, "invalid", "Invalid input.",
                   "page[size] must be an integer between 1 and " + std::to_string(options_.page_size_max) +
                       ", got \"" + *s + "\".",
                   "", "page[size]");
    }
    size = v;
  }
  std::int64_t offset = 0;
  if (auto c = request.query_param("page[cursor]")) {
    offset = offset_of(id, *c);
    if (offset < 0 || offset > static_cast<std::int64_t>(job.errors.size())) {
      ++state_.rejected;
      return error(400, "invalid", "Invalid input.", "page[cursor] \"" + *c + "\" is not a valid cursor for this job.",
                   "", "page[cursor]");
    }
  }
  const std::int64_t n = static_cast<std::int64_t>(job.errors.size());
  nlohmann::json data = nlohmann::json::array();
  for (std::int64_t i = offset; i < std::min(n, offset + size); ++i) {
    const ImportError& e = job.errors[static_cast<std::size_t>(i)];
    data.push_back({{"type", "import-error"},
                    {"id", e.id},
                    {"attributes",
                     {{"code", e.code},
                      {"title", e.title},
                      {"detail", e.detail},
                      {"source", {{"pointer", e.pointer}}},
                      {"original_payload", e.original_payload}}}});
  }
  const std::string base = "https://a.klaviyo.com" + std::string(kJobsPath) + "/" + id + "/import-errors";
  auto link = [&](std::int64_t at) -> nlohmann::json {
    std::string q = "?page%5Bsize%5D=" + std::to_string(size);
    if (at > 0) q += "&page%5Bcursor%5D=" + url_encode(cursor_for(id, at));
    return base + q;
  };
  nlohmann::json links = {{"self", link(offset)}, {"first", link(0)}, {"last", nullptr}, {"prev", nullptr},
                          {"next", nullptr}};
  if (offset > 0) links["prev"] = link(std::max<std::int64_t>(0, offset - size));
  if (offset + size < n) links["next"] = link(offset + size);
  return api_response(200, {{"data", data}, {"links", links}});
}

nlohmann::json KlaviyoApi::accepted() const {
  static const char* kNames[] = {"queued", "processing", "complete", "cancelled"};
  nlohmann::json jobs = nlohmann::json::array();
  std::map<std::string, std::int64_t> by_status = {{"queued", 0}, {"processing", 0}, {"complete", 0}, {"cancelled", 0}};
  for (const auto& j : state_.jobs) {
    const char* status = kNames[static_cast<int>(phase(j, state_.last_now))];
    ++by_status[status];
    jobs.push_back({{"id", j.id},
                    {"status", status},
                    {"total_count", j.total},
                    {"completed_count", j.completed},
                    {"failed_count", j.failed},
                    {"lists", j.lists}});
  }
  nlohmann::json profiles = nlohmann::json::object();
  std::map<std::string, std::vector<std::string>> lists;
  for (const auto& p : state_.profiles) {
    std::string key = !p.email.empty()         ? p.email
                      : !p.external_id.empty() ? "external_id:" + p.external_id
                                               : "phone_number:" + p.phone_number;
    nlohmann::json j = p.attributes;
    j["properties"] = p.properties;
    j["updates"] = p.updates;
    if (!p.lists.empty()) j["lists"] = p.lists;
    profiles[key] = j;
    for (const auto& l : p.lists) lists[l].push_back(key);
  }
  return {{"requests", state_.requests},
          {"rejected", state_.rejected},
          {"throttled", state_.throttled},
          {"jobs", jobs},
          {"jobs_by_status", by_status},
          {"profile_count", state_.profiles.size()},
          {"profiles", profiles},
          {"lists", lists},
          {"applications", state_.applications},
          {"import_errors", state_.import_errors}};
}

Status KlaviyoApi::control(const JsonIn& op, Time now) { return api_key_control(op, now, options_.api_key); }

}  // namespace destsim
