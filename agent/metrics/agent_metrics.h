// berthd's own counters and histograms, kept while it runs: how long task
// starts and image pulls take, and what health checks found. The engine
// and its resources record into it from their threads; /metrics renders it.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "agent/metrics/exposition.h"

namespace berth::metrics {

class AgentMetrics {
 public:
  // From a task's creation to its RUNNING, by network mode ("awsvpc", ...).
  void observe_task_start(std::string_view network_mode, double seconds);
  // One part of a task's set-up (berth_task_start_step_duration_seconds):
  // a step ("network", "cgroup", "image", "container", ...), a phase of one
  // ("container.snapshot", ...), the wait before a step ("queued") or the
  // report of its result to the engine ("report").
  void observe_start_step(std::string_view step, double seconds);
  // One image pull (or lookup of a present image) that ended: "ok" or "error".
  void observe_image_pull(std::string_view result, double seconds);
  // One health check run: passed or not.
  void count_health_check(bool passed);

  // The families berth_task_start_duration_seconds,
  // berth_task_start_step_duration_seconds, berth_image_pull_duration_seconds and
  // berth_health_checks_total.
  void render(Exposition& out) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, Histogram, std::less<>> task_start_;
  std::map<std::string, Histogram, std::less<>> image_pull_;
  std::map<std::string, Histogram, std::less<>> start_step_;
  uint64_t health_passed_ = 0;
  uint64_t health_failed_ = 0;
};

// The standard process_* families of the calling process (as Prometheus's
// client libraries give them): CPU seconds, resident and virtual memory,
// start time, open and maximum file descriptors; and berth_process_threads.
// Files that cannot be read leave their family out.
void render_process(Exposition& out);

}  // namespace berth::metrics
