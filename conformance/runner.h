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
#include "framework/config.h"
#include "framework/job_store.h"

namespace destsim {

struct RunOptions {
  std::optional<std::uint64_t> seed;  // overrides the scenario's
  bool keep_trace = true;             // keep trace lines in memory (property checks need them)
  std::ostream* trace_sink = nullptr; // also stream the trace (JSONL)
  std::uint64_t max_steps = 500'000'000;
};

/// Everything a run produced. Owns the simulated world it ran in.
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
  std::vector<std::string> trace_lines;  // when kept
  nlohmann::json destination_stats;
  std::int64_t input_size = 0;
  std::vector<Duration> arrivals;  // arrival time of each input record (when kept)
  std::uint64_t crashes = 0;       // crashes of the framework during the run
  /// Under a Sync: how the last sync ended, and every checkpoint released
  /// during the run (across restarts), in order.
  std::optional<SyncOutcome> sync;
  std::vector<ReleasedState> released;

  const JobStore& jobs() const;
  const Fake& fake() const;
  const SimTransportStats& transport() const;
  /// Input record i (0-based), regenerated for generated input.
  Record record(std::int64_t i) const;

  Outcome();
  ~Outcome();
  Outcome(Outcome&&) noexcept;
  Outcome& operator=(Outcome&&) noexcept;
};

/// Record `id` of a generated input (independent per record: random access).
Record generate_record(const DestinationEntry& entry, std::uint64_t seed, JobId id, const GeneratedInput& g);

Result<Outcome> run_scenario(const Scenario& scenario, const RunOptions& options = {});

}  // namespace destsim
