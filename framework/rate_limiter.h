// rate_limiter.h — client-side request pacing and Retry-After holds per
// endpoint, in loop time; the last thing a request passes before it is sent.
//
// A destination that declares a request rate (CONFORMANCE I2) must not exceed
// it: requests to the same key (an endpoint path) are spaced at least
// 1 s / rate apart, in FIFO order of arrival, so any one-second window holds at
// most `rate` requests. A Retry-After from the API holds the key until then
// (I1): a request that got its pacing slot while a 429 arrived waits again.
// Deterministic: no clock but the loop's.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "framework/loop.h"

namespace destsim {

class RateLimiter {
 public:
  /// `per_second` = 0 disables pacing.
  RateLimiter(Loop& loop, std::int64_t per_second) : loop_(loop), per_second_(per_second) {}

  /// Waits until a request to `key` may be sent, and books that slot.
  Task<void> acquire(std::string key);
  /// Nothing is sent to `key` before `until` (a Retry-After).
  void hold(const std::string& key, Time until);
  std::int64_t per_second() const { return per_second_; }
  /// How many acquisitions had to wait.
  std::uint64_t waits() const { return waits_; }

 private:
  Loop& loop_;
  std::int64_t per_second_;
  std::map<std::string, Time> next_free_;
  std::map<std::string, Time> held_until_;
  std::uint64_t waits_ = 0;
};

}  // namespace destsim
