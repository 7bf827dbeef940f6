// sftp.h — the `sftp` destination (APIS.md §9): records become CSV or JSONL
// files (optionally gzip) dropped on an SFTP server, on the bulk path's simple
// (fire-and-forget) manager: each upload is one file, and its jobs succeed or
// fail together.
//
// The file's path is the `file_path` template (destinations/sftp/path_template.h)
// resolved with `destination_id`, `job_run_id` and the calendar time of the
// run's start on the loop's clock (virtual in the simulator), checked to stay
// under `root`, with `_<first job id>` inserted before the extension (and
// ".gz" appended when gzip is on). Records become rows (file_format.h): stable
// columns always, a missing field an empty cell.
//
// Atomic upload: the file is written to a temporary name in the same
// directory, `.<final name>.destsim-tmp-<instance>-<n>`, then renamed onto the
// final name (replacing it; posix-rename where the server offers it), so a
// reader never sees a partial file. A failed upload removes its temporary
// (at once if it can, otherwise before the next upload or at drain). The first
// upload of a process into a directory lists it and removes every temporary
// another process instance left there (a crash): the leading dot and the
// `.destsim-tmp-` marker make them recognisable, the instance token tells
// them from this process's own uploads in flight.
//
// When the rename's answer is lost (disconnect or timeout), the destination
// reconnects and looks: temporary still there → not applied, retried; final
// file there with the upload's size and the temporary gone → applied, the jobs
// succeed; otherwise the outcome is unknown (retried, jobs marked).
//
// Errors (FileError kinds, framework/file_transport.h): disconnected, timeout
// and no_space are retried with the retry policy (max_attempts, backoff,
// retry_window), then the jobs are aborted with the last cause; auth_failed,
// permission_denied, invalid_path and failure fail the file's jobs at once with
// that reason; no_such_file while writing (the directory vanished) is retried
// after creating it again. The peer aborts on every error, network ones included.
//
// Delivery semantics — at-least-once, idempotent by path:
//   - Jobs are never lost: a job is succeeded only after the rename that put its
//     file in place answered (or was verified), and the bulk path keeps every
//     other job until it is terminal, across retries and restarts.
//   - A file's final path depends only on the run (template, ids, run start)
//     and its first job id. A file is only ever replaced by an upload holding
//     that same first job, which therefore did not succeed before — so an
//     overwrite never removes a job reported succeeded, and a retry of the same
//     rows replaces its own earlier attempt instead of adding a copy.
//   - A copy can remain only when an attempt's outcome was unknown (its rename
//     may have happened) and the retry grouped the jobs into a different file;
//     those jobs carry outcome_unknown / resent_after_unknown. Hence
//     at-least-once, and idempotent() for the bulk path's restart rule (an
//     upload whose outcome a crash hid is uploaded again, not dropped).
//
// Real mode: when the DeliveryContext has no file session, the destination
// opens its own from host/port/credentials through DeliveryContext::open_files
// (the caller injects it, e.g. libssh_session_opener; real clock only).
#pragma once

#include "destinations/destination.h"

namespace destsim {

DestinationEntry sftp_destination();

/// The marker every temporary name carries (".<name>.destsim-tmp-<instance>-<n>").
inline constexpr const char* kSftpTempMarker = ".destsim-tmp-";

/// True for a name this destination uses for temporaries (any instance).
bool is_sftp_temp_name(std::string_view name);

}  // namespace destsim
