#include "framework/batch.h"

#include <algorithm>
#include <map>
#include <set>

#include "framework/trace_events.h"

namespace destsim {

namespace {
// A result's declared kind, else what its HTTP status implies.
ReasonKind kind_of(ReasonKind declared, int http_status) {
  return declared != ReasonKind::none ? declared : reason_kind_of_status(http_status);
}
}  // namespace


const char* batch_status_name(BatchStatus s) {
  switch (s) {
    case BatchStatus::success: return "success";
    case BatchStatus::partial_success: return "partial_success";
    case BatchStatus::retry_batch: return "retry_batch";
    case BatchStatus::retry_individual: return "retry_individual";
    case BatchStatus::cannot_retry: return "cannot_retry";
  }
  return "?";
}

OneResult one_result_of(const BatchResult& b) {
  OneResult out{.reason = b.reason, .retry_after = b.retry_after, .maybe_applied = b.maybe_applied,
                .too_large = b.too_large, .http_status = b.http_status, .kind = b.kind, .api_code = b.api_code};
  switch (b.status) {
    case BatchStatus::success: out.verdict = Verdict::ok; break;
    case BatchStatus::partial_success:
      out.verdict = b.results.empty() ? Verdict::retry : b.results[0].verdict;
      if (!b.results.empty() && !b.results[0].reason.empty()) out.reason = b.results[0].reason;
      if (!b.results.empty() && b.results[0].kind != ReasonKind::none) out.kind = b.results[0].kind;
      break;
    case BatchStatus::retry_batch: out.verdict = Verdict::retry; break;
    case BatchStatus::retry_individual: out.verdict = b.too_large ? Verdict::fail : Verdict::retry; break;
    case BatchStatus::cannot_retry: out.verdict = Verdict::fail; break;
  }
  return out;
}

Status ProcessorConfig::validate() const {
  if (flush_queue_size < 1) return Error::bad_input("flush_queue_size: expected an integer >= 1");
  if (flush_interval.count() <= 0) return Error::bad_input("flush_interval: expected a duration > 0");
  if (max_retries < 1) return Error::bad_input("max_retries: expected an integer >= 1 (total attempts)");
  if (individual_concurrency < 1 || individual_concurrency > 100)
    return Error::bad_input("individual_concurrency: expected an integer in [1, 100]");
  if (max_buffer_size < 1) return Error::bad_input("max_buffer_size: expected an integer >= 1");
  if (max_async_requests < 1) return Error::bad_input("max_async_requests: expected an integer >= 1");
  RetryPolicy r = retry;
  r.max_attempts = max_retries;
  Status s = r.validate();
  if (!s.ok()) return Error::bad_input("retry_" + s.error().message);
  return Status::success();
}

std::vector<ConfigKey> retry_config_keys(const RetryPolicy& d, std::string_view window) {
  return {
      {"retry_delay_initial", ConfigType::duration, format_duration(d.delay_initial),
       "backoff before the second attempt", 0},
      {"retry_delay_max", ConfigType::duration, format_duration(d.delay_max), "backoff cap", 0},
      {"retry_jitter", ConfigType::ratio, d.jitter.to_string(), "the delay is drawn from [base x (1 - jitter), base]"},
      {"retry_window", ConfigType::duration, format_duration(d.elapsed_max), std::string(window) + " (0 = unbounded)",
       0},
  };
}

void read_retry_config(const Config& c, RetryPolicy& r) {
  r.delay_initial = c.duration("retry_delay_initial");
  r.delay_max = c.duration("retry_delay_max");
  r.jitter = c.ratio("retry_jitter");
  r.elapsed_max = c.duration("retry_window");
}

std::vector<ConfigKey> processor_config_keys(const ProcessorConfig& d) {
  std::vector<ConfigKey> keys = {
      {"flush_queue_size", ConfigType::integer, d.flush_queue_size, "records per batch before it is sent", 1, 100000},
      {"flush_interval", ConfigType::duration, format_duration(d.flush_interval),
       "a partial batch is sent this long after its first record", 1},
      {"max_retries", ConfigType::integer, d.max_retries,
       "total attempts per batch, and per record sent alone (the peer's MaxRetries)", 1, 1000},
  };
  std::vector<ConfigKey> retry = retry_config_keys(d.retry, "no attempt starts later than this after a record's first");
  keys.insert(keys.end(), retry.begin(), retry.end());
  keys.insert(keys.end(), {
      {"send_individual", ConfigType::boolean, d.send_individual,
       "send records one by one after a partial success or a 413"},
      {"individual_concurrency", ConfigType::integer, d.individual_concurrency,
       "concurrent single-record sends per batch", 1, 100},
      {"max_buffer_size", ConfigType::integer, d.max_buffer_size, "records buffered before producers wait", 1,
       10'000'000},
      {"async", ConfigType::boolean, d.async, "process batches concurrently"},
      {"max_async_requests", ConfigType::integer, d.max_async_requests, "batches in flight at once", 1, 10000},
      {"split_on_413", ConfigType::boolean, d.split_on_413, "halve a 413 batch before sending records alone"},
  });
  return keys;
}

Result<ProcessorConfig> processor_config_from(const Config& c) {
  ProcessorConfig p;
  p.flush_queue_size = static_cast<int>(c.integer("flush_queue_size"));
  p.flush_interval = c.duration("flush_interval");
  p.max_retries = static_cast<int>(c.integer("max_retries"));
  read_retry_config(c, p.retry);
  p.retry.max_attempts = p.max_retries;
  p.send_individual = c.boolean("send_individual");
  p.individual_concurrency = static_cast<int>(c.integer("individual_concurrency"));
  p.max_buffer_size = static_cast<int>(c.integer("max_buffer_size"));
  p.async = c.boolean("async");
  p.max_async_requests = static_cast<int>(c.integer("max_async_requests"));
  p.split_on_413 = c.boolean("split_on_413");
  Status s = p.validate();
  if (!s.ok()) return s.error();
  return p;
}

std::vector<ConfigKey> batch_schema(std::vector<ConfigKey> own, const ProcessorConfig& defaults) {
  for (auto& k : processor_config_keys(defaults)) own.push_back(std::move(k));
  return own;
}

void add_stats(ProcessorStats& into, const ProcessorStats& x) {
  into.batches += x.batches;
  into.singles += x.singles;
  into.splits += x.splits;
  into.retry_after_waits += x.retry_after_waits;
  into.batch_retries += x.batch_retries;
  into.in_flight_max = std::max(into.in_flight_max, x.in_flight_max);
  into.buffered_max = std::max(into.buffered_max, x.buffered_max);
}

Processor::Processor(Loop& loop, BatchHandler& handler, ProcessorConfig config, JobStore& jobs)
    : loop_(loop),
      handler_(handler),
      config_(std::move(config)),
      limits_(handler.limits()),
      jobs_(jobs),
      rng_(loop.rng().fork()),
      idle_(loop) {
  DS_ASSERT(config_.validate().ok());
  config_.retry.max_attempts = config_.max_retries;
  async_slots_ = std::make_unique<Semaphore>(loop, config_.max_async_requests);
  scope_ = std::make_unique<Scope>(loop);
}

Processor::~Processor() {
  scope_.reset();  // cancels every task before the state they use goes away
}

void Processor::start() {
  if (running_) return;
  buffer_ = std::make_unique<BoundedQueue<Message>>(loop_, static_cast<std::size_t>(config_.max_buffer_size));
  running_ = true;
  ++active_;
  scope_->spawn(listen(buffer_.get()));
}

std::int64_t Processor::request_bytes(std::int64_t items, std::int64_t item_bytes) const {
  return limits_.envelope_bytes + item_bytes + (items > 0 ? (items - 1) * limits_.separator_bytes : 0);
}

Task<void> Processor::add(Message message) {
  // (No for(;;) whose end is unreachable: GCC 12 miscompiles that coroutine
  // shape into an illegal instruction. The project builds with clang; the shape
  // is kept so GCC users are not bitten.)
  bool queued = false;
  while (!queued) {
    if (!running_) start();
    if (!buffer_->closed()) queued = co_await buffer_->push_from(message);
    if (queued) {
      stats_.buffered_max = std::max<std::uint64_t>(stats_.buffered_max, buffer_->size());
    } else {
      // Stopping: wait for the stop to finish, then start again.
      while (running_) co_await idle_.wait();
    }
  }
}

Task<void> Processor::stop() {
  if (!running_) co_return;
  buffer_->close();
  while (active_ > 0) co_await idle_.wait();
  running_ = false;
  idle_.notify_all();
}

bool Processor::past_window(const Item& it) const {
  const Duration window = config_.retry.elapsed_max;
  return it.started && window.count() > 0 && loop_.now() - it.first > window;
}

std::string Processor::window_reason() const {
  return "retry window exhausted: " + format_duration(config_.retry.elapsed_max) +
         " passed since its first attempt before it could be sent again";
}

void Processor::finish(const Item& it, JobState state, std::string reason, bool unknown, ReasonKind kind) {
  const bool hidden = state != JobState::succeeded && unknown;
  jobs_.finish(it.m.id,
               JobOutcome{state, std::move(reason), hidden, state == JobState::succeeded && unknown,
                          state == JobState::succeeded ? ReasonKind::none
                          : hidden                     ? ReasonKind::unknown_outcome
                                                       : kind},
               loop_.now());
}

Task<void> Processor::listen(BoundedQueue<Message>* buffer) {
  const std::int64_t cap = std::min<std::int64_t>(config_.flush_queue_size, limits_.records_max);
  Items batch;
  std::int64_t bytes = 0;
  Time first{};
  auto reset = [&] {
    batch = Items();
    bytes = 0;
  };
  for (;;) {
    std::optional<Message> m;
    if (batch.empty()) {
      m = co_await buffer->pop();
    } else {
      bool timed_out = false;
      m = co_await buffer->pop_until(first + config_.flush_interval, &timed_out);
      if (!m && timed_out) {
        co_await flush(std::move(batch));
        reset();
        continue;
      }
    }
    if (!m) break;  // closed and drained
    const auto size = static_cast<std::int64_t>(m->body.size());
    if (request_bytes(1, size) > limits_.bytes_max) {
      Item alone{std::move(*m)};
      finish(alone, JobState::failed,
             "record too large: " + std::to_string(size) + " bytes exceeds the request limit of " +
                 std::to_string(limits_.bytes_max) + " bytes",
             false, ReasonKind::too_large);
      continue;
    }
    if (!batch.empty() && (static_cast<std::int64_t>(batch.size()) + 1 > cap ||
                           request_bytes(static_cast<std::int64_t>(batch.size()) + 1, bytes + size) > limits_.bytes_max)) {
      co_await flush(std::move(batch));
      reset();
    }
    if (batch.empty()) first = loop_.now();
    bytes += size;
    batch.push_back(Item{std::move(*m)});
    batch.back().queued = loop_.now();
    if (static_cast<std::int64_t>(batch.size()) >= cap) {
      co_await flush(std::move(batch));
      reset();
    }
  }
  if (!batch.empty()) co_await flush(std::move(batch));
  --active_;
  idle_.notify_all();
}

Task<void> Processor::flush(Items batch) {
  for (auto& it : batch) it.flushed = loop_.now();
  if (!config_.async) {
    co_await process(std::move(batch));
    co_return;
  }
  Semaphore::Permit permit = co_await async_slots_->acquire();
  ++active_;
  scope_->spawn([](Processor* self, Items b, Semaphore::Permit p) -> Task<void> {
    co_await self->process(std::move(b));
    p.release();
    --self->active_;
    self->idle_.notify_all();
  }(this, std::move(batch), std::move(permit)));
}

Task<void> Processor::gate() {
  while (loop_.now() < not_before_) co_await loop_.sleep_to(not_before_);
}

void Processor::note_retry_after(const std::optional<Duration>& d) {
  if (!d) return;
  Time until = loop_.now() + *d;
  if (until > not_before_) {
    not_before_ = until;
    emit(loop_.trace(), loop_.now(), ev::RetryAfterHold{handler_.name(), *d});
  }
}

Task<void> Processor::process(Items pending) {
  int attempt = 0;
  while (!pending.empty()) {
    const Time ready = loop_.now();
    co_await gate();
    // No attempt starts past a record's retry window (C6): a hold, a split or
    // a backoff may have taken it there.
    {
      Items within;
      for (auto& it : pending) {
        if (past_window(it)) {
          finish(it, JobState::aborted, window_reason(), it.unknown, ReasonKind::timeout);
        } else {
          within.push_back(std::move(it));
        }
      }
      pending = std::move(within);
      if (pending.empty()) co_return;
    }
    for (auto& it : pending) {
      if (!it.started) {  // the window counts from a record's first attempt
        it.started = true;
        it.first = loop_.now();
      }
    }
    const Time sent = loop_.now();
    ++attempt;
    std::vector<const Message*> view;
    std::vector<JobId> ids;
    view.reserve(pending.size());
    ids.reserve(pending.size());
    Time oldest = pending.front().queued, flushed = pending.front().flushed;
    for (auto& it : pending) {
      view.push_back(&it.m);
      ids.push_back(it.m.id);
      oldest = std::min(oldest, it.queued);
      flushed = std::max(flushed, it.flushed);
      jobs_.attempt(it.m.id);
    }
    ++in_flight_;
    stats_.in_flight_max = std::max(stats_.in_flight_max, in_flight_);
    ++stats_.batches;
    // Paired assertions at the handler boundary: what it is handed is a
    // non-empty batch within the declared limits...
    DS_ASSERT(!view.empty() && static_cast<std::int64_t>(view.size()) <= limits_.records_max);
    BatchResult r = co_await handler_.process_batch(view);
    // ...and every id its answer names belongs to that batch (one that does not
    // is counted in the trace, where A1 fails it, never silently ignored).
    std::int64_t foreign = 0;
    {
      std::vector<JobId> sorted(ids);
      std::sort(sorted.begin(), sorted.end());
      for (const auto& mr : r.results) foreign += std::binary_search(sorted.begin(), sorted.end(), mr.id) ? 0 : 1;
    }
    --in_flight_;
    note_retry_after(r.retry_after);
    {
      // What the conformance checkers read (B2, C1-C4, C6): the jobs sent,
      // when (after any Retry-After hold), the answer and how it was classified.
      ev::BatchSent e;
      e.handler = handler_.name();
      e.records = static_cast<std::int64_t>(pending.size());
      e.attempt = attempt;
      e.status = batch_status_name(r.status);
      e.ids.ids = std::move(ids);
      e.sent = to_ns(sent);
      e.held = (sent - ready).count();
      e.http = r.http_status;
      if (attempt == 1) {
        e.oldest = to_ns(oldest);
        e.flushed = to_ns(flushed);
      }
      if (r.retry_after) e.retry_after = r.retry_after->count();
      e.too_large = r.too_large;
      e.foreign = foreign;
      if (!r.api_code.empty()) e.code = r.api_code;
      emit(loop_.trace(), loop_.now(), e);
    }

    std::map<JobId, const MessageResult*> by_id;
    for (const auto& mr : r.results) by_id.emplace(mr.id, &mr);
    auto reason_of = [&](JobId id, const std::string& fallback) -> std::string {
      auto f = by_id.find(id);
      return f != by_id.end() && !f->second->reason.empty() ? f->second->reason : fallback;
    };
    // A message's own kind, else the batch's (or what its status implies).
    const ReasonKind batch_kind = kind_of(r.kind, r.http_status);
    auto kind_for = [&](JobId id) {
      auto f = by_id.find(id);
      if (f != by_id.end() && f->second->kind != ReasonKind::none) return f->second->kind;
      return batch_kind;
    };

    switch (r.status) {
      case BatchStatus::success:
        for (auto& it : pending) finish(it, JobState::succeeded, "", it.unknown);
        co_return;
      case BatchStatus::cannot_retry:
        for (auto& it : pending)
          finish(it, JobState::failed, reason_of(it.m.id, r.reason), it.unknown, kind_for(it.m.id));
        co_return;
      case BatchStatus::partial_success: {
        Items again;
        for (auto& it : pending) {
          auto f = by_id.find(it.m.id);
          if (f == by_id.end()) {
            again.push_back(std::move(it));  // not mentioned: retried, never assumed delivered
          } else if (f->second->verdict == Verdict::ok) {
            finish(it, JobState::succeeded, "", it.unknown);
          } else if (f->second->verdict == Verdict::fail) {
            finish(it, JobState::failed, f->second->reason.empty() ? r.reason : f->second->reason, it.unknown,
                   kind_for(it.m.id));
          } else {
            again.push_back(std::move(it));
          }
        }
        if (again.empty()) co_return;
        if (config_.send_individual) {
          co_await individually(std::move(again));
          co_return;
        }
        pending = std::move(again);
        break;  // retried as a smaller batch below
      }
      case BatchStatus::retry_batch: {
        Items again;
        for (auto& it : pending) {
          auto f = by_id.find(it.m.id);
          if (f != by_id.end() && f->second->verdict == Verdict::fail) {
            finish(it, JobState::failed, f->second->reason, it.unknown, kind_for(it.m.id));
          } else {
            it.unknown |= r.maybe_applied;
            again.push_back(std::move(it));
          }
        }
        pending = std::move(again);
        break;
      }
      case BatchStatus::retry_individual: {
        for (auto& it : pending) it.unknown |= r.maybe_applied;
        if (r.too_large && pending.size() == 1) {
          finish(pending[0], JobState::failed, "too large alone: " + r.reason, pending[0].unknown,
                 ReasonKind::too_large);
          co_return;
        }
        if (r.too_large && config_.split_on_413) {
          ++stats_.splits;
          emit(loop_.trace(), loop_.now(), ev::Split{handler_.name(), static_cast<std::int64_t>(pending.size())});
          auto mid = pending.begin() + static_cast<std::ptrdiff_t>(pending.size() / 2);
          Items left(std::make_move_iterator(pending.begin()), std::make_move_iterator(mid));
          Items right(std::make_move_iterator(mid), std::make_move_iterator(pending.end()));
          co_await process(std::move(left));
          co_await process(std::move(right));
          co_return;
        }
        if (config_.send_individual) {
          co_await individually(std::move(pending));
          co_return;
        }
        for (auto& it : pending) {
          finish(it, JobState::aborted, r.reason + " (the batch must be sent record by record; send_individual is off)",
                 it.unknown, batch_kind);
        }
        co_return;
      }
    }
    if (pending.empty()) co_return;
    // retry_batch, or partial_success without send_individual: back off and try again.
    Time earliest = pending.front().first;
    for (const auto& it : pending) earliest = std::min(earliest, it.first);
    RetryDecision d = config_.retry.next(attempt, loop_.now() - earliest, r.retry_after, rng_);
    if (!d.retry) {
      // The last cause per job: its own result's reason (a partial success
      // that asked for it again), else the batch's.
      for (auto& it : pending)
        finish(it, JobState::aborted, d.reason + ": " + reason_of(it.m.id, r.reason), it.unknown, kind_for(it.m.id));
      co_return;
    }
    ++stats_.batch_retries;
    if (r.retry_after) ++stats_.retry_after_waits;
    co_await loop_.sleep(d.delay);
  }
}

Task<void> Processor::individually(Items items) {
  if (items.empty()) co_return;
  Semaphore slots(loop_, config_.individual_concurrency);
  std::size_t remaining = items.size();
  Notify done(loop_);
  Scope scope(loop_);
  for (auto& it : items) {
    Semaphore::Permit permit = co_await slots.acquire();
    scope.spawn([](Processor* self, Item item, Semaphore::Permit p, std::size_t* left, Notify* d) -> Task<void> {
      co_await self->send_one(std::move(item));
      p.release();
      if (--*left == 0) d->notify_all();
    }(this, std::move(it), std::move(permit), &remaining, &done));
  }
  while (remaining > 0) co_await done.wait();
}

Task<void> Processor::send_one(Item item) {
  int attempt = 0;
  bool done = false;  // not for(;;): see add()
  while (!done) {
    const Time ready = loop_.now();
    co_await gate();
    if (past_window(item)) {
      finish(item, JobState::aborted, window_reason() + " alone", item.unknown, ReasonKind::timeout);
      co_return;
    }
    if (!item.started) {
      item.started = true;
      item.first = loop_.now();
    }
    const Time sent = loop_.now();
    ++attempt;
    jobs_.attempt(item.m.id);
    ++in_flight_;
    stats_.in_flight_max = std::max(stats_.in_flight_max, in_flight_);
    ++stats_.singles;
    OneResult r = co_await handler_.process_one(item.m);
    --in_flight_;
    note_retry_after(r.retry_after);
    {
      ev::OneSent e;
      e.handler = handler_.name();
      e.id = static_cast<std::int64_t>(item.m.id);
      e.attempt = attempt;
      e.verdict = r.verdict == Verdict::ok ? "ok" : r.verdict == Verdict::retry ? "retry" : "fail";
      e.sent = to_ns(sent);
      e.held = (sent - ready).count();
      e.http = r.http_status;
      if (r.retry_after) e.retry_after = r.retry_after->count();
      e.too_large = r.too_large;
      if (!r.api_code.empty()) e.code = r.api_code;
      emit(loop_.trace(), loop_.now(), e);
    }
    item.unknown |= r.maybe_applied;
    done = true;
    if (r.verdict == Verdict::ok) {
      finish(item, JobState::succeeded, "", item.unknown);
    } else if (r.too_large) {
      finish(item, JobState::failed, "too large alone: " + r.reason, item.unknown, ReasonKind::too_large);
    } else if (r.verdict == Verdict::fail) {
      finish(item, JobState::failed, r.reason, item.unknown, kind_of(r.kind, r.http_status));
    } else {
      RetryDecision d = config_.retry.next(attempt, loop_.now() - item.first, r.retry_after, rng_);
      if (!d.retry) {
        finish(item, JobState::aborted, d.reason + ": " + r.reason, item.unknown, kind_of(r.kind, r.http_status));
      } else {
        if (r.retry_after) ++stats_.retry_after_waits;
        co_await loop_.sleep(d.delay);
        done = false;
      }
    }
  }
}

}  // namespace destsim
