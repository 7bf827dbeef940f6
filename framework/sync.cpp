#include "framework/sync.h"

namespace destsim {

void Notify::enqueue(Waiter* w) {
  w->queued = true;
  w->prev = tail_;
  w->next = nullptr;
  if (tail_) tail_->next = w;
  else head_ = w;
  tail_ = w;
}

void Notify::unlink(Waiter* w) {
  if (w->prev) w->prev->next = w->next;
  else head_ = w->next;
  if (w->next) w->next->prev = w->prev;
  else tail_ = w->prev;
  w->prev = w->next = nullptr;
  w->queued = false;
}

void Notify::notify_one() {
  Waiter* w = head_;
  if (!w) return;
  unlink(w);
  w->notified = true;
  if (w->timer) {
    loop_.cancel(w->timer);
    w->timer = 0;
  }
  w->wake = loop_.resume_soon(w->h);
}

void Notify::notify_all() {
  while (head_) notify_one();
}

Task<Semaphore::Permit> Semaphore::acquire() {
  while (available_ <= 0) co_await notify_.wait();
  --available_;
  co_return Permit(this);
}

Semaphore::Permit Semaphore::try_acquire() {
  if (available_ <= 0) return Permit();
  --available_;
  return Permit(this);
}

void Semaphore::release_one() {
  ++available_;
  DS_ASSERT(available_ <= limit_);
  notify_.notify_one();
}

Task<void> when_all(Loop& loop, std::vector<Task<void>> tasks) {
  std::size_t remaining = tasks.size();
  Notify done(loop);
  Scope scope(loop);
  for (auto& t : tasks) {
    scope.spawn([](Task<void> task, std::size_t* left, Notify* d) -> Task<void> {
      co_await std::move(task);
      if (--*left == 0) d->notify_all();
    }(std::move(t), &remaining, &done));
  }
  while (remaining > 0) co_await done.wait();
}

Task<bool> with_timeout(Loop& loop, Duration d, Task<void> task) {
  bool finished = false;
  bool completed = false;
  Notify done(loop);
  {
    Scope scope(loop);
    scope.spawn([](Task<void> t, bool* fin, bool* ok, Notify* n) -> Task<void> {
      co_await std::move(t);
      *ok = true;
      *fin = true;
      n->notify_all();
    }(std::move(task), &finished, &completed, &done));
    scope.spawn([](Loop* l, Duration dd, bool* fin, Notify* n) -> Task<void> {
      co_await l->sleep(dd);
      *fin = true;
      n->notify_all();
    }(&loop, d, &finished, &done));
    while (!finished) co_await done.wait();
  }
  co_return completed;
}

}  // namespace destsim
