// sync.h — coordination between tasks on one loop.
//
// `Notify` (a condition variable for coroutines), `Semaphore` (bounded
// concurrency), `BoundedQueue` (backpressure: a full queue makes the producer
// wait, nothing is dropped), `Completion` (a one-shot value another party sets),
// `when_all` and `with_timeout`. All resumptions go through the loop, in FIFO
// order, never inline — so ordering is deterministic and stacks stay shallow.
// Every awaiter unregisters itself if its coroutine is destroyed while waiting.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "framework/loop.h"

namespace destsim {

/// Waiters park until notified. Notifications are not stored: wait in a loop on
/// a condition (`while (!ready) co_await n.wait();`).
class Notify {
 public:
  explicit Notify(Loop& loop) : loop_(loop) {}
  Notify(const Notify&) = delete;
  Notify& operator=(const Notify&) = delete;
  ~Notify() { DS_ASSERT(head_ == nullptr); }

  /// Awaiter for wait()/wait_until(); await_resume() is true when notified,
  /// false when the deadline passed first.
  struct Waiter {
    Notify* n;
    std::optional<Time> deadline;
    std::coroutine_handle<> h;
    Waiter* prev = nullptr;
    Waiter* next = nullptr;
    TimerId wake = 0;    // scheduled resumption
    TimerId timer = 0;   // deadline timer
    bool queued = false;
    bool notified = false;
    bool resumed = false;

    Waiter(Notify* notify, std::optional<Time> d) : n(notify), deadline(d) {}
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;

    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> handle) {
      h = handle;
      n->enqueue(this);
      if (deadline) {
        timer = n->loop_.call_at(*deadline, [this] {
          timer = 0;
          if (queued) {
            n->unlink(this);
            wake = n->loop_.resume_soon(h);
          }
        });
      }
    }
    bool await_resume() noexcept {
      resumed = true;
      if (timer) n->loop_.cancel(timer);
      timer = 0;
      return notified;
    }
    ~Waiter() {
      if (queued) n->unlink(this);
      if (timer) n->loop_.cancel(timer);
      if (wake && !resumed) {
        n->loop_.cancel(wake);
        if (notified) n->notify_one();  // pass the notification on rather than lose it
      }
    }
  };

  Waiter wait() { return Waiter(this, std::nullopt); }
  Waiter wait_until(Time deadline) { return Waiter(this, deadline); }
  /// Wakes the longest-waiting waiter, if any.
  void notify_one();
  /// Wakes every waiter.
  void notify_all();
  bool has_waiters() const { return head_ != nullptr; }

 private:
  void enqueue(Waiter* w);
  void unlink(Waiter* w);
  Loop& loop_;
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
};

/// A counting semaphore. `co_await sem.acquire()` returns a Permit that releases
/// on destruction (or `release()`).
class Semaphore {
 public:
  Semaphore(Loop& loop, std::int64_t permits) : available_(permits), limit_(permits), notify_(loop) {
    DS_ASSERT(permits > 0);
  }

  class Permit {
   public:
    Permit() = default;
    explicit Permit(Semaphore* s) : s_(s) {}
    Permit(Permit&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    Permit& operator=(Permit&& o) noexcept {
      if (this != &o) {
        release();
        s_ = std::exchange(o.s_, nullptr);
      }
      return *this;
    }
    ~Permit() { release(); }
    void release() {
      if (s_) std::exchange(s_, nullptr)->release_one();
    }
    bool held() const { return s_ != nullptr; }

   private:
    Semaphore* s_ = nullptr;
  };

  Task<Permit> acquire();
  /// Non-blocking acquire; an empty Permit when none is available.
  Permit try_acquire();
  std::int64_t available() const { return available_; }
  std::int64_t in_use() const { return limit_ - available_; }
  std::int64_t limit() const { return limit_; }

 private:
  void release_one();
  std::int64_t available_;
  std::int64_t limit_;
  Notify notify_;
};

/// A FIFO of at most `capacity` items. push waits while full (backpressure);
/// pop waits while empty; after close(), pop drains what is left then returns
/// nullopt, and push returns false.
template <class T>
class BoundedQueue {
 public:
  BoundedQueue(Loop& loop, std::size_t capacity) : capacity_(capacity), not_full_(loop), not_empty_(loop) {
    DS_ASSERT(capacity > 0);
  }

  Task<bool> push(T item) {
    while (!closed_ && items_.size() >= capacity_) co_await not_full_.wait();
    if (closed_) co_return false;
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    co_return true;
  }
  /// Like push(), but moves from `item` only when it was queued: after a false
  /// (the queue closed while waiting) the caller still has it.
  Task<bool> push_from(T& item) {
    while (!closed_ && items_.size() >= capacity_) co_await not_full_.wait();
    if (closed_) co_return false;
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    co_return true;
  }
  /// Non-blocking push; false when full or closed.
  bool try_push(T item) {
    if (closed_ || items_.size() >= capacity_) return false;
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    return true;
  }
  Task<std::optional<T>> pop() {
    while (items_.empty() && !closed_) co_await not_empty_.wait();
    if (items_.empty()) co_return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    co_return std::optional<T>(std::move(item));
  }
  /// Like pop(), but gives up at `deadline`: nullopt then, with `*timed_out` set.
  Task<std::optional<T>> pop_until(Time deadline, bool* timed_out) {
    *timed_out = false;
    while (items_.empty() && !closed_) {
      if (!(co_await not_empty_.wait_until(deadline)) && items_.empty() && !closed_) {
        *timed_out = true;
        co_return std::nullopt;
      }
    }
    if (items_.empty()) co_return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    co_return std::optional<T>(std::move(item));
  }
  /// Non-blocking pop.
  std::optional<T> try_pop() {
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return item;
  }
  void close() {
    closed_ = true;
    not_full_.notify_all();
    not_empty_.notify_all();
  }
  std::size_t size() const { return items_.size(); }
  std::size_t capacity() const { return capacity_; }
  bool closed() const { return closed_; }
  bool full() const { return items_.size() >= capacity_; }

 private:
  std::size_t capacity_;
  std::deque<T> items_;
  bool closed_ = false;
  Notify not_full_;
  Notify not_empty_;
};

/// A one-shot value: one party awaits `wait()`, another calls `set()`. The state
/// is shared, so the setter may outlive the waiter (its value is then dropped).
template <class T>
class Completion {
  struct State {
    explicit State(Loop& l) : notify(l) {}
    std::optional<T> value;
    Notify notify;
  };

 public:
  explicit Completion(Loop& loop) : s_(std::make_shared<State>(loop)) {}

  bool ready() const { return s_->value.has_value(); }
  /// Sets the value (first set wins; later ones are ignored) and wakes the waiter.
  void set(T v) {
    if (s_->value) return;
    s_->value.emplace(std::move(v));
    s_->notify.notify_all();
  }
  /// Waits for the value and returns a copy-free move of it (call once).
  Task<T> wait() {
    auto s = s_;
    while (!s->value) co_await s->notify.wait();
    co_return std::move(*s->value);
  }

 private:
  std::shared_ptr<State> s_;
};

/// Runs every task concurrently on `loop`; returns their results in input order.
template <class T>
Task<std::vector<T>> when_all(Loop& loop, std::vector<Task<T>> tasks) {
  std::vector<std::optional<T>> slots(tasks.size());
  std::size_t remaining = tasks.size();
  Notify done(loop);
  {
    Scope scope(loop);
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      scope.spawn([](Task<T> t, std::optional<T>* slot, std::size_t* left, Notify* d) -> Task<void> {
        slot->emplace(co_await std::move(t));
        if (--*left == 0) d->notify_all();
      }(std::move(tasks[i]), &slots[i], &remaining, &done));
    }
    while (remaining > 0) co_await done.wait();
  }
  std::vector<T> out;
  out.reserve(slots.size());
  for (auto& s : slots) out.push_back(std::move(*s));
  co_return out;
}

/// Void form of when_all.
Task<void> when_all(Loop& loop, std::vector<Task<void>> tasks);

/// Runs `task` for at most `d`: its result, or nullopt if the time ran out first
/// (the task is then cancelled — its frame destroyed).
template <class T>
Task<std::optional<T>> with_timeout(Loop& loop, Duration d, Task<T> task) {
  std::optional<T> result;
  bool finished = false;
  Notify done(loop);
  {
    Scope scope(loop);
    scope.spawn([](Task<T> t, std::optional<T>* out, bool* fin, Notify* n) -> Task<void> {
      out->emplace(co_await std::move(t));
      *fin = true;
      n->notify_all();
    }(std::move(task), &result, &finished, &done));
    scope.spawn([](Loop* l, Duration dd, bool* fin, Notify* n) -> Task<void> {
      co_await l->sleep(dd);
      *fin = true;
      n->notify_all();
    }(&loop, d, &finished, &done));
    while (!finished) co_await done.wait();
  }
  co_return result;
}

/// Void form: true if the task finished within d.
Task<bool> with_timeout(Loop& loop, Duration d, Task<void> task);

}  // namespace destsim
