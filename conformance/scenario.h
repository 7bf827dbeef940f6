// scenario.h — scenario files, version 2 (version 1 still loads): an incident as data.
//
// A scenario names a destination and its config, the fake it meets (its own, or
// another such as `scripted`) and the fake's seeded state, the input (literal
// records or a seeded generator), a fault plan, the transport's timing, control
// events on a virtual timeline (crash, stop, start, a config change, an
// operation on the fake, a clock skew), and expectations (job states and counts,
// per-job attempts, batch composition and latency, request bounds, a
// virtual-time deadline, conformance properties) — or that it must be rejected
// at load. The reference is scenarios/README.md. Loading validates everything
// and names the file, the JSON path and what was expected.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fakes/fault_plan.h"
#include "framework/lifecycle.h"
#include "framework/job.h"
#include "framework/result.h"
#include "framework/rng.h"
#include "framework/time.h"

namespace destsim {

/// The version written; version 1 files load too (migrated in memory:
/// `crashes` became crash events). `destsim migrate` rewrites a file.
inline constexpr int kScenarioVersion = 2;
inline constexpr int kScenarioVersionOldest = 1;
/// Bounds on a scenario's timeline and seeded state (a scenario is input).
inline constexpr std::size_t kScenarioEventsMax = 10'000;
inline constexpr std::size_t kFakeSeedOpsMax = 10'000;

struct GeneratedInput {
  std::int64_t records = 0;
  std::string type;
  Ratio invalid{0, 1};
  std::int64_t payload_bytes = 0;
  /// Share of records (after the first) that repeat an earlier record's row
  /// exactly under their own id: identical rows, half of them copies of
  /// record 1, so one user has many records.
  Ratio identical{0, 1};
  /// Share of records padded to `oversize_bytes` instead of `payload_bytes`:
  /// a few records at or over a byte limit (the API's hard cap) in a case of
  /// ordinary ones. Identical rows keep their source's size.
  Ratio oversize{0, 1};
  std::int64_t oversize_bytes = 0;
  /// Hostile text: free-text fields drawn from empty, blank, multi-byte,
  /// emoji, right-to-left, quoting and control-character strings, and padding
  /// made of two-byte characters (bytes are not characters).
  bool odd_text = false;
};

/// Padding a generated record may carry (payload_bytes, oversize_bytes).
inline constexpr std::int64_t kPaddingBytesMax = 64'000'000;

/// How far the API's clock may be from the destination's (transport.clock_skew).
inline constexpr Duration kClockSkewMax = std::chrono::hours(24 * 7);

struct InputRecord {
  Record record;
  Duration at{0};  // arrival time
};

struct CountBound {
  std::optional<std::int64_t> exactly, min, max;
};

struct JobExpectation {
  JobState state = JobState::pending;
  std::string reason_contains;
  std::optional<bool> outcome_unknown;
  /// Succeeded only after an earlier send's outcome was hidden (A3's flag).
  std::optional<bool> resent_after_unknown;
  /// How many sends (uploads on the bulk path) carried the job.
  std::optional<CountBound> attempts;
  /// The terminal reason's kind ("rate_limited"; framework/job.h).
  std::optional<ReasonKind> reason_kind;
  /// Batch composition: the first send that carried the job (a batch, an
  /// upload, or a record alone) carried exactly these jobs, itself included.
  std::optional<std::vector<JobId>> sent_with;
  /// Time from the record's arrival to the job's terminal state.
  std::optional<Duration> latency_min, latency_max;
};


/// A scenario run under a Sync (framework/lifecycle.h): the configured streams
/// and the non-record messages placed in the input.
struct SyncInput {
  struct Placed {
    std::int64_t after = 0;  // after the n-th input record (0 = before any)
    SyncMessage message;     // state, end or error
    bool undeclared = false; // names a stream the sync was not configured with, on purpose
  };
  std::vector<StreamSpec> streams;
  std::int64_t state_every = 0;  // a state message after every n records of a stream (0 = none)
  std::vector<Placed> messages;
  bool end = true;               // end every stream not ended yet after the last record
};

struct SyncExpectation {
  std::optional<bool> ok;
  std::map<std::string, std::string> streams;  // "committed" | "failed"
  /// Per stream: the record counts of the released checkpoints, in order.
  std::map<std::string, std::vector<std::int64_t>> checkpoints;
};

struct Expectations {
  std::map<std::string, std::int64_t> jobs;  // "succeeded" | "failed" | "aborted" | "unknown" → count
  std::map<JobId, JobExpectation> job;
  CountBound requests;
  /// By HTTP status (100-599), or by class: 1-5 stand for "1xx"-"5xx".
  std::map<int, CountBound> requests_by_status;
  /// By endpoint: "POST /api/events/trackBulk", "GET /bulk/*", "put /exports/*"
  /// (an HTTP method or SFTP operation, or "*", then a glob over the path).
  std::map<std::string, CountBound> requests_by_endpoint;
  std::optional<Duration> within;
  std::vector<std::string> properties;
  nlohmann::json fake;  // JSON pointer → expected value in the fake's accepted state
  std::optional<SyncExpectation> sync;
};

/// A crash of the framework process (E1): at a virtual time, or the `nth` time
/// a named step is reached (kCrashSteps in framework/job_store.h). The process
/// restarts `restart_after` later and resumes from the job store.
struct CrashPoint {
  std::optional<Duration> at;
  std::string step;
  int nth = 1;
  Duration restart_after = std::chrono::seconds(30);
  /// A crash the run may never reach (certify's generated cases): E1 does not
  /// fail when it did not happen. Hand-written incidents leave it false.
  bool optional = false;
};

/// A control event on the run's virtual timeline (v2 `events`; crashes are
/// CrashPoints). Events at the same time apply in file order. A `fake`
/// operation (an operator's act) may instead come at a step, as a crash can:
/// the `nth` time the framework reaches `step` (kCrashSteps), between that
/// answer and whatever the framework does next.
struct ControlEvent {
  enum class Kind { stop, start, config, fake, clock_skew };
  Kind kind = Kind::stop;
  Duration at{0};
  /// fake only: played at this step instead of at `at` ("" = at a time).
  std::string step;
  int nth = 1;
  /// config: the change, merged over the config in force (a restart applies it).
  nlohmann::json config;
  /// fake: one control operation on the fake (Fake::control).
  nlohmann::json op;
  /// clock_skew: the API's clock against the destination's from now on.
  Duration skew{0};
  /// Where it is in the file ("/events/3"), for messages.
  std::string path;
};
const char* control_event_name(ControlEvent::Kind kind);
/// A clock skew as scenarios write it: "+2h", "-90s".
std::string format_clock_skew(Duration d);

/// A scenario that must be rejected at load: the loader's message names `path`
/// (a JSON pointer) and holds `contains`.
struct LoadRejection {
  std::string path;
  std::string contains;
};

struct Scenario {
  std::string file;  // where it came from ("" when built in memory)
  /// The format version the file was written in (1 or 2; 2 when built in memory).
  int version = kScenarioVersion;
  std::string name;
  std::string about;
  std::uint64_t seed = 1;
  std::string destination;
  nlohmann::json config = nlohmann::json::object();
  /// The fake the destination meets: "" = its own (DestinationEntry::fake).
  /// Another fake (e.g. "scripted") serves the same door; properties, which
  /// judge from the destination's own fake, cannot be asked of it.
  std::string fake_name;
  nlohmann::json fake_options;  // merged over what the destination config implies (its own fake)
  /// Control operations applied to the fake before the run (its seeded state).
  std::vector<nlohmann::json> fake_seed;
  std::vector<InputRecord> records;        // literal input
  std::optional<GeneratedInput> generate;  // or generated input
  Duration pace{0};                        // spacing of generated records
  FaultPlan faults;
  Duration request_timeout = std::chrono::seconds(30);
  Duration latency = std::chrono::milliseconds(20);
  /// The API's clock against the destination's ("+2h": the API is ahead,
  /// "-90s": behind; at most kClockSkewMax either way): the fake dates its
  /// answers (Date, Retry-After as an HTTP date) by it.
  Duration clock_skew{0};
  std::vector<CrashPoint> crashes;
  std::vector<ControlEvent> events;  // in file order
  std::optional<SyncInput> sync;  // run under a Sync
  Expectations expect;
  /// Extra metadata written by certify (the property that broke, the case seed).
  nlohmann::json origin;
  /// Set when the file declares it must be rejected at load; the rest of the
  /// scenario is then empty, and `rejected_with` holds the loader's message
  /// ("" when it loaded: the declaration failed). `source` is the document.
  std::optional<LoadRejection> must_reject;
  std::string rejected_with;
  nlohmann::json source;
};

/// For a must-reject scenario: ok when the loader rejected it as declared,
/// else an error saying what happened instead.
Status check_rejection(const Scenario& s);

struct DestinationEntry;
struct FakeEntry;
class Config;
/// The fake a scenario's destination meets (its own unless the scenario chose one).
const FakeEntry* scenario_fake(const Scenario& s, const DestinationEntry& entry);
/// That fake's options: what the config implies for the destination's own
/// fake, then the scenario's `fake.options` over them.
nlohmann::json scenario_fake_options(const Scenario& s, const DestinationEntry& entry, const Config& config);

/// Parses a scenario document; `where` names the file for errors.
Result<Scenario> parse_scenario(const nlohmann::json& doc, const std::string& where);
/// Reads and parses a scenario file.
Result<Scenario> load_scenario(const std::string& path);
/// The scenario as a current-version document (secrets redacted unless asked).
nlohmann::json scenario_to_json(const Scenario& s, bool with_secrets = false);

}  // namespace destsim
