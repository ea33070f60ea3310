// The cgroup manager: one task cgroup "<parent>/<task-id>" holding the
// cgroups of every container of the task. One implementation per backend
// (cgroupfs v1, cgroupfs v2; a systemd driver can be one more), chosen at
// start from the host layout by make_manager().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cgroups/layout.h"
#include "cgroups/limits.h"
#include "common/error.h"

namespace berth::cgroups {

struct TaskStats {
  uint64_t cpu_usage_ns = 0;
  uint64_t memory_usage_bytes = 0;
  uint64_t oom_kills = 0;  // processes the kernel's OOM killer killed
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
  // the backend's own form: "/berth/<task-id>/<container>" for cgroupfs (a
  // systemd driver would give "slice:prefix:name"). The engine never
  // composes one itself.
  virtual std::string container_cgroups_path(std::string_view task_id,
                                             std::string_view container) const = 0;

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
