// async_job_api.h — a generic, stateful fake of an async-job API, SendGrid-like
// by default (APIS.md §10), for the declarative destination.
//
// A client creates a job that carries records and polls it until it is final:
//   POST <path>        {"<records_field>": [{...}, ...]}   → 202 {id, status:"pending", urls:[], message:""}
//   GET  <path>/{id}   → 200 {id, status, record_count, created_at_ms, updated_at_ms,
//                              completed_at_ms?, message? (when failed), results? (record mode, when ready)}
//   GET  <path>        → 200 {result: [{id, status}, ...]}
// Auth is `Authorization: Bearer <key>` (401 otherwise). The default path is
// /v3/marketing/contacts/imports: SendGrid's documented async job is an
// *export*; a destination delivers, so the fake models the import-shaped twin.
//
// Job progress is computed lazily from `now`: a job is pending for
// `pending_for` after creation, then final: `final_status` ("ready" by
// default), "failure" for the ordinals in `fail_jobs` (1-based, in creation
// order), and never final for `stall_jobs`. `status_values` renames the
// canonical statuses on the wire (e.g. {"failure": "exploded"}), so a test can
// make the API answer a status the client's mapping does not know.
//
// Result modes: `results: "job"` (SendGrid: the whole job is ready or failure;
// every record of a ready job is applied) or `results: "record"` (a ready job
// lists per-record outcomes `{index, id, status: "ok"|"error", error?}`; a
// record whose `invalid_field` (default "email") is missing or not a valid
// email fails with "invalid email" and is not applied).
//
// Stricter than the real API (where SendGrid is vague or UNCONFIRMED):
//   - the records array must be present, non-empty, ≤ `max_records` objects (400);
//   - a body over `max_bytes` → 413;
//   - `max_pending_jobs` (0 = off) pending jobs at most; another creation → 429
//     with Retry-After (SendGrid's 429 details are UNCONFIRMED);
//   - an unknown job id → 404; a wrong method → 405.
//
// The oracle: each record of a job is applied once, when the job becomes final
// with success (settled at the first request the fake handles at or after that
// time), counted under oracle_key("async_job.record", record).
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

struct AsyncJobApiOptions {
  std::string api_key;  // empty: any non-empty bearer token is accepted
  Duration latency{0};  // the common "latency" option (fakes/fake_options.h)
  std::string path = "/v3/marketing/contacts/imports";
  std::string records_field = "contacts";
  std::int64_t max_records = 10'000;
  std::int64_t max_bytes = 6'000'000;
  Duration pending_for = std::chrono::seconds(30);
  /// Canonical final status of jobs not listed below: "ready" or "failure".
  std::string final_status = "ready";
  std::set<std::int64_t> fail_jobs;   // 1-based creation ordinals that end in failure
  std::set<std::int64_t> stall_jobs;  // ordinals that stay pending forever
  /// Canonical status ("pending", "ready", "failure") → the string on the wire.
  std::map<std::string, std::string> status_values;
  bool record_results = false;  // "results": "record" (true) or "job"
  std::string invalid_field = "email";
  std::string id_field = "email";  // the record field echoed as `id` in per-record results
  std::int64_t max_pending_jobs = 0;

  /// Reads options from JSON (keys as above; `results` is "job" or "record");
  /// errors name the key.
  static Result<AsyncJobApiOptions> from_json(const nlohmann::json& j, const std::string& where);
};

/// What AsyncJobApi::reset() forgets.
struct AsyncJobApiState {
  enum class JobState { pending, ready, failure };
  struct Job {
    std::string id;
    std::int64_t ordinal = 0;
    Time created{};
    std::vector<nlohmann::json> records;
    JobState state = JobState::pending;  // as settled so far
    Time completed{};
    std::string message;
    nlohmann::json results;  // per-record outcomes (record mode)
    std::int64_t applied = 0;
    // The last GET of this job as sent, and the state it showed: a job's
    // answer changes only when it is settled, and a long import is polled
    // thousands of times while it is pending (bench/bulk_bench).
    std::string shown;
    std::optional<JobState> shown_state;
  };
  std::vector<Job> jobs;  // by ordinal - 1
  // The indices of the jobs still pending, in creation order: every request
  // settles them (a long incident has many finished jobs and a few pending).
  std::vector<std::size_t> pending;
  std::map<std::string, std::size_t, std::less<>> by_id;
  std::int64_t requests = 0;
  std::int64_t records_applied = 0;
};

class AsyncJobApi final : public StatefulFakeApi<AsyncJobApiOptions, AsyncJobApiState> {
 public:
  using StatefulFakeApi::StatefulFakeApi;
  std::string name() const override { return "async_job"; }
  Response handle(const Request& request, Time now) override;
  nlohmann::json accepted() const override;
  /// Operations (Fake::control): set_api_key, request.
  Status control(const JsonIn& op, Time now) override;
  std::string control_ops() const override { return "set_api_key, request"; }
  void catch_up(Time now) override { settle(now); }

  std::int64_t requests() const { return state_.requests; }
  std::int64_t jobs() const { return static_cast<std::int64_t>(state_.jobs.size()); }
  std::int64_t records_applied() const { return state_.records_applied; }

 private:
  using JobState = AsyncJobApiState::JobState;
  using Job = AsyncJobApiState::Job;

  JobState due_state(const Job& job, Time now) const;
  void settle(Time now);
  void finish(Job& job, JobState state, Time at);
  std::string wire(JobState s) const;
  Response create(const Request& request, Time now);
  Response show(Job& job) const;
  std::int64_t pending_jobs() const;

};

}  // namespace destsim
