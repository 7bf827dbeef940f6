#include "conformance/properties.h"

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <set>

#include "framework/retry.h"

namespace destsim {

const char* verdict_name(Verdict3 v) {
  switch (v) {
    case Verdict3::pass: return "pass";
    case Verdict3::fail: return "FAIL";
    case Verdict3::not_applicable: return "n/a";
    case Verdict3::unchecked: return "not checked yet";
  }
  return "?";
}

namespace {

// Trace events as the checkers need them.
struct Req {
  std::int64_t id = 0;
  std::int64_t t = 0;
  std::string endpoint;  // host + path
  std::int64_t bytes = 0;
};
struct Resp {
  std::int64_t req = 0;
  std::int64_t t = 0;
  int status = 0;
  std::string retry_after;
};
// The bulk path's account of one upload (by the router's upload number).
struct Upload {
  std::int64_t key = 0;
  std::int64_t start = -1;        // upload_start (or a resume)
  std::int64_t accepted = -1;     // the upload answered "importing"
  std::string outcome;            // importing | completed | retry | failed
  std::int64_t records = 0, importing = 0, named = 0, unaccounted = 0, overlap = 0, foreign = 0;
  std::vector<std::int64_t> polls;       // poll request times
  std::vector<std::string> statuses;     // poll answers in order
  bool timed_out = false, settled = false, resumed = false, crashed = false;
  std::int64_t resumed_at = -1;
  std::string import;
  std::string resumed_import;  // the import id the store held at a restart ("" = lost)
  std::vector<JobId> ids;
  std::int64_t oldest = -1, slot_wait = 0;
  int attempt = 0;
};
struct Interval {
  std::int64_t from, to;
};
// One send of the batch path, as the Processor traced it ("batch" or "one").
struct Send {
  std::int64_t t = 0;      // when the answer was classified
  bool one = false;        // a record sent alone
  std::string handler;
  std::vector<JobId> ids;
  int attempt = 0;
  std::string status;      // batch status, or the single verdict (ok/retry/fail)
  std::int64_t sent = 0, held = 0;
  int http = -1;
  std::int64_t retry_after = -1;  // ns, -1 = none
  bool too_large = false;
  std::int64_t oldest = -1, flushed = -1;  // first attempts of a batch
  std::string code;                        // the API's error code in the answer
};

struct Events {
  std::vector<Req> requests;
  std::vector<Resp> responses;
  std::vector<std::int64_t> batch_records;
  std::vector<Send> sends;
  // The sync lifecycle, as the Sync traced it (in trace order).
  struct SyncEvent {
    std::string kind;    // start setup open first_record end state close teardown failure stream_failed restart
    std::int64_t t = 0;
    std::string stream;
    bool flag = true;    // setup/open/teardown ok, close committed
    std::int64_t records = 0, seq = 0;
  };
  std::vector<SyncEvent> sync;
  std::map<JobId, std::int64_t> terminal_at;  // first terminal state of each job
  std::int64_t hidden_faults = 0;  // timeouts/resets after applying, garbles
  std::int64_t foreign_answers = 0;  // ids batch answers named that their batch did not hold
  // Upload numbers are unique among the uploads the store holds; a restarted
  // process may reuse the number of one that is long done, so each
  // upload_start opens a new entry.
  std::vector<Upload> uploads;
  std::map<std::int64_t, std::size_t> current;
  std::vector<Interval> in_flight;         // per upload slot: start .. end (or crash)
  std::vector<std::int64_t> crashes, restarts;
  std::int64_t settled_ok = 0, unmentioned = 0;
};

// Builds the checkers' view from the run's typed events (framework/trace_events.h):
// no text is read back, and every field comes from the struct that wrote it.
Events parse_events(const Outcome& o) {
  Events ev;
  std::map<std::int64_t, std::int64_t> open;  // upload → when it took an import slot
  auto upload = [&](std::int64_t key, bool start) -> Upload& {
    auto it = ev.current.find(key);
    const bool fresh = it == ev.current.end() || (start && ev.uploads[it->second].start >= 0);
    if (fresh) {
      ev.current[key] = ev.uploads.size();
      ev.uploads.emplace_back();
      ev.uploads.back().key = key;
    }
    return ev.uploads[ev.current[key]];
  };
  auto sync = [&](const char* kind, std::int64_t t, std::string stream = "", bool flag = true, std::int64_t records = 0,
                  std::int64_t seq = 0) {
    ev.sync.push_back(Events::SyncEvent{kind, t, std::move(stream), flag, records, seq});
  };
  for (const TimedEvent& te : o.events) {
    const std::int64_t t = te.t;
    std::visit(
        [&](const auto& e) {
          using E = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<E, ev::HttpRequest>) {
            ev.requests.push_back({e.req, t, e.host + e.path, e.bytes});
          } else if constexpr (std::is_same_v<E, ev::HttpResponse>) {
            ev.responses.push_back({e.req, t, static_cast<int>(e.status), e.retry_after.value_or("")});
          } else if constexpr (std::is_same_v<E, ev::HttpError>) {
            if (e.applied) ++ev.hidden_faults;
          } else if constexpr (std::is_same_v<E, ev::Fault>) {
            if (e.fault == "garble" || e.after.value_or(false)) ++ev.hidden_faults;
          } else if constexpr (std::is_same_v<E, ev::JobTerminal>) {
            ev.terminal_at.emplace(static_cast<JobId>(e.id), t);
          } else if constexpr (std::is_same_v<E, ev::BatchSent> || std::is_same_v<E, ev::OneSent>) {
            constexpr bool one = std::is_same_v<E, ev::OneSent>;
            Send sd;
            sd.t = t;
            sd.one = one;
            sd.handler = e.handler;
            sd.attempt = static_cast<int>(e.attempt);
            sd.sent = e.sent;
            sd.held = e.held;
            sd.http = static_cast<int>(e.http);
            sd.retry_after = e.retry_after.value_or(-1);
            sd.too_large = e.too_large;
            sd.code = e.code.value_or("");
            if constexpr (one) {
              sd.ids = {static_cast<JobId>(e.id)};
              sd.status = e.verdict;
            } else {
              sd.ids = e.ids.ids;
              sd.status = e.status;
              sd.oldest = e.oldest.value_or(-1);
              sd.flushed = e.flushed.value_or(-1);
              ev.foreign_answers += e.foreign;
              ev.batch_records.push_back(e.records);
            }
            ev.sends.push_back(std::move(sd));
          } else if constexpr (std::is_same_v<E, ev::UploadStart>) {
            Upload& u = upload(e.upload, true);
            u.start = t;
            u.records = e.records;
            u.ids = e.ids.ids;
            u.oldest = e.oldest;
            u.slot_wait = e.slot_wait;
            u.attempt = static_cast<int>(e.attempt);
            open[e.upload] = t;
          } else if constexpr (std::is_same_v<E, ev::UploadResult>) {
            Upload& u = upload(e.upload, false);
            u.outcome = e.outcome;
            u.import = e.import;
            if (u.outcome == "importing") u.accepted = t;
            u.importing = e.importing;
            u.named = e.named;
            u.unaccounted = e.unaccounted;
            u.overlap = e.overlap;
            u.foreign = e.foreign;
          } else if constexpr (std::is_same_v<E, ev::Poll>) {
            upload(e.upload, false).polls.push_back(t);
          } else if constexpr (std::is_same_v<E, ev::Polled>) {
            upload(e.upload, false).statuses.push_back(e.status);
          } else if constexpr (std::is_same_v<E, ev::PollTimeout>) {
            upload(e.upload, false).timed_out = true;
          } else if constexpr (std::is_same_v<E, ev::Settle>) {
            Upload& u = upload(e.upload, false);
            if (e.from == "stats") u.settled = true;
            ev.settled_ok += e.ok;
            ev.unmentioned += e.unmentioned;
          } else if constexpr (std::is_same_v<E, ev::Resume>) {
            Upload& u = upload(e.upload, false);
            u.resumed = true;
            u.resumed_at = t;
            u.resumed_import = e.import;
          } else if constexpr (std::is_same_v<E, ev::ResumeStart>) {
            upload(e.upload, false);
            open[e.upload] = t;
          } else if constexpr (std::is_same_v<E, ev::ImportEnd>) {
            upload(e.upload, false);
            auto it = open.find(e.upload);
            if (it != open.end()) {
              ev.in_flight.push_back({it->second, t});
              open.erase(it);
            }
          } else if constexpr (std::is_same_v<E, ev::RunCrash>) {
            ev.crashes.push_back(t);
            for (auto& [k, from] : open) {
              ev.in_flight.push_back({from, t});
              ev.uploads[ev.current[k]].crashed = true;
            }
            open.clear();
          } else if constexpr (std::is_same_v<E, ev::RunRestart>) {
            ev.restarts.push_back(t);
            sync("restart", t);
          } else if constexpr (std::is_same_v<E, ev::SyncStart>) {
            sync("start", t);
          } else if constexpr (std::is_same_v<E, ev::SyncSetup>) {
            sync("setup", t, "", e.ok);
          } else if constexpr (std::is_same_v<E, ev::SyncOpen>) {
            sync("open", t, e.stream, e.ok);
          } else if constexpr (std::is_same_v<E, ev::SyncFirstRecord>) {
            sync("first_record", t, e.stream);
          } else if constexpr (std::is_same_v<E, ev::SyncState>) {
            sync("state", t, e.stream, true, e.records, e.seq);
          } else if constexpr (std::is_same_v<E, ev::SyncEnd>) {
            sync("end", t, e.stream);
          } else if constexpr (std::is_same_v<E, ev::SyncClose>) {
            sync("close", t, e.stream, e.committed, e.records);
          } else if constexpr (std::is_same_v<E, ev::SyncStreamFailed>) {
            sync("stream_failed", t, e.stream);
          } else if constexpr (std::is_same_v<E, ev::SyncFailure>) {
            sync("failure", t);
          } else if constexpr (std::is_same_v<E, ev::SyncTeardown>) {
            sync("teardown", t, "", e.ok);
          }
        },
        te.event);
  }
  for (auto& [k, from] : open) ev.in_flight.push_back({from, INT64_MAX});
  return ev;
}

// No restart between two times: the same process sent both.
bool same_process(const Events& ev, std::int64_t t1, std::int64_t t2) {
  for (std::int64_t r : ev.restarts)
    if (r > t1 && r <= t2) return false;
  return true;
}

std::string ids_sample(const std::vector<JobId>& ids) {
  std::string out;
  for (std::size_t i = 0; i < ids.size() && i < 10; ++i) out += (i ? ", " : "") + std::to_string(ids[i]);
  if (ids.size() > 10) out += ", … (" + std::to_string(ids.size()) + " in all)";
  return out;
}

std::int64_t applied_count(const Outcome& o, const Record& r) {
  std::int64_t n = 0;
  for (const auto& key : o.entry->effects(r, o.config)) n += o.fake().applied(key);
  return n;
}

PropertyResult fail(const std::string& id, std::string detail) { return {id, Verdict3::fail, std::move(detail)}; }
PropertyResult pass(const std::string& id) { return {id, Verdict3::pass, ""}; }
PropertyResult na(const std::string& id, std::string why) { return {id, Verdict3::not_applicable, std::move(why)}; }

bool has_key(const Outcome& o, const char* key) {
  for (const auto& k : o.entry->schema)
    if (k.name == key) return true;
  return false;
}

PropertyResult check_a1(const Outcome& o, const Events& ev) {
  if (ev.foreign_answers > 0)
    return fail("A1", "batch answers named " + std::to_string(ev.foreign_answers) +
                          " job ids that were not in the batch they answered (invented results)");
  std::vector<JobId> missing, pending;
  std::set<JobId> input;
  for (std::int64_t i = 0; i < o.input_size; ++i) {
    JobId id = o.record(i).id;
    input.insert(id);
    if (!o.jobs().contains(id)) missing.push_back(id);
    else if (o.jobs().outcome(id).state == JobState::pending) pending.push_back(id);
  }
  std::vector<JobId> invented;
  for (JobId id : o.jobs().ids())
    if (!input.count(id)) invented.push_back(id);
  if (!missing.empty()) return fail("A1", "jobs never registered: " + ids_sample(missing));
  if (!pending.empty()) return fail("A1", "jobs without a terminal state: " + ids_sample(pending));
  if (!invented.empty()) return fail("A1", "jobs not in the input: " + ids_sample(invented));
  return pass("A1");
}

PropertyResult check_a2(const Outcome& o) {
  std::vector<JobId> lost, phantom;
  for (std::int64_t i = 0; i < o.input_size; ++i) {
    const Record& r = o.record(i);
    if (!o.jobs().contains(r.id)) continue;
    JobOutcome out = o.jobs().outcome(r.id);
    std::int64_t n = applied_count(o, r);
    if (out.state == JobState::succeeded && n == 0) lost.push_back(r.id);
    if ((out.state == JobState::failed || out.state == JobState::aborted) && n > 0 && !out.outcome_unknown)
      phantom.push_back(r.id);
  }
  if (!lost.empty()) return fail("A2", "reported succeeded but not in the fake's store: " + ids_sample(lost));
  if (!phantom.empty())
    return fail("A2", "reported failed/aborted (outcome known) but the fake applied them: " + ids_sample(phantom));
  return pass("A2");
}

PropertyResult check_a3(const Outcome& o) {
  const Capabilities& caps = o.entry->capabilities;
  if (caps.idempotent_writes && caps.delivery == DeliverySemantics::exactly_once) {
    // Copies in the store are at most one by the API's own semantics (upserts,
    // event ids); re-sends are C5's business.
    return pass("A3");
  }
  std::vector<JobId> dup;
  for (std::int64_t i = 0; i < o.input_size; ++i) {
    const Record& r = o.record(i);
    std::int64_t n = applied_count(o, r);
    if (n <= 1) continue;
    JobOutcome out = o.jobs().outcome(r.id);
    bool hidden = out.outcome_unknown || out.resent_after_unknown;
    if (caps.delivery == DeliverySemantics::exactly_once || !hidden) dup.push_back(r.id);
  }
  if (!dup.empty()) return fail("A3", "more than one copy in the fake's store: " + ids_sample(dup));
  return pass("A3");
}

// A4 judges a terminal reason by its typed kind, never by words in its text:
// every failed/aborted job carries a kind (the stores refuse one without the
// cause's detail, its reason text), an unknown
// outcome is called so exactly when the job says its outcome is unknown, and
// a kind that claims an HTTP answer (auth, rate_limited, server_error) is
// backed by such an answer in the run.
PropertyResult check_a4(const Outcome& o, const Events& ev) {
  std::set<int> answered;
  for (const auto& r : ev.responses) answered.insert(r.status);
  auto saw = [&](auto pred) {
    for (int st : answered)
      if (pred(st)) return true;
    return false;
  };
  // On the batch path the kinds an HTTP status implies are backed by the
  // answers themselves; bulk APIs also signal throttling and auth in 200
  // bodies (Marketo's 606, 601), so there only the kind's presence and the
  // unknown-outcome agreement are judged.
  const bool http = !ev.requests.empty() && !ev.sends.empty();
  std::vector<JobId> untyped, mislabelled;
  std::string why;
  for (JobId id : o.jobs().ids()) {
    JobOutcome out = o.jobs().outcome(id);
    if (out.state != JobState::failed && out.state != JobState::aborted) continue;
    if (out.kind == ReasonKind::none) {
      untyped.push_back(id);
      continue;
    }
    std::string wrong;
    if ((out.kind == ReasonKind::unknown_outcome) != out.outcome_unknown)
      wrong = out.outcome_unknown ? "its outcome is unknown but its kind is " + std::string(reason_kind_name(out.kind))
                                  : "kind unknown_outcome but the job says its outcome is known";
    else if (http && out.kind == ReasonKind::auth && !saw([](int st) { return st == 401 || st == 403; }))
      wrong = "kind auth, but no request of the run was answered 401 or 403";
    else if (http && out.kind == ReasonKind::rate_limited && !saw([](int st) { return st == 429; }))
      wrong = "kind rate_limited, but no request of the run was answered 429";
    else if (http && out.kind == ReasonKind::server_error && !saw([](int st) { return st >= 500; }))
      wrong = "kind server_error, but no request of the run was answered 5xx";
    if (!wrong.empty()) {
      mislabelled.push_back(id);
      if (why.empty()) why = "job " + std::to_string(id) + ": " + wrong;
    }
  }
  if (!untyped.empty()) return fail("A4", "failed/aborted without a reason kind: " + ids_sample(untyped));
  if (!mislabelled.empty()) return fail("A4", why + " (" + ids_sample(mislabelled) + ")");
  return pass("A4");
}

PropertyResult check_b1(const Outcome& o, const Events& ev) {
  const BatchLimits& lim = o.entry->capabilities.limits;
  for (const auto& r : ev.requests) {
    if (r.bytes > lim.bytes_max)
      return fail("B1", "request " + std::to_string(r.id) + " to " + r.endpoint + " has " + std::to_string(r.bytes) +
                            " bytes, over the declared " + std::to_string(lim.bytes_max));
  }
  for (auto n : ev.batch_records) {
    if (n > lim.records_max)
      return fail("B1", "a batch of " + std::to_string(n) + " records, over the declared " +
                            std::to_string(lim.records_max));
  }
  return pass("B1");
}

PropertyResult check_b4(const Outcome& o) {
  const auto& st = o.destination_stats;
  if (o.entry->capabilities.bulk) {
    // Uploads and imports in flight ≤ imports_in_flight (each holds a slot).
    if (!has_key(o, "imports_in_flight")) return na("B4", "bulk: the destination declares no import concurrency");
    const std::int64_t bound = o.config.integer("imports_in_flight");
    const std::int64_t seen = st.is_object() ? st.value("imports_in_flight_max", std::int64_t{0}) : 0;
    if (seen > bound)
      return fail("B4", std::to_string(seen) + " uploads/imports in flight, over imports_in_flight " + std::to_string(bound));
    return pass("B4");
  }
  if (!has_key(o, "max_async_requests")) return na("B4", "the destination declares no request concurrency");
  std::int64_t async = o.config.integer("max_async_requests");
  std::int64_t individual = o.config.integer("individual_concurrency");
  std::int64_t endpoints = st.value("endpoints", 1);
  std::int64_t bound = std::max<std::int64_t>(1, endpoints) * async * std::max<std::int64_t>(1, individual);
  std::int64_t seen = static_cast<std::int64_t>(o.transport().in_flight_max);
  if (seen > bound)
    return fail("B4", std::to_string(seen) + " requests in flight, over the configured " + std::to_string(bound) +
                          " (" + std::to_string(endpoints) + " endpoints x max_async_requests " +
                          std::to_string(async) + " x individual_concurrency " + std::to_string(individual) + ")");
  return pass("B4");
}

PropertyResult check_c5(const Outcome& o) {
  std::vector<JobId> resent;
  for (std::int64_t i = 0; i < o.input_size; ++i) {
    const Record& r = o.record(i);
    std::int64_t n = applied_count(o, r);
    if (n <= 1) continue;
    JobOutcome out = o.jobs().outcome(r.id);
    if (!out.outcome_unknown && !out.resent_after_unknown) resent.push_back(r.id);
  }
  if (!resent.empty())
    return fail("C5", "applied more than once with no fault hiding an outcome (a success was re-sent): " +
                          ids_sample(resent));
  return pass("C5");
}

std::optional<Duration> retry_after_of(const Resp& r, const Outcome& o, std::int64_t t_ns) {
  if (r.retry_after.empty()) return std::nullopt;
  std::int64_t unix_ms = SimClock::kDefaultEpochUnixMs + t_ns / 1'000'000;
  (void)o;
  return parse_retry_after(r.retry_after, unix_ms);
}

PropertyResult check_i1(const Outcome& o, const Events& ev) {
  std::map<std::int64_t, const Req*> by_id;
  for (const auto& r : ev.requests) by_id[r.id] = &r;
  for (const auto& resp : ev.responses) {
    if (resp.status != 429 && resp.status != 503) continue;
    auto ra = retry_after_of(resp, o, resp.t);
    if (!ra) continue;
    const Req* req = by_id[resp.req];
    if (!req) continue;
    std::int64_t until = resp.t + ra->count();
    for (const auto& r : ev.requests) {
      // (A process restarted after a crash never saw the Retry-After.)
      if (r.endpoint == req->endpoint && r.t > resp.t && r.t < until && same_process(ev, resp.t, r.t)) {
        return fail("I1", "request " + std::to_string(r.id) + " to " + r.endpoint + " at " +
                              format_duration(Duration(r.t)) + " came before the Retry-After of response to request " +
                              std::to_string(resp.req) + " (" + resp.retry_after + " at " +
                              format_duration(Duration(resp.t)) + ")");
      }
    }
  }
  return pass("I1");
}

PropertyResult check_i2(const Outcome& o, const Events& ev) {
  std::int64_t rate = o.entry->capabilities.rate_per_second;
  for (const auto& k : o.entry->schema)
    if (k.name == "requests_per_second") rate = o.config.integer("requests_per_second");
  if (rate <= 0) return na("I2", "the destination declares no rate limit");
  std::map<std::string, std::deque<std::int64_t>> windows;
  for (const auto& r : ev.requests) {
    auto& w = windows[r.endpoint];
    w.push_back(r.t);
    while (!w.empty() && w.front() <= r.t - 1'000'000'000) w.pop_front();
    if (static_cast<std::int64_t>(w.size()) > rate)
      return fail("I2", std::to_string(w.size()) + " requests to " + r.endpoint + " within one second ending " +
                            format_duration(Duration(r.t)) + ", over the declared " + std::to_string(rate) + "/s");
  }
  return pass("I2");
}

std::string upload_name(const Upload& u) {
  return "upload " + std::to_string(u.key) + (u.import.empty() ? "" : " (import " + u.import + ")");
}

Duration config_duration(const Outcome& o, const char* key, Duration otherwise) {
  for (const auto& k : o.entry->schema)
    if (k.name == key) return o.config.duration(key);
  return otherwise;
}

PropertyResult check_a5(const Events& ev) {
  for (const auto& u : ev.uploads) {
    if (u.overlap > 0)
      return fail("A5", upload_name(u) + ": " + std::to_string(u.overlap) +
                            " jobs are both in the import and named by the upload's results");
    if (u.foreign > 0)
      return fail("A5", upload_name(u) + ": the outcome names " + std::to_string(u.foreign) +
                            " jobs that were not uploaded");
    if (u.unaccounted > 0)
      return fail("A5", upload_name(u) + ": the outcome sets miss " + std::to_string(u.unaccounted) + " of " +
                            std::to_string(u.records) + " uploaded jobs");
  }
  return pass("A5");
}

PropertyResult check_b5(const Outcome& o, const Events& ev) {
  // Attempts grow only by uploads that carried the job: the store's attempts
  // add up to the records uploaded, so waiting for room never costs one.
  std::int64_t uploaded = 0, attempts = 0;
  for (const auto& u : ev.uploads) uploaded += u.records;
  for (JobId id : o.jobs().ids()) attempts += o.jobs().attempts(id);
  if (attempts != uploaded)
    return fail("B5", "jobs count " + std::to_string(attempts) + " attempts but uploads carried " +
                          std::to_string(uploaded) + " records (an attempt without an upload)");
  for (JobId id : o.jobs().ids()) {
    JobOutcome out = o.jobs().outcome(id);
    if (out.state == JobState::aborted && out.reason.find("overflow") != std::string::npos)
      return fail("B5", "job " + std::to_string(id) + " aborted for not fitting an upload: " + out.reason);
  }
  return pass("B5");
}

PropertyResult check_d1(const Outcome& o, const Events& ev) {
  const Duration interval = config_duration(o, "poll_interval", Duration(0));
  for (const auto& u : ev.uploads) {
    for (std::size_t i = 1; i < u.polls.size(); ++i) {
      if (u.resumed && u.polls[i - 1] < u.resumed_at && u.polls[i] >= u.resumed_at) continue;  // a new process
      if (u.polls[i] - u.polls[i - 1] < interval.count())
        return fail("D1", upload_name(u) + ": polls at " + format_duration(Duration(u.polls[i - 1])) + " and " +
                              format_duration(Duration(u.polls[i])) + ", closer than the poll interval " +
                              format_duration(interval));
    }
    if (u.accepted < 0 || u.crashed) continue;
    const bool terminal = !u.statuses.empty() && (u.statuses.back() == "completed" || u.statuses.back() == "failed");
    if (!terminal && !u.timed_out)
      return fail("D1", upload_name(u) + ": stopped being polled before a terminal status (last: " +
                            (u.statuses.empty() ? std::string("none") : u.statuses.back()) + ")");
  }
  return pass("D1");
}

PropertyResult check_d2(const Outcome& o, const Events& ev) {
  const Duration timeout = config_duration(o, "poll_timeout", Duration(0));
  const Duration interval = config_duration(o, "poll_interval", Duration(0));
  if (timeout.count() <= 0) return fail("D2", "the destination declares no poll_timeout: an import could be polled forever");
  for (const auto& u : ev.uploads) {
    if (u.accepted < 0 || u.polls.empty()) continue;
    if (u.polls.back() - u.accepted > (timeout + interval).count())
      return fail("D2", upload_name(u) + ": polled at " + format_duration(Duration(u.polls.back())) +
                            ", past the poll timeout " + format_duration(timeout) + " from its upload at " +
                            format_duration(Duration(u.accepted)));
  }
  return pass("D2");
}

PropertyResult check_d3(const Outcome& o, const Events& ev) {
  // Every answer maps to running/completed/failed (or a fault, asked again);
  // an import is never polled more often than the timeout allows.
  const Duration timeout = config_duration(o, "poll_timeout", Duration(0));
  const Duration interval = config_duration(o, "poll_interval", Duration(1));
  const std::int64_t cap = timeout.count() / std::max<std::int64_t>(1, interval.count()) + 2;
  for (const auto& u : ev.uploads) {
    for (const auto& s : u.statuses)
      if (s != "running" && s != "completed" && s != "failed" && s != "fault")
        return fail("D3", upload_name(u) + ": a poll answer mapped to \"" + s + "\"");
    std::int64_t since = 0;
    for (std::size_t i = 0; i < u.polls.size(); ++i) {
      if (u.resumed && i > 0 && u.polls[i - 1] < u.resumed_at && u.polls[i] >= u.resumed_at) since = 0;
      if (++since > cap)
        return fail("D3", upload_name(u) + ": more than " + std::to_string(cap) +
                              " polls in one process: a status that never maps to an end");
    }
  }
  return pass("D3");
}

PropertyResult check_d4(const Outcome& o, const Events& ev) {
  std::vector<JobId> assumed;
  for (std::int64_t i = 0; i < o.input_size; ++i) {
    const Record& r = o.record(i);
    if (!o.jobs().contains(r.id)) continue;
    if (o.jobs().outcome(r.id).state == JobState::succeeded && applied_count(o, r) == 0) assumed.push_back(r.id);
  }
  if (!assumed.empty())
    return fail("D4", "reported succeeded without the API's per-record results holding them: " + ids_sample(assumed));
  if (static_cast<std::int64_t>(o.jobs().counts().succeeded) > ev.settled_ok && ev.crashes.empty())
    return fail("D4", std::to_string(o.jobs().counts().succeeded) + " jobs succeeded but the per-record results named " +
                          std::to_string(ev.settled_ok) + " as ok");
  return pass("D4");
}

PropertyResult check_d5(const Events& ev) {
  for (const auto& u : ev.uploads) {
    for (std::size_t i = 0; i < u.statuses.size(); ++i) {
      if (u.statuses[i] != "fault") continue;
      const bool asked_again = i + 1 < u.statuses.size();
      if (!asked_again && !u.timed_out && !u.crashed)
        return fail("D5", upload_name(u) + ": a poll fault ended the import (it was not asked again)");
    }
  }
  return pass("D5");
}

PropertyResult check_d6(const Outcome& o, const Events& ev) {
  std::int64_t limit = o.entry->capabilities.import_concurrency;
  for (const auto& k : o.entry->schema)
    if (k.name == "imports_in_flight") limit = std::min<std::int64_t>(limit > 0 ? limit : INT64_MAX, o.config.integer("imports_in_flight"));
  if (limit <= 0) return fail("D6", "the destination declares no import concurrency");
  std::vector<std::pair<std::int64_t, int>> edges;
  for (const auto& iv : ev.in_flight) {
    edges.push_back({iv.from, +1});
    edges.push_back({iv.to, -1});
  }
  std::sort(edges.begin(), edges.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second < b.second;  // ends before starts
  });
  std::int64_t now = 0;
  for (const auto& [t, d] : edges) {
    now += d;
    if (now > limit)
      return fail("D6", std::to_string(now) + " imports in flight at " + format_duration(Duration(t)) +
                            ", over the declared " + std::to_string(limit));
  }
  return pass("D6");
}

PropertyResult check_e1(const Outcome& o, const Scenario& s, const Events& ev) {
  std::uint64_t required = 0;
  for (const auto& c : s.crashes) required += c.optional ? 0 : 1;
  if (o.crashes < required)
    return fail("E1", "the scenario declares " + std::to_string(required) + " required crash points but " +
                          std::to_string(o.crashes) + " happened (a step never reached, or a time after the run ended)");
  if (ev.crashes.empty()) return pass("E1");
  if (ev.restarts.size() != ev.crashes.size())
    return fail("E1", std::to_string(ev.crashes.size()) + " crashes but " + std::to_string(ev.restarts.size()) +
                          " restarts");
  PropertyResult a1 = check_a1(o, ev);
  if (a1.verdict == Verdict3::fail) return fail("E1", "after a crash: " + a1.detail);
  // An import whose id was stored is polled again by that id after the restart.
  for (const auto& u : ev.uploads) {
    if (!u.resumed || u.resumed_import.empty()) continue;
    bool polled = false;
    for (auto t : u.polls) polled |= t >= u.resumed_at;
    if (!polled && !u.timed_out && !u.settled)
      return fail("E1", upload_name(u) + " was stored but not polled after the restart");
  }
  // Nothing applied twice unless a fault (the crash among them) hid an outcome.
  std::vector<JobId> twice;
  for (std::int64_t i = 0; i < o.input_size; ++i) {
    const Record& r = o.record(i);
    if (!o.jobs().contains(r.id) || applied_count(o, r) <= 1) continue;
    JobOutcome out = o.jobs().outcome(r.id);
    if (!out.outcome_unknown && !out.resent_after_unknown) twice.push_back(r.id);
  }
  if (!twice.empty())
    return fail("E1", "applied more than once though no fault hid their outcome (uploaded again after a restart?): " +
                          ids_sample(twice));
  return pass("E1");
}

// A virtual-time bound derived from the configuration and the input.
// ---------------------------------------------------------------- B2 B3 C G2

// The retry policy the run was configured with (batch or bulk keys alike).
RetryPolicy configured_retry(const Outcome& o) {
  RetryPolicy p;
  if (has_key(o, "max_retries")) p.max_attempts = static_cast<int>(o.config.integer("max_retries"));
  if (has_key(o, "max_attempts")) p.max_attempts = static_cast<int>(o.config.integer("max_attempts"));
  p.delay_initial = config_duration(o, "retry_delay_initial", p.delay_initial);
  p.delay_max = config_duration(o, "retry_delay_max", p.delay_max);
  if (has_key(o, "retry_jitter")) p.jitter = o.config.ratio("retry_jitter");
  p.elapsed_max = config_duration(o, "retry_window", p.elapsed_max);
  return p;
}

std::string send_name(const Send& s) {
  return (s.one ? "single send of job " + std::to_string(s.ids.front()) : "batch of " + std::to_string(s.ids.size())) +
         " (" + s.handler + ", attempt " + std::to_string(s.attempt) + " at " + format_duration(Duration(s.sent)) + ")";
}

PropertyResult check_b2(const Outcome& o, const Events& ev) {
  if (has_key(o, "flush_interval")) {
    const Duration flush = o.config.duration("flush_interval");
    for (const auto& s : ev.sends) {
      if (s.one || s.attempt != 1 || s.oldest < 0) continue;
      if (s.flushed - s.oldest > flush.count())
        return fail("B2", send_name(s) + ": its oldest record waited " + format_duration(Duration(s.flushed - s.oldest)) +
                              " in a partial batch, over the flush interval " + format_duration(flush));
    }
    return pass("B2");
  }
  if (has_key(o, "upload_interval")) {
    const Duration interval = o.config.duration("upload_interval");
    for (const auto& u : ev.uploads) {
      if (u.start < 0 || u.oldest < 0) continue;
      const std::int64_t waited = u.start - u.oldest - u.slot_wait;
      if (waited > interval.count())
        return fail("B2", upload_name(u) + ": its oldest job was staged " + format_duration(Duration(waited)) +
                              " (not counting " + format_duration(Duration(u.slot_wait)) +
                              " waiting for an import slot), over the upload interval " + format_duration(interval));
    }
    return pass("B2");
  }
  return na("B2", "the destination declares no flush or upload interval");
}

PropertyResult check_b3(const Outcome& o) {
  if (!has_key(o, "max_buffer_size")) return na("B3", "the destination declares no buffer");
  const std::int64_t cap = o.config.integer("max_buffer_size");
  const auto& st = o.destination_stats;
  const char* key = st.contains("buffered_max") ? "buffered_max" : st.contains("staged_max") ? "staged_max" : nullptr;
  if (!key) return fail("B3", "the destination declares max_buffer_size but reports no buffered_max/staged_max");
  const std::int64_t seen = st.value(key, std::int64_t{0});
  if (seen > cap)
    return fail("B3", std::to_string(seen) + " records buffered at once, over max_buffer_size " + std::to_string(cap));
  // Never drops: every input job is registered and terminal (A1's count).
  for (std::int64_t i = 0; i < o.input_size; ++i)
    if (!o.jobs().contains(o.record(i).id))
      return fail("B3", "record " + std::to_string(o.record(i).id) + " never reached the job store (dropped)");
  return pass("B3");
}

bool retryable_status(const Outcome& o, int http) {
  if (http == 0 || http == 429 || http >= 500) return true;
  const auto& t = o.entry->capabilities.retryable_statuses;
  return std::find(t.begin(), t.end(), http) != t.end();
}

// Whether the answer a send met is retryable by the declared contract: a code
// the destination declares permanent decides whatever the status; otherwise the status.
bool retryable_answer(const Outcome& o, const Send& s) {
  const auto& pc = o.entry->capabilities.permanent_codes;
  if (!s.code.empty() && std::find(pc.begin(), pc.end(), s.code) != pc.end()) return false;
  return retryable_status(o, s.http);
}

PropertyResult check_c1(const Outcome& o, const Events& ev) {
  std::int64_t checked = 0;
  for (std::size_t i = 0; i < ev.sends.size(); ++i) {
    const Send& s = ev.sends[i];
    if (s.http < 0 || (s.http >= 200 && s.http < 300)) continue;
    ++checked;
    if (s.http == 413) continue;  // C4
    const bool again = s.one ? s.status == "retry" : s.status == "retry_batch" || s.status == "retry_individual";
    const bool retryable = retryable_answer(o, s);
    const std::string answer = (s.http == 0 ? std::string("a transport error") : "HTTP " + std::to_string(s.http)) +
                               (s.code.empty() ? "" : " (code " + s.code + ")");
    if (retryable && !again)
      return fail("C1", send_name(s) + ": " + answer + " is retryable but was classified " + s.status);
    if (!retryable) {
      if (s.one && s.status != "fail")
        return fail("C1", send_name(s) + ": " + answer + " is not retryable by the declared table but was classified " +
                              s.status);
      if (!s.one && s.status == "retry_batch")
        return fail("C1", send_name(s) + ": " + answer + " is not retryable, yet the batch was classified retry_batch");
      if (!s.one) {
        // Not retried as it was: no later batch of the same handler sends the same jobs.
        for (std::size_t k = i + 1; k < ev.sends.size(); ++k)
          if (!ev.sends[k].one && ev.sends[k].handler == s.handler && ev.sends[k].ids == s.ids &&
              same_process(ev, s.t, ev.sends[k].sent))
            return fail("C1", send_name(s) + ": " + answer + " is not retryable, yet the same batch was sent again (" +
                                  send_name(ev.sends[k]) + ")");
      }
    }
  }
  if (checked == 0 && ev.sends.empty()) {
    // The bulk path: a permanently failed upload must not have met a retryable answer.
    if (o.entry->capabilities.bulk) {
      for (const auto& u : ev.uploads)
        if (u.outcome == "failed" && u.attempt > 0)
          for (JobId id : u.ids)
            if (o.jobs().contains(id) && o.jobs().outcome(id).state == JobState::failed &&
                o.jobs().outcome(id).reason.find("HTTP 5") != std::string::npos)
              return fail("C1", "job " + std::to_string(id) + " failed permanently on a 5xx: " +
                                    o.jobs().outcome(id).reason);
    }
  }
  return pass("C1");
}

PropertyResult check_c2(const Outcome& o, const Events& ev) {
  const RetryPolicy p = configured_retry(o);
  for (const auto& s : ev.sends)
    if (s.attempt > p.max_attempts)
      return fail("C2", send_name(s) + ": over the configured " + std::to_string(p.max_attempts) + " attempts");
  for (const auto& u : ev.uploads)
    if (u.attempt > p.max_attempts)
      return fail("C2", upload_name(u) + " carries a job on attempt " + std::to_string(u.attempt) + ", over the configured " +
                            std::to_string(p.max_attempts));
  for (JobId id : o.jobs().ids()) {
    JobOutcome out = o.jobs().outcome(id);
    if (out.state != JobState::aborted || out.reason.rfind("attempts exhausted", 0) != 0) continue;
    const auto colon = out.reason.find(": ");
    if (colon == std::string::npos || colon + 2 >= out.reason.size())
      return fail("C2", "job " + std::to_string(id) + " aborted without its last cause: \"" + out.reason + "\"");
  }
  return pass("C2");
}

PropertyResult check_c3(const Outcome& o, const Events& ev) {
  const RetryPolicy p = configured_retry(o);
  std::int64_t chains = 0;
  for (std::size_t i = 0; i < ev.sends.size(); ++i) {
    const Send& next = ev.sends[i];
    if (next.attempt < 2) continue;
    // The previous attempt of the same chain: same handler and kind, attempt
    // n-1, carrying every job of this one.
    const Send* prev = nullptr;
    for (std::size_t k = i; k-- > 0;) {
      const Send& c = ev.sends[k];
      if (c.one != next.one || c.handler != next.handler || c.attempt != next.attempt - 1) continue;
      std::set<JobId> had(c.ids.begin(), c.ids.end());
      bool all = true;
      for (JobId id : next.ids) all &= had.count(id) != 0;
      if (all) {
        prev = &c;
        break;
      }
    }
    if (!prev) continue;
    ++chains;
    const std::int64_t gap = next.sent - prev->t;
    const auto [lo, hi] = p.delay_bounds(next.attempt);
    if (gap < lo.count())
      return fail("C3", send_name(next) + " came " + format_duration(Duration(gap)) + " after the answer to attempt " +
                            std::to_string(prev->attempt) + ", under the policy's least delay " + format_duration(lo));
    if (prev->retry_after >= 0 && gap < prev->retry_after)
      return fail("C3", send_name(next) + " came " + format_duration(Duration(gap)) + " after a Retry-After of " +
                            format_duration(Duration(prev->retry_after)));
    const std::int64_t most = std::max<std::int64_t>(hi.count(), prev->retry_after) + next.held;
    if (gap > most)
      return fail("C3", send_name(next) + " came " + format_duration(Duration(gap)) +
                            " after the previous answer, over the policy's longest delay " + format_duration(hi) +
                            (prev->retry_after >= 0 ? " (and the Retry-After " + format_duration(Duration(prev->retry_after)) + ")" : "") +
                            " plus " + format_duration(Duration(next.held)) + " held by the endpoint's Retry-After");
  }
  // The bulk path: a job's next upload never starts sooner than the policy's
  // least delay after the previous one ended.
  // (The job's own attempt number: uploads that carried it so far; an upload
  // mixes jobs on different attempts.)
  std::map<JobId, std::int64_t> last_start;
  std::map<JobId, int> carried;
  for (const auto& u : ev.uploads) {
    if (u.start < 0) continue;
    for (JobId id : u.ids) {
      auto it = last_start.find(id);
      const int attempt = ++carried[id];
      if (it != last_start.end() && attempt >= 2 && same_process(ev, it->second, u.start)) {
        const auto [lo, hi] = p.delay_bounds(attempt);
        (void)hi;
        if (u.start - it->second < lo.count())
          return fail("C3", upload_name(u) + " carries job " + std::to_string(id) + " again " +
                                format_duration(Duration(u.start - it->second)) +
                                " after its previous upload, under the least delay " + format_duration(lo));
      }
      last_start[id] = u.start;
    }
  }
  return pass("C3");
}

PropertyResult check_c4(const Outcome& o, const Events& ev) {
  if (o.entry->capabilities.bulk) return na("C4", "bulk: an upload is sized within the declared limits before it is sent (no 413 split)");
  for (std::size_t i = 0; i < ev.sends.size(); ++i) {
    const Send& s = ev.sends[i];
    if (!s.too_large) continue;
    if (s.one) {
      if (s.status != "fail") return fail("C4", send_name(s) + ": a 413 alone was classified " + s.status);
      const JobOutcome out = o.jobs().outcome(s.ids.front());
      if (out.state != JobState::failed || out.reason.find("too large") == std::string::npos)
        return fail("C4", "job " + std::to_string(s.ids.front()) + " got 413 alone but ended " +
                              std::string(job_state_name(out.state)) + " (\"" + out.reason + "\"), not failed as too large");
    }
    for (std::size_t k = i + 1; k < ev.sends.size(); ++k) {
      const Send& n = ev.sends[k];
      // (A restarted process knows nothing of the 413 and may try again.)
      if (n.one == s.one && n.handler == s.handler && n.ids == s.ids && same_process(ev, s.t, n.sent))
        return fail("C4", send_name(s) + " was rejected as too large and sent again unchanged (" + send_name(n) + ")");
    }
  }
  return pass("C4");
}

PropertyResult check_c6(const Outcome& o, const Events& ev) {
  const RetryPolicy p = configured_retry(o);
  if (p.elapsed_max.count() == 0) return na("C6", "retry_window is 0 (unbounded) in this configuration");
  std::map<JobId, std::int64_t> first;
  auto check = [&](JobId id, std::int64_t at, const std::string& what) -> std::optional<PropertyResult> {
    auto [it, fresh] = first.emplace(id, at);
    if (!fresh && at - it->second > p.elapsed_max.count())
      return fail("C6", what + ": job " + std::to_string(id) + " sent " + format_duration(Duration(at - it->second)) +
                            " after its first attempt, past the retry window " + format_duration(p.elapsed_max));
    return std::nullopt;
  };
  for (const auto& s : ev.sends)
    for (JobId id : s.ids)
      if (auto r = check(id, s.sent, send_name(s))) return *r;
  for (const auto& u : ev.uploads)
    if (u.start >= 0)
      for (JobId id : u.ids)
        if (auto r = check(id, u.start, upload_name(u))) return *r;
  return pass("C6");
}

PropertyResult check_g2(const Outcome& o, const Events& ev) {
  // Events the loop ran, against what the run had to do: each record, request
  // and poll may cost a bounded number of events, and time itself a few per
  // virtual second (timers, pacing). A poll or retry loop without a wait blows
  // through this long before the step bound.
  const double seconds = std::chrono::duration<double>(o.virtual_duration).count();
  std::int64_t polls = 0;
  for (const auto& u : ev.uploads) polls += static_cast<std::int64_t>(u.polls.size());
  const std::int64_t work = o.input_size + static_cast<std::int64_t>(ev.requests.size()) + polls + 1;
  const auto bound = static_cast<std::uint64_t>(200.0 * static_cast<double>(work) + 20.0 * seconds + 10'000);
  if (o.steps > bound)
    return fail("G2", std::to_string(o.steps) + " loop events for " + std::to_string(work) + " records+requests+polls over " +
                          format_duration(o.virtual_duration) + ", over the bound " + std::to_string(bound) + " (a loop without a wait)");
  for (const auto& u : ev.uploads)
    for (std::size_t i = 1; i < u.polls.size(); ++i)
      if (u.polls[i] == u.polls[i - 1])
        return fail("G2", upload_name(u) + " polled twice at " + format_duration(Duration(u.polls[i])) + " without a wait");
  return pass("G2");
}

// ------------------------------------------------------------ E2 F1 F2 (sync)

// The sync's events split by restarts: each process runs one whole lifecycle.
std::vector<std::vector<const Events::SyncEvent*>> sync_segments(const Events& ev) {
  std::vector<std::vector<const Events::SyncEvent*>> out(1);
  for (const auto& e : ev.sync) {
    if (e.kind == "restart") out.emplace_back();
    else out.back().push_back(&e);
  }
  return out;
}

// Input records of each stream, in input order.
std::map<std::string, std::vector<JobId>> records_by_stream(const Outcome& o) {
  std::map<std::string, std::vector<JobId>> out;
  for (std::int64_t i = 0; i < o.input_size; ++i) {
    const Record& r = o.record(i);
    out[r.stream].push_back(r.id);
  }
  return out;
}

PropertyResult check_f1(const Outcome& o, const Events& ev) {
  const auto by_stream = records_by_stream(o);
  const auto segments = sync_segments(ev);
  for (std::size_t si = 0; si < segments.size(); ++si) {
    const auto& seg = segments[si];
    const bool last = si + 1 == segments.size();
    std::map<std::string, std::int64_t> kinds;
    std::map<std::string, int> opens, closes;
    std::map<std::string, std::int64_t> opened_at;
    std::int64_t setup_at = -1;
    bool torn_down = false;
    for (const auto* e : seg) {
      ++kinds[e->kind];
      const std::string where = "process " + std::to_string(si + 1) + ": ";
      if (e->kind == "setup") setup_at = e->t;
      if (torn_down) return fail("F1", where + "sync." + e->kind + " after teardown");
      if (e->kind == "open") {
        if (setup_at < 0) return fail("F1", where + "stream " + e->stream + " opened before setup");
        if (++opens[e->stream] > 1) return fail("F1", where + "stream " + e->stream + " opened twice");
        opened_at[e->stream] = e->t;
      } else if (e->kind == "first_record") {
        if (setup_at < 0) return fail("F1", where + "a record of " + e->stream + " before setup");
        if (!opened_at.count(e->stream))
          return fail("F1", where + "a record of " + e->stream + " before the stream opened");
      } else if (e->kind == "close") {
        if (++closes[e->stream] > 1) return fail("F1", where + "stream " + e->stream + " closed twice");
        if (e->flag) {
          // Committed: every record of the stream is terminal by now.
          auto it = by_stream.find(e->stream);
          if (it != by_stream.end())
            for (JobId id : it->second) {
              auto t = ev.terminal_at.find(id);
              if (t == ev.terminal_at.end() || t->second > e->t)
                return fail("F1", where + "stream " + e->stream + " closed at " + format_duration(Duration(e->t)) +
                                      " before its job " + std::to_string(id) + " was terminal");
            }
        }
      } else if (e->kind == "teardown") {
        for (const auto& [stream, n] : opens)
          if (closes[stream] != 1) return fail("F1", where + "teardown before stream " + stream + " closed");
        torn_down = true;
      }
    }
    if (kinds["setup"] > 1) return fail("F1", "setup ran " + std::to_string(kinds["setup"]) + " times in one process");
    if (last) {
      if (kinds["teardown"] != 1)
        return fail("F1", "the sync's last process ran teardown " + std::to_string(kinds["teardown"]) + " times");
      if (o.sync)
        for (const auto& [stream, verdict] : o.sync->streams)
          if (closes[stream] != 1) return fail("F1", "stream " + stream + " closed " + std::to_string(closes[stream]) + " times");
    }
  }
  return pass("F1");
}

PropertyResult check_f2(const Outcome& o, const Events& ev) {
  if (!o.sync) return fail("F2", "the sync never ended (a hang)");
  const auto segments = sync_segments(ev);
  for (const auto& seg : segments) {
    int failures = 0;
    for (const auto* e : seg) failures += e->kind == "failure" ? 1 : 0;
    if (failures > 1) return fail("F2", "the sync's failure path ran " + std::to_string(failures) + " times in one process");
  }
  // The sync ended once, with teardown told whether it failed.
  const Events::SyncEvent* teardown = nullptr;
  for (const auto* e : segments.back())
    if (e->kind == "teardown") teardown = e;
  if (!teardown) return fail("F2", "the sync ended without teardown");
  if (teardown->flag != o.sync->ok)
    return fail("F2", std::string("teardown was told ") + (teardown->flag ? "success" : "failure") + " but the sync " +
                          (o.sync->ok ? "succeeded" : "failed"));
  // A failed stream commits none of its staged data: none of its records is in
  // the destination unless its job succeeded (committed by an earlier process).
  if (o.entry->capabilities.stages) {
    const auto by_stream = records_by_stream(o);
    for (const auto& [stream, verdict] : o.sync->streams) {
      if (verdict.rfind("failed", 0) != 0) continue;
      auto it = by_stream.find(stream);
      if (it == by_stream.end()) continue;
      for (JobId id : it->second) {
        if (o.jobs().contains(id) && o.jobs().outcome(id).state == JobState::succeeded) continue;
        if (applied_count(o, o.record(static_cast<std::int64_t>(id) - 1)) > 0)
          return fail("F2", "stream " + stream + " failed (" + verdict + "), yet record " + std::to_string(id) +
                                " of it reached the destination");
      }
    }
  }
  return pass("F2");
}

PropertyResult check_e2(const Outcome& o, const Events& ev) {
  const auto by_stream = records_by_stream(o);
  // Per stream, the latest terminal time among its first k+1 records (INT64_MAX
  // once one of them never ended): each checkpoint is then one lookup.
  std::map<std::string, std::vector<std::int64_t>> done_by;
  for (const auto& [stream, ids] : by_stream) {
    auto& v = done_by[stream];
    v.reserve(ids.size());
    std::int64_t latest = 0;
    for (JobId id : ids) {
      auto t = ev.terminal_at.find(id);
      latest = t == ev.terminal_at.end() ? INT64_MAX : std::max(latest, t->second);
      v.push_back(latest);
    }
  }
  for (const auto& e : ev.sync) {
    if (e.kind != "state") continue;
    auto it = by_stream.find(e.stream);
    const std::vector<JobId> none;
    const auto& ids = it == by_stream.end() ? none : it->second;
    if (e.records > static_cast<std::int64_t>(ids.size()))
      return fail("E2", "checkpoint " + std::to_string(e.seq) + " of " + e.stream + " claims " +
                            std::to_string(e.records) + " records; the stream has " + std::to_string(ids.size()));
    if (e.records == 0) continue;
    const auto& latest = done_by[e.stream];
    if (latest[static_cast<std::size_t>(e.records - 1)] <= e.t) continue;
    for (std::int64_t k = 0; k < e.records; ++k) {  // name the first record that was not terminal
      const JobId id = ids[static_cast<std::size_t>(k)];
      auto t = ev.terminal_at.find(id);
      if (t == ev.terminal_at.end() || t->second > e.t)
        return fail("E2", "checkpoint " + std::to_string(e.seq) + " of " + e.stream + " released at " +
                              format_duration(Duration(e.t)) + " before record " + std::to_string(id) +
                              " (one of the " + std::to_string(e.records) + " before it) was terminal");
    }
  }
  // Per process, released in order.
  for (const auto& seg : sync_segments(ev)) {
    std::map<std::string, std::pair<std::int64_t, std::int64_t>> prev;  // seq, records
    for (const auto* e : seg) {
      if (e->kind != "state") continue;
      auto p = prev.find(e->stream);
      if (p != prev.end() && (e->seq <= p->second.first || e->records < p->second.second))
        return fail("E2", "checkpoints of " + e->stream + " released out of order (" + std::to_string(p->second.first) +
                              " then " + std::to_string(e->seq) + ")");
      prev[e->stream] = {e->seq, e->records};
    }
  }
  return pass("E2");
}

Duration quiescence_bound(const Outcome& o, const Scenario& s, const Events& ev) {
  Duration last_arrival = o.arrivals.empty() ? Duration(0) : o.arrivals.back();
  Duration flush{0}, window{0}, delay_max{0};
  std::int64_t attempts = 1;
  for (const auto& k : o.entry->schema) {
    if (k.name == "flush_interval") flush = o.config.duration("flush_interval");
    if (k.name == "retry_window") window = o.config.duration("retry_window");
    if (k.name == "retry_delay_max") delay_max = o.config.duration("retry_delay_max");
    if (k.name == "max_retries") attempts = o.config.integer("max_retries");
    if (k.name == "max_attempts") attempts = o.config.integer("max_attempts");
    if (k.name == "upload_interval") flush = o.config.duration("upload_interval");
  }
  Duration longest_retry_after{0};
  for (const auto& r : ev.responses) {
    if (auto ra = retry_after_of(r, o, r.t)) longest_retry_after = std::max(longest_retry_after, *ra);
  }
  // A record may go through a batch phase and a single phase, each bounded by
  // the retry window (or attempts × (longest wait + timeout) when unbounded).
  Duration per_attempt = std::max(delay_max, longest_retry_after) + s.request_timeout + s.latency;
  Duration phase = window.count() > 0 ? window + per_attempt : per_attempt * attempts;
  std::int64_t rate = o.entry->capabilities.rate_per_second;
  Duration pacing = rate > 0 ? std::chrono::seconds(1) * (o.input_size / rate + 1) : Duration(0);
  Duration restarts{0};
  for (const auto& c : s.crashes) restarts += c.restart_after + (c.at ? *c.at : Duration(0));
  if (o.entry->capabilities.bulk) {
    // Each attempt is an upload that may be polled up to the poll timeout; the
    // imports queue behind the import concurrency.
    const Duration timeout = o.config.duration("poll_timeout") + o.config.duration("poll_interval");
    const std::int64_t per_upload = std::max<std::int64_t>(1, o.entry->capabilities.limits.records_max);
    const std::int64_t concurrency = std::max<std::int64_t>(1, o.config.integer("imports_in_flight"));
    const std::int64_t imports = (o.input_size + per_upload - 1) / per_upload + 1;
    const std::int64_t rounds = (imports + concurrency - 1) / concurrency;
    return last_arrival + flush + (timeout + per_attempt) * (rounds * attempts) + phase + restarts + pacing +
           std::chrono::minutes(1);
  }
  return last_arrival + flush + 2 * phase + pacing + restarts + std::chrono::minutes(1);
}

}  // namespace

namespace {

PropertyResult check_one(const std::string& id, const Outcome& o, const Scenario& s, const Events& ev) {
  const Capabilities& caps = o.entry->capabilities;
  if (!o.status.ok()) return fail(id, "the run did not end normally: " + o.status.error().message);
  static const std::set<std::string> bulk_only = {"A5", "B5", "D1", "D2", "D3", "D4", "D5", "D6"};
  if (!caps.bulk && bulk_only.count(id)) return na(id, "bulk: the destination is on the batch path");
  if (id == "A1") return check_a1(o, ev);
  if (id == "A2") return check_a2(o);
  if (id == "A3") return check_a3(o);
  if (id == "A4") return check_a4(o, ev);
  if (id == "B1") return check_b1(o, ev);
  if (id == "B2") return check_b2(o, ev);
  if (id == "B3") return check_b3(o);
  if (id == "B4") return check_b4(o);
  if (id == "C1") return check_c1(o, ev);
  if (id == "C2") return check_c2(o, ev);
  if (id == "C3") return check_c3(o, ev);
  if (id == "C4") return check_c4(o, ev);
  if (id == "C6") return check_c6(o, ev);
  if (id == "G2") return check_g2(o, ev);
  if (id == "C5") return check_c5(o);
  if (id == "I1") return check_i1(o, ev);
  if (id == "A5") return check_a5(ev);
  if (id == "B5") return check_b5(o, ev);
  if (id == "D1") return check_d1(o, ev);
  if (id == "D2") return check_d2(o, ev);
  if (id == "D3") return check_d3(o, ev);
  if (id == "D4") return check_d4(o, ev);
  if (id == "D5") return check_d5(ev);
  if (id == "D6") return check_d6(o, ev);
  if (id == "E1") return check_e1(o, s, ev);
  if (id == "I2") return check_i2(o, ev);
  if (id == "G1") {
    Duration bound = s.expect.within.value_or(quiescence_bound(o, s, ev));
    if (o.jobs().counts().pending > 0)
      return fail("G1", std::to_string(o.jobs().counts().pending) + " jobs never became terminal");
    if (o.virtual_duration > bound)
      return fail("G1", "the run took " + format_duration(o.virtual_duration) + " of virtual time, over the bound " +
                            format_duration(bound));
    return pass("G1");
  }
  if (id == "H1") {
    RunOptions again;
    again.seed = o.seed;
    again.keep_trace = false;
    auto second = run_scenario(s, again);
    if (!second.ok()) return fail("H1", "the rerun failed: " + second.error().message);
    if (second->trace_hash != o.trace_hash)
      return fail("H1", "same scenario and seed gave trace " + o.trace_hash + " then " + second->trace_hash);
    return pass("H1");
  }
  if (id == "E2" || id == "F1" || id == "F2") {
    if (!s.sync) return na(id, "sync lifecycle: the run is not under a Sync");
    if (id == "E2") return check_e2(o, ev);
    if (id == "F1") return check_f1(o, ev);
    return check_f2(o, ev);
  }
  return {id, Verdict3::unchecked, "its checker arrives with the conformance suite"};
}

}  // namespace

PropertyResult check_property(const std::string& id, const Outcome& o, const Scenario& s) {
  return check_one(id, o, s, parse_events(o));
}

std::vector<PropertyResult> check_properties(const std::vector<std::string>& ids, const Outcome& o,
                                             const Scenario& s) {
  const Events ev = parse_events(o);  // once for every property
  std::vector<PropertyResult> out;
  out.reserve(ids.size());
  for (const auto& id : ids) out.push_back(check_one(id, o, s, ev));
  return out;
}

}  // namespace destsim
