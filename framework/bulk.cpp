#include "framework/bulk.h"

#include <algorithm>
#include <map>

namespace destsim {

Status BulkConfig::validate() const {
  if (upload_interval.count() <= 0) return Error::bad_input("upload_interval: expected a duration > 0");
  if (poll_interval.count() <= 0) return Error::bad_input("poll_interval: expected a duration > 0");
  if (poll_timeout < poll_interval) return Error::bad_input("poll_timeout: expected a duration >= poll_interval");
  if (imports_in_flight < 1) return Error::bad_input("imports_in_flight: expected an integer >= 1");
  if (max_buffer_size < 1) return Error::bad_input("max_buffer_size: expected an integer >= 1");
  Status s = retry.validate();
  if (!s.ok()) return Error::bad_input("retry_" + s.error().message);
  return Status::success();
}

std::vector<ConfigKey> bulk_config_keys(const BulkConfig& d) {
  return {
      {"upload_interval", ConfigType::duration, format_duration(d.upload_interval),
       "a partial upload goes out this long after its first item", 1},
      {"poll_interval", ConfigType::duration, format_duration(d.poll_interval), "time between polls of an import", 1},
      {"poll_timeout", ConfigType::duration, format_duration(d.poll_timeout),
       "an import not terminal this long after upload is ended; its jobs are aborted with outcome_unknown", 1},
      {"imports_in_flight", ConfigType::integer, d.imports_in_flight,
       "uploads and imports in flight at once (the API's import concurrency)", 1, 1000},
      {"max_buffer_size", ConfigType::integer, d.max_buffer_size, "items staged before producers wait", 1,
       10'000'000},
      {"max_attempts", ConfigType::integer, d.retry.max_attempts, "uploads that may carry a job", 1, 1000},
      {"retry_delay_initial", ConfigType::duration, format_duration(d.retry.delay_initial),
       "backoff before the second attempt", 0},
      {"retry_delay_max", ConfigType::duration, format_duration(d.retry.delay_max), "backoff cap", 0},
      {"retry_jitter", ConfigType::ratio, d.retry.jitter.to_string(),
       "the delay is drawn from [base x (1 - jitter), base]"},
      {"retry_window", ConfigType::duration, format_duration(d.retry.elapsed_max),
       "no upload of a job starts later than this after its first (0 = unbounded)", 0},
  };
}

Result<BulkConfig> bulk_config_from(const Config& c) {
  BulkConfig b;
  b.upload_interval = c.duration("upload_interval");
  b.poll_interval = c.duration("poll_interval");
  b.poll_timeout = c.duration("poll_timeout");
  b.imports_in_flight = static_cast<int>(c.integer("imports_in_flight"));
  b.max_buffer_size = static_cast<int>(c.integer("max_buffer_size"));
  b.retry.max_attempts = static_cast<int>(c.integer("max_attempts"));
  b.retry.delay_initial = c.duration("retry_delay_initial");
  b.retry.delay_max = c.duration("retry_delay_max");
  b.retry.jitter = c.ratio("retry_jitter");
  b.retry.elapsed_max = c.duration("retry_window");
  Status s = b.validate();
  if (!s.ok()) return s.error();
  return b;
}

nlohmann::json bulk_stats_json(const BulkStats& s) {
  return {{"uploads", s.uploads},
          {"polls", s.polls},
          {"poll_faults", s.poll_faults},
          {"stats_calls", s.stats_calls},
          {"stats_faults", s.stats_faults},
          {"poll_timeouts", s.poll_timeouts},
          {"overflow_waits", s.overflow_waits},
          {"upload_retries", s.upload_retries},
          {"imports_in_flight_max", s.imports_in_flight_max}};
}

BulkRouter::BulkRouter(Loop& loop, AsyncDestinationManager& manager, BulkConfig config, JobStore& jobs)
    : loop_(loop),
      manager_(manager),
      config_(std::move(config)),
      limits_(manager.limits()),
      jobs_(jobs),
      rng_(loop.rng().fork()),
      changed_(loop) {
  DS_ASSERT(config_.validate().ok());
  imports_ = std::make_unique<Semaphore>(loop, config_.imports_in_flight);
  scope_ = std::make_unique<Scope>(loop);
  scope_->spawn(stager());
}

BulkRouter::~BulkRouter() {
  for (const auto& [id, _] : retry_timers_) loop_.cancel(id);
  scope_.reset();
}

std::int64_t BulkRouter::upload_bytes(std::int64_t items, std::int64_t item_bytes) const {
  return limits_.header_bytes + item_bytes + items * limits_.separator_bytes;
}

void BulkRouter::finish(const Pending& p, JobState state, std::string reason) {
  jobs_.finish(p.item.id,
               JobOutcome{state, std::move(reason), state != JobState::succeeded && p.unknown,
                          state == JobState::succeeded && p.unknown},
               loop_.now());
}

Task<void> BulkRouter::deliver(Record record) {
  jobs_.add(record.id);
  Result<BulkItem> item = manager_.transform(record);
  if (!item.ok()) {
    jobs_.finish(record.id, JobOutcome{JobState::failed, item.error().message, false}, loop_.now());
    co_return;
  }
  const auto size = static_cast<std::int64_t>(item->data.size());
  if (upload_bytes(1, size) > limits_.bytes_max) {
    jobs_.finish(record.id,
                 JobOutcome{JobState::failed,
                            "record too large: " + std::to_string(size) + " bytes exceeds the upload limit of " +
                                std::to_string(limits_.bytes_max) + " bytes",
                            false},
                 loop_.now());
    co_return;
  }
  while (static_cast<std::int64_t>(queue_.size()) >= config_.max_buffer_size) co_await changed_.wait();
  Pending p;
  p.item = std::move(item).value();
  p.queued_at = loop_.now();
  queue_.push_back(std::move(p));
  changed_.notify_all();
}

Task<void> BulkRouter::drain() {
  draining_ = true;
  changed_.notify_all();
  while (!stager_done_ || active_ > 0 || waiting_retry_ > 0) co_await changed_.wait();
}

Task<void> BulkRouter::stager() {
  bool done = false;
  while (!done) {
    if (queue_.empty()) {
      if (draining_ && waiting_retry_ == 0 && active_ == 0) {
        done = true;
      } else {
        co_await changed_.wait();
      }
      continue;
    }
    // Is a full upload's worth staged?
    std::int64_t n = 0, bytes = 0;
    bool full = false;
    for (const auto& p : queue_) {
      const auto size = static_cast<std::int64_t>(p.item.data.size());
      if (n + 1 > limits_.records_max || upload_bytes(n + 1, bytes + size) > limits_.bytes_max) {
        full = true;
        break;
      }
      ++n;
      bytes += size;
    }
    if (n >= limits_.records_max) full = true;
    const Time due = queue_.front().queued_at + config_.upload_interval;
    if (!full && !draining_ && loop_.now() < due) {
      co_await changed_.wait_until(due);
      continue;
    }
    Semaphore::Permit permit = co_await imports_->acquire();
    std::vector<Pending> stage;
    bytes = 0;
    while (!queue_.empty()) {
      const auto size = static_cast<std::int64_t>(queue_.front().item.data.size());
      const auto count = static_cast<std::int64_t>(stage.size());
      if (count + 1 > limits_.records_max || upload_bytes(count + 1, bytes + size) > limits_.bytes_max) {
        ++stats_.overflow_waits;  // the rest waits for the next upload, attempts unchanged (B5)
        break;
      }
      bytes += size;
      stage.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    if (stage.empty()) continue;
    changed_.notify_all();  // room in the buffer
    ++active_;
    stats_.imports_in_flight_max =
        std::max<std::uint64_t>(stats_.imports_in_flight_max, static_cast<std::uint64_t>(imports_->in_use()));
    scope_->spawn(run_upload(std::move(stage), std::move(permit)));
  }
  stager_done_ = true;
  changed_.notify_all();
}

Task<void> BulkRouter::run_upload(std::vector<Pending> items, Semaphore::Permit permit) {
  std::vector<const BulkItem*> view;
  view.reserve(items.size());
  for (auto& p : items) {
    if (!p.started) {
      p.started = true;
      p.first = loop_.now();
    }
    ++p.attempts;
    jobs_.attempt(p.item.id);
    view.push_back(&p.item);
  }
  ++stats_.uploads;
  UploadOutcome up = co_await manager_.upload(view);
  loop_.trace()
      .event(loop_.now(), "bulk.upload")
      .str("manager", manager_.name())
      .num("records", static_cast<std::int64_t>(items.size()))
      .str("outcome", up.kind == UploadOutcome::Kind::importing   ? "importing"
                      : up.kind == UploadOutcome::Kind::completed ? "completed"
                      : up.kind == UploadOutcome::Kind::retry     ? "retry"
                                                                  : "failed")
      .str("import", up.import.import_id);
  switch (up.kind) {
    case UploadOutcome::Kind::importing:
      co_await follow(std::move(up.import), std::move(items));
      break;
    case UploadOutcome::Kind::completed:
      settle(items, up.results, up.reason);
      break;
    case UploadOutcome::Kind::retry:
      for (auto& p : items) p.unknown |= up.maybe_applied;
      ++stats_.upload_retries;
      requeue(std::move(items), up.reason, up.retry_after);
      break;
    case UploadOutcome::Kind::failed: {
      std::map<JobId, const MessageResult*> named;
      for (const auto& r : up.results) named.emplace(r.id, &r);
      for (auto& p : items) {
        auto it = named.find(p.item.id);
        finish(p, JobState::failed, it != named.end() && !it->second->reason.empty() ? it->second->reason : up.reason);
      }
      break;
    }
  }
  permit.release();
  --active_;
  changed_.notify_all();
}

Task<void> BulkRouter::follow(ImportRef import, std::vector<Pending> items) {
  const Time started = loop_.now();
  std::optional<Duration> wait;
  bool completed = false;
  bool over = false;
  while (!over) {
    co_await loop_.sleep(std::max(config_.poll_interval, wait.value_or(Duration(0))));
    wait.reset();
    if (loop_.now() - started >= config_.poll_timeout) {
      ++stats_.poll_timeouts;
      for (auto& p : items) {
        p.unknown = true;  // the import may still complete after we stop looking
        finish(p, JobState::aborted,
               "poll timeout: import " + import.import_id + " not terminal after " +
                   format_duration(config_.poll_timeout));
      }
      co_return;
    }
    if (!completed) {
      ++stats_.polls;
      PollOutcome poll = co_await manager_.poll(import);
      if (poll.transient) {
        ++stats_.poll_faults;  // asked again at the next poll (D5)
        wait = poll.retry_after;
        continue;
      }
      if (poll.status == ImportStatus::running) continue;
      if (poll.status == ImportStatus::failed) {
        requeue(std::move(items), "import " + import.import_id + " failed: " + poll.reason, std::nullopt);
        co_return;
      }
      completed = true;
    }
    ++stats_.stats_calls;
    StatsOutcome st = co_await manager_.upload_stats(import);
    if (st.transient) {
      ++stats_.stats_faults;
      continue;
    }
    settle(items, st.results, st.reason);
    over = true;
  }
}

void BulkRouter::settle(std::vector<Pending>& items, const std::vector<MessageResult>& results,
                        const std::string& reason) {
  std::map<JobId, const MessageResult*> by_id;
  for (const auto& r : results) by_id.emplace(r.id, &r);
  std::vector<Pending> again;
  std::string again_reason = reason;
  for (auto& p : items) {
    auto it = by_id.find(p.item.id);
    if (it == by_id.end()) {
      again_reason = "not in the import's per-record results";
      again.push_back(std::move(p));  // retried, never assumed delivered (D4)
    } else if (it->second->verdict == Verdict::ok) {
      finish(p, JobState::succeeded, "");
    } else if (it->second->verdict == Verdict::fail) {
      finish(p, JobState::failed, it->second->reason.empty() ? reason : it->second->reason);
    } else {
      again_reason = it->second->reason.empty() ? reason : it->second->reason;
      again.push_back(std::move(p));
    }
  }
  if (!again.empty()) requeue(std::move(again), again_reason, std::nullopt);
}

void BulkRouter::requeue(std::vector<Pending> items, const std::string& reason,
                         std::optional<Duration> retry_after) {
  // Items that failed together retry together, after one backoff.
  std::vector<Pending> again;
  Time earliest = loop_.now();
  int attempts = 0;
  for (auto& p : items) {
    if (p.attempts >= config_.retry.max_attempts) {
      finish(p, JobState::aborted,
             "attempts exhausted (" + std::to_string(p.attempts) + " of " +
                 std::to_string(config_.retry.max_attempts) + "): " + reason);
      continue;
    }
    earliest = std::min(earliest, p.first);
    attempts = std::max(attempts, p.attempts);
    again.push_back(std::move(p));
  }
  if (again.empty()) {
    changed_.notify_all();
    return;
  }
  RetryDecision d = config_.retry.next(attempts, loop_.now() - earliest, retry_after, rng_);
  if (!d.retry) {
    for (auto& p : again) finish(p, JobState::aborted, d.reason + ": " + reason);
    changed_.notify_all();
    return;
  }
  waiting_retry_ += static_cast<std::int64_t>(again.size());
  auto holder = std::make_shared<std::vector<Pending>>(std::move(again));
  auto id = std::make_shared<TimerId>(0);
  *id = loop_.call_after(d.delay, [this, holder, id] {
    retry_timers_.erase(*id);
    for (auto& p : *holder) {
      p.queued_at = loop_.now();
      queue_.push_back(std::move(p));
    }
    waiting_retry_ -= static_cast<std::int64_t>(holder->size());
    changed_.notify_all();
  });
  retry_timers_.emplace(*id, true);
  changed_.notify_all();
}

}  // namespace destsim
