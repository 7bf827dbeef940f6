// connector.h — `destsim certify --connector "CMD ARGS…" --fake NAME`:
// black-box certification of a connector written in any language.
//
// The connector runs as a process, in real time, against one of destsim's
// fakes served by the HTTP door on 127.0.0.1 (a free port, bounded in time and
// requests). Each case draws, from the run's seed, the records and STATE
// messages fed on stdin, a fault plan for the door (statuses from the fake's
// error table, a 429 with a short Retry-After, resets and timeouts before and
// after the fake applied a request, latency, a 413 cap) and, in some cases, a
// SIGKILL at a drawn moment followed by a rerun from the last STATE the
// connector emitted. The checks read only what is outside the process: its
// stdout (STATE, TRACE), its exit, the door's log of requests and the fake's
// state:
//   E2  every STATE echoed only after every record before it was applied in the fake
//   A3  after a clean exit, every record before the last echoed STATE is in the
//       fake exactly once (an upserting API's state holds it once however often it
//       was sent), across a kill and the rerun
//   I1  no request to a path while a Retry-After from it holds
//   B1  records per request (the `destsim_id` markers in a body) and body bytes within
//       the declared --records-max / --bytes-max
//   B4  requests in flight within --concurrency-max
//   C1  a request answered a permanent 4xx (400 401 403 404 409 422) never sent again
//   F1  the process ends with exit 0, or non-zero after a TRACE error message
//   G1  the process ends within --case-timeout
// Records carry a unique `destsim_id`: the fake holds a record when its state
// (accepted()) holds that marker, so a connector must put the record's data
// into what it sends (Iterable: users' dataFields).
//
// Airbyte mode (default): `CMD write --config FILE --catalog FILE`, AirbyteMessages
// as JSON lines (APIS.md §11). The config is the --config-template file with
// {{base_url}} and {{api_key}} filled in. Generic mode (--mode generic): the
// record data as JSON lines on stdin, DESTSIM_BASE_URL and DESTSIM_API_KEY in
// the environment, no STATE; after exit 0 every record must be in the fake.
//
// A failing case is written as a JSON file that `--case FILE` reruns against
// the same (or another) command: the same plan and input. Real-time cases
// reproduce in plan and input, not in timing.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace destsim {

struct ConnectorArgs {
  std::string command;          // run with /bin/sh -c, in a process group of its own
  std::string fake;             // a fake of the catalog (destsim list)
  std::string fake_options;     // JSON object text, merged into the fake's options
  std::string config_template;  // Airbyte mode: the config, with {{base_url}} and {{api_key}}
  std::string mode = "airbyte";
  std::string case_file;        // rerun this written case only
  std::int64_t cases = 12;
  std::uint64_t seed = 1;
  std::int64_t records_max = 0, bytes_max = 0, concurrency_max = 1;  // declared limits (0 = none)
  std::chrono::milliseconds case_timeout{60'000};
  std::string report_json, junit_xml, html_file, out_dir = "certify-failures";
};

/// Runs the black-box certification; the exit code: 0 certified, 1 a property
/// failed (or a required fault was never reached), 2 bad input.
int run_connector_certify(const ConnectorArgs& args);

}  // namespace destsim
