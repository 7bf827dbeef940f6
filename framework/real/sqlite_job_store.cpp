#include "framework/real/sqlite_job_store.h"

#include <sqlite3.h>

#include "framework/json_in.h"

namespace destsim {

namespace {
enum Stmt {
  kAdd, kAttempt, kFinish, kGet, kCount, kIds, kBegin, kCommit, kPutImport, kDropImport, kImports,
  kPutCheckpoint, kCheckpoints, kStmts
};
const char* kSql[] = {
    "INSERT INTO jobs(id, state, attempts, unknown, resent, reason) VALUES(?1, 0, 0, 0, 0, '')",
    "UPDATE jobs SET attempts = attempts + 1 WHERE id = ?1",
    ("UPDATE jobs SET state = ?2, reason = ?3, unknown = ?4, resent = ?5, finished_ns = ?6, kind = ?7 "
     "WHERE id = ?1 AND state = 0"),
    "SELECT state, reason, unknown, resent, attempts, kind FROM jobs WHERE id = ?1",
    "SELECT state, unknown, COUNT(*) FROM jobs GROUP BY state, unknown",
    "SELECT id FROM jobs ORDER BY id",
    "BEGIN",
    "COMMIT",
    "INSERT OR REPLACE INTO imports(key, import_id, jobs, params, started_ns, unknown) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    "DELETE FROM imports WHERE key = ?1",
    "SELECT key, import_id, jobs, params, started_ns, unknown FROM imports ORDER BY key",
    "INSERT OR REPLACE INTO checkpoints(stream, checkpoint) VALUES(?1, ?2)",
    "SELECT stream, checkpoint FROM checkpoints ORDER BY stream",
};
static_assert(sizeof(kSql) / sizeof(kSql[0]) == kStmts);

void check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "sqlite job store: %s: %s\n", what, sqlite3_errmsg(db));
    DS_ASSERT(!"sqlite job store: a statement failed (disk full or the file was taken away?)");
  }
}
}  // namespace

Result<std::unique_ptr<SqliteJobStore>> SqliteJobStore::open(const SqliteJobStoreOptions& options, Trace* trace) {
  if (options.commit_every < 1) return Error::bad_input("commit_every: expected an integer >= 1");
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(options.path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    if (db) sqlite3_close(db);
    return Error::io(options.path + ": cannot open the job store: " + msg);
  }
  std::unique_ptr<SqliteJobStore> store(new SqliteJobStore(db, options, trace));
  Status s = store->prepare();
  if (!s.ok()) return s.error();
  return store;
}

SqliteJobStore::SqliteJobStore(sqlite3* db, SqliteJobStoreOptions options, Trace* trace)
    : db_(db), options_(std::move(options)), trace_(trace) {}

Status SqliteJobStore::prepare() {
  std::string schema = std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=") +
                       (options_.synchronous_full ? "FULL" : "NORMAL") +
                       "; CREATE TABLE IF NOT EXISTS jobs("
                       "id INTEGER PRIMARY KEY, state INTEGER NOT NULL, attempts INTEGER NOT NULL, "
                       "unknown INTEGER NOT NULL, resent INTEGER NOT NULL, reason TEXT NOT NULL, finished_ns INTEGER, "
                       "kind TEXT NOT NULL DEFAULT 'none');"
                       "CREATE TABLE IF NOT EXISTS imports("
                       "key INTEGER PRIMARY KEY, import_id TEXT NOT NULL, jobs TEXT NOT NULL, params TEXT NOT NULL, "
                       "started_ns INTEGER NOT NULL, unknown TEXT NOT NULL);"
                       "CREATE TABLE IF NOT EXISTS checkpoints(stream TEXT PRIMARY KEY, checkpoint TEXT NOT NULL);"
                       "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
                       "INSERT OR REPLACE INTO meta VALUES('schema', '5');";
  char* err = nullptr;
  if (sqlite3_exec(db_, schema.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Error::io(options_.path + ": not a usable job store: " + msg);
  }
  // A store written by schema 3 has no reason kind: add the column (its jobs read back as "none").
  if (sqlite3_exec(db_, "ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'none'", nullptr, nullptr, &err) !=
      SQLITE_OK) {
    std::string msg = err ? err : "";
    sqlite3_free(err);
    if (msg.find("duplicate column") == std::string::npos)
      return Error::io(options_.path + ": cannot add the reason kind column: " + msg);
  }
  for (int i = 0; i < kStmts; ++i) {
    if (sqlite3_prepare_v3(db_, kSql[i], -1, SQLITE_PREPARE_PERSISTENT, &stmts_[i], nullptr) != SQLITE_OK) {
      return Error::io(options_.path + ": cannot prepare \"" + kSql[i] + "\": " + sqlite3_errmsg(db_));
    }
  }
  return Status::success();
}

SqliteJobStore::~SqliteJobStore() {
  if (in_tx_) commit();
  for (auto* s : stmts_)
    if (s) sqlite3_finalize(s);
  sqlite3_close(db_);
}

void SqliteJobStore::begin() {
  if (in_tx_) return;
  check(sqlite3_step(stmt(kBegin)), db_, "BEGIN");
  sqlite3_reset(stmt(kBegin));
  in_tx_ = true;
}

void SqliteJobStore::wrote() {
  if (++pending_writes_ >= options_.commit_every) commit();
}

void SqliteJobStore::commit() {
  if (!in_tx_) return;
  sqlite3_stmt* s = stmt(kCommit);
  check(sqlite3_step(s), db_, "COMMIT");
  sqlite3_reset(s);
  in_tx_ = false;
  pending_writes_ = 0;
}

void SqliteJobStore::add(JobId id) {
  begin();
  sqlite3_stmt* s = stmt(kAdd);
  sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(id));
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  DS_ASSERT(rc == SQLITE_DONE && "ids are unique per run");
  wrote();
}

void SqliteJobStore::attempt(JobId id) {
  begin();
  sqlite3_stmt* s = stmt(kAttempt);
  sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(id));
  check(sqlite3_step(s), db_, "attempt");
  sqlite3_reset(s);
  DS_ASSERT(sqlite3_changes(db_) == 1);
  wrote();
}

void SqliteJobStore::finish(JobId id, const JobOutcome& outcome, Time at) {
  DS_ASSERT(is_terminal(outcome.state));
  DS_ASSERT(outcome.state == JobState::succeeded || !outcome.reason.empty());
  begin();
  const bool unknown = outcome.outcome_unknown && outcome.state != JobState::succeeded;
  const bool resent = outcome.resent_after_unknown && outcome.state == JobState::succeeded;
  sqlite3_stmt* s = stmt(kFinish);
  sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(id));
  sqlite3_bind_int(s, 2, static_cast<int>(outcome.state));
  sqlite3_bind_text(s, 3, outcome.reason.c_str(), static_cast<int>(outcome.reason.size()), SQLITE_TRANSIENT);
  sqlite3_bind_int(s, 4, unknown);
  sqlite3_bind_int(s, 5, resent);
  sqlite3_bind_int64(s, 6, to_ns(at));
  const ReasonKind kind = outcome.state == JobState::succeeded ? ReasonKind::none : outcome.kind;
  sqlite3_bind_text(s, 7, reason_kind_name(kind), -1, SQLITE_STATIC);
  check(sqlite3_step(s), db_, "finish");
  sqlite3_reset(s);
  DS_ASSERT(sqlite3_changes(db_) == 1 && "a job reaches one terminal state, once");
  if (trace_) {
    trace_job_terminal(*trace_, at, id, JobOutcome{outcome.state, outcome.reason, unknown, resent, kind});
  }
  wrote();
  notify_finish(id, outcome.state);
}

namespace {

// The kGet row of one job: bound and stepped on construction, reset when done.
struct JobRow {
  JobRow(sqlite3_stmt* get, JobId id) : s(get) {
    sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(id));
    found = sqlite3_step(s) == SQLITE_ROW;
  }
  ~JobRow() { sqlite3_reset(s); }
  JobRow(const JobRow&) = delete;
  JobRow& operator=(const JobRow&) = delete;
  sqlite3_stmt* s;
  bool found;
};

}  // namespace

bool SqliteJobStore::contains(JobId id) const { return JobRow(stmt(kGet), id).found; }

JobOutcome SqliteJobStore::outcome(JobId id) const {
  JobRow row(stmt(kGet), id);
  DS_ASSERT(row.found);
  JobOutcome o;
  o.state = static_cast<JobState>(sqlite3_column_int(row.s, 0));
  o.reason = reinterpret_cast<const char*>(sqlite3_column_text(row.s, 1));
  o.outcome_unknown = sqlite3_column_int(row.s, 2) != 0;
  o.resent_after_unknown = sqlite3_column_int(row.s, 3) != 0;
  o.kind = reason_kind_from(reinterpret_cast<const char*>(sqlite3_column_text(row.s, 5))).value_or(ReasonKind::none);
  return o;
}

int SqliteJobStore::attempts(JobId id) const {
  JobRow row(stmt(kGet), id);
  DS_ASSERT(row.found);
  return sqlite3_column_int(row.s, 4);
}

JobCounts SqliteJobStore::counts() const {
  JobCounts c;
  sqlite3_stmt* s = stmt(kCount);
  while (sqlite3_step(s) == SQLITE_ROW) {
    auto state = static_cast<JobState>(sqlite3_column_int(s, 0));
    bool unknown = sqlite3_column_int(s, 1) != 0;
    auto n = static_cast<std::uint64_t>(sqlite3_column_int64(s, 2));
    switch (state) {
      case JobState::pending: c.pending += n; break;
      case JobState::succeeded: c.succeeded += n; break;
      case JobState::failed: c.failed += n; break;
      case JobState::aborted: c.aborted += n; break;
    }
    if (unknown) c.unknown += n;
  }
  sqlite3_reset(s);
  return c;
}

void SqliteJobStore::put_import(const StoredImport& import) {
  begin();
  sqlite3_stmt* s = stmt(kPutImport);
  const std::string jobs = nlohmann::json(import.jobs).dump();
  const std::string params = import.params.dump();
  sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(import.key));
  sqlite3_bind_text(s, 2, import.import_id.c_str(), static_cast<int>(import.import_id.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 3, jobs.c_str(), static_cast<int>(jobs.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 4, params.c_str(), static_cast<int>(params.size()), SQLITE_TRANSIENT);
  sqlite3_bind_int64(s, 5, to_ns(import.started));
  const std::string unknown = nlohmann::json(import.unknown).dump();
  sqlite3_bind_text(s, 6, unknown.c_str(), static_cast<int>(unknown.size()), SQLITE_TRANSIENT);
  check(sqlite3_step(s), db_, "put_import");
  sqlite3_reset(s);
  wrote();
}

void SqliteJobStore::drop_import(std::uint64_t key) {
  begin();
  sqlite3_stmt* s = stmt(kDropImport);
  sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(key));
  check(sqlite3_step(s), db_, "drop_import");
  sqlite3_reset(s);
  wrote();
}

std::vector<StoredImport> SqliteJobStore::imports() const {
  std::vector<StoredImport> out;
  sqlite3_stmt* s = stmt(kImports);
  while (sqlite3_step(s) == SQLITE_ROW) {
    StoredImport imp;
    imp.key = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
    imp.import_id = reinterpret_cast<const char*>(sqlite3_column_text(s, 1));
    // Written by put_import from a vector and a JSON value; a row that does not
    // parse means the file was edited or damaged, which the store cannot repair.
    auto jobs = parse_json_body(reinterpret_cast<const char*>(sqlite3_column_text(s, 2)));
    auto params = parse_json_body(reinterpret_cast<const char*>(sqlite3_column_text(s, 3)));
    DS_ASSERT(jobs.is_array() && !params.is_discarded() && "sqlite job store: a damaged imports row");
    imp.jobs = jobs.get<std::vector<JobId>>();
    imp.params = std::move(params);
    imp.started = from_ns(sqlite3_column_int64(s, 4));
    // The jobs whose outcome was unknown (schema 5); a store written by schema
    // 4 kept one flag for the whole entry: 1 marks every job.
    auto unknown = parse_json_body(reinterpret_cast<const char*>(sqlite3_column_text(s, 5)));
    if (unknown.is_array()) imp.unknown = unknown.get<std::vector<JobId>>();
    else if (unknown.is_number_integer() && unknown.get<std::int64_t>() != 0) imp.unknown = imp.jobs;
    else DS_ASSERT((unknown.is_number_integer()) && "sqlite job store: a damaged imports row");
    out.push_back(std::move(imp));
  }
  sqlite3_reset(s);
  return out;
}

std::vector<JobId> SqliteJobStore::ids() const {
  std::vector<JobId> out;
  sqlite3_stmt* s = stmt(kIds);
  while (sqlite3_step(s) == SQLITE_ROW) out.push_back(static_cast<JobId>(sqlite3_column_int64(s, 0)));
  sqlite3_reset(s);
  return out;
}

void SqliteJobStore::put_checkpoint(const std::string& stream, const nlohmann::json& checkpoint) {
  begin();
  sqlite3_stmt* s = stmt(kPutCheckpoint);
  const std::string text = checkpoint.dump();
  sqlite3_bind_text(s, 1, stream.c_str(), static_cast<int>(stream.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 2, text.c_str(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  check(sqlite3_step(s), db_, "put_checkpoint");
  sqlite3_reset(s);
  wrote();
}

std::map<std::string, nlohmann::json> SqliteJobStore::checkpoints() const {
  std::map<std::string, nlohmann::json> out;
  sqlite3_stmt* s = stmt(kCheckpoints);
  while (sqlite3_step(s) == SQLITE_ROW) {
    auto value = parse_json_body(reinterpret_cast<const char*>(sqlite3_column_text(s, 1)));
    DS_ASSERT(!value.is_discarded() && "sqlite job store: a damaged checkpoints row");
    out[reinterpret_cast<const char*>(sqlite3_column_text(s, 0))] = std::move(value);
  }
  sqlite3_reset(s);
  return out;
}

}  // namespace destsim
