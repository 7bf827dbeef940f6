// trace_events.h — the typed trace contract: one struct per event kind that
// anything reads back (the conformance checkers, certify's reachability, tests).
//
// Each struct lists its fields once, in `fields(self, visitor)`; the same list
// writes the JSONL line (`emit`) and reads it back (`parse_trace_line`), so the
// two sides cannot drift apart. Reading is strict: a missing key, a key of the
// wrong type or a key the struct does not declare is an error naming the kind
// and the key — never a default. `std::optional` fields are the only ones that
// may be absent, and they are absent exactly when the emitter had no value.
//
// In a run, the trace hands every typed event to its observer (`TraceObserver`)
// as the struct itself, so in-process checkers never parse text; JSONL stays the
// file format, the hash input and what `--trace` writes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "framework/job.h"
#include "framework/result.h"
#include "framework/time.h"
#include "framework/trace.h"

namespace destsim {

/// Job ids as a trace field: written as compact ranges ("1-40,42"), read back strictly.
struct JobIds {
  std::vector<JobId> ids;
  bool operator==(const JobIds&) const = default;
};
/// "1-40,42" for {1..40, 42} (ids in the order given; runs of consecutive ids collapse).
std::string format_id_ranges(const std::vector<JobId>& ids);
/// The inverse of format_id_ranges; an error names what is malformed.
Result<std::vector<JobId>> parse_id_ranges(std::string_view text);

namespace ev {

// ---- HTTP (the sim door, the real client, the HTTP door) ----

/// A request leaving a transport.
struct HttpRequest {
  static constexpr std::string_view kind = "http.request";
  std::int64_t req = 0;
  std::string method, host, path;
  std::int64_t bytes = 0;
  /// The jobs whose fate this request's answer decides, when a bulk manager
  /// sends several requests per upload (Request::carries); absent otherwise
  /// (the upload's jobs).
  std::optional<JobIds> carries = std::nullopt;
  template <class S, class V> static void fields(S& s, V& v) {
    v("req", s.req), v("method", s.method), v("host", s.host), v("path", s.path), v("bytes", s.bytes),
        v("carries", s.carries);
  }
  bool operator==(const HttpRequest&) const = default;
};

/// The answer to request `req`.
struct HttpResponse {
  static constexpr std::string_view kind = "http.response";
  std::int64_t req = 0;
  std::int64_t status = 0;
  std::int64_t bytes = 0;
  bool injected = false;
  std::optional<std::string> retry_after;  // the Retry-After header as sent
  std::optional<std::string> date;         // the answer's Date header, beside a Retry-After (the API's clock)
  template <class S, class V> static void fields(S& s, V& v) {
    v("req", s.req), v("status", s.status), v("bytes", s.bytes), v("injected", s.injected),
        v("retry_after", s.retry_after), v("date", s.date);
  }
  bool operator==(const HttpResponse&) const = default;
};

/// Request `req` ended in a transport error; `applied` when the API may have applied it.
struct HttpError {
  static constexpr std::string_view kind = "http.error";
  std::int64_t req = 0;
  std::string error;  // transport_error_kind_name
  bool applied = false;
  bool injected = false;
  template <class S, class V> static void fields(S& s, V& v) {
    v("req", s.req), v("error", s.error), v("applied", s.applied), v("injected", s.injected);
  }
  bool operator==(const HttpError&) const = default;
};

/// A fault rule decided a request (HTTP: `req`) or a file operation (SFTP: `op`).
struct Fault {
  static constexpr std::string_view kind = "fault";
  std::optional<std::int64_t> req;
  std::optional<std::string> op;
  std::int64_t rule = 0;
  std::string fault;  // fault_kind_name / the file fault's action
  std::optional<bool> after;  // file operations: the fault hit after the server applied it
  std::optional<std::int64_t> status;  // file operations: the status a respond fault answered
  template <class S, class V> static void fields(S& s, V& v) {
    v("req", s.req), v("op", s.op), v("rule", s.rule), v("fault", s.fault), v("after", s.after), v("status", s.status);
  }
  bool operator==(const Fault&) const = default;
};

// ---- Jobs ----

/// A job reached its terminal state.
struct JobTerminal {
  static constexpr std::string_view kind = "job";
  std::int64_t id = 0;
  std::string state;  // job_state_name
  std::string reason;
  bool outcome_unknown = false;
  bool resent_after_unknown = false;
  std::string reason_kind = "none";  // reason_kind_name ("none" for a succeeded job)
  template <class S, class V> static void fields(S& s, V& v) {
    v("id", s.id), v("state", s.state), v("reason", s.reason), v("outcome_unknown", s.outcome_unknown),
        v("resent_after_unknown", s.resent_after_unknown), v("reason_kind", s.reason_kind);
  }
  bool operator==(const JobTerminal&) const = default;
};

// ---- The batch path (Processor) ----

/// A batch was sent and its answer classified.
struct BatchSent {
  static constexpr std::string_view kind = "batch";
  std::string handler;
  std::int64_t records = 0;
  std::int64_t attempt = 0;
  std::string status;  // batch_status_name
  JobIds ids;
  std::int64_t sent = 0;  // ns: when it left (after any Retry-After hold)
  std::int64_t held = 0;  // ns held back before sending
  std::int64_t http = 0;  // HTTP status, 0 = none (transport error)
  std::optional<std::int64_t> oldest, flushed;  // first attempts: first record's arrival, flush time (ns)
  std::optional<std::int64_t> retry_after;       // ns
  bool too_large = false;
  std::int64_t foreign = 0;  // ids the answer named that were not in the batch
  std::optional<std::string> code = {};  // the API's error code in the answer, when it named one
  template <class S, class V> static void fields(S& s, V& v) {
    v("handler", s.handler), v("records", s.records), v("attempt", s.attempt), v("status", s.status),
        v("ids", s.ids), v("sent", s.sent), v("held", s.held), v("http", s.http), v("oldest", s.oldest),
        v("flushed", s.flushed), v("retry_after", s.retry_after), v("too_large", s.too_large),
        v("foreign", s.foreign), v("code", s.code);
  }
  bool operator==(const BatchSent&) const = default;
};

/// A record sent alone and its verdict (ok, retry, fail).
struct OneSent {
  static constexpr std::string_view kind = "one";
  std::string handler;
  std::int64_t id = 0;
  std::int64_t attempt = 0;
  std::string verdict;
  std::int64_t sent = 0, held = 0, http = 0;
  std::optional<std::int64_t> retry_after;
  bool too_large = false;
  std::optional<std::string> code = {};  // as in BatchSent
  template <class S, class V> static void fields(S& s, V& v) {
    v("handler", s.handler), v("id", s.id), v("attempt", s.attempt), v("verdict", s.verdict), v("sent", s.sent),
        v("held", s.held), v("http", s.http), v("retry_after", s.retry_after), v("too_large", s.too_large),
        v("code", s.code);
  }
  bool operator==(const OneSent&) const = default;
};

/// An endpoint is held by a Retry-After.
struct RetryAfterHold {
  static constexpr std::string_view kind = "retry_after";
  std::string handler;
  Duration wait{0};
  template <class S, class V> static void fields(S& s, V& v) { v("handler", s.handler), v("wait", s.wait); }
  bool operator==(const RetryAfterHold&) const = default;
};

/// A batch answered 413 was split in two.
struct Split {
  static constexpr std::string_view kind = "split";
  std::string handler;
  std::int64_t records = 0;
  template <class S, class V> static void fields(S& s, V& v) { v("handler", s.handler), v("records", s.records); }
  bool operator==(const Split&) const = default;
};

// ---- The bulk path (BulkRouter) ----

/// An upload takes an import slot and goes to the API.
struct UploadStart {
  static constexpr std::string_view kind = "bulk.upload_start";
  std::int64_t upload = 0;
  std::int64_t records = 0;
  JobIds ids;
  std::int64_t oldest = 0;     // ns: arrival of its oldest record
  std::int64_t slot_wait = 0;  // ns waited for an import slot
  std::int64_t attempt = 0;
  std::int64_t bytes = 0;  // the upload file's bytes (header, items, separators) before any encoding (B1)
  template <class S, class V> static void fields(S& s, V& v) {
    v("upload", s.upload), v("records", s.records), v("ids", s.ids), v("oldest", s.oldest),
        v("slot_wait", s.slot_wait), v("attempt", s.attempt), v("bytes", s.bytes);
  }
  bool operator==(const UploadStart&) const = default;
};

/// Jobs join the staging queue (a new record, or a retry come due): when each
/// job waited for an upload, so B5 sees the jobs an upload left for the next one.
struct Staged {
  static constexpr std::string_view kind = "bulk.staged";
  JobIds ids;
  template <class S, class V> static void fields(S& s, V& v) { v("ids", s.ids); }
  bool operator==(const Staged&) const = default;
};

/// A request that decides staged jobs' fate (a staged table's commit) was
/// answered: traced right after its answer, so the checkers tie that answer
/// (and any fault that hid it) to the jobs it carried (A2).
struct Committing {
  static constexpr std::string_view kind = "commit.answered";
  std::string what;
  JobIds ids;
  template <class S, class V> static void fields(S& s, V& v) { v("what", s.what), v("ids", s.ids); }
  bool operator==(const Committing&) const = default;
};

/// How an upload was answered, and its outcome sets' sizes (A5).
struct UploadResult {
  static constexpr std::string_view kind = "bulk.upload";
  std::string manager;
  std::int64_t upload = 0;
  std::int64_t records = 0;
  std::string outcome;  // importing | completed | retry | failed
  std::string import;
  std::int64_t importing = 0, named = 0, unaccounted = 0, overlap = 0, foreign = 0;
  /// An importing upload whose answer also settled some of its jobs (a
  /// multi-file upload with a file refused): those jobs, put back or ended
  /// at the answer while the rest went on into the import.
  std::optional<JobIds> put_back;
  template <class S, class V> static void fields(S& s, V& v) {
    v("manager", s.manager), v("upload", s.upload), v("records", s.records), v("outcome", s.outcome),
        v("import", s.import), v("importing", s.importing), v("named", s.named), v("unaccounted", s.unaccounted),
        v("overlap", s.overlap), v("foreign", s.foreign), v("put_back", s.put_back);
  }
  bool operator==(const UploadResult&) const = default;
};

/// A poll of an import is sent.
struct Poll {
  static constexpr std::string_view kind = "bulk.poll";
  std::int64_t upload = 0;
  std::string import;
  template <class S, class V> static void fields(S& s, V& v) { v("upload", s.upload), v("import", s.import); }
  bool operator==(const Poll&) const = default;
};

/// A poll's answer: running | completed | failed | unknown | fault.
struct Polled {
  static constexpr std::string_view kind = "bulk.polled";
  std::int64_t upload = 0;
  std::string import;
  std::string status;
  template <class S, class V> static void fields(S& s, V& v) {
    v("upload", s.upload), v("import", s.import), v("status", s.status);
  }
  bool operator==(const Polled&) const = default;
};

/// The results (stats) request of a completed import failed transiently.
struct StatsFault {
  static constexpr std::string_view kind = "bulk.stats";
  std::int64_t upload = 0;
  std::string import;
  std::string status;  // "fault"
  template <class S, class V> static void fields(S& s, V& v) {
    v("upload", s.upload), v("import", s.import), v("status", s.status);
  }
  bool operator==(const StatsFault&) const = default;
};

/// An import ended by the poll timeout.
struct PollTimeout {
  static constexpr std::string_view kind = "bulk.poll_timeout";
  std::int64_t upload = 0;
  std::string import;
  std::int64_t jobs = 0;
  template <class S, class V> static void fields(S& s, V& v) {
    v("upload", s.upload), v("import", s.import), v("jobs", s.jobs);
  }
  bool operator==(const PollTimeout&) const = default;
};

/// Per-job outcomes settled from an answer (`from`: upload | poll | stats).
struct Settle {
  static constexpr std::string_view kind = "bulk.settle";
  std::int64_t upload = 0;
  std::string from;
  std::int64_t ok = 0, failed = 0, retry = 0, unmentioned = 0;
  template <class S, class V> static void fields(S& s, V& v) {
    v("upload", s.upload), v("from", s.from), v("ok", s.ok), v("failed", s.failed), v("retry", s.retry),
        v("unmentioned", s.unmentioned);
  }
  bool operator==(const Settle&) const = default;
};

/// After a restart: an upload the store held is taken over ("" import = id lost).
struct Resume {
  static constexpr std::string_view kind = "bulk.resume";
  std::string manager;
  std::int64_t upload = 0;
  std::string import;
  std::int64_t jobs = 0;
  template <class S, class V> static void fields(S& s, V& v) {
    v("manager", s.manager), v("upload", s.upload), v("import", s.import), v("jobs", s.jobs);
  }
  bool operator==(const Resume&) const = default;
};

/// A resumed import takes an import slot.
struct ResumeStart {
  static constexpr std::string_view kind = "bulk.resume_start";
  std::int64_t upload = 0;
  template <class S, class V> static void fields(S& s, V& v) { v("upload", s.upload); }
  bool operator==(const ResumeStart&) const = default;
};

/// An upload or import gives its slot back.
struct ImportEnd {
  static constexpr std::string_view kind = "bulk.import_end";
  std::int64_t upload = 0;
  template <class S, class V> static void fields(S& s, V& v) { v("upload", s.upload); }
  bool operator==(const ImportEnd&) const = default;
};

/// The router reached a named crash step and the harness crashed it there.
struct CrashPointHit {
  static constexpr std::string_view kind = "bulk.crash_point";
  std::string step;
  template <class S, class V> static void fields(S& s, V& v) { v("step", s.step); }
  bool operator==(const CrashPointHit&) const = default;
};

// ---- The sync lifecycle (Sync) ----

struct SyncStart {
  static constexpr std::string_view kind = "sync.start";
  std::int64_t streams = 0;
  template <class S, class V> static void fields(S& s, V& v) { v("streams", s.streams); }
  bool operator==(const SyncStart&) const = default;
};
struct SyncSetup {
  static constexpr std::string_view kind = "sync.setup";
  bool ok = false;
  template <class S, class V> static void fields(S& s, V& v) { v("ok", s.ok); }
  bool operator==(const SyncSetup&) const = default;
};
struct SyncOpen {
  static constexpr std::string_view kind = "sync.open";
  std::string stream;
  bool ok = false;
  template <class S, class V> static void fields(S& s, V& v) { v("stream", s.stream), v("ok", s.ok); }
  bool operator==(const SyncOpen&) const = default;
};
struct SyncFirstRecord {
  static constexpr std::string_view kind = "sync.first_record";
  std::string stream;
  std::int64_t id = 0;
  template <class S, class V> static void fields(S& s, V& v) { v("stream", s.stream), v("id", s.id); }
  bool operator==(const SyncFirstRecord&) const = default;
};
/// A checkpoint released: every record before it is terminal.
struct SyncState {
  static constexpr std::string_view kind = "sync.state";
  std::string stream;
  std::int64_t seq = 0;
  std::int64_t records = 0;
  nlohmann::json state;
  template <class S, class V> static void fields(S& s, V& v) {
    v("stream", s.stream), v("seq", s.seq), v("records", s.records), v("state", s.state);
  }
  bool operator==(const SyncState&) const = default;
};
struct SyncEnd {
  static constexpr std::string_view kind = "sync.end";
  std::string stream;
  template <class S, class V> static void fields(S& s, V& v) { v("stream", s.stream); }
  bool operator==(const SyncEnd&) const = default;
};
struct SyncClose {
  static constexpr std::string_view kind = "sync.close";
  std::string stream;
  bool committed = false;
  std::int64_t records = 0;
  template <class S, class V> static void fields(S& s, V& v) {
    v("stream", s.stream), v("committed", s.committed), v("records", s.records);
  }
  bool operator==(const SyncClose&) const = default;
};
struct SyncStreamFailed {
  static constexpr std::string_view kind = "sync.stream_failed";
  std::string stream, reason;
  template <class S, class V> static void fields(S& s, V& v) { v("stream", s.stream), v("reason", s.reason); }
  bool operator==(const SyncStreamFailed&) const = default;
};
struct SyncFailure {
  static constexpr std::string_view kind = "sync.failure";
  std::string reason;
  template <class S, class V> static void fields(S& s, V& v) { v("reason", s.reason); }
  bool operator==(const SyncFailure&) const = default;
};
struct SyncTeardown {
  static constexpr std::string_view kind = "sync.teardown";
  bool ok = false;
  template <class S, class V> static void fields(S& s, V& v) { v("ok", s.ok); }
  bool operator==(const SyncTeardown&) const = default;
};

// ---- The harness's run (conformance/runner) ----

struct RunStart {
  static constexpr std::string_view kind = "run.start";
  std::string scenario, destination;
  std::int64_t seed = 0;
  std::int64_t records = 0;
  template <class S, class V> static void fields(S& s, V& v) {
    v("scenario", s.scenario), v("destination", s.destination), v("seed", s.seed), v("records", s.records);
  }
  bool operator==(const RunStart&) const = default;
};
/// The framework process crashed (`point`: a step name or "at <time>").
struct RunCrash {
  static constexpr std::string_view kind = "run.crash";
  std::string point;
  std::int64_t undone_writes = 0;
  template <class S, class V> static void fields(S& s, V& v) { v("point", s.point), v("undone_writes", s.undone_writes); }
  bool operator==(const RunCrash&) const = default;
};
/// A crash point came due while the process was already down.
struct RunCrashSkipped {
  static constexpr std::string_view kind = "run.crash_skipped";
  std::string point;
  template <class S, class V> static void fields(S& s, V& v) { v("point", s.point); }
  bool operator==(const RunCrashSkipped&) const = default;
};
struct RunRestart {
  static constexpr std::string_view kind = "run.restart";
  std::int64_t resumed_jobs = 0;
  std::int64_t pending = 0;
  template <class S, class V> static void fields(S& s, V& v) { v("resumed_jobs", s.resumed_jobs), v("pending", s.pending); }
  bool operator==(const RunRestart&) const = default;
};
/// A control event of the scenario's timeline: stop, start, config, fake,
/// clock_skew; `detail` says what (the operation, the new skew), `skipped`
/// when it found nothing to act on (a stop while down).
struct RunControl {
  static constexpr std::string_view kind = "run.control";
  std::string what;
  std::string detail;
  bool skipped = false;
  template <class S, class V> static void fields(S& s, V& v) { v("what", s.what), v("detail", s.detail), v("skipped", s.skipped); }
  bool operator==(const RunControl&) const = default;
};
struct RunDrained {
  static constexpr std::string_view kind = "run.drained";
  std::int64_t records = 0;
  template <class S, class V> static void fields(S& s, V& v) { v("records", s.records); }
  bool operator==(const RunDrained&) const = default;
};

}  // namespace ev

/// Every event kind that is read back. Adding a kind: a struct above, and here.
using TraceEvent =
    std::variant<ev::HttpRequest, ev::HttpResponse, ev::HttpError, ev::Fault, ev::JobTerminal, ev::BatchSent,
                 ev::OneSent, ev::RetryAfterHold, ev::Split, ev::UploadStart, ev::Staged, ev::Committing, ev::UploadResult, ev::Poll, ev::Polled,
                 ev::StatsFault, ev::PollTimeout, ev::Settle, ev::Resume, ev::ResumeStart, ev::ImportEnd,
                 ev::CrashPointHit, ev::SyncStart, ev::SyncSetup, ev::SyncOpen, ev::SyncFirstRecord, ev::SyncState,
                 ev::SyncEnd, ev::SyncClose, ev::SyncStreamFailed, ev::SyncFailure, ev::SyncTeardown, ev::RunStart,
                 ev::RunCrash, ev::RunCrashSkipped, ev::RunRestart, ev::RunControl, ev::RunDrained>;

/// A typed event and its virtual time (ns since the run's start).
struct TimedEvent {
  std::int64_t t = 0;
  TraceEvent event;
};

// An event is moved into a kept trace (TraceObserver::on_event), never copied.
static_assert(std::is_nothrow_move_constructible_v<TimedEvent>);

/// The kind string of a typed event.
std::string_view event_kind(const TraceEvent& e);

/// Receives every typed event a trace commits, in order (the in-process reader).
class TraceObserver {
 public:
  virtual ~TraceObserver() = default;
  /// The event is the observer's to keep (moved in: a kept trace copies each event once).
  virtual void on_event(TimedEvent&& e) = 0;
};

namespace trace_detail {

// Writes one field into a trace line.
struct Writer {
  Trace::Event& e;
  void operator()(std::string_view k, const std::string& v) { e.str(k, v); }
  void operator()(std::string_view k, std::int64_t v) { e.num(k, v); }
  void operator()(std::string_view k, bool v) { e.flag(k, v); }
  void operator()(std::string_view k, Duration v) { e.dur(k, v); }
  void operator()(std::string_view k, const JobIds& v) { e.str(k, format_id_ranges(v.ids)); }
  void operator()(std::string_view k, const nlohmann::json& v) { e.raw(k, v.dump()); }
  template <class T> void operator()(std::string_view k, const std::optional<T>& v) {
    if (v) (*this)(k, *v);
  }
};

}  // namespace trace_detail

/// Appends `event` to `trace` at `at` (one JSONL line) and hands it to the
/// trace's observer, if any.
template <class E> void emit(Trace& trace, Time at, const E& event) {
  {
    Trace::Event line = trace.event(at, E::kind);
    trace_detail::Writer w{line};
    E::fields(event, w);
  }
  if (TraceObserver* o = trace.observer()) o->on_event(TimedEvent{to_ns(at), TraceEvent(event)});
}

/// Reads one JSONL trace line. A kind that is not typed gives nullopt; a typed
/// kind with a missing, mistyped or undeclared key is an error naming it.
Result<std::optional<TimedEvent>> parse_trace_line(std::string_view line);
/// Reads a parsed trace object (the same rules as parse_trace_line).
Result<std::optional<TimedEvent>> parse_trace_event(const nlohmann::json& j);

}  // namespace destsim
