// eloqua.h — the `eloqua` destination: Oracle Eloqua Bulk API 2.0 contact
// imports (APIS.md §3) on the bulk path.
//
// A record's payload maps to contact fields through the `fields` config (payload
// key → Eloqua internal field name; by default email → C_EmailAddress,
// first_name → C_FirstName, …); `email` (the identifier) must map to the field
// with a uniqueness constraint. Values are strings or numbers (written as
// JSON writes them); null and absent are empty cells.
//
// One upload = one import definition (`POST /contacts/imports`, named
// `<name_prefix>-…`), its rows staged in as many `POST …/data` as needed at
// ≤ 32 MB each (Eloqua answers a larger POST 404), and one sync (`POST /syncs`);
// the import id is the sync's uri, the row order (recordIndex - 1 → job) in the
// ImportRef's params. The base URL comes from `GET https://<host>/id`, the field
// list from every page of `GET /contacts/fields` (following hasMore — the peer
// reads the first page only).
//
// Fixed or done where the peer (RudderStack's eloqua manager) is weak:
//   - `warning` is partial success: every page of `GET /syncs/{id}/rejects`
//     (limit 1000, offset, hasMore) is read and each reject mapped to its job
//     by its 1-based recordIndex across all data POSTs; the rejected jobs fail
//     with Eloqua's statusCode and message, the others succeed — only when the
//     rejects account for themselves (in range, each once); otherwise the
//     unnamed jobs are left to the router, which uploads them again
//     (upserts by the unique field are idempotent);
//   - `error` fails the import (its jobs are uploaded again); an unknown sync
//     status is a transient poll fault, and a sync that never ends ends at
//     poll_timeout with outcome_unknown (D3);
//   - the import definition is deleted at every terminal sync status, after a
//     failed staging (before the manager's next request), and — after a crash or restart — as a leftover: at the
//     first upload and then at most every `cleanup_interval`, every definition
//     named with `name_prefix` whose sync is terminal (or that has none and is
//     not being staged by this process) is deleted, so definitions never pile up;
//   - a 500 carrying `errorSeverity` waits the matching Retry-After (0 → 1 h,
//     1 → 30 min, 2 → 15 min, 3 → 2 min) when the header is absent; 429 and
//     other Retry-Afters hold every request (I1).
#pragma once

#include <memory>

#include "destinations/destination.h"
#include "framework/bulk.h"

namespace destsim {

DestinationEntry eloqua_destination();

/// The manager over `ctx`, from resolved config.
Result<std::unique_ptr<AsyncDestinationManager>> eloqua_manager(DeliveryContext& ctx, const Config& config);

}  // namespace destsim
