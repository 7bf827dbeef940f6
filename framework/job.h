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
#include <string>

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
};

}  // namespace destsim
