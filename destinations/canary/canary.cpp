#include "destinations/canary/canary.h"

#include "destinations/broken/broken.h"

namespace destsim {

DestinationEntry canary_destination() {
  IterableBug bugs;
  bugs.drop_retry_after = true;  // sends again at once after a 429/503 (I1)
  bugs.batch = [](BatchResult& r) {  // re-sends a partial success whole, its successes with it (C5)
    if (r.status == BatchStatus::partial_success) {
      r.status = BatchStatus::retry_batch;
      r.results.clear();
      r.reason = "partial success (the canary retries the whole batch)";
    }
  };
  return broken_iterable(
      "canary",
      "Iterable with two deliberate bugs (ignores Retry-After; retries a partial success whole) — must fail certify",
      std::move(bugs));
}

}  // namespace destsim
