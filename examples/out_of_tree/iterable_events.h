// iterable_events.h — an out-of-tree destination: analytics "track" events
// (Segment-style: event, userId/email, properties, messageId, timestamp)
// delivered to Iterable's events/trackBulk on destsim's batch path.
//
// It lives outside destsim's source tree, links the installed destsim package
// and is certified by its own binary (certify_iterable_events.cpp) with exactly
// the suite `destsim certify` runs, against its own fake "acme_events"
// (events_fake.h), which it brings to destsim with add_fake().
//
// A record's payload:
//   {"event": "Order Completed",          required, non-empty
//    "email": "a@x.io", "userId": "u1",   at least one
//    "messageId": "m-1",                  optional: the Iterable event id
//    "timestamp": 1704067200,             optional: unix seconds (createdAt)
//    "properties": {...}}                 optional object (dataFields)
// Every event carries an id (its messageId, else "<stream>:<record id>"), so a
// re-sent event updates itself in Iterable instead of duplicating: writes are
// idempotent and delivery is exactly-once in effect.
#pragma once

#include "destinations/destination.h"

namespace acme {

/// The destination, named "iterable_events".
destsim::DestinationEntry iterable_events_destination();

/// The same destination with one deliberate bug, named "iterable_events_canary"
/// and not shipped: it reads every 2xx bulk answer as all-delivered, ignoring
/// the per-record failures Iterable lists in it. Certification must fail it
/// (A2: jobs reported succeeded that the API never accepted).
destsim::DestinationEntry iterable_events_canary();

}  // namespace acme
