// The cgroup manager: one task cgroup "<parent>/<task-id>" holding the
// cgroups of every container of the task. One implementation per backend
// (cgroupfs v1, cgroupfs v2, chosen from the host layout by make_manager();
// the systemd driver, systemd/cgroup_driver.h, over one of them).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cgroups/layout.h"
#include "cgroups/limits.h"
#include "common/error.h"

namespace berth::cgroups {

// The counters and settings of one cgroup (a task's or a container's), for
// metrics (cAdvisor's names in brackets) and `docker stats`-like output.
// A control file the kernel may lack (no CFS bandwidth, memory.peak before
// Linux 5.19, no pids hierarchy on a v1 host) leaves its fields at the
// defaults below; only a missing cgroup or a missing core file (cpu usage,
// memory usage, OOM counter) is an error.
struct TaskStats {
  // CPU time, nanoseconds (container_cpu_usage_seconds_total).
  uint64_t cpu_usage_ns = 0;
  // ..._user_seconds_total, ..._system_seconds_total. v1: cpuacct.stat,
  // counted in USER_HZ ticks (10 ms granularity); v2: cpu.stat user_usec,
  // system_usec.
  uint64_t cpu_user_ns = 0;
  uint64_t cpu_system_ns = 0;
  // CFS bandwidth enforcement (container_cpu_cfs_periods_total,
  // ..._throttled_periods_total, ..._throttled_seconds_total): cpu.stat
  // nr_periods, nr_throttled, throttled_time (v1, ns) / throttled_usec (v2).
  uint64_t cpu_periods = 0;
  uint64_t cpu_throttled_periods = 0;
  uint64_t cpu_throttled_ns = 0;
  // The CFS quota per period (container_spec_cpu_quota, ..._period): v1
  // cpu.cfs_quota_us and cpu.cfs_period_us, v2 cpu.max. -1 when there is no
  // quota; a period of 0 when the kernel does not say.
  int64_t cpu_quota_us = -1;
  uint64_t cpu_period_us = 0;
  // Relative weight as v1 shares (container_spec_cpu_shares): v1 cpu.shares;
  // v2 cpu.weight converted as cAdvisor does (cpu_shares_from_weight). 0 when
  // the kernel does not say.
  uint64_t cpu_shares = 0;

  // Memory charged to the cgroup, page cache included
  // (container_memory_usage_bytes): v1 memory.usage_in_bytes, v2
  // memory.current.
  uint64_t memory_usage_bytes = 0;
  // Usage less inactive file pages, at least 0, computed as cAdvisor does
  // (container_memory_working_set_bytes, what the OOM killer and kubelet go
  // by): v1 memory.stat total_inactive_file, v2 inactive_file.
  uint64_t memory_working_set_bytes = 0;
  // Anonymous memory (container_memory_rss): v1 total_rss, v2 anon.
  uint64_t memory_rss_bytes = 0;
  // Page cache (container_memory_cache): v1 total_cache, v2 file.
  uint64_t memory_cache_bytes = 0;
  // Highest usage seen (container_memory_max_usage_bytes): v1
  // memory.max_usage_in_bytes, v2 memory.peak (Linux 5.19+; 0 before).
  uint64_t memory_max_usage_bytes = 0;
  // Times usage hit the limit (container_memory_failcnt): v1 memory.failcnt,
  // v2 memory.events "max".
  uint64_t memory_failcnt = 0;
  // The hard limit (container_spec_memory_limit_bytes); nullopt when
  // unlimited: v2 "max", v1 the kernel's page-rounded LONG_MAX (any value
  // from kV1UnlimitedMemoryBytes up, cgroups/stats.h).
  std::optional<uint64_t> memory_limit_bytes;

  // Processes the kernel's OOM killer killed (the engine's OOM verdict):
  // v1 memory.oom_control oom_kill, this cgroup's own processes only (v1
  // does not propagate the counter to ancestors); v2 memory.events oom_kill,
  // this cgroup and its descendants.
  uint64_t oom_kills = 0;
  // OOM kills of processes in this cgroup and its descendants on both
  // backends (container_oom_events_total). cAdvisor counts the kernel log's
  // OOM-kill records by the victim's cgroup (task_memcg); the kernel's own
  // per-cgroup oom_kill counter counts the same kills without a log parser.
  // v2: memory.events oom_kill (hierarchical); v1: memory.oom_control
  // oom_kill summed over the cgroup and every cgroup below it. For a
  // container's (leaf) cgroup this equals oom_kills.
  uint64_t oom_events = 0;

  // Tasks (threads) in the cgroup and its descendants, and the limit
  // (container_threads, container_threads_max): pids.current, pids.max.
  // 0 / nullopt with no pids hierarchy (v1); nullopt for "max".
  uint64_t pids_current = 0;
  std::optional<uint64_t> pids_limit;
};

class CgroupManager {
 public:
  virtual ~CgroupManager() = default;

  // "cgroupfs v1", "cgroupfs v2".
  virtual std::string_view name() const = 0;
  // cgroup v2: one hierarchy, no per-cgroup swappiness.
  virtual bool unified() const = 0;

  // Creates the task cgroup and writes the task limits. On failure nothing
  // that this call made is left. An existing task cgroup is reused.
  virtual Status create_task(std::string_view task_id, const TaskLimits& limits) = 0;

  // The OCI linux.cgroupsPath of a container (or sandbox) of the task, in
  // the backend's own form: "/berth/<task-id>/<container>" for cgroupfs,
  // "slice:prefix:name" for systemd's. The engine never composes one itself.
  virtual std::string container_cgroups_path(std::string_view task_id,
                                             std::string_view container) const = 0;

  // The cgroupfs paths (from a hierarchy's root) of the task's and of a
  // container's cgroup, as cAdvisor's `id` label names them:
  // "/berth/<task-id>" and "/berth/<task-id>/<container>" for cgroupfs.
  virtual std::string task_cgroup(std::string_view task_id) const {
    std::string path = container_cgroups_path(task_id, "-");
    return path.substr(0, path.rfind('/'));
  }
  virtual std::string container_cgroup(std::string_view task_id, std::string_view container) const {
    return container_cgroups_path(task_id, container);
  }

  // Creates (if needed) the container cgroup under the task cgroup and
  // writes its limits. The engine normally passes container limits to the
  // runtime through the OCI spec; this is for tests and tools.
  virtual Status set_container_limits(std::string_view task_id, std::string_view container,
                                      const ContainerLimits& limits) = 0;

  // Removes the task cgroup, child cgroups first, in every hierarchy, and
  // checks they are gone. A task that has no cgroup is not an error.
  // kFailedPrecondition (naming the cgroup) when processes remain in it.
  virtual Status remove_task(std::string_view task_id) = 0;

  // Task ids having a cgroup under the parent in any hierarchy.
  virtual Result<std::vector<std::string>> list_tasks() const = 0;

  virtual Result<TaskStats> stats(std::string_view task_id) const = 0;
  // The same counters for one container's cgroup in the task cgroup (the
  // runtime removes it when the container is deleted).
  virtual Result<TaskStats> container_stats(std::string_view task_id,
                                            std::string_view container) const = 0;

  // Whether a container's swap can be limited: v1 needs swap accounting
  // (memory.memsw.*), which kernels may have switched off.
  virtual bool limits_swap() const = 0;
};

// Test seam: the kernel fills a new cgroup directory with its control
// files; a plain directory tree standing in for cgroupfs gets them from
// this hook, called after each mkdir with the new directory's path.
using MkdirHook = std::function<void(const std::string& path)>;

// The backend for the host layout: cgroupfs v1 for v1 and hybrid hosts
// (their v2 mount has none of the controllers berth needs), v2 otherwise.
Result<std::unique_ptr<CgroupManager>> make_manager(const Layout& layout,
                                                    std::string parent = "berth");

// At start: removes the task cgroups that no task in `owned` owns. Returns
// the ids removed; the first failure is returned after trying every one.
Result<std::vector<std::string>> remove_unowned_tasks(CgroupManager& manager,
                                                      const std::set<std::string>& owned);

// A task id or container name is one path component.
Status validate_cgroup_name(std::string_view what, std::string_view name);

}  // namespace berth::cgroups
