#include "destinations/sftp/sftp.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>

#include "destinations/bulk_destination.h"
#include "destinations/sftp/file_format.h"
#include "destinations/sftp/path_template.h"
#include "framework/file_transport.h"
#include "framework/json_out.h"
#include "framework/oracle.h"
#include "framework/sync.h"

namespace destsim {

bool is_sftp_temp_name(std::string_view name) {
  return name.size() > 1 && name.front() == '.' && name.find(kSftpTempMarker) != std::string_view::npos;
}

namespace {

constexpr int kImportsInFlightMax = 8;                   // uploads at once over one session
constexpr std::int64_t kFileBytesCap = 4'000'000'000;    // file_bytes_max upper bound
constexpr std::int64_t kRecordsCap = 10'000'000;         // records_max upper bound
constexpr std::int64_t kCsvHeaderReserve = 4096;         // room kept for a CSV header (see limits())
const char* const kWhere = "sftp config: ";

struct Settings {
  // The session: what real mode opens (the simulator's fake checks the user
  // and credentials through file_login).
  FileSessionOptions session;
  // Where and what
  std::string destination_id;
  std::string job_run_id;
  std::optional<PathTemplate> path;
  std::string root;
  RowOptions rows;
  bool gzip = false;
  int gzip_level = 6;
  std::int64_t records_max = 0;
  std::int64_t file_bytes_max = 0;
};

// How records become rows (what a row's effect key depends on): read alone,
// so the checkers' per-record effects do not resolve the whole session.
Result<RowOptions> rows_from(const Config& c) {
  const std::string w = kWhere;
  RowOptions r;
  DS_TRY(r.format, parse_file_format(c.string("file_format"), w + "file_format"));
  r.job_id_column = c.string("job_id_column");
  const nlohmann::json& cols = c.json("columns");
  if (!cols.is_array()) return Error::bad_input(w + "columns: expected an array of column names ([] = every field, sorted)");
  if (!cols.empty() && r.format != FileFormat::csv)
    return Error::bad_input(w + "columns: only for file_format \"csv\" (JSONL writes every field)");
  for (std::size_t i = 0; i < cols.size(); ++i) {
    if (!cols[i].is_string() || cols[i].get<std::string>().empty())
      return Error::bad_input(w + "columns/" + std::to_string(i) + ": expected a non-empty column name");
    std::string col = cols[i];
    if (col == r.job_id_column)
      return Error::bad_input(w + "columns/" + std::to_string(i) + ": \"" + col +
                              "\" is the job id column (job_id_column), which always comes first");
    if (std::find(r.columns.begin(), r.columns.end(), col) != r.columns.end())
      return Error::bad_input(w + "columns/" + std::to_string(i) + ": duplicate column \"" + col + "\"");
    r.columns.push_back(std::move(col));
  }
  return r;
}

Result<Settings> settings_from(const Config& c) {
  Settings s;
  const std::string w = kWhere;
  FileSessionOptions& f = s.session;
  f.host = c.string("host");
  f.port = static_cast<int>(c.integer("port"));
  f.user = c.string("username");
  f.password = c.secret("password").value;
  f.private_key = c.secret("private_key").value;
  f.known_hosts = c.string("known_hosts");
  f.connect_timeout = c.duration("connect_timeout");
  f.op_timeout = c.duration("op_timeout");
  s.destination_id = c.string("destination_id");
  s.job_run_id = c.string("job_run_id");
  s.gzip = c.boolean("gzip");
  s.gzip_level = static_cast<int>(c.integer("gzip_level"));
  s.records_max = c.integer("records_max");
  s.file_bytes_max = c.size("file_bytes_max");
  if (f.host.empty()) return Error::bad_input(w + "host: expected a host name or address");
  if (f.user.empty()) return Error::bad_input(w + "username: expected a non-empty user name");
  const std::string& method = c.string("auth_method");
  if (method == "password") {
    if (f.password.empty()) return Error::bad_input(w + "password: expected a password (auth_method is \"password\")");
    f.private_key.clear();
  } else if (method == "key") {
    if (f.private_key.empty())
      return Error::bad_input(w + "private_key: expected a private key, its text or a file path (auth_method is \"key\")");
    f.password.clear();
  } else {
    return Error::bad_input(w + "auth_method: expected \"password\" or \"key\", got \"" + method + "\"");
  }
  DS_TRY(f.host_key, parse_host_key_policy(c.string("host_key_policy"), w + "host_key_policy"));
  for (const char* key : {"destination_id", "job_run_id"}) {
    const std::string& v = c.string(key);
    if (v.empty()) return Error::bad_input(w + key + ": expected a non-empty id");
    if (v.find_first_of(std::string("/\0", 2)) != std::string::npos)
      return Error::bad_input(w + key + ": expected an id without '/' or NUL, got \"" + v + "\"");
  }
  auto root = normalize_path(c.string("root"));
  if (!root.ok()) return Error::bad_input(w + "root: " + root.error().message);
  s.root = *root;
  DS_TRY(PathTemplate t, PathTemplate::parse(c.string("file_path"), w + "file_path"));
  s.path.emplace(std::move(t));
  DS_TRY(s.rows, rows_from(c));
  return s;
}

std::string hex8(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08llx", static_cast<unsigned long long>(v & 0xffffffffULL));
  return buf;
}

struct SftpStats {
  std::uint64_t files = 0, bytes = 0, temps_removed = 0, stale_temps_cleaned = 0;
  std::uint64_t renames_verified = 0, renames_not_applied = 0, renames_unknown = 0;
  std::uint64_t rename_failure_retries = 0;  // SSH_FX_FAILURE on rename: looked, then renamed once more
};
DS_TO_JSON(SftpStats, files, bytes, temps_removed, stale_temps_cleaned, renames_verified,
           renames_not_applied, renames_unknown, rename_failure_retries)

class SftpManager final : public SimpleDestinationManager {
 public:
  SftpManager(DeliveryContext& ctx, FileTransport& files, Settings s)
      : ctx_(ctx), files_(files), s_(std::move(s)), changed_(ctx.loop), never_(ctx.loop) {
    // The instance token tells this process's temporaries from a crashed
    // one's; drawn from the run's seed, so a replay names files identically.
    token_ = hex8(ctx_.loop.rng().next_u64());
    values_.destination_id = s_.destination_id;
    values_.job_run_id = s_.job_run_id;
    // One run, one time: the run's start on the loop's clock. A retried or
    // re-uploaded file therefore lands on the same path (idempotent by path),
    // as the peer resolves its path once per sync.
    values_.unix_ms = ctx_.loop.clock().unix_ms(kTimeZero);
  }

  std::string name() const override { return "sftp"; }
  // Re-uploading after an unknown outcome is what at-least-once allows (E1);
  // a re-upload of the same rows replaces its own earlier file (see sftp.h).
  bool idempotent() const override { return true; }

  BulkLimits limits() const override {
    // Items are rows as JSON (JSONL lines as written). A CSV row is shorter than
    // its JSON except for the empty cells of a sparse file; the reserve covers
    // the header. file_bytes_max bounds the file before compression. The
    // reserve is at most a quarter of a small file: a 4 KB reserve in a 1 KB
    // file (the range allows it) failed every record "too large" although a
    // header and a row fit many times over (certify's C4, sftp case 26).
    return BulkLimits{.records_max = s_.records_max,
                      .bytes_max = s_.file_bytes_max,
                      .header_bytes = s_.rows.format == FileFormat::csv
                                          ? std::min<std::int64_t>(kCsvHeaderReserve, s_.file_bytes_max / 4)
                                          : 0,
                      .separator_bytes = s_.rows.format == FileFormat::csv ? 2 : 1};
  }

  Result<BulkItem> transform(const Record& record) override {
    DS_TRY(nlohmann::json row, record_row(record, s_.rows));
    return BulkItem{record.id, row_text(row)};
  }

  Task<UploadOutcome> upload(const std::vector<const BulkItem*>& items) override {
    DS_ASSERT(!items.empty());
    JobId first = items.front()->id;
    std::vector<std::string_view> rows;
    rows.reserve(items.size());
    for (const BulkItem* item : items) {
      first = std::min(first, item->id);
      rows.push_back(item->data);
    }
    auto built = build_file(rows, s_.rows);
    if (!built.ok()) co_return failed_outcome("sftp: building the file: " + built.error().message);
    std::string data = std::move(built).value();
    if (s_.gzip) {
      auto z = gzip_compress(data, s_.gzip_level);
      if (!z.ok()) co_return failed_outcome("sftp: " + z.error().message);
      data = std::move(z).value();
    }
    auto base = s_.path->resolve(values_, s_.root);
    if (!base.ok()) co_return outcome_of(base.error(), false);  // refused before any remote operation
    // Named by the file's first job: only an upload holding that job can
    // replace this file (see "delivery semantics" in sftp.h).
    const std::string final_path = with_part(*base, std::to_string(first), s_.gzip);
    const std::string dir = parent_path(final_path);
    const std::string temp = join_path(dir, "." + file_name(final_path) + kSftpTempMarker + token_ + "-" +
                                                std::to_string(++temp_seq_));
    const auto size = static_cast<std::int64_t>(data.size());

    auto connected = co_await files_.connect();
    if (!connected.ok()) co_return outcome_of(connected.error(), false);
    co_await remove_stale();
    auto ready = co_await prepare_dir(dir);
    if (!ready.ok()) co_return outcome_of(ready.error(), false);

    auto put = co_await files_.put(temp, std::move(data));
    if (!put.ok()) {
      if (put.error().kind == FileError::Kind::no_such_file) forget_dir(dir);
      co_await drop_temp(temp);
      co_return traced(final_path, items.size(), size, "put_failed", outcome_of(put.error(), false));
    }
    auto renamed = co_await files_.rename(temp, final_path);
    if (!renamed.ok() && renamed.error().kind == FileError::Kind::failure) {
      // SSH_FX_FAILURE is the protocol's "something failed" with no more
      // specific code: servers send it for a passing condition as readily as
      // for a lasting one. Look (the server may have renamed before failing),
      // then rename once more; a second generic failure fails the file.
      ++stats_.rename_failure_retries;
      const Seen seen = co_await look(dir, temp, final_path, size);
      if (seen == Seen::applied) {
        ++stats_.renames_verified;
        if (crash_at("after_upload")) co_await halt();
        co_return succeeded(items, final_path, size, "rename_verified");
      }
      if (seen == Seen::unknown) {
        // Could not look: the rename may have happened. Retried with the
        // outcome unknown (the router decides by the upload's idempotence).
        ++stats_.renames_unknown;
        stale_.push_back(temp);
        UploadOutcome out = outcome_of(renamed.error(), true);
        out.kind = UploadOutcome::Kind::retry;
        out.maybe_applied = true;
        co_return traced(final_path, items.size(), size, "rename_unknown", std::move(out));
      }
      renamed = co_await files_.rename(temp, final_path);
    }
    if (renamed.ok()) {
      if (crash_at("after_upload")) co_await halt();
      co_return succeeded(items, final_path, size, "renamed");
    }
    const FileError& e = renamed.error();
    if (e.kind == FileError::Kind::disconnected || e.kind == FileError::Kind::timeout) {
      // The answer was lost, not necessarily the rename: look before retrying.
      const Seen seen = co_await look(dir, temp, final_path, size);
      if (seen == Seen::applied) {
        ++stats_.renames_verified;
        if (crash_at("after_upload")) co_await halt();
        co_return succeeded(items, final_path, size, "rename_verified");
      }
      if (seen == Seen::not_applied) {
        ++stats_.renames_not_applied;
        co_await drop_temp(temp);
        co_return traced(final_path, items.size(), size, "rename_not_applied", outcome_of(e, false));
      }
      ++stats_.renames_unknown;
      stale_.push_back(temp);  // may still exist: removed before the next upload if so
      co_return traced(final_path, items.size(), size, "rename_unknown", outcome_of(e, true));
    }
    if (e.kind == FileError::Kind::no_such_file) forget_dir(dir);
    co_await drop_temp(temp);
    co_return traced(final_path, items.size(), size, "rename_failed", outcome_of(e, false));
  }

  /// At drain: removes this instance's temporaries that could not be removed
  /// when their upload failed.
  Task<void> sweep() {
    if (stale_.empty()) co_return;
    auto c = co_await files_.connect();
    if (c.ok()) co_await remove_stale();
    if (!stale_.empty()) {
      auto ev = ctx_.loop.trace().event(ctx_.loop.now(), "sftp.temps_left");
      ev.num("count", static_cast<std::int64_t>(stale_.size()));
    }
  }

  void set_crash_hook(CrashHook hook) { crash_hook_ = std::move(hook); }

  nlohmann::json stats_json() const { return stats_; }

 private:
  enum class Seen { applied, not_applied, unknown };
  struct DirState {
    bool ready = false;  // created, and other instances' temporaries removed
    bool busy = false;   // an upload is preparing it
  };

  static UploadOutcome failed_outcome(std::string reason) {
    UploadOutcome out;
    out.kind = UploadOutcome::Kind::failed;
    out.reason = std::move(reason);
    return out;
  }

  // The bulk path's answer to a file error: transient kinds (and a vanished
  // directory) are retried with the retry policy; the rest fail the file's jobs.
  static UploadOutcome outcome_of(const FileError& e, bool maybe_applied) {
    UploadOutcome out;
    const std::string kind = file_error_kind_name(e.kind);
    if (e.transient() || e.kind == FileError::Kind::no_such_file) {
      out.kind = UploadOutcome::Kind::retry;
      out.reason = "sftp " + kind + ": " + e.message;
      out.maybe_applied = maybe_applied;
      return out;
    }
    out.kind = UploadOutcome::Kind::failed;
    out.reason = e.kind == FileError::Kind::invalid_path
                     ? "sftp " + kind + " (refused before any remote operation): " + e.message
                     : "sftp " + kind + " (rejected by the server, not retried): " + e.message;
    return out;
  }

  UploadOutcome traced(const std::string& path, std::size_t records, std::int64_t bytes, const char* what,
                       UploadOutcome out) {
    ctx_.loop.trace()
        .event(ctx_.loop.now(), "sftp.file")
        .str("path", path)
        .num("records", static_cast<std::int64_t>(records))
        .num("bytes", bytes)
        .str("result", what);
    return out;
  }

  UploadOutcome succeeded(const std::vector<const BulkItem*>& items, const std::string& path, std::int64_t bytes,
                          const char* what) {
    ++stats_.files;
    stats_.bytes += static_cast<std::uint64_t>(bytes);
    UploadOutcome out;
    out.kind = UploadOutcome::Kind::completed;
    out.results.reserve(items.size());
    for (const BulkItem* item : items) out.results.push_back(MessageResult{item->id, Verdict::ok, ""});
    return traced(path, items.size(), bytes, what, std::move(out));
  }

  bool crash_at(std::string_view step) {
    if (!crash_hook_ || !crash_hook_(step)) return false;
    crashed_ = true;
    ctx_.loop.trace().event(ctx_.loop.now(), "bulk.crash_point").str("step", step);
    return true;
  }

  Task<void> halt() {
    // A crashed process does nothing more; the harness destroys it.
    while (crashed_) co_await never_.wait();  // nothing notifies never_
  }

  bool own_temp(std::string_view name) const {
    return name.find(std::string(kSftpTempMarker) + token_ + "-") != std::string_view::npos;
  }

  void forget_dir(const std::string& dir) {
    auto it = dirs_.find(dir);
    if (it != dirs_.end()) it->second.ready = false;
  }

  // Creates the directory and removes what other instances left there, once
  // per directory and process; concurrent uploads wait for the first.
  Task<FileResult<bool>> prepare_dir(std::string dir) {
    DirState& st = dirs_[dir];  // std::map: the reference stays valid
    while (st.busy) co_await changed_.wait();
    if (st.ready) co_return true;
    st.busy = true;
    FileResult<bool> r = co_await clean_dir(dir);
    st.busy = false;
    st.ready = r.ok();
    changed_.notify_all();
    co_return r;
  }

  Task<FileResult<bool>> clean_dir(std::string dir) {
    auto made = co_await files_.mkdir_p(dir);
    if (!made.ok()) co_return made.error();
    auto listed = co_await files_.list(dir);
    if (!listed.ok()) {
      if (listed.error().transient()) co_return listed.error();
      // A drop directory may be write-only: no cleanup then, but the upload goes on.
      ctx_.loop.trace()
          .event(ctx_.loop.now(), "sftp.cleanup_skipped")
          .str("dir", dir)
          .str("error", file_error_kind_name(listed.error().kind));
      co_return true;
    }
    std::int64_t removed = 0;
    for (const RemoteEntry& e : *listed) {
      if (e.directory || !is_sftp_temp_name(e.name) || own_temp(e.name)) continue;
      auto r = co_await files_.remove(join_path(dir, e.name));
      if (r.ok()) {
        ++removed;
        continue;
      }
      if (r.error().kind == FileError::Kind::no_such_file) continue;
      if (r.error().transient()) co_return r.error();
      ctx_.loop.trace()
          .event(ctx_.loop.now(), "sftp.cleanup_failed")
          .str("path", join_path(dir, e.name))
          .str("error", file_error_kind_name(r.error().kind));
    }
    stats_.stale_temps_cleaned += static_cast<std::uint64_t>(removed);
    ctx_.loop.trace().event(ctx_.loop.now(), "sftp.cleanup").str("dir", dir).num("removed", removed);
    co_return true;
  }

  // Removes a failed upload's temporary now if it can (reconnecting when the
  // failure dropped the session), else remembers it for later.
  Task<void> drop_temp(std::string temp) {
    auto c = co_await files_.connect();
    if (c.ok()) {
      auto r = co_await files_.remove(temp);
      if (r.ok() || r.error().kind == FileError::Kind::no_such_file) {
        if (r.ok()) ++stats_.temps_removed;
        co_return;
      }
      if (!r.error().transient()) {
        ctx_.loop.trace()
            .event(ctx_.loop.now(), "sftp.cleanup_failed")
            .str("path", temp)
            .str("error", file_error_kind_name(r.error().kind));
        co_return;  // the server will not let us; the next run's cleanup will try
      }
    }
    stale_.push_back(temp);
  }

  Task<void> remove_stale() {
    std::vector<std::string> keep;
    std::vector<std::string> todo;
    todo.swap(stale_);
    for (const std::string& temp : todo) {
      auto r = co_await files_.remove(temp);
      if (r.ok()) ++stats_.temps_removed;
      if (r.ok() || r.error().kind == FileError::Kind::no_such_file) continue;
      if (r.error().transient()) keep.push_back(temp);
    }
    for (auto& t : keep) stale_.push_back(std::move(t));
  }

  // After a rename whose answer was lost: is the temporary still there (not
  // applied), or gone with the final file in place at our size (applied)?
  Task<Seen> look(std::string dir, std::string temp, std::string final_path, std::int64_t size) {
    auto c = co_await files_.connect();
    if (!c.ok()) co_return Seen::unknown;
    auto listed = co_await files_.list(dir);
    if (!listed.ok()) co_return Seen::unknown;
    const std::string temp_name = file_name(temp), final_name = file_name(final_path);
    bool temp_there = false;
    std::int64_t final_size = -1;
    for (const RemoteEntry& e : *listed) {
      if (e.name == temp_name) temp_there = true;
      if (e.name == final_name && !e.directory) final_size = e.size;
    }
    if (temp_there) co_return Seen::not_applied;
    if (final_size == size) co_return Seen::applied;
    co_return Seen::unknown;
  }

  DeliveryContext& ctx_;
  FileTransport& files_;
  Settings s_;
  PathValues values_;
  std::string token_;
  std::uint64_t temp_seq_ = 0;
  std::map<std::string, DirState> dirs_;
  std::vector<std::string> stale_;  // this instance's temporaries still to remove
  Notify changed_;                  // a directory finished preparing
  Notify never_;                    // what a crashed upload waits on
  bool crashed_ = false;
  CrashHook crash_hook_;
  SftpStats stats_;
};

// The bulk path plus what a file drop needs around it: the real-mode session
// it may own, the crash hook at its own durable step, and the final sweep.
class SftpDestination final : public Destination {
 public:
  SftpDestination(DeliveryContext& ctx, std::unique_ptr<FileTransport> own, FileTransport& files, Settings s,
                  BulkConfig b)
      : own_(std::move(own)) {
    auto m = std::make_unique<SftpManager>(ctx, files, std::move(s));
    manager_ = m.get();
    bulk_ = std::make_unique<BulkDestination>(ctx, std::move(m), std::move(b));
  }

  Task<void> deliver(Record record) override { co_await bulk_->deliver(std::move(record)); }
  Task<void> drain() override {
    co_await bulk_->drain();
    co_await manager_->sweep();
  }
  nlohmann::json stats() const override {
    nlohmann::json j = bulk_->stats();
    j["sftp"] = manager_->stats_json();
    return j;
  }
  std::vector<JobId> resume(const RecordSource& source) override { return bulk_->resume(source); }
  void set_crash_hook(CrashHook hook) override {
    manager_->set_crash_hook(hook);  // "after_upload": the file is in place, its jobs not yet marked
    bulk_->set_crash_hook(std::move(hook));
  }
  bool commits_at_durable_steps() const override { return true; }

 private:
  std::unique_ptr<FileTransport> own_;  // real mode only; outlives the manager that uses it
  SftpManager* manager_ = nullptr;      // owned by bulk_
  std::unique_ptr<BulkDestination> bulk_;
};

std::vector<ConfigKey> schema() {
  BulkConfig d;
  d.upload_interval = std::chrono::seconds(30);
  d.imports_in_flight = 1;  // one session; uploads in flight interleave on it
  d.max_buffer_size = 200'000;
  d.retry.max_attempts = 5;
  d.retry.delay_initial = std::chrono::seconds(5);
  d.retry.delay_max = std::chrono::minutes(5);
  d.retry.elapsed_max = std::chrono::hours(24);
  std::vector<ConfigKey> keys = {
      {"host", ConfigType::string, "sftp.example.com", "SFTP server (real mode; the simulator uses its fake)"},
      {"port", ConfigType::integer, 22, "SFTP server port", 1, 65535},
      {"username", ConfigType::string, nullptr, "login user"},
      {"auth_method", ConfigType::string, "password", "\"password\" or \"key\""},
      {"password", ConfigType::secret, "", "password (auth_method password)"},
      {"private_key", ConfigType::secret, "", "private key text or key file path (auth_method key)"},
      {"host_key_policy", ConfigType::string, "strict",
       "real mode: \"strict\" (known_hosts must list the server), \"accept_new\", \"accept_any\" (tests only)"},
      {"known_hosts", ConfigType::string, "", "real mode: known_hosts file (empty = ~/.ssh/known_hosts)"},
      {"connect_timeout", ConfigType::duration, "10s", "real mode: connect and login timeout", 1},
      {"op_timeout", ConfigType::duration, "30s", "real mode: longest wait for one server reply", 1},
      {"destination_id", ConfigType::string, nullptr, "fills {destinationID}"},
      {"job_run_id", ConfigType::string, nullptr, "fills {jobRunID}: the run (sync) these files belong to"},
      {"file_path", ConfigType::string, "/exports/{destinationID}/{jobRunID}/records_{YYYY}{MM}{DD}.csv",
       "path template; {destinationID} and {jobRunID} required; _<first job id> is inserted before the extension"},
      {"root", ConfigType::string, "/", "resolved paths must stay under this directory"},
      {"file_format", ConfigType::string, "csv", "\"csv\" (RFC 4180) or \"jsonl\""},
      {"columns", ConfigType::json, nlohmann::json::array(),
       "csv: the allowed columns in file order ([] = the sorted union of each file's fields)"},
      {"job_id_column", ConfigType::string, "job_id", "column/field carrying the job id, first (\"\" = none)"},
      {"gzip", ConfigType::boolean, false, "gzip each file (\".gz\" is appended to the name)"},
      {"gzip_level", ConfigType::integer, 6, "gzip compression level", 1, 9},
      {"records_max", ConfigType::integer, 100'000, "records per file", 1, kRecordsCap},
      {"file_bytes_max", ConfigType::size, "100MB", "bytes per file before compression", 1024, kFileBytesCap},
  };
  for (auto& k : bulk_config_keys(d)) {
    if (k.name == "imports_in_flight") {
      k.doc = "uploads in flight at once over the one session";
      k.max = kImportsInFlightMax;
    }
    if (k.name == "poll_interval" || k.name == "poll_timeout") k.doc += " (unused: a file drop has no import to poll)";
    keys.push_back(std::move(k));
  }
  return keys;
}

Record generate(Rng& rng, JobId id, const GenerateOptions& o) {
  Record r;
  r.id = id;
  r.stream = "users";
  if (rng.chance(o.invalid)) {
    r.payload = nlohmann::json::array({"not", "an", "object"});  // fails the record: payload must be an object
    return r;
  }
  static const char* kNames[] = {"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald"};
  static const char* kNotes[] = {"plain", "has, a comma", "says \"hi\"", "two\nlines", ""};
  nlohmann::json p = {{"email", "user" + std::to_string(id) + "@example.com"},
                      {"score", static_cast<std::int64_t>(rng.below(1000))}};
  if (!rng.chance(1, 4)) p["name"] = odd_text_or(o, id, 1, kNames[rng.below(6)]);  // sometimes missing: an empty cell
  if (rng.chance(1, 3)) p["note"] = odd_text_or(o, id, 2, kNotes[rng.below(5)]);     // CSV quoting
  if (rng.chance(1, 5)) p["active"] = rng.chance(1, 2);
  if (rng.chance(1, 6)) p["tags"] = nlohmann::json::array({"a", "b"});  // nested: compact JSON in a cell
  if (o.type == "sparse") p["field_" + std::to_string(rng.below(20))] = "x";
  return padded_record(std::move(r), std::move(p), o, "/padding");
}

}  // namespace

DestinationEntry sftp_destination() {
  // Not idempotent: a file is idempotent by path, not by record (see sftp.h).
  // A file is in place when its rename is answered: nothing is polled.
  DestinationEntry e = destination_entry(
      "sftp", "sftp", "sftp.example.com",
      "SFTP file drop: CSV/JSONL (gzip) files under a path template, atomic temp-then-rename uploads", schema(),
      {.limits = {.records_max = kRecordsCap, .bytes_max = kFileBytesCap},
       .delivery = DeliverySemantics::at_least_once, .idempotent_writes = false, .bulk = true, .polls = false,
       .import_concurrency = kImportsInFlightMax});
  e.make = [](DeliveryContext& ctx, const Config& config) -> Result<std::unique_ptr<Destination>> {
    DS_TRY(Settings s, settings_from(config));
    DS_TRY(BulkConfig b, bulk_config_from(config));
    std::unique_ptr<FileTransport> own;
    FileTransport* files = ctx.files;
    if (!files) {
      if (ctx.loop.clock().is_virtual())
        return Error::bad_input("sftp: no file session: the simulator provides one (DeliveryContext::files); "
                                "opening a real SFTP session needs a real clock");
      if (!ctx.open_files)
        return Error::bad_input("sftp: no file session: real mode needs a session opener (DeliveryContext::open_files)");
      own = ctx.open_files(s.session);
      if (!own) return Error::bad_input("sftp: the session opener (DeliveryContext::open_files) gave no session");
      files = own.get();
    }
    return std::unique_ptr<Destination>(
        std::make_unique<SftpDestination>(ctx, std::move(own), *files, std::move(s), std::move(b)));
  };
  e.prepare_effects = [](const Config& config) -> std::function<std::vector<std::string>(const Record&)> {
    // An invalid config makes no destination (make refuses it), so it has no run to judge.
    auto rows = rows_from(config);
    if (!rows.ok()) return [](const Record&) { return std::vector<std::string>{}; };
    return [rows = std::move(rows).value()](const Record& r) -> std::vector<std::string> {
      auto key = record_effect_key(r, rows);
      if (!key.ok()) return {};
      return {*key};
    };
  };
  e.effects = [prepare = e.prepare_effects](const Record& r, const Config& config) { return prepare(config)(r); };
  e.generate = generate;
  e.file_login = [](const Config& config) -> nlohmann::json {
    if (config.string("auth_method") == "key")
      return {{"user", config.string("username")}, {"private_key", config.secret("private_key").value}};
    return {{"user", config.string("username")}, {"password", config.secret("password").value}};
  };
  // The fake accepts the configured password login (a scenario's fake options
  // may say otherwise: a rotated password). Key logins: the fake is open to any
  // readable key unless a scenario lists the user's authorized keys.
  e.fake_options = [](const Config& config) -> nlohmann::json {
    if (config.string("auth_method") != "password") return nlohmann::json::object();
    return {{"users", nlohmann::json::array(
                          {{{"name", config.string("username")}, {"password", config.secret("password").value}}})}};
  };
  e.certify_config = {{"username", "certify"},
                      {"password", {{"secret", "certify-password"}}},
                      {"destination_id", "dest-1"},
                      {"job_run_id", "run-1"},
                      {"upload_interval", "5s"},
                      {"records_max", 50}};
  return e;
}

}  // namespace destsim
