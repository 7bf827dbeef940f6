// snowpipe_streaming.h — the `snowpipe_streaming` destination (APIS.md §8):
// rows into Snowflake tables through Snowpipe Streaming channels, the way
// RudderStack's snowpipestreaming manager reaches them (its sidecar,
// rudder-snowpipe-clients, and the Snowflake SQL API for schemas, tables and
// columns), on the bulk path: insert = upload, offset tokens = the import,
// channel status = the poll. The fake is fakes/snowpipe.
//
// A record is one row in RudderStack's transformer shape:
//   {"table"?: "TRACKS", "data": {COL: value, …}, "columns": {COL: type, …}}
// with types string | int | float | boolean | datetime | json (the warehouse
// types). The table defaults to the record's stream, upper-cased; column names
// are upper-cased (Snowflake's provider case) and must be identifiers; every
// data key needs a declared type; `ID` (a non-empty string) is required — it
// names the row (the oracle's key, and the discards' ROW_ID). A value over
// 16 MiB (Snowflake's largest VARCHAR/VARIANT) fails the record at once.
//
// How it delivers (README.md beside this file says what it does better than
// the peer and why):
//   - one channel per table, cached; opened with the account's key pair; a
//     missing schema or table is created over SQL (from the batch's declared
//     types) and the channel opened again; columns the batch has and the
//     table lacks are added (ALTER TABLE … ADD COLUMN IF NOT EXISTS) and the
//     channel reopened (a channel sees the columns of its opening);
//   - every value is checked against the column's type before it is sent; a
//     value that does not convert is sent as null and written, with its
//     reason, to the RUDDER_DISCARDS table — after the row's own insert has
//     committed, on a discards channel of its own per table, under the same
//     offset token, so neither a retry of the row nor of the discard can
//     write either twice;
//   - the offset token of an insert is the batch's largest job id, or one past
//     the channel's last token when that would not be larger (a retried job
//     has a smaller id than jobs already sent): tokens only grow, so "token ≤
//     committed" always means "committed";
//   - completion is read from the channel's status: committed ≥ token → the
//     rows are in; the channel alive with latest-inserted ≥ token → still
//     flushing; anything else (lost, invalid, gone after a restart or a
//     reopen) → never to be committed: the jobs are sent again, under a new
//     token. An insert whose answer was lost, or answered success:false, is
//     decided the same way, never assumed;
//   - a channel that answers 404 is reopened and the insert tried once more;
//     an invalid channel is reopened at the next use; a status call that
//     finds the stored channel gone reads the reopened one's committed token —
//     and when that token went back (the table was dropped, its history with
//     it), a dead channel's insert ends outcome unknown, never sent again;
//   - a row the API refuses (its own error for that row) fails that job alone;
//     a row naming columns the channel does not know (a stale cached schema)
//     is retried after reopening the channel;
//   - one import at a time (the discards' ordering needs it), stuck imports
//     end at poll_timeout with their jobs outcome unknown.
#pragma once

#include <memory>

#include "destinations/destination.h"
#include "framework/bulk.h"

namespace destsim {

DestinationEntry snowpipe_streaming_destination();

/// The manager over `ctx`, from resolved config.
Result<std::unique_ptr<AsyncDestinationManager>> snowpipe_streaming_manager(DeliveryContext& ctx,
                                                                            const Config& config);

}  // namespace destsim
