#include "destinations/staged_table/staged_table.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <utility>

#include "framework/http_call.h"
#include "framework/json_in.h"
#include "framework/json_out.h"
#include "framework/oracle.h"
#include "framework/rate_limiter.h"
#include "framework/retry.h"
#include "framework/text.h"
#include "framework/trace_events.h"

namespace destsim {

namespace {

// The job store entry of a commit in progress (StoredImport.params.kind).
constexpr const char* kStoredKind = "staged_table.commit";
// Attempts to settle a stage's fate (still bounded by the retry window).
constexpr int kSettleAttemptsMax = 100;

bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The warehouse's rule for table names: letters, digits and '_', not starting
// with a digit, at most 128 characters.
bool valid_table_name(const std::string& n) {
  if (n.empty() || n.size() > 128 || is_digit(n[0])) return false;
  for (char c : n)
    if (!is_letter(c) && !is_digit(c) && c != '_') return false;
  return true;
}

std::string table_problem(const std::string& stream, const std::string& table) {
  return "stream \"" + stream + "\" maps to table \"" + table +
         "\", which is not a valid table name (expected letters, digits and _, not starting with a digit, at "
         "most 128)";
}

// "id, email" → {"id", "email"}.
std::vector<std::string> split_columns(const std::string& s) {
  std::vector<std::string> out;
  for (const std::string_view part : split(s, ','))
    if (const std::string_view c = trim_spaces(part); !c.empty()) out.emplace_back(c);
  return out;
}

// The warehouse's oracle convention (fakes/warehouse/warehouse_api.h): a row
// committed into `table` counts under this key.
std::string row_oracle_key(const std::string& table, JobId id, const nlohmann::json& row) {
  return oracle_key("warehouse." + table, nlohmann::json{{"id", id}, {"row", row}});
}

bool retryable_status(int s) { return s == 408 || s == 429 || s >= 500; }

// "HTTP 409 StageCommitted: stage stg-3 was already committed; nothing applied".
std::string describe(const Response& r, const nlohmann::json& body, std::string* code_out = nullptr) {
  std::string code, message;
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    const auto& e = body["error"];
    if (e.contains("code") && e["code"].is_string()) code = e["code"];
    if (e.contains("message") && e["message"].is_string()) message = e["message"];
  }
  if (code_out) *code_out = code;
  std::string out = "HTTP " + std::to_string(r.status);
  if (!code.empty()) out += " " + code;
  if (!message.empty()) out += ": " + message;
  return out;
}

struct Settings {
  std::string host;
  std::string api_key;
  std::string table_prefix;
  std::string stage_label;
  std::string default_mode;
  std::vector<std::string> default_primary_key;
  int commit_attempts_max = 10;
  BatchLimits limits;
};

class StagedTableDestination;

// One stream of the sync: its spec, its open stage, and its jobs.
struct Stream {
  StreamSpec spec;
  std::string table;
  std::string stage;  // the open stage rows go to ("" = none yet)
  bool creating = false;
  bool closing = false;
  bool discarded = false;
  std::string discard_reason;
  std::vector<JobId> jobs;    // delivered by this process and not yet known terminal
  std::vector<JobId> staged;  // staged into `stage`, awaiting its commit
  std::unique_ptr<JobStore> staging;  // what the processor reports to (StagingJobs): outlives it
  std::unique_ptr<BatchHandler> handler;
  std::unique_ptr<Processor> processor;  // declared after handler: destroyed first
};

// What the batch processor reports to: everything goes to the run's store,
// except that a row staged ("succeeded" for the processor) is recorded by the
// destination as staged; the job succeeds only when its stage commits.
class StagingJobs final : public JobStore {
 public:
  using OnFinish = std::function<void(JobId, const JobOutcome&, Time)>;
  StagingJobs(JobStore& inner, OnFinish on_finish) : inner_(inner), on_finish_(std::move(on_finish)) {}

  void add(JobId id) override { inner_.add(id); }
  void attempt(JobId id) override { inner_.attempt(id); }
  void finish(JobId id, const JobOutcome& outcome, Time at) override { on_finish_(id, outcome, at); }
  bool contains(JobId id) const override { return inner_.contains(id); }
  JobOutcome outcome(JobId id) const override { return inner_.outcome(id); }
  int attempts(JobId id) const override { return inner_.attempts(id); }
  JobCounts counts() const override { return inner_.counts(); }
  std::vector<JobId> ids() const override { return inner_.ids(); }
  void commit() override { inner_.commit(); }
  void put_import(const StoredImport& import) override { inner_.put_import(import); }
  void drop_import(std::uint64_t key) override { inner_.drop_import(key); }
  std::vector<StoredImport> imports() const override { return inner_.imports(); }
  void put_checkpoint(const std::string& stream, const nlohmann::json& checkpoint) override {
    inner_.put_checkpoint(stream, checkpoint);
  }
  std::map<std::string, nlohmann::json> checkpoints() const override { return inner_.checkpoints(); }

 private:
  JobStore& inner_;
  OnFinish on_finish_;
};

// A control request's final answer, after retries.
struct Answer {
  bool ok = false;        // a 2xx with a readable JSON object
  int status = 0;         // the last HTTP status (0: a transport error)
  std::string code;       // the API's error code, if any
  nlohmann::json body;    // the 2xx body
  std::string reason;     // why not ok
  bool exhausted = false;  // gave up on transient answers (retries or window spent)
  bool maybe_applied = false;  // an attempt's outcome was hidden (timeout, reset, unreadable 2xx)
};

// Where a stage stands, learnt by dropping it.
enum class Fate { dropped, committed, unknown };

class StagedTableDestination final : public Destination {
 public:
  StagedTableDestination(DeliveryContext& ctx, Settings settings, ProcessorConfig processor)
      : ctx_(ctx),
        settings_(std::move(settings)),
        processor_config_(std::move(processor)),
        rng_(ctx.loop.rng().fork()),
        limiter_(ctx.loop, 0),
        http_(ctx.loop, ctx.transport, limiter_),
        changed_(ctx.loop),
        never_(ctx.loop) {
    policy_ = processor_config_.retry;
    policy_.max_attempts = processor_config_.max_retries;
    commit_policy_ = policy_;
    commit_policy_.max_attempts = settings_.commit_attempts_max;
    // A stage's fate decides whether its jobs succeeded: settling keeps asking
    // through an outage, within the retry window.
    settle_policy_ = policy_;
    settle_policy_.max_attempts = kSettleAttemptsMax;
    ctx.loop.trace().add_secret(settings_.api_key);
    scope_ = std::make_unique<Scope>(ctx.loop);
  }

  ~StagedTableDestination() override {
    scope_.reset();    // the recovery task first
    streams_.clear();  // then the processors (their tasks use this object)
  }

  // ------------------------------------------------------------ Destination

  Task<void> deliver(Record record) override {
    ++delivering_;
    co_await deliver_one(std::move(record));
    --delivering_;
    changed_.notify_all();
  }

  Task<void> drain() override {
    co_await ready();
    // Commit every stream with unfinished jobs; a deliver still in progress may
    // add more, so go round until none is left and no deliver is running.
    bool done = false;
    while (!done) {
      const bool quiet = delivering_ == 0;
      for (std::size_t i = 0; i < streams_.size(); ++i) {
        Stream& s = *streams_[i];
        if (s.discarded || !has_work(s)) continue;
        Status st = co_await close(s, true, /*by_drain=*/true);
        (void)st;  // a failed commit has already failed its jobs with the reason
      }
      if (delivering_ > 0) {
        co_await changed_.wait();
        continue;
      }
      done = true;
      for (const auto& s : streams_) done = done && (s->discarded || !has_work(*s));
      // With no deliver running, a commit settles every job of its stream
      // (the processor stopped first): work left over would loop forever.
      DS_ASSERT(done || !quiet);
    }
  }

  nlohmann::json stats() const override {
    ProcessorStats p;
    std::int64_t processors = 0;
    for (const auto& s : streams_) {
      if (!s->processor) continue;
      ++processors;
      add_stats(p, s->processor->stats());
    }
    nlohmann::json out = processor_stats_json(p);
    out.update(nlohmann::json{
        // One processor per stream, plus the control requests (stages, commits).
        {"endpoints", processors + 1},
        {"streams", streams_.size()}});
    out.update(nlohmann::json(stats_));
    return out;
  }

  std::vector<JobId> resume(const RecordSource& source) override {
    // Records are not needed: a commit in progress is settled by its stage id,
    // and jobs whose stage never committed are offered again by the source.
    (void)source;
    std::vector<JobId> taken;
    for (const StoredImport& e : ctx_.jobs.imports()) {
      if (e.params.value("kind", "") != kStoredKind) continue;
      for (JobId id : e.jobs)
        if (ctx_.jobs.contains(id) && !is_terminal(ctx_.jobs.outcome(id).state)) taken.push_back(id);
    }
    start_recovery();
    return taken;
  }

  void set_crash_hook(CrashHook hook) override { crash_hook_ = std::move(hook); }
  bool commits_at_durable_steps() const override { return true; }

  // ------------------------------------------------------------ lifecycle

  Task<Status> setup(std::vector<StreamSpec> streams) override {
    co_await ready();
    for (const auto& spec : streams) {
      const std::string table = settings_.table_prefix + spec.name;
      if (!valid_table_name(table)) co_return Error::bad_input(table_problem(spec.name, table));
    }
    for (const auto& spec : streams) configure(spec);
    co_return Status::success();
  }

  Task<Status> open_stream(StreamSpec spec) override {
    const std::string table = settings_.table_prefix + spec.name;
    if (!valid_table_name(table)) co_return Error::bad_input(table_problem(spec.name, table));
    configure(spec);
    co_return Status::success();
  }

  bool stages() const override { return true; }

  Task<Status> flush_stream(std::string name) override {
    co_await ready();
    Stream* s = find(name);
    if (s && s->processor) co_await s->processor->stop();
    ctx_.jobs.commit();  // durable point: the staging acknowledgements are recorded
    co_return Status::success();
  }

  Task<Status> close_stream(std::string name, bool commit) override {
    Stream* s = find(name);
    if (!s) {
      // A stream with no record that setup never named: only truncate has work
      // with nothing staged, and it needs the spec setup/open would have given.
      co_return Status::success();
    }
    co_return co_await close(*s, commit, /*by_drain=*/false);
  }

  Task<void> teardown(bool success) override {
    DS_ASSERT(!torn_down_ && "teardown runs exactly once");
    torn_down_ = true;
    co_await ready();
    // Under a Sync every stream closed before teardown; a job left unfinished
    // here would otherwise wait forever.
    for (auto& s : streams_) {
      for (JobId id : s->jobs)
        if (!is_terminal(ctx_.jobs.outcome(id).state))
          fail(id, "stream " + s->spec.name + " was not committed before teardown (record not committed)",
               ReasonKind::stream_failed);
      s->jobs.clear();
      s->staged.clear();
      s->stage.clear();  // dropped below with every other open stage of this label
    }
    ctx_.jobs.commit();
    co_await drop_open_stages("teardown");
    ctx_.loop.trace().event(ctx_.loop.now(), "staged_table.teardown").flag("success", success);
  }

  // ------------------------------------------------------------ the row sends

  Task<BatchResult> send_batch(Stream& s, const std::vector<const Message*>& batch) {
    BatchResult out;
    if (crashed_) {
      co_await halt();
      co_return out;
    }
    if (s.discarded) {
      out.status = BatchStatus::cannot_retry;
      out.reason = s.discard_reason;
      co_return out;
    }
    if (s.stage.empty()) {
      // A record added while a close committed the previous stage.
      Status st = co_await ensure_stage(s);
      if (!st.ok()) {
        out.status = BatchStatus::cannot_retry;
        out.reason = st.error().message;
        co_return out;
      }
    }
    std::string body = "{\"rows\":[";
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (i) body.push_back(',');
      body += batch[i]->body;
    }
    body += "]}";
    Request req = request("PUT", "/v1/stages/" + s.stage + "/rows", std::move(body));
    HttpResult res = co_await send(std::move(req));
    out = classify_batch(res, batch);
    out.http_status = res.ok() ? res->status : 0;
    co_return out;
  }

  Task<OneResult> send_one(Stream& s, const Message& m) {
    std::vector<const Message*> one{&m};
    co_return one_result_of(co_await send_batch(s, one));
  }

 private:
  // ------------------------------------------------------------ delivery

  Task<void> deliver_one(Record record) {
    co_await ready();
    if (crashed_) {
      co_await halt();
      co_return;
    }
    const JobId id = record.id;
    if (!ctx_.jobs.contains(id)) {
      ctx_.jobs.add(id);
    } else if (is_terminal(ctx_.jobs.outcome(id).state)) {
      co_return;  // offered again after a restart: already done
    }
    const std::string table = settings_.table_prefix + record.stream;
    if (!valid_table_name(table)) {
      fail(id, "record " + std::to_string(id) + ": " + table_problem(record.stream, table), ReasonKind::invalid_record);
      co_return;
    }
    Stream& s = stream_for(record.stream);
    Result<Message> m = message_of(record, s);
    if (!m.ok()) {
      fail(id, m.error().message, ReasonKind::invalid_record);
      co_return;
    }
    // Wait out a close in progress, then make sure a stage is open; nothing
    // suspends between the last check and handing the row to the processor.
    bool placed = false;
    while (!placed) {
      while (s.closing) co_await changed_.wait();
      if (s.discarded) {
        fail(id, s.discard_reason, ReasonKind::stream_failed);
        co_return;
      }
      if (!s.stage.empty()) {
        placed = true;
        continue;
      }
      Status st = co_await ensure_stage(s);
      if (!st.ok()) {
        fail(id, "record " + std::to_string(id) + " not staged: " + st.error().message, ReasonKind::rejected_by_api);
        co_return;
      }
    }
    s.jobs.push_back(id);
    co_await processor_for(s).add(std::move(m).value());
  }

  Result<Message> message_of(const Record& r, const Stream& s) const {
    if (!r.payload.is_object())
      return Error::bad_input("record " + std::to_string(r.id) + ": payload: expected an object (one row)");
    if (s.spec.mode == "dedupe") {
      for (const auto& c : s.spec.primary_key) {
        auto it = r.payload.find(c);
        if (it == r.payload.end() || it->is_null())
          return Error::bad_input("record " + std::to_string(r.id) + ": primary key column \"" + c +
                                  "\" is missing or null (stream " + s.spec.name + " dedupes by it)");
      }
    }
    Message m;
    m.id = r.id;
    // {"id":…,"row":…} as nlohmann dumps that object (keys in order), with
    // no copy of the payload.
    m.body = "{\"id\":" + std::to_string(r.id) + ",\"row\":";
    append_dump(m.body, r.payload);
    m.body += '}';
    return m;
  }

  void configure(const StreamSpec& spec) {
    Stream& s = stream_for(spec.name);
    s.spec = spec;
  }

  Stream* find(const std::string& name) {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : streams_[it->second].get();
  }

  // The stream, registered on first sight with the config's default spec.
  Stream& stream_for(const std::string& name) {
    if (Stream* s = find(name)) return *s;
    auto s = std::make_unique<Stream>();
    s->spec.name = name;
    s->spec.mode = settings_.default_mode;
    if (s->spec.mode == "dedupe") s->spec.primary_key = settings_.default_primary_key;
    s->table = settings_.table_prefix + name;
    by_name_[name] = streams_.size();
    streams_.push_back(std::move(s));
    return *streams_.back();
  }

  Processor& processor_for(Stream& s);

  bool has_work(const Stream& s) const {
    if (!s.staged.empty()) return true;
    for (JobId id : s.jobs)
      if (!is_terminal(ctx_.jobs.outcome(id).state)) return true;
    return false;
  }

  void fail(JobId id, const std::string& reason, ReasonKind kind, bool unknown = false) {
    ctx_.jobs.finish(id, JobOutcome{JobState::failed, reason, unknown, false, unknown ? ReasonKind::unknown_outcome : kind},
                     ctx_.loop.now());
  }

  // The batch processor's verdict on a row.
  void on_processor_finish(Stream& s, JobId id, const JobOutcome& outcome, Time at) {
    if (is_terminal(ctx_.jobs.outcome(id).state)) {
      DS_ASSERT(s.discarded && "only a discarded stream finishes its jobs behind the processor's back");
      return;
    }
    if (outcome.state == JobState::succeeded) {
      // Staged, not succeeded: the commit decides. (Staging is idempotent by
      // row id, so a resend after a hidden outcome cannot duplicate the row.)
      s.staged.push_back(id);
      ++stats_.rows_staged;
      return;
    }
    ctx_.jobs.finish(id, outcome, at);
  }

  // ------------------------------------------------------------ closing

  Task<Status> close(Stream& s, bool commit, bool by_drain) {
    co_await ready();
    while (s.closing) co_await changed_.wait();
    if (crashed_) {
      co_await halt();
      co_return Error::internal("the process crashed");
    }
    s.closing = true;
    Status out = Status::success();
    if (!commit) {
      co_await discard(s, "stream " + s.spec.name + " failed: staged data discarded (record not committed)");
    } else if (s.discarded) {
      out = Error::bad_input("stream " + s.spec.name + " cannot commit: " + s.discard_reason);
    } else {
      if (s.processor) co_await s.processor->stop();  // every job staged or terminal
      ctx_.jobs.commit();                              // durable point: the staging acknowledgements
      out = co_await commit_stage(s);
      if (!out.ok() && !by_drain) {
        // The stream failed: a later record of it fails at once.
        s.discarded = true;
        s.discard_reason = "stream " + s.spec.name + " failed: " + out.error().message;
      }
    }
    // Jobs known terminal need no more watching.
    s.jobs.erase(std::remove_if(s.jobs.begin(), s.jobs.end(),
                                [this](JobId id) { return is_terminal(ctx_.jobs.outcome(id).state); }),
                 s.jobs.end());
    s.closing = false;
    changed_.notify_all();
    co_return out;
  }

  Task<Status> commit_stage(Stream& s) {
    std::vector<JobId> staged = std::move(s.staged);
    s.staged.clear();
    const bool truncate = s.spec.mode == "truncate";
    if (staged.empty() && !truncate) {
      // Nothing to commit: drop the stage so it does not linger.
      if (!s.stage.empty()) {
        Fate f = co_await settle(s.stage);
        if (f == Fate::dropped) ++stats_.stages_dropped;
        s.stage.clear();
      }
      co_return Status::success();
    }
    if (s.stage.empty()) {
      // Truncate with nothing staged still commits: it deletes older generations.
      DS_ASSERT(staged.empty());
      Status st = co_await ensure_stage(s);
      if (!st.ok()) co_return Error::io("commit of table " + s.table + ": " + st.error().message);
    }
    const std::string stage = s.stage;
    StoredImport record;
    record.key = next_key_++;
    record.import_id = stage;
    record.jobs = staged;
    record.params = {{"kind", kStoredKind},         {"stream", s.spec.name},  {"table", s.table},
                     {"mode", s.spec.mode},         {"generation", s.spec.generation}};
    record.started = ctx_.loop.now();
    ctx_.jobs.put_import(record);
    ctx_.jobs.commit();  // durable before the commit: a restart settles this stage
    if (crash_at("before_commit")) {
      co_await halt();
      co_return Error::internal("the process crashed before the commit");
    }
    nlohmann::json body = {{"stage", stage}, {"mode", s.spec.mode}, {"generation", s.spec.generation}};
    if (!s.spec.primary_key.empty()) body["primary_key"] = s.spec.primary_key;
    Request req = request("POST", "/v1/tables/" + s.table + "/commit", body.dump());
    const std::string what = "stage " + stage + " into " + s.table;
    Answer a = co_await control(std::move(req), commit_policy_, &staged, &what);
    // 409 StageCommitted: an earlier attempt whose answer was lost applied it.
    bool committed = a.ok || (a.status == 409 && a.code == "StageCommitted");
    std::string failure;
    bool unknown = false;
    if (!committed) {
      // Settle the stage: dropping it either proves the commit never applied
      // (and never will) or finds that it did.
      Fate f = co_await settle(stage);
      if (f == Fate::committed) {
        committed = true;
      } else {
        if (f == Fate::dropped) ++stats_.stages_dropped;
        failure = "commit of stage " + stage + " into table " + s.table + " failed: " + a.reason;
        unknown = f == Fate::unknown && a.maybe_applied;
        if (unknown) failure += " (its outcome is unknown: the stage could not be settled)";
      }
    }
    ctx_.loop.trace()
        .event(ctx_.loop.now(), "staged_table.commit")
        .str("stream", s.spec.name)
        .str("table", s.table)
        .str("stage", stage)
        .str("mode", s.spec.mode)
        .num("generation", s.spec.generation)
        .num("records", static_cast<std::int64_t>(staged.size()))
        .flag("committed", committed);
    for (JobId id : staged) {
      if (committed) {
        ctx_.jobs.finish(id, JobOutcome{JobState::succeeded, "", false, false}, ctx_.loop.now());
      } else {
        fail(id, failure, ReasonKind::rejected_by_api, unknown);
      }
    }
    if (committed) ++stats_.commits;
    else ++stats_.commits_failed;
    ctx_.jobs.drop_import(record.key);
    ctx_.jobs.commit();  // durable point: the commit and its jobs' outcomes
    s.stage.clear();     // the next record opens a new stage
    if (!committed) co_return Error::io(failure);
    co_return Status::success();
  }

  Task<void> discard(Stream& s, std::string reason) {
    s.discarded = true;
    s.discard_reason = reason;
    for (JobId id : s.jobs) {
      if (is_terminal(ctx_.jobs.outcome(id).state)) continue;
      fail(id, reason, ReasonKind::stream_failed);
      ++stats_.discarded_jobs;
    }
    s.staged.clear();
    ctx_.jobs.commit();
    ctx_.loop.trace()
        .event(ctx_.loop.now(), "staged_table.discard")
        .str("stream", s.spec.name)
        .str("stage", s.stage);
    if (!s.stage.empty()) {
      const std::string stage = std::exchange(s.stage, std::string());
      Fate f = co_await settle(stage);
      if (f == Fate::dropped) ++stats_.stages_dropped;
      // Unknown: the stage stays open, never committed; teardown drops it.
    }
  }

  // ------------------------------------------------------------ stages

  Task<Status> ensure_stage(Stream& s) {
    while (s.creating) co_await changed_.wait();
    if (!s.stage.empty()) co_return Status::success();
    s.creating = true;
    nlohmann::json body = {{"table", s.table}, {"label", settings_.stage_label}};
    Request req = request("POST", "/v1/stages", body.dump());
    Answer a = co_await control(std::move(req), policy_);
    s.creating = false;
    changed_.notify_all();
    if (a.ok && a.body.contains("stage") && a.body["stage"].is_string()) {
      s.stage = a.body["stage"].get<std::string>();
      ++stats_.stages_created;
      ctx_.loop.trace()
          .event(ctx_.loop.now(), "staged_table.stage")
          .str("stream", s.spec.name)
          .str("stage", s.stage);
      co_return Status::success();
    }
    co_return Error::io("create stage for table " + s.table + ": " +
                        (a.ok ? std::string("HTTP ") + std::to_string(a.status) + " without a stage id" : a.reason));
  }

  // Drops `stage` to learn its fate: 200 → dropped (never committed, and now
  // never will be); 404 → unknown to the warehouse, so never committed;
  // 409 → it was committed.
  Task<Fate> settle(std::string stage) {
    Request req = request("DELETE", "/v1/stages/" + stage, "");
    Answer a = co_await control(std::move(req), settle_policy_);
    if (a.ok || (!a.exhausted && a.status == 404)) co_return Fate::dropped;
    if (!a.exhausted && a.status == 409) co_return Fate::committed;
    co_return Fate::unknown;
  }

  // Drops every open stage of this connection's label (abandoned by a crashed
  // process, or created by a request whose answer was lost). Best effort: a
  // stage left open is never committed by anyone.
  Task<void> drop_open_stages(const char* when) {
    Request req = request("GET", "/v1/stages?label=" + url_encode(settings_.stage_label) + "&state=open", "");
    Answer a = co_await control(std::move(req), policy_);
    std::int64_t dropped = 0;
    if (a.ok && a.body.contains("stages") && a.body["stages"].is_array()) {
      std::vector<std::string> ids;
      for (const auto& st : a.body["stages"])
        if (st.is_object() && st.contains("stage") && st["stage"].is_string()) ids.push_back(st["stage"]);
      for (const auto& id : ids) {
        Fate f = co_await settle(id);
        if (f == Fate::dropped) ++dropped;
      }
    }
    stats_.stages_dropped += dropped;
    ctx_.loop.trace()
        .event(ctx_.loop.now(), "staged_table.drop_open_stages")
        .str("when", when)
        .flag("listed", a.ok)
        .num("dropped", dropped);
  }

  // ------------------------------------------------------------ recovery

  void start_recovery() {
    if (recovery_started_) return;
    recovery_started_ = true;
    scope_->spawn(recover());
  }

  Task<void> ready() {
    start_recovery();
    while (!recovered_) co_await changed_.wait();
  }

  // Settles what a crashed process left in the store, before any record:
  // every commit in progress is settled by its stage id, then every open stage
  // of this label is dropped.
  Task<void> recover() {
    std::vector<StoredImport> stored;
    for (StoredImport& e : ctx_.jobs.imports()) {
      next_key_ = std::max(next_key_, e.key + 1);
      if (e.params.value("kind", "") == kStoredKind) stored.push_back(std::move(e));
    }
    for (const StoredImport& e : stored) {
      Fate f = co_await settle(e.import_id);
      std::int64_t settled = 0;
      for (JobId id : e.jobs) {
        if (!ctx_.jobs.contains(id) || is_terminal(ctx_.jobs.outcome(id).state)) continue;
        if (f == Fate::committed) {
          ctx_.jobs.finish(id, JobOutcome{JobState::succeeded, "", false, false}, ctx_.loop.now());
          ++settled;
        } else if (f == Fate::unknown) {
          ctx_.jobs.finish(id,
                           JobOutcome{JobState::aborted,
                                      "stage " + e.import_id + " was being committed at a crash and its outcome "
                                          "could not be settled after the restart",
                                      true, false, ReasonKind::unknown_outcome},
                           ctx_.loop.now());
          ++settled;
        }
        // Dropped: the job stays pending; its record, offered again, is staged anew.
      }
      if (f == Fate::committed) ++stats_.recovered_committed;
      if (f == Fate::dropped) ++stats_.recovered_dropped;
      ctx_.loop.trace()
          .event(ctx_.loop.now(), "staged_table.recover")
          .str("stage", e.import_id)
          .str("fate", f == Fate::committed ? "committed" : f == Fate::dropped ? "dropped" : "unknown")
          .num("jobs", static_cast<std::int64_t>(e.jobs.size()))
          .num("settled", settled);
      ctx_.jobs.drop_import(e.key);
    }
    ctx_.jobs.commit();
    co_await drop_open_stages("start");
    recovered_ = true;
    changed_.notify_all();
  }

  // ------------------------------------------------------------ crashes

  bool crash_at(std::string_view step) {
    if (!crash_hook_ || !crash_hook_(step)) return false;
    crashed_ = true;
    ctx_.loop.trace().event(ctx_.loop.now(), "staged_table.crash_point").str("step", step);
    return true;
  }

  Task<void> halt() {
    // A crashed process does nothing more; the harness destroys it.
    while (crashed_) co_await never_.wait();  // nothing notifies never_
  }

  // ------------------------------------------------------------ HTTP

  Request request(const char* method, std::string path, std::string body) const {
    return json_request(method, settings_.host, std::move(path), std::move(body),
                        {{"Authorization", "Bearer " + settings_.api_key}});
  }

  // Every request passes here: a Retry-After holds its endpoint for everyone (I1).
  Task<HttpResult> send(Request req) {
    if (crashed_) co_await halt();
    co_return co_await http_.send(std::move(req));
  }

  // A control request (stages, commits), retried per the retry policy on
  // transport errors, 408/429/5xx and answers it cannot read.
  // A commit passes the jobs it decides: each answer is traced with them (A2
  // ties a lost or garbled answer to the jobs whose outcome it hid).
  Task<Answer> control(Request req, const RetryPolicy& policy, const std::vector<JobId>* carries = nullptr,
                       const std::string* what = nullptr) {
    Answer a;
    const Time first = ctx_.loop.now();
    int attempt = 0;
    bool done = false;
    while (!done) {
      ++attempt;
      Request copy = req;
      HttpResult res = co_await send(std::move(copy));
      if (carries) emit(ctx_.loop.trace(), ctx_.loop.now(), ev::Committing{*what, JobIds{*carries}});
      std::optional<Duration> wait_at_least;
      bool transient = false;
      a.code.clear();
      if (!res.ok()) {
        a.status = 0;
        a.reason = std::string("transport ") + transport_error_kind_name(res.error().kind) + ": " +
                   res.error().message;
        a.maybe_applied |= res.error().maybe_applied;
        transient = true;
      } else {
        const Response& r = *res;
        a.status = r.status;
        wait_at_least = retry_after(r, ctx_.loop);
        nlohmann::json b = parse_json_body(r.body);
        const bool readable = !b.is_discarded() && b.is_object();
        if (r.ok() && readable) {
          a.ok = true;
          a.body = std::move(b);
          co_return a;
        }
        if (r.ok()) {
          a.reason = "HTTP " + std::to_string(r.status) + " with an unreadable body";
          a.maybe_applied = true;
          transient = true;
        } else {
          a.reason = describe(r, readable ? b : nlohmann::json(), &a.code);
          // An error we cannot read (a garbled body) is asked again: its code matters.
          transient = retryable_status(r.status) || a.code.empty();
          // A 5xx (a gateway that timed out, a server that failed after the
          // write) does not say the request was not applied; a 503 (the
          // server would not take it) does.
          if (r.status >= 500 && r.status != 503) a.maybe_applied = true;
        }
      }
      if (!transient) {
        done = true;
        continue;
      }
      RetryDecision d = policy.next(attempt, ctx_.loop.now() - first, wait_at_least, rng_);
      if (!d.retry) {
        a.reason = d.reason + ": " + a.reason;
        a.exhausted = true;
        done = true;
        continue;
      }
      ++stats_.control_retries;
      co_await ctx_.loop.sleep(d.delay);
    }
    co_return a;
  }

  BatchResult classify_batch(const HttpResult& res, const std::vector<const Message*>& batch) const {
    HttpAnswer a = read_answer(res, ctx_.loop, RetryableStatuses{{408, 429}, true});
    if (a.kind == AnswerKind::transport) {
      BatchResult out = batch_result(a);
      out.reason += ": " + a.error_message;
      return out;
    }
    const nlohmann::json& b = a.body;
    if (a.ok() && (!b.contains("rejected") || !b["rejected"].is_array() || !b.contains("staged") ||
                   !b["staged"].is_number_integer())) {
      a.kind = AnswerKind::unreadable;  // staging by row id is idempotent: send again
      a.reason = "HTTP " + std::to_string(a.status) + " with an unreadable body";
      a.maybe_applied = true;
    }
    if (!a.ok()) {
      BatchResult out = batch_result(a);
      if (a.kind != AnswerKind::unreadable) out.reason = describe(*res, b);
      return out;
    }
    // Per-row verdicts: every row not rejected is staged.
    BatchResult out = batch_success(a);
    std::map<JobId, std::string> rejected;
    for (const auto& e : b["rejected"])
      if (e.is_object() && e.contains("id") && e["id"].is_number_unsigned())
        rejected[e["id"].get<JobId>()] = e.value("reason", std::string("no reason given"));
    if (b["staged"].get<std::int64_t>() + static_cast<std::int64_t>(rejected.size()) !=
        static_cast<std::int64_t>(batch.size())) {
      out.status = BatchStatus::retry_batch;
      out.reason = "HTTP " + std::to_string(a.status) + " staged " + std::to_string(b["staged"].get<std::int64_t>()) +
                   " and rejected " + std::to_string(rejected.size()) + " of " + std::to_string(batch.size()) +
                   " rows (an answer that does not add up)";
      out.maybe_applied = true;
      return out;
    }
    if (rejected.empty()) return out;
    out.status = BatchStatus::partial_success;
    for (const Message* m : batch) {
      auto f = rejected.find(m->id);
      if (f == rejected.end()) out.results.push_back(MessageResult{m->id, Verdict::ok, ""});
      else out.results.push_back(MessageResult{m->id, Verdict::fail, "row rejected by the warehouse: " + f->second});
    }
    return out;
  }

  struct Stats {
    std::int64_t rows_staged = 0, stages_created = 0, stages_dropped = 0, commits = 0, commits_failed = 0,
                 control_retries = 0, recovered_committed = 0, recovered_dropped = 0, discarded_jobs = 0;
    DS_TO_JSON_FRIEND(Stats, rows_staged, stages_created, stages_dropped, commits, commits_failed,
                      control_retries, recovered_committed, recovered_dropped, discarded_jobs)
  };

  DeliveryContext& ctx_;
  Settings settings_;
  ProcessorConfig processor_config_;
  RetryPolicy policy_;         // staging, stage creation, listing
  RetryPolicy commit_policy_;  // commits (commit_attempts_max)
  RetryPolicy settle_policy_;  // settling a stage's fate (kSettleAttemptsMax)
  Rng rng_;
  RateLimiter limiter_;  // no pacing: Retry-After holds only
  HttpCaller http_;      // every request: a Retry-After holds its endpoint for everyone (I1)
  Notify changed_;       // a stage, a close, a deliver or the recovery moved on
  Notify never_;         // what a crashed process waits on
  CrashHook crash_hook_;
  bool crashed_ = false;
  bool recovery_started_ = false;
  bool recovered_ = false;
  bool torn_down_ = false;
  std::int64_t delivering_ = 0;
  std::uint64_t next_key_ = 1;
  Stats stats_;
  std::map<std::string, std::size_t> by_name_;
  std::vector<std::unique_ptr<Stream>> streams_;  // in order of first sight
  std::unique_ptr<Scope> scope_;                  // the recovery task; destroyed first
};

class RowsHandler final : public BatchHandler {
 public:
  RowsHandler(StagedTableDestination& d, Stream& s, BatchLimits limits) : d_(d), s_(s), limits_(limits) {
    limits_.envelope_bytes = static_cast<std::int64_t>(std::string("{\"rows\":[]}").size());
    limits_.separator_bytes = 1;
  }
  Task<BatchResult> process_batch(const std::vector<const Message*>& batch) override {
    co_return co_await d_.send_batch(s_, batch);
  }
  Task<OneResult> process_one(const Message& m) override { co_return co_await d_.send_one(s_, m); }
  BatchLimits limits() const override { return limits_; }
  // Names the stage too: a restarted process stages into a new one, so its
  // sends are a new chain, not retries of the crashed process's (C1, C3, C4).
  std::string name() const override { return "staged_table " + s_.table + " " + s_.stage; }

 private:
  StagedTableDestination& d_;
  Stream& s_;
  BatchLimits limits_;
};

Processor& StagedTableDestination::processor_for(Stream& s) {
  if (!s.processor) {
    s.handler = std::make_unique<RowsHandler>(*this, s, settings_.limits);
    Stream* sp = &s;  // streams are heap-allocated and live as long as the destination
    s.staging = std::make_unique<StagingJobs>(
        ctx_.jobs, [this, sp](JobId id, const JobOutcome& o, Time at) { on_processor_finish(*sp, id, o, at); });
    s.processor = std::make_unique<Processor>(ctx_.loop, *s.handler, processor_config_, *s.staging);
  }
  return *s.processor;
}

std::vector<ConfigKey> schema() {
  const ProcessorConfig d{
      .flush_queue_size = 500, .flush_interval = std::chrono::seconds(2), .max_retries = 5,
      .retry = {.max_attempts = 1, .delay_initial = std::chrono::seconds(1), .delay_max = std::chrono::minutes(1),
                .elapsed_max = std::chrono::hours(1)},
      .individual_concurrency = 4, .max_buffer_size = 10000, .max_async_requests = 4};
  std::vector<ConfigKey> keys = {
      {"api_key", ConfigType::secret, nullptr, "warehouse API key (sent as Authorization: Bearer)"},
      {"host", ConfigType::string, "warehouse.example.com", "warehouse API host"},
      {"table_prefix", ConfigType::string, "", "prefix of every table name (table = prefix + stream)"},
      {"stage_label", ConfigType::string, "destsim",
       "labels this connection's stages; open stages with it are dropped when a process starts and at teardown"},
      {"default_mode", ConfigType::string, "append",
       "how rows of a stream no sync configured land: append or dedupe"},
      {"default_primary_key", ConfigType::string, "id",
       "primary key columns (comma-separated) of such streams in dedupe mode"},
      {"records_max", ConfigType::integer, 1000, "rows per staging request (the warehouse's limit is 1000)", 1,
       1000},
      {"commit_attempts_max", ConfigType::integer, 10,
       "total attempts of a stage's commit (within retry_window); then the stage is settled and its jobs fail", 1,
       1000},
      {"request_bytes_max", ConfigType::size, "4MB", "bytes per staging request (the warehouse's limit is 4 MB)",
       1, 4'000'000},
  };
  for (auto& k : processor_config_keys(d)) keys.push_back(std::move(k));
  return keys;
}

Result<Settings> settings_from(const Config& c) {
  Settings s;
  s.host = c.string("host");
  s.api_key = c.secret("api_key").value;
  s.table_prefix = c.string("table_prefix");
  s.stage_label = c.string("stage_label");
  s.default_mode = c.string("default_mode");
  s.default_primary_key = split_columns(c.string("default_primary_key"));
  s.commit_attempts_max = static_cast<int>(c.integer("commit_attempts_max"));
  s.limits = BatchLimits{.records_max = c.integer("records_max"),
                         .bytes_max = c.size("request_bytes_max"),
                         .envelope_bytes = 0,
                         .separator_bytes = 1};
  if (s.host.empty()) return Error::bad_input("host: expected a non-empty host name");
  if (s.stage_label.empty()) return Error::bad_input("stage_label: expected a non-empty label");
  if (s.default_mode != "append" && s.default_mode != "dedupe")
    return Error::bad_input("default_mode: expected append or dedupe, got \"" + s.default_mode + "\"");
  if (s.default_mode == "dedupe" && s.default_primary_key.empty())
    return Error::bad_input("default_primary_key: dedupe needs at least one column");
  if (!s.table_prefix.empty() && !valid_table_name(s.table_prefix))
    return Error::bad_input("table_prefix: \"" + s.table_prefix +
                            "\" expected letters, digits and _, not starting with a digit");
  return s;
}

Record generate(Rng& rng, JobId id, const GenerateOptions& o) {
  std::string type = o.type;
  if (type.empty()) type = rng.chance(1, 2) ? "users" : "events";
  Record r;
  r.id = id;
  r.stream = type == "events" ? "events" : "users";
  nlohmann::json p;
  if (r.stream == "users") {
    static const char* kPlans[] = {"free", "pro", "team"};
    p = {{"id", id},
         {"email", "user" + std::to_string(id) + "@example.com"},
         {"plan", odd_text_or(o, id, 1, kPlans[rng.below(3)])},
         {"visits", static_cast<std::int64_t>(rng.below(100))}};
  } else {
    static const char* kNames[] = {"purchase", "page_view", "signup", "cart_add"};
    p = {{"id", id},
         {"user_id", static_cast<std::int64_t>(rng.below(1000))},
         {"name", odd_text_or(o, id, 2, kNames[rng.below(4)])},
         {"amount", static_cast<std::int64_t>(rng.below(10000))},
         {"at", 1'704'067'200 + static_cast<std::int64_t>(id)}};
  }
  // Invalid for the warehouse: a column holding an object (columns are scalar).
  if (rng.chance(o.invalid)) p["attributes"] = {{"nested", true}};
  return padded_record(std::move(r), std::move(p), o, "/pad");
}

}  // namespace

DestinationEntry staged_table_destination() {
  // Exactly once: a stage commits once (409 StageCommitted). Not idempotent: appends are not, and
  // A3 counts the copies.
  DestinationEntry e = destination_entry(
      "staged_table", "warehouse", "warehouse.example.com",
      "a warehouse load: rows staged per stream, committed into tables at stream close (append, dedupe, "
      "truncate refresh)",
      schema(),
      {.limits = {.records_max = 1000, .bytes_max = 4'000'000}, .retryable_statuses = {408, 429, 500, 502, 503, 504},
       .serial_phases = 7, .idempotent_writes = false, .stages = true});
  e.make = [](DeliveryContext& ctx, const Config& config) -> Result<std::unique_ptr<Destination>> {
    DS_TRY(ProcessorConfig p, processor_config_from(config));
    DS_TRY(Settings s, settings_from(config));
    return std::unique_ptr<Destination>(std::make_unique<StagedTableDestination>(ctx, std::move(s), std::move(p)));
  };
  e.effects = [](const Record& r, const Config& config) -> std::vector<std::string> {
    if (!r.payload.is_object()) return {};
    return {row_oracle_key(config.string("table_prefix") + r.stream, r.id, r.payload)};
  };
  e.generate = generate;
  e.fake_options = api_key_fake_options();
  return e;
}

}  // namespace destsim
