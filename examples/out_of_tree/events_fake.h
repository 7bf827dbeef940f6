// events_fake.h — this repository's own fake: the two Iterable event
// endpoints iterable_events uses, registered with destsim::add_fake() as
// "acme_events" so certification runs against it (no destsim fake is named).
//
// A pure state machine (destsim::FakeApi), the oracle certification checks
// the destination's own account against:
//   POST /api/events/trackBulk  {"events": [...]}: up to events_max events; an
//        event whose email is not an address is listed in "invalidEmails",
//        every other one is tracked. 200 {"successCount", "failCount",
//        "invalidEmails", "invalidUserIds"}.
//   POST /api/events/track      one event: 400 InvalidEmailAddressError for a
//        bad email, else 200 tracked.
// Both need an Api-Key header (the configured key when one is set: 401
// otherwise) and a body of at most body_bytes_max (413 otherwise).
// applied("iterable.event#<hash>") counts how often the event with that exact
// JSON was tracked (framework/oracle.h). Options (fakes/fake_options.h shares
// api_key and latency): {"api_key", "latency", "events_max", "body_bytes_max"}.
#pragma once

#include <cstdint>
#include <string>

#include "fakes/catalog.h"
#include "fakes/fake_api.h"

namespace acme {

struct EventsFakeOptions {
  std::string api_key;  // empty: any non-empty key
  destsim::Duration latency{0};
  std::int64_t events_max = 1000;
  std::int64_t body_bytes_max = 4'000'000;
};

/// What EventsFake::reset() forgets (the oracle's ledger is the base's).
struct EventsFakeState {
  std::int64_t tracked = 0, rejected = 0, requests = 0;
};

class EventsFake final : public destsim::StatefulFakeApi<EventsFakeOptions, EventsFakeState> {
 public:
  using StatefulFakeApi::StatefulFakeApi;
  std::string name() const override { return "acme_events"; }
  /// {"tracked": n, "rejected": n, "requests": n}
  nlohmann::json accepted() const override;
  destsim::Response handle(const destsim::Request& request, destsim::Time now) override;
};

/// The catalogue entry: HTTP door, every fault kind, options read with the
/// common parser. Add it with destsim::add_fake() before certifying.
destsim::FakeEntry events_fake_entry();

}  // namespace acme
