// certify_bench — the conformance suite's throughput and its shrinking.
//
// Cases/<destination>: certify cases of 100 records each with random fault
// mixes (swarm), every property checked on each (H1 reruns one case in ten);
// reports cases/s, and certify_over_run: beside each timed certify, the same
// cases are run again with no property checked (untimed), and the counter is
// the median over iterations of certify's time over theirs, so both sides of
// each ratio share the machine's moment (ratio_min/ratio_max show the spread).
// RunOnly/<destination>: the baseline alone, cases/s — what the simulation
// costs with nothing checked.
// ShrinkCanary: certify the canary (which breaks I1, C5, A2) with shrinking on;
// reports the seconds spent shrinking per written case and the size of the
// written scenario (records, fault rules) — targets: <= 20 records, <= 3 rules,
// <= 10 s.
//
//   build/default/bench/certify_bench
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <vector>
#include <filesystem>

#include "conformance/certify.h"
#include "conformance/runner.h"

namespace destsim {
namespace {

const char* kDestinations[] = {"iterable",    "marketo_bulk_upload", "klaviyo_bulk_upload",
                               "declarative", "staged_table",        "sftp"};

CertifyOptions hundred_records(std::int64_t cases) {
  CertifyOptions o;
  o.cases = cases;
  o.records_min = 100;
  o.records_max = 100;
  o.shrink = false;
  return o;
}

// The cases of hundred_records(n) run with nothing checked.
void run_only(const DestinationEntry& e, const CertifyOptions& o) {
  for (std::int64_t i = 0; i < o.cases; ++i) {
    Scenario s = case_scenario(e, generate_case(e, o.seed, i, o));
    RunOptions ro;
    ro.keep_lines = false;  // as certify runs its cases: typed events kept, JSONL lines not
    auto out = run_scenario(s, ro);
    benchmark::DoNotOptimize(out);
  }
}

void Cases(benchmark::State& state) {
  const DestinationEntry* e = find_destination(kDestinations[state.range(0)]);
  state.SetLabel(e->name);
  const std::int64_t n = 50;  // five H1 reruns: a sample of the reruns, not one heavy case
  std::int64_t cases = 0;
  std::vector<double> ratios;
  using Clock = std::chrono::steady_clock;
  for (auto _ : state) {
    // The baseline runs beside each certify, first on odd iterations and
    // second on even ones (so neither side always finds the caches warm);
    // each iteration's ratio shares the machine's moment, and the counter is
    // their median (a VM's noise moves single iterations by +-0.3).
    double run_s = 0;
    auto baseline = [&] {
      state.PauseTiming();
      const auto t1 = Clock::now();
      run_only(*e, hundred_records(n));
      run_s = std::chrono::duration<double>(Clock::now() - t1).count();
      state.ResumeTiming();
    };
    if (ratios.size() % 2 == 1) baseline();
    const auto t0 = Clock::now();
    auto r = certify({e}, hundred_records(n));
    const double certify_s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!r.ok()) state.SkipWithError(r.error().message.c_str());
    cases += n;
    if (ratios.size() % 2 == 0) baseline();
    if (run_s > 0) ratios.push_back(certify_s / run_s);
  }
  state.counters["cases/s"] = benchmark::Counter(static_cast<double>(cases), benchmark::Counter::kIsRate);
  std::sort(ratios.begin(), ratios.end());
  state.counters["certify_over_run"] = ratios.empty() ? 0 : ratios[ratios.size() / 2];
  state.counters["ratio_min"] = ratios.empty() ? 0 : ratios.front();
  state.counters["ratio_max"] = ratios.empty() ? 0 : ratios.back();
}
BENCHMARK(Cases)->DenseRange(0, 5)->Unit(benchmark::kMillisecond)->MinTime(4.0);

void RunOnly(benchmark::State& state) {
  const DestinationEntry* e = find_destination(kDestinations[state.range(0)]);
  state.SetLabel(e->name);
  const CertifyOptions o = hundred_records(20);
  std::int64_t cases = 0;
  for (auto _ : state) {
    run_only(*e, o);
    cases += o.cases;
  }
  state.counters["cases/s"] = benchmark::Counter(static_cast<double>(cases), benchmark::Counter::kIsRate);
}
BENCHMARK(RunOnly)->DenseRange(0, 5)->Unit(benchmark::kMillisecond);

void ShrinkCanary(benchmark::State& state) {
  const DestinationEntry* e = find_destination("canary");
  const std::string dir = (std::filesystem::temp_directory_path() / "destsim-certify-bench").string();
  double shrink_s = 0, written = 0, records = 0, rules = 0, records_max = 0, rules_max = 0;
  for (auto _ : state) {
    CertifyOptions o;
    o.cases = 40;
    o.out_dir = dir;
    auto r = certify({e}, o);
    if (!r.ok()) {
      state.SkipWithError(r.error().message.c_str());
      break;
    }
    for (const auto& f : r->destinations.front().failures) {
      shrink_s += f.shrink_seconds;
      records += static_cast<double>(f.records);
      rules += static_cast<double>(f.fault_rules);
      records_max = std::max(records_max, static_cast<double>(f.records));
      rules_max = std::max(rules_max, static_cast<double>(f.fault_rules));
      ++written;
    }
  }
  std::filesystem::remove_all(dir);
  if (written > 0) {
    state.counters["shrink_s_per_case"] = shrink_s / written;
    state.counters["records_avg"] = records / written;
    state.counters["records_max"] = records_max;
    state.counters["fault_rules_avg"] = rules / written;
    state.counters["fault_rules_max"] = rules_max;
  }
}
BENCHMARK(ShrinkCanary)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace destsim

BENCHMARK_MAIN();
