// Property tests of the batch Processor against a handler that answers at
// random (RapidCheck): whatever the API says, every message ends in exactly one
// terminal state, requests respect the limits and the concurrency bounds, a
// record that got a final answer is never sent again, Retry-After gates every
// later send, and the same seed gives the same trace.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <set>

#include "framework/batch.h"

namespace destsim {
namespace {

struct Knobs {
  int flush_queue_size;
  int max_retries;
  bool send_individual;
  int individual_concurrency;
  bool async;
  int max_async_requests;
  bool split_on_413;
  int records;
  int key_space;  // records share identity keys (and may share a batch) when smaller than records
  std::int64_t bytes_max;
  std::uint64_t seed;
};

// Answers drawn from a seeded stream; records what it was sent and when.
class ChaosHandler final : public BatchHandler {
 public:
  ChaosHandler(Loop& loop, std::int64_t bytes_max) : loop_(loop), rng_(loop.rng().fork()), bytes_max_(bytes_max) {}

  struct Sent {
    Time at;
    std::vector<JobId> ids;
    std::int64_t bytes;
  };
  std::vector<Sent> sent;
  std::map<JobId, int> final_answers;  // how often a record got ok/fail
  std::vector<std::pair<Time, Time>> holds;  // (answer time, retry-after until)
  int in_flight = 0, in_flight_max = 0;
  std::string violation;

  Task<BatchResult> process_batch(const std::vector<const Message*>& batch) override {
    note_send(batch);
    in_flight_max = std::max(in_flight_max, ++in_flight);
    co_await loop_.sleep(std::chrono::milliseconds(rng_.uniform(1, 200)));
    --in_flight;
    BatchResult r;
    switch (rng_.below(6)) {
      case 0:
        r.status = BatchStatus::success;
        for (auto* m : batch) ++final_answers[m->id];
        break;
      case 1:
        r.status = BatchStatus::partial_success;
        for (auto* m : batch) {
          auto v = static_cast<Verdict>(rng_.below(4) % 3);  // sometimes omitted below
          if (rng_.chance(1, 10)) continue;                 // not mentioned
          if (v != Verdict::retry) ++final_answers[m->id];
          r.results.push_back({m->id, v, v == Verdict::ok ? "" : "record-level cause (code 7)"});
        }
        break;
      case 2:
        r.status = BatchStatus::retry_batch;
        r.reason = "HTTP 503";
        r.maybe_applied = rng_.chance(1, 4);
        if (rng_.chance(1, 3)) r.retry_after = std::chrono::seconds(rng_.uniform(1, 90));
        break;
      case 3:
        r.status = BatchStatus::retry_individual;
        r.too_large = rng_.chance(1, 2);
        r.reason = r.too_large ? "HTTP 413" : "HTTP 409";
        if (batch.size() == 1 && r.too_large) ++final_answers[batch[0]->id];
        break;
      case 4:
        r.status = BatchStatus::cannot_retry;
        r.reason = "HTTP 400";
        for (auto* m : batch) ++final_answers[m->id];
        break;
      default:
        r.status = BatchStatus::retry_batch;
        r.reason = "transport timeout";
        r.maybe_applied = true;
        break;
    }
    if (r.retry_after) holds.emplace_back(loop_.now(), loop_.now() + *r.retry_after);
    co_return r;
  }

  Task<OneResult> process_one(const Message& m) override {
    note_send({&m});
    in_flight_max = std::max(in_flight_max, ++in_flight);
    co_await loop_.sleep(std::chrono::milliseconds(rng_.uniform(1, 100)));
    --in_flight;
    OneResult r;
    switch (rng_.below(4)) {
      case 0: r.verdict = Verdict::ok; break;
      case 1: r.verdict = Verdict::fail; r.reason = "HTTP 400"; break;
      case 2:
        r.verdict = Verdict::retry;
        r.reason = "HTTP 429";
        if (rng_.chance(1, 2)) r.retry_after = std::chrono::seconds(rng_.uniform(1, 30));
        break;
      default: r.verdict = Verdict::fail; r.too_large = true; r.reason = "HTTP 413"; break;
    }
    if (r.verdict != Verdict::retry) ++final_answers[m.id];
    if (r.retry_after) holds.emplace_back(loop_.now(), loop_.now() + *r.retry_after);
    co_return r;
  }

  BatchLimits limits() const override {
    return BatchLimits{.records_max = 50, .bytes_max = bytes_max_, .envelope_bytes = 10, .separator_bytes = 1};
  }
  std::string name() const override { return "chaos"; }

 private:
  void note_send(const std::vector<const Message*>& batch) {
    // envelope + items + separators between them, as the limits declare
    Sent s{loop_.now(), {}, 10 + static_cast<std::int64_t>(batch.size()) - 1};
    for (auto* m : batch) {
      s.ids.push_back(m->id);
      s.bytes += static_cast<std::int64_t>(m->body.size());
      if (final_answers.count(m->id)) violation = "record " + std::to_string(m->id) + " sent again after a final answer";
    }
    for (const auto& [answered, until] : holds) {
      if (loop_.now() > answered && loop_.now() < until) violation = "a send inside a Retry-After hold";
    }
    sent.push_back(std::move(s));
  }
  Loop& loop_;
  Rng rng_;
  std::int64_t bytes_max_;
};

struct RunResult {
  std::string trace_hash;
  MemoryJobStore* jobs;
};

std::string run_chaos(const Knobs& k, bool check) {
  SimClock clock;
  Loop loop(clock, LoopOptions{.seed = k.seed, .max_steps = 5'000'000});
  MemoryJobStore jobs(&loop.trace());
  ChaosHandler handler(loop, k.bytes_max);
  ProcessorConfig c{.flush_queue_size = k.flush_queue_size, .max_retries = k.max_retries,
                    .send_individual = k.send_individual, .individual_concurrency = k.individual_concurrency,
                    .async = k.async, .max_async_requests = k.max_async_requests, .split_on_413 = k.split_on_413};
  c.retry.elapsed_max = std::chrono::hours(2);
  Processor p(loop, handler, c, jobs);
  loop.spawn([](Processor& proc, MemoryJobStore& js, Knobs kn) -> Task<void> {
    for (int i = 1; i <= kn.records; ++i) {
      Message m;
      m.id = static_cast<JobId>(i);
      m.body = std::string(static_cast<std::size_t>(5 + (i * 37) % 60), 'x');
      m.keys = {"email:" + std::to_string(i % kn.key_space)};
      js.add(m.id);
      co_await proc.add(std::move(m));
    }
    co_await proc.stop();
  }(p, jobs, k));
  Status s = loop.run_until_idle();
  if (!check) return loop.trace().hash_hex();
  RC_ASSERT(s.ok());
  RC_ASSERT(handler.violation.empty());
  JobCounts counts = jobs.counts();
  RC_ASSERT(counts.pending == 0u);
  RC_ASSERT(counts.total() == static_cast<std::uint64_t>(k.records));
  const std::int64_t cap = std::min(k.flush_queue_size, 50);
  for (const auto& sent : handler.sent) {
    RC_ASSERT(static_cast<std::int64_t>(sent.ids.size()) <= cap);
    RC_ASSERT(sent.bytes <= k.bytes_max);
  }
  const int bound = (k.async ? k.max_async_requests : 1) * std::max(1, k.individual_concurrency);
  RC_ASSERT(handler.in_flight_max <= bound);
  for (JobId id : jobs.ids()) {
    JobOutcome o = jobs.outcome(id);
    if (o.state != JobState::succeeded) RC_ASSERT(!o.reason.empty());
    // A record whose last answer was final got that answer exactly once.
    RC_ASSERT(handler.final_answers[id] <= 1);
  }
  return loop.trace().hash_hex();
}

rc::Gen<Knobs> knobs() {
  return rc::gen::build<Knobs>(
      rc::gen::set(&Knobs::flush_queue_size, rc::gen::inRange(1, 80)),
      rc::gen::set(&Knobs::max_retries, rc::gen::inRange(1, 6)),
      rc::gen::set(&Knobs::send_individual, rc::gen::arbitrary<bool>()),
      rc::gen::set(&Knobs::individual_concurrency, rc::gen::inRange(1, 5)),
      rc::gen::set(&Knobs::async, rc::gen::arbitrary<bool>()),
      rc::gen::set(&Knobs::max_async_requests, rc::gen::inRange(1, 6)),
      rc::gen::set(&Knobs::split_on_413, rc::gen::arbitrary<bool>()),
      rc::gen::set(&Knobs::records, rc::gen::inRange(0, 300)),
      rc::gen::set(&Knobs::key_space, rc::gen::inRange(1, 400)),
      rc::gen::set(&Knobs::bytes_max, rc::gen::inRange<std::int64_t>(80, 3000)),
      rc::gen::set(&Knobs::seed, rc::gen::arbitrary<std::uint64_t>()));
}

RC_GTEST_PROP(ProcessorProperties, EveryMessageEndsOnceWithinLimitsAndBounds, ()) {
  const Knobs k = *knobs();
  RC_TAG(k.async ? "async" : "sync", k.send_individual ? "individual" : "batch-only");
  run_chaos(k, true);
}

RC_GTEST_PROP(ProcessorProperties, SameSeedSameTrace, ()) {
  const Knobs k = *knobs();
  RC_ASSERT(run_chaos(k, false) == run_chaos(k, false));
}

}  // namespace
}  // namespace destsim
