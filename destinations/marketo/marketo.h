// marketo.h — the `marketo_bulk_upload` destination (APIS.md §1) on the bulk path.
//
// Each record (payload: {field: value}) becomes one CSV row in the order of the
// configured `columns` (payload keys renamed by `field_map`; a missing field is
// an empty cell; a key that maps to no column fails the record). Uploads are
// multipart `POST /bulk/v1/leads.json` (format csv, lookupField), polled at
// `/bulk/v1/leads/batch/{id}.json`, and per-row outcomes are read back from
// the failures and warnings files.
//
// Fixed where the peer (RudderStack's marketo-bulk-upload) is wrong:
//   - the OAuth token is cached until it expires (refreshed `token_refresh_margin`
//     before, unless Marketo already said that token is the current one), and on
//     600/601/602 it is refreshed and the call retried once at once — never a
//     token request per call; it goes in `Authorization: Bearer` only;
//   - identical rows in one upload are sent once and share that row's result;
//     ImportRef::params keeps every distinct row's exact text and its jobs, so
//     failures/warnings map back by exact content after a restart — no hashes;
//   - two different rows with the same lookup value are both sent: Marketo
//     upserts in file order (the last wins) and both jobs succeed, since both
//     rows were applied;
//   - warned rows were imported, so their jobs succeed (the peer aborts them);
//   - 1016 "Too many imports" is retried (the peer's generic path); 413 fails
//     the upload's jobs naming the limit;
//   - a 429/503 Retry-After holds its endpoint path for every request (I1);
//   - an unknown import status is transient with a reason naming it: polling
//     goes on and the poll timeout ends it (D3), never "completed";
//   - when the counts and the files disagree, only the rows the files name get
//     a verdict; the rest are left unmentioned so the router retries them (D4).
// Error codes: 600/601/602 refresh the token; 606/607/615/1029, 502/604/608/
// 611/614/713/719, HTTP 429/5xx and unknown codes retry (607 waits until the
// quota resets at 00:00 CST); 1016 retries after a minute; 603/605/609/610/612/
// 613/616, other 7xx and 1xxx and other HTTP 4xx fail.
#pragma once

#include "destinations/destination.h"

namespace destsim {

DestinationEntry marketo_destination();

}  // namespace destsim
