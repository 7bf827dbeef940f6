// job_store_bench — jobs committed per second: the in-memory store (baseline)
// next to the SQLite store at several commit sizes. Each job is added, tried
// once and finished: three writes.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>

#include "framework/real/sqlite_job_store.h"

namespace destsim {
namespace {

void run_jobs(JobStore& s, JobId first, std::int64_t n) {
  for (JobId id = first; id < first + static_cast<JobId>(n); ++id) {
    s.add(id);
    s.attempt(id);
    s.finish(id, {id % 50 ? JobState::succeeded : JobState::failed, id % 50 ? "" : "HTTP 400 BadParams", false},
             kTimeZero);
  }
}

void BM_MemoryJobStore(benchmark::State& state) {
  const std::int64_t n = 100'000;
  for (auto _ : state) {
    MemoryJobStore s;
    run_jobs(s, 1, n);
    benchmark::DoNotOptimize(s.counts());
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_MemoryJobStore)->Unit(benchmark::kMillisecond);

void BM_SqliteJobStore(benchmark::State& state) {
  const int commit_every = static_cast<int>(state.range(0));
  const std::int64_t n = commit_every == 1 ? 2'000 : 100'000;
  const std::string path = "/tmp/destsim-bench-" + std::to_string(getpid()) + ".db";
  for (auto _ : state) {
    state.PauseTiming();
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
    auto s = SqliteJobStore::open({path, commit_every});
    state.ResumeTiming();
    run_jobs(**s, 1, n);
    (*s)->commit();
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  state.SetItemsProcessed(state.iterations() * n);
  state.SetLabel("commit every " + std::to_string(commit_every) + " writes");
}
BENCHMARK(BM_SqliteJobStore)->Arg(1)->Arg(100)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace destsim

BENCHMARK_MAIN();
