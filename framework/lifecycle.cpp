#include "framework/lifecycle.h"

#include "framework/trace_events.h"

#include <set>

namespace destsim {

Status Sync::validate(const std::vector<StreamSpec>& streams) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < streams.size(); ++i) {
    const StreamSpec& s = streams[i];
    const std::string where = "stream " + std::to_string(i) + (s.name.empty() ? "" : " (" + s.name + ")");
    if (s.name.empty()) return Error::bad_input(where + ": name: expected a non-empty string");
    if (!names.insert(s.name).second) return Error::bad_input(where + ": name: \"" + s.name + "\" is configured twice");
    if (s.mode != "append" && s.mode != "dedupe" && s.mode != "truncate")
      return Error::bad_input(where + ": mode: expected append, dedupe or truncate, got \"" + s.mode + "\"");
    if (s.mode == "dedupe" && s.primary_key.empty())
      return Error::bad_input(where + ": primary_key: dedupe needs a primary key");
    if (s.generation < 0) return Error::bad_input(where + ": generation: expected an integer >= 0");
  }
  return Status::success();
}

Sync::Sync(Loop& loop, SyncTarget& target, JobStore& jobs, std::vector<StreamSpec> streams)
    : loop_(loop), target_(target), jobs_(jobs), changed_(loop) {
  const auto stored = jobs_.checkpoints();
  for (auto& spec : streams) {
    auto s = std::make_unique<Stream>();
    s->spec = std::move(spec);
    auto it = stored.find(s->spec.name);
    if (it != stored.end()) {
      s->base = it->second.value("records", std::int64_t{0});
      s->base_seq = it->second.value("seq", std::int64_t{0});
    }
    streams_.push_back(std::move(s));
  }
  closers_ = std::make_unique<Scope>(loop_);
  jobs_.set_finish_observer([this](JobId id, JobState) { on_finish(id); });
}

Sync::~Sync() {
  jobs_.set_finish_observer(nullptr);
  closers_.reset();  // cancels closers before the streams they use go away
}

Sync::Stream* Sync::find(const std::string& name) {
  for (auto& s : streams_)
    if (s->spec.name == name) return s.get();
  return nullptr;
}

void Sync::on_finish(JobId id) {
  terminal_[id] = true;
  auto it = stream_of_.find(id);
  if (it != stream_of_.end()) advance(*it->second);
  changed_.notify_all();
}

// Moves the stream's terminal prefix forward and releases every checkpoint it
// now covers, in order (E2).
void Sync::advance(Stream& s) {
  while (s.terminal_prefix < s.ids.size() && terminal_.count(s.ids[s.terminal_prefix]) != 0) ++s.terminal_prefix;
  // A failed stream releases nothing more; a committing one waits for the
  // commit's answer (its jobs settle inside the commit, and a refused commit
  // must not have released a checkpoint over data it did not persist).
  if (s.failed || s.committing) return;
  const std::int64_t done = s.base + static_cast<std::int64_t>(s.terminal_prefix);
  std::size_t released = 0;
  while (released < s.pending.size() && s.pending[released].records <= done) {
    const Checkpoint& c = s.pending[released];
    jobs_.put_checkpoint(s.spec.name, {{"state", c.state}, {"records", c.records}, {"seq", c.seq}});
    outcome_.released.push_back(ReleasedState{s.spec.name, c.state, c.records, c.seq, loop_.now()});
    if (sink_) sink_(outcome_.released.back());
    emit(loop_.trace(), loop_.now(), ev::SyncState{s.spec.name, c.seq, c.records, c.state});
    ++released;
  }
  if (released > 0) s.pending.erase(s.pending.begin(), s.pending.begin() + static_cast<std::ptrdiff_t>(released));
}

void Sync::fail_stream(Stream& s, const std::string& reason) {
  if (s.failed || s.closed) return;
  s.failed = true;
  s.failure = reason;
  s.pending.clear();
  emit(loop_.trace(), loop_.now(), ev::SyncStreamFailed{s.spec.name, reason});
  if (!s.closing) closers_->spawn(close(&s, false));
}

void Sync::fail_sync(const std::string& reason) {
  if (failed_) return;  // the failure path runs once
  failed_ = true;
  outcome_.error = reason;
  emit(loop_.trace(), loop_.now(), ev::SyncFailure{reason});
  for (auto& s : streams_) fail_stream(*s, "the sync failed: " + reason);
}

Task<void> Sync::wait_terminal(Stream* s) {
  while (!s->failed && s->terminal_prefix < s->ids.size()) co_await changed_.wait();
}

Task<void> Sync::close(Stream* s, bool commit) {
  s->closing = true;
  ++closing_;
  if (commit) {
    Status st = Status::success();
    if (target_.stages()) {
      st = co_await target_.flush_stream(s->spec.name);
    } else {
      co_await wait_terminal(s);
    }
    if (s->failed) {
      commit = false;  // it failed while we waited
    } else if (!st.ok()) {
      s->failed = true;
      s->failure = "flush: " + st.error().message;
      commit = false;
    }
  }
  // A stream that never opened (the setup failed) has nothing to close.
  s->committing = commit;
  Status st = s->opened ? co_await target_.close_stream(s->spec.name, commit) : Status::success();
  s->committing = false;
  if (commit && !st.ok()) {
    s->failed = true;
    s->failure = "close: " + st.error().message;
    s->pending.clear();
    commit = false;
  }
  if (commit) {
    // The commit settled the stream's jobs: release what they cover.
    advance(*s);
  }
  s->closed = true;
  outcome_.streams[s->spec.name] = commit ? "committed" : "failed: " + s->failure;
  emit(loop_.trace(), loop_.now(),
       ev::SyncClose{s->spec.name, commit, s->base + static_cast<std::int64_t>(s->ids.size())});
  --closing_;
  changed_.notify_all();
}

Task<SyncOutcome> Sync::run(SyncSource next) {
  emit(loop_.trace(), loop_.now(), ev::SyncStart{static_cast<std::int64_t>(streams_.size())});
  std::vector<StreamSpec> specs;
  for (const auto& s : streams_) specs.push_back(s->spec);
  Status v = validate(specs);
  Status setup = v.ok() ? co_await target_.setup(specs) : v;
  emit(loop_.trace(), loop_.now(), ev::SyncSetup{setup.ok()});
  if (!setup.ok()) {
    fail_sync("setup: " + setup.error().message);
  } else {
    for (auto& s : streams_) {
      Status o = co_await target_.open_stream(s->spec);
      s->opened = true;
      emit(loop_.trace(), loop_.now(), ev::SyncOpen{s->spec.name, o.ok()});
      if (!o.ok()) fail_stream(*s, "open: " + o.error().message);
    }
  }

  // The input: records, checkpoints, ends and errors, in order.
  bool more = true;
  while (more) {
    std::optional<SyncMessage> m = co_await next();
    if (!m) {
      more = false;
      continue;
    }
    if (m->kind == SyncMessage::Kind::record) {
      Stream* s = find(m->record.stream);
      if (!s) {
        // A record for a stream the sync was not configured with: the sync
        // fails, and the record's job says why (nothing disappears).
        const std::string why = "record " + std::to_string(m->record.id) + " names unknown stream \"" +
                                m->record.stream + "\"";
        if (!jobs_.contains(m->record.id)) jobs_.add(m->record.id);
        if (!is_terminal(jobs_.outcome(m->record.id).state))
          jobs_.finish(m->record.id, JobOutcome{JobState::failed, why, false, false, ReasonKind::invalid_record},
                       loop_.now());
        fail_sync(why);
        continue;
      }
      if (++s->seen <= s->base) continue;  // persisted before the checkpoint a restart resumes after
      if (s->failed || s->ended) {
        const std::string why = s->failed ? "stream " + s->spec.name + " failed: " + s->failure
                                          : "record after the end of stream " + s->spec.name;
        if (!jobs_.contains(m->record.id)) jobs_.add(m->record.id);
        if (!is_terminal(jobs_.outcome(m->record.id).state))
          jobs_.finish(m->record.id, JobOutcome{JobState::failed, why, false, false, ReasonKind::stream_failed},
                       loop_.now());
        if (!s->failed) fail_stream(*s, why);
        continue;
      }
      const JobId id = m->record.id;
      s->ids.push_back(id);
      stream_of_[id] = s;
      if (s->first_record) {
        s->first_record = false;
        emit(loop_.trace(), loop_.now(), ev::SyncFirstRecord{s->spec.name, static_cast<std::int64_t>(id)});
      }
      co_await target_.deliver(std::move(m->record));
      // Already terminal (a restart re-offered a finished job, or it failed at once)?
      if (jobs_.contains(id) && is_terminal(jobs_.outcome(id).state)) terminal_[id] = true;
      advance(*s);
    } else if (m->kind == SyncMessage::Kind::state) {
      Stream* s = find(m->stream);
      if (!s) {
        fail_sync("state message for unknown stream \"" + m->stream + "\"");
        continue;
      }
      if (++s->seen_seq <= s->base_seq) continue;  // released before the restart
      if (s->failed) continue;
      s->pending.push_back(Checkpoint{s->seen_seq, s->seen, std::move(m->state)});
      advance(*s);
    } else if (m->kind == SyncMessage::Kind::end) {
      Stream* s = find(m->stream);
      if (!s) {
        fail_sync("end of unknown stream \"" + m->stream + "\"");
        continue;
      }
      if (s->ended) continue;
      s->ended = true;
      emit(loop_.trace(), loop_.now(), ev::SyncEnd{s->spec.name});
      if (!s->failed && !s->closing) closers_->spawn(close(s, true));
    } else {  // error
      if (m->stream.empty()) {
        fail_sync(m->error.empty() ? "an error in the input" : m->error);
      } else if (Stream* s = find(m->stream)) {
        fail_stream(*s, m->error.empty() ? "an error in the stream" : m->error);
      } else {
        fail_sync("error for unknown stream \"" + m->stream + "\": " + m->error);
      }
    }
  }
  // Input over: a stream without its end-of-stream fails.
  for (auto& s : streams_)
    if (!s->ended && !s->failed) fail_stream(*s, "the input ended before the end of stream " + s->spec.name);
  // Every stream closes (committed or failed), then every job settles.
  auto all_closed = [this] {
    for (const auto& s : streams_)
      if (!s->closed) return false;
    return true;
  };
  while (!all_closed()) co_await changed_.wait();
  co_await target_.drain();
  outcome_.ok = !failed_;
  for (const auto& s : streams_) outcome_.ok = outcome_.ok && !s->failed;
  co_await target_.teardown(outcome_.ok);
  emit(loop_.trace(), loop_.now(), ev::SyncTeardown{outcome_.ok});
  co_return outcome_;
}

}  // namespace destsim
