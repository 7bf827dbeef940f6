#include "framework/real/real_clock.h"

namespace destsim {

namespace {
// Waits longer than this are treated as "until woken": it keeps the steady
// deadline arithmetic clear of overflow (run_until(Time::max()) and the like).
constexpr Duration kWaitForever = std::chrono::hours(24 * 365 * 100);
}  // namespace

RealClock::RealClock()
    : start_(Steady::now()),  // loop time zero of a real run
      unix_ms_at_zero_(std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())  // determinism-ok: calendar anchor
                           .count()) {}

Time RealClock::now() const {
  auto elapsed = Steady::now() - start_;  // real mode reads the wall clock
  return kTimeZero + std::chrono::duration_cast<Duration>(elapsed);
}

void RealClock::wait_until(Time t) {
  Duration remaining = t - now();
  if (remaining >= kWaitForever) {
    wait();
    return;
  }
  auto since_zero = std::chrono::duration_cast<Steady::duration>(t.time_since_epoch());
  auto deadline = start_ + since_zero;  // steady deadline of a real wait
  std::unique_lock<std::mutex> lock(mu_);  // determinism-ok: real mode
  cv_.wait_until(lock, deadline, [this] { return woken_; });  // real wait, ends early on wake()
  woken_ = false;
}

void RealClock::wait() {
  std::unique_lock<std::mutex> lock(mu_);  // determinism-ok: real mode
  cv_.wait(lock, [this] { return woken_; });  // real wait for wake()
  woken_ = false;
}

void RealClock::wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);  // determinism-ok: wake from another thread
    woken_ = true;
  }
  cv_.notify_all();  // wakes the loop thread
}

}  // namespace destsim
