#include "framework/retry.h"

namespace destsim {

Duration RetryPolicy::base_delay(int attempt) const {
  if (attempt < 2) return Duration(0);
  Int128 d = delay_initial.count();
  const Int128 cap = delay_max.count();
  for (int i = 2; i < attempt && d < cap; ++i) d = d * multiplier_num / multiplier_den;
  if (d > cap) d = cap;
  return Duration(static_cast<std::int64_t>(d));
}

std::pair<Duration, Duration> RetryPolicy::delay_bounds(int attempt) const {
  Duration hi = base_delay(attempt);
  Int128 lo = static_cast<Int128>(hi.count()) * (jitter.den - jitter.num) / jitter.den;
  return {Duration(static_cast<std::int64_t>(lo)), hi};
}

RetryDecision RetryPolicy::next(int attempts_made, Duration elapsed, std::optional<Duration> retry_after,
                                Rng& rng) const {
  RetryDecision d;
  if (attempts_made >= max_attempts) {
    d.reason = "attempts exhausted (" + std::to_string(attempts_made) + " of " + std::to_string(max_attempts) + ")";
    return d;
  }
  auto [lo, hi] = delay_bounds(attempts_made + 1);
  Duration wait = hi;
  if (hi > lo) wait = Duration(rng.uniform(lo.count(), hi.count() + 1));
  if (retry_after && *retry_after > wait) wait = *retry_after;
  if (elapsed_max.count() > 0 && elapsed + wait > elapsed_max) {
    d.reason = "retry window exhausted (" + format_duration(elapsed_max) + ")";
    return d;
  }
  d.retry = true;
  d.delay = wait;
  return d;
}

Status RetryPolicy::validate() const {
  if (max_attempts < 1) return Error::bad_input("max_attempts: expected an integer >= 1");
  if (delay_initial.count() < 0) return Error::bad_input("delay_initial: expected a duration >= 0");
  if (delay_max < delay_initial) return Error::bad_input("delay_max: expected a duration >= delay_initial");
  if (multiplier_den == 0 || multiplier_num < multiplier_den)
    return Error::bad_input("multiplier: expected a ratio >= 1");
  if (jitter.den == 0 || jitter.num > jitter.den) return Error::bad_input("jitter: expected a ratio in [0, 1]");
  if (elapsed_max.count() < 0) return Error::bad_input("elapsed_max: expected a duration >= 0");
  return Status::success();
}

}  // namespace destsim
