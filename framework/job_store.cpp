#include "framework/job_store.h"

#include "framework/trace_events.h"

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

namespace {
constexpr const char* kReasonKindNames[kReasonKinds] = {
    "none",         "invalid_record", "rejected_by_api", "auth",           "too_large",     "rate_limited",
    "server_error", "timeout",        "transport",       "unknown_outcome", "stream_failed", "lost"};
}  // namespace

const char* reason_kind_name(ReasonKind k) { return kReasonKindNames[static_cast<int>(k)]; }

std::optional<ReasonKind> reason_kind_from(std::string_view name) {
  for (int i = 0; i < kReasonKinds; ++i)
    if (name == kReasonKindNames[i]) return static_cast<ReasonKind>(i);
  return std::nullopt;
}

ReasonKind reason_kind_of_status(int http) {
  if (http < 0) return ReasonKind::none;
  if (http == 0) return ReasonKind::transport;
  if (http == 401 || http == 403) return ReasonKind::auth;
  if (http == 408) return ReasonKind::timeout;
  if (http == 413) return ReasonKind::too_large;
  if (http == 429) return ReasonKind::rate_limited;
  if (http >= 500) return ReasonKind::server_error;
  return ReasonKind::rejected_by_api;
}

void trace_job_terminal(Trace& trace, Time at, JobId id, const JobOutcome& o) {
  emit(trace, at,
       ev::JobTerminal{static_cast<std::int64_t>(id), job_state_name(o.state), o.reason, o.outcome_unknown,
                       o.resent_after_unknown, reason_kind_name(o.kind)});
}

std::uint32_t MemoryJobStore::intern(const std::string& reason) {
  auto it = reason_index_.find(reason);
  if (it != reason_index_.end()) return it->second;
  auto idx = static_cast<std::uint32_t>(reasons_.size());
  reasons_.push_back(reason);
  reason_index_.emplace(reason, idx);
  return idx;
}

MemoryJobStore::Row* MemoryJobStore::row(JobId id) {
  if (id >= 1 && id <= dense_.size()) return &dense_[id - 1];
  auto it = sparse_.find(id);
  return it == sparse_.end() ? nullptr : &it->second;
}

const MemoryJobStore::Row* MemoryJobStore::row(JobId id) const {
  return const_cast<MemoryJobStore*>(this)->row(id);
}

void MemoryJobStore::count(const Row& r, int sign) {
  auto bump = [&](std::uint64_t& c) { c = static_cast<std::uint64_t>(static_cast<std::int64_t>(c) + sign); };
  switch (r.state) {
    case JobState::pending: bump(counts_.pending); break;
    case JobState::succeeded: bump(counts_.succeeded); break;
    case JobState::failed: bump(counts_.failed); break;
    case JobState::aborted: bump(counts_.aborted); break;
  }
  if (r.unknown) bump(counts_.unknown);
}

void MemoryJobStore::remember(JobId id, bool added) {
  if (autocommit_) return;
  const Row* r = row(id);
  Undo u;
  u.id = id;
  u.added = added;
  if (!added) u.before = *r;
  undo_.push_back(std::move(u));
}

std::size_t MemoryJobStore::crash() {
  const std::size_t n = undo_.size();
  for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
    if (it->checkpoint_write) {
      if (it->checkpoint_before) checkpoints_[it->stream] = std::move(*it->checkpoint_before);
      else checkpoints_.erase(it->stream);
      continue;
    }
    if (it->import_write) {
      if (it->import_before) imports_[it->import_key] = std::move(*it->import_before);
      else imports_.erase(it->import_key);
      continue;
    }
    Row* r = row(it->id);
    DS_ASSERT(r != nullptr);
    count(*r, -1);
    if (it->added) {
      if (it->id == dense_.size()) dense_.pop_back();
      else sparse_.erase(it->id);
    } else {
      *r = it->before;
      count(*r, +1);
    }
  }
  undo_.clear();
  return n;
}

void MemoryJobStore::add(JobId id) {
  DS_ASSERT(row(id) == nullptr && "ids are unique per run");
  if (id == dense_.size() + 1) {
    dense_.emplace_back();
  } else {
    sparse_.emplace(id, Row{});
  }
  ++counts_.pending;
  remember(id, true);
}

void MemoryJobStore::attempt(JobId id) {
  Row* r = row(id);
  DS_ASSERT(r != nullptr);
  remember(id, false);
  if (r->attempts < UINT16_MAX) ++r->attempts;
}

void MemoryJobStore::finish(JobId id, const JobOutcome& outcome, Time at) {
  Row* rp = row(id);
  DS_ASSERT(rp != nullptr);
  DS_ASSERT(rp->state == JobState::pending);  // a terminal state never changes
  DS_ASSERT(is_terminal(outcome.state));
  DS_ASSERT(outcome.state == JobState::succeeded || !outcome.reason.empty());  // A4: a reason names the cause
  remember(id, false);
  Row& r = *rp;
  r.state = outcome.state;
  r.unknown = outcome.outcome_unknown && outcome.state != JobState::succeeded;
  r.resent = outcome.resent_after_unknown && outcome.state == JobState::succeeded;
  r.reason = intern(outcome.reason);
  r.kind = outcome.state == JobState::succeeded ? ReasonKind::none : outcome.kind;
  --counts_.pending;
  switch (outcome.state) {
    case JobState::succeeded: ++counts_.succeeded; break;
    case JobState::failed: ++counts_.failed; break;
    case JobState::aborted: ++counts_.aborted; break;
    case JobState::pending: break;
  }
  if (r.unknown) ++counts_.unknown;
  if (trace_) {
    trace_job_terminal(*trace_, at, id, JobOutcome{r.state, outcome.reason, r.unknown, r.resent, r.kind});
  }
  notify_finish(id, outcome.state);
}

void MemoryJobStore::put_checkpoint(const std::string& stream, const nlohmann::json& checkpoint) {
  if (!autocommit_) {
    Undo u;
    u.checkpoint_write = true;
    u.stream = stream;
    auto it = checkpoints_.find(stream);
    if (it != checkpoints_.end()) u.checkpoint_before = it->second;
    undo_.push_back(std::move(u));
  }
  checkpoints_[stream] = checkpoint;
}

void MemoryJobStore::put_import(const StoredImport& import) {
  if (!autocommit_) {
    auto it = imports_.find(import.key);
    Undo u;
    u.import_write = true;
    u.import_key = import.key;
    if (it != imports_.end()) u.import_before = it->second;
    undo_.push_back(std::move(u));
  }
  imports_[import.key] = import;
}

void MemoryJobStore::drop_import(std::uint64_t key) {
  auto it = imports_.find(key);
  if (it == imports_.end()) return;
  if (!autocommit_) {
    Undo u;
    u.import_write = true;
    u.import_key = key;
    u.import_before = it->second;
    undo_.push_back(std::move(u));
  }
  imports_.erase(it);
}

std::vector<StoredImport> MemoryJobStore::imports() const {
  std::vector<StoredImport> out;
  out.reserve(imports_.size());
  for (const auto& [_, imp] : imports_) out.push_back(imp);
  return out;
}

JobOutcome MemoryJobStore::outcome(JobId id) const {
  const Row* r = row(id);
  DS_ASSERT(r != nullptr);
  return JobOutcome{r->state, reasons_[r->reason], r->unknown, r->resent, r->kind};
}

int MemoryJobStore::attempts(JobId id) const {
  const Row* r = row(id);
  DS_ASSERT(r != nullptr);
  return r->attempts;
}

std::vector<JobId> MemoryJobStore::ids() const {
  std::vector<JobId> out;
  out.reserve(dense_.size() + sparse_.size());
  for (JobId id = 1; id <= dense_.size(); ++id) out.push_back(id);
  for (const auto& [id, _] : sparse_) out.push_back(id);  // all above the dense range
  return out;
}

}  // namespace destsim
