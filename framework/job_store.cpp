#include "framework/job_store.h"

namespace destsim {

const char* job_state_name(JobState s) {
  switch (s) {
    case JobState::pending: return "pending";
    case JobState::succeeded: return "succeeded";
    case JobState::failed: return "failed";
    case JobState::aborted: return "aborted";
  }
  return "?";
}

std::uint32_t MemoryJobStore::intern(const std::string& reason) {
  auto it = reason_index_.find(reason);
  if (it != reason_index_.end()) return it->second;
  auto idx = static_cast<std::uint32_t>(reasons_.size());
  reasons_.push_back(reason);
  reason_index_.emplace(reason, idx);
  return idx;
}

void MemoryJobStore::add(JobId id) {
  auto [it, inserted] = rows_.emplace(id, Row{});
  DS_ASSERT(inserted);  // ids are unique per run
  ++counts_.pending;
}

void MemoryJobStore::attempt(JobId id) {
  auto it = rows_.find(id);
  DS_ASSERT(it != rows_.end());
  if (it->second.attempts < UINT16_MAX) ++it->second.attempts;
}

void MemoryJobStore::finish(JobId id, const JobOutcome& outcome, Time at) {
  auto it = rows_.find(id);
  DS_ASSERT(it != rows_.end());
  DS_ASSERT(it->second.state == JobState::pending);  // a terminal state never changes
  DS_ASSERT(is_terminal(outcome.state));
  DS_ASSERT(outcome.state == JobState::succeeded || !outcome.reason.empty());  // A4: a reason names the cause
  Row& r = it->second;
  r.state = outcome.state;
  r.unknown = outcome.outcome_unknown && outcome.state != JobState::succeeded;
  r.resent = outcome.resent_after_unknown && outcome.state == JobState::succeeded;
  r.reason = intern(outcome.reason);
  --counts_.pending;
  switch (outcome.state) {
    case JobState::succeeded: ++counts_.succeeded; break;
    case JobState::failed: ++counts_.failed; break;
    case JobState::aborted: ++counts_.aborted; break;
    case JobState::pending: break;
  }
  if (r.unknown) ++counts_.unknown;
  if (trace_) {
    auto e = trace_->event(at, "job");
    e.num("id", static_cast<std::int64_t>(id)).str("state", job_state_name(outcome.state));
    if (!outcome.reason.empty()) e.str("reason", outcome.reason);
    if (r.unknown) e.flag("outcome_unknown", true);
    if (r.resent) e.flag("resent_after_unknown", true);
  }
}

JobOutcome MemoryJobStore::outcome(JobId id) const {
  auto it = rows_.find(id);
  DS_ASSERT(it != rows_.end());
  return JobOutcome{it->second.state, reasons_[it->second.reason], it->second.unknown, it->second.resent};
}

int MemoryJobStore::attempts(JobId id) const {
  auto it = rows_.find(id);
  DS_ASSERT(it != rows_.end());
  return it->second.attempts;
}

std::vector<JobId> MemoryJobStore::ids() const {
  std::vector<JobId> out;
  out.reserve(rows_.size());
  for (const auto& [id, _] : rows_) out.push_back(id);
  return out;
}

}  // namespace destsim
