// staged_table.h — a warehouse destination that stages records per stream and
// commits each stream's stage into its table when the stream closes: the shape
// of a bulk warehouse load (fakes/warehouse/warehouse_api.h is its API).
//
// Records. A record of stream S becomes one row of table `<table_prefix>S`: its
// payload object, staged under the record's id as the row id. Rows go to the
// stream's open stage with `PUT /v1/stages/{id}/rows` through the batch path
// (framework/batch.h: flush by size or interval, retries with backoff, 429/5xx
// retried, 413 split then sent alone, per-row rejections failed at once). A row
// re-sent after a lost answer replaces itself in the stage, so staging is
// idempotent. A staged job is NOT succeeded: it succeeds only when the stage
// commits. (The batch processor reports to a proxy job store that records
// "staged" instead of "succeeded" and passes every other outcome through.)
//
// Lifecycle (framework/lifecycle.h). setup() validates the table names.
// flush_stream() sends everything buffered and returns when each job of the
// stream is staged or terminal. close_stream(S, true) commits the stage with the
// stream's mode — append, dedupe (upsert by primary key) or truncate (rows tagged
// with the stream's generation; older generations are deleted by the warehouse
// in the same atomic commit, so only when it succeeds) — then finishes the
// staged jobs succeeded; a commit that fails (after retries) fails them with the
// reason and fails the stream. close_stream(S, false) fails every unfinished job
// of the stream ("staged data discarded"), drops the stage, and fails any later
// record of S at once. teardown() drops every open stage this connection's
// label still holds. Records of a stream no Sync configured (the plain
// deliver/drain harness) get the config's default mode; drain() commits every
// stream with unfinished jobs, and a later record opens a new stage.
//
// Exactly once. Before a commit the destination writes {stage, jobs} to the job
// store and commits the store (the crash step "before_commit" is right after);
// then it commits the stage. A stage commits at most once (the warehouse refuses
// a second commit with 409 StageCommitted, which the destination reads as "my
// earlier attempt applied"). A commit whose outcome stays unknown, or a stored
// record found after a crash, is settled with `DELETE /v1/stages/{id}`: 200
// means the stage is now dropped and never committed (its jobs stay pending and
// their re-offered records are staged again in a NEW stage), 409 means it was
// committed (its jobs succeed). So nothing is committed twice and nothing is
// reported succeeded that is not in its table. A commit is tried up to
// `commit_attempts_max` times; settling keeps asking (up to 100 attempts within
// `retry_window`), because a stage whose fate is unknown leaves its jobs
// `outcome_unknown` — and a failed stream whose rows may have landed.
//
// Abandoned stages (created by a process that crashed, or whose creation answer
// was lost) are never committed; they are dropped when a process starts (before
// any record: every open stage with this connection's `stage_label`), and at
// teardown. One label = one connection: two syncs must not share a label at once.
#pragma once

#include "destinations/destination.h"

namespace destsim {

DestinationEntry staged_table_destination();

}  // namespace destsim
