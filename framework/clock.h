// clock.h — where the loop's time comes from.
//
// `SimClock` is virtual time: waiting until t simply makes t the present.
// `RealClock` (real/real_clock.h) maps wall time onto the same `Time` type and
// really waits. The loop and all framework code run unchanged on either.
#pragma once

#include <cstdint>

#include "framework/time.h"

namespace destsim {

class Clock {
 public:
  virtual ~Clock() = default;
  /// The present, in loop time.
  virtual Time now() const = 0;
  /// Returns when now() >= t or when wake() was called (real clocks only).
  virtual void wait_until(Time t) = 0;
  /// Returns when wake() was called (real clocks only; a sim clock has no one to wake it).
  virtual void wait() = 0;
  /// Wakes a pending wait (thread-safe).
  virtual void wake() = 0;
  virtual bool is_virtual() const = 0;
  /// Unix milliseconds at loop time zero: the calendar anchor for path templates,
  /// HTTP dates and "daily quota" resets.
  virtual std::int64_t unix_ms_at_zero() const = 0;

  /// Unix milliseconds at loop time t.
  std::int64_t unix_ms(Time t) const {
    return unix_ms_at_zero() + std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  }
};

/// Virtual time. Starts at loop time zero, which corresponds to `unix_ms_at_zero`
/// (default 2024-01-01T00:00:00Z) so calendar output is reproducible.
class SimClock final : public Clock {
 public:
  static constexpr std::int64_t kDefaultEpochUnixMs = 1'704'067'200'000;  // 2024-01-01T00:00:00Z
  explicit SimClock(std::int64_t unix_ms_at_zero = kDefaultEpochUnixMs) : epoch_ms_(unix_ms_at_zero) {}

  Time now() const override { return now_; }
  void wait_until(Time t) override {
    if (t > now_) now_ = t;
  }
  void wait() override;
  void wake() override {}
  bool is_virtual() const override { return true; }
  std::int64_t unix_ms_at_zero() const override { return epoch_ms_; }

 private:
  Time now_ = kTimeZero;
  std::int64_t epoch_ms_;
};

}  // namespace destsim
