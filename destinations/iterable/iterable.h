// iterable.h — the Iterable destination (APIS.md §4) on the batch path.
//
// Record payloads by "type":
//   track          → events/trackBulk          {email|userId, eventName, id?, createdAt?, dataFields?}
//   identify       → users/bulkUpdate          {email|userId, dataFields?, preferUserId?, mergeNestedObjects?}
//   subscribe      → lists/subscribe           {listId, email|userId}   (one batch stream per list)
//   unsubscribe    → lists/unsubscribe         {listId, email|userId}
//   subscriptions  → users/bulkUpdateSubscriptions {email|userId, emailListIds?, unsubscribedChannelIds?, …}
// Every event gets an `id` (the payload's, or "<stream>:<record id>"), so a
// re-sent event updates itself instead of duplicating: together with upserts for
// users, set semantics for lists and overwrite semantics for subscriptions, every
// write is idempotent and delivery is exactly-once in effect.
//
// Iterable reports per-record failures by email and userId, so no two records
// sharing either key go into one batch: every per-record result is unambiguous
// (the peer guesses and marks such records retryable). HTTP statuses map as the
// Go client does — 0/429/5xx retry the batch; 408/409/413 send records alone
// (413 first halves the batch); a RequestFieldsTypesMismatched error sends
// records alone, where the one with the mismatch fails; other 4xx are permanent.
#pragma once

#include <memory>

#include "destinations/destination.h"
#include "framework/router.h"

namespace destsim {

DestinationEntry iterable_destination();

/// Iterable's routes and handlers over `ctx` (the canary decorates them).
std::unique_ptr<BatchRoutes> iterable_routes(DeliveryContext& ctx, const Config& config);

}  // namespace destsim
