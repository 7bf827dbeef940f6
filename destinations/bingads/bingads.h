// bingads.h — the two Microsoft Advertising (Bing Ads) bulk destinations,
// sharing one Bulk Service client (bulk_service.h) and one fake
// (fakes/bingads):
//
// `bingads_audience` — customer-match lists. A record is one list member:
//   {"action": "Add" | "Remove" | "Replace", "email": "…"} (trimmed,
//   lower-cased and SHA-256 hashed here) or {"action", "hashed_email": "<64
//   lowercase hex>"}. Each action is its own file (a Customer List row naming
//   `audience_id` and the action, then one Customer List Item row per member:
//   Sub Type Email, Text the hash, Client Id the job id). Within one upload
//   the files go Replace, Remove, Add, so the members a Replace file sets are
//   the base the others change. Replace replaces the whole list with one
//   file's members: a Replace set larger than one upload (records_max,
//   file_bytes_max) keeps only the last file's — send Replace sets that fit
//   one upload, or use Add and Remove.
//
// `bingads_offline_conversions` — offline conversions. A record is one
//   conversion: {"action": "insert" | "update" | "delete", "conversion_name",
//   "conversion_time", and at least one of "microsoft_click_id" (32 lowercase
//   hex), "email"/"hashed_email", "phone"/"hashed_phone"}; insert takes
//   "conversion_value", "conversion_currency_code",
//   "external_attribution_credit", "external_attribution_model"; update
//   (Restate) needs "adjustment_value" and "adjustment_time" and takes
//   "adjustment_currency_code"; delete (Retract) needs "adjustment_time".
//   Times are unix seconds or ISO-8601 UTC instants, written in Bing's
//   "1/2/2006 3:04:05 PM" layout. Each action is its own file (its own
//   column set), in the order insert, update, delete.
//
// Both: ≤ 3 files per upload, their request ids joined into one import id;
// rows mapped back by Client Id (the job id), never by content; writes are
// idempotent (a set's members; duplicate conversions are ignored by the
// service, a restate sets a value), so an upload whose outcome was hidden is
// uploaded again.
#pragma once

#include <memory>

#include "destinations/destination.h"
#include "framework/bulk.h"

namespace destsim {

DestinationEntry bingads_audience_destination();
DestinationEntry bingads_offline_conversions_destination();

/// The managers over `ctx`, from resolved config (for tests).
Result<std::unique_ptr<AsyncDestinationManager>> bingads_audience_manager(DeliveryContext& ctx, const Config& config);
Result<std::unique_ptr<AsyncDestinationManager>> bingads_offline_conversions_manager(DeliveryContext& ctx,
                                                                                    const Config& config);

}  // namespace destsim
