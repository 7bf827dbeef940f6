// job_store.h — every job's state, the framework's own account of a run.
//
// `JobStore` is the interface; `MemoryJobStore` keeps it in memory for the
// simulator, `SqliteJobStore` (real/sqlite_job_store.h) on disk for real runs. Both
// have the same crash semantics: writes become durable at `commit()`, and a
// crash loses exactly the uncommitted ones (`MemoryJobStore::crash()` simulates
// it). The store enforces the accounting law: a job is added once, reaches
// exactly one terminal state, and a terminal state never changes — a second
// finish is a programmer error and asserts.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "framework/job.h"
#include "framework/result.h"
#include "framework/time.h"
#include "framework/trace.h"

namespace destsim {

/// An upload of the bulk path as the store keeps it, so that a restart can
/// resume it: `import_id` empty means the upload was in flight (the API may or
/// may not have accepted it); otherwise the import is polled by that id, and
/// `params` holds whatever maps its per-record results back to `jobs`.
struct StoredImport {
  std::uint64_t key = 0;  // unique per store (the router's upload number)
  std::string import_id;
  std::vector<JobId> jobs;
  nlohmann::json params = nlohmann::json::object();
  Time started{};
  /// The jobs (of `jobs`) an earlier upload of which had an unknown outcome
  /// (a crash before its import id was stored, a timeout after sending): the
  /// API may hold them already. The others were never offered it unknowingly.
  std::vector<JobId> unknown;
  bool operator==(const StoredImport&) const = default;
};

struct JobCounts {
  std::uint64_t pending = 0, succeeded = 0, failed = 0, aborted = 0, unknown = 0;
  std::uint64_t total() const { return pending + succeeded + failed + aborted; }
};

/// Where a framework component may be crashed by the simulator (E1): the hook
/// is asked at each named step and, when it answers true, the component stops
/// there for good (the harness then destroys it and crashes the job store).
/// The bulk path's steps:
///   "after_upload" — the API accepted an upload; its import id is not stored yet
///   "mid_poll"     — a poll answered; nothing acted on yet
///   "mid_stats"    — the upload stats answered; no job settled yet
/// The hook is also told of steps where nothing crashes, so a harness can act
/// there (an operator's act on the fake, conformance/scenario.h):
///   "upload_answered" — any upload answered (importing, completed, retry or
///                       failed); nothing acted on yet
using CrashHook = std::function<bool(std::string_view step)>;
inline constexpr const char* kCrashSteps[] = {"after_upload", "mid_poll", "mid_stats", "before_commit"};
/// The bulk path's steps (certify draws its crash points from these).
inline constexpr int kBulkCrashSteps = 3;
/// The steps an operator's act may come at: the crash steps and the ones
/// where nothing crashes.
inline constexpr const char* kActSteps[] = {"upload_answered", "after_upload", "mid_poll", "mid_stats", "before_commit"};

/// Where a restarted component gets the record of a job it resumes (the
/// upstream queue or source keeps records until their jobs are terminal).
using RecordSource = std::function<Result<Record>(JobId id)>;

class Trace;
/// Traces a job's terminal state (the `job` event every store writes).
void trace_job_terminal(Trace& trace, Time at, JobId id, const JobOutcome& outcome);

class JobStore {
 public:
  virtual ~JobStore() = default;
  /// Registers a new pending job (asserts the id is new).
  virtual void add(JobId id) = 0;
  /// Counts one more send of the job (for C2 bounds and reports).
  virtual void attempt(JobId id) = 0;
  /// Moves a pending job to its terminal state (asserts it was pending).
  virtual void finish(JobId id, const JobOutcome& outcome, Time at) = 0;
  virtual bool contains(JobId id) const = 0;
  virtual JobOutcome outcome(JobId id) const = 0;
  virtual int attempts(JobId id) const = 0;
  virtual JobCounts counts() const = 0;
  /// Every job id in ascending order.
  virtual std::vector<JobId> ids() const = 0;
  /// Makes every write so far durable: after a crash, a restart sees exactly
  /// what was committed (the bulk path commits at its durable steps).
  virtual void commit() = 0;

  /// Inserts or replaces the upload with `import.key`.
  virtual void put_import(const StoredImport& import) = 0;
  /// Forgets an upload (its jobs are terminal or staged again); no-op if absent.
  virtual void drop_import(std::uint64_t key) = 0;
  /// Every stored upload, by key.
  virtual std::vector<StoredImport> imports() const = 0;

  /// The last released checkpoint of a sync stream (framework/lifecycle.h):
  /// {"state": …, "records": n, "seq": k}. A resumed sync restarts after it.
  virtual void put_checkpoint(const std::string& stream, const nlohmann::json& checkpoint) = 0;
  /// Every stream's last released checkpoint, by stream name.
  virtual std::map<std::string, nlohmann::json> checkpoints() const = 0;

  /// Called after every finish() (the Sync waits on terminal states with it).
  using FinishObserver = std::function<void(JobId id, JobState state)>;
  void set_finish_observer(FinishObserver observer) { observer_ = std::move(observer); }

 protected:
  void notify_finish(JobId id, JobState state) {
    if (observer_) observer_(id, state);
  }

 private:
  FinishObserver observer_;
};

/// In-memory store: a compact row per job (8 bytes for dense ids), reasons interned.
class MemoryJobStore final : public JobStore {
 public:
  /// `trace` (optional) receives a "job" event for every terminal state.
  explicit MemoryJobStore(Trace* trace = nullptr) : trace_(trace) {}

  void add(JobId id) override;
  void attempt(JobId id) override;
  void finish(JobId id, const JobOutcome& outcome, Time at) override;
  bool contains(JobId id) const override { return row(id) != nullptr; }
  JobOutcome outcome(JobId id) const override;
  int attempts(JobId id) const override;
  JobCounts counts() const override { return counts_; }
  std::vector<JobId> ids() const override;
  void put_import(const StoredImport& import) override;
  void drop_import(std::uint64_t key) override;
  std::vector<StoredImport> imports() const override;
  void put_checkpoint(const std::string& stream, const nlohmann::json& checkpoint) override;
  std::map<std::string, nlohmann::json> checkpoints() const override { return checkpoints_; }
  /// With `autocommit` (the default) every write is durable at once.
  void commit() override { undo_.clear(); }
  void set_autocommit(bool on) {
    autocommit_ = on;
    if (on) commit();
  }
  /// Simulates a crash of the process that owns the store: every write since
  /// the last commit is lost. Returns how many writes were undone.
  std::size_t crash();
  std::size_t uncommitted() const { return undo_.size(); }

 private:
  struct Row {
    JobState state = JobState::pending;
    bool unknown = false;
    bool resent = false;
    ReasonKind kind = ReasonKind::none;
    std::uint16_t attempts = 0;
    std::uint32_t reason = 0;  // index into reasons_
  };
  std::uint32_t intern(const std::string& reason);
  void count(const Row& r, int sign);
  void remember(JobId id, bool added);
  Row* row(JobId id);
  const Row* row(JobId id) const;

  Trace* trace_;
  // Ids 1, 2, 3, … (the common case) live in a vector, 8 bytes a job; any other
  // id lives in the map.
  std::vector<Row> dense_;
  std::map<JobId, Row> sparse_;
  std::vector<std::string> reasons_{""};
  std::map<std::string, std::uint32_t, std::less<>> reason_index_{{"", 0}};
  JobCounts counts_;
  // Undo log of uncommitted writes: the row before each write (or "added").
  struct Undo {
    JobId id = 0;
    bool added = false;
    Row before;
    // An import write: the upload as it was before (nullopt = absent).
    bool import_write = false;
    std::uint64_t import_key = 0;
    std::optional<StoredImport> import_before;
    // A checkpoint write: the stream's checkpoint before (nullopt = absent).
    bool checkpoint_write = false;
    std::string stream;
    std::optional<nlohmann::json> checkpoint_before;
  };
  std::vector<Undo> undo_;
  std::map<std::uint64_t, StoredImport> imports_;
  std::map<std::string, nlohmann::json> checkpoints_;
  bool autocommit_ = true;
};

}  // namespace destsim
