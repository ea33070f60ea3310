// What the tasks on the node use, sampled from their cgroups and network
// namespaces: the one source of /metrics, `berthctl stats`, WatchStats and
// the task metadata endpoint's stats. Samples are cached briefly, so that a
// scrape and a stats stream do not read the same files twice a second.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/engine/engine.h"
#include "cgroups/manager.h"
#include "netns/counters.h"

namespace berth::agent {

struct ContainerUsage {
  std::string name;
  std::string containerd_id;
  std::string cgroup_path;  // as cAdvisor's `id`: "/berth/<task>/<containerd id>"
  // Whether `cgroup` holds this sample's counters (a container between
  // starts has no cgroup).
  bool sampled = false;
  cgroups::TaskStats cgroup;
  // The previous sample's counters of this container, when there was one
  // (for rates: docker stats' "precpu_stats").
  std::optional<cgroups::TaskStats> previous;
  int64_t previous_at_ms = 0;
  // The namespace it uses: the task's (awsvpc) or its own (bridge); empty
  // for host mode.
  std::vector<netns::InterfaceCounters> networks;
};

struct TaskUsage {
  // The task as the engine saw it when sampled (running, or stopping).
  TaskView view;
  std::string cgroup_path;  // "/berth/<task>"
  bool sampled = false;     // the task cgroup's counters
  cgroups::TaskStats cgroup;
  std::vector<netns::InterfaceCounters> networks;  // awsvpc: the task's namespace
  std::vector<ContainerUsage> containers;          // those RUNNING, in definition order
};

struct UsageSample {
  int64_t at_ms = 0;           // wall clock
  uint64_t system_cpu_ns = 0;  // /proc/stat's total, as docker's system_cpu_usage
  uint64_t previous_system_cpu_ns = 0;
  unsigned online_cpus = 1;
  std::vector<TaskUsage> tasks;  // tasks not STOPPED, oldest first
};

// Samples the engine's live tasks. Thread-safe; concurrent callers within
// `max_age` share one sample.
class UsageSampler {
 public:
  // Subscribes to the engine's events: a container that starts or stops
  // makes the cached sample stale at once, so that a stopped task's series
  // go with it. The engine must outlive the sampler.
  UsageSampler(Engine& engine, const cgroups::CgroupManager& cgroups, const Clock& clock,
               std::chrono::milliseconds max_age = std::chrono::milliseconds(1000));
  ~UsageSampler();
  UsageSampler(const UsageSampler&) = delete;
  UsageSampler& operator=(const UsageSampler&) = delete;

  std::shared_ptr<const UsageSample> sample();

 private:
  std::shared_ptr<const UsageSample> take(const UsageSample* previous);

  Engine& engine_;
  const cgroups::CgroupManager& cgroups_;
  const Clock& clock_;
  std::chrono::milliseconds max_age_;
  std::mutex mu_;  // one sample at a time
  std::shared_ptr<const UsageSample> last_;
  std::chrono::steady_clock::time_point last_at_{};
  std::atomic<bool> stale_{false};
  int subscription_ = -1;
};

// /proc/stat's first line in nanoseconds of CPU time (all CPUs), and the
// online CPU count.
uint64_t system_cpu_ns();
unsigned online_cpus();
// The node's memory (sysinfo's totalram), 0 when it cannot be read.
uint64_t host_memory_bytes();

}  // namespace berth::agent
