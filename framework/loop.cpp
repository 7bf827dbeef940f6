#include "framework/loop.h"

#include <algorithm>
#include <string>

namespace destsim {

void SimClock::wait() {
  // Nothing can wake a virtual clock: the loop must never wait on one.
  DS_ASSERT(!"SimClock::wait: waiting for an external event in virtual time");
}

// ---------------------------------------------------------------------------
// Scope

struct Scope::Root {
  struct promise_type {
    Scope* scope;
    std::uint64_t id;
    TimerId start = 0;

    promise_type(Task<void>&, Scope* s, std::uint64_t i) : scope(s), id(i) {}
    ~promise_type() {
      if (start) scope->loop_.cancel(start);
      scope->roots_.erase(id);
    }
    Root get_return_object() { return Root{std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { scope->loop_.report_failure(std::current_exception()); }
  };
  std::coroutine_handle<promise_type> handle;
};

namespace {
Scope::Root run_root(Task<void> task, Scope* /*scope*/, std::uint64_t /*id*/) {
  co_await std::move(task);
}
}  // namespace

void Scope::spawn(Task<void> task) {
  DS_ASSERT(task.valid());
  std::uint64_t id = next_id_++;
  Root root = run_root(std::move(task), this, id);
  roots_.emplace(id, root.handle);
  root.handle.promise().start = loop_.resume_soon(root.handle);
}

void Scope::cancel() {
  while (!roots_.empty()) {
    auto it = roots_.begin();
    std::coroutine_handle<> h = it->second;
    roots_.erase(it);
    h.destroy();  // the promise destructor erases nothing more and cancels its start event
  }
}

// ---------------------------------------------------------------------------
// Loop

Loop::Loop(Clock& clock, LoopOptions options) : clock_(clock), options_(options), rng_(options.seed) {
  root_ = new Scope(*this);
}

Loop::~Loop() {
  delete root_;  // destroys every coroutine still owned by the loop
  root_ = nullptr;
}

// A 4-ary min-heap on (time, seq): shallower than a binary heap, so fewer cache
// misses per push/pop with many timers pending. Ordering is total (seq is
// unique), so the event order does not depend on the heap's shape.
void Loop::heap_push(Entry e) {
  std::size_t i = heap_.size();
  heap_.push_back(e);
  while (i > 0) {
    std::size_t parent = (i - 1) / 4;
    if (!EntryLater{}(heap_[parent], e)) break;
    heap_[i] = heap_[parent];
    i = parent;
  }
  heap_[i] = e;
}

void Loop::heap_pop() {
  DS_ASSERT(!heap_.empty());
  Entry last = heap_.back();
  heap_.pop_back();
  const std::size_t n = heap_.size();
  if (n == 0) return;
  std::size_t i = 0;
  for (;;) {
    std::size_t first = 4 * i + 1;
    if (first >= n) break;
    std::size_t best = first;
    const std::size_t end = std::min(first + 4, n);
    for (std::size_t c = first + 1; c < end; ++c)
      if (EntryLater{}(heap_[best], heap_[c])) best = c;
    if (!EntryLater{}(last, heap_[best])) break;
    heap_[i] = heap_[best];
    i = best;
  }
  heap_[i] = last;
}

TimerId Loop::schedule(Time t, std::coroutine_handle<> h, std::function<void()> fn) {
  std::uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  Node& n = nodes_[slot];
  n.handle = h;
  n.fn = std::move(fn);
  n.live = true;
  heap_push(Entry{to_ns(t), seq_++, slot, n.gen});
  return (static_cast<std::uint64_t>(slot) << 32 | n.gen) + 1;
}

TimerId Loop::call_at(Time t, std::function<void()> fn) { return schedule(t, {}, std::move(fn)); }

TimerId Loop::resume_at(Time t, std::coroutine_handle<> h) { return schedule(t, h, nullptr); }

void Loop::cancel(TimerId id) {
  if (id == 0) return;
  --id;
  std::uint32_t slot = static_cast<std::uint32_t>(id >> 32);
  std::uint32_t gen = static_cast<std::uint32_t>(id);
  if (slot >= nodes_.size()) return;
  Node& n = nodes_[slot];
  if (!n.live || n.gen != gen) return;
  n.live = false;
  n.handle = {};
  n.fn = nullptr;
  ++n.gen;
  free_.push_back(slot);
}

void Loop::spawn(Task<void> task) { root_->spawn(std::move(task)); }

void Loop::report_failure(std::exception_ptr e) {
  if (!failure_) failure_ = e;
}

void Loop::post_external(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(ext_mu_);  // determinism-ok: real-mode completions
    ext_.push_back(std::move(fn));
    ext_posted_.store(true, std::memory_order_release);
  }
  clock_.wake();
}

void Loop::begin_external() { ++ext_pending_; }

void Loop::end_external() {
  DS_ASSERT(ext_pending_ > 0);
  --ext_pending_;
}

bool Loop::drain_external() {
  if (!ext_posted_.load(std::memory_order_acquire)) return false;
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(ext_mu_);  // determinism-ok: real-mode completions
    ext_posted_.store(false, std::memory_order_relaxed);
    if (ext_.empty()) return false;
    batch.swap(ext_);
  }
  for (auto& fn : batch) call_at(now(), std::move(fn));
  return true;
}

bool Loop::top_live() {
  while (!heap_.empty()) {
    const Entry& e = heap_.front();
    const Node& n = nodes_[e.slot];
    if (n.live && n.gen == e.gen) return true;
    heap_pop();
  }
  return false;
}

Status Loop::run_until_idle() { return run(Time::max(), true); }

Status Loop::run_until_idle_or(Time deadline) { return run(deadline, true); }

Status Loop::run_until(Time t) { return run(t, false); }

bool Loop::busy() { return top_live() || ext_pending_ > 0; }

Status Loop::run(Time deadline, bool until_idle) {
  std::uint64_t budget = options_.max_steps;
  std::uint64_t ran = 0;
  for (;;) {
    if (failure_) {
      std::exception_ptr e = failure_;
      failure_ = nullptr;
      std::string what = "unknown exception";
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        what = ex.what();
      } catch (...) {
      }
      return Error::internal("a task failed at t=" + format_duration(now().time_since_epoch()) + ": " + what);
    }
    drain_external();
    if (!top_live()) {
      if (ext_pending_ > 0) {
        if (clock_.is_virtual()) {
          return Error::internal("waiting for an external operation on a virtual clock");
        }
        if (until_idle) {
          clock_.wait();
        } else {
          clock_.wait_until(deadline);  // run_until keeps its deadline with operations in flight
          if (clock_.now() >= deadline) return Status::success();
        }
        continue;
      }
      if (!until_idle && deadline > now()) clock_.wait_until(deadline);
      return Status::success();
    }
    Entry e = heap_.front();
    Time due = from_ns(e.t);
    if (due > deadline) {
      if (until_idle) return Status::success();  // idle or not: the caller's bound (busy() tells)
      clock_.wait_until(deadline);
      if (clock_.now() < deadline) continue;  // woken early by an external completion
      return Status::success();
    }
    if (due > now()) {
      clock_.wait_until(due);
      if (clock_.now() < due) continue;  // woken early
    }
    heap_pop();
    Node& n = nodes_[e.slot];
    std::coroutine_handle<> h = n.handle;
    std::function<void()> fn = std::move(n.fn);
    n.live = false;
    n.handle = {};
    n.fn = nullptr;
    ++n.gen;
    free_.push_back(e.slot);
    ++steps_;
    if (++ran > budget) {
      return Error{ErrorCode::step_bound, "step bound of " + std::to_string(budget) +
                                              " events exceeded at t=" + format_duration(now().time_since_epoch())};
    }
    if (h) {
      h.resume();
    } else {
      try {
        fn();
      } catch (...) {
        report_failure(std::current_exception());
      }
    }
  }
}

}  // namespace destsim
