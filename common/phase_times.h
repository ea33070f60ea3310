// How long each named phase of one operation took, in the order they ran:
// a container's start is a spec, a snapshot, a container record, a task and
// its start, and the figures say which of them the time went to.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth {

class PhaseTimes {
 public:
  using Clock = std::chrono::steady_clock;

  PhaseTimes() : last_(Clock::now()) {}

  // The time since the previous mark (or the construction, or restart())
  // was `phase`'s.
  void mark(std::string_view phase) {
    auto now = Clock::now();
    phases_.emplace_back(std::string(phase), std::chrono::duration<double>(now - last_).count());
    last_ = now;
  }
  // What ran since the previous mark is no phase's.
  void restart() { last_ = Clock::now(); }

  // (phase, seconds), in the order marked.
  const std::vector<std::pair<std::string, double>>& phases() const { return phases_; }

 private:
  Clock::time_point last_;
  std::vector<std::pair<std::string, double>> phases_;
};

}  // namespace berth
