// retry.h — when to try again, and how long to wait first.
//
// Exponential backoff with a cap and seeded jitter, a bound on attempts and on
// the time since the first attempt. `Retry-After` (delta-seconds or HTTP-date)
// lifts the wait to at least what the API asked for. The policy never asks the
// caller to wait after the last attempt: when no attempt is left, the answer is
// "give up" with no delay (the Go peer sleeps once more before giving up).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "framework/rng.h"
#include "framework/time.h"

namespace destsim {

struct RetryDecision {
  bool retry = false;
  Duration delay{0};
  /// Why not, when !retry: "attempts exhausted (5 of 5)" or "retry window exhausted".
  std::string reason;
};

struct RetryPolicy {
  /// Total attempts including the first (1 = never retry).
  int max_attempts = 5;
  Duration delay_initial = std::chrono::milliseconds(500);
  Duration delay_max = std::chrono::seconds(30);
  /// Backoff multiplier per attempt, as an integer ratio (default 2/1).
  std::uint64_t multiplier_num = 2;
  std::uint64_t multiplier_den = 1;
  /// Jitter: the delay is drawn from [base × (1 − jitter), base]; 0 disables.
  Ratio jitter{1, 5};
  /// Time from the first attempt after which no attempt starts (0 = unbounded).
  Duration elapsed_max = std::chrono::hours(1);

  /// The un-jittered delay before attempt `attempt` (2 = first retry).
  Duration base_delay(int attempt) const;
  /// Bounds [lo, hi] of the jittered delay before `attempt` (for checkers).
  std::pair<Duration, Duration> delay_bounds(int attempt) const;

  /// After `attempts_made` attempts (≥ 1), `elapsed` since the first started,
  /// and an optional Retry-After: retry (with the wait) or give up (no wait).
  RetryDecision next(int attempts_made, Duration elapsed, std::optional<Duration> retry_after, Rng& rng) const;

  /// Checks the fields; an error names the field.
  Status validate() const;
};

}  // namespace destsim
