#include "framework/sync.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace destsim {
namespace {

struct SyncFixture : ::testing::Test {
  SimClock clock;
  Loop loop{clock, LoopOptions{.seed = 1}};
};

TEST_F(SyncFixture, SemaphoreBoundsConcurrency) {
  Semaphore sem(loop, 3);
  int in_flight = 0, peak = 0, done = 0;
  for (int i = 0; i < 10; ++i) {
    loop.spawn([](Loop& l, Semaphore& s, int& cur, int& pk, int& dn) -> Task<void> {
      auto permit = co_await s.acquire();
      ++cur;
      pk = std::max(pk, cur);
      co_await l.sleep(std::chrono::seconds(1));
      --cur;
      ++dn;
    }(loop, sem, in_flight, peak, done));
  }
  ASSERT_TRUE(loop.run_until_idle().ok());
  EXPECT_EQ(done, 10);
  EXPECT_EQ(peak, 3);
  EXPECT_EQ(sem.available(), 3);
  EXPECT_EQ(loop.now(), kTimeZero + std::chrono::seconds(4));  // ceil(10/3) rounds of 1 s
}

TEST_F(SyncFixture, BoundedQueueMakesProducerWaitAndDropsNothing) {
  BoundedQueue<int> q(loop, 2);
  std::vector<int> got;
  int max_size = 0;
  loop.spawn([](BoundedQueue<int>& queue, int& mx) -> Task<void> {
    for (int i = 0; i < 20; ++i) {
      bool ok = co_await queue.push(i);
      EXPECT_TRUE(ok);
      mx = std::max<int>(mx, static_cast<int>(queue.size()));
    }
    queue.close();
  }(q, max_size));
  loop.spawn([](Loop& l, BoundedQueue<int>& queue, std::vector<int>& out) -> Task<void> {
    while (auto v = co_await queue.pop()) {
      out.push_back(*v);
      co_await l.sleep(std::chrono::milliseconds(100));  // slow consumer
    }
  }(loop, q, got));
  ASSERT_TRUE(loop.run_until_idle().ok());
  ASSERT_EQ(got.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(got[static_cast<size_t>(i)], i);
  EXPECT_LE(max_size, 2);
}

TEST_F(SyncFixture, ClosedQueueRefusesPushAndDrains) {
  BoundedQueue<int> q(loop, 4);
  EXPECT_TRUE(q.try_push(1));
  q.close();
  EXPECT_FALSE(q.try_push(2));
  std::vector<std::optional<int>> got;
  loop.spawn([](BoundedQueue<int>& queue, std::vector<std::optional<int>>& out) -> Task<void> {
    out.push_back(co_await queue.pop());
    out.push_back(co_await queue.pop());
  }(q, got));
  ASSERT_TRUE(loop.run_until_idle().ok());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], 1);
  EXPECT_EQ(got[1], std::nullopt);
}

TEST_F(SyncFixture, CompletionDeliversValueSetLater) {
  Completion<std::string> c(loop);
  std::string got;
  loop.spawn([](Completion<std::string> comp, std::string& out) -> Task<void> {
    out = co_await comp.wait();
  }(c, got));
  loop.call_after(std::chrono::seconds(3), [c]() mutable { c.set("hello"); });
  ASSERT_TRUE(loop.run_until_idle().ok());
  EXPECT_EQ(got, "hello");
}

TEST_F(SyncFixture, WhenAllReturnsInInputOrderAfterTheSlowest) {
  std::vector<int> got;
  loop.spawn([](Loop& l, std::vector<int>& out) -> Task<void> {
    std::vector<Task<int>> tasks;
    for (int i = 0; i < 4; ++i) {
      tasks.push_back([](Loop& lp, int v) -> Task<int> {
        co_await lp.sleep(std::chrono::seconds(4 - v));
        co_return v * v;
      }(l, i));
    }
    out = co_await when_all(l, std::move(tasks));
  }(loop, got));
  ASSERT_TRUE(loop.run_until_idle().ok());
  EXPECT_EQ(got, (std::vector<int>{0, 1, 4, 9}));
  EXPECT_EQ(loop.now(), kTimeZero + std::chrono::seconds(4));
}

TEST_F(SyncFixture, WithTimeoutCancelsTheSlowTask) {
  std::optional<int> fast, slow;
  bool slow_finished = false;
  loop.spawn([](Loop& l, std::optional<int>& f, std::optional<int>& s, bool& sf) -> Task<void> {
    f = co_await with_timeout(l, std::chrono::seconds(5), [](Loop& lp) -> Task<int> {
      co_await lp.sleep(std::chrono::seconds(1));
      co_return 1;
    }(l));
    s = co_await with_timeout(l, std::chrono::seconds(5), [](Loop& lp, bool& fin) -> Task<int> {
      co_await lp.sleep(std::chrono::hours(1));
      fin = true;
      co_return 2;
    }(l, sf));
  }(loop, fast, slow, slow_finished));
  ASSERT_TRUE(loop.run_until_idle().ok());
  EXPECT_EQ(fast, 1);
  EXPECT_EQ(slow, std::nullopt);
  EXPECT_FALSE(slow_finished);
  EXPECT_EQ(loop.now(), kTimeZero + std::chrono::seconds(6));  // the hour-long sleep was cancelled
}

TEST_F(SyncFixture, CancelledWaiterPassesNotificationOn) {
  Semaphore sem(loop, 1);
  auto held = sem.try_acquire();
  ASSERT_TRUE(held.held());
  int acquired = 0;
  Scope doomed(loop);
  doomed.spawn([](Semaphore& s, int& n) -> Task<void> {
    auto p = co_await s.acquire();
    ++n;
  }(sem, acquired));
  loop.spawn([](Loop& l, Semaphore& s, int& n) -> Task<void> {
    co_await l.sleep(std::chrono::milliseconds(1));
    auto p = co_await s.acquire();
    n += 10;
  }(loop, sem, acquired));
  ASSERT_TRUE(loop.run_for(std::chrono::milliseconds(5)).ok());
  held.release();  // notifies the doomed waiter...
  doomed.cancel();  // ...which is destroyed before it runs: the notification moves on
  ASSERT_TRUE(loop.run_until_idle().ok());
  EXPECT_EQ(acquired, 10);
  EXPECT_EQ(sem.available(), 1);
}

}  // namespace
}  // namespace destsim

namespace destsim {
namespace {

TEST_F(SyncFixture, WaitUntilTimesOutOrIsNotified) {
  Notify n(loop);
  std::vector<std::pair<bool, Time>> got;
  loop.spawn([](Loop& l, Notify& nt, std::vector<std::pair<bool, Time>>& out) -> Task<void> {
    bool a = co_await nt.wait_until(l.now() + std::chrono::seconds(5));
    out.emplace_back(a, l.now());
    bool b = co_await nt.wait_until(l.now() + std::chrono::seconds(5));
    out.emplace_back(b, l.now());
  }(loop, n, got));
  loop.call_after(std::chrono::seconds(7), [&] { n.notify_one(); });
  ASSERT_TRUE(loop.run_until_idle().ok());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_FALSE(got[0].first);
  EXPECT_EQ(got[0].second, kTimeZero + std::chrono::seconds(5));
  EXPECT_TRUE(got[1].first);
  EXPECT_EQ(got[1].second, kTimeZero + std::chrono::seconds(7));
}

TEST_F(SyncFixture, PopUntilReturnsItemsOrTimesOut) {
  BoundedQueue<int> q(loop, 4);
  std::vector<std::string> got;
  loop.spawn([](Loop& l, BoundedQueue<int>& queue, std::vector<std::string>& out) -> Task<void> {
    for (int i = 0; i < 3; ++i) {
      bool timed_out = false;
      auto v = co_await queue.pop_until(l.now() + std::chrono::seconds(2), &timed_out);
      out.push_back(v ? std::to_string(*v) : (timed_out ? "timeout" : "closed"));
    }
  }(loop, q, got));
  loop.call_after(std::chrono::seconds(1), [&] { EXPECT_TRUE(q.try_push(42)); });
  loop.call_after(std::chrono::seconds(10), [&] { q.close(); });
  ASSERT_TRUE(loop.run_until_idle().ok());
  EXPECT_EQ(got, (std::vector<std::string>{"42", "timeout", "timeout"}));
}

}  // namespace
}  // namespace destsim
