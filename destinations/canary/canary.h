// canary.h — the canary: the shipped Iterable destination under a decorator
// that adds two deliberate bugs, so the conformance suite is seen to fail.
//   - It drops every Retry-After before Iterable reads it, so it sends again
//     at once after a 429/503 (breaks I1).
//   - It retries a partial success whole, re-sending its successes (breaks C5).
// Not shipped; `destsim certify canary` must fail (exit 1). No bug lives in
// destinations/iterable: the decorator is all there is.
#pragma once

#include "destinations/destination.h"

namespace destsim {

DestinationEntry canary_destination();

}  // namespace destsim
