// How often each status key may be written: a burst, then one write per
// interval (a token bucket per key). A task that changes state a few times
// in a row (PENDING, CREATED, RUNNING) is written at once; one that flaps is
// written at most once per interval, with its latest state.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>

namespace berth::controlplane {

class WriteBudget {
 public:
  using Clock = std::chrono::steady_clock;
  WriteBudget(size_t burst, std::chrono::milliseconds interval)
      : burst_(static_cast<double>(burst)), interval_(interval) {}

  // Takes a write for `key` if it has one left at `now`.
  bool take(const std::string& key, Clock::time_point now);
  // When `key` has a write again (now, when it has one).
  Clock::time_point next(const std::string& key, Clock::time_point now) const;
  void forget(const std::string& key) { buckets_.erase(key); }

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point at;
  };
  double tokens_at(const Bucket& bucket, Clock::time_point now) const;

  double burst_;
  std::chrono::milliseconds interval_;
  std::map<std::string, Bucket> buckets_;
};

}  // namespace berth::controlplane
