// real_clock.h — wall time for real mode, on the loop's own `Time` type.
//
// `RealClock` maps std::chrono::steady_clock onto loop time (loop time zero is
// the moment the clock was constructed) and really waits. Waits end early when
// another thread calls `wake()` — the loop's `post_external` does, so a
// completion from an HTTP worker thread is never left waiting for a timer. The
// woken flag is sticky: a wake() that lands before the wait starts is not lost.
// It lives in framework/real/, the real-I/O folder the determinism lint
// exempts: it reads the wall clock and blocks.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "framework/clock.h"

namespace destsim {

class RealClock final : public Clock {
 public:
  /// Loop time zero is now; `unix_ms_at_zero()` is the calendar time now.
  RealClock();
  RealClock(const RealClock&) = delete;
  RealClock& operator=(const RealClock&) = delete;

  /// Steady time elapsed since construction.
  Time now() const override;
  /// Blocks until now() >= t or until woken (the wake is consumed).
  void wait_until(Time t) override;
  /// Blocks until woken (the wake is consumed).
  void wait() override;
  /// Thread-safe: ends the current wait, or the next one if none is in progress.
  void wake() override;
  bool is_virtual() const override { return false; }
  std::int64_t unix_ms_at_zero() const override { return unix_ms_at_zero_; }

 private:
  using Steady = std::chrono::steady_clock;  // determinism-ok: RealClock is the wall clock of real mode

  Steady::time_point start_;  // loop time zero on the steady clock
  std::int64_t unix_ms_at_zero_;
  std::mutex mu_;                // determinism-ok: guards woken_ for wake() from other threads
  std::condition_variable cv_;   // determinism-ok: real waits end on wake()
  bool woken_ = false;           // guarded by mu_
};

}  // namespace destsim
