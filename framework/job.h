// job.h — records, jobs and their terminal states.
//
// A record is one input item `{id, stream, payload}`; as a unit of delivery it is
// a job. Every job ends in exactly one terminal state — succeeded, failed
// (permanent, with reason) or aborted (retries or time exhausted, with reason) —
// and carries `outcome_unknown` when the framework cannot know whether the API
// applied it (a timeout or reset after sending, an import id lost in a crash, an
// import ended by the poll timeout). Nothing is silently dropped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace destsim {

using JobId = std::uint64_t;

struct Record {
  JobId id = 0;
  std::string stream = "default";
  nlohmann::json payload;
};

enum class JobState : std::uint8_t { pending, succeeded, failed, aborted };

const char* job_state_name(JobState s);
inline bool is_terminal(JobState s) { return s != JobState::pending; }

/// Why a job failed or was aborted, as a machine-readable kind; the reason
/// text beside it carries the API's own detail ("HTTP 400 BadParams: …").
///   invalid_record   the destination could not build a request from the record
///   rejected_by_api  the API refused the record or the request (a 4xx, a
///                    per-record failure in a 2xx, a failed import)
///   auth             401/403, an expired or revoked credential
///   too_large        413, or the record alone exceeds a request limit
///   rate_limited     the last answer was 429
///   server_error     the last answer was a 5xx
///   timeout          the request, the poll or the import ran out of time
///   transport        the connection failed (reset, refused, unreadable answer)
///   unknown_outcome  the API may have applied it; nothing says whether it did
///   stream_failed    the sync ended the stream (source error, failed commit)
///   lost             the record itself is gone (not available after a restart)
/// `none` is only for succeeded jobs: A4 fails a failed/aborted job without a kind.
enum class ReasonKind : std::uint8_t {
  none,
  invalid_record,
  rejected_by_api,
  auth,
  too_large,
  rate_limited,
  server_error,
  timeout,
  transport,
  unknown_outcome,
  stream_failed,
  lost,
};
inline constexpr int kReasonKinds = 12;
const char* reason_kind_name(ReasonKind k);
/// The kind a name stands for ("rate_limited"), or nullopt.
std::optional<ReasonKind> reason_kind_from(std::string_view name);
/// The kind an HTTP answer implies: 0 (no answer) → transport, 401/403 → auth,
/// 408 → timeout, 413 → too_large, 429 → rate_limited, 5xx → server_error,
/// another 4xx → rejected_by_api, a 2xx → rejected_by_api (a per-record
/// failure in a success); -1 (not HTTP) → none.
ReasonKind reason_kind_of_status(int http_status);

/// A job's terminal outcome as reported by the framework.
struct JobOutcome {
  JobState state = JobState::pending;
  /// Names the cause for failed/aborted ("HTTP 400 InvalidEmailAddressError",
  /// "attempts exhausted (5 of 5): HTTP 503", "too large alone (413)").
  std::string reason;
  bool outcome_unknown = false;
  /// For a succeeded job: an earlier send's outcome was hidden by a fault, so
  /// the API may hold it more than once (allowed by A3 only for at-least-once).
  bool resent_after_unknown = false;
  /// What kind of cause `reason` details (none for a succeeded job).
  ReasonKind kind = ReasonKind::none;
};

}  // namespace destsim
