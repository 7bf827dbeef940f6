// certify.h — the conformance suite as one engine: for each destination,
// generated cases (random input, a random mix of faults — swarm testing — and,
// for bulk destinations, random crash points), each run once in virtual time
// with every applicable CONFORMANCE.md property checked on its outcome. A case
// that breaks a property is shrunk with RapidCheck and written out as a
// scenario file that `destsim run` replays to the same failure.
//
// Case i of destination D under run seed S has seed derive_seed(S, D, i): any
// case reruns alone, and `--shard I/N` takes the cases with i % N == I.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "conformance/properties.h"
#include "conformance/scenario.h"
#include "destinations/destination.h"

namespace destsim {

struct CertifyOptions {
  std::int64_t cases = 200;      // per destination
  std::uint64_t seed = 1;
  std::int64_t shard_index = 0;  // this machine's shard
  std::int64_t shard_count = 1;
  std::int64_t records_min = 1;    // records per case, at least
  std::int64_t records_max = 100;  // records per case, at most
  std::string out_dir;           // failing cases are written here (empty = not written)
  std::int64_t h1_every = 10;    // H1 reruns one case in n (spread over the index-driven kinds)
  bool shrink = true;
  /// Threads running cases at once (each case alone on one thread); the
  /// report and the written cases are the same for every value.
  int jobs = 1;
  /// Progress callback (destination, cases done, cases in all), for a bar.
  std::function<void(const std::string&, std::int64_t, std::int64_t)> progress;
};

/// A case as data: what the generator chose (and what shrinking reduces).
struct CaseSpec {
  std::uint64_t seed = 0;        // the case seed (input, jitter, fault draws)
  std::int64_t index = 0;
  std::int64_t records = 0;
  Duration pace{0};
  Ratio invalid{0, 1};
  Ratio identical{0, 1};  // hostile input: identical rows, one user's many records
  std::int64_t payload_bytes = 0;  // hostile input: padding per record (records near and over byte limits)
  // Hostile input: a few records at or over the API's declared hard byte cap.
  Ratio oversize{0, 1};
  std::int64_t oversize_bytes = 0;
  bool odd_text = false;  // hostile input: empty, multi-byte, quoting and control-character text
  Duration clock_skew{0};  // hostile timing: the API's clock against the destination's
  std::vector<FaultRule> faults;
  std::vector<CrashPoint> crashes;
  // A clean stop (a deploy) at `stop_at` and a start `start_after` later:
  // the store keeps every write, the new process resumes from it.
  std::optional<Duration> stop_at;
  Duration start_after{0};
  bool short_poll_timeout = false;  // bulk: a poll timeout short enough to reach
  // Run under a Sync (E2, F1, F2): the streams the records use, a checkpoint
  // every `state_every` records of a stream, and perhaps one stream failing
  // after input record `stream_error_after`.
  bool sync = false;
  std::int64_t state_every = 0;
  std::int64_t stream_error_after = -1;
  // Hostile configs: keys of the destination's schema drawn from their
  // declared ranges (small and large limits, one to many in flight, long and
  // short waits), merged over the base config.
  nlohmann::json config = nlohmann::json::object();
  // A hostile variant of the fake (FakeEntry::hostile), by its label; "" = none.
  std::string hostile;
  // An operator act on the fake (FakeEntry::operator_acts), by its label, at
  // `act_at`, or at a step of the framework when `act_step` is set (the
  // `act_nth` time it is reached, as a crash point); "" = none.
  std::string act;
  Duration act_at{0};
  std::string act_step;
  int act_nth = 1;
};

struct PropertyTally {
  std::int64_t pass = 0, fail = 0, not_applicable = 0, unchecked = 0;
  std::string detail;            // the first failure (or why n/a)
  std::int64_t detail_case = -1;  // the case that detail is from (merging shards keeps the earliest)
};

struct FailingCase {
  std::string property;
  std::int64_t index = 0;
  std::uint64_t case_seed = 0;
  std::string detail;
  std::string scenario_file;     // written under out_dir ("" if not written)
  std::int64_t records = 0;      // after shrinking
  std::int64_t fault_rules = 0;  // after shrinking
  double shrink_seconds = 0;
  std::int64_t shrink_steps = 0, shrink_tries = 0;  // smaller failing cases found / tried
};

struct DestinationReport {
  std::string name;
  bool shipped = true;
  std::int64_t cases = 0;
  double wall_seconds = 0;
  std::map<std::string, PropertyTally> properties;  // by id, catalogue order via property_catalogue()
  std::vector<FailingCase> failures;
  /// How often each fault kind and each recovery path was exercised.
  std::map<std::string, std::int64_t> reached;
  /// Recovery paths the destination's capabilities make applicable but no case reached.
  std::vector<std::string> unreached;
  /// In a shard run: paths this shard did not reach (not a failure by itself).
  std::vector<std::string> unreached_in_shard;
  bool certified() const;
};

struct CertifyReport {
  std::uint64_t seed = 0;
  std::int64_t shard_index = 0, shard_count = 1;
  std::vector<DestinationReport> destinations;
  bool ok() const;
  /// The report; with `timings`, wall and shrink seconds too (without them the
  /// report is the same for the same seed, however many --jobs or shards ran it).
  nlohmann::json to_json(bool timings = false) const;
  std::string to_junit(bool timings = false) const;
};

/// The config certify runs a destination with: its certify_config, or the
/// schema's required keys filled with test values.
nlohmann::json certify_base_config(const DestinationEntry& entry);

/// The case generator: case `index` of `entry` under `seed`.
CaseSpec generate_case(const DestinationEntry& entry, std::uint64_t seed, std::int64_t index,
                       const CertifyOptions& options);
/// The scenario a case runs as (and is written as when it fails).
Scenario case_scenario(const DestinationEntry& entry, const CaseSpec& c);

/// Certifies each destination; never throws; bad input is an Error.
Result<CertifyReport> certify(const std::vector<const DestinationEntry*>& entries, const CertifyOptions& options);

/// A declarative spec as `certify --spec` takes it: destination_from_spec, and
/// the spec's `fake_options` checked against its fake at load, so an error
/// names the spec (`where: /fake_options/...`) rather than a generated case.
Result<DestinationEntry> destination_from_spec_checked(const nlohmann::json& spec, const std::string& where);

/// A report as to_json() wrote it (errors name `where` and the JSON path).
Result<CertifyReport> certify_report_from_json(const nlohmann::json& j, const std::string& where);
/// Merges the reports of the shards of one run (`--shard I/N` for every I) into
/// the report an unsharded run gives: the same tallies, details, first failures,
/// reached counts and unreached paths. `names` name the reports in errors.
Result<CertifyReport> merge_certify_reports(const std::vector<CertifyReport>& shards,
                                            const std::vector<std::string>& names);

/// Prints the per-destination × per-property verdict table and the seed.
/// With `timings`, each written case says how long shrinking it took.
void print_certify_table(std::ostream& out, const CertifyReport& report, bool timings = false);

/// `destsim certify` as a library call, for a binary that adds destinations of
/// its own (out-of-tree certification): the same options and exit codes as
/// `destsim certify` (0 certified, 1 a property failed, 2 bad input).
int certify_main(int argc, char** argv, const std::vector<DestinationEntry>& extra);

}  // namespace destsim
