#include "conformance/expect.h"

#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

#include "fakes/fault_plan.h"
#include "framework/json_in.h"
#include "framework/trace_events.h"

namespace destsim {

namespace {

std::string bound_text(const CountBound& b) {
  if (b.exactly) return "exactly " + std::to_string(*b.exactly);
  std::string s;
  if (b.min) s += ">= " + std::to_string(*b.min);
  if (b.max) s += std::string(s.empty() ? "" : " and ") + "<= " + std::to_string(*b.max);
  return s;
}

bool within(const CountBound& b, std::int64_t n) {
  if (b.exactly && n != *b.exactly) return false;
  if (b.min && n < *b.min) return false;
  if (b.max && n > *b.max) return false;
  return true;
}

// The jobs of the first send that carried `id`: a batch, an upload, or the
// record alone; sorted.
std::optional<std::vector<JobId>> first_send_of(const Outcome& o, JobId id) {
  auto has = [id](const std::vector<JobId>& ids) { return std::find(ids.begin(), ids.end(), id) != ids.end(); };
  for (const TimedEvent& te : o.events) {
    std::vector<JobId> ids;
    if (const auto* b = std::get_if<ev::BatchSent>(&te.event)) ids = b->ids.ids;
    else if (const auto* u = std::get_if<ev::UploadStart>(&te.event)) ids = u->ids.ids;
    else if (const auto* one = std::get_if<ev::OneSent>(&te.event)) ids = {static_cast<JobId>(one->id)};
    else continue;
    if (!has(ids)) continue;
    std::sort(ids.begin(), ids.end());
    return ids;
  }
  return std::nullopt;
}

// From the record's arrival to the job's (last) terminal event.
std::optional<Duration> job_latency(const Outcome& o, JobId id) {
  std::optional<Duration> arrived, ended;
  for (std::size_t i = 0; i < o.records.size() && i < o.arrivals.size(); ++i)
    if (o.records[i].id == id) arrived = o.arrivals[i];
  for (const TimedEvent& te : o.events)
    if (const auto* t = std::get_if<ev::JobTerminal>(&te.event); t && static_cast<JobId>(t->id) == id)
      ended = Duration(te.t);
  if (!arrived || !ended) return std::nullopt;
  return *ended - *arrived;
}

}  // namespace

Judgement judge(const Scenario& s, const Outcome& o) {
  Judgement j;
  if (!o.status.ok()) j.failures.push_back("the run did not end normally: " + o.status.error().message);
  const JobCounts c = o.jobs().counts();
  for (const auto& [what, want] : s.expect.jobs) {
    std::int64_t got = what == "succeeded" ? c.succeeded
                       : what == "failed"  ? c.failed
                       : what == "aborted" ? c.aborted
                       : what == "unknown" ? c.unknown
                                           : static_cast<std::int64_t>(c.total());
    if (got != want) {
      std::string line = "jobs." + what + ": expected " + std::to_string(want) + ", got " + std::to_string(got);
      if (what != "total" && what != "unknown") {
        std::vector<JobId> ids;
        for (JobId id : o.jobs().ids()) {
          if (std::string(job_state_name(o.jobs().outcome(id).state)) == what) ids.push_back(id);
          if (ids.size() >= 10) break;
        }
        if (!ids.empty()) {
          line += " (e.g. jobs";
          for (JobId id : ids) line += " " + std::to_string(id);
          line += ")";
        }
      }
      j.failures.push_back(line);
    }
  }
  for (const auto& [id, je] : s.expect.job) {
    if (!o.jobs().contains(id)) {
      j.failures.push_back("job " + std::to_string(id) + ": expected " + job_state_name(je.state) +
                           ", but no such job ran");
      continue;
    }
    JobOutcome out = o.jobs().outcome(id);
    std::string got = std::string(job_state_name(out.state)) + (out.reason.empty() ? "" : " (" + out.reason + ")");
    if (out.state != je.state) {
      j.failures.push_back("job " + std::to_string(id) + ": expected " + job_state_name(je.state) + ", got " + got);
    } else if (!je.reason_contains.empty() && out.reason.find(je.reason_contains) == std::string::npos) {
      j.failures.push_back("job " + std::to_string(id) + ": expected a reason containing \"" + je.reason_contains +
                           "\", got " + got);
    } else if (je.reason_kind && *je.reason_kind != out.kind) {
      j.failures.push_back("job " + std::to_string(id) + ": expected reason kind " + reason_kind_name(*je.reason_kind) +
                           ", got " + reason_kind_name(out.kind) + " — " + got);
    } else if (je.outcome_unknown && *je.outcome_unknown != out.outcome_unknown) {
      j.failures.push_back("job " + std::to_string(id) + ": expected outcome_unknown " +
                           (*je.outcome_unknown ? "true" : "false"));
    } else if (je.resent_after_unknown && *je.resent_after_unknown != out.resent_after_unknown) {
      j.failures.push_back("job " + std::to_string(id) + ": expected resent_after_unknown " +
                           (*je.resent_after_unknown ? "true" : "false"));
    } else if (je.attempts && !within(*je.attempts, o.jobs().attempts(id))) {
      j.failures.push_back("job " + std::to_string(id) + ": expected attempts " + bound_text(*je.attempts) + ", got " +
                           std::to_string(o.jobs().attempts(id)));
    } else if (je.sent_with) {
      std::optional<std::vector<JobId>> first = first_send_of(o, id);
      if (!first) {
        j.failures.push_back("job " + std::to_string(id) + ": expected to be sent with " + format_id_ranges(*je.sent_with) +
                             ", but no send carried it");
      } else if (*first != *je.sent_with) {
        j.failures.push_back("job " + std::to_string(id) + ": expected its first send to carry " +
                             format_id_ranges(*je.sent_with) + ", it carried " + format_id_ranges(*first));
      }
    }
    if ((je.latency_min || je.latency_max) && out.state == je.state) {
      std::optional<Duration> latency = job_latency(o, id);
      const std::string name = "job " + std::to_string(id);
      if (!latency) {
        j.failures.push_back(name + ": expected a latency, but its arrival or end is not in the trace");
      } else if ((je.latency_min && *latency < *je.latency_min) || (je.latency_max && *latency > *je.latency_max)) {
        j.failures.push_back(name + ": expected a latency (arrival to " + job_state_name(out.state) + ") " +
                             (je.latency_min ? ">= " + format_duration(*je.latency_min) : std::string()) +
                             (je.latency_min && je.latency_max ? " and " : "") +
                             (je.latency_max ? "<= " + format_duration(*je.latency_max) : std::string()) + ", got " +
                             format_duration(*latency));
      }
    }
  }
  const auto& t = o.transport();
  if (!within(s.expect.requests, static_cast<std::int64_t>(t.requests)))
    j.failures.push_back("requests: expected " + bound_text(s.expect.requests) + ", got " + std::to_string(t.requests));
  for (const auto& [status, b] : s.expect.requests_by_status) {
    std::int64_t n = 0;
    if (status < 10) {  // a class: every status of it
      for (const auto& [st, count] : t.by_status)
        if (st / 100 == status) n += static_cast<std::int64_t>(count);
    } else if (auto it = t.by_status.find(status); it != t.by_status.end()) {
      n = static_cast<std::int64_t>(it->second);
    }
    const std::string name = status < 10 ? std::to_string(status) + "xx" : std::to_string(status);
    if (!within(b, n))
      j.failures.push_back("requests with HTTP " + name + ": expected " + bound_text(b) + ", got " + std::to_string(n));
  }
  if (!s.expect.requests_by_endpoint.empty()) {
    // Every request as (method or SFTP operation, path): HTTP from the typed
    // events, SFTP operations from the trace lines (the file door's events).
    std::vector<std::pair<std::string, std::string>> sent;
    for (const TimedEvent& te : o.events)
      if (const auto* r = std::get_if<ev::HttpRequest>(&te.event)) {
        const auto q = r->path.find('?');
        sent.emplace_back(r->method, q == std::string::npos ? r->path : r->path.substr(0, q));
      }
    for (const auto& line : o.trace_lines) {
      if (line.find("\"sftp.request\"") == std::string::npos) continue;
      const nlohmann::json e = parse_json_body(line);
      if (e.is_object() && e.value("kind", "") == "sftp.request") sent.emplace_back(e.value("op", ""), e.value("path", ""));
    }
    for (const auto& [key, b] : s.expect.requests_by_endpoint) {
      const auto space = key.find(' ');
      const std::string verb = key.substr(0, space), path = key.substr(space + 1);
      std::int64_t n = 0;
      for (const auto& [m, p] : sent) n += glob_match(verb, m) && glob_match(path, p) ? 1 : 0;
      if (!within(b, n)) j.failures.push_back("requests " + key + ": expected " + bound_text(b) + ", got " + std::to_string(n));
    }
  }
  if (s.expect.within && o.virtual_duration > *s.expect.within) {
    j.failures.push_back("within: expected every job terminal within " + format_duration(*s.expect.within) +
                         " of virtual time, took " + format_duration(o.virtual_duration));
  }
  if (s.expect.sync) {
    const SyncExpectation& se = *s.expect.sync;
    if (!o.sync) {
      j.failures.push_back("sync: expected a sync outcome, but the sync never ended");
    } else {
      if (se.ok && *se.ok != o.sync->ok)
        j.failures.push_back(std::string("sync: expected ") + (*se.ok ? "success" : "failure") + ", got " +
                             (o.sync->ok ? "success" : "failure" + (o.sync->error.empty() ? "" : " (" + o.sync->error + ")")));
      for (const auto& [stream, want] : se.streams) {
        auto it = o.sync->streams.find(stream);
        const std::string got = it == o.sync->streams.end() ? "never closed" : it->second;
        if (got.rfind(want, 0) != 0) j.failures.push_back("sync stream " + stream + ": expected " + want + ", got " + got);
      }
      for (const auto& [stream, want] : se.checkpoints) {
        std::vector<std::int64_t> got;
        for (const auto& r : o.released)
          if (r.stream == stream) got.push_back(r.records);
        if (got != want)
          j.failures.push_back("sync checkpoints of " + stream + ": expected records " + nlohmann::json(want).dump() +
                               ", released " + nlohmann::json(got).dump());
      }
    }
  }
  if (s.expect.fake.is_object()) {
    nlohmann::json accepted = o.fake().accepted();
    for (auto it = s.expect.fake.begin(); it != s.expect.fake.end(); ++it) {
      nlohmann::json got;
      try {
        got = accepted.at(nlohmann::json::json_pointer(it.key()));
      } catch (const std::exception&) {
        j.failures.push_back("fake " + it.key() + ": expected " + it.value().dump() + ", but the fake has no such path");
        continue;
      }
      if (got != it.value())
        j.failures.push_back("fake " + it.key() + ": expected " + it.value().dump() + ", got " + got.dump());
    }
  }
  for (PropertyResult& r : check_properties(s.expect.properties, o, s)) {
    if (r.verdict == Verdict3::fail) j.failures.push_back("property " + r.id + " failed: " + r.detail);
    if (r.verdict == Verdict3::unchecked) j.unchecked.push_back(r.id);
    j.properties.push_back(std::move(r));
  }
  return j;
}

void print_summary(std::ostream& out, const Scenario& s, const Outcome& o, const Judgement& j) {
  out << "scenario: " << s.name << (s.file.empty() ? "" : " (" + s.file + ")") << "\n";
  out << "seed=" << o.seed << " destination=" << s.destination << "\n";
  out << "config:";
  for (const auto& k : o.config.describe()) {
    out << " " << k["key"].get<std::string>() << "=" << (k["value"].is_string() ? k["value"].get<std::string>()
                                                                                 : k["value"].dump());
  }
  out << "\n";
  const JobCounts c = o.jobs().counts();
  out << "jobs: " << c.total() << " total, " << c.succeeded << " succeeded, " << c.failed << " failed, " << c.aborted
      << " aborted, " << c.pending << " pending (" << c.unknown << " outcome_unknown)\n";
  const auto& t = o.transport();
  out << "requests: " << t.requests;
  std::string by;
  for (const auto& [status, n] : t.by_status) by += (by.empty() ? "" : ", ") + std::to_string(status) + ": " + std::to_string(n);
  for (const auto& [kind, n] : t.by_error) by += (by.empty() ? "" : ", ") + kind + ": " + std::to_string(n);
  if (!by.empty()) out << " (" << by << ")";
  out << "\n";
  if (!t.faults.empty()) {
    out << "faults injected:";
    for (const auto& [kind, n] : t.faults) out << " " << kind << "=" << n;
    out << "\n";
  }
  out << "destination: " << o.destination_stats.dump() << "\n";
  if (o.sync) {
    out << "sync: " << (o.sync->ok ? "succeeded" : "failed") << (o.sync->error.empty() ? "" : " (" + o.sync->error + ")");
    for (const auto& [stream, verdict] : o.sync->streams) out << "; " << stream << " " << verdict;
    out << "\n";
    std::map<std::string, std::string> released;
    for (const auto& r : o.released)
      released[r.stream] += (released[r.stream].empty() ? "" : ",") + std::to_string(r.records);
    out << "checkpoints released:";
    if (released.empty()) out << " none";
    for (const auto& [stream, list] : released) out << " " << stream << "@[" << list << "]";
    out << "\n";
  }
  char wall[64];
  std::snprintf(wall, sizeof wall, "%.3f s", o.wall_seconds);
  out << "virtual time: " << format_duration(o.virtual_duration) << ", wall time: " << wall << ", loop events: "
      << o.steps << "\n";
  for (const auto& p : j.properties) {
    out << "property " << p.id << ": " << verdict_name(p.verdict) << (p.detail.empty() ? "" : " — " + p.detail)
        << "\n";
  }
  if (j.failures.empty()) {
    out << "expectations: all hold\n";
  } else {
    out << "expectations: " << j.failures.size() << " failed\n";
    for (const auto& f : j.failures) out << "  FAIL " << f << "\n";
  }
  out << "trace-hash: " << o.trace_hash << "\n";
}

}  // namespace destsim
