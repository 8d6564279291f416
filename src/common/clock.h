// Clock: the one source of wall time for storage and protocol code, so tests can
// inject time instead of sleeping. Thread-safe; Now* may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace syncached {

class Clock {
 public:
  virtual ~Clock() = default;
  // Unix time in seconds; what memcached calls current_time, at second granularity.
  virtual uint32_t NowSeconds() const = 0;
  // Unix time in milliseconds, for versions (hybrid logical clock).
  virtual uint64_t NowMillis() const = 0;
};

// Milliseconds of a monotonic clock (CLOCK_MONOTONIC): for timers and timeouts, which
// must not jump with the wall clock.
uint64_t SteadyMillis();

// Reads the system clock on each call (cheap with the vDSO).
class SystemClock final : public Clock {
 public:
  uint32_t NowSeconds() const override;
  uint64_t NowMillis() const override;
  static SystemClock* Get();
};

// The system clock plus an adjustable offset: memcached's `debugtime` test command
// moves the server's notion of now (enabled only with -o relaxed_privileges), and
// tests skew a node's clock with --test-clock-offset-ms.
class OffsetClock final : public Clock {
 public:
  explicit OffsetClock(const Clock* base) : base_(base) {}
  uint32_t NowSeconds() const override {
    return static_cast<uint32_t>(static_cast<int64_t>(base_->NowSeconds()) +
                                 offset_ms_.load() / 1000);
  }
  uint64_t NowMillis() const override {
    return static_cast<uint64_t>(static_cast<int64_t>(base_->NowMillis()) + offset_ms_.load());
  }
  void AdvanceSeconds(int64_t s) { offset_ms_ += s * 1000; }
  void AdvanceMillis(int64_t ms) { offset_ms_ += ms; }

 private:
  const Clock* base_;
  std::atomic<int64_t> offset_ms_{0};
};

// Test clock: moves only when told to.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(uint64_t millis = 1'700'000'000'000ull) : ms_(millis) {}
  uint32_t NowSeconds() const override { return static_cast<uint32_t>(ms_.load() / 1000); }
  uint64_t NowMillis() const override { return ms_.load(); }
  void Advance(uint64_t millis) { ms_ += millis; }
  void Set(uint64_t millis) { ms_ = millis; }

 private:
  std::atomic<uint64_t> ms_;
};

}  // namespace syncached
