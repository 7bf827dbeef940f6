#include "framework/retry.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace destsim {
namespace {

TEST(RetryPolicy, ExponentialWithCap) {
  RetryPolicy p;
  p.delay_initial = std::chrono::seconds(1);
  p.delay_max = std::chrono::seconds(10);
  EXPECT_EQ(p.base_delay(2), std::chrono::seconds(1));
  EXPECT_EQ(p.base_delay(3), std::chrono::seconds(2));
  EXPECT_EQ(p.base_delay(4), std::chrono::seconds(4));
  EXPECT_EQ(p.base_delay(5), std::chrono::seconds(8));
  EXPECT_EQ(p.base_delay(6), std::chrono::seconds(10));
  EXPECT_EQ(p.base_delay(60), std::chrono::seconds(10));
}

TEST(RetryPolicy, NeverWaitsAfterTheLastAttempt) {
  RetryPolicy p;
  p.max_attempts = 3;
  Rng rng(1);
  EXPECT_TRUE(p.next(1, Duration(0), std::nullopt, rng).retry);
  EXPECT_TRUE(p.next(2, Duration(0), std::nullopt, rng).retry);
  RetryDecision last = p.next(3, Duration(0), std::nullopt, rng);
  EXPECT_FALSE(last.retry);
  EXPECT_EQ(last.delay, Duration(0));
  EXPECT_NE(last.reason.find("3 of 3"), std::string::npos) << last.reason;
}

TEST(RetryPolicy, RetryAfterLiftsTheWaitEvenAboveTheCap) {
  RetryPolicy p;
  p.delay_max = std::chrono::seconds(30);
  Rng rng(1);
  RetryDecision d = p.next(1, Duration(0), std::chrono::seconds(120), rng);
  ASSERT_TRUE(d.retry);
  EXPECT_EQ(d.delay, std::chrono::seconds(120));
}

TEST(RetryPolicy, GivesUpWhenTheWindowWouldBeExceeded) {
  RetryPolicy p;
  p.elapsed_max = std::chrono::minutes(10);
  Rng rng(1);
  RetryDecision d = p.next(1, std::chrono::minutes(9), std::chrono::minutes(2), rng);
  EXPECT_FALSE(d.retry);
  EXPECT_NE(d.reason.find("window"), std::string::npos);
}

RC_GTEST_PROP(RetryPolicy, DelayWithinBoundsAndNeverBelowRetryAfter,
              (std::uint64_t seed, unsigned attempt_raw, unsigned retry_after_ms_raw)) {
  RetryPolicy p;
  p.max_attempts = 20;
  p.elapsed_max = Duration(0);
  int attempt = 1 + static_cast<int>(attempt_raw % 18);
  Rng rng(seed);
  std::optional<Duration> ra;
  if (retry_after_ms_raw % 3 == 0) ra = std::chrono::milliseconds(retry_after_ms_raw % 100000);
  RetryDecision d = p.next(attempt, Duration(0), ra, rng);
  RC_ASSERT(d.retry);
  auto [lo, hi] = p.delay_bounds(attempt + 1);
  if (ra && *ra > hi) {
    RC_ASSERT(d.delay == *ra);
  } else {
    RC_ASSERT(d.delay >= lo);
    RC_ASSERT(d.delay <= std::max(hi, ra.value_or(Duration(0))));
    if (ra) RC_ASSERT(d.delay >= *ra);
  }
}

TEST(RetryPolicy, ValidateNamesTheField) {
  RetryPolicy p;
  p.max_attempts = 0;
  Status s = p.validate();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("max_attempts"), std::string::npos);
}

}  // namespace
}  // namespace destsim
