// batch_bench — the batch path at scale: N records through Processor + the
// Iterable handler + the Iterable fake in virtual time (no faults), next to a
// serialize-only baseline in the same run: the same records generated and
// turned into the same request bodies, nothing else. Reports records/s, and the
// peak RSS and RSS growth per record of each.
//
//   build/default/bench/batch_bench                       # 1M records
//   build/default/bench/batch_bench --benchmark_filter=Serialize
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "conformance/runner.h"
#include "destinations/destination.h"

namespace destsim {
namespace {

constexpr std::int64_t kRecords = 1'000'000;

// Resident set size now and at its peak, in bytes (Linux /proc).
std::int64_t rss_bytes(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::stoll(line.substr(std::string(field).size())) * 1024;
  }
  return 0;
}

// The baseline's work: the records generated and turned into the handler's
// bodies; the bytes written.
std::size_t serialize_only() {
  const DestinationEntry& e = *find_destination("iterable");
  GeneratedInput g{kRecords, "track", Ratio{0, 1}, 0};
  std::size_t total = 0;
  {
    std::string body;
    std::int64_t in_body = 0;
    for (std::int64_t i = 1; i <= kRecords; ++i) {
      Record r = generate_record(e, 1, static_cast<JobId>(i), g);
      // The destination's transform, as the handler serializes it.
      nlohmann::json item = {{"email", r.payload["email"]},
                             {"eventName", r.payload["eventName"]},
                             {"id", r.stream + ":" + std::to_string(r.id)},
                             {"createdAt", r.payload["createdAt"]},
                             {"dataFields", r.payload["dataFields"]}};
      if (in_body == 0) body = "{\"events\":[";
      else body.push_back(',');
      body += item.dump();
      if (++in_body == 1000) {
        body += "]}";
        total += body.size();
        benchmark::DoNotOptimize(body.data());
        in_body = 0;
      }
    }
  }
  return total;
}

void BM_SerializeOnly(benchmark::State& state) {
  std::int64_t before = rss_bytes("VmRSS:");
  std::size_t total = 0;
  for (auto _ : state) total += serialize_only();
  state.SetItemsProcessed(state.iterations() * kRecords);
  state.counters["peak_rss_MB"] = static_cast<double>(rss_bytes("VmHWM:")) / 1e6;
  state.counters["rss_growth_B_per_record"] = static_cast<double>(rss_bytes("VmRSS:") - before) / kRecords;
  state.counters["body_MB"] = static_cast<double>(total) / 1e6 / static_cast<double>(state.iterations());
}
BENCHMARK(BM_SerializeOnly)->Unit(benchmark::kMillisecond)->Iterations(1);

void BM_FullPath(benchmark::State& state) {
  Scenario s;
  s.name = "bench";
  s.destination = "iterable";
  s.config = {{"api_key", "k"}, {"requests_per_second", 0}, {"max_async_requests", 8}};
  s.fake_options = {{"rate_per_second", 0}};
  s.generate = GeneratedInput{kRecords, "track", Ratio{0, 1}, 0};
  std::int64_t before = rss_bytes("VmRSS:");
  double virtual_s = 0;
  std::uint64_t requests = 0;
  std::int64_t growth = 0;
  double full_s = 0;
  for (auto _ : state) {
    RunOptions o;
    o.keep_trace = false;
    const auto t0 = std::chrono::steady_clock::now();
    auto out = run_scenario(s, o);
    full_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!out.ok() || !out->status.ok() || out->jobs().counts().succeeded != static_cast<std::uint64_t>(kRecords)) {
      state.SkipWithError("the run did not deliver every record");
      return;
    }
    virtual_s = std::chrono::duration<double>(out->virtual_duration).count();
    requests = out->transport().requests;
    growth = rss_bytes("VmRSS:") - before;  // while the outcome (job store, fake) is alive
  }
  state.SetItemsProcessed(state.iterations() * kRecords);
  state.counters["peak_rss_MB"] = static_cast<double>(rss_bytes("VmHWM:")) / 1e6;
  state.counters["rss_growth_B_per_record"] = static_cast<double>(growth) / kRecords;
  state.counters["virtual_s"] = virtual_s;
  state.counters["requests"] = static_cast<double>(requests);
  // Issue #15's figure from this run: the full path over the serialize-only
  // floor, the baseline timed right after the timed loop.
  const auto t0 = std::chrono::steady_clock::now();
  benchmark::DoNotOptimize(serialize_only());
  const double floor_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  state.counters["serialize_s"] = floor_s;
  state.counters["over_serialize"] = floor_s > 0 ? full_s / floor_s : 0;
}
BENCHMARK(BM_FullPath)->Unit(benchmark::kMillisecond)->Iterations(1);

// The 429-storm incident: virtual duration / wall duration.
void BM_Storm429(benchmark::State& state) {
  auto s = load_scenario(std::string(DESTSIM_SOURCE_DIR) + "/scenarios/iterable/429-storm.json");
  if (!s.ok()) {
    state.SkipWithError(s.error().message.c_str());
    return;
  }
  double ratio = 0;
  for (auto _ : state) {
    RunOptions o;
    o.keep_trace = false;
    auto out = run_scenario(*s, o);
    if (!out.ok()) {
      state.SkipWithError("run failed");
      return;
    }
    ratio = std::chrono::duration<double>(out->virtual_duration).count() / out->wall_seconds;
  }
  state.counters["virtual_per_wall"] = ratio;
}
BENCHMARK(BM_Storm429)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace destsim

BENCHMARK_MAIN();
