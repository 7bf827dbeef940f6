// loop.h — the one event loop every task runs on.
//
// Events (timers and resumptions) run in (time, sequence) order: ties break
// first-in, first-out, so a run is a pure function of its inputs and seed. The
// loop owns the run's `Rng` and `Trace`. A step bound turns a runaway run into a
// reported error instead of a hang.
//
// Cancellation is structural: a `Scope` owns the coroutines spawned in it, and
// destroying or cancelling the scope destroys their frames. Every awaiter in this
// library unregisters itself when its frame is destroyed, so nothing is resumed
// after it is gone.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "framework/clock.h"
#include "framework/result.h"
#include "framework/rng.h"
#include "framework/task.h"
#include "framework/trace.h"

namespace destsim {

/// Identifies a scheduled event; 0 is "none".
using TimerId = std::uint64_t;

struct LoopOptions {
  std::uint64_t seed = 1;
  /// Maximum events one run_* call may execute before it fails with step_bound.
  std::uint64_t max_steps = 200'000'000;
};

class Scope;

class Loop {
 public:
  Loop(Clock& clock, LoopOptions options = {});
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  Time now() const { return clock_.now(); }
  Clock& clock() { return clock_; }
  Rng& rng() { return rng_; }
  Trace& trace() { return trace_; }
  std::uint64_t seed() const { return options_.seed; }
  /// Events executed so far (all run_* calls).
  std::uint64_t steps() const { return steps_; }

  /// Runs `fn` at time t (or as soon as possible if t is past), after every event
  /// already scheduled for the same time.
  TimerId call_at(Time t, std::function<void()> fn);
  TimerId call_after(Duration d, std::function<void()> fn) { return call_at(now() + d, std::move(fn)); }
  /// Resumes `h` at time t.
  TimerId resume_at(Time t, std::coroutine_handle<> h);
  TimerId resume_soon(std::coroutine_handle<> h) { return resume_at(now(), h); }
  /// Cancels a scheduled event; a no-op for one that already ran or was cancelled.
  void cancel(TimerId id);

  /// Starts `task` on this loop, owned by the loop's root scope.
  void spawn(Task<void> task);
  /// The loop's root scope (destroyed with the loop).
  Scope& root_scope() { return *root_; }

  /// Runs until nothing is scheduled and no external operation is pending.
  Status run_until_idle();
  /// Runs every event due at or before t, then (virtual clocks) makes t the present.
  Status run_until(Time t);
  /// Runs until idle, or until the next event is due after `deadline` (the
  /// clock stays at the last event run; busy() then says work was left).
  Status run_until_idle_or(Time deadline);
  /// True while an event is scheduled or an external operation is pending.
  bool busy();
  Status run_for(Duration d) { return run_until(now() + d); }

  /// Awaitable: resumes the caller after d (d <= 0 still yields to due events).
  struct SleepAwaiter {
    Loop* loop;
    Time until;
    TimerId id = 0;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) { id = loop->resume_at(until, h); }
    void await_resume() noexcept { id = 0; }
    ~SleepAwaiter() {
      if (id) loop->cancel(id);
    }
  };
  SleepAwaiter sleep(Duration d) { return SleepAwaiter{this, now() + (d.count() > 0 ? d : Duration(0))}; }
  SleepAwaiter sleep_to(Time t) { return SleepAwaiter{this, t < now() ? now() : t}; }
  SleepAwaiter yield() { return SleepAwaiter{this, now()}; }

  // --- real mode: completions from other threads ---------------------------
  /// Thread-safe: runs `fn` on the loop thread as soon as possible.
  void post_external(std::function<void()> fn);
  /// Marks an operation in flight on another thread; run_until_idle waits for it.
  void begin_external();
  /// Ends one begin_external(); call from the posted completion.
  void end_external();

  /// Records an exception escaping a spawned task; the current run_* fails with it.
  void report_failure(std::exception_ptr e);

 private:
  struct Node {
    std::coroutine_handle<> handle;
    std::function<void()> fn;
    std::uint32_t gen = 0;
    bool live = false;
  };
  struct Entry {
    std::int64_t t;
    std::uint64_t seq;
    std::uint32_t slot;
    std::uint32_t gen;
  };
  struct EntryLater {
    bool operator()(const Entry& a, const Entry& b) const {
      return a.t != b.t ? a.t > b.t : a.seq > b.seq;
    }
  };

  TimerId schedule(Time t, std::coroutine_handle<> h, std::function<void()> fn);
  void heap_push(Entry e);
  void heap_pop();
  Status run(Time deadline, bool until_idle);
  bool drain_external();
  // Pops cancelled entries; true if a live entry is on top.
  bool top_live();

  Clock& clock_;
  LoopOptions options_;
  Rng rng_;
  Trace trace_;
  std::vector<Node> nodes_;
  std::vector<std::uint32_t> free_;
  std::vector<Entry> heap_;
  std::uint64_t seq_ = 0;
  std::uint64_t steps_ = 0;
  std::exception_ptr failure_;
  Scope* root_ = nullptr;

  std::mutex ext_mu_;                       // determinism-ok: real-mode completions only
  std::vector<std::function<void()>> ext_;  // guarded by ext_mu_
  // Whether ext_ may hold work: read without the lock at every step, so a
  // simulated run (which never posts) takes no lock. determinism-ok: real-mode completions only
  std::atomic<bool> ext_posted_{false};
  std::int64_t ext_pending_ = 0;            // loop thread only
};

/// Owns spawned coroutines. `cancel()` (and the destructor) destroys every one
/// still running; children spawned into a scope never outlive it.
class Scope {
 public:
  explicit Scope(Loop& loop) : loop_(loop) {}
  ~Scope() { cancel(); }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

  /// Starts `task` on the loop (at the current time, after already-due events).
  void spawn(Task<void> task);
  /// Destroys every coroutine of this scope that has not finished.
  void cancel();
  /// Coroutines of this scope still running.
  std::size_t live() const { return roots_.size(); }
  Loop& loop() { return loop_; }

  /// The coroutine type that owns a spawned task (an implementation detail).
  struct Root;

 private:
  Loop& loop_;
  std::uint64_t next_id_ = 0;
  std::map<std::uint64_t, std::coroutine_handle<>> roots_;  // by spawn order
};

}  // namespace destsim
