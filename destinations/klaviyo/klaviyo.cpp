#include "destinations/klaviyo/klaviyo.h"

#include <algorithm>
#include <map>
#include <set>

#include "destinations/bulk_destination.h"
#include "framework/http_call.h"
#include "framework/json_in.h"
#include "framework/oracle.h"

namespace destsim {

namespace {

constexpr const char* kEffect = "klaviyo.profile";
constexpr const char* kJobsPath = "/api/profile-bulk-import-jobs";
constexpr const char* kProfilesPointer = "/data/attributes/profiles/data/";
constexpr std::int64_t kProfilesMax = 10'000;
constexpr std::int64_t kPayloadBytesMax = 5'000'000;
constexpr std::int64_t kProfileBytesMax = 100'000;
constexpr std::int64_t kErrorsPageSize = 100;

const std::set<std::string>& string_attributes() {
  static const std::set<std::string> keys = {"email",        "phone_number", "external_id", "anonymous_id",
                                             "first_name",   "last_name",    "organization", "title",
                                             "image",        "locale"};
  return keys;
}

const std::set<std::string>& location_keys() {
  static const std::set<std::string> keys = {"address1",  "address2", "city",     "country", "latitude",
                                             "longitude", "region",   "zip",      "timezone", "ip"};
  return keys;
}

// The profile attributes a record becomes, or an error naming what is wrong.
Result<nlohmann::json> attributes_of(const Record& r) {
  const nlohmann::json& p = r.payload;
  auto bad = [&](const std::string& what) {
    return Error::bad_input("record " + std::to_string(r.id) + ": " + what);
  };
  if (!p.is_object()) return bad("payload: expected an object");
  nlohmann::json a = nlohmann::json::object();
  nlohmann::json props = nlohmann::json::object();
  for (auto it = p.begin(); it != p.end(); ++it) {
    const std::string& k = it.key();
    const nlohmann::json& v = it.value();
    if (string_attributes().count(k)) {
      if (v.is_null()) continue;
      if (!v.is_string()) return bad(k + ": expected a string, got " + std::string(v.type_name()));
      if (v.get<std::string>().empty()) continue;
      a[k] = v;
    } else if (k == "location") {
      if (!v.is_object()) return bad("location: expected an object, got " + std::string(v.type_name()));
      for (auto l = v.begin(); l != v.end(); ++l)
        if (!location_keys().count(l.key())) return bad("location/" + l.key() + ": not a Klaviyo location field");
      a[k] = v;
    } else if (k == "properties") {
      if (!v.is_object()) return bad("properties: expected an object, got " + std::string(v.type_name()));
      for (auto q = v.begin(); q != v.end(); ++q) props[q.key()] = q.value();
    } else {
      props[k] = v;  // a custom property
    }
  }
  if (!a.contains("email") && !a.contains("phone_number") && !a.contains("external_id"))
    return bad("needs an email, phone_number or external_id (a Klaviyo profile identifier)");
  if (!props.empty()) a["properties"] = std::move(props);
  return a;
}

nlohmann::json profile_of(const nlohmann::json& attributes) {
  return {{"type", "profile"}, {"attributes", attributes}};
}

// What the API upserts a profile by: email, else external_id, else phone_number.
std::string identity_of(const nlohmann::json& attributes) {
  if (std::string e = string_member(attributes, "email"); !e.empty()) return "email:" + e;
  if (std::string x = string_member(attributes, "external_id"); !x.empty()) return "external_id:" + x;
  if (std::string p = string_member(attributes, "phone_number"); !p.empty()) return "phone_number:" + p;
  return "";
}

// The profile index a JSON pointer names ("/data/attributes/profiles/data/3/…" → 3), or -1.
std::int64_t profile_index(const std::string& pointer) {
  const std::string prefix = kProfilesPointer;
  if (pointer.rfind(prefix, 0) != 0) return -1;
  std::int64_t n = 0;
  std::size_t i = prefix.size();
  if (i >= pointer.size()) return -1;
  for (; i < pointer.size() && pointer[i] != '/'; ++i) {
    if (pointer[i] < '0' || pointer[i] > '9' || n > 100'000'000) return -1;
    n = n * 10 + (pointer[i] - '0');
  }
  return n;
}

// "code invalid: Invalid input.: detail (pointer)" from one JSON:API error.
std::string describe_error(const nlohmann::json& e) {
  std::string out;
  std::string code = string_member(e, "code"), title = string_member(e, "title"), detail = string_member(e, "detail");
  if (!code.empty()) out += "code " + code;
  if (!title.empty()) out += (out.empty() ? "" : ": ") + title;
  if (!detail.empty()) out += (out.empty() ? "" : " ") + detail;
  if (e.contains("source") && e["source"].is_object()) {
    std::string where = string_member(e["source"], "pointer");
    if (where.empty()) where = string_member(e["source"], "parameter");
    if (!where.empty()) out += " (" + where + ")";
  }
  return out;
}

// "HTTP 401 code not_authenticated: …" for a non-2xx answer, tolerating any body.
std::string describe_response(const Response& r) {
  std::string out = "HTTP " + std::to_string(r.status);
  nlohmann::json b = parse_json_body(r.body);
  if (b.is_object() && b.contains("errors") && b["errors"].is_array() && !b["errors"].empty() &&
      b["errors"][0].is_object()) {
    out += " " + describe_error(b["errors"][0]);
    if (b["errors"].size() > 1) out += " (+" + std::to_string(b["errors"].size() - 1) + " more errors)";
  }
  return out;
}

// Request pacing per endpoint: one request per `spacing`, in arrival order, and
// a Retry-After holds the endpoint for every caller. (framework/rate_limiter.h
// paces per second only; Klaviyo's steady window is per minute.)
class Pacer {
 public:
  Pacer(Loop& loop, Duration spacing) : loop_(loop), spacing_(spacing) {}

  Task<void> acquire(std::string key) {
    bool ready = false;
    while (!ready) {
      auto h = held_until_.find(key);
      if (h != held_until_.end() && h->second > loop_.now()) co_await loop_.sleep_to(h->second);
      if (spacing_.count() > 0) {
        Time& next = next_free_[key];
        Time slot = next > loop_.now() ? next : loop_.now();
        next = slot + spacing_;  // booked before waiting, so later callers queue behind
        if (slot > loop_.now()) co_await loop_.sleep_to(slot);
      }
      h = held_until_.find(key);  // a Retry-After may have arrived meanwhile
      ready = h == held_until_.end() || h->second <= loop_.now();
    }
  }
  void hold(const std::string& key, Time until) {
    Time& h = held_until_[key];
    if (until > h) h = until;
  }

 private:
  Loop& loop_;
  Duration spacing_;
  std::map<std::string, Time> next_free_;
  std::map<std::string, Time> held_until_;
};

struct Settings {
  std::string host;
  std::string api_key;
  std::string revision;
  std::string list_id;
  std::int64_t profiles_per_upload = kProfilesMax;
  std::int64_t requests_per_second = 10;
  std::int64_t requests_per_minute = 150;
  std::int64_t validation_rounds = 3;
};

class KlaviyoManager final : public AsyncDestinationManager {
 public:
  KlaviyoManager(DeliveryContext& ctx, Settings s) : ctx_(ctx), s_(std::move(s)), pacer_(ctx.loop, spacing(s_)) {
    ctx.loop.trace().add_secret(s_.api_key);
    open_ = R"({"data":{"type":"profile-bulk-import-job","attributes":{"profiles":{"data":[)";
    close_ = "]}}";
    if (!s_.list_id.empty()) {
      nlohmann::json id = s_.list_id;
      close_ += R"(,"relationships":{"lists":{"data":[{"type":"list","id":)" + id.dump() + "}]}}";
    }
    close_ += "}}";
  }

  std::string name() const override { return "klaviyo_bulk_upload"; }

  BulkLimits limits() const override {
    return BulkLimits{.records_max = s_.profiles_per_upload,
                      .bytes_max = kPayloadBytesMax,
                      .header_bytes = static_cast<std::int64_t>(open_.size() + close_.size()),
                      .separator_bytes = 1};
  }

  Result<BulkItem> transform(const Record& record) override {
    DS_TRY(nlohmann::json a, attributes_of(record));
    std::string data = dump_of(profile_of(a));
    if (static_cast<std::int64_t>(data.size()) > kProfileBytesMax) {
      return Error::bad_input("record " + std::to_string(record.id) + ": profile too large: " +
                              std::to_string(data.size()) + " bytes exceeds Klaviyo's limit of " +
                              std::to_string(kProfileBytesMax) + " bytes per profile");
    }
    return BulkItem{record.id, std::move(data)};
  }

  Task<UploadOutcome> upload(const std::vector<const BulkItem*>& items) override {
    std::vector<std::size_t> alive(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) alive[i] = i;
    std::vector<MessageResult> stripped;  // profiles the API named as invalid
    std::string last_reason;
    UploadOutcome out;
    // Bounded: every round either returns or strips at least one profile, and
    // the last allowed round returns (clang 14 needs the loop's end reachable).
    for (std::int64_t round = 0; round < s_.validation_rounds; ++round) {
      std::string body = open_;
      for (std::size_t k = 0; k < alive.size(); ++k) {
        if (k) body.push_back(',');
        body += items[alive[k]]->data;
      }
      body += close_;
      co_await pacer_.acquire("create");
      HttpResult res = co_await ctx_.transport.send(request("POST", kJobsPath, std::move(body)));
      if (!res.ok()) {
        out.http_status = 0;
        out.kind = UploadOutcome::Kind::retry;
        out.reason = std::string("transport ") + transport_error_kind_name(res.error().kind) + ": " +
                     res.error().message;
        out.maybe_applied = res.error().maybe_applied;
        co_return out;
      }
      const Response& r = *res;
      out.http_status = r.status;
      out.retry_after = note_retry_after(r, "create");
      if (r.status == 202 || r.status == 200 || r.status == 201) {
        nlohmann::json b = parse_json_body(r.body);
        std::string id = b.is_object() && b.contains("data") ? string_member(b["data"], "id") : "";
        if (id.empty()) {
          // Accepted, but we cannot follow it: upload again (upserts make that safe).
          out.kind = UploadOutcome::Kind::retry;
          out.reason = "HTTP " + std::to_string(r.status) + " without a readable import job id";
          out.maybe_applied = true;
          co_return out;
        }
        out.kind = UploadOutcome::Kind::importing;
        out.import.import_id = id;
        nlohmann::json jobs = nlohmann::json::array(), keys = nlohmann::json::array();
        for (std::size_t i : alive) {
          out.import.jobs.push_back(items[i]->id);
          jobs.push_back(items[i]->id);
          keys.push_back(identity_of_item(*items[i]));
        }
        out.import.params = {{"jobs", std::move(jobs)}, {"keys", std::move(keys)}};
        out.results = std::move(stripped);
        co_return out;
      }
      if (r.status == 408 || r.status == 429 || r.status >= 500) {
        out.kind = UploadOutcome::Kind::retry;
        out.maybe_applied = may_have_applied(r.status);
        out.reason = describe_response(r);
        co_return out;
      }
      if (r.status != 400) {
        out.kind = UploadOutcome::Kind::failed;
        out.reason = describe_response(r);
        out.results = std::move(stripped);
        co_return out;
      }
      // 400: strip the profiles the errors name, unless one names something else.
      nlohmann::json b = parse_json_body(r.body);
      std::map<std::size_t, std::string> named;  // position in `alive` → reasons
      bool other = !b.is_object() || !b.contains("errors") || !b["errors"].is_array() || b["errors"].empty();
      std::string other_reason;
      if (!other) {
        for (const auto& e : b["errors"]) {
          std::string pointer = e.is_object() && e.contains("source") ? string_member(e["source"], "pointer") : "";
          std::int64_t n = profile_index(pointer);
          if (n < 0 || n >= static_cast<std::int64_t>(alive.size())) {
            other = true;
            if (other_reason.empty()) other_reason = "HTTP 400 " + describe_error(e);
            continue;
          }
          std::string& why = named[static_cast<std::size_t>(n)];
          why += (why.empty() ? "HTTP 400 " : "; ") + describe_error(e);
        }
      }
      if (other || named.empty()) {
        out.kind = UploadOutcome::Kind::failed;
        out.reason = other_reason.empty() ? describe_response(r) : other_reason;
        out.results = std::move(stripped);
        co_return out;
      }
      std::vector<std::size_t> keep;
      for (std::size_t k = 0; k < alive.size(); ++k) {
        auto it = named.find(k);
        if (it == named.end()) keep.push_back(alive[k]);
        else stripped.push_back(MessageResult{items[alive[k]]->id, Verdict::fail, it->second});
      }
      alive = std::move(keep);
      if (alive.empty()) {
        out.kind = UploadOutcome::Kind::failed;
        out.reason = "HTTP 400: every profile was invalid";
        out.results = std::move(stripped);
        co_return out;
      }
      last_reason = describe_response(r);
    }
    // Still answered 400 after the allowed rounds: a 400 is not retried (C1);
    // the stripped profiles fail with their own errors, the rest with the last answer.
    out.kind = UploadOutcome::Kind::failed;
    out.reason = "HTTP 400 after " + std::to_string(s_.validation_rounds) + " validation rounds (limit): " + last_reason;
    out.results = std::move(stripped);
    co_return out;
  }

  Task<PollOutcome> poll(const ImportRef& import) override {
    PollOutcome out;
    HttpResult res = co_await get("job", job_path(import.import_id));
    if (!res.ok()) {
      out.transient = true;
      out.reason = std::string("transport ") + transport_error_kind_name(res.error().kind);
      co_return out;
    }
    const Response& r = *res;
    out.http_status = r.status;
    out.retry_after = note_retry_after(r, "job");
    if (r.status == 408 || r.status == 429 || r.status >= 500) {
      out.transient = true;
      out.reason = describe_response(r);
      co_return out;
    }
    if (!r.ok()) {
      // 404: the job is gone; other 4xx: we may not read it. Klaviyo had
      // accepted the import (202), so it may have applied it: the router marks
      // the jobs outcome_unknown and uploads them again (profile imports are
      // idempotent upserts).
      out.status = ImportStatus::failed;
      out.reason = describe_response(r);
      co_return out;
    }
    nlohmann::json b = parse_json_body(r.body);
    const nlohmann::json* attrs = attributes(b);
    if (!attrs || !attrs->contains("status") || !(*attrs)["status"].is_string()) {
      out.transient = true;
      out.reason = "HTTP " + std::to_string(r.status) + " with an unreadable body (no data.attributes.status)";
      co_return out;
    }
    const std::string status = (*attrs)["status"];
    if (status == "queued" || status == "processing") {
      out.status = ImportStatus::running;
    } else if (status == "complete") {
      out.status = ImportStatus::completed;
    } else if (status == "cancelled") {
      // Cancelled part-way, the profiles counted in completed_count were
      // imported (APIS.md §2: failures are counts, no "failed" status); with
      // none completed, nothing was applied.
      out.status = ImportStatus::failed;
      const nlohmann::json& done = (*attrs).contains("completed_count") ? (*attrs)["completed_count"] : nlohmann::json();
      out.nothing_applied = done.is_number_integer() && done.get<std::int64_t>() == 0;
      out.reason = "import job " + import.import_id + " was cancelled by Klaviyo (status \"cancelled\", " +
                   (done.is_number_integer() ? std::to_string(done.get<std::int64_t>()) : std::string("unknown")) +
                   " completed)";
    } else {
      // D3: an unknown status is not assumed to be terminal either way. Polling
      // continues; an import that never reaches a known status ends at the poll
      // timeout with outcome_unknown.
      out.transient = true;
      out.reason = "unknown import status \"" + status + "\"";
    }
    co_return out;
  }

  Task<StatsOutcome> upload_stats(const ImportRef& import) override {
    StatsOutcome out;
    auto fault = [&](std::string why) {
      StatsOutcome f;
      f.transient = true;
      f.reason = std::move(why);
      return f;
    };
    // An error answer: retried later when retryable (408, 429, 5xx); another
    // 4xx is not asked again — with no results, every job of the import is
    // uploaded again as unknown (D4; profile imports are idempotent upserts).
    auto refused = [&](const Response& r) {
      StatsOutcome f = fault(describe_response(r));
      f.transient = r.status == 408 || r.status == 429 || r.status >= 500;
      return f;
    };
    // What the upload recorded: the jobs in profile order and their identities.
    const nlohmann::json& params = import.params;
    if (!params.is_object() || !params.contains("jobs") || !params["jobs"].is_array() || !params.contains("keys") ||
        !params["keys"].is_array() || params["keys"].size() != params["jobs"].size()) {
      out.reason = "import " + import.import_id + ": stored params unreadable (expected jobs and keys)";
      co_return out;  // nothing mapped: the router retries every job
    }
    std::vector<JobId> jobs;
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < params["jobs"].size(); ++i) {
      if (!params["jobs"][i].is_number_unsigned() || !params["keys"][i].is_string()) {
        out.reason = "import " + import.import_id + ": stored params unreadable at /jobs/" + std::to_string(i);
        co_return out;
      }
      jobs.push_back(params["jobs"][i].get<JobId>());
      keys.push_back(params["keys"][i].get<std::string>());
    }

    // The job's counts.
    HttpResult res = co_await get("job", job_path(import.import_id));
    if (!res.ok()) co_return fault(std::string("transport ") + transport_error_kind_name(res.error().kind));
    note_retry_after(*res, "job");
    if (!res->ok()) co_return refused(*res);
    nlohmann::json b = parse_json_body(res->body);
    const nlohmann::json* attrs = attributes(b);
    auto count = [&](const char* k) -> std::int64_t {
      return attrs && attrs->contains(k) && (*attrs)[k].is_number_integer() ? (*attrs)[k].get<std::int64_t>() : -1;
    };
    const std::int64_t total = count("total_count"), completed = count("completed_count"),
                       failed = count("failed_count");
    if (total < 0 || completed < 0 || failed < 0 || string_member(*attrs, "status") != "complete")
      co_return fault("HTTP " + std::to_string(res->status) + ": job counts unreadable or job not complete");
    if (completed + failed != total)
      co_return fault("counts not final: completed_count " + std::to_string(completed) + " + failed_count " +
                      std::to_string(failed) + " != total_count " + std::to_string(total));

    // Every page of import errors, mapped back to jobs.
    std::map<std::size_t, std::string> failures;  // profile index → reason
    std::int64_t unmapped = 0, errors_seen = 0;
    if (failed > 0) {
      std::string path = job_path(import.import_id) + "import-errors?page%5Bsize%5D=" + std::to_string(kErrorsPageSize);
      const std::int64_t pages_max = total / kErrorsPageSize + 2;
      std::int64_t pages = 0;
      while (!path.empty()) {
        if (++pages > pages_max)
          co_return fault("import-errors of " + import.import_id + " did not end within " +
                          std::to_string(pages_max) + " pages (limit)");
        HttpResult page = co_await get("errors", path);
        if (!page.ok()) co_return fault(std::string("transport ") + transport_error_kind_name(page.error().kind));
        note_retry_after(*page, "errors");
        if (!page->ok()) co_return refused(*page);
        nlohmann::json p = parse_json_body(page->body);
        if (!p.is_object() || !p.contains("data") || !p["data"].is_array())
          co_return fault("HTTP " + std::to_string(page->status) + " import-errors page with an unreadable body");
        for (const auto& e : p["data"]) {
          ++errors_seen;
          const nlohmann::json* a = e.is_object() && e.contains("attributes") && e["attributes"].is_object()
                                        ? &e["attributes"]
                                        : nullptr;
          std::int64_t index = a ? map_error(*a, keys) : -1;
          if (index < 0) {
            ++unmapped;
            continue;
          }
          std::string& why = failures[static_cast<std::size_t>(index)];
          why += (why.empty() ? "import error " : "; ") + describe_error(*a);
        }
        path.clear();
        if (p.contains("links") && p["links"].is_object()) {
          std::string next = string_member(p["links"], "next");
          if (!next.empty()) {
            path = path_of(next);
            if (path.empty()) co_return fault("import-errors links.next unreadable: " + next);
          }
        }
      }
    }
    for (const auto& [index, why] : failures) out.results.push_back({jobs[index], Verdict::fail, why});
    const bool consistent = total == static_cast<std::int64_t>(jobs.size()) && unmapped == 0 &&
                            static_cast<std::int64_t>(failures.size()) == failed && errors_seen >= failed;
    if (consistent) {
      for (std::size_t i = 0; i < jobs.size(); ++i)
        if (!failures.count(i)) out.results.push_back({jobs[i], Verdict::ok, ""});
    } else {
      out.reason = "import " + import.import_id + ": import-errors do not account for the counts (total_count " +
                   std::to_string(total) + " for " + std::to_string(jobs.size()) + " profiles, failed_count " +
                   std::to_string(failed) + ", " + std::to_string(failures.size()) + " mapped, " +
                   std::to_string(unmapped) + " unmapped)";
    }
    co_return out;
  }

  bool idempotent() const override { return true; }

 private:
  static Duration spacing(const Settings& s) {
    Duration d{0};
    if (s.requests_per_second > 0) d = std::max(d, Duration((1'000'000'000 + s.requests_per_second - 1) / s.requests_per_second));
    if (s.requests_per_minute > 0)
      d = std::max(d, Duration((60'000'000'000 + s.requests_per_minute - 1) / s.requests_per_minute));
    return d;
  }

  static std::string job_path(const std::string& id) { return std::string(kJobsPath) + "/" + url_encode(id) + "/"; }

  // "https://a.klaviyo.com/api/…?x" → "/api/…?x"; a bare path stays; else "".
  static std::string path_of(const std::string& url) {
    if (!url.empty() && url[0] == '/') return url;
    auto scheme = url.find("://");
    if (scheme == std::string::npos) return "";
    auto slash = url.find('/', scheme + 3);
    return slash == std::string::npos ? "" : url.substr(slash);
  }

  static const nlohmann::json* attributes(const nlohmann::json& b) {
    if (!b.is_object() || !b.contains("data") || !b["data"].is_object()) return nullptr;
    const nlohmann::json& d = b["data"];
    if (!d.contains("attributes") || !d["attributes"].is_object()) return nullptr;
    return &d["attributes"];
  }

  static std::string identity_of_item(const BulkItem& item) {
    nlohmann::json p = parse_json_body(item.data);
    return p.is_object() && p.contains("attributes") ? identity_of(p["attributes"]) : "";
  }

  // The profile index an import error names: its pointer's index when the
  // original payload agrees (or is absent), else the one profile with the
  // payload's identity; -1 when neither is unambiguous.
  static std::int64_t map_error(const nlohmann::json& a, const std::vector<std::string>& keys) {
    std::string identity;
    if (a.contains("original_payload") && a["original_payload"].is_object()) {
      const nlohmann::json& op = a["original_payload"];
      identity = identity_of(op.contains("attributes") && op["attributes"].is_object() ? op["attributes"] : op);
    }
    std::string pointer = a.contains("source") && a["source"].is_object() ? string_member(a["source"], "pointer") : "";
    std::int64_t n = profile_index(pointer);
    if (n >= 0 && n < static_cast<std::int64_t>(keys.size()) &&
        (identity.empty() || keys[static_cast<std::size_t>(n)] == identity))
      return n;
    if (identity.empty()) return -1;
    std::int64_t found = -1;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] != identity) continue;
      if (found >= 0) return -1;  // two profiles share it: ambiguous
      found = static_cast<std::int64_t>(i);
    }
    return found;
  }

  Request request(const char* method, std::string path, std::string body = "") const {
    Request r;
    r.method = method;
    r.host = s_.host;
    r.path = std::move(path);
    r.headers.set("Authorization", "Klaviyo-API-Key " + s_.api_key);
    r.headers.set("revision", s_.revision);
    r.headers.set("Accept", "application/vnd.api+json");
    if (!body.empty()) r.headers.set("Content-Type", "application/vnd.api+json");
    r.body = std::move(body);
    return r;
  }

  Task<HttpResult> get(std::string endpoint, std::string path) {
    co_await pacer_.acquire(endpoint);
    HttpResult res = co_await ctx_.transport.send(request("GET", std::move(path)));
    co_return res;
  }

  // A Retry-After holds the endpoint for every caller (I1); returns the wait.
  std::optional<Duration> note_retry_after(const Response& r, const std::string& endpoint) {
    auto d = retry_after(r, ctx_.loop);
    if (d) pacer_.hold(endpoint, ctx_.loop.now() + *d);
    return d;
  }

  DeliveryContext& ctx_;
  Settings s_;
  Pacer pacer_;
  std::string open_, close_;
};

std::vector<ConfigKey> schema() {
  BulkConfig d;
  d.upload_interval = std::chrono::seconds(30);
  d.poll_interval = std::chrono::seconds(10);
  d.poll_timeout = std::chrono::hours(3);
  d.imports_in_flight = 3;
  d.max_buffer_size = 100'000;
  d.retry.max_attempts = 5;
  d.retry.delay_initial = std::chrono::seconds(10);
  d.retry.delay_max = std::chrono::minutes(5);
  d.retry.elapsed_max = std::chrono::hours(24);
  std::vector<ConfigKey> keys = {
      {"private_api_key", ConfigType::secret, nullptr, "Klaviyo private API key (Authorization: Klaviyo-API-Key)"},
      {"revision", ConfigType::string, "2024-10-15", "the API revision header (YYYY-MM-DD)"},
      {"list_id", ConfigType::string, "", "a list every imported profile is added to (empty = none)"},
      {"host", ConfigType::string, "a.klaviyo.com", "API host"},
      {"profiles_per_upload", ConfigType::integer, kProfilesMax, "profiles per import job (Klaviyo's limit is 10,000)",
       1, kProfilesMax},
      {"requests_per_second", ConfigType::integer, 10, "client-side pacing per endpoint, burst window (0 = off)", 0,
       10},
      {"requests_per_minute", ConfigType::integer, 150, "client-side pacing per endpoint, steady window (0 = off)", 0,
       150},
      {"validation_rounds", ConfigType::integer, 3,
       "uploads per upload() call that strip profiles a 400 names before the rest is retried later", 1, 10},
  };
  for (auto& k : bulk_config_keys(d)) keys.push_back(std::move(k));
  return keys;
}

Result<Settings> settings_from(const Config& config) {
  Settings s{.host = config.string("host"),
             .api_key = config.secret("private_api_key").value,
             .revision = config.string("revision"),
             .list_id = config.string("list_id"),
             .profiles_per_upload = config.integer("profiles_per_upload"),
             .requests_per_second = config.integer("requests_per_second"),
             .requests_per_minute = config.integer("requests_per_minute"),
             .validation_rounds = config.integer("validation_rounds")};
  if (s.api_key.empty()) return Error::bad_input("private_api_key: expected a non-empty secret");
  if (s.host.empty()) return Error::bad_input("host: expected a non-empty host name");
  return s;
}

Record generate(Rng& rng, JobId id, const GenerateOptions& o) {
  static const char* kFirst[] = {"Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken"};
  static const char* kLast[] = {"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson"};
  const std::string n = std::to_string(id);
  Record r;
  r.id = id;
  r.stream = "profiles";
  nlohmann::json p = {{"email", "user" + n + "@example.com"},
                      {"first_name", odd_text_or(o, id, 1, kFirst[rng.below(6)])},
                      {"last_name", odd_text_or(o, id, 2, kLast[rng.below(6)])},
                      {"properties", {{"seq", id}, {"plan", odd_text_or(o, id, 3, rng.chance(1, 2) ? "pro" : "free")}}}};
  if (rng.chance(1, 3)) p["external_id"] = "ext-" + n;
  if (rng.chance(1, 4)) {
    std::string digits = std::to_string(1'000'000 + id % 9'000'000);
    p["phone_number"] = "+1555" + digits.substr(digits.size() - 7);
  }
  if (rng.chance(o.invalid)) {
    // "bad_email": invalid for the synchronous validation (a 400 naming the
    // profile); "bad_phone": valid on upload, failing at import time (an import
    // error); any other type: either, half and half.
    bool sync = o.type == "bad_email" ? true : o.type == "bad_phone" ? false : rng.chance(1, 2);
    if (sync) p["email"] = "user" + n + "-at-example.com";
    else p["phone_number"] = "555-01" + n;
  }
  return padded_record(std::move(r), std::move(p), o, "/properties/pad");
}

// The records an import job's creation carried: each profile's attributes,
// which is the payload shape generate() gives (attributes_of() maps them back
// to themselves). Polls and import-error reads carry none.
std::vector<nlohmann::json> records_from_request(std::string_view method, std::string_view path,
                                                 const nlohmann::json& body) {
  std::vector<nlohmann::json> out;
  if (method != "POST" || path != kJobsPath) return out;
  const nlohmann::json* at = &body;
  for (const char* key : {"data", "attributes", "profiles", "data"}) {
    if (!at->is_object()) return out;
    auto next = at->find(key);
    if (next == at->end()) return out;
    at = &*next;
  }
  if (!at->is_array()) return out;
  for (const auto& profile : *at) {
    if (!profile.is_object()) continue;
    auto attributes = profile.find("attributes");
    if (attributes != profile.end() && attributes->is_object()) out.push_back(*attributes);
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<AsyncDestinationManager>> klaviyo_manager(DeliveryContext& ctx, const Config& config) {
  DS_TRY(Settings s, settings_from(config));
  return std::unique_ptr<AsyncDestinationManager>(std::make_unique<KlaviyoManager>(ctx, std::move(s)));
}

DestinationEntry klaviyo_destination() {
  // Import jobs in flight at once: Klaviyo documents no limit; 3 keeps the
  // create endpoint far inside its rate windows (the imports_in_flight default).
  DestinationEntry e = destination_entry(
      "klaviyo_bulk_upload", "klaviyo", "a.klaviyo.com",
      "Klaviyo Bulk Profile Import (profile-bulk-import-jobs) on the bulk path: upload, poll, import errors", schema(),
      {.limits = {.records_max = kProfilesMax, .bytes_max = kPayloadBytesMax},
       .retryable_statuses = {408, 429, 500, 502, 503, 504}, .idempotent_writes = true, .rate_per_second = 10,
       .bulk = true, .import_concurrency = 3});
  e.make = [](DeliveryContext& ctx, const Config& config) {
    return make_bulk_destination<KlaviyoManager>(ctx, config, settings_from);
  };
  e.effects = [](const Record& r, const Config&) -> std::vector<std::string> {
    auto a = attributes_of(r);
    if (!a.ok()) return {};
    return {oracle_key(kEffect, *a)};
  };
  e.generate = generate;
  e.records_from_request = records_from_request;
  e.fake_options = [](const Config& config) -> nlohmann::json {
    nlohmann::json o = {{"api_key", config.secret("private_api_key").value}};
    if (!config.string("list_id").empty()) o["list_ids"] = {config.string("list_id")};
    return o;
  };
  return e;
}

}  // namespace destsim
