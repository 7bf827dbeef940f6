// yandex_metrica.h — the `yandex_metrica_offline_conversions` destination
// (APIS.md §6) on the bulk path.
//
// A record's payload is one offline conversion: `client_id` / `user_id` /
// `yclid` (the one the config's client_id_type names), `target` (the goal
// identifier), `date_time` (unix seconds, in the past) and optionally `price`
// (a decimal string or an integer) and `currency` (ISO 4217, three capital
// letters; only with a price). Each becomes one row of the CSV file
// `<IdCol>,Target,DateTime,Price,Currency` uploaded as the multipart part
// `file` to POST /management/v1/counter/{counterId}/offline_conversions/upload.
// A record the API would not count as a valid row (the fake's rules:
// fakes/yandex_metrica) fails at transform, naming the field — the API only
// counts such rows (line_quantity), it never says which.
//
// Done better than the peer (RudderStack's yandexmetrica), which never polls
// and aborts every job on any non-200:
//   - it polls GET …/offline_conversions/uploading/{id} until PROCESSED (the
//     jobs succeed) or LINKAGE_FAILURE (nothing was applied: the jobs are
//     uploaded again, after the backoff, up to the attempts limit — Yandex's
//     advice is to upload later); an unknown status is a transient poll fault,
//     and an import that never ends ends at poll_timeout, outcome unknown;
//   - an upload the API answered with fewer valid rows (line_quantity) or rows
//     (source_quantity) than it sent ends outcome unknown (the API applies the
//     rows it took and says nothing of which): never reported delivered,
//     never uploaded again;
//   - quota answers (429, or 420 as the English docs say) are retried, not
//     aborted: the per-second and parallel quotas after a second, the daily
//     quota (5,000 requests per user) after the next 00:00 GMT of the API's
//     own clock (its Date header), since Yandex sends no Retry-After;
//   - requests are paced client-side (requests_per_second, ≤ 30) and imports
//     in flight bounded by the 3-parallel-requests quota;
//   - transport errors and 5xx retry the upload; after a timeout or reset once
//     sent (the API may have taken it) the jobs end outcome unknown instead of
//     being uploaded twice: conversions are not de-duplicated (UNCONFIRMED;
//     the strict reading), so writes are not idempotent;
//   - 400/403/404/413 fail the upload permanently with Yandex's error_type and
//     message.
#pragma once

#include <memory>

#include "destinations/destination.h"
#include "framework/bulk.h"

namespace destsim {

DestinationEntry yandex_metrica_destination();

/// The manager over `ctx`, from resolved config.
Result<std::unique_ptr<AsyncDestinationManager>> yandex_metrica_manager(DeliveryContext& ctx, const Config& config);

}  // namespace destsim
