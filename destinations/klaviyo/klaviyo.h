// klaviyo.h — the `klaviyo_bulk_upload` destination (APIS.md §2) on the bulk path.
//
// A record's payload becomes one JSON:API profile: email, phone_number,
// external_id, anonymous_id, first_name, last_name, organization, title, image,
// locale, location{…} and properties{…} map to the profile attributes of the
// same name; any other top-level key becomes a custom property. A record
// without email / phone_number / external_id, with a wrongly typed field, or
// whose profile exceeds Klaviyo's 100 KB (100,000 bytes) fails at transform
// (the peer lets profiles up to 500 KB through). Uploads hold ≤ 10,000
// profiles and ≤ 5 MB (5,000,000 bytes) of body, envelope included.
//
// Fixed where the peer (RudderStack's klaviyobulkupload) is wrong:
//   - a synchronous 400 naming profiles by `source.pointer` strips exactly those
//     (each fails with the error's code/title/detail) and re-sends the rest
//     inside the same upload, for up to `validation_rounds` rounds; a 400 with
//     any error not naming a profile (a bad list id) fails the whole upload;
//   - `cancelled` is a terminal poll status (import failed → the router
//     re-uploads its jobs; upserts make that safe) instead of a busy spin;
//   - an unknown status string is a transient poll fault whose reason names
//     the status: polling goes on, and an import that never reaches a known
//     terminal status ends at `poll_timeout` with outcome_unknown (D3);
//   - upload_stats reads every page of import-errors (page[size]=100, following
//     links.next) and maps each error to its job by the pointer's profile index
//     in ImportRef::params (checked against, else falling back to, the
//     original_payload identity), so it works after a restart; jobs not named
//     succeed only when completed_count + failed_count == total_count and the
//     named failures account for failed_count — otherwise they are left
//     unmentioned and the router retries them; counts not yet final are a
//     transient stats fault;
//   - client-side pacing per endpoint keeps within both documented windows
//     (10/s burst and 150/min steady: one request per 400 ms), and a 429's
//     Retry-After holds the endpoint for every caller (I1).
// Transport errors, 429 and 5xx retry the upload (maybe_applied after a timeout
// or reset once sent); 401/403/413 and other 4xx fail it with the HTTP status and
// the API's error code. Poll and stats faults (429, 5xx, transport, unreadable
// body) are transient; a 404 or other 4xx on a poll fails the import (its jobs
// are retried). Writes are upserts, so the destination is idempotent and
// exactly-once in effect.
#pragma once

#include <memory>

#include "destinations/destination.h"
#include "framework/bulk.h"

namespace destsim {

DestinationEntry klaviyo_destination();

/// Klaviyo's bulk manager over `ctx`, from resolved config (the broken
/// destinations decorate it: destinations/broken).
Result<std::unique_ptr<AsyncDestinationManager>> klaviyo_manager(DeliveryContext& ctx, const Config& config);

}  // namespace destsim
