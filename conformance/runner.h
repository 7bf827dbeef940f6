// runner.h — runs a scenario: destination + its fake + fault plan + input, wired
// onto one simulated loop, and returns an Outcome for expectations and
// property checks. Deterministic: same scenario and seed, same trace hash.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conformance/scenario.h"
#include "destinations/destination.h"
#include "fakes/fake_api.h"
#include "fakes/sim_transport.h"
#include "framework/flat_map.h"
#include "framework/oracle.h"
#include "framework/config.h"
#include "framework/job_store.h"
#include "framework/trace_events.h"

namespace destsim {

struct RunOptions {
  std::optional<std::uint64_t> seed;  // overrides the scenario's
  /// Keep what the property checks read: the typed trace events and the input
  /// records (built once). Off for long benchmark runs.
  bool keep_trace = true;
  /// With keep_trace: also keep the JSONL lines in memory (tests that read them).
  bool keep_lines = true;
  std::ostream* trace_sink = nullptr; // also stream the trace (JSONL)
  std::uint64_t max_steps = 500'000'000;
  /// A run still busy after this much virtual time is cut and fails as a hang
  /// (G1). 0: the run's own bound (run_time_bound in properties.h, from the
  /// destination's declared contract and config), so a destination that polls
  /// forever costs seconds of wall time, not hours.
  Duration max_virtual{0};
};

/// Everything a run produced — the evidence the property checkers judge from.
/// `run_scenario` fills it and owns the simulated world it ran in; a test may
/// build one by hand (no world): the records, the job store, the fake (the
/// oracle), the typed events and the declared contract (entry + config).
struct Outcome {
  struct World;
  std::unique_ptr<World> world;

  std::string scenario;
  std::uint64_t seed = 0;
  const DestinationEntry* entry = nullptr;
  Config config;
  /// The run ended normally (an internal error or the step bound is not a pass).
  Status status;
  Duration virtual_duration{0};
  double wall_seconds = 0;
  std::uint64_t steps = 0;
  std::string trace_hash;
  std::uint64_t trace_events = 0;
  /// The typed trace (framework/trace_events.h), in order, when kept (in
  /// blocks that never move: a vector relocated each event about twice).
  SegmentedVector<TimedEvent> events;
  std::vector<std::string> trace_lines;  // when kept
  nlohmann::json destination_stats;
  std::int64_t input_size = 0;
  /// The input records, in input order (built once per run, when kept).
  std::vector<Record> records;
  std::vector<Duration> arrivals;  // arrival time of each input record (when kept)
  /// dump_size of each kept record's payload, measured once when first asked
  /// (a padded record's megabytes are scanned once, not by every bound).
  const std::vector<std::int64_t>& payload_sizes() const {
    if (payload_sizes_.size() != records.size()) {
      payload_sizes_.clear();
      payload_sizes_.reserve(records.size());
      for (const Record& r : records) payload_sizes_.push_back(static_cast<std::int64_t>(dump_size(r.payload)));
    }
    return payload_sizes_;
  }
  std::uint64_t crashes = 0;       // crashes of the framework during the run
  /// Under a Sync: how the last sync ended, and every checkpoint released
  /// during the run (across restarts), in order.
  std::optional<SyncOutcome> sync;
  std::vector<ReleasedState> released;
  /// The job store, the fake and the sim door's counters (the world's, or a test's).
  const JobStore* job_store = nullptr;
  const Fake* oracle = nullptr;
  SimTransportStats transport_stats;

  const JobStore& jobs() const { return *job_store; }
  const Fake& fake() const { return *oracle; }
  const SimTransportStats& transport() const { return transport_stats; }
  /// Input record i (0-based); needs the records kept (RunOptions::keep_trace).
  const Record& record(std::int64_t i) const { return records.at(static_cast<std::size_t>(i)); }

  Outcome();
  ~Outcome();
  Outcome(Outcome&&) noexcept;
  Outcome& operator=(Outcome&&) noexcept;

 private:
  mutable std::vector<std::int64_t> payload_sizes_;
};

/// Record `id` of a generated input (independent per record: random access).
Record generate_record(const DestinationEntry& entry, std::uint64_t seed, JobId id, const GeneratedInput& g);

Result<Outcome> run_scenario(const Scenario& scenario, const RunOptions& options = {});

}  // namespace destsim
