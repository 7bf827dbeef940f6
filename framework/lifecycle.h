// lifecycle.h — the sync lifecycle (Airbyte's destination task launcher and
// stream manager, DESIGN.md): a Sync over one or more streams drives a
// destination through
//
//   setup → open each stream → records (batched by the destination) →
//   per-stream end of input → close each stream exactly once when all its
//   records are terminal (staging destinations: flushed, then committed by the
//   close) → teardown exactly once after every stream closed.
//
// Checkpoints: input may carry state messages between records. A state message
// is released — emitted to the caller, and written to the job store so a
// restart resumes after it — only when every record before it in its stream is
// terminal (E2); released states come out in order, per stream, with the count
// of records before them.
//
// Failure paths (F2): an error in a stream fails that stream (close with
// commit = false: its staged data is not committed); a sync-level error fails
// every stream and runs the failure path exactly once. Every path ends: a
// failed setup, an empty stream, an error in close, input ending without
// end-of-stream (those streams fail), a state message for an unknown stream (a
// sync-level error naming it).
//
// Crash and restart: a new Sync on the same job store skips every record and
// state message up to each stream's last released checkpoint (the source
// replays from the start; the Sync restarts after the checkpoint), and the
// destination skips records the store shows as terminal: nothing persisted is
// sent again.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "framework/job.h"
#include "framework/job_store.h"
#include "framework/loop.h"
#include "framework/result.h"
#include "framework/sync.h"
#include "framework/task.h"

namespace destsim {

/// A stream of a sync, as the destination is told it at open (Airbyte's
/// configured stream): how its rows land in the table.
struct StreamSpec {
  std::string name;
  /// append: add rows · dedupe: upsert by primary_key · truncate: replace the
  /// table's contents with this generation's rows (older generations are
  /// deleted only when the stream succeeds).
  std::string mode = "append";
  std::vector<std::string> primary_key;
  /// Truncate refresh: the generation this sync writes (the same again when an
  /// interrupted sync is resumed).
  std::int64_t generation = 0;
};

/// What a Sync drives: a destination. The lifecycle defaults suit destinations
/// that apply records as they send them (no staging). Each hook is called once
/// per sync (open/close once per stream), in lifecycle order. The hooks are
/// coroutines, so they take their arguments by value: a reference would
/// dangle when the caller's argument dies while the hook is suspended.
class SyncTarget {
 public:
  virtual ~SyncTarget() = default;
  /// Registers the job and queues it for delivery (waits under backpressure).
  virtual Task<void> deliver(Record record) = 0;
  /// Flushes everything; returns when every delivered job is terminal.
  virtual Task<void> drain() = 0;

  /// Before any record. An error fails the sync (its failure path runs).
  virtual Task<Status> setup(std::vector<StreamSpec> streams) {
    (void)streams;
    co_return Status::success();
  }
  /// Before the stream's first record. An error fails the stream.
  virtual Task<Status> open_stream(StreamSpec stream) {
    (void)stream;
    co_return Status::success();
  }
  /// True when the destination stages records and settles their jobs only when
  /// the stream closes (commit): the Sync then calls flush_stream at the end of
  /// the stream's input instead of waiting for its jobs to be terminal.
  virtual bool stages() const { return false; }
  /// Staging destinations: send everything buffered for the stream to the
  /// stage; returns when each of its jobs is staged or terminal.
  virtual Task<Status> flush_stream(std::string stream) {
    (void)stream;
    co_return Status::success();
  }
  /// After every record of the stream is terminal (or staged): commit = true
  /// commits the stream's staged data (an error fails the stream; its jobs are
  /// then failed), false discards it (the stream failed) and fails its staged
  /// jobs. Non-staging destinations have nothing to do.
  virtual Task<Status> close_stream(std::string stream, bool commit) {
    (void)stream;
    (void)commit;
    co_return Status::success();
  }
  /// After every stream closed; `success` is false on the failure path.
  virtual Task<void> teardown(bool success) {
    (void)success;
    co_return;
  }
};

/// One message of a sync's input.
struct SyncMessage {
  enum class Kind { record, state, end, error };
  Kind kind = Kind::record;
  Record record;         // record (its stream is record.stream)
  std::string stream;    // state, end, error ("" with error = a sync-level error)
  nlohmann::json state;  // state
  std::string error;     // error
};

/// A released checkpoint.
struct ReleasedState {
  std::string stream;
  nlohmann::json state;
  std::int64_t records = 0;  // records of the stream before it
  std::int64_t seq = 0;      // its position among the stream's state messages (1-based)
  Time at{};
};

struct SyncOutcome {
  bool ok = true;            // every stream committed
  std::string error;         // the sync-level error, if any
  /// Per stream: "committed", or "failed: <reason>".
  std::map<std::string, std::string> streams;
  std::vector<ReleasedState> released;
};

/// The next message, or nullopt at the end of the input.
using SyncSource = std::function<Task<std::optional<SyncMessage>>()>;

class Sync {
 public:
  /// `streams` are the configured streams; the job store keeps released
  /// checkpoints (a Sync on a store that has some resumes after them).
  Sync(Loop& loop, SyncTarget& target, JobStore& jobs, std::vector<StreamSpec> streams);
  ~Sync();
  Sync(const Sync&) = delete;
  Sync& operator=(const Sync&) = delete;

  /// Runs the sync to its end (success or failure path); never hangs on a
  /// finite input whose jobs become terminal.
  Task<SyncOutcome> run(SyncSource next);
  /// Called with each checkpoint as it is released (the caller's state sink).
  void on_release(std::function<void(const ReleasedState&)> sink) { sink_ = std::move(sink); }

  /// Checks the configured streams (unique, non-empty names, known modes, a
  /// primary key for dedupe); the error names the stream.
  static Status validate(const std::vector<StreamSpec>& streams);

 private:
  struct Checkpoint {
    std::int64_t seq;
    std::int64_t records;
    nlohmann::json state;
  };
  struct Stream {
    StreamSpec spec;
    bool opened = false, ended = false, closing = false, closed = false, failed = false, committing = false;
    std::string failure;
    std::int64_t base = 0;       // records before the resume point (skipped)
    std::int64_t base_seq = 0;   // state messages before it (skipped)
    std::int64_t seen = 0;       // records met in the input this run (incl. skipped)
    std::int64_t seen_seq = 0;
    std::vector<JobId> ids;      // records delivered this run, in order
    std::size_t terminal_prefix = 0;
    std::vector<Checkpoint> pending;
    bool first_record = true;
  };

  void on_finish(JobId id);
  void advance(Stream& s);
  Stream* find(const std::string& name);
  void fail_stream(Stream& s, const std::string& reason);
  void fail_sync(const std::string& reason);
  Task<void> close(Stream* s, bool commit);
  Task<void> wait_terminal(Stream* s);

  Loop& loop_;
  SyncTarget& target_;
  JobStore& jobs_;
  std::vector<std::unique_ptr<Stream>> streams_;
  std::map<JobId, Stream*> stream_of_;
  std::map<JobId, bool> terminal_;
  Notify changed_;
  std::unique_ptr<Scope> closers_;
  int closing_ = 0;
  bool failed_ = false;
  SyncOutcome outcome_;
  std::function<void(const ReleasedState&)> sink_;
};

}  // namespace destsim
