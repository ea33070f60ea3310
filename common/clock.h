// Time as berth reads it, behind an interface so that tests can move it.
//
// Two clocks: the wall clock for what is recorded and shown (a task's
// createdAt, a container's stoppedAt, survive restarts), and the steady
// clock for deadlines kept only in memory (retries, the next health check,
// when the owner thread wakes), which an NTP step must not move.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace berth {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual int64_t wall_ms() const = 0;
  virtual std::chrono::steady_clock::time_point steady() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t wall_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::chrono::steady_clock::time_point steady() const override {
    return std::chrono::steady_clock::now();
  }
};

// A clock that moves only when told (tests).
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t wall_ms = 1'700'000'000'000) : wall_ms_(wall_ms) {}
  int64_t wall_ms() const override { return wall_ms_; }
  std::chrono::steady_clock::time_point steady() const override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(wall_ms_));
  }
  void advance(std::chrono::milliseconds by) { wall_ms_ += by.count(); }

 private:
  std::atomic<int64_t> wall_ms_;
};

}  // namespace berth
