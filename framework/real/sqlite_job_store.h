// sqlite_job_store.h — the durable JobStore for real runs (SQLite).
//
// Same contract as MemoryJobStore (a job is added once, reaches exactly one
// terminal state, which never changes), kept in one SQLite file in WAL mode.
// Writes go into an open transaction; `commit()` makes them durable, and the
// store commits by itself every `commit_every` writes (1 = every write). A
// process that dies loses at most what it had not committed; reopening the file
// restores every committed job. The bulk path adds import ids and per-record
// result maps to the same file.
#pragma once

#include <memory>
#include <string>

#include "framework/job_store.h"
#include "framework/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace destsim {

struct SqliteJobStoreOptions {
  std::string path;            // the database file (created if missing)
  int commit_every = 1;        // writes per transaction
  bool synchronous_full = false;  // PRAGMA synchronous=FULL instead of NORMAL
};

class SqliteJobStore final : public JobStore {
 public:
  /// Opens (or creates) the store; errors name the file and SQLite's message.
  static Result<std::unique_ptr<SqliteJobStore>> open(const SqliteJobStoreOptions& options, Trace* trace = nullptr);
  ~SqliteJobStore() override;
  SqliteJobStore(const SqliteJobStore&) = delete;
  SqliteJobStore& operator=(const SqliteJobStore&) = delete;

  void add(JobId id) override;
  void attempt(JobId id) override;
  void finish(JobId id, const JobOutcome& outcome, Time at) override;
  bool contains(JobId id) const override;
  JobOutcome outcome(JobId id) const override;
  int attempts(JobId id) const override;
  JobCounts counts() const override;
  std::vector<JobId> ids() const override;
  void put_import(const StoredImport& import) override;
  void drop_import(std::uint64_t key) override;
  std::vector<StoredImport> imports() const override;
  void put_checkpoint(const std::string& stream, const nlohmann::json& checkpoint) override;
  std::map<std::string, nlohmann::json> checkpoints() const override;

  /// Makes every write so far durable.
  void commit() override;
  /// Writes per transaction from now on (at least 1): a destination that
  /// commits at its own durable steps runs with a large value, so a process
  /// killed between them keeps only what those steps made durable.
  void set_commit_every(int n) { options_.commit_every = n < 1 ? 1 : n; }
  /// Writes since the last commit.
  int uncommitted() const { return pending_writes_; }

 private:
  SqliteJobStore(sqlite3* db, SqliteJobStoreOptions options, Trace* trace);
  Status prepare();
  void begin();  // opens the write transaction if none is open
  void wrote();
  void exec(const char* sql) const;
  sqlite3_stmt* stmt(int i) const { return stmts_[i]; }

  sqlite3* db_;
  SqliteJobStoreOptions options_;
  Trace* trace_;
  sqlite3_stmt* stmts_[13] = {};
  int pending_writes_ = 0;
  bool in_tx_ = false;
};

}  // namespace destsim
