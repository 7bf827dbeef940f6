#include "conformance/properties.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "framework/oracle.h"
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
  std::size_t seq = 0;  // its index in the trace
};
struct Resp {
  std::int64_t req = 0;
  std::int64_t t = 0;
  int status = 0;
  std::string retry_after;
  std::string date;  // the answer's Date (the API's clock), beside a Retry-After
};
// One HTTP exchange by request id: what left, and how (and when) it was answered.
struct Http {
  std::int64_t t = 0;          // the request left
  std::string endpoint;        // host + path
  std::string method;
  std::int64_t bytes = 0;
  std::int64_t answered = -1;  // when the answer (or the transport error) came
  int status = -1;             // the HTTP status; 0 = a transport error; -1 = no answer yet
  bool applied = false;        // the transport error came after the API applied it (the fault's truth)
  std::string error;           // the transport error's kind (timeout, connection_reset, connection_refused, other)
  bool garbled = false;        // a fault garbled the answer's body
  bool answered_after = false; // a fault answered it after the API applied it (any status)
  std::string retry_after;     // the Retry-After header as sent
  std::string date;            // the answer's Date header beside it (the API's clock)
  std::optional<std::vector<JobId>> carries;  // the jobs its answer decides (ev::HttpRequest::carries)
};
// What a bulk answer (poll, stats) was, and the HTTP exchange that carried it.
struct BulkAnswer {
  std::string status;  // Polled status; for stats: "fault" or "settled"
  std::int64_t req = -1;
  std::int64_t t = 0;
  std::int64_t failed = 0;  // stats: jobs the answer settled failed
  std::int64_t ok = 0;      // stats: jobs the answer settled succeeded
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
  std::int64_t bytes = 0;          // the upload file's bytes
  std::size_t seq = 0;             // the UploadStart's index in the trace
  std::int64_t result_t = -1;      // when the upload was answered
  std::size_t result_seq = SIZE_MAX;  // that UploadResult's index in the trace
  std::int64_t answer_req = -1;    // the HTTP exchange whose answer the upload's result came from
  std::int64_t end_t = -1;         // the upload or import gave its slot back (ImportEnd)
  std::size_t end_seq = SIZE_MAX;  // that ImportEnd's index in the trace
  std::vector<BulkAnswer> poll_answers, stats_answers;
  bool unmentioned = false;        // a Settle left some of its jobs unmentioned
  bool poll_failed = false;        // a poll answered the accepted import failed
  std::vector<JobId> put_back;     // jobs its importing answer settled (sorted)
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
  std::int64_t req = -1;                   // the HTTP exchange it was answered by (-1: none traced)
  std::size_t seq = 0;                     // its index in the trace
};

struct Events {
  /// attributed_copies of the outcome, computed by the first checker that needs
  /// it (six do; each would dump and hash every record's effect again).
  mutable std::optional<std::vector<std::int64_t>> copies;
  std::vector<Req> requests;
  std::vector<Resp> responses;
  std::map<std::int64_t, Http> http;  // by request id
  // Jobs joining the bulk path's staging queue: (trace index, ids).
  std::vector<std::pair<std::size_t, std::vector<JobId>>> staged;
  // Answers to requests that decide staged jobs' fate (a commit): (request, ids).
  std::vector<std::pair<std::int64_t, std::vector<JobId>>> commits;
  std::map<JobId, std::size_t> terminal_seq;  // trace index of each job's first terminal state
  std::vector<std::size_t> restart_seqs;
  // File operations' faults (SFTP): time, operation, fault, after.
  struct FileFault {
    std::int64_t t = 0;
    std::string op, fault;
    bool after = false;
    std::int64_t status = 0;  // a respond fault's status
    std::size_t seq = 0;      // its index in the trace
  };
  std::vector<FileFault> file_faults;
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
  std::map<JobId, std::int64_t> terminal_last;  // last (a job offered again after a restart ends again)
  std::int64_t hidden_faults = 0;  // timeouts/resets after applying, garbles
  std::int64_t foreign_answers = 0;  // ids batch answers named that their batch did not hold
  // Upload numbers are unique among the uploads the store holds; a restarted
  // process may reuse the number of one that is long done, so each
  // upload_start opens a new entry.
  std::vector<Upload> uploads;
  std::map<std::int64_t, std::size_t> current;
  std::vector<Interval> in_flight;         // per upload slot: start .. end (or crash)
  std::vector<std::int64_t> crashes, restarts;  // process ends (crashes and clean stops), and the starts after them
  // The scenario changed the fake's state (a `fake` control event): the
  // index of each in the trace (an act at a step shares its virtual time
  // with what the destination does next; the order tells them apart).
  std::vector<std::pair<std::size_t, std::int64_t>> operator_acts;  // (trace index, time)
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
  // The answer a send, an upload, a poll or a stats request came back with:
  // the last HTTP answer traced at the same virtual time, not yet claimed. A
  // transport resumes its caller as it traces the answer, and the framework
  // traces its reading of it before anything else of the run can answer, so
  // that answer is the caller's own (a handler that sent nothing claims none
  // later: the claim is dropped at the next answer).
  std::int64_t last_answer = -1, last_answer_t = -1;
  auto claim = [&](std::int64_t t) -> std::int64_t {
    if (last_answer < 0 || last_answer_t != t) return -1;
    return std::exchange(last_answer, -1);
  };
  for (std::size_t seq = 0; seq < o.events.size(); ++seq) {
    const TimedEvent& te = o.events[seq];
    const std::int64_t t = te.t;
    std::visit(
        [&](const auto& e) {
          using E = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<E, ev::HttpRequest>) {
            ev.requests.push_back({e.req, t, e.host + e.path, e.bytes, seq});
            Http& h = ev.http[e.req];
            h.t = t;
            h.endpoint = e.host + e.path;
            h.method = e.method;
            h.bytes = e.bytes;
            if (e.carries) h.carries = e.carries->ids;
          } else if constexpr (std::is_same_v<E, ev::HttpResponse>) {
            ev.responses.push_back(
                {e.req, t, static_cast<int>(e.status), e.retry_after.value_or(""), e.date.value_or("")});
            Http& h = ev.http[e.req];
            h.answered = t;
            h.status = static_cast<int>(e.status);
            h.retry_after = e.retry_after.value_or("");
            h.date = e.date.value_or("");
            last_answer = e.req;
            last_answer_t = t;
          } else if constexpr (std::is_same_v<E, ev::HttpError>) {
            if (e.applied) ++ev.hidden_faults;
            Http& h = ev.http[e.req];
            h.answered = t;
            h.status = 0;
            h.applied = e.applied;
            h.error = e.error;
            last_answer = e.req;
            last_answer_t = t;
          } else if constexpr (std::is_same_v<E, ev::Fault>) {
            if (e.fault == "garble" || e.after.value_or(false)) ++ev.hidden_faults;
            if (e.req && e.fault == "garble") ev.http[*e.req].garbled = true;
            if (e.req && e.fault == "respond" && e.after.value_or(false)) ev.http[*e.req].answered_after = true;
            if (e.op) ev.file_faults.push_back({t, *e.op, e.fault, e.after.value_or(false), e.status.value_or(0), seq});
          } else if constexpr (std::is_same_v<E, ev::JobTerminal>) {
            ev.terminal_at.emplace(static_cast<JobId>(e.id), t);
            ev.terminal_last[static_cast<JobId>(e.id)] = t;
            ev.terminal_seq.emplace(static_cast<JobId>(e.id), seq);
          } else if constexpr (std::is_same_v<E, ev::Staged>) {
            ev.staged.emplace_back(seq, e.ids.ids);
          } else if constexpr (std::is_same_v<E, ev::Committing>) {
            ev.commits.emplace_back(claim(t), e.ids.ids);
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
            sd.req = claim(t);
            sd.seq = seq;
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
            u.bytes = e.bytes;
            u.seq = seq;
            open[e.upload] = t;
          } else if constexpr (std::is_same_v<E, ev::UploadResult>) {
            Upload& u = upload(e.upload, false);
            u.result_t = t;
            u.result_seq = seq;
            u.answer_req = claim(t);
            u.outcome = e.outcome;
            u.import = e.import;
            if (u.outcome == "importing") u.accepted = t;
            u.importing = e.importing;
            u.named = e.named;
            u.unaccounted = e.unaccounted;
            u.overlap = e.overlap;
            u.foreign = e.foreign;
            u.put_back = e.put_back ? e.put_back->ids : std::vector<JobId>();
          } else if constexpr (std::is_same_v<E, ev::Poll>) {
            upload(e.upload, false).polls.push_back(t);
          } else if constexpr (std::is_same_v<E, ev::Polled>) {
            Upload& u = upload(e.upload, false);
            u.statuses.push_back(e.status);
            u.poll_answers.push_back({e.status, claim(t), t, 0});
            if (e.status == "failed") u.poll_failed = true;
          } else if constexpr (std::is_same_v<E, ev::StatsFault>) {
            upload(e.upload, false).stats_answers.push_back({"fault", claim(t), t, 0});
          } else if constexpr (std::is_same_v<E, ev::PollTimeout>) {
            upload(e.upload, false).timed_out = true;
          } else if constexpr (std::is_same_v<E, ev::Settle>) {
            Upload& u = upload(e.upload, false);
            if (e.unmentioned > 0) u.unmentioned = true;
            if (e.from == "stats") {
              u.settled = true;
              u.stats_answers.push_back({"settled", claim(t), t, e.failed, e.ok});
            }
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
            Upload& ended = upload(e.upload, false);
            ended.end_t = t;
            ended.end_seq = seq;
            auto it = open.find(e.upload);
            if (it != open.end()) {
              ev.in_flight.push_back({it->second, t});
              open.erase(it);
            }
          } else if constexpr (std::is_same_v<E, ev::RunCrash> || std::is_same_v<E, ev::RunControl>) {
            // A crash, or a clean stop (a deploy): either way the process
            // ends here and what it had in flight is abandoned; the checkers
            // treat both as a process end (`crashes`), and a start or a
            // restart follows each.
            if constexpr (std::is_same_v<E, ev::RunControl>) {
              if (e.what == "fake" && !e.skipped) ev.operator_acts.emplace_back(seq, t);
              if (e.what != "stop" || e.skipped) return;
            }
            ev.crashes.push_back(t);
            for (auto& [k, from] : open) {
              ev.in_flight.push_back({from, t});
              ev.uploads[ev.current[k]].crashed = true;
            }
            open.clear();
          } else if constexpr (std::is_same_v<E, ev::RunRestart>) {
            ev.restarts.push_back(t);
            ev.restart_seqs.push_back(seq);
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

std::string send_name(const Send& s);
std::string upload_name(const Upload& u);
std::string answer_name(const Events& ev, std::int64_t req);

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

// The copies in the fake's store attributed to each input record (by input
// index). Identical rows (records with the same effects) share their copies:
// a group of k records whose effect was applied n times hands them out as
// charitably as the job outcomes allow — one to each succeeded record, then
// one to each whose outcome was hidden (unknown, or re-sent after an unknown
// one); what is left goes to the first hidden record (at-least-once allows
// it there); with none hidden, one to each known failure (a phantom), then
// pending ones, then the first succeeded one (a duplicate), else the first. Under
// idempotent writes one copy stands for every succeeded identical row. A
// record alone in its group gets exactly its own applied count — less the
// applications that only put back a copy an operator wiped (Fake::peak).
std::vector<std::int64_t> attributed_copies(const Outcome& o) {
  std::vector<std::int64_t> share(static_cast<std::size_t>(o.input_size), 0);
  std::map<std::vector<std::string>, std::vector<std::int64_t>> groups;
  const auto effects = effects_with(*o.entry, o.config);
  for (std::int64_t i = 0; i < o.input_size; ++i) groups[effects(o.record(i))].push_back(i);
  for (const auto& [keys, members] : groups) {
    if (keys.empty()) continue;  // no effect (a record the API cannot take): nothing to attribute
    std::int64_t left = 0, peak = 0;
    for (const auto& key : keys) {
      const std::int64_t applied = o.fake().applied(key);
      left += applied;
      peak += o.fake().peak(key, applied);
    }
    // An operator wiped copies (a table replaced) and some were applied
    // again: a copy applied again in place of a wiped one is not one more,
    // unless the group's rows that may have been delivered (all but known
    // failures) were more than one copy each at once.
    if (peak < left) {
      std::int64_t may = 0;
      for (std::int64_t i : members) {
        const JobId id = o.record(i).id;
        const bool known_failure = o.jobs().contains(id) && [&] {
          const JobOutcome out = o.jobs().outcome(id);
          return (out.state == JobState::failed || out.state == JobState::aborted) && !out.outcome_unknown;
        }();
        if (!known_failure) ++may;
      }
      left = std::min(left, std::max(peak, may * static_cast<std::int64_t>(keys.size())));
    }
    const std::int64_t applied = left;
    if (members.size() == 1) {
      share[static_cast<std::size_t>(members[0])] = left;
      continue;
    }
    auto rank = [&](std::int64_t i) {
      const JobId id = o.record(i).id;
      if (!o.jobs().contains(id)) return 3;
      const JobOutcome out = o.jobs().outcome(id);
      if (out.state == JobState::succeeded && !out.resent_after_unknown) return 0;
      if (out.outcome_unknown || out.resent_after_unknown) return 1;
      if (out.state == JobState::failed || out.state == JobState::aborted) return 2;
      return 3;
    };
    std::int64_t first_hidden = -1, first_succeeded = -1;
    for (int r = 0; r <= 3; ++r) {
      if (r == 2 && first_hidden >= 0) break;  // extras go to a hidden row, not to a known failure
      for (std::int64_t i : members) {
        if (rank(i) != r) continue;
        if (r == 1 && first_hidden < 0) first_hidden = i;
        if (r == 0 && first_succeeded < 0) first_succeeded = i;
        if (left > 0) {
          ++share[static_cast<std::size_t>(i)];
          --left;
        }
      }
    }
    const std::int64_t rest = first_hidden >= 0 ? first_hidden : first_succeeded >= 0 ? first_succeeded : members[0];
    share[static_cast<std::size_t>(rest)] += left;
    // Idempotent writes (upserts): one copy is every identical row's effect,
    // so a destination may send identical rows once and share the answer.
    if (o.entry->capabilities.idempotent_writes && applied > 0)
      for (std::int64_t i : members)
        if (share[static_cast<std::size_t>(i)] == 0 && o.jobs().contains(o.record(i).id) &&
            o.jobs().outcome(o.record(i).id).state == JobState::succeeded)
          share[static_cast<std::size_t>(i)] = 1;
  }
  return share;
}

const std::vector<std::int64_t>& copies_of(const Outcome& o, const Events& ev) {
  if (!ev.copies) ev.copies = attributed_copies(o);
  return *ev.copies;
}

PropertyResult fail(const std::string& id, std::string detail) { return {id, Verdict3::fail, std::move(detail)}; }
PropertyResult pass(const std::string& id) { return {id, Verdict3::pass, ""}; }
PropertyResult na(const std::string& id, std::string why) { return {id, Verdict3::not_applicable, std::move(why)}; }

bool has_key(const Outcome& o, const char* key) {
  for (const auto& k : o.entry->schema)
    if (k.name == key) return true;
  return false;
}

// The first request sent after upload `u` started: ev.requests is in trace
// order, and an upload's requests are those traced between its start and its
// result (by order, not time: the next upload may start, and send, at the very
// instant this one is answered).
std::vector<Req>::const_iterator requests_within(const Events& ev, const Upload& u) {
  return std::upper_bound(ev.requests.begin(), ev.requests.end(), u.seq,
                          [](std::size_t seq, const Req& r) { return seq < r.seq; });
}

// The answers that decided an upload's jobs. A manager that sends several
// requests per upload (a channel per table) names on each the jobs its answer
// decides (Request::carries): each such request sent while the upload ran
// decides those of its jobs. An upload without them is decided, for all its
// jobs, by the answer its result came from.
std::vector<std::pair<std::int64_t, std::vector<JobId>>> deciding_answers(const Events& ev, const Upload& u) {
  std::vector<std::pair<std::int64_t, std::vector<JobId>>> out;
  if (u.start >= 0 && u.result_t >= 0) {
    const std::set<JobId> mine(u.ids.begin(), u.ids.end());
    for (auto it = requests_within(ev, u); it != ev.requests.end() && it->seq < u.result_seq; ++it) {
      auto h = ev.http.find(it->id);
      if (h == ev.http.end() || !h->second.carries || h->second.status < 0) continue;
      std::vector<JobId> ids;
      for (JobId j : *h->second.carries)
        if (mine.count(j)) ids.push_back(j);
      if (!ids.empty()) out.emplace_back(it->id, std::move(ids));
    }
  }
  if (out.empty() && u.answer_req >= 0) out.emplace_back(u.answer_req, u.ids);
  return out;
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

// Where the trace shows a fault that hid an outcome, per job: a transport
// error after sending (or a send answered with no status at all), a garbled
// 2xx, a file operation done but unanswered, a crash before an upload's import
// id was stored, a poll timeout, a failed poll of an accepted import, or
// per-record results that did not mention the job. Mapped to jobs through the
// sends and uploads that carried them. The value names the first such fault.
std::map<JobId, std::string> hiding_faults(const Events& ev) {
  std::map<JobId, std::string> out;
  auto mark = [&](const std::vector<JobId>& ids, const std::string& why) {
    for (JobId id : ids) out.emplace(id, why);
  };
  auto hides = [&](std::int64_t req) -> std::string {
    auto it = ev.http.find(req);
    if (it == ev.http.end()) return "";
    const Http& h = it->second;
    // A client cannot tell a reset or a timeout before the API applied a
    // request from one after: either hides the outcome; a refused connection
    // never carried the request.
    if (h.status == 0 && (h.applied || h.error != "connection_refused"))
      return "request " + std::to_string(req) + " ended in a transport error (" + h.error + ") after it was sent";
    // An answer injected after the API applied the request says something
    // else than what the API did, whatever its status (a gateway's 502, a
    // 200 whose counts do not add up).
    if (h.answered_after)
      return "request " + std::to_string(req) + " was answered " + std::to_string(h.status) +
             " after the API had applied it";
    if (h.garbled && h.status >= 200 && h.status < 300)
      return "request " + std::to_string(req) + " was answered " + std::to_string(h.status) + " with a garbled body";
    // HTTP semantics: a 5xx other than 503 may come after the server applied
    // the request (a gateway timing out on a written upstream, the
    // duplicate-after-502 incident); a 503 and every 4xx say it was not.
    if (h.status >= 500 && h.status != 503)
      return "request " + std::to_string(req) + " was answered " + std::to_string(h.status) +
             ", which may come after the API applied it";
    return "";
  };
  for (const Send& s : ev.sends) {
    std::string why = s.req >= 0 ? hides(s.req) : "";
    if (why.empty() && s.req < 0 && s.http == 0) why = "a send answered with no HTTP status (no answer traced)";
    if (!why.empty()) mark(s.ids, why);
  }
  for (const auto& [req, ids] : ev.commits)
    if (std::string why = req >= 0 ? hides(req) : "a commit answered with no HTTP status"; !why.empty())
      mark(ids, "the commit deciding them: " + why);
  for (const Upload& u : ev.uploads) {
    const std::string name = "upload " + std::to_string(u.key);
    if (u.answer_req >= 0)
      if (std::string why = hides(u.answer_req); !why.empty()) mark(u.ids, name + ": " + why);
    // An upload of several requests (a file staged in parts, posted again
    // after a lost answer): a write sent while it ran whose answer hides
    // whether it was applied hides the upload's outcome too, even when a
    // later answer decided the upload (as for file operations below).
    if (u.start >= 0 && u.result_t >= 0) {
      for (auto it = requests_within(ev, u); it != ev.requests.end() && it->seq < u.result_seq; ++it) {
        if (it->id == u.answer_req) continue;
        auto h = ev.http.find(it->id);
        if (h != ev.http.end() && h->second.method == "POST")
          if (std::string why = hides(it->id); !why.empty()) mark(u.ids, name + ": " + why);
      }
    }
    if (u.start >= 0) {
      // File operations (no HTTP), within the upload: a lost answer (a reset
      // or a timeout, before or after the server did it: the client cannot
      // tell; an outage that drops a session with an operation sent is the
      // same), garbled bytes, or SSH_FX_FAILURE (4) on an operation that
      // changes the server — the protocol's generic failure, which like an
      // HTTP 5xx may come after the server did it. A refused connect, a
      // specific SFTP status and a refused size never hide anything.
      // (Within is by trace order: the next upload's first operation may come
      // at the very instant this one was answered, and is not of this one.)
      auto changes = [](const std::string& op) { return op == "put" || op == "rename" || op == "remove" || op == "mkdir"; };
      for (const auto& f : ev.file_faults)
        if (f.seq > u.seq && f.seq < u.result_seq &&
            (f.after || f.fault == "garble" || f.fault == "reset" || f.fault == "timeout" || f.fault == "disconnect" ||
             (f.fault == "outage" && f.op != "connect") || (f.fault == "respond" && f.status == 4 && changes(f.op))))
          mark(u.ids, name + ": a " + f.fault + " fault on " + f.op + " at " + format_duration(Duration(f.t)));
    }
    // An operator changed the API's state (dropped a table, rotated a key)
    // while the upload or its import was in flight: what the API did with it
    // may be gone or unknowable (rows committed into a table then dropped).
    // In flight is by trace order, not time: an upload that starts right
    // after an act, at the same virtual instant, was sent to the changed API
    // and its outcome is as knowable as any other's.
    if (u.start >= 0)
      for (const auto& [a, t] : ev.operator_acts)
        if (a > u.seq && a < u.end_seq) {
          mark(u.ids, name + " was in flight when the scenario changed the API's state at " +
                          format_duration(Duration(t)));
          break;
        }
    if (u.crashed && u.accepted < 0) mark(u.ids, name + " was in flight at a crash");
    if (u.resumed && u.resumed_import.empty()) mark(u.ids, name + "'s import id was lost in a crash");
    if (u.timed_out) mark(u.ids, name + "'s import was ended by the poll timeout");
    if (u.poll_failed && u.accepted >= 0) mark(u.ids, name + "'s accepted import was polled failed");
    if (u.unmentioned) mark(u.ids, name + "'s per-record results left some of its jobs unmentioned");
  }
  return out;
}

// Every copy of the record's effect that the store held, an operator wiped
// (a dropped or replaced table): it is not in the store now, so a job that
// says it failed tells the truth about the store (a re-send is one copy).
bool wiped_away(const Outcome& o, const Record& r) {
  const std::vector<std::string> keys = o.entry->effects(r, o.config);
  if (keys.empty()) return false;
  for (const auto& key : keys)
    if (o.fake().held(key) > 0) return false;
  return true;
}

PropertyResult check_a2(const Outcome& o, const Events& ev) {
  std::vector<JobId> lost, phantom, unjustified;
  std::map<JobId, std::string> hidden;
  bool hidden_built = false;
  const std::vector<std::int64_t>& copies = copies_of(o, ev);
  for (std::int64_t i = 0; i < o.input_size; ++i) {
    const Record& r = o.record(i);
    if (!o.jobs().contains(r.id)) continue;
    JobOutcome out = o.jobs().outcome(r.id);
    const std::int64_t n = copies[static_cast<std::size_t>(i)];
    if (out.state == JobState::succeeded && n == 0) lost.push_back(r.id);
    if ((out.state == JobState::failed || out.state == JobState::aborted) && n > 0 && !out.outcome_unknown &&
        !wiped_away(o, r))
      phantom.push_back(r.id);
    if (out.outcome_unknown && out.state != JobState::succeeded) {
      if (!hidden_built) {
        hidden = hiding_faults(ev);
        hidden_built = true;
      }
      // A batch-path job in flight at a crash: no event names the send that was cut off.
      bool crashed_pending = false;
      if (!o.entry->capabilities.bulk) {
        auto t = ev.terminal_at.find(r.id);
        for (std::int64_t c : ev.crashes) crashed_pending |= t == ev.terminal_at.end() || c < t->second;
      }
      if (!hidden.count(r.id) && !crashed_pending) unjustified.push_back(r.id);
    }
  }
  if (!lost.empty()) return fail("A2", "reported succeeded but not in the fake's store: " + ids_sample(lost));
  if (!phantom.empty())
    return fail("A2", "reported failed/aborted (outcome known) but the fake applied them: " + ids_sample(phantom));
  if (!unjustified.empty()) {
    const JobOutcome first = o.jobs().outcome(unjustified.front());
    return fail("A2", "ended outcome_unknown though no fault in the trace hid their outcome (no transport error after "
                      "sending, garbled answer, crash, poll timeout, failed poll of an accepted import or unmentioned "
                      "result carried them): " +
                          ids_sample(unjustified) + "; job " + std::to_string(unjustified.front()) + ": \"" +
                          first.reason + "\"");
  }
  return pass("A2");
}

PropertyResult check_a3(const Outcome& o, const Events& ev) {
  const Capabilities& caps = o.entry->capabilities;
  if (caps.idempotent_writes && caps.delivery == DeliverySemantics::exactly_once) {
    // Copies in the store are at most one by the API's own semantics (upserts,
    // event ids); re-sends are C5's business.
    return pass("A3");
  }
  std::vector<JobId> dup;
  const std::vector<std::int64_t>& copies = copies_of(o, ev);
  for (std::int64_t i = 0; i < o.input_size; ++i) {
    const Record& r = o.record(i);
    const std::int64_t n = copies[static_cast<std::size_t>(i)];
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
  // The converse for auth, on the bulk path: a job an upload ended failed on
  // the 401/403 that answered it was refused for its credentials.
  for (const Upload& u : ev.uploads) {
    if (u.outcome != "failed" && u.outcome != "completed" && u.outcome != "importing") continue;
    for (const auto& [req, decided] : deciding_answers(ev, u)) {
    const int st = ev.http.at(req).status;
    if (st != 401 && st != 403) continue;
    // Without per-request jobs, only an upload that ended failed on its answer.
    if (u.outcome != "failed" && req == u.answer_req && !ev.http.at(req).carries) continue;
    for (JobId id : decided) {
      if (!o.jobs().contains(id)) continue;
      const JobOutcome out = o.jobs().outcome(id);
      auto t = ev.terminal_at.find(id);
      if (out.state != JobState::failed || out.outcome_unknown || out.kind == ReasonKind::auth ||
          t == ev.terminal_at.end() || t->second != u.result_t)
        continue;
      mislabelled.push_back(id);
      if (why.empty())
        why = "job " + std::to_string(id) + ": ended failed on " + upload_name(u) + "'s HTTP " + std::to_string(st) +
              ", but its kind is " + reason_kind_name(out.kind) + " (expected auth)";
    }
    }
  }
  if (!untyped.empty()) return fail("A4", "failed/aborted without a reason kind: " + ids_sample(untyped));
  if (!mislabelled.empty()) return fail("A4", why + " (" + ids_sample(mislabelled) + ")");
  return pass("A4");
}

// A limit of this run: the configured value of a key the destination declares
// (the smallest of those it declares), else `declared`.
struct RunLimit {
  std::int64_t value = INT64_MAX;
  std::string name;  // "records_max 50", "the declared cap 1000"
};
RunLimit run_limit(const Outcome& o, std::initializer_list<const char*> keys, std::int64_t declared, bool size) {
  RunLimit out{declared, "the declared cap " + std::to_string(declared)};
  for (const char* k : keys) {
    if (!has_key(o, k)) continue;
    const std::int64_t v = size ? o.config.size(k) : o.config.integer(k);
    if (v < out.value) out = {v, std::string(k) + " " + std::to_string(v)};
  }
  return out;
}

// B1 checks every limit this run was configured with, not only the declared
// hard caps: records per request (records_max, flush_queue_size) and bytes per
// request (request_bytes_max, bytes_max) on the batch path, read from each
// send and the HTTP request that carried it; records per upload (records_max,
// profiles_per_upload) and bytes per upload file (file_bytes_max, bytes_max)
// on the bulk path; and every HTTP request within the declared byte cap.
PropertyResult check_b1(const Outcome& o, const Events& ev) {
  const BatchLimits& lim = o.entry->capabilities.limits;
  for (const auto& r : ev.requests) {
    if (r.bytes > lim.bytes_max)
      return fail("B1", "request " + std::to_string(r.id) + " to " + r.endpoint + " has " + std::to_string(r.bytes) +
                            " bytes, over the declared cap " + std::to_string(lim.bytes_max));
  }
  if (!o.entry->capabilities.bulk) {
    const RunLimit records = run_limit(o, {"records_max", "flush_queue_size"}, lim.records_max, false);
    const RunLimit bytes = run_limit(o, {"request_bytes_max", "bytes_max"}, lim.bytes_max, true);
    for (const auto& s : ev.sends) {
      const auto n = static_cast<std::int64_t>(s.ids.size());
      if (n > records.value)
        return fail("B1", send_name(s) + " carries " + std::to_string(n) + " records, over " + records.name);
      if (s.req < 0) continue;
      const Http& h = ev.http.at(s.req);
      if (h.bytes > bytes.value)
        return fail("B1", send_name(s) + ": request " + std::to_string(s.req) + " to " + h.endpoint + " has " +
                              std::to_string(h.bytes) + " bytes, over " + bytes.name);
    }
    return pass("B1");
  }
  const RunLimit records = run_limit(o, {"records_max", "profiles_per_upload"}, lim.records_max, false);
  const RunLimit bytes = run_limit(o, {"file_bytes_max", "bytes_max"}, lim.bytes_max, true);
  for (const auto& u : ev.uploads) {
    if (u.start < 0) continue;
    if (u.records > records.value)
      return fail("B1", upload_name(u) + " at " + format_duration(Duration(u.start)) + " carries " +
                            std::to_string(u.records) + " records, over " + records.name);
    if (u.bytes > bytes.value)
      return fail("B1", upload_name(u) + " at " + format_duration(Duration(u.start)) + " has a file of " +
                            std::to_string(u.bytes) + " bytes, over " + bytes.name);
  }
  return pass("B1");
}

// The longest overlap of intervals [from, to) (an interval ending when another
// starts does not overlap it), and when it was first reached.
std::pair<std::int64_t, std::int64_t> most_at_once(const std::vector<Interval>& ivs) {
  std::vector<std::pair<std::int64_t, int>> edges;
  for (const auto& iv : ivs) {
    edges.push_back({iv.from, +1});
    edges.push_back({iv.to, -1});
  }
  std::sort(edges.begin(), edges.end());  // at one time, ends (-1) before starts (+1)
  std::int64_t now = 0, most = 0, at = 0;
  for (const auto& [t, d] : edges) {
    now += d;
    if (now > most) {
      most = now;
      at = t;
    }
  }
  return {most, at};
}

// B4 checks each declared concurrency limit on its own, from the sends' own
// times (a send is in flight from `sent` until its answer, the event's time):
//   - batches in flight per handler ≤ max_async_requests (1 when not async):
//     a batch holds its slot from its first send until its last job is
//     terminal (retries, splits and records sent alone included);
//   - records sent alone in flight, per batch being sent record by record,
//     ≤ individual_concurrency;
//   - uploads and imports in flight ≤ imports_in_flight and ≤ the declared
//     import concurrency.
PropertyResult check_b4(const Outcome& o, const Events& ev) {
  if (o.entry->capabilities.bulk) {
    if (!has_key(o, "imports_in_flight") && o.entry->capabilities.import_concurrency <= 0)
      return na("B4", "bulk: the destination declares no import concurrency");
    const auto [most, at] = most_at_once(ev.in_flight);
    if (has_key(o, "imports_in_flight") && most > o.config.integer("imports_in_flight"))
      return fail("B4", std::to_string(most) + " uploads/imports in flight at " + format_duration(Duration(at)) +
                            ", over imports_in_flight " + std::to_string(o.config.integer("imports_in_flight")));
    const std::int64_t declared = o.entry->capabilities.import_concurrency;
    if (declared > 0 && most > declared)
      return fail("B4", std::to_string(most) + " uploads/imports in flight at " + format_duration(Duration(at)) +
                            ", over the declared import concurrency " + std::to_string(declared));
    return pass("B4");
  }
  if (!has_key(o, "max_async_requests")) return na("B4", "the destination declares no request concurrency");
  const bool async = !has_key(o, "async") || o.config.boolean("async");
  const std::int64_t batches_max = async ? o.config.integer("max_async_requests") : 1;
  const std::int64_t individual_max = has_key(o, "individual_concurrency") ? o.config.integer("individual_concurrency") : 1;
  // Per process (a restart starts afresh): each job's batch is the first
  // attempt-1 batch that carried it (a 413 split's halves start at attempt 1
  // again but stay in their batch). A batch is in flight from its first send
  // until the last answer to a send of its jobs (retries, halves, records
  // sent alone); a staging destination's jobs end later, at their commit.
  auto crash_after = [&](std::int64_t t) {
    for (std::int64_t c : ev.crashes)
      if (c >= t) return c;
    return INT64_MAX;
  };
  std::map<JobId, std::size_t> root_of;
  struct Root {
    std::string handler;
    std::int64_t from, to;
  };
  std::vector<Root> roots;
  std::size_t restart = 0;
  for (const Send& s : ev.sends) {
    while (restart < ev.restart_seqs.size() && ev.restart_seqs[restart] < s.seq) {
      root_of.clear();
      ++restart;
    }
    bool fresh = !s.one && s.attempt == 1;
    for (JobId id : s.ids) fresh &= root_of.count(id) == 0;
    if (fresh) {
      for (JobId id : s.ids) root_of[id] = roots.size();
      roots.push_back({s.handler, s.sent, s.t});
      continue;
    }
    for (JobId id : s.ids) {
      auto r = root_of.find(id);
      if (r != root_of.end()) roots[r->second].to = std::max(roots[r->second].to, s.t);
    }
  }
  for (Root& r : roots) r.to = std::min(r.to, crash_after(r.from));
  std::map<std::string, std::vector<Interval>> per_handler;
  for (const Root& r : roots) per_handler[r.handler].push_back({r.from, r.to});
  for (const auto& [handler, ivs] : per_handler) {
    const auto [most, at] = most_at_once(ivs);
    if (most > batches_max)
      return fail("B4", std::to_string(most) + " batches of " + handler + " in flight at " +
                            format_duration(Duration(at)) + ", over " +
                            (async ? "max_async_requests " + std::to_string(batches_max) : std::string("1 (async is off)")));
  }
  // Records sent alone: grouped by the batch answer that sent them alone (the
  // handler's last partial_success/retry_individual send holding the record).
  std::map<std::size_t, std::vector<Interval>> alone;  // by that send's index
  for (std::size_t i = 0; i < ev.sends.size(); ++i) {
    const Send& s = ev.sends[i];
    if (!s.one) continue;
    for (std::size_t k = i; k-- > 0;) {
      const Send& b = ev.sends[k];
      if (b.one || b.handler != s.handler || b.t > s.sent) continue;
      if (b.status != "partial_success" && b.status != "retry_individual") continue;
      if (std::find(b.ids.begin(), b.ids.end(), s.ids.front()) == b.ids.end()) continue;
      alone[k].push_back({s.sent, s.t});
      break;
    }
  }
  for (const auto& [k, ivs] : alone) {
    const auto [most, at] = most_at_once(ivs);
    if (most > individual_max)
      return fail("B4", std::to_string(most) + " records of " + send_name(ev.sends[k]) + " sent alone at once at " +
                            format_duration(Duration(at)) + ", over individual_concurrency " +
                            std::to_string(individual_max));
  }
  return pass("B4");
}

PropertyResult check_c5(const Outcome& o, const Events& ev) {
  std::vector<JobId> resent;
  const std::vector<std::int64_t>& copies = copies_of(o, ev);
  for (std::int64_t i = 0; i < o.input_size; ++i) {
    const Record& r = o.record(i);
    const std::int64_t n = copies[static_cast<std::size_t>(i)];
    if (n <= 1) continue;
    JobOutcome out = o.jobs().outcome(r.id);
    if (!out.outcome_unknown && !out.resent_after_unknown) resent.push_back(r.id);
  }
  if (!resent.empty())
    return fail("C5", "applied more than once with no fault hiding an outcome (a success was re-sent): " +
                          ids_sample(resent));
  return pass("C5");
}

// The wait a Retry-After asked for, read here (not with the code under test):
// delay-seconds as they are; an HTTP date against the Date of the same answer
// — the API's clock, which may disagree with the destination's (RFC 9110
// §10.2.3) — or, with no Date, against the simulator's calendar at the answer.
// A Date is whole seconds, so the API's own "now" may be up to a second
// past it: the least wait (`most` false) takes that second off, the longest
// (`most` true) does not.
std::optional<Duration> retry_after_of(const Resp& r, const Outcome& o, std::int64_t t_ns, bool most = false) {
  (void)o;
  std::string_view v = r.retry_after;
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  if (std::isdigit(static_cast<unsigned char>(v.front()))) {
    std::int64_t secs = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), secs);
    if (ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
    return std::chrono::seconds(std::min<std::int64_t>(secs, 10LL * 365 * 86'400));
  }
  auto until = parse_http_date(v);
  if (!until.ok()) return std::nullopt;
  std::int64_t base = SimClock::kDefaultEpochUnixMs + t_ns / 1'000'000;
  if (!r.date.empty())
    if (auto d = parse_http_date(r.date); d.ok()) base = *d + (most ? 0 : 1'000);
  return std::chrono::milliseconds(std::max<std::int64_t>(0, *until - base));
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

// B5 judges from when each job was staged (bulk.staged), uploaded
// (bulk.upload_start) and ended (job): a job that was waiting in the staging
// queue when an upload started without it was deferred to a later upload. It
// must reach one — not end before it, whatever its reason says, nor be left
// waiting — and waiting costs no attempt: the store counts exactly the uploads
// that carried each job. A staged job that ends before any upload carried it
// (cut from the upload being filled, its end traced before that upload's
// start) fails too: only its retry window may end a waiting job.
PropertyResult check_b5(const Outcome& o, const Events& ev) {
  std::map<JobId, std::int64_t> carried;
  for (const auto& u : ev.uploads)
    if (u.start >= 0)
      for (JobId id : u.ids) ++carried[id];
  for (JobId id : o.jobs().ids()) {
    const std::int64_t attempts = o.jobs().attempts(id);
    const std::int64_t uploads = carried.count(id) ? carried[id] : 0;
    if (attempts != uploads)
      return fail("B5", "job " + std::to_string(id) + " counts " + std::to_string(attempts) + " attempts but " +
                            std::to_string(uploads) + " uploads carried it (an attempt without an upload)");
  }
  // Walk the trace's staging, uploads, terminal states and restarts in order.
  enum Kind { staged, upload, terminal, restart };
  std::vector<std::tuple<std::size_t, Kind, std::size_t>> steps;  // trace index, kind, what
  for (std::size_t i = 0; i < ev.staged.size(); ++i) steps.emplace_back(ev.staged[i].first, staged, i);
  for (std::size_t i = 0; i < ev.uploads.size(); ++i)
    if (ev.uploads[i].start >= 0) steps.emplace_back(ev.uploads[i].seq, upload, i);
  std::vector<JobId> ended;
  for (const auto& [id, seq] : ev.terminal_seq) {
    steps.emplace_back(seq, terminal, ended.size());
    ended.push_back(id);
  }
  for (std::size_t seq : ev.restart_seqs) steps.emplace_back(seq, restart, 0);
  std::sort(steps.begin(), steps.end());
  // A staged job waits for an upload; the first upload after it was staged
  // that does not carry it leaves it for a later one (defers it). Kept as the
  // count of uploads seen when it was staged: deferred once more have been
  // seen (the first upload after staging either carried it — and it waits no
  // more — or deferred it), so an upload costs its own jobs, not every waiting one.
  std::map<JobId, std::size_t> waiting;  // waiting job → uploads seen when it was staged
  std::vector<std::size_t> upload_order;  // ev.uploads index of each upload, in trace order
  auto deferred_by = [&](const std::pair<const JobId, std::size_t>& w) -> std::optional<std::size_t> {
    if (w.second < upload_order.size()) return upload_order[w.second];
    return std::nullopt;
  };
  // A job aborted once the declared retry window had passed since its first
  // upload was ended by its time budget (C6), not for the overflow.
  const Duration window = config_duration(o, "retry_window", Duration(0));
  std::map<JobId, std::int64_t> first_upload;
  for (const auto& u : ev.uploads)
    if (u.start >= 0)
      for (JobId id : u.ids) first_upload.emplace(id, u.start);
  auto window_passed = [&](JobId id) {
    auto f = first_upload.find(id);
    auto t = ev.terminal_at.find(id);
    return window.count() > 0 && f != first_upload.end() && t != ev.terminal_at.end() &&
           o.jobs().outcome(id).state == JobState::aborted && t->second - f->second > window.count();
  };
  for (const auto& [seq, kind, what] : steps) {
    if (kind == staged) {
      for (JobId id : ev.staged[what].second) waiting.try_emplace(id, upload_order.size());
    } else if (kind == upload) {
      for (JobId id : ev.uploads[what].ids) waiting.erase(id);
      upload_order.push_back(what);
    } else if (kind == terminal) {
      const JobId id = ended[what];
      auto w = waiting.find(id);
      if (w == waiting.end()) continue;
      const std::optional<std::size_t> d = deferred_by(*w);
      // A job still waiting in the staging queue ends only by its window: one
      // ended before any upload carried it was cut from the upload being
      // filled (its end is traced before that upload starts).
      if (!d && !window_passed(id)) {
        const JobOutcome out = o.jobs().outcome(id);
        return fail("B5", "job " + std::to_string(id) + " was staged, then ended " + job_state_name(out.state) +
                              " at " + format_duration(Duration(ev.terminal_at.at(id))) +
                              " while waiting for an upload, without being uploaded (\"" + out.reason + "\")");
      }
      if (d && !window_passed(id)) {
        const JobOutcome out = o.jobs().outcome(id);
        return fail("B5", "job " + std::to_string(id) + " was left for a later upload by " +
                              upload_name(ev.uploads[*d]) + " at " + format_duration(Duration(ev.uploads[*d].start)) +
                              ", then ended " + job_state_name(out.state) + " at " +
                              format_duration(Duration(ev.terminal_at.at(id))) + " without being uploaded (\"" +
                              out.reason + "\")");
      }
      waiting.erase(w);  // its window ended it
    } else {
      waiting.clear();  // the new process stages again
    }
  }
  for (const auto& w : waiting)
    if (const std::optional<std::size_t> k = deferred_by(w))
      return fail("B5", "job " + std::to_string(w.first) + " was left for a later upload by " +
                            upload_name(ev.uploads[*k]) + " at " + format_duration(Duration(ev.uploads[*k].start)) +
                            " and never uploaded");
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
  const std::vector<std::int64_t>& copies = copies_of(o, ev);
  for (std::int64_t i = 0; i < o.input_size; ++i) {
    const Record& r = o.record(i);
    if (!o.jobs().contains(r.id)) continue;
    if (o.jobs().outcome(r.id).state == JobState::succeeded && copies[static_cast<std::size_t>(i)] == 0)
      assumed.push_back(r.id);
  }
  if (!assumed.empty())
    return fail("D4", "reported succeeded without the API's per-record results holding them: " + ids_sample(assumed));
  if (static_cast<std::int64_t>(o.jobs().counts().succeeded) > ev.settled_ok && ev.crashes.empty())
    return fail("D4", std::to_string(o.jobs().counts().succeeded) + " jobs succeeded but the per-record results named " +
                          std::to_string(ev.settled_ok) + " as ok");
  // Per-record results reach the destination only in a 2xx answer: jobs
  // settled succeeded on a results request answered with an error status or
  // a transport error were assumed delivered, not read — even where the fake
  // happens to hold them.
  for (const auto& u : ev.uploads) {
    for (const auto& a : u.stats_answers) {
      if (a.status != "settled" || a.ok == 0 || a.req < 0) continue;
      const int st = ev.http.at(a.req).status;
      if (st < 200 || st >= 300)
        return fail("D4", upload_name(u) + ": " + std::to_string(a.ok) + " jobs settled succeeded at " +
                              format_duration(Duration(a.t)) + " on a results request's " + answer_name(ev, a.req) +
                              ", which carries no per-record results");
    }
  }
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
  const std::vector<std::int64_t>& copies = copies_of(o, ev);
  for (std::int64_t i = 0; i < o.input_size; ++i) {
    const Record& r = o.record(i);
    if (!o.jobs().contains(r.id) || copies[static_cast<std::size_t>(i)] <= 1) continue;
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
// The status a send was answered with: the traced answer of its HTTP
// exchange when there is one (0 = a transport error), else what the send says.
int answer_status(const Events& ev, const Send& s) { return s.req >= 0 ? ev.http.at(s.req).status : s.http; }

// Whether the answer a send met is retryable by the declared contract: a code
// the destination declares permanent decides whatever the status; otherwise the status.
bool retryable_answer(const Outcome& o, const Events& ev, const Send& s) {
  const auto& pc = o.entry->capabilities.permanent_codes;
  if (!s.code.empty() && std::find(pc.begin(), pc.end(), s.code) != pc.end()) return false;
  return retryable_status(o, answer_status(ev, s));
}

// A status no retry can change: a 4xx outside the declared retryable set.
// (A 2xx is judged by its body: Marketo answers throttling and auth errors as
// HTTP 200 with error codes, which the statuses cannot judge.)
bool permanent_status(const Outcome& o, int http) { return http >= 400 && http < 500 && !retryable_status(o, http); }

std::string answer_name(const Events& ev, std::int64_t req) {
  const Http& h = ev.http.at(req);
  return "request " + std::to_string(req) + " to " + h.endpoint + " answered " +
         (h.status == 0 ? std::string("with a transport error") : "HTTP " + std::to_string(h.status)) + " at " +
         format_duration(Duration(h.answered));
}

PropertyResult check_c1(const Outcome& o, const Events& ev) {
  for (std::size_t i = 0; i < ev.sends.size(); ++i) {
    const Send& s = ev.sends[i];
    const int http = answer_status(ev, s);
    if (http < 0 || (http >= 200 && http < 300)) continue;
    if (http == 413) continue;  // C4
    const bool again = s.one ? s.status == "retry" : s.status == "retry_batch" || s.status == "retry_individual";
    const bool retryable = retryable_answer(o, ev, s);
    const std::string answer = (http == 0 ? std::string("a transport error") : "HTTP " + std::to_string(http)) +
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
  if (!o.entry->capabilities.bulk) return pass("C1");
  // The bulk path, from the answers in the trace: the answer an upload's,
  // poll's or stats request's outcome came from, against the declared table.
  std::map<JobId, std::string> hidden;
  bool hidden_built = false;
  for (std::size_t i = 0; i < ev.uploads.size(); ++i) {
    const Upload& u = ev.uploads[i];
    for (const auto& [req, decided] : u.start >= 0 ? deciding_answers(ev, u)
                                                  : std::vector<std::pair<std::int64_t, std::vector<JobId>>>{}) {
      const int st = ev.http.at(req).status;
      const bool per_request = ev.http.at(req).carries.has_value();
      // An answer the manager went past within the upload (a channel
      // reopened after a 404 and the insert sent again) decided nothing by
      // itself: the upload's later answer for the same jobs did.
      bool superseded = false;
      if (per_request)
        for (const auto& [later, ids] : deciding_answers(ev, u))
          if (later > req && ids == decided) superseded = true;
      if (superseded) continue;
      if (retryable_status(o, st) && (u.outcome == "failed" || per_request)) {
        for (JobId id : decided) {
          if (!o.jobs().contains(id)) continue;
          const JobOutcome out = o.jobs().outcome(id);
          auto t = ev.terminal_at.find(id);
          if (out.state == JobState::failed && !out.outcome_unknown && t != ev.terminal_at.end() && t->second == u.result_t)
            return fail("C1", upload_name(u) + ": " + answer_name(ev, req) +
                                  " is retryable, yet its job " + std::to_string(id) + " ended failed: " + out.reason);
        }
      }
      if (permanent_status(o, st)) {
        if (!hidden_built) {
          hidden = hiding_faults(ev);
          hidden_built = true;
        }
        std::set<JobId> had(decided.begin(), decided.end());
        for (std::size_t k = i + 1; k < ev.uploads.size(); ++k) {
          const Upload& v = ev.uploads[k];
          if (v.start < 0 || !same_process(ev, u.result_t, v.start)) continue;
          for (JobId id : v.ids)
            if (had.count(id) && !hidden.count(id))
              return fail("C1", upload_name(u) + ": " + answer_name(ev, req) +
                                    " is not retryable, yet its job " + std::to_string(id) + " was uploaded again by " +
                                    upload_name(v) + " at " + format_duration(Duration(v.start)) +
                                    " (its outcome was known)");
        }
      }
    }
    for (const auto& a : u.poll_answers) {
      if (a.req < 0) continue;
      const int st = ev.http.at(a.req).status;
      if (retryable_status(o, st) && a.status == "failed")
        return fail("C1", upload_name(u) + ": a poll's " + answer_name(ev, a.req) +
                              " is retryable, yet the import was taken as failed");
      if (permanent_status(o, st) && a.status != "failed")
        return fail("C1", upload_name(u) + ": a poll's " + answer_name(ev, a.req) + " is not retryable, yet it was read as " +
                              a.status + " (polled again)");
    }
    for (const auto& a : u.stats_answers) {
      if (a.req < 0) continue;
      const int st = ev.http.at(a.req).status;
      if (permanent_status(o, st) && a.status == "fault")
        return fail("C1", upload_name(u) + ": a results request's " + answer_name(ev, a.req) +
                              " is not retryable, yet it was asked again");
      if (retryable_status(o, st) && a.status == "settled" && a.failed > 0)
        return fail("C1", upload_name(u) + ": a results request's " + answer_name(ev, a.req) + " is retryable, yet " +
                              std::to_string(a.failed) + " jobs were settled failed on it");
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

// The backoff the destination declares, re-derived here from its config
// (never from RetryPolicy, the code C3 checks): the delay before attempt n is
// drawn from [base × (1 − jitter), base], base = retry_delay_initial ×
// 2^(n−2) capped at retry_delay_max — the doubling both paths document
// (framework/batch.h: "the peer's 100 ms doubling"; bulk.h's multiplier 2).
// Without the keys, each path's documented defaults.
struct DeclaredBackoff {
  std::int64_t initial = 0, cap = 0;  // ns
  std::uint64_t jitter_num = 1, jitter_den = 5;

  std::int64_t base(int attempt) const {
    if (attempt < 2) return 0;
    std::int64_t b = initial;
    for (int i = 2; i < attempt && b < cap; ++i) b = b > cap / 2 ? cap : b * 2;
    return std::min(b, cap);
  }
  // The least delay (1 ns below the exact bound: the policy floors, a checker must not be stricter).
  std::int64_t least(int attempt) const {
    const auto b = static_cast<long double>(base(attempt));
    const long double lo = b * static_cast<long double>(jitter_den - jitter_num) / static_cast<long double>(jitter_den);
    return std::max<std::int64_t>(0, static_cast<std::int64_t>(lo) - 1);
  }
  std::int64_t most(int attempt) const { return base(attempt); }
};

DeclaredBackoff declared_backoff(const Outcome& o) {
  const bool bulk = o.entry->capabilities.bulk;
  DeclaredBackoff b;
  b.initial = config_duration(o, "retry_delay_initial", bulk ? std::chrono::seconds(5) : Duration(std::chrono::milliseconds(100))).count();
  b.cap = config_duration(o, "retry_delay_max", bulk ? std::chrono::minutes(5) : Duration(std::chrono::seconds(60))).count();
  if (has_key(o, "retry_jitter")) {
    const Ratio r = o.config.ratio("retry_jitter");
    b.jitter_num = r.num;
    b.jitter_den = r.den;
  }
  return b;
}

// The Retry-After an HTTP exchange's answer carried, read at its answer's
// time: the least wait it asked for, or (`most`) the longest it may mean.
std::optional<std::int64_t> retry_after_ns(const Outcome& o, const Events& ev, std::int64_t req, bool most = false) {
  auto it = ev.http.find(req);
  if (it == ev.http.end() || it->second.retry_after.empty()) return std::nullopt;
  Resp r{req, it->second.answered, it->second.status, it->second.retry_after, it->second.date};
  auto d = retry_after_of(r, o, r.t, most);
  if (!d) return std::nullopt;
  return d->count();
}

// C3: every retry's delay lies within the bounds the declared policy gives
// (computed above, independently of the retry code), is never shorter than
// a Retry-After the API sent (read from the HTTP answer itself), and is never
// longer than the cap unless a Retry-After the API sent to the same handler
// held it.
PropertyResult check_c3(const Outcome& o, const Events& ev) {
  const DeclaredBackoff p = declared_backoff(o);
  // Per handler: (answer time, Retry-After end) of every answer that carried one.
  std::map<std::string, std::vector<std::int64_t>> holds;
  auto ra_of = [&](const Send& s, bool most = false) -> std::int64_t {
    if (s.req >= 0) return retry_after_ns(o, ev, s.req, most).value_or(-1);
    return s.retry_after;
  };
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
    if (!prev || !same_process(ev, prev->t, next.sent)) continue;
    const std::int64_t gap = next.sent - prev->t;
    const std::int64_t lo = p.least(next.attempt), hi = p.most(next.attempt);
    const std::int64_t ra = ra_of(*prev);
    if (gap < lo)
      return fail("C3", send_name(next) + " came " + format_duration(Duration(gap)) + " after the answer to attempt " +
                            std::to_string(prev->attempt) + ", under the declared least delay " +
                            format_duration(Duration(lo)));
    if (ra >= 0 && gap < ra)
      return fail("C3", send_name(next) + " came " + format_duration(Duration(gap)) + " after an answer whose Retry-After asked for " +
                            format_duration(Duration(ra)));
    // The latest a send may wait for: the longest delay (or the Retry-After)
    // after the answer, or the end of a Retry-After the handler was answered
    // with before it went out (the processor holds every send for it).
    std::int64_t until = prev->t + std::max(hi, ra_of(*prev, true));
    for (std::size_t k = 0; k < i; ++k) {
      const Send& h = ev.sends[k];
      if (h.handler != next.handler || h.t > next.sent || !same_process(ev, h.t, next.sent)) continue;
      if (const std::int64_t r = ra_of(h, true); r >= 0) until = std::max(until, h.t + r);
    }
    if (next.sent > until)
      return fail("C3", send_name(next) + " came " + format_duration(Duration(gap)) +
                            " after the answer to attempt " + std::to_string(prev->attempt) +
                            ", over the declared longest delay " + format_duration(Duration(hi)) +
                            (ra >= 0 ? " (and its Retry-After " + format_duration(Duration(ra)) + ")" : "") +
                            " with no Retry-After of the handler holding it");
  }
  // The bulk path: a job's next upload starts within the delay bounds after
  // the upload that carried it before gave its slot back (where its jobs were
  // put back to wait; an upload carried again before its import ended was put
  // back when the upload was answered). Its attempt there is the number of
  // uploads that have carried it; the group put back together waits by its
  // most-tried job, so the least delay is judged by the job's own attempt and
  // the longest by the previous upload's most-tried job. The longest adds the
  // upload interval and the upload's own wait for an import slot.
  const Duration interval = config_duration(o, "upload_interval", Duration(0));
  std::map<JobId, std::size_t> last_upload;
  std::map<JobId, int> carried;
  std::vector<int> most_tried(ev.uploads.size(), 0);
  for (std::size_t ui = 0; ui < ev.uploads.size(); ++ui) {
    const Upload& u = ev.uploads[ui];
    if (u.start < 0) continue;
    for (JobId id : u.ids) most_tried[ui] = std::max(most_tried[ui], carried[id] + 1);
    for (JobId id : u.ids) {
      const int attempt = ++carried[id];
      auto it = last_upload.find(id);
      const std::size_t before = it == last_upload.end() ? ev.uploads.size() : it->second;
      last_upload[id] = ui;
      if (before == ev.uploads.size() || attempt < 2) continue;
      const Upload& prev = ev.uploads[before];
      if (prev.result_t < 0) continue;
      std::int64_t ref = prev.end_t >= 0 && prev.end_t <= u.start ? prev.end_t : prev.result_t;
      // A job the upload's own answer named (put back then, while the rest
      // of the upload's jobs went on into its import) waited from the answer.
      if (std::binary_search(prev.put_back.begin(), prev.put_back.end(), id)) ref = prev.result_t;
      if (ref > u.start || !same_process(ev, ref, u.start)) continue;
      const std::int64_t gap = u.start - ref;
      const std::int64_t ra =
          prev.outcome == "retry" && prev.answer_req >= 0 ? retry_after_ns(o, ev, prev.answer_req).value_or(-1) : -1;
      const std::int64_t lo = p.least(attempt);
      if (gap < lo)
        return fail("C3", upload_name(u) + " carries job " + std::to_string(id) + " (its attempt " +
                              std::to_string(attempt) + ") " + format_duration(Duration(gap)) + " after " +
                              upload_name(prev) + " put it back, under the declared least delay " +
                              format_duration(Duration(lo)));
      // The Retry-After is judged when the upload again reached the API (its
      // last request left): a manager may hold its own requests for it (Marketo
      // holds a throttled token endpoint) after the upload started.
      // A Retry-After binds the endpoint that answered it (I1): a retry that
      // reaches the API at another (a token endpoint throttled, the upload
      // endpoint free) is not held by it. The upload reached that endpoint
      // with its first request there while it ran (none: an upload cut off by
      // a crash while it held, or answered from elsewhere, never did).
      std::int64_t reached = -1;
      if (ra >= 0) {
        const std::string& endpoint = ev.http.at(prev.answer_req).endpoint;
        std::int64_t until = u.result_t >= 0 ? u.result_t : u.end_t >= 0 ? u.end_t : INT64_MAX;
        for (std::int64_t c : ev.crashes)
          if (c >= u.start) until = std::min(until, c);
        for (const Req& rq : ev.requests)
          if (rq.t >= u.start && rq.t <= until && rq.endpoint == endpoint) {
            reached = rq.t;
            break;
          }
      }
      if (ra >= 0 && reached >= 0 && reached - ref < ra)
        return fail("C3", upload_name(u) + " carries job " + std::to_string(id) + " to the API " +
                              format_duration(Duration(reached - ref)) + " after " + upload_name(prev) +
                              " was answered with a Retry-After of " + format_duration(Duration(ra)));
      const std::int64_t hi = p.most(most_tried[before] + 1);
      // An API that imposes waits in its own answers beside Retry-After
      // (Marketo's throttle codes in a 200) declares the longest of them.
      const std::int64_t api_wait = o.entry->capabilities.longest_api_wait.count();
      const std::int64_t ra_most = ra >= 0 ? retry_after_ns(o, ev, prev.answer_req, true).value_or(ra) : -1;
      const std::int64_t most = std::max({hi, ra_most, api_wait}) + interval.count() + u.slot_wait;
      if (gap > most)
        return fail("C3", upload_name(u) + " carries job " + std::to_string(id) + " " + format_duration(Duration(gap)) +
                              " after " + upload_name(prev) + " put it back, over the declared longest delay " +
                              format_duration(Duration(hi)) + " plus the upload interval " + format_duration(interval) +
                              " and " + format_duration(Duration(u.slot_wait)) + " waiting for an import slot");
    }
  }
  return pass("C3");
}

// C4, from the 413 answers (a send answered 413): the same set of records is
// never sent again unchanged; every record of a 413'd batch is later sent in
// a smaller request or alone; a record answered 413 alone ends failed as too
// large (or outcome unknown, when an earlier fault hid it) and is not retried.
// A restarted process knows nothing of the 413: only sends of the same process count.
std::map<std::string, std::vector<JobId>> records_by_stream(const Outcome& o);

// A job that ended "too large" was too large: a request or upload holding it
// was answered 413, or its record's payload (compact JSON) is over half
// the run's byte limit — a record of half the limit or less fits beside any
// envelope a destination wraps it in, so failing it drops a deliverable record
// (a limit read in the wrong unit, the wrong key, a stale default).
std::optional<PropertyResult> unjustified_too_large(const Outcome& o, const Events& ev) {
  const bool bulk = o.entry->capabilities.bulk;
  const RunLimit limit = bulk ? run_limit(o, {"file_bytes_max", "bytes_max"}, o.entry->capabilities.limits.bytes_max, true)
                              : run_limit(o, {"request_bytes_max", "bytes_max"}, o.entry->capabilities.limits.bytes_max,
                                          true);
  // Jobs a 413 named: a request holding them was answered 413 (alone: too
  // large by the API's word; in a batch the config forbids splitting or
  // sending alone: the batch ends with that cause, which C4 judges below).
  std::set<JobId> answered_413;
  for (const Send& s : ev.sends)
    if (answer_status(ev, s) == 413) answered_413.insert(s.ids.begin(), s.ids.end());
  for (const Upload& u : ev.uploads)
    if (u.answer_req >= 0) {
      auto h = ev.http.find(u.answer_req);
      if (h != ev.http.end() && h->second.status == 413) answered_413.insert(u.ids.begin(), u.ids.end());
    }
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(o.records.size()); ++i) {
    const Record& r = o.record(i);
    const JobOutcome out = o.jobs().outcome(r.id);
    if (out.kind != ReasonKind::too_large || out.state == JobState::succeeded || out.state == JobState::pending) continue;
    if (answered_413.count(r.id)) continue;
    const auto bytes = static_cast<std::int64_t>(dump_size(r.payload));
    if (bytes * 2 <= limit.value)
      return fail("C4", "job " + std::to_string(r.id) + " ended " + job_state_name(out.state) +
                            " as too large, but its record is " + std::to_string(bytes) + " bytes, at most half of " +
                            limit.name + ", and no request holding it was answered 413 (\"" + out.reason + "\")");
  }
  return std::nullopt;
}

PropertyResult check_c4(const Outcome& o, const Events& ev) {
  if (auto bad = unjustified_too_large(o, ev)) return *bad;
  if (o.entry->capabilities.bulk) return pass("C4");  // an upload is sized before it is sent (no 413 split)
  // Jobs of a stream the source failed (the sync says so) may end before
  // their smaller request: the failure discards what was not committed (F2).
  std::set<JobId> of_failed_stream;
  if (o.sync)
    for (const auto& [stream, ids] : records_by_stream(o)) {
      auto v = o.sync->streams.find(stream);
      if (v != o.sync->streams.end() && v->second.rfind("failed", 0) == 0) of_failed_stream.insert(ids.begin(), ids.end());
    }
  const bool may_split = !has_key(o, "split_on_413") || o.config.boolean("split_on_413");
  const bool may_send_alone = !has_key(o, "send_individual") || o.config.boolean("send_individual");
  const Duration window = has_key(o, "retry_window") ? o.config.duration("retry_window") : Duration(0);
  auto sorted = [](std::vector<JobId> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  auto crash_between = [&](std::int64_t from, std::int64_t to) {
    for (std::int64_t c : ev.crashes)
      if (c >= from && c <= to) return true;
    return false;
  };
  for (std::size_t i = 0; i < ev.sends.size(); ++i) {
    const Send& s = ev.sends[i];
    if (answer_status(ev, s) != 413) continue;
    const std::vector<JobId> set = sorted(s.ids);
    for (std::size_t k = i + 1; k < ev.sends.size(); ++k) {
      const Send& n = ev.sends[k];
      if (n.handler == s.handler && same_process(ev, s.t, n.sent) && sorted(n.ids) == set)
        return fail("C4", send_name(s) + " was answered 413 and the same records were sent again unchanged (" +
                              send_name(n) + ")");
    }
    for (JobId id : s.ids) {
      // When it ended after this send (a job offered again after a restart
      // ended once in the earlier process too).
      auto first_end = ev.terminal_at.find(id), last_end = ev.terminal_last.find(id);
      std::int64_t end = first_end == ev.terminal_at.end() ? INT64_MAX : first_end->second;
      if (end < s.t) end = last_end->second >= s.t ? last_end->second : INT64_MAX;
      if (crash_between(s.t, end)) continue;
      // It ended, then a crash undid that end (not yet durable) and a later
      // process delivered it again: its final outcome is that process's.
      if (last_end != ev.terminal_last.end() && end != INT64_MAX && last_end->second > end &&
          crash_between(end, last_end->second))
        continue;
      if (of_failed_stream.count(id) && end != INT64_MAX && o.jobs().outcome(id).state != JobState::succeeded) continue;
      // Its time budget ran out first (C6 judges that): the declared retry
      // window had passed since its first send when the job ended aborted.
      if (window.count() > 0 && end != INT64_MAX && o.jobs().outcome(id).state == JobState::aborted) {
        std::int64_t first = s.sent;
        for (const Send& e : ev.sends)
          if (std::find(e.ids.begin(), e.ids.end(), id) != e.ids.end()) first = std::min(first, e.sent);
        if (end - first > window.count()) continue;
      }
      if (set.size() > 1) {
        if (!may_split && !may_send_alone) continue;  // configured to abort such a batch
        bool smaller = false;
        for (std::size_t k = i + 1; k < ev.sends.size() && !smaller; ++k) {
          const Send& n = ev.sends[k];
          smaller = n.handler == s.handler && n.ids.size() < set.size() &&
                    std::find(n.ids.begin(), n.ids.end(), id) != n.ids.end();
        }
        if (!smaller)
          return fail("C4", send_name(s) + " was answered 413, but its job " + std::to_string(id) +
                                " was never sent in a smaller request or alone");
      } else {
        const JobOutcome out = o.jobs().outcome(id);
        if (out.state != JobState::failed || (out.kind != ReasonKind::too_large && !out.outcome_unknown))
          return fail("C4", "job " + std::to_string(id) + " was answered 413 alone (" + send_name(s) + ") but ended " +
                                job_state_name(out.state) + " with kind " + reason_kind_name(out.kind) + " (\"" +
                                out.reason + "\"), not failed as too large");
      }
    }
  }
  return pass("C4");
}

PropertyResult check_c6(const Outcome& o, const Events& ev) {
  const RetryPolicy p = configured_retry(o);
  if (p.elapsed_max.count() == 0) return na("C6", "retry_window is 0 (unbounded) in this configuration");
  std::map<JobId, std::int64_t> first;
  // `what` names the send or upload, built only for a failure (not per job).
  auto check = [&](JobId id, std::int64_t at, const auto& what) -> std::optional<PropertyResult> {
    auto [it, fresh] = first.emplace(id, at);
    // The job store keeps no first-attempt time: a restarted process starts a
    // job's window again (a restart loop is G1's business, not C6's).
    if (!fresh && !same_process(ev, it->second, at)) it->second = at;
    if (!fresh && at - it->second > p.elapsed_max.count())
      return fail("C6", what() + ": job " + std::to_string(id) + " sent " + format_duration(Duration(at - it->second)) +
                            " after its first attempt, past the retry window " + format_duration(p.elapsed_max));
    return std::nullopt;
  };
  for (const auto& s : ev.sends)
    for (JobId id : s.ids)
      if (auto r = check(id, s.sent, [&] { return send_name(s); })) return *r;
  for (const auto& u : ev.uploads)
    if (u.start >= 0)
      for (JobId id : u.ids)
        if (auto r = check(id, u.start, [&] { return upload_name(u); })) return *r;
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
  // the destination unless its job succeeded (committed by an earlier process)
  // or ended outcome_unknown (a commit whose answer was lost: A2 judges that a
  // fault really hid it).
  if (o.entry->capabilities.stages) {
    const auto by_stream = records_by_stream(o);
    const std::vector<std::int64_t>& copies = copies_of(o, ev);
    std::map<JobId, std::int64_t> copies_of;
    for (std::int64_t i = 0; i < o.input_size; ++i) copies_of[o.record(i).id] = copies[static_cast<std::size_t>(i)];
    for (const auto& [stream, verdict] : o.sync->streams) {
      if (verdict.rfind("failed", 0) != 0) continue;
      auto it = by_stream.find(stream);
      if (it == by_stream.end()) continue;
      for (JobId id : it->second) {
        if (o.jobs().contains(id) &&
            (o.jobs().outcome(id).state == JobState::succeeded || o.jobs().outcome(id).outcome_unknown))
          continue;
        if (copies_of[id] > 0)
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

// Bounds add and multiply saturating at a century: a bound that large means
// "no bound", never one wrapped round to a negative duration (a 100,000-hour
// poll timeout times the imports once did).
constexpr std::int64_t kBoundCapNs = 100LL * 365 * 24 * 3'600 * 1'000'000'000;
Duration sat_add(Duration a, Duration b) {
  const std::int64_t x = std::clamp<std::int64_t>(a.count(), 0, kBoundCapNs);
  const std::int64_t y = std::clamp<std::int64_t>(b.count(), 0, kBoundCapNs);
  return Duration(std::min(kBoundCapNs, x + y));
}
template <class... D>
Duration sat_sum(Duration a, D... rest) {
  ((a = sat_add(a, rest)), ...);
  return a;
}
Duration sat_mul(Duration a, std::int64_t n) {
  const std::int64_t x = std::clamp<std::int64_t>(a.count(), 0, kBoundCapNs);
  if (n <= 0 || x == 0) return Duration(0);
  return x > kBoundCapNs / n ? Duration(kBoundCapNs) : Duration(x * n);
}

Duration quiescence_bound(const Outcome& o, const Scenario& s, const Events& ev) {
  Duration last_arrival = o.arrivals.empty() ? Duration(0) : o.arrivals.back();
  Duration flush{0}, window{0}, delay_max{0}, spacing{0};
  std::int64_t attempts = 1;
  for (const auto& k : o.entry->schema) {
    if (k.name == "flush_interval") flush = o.config.duration("flush_interval");
    if (k.name == "retry_window") window = o.config.duration("retry_window");
    if (k.name == "retry_delay_max") delay_max = o.config.duration("retry_delay_max");
    if (k.name == "max_retries") attempts = o.config.integer("max_retries");
    if (k.name == "max_attempts") attempts = o.config.integer("max_attempts");
    if (k.name == "upload_interval") flush = o.config.duration("upload_interval");
    // Client-side pacing the destination declares in its config: every
    // request may wait this long behind the one before it.
    if (k.name == "requests_per_second" && o.config.integer("requests_per_second") > 0)
      spacing = std::max(spacing, Duration(std::chrono::seconds(1)) / o.config.integer("requests_per_second"));
    if (k.name == "requests_per_minute" && o.config.integer("requests_per_minute") > 0)
      spacing = std::max(spacing, Duration(std::chrono::minutes(1)) / o.config.integer("requests_per_minute"));
  }
  Duration longest_retry_after{0}, all_retry_after{0};
  for (const auto& r : ev.responses) {
    if (auto ra = retry_after_of(r, o, r.t, true)) {
      longest_retry_after = std::max(longest_retry_after, *ra);
      all_retry_after = sat_add(all_retry_after, *ra);  // holds may follow one another: each can delay everything after it
    }
  }
  // Likewise requests that waited out the whole request timeout: one lane
  // (async off, one import slot) serializes them.
  for (const auto& [req, h] : ev.http)
    if (h.status == 0 && h.error == "timeout") all_retry_after = sat_add(all_retry_after, s.request_timeout);
  // A record may go through a batch phase and a single phase, each bounded by
  // the retry window (or attempts × (longest wait + timeout) when unbounded).
  Duration per_attempt = std::max({delay_max, longest_retry_after, o.entry->capabilities.longest_api_wait}) +
                         s.request_timeout + s.latency;
  Duration phase = window.count() > 0 ? sat_add(window, per_attempt) : sat_mul(per_attempt, attempts);
  std::int64_t rate = o.entry->capabilities.rate_per_second;
  Duration pacing = rate > 0 ? std::chrono::seconds(1) * (o.input_size / rate + 1) : Duration(0);
  Duration restarts{0};
  for (const auto& c : s.crashes) restarts += c.restart_after + (c.at ? *c.at : Duration(0));
  for (const auto& e : s.events)  // a start (or a config change) after a stop: the time down, and the run again
    if (e.kind == ControlEvent::Kind::start || e.kind == ControlEvent::Kind::config) restarts += e.at;
  if (o.entry->capabilities.bulk) {
    // Each attempt is an upload that may be polled up to the poll timeout; the
    // imports queue behind the import concurrency.
    const Duration timeout = sat_add(o.config.duration("poll_timeout"), o.config.duration("poll_interval"));
    // Records per upload as this run was configured (profiles_per_upload 1
    // makes one import per record; an upload carries at most what the staging
    // buffer holds, max_buffer_size).
    const std::int64_t per_upload = std::max<std::int64_t>(
        1, run_limit(o, {"records_max", "profiles_per_upload", "max_buffer_size"},
                     o.entry->capabilities.limits.records_max, false)
               .value);
    const std::int64_t concurrency = std::max<std::int64_t>(1, o.config.integer("imports_in_flight"));
    // ... and the bytes per upload file (a padded record alone may fill one):
    // the records' own payloads count against file_bytes_max/bytes_max. An
    // upload the run made counts too, whatever split it.
    const std::int64_t file_bytes = std::max<std::int64_t>(
        1, run_limit(o, {"file_bytes_max", "bytes_max"}, o.entry->capabilities.limits.bytes_max, true).value);
    std::int64_t by_bytes = 0, filled = 0;
    for (const std::int64_t b : o.payload_sizes()) {
      if (filled > 0 && filled + b > file_bytes) {
        ++by_bytes;
        filled = 0;
      }
      filled += b;
    }
    const std::int64_t imports = std::max({(o.input_size + per_upload - 1) / per_upload, by_bytes,
                                           static_cast<std::int64_t>(ev.uploads.size())}) + 1;
    const std::int64_t rounds = (imports + concurrency - 1) / concurrency;
    // Under client-side pacing each import's requests (its upload, its polls
    // up to the poll timeout, its results) may each wait a full spacing.
    // (Polls come at least a spacing apart; the product saturates rather than
    // overflow for a config of millisecond polls over hours.)
    const std::int64_t polls =
        o.config.duration("poll_timeout") / std::max({Duration(1), o.config.duration("poll_interval"), spacing}) + 1;
    const Duration paced = sat_mul(sat_mul(sat_mul(spacing, polls + 3), imports), attempts);
    return sat_sum(last_arrival, flush, sat_mul(sat_mul(sat_add(timeout, per_attempt), rounds), attempts), phase,
                   restarts, pacing, paced, all_retry_after, std::chrono::minutes(1));
  }
  // Each process may pass every serial phase again.
  const std::int64_t phases =
      std::max(1, o.entry->capabilities.serial_phases) * (1 + static_cast<std::int64_t>(s.crashes.size()));
  const Duration paced = sat_mul(sat_mul(spacing, o.input_size + 1), attempts * 2);
  return sat_sum(last_arrival, flush, sat_mul(phase, phases), pacing, paced, restarts, all_retry_after,
                 std::chrono::minutes(1));
}

}  // namespace

Duration run_time_bound(const Outcome& o, const Scenario& s) {
  const Events none;
  const std::int64_t cap = std::chrono::duration_cast<Duration>(std::chrono::hours(24 * 365 * 100)).count();
  auto add = [&](std::int64_t a, std::int64_t b) { return a > cap - b ? cap : a + b; };
  const std::int64_t bound = std::min(quiescence_bound(o, s, none).count(), cap / 2);
  const std::int64_t arrivals =
      s.pace.count() > 0 && o.input_size > cap / s.pace.count() ? cap : s.pace.count() * o.input_size;
  return Duration(add(add(2 * bound, arrivals), Duration(std::chrono::hours(24 * 7)).count()));
}

namespace {

PropertyResult check_one(const std::string& id, const Outcome& o, const Scenario& s, const Events& ev) {
  const Capabilities& caps = o.entry->capabilities;
  if (!o.status.ok()) {
    // A run cut short as a hang (still busy at the bound, or over the step
    // bound) is G1's failure; the others cannot judge a run that never ended
    // (and failing them all would shrink the same hang once per property).
    const ErrorCode code = o.status.error().code;
    if ((code == ErrorCode::hang || code == ErrorCode::step_bound) && id != "G1")
      return na(id, "the run never ended (G1): " + o.status.error().message);
    return fail(id, "the run did not end normally: " + o.status.error().message);
  }
  static const std::set<std::string> bulk_only = {"A5", "B5", "D1", "D2", "D3", "D4", "D5", "D6"};
  if (!caps.bulk && bulk_only.count(id)) return na(id, "bulk: the destination is on the batch path");
  if (id == "A1") return check_a1(o, ev);
  if (id == "A2") return check_a2(o, ev);
  if (id == "A3") return check_a3(o, ev);
  if (id == "A4") return check_a4(o, ev);
  if (id == "B1") return check_b1(o, ev);
  if (id == "B2") return check_b2(o, ev);
  if (id == "B3") return check_b3(o);
  if (id == "B4") return check_b4(o, ev);
  if (id == "C1") return check_c1(o, ev);
  if (id == "C2") return check_c2(o, ev);
  if (id == "C3") return check_c3(o, ev);
  if (id == "C4") return check_c4(o, ev);
  if (id == "C6") return check_c6(o, ev);
  if (id == "G2") return check_g2(o, ev);
  if (id == "C5") return check_c5(o, ev);
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
