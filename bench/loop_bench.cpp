// loop_bench — the deterministic core's raw speed: timer events/s, coroutine
// sleep+resume/s, and fault-plan matching per request. A bare std::function
// call loop in the same run is the baseline, so a noisy machine shows as noise
// in both figures.
#include <benchmark/benchmark.h>

#include <functional>

#include "fakes/fault_plan.h"
#include "framework/loop.h"

namespace destsim {
namespace {

// Baseline: calling a std::function the way the loop does, without scheduling.
void BM_BaselineFunctionCalls(benchmark::State& state) {
  std::int64_t n = 0;
  std::function<void()> fn = [&] { ++n; };
  for (auto _ : state) {
    for (int i = 0; i < 1000; ++i) fn();
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_BaselineFunctionCalls);

// Timer events/s with `pending` timers in the heap at any time (each event
// schedules its successor at a pseudo-random later time).
void BM_TimerEvents(benchmark::State& state) {
  const int pending = static_cast<int>(state.range(0));
  const std::int64_t per_iter = 100'000;
  for (auto _ : state) {
    SimClock clock;
    Loop loop(clock, LoopOptions{.seed = 1, .max_steps = 1'000'000'000});
    std::int64_t remaining = per_iter;
    std::uint64_t x = 88172645463325252ULL;
    std::function<void()> tick;
    tick = [&] {
      if (--remaining <= 0) return;
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      loop.call_after(std::chrono::microseconds(1 + x % 1000), tick);
    };
    for (int i = 0; i < pending; ++i) loop.call_after(std::chrono::microseconds(i), tick);
    benchmark::DoNotOptimize(loop.run_until_idle().ok());
  }
  state.SetItemsProcessed(state.iterations() * per_iter);
}
BENCHMARK(BM_TimerEvents)->Arg(1)->Arg(100)->Arg(10'000);

// Coroutine sleep + resume per second: `tasks` coroutines each sleeping in a loop.
void BM_CoroutineSleepResume(benchmark::State& state) {
  const int tasks = static_cast<int>(state.range(0));
  const int sleeps = 100'000 / tasks;
  for (auto _ : state) {
    SimClock clock;
    Loop loop(clock);
    for (int t = 0; t < tasks; ++t) {
      loop.spawn([](Loop& l, int n, int id) -> Task<void> {
        for (int i = 0; i < n; ++i) co_await l.sleep(std::chrono::microseconds(1 + (i * 7 + id) % 50));
      }(loop, sleeps, t));
    }
    benchmark::DoNotOptimize(loop.run_until_idle().ok());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(tasks) * sleeps);
}
BENCHMARK(BM_CoroutineSleepResume)->Arg(1)->Arg(100)->Arg(1000);

// Fault-plan decision per request against a realistic 8-rule plan.
void BM_FaultPlanDecide(benchmark::State& state) {
  auto plan = FaultPlan::from_json(nlohmann::json::parse(R"([
      {"match": {"method": "POST", "path": "/api/events/trackBulk"}, "window": ["0s", "20m"],
       "rate_limit": {"retry_after": "60s"}},
      {"match": {"path": "/bulk/v1/leads/batch/*"}, "probability": "1/50", "respond": {"status": 502}},
      {"match": {"path": "/api/users/*"}, "times": 3, "respond": {"status": 500}},
      {"latency": {"min": "5ms", "max": "80ms"}},
      {"match": {"host": "a.klaviyo.com"}, "probability": "1/100", "reset": "after"},
      {"too_large": {"max_body": "4MB"}},
      {"match": {"path": "*/failures.json"}, "probability": "1/20", "timeout": "before"},
      {"window": ["6h", "7h"], "outage": {"status": 503}}])"),
                                     "bench")
                  .value();
  Rng rng(1);
  const char* paths[] = {"/api/events/trackBulk", "/api/users/bulkUpdate", "/bulk/v1/leads/batch/12.json",
                         "/bulk/v1/leads/batch/12/failures.json"};
  std::int64_t i = 0;
  for (auto _ : state) {
    Duration t = std::chrono::seconds(i % 30'000);
    FaultDecision d = plan.decide("POST", "api.iterable.com", paths[i & 3], 1000, t, rng);
    benchmark::DoNotOptimize(d);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FaultPlanDecide);

}  // namespace
}  // namespace destsim

BENCHMARK_MAIN();
