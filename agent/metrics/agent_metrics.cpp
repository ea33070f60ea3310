#include "agent/metrics/agent_metrics.h"

namespace berth::metrics {

namespace {
Histogram& slot(std::map<std::string, Histogram, std::less<>>& map, std::string_view key,
                const std::vector<double>& buckets = duration_buckets()) {
  auto it = map.find(key);
  if (it == map.end()) it = map.emplace(std::string(key), Histogram(buckets)).first;
  return it->second;
}

// A step of a set-up often takes well under the 5 ms that
// duration_buckets() starts with.
std::vector<double> step_buckets() {
  std::vector<double> buckets = {0.0005, 0.001, 0.0025};
  for (double bound : duration_buckets()) buckets.push_back(bound);
  return buckets;
}
}  // namespace

void AgentMetrics::observe_task_start(std::string_view network_mode, double seconds) {
  std::lock_guard lock(mu_);
  slot(task_start_, network_mode).observe(seconds);
}

void AgentMetrics::observe_start_step(std::string_view step, double seconds) {
  std::lock_guard lock(mu_);
  static const std::vector<double> buckets = step_buckets();
  slot(start_step_, step, buckets).observe(seconds);
}

void AgentMetrics::observe_image_pull(std::string_view result, double seconds) {
  std::lock_guard lock(mu_);
  slot(image_pull_, result).observe(seconds);
}

void AgentMetrics::count_health_check(bool passed) {
  std::lock_guard lock(mu_);
  ++(passed ? health_passed_ : health_failed_);
}

void AgentMetrics::render(Exposition& out) const {
  std::lock_guard lock(mu_);
  out.family("berth_task_start_duration_seconds",
             "Time from a task's creation to its RUNNING, by network mode.", Type::kHistogram);
  for (const auto& [mode, histogram] : task_start_) {
    out.histogram({{"network_mode", mode}}, histogram);
  }
  out.family("berth_task_start_step_duration_seconds",
             "Time of each part of a task's set-up: a step, a step's phase (step.phase), the "
             "wait before a step (queued) or the report of its result (report).",
             Type::kHistogram);
  for (const auto& [step, histogram] : start_step_) {
    out.histogram({{"step", step}}, histogram);
  }
  out.family("berth_image_pull_duration_seconds",
             "Time to pull a task container's image (or find it present), by result.",
             Type::kHistogram);
  for (const auto& [result, histogram] : image_pull_) {
    out.histogram({{"result", result}}, histogram);
  }
  out.family("berth_health_checks_total", "Container health checks run, by result.",
             Type::kCounter);
  out.sample({{"result", "passed"}}, static_cast<double>(health_passed_));
  out.sample({{"result", "failed"}}, static_cast<double>(health_failed_));
}

}  // namespace berth::metrics
