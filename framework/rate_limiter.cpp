#include "framework/rate_limiter.h"

namespace destsim {

void RateLimiter::hold(const std::string& key, Time until) {
  Time& h = held_until_[key];
  if (until > h) h = until;
}

Task<void> RateLimiter::acquire(std::string key) {
  bool ready = false;
  while (!ready) {
    auto h = held_until_.find(key);
    if (h != held_until_.end() && h->second > loop_.now()) {
      ++waits_;
      co_await loop_.sleep_to(h->second);
    }
    if (per_second_ > 0) {
      const Duration spacing((1'000'000'000 + per_second_ - 1) / per_second_);
      Time& next = next_free_[key];
      Time slot = next > loop_.now() ? next : loop_.now();
      next = slot + spacing;  // booked before waiting, so later callers queue behind
      if (slot > loop_.now()) {
        ++waits_;
        co_await loop_.sleep_to(slot);
      }
    }
    // A Retry-After may have arrived while this request waited for its slot.
    h = held_until_.find(key);
    ready = h == held_until_.end() || h->second <= loop_.now();
  }
}

}  // namespace destsim
