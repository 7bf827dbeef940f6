#include "framework/rate_limiter.h"

namespace destsim {

Task<void> RateLimiter::acquire(std::string key) {
  if (per_second_ <= 0) co_return;
  const Duration spacing((1'000'000'000 + per_second_ - 1) / per_second_);
  Time& next = next_free_[key];
  Time slot = next > loop_.now() ? next : loop_.now();
  next = slot + spacing;  // booked before waiting, so later callers queue behind
  if (slot > loop_.now()) {
    ++waits_;
    co_await loop_.sleep_until(slot);
  }
}

}  // namespace destsim
