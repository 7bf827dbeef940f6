// deliver.h — `destsim deliver`: one destination delivering a JSONL input to a
// real endpoint in real time, with the durable SQLite job store.
//
// The same destination code that certify runs in the simulator runs here on a
// RealClock, the real HTTP transport (or real SFTP sessions) and
// SqliteJobStore. The store is what makes a run resumable: a rerun with the
// same --store and input takes over what the killed process left (uploads in
// flight, imports to poll) and offers the rest again; the destination skips
// every job the store shows as terminal. Killed with -9 at any moment, a run
// loses no record and sends none twice where the API is not idempotent: a
// send whose answer the kill hid is resumed as an unknown outcome, not
// blindly repeated (tools/deliver_kill_test.cpp kills it over and over).
//
// SIGTERM or SIGINT: stop taking records, finish what is in flight, commit,
// exit; a second signal exits at once (the store keeps what was committed).
#pragma once

#include <cstdint>
#include <string>

namespace destsim {

struct DeliverArgs {
  std::string destination;
  /// Records as JSON lines: {"id": N, "stream": "...", "payload": {...}}
  /// (the keys of a scenario's input records; id defaults to the line number).
  std::string input_file;
  /// Instead of an input file: this many records from the destination's own
  /// generator, seeded by `seed` (the same records on every rerun).
  std::int64_t generate = 0;
  std::uint64_t seed = 1;
  /// The destination's config as a JSON object (keys of its schema).
  std::string config_file;
  /// The durable job store (SQLite), created if missing; reruns resume from it.
  std::string store;
  /// HTTP destinations: the base URL their host is routed to
  /// (e.g. the address `destsim serve` prints).
  std::string url;
  /// Per-record outcomes as JSON lines, written at the end.
  std::string outcomes_file;
  /// The trace as JSONL (the simulator's events, in wall time).
  std::string trace_file;
  /// Requests in flight at once over HTTP.
  int connections = 8;
  /// Per read on the socket, e.g. "30s".
  std::string request_timeout = "30s";
};

/// Runs the delivery; returns the process exit code (0 every record succeeded
/// or a signal stopped the run with the rest left for a rerun, 1 some records
/// failed, 2 bad input, 3 internal error).
int run_deliver(const DeliverArgs& args);

/// The limits on a deliver input (named in their errors).
inline constexpr std::int64_t kDeliverInputBytesMax = 1LL << 30;  // 1 GB of JSON lines
inline constexpr std::int64_t kDeliverRecordsMax = 10'000'000;

}  // namespace destsim
