#include "fakes/async_job/async_job_api.h"

#include "fakes/fake_options.h"

#include <algorithm>
#include <cstdio>

#include "framework/json_in.h"
#include "framework/oracle.h"

namespace destsim {

namespace {

constexpr std::string_view kEffect = "async_job.record";

// SendGrid's error shape: {"errors": [{"field": ..., "message": ...}]}.
Response error(int status, const std::string& message, const std::string& field = "") {
  nlohmann::json f = field.empty() ? nlohmann::json(nullptr) : nlohmann::json(field);
  return json_response(status, {{"errors", {{{"field", f}, {"message", message}}}}});
}

std::int64_t ms(Time t) { return to_ns(t) / 1'000'000; }

Result<std::set<std::int64_t>> ordinals(const JsonIn& in) {
  DS_CHECK(in.array());
  std::set<std::int64_t> out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    DS_TRY(std::int64_t n, in.at(i).integer(1));
    out.insert(n);
  }
  return out;
}

// The fake's own keys (read_fake_options reads the common ones and the null case).
Status read_own_options(const JsonIn& in, AsyncJobApiOptions& o) {
  if (in.has("path")) {
    DS_TRY(o.path, in.at("path").string());
    if (o.path.empty() || o.path[0] != '/' || o.path.back() == '/' || o.path.find('?') != std::string::npos)
      return in.at("path").expected("a path starting with \"/\", without a trailing \"/\" or a query");
  }
  if (in.has("records_field")) {
    DS_TRY(o.records_field, in.at("records_field").string());
    if (o.records_field.empty()) return in.at("records_field").expected("a non-empty field name");
  }
  if (in.has("max_records")) { DS_TRY(o.max_records, in.at("max_records").integer(1)); }
  if (in.has("max_bytes")) {
    DS_TRY(o.max_bytes, in.at("max_bytes").size_bytes());
    if (o.max_bytes < 1) return in.at("max_bytes").expected("a size of at least 1 byte");
  }
  if (in.has("pending_for")) { DS_TRY(o.pending_for, in.at("pending_for").duration()); }
  if (in.has("final_status")) {
    DS_TRY(o.final_status, in.at("final_status").string());
    if (o.final_status != "ready" && o.final_status != "failure")
      return in.at("final_status").expected("\"ready\" or \"failure\"");
  }
  if (in.has("fail_jobs")) { DS_TRY(o.fail_jobs, ordinals(in.at("fail_jobs"))); }
  if (in.has("stall_jobs")) { DS_TRY(o.stall_jobs, ordinals(in.at("stall_jobs"))); }
  if (in.has("status_values")) { DS_TRY(o.status_values, read_status_values(in.at("status_values"), {"pending", "ready", "failure"})); }
  if (in.has("results")) {
    DS_TRY(std::string r, in.at("results").string());
    if (r != "job" && r != "record") return in.at("results").expected("\"job\" or \"record\"");
    o.record_results = r == "record";
  }
  if (in.has("invalid_field")) { DS_TRY(o.invalid_field, in.at("invalid_field").string()); }
  if (in.has("id_field")) { DS_TRY(o.id_field, in.at("id_field").string()); }
  if (in.has("max_pending_jobs")) { DS_TRY(o.max_pending_jobs, in.at("max_pending_jobs").integer(0)); }
  return {};
}

}  // namespace

Result<AsyncJobApiOptions> AsyncJobApiOptions::from_json(const nlohmann::json& j, const std::string& where) {
  return read_fake_options(j, where, "api_key", &AsyncJobApiOptions::api_key,
                           {"path", "records_field", "max_records", "max_bytes", "pending_for", "final_status",
                            "fail_jobs", "stall_jobs", "status_values", "results", "invalid_field", "id_field",
                            "max_pending_jobs"},
                           read_own_options);
}

std::string AsyncJobApi::wire(JobState s) const {
  return wire_status(options_.status_values,
                     s == JobState::pending ? "pending" : s == JobState::ready ? "ready" : "failure");
}

// What the job's state is at `now`, from its creation time alone.
AsyncJobApi::JobState AsyncJobApi::due_state(const Job& job, Time now) const {
  if (options_.stall_jobs.count(job.ordinal)) return JobState::pending;
  if (now - job.created < options_.pending_for) return JobState::pending;
  if (options_.fail_jobs.count(job.ordinal)) return JobState::failure;
  return options_.final_status == "failure" ? JobState::failure : JobState::ready;
}

void AsyncJobApi::finish(Job& job, JobState state, Time at) {
  DS_ASSERT(job.state == JobState::pending && state != JobState::pending);
  job.state = state;
  job.completed = at;
  if (state == JobState::failure) {
    job.message = "import job " + job.id + " failed";
    return;
  }
  if (options_.record_results) job.results = nlohmann::json::array();
  for (std::size_t i = 0; i < job.records.size(); ++i) {
    const nlohmann::json& r = job.records[i];
    bool ok = true;
    if (options_.record_results) {
      auto f = r.find(options_.invalid_field);
      ok = f != r.end() && f->is_string() && fake_valid_email(f->get<std::string>());
      nlohmann::json res = {{"index", i}, {"status", ok ? "ok" : "error"}};
      auto id = r.find(options_.id_field);
      res["id"] = id == r.end() ? nlohmann::json(nullptr) : *id;
      if (!ok) res["error"] = "invalid email in field \"" + options_.invalid_field + "\"";
      job.results.push_back(std::move(res));
    }
    if (ok) {
      ledger_.add(kEffect, content_hash_of_dump(r));
      ++job.applied;
      ++state_.records_applied;
    }
  }
}

void AsyncJobApi::settle(Time now) {
  std::size_t kept = 0;
  for (std::size_t i : state_.pending) {
    Job& job = state_.jobs[i];
    JobState s = due_state(job, now);
    if (s != JobState::pending) finish(job, s, job.created + options_.pending_for);
    else state_.pending[kept++] = i;
  }
  state_.pending.resize(kept);
}

std::int64_t AsyncJobApi::pending_jobs() const { return static_cast<std::int64_t>(state_.pending.size()); }

Response AsyncJobApi::handle(const Request& request, Time now) {
  ++state_.requests;
  settle(now);
  auto auth = request.headers.get("Authorization");
  const std::string_view bearer = "Bearer ";
  if (!auth || auth->size() <= bearer.size() || auth->substr(0, bearer.size()) != bearer ||
      (!options_.api_key.empty() && auth->substr(bearer.size()) != options_.api_key)) {
    return error(401, "authorization required");
  }
  const std::string_view path = request.path_only();
  if (path == options_.path) {
    if (request.method == "POST") return create(request, now);
    if (request.method == "GET") {
      nlohmann::json list = nlohmann::json::array();
      for (const Job& j : state_.jobs) list.push_back({{"id", j.id}, {"status", wire(j.state)}});
      return json_response(200, {{"result", list}});
    }
    return error(405, "method " + request.method + " not allowed on " + std::string(path));
  }
  // <path>/<id>: compared in place, the id looked up as a view (every poll comes here).
  const std::string_view base = options_.path;
  if (path.size() > base.size() + 1 && path.substr(0, base.size()) == base && path[base.size()] == '/') {
    const std::string_view id = path.substr(base.size() + 1);
    if (request.method != "GET") return error(405, "method " + request.method + " not allowed on " + std::string(path));
    auto it = state_.by_id.find(id);
    if (it == state_.by_id.end()) return error(404, "job " + std::string(id) + " not found", "id");
    return show(state_.jobs[it->second]);
  }
  return error(404, "no such endpoint: " + request.method + " " + std::string(path));
}

Response AsyncJobApi::create(const Request& request, Time now) {
  if (static_cast<std::int64_t>(request.body.size()) > options_.max_bytes)
    return error(413, "request body of " + std::to_string(request.body.size()) + " bytes exceeds the limit of " +
                          std::to_string(options_.max_bytes) + " bytes");
  nlohmann::json body = parse_json_body(request.body);
  if (body.is_discarded() || !body.is_object()) return error(400, "the body must be a JSON object");
  auto arr = body.find(options_.records_field);
  if (arr == body.end() || !arr->is_array() || arr->empty())
    return error(400, options_.records_field + ": expected a non-empty array", options_.records_field);
  if (static_cast<std::int64_t>(arr->size()) > options_.max_records)
    return error(400,
                 options_.records_field + ": at most " + std::to_string(options_.max_records) +
                     " records per job, got " + std::to_string(arr->size()),
                 options_.records_field);
  for (std::size_t i = 0; i < arr->size(); ++i) {
    if (!(*arr)[i].is_object())
      return error(400, options_.records_field + "[" + std::to_string(i) + "]: expected an object",
                   options_.records_field);
  }
  if (options_.max_pending_jobs > 0 && pending_jobs() >= options_.max_pending_jobs) {
    Response r = error(429, "too many jobs in progress (at most " + std::to_string(options_.max_pending_jobs) + ")");
    r.headers.set("Retry-After", "60");
    return r;
  }
  Job job;
  job.ordinal = static_cast<std::int64_t>(state_.jobs.size()) + 1;
  char id[32];
  std::snprintf(id, sizeof id, "job-%06lld", static_cast<long long>(job.ordinal));
  job.id = id;
  job.created = now;
  job.records.assign(arr->begin(), arr->end());
  state_.by_id.emplace(job.id, state_.jobs.size());
  state_.jobs.push_back(std::move(job));
  // A zero pending_for completes the job at once.
  Job& j = state_.jobs.back();
  if (JobState s = due_state(j, now); s != JobState::pending) finish(j, s, now);
  else state_.pending.push_back(state_.jobs.size() - 1);
  return json_response(202, {{"id", j.id},
                             {"status", wire(JobState::pending)},
                             {"record_count", j.records.size()},
                             {"urls", nlohmann::json::array()},
                             {"message", ""}});
}

Response AsyncJobApi::show(Job& job) const {
  if (job.shown_state == job.state) {
    Response r;
    r.status = 200;
    r.headers.add("Content-Type", "application/json");  // as json_response
    r.body = job.shown;
    return r;
  }
  nlohmann::json b = {{"id", job.id},
                      {"status", wire(job.state)},
                      {"record_count", job.records.size()},
                      {"created_at_ms", ms(job.created)},
                      {"urls", nlohmann::json::array()}};
  if (job.state != JobState::pending) {
    b["completed_at_ms"] = ms(job.completed);
    b["applied_count"] = job.applied;
  }
  if (job.state == JobState::failure) b["message"] = job.message;
  if (job.state == JobState::ready && options_.record_results) b["results"] = job.results;
  Response r = json_response(200, b);
  job.shown = r.body;
  job.shown_state = job.state;
  return r;
}

nlohmann::json AsyncJobApi::accepted() const {
  nlohmann::json jobs = nlohmann::json::array();
  std::map<std::string, std::int64_t> by_status;
  for (const Job& j : state_.jobs) {
    jobs.push_back({{"id", j.id}, {"status", wire(j.state)}, {"records", j.records.size()}, {"applied", j.applied}});
    ++by_status[wire(j.state)];
  }
  return {{"requests", state_.requests},
          {"jobs", jobs},
          {"jobs_created", state_.jobs.size()},
          {"jobs_by_status", by_status},
          {"records_applied", state_.records_applied},
          {"distinct_records", ledger_.distinct()}};
}

Status AsyncJobApi::control(const JsonIn& op, Time now) { return api_key_control(op, now, options_.api_key); }

}  // namespace destsim
