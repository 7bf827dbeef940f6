// bulk.h — the bulk (async) delivery path, in the shape of RudderStack's
// AsyncDestinationManager, fixed where the peer is wrong.
//
// A destination's manager transforms each record into an item (a CSV row, a
// JSON profile), uploads a staged file of items, polls the import until it is
// terminal, and reads per-job outcomes back from the upload stats. The
// BulkRouter drives it:
//   - stages items into an upload within the manager's limits (records and
//     bytes); an item that does not fit waits for the next upload, its attempt
//     count unchanged (B5); an item too large for any upload fails at once;
//   - uploads when the stage is full or `upload_interval` after its first item;
//   - at most `imports_in_flight` imports at a time (D6);
//   - polls every `poll_interval` until completed/failed; ends an import at
//     `poll_timeout` (the peer polls forever), its jobs aborted with
//     outcome_unknown (D2); a poll or stats fault is retried at the next poll,
//     never failing the import (D5);
//   - maps per-job outcomes from the stats; a job the stats do not mention is
//     retried, never assumed delivered (D4);
//   - retries failed uploads and retryable jobs with backoff until
//     `max_attempts` or the retry window, then aborts with the last cause.
// Fire-and-forget APIs answer the upload with final per-job results
// (`UploadOutcome::completed`); nothing is polled then.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "framework/batch.h"
#include "framework/config.h"
#include "framework/job_store.h"
#include "framework/loop.h"
#include "framework/retry.h"
#include "framework/sync.h"

namespace destsim {

struct BulkItem {
  JobId id = 0;
  std::string data;  // the transformed item as it goes into the upload file
};

/// An import the API accepted. The router stores it (JobStore::put_import)
/// before it polls, and after a restart a fresh manager polls and reads the
/// stats from this alone: everything needed to map per-record results back to
/// jobs (the file's row order, which jobs produced identical rows) belongs in
/// `params`, never only in the manager's memory.
struct ImportRef {
  std::string import_id;
  std::vector<JobId> jobs;
  nlohmann::json params = nlohmann::json::object();  // manager-specific
};

struct UploadOutcome {
  enum class Kind { importing, completed, retry, failed } kind = Kind::importing;
  ImportRef import;                    // for importing
  std::vector<MessageResult> results;  // for completed (per job); failed/retry may name jobs too
  std::string reason;
  std::optional<Duration> retry_after;
  bool maybe_applied = false;          // a timeout or reset after sending the upload
  /// The answer's HTTP status (0: no answer, -1: not HTTP) and, when the
  /// status does not tell it (or there is none), the kind of cause behind a
  /// retry or failure: the jobs' terminal reason kind comes from these.
  int http_status = -1;
  ReasonKind reason_kind = ReasonKind::none;
};

enum class ImportStatus { running, completed, failed };

struct PollOutcome {
  ImportStatus status = ImportStatus::running;
  /// The poll itself failed (429, 5xx, timeout, unreadable body): ask again later.
  bool transient = false;
  std::string reason;
  std::optional<Duration> retry_after;
  /// With status failed: the API says positively that the import applied
  /// none of its records (Klaviyo: cancelled with completed_count 0). Without
  /// it — the default — a failed import the API had accepted may have applied
  /// some of them: its jobs carry outcome_unknown from here on, and they are
  /// uploaded again only when the manager is idempotent.
  bool nothing_applied = false;
  /// As in UploadOutcome: what the jobs of a failed import end with.
  int http_status = -1;
  ReasonKind reason_kind = ReasonKind::none;
};

struct StatsOutcome {
  bool transient = false;              // the stats request failed: ask again later
  std::vector<MessageResult> results;  // per job: ok, fail (permanent) or retry
  std::string reason;
};

struct BulkLimits {
  std::int64_t records_max = 10'000;
  std::int64_t bytes_max = 10'000'000;  // per upload file
  std::int64_t header_bytes = 0;        // bytes every file carries (a CSV header)
  std::int64_t separator_bytes = 1;     // per item (a newline)
};

class AsyncDestinationManager {
 public:
  virtual ~AsyncDestinationManager() = default;
  virtual std::string name() const = 0;
  virtual BulkLimits limits() const = 0;
  /// The item a record becomes; an error fails the job permanently.
  virtual Result<BulkItem> transform(const Record& record) = 0;
  virtual Task<UploadOutcome> upload(const std::vector<const BulkItem*>& items) = 0;
  virtual Task<PollOutcome> poll(const ImportRef& import) = 0;
  virtual Task<StatsOutcome> upload_stats(const ImportRef& import) = 0;
  /// Whether uploading the same items twice leaves the API as uploading them
  /// once (upserts by key). After a crash between the API accepting an upload
  /// and its import id being stored, the router re-uploads only then (E1);
  /// otherwise those jobs are aborted with outcome_unknown.
  virtual bool idempotent() const { return false; }
  /// Whether staged items that do not fit the upload being filled wait for the
  /// next one (B5). Every real manager keeps the default; a manager answering
  /// false has them aborted instead — the classic overflow bug, which only the
  /// deliberately broken destinations (destinations/broken) carry.
  virtual bool defers_overflow() const { return true; }
};

/// The simple variant, for fire-and-forget destinations (a file drop, an API
/// that answers the upload with final per-record results): upload() answers
/// completed, retry or failed; there is no import to poll.
class SimpleDestinationManager : public AsyncDestinationManager {
 public:
  /// Never called: upload() never answers `importing`. Answers failed,
  /// naming the mistake, if a subclass does.
  Task<PollOutcome> poll(const ImportRef& import) final;
  Task<StatsOutcome> upload_stats(const ImportRef& import) final;
};

struct BulkConfig {
  Duration upload_interval = std::chrono::seconds(30);
  Duration poll_interval = std::chrono::seconds(10);
  Duration poll_timeout = std::chrono::hours(6);
  int imports_in_flight = 2;
  int max_buffer_size = 100'000;
  /// Attempts per job (uploads that carried it); backoff between them.
  RetryPolicy retry{.max_attempts = 5,
                    .delay_initial = std::chrono::seconds(5),
                    .delay_max = std::chrono::minutes(5),
                    .multiplier_num = 2,
                    .multiplier_den = 1,
                    .jitter = {1, 5},
                    .elapsed_max = std::chrono::hours(24)};
  Status validate() const;
};

/// The config keys of the bulk path (for a destination's schema), with the
/// destination's defaults, and reading them back (errors name the key).
std::vector<ConfigKey> bulk_config_keys(const BulkConfig& defaults);
Result<BulkConfig> bulk_config_from(const Config& config);

struct BulkStats {
  std::uint64_t uploads = 0, polls = 0, poll_faults = 0, stats_calls = 0, stats_faults = 0;
  std::uint64_t poll_timeouts = 0, overflow_waits = 0, upload_retries = 0;
  std::uint64_t imports_in_flight_max = 0;
  std::uint64_t staged_max = 0;  // items staged at once by producers (B3: ≤ max_buffer_size)
};

DS_TO_JSON(BulkStats, uploads, polls, poll_faults, stats_calls, stats_faults, poll_timeouts,
           overflow_waits, upload_retries, imports_in_flight_max, staged_max)
/// The counters as JSON (run summaries, reachability); keys are the member names.
inline nlohmann::json bulk_stats_json(const BulkStats& s) { return s; }

class BulkRouter {
 public:
  BulkRouter(Loop& loop, AsyncDestinationManager& manager, BulkConfig config, JobStore& jobs);
  ~BulkRouter();
  BulkRouter(const BulkRouter&) = delete;
  BulkRouter& operator=(const BulkRouter&) = delete;

  /// Registers the job, transforms it and stages it (waits when the buffer is
  /// full). After resume(): a job already terminal in the store is not sent
  /// again, and a job of a resumed upload is already being followed.
  Task<void> deliver(Record record);
  /// Uploads what is staged and returns when every job is terminal.
  Task<void> drain();
  /// Restart: picks up every upload the store holds. An import whose id was
  /// stored is polled by that id (never uploaded again); an upload whose id was
  /// not stored had an unknown outcome: its jobs are uploaded again when the
  /// manager is idempotent, otherwise aborted with outcome_unknown (E1).
  /// Returns the jobs it took over.
  std::vector<JobId> resume(const RecordSource& source);
  void set_crash_hook(CrashHook hook) { crash_hook_ = std::move(hook); }
  const BulkStats& stats() const { return stats_; }

 private:
  Time upload_not_before_{};  // uploads wait for the API's last Retry-After on an upload
  Duration stalled_{0};       // total time the stager waited for import slots and Retry-After holds

  struct Pending {
    BulkItem item;
    int attempts = 0;
    bool unknown = false;
    Time first{};
    bool started = false;
    Time queued_at{};
    std::uint64_t held = 0;  // the stored upload entry that holds this job (0 = none)
    Duration slot_wait{0};   // how long uploads waited for import slots since it was staged (B2)
    Duration stalled_at_queue{0};  // stalled_ when it was staged
  };

  Task<void> stager();
  Task<void> run_upload(std::vector<Pending> items, Semaphore::Permit permit);
  Task<void> follow(std::uint64_t key, ImportRef import, std::vector<Pending> items, Time started);
  Task<void> resumed(std::uint64_t key, ImportRef import, std::vector<Pending> items, Time started);
  Task<void> halt();
  bool crash_at(std::string_view step);
  /// Tells the hook of a step where nothing crashes (kActSteps).
  void reached(std::string_view step) {
    if (crash_hook_) (void)crash_hook_(step);
  }
  void settle(std::vector<Pending>& items, const std::vector<MessageResult>& results, const std::string& reason,
              const char* source, std::uint64_t key);
  void requeue(std::vector<Pending> items, const std::string& reason, std::optional<Duration> retry_after,
               ReasonKind kind);
  void finish(const Pending& p, JobState state, std::string reason, ReasonKind kind);
  void hold(std::uint64_t key, StoredImport entry);
  void release(std::uint64_t key);
  void unhold(std::vector<Pending>& items);
  void abort_overflow(std::int64_t upload_records);
  void keep_unknown_held(std::uint64_t key, std::vector<Pending>& items);
  std::int64_t upload_bytes(std::int64_t items, std::int64_t item_bytes) const;

  Loop& loop_;
  AsyncDestinationManager& manager_;
  BulkConfig config_;
  BulkLimits limits_;
  JobStore& jobs_;
  Rng rng_;
  BulkStats stats_;
  std::deque<Pending> queue_;   // staged, in arrival (and retry-due) order
  Notify changed_;              // queue_ or the state below changed
  Notify never_;                // what a crashed router waits on
  std::int64_t waiting_retry_ = 0;  // jobs sleeping before a retry
  std::int64_t active_ = 0;     // uploads and follow-ups in flight
  bool draining_ = false;
  bool stager_done_ = false;
  bool crashed_ = false;
  std::uint64_t next_key_ = 1;
  std::map<std::uint64_t, StoredImport> held_;  // what this router keeps in the store
  std::map<JobId, bool> resumed_jobs_;           // taken over by resume()
  CrashHook crash_hook_;
  std::unique_ptr<Semaphore> imports_;
  std::map<TimerId, bool> retry_timers_;  // pending requeues, cancelled on destruction
  std::unique_ptr<Scope> scope_;
};

}  // namespace destsim
