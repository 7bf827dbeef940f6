// case_costs — each certify case's cost and trace, one line per case: to find
// the heavy tail of a destination's cases and to check that a speed change
// kept every run's behaviour (the trace hashes of two builds, compared).
//
//   build/default/bench/case_costs DESTINATION [CASES [SEED]]
//       prints "index wall_ms events trace_hash" per case, then a total line
//   build/default/bench/case_costs DESTINATION --dump INDEX FILE [SEED]
//       writes case INDEX as a scenario file (destsim run FILE replays it)
//
// The cases are certify_bench's: 100 records each, shrinking off, the run as
// certify runs it (typed events kept, trace lines not), nothing checked.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "conformance/certify.h"
#include "conformance/runner.h"
#include "conformance/scenario.h"

using namespace destsim;

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: case_costs DESTINATION [CASES [SEED]]\n"
               "       case_costs DESTINATION --dump INDEX FILE [SEED]\n");
  return 2;
}

// A whole number in [0, max], or -1.
long long number(const char* s, long long max) {
  char* end = nullptr;
  const long long v = std::strtoll(s, &end, 10);
  return (end == s || *end != '\0' || v < 0 || v > max) ? -1 : v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const DestinationEntry* e = find_destination(argv[1]);
  if (!e) {
    std::fprintf(stderr, "case_costs: no destination \"%s\"\n", argv[1]);
    return 2;
  }
  CertifyOptions o;
  o.records_min = o.records_max = 100;
  o.shrink = false;
  if (argc >= 3 && std::string(argv[2]) == "--dump") {
    if (argc < 5 || argc > 6) return usage();
    const long long index = number(argv[3], 1'000'000);
    const long long seed = argc == 6 ? number(argv[5], INT64_MAX) : 1;
    if (index < 0 || seed < 0) return usage();
    o.seed = static_cast<std::uint64_t>(seed);
    const Scenario s = case_scenario(*e, generate_case(*e, o.seed, index, o));
    std::ofstream out(argv[4]);
    out << scenario_to_json(s).dump(2) << "\n";
    if (!out) {
      std::fprintf(stderr, "case_costs: cannot write %s\n", argv[4]);
      return 2;
    }
    return 0;
  }
  const long long cases = argc >= 3 ? number(argv[2], 1'000'000) : 200;
  const long long seed = argc >= 4 ? number(argv[3], INT64_MAX) : 1;
  if (cases < 0 || seed < 0 || argc > 4) return usage();
  o.seed = static_cast<std::uint64_t>(seed);
  double total_ms = 0;
  unsigned long long total_events = 0;
  for (long long i = 0; i < cases; ++i) {
    const Scenario s = case_scenario(*e, generate_case(*e, o.seed, i, o));
    RunOptions ro;
    ro.keep_lines = false;
    const auto t0 = std::chrono::steady_clock::now();  // a bench measures wall time
    auto out = run_scenario(s, ro);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!out.ok()) {
      std::fprintf(stderr, "case_costs: case %lld: %s\n", i, out.error().message.c_str());
      return 1;
    }
    total_ms += ms;
    total_events += out->events.size();
    std::printf("%lld %.3f %zu %s\n", i, ms, out->events.size(), out->trace_hash.c_str());
  }
  std::printf("total %.3f %llu\n", total_ms, total_events);
  return 0;
}
