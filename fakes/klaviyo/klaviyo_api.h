// klaviyo_api.h — a stateful fake of Klaviyo's Bulk Profile Import API (APIS.md §2).
//
// Endpoints (host a.klaviyo.com, JSON:API bodies):
//   POST /api/profile-bulk-import-jobs                      → 202 {data:{type,id,attributes:{status:"queued",…}}}
//   GET  /api/profile-bulk-import-jobs/{id}                 → 200 {data:{attributes:{status, created_at,
//        total_count, completed_count, failed_count, completed_at, expires_at, started_at}}}
//   GET  /api/profile-bulk-import-jobs/{id}/import-errors   → 200 {data:[import-error…], links:{self,first,next,prev}}
//
// Every request needs `Authorization: Klaviyo-API-Key <key>` (else 401) and a
// `revision` header of the form YYYY-MM-DD[.suffix] (else 400; the real API
// falls back to a default revision — stricter here, switchable with
// `revision_required`). A POST needs Content-Type application/vnd.api+json or
// application/json (else 415).
//
// Creating a job validates the whole body synchronously and all-or-nothing, as
// the real API does: one bad profile makes the whole request 400 with an
// `errors[]` entry per problem whose `source.pointer` names it
// (`/data/attributes/profiles/data/3/attributes/email`; an oversized profile is
// named by `/data/attributes/profiles/data/3`). Checked: the JSON:API envelope
// (types, shapes, unknown attributes), at least one of email / phone_number /
// external_id, a well-formed email, string-typed identifiers, ≤ `profiles_max`
// (10,000) profiles, ≤ `profile_bytes_max` (100 KB, as 100,000 bytes) per
// profile (its compact JSON), and list relationships (at most one list; with
// `list_ids` set, another id is 400 pointing at `/data/relationships/lists/data/0/id`).
// A body over `payload_bytes_max` (5 MB, as 5,000,000 bytes) is 413.
//
// Lifecycle, computed lazily from `now` (no timers): a job is `queued` for
// `queued_for`, `processing` for `processing_for` (set it to hours to model a
// stuck job), then `complete`; a job whose 1-based creation ordinal is in
// `cancel_jobs` turns `cancelled` when it would start processing and applies
// nothing. While processing, completed_count grows linearly with time.
// Profiles are applied at completion (the fake settles every due job at the
// start of each request), in order of completion, upserting by email, else
// external_id, else phone_number. Two per-profile failures are found only then,
// never by the synchronous validation (UNCONFIRMED for the real API: Klaviyo
// does not document which checks are deferred; these are the realistic ones):
//   - code "invalid_phone_number": phone_number is not E.164 (`+` then 8–15
//     digits, no leading 0);
//   - code "duplicate_profile": the profile's email names one stored profile
//     and its external_id another (an identity conflict).
// Failed profiles count in failed_count and are listed by import-errors with
// `source.pointer` = the profile's pointer in the original request and
// `original_payload` = its attributes.
//
// import-errors pages with `page[size]` (default 20, max 100; outside 1..100
// is 400) and an opaque `page[cursor]` taken from `links.next` (a cursor this
// fake did not issue for this job is 400). An unknown job id is 404.
//
// Rate limits (options; 0 = off): fixed windows per endpoint — `burst_per_second`
// (10) per 1-second window and `steady_per_minute` (150) per 1-minute window.
// Over either → 429 with `Retry-After` (whole seconds to the window's end) and
// no RateLimit-* headers; every other answer carries RateLimit-Limit,
// RateLimit-Remaining and RateLimit-Reset of the minute window.
//
// The oracle: each profile applied at completion counts once under
// `oracle_key("klaviyo.profile", attributes)` (framework/oracle.h), where
// `attributes` is the profile's attributes object as sent.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fakes/fake_api.h"
#include "framework/result.h"

namespace destsim {

struct KlaviyoApiOptions {
  std::string api_key;  // empty: any key is accepted (but one is required)
  Duration latency{0};  // the common "latency" option (fakes/fake_options.h)
  bool revision_required = true;
  /// List ids that exist; empty: any non-empty id.
  std::vector<std::string> list_ids;
  std::int64_t profiles_max = 10'000;
  std::int64_t payload_bytes_max = 5'000'000;
  std::int64_t profile_bytes_max = 100'000;
  Duration queued_for = std::chrono::seconds(5);
  Duration processing_for = std::chrono::seconds(20);
  /// 1-based creation ordinals of jobs that end `cancelled`.
  std::vector<std::int64_t> cancel_jobs;
  std::int64_t burst_per_second = 10;
  std::int64_t steady_per_minute = 150;
  std::int64_t page_size_default = 20;
  std::int64_t page_size_max = 100;
  /// Job statuses renamed on the wire (queued, processing, complete,
  /// cancelled): a hostile Klaviyo answering statuses it never documented.
  std::map<std::string, std::string> status_values;

  /// Reads options from JSON (keys as above; durations as strings); errors name the key.
  static Result<KlaviyoApiOptions> from_json(const nlohmann::json& j, const std::string& where);
};

/// What KlaviyoApi::reset() forgets.
struct KlaviyoApiState {
  struct Profile {
    std::string email, phone_number, external_id;
    nlohmann::json attributes = nlohmann::json::object();  // merged, without properties
    nlohmann::json properties = nlohmann::json::object();  // merged
    std::set<std::string> lists;
    std::int64_t updates = 0;
  };
  struct ImportError {
    std::string id, code, title, detail, pointer;
    nlohmann::json original_payload;
  };
  struct Job {
    std::string id;
    std::int64_t ordinal = 0;
    Time created{};
    bool cancel = false;
    bool settled = false;  // profiles applied (or the job cancelled)
    std::int64_t total = 0, completed = 0, failed = 0;
    std::vector<nlohmann::json> profiles;  // attributes, until settled
    std::vector<std::string> lists;
    std::vector<ImportError> errors;
  };
  struct Window {
    std::int64_t index = -1;
    std::int64_t count = 0;
  };
  std::vector<Job> jobs;  // by ordinal - 1
  std::map<std::string, std::size_t> job_by_id;
  std::vector<Profile> profiles;  // by internal index
  std::map<std::string, std::size_t> by_email, by_external_id, by_phone;
  std::int64_t applications = 0;
  std::int64_t import_errors = 0;
  std::map<std::string, Window> second, minute;  // per endpoint
  std::int64_t requests = 0, rejected = 0, throttled = 0;
  Time last_now{};  // the latest request's (or catch_up's) time, for accepted()
};

class KlaviyoApi final : public StatefulFakeApi<KlaviyoApiOptions, KlaviyoApiState> {
 public:
  using StatefulFakeApi::StatefulFakeApi;
  std::string name() const override { return "klaviyo"; }
  Response handle(const Request& request, Time now) override;
  nlohmann::json accepted() const override;
  /// Operations (Fake::control): set_api_key, request.
  Status control(const JsonIn& op, Time now) override;
  std::string control_ops() const override { return "set_api_key, request"; }
  void catch_up(Time now) override;

  std::int64_t requests() const { return state_.requests; }
  std::int64_t profiles() const { return static_cast<std::int64_t>(state_.profiles.size()); }
  std::int64_t jobs() const { return static_cast<std::int64_t>(state_.jobs.size()); }
  /// The import job `id` as a JSON:API document at `now`, {"data": …}, built
  /// as a DOM (null when there is no such job): the status answer is written
  /// straight as text, and tests hold it to this document's dump.
  nlohmann::json job_document(const std::string& id, Time now) const;

 private:
  using Profile = KlaviyoApiState::Profile;
  using ImportError = KlaviyoApiState::ImportError;
  using Job = KlaviyoApiState::Job;
  using Window = KlaviyoApiState::Window;
  enum class Phase { queued, processing, complete, cancelled };

  Response route(const Request& request, Time now);
  Response create(const Request& request, Time now);
  Response get_job(const std::string& id, Time now);
  Response get_errors(const Request& request, const std::string& id);
  /// Applies every job due by `now`, in completion order.
  void settle_due(Time now);
  void settle(Job& job);
  Phase phase(const Job& job, Time now) const;
  Time done_at(const Job& job) const;
  /// True and the count taken when `endpoint` has room; else the wait until it does.
  bool take(const std::string& endpoint, Time now, std::int64_t* wait_s);
  void add_rate_headers(Response& r, const std::string& endpoint, Time now) const;
  Profile* find(const std::string& key_kind, const std::string& value);
  std::string iso(Time t) const;
  nlohmann::json job_json(const Job& job, Time now) const;
  /// What a job shows at `now`: its status on the wire, counts, times.
  struct JobShown {
    std::string status;
    std::int64_t completed = 0, failed = 0;
    std::optional<std::string> started_at, completed_at;
  };
  JobShown shown(const Job& job, Time now) const;
  /// Appends job_json's dump; false (`out` as it was) when an id or the
  /// status is not UTF-8, which the DOM writes with replacements.
  bool append_job_json(std::string& out, const Job& job, Time now) const;

};

}  // namespace destsim
