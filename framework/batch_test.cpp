#include "framework/batch.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>

namespace destsim {
namespace {

// A handler whose answers a test scripts; it records every request it saw.
class TestHandler final : public BatchHandler {
 public:
  explicit TestHandler(Loop& loop) : loop_(loop) {}
  std::function<BatchResult(const std::vector<const Message*>&)> on_batch = [](const auto&) { return BatchResult{}; };
  std::function<OneResult(const Message&)> on_one = [](const Message&) { return OneResult{}; };
  Duration latency = std::chrono::milliseconds(10);
  BatchLimits lim{.records_max = 1000, .bytes_max = 1'000'000, .envelope_bytes = 10, .separator_bytes = 1};

  struct Sent {
    Time at;
    std::vector<JobId> ids;
    bool batch;
  };
  std::vector<Sent> sent;
  int in_flight = 0, in_flight_max = 0;

  Task<BatchResult> process_batch(const std::vector<const Message*>& batch) override {
    Sent s{loop_.now(), {}, true};
    for (auto* m : batch) s.ids.push_back(m->id);
    sent.push_back(s);
    in_flight_max = std::max(in_flight_max, ++in_flight);
    co_await loop_.sleep(latency);
    --in_flight;
    co_return on_batch(batch);
  }
  Task<OneResult> process_one(const Message& m) override {
    sent.push_back({loop_.now(), {m.id}, false});
    in_flight_max = std::max(in_flight_max, ++in_flight);
    co_await loop_.sleep(latency);
    --in_flight;
    co_return on_one(m);
  }
  BatchLimits limits() const override { return lim; }
  std::string name() const override { return "test"; }

 private:
  Loop& loop_;
};

struct BatchFixture : ::testing::Test {
  SimClock clock;
  Loop loop{clock, LoopOptions{.seed = 3}};
  MemoryJobStore jobs;
  TestHandler handler{loop};

  ProcessorConfig config(int size = 10) {
    ProcessorConfig c;
    c.flush_queue_size = size;
    c.flush_interval = std::chrono::seconds(5);
    c.max_retries = 3;
    return c;
  }

  // Adds messages 1..n (n ids), stops, runs to idle.
  void run(Processor& p, int n, std::function<Message(int)> make = nullptr) {
    loop.spawn([](Processor& proc, MemoryJobStore& js, int count, std::function<Message(int)> mk) -> Task<void> {
      for (int i = 1; i <= count; ++i) {
        Message m = mk ? mk(i) : Message{static_cast<JobId>(i), "{\"n\":" + std::to_string(i) + "}", {}};
        js.add(m.id);
        co_await proc.add(std::move(m));
      }
      co_await proc.stop();
    }(p, jobs, n, std::move(make)));
    ASSERT_TRUE(loop.run_until_idle().ok());
  }
};

TEST(OneResultOf, EachBatchStatusBecomesTheMessagesOwnVerdict) {
  const auto v = [](BatchResult b) { return one_result_of(b).verdict; };
  EXPECT_EQ(v({.status = BatchStatus::success}), Verdict::ok);
  EXPECT_EQ(v({.status = BatchStatus::retry_batch}), Verdict::retry);
  EXPECT_EQ(v({.status = BatchStatus::cannot_retry}), Verdict::fail);
  EXPECT_EQ(v({.status = BatchStatus::retry_individual}), Verdict::retry);
  EXPECT_EQ(v({.status = BatchStatus::retry_individual, .too_large = true}), Verdict::fail);  // 413 alone
  EXPECT_EQ(v({.status = BatchStatus::partial_success}), Verdict::retry);                     // no verdict given
  const OneResult partial = one_result_of({.status = BatchStatus::partial_success,
                                           .results = {{7, Verdict::fail, "invalid email"}},
                                           .reason = "HTTP 200",
                                           .retry_after = std::chrono::seconds(3),
                                           .maybe_applied = true,
                                           .http_status = 200});
  EXPECT_EQ(partial.verdict, Verdict::fail);
  EXPECT_EQ(partial.reason, "invalid email");  // the message's own reason wins over the batch's
  EXPECT_EQ(partial.retry_after, std::chrono::seconds(3));
  EXPECT_TRUE(partial.maybe_applied);
  EXPECT_EQ(partial.http_status, 200);
}

TEST_F(BatchFixture, FlushesBySizeAndAtStop) {
  Processor p(loop, handler, config(100), jobs);
  run(p, 250);
  ASSERT_EQ(handler.sent.size(), 3u);
  EXPECT_EQ(handler.sent[0].ids.size(), 100u);
  EXPECT_EQ(handler.sent[1].ids.size(), 100u);
  EXPECT_EQ(handler.sent[2].ids.size(), 50u);
  EXPECT_EQ(jobs.counts().succeeded, 250u);
  EXPECT_EQ(jobs.counts().pending, 0u);
}

TEST_F(BatchFixture, FlushesAPartialBatchAfterTheIntervalSinceItsFirstRecord) {
  Processor p(loop, handler, config(100), jobs);
  loop.spawn([](Loop& l, Processor& proc, MemoryJobStore& js) -> Task<void> {
    js.add(1);
    co_await proc.add(Message{1, "{}", {}});
    co_await l.sleep(std::chrono::seconds(3));
    js.add(2);
    co_await proc.add(Message{2, "{}", {}});
  }(loop, p, jobs));
  ASSERT_TRUE(loop.run_for(std::chrono::seconds(60)).ok());
  ASSERT_EQ(handler.sent.size(), 1u);
  EXPECT_EQ(handler.sent[0].at, kTimeZero + std::chrono::seconds(5));  // 5 s after the first, not the last
  EXPECT_EQ(handler.sent[0].ids.size(), 2u);
  loop.spawn([](Processor& proc) -> Task<void> { co_await proc.stop(); }(p));
  ASSERT_TRUE(loop.run_until_idle().ok());
}

TEST_F(BatchFixture, BackpressureMakesTheProducerWaitAndDropsNothing) {
  ProcessorConfig c = config(5);
  c.max_buffer_size = 4;
  c.async = false;
  handler.latency = std::chrono::seconds(1);
  Processor p(loop, handler, c, jobs);
  run(p, 100);
  EXPECT_LE(p.stats().buffered_max, 4u);
  EXPECT_EQ(jobs.counts().succeeded, 100u);
  EXPECT_EQ(handler.in_flight_max, 1);
}

TEST_F(BatchFixture, AsyncRequestsAreBounded) {
  ProcessorConfig c = config(2);
  c.max_async_requests = 3;
  handler.latency = std::chrono::seconds(1);
  Processor p(loop, handler, c, jobs);
  run(p, 40);
  EXPECT_EQ(handler.in_flight_max, 3);
  EXPECT_EQ(jobs.counts().succeeded, 40u);
}

TEST_F(BatchFixture, RetryAfterGatesTheNextSendAndNoSleepAfterTheLastAttempt) {
  int calls = 0;
  handler.on_batch = [&](const auto&) {
    BatchResult r;
    r.status = BatchStatus::retry_batch;
    r.reason = "HTTP 429";
    if (++calls == 1) r.retry_after = std::chrono::seconds(60);
    return r;
  };
  Processor p(loop, handler, config(10), jobs);
  run(p, 3);
  ASSERT_EQ(handler.sent.size(), 3u);  // max_retries = 3 total attempts
  Duration gap = handler.sent[1].at - handler.sent[0].at;
  EXPECT_GE(gap, std::chrono::seconds(60));
  EXPECT_EQ(jobs.counts().aborted, 3u);
  EXPECT_NE(jobs.outcome(1).reason.find("attempts exhausted (3 of 3): HTTP 429"), std::string::npos)
      << jobs.outcome(1).reason;
  // The run ends right after the last answer: no backoff sleep follows it.
  EXPECT_EQ(loop.now(), handler.sent[2].at + handler.latency);
}

TEST_F(BatchFixture, PartialSuccessResendsOnlyTheRetryableAlone) {
  handler.on_batch = [](const std::vector<const Message*>& b) {
    BatchResult r;
    r.status = BatchStatus::partial_success;
    for (auto* m : b) {
      if (m->id == 2) r.results.push_back({m->id, Verdict::fail, "invalid email"});
      else if (m->id == 3) r.results.push_back({m->id, Verdict::retry, "conflict"});
      else if (m->id == 4) continue;  // not mentioned at all
      else r.results.push_back({m->id, Verdict::ok, ""});
    }
    return r;
  };
  Processor p(loop, handler, config(10), jobs);
  run(p, 5);
  std::multiset<JobId> singles;
  for (auto& s : handler.sent)
    if (!s.batch) singles.insert(s.ids[0]);
  EXPECT_EQ(singles, (std::multiset<JobId>{3, 4}));  // no success re-sent, no permanent failure retried
  EXPECT_EQ(jobs.outcome(2).state, JobState::failed);
  EXPECT_EQ(jobs.outcome(2).reason, "invalid email");
  EXPECT_EQ(jobs.outcome(3).state, JobState::succeeded);
  EXPECT_EQ(jobs.outcome(4).state, JobState::succeeded);
}

TEST_F(BatchFixture, A413BatchIsSplitDownThenTooLargeAloneFails) {
  handler.on_batch = [](const std::vector<const Message*>& b) {
    BatchResult r;
    bool has_big = false;
    for (auto* m : b) has_big |= m->id == 7;
    if (b.size() > 4 || has_big) {
      r.status = BatchStatus::retry_individual;
      r.too_large = true;
      r.reason = "HTTP 413";
    }
    return r;
  };
  Processor p(loop, handler, config(16), jobs);
  run(p, 16);
  // 16→8+8; 1..8→4+4; 5..8 (with 7)→2+2; 7,8→1+1; 9..16→4+4.
  EXPECT_EQ(p.stats().splits, 5u);
  EXPECT_EQ(jobs.outcome(7).state, JobState::failed);
  EXPECT_EQ(jobs.outcome(7).reason, "too large alone: HTTP 413");
  EXPECT_EQ(jobs.counts().succeeded, 15u);
  int sends_of_7 = 0;
  for (auto& s : handler.sent) sends_of_7 += std::count(s.ids.begin(), s.ids.end(), JobId{7});
  EXPECT_EQ(sends_of_7, 5);  // in 16, 8, 4, 2 and 1 record: never the same request twice
  std::set<std::vector<JobId>> distinct;
  for (auto& s : handler.sent) EXPECT_TRUE(distinct.insert(s.ids).second) << "a 413 request was resent unchanged";
}

TEST_F(BatchFixture, RecordsSharingAKeyShareABatch) {
  // One user's records are one request, not one each: telling them apart in
  // an answer is the handler's business (it sends the ambiguous ones alone).
  Processor p(loop, handler, config(10), jobs);
  run(p, 6, [](int i) { return Message{static_cast<JobId>(i), "{}", {"email:" + std::to_string(i % 3)}}; });
  ASSERT_EQ(handler.sent.size(), 1u);
  EXPECT_EQ(handler.sent[0].ids.size(), 6u);
  EXPECT_EQ(jobs.counts().succeeded, 6u);
}

TEST_F(BatchFixture, ARecordOverTheByteLimitFailsAtOnce) {
  handler.lim.bytes_max = 100;
  Processor p(loop, handler, config(10), jobs);
  run(p, 3, [](int i) { return Message{static_cast<JobId>(i), std::string(i == 2 ? 200 : 10, 'x'), {}}; });
  EXPECT_EQ(jobs.outcome(2).state, JobState::failed);
  EXPECT_NE(jobs.outcome(2).reason.find("exceeds the request limit of 100 bytes"), std::string::npos);
  for (auto& s : handler.sent) EXPECT_EQ(std::count(s.ids.begin(), s.ids.end(), JobId{2}), 0);
  EXPECT_EQ(jobs.counts().succeeded, 2u);
}

TEST_F(BatchFixture, ByteLimitSplitsBatches) {
  handler.lim.bytes_max = 10 + 3 * 20 + 2;  // envelope + three 20-byte items + separators
  Processor p(loop, handler, config(100), jobs);
  run(p, 7, [](int i) { return Message{static_cast<JobId>(i), std::string(20, 'x'), {}}; });
  ASSERT_EQ(handler.sent.size(), 3u);
  EXPECT_EQ(handler.sent[0].ids.size(), 3u);
  EXPECT_EQ(handler.sent[2].ids.size(), 1u);
}

TEST_F(BatchFixture, TimeoutAfterSendMarksAbortedJobsOutcomeUnknown) {
  handler.on_batch = [](const auto&) {
    BatchResult r;
    r.status = BatchStatus::retry_batch;
    r.reason = "timeout";
    r.maybe_applied = true;
    return r;
  };
  ProcessorConfig c = config(10);
  c.max_retries = 2;
  Processor p(loop, handler, c, jobs);
  run(p, 2);
  EXPECT_EQ(jobs.outcome(1).state, JobState::aborted);
  EXPECT_TRUE(jobs.outcome(1).outcome_unknown);
}

TEST_F(BatchFixture, StopIsRestartable) {
  Processor p(loop, handler, config(10), jobs);
  run(p, 3);
  run(p, 0);
  loop.spawn([](Processor& proc, MemoryJobStore& js) -> Task<void> {
    js.add(100);
    co_await proc.add(Message{100, "{}", {}});
    co_await proc.stop();
  }(p, jobs));
  ASSERT_TRUE(loop.run_until_idle().ok());
  EXPECT_EQ(jobs.outcome(100).state, JobState::succeeded);
  EXPECT_EQ(jobs.counts().succeeded, 4u);
}

TEST(ProcessorConfig, ValidationNamesTheKnob) {
  ProcessorConfig c;
  c.individual_concurrency = 101;
  EXPECT_NE(c.validate().error().message.find("individual_concurrency"), std::string::npos);
  c = ProcessorConfig();
  c.max_retries = 0;
  EXPECT_NE(c.validate().error().message.find("max_retries"), std::string::npos);
  c = ProcessorConfig();
  c.flush_interval = Duration(0);
  EXPECT_NE(c.validate().error().message.find("flush_interval"), std::string::npos);
  EXPECT_TRUE(ProcessorConfig().validate().ok());
}

}  // namespace
}  // namespace destsim
